//! Pending maintenance as the digest sees it (pure): what will be applied to which resource,
//! when — in which maintenance window, or on which date — and how many days away that is.

use crate::window::MaintenanceWindow;

/// One pending maintenance action on one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The region whose API reported it.
    pub region: String,
    /// The resource's ARN (`ResourceIdentifier`).
    pub arn: String,
    pub action: String,
    pub description: String,
    pub opt_in_status: Option<String>,
    /// Unix seconds.
    pub auto_applied_after: Option<i64>,
    pub forced_apply: Option<i64>,
    pub current_apply: Option<i64>,
    /// The resource's maintenance window, once asked for.
    pub window: Window,
    /// What a changes report says of it (`None` in a digest).
    pub change: Option<Change>,
    /// The account it was read from, across an organization (`ORG_ACCOUNTS`); `None`: the
    /// function's own account, as its ARN says.
    pub account: Option<String>,
    /// The resource's tags (`TagList`), for tag routes.
    pub tags: opswatch_delivery::Tags,
}

/// Why a changes report shows an action.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Not in the last delivered report.
    New,
    /// Its dates, opt-in status or window changed; when it applied before (if it had a
    /// time).
    Changed { was: Option<i64> },
    /// Unchanged, and its time is near.
    Reminder,
}

/// What is known of a resource's maintenance window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Window {
    /// Not asked (a test, or a kind of resource that has none).
    #[default]
    NotAsked,
    Known(MaintenanceWindow),
    /// It could not be read: why, in one line.
    Unknown(String),
}

/// When an action will be applied, as far as the checker can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applies {
    /// Opted in (`immediate`): being applied now.
    Immediately,
    /// At the start of this maintenance window (epoch seconds).
    Window(i64),
    /// On its `ForcedApplyDate`, before the window it would otherwise wait for.
    Forced(i64),
    /// The window is unknown: the date that bites first, as RDS gives it.
    Date(i64, DateKind),
    /// No date and no opt-in: applied only if someone opts in.
    Unscheduled,
}

impl Applies {
    /// When, in epoch seconds (`now` for `Immediately`); `None` when unscheduled.
    pub fn at(&self, now: i64) -> Option<i64> {
        match *self {
            Applies::Immediately => Some(now),
            Applies::Window(t) | Applies::Forced(t) | Applies::Date(t, _) => Some(t),
            Applies::Unscheduled => None,
        }
    }
}

/// Which date of an action bites first. On a tie (RDS sets `CurrentApplyDate` to the date
/// that decides it) the order here names the one that explains it best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DateKind {
    /// `ForcedApplyDate`: applied on this date whatever the maintenance window.
    Forced,
    /// `AutoAppliedAfterDate`: applied in the first maintenance window after this date.
    AutoAfter,
    /// `CurrentApplyDate`: when it will be applied, opt-in requests taken into account.
    Current,
}

impl DateKind {
    pub fn label(self) -> &'static str {
        match self {
            DateKind::Current => "applies",
            DateKind::Forced => "forced apply",
            DateKind::AutoAfter => "auto-applied after",
        }
    }
}

/// What kind of resource an ARN names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Cluster,
    Instance,
    Other(String),
}

impl Kind {
    pub fn noun(&self, n: usize) -> String {
        let one = match self {
            Kind::Cluster => "cluster",
            Kind::Instance => "instance",
            Kind::Other(t) => t.as_str(),
        };
        if n == 1 {
            one.to_owned()
        } else {
            format!("{one}s")
        }
    }
}

/// The parts of an RDS ARN (`arn:aws:rds:us-east-1:111122223333:cluster:aurora-prod`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub kind: Kind,
    pub name: &'a str,
}

impl<'a> Arn<'a> {
    pub fn parse(arn: &'a str) -> Option<Self> {
        let mut p = arn.splitn(7, ':');
        let (prefix, partition, _service, region, account, kind, name) = (
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
            p.next()?,
        );
        if prefix != "arn" || name.is_empty() {
            return None;
        }
        let kind = match kind {
            "cluster" => Kind::Cluster,
            "db" => Kind::Instance,
            other => Kind::Other(other.to_owned()),
        };
        Some(Self {
            partition,
            region,
            account,
            kind,
            name,
        })
    }

