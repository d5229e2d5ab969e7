//! What every opswatch function needs, done once per execution environment: the AWS SDK
//! configuration from the environment, secrets from Secrets Manager, JSON logs that carry the
//! request id, the invocation loop ([`serve`]) and the small helpers more than one function
//! uses (pattern lists, capped gunzip, times, SDK errors as one line, EMF metrics).
//!
//! The clients built here are meant to be built in `run()` and shared by every invocation of
//! a warm environment. Slack delivery (routes, exactly once, threads) is `opswatch-delivery`.

mod accounts;
#[cfg(feature = "ssm")]
pub mod checkpoint;
pub mod json;
mod patterns;
pub mod window;

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};

pub use accounts::AccountNames;
pub use opswatch_slack::{Secret, credential_url};
pub use patterns::Patterns;

/// Environment variable names shared by every function (also in `template.yaml`).
pub mod env {
    pub const LOG_LEVEL: &str = "LOG_LEVEL";
}

#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error("{name} is invalid: {why}")]
    InvalidVariable { name: String, why: String },
    #[error("reading the secret {arn}: {why}")]
    Secret { arn: String, why: String },
}

/// JSON logs to stderr, one object per line, each with the current span (which carries the
/// Lambda request id: the runtime opens a span with `requestId` around every invocation) and
/// the list of spans, whose outermost, `function`, names the function.
/// `LOG_LEVEL` (or `RUST_LOG`) sets the filter; default `info`.
pub fn init_tracing() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let filter = std::env::var(env::LOG_LEVEL)
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    // `info`, `debug`, or `warn,aws_smithy_runtime=debug`: levels per target, no regexes
    // (EnvFilter's would add a regex engine to every binary). Unreadable: `info`.
    let targets: Targets = filter
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    use tracing_subscriber::prelude::*;
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        // The list holds the outer `function` span too, so every line names the function.
        .with_span_list(true)
        .with_target(false)
        .without_time()
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(json)
        .with(targets)
        .try_init();
}

/// The AWS SDK configuration, from the environment: region, credentials, and the endpoint
/// overrides `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` (honoured by aws-config).
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Whether requests to `service` (e.g. `"S3"`) go to an overridden endpoint, such as a moto
/// server on loopback, where S3 needs path-style addressing.
pub fn endpoint_overridden(service: &str) -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    set("AWS_ENDPOINT_URL")
        || set(&format!(
            "AWS_ENDPOINT_URL_{}",
            service.to_ascii_uppercase()
        ))
}

/// An S3 client for `config`, path-style when the endpoint is overridden.
#[cfg(feature = "s3")]
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(endpoint_overridden("S3"))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Read a Secrets Manager secret's string value.
pub async fn read_secret(config: &SdkConfig, arn: &str) -> Result<String, SupportError> {
    let client = aws_sdk_secretsmanager::Client::new(config);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SupportError::Secret {
            arn: arn.to_owned(),
            why: error_chain(&e),
        })?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| SupportError::Secret {
            arn: arn.to_owned(),
            why: "the secret has no string value".into(),
        })
}

/// A secret's value: the value itself, or JSON holding it under the first of `keys` present
/// (`{"token": "xoxb-…"}`). The error never repeats the secret.
pub fn secret_value(secret: &str, keys: &[&str]) -> Result<Secret, String> {
    let secret = secret.trim();
    if !secret.starts_with('{') {
        return Ok(Secret::new(secret));
    }
    let v: serde_json::Value = serde_json::from_str(secret).map_err(|e| {
        format!(
            "the secret is JSON but unreadable (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    keys.iter()
        .find_map(|k| v.get(k).and_then(|u| u.as_str()))
        .map(|s| Secret::new(s.trim()))
        .ok_or_else(|| {
            let names: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
            format!(
                "the secret's JSON has none of the keys {}",
                names.join(", ")
            )
        })
}

/// An environment variable's value, trimmed; unset and blank are both `None` (SAM passes an
/// empty string for an optional parameter left empty).
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A yes/no variable: `1`, `true`, `yes`, `on` (any case) are yes; anything else, or unset, no.
pub fn flag(name: &str) -> bool {
    var(name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// A count variable (1 or more), or `default` when unset; anything else is an error naming
/// the variable.
pub fn count_var(name: &str, default: usize) -> Result<usize, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{name}: {v:?} is not a whole number, 1 or more")),
    }
}

/// A comma-separated list variable, items trimmed, empty items dropped.
pub fn list(name: &str) -> Vec<String> {
    list_of(&var(name).unwrap_or_default())
}

/// A comma-separated list, items trimmed, empty items dropped.
pub fn list_of(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A scheduled event's `time` (EventBridge: `2026-11-25T09:10:00Z`) in unix seconds: the
/// instant a scheduled run stands for, whatever the clock says when it runs.
pub fn scheduled_time(event: &serde_json::Value) -> Result<i64, String> {
    let t = event.get("time").and_then(|t| t.as_str()).ok_or_else(|| {
        "the event has no \"time\": it is not an EventBridge scheduled event".to_owned()
    })?;
    aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime)
        .map(|d| d.secs())
        .map_err(|_| {
            format!(
                "the event's \"time\" {t:?} is not an RFC 3339 UTC time like 2026-11-25T09:10:00Z"
            )
        })
}

/// An error and its causes on one line (AWS SDK errors hide the useful part in `source`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// An AWS SDK error as one line: the service's code and message when it answered, else the
/// chain of causes (connection refused, timeouts, …).
pub fn sdk_error<E>(e: &E) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => error_chain(e),
    }
}

/// Unix seconds as RFC 3339 UTC, `2026-11-25T09:10:00Z`.
pub fn rfc3339(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    #[error("not valid gzip ({0})")]
    Gzip(String),
    #[error("too large: it decompresses to more than {0} bytes")]
    TooLarge(u64),
}

/// Gunzip every member of `gz`, refusing more than `cap` bytes of output (a gzip bomb stops
/// at the cap, not at the end of memory).
pub fn gunzip_capped(gz: &[u8], cap: u64) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| GunzipError::Gzip(e.to_string()))?;
    if out.len() as u64 > cap {
        return Err(GunzipError::TooLarge(cap));
    }
    Ok(out)
}

