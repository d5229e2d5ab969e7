//! A newcomer's first hour, as a script: the commands docs/local.md and docs/delivery.md
//! show, run as subprocesses of the real `xtask` binary in a clean environment (no AWS
//! credentials, no Slack or SendGrid variables), reading what the local Slack printed.
//!
//! - `cargo xtask fake slack`; a webhook invoke arrives there;
//! - Web API mode with a route: critical alerts in #security, the rest in #alerts;
//! - a bot token without a channel: `invoke` ends with the function's one-line reason;
//! - `cargo xtask fake sendgrid` with a wrong key: the invoke fails naming SendGrid's 401
//!   (the user's own variables reach the function; the stand-ins do not replace them);
//! - `cargo xtask preview` twice: the same bytes, the HTML the committed one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `xtask <args>` in the repository, as a newcomer's shell runs it: none of the variables
/// the functions read, no AWS credentials or profile, plus `vars`.
fn xtask(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(XTASK);
    c.args(args).current_dir(root());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_")
            || k.starts_with("SLACK_")
            || k.starts_with("SENDGRID_")
            || k == "RDS_REGIONS"
            || k == "LOG_GROUPS"
        {
            c.env_remove(k);
        }
    }
    c.env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_CONFIG_FILE", "/nonexistent/config");
    c.envs(vars.iter().copied());
    c
}

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    xtask(args, vars).output().expect("running xtask")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A `cargo xtask fake …` serving in the background, its stdout collected; killed on drop.
struct Fake {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Fake {
    fn start(what: &str) -> Self {
        let mut child = xtask(&["fake", what, "--port", "0"], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the fake");
        let out = Arc::new(Mutex::new(String::new()));
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let fake = Fake { child, out };
        fake.wait_for("Ctrl-C stops it", Duration::from_secs(120));
        fake
    }

    fn output(&self) -> String {
        self.out.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The whole output once it contains `needle`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let out = self.output();
            if out.contains(needle) {
                return out;
            }
            assert!(
                started.elapsed() < timeout,
                "no {needle:?} within {timeout:?}; the fake printed:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value the printed exports give `name` (`NAME=value` or `NAME='value'`).
    fn export(&self, name: &str) -> String {
        let out = self.output();
        let at = out
            .find(&format!(" {name}="))
            .unwrap_or_else(|| panic!("the fake printed no {name}:\n{out}"));
        let value = &out[at + name.len() + 2..];
        let value = value.split_whitespace().next().unwrap_or_default();
        value.trim_matches('\'').to_owned()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The messages the local Slack printed: (heading after `── `, body), in order.
fn printed(out: &str) -> Vec<(String, String)> {
    out.split("\n── ")
        .skip(1)
        .map(|block| {
            let (head, body) = block.split_once('\n').unwrap_or((block, ""));
            (head.trim().to_owned(), body.to_owned())
        })
        .collect()
}

#[test]
fn newcomer_tries_a_webhook_then_the_slack_app_with_a_route() {
    let slack = Fake::start("slack");
    let hook = slack.export("SLACK_WEBHOOK_URL");
    assert!(hook.starts_with("http://127.0.0.1:"), "{hook}");

    // Webhook mode: the message arrives.
    let o = run(
        &[
            "invoke",
            "config-change-notifier",
            "events/config/security-group-ingress.json",
        ],
        &[("SLACK_WEBHOOK_URL", &hook)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(r#""messagesPosted":1"#),
        "{}",
        stdout(&o)
    );
    let out = slack.wait_for("── webhook message", Duration::from_secs(10));
    let (_, body) = &printed(&out)[0];
    assert!(
        body.contains("AWS::EC2::SecurityGroup web (sg-0b3ba0ad4d62e1ebf) changed"),
        "{body}"
    );
    // One line names the stand-ins and what they filled; nothing of the user's is replaced.
    let line = stderr(&o)
        .lines()
        .find(|l| l.starts_with("invoke: no AWS credentials"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no stand-ins line:\n{}", stderr(&o)));
    assert!(
        line.contains("filled AWS_ENDPOINT_URL") && line.ends_with("kept yours: none"),
        "{line}"
    );

    // Slack app mode with a route: critical alerts to #security, the rest to #alerts.
    let api = slack.export("SLACK_API_URL");
    let token = slack.export("SLACK_BOT_TOKEN");
    let app = [
        ("SLACK_API_URL", api.as_str()),
        ("SLACK_BOT_TOKEN", token.as_str()),
        ("SLACK_CHANNEL", "#alerts"),
        (
            "SLACK_ROUTES",
            r##"[{"severity": "critical", "channel": "#security"}]"##,
        ),
    ];
    let before = printed(&slack.output()).len();
    let o = run(
        &[
            "invoke",
            "cloudtrail-event-handler",
            "events/cloudtrail/sns-log-delivery.json",
        ],
        &app,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let response: serde_json::Value =
        serde_json::from_str(stdout(&o).trim()).expect("the response");
    let posted = response["messagesPosted"].as_u64().unwrap_or(0) as usize;
    assert!(posted >= 2, "{response}");
    let started = Instant::now();
    let messages = loop {
        let all = printed(&slack.output());
        if all.len() >= before + posted || started.elapsed() > Duration::from_secs(10) {
            break all[before..].to_vec();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(messages.len(), posted, "{messages:#?}");
    let (security, alerts): (Vec<_>, Vec<_>) =
        messages.iter().partition(|(head, _)| head == "#security");
    assert!(!security.is_empty() && !alerts.is_empty(), "{messages:#?}");
    assert!(
        security.iter().all(|(_, b)| b.contains("*critical* ·")),
        "{security:#?}"
    );
    assert!(
        alerts
            .iter()
            .all(|(h, b)| h == "#alerts" && !b.contains("*critical*")),
        "{alerts:#?}"
    );

    // A token without a channel: the cold start fails, and invoke ends with its reason.
    let o = run(
        &[
            "invoke",
            "config-change-notifier",
            "events/config/security-group-ingress.json",
        ],
        &app[..2],
    );
    assert!(!o.status.success());
    let last = stderr(&o).lines().last().unwrap_or_default().to_owned();
    assert_eq!(
        last,
        "error: config-change-notifier failed its cold start: a Slack bot token is set but no default destination: set SLACK_CHANNEL to the channel alerts go to when no route matches"
    );
}

#[test]
fn newcomer_with_a_wrong_sendgrid_key_sees_sendgrids_401() {
    let sendgrid = Fake::start("sendgrid");
    let url = sendgrid.export("SENDGRID_API_URL");
    let key = sendgrid.export("SENDGRID_API_KEY");
    let lists = sendgrid.export("SENDGRID_LISTS");
    let invoke = |key: &str| {
        run(
            &[
                "invoke",
                "sendgrid-bounce-poller",
                "events/sendgrid/schedule.json",
            ],
            &[
                ("SENDGRID_API_URL", url.as_str()),
                ("SENDGRID_API_KEY", key),
                ("SENDGRID_LISTS", lists.as_str()),
            ],
        )
    };
    // The right key: the sample bounces, printed (no Slack set: a dry run, counted so).
    let o = invoke(&key);
    assert!(o.status.success(), "{}", stderr(&o));
    let response: serde_json::Value =
        serde_json::from_str(stdout(&o).trim()).expect("the response");
    assert!(response["bounces"].as_u64().unwrap_or(0) > 0, "{response}");
    assert_eq!(response["messagesPosted"], 0, "{response}");
    assert!(
        response["messagesPrinted"].as_u64().unwrap_or(0) > 0,
        "{response}"
    );
    assert!(
        stderr(&o).contains("kept yours: SENDGRID_API_URL SENDGRID_API_KEY SENDGRID_LISTS"),
        "{}",
        stderr(&o)
    );
    // A wrong one: SendGrid's 401, in invoke's last line.
    let o = invoke("SG.not-the-key");
    assert!(!o.status.success(), "{}", stdout(&o));
    let last = stderr(&o).lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("error: ConfigurationError: SendGrid refused the API key (HTTP 401)"),
        "{last}"
    );
}

/// Every file of a folder: name → bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap_or_default().to_string_lossy().into(),
                std::fs::read(&p).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn newcomer_runs_preview_twice_and_nothing_changes() {
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).or_else(|| {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    });
    if chromium.is_none() {
        eprintln!(
            "SKIPPED newcomer_runs_preview_twice_and_nothing_changes: no Chromium here \
             (apt-get update && apt-get install chromium fonts-noto-color-emoji fonts-noto-cjk)"
        );
        return;
    }
    let work = std::env::temp_dir().join(format!("opswatch-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let draw = |name: &str| {
        let out = work.join(name);
        let o = run(&["preview", "--out", &out.to_string_lossy()], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        files(&out)
    };
    let first = draw("first");
    let second = draw("second");
    let committed = files(&root().join("docs/img"));
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "the pictures drawn are not the committed ones"
    );
    let changed: Vec<&String> = first
        .iter()
        .filter(|(name, bytes)| second.get(*name) != Some(bytes))
        .map(|(name, _)| name)
        .collect();
    assert!(changed.is_empty(), "a second preview changed {changed:?}");
    assert!(
        first["index.html"] == committed["index.html"],
        "docs/img/index.html is not what preview draws: run `cargo xtask preview` and commit it"
    );
    // The PNGs are the browser's and the fonts' work: equal to the committed ones where they
    // are the same versions (as on the machine that drew them), else only reported.
    let differ: Vec<&String> = first
        .iter()
        .filter(|(name, bytes)| name.ends_with(".png") && committed.get(*name) != Some(bytes))
        .map(|(name, _)| name)
        .collect();
    if !differ.is_empty() {
        eprintln!(
            "note: this machine's Chromium or fonts draw {} picture(s) differently from the committed ones (stable from run to run): {differ:?}",
            differ.len()
        );
    }
}
