//! One invocation: a CloudWatch Logs subscription batch (push), or a scheduled poll of
//! FilterLogEvents over the windows since the checkpoint (pull). Either way: parse every
//! line, keep the watched users' connections, post one alert, and (pull) move the
//! checkpoint only after it was delivered.

use std::collections::HashSet;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use opswatch_slack::{Slack, SlackError};
use opswatch_support::checkpoint::{Checkpoint, CheckpointError};
use opswatch_support::window;
use serde::Serialize;
use serde_json::Value;

use crate::awslogs::{self, AwsLogsError, LogEvent};
use crate::parse::{self, Engine};
use crate::render;
use crate::rules::{self, Rules, Sighting};

/// Pull mode's settings (present when `LOG_GROUPS` is set).
pub struct Pull {
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub log_groups: Vec<String>,
    /// Sent as FilterLogEvents' `filterPattern` (`None`: every event).
    pub filter_pattern: Option<String>,
    pub checkpoint: Option<Checkpoint>,
    /// Seconds looked back when there is no checkpoint (`POLL_INTERVAL`).
    pub interval: i64,
    /// Longest window asked for at once (`MAX_WINDOW`).
    pub max_window: i64,
    /// How far behind the schedule's time a window ends (`SETTLE_DELAY`), so that events
    /// still on their way into CloudWatch Logs are not skipped.
    pub settle: i64,
}

pub struct Watcher {
    pub slack: Slack,
    pub rules: Rules,
    pub pull: Option<Pull>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    AwsLogs(#[from] AwsLogsError),
    #[error("a scheduled event, but pull mode is not configured: set LOG_GROUPS")]
    PullNotConfigured,
    #[error("FilterLogEvents on {group}: {why}")]
    Logs { group: String, why: String },
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("Slack: {0}")]
    Slack(#[from] SlackError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::BadInput(_) | HandlerError::AwsLogs(_) => "BadInput",
            HandlerError::PullNotConfigured => "ConfigurationError",
            HandlerError::Logs { .. } => "CloudWatchLogsError",
            HandlerError::Checkpoint(_) => "CheckpointError",
            HandlerError::Slack(_) => "SlackDeliveryFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// "push", "pull" or "control".
    pub mode: &'static str,
    pub log_events: usize,
    /// Watched users' connections and failed attempts.
    pub alerted: usize,
    /// Lines that were read but are not alerted (other users, other operations).
    pub ignored: usize,
    pub unparseable: usize,
    pub messages_posted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// What a batch of log lines came to.
#[derive(Default)]
struct Batch {
    sightings: Vec<Sighting>,
    groups: Vec<String>,
    seen: HashSet<String>,
    log_events: usize,
    ignored: usize,
    unparseable: usize,
}

impl Batch {
    fn add(&mut self, rules: &Rules, group: &str, stream: &str, e: &LogEvent) {
        // A subscription may deliver an event twice within a batch; its id is unique.
        if !e.id.is_empty() && !self.seen.insert(e.id.clone()) {
            return;
        }
        self.log_events += 1;
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_owned());
        }
        match parse::line(Engine::of_log_group(group), &e.message, e.timestamp) {
            Ok(Some(event)) if rules.alerts(&event) => {
                let (kind, source) = awslogs::source(group);
                self.sightings.push(Sighting {
                    kind,
                    source: source.to_owned(),
                    instance: if event.server.is_empty() {
                        stream.to_owned()
                    } else {
                        event.server.clone()
                    },
                    event,
                });
            }
            Ok(_) => self.ignored += 1,
            Err(why) => {
                self.unparseable += 1;
                // The line itself may hold SQL text: log why, where, and how long it was.
                tracing::warn!(log_group = group, log_stream = stream, event_id = %e.id, bytes = e.message.len(), error = %why, "unparseable log line");
            }
        }
    }
}

impl Watcher {
    pub async fn handle(&self, event: Value) -> Result<Response, HandlerError> {
        let result = self.run(&event).await;
        match &result {
            Ok(r) => opswatch_support::emit_metrics(r.messages_posted, 0),
            Err(_) => opswatch_support::emit_metrics(0, 1),
        }
        match &result {
            Ok(r) => tracing::info!(
                mode = r.mode,
                records = r.log_events,
                alerted = r.alerted,
                ignored = r.ignored,
                unparseable = r.unparseable,
                messages_posted = r.messages_posted,
                failed = 0,
                "invocation summary"
            ),
            Err(e) => tracing::info!(failed = 1, error = %e, "invocation summary"),
        }
        result
    }

