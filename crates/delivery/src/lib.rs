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
//! - [`routes`]: `SLACK_ROUTES`, first match wins, validated at cold start (pure);
//! - [`Groups`]: many events of one source split by route and thread key into alerts;
//! - [`keys`]: exactly-once keys from the source, never the clock (pure);
//! - [`store`]: the DynamoDB table of claims and threads (conditional writes only);
//! - [`outcome`]: counts, failures, the response, the summary line and metrics;
//! - [`config`]: the settings, from the environment and Secrets Manager, once per cold start.

pub mod config;
mod groups;
pub mod keys;
pub mod outcome;
pub mod routes;
mod severity;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opswatch_slack::{Alert, Message, Mrkdwn, Posted, Slack, SlackError, Target};

pub use config::ConfigError;
pub use groups::Groups;
pub use outcome::{BAD_INPUT, CONFIGURATION_ERROR, Outcome, SLACK_DELIVERY_FAILED};
pub use routes::{Attributes, RouteId, Routes};
pub use severity::{Severity, is_world, world_open_ingress};
use store::{Claim, Store, ThreadClaim};
pub use store::{Saved, StoreError};

/// What a handler hands to the pipeline: one alert and what the pipeline needs to know
/// about it.
#[derive(Clone, Debug)]
pub struct Notice {
    pub alert: Alert,
    pub severity: Severity,
    /// The AWS account the alert is about, for routes.
    pub account: Option<String>,
    /// The rule that raised it (`root-activity`, `compliance-change`, …), for routes.
    pub rule: Option<String>,
    /// Alerts that share a thread key within `THREAD_WINDOW` go to one thread (Web API mode
    /// with `DEDUPE_TABLE`).
    pub thread: Option<String>,
    /// Where the alert comes from: the same event gives the same source on every delivery
    /// (`sns/<MessageId>`, `s3/<bucket>/<key>@<etag>/<group>`, `window/<from>-<to>`); the
    /// message keys derive from it. Never the clock or the request id.
    pub source: String,
    /// The route, when the handler already split its events by route.
    pub route: Option<RouteId>,
}

impl Notice {
    pub fn new(alert: Alert, severity: Severity, source: impl Into<String>) -> Self {
        Self {
            alert,
            severity,
            account: None,
            rule: None,
            thread: None,
            source: source.into(),
            route: None,
        }
    }

    pub fn account(mut self, account: impl Into<String>) -> Self {
        let a: String = account.into();
        self.account = (!a.is_empty()).then_some(a);
        self
    }

    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub fn thread(mut self, key: impl Into<String>) -> Self {
        self.thread = Some(key.into());
        self
    }

    pub fn route(mut self, route: RouteId) -> Self {
        self.route = Some(route);
        self
    }
}

/// Why an alert was not (fully) delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A setting is wrong (Slack said so, or we knew): the invocation stops, nothing is
    /// retried.
    #[error("{0}")]
    Configuration(SlackError),
    /// Slack could not be reached in time, or the message is being posted by another
    /// invocation: the event source's retry will post what is missing.
    #[error("{0}")]
    Failed(String),
}

impl DeliveryError {
    pub fn error_type(&self) -> &'static str {
        match self {
            DeliveryError::Configuration(_) => CONFIGURATION_ERROR,
            DeliveryError::Failed(_) => SLACK_DELIVERY_FAILED,
        }
    }
}

impl Outcome {
    /// Record a delivery failure of unit `index`: a configuration error stops the
    /// invocation; anything else fails this unit only.
    pub fn delivery_failed(&mut self, index: usize, id: Option<&str>, e: &DeliveryError) {
        match e {
            DeliveryError::Configuration(_) => self.stop(CONFIGURATION_ERROR, e.to_string()),
            DeliveryError::Failed(_) => {
                self.unit_failed(index, id, SLACK_DELIVERY_FAILED, e.to_string())
            }
        }
    }
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
    /// How long an alert waits for another invocation: its parent's `ts`, or its own
    /// message's claim.
    wait: Duration,
}

