//! activity-stream-decoder: Aurora/RDS Database Activity Streams, decrypted and decoded to
//! NDJSON, as a Kinesis Data Firehose data transformation.
//!
//! - [`firehose`]: the transformation contract and the 6 MB response guard (pure);
//! - [`das`]: the DAS outer record, encryption context and payload decoding (pure);
//! - [`filter`]: RDS's own users dropped, literals replaced by a keyed hash (pure);
//! - [`crypto`]: KMS for the data key, the AWS Encryption SDK for the events, the key cache;
//! - [`fastpath`]: a direct reader for the one ESDK message shape RDS writes (SDK fallback);
//! - [`handler`]: one batch: each distinct data key once, every record accounted for;
//! - [`sample`]: builds records the way RDS does, for tests, the demo and the benchmark.

pub mod crypto;
pub mod das;
pub mod fastpath;
pub mod filter;
pub mod firehose;
pub mod handler;
pub mod sample;
pub mod scan;

use serde_json::value::RawValue;

pub use handler::{Decoder, HandlerError, Stats};

pub mod env {
    /// The DAS resource id (`cluster-…` or `db-…`) when events lack sourceKinesisStreamArn.
    pub const DAS_RESOURCE_ID: &str = "DAS_RESOURCE_ID";
    /// Lower bound for the response guard, in bytes (default and maximum 6,000,000).
    pub const RESPONSE_LIMIT_BYTES: &str = "RESPONSE_LIMIT_BYTES";
    /// Database users whose events are left out (case-insensitive), e.g.
    /// `rdsadmin,rdssec,rdsproxyadmin`. Unset: every event is kept.
    pub const DAS_DROP_USERS: &str = "DAS_DROP_USERS";
    /// Event fields whose string values are replaced by their keyed hash.
    pub const DAS_REDACT: &str = "DAS_REDACT";
    /// The Secrets Manager secret whose value is the redaction key.
    pub const DAS_REDACT_KEY_SECRET_ARN: &str = "DAS_REDACT_KEY_SECRET_ARN";
}

/// `DAS_DROP_USERS`, `DAS_REDACT` and the key (read once, here, at the cold start).
async fn filter_from_env(config: &aws_config::SdkConfig) -> Result<filter::Filter, String> {
    use opswatch_support::{list, var};
    let redact = list(env::DAS_REDACT);
    let key = match (redact.is_empty(), var(env::DAS_REDACT_KEY_SECRET_ARN)) {
        (false, Some(arn)) => Some(
            opswatch_support::read_secret(config, &arn)
                .await
                .map_err(|e| format!("the redaction key: {e}"))?,
        ),
        _ => None,
    };
    let filter = filter::Filter::new(
        &list(env::DAS_DROP_USERS),
        &redact,
        key.as_deref().map(str::as_bytes),
    )
    .map_err(|e| e.to_string())?;
    tracing::info!(
        drop_users = ?filter.drop_users(),
        redact = ?filter.redacted_fields(),
        "filter"
    );
    Ok(filter)
}

impl Decoder {
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        Ok(Self {
            kms: aws_sdk_kms::Client::new(&config),
            esdk: crypto::Esdk::new()?,
            cache: crypto::KeyCache::default(),
            resource_id: std::env::var(env::DAS_RESOURCE_ID).ok().filter(|v| !v.trim().is_empty()),
            response_limit: match std::env::var(env::RESPONSE_LIMIT_BYTES) {
                Ok(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= handler::DEFAULT_RESPONSE_LIMIT)
                    .ok_or_else(|| format!("RESPONSE_LIMIT_BYTES must be a number of bytes up to 6000000, not {v:?}"))?,
                Err(_) => handler::DEFAULT_RESPONSE_LIMIT,
            },
            filter: filter_from_env(&config).await?,
        })
    }
}

/// The Lambda entry point.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let decoder = opswatch_support::cold_start(Decoder::from_env().await)?;
    // The event and the response pass through as JSON text: no tree of a megabyte of
    // records is built, and the 2–6 MB response is not escaped a second time.
    let decoder = &decoder;
    opswatch_support::serve(|event: Box<RawValue>| async move {
        let json = decoder.handle(event.get()).await?;
        RawValue::from_string(json).map_err(|e| HandlerError::Response(e.to_string()))
    })
    .await
}
