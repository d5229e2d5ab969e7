//! The delivery pipeline every posting function shares: alert → route → claim (exactly
//! once) → post (webhook or Web API, threads) → summary line and metrics.
//!
//! A handler says *what* to say and *how serious* it is — a [`Notice`]: the alert, its
//! [`Severity`], the attributes routes match (account, rule; the function is known here), a
//! thread key, and the source identity its exactly-once keys derive from. It never talks to
//! Slack. [`Delivery::deliver`] does the rest and counts everything in the invocation's
//! [`Outcome`], which ends the invocation with its response (or SQS partial batch response),
//! its summary line and its EMF metrics.
//!
//! - `notice`: what a handler hands over ([`Notice`]) and why delivery failed
//!   ([`DeliveryError`]);
//! - [`routes`]: `SLACK_ROUTES`, first match wins, validated at cold start (pure);
//! - [`Groups`]: many events of one source split by route and thread key into alerts;
//! - [`keys`]: exactly-once keys from the source, never the clock (pure);
//! - [`store`]: the DynamoDB table of claims and threads (conditional writes only);
//! - `thread`: an alert's first message as a thread's parent or reply, the parent's count;
//! - `reconcile`: after an unknown outcome, look for the message in Slack before posting
//!   it again;
//! - [`outcome`]: counts, failures, the response, the summary line and metrics;
//! - [`config`]: the settings, from the environment and Secrets Manager, once per cold start.

pub mod config;
mod groups;
pub mod keys;
mod notice;
pub mod org;
pub mod outcome;
mod reconcile;
pub mod routes;
mod severity;
pub mod store;
mod thread;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opswatch_slack::actions::{ActionKey, Scope};
use opswatch_slack::{Alert, Mrkdwn, Posted, Slack, SlackError, Target};
use opswatch_support::AccountNames;

pub use config::ConfigError;
pub use groups::Groups;
pub use notice::{DeliveryError, Notice};
pub use outcome::{BAD_INPUT, CONFIGURATION_ERROR, Outcome, SLACK_DELIVERY_FAILED};
use reconcile::Looked;
pub use routes::{Attributes, RouteId, Routes, Tags};
pub use severity::{Severity, is_world, world_open_ingress};
use store::{Claim, Store};
pub use store::{Saved, StoreError};

/// What to do when the dedupe table cannot be reached (`DEDUPE_UNAVAILABLE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenStoreDown {
    /// Fail the unit: the event source retries it later (the default; exactly once holds).
    Fail,
    /// Post without claims or threads (better twice than never).
    Post,
}

/// The pipeline: built once per execution environment ([`Delivery::from_env`]).
#[derive(Clone, Debug)]
pub struct Delivery {
    function: &'static str,
    slack: Slack,
    routes: Routes,
    store: Option<Store>,
    /// `THREAD_WINDOW`, when threads are on.
    thread_window: Option<Duration>,
    /// How long an alert waits for another invocation's claim on its own message.
    wait: Duration,
    /// How long a parent's poster may take (the Slack budget and a margin): waiters wait
    /// that long after it began, then take the thread over.
    parent_takes: Duration,
    when_store_down: WhenStoreDown,
    /// `ACTIONS=on`: the key the buttons' values are signed with.
    actions: Option<ActionKey>,
    /// `ACCOUNT_NAMES`: account id → name.
    names: AccountNames,
    /// `ACCOUNT_NAMES=organizations`: the organization, for account tags.
    org: Option<org::Org>,
}

/// A claim outlives its invocation's deadline by this much. Lambda stops an invocation at
/// its deadline, so the margin covers only what may still be under way at that moment: the
/// clocks of two hosts (Amazon Time Sync keeps them within a millisecond) and a request sent
/// just before the end, which Slack may take a moment to show. Whoever takes an expired
/// claim over looks in Slack before posting, so the margin does not carry exactly-once
/// alone; a long one only delays the retry after a crash.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// A message's claim, from the pipeline's side.
enum Taken {
    /// Ours to post (`owner` is `None`: no table, or it could not be reached and
    /// `DEDUPE_UNAVAILABLE=post`). With `look_since`, look for it first.
    Ours {
        owner: Option<String>,
        look_since: Option<i64>,
    },
    /// Already posted, in this thread (if any).
    Done { thread_ts: Option<String> },
}