    /// The resource's maintenance tab in the RDS console (clusters and instances only).
    pub fn console_url(&self) -> Option<String> {
        let is_cluster = match self.kind {
            Kind::Cluster => true,
            Kind::Instance => false,
            Kind::Other(_) => return None,
        };
        let region = self.region;
        let host = match self.partition {
            "aws" => format!("https://{region}.console.aws.amazon.com"),
            "aws-cn" => "https://console.amazonaws.cn".to_owned(),
            "aws-us-gov" => "https://console.amazonaws-us-gov.com".to_owned(),
            _ => return None,
        };
        Some(format!(
            "{host}/rds/home?region={region}#database:id={};is-cluster={is_cluster};tab=maintenance",
            self.name
        ))
    }
}

impl Pending {
    /// The date that will bite first and which one it is; `None` when the action has no date
    /// (it is applied only if someone opts in).
    pub fn due(&self) -> Option<(i64, DateKind)> {
        [
            (self.forced_apply, DateKind::Forced),
            (self.auto_applied_after, DateKind::AutoAfter),
            (self.current_apply, DateKind::Current),
        ]
        .into_iter()
        .filter_map(|(t, k)| t.map(|t| (t, k)))
        .min()
    }

    /// When the action will be applied, seen at `now`: `immediate` opt-ins now; with the
    /// window known, the first window starting at or after the `AutoAppliedAfterDate` (or at
    /// or after `now` for a `next-maintenance` opt-in or a date already past), unless the
    /// `ForcedApplyDate` comes first; without it, the first date RDS gives.
    pub fn applies(&self, now: i64) -> Applies {
        let opt_in = self.opt_in_status.as_deref();
        if opt_in == Some("immediate") {
            return Applies::Immediately;
        }
        let Window::Known(window) = &self.window else {
            return self
                .due()
                .map_or(Applies::Unscheduled, |(t, k)| Applies::Date(t, k));
        };
        let after = if opt_in == Some("next-maintenance") {
            Some(now)
        } else {
            self.auto_applied_after.map(|t| t.max(now))
        };
        let start = after.map(|t| window.next_start(t));
        match (start, self.forced_apply) {
            (Some(s), Some(f)) if f < s => Applies::Forced(f),
            (Some(s), _) => Applies::Window(s),
            (None, Some(f)) => Applies::Forced(f),
            // Only a CurrentApplyDate: RDS's own answer, shown as it is.
            (None, None) => self.current_apply.map_or(Applies::Unscheduled, |t| {
                Applies::Date(t, DateKind::Current)
            }),
        }
    }

    /// The window, where it decides when the action applies (an action with no date and no
    /// opt-in waits for no window).
    /// What it was read as part of: its region, or `<account>/<region>` across an
    /// organization. A changes report forgets an action only in a unit that was read.
    pub fn unit(&self) -> String {
        match &self.account {
            Some(a) => format!("{a}/{}", self.region),
            None => self.region.clone(),
        }
    }

    /// The account it belongs to: the one it was read from, else its ARN's.
    pub fn account_id(&self) -> Option<&str> {
        self.account
            .as_deref()
            .or_else(|| Arn::parse(&self.arn).map(|a| a.account))
    }

    pub fn window_key(&self) -> Option<&str> {
        if self.due().is_none() && self.opt_in_status.is_none() {
            return None;
        }
        window_spec(self)
    }

    /// The resource's name (from its ARN; the whole identifier when it is not an ARN).
    pub fn name(&self) -> &str {
        Arn::parse(&self.arn).map_or(self.arn.as_str(), |a| a.name)
    }

    pub fn kind(&self) -> Kind {
        Arn::parse(&self.arn).map_or(Kind::Other("resource".into()), |a| a.kind)
    }
}

const DAY: i64 = 86_400;

/// Whole calendar days (UTC) from `now` to `at`: 0 is the same day, 1 tomorrow, −1 yesterday.
pub fn days_until(now: i64, at: i64) -> i64 {
    at.div_euclid(DAY) - now.div_euclid(DAY)
}

/// `today`, `tomorrow`, `in 5 days`, `yesterday`, `3 days ago`.
pub fn relative(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "tomorrow".into(),
        -1 => "yesterday".into(),
        d if d > 1 => format!("in {d} days"),
        d => format!("{} days ago", -d),
    }
}

/// Soonest first (when each applies, seen at `now`); actions without a date last; ties in a
/// stable, readable order that keeps identical actions on different resources next to each
/// other.
pub fn sort(list: &mut [Pending], now: i64) {
    list.sort_by(|a, b| {
        let key = |p: &Pending| {
            (
                p.applies(now).at(now).map_or((1, 0), |t| (0, t)),
                p.action.clone(),
                p.description.clone(),
            )
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a.due().cmp(&b.due()))
            .then_with(|| {
                (a.forced_apply, a.auto_applied_after, a.current_apply).cmp(&(
                    b.forced_apply,
                    b.auto_applied_after,
                    b.current_apply,
                ))
            })
            .then_with(|| a.opt_in_status.cmp(&b.opt_in_status))
            .then_with(|| a.window_key().cmp(&b.window_key()))
            .then_with(|| a.region.cmp(&b.region))
            .then_with(|| a.account.cmp(&b.account))
            .then_with(|| a.kind().cmp(&b.kind()))
            .then_with(|| a.name().cmp(b.name()))
    });
}

