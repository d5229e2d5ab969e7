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
//! - `chat.postMessage` keeps the `metadata` argument (`event_type`, `event_payload`) and
//!   marks the message with the app's `bot_id`; `auth.test` answers the app's `bot_id`;
//! - `conversations.history` (top-level messages, newest first) and `conversations.replies`
//!   (a thread's parent and replies, oldest first): `channel` by id only, `oldest`
//!   (inclusive when `inclusive`), `limit`, `cursor` / `response_metadata.next_cursor`,
//!   `has_more`; metadata only with `include_all_metadata`. They need the token's scopes
//!   `channels:history` (public) or `groups:history` (private): without, `missing_scope`
//!   with `needed` and `provided`, as Slack answers; an unknown thread → `thread_not_found`;
//! - `conversations.list`: `types` (`public_channel` by default, `private_channel`), each
//!   needing its scope (`channels:read`, `groups:read`), `exclude_archived`, `limit`,
//!   `cursor`; channels whose id starts with `G` are the private ones;
//! - `chat.postEphemeral`: `channel` (id or name) and `user`; the message is kept apart
//!   ([`SlackApiFake::ephemerals`]), as only that user sees it; an unknown user →
//!   `user_not_found`, a user not in the channel → `user_not_in_channel`;
//! - `usergroups.users.list`: `usergroup` (an id); needs `usergroups:read`; an unknown group →
//!   `no_such_subteam`; answers its `users`;
//! - message `ts` values are the wall clock in microseconds, unique and increasing, as
//!   Slack's are (history's `oldest` compares with them).
//!
//! Faults, for the tests that need them: scripted or random (seeded) 5xx, 429 and **lost
//! answers** (the call takes effect — the message is posted — and the answer never comes),
//! and a delay before every call, so that race tests can force invocations to overlap.
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
    /// Do what the call asks (post the message), then never answer: a lost answer.
    Lost,
}

/// Random faults (parts per thousand of the calls, from a seeded sequence), after the script.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiChaos {
    pub server_error_per_mille: u32,
    pub rate_limited_per_mille: u32,
    pub lost_per_mille: u32,
    pub seed: u64,
}

/// The faults served so far, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub server_errors: u64,
    pub rate_limited: u64,
    pub lost: u64,
}

/// The `bot_id` of the fake's app.
pub const BOT_ID: &str = "B0OPSWATCH0";

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
    /// The `metadata` it was posted with (`Null` when none).
    pub metadata: Value,
    /// The app that posted it (`None`: a person).
    pub bot_id: Option<String>,
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

pub(crate) struct Inner {
    token: String,
    revoked: bool,
    channels: Vec<Channel>,
    messages: Vec<ApiMessage>,
    script: VecDeque<ApiReply>,
    default: Option<ApiReply>,
    calls: Vec<ApiCall>,
    /// The last `ts` handed out, in microseconds.
    last_ts: u64,
    scopes: Vec<String>,
    chaos: ApiChaos,
    rng: u64,
    faults: Faults,
    delay: Duration,
    /// Answer the first `chat.postMessage` of each marker key with a 500 (not posted).
    fail_first_posts: bool,
    keys_seen: std::collections::HashSet<String>,
    /// User groups: id → members.
    usergroups: Vec<(String, Vec<String>)>,
    /// Messages posted with `chat.postEphemeral`: (channel id, user, text).
    ephemerals: Vec<(String, String, String)>,
}

/// The fake; stops when dropped.
pub struct SlackApiFake {
    server: Arc<crate::Served>,
    inner: Arc<Mutex<Inner>>,
}

/// The routes of the Web API over `inner`.
pub(crate) fn router(inner: &Arc<Mutex<Inner>>) -> Router {
    Router::new()
        .route("/api/{method}", post(api))
        .with_state(inner.clone())
}

/// A workspace that accepts `token`, with the channels `#alerts` (C0ALERTS000) and
/// `#security` (C0SECURITY0), both with the app in them.
pub(crate) fn inner(token: &str) -> Arc<Mutex<Inner>> {
    Arc::new(Mutex::new(Inner {
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
        last_ts: 0,
        scopes: [
            "chat:write",
            "channels:history",
            "groups:history",
            "channels:read",
            "groups:read",
            "usergroups:read",
        ]
        .map(String::from)
        .to_vec(),
        chaos: ApiChaos::default(),
        rng: 1,
        faults: Faults::default(),
        delay: Duration::ZERO,
        fail_first_posts: false,
        keys_seen: Default::default(),
        usergroups: Vec::new(),
        ephemerals: Vec::new(),
    }))
}

