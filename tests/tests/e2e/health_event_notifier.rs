//! health-event-notifier end to end, through the real binary, in Web API mode with the
//! dedupe table (moto): an issue's open → update → closed is one thread whose parent ends
//! resolved; a duplicate and the backup region's copy post nothing; severity and tag
//! routes; the organization view's account and name; outside text escaped; bad input posts
//! nothing.

use opswatch_devkit::slack_api::{DEMO_TOKEN, SlackApiFake};
use opswatch_devkit::{ApiMessage, Invoked};
use opswatch_e2e::*;
use serde_json::{Value, json};

const HEALTH: &str = env!("CARGO_BIN_EXE_e2e-health-event-notifier");
const TABLE: &str = "opswatch-dedupe";
const ROUTES: &str = r##"[
  {"severity": "critical", "channel": "#security"},
  {"tag": {"team": "search"}, "channel": "#search"}
]"##;

struct World {
    moto: Moto,
    api: SlackApiFake,
}

async fn world() -> World {
    let moto = moto_with_table(TABLE).await;
    let api = SlackApiFake::start(DEMO_TOKEN)
        .await
        .expect("fake Slack API");
    api.add_channel("C0SEARCH000", "search", true, false);
    World { moto, api }
}

impl World {
    fn health(&self) -> LocalLambda {
        lambda(HEALTH, "health-event-notifier", self.moto.aws_env())
            .env("SLACK_BOT_TOKEN", DEMO_TOKEN)
            .env("SLACK_CHANNEL", "#alerts")
            .env("SLACK_API_URL", self.api.url())
            .env("SLACK_ROUTES", ROUTES)
            .env("DEDUPE_TABLE", TABLE)
            .env("ACCOUNT_NAMES", "111122223333=prod,444455556666=staging")
    }

    /// Each event in its own invocation (a cold start each, as EventBridge may bring them).
    async fn send(&self, events: &[Vec<u8>]) -> Vec<Invoked> {
        let mut out = Vec::new();
        for e in events {
            out.push(self.health().invoke(e).await.expect("runs"));
        }
        out
    }
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&event(&format!("health/{name}"))).expect("JSON")
}

