//! Delivery to Slack: incoming webhooks, or the Web API (`chat.postMessage`, `chat.update`)
//! with a bot token; bounded retries either way.
//!
//! Webhooks answer with HTTP statuses. The Web API answers HTTP 200 with `"ok": false` and
//! an error code, and sometimes HTTP 429. Both are sorted into three kinds:
//!
//! - **wait and retry**: HTTP 429 or `ratelimited` (honouring `Retry-After`), 5xx,
//!   `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`, transport
//!   errors. Every wait is bounded by one overall budget per message, so a Slack outage fails
//!   the invocation well inside the function's timeout and the event source retries it.
//! - **configuration errors** ([`SlackError::Setup`]): the token is not valid
//!   (`invalid_auth`, `not_authed`, `token_revoked`, `account_inactive`, `token_expired`), a
//!   scope is missing (`missing_scope`), the channel cannot be posted to
//!   (`channel_not_found`, `not_in_channel`, `is_archived`), or a webhook is gone
//!   (`no_service`, `channel_is_archived`, `action_prohibited`). Retrying cannot help: one line
//!   names Slack's code and the setting to fix, at once.
//! - **refused**: anything else Slack rejects (`invalid_blocks`, `msg_too_long`,
//!   `invalid_thread_ts`, `message_not_found`, …): not retried; the caller may react to the
//!   code ([`SlackError::code`]).
//!
//! Secrets (the webhook URL, the token) live in [`WebhookUrl`] / [`BotToken`], which cannot
//! be printed; reqwest errors are stripped of their URL before they are shown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::message::Message;
pub use crate::secret::{BotToken, WebhookUrl};

/// The Web API's base URL unless `SLACK_API_URL` says otherwise.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Where one message goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// An incoming webhook (its channel is fixed by the webhook).
    Webhook(WebhookUrl),
    /// A channel, by id (`C0123…`) or name (`#ops`, `ops`), through the Web API with the
    /// client's bot token. `setting` names where the channel was configured
    /// (`SLACK_CHANNEL`, `SLACK_ROUTES[2].channel`), for the error that says what to fix.
    Channel { channel: String, setting: String },
    /// Nowhere: print each body to stderr as one JSON line.
    DryRun,
}

/// A channel as the API names it: no spaces around, no leading `#`.
fn bare(channel: &str) -> &str {
    channel.trim().trim_start_matches('#')
}

impl Target {
    /// A channel target; a leading `#` is dropped (the API takes names without it).
    pub fn channel(channel: &str, setting: impl Into<String>) -> Self {
        Target::Channel {
            channel: bare(channel).to_owned(),
            setting: setting.into(),
        }
    }

    /// Whether messages to this target can be threaded and edited (Web API only).
    pub fn threads(&self) -> bool {
        matches!(self, Target::Channel { .. })
    }
}

/// Pages of history [`Slack::find_marked`] reads at most (200 messages each).
const FIND_PAGES: usize = 10;

/// Pages of `conversations.list` [`Slack::resolve_channel`] reads at most (1,000 each).
const LIST_PAGES: usize = 20;

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
    /// Our own settings are unusable (found before anything was sent).
    #[error("Slack configuration: {0}")]
    Config(String),
    /// Slack says the token, a scope, the channel or the webhook is wrong: not retried.
    #[error("Slack {method} answered {code}: {fix}")]
    Setup {
        method: &'static str,
        code: String,
        fix: String,
    },
    /// A webhook answered a 4xx that no setting explains (e.g. `invalid_payload`).
    #[error("Slack rejected the message with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    /// The Web API answered `"ok": false` with a code that retrying cannot change.
    #[error("Slack {method} answered {code}")]
    Refused { method: &'static str, code: String },
    #[error("Slack delivery failed after {attempts} attempt(s) in {elapsed_ms} ms: {last}")]
    GaveUp {
        attempts: u32,
        elapsed_ms: u128,
        last: String,
        /// Whether an attempt may have been taken by Slack (sent, then a timeout, a reset, a
        /// 5xx or `internal_error`): the message may be in the channel.
        unknown: bool,
    },
}

