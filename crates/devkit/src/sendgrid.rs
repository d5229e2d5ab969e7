//! A fake of SendGrid's suppression lists on loopback, behaving as the documentation says:
//! `GET /v3/suppression/{bounces,blocks,spam_reports,invalid_emails}` with
//! `Authorization: Bearer <key>` (else 401 `authorization required`), `start_time`/`end_time`
//! (unix seconds, both inclusive), `limit` (1–500, default 500) and `offset`; newest first;
//! each list in its own shape (bounces and blocks: `created`, `email`, `reason`, `status`;
//! spam reports: `created`, `email`, `ip`; invalid emails: `created`, `email`, `reason`);
//! another path is 404. A scripted 429 carries `X-RateLimit-Remaining: 0` and
//! `X-RateLimit-Reset` (unix seconds).

/// The key the demo and `cargo xtask fake sendgrid` accept.
pub const DEMO_KEY: &str = "SG.local-fake-key";

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
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

/// The lists the fake serves, as SendGrid's paths name them.
pub const LISTS: [&str; 4] = ["bounces", "blocks", "spam_reports", "invalid_emails"];

/// An entry of any list; [`Entry::to_json`] gives the list's own shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub created: i64,
    pub email: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub ip: String,
}

impl Entry {
    pub fn to_json(&self, list: &str) -> Value {
        match list {
            "spam_reports" => json!({"created": self.created, "email": self.email, "ip": self.ip}),
            "invalid_emails" => {
                json!({"created": self.created, "email": self.email, "reason": self.reason})
            }
            _ => {
                json!({"created": self.created, "email": self.email, "reason": self.reason, "status": self.status})
            }
        }
    }
}

impl From<Bounce> for Entry {
    fn from(b: Bounce) -> Self {
        Entry {
            created: b.created,
            email: b.email,
            reason: b.reason,
            status: b.status,
            ip: String::new(),
        }
    }
}

/// A scripted answer, served before the normal ones.
#[derive(Clone, Debug)]
pub enum SgReply {
    /// 429, rate limit resetting this many seconds from now.
    RateLimited(u64),
    /// Any status with SendGrid's error body.
    Status(u16),
}

/// A request the fake answered: the list, the query, and the status it gave.
#[derive(Clone, Debug)]
pub struct Request {
    pub list: String,
    pub query: String,
    pub status: u16,
}

struct Inner {
    key: String,
    lists: BTreeMap<String, Vec<Entry>>,
    script: VecDeque<SgReply>,
    requests: Vec<Request>,
    /// Answer every other request with a 429 resetting this many seconds later.
    alternate: Option<u64>,
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
        let mut lists = BTreeMap::new();
        lists.insert(
            "bounces".to_owned(),
            bounces.into_iter().map(Entry::from).collect::<Vec<_>>(),
        );
        let inner = Arc::new(Mutex::new(Inner {
            key: key.to_owned(),
            lists,
            script: VecDeque::new(),
            requests: Vec::new(),
            alternate: None,
        }));
        let app = Router::new()
            .route("/v3/suppression/{list}", get(list_entries))
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
        self.add_to("bounces", bounces.into_iter().map(Entry::from));
    }

    /// Entries for one list (`blocks`, `spam_reports`, …).
    pub fn add_to(&self, list: &str, entries: impl IntoIterator<Item = Entry>) {
        self.lock()
            .lists
            .entry(list.to_owned())
            .or_default()
            .extend(entries);
    }

    /// The samples' other lists (`events/sendgrid/fixtures/<list>.json`), added.
    pub fn add_fixture_lists(&self, root: &std::path::Path) -> std::io::Result<()> {
        for list in &LISTS[1..] {
            let bytes = std::fs::read(root.join(format!("events/sendgrid/fixtures/{list}.json")))?;
            let entries: Vec<Entry> =
                serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
            self.add_to(list, entries);
        }
        Ok(())
    }

    /// From now on, answer every other request with a 429 whose limit resets `secs` later.
    pub fn rate_limit_every_other(&self, secs: u64) {
        self.lock().alternate = Some(secs);
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

async fn list_entries(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(list): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
    let response = answer(&mut g, &list, &headers, &query);
    g.requests.push(Request {
        list,
        query,
        status: response.status().as_u16(),
    });
    response
}

fn rate_limited(secs: u64) -> Response {
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
    r
}

fn answer(g: &mut Inner, list: &str, headers: &HeaderMap, query: &str) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", g.key));
    if !authorized {
        return errors(StatusCode::UNAUTHORIZED, "authorization required");
    }
    if !LISTS.contains(&list) {
        return errors(StatusCode::NOT_FOUND, "resource not found");
    }
    if let Some(secs) = g.alternate
        && g.requests.len().is_multiple_of(2)
    {
        return rate_limited(secs);
    }
    match g.script.pop_front() {
        Some(SgReply::RateLimited(secs)) => return rate_limited(secs),
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
    let empty = Vec::new();
    let mut matching: Vec<&Entry> = g
        .lists
        .get(list)
        .unwrap_or(&empty)
        .iter()
        .filter(|b| start.is_none_or(|s| b.created >= s) && end.is_none_or(|e| b.created <= e))
        .collect();
    matching.sort_by(|a, b| b.created.cmp(&a.created).then(a.email.cmp(&b.email)));
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|e| e.to_json(list))
        .collect();
    (StatusCode::OK, axum::Json(page)).into_response()
}