fn bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn header(m: &ApiMessage) -> String {
    m.blocks[0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn posted(invoked: &Invoked) -> u64 {
    response(invoked)["messagesPosted"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn open_update_and_closed_make_one_thread_whose_parent_ends_resolved() {
    let w = world().await;
    let runs = w
        .send(&[
            event("health/issue-1-open.json"),
            event("health/issue-2-updated.json"),
            event("health/issue-3-closed.json"),
        ])
        .await;
    for r in &runs {
        assert_eq!(posted(r), 1, "{}", r.stderr);
    }
    let m = w.api.channel_messages("security");
    assert_eq!(m.len(), 3, "{m:?}");
    let parent = &m[0];
    assert_eq!(parent.thread_ts, None);
    for reply in &m[1..] {
        assert_eq!(reply.thread_ts.as_deref(), Some(parent.ts.as_str()));
    }
    assert!(header(&m[1]).ends_with("— open"), "{}", header(&m[1]));
    assert!(header(&m[2]).ends_with("— resolved"), "{}", header(&m[2]));
    // The parent was edited to each later status and ends resolved, with the count.
    assert_eq!(parent.edits.len(), 2);
    assert_eq!(
        header(parent),
        ":rotating_light: AWS Health issue · EC2 · us-east-1 — resolved"
    );
    let text = all_text(&parent.body());
    assert!(text.contains("[RESOLVED] Between 9:32 AM"), "{text}");
    assert!(!text.contains("[Investigating]"), "{text}");
    assert!(text.contains("2 more alerts in the thread"), "{text}");
    assert!(w.api.channel_messages("alerts").is_empty());
}

#[tokio::test]
async fn a_late_update_does_not_reopen_a_resolved_parent() {
    let w = world().await;
    w.send(&[
        event("health/issue-1-open.json"),
        event("health/issue-3-closed.json"),
        event("health/issue-2-updated.json"),
    ])
    .await;
    let m = w.api.channel_messages("security");
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(
        m[1..]
            .iter()
            .all(|r| r.thread_ts.as_deref() == Some(m[0].ts.as_str()))
    );
    assert_eq!(
        header(&m[0]),
        ":rotating_light: AWS Health issue · EC2 · us-east-1 — resolved"
    );
    assert!(all_text(&m[0].body()).contains("2 more alerts in the thread"));
}

#[tokio::test]
async fn a_duplicate_and_the_backup_regions_copy_post_nothing() {
    let w = world().await;
    let primary = sample("issue-1-open.json");
    // The backup region's copy: another EventBridge id, delivered to us-west-2, flagged.
    let mut backup = primary.clone();
    backup["id"] = json!("0b9d2c4e-backup-copy-in-us-west-2");
    backup["region"] = json!("us-west-2");
    backup["detail"]["backupEvent"] = json!(true);
    let runs = w
        .send(&[bytes(&primary), bytes(&primary), bytes(&backup)])
        .await;
    assert_eq!(posted(&runs[0]), 1, "{}", runs[0].stderr);
    for r in &runs[1..] {
        assert_eq!(posted(r), 0, "{}", r.stderr);
        assert_eq!(response(r)["deduplicated"], 1, "{}", r.stderr);
    }
    let m = w.api.messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].edits.is_empty(), "a duplicate edits nothing");
}

#[tokio::test]
async fn severity_and_tag_routes_pick_the_channel() {
    let w = world().await;
    w.send(&[
        event("health/issue-1-open.json"),
        event("health/scheduled-rds-maintenance.json"),
        event("health/account-notification.json"),
        event("health/org-view-ec2-retirement.json"),
    ])
    .await;
    let security: Vec<String> = w
        .api
        .channel_messages("security")
        .iter()
        .map(header)
        .collect();
    let alerts: Vec<String> = w
        .api
        .channel_messages("alerts")
        .iter()
        .map(header)
        .collect();
    let search: Vec<String> = w
        .api
        .channel_messages("search")
        .iter()
        .map(header)
        .collect();
    assert_eq!(
        security,
        [":rotating_light: AWS Health issue · EC2 · us-east-1 — open"]
    );
    assert_eq!(
        alerts,
        [
            ":warning: AWS Health scheduled change · RDS · eu-west-1 — upcoming",
            ":information_source: AWS Health account notification · IAM · global — open",
        ]
    );
    // Its one entity is tagged team=search: the tag route.
    assert_eq!(
        search,
        [":warning: AWS Health scheduled change · EC2 · eu-central-1 — upcoming"]
    );
}

#[tokio::test]
async fn the_organization_views_account_is_shown_with_its_name() {
    let w = world().await;
    w.send(&[event("health/org-view-ec2-retirement.json")])
        .await;
    let m = w.api.channel_messages("search");
    assert_eq!(m.len(), 1);
    let text = all_text(&m[0].body());
    assert!(text.contains("*Account*\n444455556666 (staging)"), "{text}");
    // The management account that received it is not the one it is about.
    assert!(!text.contains("111122223333"), "{text}");
}

#[tokio::test]
async fn a_channel_mention_in_a_description_pings_nobody() {
    let w = world().await;
    let mut e = sample("account-notification.json");
    e["detail"]["eventDescription"][0]["latestDescription"] =
        json!("<!channel> rotate now: <https://evil.example|aws.amazon.com> & <@U0ADMIN>");
    e["detail"]["affectedEntities"][0]["tags"] = json!({"owner": "<!here>"});
    let runs = w.send(&[bytes(&e)]).await;
    assert_eq!(posted(&runs[0]), 1, "{}", runs[0].stderr);
    let body = w.api.messages()[0].body().to_string();
    for bad in ["<!channel>", "<!here>", "<@U0ADMIN>", "<https://evil"] {
        assert!(!body.contains(bad), "{bad} in {body}");
    }
    assert!(body.contains("&lt;!channel&gt; rotate now"), "{body}");
}

#[tokio::test]
async fn bad_input_posts_nothing_and_says_what_is_wrong_in_one_line() {
    let w = world().await;
    let mut no_detail = sample("issue-1-open.json");
    no_detail.as_object_mut().expect("object").remove("detail");
    let mut no_arn = sample("issue-1-open.json");
    no_arn["detail"]
        .as_object_mut()
        .expect("object")
        .remove("eventArn");
    let mut ec2 = sample("issue-1-open.json");
    ec2["source"] = json!("aws.ec2");
    ec2["detail-type"] = json!("EC2 Instance State-change Notification");
    let cases = [
        (
            event("config/security-group-ingress.json"),
            "not an AWS Health event: source is missing",
        ),
        (
            bytes(&ec2),
            "not an AWS Health event: source is \"aws.ec2\"",
        ),
        (
            bytes(&no_detail),
            "the AWS Health event has no \"detail\" object",
        ),
        (
            bytes(&no_arn),
            "the AWS Health event's detail has no \"eventArn\"",
        ),
        (b"not json".to_vec(), "the event is not JSON"),
    ];
    let bodies: Vec<Vec<u8>> = cases.iter().map(|(b, _)| b.clone()).collect();
    // One warm process takes them all in turn, and keeps serving.
    let answers = w.health().invoke_many(&bodies).await.expect("runs");
    for ((_, expected), invoked) in cases.iter().zip(&answers) {
        let (kind, message) = error(invoked);
        assert_eq!(kind, "BadInput", "{message}");
        assert!(
            message.starts_with(expected),
            "{message:?} should start with {expected:?}"
        );
        assert!(!message.contains('\n'), "{message:?}");
    }
    assert!(w.api.messages().is_empty());
    assert!(
        !w.api.calls().iter().any(|c| c.method == "chat.postMessage"),
        "nothing was sent to Slack"
    );
}
