//! rds-maintenance-checker end to end: scheduled events in, a fake RDS Query API (form POST,
//! documented XML, Marker pages, error responses) reached through AWS_ENDPOINT_URL_RDS,
//! Slack digests out.

use opswatch_e2e::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2e-rds-maintenance-checker");
const FUNCTION: &str = "rds-maintenance-checker";

/// The fixture's actions as the digest must order them for the sample's time
/// (Wednesday 2026-11-25T08:00:00Z), each at the start of its resource's maintenance window
/// (`events/rds/fixtures/db-*.json`) or its forced date: (resource link label, action, first
/// column and how).
const EXPECTED: [(&str, &str, &str); 8] = [
    (
        "legacy-pg",
        "db-upgrade",
        "*2026-11-26 03:00 UTC* (tomorrow, maintenance window thu:03:00-thu:03:30)",
    ),
    (
        "billing-aurora-instance-1",
        "system-update",
        "*2026-11-26 04:00 UTC* (tomorrow, maintenance window thu:04:00-thu:04:30)",
    ),
    (
        "billing-aurora",
        "hardware-maintenance",
        "*2026-12-01 00:00 UTC* (in 6 days, forced on 2026-12-01)",
    ),
    (
        "aurora-prod",
        "system-update",
        "*2026-12-02 07:00 UTC* (in 7 days, maintenance window wed:07:00-wed:07:30)",
    ),
    (
        "aurora-prod-instance-2",
        "ca-certificate-rotation",
        "*2026-12-20 23:30 UTC* (in 25 days, maintenance window sun:23:30-mon:00:30)",
    ),
    (
        "aurora-prod-instance-1",
        "ca-certificate-rotation",
        "*2026-12-26 22:00 UTC* (in 31 days, maintenance window sat:22:00-sat:22:30)",
    ),
    ("aurora-prod-instance-2", "os-upgrade", "*no date*"),
    ("reporting-mysql", "os-upgrade", "*no date*"),
];

struct Setup {
    rds: RdsFake,
    slack: SlackFake,
}

async fn setup() -> Setup {
    Setup {
        rds: RdsFake::start_sample(&root(), 0).await.expect("fake RDS"),
        slack: SlackFake::start().await.expect("fake Slack"),
    }
}

impl Setup {
    async fn run(&self, regions: &str, extra: &[(&str, &str)]) -> Invoked {
        let mut l = lambda(BIN, FUNCTION, no_aws_env())
            .env("AWS_ENDPOINT_URL_RDS", self.rds.url())
            .env("AWS_MAX_ATTEMPTS", "2")
            .env("RDS_REGIONS", regions)
            .env("SLACK_WEBHOOK_URL", self.slack.url());
        for (k, v) in extra {
            l = l.env(k, *v);
        }
        l.invoke(&event("rds/schedule.json")).await.expect("runs")
    }

    /// The text of every message Slack received, in order.
    fn text(&self) -> String {
        self.slack.received().iter().map(all_text).collect()
    }
}

/// The digest's action lines (`:rotating_light:`/`:warning:`/`•` lead a group; resources
/// follow indented).
fn groups(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with(":rotating_light: ")
            || line.starts_with(":warning: ")
            || line.starts_with("• ")
        {
            out.push((line.to_owned(), Vec::new()));
        } else if line.starts_with("        ") {
            let labels = line
                .split('|')
                .skip(1)
                .filter_map(|s| s.split_once('>').map(|(label, _)| label.to_owned()));
            if let Some(last) = out.last_mut() {
                last.1.extend(labels);
            }
        }
    }
    out
}

/// (resource, action, group line) for every resource of every group, in message order.
fn actions(text: &str) -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for (line, resources) in groups(text) {
        let action = line.split('`').nth(1).unwrap_or_default().to_owned();
        for r in resources {
            v.push((r, action.clone(), line.clone()));
        }
    }
    v
}

