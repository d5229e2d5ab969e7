//! The I/O edge: fetch each announced log file from S3, read it record by record, post one
//! alert per file; report SQS messages that failed so that only they are retried.

use opswatch_slack::{Alert, Slack, SlackError};
use opswatch_support::error_chain;
use serde::Serialize;
use serde_json::Value;

use crate::filter::{Drop, Filter};
use crate::input::{self, Delivery, Event, InputError, Item};
use crate::record::{self, LogError};
use crate::render::Digest;

/// Everything an invocation needs; built once per execution environment.
pub struct Handler {
    pub slack: Slack,
    pub s3: aws_sdk_s3::Client,
    pub filter: Filter,
}

/// Why an invocation failed as a whole (SQS batches report their messages instead).
pub type HandlerError = opswatch_support::InvocationError<InputError>;

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
    #[error("Slack: {0}")]
    Delivery(#[from] SlackError),
    #[error("not posted: Slack already failed in this invocation ({0})")]
    SlackDown(String),
}

/// SQS's partial batch response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

/// Counts for the invocation's summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub messages: usize,
    pub failed: usize,
    pub files: usize,
    pub files_skipped: usize,
    pub events: usize,
    pub events_unreadable: usize,
    pub alerted: usize,
    pub read_only: usize,
    pub filtered: usize,
    pub slack_messages: usize,
    pub slack_retries: u32,
    pub decompressed_bytes: u64,
    /// Set at the first failed delivery: later alerts fail at once instead of each spending
    /// the retry budget, so the batch ends well inside the function's timeout.
    #[serde(skip)]
    pub slack_down: Option<String>,
}

impl Counts {
    fn log(&self) {
        opswatch_support::emit_metrics(self.slack_messages, self.failed);
        tracing::info!(
            records = self.messages,
            failed = self.failed,
            files = self.files,
            files_skipped = self.files_skipped,
            events = self.events,
            events_unreadable = self.events_unreadable,
            alerted = self.alerted,
            read_only = self.read_only,
            filtered = self.filtered,
            messages_posted = self.slack_messages,
            slack_retries = self.slack_retries,
            decompressed_bytes = self.decompressed_bytes,
            "invocation summary"
        );
    }

    fn drop(&mut self, why: Drop) {
        match why {
            Drop::ReadOnly => self.read_only += 1,
            _ => self.filtered += 1,
        }
    }
}

