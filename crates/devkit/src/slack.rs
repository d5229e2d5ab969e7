//! A fake Slack incoming webhook on loopback that answers like the real one.
//!
//! Slack's documented behaviour (api.slack.com, "Sending messages using incoming webhooks"
//! and "Handling errors"): `POST` a JSON body; `200 ok` on success; `400 invalid_payload`
//! for a body that is not JSON, `400 no_text` when there is neither `text` nor `blocks`,
//! `400 invalid_blocks` for blocks beyond their limits (50 blocks, 3,000 characters of
//! section text, 150 of header text, 10 fields of 2,000), `400 msg_blocks_too_long` past
//! the message-wide limit, `404 no_service` for an unknown hook, `429` with `Retry-After`
//! when rate limited, and 5xx on its own failures. Tests script the replies; whatever the
//! script does not cover is answered as Slack would, or, with [`SlackFake::chaos`], with a
//! seeded share of 5xx, 429s and **lost answers** (the message is taken, the answer never
//! comes; [`SlackFake::lost`] lists those messages).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::slack_api::{ApiChaos, Fault, Faults, roll};

/// The hook path the fake serves; any other path answers `404 no_service`.
pub const HOOK_PATH: &str = "services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

/// A scripted reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Take the message (as [`Reply::Normal`] would), then never answer: a lost answer.
    Lost,
    /// Validate the body and answer as Slack would.
    Normal,
    /// Answer with this status and body; `retry_after` adds the header (seconds).
    Status {
        status: u16,
        body: &'static str,
        retry_after: Option<u64>,
    },
    /// Accept the request and never answer.
    Hang,
}

impl Reply {
    pub fn rate_limited(retry_after: u64) -> Self {
        Reply::Status {
            status: 429,
            body: "rate_limited",
            retry_after: Some(retry_after),
        }
    }

    pub fn server_error() -> Self {
        Reply::Status {
            status: 500,
            body: "rollup_error",
            retry_after: None,
        }
    }
}

/// One request the fake saw.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub at: Instant,
    pub status: u16,
    pub body: String,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    attempts: Vec<Attempt>,
    accepted: Vec<Value>,
    /// Messages taken whose answer was lost.
    lost: Vec<Value>,
    chaos: ApiChaos,
    rng: u64,
    faults: Faults,
}

/// The fake; stops when dropped.
pub struct SlackFake {
    server: Arc<crate::Served>,
    inner: Arc<Mutex<Inner>>,
}

