//! `cargo xtask fake slack|sendgrid|rds [--port N]`: a local stand-in served until
//! interrupted, with the exports that point `cargo xtask invoke` at it.

use std::io::Write as _;
use std::time::Duration;

use opswatch_devkit::slack_api::{DEMO_TOKEN, SlackApiFake};
use opswatch_devkit::{ApiMessage, SlackFake};

use crate::root;
use crate::show::{BOLD, DIM, RESET, YELLOW, ansi};

const USAGE: &str = "usage: cargo xtask fake slack|sendgrid|rds [--port N]";

/// The route `fake slack` suggests: critical alerts to #security, the rest to the default.
pub const ROUTES: &str = r##"[{"severity": "critical", "channel": "#security"}]"##;

pub async fn main(args: &[String]) -> Result<(), String> {
    let (what, port) = match args {
        [what] => (what.as_str(), None),
        [what, flag, port] if flag == "--port" => (
            what.as_str(),
            Some(
                port.parse::<u16>()
                    .map_err(|e| format!("--port {port}: {e}"))?,
            ),
        ),
        _ => return Err(USAGE.into()),
    };
    match what {
        "slack" => slack(port.unwrap_or(8027)).await,
        "sendgrid" => sendgrid(port.unwrap_or(8025)).await,
        "rds" => rds(port.unwrap_or(8026)).await,
        _ => Err(USAGE.into()),
    }
}

/// A local Slack: the incoming webhook and the Web API on one port, every message printed
/// as it arrives.
async fn slack(port: u16) -> Result<(), String> {
    let (hook, api) = SlackFake::start_with_api(port, DEMO_TOKEN)
        .await
        .map_err(|e| format!("starting the local Slack on 127.0.0.1:{port}: {e}"))?;
    println!(
        "{}local Slack{}: an incoming webhook, and the Web API of a workspace with the channels #alerts and #security (the app in both). In another shell:\n",
        ansi(BOLD),
        ansi(RESET)
    );
    println!("  # webhook mode");
    println!("  export SLACK_WEBHOOK_URL={}", hook.url());
    println!(
        "  cargo xtask invoke config-change-notifier events/config/security-group-ingress.json\n"
    );
    println!(
        "  # Slack app (Web API) mode, critical alerts routed to #security, the rest to #alerts"
    );
    println!(
        "  unset SLACK_WEBHOOK_URL; export SLACK_API_URL={} SLACK_BOT_TOKEN={DEMO_TOKEN} SLACK_CHANNEL='#alerts'",
        api.url()
    );
    println!("  export SLACK_ROUTES='{ROUTES}'");
    println!(
        "  cargo xtask invoke config-change-notifier events/config/mixed-with-bad-records.json\n"
    );
    println!("Every message is printed here as it arrives. Ctrl-C stops it.");
    let _ = std::io::stdout().flush();
    let mut shown = Shown::default();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let news = shown.news(&hook, &api);
        if !news.is_empty() {
            print!("{news}");
            let _ = std::io::stdout().flush();
        }
    }
}

/// What [`Shown::news`] has printed so far.
#[derive(Default)]
struct Shown {
    hook_attempts: usize,
    hook_messages: usize,
    calls: usize,
    /// Per Web API message (in posting order): its edits printed.
    edits: Vec<usize>,
    ephemerals: usize,
}

