//! One scheduled run: every region asked at once (its pending actions, then the maintenance
//! windows of the resources that have them), the answers sorted by when they apply, and
//! either the whole digest posted or — `RDS_REPORT=changes` — only what changed since the
//! last delivered report, the state moved only after delivery. A region that fails is
//! named, and the run fails only if all of them did.

use std::time::Duration;

use opswatch_delivery::{BAD_INPUT, Delivery, Groups, Notice, Outcome, Severity};
use opswatch_support::{AccountNames, Failure};
use serde::Serialize;
use serde_json::Value;

use crate::model::{self, Arn, Change, Pending, Window};
use crate::org::{Identity, OrgSettings, Which};
use crate::rds::{self, Query};
use crate::render::{Digest, OrgSummary, RegionFailure};
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
    /// Across an organization (`ORG_ACCOUNTS`).
    pub org: Option<OrgReader>,
    pub queries: Vec<Query>,
    pub warn_days: i64,
    pub notify_when_empty: bool,
    pub mode: Mode,
    /// Reminders for actions applying within this many seconds (`REMIND_HOURS`).
    pub remind: i64,
}

/// What reading an organization needs, made once per cold start.
pub struct OrgReader {
    pub settings: OrgSettings,
    pub sts: aws_sdk_sts::Client,
    /// The function's own account and partition.
    pub identity: Identity,
    /// Organizations, for `ORG_ACCOUNTS=all`.
    pub organization: opswatch_delivery::org::Org,
    /// The function's AWS configuration, which the member accounts' clients start from.
    pub base: aws_config::SdkConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedRegion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub error: String,
}

/// What one run read: the actions, what could not be read, and the units (regions, or
/// account/region pairs) that were.
#[derive(Default)]
struct Fetched {
    pending: Vec<Pending>,
    failed: Vec<RegionFailure>,
    read: Vec<String>,
    /// Across an organization: what was asked, skipped and named.
    org: Option<OrgSummary>,
    names: AccountNames,
}

