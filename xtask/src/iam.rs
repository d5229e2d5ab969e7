//! The template's IAM, checked after the SAM transform (what CloudFormation gets):
//!
//! - no action with a wildcard (`s3:*`, `*`);
//! - a function's role grants only services the function calls: the AWS SDK crates its
//!   crate depends on (`aws-sdk-s3` → `s3`; opswatch-support's `s3`/`ssm` features;
//!   opswatch-delivery → `dynamodb`), Secrets Manager (the Slack secrets), CloudWatch Logs
//!   (its own logs), SQS when it has a dead-letter queue or an SQS event source, and KMS only
//!   through a service it uses (`kms:ViaService`: S3, SQS, Lambda for its environment);
//! - DynamoDB only as the delivery pipeline uses it: `GetItem`, `PutItem`, `UpdateItem`,
//!   `DeleteItem` on the dedupe table, and only on the function's own keys
//!   (`dynamodb:LeadingKeys` = `<binary>#*`), plus `GetItem` of the mutes' index and
//!   acknowledgements (`mute#all`, `ack#*`); slack-actions only on `mute#*`, `ack#*`,
//!   `sig#*`;
//! - a public function URL has both grants it needs and no other public grant;
//! - no `Resource: "*"` but for the list calls named in [`STAR_RESOURCES`], each with why;
//! - no managed policy but `AWSLambdaBasicExecutionRole`;
//! - roles for services (Firehose, SES) grant only what those services are known to need.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// Calls that name no resource, so IAM can only grant them on `*`: (action, why).
pub const STAR_RESOURCES: &[(&str, &str)] = &[
    (
        "rds:DescribePendingMaintenanceActions",
        "a list call with no resource in the request; it reads only maintenance metadata",
    ),
    (
        "organizations:ListAccounts",
        "a list call with no resource-level permissions; it reads account ids, names and states",
    ),
];

/// Actions that must name exactly which resources: (action, what each resource must look
/// like). `sts:AssumeRole` only into a role named in full (`…:role/<name>`, never `*`);
/// `organizations:ListTagsForResource` only on accounts.
fn scoped_resource(action: &str, resource: &str) -> Option<&'static str> {
    match action {
        "sts:AssumeRole" => {
            let name = resource.rsplit_once(":role/").map(|(_, n)| n);
            (!name.is_some_and(|n| !n.is_empty() && !n.contains('*')))
                .then_some("a role named in full (arn:…:iam::<account>:role/<name>)")
        }
        "organizations:ListTagsForResource" => (!resource.contains(":account/"))
            .then_some("an organization's accounts (arn:…:organizations::…:account/o-…/…)"),
        _ => None,
    }
}

const MANAGED_ALLOWED: &[&str] = &["AWSLambdaBasicExecutionRole"];

/// What the delivery pipeline does with the dedupe table.
const DEDUPE_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// The dedupe table's keys a function may touch: its own (`<binary>#*`); slack-actions,
/// the mutes, acknowledgements and seen signatures.
fn own_keys(binary: &str) -> Vec<String> {
    if binary == "slack-actions" {
        ["mute#*", "ack#*", "sig#*"].map(String::from).to_vec()
    } else {
        vec![format!("{binary}#*")]
    }
}

/// What a posting function may read besides its own keys (with `GetItem` alone): the
/// index of active mutes and the acknowledgements of messages.
const SHARED_READS: &[&str] = &["mute#all", "ack#*"];