impl SlackApiFake {
    /// A workspace that accepts `token`, with the channels `#alerts` (C0ALERTS000) and
    /// `#security` (C0SECURITY0), both with the app in them.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let inner = inner(token);
        let server = Arc::new(crate::Served::start(0, router(&inner)).await?);
        Ok(Self { server, inner })
    }

    pub(crate) fn served(server: Arc<crate::Served>, inner: Arc<Mutex<Inner>>) -> Self {
        Self { server, inner }
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

    /// A user group (`S…`) and its members.
    pub fn add_usergroup(&self, id: &str, users: &[&str]) {
        self.lock()
            .usergroups
            .push((id.into(), users.iter().map(|u| u.to_string()).collect()));
    }

    /// The ephemeral messages posted: (channel id, user, text).
    pub fn ephemerals(&self) -> Vec<(String, String, String)> {
        self.lock().ephemerals.clone()
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

    /// The token's scopes (default: `chat:write`, `channels:history`, `groups:history`,
    /// `channels:read`, `groups:read`).
    pub fn scopes(&self, scopes: &[&str]) {
        self.lock().scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Random faults for every call once the script is used up.
    pub fn chaos(&self, chaos: ApiChaos) {
        let mut g = self.lock();
        g.chaos = chaos;
        g.rng = chaos.seed.max(1);
    }

    /// From now on, the first `chat.postMessage` carrying each marker key (its metadata's
    /// `event_payload.key`) is answered with a 500 without posting: every message's first
    /// outcome is unknown, so the poster looks before posting it again.
    pub fn fail_first_posts(&self) {
        self.lock().fail_first_posts = true;
    }

    /// Wait this long before handling each call.
    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// The faults served so far (scripted or random).
    pub fn faults(&self) -> Faults {
        self.lock().faults
    }

    /// Post a message as a person in the channel (by id) would: no `bot_id`.
    pub fn post_as_person(&self, channel: &str, text: &str, metadata: Value) -> String {
        let mut g = self.lock();
        let ts = next_ts(&mut g);
        g.messages.push(ApiMessage {
            channel: channel.to_owned(),
            ts: ts.clone(),
            thread_ts: None,
            text: text.to_owned(),
            blocks: Value::Null,
            edits: Vec::new(),
            metadata,
            bot_id: None,
        });
        ts
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
    let delay = lock(&inner).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = {
        let mut g = lock(&inner);
        let next = g.script.pop_front();
        let mut reply = next
            .or_else(|| g.default.clone())
            .unwrap_or_else(|| chaos(&mut g));
        if g.fail_first_posts
            && method == "chat.postMessage"
            && let Some(key) = marker_key(&headers, &body)
            && g.keys_seen.insert(key)
        {
            reply = ApiReply::Status(500);
        }
        match reply {
            ApiReply::Status(_) => g.faults.server_errors += 1,
            ApiReply::RateLimited(_) => g.faults.rate_limited += 1,
            ApiReply::Lost => g.faults.lost += 1,
            _ => {}
        }
        reply
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
        ApiReply::Lost => {
            let answer = {
                let mut g = lock(&inner);
                handle(&mut g, &method, &headers, &body)
            };
            let error = answer["error"].as_str().map(str::to_owned);
            lock(&inner).calls.push(record(0, error));
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
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

/// The next random reply (after the script): a fault, or [`ApiReply::Normal`].
fn chaos(g: &mut Inner) -> ApiReply {
    match roll(&g.chaos, &mut g.rng) {
        Some(Fault::ServerError) => ApiReply::Status(500),
        Some(Fault::RateLimited) => ApiReply::RateLimited(0),
        Some(Fault::Lost) => ApiReply::Lost,
        None => ApiReply::Normal,
    }
}

/// A random fault.
pub(crate) enum Fault {
    ServerError,
    RateLimited,
    Lost,
}

/// The next draw of `chaos` from the xorshift state `rng`: a fault, or none.
pub(crate) fn roll(c: &ApiChaos, rng: &mut u64) -> Option<Fault> {
    if c.server_error_per_mille + c.rate_limited_per_mille + c.lost_per_mille == 0 {
        return None;
    }
    let mut x = *rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    let r = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32 % 1000;
    if r < c.server_error_per_mille {
        Some(Fault::ServerError)
    } else if r < c.server_error_per_mille + c.rate_limited_per_mille {
        Some(Fault::RateLimited)
    } else if r < c.server_error_per_mille + c.rate_limited_per_mille + c.lost_per_mille {
        Some(Fault::Lost)
    } else {
        None
    }
}

/// A fresh `ts`: the wall clock in microseconds, after every earlier one.
fn next_ts(g: &mut Inner) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    g.last_ts = now.max(g.last_ts + 1);
    format!("{}.{:06}", g.last_ts / 1_000_000, g.last_ts % 1_000_000)
}

/// A `ts` as microseconds, for comparisons (`None`: not a `ts`).
fn ts_micros(ts: &str) -> Option<u64> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let micros = format!("{micros:0<6}");
    Some(secs.parse::<u64>().ok()? * 1_000_000 + micros.get(..6)?.parse::<u64>().ok()?)
}

/// `conversations.history` / `conversations.replies`.
fn read_history(g: &Inner, method: &str, args: &serde_json::Map<String, Value>) -> Value {
    let str_arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
    let Some(channel) =
        str_arg("channel").and_then(|id| g.channels.iter().find(|c| c.id == id).cloned())
    else {
        return fail("channel_not_found");
    };
    // Channels whose id starts with G are private here.
    let needed = if channel.id.starts_with('G') {
        "groups:history"
    } else {
        "channels:history"
    };
    if !g.scopes.iter().any(|s| s == needed) {
        return json!({"ok": false, "error": "missing_scope", "needed": needed, "provided": g.scopes.join(",")});
    }
    if !channel.member {
        return fail("not_in_channel");
    }
    let flag = |k: &str| {
        matches!(
            args.get(k),
            Some(Value::Bool(true)) | Some(Value::String(_))
        ) && str_arg(k).is_none_or(|v| v == "true" || v == "1")
    };
    let inclusive = flag("inclusive");
    let metadata = flag("include_all_metadata");
    let oldest = str_arg("oldest").and_then(|o| ts_micros(&o)).unwrap_or(0);
    let after = |m: &&ApiMessage| {
        ts_micros(&m.ts).is_some_and(|t| if inclusive { t >= oldest } else { t > oldest })
    };
    let found: Vec<&ApiMessage> = if method == "conversations.replies" {
        let Some(ts) = str_arg("ts") else {
            return fail("thread_not_found");
        };
        if !g
            .messages
            .iter()
            .any(|m| m.channel == channel.id && m.ts == ts)
        {
            return fail("thread_not_found");
        }
        g.messages
            .iter()
            .filter(|m| {
                m.channel == channel.id
                    && (m.ts == ts || m.thread_ts.as_deref() == Some(ts.as_str()))
            })
            .filter(after)
            .collect()
    } else {
        let mut top: Vec<&ApiMessage> = g
            .messages
            .iter()
            .filter(|m| m.channel == channel.id && m.thread_ts.is_none())
            .filter(after)
            .collect();
        top.reverse();
        top
    };
    let (found, has_more, next) = paginate(args, found, 999);
    let messages: Vec<Value> = found
        .iter()
        .map(|m| {
            let mut v = json!({"type": "message", "ts": m.ts, "text": m.text});
            if let Some(b) = &m.bot_id {
                v["bot_id"] = json!(b);
                v["subtype"] = json!("bot_message");
            }
            if let Some(t) = &m.thread_ts {
                v["thread_ts"] = json!(t);
            }
            if metadata && !m.metadata.is_null() {
                v["metadata"] = m.metadata.clone();
            }
            v
        })
        .collect();
    json!({"ok": true, "messages": messages, "has_more": has_more, "response_metadata": {"next_cursor": next}})
}

/// One page of `items` by the call's `limit` (a number or its text; default 100, at most
/// `max`) and `cursor` (`next:<offset>`, as this fake hands them out): the page, whether
/// more follow, and the next cursor (empty at the end).
fn paginate<T>(
    args: &serde_json::Map<String, Value>,
    items: Vec<T>,
    max: usize,
) -> (Vec<T>, bool, String) {
    let limit = args
        .get("limit")
        .and_then(|l| {
            l.as_str()
                .and_then(|t| t.parse::<usize>().ok())
                .or_else(|| l.as_u64().map(|n| n as usize))
        })
        .unwrap_or(100)
        .clamp(1, max);
    let offset = args
        .get("cursor")
        .and_then(Value::as_str)
        .and_then(|c| c.strip_prefix("next:")?.parse::<usize>().ok())
        .unwrap_or(0);
    let more = items.len() > offset + limit;
    let next = if more {
        format!("next:{}", offset + limit)
    } else {
        String::new()
    };
    (
        items.into_iter().skip(offset).take(limit).collect(),
        more,
        next,
    )
}

/// `conversations.list`: `types` (default `public_channel`) each need their scope
/// (`channels:read`, `groups:read`), `exclude_archived`, `limit`, `cursor`.
fn list_channels(g: &Inner, args: &serde_json::Map<String, Value>) -> Value {
    let str_arg = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
    let types = str_arg("types").unwrap_or_else(|| "public_channel".into());
    let mut private = false;
    let mut public = false;
    for t in types.split(',').map(str::trim) {
        let needed = match t {
            "public_channel" => {
                public = true;
                "channels:read"
            }
            "private_channel" => {
                private = true;
                "groups:read"
            }
            _ => return fail("invalid_types"),
        };
        if !g.scopes.iter().any(|s| s == needed) {
            return json!({"ok": false, "error": "missing_scope", "needed": needed, "provided": g.scopes.join(",")});
        }
    }
    let exclude_archived = str_arg("exclude_archived").is_some_and(|v| v == "true" || v == "1");
    let all: Vec<&Channel> = g
        .channels
        .iter()
        .filter(|c| {
            if c.id.starts_with('G') {
                private
            } else {
                public
            }
        })
        .filter(|c| !(exclude_archived && c.archived))
        .collect();
    let (page, _, next) = paginate(args, all, 1000);
    let page: Vec<Value> = page
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "is_archived": c.archived, "is_member": c.member, "is_private": c.id.starts_with('G')}))
        .collect();
    json!({"ok": true, "channels": page, "response_metadata": {"next_cursor": next}})
}

/// The marker key in a `chat.postMessage`'s metadata, if any.
fn marker_key(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let args = arguments(headers, body).ok()?;
    let metadata = match args.get("metadata")? {
        Value::String(s) => serde_json::from_str(s).ok()?,
        v => v.clone(),
    };
    metadata["event_payload"]["key"].as_str().map(str::to_owned)
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
    if !matches!(
        method,
        "chat.postMessage"
            | "chat.update"
            | "auth.test"
            | "conversations.history"
            | "conversations.replies"
            | "conversations.list"
            | "chat.postEphemeral"
            | "usergroups.users.list"
    ) {
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
    if method == "auth.test" {
        return json!({"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "opswatch", "team_id": "T0FAKE0000", "user_id": "U0OPSWATCH", "bot_id": BOT_ID});
    }
    if method == "conversations.list" {
        return list_channels(g, &args);
    }
    if method == "usergroups.users.list" {
        if !g.scopes.iter().any(|s| s == "usergroups:read") {
            return json!({"ok": false, "error": "missing_scope", "needed": "usergroups:read", "provided": g.scopes.join(",")});
        }
        let wanted = args
            .get("usergroup")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return match g.usergroups.iter().find(|(id, _)| id == wanted) {
            Some((_, users)) => json!({"ok": true, "users": users}),
            None => fail("no_such_subteam"),
        };
    }
    if method.starts_with("conversations.") {
        return read_history(g, method, &args);
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
    if method == "chat.postEphemeral" {
        let user = str_arg("user").unwrap_or_default();
        let is_user = user.len() >= 3
            && user.starts_with(['U', 'W'])
            && user
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !is_user {
            return fail("user_not_found");
        }
        g.ephemerals.push((channel.id.clone(), user, text));
        let ts = next_ts(g);
        return json!({"ok": true, "message_ts": ts});
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
    let ts = next_ts(g);
    let metadata = match args.get("metadata") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Null,
    };
    if !metadata.is_null()
        && (metadata["event_type"].as_str().is_none() || !metadata["event_payload"].is_object())
    {
        return fail("invalid_metadata_format");
    }
    g.messages.push(ApiMessage {
        channel: channel.id.clone(),
        ts: ts.clone(),
        thread_ts: thread_ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        edits: Vec::new(),
        metadata,
        bot_id: Some(BOT_ID.to_owned()),
    });
    let mut message = json!({"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "blocks": blocks});
    if let Some(t) = thread_ts {
        message["thread_ts"] = Value::String(t);
    }
    json!({"ok": true, "channel": channel.id, "ts": ts, "message": message})
}
