//! Formatting: AWS Config notifications as Slack alerts. Pure: no I/O, no clock.
//!
//! A changed property becomes one readable line (`+` created, `-` deleted, `~` updated,
//! `before → after`). Security-group rules, routes and network-ACL entries get a rendering
//! an operator reads at a glance (protocol, ports, peers; destination and target; rule
//! number, action, direction); everything else is flattened to `path: before → after` leaves.

use std::cmp::Ordering;

use opswatch_slack::{Alert, Mrkdwn};
use opswatch_support::AccountNames;
use serde_json::Value;

use crate::notification::{
    ComplianceChange, ConfigurationItem, ItemChange, Oversized, PropertyChange,
};

/// Where an item change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Notification,
    /// An oversized notification whose full item was fetched from S3.
    OversizedFromS3,
}

/// An item change (CREATE / UPDATE / DELETE).
pub fn item_change(change: &ItemChange, source: Source, names: &AccountNames) -> Alert {
    let item = &change.configuration_item;
    let change_type = change
        .configuration_item_diff
        .as_ref()
        .and_then(|d| d.change_type.clone())
        .or_else(|| item.change_type.clone())
        .unwrap_or_else(|| "UPDATE".to_owned());
    let lines = change
        .configuration_item_diff
        .as_ref()
        .map(|d| {
            let mut props: Vec<(&String, &PropertyChange)> = d.changed_properties.iter().collect();
            props.sort_by(|a, b| natural_cmp(a.0, b.0));
            props
                .into_iter()
                .flat_map(|(path, p)| property_lines(&item.resource_type, path, p))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut alert = resource_alert(item, &change_type, names);
    if lines.is_empty() {
        alert = alert.lines(vec![Mrkdwn::trusted("_No property changes were listed._")]);
    }
    alert = alert.code(lines);
    if source == Source::OversizedFromS3 {
        alert = alert.context(Mrkdwn::trusted(
            "Oversized notification: the item was read from S3.",
        ));
    }
    alert.context(console_link(item))
}

/// An oversized notification whose item could not be read: the summary and where it is.
pub fn oversized_unread(o: &Oversized, why: &str, names: &AccountNames) -> Alert {
    let item = &o.configuration_item_summary;
    let change_type = item
        .change_type
        .clone()
        .unwrap_or_else(|| "UPDATE".to_owned());
    let mut line = Mrkdwn::trusted("The full item is too large for SNS; AWS Config put it at ");
    match o.s3_delivery_summary.s3_bucket_location.as_deref() {
        Some(loc) => line.push_code(&format!("s3://{}", loc.trim_start_matches("s3://"))),
        None => line.push_trusted("no S3 location"),
    };
    line.push_trusted(". It could not be read: ").push(why);
    resource_alert(item, &change_type, names)
        .lines(vec![line])
        .context(console_link(item))
}

/// A rule's compliance verdict on a resource changed.
pub fn compliance(c: &ComplianceChange, names: &AccountNames) -> Alert {
    let new = c
        .new_evaluation_result
        .as_ref()
        .and_then(|r| r.compliance_type.as_deref())
        .unwrap_or("UNKNOWN");
    let old = c
        .old_evaluation_result
        .as_ref()
        .and_then(|r| r.compliance_type.as_deref())
        .unwrap_or("NOT_EVALUATED");
    let icon = match new {
        "NON_COMPLIANT" => "🔴",
        "COMPLIANT" => "🟢",
        _ => "⚪",
    };
    let header = format!(
        "{icon} {} is {new} with {}",
        c.resource_id, c.config_rule_name
    );
    let mut verdict = Mrkdwn::new();
    verdict.push(old).push_trusted(" → ").push_bold(new);
    let mut alert = Alert::new(header.clone(), header)
        .field("Rule", Mrkdwn::text(&c.config_rule_name))
        .field("Compliance", verdict)
        .field("Resource", Mrkdwn::text(&c.resource_id))
        .field("Type", Mrkdwn::text(&c.resource_type))
        .field("Account", account(c.aws_account_id.as_deref(), names))
        .field("Region", opt(c.aws_region.as_deref()))
        .field(
            "Evaluated",
            opt(c
                .new_evaluation_result
                .as_ref()
                .and_then(|r| r.result_recorded_time.as_deref())),
        );
    if let Some(note) = c
        .new_evaluation_result
        .as_ref()
        .and_then(|r| r.annotation.as_deref())
    {
        let mut m = Mrkdwn::trusted("*Annotation:* ");
        m.push(note);
        alert = alert.lines(vec![m]);
    }
    if let Some(region) = c.aws_region.as_deref() {
        let url = format!(
            "https://{region}.console.aws.amazon.com/config/home?region={region}#/rules/details?configRuleName={}",
            percent(&c.config_rule_name)
        );
        let mut link = Mrkdwn::new();
        link.push_link(&url, "Open the rule in AWS Config");
        alert = alert.context(link);
    }
    alert
}

fn resource_alert(item: &ConfigurationItem, change_type: &str, names: &AccountNames) -> Alert {
    let verb = match change_type {
        "CREATE" => "created",
        "DELETE" => "deleted",
        _ => "changed",
    };
    let who = item
        .resource_name
        .as_deref()
        .filter(|n| !n.is_empty() && *n != item.resource_id);
    let title = match who {
        Some(name) => format!("{} {name} ({})", item.resource_type, item.resource_id),
        None => format!("{} {}", item.resource_type, item.resource_id),
    };
    let header = format!("{} {title} {verb}", icon(change_type));
    let mut resource = Mrkdwn::new();
    resource.push_code(&item.resource_id);
    if let Some(name) = who {
        resource.push_trusted(" ").push(name);
    }
    Alert::new(header.clone(), header)
        .field("Resource", resource)
        .field("Type", Mrkdwn::text(&item.resource_type))
        .field("Change", Mrkdwn::text(change_type))
        .field("Account", account(item.aws_account_id.as_deref(), names))
        .field("Region", opt(item.aws_region.as_deref()))
        .field(
            "Captured",
            opt(item.configuration_item_capture_time.as_deref()),
        )
}

fn icon(change_type: &str) -> &'static str {
    match change_type {
        "CREATE" => "🆕",
        "DELETE" => "🗑️",
        _ => "✏️",
    }
}

/// The account's id and, when it has one, its name: `222233334444 (payments)`.
fn account(id: Option<&str>, names: &AccountNames) -> Mrkdwn {
    opt(id.map(|id| names.label(id)).as_deref())
}

fn opt(s: Option<&str>) -> Mrkdwn {
    s.map(Mrkdwn::text).unwrap_or_default()
}

fn console_link(item: &ConfigurationItem) -> Mrkdwn {
    let mut m = Mrkdwn::new();
    if let Some(region) = item.aws_region.as_deref().filter(|r| !r.is_empty()) {
        let url = format!(
            "https://{region}.console.aws.amazon.com/config/home?region={region}#/resources/details?resourceId={}&resourceType={}",
            percent(&item.resource_id),
            percent(&item.resource_type)
        );
        m.push_link(&url, "Open the resource timeline in AWS Config");
    }
    m
}

/// Percent-encode everything but unreserved characters (RFC 3986).
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Compare property paths so that `Routes.2` sorts before `Routes.10`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Describes one element of a well-known collection (a rule, a route, an ACL entry).
type Describe = fn(&Value) -> Option<String>;

/// The lines for one changed property.
fn property_lines(resource_type: &str, path: &str, p: &PropertyChange) -> Vec<String> {
    let (before, after) = (&p.previous_value, &p.updated_value);
    let special: Option<(&str, Describe)> = match (resource_type, collection(path)) {
        ("AWS::EC2::SecurityGroup", Some("Configuration.IpPermissions")) => {
            Some(("ingress", sg_ingress))
        }
        ("AWS::EC2::SecurityGroup", Some("Configuration.IpPermissionsEgress")) => {
            Some(("egress", sg_egress))
        }
        ("AWS::EC2::RouteTable", Some("Configuration.Routes")) => Some(("route", route)),
        ("AWS::EC2::NetworkAcl", Some("Configuration.Entries")) => Some(("", nacl_entry)),
        _ => None,
    };
    if let Some((label, describe)) = special {
        let describe = |v: &Value| if v.is_null() { None } else { describe(v) };
        let rendered = match (
            describe(before),
            describe(after),
            before.is_null(),
            after.is_null(),
        ) {
            (None, Some(a), true, _) => Some(format!("+ {label}{}{a}", sep(label))),
            (Some(b), None, _, true) => Some(format!("- {label}{}{b}", sep(label))),
            (Some(b), Some(a), _, _) if b == a => {
                Some(format!("~ {label}{}{a} (details changed)", sep(label)))
            }
            (Some(b), Some(a), _, _) => Some(format!("~ {label}{}{b} → {a}", sep(label))),
            _ => None,
        };
        if let Some(line) = rendered {
            return vec![line];
        }
    }
    generic_lines(path, before, after)
}

fn sep(label: &str) -> &'static str {
    if label.is_empty() { "" } else { " " }
}

