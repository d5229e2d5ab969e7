#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_cloudtrail_event_handler::run().await
}
