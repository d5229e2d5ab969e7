//! Acting on alerts from Slack, end to end through the real binaries: CloudTrail alerts
//! posted with buttons (`ACTIONS=on`), then Slack's signed requests — built and signed
//! here as Slack documents them — sent to `slack-actions` as function URL events:
//! Acknowledge, Mute 24 hours, the mute honoured by the next log file, `/opswatch mutes`,
//! Unmute. And every refusal, each leaving mutes, acknowledgements and messages as they
//! were.

use aws_sdk_dynamodb::types::AttributeValue;
use opswatch_devkit::fixtures::CLOUDTRAIL_PREFIX;
use opswatch_devkit::slack_api::{ApiMessage, DEMO_TOKEN, SlackApiFake};
use opswatch_devkit::slack_requests::{
    self as slack, SIGNING_SECRET, button_value, mute_option, now, signature, url_event,
};
use opswatch_e2e::*;
use serde_json::{Value, json};

const CLOUDTRAIL: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const ACTIONS: &str = env!("CARGO_BIN_EXE_e2e-slack-actions");
const TABLE: &str = "opswatch-dedupe";
/// Listed in ACTIONS_ALLOWED_USERS.
const ONCALL: &str = "U0ONCALL01";
/// A member of the allowed user group only.
const GROUPIE: &str = "U0GROUPIE1";
/// In the channel, allowed nothing.
const STRANGER: &str = "U0STRANGER";

struct World {
    moto: Moto,
    api: SlackApiFake,
}

async fn world() -> World {
    let moto = moto_with_table_and_trail_bucket(TABLE).await;
    let api = SlackApiFake::start(DEMO_TOKEN)
        .await
        .expect("fake Slack API");
    api.add_usergroup("S0ONCALL00", &[GROUPIE]);
    World { moto, api }
}

fn record(user: &str, marker: &str) -> Value {
    json!({
        "eventVersion": "1.09", "eventTime": "2026-12-05T02:30:00Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateTags", "awsRegion": "us-east-1", "readOnly": false,
        "recipientAccountId": "111122223333", "eventID": format!("{user}-{marker}"),
        "sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{user}"),
          "accountId": "111122223333", "userName": user, "principalId": format!("AIDA{}", user.to_uppercase())},
        "requestParameters": {"marker": marker}
    })
}

impl World {
    /// A log file with these (user, marker) events, announced through SQS; the CloudTrail
    /// function's response.
    async fn log_file(&self, name: &str, events: &[(&str, &str)]) -> Invoked {
        let key = format!("{CLOUDTRAIL_PREFIX}{name}.json.gz");
        let records: Vec<Value> = events.iter().map(|(u, m)| record(u, m)).collect();
        put_log(&self.moto, &key, &records).await;
        let sqs = sqs_for(&[(&format!("m-{name}"), &key)]);
        let invoked = lambda(CLOUDTRAIL, "cloudtrail-event-handler", self.moto.aws_env())
            .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
            .env("SLACK_CHANNEL", "#alerts")
            .env("SLACK_API_URL", self.api.url())
            .env("DEDUPE_TABLE", TABLE)
            .env("ACTIONS", "on")
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .secret(SIGNING_SECRET)
            .invoke(&sqs)
            .await
            .expect("runs");
        assert_eq!(
            response(&invoked)["batchItemFailures"],
            json!([]),
            "{}",
            invoked.stderr
        );
        invoked
    }

    fn actions(&self, users: &str, groups: &str) -> LocalLambda {
        lambda(ACTIONS, "slack-actions", self.moto.aws_env())
            .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
            .env("SLACK_API_URL", self.api.url())
            .env("DEDUPE_TABLE", TABLE)
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("ACTIONS_ALLOWED_USERS", users)
            .env("ACTIONS_ALLOWED_USERGROUPS", groups)
            .secret(SIGNING_SECRET)
            .secret(DEMO_TOKEN)
    }

    /// The top-level alert about `user` that carries `marker`.
    fn alert(&self, marker: &str) -> ApiMessage {
        self.api
            .messages()
            .into_iter()
            .find(|m| all_text(&m.body()).contains(&format!("marker={marker}")))
            .unwrap_or_else(|| panic!("no alert with {marker}"))
    }

