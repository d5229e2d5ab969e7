//! The I/O edge: one Firehose batch in, one response out, every record accounted for.
//!
//! 1. parse every record's outer JSON (pure);
//! 2. resolve each distinct data key once: the cache, else KMS (misses concurrently);
//! 3. decrypt + gunzip + decode every record, in parallel across the cores, with the direct
//!    reader; records it declines go through the AWS Encryption SDK;
//! 4. keep the response under the size limit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::crypto::{CachedKey, Esdk, KeyCache, kms_decrypt_data_key};
use crate::das::{self, OuterRecord, RecordError};
use crate::fastpath::{self, WrappingKey};
use crate::filter::Filter;
use crate::firehose::{
    EventError, FirehoseEvent, FirehoseResponse, OutputRecord, RESPONSE_LIMIT, Status,
    enforce_limit,
};

pub const DEFAULT_RESPONSE_LIMIT: usize = RESPONSE_LIMIT;

/// Built once per execution environment.
pub struct Decoder {
    pub kms: aws_sdk_kms::Client,
    pub esdk: Esdk,
    pub cache: KeyCache,
    /// `DAS_RESOURCE_ID`, for events without `sourceKinesisStreamArn`.
    pub resource_id: Option<String>,
    pub response_limit: usize,
    /// `DAS_DROP_USERS` and `DAS_REDACT`.
    pub filter: Filter,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Event(#[from] EventError),
    #[error("the response could not be encoded: {0}")]
    Response(String),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: match e {
                HandlerError::Event(_) => "BadInput",
                HandlerError::Response(_) => "InternalError",
            }
            .into(),
            error_message: e.to_string(),
        }
    }
}

/// What one invocation did, and where its time went (CPU time summed over threads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub records: usize,
    pub ok: usize,
    pub dropped: usize,
    pub failed: usize,
    pub events: usize,
    pub heartbeats: usize,
    /// Events of a `DAS_DROP_USERS` user, left out of the archive.
    pub dropped_events: usize,
    /// Strings replaced by their keyed hash.
    pub redacted_values: usize,
    pub kms_calls: usize,
    pub key_cache_hits: usize,
    pub sdk_fallbacks: usize,
    pub response_limited: usize,
    pub kms_us: u64,
    pub decrypt_us: u64,
    pub gunzip_us: u64,
    pub json_us: u64,
    pub encode_us: u64,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// A record's result before it becomes an output record: base64 NDJSON (`None` when no
/// event is left: heartbeats, or only `DAS_DROP_USERS` users) and the counts.
struct Decoded {
    data: Option<String>,
    counts: das::Decoded,
}

