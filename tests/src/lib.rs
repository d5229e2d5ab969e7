//! End-to-end harness: run a function's real entry point (a binary of this crate that calls
//! the function crate's `run()`, exactly as its own `main.rs` does) behind a local Lambda
//! Runtime API, with moto and a fake Slack on loopback, and look at what Slack received.
//!
//! Every address used is on 127.0.0.0/8. A test that needs no AWS still points the SDK at a
//! closed loopback port, so nothing can reach the internet by accident.

use std::path::PathBuf;
use std::time::Duration;

pub use opswatch_devkit::{
    Invoked, LocalLambda, Moto, Outcome, RdsFake, RegionFailure, Reply, SendGridFake, SgReply,
    SlackFake,
};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A sample event from `events/`.
pub fn event(rel: &str) -> Vec<u8> {
    let path = root().join("events").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The AWS environment for a function that must not reach AWS at all.
pub fn no_aws_env() -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A function binary ready to invoke with a short Slack retry budget.
pub fn lambda(binary: &str, function: &str, aws: Vec<(String, String)>) -> LocalLambda {
    // Debug logs: the most the function can print is what the harness checks for secrets
    // (`SECRET_VARIABLES`' values never appear in a captured invocation's output).
    let mut l = LocalLambda::new(binary, function)
        .env("LOG_LEVEL", "debug")
        .envs(aws)
        .env("SLACK_MAX_RETRY_SECONDS", "3");
    l.timeout = Duration::from_secs(60);
    l
}

/// An AWS SDK config for moto.
pub async fn sdk_config(moto: &Moto) -> aws_config::SdkConfig {
    moto.sdk_config().await
}

/// An S3 client for moto (path-style).
pub async fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    moto.s3_client().await
}

/// moto with the dedupe table `table`.
pub async fn moto_with_table(table: &str) -> Moto {
    let moto = Moto::start().expect("moto");
    opswatch_devkit::dynamodb::create_table(&sdk_config(&moto).await, table)
        .await
        .expect("the dedupe table");
    moto
}

/// moto with the dedupe table `table` and CloudTrail's (empty) bucket, for tests that put
/// their own log files ([`put_log`]).
pub async fn moto_with_table_and_trail_bucket(table: &str) -> Moto {
    let moto = moto_with_table(table).await;
    trail_bucket(&moto).await;
    moto
}

/// CloudTrail's (empty) bucket in moto, for [`put_log`].
pub async fn trail_bucket(moto: &Moto) {
    s3(moto)
        .await
        .create_bucket()
        .bucket(opswatch_devkit::fixtures::CLOUDTRAIL_BUCKET)
        .send()
        .await
        .expect("bucket");
}

/// A CloudTrail log file of `records` (`{"Records": …}`, gzipped) at `key` in the trail's
/// bucket.
pub async fn put_log(moto: &Moto, key: &str, records: &[serde_json::Value]) {
    let body = opswatch_devkit::fixtures::gzip(
        serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes(),
    )
    .expect("gzip");
    s3(moto)
        .await
        .put_object()
        .bucket(opswatch_devkit::fixtures::CLOUDTRAIL_BUCKET)
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("put");
}

/// An SQS batch announcing log files as CloudTrail's SNS topic does, one message per
/// (message id, key).
pub fn sqs_for(messages: &[(&str, &str)]) -> Vec<u8> {
    use serde_json::json;
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, key)| {
            let notice = json!({"s3Bucket": opswatch_devkit::fixtures::CLOUDTRAIL_BUCKET, "s3ObjectKey": [key]}).to_string();
            json!({
                "messageId": id,
                "body": json!({"Type": "Notification", "MessageId": format!("sns-{id}"), "Message": notice}).to_string(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:opswatch-cloudtrail",
            })
        })
        .collect();
    json!({ "Records": records }).to_string().into_bytes()
}

/// Put the sample log files where CloudTrail would have (`events/cloudtrail/s3-objects/`),
/// and return the S3 client.
pub async fn seed_cloudtrail_logs(moto: &Moto) -> aws_sdk_s3::Client {
    let s3 = s3(moto).await;
    s3.create_bucket()
        .bucket(opswatch_devkit::fixtures::CLOUDTRAIL_BUCKET)
        .send()
        .await
        .expect("bucket");
    for (bucket, key, body) in
        opswatch_devkit::fixtures::cloudtrail_log_files(&root()).expect("samples")
    {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put");
    }
    s3
}

/// The text of every block of a message, joined, for assertions.
pub fn all_text(message: &serde_json::Value) -> String {
    let mut out = String::new();
    collect_text(message, &mut out);
    out
}

fn collect_text(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "text" && x.is_string() {
                    out.push_str(x.as_str().unwrap_or_default());
                    out.push('\n');
                } else {
                    collect_text(x, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_text(x, out)),
        _ => {}
    }
}

/// Assert an invocation answered, and return its response as JSON.
pub fn response(invoked: &Invoked) -> serde_json::Value {
    match &invoked.outcome {
        Outcome::Response(body) => serde_json::from_str(body).expect("the response is JSON"),
        other => panic!(
            "expected a response, got {other:?}\nstderr:\n{}",
            invoked.stderr
        ),
    }
}

/// Assert an invocation failed, and return its error type and message.
pub fn error(invoked: &Invoked) -> (String, String) {
    match &invoked.outcome {
        Outcome::Error {
            error_type,
            error_message,
        } => (error_type.clone(), error_message.clone()),
        other => panic!(
            "expected an error, got {other:?}\nstderr:\n{}",
            invoked.stderr
        ),
    }
}

/// Store a secret in moto's Secrets Manager and return its ARN.
pub async fn put_secret(moto: &Moto, name: &str, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(&sdk_config(moto).await)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("the secret is stored")
        .arn
        .expect("an ARN")
}

/// Assert the function stopped at its cold start (exited non-zero without serving), and
/// return the error its `cold start failed` line names.
pub fn cold_start_error(invoked: &Invoked) -> String {
    assert!(
        matches!(invoked.outcome, Outcome::Exited(Some(code)) if code != 0),
        "expected a failed cold start, got {:?}\nstderr:\n{}",
        invoked.outcome,
        invoked.stderr
    );
    invoked
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "cold start failed")
        .and_then(|v| v["fields"]["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no cold start failed line in:\n{}", invoked.stderr))
}

/// One count of the summary line: a standard field (`records`, `messages_posted`, …), or one
/// of the function's own (`events`, `files`, …), which the line carries in `counts`.
pub fn summary_count(invoked: &Invoked, name: &str) -> serde_json::Value {
    let line = summary_line(invoked);
    let fields = &line["fields"];
    if !fields[name].is_null() {
        return fields[name].clone();
    }
    let counts: serde_json::Value =
        serde_json::from_str(fields["counts"].as_str().unwrap_or("{}")).expect("counts is JSON");
    counts[name].clone()
}

/// The JSON log line `invocation summary` a function printed (the whole line: `fields`,
/// `span`), for assertions on counts and the request id.
pub fn summary_line(invoked: &Invoked) -> serde_json::Value {
    invoked
        .logged("invocation summary")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no summary line in:\n{}", invoked.stderr))
}