impl SlackError {
    /// Whether the event source retrying the whole event may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SlackError::GaveUp { .. })
    }

    /// Whether a setting must change before anything can be posted: the invocation stops.
    pub fn is_configuration(&self) -> bool {
        matches!(self, SlackError::Config(_) | SlackError::Setup { .. })
    }

    /// How many times the call was tried before it failed (1: never retried).
    pub fn attempts(&self) -> u32 {
        match self {
            SlackError::GaveUp { attempts, .. } => *attempts,
            _ => 1,
        }
    }

    /// Whether Slack may have taken the message although the call failed (an *unknown*
    /// outcome, as opposed to a known failure: refused connection, `ok:false`, a 4xx, a
    /// 429 — nothing was posted).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, SlackError::GaveUp { unknown: true, .. })
    }

    /// The failure of a call that only reads (`auth.test`, `conversations.*`): whatever
    /// Slack did with it changed nothing, so its outcome is never unknown.
    fn read(self) -> Self {
        match self {
            SlackError::GaveUp {
                attempts,
                elapsed_ms,
                last,
                ..
            } => SlackError::GaveUp {
                attempts,
                elapsed_ms,
                last,
                unknown: false,
            },
            e => e,
        }
    }

    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Setup { code, .. } | SlackError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What one delivery took, and where the message now is (Web API only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Posted {
    pub attempts: u32,
    /// The message's timestamp, its id within the channel.
    pub ts: Option<String>,
    /// The channel's id (the API answers with the id even when given a name).
    pub channel: Option<String>,
    /// The thread the message is a reply in (messages found by [`Slack::find_marked`]).
    pub thread_ts: Option<String>,
    /// The Web API's whole answer (`Null` for webhooks).
    pub(crate) answer: Value,
}

/// A Slack client: one per execution environment, reused across invocations.
#[derive(Clone, Debug)]
pub struct Slack {
    http: reqwest::Client,
    token: Option<BotToken>,
    /// The key that signs message markers, derived from the bot token.
    marks: Option<crate::marker::MarkKey>,
    api_url: String,
    retry: RetryPolicy,
    /// The app's own `bot_id` (`auth.test`), asked once.
    bot_id: Arc<tokio::sync::OnceCell<String>>,
    /// Channel ids learned from Slack's answers, by the channel as configured.
    ids: Arc<Mutex<HashMap<String, String>>>,
}

enum Attempt {
    Done(Posted),
    Fatal(SlackError),
    Retry {
        why: String,
        after: Option<Duration>,
        /// Slack may have acted on it (see [`SlackError::outcome_unknown`]).
        unknown: bool,
    },
}

/// One request, as often as the policy allows.
enum Call<'a> {
    Webhook(&'a WebhookUrl, &'a Message),
    Api {
        token: &'a BotToken,
        method: &'static str,
        body: Value,
        /// The channel as configured and the setting that named it, for [`fix`].
        channel: &'a str,
        setting: &'a str,
        /// Send the arguments as a form (the read methods take no JSON body).
        form: bool,
        /// Stop at the first attempt whose outcome is unknown instead of trying again: the
        /// caller looks for the message before it posts again.
        once_unknown: bool,
    },
}

