//! The Slack alert (pure): one line per watched user's connection, one per host's failed
//! attempts, in time order; where (cluster, instance), who, from where, result.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use opswatch_slack::{Alert, Mrkdwn};

use crate::rules::{Line, Rules, Sighting};

/// `2026-11-25 09:01:02 UTC`.
pub fn time(ms: i64) -> String {
    match DateTime::from_millis(ms).fmt(Format::DateTime) {
        Ok(t) => format!("{} {} UTC", &t[..10], &t[11..19]),
        Err(_) => ms.to_string(),
    }
}

fn where_(m: &mut Mrkdwn, s: &Sighting) {
    m.push_bold(&s.source);
    let mut detail = Vec::new();
    if !s.instance.is_empty() && s.instance != s.source {
        detail.push(format!("instance {}", s.instance));
    }
    if !s.event.database.is_empty() {
        detail.push(format!("db {}", s.event.database));
    }
    if !detail.is_empty() {
        m.push(&format!(" ({})", detail.join(", ")));
    }
}

fn from(m: &mut Mrkdwn, host: &str) {
    m.push_trusted(" from ");
    if host.is_empty() {
        m.push("an unknown host");
    } else {
        m.push_code(host);
    }
}

pub fn line(l: &Line) -> Mrkdwn {
    let mut m = Mrkdwn::new();
    match l {
        Line::Connected(s) => {
            m.push_trusted("• ");
            m.push_code(&time(s.event.time_ms));
            m.push_trusted(" ");
            m.push_bold(&s.event.user);
            m.push_trusted(" connected to ");
            where_(&mut m, s);
            from(&mut m, &s.event.host);
            m.push(&format!(
                " — {} (result {})",
                s.event.operation.as_str(),
                s.event.retcode
            ));
        }
        Line::Failed {
            first,
            count,
            last_ms,
            retcodes,
        } => {
            m.push_trusted(":no_entry: ");
            if *count > 1 {
                m.push_code(&format!(
                    "{} – {}",
                    time(first.event.time_ms),
                    &time(*last_ms)[11..]
                ));
            } else {
                m.push_code(&time(first.event.time_ms));
            }
            m.push_trusted(" ");
            m.push_bold(&first.event.user);
            m.push_trusted(" failed to connect to ");
            where_(&mut m, first);
            from(&mut m, &first.event.host);
            m.push(" — FAILED_CONNECT");
            if *count > 1 {
                m.push(&format!(" ×{count}"));
            }
            m.push(&format!(" (result {})", retcodes.join(", ")));
        }
    }
    m
}

/// The alert for a batch's lines; `None` when there are none.
pub fn alert(lines: &[Line], rules: &Rules, log_groups: &[String]) -> Option<Alert> {
    let first = lines.first()?;
    let connected: Vec<&Sighting> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Connected(s) => Some(s),
            Line::Failed { .. } => None,
        })
        .collect();
    let failed: usize = lines
        .iter()
        .map(|l| match l {
            Line::Failed { count, .. } => *count,
            Line::Connected(_) => 0,
        })
        .sum();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let header = match (connected.as_slice(), failed) {
        ([only], 0) => format!("Aurora: {} connected to {}", only.event.user, only.source),
        (c, 0) => format!(
            "Aurora: {} by watched users",
            plural(c.len(), "connection", "connections")
        ),
        ([], f) => format!(
            "Aurora: {} by watched users",
            plural(f, "failed connection", "failed connections")
        ),
        (c, f) => format!(
            "Aurora: {} and {} by watched users",
            plural(c.len(), "connection", "connections"),
            plural(f, "failed attempt", "failed attempts")
        ),
    };
    let fallback = match first {
        Line::Connected(s) | Line::Failed { first: s, .. } => format!(
            "{header} (first: {} {} from {} at {})",
            s.event.user,
            s.event.operation.as_str(),
            if s.event.host.is_empty() {
                "?"
            } else {
                &s.event.host
            },
            time(s.event.time_ms)
        ),
    };
    let mut sources: Vec<String> = lines
        .iter()
        .map(|l| match l {
            Line::Connected(s) | Line::Failed { first: s, .. } => {
                format!("{} {}", s.kind, s.source)
            }
        })
        .collect();
    sources.sort();
    sources.dedup();
    let mut groups = log_groups.to_vec();
    groups.sort();
    groups.dedup();
    Some(
        Alert::new(header, fallback)
            .field("Source", Mrkdwn::text(&sources.join(", ")))
            .field("Log group", Mrkdwn::text(&groups.join(", ")))
            .lines(lines.iter().map(line).collect())
            .context(Mrkdwn::text(&format!("Watched: {}", rules.describe()))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{AuditEvent, Operation};
    use crate::rules::summarize;

    fn s(user: &str, host: &str, op: Operation, t: i64, retcode: &str) -> Sighting {
        Sighting {
            kind: "cluster",
            source: "aurora-prod".into(),
            instance: "aurora-prod-instance-1".into(),
            event: AuditEvent {
                time_ms: t,
                user: user.into(),
                host: host.into(),
                operation: op,
                database: String::new(),
                retcode: retcode.into(),
                server: "aurora-prod-instance-1".into(),
            },
        }
    }

    const T: i64 = 1_795_597_262_123;

    #[test]
    fn message() {
        let lines = summarize(vec![
            s("admin", "10.0.1.5", Operation::Connect, T, "0"),
            s(
                "admin",
                "10.0.1.7",
                Operation::FailedConnect,
                T + 3_000,
                "1045",
            ),
            s(
                "admin",
                "10.0.1.7",
                Operation::FailedConnect,
                T + 9_000,
                "1045",
            ),
            s(
                "<!channel>",
                "evil.example",
                Operation::FailedConnect,
                T + 9_500,
                "1045",
            ),
        ]);
        let messages = alert(
            &lines,
            &Rules::default(),
            &["/aws/rds/cluster/aurora-prod/audit".into()],
        )
        .unwrap()
        .into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        insta::assert_json_snapshot!(messages);
    }

    #[test]
    fn headers() {
        let one = summarize(vec![s("admin", "10.0.1.5", Operation::Connect, T, "0")]);
        let a = alert(&one, &Rules::default(), &[]).unwrap();
        assert_eq!(a.header, "Aurora: admin connected to aurora-prod");
        assert!(alert(&[], &Rules::default(), &[]).is_none());
        let failed = summarize(vec![s("admin", "h", Operation::FailedConnect, T, "1045")]);
        assert_eq!(
            alert(&failed, &Rules::default(), &[]).unwrap().header,
            "Aurora: 1 failed connection by watched users"
        );
        assert_eq!(time(T), "2026-11-25 09:01:02 UTC");
    }
}
