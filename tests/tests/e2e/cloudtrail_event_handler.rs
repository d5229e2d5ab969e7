//! cloudtrail-event-handler end to end: SQS, SNS and EventBridge events in, log files from
//! moto S3, Slack messages out, SQS partial batch responses.

use opswatch_devkit::fixtures::{self, CLOUDTRAIL_BUCKET, CLOUDTRAIL_PREFIX};
use opswatch_e2e::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const FUNCTION: &str = "cloudtrail-event-handler";

/// The write calls of the sample log file, in file order (readOnly and Describe/Get/List/
/// Head/Lookup calls, and the AWS service event, are not alerted).
const WRITES: [&str; 9] = [
    "AuthorizeSecurityGroupIngress",
    "RunInstances",
    "CreateAccessKey",
    "ConsoleLogin",
    "PutBucketPolicy",
    "CreateRoute",
    "ModifyDBCluster",
    "StopLogging",
    "PutRolePolicy",
];

/// moto with the sample log files where CloudTrail would have put them.
async fn moto_with_logs() -> (Moto, aws_sdk_s3::Client) {
    let moto = Moto::start().expect("moto");
    let s3 = seed_cloudtrail_logs(&moto).await;
    (moto, s3)
}

async fn invoke(event: &[u8], slack: &SlackFake, moto: &Moto) -> Invoked {
    lambda(BIN, FUNCTION, moto.aws_env())
        .env("SLACK_WEBHOOK_URL", slack.url())
        .invoke(event)
        .await
        .expect("the function runs")
}

