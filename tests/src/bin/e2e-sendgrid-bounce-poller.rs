//! The sendgrid-bounce-poller entry point, built inside this crate so its tests can run it.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    opswatch_sendgrid_bounce_poller::run().await
}
