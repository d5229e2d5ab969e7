//! The whole organization from one deployment, end to end: an organization in moto
//! (Organizations: accounts, a suspended one, account tags), the fake RDS and STS answering
//! per account (keyed by the credentials `AssumeRole` handed out), the real binaries.
//!
//! - rds-maintenance-checker reads every active account's regions into one digest, each
//!   action under its account's name; an account it cannot enter is named with the reason;
//!   `ORG_ACCOUNTS=<ids>` reads only those; a tag route sends one team's resources to its
//!   channel; an answer for another account is never shown under the asking account's name;
//!   throttled Organizations calls are retried; a bad setting is one line at cold start.
//! - config-change-notifier shows a member account's name, and routes on the item's tags.
//! - cloudtrail-event-handler and health-event-notifier route on the account's tags in
//!   Organizations, and show its name from there.

use std::collections::BTreeSet;

use aws_sdk_organizations::types::{OrganizationFeatureSet, Tag};
use opswatch_devkit::rds::{Action, Described, Fleet, Resource};
use opswatch_devkit::{ApiMessage, OrgThrottleProxy, SlackApiFake};
use serde_json::{Value, json};

use opswatch_e2e::*;

const RDS: &str = env!("CARGO_BIN_EXE_e2e-rds-maintenance-checker");
const CONFIG: &str = env!("CARGO_BIN_EXE_e2e-config-change-notifier");
const CLOUDTRAIL: &str = env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler");
const HEALTH: &str = env!("CARGO_BIN_EXE_e2e-health-event-notifier");
const ROLE: &str = "opswatch-rds-reader";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const TOKEN: &str = "xoxb-0000000000-0000000000000-org0test0token0000000000";

/// One account of the organization as the test made it.
#[derive(Clone, Debug)]
struct Account {
    id: String,
    name: String,
}

impl Account {
    /// `222233334444 (payments)`, as every message must show it.
    fn label(&self) -> String {
        format!("{} ({})", self.id, self.name)
    }

    /// Its cluster in `region`: `<name>-<region>`.
    fn cluster(&self, region: &str) -> String {
        format!("{}-{region}", self.name)
    }

    fn arn(&self, region: &str) -> String {
        format!(
            "arn:aws:rds:{region}:{}:cluster:{}",
            self.id,
            self.cluster(region)
        )
    }
}

/// An organization in moto: the management account (the function's own) and three
/// members — `payments` (tagged `team=payments`), `analytics` (`team=data`), and `retired`
/// (suspended);
/// a cluster with a pending action in two regions of each, in the fake RDS.
struct Org {
    moto: Moto,
    rds: RdsFake,
    management: Account,
    payments: Account,
    analytics: Account,
    retired: Account,
}

async fn organization() -> Org {
    let moto = Moto::start().expect("moto");
    let conf = sdk_config(&moto).await;
    let org = aws_sdk_organizations::Client::new(&conf);
    let made = org
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let management_id = made
        .organization()
        .and_then(|o| o.master_account_id())
        .expect("management account")
        .to_owned();
    let member = |name: &'static str| {
        let org = org.clone();
        async move {
            let status = org
                .create_account()
                .email(format!("{name}@example.com"))
                .account_name(name)
                .send()
                .await
                .expect("account")
                .create_account_status
                .expect("status");
            Account {
                id: status.account_id.expect("account id"),
                name: name.to_owned(),
            }
        }
    };
    let payments = member("payments").await;
    let analytics = member("analytics").await;
    let retired = member("retired").await;
    org.close_account()
        .account_id(&retired.id)
        .send()
        .await
        .expect("closed");
    for (account, team) in [(&payments, "payments"), (&analytics, "data")] {
        let tag = Tag::builder().key("team").value(team).build().expect("tag");
        org.tag_resource()
            .resource_id(&account.id)
            .tags(tag)
            .send()
            .await
            .expect("tagged");
    }
    // The management account's name, as Organizations has it.
    let listed = org.list_accounts().send().await.expect("accounts");
    let management = Account {
        name: listed
            .accounts()
            .iter()
            .find(|a| a.id() == Some(management_id.as_str()))
            .and_then(|a| a.name())
            .expect("management account's name")
            .to_owned(),
        id: management_id,
    };
    let all = [&management, &payments, &analytics, &retired];
    let mut resources = Vec::new();
    let mut fleet = Fleet::default();
    for a in all {
        for region in REGIONS {
            resources.push(Resource {
                resource_identifier: a.arn(region),
                pending_maintenance_action_details: vec![Action {
                    action: "system-update".into(),
                    description: Some(format!("Patch for {}", a.name)),
                    auto_applied_after_date: Some("2026-12-20T00:00:00Z".into()),
                    forced_apply_date: None,
                    opt_in_status: None,
                    current_apply_date: None,
                }],
            });
            fleet.clusters.push(Described {
                identifier: a.cluster(region),
                arn: a.arn(region),
                preferred_maintenance_window: Some("sun:03:00-sun:03:30".into()),
                cluster: None,
                tags: if a.name == "payments" {
                    vec![("team".into(), "payments".into())]
                } else {
                    vec![("team".into(), "data".into())]
                },
            });
        }
    }
    let rds = RdsFake::start(resources).await.expect("fake RDS and STS");
    rds.describe(fleet);
    rds.home_account(&management.id);
    for a in [&payments, &analytics, &retired] {
        rds.member_role(&a.id, ROLE, None);
    }
    Org {
        moto,
        rds,
        management,
        payments,
        analytics,
        retired,
    }
}

