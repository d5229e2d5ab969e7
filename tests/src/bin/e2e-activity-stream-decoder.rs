//! The activity-stream-decoder entry point, built inside this crate so its tests can run it.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_activity_stream_decoder::run().await
}
