//! The I/O edge: fetch each announced log file from S3, read it record by record, split its
//! events by route (and, where threads are on, by principal), and hand one alert per group to
//! the delivery pipeline; SQS messages that failed are reported so that only they are
//! retried.

use std::collections::HashMap;
use std::sync::Arc;

use opswatch_delivery::{BAD_INPUT, Delivery, DeliveryError, Groups, Outcome, Tags};
use opswatch_support::{Failure, error_chain};
use serde_json::Value;

use crate::filter::{Drop, Filter};
use crate::input::{self, Delivery as Announced, Event, InputError, Item};
use crate::logfile::{self, Entry, Skim};
use crate::record::{LogError, Record};
use crate::render::Digest;
use crate::rules::{Rules, Verdict};
use crate::weigh;

/// Everything an invocation needs; built once per execution environment.
pub struct Handler {
    pub delivery: Delivery,
    pub s3: aws_sdk_s3::Client,
    pub filter: Filter,
    pub rules: Rules,
}

#[derive(Debug, thiserror::Error)]
enum ItemError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("s3://{bucket}/{key}: {why}")]
    Fetch {
        bucket: String,
        key: String,
        why: String,
    },
    #[error("s3://{bucket}/{key}: {why}")]
    Parse {
        bucket: String,
        key: String,
        why: LogError,
    },
    #[error("{0}")]
    Delivery(#[from] DeliveryError),
}

/// Counts kept while reading (the function's own part of the summary).
#[derive(Default)]
struct Counts {
    files: usize,
    files_skipped: usize,
    events: usize,
    events_unreadable: usize,
    alerted: usize,
    read_only: usize,
    filtered: usize,
    ignored: usize,
    below_min_severity: usize,
    decompressed_bytes: u64,
}

impl Counts {
    fn drop(&mut self, why: Drop) {
        match why {
            Drop::ReadOnly => self.read_only += 1,
            Drop::Ignored => self.ignored += 1,
            Drop::BelowMinimum => self.below_min_severity += 1,
            _ => self.filtered += 1,
        }
    }

    fn record(self, out: &mut Outcome) {
        out.count("files", self.files);
        out.count("filesSkipped", self.files_skipped);
        out.count("events", self.events);
        out.count("eventsUnreadable", self.events_unreadable);
        out.count("alerted", self.alerted);
        out.count("readOnly", self.read_only);
        out.count("filtered", self.filtered);
        out.count("ignoredByRules", self.ignored);
        out.count("belowMinSeverity", self.below_min_severity);
        out.count("decompressedBytes", self.decompressed_bytes as usize);
    }
}

impl Handler {
    /// SQS: the partial batch response. SNS and EventBridge: the counts, or an error.
    pub async fn handle(&self, raw: Value) -> Result<Value, Failure> {
        let event = match input::parse(&raw) {
            Ok(e) => e,
            Err(e) => {
                let mut out = Outcome::new("event");
                out.stop(BAD_INPUT, e.to_string());
                return out.finish();
            }
        };
        let mut counts = Counts::default();
        match event {
            Event::Sqs(items) => {
                let mut out = Outcome::new("SQS message");
                self.items(&items, &mut out, &mut counts).await;
                counts.record(&mut out);
                out.finish_sqs()
            }
            Event::Sns(items) => {
                let mut out = Outcome::new("SNS record");
                self.items(&items, &mut out, &mut counts).await;
                counts.record(&mut out);
                out.finish()
            }
            Event::EventBridge(r) => {
                let mut out = Outcome::new("event");
                out.received(1);
                counts.events = 1;
                let source = format!(
                    "eventbridge/{}",
                    r.event_id.as_deref().unwrap_or(&r.event_time)
                );
                let doc = self
                    .rules
                    .needs_document()
                    .then(|| input::detail_document(&raw, &r));
                match self.rules.judge(&self.filter, &r, doc.as_ref()) {
                    Err(dropped) => {
                        tracing::debug!(
                            event_name = %r.event_name,
                            reason = ?dropped.why,
                            rule = dropped.rule,
                            silenced = %dropped.silenced.join(","),
                            "no alert"
                        );
                        counts.drop(dropped.why);
                    }
                    Ok(verdict) => {
                        kept(&r, &verdict);
                        counts.alerted = 1;
                        let mut groups = Groups::default();
                        let tags = match weigh::account(&r) {
                            Some(a) if self.delivery.uses_account_tags() => {
                                self.delivery.account_tags(a).await
                            }
                            _ => None,
                        };
                        self.gather(&r, &verdict, tags.as_deref(), &mut groups);
                        let notices =
                            groups.into_notices(&source, |d: Digest| Some(d.into_alert(None)));
                        for notice in notices {
                            if let Err(e) = self.delivery.deliver(notice, &mut out).await {
                                out.delivery_failed(0, r.event_id.as_deref(), &e);
                                break;
                            }
                        }
                    }
                }
                counts.record(&mut out);
                out.finish()
            }
        }
    }

    async fn items(&self, items: &[Item], out: &mut Outcome, counts: &mut Counts) {
        out.received(items.len());
        for item in items {
            if let Err(e) = self.item(item, out, counts).await {
                let id = item.id.as_deref();
                match &e {
                    ItemError::Delivery(d) => out.delivery_failed(item.index, id, d),
                    // A message or a file that cannot be read (S3 included): retried by SQS.
                    _ => out.unit_failed(item.index, id, BAD_INPUT, e.to_string()),
                }
            }
            if out.stopped() {
                break;
            }
        }
    }

