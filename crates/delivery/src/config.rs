//! The pipeline's settings, read once per cold start. Every mistake is found here and named in
//! one line, before any event is handled; secrets are read from Secrets Manager here and
//! never printed.
//!
//! | variable | meaning |
//! |---|---|
//! | `SLACK_BOT_TOKEN` / `SLACK_BOT_TOKEN_SECRET_ARN` | Web API mode: the bot token (`xoxb-…`, or a secret holding it plainly or as JSON `token` / `bot_token`) |
//! | `SLACK_CHANNEL` | Web API mode: the default channel (id or name, `#` optional) |
//! | `SLACK_API_URL` | the Web API's base URL (default `https://slack.com/api`) |
//! | `SLACK_WEBHOOK_URL` / `SLACK_WEBHOOK_SECRET_ARN` | webhook mode: the default webhook (a secret holds it plainly or as JSON `url` / `webhook_url`) |
//! | `SLACK_ROUTES` | routes (see [`crate::routes`]) |
//! | `SLACK_MAX_RETRY_SECONDS` | what one message may take, retries included (default 20) |
//! | `DEDUPE_TABLE` | exactly once and threads: the DynamoDB table |
//! | `DEDUPE_TTL` | how long message keys are kept (default `7d`; at least `1h`, [`DEDUPE_TTL_FLOOR`]) |
//! | `DEDUPE_UNAVAILABLE` | `fail` (default): a unit whose claim cannot be made fails and is retried; `post`: post without exactly-once |
//! | `THREAD_WINDOW` | how long after its first alert a thread takes replies (default `1h`) |
//! | `THREADS` | `off` disables threads |
//! | `ACTIONS` | `on`: each alert carries `Acknowledge` and `Mute…` buttons (Web API mode; needs the signing secret) |
//! | `SLACK_SIGNING_SECRET_ARN` / `SLACK_SIGNING_SECRET` | the Slack app's signing secret: the buttons' values are signed under a key derived from it |

use std::time::Duration;

use opswatch_slack::{BotToken, RetryPolicy, Secret, Slack, SlackError, Target, WebhookUrl};

use crate::Delivery;
use crate::routes::{self, RouteSpec, RouteTarget, Routes};
use crate::store::Store;

/// Environment variable names (also in `template.yaml` and the README).
pub mod env {
    pub const SLACK_BOT_TOKEN: &str = "SLACK_BOT_TOKEN";
    pub const SLACK_BOT_TOKEN_SECRET_ARN: &str = "SLACK_BOT_TOKEN_SECRET_ARN";
    pub const SLACK_CHANNEL: &str = "SLACK_CHANNEL";
    pub const SLACK_API_URL: &str = "SLACK_API_URL";
    pub const SLACK_WEBHOOK_URL: &str = "SLACK_WEBHOOK_URL";
    pub const SLACK_WEBHOOK_SECRET_ARN: &str = "SLACK_WEBHOOK_SECRET_ARN";
    pub const SLACK_ROUTES: &str = "SLACK_ROUTES";
    pub const SLACK_MAX_RETRY_SECONDS: &str = "SLACK_MAX_RETRY_SECONDS";
    pub const DEDUPE_TABLE: &str = "DEDUPE_TABLE";
    pub const DEDUPE_TTL: &str = "DEDUPE_TTL";
    pub const THREAD_WINDOW: &str = "THREAD_WINDOW";
    pub const THREADS: &str = "THREADS";
    pub const DEDUPE_UNAVAILABLE: &str = "DEDUPE_UNAVAILABLE";
    pub const ACTIONS: &str = "ACTIONS";
    pub const SLACK_SIGNING_SECRET: &str = "SLACK_SIGNING_SECRET";
    pub const SLACK_SIGNING_SECRET_ARN: &str = "SLACK_SIGNING_SECRET_ARN";
    /// `111122223333=prod,…`, or `organizations`: every account's name from Organizations.
    pub const ACCOUNT_NAMES: &str = "ACCOUNT_NAMES";
}

/// Where account names come from (`ACCOUNT_NAMES`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Names {
    /// `111122223333=prod,444455556666=staging` (blank: none).
    Fixed(opswatch_support::AccountNames),
    /// `organizations`: `ListAccounts` once per cold start; account tags for tag routes.
    Organizations,
}

impl Names {
    /// `ACCOUNT_NAMES` (unset or blank: no names); a mistake is one line naming it.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("organizations") => Ok(Names::Organizations),
            v => opswatch_support::AccountNames::parse(v.unwrap_or_default())
                .map(Names::Fixed)
                .map_err(|e| {
                    format!(
                        "{}: {e}, or \"organizations\" to read them from AWS Organizations",
                        env::ACCOUNT_NAMES
                    )
                }),
        }
    }
}

