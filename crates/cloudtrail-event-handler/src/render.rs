//! Slack alerts for CloudTrail records (pure): one line per event — its weight and rules,
//! who, what, where, when, and the request's key fields — many lines to an alert, laid out
//! by `opswatch-slack` into as few messages as Slack's limits allow (overflow goes to the
//! next message). One principal's access denials fold into one line with a count.

use std::collections::{BTreeMap, BTreeSet};

use opswatch_delivery::Severity;
use opswatch_slack::{Alert, Mrkdwn};
use opswatch_support::AccountNames;
use serde_json::Value;

use crate::principal::Principal;
use crate::record::Record;
use crate::rules::{Fold, Verdict};
use crate::weigh;

/// A line is cut to this many characters (a section holds 3,000).
const LINE_CHARS: usize = 900;
/// Request parameters shown per event, and the characters of each value.
const PARAMS: usize = 4;
const PARAM_CHARS: usize = 80;
/// Call names listed on a folded line of access denials.
const FOLDED_NAMES: usize = 6;

/// One event as a line of mrkdwn. Every piece of the record is outside text, escaped.
pub fn line(r: &Record, verdict: &Verdict, names: &AccountNames) -> Mrkdwn {
    let mut m = Mrkdwn::trusted(match verdict.severity {
        Severity::Critical => ":rotating_light: ",
        Severity::Warning => ":warning: ",
        Severity::Info => "• ",
    });
    m.push_code(if r.event_time.is_empty() {
        "(no time)"
    } else {
        &r.event_time
    });
    m.push_trusted(" ");
    Principal::of(r).push_to(&mut m);
    m.push_trusted(" → ");
    m.push_code(short_source(&r.event_source));
    m.push_trusted(" ");
    m.push_bold(&r.event_name);
    if let Some(code) = &r.error_code {
        m.push_trusted(" :x: ");
        m.push_code(code);
    }
    if let Some(result) = r.console_login_result() {
        m.push_trusted(" (");
        m.push(result);
        m.push_trusted(")");
    }
    if from_console(r) {
        m.push_trusted(" :computer: _in the console_");
    }
    for rule in &verdict.rules {
        m.push_trusted(" ");
        m.push_code(rule);
    }
    m.push_trusted(" — ");
    m.push(&names.label(weigh::account(r).unwrap_or("?")));
    if !r.aws_region.is_empty() {
        m.push_trusted(" ");
        m.push(&r.aws_region);
    }
    if let Some(ip) = &r.source_ip_address {
        m.push_trusted(" · ");
        m.push(ip);
    }
    if let Some(ua) = &r.user_agent {
        m.push_trusted(" · ");
        m.push(&opswatch_slack::truncate_plain(ua, 60));
    }
    let params = key_params(r.request_parameters.as_ref());
    if !params.is_empty() {
        m.push_trusted(" — ");
        m.push_code(&params.join(", "));
    }
    m.truncated(LINE_CHARS)
}

/// A call made with a console session's credentials (not the sign-in itself).
pub fn from_console(r: &Record) -> bool {
    if r.event_name == "ConsoleLogin" {
        return false;
    }
    let flagged = match &r.session_credential_from_console {
        Some(Value::String(s)) => s == "true",
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    let agent = r.user_agent.as_deref().is_some_and(|ua| {
        ua == "signin.amazonaws.com"
            || (ua.starts_with("console.") && ua.ends_with(".amazonaws.com"))
    });
    flagged || agent
}

/// `ec2.amazonaws.com` → `ec2`.
fn short_source(s: &str) -> &str {
    s.strip_suffix(".amazonaws.com").unwrap_or(s)
}

/// The request's top-level fields, `key=value`: scalars first, then the names of nested
/// ones (their size shown, not their contents).
fn key_params(p: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(map)) = p else {
        return Vec::new();
    };
    let mut scalars = Vec::new();
    let mut nested = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(s) => scalars.push(format!(
                "{k}={}",
                opswatch_slack::truncate_plain(s, PARAM_CHARS)
            )),
            Value::Number(n) => scalars.push(format!("{k}={n}")),
            Value::Bool(b) => scalars.push(format!("{k}={b}")),
            Value::Null => {}
            Value::Array(a) => nested.push(format!("{k}=[{} item(s)]", a.len())),
            Value::Object(o) => nested.push(format!("{k}={{{} field(s)}}", o.len())),
        }
    }
    let more = (scalars.len() + nested.len()).saturating_sub(PARAMS);
    let mut out: Vec<String> = scalars.into_iter().chain(nested).take(PARAMS).collect();
    if more > 0 {
        out.push(format!("+{more} more"));
    }
    out
}

