//! Threads: an alert with a thread key posts its first message as the thread's parent, or as
//! a reply to the thread open for its key, and the parent shows how many replies followed.
//!
//! - **Who posts the parent.** [`Store::claim_thread`] lets one alert claim the thread; the
//!   others wait for its `ts` — but only as long as the parent's poster may still take from
//!   when it began (the Slack budget and a margin). A claim older than that belongs to a
//!   poster that crashed or gave up: the next alert takes the thread over, so later alerts
//!   never each wait the full budget.
//! - **The count.** A reply is counted by its message key in a set, so counting twice (a
//!   retry, a reply found after a lost answer) counts once, and the count never ends below
//!   the replies posted. One invocation at a time edits the parent ([`Store::hold_edit`]),
//!   and lets go only if the count it showed is still the count stored; otherwise it edits
//!   again. So the last edit shows the final count, whatever order edits arrive in.

use std::time::{Duration, Instant};

use opswatch_slack::{Message, Posted, SlackError, Target};

use crate::store::{Store, ThreadClaim};
use crate::{Delivery, Latest, Outcome, Part, epoch, owner_token, thread_note};

/// How long one invocation may hold the parent's edit (Slack's `chat.update`, with retries,
/// fits well inside).
const EDIT_HOLD: Duration = Duration::from_secs(60);
/// Edits one holder makes at most before it leaves the rest to the next reply.
const EDIT_ROUNDS: usize = 5;

