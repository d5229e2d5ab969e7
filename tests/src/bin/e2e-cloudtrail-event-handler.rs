//! The cloudtrail-event-handler entry point, built inside this crate so its tests can run it.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_cloudtrail_event_handler::run().await
}
