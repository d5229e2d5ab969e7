//! config-change-notifier: AWS Config notifications (via SNS) as Slack alerts that say what
//! changed, before and after.
//!
//! - [`notification`]: parse SNS records into AWS Config notifications (pure);
//! - [`render`]: turn them into Slack alerts (pure);
//! - [`filter`]: which resource types to alert on (pure);
//! - [`handler`]: the I/O — S3 for oversized items, Slack delivery, the outcome.

pub mod filter;
pub mod handler;
pub mod notification;
pub mod render;

use serde_json::Value;

pub use handler::{HandlerError, Notifier, Response};

/// Environment variables of this function (besides the shared Slack ones).
pub mod env {
    pub const INCLUDE_RESOURCE_TYPES: &str = "INCLUDE_RESOURCE_TYPES";
    pub const EXCLUDE_RESOURCE_TYPES: &str = "EXCLUDE_RESOURCE_TYPES";
}

impl Notifier {
    /// Build the clients once, from the environment.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Ok(Self {
            slack: opswatch_support::slack_from_env(&config).await?,
            s3: opswatch_support::s3_client(&config),
            filter: filter::ResourceFilter::new(
                &var(env::INCLUDE_RESOURCE_TYPES),
                &var(env::EXCLUDE_RESOURCE_TYPES),
            ),
        })
    }
}

/// The Lambda entry point: serve invocations until the environment is shut down.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let notifier = opswatch_support::cold_start(Notifier::from_env().await)?;
    opswatch_support::serve(|event: Value| notifier.handle(event)).await
}
