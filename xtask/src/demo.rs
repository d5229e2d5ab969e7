//! `cargo xtask demo`: every function on its `events/` samples, against moto (AWS: S3, the
//! dedupe table, …) and a local Slack Web API, printing each Slack message as it would read,
//! in its channel and thread. The functions run as deployed in Web API mode: a bot token, a
//! default channel (`#alerts`), a route (critical alerts to `#security`) and the dedupe table,
//! so the run shows routing, threads (replies, the parent's count) and exactly once (a log file
//! announced twice, a notification delivered twice).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use opswatch_devkit::slack_api::{DEMO_TOKEN, SlackApiFake};
use opswatch_devkit::slack_requests::SIGNING_SECRET;
use opswatch_devkit::{LocalLambda, Moto, Outcome};

use crate::show::{BOLD, BOLD_CYAN, CYAN, DIM, RED, RESET, YELLOW, ansi};

/// The dedupe table the demo creates in moto.
pub const DEDUPE_TABLE: &str = "opswatch-dedupe";
/// The demo's route: critical alerts to #security, everything else to the default channel.
const ROUTES: &str = r##"[{"severity": "critical", "channel": "#security"}]"##;
/// CloudTrail's custom rules in the demo: the deploy role's tagging is noise.
const RULES: &str = r#"[{"name": "deploy-tags", "ignore": true, "match": {"eventName": "CreateTags", "userIdentity.sessionContext.sessionIssuer.userName": "deploy"}}]"#;
const ACCOUNT_NAMES: &str = "111122223333=prod,444455556666=staging";

/// What the fake Slack workspace held before an invocation: to show what it added.
struct Seen {
    messages: usize,
    edits: Vec<usize>,
}

fn seen(slack: &SlackApiFake) -> Seen {
    let m = slack.messages();
    Seen {
        messages: m.len(),
        edits: m.iter().map(|x| x.edits.len()).collect(),
    }
}

/// Print what one invocation answered and what it posted or edited.
fn report(slack: &SlackApiFake, before: &Seen, invoked: &opswatch_devkit::Invoked) {
    match &invoked.outcome {
        Outcome::Response(r) => println!("  response: {r}"),
        Outcome::Error {
            error_type,
            error_message,
        } => println!(
            "  {}failed ({error_type}): {error_message}{}",
            ansi(YELLOW),
            ansi(RESET)
        ),
        other => println!(
            "  {}{other:?}{}\n{}",
            ansi(RED),
            ansi(RESET),
            invoked.stderr
        ),
    }
    let messages = slack.messages();
    if messages.len() == before.messages {
        // The EMF line is printed at every log level: how many were found already posted.
        let deduplicated = invoked
            .stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get("Deduplicated").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        if deduplicated > 0 {
            println!("  (no Slack message: {deduplicated} already posted — exactly once)");
        } else {
            println!("  (no Slack message)");
        }
    }
    let header = |ts: &str| header_of(&messages, ts).unwrap_or_else(|| ts.to_owned());
    for m in &messages[before.messages..] {
        let channel = slack.channel_name(&m.channel);
        let place = match &m.thread_ts {
            Some(t) => format!("#{channel}, a reply in the thread of “{}”", header(t)),
            None => format!("#{channel}"),
        };
        println!(
            "  Slack message {}→ {place}{}:\n{}",
            ansi(BOLD),
            ansi(RESET),
            crate::show::message(&m.body())
        );
    }
    for (m, edits) in messages.iter().zip(&before.edits) {
        if m.edits.len() > *edits {
            let last = m
                .blocks
                .as_array()
                .and_then(|b| b.iter().rev().find(|b| b["type"] == "context"))
                .cloned();
            let note = last
                .and_then(|b| b["elements"].as_array().and_then(|e| e.last()).cloned())
                .and_then(|e| e["text"].as_str().map(str::to_owned))
                .unwrap_or_default();
            println!(
                "  {}edited “{}” in #{}: {note}{}",
                ansi(DIM),
                header(&m.ts),
                slack.channel_name(&m.channel),
                ansi(RESET)
            );
        }
    }
}

/// What the demo posted, per invocation: what `cargo xtask preview` draws.
pub struct Transcript {
    pub runs: Vec<Run>,
    /// The decoder posts nothing: the first event of its first decoded sample, as written to S3.
    pub decoded: Option<String>,
}

/// One invocation of the demo and the messages it posted, as they stand at the end of the run
/// (a thread parent with its later count).
pub struct Run {
    pub function: &'static str,
    /// A file name for its picture: the sample's file stem, and what was done to it.
    pub slug: String,
    pub label: String,
    pub messages: Vec<Posted>,
}

