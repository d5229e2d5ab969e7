//! A fake Slack Web API on loopback (`chat.postMessage`, `chat.update`) that answers as
//! Slack's documentation says (docs.slack.dev, the methods' pages and "Web API basics"):
//!
//! - every answer to a well-formed call is HTTP 200 with `{"ok": true, …}` or
//!   `{"ok": false, "error": "<code>"}`; rate limiting is HTTP 429 with `Retry-After` and
//!   `"error": "ratelimited"`;
//! - the token comes as `Authorization: Bearer xoxb-…` or as a `token` form field (a JSON
//!   body cannot carry it): none → `not_authed`, another → `invalid_auth`; a token can be
//!   marked revoked (`token_revoked`);
//! - the body is JSON (`application/json`) or a form (`application/x-www-form-urlencoded`,
//!   `blocks` as a JSON string); no content type → `missing_post_type`, another →
//!   `invalid_post_type`; an unknown method → `unknown_method`;
//! - `chat.postMessage`: `channel` by id or name (`#` optional) else `channel_not_found`; an
//!   archived channel → `is_archived`; one the app is not in → `not_in_channel`; neither
//!   text nor blocks → `no_text`; blocks beyond Block Kit's limits → `invalid_blocks`, past
//!   the message-wide text limit → `msg_blocks_too_long`; `thread_ts` must be the `ts` of a
//!   top-level message of that channel, else `invalid_thread_ts`; the answer carries the
//!   channel's id and a fresh `ts`;
//! - `chat.update`: `channel` must be the id (a name → `channel_not_found`), `ts` a message
//!   of that channel (else `message_not_found`); the message's text and blocks are replaced.
//!
//! Tests script replies (an error code, a 429, a 5xx, a hang) before the normal ones, and read
//! back every message with its thread and its edits.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The token the demo's fake accepts.
pub const DEMO_TOKEN: &str = "xoxb-000000000000-0000000000000-localfaketoken0000000";

/// A scripted reply, served before the normal ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiReply {
    /// Answer as Slack would.
    Normal,
    /// HTTP 200 `{"ok": false, "error": code}`.
    Error(&'static str),
    /// HTTP 429, `Retry-After` seconds, `"error": "ratelimited"`.
    RateLimited(u64),
    /// Another HTTP status (5xx), with a plain body.
    Status(u16),
    /// Accept the request and never answer.
    Hang,
}

/// A channel of the fake workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub name: String,
    /// Whether the app was invited.
    pub member: bool,
    pub archived: bool,
}

/// A message as it now stands in the fake workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiMessage {
    /// The channel's id.
    pub channel: String,
    pub ts: String,
    /// The parent's `ts`, for a reply.
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
    /// Earlier versions (text and blocks) replaced by `chat.update`, oldest first.
    pub edits: Vec<Value>,
}

impl ApiMessage {
    /// The message as a webhook body (`text`, `blocks`), for comparisons.
    pub fn body(&self) -> Value {
        json!({ "text": self.text, "blocks": self.blocks })
    }
}

/// A call the fake answered.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub method: String,
    pub at: Instant,
    pub status: u16,
    /// Slack's error code, when it answered one.
    pub error: Option<String>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The raw body.
    pub body: String,
}

struct Inner {
    token: String,
    revoked: bool,
    channels: Vec<Channel>,
    messages: Vec<ApiMessage>,
    script: VecDeque<ApiReply>,
    default: Option<ApiReply>,
    calls: Vec<ApiCall>,
    next_ts: u64,
}

/// The fake; stops when dropped.
pub struct SlackApiFake {
    server: crate::Served,
    inner: Arc<Mutex<Inner>>,
}

