//! sendgrid-bounce-poller: every SendGrid bounce — and, as configured, block, spam report and
//! invalid address — reported to Slack exactly once.
//!
//! - `opswatch_support::window`: the half-open windows a run covers, from the checkpoint to
//!   the schedule's `time` (pure; shared with the audit-log-watcher's pull mode);
//! - [`sendgrid`]: the bounces API, all pages, rate limits honoured;
//! - [`render`]: the Slack alert (pure);
//! - [`handler`]: one run — windows, SendGrid, Slack, and the SSM checkpoint last.

pub mod handler;
pub mod render;
pub mod sendgrid;

use serde_json::Value;

pub use handler::Poller;

/// The function's name, as routes and exactly-once keys know it.
pub const FUNCTION: &str = "sendgrid-bounce-poller";

/// Environment variables of this function (besides the shared Slack ones).
pub mod env {
    pub const SENDGRID_API_URL: &str = "SENDGRID_API_URL";
    pub const SENDGRID_API_KEY: &str = "SENDGRID_API_KEY";
    pub const SENDGRID_API_KEY_SECRET_ARN: &str = "SENDGRID_API_KEY_SECRET_ARN";
    pub const CHECKPOINT_PARAMETER: &str = "CHECKPOINT_PARAMETER";
    pub const POLL_INTERVAL: &str = "POLL_INTERVAL";
    pub const MAX_WINDOW: &str = "MAX_WINDOW";
    pub const NOTIFY_WHEN_EMPTY: &str = "NOTIFY_WHEN_EMPTY";
    pub const MASK_EMAILS: &str = "MASK_EMAILS";
    /// Entries of one list in one window that make its alert a warning (default 50; fewer
    /// are info).
    pub const BOUNCE_WARN_COUNT: &str = "BOUNCE_WARN_COUNT";
    /// The suppression lists to poll, comma-separated: `bounces` (the default), `blocks`,
    /// `spam_reports`, `invalid_emails`.
    pub const SENDGRID_LISTS: &str = "SENDGRID_LISTS";
    /// The longest the run waits for SendGrid's rate limits, in all (default `20s`).
    pub const SENDGRID_RATE_LIMIT_BUDGET: &str = "SENDGRID_RATE_LIMIT_BUDGET";
    /// Pages (of 500) read at most in one run, across lists and windows (default 100).
    pub const SENDGRID_MAX_PAGES: &str = "SENDGRID_MAX_PAGES";
    /// How far behind the schedule a window ends (default `2m`; `0` for none).
    pub const SETTLE_DELAY: &str = "SETTLE_DELAY";
}

/// [`env::BOUNCE_WARN_COUNT`] unless set.
pub const DEFAULT_BOUNCE_WARN_COUNT: usize = 50;

use opswatch_support::{flag, var};

/// The keys a secret holding the API key may use (else the secret is the key itself).
const KEY_SECRET_KEYS: &[&str] = &["api_key", "key", "SENDGRID_API_KEY"];

impl Poller {
    /// Build the clients once, from the environment.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        let key = match (
            var(env::SENDGRID_API_KEY),
            var(env::SENDGRID_API_KEY_SECRET_ARN),
        ) {
            (Some(k), _) => k,
            (None, Some(arn)) => opswatch_support::secret_value(
                &opswatch_support::read_secret(&config, &arn).await?,
                KEY_SECRET_KEYS,
            )
            .map_err(|why| format!("SENDGRID_API_KEY_SECRET_ARN: {why}"))?
            .expose()
            .to_owned(),
            (None, None) => {
                return Err("set SENDGRID_API_KEY or SENDGRID_API_KEY_SECRET_ARN".into());
            }
        };
        let key = sendgrid::ApiKey::new(&key)?;
        let duration = |k: &str, default: &str| {
            opswatch_support::window::parse_duration(&var(k).unwrap_or_else(|| default.to_owned()))
                .map_err(|why| format!("{k}: {why}"))
        };
        let mut sendgrid = sendgrid::SendGrid::new(
            &var(env::SENDGRID_API_URL).unwrap_or_else(|| "https://api.sendgrid.com".into()),
            key,
        )?;
        sendgrid.max_wait = std::time::Duration::from_secs(
            duration(env::SENDGRID_RATE_LIMIT_BUDGET, "20s")?.unsigned_abs(),
        );
        sendgrid.max_pages = opswatch_support::count_var(env::SENDGRID_MAX_PAGES, 100)?.max(1);
        Ok(Self {
            delivery: opswatch_delivery::Delivery::from_env(FUNCTION, &config).await?,
            sendgrid,
            lists: sendgrid::List::parse_all(&opswatch_support::list(env::SENDGRID_LISTS))?,
            checkpoint: var(env::CHECKPOINT_PARAMETER)
                .map(|parameter| opswatch_support::checkpoint::Checkpoint::new(&config, parameter)),
            interval: duration(env::POLL_INTERVAL, "10m")?,
            max_window: duration(env::MAX_WINDOW, "1d")?,
            // `0` (or `0s`) turns it off.
            settle: match var(env::SETTLE_DELAY).as_deref().map(str::trim) {
                Some("0" | "0s") => 0,
                _ => duration(env::SETTLE_DELAY, "2m")?,
            },
            notify_when_empty: flag(env::NOTIFY_WHEN_EMPTY),
            mask_emails: flag(env::MASK_EMAILS),
            warn_count: opswatch_support::count_var(
                env::BOUNCE_WARN_COUNT,
                DEFAULT_BOUNCE_WARN_COUNT,
            )?,
        })
    }
}

/// The Lambda entry point: serve invocations until the environment is shut down.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let poller = opswatch_support::cold_start(Poller::from_env().await)?;
    opswatch_support::serve(|event: Value| poller.handle(event)).await
}
