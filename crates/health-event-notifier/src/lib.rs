//! health-event-notifier: AWS Health events (EventBridge, the account's own or an
//! organization view's) as Slack alerts, one thread per event and affected account, the
//! parent edited to the latest status.
//!
//! - [`event`]: the EventBridge event read as a Health notice (pure);
//! - [`weigh`]: severity, thread key and the notice's identity (pure);
//! - [`render`]: the Slack alert (pure);
//! - [`handler`]: the account's tags for tag routes; the delivery pipeline posts.

pub mod event;
pub mod handler;
pub mod render;
pub mod weigh;

pub use handler::Notifier;

/// The function's name, as routes and exactly-once keys know it.
pub const FUNCTION: &str = "health-event-notifier";

impl Notifier {
    /// Build the clients once, from the environment.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        Ok(Self {
            delivery: opswatch_delivery::Delivery::from_env(FUNCTION, &config).await?,
        })
    }
}

/// The Lambda entry point: serve invocations until the environment is shut down.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let notifier = opswatch_support::cold_start(Notifier::from_env().await)?;
    opswatch_support::serve(|event: serde_json::Value| notifier.handle(event)).await
}