impl Decoder {
    /// One invocation: the event's JSON text in, the response's JSON text out.
    pub async fn handle(&self, event: &str) -> Result<String, HandlerError> {
        let started = Instant::now();
        let event = FirehoseEvent::from_json(event)?;
        let parsed_us = us(started.elapsed());
        let (response, s) = self.transform(&event).await;
        let transform_us = us(started.elapsed()) - parsed_us;
        let response = response.to_json();
        let response_us = us(started.elapsed()) - parsed_us - transform_us;
        // No Slack here: what can fail is a record (ProcessingFailed).
        opswatch_support::emit_metrics(&[("AlertsFailed", s.failed)]);
        tracing::info!(
            records = s.records,
            ok = s.ok,
            dropped = s.dropped,
            failed = s.failed,
            events = s.events,
            heartbeats = s.heartbeats,
            dropped_events = s.dropped_events,
            redacted_values = s.redacted_values,
            kms_calls = s.kms_calls,
            key_cache_hits = s.key_cache_hits,
            sdk_fallbacks = s.sdk_fallbacks,
            response_limited = s.response_limited,
            kms_us = s.kms_us,
            decrypt_us = s.decrypt_us,
            gunzip_us = s.gunzip_us,
            json_us = s.json_us,
            encode_us = s.encode_us,
            event_us = parsed_us,
            transform_us,
            response_us,
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

        let outers: Vec<Result<OuterRecord, RecordError>> =
            par_map(&event.records, |r, _: &mut ()| match &r.data {
                Ok(data) => das::parse_outer(data),
                Err(why) => Err(RecordError::OuterJson(why.clone())),
            })
            .0
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(RecordError::OuterJson(
                        "internal error while parsing".into(),
                    ))
                })
            })
            .collect();

        let keys = match resource_id.as_deref() {
            Some(rid) => self.resolve_keys(rid, &outers, &mut stats).await,
            None => HashMap::new(),
        };
        let key_for = |o: &OuterRecord| -> Result<Arc<CachedKey>, RecordError> {
            match keys.get(o.key.as_str()) {
                Some(Ok(k)) => Ok(k.clone()),
                Some(Err(e)) => Err(e.clone()),
                None => Err(RecordError::NoResourceId),
            }
        };

        // The CPU-bound part, across the cores.
        let jobs: Vec<Result<(&OuterRecord, Arc<CachedKey>), RecordError>> = outers
            .iter()
            .map(|o| {
                let o = o.as_ref().map_err(Clone::clone)?;
                Ok((o, key_for(o)?))
            })
            .collect();
        let (mut results, timings) = par_map(&jobs, |job, t: &mut Stats| match job {
            Err(e) => Some(Err(e.clone())),
            Ok((o, k)) => fast(&k.wrapping, o, &self.filter, t),
        });
        for t in timings {
            stats.decrypt_us += t.decrypt_us;
            stats.gunzip_us += t.gunzip_us;
            stats.json_us += t.json_us;
            stats.encode_us += t.encode_us;
        }

        let mut records = Vec::with_capacity(event.records.len());
        for (i, input) in event.records.iter().enumerate() {
            let result = match results.get_mut(i).and_then(Option::take).flatten() {
                Some(r) => r,
                // Declined by the direct reader (or lost to a panicked thread): the SDK decides.
                None => match &jobs[i] {
                    Ok((o, k)) => {
                        stats.sdk_fallbacks += 1;
                        self.with_sdk(&k.keyring, o, &mut stats).await
                    }
                    Err(e) => Err(e.clone()),
                },
            };
            let original = || input.data.clone().unwrap_or_default();
            let id = input.record_id.clone();
            records.push(match result {
                Ok(Decoded { data, counts }) => {
                    stats.events += counts.events;
                    stats.heartbeats += counts.heartbeats;
                    stats.dropped_events += counts.dropped_events;
                    stats.redacted_values += counts.redacted_values;
                    match data {
                        Some(data) => OutputRecord {
                            record_id: id,
                            result: Status::Ok,
                            data,
                        },
                        None => OutputRecord {
                            record_id: id,
                            result: Status::Dropped,
                            data: original(),
                        },
                    }
                }
                Err(e) => {
                    tracing::warn!(record_id = %id, error = %e, "record failed");
                    OutputRecord {
                        record_id: id,
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
        stats.response_limited = limited.len();
        for r in &records {
            match r.result {
                Status::Ok => stats.ok += 1,
                Status::Dropped => stats.dropped += 1,
                Status::ProcessingFailed => stats.failed += 1,
            }
        }
        (FirehoseResponse { records }, stats)
    }

    /// Each distinct data key of the batch: from the cache, else from KMS (concurrently).
    async fn resolve_keys<'a>(
        &self,
        rid: &str,
        outers: &'a [Result<OuterRecord, RecordError>],
        stats: &mut Stats,
    ) -> HashMap<&'a str, Result<Arc<CachedKey>, RecordError>> {
        let mut keys = HashMap::new();
        let mut misses: Vec<&OuterRecord> = Vec::new();
        for o in outers.iter().flatten() {
            if keys.contains_key(o.key.as_str()) || misses.iter().any(|m| m.key == o.key) {
                continue;
            }
            match self.cache.get(rid, &o.key) {
                Some(k) => {
                    stats.key_cache_hits += 1;
                    keys.insert(o.key.as_str(), Ok(k));
                }
                None => misses.push(o),
            }
        }
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, o) in misses.iter().enumerate() {
            let (kms, blob, rid) = (self.kms.clone(), o.key_blob.clone(), rid.to_owned());
            tasks.spawn(async move { (i, kms_decrypt_data_key(&kms, &blob, &rid).await) });
        }
        stats.kms_calls += misses.len();
        let mut plain: Vec<Option<Result<Vec<u8>, RecordError>>> = vec![None; misses.len()];
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((i, r)) => plain[i] = Some(r),
                Err(e) => tracing::error!(error = %e, "KMS task failed"),
            }
        }
        stats.kms_us += us(started.elapsed());
        for (o, p) in misses.into_iter().zip(plain) {
            let key = match p
                .unwrap_or_else(|| Err(RecordError::Kms("the KMS call did not complete".into())))
            {
                Ok(k) => self.cached_key(rid, &o.key, &k).await,
                Err(e) => Err(e),
            };
            keys.insert(o.key.as_str(), key);
        }
        keys
    }

    async fn cached_key(
        &self,
        rid: &str,
        blob: &str,
        plaintext: &[u8],
    ) -> Result<Arc<CachedKey>, RecordError> {
        let wrapping = WrappingKey::new(plaintext).ok_or_else(|| {
            RecordError::Kms(format!("the data key is {} bytes, not 32", plaintext.len()))
        })?;
        let keyring = self.esdk.keyring(plaintext).await?;
        let key = Arc::new(CachedKey { keyring, wrapping });
        self.cache.insert(rid, blob, key.clone());
        Ok(key)
    }

    async fn with_sdk(
        &self,
        keyring: &aws_esdk::material_providers::types::keyring::KeyringRef,
        o: &OuterRecord,
        stats: &mut Stats,
    ) -> Result<Decoded, RecordError> {
        let t = Instant::now();
        let gz = self.esdk.decrypt(keyring, &o.activity_events).await;
        stats.decrypt_us += us(t.elapsed());
        finish(&gz?, &self.filter, stats)
    }
}

