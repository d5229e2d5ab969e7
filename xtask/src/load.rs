//! `cargo xtask bench load`: every posting function's hot path at a realistic volume, the
//! release binaries behind the local Runtime API against moto and the local fakes, one warm
//! process each: 10,000 SQS messages announcing 10,000 CloudTrail log files (S3 in moto), 10,000 SendGrid
//! bounces, 1,000 RDS resources with pending maintenance, 100,000 Aurora audit lines. Prints
//! the handlers' time, the rate, the Slack messages posted, and the process's peak RSS.
//!
//! Each load runs three times in one go, against one fake Slack webhook: without
//! `DEDUPE_TABLE` (`plain`); with it, a fresh table in moto (`dedupe`: every message claimed,
//! then marked); and the same events again (`redelivered`: every message found posted, none
//! posted again — the run fails otherwise). The difference per Slack message between
//! the first two is what exactly once costs (against moto, which serves one call at a time:
//! an upper bound of DynamoDB's cost).

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use opswatch_devkit::rds::{Action, Described, Fleet, Resource};
use opswatch_devkit::sendgrid::{Bounce, DEMO_KEY};
use opswatch_devkit::{Invoked, LocalLambda, Moto, Outcome, RdsFake, SendGridFake, SlackFake};
use serde_json::{Value, json};

/// The dedupe table a run uses.
#[derive(Clone, Debug)]
struct Dedupe {
    endpoint: String,
    table: String,
}

struct Row {
    function: &'static str,
    mode: &'static str,
    load: String,
    items: usize,
    invocations: usize,
    secs: f64,
    messages: usize,
    peak_mb: f64,
}

fn lambda(
    name: &str,
    env: Vec<(String, String)>,
    slack: &SlackFake,
    dedupe: Option<&Dedupe>,
) -> LocalLambda {
    let mut l = LocalLambda::new(crate::binary(name, true), name)
        .envs(env)
        .env("SLACK_WEBHOOK_URL", slack.url())
        .env("LOG_LEVEL", "warn");
    if let Some(d) = dedupe {
        l = l
            .env("DEDUPE_TABLE", &d.table)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &d.endpoint);
    }
    l.timeout = Duration::from_secs(900);
    l
}

fn mode(dedupe: Option<&Dedupe>, again: bool) -> &'static str {
    match (dedupe, again) {
        (None, _) => "plain",
        (Some(_), false) => "dedupe",
        (Some(_), true) => "redelivered",
    }
}

fn check(name: &str, answers: &[Invoked]) -> Result<(f64, f64), String> {
    let mut secs = 0.0;
    for a in answers {
        match &a.outcome {
            Outcome::Response(_) => {}
            other => return Err(format!("{name}: {other:?}\n{}", a.stderr)),
        }
        secs += a.handler_time.unwrap_or_default().as_secs_f64();
    }
    let peak = answers
        .last()
        .and_then(|a| a.peak_rss_kb)
        .map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    Ok((secs, peak))
}

pub async fn bench() -> Result<(), String> {
    crate::python::ensure()?;
    let names = [
        "cloudtrail-event-handler",
        "sendgrid-bounce-poller",
        "rds-maintenance-checker",
        "audit-log-watcher",
    ];
    eprintln!("bench load: building {} (release)", names.join(", "));
    crate::build_bins(&names, true)?;
    let tables = Moto::start_with(&crate::python::bin("moto_server"))?;
    let config = tables.sdk_config().await;
    let mut rows = Vec::new();
    for function in names {
        opswatch_devkit::dynamodb::create_table(&config, function).await?;
        let d = Dedupe {
            endpoint: tables.endpoint(),
            table: function.to_owned(),
        };
        // One webhook for the three runs: the destination is part of a message's key.
        let slack = SlackFake::start().await.map_err(|e| e.to_string())?;
        for (dedupe, again) in [(None, false), (Some(&d), false), (Some(&d), true)] {
            let row = match function {
                "cloudtrail-event-handler" => cloudtrail(dedupe, again, &slack).await?,
                "sendgrid-bounce-poller" => sendgrid(dedupe, again, &slack).await?,
                "rds-maintenance-checker" => rds(dedupe, again, &slack).await?,
                _ => audit(dedupe, again, &slack).await?,
            };
            if again && row.messages > 0 {
                return Err(format!(
                    "{function}: the redelivered run posted {} message(s) again",
                    row.messages
                ));
            }
            rows.push(row);
        }
    }

    println!(
        "\nload: release binaries behind the local Runtime API, one warm process each, one run"
    );
    println!(
        "{:<26} {:<12} {:<44} {:>6} {:>9} {:>12} {:>9} {:>10}",
        "function", "mode", "load", "invoc.", "seconds", "items/s", "messages", "peak RSS"
    );
    for r in &rows {
        println!(
            "{:<26} {:<12} {:<44} {:>6} {:>9.2} {:>12.0} {:>9} {:>7.1} MB",
            r.function,
            r.mode,
            r.load,
            r.invocations,
            r.secs,
            r.items as f64 / r.secs,
            r.messages,
            r.peak_mb
        );
    }
    println!("\nexactly once (DEDUPE_TABLE in moto), per Slack message of the plain run:");
    for chunk in rows.chunks(3) {
        let [plain, first, again] = chunk else {
            continue;
        };
        let n = plain.messages.max(1) as f64;
        let per = |r: &Row| r.secs * 1000.0 / n;
        println!(
            "{:<26} {} message(s): plain {:.2} ms, dedupe {:.2} ms (claim + mark +{:.2} ms), redelivered {:.2} ms ({} posted again)",
            plain.function,
            plain.messages,
            per(plain),
            per(first),
            per(first) - per(plain),
            per(again),
            again.messages,
        );
    }
    Ok(())
}

