//! sendgrid-bounce-poller end to end: scheduled events in, a fake SendGrid that behaves like
//! the documented API, moto SSM for the checkpoint, Slack messages out.

use opswatch_devkit::sendgrid::{Bounce, Entry};
use opswatch_e2e::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2e-sendgrid-bounce-poller");
const FUNCTION: &str = "sendgrid-bounce-poller";
const KEY: &str = "SG.SENTINEL-key-0123456789";
const PARAMETER: &str = "/opswatch/sendgrid/checkpoint";
/// 2026-11-25T09:00:00Z
const T0: i64 = 1_795_597_200;

fn fixture() -> Vec<Bounce> {
    serde_json::from_slice(&event("sendgrid/fixtures/bounces.json")).expect("fixture")
}

fn schedule(at: i64) -> Vec<u8> {
    let mut ev: Value =
        serde_json::from_slice(&event("sendgrid/schedule.json")).expect("JSON sample");
    ev["time"] = json!(opswatch_sendgrid_bounce_poller::render::time(at));
    ev.to_string().into_bytes()
}

struct Setup {
    moto: Moto,
    slack: SlackFake,
    sendgrid: SendGridFake,
}

async fn setup(bounces: Vec<Bounce>) -> Setup {
    Setup {
        moto: Moto::start().expect("moto"),
        slack: SlackFake::start().await.expect("fake Slack"),
        sendgrid: SendGridFake::start(KEY, bounces)
            .await
            .expect("fake SendGrid"),
    }
}

impl Setup {
    async fn run(&self, at: i64, key: &str) -> Invoked {
        self.run_with(at, key, &[]).await
    }

    async fn run_with(&self, at: i64, key: &str, extra: &[(&str, &str)]) -> Invoked {
        let mut l = lambda(BIN, FUNCTION, self.moto.aws_env())
            .env("SLACK_WEBHOOK_URL", self.slack.url())
            .env("SENDGRID_API_URL", self.sendgrid.url())
            .env("SETTLE_DELAY", "0s")
            .env("SENDGRID_API_KEY", key)
            .env("CHECKPOINT_PARAMETER", PARAMETER);
        for (k, v) in extra {
            l = l.env(k, *v);
        }
        l.invoke(&schedule(at)).await.expect("runs")
    }

    async fn checkpoint(&self) -> Option<i64> {
        let ssm = aws_sdk_ssm::Client::new(&sdk_config(&self.moto).await);
        let out = ssm.get_parameter().name(PARAMETER).send().await.ok()?;
        out.parameter()?.value()?.parse().ok()
    }

    /// Every address Slack has seen, in order.
    fn reported(&self) -> Vec<String> {
        let fixture = fixture();
        let mut generated: Vec<String> = (0..1200)
            .map(|i| format!("bulk{i:04}@example.com"))
            .collect();
        generated.extend(
            fixture
                .iter()
                .map(|b| b.email.replace('<', "&lt;").replace('>', "&gt;")),
        );
        let texts: Vec<String> = self.slack.received().iter().map(all_text).collect();
        let mut seen = Vec::new();
        for t in &texts {
            for line in t.lines().filter(|l| l.starts_with("• ")) {
                if let Some(e) = generated.iter().find(|e| line.contains(&format!("*{e}*"))) {
                    seen.push(e.clone());
                }
            }
        }
        seen
    }
}

