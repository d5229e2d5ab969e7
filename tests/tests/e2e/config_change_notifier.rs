//! config-change-notifier end to end: SNS events in, Slack messages out.

use std::io::Write;
use std::time::Duration;

use opswatch_config_change_notifier::notification::{Notification, sns_records};
use opswatch_config_change_notifier::render::{self, Source};
use opswatch_config_change_notifier::weigh;
use opswatch_e2e::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_e2e-config-change-notifier");
const FUNCTION: &str = "config-change-notifier";

async fn invoke(sample: &str, slack: &SlackFake, aws: Vec<(String, String)>) -> Invoked {
    lambda(BIN, FUNCTION, aws)
        .env("SLACK_WEBHOOK_URL", slack.url())
        .invoke(&event(sample))
        .await
        .expect("the function runs")
}

/// What the pure core renders for a sample, with its severity as the pipeline shows it: the
/// reviewed snapshot of what Slack must get.
fn rendered(sample: &str) -> Vec<Value> {
    let ev: Value = serde_json::from_slice(&event(sample)).expect("JSON sample");
    let message = sns_records(&ev).expect("SNS")[0]
        .message
        .clone()
        .expect("message");
    let (alert, severity) = match Notification::parse(&message).expect("parses") {
        Notification::ItemChange(c) => (
            render::item_change(&c, Source::Notification, &Default::default()),
            weigh::item(&c).0,
        ),
        Notification::Compliance(c) => (
            render::compliance(&c, &Default::default()),
            weigh::compliance(&c),
        ),
        other => panic!("not directly renderable: {other:?}"),
    };
    opswatch_delivery::decorate(alert, severity, FUNCTION)
        .into_messages()
        .iter()
        .map(|m| serde_json::to_value(m).expect("serialisable"))
        .collect()
}