fn failures(r: &Value) -> Vec<String> {
    r["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("a partial batch response: {r}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every write call once, with who and when; no read-only call.
fn assert_alerts_exactly_the_writes(text: &str) {
    for name in WRITES {
        assert_eq!(
            text.matches(&format!("*{name}*")).count(),
            1,
            "{name} once in:\n{text}"
        );
    }
    for read in [
        "DescribeInstances",
        "GetBucketAcl",
        "ListRoles",
        "Decrypt",
        "LookupEvents",
        "CreateLaunchConfiguration",
    ] {
        assert!(!text.contains(read), "{read} alerted:\n{text}");
    }
    assert!(text.contains("*alice* (IAM user)"), "{text}");
    assert!(text.contains("*deploy* / gh-actions-812 (role)"), "{text}");
    assert!(
        text.contains(":rotating_light: `2026-11-25T09:07:21Z` *root*"),
        "{text}"
    );
    assert!(text.contains("`2026-11-25T09:05:07Z`"), "{text}");
    assert!(text.contains("`AccessDenied`"), "{text}");
    // Outside text cannot ping the channel or forge a link.
    assert!(
        text.contains("*AdminSSO* / &lt;!channel&gt; hi (role)"),
        "{text}"
    );
    assert!(
        !text.contains("<!channel>")
            && !text.contains("<!here>")
            && !text.contains("<https://evil"),
        "{text}"
    );
}

#[tokio::test]
async fn sqs_delivery_alerts_exactly_the_write_events() {
    let (moto, _s3) = moto_with_logs().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    for sample in [
        "cloudtrail/sqs-log-delivery.json",
        "cloudtrail/sqs-raw-delivery-with-digest.json",
    ] {
        let before = slack.received().len();
        let invoked = invoke(&event(sample), &slack, &moto).await;
        assert_eq!(
            failures(&response(&invoked)),
            Vec::<String>::new(),
            "{sample}"
        );
        let received = &slack.received()[before..];
        assert_eq!(received.len(), 1, "{sample}");
        assert_alerts_exactly_the_writes(&all_text(&received[0]));
        assert_eq!(summary_count(&invoked, "events"), 40);
        assert_eq!(summary_count(&invoked, "alerted"), 9);
    }
    // The digest file beside the log file was skipped, saying so.
    let invoked = invoke(
        &event("cloudtrail/sqs-raw-delivery-with-digest.json"),
        &slack,
        &moto,
    )
    .await;
    assert!(
        invoked.stderr.contains("a CloudTrail digest file"),
        "{}",
        invoked.stderr
    );
    assert_eq!(summary_count(&invoked, "filesSkipped"), 1);
}

#[tokio::test]
async fn sns_direct_and_eventbridge_inputs() {
    let (moto, _s3) = moto_with_logs().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke(&event("cloudtrail/sns-log-delivery.json"), &slack, &moto).await;
    assert_eq!(response(&invoked)["alerted"], 9);
    assert_alerts_exactly_the_writes(&all_text(&slack.received()[0]));

    let invoked = invoke(
        &event("cloudtrail/eventbridge-security-group-ingress.json"),
        &slack,
        &moto,
    )
    .await;
    assert_eq!(response(&invoked)["alerted"], 1);
    let text = all_text(&slack.received()[1]);
    assert!(
        text.contains("CloudTrail: AuthorizeSecurityGroupIngress by deploy/gh-actions-812"),
        "{text}"
    );
    assert!(text.contains("groupId=sg-0a1b2c3d4e5f67890"), "{text}");

    invoke(
        &event("cloudtrail/eventbridge-root-console-login.json"),
        &slack,
        &moto,
    )
    .await;
    let text = all_text(&slack.received()[2]);
    assert!(text.contains("CloudTrail: ConsoleLogin by root"), "{text}");
    assert!(text.contains("(Success)"), "{text}");

    // A read-only call from EventBridge: no message.
    let mut ev: Value =
        serde_json::from_slice(&event("cloudtrail/eventbridge-security-group-ingress.json"))
            .unwrap();
    ev["detail"]["eventName"] = json!("DescribeSecurityGroups");
    ev["detail"]["readOnly"] = json!(true);
    let invoked = invoke(ev.to_string().as_bytes(), &slack, &moto).await;
    assert_eq!(response(&invoked)["readOnly"], 1);
    assert_eq!(slack.received().len(), 3);
}

#[tokio::test]
async fn a_bad_message_fails_alone() {
    let (moto, s3) = moto_with_logs().await;
    // A log file whose gzip is damaged, and an object that is not a log file at all.
    let mut corrupt = fixtures::gzip(b"{\"Records\":[{\"eventName\":\"RunInstances\"}]}").unwrap();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let not_json = fixtures::gzip(b"hello, not JSON").unwrap();
    for (key, body) in [("corrupt.json.gz", corrupt), ("text.json.gz", not_json)] {
        s3.put_object()
            .bucket(CLOUDTRAIL_BUCKET)
            .key(format!("{CLOUDTRAIL_PREFIX}{key}"))
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let mut batch: Value =
        serde_json::from_slice(&event("cloudtrail/sqs-mixed-with-bad-messages.json")).unwrap();
    let extra = |id: &str, key: &str| {
        let mut m = batch["Records"][0].clone();
        m["messageId"] = json!(id);
        m["body"] = json!(json!({"s3Bucket": CLOUDTRAIL_BUCKET, "s3ObjectKey": [format!("{CLOUDTRAIL_PREFIX}{key}")]}).to_string());
        m
    };
    let corrupt_msg = extra("44444444-4444-4444-8444-444444444444", "corrupt.json.gz");
    let text_msg = extra("55555555-5555-4555-8555-555555555555", "text.json.gz");
    let validation = json!({"messageId": "66666666-6666-4666-8666-666666666666", "eventSource": "aws:sqs",
        "body": "CloudTrail validation message."});
    let records = batch["Records"].as_array_mut().unwrap();
    records.extend([corrupt_msg, text_msg, validation]);

    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke(batch.to_string().as_bytes(), &slack, &moto).await;
    assert_eq!(
        failures(&response(&invoked)),
        [
            "22222222-2222-4222-8222-222222222222", // the object does not exist
            "33333333-3333-4333-8333-333333333333", // the body is not JSON
            "44444444-4444-4444-8444-444444444444", // the gzip is damaged
        ]
    );
    // The healthy message was delivered; the text object was skipped; the validation message
    // was quiet.
    assert_eq!(slack.received().len(), 1);
    assert_alerts_exactly_the_writes(&all_text(&slack.received()[0]));
    let err = &invoked.stderr;
    assert!(
        err.contains("does-not-exist.json.gz: S3 GetObject"),
        "{err}"
    );
    assert!(err.contains("the message is not JSON"), "{err}");
    assert!(
        err.contains("corrupt.json.gz: the log file is not valid gzip JSON"),
        "{err}"
    );
    assert!(err.contains("not a CloudTrail log file"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let s = summary_line(&invoked);
    assert_eq!(
        (
            s["fields"]["records"].as_u64(),
            s["fields"]["failed"].as_u64()
        ),
        (Some(6), Some(3)),
        "{s}"
    );
}

#[tokio::test]
async fn slack_down_fails_only_the_undelivered_messages_and_quickly() {
    let (moto, _s3) = moto_with_logs().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    slack.always(Reply::server_error());
    let mut batch: Value =
        serde_json::from_slice(&event("cloudtrail/sqs-log-delivery.json")).unwrap();
    let mut second = batch["Records"][0].clone();
    second["messageId"] = json!("second");
    let validation = json!({"messageId": "quiet", "eventSource": "aws:sqs", "body": "CloudTrail validation message."});
    batch["Records"]
        .as_array_mut()
        .unwrap()
        .extend([second, validation]);
    let started = std::time::Instant::now();
    let invoked = invoke(batch.to_string().as_bytes(), &slack, &moto).await;
    assert_eq!(
        failures(&response(&invoked)),
        ["059f36b4-87a3-44ab-83d2-661975830a7d", "second"]
    );
    // The second message did not spend another retry budget (SLACK_MAX_RETRY_SECONDS=3).
    assert!(
        invoked
            .stderr
            .contains("Slack already failed in this invocation"),
        "{}",
        invoked.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let secret = opswatch_devkit::slack::HOOK_PATH;
    assert!(
        !invoked.stderr.contains(secret) && !invoked.stdout.contains(secret),
        "the webhook URL leaked:\n{}",
        invoked.stderr
    );
}

#[tokio::test]
async fn not_an_event_is_one_line_error() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .env("SLACK_WEBHOOK_URL", slack.url())
        .invoke(b"{\"hello\":1}")
        .await
        .expect("runs");
    let (kind, message) = error(&invoked);
    assert_eq!(kind, "BadInput");
    assert!(
        message.starts_with("the event is not an SQS batch"),
        "{message}"
    );
    assert!(!message.contains('\n'));
}

#[tokio::test]
async fn filters_come_from_the_environment() {
    let (moto, _s3) = moto_with_logs().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    let run = |vars: &'static [(&'static str, &'static str)]| {
        let mut l = lambda(BIN, FUNCTION, moto.aws_env()).env("SLACK_WEBHOOK_URL", slack.url());
        for (k, v) in vars {
            l = l.env(k, *v);
        }
        async move {
            l.invoke(&event("cloudtrail/sqs-log-delivery.json"))
                .await
                .expect("runs")
        }
    };
    run(&[("ALERT_ONLY", "console-logins")]).await;
    run(&[
        ("EXCLUDE_PRINCIPALS", "deploy,root"),
        ("EXCLUDE_EVENT_SOURCES", "s3.*"),
    ])
    .await;
    run(&[("INCLUDE_EVENT_NAMES", "GetRole")]).await;
    let texts: Vec<String> = slack.received().iter().map(all_text).collect();
    assert_eq!(texts.len(), 3);
    // The lists drop what no critical rule matched; a critical event stays, whatever they
    // say: a trail stopped, an admin policy, root's sign-in, SSH opened to the world.
    let critical = [
        "*StopLogging*",
        "*PutRolePolicy*",
        "*ConsoleLogin*",
        "*CreateAccessKey*",
        "*AuthorizeSecurityGroupIngress*",
    ];
    for text in &texts {
        for kept in critical {
            assert!(text.contains(kept), "{kept} missing from {text}");
        }
    }
    // ALERT_ONLY=console-logins: neither the info RunInstances nor the denied (warning)
    // PutBucketPolicy.
    for gone in ["*RunInstances*", "*PutBucketPolicy*", "*CreateRoute*"] {
        assert!(!texts[0].contains(gone), "{gone} in {}", texts[0]);
    }
    // Excluded principals and sources: the deploy role's info change, the s3 denial.
    for gone in ["*ModifyDBCluster*", "*PutBucketPolicy*"] {
        assert!(!texts[1].contains(gone), "{gone} in {}", texts[1]);
    }
    assert!(
        texts[1].contains("*RunInstances*") && texts[1].contains("*CreateRoute*"),
        "{}",
        texts[1]
    );
    // Listed exactly: the read-only GetRole calls, and no other non-critical call.
    assert!(
        texts[2].contains("*GetRole*") && !texts[2].contains("*RunInstances*"),
        "{}",
        texts[2]
    );

    // A bad setting stops the cold start with a message naming it.
    let invoked = run(&[("ALERT_ONLY", "sometimes")]).await;
    let why = cold_start_error(&invoked);
    assert!(why.starts_with("ALERT_ONLY: unknown mode"), "{why}");
}

#[tokio::test]
async fn two_eventbridge_calls_in_the_same_second_are_two_alerts_and_a_redelivery_none() {
    // CloudTrail names each call by `eventID`: two calls by one principal within one second
    // share `eventTime`, and must not be taken for one delivered twice.
    const TABLE: &str = "opswatch-dedupe";
    let moto = moto_with_table(TABLE).await;
    let slack = SlackFake::start().await.expect("fake Slack");
    let first: Value =
        serde_json::from_slice(&event("cloudtrail/eventbridge-security-group-ingress.json"))
            .unwrap();
    let mut second = first.clone();
    second["id"] = json!("0f5c3e1a-4d2b-4e8f-9a61-2b7c9d0e1f23");
    second["detail"]["eventID"] = json!("5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716");
    second["detail"]["requestParameters"]["groupId"] = json!("sg-0fedcba9876543210");
    let mut posted = Vec::new();
    for ev in [&first, &second, &first] {
        let invoked = lambda(BIN, FUNCTION, moto.aws_env())
            .env("SLACK_WEBHOOK_URL", slack.url())
            .env("DEDUPE_TABLE", TABLE)
            .invoke(ev.to_string().as_bytes())
            .await
            .expect("the function runs");
        posted.push((
            response(&invoked)["messagesPosted"].clone(),
            response(&invoked)["deduplicated"].clone(),
        ));
    }
    assert_eq!(
        posted,
        [
            (json!(1), json!(0)),
            (json!(1), json!(0)),
            (json!(0), json!(1))
        ],
        "the second call is its own alert; the first's redelivery posts nothing"
    );
    let texts: Vec<String> = slack.received().iter().map(all_text).collect();
    assert!(texts[0].contains("sg-0a1b2c3d4e5f67890"), "{texts:?}");
    assert!(texts[1].contains("sg-0fedcba9876543210"), "{texts:?}");
}
