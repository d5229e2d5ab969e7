//! rds-maintenance-checker: a digest of pending RDS/Aurora maintenance, soonest first.
//!
//! - [`window`]: weekly maintenance windows and the next start (pure);
//! - [`model`]: a pending action, when it applies — window, forced date, opt-in (pure);
//! - [`render`]: the Slack digest — groups of identical actions, due-soon marks (pure);
//! - [`report`]: the changes-only report — new, changed, reminded; its state (pure);
//! - [`rds`]: DescribePendingMaintenanceActions in one region, all pages, filters; the
//!   windows of the resources that have actions (DescribeDBClusters/DescribeDBInstances);
//! - [`org`]: across an organization — which accounts, the member role, entering one
//!   account (STS `AssumeRole`);
//! - [`handler`]: one run — every region (of every account) at once, one digest or the
//!   changes, failed regions and accounts named.

pub mod handler;
pub mod model;
pub mod org;
pub mod rds;
pub mod render;
pub mod report;
pub mod window;

use opswatch_support::{flag, list, var};
use serde_json::Value;

pub use handler::Checker;

/// The function's name, as routes and exactly-once keys know it.
pub const FUNCTION: &str = "rds-maintenance-checker";

/// Environment variables of this function (besides the shared Slack ones).
pub mod env {
    /// Comma-separated regions to check (default: the function's own region).
    pub const RDS_REGIONS: &str = "RDS_REGIONS";
    /// Only these clusters (identifiers or ARNs, comma-separated): the API's `db-cluster-id`.
    pub const RDS_CLUSTER_IDS: &str = "RDS_CLUSTER_IDS";
    /// Only these instances (identifiers or ARNs): the API's `db-instance-id`.
    pub const RDS_INSTANCE_IDS: &str = "RDS_INSTANCE_IDS";
    /// Actions whose first date is at most this many days away are marked (default 7).
    pub const WARN_DAYS: &str = "WARN_DAYS";
    pub const NOTIFY_WHEN_EMPTY: &str = "NOTIFY_WHEN_EMPTY";
    /// `digest` (every pending action, the default) or `changes` (only what changed since
    /// the last delivered report, and reminders; needs `DEDUPE_TABLE`).
    pub const RDS_REPORT: &str = "RDS_REPORT";
    /// A changes report reminds of an action once when it applies within this many hours
    /// (default 24).
    pub const REMIND_HOURS: &str = "REMIND_HOURS";
}

/// A region name as AWS spells them (`us-east-1`, `us-gov-west-1`, `cn-north-1`).
fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn warn_days(v: Option<String>) -> Result<i64, String> {
    match v {
        None => Ok(7),
        Some(v) => v
            .parse::<u16>()
            .map(i64::from)
            .map_err(|_| format!("{}: {v:?} is not a number of days", env::WARN_DAYS)),
    }
}

impl Checker {
    /// Build the clients once, from the environment.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        let config = opswatch_support::aws_config().await;
        let mut regions = list(env::RDS_REGIONS);
        if regions.is_empty() {
            let own = config
                .region()
                .map(|r| r.to_string())
                .ok_or("set AWS_REGION or RDS_REGIONS")?;
            regions.push(own);
        }
        let mut seen = std::collections::HashSet::new();
        regions.retain(|r| seen.insert(r.clone()));
        if let Some(bad) = regions.iter().find(|r| !valid_region(r)) {
            return Err(format!("{}: {bad:?} is not a region name", env::RDS_REGIONS).into());
        }
        // Checked before anything is asked of AWS: a bad setting is one line at cold start.
        let org_settings = org::OrgSettings::from_lookup(|k| std::env::var(k).ok())?;
        let clients = regions
            .into_iter()
            .map(|r| {
                let conf = aws_sdk_rds::config::Builder::from(&config)
                    .region(aws_sdk_rds::config::Region::new(r.clone()))
                    .build();
                (r, aws_sdk_rds::Client::from_conf(conf))
            })
            .collect();
        let delivery = opswatch_delivery::Delivery::from_env(FUNCTION, &config).await?;
        let mode = handler::Mode::parse(var(env::RDS_REPORT).as_deref())?;
        if mode == handler::Mode::Changes && !delivery.keeps_state() {
            return Err(format!(
                "{}=changes keeps what it reported in the dedupe table: set DEDUPE_TABLE",
                env::RDS_REPORT
            )
            .into());
        }
        let remind_hours = opswatch_support::count_var(env::REMIND_HOURS, 24)?;
        let org = match org_settings {
            None => None,
            Some(settings) => {
                let sts = aws_sdk_sts::Client::new(&config);
                let identity = org::identity(&sts).await?;
                tracing::info!(account = %identity.account, accounts = %settings.scope(), concurrency = settings.concurrency, "reading across the organization");
                Some(handler::OrgReader {
                    settings,
                    sts,
                    identity,
                    organization: delivery
                        .organization()
                        .cloned()
                        .unwrap_or_else(|| opswatch_delivery::org::Org::new(&config)),
                    base: config.clone(),
                })
            }
        };
        Ok(Self {
            org,
            delivery,
            mode,
            remind: i64::try_from(remind_hours)
                .map_err(|_| format!("{}: too many hours", env::REMIND_HOURS))?
                .saturating_mul(3_600),
            regions: clients,
            queries: rds::Query::plan(list(env::RDS_CLUSTER_IDS), list(env::RDS_INSTANCE_IDS)),
            warn_days: warn_days(var(env::WARN_DAYS))?,
            notify_when_empty: flag(env::NOTIFY_WHEN_EMPTY),
        })
    }
}

/// The Lambda entry point: serve invocations until the environment is shut down.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    opswatch_support::init_tracing();
    let checker = opswatch_support::cold_start(Checker::from_env().await)?;
    opswatch_support::serve(|event: Value| checker.handle(event)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        assert!(valid_region("us-east-1") && valid_region("us-gov-west-1"));
        assert!(!valid_region("US East") && !valid_region(""));
        assert_eq!(warn_days(None), Ok(7));
        assert_eq!(warn_days(Some("14".into())), Ok(14));
        assert!(warn_days(Some("-1".into())).is_err());
        assert!(warn_days(Some("a week".into())).is_err());
    }
}