impl Org {
    /// The checker across the organization, posting to `slack` by webhook.
    fn checker(&self, slack: &SlackFake) -> LocalLambda {
        lambda(RDS, "rds-maintenance-checker", self.moto.aws_env())
            .env("AWS_ENDPOINT_URL_RDS", self.rds.url())
            .env("AWS_ENDPOINT_URL_STS", self.rds.url())
            .env("AWS_MAX_ATTEMPTS", "2")
            .env("RDS_REGIONS", REGIONS.join(","))
            .env("MEMBER_ROLE_NAME", ROLE)
            .env("SLACK_WEBHOOK_URL", slack.url())
    }

    /// The accounts whose RDS the fake was asked about, and those an `AssumeRole` was made
    /// into.
    fn asked(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let requests = self.rds.requests();
        let rds = requests
            .iter()
            .filter(|r| r.service == "rds")
            .map(|r| r.account.clone())
            .collect();
        let assumed = requests
            .iter()
            .filter(|r| r.service == "sts" && r.param("Action") == Some("AssumeRole"))
            .filter_map(|r| {
                r.param("RoleArn")
                    .and_then(|a| a.split(':').nth(4))
                    .map(str::to_owned)
            })
            .collect();
        (rds, assumed)
    }
}

async fn run(l: LocalLambda) -> Invoked {
    l.invoke(&event("rds/schedule.json")).await.expect("runs")
}

fn text(slack: &SlackFake) -> String {
    slack.received().iter().map(all_text).collect()
}

