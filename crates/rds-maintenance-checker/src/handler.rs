//! One scheduled run: every region asked at once (its pending actions, then the maintenance
//! windows of the resources that have them), the answers sorted by when they apply, and
//! either the whole digest posted or — `RDS_REPORT=changes` — only what changed since the
//! last delivered report, the state moved only after delivery. A region that fails is
//! named, and the run fails only if all of them did.

use std::time::Duration;

use opswatch_delivery::{BAD_INPUT, Delivery, Groups, Notice, Outcome, Severity};
use opswatch_support::Failure;
use serde::Serialize;
use serde_json::Value;

use crate::model::{self, Arn, Change, Pending, Window};
use crate::rds::{self, Query};
use crate::render::{Digest, RegionFailure};
use crate::report::{self, State};
use crate::window::MaintenanceWindow;

/// How long a changes report's state is kept without a run (refreshed by every run).
pub const STATE_TTL: Duration = Duration::from_secs(90 * 86_400);

/// What a run posts (`RDS_REPORT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every pending action (`digest`, the default).
    Digest,
    /// Only new and changed actions, and reminders (`changes`; needs `DEDUPE_TABLE`).
    Changes,
}

impl Mode {
    pub fn parse(v: Option<&str>) -> Result<Self, String> {
        match v.map(str::trim) {
            None | Some("digest") => Ok(Mode::Digest),
            Some("changes") => Ok(Mode::Changes),
            Some(other) => Err(format!(
                "RDS_REPORT: {other:?} is neither \"digest\" nor \"changes\""
            )),
        }
    }
}

/// The rule every digest line carries, for routes.
pub const RULE: &str = "pending-maintenance";

