//! What one invocation did: its response, its summary line, its metrics, and — when
//! something failed — the one error the runtime reports (or, for SQS, the partial batch
//! response). Every posting function ends its invocation with [`Outcome::finish`] or
//! [`Outcome::finish_sqs`].

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use opswatch_support::Failure;
use serde_json::{Map, Value, json};

/// `errorType` of an event that cannot be used.
pub const BAD_INPUT: &str = "BadInput";
/// `errorType` when Slack could not be reached in time (the event source retries).
pub const SLACK_DELIVERY_FAILED: &str = "SlackDeliveryFailed";
/// `errorType` when a setting must change first (retrying cannot help).
pub const CONFIGURATION_ERROR: &str = "ConfigurationError";

/// One unit of the event (an SNS record, an SQS message, a window) that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitFailure {
    pub index: usize,
    /// The unit's id (SNS MessageId, SQS messageId), when it has one.
    pub id: Option<String>,
    pub error_type: &'static str,
    pub message: String,
}

/// The counts and failures of one invocation.
#[derive(Debug)]
pub struct Outcome {
    /// What a unit is, for messages: "SNS record", "SQS message", "window".
    unit: &'static str,
    records: usize,
    ignored: usize,
    pub(crate) alerts: usize,
    pub(crate) messages_posted: usize,
    /// Messages printed to stderr instead (a dry run: no Slack destination is set).
    pub(crate) messages_printed: usize,
    pub(crate) deduplicated: usize,
    pub(crate) dedupe_unavailable: usize,
    pub(crate) dropped: usize,
    /// Alerts not posted because their scope is muted (`/opswatch`, the `Mute…` button).
    pub(crate) muted: usize,
    /// The active mutes (mute id → until, epoch seconds), read once per invocation.
    pub(crate) mutes: Option<std::collections::HashMap<String, i64>>,
    pub(crate) replies: usize,
    pub(crate) slack_retries: u32,
    /// Posts whose outcome was unknown (Slack may have taken them).
    pub(crate) unknown_outcomes: usize,
    /// Looks for a message after an unknown outcome or a crashed attempt.
    pub(crate) looked: usize,
    /// Messages found already in Slack by such a look (not posted again).
    pub(crate) reconciled: usize,
    /// Waits for a thread's parent that another invocation was posting.
    pub(crate) parent_waits: usize,
    /// The invocation's deadline (epoch seconds), when it runs under Lambda's runtime.
    pub(crate) deadline: Option<i64>,
    failures: Vec<UnitFailure>,
    stop: Option<(&'static str, String)>,
    extra: Map<String, Value>,
    /// Destinations that already failed in this invocation (label, why): later alerts for
    /// them fail at once instead of each spending the retry budget.
    pub(crate) down: Vec<(String, String)>,
    /// Set when the dedupe table could not be reached: later messages skip it.
    pub(crate) store_down: Option<String>,
}

impl Outcome {
    pub fn new(unit: &'static str) -> Self {
        Self {
            unit,
            records: 0,
            ignored: 0,
            alerts: 0,
            messages_posted: 0,
            messages_printed: 0,
            deduplicated: 0,
            dedupe_unavailable: 0,
            dropped: 0,
            muted: 0,
            mutes: None,
            replies: 0,
            slack_retries: 0,
            unknown_outcomes: 0,
            looked: 0,
            reconciled: 0,
            parent_waits: 0,
            deadline: opswatch_support::deadline().and_then(|d| {
                d.duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs() as i64)
            }),
            failures: Vec::new(),
            stop: None,
            extra: Map::new(),
            down: Vec::new(),
            store_down: None,
        }
    }

    /// Units received (records, messages, windows).
    pub fn received(&mut self, n: usize) {
        self.records += n;
    }

    /// Units deliberately not alerted on (filtered, status notices, …).
    pub fn ignored(&mut self, n: usize) {
        self.ignored += n;
    }

    /// Add to one of the function's own counts (shown in the response and the summary).
    pub fn count(&mut self, key: &str, n: usize) {
        let now = self.extra.get(key).and_then(Value::as_u64).unwrap_or(0);
        self.extra.insert(key.to_owned(), json!(now + n as u64));
    }