/// Epoch seconds now: claims expire by the clock (keys never derive from it).
fn epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A token naming one claiming attempt (not a key: it may use the clock).
fn owner_token() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The alert as it is posted: its severity in the header (emoji) and first in the context
/// line, with the function that raised it; the fallback starts with it too.
pub fn decorate(mut alert: Alert, severity: Severity, function: &str) -> Alert {
    alert.header = format!("{} {}", severity.emoji(), alert.header);
    alert.fallback = format!("[{severity}] {}", alert.fallback);
    let mut label = severity.label();
    label.push_trusted(" · ");
    label.push(function);
    alert.context.insert(0, label);
    alert
}

/// The note a thread's parent gets: how many alerts followed it.
pub fn thread_note(replies: u64) -> Mrkdwn {
    let mut m = Mrkdwn::trusted(":thread: ");
    m.push(&match replies {
        1 => "1 more alert in the thread".to_owned(),
        n => format!("{n} more alerts in the thread"),
    });
    m
}

/// The context line an acknowledged message gets.
pub fn ack_note(by: &str, at: i64) -> Mrkdwn {
    let mut m = Mrkdwn::trusted(":white_check_mark: Acknowledged by ");
    m.push_user(by);
    m.push_trusted(" at ");
    m.push(&opswatch_support::rfc3339(at));
    m
}

/// The newest state of a thread's subject: the parent's content (a [`Message`] as JSON) and
/// its version ([`Notice::parent_version`]).
///
/// [`Message`]: opswatch_slack::Message
pub(crate) struct Latest {
    content: String,
    version: i64,
}

/// One message of an alert on its way: its key, where it goes, its claim.
struct Part<'a> {
    key: String,
    index: usize,
    target: &'a Target,
    owner: Option<String>,
}

impl Delivery {
    /// A pipeline from parts (the tests' way; functions use [`Delivery::from_env`]).
    pub fn new(
        function: &'static str,
        slack: Slack,
        routes: Routes,
        store: Option<Store>,
        thread_window: Option<Duration>,
    ) -> Self {
        let budget = slack.retry_policy().budget;
        let wait = (budget + Duration::from_secs(2)).min(Duration::from_secs(30));
        Self {
            function,
            slack,
            routes,
            store,
            thread_window,
            wait,
            parent_takes: budget + Duration::from_secs(5),
            when_store_down: WhenStoreDown::Fail,
            actions: None,
            names: AccountNames::default(),
            org: None,
        }
    }

    /// The accounts' names (`ACCOUNT_NAMES`), and the organization when they come from it.
    pub fn accounts(mut self, names: AccountNames, org: Option<org::Org>) -> Self {
        self.names = names;
        self.org = org;
        self
    }

    /// Account id → name (`ACCOUNT_NAMES`, or Organizations' names).
    pub fn names(&self) -> &AccountNames {
        &self.names
    }

    /// The organization (`ACCOUNT_NAMES=organizations`).
    pub fn organization(&self) -> Option<&org::Org> {
        self.org.as_ref()
    }

    /// Whether tag routes match accounts' tags: a route matches on tags and names come from
    /// Organizations.
    pub fn uses_account_tags(&self) -> bool {
        self.org.is_some() && self.routes.use_tags()
    }

    /// The account's tags in Organizations, for tag routes: `None` when no route matches on
    /// tags, names do not come from Organizations, or they cannot be read (logged; the alert
    /// then takes the route it has without them: better the default channel than none).
    pub async fn account_tags(&self, account: &str) -> Option<Arc<Tags>> {
        let org = self.org.as_ref().filter(|_| self.routes.use_tags())?;
        match org.tags(account).await {
            Ok(tags) => Some(tags),
            Err(why) => {
                tracing::warn!(account = %account, error = %why, "the account's tags cannot be read: tag routes do not match its alerts");
                None
            }
        }
    }

