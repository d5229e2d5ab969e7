//! Exactly once under every fault, end to end through the real CloudTrail binary: several
//! log files of write events from several principals, delivered while Slack answers 500s,
//! 429s and loses answers after taking the message, DynamoDB throttles and loses answers
//! after writing, and invocations are killed mid-way and their batches delivered again, as
//! SQS does. Every event must be posted exactly once (Web API mode, with threads: every
//! reply in its principal's one thread, every parent counting its replies), and in webhook
//! mode nothing may be lost, with duplicates only of messages whose answer was lost.
//!
//! The faults are drawn from seeded sequences, but which call meets which fault depends on
//! timing, so each run differs a little; every run must hold. The figures are printed
//! (`--no-capture`); `FAULT_LOG_DIR=dir` keeps each delivery's log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use opswatch_devkit::fixtures::CLOUDTRAIL_PREFIX;
use opswatch_devkit::slack_api::{ApiChaos, DEMO_TOKEN, Faults, SlackApiFake};
use opswatch_devkit::{DynamoFaultProxy, DynamoFaults};
use opswatch_e2e::*;
use serde_json::{Value, json};

const CLOUDTRAIL: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const TABLE: &str = "opswatch-dedupe";
const FILES: usize = 6;
const EVENTS_PER_FILE: usize = 300;
const PRINCIPALS: [&str; 4] = ["deploy", "ci-runner", "alice", "terraform"];

/// The marker of event `i` of file `f`, as its alert line shows it.
fn marker(f: usize, i: usize) -> String {
    format!("marker=f{f}e{i:04}")
}

/// The principal who made event `i` of file `f`: file 0 is all `deploy`'s (an alert of
/// several messages), the others take turns.
fn principal_of(f: usize, i: usize) -> &'static str {
    if f == 0 {
        PRINCIPALS[0]
    } else {
        PRINCIPALS[i % PRINCIPALS.len()]
    }
}

/// Event `i` of file `f`: a write call by [`principal_of`], marked so that it can be counted
/// in Slack.
fn record(f: usize, i: usize) -> Value {
    let principal = principal_of(f, i);
    let identity = if principal == "alice" {
        json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
               "principalId": "AIDAEXAMPLEALICE0001", "accountId": "111122223333", "userName": "alice"})
    } else {
        json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/{principal}/run-{f}"),
               "principalId": format!("AROAEXAMPLE{}:run-{f}", principal.len()), "accountId": "111122223333",
               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": principal,
                 "arn": format!("arn:aws:iam::111122223333:role/{principal}")}}})
    };
    json!({
        "eventVersion": "1.09", "eventTime": format!("2026-11-25T09:{:02}:{:02}Z", 10 + f, i % 60),
        "eventSource": "ec2.amazonaws.com", "eventName": "CreateTags", "awsRegion": "us-east-1",
        "readOnly": false, "recipientAccountId": "111122223333", "eventType": "AwsApiCall",
        "eventID": format!("0a1b2c3d-{f:04}-4000-8000-{i:012}"),
        "sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0",
        "userIdentity": identity,
        "requestParameters": {"marker": format!("f{f}e{i:04}")}
    })
}

struct Load {
    moto: Moto,
    keys: Vec<String>,
}

/// moto with the dedupe table and [`FILES`] log files in the trail's bucket.
async fn load() -> Load {
    let moto = moto_with_table_and_trail_bucket(TABLE).await;
    let mut keys = Vec::new();
    for f in 0..FILES {
        let records: Vec<Value> = (0..EVENTS_PER_FILE).map(|i| record(f, i)).collect();
        let key = format!(
            "{CLOUDTRAIL_PREFIX}111122223333_CloudTrail_us-east-1_20261125T09{:02}Z_fault{f}.json.gz",
            10 + f
        );
        put_log(&moto, &key, &records).await;
        keys.push(key);
    }
    Load { moto, keys }
}

