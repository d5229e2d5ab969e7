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
//!
//! `cargo xtask bench load slack-actions`: what Slack waits for after a click, cold and
//! warm ([`actions`]).
//!
//! `cargo xtask bench load organization` (also in the full run): rds-maintenance-checker
//! across an organization of 100 accounts × 4 regions, the fake RDS and STS answering each
//! request after 20 ms (an API round trip), at `ORG_CONCURRENCY` 1, 8 and 32 ([`org`]).
//!
//! Then (alone: `cargo xtask bench load reconcile`) the reconcile step, which only the Web API can take (it reads the channel's
//! history): 1,000 CloudTrail log files posted through the fake Web API, and 1,000 more
//! whose every message's first post is answered with a 500, so that each is looked for
//! before it is posted again. The difference per message is what a look costs; the run fails
//! if any message is posted twice or not at all.

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

/// A function's release binary posting to the fake webhook.
fn lambda(
    name: &str,
    env: Vec<(String, String)>,
    slack: &SlackFake,
    dedupe: Option<&Dedupe>,
) -> LocalLambda {
    release(name, env, dedupe)
        .env("SLACK_WEBHOOK_URL", slack.url())
        .env("LOG_LEVEL", "warn")
}

/// A function's release binary with `env` and the dedupe table, if any (no Slack yet).
fn release(name: &str, env: Vec<(String, String)>, dedupe: Option<&Dedupe>) -> LocalLambda {
    let mut l = LocalLambda::new(crate::binary(name, true), name).envs(env);
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

/// `only`: `reconcile` runs the reconcile rows alone; a function's name, its rows alone.
pub async fn bench(only: Option<&str>) -> Result<(), String> {
    crate::python::ensure()?;
    let all = [
        "cloudtrail-event-handler",
        "sendgrid-bounce-poller",
        "rds-maintenance-checker",
        "audit-log-watcher",
    ];
    if let Some(o) = only
        && o != "reconcile"
        && o != "slack-actions"
        && o != "organization"
        && o != "org-trail"
        && !all.contains(&o)
    {
        return Err(format!(
            "bench load {o}: unknown; known: reconcile, slack-actions, organization, org-trail, {}",
            all.join(", ")
        ));
    }
    if only == Some("slack-actions") {
        crate::build_bins(&["slack-actions"], true)?;
        return actions().await;
    }
    let names: Vec<&str> = match only {
        None => all.to_vec(),
        Some("reconcile" | "organization" | "org-trail") => Vec::new(),
        Some(f) => vec![f],
    };
    let build: &[&str] = match only {
        Some("organization") => &["rds-maintenance-checker"],
        _ if names.is_empty() => &["cloudtrail-event-handler"],
        _ => &names,
    };
    eprintln!("bench load: building {} (release)", build.join(", "));
    crate::build_bins(build, true)?;
    let tables = Moto::start_with(&crate::python::bin("moto_server"))?;
    let config = tables.sdk_config().await;
    let mut rows = Vec::new();
    for function in names.iter().copied() {
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

    let org_rows = match only {
        None | Some("organization") => {
            let slack = SlackFake::start().await.map_err(|e| e.to_string())?;
            let mut rows = Vec::new();
            for concurrency in [1, 8, 32] {
                rows.push(org(concurrency, &slack).await?);
            }
            rows
        }
        Some(_) => Vec::new(),
    };

    let trail_rows = match only {
        None | Some("org-trail") => {
            let slack = SlackFake::start().await.map_err(|e| e.to_string())?;
            vec![
                org_trail(false, &slack).await?,
                org_trail(true, &slack).await?,
            ]
        }
        Some(_) => Vec::new(),
    };

    let reconcile_rows = match only {
        None | Some("reconcile") => {
            let (web, looked) = reconcile(&tables).await?;
            vec![web, looked]
        }
        Some(_) => Vec::new(),
    };

    println!(
        "\nload: release binaries behind the local Runtime API, one warm process each, one run"
    );
    println!(
        "{:<26} {:<12} {:<44} {:>6} {:>9} {:>12} {:>9} {:>10}",
        "function", "mode", "load", "invoc.", "seconds", "items/s", "messages", "peak RSS"
    );
    for r in rows
        .iter()
        .chain(&org_rows)
        .chain(&trail_rows)
        .chain(&reconcile_rows)
    {
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
    if !rows.is_empty() {
        println!("\nexactly once (DEDUPE_TABLE in moto), per Slack message of the plain run:");
    }
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
    if let [one, rest @ ..] = org_rows.as_slice() {
        println!(
            "\nacross an organization (100 accounts × 4 regions, each API answer after 20 ms), by ORG_CONCURRENCY:"
        );
        for r in std::iter::once(one).chain(rest) {
            println!(
                "  {:<8} {:>6.2} s ({:>4.1}x faster than 1 at a time), peak RSS {:.1} MB",
                r.mode,
                r.secs,
                one.secs / r.secs,
                r.peak_mb
            );
        }
    }
    if let [trail, empty] = trail_rows.as_slice() {
        org_trail_summary(trail, empty);
    }
    let [web, looked] = reconcile_rows.as_slice() else {
        return Ok(());
    };
    let n = web.messages.max(1) as f64;
    let per = |r: &Row| r.secs * 1000.0 / n;
    println!(
        "\nthe reconcile step (Web API; it runs only after an unknown outcome or a crashed attempt), per Slack message,\n\
         in a channel that took every message of the run within the last minutes (each look that finds nothing reads\n\
         every page back to the attempt's start, at most 10 pages of 200 messages: the worst case):\n\
         {:<26} {} message(s): posted {:.2} ms; first post a 500, looked for, posted {:.2} ms (look + failed attempt +{:.2} ms, {:.1}x), none posted twice",
        web.function,
        web.messages,
        per(web),
        per(looked),
        per(looked) - per(web),
        per(looked) / per(web),
    );
    Ok(())
}

/// slack-actions (alone: `cargo xtask bench load slack-actions`): what Slack waits for. Cold:
/// 20 fresh processes, each answering one Acknowledge click (start of the process to the
/// answer: the cold start plus the handler). Warm: one process, 300 clicks in a row. Each
/// click is signed as Slack signs it, on its own message; the table is moto and Slack the
/// local fake, so real DynamoDB and Slack add their round trips (a few ms each in-region).
async fn actions() -> Result<(), String> {
    use opswatch_devkit::slack_api::{ApiMessage, BOT_ID, DEMO_TOKEN};
    use opswatch_devkit::slack_requests::{self as requests, SIGNING_SECRET};
    use opswatch_slack::actions::ActionKey;
    let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
    opswatch_devkit::dynamodb::create_table(&moto.sdk_config().await, "actions").await?;
    let api = opswatch_devkit::SlackApiFake::start(DEMO_TOKEN)
        .await
        .map_err(|e| e.to_string())?;
    let key = ActionKey::from_signing_secret(&opswatch_slack::Secret::new(SIGNING_SECRET));
    let block = serde_json::to_value(key.block(None)).map_err(|e| e.to_string())?;
    let click = || {
        let ts = api.post_as_person("C0ALERTS000", "an alert", Value::Null);
        let message = ApiMessage {
            channel: "C0ALERTS000".into(),
            ts,
            thread_ts: None,
            text: "an alert".into(),
            blocks: json!([{"type": "section", "text": {"type": "mrkdwn", "text": "an alert"}}, block]),
            edits: Vec::new(),
            metadata: Value::Null,
            bot_id: Some(BOT_ID.into()),
        };
        let value = key.ack_value(None);
        let body = requests::click(&message, "U0ONCALL01", "opswatch_ack", &value);
        requests::signed(SIGNING_SECRET, &body)
            .to_string()
            .into_bytes()
    };
    let function = release("slack-actions", moto.aws_env(), None)
        .env("DEDUPE_TABLE", "actions")
        .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
        .env("SLACK_API_URL", api.url())
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("ACTIONS_ALLOWED_USERS", "U0ONCALL01")
        .env("LOG_LEVEL", "warn");
    let ms = |d: Option<Duration>| d.unwrap_or_default().as_secs_f64() * 1000.0;
    let answered = |a: &Invoked| -> Result<(), String> {
        match &a.outcome {
            Outcome::Response(r) if r.contains("\"statusCode\":200") => Ok(()),
            other => Err(format!("slack-actions: {other:?}\n{}", a.stderr)),
        }
    };
    eprintln!("bench load: slack-actions, 20 cold starts and 300 warm clicks");
    let mut cold = Vec::new();
    for _ in 0..20 {
        let a = function.invoke(&click()).await.map_err(|e| e.to_string())?;
        answered(&a)?;
        cold.push((ms(a.ready_after) + ms(a.handler_time), ms(a.handler_time)));
    }
    let events: Vec<Vec<u8>> = (0..300).map(|_| click()).collect();
    let warm = function
        .invoke_many(&events)
        .await
        .map_err(|e| e.to_string())?;
    let mut warm_ms = Vec::new();
    for a in &warm {
        answered(a)?;
        warm_ms.push(ms(a.handler_time));
    }
    let edited = api
        .messages()
        .iter()
        .filter(|m| !m.edits.is_empty())
        .count();
    if edited != 320 {
        return Err(format!(
            "slack-actions: {edited} of 320 clicks edited their message"
        ));
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let mut total: Vec<f64> = cold.iter().map(|c| c.0).collect();
    let mut first: Vec<f64> = cold.iter().map(|c| c.1).collect();
    let peak = warm.last().and_then(|a| a.peak_rss_kb).unwrap_or(0) as f64 / 1024.0;
    println!(
        "\nslack-actions: an Acknowledge click (verify, remember the signature, record the ack, chat.update), release binary, moto + the fake Slack"
    );
    println!(
        "  cold start to the answer: median {:.1} ms, max {:.1} ms (of which the handler: median {:.1} ms), 20 processes",
        pct(&mut total, 0.5),
        pct(&mut total, 1.0),
        pct(&mut first, 0.5)
    );
    println!(
        "  warm: median {:.2} ms, p99 {:.2} ms, max {:.2} ms per click, 300 clicks; peak RSS {peak:.1} MB",
        pct(&mut warm_ms, 0.5),
        pct(&mut warm_ms, 0.99),
        pct(&mut warm_ms, 1.0)
    );
    println!(
        "  Slack waits 3,000 ms: the slowest cold answer used {:.1} % of it",
        pct(&mut total, 1.0) / 30.0
    );
    Ok(())
}

/// 10,000 SQS messages (10 invocations of 1,000), each announcing its own log file.
async fn cloudtrail(
    dedupe: Option<&Dedupe>,
    again: bool,
    slack: &SlackFake,
) -> Result<Row, String> {
    let (moto, events) = cloudtrail_load(10_000, "load").await?;
    let before = slack.received().len();
    eprintln!("bench load: cloudtrail-event-handler, 10,000 SQS messages");
    let answers = lambda("cloudtrail-event-handler", moto.aws_env(), slack, dedupe)
        .invoke_many(&events)
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check_batches("cloudtrail-event-handler", &answers)?;
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

/// Like [`check`], and no SQS message may have failed.
fn check_batches(name: &str, answers: &[Invoked]) -> Result<(f64, f64), String> {
    let checked = check(name, answers)?;
    for a in answers {
        if let Outcome::Response(r) = &a.outcome
            && r.contains("\"itemIdentifier\"")
        {
            return Err(format!("{name}: items failed: {r}"));
        }
    }
    Ok(checked)
}

/// The reconcile step's cost (Web API mode, which alone can look): 1,000 log files posted
/// with the dedupe table, then 1,000 others whose every message's first post is answered
/// with a 500 (Slack may have taken it), so each is looked for in the channel before it is
/// posted again. Both in one fake workspace; the second run must post each message once.
async fn reconcile(tables: &Moto) -> Result<(Row, Row), String> {
    let api = opswatch_devkit::SlackApiFake::start(opswatch_devkit::slack_api::DEMO_TOKEN)
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (run, unknown) in [("web-api", false), ("reconcile", true)] {
        let table = format!("reconcile-{run}");
        opswatch_devkit::dynamodb::create_table(&tables.sdk_config().await, &table).await?;
        let (moto, events) = cloudtrail_load(1_000, run).await?;
        if unknown {
            api.fail_first_posts();
        }
        let before = api.messages().len();
        let dedupe = Dedupe {
            endpoint: tables.endpoint(),
            table,
        };
        let function = release("cloudtrail-event-handler", moto.aws_env(), Some(&dedupe))
            .env("SLACK_BOT_TOKEN", opswatch_devkit::slack_api::DEMO_TOKEN)
            .env("SLACK_CHANNEL", "#alerts")
            .env("SLACK_API_URL", api.url())
            .env("THREADS", "off")
            .env("LOG_LEVEL", "error");
        eprintln!("bench load: cloudtrail-event-handler, Web API, 1,000 SQS messages ({run})");
        let answers = function
            .invoke_many(&events)
            .await
            .map_err(|e| e.to_string())?;
        let (secs, peak_mb) = check_batches("cloudtrail-event-handler", &answers)?;
        rows.push(Row {
            function: "cloudtrail-event-handler",
            mode: run,
            load: if unknown {
                "1,000 log files, every first post a 500".into()
            } else {
                "1,000 log files, Web API".into()
            },
            items: 1_000,
            invocations: answers.len(),
            secs,
            messages: api.messages().len() - before,
            peak_mb,
        });
    }
    let (Some(lookup), Some(plain)) = (rows.pop(), rows.pop()) else {
        return Err("reconcile: two runs expected".into());
    };
    if lookup.messages != plain.messages {
        return Err(format!(
            "reconcile: {} messages after unknown outcomes, {} without: a look failed to prevent or allow a post",
            lookup.messages, plain.messages
        ));
    }
    Ok((plain, lookup))
}

/// The CloudTrail handler's memory in the template (MB): what its GB-seconds are counted at.
const CLOUDTRAIL_MEMORY_MB: f64 = 256.0;

/// Lambda's CPU share grows with memory: one vCPU at 1,769 MB.
const MB_PER_VCPU: f64 = 1769.0;

/// An organization trail's hour, shaped: 1,000 log files of 100 member accounts, mostly small
/// (a quiet account's five minutes), a few of several MB (a busy one's), announced by SQS in
/// batches of 10 as CloudTrail's SNS → SQS delivery does; `MIN_SEVERITY=warning`, as an
/// organization would run it (every write of 100 accounts in Slack is nobody's wish). With
/// `empty`, the same 1,000 files with no records: what a file costs beside its events.
async fn org_trail(empty: bool, slack: &SlackFake) -> Result<Row, String> {
    use opswatch_cloudtrail_event_handler::synthetic::{Rng, Trail};
    let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
    let s3 = moto.s3_client().await;
    let bucket = "org-trail-logs";
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| format!("moto: {e:?}"))?;
    let trail = Trail::organization(100);
    let mut rng = Rng::new(30);
    let (mut keys, mut events, mut json_bytes) = (Vec::new(), 0u64, 0u64);
    eprintln!(
        "bench load: an organization trail's 1,000 log files{}",
        if empty { ", empty" } else { "" }
    );
    for i in 0..1000u64 {
        let account = trail.accounts[rng.below(100) as usize].clone();
        let records = match (empty, rng.below(100)) {
            (true, _) => 0,
            (false, 0..=1) => 3000 + rng.below(3000),
            (false, 2..=14) => 200 + rng.below(800),
            (false, _) => 5 + rng.below(95),
        };
        let mut json = Vec::new();
        trail
            .write_log(&mut rng, &account, records, &mut json)
            .map_err(|e| e.to_string())?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        gz.write_all(&json).map_err(|e| e.to_string())?;
        let body = gz.finish().map_err(|e| e.to_string())?;
        let key = format!(
            "AWSLogs/o-exampleorg1/{account}/CloudTrail/us-east-1/2026/11/25/{account}_CloudTrail_us-east-1_20261125T{:04}Z_{i:05}{}.json.gz",
            i % 2400,
            if empty { "e" } else { "" }
        );
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| format!("seeding {key}: {e:?}"))?;
        keys.push(key);
        events += records;
        json_bytes += json.len() as u64;
    }
    let batches = sqs_batches(bucket, &keys, 10);
    let before = slack.received().len();
    let answers = lambda("cloudtrail-event-handler", moto.aws_env(), slack, None)
        .env("MIN_SEVERITY", "warning")
        .invoke_many(&batches)
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check_batches("cloudtrail-event-handler", &answers)?;
    Ok(Row {
        function: "cloudtrail-event-handler",
        mode: if empty { "org, empty" } else { "org trail" },
        load: if empty {
            "the same 1,000 files, no records".into()
        } else {
            format!(
                "1,000 files, 100 accounts, {:.0} MB, {events} events",
                json_bytes as f64 / 1e6
            )
        },
        items: if empty { 1000 } else { events as usize },
        invocations: answers.len(),
        secs,
        messages: slack.received().len() - before,
        peak_mb,
    })
}

/// The organization trail's figures: per file, per event, and what a million events cost.
fn org_trail_summary(trail: &Row, empty: &Row) {
    let per_file_s = empty.secs / 1000.0;
    let per_event_s = (trail.secs - empty.secs).max(0.0) / trail.items as f64;
    // Reading and judging events is CPU-bound: its time stretches as the CPU share shrinks
    // (one vCPU at 1,769 MB). A file's own cost here is mostly waiting on moto's S3, which
    // does not stretch. GB-seconds are time at the template's memory.
    let stretch = MB_PER_VCPU / CLOUDTRAIL_MEMORY_MB;
    let gb = CLOUDTRAIL_MEMORY_MB / 1024.0;
    let files_per_million = 1000.0 / trail.items as f64 * 1e6;
    let events_gb_s = per_event_s * 1e6 * stretch * gb;
    let files_gb_s = per_file_s * files_per_million * gb;
    println!(
        "\nan organization trail (1,000 files of 100 accounts, MIN_SEVERITY=warning): {:.0} events/s on one core of this machine,\n\
         peak RSS {:.1} MB. A file costs {:.2} ms beside its events (S3 GET from moto, the message, the pipeline); an event {:.2} µs\n\
         (read, judged, its alert posted to the local webhook). At the template's {CLOUDTRAIL_MEMORY_MB:.0} MB (Lambda gives {:.2} vCPU, so\n\
         CPU-bound time is {stretch:.1}× longer than here), a million events cost {events_gb_s:.1} GB-s of reading and judging, plus\n\
         {files_gb_s:.1} GB-s for the {files_per_million:.0} files that carry them at this trail's shape: {:.1} GB-s, ${:.5} at arm64's $0.0000133334 per GB-s",
        trail.items as f64 / trail.secs,
        trail.peak_mb.max(empty.peak_mb),
        per_file_s * 1e3,
        per_event_s * 1e6,
        CLOUDTRAIL_MEMORY_MB / MB_PER_VCPU,
        events_gb_s + files_gb_s,
        (events_gb_s + files_gb_s) * 0.000_013_333_4,
    );
}

/// `n` SQS messages (batches of 1,000), each announcing its own log file (named with `tag`,
/// so that two runs' messages have different keys) in a fresh moto's S3 (the 40-record sample: 9 write calls, the rest reads and a service event).
async fn cloudtrail_load(n: usize, tag: &str) -> Result<(Moto, Vec<Vec<u8>>), String> {
    let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
    let files = opswatch_devkit::fixtures::cloudtrail_log_files(&crate::root())
        .map_err(|e| format!("the CloudTrail sample: {e}"))?;
    let (bucket, key, body) = files.first().cloned().ok_or("no CloudTrail sample")?;
    let s3 = moto.s3_client().await;
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| format!("moto: {e:?}"))?;
    let keys: Vec<String> = (0..n)
        .map(|i| key.replace("_mixed.json.gz", &format!("_{tag}{i:05}.json.gz")))
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
    let events = sqs_batches(&bucket, &keys, 1000);
    Ok((moto, events))
}

/// SQS events of `per_batch` messages each, each message announcing one log file of `keys`
/// as CloudTrail's delivery notification does (message ids numbered in order).
fn sqs_batches(bucket: &str, keys: &[String], per_batch: usize) -> Vec<Vec<u8>> {
    keys.chunks(per_batch)
        .enumerate()
        .map(|(batch, chunk)| {
            let records: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    let n = batch * per_batch + i;
                    json!({
                        "messageId": format!("00000000-0000-4000-8000-{n:012}"),
                        "receiptHandle": format!("AQEB{n}"),
                        "body": json!({"s3Bucket": bucket, "s3ObjectKey": [key]}).to_string(),
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
        .collect()
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
                tags: Vec::new(),
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

/// The organization row: 100 accounts (the function's own and 99 members, each entered
/// with `AssumeRole`) × 4 regions, two clusters with a pending action in each region, their
/// windows and tags described; every answer of the fake RDS and STS comes after 20 ms.
async fn org(concurrency: usize, slack: &SlackFake) -> Result<Row, String> {
    const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
    let accounts: Vec<String> = (0..100)
        .map(|i| format!("{:012}", 200_000_000_000u64 + i))
        .collect();
    let arn = |account: &str, region: &str, n: usize| {
        format!("arn:aws:rds:{region}:{account}:cluster:orders-{n}")
    };
    let mut resources = Vec::new();
    let mut fleet = Fleet::default();
    for (i, account) in accounts.iter().enumerate() {
        for region in REGIONS {
            for n in 0..2 {
                resources.push(Resource {
                    resource_identifier: arn(account, region, n),
                    pending_maintenance_action_details: vec![Action {
                        action: "system-update".into(),
                        description: Some("Aurora PostgreSQL 16.6".into()),
                        auto_applied_after_date: Some(format!(
                            "2026-12-{:02}T00:00:00Z",
                            1 + i % 28
                        )),
                        forced_apply_date: None,
                        opt_in_status: None,
                        current_apply_date: None,
                    }],
                });
                fleet.clusters.push(Described {
                    identifier: format!("orders-{n}"),
                    arn: arn(account, region, n),
                    preferred_maintenance_window: Some("sun:03:00-sun:03:30".into()),
                    cluster: None,
                    tags: vec![("team".into(), format!("team-{}", i % 10))],
                });
            }
        }
    }
    let fake = RdsFake::start(resources).await.map_err(|e| e.to_string())?;
    fake.describe(fleet);
    fake.home_account(&accounts[0]);
    for a in &accounts[1..] {
        fake.member_role(a, "opswatch-rds-reader", None);
    }
    fake.latency(Duration::from_millis(20));
    let before = slack.received().len();
    let event = json!({"version": "0", "id": "load", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": "2026-11-25T08:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}});
    eprintln!(
        "bench load: rds-maintenance-checker, 100 accounts × 4 regions, ORG_CONCURRENCY={concurrency}"
    );
    let answers = lambda("rds-maintenance-checker", no_aws(), slack, None)
        .env("AWS_ENDPOINT_URL_RDS", fake.url())
        .env("AWS_ENDPOINT_URL_STS", fake.url())
        .env("RDS_REGIONS", REGIONS.join(","))
        .env("ORG_ACCOUNTS", accounts.join(","))
        .env("MEMBER_ROLE_NAME", "opswatch-rds-reader")
        .env("ORG_CONCURRENCY", concurrency.to_string())
        .invoke_many(&[event.to_string().into_bytes()])
        .await
        .map_err(|e| e.to_string())?;
    let (secs, peak_mb) = check("rds-maintenance-checker", &answers)?;
    let response = match &answers[0].outcome {
        Outcome::Response(body) => serde_json::from_str::<Value>(body).unwrap_or_default(),
        _ => Value::Null,
    };
    if response["actions"] != 800 || response["failedRegions"] != json!([]) {
        return Err(format!(
            "the organization run did not read every account: {response}"
        ));
    }
    Ok(Row {
        function: "rds-maintenance-checker",
        mode: match concurrency {
            1 => "org ×1",
            8 => "org ×8",
            _ => "org ×32",
        },
        load: "100 accounts × 4 regions, 800 actions".into(),
        items: 800,
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
