//! The template's delivery promises, checked after the SAM transform:
//!
//! - `DedupeTtl`'s default outlasts every redelivery the template sets up: each SQS queue's
//!   `VisibilityTimeout` × `maxReceiveCount` (a message is delivered again until it lands in
//!   the dead-letter queue), and the pipeline's own floor (an hour, and the longest claim);
//! - every function that posts through the delivery pipeline (its crate depends on
//!   `opswatch-delivery`) has an alarm on its `DedupeUnavailable` metric.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// The pipeline's floor for `DEDUPE_TTL` (`opswatch_delivery::config::DEDUPE_TTL_FLOOR` and
/// `LONGEST_CLAIM`; the xtask does not link the pipeline).
const TTL_FLOOR: Duration = Duration::from_secs(3600);

/// `7d`, `36h`, `90m`, `600s`, `600`.
fn duration(text: &str) -> Option<Duration> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// What is wrong with `template` (transformed); `crates`: the crates' folder.
pub fn check(template: &Value, crates: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ttl_text = template["Parameters"]["DedupeTtl"]["Default"]
        .as_str()
        .unwrap_or_default();
    let Some(ttl) = duration(ttl_text) else {
        return vec![format!(
            "DedupeTtl: its default {ttl_text:?} is not a duration"
        )];
    };
    if ttl < TTL_FLOOR {
        problems.push(format!(
            "DedupeTtl: {ttl_text} is below the pipeline's floor of 1h"
        ));
    }
    for (id, r) in &resources {
        if r["Type"] != "AWS::SQS::Queue" {
            continue;
        }
        let p = &r["Properties"];
        let Some(receives) = p["RedrivePolicy"]["maxReceiveCount"].as_u64() else {
            continue;
        };
        // SQS's default visibility timeout is 30 s.
        let visibility = p["VisibilityTimeout"].as_u64().unwrap_or(30);
        let redelivered = Duration::from_secs(visibility * receives);
        if ttl < redelivered {
            problems.push(format!(
                "DedupeTtl: {ttl_text} ends before {id}'s redeliveries do ({visibility} s visibility × {receives} receives = {} s): a late redelivery would post again",
                redelivered.as_secs()
            ));
        }
    }
    for (id, r) in &resources {
        if r["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let Some(binary) = r["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let manifest =
            std::fs::read_to_string(crates.join(binary).join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains("opswatch-delivery") {
            continue;
        }
        let alarmed = resources.values().any(|a| {
            a["Type"] == "AWS::CloudWatch::Alarm"
                && a["Properties"]["MetricName"] == "DedupeUnavailable"
                && a["Properties"]["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["Value"]["Ref"] == id.as_str())
        });
        if !alarmed {
            problems.push(format!(
                "{id}: no alarm on its DedupeUnavailable metric (alerts held back or posted without exactly once would go unnoticed)"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(ttl: &str, visibility: u64, receives: u64, alarm: bool) -> Value {
        let mut resources = json!({
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {
                "VisibilityTimeout": visibility,
                "RedrivePolicy": {"maxReceiveCount": receives}}},
            "Handler": {"Type": "AWS::Lambda::Function",
                "Metadata": {"BuildProperties": {"Binary": "cloudtrail-event-handler"}}},
        });
        if alarm {
            resources["HandlerAlarm"] = json!({"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "MetricName": "DedupeUnavailable",
                "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "Handler"}}]}});
        }
        json!({"Parameters": {"DedupeTtl": {"Default": ttl}}, "Resources": resources})
    }

    fn crates() -> std::path::PathBuf {
        crate::root().join("crates")
    }

    #[test]
    fn a_ttl_that_outlasts_redeliveries_with_alarms_passes() {
        assert_eq!(
            check(&template("7d", 360, 5, true), &crates()),
            Vec::<String>::new()
        );
        assert_eq!(
            check(&template("1h", 360, 10, true), &crates()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_short_ttl_or_a_missing_alarm_fails() {
        let p = check(&template("1h", 900, 5, true), &crates());
        assert!(
            p.len() == 1 && p[0].contains("900 s visibility × 5 receives"),
            "{p:?}"
        );
        let p = check(&template("30m", 30, 5, true), &crates());
        assert!(p.len() == 1 && p[0].contains("floor of 1h"), "{p:?}");
        let p = check(&template("7d", 360, 5, false), &crates());
        assert!(p.len() == 1 && p[0].contains("Handler: no alarm"), "{p:?}");
        let p = check(&template("a week", 360, 5, true), &crates());
        assert!(p[0].contains("not a duration"), "{p:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(duration("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(duration("600"), Some(Duration::from_secs(600)));
        assert_eq!(duration("1w"), None);
    }
}
