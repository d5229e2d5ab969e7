//! checkov, an outside scanner, over every CloudFormation template of the repository: each
//! finding fixed, or suppressed in its resource's `Metadata` (`checkov: skip: - id: …
//! comment: …`) with the reason a security reviewer would read. A suppression without a
//! reason counts as a finding.
//!
//! checkov drops a resource whose `Condition` it can evaluate to false with the parameters'
//! defaults (an `Equals` on a parameter that is off by default), so `template.yaml` is also
//! scanned with every feature switched on ([`FEATURES_ON`]), once per audit-log mode: every
//! resource the stack can create is judged.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Parameters whose defaults leave resources out, and a value that brings them in. The
/// audit-log watcher's two modes create different resources, so each is a variant.
const FEATURES_ON: &[&[(&str, &str)]] = &[
    &[
        ("SesEventArchive", "\"true\""),
        ("RdsMaintenanceChecker", "\"true\""),
        ("HealthEvents", "\"true\""),
        ("AuditLogGroupName", "/aws/rds/cluster/aurora-prod/audit"),
        ("AuditMode", "push"),
        (
            "SlackBotTokenSecretArn",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:opswatch/slack-bot",
        ),
        ("SlackChannel", "C0ALERTS000"),
        (
            "SlackSigningSecretArn",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:opswatch/slack-signing",
        ),
        ("AccountNamesFromOrganizations", "\"true\""),
        ("OrgAccounts", "all"),
    ],
    &[
        ("SesEventArchive", "\"true\""),
        ("RdsMaintenanceChecker", "\"true\""),
        ("HealthEvents", "\"true\""),
        ("AuditLogGroupName", "/aws/rds/cluster/aurora-prod/audit"),
        ("AuditMode", "pull"),
    ],
];

/// Shorter than this, a suppression's comment is not a reason.
const MIN_REASON: usize = 40;

pub fn main() -> Result<(), String> {
    crate::python::CHECKOV.ensure()?;
    let root = crate::root();
    let mut scans: Vec<(String, PathBuf)> = templates(&root)?
        .into_iter()
        .map(|p| (relative(&root, &p), p))
        .collect();
    let main = root.join("template.yaml");
    let text = std::fs::read_to_string(&main).map_err(|e| format!("template.yaml: {e}"))?;
    let dir = crate::target_dir().join("checkov");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (i, on) in FEATURES_ON.iter().enumerate() {
        let variant = with_defaults(&text, on)?;
        let path = dir.join(format!("template.features-on-{}.yaml", i + 1));
        std::fs::write(&path, variant).map_err(|e| format!("{}: {e}", path.display()))?;
        let label = on
            .iter()
            .map(|(k, v)| format!("{k}={}", v.trim_matches('"')))
            .collect::<Vec<_>>()
            .join(" ");
        scans.push((format!("template.yaml with {label}"), path));
    }
    let mut findings = Vec::new();
    for (label, path) in &scans {
        let report = scan(path)?;
        let (passed, failed, skipped) = (
            count(&report, "passed_checks"),
            results(&report, "failed_checks"),
            results(&report, "skipped_checks"),
        );
        eprintln!(
            "checkov {label}: {passed} passed, {} failed, {} suppressed",
            failed.len(),
            skipped.len()
        );
        for f in &failed {
            findings.push(format!("{label}: {} {} ({})", f.id, f.resource, f.name));
        }
        for s in skipped
            .iter()
            .filter(|s| s.reason.trim().len() < MIN_REASON)
        {
            findings.push(format!(
                "{label}: {} on {} is suppressed without a reason (a comment of {MIN_REASON}+ characters)",
                s.id, s.resource
            ));
        }
    }
    if findings.is_empty() {
        return Ok(());
    }
    for f in &findings {
        eprintln!("  {f}");
    }
    Err(format!(
        "checkov: {} unexplained finding(s): fix each, or suppress it in its resource's Metadata with the reason",
        findings.len()
    ))
}