/// How many actions of `list` a changes report shows for the reason `which` picks.
pub fn count_changes(list: &[Pending], which: fn(&Change) -> bool) -> usize {
    list.iter()
        .filter(|p| p.change.as_ref().is_some_and(which))
        .count()
}

/// The window as RDS spells it, when known.
pub fn window_spec(p: &Pending) -> Option<&str> {
    match &p.window {
        Window::Known(w) => Some(w.spec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn pending(arn: &str, action: &str, auto: Option<i64>, forced: Option<i64>) -> Pending {
        Pending {
            region: "us-east-1".into(),
            arn: arn.into(),
            action: action.into(),
            description: String::new(),
            opt_in_status: None,
            auto_applied_after: auto,
            forced_apply: forced,
            current_apply: None,
            window: Window::NotAsked,
            change: None,
            account: None,
            tags: Default::default(),
        }
    }

    #[test]
    fn arns() {
        let a = Arn::parse("arn:aws:rds:eu-west-1:111122223333:cluster:aurora-prod").unwrap();
        assert_eq!(
            (a.partition, a.region, a.account, &a.kind, a.name),
            (
                "aws",
                "eu-west-1",
                "111122223333",
                &Kind::Cluster,
                "aurora-prod"
            )
        );
        assert_eq!(
            a.console_url().unwrap(),
            "https://eu-west-1.console.aws.amazon.com/rds/home?region=eu-west-1#database:id=aurora-prod;is-cluster=true;tab=maintenance"
        );
        let i = Arn::parse("arn:aws-cn:rds:cn-north-1:111122223333:db:pg-1").unwrap();
        assert_eq!(i.kind, Kind::Instance);
        assert!(i.console_url().unwrap().starts_with("https://console.amazonaws.cn/rds/home?region=cn-north-1#database:id=pg-1;is-cluster=false"));
        assert_eq!(Arn::parse("not-an-arn"), None);
        assert_eq!(Arn::parse("arn:aws:rds:us-east-1:1:db:"), None);
        let p = pending("weird", "system-update", None, None);
        assert_eq!((p.name(), p.kind().noun(2)), ("weird", "resources".into()));
    }

    #[test]
    fn the_first_date_bites() {
        let mut p = pending("arn:aws:rds:us-east-1:1:db:a", "x", Some(300), Some(200));
        assert_eq!(p.due(), Some((200, DateKind::Forced)));
        p.current_apply = Some(200);
        assert_eq!(
            p.due(),
            Some((200, DateKind::Forced)),
            "a tie names the forced date"
        );
        p.current_apply = Some(100);
        assert_eq!(p.due(), Some((100, DateKind::Current)));
        assert_eq!(pending("a", "x", None, None).due(), None);
    }

    /// The three resources, seen on Monday 2026-11-23 08:00 UTC.
    #[test]
    fn applied_at_the_start_of_the_next_window() {
        const MONDAY: i64 = 1_795_392_000; // 2026-11-23T00:00:00Z
        const H: i64 = 3_600;
        let now = MONDAY + 8 * H;
        let with = |arn: &str, window: &str| Pending {
            window: Window::Known(MaintenanceWindow::parse(window).unwrap()),
            ..pending(arn, "system-update", None, None)
        };
        let at = |p: &Pending| match p.applies(now) {
            Applies::Window(t) => opswatch_support::rfc3339(t),
            other => format!("{other:?}"),
        };
        // An auto-applied-after date of Wednesday 03:00, window wed:07:00-wed:07:30.
        let cluster = Pending {
            auto_applied_after: Some(MONDAY + 2 * 24 * H + 3 * H),
            current_apply: Some(MONDAY + 2 * 24 * H + 3 * H),
            ..with("arn:aws:rds:us-east-1:1:cluster:c", "wed:07:00-wed:07:30")
        };
        assert_eq!(at(&cluster), "2026-11-25T07:00:00Z");
        // A next-maintenance opt-in, seen on Monday, window sat:22:00-sat:22:30.
        let instance = Pending {
            opt_in_status: Some("next-maintenance".into()),
            ..with("arn:aws:rds:us-east-1:1:db:i", "sat:22:00-sat:22:30")
        };
        assert_eq!(at(&instance), "2026-11-28T22:00:00Z");
        // An auto-applied-after date of Friday 00:00, window fri:01:00-fri:01:30.
        let friday = Pending {
            auto_applied_after: Some(MONDAY + 4 * 24 * H),
            ..with("arn:aws:rds:us-east-1:1:db:f", "fri:01:00-fri:01:30")
        };
        assert_eq!(at(&friday), "2026-11-27T01:00:00Z");

        // A forced date before that window wins; after it, the window does.
        let forced = Pending {
            forced_apply: Some(MONDAY + 4 * 24 * H),
            ..cluster.clone()
        };
        assert_eq!(
            forced.applies(now),
            Applies::Window(MONDAY + 2 * 24 * H + 7 * H)
        );
        let forced = Pending {
            forced_apply: Some(MONDAY + 2 * 24 * H + 5 * H),
            ..cluster.clone()
        };
        assert_eq!(
            forced.applies(now),
            Applies::Forced(MONDAY + 2 * 24 * H + 5 * H)
        );
        // Only a forced date: applied on it, whatever the window.
        let only_forced = Pending {
            forced_apply: Some(MONDAY + 9 * 24 * H),
            ..with("arn:aws:rds:us-east-1:1:db:o", "sat:22:00-sat:22:30")
        };
        assert_eq!(
            only_forced.applies(now),
            Applies::Forced(MONDAY + 9 * 24 * H)
        );
        // An auto-applied-after date already past: the next window from now.
        let late = Pending {
            auto_applied_after: Some(MONDAY - 10 * 24 * H),
            ..with("arn:aws:rds:us-east-1:1:db:l", "mon:09:00-mon:09:30")
        };
        assert_eq!(late.applies(now), Applies::Window(MONDAY + 9 * H));
        // A window across the week's end starts on Sunday.
        let sunday = Pending {
            auto_applied_after: Some(MONDAY),
            ..with("arn:aws:rds:us-east-1:1:db:s", "sun:23:30-mon:00:30")
        };
        assert_eq!(at(&sunday), "2026-11-29T23:30:00Z");
        // An immediate opt-in says so.
        let now_please = Pending {
            opt_in_status: Some("immediate".into()),
            ..cluster.clone()
        };
        assert_eq!(now_please.applies(now), Applies::Immediately);
        assert_eq!(Applies::Immediately.at(now), Some(now));
        // The window unknown: the dates as RDS gives them.
        let unknown = Pending {
            window: Window::Unknown("AccessDenied: no".into()),
            ..cluster.clone()
        };
        assert_eq!(
            unknown.applies(now),
            Applies::Date(MONDAY + 2 * 24 * H + 3 * H, DateKind::AutoAfter)
        );
        // No date, no opt-in: only if someone opts in, window or not.
        let optional = with("arn:aws:rds:us-east-1:1:db:n", "sat:22:00-sat:22:30");
        assert_eq!(optional.applies(now), Applies::Unscheduled);
        assert_eq!(Applies::Unscheduled.at(now), None);
    }

    #[test]
    fn calendar_days() {
        const MIDNIGHT: i64 = 1_795_564_800; // 2026-11-25T00:00:00Z
        let now = MIDNIGHT + 8 * 3600;
        assert_eq!(days_until(now, MIDNIGHT), 0, "earlier the same day");
        assert_eq!(days_until(now, MIDNIGHT + 86_399), 0);
        assert_eq!(
            days_until(now, MIDNIGHT + 86_400),
            1,
            "midnight tonight is tomorrow"
        );
        assert_eq!(days_until(now, now - 86_400 * 5), -5);
        assert_eq!(relative(0), "today");
        assert_eq!(relative(1), "tomorrow");
        assert_eq!(relative(12), "in 12 days");
        assert_eq!(relative(-1), "yesterday");
        assert_eq!(relative(-3), "3 days ago");
    }

    #[test]
    fn soonest_first_dateless_last() {
        let mut list = vec![
            pending("arn:aws:rds:us-east-1:1:db:none", "os-upgrade", None, None),
            pending("arn:aws:rds:us-east-1:1:db:late", "x", Some(900), None),
            pending("arn:aws:rds:us-east-1:1:db:b", "ca", Some(500), None),
            pending("arn:aws:rds:us-east-1:1:db:early", "y", None, Some(100)),
            pending("arn:aws:rds:us-east-1:1:db:a", "ca", Some(500), None),
        ];
        sort(&mut list, 0);
        let names: Vec<&str> = list.iter().map(Pending::name).collect();
        assert_eq!(names, ["early", "a", "b", "late", "none"]);
    }
}
