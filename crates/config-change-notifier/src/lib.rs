//! config-change-notifier: AWS Config notifications (via SNS) as Slack alerts that say what
//! changed, before and after.
//!
//! - [`notification`]: parse SNS records into AWS Config notifications (pure);
//! - [`render`]: turn them into Slack alerts (pure);
//! - [`filter`]: which resource types to alert on (pure);
//! - [`weigh`]: each alert's severity, rule and thread key (pure);
//! - [`handler`]: the I/O — S3 for oversized items; the delivery pipeline posts.

pub mod filter;
pub mod handler;
pub mod notification;
pub mod render;
pub mod weigh;

use serde_json::Value;

pub use handler::Notifier;

/// The function's name, as routes and exactly-once keys know it.
pub const FUNCTION: &str = "config-change-notifier";

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
            delivery: opswatch_delivery::Delivery::from_env(FUNCTION, &config).await?,
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
