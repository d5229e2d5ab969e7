//! The Slack digest (pure): pending actions soonest first, identical actions on several
//! resources in one group, each marked with its weight ([`Digest::severity`]), failed
//! regions named.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use opswatch_delivery::Severity;
use opswatch_slack::{Alert, Mrkdwn};
use opswatch_support::AccountNames;

use crate::model::{
    Applies, Arn, Change, DateKind, Kind, Pending, Window, count_changes, days_until, relative,
    window_spec,
};

/// Room for one unit of a group: its line and resources (a section holds 3,000 characters).
const UNIT: usize = 2_900;
const DESCRIPTION_CHARS: usize = 500;
const DAY_SECS: i64 = 86_400;

/// `2026-11-27` for a midnight, else `2026-11-26 03:00 UTC`.
pub fn date(secs: i64) -> String {
    let Ok(t) = DateTime::from_secs(secs).fmt(Format::DateTime) else {
        return secs.to_string();
    };
    match t.strip_suffix("T00:00:00Z") {
        Some(day) => day.to_owned(),
        None => format!("{} {} UTC", &t[..10], &t[11..16]),
    }
}

/// `2026-11-26 03:00 UTC`, midnight too: a window's start.
pub fn stamp(secs: i64) -> String {
    let d = date(secs);
    if d.len() == 10 {
        format!("{d} 00:00 UTC")
    } else {
        d
    }
}

/// What the first column says of when an action applies (bold in the line), and how.
fn first_column(p: &Pending, now: i64) -> (String, String) {
    let days = |t: i64| relative(days_until(now, t));
    match p.applies(now) {
        Applies::Immediately => ("immediately".into(), "opted in: immediate".into()),
        Applies::Window(t) => (
            stamp(t),
            format!(
                "{}, maintenance window {}",
                days(t),
                window_spec(p).unwrap_or_default()
            ),
        ),
        Applies::Forced(t) => {
            // Only when a window was in line, not when the forced date is all there is.
            let waits = p.auto_applied_after.is_some()
                || p.opt_in_status.as_deref() == Some("next-maintenance");
            let before = window_spec(p)
                .filter(|_| waits)
                .map_or(String::new(), |w| format!(", before its window {w}"));
            (
                stamp(t),
                format!("{}, forced on {}{before}", days(t), date(t)),
            )
        }
        Applies::Date(t, kind) => (date(t), format!("{}, {}", days(t), kind.label())),
        Applies::Unscheduled => ("no date".into(), "applied only if someone opts in".into()),
    }
}

/// `24 hours`, `1 hour`, `90 minutes`.
fn hours(secs: i64) -> String {
    match secs {
        3_600 => "1 hour".into(),
        s if s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s => format!("{} minutes", s / 60),
    }
}

/// What could not be read, and why: a region (of an account, across an organization), or
/// a whole account that could not be entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionFailure {
    pub account: Option<String>,
    /// `None`: the account could not be entered at all.
    pub region: Option<String>,
    pub why: String,
}

impl RegionFailure {
    /// `eu-west-1`, `222233334444 (payments) eu-west-1`, `222233334444 (payments)`.
    pub fn label(&self, names: &AccountNames) -> String {
        match (&self.account, &self.region) {
            (Some(a), Some(r)) => format!("{} {r}", names.label(a)),
            (Some(a), None) => names.label(a),
            (None, Some(r)) => r.clone(),
            (None, None) => "?".into(),
        }
    }
}

/// Across an organization: how many accounts were asked, and how many were skipped (not
/// active).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgSummary {
    pub asked: usize,
    pub skipped: usize,
}

/// At most this many failures are listed; the rest are counted.
const FAILURES_SHOWN: usize = 10;
/// At most this many accounts are named in the header's field; more are counted.
const ACCOUNTS_NAMED: usize = 5;

/// What one run found.
#[derive(Clone, Copy)]
pub struct Digest<'a> {
    /// The scheduled event's time: "now" for day counts.
    pub now: i64,
    pub warn_days: i64,
    /// Regions asked, failed ones included.
    pub regions: &'a [String],
    pub failed: &'a [RegionFailure],
    /// Sorted with [`crate::model::sort`].
    pub pending: &'a [Pending],
    /// Account id → name.
    pub names: &'a AccountNames,
    /// Across an organization (`ORG_ACCOUNTS`).
    pub org: Option<OrgSummary>,
}

