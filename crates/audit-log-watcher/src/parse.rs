//! Audit log lines (pure): Aurora MySQL Advanced Auditing CSV and PostgreSQL connection /
//! pgaudit lines, into one [`AuditEvent`] shape.
//!
//! Aurora MySQL writes `timestamp,serverhost,username,host,connectionid,queryid,operation,
//! database,object,retcode` (timestamp in microseconds; `object` single-quoted with
//! backslash escapes when it is a statement; Aurora MySQL 3 may append a connection type).
//! PostgreSQL lines carry RDS's `log_line_prefix` `%t:%r:%u@%d:[%p]:`, e.g.
//! `2026-11-25 09:01:02 UTC:10.0.1.5(53422):admin@postgres:[12345]:LOG:  connection authorized: …`.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Connect,
    FailedConnect,
    Disconnect,
    Query,
    Other(String),
}

impl Operation {
    pub fn as_str(&self) -> &str {
        match self {
            Operation::Connect => "CONNECT",
            Operation::FailedConnect => "FAILED_CONNECT",
            Operation::Disconnect => "DISCONNECT",
            Operation::Query => "QUERY",
            Operation::Other(s) => s,
        }
    }

    fn from_mysql(s: &str) -> Self {
        match s {
            "CONNECT" => Operation::Connect,
            "FAILED_CONNECT" => Operation::FailedConnect,
            "DISCONNECT" => Operation::Disconnect,
            "QUERY" => Operation::Query,
            other => Operation::Other(other.to_owned()),
        }
    }
}

/// One audited event, whichever engine wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unix milliseconds.
    pub time_ms: i64,
    pub user: String,
    /// The client's host (address), as the engine logged it.
    pub host: String,
    pub operation: Operation,
    pub database: String,
    /// The engine's result: MySQL's error number (`0` success, `1045` access denied), or
    /// PostgreSQL's SQLSTATE for a refused connection (`28P01`, `28000`).
    pub retcode: String,
    /// The DB instance that wrote the line (MySQL's `serverhost`), when the line says.
    pub server: String,
}

/// Which engine a log group belongs to: `/aws/rds/cluster/<name>/audit` is Aurora MySQL's
/// audit log, `…/postgresql` PostgreSQL's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    MySql,
    Postgres,
}