/// A message in the fake workspace.
pub struct Posted {
    pub channel: String,
    /// The header of the thread's parent, for a reply.
    pub reply_to: Option<String>,
    /// The body (`text`, `blocks`) as it stands at the end of the run: as the function posted
    /// it, or as it last edited it.
    pub body: serde_json::Value,
    /// An ephemeral answer: only the user who asked sees it.
    pub ephemeral: bool,
}

impl Posted {
    /// A message of the fake workspace as it stands in `messages` (the workspace's messages,
    /// where a reply's parent is found).
    fn of(
        slack: &SlackApiFake,
        messages: &[opswatch_devkit::ApiMessage],
        m: &opswatch_devkit::ApiMessage,
    ) -> Self {
        Posted {
            channel: slack.channel_name(&m.channel),
            reply_to: m.thread_ts.as_deref().and_then(|t| header_of(messages, t)),
            body: m.body(),
            ephemeral: false,
        }
    }
}

/// Which of the workspace's messages one invocation posted.
struct Span {
    function: &'static str,
    slug: String,
    label: String,
    /// Index of its first message, and how many it posted.
    first: usize,
    count: usize,
}

/// The header of the message with this `ts`.
pub fn header_of(messages: &[opswatch_devkit::slack_api::ApiMessage], ts: &str) -> Option<String> {
    messages
        .iter()
        .find(|m| m.ts == ts)
        .and_then(|m| m.blocks[0]["text"]["text"].as_str().map(str::to_owned))
}

pub async fn main() -> Result<(), String> {
    run().await.map(|_| ())
}

