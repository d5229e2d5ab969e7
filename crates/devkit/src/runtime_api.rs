//! A local Lambda Runtime API that serves one invocation to a real function binary.
//!
//! It speaks the documented protocol (`GET /2018-06-01/runtime/invocation/next`, `POST
//! …/{id}/response`, `POST …/{id}/error`, `POST …/init/error`) on a loopback port, starts the
//! binary with `AWS_LAMBDA_RUNTIME_API` pointing at it and the variables Lambda sets, hands it
//! the event, and stops it once it has answered. `cargo xtask invoke` and the end-to-end tests
//! use it, so both run exactly what Lambda runs.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Lambda's limit on a synchronous invocation's response.
pub const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

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

/// The outcome plus what the process printed (when captured) and how long things took.
#[derive(Clone, Debug)]
pub struct Invoked {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    pub request_id: String,
    /// From starting the process to its first request for an event (cold start).
    pub ready_after: Option<Duration>,
    /// From handing out the event to receiving the answer (the handler's time).
    pub handler_time: Option<Duration>,
    /// The process's peak resident set (Linux `VmHWM`) when its last answer came, in kB.
    pub peak_rss_kb: Option<u64>,
}

/// A function binary and how to run it.
#[derive(Clone, Debug)]
pub struct LocalLambda {
    pub binary: PathBuf,
    /// Arguments to the binary (none for a function binary; the script for an interpreter).
    pub args: Vec<String>,
    pub function_name: String,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Capture stdout/stderr (tests) instead of passing them through to stderr (xtask; stderr
    /// is then kept as well, in [`Invoked::stderr`]).
    pub capture: bool,
    /// Start from this process's environment (xtask) rather than an empty one, as on Lambda
    /// (tests: nothing from the developer's shell leaks in).
    pub inherit_env: bool,
    /// Values the function must never print, besides those of [`SECRET_VARIABLES`]: an
    /// invocation whose captured output or answer contains one is an error.
    pub secrets: Vec<String>,
    /// Idle time before each event after the first (as between Firehose batches); not
    /// counted in `handler_time`.
    pub pause: Duration,
    /// Kill the process (SIGKILL) as soon as this holds (polled every 5 ms): a crash at a
    /// chosen point, such as right after a function's third post. Its outcome is then
    /// [`Outcome::Exited`] without a code.
    pub kill_when: Option<KillWhen>,
}

/// A condition to kill a process on (see [`LocalLambda::kill_when`]).
#[derive(Clone)]
pub struct KillWhen(pub std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for KillWhen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KillWhen(..)")
    }
}

/// Variables whose values are secrets: when captured, an invocation that prints one of them
/// (stdout, stderr, its response or error) fails with an error naming the variable.
pub const SECRET_VARIABLES: &[&str] = &["SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SENDGRID_API_KEY"];

struct Pending {
    request_id: String,
    body: Bytes,
}

struct Answer {
    request_id: String,
    outcome: Outcome,
    handler_time: Option<Duration>,
}

struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    /// The invocation in progress and when its event was handed out.
    current: Mutex<Option<(String, Instant)>>,
    first_next: Mutex<Option<Instant>>,
    pause: Duration,
    deadline_ms: u128,
    function_arn: String,
    answers: mpsc::UnboundedSender<Answer>,
}

impl Shared {
    /// `at`: when the runtime's answer had fully arrived (before the harness converts it).
    fn finish(&self, outcome: Outcome, at: Instant) {
        let current = self.current.lock().ok().and_then(|mut c| c.take());
        let (request_id, handler_time) = match current {
            Some((id, handed_out)) => (id, Some(at.saturating_duration_since(handed_out))),
            None => (String::new(), None),
        };
        let _ = self.answers.send(Answer {
            request_id,
            outcome,
            handler_time,
        });
    }
}

impl LocalLambda {
    pub fn new(binary: impl Into<PathBuf>, function_name: &str) -> Self {
        Self {
            binary: binary.into(),
            args: Vec::new(),
            function_name: function_name.to_owned(),
            env: Vec::new(),
            timeout: Duration::from_secs(60),
            capture: true,
            inherit_env: false,
            secrets: Vec::new(),
            pause: Duration::ZERO,
            kill_when: None,
        }
    }

