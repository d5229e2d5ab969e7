//! Who is watched, and what a batch of sightings comes to (pure): every watched user's
//! connection is one line; failed connections of one user from one host, one line with a
//! count.

use opswatch_support::Patterns;

use crate::parse::{AuditEvent, Operation};

/// `WATCH_USERS` (empty: everyone) and `IGNORE_USERS` (default `rdsadmin`); a trailing `*`
/// matches a prefix, case is ignored (RDS writes both `rdsadmin` and `RDSADMIN`). Ignoring
/// wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub watch: Patterns,
    pub ignore: Patterns,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            watch: Patterns::default(),
            ignore: Patterns::parse("rdsadmin"),
        }
    }
}

impl Rules {
    pub fn watched(&self, user: &str) -> bool {
        !self.ignore.matches(user) && (self.watch.is_empty() || self.watch.matches(user))
    }

    /// Whether an event is alerted: a connection or a failed one, by a watched user.
    pub fn alerts(&self, e: &AuditEvent) -> bool {
        matches!(e.operation, Operation::Connect | Operation::FailedConnect)
            && self.watched(&e.user)
    }

    /// "every user except rdsadmin", "admin, root".
    pub fn describe(&self) -> String {
        let who = if self.watch.is_empty() {
            "every user".to_owned()
        } else {
            self.watch.entries().join(", ")
        };
        if self.ignore.is_empty() {
            who
        } else {
            format!("{who} except {}", self.ignore.entries().join(", "))
        }
    }
}

/// An alerted event and where it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sighting {
    /// "cluster", "instance" or "log group" (from the log group's name).
    pub kind: &'static str,
    pub source: String,
    /// The DB instance (MySQL's serverhost, else the log stream).
    pub instance: String,
    pub event: AuditEvent,
}

/// One line of the alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Connected(Sighting),
    Failed {
        first: Sighting,
        count: usize,
        last_ms: i64,
        /// Distinct result codes, in order of first appearance.
        retcodes: Vec<String>,
    },
}

impl Line {
    pub fn time_ms(&self) -> i64 {
        match self {
            Line::Connected(s) => s.event.time_ms,
            Line::Failed { first, .. } => first.event.time_ms,
        }
    }
}

/// Connections one line each; failed connections grouped by (source, user, host). In time
/// order.
pub fn summarize(mut sightings: Vec<Sighting>) -> Vec<Line> {
    sightings.sort_by_key(|s| s.event.time_ms);
    let mut lines: Vec<Line> = Vec::new();
    for s in sightings {
        if s.event.operation != Operation::FailedConnect {
            lines.push(Line::Connected(s));
            continue;
        }
        let same = lines.iter_mut().find_map(|l| match l {
            Line::Failed {
                first,
                count,
                last_ms,
                retcodes,
            } if first.source == s.source
                && first.event.user == s.event.user
                && first.event.host == s.event.host =>
            {
                Some((count, last_ms, retcodes))
            }
            _ => None,
        });
        match same {
            Some((count, last_ms, retcodes)) => {
                *count += 1;
                *last_ms = s.event.time_ms;
                if !retcodes.contains(&s.event.retcode) {
                    retcodes.push(s.event.retcode.clone());
                }
            }
            None => lines.push(Line::Failed {
                count: 1,
                last_ms: s.event.time_ms,
                retcodes: vec![s.event.retcode.clone()],
                first: s,
            }),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(user: &str, host: &str, op: Operation, t: i64) -> Sighting {
        Sighting {
            kind: "cluster",
            source: "aurora-prod".into(),
            instance: "i-1".into(),
            event: AuditEvent {
                time_ms: t,
                user: user.into(),
                host: host.into(),
                operation: op,
                database: String::new(),
                retcode: if t % 2 == 0 {
                    "1045".into()
                } else {
                    "1044".into()
                },
                server: String::new(),
            },
        }
    }

    #[test]
    fn watching() {
        let all = Rules::default();
        assert!(all.watched("admin") && all.watched("app") && !all.watched("rdsadmin"));
        assert!(!all.watched("RDSADMIN"));
        let some = Rules {
            watch: Patterns::parse("admin, break_glass_*"),
            ignore: Patterns::parse("rdsadmin"),
        };
        assert!(some.watched("admin") && some.watched("break_glass_2"));
        assert!(!some.watched("app") && !some.watched("administrator"));
        let ignore_wins = Rules {
            watch: Patterns::parse("rdsadmin"),
            ignore: Patterns::parse("rdsadmin"),
        };
        assert!(!ignore_wins.watched("rdsadmin"));
        assert_eq!(all.describe(), "every user except rdsadmin");
    }

    #[test]
    fn failed_connects_from_one_host_are_one_line() {
        let lines = summarize(vec![
            sighting("admin", "10.0.1.7", Operation::FailedConnect, 30),
            sighting("admin", "10.0.1.5", Operation::Connect, 10),
            sighting("admin", "10.0.1.7", Operation::FailedConnect, 20),
            sighting("admin", "10.0.1.8", Operation::FailedConnect, 25),
            sighting("admin", "10.0.1.7", Operation::FailedConnect, 41),
        ]);
        assert_eq!(lines.len(), 3);
        assert!(matches!(&lines[0], Line::Connected(s) if s.event.time_ms == 10));
        match &lines[1] {
            Line::Failed {
                first,
                count,
                last_ms,
                retcodes,
            } => {
                assert_eq!(
                    (first.event.host.as_str(), *count, *last_ms),
                    ("10.0.1.7", 3, 41)
                );
                assert_eq!(retcodes, &["1045", "1044"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&lines[2], Line::Failed { count: 1, .. }));
    }
}
