//! Security alerts nobody can silence by accident or on purpose, through the real binaries:
//! a role session's name hides nothing, `ALERT_ONLY` and ignore rules do not drop a critical
//! call unless an ignore rule names it in `silences`, the root user's reads are critical,
//! every technique of the catalogue fires its rule and no benign twin does, and URLs that
//! would carry a credential in clear text stop the cold start.

use opswatch_devkit::slack_api::{DEMO_TOKEN, SlackApiFake};
use opswatch_e2e::*;
use serde_json::{Value, json};

const CLOUDTRAIL: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const FUNCTION: &str = "cloudtrail-event-handler";

/// A CloudTrail record as EventBridge delivers it.
fn eventbridge(record: &Value) -> Vec<u8> {
    let source = record["eventSource"]
        .as_str()
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .unwrap_or("unknown");
    let detail_type = if record["eventType"] == "AwsConsoleSignIn" {
        "AWS Console Sign In via CloudTrail"
    } else {
        "AWS API Call via CloudTrail"
    };
    json!({
        "version": "0", "id": record["eventID"], "detail-type": detail_type,
        "source": format!("aws.{source}"), "account": record["recipientAccountId"],
        "time": record["eventTime"], "region": record["awsRegion"], "resources": [],
        "detail": record,
    })
    .to_string()
    .into_bytes()
}

fn identity(kind: &str, name: &str, session: &str) -> Value {
    match kind {
        "role" => {
            json!({"type": "AssumedRole", "principalId": format!("AROAEXAMPLE{}:{session}", name.len()),
            "arn": format!("arn:aws:sts::111122223333:assumed-role/{name}/{session}"), "accountId": "111122223333",
            "accessKeyId": "ASIAEXAMPLE000000001",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": format!("AROAEXAMPLE{}", name.len()),
                "arn": format!("arn:aws:iam::111122223333:role/{name}"), "accountId": "111122223333", "userName": name},
                "attributes": {"creationDate": "2026-12-04T09:58:12Z", "mfaAuthenticated": "false"}}})
        }
        "root" => {
            json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root",
            "accountId": "111122223333", "accessKeyId": "AKIAROOTEXAMPLE00001"})
        }
        _ => json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE0000000001",
            "arn": format!("arn:aws:iam::111122223333:user/{name}"), "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE000000001", "userName": name}),
    }
}

fn record(source: &str, name: &str, who: Value, params: Value, read_only: bool) -> Value {
    json!({
        "eventVersion": "1.11", "userIdentity": who, "eventTime": "2026-12-04T10:00:00Z",
        "eventSource": format!("{source}.amazonaws.com"), "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2.22.4 md/awscrt#0.22.0",
        "requestParameters": params, "responseElements": null,
        "requestID": "4b1d2b2c-0000-4000-8000-000000000001",
        "eventID": format!("9f2b2c41-0000-4000-8000-{:012}", name.len() * 7 + source.len()),
        "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": "111122223333", "eventCategory": "Management"
    })
}

fn stop_logging(who: Value) -> Value {
    record(
        "cloudtrail",
        "StopLogging",
        who,
        json!({"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/management"}),
        false,
    )
}

fn create_tags(who: Value) -> Value {
    record(
        "ec2",
        "CreateTags",
        who,
        json!({"resourcesSet": {"items": [{"resourceId": "i-0786a3a8b5c0d92ef"}]},
               "tagSet": {"items": [{"key": "team", "value": "web"}]}}),
        false,
    )
}

/// The function posting to a webhook fake, with `vars`.
fn function(slack: &SlackFake, vars: &[(&str, &str)]) -> LocalLambda {
    let mut l = lambda(CLOUDTRAIL, FUNCTION, no_aws_env()).env("SLACK_WEBHOOK_URL", slack.url());
    for (k, v) in vars {
        l = l.env(k, *v);
    }
    l
}

