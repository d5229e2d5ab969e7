//! How serious a notification is, which rule raised it, and which thread it belongs to
//! (pure).
//!
//! - `world-open-ingress`: a security group or network ACL change that opens ingress to
//!   `0.0.0.0/0` or `::/0` — **critical** on any port other than 80 or 443 (or every port),
//!   a **warning** on 80 or 443 alone or for ICMP, as the CloudTrail rule of the same name.
//!   Judged on what the change added (the item's diff; a newly discovered resource's whole
//!   configuration): a group that was already open and changes otherwise is not re-flagged.
//! - `resource-deleted` (**warning**): a security group, VPC, database, bucket, KMS key or
//!   trail deleted.
//! - `compliance-change`: a resource turning `NON_COMPLIANT` is a **warning**; any other
//!   compliance change is **info**.
//! - `configuration-change` (**info**): every other change. An oversized item that could
//!   not be read is a **warning** (nobody can tell what changed).
//!
//! Thread key: the account and the resource id, so later changes and compliance results of
//! one resource follow its first alert.

use opswatch_delivery::Severity;
use serde_json::Value;

use crate::notification::{ComplianceChange, ConfigurationItem, ItemChange};

pub const CONFIGURATION_CHANGE: &str = "configuration-change";
pub const COMPLIANCE_CHANGE: &str = "compliance-change";
pub const WORLD_OPEN_INGRESS: &str = "world-open-ingress";
pub const RESOURCE_DELETED: &str = "resource-deleted";

/// Resource types whose deletion is a warning.
const WATCHED_DELETIONS: &[&str] = &[
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::VPC",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::DynamoDB::Table",
    "AWS::Redshift::Cluster",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::CloudTrail::Trail",
];

/// How one ingress rule (a permission, an ACL entry) weighs, if it is open to the world.
type Weigh = fn(&Value) -> Option<Severity>;

/// A configuration item's change: its severity and rule.
pub fn item(c: &ItemChange) -> (Severity, &'static str) {
    if let Some(s) = world_open(c) {
        return (s, WORLD_OPEN_INGRESS);
    }
    let item = &c.configuration_item;
    let deleted = matches!(
        item.configuration_item_status.as_deref(),
        Some("ResourceDeleted" | "ResourceDeletedNotRecorded")
    );
    if deleted && WATCHED_DELETIONS.contains(&item.resource_type.as_str()) {
        return (Severity::Warning, RESOURCE_DELETED);
    }
    (Severity::Info, CONFIGURATION_CHANGE)
}

/// The most serious world-open ingress rule the change added.
fn world_open(c: &ItemChange) -> Option<Severity> {
    let item: &ConfigurationItem = &c.configuration_item;
    let (diff_key, field, weigh): (&str, &str, Weigh) = match item.resource_type.as_str() {
        "AWS::EC2::SecurityGroup" => ("Configuration.IpPermissions.", "ipPermissions", permission),
        "AWS::EC2::NetworkAcl" => ("Configuration.Entries.", "entries", acl_entry),
        _ => return None,
    };
    fn list<'v>(v: &'v Value, field: &str) -> &'v [Value] {
        v.get(field)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
    // What the change added: rules at least as open as before, and rules not there before.
    let added = |before: &[Value], after: &[Value]| {
        after
            .iter()
            .filter(|a| !before.contains(a))
            .filter_map(weigh)
            .max()
    };
    match &c.configuration_item_diff {
        Some(diff) => diff
            .changed_properties
            .iter()
            .filter_map(|(key, change)| {
                if key.starts_with(diff_key) {
                    let now = weigh(&change.updated_value)?;
                    (weigh(&change.previous_value) < Some(now)).then_some(now)
                } else if key == "Configuration" {
                    added(
                        list(&change.previous_value, field),
                        list(&change.updated_value, field),
                    )
                } else {
                    None
                }
            })
            .max(),
        // No diff: a newly discovered resource is judged on its whole configuration.
        None if item.configuration_item_status.as_deref() == Some("ResourceDiscovered") => added(
            &[],
            list(item.configuration.as_ref().unwrap_or(&Value::Null), field),
        ),
        None => None,
    }
}

fn is_world(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(opswatch_delivery::is_world)
}

/// A security group's ingress permission, as Config records it (`ipv4Ranges[].cidrIp`,
/// `ipv6Ranges[].cidrIpv6`, `ipRanges[]`).
fn permission(p: &Value) -> Option<Severity> {
    let in_list = |list: &str, key: Option<&str>| {
        p.get(list).and_then(Value::as_array).is_some_and(|items| {
            items
                .iter()
                .any(|x| is_world(key.map_or(Some(x), |k| x.get(k))))
        })
    };
    let open = in_list("ipv4Ranges", Some("cidrIp"))
        || in_list("ipv6Ranges", Some("cidrIpv6"))
        || in_list("ipRanges", None);
    open.then(|| {
        ports(
            p.get("ipProtocol"),
            p.get("fromPort").and_then(Value::as_i64),
            p.get("toPort").and_then(Value::as_i64),
        )
    })
}