impl Shown {
    /// What arrived since the last call, readably: each message with its channel and
    /// thread, each edit, each call Slack refused (with its error code).
    fn news(&mut self, hook: &SlackFake, api: &SlackApiFake) -> String {
        let mut out = String::new();
        let rule = |what: String| format!("\n{}── {what}{}\n", ansi(BOLD), ansi(RESET));
        let received = hook.received();
        for m in &received[self.hook_messages.min(received.len())..] {
            out += &rule("webhook message".into());
            out += &crate::show::message(m);
        }
        self.hook_messages = received.len();
        let attempts = hook.attempts();
        for a in &attempts[self.hook_attempts.min(attempts.len())..] {
            if a.status != 200 {
                out += &format!(
                    "\n{}── the webhook answered HTTP {}{}\n",
                    ansi(YELLOW),
                    a.status,
                    ansi(RESET)
                );
            }
        }
        self.hook_attempts = attempts.len();
        let messages = api.messages();
        let header =
            |ts: &str| crate::demo::header_of(&messages, ts).unwrap_or_else(|| ts.to_owned());
        for (i, m) in messages.iter().enumerate() {
            let seen = self.edits.get(i).copied();
            match seen {
                None => {
                    out += &rule(place(api, m, &header));
                    out += &crate::show::message(&m.body());
                    self.edits.push(m.edits.len());
                }
                Some(n) if m.edits.len() > n => {
                    out += &rule(format!(
                        "#{} · chat.update of “{}”",
                        api.channel_name(&m.channel),
                        header(&m.ts)
                    ));
                    out += &crate::show::message(&m.body());
                    self.edits[i] = m.edits.len();
                }
                Some(_) => {}
            }
        }
        let ephemerals = api.ephemerals();
        for (channel, user, text) in &ephemerals[self.ephemerals.min(ephemerals.len())..] {
            out += &rule(format!(
                "#{} · ephemeral, only {user} sees it",
                api.channel_name(channel)
            ));
            out += &format!("  ┃ {text}\n");
        }
        self.ephemerals = ephemerals.len();
        let calls = api.calls();
        for c in &calls[self.calls.min(calls.len())..] {
            if let Some(error) = &c.error {
                out += &format!(
                    "\n{}── {} answered {error} (HTTP {}){}\n",
                    ansi(YELLOW),
                    c.method,
                    c.status,
                    ansi(RESET)
                );
            } else if !c.method.starts_with("chat.") {
                out += &format!("{}   {} ok{}\n", ansi(DIM), c.method, ansi(RESET));
            }
        }
        self.calls = calls.len();
        out
    }
}

/// Where a Web API message went: its channel, and the thread it replies in.
fn place(api: &SlackApiFake, m: &ApiMessage, header: &dyn Fn(&str) -> String) -> String {
    let channel = api.channel_name(&m.channel);
    match &m.thread_ts {
        Some(t) => format!("#{channel} · reply in the thread of “{}”", header(t)),
        None => format!("#{channel}"),
    }
}

async fn sendgrid(port: u16) -> Result<(), String> {
    use opswatch_devkit::sendgrid::{DEMO_KEY, SendGridFake};
    let bounces = SendGridFake::fixture(&root()).map_err(|e| format!("the sample bounces: {e}"))?;
    let fake = SendGridFake::start_on(port, DEMO_KEY, bounces)
        .await
        .map_err(|e| format!("starting the fake SendGrid on 127.0.0.1:{port}: {e}"))?;
    fake.add_fixture_lists(&root())
        .map_err(|e| format!("the sample suppression lists: {e}"))?;
    println!(
        "fake SendGrid with the sample bounces, blocks, spam reports and invalid emails; in another shell:\n"
    );
    println!(
        "  export SENDGRID_API_URL={} SENDGRID_API_KEY={DEMO_KEY} SENDGRID_LISTS=bounces,blocks,spam_reports,invalid_emails",
        fake.url()
    );
    println!("  cargo xtask invoke sendgrid-bounce-poller events/sendgrid/schedule.json\n");
    println!("Another key is answered 401, as SendGrid answers it.");
    serve(fake).await
}

async fn rds(port: u16) -> Result<(), String> {
    use opswatch_devkit::RdsFake;
    let fake = RdsFake::start_sample(&root(), port)
        .await
        .map_err(|e| format!("starting the fake RDS API on 127.0.0.1:{port}: {e}"))?;
    println!(
        "fake RDS API with the sample pending maintenance and maintenance windows; in another shell:\n"
    );
    println!(
        "  export AWS_ENDPOINT_URL_RDS={} RDS_REGIONS=us-east-1,eu-west-1 \\\n    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1",
        fake.url()
    );
    println!("  cargo xtask invoke rds-maintenance-checker events/rds/schedule.json\n");
    serve(fake).await
}

/// Keep `fake` serving until the process is interrupted.
async fn serve<T>(fake: T) -> Result<(), String> {
    println!("Ctrl-C stops it.");
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
    drop(fake);
    Ok(())
}