/// A DynamoDB in front of `l`'s moto that throttles 20 % of the calls and loses the answer
/// of 5 % after doing them.
async fn faulty_dynamo(l: &Load, seed: u64) -> DynamoFaultProxy {
    DynamoFaultProxy::start(
        &l.moto.endpoint(),
        DynamoFaults {
            throttle_per_mille: 200,
            lost_answer_per_mille: 50,
            seed,
        },
    )
    .await
    .expect("DynamoDB fault proxy")
}

/// The faults injected, as the figures line says them; each kind must have happened, or
/// the test proved nothing.
fn injected(slack: Faults, dynamo: &DynamoFaultProxy) -> String {
    let (calls, throttled, lost) = dynamo.counts();
    assert!(
        slack.server_errors > 0 && slack.rate_limited > 0 && slack.lost > 0,
        "{slack:?}"
    );
    assert!(
        throttled > 0 && lost > 0,
        "DynamoDB: {throttled} throttled, {lost} lost"
    );
    format!(
        "Slack faults: {} 5xx, {} 429, {} lost answers; DynamoDB: {calls} calls, {throttled} throttled, {lost} answers lost",
        slack.server_errors, slack.rate_limited, slack.lost
    )
}

/// An SQS batch announcing the log files of `pending` (message id `m-<file>`).
fn batch(keys: &[String], pending: &BTreeSet<usize>) -> Vec<u8> {
    let ids: Vec<(String, &str)> = pending
        .iter()
        .map(|&f| (format!("m-{f}"), keys[f].as_str()))
        .collect();
    let messages: Vec<(&str, &str)> = ids.iter().map(|(id, k)| (id.as_str(), *k)).collect();
    sqs_for(&messages)
}

/// What happened to the invocations of one run.
#[derive(Debug, Default)]
struct Rounds {
    rounds: usize,
    killed: usize,
    /// Messages posted by invocations that were then killed.
    posted_then_killed: usize,
    timed_out: usize,
    failed_units: usize,
}

/// Deliver every file as SQS would: the failed messages of a partial batch response again,
/// the whole batch again after a kill, a timeout or a failed invocation, until none is left.
/// The deliveries named in `kills` (delivery, n) are killed as soon as they have posted n
/// messages: whatever they were doing next (recording the post, counting a reply, editing a
/// parent, posting the next message) is cut short.
async fn deliver_until_done(
    function: &LocalLambda,
    keys: &[String],
    kills: &[(usize, usize)],
    posted: impl Fn() -> usize + Clone + Send + Sync + 'static,
) -> Rounds {
    let mut pending: BTreeSet<usize> = (0..keys.len()).collect();
    let mut r = Rounds::default();
    while !pending.is_empty() {
        assert!(
            r.rounds < 40,
            "still pending after 40 deliveries: {pending:?} ({r:?})"
        );
        let mut f = function.clone();
        let before = posted();
        if let Some(&(_, n)) = kills.iter().find(|(round, _)| *round == r.rounds) {
            let posted = posted.clone();
            f = f.kill_when(move || posted() >= before + n);
        }
        let started = std::time::Instant::now();
        let invoked = f.invoke(&batch(keys, &pending)).await.expect("runs");
        println!(
            "delivery {}: {} files, {} after {} ms, {} messages posted",
            r.rounds,
            pending.len(),
            match &invoked.outcome {
                Outcome::Response(_) => "answered",
                Outcome::Exited(None) => "killed",
                Outcome::TimedOut => "timed out",
                _ => "failed",
            },
            started.elapsed().as_millis(),
            posted() - before
        );
        if let Ok(dir) = std::env::var("FAULT_LOG_DIR") {
            let _ = std::fs::write(format!("{dir}/round-{}.log", r.rounds), &invoked.stderr);
        }
        r.rounds += 1;
        match &invoked.outcome {
            Outcome::Response(body) => {
                let v: Value = serde_json::from_str(body).expect("JSON");
                let failed: BTreeSet<usize> = v["batchItemFailures"]
                    .as_array()
                    .expect("a partial batch response")
                    .iter()
                    .filter_map(|x| {
                        x["itemIdentifier"]
                            .as_str()?
                            .strip_prefix("m-")?
                            .parse()
                            .ok()
                    })
                    .collect();
                r.failed_units += failed.len();
                pending = failed;
            }
            Outcome::Exited(None) => {
                r.killed += 1;
                r.posted_then_killed += posted() - before;
            }
            Outcome::TimedOut => r.timed_out += 1,
            other => panic!("unexpected outcome {other:?}:\n{}", invoked.stderr),
        }
    }
    r
}