/// The keys a secret holding the signing secret may use.
pub const SIGNING_SECRET_KEYS: &[&str] = &["signing_secret", "SLACK_SIGNING_SECRET", "secret"];

/// The shortest `DEDUPE_TTL`: a key must outlive every redelivery of its event — SQS's
/// visibility timeout × `maxReceiveCount`, EventBridge's and asynchronous invocations'
/// retries — and every claim (Lambda's 15-minute limit plus the claim's margin).
pub const DEDUPE_TTL_FLOOR: Duration = Duration::from_secs(3600);

/// The longest a claim can live: Lambda's 15-minute limit plus the margin.
pub const LONGEST_CLAIM: Duration = Duration::from_secs(900 + crate::CLAIM_MARGIN.as_secs());

/// The keys a secret holding a bot token may use.
pub const TOKEN_KEYS: &[&str] = &["token", "bot_token", "SLACK_BOT_TOKEN"];
/// The keys a secret holding a webhook URL may use.
const WEBHOOK_KEYS: &[&str] = &["url", "webhook_url", "SLACK_WEBHOOK_URL"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Secret(#[from] opswatch_support::SupportError),
    #[error("{0}")]
    Slack(#[from] SlackError),
}

/// A value given directly or through a Secrets Manager secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Value(Secret),
    SecretArn(String),
}

/// Everything the environment says, checked; secrets not yet read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub token: Option<Source>,
    pub channel: Option<String>,
    pub api_url: String,
    pub webhook: Option<Source>,
    pub routes: Vec<RouteSpec>,
    pub budget: Duration,
    pub dedupe_table: Option<String>,
    pub dedupe_ttl: Duration,
    /// `None`: threads off.
    pub thread_window: Option<Duration>,
    pub when_store_down: crate::WhenStoreDown,
    /// `ACTIONS=on`: the signing secret the buttons' values are signed under.
    pub actions: Option<Source>,
    pub account_names: Names,
}

fn duration(name: &str, value: Option<String>, default: &str) -> Result<Duration, String> {
    let v = value.unwrap_or_else(|| default.to_owned());
    opswatch_support::window::parse_duration(&v)
        .map(|s| Duration::from_secs(s as u64))
        .map_err(|why| format!("{name}: {why}"))
}

/// An on/off setting (`on`, `true`, `1`, `yes` / `off`, `false`, `0`, `no`, any case);
/// `default` when unset.
fn switch(name: &str, value: Option<String>, default: bool) -> Result<bool, String> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("on" | "true" | "1" | "yes") => Ok(true),
        Some("off" | "false" | "0" | "no") => Ok(false),
        Some(other) => Err(format!("{name}: {other:?} is neither on nor off")),
    }
}

impl Source {
    /// The value if it is set, else the secret it names, else `None`.
    pub fn pick(value: Option<String>, arn: Option<String>) -> Option<Self> {
        match (value, arn) {
            (Some(v), _) => Some(Source::Value(Secret::new(v))),
            (None, Some(a)) => Some(Source::SecretArn(a)),
            (None, None) => None,
        }
    }
}

/// `SLACK_API_URL`, or Slack's: the bot token goes there, so never in clear text across a
/// network ([`opswatch_slack::credential_url`]).
pub fn api_url(value: Option<String>) -> Result<String, String> {
    let api_url = value.unwrap_or_else(|| opswatch_slack::DEFAULT_API_URL.to_owned());
    opswatch_slack::credential_url(&api_url)
        .map_err(|why| format!("{}: the URL {why}", env::SLACK_API_URL))?;
    Ok(api_url)
}

/// `DEDUPE_TTL` (default `7d`), no shorter than [`DEDUPE_TTL_FLOOR`] and the longest claim.
pub fn dedupe_ttl(value: Option<String>) -> Result<Duration, String> {
    let dedupe_ttl = duration(env::DEDUPE_TTL, value, "7d")?;
    if dedupe_ttl < DEDUPE_TTL_FLOOR.max(LONGEST_CLAIM) {
        return Err(format!(
            "{}: {}s is too short — a key must outlive its event's redeliveries (SQS visibility timeout × maxReceiveCount, EventBridge and async retries) and every claim: at least 1h",
            env::DEDUPE_TTL,
            dedupe_ttl.as_secs()
        ));
    }
    Ok(dedupe_ttl)
}