    /// What actions may change: mutes and acknowledgements in the table, every message
    /// with its edits, and the ephemeral answers.
    async fn state(&self) -> (Vec<String>, Vec<(String, Value, usize)>) {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(&self.moto).await);
        let scan = ddb.scan().table_name(TABLE).send().await.expect("scan");
        let mut items: Vec<String> = scan
            .items()
            .iter()
            .filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok()).cloned())
            .filter(|pk| pk.starts_with("mute#") || pk.starts_with("ack#"))
            .collect();
        if let Some(all) = scan
            .items()
            .iter()
            .find(|i| i.get("pk") == Some(&AttributeValue::S("mute#all".into())))
        {
            let mut attrs: Vec<String> = all
                .keys()
                .filter(|k| k.starts_with("m_"))
                .cloned()
                .collect();
            attrs.sort();
            items.extend(attrs);
        }
        items.sort();
        let messages = self
            .api
            .messages()
            .into_iter()
            .map(|m| (m.ts, m.blocks, m.edits.len()))
            .collect();
        (items, messages)
    }
}

/// Send one request to slack-actions; its HTTP status.
async fn send(actions: &LocalLambda, event: &Value) -> (u16, Invoked) {
    let invoked = actions
        .invoke(event.to_string().as_bytes())
        .await
        .expect("runs");
    let r = response(&invoked);
    (r["statusCode"].as_u64().unwrap_or(0) as u16, invoked)
}

/// `body` signed now as Slack signs it, sent: the status and the invocation.
async fn send_signed(actions: &LocalLambda, body: &str) -> (u16, Invoked) {
    send(actions, &slack::signed(SIGNING_SECRET, body)).await
}

/// The status of `body`, signed now as Slack signs it.
async fn signed_status(actions: &LocalLambda, body: &str) -> u16 {
    send_signed(actions, body).await.0
}

/// Whether some user was told `text` (ephemeral).
fn told(w: &World, text: &str) -> bool {
    w.api.ephemerals().iter().any(|(_, _, t)| t.contains(text))
}

fn has_buttons(m: &ApiMessage) -> bool {
    m.blocks
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["type"] == "actions"))
}

