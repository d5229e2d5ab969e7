//! How serious a line of an audit alert is, which rule says so, and whose thread it belongs
//! to (pure).
//!
//! - `watched-user-connect` (**warning**): a watched user connected — what the function is
//!   for;
//! - `failed-connect`: failed attempts of one user from one host in one batch — a
//!   **warning** from `FAILED_CONNECT_THRESHOLD` (default [`DEFAULT_FAILED_THRESHOLD`]) on
//!   (someone is guessing), **info** below (a mistyped password).
//!
//! Thread key: the cluster (or instance) and the user.

use opswatch_delivery::Severity;

use crate::rules::{Line, Sighting};

/// Failed attempts of one user from one host that make a line a warning, unless
/// `FAILED_CONNECT_THRESHOLD` says otherwise.
pub const DEFAULT_FAILED_THRESHOLD: usize = 5;

pub fn weigh(line: &Line, failed_threshold: usize) -> (Severity, &'static str) {
    match line {
        Line::Connected(_) => (Severity::Warning, "watched-user-connect"),
        Line::Failed { count, .. } if *count >= failed_threshold => {
            (Severity::Warning, "failed-connect")
        }
        Line::Failed { .. } => (Severity::Info, "failed-connect"),
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
            weigh(&line(None), 5),
            (Severity::Warning, "watched-user-connect")
        );
        assert_eq!(weigh(&line(Some(4)), 5), (Severity::Info, "failed-connect"));
        assert_eq!(
            weigh(&line(Some(5)), 5),
            (Severity::Warning, "failed-connect")
        );
        assert_eq!(
            weigh(&line(Some(2)), 2),
            (Severity::Warning, "failed-connect")
        );
        assert_eq!(thread(&line(None)), "aurora-prod/admin");
    }
}
