//! The changes-only report (pure): what the last delivered report said of each action, what
//! this run shows — new actions, changed ones, reminders — and what the state becomes once
//! they are delivered.
//!
//! An action is *changed* when its dates (`AutoAppliedAfterDate`, `ForcedApplyDate`,
//! `CurrentApplyDate`), its opt-in status or its resource's maintenance window differ from
//! what was last delivered. A window that could not be read this run is not a change. An
//! unchanged action is shown once more, as a *reminder*, when it applies within the reminder
//! horizon; once per apply time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Applies, Change, Pending, count_changes, window_spec};

/// The reminder mark of an action being applied now (opted in `immediate`).
const IMMEDIATE: i64 = -1;

/// What was delivered of one action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The region whose API reported it.
    pub g: String,
    /// Its dates and opt-in status ([`dates`]).
    pub d: String,
    /// Its window, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<String>,
    /// When it applied, as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// The apply time it was reminded of (or shown within the horizon for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<i64>,
}

/// The state: one entry per action (by [`key`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub actions: BTreeMap<String, Seen>,
}

impl State {
    pub fn parse(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| format!("the saved state is not readable: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The state after a run: actions no longer pending in a unit (region, or account and
    /// region across an organization: [`Pending::unit`]) that was read are
    /// forgotten; `delivered` entries are set.
    pub fn update(
        &mut self,
        read_regions: &[String],
        pending: &[String],
        delivered: &[(String, Seen)],
    ) {
        self.actions
            .retain(|k, s| !read_regions.contains(&s.g) || pending.contains(k));
        for (k, s) in delivered {
            self.actions.insert(k.clone(), s.clone());
        }
    }
}

/// An action's key in the state: its resource and action (hashed: short, and no ARN in
/// the table).
pub fn key(p: &Pending) -> String {
    let joined = format!("{}\u{1f}{}", p.arn, p.action);
    opswatch_delivery::keys::digest(&joined)[..24].to_owned()
}

/// Its dates and opt-in status, as one comparable string.
pub fn dates(p: &Pending) -> String {
    let t = |t: Option<i64>| t.map_or(String::new(), |t| t.to_string());
    format!(
        "{}|{}|{}|{}",
        t(p.auto_applied_after),
        t(p.forced_apply),
        t(p.current_apply),
        p.opt_in_status.as_deref().unwrap_or("")
    )
}

/// One run's report.
#[derive(Debug, Default)]
pub struct Report {
    /// The actions to show, each with its [`Change`], in the order given.
    pub shown: Vec<Pending>,
    /// The state entry of each shown action once delivered (same order as `shown`).
    pub entries: Vec<(String, Seen)>,
    /// The key of every pending action.
    pub keys: Vec<String>,
    pub unchanged: usize,
    /// The reminder horizon, in seconds.
    pub remind: i64,
}

impl Report {
    pub fn count(&self, change: fn(&Change) -> bool) -> usize {
        count_changes(&self.shown, change)
    }
}

/// What to show of `pending` given what was delivered (`state`), at `now`, with reminders
/// for actions applying within `remind` seconds.
pub fn report(state: &State, pending: &[Pending], now: i64, remind: i64) -> Report {
    let mut out = Report {
        remind,
        ..Report::default()
    };
    for p in pending {
        let k = key(p);
        let applies = p.applies(now);
        let at = applies.at(now);
        // What a reminder is for: an apply time within the horizon. An opted-in action
        // applies "now" on every run: it is one apply time, reminded of once.
        let near = match applies {
            Applies::Immediately => Some(IMMEDIATE),
            _ => at.filter(|t| *t <= now + remind),
        };
        let w = window_spec(p).map(str::to_owned);
        let d = dates(p);
        let before = state.actions.get(&k);
        let change = match before {
            None => Some(Change::New),
            Some(s) if s.d != d || (w.is_some() && s.w != w) => Some(Change::Changed { was: s.at }),
            Some(s) if near.is_some() && s.r != near => Some(Change::Reminder),
            Some(_) => None,
        };
        out.keys.push(k.clone());
        let Some(change) = change else {
            out.unchanged += 1;
            continue;
        };
        out.entries.push((
            k,
            Seen {
                g: p.unit(),
                d,
                w: w.or_else(|| before.and_then(|s| s.w.clone())),
                at,
                r: near,
            },
        ));
        out.shown.push(Pending {
            change: Some(change),
            ..p.clone()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Applies, Window};
    use crate::window::MaintenanceWindow;

    const MONDAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z
    const H: i64 = 3_600;

    fn action(name: &str, window: &str, auto: i64) -> Pending {
        Pending {
            region: "us-east-1".into(),
            arn: format!("arn:aws:rds:us-east-1:111122223333:db:{name}"),
            action: "system-update".into(),
            description: String::new(),
            opt_in_status: None,
            auto_applied_after: Some(auto),
            forced_apply: None,
            current_apply: None,
            window: Window::Known(MaintenanceWindow::parse(window).unwrap()),
            change: None,
            account: None,
            tags: Default::default(),
        }
    }

    /// Run after run, delivering everything shown.
    fn run(state: &mut State, pending: &[Pending], now: i64) -> Vec<(String, Change)> {
        let r = report(state, pending, now, 24 * H);
        state.update(&["us-east-1".into()], &r.keys, &r.entries);
        r.shown
            .into_iter()
            .map(|p| (p.name().to_owned(), p.change.unwrap()))
            .collect()
    }

    #[test]
    fn new_then_quiet_then_changed_then_reminded_once() {
        let mut state = State::default();
        let a = action("a", "wed:07:00-wed:07:30", MONDAY + 8 * 24 * H);
        let b = action("b", "sat:22:00-sat:22:30", MONDAY + 20 * 24 * H);
        let now = MONDAY + 8 * H;
        assert_eq!(
            run(&mut state, &[a.clone(), b.clone()], now),
            [("a".into(), Change::New), ("b".into(), Change::New)]
        );
        // Nothing changed: nothing shown.
        assert_eq!(run(&mut state, &[a.clone(), b.clone()], now + 24 * H), []);
        // A new action alone.
        let c = action("c", "fri:01:00-fri:01:30", MONDAY + 30 * 24 * H);
        assert_eq!(
            run(
                &mut state,
                &[a.clone(), b.clone(), c.clone()],
                now + 2 * 24 * H
            ),
            [("c".into(), Change::New)]
        );
        // b's date moves: changed, with when it applied before.
        let was = b.applies(now).at(now);
        let b2 = Pending {
            auto_applied_after: Some(MONDAY + 27 * 24 * H),
            ..b.clone()
        };
        assert_eq!(
            run(
                &mut state,
                &[a.clone(), b2.clone(), c.clone()],
                now + 3 * 24 * H
            ),
            [("b".into(), Change::Changed { was })]
        );
        // a's window (Wednesday 2026-12-02 07:00) comes within 24 hours: a reminder, once.
        let a_at = a.applies(now).at(now).unwrap();
        assert_eq!(opswatch_support::rfc3339(a_at), "2026-12-02T07:00:00Z");
        let all = [a.clone(), b2.clone(), c.clone()];
        assert_eq!(run(&mut state, &all, a_at - 30 * H), []);
        assert_eq!(
            run(&mut state, &all, a_at - 20 * H),
            [("a".into(), Change::Reminder)]
        );
        assert_eq!(run(&mut state, &all, a_at - 10 * H), []);
        // a was applied (gone); b and c unchanged.
        assert_eq!(run(&mut state, &[b2.clone(), c.clone()], a_at + H), []);
        assert_eq!(state.actions.len(), 2);
        // A window that could not be read is no change; a new window is.
        let c_unknown = Pending {
            window: Window::Unknown("Throttling: Rate exceeded".into()),
            ..c.clone()
        };
        assert_eq!(run(&mut state, &[b2.clone(), c_unknown], a_at + 2 * H), []);
        let c_moved = Pending {
            window: Window::Known(MaintenanceWindow::parse("sun:03:00-sun:03:30").unwrap()),
            ..c.clone()
        };
        let shown = run(&mut state, &[b2, c_moved.clone()], a_at + 3 * H);
        assert!(
            matches!(shown.as_slice(), [(n, Change::Changed { was: Some(_) })] if n == "c"),
            "{shown:?}"
        );
        assert!(matches!(
            c_moved.applies(a_at + 3 * H),
            Applies::Window(t) if opswatch_support::rfc3339(t) == "2026-12-27T03:00:00Z"
        ));
    }

    #[test]
    fn new_within_the_horizon_is_not_reminded_again() {
        let mut state = State::default();
        let a = action("a", "mon:09:00-mon:09:30", MONDAY);
        let now = MONDAY + 2 * H;
        assert_eq!(
            run(&mut state, std::slice::from_ref(&a), now),
            [("a".into(), Change::New)]
        );
        assert_eq!(run(&mut state, std::slice::from_ref(&a), now + H), []);
        // Not applied in that window: the next one is a week later, reminded once more.
        let next_week = MONDAY + 7 * 24 * H + 9 * H;
        assert_eq!(
            run(&mut state, std::slice::from_ref(&a), next_week - 25 * H),
            []
        );
        assert_eq!(
            run(&mut state, std::slice::from_ref(&a), next_week - 5 * H),
            [("a".into(), Change::Reminder)]
        );
    }

    #[test]
    fn an_immediate_opt_in_still_pending_is_shown_once_not_on_every_run() {
        let mut state = State::default();
        let a = Pending {
            opt_in_status: Some("immediate".into()),
            ..action("a", "mon:09:00-mon:09:30", MONDAY + 30 * 24 * H)
        };
        let now = MONDAY;
        assert!(matches!(a.applies(now), Applies::Immediately));
        assert_eq!(
            run(&mut state, std::slice::from_ref(&a), now),
            [("a".into(), Change::New)]
        );
        // Runs every hour while RDS works on it: nothing new to say.
        for hour in 1..48 {
            assert_eq!(
                run(&mut state, std::slice::from_ref(&a), now + hour * H),
                []
            );
        }
    }

    #[test]
    fn undelivered_changes_stay_pending_and_failed_regions_are_not_forgotten() {
        let mut state = State::default();
        let a = action("a", "wed:07:00-wed:07:30", MONDAY + 8 * 24 * H);
        let eu = Pending {
            region: "eu-west-1".into(),
            arn: "arn:aws:rds:eu-west-1:111122223333:db:eu".into(),
            ..a.clone()
        };
        let now = MONDAY;
        // Delivery failed: nothing recorded, so the next run shows it again.
        let r = report(&state, &[a.clone(), eu.clone()], now, 24 * H);
        assert_eq!(r.shown.len(), 2);
        state.update(&["us-east-1".into(), "eu-west-1".into()], &r.keys, &[]);
        assert_eq!(
            report(&state, &[a.clone(), eu.clone()], now, 24 * H)
                .shown
                .len(),
            2
        );
        state.update(
            &["us-east-1".into(), "eu-west-1".into()],
            &r.keys,
            &r.entries,
        );
        // eu-west-1 could not be read: its action is kept, not forgotten.
        let r = report(&state, std::slice::from_ref(&a), now + H, 24 * H);
        assert!(r.shown.is_empty());
        state.update(&["us-east-1".into()], &r.keys, &r.entries);
        assert_eq!(state.actions.len(), 2);
        assert!(
            report(&state, &[a, eu], now + 2 * H, 24 * H)
                .shown
                .is_empty()
        );
        // The state survives its JSON.
        assert_eq!(State::parse(&state.to_json()).unwrap(), state);
        assert!(State::parse("not json").is_err());
    }
}
