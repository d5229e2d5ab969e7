//! activity-stream-decoder: Aurora/RDS Database Activity Streams, decrypted and decoded to
//! NDJSON, as a Kinesis Data Firehose data transformation.
//!
//! - [`firehose`]: the transformation contract and the 6 MB response guard (pure);
//! - [`das`]: the DAS outer record, encryption context and payload decoding (pure);
//! - [`crypto`]: KMS for the data key, the AWS Encryption SDK for the events, the key cache;
//! - [`fastpath`]: a direct reader for the one ESDK message shape RDS writes (SDK fallback);
//! - [`handler`]: one batch: each distinct data key once, every record accounted for;
//! - [`sample`]: builds records the way RDS does, for tests, the demo and the benchmark.

pub mod crypto;
pub mod das;
pub mod fastpath;
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