    /// `ACTIONS=on`: every alert posted to a channel carries `Acknowledge` and `Mute…`.
    pub fn actions(mut self, key: Option<ActionKey>) -> Self {
        self.actions = key;
        self
    }

    /// What to do when the table cannot be reached (`DEDUPE_UNAVAILABLE`).
    pub fn when_store_down(mut self, w: WhenStoreDown) -> Self {
        self.when_store_down = w;
        self
    }

    /// The route an alert with these attributes takes (for handlers that split their
    /// events by route before building alerts).
    pub fn route_of(
        &self,
        severity: Severity,
        account: Option<&str>,
        rule: Option<&str>,
        tags: Option<&Tags>,
    ) -> RouteId {
        self.routes.route(&Attributes {
            function: self.function,
            severity,
            account,
            rule,
            tags,
        })
    }

    /// Whether alerts on this route are threaded (Web API channel, `DEDUPE_TABLE`, threads
    /// on): handlers that gather events group them per thread key only then.
    pub fn threads(&self, route: RouteId) -> bool {
        self.thread_window.is_some() && self.store.is_some() && self.routes.threads(route)
    }

    /// Whether there is a dedupe table to keep state in (`DEDUPE_TABLE`).
    pub fn keeps_state(&self) -> bool {
        self.store.is_some()
    }

    /// This function's state `name` (see [`store::Saved`]); `None` when there is none yet.
    /// Errors when the table cannot be read, or there is no table.
    pub async fn load_state(&self, name: &str) -> Result<Option<Saved>, StoreError> {
        let store = self.state_store()?;
        store
            .load_state(&keys::state(self.function, name), epoch())
            .await
    }

    /// Write this function's state `name` if it is still at the version read (`None`: none
    /// was read); kept for `keep`. False when another run wrote in between.
    pub async fn save_state(
        &self,
        name: &str,
        body: &str,
        read: Option<i64>,
        keep: Duration,
    ) -> Result<bool, StoreError> {
        let store = self.state_store()?;
        store
            .save_state(&keys::state(self.function, name), body, read, epoch(), keep)
            .await
    }

    fn state_store(&self) -> Result<&Store, StoreError> {
        self.store.as_ref().ok_or_else(|| StoreError {
            table: "(none)".into(),
            why: format!("{} is not set", config::env::DEDUPE_TABLE),
        })
    }