/// Every CloudFormation template of the repository (YAML with `AWSTemplateFormatVersion`
/// or a top-level `Resources:`), outside `target/` and hidden folders.
fn templates(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    stack.push(path);
                }
            } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                && std::fs::read_to_string(&path).is_ok_and(|t| {
                    t.contains("AWSTemplateFormatVersion") || t.lines().any(|l| l == "Resources:")
                })
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `text` with each named parameter's `Default:` set to the value given.
fn with_defaults(text: &str, defaults: &[(&str, &str)]) -> Result<String, String> {
    let mut out = text.to_owned();
    for (name, value) in defaults {
        let head = format!("\n  {name}:\n");
        let at = out
            .find(&head)
            .ok_or_else(|| format!("template.yaml: no parameter {name}"))?
            + head.len();
        // The parameter's block: the lines indented deeper than its name.
        let block_end = at
            + out[at..]
                .split_inclusive('\n')
                .take_while(|line| line.starts_with("    "))
                .map(str::len)
                .sum::<usize>();
        let block = &out[at..block_end];
        let new_block = match block.find("    Default:") {
            Some(d) => {
                let end = block[d..].find('\n').map_or(block.len(), |e| d + e);
                format!("{}    Default: {value}{}", &block[..d], &block[end..])
            }
            None => format!("    Default: {value}\n{block}"),
        };
        out.replace_range(at..block_end, &new_block);
    }
    Ok(out)
}

/// checkov run from the template's own folder on its bare file name. checkov copies the
/// path it was given into each SAM function's environment (`__file__`, when it merges
/// `Globals`), and CKV_AWS_45 then reads that path as a variable's value: a checkout whose
/// path holds 40 characters of `[A-Za-z0-9/]` in a row (`/check/work/main/target/checkov/
/// template`) is an "AWS secret access key". A bare name (`template.features-on-1.yaml`)
/// never is, wherever the repository lives.
fn scan(path: &Path) -> Result<Value, String> {
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => (dir, name),
        _ => return Err(format!("checkov: {} is not a file path", path.display())),
    };
    let out = Command::new(crate::python::CHECKOV.bin("checkov"))
        .current_dir(dir)
        .args(["--framework", "cloudformation", "--skip-download"])
        .args(["--output", "json", "--file"])
        .arg(name)
        // No telemetry, no guideline download: CI has no business reaching out.
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        .output()
        .map_err(|e| format!("running checkov: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "checkov on {}: not a JSON report ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )
    })?;
    // One framework, one report; an empty scan answers a summary without results.
    Ok(match report {
        Value::Array(mut all) if !all.is_empty() => all.swap_remove(0),
        other => other,
    })
}

fn count(report: &Value, kind: &str) -> usize {
    report["results"][kind].as_array().map_or(0, Vec::len)
}

struct Finding {
    id: String,
    resource: String,
    name: String,
    reason: String,
}

fn results(report: &Value, kind: &str) -> Vec<Finding> {
    report["results"][kind]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Finding {
            id: r["check_id"].as_str().unwrap_or("?").to_owned(),
            resource: r["resource"].as_str().unwrap_or("?").to_owned(),
            name: r["check_name"].as_str().unwrap_or("").to_owned(),
            reason: r["check_result"]["suppress_comment"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_set_in_their_own_block() {
        let text = "Parameters:\n  A:\n    Type: String\n    Default: \"false\"\n    Description: a\n  B:\n    Type: String\n    Description: >-\n      b\n  C:\n    Type: String\n    Default: x\nResources:\n  R:\n    Type: X\n";
        let out = with_defaults(text, &[("A", "\"true\""), ("B", "on"), ("C", "y")]).unwrap();
        assert_eq!(
            out,
            "Parameters:\n  A:\n    Type: String\n    Default: \"true\"\n    Description: a\n  B:\n    Default: on\n    Type: String\n    Description: >-\n      b\n  C:\n    Type: String\n    Default: y\nResources:\n  R:\n    Type: X\n"
        );
        assert!(with_defaults(text, &[("D", "1")]).is_err());
    }

    #[test]
    fn the_features_on_variants_name_real_parameters() {
        let text = std::fs::read_to_string(crate::root().join("template.yaml")).unwrap();
        for on in FEATURES_ON {
            with_defaults(&text, on).unwrap();
        }
    }
}
