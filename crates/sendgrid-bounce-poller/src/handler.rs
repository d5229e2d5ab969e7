//! One scheduled run: the windows since the checkpoint, every bounce of each from SendGrid,
//! posted to Slack, and only then the checkpoint moved past the window.

use opswatch_slack::{Alert, Slack, SlackError};
use serde::Serialize;
use serde_json::Value;

use crate::render;
use crate::sendgrid::{SendGrid, SendGridError};
use opswatch_support::checkpoint::{Checkpoint, CheckpointError};
use opswatch_support::window;

pub struct Poller {
    pub slack: Slack,
    pub sendgrid: SendGrid,
    pub checkpoint: Option<Checkpoint>,
    /// Seconds looked back when there is no checkpoint (`POLL_INTERVAL`).
    pub interval: i64,
    /// Longest window asked of SendGrid at once (`MAX_WINDOW`).
    pub max_window: i64,
    pub notify_when_empty: bool,
    pub mask_emails: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    SendGrid(#[from] SendGridError),
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("Slack: {0} (the checkpoint stays at {1}; the next run posts these bounces again)")]
    Slack(SlackError, String),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::BadInput(_) => "BadInput",
            HandlerError::SendGrid(s) if s.is_configuration() => "ConfigurationError",
            HandlerError::SendGrid(_) => "SendGridError",
            HandlerError::Checkpoint(_) => "CheckpointError",
            HandlerError::Slack(..) => "SlackDeliveryFailed",
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
    /// Start and end of what this run covered (RFC 3339; empty when nothing was new).
    pub from: String,
    pub to: String,
    pub windows: usize,
    pub bounces: usize,
    pub messages_posted: usize,
}

impl Poller {
    pub async fn handle(&self, event: Value) -> Result<Response, HandlerError> {
        let result = self.run(&event).await;
        match &result {
            Ok(r) => opswatch_support::emit_metrics(r.messages_posted, 0),
            Err(_) => opswatch_support::emit_metrics(0, 1),
        }
        match &result {
            Ok(r) => tracing::info!(
                records = 1,
                windows = r.windows,
                bounces = r.bounces,
                messages_posted = r.messages_posted,
                failed = 0,
                "invocation summary"
            ),
            Err(e) => tracing::info!(records = 1, failed = 1, error = %e, "invocation summary"),
        }
        result
    }

    async fn run(&self, event: &Value) -> Result<Response, HandlerError> {
        let end = scheduled_time(event)?;
        let checkpoint = self.read_checkpoint().await?;
        let windows = window::windows(end, checkpoint, self.interval, self.max_window);
        let mut r = Response {
            windows: windows.len(),
            ..Response::default()
        };
        let Some(&(first, _)) = windows.first() else {
            tracing::info!(checkpoint, end, "nothing new since the checkpoint");
            return Ok(r);
        };
        r.from = render::time(first);
        r.to = render::time(end);
        for (a, b) in windows {
            let bounces = self.sendgrid.bounces(a, b - 1).await?;
            if !bounces.is_empty() {
                let alert = render::bounces(&bounces, a, b, self.mask_emails);
                r.messages_posted += self.post(alert, a).await?;
            }
            r.bounces += bounces.len();
            self.write_checkpoint(b).await?;
        }
        if r.bounces == 0 && self.notify_when_empty {
            r.messages_posted += self.post(render::none(first, end), end).await?;
        }
        Ok(r)
    }

    async fn post(&self, alert: Alert, checkpoint: i64) -> Result<usize, HandlerError> {
        let messages = alert.into_messages();
        for m in &messages {
            self.slack
                .post(m)
                .await
                .map_err(|e| HandlerError::Slack(e, render::time(checkpoint)))?;
        }
        Ok(messages.len())
    }

    async fn read_checkpoint(&self) -> Result<Option<i64>, HandlerError> {
        match &self.checkpoint {
            Some(c) => Ok(c.read().await?),
            None => Ok(None),
        }
    }

    async fn write_checkpoint(&self, at: i64) -> Result<(), HandlerError> {
        if let Some(c) = &self.checkpoint {
            c.write(at).await?;
        }
        Ok(())
    }
}

/// The scheduled event's `time`, in unix seconds.
pub fn scheduled_time(event: &Value) -> Result<i64, HandlerError> {
    opswatch_support::scheduled_time(event).map_err(HandlerError::BadInput)
}
