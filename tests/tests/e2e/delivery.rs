//! Delivery end to end, through the real binaries: Web API mode, routes, exactly once across
//! redeliveries and partial failures, threads (also between two cold starts racing), and
//! configuration errors — against moto's DynamoDB and the fake Slack Web API.

use opswatch_devkit::fixtures::CLOUDTRAIL_PREFIX;
use opswatch_devkit::slack_api::{ApiReply, DEMO_TOKEN, SlackApiFake};
use opswatch_e2e::*;
use serde_json::{Value, json};

const CONFIG: &str = env!("CARGO_BIN_EXE_e2e-config-change-notifier");
const CLOUDTRAIL: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const TABLE: &str = "opswatch-dedupe";

struct World {
    moto: Moto,
    api: SlackApiFake,
}

/// moto with the dedupe table and the sample log files; the fake Slack Web API.
async fn world() -> World {
    let moto = Moto::start().expect("moto");
    opswatch_devkit::dynamodb::create_table(&sdk_config(&moto).await, TABLE)
        .await
        .expect("the dedupe table");
    seed_cloudtrail_logs(&moto).await;
    let api = SlackApiFake::start(DEMO_TOKEN)
        .await
        .expect("fake Slack API");
    World { moto, api }
}

impl World {
    /// A function in Web API mode, default channel `#alerts`, with the dedupe table.
    fn lambda(&self, bin: &str, function: &str) -> LocalLambda {
        lambda(bin, function, self.moto.aws_env())
            .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
            .env("SLACK_CHANNEL", "#alerts")
            .env("SLACK_API_URL", self.api.url())
            .env("DEDUPE_TABLE", TABLE)
    }
}

fn texts(messages: &[opswatch_devkit::ApiMessage]) -> String {
    messages.iter().map(|m| all_text(&m.body())).collect()
}

/// An SNS event with one Config notification: the sample's, under another MessageId and,
/// optionally, another capture time.
fn config_event(sample: &str, message_id: &str) -> Vec<u8> {
    let mut ev: Value = serde_json::from_slice(&event(sample)).expect("JSON");
    ev["Records"][0]["Sns"]["MessageId"] = json!(message_id);
    ev.to_string().into_bytes()
}

fn emf(invoked: &Invoked) -> Value {
    invoked
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in:\n{}", invoked.stderr))
}

#[tokio::test]
async fn web_api_mode_posts_to_the_default_channel_with_the_token_in_the_header_only() {
    let w = world().await;
    // From Secrets Manager, as JSON: the harness fails the invocation if the token is printed.
    let arn = put_secret(
        &w.moto,
        "opswatch/slack-bot",
        &format!("{{\"token\":\"{DEMO_TOKEN}\"}}"),
    )
    .await;
    let invoked = lambda(CONFIG, "config-change-notifier", w.moto.aws_env())
        .env("SLACK_BOT_TOKEN_SECRET_ARN", arn)
        .env("SLACK_CHANNEL", "alerts")
        .env("SLACK_API_URL", w.api.url())
        .secret(DEMO_TOKEN)
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    let posted = w.api.channel_messages("alerts");
    assert_eq!(posted.len(), 1);
    let text = all_text(&posted[0].body());
    // A world-open SSH rule: critical.
    assert!(
        text.starts_with(":rotating_light: "),
        "severity in the header: {text}"
    );
    assert!(
        text.contains("*critical* · config-change-notifier"),
        "{text}"
    );
    for call in w.api.calls() {
        assert_eq!(
            call.authorization.as_deref(),
            Some(format!("Bearer {DEMO_TOKEN}").as_str())
        );
        assert!(!call.body.contains(DEMO_TOKEN));
    }
    // The alert's log line names its severity.
    assert!(
        invoked
            .stderr
            .lines()
            .any(|l| l.contains("\"alert delivered\"") && l.contains("\"severity\":\"critical\"")),
        "{}",
        invoked.stderr
    );
}