/// The markers in a text, in order (`marker=f0e0001` → `f0e0001`).
fn markers(text: &str) -> Vec<&str> {
    text.match_indices("marker=")
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// How often each event's marker appears in `texts`: (lost, duplicated) markers.
fn tally(texts: &[String]) -> (Vec<String>, Vec<String>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for t in texts {
        for m in markers(t) {
            *seen.entry(m).or_default() += 1;
        }
    }
    let (mut lost, mut duplicated) = (Vec::new(), Vec::new());
    for f in 0..FILES {
        for i in 0..EVENTS_PER_FILE {
            let m = marker(f, i);
            match seen.get(&m["marker=".len()..]).copied().unwrap_or(0) {
                0 => lost.push(m),
                1 => {}
                _ => duplicated.push(m),
            }
        }
    }
    assert_eq!(seen.len(), FILES * EVENTS_PER_FILE, "only the events sent");
    (lost, duplicated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_threads_every_event_exactly_once_under_every_fault() {
    let l = load().await;
    let dynamo = faulty_dynamo(&l, 26).await;
    let api = std::sync::Arc::new(SlackApiFake::start(DEMO_TOKEN).await.expect("fake Slack"));
    let counter = api.clone();
    api.chaos(ApiChaos {
        server_error_per_mille: 100,
        rate_limited_per_mille: 100,
        lost_per_mille: 80,
        seed: 2026,
    });
    let mut function = lambda(CLOUDTRAIL, "cloudtrail-event-handler", l.moto.aws_env())
        .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
        .env("SLACK_CHANNEL", "#alerts")
        .env("SLACK_API_URL", api.url())
        .env("DEDUPE_TABLE", TABLE)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo.url())
        .env("SLACK_MAX_RETRY_SECONDS", "2");
    function.timeout = Duration::from_secs(20);
    // The first delivery is killed as it posts, and so is a later one.
    let rounds = deliver_until_done(&function, &l.keys, &[(0, 3), (1, 4), (3, 2)], move || {
        counter.messages().len()
    })
    .await;

    let messages = api.messages();
    let texts: Vec<String> = messages.iter().map(|m| all_text(&m.body())).collect();
    let (lost, duplicated) = tally(&texts);
    let injected = injected(api.faults(), &dynamo);
    println!(
        "fault test (Web API, threads): {} events in {FILES} files from {} principals; {} messages; lost {}, duplicated {}; \
         {injected}; {} deliveries, {} killed (after posting {} messages), {} timed out, {} units failed and redelivered",
        FILES * EVENTS_PER_FILE,
        PRINCIPALS.len(),
        messages.len(),
        lost.len(),
        duplicated.len(),
        rounds.rounds,
        rounds.killed,
        rounds.posted_then_killed,
        rounds.timed_out,
        rounds.failed_units,
    );
    let some = |v: &[String]| v.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    assert!(
        lost.is_empty(),
        "{} events lost: {} …",
        lost.len(),
        some(&lost)
    );
    assert!(
        duplicated.is_empty(),
        "{} events duplicated: {} …",
        duplicated.len(),
        some(&duplicated)
    );
    // The test is worth something only if the faults happened (the Slack and DynamoDB ones
    // are checked by `injected`).
    assert!(
        rounds.killed >= 1 && rounds.posted_then_killed > 0,
        "{rounds:?}"
    );

    // Threads: each principal's alerts are one thread — one top-level message, every other
    // message a reply to it — and its parent counts the alerts that replied (their first
    // messages: a later part's header ends in "(k/n)", k > 1).
    for p in PRINCIPALS {
        let mine: Vec<&opswatch_devkit::ApiMessage> = messages
            .iter()
            .zip(&texts)
            .filter(|(_, t)| {
                markers(t).iter().any(|m| {
                    let (f, i) = m[1..].split_once('e').expect("f<file>e<event>");
                    principal_of(f.parse().expect("file"), i.parse().expect("event")) == p
                })
            })
            .map(|(m, _)| m)
            .collect();
        let top: Vec<_> = mine.iter().filter(|m| m.thread_ts.is_none()).collect();
        assert_eq!(top.len(), 1, "{p}: one thread, not {}", top.len());
        let parent = top[0];
        let replies: Vec<_> = mine.iter().filter(|m| m.ts != parent.ts).collect();
        for m in &replies {
            assert_eq!(
                m.thread_ts.as_deref(),
                Some(parent.ts.as_str()),
                "{p}: a reply outside its thread"
            );
        }
        let alerts = replies.iter().filter(|m| !later_part(&m.text)).count();
        let note = match alerts {
            1 => "1 more alert in the thread".to_owned(),
            n => format!("{n} more alerts in the thread"),
        };
        let shown = all_text(&parent.body());
        assert!(
            shown.contains(&note),
            "{p}: the parent should say {note:?}:\n{shown}"
        );
        println!(
            "{p}: {} messages, one thread; the parent says {note:?}",
            mine.len()
        );
    }
}

/// Whether a message's text ends in " (k/n)" with k > 1: a later part of an alert.
fn later_part(text: &str) -> bool {
    text.strip_suffix(')')
        .and_then(|t| t.rsplit_once(" ("))
        .and_then(|(_, kn)| kn.split_once('/'))
        .and_then(|(k, _)| k.parse::<u32>().ok())
        .is_some_and(|k| k > 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_nothing_lost_and_duplicates_only_where_an_answer_was_lost() {
    let l = load().await;
    let dynamo = faulty_dynamo(&l, 27).await;
    let hook = std::sync::Arc::new(SlackFake::start().await.expect("fake webhook"));
    hook.chaos(ApiChaos {
        server_error_per_mille: 100,
        rate_limited_per_mille: 100,
        lost_per_mille: 80,
        seed: 2027,
    });
    let mut function = lambda(CLOUDTRAIL, "cloudtrail-event-handler", l.moto.aws_env())
        .env("SLACK_WEBHOOK_URL", hook.url())
        .env("DEDUPE_TABLE", TABLE)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo.url())
        .env("SLACK_MAX_RETRY_SECONDS", "2");
    function.timeout = Duration::from_secs(20);
    let counter = hook.clone();
    let rounds =
        deliver_until_done(&function, &l.keys, &[], move || counter.received().len()).await;

    let texts: Vec<String> = hook.received().iter().map(all_text).collect();
    let (lost, duplicated) = tally(&texts);
    let lost_answers: Vec<String> = hook.lost().iter().map(all_text).collect();
    let injected = injected(hook.faults(), &dynamo);
    println!(
        "fault test (webhook): {} events in {FILES} files; {} messages; lost {}, duplicated {}; \
         {injected}; {} deliveries, {} units failed and redelivered",
        FILES * EVENTS_PER_FILE,
        texts.len(),
        lost.len(),
        duplicated.len(),
        rounds.rounds,
        rounds.failed_units,
    );
    assert!(
        lost.is_empty(),
        "{} events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(8)]
    );
    // A webhook cannot be asked what it took: where an answer was lost, the message is
    // posted again. Only there.
    for m in &duplicated {
        assert!(
            lost_answers
                .iter()
                .any(|t| markers(t).contains(&&m["marker=".len()..])),
            "{m} was posted twice, and no answer about it was lost"
        );
    }
}
