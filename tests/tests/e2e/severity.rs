//! Severity and rules end to end, through the real binaries: an organization trail's mixed
//! log file split across three severity routes, ignore and custom rules (from the
//! environment and from SSM), account names, the `readOnly` fix; rule errors at cold start;
//! a world-open SSH rule arriving as an AWS Config change.

use opswatch_devkit::slack_api::{DEMO_TOKEN, SlackApiFake};
use opswatch_e2e::*;
use serde_json::{Value, json};

const CLOUDTRAIL: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const CONFIG: &str = env!("CARGO_BIN_EXE_e2e-config-change-notifier");

const ROUTES: &str = r##"[
  {"severity": "critical", "channel": "#security"},
  {"severity": "warning", "channel": "#warnings"},
  {"severity": "info", "channel": "#audit-trail"}
]"##;

/// An ignore rule for the deploy role's tagging, and a custom rule for staging's databases.
const RULES: &str = r#"[
  {"name": "deploy-tags", "ignore": true,
   "match": {"eventName": ["CreateTags", "DeleteTags"], "userIdentity.sessionContext.sessionIssuer.userName": "deploy"}},
  {"name": "staging-db", "severity": "warning",
   "match": {"eventSource": "rds.amazonaws.com", "recipientAccountId": "444455556666"}}
]"#;

async fn api() -> SlackApiFake {
    let api = SlackApiFake::start(DEMO_TOKEN)
        .await
        .expect("fake Slack API");
    api.add_channel("C0WARNINGS0", "warnings", true, false);
    api.add_channel("C0AUDITTRL0", "audit-trail", true, false);
    api
}

fn cloudtrail(moto: &Moto, api: &SlackApiFake) -> LocalLambda {
    lambda(CLOUDTRAIL, "cloudtrail-event-handler", moto.aws_env())
        .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
        .env("SLACK_CHANNEL", "#alerts")
        .env("SLACK_API_URL", api.url())
        .env("SLACK_ROUTES", ROUTES)
        .env("ACCOUNT_NAMES", "444455556666=staging,111122223333=prod")
}

/// Each channel's text, one line per event line.
fn channel(api: &SlackApiFake, name: &str) -> String {
    api.channel_messages(name)
        .iter()
        .map(|m| all_text(&m.body()))
        .collect()
}

/// The line naming `*event*`, which must appear exactly once in `text`.
fn line_of<'t>(text: &'t str, event: &str) -> &'t str {
    let needle = format!("*{event}*");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&needle)).collect();
    assert_eq!(lines.len(), 1, "{event} once in:\n{text}");
    lines[0]
}

fn absent(text: &str, event: &str) {
    assert!(!text.contains(&format!("*{event}*")), "{event} in:\n{text}");
}

