//! rds-maintenance-checker's apply windows and changes-only reports, end to end: a fake RDS
//! that answers DescribePendingMaintenanceActions, DescribeDBClusters and
//! DescribeDBInstances as documented (XML, `Marker` pages), moto DynamoDB for the report's
//! state, Slack messages out.

use opswatch_devkit::rds::{Action, Described, Fleet, Resource};
use opswatch_e2e::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2e-rds-maintenance-checker");
const FUNCTION: &str = "rds-maintenance-checker";
const TABLE: &str = "opswatch-dedupe";

fn at(time: &str) -> Vec<u8> {
    let mut ev: Value = serde_json::from_slice(&event("rds/schedule.json")).expect("JSON");
    ev["time"] = json!(time);
    ev.to_string().into_bytes()
}

fn resource(arn: &str, action: Action) -> Resource {
    Resource {
        resource_identifier: arn.into(),
        pending_maintenance_action_details: vec![action],
    }
}

fn action(name: &str) -> Action {
    Action {
        action: name.into(),
        description: Some(format!("{name} pending")),
        auto_applied_after_date: None,
        forced_apply_date: None,
        opt_in_status: None,
        current_apply_date: None,
    }
}

fn described(arn: &str, window: &str) -> Described {
    Described {
        identifier: arn.rsplit(':').next().unwrap_or_default().into(),
        arn: arn.into(),
        preferred_maintenance_window: Some(window.into()),
        cluster: None,
        tags: Vec::new(),
    }
}

const CLUSTER: &str = "arn:aws:rds:us-east-1:111122223333:cluster:orders";
const SATURDAY: &str = "arn:aws:rds:us-east-1:111122223333:db:orders-replica";
const FRIDAY: &str = "arn:aws:rds:us-east-1:111122223333:db:reports";

/// The issue's three resources: a cluster with window wed:07:00-wed:07:30 auto-applied after
/// Wednesday 03:00; an instance (sat:22:00-sat:22:30) opted in for its next maintenance; an
/// instance (fri:01:00-fri:01:30) auto-applied after Friday 00:00. Others fill the pages.
async fn fake() -> RdsFake {
    let rds = RdsFake::start(vec![
        resource(
            CLUSTER,
            Action {
                auto_applied_after_date: Some("2026-11-25T03:00:00Z".into()),
                current_apply_date: Some("2026-11-25T03:00:00Z".into()),
                ..action("system-update")
            },
        ),
        resource(
            SATURDAY,
            Action {
                opt_in_status: Some("next-maintenance".into()),
                ..action("db-upgrade")
            },
        ),
        resource(
            FRIDAY,
            Action {
                auto_applied_after_date: Some("2026-11-27T00:00:00Z".into()),
                forced_apply_date: Some("2027-01-08T00:00:00Z".into()),
                ..action("ca-certificate-rotation")
            },
        ),
    ])
    .await
    .expect("fake RDS");
    let mut fleet = Fleet {
        clusters: vec![described(CLUSTER, "wed:07:00-wed:07:30")],
        instances: vec![
            described(SATURDAY, "sat:22:00-sat:22:30"),
            described(FRIDAY, "fri:01:00-fri:01:30"),
        ],
    };
    // Resources without pending actions: the function asks only for its three.
    for i in 0..3 {
        fleet.clusters.push(described(
            &format!("arn:aws:rds:us-east-1:111122223333:cluster:idle-{i}"),
            "mon:01:00-mon:01:30",
        ));
        fleet.instances.push(described(
            &format!("arn:aws:rds:us-east-1:111122223333:db:idle-{i}"),
            "mon:01:00-mon:01:30",
        ));
    }
    rds.describe(fleet);
    // One resource a page: every call must follow its Marker.
    rds.page_size(1);
    rds
}

fn text(slack: &SlackFake) -> String {
    slack.received().iter().map(all_text).collect()
}

/// The group line naming `resource`'s action (the line before its resource list).
fn line_of<'a>(text: &'a str, resource: &str) -> &'a str {
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("        ") && l.contains(&format!("|{resource}>")))
        .unwrap_or_else(|| panic!("{resource} not in {text}"));
    lines[i - 1]
}

