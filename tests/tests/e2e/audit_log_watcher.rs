//! audit-log-watcher end to end: CloudWatch Logs subscription events in (push), or a
//! schedule polling moto's FilterLogEvents with a checkpoint in moto's SSM (pull); Slack
//! alerts out.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use base64::Engine;
use opswatch_e2e::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2e-audit-log-watcher");
const FUNCTION: &str = "audit-log-watcher";
const GROUP: &str = "/aws/rds/cluster/aurora-prod/audit";
const STREAM: &str = "aurora-prod-instance-1";
const PARAMETER: &str = "/opswatch/audit/checkpoint";

async fn push(sample: &str, slack: &SlackFake, env: &[(&str, &str)]) -> Invoked {
    push_bytes(&event(sample), slack, env).await
}

async fn push_bytes(body: &[u8], slack: &SlackFake, env: &[(&str, &str)]) -> Invoked {
    let mut l = lambda(BIN, FUNCTION, no_aws_env()).env("SLACK_WEBHOOK_URL", slack.url());
    for (k, v) in env {
        l = l.env(k, *v);
    }
    l.invoke(body).await.expect("runs")
}

/// The alert lines Slack received: (user, outcome, host, count).
fn alerts(slack: &SlackFake) -> Vec<(String, String, String, usize)> {
    let mut out = Vec::new();
    for m in slack.received() {
        for line in all_text(&m).lines() {
            let failed = line.starts_with(":no_entry: ");
            if !failed && !line.starts_with("• ") {
                continue;
            }
            let user = line.split('*').nth(1).unwrap_or_default().to_owned();
            let host = line
                .split(" from `")
                .nth(1)
                .and_then(|r| r.split('`').next())
                .unwrap_or_default()
                .to_owned();
            let count = line
                .split(" ×")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let outcome = if failed { "FAILED_CONNECT" } else { "CONNECT" };
            out.push((user, outcome.to_owned(), host, count));
        }
    }
    out
}

fn expected(rows: &[(&str, &str, &str, usize)]) -> Vec<(String, String, String, usize)> {
    rows.iter()
        .map(|(u, o, h, n)| (u.to_string(), o.to_string(), h.to_string(), *n))
        .collect()
}

const MYSQL_ALERTS: [(&str, &str, &str, usize); 3] = [
    ("admin", "CONNECT", "10.0.1.5", 1),
    ("admin", "FAILED_CONNECT", "10.0.1.7", 3),
    ("app", "CONNECT", "10.0.2.9", 1),
];

#[tokio::test]
async fn mysql_audit_lines_alert_every_watched_connection_once() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = push("audit/subscription-mysql-audit.json", &slack, &[]).await;
    let r = response(&invoked);
    // 11 events, one delivered twice; rdsadmin's lines, a query and the disconnects are read
    // and not alerted; one line is garbage.
    assert_eq!(
        (
            r["mode"].as_str(),
            r["logEvents"].as_u64(),
            r["alerted"].as_u64()
        ),
        (Some("push"), Some(10), Some(5)),
        "{r}"
    );
    assert_eq!(
        (&r["ignored"], &r["unparseable"]),
        (&json!(4), &json!(1)),
        "{r}"
    );
    assert_eq!(alerts(&slack), expected(&MYSQL_ALERTS));
    let text = all_text(&slack.received()[0]);
    assert!(
        text.contains("*aurora-prod* (instance aurora-prod-instance-1)"),
        "{text}"
    );
    assert!(!text.contains("rdsadmin connected"), "{text}");
    // The unparseable line is logged with where it was, not what it said.
    assert!(
        invoked.stderr.contains("unparseable log line"),
        "{}",
        invoked.stderr
    );
    assert!(!invoked.stderr.contains("this is not an audit line"));

    // Only the watched users.
    let slack = SlackFake::start().await.expect("fake Slack");
    let r = response(
        &push(
            "audit/subscription-mysql-audit.json",
            &slack,
            &[("WATCH_USERS", "admin")],
        )
        .await,
    );
    assert_eq!(r["alerted"], 4, "{r}");
    assert_eq!(alerts(&slack), expected(&MYSQL_ALERTS[..2]));
    insta::assert_json_snapshot!("audit_mysql_watch_admin", slack.received());
}

