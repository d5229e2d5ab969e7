//! How serious a line of an audit alert is, which rule says so, and whose thread it belongs
//! to (pure).
//!
//! - `watched-user-connect` (**warning**): a watched user connected — what the function is
//!   for;
//! - `failed-connect` (**warning**), or **critical** from [`FAILED_CRITICAL`] failed attempts
//!   of one user from one host in one batch (someone is guessing).
//!
//! Thread key: the cluster (or instance) and the user.

use opswatch_delivery::Severity;

use crate::rules::{Line, Sighting};

/// Failed attempts of one user from one host that make a line critical.
pub const FAILED_CRITICAL: usize = 5;

pub fn weigh(line: &Line) -> (Severity, &'static str) {
    match line {
        Line::Connected(_) => (Severity::Warning, "watched-user-connect"),
        Line::Failed { count, .. } if *count >= FAILED_CRITICAL => {
            (Severity::Critical, "failed-connect")
        }
        Line::Failed { .. } => (Severity::Warning, "failed-connect"),
    }
}

fn sighting(line: &Line) -> &Sighting {
    match line {
        Line::Connected(s) | Line::Failed { first: s, .. } => s,
    }
}

/// The thread key of a line: `<source>/<user>`.
pub fn thread(line: &Line) -> String {
    let s = sighting(line);
    format!("{}/{}", s.source, s.event.user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{AuditEvent, Operation};

    fn line(count: Option<usize>) -> Line {
        let s = Sighting {
            kind: "cluster",
            source: "aurora-prod".into(),
            instance: "i-1".into(),
            event: AuditEvent {
                time_ms: 1,
                user: "admin".into(),
                host: "10.0.0.1".into(),
                operation: Operation::Connect,
                database: String::new(),
                retcode: "0".into(),
                server: String::new(),
            },
        };
        match count {
            None => Line::Connected(s),
            Some(count) => Line::Failed {
                first: s,
                count,
                last_ms: 2,
                retcodes: vec!["1045".into()],
            },
        }
    }

    #[test]
    fn weights_and_threads() {
        assert_eq!(
            weigh(&line(None)),
            (Severity::Warning, "watched-user-connect")
        );
        assert_eq!(weigh(&line(Some(4))), (Severity::Warning, "failed-connect"));
        assert_eq!(
            weigh(&line(Some(5))),
            (Severity::Critical, "failed-connect")
        );
        assert_eq!(thread(&line(None)), "aurora-prod/admin");
    }
}
