//! Delivery to an incoming webhook, with bounded retries.
//!
//! 429 honours `Retry-After`; 5xx and transport errors back off exponentially; other 4xx
//! (`invalid_blocks`, `no_service`, `channel_is_archived`, …) fail at once because retrying
//! cannot help. Every wait is bounded by one overall budget so that a Slack outage fails the
//! invocation well inside the function's timeout and the event source retries it.
//!
//! The webhook URL is a secret: it lives in [`WebhookUrl`], whose `Debug` is redacted, and
//! reqwest errors are stripped of their URL before they are shown.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::message::Message;

/// A webhook URL. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Accept an `http(s)://` URL.
    pub fn parse(url: &str) -> Result<Self, SlackError> {
        let url = url.trim();
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(Self(url.to_owned()))
        } else {
            Err(SlackError::Config(
                "the Slack webhook URL must start with https://".into(),
            ))
        }
    }

    /// The URL itself, for the HTTP request only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Webhook(WebhookUrl),
    /// No destination configured: print each body to stderr as one JSON line.
    DryRun,
}

/// The shortest attempt worth making: below this the budget is spent.
const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// How hard to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per message, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Total time one message may take: its attempts and the waits between them. An
    /// attempt's timeout is cut to what is left of it, so a Slack that accepts and never
    /// answers cannot hold an invocation past its budget.
    pub budget: Duration,
    /// Timeout of one HTTP request (connect + response).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            budget: Duration::from_secs(20),
            request_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack configuration: {0}")]
    Config(String),
    #[error("Slack rejected the message with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("Slack delivery failed after {attempts} attempt(s) in {elapsed_ms} ms: {last}")]
    GaveUp {
        attempts: u32,
        elapsed_ms: u128,
        last: String,
    },
}

impl SlackError {
    /// Whether the event source retrying the whole event may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SlackError::GaveUp { .. })
    }
}

/// What one delivery took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Posted {
    pub attempts: u32,
}

/// A Slack client: one per execution environment, reused across invocations.
#[derive(Clone, Debug)]
pub struct Slack {
    http: reqwest::Client,
    destination: Destination,
    retry: RetryPolicy,
}

enum Attempt {
    Done,
    Fatal(SlackError),
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

impl Slack {
    pub fn new(destination: Destination, retry: RetryPolicy) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .connect_timeout(retry.request_timeout.min(Duration::from_secs(5)))
            .timeout(retry.request_timeout)
            .user_agent(concat!("opswatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                SlackError::Config(format!("building the HTTP client: {}", e.without_url()))
            })?;
        Ok(Self {
            http,
            destination,
            retry,
        })
    }

    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    pub fn is_dry_run(&self) -> bool {
        self.destination == Destination::DryRun
    }

    /// Deliver one message (or print it, in a dry run).
    pub async fn post(&self, message: &Message) -> Result<Posted, SlackError> {
        let url = match &self.destination {
            Destination::DryRun => {
                let line = serde_json::json!({ "dry_run": true, "slack_message": message });
                eprintln!("{line}");
                return Ok(Posted { attempts: 0 });
            }
            Destination::Webhook(url) => url,
        };
        let started = Instant::now();
        let mut backoff = self.retry.initial_backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let left = self.retry.budget.saturating_sub(started.elapsed());
            let timeout = self.retry.request_timeout.min(left).max(MIN_ATTEMPT);
            let (why, after) = match self.attempt(url, message, timeout).await {
                Attempt::Done => return Ok(Posted { attempts }),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry { why, after } => (why, after),
            };
            let wait = after.unwrap_or(backoff);
            let give_up = |last: String| SlackError::GaveUp {
                attempts,
                elapsed_ms: started.elapsed().as_millis(),
                last,
            };
            if attempts >= self.retry.max_attempts {
                return Err(give_up(why));
            }
            if started.elapsed() + wait + MIN_ATTEMPT > self.retry.budget {
                return Err(give_up(format!(
                    "{why}; waiting {} ms and trying again would exceed the retry budget of {} ms",
                    wait.as_millis(),
                    self.retry.budget.as_millis()
                )));
            }
            tracing::warn!(attempt = attempts, wait_ms = wait.as_millis() as u64, reason = %why, "Slack delivery will be retried");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.retry.max_backoff);
        }
    }

    async fn attempt(&self, url: &WebhookUrl, message: &Message, timeout: Duration) -> Attempt {
        let response = match self
            .http
            .post(url.expose())
            .timeout(timeout)
            .json(message)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    why: describe(&e),
                    after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    why: describe(&e),
                    after: None,
                };
            }
        };
        let body = crate::mrkdwn::truncate_plain(body.trim(), 200);
        if status.is_success() {
            Attempt::Done
        } else if status == StatusCode::TOO_MANY_REQUESTS {
            Attempt::Retry {
                why: format!("HTTP 429 {body}"),
                after: retry_after,
            }
        } else if status.is_server_error() {
            Attempt::Retry {
                why: format!("HTTP {} {body}", status.as_u16()),
                after: retry_after,
            }
        } else {
            Attempt::Fatal(SlackError::Rejected {
                status: status.as_u16(),
                body,
            })
        }
    }
}

/// A reqwest error as one line, without the URL, with its causes.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut out = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        // hyper/reqwest causes do not carry the URL, but be certain.
        if !text.contains("://") {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