#[tokio::test]
async fn acknowledge_mute_and_unmute_from_slack() {
    let w = world().await;
    w.log_file("first", &[("alice", "a1"), ("alice", "a2"), ("bob", "b1")])
        .await;
    let alice = w.alert("a1");
    let bob = w.alert("b1");
    // Posted with the buttons: Acknowledge, and Mute… with its three lengths.
    for m in [&alice, &bob] {
        assert!(button_value(m, "opswatch_ack").is_some(), "{:#}", m.blocks);
        for label in ["1 hour", "24 hours", "7 days"] {
            assert!(mute_option(m, label).is_some(), "{label}: {:#}", m.blocks);
        }
    }
    let actions = w.actions(ONCALL, "S0ONCALL00");

    // Acknowledge (a listed user): the message says who, and its buttons are gone.
    let click = slack::click(
        &bob,
        ONCALL,
        "opswatch_ack",
        &button_value(&bob, "opswatch_ack").unwrap(),
    );
    let (status, invoked) = send_signed(&actions, &click).await;
    assert_eq!(status, 200, "{}", invoked.stderr);
    let acked = w.alert("b1");
    let text = all_text(&acked.body());
    assert!(
        text.contains(&format!("Acknowledged by <@{ONCALL}>")),
        "{text}"
    );
    assert!(!has_buttons(&acked), "{:#}", acked.blocks);
    assert!(
        text.contains("marker=b1"),
        "the alert itself is kept: {text}"
    );
    // Clicked again (the button as it was): said once, changed nothing.
    let edits = acked.edits.len();
    let again = slack::click(
        &bob,
        ONCALL,
        "opswatch_ack",
        &button_value(&bob, "opswatch_ack").unwrap(),
    );
    let (status, _) = send_signed(&actions, &again).await;
    assert_eq!(status, 200);
    assert_eq!(w.alert("b1").edits.len(), edits);
    assert!(
        w.api
            .ephemerals()
            .iter()
            .any(|(_, u, t)| u == ONCALL && t.contains("Already acknowledged"))
    );

    // Mute alice for 24 hours (a member of the allowed user group).
    let mute = slack::click(
        &alice,
        GROUPIE,
        "opswatch_mute",
        &mute_option(&alice, "24 hours").unwrap(),
    );
    let (status, invoked) = send_signed(&actions, &mute).await;
    assert_eq!(status, 200, "{}", invoked.stderr);
    let announced: Vec<ApiMessage> = w
        .api
        .messages()
        .into_iter()
        .filter(|m| m.thread_ts.as_deref() == Some(alice.ts.as_str()))
        .collect();
    assert_eq!(announced.len(), 1, "one announcement in alice's thread");
    let note = all_text(&announced[0].body());
    assert!(
        note.contains(&format!("Muted for 24 hours by <@{GROUPIE}>")),
        "{note}"
    );
    assert!(note.contains("user/alice"), "{note}");
    assert!(button_value(&announced[0], "opswatch_unmute").is_some());

    // A new log file: alice's event is muted and counted, bob's is posted.
    let invoked = w
        .log_file("second", &[("alice", "a3"), ("bob", "b2")])
        .await;
    assert_eq!(summary_count(&invoked, "muted"), 1, "{}", invoked.stderr);
    let all: String = w
        .api
        .messages()
        .iter()
        .map(|m| all_text(&m.body()))
        .collect();
    assert!(!all.contains("marker=a3"), "a muted alert was posted");
    assert!(all.contains("marker=b2"));
    // bob's b2 replied in his thread, and the parent's count edit kept its acknowledgement.
    let parent = w.alert("b1");
    let text = all_text(&parent.body());
    assert!(
        parent.edits.len() > edits,
        "the parent was edited with its count"
    );
    assert!(text.contains("1 more alert in the thread"), "{text}");
    assert!(
        text.contains(&format!("Acknowledged by <@{ONCALL}>")),
        "{text}"
    );
    assert!(!has_buttons(&parent), "{:#}", parent.blocks);
    let emf: Value = invoked
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .expect("EMF line");
    assert_eq!(emf["Muted"], 1, "{emf}");

    // /opswatch mutes lists it.
    let list = slack::command(ONCALL, "C0ALERTS000", "mutes");
    let (status, invoked) = send_signed(&actions, &list).await;
    assert_eq!(status, 200);
    let body: Value =
        serde_json::from_str(response(&invoked)["body"].as_str().expect("a body")).expect("JSON");
    assert_eq!(body["response_type"], "ephemeral");
    assert!(all_text(&body).contains("user/alice"), "{body}");

    // Unmute from the announcement: it says so, and alice's alerts post again.
    let announcement = announced[0].clone();
    let unmute = slack::click(
        &announcement,
        ONCALL,
        "opswatch_unmute",
        &button_value(&announcement, "opswatch_unmute").unwrap(),
    );
    let (status, invoked) = send_signed(&actions, &unmute).await;
    assert_eq!(status, 200, "{}", invoked.stderr);
    let now_says = w
        .api
        .messages()
        .into_iter()
        .find(|m| m.ts == announcement.ts)
        .expect("the announcement");
    assert!(all_text(&now_says.body()).contains(&format!("Unmuted by <@{ONCALL}>")));
    assert!(!has_buttons(&now_says));
    let invoked = w.log_file("third", &[("alice", "a4")]).await;
    assert_eq!(summary_count(&invoked, "muted"), 0);
    let all: String = w
        .api
        .messages()
        .iter()
        .map(|m| all_text(&m.body()))
        .collect();
    assert!(all.contains("marker=a4"), "alice's alerts post again");
    let list = slack::command(ONCALL, "C0ALERTS000", "mutes");
    let (status, invoked) = send_signed(&actions, &list).await;
    assert_eq!(status, 200);
    assert!(
        response(&invoked)["body"]
            .as_str()
            .unwrap_or_default()
            .contains("No active mutes")
    );
}