/// Run the function once per record (one warm process), and return each invocation's
/// posted text (empty when nothing was posted).
async fn posted(slack: &SlackFake, vars: &[(&str, &str)], records: &[Value]) -> Vec<String> {
    let before = slack.received().len();
    let events: Vec<Vec<u8>> = records.iter().map(eventbridge).collect();
    let invoked = function(slack, vars)
        .invoke_many(&events)
        .await
        .expect("runs");
    assert_eq!(invoked.len(), records.len());
    let received = slack.received();
    let mut at = before;
    invoked
        .iter()
        .map(|i| {
            let n = response(i)["messagesPosted"].as_u64().expect("a count") as usize;
            let text: String = received[at..at + n].iter().map(all_text).collect();
            at += n;
            text
        })
        .collect()
}

#[tokio::test]
async fn a_session_name_hides_nothing_and_a_principal_really_named_is_excluded() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let vars = [("EXCLUDE_PRINCIPALS", "ci-deploy")];
    let texts = posted(
        &slack,
        &vars,
        &[
            // A role session named like the excluded principal: the role is not excluded.
            stop_logging(identity("role", "admin", "ci-deploy")),
            create_tags(identity("role", "admin", "ci-deploy")),
            // The IAM user really named ci-deploy: excluded, but not from a critical call.
            create_tags(identity("user", "ci-deploy", "")),
            stop_logging(identity("user", "ci-deploy", "")),
        ],
    )
    .await;
    assert!(
        texts[0].contains("*StopLogging*") && texts[0].contains("`cloudtrail-tampering`"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("*CreateTags*"), "{}", texts[1]);
    assert_eq!(texts[2], "", "the principal named in the list is excluded");
    assert!(
        texts[3].contains("*StopLogging*") && texts[3].contains(":rotating_light:"),
        "{}",
        texts[3]
    );
    // A list entry that names a session is refused at cold start.
    let invoked = function(
        &slack,
        &[(
            "EXCLUDE_PRINCIPALS",
            "arn:aws:sts::111122223333:assumed-role/admin/ci-deploy",
        )],
    )
    .invoke(&eventbridge(&create_tags(identity("user", "bob", ""))))
    .await
    .expect("runs");
    let why = cold_start_error(&invoked);
    assert!(
        why.starts_with("EXCLUDE_PRINCIPALS: \"arn:aws:sts::111122223333:assumed-role/admin/ci-deploy\" names a session"),
        "{why}"
    );
}

#[tokio::test]
async fn alert_only_errors_still_alerts_a_successful_stop_logging() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let texts = posted(
        &slack,
        &[("ALERT_ONLY", "errors")],
        &[
            stop_logging(identity("user", "alice", "")),
            create_tags(identity("user", "alice", "")),
        ],
    )
    .await;
    assert!(texts[0].contains("*StopLogging*"), "{}", texts[0]);
    assert_eq!(
        texts[1], "",
        "ALERT_ONLY still drops what no critical rule matched"
    );
}

#[tokio::test]
async fn an_ignore_rule_hides_a_critical_call_only_when_it_names_the_rule() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let delete = record(
        "cloudtrail",
        "DeleteTrail",
        identity("role", "terraform", "plan-77"),
        json!({"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/sandbox"}),
        false,
    );
    let unnamed = r#"[{"name": "terraform", "ignore": true,
        "match": {"userIdentity.sessionContext.sessionIssuer.userName": "terraform"}}]"#;
    let named = r#"[{"name": "terraform", "ignore": true, "silences": ["cloudtrail-tampering"],
        "match": {"userIdentity.sessionContext.sessionIssuer.userName": "terraform"}}]"#;
    let without = posted(&slack, &[("RULES", unnamed)], std::slice::from_ref(&delete)).await;
    assert!(
        without[0].contains("*DeleteTrail*") && without[0].contains("`cloudtrail-tampering`"),
        "{}",
        without[0]
    );
    let invoked = function(&slack, &[("RULES", named)])
        .invoke(&eventbridge(&delete))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["messagesPosted"], 0);
    assert_eq!(summary_count(&invoked, "ignoredByRules"), 1);
    // Which rule silenced what is in the log.
    let line = invoked
        .logged("no alert")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no \"no alert\" line in:\n{}", invoked.stderr));
    assert_eq!(line["fields"]["rule"], "terraform", "{line}");
    assert_eq!(line["fields"]["silenced"], "cloudtrail-tampering", "{line}");
    // `silences` naming no rule stops the cold start.
    let typo = r#"[{"name": "t", "ignore": true, "silences": ["cloudtrail-tamper"], "match": {"eventName": "DeleteTrail"}}]"#;
    let invoked = function(&slack, &[("RULES", typo)])
        .invoke(&eventbridge(&delete))
        .await
        .expect("runs");
    let why = cold_start_error(&invoked);
    assert!(
        why.starts_with("RULES: rule 1 (\"t\"): \"silences\" names \"cloudtrail-tamper\", which is not a built-in rule"),
        "{why}"
    );
}