/// 10,000 SQS messages (10 invocations of 1,000), each announcing its own log file in
/// moto S3 (the 40-record sample: 9 write calls, the rest reads and a service event).
async fn cloudtrail(
    dedupe: Option<&Dedupe>,
    again: bool,
    slack: &SlackFake,
) -> Result<Row, String> {
    let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
    let files = opswatch_devkit::fixtures::cloudtrail_log_files(&crate::root())
        .map_err(|e| format!("the CloudTrail sample: {e}"))?;
    let (bucket, key, body) = files.first().cloned().ok_or("no CloudTrail sample")?;
    let config = moto.sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| format!("moto: {e:?}"))?;
    let keys: Vec<String> = (0..10_000)
        .map(|i| key.replace("_mixed.json.gz", &format!("_load{i:05}.json.gz")))
        .collect();
    for k in &keys {
        s3.put_object()
            .bucket(&bucket)
            .key(k)
            .body(body.clone().into())
            .send()
            .await
            .map_err(|e| format!("seeding {k}: {e:?}"))?;
    }
    let events: Vec<Vec<u8>> = (0..10)
        .map(|batch| {
            let records: Vec<Value> = (0..1000)
                .map(|i| {
                    let n = batch * 1000 + i;
                    json!({
                        "messageId": format!("00000000-0000-4000-8000-{n:012}"),
                        "receiptHandle": format!("AQEB{n}"),
                        "body": json!({"s3Bucket": bucket, "s3ObjectKey": [keys[n]]}).to_string(),
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "md5OfBody": "0",
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:opswatch-cloudtrail",
                        "awsRegion": "us-east-1"
                    })
                })
                .collect();
            json!({ "Records": records }).to_string().into_bytes()
        })
        .collect();
    let before = slack.received().len();
    eprintln!("bench load: cloudtrail-event-handler, 10,000 SQS messages");
    let answers = lambda("cloudtrail-event-handler", moto.aws_env(), slack, dedupe)
        .invoke_many(&events)
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check("cloudtrail-event-handler", &answers)?;
    for a in &answers {
        if let Outcome::Response(r) = &a.outcome
            && r.contains("\"itemIdentifier\"")
        {
            return Err(format!("cloudtrail-event-handler: items failed: {r}"));
        }
    }
    Ok(Row {
        function: "cloudtrail-event-handler",
        mode: mode(dedupe, again),
        load: "10,000 SQS messages → 10,000 S3 log files".into(),
        items: 10_000,
        invocations: answers.len(),
        secs,
        messages: slack.received().len() - before,
        peak_mb,
    })
}

/// 10,000 bounces in one 10-minute window: 20 pages of SendGrid's 500.
async fn sendgrid(dedupe: Option<&Dedupe>, again: bool, slack: &SlackFake) -> Result<Row, String> {
    let t0: i64 = 1_795_597_200; // 2026-11-25T09:00:00Z
    let bounces: Vec<Bounce> = (0..10_000)
        .map(|i| Bounce {
            created: t0 + (i % 600),
            email: format!("user{i:05}@example.com"),
            reason: "550 5.1.1 The email account that you tried to reach does not exist.".into(),
            status: "5.1.1".into(),
        })
        .collect();
    let fake = SendGridFake::start(DEMO_KEY, bounces)
        .await
        .map_err(|e| e.to_string())?;
    let before = slack.received().len();
    let event = json!({"version": "0", "id": "load", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": "2026-11-25T09:10:00Z", "region": "us-east-1",
        "resources": [], "detail": {}});
    eprintln!("bench load: sendgrid-bounce-poller, 10,000 bounces");
    let answers = lambda("sendgrid-bounce-poller", no_aws(), slack, dedupe)
        .env("SENDGRID_API_URL", fake.url())
        .env("SENDGRID_API_KEY", DEMO_KEY)
        .invoke_many(&[event.to_string().into_bytes()])
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check("sendgrid-bounce-poller", &answers)?;
    Ok(Row {
        function: "sendgrid-bounce-poller",
        mode: mode(dedupe, again),
        load: "10,000 bounces, 20 API pages".into(),
        items: 10_000,
        invocations: 1,
        secs,
        messages: slack.received().len() - before,
        peak_mb,
    })
}