pub struct Checker {
    pub delivery: Delivery,
    /// One client per region of `RDS_REGIONS`, in that order.
    pub regions: Vec<(String, aws_sdk_rds::Client)>,
    pub queries: Vec<Query>,
    pub warn_days: i64,
    pub notify_when_empty: bool,
    pub mode: Mode,
    /// Reminders for actions applying within this many seconds (`REMIND_HOURS`).
    pub remind: i64,
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
        // A schedule may ask for one kind of report whatever RDS_REPORT says (the
        // template's second schedule: `{"report": "digest", "time": …}`).
        let mode = match event.get("report") {
            None => self.mode,
            Some(v) => Mode::parse(v.as_str().or(Some("?")))
                .map_err(|e| (BAD_INPUT, format!("the event's \"report\": {e}")))?,
        };
        if mode == Mode::Changes && !self.delivery.keeps_state() {
            return Err((
                BAD_INPUT,
                "a changes report keeps what it reported in the dedupe table: set DEDUPE_TABLE"
                    .into(),
            ));
        }
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
        model::sort(&mut pending, now);
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
        let unknown = pending
            .iter()
            .filter(|p| matches!(p.window, Window::Unknown(_)))
            .count();
        out.set("windowsUnknown", unknown);
        out.set(
            "report",
            if mode == Mode::Changes {
                "changes"
            } else {
                "digest"
            },
        );
        if mode == Mode::Changes {
            return self.changes(digest, &failed, out).await;
        }
        // The scheduled run is the source: a retried run finds what it already posted.
        let source = format!("run/{now}/{}", names.join(","));
        // Each action routes by its own weight; one digest per destination, whose severity
        // is its most serious line's.
        let mut groups: Groups<Vec<Pending>> = Groups::default();
        for p in &pending {
            self.group_of(&mut groups, &digest, p).push(p.clone());
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

    /// The group `p` goes to: its route, by its own weight, account and the rule.
    fn group_of<'g, T: Default>(
        &self,
        groups: &'g mut Groups<T>,
        digest: &Digest<'_>,
        p: &Pending,
    ) -> &'g mut T {
        let account = Arn::parse(&p.arn).map(|a| a.account);
        groups.by_route(&self.delivery, digest.severity(p), account, Some(RULE))
    }

    /// The changes report: what changed since the last delivered one, by route; each
    /// route's actions recorded as delivered once Slack has them.
    async fn changes(
        &self,
        digest: Digest<'_>,
        failed: &[RegionFailure],
        out: &mut Outcome,
    ) -> Result<(), (&'static str, String)> {
        let now = digest.now;
        // The regions in a stable order: reordering RDS_REGIONS keeps the state.
        let mut regions: Vec<&String> = digest.regions.iter().collect();
        regions.sort();
        regions.dedup();
        let scope = format!("changes/{regions:?}/{:?}", self.queries);
        let (state, version) = match self.delivery.load_state(&scope).await {
            Ok(Some(saved)) => match State::parse(&saved.body) {
                Ok(state) => (state, Some(saved.version)),
                Err(why) => {
                    tracing::warn!(error = %why, "starting the changes report afresh");
                    (State::default(), Some(saved.version))
                }
            },
            Ok(None) => (State::default(), None),
            Err(e) => {
                // Better twice than never: everything is shown as new.
                tracing::warn!(error = %e, "the report's state cannot be read: showing every action as new");
                out.state_unavailable();
                (State::default(), None)
            }
        };
        let r = report::report(&state, digest.pending, now, self.remind);
        out.set("new", r.count(|c| *c == Change::New));
        out.set("changed", r.count(|c| matches!(c, Change::Changed { .. })));
        out.set("reminders", r.count(|c| *c == Change::Reminder));
        out.set("unchanged", r.unchanged);
        // The run is the source: a retried run finds what it already posted.
        let source = format!("changes/{now}/{}", digest.regions.join(","));
        let mut groups: Groups<Vec<(Pending, (String, report::Seen))>> = Groups::default();
        for (p, entry) in r.shown.iter().zip(&r.entries) {
            self.group_of(&mut groups, &digest, p)
                .push((p.clone(), entry.clone()));
        }
        let mut entries_of: Vec<Vec<(String, report::Seen)>> = Vec::new();
        let notices = groups.into_notices(&source, |list| {
            let (shown, entries): (Vec<Pending>, Vec<_>) = list.into_iter().unzip();
            let alert = Digest {
                pending: &shown,
                failed: &[],
                ..digest
            }
            .changes_alert(&r);
            entries_of.push(entries);
            Some(alert)
        });
        let mut delivered = Vec::new();
        let mut stopped = None;
        for (notice, entries) in notices.into_iter().zip(entries_of) {
            match self.delivery.deliver(notice, out).await {
                Ok(()) => delivered.extend(entries),
                Err(e) => {
                    stopped = Some((e.error_type(), e.to_string()));
                    break;
                }
            }
        }
        let read: Vec<String> = digest
            .regions
            .iter()
            .filter(|g| !failed.iter().any(|f| &f.region == *g))
            .cloned()
            .collect();
        self.save(&scope, state, version, &read, &r.keys, &delivered, out)
            .await;
        match stopped {
            Some(stop) => Err(stop),
            None => Ok(()),
        }
    }

    /// Record what was delivered; when another run wrote in between, merge into its state.
    #[allow(clippy::too_many_arguments)]
    async fn save(
        &self,
        scope: &str,
        mut state: State,
        mut version: Option<i64>,
        read: &[String],
        keys: &[String],
        delivered: &[(String, report::Seen)],
        out: &mut Outcome,
    ) {
        for _ in 0..3 {
            state.update(read, keys, delivered);
            match self
                .delivery
                .save_state(scope, &state.to_json(), version, STATE_TTL)
                .await
            {
                Ok(true) => return,
                Ok(false) => match self.delivery.load_state(scope).await {
                    Ok(saved) => {
                        version = saved.as_ref().map(|s| s.version);
                        state = saved
                            .and_then(|s| State::parse(&s.body).ok())
                            .unwrap_or_default();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the report's state could not be read again to merge");
                        break;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "the report's state could not be saved: the next run shows these actions again");
                    out.state_unavailable();
                    return;
                }
            }
        }
        tracing::warn!(
            "the report's state kept changing under this run; the next run shows what this one could not record"
        );
    }

    /// Every region at once; each region's actions, or why it could not be read.
    async fn fetch(&self) -> (Vec<Pending>, Vec<RegionFailure>) {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (region, client)) in self.regions.iter().enumerate() {
            let (region, client, queries) = (region.clone(), client.clone(), self.queries.clone());
            tasks.spawn(async move {
                let mut result = rds::pending(&client, &region, &queries).await;
                if let Ok(list) = &mut result {
                    attach_windows(&client, list).await;
                }
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

/// Each action's maintenance window: its resource's, read once per resource.
async fn attach_windows(client: &aws_sdk_rds::Client, list: &mut [Pending]) {
    let mut arns: Vec<&str> = list.iter().map(|p| p.arn.as_str()).collect();
    arns.sort_unstable();
    arns.dedup();
    if arns.is_empty() {
        return;
    }
    let windows = rds::windows(client, &arns).await;
    for p in list.iter_mut() {
        p.window = match windows.get(&p.arn) {
            Some(Ok(spec)) => match MaintenanceWindow::parse(spec) {
                Ok(w) => Window::Known(w),
                Err(why) => Window::Unknown(why),
            },
            Some(Err(why)) => Window::Unknown(why.clone()),
            None => Window::NotAsked,
        };
    }
}
