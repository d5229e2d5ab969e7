//! Many events of one source on their way to alerts (a CloudTrail log file, an audit batch):
//! split by route first, so each destination gets exactly its events, and — where the route
//! threads — by thread key, one alert and one thread each. An event's route is decided by
//! its own attributes, tags included, so resources of two teams in one log file or digest
//! go to their own teams' channels. Each group keeps what the
//! function gathers for its alert (`T`), its highest severity, and the rules and accounts of
//! its events; [`Groups::into_notices`] makes one [`Notice`] per group, in a stable order.

use std::collections::BTreeMap;

use opswatch_slack::Alert;

use crate::{Delivery, Notice, RouteId, Severity, Tags};

/// One group's identity: its route and, where that route threads, its thread key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    route: RouteId,
    thread: Option<String>,
}

/// A group: what the function gathers for its alert, and the weight of its events.
struct Group<T> {
    gathered: T,
    severity: Severity,
    rules: Vec<String>,
    accounts: Vec<String>,
}

/// The groups of one source's events.
pub struct Groups<T> {
    groups: BTreeMap<Key, Group<T>>,
}

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Self {
            groups: BTreeMap::new(),
        }
    }
}

impl<T: Default> Groups<T> {
    /// The group an event with these attributes belongs to, its weight counted: add the
    /// event to what it returns. `thread` is asked only where the event's route threads.
    pub fn group(
        &mut self,
        delivery: &Delivery,
        severity: Severity,
        account: Option<&str>,
        rule: Option<&str>,
        tags: Option<&Tags>,
        thread: impl FnOnce() -> String,
    ) -> &mut T {
        let route = delivery.route_of(severity, account, rule, tags);
        let key = Key {
            route,
            thread: delivery.threads(route).then(thread),
        };
        self.entry(key, severity, account, rule)
    }

    /// The group of an event that never threads (a digest's lines): by route alone.
    pub fn by_route(
        &mut self,
        delivery: &Delivery,
        severity: Severity,
        account: Option<&str>,
        rule: Option<&str>,
        tags: Option<&Tags>,
    ) -> &mut T {
        let route = delivery.route_of(severity, account, rule, tags);
        self.entry(
            Key {
                route,
                thread: None,
            },
            severity,
            account,
            rule,
        )
    }

    fn entry(
        &mut self,
        key: Key,
        severity: Severity,
        account: Option<&str>,
        rule: Option<&str>,
    ) -> &mut T {
        let g = self.groups.entry(key).or_insert_with(|| Group {
            gathered: T::default(),
            severity: Severity::Info,
            rules: Vec::new(),
            accounts: Vec::new(),
        });
        g.severity = g.severity.max(severity);
        if let Some(rule) = rule
            && !g.rules.iter().any(|r| r == rule)
        {
            g.rules.push(rule.to_owned());
        }
        if let Some(a) = account
            && !g.accounts.iter().any(|x| x == a)
        {
            g.accounts.push(a.to_owned());
        }
        &mut g.gathered
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl<T> Groups<T> {
    /// One notice per group that makes an alert, in the order of route and thread key.
    /// Each notice's source is `source`, followed by its thread key where it has one; its
    /// account and rule are set when all its events share one.
    pub fn into_notices(
        self,
        source: &str,
        mut alert: impl FnMut(T) -> Option<Alert>,
    ) -> Vec<Notice> {
        let mut notices = Vec::with_capacity(self.groups.len());
        for (key, g) in self.groups {
            let Some(alert) = alert(g.gathered) else {
                continue;
            };
            let source = match &key.thread {
                Some(t) => format!("{source}/{t}"),
                None => source.to_owned(),
            };
            let mut n = Notice::new(alert, g.severity, source).route(key.route);
            if let [account] = &g.accounts[..] {
                n = n.account(account.clone());
            }
            if let [rule] = &g.rules[..] {
                n = n.rule(rule.clone());
            }
            if let Some(t) = key.thread {
                n = n.thread(t);
            }
            notices.push(n);
        }
        notices
    }
}
