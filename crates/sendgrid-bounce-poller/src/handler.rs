//! One scheduled run: the windows since the checkpoint, every bounce of each from SendGrid,
//! posted to Slack, and only then the checkpoint moved past the window.

use opswatch_slack::{Alert, Slack, SlackError};
use opswatch_support::error_chain;
use serde::Serialize;
use serde_json::Value;

use crate::render;
use crate::sendgrid::{SendGrid, SendGridError};
use crate::window;

/// Where the end of the last reported window is kept (SSM parameter, unix seconds).
pub struct Checkpoint {
    pub ssm: aws_sdk_ssm::Client,
    pub parameter: String,
}

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

#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    SendGrid(#[from] SendGridError),
    #[error("checkpoint {parameter}: {why}")]
    Checkpoint { parameter: String, why: String },
    #[error("Slack: {0} (the checkpoint stays at {1}; the next run posts these bounces again)")]
    Slack(SlackError, String),
}

/// The runtime logs a failed invocation's error with `Debug`: keep it the one readable line.
impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::BadInput(_) => "BadInput",
            HandlerError::SendGrid(s) if s.is_configuration() => "ConfigurationError",
            HandlerError::SendGrid(_) => "SendGridError",
            HandlerError::Checkpoint { .. } => "CheckpointError",
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
        let Some(c) = &self.checkpoint else {
            return Ok(None);
        };
        let fail = |why: String| HandlerError::Checkpoint {
            parameter: c.parameter.clone(),
            why,
        };
        match c.ssm.get_parameter().name(&c.parameter).send().await {
            Ok(out) => {
                let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
                // The template creates the parameter holding "none": no run has finished yet.
                if value.trim() == "none" {
                    return Ok(None);
                }
                value
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| fail(format!("holds {value:?}, not unix seconds")))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                tracing::info!(parameter = %c.parameter, "no checkpoint yet: starting one interval back");
                Ok(None)
            }
            Err(e) => Err(fail(format!("SSM GetParameter: {}", error_chain(&e)))),
        }
    }

    async fn write_checkpoint(&self, at: i64) -> Result<(), HandlerError> {
        let Some(c) = &self.checkpoint else {
            return Ok(());
        };
        c.ssm
            .put_parameter()
            .name(&c.parameter)
            .value(at.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| HandlerError::Checkpoint {
                parameter: c.parameter.clone(),
                why: format!("SSM PutParameter: {}", error_chain(&e)),
            })?;
        Ok(())
    }
}

/// The scheduled event's `time`, in unix seconds.
pub fn scheduled_time(event: &Value) -> Result<i64, HandlerError> {
    opswatch_support::scheduled_time(event).map_err(HandlerError::BadInput)
}
