//! One scheduled run: every region asked at once, the answers sorted soonest first, one
//! digest posted; a region that fails is named, and the run fails only if all of them did.

use opswatch_slack::{Slack, SlackError};
use serde::Serialize;
use serde_json::Value;

use crate::model::{self, Pending};
use crate::rds::{self, Query};
use crate::render::{Digest, RegionFailure};

pub struct Checker {
    pub slack: Slack,
    /// One client per region of `RDS_REGIONS`, in that order.
    pub regions: Vec<(String, aws_sdk_rds::Client)>,
    pub queries: Vec<Query>,
    pub warn_days: i64,
    pub notify_when_empty: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    BadInput(String),
    #[error("every region failed: {0}")]
    AllRegionsFailed(String),
    #[error("Slack: {0}")]
    Slack(#[from] SlackError),
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::BadInput(_) => "BadInput",
            HandlerError::AllRegionsFailed(_) => "RdsUnavailable",
            HandlerError::Slack(_) => "SlackDeliveryFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub regions: Vec<String>,
    pub failed_regions: Vec<FailedRegion>,
    pub actions: usize,
    pub resources: usize,
    pub due_soon: usize,
    pub messages_posted: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedRegion {
    pub region: String,
    pub error: String,
}

impl Checker {
    pub async fn handle(&self, event: Value) -> Result<Response, HandlerError> {
        let result = self.run(&event).await;
        match &result {
            Ok(r) => opswatch_support::emit_metrics(r.messages_posted, 0),
            Err(_) => opswatch_support::emit_metrics(0, 1),
        }
        match &result {
            Ok(r) => tracing::info!(
                records = 1,
                regions = r.regions.len(),
                failed_regions = r.failed_regions.len(),
                actions = r.actions,
                due_soon = r.due_soon,
                messages_posted = r.messages_posted,
                failed = 0,
                "invocation summary"
            ),
            Err(e) => tracing::info!(records = 1, failed = 1, error = %e, "invocation summary"),
        }
        result
    }

    async fn run(&self, event: &Value) -> Result<Response, HandlerError> {
        let now = opswatch_support::scheduled_time(event).map_err(HandlerError::BadInput)?;
        let (mut pending, failed) = self.fetch().await;
        let names: Vec<String> = self.regions.iter().map(|(r, _)| r.clone()).collect();
        if !names.is_empty() && failed.len() == names.len() {
            let all = failed
                .iter()
                .map(|f| format!("{}: {}", f.region, f.why))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(HandlerError::AllRegionsFailed(all));
        }
        model::sort(&mut pending);
        let digest = Digest {
            now,
            warn_days: self.warn_days,
            regions: &names,
            failed: &failed,
            pending: &pending,
        };
        let mut resources: Vec<&str> = pending.iter().map(|p| p.arn.as_str()).collect();
        resources.sort_unstable();
        resources.dedup();
        let mut r = Response {
            regions: names.clone(),
            failed_regions: failed
                .iter()
                .map(|f| FailedRegion {
                    region: f.region.clone(),
                    error: f.why.clone(),
                })
                .collect(),
            actions: pending.len(),
            resources: resources.len(),
            due_soon: digest.due_soon(),
            messages_posted: 0,
        };
        if let Some(alert) = digest.alert(self.notify_when_empty) {
            for m in alert.into_messages() {
                self.slack.post(&m).await?;
                r.messages_posted += 1;
            }
        }
        Ok(r)
    }

    /// Every region at once; each region's actions, or why it could not be read.
    async fn fetch(&self) -> (Vec<Pending>, Vec<RegionFailure>) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (region, client)) in self.regions.iter().enumerate() {
            let (region, client, queries) = (region.clone(), client.clone(), self.queries.clone());
            tasks.spawn(async move {
                let result = rds::pending(&client, &region, &queries).await;
                (i, region, result)
            });
        }
        let mut results = Vec::with_capacity(self.regions.len());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(r) => results.push(r),
                Err(e) => tracing::error!(error = %e, "a region's task failed"),
            }
        }
        results.sort_by_key(|(i, ..)| *i);
        let mut pending = Vec::new();
        let mut failed = Vec::new();
        let mut seen = vec![false; self.regions.len()];
        for (i, region, result) in results {
            seen[i] = true;
            match result {
                Ok(list) => pending.extend(list),
                Err(why) => {
                    tracing::error!(region = %region, error = %why, "DescribePendingMaintenanceActions failed");
                    failed.push(RegionFailure { region, why });
                }
            }
        }
        for (i, (region, _)) in self.regions.iter().enumerate() {
            if !seen[i] {
                failed.push(RegionFailure {
                    region: region.clone(),
                    why: "the region's task did not finish".into(),
                });
            }
        }
        (pending, failed)
    }
}