#[tokio::test]
async fn consecutive_runs_report_every_bounce_exactly_once() {
    let s = setup(fixture()).await;
    // 1,200 more in the second window: three pages of SendGrid's 500.
    s.sendgrid.add((0..1200).map(|i| Bounce {
        created: T0 + 600 + (i % 600),
        email: format!("bulk{i:04}@example.com"),
        reason: "550 5.1.1 user unknown".into(),
        status: "5.1.1".into(),
    }));
    s.sendgrid.script([SgReply::RateLimited(1)]);

    // 09:10, no checkpoint yet (the template creates the parameter holding "none"): the
    // window is the 10 minutes before.
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&s.moto).await);
    ssm.put_parameter()
        .name(PARAMETER)
        .value("none")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    let first = s.run(T0 + 600, KEY).await;
    let r = response(&first);
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("2026-11-25T09:00:00Z"), Some("2026-11-25T09:10:00Z")),
        "{r}"
    );
    assert_eq!(r["bounces"], 4, "{r}");
    assert_eq!(s.checkpoint().await, Some(T0 + 600));
    // 09:20: from the checkpoint.
    let second = s.run(T0 + 1200, KEY).await;
    assert_eq!(response(&second)["bounces"], 1202);
    assert_eq!(s.checkpoint().await, Some(T0 + 1200));

    let mut reported = s.reported();
    let total = reported.len();
    reported.sort();
    reported.dedup();
    assert_eq!(total, reported.len(), "a bounce was reported twice");
    // Every fixture bounce in [09:00, 09:20) and all of the bulk ones; the 08:58 one is
    // before the first window.
    assert_eq!(
        total,
        4 + 2 + 1200,
        "{:?}",
        &reported[..reported.len().min(10)]
    );
    assert!(!reported.contains(&"old.bounce@example.com".to_owned()));
    // The boundary bounce (09:10:00) came once, in the second run.
    let first_texts: String = s.slack.received().iter().take(1).map(all_text).collect();
    assert!(!first_texts.contains("boundary@example.com"));

    // The 429 was waited out, the times were inclusive on both ends as SendGrid's are, and
    // the pages were walked with limit/offset.
    let requests = s.sendgrid.requests();
    assert_eq!(requests[0].status, 429);
    assert!(
        requests[1]
            .query
            .contains(&format!("start_time={T0}&end_time={}", T0 + 599)),
        "{:?}",
        requests[1]
    );
    let offsets: Vec<&str> = requests
        .iter()
        .filter(|r| r.query.contains(&format!("start_time={}", T0 + 600)))
        .map(|r| r.query.rsplit("offset=").next().unwrap_or(""))
        .collect();
    assert_eq!(offsets, ["0", "500", "1000"]);
    // Outside text is escaped.
    let all: String = s.slack.received().iter().map(all_text).collect();
    assert!(all.contains("ops+&lt;!channel&gt;@example.org") && !all.contains("<!channel>"));
    assert!(all.contains("山田@例え.jp"));
}

#[tokio::test]
async fn a_slack_failure_leaves_the_checkpoint_and_the_next_run_reports_them() {
    let s = setup(fixture()).await;
    s.slack.always(Reply::server_error());
    let failed = s.run(T0 + 600, KEY).await;
    let (kind, message) = error(&failed);
    assert_eq!(kind, "SlackDeliveryFailed");
    assert!(
        message.contains("the checkpoint stays at 2026-11-25T09:00:00Z"),
        "{message}"
    );
    assert_eq!(s.checkpoint().await, None);

    s.slack.always(Reply::Normal);
    let ok = s.run(T0 + 660, KEY).await;
    let r = response(&ok);
    assert_eq!(r["from"], "2026-11-25T09:01:00Z", "{r}");
    // The failed run's window was never checkpointed, so the next run starts from its own
    // look-back; with a checkpoint in place (the normal case) it resumes exactly. Run again
    // from a checkpoint before the failure to show the resume:
    let s = setup(fixture()).await;
    s.run(T0 + 120, KEY).await; // checkpoint 09:02
    assert_eq!(s.checkpoint().await, Some(T0 + 120));
    s.slack.always(Reply::server_error());
    error(&s.run(T0 + 600, KEY).await);
    assert_eq!(
        s.checkpoint().await,
        Some(T0 + 120),
        "moved despite the failure"
    );
    s.slack.always(Reply::Normal);
    let before = s.slack.received().len();
    let r = response(&s.run(T0 + 600, KEY).await);
    assert_eq!(
        (r["from"].as_str(), r["bounces"].as_u64()),
        (Some("2026-11-25T09:02:00Z"), Some(3)),
        "{r}"
    );
    let text: String = s.slack.received()[before..].iter().map(all_text).collect();
    for e in [
        "billing@acme-corp.example",
        "ops+&lt;!channel&gt;@example.org",
        "山田@例え.jp",
    ] {
        assert!(text.contains(e), "{e} in {text}");
    }
    assert_eq!(s.checkpoint().await, Some(T0 + 600));
}

#[tokio::test]
async fn a_bad_key_is_a_one_line_configuration_error() {
    let s = setup(fixture()).await;
    let invoked = s.run(T0 + 600, "SG.wrong-SENTINEL").await;
    let (kind, message) = error(&invoked);
    assert_eq!(kind, "ConfigurationError");
    assert!(
        message.starts_with("SendGrid refused the API key (HTTP 401)"),
        "{message}"
    );
    assert!(!message.contains('\n'));
    for text in [&message, &invoked.stdout, &invoked.stderr] {
        assert!(!text.contains("SENTINEL"), "the key leaked: {text}");
    }
    assert_eq!(s.checkpoint().await, None);
    assert!(s.slack.received().is_empty());
}