    /// Deliver one alert: route it, lay it out, and post each of its messages that was not
    /// posted before — exactly once when `DEDUPE_TABLE` is set, in its thread when it has
    /// one. Counts go to `outcome`.
    pub async fn deliver(
        &self,
        notice: Notice,
        outcome: &mut Outcome,
    ) -> Result<(), DeliveryError> {
        outcome.alerts += 1;
        let id = notice.route.unwrap_or_else(|| {
            self.route_of(
                notice.severity,
                notice.account.as_deref(),
                notice.rule.as_deref(),
                notice.tags.as_ref(),
            )
        });
        let route = self.routes.get(id);
        let Some(target) = &route.target else {
            outcome.dropped += 1;
            tracing::info!(severity = %notice.severity, route = %route.name, source = %notice.source, "alert dropped by its route");
            return Ok(());
        };
        if let Some((_, why)) = outcome.down.iter().find(|(label, _)| *label == route.label) {
            return Err(DeliveryError::Failed(format!(
                "not posted: Slack already failed in this invocation ({why})"
            )));
        }
        let thread = match (&notice.thread, self.thread_window) {
            (Some(key), Some(window)) if self.threads(id) => Some((
                keys::thread(self.function, &route.label, key),
                notice.thread_lasts.unwrap_or(window),
            )),
            _ => None,
        };
        // A mute silences warnings and info, never a critical alert.
        let scope = notice
            .subject
            .as_deref()
            .filter(|_| notice.severity != Severity::Critical)
            .map(|subject| Scope::new(self.function, notice.rule.as_deref(), subject));
        if let Some(scope) = &scope
            && let Some(id) = self.muted(scope, outcome).await
        {
            outcome.muted += 1;
            tracing::info!(severity = %notice.severity, route = %route.name, source = %notice.source, mute = %id, subject = %scope.subject, "alert muted");
            return Ok(());
        }
        let mut messages =
            decorate(notice.alert.clone(), notice.severity, self.function).into_messages();
        if let (Some(key), Target::Channel { .. }, Some(first)) =
            (&self.actions, target, messages.first_mut())
        {
            *first = first.with_actions(key.block(scope.as_ref()));
        }
        // What the thread's parent shows when this alert is the newest state of its subject.
        let latest = match (&thread, notice.parent_version, messages.first()) {
            (Some(_), Some(version), Some(first)) => serde_json::to_string(first)
                .ok()
                .map(|content| Latest { content, version }),
            _ => None,
        };
        // Printed to stderr, not posted: counted and logged apart, so nobody mistakes one
        // for the other.
        let dry_run = matches!(target, Target::DryRun);
        let (mut posted, mut skipped) = (0, 0);
        // The thread the alert's messages go to, once known.
        let mut thread_ts: Option<String> = None;
        for (index, message) in messages.iter().enumerate() {
            let key = keys::message(self.function, &notice.source, &route.label, index);
            let (owner, mut look_since) = match self.take(&key, &notice.source, outcome).await? {
                Taken::Done { thread_ts: t } => {
                    outcome.deduplicated += 1;
                    skipped += 1;
                    if index == 0 {
                        thread_ts = t;
                    }
                    continue;
                }
                Taken::Ours { owner, look_since } => (owner, look_since),
            };
            let part = Part {
                key,
                index,
                target,
                owner,
            };
            let thread_pk = thread.as_ref().map(|(pk, _)| pk.as_str());
            // Post, looking first wherever an earlier attempt may have posted it.
            let mut tries = 0;
            let result = loop {
                if let Some(since) = look_since {
                    match self
                        .look(&part, thread_pk, thread_ts.as_deref(), since, outcome)
                        .await
                    {
                        Looked::Found(p) => {
                            // Later parts follow it: into its thread, or the one it starts.
                            let next = match (index, &thread) {
                                (0, Some(_)) => p.thread_ts.clone().or_else(|| p.ts.clone()),
                                _ => thread_ts.clone(),
                            };
                            // A parent found: the thread goes on under it.
                            if let (0, Some((pk, _)), None) = (index, &thread, &p.thread_ts) {
                                self.found_parent(pk, &part, &p, message, latest.as_ref())
                                    .await;
                            }
                            break Ok((p, true, next));
                        }
                        Looked::Absent | Looked::CannotLook => {}
                        Looked::Failed(why) => {
                            self.left_unknown(&part, since).await;
                            break Err(DeliveryError::Failed(why));
                        }
                    }
                }
                tries += 1;
                let attempt = epoch();
                let sent = match (&thread, index) {
                    (Some((pk, window)), 0) => {
                        self.post_in_thread(pk, *window, &part, message, latest.as_ref(), outcome)
                            .await
                    }
                    _ => self
                        .slack
                        .post_marked(target, message, thread_ts.as_deref(), Some(&part.key))
                        .await
                        .map(|p| (p, thread_ts.clone())),
                };
                let e = match sent {
                    Ok((p, next)) => break Ok((p, false, next)),
                    Err(e) => e,
                };
                outcome.slack_retries += e.attempts().saturating_sub(1);
                if e.outcome_unknown() {
                    outcome.unknown_outcomes += 1;
                    let since = look_since.map_or(attempt, |s| s.min(attempt));
                    if tries < 2 && part.owner.is_some() {
                        tracing::warn!(key = %part.key, error = %e, "Slack may have taken the message: looking for it before posting again");
                        look_since = Some(since);
                        continue;
                    }
                    self.left_unknown(&part, since).await;
                } else {
                    self.release(&part).await;
                }
                break Err(self.slack_failed(
                    &notice,
                    &route.name,
                    &route.label,
                    index,
                    messages.len(),
                    e,
                    outcome,
                ));
            };
            let (p, found, next) = result?;
            if found {
                outcome.reconciled += 1;
                skipped += 1;
            } else {
                if dry_run {
                    outcome.messages_printed += 1;
                } else {
                    outcome.messages_posted += 1;
                    outcome.slack_retries += p.attempts.saturating_sub(1);
                }
                posted += 1;
            }
            thread_ts = next;
            if let Some(owner) = &part.owner {
                self.mark_done(&part.key, owner, &p, thread_ts.as_deref(), outcome)
                    .await;
            }
            // A reply found rather than posted is counted too: counting is idempotent.
            if found
                && index == 0
                && let (Some((pk, _)), Some(parent)) = (&thread, &p.thread_ts)
                && let Some(channel) = &p.channel
            {
                self.count_and_edit(pk, parent, channel, target, &part.key, latest.as_ref())
                    .await;
            }
        }
        if dry_run {
            tracing::info!(
                severity = %notice.severity,
                route = %route.name,
                source = %notice.source,
                thread = notice.thread.as_deref().unwrap_or(""),
                parts = messages.len(),
                printed = posted,
                deduplicated = skipped,
                "alert printed (dry run: no Slack destination is set)"
            );
        } else {
            tracing::info!(
                severity = %notice.severity,
                route = %route.name,
                source = %notice.source,
                thread = notice.thread.as_deref().unwrap_or(""),
                parts = messages.len(),
                posted,
                deduplicated = skipped,
                "alert delivered"
            );
        }
        Ok(())
    }

