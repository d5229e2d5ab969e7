//! Pending maintenance as the digest sees it (pure): what will be applied to which resource,
//! which of its dates bites first, and how many days away that is.

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

/// Soonest first; actions without a date last; ties in a stable, readable order that keeps
/// identical actions on different resources next to each other.
pub fn sort(list: &mut [Pending]) {
    list.sort_by(|a, b| {
        let key = |p: &Pending| {
            (
                p.due().map_or((1, 0), |(t, _)| (0, t)),
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
            .then_with(|| a.region.cmp(&b.region))
            .then_with(|| a.kind().cmp(&b.kind()))
            .then_with(|| a.name().cmp(b.name()))
    });
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
        sort(&mut list);
        let names: Vec<&str> = list.iter().map(Pending::name).collect();
        assert_eq!(names, ["early", "a", "b", "late", "none"]);
    }
}
