#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_config_change_notifier::run().await
}