    /// One message: read every file it announces, then deliver their alerts. Reading first
    /// means a file that cannot be read fails the message before anything is posted.
    async fn item(
        &self,
        item: &Item,
        out: &mut Outcome,
        counts: &mut Counts,
    ) -> Result<(), ItemError> {
        let (bucket, keys) = match item.delivery.as_ref().map_err(Clone::clone)? {
            Announced::Validation => {
                tracing::debug!("CloudTrail's validation message; nothing to do");
                return Ok(());
            }
            Announced::Files { bucket, keys } => (bucket, keys),
        };
        let mut notices = Vec::new();
        for key in keys {
            if let Some(why) = not_a_log_file(key) {
                counts.files_skipped += 1;
                tracing::info!(bucket = %bucket, key = %key, reason = why, "skipped");
                continue;
            }
            let (bytes, version) = self.fetch(bucket, key).await?;
            let mut groups = Groups::default();
            // Tag routes on the accounts' tags: the alerted events wait until every account
            // of the file has its tags (read once per execution environment).
            let by_account_tags = self.delivery.uses_account_tags();
            let mut held = Vec::new();
            // One judge per file: secret reads are counted per principal across it.
            let mut judge = self.rules.reading(&self.filter);
            let sieve = |skim: &Skim| self.rules.sieve(&self.filter, skim);
            let seen = match logfile::read_log(&bytes, sieve, |item| {
                counts.events += 1;
                let (r, text) = match item {
                    // Most of a trail: dropped on its skim, never parsed.
                    Entry::Dropped(why) => return counts.drop(why),
                    Entry::Record(r, text) => (r, text),
                };
                let doc = self.rules.document(text);
                match judge.judge(&r, doc.as_ref()) {
                    Ok(verdict) => {
                        kept(&r, &verdict);
                        counts.alerted += 1;
                        if by_account_tags {
                            held.push((r, verdict));
                        } else {
                            self.gather(&r, &verdict, None, &mut groups);
                        }
                    }
                    Err(dropped) => counts.drop(dropped.why),
                }
            }) {
                Ok(seen) => seen,
                Err(LogError::NotLog) => {
                    counts.files_skipped += 1;
                    tracing::info!(bucket = %bucket, key = %key, reason = %LogError::NotLog, "skipped");
                    continue;
                }
                Err(why) => {
                    return Err(ItemError::Parse {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        why,
                    });
                }
            };
            if by_account_tags {
                let mut tags: HashMap<String, Option<Arc<Tags>>> = HashMap::new();
                for (r, _) in &held {
                    if let Some(a) = weigh::account(r)
                        && !tags.contains_key(a)
                    {
                        let t = self.delivery.account_tags(a).await;
                        tags.insert(a.to_owned(), t);
                    }
                }
                for (r, verdict) in &held {
                    let t = weigh::account(r).and_then(|a| tags.get(a)?.as_deref());
                    self.gather(r, verdict, t, &mut groups);
                }
            }
            counts.events_unreadable += seen.unreadable;
            counts.files += 1;
            counts.decompressed_bytes += seen.bytes;
            // The object and its version: a redelivery of the same file gives the same keys.
            let source = format!("s3/{bucket}/{key}@{version}");
            notices.extend(groups.into_notices(&source, |d: Digest| Some(d.into_alert(Some(key)))));
        }
        for notice in notices {
            self.delivery.deliver(notice, out).await?;
        }
        Ok(())
    }

    /// Add one event to its group: by route, and by account and principal where the route
    /// threads.
    fn gather(
        &self,
        r: &Record,
        verdict: &Verdict,
        account_tags: Option<&Tags>,
        groups: &mut Groups<Digest>,
    ) {
        groups
            .group(
                &self.delivery,
                verdict.severity,
                weigh::account(r),
                verdict.rule(),
                account_tags,
                || weigh::thread(r),
            )
            .add(r, verdict, &self.filter.account_names);
    }

    /// The object's bytes, and its version (version id, else ETag).
    async fn fetch(&self, bucket: &str, key: &str) -> Result<(Vec<u8>, String), ItemError> {
        let fail = |why: String| ItemError::Fetch {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            why,
        };
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| fail(format!("S3 GetObject: {}", error_chain(&e))))?;
        let version = object
            .version_id()
            .filter(|v| !v.is_empty() && *v != "null")
            .or(object.e_tag())
            .unwrap_or("-")
            .trim_matches('"')
            .to_owned();
        // The compressed file is held (a tenth of its JSON); the JSON is streamed.
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("reading the object: {}", error_chain(&e))))?
            .to_vec();
        Ok((bytes, version))
    }
}

/// A critical event that a list, `ALERT_ONLY` or an ignore rule would have dropped: said in
/// the log, so whoever set them sees why it was posted anyway.
fn kept(r: &Record, verdict: &Verdict) {
    if let Some(d) = &verdict.kept {
        tracing::info!(
            event_name = %r.event_name,
            rules = %verdict.rules.join(","),
            would_drop = d.why.reason(),
            ignore_rule = d.rule,
            "kept: a critical rule is silenced only by DISABLE_RULES or an ignore rule's silences"
        );
    }
}

/// Digest files and objects that are not log files by name are skipped.
pub fn not_a_log_file(key: &str) -> Option<&'static str> {
    if key.contains("/CloudTrail-Digest/") || key.starts_with("CloudTrail-Digest/") {
        Some("a CloudTrail digest file, not a log file")
    } else if !(key.ends_with(".json.gz") || key.ends_with(".json")) {
        Some("not a CloudTrail log file (the name does not end in .json.gz)")
    } else {
        None
    }
}