    /// Kill the process as soon as `condition` holds (see [`LocalLambda::kill_when`]).
    pub fn kill_when(mut self, condition: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.kill_when = Some(KillWhen(std::sync::Arc::new(condition)));
        self
    }

    /// A value the function must never print (e.g. a secret it reads from Secrets Manager).
    pub fn secret(mut self, value: impl Into<String>) -> Self {
        self.secrets.push(value.into());
        self
    }

    /// The secrets to look for, each with what to call it in an error (never the value).
    fn secrets_to_check(&self) -> Vec<(String, &str)> {
        let from_env = self
            .env
            .iter()
            .filter(|(k, _)| SECRET_VARIABLES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.as_str()));
        let explicit = self
            .secrets
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("secret #{i}"), v.as_str()));
        from_env
            .chain(explicit)
            // Too short to be a real secret, and would match by accident.
            .filter(|(_, v)| v.trim().len() >= 8)
            .collect()
    }

    /// An argument to the binary: e.g. the script, when the binary is an interpreter.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
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
        let mut all = self.invoke_many(&[event.to_vec()]).await?;
        all.pop()
            .ok_or_else(|| std::io::Error::other("no invocation result"))
    }

    /// Run one process on several events in turn, as a warm Lambda environment would.
    /// Each answer carries everything the process printed (when captured).
    pub async fn invoke_many(&self, events: &[Vec<u8>]) -> std::io::Result<Vec<Invoked>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ids: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, _)| request_id(i))
            .collect();
        let shared = Arc::new(Shared {
            queue: Mutex::new(
                events
                    .iter()
                    .zip(&ids)
                    .map(|(e, id)| Pending {
                        request_id: id.clone(),
                        body: Bytes::copy_from_slice(e),
                    })
                    .collect(),
            ),
            current: Mutex::new(None),
            first_next: Mutex::new(None),
            pause: self.pause,
            deadline_ms: (now + self.timeout).as_millis(),
            function_arn: format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                self.function_name
            ),
            answers: tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Lambda accepts responses up to 6 MB and answers 413 beyond, as here.
            .layer(axum::extract::DefaultBodyLimit::max(RESPONSE_LIMIT))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args(&self.args);
        if !self.inherit_env {
            cmd.env_clear();
        }
        // Lambda sets both; some SDKs (botocore) read only the second.
        if let Some((_, region)) = self.env.iter().rev().find(|(k, _)| k == "AWS_REGION") {
            cmd.env("AWS_DEFAULT_REGION", region);
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
            // stdout is for the response alone: the function's own output goes to stderr,
            // as it comes, and is kept too (a failed cold start's reason is read from it).
            cmd.stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?));
            cmd.stderr(Stdio::piped());
        }
        let spawned_at = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("starting {}: {e}", self.binary.display()))
        })?;
        let stdout = child.stdout.take().map(|s| tokio::spawn(read_all(s)));
        let stderr = child.stderr.take().map(|s| {
            if self.capture {
                tokio::spawn(read_all(s))
            } else {
                tokio::spawn(tee_all(s))
            }
        });

        let mut answers: Vec<(Outcome, Option<Duration>, String)> = Vec::new();
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        let mut poll = tokio::time::interval(Duration::from_millis(5));
        let mut exited = None;
        while answers.len() < events.len() {
            tokio::select! {
                a = rx.recv() => match a {
                    Some(a) => {
                        let init_failed = matches!(a.outcome, Outcome::InitError { .. });
                        answers.push((a.outcome, a.handler_time, a.request_id));
                        if init_failed {
                            break;
                        }
                    }
                    None => break,
                },
                status = child.wait(), if exited.is_none() => {
                    exited = Some(Outcome::Exited(status.ok().and_then(|s| s.code())));
                    // Let an answer posted just before exiting arrive.
                    if let Ok(Some(a)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                        answers.push((a.outcome, a.handler_time, a.request_id));
                    }
                    break;
                }
                _ = poll.tick(), if self.kill_when.is_some() && exited.is_none() => {
                    if self.kill_when.as_ref().is_some_and(|k| (k.0)()) {
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                        exited = Some(Outcome::Exited(None));
                        break;
                    }
                }
                _ = &mut deadline => break,
            }
        }
        let peak_rss_kb = child.id().and_then(peak_rss_kb);
        let _ = child.kill().await;
        server.abort();
        let ready_after = shared
            .first_next
            .lock()
            .ok()
            .and_then(|f| *f)
            .map(|t| t - spawned_at);
        let stdout = match stdout {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        let stderr = match stderr {
            Some(h) => h.await.unwrap_or_default(),
            None => String::new(),
        };
        let missing = exited.unwrap_or(Outcome::TimedOut);
        if self.capture {
            for (name, value) in self.secrets_to_check() {
                let answered = answers.iter().map(|(outcome, _, _)| match outcome {
                    Outcome::Response(body) => body.as_str(),
                    Outcome::Error { error_message, .. }
                    | Outcome::InitError { error_message, .. } => error_message.as_str(),
                    _ => "",
                });
                let leaked = [("stdout", stdout.as_str()), ("stderr", stderr.as_str())]
                    .into_iter()
                    .chain(answered.map(|a| ("its answer", a)))
                    .find(|(_, text)| text.contains(value));
                if let Some((place, _)) = leaked {
                    return Err(std::io::Error::other(format!(
                        "{} printed the value of {name} on {place}",
                        self.function_name
                    )));
                }
            }
        }
        Ok(ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (outcome, handler_time, answered_id) = answers
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| (missing.clone(), None, id.clone()));
                let request_id = if answered_id.is_empty() {
                    id.clone()
                } else {
                    answered_id
                };
                Invoked {
                    outcome,
                    stdout: stdout.clone(),
                    stderr: stderr.clone(),
                    request_id,
                    ready_after,
                    handler_time,
                    peak_rss_kb,
                }
            })
            .collect())
    }
}