    async fn run(&self, event: &Value) -> Result<Response, HandlerError> {
        if let Some(data) = awslogs::data(event) {
            return self.push(data).await;
        }
        let scheduled = event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
            || event.get("source").and_then(Value::as_str) == Some("aws.events");
        if scheduled {
            return self.pull(event).await;
        }
        Err(HandlerError::BadInput(
            "the event is neither a CloudWatch Logs subscription event (awslogs.data) nor a scheduled event".into(),
        ))
    }

    async fn push(&self, data: &str) -> Result<Response, HandlerError> {
        let payload = awslogs::decode(data)?;
        match payload.message_type.as_str() {
            "CONTROL_MESSAGE" => {
                tracing::debug!(log_group = %payload.log_group, "control message ignored");
                return Ok(Response {
                    mode: "control",
                    ..Response::default()
                });
            }
            "DATA_MESSAGE" => {}
            other => {
                return Err(HandlerError::BadInput(format!(
                    "awslogs messageType {other:?} is neither DATA_MESSAGE nor CONTROL_MESSAGE"
                )));
            }
        }
        let mut batch = Batch::default();
        for e in &payload.log_events {
            batch.add(&self.rules, &payload.log_group, &payload.log_stream, e);
        }
        let mut r = Response {
            mode: "push",
            ..Response::default()
        };
        self.deliver(batch, &mut r).await?;
        Ok(r)
    }

    async fn deliver(&self, batch: Batch, r: &mut Response) -> Result<(), HandlerError> {
        r.log_events += batch.log_events;
        r.ignored += batch.ignored;
        r.unparseable += batch.unparseable;
        r.alerted += batch.sightings.len();
        let lines = rules::summarize(batch.sightings);
        if let Some(alert) = render::alert(&lines, &self.rules, &batch.groups) {
            for m in alert.into_messages() {
                self.slack.post(&m).await?;
                r.messages_posted += 1;
            }
        }
        Ok(())
    }

    async fn pull(&self, event: &Value) -> Result<Response, HandlerError> {
        let time = opswatch_support::scheduled_time(event).map_err(HandlerError::BadInput)?;
        let pull = self.pull.as_ref().ok_or(HandlerError::PullNotConfigured)?;
        let end = time - pull.settle;
        let checkpoint = match &pull.checkpoint {
            Some(c) => c.read().await?,
            None => None,
        };
        let mut r = Response {
            mode: "pull",
            ..Response::default()
        };
        let windows = window::windows(end, checkpoint, pull.interval, pull.max_window);
        if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
            r.from = Some(rfc3339(first.0));
            r.to = Some(rfc3339(last.1));
        }
        for (a, b) in windows {
            let mut batch = Batch::default();
            for group in &pull.log_groups {
                for (stream, e) in pull.events(group, a * 1000, b * 1000 - 1).await? {
                    batch.add(&self.rules, group, &stream, &e);
                }
            }
            self.deliver(batch, &mut r).await?;
            if let Some(c) = &pull.checkpoint {
                c.write(b).await?;
            }
        }
        Ok(r)
    }
}

impl Pull {
    /// Every event of `group` between the times (unix ms, both inclusive, as the API takes
    /// them), every page.
    async fn events(
        &self,
        group: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(String, LogEvent)>, HandlerError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .logs
                .filter_log_events()
                .log_group_name(group)
                .start_time(start_ms)
                .end_time(end_ms)
                .set_filter_pattern(self.filter_pattern.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| HandlerError::Logs {
                    group: group.to_owned(),
                    why: match (e.code(), e.message()) {
                        (Some(c), Some(m)) => format!("{c}: {m}"),
                        (Some(c), None) => c.to_owned(),
                        _ => opswatch_support::error_chain(&e),
                    },
                })?;
            for e in page.events() {
                out.push((
                    e.log_stream_name().unwrap_or_default().to_owned(),
                    LogEvent {
                        id: e.event_id().unwrap_or_default().to_owned(),
                        timestamp: e.timestamp().unwrap_or(start_ms),
                        message: e.message().unwrap_or_default().to_owned(),
                    },
                ));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}

/// `2026-11-25T09:10:00Z`.
fn rfc3339(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}
