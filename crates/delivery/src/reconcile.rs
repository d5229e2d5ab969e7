//! Lost answers (Web API mode): before a message is posted again after an attempt whose
//! outcome is unknown — Slack may have taken it (a timeout after sending, a reset, a 5xx) —
//! or after taking over the claim of an attempt that crashed, the pipeline looks for it in
//! the channel: among the top-level messages since the attempt began (minus
//! [`LOOK_MARGIN`]), and among the replies of the thread it may be in. Every message
//! opswatch posts carries its key in Slack message metadata, signed with a key derived from
//! the bot token; only a message from the app's own `bot_id` whose signature verifies
//! counts ([`opswatch_slack::Slack::find_marked`]). Found: it is recorded as posted, with its
//! `ts`, and not posted again.
//!
//! Looking needs `channels:history` (and `groups:history` for private channels) and the
//! channel's id: a channel set by name is looked up once per cold start with
//! `conversations.list` (`channels:read`, `groups:read`) unless an answer already named it.
//! Without them, the pipeline says so once and posts again, as webhooks must: a duplicate is
//! possible there, a loss is not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opswatch_slack::{Posted, Target};

use crate::{Delivery, Outcome, Part};

/// How far before an attempt began the look starts (clocks of Lambda and Slack differ).
pub const LOOK_MARGIN: Duration = Duration::from_secs(60);

/// What looking for a message came to.
pub(crate) enum Looked {
    /// It is in the channel: where.
    Found(Posted),
    /// It is not: post it.
    Absent,
    /// It cannot be looked for (a webhook, a missing scope):
    /// post it (a duplicate is possible).
    CannotLook,
    /// Slack could not be asked now: leave the message unknown; the retry looks again.
    Failed(String),
}

static SAID_SCOPE: AtomicBool = AtomicBool::new(false);
static SAID_NAME: AtomicBool = AtomicBool::new(false);

impl Delivery {
    /// Look for `part` in Slack from `since` (epoch seconds) on: at the top level of its
    /// channel, and in the thread it may be in (`thread_ts` for an alert's later parts; the
    /// thread open under `thread_pk` for its first).
    pub(crate) async fn look(
        &self,
        part: &Part<'_>,
        thread_pk: Option<&str>,
        thread_ts: Option<&str>,
        since: i64,
        outcome: &mut Outcome,
    ) -> Looked {
        let Target::Channel { channel, setting } = part.target else {
            return Looked::CannotLook;
        };
        outcome.looked += 1;
        let oldest = since - LOOK_MARGIN.as_secs() as i64;
        // Where it may be: (channel id, thread).
        let mut places: Vec<(String, Option<String>)> = Vec::new();
        let configured = match self.slack.resolve_channel(channel, setting).await {
            Ok(id) => id,
            Err(e) if e.is_configuration() => {
                if !SAID_NAME.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, setting = %setting, channel = %channel, "a message whose outcome is unknown cannot be looked for in a channel named by name without the scopes channels:read and groups:read: add them (or set the channel's id, C…), or a duplicate is possible");
                }
                None
            }
            Err(e) => {
                return Looked::Failed(format!(
                    "Slack may have posted this message, and its channel's id could not be learned to look for it: {e}"
                ));
            }
        };
        // An alert's first message at the top level; a later part in the alert's thread,
        // if it has one.
        if let Some(id) = configured {
            let ts = thread_ts.filter(|_| part.index > 0).map(str::to_owned);
            places.push((id, ts));
        }
        // A first message may also be a reply in the thread open for its key.
        if part.index == 0
            && let (Some(pk), Some(store)) = (thread_pk, &self.store)
        {
            match store.open_thread_of(pk).await {
                Ok(Some((ts, id))) => places.push((id, Some(ts))),
                Ok(None) => {}
                Err(e) => {
                    return Looked::Failed(format!(
                        "looking for a message whose outcome is unknown: {e}"
                    ));
                }
            }
        }
        if places.is_empty() {
            return Looked::CannotLook;
        }
        for (id, ts) in places {
            match self
                .slack
                .find_marked(&id, ts.as_deref(), &part.key, oldest, setting)
                .await
            {
                Ok(Some(p)) => {
                    tracing::info!(key = %part.key, ts = p.ts.as_deref().unwrap_or(""), "found a message whose outcome was unknown: not posted again");
                    return Looked::Found(p);
                }
                Ok(None) => {}
                Err(e) if e.is_configuration() => {
                    if !SAID_SCOPE.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "cannot look for messages whose outcome is unknown, so they are posted again (a duplicate is possible): add the scopes channels:history and groups:history to the Slack app and reinstall it");
                    }
                    return Looked::CannotLook;
                }
                Err(e) => {
                    return Looked::Failed(format!(
                        "Slack may have posted this message, and it could not be looked for: {e}"
                    ));
                }
            }
        }
        Looked::Absent
    }
}
