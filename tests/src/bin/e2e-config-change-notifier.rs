//! The config-change-notifier entry point, built inside this crate so its tests can run it.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_config_change_notifier::run().await
}
