//! IAM and resource policies as CloudTrail records them, judged (pure): does a statement
//! make someone an administrator, open a resource to everyone, or to an account outside
//! the organization?
//!
//! - **Documents** come as JSON text (URL-encoded in some records) or as an object.
//! - **Everyone** is `"Principal": "*"`, `{"AWS": "*"}`, or `NotPrincipal` with `Allow`.
//! - **A condition restricts who may call** when it pins the caller's network, organization,
//!   account or source: `aws:SourceIp` (not to `/0`), `aws:SourceVpc`, `aws:SourceVpce`,
//!   `aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`, `aws:PrincipalAccount`,
//!   `aws:PrincipalArn`, `aws:SourceAccount`, `aws:SourceArn`, `aws:SourceOrgID`,
//!   `aws:SourceOrgPaths`, with a positive operator (not `…Not…`, not `…IfExists`, not
//!   `Null`) and a value that is not `*`. Anything else (`aws:SecureTransport`,
//!   `aws:UserAgent`, `aws:Referer` — the last two the caller sets) leaves it public.
//! - **Outside** is an AWS account that is neither the event's own nor trusted
//!   ([`super::Trusted`]); a statement conditioned on `aws:PrincipalOrgID` (or `…OrgPaths`)
//!   is inside whatever account it names.

use serde_json::{Map, Value};

use super::Trusted;

/// A policy document as CloudTrail records it: JSON text (URL-encoded in some records),
/// or already an object.
pub fn parse(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s)
            .ok()
            .or_else(|| serde_json::from_str(&percent_decode(s)?).ok())
            .filter(Value::is_object),
        Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A policy's statements (one object or an array).
pub fn statements(doc: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    let list: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    list.into_iter().filter_map(Value::as_object)
}

