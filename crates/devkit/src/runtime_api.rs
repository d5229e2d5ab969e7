//! A local Lambda Runtime API that serves one invocation to a real function binary.
//!
//! It speaks the documented protocol (`GET /2018-06-01/runtime/invocation/next`, `POST
//! …/{id}/response`, `POST …/{id}/error`, `POST …/init/error`) on a loopback port, starts the
//! binary with `AWS_LAMBDA_RUNTIME_API` pointing at it and the variables Lambda sets, hands it
//! the event, and stops it once it has answered. `cargo xtask invoke` and the end-to-end tests
//! use it, so both run exactly what Lambda runs.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

/// How one invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The handler returned; the body it posted (JSON text).
    Response(String),
    /// The handler failed.
    Error {
        error_type: String,
        error_message: String,
    },
    /// The runtime could not start.
    InitError {
        error_type: String,
        error_message: String,
    },
    /// The process ended without answering.
    Exited(Option<i32>),
    /// No answer within the timeout.
    TimedOut,
}

/// The outcome plus what the process printed (when captured).
#[derive(Clone, Debug)]
pub struct Invoked {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    pub request_id: String,
}

/// A function binary and how to run it.
#[derive(Clone, Debug)]
pub struct LocalLambda {
    pub binary: PathBuf,
    pub function_name: String,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Capture stdout/stderr (tests) instead of passing them through to stderr (xtask).
    pub capture: bool,
    /// Start from this process's environment (xtask) rather than an empty one, as on Lambda
    /// (tests: nothing from the developer's shell leaks in).
    pub inherit_env: bool,
}

struct Shared {
    event: Mutex<Option<Bytes>>,
    request_id: String,
    deadline_ms: u128,
    function_arn: String,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
}

impl Shared {
    fn finish(&self, outcome: Outcome) {
        if let Some(tx) = self.done.lock().ok().and_then(|mut d| d.take()) {
            let _ = tx.send(outcome);
        }
    }
}

impl LocalLambda {
    pub fn new(binary: impl Into<PathBuf>, function_name: &str) -> Self {
        Self {
            binary: binary.into(),
            function_name: function_name.to_owned(),
            env: Vec::new(),
            timeout: Duration::from_secs(60),
            capture: true,
            inherit_env: false,
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    /// Run the binary on one event.
    pub async fn invoke(&self, event: &[u8]) -> std::io::Result<Invoked> {
        let request_id = request_id();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            event: Mutex::new(Some(Bytes::copy_from_slice(event))),
            request_id: request_id.clone(),
            deadline_ms: (now + self.timeout).as_millis(),
            function_arn: format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                self.function_name
            ),
            done: Mutex::new(Some(tx)),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let mut cmd = tokio::process::Command::new(&self.binary);
        if !self.inherit_env {
            cmd.env_clear();
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.function_name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if self.capture {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            // stdout is for the response alone: the function's own output goes to stderr.
            cmd.stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?));
        }
        let mut child = cmd.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("starting {}: {e}", self.binary.display()))
        })?;
        let stdout = child.stdout.take().map(|s| tokio::spawn(read_all(s)));
        let stderr = child.stderr.take().map(|s| tokio::spawn(read_all(s)));

        let outcome = tokio::select! {
            outcome = rx => outcome.unwrap_or(Outcome::Exited(None)),
            status = child.wait() => Outcome::Exited(status.ok().and_then(|s| s.code())),
            _ = tokio::time::sleep(self.timeout) => Outcome::TimedOut,
        };
        let _ = child.kill().await;
        server.abort();
        let stdout = match stdout {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        let stderr = match stderr {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        Ok(Invoked {
            outcome,
            stdout,
            stderr,
            request_id,
        })
    }
}

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn request_id() -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        (n >> 48) as u32,
        n & 0xffff_ffff_ffff
    )
}

async fn next(State(s): State<Arc<Shared>>) -> axum::response::Response {
    let event = s.event.lock().ok().and_then(|mut e| e.take());
    let Some(event) = event else {
        // One invocation only: the runtime waits here until it is stopped, as on Lambda
        // between invocations.
        std::future::pending::<()>().await;
        unreachable!("pending never completes");
    };
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", s.request_id.clone());
    set("lambda-runtime-deadline-ms", s.deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        s.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        format!("Root=1-00000000-{}", &s.request_id[..8]),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, event).into_response()
}

async fn response(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    s.finish(Outcome::Response(
        String::from_utf8_lossy(&body).into_owned(),
    ));
    StatusCode::ACCEPTED
}

fn diagnostic(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let get = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    (get("errorType"), get("errorMessage"))
}

async fn error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let (error_type, error_message) = diagnostic(&body);
    s.finish(Outcome::Error {
        error_type,
        error_message,
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let (error_type, error_message) = diagnostic(&body);
    s.finish(Outcome::InitError {
        error_type,
        error_message,
    });
    StatusCode::ACCEPTED
}