/// Run the demo, printing it, and return what it posted.
pub async fn run() -> Result<Transcript, String> {
    crate::python::ensure()?;
    let names: Vec<&str> = crate::FUNCTIONS.iter().map(|f| f.name).collect();
    eprintln!(
        "xtask demo: building {} and the DAS sample generator (the first build compiles the AWS SDK and the AWS Encryption SDK: 10–20 minutes on 2 cores, a line per crate)",
        names.join(", ")
    );
    crate::build_bins(&names, false)?;
    crate::build(&[
        "-p",
        "opswatch-activity-stream-decoder",
        "--example",
        "gen-das",
    ])?;
    let standins = Standins::start().await?;
    let slack = SlackApiFake::start(DEMO_TOKEN)
        .await
        .map_err(|e| format!("starting the local Slack Web API: {e}"))?;
    opswatch_devkit::dynamodb::create_table(&standins.sdk_config().await, DEDUPE_TABLE).await?;
    let env: Vec<(String, String)> = standins
        .env()
        .into_iter()
        .chain(
            [
                ("SLACK_BOT_TOKEN", DEMO_TOKEN.to_owned()),
                ("SLACK_CHANNEL", "#alerts".to_owned()),
                ("SLACK_API_URL", slack.url()),
                ("SLACK_ROUTES", ROUTES.to_owned()),
                ("RULES", RULES.to_owned()),
                ("ACCOUNT_NAMES", ACCOUNT_NAMES.to_owned()),
                ("DEDUPE_TABLE", DEDUPE_TABLE.to_owned()),
                ("ACTIONS", "on".to_owned()),
                ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_owned()),
                ("ACTIONS_ALLOWED_USERS", ONCALL.to_owned()),
                ("SLACK_MAX_RETRY_SECONDS", "2".to_owned()),
                ("LOG_LEVEL", "warn".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
        .collect();
    println!(
        "{}Slack Web API mode:{} default channel #alerts, route {ROUTES}, dedupe table {DEDUPE_TABLE} (moto); CloudTrail: ACCOUNT_NAMES={ACCOUNT_NAMES}, RULES={RULES}",
        ansi(BOLD),
        ansi(RESET)
    );
    let moto = &standins.moto;
    let mut events_run = 0;
    let mut spans: Vec<Span> = Vec::new();
    let run = |name: &'static str, slug: &str, bytes: Vec<u8>, label: String| {
        let slug = slug.to_owned();
        let env = env.clone();
        let slack = &slack;
        async move {
            let before = seen(slack);
            let mut lambda = LocalLambda::new(crate::binary(name, false), name).envs(env);
            lambda.timeout = Duration::from_secs(120);
            let invoked = lambda.invoke(&bytes).await.map_err(|e| e.to_string())?;
            println!(
                "\n{}▶ {name}{} {}{label}{}",
                ansi(BOLD_CYAN),
                ansi(RESET),
                ansi(CYAN),
                ansi(RESET)
            );
            report(slack, &before, &invoked);
            let posted = slack.messages().len() - before.messages;
            Ok::<_, String>(Span {
                function: name,
                slug,
                label,
                first: before.messages,
                count: posted,
            })
        }
    };
    let mut decoded = None;
    for f in crate::FUNCTIONS {
        if f.name == "activity-stream-decoder" {
            // Its samples are bound to the KMS key that made them: make fresh ones here.
            decoded = crate::das::demo(moto).await?;
            continue;
        }
        if f.name == "slack-actions" {
            // It acts on the alerts the others posted: after them.
            continue;
        }
        let dir = crate::root().join("events").join(f.events);
        for event in samples(&dir)? {
            events_run += 1;
            let mut bytes =
                std::fs::read(&event).map_err(|e| format!("reading {}: {e}", event.display()))?;
            if f.name == "audit-log-watcher" && event.ends_with("schedule.json") {
                // Pull mode: moto holds the sample's audit lines from the last few minutes
                // (CloudWatch Logs takes only recent events): the poll runs at the moment
                // they were stored for, however long the demo took to get here.
                bytes = scheduled_at(&bytes, standins.audit_poll_at)?;
            }
            let rel = event.strip_prefix(crate::root()).unwrap_or(&event);
            let slug = event.file_stem().unwrap_or_default().to_string_lossy();
            spans.push(run(f.name, &slug, bytes, rel.display().to_string()).await?);
        }
    }
    // Threads and exactly once, shown on the config notifier: a later change to the same
    // security group replies in the first one's thread, and the first notification delivered
    // again (an SNS retry) posts nothing.
    let sample = "events/config/security-group-ingress.json";
    let original = std::fs::read(crate::root().join(sample)).map_err(|e| e.to_string())?;
    let mut later: serde_json::Value =
        serde_json::from_slice(&original).map_err(|e| e.to_string())?;
    later["Records"][0]["Sns"]["MessageId"] = "demo-a-later-change".into();
    events_run += 2;
    spans.push(
        run(
            "config-change-notifier",
            "security-group-ingress-later",
            later.to_string().into_bytes(),
            format!("{sample}, as a later change to the same security group (another MessageId)"),
        )
        .await?,
    );
    spans.push(
        run(
            "config-change-notifier",
            "security-group-ingress-again",
            original,
            format!("{sample}, delivered again (an SNS retry)"),
        )
        .await?,
    );

    // AWS Health: the backup region's copy of the issue's first notice (another EventBridge
    // id, delivered to us-west-2) posts nothing.
    let sample = "events/health/issue-1-open.json";
    let mut backup: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::root().join(sample)).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    backup["id"] = "0b9d2c4e-5f6a-4b7c-8d9e-backup000001".into();
    backup["region"] = "us-west-2".into();
    backup["detail"]["backupEvent"] = true.into();
    events_run += 1;
    spans.push(
        run(
            "health-event-notifier",
            "issue-1-open-backup-copy",
            backup.to_string().into_bytes(),
            format!("{sample}, the backup region's copy (us-west-2, backupEvent: true)"),
        )
        .await?,
    );

    let acted = act(&slack, &env).await?;
    events_run += 3;

    let _ = std::io::stdout().flush();
    let messages = slack.messages();
    let mut channels: Vec<String> = messages
        .iter()
        .map(|m| slack.channel_name(&m.channel))
        .collect();
    channels.sort();
    let mut per: Vec<String> = Vec::new();
    for c in &channels {
        if !per.iter().any(|p| p.starts_with(&format!("#{c} "))) {
            let n = channels.iter().filter(|x| *x == c).count();
            per.push(format!("#{c} {n}"));
        }
    }
    let replies = messages.iter().filter(|m| m.thread_ts.is_some()).count();
    println!(
        "\ndemo: {events_run} events, {} Slack messages ({}), {replies} of them replies in threads",
        messages.len(),
        per.join(", ")
    );
    let runs = spans
        .into_iter()
        .map(|span| Run {
            function: span.function,
            slug: span.slug,
            label: span.label,
            messages: messages[span.first..span.first + span.count]
                .iter()
                .map(|m| Posted::of(&slack, &messages, m))
                .collect(),
        })
        .chain(health_thread(&slack))
        .chain(acted)
        .collect();
    Ok(Transcript { runs, decoded })
}

