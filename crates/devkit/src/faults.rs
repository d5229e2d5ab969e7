//! A fault proxy for DynamoDB: it stands between the functions and moto on loopback and,
//! for a share of the calls, answers as DynamoDB does when it throttles — HTTP 400 with
//! `{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}`
//! — without passing the call on; or passes the call on and then answers HTTP 500
//! `InternalServerError`, so the write happened and its answer was lost. Everything else
//! is passed to moto unchanged. The choice is a seeded sequence: a run can be repeated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How often to fail, in parts per thousand of the calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct DynamoFaults {
    /// Throttled before reaching moto.
    pub throttle_per_mille: u32,
    /// Done by moto, then answered with a 500.
    pub lost_answer_per_mille: u32,
    pub seed: u64,
}

struct Inner {
    upstream: String,
    faults: DynamoFaults,
    rng: Mutex<u64>,
    http: reqwest::Client,
    calls: AtomicU64,
    throttled: AtomicU64,
    lost: AtomicU64,
}

/// The proxy; stops when dropped.
pub struct DynamoFaultProxy {
    server: crate::Served,
    inner: Arc<Inner>,
}

impl DynamoFaultProxy {
    /// A proxy in front of `upstream` (moto's endpoint, `http://127.0.0.1:port`).
    pub async fn start(upstream: &str, faults: DynamoFaults) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            faults,
            rng: Mutex::new(faults.seed.max(1)),
            http: reqwest::Client::new(),
            calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let app = Router::new().fallback(proxy).with_state(inner.clone());
        let server = crate::Served::start(0, app).await?;
        Ok(Self { server, inner })
    }

    /// The endpoint to give the functions for DynamoDB (`AWS_ENDPOINT_URL_DYNAMODB`).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Calls seen, calls throttled, calls done whose answer was lost.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.inner.calls.load(Ordering::Relaxed),
            self.inner.throttled.load(Ordering::Relaxed),
            self.inner.lost.load(Ordering::Relaxed),
        )
    }
}

/// xorshift64*: a number in 0..1000.
fn roll(state: &Mutex<u64>) -> u32 {
    let mut g = state.lock().unwrap_or_else(|p| p.into_inner());
    let mut x = *g;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *g = x;
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as u32 % 1000
}

fn dynamo_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        serde_json::json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
            "message": message,
        })
        .to_string(),
    )
        .into_response()
}

/// Pass one call on to `upstream` unchanged, and its answer back (status, content type,
/// body); `Err`: a 502, as upstream could not be reached.
async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http.request(method, format!("{upstream}{path}")).body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            request = request.header(k, v);
        }
    }
    let answer = request
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())?;
    let status = answer.status();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-amz-json-1.0")
        .to_owned();
    let bytes = answer.bytes().await.unwrap_or_default();
    Ok((
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        [("content-type", content_type)],
        bytes,
    )
        .into_response())
}

/// A proxy in front of moto's Organizations that throttles the first calls as AWS
/// Organizations does — HTTP 400 `TooManyRequestsException` — and passes the rest on.
pub struct OrgThrottleProxy {
    server: crate::Served,
    inner: Arc<ThrottleInner>,
}

struct ThrottleInner {
    upstream: String,
    http: reqwest::Client,
    first: u64,
    calls: AtomicU64,
}

impl OrgThrottleProxy {
    /// Throttle the first `first` calls.
    pub async fn start(upstream: &str, first: u64) -> std::io::Result<Self> {
        let inner = Arc::new(ThrottleInner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            first,
            calls: AtomicU64::new(0),
        });
        let app = Router::new().fallback(throttle).with_state(inner.clone());
        let server = crate::Served::start(0, app).await?;
        Ok(Self { server, inner })
    }

    /// `AWS_ENDPOINT_URL_ORGANIZATIONS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Calls seen (throttled ones included).
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }
}

async fn throttle(
    State(inner): State<Arc<ThrottleInner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if inner.calls.fetch_add(1, Ordering::Relaxed) < inner.first {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1")],
            serde_json::json!({
                "__type": "TooManyRequestsException",
                "Message": "AWS Organizations can't complete your request because another request is already in progress. Try again later.",
                "Type": "ListAccounts",
            })
            .to_string(),
        )
            .into_response();
    }
    forward(&inner.http, &inner.upstream, method, &uri, &headers, body)
        .await
        .unwrap_or_else(|bad| bad)
}

async fn proxy(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.calls.fetch_add(1, Ordering::Relaxed);
    let r = roll(&inner.rng);
    let f = inner.faults;
    if r < f.throttle_per_mille {
        inner.throttled.fetch_add(1, Ordering::Relaxed);
        return dynamo_error(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        );
    }
    let lose = r < f.throttle_per_mille + f.lost_answer_per_mille;
    let answer = match forward(&inner.http, &inner.upstream, method, &uri, &headers, body).await {
        Ok(a) => a,
        Err(bad) => return bad,
    };
    if lose {
        inner.lost.fetch_add(1, Ordering::Relaxed);
        return dynamo_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Internal server error",
        );
    }
    answer
}
