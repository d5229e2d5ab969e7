#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_activity_stream_decoder::run().await
}