pub fn allows(st: &Map<String, Value>) -> bool {
    st.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// The strings of a field that holds one or a list.
fn texts(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `"*"`, alone or in a list (also `*:*`).
fn any_star(v: Option<&Value>) -> bool {
    texts(v).iter().any(|s| *s == "*" || *s == "*:*")
}

/// An `Allow` statement that grants every action, or every action of IAM (which grants the
/// rest), on every resource: `Action: "*"`, `Action: "iam:*"`, or `NotAction` (everything
/// but a few); `Resource: "*"` or `NotResource`.
pub fn is_admin(st: &Map<String, Value>) -> bool {
    let every_action = any_star(st.get("Action"))
        || texts(st.get("Action"))
            .iter()
            .any(|a| a.eq_ignore_ascii_case("iam:*"))
        || st.contains_key("NotAction");
    let every_resource = any_star(st.get("Resource")) || st.contains_key("NotResource");
    allows(st) && every_action && every_resource
}

/// Who a statement grants to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee<'a> {
    Everyone,
    /// An AWS account, from `123456789012`, `arn:aws:iam::123456789012:root|user/…|role/…`.
    Account(&'a str),
    /// A web-identity provider: `arn:aws:iam::1:oidc-provider/<host>` → the host.
    Oidc(&'a str),
    /// A service, a SAML provider, a canonical user: none of them opens the resource.
    Other,
}

/// The account of an AWS principal: a bare id or an IAM ARN's.
pub fn account_of(principal: &str) -> Option<&str> {
    let id = principal
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(3))
        .unwrap_or(principal);
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// The grantees of a statement. `NotPrincipal` with `Allow` grants everyone but a few.
pub fn grantees(st: &Map<String, Value>) -> Vec<Grantee<'_>> {
    if st.contains_key("NotPrincipal") {
        return vec![Grantee::Everyone];
    }
    match st.get("Principal") {
        Some(Value::String(s)) if s == "*" => vec![Grantee::Everyone],
        Some(Value::Object(p)) => {
            let mut out = Vec::new();
            for aws in texts(p.get("AWS")) {
                out.push(if aws == "*" {
                    Grantee::Everyone
                } else {
                    account_of(aws).map_or(Grantee::Other, Grantee::Account)
                });
            }
            for fed in texts(p.get("Federated")) {
                out.push(match fed.split_once(":oidc-provider/") {
                    Some((_, host)) => Grantee::Oidc(host),
                    // A provider named by its host alone (`cognito-identity.amazonaws.com`).
                    None if !fed.starts_with("arn:") => Grantee::Oidc(fed),
                    None => Grantee::Other,
                });
            }
            if p.contains_key("Service") || p.contains_key("CanonicalUser") {
                out.push(Grantee::Other);
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The condition keys (lower case) that pin who may call.
const RESTRICTING: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
];

/// The positive `(key, values)` pairs of a statement's `Condition`: operators that negate
/// (`StringNotEquals`), that let a missing key pass (`…IfExists`) or test presence
/// (`Null`) are left out.
fn positive_conditions(st: &Map<String, Value>) -> Vec<(String, Vec<&str>)> {
    let Some(Value::Object(ops)) = st.get("Condition") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (op, block) in ops {
        let bare = op.rsplit(':').next().unwrap_or(op);
        if bare.contains("Not") || bare.ends_with("IfExists") || bare == "Null" {
            continue;
        }
        let Value::Object(keys) = block else { continue };
        for (key, values) in keys {
            out.push((key.to_ascii_lowercase(), texts(Some(values))));
        }
    }
    out
}

/// Whether a statement's condition restricts who may call it (see the module's list).
pub fn restricts_caller(st: &Map<String, Value>) -> bool {
    positive_conditions(st).iter().any(|(key, values)| {
        RESTRICTING.contains(&key.as_str())
            && !values.is_empty()
            && values
                .iter()
                .all(|v| *v != "*" && !(key == "aws:sourceip" && opswatch_delivery::is_world(v)))
    })
}

/// Whether a statement is limited to the caller's organization.
fn within_organization(st: &Map<String, Value>) -> bool {
    positive_conditions(st).iter().any(|(key, values)| {
        matches!(key.as_str(), "aws:principalorgid" | "aws:principalorgpaths")
            && !values.is_empty()
            && values.iter().all(|v| *v != "*")
    })
}

/// How far a policy opens what it governs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// To everyone (no condition that restricts the caller).
    Public,
    /// To accounts outside the organization: their ids.
    Outside(Vec<String>),
}

/// The widest exposure of a policy's `Allow` statements, if any. `own` is the event's own
/// accounts.
pub fn exposure(doc: &Value, trusted: &Trusted, own: &[&str]) -> Option<Exposure> {
    let mut outside = Vec::new();
    for st in statements(doc).filter(|st| allows(st)) {
        for g in grantees(st) {
            match g {
                Grantee::Everyone if !restricts_caller(st) => return Some(Exposure::Public),
                Grantee::Account(a)
                    if !own.contains(&a)
                        && !trusted.contains(a)
                        && !within_organization(st)
                        && !outside.iter().any(|o| o == a) =>
                {
                    outside.push(a.to_owned());
                }
                _ => {}
            }
        }
    }
    (!outside.is_empty()).then_some(Exposure::Outside(outside))
}

/// Web-identity providers a role trusts without pinning the subject: anyone with an
/// identity there may assume the role. GitHub's (`token.actions.githubusercontent.com`)
/// needs a `:sub` condition that names a repository (not `*` or `repo:*`); another provider
/// needs any positive condition on one of its own keys (`<host>:aud`, `<host>:sub`, …).
pub fn unpinned_web_identity(doc: &Value) -> Option<String> {
    for st in statements(doc).filter(|st| allows(st)) {
        for g in grantees(st) {
            let Grantee::Oidc(host) = g else { continue };
            let conditions = positive_conditions(st);
            let own: Vec<&(String, Vec<&str>)> = conditions
                .iter()
                .filter(|(k, _)| {
                    k.split_once(':')
                        .is_some_and(|(h, _)| h.eq_ignore_ascii_case(host))
                })
                .collect();
            let pinned = if host.eq_ignore_ascii_case("token.actions.githubusercontent.com") {
                own.iter().any(|(k, values)| {
                    k.ends_with(":sub")
                        && !values.is_empty()
                        && values
                            .iter()
                            .all(|v| !matches!(*v, "*" | "repo:*" | "repo:*/*") && v.contains('/'))
                })
            } else {
                !own.is_empty()
            };
            if !pinned {
                return Some(host.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("a statement")
    }

    #[test]
    fn conditions_that_restrict_the_caller() {
        let public = |cond: Value| {
            !restricts_caller(&st(json!({"Effect": "Allow", "Principal": "*",
                "Action": "s3:GetObject", "Resource": "*", "Condition": cond})))
        };
        for (cond, expected) in [
            (
                json!({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
                false,
            ),
            (
                json!({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}),
                false,
            ),
            (
                json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}}),
                false,
            ),
            (
                json!({"ArnLike": {"aws:SourceArn": "arn:aws:s3:::logs"}}),
                false,
            ),
            (
                json!({"StringEquals": {"AWS:SourceAccount": "111122223333"}}),
                false,
            ),
            (
                json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a1/r-ab/ou-1/*"]}}),
                false,
            ),
            // Not a restriction of the caller.
            (json!({"Bool": {"aws:SecureTransport": "true"}}), true),
            (
                json!({"StringLike": {"aws:Referer": "https://example.com/*"}}),
                true,
            ),
            (json!({"StringLike": {"aws:UserAgent": "internal-*"}}), true),
            // Negated, if-exists, presence, wildcard, the whole internet.
            (
                json!({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
                true,
            ),
            (
                json!({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}),
                true,
            ),
            (json!({"Null": {"aws:SourceVpce": "false"}}), true),
            (json!({"StringLike": {"aws:PrincipalOrgID": "*"}}), true),
            (json!({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), true),
            (
                json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::/0"]}}),
                true,
            ),
        ] {
            assert_eq!(public(cond.clone()), expected, "{cond}");
        }
    }

    #[test]
    fn admin_statements() {
        for (s, expected) in [
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                true,
            ),
            (
                json!({"Effect": "Allow", "Action": ["*:*"], "Resource": ["*"]}),
                true,
            ),
            (
                json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
                true,
            ),
            (
                json!({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
                true,
            ),
            (
                json!({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::x"}),
                true,
            ),
            (
                json!({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}),
                false,
            ),
            (
                json!({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
                false,
            ),
            (
                json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x/*"}),
                false,
            ),
        ] {
            assert_eq!(is_admin(&st(s.clone())), expected, "{s}");
        }
    }

    #[test]
    fn exposure_of_resource_policies() {
        let trusted = Trusted::from_ids(["444455556666"]);
        let own = ["111122223333"];
        let doc = |statement: Value| json!({"Version": "2012-10-17", "Statement": [statement]});
        let allow = |principal: Value| {
            doc(
                json!({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}),
            )
        };
        for (d, expected) in [
            (allow(json!("*")), Some(Exposure::Public)),
            (allow(json!({"AWS": ["*"]})), Some(Exposure::Public)),
            (
                allow(json!({"AWS": "arn:aws:iam::999988887777:root"})),
                Some(Exposure::Outside(vec!["999988887777".into()])),
            ),
            (
                allow(json!({"AWS": ["999988887777", "arn:aws:iam::999988887777:role/x"]})),
                Some(Exposure::Outside(vec!["999988887777".into()])),
            ),
            (
                allow(json!({"AWS": "arn:aws:iam::444455556666:root"})),
                None,
            ),
            (
                allow(json!({"AWS": "arn:aws:iam::111122223333:role/app"})),
                None,
            ),
            (allow(json!({"Service": "cloudtrail.amazonaws.com"})), None),
            (
                doc(
                    json!({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "*", "Resource": "*"}),
                ),
                Some(Exposure::Public),
            ),
            (
                doc(
                    json!({"Effect": "Allow", "Principal": {"AWS": "999988887777"}, "Action": "*", "Resource": "*",
                           "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}),
                ),
                None,
            ),
            (
                doc(json!({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})),
                None,
            ),
        ] {
            assert_eq!(exposure(&d, &trusted, &own), expected, "{d}");
        }
    }

    #[test]
    fn web_identity_must_be_pinned() {
        let trust = |cond: Value| {
            json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
                "Condition": cond}]})
        };
        let gh = Some("token.actions.githubusercontent.com".to_owned());
        for (cond, expected) in [
            (json!({}), gh.clone()),
            (
                json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}),
                gh.clone(),
            ),
            (
                json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}),
                gh.clone(),
            ),
            (
                json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                       "StringLike": {"token.actions.githubusercontent.com:sub": "repo:example-org/deploy:*"}}),
                None,
            ),
        ] {
            assert_eq!(
                unpinned_web_identity(&trust(cond.clone())),
                expected,
                "{cond}"
            );
        }
        let cognito = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": "us-east-1:12345678-abcd"}}}]});
        assert_eq!(unpinned_web_identity(&cognito), None);
    }

    #[test]
    fn documents_in_every_shape() {
        let text = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        let encoded = "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%7D";
        for v in [
            json!(text),
            json!(encoded),
            serde_json::from_str(text).unwrap(),
        ] {
            let doc = parse(&v).expect("a document");
            assert!(statements(&doc).any(is_admin), "{v}");
        }
        assert_eq!(parse(&json!("not json")), None);
        assert_eq!(parse(&json!("5")), None);
        assert_eq!(parse(&json!(5)), None);
    }
}