#[tokio::test]
async fn postgresql_connection_lines_alert_too() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let r = response(&push("audit/subscription-postgresql.json", &slack, &[]).await);
    assert_eq!(
        (&r["alerted"], &r["unparseable"]),
        (&json!(4), &json!(1)),
        "{r}"
    );
    assert_eq!(
        alerts(&slack),
        expected(&[
            ("admin", "CONNECT", "10.0.3.4", 1),
            ("admin", "FAILED_CONNECT", "10.0.3.8", 2),
            ("postgres", "FAILED_CONNECT", "203.0.113.9", 1),
        ])
    );
    let text = all_text(&slack.received()[0]);
    assert!(
        text.contains("(result 28P01)") && text.contains("(result 28000)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_control_message_is_ignored_and_bad_payloads_are_one_line() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let r = response(&push("audit/subscription-control-message.json", &slack, &[]).await);
    assert_eq!(r["mode"], "control", "{r}");
    assert!(slack.received().is_empty());

    for (body, says) in [
        (
            json!({"awslogs": {"data": "not base64 !!"}}),
            "awslogs.data is not base64",
        ),
        (
            json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode("plain")}}),
            "awslogs.data is not gzip",
        ),
        (
            json!({"Records": []}),
            "neither a CloudWatch Logs subscription event",
        ),
    ] {
        let invoked = push_bytes(body.to_string().as_bytes(), &slack, &[]).await;
        let (kind, message) = error(&invoked);
        assert_eq!(kind, "BadInput", "{message}");
        assert!(message.contains(says), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
    // A scheduled event without pull mode configured says what to set.
    let invoked = push("audit/schedule.json", &slack, &[]).await;
    let (kind, message) = error(&invoked);
    assert_eq!(
        (kind.as_str(), message.contains("LOG_GROUPS")),
        ("ConfigurationError", true)
    );
    assert!(slack.received().is_empty());
}

/// moto with the MySQL sample's lines moved into the 10 minutes before `t` (CloudWatch Logs
/// takes only the last 14 days), plus `noise` query lines of an unwatched user.
async fn moto_with_audit_log(t: i64, noise: usize) -> (Moto, aws_sdk_cloudwatchlogs::Client) {
    let moto = Moto::start().expect("moto");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config(&moto).await);
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .expect("group");
    logs.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .expect("stream");
    let sample: Value = serde_json::from_slice(&event("audit/fixtures/mysql-audit.decoded.json"))
        .expect("the decoded sample");
    let first = sample["logEvents"][0]["timestamp"]
        .as_i64()
        .expect("timestamp");
    let shift = (t - 590) * 1000 - first;
    let mut events: Vec<(i64, String)> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for e in sample["logEvents"].as_array().expect("events") {
        if !ids.insert(e["id"].as_str().unwrap_or_default().to_owned()) {
            continue; // the duplicate is a subscription's, not the log's
        }
        let ts = e["timestamp"].as_i64().expect("timestamp") + shift;
        let message = e["message"].as_str().unwrap_or_default();
        // The line's own time (microseconds) moves with it.
        let message = match message.split_once(',') {
            Some((micros, rest)) if micros.parse::<i64>().is_ok() => {
                let m: i64 = micros.parse().unwrap_or_default();
                format!("{},{rest}", m + shift * 1000)
            }
            _ => message.to_owned(),
        };
        events.push((ts, message));
    }
    for i in 0..noise {
        let ts = (t - 600) * 1000 + (i as i64 % 590_000);
        events.push((
            ts,
            format!(
                "{}000,{STREAM},app,10.0.2.9,1191,{i},QUERY,shop,'SELECT 1',0",
                ts
            ),
        ));
    }
    put(&logs, events).await;
    (moto, logs)
}