    /// Set one of the function's own response fields.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.extra.insert(key.to_owned(), value.into());
    }

    /// Messages posted so far.
    pub fn messages_posted(&self) -> usize {
        self.messages_posted
    }

    /// Messages printed so far by a dry run (no Slack destination set).
    pub fn messages_printed(&self) -> usize {
        self.messages_printed
    }

    /// Calls to Slack tried again (a 429, a 5xx, a timeout), whether they then succeeded or not.
    pub fn slack_retries(&self) -> u32 {
        self.slack_retries
    }

    /// Alerts not posted because they were muted.
    pub fn muted(&self) -> usize {
        self.muted
    }

    /// Messages found already posted (not posted again).
    pub fn deduplicated(&self) -> usize {
        self.deduplicated
    }

    /// Looks in Slack for a message whose outcome was unknown (or whose attempt crashed),
    /// and how many of them found it there (not posted again).
    pub fn looked_and_found(&self) -> (usize, usize) {
        (self.looked, self.reconciled)
    }

    /// Times an alert found its thread's parent being posted by another invocation and
    /// waited for it.
    pub fn parent_waits(&self) -> usize {
        self.parent_waits
    }

    /// A function's state (in the dedupe table) could not be read or written: counted as
    /// `DedupeUnavailable`.
    pub fn state_unavailable(&mut self) {
        self.dedupe_unavailable += 1;
    }

    pub fn dedupe_unavailable(&self) -> usize {
        self.dedupe_unavailable
    }

    /// A unit failed; the others go on.
    pub fn unit_failed(
        &mut self,
        index: usize,
        id: Option<&str>,
        error_type: &'static str,
        message: impl Into<String>,
    ) {
        let message = message.into();
        tracing::error!(unit = self.unit, index, id = id.unwrap_or("none"), error_type, error = %message, "{} failed", self.unit);
        self.failures.push(UnitFailure {
            index,
            id: id.map(str::to_owned),
            error_type,
            message,
        });
    }

    /// The invocation fails as a whole (a bad event, a configuration error, a checkpoint
    /// that cannot be written): nothing after this is attempted.
    pub fn stop(&mut self, error_type: &'static str, message: impl Into<String>) {
        if self.stop.is_none() {
            self.stop = Some((error_type, message.into()));
        }
    }

    /// Whether [`Outcome::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stop.is_some()
    }

    pub fn failures(&self) -> &[UnitFailure] {
        &self.failures
    }

    fn failed(&self) -> usize {
        self.failures.len() + usize::from(self.stop.is_some() && self.failures.is_empty())
    }

    fn log(&self) {
        opswatch_support::emit_metrics(&[
            ("AlertsSent", self.messages_posted),
            ("AlertsFailed", self.failed()),
            ("Deduplicated", self.deduplicated),
            ("DedupeUnavailable", self.dedupe_unavailable),
            ("UnknownOutcomes", self.unknown_outcomes),
            ("Reconciled", self.reconciled),
            ("Muted", self.muted),
        ]);
        let counts = Value::Object(self.extra.clone()).to_string();
        tracing::info!(
            unit = self.unit,
            records = self.records,
            alerts = self.alerts,
            messages_posted = self.messages_posted,
            messages_printed = self.messages_printed,
            deduplicated = self.deduplicated,
            dedupe_unavailable = self.dedupe_unavailable,
            dropped = self.dropped,
            muted = self.muted,
            replies = self.replies,
            ignored = self.ignored,
            failed = self.failed(),
            slack_retries = self.slack_retries,
            unknown_outcomes = self.unknown_outcomes,
            looked = self.looked,
            reconciled = self.reconciled,
            counts = %counts,
            "invocation summary"
        );
    }

    /// The response body: the standard counts, then the function's own.
    pub fn response(&self) -> Value {
        let mut r = Map::new();
        r.insert("records".into(), json!(self.records));
        r.insert("alerts".into(), json!(self.alerts));
        r.insert("messagesPosted".into(), json!(self.messages_posted));
        if self.messages_printed > 0 {
            r.insert("messagesPrinted".into(), json!(self.messages_printed));
        }
        r.insert("deduplicated".into(), json!(self.deduplicated));
        if self.muted > 0 {
            r.insert("muted".into(), json!(self.muted));
        }
        r.insert("ignored".into(), json!(self.ignored));
        for (k, v) in &self.extra {
            r.insert(k.clone(), v.clone());
        }
        Value::Object(r)
    }

    fn stop_failure(&self) -> Option<Failure> {
        self.stop.as_ref().map(|(error_type, message)| {
            Failure::from_error(lambda_runtime::Diagnostic {
                error_type: (*error_type).into(),
                error_message: message.clone(),
            })
        })
    }

    /// End the invocation: the summary line and metrics, then the response, or one error
    /// naming every failed unit (typed `SlackDeliveryFailed` when a delivery was among
    /// them, so the alarm and the retry policy see it).
    pub fn finish(self) -> Result<Value, Failure> {
        self.log();
        if let Some(f) = self.stop_failure() {
            return Err(f);
        }
        if self.failures.is_empty() {
            return Ok(self.response());
        }
        let error_type = if self
            .failures
            .iter()
            .any(|f| f.error_type == SLACK_DELIVERY_FAILED)
        {
            SLACK_DELIVERY_FAILED
        } else {
            self.failures[0].error_type
        };
        let details: Vec<String> = self
            .failures
            .iter()
            .map(|f| match &f.id {
                Some(id) => format!("record {} (MessageId {id}): {}", f.index, f.message),
                None => format!("record {}: {}", f.index, f.message),
            })
            .collect();
        Err(Failure::from_error(lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: format!(
                "{} of {} {}(s) failed: {}",
                self.failures.len(),
                self.records,
                self.unit,
                details.join("; ")
            ),
        }))
    }

    /// End an SQS invocation: the partial batch response naming exactly the messages that
    /// failed (so only they are retried), or one error when the invocation stopped (a
    /// configuration error: every message goes back to the queue).
    pub fn finish_sqs(self) -> Result<Value, Failure> {
        self.log();
        if let Some(f) = self.stop_failure() {
            return Err(f);
        }
        let mut response = SqsBatchResponse::default();
        for f in &self.failures {
            // An empty identifier makes Lambda retry the whole batch: the safe side.
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = f.id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
        serde_json::to_value(response).map_err(|e| {
            Failure::from_error(lambda_runtime::Diagnostic {
                error_type: "InternalError".into(),
                error_message: format!("encoding the SQS batch response: {e}"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(r: Result<Value, Failure>) -> lambda_runtime::Diagnostic {
        r.unwrap_err().into()
    }

    #[test]
    fn responses_and_errors() {
        let mut o = Outcome::new("SNS record");
        o.received(2);
        o.ignored(1);
        o.count("files", 2);
        o.count("files", 1);
        o.set("mode", "push");
        let r = o.finish().unwrap();
        assert_eq!(r["records"], 2);
        assert_eq!(r["files"], 3);
        assert_eq!(r["mode"], "push");

        let mut o = Outcome::new("SNS record");
        o.received(3);
        o.unit_failed(0, Some("m-0"), BAD_INPUT, "not JSON");
        o.unit_failed(2, None, SLACK_DELIVERY_FAILED, "Slack: gave up");
        let d = diagnostic(o.finish());
        assert_eq!(d.error_type, SLACK_DELIVERY_FAILED);
        assert_eq!(
            d.error_message,
            "2 of 3 SNS record(s) failed: record 0 (MessageId m-0): not JSON; record 2: Slack: gave up"
        );

        let mut o = Outcome::new("window");
        o.stop(
            CONFIGURATION_ERROR,
            "Slack chat.postMessage answered channel_not_found",
        );
        o.stop(BAD_INPUT, "later stops do not replace the first");
        assert!(o.stopped());
        let d = diagnostic(o.finish());
        assert_eq!(d.error_type, CONFIGURATION_ERROR);
        assert!(d.error_message.contains("channel_not_found"));
    }

    #[test]
    fn sqs_batches_name_their_failed_messages() {
        let mut o = Outcome::new("SQS message");
        o.received(3);
        o.unit_failed(1, Some("id-1"), SLACK_DELIVERY_FAILED, "down");
        o.unit_failed(2, None, BAD_INPUT, "garbage");
        let r = o.finish_sqs().unwrap();
        assert_eq!(
            r,
            json!({"batchItemFailures": [{"itemIdentifier": "id-1"}, {"itemIdentifier": ""}]})
        );
        let mut o = Outcome::new("SQS message");
        o.stop(CONFIGURATION_ERROR, "fix SLACK_CHANNEL");
        assert!(o.finish_sqs().is_err());
    }
}