/// Each lead line of the digest (`N clusters in <region> · <account label>: <links>`).
fn leads(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("        ") && l.contains(" in "))
        .map(|l| l.trim().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn every_active_account_in_one_digest_under_its_own_name() {
    let o = organization().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = run(o
        .checker(&slack)
        .env("ORG_ACCOUNTS", "all")
        .env("ACCOUNT_NAMES", "organizations"))
    .await;
    let r = response(&invoked);
    assert_eq!(r["actions"], 6, "three active accounts × two regions: {r}");
    assert_eq!(r["accounts"], 3, "{r}");
    assert_eq!(r["accountsSkipped"], json!([o.retired.id]), "{r}");
    assert_eq!(r["failedRegions"], json!([]), "{r}");
    assert_eq!(slack.received().len(), 1, "one digest");

    // Each action is in its account's group, named.
    let text = text(&slack);
    let leads = leads(&text);
    for a in [&o.management, &o.payments, &o.analytics] {
        for region in REGIONS {
            let lead = leads
                .iter()
                .find(|l| l.contains(&format!("in {region} · {}:", a.label())))
                .unwrap_or_else(|| panic!("no group for {} in {region}:\n{text}", a.label()));
            assert!(lead.contains(&a.cluster(region)), "{lead}");
            // Nothing of another account under this one's name.
            for other in [&o.management, &o.payments, &o.analytics, &o.retired] {
                if other.id != a.id {
                    assert!(!lead.contains(&format!("{}-", other.name)), "{lead}");
                }
            }
        }
    }
    assert!(
        text.contains("3 of 3 read, 1 not active (skipped)"),
        "{text}"
    );
    // The suspended account was neither entered nor shown.
    assert!(
        !text.contains(&o.retired.id) || text.contains("skipped"),
        "{text}"
    );
    assert!(!text.contains("retired-"), "{text}");
    let (rds, assumed) = o.asked();
    assert_eq!(
        assumed,
        set(&[&o.payments.id, &o.analytics.id]),
        "the function's own account is read with its own credentials; the suspended one not at all"
    );
    assert_eq!(
        rds,
        set(&[&o.management.id, &o.payments.id, &o.analytics.id])
    );
}

#[tokio::test]
async fn an_account_without_the_role_is_named_with_the_reason_and_the_others_report() {
    let o = organization().await;
    // analytics has no role; payments' trusts only with the external id.
    o.rds
        .member_role(&o.analytics.id, "someone-elses-role", None);
    o.rds
        .member_role(&o.payments.id, ROLE, Some("opswatch-7f3a9c"));
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = run(o
        .checker(&slack)
        .env("ORG_ACCOUNTS", "all")
        .env("MEMBER_ROLE_EXTERNAL_ID", "opswatch-7f3a9c")
        .env("ACCOUNT_NAMES", "organizations"))
    .await;
    let r = response(&invoked);
    assert_eq!(r["actions"], 4, "{r}");
    let failed = r["failedRegions"].as_array().expect("failedRegions");
    assert_eq!(failed.len(), 1, "{r}");
    assert_eq!(failed[0]["account"], json!(o.analytics.id), "{r}");
    assert!(failed[0]["region"].is_null(), "{r}");
    let why = failed[0]["error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with(&format!(
            "AssumeRole arn:aws:iam::{}:role/{ROLE}: AccessDenied: User: ",
            o.analytics.id
        )) && why.contains("is not authorized to perform: sts:AssumeRole"),
        "{why}"
    );
    let text = text(&slack);
    assert!(
        text.contains(&format!(
            ":x: *{}* — AssumeRole arn:aws:iam::{}:role/{ROLE}: AccessDenied",
            o.analytics.label(),
            o.analytics.id
        )),
        "{text}"
    );
    assert!(text.contains("2 of 3 read"), "{text}");
    assert!(!text.contains("analytics-"), "{text}");
    for region in REGIONS {
        assert!(text.contains(&o.payments.cluster(region)), "{text}");
        assert!(text.contains(&o.management.cluster(region)), "{text}");
    }
}

#[tokio::test]
async fn listed_accounts_are_the_only_ones_read() {
    let o = organization().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = run(o
        .checker(&slack)
        .env(
            "ORG_ACCOUNTS",
            format!("{},{}", o.analytics.id, o.payments.id),
        )
        .env(
            "ACCOUNT_NAMES",
            format!(
                "{}=Payments (EU),{}=Analytics",
                o.payments.id, o.analytics.id
            ),
        ))
    .await;
    let r = response(&invoked);
    assert_eq!(r["actions"], 4, "{r}");
    let (rds, assumed) = o.asked();
    let two = set(&[&o.payments.id, &o.analytics.id]);
    assert_eq!(rds, two);
    assert_eq!(assumed, two);
    let text = text(&slack);
    assert!(
        text.contains(&format!(
            "in eu-west-1 · {} (Payments (EU)):",
            o.payments.id
        )),
        "{text}"
    );
    assert!(!text.contains(&o.management.cluster("us-east-1")), "{text}");
    // Without ACCOUNT_NAMES=organizations, Organizations is not asked at all.
    assert!(
        !invoked
            .stderr
            .contains("account names read from Organizations"),
        "{}",
        invoked.stderr
    );
}

#[tokio::test]
async fn a_tag_route_sends_one_teams_resources_to_its_channel() {
    let o = organization().await;
    let api = SlackApiFake::start(TOKEN).await.expect("fake Slack API");
    api.add_channel("C0PAYMENTS0", "payments", true, false);
    let invoked = run(lambda(RDS, "rds-maintenance-checker", o.moto.aws_env())
        .env("AWS_ENDPOINT_URL_RDS", o.rds.url())
        .env("AWS_ENDPOINT_URL_STS", o.rds.url())
        .env("RDS_REGIONS", REGIONS.join(","))
        .env("ORG_ACCOUNTS", "all")
        .env("MEMBER_ROLE_NAME", ROLE)
        .env("ACCOUNT_NAMES", "organizations")
        .env("SLACK_BOT_TOKEN", TOKEN)
        .env("SLACK_API_URL", api.url())
        .env("SLACK_CHANNEL", "#alerts")
        .env(
            "SLACK_ROUTES",
            r##"[{"tag": {"team": "payments"}, "channel": "#payments"}]"##,
        ))
    .await;
    assert_eq!(response(&invoked)["actions"], 6);
    let texts = |m: &[ApiMessage]| m.iter().map(|m| all_text(&m.body())).collect::<String>();
    let team = texts(&api.channel_messages("payments"));
    let rest = texts(&api.channel_messages("alerts"));
    for region in REGIONS {
        assert!(team.contains(&o.payments.cluster(region)), "{team}");
        assert!(!rest.contains(&o.payments.cluster(region)), "{rest}");
        for a in [&o.management, &o.analytics] {
            assert!(rest.contains(&a.cluster(region)), "{rest}");
            assert!(!team.contains(&a.cluster(region)), "{team}");
        }
    }
    assert!(
        team.contains("RDS maintenance: 2 pending actions"),
        "{team}"
    );
    assert!(
        rest.contains("RDS maintenance: 4 pending actions"),
        "{rest}"
    );
}