#[tokio::test]
async fn an_organization_trail_log_goes_to_the_route_of_each_severity() {
    let moto = Moto::start().expect("moto");
    seed_cloudtrail_logs(&moto).await;
    let api = api().await;
    let invoked = cloudtrail(&moto, &api)
        .env("RULES", RULES)
        .invoke(&event("cloudtrail/sqs-org-trail-delivery.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["batchItemFailures"], json!([]));
    let (security, warnings, info, default) = (
        channel(&api, "security"),
        channel(&api, "warnings"),
        channel(&api, "audit-trail"),
        channel(&api, "alerts"),
    );
    assert!(
        default.is_empty(),
        "every event has a severity route: {default}"
    );

    // Critical: an IAM user's console sign-in without MFA, a key scheduled for deletion,
    // GuardDuty deleted — each once, and in no other channel.
    for (event, rule) in [
        ("ConsoleLogin", "console-login-without-mfa"),
        ("ScheduleKeyDeletion", "kms-key-deletion"),
        ("DeleteDetector", "detective-controls-disabled"),
    ] {
        let line = line_of(&security, event);
        assert!(
            line.starts_with(":rotating_light: ") && line.contains(&format!("`{rule}`")),
            "{line}"
        );
        absent(&warnings, event);
        absent(&info, event);
    }
    // Warning: HTTPS opened to the world in the console; a scanner's denials folded into
    // one line; the custom rule's staging database change, named on its line.
    let https = line_of(&warnings, "AuthorizeSecurityGroupIngress");
    assert!(
        https.contains("`world-open-ingress`") && https.contains(":computer: _in the console_"),
        "{https}"
    );
    let denied = line_of(&warnings, "RunInstances");
    assert!(
        denied.contains("`access-denied`")
            && denied.contains("*3 denied calls* by this principal")
            && denied.ends_with("CreateUser, ListBuckets, RunInstances"),
        "{denied}"
    );
    absent(&warnings, "CreateUser");
    let db = line_of(&warnings, "ModifyDBCluster");
    assert!(
        db.starts_with(":warning: ") && db.contains("`staging-db`"),
        "{db}"
    );
    // STS GetFederationToken (CloudTrail marks it `readOnly: false`): credentials that
    // outlive their key, a warning.
    let federation = line_of(&warnings, "GetFederationToken");
    assert!(
        federation.starts_with(":warning: ") && federation.contains("`federation-token`"),
        "{federation}"
    );
    // Info: a backup role's snapshot.
    let snapshot = line_of(&info, "CreateSnapshot");
    assert!(snapshot.starts_with("• "), "{snapshot}");
    // Dropped: DescribeInstances (`readOnly: true`), the deploy role's tags (ignore rule).
    for text in [&security, &warnings, &info] {
        absent(text, "DescribeInstances");
        absent(text, "CreateTags");
        // The account (from recipientAccountId under the o-… key) with its name.
        assert!(text.contains("444455556666 (staging)"), "{text}");
    }
    assert_eq!(summary_count(&invoked, "ignoredByRules"), 1);
    assert_eq!(summary_count(&invoked, "readOnly"), 1);
    assert_eq!(summary_count(&invoked, "alerted"), 10);
    // One message per route (the denials fold; no threads without the table).
    assert_eq!(summary_count(&invoked, "messages_posted"), 3);
}

#[tokio::test]
async fn rules_come_from_an_ssm_parameter_and_min_severity_drops_the_rest() {
    let moto = Moto::start().expect("moto");
    seed_cloudtrail_logs(&moto).await;
    aws_sdk_ssm::Client::new(&sdk_config(&moto).await)
        .put_parameter()
        .name("/opswatch/cloudtrail-rules")
        .value(RULES)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("the parameter");
    let api = api().await;
    let invoked = cloudtrail(&moto, &api)
        .env("RULES_PARAMETER", "/opswatch/cloudtrail-rules")
        .env("MIN_SEVERITY", "warning")
        .invoke(&event("cloudtrail/sqs-org-trail-delivery.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["batchItemFailures"], json!([]));
    let warnings = channel(&api, "warnings");
    assert!(line_of(&warnings, "ModifyDBCluster").contains("`staging-db`"));
    assert!(api.channel_messages("audit-trail").is_empty());
    // The backup role's CreateSnapshot is info: below the minimum.
    assert_eq!(summary_count(&invoked, "belowMinSeverity"), 1);
    assert_eq!(summary_count(&invoked, "ignoredByRules"), 1);
}

#[tokio::test]
async fn a_rule_that_does_not_parse_fails_the_cold_start_with_one_line() {
    let moto = Moto::start().expect("moto");
    let api = api().await;
    for (var, value, expected) in [
        (
            "RULES",
            r#"[{"name": "x", "severity": "high", "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"x\"): unknown severity \"high\" (critical, warning or info)",
        ),
        (
            "RULES",
            r#"[{"name": "x", "severity": "info"}]"#,
            "RULES: rule 1: missing field `match`",
        ),
        (
            "DISABLE_RULES",
            "root-actvity",
            "DISABLE_RULES: no built-in rule is named \"root-actvity\"",
        ),
        (
            "MIN_SEVERITY",
            "urgent",
            "MIN_SEVERITY: \"urgent\" is not a severity",
        ),
        (
            "ACCOUNT_NAMES",
            "prod",
            "ACCOUNT_NAMES: \"prod\" is not <12-digit account id>=<name>",
        ),
        (
            "RULES_PARAMETER",
            "/opswatch/missing",
            "RULES_PARAMETER: reading the SSM parameter \"/opswatch/missing\"",
        ),
    ] {
        let invoked = cloudtrail(&moto, &api)
            .env(var, value)
            .invoke(&event("cloudtrail/sqs-org-trail-delivery.json"))
            .await
            .expect("runs");
        let error = cold_start_error(&invoked);
        assert!(error.starts_with(expected), "{var}={value}: {error}");
        assert!(!error.contains('\n'), "{error}");
    }
    assert!(api.messages().is_empty());
}

/// The Config sample (SSH opened to 0.0.0.0/0 and ::/0), with its ingress from `cidr` instead.
fn config_ssh_from(cidr: &str) -> Vec<u8> {
    let mut ev: Value =
        serde_json::from_slice(&event("config/security-group-ingress.json")).expect("JSON sample");
    let text = ev["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("message")
        .replace("0.0.0.0/0", cidr)
        .replace("\"::/0\"", &format!("\"{cidr}\""));
    ev["Records"][0]["Sns"]["Message"] = json!(text);
    ev.to_string().into_bytes()
}

#[tokio::test]
async fn a_world_open_ssh_rule_from_aws_config_is_critical_and_from_a_24_info() {
    let api = api().await;
    let config = || {
        lambda(CONFIG, "config-change-notifier", no_aws_env())
            .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
            .env("SLACK_CHANNEL", "#alerts")
            .env("SLACK_API_URL", api.url())
            .env("SLACK_ROUTES", ROUTES)
    };
    let invoked = config()
        .invoke(&event("config/security-group-ingress.json"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    let security = channel(&api, "security");
    assert!(
        security.starts_with(":rotating_light: ")
            && security.contains("*critical* · config-change-notifier"),
        "{security}"
    );

    let invoked = config()
        .invoke(&config_ssh_from("203.0.113.0/24"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 1);
    let info = channel(&api, "audit-trail");
    assert!(
        info.starts_with(":information_source: ")
            && info.contains("*info* · config-change-notifier")
            && info.contains("203.0.113.0/24"),
        "{info}"
    );
    assert_eq!(api.channel_messages("security").len(), 1);
}

#[tokio::test]
async fn an_rds_digest_splits_by_the_route_of_each_actions_severity() {
    use opswatch_devkit::rds::RdsFake;
    let rds = RdsFake::start_sample(&root(), 0).await.expect("fake RDS");
    let api = api().await;
    let invoked = lambda(
        env!("CARGO_BIN_EXE_e2e-rds-maintenance-checker"),
        "rds-maintenance-checker",
        no_aws_env(),
    )
    .env("AWS_ENDPOINT_URL_RDS", rds.url())
    .env("RDS_REGIONS", "us-east-1,eu-west-1")
    .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
    .env("SLACK_CHANNEL", "#alerts")
    .env("SLACK_API_URL", api.url())
    .env("SLACK_ROUTES", ROUTES)
    .invoke(&event("rds/schedule.json"))
    .await
    .expect("runs");
    assert_eq!(
        response(&invoked)["messagesPosted"],
        3,
        "{}",
        invoked.stderr
    );
    // Due within a day (one overdue): #security; within WARN_DAYS: #warnings; the rest,
    // later or with no date: #audit-trail — each digest headed by its most serious line.
    for (name, lead, resources) in [
        (
            "security",
            ":rotating_light: ",
            &["billing-aurora-instance-1", "legacy-pg"][..],
        ),
        (
            "warnings",
            ":warning: ",
            &["aurora-prod", "billing-aurora"][..],
        ),
        (
            "audit-trail",
            ":information_source: ",
            &[
                "aurora-prod-instance-1",
                "aurora-prod-instance-2",
                "reporting-mysql",
            ][..],
        ),
    ] {
        let text = channel(&api, name);
        assert!(text.starts_with(lead), "{name}: {text}");
        let linked: Vec<&str> = text
            .split('|')
            .skip(1)
            .filter_map(|s| s.split_once('>').map(|(label, _)| label))
            .collect();
        let mut distinct = linked.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct, resources, "{name}: {text}");
    }
    assert!(api.channel_messages("alerts").is_empty());
}
