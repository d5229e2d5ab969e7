//! What Slack actions keep in the table: mutes, acknowledgements and the signatures of
//! requests already handled.
//!
//! - `mute#all`: the active mutes, one attribute `m_<id>` per mute holding its end (epoch
//!   seconds). Every posting invocation reads this one item, once
//!   ([`Store::active_mutes`]).
//! - `mute#<id>`: what a mute silences and who set it ([`Mute`]), expiring at its end.
//!   Written before the index names it, and deleted after the index no longer does: the
//!   index alone says whether something is muted.
//! - `ack#<hash of channel and ts>`: who acknowledged a message and when, written once
//!   (conditional put), so two clicks acknowledge once and a thread's count edit keeps it.
//! - `sig#<signature>`: a Slack request signature already used, until it would be stale
//!   anyway: a replay inside the 300 s window is refused.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use opswatch_slack::actions::Scope;

use super::{Store, StoreError, Written, get_n, get_s, n, s};

/// The index of active mutes.
pub const MUTES: &str = "mute#all";

fn mute_pk(id: &str) -> String {
    format!("mute#{id}")
}

fn index_attr(id: &str) -> String {
    format!("m_{id}")
}

/// The table key of a message's acknowledgement.
pub fn ack_pk(channel: &str, ts: &str) -> String {
    format!(
        "ack#{}",
        crate::keys::digest(&format!("{}:{channel}{ts}", channel.len()))
    )
}

/// A mute, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mute {
    pub id: String,
    pub scope: Scope,
    /// When it ends (epoch seconds).
    pub until: i64,
    /// The Slack user who set it.
    pub by: String,
    /// When it was set.
    pub at: i64,
}

impl Store {
    /// The active mutes: mute id → its end. One strongly consistent read.
    pub async fn active_mutes(&self, now: i64) -> Result<HashMap<String, i64>, StoreError> {
        let item = self.get(MUTES).await?.unwrap_or_default();
        Ok(item
            .iter()
            .filter_map(|(k, v)| {
                let id = k.strip_prefix("m_")?;
                let until: i64 = v.as_n().ok()?.parse().ok()?;
                (until > now).then(|| (id.to_owned(), until))
            })
            .collect())
    }

    /// Set (or extend, or shorten) a mute. Mutes that ended are dropped from the index on
    /// the way, unless one of them was set again meanwhile.
    pub async fn mute(&self, m: &Mute) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(mute_pk(&m.id)))
            .item("function", s(&m.scope.function))
            .item("rule", s(&m.scope.rule))
            .item("subject", s(&m.scope.subject))
            .item("by", s(&m.by))
            .item("at", n(m.at))
            .item("until", n(m.until))
            .item("ttl", n(m.until + 3600));
        self.retried(|| put.clone().send())
            .await
            .map_err(|e| self.error(&e))?;
        let ended: Vec<(String, AttributeValue)> = self
            .get(MUTES)
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, v)| {
                k.starts_with("m_")
                    && *k != index_attr(&m.id)
                    && v.as_n()
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_some_and(|t| t <= m.at)
            })
            .take(50)
            .collect();
        let set = |prune: &[(String, AttributeValue)]| {
            let mut u = self
                .update(MUTES)
                .expression_attribute_names("#new", index_attr(&m.id))
                .expression_attribute_values(":until", n(m.until));
            let mut expr = "SET #new = :until".to_owned();
            let mut cond = Vec::new();
            for (i, (k, v)) in prune.iter().enumerate() {
                expr.push_str(if i == 0 { " REMOVE " } else { ", " });
                expr.push_str(&format!("#e{i}"));
                cond.push(format!("#e{i} = :e{i}"));
                u = u
                    .expression_attribute_names(format!("#e{i}"), k)
                    .expression_attribute_values(format!(":e{i}"), v.clone());
            }
            u = u.update_expression(expr);
            if !cond.is_empty() {
                u = u.condition_expression(cond.join(" AND "));
            }
            u
        };
        let pruning = set(&ended);
        if let Written::NotMade = self.write(|| pruning.clone().send()).await? {
            // One of them was set again: leave them all.
            let plain = set(&[]);
            self.write(|| plain.clone().send()).await?;
        }
        Ok(())
    }

    /// Lift mute `id`: what it was, if it was active.
    pub async fn unmute(&self, id: &str, now: i64) -> Result<Option<Mute>, StoreError> {
        let active = self.active_mutes(now).await?.contains_key(id);
        let detail = self.mute_detail(id).await?;
        let remove = self
            .update(MUTES)
            .update_expression("REMOVE #m")
            .expression_attribute_names("#m", index_attr(id));
        self.retried(|| remove.clone().send())
            .await
            .map_err(|e| self.error(&e))?;
        let delete = self.delete(mute_pk(id));
        self.retried(|| delete.clone().send())
            .await
            .map_err(|e| self.error(&e))?;
        Ok(detail.filter(|_| active))
    }

    async fn mute_detail(&self, id: &str) -> Result<Option<Mute>, StoreError> {
        Ok(self.get(&mute_pk(id)).await?.map(|item| mute_of(id, &item)))
    }

    /// The active mutes with what each silences, soonest end first.
    pub async fn mutes(&self, now: i64) -> Result<Vec<Mute>, StoreError> {
        let active = self.active_mutes(now).await?;
        let mut out = Vec::with_capacity(active.len());
        for (id, until) in &active {
            let mut m = self.mute_detail(id).await?.unwrap_or_else(|| Mute {
                id: id.clone(),
                scope: Scope::new("?", None, "?"),
                until: *until,
                by: String::new(),
                at: 0,
            });
            m.until = *until;
            out.push(m);
        }
        out.sort_by(|a, b| (a.until, &a.id).cmp(&(b.until, &b.id)));
        Ok(out)
    }

    /// Record that `by` acknowledged the message `ts` in `channel` at `at`: `None` when
    /// this is the first acknowledgement, else who acknowledged it first and when.
    pub async fn ack(
        &self,
        channel: &str,
        ts: &str,
        by: &str,
        at: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ack_pk(channel, ts)))
            .item("by", s(by))
            .item("at", n(at))
            .item("ttl", n(at + self.ttl.as_secs() as i64))
            .condition_expression("attribute_not_exists(pk)");
        match self.write(|| put.clone().send()).await? {
            Written::Made(_) => Ok(None),
            Written::NotMade => Ok(self.acked(channel, ts).await?.or(Some((String::new(), 0)))),
        }
    }

    /// Who acknowledged the message, and when.
    pub async fn acked(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        Ok(self.get(&ack_pk(channel, ts)).await?.map(|item| {
            (
                get_s(&item, "by").unwrap_or_default(),
                get_n(&item, "at").unwrap_or(0),
            )
        }))
    }

    /// Remember a request's signature until `until`: false when it was seen before (a
    /// replay).
    pub async fn first_use(&self, signature: &str, until: i64) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("sig#{signature}")))
            .item("ttl", n(until))
            .condition_expression("attribute_not_exists(pk)");
        Ok(matches!(
            self.write(|| put.clone().send()).await?,
            Written::Made(_)
        ))
    }
}

fn mute_of(id: &str, item: &HashMap<String, AttributeValue>) -> Mute {
    let text = |k: &str| get_s(item, k).unwrap_or_default();
    Mute {
        id: id.to_owned(),
        scope: Scope {
            function: text("function"),
            rule: text("rule"),
            subject: text("subject"),
        },
        until: get_n(item, "until").unwrap_or(0),
        by: text("by"),
        at: get_n(item, "at").unwrap_or(0),
    }
}