impl Digest<'_> {
    pub fn due_soon(&self) -> usize {
        self.pending.iter().filter(|p| self.is_due_soon(p)).count()
    }

    /// The accounts of the actions, each once, in order, with their names; counted when
    /// there are many.
    fn accounts(&self) -> String {
        let mut accounts: Vec<&str> = self
            .pending
            .iter()
            .filter_map(Pending::account_id)
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        if accounts.len() > ACCOUNTS_NAMED {
            return format!("{} accounts", accounts.len());
        }
        accounts
            .iter()
            .map(|a| self.names.label(a))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// When `p` applies, seen at this digest's time.
    pub fn at(&self, p: &Pending) -> Option<i64> {
        p.applies(self.now).at(self.now)
    }

    fn is_due_soon(&self, p: &Pending) -> bool {
        self.at(p)
            .is_some_and(|t| days_until(self.now, t) <= self.warn_days)
    }

    /// An action's weight: **critical** when it applies within a day (or its date has
    /// passed: it applies in the next window) — an action with no date, applied only if
    /// someone opts in, never is; **warning** within `WARN_DAYS`; else **info**.
    pub fn severity(&self, p: &Pending) -> Severity {
        match self.at(p) {
            Some(t) if t - self.now <= DAY_SECS => Severity::Critical,
            Some(_) if self.is_due_soon(p) => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// The alert: `None` when there is nothing to say (nothing pending, no region failed).
    pub fn alert(&self, notify_when_empty: bool) -> Option<Alert> {
        if self.pending.is_empty() && self.failed.is_empty() && !notify_when_empty {
            return None;
        }
        let n = self.pending.len();
        let soon = self.due_soon();
        let ok_regions = self.regions.len() - self.failed.len().min(self.regions.len());
        let mut header = if n == 0 {
            "RDS maintenance: nothing pending".to_owned()
        } else {
            format!(
                "RDS maintenance: {n} pending action{}",
                if n == 1 { "" } else { "s" }
            )
        };
        if soon > 0 {
            header.push_str(&format!(", {soon} due within {} days", self.warn_days));
        }
        let mut fallback = header.clone();
        if let Some(first) = self.pending.first() {
            fallback.push_str(&format!(" (soonest: {} {}", first.action, first.name()));
            if let Some(t) = self.at(first) {
                fallback.push_str(&format!(", {}", relative(days_until(self.now, t))));
            }
            fallback.push(')');
        }
        match (&self.org, self.failed.len()) {
            (_, 0) => {}
            (None, n) => fallback.push_str(&format!(
                "; {n} of {} regions could not be read",
                self.regions.len()
            )),
            (Some(_), n) => fallback.push_str(&format!(
                "; {n} account{} or region{} could not be read",
                if n == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" },
            )),
        }

        let mut alert = Alert::new(header, fallback);
        alert = match &self.org {
            None => alert.field(
                "Regions",
                Mrkdwn::text(&format!(
                    "{} ({ok_regions} of {} read)",
                    self.regions.join(", "),
                    self.regions.len()
                )),
            ),
            Some(org) => {
                let unentered = self.failed.iter().filter(|f| f.region.is_none()).count();
                let mut accounts = format!(
                    "{} of {} read",
                    org.asked - unentered.min(org.asked),
                    org.asked
                );
                if org.skipped > 0 {
                    accounts.push_str(&format!(", {} not active (skipped)", org.skipped));
                }
                alert
                    .field("Regions", Mrkdwn::text(&self.regions.join(", ")))
                    .field("Accounts", Mrkdwn::text(&accounts))
            }
        };
        alert = alert.field(
            if self.org.is_some() {
                "With actions"
            } else {
                "Account"
            },
            Mrkdwn::text(&self.accounts()),
        );
        if !self.failed.is_empty() {
            let mut m = Mrkdwn::new();
            for (i, f) in self.failed.iter().take(FAILURES_SHOWN).enumerate() {
                if i > 0 {
                    m.push_trusted("\n");
                }
                m.push_trusted(":x: ");
                m.push_bold(&f.label(self.names));
                m.push_trusted(" — ");
                m.push(&opswatch_slack::truncate_plain(&f.why, 300));
            }
            if self.failed.len() > FAILURES_SHOWN {
                m.push(&format!(
                    "\n…and {} more (in the log and the response)",
                    self.failed.len() - FAILURES_SHOWN
                ));
            }
            alert = alert.field(
                if self.org.is_some() {
                    "Could not be read"
                } else {
                    "Regions that failed"
                },
                m,
            );
        }
        let mut context = Mrkdwn::text(&format!(
            "As of {} · days are calendar days (UTC) · :rotating_light: due within a day · :warning: within {} days",
            stamp(self.now),
            self.warn_days
        ));
        if n == 0 && self.failed.is_empty() {
            context = Mrkdwn::text(&format!(
                "As of {}: no pending maintenance in {}",
                stamp(self.now),
                self.regions.join(", ")
            ));
        }
        Some(alert.lines(self.lines()).context(context))
    }

    /// The changes report's alert: only the actions shown (new, changed, reminded), in
    /// the digest's layout, each group saying why it is shown.
    pub fn changes_alert(&self, r: &crate::report::Report) -> Alert {
        let count = |c: fn(&Change) -> bool| count_changes(self.pending, c);
        let parts: Vec<String> = [
            (count(|c| *c == Change::New), "new", "new"),
            (
                count(|c| matches!(c, Change::Changed { .. })),
                "changed",
                "changed",
            ),
            (count(|c| *c == Change::Reminder), "reminder", "reminders"),
        ]
        .into_iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
        let header = format!("RDS maintenance: {}", parts.join(", "));
        let mut fallback = header.clone();
        if let Some(first) = self.pending.first() {
            let (when, _) = first_column(first, self.now);
            fallback.push_str(&format!(
                " (soonest: {} {}, {when})",
                first.action,
                first.name()
            ));
        }
        Alert::new(header, fallback)
            .field(
                if self.org.is_some() {
                    "With changes"
                } else {
                    "Account"
                },
                Mrkdwn::text(&self.accounts()),
            )
            .lines(self.lines())
            .context(Mrkdwn::text(&format!(
                "Changes since the last report, as of {} · {} other pending action{} unchanged · reminders {} ahead · the full list comes with the digest",
                stamp(self.now),
                r.unchanged,
                if r.unchanged == 1 { "" } else { "s" },
                hours(r.remind),
            )))
    }

    /// Every action, in groups of identical actions (same dates, same region and kind).
    fn lines(&self) -> Vec<Mrkdwn> {
        let mut out = Vec::new();
        let mut rest = self.pending;
        while let Some(first) = rest.first() {
            let len = rest.iter().take_while(|p| same_group(first, p)).count();
            let (group, tail) = rest.split_at(len);
            self.group(group, &mut out);
            rest = tail;
        }
        out
    }

    fn group(&self, group: &[Pending], out: &mut Vec<Mrkdwn>) {
        let Some(first) = group.first() else {
            return;
        };
        let mut line = Mrkdwn::new();
        line.push_trusted(match (self.at(first), self.severity(first)) {
            (None, _) | (_, Severity::Info) => "• ",
            (_, Severity::Critical) => ":rotating_light: ",
            (_, Severity::Warning) => ":warning: ",
        });
        let (when, how) = first_column(first, self.now);
        line.push_bold(&when);
        line.push(&format!(" ({how})"));
        match &first.change {
            None => {}
            Some(Change::New) => {
                line.push_trusted(" · ");
                line.push_bold("new");
            }
            Some(Change::Changed { was }) => {
                line.push_trusted(" · ");
                line.push_bold("changed");
                if let Some(was) = was {
                    line.push(&format!(" (was {})", stamp(*was)));
                }
            }
            Some(Change::Reminder) => {
                line.push_trusted(" · ");
                line.push_bold("reminder");
            }
        }
        line.push_trusted(" — ");
        line.push_code(&first.action);
        let description = first
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !description.is_empty() {
            line.push_trusted(": ");
            line.push(&opswatch_slack::truncate_plain(
                &description,
                DESCRIPTION_CHARS,
            ));
        }
        // The dates RDS gives, unless they only repeat the one shown or one another.
        let mut shown = vec![self.at(first)];
        for (t, kind) in [
            (first.forced_apply, DateKind::Forced),
            (first.auto_applied_after, DateKind::AutoAfter),
            (first.current_apply, DateKind::Current),
        ] {
            if let Some(t) = t.filter(|t| !shown.contains(&Some(*t))) {
                line.push(&format!(" · {} {}", kind.label(), date(t)));
                shown.push(Some(t));
            }
        }
        line.push(&format!(
            " · opt-in: {}",
            first.opt_in_status.as_deref().unwrap_or("none")
        ));
        if let Window::Unknown(why) = &first.window {
            line.push(" · window unknown (");
            line.push(&opswatch_slack::truncate_plain(why, 200));
            line.push("): the dates are RDS's");
        }
        // The resources, as many per line as fit. The group's line and its first resources
        // are one unit (one section, never split across messages); a group too big for one
        // section goes on in units that name the action again.
        let kind = first.kind();
        let n = group.len();
        let due = &when;
        // Across an organization, the account each group belongs to, by name.
        let place = match &first.account {
            Some(a) => format!("{} · {}", first.region, self.names.label(a)),
            None => first.region.clone(),
        };
        let lead = |continued: bool| {
            let mut m = Mrkdwn::trusted("        ");
            if continued {
                m.push(&format!("… {n} {} in {place}, continued (", kind.noun(n)));
                m.push_code(&first.action);
                m.push(&format!(" {due}): "));
            } else {
                m.push(&format!("{n} {} in {place}: ", kind.noun(n)));
            }
            m
        };
        let links: Vec<Mrkdwn> = group.iter().map(resource_link).collect();
        let mut start = 0;
        while start < links.len() {
            let mut unit = if start == 0 {
                let mut u = line.clone();
                u.push_trusted("\n");
                u.push_mrkdwn(&lead(false));
                u
            } else {
                lead(true)
            };
            let mut len = unit.chars();
            let mut end = start;
            while end < links.len() && (end == start || len + 2 + links[end].chars() <= UNIT) {
                if end > start {
                    unit.push_trusted(", ");
                }
                len += 2 + links[end].chars();
                unit.push_mrkdwn(&links[end]);
                end += 1;
            }
            out.push(unit);
            start = end;
        }
    }
}

fn same_group(a: &Pending, b: &Pending) -> bool {
    a.due() == b.due()
        && a.window_key() == b.window_key()
        && matches!(a.window, Window::Unknown(_)) == matches!(b.window, Window::Unknown(_))
        && a.change == b.change
        && a.action == b.action
        && a.description == b.description
        && a.opt_in_status == b.opt_in_status
        && (a.forced_apply, a.auto_applied_after, a.current_apply)
            == (b.forced_apply, b.auto_applied_after, b.current_apply)
        && a.region == b.region
        && a.account == b.account
        && a.kind() == b.kind()
}

fn resource_link(p: &Pending) -> Mrkdwn {
    let mut m = Mrkdwn::new();
    match Arn::parse(&p.arn).and_then(|a| a.console_url()) {
        Some(url) => {
            m.push_link(&url, p.name());
        }
        None => {
            m.push_bold(p.name());
        }
    }
    if let Kind::Other(_) = p.kind() {
        m.push(&format!(" ({})", p.arn));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sort;

    const NOW: i64 = 1_795_593_600; // 2026-11-25T08:00:00Z
    const DAY: i64 = 86_400;
    const MIDNIGHT: i64 = 1_795_564_800;

    fn p(region: &str, arn: &str, action: &str, description: &str) -> Pending {
        Pending {
            region: region.into(),
            arn: arn.into(),
            action: action.into(),
            description: description.into(),
            opt_in_status: None,
            auto_applied_after: None,
            forced_apply: None,
            current_apply: None,
            window: Window::NotAsked,
            change: None,
            account: None,
            tags: Default::default(),
        }
    }

    fn sample() -> Vec<Pending> {
        let mut list = vec![
            Pending {
                auto_applied_after: Some(MIDNIGHT + 2 * DAY),
                forced_apply: Some(MIDNIGHT + 9 * DAY),
                current_apply: Some(MIDNIGHT + 2 * DAY),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:cluster:aurora-prod",
                    "system-update",
                    "Upgrade to Aurora PostgreSQL 15.10",
                )
            },
            Pending {
                auto_applied_after: Some(MIDNIGHT + 25 * DAY),
                forced_apply: Some(MIDNIGHT + 51 * DAY),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:db:aurora-prod-instance-2",
                    "ca-certificate-rotation",
                    "Certificate rotation",
                )
            },
            Pending {
                auto_applied_after: Some(MIDNIGHT + 25 * DAY),
                forced_apply: Some(MIDNIGHT + 51 * DAY),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:db:aurora-prod-instance-1",
                    "ca-certificate-rotation",
                    "Certificate rotation",
                )
            },
            p(
                "us-east-1",
                "arn:aws:rds:us-east-1:111122223333:db:reporting-mysql",
                "os-upgrade",
                "New Operating System update is available <!channel> & more",
            ),
            Pending {
                opt_in_status: Some("next-maintenance".into()),
                current_apply: Some(MIDNIGHT + DAY + 3 * 3600),
                ..p(
                    "eu-west-1",
                    "arn:aws:rds:eu-west-1:111122223333:db:legacy-pg",
                    "db-upgrade",
                    "Upgrade to PostgreSQL 13.20",
                )
            },
        ];
        sort(&mut list, NOW);
        list
    }

    fn regions() -> Vec<String> {
        vec!["us-east-1".into(), "eu-west-1".into(), "ap-south-1".into()]
    }

    #[test]
    fn each_action_weighs_by_when_it_applies() {
        let now = 1_764_115_200; // 2025-11-26T00:00:00Z
        let d = Digest {
            now,
            warn_days: 7,
            regions: &[],
            failed: &[],
            pending: &[],
            names: &opswatch_support::AccountNames::default(),
            org: None,
        };
        let at = |secs: Option<i64>, opt_in: bool| Pending {
            region: "eu-west-1".into(),
            arn: "arn:aws:rds:eu-west-1:111122223333:db:a".into(),
            action: "system-update".into(),
            description: String::new(),
            opt_in_status: opt_in.then(|| "next-maintenance".into()),
            auto_applied_after: secs,
            forced_apply: None,
            current_apply: None,
            window: Window::NotAsked,
            change: None,
            account: None,
            tags: Default::default(),
        };
        assert_eq!(
            d.severity(&at(Some(now + 3_600), false)),
            Severity::Critical
        );
        assert_eq!(
            d.severity(&at(Some(now - 3_600), false)),
            Severity::Critical
        );
        assert_eq!(
            d.severity(&at(Some(now + 86_400), true)),
            Severity::Critical
        );
        assert_eq!(
            d.severity(&at(Some(now + 2 * 86_400), false)),
            Severity::Warning
        );
        assert_eq!(
            d.severity(&at(Some(now + 7 * 86_400), false)),
            Severity::Warning
        );
        assert_eq!(
            d.severity(&at(Some(now + 9 * 86_400), false)),
            Severity::Info
        );
        // No date: applied only if someone opts in.
        assert_eq!(d.severity(&at(None, false)), Severity::Info);
    }

    #[test]
    fn digest_message() {
        let pending = sample();
        let failed = [RegionFailure {
            account: None,
            region: Some("ap-south-1".into()),
            why: "AccessDenied: User: arn:aws:sts::111122223333:assumed-role/x is not authorized to perform: rds:DescribePendingMaintenanceActions".into(),
        }];
        let regions = regions();
        let d = Digest {
            now: NOW,
            warn_days: 7,
            regions: &regions,
            failed: &failed,
            pending: &pending,
            names: &opswatch_support::AccountNames::default(),
            org: None,
        };
        assert_eq!(d.due_soon(), 2);
        let messages = d.alert(false).unwrap().into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        insta::assert_json_snapshot!(messages);
    }

    /// Across an organization: each group under its account's name, an account that could
    /// not be entered and a region that could not be read named, the suspended one counted.
    #[test]
    fn organization_digest_message() {
        let names = opswatch_support::AccountNames::parse(
            "111122223333=management,222233334444=payments <!channel>",
        )
        .unwrap();
        let of = |account: &str, region: &str, name: &str| Pending {
            account: Some(account.into()),
            auto_applied_after: Some(MIDNIGHT + 3 * DAY),
            ..p(
                region,
                &format!("arn:aws:rds:{region}:{account}:cluster:{name}"),
                "system-update",
                "Patch",
            )
        };
        let mut pending = vec![
            of("222233334444", "us-east-1", "orders"),
            of("111122223333", "us-east-1", "admin"),
            of("111122223333", "eu-west-1", "admin-eu"),
            of("222233334444", "us-east-1", "ledger"),
        ];
        sort(&mut pending, NOW);
        let failed = [
            RegionFailure {
                account: Some("333344445555".into()),
                region: None,
                why: "AssumeRole arn:aws:iam::333344445555:role/opswatch-rds-reader: AccessDenied: User: arn:aws:sts::111122223333:assumed-role/checker/x is not authorized to perform: sts:AssumeRole".into(),
            },
            RegionFailure {
                account: Some("222233334444".into()),
                region: Some("eu-west-1".into()),
                why: "Throttling: Rate exceeded".into(),
            },
        ];
        let regions = vec!["us-east-1".to_owned(), "eu-west-1".to_owned()];
        let d = Digest {
            now: NOW,
            warn_days: 7,
            regions: &regions,
            failed: &failed,
            pending: &pending,
            names: &names,
            org: Some(OrgSummary {
                asked: 3,
                skipped: 1,
            }),
        };
        let messages = d.alert(false).unwrap().into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        // A name is text from outside: escaped like the rest.
        assert!(!text.contains("<!channel>"), "{text}");
        // One account's two clusters in one region are one group, apart from the other's.
        assert!(
            text.contains("2 clusters in us-east-1 · 222233334444 (payments &lt;!channel&gt;): "),
            "{text}"
        );
        assert!(
            text.contains("1 cluster in us-east-1 · 111122223333 (management): "),
            "{text}"
        );
        assert!(
            text.contains("2 of 3 read, 1 not active (skipped)"),
            "{text}"
        );
        insta::assert_json_snapshot!(messages);
    }

    /// The changes report: window times first, each group saying why it is shown.
    #[test]
    fn changes_message() {
        use crate::window::MaintenanceWindow;
        let window = |w: &str| Window::Known(MaintenanceWindow::parse(w).unwrap());
        let mut pending = vec![
            Pending {
                auto_applied_after: Some(MIDNIGHT + 2 * DAY),
                change: Some(Change::New),
                window: window("sun:23:30-mon:00:30"),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:db:orders-1",
                    "ca-certificate-rotation",
                    "Certificate rotation",
                )
            },
            Pending {
                auto_applied_after: Some(MIDNIGHT + 20 * DAY),
                forced_apply: Some(MIDNIGHT + 22 * DAY),
                change: Some(Change::Changed {
                    was: Some(MIDNIGHT + 9 * DAY + 7 * 3600),
                }),
                window: window("wed:07:00-wed:07:30"),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:cluster:aurora-prod",
                    "system-update",
                    "Upgrade to Aurora PostgreSQL 15.10",
                )
            },
            Pending {
                opt_in_status: Some("next-maintenance".into()),
                change: Some(Change::Reminder),
                window: window("thu:03:00-thu:03:30"),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:db:legacy-pg",
                    "db-upgrade",
                    "Upgrade to PostgreSQL 13.20",
                )
            },
            Pending {
                opt_in_status: Some("immediate".into()),
                change: Some(Change::New),
                window: Window::Unknown("DescribeDBInstances: AccessDenied: <!channel>".into()),
                ..p(
                    "us-east-1",
                    "arn:aws:rds:us-east-1:111122223333:db:reporting-mysql",
                    "os-upgrade",
                    "New Operating System update is available",
                )
            },
        ];
        sort(&mut pending, NOW);
        let regions = vec!["us-east-1".to_owned()];
        let d = Digest {
            now: NOW,
            warn_days: 7,
            regions: &regions,
            failed: &[],
            pending: &pending,
            names: &opswatch_support::AccountNames::default(),
            org: None,
        };
        let r = crate::report::Report {
            unchanged: 5,
            remind: 24 * 3600,
            ..Default::default()
        };
        let messages = d.changes_alert(&r).into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        insta::assert_json_snapshot!(messages);
    }

    #[test]
    fn nothing_to_say_unless_asked() {
        let regions = regions();
        let d = Digest {
            now: NOW,
            warn_days: 7,
            regions: &regions,
            failed: &[],
            pending: &[],
            names: &opswatch_support::AccountNames::default(),
            org: None,
        };
        assert!(d.alert(false).is_none());
        let m = d.alert(true).unwrap().into_messages();
        assert_eq!(m.len(), 1);
        assert!(m[0].text.contains("nothing pending"), "{}", m[0].text);
    }

    #[test]
    fn dates() {
        assert_eq!(date(MIDNIGHT), "2026-11-25");
        assert_eq!(date(MIDNIGHT + 3 * 3600 + 60), "2026-11-25 03:01 UTC");
    }

    /// A fleet of 200 instances: one certificate rotation for all, and one distinct action
    /// each. Every resource appears exactly once per action, and the messages are as few
    /// as Slack's per-message limit allows.
    #[test]
    fn a_fleet_of_200_fits_in_few_messages_without_loss() {
        let mut pending = Vec::new();
        for i in 0..200 {
            let arn = format!("arn:aws:rds:us-east-1:111122223333:db:fleet-db-{i:03}");
            pending.push(Pending {
                auto_applied_after: Some(MIDNIGHT + 30 * DAY),
                ..p(
                    "us-east-1",
                    &arn,
                    "ca-certificate-rotation",
                    "Certificate rotation",
                )
            });
            pending.push(Pending {
                forced_apply: Some(MIDNIGHT + (i % 40) * DAY),
                ..p("us-east-1", &arn, "system-update", "Patch")
            });
        }
        sort(&mut pending, NOW);
        let regions = vec!["us-east-1".to_owned()];
        let d = Digest {
            now: NOW,
            warn_days: 7,
            regions: &regions,
            failed: &[],
            pending: &pending,
            names: &opswatch_support::AccountNames::default(),
            org: None,
        };
        let messages = d.alert(false).unwrap().into_messages();
        let all = serde_json::to_string(&messages).unwrap();
        for i in 0..200 {
            let name = format!("|fleet-db-{i:03}>");
            assert_eq!(all.matches(&name).count(), 2, "{name}");
        }
        let text_len = |m: &opswatch_slack::Message| -> usize {
            m.blocks
                .iter()
                .map(|b| serde_json::to_string(b).unwrap().len())
                .sum()
        };
        let total: usize = messages.iter().map(text_len).sum();
        // Greedy packing: no message could have taken the next one's first block.
        assert!(
            messages.len() <= total / 12_000 + 2,
            "{} messages for {total} bytes of blocks",
            messages.len()
        );
        // The rotation's 200 instances outgrow one section: the rest names the action again.
        assert!(
            all.contains(
                "instances in us-east-1, continued (`ca-certificate-rotation` 2026-12-25): "
            ),
            "{all}"
        );
        // Soonest first across messages.
        let first_dates: Vec<usize> = ["2026-11-25", "2026-12-01", "2027-01-03"]
            .iter()
            .map(|d| all.find(d).unwrap())
            .collect();
        assert!(
            first_dates.windows(2).all(|w| w[0] < w[1]),
            "{first_dates:?}"
        );
    }

    proptest::proptest! {
        /// Any mix of actions: each (resource, action) appears exactly once across the
        /// messages, groups come soonest first, and every message is within Slack's limits.
        #[test]
        fn every_action_once_in_due_order(
            raw in proptest::collection::vec(
                (0u8..60, 0u8..4, proptest::option::of(-10i64..60), proptest::option::of(-10i64..60), 0u8..3),
                0..300,
            ),
            bulk in 0usize..120,
        ) {
            let actions = ["system-update", "db-upgrade", "os-upgrade", "ca-certificate-rotation"];
            let mut pending: Vec<Pending> = Vec::new();
            for (res, act, auto, forced, region) in raw {
                let region = ["us-east-1", "eu-west-1", "ap-south-1"][usize::from(region)];
                let kind = if res % 3 == 0 { "cluster" } else { "db" };
                let arn = format!("arn:aws:rds:{region}:111122223333:{kind}:res-{res:02}");
                let p = Pending {
                    auto_applied_after: auto.map(|d| MIDNIGHT + d * DAY),
                    forced_apply: forced.map(|d| MIDNIGHT + d * DAY),
                    ..p(region, &arn, actions[usize::from(act)], "d")
                };
                if !pending.iter().any(|q| q.arn == p.arn && q.action == p.action) {
                    pending.push(p);
                }
            }
            // A fleet with one action in common: a group bigger than a section.
            for i in 0..bulk {
                let arn = format!("arn:aws:rds:us-east-1:111122223333:db:fleet-{i:03}");
                pending.push(Pending {
                    auto_applied_after: Some(MIDNIGHT + 30 * DAY),
                    ..p("us-east-1", &arn, "ca-certificate-rotation", "Certificate rotation")
                });
            }
            sort(&mut pending, NOW);
            let regions = vec!["us-east-1".to_owned(), "eu-west-1".to_owned(), "ap-south-1".to_owned()];
            let d = Digest { now: NOW, warn_days: 7, regions: &regions, failed: &[], pending: &pending , names: &opswatch_support::AccountNames::default(), org: None};
            let Some(alert) = d.alert(false) else {
                proptest::prop_assert!(pending.is_empty());
                return Ok(());
            };
            let messages = alert.into_messages();
            let mut seen: Vec<(String, String, i64)> = Vec::new();
            for m in &messages {
                proptest::prop_assert_eq!(m.limit_violation(), None);
                for b in &m.blocks {
                    let opswatch_slack::Block::Section { text: Some(t), .. } = b else { continue };
                    let mut action = String::new();
                    let mut due = i64::MAX;
                    // Every section starts with a group's line or a continuation naming it.
                    let first = t.text.lines().next().unwrap_or_default();
                    proptest::prop_assert!(!first.starts_with("        ") || first.contains(", continued (`"), "{first}");
                    for line in t.text.lines() {
                        if !line.starts_with("        ") {
                            action = line.split('`').nth(1).unwrap_or_default().to_owned();
                            due = line.split('*').nth(1).and_then(|d| {
                                aws_smithy_types::DateTime::from_str(&format!("{d}T00:00:00Z"), Format::DateTime).ok()
                            }).map_or(i64::MAX, |t| t.secs());
                            continue;
                        }
                        if line.contains(", continued (`") {
                            let mut parts = line.split('`');
                            let again = parts.nth(1).unwrap_or_default();
                            if action.is_empty() {
                                // A section that continues a group from the one before.
                                action = again.to_owned();
                                due = parts.next().and_then(|rest| rest.trim().get(..10)).and_then(|d| {
                                    aws_smithy_types::DateTime::from_str(&format!("{d}T00:00:00Z"), Format::DateTime).ok()
                                }).map_or(i64::MAX, |t| t.secs());
                            }
                            proptest::prop_assert_eq!(again, action.as_str());
                        }
                        for label in line.split('|').skip(1).filter_map(|s| s.split_once('>')) {
                            seen.push((label.0.to_owned(), action.clone(), due));
                        }
                    }
                }
            }
            proptest::prop_assert_eq!(seen.len(), pending.len());
            proptest::prop_assert!(seen.windows(2).all(|w| w[0].2 <= w[1].2), "not soonest first");
            let mut want: Vec<(String, String)> = pending.iter().map(|p| (p.name().to_owned(), p.action.clone())).collect();
            let mut got: Vec<(String, String)> = seen.into_iter().map(|(r, a, _)| (r, a)).collect();
            want.sort();
            got.sort();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
