//! Slack alerts for CloudTrail records (pure): one line per event — who, what, where, when,
//! and the request's key fields — many lines to an alert, laid out by `opswatch-slack` into
//! as few messages as Slack's limits allow (overflow goes to the next message).

use opswatch_slack::{Alert, Mrkdwn};
use serde_json::Value;

use crate::record::Record;

/// A line is cut to this many characters (a section holds 3,000).
const LINE_CHARS: usize = 900;
/// Request parameters shown per event, and the characters of each value.
const PARAMS: usize = 4;
const PARAM_CHARS: usize = 80;

/// One event as a line of mrkdwn. Every piece of the record is outside text, escaped.
pub fn line(r: &Record) -> Mrkdwn {
    let mut m = Mrkdwn::new();
    m.push_trusted("• ");
    m.push_code(if r.event_time.is_empty() {
        "(no time)"
    } else {
        &r.event_time
    });
    m.push_trusted(" ");
    who(r, &mut m);
    m.push_trusted(" → ");
    m.push_code(short_source(&r.event_source));
    m.push_trusted(" ");
    m.push_bold(&r.event_name);
    if let Some(code) = &r.error_code {
        m.push_trusted(" :x: ");
        m.push_code(code);
    }
    if let Some(result) = console_login_result(r) {
        m.push_trusted(" (");
        m.push(result);
        m.push_trusted(")");
    }
    m.push_trusted(" — ");
    let account = r
        .recipient_account_id
        .as_deref()
        .or(r.user_identity.account_id.as_deref())
        .unwrap_or("?");
    m.push(account);
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

/// Who made the call: user, role and session, root (highlighted), service.
fn who(r: &Record, m: &mut Mrkdwn) {
    let u = &r.user_identity;
    match u.kind.as_deref() {
        Some("Root") => {
            m.push_trusted(":rotating_light: *root*");
        }
        Some("IAMUser") => {
            m.push_bold(u.user_name.as_deref().unwrap_or("?"));
            m.push_trusted(" (IAM user)");
        }
        Some("AssumedRole") => {
            m.push_bold(u.role_name().unwrap_or("?"));
            if let Some(s) = u.session_name() {
                m.push_trusted(" / ");
                m.push(s);
            }
            m.push_trusted(" (role)");
        }
        Some("AWSService") => {
            m.push_bold(u.invoked_by.as_deref().unwrap_or("an AWS service"));
            m.push_trusted(" (service)");
        }
        Some(other) => {
            let name = u
                .user_name
                .as_deref()
                .or(u.arn.as_deref())
                .or(u.principal_id.as_deref())
                .unwrap_or("?");
            m.push_bold(name);
            m.push_trusted(" (");
            m.push(other);
            m.push_trusted(")");
        }
        None => {
            m.push_bold(u.invoked_by.as_deref().unwrap_or("unknown"));
        }
    }
}

/// `ec2.amazonaws.com` → `ec2`.
fn short_source(s: &str) -> &str {
    s.strip_suffix(".amazonaws.com").unwrap_or(s)
}

fn console_login_result(r: &Record) -> Option<&str> {
    r.response_elements.as_ref()?.get("ConsoleLogin")?.as_str()
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
    roots: usize,
    errors: usize,
    accounts: std::collections::BTreeSet<String>,
    regions: std::collections::BTreeSet<String>,
    /// The header, were this the only event.
    single: Option<String>,
}

impl Digest {
    pub fn add(&mut self, r: &Record) {
        self.lines.push(line(r));
        self.roots += usize::from(r.user_identity.kind.as_deref() == Some("Root"));
        self.errors += usize::from(r.error_code.is_some());
        if let Some(a) = r
            .recipient_account_id
            .as_deref()
            .or(r.user_identity.account_id.as_deref())
        {
            self.accounts.insert(a.to_owned());
        }
        if !r.aws_region.is_empty() {
            self.regions.insert(r.aws_region.clone());
        }
        if self.lines.len() == 1 {
            self.single = Some(format!("CloudTrail: {} by {}", r.event_name, who_plain(r)));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The alert; `source` names the log file.
    pub fn into_alert(self, source: Option<&str>) -> Alert {
        let n = self.lines.len();
        let header = match (n, self.single) {
            (1, Some(h)) => h,
            _ => format!("CloudTrail: {n} write events"),
        };
        let mut fallback = header.clone();
        if self.roots > 0 {
            fallback.push_str(&format!(" — {} by the root user", self.roots));
        }
        let join = |s: &std::collections::BTreeSet<String>| {
            s.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
        };
        let mut a = Alert::new(header, fallback)
            .field("Account", Mrkdwn::text(&join(&self.accounts)))
            .field("Region", Mrkdwn::text(&join(&self.regions)));
        if self.roots > 0 {
            let mut m = Mrkdwn::trusted(":rotating_light: ");
            m.push(&format!("{} event(s)", self.roots));
            a = a.field("Root user", m);
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

fn who_plain(r: &Record) -> String {
    let u = &r.user_identity;
    match u.kind.as_deref() {
        Some("Root") => "root".into(),
        Some("AssumedRole") => match (u.role_name(), u.session_name()) {
            (Some(role), Some(s)) => format!("{role}/{s}"),
            (Some(role), None) => role.into(),
            _ => "a role".into(),
        },
        _ => u
            .user_name
            .clone()
            .or_else(|| u.invoked_by.clone())
            .or_else(|| u.arn.clone())
            .unwrap_or_else(|| "unknown".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::record::read_log;

    const SAMPLE: &str = "111122223333_CloudTrail_us-east-1_20261125T0915Z_mixed.json";

    fn sample() -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../events/cloudtrail/s3-objects/{SAMPLE}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the sample log file")
    }

    fn digest(bytes: &[u8], filter: &Filter) -> (Digest, Vec<String>) {
        let mut d = Digest::default();
        let mut names = Vec::new();
        read_log(bytes, |r| {
            if filter.decide(&r).is_ok() {
                names.push(r.event_name.clone());
                d.add(&r);
            }
        })
        .expect("the sample reads");
        (d, names)
    }

    #[test]
    fn the_sample_alerts_exactly_its_write_calls() {
        let (_, names) = digest(&sample(), &Filter::default());
        assert_eq!(
            names,
            [
                "AuthorizeSecurityGroupIngress",
                "RunInstances",
                "CreateAccessKey",
                "ConsoleLogin",
                "PutBucketPolicy",
                "CreateRoute",
                "ModifyDBCluster",
                "StopLogging",
                "PutRolePolicy",
            ]
        );
    }

    #[test]
    fn sample_file_message() {
        let (d, _) = digest(&sample(), &Filter::default());
        let messages = d.into_alert(Some(&format!("{SAMPLE}.gz"))).into_messages();
        assert_eq!(messages.len(), 1);
        let text = serde_json::to_string(&messages).unwrap();
        // Outside text cannot ping or link.
        assert!(
            !text.contains("<!channel>") && !text.contains("<!here>"),
            "{text}"
        );
        assert!(
            text.contains("&lt;!channel&gt; hi")
                && text.contains("&lt;!here&gt; &amp; &lt;https://evil.example|click&gt;")
        );
        insta::assert_json_snapshot!(messages);
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
            d.add(&r);
        }
        let messages = d.into_alert(None).into_messages();
        assert!(messages.len() > 1);
        let all = serde_json::to_string(&messages).unwrap();
        for i in 0..400 {
            assert!(
                all.contains(&format!("CreateTags{i:03}*")),
                "event {i} lost"
            );
        }
        for m in &messages {
            let len: usize = serde_json::to_string(&m.blocks).unwrap().len();
            assert!(m.blocks.len() <= 50 && len < 40_000, "{len}");
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
        let mut d = Digest::default();
        d.add(&r);
        let m = d.into_alert(None).into_messages();
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("CloudTrail: CreateUser by root"), "{text}");
        assert!(text.contains(":rotating_light: *root*"), "{text}");
        assert!(
            text.contains("path=/, userName=bob, x=1, y=true, +1 more"),
            "{text}"
        );
    }
}