/// One region's answer: its pending actions, or why it could not be read.
type RegionResult = (String, Result<Vec<Pending>, String>);

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
        let fetched = match &self.org {
            None => self.fetch().await,
            Some(org) => self.fetch_org(org, out).await?,
        };
        let Fetched {
            mut pending,
            failed,
            read,
            org,
            names: account_names,
        } = fetched;
        let names: Vec<String> = self.regions.iter().map(|(r, _)| r.clone()).collect();
        if read.is_empty() && !failed.is_empty() {
            let what = if self.org.is_some() {
                "every account failed"
            } else {
                "every region failed"
            };
            let all = failed
                .iter()
                .take(5)
                .map(|f| format!("{}: {}", f.label(&account_names), f.why))
                .collect::<Vec<_>>()
                .join("; ");
            let more = match failed.len() {
                n if n > 5 => format!("; …and {} more", n - 5),
                _ => String::new(),
            };
            return Err(("RdsUnavailable", format!("{what}: {all}{more}")));
        }
        model::sort(&mut pending, now);
        let digest = Digest {
            now,
            warn_days: self.warn_days,
            regions: &names,
            failed: &failed,
            pending: &pending,
            names: &account_names,
            org,
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
                        account: f.account.clone(),
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
            return self.changes(digest, &read, out).await;
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
        groups.by_route(
            &self.delivery,
            digest.severity(p),
            p.account_id(),
            Some(RULE),
            Some(&p.tags),
        )
    }

    /// The changes report: what changed since the last delivered one, by route; each
    /// route's actions recorded as delivered once Slack has them.
    async fn changes(
        &self,
        digest: Digest<'_>,
        read: &[String],
        out: &mut Outcome,
    ) -> Result<(), (&'static str, String)> {
        let now = digest.now;
        // The regions in a stable order: reordering RDS_REGIONS keeps the state.
        let mut regions: Vec<&String> = digest.regions.iter().collect();
        regions.sort();
        regions.dedup();
        let mut scope = format!("changes/{regions:?}/{:?}", self.queries);
        if let Some(org) = &self.org {
            scope.push_str(&format!("/org:{}", org.settings.scope()));
        }
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
        self.save(&scope, state, version, read, &r.keys, &delivered, out)
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

    /// Every region of the function's own account at once.
    async fn fetch(&self) -> Fetched {
        let results = read_regions(&self.regions, &self.queries, None).await;
        let mut f = Fetched {
            names: self.delivery.names().clone(),
            ..Fetched::default()
        };
        f.settle(None, results);
        f
    }

    /// Every account of the organization that `ORG_ACCOUNTS` names, at most
    /// `ORG_CONCURRENCY` at once, each with all its regions at once. An account that cannot
    /// be entered, or a region of it that cannot be read, is named; the others still report.
    async fn fetch_org(
        &self,
        org: &OrgReader,
        out: &mut Outcome,
    ) -> Result<Fetched, (&'static str, String)> {
        let mut names = self.delivery.names().clone();
        let mut skipped = Vec::new();
        let accounts: Vec<String> = match &org.settings.which {
            Which::Listed(ids) => ids.clone(),
            Which::All => {
                let all = org
                    .organization
                    .accounts()
                    .await
                    .map_err(|why| ("OrganizationsUnavailable", why))?;
                names =
                    AccountNames::from_pairs(all.iter().map(|a| (a.id.clone(), a.name.clone())))
                        .or(&names);
                let mut active = Vec::new();
                for a in all {
                    if a.active() {
                        active.push(a.id);
                    } else {
                        tracing::info!(account = %a.id, status = %a.status, "account skipped: not active");
                        skipped.push(a.id);
                    }
                }
                active
            }
        };
        let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(org.settings.concurrency));
        let regions: std::sync::Arc<[String]> =
            self.regions.iter().map(|(r, _)| r.clone()).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, account) in accounts.iter().enumerate() {
            let semaphore = semaphore.clone();
            let account = account.clone();
            let own = (account == org.identity.account).then(|| self.regions.clone());
            let (sts, settings, partition, base) = (
                org.sts.clone(),
                org.settings.clone(),
                org.identity.partition.clone(),
                org.base.clone(),
            );
            let regions = regions.clone();
            let queries = self.queries.clone();
            tasks.spawn(async move {
                let Ok(_permit) = semaphore.acquire_owned().await else {
                    return (i, Err("the run was stopped".to_owned()));
                };
                // The function's own account, with its own credentials.
                let clients = match own {
                    Some(clients) => clients,
                    None => match crate::org::enter(
                        &sts, &settings, &partition, &account, &base, &regions,
                    )
                    .await
                    {
                        Ok(clients) => clients,
                        Err(why) => return (i, Err(why)),
                    },
                };
                let results = read_regions(&clients, &queries, Some(&account)).await;
                (i, Ok(results))
            });
        }
        let done = in_order(tasks, accounts.len(), "an account's task failed").await;
        let mut f = Fetched {
            names,
            ..Fetched::default()
        };
        let mut entered = 0;
        // Accounts whose task did not finish are named last.
        let mut unfinished = Vec::new();
        for (account, result) in accounts.iter().zip(done) {
            let why = match result {
                Some(Ok(results)) => {
                    entered += 1;
                    f.settle(Some(account), results);
                    continue;
                }
                Some(Err(why)) => {
                    tracing::error!(account = %account, error = %why, "the account could not be entered");
                    why
                }
                None => {
                    unfinished.push(account);
                    continue;
                }
            };
            f.failed.push(RegionFailure {
                account: Some(account.clone()),
                region: None,
                why,
            });
        }
        for account in unfinished {
            f.failed.push(RegionFailure {
                account: Some(account.clone()),
                region: None,
                why: "the account's task did not finish".into(),
            });
        }
        out.set("accounts", accounts.len());
        out.set("accountsEntered", entered);
        out.set("accountsSkipped", skipped.clone());
        f.org = Some(OrgSummary {
            asked: accounts.len(),
            skipped: skipped.len(),
        });
        Ok(f)
    }
}