impl SlackFake {
    pub async fn start() -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let server = Arc::new(crate::Served::start(0, Self::router(&inner)).await?);
        Ok(Self { server, inner })
    }

    fn router(inner: &Arc<Mutex<Inner>>) -> Router {
        Router::new()
            .route("/{*path}", post(hook))
            .with_state(inner.clone())
    }

    /// A whole local Slack on one port of 127.0.0.1 (0: a free one): the incoming webhook
    /// (`/services/…`, [`SlackFake::url`]) and the Web API (`/api/…`, [`SlackApiFake::url`])
    /// accepting `token`, as `cargo xtask fake slack` serves them.
    pub async fn start_with_api(
        port: u16,
        token: &str,
    ) -> std::io::Result<(Self, crate::SlackApiFake)> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let api = crate::slack_api::inner(token);
        let app = crate::slack_api::router(&api).merge(Self::router(&inner));
        let server = Arc::new(crate::Served::start(port, app).await?);
        Ok((
            Self {
                server: server.clone(),
                inner,
            },
            crate::SlackApiFake::served(server, api),
        ))
    }

    /// The webhook URL (a secret, as far as the code under test knows).
    pub fn url(&self) -> String {
        format!("http://{}/{HOOK_PATH}", self.server.addr)
    }

    /// Replies to serve, in order, before falling back to the default.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// The reply once the script is used up (default: [`Reply::Normal`]).
    pub fn always(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// Random faults (5xx, 429 with `Retry-After: 0`, lost answers) once the script and
    /// the default are used up, from a seeded sequence.
    pub fn chaos(&self, chaos: ApiChaos) {
        let mut g = self.lock();
        g.chaos = chaos;
        g.rng = chaos.seed.max(1);
    }

    /// The faults served so far (scripted or random).
    pub fn faults(&self) -> Faults {
        self.lock().faults
    }

    /// Messages taken whose answer was lost (they are in [`SlackFake::received`] too).
    pub fn lost(&self) -> Vec<Value> {
        self.lock().lost.clone()
    }

    /// Messages taken (answered `200 ok`, or taken and the answer lost), in order.
    pub fn received(&self) -> Vec<Value> {
        self.lock().accepted.clone()
    }

    /// Every request, accepted or not.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.lock().attempts.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn hook(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
        let next = g.script.pop_front();
        let reply = next.or_else(|| g.default.clone()).unwrap_or_else(|| {
            let chaos = g.chaos;
            match roll(&chaos, &mut g.rng) {
                Some(Fault::ServerError) => Reply::server_error(),
                Some(Fault::RateLimited) => Reply::rate_limited(0),
                Some(Fault::Lost) => Reply::Lost,
                None => Reply::Normal,
            }
        });
        match &reply {
            Reply::Lost => g.faults.lost += 1,
            Reply::Status { status: 429, .. } => g.faults.rate_limited += 1,
            Reply::Status { status, .. } if *status >= 500 => g.faults.server_errors += 1,
            _ => {}
        }
        reply
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let (status, answer, retry_after) = match reply {
        Reply::Lost => {
            if let Ok(message) = validate(&path, &headers, &body) {
                let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                g.accepted.push(message.clone());
                g.lost.push(message);
            }
            record(&inner, 0, text);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Reply::Hang => {
            record(&inner, 0, text);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Reply::Status {
            status,
            body,
            retry_after,
        } => (status, body, retry_after),
        Reply::Normal => match validate(&path, &headers, &body) {
            Ok(message) => {
                inner
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .accepted
                    .push(message);
                (200, "ok", None)
            }
            Err((status, why)) => (status, why, None),
        },
    };
    record(&inner, status, text);
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        answer,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

fn record(inner: &Mutex<Inner>, status: u16, body: String) {
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .attempts
        .push(Attempt {
            at: Instant::now(),
            status,
            body,
        });
}

fn chars(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map_or(0, |s| s.chars().count())
}

/// Slack's checks on a webhook body.
fn validate(path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, (u16, &'static str)> {
    if path != HOOK_PATH {
        return Err((404, "no_service"));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err((400, "invalid_payload"));
    }
    let message: Value = serde_json::from_slice(body).map_err(|_| (400, "invalid_payload"))?;
    check_content(&message).map_err(|code| (400, code))?;
    Ok(message)
}

/// Slack's checks on a message's content (`text`, `blocks`), shared by the webhook and the Web
/// API fakes: the error code Slack answers, if any.
/// A button or static select as Block Kit takes it: `action_id` at most 255 characters, a
/// plain-text label at most 75, a button's `value` at most 2,000, a select's 1..=100
/// options each with a value of at most 150.
fn action_ok(e: &Value) -> bool {
    let label_ok =
        |t: &Value| t["type"] == "plain_text" && (1..=75).contains(&chars(t.get("text")));
    let id_ok = chars(e.get("action_id")) <= 255;
    match e["type"].as_str() {
        Some("button") => id_ok && label_ok(&e["text"]) && chars(e.get("value")) <= 2000,
        Some("static_select") => {
            let options = e["options"].as_array().cloned().unwrap_or_default();
            id_ok
                && (1..=100).contains(&options.len())
                && options
                    .iter()
                    .all(|o| label_ok(&o["text"]) && (1..=150).contains(&chars(o.get("value"))))
        }
        _ => false,
    }
}

pub(crate) fn check_content(message: &Value) -> Result<(), &'static str> {
    let blocks = message
        .get("blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if chars(message.get("text")) == 0 && blocks.is_empty() {
        return Err("no_text");
    }
    if blocks.len() > 50 {
        return Err("invalid_blocks");
    }
    let mut total = 0;
    for b in &blocks {
        let text = b.get("text").and_then(|t| t.get("text"));
        match b.get("type").and_then(Value::as_str) {
            Some("header") if chars(text) > 150 || chars(text) == 0 => {
                return Err("invalid_blocks");
            }
            Some("section") => {
                let fields = b
                    .get("fields")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if chars(text) > 3000 || fields.len() > 10 {
                    return Err("invalid_blocks");
                }
                if text.is_none() && fields.is_empty() {
                    return Err("invalid_blocks");
                }
                for f in &fields {
                    if chars(f.get("text")) > 2000 {
                        return Err("invalid_blocks");
                    }
                    total += chars(f.get("text"));
                }
            }
            Some("context") => {
                let elements = b
                    .get("elements")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if elements.is_empty() || elements.len() > 10 {
                    return Err("invalid_blocks");
                }
                total += elements.iter().map(|e| chars(e.get("text"))).sum::<usize>();
            }
            Some("actions") => {
                let elements = b
                    .get("elements")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if elements.is_empty() || elements.len() > 25 || !elements.iter().all(action_ok) {
                    return Err("invalid_blocks");
                }
            }
            Some("header" | "divider") => {}
            _ => return Err("invalid_blocks"),
        }
        total += chars(text);
    }
    if total > 12_000 {
        return Err("msg_blocks_too_long");
    }
    Ok(())
}
