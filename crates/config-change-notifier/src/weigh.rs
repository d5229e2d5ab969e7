//! How serious a notification is, which rule raised it, and which thread it belongs to
//! (pure).
//!
//! - `compliance-change`: a resource turning `NON_COMPLIANT` is a **warning**; any other
//!   compliance change is **info**.
//! - `configuration-change`: changes to what guards the network and access — security
//!   groups, network ACLs, route tables, IAM, KMS keys, S3 bucket policies — are a
//!   **warning**; any other resource's change is **info**. An oversized item that could not
//!   be read is a **warning** (nobody can tell what changed).
//!
//! Thread key: the account and the resource id, so later changes and compliance results of
//! one resource follow its first alert.

use opswatch_delivery::Severity;

use crate::notification::{ComplianceChange, ConfigurationItem};

/// Resource types whose changes are warnings: exact names, or prefixes ending in `::`.
const GUARDS: &[&str] = &[
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::NetworkAcl",
    "AWS::EC2::RouteTable",
    "AWS::IAM::",
    "AWS::KMS::Key",
    "AWS::S3::BucketPolicy",
    "AWS::S3::AccountPublicAccessBlock",
];

pub const CONFIGURATION_CHANGE: &str = "configuration-change";
pub const COMPLIANCE_CHANGE: &str = "compliance-change";

/// A configuration item's change.
pub fn item(item: &ConfigurationItem) -> Severity {
    let guarded = GUARDS.iter().any(|g| match g.strip_suffix("::") {
        Some(_) => item.resource_type.starts_with(g),
        None => item.resource_type == *g,
    });
    if guarded {
        Severity::Warning
    } else {
        Severity::Info
    }
}

/// A compliance change.
pub fn compliance(c: &ComplianceChange) -> Severity {
    let now = c
        .new_evaluation_result
        .as_ref()
        .and_then(|r| r.compliance_type.as_deref());
    if now == Some("NON_COMPLIANT") {
        Severity::Warning
    } else {
        Severity::Info
    }
}

/// The thread key of a resource: `<account>/<resource id>`.
pub fn thread(account: Option<&str>, resource_id: &str) -> String {
    format!("{}/{resource_id}", account.unwrap_or("-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::EvaluationResult;

    fn item_of(resource_type: &str) -> ConfigurationItem {
        serde_json::from_value(serde_json::json!({
            "resourceType": resource_type, "resourceId": "r-1"
        }))
        .unwrap()
    }

    #[test]
    fn severities() {
        for (t, expected) in [
            ("AWS::EC2::SecurityGroup", Severity::Warning),
            ("AWS::EC2::RouteTable", Severity::Warning),
            ("AWS::IAM::Role", Severity::Warning),
            ("AWS::EC2::SecurityGroupIngress", Severity::Info),
            ("AWS::EC2::Instance", Severity::Info),
            ("AWS::S3::Bucket", Severity::Info),
        ] {
            assert_eq!(item(&item_of(t)), expected, "{t}");
        }
        let change = |now: &str| ComplianceChange {
            config_rule_name: "r".into(),
            config_rule_arn: None,
            resource_type: "AWS::S3::Bucket".into(),
            resource_id: "b".into(),
            aws_account_id: None,
            aws_region: None,
            new_evaluation_result: Some(EvaluationResult {
                compliance_type: Some(now.into()),
                annotation: None,
                result_recorded_time: None,
            }),
            old_evaluation_result: None,
            notification_creation_time: None,
        };
        assert_eq!(compliance(&change("NON_COMPLIANT")), Severity::Warning);
        assert_eq!(compliance(&change("COMPLIANT")), Severity::Info);
        assert_eq!(thread(Some("111122223333"), "sg-1"), "111122223333/sg-1");
    }
}