/// The AWS Health issue's thread as it stands at the end: its parent, edited to the latest
/// status, and its replies.
fn health_thread(slack: &SlackApiFake) -> Option<Run> {
    let messages = slack.messages();
    let parent = messages.iter().find(|m| {
        m.thread_ts.is_none()
            && header_of(&messages, &m.ts).is_some_and(|h| h.contains("AWS Health issue"))
    })?;
    let thread = std::iter::once(parent)
        .chain(
            messages
                .iter()
                .filter(|m| m.thread_ts.as_deref() == Some(parent.ts.as_str())),
        )
        .map(|m| Posted::of(slack, &messages, m))
        .collect();
    Some(Run {
        function: "health-event-notifier",
        slug: "thread".into(),
        label: "The issue's thread after open → update → closed: one parent, edited to the latest status (resolved), and its replies".into(),
        messages: thread,
    })
}

/// The demo's clock for slack-actions (`OPSWATCH_CLOCK`, epoch seconds: 2026-12-05 08:00
/// UTC): the times it shows (acknowledged at, muted until) are the same on every run, so are
/// the pictures `cargo xtask preview` draws of them.
pub const DEMO_CLOCK: i64 = 1_796_457_600;

/// The demo's on-call person, allowed to act (`ACTIONS_ALLOWED_USERS`).
const ONCALL: &str = "U0ONCALL01";

/// slack-actions: the on-call person acknowledges a critical alert and mutes a CloudTrail
/// principal for 24 hours from their buttons, then asks `/opswatch mutes` — each request
/// signed as Slack signs it, sent to the function as a function URL event.
async fn act(slack: &SlackApiFake, env: &[(String, String)]) -> Result<Vec<Run>, String> {
    use opswatch_devkit::slack_requests::{self as requests, button_value, mute_option};
    let lambda = LocalLambda::new(crate::binary("slack-actions", false), "slack-actions")
        .envs(env.to_vec())
        .env("OPSWATCH_CLOCK", DEMO_CLOCK.to_string());
    let messages = slack.messages();
    let top = |m: &&opswatch_devkit::ApiMessage| m.thread_ts.is_none();
    let posted = |m: &opswatch_devkit::ApiMessage| Posted::of(slack, &slack.messages(), m);
    let current = |ts: &str| slack.messages().into_iter().find(|m| m.ts == ts);
    // A critical alert (no Mute…: a mute never hides one), and a CloudTrail alert.
    let critical = messages
        .iter()
        .filter(top)
        .find(|m| button_value(m, "opswatch_ack").is_some() && mute_option(m, "24 hours").is_none())
        .ok_or("demo: no critical alert with buttons to acknowledge")?;
    let trail = messages
        .iter()
        .filter(top)
        .filter(|m| m.blocks.to_string().contains("cloudtrail-event-handler"))
        .find(|m| mute_option(m, "24 hours").is_some())
        .ok_or("demo: no CloudTrail alert with Mute… to mute")?;
    let buttons = Run {
        function: "slack-actions",
        slug: "buttons".into(),
        label:
            "An alert as posted with ACTIONS=on: Acknowledge and Mute… (1 hour, 24 hours, 7 days)"
                .into(),
        messages: vec![posted(trail)],
    };
    let send = async |label: &str, body: String| -> Result<serde_json::Value, String> {
        let before = seen(slack);
        let invoked = lambda
            .invoke(
                requests::signed_at(requests::SIGNING_SECRET, &body, DEMO_CLOCK)
                    .to_string()
                    .as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "\n{}▶ slack-actions{} {}{label}{}",
            ansi(BOLD_CYAN),
            ansi(RESET),
            ansi(CYAN),
            ansi(RESET)
        );
        report(slack, &before, &invoked);
        Ok(match &invoked.outcome {
            Outcome::Response(r) => serde_json::from_str(r).unwrap_or_default(),
            _ => serde_json::Value::Null,
        })
    };
    let ack = button_value(critical, "opswatch_ack").unwrap_or_default();
    send(
        &format!("Acknowledge, clicked by {ONCALL} (a signed interactivity request)"),
        requests::click(critical, ONCALL, "opswatch_ack", &ack),
    )
    .await?;
    let mute = mute_option(trail, "24 hours").unwrap_or_default();
    send(
        &format!("Mute… 24 hours on a CloudTrail alert, chosen by {ONCALL}"),
        requests::click(trail, ONCALL, "opswatch_mute", &mute),
    )
    .await?;
    let answer = send(
        "/opswatch mutes",
        requests::command(ONCALL, &critical.channel, "mutes"),
    )
    .await?;
    let list: serde_json::Value = answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    println!(
        "  answered (only {ONCALL} sees it):\n{}",
        crate::show::message(&list)
    );
    let announced: Vec<Posted> = slack
        .messages()
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(trail.ts.as_str()))
        .filter(|m| m.blocks.to_string().contains("opswatch_unmute"))
        .map(posted)
        .collect();
    Ok(vec![
        buttons,
        Run {
            function: "slack-actions",
            slug: "acknowledged".into(),
            label: format!(
                "Acknowledge, clicked by {ONCALL}: the alert says who and when, its buttons gone"
            ),
            messages: current(&critical.ts).iter().map(posted).collect(),
        },
        Run {
            function: "slack-actions",
            slug: "muted".into(),
            label: format!(
                "Mute… 24 hours, chosen by {ONCALL}: announced in the alert's thread, with Unmute"
            ),
            messages: announced,
        },
        Run {
            function: "slack-actions",
            slug: "mutes".into(),
            label: "/opswatch mutes: the active mutes, seen only by the user who asked".into(),
            messages: vec![Posted {
                channel: slack.channel_name(&critical.channel),
                reply_to: None,
                body: list,
                ephemeral: true,
            }],
        },
    ])
}

