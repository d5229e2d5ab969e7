#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_audit_log_watcher::run().await
}
