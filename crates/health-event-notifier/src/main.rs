#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_health_event_notifier::run().await
}