/// A scheduled event whose `time` is `secs` (epoch seconds).
fn scheduled_at(event: &[u8], secs: i64) -> Result<Vec<u8>, String> {
    let mut ev: serde_json::Value =
        serde_json::from_slice(event).map_err(|e| format!("the schedule sample: {e}"))?;
    let now = aws_sdk_s3::primitives::DateTime::from_secs(secs);
    ev["time"] = serde_json::Value::String(
        now.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
            .map_err(|e| e.to_string())?,
    );
    Ok(ev.to_string().into_bytes())
}

/// The `.json` events of a samples folder (sub-folders hold fixtures, not events).
fn samples(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    Ok(v)
}

/// The local stand-ins the samples are written for: moto holding the AWS state they refer
/// to, a fake SendGrid with the sample bounces, a fake RDS API with the sample maintenance.
pub struct Standins {
    pub moto: Moto,
    pub sendgrid: opswatch_devkit::SendGridFake,
    pub rds: opswatch_devkit::RdsFake,
    /// When a scheduled poll finds the audit log's sample lines (epoch seconds): they were
    /// stored four minutes before.
    pub audit_poll_at: i64,
}

impl Standins {
    pub async fn start() -> Result<Self, String> {
        let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
        let audit_poll_at = seed(&moto).await?;
        let sendgrid = opswatch_devkit::SendGridFake::start(
            opswatch_devkit::sendgrid::DEMO_KEY,
            opswatch_devkit::SendGridFake::fixture(&crate::root())
                .map_err(|e| format!("the sample bounces: {e}"))?,
        )
        .await
        .map_err(|e| format!("starting the fake SendGrid: {e}"))?;
        sendgrid
            .add_fixture_lists(&crate::root())
            .map_err(|e| format!("the sample blocks, spam reports and invalid emails: {e}"))?;
        let rds = opswatch_devkit::RdsFake::start_sample(&crate::root(), 0)
            .await
            .map_err(|e| format!("starting the fake RDS API with the samples: {e}"))?;
        Ok(Self {
            moto,
            sendgrid,
            rds,
            audit_poll_at,
        })
    }

    /// An SDK configuration for moto.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.moto.sdk_config().await
    }

    /// The environment that points a function at them.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env_by_standin()
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect()
    }

    /// [`Standins::env`], each variable with the stand-in it points at, named with its
    /// address ("moto http://127.0.0.1:…").
    pub fn env_by_standin(&self) -> Vec<(String, String, String)> {
        let moto = format!("moto {}", self.moto.endpoint());
        let sendgrid = format!("fake SendGrid {}", self.sendgrid.url());
        let rds = format!("fake RDS API {}", self.rds.url());
        let mut env: Vec<(String, String, String)> = self
            .moto
            .aws_env()
            .into_iter()
            .map(|(k, v)| (moto.clone(), k, v))
            .collect();
        env.extend(
            [
                (&sendgrid, "SENDGRID_API_URL", self.sendgrid.url()),
                (
                    &sendgrid,
                    "SENDGRID_API_KEY",
                    opswatch_devkit::sendgrid::DEMO_KEY.to_owned(),
                ),
                (
                    &sendgrid,
                    "SENDGRID_LISTS",
                    "bounces,blocks,spam_reports,invalid_emails".to_owned(),
                ),
                (&rds, "AWS_ENDPOINT_URL_RDS", self.rds.url()),
                (&rds, "RDS_REGIONS", "us-east-1,eu-west-1".to_owned()),
                (&moto, "LOG_GROUPS", AUDIT_GROUP.to_owned()),
                (&moto, "SETTLE_DELAY", "0".to_owned()),
            ]
            .map(|(who, k, v)| (who.clone(), k.to_owned(), v)),
        );
        env
    }
}