#[tokio::test]
async fn each_action_shows_the_start_of_the_window_it_applies_in() {
    let rds = fake().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    let run = || {
        lambda(BIN, FUNCTION, no_aws_env())
            .env("AWS_ENDPOINT_URL_RDS", rds.url())
            .env("RDS_REGIONS", "us-east-1")
            .env("SLACK_WEBHOOK_URL", slack.url())
    };
    // Monday 2026-11-23, 08:00 UTC.
    let invoked = run()
        .invoke(&at("2026-11-23T08:00:00Z"))
        .await
        .expect("runs");
    let r = response(&invoked);
    assert_eq!(
        (r["actions"].as_u64(), r["windowsUnknown"].as_u64()),
        (Some(3), Some(0)),
        "{r}"
    );
    let t = text(&slack);
    assert!(
        line_of(&t, "orders").starts_with(
            ":warning: *2026-11-25 07:00 UTC* (in 2 days, maintenance window wed:07:00-wed:07:30) — `system-update`"
        ),
        "{t}"
    );
    assert!(
        line_of(&t, "orders-replica").starts_with(
            ":warning: *2026-11-28 22:00 UTC* (in 5 days, maintenance window sat:22:00-sat:22:30) — `db-upgrade`"
        ),
        "{t}"
    );
    assert!(
        line_of(&t, "reports").starts_with(
            ":warning: *2026-11-27 01:00 UTC* (in 4 days, maintenance window fri:01:00-fri:01:30) — `ca-certificate-rotation`"
        ),
        "{t}"
    );
    // Soonest first.
    let (w, f, s) = (
        t.find("2026-11-25 07:00"),
        t.find("2026-11-27 01:00"),
        t.find("2026-11-28 22:00"),
    );
    assert!(w < f && f < s, "{t}");
    // Each describe call asked for exactly the resources with actions, by ARN, and followed
    // its Marker page by page.
    let requests = rds.requests();
    for (api, want) in [
        ("DescribeDBClusters", vec![CLUSTER]),
        ("DescribeDBInstances", vec![SATURDAY, FRIDAY]),
    ] {
        let calls: Vec<_> = requests
            .iter()
            .filter(|q| q.param("Action") == Some(api))
            .collect();
        assert_eq!(calls.len(), want.len(), "{api}: one page per resource");
        assert_eq!(calls[0].param("Marker"), None);
        if want.len() > 1 {
            assert_eq!(calls[1].param("Marker"), Some("fake-marker-1"));
        }
        let mut asked: Vec<&str> = (1..)
            .map_while(|m| calls[0].param(&format!("Filters.Filter.1.Values.Value.{m}")))
            .collect();
        asked.sort_unstable();
        assert_eq!(asked, want, "{api}");
        assert!(calls.iter().all(|q| q.status == 200));
    }

    // A ForcedApplyDate before the window wins.
    rds.set_pending(vec![resource(
        FRIDAY,
        Action {
            auto_applied_after_date: Some("2026-11-27T00:00:00Z".into()),
            forced_apply_date: Some("2026-11-26T12:00:00Z".into()),
            ..action("ca-certificate-rotation")
        },
    )]);
    run()
        .invoke(&at("2026-11-23T09:00:00Z"))
        .await
        .expect("runs");
    let t = text(&slack);
    assert!(
        t.contains("*2026-11-26 12:00 UTC* (in 3 days, forced on 2026-11-26 12:00 UTC, before its window fri:01:00-fri:01:30)"),
        "{t}"
    );

    // Instances that cannot be described keep RDS's dates, and their line says why.
    rds.set_pending(vec![
        resource(
            CLUSTER,
            Action {
                auto_applied_after_date: Some("2026-11-25T03:00:00Z".into()),
                ..action("system-update")
            },
        ),
        resource(
            FRIDAY,
            Action {
                auto_applied_after_date: Some("2026-11-27T00:00:00Z".into()),
                ..action("ca-certificate-rotation")
            },
        ),
    ]);
    rds.fail_action("DescribeDBInstances", RegionFailure::AccessDenied);
    let before = slack.received().len();
    let invoked = run()
        .env("AWS_MAX_ATTEMPTS", "1")
        .invoke(&at("2026-11-23T10:00:00Z"))
        .await
        .expect("runs");
    assert_eq!(response(&invoked)["windowsUnknown"], 1);
    let t: String = slack.received()[before..].iter().map(all_text).collect();
    let friday = line_of(&t, "reports");
    assert!(
        friday.starts_with(":warning: *2026-11-27* (in 4 days, auto-applied after)")
            && friday.contains("window unknown (DescribeDBInstances: AccessDenied: User: ")
            && friday.contains("not authorized to perform: rds:DescribeDBInstances"),
        "{friday}"
    );
    assert!(
        line_of(&t, "orders").contains("*2026-11-25 07:00 UTC*"),
        "{t}"
    );
}

