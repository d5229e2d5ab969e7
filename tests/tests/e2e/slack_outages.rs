//! Every function that posts to Slack, against every kind of Slack outage: rate limited
//! (429 with Retry-After, every time), failing (500, every time), accepting and never
//! answering, and refusing connections. Each invocation must fail as a Slack delivery
//! failure — so AWS retries it — well inside the function's timeout (the harness's deadline
//! here, 20 s, against a 3 s retry budget), and the webhook URL, a secret, must not appear
//! in anything the function printed, in failure or success.

use opswatch_e2e::*;

const SENTINEL: &str = "SENTINEL-webhook-token-5f2c";

#[derive(Clone, Copy, Debug)]
enum Outage {
    RateLimited,
    Failing,
    Hanging,
    Refused,
}

struct Case {
    name: &'static str,
    bin: &'static str,
    event: Vec<u8>,
    env: Vec<(String, String)>,
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The functions that post, each with an event that makes it post.
fn cases(sendgrid: &SendGridFake, rds: &RdsFake) -> Vec<Case> {
    vec![
        Case {
            name: "config-change-notifier",
            bin: env!("CARGO_BIN_EXE_e2e-config-change-notifier"),
            event: event("config/security-group-ingress.json"),
            env: Vec::new(),
        },
        Case {
            name: "cloudtrail-event-handler",
            bin: env!("CARGO_BIN_EXE_e2e-cloudtrail-event-handler"),
            event: event("cloudtrail/eventbridge-security-group-ingress.json"),
            env: Vec::new(),
        },
        Case {
            name: "sendgrid-bounce-poller",
            bin: env!("CARGO_BIN_EXE_e2e-sendgrid-bounce-poller"),
            event: event("sendgrid/schedule.json"),
            env: kv(&[
                ("SENDGRID_API_URL", &sendgrid.url()),
                ("SENDGRID_API_KEY", "SG.outage-matrix"),
            ]),
        },
        Case {
            name: "rds-maintenance-checker",
            bin: env!("CARGO_BIN_EXE_e2e-rds-maintenance-checker"),
            event: event("rds/schedule.json"),
            env: kv(&[
                ("AWS_ENDPOINT_URL_RDS", &rds.url()),
                ("RDS_REGIONS", "us-east-1"),
            ]),
        },
        Case {
            name: "audit-log-watcher",
            bin: env!("CARGO_BIN_EXE_e2e-audit-log-watcher"),
            event: event("audit/subscription-mysql-audit.json"),
            env: Vec::new(),
        },
    ]
}

async fn run(case: &Case, webhook: &str) -> Invoked {
    let mut l = lambda(case.bin, case.name, no_aws_env())
        .envs(case.env.clone())
        .env("SLACK_WEBHOOK_URL", webhook)
        .env("LOG_LEVEL", "debug");
    l.timeout = std::time::Duration::from_secs(20);
    l.invoke(&case.event).await.expect("runs")
}

fn assert_no_secret(case: &Case, what: &str, invoked: &Invoked) {
    for (stream, text) in [("stdout", &invoked.stdout), ("stderr", &invoked.stderr)] {
        assert!(
            !text.contains(SENTINEL),
            "{} ({what}) printed the webhook URL on {stream}:\n{text}",
            case.name
        );
    }
    if let Outcome::Error { error_message, .. } = &invoked.outcome {
        assert!(
            !error_message.contains(SENTINEL),
            "{}: {error_message}",
            case.name
        );
    }
}

#[tokio::test]
async fn every_poster_fails_in_time_on_every_slack_outage_and_never_prints_the_url() {
    let sendgrid = SendGridFake::start(
        "SG.outage-matrix",
        SendGridFake::fixture(&root()).expect("bounces"),
    )
    .await
    .expect("fake SendGrid");
    let rds = RdsFake::start_sample(&root(), 0).await.expect("fake RDS");
    let cases = cases(&sendgrid, &rds);
    // A port nothing listens on: the discard port, as `no_aws_env` uses. (A port bound and
    // let go can be taken by the next test's server before the function connects.)
    let refused = 9;
    for case in &cases {
        // Working Slack first: the function posts, and says nothing of the URL.
        let slack = SlackFake::start().await.expect("fake Slack");
        let ok = run(case, &format!("{}?token={SENTINEL}", slack.url())).await;
        assert!(
            matches!(ok.outcome, Outcome::Response(_)),
            "{}: {:?}\n{}",
            case.name,
            ok.outcome,
            ok.stderr
        );
        assert!(!slack.received().is_empty(), "{} posted nothing", case.name);
        assert_no_secret(case, "delivered", &ok);

        for outage in [
            Outage::RateLimited,
            Outage::Failing,
            Outage::Hanging,
            Outage::Refused,
        ] {
            let slack = SlackFake::start().await.expect("fake Slack");
            let url = match outage {
                Outage::RateLimited => {
                    slack.always(Reply::rate_limited(1));
                    slack.url()
                }
                Outage::Failing => {
                    slack.always(Reply::server_error());
                    slack.url()
                }
                Outage::Hanging => {
                    slack.always(Reply::Hang);
                    slack.url()
                }
                Outage::Refused => format!(
                    "http://127.0.0.1:{refused}/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
                ),
            };
            let invoked = run(case, &format!("{url}?token={SENTINEL}")).await;
            match &invoked.outcome {
                Outcome::Error { error_type, .. } => {
                    assert_eq!(
                        error_type, "SlackDeliveryFailed",
                        "{} {outage:?}",
                        case.name
                    )
                }
                other => panic!(
                    "{} {outage:?}: expected a failed invocation, got {other:?}\n{}",
                    case.name, invoked.stderr
                ),
            }
            // Retried, not given up at once — except a Slack that never answers: its one
            // attempt is cut at the budget, which leaves no time for another.
            let retries = invoked
                .stderr
                .matches("Slack delivery will be retried")
                .count();
            match outage {
                Outage::Hanging => {
                    assert!(!slack.attempts().is_empty(), "{}: never tried", case.name)
                }
                _ => assert!(
                    retries >= 1,
                    "{} {outage:?}: no retry\n{}",
                    case.name,
                    invoked.stderr
                ),
            }
            if let Outage::RateLimited = outage {
                assert!(slack.attempts().len() >= 2, "{}: one attempt", case.name);
            }
            assert_no_secret(case, &format!("{outage:?}"), &invoked);
        }
    }
}
