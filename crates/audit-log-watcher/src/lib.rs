//! audit-log-watcher: alert when watched users connect to Aurora.
//!
//! - [`awslogs`]: the CloudWatch Logs subscription payload, decoded with a size cap (pure);
//! - [`parse`]: Aurora MySQL audit CSV and PostgreSQL connection / pgaudit lines (pure);
//! - [`rules`]: who is watched; failed attempts per host summarised (pure);
//! - [`render`]: the Slack alert (pure);
//! - [`weigh`]: each line's severity, rule and thread key (pure);
//! - [`handler`]: push (a subscription batch) or pull (FilterLogEvents since a checkpoint).

pub mod awslogs;
pub mod handler;
pub mod parse;
pub mod render;
pub mod rules;
pub mod weigh;

use opswatch_support::checkpoint::Checkpoint;
use opswatch_support::window::parse_duration;
use opswatch_support::{Patterns, list, var};
use serde_json::Value;

pub use handler::{Pull, Watcher};

/// The function's name, as routes and exactly-once keys know it.
pub const FUNCTION: &str = "audit-log-watcher";

/// Environment variables of this function (besides the shared Slack ones).
pub mod env {
    /// Users whose connections are alerted (comma-separated, `prefix*`); empty: everyone.
    pub const WATCH_USERS: &str = "WATCH_USERS";
    /// Users never alerted (default `rdsadmin`, the RDS automation user; `-` for none).
    pub const IGNORE_USERS: &str = "IGNORE_USERS";
    /// Pull mode: the log groups to poll (comma-separated). Unset: push mode only.
    pub const LOG_GROUPS: &str = "LOG_GROUPS";
    /// Pull mode: FilterLogEvents' pattern (default: connection lines only; `-` for none).
    pub const FILTER_PATTERN: &str = "FILTER_PATTERN";
    pub const CHECKPOINT_PARAMETER: &str = "CHECKPOINT_PARAMETER";
    pub const POLL_INTERVAL: &str = "POLL_INTERVAL";
    pub const MAX_WINDOW: &str = "MAX_WINDOW";
    /// Pull mode: how far behind the schedule's time a window ends (default `1m`).
    pub const SETTLE_DELAY: &str = "SETTLE_DELAY";
    /// Failed attempts of one user from one host in one batch that make a warning
    /// (default 5; fewer are info).
    pub const FAILED_CONNECT_THRESHOLD: &str = "FAILED_CONNECT_THRESHOLD";
}

/// What pull mode asks CloudWatch Logs for unless told otherwise: Aurora MySQL's connection
/// operations and PostgreSQL's connection lines (terms OR-ed).
pub const DEFAULT_FILTER_PATTERN: &str = r#"?CONNECT ?FAILED_CONNECT ?"connection authorized" ?"authentication failed" ?"pg_hba.conf entry" ?"does not exist""#;

fn rules_from(watch: Option<String>, ignore: Option<String>) -> rules::Rules {
    let ignore = match ignore.as_deref() {
        None => Patterns::parse("rdsadmin"),
        Some("-") => Patterns::default(),
        Some(list) => Patterns::parse(list),
    };
    rules::Rules {
        watch: Patterns::parse(&watch.unwrap_or_default()),
        ignore,
    }
}

impl Watcher {
    /// Build the clients once, from the environment.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        let duration = |k: &str, default: &str| {
            let v = var(k).unwrap_or_else(|| default.to_owned());
            if v == "0" {
                return Ok(0);
            }
            parse_duration(&v).map_err(|why| format!("{k}: {why}"))
        };
        let log_groups = list(env::LOG_GROUPS);
        let pull = if log_groups.is_empty() {
            None
        } else {
            Some(Pull {
                logs: aws_sdk_cloudwatchlogs::Client::new(&config),
                log_groups,
                filter_pattern: match var(env::FILTER_PATTERN).as_deref() {
                    None => Some(DEFAULT_FILTER_PATTERN.to_owned()),
                    Some("-") => None,
                    Some(p) => Some(p.to_owned()),
                },
                checkpoint: var(env::CHECKPOINT_PARAMETER).map(|p| Checkpoint::new(&config, p)),
                interval: duration(env::POLL_INTERVAL, "5m")?,
                max_window: duration(env::MAX_WINDOW, "1d")?,
                settle: duration(env::SETTLE_DELAY, "1m")?,
            })
        };
        let failed_threshold = match var(env::FAILED_CONNECT_THRESHOLD) {
            None => weigh::DEFAULT_FAILED_THRESHOLD,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    format!(
                        "{}: {v:?} is not a whole number of attempts, 1 or more",
                        env::FAILED_CONNECT_THRESHOLD
                    )
                })?,
        };
        Ok(Self {
            delivery: opswatch_delivery::Delivery::from_env(FUNCTION, &config).await?,
            rules: rules_from(var(env::WATCH_USERS), var(env::IGNORE_USERS)),
            failed_threshold,
            pull,
        })
    }
}

/// The Lambda entry point: serve invocations until the environment is shut down.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let watcher = opswatch_support::cold_start(Watcher::from_env().await)?;
    opswatch_support::serve(|event: Value| watcher.handle(event)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_settings() {
        assert_eq!(rules_from(None, None).ignore.entries(), ["rdsadmin"]);
        assert!(rules_from(None, Some("-".into())).ignore.is_empty());
        assert_eq!(
            rules_from(Some("admin".into()), Some("rdsadmin, monitor".into()))
                .ignore
                .entries(),
            ["rdsadmin", "monitor"]
        );
    }
}