/// The events of one log file (or one EventBridge event) on their way to one alert: lines
/// and counts, built record by record so the records themselves need not be kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Digest {
    pub lines: Vec<Mrkdwn>,
    events: usize,
    roots: usize,
    errors: usize,
    accounts: BTreeSet<String>,
    regions: BTreeSet<String>,
    /// How many events each rule matched.
    rules: BTreeMap<String, usize>,
    /// The header, were this the only event.
    single: Option<String>,
    /// Lines that fold ([`Fold`]), by kind and principal: the line they fold into.
    folds: BTreeMap<(Folding, String), Folded>,
}

/// What folds: [`Fold`] without its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Folding {
    Denied,
    RootReads,
    SecretReads,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Folded {
    line: usize,
    count: usize,
    names: BTreeSet<String>,
    last: String,
}

impl Digest {
    pub fn add(&mut self, r: &Record, verdict: &Verdict, names: &AccountNames) {
        self.events += 1;
        self.roots += usize::from(r.user_identity.kind.as_deref() == Some("Root"));
        self.errors += usize::from(r.error_code.is_some());
        if let Some(a) = weigh::account(r) {
            self.accounts.insert(names.label(a));
        }
        if !r.aws_region.is_empty() {
            self.regions.insert(r.aws_region.clone());
        }
        for rule in &verdict.rules {
            *self.rules.entry((*rule).to_owned()).or_default() += 1;
        }
        if self.events == 1 {
            self.single = Some(format!(
                "CloudTrail: {} by {}",
                r.event_name,
                Principal::of(r).label()
            ));
        }
        // Only what the judge says folds (denials and nothing more serious, the root user's
        // reads, secret reads past the threshold): a denied root write keeps its line.
        if let Some(fold) = verdict.fold {
            let (kind, count) = match fold {
                Fold::Denied => (Folding::Denied, None),
                Fold::RootReads => (Folding::RootReads, None),
                Fold::SecretReads(n) => (Folding::SecretReads, Some(n)),
            };
            let key = (kind, weigh::thread(r));
            if let Some(f) = self.folds.get_mut(&key) {
                f.count = count.unwrap_or(f.count + 1);
                f.names.insert(r.event_name.clone());
                f.last.clone_from(&r.event_time);
                return;
            }
            self.folds.insert(
                key,
                Folded {
                    line: self.lines.len(),
                    count: count.unwrap_or(1),
                    names: BTreeSet::from([r.event_name.clone()]),
                    last: r.event_time.clone(),
                },
            );
        }
        self.lines.push(line(r, verdict, names));
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The alert; `source` names the log file.
    pub fn into_alert(mut self, source: Option<&str>) -> Alert {
        for ((kind, _), f) in &self.folds {
            let (what, whose) = match kind {
                Folding::Denied => ("denied calls", "by this principal"),
                Folding::RootReads => ("read-only calls", "by the root user"),
                Folding::SecretReads => ("distinct secrets read", "by this principal in this file"),
            };
            if f.count < 2 {
                continue;
            }
            let mut calls: Vec<&str> = f
                .names
                .iter()
                .map(String::as_str)
                .take(FOLDED_NAMES)
                .collect();
            if f.names.len() > FOLDED_NAMES {
                calls.push("…");
            }
            let m = &mut self.lines[f.line];
            m.push_trusted(" — ");
            m.push_bold(&format!("{} {what}", f.count));
            m.push_trusted(" ");
            m.push(whose);
            m.push_trusted(", the last at ");
            m.push_code(&f.last);
            m.push_trusted(": ");
            m.push(&calls.join(", "));
        }
        let n = self.events;
        let header = match (n, self.single) {
            (1, Some(h)) => h,
            _ => format!("CloudTrail: {n} events"),
        };
        let mut fallback = header.clone();
        if self.roots > 0 {
            fallback.push_str(&format!(" — {} by the root user", self.roots));
        }
        let join =
            |s: &BTreeSet<String>| s.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        let mut a = Alert::new(header, fallback)
            .field("Account", Mrkdwn::text(&join(&self.accounts)))
            .field("Region", Mrkdwn::text(&join(&self.regions)));
        if !self.rules.is_empty() {
            let mut m = Mrkdwn::new();
            for (i, (rule, count)) in self.rules.iter().enumerate() {
                if i > 0 {
                    m.push_trusted(", ");
                }
                m.push_code(rule);
                if *count > 1 {
                    m.push(&format!(" ×{count}"));
                }
            }
            a = a.field("Rules", m);
        }
        if self.roots > 0 {
            a = a.field(
                "Root user",
                Mrkdwn::text(&format!("{} event(s)", self.roots)),
            );
        }
        if self.errors > 0 {
            a = a.field(
                "Errors",
                Mrkdwn::text(&format!("{} call(s) failed", self.errors)),
            );
        }
        a = a.lines(self.lines);
        if let Some(src) = source {
            let mut m = Mrkdwn::trusted("From ");
            m.push_code(src);
            a = a.context(m);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::logfile::{Entry, read_log};
    use crate::rules::Rules;

    const SAMPLE: &str = "111122223333_CloudTrail_us-east-1_20261125T0915Z_mixed.json";

    fn sample() -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../events/cloudtrail/s3-objects/{SAMPLE}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the sample log file")
    }

    /// The digest of a log file under the default filter and rules, and each alerted event's
    /// name with its severity and rules.
    fn digest(bytes: &[u8], names: &AccountNames) -> (Digest, Vec<String>) {
        let (filter, rules) = (Filter::default(), Rules::default());
        let mut d = Digest::default();
        let mut seen = Vec::new();
        read_log(
            bytes,
            |_| None,
            |item| {
                let Entry::Record(r, _) = item else { return };
                if let Ok(v) = rules.judge(&filter, &r, None) {
                    seen.push(
                        format!("{} {} {}", r.event_name, v.severity, v.rules.join("+"))
                            .trim_end()
                            .to_owned(),
                    );
                    d.add(&r, &v, names);
                }
            },
        )
        .expect("the sample reads");
        (d, seen)
    }

    fn lines(a: &Alert) -> Vec<&str> {
        a.body
            .iter()
            .flat_map(|b| match b {
                opswatch_slack::Body::Lines(l) => l.iter().map(Mrkdwn::as_str).collect(),
                opswatch_slack::Body::Code(_) => Vec::new(),
            })
            .collect()
    }

    fn verdict(
        severity: Severity,
        rules: Vec<&'static str>,
        fold: Option<Fold>,
    ) -> Verdict<'static> {
        Verdict {
            severity,
            rules,
            fold,
            kept: None,
        }
    }

    fn info() -> Verdict<'static> {
        verdict(Severity::Info, Vec::new(), None)
    }