/// A DynamoDB statement's problems: other actions, another table, others' keys.
fn dedupe_statement(who: &str, binary: &str, s: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let actions = strings(&s["Action"]);
    for action in &actions {
        if !DEDUPE_ACTIONS.contains(&action.as_str()) {
            problems.push(format!(
                "{who}: {action} is not one the delivery pipeline makes"
            ));
        }
    }
    if s["Resource"]["Fn::GetAtt"][0] != "DedupeTable" {
        problems.push(format!(
            "{who}: DynamoDB on {} instead of the dedupe table",
            s["Resource"]
        ));
    }
    let keys = strings(&s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
    let own = own_keys(binary);
    let reads_only = actions.iter().all(|a| a == "dynamodb:GetItem");
    let fits = |k: &String| {
        own.contains(k)
            || (reads_only && binary != "slack-actions" && SHARED_READS.contains(&k.as_str()))
    };
    if keys.is_empty() || !keys.iter().all(fits) {
        problems.push(format!(
            "{who}: DynamoDB keys not limited to its own ({}): {keys:?}",
            own.join(", ")
        ));
    }
    problems
}

/// A public function URL (`AuthType: NONE`) needs both grants since October 2025:
/// `lambda:InvokeFunctionUrl` (for `FunctionUrlAuthType` NONE) and `lambda:InvokeFunction`
/// limited to calls through the URL (`InvokedViaFunctionUrl`). Anything else public is a
/// problem.
fn function_urls(resources: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, r) in resources {
        if r["Type"] != "AWS::Lambda::Url" || r["Properties"]["AuthType"] != "NONE" {
            continue;
        }
        let function = &r["Properties"]["TargetFunctionArn"]["Ref"];
        let grants: Vec<&Value> = resources
            .values()
            .filter(|p| {
                p["Type"] == "AWS::Lambda::Permission"
                    && &p["Properties"]["FunctionName"]["Ref"] == function
                    && p["Properties"]["Principal"] == "*"
            })
            .map(|p| &p["Properties"])
            .collect();
        let url = grants.iter().any(|p| {
            p["Action"] == "lambda:InvokeFunctionUrl" && p["FunctionUrlAuthType"] == "NONE"
        });
        let invoke = grants
            .iter()
            .any(|p| p["Action"] == "lambda:InvokeFunction" && p["InvokedViaFunctionUrl"] == true);
        if !url {
            problems.push(format!(
                "{id}: no public lambda:InvokeFunctionUrl grant (FunctionUrlAuthType NONE)"
            ));
        }
        if !invoke {
            problems.push(format!(
                "{id}: no lambda:InvokeFunction grant limited to the URL (InvokedViaFunctionUrl): new function URLs need both"
            ));
        }
        for p in &grants {
            let through_url = (p["Action"] == "lambda:InvokeFunctionUrl"
                && p["FunctionUrlAuthType"] == "NONE")
                || (p["Action"] == "lambda:InvokeFunction" && p["InvokedViaFunctionUrl"] == true);
            if !through_url {
                problems.push(format!(
                    "{id}: a public grant of {} not limited to the function URL",
                    p["Action"]
                ));
            }
        }
    }
    problems
}

/// What a role assumed by a service may grant.
fn service_role_allows(principal: &str) -> Option<&'static [&'static str]> {
    match principal {
        "firehose.amazonaws.com" => Some(&["s3", "kinesis", "lambda", "logs", "kms"]),
        "ses.amazonaws.com" => Some(&["firehose"]),
        // EventBridge Scheduler (the RDS checker's second schedule) only invokes.
        "scheduler.amazonaws.com" => Some(&["lambda"]),
        _ => None,
    }
}

/// The services a function's crate calls, from its Cargo.toml.
pub fn crate_services(manifest: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("aws-sdk-") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            out.insert(match name.as_str() {
                "cloudwatchlogs" => "logs".to_owned(),
                other => other.to_owned(),
            });
        }
        if line.starts_with("opswatch-delivery") {
            // The dedupe table of the delivery pipeline; Organizations for account names
            // and tags (ACCOUNT_NAMES=organizations).
            out.insert("dynamodb".to_owned());
            out.insert("organizations".to_owned());
        }
        if line.starts_with("opswatch-support") {
            for feature in ["s3", "ssm"] {
                if line.contains(&format!("\"{feature}\"")) {
                    out.insert(feature.to_owned());
                }
            }
        }
    }
    // Every function reads its Slack webhook from Secrets Manager and writes its own logs.
    out.insert("secretsmanager".into());
    out.insert("logs".into());
    out
}

