//! The audit-log-watcher entry point, built inside this crate so its tests can run it.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_audit_log_watcher::run().await
}
