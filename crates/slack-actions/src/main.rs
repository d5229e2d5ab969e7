#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_slack_actions::run().await
}
