//! A fake SendGrid bounces API on loopback, behaving as the documentation says:
//! `GET /v3/suppression/bounces` with `Authorization: Bearer <key>` (else 401
//! `authorization required`), `start_time`/`end_time` (unix seconds, both inclusive),
//! `limit` (1–500, default 500) and `offset`; newest first; a scripted 429 carries
//! `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (unix seconds).

/// The key the demo and `cargo xtask fake sendgrid` accept.
pub const DEMO_KEY: &str = "SG.local-fake-key";

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// A bounce in the fake's store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bounce {
    pub created: i64,
    pub email: String,
    pub reason: String,
    pub status: String,
}

/// A scripted answer, served before the normal ones.
#[derive(Clone, Debug)]
pub enum SgReply {
    /// 429, rate limit resetting this many seconds from now.
    RateLimited(u64),
    /// Any status with SendGrid's error body.
    Status(u16),
}

/// A request the fake answered: the query, and the status it gave.
#[derive(Clone, Debug)]
pub struct Request {
    pub query: String,
    pub status: u16,
}

struct Inner {
    key: String,
    bounces: Vec<Bounce>,
    script: VecDeque<SgReply>,
    requests: Vec<Request>,
}

pub struct SendGridFake {
    server: crate::Served,
    inner: Arc<Mutex<Inner>>,
}

impl SendGridFake {
    pub async fn start(key: &str, bounces: Vec<Bounce>) -> std::io::Result<Self> {
        Self::start_on(0, key, bounces).await
    }

    /// On a chosen loopback port (0: any free one).
    pub async fn start_on(port: u16, key: &str, bounces: Vec<Bounce>) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            key: key.to_owned(),
            bounces,
            script: VecDeque::new(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v3/suppression/bounces", get(list_bounces))
            .with_state(inner.clone());
        let server = crate::Served::start(port, app).await?;
        Ok(Self { server, inner })
    }

    /// The fixture the samples use (`events/sendgrid/fixtures/bounces.json`).
    pub fn fixture(root: &std::path::Path) -> std::io::Result<Vec<Bounce>> {
        let bytes = std::fs::read(root.join("events/sendgrid/fixtures/bounces.json"))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// `SENDGRID_API_URL` for the function.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = SgReply>) {
        self.lock().script.extend(replies);
    }

    pub fn add(&self, bounces: impl IntoIterator<Item = Bounce>) {
        self.lock().bounces.extend(bounces);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn errors(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"field": Value::Null, "message": message}]})),
    )
        .into_response()
}

async fn list_bounces(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
    let response = answer(&mut g, &headers, &query);
    g.requests.push(Request {
        query,
        status: response.status().as_u16(),
    });
    response
}

fn answer(g: &mut Inner, headers: &HeaderMap, query: &str) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", g.key));
    if !authorized {
        return errors(StatusCode::UNAUTHORIZED, "authorization required");
    }
    match g.script.pop_front() {
        Some(SgReply::RateLimited(secs)) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut r = errors(StatusCode::TOO_MANY_REQUESTS, "too many requests");
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from_static("600"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            if let Ok(v) = HeaderValue::from_str(&(now + secs).to_string()) {
                h.insert("x-ratelimit-reset", v);
            }
            return r;
        }
        Some(SgReply::Status(code)) => {
            return errors(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "scripted failure",
            );
        }
        None => {}
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    // SendGrid answers 400 to a parameter that is not an integer.
    let num = |name: &str| -> Result<Option<i64>, String> {
        match param(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name} must be an integer")),
        }
    };
    let parsed = (|| {
        Ok::<_, String>((
            num("start_time")?,
            num("end_time")?,
            num("limit")?,
            num("offset")?,
        ))
    })();
    let (start, end, limit, offset) = match parsed {
        Ok((s, e, l, o)) => (s, e, l.unwrap_or(500), o.unwrap_or(0)),
        Err(why) => return errors(StatusCode::BAD_REQUEST, &why),
    };
    if !(1..=500).contains(&limit) || offset < 0 {
        return errors(
            StatusCode::BAD_REQUEST,
            "limit must be 1 to 500, offset 0 or more",
        );
    }
    let mut matching: Vec<&Bounce> = g
        .bounces
        .iter()
        .filter(|b| start.is_none_or(|s| b.created >= s) && end.is_none_or(|e| b.created <= e))
        .collect();
    matching.sort_by(|a, b| b.created.cmp(&a.created).then(a.email.cmp(&b.email)));
    let page: Vec<&Bounce> = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    (StatusCode::OK, axum::Json(page)).into_response()
}