#[tokio::test]
async fn every_action_once_soonest_first_with_day_counts() {
    let s = setup().await;
    // Three resources a page: the function must follow the Marker.
    s.rds.page_size(3);
    let invoked = s.run("us-east-1,eu-west-1", &[]).await;
    let r = response(&invoked);
    assert_eq!(r["actions"], 8, "{r}");
    assert_eq!(r["resources"], 7, "{r}");
    assert_eq!(r["dueSoon"], 4, "{r}");
    assert_eq!(r["failedRegions"], json!([]), "{r}");
    assert_eq!(r["messagesPosted"], 1, "{r}");

    let got = actions(&s.text());
    assert_eq!(got.len(), EXPECTED.len(), "{got:#?}");
    for ((resource, action, line), (want_r, want_a, want_day)) in got.iter().zip(EXPECTED) {
        assert_eq!(
            (resource.as_str(), action.as_str()),
            (want_r, want_a),
            "{line}"
        );
        assert!(line.contains(want_day), "{want_r}: {line}");
    }
    // Due within a day: critical; within WARN_DAYS (7): a warning.
    let marked = |lead: &str| -> Vec<&str> {
        got.iter()
            .filter(|(_, _, l)| l.starts_with(lead))
            .map(|(r, ..)| r.as_str())
            .collect()
    };
    assert_eq!(
        marked(":rotating_light:"),
        ["legacy-pg", "billing-aurora-instance-1"]
    );
    assert_eq!(marked(":warning:"), ["billing-aurora", "aurora-prod"]);

    // Every page of us-east-1 (5 resources: 2 pages of 3) was asked for with its Marker.
    let east: Vec<_> = s
        .rds
        .requests()
        .into_iter()
        .filter(|q| q.region == "us-east-1")
        .filter(|q| q.param("Action") == Some("DescribePendingMaintenanceActions"))
        .collect();
    assert_eq!(east.len(), 2, "{east:?}");
    assert_eq!(east[0].param("Marker"), None);
    assert_eq!(east[1].param("Marker"), Some("fake-marker-3"));
    assert!(east.iter().all(|q| q.status == 200));

    assert_eq!(summary_count(&invoked, "actions"), 8);
    insta::assert_json_snapshot!("rds_sample_digest", s.slack.received());
}