impl Settings {
    /// From variables looked up by name (blank counts as unset, as SAM passes empty
    /// parameters).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let source = |value: &str, arn: &str| Source::pick(get(value), get(arn));
        let token = source(env::SLACK_BOT_TOKEN, env::SLACK_BOT_TOKEN_SECRET_ARN);
        let webhook = source(env::SLACK_WEBHOOK_URL, env::SLACK_WEBHOOK_SECRET_ARN);
        let channel = get(env::SLACK_CHANNEL);
        if let Some(c) = &channel
            && c.trim_start_matches('#').is_empty()
        {
            return Err(
                "SLACK_CHANNEL must name a channel (an id like C0123ABCD or a name)".into(),
            );
        }
        let routes = routes::parse(&get(env::SLACK_ROUTES).unwrap_or_default())?;
        if token.is_none()
            && let Some(i) = routes
                .iter()
                .position(|r| matches!(r.target, RouteTarget::Channel(_)))
        {
            return Err(format!(
                "SLACK_ROUTES[{i}] names a \"channel\", which needs Web API mode: set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_SECRET_ARN (in webhook mode, use \"webhook_url\" or \"webhook_secret_arn\")"
            ));
        }
        if token.is_some() && channel.is_none() && webhook.is_none() {
            return Err("a Slack bot token is set but no default destination: set SLACK_CHANNEL to the channel alerts go to when no route matches".into());
        }
        if token.is_none() && channel.is_some() {
            return Err("SLACK_CHANNEL is set but no bot token: set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_SECRET_ARN (or use SLACK_WEBHOOK_URL instead)".into());
        }
        let budget = match get(env::SLACK_MAX_RETRY_SECONDS) {
            None => RetryPolicy::default().budget,
            Some(v) => {
                let secs: f64 = v.parse().map_err(|_| {
                    format!("SLACK_MAX_RETRY_SECONDS: {v:?} is not a number of seconds")
                })?;
                if !(0.0..=900.0).contains(&secs) {
                    return Err(format!(
                        "SLACK_MAX_RETRY_SECONDS: {secs} is outside 0..=900"
                    ));
                }
                Duration::from_secs_f64(secs)
            }
        };
        let threads = switch(env::THREADS, get(env::THREADS), true)?;
        let thread_window = duration(env::THREAD_WINDOW, get(env::THREAD_WINDOW), "1h")?;
        let api_url = api_url(get(env::SLACK_API_URL))?;
        let dedupe_ttl = dedupe_ttl(get(env::DEDUPE_TTL))?;
        let when_store_down = match get(env::DEDUPE_UNAVAILABLE)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("fail") => crate::WhenStoreDown::Fail,
            Some("post") => crate::WhenStoreDown::Post,
            Some(other) => {
                return Err(format!(
                    "{}: {other:?} is neither fail (the default: retry later, exactly once) nor post (post without exactly-once)",
                    env::DEDUPE_UNAVAILABLE
                ));
            }
        };
        let actions = if switch(env::ACTIONS, get(env::ACTIONS), false)? {
            if get(env::DEDUPE_TABLE).is_none() {
                return Err(
                    "ACTIONS=on needs DEDUPE_TABLE: mutes and acknowledgements are kept there"
                        .into(),
                );
            }
            if token.is_none() {
                return Err("ACTIONS=on needs Web API mode: set SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_SECRET_ARN (a webhook cannot receive button clicks)".into());
            }
            Some(
                source(env::SLACK_SIGNING_SECRET, env::SLACK_SIGNING_SECRET_ARN).ok_or(
                    "ACTIONS=on needs the Slack app's signing secret: set SLACK_SIGNING_SECRET_ARN (or SLACK_SIGNING_SECRET)",
                )?,
            )
        } else {
            None
        };
        let account_names = Names::parse(get(env::ACCOUNT_NAMES).as_deref())?;
        Ok(Self {
            account_names,
            actions,
            token,
            channel,
            api_url,
            webhook,
            routes,
            budget,
            dedupe_table: get(env::DEDUPE_TABLE),
            dedupe_ttl,
            thread_window: threads.then_some(thread_window),
            when_store_down,
        })
    }
}

/// A value given directly, or read from its secret (plainly, or as JSON under one of
/// `keys`); `what` names it in the error.
pub async fn read(
    config: &aws_config::SdkConfig,
    source: &Source,
    keys: &[&str],
    what: &str,
) -> Result<Secret, ConfigError> {
    match source {
        Source::Value(v) => Ok(v.clone()),
        Source::SecretArn(arn) => {
            let text = opswatch_support::read_secret(config, arn).await?;
            opswatch_support::secret_value(&text, keys)
                .map_err(|why| ConfigError::Invalid(format!("the {what} secret {arn}: {why}")))
        }
    }
}