/// The log group the audit-log-watcher's pull sample polls.
const AUDIT_GROUP: &str = "/aws/rds/cluster/aurora-prod/audit";

/// audit-log-watcher (pull mode): the MySQL sample's lines, moved to the last few minutes.
async fn seed_audit_log(config: &aws_config::SdkConfig) -> Result<i64, String> {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    let sample: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::root().join("events/audit/fixtures/mysql-audit.decoded.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let stream = sample["logStream"]
        .as_str()
        .unwrap_or("aurora-prod-instance-1");
    let events = sample["logEvents"].as_array().cloned().unwrap_or_default();
    let first = events
        .first()
        .and_then(|e| e["timestamp"].as_i64())
        .ok_or("the audit sample has no events")?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64;
    // CloudWatch Logs (and moto) take only recent events: the lines are stored four
    // minutes ago, each keeping its own time in its text (what the alert shows), so every
    // run shows the same times; the demo polls at the moment returned.
    let shift = now_ms - 240_000 - first;
    let mut seen = std::collections::HashSet::new();
    let mut input = Vec::new();
    for e in &events {
        if !seen.insert(e["id"].as_str().unwrap_or_default().to_owned()) {
            continue;
        }
        let message = e["message"].as_str().unwrap_or_default();
        input.push(
            InputLogEvent::builder()
                .timestamp(e["timestamp"].as_i64().unwrap_or(first) + shift)
                .message(message)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    input.sort_by_key(|e| e.timestamp());
    logs.create_log_group()
        .log_group_name(AUDIT_GROUP)
        .send()
        .await
        .map_err(|e| format!("creating the audit log group in moto: {e:?}"))?;
    logs.create_log_stream()
        .log_group_name(AUDIT_GROUP)
        .log_stream_name(stream)
        .send()
        .await
        .map_err(|e| format!("creating the audit log stream in moto: {e:?}"))?;
    logs.put_log_events()
        .log_group_name(AUDIT_GROUP)
        .log_stream_name(stream)
        .set_log_events(Some(input))
        .send()
        .await
        .map_err(|e| format!("seeding the audit log: {e:?}"))?;
    Ok(now_ms / 1000)
}

/// The AWS state the samples refer to.
/// Returns the moment the audit log was seeded: a poll then finds the pull sample's lines.
async fn seed(moto: &Moto) -> Result<i64, String> {
    let config = moto.sdk_config().await;
    let audit_poll_at = seed_audit_log(&config).await?;
    let s3 = moto.s3_client().await;
    // config-change-notifier: the oversized item AWS Config put in S3.
    let event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::root().join("events/config/oversized-security-group.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let message: serde_json::Value = serde_json::from_str(
        event["Records"][0]["Sns"]["Message"]
            .as_str()
            .unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let location = message["s3DeliverySummary"]["s3BucketLocation"]
        .as_str()
        .unwrap_or_default();
    let (bucket, key) = location
        .split_once('/')
        .ok_or("the oversized sample has no S3 location")?;
    let object =
        std::fs::read(crate::root().join("events/config/s3-objects/oversized-security-group.json"))
            .map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&object).map_err(|e| e.to_string())?;
    let gz = gz.finish().map_err(|e| e.to_string())?;
    let mut objects = vec![(bucket.to_owned(), key.to_owned(), gz)];
    // cloudtrail-event-handler: the log files CloudTrail delivered.
    objects.extend(
        opswatch_devkit::fixtures::cloudtrail_log_files(&crate::root())
            .map_err(|e| format!("reading the CloudTrail samples: {e}"))?,
    );
    let mut buckets: Vec<&str> = objects.iter().map(|o| o.0.as_str()).collect();
    buckets.dedup();
    for bucket in buckets {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| format!("creating {bucket} in moto: {e:?}"))?;
    }
    for (bucket, key, body) in objects {
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map_err(|e| format!("seeding {key}: {e:?}"))?;
    }
    Ok(audit_poll_at)
}
