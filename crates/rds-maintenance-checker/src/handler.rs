//! One scheduled run: every region asked at once, the answers sorted soonest first, one
//! digest posted; a region that fails is named, and the run fails only if all of them did.

use opswatch_delivery::{BAD_INPUT, Delivery, Groups, Notice, Outcome, Severity};
use opswatch_support::Failure;
use serde::Serialize;
use serde_json::Value;

use crate::model::{self, Arn, Pending};
use crate::rds::{self, Query};
use crate::render::{Digest, RegionFailure};

/// The rule every digest line carries, for routes.
pub const RULE: &str = "pending-maintenance";

pub struct Checker {
    pub delivery: Delivery,
    /// One client per region of `RDS_REGIONS`, in that order.
    pub regions: Vec<(String, aws_sdk_rds::Client)>,
    pub queries: Vec<Query>,
    pub warn_days: i64,
    pub notify_when_empty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedRegion {
    pub region: String,
    pub error: String,
}

impl Checker {
    /// The response: `{"regions", "failedRegions", "actions", "resources", "dueSoon",
    /// "messagesPosted", …}`.
    pub async fn handle(&self, event: Value) -> Result<Value, Failure> {
        let mut out = Outcome::new("run");
        out.received(1);
        if let Err((error_type, message)) = self.run(&event, &mut out).await {
            out.stop(error_type, message);
        }
        out.finish()
    }

    async fn run(&self, event: &Value, out: &mut Outcome) -> Result<(), (&'static str, String)> {
        let now = opswatch_support::scheduled_time(event).map_err(|e| (BAD_INPUT, e))?;
        let (mut pending, failed) = self.fetch().await;
        let names: Vec<String> = self.regions.iter().map(|(r, _)| r.clone()).collect();
        if !names.is_empty() && failed.len() == names.len() {
            let all = failed
                .iter()
                .map(|f| format!("{}: {}", f.region, f.why))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(("RdsUnavailable", format!("every region failed: {all}")));
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
        out.set("regions", names.clone());
        out.set(
            "failedRegions",
            serde_json::to_value(
                failed
                    .iter()
                    .map(|f| FailedRegion {
                        region: f.region.clone(),
                        error: f.why.clone(),
                    })
                    .collect::<Vec<_>>(),
            )
            .unwrap_or_default(),
        );
        out.set("actions", pending.len());
        out.set("resources", resources.len());
        let due_soon = digest.due_soon();
        out.set("dueSoon", due_soon);
        // The scheduled run is the source: a retried run finds what it already posted.
        let source = format!("run/{now}/{}", names.join(","));
        // Each action routes by its own weight; one digest per destination, whose severity
        // is its most serious line's.
        let mut groups: Groups<Vec<Pending>> = Groups::default();
        for p in &pending {
            let account = Arn::parse(&p.arn).map(|a| a.account);
            groups
                .by_route(&self.delivery, digest.severity(p), account, Some(RULE))
                .push(p.clone());
        }
        let notices = if groups.is_empty() {
            digest
                .alert(self.notify_when_empty)
                .map(|alert| Notice::new(alert, Severity::Info, source.clone()).rule(RULE))
                .into_iter()
                .collect()
        } else {
            groups.into_notices(&source, |list: Vec<Pending>| {
                Digest {
                    pending: &list,
                    ..digest
                }
                .alert(self.notify_when_empty)
            })
        };
        for notice in notices {
            self.delivery
                .deliver(notice, out)
                .await
                .map_err(|e| (e.error_type(), e.to_string()))?;
        }
        Ok(())
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