struct Changes {
    moto: Moto,
    rds: RdsFake,
    slack: SlackFake,
}

impl Changes {
    async fn start() -> Self {
        let moto = Moto::start().expect("moto");
        opswatch_devkit::dynamodb::create_table(&sdk_config(&moto).await, TABLE)
            .await
            .expect("the dedupe table");
        Self {
            moto,
            rds: RdsFake::start_sample(&root(), 0).await.expect("fake RDS"),
            slack: SlackFake::start().await.expect("fake Slack"),
        }
    }

    async fn run(&self, time: &str) -> Invoked {
        self.invoke(&at(time)).await
    }

    async fn invoke(&self, event: &[u8]) -> Invoked {
        lambda(BIN, FUNCTION, self.moto.aws_env())
            .env("AWS_ENDPOINT_URL_RDS", self.rds.url())
            .env("RDS_REGIONS", "us-east-1,eu-west-1")
            .env("SLACK_WEBHOOK_URL", self.slack.url())
            .env("SLACK_MAX_RETRY_SECONDS", "1")
            .env("DEDUPE_TABLE", TABLE)
            .env("RDS_REPORT", "changes")
            .invoke(event)
            .await
            .expect("runs")
    }

    /// What Slack received since `before` messages.
    fn since(&self, before: usize) -> String {
        self.slack.received()[before..]
            .iter()
            .map(all_text)
            .collect()
    }
}