#[tokio::test]
async fn a_channel_that_does_not_exist_fails_at_once_in_one_line() {
    let w = world().await;
    let invoked = w
        .lambda(CONFIG, "config-change-notifier")
        .env("SLACK_CHANNEL", "#does-not-exist")
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    let (error_type, message) = error(&invoked);
    assert_eq!(error_type, "ConfigurationError");
    assert!(message.contains("channel_not_found"), "{message}");
    assert!(message.contains("SLACK_CHANNEL"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert!(
        invoked.handler_time.expect("answered") < std::time::Duration::from_secs(1),
        "{:?}",
        invoked.handler_time
    );
    assert_eq!(w.api.calls().len(), 1, "never retried");
    assert_eq!(emf(&invoked)["AlertsFailed"], 1);
}

#[tokio::test]
async fn the_same_sns_notification_delivered_twice_posts_once() {
    let w = world().await;
    let f = w.lambda(CONFIG, "config-change-notifier");
    let ev = config_event("config/security-group-ingress.json", "5f3d-dup");
    let first = f.invoke(&ev).await.expect("runs");
    let again = f.invoke(&ev).await.expect("runs");
    assert_eq!(response(&first)["messagesPosted"], 1);
    assert_eq!(
        (
            response(&again)["messagesPosted"].as_u64(),
            response(&again)["deduplicated"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(w.api.messages().len(), 1);
    assert_eq!(
        (
            emf(&again)["AlertsSent"].as_u64(),
            emf(&again)["Deduplicated"].as_u64()
        ),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn a_second_change_to_a_resource_replies_in_the_first_ones_thread() {
    let w = world().await;
    let f = w.lambda(CONFIG, "config-change-notifier");
    for id in ["change-1", "change-2"] {
        let invoked = f
            .invoke(&config_event("config/security-group-ingress.json", id))
            .await
            .expect("runs");
        assert_eq!(response(&invoked)["messagesPosted"], 1);
    }
    // Another resource: its own thread.
    f.invoke(&config_event("config/route-table-routes.json", "change-3"))
        .await
        .expect("runs");
    let m = w.api.messages();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].thread_ts, None);
    assert_eq!(m[1].thread_ts.as_deref(), Some(m[0].ts.as_str()));
    assert_eq!(m[2].thread_ts, None);
    let parent = all_text(&m[0].body());
    assert!(parent.contains("1 more alert in the thread"), "{parent}");
    assert!(
        parent.contains("+ ingress tcp 22 from 0.0.0.0/0"),
        "content kept: {parent}"
    );
}

#[tokio::test]
async fn two_cold_starts_with_first_alerts_for_one_resource_make_one_parent_and_one_reply() {
    let w = world().await;
    let (a, b) = (
        w.lambda(CONFIG, "config-change-notifier"),
        w.lambda(CONFIG, "config-change-notifier"),
    );
    let (ea, eb) = (
        config_event("config/security-group-ingress.json", "race-a"),
        config_event("config/security-group-ingress.json", "race-b"),
    );
    let (ra, rb) = tokio::join!(a.invoke(&ea), b.invoke(&eb));
    assert_eq!(response(&ra.expect("runs"))["messagesPosted"], 1);
    assert_eq!(response(&rb.expect("runs"))["messagesPosted"], 1);
    let m = w.api.messages();
    let parents: Vec<_> = m.iter().filter(|x| x.thread_ts.is_none()).collect();
    assert_eq!((m.len(), parents.len()), (2, 1), "{m:?}");
    assert!(
        m.iter()
            .any(|x| x.thread_ts.as_deref() == Some(parents[0].ts.as_str()))
    );
    assert_eq!(parents[0].edits.len(), 1);
}

#[tokio::test]
async fn routes_send_each_alert_to_its_channel_or_webhook() {
    let w = world().await;
    let hook = SlackFake::start().await.expect("fake webhook");
    w.api.add_channel("C0PROD00000", "prod", true, false);
    let routes = json!([
        {"severity": "critical", "channel": "#security"},
        {"function": "config-change-notifier", "webhook_url": hook.url()},
        {"account": "4444*", "channel": "prod"},
    ])
    .to_string();

    // By function: the config notifier's alert goes to its webhook.
    let invoked = w
        .lambda(CONFIG, "config-change-notifier")
        .env("SLACK_ROUTES", &routes)
        .secret(hook.url())
        .invoke(&event("config/s3-bucket-created.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    assert_eq!(hook.received().len(), 1);
    assert!(w.api.messages().is_empty());

    // By severity: the five critical calls (the root user's two, a world-open SSH rule, a
    // stopped trail, an admin policy) to #security, the other four write calls of the same
    // log file to #alerts — each route exactly its events.
    let ct = w
        .lambda(CLOUDTRAIL, "cloudtrail-event-handler")
        .env("SLACK_ROUTES", &routes)
        .secret(hook.url());
    let invoked = ct
        .invoke(&event("cloudtrail/sqs-log-delivery.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["batchItemFailures"], json!([]));
    let security = texts(&w.api.channel_messages("security"));
    let alerts = texts(&w.api.channel_messages("alerts"));
    for name in [
        "CreateAccessKey",
        "ConsoleLogin",
        "AuthorizeSecurityGroupIngress",
        "StopLogging",
        "PutRolePolicy",
    ] {
        assert_eq!(
            security.matches(&format!("*{name}*")).count(),
            1,
            "{name}: {security}"
        );
        assert!(!alerts.contains(&format!("*{name}*")), "{name} in #alerts");
    }
    for name in [
        "RunInstances",
        "PutBucketPolicy",
        "CreateRoute",
        "ModifyDBCluster",
    ] {
        assert_eq!(
            alerts.matches(&format!("*{name}*")).count(),
            1,
            "{name}: {alerts}"
        );
        assert!(
            !security.contains(&format!("*{name}*")),
            "{name} in #security"
        );
    }
    assert!(security.contains(":rotating_light:"), "{security}");

    // By account: one log file with calls in two accounts.
    let records: Vec<Value> = ["111122223333", "444455556666", "111122223333"]
        .iter()
        .enumerate()
        .map(|(i, account)| {
            json!({
                "eventTime": "2026-11-25T09:20:00Z", "eventSource": "ec2.amazonaws.com",
                "eventName": "CreateTags", "awsRegion": "us-east-1", "readOnly": false,
                "recipientAccountId": account, "eventID": format!("acct-{i}"),
                "userIdentity": {"type": "IAMUser", "userName": "ops", "accountId": account},
                "requestParameters": {"marker": format!("acct-marker-{i}")}
            })
        })
        .collect();
    let key = format!("{CLOUDTRAIL_PREFIX}two-accounts.json.gz");
    put_log(&w.moto, &key, &records).await;
    let invoked = ct
        .invoke(&sqs_for(&[("m-acct", &key)]))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["batchItemFailures"], json!([]));
    let prod = texts(&w.api.channel_messages("prod"));
    assert!(
        prod.contains("acct-marker-1") && !prod.contains("acct-marker-0"),
        "{prod}"
    );
    let alerts = texts(&w.api.channel_messages("alerts"));
    assert!(
        alerts.contains("acct-marker-0") && alerts.contains("acct-marker-2"),
        "{alerts}"
    );
    assert!(!alerts.contains("acct-marker-1"), "{alerts}");
}

#[tokio::test]
async fn a_log_file_whose_post_fails_midway_posts_the_rest_on_redelivery_each_event_once() {
    let w = world().await;
    let records: Vec<Value> = (0..300)
        .map(|i| {
            json!({
                "eventTime": "2026-11-25T09:30:00Z", "eventSource": "ec2.amazonaws.com",
                "eventName": "CreateTags", "awsRegion": "us-east-1", "readOnly": false,
                "recipientAccountId": "111122223333", "eventID": format!("e-{i}"),
                "sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0",
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deploy/run-7",
                  "sessionContext": {"sessionIssuer": {"userName": "deploy"}}},
                "requestParameters": {"marker": format!("evt-{i:05}")}
            })
        })
        .collect();
    let key = format!("{CLOUDTRAIL_PREFIX}three-hundred.json.gz");
    put_log(&w.moto, &key, &records).await;
    let batch = sqs_for(&[
        ("m-300", &key),
        (
            "m-ok",
            &format!(
                "{CLOUDTRAIL_PREFIX}111122223333_CloudTrail_us-east-1_20261125T0915Z_mixed.json.gz"
            ),
        ),
    ]);
    let ct = w.lambda(CLOUDTRAIL, "cloudtrail-event-handler");

    // Slack takes two messages, then fails until the budget is spent.
    w.api.script([ApiReply::Normal, ApiReply::Normal]);
    w.api.always(ApiReply::Status(500));
    let invoked = ct.invoke(&batch).await.expect("runs");
    let r = response(&invoked);
    let failed: Vec<&str> = r["batchItemFailures"]
        .as_array()
        .expect("a partial batch response")
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    // The first message failed midway; the second was not attempted against a Slack that
    // had just failed, so it is reported too rather than spending the budget again.
    assert_eq!(failed, ["m-300", "m-ok"], "{r}");
    assert_eq!(w.api.messages().len(), 2);

    // SQS redelivers both: only what is missing is posted.
    w.api.always(ApiReply::Normal);
    let invoked = ct.invoke(&batch).await.expect("runs");
    assert_eq!(response(&invoked)["batchItemFailures"], json!([]));
    assert_eq!(summary_count(&invoked, "deduplicated"), 2);
    let all = texts(&w.api.messages());
    for i in 0..300 {
        assert_eq!(
            all.matches(&format!("marker=evt-{i:05}")).count(),
            1,
            "event {i}"
        );
    }
    assert_eq!(all.matches("*StopLogging*").count(), 1);
    // One more redelivery posts nothing at all.
    let before = w.api.messages().len();
    let invoked = ct.invoke(&batch).await.expect("runs");
    assert_eq!(response(&invoked)["batchItemFailures"], json!([]));
    assert_eq!(w.api.messages().len(), before);
    // The 300 events are one principal's: one thread, parts after the first replies in it.
    let m = w.api.messages();
    let first = m
        .iter()
        .find(|x| all_text(&x.body()).contains("evt-00000"))
        .expect("first part");
    let parts: Vec<_> = m
        .iter()
        .filter(|x| all_text(&x.body()).contains("marker=evt-"))
        .collect();
    assert!(parts.len() > 2, "{}", parts.len());
    assert!(
        parts
            .iter()
            .filter(|x| x.ts != first.ts)
            .all(|x| x.thread_ts.as_deref() == Some(first.ts.as_str()))
    );
}

#[tokio::test]
async fn an_unreachable_table_fails_closed_and_dedupe_unavailable_post_posts_anyway() {
    let w = world().await;
    // By default nothing is posted without its claim: the invocation fails, and the event
    // source (SNS's retries, then the DLQ) delivers it again.
    let invoked = w
        .lambda(CONFIG, "config-change-notifier")
        .env("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    let (error_type, message) = error(&invoked);
    assert_eq!(error_type, "SlackDeliveryFailed", "{message}");
    assert!(message.contains("DEDUPE_UNAVAILABLE=post"), "{message}");
    assert!(w.api.messages().is_empty(), "posted without a claim");
    assert_eq!(emf(&invoked)["DedupeUnavailable"], 1);

    // DEDUPE_UNAVAILABLE=post: better twice than never, said in a warning and a metric.
    let invoked = w
        .lambda(CONFIG, "config-change-notifier")
        .env("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
        .env("DEDUPE_UNAVAILABLE", "post")
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    assert_eq!(w.api.messages().len(), 1);
    assert_eq!(emf(&invoked)["DedupeUnavailable"], 1);
    assert!(
        invoked
            .stderr
            .lines()
            .any(|l| l.contains("\"WARN\"") && l.contains("dedupe table cannot be reached")),
        "{}",
        invoked.stderr
    );
}

#[tokio::test]
async fn bad_routes_and_settings_fail_the_cold_start_in_one_line() {
    let cases = [
        (
            vec![(
                "SLACK_ROUTES",
                r##"[{"severity":"urgent","channel":"#x"}]"##,
            )],
            "SLACK_ROUTES[0]: \"severity\" \"urgent\"",
        ),
        (
            vec![
                ("SLACK_ROUTES", r##"[{"channel":"#x"}]"##),
                ("SLACK_WEBHOOK_URL", "https://hooks.example/T/B/x"),
            ],
            "needs Web API mode",
        ),
        (
            vec![("SLACK_BOT_TOKEN", "not-a-token"), ("SLACK_CHANNEL", "#a")],
            "SLACK_BOT_TOKEN: Slack configuration: the Slack bot token is not a token",
        ),
        (vec![("THREAD_WINDOW", "an hour")], "THREAD_WINDOW"),
    ];
    for (vars, expected) in cases {
        let mut l = lambda(CONFIG, "config-change-notifier", no_aws_env());
        for (k, v) in &vars {
            l = l.env(k, *v);
        }
        let invoked = l
            .invoke(&event("config/security-group-ingress.json"))
            .await
            .expect("runs");
        let e = cold_start_error(&invoked);
        assert!(e.contains(expected), "{vars:?}: {e}");
        assert!(!e.contains("not-a-token"), "{e}");
    }
}
