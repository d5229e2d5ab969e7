//! Every function against every file of `events/bad/` (and a 6 MB SNS message), one warm
//! process per function taking them in turn: each answer is a response or a one-line error,
//! nothing panics, and the process goes on serving the next event.

use opswatch_e2e::*;
use serde_json::json;

const FUNCTIONS: [(&str, &str); 7] = [
    (
        env!("CARGO_BIN_EXE_e2e-config-change-notifier"),
        "config-change-notifier",
    ),
    (
        env!("CARGO_BIN_EXE_e2e-activity-stream-decoder"),
        "activity-stream-decoder",
    ),
    (
        env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler"),
        "cloudtrail-event-handler",
    ),
    (
        env!("CARGO_BIN_EXE_e2e-sendgrid-bounce-poller"),
        "sendgrid-bounce-poller",
    ),
    (
        env!("CARGO_BIN_EXE_e2e-rds-maintenance-checker"),
        "rds-maintenance-checker",
    ),
    (
        env!("CARGO_BIN_EXE_e2e-audit-log-watcher"),
        "audit-log-watcher",
    ),
    (
        env!("CARGO_BIN_EXE_e2e-health-event-notifier"),
        "health-event-notifier",
    ),
];

fn bad_events() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("events/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("events/bad")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(p).expect("read"),
            )
        })
        .collect();
    // An SNS notification whose message is 6 MB of text (Lambda's own payload limit).
    let big = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {
        "Type": "Notification", "MessageId": "big", "TopicArn": "arn:aws:sns:us-east-1:111122223333:t",
        "Message": "x".repeat(6 * 1024 * 1024), "Timestamp": "2026-11-25T09:00:00.000Z"}}]});
    out.push((
        "sns-6mb-message (generated)".into(),
        big.to_string().into_bytes(),
    ));
    out
}

#[tokio::test]
async fn every_function_survives_every_bad_input() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let events = bad_events();
    let bodies: Vec<Vec<u8>> = events.iter().map(|(_, b)| b.clone()).collect();
    let mut failures = Vec::new();
    // Every answer, reviewed as a snapshot: each error must name the part at fault.
    let mut answered = Vec::new();
    for (bin, name) in FUNCTIONS {
        let lambda = lambda(bin, name, no_aws_env())
            .env("SLACK_WEBHOOK_URL", slack.url())
            .env("SENDGRID_API_URL", "http://127.0.0.1:9")
            .env("SENDGRID_API_KEY", "SG.bad-input-suite")
            .env("AWS_MAX_ATTEMPTS", "1");
        let answers = lambda.invoke_many(&bodies).await.expect("runs");
        assert_eq!(
            answers.len(),
            bodies.len(),
            "{name}: not every event was answered"
        );
        for ((file, _), invoked) in events.iter().zip(&answers) {
            let verdict = match &invoked.outcome {
                Outcome::Response(body) => Ok(format!("response {body}")),
                Outcome::Error {
                    error_type,
                    error_message,
                } if !error_message.trim().is_empty() && !error_message.contains('\n') => {
                    Ok(format!("{error_type}: {error_message}"))
                }
                other => Err(format!("{other:?}")),
            };
            match verdict {
                Ok(v) => answered.push(format!(
                    "{name} ← {file}: {}",
                    v.chars().take(200).collect::<String>()
                )),
                Err(e) => failures.push(format!("{name} ← {file}: {e}")),
            }
            if invoked.stderr.contains("panicked") {
                failures.push(format!("{name} ← {file}: panicked\n{}", invoked.stderr));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    insta::assert_snapshot!(answered.join("\n"));
    // No bad input turned into an alert.
    assert!(
        slack.received().is_empty(),
        "bad input was posted to Slack: {:?}",
        slack.received()
    );
}