fn resources_in(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("        "))
        .flat_map(|l| {
            l.split('|')
                .skip(1)
                .filter_map(|s| s.split_once('>').map(|(label, _)| label.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn changes_only_first_everything_then_news_and_one_reminder() {
    let s = Changes::start().await;
    // Wednesday 08:00: the first run shows every action, as new.
    let first = s.run("2026-11-25T08:00:00Z").await;
    let r = response(&first);
    assert_eq!(
        (r["new"].as_u64(), r["unchanged"].as_u64()),
        (Some(8), Some(0)),
        "{r}"
    );
    let t = s.since(0);
    assert_eq!(resources_in(&t).len(), 8, "{t}");
    assert!(t.contains("RDS maintenance: 8 new"), "{t}");
    assert!(t.contains("· *new* — `db-upgrade`"), "{t}");

    // An hour later, nothing changed: nothing posted.
    let n = s.slack.received().len();
    let quiet = s.run("2026-11-25T09:00:00Z").await;
    let r = response(&quiet);
    assert_eq!(
        (r["messagesPosted"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(8)),
        "{r}"
    );
    assert_eq!(s.slack.received().len(), n);

    // A new action: posted alone, with its window. While Slack is down, nothing moves.
    let mut pending = RdsFake::fixture(&root()).expect("fixture");
    pending.push(resource(
        "arn:aws:rds:us-east-1:111122223333:db:reporting-mysql",
        Action {
            auto_applied_after_date: Some("2026-12-10T00:00:00Z".into()),
            ..action("db-upgrade")
        },
    ));
    s.rds.set_pending(pending);
    s.slack.always(Reply::Status {
        status: 503,
        body: "service unavailable",
        retry_after: None,
    });
    let down = s.run("2026-11-25T10:00:00Z").await;
    assert_eq!(error(&down).0, "SlackDeliveryFailed", "{}", down.stderr);
    s.slack.always(Reply::Normal);
    let n = s.slack.received().len();
    let news = s.run("2026-11-25T11:00:00Z").await;
    let r = response(&news);
    assert_eq!(
        (r["new"].as_u64(), r["unchanged"].as_u64()),
        (Some(1), Some(8)),
        "{r}"
    );
    let t = s.since(n);
    assert_eq!(resources_in(&t), ["reporting-mysql"], "{t}");
    assert!(
        t.contains("*2026-12-11 01:00 UTC* (in 16 days, maintenance window fri:01:00-fri:01:30) · *new* — `db-upgrade`"),
        "{t}"
    );

    // Tuesday 2026-12-01 08:00: aurora-prod's window (Wednesday 07:00) is within 24 hours,
    // and billing-aurora's forced date has come: one reminder each, once.
    let n = s.slack.received().len();
    let remind = s.run("2026-12-01T08:00:00Z").await;
    let r = response(&remind);
    assert_eq!(
        (
            r["reminders"].as_u64(),
            r["new"].as_u64(),
            r["changed"].as_u64()
        ),
        (Some(2), Some(0), Some(0)),
        "{r}"
    );
    let t = s.since(n);
    assert_eq!(resources_in(&t), ["aurora-prod", "billing-aurora"], "{t}");
    assert!(
        t.contains(
            "*2026-12-02 07:00 UTC* (tomorrow, maintenance window wed:07:00-wed:07:30) · *reminder*"
        ),
        "{t}"
    );
    let n = s.slack.received().len();
    let again = s.run("2026-12-01T09:00:00Z").await;
    assert_eq!(response(&again)["messagesPosted"], 0);
    assert_eq!(s.slack.received().len(), n);

    // A date that moves is a change, with what it was: here past the forced date, which
    // then wins.
    let mut pending = RdsFake::fixture(&root()).expect("fixture");
    for r in &mut pending {
        if r.resource_identifier
            .ends_with(":db:aurora-prod-instance-1")
        {
            r.pending_maintenance_action_details[0].auto_applied_after_date =
                Some("2027-01-10T00:00:00Z".into());
        }
    }
    s.rds.set_pending(pending);
    let n = s.slack.received().len();
    let moved = s.run("2026-12-01T10:00:00Z").await;
    assert_eq!(response(&moved)["changed"], 1);
    let t = s.since(n);
    assert!(
        t.contains("*2027-01-15 00:00 UTC* (in 45 days, forced on 2027-01-15, before its window sat:22:00-sat:22:30) · *changed* (was 2026-12-26 22:00 UTC)"),
        "{t}"
    );
    // reporting-mysql's db-upgrade is gone from RDS now: forgotten, not reported.
    assert_eq!(resources_in(&t), ["aurora-prod-instance-1"], "{t}");

    // The template's second schedule (EventBridge Scheduler's input): the full digest.
    let n = s.slack.received().len();
    let full = s
        .invoke(br#"{"report": "digest", "time": "2026-12-01T11:00:00Z"}"#)
        .await;
    assert_eq!(response(&full)["report"], "digest");
    let t = s.since(n);
    assert!(t.contains("RDS maintenance: 8 pending actions"), "{t}");
    assert_eq!(resources_in(&t).len(), 8, "{t}");
    // And the changes report goes on where it was.
    let quiet = s.run("2026-12-01T12:00:00Z").await;
    assert_eq!(response(&quiet)["messagesPosted"], 0);
}

#[tokio::test]
async fn changes_needs_the_dedupe_table() {
    let rds = RdsFake::start_sample(&root(), 0).await.expect("fake RDS");
    let invoked = lambda(BIN, FUNCTION, no_aws_env())
        .env("AWS_ENDPOINT_URL_RDS", rds.url())
        .env("RDS_REPORT", "changes")
        .invoke(&at("2026-11-25T08:00:00Z"))
        .await
        .expect("runs");
    assert!(
        cold_start_error(&invoked).contains(
            "RDS_REPORT=changes keeps what it reported in the dedupe table: set DEDUPE_TABLE"
        ),
        "{}",
        invoked.stderr
    );
    let bad = lambda(BIN, FUNCTION, no_aws_env())
        .env("RDS_REPORT", "weekly")
        .invoke(&at("2026-11-25T08:00:00Z"))
        .await
        .expect("runs");
    assert!(
        cold_start_error(&bad).contains("RDS_REPORT: \"weekly\""),
        "{}",
        bad.stderr
    );
}