/// [`gunzip_capped`] when the bytes start like gzip (`1f 8b`), else the bytes as they are.
pub fn maybe_gunzip(bytes: &[u8], cap: u64) -> Result<std::borrow::Cow<'_, [u8]>, GunzipError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip_capped(bytes, cap).map(std::borrow::Cow::Owned)
    } else {
        Ok(std::borrow::Cow::Borrowed(bytes))
    }
}

/// A cold start's outcome, its failure logged as a JSON line first: the runtime itself only
/// prints the error's `Debug` when `run()` returns it.
pub fn cold_start<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, E> {
    r.inspect_err(|e| tracing::error!(error = %e, "cold start failed"))
}

/// CloudWatch embedded-metric-format line (stderr, with the logs: Lambda ships both streams
/// to CloudWatch Logs, which turns the line into metrics; stdout stays free): counts of this
/// invocation, namespace `opswatch`, dimension `FunctionName`. The template's alarms watch
/// `AlertsFailed`.
pub fn emit_metrics(counts: &[(&str, usize)]) {
    eprintln!("{}", metrics_line(&function_name(), now_ms(), counts));
}

/// The function's name as Lambda knows it (`local` outside Lambda).
pub fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned())
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn metrics_line(function: &str, timestamp_ms: u128, counts: &[(&str, usize)]) -> String {
    let metrics: Vec<serde_json::Value> = counts
        .iter()
        .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "opswatch",
                "Dimensions": [["FunctionName"]],
                "Metrics": metrics,
            }]
        },
        "FunctionName": function,
    });
    for (name, n) in counts {
        line[*name] = (*n).into();
    }
    line.to_string()
}

/// An event as the runtime hands it over: the payload, or why the bytes were not one (not
/// JSON, or not the shape `T` wants). The runtime's own error for that is a multi-line text
/// typed `&lambda_runtime::deserializer::DeserializeError`; with this, the function answers
/// a one-line `BadInput` like for any other bad event, and goes on serving.
pub struct Incoming<T>(Result<T, String>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Incoming<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Incoming(T::deserialize(d).map_err(|e| e.to_string())))
    }
}

impl<T> Incoming<T> {
    pub fn get(self) -> Result<T, Failure> {
        self.0.map_err(|why| {
            Failure(lambda_runtime::Diagnostic {
                error_type: "BadInput".into(),
                error_message: format!("the event is not JSON: {}", why.trim()),
            })
        })
    }
}

/// Serve invocations with `handler` until the environment shuts down: the event arrives as
/// [`Incoming`] (not JSON is a one-line `BadInput`), a failure leaves as a [`Failure`].
pub async fn serve<P, R, E, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    P: for<'de> serde::Deserialize<'de>,
    R: serde::Serialize,
    E: Into<lambda_runtime::Diagnostic>,
    F: Fn(P) -> Fut,
    Fut: std::future::Future<Output = Result<R, E>>,
{
    use tracing::Instrument;
    let handler = &handler;
    let function = tracing::info_span!("function", function = %function_name());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Incoming<P>>| async move {
            let payload = event.payload.get()?;
            let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
            DEADLINE
                .scope(Some(deadline), handler(payload))
                .await
                .map_err(Failure::from_error)
        },
    ))
    .instrument(function)
    .await
}

tokio::task_local! {
    /// The invocation's deadline (Lambda's `Lambda-Runtime-Deadline-Ms`), set by [`serve`]
    /// around each handler call.
    static DEADLINE: Option<SystemTime>;
}

/// When the running invocation is stopped by Lambda, if it runs under [`serve`] (`None`
/// in unit tests and outside an invocation). The delivery pipeline sets its claims'
/// lifetimes by it, so a claim outlives the invocation that holds it, and no longer.
pub fn deadline() -> Option<SystemTime> {
    DEADLINE.try_with(|d| *d).ok().flatten()
}