impl Handler {
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        let event = input::parse(&event).map_err(HandlerError::BadInput)?;
        let mut counts = Counts::default();
        let result = match event {
            Event::Sqs(items) => Ok(self.sqs(&items, &mut counts).await),
            Event::Sns(items) => self.sns(&items, &mut counts).await,
            Event::EventBridge(r) => self.eventbridge(&r, &mut counts).await,
        };
        counts.log();
        result
    }

    async fn sqs(&self, items: &[Item], counts: &mut Counts) -> Value {
        counts.messages = items.len();
        let mut failures = Vec::new();
        for item in items {
            if let Err(e) = self.item(item, counts).await {
                counts.failed += 1;
                let id = item.id.clone().unwrap_or_default();
                tracing::error!(message = item.index, message_id = %id, error = %e, "SQS message failed; it will be retried");
                // An empty identifier makes Lambda retry the whole batch: the safe side.
                failures.push(ItemFailure {
                    item_identifier: id,
                });
            }
        }
        serde_json::to_value(BatchResponse {
            batch_item_failures: failures,
        })
        .unwrap_or(Value::Null)
    }

    async fn sns(&self, items: &[Item], counts: &mut Counts) -> Result<Value, HandlerError> {
        counts.messages = items.len();
        let mut failures = Vec::new();
        let mut delivery = false;
        for item in items {
            if let Err(e) = self.item(item, counts).await {
                let id = item.id.as_deref().unwrap_or("none");
                tracing::error!(record = item.index, message_id = id, error = %e, "SNS record failed");
                delivery |= matches!(e, ItemError::Delivery(_) | ItemError::SlackDown(_));
                failures.push(format!("record {} (MessageId {id}): {e}", item.index));
            }
        }
        counts.failed = failures.len();
        if failures.is_empty() {
            Ok(serde_json::to_value(&*counts).unwrap_or(Value::Null))
        } else {
            Err(HandlerError::Records {
                unit: "SNS record(s)",
                total: items.len(),
                failed: failures.len(),
                details: failures.join("; "),
                delivery,
            })
        }
    }

    async fn eventbridge(
        &self,
        r: &record::Record,
        counts: &mut Counts,
    ) -> Result<Value, HandlerError> {
        counts.messages = 1;
        counts.events = 1;
        match self.filter.decide(r) {
            Err(why) => {
                tracing::debug!(event_name = %r.event_name, reason = ?why, "no alert");
                counts.drop(why);
            }
            Ok(()) => {
                counts.alerted = 1;
                let mut digest = Digest::default();
                digest.add(r);
                if let Err(e) = self.post(digest.into_alert(None), counts).await {
                    counts.failed = 1;
                    return Err(HandlerError::Records {
                        unit: "event(s)",
                        total: 1,
                        failed: 1,
                        details: format!("Slack: {e}"),
                        delivery: true,
                    });
                }
            }
        }
        Ok(serde_json::to_value(&*counts).unwrap_or(Value::Null))
    }

    /// One message: read every file it announces, then post their alerts. Reading first
    /// means a file that cannot be read fails the message before anything is posted.
    async fn item(&self, item: &Item, counts: &mut Counts) -> Result<(), ItemError> {
        let (bucket, keys) = match item.delivery.as_ref().map_err(Clone::clone)? {
            Delivery::Validation => {
                tracing::debug!("CloudTrail's validation message; nothing to do");
                return Ok(());
            }
            Delivery::Files { bucket, keys } => (bucket, keys),
        };
        let mut alerts: Vec<Alert> = Vec::new();
        for key in keys {
            if let Some(why) = not_a_log_file(key) {
                counts.files_skipped += 1;
                tracing::info!(bucket = %bucket, key = %key, reason = why, "skipped");
                continue;
            }
            let bytes = self.fetch(bucket, key).await?;
            let (digest, seen) = match self.read(&bytes, counts) {
                Ok(d) => d,
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
            counts.files += 1;
            counts.decompressed_bytes += seen.bytes;
            if !digest.is_empty() {
                alerts.push(digest.into_alert(Some(key)));
            }
        }
        if !alerts.is_empty()
            && let Some(why) = &counts.slack_down
        {
            return Err(ItemError::SlackDown(why.clone()));
        }
        for alert in alerts {
            if let Err(e) = self.post(alert, counts).await {
                counts.slack_down = Some(e.to_string());
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn read(&self, bytes: &[u8], counts: &mut Counts) -> Result<(Digest, record::Seen), LogError> {
        let mut digest = Digest::default();
        let seen = record::read_log(bytes, |r| {
            counts.events += 1;
            match self.filter.decide(&r) {
                Ok(()) => {
                    counts.alerted += 1;
                    digest.add(&r);
                }
                Err(why) => counts.drop(why),
            }
        })?;
        counts.events_unreadable += seen.unreadable;
        Ok((digest, seen))
    }

    async fn fetch(&self, bucket: &str, key: &str) -> Result<Vec<u8>, ItemError> {
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
        // The compressed file is held (a tenth of its JSON); the JSON is streamed.
        Ok(object
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("reading the object: {}", error_chain(&e))))?
            .to_vec())
    }

    async fn post(&self, alert: Alert, counts: &mut Counts) -> Result<(), SlackError> {
        for m in alert.into_messages() {
            let posted = self.slack.post(&m).await?;
            counts.slack_messages += 1;
            counts.slack_retries += posted.attempts.saturating_sub(1);
        }
        Ok(())
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
