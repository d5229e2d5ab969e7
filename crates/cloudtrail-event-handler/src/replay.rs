//! Records replayed through the filter and the rules without posting anything (pure): what
//! `cargo xtask rules <log file|event>` prints, so a rule set can be tried on real records
//! before it is deployed.

use std::fmt::Write as _;

use serde_json::Value;

use crate::filter::Filter;
use crate::logfile::{self, Entry};
use crate::record::{LogError, Record};
use crate::rules::{Dropped, Judge, Rules};
use crate::weigh;

/// One record's fate.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    pub time: String,
    pub name: String,
    pub principal: String,
    pub account: String,
    pub fate: Fate,
}

/// Alerted with a severity and the rules matched (and what a critical rule kept it from),
/// or dropped, why, and by which ignore rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    Alerted {
        severity: opswatch_delivery::Severity,
        rules: Vec<String>,
        kept: Option<String>,
    },
    Dropped {
        why: String,
    },
}

/// One record, with its JSON where custom rules need it ([`Rules::document`]), judged by
/// `judge` (one per log file).
pub fn record(
    filter: &Filter,
    judge: &mut Judge<'_, '_>,
    r: &Record,
    doc: Option<&Value>,
) -> Replayed {
    Replayed {
        time: r.event_time.clone(),
        name: r.event_name.clone(),
        principal: weigh::principal(r),
        account: filter.account_names.label(weigh::account(r).unwrap_or("?")),
        fate: match judge.judge(r, doc) {
            Ok(v) => Fate::Alerted {
                severity: v.severity,
                rules: v.rules.iter().map(|s| (*s).to_owned()).collect(),
                kept: v.kept.map(|d| reason(&d)),
            },
            Err(d) => Fate::Dropped { why: reason(&d) },
        },
    }
}

/// Why, and by which ignore rule, silencing which critical rules.
fn reason(d: &Dropped) -> String {
    match (d.rule, d.silenced.as_slice()) {
        (None, _) => d.why.reason().to_owned(),
        (Some(rule), []) => format!("{} by rule {rule}", d.why.reason()),
        (Some(rule), silenced) => format!(
            "{} by rule {rule}, which silences {}",
            d.why.reason(),
            silenced.join(", ")
        ),
    }
}

/// Every record of a log file (gzip or plain JSON), in order.
pub fn log_file(filter: &Filter, rules: &Rules, bytes: &[u8]) -> Result<Vec<Replayed>, LogError> {
    let mut out = Vec::new();
    let mut judge = rules.reading(filter);
    // No sieve: every record is replayed, with its name.
    logfile::read_log(
        bytes,
        |_| None,
        |item| {
            if let Entry::Record(r, text) = item {
                let doc = rules.document(text);
                out.push(record(filter, &mut judge, &r, doc.as_ref()));
            }
        },
    )?;
    Ok(out)
}

/// The report: one line per record, then the totals.
pub fn report(replayed: &[Replayed]) -> String {
    let mut s = String::new();
    let (mut alerted, mut dropped) = (0, 0);
    let mut by_severity = std::collections::BTreeMap::new();
    for (i, r) in replayed.iter().enumerate() {
        let fate = match &r.fate {
            Fate::Alerted {
                severity,
                rules,
                kept,
            } => {
                alerted += 1;
                *by_severity.entry(*severity).or_insert(0) += 1;
                let mut fate = format!("{severity}");
                if !rules.is_empty() {
                    fate.push_str(&format!("  {}", rules.join(", ")));
                }
                if let Some(kept) = kept {
                    fate.push_str(&format!(
                        "  (kept though {kept}: a critical rule is silenced only by name)"
                    ));
                }
                fate
            }
            Fate::Dropped { why } => {
                dropped += 1;
                format!("dropped: {why}")
            }
        };
        let _ = writeln!(
            s,
            "{:>4}  {}  {:<32} {:<34} {:<22} → {fate}",
            i + 1,
            r.time,
            r.name,
            r.principal,
            r.account
        );
    }
    let weights: Vec<String> = by_severity
        .iter()
        .rev()
        .map(|(sev, n)| format!("{n} {sev}"))
        .collect();
    let _ = writeln!(
        s,
        "{} records: {alerted} alerted{}, {dropped} dropped; nothing posted",
        replayed.len(),
        if weights.is_empty() {
            String::new()
        } else {
            format!(" ({})", weights.join(", "))
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line's fate (what follows `→ `), and the totals line.
    fn fates(text: &str) -> Vec<&str> {
        text.lines()
            .map(|l| l.split("→ ").nth(1).unwrap_or(l))
            .collect()
    }

    #[test]
    fn the_sample_replays_with_rule_hits_and_drops() {
        let bytes = std::fs::read(format!(
            "{}/../../events/cloudtrail/s3-objects/o-a1b2c3d4e5/444455556666_CloudTrail_us-east-1_20261125T0930Z_org.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the organization trail sample");
        let vars = [
            ("ACCOUNT_NAMES", "444455556666=staging"),
            (
                "RULES",
                r#"[{"name": "ci-tags", "ignore": true, "match": {"eventName": "CreateTags", "userIdentity.sessionContext.sessionIssuer.userName": "deploy"}}]"#,
            ),
        ];
        let (filter, rules) = crate::rules::configured(&vars).unwrap();
        let replayed = log_file(&filter, &rules, &bytes).unwrap();
        let text = report(&replayed);
        let fates = fates(&text);
        assert_eq!(
            fates,
            [
                "warning  federation-token",
                "dropped: read-only",
                "critical  console-login-without-mfa",
                "warning  world-open-ingress",
                "dropped: ignored by rule ci-tags",
                "warning  access-denied",
                "warning  access-denied",
                "warning  access-denied",
                "critical  kms-key-deletion",
                "critical  detective-controls-disabled",
                "info",
                "info",
                "12 records: 10 alerted (3 critical, 5 warning, 2 info), 2 dropped; nothing posted",
            ],
            "{text}"
        );
        assert!(
            text.contains("GetFederationToken") && text.contains("444455556666 (staging)"),
            "{text}"
        );
    }

    #[test]
    fn the_report_says_which_rule_silenced_what_and_what_a_critical_rule_overrode() {
        let record = |who: &str, name: &str, read_only: bool| {
            format!(
                r#"{{"eventTime":"2026-12-04T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"{name}",
                   "readOnly":{read_only},"eventType":"AwsApiCall","recipientAccountId":"111122223333","userIdentity":{who}}}"#
            )
        };
        let root = r#"{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}"#;
        let alice =
            r#"{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice"}"#;
        let file = format!(
            r#"{{"Records":[{},{},{}]}}"#,
            record(root, "DescribeTrails", true),
            record(alice, "StopLogging", false),
            record(alice, "StartLogging", false)
        );
        let vars = [
            (
                "RULES",
                r#"[{"name": "break-glass", "ignore": true, "silences": ["root-activity"], "match": {"userIdentity.type": "Root", "eventName": "Describe*"}}]"#,
            ),
            ("ALERT_ONLY", "errors"),
        ];
        let (filter, rules) = crate::rules::configured(&vars).unwrap();
        let text = report(&log_file(&filter, &rules, file.as_bytes()).unwrap());
        let fates = fates(&text);
        assert_eq!(
            fates,
            [
                "dropped: ignored by rule break-glass, which silences root-activity",
                "critical  cloudtrail-tampering  (kept though not asked for by ALERT_ONLY: a critical rule is silenced only by name)",
                "dropped: not asked for by ALERT_ONLY",
                "3 records: 1 alerted (1 critical), 2 dropped; nothing posted",
            ],
            "{text}"
        );
    }
}