impl Fetched {
    /// One account's region results: actions kept, failures named, read units noted.
    fn settle(&mut self, account: Option<&str>, results: Vec<RegionResult>) {
        for (region, result) in results {
            match result {
                Ok(list) => {
                    self.read.push(match account {
                        Some(a) => format!("{a}/{region}"),
                        None => region,
                    });
                    self.pending.extend(list);
                }
                Err(why) => {
                    tracing::error!(account = account.unwrap_or_default(), region = %region, error = %why, "DescribePendingMaintenanceActions failed");
                    self.failed.push(RegionFailure {
                        account: account.map(str::to_owned),
                        region: Some(region),
                        why,
                    });
                }
            }
        }
    }
}

/// Every region of one account at once (its pending actions, then the windows and tags of
/// the resources that have them), in the order given. Across an organization (`account`),
/// each action is marked with the account it was read from, and one whose ARN names another
/// account is dropped: it would be shown under the wrong name.
async fn read_regions(
    clients: &[(String, aws_sdk_rds::Client)],
    queries: &[Query],
    account: Option<&str>,
) -> Vec<RegionResult> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (region, client)) in clients.iter().enumerate() {
        let (region, client, queries) = (region.clone(), client.clone(), queries.to_vec());
        let account = account.map(str::to_owned);
        tasks.spawn(async move {
            let mut result = rds::pending(&client, &region, &queries).await;
            if let (Ok(list), Some(account)) = (&mut result, &account) {
                let before = list.len();
                list.retain(|p| Arn::parse(&p.arn).is_some_and(|a| a.account == account));
                if list.len() < before {
                    tracing::warn!(account = %account, region = %region, dropped = before - list.len(), "actions whose ARN names another account were dropped");
                }
                for p in list.iter_mut() {
                    p.account = Some(account.clone());
                }
            }
            if let Ok(list) = &mut result {
                attach_windows(&client, list).await;
            }
            (i, result)
        });
    }
    let done = in_order(tasks, clients.len(), "a region's task failed").await;
    // Regions whose task did not finish come last.
    let mut out = Vec::with_capacity(clients.len());
    let mut unfinished = Vec::new();
    for ((region, _), result) in clients.iter().zip(done) {
        match result {
            Some(result) => out.push((region.clone(), result)),
            None => unfinished.push((
                region.clone(),
                Err("the region's task did not finish".into()),
            )),
        }
    }
    out.extend(unfinished);
    out
}

/// The results of `tasks`, each tagged with its index below `n`, in that order; `None` for
/// a task that panicked (logged as `failed`).
async fn in_order<T: 'static>(
    mut tasks: tokio::task::JoinSet<(usize, T)>,
    n: usize,
    failed: &'static str,
) -> Vec<Option<T>> {
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, r)) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(r);
                }
            }
            Err(e) => tracing::error!(error = %e, "{failed}"),
        }
    }
    out
}

/// Each action's maintenance window: its resource's, read once per resource.
async fn attach_windows(client: &aws_sdk_rds::Client, list: &mut [Pending]) {
    let mut arns: Vec<&str> = list.iter().map(|p| p.arn.as_str()).collect();
    arns.sort_unstable();
    arns.dedup();
    if arns.is_empty() {
        return;
    }
    let found = rds::windows(client, &arns).await;
    for p in list.iter_mut() {
        let f = found.get(&p.arn);
        p.window = match f.and_then(|f| f.window.as_ref()) {
            Some(Ok(spec)) => match MaintenanceWindow::parse(spec) {
                Ok(w) => Window::Known(w),
                Err(why) => Window::Unknown(why),
            },
            Some(Err(why)) => Window::Unknown(why.clone()),
            None => Window::NotAsked,
        };
        if let Some(f) = f {
            p.tags = f.tags.clone();
        }
    }
}