impl Engine {
    pub fn of_log_group(group: &str) -> Option<Engine> {
        if group.ends_with("/audit") {
            Some(Engine::MySql)
        } else if group.ends_with("/postgresql") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

/// Why a line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unparseable(pub String);

/// Read one log line. `Ok(None)`: a well-formed line that is not an audit event (a
/// PostgreSQL checkpoint message, say). `fallback_ms` is the CloudWatch event's timestamp,
/// used when the line's own time cannot be read as UTC.
pub fn line(
    engine: Option<Engine>,
    text: &str,
    fallback_ms: i64,
) -> Result<Option<AuditEvent>, Unparseable> {
    let text = text.trim_end_matches(['\r', '\n']);
    match engine {
        Some(Engine::MySql) => mysql(text).map(Some),
        Some(Engine::Postgres) => postgres(text, fallback_ms),
        None => match mysql(text) {
            Ok(e) => Ok(Some(e)),
            Err(_) => postgres(text, fallback_ms),
        },
    }
}

/// An Aurora MySQL audit line.
pub fn mysql(text: &str) -> Result<AuditEvent, Unparseable> {
    let bad = |why: &str| Unparseable(format!("not an Aurora MySQL audit line: {why}"));
    let mut fields: Vec<&str> = Vec::with_capacity(8);
    let mut rest = text;
    for _ in 0..8 {
        let (f, r) = rest
            .split_once(',')
            .ok_or_else(|| bad("fewer than 10 fields"))?;
        fields.push(f);
        rest = r;
    }
    // The object: a quoted statement (commas and escaped quotes inside), or a plain name.
    let after_object = if let Some(quoted) = rest.strip_prefix('\'') {
        let mut escaped = false;
        let mut end = None;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '\'' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| bad("unterminated quoted object"))?;
        &quoted[end + 1..]
    } else {
        rest.find(',').map_or("", |i| &rest[i..])
    };
    let tail = after_object
        .strip_prefix(',')
        .ok_or_else(|| bad("no retcode"))?;
    let retcode = tail.split(',').next().unwrap_or_default().trim();
    let numeric = |s: &str| {
        let s = s.strip_prefix('-').unwrap_or(s);
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !numeric(retcode) || tail.split(',').count() > 2 {
        return Err(bad("retcode is not a number"));
    }
    let [
        ts,
        server,
        user,
        host,
        connection,
        query,
        operation,
        database,
    ] = fields[..]
    else {
        return Err(bad("fewer than 10 fields"));
    };
    if !numeric(connection) || !numeric(query) {
        return Err(bad("connection or query id is not a number"));
    }
    let micros: i64 = ts
        .parse()
        .map_err(|_| bad("the timestamp is not microseconds"))?;
    if operation.is_empty()
        || !operation
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_')
    {
        return Err(bad("no operation"));
    }
    Ok(AuditEvent {
        time_ms: micros / 1000,
        user: user.to_owned(),
        host: host.to_owned(),
        operation: Operation::from_mysql(operation),
        database: database.to_owned(),
        retcode: retcode.to_owned(),
        server: server.to_owned(),
    })
}

/// A PostgreSQL log line with RDS's prefix.
pub fn postgres(text: &str, fallback_ms: i64) -> Result<Option<AuditEvent>, Unparseable> {
    let bad = |why: &str| Unparseable(format!("not a PostgreSQL log line: {why}"));
    // `%t`: "2026-11-25 09:01:02 UTC"
    let (stamp, rest) = text.split_at_checked(23).ok_or_else(|| bad("too short"))?;
    let b = stamp.as_bytes();
    let looks_like_time = b.len() == 23
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b' ';
    if !looks_like_time {
        return Err(bad("no timestamp"));
    }
    let rest = rest.strip_prefix(':').ok_or_else(|| bad("no prefix"))?;
    // `%r:%u@%d:[%p]:` — the pid marks the end of the prefix (hosts may hold colons: IPv6).
    let (who, after_pid) = split_pid(rest).ok_or_else(|| bad("no [pid] in the prefix"))?;
    let (remote, user_db) = who
        .rsplit_once(':')
        .ok_or_else(|| bad("no user@database"))?;
    let (user, database) = user_db.rsplit_once('@').unwrap_or((user_db, ""));
    let host = remote.split_once('(').map_or(remote, |(h, _)| h);
    let (severity, message) = after_pid
        .split_once(':')
        .ok_or_else(|| bad("no severity"))?;
    let message = message.trim_start();
    let time_ms = match stamp.strip_suffix(" UTC") {
        Some(t) => DateTime::from_str(&format!("{}T{}Z", &t[..10], &t[11..]), Format::DateTime)
            .map(|d| d.secs() * 1000)
            .unwrap_or(fallback_ms),
        None => fallback_ms,
    };
    fn known(s: &str) -> &str {
        if s == "[unknown]" { "" } else { s }
    }
    let mut event = AuditEvent {
        time_ms,
        user: known(user).to_owned(),
        host: known(host).to_owned(),
        operation: Operation::Connect,
        database: known(database).to_owned(),
        retcode: "0".into(),
        server: String::new(),
    };
    let quoted_after = |key: &str| {
        message
            .split_once(key)
            .and_then(|(_, r)| r.strip_prefix('"'))
            .and_then(|r| r.split_once('"'))
            .map(|(v, _)| v.to_owned())
    };
    let field = |key: &str| {
        message
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_owned)
    };
    if message.starts_with("connection authorized:") {
        if let Some(u) = field("user=") {
            event.user = u;
        }
        if let Some(d) = field("database=") {
            event.database = d;
        }
    } else if severity == "FATAL" && message.starts_with("password authentication failed") {
        event.operation = Operation::FailedConnect;
        event.retcode = "28P01".into();
        if let Some(u) = quoted_after("for user ") {
            event.user = u;
        }
    } else if severity == "FATAL" && message.starts_with("no pg_hba.conf entry") {
        event.operation = Operation::FailedConnect;
        event.retcode = "28000".into();
        if let Some(u) = quoted_after("user ") {
            event.user = u;
        }
        if let Some(h) = quoted_after("host ") {
            event.host = h;
        }
    } else if severity == "FATAL"
        && message.starts_with("role ")
        && message.ends_with("does not exist")
    {
        event.operation = Operation::FailedConnect;
        event.retcode = "28000".into();
        if let Some(u) = quoted_after("role ") {
            event.user = u;
        }
    } else if message.starts_with("disconnection:") {
        event.operation = Operation::Disconnect;
    } else if let Some(audit) = message.strip_prefix("AUDIT: ") {
        // pgaudit: AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,…
        let class = audit.split(',').nth(3).unwrap_or_default();
        event.operation = if class.is_empty() {
            Operation::Query
        } else {
            Operation::Other(format!("AUDIT {class}"))
        };
    } else {
        return Ok(None);
    }
    Ok(Some(event))
}

/// `remote:user@db:[1234]:rest` → (`remote:user@db`, `rest`).
fn split_pid(s: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(i) = s[from..].find(":[").map(|i| from + i) {
        let after = &s[i + 2..];
        if let Some(close) = after.find("]:")
            && close > 0
            && after[..close].bytes().all(|b| b.is_ascii_digit())
        {
            return Some((&s[..i], &after[close + 2..]));
        }
        from = i + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_lines() {
        let e = mysql("1795597262123456,aurora-prod-instance-1,admin,10.0.1.5,1187,0,CONNECT,,,0")
            .unwrap();
        assert_eq!(
            (
                e.time_ms,
                e.user.as_str(),
                e.host.as_str(),
                &e.operation,
                e.retcode.as_str()
            ),
            (
                1_795_597_262_123,
                "admin",
                "10.0.1.5",
                &Operation::Connect,
                "0"
            )
        );
        assert_eq!(e.server, "aurora-prod-instance-1");
        let f = mysql(
            "1795597265000001,aurora-prod-instance-1,admin,10.0.1.7,1188,0,FAILED_CONNECT,,,1045",
        )
        .unwrap();
        assert_eq!(
            (f.operation, f.retcode.as_str()),
            (Operation::FailedConnect, "1045")
        );
        // A statement with commas and escaped quotes; Aurora MySQL 3's extra field.
        let q = mysql(
            r"1795597270000000,i-1,app,10.0.2.9,1190,5531,QUERY,shop,'SELECT * FROM t WHERE a=\'x,y\', b=1',0,1",
        )
        .unwrap();
        assert_eq!(
            (q.operation, q.database.as_str()),
            (Operation::Query, "shop")
        );
        for bad in [
            "",
            "garbage",
            "1,2,3",
            "x795597262123456,h,admin,10.0.1.5,1,0,CONNECT,,,0",
            "1795597262123456,h,admin,10.0.1.5,1,0,CONNECT,,'unterminated,0",
            "1795597262123456,h,admin,10.0.1.5,1,0,CONNECT,,,zero",
            "1795597262123456,h,admin,10.0.1.5,1,0,,,,0",
        ] {
            assert!(mysql(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn postgres_lines() {
        let c = postgres(
            "2026-11-25 09:01:02 UTC:10.0.1.5(53422):admin@postgres:[12345]:LOG:  connection authorized: user=admin database=postgres application_name=psql SSL enabled (protocol=TLSv1.3)",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                c.time_ms,
                c.user.as_str(),
                c.host.as_str(),
                c.database.as_str(),
                &c.operation
            ),
            (
                1_795_597_262_000,
                "admin",
                "10.0.1.5",
                "postgres",
                &Operation::Connect
            )
        );
        let f = postgres(
            "2026-11-25 09:01:05 UTC:10.0.1.7(40112):admin@postgres:[12399]:FATAL:  password authentication failed for user \"admin\"",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (f.operation, f.retcode.as_str()),
            (Operation::FailedConnect, "28P01")
        );
        let h = postgres(
            "2026-11-25 09:01:06 UTC:[2001:db8::7](40113):[unknown]@[unknown]:[12400]:FATAL:  no pg_hba.conf entry for host \"2001:db8::7\", user \"postgres\", database \"app\", no encryption",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.user.as_str(), h.host.as_str(), h.retcode.as_str()),
            ("postgres", "2001:db8::7", "28000")
        );
        let a = postgres(
            "2026-11-25 09:02:00 UTC:10.0.1.5(53422):admin@postgres:[12345]:LOG:  AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,ALTER ROLE app PASSWORD <REDACTED>,<not logged>",
            0,
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.operation, Operation::Other("AUDIT ROLE".into()));
        // Well-formed, but not an audit event.
        assert_eq!(
            postgres(
                "2026-11-25 09:05:00 UTC::@:[411]:LOG:  checkpoint starting: time",
                0
            ),
            Ok(None)
        );
        // Another time zone: the CloudWatch event's time is used.
        let z = postgres(
            "2026-11-25 10:01:02 CET:10.0.1.5(53422):admin@postgres:[1]:LOG:  connection authorized: user=admin database=postgres",
            42,
        )
        .unwrap()
        .unwrap();
        assert_eq!(z.time_ms, 42);
        for bad in [
            "",
            "LOG: something",
            "2026-11-25 09:05:00 UTC no prefix here at all",
        ] {
            assert!(postgres(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn engines_by_log_group() {
        assert_eq!(
            Engine::of_log_group("/aws/rds/cluster/aurora-prod/audit"),
            Some(Engine::MySql)
        );
        assert_eq!(
            Engine::of_log_group("/aws/rds/cluster/pg-main/postgresql"),
            Some(Engine::Postgres)
        );
        assert_eq!(Engine::of_log_group("/custom"), None);
        assert!(
            line(
                None,
                "2026-11-25 09:01:02 UTC:10.0.1.5(1):a@b:[1]:LOG:  connection authorized: user=a",
                0
            )
            .unwrap()
            .is_some()
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(s in "\\PC{0,200}") {
            let _ = line(None, &s, 0);
            let _ = line(Some(Engine::MySql), &s, 0);
            let _ = line(Some(Engine::Postgres), &s, 0);
        }

        #[test]
        fn mutated_lines_never_panic(cut in 0usize..200, byte in proptest::num::u8::ANY) {
            for base in [
                "1795597262123456,aurora-prod-instance-1,admin,10.0.1.5,1187,0,CONNECT,,,0",
                "2026-11-25 09:01:02 UTC:10.0.1.5(53422):admin@postgres:[12345]:LOG:  connection authorized: user=admin database=postgres",
            ] {
                let mut b = base.as_bytes().to_vec();
                let i = cut % b.len();
                b[i] = byte;
                let s = String::from_utf8_lossy(&b);
                let _ = line(None, &s, 0);
                let _ = line(None, s.get(..cut).unwrap_or(&s), 0);
            }
        }
    }
}