    /// A Slack failure, logged, as the unit's failure (a configuration error stops the
    /// invocation; anything else marks the route down for the rest of it).
    #[allow(clippy::too_many_arguments)]
    fn slack_failed(
        &self,
        notice: &Notice,
        route: &str,
        label: &str,
        part: usize,
        parts: usize,
        e: SlackError,
        outcome: &mut Outcome,
    ) -> DeliveryError {
        tracing::error!(severity = %notice.severity, route = %route, source = %notice.source, part, parts, error = %e, "alert not delivered");
        if e.is_configuration() {
            return DeliveryError::Configuration(e);
        }
        outcome.down.push((label.to_owned(), e.to_string()));
        DeliveryError::Failed(format!("Slack: {e}"))
    }

    /// The table cannot be reached: per `DEDUPE_UNAVAILABLE`, fail the unit (`Err`) or go
    /// on without claims (`Ok`). Counted as `DedupeUnavailable` either way, warned once.
    fn store_unavailable(
        &self,
        outcome: &mut Outcome,
        e: &StoreError,
    ) -> Result<(), DeliveryError> {
        outcome.dedupe_unavailable += 1;
        let first = outcome.store_down.is_none();
        if first {
            outcome.store_down = Some(e.to_string());
        }
        match self.when_store_down {
            WhenStoreDown::Post => {
                if first {
                    tracing::warn!(error = %e, "the dedupe table cannot be reached: posting anyway, without exactly-once or threads (DEDUPE_UNAVAILABLE=post)");
                }
                Ok(())
            }
            WhenStoreDown::Fail => {
                if first {
                    tracing::warn!(error = %e, "the dedupe table cannot be reached: nothing is posted without its claim; the event source retries (DEDUPE_UNAVAILABLE=post posts anyway)");
                }
                Err(DeliveryError::Failed(format!(
                    "not posted: {e} (retried with backoff; the event source retries it; DEDUPE_UNAVAILABLE=post would post without exactly-once)"
                )))
            }
        }
    }