#[tokio::test]
async fn the_key_from_secrets_manager_is_used_and_never_printed() {
    let s = setup(fixture()).await;
    let arn = put_secret(
        &s.moto,
        "opswatch/sendgrid-api-key",
        &format!("{{\"api_key\":\"{KEY}\"}}"),
    )
    .await;
    let invoked = lambda(BIN, FUNCTION, s.moto.aws_env())
        .env("SLACK_WEBHOOK_URL", s.slack.url())
        .env("SENDGRID_API_URL", s.sendgrid.url())
        .env("SETTLE_DELAY", "0s")
        .env("SENDGRID_API_KEY_SECRET_ARN", &arn)
        .env("CHECKPOINT_PARAMETER", PARAMETER)
        .env("LOG_LEVEL", "debug")
        .secret(KEY)
        .invoke(&schedule(T0 + 600))
        .await
        .expect("runs, printing no secret");
    assert_eq!(response(&invoked)["bounces"], 4, "{}", invoked.stderr);
    assert_eq!(s.checkpoint().await, Some(T0 + 600));

    // A secret that holds no key: a one-line configuration error that does not echo it.
    let empty = put_secret(
        &s.moto,
        "opswatch/sendgrid-empty",
        "{\"other\":\"SG.SENTINEL-not-a-key-field\"}",
    )
    .await;
    let invoked = lambda(BIN, FUNCTION, s.moto.aws_env())
        .env("SENDGRID_API_URL", s.sendgrid.url())
        .env("SETTLE_DELAY", "0s")
        .env("SENDGRID_API_KEY_SECRET_ARN", &empty)
        .secret("SG.SENTINEL-not-a-key-field")
        .invoke(&schedule(T0 + 1200))
        .await
        .expect("runs, printing no secret");
    assert_eq!(
        cold_start_error(&invoked),
        r#"SENDGRID_API_KEY_SECRET_ARN: the secret's JSON has none of the keys "api_key", "key", "SENDGRID_API_KEY""#
    );
}

#[tokio::test]
async fn not_a_scheduled_event() {
    let s = setup(fixture()).await;
    let invoked = lambda(BIN, FUNCTION, s.moto.aws_env())
        .env("SENDGRID_API_URL", s.sendgrid.url())
        .env("SETTLE_DELAY", "0s")
        .env("SENDGRID_API_KEY", KEY)
        .invoke(b"{\"hello\":1}")
        .await
        .expect("runs");
    let (kind, message) = error(&invoked);
    assert_eq!(kind, "BadInput");
    assert!(
        message.contains("not an EventBridge scheduled event"),
        "{message}"
    );
}

#[tokio::test]
async fn empty_windows_and_sendgrid_errors() {
    let s = setup(fixture()).await;
    // 10:00: nothing in [09:50, 10:00): silent by default…
    let quiet = s.run(T0 + 3600, KEY).await;
    assert_eq!(response(&quiet)["bounces"], 0);
    assert!(s.slack.received().is_empty());
    assert_eq!(s.checkpoint().await, Some(T0 + 3600));
    // …and said when asked.
    let told = lambda(BIN, FUNCTION, s.moto.aws_env())
        .env("SLACK_WEBHOOK_URL", s.slack.url())
        .env("SENDGRID_API_URL", s.sendgrid.url())
        .env("SETTLE_DELAY", "0s")
        .env("SENDGRID_API_KEY", KEY)
        .env("CHECKPOINT_PARAMETER", PARAMETER)
        .env("NOTIFY_WHEN_EMPTY", "true")
        .invoke(&schedule(T0 + 4200))
        .await
        .expect("runs");
    assert_eq!(response(&told)["messagesPosted"], 1);
    assert!(all_text(&s.slack.received()[0]).contains("SendGrid: no bounces"));
    // A SendGrid outage fails the run (the schedule's retry covers it); the checkpoint stays.
    s.sendgrid.script([SgReply::Status(503)]);
    let failed = s.run(T0 + 4800, KEY).await;
    let (kind, message) = error(&failed);
    assert_eq!(kind, "SendGridError");
    assert!(
        message.starts_with("SendGrid answered HTTP 503"),
        "{message}"
    );
    assert_eq!(s.checkpoint().await, Some(T0 + 4200));
}

const THREE_LISTS: (&str, &str) = ("SENDGRID_LISTS", "bounces,blocks,spam_reports");