async fn put(logs: &aws_sdk_cloudwatchlogs::Client, mut events: Vec<(i64, String)>) {
    events.sort_by_key(|e| e.0);
    for chunk in events.chunks(5_000) {
        let out = logs
            .put_log_events()
            .log_group_name(GROUP)
            .log_stream_name(STREAM)
            .set_log_events(Some(
                chunk
                    .iter()
                    .map(|(ts, m)| {
                        InputLogEvent::builder()
                            .timestamp(*ts)
                            .message(m)
                            .build()
                            .expect("event")
                    })
                    .collect(),
            ))
            .send()
            .await
            .expect("put");
        assert!(out.rejected_log_events_info().is_none(), "{out:?}");
    }
}

fn schedule(at: i64) -> Vec<u8> {
    let mut ev: Value = serde_json::from_slice(&event("audit/schedule.json")).expect("sample");
    let t = opswatch_audit_log_watcher::render::time(at * 1000);
    ev["time"] = json!(format!("{}T{}Z", &t[..10], &t[11..19]));
    ev.to_string().into_bytes()
}

async fn pull(moto: &Moto, slack: &SlackFake, at: i64) -> Invoked {
    lambda(BIN, FUNCTION, moto.aws_env())
        .env("SLACK_WEBHOOK_URL", slack.url())
        .env("LOG_GROUPS", GROUP)
        .env("CHECKPOINT_PARAMETER", PARAMETER)
        .env("POLL_INTERVAL", "10m")
        .env("SETTLE_DELAY", "0")
        .invoke(&schedule(at))
        .await
        .expect("runs")
}

async fn checkpoint(moto: &Moto) -> Option<String> {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(moto).await);
    let out = ssm.get_parameter().name(PARAMETER).send().await.ok()?;
    out.parameter()?.value().map(str::to_owned)
}

#[tokio::test]
async fn pull_mode_reports_the_same_events_every_page_and_checkpoints_after_delivery() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let t = now - now % 60;
    // 10,050 more lines than fit in one FilterLogEvents page (10,000).
    let (moto, logs) = moto_with_audit_log(t, 10_050).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&moto).await);
    ssm.put_parameter()
        .name(PARAMETER)
        .value("none")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    let slack = SlackFake::start().await.expect("fake Slack");

    let r = response(&pull(&moto, &slack, t).await);
    assert_eq!(
        (
            r["mode"].as_str(),
            r["logEvents"].as_u64(),
            r["alerted"].as_u64()
        ),
        (Some("pull"), Some(10 + 10_050), Some(5)),
        "{r}"
    );
    assert_eq!(
        alerts(&slack),
        expected(&MYSQL_ALERTS),
        "the same as pushed"
    );
    assert_eq!(checkpoint(&moto).await, Some(t.to_string()));

    // A connection in the next window while Slack is down: the run fails, the checkpoint
    // stays; the next run reports it, then moves on.
    let next = t + 60;
    put(
        &logs,
        vec![(
            (t + 30) * 1000,
            format!(
                "{}000000,{STREAM},admin,10.0.1.5,1200,0,CONNECT,,,0",
                t + 30
            ),
        )],
    )
    .await;
    slack.always(Reply::server_error());
    let (kind, _) = error(&pull(&moto, &slack, next).await);
    assert_eq!(kind, "SlackDeliveryFailed");
    assert_eq!(
        checkpoint(&moto).await,
        Some(t.to_string()),
        "moved despite the failure"
    );
    slack.always(Reply::Normal);
    let before = slack.received().len();
    let r = response(&pull(&moto, &slack, next).await);
    assert_eq!(r["alerted"], 1, "{r}");
    assert_eq!(slack.received().len(), before + 1);
    assert_eq!(checkpoint(&moto).await, Some(next.to_string()));
    // Nothing new: nothing posted, the checkpoint stays where it is.
    let r = response(&pull(&moto, &slack, next).await);
    assert_eq!(
        (r["logEvents"].as_u64(), r["messagesPosted"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
}