#[tokio::test]
async fn an_answer_for_another_account_is_never_shown_under_the_asking_ones_name() {
    let o = organization().await;
    // A fault: payments' credentials are answered with analytics' resources.
    o.rds.misroute(&o.payments.id, &o.analytics.id);
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = run(o
        .checker(&slack)
        .env("ORG_ACCOUNTS", o.payments.id.clone())
        .env("NOTIFY_WHEN_EMPTY", "true"))
    .await;
    let r = response(&invoked);
    assert_eq!(r["actions"], 0, "{r}");
    let text = text(&slack);
    assert!(!text.contains("analytics-"), "{text}");
    assert!(
        invoked
            .stderr
            .contains("actions whose ARN names another account were dropped"),
        "{}",
        invoked.stderr
    );
}

#[tokio::test]
async fn throttled_organizations_calls_are_retried() {
    let o = organization().await;
    let proxy = OrgThrottleProxy::start(&o.moto.endpoint(), 2)
        .await
        .expect("proxy");
    let slack = SlackFake::start().await.expect("fake Slack");
    let invoked = run(o
        .checker(&slack)
        .env("AWS_MAX_ATTEMPTS", "3")
        .env("AWS_ENDPOINT_URL_ORGANIZATIONS", proxy.url())
        .env("ORG_ACCOUNTS", "all")
        .env("ACCOUNT_NAMES", "organizations"))
    .await;
    let r = response(&invoked);
    assert_eq!(r["actions"], 6, "{r}\n{}", invoked.stderr);
    // Two throttled answers, then the cold start's ListAccounts and the run's.
    assert!(proxy.calls() >= 4, "{}", proxy.calls());
    assert!(text(&slack).contains(&o.payments.label()));
}

#[tokio::test]
async fn a_bad_organization_setting_fails_the_cold_start_in_one_line() {
    let o = organization().await;
    let slack = SlackFake::start().await.expect("fake Slack");
    for (k, v, expected) in [
        (
            "ORG_ACCOUNTS",
            "all,prod",
            "ORG_ACCOUNTS: \"all\" is not a twelve-digit account id",
        ),
        (
            "ORG_ACCOUNTS",
            "11112222333",
            "ORG_ACCOUNTS: \"11112222333\" is not a twelve-digit account id",
        ),
        (
            "ORG_CONCURRENCY",
            "0",
            "MEMBER_ROLE_NAME is set but ORG_ACCOUNTS is not",
        ),
    ] {
        let invoked = run(o.checker(&slack).env(k, v)).await;
        let e = cold_start_error(&invoked);
        assert!(e.starts_with(expected) && !e.contains('\n'), "{k}={v}: {e}");
    }
    assert!(slack.received().is_empty());
    assert!(
        o.rds.requests().is_empty(),
        "nothing is asked before the settings hold"
    );
}