/// For each list and each of three ten-minute windows from 09:00: an entry exactly at the
/// window's start and one in its middle; and an invalid email, a list not polled.
fn three_lists(s: &Setup) {
    for list in ["bounces", "blocks", "spam_reports"] {
        s.sendgrid.add_to(
            list,
            (0..3).flat_map(|w| {
                [(0, "start"), (300, "mid")].map(|(offset, at)| Entry {
                    created: T0 + w * 600 + offset,
                    email: format!("{list}-w{w}-{at}@example.com"),
                    reason: format!("550 {list} <!channel>"),
                    status: "5.1.1".into(),
                    ip: "149.72.0.1".into(),
                })
            }),
        );
    }
    s.sendgrid.add_to(
        "invalid_emails",
        [Entry {
            created: T0 + 100,
            email: "not-polled@example".into(),
            reason: "unknown domain".into(),
            ..Entry::default()
        }],
    );
}

/// The addresses in messages `from..`.
fn addresses(s: &Setup, from: usize) -> Vec<String> {
    let mut v: Vec<String> = s.slack.received()[from..]
        .iter()
        .map(all_text)
        .flat_map(|t| {
            t.lines()
                .filter(|l| l.starts_with("• "))
                .filter_map(|l| l.split('*').nth(1).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_list_each_entry_once_and_boundaries_go_to_the_later_window() {
    let s = setup(Vec::new()).await;
    three_lists(&s);
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&s.moto).await);
    ssm.put_parameter()
        .name(PARAMETER)
        .value(T0.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    let mut all = Vec::new();
    for w in 0..3i64 {
        let before = s.slack.received().len();
        let r = response(&s.run_with(T0 + (w + 1) * 600, KEY, &[THREE_LISTS]).await);
        assert_eq!(
            (
                r["bounces"].as_u64(),
                r["blocks"].as_u64(),
                r["spamReports"].as_u64()
            ),
            (Some(2), Some(2), Some(2)),
            "{r}"
        );
        assert_eq!(s.checkpoint().await, Some(T0 + (w + 1) * 600));
        // Exactly this window's entries: its start, not its end (the next one's start).
        let mut want: Vec<String> = ["blocks", "bounces", "spam_reports"]
            .iter()
            .flat_map(|l| {
                [
                    format!("{l}-w{w}-mid@example.com"),
                    format!("{l}-w{w}-start@example.com"),
                ]
            })
            .collect();
        want.sort();
        assert_eq!(addresses(&s, before), want, "window {w}");
        all.extend(want);
        // One alert, grouped by list; each list in its own shape, all escaped.
        let text: String = s.slack.received()[before..].iter().map(all_text).collect();
        assert!(
            text.contains("SendGrid: 2 bounces, 2 blocks, 2 spam reports")
                && text.contains("*Bounces* (2)")
                && text.contains("*Spam reports* (2)"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "*spam_reports-w{w}-mid@example.com* from `149.72.0.1`"
            )),
            "{text}"
        );
        assert!(
            !text.contains("550 spam_reports"),
            "a spam report has no reason: {text}"
        );
        assert!(
            text.contains("550 blocks &lt;!channel&gt;") && !text.contains("<!channel>"),
            "{text}"
        );
    }
    let mut once = all.clone();
    once.dedup();
    assert_eq!((all.len(), once.len()), (18, 18));
    assert!(!addresses(&s, 0).contains(&"not-polled@example".to_owned()));
    // Each list was asked for each window with the same inclusive times.
    let requests = s.sendgrid.requests();
    for list in ["bounces", "blocks", "spam_reports"] {
        let windows: Vec<&str> = requests
            .iter()
            .filter(|r| r.list == list)
            .map(|r| r.query.split("&limit").next().unwrap_or_default())
            .collect();
        assert_eq!(
            windows,
            (0..3)
                .map(|w| format!(
                    "start_time={}&end_time={}",
                    T0 + w * 600,
                    T0 + w * 600 + 599
                ))
                .collect::<Vec<_>>(),
            "{list}"
        );
    }
}

#[tokio::test]
async fn slack_down_keeps_the_checkpoint_for_every_list() {
    let s = setup(Vec::new()).await;
    three_lists(&s);
    s.run_with(T0 + 600, KEY, &[THREE_LISTS]).await;
    assert_eq!(s.checkpoint().await, Some(T0 + 600));
    s.slack.always(Reply::server_error());
    let failed = s.run_with(T0 + 1200, KEY, &[THREE_LISTS]).await;
    assert_eq!(error(&failed).0, "SlackDeliveryFailed");
    assert_eq!(
        s.checkpoint().await,
        Some(T0 + 600),
        "moved despite the failure"
    );
    s.slack.always(Reply::Normal);
    let before = s.slack.received().len();
    s.run_with(T0 + 1200, KEY, &[THREE_LISTS]).await;
    assert_eq!(s.checkpoint().await, Some(T0 + 1200));
    let got = addresses(&s, before);
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.iter().all(|a| a.contains("-w1-")), "{got:?}");
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_one_budget_for_the_run() {
    let s = setup(Vec::new()).await;
    // 2,000 entries a list: five pages each (the last one empty).
    for list in ["bounces", "blocks", "spam_reports"] {
        s.sendgrid.add_to(
            list,
            (0..2000).map(|i| Entry {
                created: T0 + 60 + i % 500,
                email: format!("{list}-{i:04}@example.com"),
                ..Entry::default()
            }),
        );
    }
    // Every other call is rate limited, its limit resetting a second later: each page
    // alone waits a second at most, but the run waits a second every other call.
    s.sendgrid.rate_limit_every_other(1);
    let failed = s
        .run_with(
            T0 + 600,
            KEY,
            &[THREE_LISTS, ("SENDGRID_RATE_LIMIT_BUDGET", "3s")],
        )
        .await;
    let (kind, message) = error(&failed);
    assert_eq!(kind, "SendGridError");
    assert!(
        message.contains("would pass the run's budget of 3s in all"),
        "{message}"
    );
    // Three waits of a second fit the budget; the fourth 429 ends the run.
    let requests = s.sendgrid.requests();
    let limited = requests.iter().filter(|r| r.status == 429).count();
    assert_eq!((limited, requests.len()), (4, 7), "{requests:?}");
    assert!(s.slack.received().is_empty());
    assert_eq!(s.checkpoint().await, None);
}

/// A two-minute settle delay, three pages a run, 10-minute windows.
const BUDGETED: &[(&str, &str)] = &[
    ("SETTLE_DELAY", "2m"),
    ("SENDGRID_MAX_PAGES", "3"),
    ("MAX_WINDOW", "10m"),
];

#[tokio::test]
async fn windows_settle_behind_the_schedule_and_a_backlog_is_read_a_page_budget_at_a_time() {
    // 700 bounces in each of three 10-minute windows: two pages (of 500) per window.
    let bounces: Vec<Bounce> = (0..2100)
        .map(|i| Bounce {
            created: T0 - 1800 + (i / 700) * 600 + (i % 600),
            email: format!("user{i:05}@example.com"),
            reason: "550 5.1.1 The email account that you tried to reach does not exist.".into(),
            status: "5.1.1".into(),
        })
        .collect();
    let s = setup(bounces).await;
    let ssm = aws_sdk_ssm::Client::new(&sdk_config(&s.moto).await);
    ssm.put_parameter()
        .name(PARAMETER)
        .value((T0 - 1800).to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put");
    // A window ends SETTLE_DELAY (2m, the default) behind the schedule's time.
    let settle = s.run_with(T0 + 120, KEY, BUDGETED).await;
    let r = response(&settle);
    assert_eq!(r["to"].as_str(), Some("2026-11-25T09:00:00Z"), "{r}");
    // Three pages a run: the first window (two pages) is read whole; the second does not
    // fit, so it waits for the next run, and the checkpoint stands after the first.
    assert_eq!(
        (r["bounces"].as_u64(), r["pageCapReached"].as_bool()),
        (Some(700), Some(true)),
        "{r}"
    );
    assert_eq!(s.checkpoint().await, Some(T0 - 1200));
    let next = s.run_with(T0 + 120, KEY, BUDGETED).await;
    assert_eq!(response(&next)["bounces"], 700);
    let last = s.run_with(T0 + 120, KEY, BUDGETED).await;
    assert_eq!(response(&last)["bounces"], 700);
    assert_eq!(s.checkpoint().await, Some(T0));
    // One window larger than the budget alone is an error that says what to change.
    let s2 = setup(
        (0..1200)
            .map(|i| Bounce {
                created: T0 - 600 + (i % 600),
                email: format!("u{i:05}@example.com"),
                reason: "550".into(),
                status: "5.1.1".into(),
            })
            .collect(),
    )
    .await;
    let too_big = s2.run_with(T0, KEY, &[("SENDGRID_MAX_PAGES", "2")]).await;
    let (_, message) = error(&too_big);
    assert!(
        message.contains("lower MAX_WINDOW or raise SENDGRID_MAX_PAGES"),
        "{message}"
    );
}