/// 1,000 instances with pending maintenance (10 pages of 100) and their windows.
async fn rds(dedupe: Option<&Dedupe>, again: bool, slack: &SlackFake) -> Result<Row, String> {
    let actions = [
        "system-update",
        "os-upgrade",
        "ca-certificate-rotation",
        "db-upgrade",
    ];
    let resources: Vec<Resource> = (0..1000)
        .map(|i| Resource {
            resource_identifier: format!("arn:aws:rds:us-east-1:111122223333:db:fleet-{i:04}"),
            pending_maintenance_action_details: vec![Action {
                action: actions[i % actions.len()].into(),
                description: Some("Pending maintenance".into()),
                auto_applied_after_date: Some(format!("2026-12-{:02}T00:00:00Z", 1 + i % 28)),
                forced_apply_date: None,
                opt_in_status: None,
                current_apply_date: None,
            }],
        })
        .collect();
    let fake = RdsFake::start(resources).await.map_err(|e| e.to_string())?;
    // Each instance's window: the function describes all 1,000 (20 pages of 50 ARNs).
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    fake.describe(Fleet {
        clusters: Vec::new(),
        instances: (0..1000)
            .map(|i| Described {
                identifier: format!("fleet-{i:04}"),
                arn: format!("arn:aws:rds:us-east-1:111122223333:db:fleet-{i:04}"),
                preferred_maintenance_window: Some(format!(
                    "{d}:{h:02}:00-{d}:{h:02}:30",
                    d = days[i % 7],
                    h = i % 24
                )),
                cluster: None,
            })
            .collect(),
    });
    let before = slack.received().len();
    let event = json!({"version": "0", "id": "load", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": "2026-11-25T08:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}});
    eprintln!("bench load: rds-maintenance-checker, 1,000 resources");
    let answers = lambda("rds-maintenance-checker", no_aws(), slack, dedupe)
        .env("AWS_ENDPOINT_URL_RDS", fake.url())
        .env("RDS_REGIONS", "us-east-1")
        .invoke_many(&[event.to_string().into_bytes()])
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check("rds-maintenance-checker", &answers)?;
    Ok(Row {
        function: "rds-maintenance-checker",
        mode: mode(dedupe, again),
        load: "1,000 resources, 10 API pages".into(),
        items: 1000,
        invocations: 1,
        secs,
        messages: slack.received().len() - before,
        peak_mb,
    })
}

/// 100,000 Aurora MySQL audit lines: 100 subscription batches of 1,000, one watched
/// connection in a hundred.
async fn audit(dedupe: Option<&Dedupe>, again: bool, slack: &SlackFake) -> Result<Row, String> {
    let before = slack.received().len();
    let t0: i64 = 1_795_597_262_000_000; // microseconds
    let events: Vec<Vec<u8>> = (0..100)
        .map(|batch| {
            let log_events: Vec<Value> = (0..1000)
                .map(|i| {
                    let n = batch * 1000 + i;
                    let micros = t0 + n as i64 * 1000;
                    let line = if n % 100 == 0 {
                        format!("{micros},aurora-prod-instance-1,admin,10.0.1.{},{n},0,CONNECT,,,0", n % 250)
                    } else {
                        format!("{micros},aurora-prod-instance-1,app,10.0.2.9,{n},{n},QUERY,shop,'SELECT * FROM orders WHERE id = {n}',0")
                    };
                    json!({"id": format!("{n:056}"), "timestamp": micros / 1000, "message": line})
                })
                .collect();
            let payload = json!({"messageType": "DATA_MESSAGE", "owner": "111122223333",
                "logGroup": "/aws/rds/cluster/aurora-prod/audit", "logStream": "aurora-prod-instance-1",
                "subscriptionFilters": ["opswatch"], "logEvents": log_events});
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = gz.write_all(payload.to_string().as_bytes());
            let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap_or_default());
            json!({"awslogs": {"data": data}}).to_string().into_bytes()
        })
        .collect();
    eprintln!("bench load: audit-log-watcher, 100,000 audit lines");
    let answers = lambda("audit-log-watcher", no_aws(), slack, dedupe)
        .env("WATCH_USERS", "admin")
        .invoke_many(&events)
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check("audit-log-watcher", &answers)?;
    Ok(Row {
        function: "audit-log-watcher",
        mode: mode(dedupe, again),
        load: "100,000 audit lines in 100 batches".into(),
        items: 100_000,
        invocations: answers.len(),
        secs,
        messages: slack.received().len() - before,
        peak_mb,
    })
}

fn no_aws() -> Vec<(String, String)> {
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
