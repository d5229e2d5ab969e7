//! `cargo xtask rules <log file|event>…`: CloudTrail records replayed through the filter and
//! the rules the environment configures — the function's own variables (`RULES`,
//! `DISABLE_RULES`, `MIN_SEVERITY`, `ACCOUNT_NAMES`, `INCLUDE_*`/`EXCLUDE_*`, …) — printing
//! each record's rules and severity, or why it would be dropped. Nothing is posted.
//!
//! A log file (gzip or JSON) is read as it is; an EventBridge event is its one record; an
//! SQS or SNS event announcing log files reads them from `s3-objects/` beside the event (the
//! samples' layout), so `cargo xtask rules events/cloudtrail/sqs-log-delivery.json` works.

use std::path::{Path, PathBuf};

use opswatch_cloudtrail_event_handler::filter::Filter;
use opswatch_cloudtrail_event_handler::input::{self, Delivery, Event};
use opswatch_cloudtrail_event_handler::replay::{self, Replayed};
use opswatch_cloudtrail_event_handler::rules::{Rules, env};
use serde_json::Value;

const USAGE: &str = "usage: cargo xtask rules <CloudTrail log file (.json or .json.gz) | SQS, SNS or EventBridge event>…";

pub fn main(args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Err(USAGE.into());
    }
    let var = |k: &str| std::env::var(k).ok();
    if var(env::RULES).is_none() && var(env::RULES_PARAMETER).is_some() {
        return Err(format!(
            "{p} is read by the function at cold start, not here: put the rules in {r}, e.g. {r}=\"$(aws ssm get-parameter --name NAME --with-decryption --query Parameter.Value --output text)\"",
            p = env::RULES_PARAMETER,
            r = env::RULES
        ));
    }
    let filter = Filter::from_lookup(var)?;
    let rules = Rules::from_lookup(var, &filter.account_names)?;
    let (on, ignore) = rules.names();
    println!("rules: {}", on.join(", "));
    if !ignore.is_empty() {
        println!("ignore rules: {}", ignore.join(", "));
    }
    println!(
        "critical built-in rules are silenced only by DISABLE_RULES or an ignore rule's \"silences\""
    );
    println!("minimum severity: {}", rules.min_severity);
    for arg in args {
        let path = PathBuf::from(arg);
        let bytes = std::fs::read(&path).map_err(|e| format!("{arg}: {e}"))?;
        for (what, replayed) in replays(&path, &bytes, &filter, &rules)? {
            println!("\n{what}");
            print!("{}", replay::report(&replayed));
        }
    }
    Ok(())
}

/// What one file holds, replayed: one entry per log file it is or announces.
fn replays(
    path: &Path,
    bytes: &[u8],
    filter: &Filter,
    rules: &Rules,
) -> Result<Vec<(String, Vec<Replayed>)>, String> {
    let name = path.display().to_string();
    let log = |label: String, bytes: &[u8]| {
        replay::log_file(filter, rules, bytes)
            .map(|r| (label.clone(), r))
            .map_err(|e| format!("{label}: {e}"))
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(vec![log(format!("{name} (log file)"), bytes)?]);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{name}: not JSON ({e})"))?;
    let is_log = value["Records"].as_array().is_some_and(|r| {
        r.first().is_some_and(|x| {
            x.get("eventName").is_some() || x.get("eventSource").is_some_and(|s| s != "aws:sqs")
        })
    });
    if is_log {
        return Ok(vec![log(format!("{name} (log file)"), bytes)?]);
    }
    let mut out = Vec::new();
    match input::parse(&value).map_err(|e| format!("{name}: {e}"))? {
        Event::EventBridge(r) => {
            let doc = rules
                .needs_document()
                .then(|| input::detail_document(&value, &r));
            out.push((
                format!("{name} (EventBridge event)"),
                vec![replay::record(
                    filter,
                    &mut rules.reading(filter),
                    &r,
                    doc.as_ref(),
                )],
            ));
        }
        Event::Sqs(items) | Event::Sns(items) => {
            for item in items {
                match item.delivery {
                    Ok(Delivery::Validation) => {}
                    Ok(Delivery::Files { keys, .. }) => {
                        for key in keys {
                            let file = locate(path, &key)?;
                            let bytes = std::fs::read(&file)
                                .map_err(|e| format!("{}: {e}", file.display()))?;
                            out.push(log(
                                format!(
                                    "{key} (announced in {name}, read from {})",
                                    file.display()
                                ),
                                &bytes,
                            )?);
                        }
                    }
                    Err(e) => {
                        println!("{name}: message {}: {e}", item.id.as_deref().unwrap_or("?"))
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The local copy of an announced log file: `s3-objects/` beside the event, at any depth,
/// with or without `.gz`.
fn locate(event: &Path, key: &str) -> Result<PathBuf, String> {
    let file = key.rsplit('/').next().unwrap_or(key);
    let names = [file.to_owned(), file.trim_end_matches(".gz").to_owned()];
    let dir = event.parent().unwrap_or(Path::new(".")).join("s3-objects");
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| names.iter().any(|x| x == n))
            {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "{key}: no local copy under {} (pass the log file itself)",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opswatch_cloudtrail_event_handler::replay::Fate;

    fn replayed(rel: &str) -> Vec<(String, Vec<Replayed>)> {
        let path = crate::root().join("events/cloudtrail").join(rel);
        let bytes = std::fs::read(&path).expect("the sample");
        replays(&path, &bytes, &Filter::default(), &Rules::default()).expect("replays")
    }

    #[test]
    fn every_kind_of_sample_replays_every_record() {
        // An SQS event: the log file it announces, read from s3-objects/.
        let sqs = replayed("sqs-log-delivery.json");
        assert_eq!(sqs.len(), 1);
        assert!(sqs[0].0.contains("read from"), "{}", sqs[0].0);
        assert_eq!(sqs[0].1.len(), 40);
        // An organization trail's, in its o-… folder.
        let org = replayed("sqs-org-trail-delivery.json");
        assert_eq!(org[0].1.len(), 12);
        // A log file itself, and an EventBridge event.
        let file =
            replayed("s3-objects/111122223333_CloudTrail_us-east-1_20261125T0915Z_mixed.json");
        assert_eq!(file[0].1, sqs[0].1);
        let eb = replayed("eventbridge-security-group-ingress.json");
        assert!(matches!(
            &eb[0].1[..],
            [Replayed { fate: Fate::Alerted { rules, .. }, .. }] if rules == &["world-open-ingress"]
        ));
        // The validation message announces nothing.
        assert!(replayed("sqs-validation-message.json").is_empty());
    }
}