    #[test]
    fn the_sample_alerts_exactly_its_write_calls_with_their_rules() {
        let (_, seen) = digest(&sample(), &AccountNames::default());
        assert_eq!(
            seen,
            [
                "AuthorizeSecurityGroupIngress critical world-open-ingress",
                "RunInstances info",
                "CreateAccessKey critical root-activity+iam-credentials",
                "ConsoleLogin critical root-activity",
                "PutBucketPolicy warning access-denied",
                "CreateRoute info",
                "ModifyDBCluster info",
                "StopLogging critical cloudtrail-tampering",
                "PutRolePolicy critical admin-policy",
            ]
        );
    }

    #[test]
    fn sample_file_message() {
        let names = AccountNames::parse("111122223333=prod").unwrap();
        let (d, _) = digest(&sample(), &names);
        let messages = d.into_alert(Some(&format!("{SAMPLE}.gz"))).into_messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].limit_violation(), None);
        let text = serde_json::to_string(&messages).unwrap();
        // Outside text cannot ping or link: the file holds no link of its own, so the
        // message holds no `<` at all, and the session name and the user agent that try
        // show once each, escaped.
        assert_eq!(text.matches('<').count(), 0, "{text}");
        assert_eq!(
            text.matches("*AdminSSO* / &lt;!channel&gt; hi (role)")
                .count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("· &lt;!here&gt; &amp; &lt;https://evil.example|click&gt; —")
                .count(),
            1,
            "{text}"
        );
        // The account's name beside its id, on the lines and in the field.
        assert_eq!(text.matches("111122223333 (prod)").count(), 10, "{text}");
        insta::assert_json_snapshot!(messages);
    }

    #[test]
    fn access_denials_of_one_principal_fold_into_one_line() {
        let denied = verdict(
            Severity::Warning,
            vec![crate::rules::ACCESS_DENIED],
            Some(Fold::Denied),
        );
        let mut d = Digest::default();
        let mut r = Record {
            event_source: "ec2.amazonaws.com".into(),
            error_code: Some("Client.UnauthorizedOperation".into()),
            recipient_account_id: Some("111122223333".into()),
            ..Record::default()
        };
        r.user_identity.kind = Some("IAMUser".into());
        r.user_identity.user_name = Some("mallory".into());
        for (i, name) in ["RunInstances", "CreateVpc", "RunInstances", "DeleteVpc"]
            .iter()
            .enumerate()
        {
            r.event_name = (*name).into();
            r.event_time = format!("2026-11-25T10:0{i}:00Z");
            d.add(&r, &denied, &AccountNames::default());
        }
        r.user_identity.user_name = Some("bob".into());
        d.add(&r, &denied, &AccountNames::default());
        assert_eq!(d.lines.len(), 2);
        let alert = d.into_alert(None);
        assert_eq!(alert.header, "CloudTrail: 5 events");
        let lines = lines(&alert);
        assert!(
            lines[0].starts_with(":warning: `2026-11-25T10:00:00Z` *mallory* (IAM user)")
                && lines[0].ends_with(
                    " — *4 denied calls* by this principal, the last at `2026-11-25T10:03:00Z`: CreateVpc, DeleteVpc, RunInstances"
                ),
            "{}",
            lines[0]
        );
        assert_eq!(lines.len(), 2);
        // Another principal's denial is its own line, not folded into mallory's.
        assert_eq!(
            lines[1],
            ":warning: `2026-11-25T10:03:00Z` *bob* (IAM user) → `ec2` *DeleteVpc* :x: `Client.UnauthorizedOperation` `access-denied` — 111122223333"
        );
    }

    #[test]
    fn console_sessions_are_marked() {
        let mut r = Record {
            event_name: "AuthorizeSecurityGroupIngress".into(),
            session_credential_from_console: Some(Value::String("true".into())),
            ..Record::default()
        };
        assert!(from_console(&r));
        assert_eq!(
            line(&r, &info(), &AccountNames::default())
                .as_str()
                .matches(" :computer: _in the console_")
                .count(),
            1
        );
        r.session_credential_from_console = None;
        assert!(!from_console(&r));
        r.user_agent = Some("console.ec2.amazonaws.com".into());
        assert!(from_console(&r));
        r.user_agent = Some("aws-cli/2.15.30".into());
        assert!(!from_console(&r));
        r.event_name = "ConsoleLogin".into();
        r.user_agent = Some("signin.amazonaws.com".into());
        assert!(
            !from_console(&r),
            "the sign-in itself is not a change made in the console"
        );
    }

    #[test]
    fn many_events_overflow_into_further_messages_without_loss() {
        let mut d = Digest::default();
        let mut r = Record {
            event_source: "ec2.amazonaws.com".into(),
            aws_region: "eu-west-1".into(),
            recipient_account_id: Some("111122223333".into()),
            ..Record::default()
        };
        for i in 0..400 {
            r.event_name = format!("CreateTags{i:03}");
            r.event_time = format!("2026-11-25T10:{:02}:00Z", i % 60);
            d.add(&r, &info(), &AccountNames::default());
        }
        let messages = d.into_alert(None).into_messages();
        assert!(messages.len() > 1);
        let all = serde_json::to_string(&messages).unwrap();
        for i in 0..400 {
            assert_eq!(
                all.matches(&format!("*CreateTags{i:03}*")).count(),
                1,
                "event {i}"
            );
        }
        for m in &messages {
            assert_eq!(m.limit_violation(), None);
        }
    }

    #[test]
    fn single_event_header_and_identities() {
        let r: Record = serde_json::from_str(
            r#"{"eventTime":"2026-11-25T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser",
                "awsRegion":"us-east-1","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"},
                "requestParameters":{"userName":"bob","tags":[{"key":"a"}],"path":"/","x":1,"y":true,"z":null}}"#,
        )
        .unwrap();
        let root = verdict(Severity::Critical, vec!["root-activity"], None);
        let mut d = Digest::default();
        d.add(&r, &root, &AccountNames::default());
        let alert = d.into_alert(None);
        assert_eq!(alert.header, "CloudTrail: CreateUser by root");
        assert_eq!(
            lines(&alert)[0],
            ":rotating_light: `2026-11-25T09:00:00Z` *root* → `iam` *CreateUser* `root-activity` — ? us-east-1 — `path=/, userName=bob, x=1, y=true, +1 more`"
        );
    }
}