impl SlackApiFake {
    /// A workspace that accepts `token`, with the channels `#alerts` (C0ALERTS000) and
    /// `#security` (C0SECURITY0), both with the app in them.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            revoked: false,
            channels: vec![
                Channel {
                    id: "C0ALERTS000".into(),
                    name: "alerts".into(),
                    member: true,
                    archived: false,
                },
                Channel {
                    id: "C0SECURITY0".into(),
                    name: "security".into(),
                    member: true,
                    archived: false,
                },
            ],
            messages: Vec::new(),
            script: VecDeque::new(),
            default: None,
            calls: Vec::new(),
            next_ts: 0,
        }));
        let app = Router::new()
            .route("/api/{method}", post(api))
            .with_state(inner.clone());
        let server = crate::Served::start(0, app).await?;
        Ok(Self { server, inner })
    }

    /// The API's base URL (`SLACK_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}/api", self.server.addr)
    }

    /// Add a channel (`member`: the app was invited).
    pub fn add_channel(&self, id: &str, name: &str, member: bool, archived: bool) {
        self.lock().channels.push(Channel {
            id: id.into(),
            name: name.into(),
            member,
            archived,
        });
    }

    /// From now on the token is revoked (`token_revoked`).
    pub fn revoke_token(&self) {
        self.lock().revoked = true;
    }

    /// Replies to serve, in order, before falling back to the default.
    pub fn script(&self, replies: impl IntoIterator<Item = ApiReply>) {
        self.lock().script.extend(replies);
    }

    /// The reply once the script is used up (default: [`ApiReply::Normal`]).
    pub fn always(&self, reply: ApiReply) {
        self.lock().default = Some(reply);
    }

    /// Every message, in the order they were posted, as they now stand.
    pub fn messages(&self) -> Vec<ApiMessage> {
        self.lock().messages.clone()
    }

    /// The messages of one channel (by name), in order.
    pub fn channel_messages(&self, name: &str) -> Vec<ApiMessage> {
        let g = self.lock();
        let Some(id) = g
            .channels
            .iter()
            .find(|c| c.name == name.trim_start_matches('#'))
            .map(|c| c.id.clone())
        else {
            return Vec::new();
        };
        g.messages
            .iter()
            .filter(|m| m.channel == id)
            .cloned()
            .collect()
    }

    /// A channel's name, by id (the id itself when unknown).
    pub fn channel_name(&self, id: &str) -> String {
        self.lock()
            .channels
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_owned(), |c| c.name.clone())
    }

    /// Delete a message, as a person in the channel might (its replies stay).
    pub fn delete(&self, ts: &str) {
        self.lock().messages.retain(|m| m.ts != ts);
    }

    /// Every call, answered well or not.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut g = lock(&inner);
        let next = g.script.pop_front();
        next.or_else(|| g.default.clone())
            .unwrap_or(ApiReply::Normal)
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let record = |status: u16, error: Option<String>| ApiCall {
        method: method.clone(),
        at: Instant::now(),
        status,
        error,
        authorization: authorization.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, answer, retry_after) = match reply {
        ApiReply::Hang => {
            lock(&inner).calls.push(record(0, None));
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        ApiReply::Status(status) => {
            lock(&inner).calls.push(record(status, None));
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "upstream failure",
            )
                .into_response();
        }
        ApiReply::RateLimited(secs) => (
            429,
            json!({"ok": false, "error": "ratelimited"}),
            Some(secs),
        ),
        ApiReply::Error(code) => (200, json!({"ok": false, "error": code}), None),
        ApiReply::Normal => {
            let answer = {
                let mut g = lock(&inner);
                handle(&mut g, &method, &headers, &body)
            };
            (200, answer, None)
        }
    };
    let error = answer["error"].as_str().map(str::to_owned);
    lock(&inner).calls.push(record(status, error));
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(answer),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

fn fail(code: &str) -> Value {
    json!({"ok": false, "error": code})
}

/// The call's arguments: a JSON object, or form fields (`blocks` decoded from its JSON text).
fn arguments(headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Map<String, Value>, Value> {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(fail("missing_post_type"));
    };
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(fail("invalid_json")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| fail("invalid_form_data"))?;
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            let value = if k == "blocks" {
                serde_json::from_str(&v).map_err(|_| fail("invalid_blocks_format"))?
            } else {
                Value::String(v)
            };
            map.insert(k, value);
        }
        Ok(map)
    } else {
        Err(fail("invalid_post_type"))
    }
}

fn handle(g: &mut Inner, method: &str, headers: &HeaderMap, body: &[u8]) -> Value {
    if !matches!(method, "chat.postMessage" | "chat.update") {
        return fail("unknown_method");
    }
    let args = match arguments(headers, body) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let form_token = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.starts_with("application/x-www-form-urlencoded"))
        .and_then(|_| args.get("token").and_then(Value::as_str).map(str::to_owned));
    match bearer.or(form_token) {
        None => return fail("not_authed"),
        Some(t) if t != g.token => return fail("invalid_auth"),
        Some(_) if g.revoked => return fail("token_revoked"),
        Some(_) => {}
    }
    let str_arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
    let text = str_arg("text").unwrap_or_default();
    let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
    let checked = crate::slack::check_content(&json!({"text": text, "blocks": blocks}));
    let channel_arg = str_arg("channel").unwrap_or_default();
    if method == "chat.update" {
        // chat.update takes the channel's id only.
        let Some(channel) = g.channels.iter().find(|c| c.id == channel_arg).cloned() else {
            return fail("channel_not_found");
        };
        let ts = str_arg("ts").unwrap_or_default();
        let Some(message) = g
            .messages
            .iter_mut()
            .find(|m| m.channel == channel.id && m.ts == ts)
        else {
            return fail("message_not_found");
        };
        if let Err(code) = checked {
            return fail(code);
        }
        let before = json!({"text": message.text, "blocks": message.blocks});
        message.edits.push(before);
        message.text = text.clone();
        message.blocks = blocks;
        return json!({"ok": true, "channel": channel.id, "ts": ts, "text": text});
    }
    let wanted = channel_arg.trim_start_matches('#');
    let Some(channel) = g
        .channels
        .iter()
        .find(|c| !wanted.is_empty() && (c.id == wanted || c.name == wanted))
        .cloned()
    else {
        return fail("channel_not_found");
    };
    if channel.archived {
        return fail("is_archived");
    }
    if !channel.member {
        return fail("not_in_channel");
    }
    if let Err(code) = checked {
        return fail(code);
    }
    let thread_ts = str_arg("thread_ts");
    if let Some(parent) = &thread_ts {
        let top_level = g
            .messages
            .iter()
            .any(|m| m.channel == channel.id && &m.ts == parent && m.thread_ts.is_none());
        if !top_level {
            return fail("invalid_thread_ts");
        }
    }
    g.next_ts += 1;
    let ts = format!("1764662400.{:06}", g.next_ts);
    g.messages.push(ApiMessage {
        channel: channel.id.clone(),
        ts: ts.clone(),
        thread_ts: thread_ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        edits: Vec::new(),
    });
    let mut message = json!({"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "blocks": blocks});
    if let Some(t) = thread_ts {
        message["thread_ts"] = Value::String(t);
    }
    json!({"ok": true, "channel": channel.id, "ts": ts, "message": message})
}