/// The sample security-group change (tagged `team=payments`), as AWS Config in `account`
/// sends it through an organization-wide topic.
fn config_from(account: &Account) -> Vec<u8> {
    let mut ev: Value =
        serde_json::from_slice(&event("config/security-group-ingress.json")).expect("JSON");
    let message = ev["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("message")
        .to_owned();
    let mut n: Value = serde_json::from_str(&message).expect("notification");
    n["configurationItem"]["awsAccountId"] = json!(account.id);
    ev["Records"][0]["Sns"]["Message"] = json!(n.to_string());
    ev["Records"][0]["Sns"]["MessageId"] = json!(format!("org-{}", account.id));
    ev.to_string().into_bytes()
}

/// `function` with names from Organizations, the default webhook `rest`, and one tag route:
/// the accounts tagged `team=payments` to the webhook `team`.
fn routed_by_team(
    o: &Org,
    binary: &str,
    function: &str,
    team: &SlackFake,
    rest: &SlackFake,
) -> LocalLambda {
    lambda(binary, function, o.moto.aws_env())
        .env("ACCOUNT_NAMES", "organizations")
        .env("SLACK_WEBHOOK_URL", rest.url())
        .env(
            "SLACK_ROUTES",
            json!([{"tag": {"team": "payments"}, "webhook_url": team.url()}]).to_string(),
        )
}

#[tokio::test]
async fn a_member_accounts_config_change_shows_its_name_and_takes_its_tags_route() {
    let o = organization().await;
    let team = SlackFake::start().await.expect("team's webhook");
    let rest = SlackFake::start().await.expect("default webhook");
    let invoked = routed_by_team(&o, CONFIG, "config-change-notifier", &team, &rest)
        .invoke(&config_from(&o.payments))
        .await
        .expect("runs");
    assert_eq!(
        summary_count(&invoked, "messages_posted"),
        1,
        "{}",
        invoked.stderr
    );
    assert!(rest.received().is_empty());
    let text: String = team.received().iter().map(all_text).collect();
    assert!(text.contains(&o.payments.label()), "{text}");
    assert!(text.contains("sg-"), "{text}");
}

/// A CloudTrail record of a write call in `account`.
fn record(account: &Account, id: &str) -> Value {
    json!({
        "eventVersion": "1.09", "eventTime": "2026-12-05T02:30:00Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateTags", "awsRegion": "us-east-1", "readOnly": false,
        "recipientAccountId": account.id, "eventID": id,
        "sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{}:user/dev-{}", account.id, account.name),
          "accountId": account.id, "userName": format!("dev-{}", account.name), "principalId": format!("AIDA{id}")},
        "requestParameters": {"resourcesSet": {"items": [{"resourceId": "i-0abc"}]}}
    })
}

#[tokio::test]
async fn an_organization_trails_events_route_by_their_accounts_tags() {
    let o = organization().await;
    trail_bucket(&o.moto).await;
    let key = "AWSLogs/o-example/111122223333/CloudTrail/us-east-1/2026/12/05/org.json.gz";
    put_log(
        &o.moto,
        key,
        &[record(&o.payments, "e1"), record(&o.analytics, "e2")],
    )
    .await;
    let team = SlackFake::start().await.expect("team's webhook");
    let rest = SlackFake::start().await.expect("default webhook");
    let invoked = routed_by_team(&o, CLOUDTRAIL, "cloudtrail-event-handler", &team, &rest)
        .invoke(&sqs_for(&[("m-org", key)]))
        .await
        .expect("runs");
    assert_eq!(
        response(&invoked)["batchItemFailures"],
        json!([]),
        "{}",
        invoked.stderr
    );
    let team: String = team.received().iter().map(all_text).collect();
    let rest: String = rest.received().iter().map(all_text).collect();
    assert!(
        team.contains("dev-payments") && !team.contains("dev-analytics"),
        "{team}"
    );
    assert!(
        rest.contains("dev-analytics") && !rest.contains("dev-payments"),
        "{rest}"
    );
    // Names from Organizations on the lines.
    assert!(team.contains(&o.payments.label()), "{team}");
    assert!(rest.contains(&o.analytics.label()), "{rest}");
}

#[tokio::test]
async fn an_organization_views_health_event_shows_the_members_name_and_takes_its_tags_route() {
    let o = organization().await;
    let mut ev: Value =
        serde_json::from_slice(&event("health/org-view-ec2-retirement.json")).expect("JSON");
    ev["account"] = json!(o.management.id);
    ev["detail"]["affectedAccount"] = json!(o.payments.id);
    // No entity tags: the account's own (team=payments) decide.
    ev["detail"]["affectedEntities"][0]
        .as_object_mut()
        .expect("entity")
        .remove("tags");
    let team = SlackFake::start().await.expect("team's webhook");
    let rest = SlackFake::start().await.expect("default webhook");
    let invoked = routed_by_team(&o, HEALTH, "health-event-notifier", &team, &rest)
        .invoke(ev.to_string().as_bytes())
        .await
        .expect("runs");
    assert_eq!(
        response(&invoked)["messagesPosted"],
        1,
        "{}",
        invoked.stderr
    );
    assert!(rest.received().is_empty());
    let text: String = team.received().iter().map(all_text).collect();
    assert!(text.contains(&o.payments.label()), "{text}");
    assert!(!text.contains(&o.management.id), "{text}");
}
