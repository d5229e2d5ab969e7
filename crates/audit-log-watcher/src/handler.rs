//! One invocation: a CloudWatch Logs subscription batch (push), or a scheduled poll of
//! FilterLogEvents over the windows since the checkpoint (pull). Either way: parse every
//! line, keep the watched users' connections, post one alert, and (pull) move the
//! checkpoint only after it was delivered.

use std::collections::HashSet;

use opswatch_delivery::{BAD_INPUT, Delivery, Groups, Outcome};
use opswatch_support::checkpoint::{Checkpoint, CheckpointError};
use opswatch_support::{Failure, window};
use serde_json::Value;

use crate::awslogs::{self, AwsLogsError, LogEvent};
use crate::parse::{self, Engine};
use crate::render;
use crate::rules::{self, Line, Rules, Sighting};
use crate::weigh;

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
    pub delivery: Delivery,
    pub rules: Rules,
    /// Failed attempts of one user from one host that make a warning.
    pub failed_threshold: usize,
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
    #[error("{0}")]
    Delivery(#[from] opswatch_delivery::DeliveryError),
}

impl HandlerError {
    fn error_type(&self) -> &'static str {
        match self {
            HandlerError::BadInput(_) | HandlerError::AwsLogs(_) => BAD_INPUT,
            HandlerError::PullNotConfigured => "ConfigurationError",
            HandlerError::Logs { .. } => "CloudWatchLogsError",
            HandlerError::Checkpoint(_) => "CheckpointError",
            HandlerError::Delivery(e) => e.error_type(),
        }
    }
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
    /// The AWS account the lines come from, when the payload says (`owner`).
    account: Option<String>,
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
    /// The response: `{"mode", "logEvents", "alerted", "ignored", "unparseable",
    /// "messagesPosted", …}`.
    pub async fn handle(&self, event: Value) -> Result<Value, Failure> {
        let mut out = Outcome::new("batch");
        for k in ["logEvents", "alerted", "unparseable"] {
            out.count(k, 0);
        }
        if let Err(e) = self.run(&event, &mut out).await {
            out.stop(e.error_type(), e.to_string());
        }
        out.finish()
    }

    async fn run(&self, event: &Value, out: &mut Outcome) -> Result<(), HandlerError> {
        if let Some(data) = awslogs::data(event) {
            return self.push(data, out).await;
        }
        let scheduled = event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
            || event.get("source").and_then(Value::as_str) == Some("aws.events");
        if scheduled {
            return self.pull(event, out).await;
        }
        Err(HandlerError::BadInput(
            "the event is neither a CloudWatch Logs subscription event (awslogs.data) nor a scheduled event".into(),
        ))
    }

    async fn push(&self, data: &str, out: &mut Outcome) -> Result<(), HandlerError> {
        let payload = awslogs::decode(data)?;
        match payload.message_type.as_str() {
            "CONTROL_MESSAGE" => {
                tracing::debug!(log_group = %payload.log_group, "control message ignored");
                out.set("mode", "control");
                return Ok(());
            }
            "DATA_MESSAGE" => {}
            other => {
                return Err(HandlerError::BadInput(format!(
                    "awslogs messageType {other:?} is neither DATA_MESSAGE nor CONTROL_MESSAGE"
                )));
            }
        }
        out.set("mode", "push");
        out.received(1);
        let mut batch = Batch {
            account: (!payload.owner.is_empty()).then(|| payload.owner.clone()),
            ..Batch::default()
        };
        for e in &payload.log_events {
            batch.add(&self.rules, &payload.log_group, &payload.log_stream, e);
        }
        // The batch's events are its identity: a redelivered batch gives the same keys.
        let ids: Vec<&str> = payload.log_events.iter().map(|e| e.id.as_str()).collect();
        let source = format!(
            "awslogs/{}/{}/{}",
            payload.log_group,
            payload.log_stream,
            opswatch_delivery::keys::digest(&ids.join(","))
        );
        self.deliver(batch, &source, out).await
    }

    /// Split the batch's lines by route (and by thread where the route threads), and
    /// deliver one alert per group.
    async fn deliver(
        &self,
        batch: Batch,
        source: &str,
        out: &mut Outcome,
    ) -> Result<(), HandlerError> {
        out.count("logEvents", batch.log_events);
        out.ignored(batch.ignored);
        out.count("unparseable", batch.unparseable);
        out.count("alerted", batch.sightings.len());
        let mut groups: Groups<Vec<Line>> = Groups::default();
        for line in rules::summarize(batch.sightings) {
            let (severity, rule) = weigh::weigh(&line, self.failed_threshold);
            let account = batch.account.as_deref();
            groups
                .group(&self.delivery, severity, account, Some(rule), None, || {
                    weigh::thread(&line)
                })
                .push(line);
        }
        let notices = groups.into_notices(source, |lines| {
            render::alert(&lines, &self.rules, &batch.groups)
        });
        for notice in notices {
            self.delivery.deliver(notice, out).await?;
        }
        Ok(())
    }

    async fn pull(&self, event: &Value, out: &mut Outcome) -> Result<(), HandlerError> {
        let time = opswatch_support::scheduled_time(event).map_err(HandlerError::BadInput)?;
        let pull = self.pull.as_ref().ok_or(HandlerError::PullNotConfigured)?;
        out.set("mode", "pull");
        let end = time - pull.settle;
        let checkpoint = match &pull.checkpoint {
            Some(c) => c.read().await?,
            None => None,
        };
        let windows = window::windows(end, checkpoint, pull.interval, pull.max_window);
        if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
            out.set("from", opswatch_support::rfc3339(first.0));
            out.set("to", opswatch_support::rfc3339(last.1));
        }
        for (a, b) in windows {
            out.received(1);
            let mut batch = Batch::default();
            for group in &pull.log_groups {
                for (stream, e) in pull.events(group, a * 1000, b * 1000 - 1).await? {
                    batch.add(&self.rules, group, &stream, &e);
                }
            }
            self.deliver(batch, &format!("window/{a}-{b}"), out).await?;
            if let Some(c) = &pull.checkpoint {
                c.write(b).await?;
            }
        }
        Ok(())
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
                    why: opswatch_support::sdk_error(&e),
                })?;
            for e in page.events() {
                let mut event = LogEvent::default();
                event.id = e.event_id().unwrap_or_default().to_owned();
                event.timestamp = e.timestamp().unwrap_or(start_ms);
                event.message = e.message().unwrap_or_default().to_owned();
                out.push((e.log_stream_name().unwrap_or_default().to_owned(), event));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}