impl Invoked {
    /// The reason a cold start failed, as the function logged it (`cold start failed`), on
    /// one line.
    pub fn cold_start_error(&self) -> Option<String> {
        self.logged("cold start failed")
            .last()
            .and_then(|l| l["fields"]["error"].as_str().map(str::to_owned))
    }

    /// The JSON log lines the process printed on stderr whose `fields.message` is `message`
    /// (the shape of opswatch's tracing output), whole (`fields`, `span`), in order.
    pub fn logged(&self, message: &str) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .collect()
    }
}

/// A live process's peak resident set (`VmHWM` in `/proc/<pid>/status`), in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Copy everything to this process's stderr as it comes, and keep it.
async fn tee_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    use std::io::Write as _;
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(&buf[..n]);
                let _ = err.flush();
                kept.extend_from_slice(&buf[..n]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn request_id(i: usize) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:08x}-{i:04x}-4000-8000-{:012x}",
        (n >> 48) as u32,
        n & 0xffff_ffff_ffff
    )
}

async fn next(State(s): State<Arc<Shared>>) -> axum::response::Response {
    // The first request for an event marks the end of the cold start.
    let first = match s.first_next.lock() {
        Ok(mut f) => {
            let first = f.is_none();
            f.get_or_insert_with(Instant::now);
            first
        }
        Err(_) => false,
    };
    if !first && !s.pause.is_zero() {
        tokio::time::sleep(s.pause).await;
    }
    let event = s.queue.lock().ok().and_then(|mut q| q.pop_front());
    let Some(Pending {
        request_id,
        body: event,
    }) = event
    else {
        // No more events: the runtime waits here until it is stopped, as on Lambda between
        // invocations.
        std::future::pending::<()>().await;
        unreachable!("pending never completes");
    };
    if let Ok(mut c) = s.current.lock() {
        *c = Some((request_id.clone(), Instant::now()));
    }
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", request_id.clone());
    set("lambda-runtime-deadline-ms", s.deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        s.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        format!("Root=1-00000000-{}", &request_id[..8]),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, event).into_response()
}

async fn response(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let arrived = Instant::now();
    s.finish(
        Outcome::Response(String::from_utf8_lossy(&body).into_owned()),
        arrived,
    );
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
    let arrived = Instant::now();
    let (error_type, error_message) = diagnostic(&body);
    s.finish(
        Outcome::Error {
            error_type,
            error_message,
        },
        arrived,
    );
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let arrived = Instant::now();
    let (error_type, error_message) = diagnostic(&body);
    s.finish(
        Outcome::InitError {
            error_type,
            error_message,
        },
        arrived,
    );
    StatusCode::ACCEPTED
}
