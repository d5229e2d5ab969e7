//! The rds-maintenance-checker entry point, built inside this crate so its tests can run it.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_rds_maintenance_checker::run().await
}