impl Slack {
    /// A client for webhooks (and dry runs); add a bot token with [`Slack::with_token`].
    pub fn new(retry: RetryPolicy) -> Result<Self, SlackError> {
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
            token: None,
            marks: None,
            api_url: DEFAULT_API_URL.to_owned(),
            retry,
            bot_id: Arc::default(),
            ids: Arc::default(),
        })
    }

    /// Web API mode: the bot token, and the API's base URL (`https://slack.com/api`).
    pub fn with_token(mut self, token: BotToken, api_url: &str) -> Self {
        self.marks = Some(crate::marker::MarkKey::from_token(&token));
        self.token = Some(token);
        self.api_url = api_url.trim().trim_end_matches('/').to_owned();
        self
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Deliver one message to `target` (or print it, in a dry run); `thread_ts` makes it a
    /// reply (Web API only; ignored by webhooks).
    pub async fn post(
        &self,
        target: &Target,
        message: &Message,
        thread_ts: Option<&str>,
    ) -> Result<Posted, SlackError> {
        self.post_marked(target, message, thread_ts, None).await
    }

    /// [`Slack::post`], the message carrying its exactly-once `key` (Web API: as message
    /// metadata, signed, so [`Slack::find_marked`] can find it after a lost answer). A
    /// marked post stops at the first attempt whose outcome is unknown
    /// ([`SlackError::outcome_unknown`]): its caller looks before it posts again.
    pub async fn post_marked(
        &self,
        target: &Target,
        message: &Message,
        thread_ts: Option<&str>,
        key: Option<&str>,
    ) -> Result<Posted, SlackError> {
        match target {
            Target::DryRun => {
                let line =
                    json!({ "dry_run": true, "thread_ts": thread_ts, "slack_message": message });
                eprintln!("{line}");
                Ok(Posted::default())
            }
            Target::Webhook(url) => self.call(Call::Webhook(url, message)).await,
            Target::Channel { channel, setting } => {
                let mut body = json!({
                    "channel": channel,
                    "text": message.text,
                    "blocks": message.blocks,
                    "unfurl_links": false,
                    "unfurl_media": false,
                });
                if let Some(ts) = thread_ts {
                    body["thread_ts"] = Value::String(ts.to_owned());
                }
                let marked = match (key, &self.marks) {
                    (Some(key), Some(marks)) => {
                        body["metadata"] = marks.metadata(key);
                        true
                    }
                    _ => false,
                };
                self.call(Call::Api {
                    token: self.token()?,
                    method: "chat.postMessage",
                    body,
                    channel,
                    setting,
                    form: false,
                    once_unknown: marked,
                })
                .await
            }
        }
    }

    /// The id of the channel configured as `channel` (an id, or a name): given as an id, or
    /// learned from an answer of this client. `None` for a name never posted to yet.
    pub fn channel_id(&self, channel: &str) -> Option<String> {
        let channel = bare(channel);
        if crate::marker::looks_like_channel_id(channel) {
            return Some(channel.to_owned());
        }
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
    }

    fn learn_channel(&self, channel: &str, id: &str) {
        let channel = bare(channel);
        if channel != id {
            self.ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(channel.to_owned(), id.to_owned());
        }
    }

    /// The app's own `bot_id`, from `auth.test` (asked once per client).
    pub async fn bot_id(&self, setting: &str) -> Result<String, SlackError> {
        self.bot_id
            .get_or_try_init(|| async {
                let answer = self.read("auth.test", json!({}), "", setting).await?;
                answer["bot_id"]
                    .as_str()
                    .filter(|b| !b.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| SlackError::Refused {
                        method: "auth.test",
                        code: "no bot_id: the token is not a bot token".into(),
                    })
            })
            .await
            .cloned()
    }

    /// Look for the message marked with `key` in `channel` (its id) since `oldest` (epoch
    /// seconds): among its top-level messages, or among the replies of `thread_ts`. Only a
    /// message this app posted (its `bot_id`) whose marker's signature verifies counts: a
    /// channel member cannot forge one to silence an alert. Needs `channels:history`
    /// (`groups:history` for a private channel): without it, Slack's `missing_scope`.
    /// The id of `channel` (an id, or a name learned from an answer this cold start, or
    /// looked up with `conversations.list`, which needs `channels:read` and
    /// `groups:read`). `None`: no channel of that name the app can see.
    pub async fn resolve_channel(
        &self,
        channel: &str,
        setting: &str,
    ) -> Result<Option<String>, SlackError> {
        if let Some(id) = self.channel_id(channel) {
            return Ok(Some(id));
        }
        let name = bare(channel);
        let body = json!({
            "types": "public_channel,private_channel",
            "exclude_archived": "true",
            "limit": "1000",
        });
        let found = self
            .pages(
                "conversations.list",
                body,
                channel,
                setting,
                LIST_PAGES,
                |answer| {
                    answer["channels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| {
                            c["name"].as_str() == Some(name)
                                && c["id"]
                                    .as_str()
                                    .is_some_and(crate::marker::looks_like_channel_id)
                        })
                        .and_then(|c| c["id"].as_str())
                        .map(str::to_owned)
                },
            )
            .await?;
        if let Some(id) = &found {
            self.learn_channel(name, id);
        }
        Ok(found)
    }

    /// Read a paginated Web API list (`cursor` / `response_metadata.next_cursor`, at most
    /// `pages` pages) until `pick` finds something in an answer.
    async fn pages<T>(
        &self,
        method: &'static str,
        mut body: Value,
        channel: &str,
        setting: &str,
        pages: usize,
        mut pick: impl FnMut(&Value) -> Option<T>,
    ) -> Result<Option<T>, SlackError> {
        for _page in 0..pages {
            let answer = self.read(method, body.clone(), channel, setting).await?;
            if let Some(found) = pick(&answer) {
                return Ok(Some(found));
            }
            match answer["response_metadata"]["next_cursor"].as_str() {
                Some(c) if !c.is_empty() && answer["has_more"].as_bool() != Some(false) => {
                    body["cursor"] = json!(c);
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    pub async fn find_marked(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        oldest: i64,
        setting: &str,
    ) -> Result<Option<Posted>, SlackError> {
        let Some(marks) = &self.marks else {
            return Ok(None);
        };
        let bot_id = self.bot_id(setting).await?;
        let (method, mut body): (&'static str, Value) = match thread_ts {
            Some(ts) => (
                "conversations.replies",
                json!({"channel": channel, "ts": ts}),
            ),
            None => ("conversations.history", json!({"channel": channel})),
        };
        body["oldest"] = json!(oldest.max(0).to_string());
        body["inclusive"] = json!("true");
        body["limit"] = json!("200");
        body["include_all_metadata"] = json!("true");
        // A bounded look: a channel busier than this since the attempt is read in part.
        self.pages(method, body, channel, setting, FIND_PAGES, |answer| {
            answer["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["bot_id"].as_str() == Some(bot_id.as_str()) && marks.verifies(m, key))
                .map(|m| Posted {
                    attempts: 0,
                    ts: m["ts"].as_str().map(str::to_owned),
                    channel: Some(channel.to_owned()),
                    thread_ts: m["thread_ts"]
                        .as_str()
                        .filter(|t| Some(*t) != m["ts"].as_str())
                        .map(str::to_owned),
                    answer: Value::Null,
                })
        })
        .await
    }

    /// Replace a message posted through the Web API: `channel` is the id `post` answered.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        message: &Message,
        setting: &str,
    ) -> Result<Posted, SlackError> {
        let body = json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "blocks": message.blocks,
        });
        self.call(Call::Api {
            token: self.token()?,
            method: "chat.update",
            body,
            channel,
            setting,
            form: false,
            once_unknown: false,
        })
        .await
    }

    /// Call a Web API method that reads (its arguments as a form, as those methods take
    /// them): its whole answer when Slack says `ok`. A read changes nothing, so its outcome
    /// is never unknown ([`SlackError::read`]). `channel` and `setting` name what was
    /// configured, for the error that says what to fix.
    pub async fn read(
        &self,
        method: &'static str,
        body: Value,
        channel: &str,
        setting: &str,
    ) -> Result<Value, SlackError> {
        let posted = self
            .call(Call::Api {
                token: self.token()?,
                method,
                body,
                channel,
                setting,
                form: true,
                once_unknown: false,
            })
            .await
            .map_err(SlackError::read)?;
        Ok(posted.answer)
    }

    /// Call a Web API method that writes, with JSON arguments: its whole answer when Slack
    /// says `ok`. `setting` names what configured the channel in `body`, if any, for the
    /// error that says what to fix.
    pub async fn call_method(
        &self,
        method: &'static str,
        body: Value,
        setting: &str,
    ) -> Result<Value, SlackError> {
        let channel = body["channel"].as_str().unwrap_or_default().to_owned();
        let posted = self
            .call(Call::Api {
                token: self.token()?,
                method,
                body,
                channel: &channel,
                setting,
                form: false,
                once_unknown: false,
            })
            .await?;
        Ok(posted.answer)
    }

    /// The bot token a Web API call needs: without one, our own configuration error, found
    /// before any request.
    fn token(&self) -> Result<&BotToken, SlackError> {
        self.token.as_ref().ok_or_else(|| {
            SlackError::Config(
                "a channel needs Web API mode: set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_SECRET_ARN"
                    .into(),
            )
        })
    }

    async fn call(&self, call: Call<'_>) -> Result<Posted, SlackError> {
        let started = Instant::now();
        let mut backoff = self.retry.initial_backoff;
        let mut attempts = 0;
        let mut unknown = false;
        loop {
            attempts += 1;
            let left = self.retry.budget.saturating_sub(started.elapsed());
            let timeout = self.retry.request_timeout.min(left).max(MIN_ATTEMPT);
            let outcome = match &call {
                Call::Webhook(url, message) => self.webhook_attempt(url, message, timeout).await,
                Call::Api {
                    token,
                    method,
                    body,
                    channel,
                    setting,
                    form,
                    ..
                } => {
                    self.api_attempt(token, method, body, *form, timeout, channel, setting)
                        .await
                }
            };
            let (why, after) = match outcome {
                Attempt::Done(mut posted) => {
                    posted.attempts = attempts;
                    return Ok(posted);
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry {
                    why,
                    after,
                    unknown: this_unknown,
                } => {
                    unknown |= this_unknown;
                    (why, after)
                }
            };
            let wait = after.unwrap_or(backoff);
            let give_up = |last: String| SlackError::GaveUp {
                attempts,
                elapsed_ms: started.elapsed().as_millis(),
                last,
                unknown,
            };
            if unknown
                && matches!(
                    call,
                    Call::Api {
                        once_unknown: true,
                        ..
                    }
                )
            {
                return Err(give_up(format!(
                    "{why}; Slack may have posted it, so it is looked for before it is posted again"
                )));
            }
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

    async fn webhook_attempt(
        &self,
        url: &WebhookUrl,
        message: &Message,
        timeout: Duration,
    ) -> Attempt {
        let request = self.http.post(url.expose()).timeout(timeout).json(message);
        let (status, retry_after, body) = match send(request).await {
            Ok(r) => r,
            Err((why, unknown)) => {
                return Attempt::Retry {
                    why,
                    after: None,
                    unknown,
                };
            }
        };
        let body = crate::mrkdwn::one_line(&body, 200);
        if status.is_success() {
            Attempt::Done(Posted::default())
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry {
                why: format!("HTTP {} {body}", status.as_u16()),
                after: retry_after,
                unknown: status.is_server_error(),
            }
        } else if let Some(fix) = webhook_fix(&body) {
            Attempt::Fatal(SlackError::Setup {
                method: "incoming webhook",
                code: body,
                fix: fix.to_owned(),
            })
        } else {
            Attempt::Fatal(SlackError::Rejected {
                status: status.as_u16(),
                body,
            })
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn api_attempt(
        &self,
        token: &BotToken,
        method: &'static str,
        body: &Value,
        form: bool,
        timeout: Duration,
        channel: &str,
        setting: &str,
    ) -> Attempt {
        let request = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .timeout(timeout)
            .bearer_auth(token.expose());
        let request = if form {
            let fields: Vec<(String, String)> = body
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| match v {
                    Value::String(s) => (k.clone(), s.clone()),
                    other => (k.clone(), other.to_string()),
                })
                .collect();
            let encoded = serde_urlencoded::to_string(&fields).unwrap_or_default();
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(encoded)
        } else {
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(body.to_string())
        };
        let (status, retry_after, text) = match send(request).await {
            Ok(r) => r,
            Err((why, unknown)) => {
                return Attempt::Retry {
                    why: format!("{method}: {why}"),
                    after: None,
                    unknown,
                };
            }
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Attempt::Retry {
                why: format!(
                    "{method}: HTTP {} {}",
                    status.as_u16(),
                    crate::mrkdwn::one_line(&text, 200)
                ),
                after: retry_after,
                // Slack refused a 429 before acting; a 5xx may come after it acted.
                unknown: status.is_server_error(),
            };
        }
        let answer: Value = match serde_json::from_str(&text) {
            Ok(v) if status.is_success() => v,
            _ => {
                return Attempt::Fatal(SlackError::Rejected {
                    status: status.as_u16(),
                    body: crate::mrkdwn::one_line(&text, 200),
                });
            }
        };
        if answer["ok"].as_bool() == Some(true) {
            let field = |k: &str| answer[k].as_str().map(str::to_owned);
            if let (Some(id), true) = (field("channel"), method == "chat.postMessage") {
                self.learn_channel(channel, &id);
            }
            return Attempt::Done(Posted {
                attempts: 0,
                ts: field("ts"),
                channel: field("channel"),
                thread_ts: None,
                answer,
            });
        }
        let code = answer["error"]
            .as_str()
            .unwrap_or("unknown_error")
            .to_owned();
        match classify(&code) {
            Kind::Retry => Attempt::Retry {
                after: retry_after.or_else(|| {
                    matches!(code.as_str(), "ratelimited" | "rate_limited")
                        .then_some(Duration::from_secs(1))
                }),
                // Slack's documentation: after these, "some aspect of the operation" may
                // have succeeded.
                unknown: matches!(code.as_str(), "internal_error" | "fatal_error"),
                why: format!("{method}: {code}"),
            },
            Kind::Setup => Attempt::Fatal(SlackError::Setup {
                method,
                fix: fix(&code, channel, setting, answer["needed"].as_str()),
                code,
            }),
            Kind::Refused => Attempt::Fatal(SlackError::Refused { method, code }),
        }
    }
}

/// Send a request; its status, `Retry-After` (seconds) and body, or why it failed and
/// whether the request may have reached Slack (anything but a failed connection).
async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, Option<Duration>, String), (String, bool)> {
    let response = request
        .send()
        .await
        .map_err(|e| (describe(&e), !e.is_connect()))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // The request was answered: a body cut short leaves the outcome unknown.
    let body = response.text().await.map_err(|e| (describe(&e), true))?;
    Ok((status, retry_after, body))
}

enum Kind {
    Retry,
    Setup,
    Refused,
}

/// How to take a Web API error code (DESIGN, "Delivery").
fn classify(code: &str) -> Kind {
    match code {
        "ratelimited"
        | "rate_limited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => Kind::Retry,
        "invalid_auth"
        | "not_authed"
        | "token_revoked"
        | "token_expired"
        | "account_inactive"
        | "missing_scope"
        | "not_allowed_token_type"
        | "no_permission"
        | "access_denied"
        | "ekm_access_denied"
        | "team_access_not_granted"
        | "restricted_action"
        | "restricted_action_read_only_channel"
        | "channel_not_found"
        | "not_in_channel"
        | "is_archived" => Kind::Setup,
        _ => Kind::Refused,
    }
}

/// What to do about a configuration error: the setting that holds the wrong value.
fn fix(code: &str, channel: &str, setting: &str, needed: Option<&str>) -> String {
    let token = "set SLACK_BOT_TOKEN (or the secret SLACK_BOT_TOKEN_SECRET_ARN names) to the app's Bot User OAuth Token, xoxb-…";
    match code {
        "invalid_auth" | "not_authed" => format!("the bot token is not valid: {token}"),
        "token_revoked" | "token_expired" | "account_inactive" => {
            format!(
                "the bot token no longer works (the app was removed or the token revoked): reinstall the app and {token}"
            )
        }
        "not_allowed_token_type" => format!("this is not a bot token: {token}"),
        "missing_scope" => format!(
            "the app lacks the scope {}: add it under OAuth & Permissions, reinstall the app, and update the token",
            needed.unwrap_or("chat:write")
        ),
        "channel_not_found" => format!(
            "{setting} names the channel {channel:?}, which does not exist or which the app cannot see (a private channel must invite the app first): fix {setting}"
        ),
        "not_in_channel" => format!(
            "the app is not a member of {channel:?} ({setting}): invite it there (/invite @your-app), or grant chat:write.public to post in public channels without joining"
        ),
        "is_archived" | "restricted_action_read_only_channel" => format!(
            "the channel {channel:?} ({setting}) is archived or read-only: unarchive it or change {setting}"
        ),
        _ => format!(
            "the workspace does not let the app post to {channel:?} ({setting}): check the app's permissions"
        ),
    }
}

/// A webhook's 4xx answers that mean the webhook itself is wrong.
fn webhook_fix(body: &str) -> Option<&'static str> {
    match body {
        "no_service" | "invalid_token" | "no_team" => Some(
            "the webhook does not exist or was removed: set SLACK_WEBHOOK_URL (or the secret, or the route's webhook) to a current incoming-webhook URL",
        ),
        "channel_is_archived" | "channel_not_found" => {
            Some("the webhook's channel is archived or gone: create a webhook for another channel")
        }
        "action_prohibited" | "posting_to_general_channel_denied" => {
            Some("the workspace does not let this webhook post: check the app's permissions")
        }
        _ => None,
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