/// Statements of a policy document, both branches of an `Fn::If` included.
fn statements(doc: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let list = match &doc["Statement"] {
        Value::Array(a) => a.iter().collect::<Vec<_>>(),
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    };
    for s in list {
        if let Some(branches) = s.get("Fn::If").and_then(Value::as_array) {
            for b in branches.iter().skip(1) {
                if b.get("Ref").and_then(Value::as_str) != Some("AWS::NoValue") {
                    out.push(b);
                }
            }
        } else {
            out.push(s);
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        other => vec![other.to_string()],
    }
}

/// Every problem in a transformed template; `crates` is where `crates/<binary>/Cargo.toml`
/// lives.
pub fn check(template: &Value, crates: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    problems.extend(function_urls(&resources));

    // Which function (and what it is wired to) each role serves.
    let mut role_of_function: BTreeMap<String, (String, String, BTreeSet<String>)> =
        BTreeMap::new();
    for (id, r) in &resources {
        if r["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let Some(role) = r["Properties"]["Role"]["Fn::GetAtt"][0].as_str() else {
            problems.push(format!("{id}: its role is not one of the template's"));
            continue;
        };
        let Some(binary) = r["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            problems.push(format!(
                "{id}: no BuildProperties.Binary to find its crate by"
            ));
            continue;
        };
        let manifest = crates.join(binary).join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            problems.push(format!("{id}: cannot read {}", manifest.display()));
            continue;
        };
        let mut allowed = crate_services(&text);
        let sqs_source = resources.values().any(|m| {
            m["Type"] == "AWS::Lambda::EventSourceMapping"
                && m["Properties"]["FunctionName"]["Ref"] == id.as_str()
                && m["Properties"]["EventSourceArn"]["Fn::GetAtt"][1] == "Arn"
        });
        if !r["Properties"]["DeadLetterConfig"].is_null() || sqs_source {
            allowed.insert("sqs".into());
        }
        role_of_function.insert(role.to_owned(), (id.clone(), binary.to_owned(), allowed));
    }

    for (id, r) in &resources {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        let p = &r["Properties"];
        for arn in strings(&p["ManagedPolicyArns"]) {
            if arn != "null"
                && !MANAGED_ALLOWED
                    .iter()
                    .any(|m| arn.ends_with(&format!("/{m}")))
            {
                problems.push(format!("{id}: managed policy {arn}"));
            }
        }
        let (who, binary, allowed): (String, String, BTreeSet<String>) =
            match role_of_function.get(id) {
                Some((function, binary, allowed)) => {
                    (function.clone(), binary.clone(), allowed.clone())
                }
                None => {
                    let principals: Vec<String> = statements(&p["AssumeRolePolicyDocument"])
                        .iter()
                        .flat_map(|s| strings(&s["Principal"]["Service"]))
                        .collect();
                    let mut allowed = BTreeSet::new();
                    for principal in &principals {
                        match service_role_allows(principal) {
                            Some(list) => allowed.extend(list.iter().map(|s| s.to_string())),
                            None => problems.push(format!(
                                "{id}: a role for {principal}, which this check does not know"
                            )),
                        }
                    }
                    (
                        format!("{id} ({})", principals.join(", ")),
                        String::new(),
                        allowed,
                    )
                }
            };
        for policy in p["Policies"].as_array().into_iter().flatten() {
            for s in statements(&policy["PolicyDocument"]) {
                if s["Effect"] != "Allow" {
                    continue;
                }
                let actions = strings(&s["Action"]);
                let resources = strings(&s["Resource"]);
                if actions.iter().any(|a| a.starts_with("dynamodb:")) && !binary.is_empty() {
                    problems.extend(dedupe_statement(&who, &binary, s));
                }
                for action in &actions {
                    if action.contains('*') {
                        problems.push(format!("{who}: wildcard action {action}"));
                    }
                    let service = action.split(':').next().unwrap_or_default();
                    if service == "kms"
                        && role_of_function.contains_key(id)
                        && !allowed.contains("kms")
                    {
                        // A function that does not call KMS uses a key only through a
                        // service it uses: S3 (objects), SQS (its queues), Lambda (its
                        // environment).
                        let via = strings(&s["Condition"]["StringEquals"]["kms:ViaService"]);
                        let through = |v: &String| {
                            ["s3", "sqs", "lambda"].iter().any(|svc| {
                                v.contains(&format!("{svc}.${{AWS::Region}}.amazonaws.com"))
                                    && (*svc == "lambda" || allowed.contains(*svc))
                            })
                        };
                        if via.is_empty() || !via.iter().all(through) {
                            problems.push(format!(
                                "{who}: {action} not only through kms:ViaService of S3, SQS or Lambda it uses (the function does not call KMS)"
                            ));
                        }
                        continue;
                    }
                    if !allowed.contains(service) {
                        problems.push(format!(
                            "{who}: granted {action}, but it does not call {service}"
                        ));
                    }
                    if resources.iter().any(|r| r == "*")
                        && !STAR_RESOURCES.iter().any(|(a, _)| a == action)
                    {
                        problems.push(format!("{who}: {action} on Resource \"*\""));
                    }
                    for r in &resources {
                        if let Some(must) = scoped_resource(action, r) {
                            problems.push(format!("{who}: {action} on {r}, not {must}"));
                        }
                    }
                }
            }
        }
    }
    problems
}

