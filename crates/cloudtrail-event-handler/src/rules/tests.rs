//! One test per built-in rule, on records shaped as CloudTrail writes them (the fields and
//! nesting of the examples in AWS's CloudTrail, IAM, EC2, S3, KMS and GuardDuty guides), and
//! the custom rules' parsing and matching.

use serde_json::{Value, json};

use super::*;
use crate::filter::{Drop, Filter};
use crate::record::Record;

const ACCOUNT: &str = "111122223333";

fn alice() -> Value {
    json!({"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE",
           "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": ACCOUNT,
           "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "Alice"})
}

/// A management event of `source` (`ec2`, …) by `who`, as CloudTrail records it.
fn event(source: &str, name: &str, who: Value, params: Value) -> Value {
    json!({
        "eventVersion": "1.09", "userIdentity": who,
        "eventTime": "2026-11-25T09:00:00Z", "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.15.30 md/command#ec2.x", "requestParameters": params,
        "responseElements": null, "requestID": "4b1d2b2c-EXAMPLE",
        "eventID": "9f2b2c41-EXAMPLE", "readOnly": false, "eventType": "AwsApiCall",
        "managementEvent": true, "recipientAccountId": ACCOUNT, "eventCategory": "Management"
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// The severity and rule names an event gets from `rules`, or why it is dropped.
fn judged(rules: &Rules, doc: &Value) -> Result<(Severity, Vec<String>), Drop> {
    let r: Record = serde_json::from_value(doc.clone()).expect("a record");
    let filter = Filter::default();
    rules
        .judge(&filter, &r, rules.needs_document().then_some(doc))
        .map(|v| {
            (
                v.severity,
                v.rules.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .map_err(|d| d.why)
}

fn hits(doc: &Value) -> (Severity, Vec<String>) {
    judged(&Rules::default(), doc).expect("alerted")
}

fn rule(doc: &Value, severity: Severity, names: &[&str]) {
    assert_eq!(
        hits(doc),
        (severity, names.iter().map(|s| (*s).to_owned()).collect()),
        "{doc}"
    );
}

fn plain(doc: &Value) {
    rule(doc, Severity::Info, &[]);
}

fn rules(vars: &[(&str, &str)]) -> Result<Rules, String> {
    super::configured(vars).map(|(_, rules)| rules)
}

fn console_login(who: Value, result: &str, mfa: &str) -> Value {
    let mut e = event("signin", "ConsoleLogin", who, Value::Null);
    e["eventType"] = json!("AwsConsoleSignIn");
    e["userAgent"] = json!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Firefox/132.0");
    e["responseElements"] = json!({"ConsoleLogin": result});
    e["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home",
                                       "MobileVersion": "No", "MFAUsed": mfa});
    e
}

#[test]
fn root_activity() {
    let root = json!({"type": "Root", "principalId": ACCOUNT,
                      "arn": "arn:aws:iam::111122223333:root", "accountId": ACCOUNT});
    rule(
        &console_login(root.clone(), "Success", "No"),
        Severity::Critical,
        &["root-activity"],
    );
    rule(
        &event(
            "iam",
            "CreateAccessKey",
            root.clone(),
            json!({"userName": "root"}),
        ),
        Severity::Critical,
        &["root-activity", "iam-credentials"],
    );
    // Reads too: the root user's access key reading anything is worth a look.
    let read = with(
        event("ec2", "DescribeInstances", root.clone(), Value::Null),
        "readOnly",
        json!(true),
    );
    rule(&read, Severity::Critical, &["root-activity"]);
    // Not a call an AWS service made with root's identity.
    let internal = event(
        "s3",
        "GetBucketAcl",
        with(root, "invokedBy", json!("AWS Internal")),
        json!({"bucketName": "billing"}),
    );
    plain(&internal);
}

#[test]
fn cloudtrail_tampering() {
    for name in [
        "StopLogging",
        "DeleteTrail",
        "UpdateTrail",
        "PutEventSelectors",
        "DeleteEventDataStore",
        "StopEventDataStoreIngestion",
    ] {
        let e = event(
            "cloudtrail",
            name,
            alice(),
            json!({"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/management"}),
        );
        rule(&e, Severity::Critical, &["cloudtrail-tampering"]);
    }
    plain(&event(
        "cloudtrail",
        "StartLogging",
        alice(),
        json!({"name": "management"}),
    ));
    // Refused: the attempt is an access denial, not a stopped trail.
    let refused = with(
        event(
            "cloudtrail",
            "StopLogging",
            alice(),
            json!({"name": "management"}),
        ),
        "errorCode",
        json!("AccessDenied"),
    );
    rule(&refused, Severity::Warning, &["access-denied"]);
}

#[test]
fn detective_controls_disabled() {
    for (source, name, params) in [
        (
            "config",
            "StopConfigurationRecorder",
            json!({"configurationRecorderName": "default"}),
        ),
        (
            "config",
            "DeleteConfigurationRecorder",
            json!({"configurationRecorderName": "default"}),
        ),
        (
            "config",
            "DeleteDeliveryChannel",
            json!({"deliveryChannelName": "default"}),
        ),
        (
            "guardduty",
            "DeleteDetector",
            json!({"detectorId": "12abc34d567e8fa901bc2d34eexample"}),
        ),
        (
            "guardduty",
            "UpdateDetector",
            json!({"detectorId": "12abc34d567e8fa901bc2d34eexample", "enable": false}),
        ),
        ("securityhub", "DisableSecurityHub", json!({})),
        (
            "access-analyzer",
            "DeleteAnalyzer",
            json!({"analyzerName": "account-analyzer"}),
        ),
    ] {
        rule(
            &event(source, name, alice(), params),
            Severity::Critical,
            &["detective-controls-disabled"],
        );
    }
    plain(&event(
        "guardduty",
        "UpdateDetector",
        alice(),
        json!({"detectorId": "12abc34d567e8fa901bc2d34eexample", "enable": true, "findingPublishingFrequency": "SIX_HOURS"}),
    ));
}

#[test]
fn console_login_without_mfa_and_failed() {
    rule(
        &console_login(alice(), "Success", "No"),
        Severity::Critical,
        &["console-login-without-mfa"],
    );
    plain(&console_login(alice(), "Success", "Yes"));
    let mut failed = console_login(alice(), "Failure", "No");
    failed["errorMessage"] = json!("Failed authentication");
    rule(&failed, Severity::Warning, &["console-login-failed"]);
    // A federated (role) sign-in has no MFAUsed of its own to judge.
    let role = json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:alice",
                      "arn": "arn:aws:sts::111122223333:assumed-role/AdminSSO/alice", "accountId": ACCOUNT,
                      "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AdminSSO"}}});
    plain(&console_login(role, "Success", "No"));
}

#[test]
fn admin_policy() {
    let star =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    for name in [
        "PutRolePolicy",
        "PutUserPolicy",
        "PutGroupPolicy",
        "CreatePolicy",
        "CreatePolicyVersion",
    ] {
        let e = event(
            "iam",
            name,
            alice(),
            json!({"roleName": "ci", "policyName": "all", "policyDocument": star}),
        );
        rule(&e, Severity::Critical, &["admin-policy"]);
    }
    // Some records carry the document URL-encoded.
    let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22*%3A*%22%5D%2C%22Resource%22%3A%22*%22%7D%7D";
    rule(
        &event(
            "iam",
            "PutUserPolicy",
            alice(),
            json!({"userName": "bob", "policyName": "p", "policyDocument": encoded}),
        ),
        Severity::Critical,
        &["admin-policy"],
    );
    rule(
        &event(
            "iam",
            "AttachRolePolicy",
            alice(),
            json!({"roleName": "ci", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        ),
        Severity::Critical,
        &["admin-policy"],
    );
    let scoped = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    plain(&event(
        "iam",
        "PutRolePolicy",
        alice(),
        json!({"roleName": "ci", "policyName": "s3", "policyDocument": scoped}),
    ));
    plain(&event(
        "iam",
        "AttachRolePolicy",
        alice(),
        json!({"roleName": "ci", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ));
}

#[test]
fn kms_key_deletion() {
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    rule(
        &event(
            "kms",
            "ScheduleKeyDeletion",
            alice(),
            json!({"keyId": key, "pendingWindowInDays": 30}),
        ),
        Severity::Critical,
        &["kms-key-deletion"],
    );
    rule(
        &event("kms", "DisableKey", alice(), json!({"keyId": key})),
        Severity::Critical,
        &["kms-key-deletion"],
    );
    plain(&event(
        "kms",
        "EnableKeyRotation",
        alice(),
        json!({"keyId": key}),
    ));
}

/// AuthorizeSecurityGroupIngress as CloudTrail records it.
pub(crate) fn ingress(protocol: &str, from: i64, to: i64, cidr: &str) -> Value {
    let range = if cidr.contains(':') {
        json!({"ipv6Ranges": {"items": [{"cidrIpv6": cidr}]}, "ipRanges": {}})
    } else {
        json!({"ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}})
    };
    let mut permission = json!({"ipProtocol": protocol, "fromPort": from, "toPort": to,
                                "groups": {}, "prefixListIds": {}});
    for (k, v) in range.as_object().into_iter().flatten() {
        permission[k] = v.clone();
    }
    event(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        alice(),
        json!({"groupId": "sg-0a1b2c3d4e5f67890", "ipPermissions": {"items": [permission]}}),
    )
}

#[test]
fn world_open_ingress() {
    rule(
        &ingress("tcp", 22, 22, "0.0.0.0/0"),
        Severity::Critical,
        &["world-open-ingress"],
    );
    rule(
        &ingress("tcp", 3389, 3389, "::/0"),
        Severity::Critical,
        &["world-open-ingress"],
    );
    rule(
        &ingress("-1", -1, -1, "0.0.0.0/0"),
        Severity::Critical,
        &["world-open-ingress"],
    );
    rule(
        &ingress("tcp", 0, 65535, "0.0.0.0/0"),
        Severity::Critical,
        &["world-open-ingress"],
    );
    rule(
        &ingress("tcp", 443, 443, "::/0"),
        Severity::Warning,
        &["world-open-ingress"],
    );
    rule(
        &ingress("tcp", 80, 80, "0.0.0.0/0"),
        Severity::Warning,
        &["world-open-ingress"],
    );
    rule(
        &ingress("icmp", 8, -1, "0.0.0.0/0"),
        Severity::Warning,
        &["world-open-ingress"],
    );
    // The same SSH rule from a /24 is an ordinary change.
    plain(&ingress("tcp", 22, 22, "203.0.113.0/24"));
    // ModifySecurityGroupRules, the newer API.
    let modify = event(
        "ec2",
        "ModifySecurityGroupRules",
        alice(),
        json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-0a1b2c3d4e5f67890",
            "SecurityGroupRule": {"SecurityGroupRuleId": "sgr-0123456789abcdef0", "tag": 1,
                "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "0.0.0.0/0"}}}}),
    );
    rule(&modify, Severity::Critical, &["world-open-ingress"]);
}

#[test]
fn s3_public_access() {
    let bucket = |name: &str, params: Value| event("s3", name, alice(), params);
    rule(
        &bucket(
            "DeleteBucketPublicAccessBlock",
            json!({"bucketName": "billing", "publicAccessBlock": "", "Host": "billing.s3.us-east-1.amazonaws.com"}),
        ),
        Severity::Critical,
        &["s3-public-access"],
    );
    rule(
        &bucket(
            "PutBucketPublicAccessBlock",
            json!({"bucketName": "billing", "PublicAccessBlockConfiguration": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": true, "IgnorePublicAcls": true,
            "BlockPublicPolicy": false, "RestrictPublicBuckets": true}}),
        ),
        Severity::Critical,
        &["s3-public-access"],
    );
    plain(&bucket(
        "PutBucketPublicAccessBlock",
        json!({"bucketName": "billing", "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
    ));
    let policy = |statement: Value| {
        bucket(
            "PutBucketPolicy",
            json!({"bucketName": "billing", "bucketPolicy": {"Version": "2012-10-17", "Statement": [statement]}, "policy": ""}),
        )
    };
    rule(
        &policy(
            json!({"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::billing/*"}),
        ),
        Severity::Critical,
        &["s3-public-access"],
    );
    rule(
        &policy(
            json!({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::billing/*"}),
        ),
        Severity::Critical,
        &["s3-public-access"],
    );
    plain(&policy(
        json!({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::billing/*",
        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}),
    ));
    plain(&policy(
        json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "s3:GetObject", "Resource": "*"}),
    ));
    rule(
        &bucket(
            "PutBucketAcl",
            json!({"bucketName": "billing", "acl": [""], "AccessControlPolicy": {"AccessControlList": {"Grant": [
            {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]},
            "Owner": {"ID": "d25639fbe9c19cd30a4c0f43fbf00e2d3f96400a9aa8dabfbbebe1906EXAMPLE"}}}),
        ),
        Severity::Critical,
        &["s3-public-access"],
    );
    rule(
        &bucket(
            "PutBucketAcl",
            json!({"bucketName": "billing", "x-amz-acl": ["public-read"]}),
        ),
        Severity::Critical,
        &["s3-public-access"],
    );
    plain(&bucket(
        "PutBucketAcl",
        json!({"bucketName": "billing", "x-amz-acl": ["private"]}),
    ));
}

#[test]
fn self_protection() {
    let rules = rules(&[("SELF_PROTECTION_PREFIX", "opswatch-")]).unwrap();
    let delete = event(
        "lambda",
        "DeleteFunction20150331",
        alice(),
        json!({"functionName": "opswatch-CloudTrailEventHandler-AbC123dEf456"}),
    );
    assert_eq!(
        judged(&rules, &delete),
        Ok((Severity::Critical, vec!["self-protection".to_owned()]))
    );
    let queue = event(
        "sqs",
        "SetQueueAttributes",
        alice(),
        json!({"queueUrl": "https://sqs.us-east-1.amazonaws.com/111122223333/opswatch-CloudTrailQueue-XyZ", "attributes": {"Policy": "{}"}}),
    );
    assert_eq!(judged(&rules, &queue).map(|v| v.0), Ok(Severity::Critical));
    let stack = event(
        "cloudformation",
        "DeleteStack",
        alice(),
        json!({"stackName": "opswatch"}),
    );
    assert_eq!(judged(&rules, &stack).map(|v| v.0), Ok(Severity::Critical));
    // Another function, the stack's own roles at work, CloudFormation deploying it: no.
    let other = event(
        "lambda",
        "DeleteFunction20150331",
        alice(),
        json!({"functionName": "billing-export"}),
    );
    assert_eq!(judged(&rules, &other), Ok((Severity::Info, vec![])));
    let own = json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/opswatch-CloudTrailEventHandlerRole-1Q2W3E/i",
                     "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "opswatch-CloudTrailEventHandlerRole-1Q2W3E"}}});
    let by_own = event(
        "logs",
        "CreateLogStream",
        own,
        json!({"logGroupName": "/aws/lambda/opswatch-CloudTrailEventHandler-AbC"}),
    );
    assert_eq!(judged(&rules, &by_own), Ok((Severity::Info, vec![])));
    let deploy = event(
        "lambda",
        "UpdateFunctionCode20150331v2",
        with(alice(), "invokedBy", json!("cloudformation.amazonaws.com")),
        json!({"functionName": "opswatch-CloudTrailEventHandler-AbC123dEf456"}),
    );
    assert_eq!(judged(&rules, &deploy), Ok((Severity::Info, vec![])));
    // Without a prefix the rule is off.
    plain(&delete);
}

#[test]
fn access_denied_reads_included() {
    let refused = with(
        event(
            "ec2",
            "RunInstances",
            alice(),
            json!({"instanceType": "m7g.large"}),
        ),
        "errorCode",
        json!("Client.UnauthorizedOperation"),
    );
    rule(&refused, Severity::Warning, &["access-denied"]);
    let mut read = event("s3", "ListBuckets", alice(), Value::Null);
    read["readOnly"] = json!(true);
    read["errorCode"] = json!("AccessDenied");
    rule(&read, Severity::Warning, &["access-denied"]);
    let mut iam = event("iam", "ListRoles", alice(), Value::Null);
    iam["readOnly"] = json!(true);
    iam["errorCode"] = json!("AccessDeniedException");
    rule(&iam, Severity::Warning, &["access-denied"]);
    let mut throttled = iam.clone();
    throttled["errorCode"] = json!("ThrottlingException");
    assert_eq!(judged(&Rules::default(), &throttled), Err(Drop::ReadOnly));
}

#[test]
fn iam_credentials() {
    for name in [
        "CreateAccessKey",
        "UpdateAccessKey",
        "CreateLoginProfile",
        "UpdateLoginProfile",
    ] {
        rule(
            &event("iam", name, alice(), json!({"userName": "Alice"})),
            Severity::Warning,
            &["iam-credentials"],
        );
        if name != "UpdateAccessKey" {
            rule(
                &event("iam", name, alice(), json!({"userName": "bob"})),
                Severity::Warning,
                &["iam-credentials", "credentials-for-another-user"],
            );
        }
    }
    plain(&event(
        "iam",
        "DeleteAccessKey",
        alice(),
        json!({"userName": "bob", "accessKeyId": "AKIAI44QH8DHBEXAMPLE"}),
    ));
}

#[test]
fn every_builtin_has_a_test_above_or_a_technique_with_a_twin() {
    let here = include_str!("tests.rs");
    let cases = techniques();
    for b in BUILTINS {
        let shown = here.contains(&format!("&[\"{}\"]", b.name))
            || here.contains(&format!("vec![\"{}\".to_owned()]", b.name));
        let fires = cases.iter().any(|c| c.rule == b.name && c.expect.is_some());
        let twin = cases.iter().any(|c| c.rule == b.name && c.expect.is_none());
        assert!(shown || fires, "no test shows {} firing", b.name);
        assert!(
            !fires || twin,
            "{} fires on a technique but has no benign twin",
            b.name
        );
    }
    for c in &cases {
        assert!(
            builtin::find(&c.rule).is_some(),
            "{}: no rule {}",
            c.case,
            c.rule
        );
    }
}

#[test]
fn disable_and_min_severity() {
    let r = rules(&[("DISABLE_RULES", "world-open-ingress, Access-Denied")]).unwrap();
    assert_eq!(
        judged(&r, &ingress("tcp", 22, 22, "0.0.0.0/0")),
        Ok((Severity::Info, vec![]))
    );
    let e = rules(&[("DISABLE_RULES", "root")]).unwrap_err();
    assert!(
        e.starts_with(
            "DISABLE_RULES: no built-in rule is named \"root\" (they are root-activity, "
        ),
        "{e}"
    );
    let r = rules(&[("MIN_SEVERITY", "warning")]).unwrap();
    assert_eq!(
        judged(&r, &ingress("tcp", 22, 22, "10.0.0.0/8")),
        Err(Drop::BelowMinimum)
    );
    assert_eq!(
        judged(&r, &ingress("tcp", 443, 443, "0.0.0.0/0")).map(|v| v.0),
        Ok(Severity::Warning)
    );
    assert_eq!(
        rules(&[("MIN_SEVERITY", "high")]).unwrap_err(),
        "MIN_SEVERITY: \"high\" is not a severity (critical, warning or info)"
    );
}

const CUSTOM: &str = r#"[
  {"name": "ci-tags", "ignore": true, "match": {"eventName": ["CreateTags", "DeleteTags"], "userIdentity.sessionContext.sessionIssuer.userName": "deploy"}},
  {"name": "prod-db", "severity": "critical", "match": {"eventSource": "rds.amazonaws.com", "recipientAccountId": "111122223333"}},
  {"name": "secret-reads", "severity": "warning", "match": {"eventName": "GetSecretValue", "requestParameters.secretId": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/*"}},
  {"name": "tagged-owner", "severity": "info", "match": {"requestParameters.tagSpecificationSet.items.tags.items.key": "owner"}}
]"#;

#[test]
fn custom_rules_match_paths_arrays_and_prefixes() {
    let r = rules(&[("RULES", CUSTOM)]).unwrap();
    assert!(r.needs_document());
    let deploy = json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deploy/gh-1",
                        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "deploy"}}});
    // Ignore rules come first: not even a refusal survives them.
    let tags = with(
        event(
            "ec2",
            "CreateTags",
            deploy.clone(),
            json!({"resourcesSet": {"items": [{"resourceId": "i-1"}]}}),
        ),
        "errorCode",
        json!("Client.UnauthorizedOperation"),
    );
    let dropped = r.judge(
        &Filter::default(),
        &serde_json::from_value(tags.clone()).unwrap(),
        Some(&tags),
    );
    assert_eq!(
        dropped,
        Err(Dropped {
            why: Drop::Ignored,
            rule: Some("ci-tags"),
            silenced: vec![],
        })
    );
    // Not the ignored principal: alerted.
    let by_alice = event("ec2", "CreateTags", alice(), json!({}));
    assert_eq!(judged(&r, &by_alice), Ok((Severity::Info, vec![])));
    // A custom rule beside a built-in one: the line names both, the most serious first.
    let modify = with(
        event(
            "rds",
            "ModifyDBCluster",
            alice(),
            json!({"dBClusterIdentifier": "aurora-prod"}),
        ),
        "errorCode",
        json!("AccessDenied"),
    );
    assert_eq!(
        judged(&r, &modify),
        Ok((
            Severity::Critical,
            vec!["prod-db".to_owned(), "access-denied".to_owned()]
        ))
    );
    // A custom rule makes a read-only call alert.
    let mut read = event(
        "secretsmanager",
        "GetSecretValue",
        alice(),
        json!({"secretId": "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"}),
    );
    read["readOnly"] = json!(true);
    assert_eq!(
        judged(&r, &read),
        Ok((Severity::Warning, vec!["secret-reads".to_owned()]))
    );
    read["requestParameters"]["secretId"] =
        json!("arn:aws:secretsmanager:us-east-1:111122223333:secret:dev/db");
    assert_eq!(judged(&r, &read), Err(Drop::ReadOnly));
    // Paths through arrays.
    let run = event(
        "ec2",
        "RunInstances",
        alice(),
        json!({"tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": {"items": [
            {"key": "Name", "value": "web"}, {"key": "owner", "value": "alice"}]}}]}}),
    );
    assert_eq!(
        judged(&r, &run),
        Ok((Severity::Info, vec!["tagged-owner".to_owned()]))
    );
    // Booleans and numbers match their JSON text.
    let r = rules(&[("RULES", r#"[{"name": "writes", "severity": "warning", "match": {"readOnly": false, "requestParameters.maxCount": [2, 3]}}]"#)]).unwrap();
    let two = event("ec2", "RunInstances", alice(), json!({"maxCount": 2}));
    assert_eq!(judged(&r, &two).map(|v| v.0), Ok(Severity::Warning));
}

#[test]
fn custom_rule_errors_are_one_line() {
    for (json, expected) in [
        ("{", "RULES: not a JSON array of rules ("),
        (r#"{"name": "x"}"#, "RULES: not a JSON array of rules ("),
        (
            r#"[{"name": "x", "severity": "high", "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"x\"): unknown severity \"high\" (critical, warning or info)",
        ),
        (
            r#"[{"name": "x", "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"x\"): no severity",
        ),
        (
            r#"[{"name": "x", "severity": "info", "match": {}}]"#,
            "RULES: rule 1 (\"x\"): \"match\" is empty",
        ),
        (
            r#"[{"name": "x", "severity": "info", "match": {"a..b": "A"}}]"#,
            "RULES: rule 1 (\"x\"): \"a..b\" is not a dotted path",
        ),
        (
            r#"[{"name": "x", "severity": "info", "match": {"eventName": {"a": 1}}}]"#,
            "RULES: rule 1 (\"x\"): \"eventName\": {\"a\":1} is not a string",
        ),
        (
            r#"[{"name": "x", "severity": "info", "match": {"eventName": []}}]"#,
            "RULES: rule 1 (\"x\"): \"eventName\" lists no value",
        ),
        (
            r#"[{"name": "x", "severity": "info", "match": {"eventName": "A"}, "when": 1}]"#,
            "RULES: rule 1: unknown field `when`",
        ),
        (
            r#"[{"name": "root-activity", "severity": "info", "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"root-activity\"): another rule has this name",
        ),
        (
            r#"[{"name": "a", "severity": "info", "match": {"eventName": "A"}}, {"name": "A", "severity": "info", "match": {"eventName": "B"}}]"#,
            "RULES: rule 2 (\"A\"): another rule has this name",
        ),
        (
            r#"[{"severity": "info", "match": {"eventName": "A"}}]"#,
            "RULES: rule 1: missing field `name`",
        ),
    ] {
        let e = rules(&[("RULES", json)]).unwrap_err();
        assert!(e.starts_with(expected), "{json}\n{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    assert!(rules(&[("RULES", " ")]).is_ok());
}

// ── The techniques of the public catalogues, each with its benign twin ───────────────────

/// One case of `techniques.json`.
struct Technique {
    rule: String,
    case: String,
    /// The event's severity when the rule must fire; `None`: it must not.
    expect: Option<Severity>,
    /// One log file; the last record's fate is the case's.
    records: Vec<Value>,
}

fn techniques_file() -> Value {
    serde_json::from_str(include_str!("techniques.json")).expect("techniques.json is JSON")
}

fn techniques() -> Vec<Technique> {
    let file = techniques_file();
    file["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Technique {
            rule: c["rule"].as_str().expect("rule").to_owned(),
            case: c["case"].as_str().expect("case").to_owned(),
            expect: c["expect"]
                .as_str()
                .map(|s| Severity::parse(s).expect("a severity")),
            records: match (&c["record"], &c["records"]) {
                (Value::Null, Value::Array(r)) => r.clone(),
                (one, _) => vec![one.clone()],
            },
        })
        .collect()
}

/// The rules as the techniques' `env` configures them, plus `extra`.
fn technique_rules(extra: &[(&str, &str)]) -> (Filter, Rules) {
    let file = techniques_file();
    let get = |k: &str| {
        extra
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| file["env"][k].as_str().map(str::to_owned))
    };
    let filter = Filter::from_lookup(get).expect("filter");
    let rules = Rules::from_lookup(get, &filter.account_names).expect("rules");
    (filter, rules)
}

/// Each record of a case judged in turn, as one log file: the fates.
fn fates<'r>(
    filter: &Filter,
    rules: &'r Rules,
    records: &[Value],
) -> Vec<Result<Verdict<'r>, Dropped<'r>>> {
    let mut judge = rules.reading(filter);
    records
        .iter()
        .map(|doc| {
            let r: Record = serde_json::from_value(doc.clone()).expect("a record");
            judge.judge(&r, rules.needs_document().then_some(doc))
        })
        .collect()
}

#[test]
fn every_technique_fires_its_rule_and_no_twin_does() {
    let (filter, rules) = technique_rules(&[]);
    let cases = techniques();
    assert!(cases.len() > 100, "{} cases", cases.len());
    for c in &cases {
        let fates = fates(&filter, &rules, &c.records);
        let (last, before) = fates.split_last().expect("a record");
        for (i, f) in before.iter().enumerate() {
            assert!(
                !f.as_ref().is_ok_and(|v| v.rules.contains(&c.rule.as_str())),
                "{}: record {i} of the file already fires {}: {f:?}",
                c.case,
                c.rule
            );
        }
        match c.expect {
            Some(severity) => {
                let v = last
                    .as_ref()
                    .unwrap_or_else(|d| panic!("{}: dropped ({d:?})", c.case));
                assert!(
                    v.rules.contains(&c.rule.as_str()) && v.severity == severity,
                    "{}: expected {} at {severity}, got {v:?}",
                    c.case,
                    c.rule
                );
            }
            None => assert!(
                !last
                    .as_ref()
                    .is_ok_and(|v| v.rules.contains(&c.rule.as_str())),
                "{}: {} fired on the benign twin: {last:?}",
                c.case,
                c.rule
            ),
        }
    }
}

/// Whether a case holds under `rules`.
fn holds(filter: &Filter, rules: &Rules, c: &Technique) -> bool {
    let fates = fates(filter, rules, &c.records);
    let fired =
        |f: &Result<Verdict, Dropped>| f.as_ref().is_ok_and(|v| v.rules.contains(&c.rule.as_str()));
    let (last, before) = fates.split_last().expect("a record");
    !before.iter().any(fired)
        && match c.expect {
            Some(s) => fired(last) && last.as_ref().is_ok_and(|v| v.severity == s),
            None => !fired(last),
        }
}

#[test]
fn every_technique_case_fails_when_its_rule_is_broken() {
    // Mutants: each rule made to never fire, then to always fire. Every case that says the
    // rule fires must then fail, and so must every twin that reaches the rules (an AWS
    // service event never does).
    let (filter, rules) = technique_rules(&[]);
    let cases = techniques();
    for b in BUILTINS {
        let mine: Vec<&Technique> = cases.iter().filter(|c| c.rule == b.name).collect();
        if mine.is_empty() {
            continue;
        }
        let never = match b.test {
            builtin::Test::Event(_) => rules.with_test(b.name, builtin::Test::Event(|_, _| None)),
            builtin::Test::Burst => technique_rules(&[("DISABLE_RULES", b.name)]).1,
        };
        for c in mine.iter().filter(|c| c.expect.is_some()) {
            assert!(holds(&filter, &rules, c), "{}", c.case);
            assert!(
                !holds(&filter, &never, c),
                "{}: holds with {} never firing",
                c.case,
                b.name
            );
        }
        let always = match (b.test, b.severity) {
            (builtin::Test::Burst, _) => technique_rules(&[("SECRET_READ_THRESHOLD", "2")]).1,
            (_, Severity::Critical) => rules.with_test(
                b.name,
                builtin::Test::Event(|_, _| Some(Severity::Critical)),
            ),
            _ => rules.with_test(b.name, builtin::Test::Event(|_, _| Some(Severity::Warning))),
        };
        let mut flipped = 0;
        for c in mine.iter().filter(|c| c.expect.is_none()) {
            let first: Record = serde_json::from_value(c.records[0].clone()).expect("a record");
            if first.event_type.as_deref() == Some("AwsServiceEvent") {
                continue;
            }
            let flips = !holds(&filter, &always, c);
            // A burst's twins are about what counts (distinct secrets, decrypted reads):
            // `root_reads_and_secret_reads_fold` covers distinctness; here one must flip.
            assert!(
                flips || !b.test.is_event(),
                "{}: holds with {} firing on everything",
                c.case,
                b.name
            );
            flipped += usize::from(flips);
        }
        assert!(flipped > 0, "no twin of {} depends on it", b.name);
    }
}

// ── Order: a critical rule is silenced only by name ──────────────────────────────────────

fn stop_logging(who: Value) -> Value {
    event(
        "cloudtrail",
        "StopLogging",
        who,
        json!({"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/management"}),
    )
}

fn deploy_role(session: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": format!("AROADEPLOYEXAMPLE:{session}"),
           "arn": format!("arn:aws:sts::111122223333:assumed-role/deploy/{session}"), "accountId": ACCOUNT,
           "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROADEPLOYEXAMPLE",
             "arn": "arn:aws:iam::111122223333:role/deploy", "userName": "deploy"}}})
}

#[test]
fn lists_alert_only_and_min_severity_do_not_drop_a_critical_event() {
    let critical = stop_logging(deploy_role("ci-deploy"));
    let benign = event(
        "ec2",
        "CreateTags",
        deploy_role("ci-deploy"),
        json!({"resourcesSet": {"items": [{"resourceId": "i-1"}]}}),
    );
    for vars in [
        vec![("EXCLUDE_PRINCIPALS", "deploy")],
        vec![("EXCLUDE_EVENT_NAMES", "StopLogging,CreateTags")],
        vec![(
            "EXCLUDE_EVENT_SOURCES",
            "cloudtrail.amazonaws.com,ec2.amazonaws.com",
        )],
        vec![("INCLUDE_EVENT_NAMES", "RunInstances")],
        vec![("INCLUDE_PRINCIPALS", "alice")],
        vec![("EXCLUDE_ACCOUNTS", ACCOUNT)],
        vec![("ALERT_ONLY", "errors")],
        vec![("MIN_SEVERITY", "critical")],
    ] {
        let (filter, rules) = configured(&vars).unwrap();
        let r: Record = serde_json::from_value(critical.clone()).unwrap();
        let v = rules
            .judge(&filter, &r, None)
            .unwrap_or_else(|d| panic!("{vars:?} dropped StopLogging: {d:?}"));
        assert_eq!(v.rules, ["cloudtrail-tampering"], "{vars:?}");
        // …and says what it overrode (except MIN_SEVERITY, which a critical event meets).
        assert_eq!(v.kept.is_some(), vars[0].0 != "MIN_SEVERITY", "{vars:?}");
        let r: Record = serde_json::from_value(benign.clone()).unwrap();
        assert!(rules.judge(&filter, &r, None).is_err(), "{vars:?}");
    }
}

#[test]
fn a_session_name_is_never_a_principal() {
    let r = |vars: &[(&str, &str)]| rules(vars);
    // The list names the session the caller picked: refused at cold start.
    let e = Filter::from_lookup(|k| {
        (k == "EXCLUDE_PRINCIPALS")
            .then(|| "arn:aws:sts::111122223333:assumed-role/deploy/ci-deploy".into())
    })
    .unwrap_err();
    assert!(e.starts_with("EXCLUDE_PRINCIPALS: \"arn:aws:sts::111122223333:assumed-role/deploy/ci-deploy\" names a session"), "{e}");
    // A name that happens to equal the session name matches nothing but a principal so named.
    let get = |k: &str| (k == "EXCLUDE_PRINCIPALS").then(|| "ci-deploy".to_owned());
    let filter = Filter::from_lookup(get).unwrap();
    let rules = r(&[]).unwrap();
    let tags = |who: Value| {
        serde_json::from_value::<Record>(event("ec2", "CreateTags", who, json!({}))).unwrap()
    };
    assert!(
        rules
            .judge(&filter, &tags(deploy_role("ci-deploy")), None)
            .is_ok()
    );
    let ci_user = json!({"type": "IAMUser", "principalId": "AIDACIEXAMPLE", "userName": "ci-deploy",
                         "arn": "arn:aws:iam::111122223333:user/ci-deploy", "accountId": ACCOUNT});
    assert_eq!(
        rules
            .judge(&filter, &tags(ci_user), None)
            .map_err(|d| d.why),
        Err(Drop::Excluded)
    );
    // The role, by name, by ARN, by id: excluded whatever the session.
    for entry in [
        "deploy",
        "arn:aws:iam::111122223333:role/deploy",
        "AROADEPLOYEXAMPLE",
    ] {
        let get = |k: &str| (k == "EXCLUDE_PRINCIPALS").then(|| entry.to_owned());
        let filter = Filter::from_lookup(get).unwrap();
        assert_eq!(
            rules
                .judge(&filter, &tags(deploy_role("anything")), None)
                .map_err(|d| d.why),
            Err(Drop::Excluded),
            "{entry}"
        );
    }
}

const BREAK_GLASS: &str = r#"[
  {"name": "quiet-trail", "ignore": true, "match": {"eventName": "DeleteTrail"}},
  {"name": "break-glass", "ignore": true, "silences": ["root-activity"],
   "match": {"userIdentity.type": "Root", "eventName": ["ListBuckets", "GetAccountSummary"]}}
]"#;

#[test]
fn an_ignore_rule_silences_a_critical_rule_only_by_name() {
    let rules = rules(&[("RULES", BREAK_GLASS)]).unwrap();
    let root = json!({"type": "Root", "principalId": ACCOUNT, "arn": "arn:aws:iam::111122223333:root", "accountId": ACCOUNT});
    // Without `silences`, an ignore rule does not hide a critical event…
    let delete = event(
        "cloudtrail",
        "DeleteTrail",
        alice(),
        json!({"name": "management"}),
    );
    let v = judged(&rules, &delete).expect("alerted");
    assert_eq!(
        v,
        (Severity::Critical, vec!["cloudtrail-tampering".to_owned()])
    );
    // …and says which rule it overrode.
    let r: Record = serde_json::from_value(delete.clone()).unwrap();
    let filter = Filter::default();
    assert_eq!(
        rules.judge(&filter, &r, Some(&delete)).unwrap().kept,
        Some(Dropped {
            why: Drop::Ignored,
            rule: Some("quiet-trail"),
            silenced: vec![]
        })
    );
    // With it, the named rule is silenced, and the drop says so.
    let list = with(
        event("s3", "ListBuckets", root.clone(), Value::Null),
        "readOnly",
        json!(true),
    );
    let r: Record = serde_json::from_value(list.clone()).unwrap();
    assert_eq!(
        rules.judge(&filter, &r, Some(&list)),
        Err(Dropped {
            why: Drop::Ignored,
            rule: Some("break-glass"),
            silenced: vec!["root-activity"]
        })
    );
    // A critical rule it does not name still alerts: root turning off the trail.
    let stop = stop_logging(root.clone());
    let mut stop_listed = stop.clone();
    stop_listed["eventName"] = json!("ListBuckets");
    stop_listed["eventSource"] = json!("cloudtrail.amazonaws.com");
    let r: Record = serde_json::from_value(stop.clone()).unwrap();
    assert!(rules.judge(&filter, &r, Some(&stop)).is_ok());
}

#[test]
fn silences_errors_are_one_line() {
    for (json, expected) in [
        (
            r#"[{"name": "x", "ignore": true, "silences": ["root"], "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"x\"): \"silences\" names \"root\", which is not a built-in rule (they are root-activity, ",
        ),
        (
            r#"[{"name": "x", "ignore": true, "silences": ["access-denied"], "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"x\"): \"silences\" names \"access-denied\", which is not a critical rule",
        ),
        (
            r#"[{"name": "x", "severity": "info", "silences": ["root-activity"], "match": {"eventName": "A"}}]"#,
            "RULES: rule 1 (\"x\"): \"silences\" belongs to an ignore rule",
        ),
        (
            r#"[{"name": "x", "ignore": true, "silences": ["cloudtrail-tampering"], "match": {"userIdentity.arn": "arn:aws:sts::1:assumed-role/deploy/ci"}}]"#,
            "RULES: rule 1 (\"x\"): a rule that silences a critical rule may not match \"userIdentity.arn\": the caller picks it",
        ),
        (
            r#"[{"name": "x", "ignore": true, "silences": ["cloudtrail-tampering"], "match": {"userAgent": "terraform/*"}}]"#,
            "RULES: rule 1 (\"x\"): a rule that silences a critical rule may not match \"userAgent\"",
        ),
    ] {
        let e = rules(&[("RULES", json)]).unwrap_err();
        assert!(e.starts_with(expected), "{json}\n{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    assert!(
        rules(&[("TRUSTED_ACCOUNTS", "12345")])
            .unwrap_err()
            .starts_with("TRUSTED_ACCOUNTS: \"12345\" is not a 12-digit account id")
    );
    assert!(
        rules(&[("SECRET_READ_THRESHOLD", "1")])
            .unwrap_err()
            .starts_with("SECRET_READ_THRESHOLD: \"1\" is not a number of secrets of 2 or more")
    );
}

#[test]
fn root_reads_and_secret_reads_fold() {
    let root = json!({"type": "Root", "principalId": ACCOUNT, "arn": "arn:aws:iam::111122223333:root", "accountId": ACCOUNT});
    let read = with(
        event("s3", "ListBuckets", root, Value::Null),
        "readOnly",
        json!(true),
    );
    let r: Record = serde_json::from_value(read).unwrap();
    let filter = Filter::default();
    let rules = Rules::default();
    assert_eq!(
        rules.judge(&filter, &r, None).unwrap().fold,
        Some(Fold::RootReads)
    );
    // Secret reads: the threshold's read and the ones after carry the count so far.
    let rules = self::rules(&[("SECRET_READ_THRESHOLD", "3")]).unwrap();
    let mut judge = rules.reading(&filter);
    let mut folds = Vec::new();
    for id in ["a", "b", "a", "c", "d"] {
        let doc = with(
            event(
                "secretsmanager",
                "GetSecretValue",
                alice(),
                json!({"secretId": id}),
            ),
            "readOnly",
            json!(true),
        );
        let r: Record = serde_json::from_value(doc).unwrap();
        folds.push(judge.judge(&r, None).ok().and_then(|v| v.fold));
    }
    assert_eq!(
        folds,
        [
            None,
            None,
            None,
            Some(Fold::SecretReads(3)),
            Some(Fold::SecretReads(4))
        ]
    );
}