#[tokio::test]
async fn each_change_type_reaches_slack_as_rendered() {
    let slack = SlackFake::start().await.expect("fake Slack");
    for sample in [
        "config/security-group-ingress.json",
        "config/route-table-routes.json",
        "config/network-acl-entries.json",
        "config/s3-bucket-created.json",
        "config/ec2-instance-deleted.json",
        "config/compliance-change.json",
    ] {
        let before = slack.received().len();
        let invoked = invoke(sample, &slack, no_aws_env()).await;
        let r = response(&invoked);
        assert_eq!(r["records"], 1, "{sample}: {r}");
        assert_eq!(r["messagesPosted"], 1, "{sample}: {r}");
        assert_eq!(slack.received()[before..], rendered(sample)[..], "{sample}");
    }
    let texts: Vec<String> = slack.received().iter().map(all_text).collect();
    assert!(
        texts[0].contains("+ ingress tcp 22 from 0.0.0.0/0 (temp debug), ::/0"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("+ route 0.0.0.0/0 via nat-0a9b8c7d6e5f40312 (active)"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("+ inbound rule 90: deny tcp 3389 203.0.113.0/24"),
        "{}",
        texts[2]
    );
    assert!(
        texts[3].contains("AWS::S3::Bucket acme-exports-prod created"),
        "{}",
        texts[3]
    );
    assert!(
        texts[4].contains("- Configuration.instanceType: t3.large"),
        "{}",
        texts[4]
    );
    assert!(
        texts[5].contains("COMPLIANT → *NON_COMPLIANT*"),
        "{}",
        texts[5]
    );
}

#[tokio::test]
async fn status_notices_post_nothing() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke(
        "config/history-delivery-completed.json",
        &slack,
        no_aws_env(),
    )
    .await;
    let r = response(&invoked);
    assert_eq!(
        (
            r["records"].as_u64(),
            r["messagesPosted"].as_u64(),
            r["ignored"].as_u64()
        ),
        (Some(1), Some(0), Some(1))
    );
    assert!(slack.attempts().is_empty());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

/// The bucket and key the oversized sample points at.
fn oversized_location() -> (String, String) {
    let ev: Value =
        serde_json::from_slice(&event("config/oversized-security-group.json")).expect("JSON");
    let Ok(Notification::Oversized(o)) = Notification::parse(
        &sns_records(&ev).expect("SNS")[0]
            .message
            .clone()
            .expect("message"),
    ) else {
        panic!("oversized sample")
    };
    let (b, k) = o.s3_delivery_summary.bucket_and_key().expect("location");
    (b.to_owned(), k.to_owned())
}

#[tokio::test]
async fn oversized_item_is_fetched_from_s3() {
    let moto = Moto::start().expect("moto");
    let s3 = s3(&moto).await;
    let (bucket, key) = oversized_location();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let object = gzip(&event("config/s3-objects/oversized-security-group.json"));
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(object.into())
        .send()
        .await
        .expect("object");

    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke(
        "config/oversized-security-group.json",
        &slack,
        moto.aws_env(),
    )
    .await;
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    let text = all_text(&slack.received()[0]);
    assert!(text.contains("+ ingress tcp 22 from 0.0.0.0/0"), "{text}");
    assert!(text.contains("the item was read from S3"), "{text}");
}

#[tokio::test]
async fn oversized_item_missing_from_s3_still_alerts_with_the_summary() {
    let moto = Moto::start().expect("moto");
    let (bucket, _) = oversized_location();
    s3(&moto)
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");

    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke(
        "config/oversized-security-group.json",
        &slack,
        moto.aws_env(),
    )
    .await;
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    let text = all_text(&slack.received()[0]);
    assert!(
        text.contains("AWS::EC2::SecurityGroup web (sg-0b3ba0ad4d62e1ebf) changed"),
        "{text}"
    );
    assert!(
        text.contains("It could not be read: S3 GetObject"),
        "{text}"
    );
    assert!(text.contains("NoSuchKey"), "{text}");
    assert!(
        invoked
            .stderr
            .contains("could not read the oversized item from S3"),
        "{}",
        invoked.stderr
    );
}

#[tokio::test]
async fn rate_limited_message_is_delivered_once_after_retry_after() {
    let slack = SlackFake::start().await.expect("fake Slack");
    slack.script([Reply::rate_limited(1)]);
    let invoked = invoke("config/security-group-ingress.json", &slack, no_aws_env()).await;
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    let attempts = slack.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = attempts[1].at - attempts[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}, before Retry-After: 1"
    );
    assert_eq!(slack.received().len(), 1);
}

#[tokio::test]
async fn slack_down_fails_the_invocation_without_revealing_the_url() {
    let slack = SlackFake::start().await.expect("fake Slack");
    slack.always(Reply::server_error());
    let invoked = invoke("config/security-group-ingress.json", &slack, no_aws_env()).await;
    let (error_type, message) = error(&invoked);
    assert_eq!(error_type, "SlackDeliveryFailed");
    assert!(message.contains("1 of 1 SNS record(s) failed"), "{message}");
    assert!(message.contains("HTTP 500 rollup_error"), "{message}");
    assert!(slack.attempts().len() > 1, "retried");
    let secret = opswatch_devkit::slack::HOOK_PATH;
    for (what, text) in [
        ("error", &message),
        ("stdout", &invoked.stdout),
        ("stderr", &invoked.stderr),
    ] {
        assert!(
            !text.contains(secret),
            "the webhook URL leaked into {what}: {text}"
        );
    }
}

#[tokio::test]
async fn outside_text_cannot_mention_the_channel() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke("config/tag-with-mention.json", &slack, no_aws_env()).await;
    response(&invoked);
    let body = serde_json::to_string(&slack.received()).expect("JSON");
    assert!(!body.contains("<!channel>"), "{body}");
    assert!(
        body.contains("&lt;!channel&gt; ping &amp; &lt;https://evil.example|click here&gt;"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_records_fail_alone_and_are_named() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke("config/mixed-with-bad-records.json", &slack, no_aws_env()).await;
    let (error_type, message) = error(&invoked);
    assert_eq!(error_type, "BadInput");
    assert_eq!(
        message,
        "2 of 3 SNS record(s) failed: record 0 (MessageId 0a1b2c3d-0000-4000-8000-00000000000b): the SNS message is not JSON (expected ident at line 1 column 2); \
         record 2 (MessageId 0a1b2c3d-0000-4000-8000-00000000000c): unknown AWS Config messageType \"SomethingNew\""
    );
    assert_eq!(
        slack.received().len(),
        1,
        "the healthy record was still delivered"
    );
    assert!(!invoked.stderr.contains("panicked"), "{}", invoked.stderr);
}

#[tokio::test]
async fn an_event_that_is_not_sns_is_rejected_clearly() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .env("SLACK_WEBHOOK_URL", slack.url())
        .invoke(br#"{"detail-type":"Scheduled Event"}"#)
        .await
        .expect("runs");
    assert_eq!(
        error(&invoked),
        (
            "BadInput".into(),
            "the event has no \"Records\" array: it is not an SNS event".into()
        )
    );
}

#[tokio::test]
async fn webhook_from_secrets_manager() {
    let moto = Moto::start().expect("moto");
    let slack = SlackFake::start().await.expect("fake Slack");
    let arn = put_secret(
        &moto,
        "opswatch/slack-webhook",
        &format!("{{\"url\":\"{}\"}}", slack.url()),
    )
    .await;
    let invoked = lambda(BIN, FUNCTION, moto.aws_env())
        .env("SLACK_WEBHOOK_SECRET_ARN", arn)
        // The URL read from the secret must never be printed either.
        .secret(slack.url())
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    assert_eq!(slack.received().len(), 1);
}

#[tokio::test]
async fn without_a_webhook_the_message_is_printed_as_a_dry_run() {
    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    // Printed, not posted: counted as such.
    let r = response(&invoked);
    assert_eq!(
        (&r["messagesPosted"], &r["messagesPrinted"]),
        (&0.into(), &1.into())
    );
    let line = invoked
        .stderr
        .lines()
        .find(|l| l.contains("\"dry_run\":true"))
        .expect("a dry-run line");
    let printed: Value = serde_json::from_str(line).expect("one JSON line");
    assert_eq!(
        printed["slack_message"],
        rendered("config/security-group-ingress.json")[0]
    );
}

#[tokio::test]
async fn excluded_resource_types_are_ignored() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .env("SLACK_WEBHOOK_URL", slack.url())
        .env("EXCLUDE_RESOURCE_TYPES", "AWS::EC2::*")
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["ignored"], 1);
    assert!(slack.attempts().is_empty());
}

#[tokio::test]
async fn logs_are_json_with_the_request_id_and_a_summary() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = invoke("config/security-group-ingress.json", &slack, no_aws_env()).await;
    response(&invoked);
    let summary = summary_line(&invoked);
    assert_eq!(
        summary["span"]["requestId"],
        invoked.request_id.as_str(),
        "{summary}"
    );
    assert_eq!(summary["fields"]["messages_posted"], 1, "{summary}");
    // Every line names the function (the outermost span), and the metrics line follows.
    assert_eq!(
        summary["spans"][0]["function"], "config-change-notifier",
        "{summary}"
    );
    let emf = invoked
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in:\n{}", invoked.stderr));
    assert_eq!(
        (
            &emf["FunctionName"],
            &emf["AlertsSent"],
            &emf["AlertsFailed"]
        ),
        (
            &Value::from("config-change-notifier"),
            &Value::from(1),
            &Value::from(0)
        ),
        "{emf}"
    );
}