/// A message's claim, from the pipeline's side.
enum Taken {
    /// Ours to post (`None`: no table, or it could not be reached).
    Ours(Option<String>),
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

impl Delivery {
    /// A pipeline from parts (the tests' way; functions use [`Delivery::from_env`]).
    pub fn new(
        function: &'static str,
        slack: Slack,
        routes: Routes,
        store: Option<Store>,
        thread_window: Option<Duration>,
    ) -> Self {
        let wait =
            (slack.retry_policy().budget + Duration::from_secs(2)).min(Duration::from_secs(30));
        Self {
            function,
            slack,
            routes,
            store,
            thread_window,
            wait,
        }
    }

    /// The route an alert with these attributes takes (for handlers that split their
    /// events by route before building alerts).
    pub fn route_of(
        &self,
        severity: Severity,
        account: Option<&str>,
        rule: Option<&str>,
    ) -> RouteId {
        self.routes.route(&Attributes {
            function: self.function,
            severity,
            account,
            rule,
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
            (Some(key), Some(window)) if self.threads(id) => {
                Some((keys::thread(self.function, &route.label, key), window))
            }
            _ => None,
        };
        let messages = decorate(notice.alert, notice.severity, self.function).into_messages();
        let (mut posted, mut skipped) = (0, 0);
        // The thread the alert's messages go to, once known.
        let mut thread_ts: Option<String> = None;
        for (part, message) in messages.iter().enumerate() {
            let key = keys::message(self.function, &notice.source, &route.label, part);
            let owner = match self.take(&key, &notice.source, outcome).await? {
                Taken::Done { thread_ts: t } => {
                    outcome.deduplicated += 1;
                    skipped += 1;
                    if part == 0 {
                        thread_ts = t;
                    }
                    continue;
                }
                Taken::Ours(owner) => owner,
            };
            let result = match (&thread, part) {
                (Some((pk, window)), 0) => {
                    self.post_in_thread(pk, *window, target, message, outcome)
                        .await
                }
                _ => self
                    .slack
                    .post(target, message, thread_ts.as_deref())
                    .await
                    .map(|p| (p, None)),
            };
            match result {
                Ok((p, thread_of_first)) => {
                    outcome.messages_posted += 1;
                    outcome.slack_retries += p.attempts.saturating_sub(1);
                    posted += 1;
                    if part == 0 {
                        thread_ts = thread_of_first;
                    }
                    if let Some(owner) = owner {
                        self.mark_done(&key, &owner, &p, thread_ts.as_deref(), outcome)
                            .await;
                    }
                }
                Err(e) => {
                    if let (Some(owner), Some(store)) = (owner, &self.store)
                        && let Err(re) = store.release(&key, &owner).await
                    {
                        tracing::warn!(error = %re, "could not release the claim of a failed post; it expires by itself");
                    }
                    tracing::error!(severity = %notice.severity, route = %route.name, source = %notice.source, part, parts = messages.len(), error = %e, "alert not delivered");
                    if e.is_configuration() {
                        return Err(DeliveryError::Configuration(e));
                    }
                    outcome.down.push((route.label.clone(), e.to_string()));
                    return Err(DeliveryError::Failed(format!("Slack: {e}")));
                }
            }
        }
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
        Ok(())
    }

    fn store_unavailable(&self, outcome: &mut Outcome, e: &StoreError) {
        if outcome.store_down.is_none() {
            tracing::warn!(error = %e, "the dedupe table cannot be reached: posting anyway, without exactly-once or threads (better twice than never)");
            outcome.store_down = Some(e.to_string());
        }
    }

    /// Claim a message (or learn it was posted).
    async fn take(
        &self,
        key: &str,
        source: &str,
        outcome: &mut Outcome,
    ) -> Result<Taken, DeliveryError> {
        let Some(store) = &self.store else {
            return Ok(Taken::Ours(None));
        };
        if outcome.store_down.is_some() {
            outcome.dedupe_unavailable += 1;
            return Ok(Taken::Ours(None));
        }
        let owner = owner_token();
        let started = Instant::now();
        loop {
            match store.claim(key, &owner, epoch(), source).await {
                Ok(Claim::Won) => return Ok(Taken::Ours(Some(owner))),
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
                Err(e) => {
                    self.store_unavailable(outcome, &e);
                    outcome.dedupe_unavailable += 1;
                    return Ok(Taken::Ours(None));
                }
            }
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
                "a message's claim expired before it was posted; another attempt may post it too"
            ),
            Err(e) => {
                tracing::warn!(error = %e, key, "posted, but could not record it: a retry of this event may post it again");
                outcome.dedupe_unavailable += 1;
            }
        }
    }