/// What the member accounts' role (`org/member-role.yaml`) may grant: reading pending
/// maintenance and the windows and tags of the resources that have it.
const MEMBER_ROLE_ACTIONS: &[&str] = &[
    "rds:DescribePendingMaintenanceActions",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
];

/// `org/member-role.yaml`'s problems: a role and nothing else; RDS `Describe*` calls the
/// checker makes and nothing else, `*` only for the list call; no managed policy; trusted
/// by exactly one principal, the role ARN a parameter names (its pattern a role's), with
/// `sts:AssumeRole` alone.
pub fn check_member_role(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let resources = template["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let parameters = &template["Parameters"];
    if resources.is_empty() {
        problems.push("member role: no resources".to_owned());
    }
    for (id, r) in &resources {
        if r["Type"] != "AWS::IAM::Role" {
            problems.push(format!("member role: {id} is a {}, not a role", r["Type"]));
            continue;
        }
        let p = &r["Properties"];
        if !p["ManagedPolicyArns"].is_null() {
            problems.push(format!("member role: {id} has managed policies"));
        }
        for s in statements(&p["AssumeRolePolicyDocument"]) {
            if s["Effect"] != "Allow" {
                continue;
            }
            if strings(&s["Action"]) != ["sts:AssumeRole"] {
                problems.push(format!("member role: {id} trusts for {}", s["Action"]));
            }
            let principal = s["Principal"].as_object().cloned().unwrap_or_default();
            let param = principal
                .get("AWS")
                .and_then(|a| a["Ref"].as_str())
                .filter(|_| principal.len() == 1);
            match param {
                Some(name)
                    if parameters[name]["AllowedPattern"]
                        .as_str()
                        .is_some_and(|p| p.contains(":role/")) => {}
                _ => problems.push(format!(
                    "member role: {id} trusts {}, not one role ARN from a parameter whose pattern is a role's",
                    s["Principal"]
                )),
            }
        }
        for policy in p["Policies"].as_array().into_iter().flatten() {
            for s in statements(&policy["PolicyDocument"]) {
                if s["Effect"] != "Allow" {
                    continue;
                }
                let resources = strings(&s["Resource"]);
                for action in strings(&s["Action"]) {
                    if !MEMBER_ROLE_ACTIONS.contains(&action.as_str()) {
                        problems.push(format!(
                            "member role: {id} grants {action}, which the checker does not call"
                        ));
                    }
                    if resources.iter().any(|r| r == "*")
                        && !STAR_RESOURCES.iter().any(|(a, _)| *a == action)
                    {
                        problems.push(format!("member role: {id}: {action} on Resource \"*\""));
                    }
                }
            }
        }
    }
    problems
}

/// `org/member-role.yaml` as JSON (CloudFormation's short forms read by the SAM
/// translator's YAML loader).
fn member_role_template() -> Result<Value, String> {
    let out = std::process::Command::new(crate::python::bin("python"))
        .args([
            "-c",
            "import json,sys\nfrom samtranslator.yaml_helper import yaml_parse\nprint(json.dumps(yaml_parse(open(sys.argv[1]).read())))",
        ])
        .arg(crate::root().join("org/member-role.yaml"))
        .output()
        .map_err(|e| format!("reading org/member-role.yaml: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "org/member-role.yaml:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("org/member-role.yaml: {e}"))
}

/// `cargo xtask test`'s step: transform with the pinned SAM translator, then check.
pub fn check_template() -> Result<(), String> {
    let out = std::process::Command::new(crate::python::bin("python"))
        .arg(crate::root().join("xtask/sam_transform.py"))
        .arg(crate::root().join("template.yaml"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .map_err(|e| format!("running the SAM transform: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the SAM transform failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let template: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the SAM transform's output: {e}"))?;
    let mut problems = check(&template, &crate::root().join("crates"));
    problems.extend(crate::redelivery::check(
        &template,
        &crate::root().join("crates"),
    ));
    problems.extend(check_member_role(&member_role_template()?));
    let roles = template["Resources"].as_object().map_or(0, |r| {
        r.values().filter(|r| r["Type"] == "AWS::IAM::Role").count()
    });
    if problems.is_empty() {
        eprintln!(
            "template IAM: {roles} roles, no wildcard action, each function only the services it calls; DedupeTtl outlasts every queue's redeliveries, and every posting function alarms on DedupeUnavailable; org/member-role.yaml reads pending RDS maintenance only, trusted by the checker's role alone"
        );
        Ok(())
    } else {
        Err(format!("template IAM:\n  {}", problems.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crates() -> tempdir::Dir {
        tempdir::Dir::new(&[(
            "thing/Cargo.toml",
            "[dependencies]\nopswatch-support = { workspace = true, features = [\"ssm\"] }\naws-sdk-s3.workspace = true\n",
        )])
    }

    fn template(statement: Value, managed: Value) -> Value {
        json!({"Resources": {
            "Thing": {"Type": "AWS::Lambda::Function",
                "Metadata": {"BuildProperties": {"Binary": "thing"}},
                "Properties": {"Role": {"Fn::GetAtt": ["ThingRole", "Arn"]}}},
            "ThingRole": {"Type": "AWS::IAM::Role", "Properties": {
                "ManagedPolicyArns": managed,
                "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}]}}
        }})
    }

    fn basic() -> Value {
        json!(["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"])
    }

    #[test]
    fn a_scoped_policy_of_called_services_passes() {
        let dir = crates();
        let t = template(
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "ssm:GetParameter"], "Resource": "arn:aws:s3:::b/*"}),
            basic(),
        );
        assert_eq!(check(&t, dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_key_used_through_lambda_passes() {
        let dir = crates();
        let t = template(
            json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:::key/k",
                   "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "lambda.${AWS::Region}.amazonaws.com"}}}}),
            basic(),
        );
        assert_eq!(check(&t, dir.path()), Vec::<String>::new());
    }

    #[test]
    fn wildcards_uncalled_services_star_resources_and_managed_policies_fail() {
        let dir = crates();
        for (statement, managed, says) in [
            (
                json!({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}),
                basic(),
                "wildcard action s3:*",
            ),
            (
                json!({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:::table/t"}),
                basic(),
                "does not call dynamodb",
            ),
            (
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
                basic(),
                "on Resource \"*\"",
            ),
            (
                json!({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "arn:aws:sqs:::q"}),
                basic(),
                "does not call sqs",
            ),
            (
                json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:::key/k"}),
                basic(),
                "not only through kms:ViaService",
            ),
            // Through SQS, but the function has no queue.
            (
                json!({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:::key/k",
                       "Condition": {"StringEquals": {"kms:ViaService": [
                           {"Fn::Sub": "lambda.${AWS::Region}.amazonaws.com"},
                           {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}]}}}),
                basic(),
                "not only through kms:ViaService",
            ),
            (
                json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
                json!(["arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]),
                "managed policy",
            ),
            (
                json!({"Fn::If": ["C", {"Effect": "Allow", "Action": "*", "Resource": "x"}, {"Ref": "AWS::NoValue"}]}),
                basic(),
                "wildcard action *",
            ),
        ] {
            let problems = check(&template(statement.clone(), managed), dir.path());
            assert!(
                problems.iter().any(|p| p.contains(says)),
                "{statement}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_dedupe_table_only_on_its_own_keys() {
        let dir = tempdir::Dir::new(&[(
            "thing/Cargo.toml",
            "[dependencies]\nopswatch-delivery.workspace = true\n",
        )]);
        let good = json!({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": {"Fn::GetAtt": ["DedupeTable", "Arn"]},
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["thing#*"]}}});
        assert_eq!(
            check(&template(good.clone(), basic()), dir.path()),
            Vec::<String>::new()
        );
        let mut scan = good.clone();
        scan["Action"] = json!("dynamodb:Scan");
        let mut others = good.clone();
        others["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] = json!(["*"]);
        let mut table = good.clone();
        table["Resource"] = json!("arn:aws:dynamodb:us-east-1:1:table/other");
        // The mutes' index and acknowledgements: read, never written, by a posting function.
        let mut reads = good.clone();
        reads["Action"] = json!("dynamodb:GetItem");
        reads["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] =
            json!(["mute#all", "ack#*"]);
        assert_eq!(
            check(&template(reads.clone(), basic()), dir.path()),
            Vec::<String>::new()
        );
        let mut writes_mutes = reads;
        writes_mutes["Action"] = json!(["dynamodb:GetItem", "dynamodb:PutItem"]);
        let mut every_mute = good;
        every_mute["Action"] = json!("dynamodb:GetItem");
        every_mute["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] =
            json!(["mute#*"]);
        for (statement, says) in [
            (scan, "dynamodb:Scan is not one"),
            (others, "not limited to its own"),
            (table, "instead of the dedupe table"),
            (writes_mutes, "not limited to its own"),
            (every_mute, "not limited to its own"),
        ] {
            let problems = check(&template(statement.clone(), basic()), dir.path());
            assert!(
                problems.iter().any(|p| p.contains(says)),
                "{statement}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_public_function_url_needs_both_grants_and_no_other() {
        let url = json!({"Type": "AWS::Lambda::Url", "Properties": {"AuthType": "NONE", "TargetFunctionArn": {"Ref": "F"}}});
        let via_url = json!({"Type": "AWS::Lambda::Permission", "Properties": {"Action": "lambda:InvokeFunctionUrl", "FunctionName": {"Ref": "F"}, "Principal": "*", "FunctionUrlAuthType": "NONE"}});
        let invoke = json!({"Type": "AWS::Lambda::Permission", "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "F"}, "Principal": "*", "InvokedViaFunctionUrl": true}});
        let map = |rs: &[(&str, &Value)]| -> serde_json::Map<String, Value> {
            rs.iter()
                .map(|(k, v)| (k.to_string(), (*v).clone()))
                .collect()
        };
        assert_eq!(
            function_urls(&map(&[("U", &url), ("P1", &via_url), ("P2", &invoke)])),
            Vec::<String>::new()
        );
        let only_url = function_urls(&map(&[("U", &url), ("P1", &via_url)]));
        assert!(
            only_url.iter().any(|p| p.contains("InvokedViaFunctionUrl")),
            "{only_url:?}"
        );
        let mut open = invoke.clone();
        open["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("InvokedViaFunctionUrl");
        let problems = function_urls(&map(&[
            ("U", &url),
            ("P1", &via_url),
            ("P2", &invoke),
            ("P3", &open),
        ]));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("not limited to the function URL")),
            "{problems:?}"
        );
    }

    #[test]
    fn assume_role_only_into_a_named_role_and_tags_only_of_accounts() {
        let dir = tempdir::Dir::new(&[(
            "thing/Cargo.toml",
            "[dependencies]\naws-sdk-sts.workspace = true\nopswatch-delivery.workspace = true\n",
        )]);
        let good = [
            json!({"Effect": "Allow", "Action": "sts:AssumeRole",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}}),
            json!({"Effect": "Allow", "Action": "organizations:ListTagsForResource",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:organizations::*:account/o-*/*"}}),
            json!({"Effect": "Allow", "Action": "organizations:ListAccounts", "Resource": "*"}),
        ];
        for statement in good {
            assert_eq!(
                check(&template(statement.clone(), basic()), dir.path()),
                Vec::<String>::new(),
                "{statement}"
            );
        }
        for (statement, says) in [
            (
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
                "sts:AssumeRole on Resource \"*\"",
            ),
            (
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"}),
                "not a role named in full",
            ),
            (
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::222233334444:root"}),
                "not a role named in full",
            ),
            (
                json!({"Effect": "Allow", "Action": "organizations:ListTagsForResource", "Resource": "arn:aws:organizations::*:ou/o-*/*"}),
                "not an organization's accounts",
            ),
        ] {
            let problems = check(&template(statement.clone(), basic()), dir.path());
            assert!(
                problems.iter().any(|p| p.contains(says)),
                "{statement}: {problems:?}"
            );
        }
    }

    #[test]
    fn the_member_role_reads_maintenance_for_the_checker_only() {
        let role = |trust: Value, actions: Value, resource: Value| {
            json!({
                "Parameters": {"CheckerRoleArn": {"Type": "String", "AllowedPattern": "^arn:aws:iam::[0-9]{12}:role/.+$"},
                               "Other": {"Type": "String"}},
                "Resources": {"MemberRole": {"Type": "AWS::IAM::Role", "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": [trust]},
                    "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
                        {"Effect": "Allow", "Action": actions, "Resource": resource}]}}]}}}
            })
        };
        let trust = json!({"Effect": "Allow", "Principal": {"AWS": {"Ref": "CheckerRoleArn"}}, "Action": "sts:AssumeRole"});
        let describe = json!(["rds:DescribeDBClusters", "rds:DescribeDBInstances"]);
        let arn = json!("arn:aws:rds:*:1:cluster:*");
        assert_eq!(
            check_member_role(&role(trust.clone(), describe.clone(), arn.clone())),
            Vec::<String>::new()
        );
        assert_eq!(
            check_member_role(&role(
                trust.clone(),
                json!("rds:DescribePendingMaintenanceActions"),
                json!("*")
            )),
            Vec::<String>::new()
        );
        let mut everyone = trust.clone();
        everyone["Principal"] = json!({"AWS": "*"});
        let mut unpatterned = trust.clone();
        unpatterned["Principal"] = json!({"AWS": {"Ref": "Other"}});
        let mut service = trust.clone();
        service["Principal"] =
            json!({"AWS": {"Ref": "CheckerRoleArn"}, "Service": "lambda.amazonaws.com"});
        let mut tagging = trust.clone();
        tagging["Action"] = json!(["sts:AssumeRole", "sts:TagSession"]);
        for (template, says) in [
            (
                role(everyone, describe.clone(), arn.clone()),
                "not one role ARN",
            ),
            (
                role(unpatterned, describe.clone(), arn.clone()),
                "not one role ARN",
            ),
            (
                role(service, describe.clone(), arn.clone()),
                "not one role ARN",
            ),
            (role(tagging, describe.clone(), arn.clone()), "trusts for"),
            (
                role(trust.clone(), json!("rds:ModifyDBCluster"), arn.clone()),
                "grants rds:ModifyDBCluster",
            ),
            (
                role(trust.clone(), json!("rds:DescribeDBClusters"), json!("*")),
                "on Resource \"*\"",
            ),
        ] {
            let problems = check_member_role(&template);
            assert!(
                problems.iter().any(|p| p.contains(says)),
                "{says}: {problems:?}"
            );
        }
        let mut extra = role(trust, describe, arn);
        extra["Resources"]["Topic"] = json!({"Type": "AWS::SNS::Topic"});
        assert!(
            check_member_role(&extra)
                .iter()
                .any(|p| p.contains("not a role"))
        );
    }

    #[test]
    fn services_of_a_crate() {
        let s = crate_services(
            "opswatch-support = { workspace = true, features = [\"s3\"] }\naws-sdk-cloudwatchlogs.workspace = true\naws-config.workspace = true\n",
        );
        let s: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_eq!(s, ["logs", "s3", "secretsmanager"]);
    }

    /// A throwaway directory of files, removed on drop.
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new(files: &[(&str, &str)]) -> Self {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let dir = std::env::temp_dir().join(format!(
                    "xtask-iam-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ));
                for (path, text) in files {
                    let p = dir.join(path);
                    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                    std::fs::write(p, text).expect("write");
                }
                Self(dir)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