impl Delivery {
    /// Post the first message of a threaded alert: as the thread's parent, or as a reply
    /// (then count it and edit the parent). Returns the message and the thread its later
    /// parts go to.
    pub(crate) async fn post_in_thread(
        &self,
        pk: &str,
        window: Duration,
        part: &Part<'_>,
        message: &Message,
        latest: Option<&Latest>,
        outcome: &mut Outcome,
    ) -> Result<(Posted, Option<String>), SlackError> {
        let version = latest.map(|l| l.version);
        let Some(store) = self.store.as_ref().filter(|_| outcome.store_down.is_none()) else {
            return self
                .alone(part, message, "the dedupe table cannot be reached")
                .await;
        };
        // The message's own claim token: after a lost answer, the pipeline that finds the
        // parent in Slack opens the thread it still holds ([`Delivery::found_parent`]).
        let owner = part.owner.clone().unwrap_or_else(owner_token);
        let content = serde_json::to_string(message).unwrap_or_default();
        let mut stale = 0;
        let mut extended = Instant::now();
        let mut waited = false;
        loop {
            // The claim is judged at this second, however long its retries take.
            let at = epoch();
            let claim = store
                .claim_thread(
                    pk,
                    &owner,
                    at,
                    window,
                    self.parent_takes,
                    (&part.key, &content),
                )
                .await;
            match claim {
                Err(e) => {
                    // The message's own claim holds: exactly once stands, the thread does not.
                    outcome.dedupe_unavailable += 1;
                    tracing::warn!(error = %e, "the thread cannot be read from the dedupe table");
                    return self
                        .alone(part, message, "the dedupe table cannot be reached")
                        .await;
                }
                Ok(ThreadClaim::TakenOver {
                    since,
                    started,
                    parent_key: Some(key),
                    message: Some(parent),
                }) => {
                    // Its poster crashed or ran out of time: if its parent is in the
                    // channel, the thread goes on under it; otherwise this alert starts it.
                    match self.find_parent(part, &key, since, outcome).await {
                        Ok(Some(Posted {
                            ts: Some(ts),
                            channel: Some(channel),
                            ..
                        })) => match store
                            .open_thread(pk, &owner, &ts, &channel, &parent, None)
                            .await
                        {
                            Ok(()) => continue,
                            Err(e) => {
                                tracing::warn!(error = %e, "could not record a thread's parent found after its poster crashed");
                                return self
                                    .alone(part, message, "the dedupe table cannot be reached")
                                    .await;
                            }
                        },
                        Ok(_) => {}
                        // Slack could not be asked: the thread goes back as it was, and the
                        // unit fails; its retry (or the next alert) looks again.
                        Err(e) => {
                            if let Err(re) = store
                                .give_back_thread(pk, &owner, since, started, (&key, &parent))
                                .await
                            {
                                tracing::warn!(error = %re, "could not give back a thread taken over; it is taken over again once its time is up");
                            }
                            return Err(e);
                        }
                    }
                    return self
                        .post_parent(store, pk, &owner, part, message, &content, version)
                        .await;
                }
                // Taken over from a poster that left no parent to look for.
                Ok(ThreadClaim::TakenOver { .. }) => {
                    return self
                        .post_parent(store, pk, &owner, part, message, &content, version)
                        .await;
                }
                Ok(ThreadClaim::Parent) => {
                    return self
                        .post_parent(store, pk, &owner, part, message, &content, version)
                        .await;
                }
                Ok(ThreadClaim::Open { ts, channel }) => {
                    match self
                        .slack
                        .post_marked(part.target, message, Some(&ts), Some(&part.key))
                        .await
                    {
                        Ok(mut p) => {
                            outcome.replies += 1;
                            p.thread_ts = Some(ts.clone());
                            self.count_and_edit(pk, &ts, &channel, part.target, &part.key, latest)
                                .await;
                            return Ok((p, Some(ts)));
                        }
                        // The parent was deleted from Slack: start a new thread.
                        Err(e) if e.code() == Some("invalid_thread_ts") && stale < 2 => {
                            stale += 1;
                            tracing::warn!(thread_ts = %ts, "the thread's parent is gone from Slack; starting a new thread");
                            if let Err(e) = store.forget_thread(pk, &ts).await {
                                outcome.dedupe_unavailable += 1;
                                tracing::warn!(error = %e, "could not forget a thread whose parent is gone");
                                return self
                                    .alone(part, message, "the thread's parent is gone")
                                    .await;
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(ThreadClaim::Pending { claimed_at }) => {
                    if !waited {
                        waited = true;
                        outcome.parent_waits += 1;
                    }
                    // The poster began at `claimed_at`; once its time is up, the next claim
                    // takes the thread over. Until then, wait for the parent's `ts`. Alone
                    // only if a claim made well after that time still found it pending
                    // (clocks apart): judged by the claim's own second, since a throttled
                    // claim may return long after it was judged.
                    let up = claimed_at + self.parent_takes.as_secs() as i64;
                    if at > up + 2 {
                        return self
                            .alone(
                                part,
                                message,
                                "another invocation's parent did not appear in time",
                            )
                            .await;
                    }
                    self.keep_claim(store, part, outcome, &mut extended).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Post the thread's parent and open the thread under it. A post that failed for
    /// certain lets the thread go; one whose outcome is unknown keeps it, so that whoever
    /// finds the parent (this alert's retry, or the alert that takes the thread over) opens
    /// the thread under it rather than starting a second one.
    #[allow(clippy::too_many_arguments)]
    async fn post_parent(
        &self,
        store: &Store,
        pk: &str,
        owner: &str,
        part: &Part<'_>,
        message: &Message,
        content: &str,
        version: Option<i64>,
    ) -> Result<(Posted, Option<String>), SlackError> {
        match self
            .slack
            .post_marked(part.target, message, None, Some(&part.key))
            .await
        {
            Ok(p) => {
                if let (Some(ts), Some(channel)) = (&p.ts, &p.channel)
                    && let Err(e) = store
                        .open_thread(pk, owner, ts, channel, content, version)
                        .await
                {
                    tracing::warn!(error = %e, "the thread's parent was posted but not recorded: the next alert looks for it when it takes the thread over");
                }
                let ts = p.ts.clone();
                Ok((p, ts))
            }
            Err(e) => {
                if !e.outcome_unknown()
                    && let Err(re) = store.release_thread(pk, owner).await
                {
                    tracing::warn!(error = %re, "could not release the thread's claim; it is taken over once its poster's time is up");
                }
                Err(e)
            }
        }
    }

    /// An alert's first message, posted as a thread's parent after an unknown outcome, was
    /// found in Slack: open the thread under it, if this alert still holds the thread.
    pub(crate) async fn found_parent(
        &self,
        pk: &str,
        part: &Part<'_>,
        p: &Posted,
        message: &Message,
        latest: Option<&Latest>,
    ) {
        let (Some(store), Some(owner), Some(ts), Some(channel)) =
            (&self.store, &part.owner, &p.ts, &p.channel)
        else {
            return;
        };
        let content = serde_json::to_string(message).unwrap_or_default();
        if let Err(e) = store
            .open_thread(pk, owner, ts, channel, &content, latest.map(|l| l.version))
            .await
        {
            tracing::warn!(error = %e, "could not record a thread's parent found after a lost answer");
        }
    }

    /// Look for a thread's parent posted by a poster that crashed (its message key).
    /// `Ok(None)`: not there, or it cannot be looked for (no scope to read the channel, which
    /// was said at the first look); `Err`: Slack could not be asked now.
    async fn find_parent(
        &self,
        part: &Part<'_>,
        key: &str,
        since: i64,
        outcome: &mut Outcome,
    ) -> Result<Option<Posted>, SlackError> {
        let Target::Channel { channel, setting } = part.target else {
            return Ok(None);
        };
        let oldest = since - crate::reconcile::LOOK_MARGIN.as_secs() as i64;
        let found = match self.slack.resolve_channel(channel, setting).await {
            Ok(Some(id)) => {
                outcome.looked += 1;
                self.slack
                    .find_marked(&id, None, key, oldest, setting)
                    .await
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match found {
            Err(e) if e.is_configuration() => {
                tracing::warn!(error = %e, "cannot look for a crashed poster's thread parent: this alert starts the thread");
                Ok(None)
            }
            other => other,
        }
    }

    /// While an alert waits for a parent, its message's claim must not run out: without a
    /// known deadline (which already covers the whole invocation) it is extended.
    async fn keep_claim(
        &self,
        store: &Store,
        part: &Part<'_>,
        outcome: &Outcome,
        extended: &mut Instant,
    ) {
        if outcome.deadline.is_some() || extended.elapsed() < Duration::from_secs(5) {
            return;
        }
        *extended = Instant::now();
        if let Some(owner) = &part.owner {
            let until = store.claim_until(epoch(), None, crate::CLAIM_MARGIN);
            match store.extend(&part.key, owner, until).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(key = %part.key, "a message's claim was taken over while it waited for its thread")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not extend a message's claim while it waited for its thread")
                }
            }
        }
    }

    /// Post a threaded alert's first message on its own, outside any thread.
    async fn alone(
        &self,
        part: &Part<'_>,
        message: &Message,
        why: &'static str,
    ) -> Result<(Posted, Option<String>), SlackError> {
        tracing::warn!(reason = why, "posting outside the thread");
        self.slack
            .post_marked(part.target, message, None, Some(&part.key))
            .await
            .map(|p| (p, None))
    }

    /// Count a reply (once, by its key) and see that the parent shows the count (its
    /// content kept, or replaced by `latest` when that is the newest version the thread has
    /// seen). A failure here costs the count only: the reply itself was posted.
    pub(crate) async fn count_and_edit(
        &self,
        pk: &str,
        ts: &str,
        channel: &str,
        target: &Target,
        reply: &str,
        latest: Option<&Latest>,
    ) {
        let Some(store) = &self.store else { return };
        let latest = latest.map(|l| (l.content.as_str(), l.version));
        match store.count_reply(pk, ts, reply, latest).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not count a thread's reply");
                return;
            }
        }
        let owner = owner_token();
        let now = epoch();
        let mut counted = match store
            .hold_edit(pk, ts, &owner, now, now + EDIT_HOLD.as_secs() as i64)
            .await
        {
            Ok(Some(c)) => c,
            // Another invocation edits, and edits again until it shows the stored count.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not take the parent's edit");
                return;
            }
        };
        let setting = match target {
            Target::Channel { setting, .. } => setting.as_str(),
            _ => "SLACK_CHANNEL",
        };
        let mut failed = 0;
        for _ in 0..EDIT_ROUNDS {
            let Some(parent) = counted
                .parent
                .as_deref()
                .and_then(|p| serde_json::from_str::<Message>(p).ok())
            else {
                return;
            };
            // An acknowledged parent stays acknowledged. slack-actions records the
            // acknowledgement before it edits, so a look after this edit sees one that
            // raced it, and edits once more.
            let noted = |ack: Option<(String, i64)>| {
                let noted = parent.with_note(&thread_note(counted.replies));
                match ack {
                    Some((by, at)) => noted.acknowledged(&crate::ack_note(&by, at)),
                    None => noted,
                }
            };
            let buttons = parent.has_actions();
            let ack = if buttons {
                store.acked(channel, ts).await.ok().flatten()
            } else {
                None
            };
            let may_race = buttons && ack.is_none();
            let mut result = self.slack.update(channel, ts, &noted(ack), setting).await;
            if result.is_ok()
                && may_race
                && let Ok(Some(ack)) = store.acked(channel, ts).await
            {
                result = self
                    .slack
                    .update(channel, ts, &noted(Some(ack)), setting)
                    .await;
            }
            if let Err(e) = result {
                failed += 1;
                tracing::warn!(error = %e, thread_ts = ts, "could not edit the thread's parent with its count");
                // Once more while holding the edit: letting go now would leave the count
                // behind if no reply follows. Past that, the next reply edits it.
                if failed < 2 {
                    continue;
                }
            }
            match store.release_edit(pk, &owner, counted.replies).await {
                Ok(None) => return,
                Ok(Some(newer)) => counted = newer,
                Err(e) => {
                    tracing::warn!(error = %e, "could not let go of the parent's edit; it is free again once its hold is over");
                    return;
                }
            }
        }
    }
}