/// A network ACL entry: an ingress `allow` from the world.
fn acl_entry(e: &Value) -> Option<Severity> {
    let open = e.get("egress") == Some(&Value::Bool(false))
        && e.get("ruleAction").and_then(Value::as_str) == Some("allow")
        && (is_world(e.get("cidrBlock")) || is_world(e.get("ipv6CidrBlock")));
    open.then(|| {
        let range = e.get("portRange");
        let port = |k: &str| range.and_then(|r| r.get(k)).and_then(Value::as_i64);
        ports(e.get("protocol"), port("from"), port("to"))
    })
}

/// [`opswatch_delivery::world_open_ingress`] on a protocol as Config writes it (`"tcp"`,
/// `"6"`, `"-1"`, or a number).
fn ports(protocol: Option<&Value>, from: Option<i64>, to: Option<i64>) -> Severity {
    let protocol = match protocol {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    opswatch_delivery::world_open_ingress(&protocol, from, to)
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
    use crate::notification::{EvaluationResult, Notification};
    use serde_json::json;

    fn sample(name: &str) -> ItemChange {
        let path = format!("{}/../../events/config/{name}", env!("CARGO_MANIFEST_DIR"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let message = event["Records"][0]["Sns"]["Message"].as_str().unwrap();
        match Notification::parse(message).unwrap() {
            Notification::ItemChange(c) => c,
            _ => panic!("{name}: not an item change"),
        }
    }

    /// A security group change that adds `permission`.
    fn sg_adding(permission: Value) -> ItemChange {
        serde_json::from_value(json!({
            "configurationItemDiff": {"changeType": "UPDATE", "changedProperties": {
                "Configuration.IpPermissions.0": {"previousValue": null, "updatedValue": permission, "changeType": "CREATE"}}},
            "configurationItem": {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-1",
                "configurationItemStatus": "OK", "configuration": {"ipPermissions": [permission]}}
        }))
        .unwrap()
    }

    fn ssh_from(cidr: &str) -> Value {
        json!({"fromPort": 22, "toPort": 22, "ipProtocol": "tcp", "ipv6Ranges": [], "prefixListIds": [],
               "userIdGroupPairs": [], "ipv4Ranges": [{"cidrIp": cidr}], "ipRanges": [cidr]})
    }

    #[test]
    fn world_open_ingress_on_security_groups_and_acls() {
        // The samples: SSH opened to the world; a network ACL now allowing DNS from ::/0.
        assert_eq!(
            item(&sample("security-group-ingress.json")),
            (Severity::Critical, WORLD_OPEN_INGRESS)
        );
        assert_eq!(
            item(&sample("network-acl-entries.json")),
            (Severity::Critical, WORLD_OPEN_INGRESS)
        );
        assert_eq!(
            item(&sg_adding(ssh_from("0.0.0.0/0"))),
            (Severity::Critical, WORLD_OPEN_INGRESS)
        );
        // The same rule from a /24 is an ordinary change.
        assert_eq!(
            item(&sg_adding(ssh_from("203.0.113.0/24"))),
            (Severity::Info, CONFIGURATION_CHANGE)
        );
        let https = json!({"fromPort": 443, "toPort": 443, "ipProtocol": "tcp", "ipv6Ranges": [{"cidrIpv6": "::/0"}], "ipv4Ranges": []});
        assert_eq!(
            item(&sg_adding(https)),
            (Severity::Warning, WORLD_OPEN_INGRESS)
        );
        let all = json!({"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}]});
        assert_eq!(
            item(&sg_adding(all)),
            (Severity::Critical, WORLD_OPEN_INGRESS)
        );
        // Already open before, a description changed: not flagged again.
        let mut same: ItemChange = sg_adding(ssh_from("0.0.0.0/0"));
        if let Some(d) = same.configuration_item_diff.as_mut() {
            for change in d.changed_properties.values_mut() {
                change.previous_value = ssh_from("0.0.0.0/0");
            }
        }
        assert_eq!(item(&same), (Severity::Info, CONFIGURATION_CHANGE));
        // A newly discovered group without a diff: its whole configuration.
        let discovered: ItemChange = serde_json::from_value(json!({
            "configurationItem": {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-2",
                "configurationItemStatus": "ResourceDiscovered", "configuration": {"ipPermissions": [ssh_from("::/0")]}}
        }))
        .unwrap();
        assert_eq!(item(&discovered), (Severity::Critical, WORLD_OPEN_INGRESS));
    }

    #[test]
    fn deletions_and_the_rest() {
        // An instance deleted is not among the watched deletions; a VPC is.
        assert_eq!(
            item(&sample("ec2-instance-deleted.json")),
            (Severity::Info, CONFIGURATION_CHANGE)
        );
        let vpc: ItemChange = serde_json::from_value(json!({
            "configurationItem": {"resourceType": "AWS::EC2::VPC", "resourceId": "vpc-1", "configurationItemStatus": "ResourceDeleted"}
        }))
        .unwrap();
        assert_eq!(item(&vpc), (Severity::Warning, RESOURCE_DELETED));
        assert_eq!(
            item(&sample("route-table-routes.json")),
            (Severity::Info, CONFIGURATION_CHANGE)
        );
        assert_eq!(
            item(&sample("s3-bucket-created.json")),
            (Severity::Info, CONFIGURATION_CHANGE)
        );

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