/// Run `f` as if the invocation's deadline were `deadline` (tests of code that reads
/// [`deadline`]).
pub async fn with_deadline<F: std::future::Future>(deadline: SystemTime, f: F) -> F::Output {
    DEADLINE.scope(Some(deadline), f).await
}

/// What an invocation reports when it fails: a function's own error turned into the
/// runtime's `Diagnostic`, logged by the runtime as its one line.
pub struct Failure(lambda_runtime::Diagnostic);

impl Failure {
    pub fn from_error<E: Into<lambda_runtime::Diagnostic>>(e: E) -> Self {
        Failure(e.into())
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.error_type, self.0.error_message)
    }
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(f: Failure) -> Self {
        f.0
    }
}

/// Helpers for the property tests of the function crates.
pub mod testing {
    /// `base` with byte edits applied in turn: each `(at, op, byte)` overwrites (`op % 3 ==
    /// 0`), deletes (1) or inserts (2) at `at` modulo the length — the mutations a proptest
    /// strategy of `(usize, u8, u8)` tuples draws.
    pub fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut b = base.to_vec();
        for &(at, op, byte) in edits {
            if b.is_empty() {
                b.push(byte);
                continue;
            }
            let i = at % b.len();
            match op % 3 {
                0 => b[i] = byte,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, byte),
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_json_is_a_one_line_bad_input() {
        let mut d = serde_json::Deserializer::from_slice(b"this is not JSON {");
        let incoming: Incoming<serde_json::Value> =
            serde::Deserialize::deserialize(&mut d).unwrap();
        let diagnostic = lambda_runtime::Diagnostic::from(incoming.get().unwrap_err());
        assert_eq!(diagnostic.error_type, "BadInput");
        assert!(
            diagnostic
                .error_message
                .starts_with("the event is not JSON: expected ident")
        );
        assert!(!diagnostic.error_message.contains('\n'));
        let mut d = serde_json::Deserializer::from_slice(br#"{"a":1}"#);
        let ok: Incoming<serde_json::Value> = serde::Deserialize::deserialize(&mut d).unwrap();
        assert_eq!(ok.get().unwrap()["a"], 1);
    }

    #[test]
    fn an_emf_line() {
        let line = metrics_line(
            "opswatch-x",
            1_795_597_200_000,
            &[("AlertsSent", 3), ("AlertsFailed", 1)],
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "opswatch");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "FunctionName"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            "AlertsFailed"
        );
        assert_eq!(
            (&v["AlertsSent"], &v["AlertsFailed"]),
            (&3.into(), &1.into())
        );
        assert_eq!(v["FunctionName"], "opswatch-x");
    }

    #[test]
    fn lists_and_times() {
        assert_eq!(list_of(" a, b,,c ,"), ["a", "b", "c"]);
        assert!(list_of(" ").is_empty());
        let ev = serde_json::json!({"time": "2026-11-25T09:10:00Z"});
        assert_eq!(scheduled_time(&ev), Ok(1_795_597_800));
        assert!(scheduled_time(&serde_json::json!({})).is_err());
        let bad = scheduled_time(&serde_json::json!({"time": "yesterday"})).unwrap_err();
        assert!(bad.contains("yesterday"), "{bad}");
    }

    #[test]
    fn secret_forms() {
        let keys = &["url", "webhook_url"];
        let value = |s: &str| secret_value(s, keys).map(|v| v.expose().to_owned());
        assert_eq!(value(" plain\n"), Ok("plain".into()));
        assert_eq!(value(r#"{"url":"u1"}"#), Ok("u1".into()));
        assert_eq!(value(r#"{"webhook_url":" u2 "}"#), Ok("u2".into()));
        assert!(value(r#"{"other":"x"}"#).is_err());
        assert!(value("{broken").is_err());
    }

    #[test]
    fn secret_errors_do_not_echo_the_secret() {
        for s in [r#"{"u":"SENTINELxyz"}"#, r#"{"url": SENTINELxyz}"#] {
            let err = secret_value(s, &["url"]).unwrap_err();
            assert!(!err.contains("SENTINEL"), "{err}");
        }
    }

    #[test]
    fn gunzip_caps_and_passes_plain_bytes() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'a'; 1000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(gunzip_capped(&gz, 1000).unwrap().len(), 1000);
        assert_eq!(gunzip_capped(&gz, 999), Err(GunzipError::TooLarge(999)));
        assert!(matches!(
            gunzip_capped(&gz[..gz.len() / 2], 5000),
            Err(GunzipError::Gzip(_))
        ));
        assert_eq!(&*maybe_gunzip(b"{}", 10).unwrap(), b"{}");
        assert_eq!(maybe_gunzip(&gz, 2000).unwrap().len(), 1000);
        assert_eq!(rfc3339(1_795_597_800), "2026-11-25T09:10:00Z");
    }
}