    /// The mute (its id) that silences `scope`'s alerts now, if any: of its rule, or of
    /// every rule. The active mutes are read once per invocation; when they cannot be read,
    /// nothing is muted (an alert too many rather than one lost), with a warning.
    async fn muted(&self, scope: &Scope, outcome: &mut Outcome) -> Option<String> {
        let store = self.store.as_ref()?;
        if outcome.mutes.is_none() {
            let active = if outcome.store_down.is_some() {
                Default::default()
            } else {
                store.active_mutes(epoch()).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not read the mutes: nothing is muted in this invocation");
                    Default::default()
                })
            };
            outcome.mutes = Some(active);
        }
        let active = outcome.mutes.as_ref()?;
        let now = epoch();
        [scope.id(), scope.any_rule().id()]
            .into_iter()
            .find(|id| active.get(id).is_some_and(|until| *until > now))
    }

    /// Until when a claim made now holds: the invocation's deadline plus a margin.
    fn claim_until(&self, store: &Store, outcome: &Outcome) -> i64 {
        store.claim_until(epoch(), outcome.deadline, CLAIM_MARGIN)
    }

    /// Claim a message (or learn it was posted).
    async fn take(
        &self,
        key: &str,
        source: &str,
        outcome: &mut Outcome,
    ) -> Result<Taken, DeliveryError> {
        let unclaimed = Taken::Ours {
            owner: None,
            look_since: None,
        };
        let Some(store) = &self.store else {
            return Ok(unclaimed);
        };
        if let Some(why) = &outcome.store_down {
            let e = StoreError {
                table: String::new(),
                why: why.clone(),
            };
            return self.store_unavailable(outcome, &e).map(|()| unclaimed);
        }
        let owner = owner_token();
        let started = Instant::now();
        loop {
            let until = self.claim_until(store, outcome);
            match store.claim(key, &owner, epoch(), until, source).await {
                Ok(Claim::Won { look_since }) => {
                    return Ok(Taken::Ours {
                        owner: Some(owner),
                        look_since,
                    });
                }
                Ok(Claim::Done { thread_ts, .. }) => return Ok(Taken::Done { thread_ts }),
                Ok(Claim::Busy { expires }) => {
                    if started.elapsed() >= self.wait {
                        return Err(DeliveryError::Failed(format!(
                            "another invocation is posting this alert (its claim holds until {}); a retry will find it posted, or free",
                            opswatch_support::rfc3339(expires)
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return self.store_unavailable(outcome, &e).map(|()| unclaimed),
            }
        }
    }

    /// The post failed for certain: give the claim back, so a retry may post at once.
    async fn release(&self, part: &Part<'_>) {
        if let (Some(owner), Some(store)) = (&part.owner, &self.store)
            && let Err(e) = store.release(&part.key, owner).await
        {
            tracing::warn!(error = %e, "could not release the claim of a failed post; it expires by itself");
        }
    }

    /// The message may have been posted, and nobody knows: the claim says so (and since
    /// when), so the next attempt looks before it posts.
    async fn left_unknown(&self, part: &Part<'_>, since: i64) {
        if let (Some(owner), Some(store)) = (&part.owner, &self.store)
            && let Err(e) = store.unknown(&part.key, owner, since, epoch()).await
        {
            // The claim stays `claimed` and expires at the deadline: the next attempt
            // takes it over and looks just the same.
            tracing::warn!(error = %e, "could not record an unknown outcome; the claim expires by itself and the next attempt looks first");
        }
    }

    async fn mark_done(
        &self,
        key: &str,
        owner: &str,
        p: &Posted,
        thread_ts: Option<&str>,
        outcome: &mut Outcome,
    ) {
        let Some(store) = &self.store else { return };
        match store
            .done(
                key,
                owner,
                epoch(),
                p.ts.as_deref(),
                p.channel.as_deref(),
                thread_ts,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                key,
                "a message's claim was taken over before it was recorded; the other attempt looks for it before posting"
            ),
            Err(e) => {
                tracing::warn!(error = %e, key, "posted, but could not record it: the claim expires, and the next attempt looks for the message before posting");
                outcome.dedupe_unavailable += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoration_shows_the_severity_and_keeps_the_content() {
        let alert = Alert::new("Security group changed", "sg-1 changed")
            .field("Account", Mrkdwn::text("111122223333"))
            .context(Mrkdwn::trusted("via AWS Config"));
        let messages =
            decorate(alert, Severity::Critical, "config-change-notifier").into_messages();
        insta::assert_json_snapshot!(messages);
        let noted = messages[0].with_note(&thread_note(3));
        assert_eq!(
            noted.blocks[..noted.blocks.len() - 1],
            messages[0].blocks[..messages[0].blocks.len() - 1]
        );
        assert_eq!(noted.limit_violation(), None);
        let text = serde_json::to_string(&noted).unwrap();
        assert!(
            text.contains(":thread: 3 more alerts in the thread"),
            "{text}"
        );
    }
}
