//! slack-actions: acknowledge and mute opswatch alerts from Slack.
//!
//! Behind a Lambda function URL, it takes Slack's interactivity requests (the alerts'
//! buttons) and the `/opswatch` slash command. Every request is verified first — Slack's
//! v0 signature over the raw body, a timestamp within 300 s, a signature never seen before
//! — and refused with a bare 401 otherwise; then only allowed users may act.
//!
//! - [`request`]: the function URL event: method, headers, raw body, size cap (pure);
//! - [`payload`]: a click, the command or `ssl_check` (pure);
//! - [`render`]: what it says in Slack (pure);
//! - [`handler`]: verify, remember, allow, act.

pub mod handler;
pub mod payload;
pub mod render;
pub mod request;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opswatch_delivery::config::{
    self as delivery_config, SIGNING_SECRET_KEYS, Source, TOKEN_KEYS, env as delivery_env,
};
use opswatch_delivery::store::Store;
use opswatch_slack::actions::ActionKey;
use opswatch_slack::{BotToken, RetryPolicy, Secret, Slack};
use opswatch_support::{list, var};
use serde_json::Value;

pub use handler::Actions;

/// The function's name.
pub const FUNCTION: &str = "slack-actions";

/// Environment variables of this function (besides `SLACK_BOT_TOKEN`, `SLACK_API_URL`,
/// `DEDUPE_TABLE`, `DEDUPE_TTL`, `SLACK_SIGNING_SECRET[_ARN]`).
pub mod env {
    /// Slack user ids who may act (comma-separated).
    pub const ACTIONS_ALLOWED_USERS: &str = "ACTIONS_ALLOWED_USERS";
    /// Slack user group ids whose members may act (comma-separated).
    pub const ACTIONS_ALLOWED_USERGROUPS: &str = "ACTIONS_ALLOWED_USERGROUPS";
    /// Local runs only: a frozen clock (epoch seconds), so `cargo xtask demo` and `preview`
    /// show the same acknowledgement and mute times on every run. Requests are checked
    /// against it too, so a deployment that sets it refuses every real request (it fails
    /// closed, never open).
    pub const OPSWATCH_CLOCK: &str = "OPSWATCH_CLOCK";
}

fn epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `OPSWATCH_CLOCK`, when set: the frozen time, or why it cannot be one.
fn frozen_clock(value: Option<String>) -> Result<Option<i64>, String> {
    let Some(v) = value else { return Ok(None) };
    let secs: i64 = v.parse().map_err(|_| {
        format!(
            "{}: {v:?} is not a time in epoch seconds (it is for local runs only: unset it)",
            env::OPSWATCH_CLOCK
        )
    })?;
    if !(1_000_000_000..=4_000_000_000).contains(&secs) {
        return Err(format!(
            "{}: {secs} is not a plausible time in epoch seconds",
            env::OPSWATCH_CLOCK
        ));
    }
    tracing::warn!(
        clock = secs,
        "OPSWATCH_CLOCK is set: the clock is frozen for a local run; requests from Slack will be refused as too old"
    );
    Ok(Some(secs))
}

/// A value set directly (`value`) or read from the Secrets Manager secret `arn` names.
async fn read_setting(
    config: &aws_config::SdkConfig,
    value: &str,
    arn: &str,
    keys: &[&str],
    what: &str,
) -> Result<Option<Secret>, String> {
    match Source::pick(var(value), var(arn)) {
        None => Ok(None),
        Some(source) => delivery_config::read(config, &source, keys, what)
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

fn ids(name: &str, first: &[char], example: &str) -> Result<Vec<String>, String> {
    let ids = list(name);
    if let Some(bad) = ids.iter().find(|i| {
        i.len() < 3
            || !i.starts_with(first)
            || !i
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }) {
        return Err(format!(
            "{name}: {bad:?} is not a Slack id (like {example}; a name will not do)"
        ));
    }
    Ok(ids)
}

impl Actions {
    /// Everything from the environment, once per cold start; every mistake in one line.
    pub async fn from_env() -> Result<Self, String> {
        let config = opswatch_support::aws_config().await;
        let secret = read_setting(
            &config,
            delivery_env::SLACK_SIGNING_SECRET,
            delivery_env::SLACK_SIGNING_SECRET_ARN,
            SIGNING_SECRET_KEYS,
            "Slack signing secret",
        )
        .await?
        .ok_or("set SLACK_SIGNING_SECRET_ARN (or SLACK_SIGNING_SECRET): requests are verified with the Slack app's signing secret")?;
        let token = read_setting(
            &config,
            delivery_env::SLACK_BOT_TOKEN,
            delivery_env::SLACK_BOT_TOKEN_SECRET_ARN,
            TOKEN_KEYS,
            "Slack bot token",
        )
        .await?
        .ok_or("set SLACK_BOT_TOKEN_SECRET_ARN (or SLACK_BOT_TOKEN): acknowledging and announcing mutes use the Web API")?;
        let token =
            BotToken::parse(token.expose()).map_err(|e| format!("the Slack bot token: {e}"))?;
        let table = var(delivery_env::DEDUPE_TABLE)
            .ok_or("set DEDUPE_TABLE: mutes, acknowledgements and seen signatures live there")?;
        let api_url = delivery_config::api_url(var(delivery_env::SLACK_API_URL))?;
        let ttl = delivery_config::dedupe_ttl(var(delivery_env::DEDUPE_TTL))?;
        let users = ids(env::ACTIONS_ALLOWED_USERS, &['U', 'W'], "U0123ABCD")?;
        let groups = ids(env::ACTIONS_ALLOWED_USERGROUPS, &['S'], "S0123ABCD")?;
        if users.is_empty() && groups.is_empty() {
            tracing::warn!(
                "ACTIONS_ALLOWED_USERS and ACTIONS_ALLOWED_USERGROUPS are empty: nobody may act on alerts"
            );
        }
        // Slack waits 3 s for the answer: each call gets a short budget.
        let retry = RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            budget: Duration::from_millis(1500),
            request_timeout: Duration::from_millis(1200),
        };
        let slack = Slack::new(retry)
            .map_err(|e| e.to_string())?
            .with_token(token, &api_url);
        let clock = frozen_clock(var(env::OPSWATCH_CLOCK))?;
        Ok(Self {
            clock,
            key: ActionKey::from_signing_secret(&secret),
            secret,
            slack,
            store: Store::new(&config, table, ttl, Duration::from_secs(30))
                .retry_for(Duration::from_millis(1200)),
            users,
            groups,
            members: tokio::sync::Mutex::new(None),
        })
    }
}

/// The Lambda entry point.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let actions = opswatch_support::cold_start(Actions::from_env().await)?;
    let actions = &actions;
    opswatch_support::serve(move |event: Value| async move {
        let answer = actions
            .handle(&event, actions.clock.unwrap_or_else(epoch))
            .await;
        Ok::<Value, std::convert::Infallible>(answer.into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_is_read_or_refused_in_one_line() {
        assert_eq!(frozen_clock(None), Ok(None));
        assert_eq!(
            frozen_clock(Some("1796457600".into())),
            Ok(Some(1_796_457_600))
        );
        for bad in ["2026-12-05T00:00:00Z", "12", "-1"] {
            let e = frozen_clock(Some(bad.into())).unwrap_err();
            assert!(
                e.starts_with("OPSWATCH_CLOCK: ") && !e.contains('\n'),
                "{e}"
            );
        }
    }
}