    /// Post the first message of a threaded alert: as the thread's parent, or as a reply
    /// (then count it and edit the parent). Returns the thread the message is in.
    async fn post_in_thread(
        &self,
        pk: &str,
        window: Duration,
        target: &Target,
        message: &Message,
        outcome: &mut Outcome,
    ) -> Result<(Posted, Option<String>), SlackError> {
        let Some(store) = self.store.as_ref().filter(|_| outcome.store_down.is_none()) else {
            return self
                .alone(target, message, "the dedupe table cannot be reached")
                .await;
        };
        let owner = owner_token();
        let started = Instant::now();
        let mut stale = 0;
        loop {
            match store.claim_thread(pk, &owner, epoch(), window).await {
                Err(e) => {
                    self.store_unavailable(outcome, &e);
                    return self
                        .alone(target, message, "the dedupe table cannot be reached")
                        .await;
                }
                Ok(ThreadClaim::Parent) => {
                    return match self.slack.post(target, message, None).await {
                        Ok(p) => {
                            if let (Some(ts), Some(channel)) = (&p.ts, &p.channel) {
                                let parent = serde_json::to_string(message).unwrap_or_default();
                                if let Err(e) =
                                    store.open_thread(pk, &owner, ts, channel, &parent).await
                                {
                                    tracing::warn!(error = %e, "the thread's parent was posted but not recorded: the next alert starts another thread");
                                }
                            }
                            let ts = p.ts.clone();
                            Ok((p, ts))
                        }
                        Err(e) => {
                            if let Err(re) = store.release_thread(pk, &owner).await {
                                tracing::warn!(error = %re, "could not release the thread's claim; it expires by itself");
                            }
                            Err(e)
                        }
                    };
                }
                Ok(ThreadClaim::Open { ts, channel }) => {
                    match self.slack.post(target, message, Some(&ts)).await {
                        Ok(p) => {
                            outcome.replies += 1;
                            self.count_and_edit(pk, &ts, &channel, target).await;
                            return Ok((p, Some(ts)));
                        }
                        // The parent was deleted from Slack: start a new thread.
                        Err(e) if e.code() == Some("invalid_thread_ts") && stale < 2 => {
                            stale += 1;
                            tracing::warn!(thread_ts = %ts, "the thread's parent is gone from Slack; starting a new thread");
                            if let Err(e) = store.forget_thread(pk, &ts).await {
                                self.store_unavailable(outcome, &e);
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(ThreadClaim::Pending) => {
                    if started.elapsed() >= self.wait {
                        return self
                            .alone(
                                target,
                                message,
                                "another invocation's parent did not appear in time",
                            )
                            .await;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Post a threaded alert's first message on its own, outside any thread.
    async fn alone(
        &self,
        target: &Target,
        message: &Message,
        why: &'static str,
    ) -> Result<(Posted, Option<String>), SlackError> {
        tracing::warn!(reason = why, "posting outside the thread");
        self.slack
            .post(target, message, None)
            .await
            .map(|p| (p, None))
    }

    /// Count a reply and edit the parent to say how many followed (its content kept). A
    /// failure here costs the count only: the reply itself was posted.
    async fn count_and_edit(&self, pk: &str, ts: &str, channel: &str, target: &Target) {
        let Some(store) = &self.store else { return };
        let counted = match store.count_reply(pk, ts).await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not count a thread's reply");
                return;
            }
        };
        let Some(parent) = counted
            .parent
            .as_deref()
            .and_then(|p| serde_json::from_str::<Message>(p).ok())
        else {
            return;
        };
        let setting = match target {
            Target::Channel { setting, .. } => setting.as_str(),
            _ => "SLACK_CHANNEL",
        };
        let edited = parent.with_note(&thread_note(counted.replies));
        if let Err(e) = self.slack.update(channel, ts, &edited, setting).await {
            tracing::warn!(error = %e, thread_ts = ts, "could not edit the thread's parent with its count");
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