/// `Configuration.IpPermissions.3` → `Configuration.IpPermissions`.
fn collection(path: &str) -> Option<&str> {
    let (head, last) = path.rsplit_once('.')?;
    last.parse::<u64>().is_ok().then_some(head)
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn i(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(|x| {
        x.as_i64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    })
}

fn protocol_name(p: &str) -> String {
    match p {
        "-1" | "all" => "all traffic".into(),
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        other => format!("protocol {other}"),
    }
}

fn ports(protocol: &str, from: Option<i64>, to: Option<i64>) -> String {
    if protocol == "all traffic" {
        return String::new();
    }
    if protocol.starts_with("icmp") {
        return match (from, to) {
            (Some(-1) | None, _) => " (all types)".into(),
            (Some(t), Some(-1) | None) => format!(" type {t}"),
            (Some(t), Some(c)) => format!(" type {t} code {c}"),
        };
    }
    match (from, to) {
        (None, None) | (Some(0), Some(65535)) | (Some(-1), _) => " (all ports)".into(),
        (Some(f), Some(t)) if f == t => format!(" {f}"),
        (Some(f), Some(t)) => format!(" {f}-{t}"),
        (Some(f), None) | (None, Some(f)) => format!(" {f}"),
    }
}

fn sg_ingress(v: &Value) -> Option<String> {
    sg_rule(v, "from")
}

fn sg_egress(v: &Value) -> Option<String> {
    sg_rule(v, "to")
}

/// `tcp 22 from 0.0.0.0/0 (temp debug), ::/0`.
fn sg_rule(v: &Value, towards: &str) -> Option<String> {
    let proto = protocol_name(s(v, "ipProtocol")?);
    let mut peers: Vec<String> = Vec::new();
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let v4 = list("ipv4Ranges");
    if v4.is_empty() {
        peers.extend(
            list("ipRanges")
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned)),
        );
    }
    for r in v4 {
        if let Some(c) = s(&r, "cidrIp") {
            peers.push(described(c, s(&r, "description")));
        }
    }
    for r in list("ipv6Ranges") {
        if let Some(c) = s(&r, "cidrIpv6") {
            peers.push(described(c, s(&r, "description")));
        }
    }
    for r in list("prefixListIds") {
        if let Some(c) = s(&r, "prefixListId") {
            peers.push(described(c, s(&r, "description")));
        }
    }
    for r in list("userIdGroupPairs") {
        if let Some(g) = s(&r, "groupId").or_else(|| s(&r, "groupName")) {
            peers.push(described(g, s(&r, "description")));
        }
    }
    let peers = if peers.is_empty() {
        "nowhere".to_owned()
    } else {
        peers.join(", ")
    };
    let ports = ports(&proto, i(v, "fromPort"), i(v, "toPort"));
    Some(format!("{proto}{ports} {towards} {peers}"))
}

