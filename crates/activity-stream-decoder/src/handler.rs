//! The I/O edge: one Firehose batch in, one response out, every record accounted for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_esdk::material_providers::types::keyring::KeyringRef;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::Value;

use crate::crypto::{Esdk, KeyCache, kms_decrypt_data_key};
use crate::das::{self, OuterRecord, RecordError};
use crate::firehose::{
    EventError, FirehoseEvent, FirehoseResponse, OutputRecord, RESPONSE_LIMIT, Status,
    enforce_limit,
};

/// Built once per execution environment.
pub struct Decoder {
    pub kms: aws_sdk_kms::Client,
    pub esdk: Esdk,
    pub cache: KeyCache,
    /// `DAS_RESOURCE_ID`, for events without `sourceKinesisStreamArn`.
    pub resource_id: Option<String>,
    pub response_limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Event(#[from] EventError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "BadInput".into(),
            error_message: e.to_string(),
        }
    }
}

/// What one invocation did, and where its time went (logged as the summary line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub records: usize,
    pub ok: usize,
    pub dropped: usize,
    pub failed: usize,
    pub events: usize,
    pub heartbeats: usize,
    pub kms_calls: usize,
    pub key_cache_hits: usize,
    pub response_bytes_limited: usize,
    pub kms_us: u64,
    pub esdk_us: u64,
    pub gunzip_us: u64,
    pub json_us: u64,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

impl Decoder {
    pub async fn handle(&self, event: Value) -> Result<FirehoseResponse, HandlerError> {
        let event = FirehoseEvent::from_value(&event)?;
        let (response, stats) = self.transform(&event).await;
        tracing::info!(
            records = stats.records,
            ok = stats.ok,
            dropped = stats.dropped,
            failed = stats.failed,
            events = stats.events,
            heartbeats = stats.heartbeats,
            kms_calls = stats.kms_calls,
            key_cache_hits = stats.key_cache_hits,
            kms_us = stats.kms_us,
            esdk_us = stats.esdk_us,
            gunzip_us = stats.gunzip_us,
            json_us = stats.json_us,
            "invocation summary"
        );
        Ok(response)
    }

    pub async fn transform(&self, event: &FirehoseEvent) -> (FirehoseResponse, Stats) {
        let mut stats = Stats {
            records: event.records.len(),
            ..Stats::default()
        };
        let resource_id = event
            .source_kinesis_stream_arn
            .as_deref()
            .and_then(das::resource_id_from_stream_arn)
            .map(str::to_owned)
            .or_else(|| self.resource_id.clone());

        let outers: Vec<Result<OuterRecord, RecordError>> = event
            .records
            .iter()
            .map(|r| match &r.data {
                Ok(data) => das::parse_outer(data),
                Err(why) => Err(RecordError::OuterJson(why.clone())),
            })
            .collect();

        // Each distinct data key once: the cache, else one KMS call.
        let mut keyrings: HashMap<&str, Result<KeyringRef, RecordError>> = HashMap::new();
        if let Some(rid) = resource_id.as_deref() {
            for outer in outers.iter().flatten() {
                if keyrings.contains_key(outer.key.as_str()) {
                    continue;
                }
                let keyring = match self.cache.get(rid, &outer.key) {
                    Some(k) => {
                        stats.key_cache_hits += 1;
                        Ok(k)
                    }
                    None => {
                        stats.kms_calls += 1;
                        let started = Instant::now();
                        let key = kms_decrypt_data_key(&self.kms, &outer.key_blob, rid).await;
                        stats.kms_us += us(started.elapsed());
                        match key {
                            Ok(k) => {
                                let started = Instant::now();
                                let keyring = self.esdk.keyring(&k).await;
                                stats.esdk_us += us(started.elapsed());
                                if let Ok(kr) = &keyring {
                                    self.cache.insert(rid, &outer.key, kr.clone());
                                }
                                keyring
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                keyrings.insert(outer.key.as_str(), keyring);
            }
        }

        let mut records = Vec::with_capacity(event.records.len());
        for (input, outer) in event.records.iter().zip(&outers) {
            let result = match (outer, resource_id.as_deref()) {
                (Err(e), _) => Err(e.clone()),
                (Ok(_), None) => Err(RecordError::NoResourceId),
                (Ok(o), Some(_)) => match keyrings.get(o.key.as_str()) {
                    Some(Ok(keyring)) => self.decode(keyring, o, &mut stats).await,
                    Some(Err(e)) => Err(e.clone()),
                    None => Err(RecordError::Kms("no data key".into())),
                },
            };
            let original = || input.data.clone().unwrap_or_default();
            records.push(match result {
                Ok(d) if d.events > 0 => {
                    stats.events += d.events;
                    stats.heartbeats += d.heartbeats;
                    OutputRecord {
                        record_id: input.record_id.clone(),
                        result: Status::Ok,
                        data: B64.encode(&d.ndjson),
                    }
                }
                Ok(d) => {
                    stats.heartbeats += d.heartbeats;
                    OutputRecord {
                        record_id: input.record_id.clone(),
                        result: Status::Dropped,
                        data: original(),
                    }
                }
                Err(e) => {
                    tracing::warn!(record_id = %input.record_id, error = %e, "record failed");
                    OutputRecord {
                        record_id: input.record_id.clone(),
                        result: Status::ProcessingFailed,
                        data: original(),
                    }
                }
            });
        }

        let inputs: Vec<String> = event
            .records
            .iter()
            .map(|r| r.data.clone().unwrap_or_default())
            .collect();
        let limited = enforce_limit(&mut records, &inputs, self.response_limit);
        for id in &limited {
            tracing::warn!(record_id = %id, error = %RecordError::ResponseTooLarge, "record failed");
        }
        stats.response_bytes_limited = limited.len();
        for r in &records {
            match r.result {
                Status::Ok => stats.ok += 1,
                Status::Dropped => stats.dropped += 1,
                Status::ProcessingFailed => stats.failed += 1,
            }
        }
        (FirehoseResponse { records }, stats)
    }

    async fn decode(
        &self,
        keyring: &KeyringRef,
        outer: &OuterRecord,
        stats: &mut Stats,
    ) -> Result<das::Decoded, RecordError> {
        let t = Instant::now();
        let gz = self.esdk.decrypt(keyring, &outer.activity_events).await?;
        let t2 = Instant::now();
        let json = das::gunzip(&gz)?;
        let t3 = Instant::now();
        let decoded = das::decode_payload(&json);
        stats.esdk_us += us(t2 - t);
        stats.gunzip_us += us(t3 - t2);
        stats.json_us += us(t3.elapsed());
        decoded
    }
}

pub const DEFAULT_RESPONSE_LIMIT: usize = RESPONSE_LIMIT;
