//! The I/O: verify, remember the signature, check who asks, then act — in the table and in
//! Slack — and answer within Slack's 3 seconds.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use opswatch_delivery::store::{Mute, Store};
use opswatch_slack::actions::{ACK, Action, ActionKey, MUTE, UNMUTE, is_mute_id};
use opswatch_slack::signing::{self, WINDOW};
use opswatch_slack::{Message, Mrkdwn, Secret, Slack, SlackError};
use serde_json::{Value, json};

use crate::payload::{self, Click, Command, Payload};
use crate::render;
use crate::request::{self, Answer};

/// How long a user group's members are trusted before they are asked again.
const MEMBERS_FOR: Duration = Duration::from_secs(60);

/// The setting the bot token comes from, for Slack's configuration errors.
const TOKEN_SETTING: &str = "SLACK_BOT_TOKEN";

/// The function: built once per execution environment.
pub struct Actions {
    pub(crate) secret: Secret,
    pub(crate) key: ActionKey,
    pub(crate) slack: Slack,
    pub(crate) store: Store,
    /// `ACTIONS_ALLOWED_USERS`.
    pub(crate) users: Vec<String>,
    /// `ACTIONS_ALLOWED_USERGROUPS`.
    pub(crate) groups: Vec<String>,
    pub(crate) members: tokio::sync::Mutex<Option<(Instant, HashSet<String>)>>,
    /// `OPSWATCH_CLOCK` (local runs): the frozen time every request is handled at.
    pub(crate) clock: Option<i64>,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("users", &self.users)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

fn text(m: Mrkdwn) -> Value {
    render::ephemeral(&m)
}

/// The answer to a button whose value opswatch did not make, or made for another action.
fn unverified() -> Value {
    text(Mrkdwn::trusted(
        ":no_entry: This button's value does not verify: nothing changed.",
    ))
}

impl Actions {
    /// One request, start to answer (`now` is epoch seconds), with its metrics: `Unsigned`
    /// (not Slack's, stale, or a replay), `DedupeUnavailable`, `Actions` (requests acted
    /// on).
    pub async fn handle(&self, event: &Value, now: i64) -> Answer {
        let answer = self.answer(event, now).await;
        let unsigned = usize::from(answer.status == 401);
        let unavailable = usize::from(answer.status == 503);
        opswatch_support::emit_metrics(&[
            ("Unsigned", unsigned),
            ("DedupeUnavailable", unavailable),
            ("Actions", usize::from(answer.status == 200)),
        ]);
        tracing::info!(status = answer.status, "answered");
        answer
    }