#[tokio::test]
async fn the_root_users_secret_read_is_critical() {
    let slack = SlackFake::start().await.expect("fake Slack");
    let read = record(
        "secretsmanager",
        "GetSecretValue",
        identity("root", "", ""),
        json!({"secretId": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"}),
        true,
    );
    let texts = posted(&slack, &[], &[read]).await;
    assert!(
        texts[0].starts_with(":rotating_light: ")
            && texts[0].contains("*GetSecretValue*")
            && texts[0].contains("`root-activity`"),
        "{}",
        texts[0]
    );
}

/// A case of `techniques.json`: the rule, what the case is, the severity it must fire at
/// (none: it must not), and its records (several: one log file).
struct Case {
    rule: String,
    case: String,
    expect: Option<String>,
    records: Vec<Value>,
}

/// `techniques.json`: its environment and cases.
fn techniques() -> (Vec<(String, String)>, Vec<Case>) {
    let path = root().join("crates/cloudtrail-event-handler/src/rules/techniques.json");
    let file: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("techniques.json")).expect("JSON");
    let env = file["env"]
        .as_object()
        .expect("env")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
        .collect();
    let cases = file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            rule: c["rule"].as_str().expect("rule").to_owned(),
            case: c["case"].as_str().expect("case").to_owned(),
            expect: c["expect"].as_str().map(str::to_owned),
            records: match (&c["record"], &c["records"]) {
                (Value::Null, Value::Array(r)) => r.clone(),
                (one, _) => vec![one.clone()],
            },
        })
        .collect();
    (env, cases)
}

/// Assert a case's posted text: its rule at its severity, or (a twin) not at all.
fn check(c: &Case, text: &str) {
    match &c.expect {
        Some(s) => assert!(
            fires(text, &c.rule, Some(s)),
            "{}: no {s} `{}` in:\n{text}",
            c.case,
            c.rule
        ),
        None => assert!(
            !fires(text, &c.rule, None),
            "{}: `{}` fired:\n{text}",
            c.case,
            c.rule
        ),
    }
}

/// Whether a posted text shows `rule` on a line of `severity`.
fn fires(text: &str, rule: &str, severity: Option<&str>) -> bool {
    let lead = match severity {
        Some("critical") => ":rotating_light: ",
        Some("warning") => ":warning: ",
        _ => "",
    };
    text.lines()
        .any(|l| l.contains(&format!("`{rule}`")) && l.starts_with(lead))
}

