#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_rds_maintenance_checker::run().await
}