/// `f` over `items` in order, split across the cores; each thread has its own `A` (timings).
/// The output is aligned with `items`: `None` where a thread was lost (a panic), so that no
/// record id can shift onto another record's result.
fn par_map<T: Sync, R: Send, A: Default + Send>(
    items: &[T],
    f: impl Fn(&T, &mut A) -> R + Sync,
) -> (Vec<Option<R>>, Vec<A>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    let parts: Vec<(Vec<Option<R>>, A)> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let len = part.len();
                let handle = s.spawn(move || {
                    let mut acc = A::default();
                    let out = part
                        .iter()
                        .map(|x| Some(f(x, &mut acc)))
                        .collect::<Vec<_>>();
                    (out, acc)
                });
                (len, handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(len, h)| {
                h.join()
                    .unwrap_or_else(|_| ((0..len).map(|_| None).collect(), A::default()))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    let mut accs = Vec::with_capacity(parts.len());
    for (o, a) in parts {
        out.extend(o);
        accs.push(a);
    }
    (out, accs)
}

/// The direct reader; `None` when it declines the message.
fn fast(
    wrapping: &WrappingKey,
    o: &OuterRecord,
    filter: &Filter,
    t: &mut Stats,
) -> Option<Result<Decoded, RecordError>> {
    let started = Instant::now();
    let gz = fastpath::decrypt(wrapping, &o.activity_events);
    t.decrypt_us += us(started.elapsed());
    match gz {
        Ok(gz) => Some(finish(&gz, filter, t)),
        Err(declined) => {
            tracing::debug!(
                reason = declined.0,
                "direct reader declined the message; using the SDK"
            );
            None
        }
    }
}

/// gunzip → events (filtered) → base64 NDJSON.
fn finish(gz: &[u8], filter: &Filter, t: &mut Stats) -> Result<Decoded, RecordError> {
    let t0 = Instant::now();
    let json = das::gunzip(gz)?;
    let t1 = Instant::now();
    let mut counts = das::decode_payload_with(&json, filter)?;
    let t2 = Instant::now();
    t.gunzip_us += us(t1 - t0);
    t.json_us += us(t2 - t1);
    let ndjson = std::mem::take(&mut counts.ndjson);
    if counts.events == 0 {
        return Ok(Decoded { data: None, counts });
    }
    let data = das::b64_encode(&ndjson);
    t.encode_us += us(t2.elapsed());
    Ok(Decoded {
        data: Some(data),
        counts,
    })
}