#[tokio::test]
async fn every_technique_fires_its_rule_and_no_benign_twin_does() {
    let (env, cases) = techniques();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let slack = SlackFake::start().await.expect("fake Slack");
    // One EventBridge event per single-record case, in one warm process.
    let single: Vec<&Case> = cases.iter().filter(|c| c.records.len() == 1).collect();
    let records: Vec<Value> = single.iter().map(|c| c.records[0].clone()).collect();
    let texts = posted(&slack, &vars, &records).await;
    for (c, text) in single.iter().zip(&texts) {
        check(c, text);
    }
    // A case of several records is one log file, read from S3 through SQS.
    let moto = Moto::start().expect("moto");
    let s3 = s3(&moto).await;
    s3.create_bucket()
        .bucket("trail-bucket")
        .send()
        .await
        .expect("bucket");
    let files: Vec<&Case> = cases.iter().filter(|c| c.records.len() > 1).collect();
    assert!(!files.is_empty());
    for (i, c) in files.iter().enumerate() {
        let key = format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/04/111122223333_CloudTrail_us-east-1_20261204T10{i:02}Z_case.json"
        );
        s3.put_object()
            .bucket("trail-bucket")
            .key(&key)
            .body(
                json!({"Records": c.records})
                    .to_string()
                    .into_bytes()
                    .into(),
            )
            .send()
            .await
            .expect("put");
        let sqs = json!({"Records": [{
            "messageId": format!("00000000-0000-4000-8000-{i:012}"), "receiptHandle": "AQEB",
            "body": json!({"s3Bucket": "trail-bucket", "s3ObjectKey": [key]}).to_string(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:opswatch-cloudtrail", "awsRegion": "us-east-1"}]});
        let before = slack.received().len();
        let mut l =
            lambda(CLOUDTRAIL, FUNCTION, moto.aws_env()).env("SLACK_WEBHOOK_URL", slack.url());
        for (k, v) in &vars {
            l = l.env(k, *v);
        }
        let invoked = l.invoke(sqs.to_string().as_bytes()).await.expect("runs");
        assert_eq!(
            response(&invoked)["batchItemFailures"],
            json!([]),
            "{}",
            c.case
        );
        let text: String = slack.received()[before..].iter().map(all_text).collect();
        check(c, &text);
    }
}

#[tokio::test]
async fn urls_that_would_carry_a_credential_in_clear_text_stop_the_cold_start() {
    let api = SlackApiFake::start(DEMO_TOKEN)
        .await
        .expect("fake Slack API");
    let sendgrid = SendGridFake::start("SG.example-key-0123456789", Vec::new())
        .await
        .expect("fake SendGrid");
    let ct = |vars: &[(&str, &str)]| {
        let mut l = lambda(CLOUDTRAIL, FUNCTION, no_aws_env());
        for (k, v) in vars {
            l = l.env(k, *v);
        }
        l
    };
    for (vars, expected) in [
        (
            vec![
                ("SLACK_BOT_TOKEN", DEMO_TOKEN),
                ("SLACK_CHANNEL", "#alerts"),
                ("SLACK_API_URL", "http://slack.example/api"),
            ],
            "SLACK_API_URL: the URL must start with https://",
        ),
        (
            vec![(
                "SLACK_WEBHOOK_URL",
                "http://hooks.slack.com/services/T000/B000/XXXX",
            )],
            "the Slack webhook URL must start with https://",
        ),
        (
            vec![(
                "SLACK_WEBHOOK_URL",
                "http://localhost@hooks.example/services/T/B/X",
            )],
            "the Slack webhook URL must not carry a user name",
        ),
        (
            vec![
                ("SLACK_BOT_TOKEN", DEMO_TOKEN),
                ("SLACK_CHANNEL", "#alerts"),
                ("SLACK_API_URL", api.url().as_str()),
                (
                    "SLACK_ROUTES",
                    r##"[{"severity": "critical", "webhook_url": "http://10.1.2.3/hook"}]"##,
                ),
            ],
            "SLACK_ROUTES",
        ),
    ] {
        let invoked = ct(&vars)
            .invoke(&eventbridge(&stop_logging(identity("user", "alice", ""))))
            .await
            .expect("runs");
        let why = cold_start_error(&invoked);
        assert!(why.contains(expected), "{vars:?}: {why}");
        assert!(
            !why.contains("XXXX") && !why.contains("hooks.example"),
            "{why}"
        );
    }
    assert!(api.messages().is_empty());
    // SendGrid's key goes only to https, or to this machine.
    let poll = |url: String| async move {
        lambda(
            env!("CARGO_BIN_EXE_e2e-sendgrid-bounce-poller"),
            "sendgrid-bounce-poller",
            no_aws_env(),
        )
        .env("SENDGRID_API_URL", url)
        .env("SENDGRID_API_KEY", "SG.example-key-0123456789")
        .invoke(&event("sendgrid/schedule.json"))
        .await
        .expect("runs")
    };
    let invoked = poll("http://api.sendgrid.com".into()).await;
    let why = cold_start_error(&invoked);
    assert!(
        why.starts_with("SENDGRID_API_URL: the URL must start with https://"),
        "{why}"
    );
    // The same poller with the loopback fake starts and polls.
    let invoked = poll(sendgrid.url()).await;
    assert_eq!(
        response(&invoked)["messagesPosted"],
        0,
        "{}",
        invoked.stderr
    );
}