fn described(what: &str, description: Option<&str>) -> String {
    match description {
        Some(d) => format!("{what} ({d})"),
        None => what.to_owned(),
    }
}

/// `0.0.0.0/0 via nat-0a9b… (active)`.
fn route(v: &Value) -> Option<String> {
    let dest = s(v, "destinationCidrBlock")
        .or_else(|| s(v, "destinationIpv6CidrBlock"))
        .or_else(|| s(v, "destinationPrefixListId"))?;
    const TARGETS: [&str; 12] = [
        "gatewayId",
        "natGatewayId",
        "transitGatewayId",
        "vpcPeeringConnectionId",
        "networkInterfaceId",
        "instanceId",
        "egressOnlyInternetGatewayId",
        "localGatewayId",
        "carrierGatewayId",
        "coreNetworkArn",
        "vpcEndpointId",
        "odbNetworkArn",
    ];
    let target = TARGETS.iter().find_map(|k| s(v, k)).unwrap_or("no target");
    let state = match s(v, "state") {
        Some("blackhole") => " (BLACKHOLE)".to_owned(),
        Some(st) => format!(" ({st})"),
        None => String::new(),
    };
    Some(format!("{dest} via {target}{state}"))
}

/// `inbound rule 90 deny tcp 3389 203.0.113.0/24`.
fn nacl_entry(v: &Value) -> Option<String> {
    let number = i(v, "ruleNumber")?;
    let direction = match v.get("egress").and_then(Value::as_bool) {
        Some(true) => "outbound",
        _ => "inbound",
    };
    let action = s(v, "ruleAction").unwrap_or("?");
    let proto = protocol_name(s(v, "protocol").unwrap_or("-1"));
    let ports = if proto.starts_with("icmp") {
        let tc = v.get("icmpTypeCode");
        ports(
            &proto,
            tc.and_then(|t| i(t, "type")),
            tc.and_then(|t| i(t, "code")),
        )
    } else {
        let range = v.get("portRange");
        ports(
            &proto,
            range.and_then(|r| i(r, "from")),
            range.and_then(|r| i(r, "to")),
        )
    };
    let cidr = s(v, "cidrBlock")
        .or_else(|| s(v, "ipv6CidrBlock"))
        .unwrap_or("?");
    Some(format!(
        "{direction} rule {number}: {action} {proto}{ports} {cidr}"
    ))
}