#[tokio::test]
async fn a_throttled_or_denied_region_is_named_and_the_others_still_report() {
    let s = setup().await;
    s.rds.fail_region("eu-west-1", RegionFailure::Throttling);
    s.rds.fail_region("ap-south-1", RegionFailure::AccessDenied);
    let invoked = s.run("us-east-1,eu-west-1,ap-south-1", &[]).await;
    let r = response(&invoked);
    let failed: Vec<(&str, &str)> = r["failedRegions"]
        .as_array()
        .expect("failedRegions")
        .iter()
        .map(|f| {
            (
                f["region"].as_str().unwrap_or_default(),
                f["error"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 2, "{r}");
    assert_eq!(failed[0].0, "eu-west-1");
    assert!(failed[0].1.starts_with("Throttling: Rate exceeded"), "{r}");
    assert_eq!(failed[1].0, "ap-south-1");
    assert!(failed[1].1.starts_with("AccessDenied: User: "), "{r}");
    assert_eq!(r["actions"], 6, "us-east-1's six actions: {r}");

    // The SDK retried the throttled region before giving up (AWS_MAX_ATTEMPTS=2).
    let eu = s
        .rds
        .requests()
        .iter()
        .filter(|q| q.region == "eu-west-1")
        .count();
    assert_eq!(eu, 2);

    let text = s.text();
    assert!(
        text.contains("*eu-west-1* — Throttling: Rate exceeded"),
        "{text}"
    );
    assert!(text.contains("*ap-south-1* — AccessDenied"), "{text}");
    assert!(text.contains("(1 of 3 read)"), "{text}");
    assert_eq!(actions(&text).len(), 6, "{text}");
    // And the log names them.
    let logged: Vec<Value> = invoked
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "DescribePendingMaintenanceActions failed")
        .collect();
    assert_eq!(logged.len(), 2, "{}", invoked.stderr);
}

#[tokio::test]
async fn every_region_failing_fails_the_invocation_and_posts_nothing() {
    let s = setup().await;
    s.rds.fail_region("us-east-1", RegionFailure::AccessDenied);
    s.rds.fail_region("eu-west-1", RegionFailure::AccessDenied);
    let invoked = s.run("us-east-1,eu-west-1", &[]).await;
    let (kind, message) = error(&invoked);
    assert_eq!(kind, "RdsUnavailable");
    assert!(
        message.starts_with("every region failed: us-east-1: AccessDenied")
            && message.contains("; eu-west-1: AccessDenied"),
        "{message}"
    );
    assert!(s.slack.received().is_empty());
}

#[tokio::test]
async fn cluster_and_instance_filters_are_the_apis() {
    let s = setup().await;
    let invoked = s
        .run(
            "us-east-1,eu-west-1",
            &[
                ("RDS_CLUSTER_IDS", "aurora-prod, billing-aurora"),
                (
                    "RDS_INSTANCE_IDS",
                    "legacy-pg,arn:aws:rds:us-east-1:111122223333:db:reporting-mysql",
                ),
            ],
        )
        .await;
    let r = response(&invoked);
    let mut got: Vec<(String, String)> = actions(&s.text())
        .into_iter()
        .map(|(r, a, _)| (r, a))
        .collect();
    got.sort();
    let want: Vec<(String, String)> = [
        ("aurora-prod", "system-update"),
        ("billing-aurora", "hardware-maintenance"),
        ("legacy-pg", "db-upgrade"),
        ("reporting-mysql", "os-upgrade"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{r}");
    // Each region was asked once per filter, with the API's filter names.
    let requests: Vec<_> = s
        .rds
        .requests()
        .into_iter()
        .filter(|q| q.param("Action") == Some("DescribePendingMaintenanceActions"))
        .collect();
    assert_eq!(requests.len(), 4);
    let names: Vec<&str> = requests
        .iter()
        .filter_map(|q| q.param("Filters.Filter.1.Name"))
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "db-cluster-id").count(),
        2,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "db-instance-id").count(),
        2,
        "{names:?}"
    );
    assert!(
        requests
            .iter()
            .any(|q| q.param("Filters.Filter.1.Values.Value.2") == Some("billing-aurora"))
    );
}

#[tokio::test]
async fn nothing_pending_is_silent_unless_asked() {
    let s = setup().await;
    let quiet = s.run("ap-south-1", &[]).await;
    assert_eq!(response(&quiet)["messagesPosted"], 0);
    assert!(s.slack.received().is_empty());
    let told = s.run("ap-south-1", &[("NOTIFY_WHEN_EMPTY", "true")]).await;
    assert_eq!(response(&told)["messagesPosted"], 1);
    let text = s.text();
    assert!(
        text.contains("RDS maintenance: nothing pending")
            && text.contains("no pending maintenance in ap-south-1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_bad_event_or_setting_is_one_clear_line() {
    let s = setup().await;
    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .env("AWS_ENDPOINT_URL_RDS", s.rds.url())
        .env("SLACK_WEBHOOK_URL", s.slack.url())
        .invoke(br#"{"detail-type":"Scheduled Event"}"#)
        .await
        .expect("runs");
    let (kind, message) = error(&invoked);
    assert_eq!(kind, "BadInput");
    assert!(message.contains("no \"time\""), "{message}");

    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .env("RDS_REGIONS", "us-east-1,Frankfurt")
        .invoke(&event("rds/schedule.json"))
        .await
        .expect("runs");
    // A bad setting stops the cold start with a message naming it.
    let why = cold_start_error(&invoked);
    assert!(
        why.starts_with(r#"RDS_REGIONS: "Frankfurt" is not a region name"#),
        "{why}"
    );
    assert!(s.rds.requests().is_empty());
}
