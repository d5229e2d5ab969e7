#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_sendgrid_bounce_poller::run().await
}