/// Leaf-by-leaf lines for any property: `+ path: value`, `- path: value`, `~ path: a → b`.
fn generic_lines(path: &str, before: &Value, after: &Value) -> Vec<String> {
    let mut old = Vec::new();
    let mut new = Vec::new();
    flatten(path, before, &mut old);
    flatten(path, after, &mut new);
    let mut lines = Vec::new();
    for (p, b) in &old {
        match new.iter().find(|(q, _)| q == p) {
            Some((_, a)) if a == b => {}
            Some((_, a)) => lines.push(format!("~ {p}: {b} → {a}")),
            None => lines.push(format!("- {p}: {b}")),
        }
    }
    for (p, a) in &new {
        if !old.iter().any(|(q, _)| q == p) {
            lines.push(format!("+ {p}: {a}"));
        }
    }
    if lines.is_empty() && before != after {
        lines.push(format!("~ {path}: {} → {}", scalar(before), scalar(after)));
    }
    lines
}

/// Leaves of a JSON value with dotted paths; nulls and empty containers are left out.
fn flatten(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Object(m) if m.is_empty() => {}
        Value::Array(a) if a.is_empty() => {}
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{path}.{k}"), x, out);
            }
        }
        Value::Array(a) => {
            for (n, x) in a.iter().enumerate() {
                flatten(&format!("{path}.{n}"), x, out);
            }
        }
        leaf => out.push((path.to_owned(), scalar(leaf))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(resource_type: &str, path: &str, before: Value, after: Value, expected: &[&str]) {
        let p = PropertyChange {
            previous_value: before,
            updated_value: after,
            change_type: None,
        };
        assert_eq!(property_lines(resource_type, path, &p), expected);
    }

    const SG: &str = "AWS::EC2::SecurityGroup";

    #[test]
    fn security_group_rules() {
        check(
            SG,
            "Configuration.IpPermissions.0",
            Value::Null,
            json!({"fromPort":22,"toPort":22,"ipProtocol":"tcp","ipv4Ranges":[{"cidrIp":"0.0.0.0/0"}],"ipRanges":["0.0.0.0/0"]}),
            &["+ ingress tcp 22 from 0.0.0.0/0"],
        );
        check(
            SG,
            "Configuration.IpPermissionsEgress.0",
            json!({"ipProtocol":"-1","ipv4Ranges":[{"cidrIp":"0.0.0.0/0"}]}),
            Value::Null,
            &["- egress all traffic to 0.0.0.0/0"],
        );
        check(
            SG,
            "Configuration.IpPermissions.3",
            json!({"fromPort":1024,"toPort":2048,"ipProtocol":"udp","ipRanges":["10.0.0.0/8"]}),
            json!({"fromPort":1024,"toPort":2048,"ipProtocol":"udp","userIdGroupPairs":[{"groupId":"sg-1","userId":"1"}],"prefixListIds":[{"prefixListId":"pl-1"}]}),
            &["~ ingress udp 1024-2048 from 10.0.0.0/8 → udp 1024-2048 from pl-1, sg-1"],
        );
        check(
            SG,
            "Configuration.IpPermissions.4",
            Value::Null,
            json!({"fromPort":-1,"toPort":-1,"ipProtocol":"icmp","ipv6Ranges":[{"cidrIpv6":"::/0"}]}),
            &["+ ingress icmp (all types) from ::/0"],
        );
    }

    #[test]
    fn routes() {
        check(
            "AWS::EC2::RouteTable",
            "Configuration.Routes.1",
            Value::Null,
            json!({"destinationCidrBlock":"0.0.0.0/0","gatewayId":"igw-1","state":"active"}),
            &["+ route 0.0.0.0/0 via igw-1 (active)"],
        );
        check(
            "AWS::EC2::RouteTable",
            "Configuration.Routes.2",
            json!({"destinationPrefixListId":"pl-9","vpcEndpointId":"vpce-1","state":"blackhole"}),
            Value::Null,
            &["- route pl-9 via vpce-1 (BLACKHOLE)"],
        );
    }

    #[test]
    fn nacl_entries() {
        check(
            "AWS::EC2::NetworkAcl",
            "Configuration.Entries.0",
            Value::Null,
            json!({"cidrBlock":"0.0.0.0/0","egress":true,"protocol":"6","ruleAction":"allow","ruleNumber":100,"portRange":{"from":443,"to":443}}),
            &["+ outbound rule 100: allow tcp 443 0.0.0.0/0"],
        );
        check(
            "AWS::EC2::NetworkAcl",
            "Configuration.Entries.1",
            json!({"cidrBlock":"10.0.0.0/8","egress":false,"protocol":"-1","ruleAction":"deny","ruleNumber":32767}),
            Value::Null,
            &["- inbound rule 32767: deny all traffic 10.0.0.0/8"],
        );
    }

    #[test]
    fn generic_leaves() {
        check(
            "AWS::S3::Bucket",
            "Tags.Owner",
            json!("alice"),
            json!("bob"),
            &["~ Tags.Owner: alice → bob"],
        );
        check(
            "AWS::RDS::DBInstance",
            "Configuration",
            json!({"a":1,"b":{"c":true,"d":[1,2]},"gone":"x"}),
            json!({"a":2,"b":{"c":true,"d":[1,3]},"new":""}),
            &[
                "~ Configuration.a: 1 → 2",
                "~ Configuration.b.d.1: 2 → 3",
                "- Configuration.gone: x",
                "+ Configuration.new: \"\"",
            ],
        );
        check(
            "AWS::X::Y",
            "Configuration.Z",
            json!({}),
            json!({}),
            &[] as &[&str],
        );
        check(
            "AWS::X::Y",
            "Configuration.Z",
            json!({}),
            json!([]),
            &["~ Configuration.Z: {} → []"],
        );
        check(
            "AWS::X::Y",
            "Configuration.Z",
            json!({}),
            Value::Null,
            &["~ Configuration.Z: {} → (none)"],
        );
        // A rule of an unexpected shape falls back to the generic rendering.
        check(
            SG,
            "Configuration.IpPermissions.0",
            Value::Null,
            json!("odd"),
            &["+ Configuration.IpPermissions.0: odd"],
        );
    }

    #[test]
    fn paths_sort_naturally() {
        let mut v = vec!["Routes.10", "Routes.2", "A", "Routes.1.x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["A", "Routes.1.x", "Routes.2", "Routes.10"]);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent("AWS::EC2::VPC"), "AWS%3A%3AEC2%3A%3AVPC");
        assert_eq!(percent("a b/c&d"), "a%20b%2Fc%26d");
    }
}

/// The Slack messages for each sample in `events/config/`, snapshotted so that a formatting
/// change shows up in review.
#[cfg(test)]
mod snapshots {
    use super::*;
    use crate::notification::{Notification, sns_records};

    fn sample(name: &str) -> Notification {
        let path = format!("{}/../../events/config/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("sample exists");
        let event: Value = serde_json::from_str(&text).expect("sample is JSON");
        let message = sns_records(&event).expect("SNS event")[0]
            .message
            .clone()
            .expect("message");
        Notification::parse(&message).expect("sample parses")
    }

    fn change(name: &str) -> ItemChange {
        match sample(name) {
            Notification::ItemChange(c) => c,
            other => panic!("{name} is not an item change: {other:?}"),
        }
    }

    #[test]
    fn security_group_ingress() {
        insta::assert_json_snapshot!(
            item_change(
                &change("security-group-ingress.json"),
                Source::Notification,
                &AccountNames::default()
            )
            .into_messages()
        );
    }

    #[test]
    fn route_table_routes() {
        insta::assert_json_snapshot!(
            item_change(
                &change("route-table-routes.json"),
                Source::Notification,
                &AccountNames::default()
            )
            .into_messages()
        );
    }

    #[test]
    fn network_acl_entries() {
        insta::assert_json_snapshot!(
            item_change(
                &change("network-acl-entries.json"),
                Source::Notification,
                &AccountNames::default()
            )
            .into_messages()
        );
    }

    #[test]
    fn s3_bucket_created() {
        insta::assert_json_snapshot!(
            item_change(
                &change("s3-bucket-created.json"),
                Source::Notification,
                &AccountNames::default()
            )
            .into_messages()
        );
    }

    #[test]
    fn ec2_instance_deleted() {
        insta::assert_json_snapshot!(
            item_change(
                &change("ec2-instance-deleted.json"),
                Source::Notification,
                &AccountNames::default()
            )
            .into_messages()
        );
    }

    #[test]
    fn tag_with_mention_is_escaped() {
        let messages = item_change(
            &change("tag-with-mention.json"),
            Source::Notification,
            &AccountNames::default(),
        )
        .into_messages();
        let json = serde_json::to_string(&messages).expect("serialisable");
        assert!(!json.contains("<!channel>"), "{json}");
        assert!(json.contains("&lt;!channel&gt;"), "{json}");
        insta::assert_json_snapshot!(messages);
    }

    #[test]
    fn compliance_change() {
        let Notification::Compliance(c) = sample("compliance-change.json") else {
            panic!("compliance sample")
        };
        insta::assert_json_snapshot!(compliance(&c, &AccountNames::default()).into_messages());
    }

    #[test]
    fn oversized_read_from_s3_and_unread() {
        let Notification::Oversized(o) = sample("oversized-security-group.json") else {
            panic!("oversized sample")
        };
        let path = format!(
            "{}/../../events/config/s3-objects/oversized-security-group.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let item: ItemChange =
            serde_json::from_str(&std::fs::read_to_string(path).expect("object")).expect("item");
        insta::assert_json_snapshot!(
            "oversized_from_s3",
            item_change(&item, Source::OversizedFromS3, &AccountNames::default()).into_messages()
        );
        insta::assert_json_snapshot!(
            "oversized_unread",
            oversized_unread(&o, "S3 GetObject: NoSuchKey", &AccountNames::default())
                .into_messages()
        );
    }
}