impl Delivery {
    /// The pipeline for `function`, from the environment: the Slack client (bot token or
    /// webhook, secrets read once here), the routes with their webhooks, the dedupe table.
    pub async fn from_env(
        function: &'static str,
        config: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let settings =
            Settings::from_lookup(|k| std::env::var(k).ok()).map_err(ConfigError::Invalid)?;
        Self::from_settings(function, config, settings).await
    }

    pub async fn from_settings(
        function: &'static str,
        config: &aws_config::SdkConfig,
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        let retry = RetryPolicy {
            budget: settings.budget,
            ..RetryPolicy::default()
        };
        let mut slack = Slack::new(retry)?;
        if let Some(source) = &settings.token {
            let token = read(config, source, TOKEN_KEYS, "Slack bot token").await?;
            let token = BotToken::parse(token.expose()).map_err(|e| match source {
                Source::SecretArn(arn) => {
                    ConfigError::Invalid(format!("the Slack bot token secret {arn}: {e}"))
                }
                Source::Value(_) => ConfigError::Invalid(format!("SLACK_BOT_TOKEN: {e}")),
            })?;
            slack = slack.with_token(token, &settings.api_url);
        }
        let webhook = |secret: Secret, setting: &str| {
            WebhookUrl::parse(secret.expose())
                .map(Target::Webhook)
                .map_err(|e| ConfigError::Invalid(format!("{setting}: {e}")))
        };
        let default = match (&settings.channel, &settings.webhook) {
            (Some(channel), _) => Target::channel(channel, env::SLACK_CHANNEL),
            (None, Some(source)) => {
                let setting = match source {
                    Source::Value(_) => env::SLACK_WEBHOOK_URL,
                    Source::SecretArn(_) => env::SLACK_WEBHOOK_SECRET_ARN,
                };
                webhook(
                    read(config, source, WEBHOOK_KEYS, "Slack webhook").await?,
                    setting,
                )?
            }
            (None, None) => {
                tracing::warn!(
                    "no Slack destination is set (SLACK_BOT_TOKEN + SLACK_CHANNEL, or SLACK_WEBHOOK_URL): dry run, messages go to stderr"
                );
                Target::DryRun
            }
        };
        let mut resolved = Vec::with_capacity(settings.routes.len());
        for (i, spec) in settings.routes.iter().enumerate() {
            let setting = format!("SLACK_ROUTES[{i}]");
            resolved.push(match &spec.target {
                RouteTarget::Drop => None,
                RouteTarget::Channel(c) => Some(Target::channel(c, format!("{setting}.channel"))),
                RouteTarget::WebhookUrl(url) => Some(webhook(url.clone(), &setting)?),
                RouteTarget::WebhookSecretArn(arn) => {
                    let source = Source::SecretArn(arn.clone());
                    Some(webhook(
                        read(config, &source, WEBHOOK_KEYS, "route's webhook").await?,
                        &setting,
                    )?)
                }
            });
        }
        let routes = Routes::new(settings.routes, resolved, default);
        let actions = match &settings.actions {
            Some(source) => {
                let secret =
                    read(config, source, SIGNING_SECRET_KEYS, "Slack signing secret").await?;
                Some(opswatch_slack::actions::ActionKey::from_signing_secret(
                    &secret,
                ))
            }
            None => None,
        };
        let store = settings.dedupe_table.map(|table| {
            Store::new(
                config,
                table,
                settings.dedupe_ttl,
                settings.budget + crate::CLAIM_MARGIN,
            )
        });
        if store.is_none() && settings.thread_window.is_some() && slack.has_token() {
            tracing::debug!("threads need DEDUPE_TABLE: alerts are posted without threads");
        }
        let (names, org) = match settings.account_names {
            Names::Fixed(names) => (names, None),
            Names::Organizations => {
                let org = crate::org::Org::new(config);
                let accounts = org.accounts().await.map_err(|why| {
                    ConfigError::Invalid(format!(
                        "{}=organizations: {why} (the function needs organizations:ListAccounts, from the management account or a delegated administrator)",
                        env::ACCOUNT_NAMES
                    ))
                })?;
                tracing::info!(
                    accounts = accounts.len(),
                    "account names read from Organizations"
                );
                let names = opswatch_support::AccountNames::from_pairs(
                    accounts.into_iter().map(|a| (a.id, a.name)),
                );
                (names, Some(org))
            }
        };
        Ok(
            Delivery::new(function, slack, routes, store, settings.thread_window)
                .when_store_down(settings.when_store_down)
                .actions(actions)
                .accounts(names, org),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn modes_and_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.token.is_none(), s.webhook.is_none()), (true, true));
        assert_eq!(s.dedupe_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(s.thread_window, Some(Duration::from_secs(3600)));
        assert_eq!(s.budget, Duration::from_secs(20));
        let s = settings(&[
            ("SLACK_BOT_TOKEN", "xoxb-1-2-3"),
            ("SLACK_CHANNEL", "#ops"),
            ("THREADS", "off"),
            ("DEDUPE_TABLE", " opswatch-dedupe "),
            ("THREAD_WINDOW", "30m"),
            ("SLACK_ROUTES", ""),
        ])
        .unwrap();
        assert_eq!(s.thread_window, None);
        assert_eq!(s.dedupe_table.as_deref(), Some("opswatch-dedupe"));
        assert_eq!(s.channel.as_deref(), Some("#ops"));
        assert_eq!(s.when_store_down, crate::WhenStoreDown::Fail);
        let s = settings(&[("DEDUPE_UNAVAILABLE", "Post"), ("DEDUPE_TTL", "1h")]).unwrap();
        assert_eq!(s.when_store_down, crate::WhenStoreDown::Post);
    }