#[tokio::test]
async fn every_refusal_leaves_the_state_untouched() {
    let w = world().await;
    w.log_file("first", &[("alice", "a1")]).await;
    let alice = w.alert("a1");
    let actions = w.actions(ONCALL, "");
    let mute_value = mute_option(&alice, "24 hours").unwrap();
    let mute = slack::click(&alice, ONCALL, "opswatch_mute", &mute_value);
    let start = w.state().await;
    let posts = || {
        w.api
            .calls()
            .iter()
            .filter(|c| c.method != "chat.postEphemeral" && c.method != "usergroups.users.list")
            .count()
    };
    let calls_before = posts();

    // Not from Slack: a forged signature, no headers, a timestamp 6 minutes old.
    let ts = now();
    let forged = url_event(
        &mute,
        &ts.to_string(),
        &signature("not-the-secret", ts, &mute),
    );
    assert_eq!(send(&actions, &forged).await.0, 401);
    let bare = json!({"version": "2.0", "headers": {}, "body": mute, "isBase64Encoded": false, "requestContext": {"http": {"method": "POST"}}});
    assert_eq!(send(&actions, &bare).await.0, 401);
    let old = now() - 360;
    let stale = url_event(
        &mute,
        &old.to_string(),
        &signature(SIGNING_SECRET, old, &mute),
    );
    let (status, invoked) = send(&actions, &stale).await;
    assert_eq!(status, 401);
    assert!(
        response(&invoked).get("body").is_none(),
        "a 401 says nothing"
    );
    // ssl_check is verified like everything else.
    let ssl = "ssl_check=1&token=deprecated";
    let unsigned = url_event(ssl, &now().to_string(), "v0=00");
    assert_eq!(send(&actions, &unsigned).await.0, 401);
    assert_eq!(signed_status(&actions, ssl).await, 200);
    // A body larger than Slack sends: refused before it is hashed.
    let huge = format!("payload={}", "a".repeat(300 * 1024));
    assert_eq!(signed_status(&actions, &huge).await, 413);
    // Signed, but not what Slack sends: 400 and one log line.
    let (status, invoked) = send_signed(&actions, "payload=%7Bnope").await;
    assert_eq!(status, 400);
    assert_eq!(
        invoked.logged("request refused").len(),
        1,
        "{}",
        invoked.stderr
    );
    assert_eq!(w.state().await, start);

    // A tampered value under a valid signature: 24h made 7d.
    let tampered = slack::click(
        &alice,
        ONCALL,
        "opswatch_mute",
        &mute_value.replace(".mute.24h:", ".mute.7d:"),
    );
    assert_eq!(signed_status(&actions, &tampered).await, 200);
    assert!(told(&w, "does not verify"));
    // An Acknowledge value on the Mute action: opswatch made it, for another action.
    let crossed = slack::click(
        &alice,
        ONCALL,
        "opswatch_mute",
        &button_value(&alice, "opswatch_ack").unwrap(),
    );
    assert_eq!(signed_status(&actions, &crossed).await, 200);
    // An action opswatch does not have.
    let unknown = slack::click(&alice, ONCALL, "opswatch_delete_everything", &mute_value);
    assert_eq!(signed_status(&actions, &unknown).await, 200);
    assert!(told(&w, "Unknown action"));
    // A user who is not allowed, with a perfect request.
    let stranger = slack::click(&alice, STRANGER, "opswatch_mute", &mute_value);
    assert_eq!(signed_status(&actions, &stranger).await, 200);
    assert!(
        w.api
            .ephemerals()
            .iter()
            .any(|(_, u, t)| u == STRANGER && t.contains("not allowed"))
    );
    let stranger_cmd = slack::command(STRANGER, "C0ALERTS000", "mutes");
    let (_, invoked) = send_signed(&actions, &stranger_cmd).await;
    assert!(
        response(&invoked)["body"]
            .as_str()
            .unwrap_or_default()
            .contains("not allowed")
    );
    // Nobody may act when both lists are empty, the listed user included.
    let nobody = w.actions("", "");
    assert_eq!(signed_status(&nobody, &mute).await, 200);
    assert!(
        w.api
            .ephemerals()
            .iter()
            .any(|(_, u, t)| u == ONCALL && t.contains("not allowed"))
    );
    assert_eq!(w.state().await, start, "a refusal changed something");
    assert_eq!(
        posts(),
        calls_before,
        "a refusal called Slack to change something"
    );

    // The same request, allowed: it mutes. Sent again (a replay inside the window): 401,
    // and nothing more happens.
    let mute = slack::click(&alice, ONCALL, "opswatch_mute", &mute_value);
    let once = slack::signed(SIGNING_SECRET, &mute);
    assert_eq!(send(&actions, &once).await.0, 200);
    let muted = w.state().await;
    assert_ne!(muted, start, "the allowed request muted");
    let calls = w.api.calls().len();
    let (status, invoked) = send(&actions, &once).await;
    assert_eq!(status, 401);
    assert!(invoked.stderr.contains("replay"), "{}", invoked.stderr);
    assert_eq!(w.state().await, muted);
    assert_eq!(w.api.calls().len(), calls, "a replay reached Slack");
}

#[tokio::test]
async fn actions_without_a_bot_token_or_secret_fail_the_cold_start_in_one_line() {
    let w = world().await;
    let invoked = lambda(CLOUDTRAIL, "cloudtrail-event-handler", w.moto.aws_env())
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hook")
        .env("DEDUPE_TABLE", TABLE)
        .env("ACTIONS", "on")
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .secret(SIGNING_SECRET)
        .invoke(b"{}")
        .await
        .expect("runs");
    let e = cold_start_error(&invoked);
    assert!(e.starts_with("ACTIONS=on needs Web API mode"), "{e}");
    assert!(!e.contains('\n'));
    let invoked = lambda(ACTIONS, "slack-actions", w.moto.aws_env())
        .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
        .env("DEDUPE_TABLE", TABLE)
        .secret(DEMO_TOKEN)
        .invoke(b"{}")
        .await
        .expect("runs");
    assert!(cold_start_error(&invoked).contains("SLACK_SIGNING_SECRET_ARN"));
}