    async fn answer(&self, event: &Value, now: i64) -> Answer {
        let req = match request::parse(event) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(reason = %e, "request refused");
                return Answer::empty(e.status());
            }
        };
        // Nothing is read from the body before its signature holds.
        let ts = match signing::verify(
            &self.secret,
            req.timestamp.as_deref(),
            req.signature.as_deref(),
            &req.body,
            now,
        ) {
            Ok(ts) => ts,
            Err(why) => {
                tracing::warn!(reason = %why, "request refused: not signed by Slack");
                return Answer::empty(401);
            }
        };
        let signature = req.signature.as_deref().unwrap_or_default();
        match self.store.first_use(signature, ts + WINDOW + 60).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("request refused: a replay of a request already handled");
                return Answer::empty(401);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot remember the request's signature: refused, nothing changed");
                return Answer::empty(503);
            }
        }
        let payload = match payload::parse(&req.body) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "request refused");
                return Answer::empty(400);
            }
        };
        match payload {
            Payload::SslCheck => Answer::empty(200),
            Payload::Other(kind) => {
                tracing::info!(kind = %kind, "interaction opswatch does not use: ignored");
                Answer::empty(200)
            }
            Payload::Command(c) => Answer::json(&self.command(&c, now).await),
            Payload::Click(c) => {
                if let Some(answer) = self.click(&c, now).await {
                    self.tell(&c.channel, &c.user, &answer).await;
                }
                Answer::empty(200)
            }
        }
    }

    /// Whether `user` may act: listed, or in a listed user group. Empty lists: nobody.
    async fn allowed(&self, user: &str) -> Result<bool, SlackError> {
        if self.users.iter().any(|u| u == user) {
            return Ok(true);
        }
        if self.groups.is_empty() {
            return Ok(false);
        }
        let mut members = self.members.lock().await;
        let fresh = members
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < MEMBERS_FOR);
        if !fresh {
            let mut all = HashSet::new();
            for g in &self.groups {
                let answer = self
                    .slack
                    .read(
                        "usergroups.users.list",
                        json!({"usergroup": g}),
                        "",
                        "ACTIONS_ALLOWED_USERGROUPS",
                    )
                    .await?;
                all.extend(
                    answer["users"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned),
                );
            }
            *members = Some((Instant::now(), all));
        }
        Ok(members.as_ref().is_some_and(|(_, m)| m.contains(user)))
    }

    /// Whether `user` may act, or the answer that says why not.
    async fn gate(&self, user: &str) -> Result<(), Value> {
        match self.allowed(user).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!(user, "not allowed to act on alerts: nothing changed");
                Err(text(Mrkdwn::trusted(
                    ":no_entry: You are not allowed to act on opswatch alerts (ACTIONS_ALLOWED_USERS, ACTIONS_ALLOWED_USERGROUPS). Nothing changed.",
                )))
            }
            Err(e) => {
                tracing::error!(user, error = %e, "could not read the allowed user groups: refused");
                Err(text(Mrkdwn::trusted(
                    ":warning: Could not check who may act (Slack's user groups could not be read). Nothing changed.",
                )))
            }
        }
    }

    /// Tell one user something only they see.
    async fn tell(&self, channel: &str, user: &str, answer: &Value) {
        let body = json!({"channel": channel, "user": user, "text": answer["text"], "blocks": answer["blocks"]});
        if let Err(e) = self
            .slack
            .call_method("chat.postEphemeral", body, TOKEN_SETTING)
            .await
        {
            tracing::warn!(error = %e, "could not answer the user");
        }
    }

    /// A click: the answer for the user, if one is due.
    async fn click(&self, c: &Click, now: i64) -> Option<Value> {
        if ![ACK, MUTE, UNMUTE].contains(&c.action_id.as_str()) {
            tracing::warn!(user = %c.user, action = %c.action_id.chars().take(64).collect::<String>(), "unknown action");
            return Some(text(Mrkdwn::trusted(
                ":grey_question: Unknown action: nothing changed.",
            )));
        }
        let Some(action) = self.key.open(&c.value) else {
            tracing::warn!(user = %c.user, action = %c.action_id, "refused: the button's value was not made by opswatch");
            return Some(unverified());
        };
        if let Err(answer) = self.gate(&c.user).await {
            return Some(answer);
        }
        match (c.action_id.as_str(), action) {
            (ACK, Action::Ack { .. }) => self.ack(c, now).await,
            (MUTE, Action::Mute { seconds, label, id }) => {
                self.mute(c, now, seconds, label, &id).await
            }
            (UNMUTE, Action::Unmute { id }) => self.unmute_click(c, now, &id).await,
            _ => {
                tracing::warn!(user = %c.user, action = %c.action_id, "refused: the value belongs to another action");
                Some(unverified())
            }
        }
    }

    fn failed(e: &dyn std::fmt::Display, what: &str) -> Value {
        tracing::error!(error = %e, "{what}");
        text(Mrkdwn::trusted(
            ":warning: opswatch could not do that just now (see its log); try again.",
        ))
    }

    async fn ack(&self, c: &Click, now: i64) -> Option<Value> {
        let Ok(message) = serde_json::from_value::<Message>(json!({
            "text": c.message["text"].as_str().unwrap_or_default(),
            "blocks": c.message["blocks"],
        })) else {
            tracing::warn!(user = %c.user, "the clicked message is not one of opswatch's alerts");
            return Some(text(Mrkdwn::trusted(
                ":grey_question: This is not an opswatch alert: nothing changed.",
            )));
        };
        match self
            .store
            .ack(&c.channel, &c.message_ts, &c.user, now)
            .await
        {
            Ok(None) => {}
            Ok(Some((by, at))) => {
                let mut m = Mrkdwn::trusted(":white_check_mark: Already acknowledged by ");
                m.push_user(&by);
                m.push_trusted(" at ");
                m.push(&opswatch_support::rfc3339(at));
                return Some(text(m));
            }
            Err(e) => return Some(Self::failed(&e, "could not record the acknowledgement")),
        }
        tracing::info!(user = %c.user, channel = %c.channel, ts = %c.message_ts, "alert acknowledged");
        let edited = message.acknowledged(&opswatch_delivery::ack_note(&c.user, now));
        if let Err(e) = self
            .slack
            .update(&c.channel, &c.message_ts, &edited, TOKEN_SETTING)
            .await
        {
            return Some(Self::failed(
                &e,
                "acknowledged, but could not edit the message",
            ));
        }
        None
    }

    async fn mute(
        &self,
        c: &Click,
        now: i64,
        seconds: i64,
        label: &str,
        id: &str,
    ) -> Option<Value> {
        // What the mute silences comes from the alert's own Acknowledge button (signed).
        let scope = c.message["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|b| b["elements"].as_array().into_iter().flatten())
            .filter(|e| e["action_id"] == ACK)
            .filter_map(|e| self.key.open(e["value"].as_str()?))
            .find_map(|a| match a {
                Action::Ack { scope: Some(s) } if s.id() == id => Some(s),
                _ => None,
            });
        let Some(scope) = scope else {
            tracing::warn!(user = %c.user, mute = id, "refused: the mute does not match its alert");
            return Some(unverified());
        };
        let m = Mute {
            id: id.to_owned(),
            scope,
            until: now + seconds,
            by: c.user.clone(),
            at: now,
        };
        if let Err(e) = self.store.mute(&m).await {
            return Some(Self::failed(&e, "could not record the mute"));
        }
        tracing::info!(user = %c.user, mute = id, function = %m.scope.function, rule = %m.scope.rule, subject = %m.scope.subject, until = m.until, "muted");
        let (fallback, blocks) = render::muted(&m, label, &self.key);
        let thread = c.thread_ts.as_deref().unwrap_or(&c.message_ts);
        let body = json!({"channel": c.channel, "thread_ts": thread, "text": fallback, "blocks": blocks, "unfurl_links": false});
        if let Err(e) = self
            .slack
            .call_method("chat.postMessage", body, TOKEN_SETTING)
            .await
        {
            return Some(Self::failed(
                &e,
                "muted, but could not say so in the thread",
            ));
        }
        None
    }

    async fn unmute_click(&self, c: &Click, now: i64, id: &str) -> Option<Value> {
        let lifted = match self.store.unmute(id, now).await {
            Ok(m) => m,
            Err(e) => return Some(Self::failed(&e, "could not lift the mute")),
        };
        tracing::info!(user = %c.user, mute = id, was_active = lifted.is_some(), "unmuted");
        let (fallback, blocks) = render::unmuted(&c.user, now, lifted.as_ref().map(|m| &m.scope));
        let body =
            json!({"channel": c.channel, "ts": c.message_ts, "text": fallback, "blocks": blocks});
        if let Err(e) = self
            .slack
            .call_method("chat.update", body, TOKEN_SETTING)
            .await
        {
            tracing::warn!(error = %e, "unmuted, but could not edit the announcement");
        }
        lifted.is_none().then(|| {
            text(Mrkdwn::trusted(
                "That mute had already ended or been lifted.",
            ))
        })
    }

    /// `/opswatch …`: the answer (ephemeral).
    async fn command(&self, c: &Command, now: i64) -> Value {
        if let Err(answer) = self.gate(&c.user).await {
            return answer;
        }
        let words: Vec<&str> = c.text.split_whitespace().collect();
        match words.as_slice() {
            ["mutes"] | ["mutes", "list"] => match self.store.mutes(now).await {
                Ok(list) => {
                    tracing::info!(user = %c.user, mutes = list.len(), "mutes listed");
                    render::mutes(&list)
                }
                Err(e) => Self::failed(&e, "could not read the mutes"),
            },
            ["unmute", id] if is_mute_id(id) => match self.store.unmute(id, now).await {
                Ok(Some(m)) => {
                    tracing::info!(user = %c.user, mute = %id, "unmuted");
                    let (_, blocks) = render::unmuted(&c.user, now, Some(&m.scope));
                    json!({"response_type": "ephemeral", "text": "Unmuted", "blocks": blocks})
                }
                Ok(None) => text(Mrkdwn::trusted(
                    "No active mute has that id (`/opswatch mutes` lists them).",
                )),
                Err(e) => Self::failed(&e, "could not lift the mute"),
            },
            _ => render::usage(),
        }
    }
}
