//! cloudtrail-event-handler: who changed what in the account, from CloudTrail log files
//! (S3, announced through SNS to SQS) or EventBridge API-call events, as Slack alerts.
//!
//! - [`input`]: what invoked the function — SQS, SNS or EventBridge (pure);
//! - [`record`]: CloudTrail records, and the reference reader of log files (pure);
//! - [`logfile`]: log files read at the speed of their decompression: records skimmed, and
//!   parsed only where a rule needs them (pure);
//! - [`filter`]: which records deserve an alert (pure);
//! - [`principal`]: who made a call, named once for threads, lines, lists and rules (pure);
//! - [`render`]: one line per event, many lines to an alert (pure);
//! - [`replay`]: records judged without posting, for `cargo xtask rules` (pure);
//! - [`rules`]: built-in and custom rules: each event's severity and the rules it matched
//!   (pure);
//! - [`weigh`]: each event's account and thread key (pure);
//! - [`handler`]: the I/O — S3, grouping by route and principal, SQS partial batch
//!   responses; the delivery pipeline posts.

pub mod filter;
pub mod handler;
pub mod input;
pub mod logfile;
pub mod principal;
pub mod record;
pub mod render;
pub mod replay;
pub mod rules;
pub mod synthetic;
pub mod weigh;

use serde_json::Value;

pub use handler::Handler;

/// The function's name, as routes and exactly-once keys know it.
pub const FUNCTION: &str = "cloudtrail-event-handler";

impl Handler {
    /// Build the clients once, from the environment.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        let mut filter = filter::Filter::from_lookup(|k| std::env::var(k).ok())?;
        let delivery = opswatch_delivery::Delivery::from_env(FUNCTION, &config).await?;
        // The pipeline's names: the fixed list, or what it read from Organizations.
        filter.account_names = delivery.names().clone();
        // `RULES` wins; else the parameter's value (the template sets both, one empty).
        let rules_json = match (
            opswatch_support::var(rules::env::RULES),
            opswatch_support::var(rules::env::RULES_PARAMETER),
        ) {
            (Some(json), _) => Some(json),
            (None, Some(name)) => Some(rules_parameter(&config, &name).await?),
            (None, None) => None,
        };
        let rules = rules::Rules::from_lookup(
            |k| match k {
                rules::env::RULES => rules_json.clone(),
                _ => std::env::var(k).ok(),
            },
            &filter.account_names,
        )?;
        Ok(Self {
            delivery,
            s3: opswatch_support::s3_client(&config),
            filter,
            rules,
        })
    }
}

/// The custom rules kept in an SSM parameter (a SecureString is decrypted).
async fn rules_parameter(
    config: &aws_config::SdkConfig,
    name: &str,
) -> Result<String, lambda_runtime::Error> {
    let ssm = aws_sdk_ssm::Client::new(config);
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{}: reading the SSM parameter {name:?}: {}",
                rules::env::RULES_PARAMETER,
                opswatch_support::error_chain(&e)
            )
        })?;
    out.parameter.and_then(|p| p.value).ok_or_else(|| {
        format!(
            "{}: the SSM parameter {name:?} has no value",
            rules::env::RULES_PARAMETER
        )
        .into()
    })
}

/// The Lambda entry point: serve invocations until the environment is shut down.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let handler = opswatch_support::cold_start(Handler::from_env().await)?;
    opswatch_support::serve(|event: Value| handler.handle(event)).await
}