    #[test]
    fn mistakes_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("SLACK_BOT_TOKEN", "xoxb-1")], "set SLACK_CHANNEL"),
            (&[("SLACK_CHANNEL", "#ops")], "no bot token"),
            (
                &[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_CHANNEL", "#")],
                "SLACK_CHANNEL must name a channel",
            ),
            (
                &[
                    ("SLACK_WEBHOOK_URL", "https://h"),
                    ("SLACK_ROUTES", r##"[{"channel":"#x"}]"##),
                ],
                "SLACK_ROUTES[0] names a \"channel\"",
            ),
            (&[("THREADS", "maybe")], "THREADS"),
            (&[("THREAD_WINDOW", "soon")], "THREAD_WINDOW"),
            (&[("DEDUPE_TTL", "-1d")], "DEDUPE_TTL"),
            // Shorter than an SQS redelivery cycle or a claim.
            (&[("DEDUPE_TTL", "10m")], "DEDUPE_TTL: 600s is too short"),
            (&[("DEDUPE_TTL", "59m")], "at least 1h"),
            (&[("DEDUPE_UNAVAILABLE", "maybe")], "DEDUPE_UNAVAILABLE"),
            (
                &[
                    ("SLACK_WEBHOOK_URL", "https://h"),
                    ("ACTIONS", "on"),
                    ("DEDUPE_TABLE", "t"),
                ],
                "ACTIONS=on needs Web API mode",
            ),
            (&[("ACTIONS", "on")], "ACTIONS=on needs DEDUPE_TABLE"),
            (
                &[
                    ("DEDUPE_TABLE", "t"),
                    ("SLACK_BOT_TOKEN", "xoxb-1"),
                    ("SLACK_CHANNEL", "#ops"),
                    ("ACTIONS", "on"),
                ],
                "ACTIONS=on needs the Slack app's signing secret",
            ),
            (&[("ACTIONS", "maybe")], "ACTIONS: \"maybe\" is neither"),
            (
                &[("SLACK_MAX_RETRY_SECONDS", "a lot")],
                "SLACK_MAX_RETRY_SECONDS",
            ),
            (
                &[("SLACK_ROUTES", "[{\"sevrity\":\"info\",\"drop\":true}]")],
                "SLACK_ROUTES[0]: unknown key",
            ),
            // The bot token would cross a network in clear text.
            (
                &[("SLACK_API_URL", "http://slack.example/api")],
                "SLACK_API_URL: the URL must start with https://",
            ),
            (
                &[("SLACK_API_URL", "http://127.0.0.1:1@slack.example/api")],
                "SLACK_API_URL: the URL must not carry a user name",
            ),
            (&[("SLACK_API_URL", "slack.com/api")], "SLACK_API_URL"),
        ];
        for (vars, expected) in cases {
            let e = settings(vars).unwrap_err();
            assert!(e.contains(expected), "{vars:?}: {e}");
        }
        for ok in [
            "https://slack.com/api",
            "http://127.0.0.1:9/api",
            "http://localhost:9",
        ] {
            assert_eq!(
                settings(&[("SLACK_API_URL", ok)]).map(|s| s.api_url),
                Ok(ok.to_owned())
            );
        }
        // A token and a webhook, no channel: the webhook is the default.
        assert!(
            settings(&[
                ("SLACK_BOT_TOKEN", "xoxb-1"),
                ("SLACK_WEBHOOK_URL", "https://h")
            ])
            .is_ok()
        );
    }
}
