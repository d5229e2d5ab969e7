//! Which rules a CloudTrail event matches, and so how serious it is (pure).
//!
//! Built-in rules, each named, with its severity, on by default (`DISABLE_RULES` turns any
//! off), then the custom rules of `RULES`. An event's severity is the highest of the rules it
//! matches, **info** when it matches none; its line names every rule it matched, and routes
//! see the first (the most serious). Built-in rules that describe a change (a trail stopped,
//! a port opened) fire only when the call succeeded: a refused attempt is `access-denied`.
//!
//! In order, for each record: `ignore` rules drop what they match; the filter's lists
//! ([`Filter::lists`]); a read-only call is dropped unless a rule that looks at reads
//! (`access-denied`, any custom rule) matched it or `INCLUDE_EVENT_NAMES` lists it exactly;
//! `MIN_SEVERITY` drops what is below it.
//!
//! Custom rules: `[{"name": …, "severity": …, "match": {"<dotted path>": "value" | ["any",
//! "of"], …}}]`. Every path must match (and); a path matches when any value found there
//! (arrays on the way are searched element by element) matches any listed value: exact, or a
//! prefix ending in `*`, ASCII case ignored as in every list of the suite. `"ignore": true`
//! rules need no severity. A rule that does not parse fails the cold start with one line.

use opswatch_delivery::Severity;
use opswatch_support::Patterns;
use serde_json::{Map, Value};

use crate::filter::{Drop, Filter};
use crate::record::Record;

/// Environment variables of the rules.
pub mod env {
    /// Custom rules, JSON.
    pub const RULES: &str = "RULES";
    /// An SSM parameter holding the custom rules (read at cold start) when `RULES` is unset.
    pub const RULES_PARAMETER: &str = "RULES_PARAMETER";
    /// Built-in rules turned off, comma-separated names.
    pub const DISABLE_RULES: &str = "DISABLE_RULES";
    /// `info` (default), `warning` or `critical`: events below are dropped.
    pub const MIN_SEVERITY: &str = "MIN_SEVERITY";
    /// The prefix of this stack's resource names (the template sets `<stack name>-`), for
    /// `self-protection`.
    pub const SELF_PROTECTION_PREFIX: &str = "SELF_PROTECTION_PREFIX";
}

/// A built-in rule: its name, the most serious it rates an event, and what it looks for.
pub struct Builtin {
    pub name: &'static str,
    pub severity: Severity,
    pub about: &'static str,
    /// Also judged on read-only calls.
    reads: bool,
    test: fn(&Record, &Context) -> Option<Severity>,
}

/// What the built-in rules need beyond the record.
#[derive(Debug, Clone, Default)]
struct Context {
    self_prefix: Option<String>,
}

/// Every built-in rule, most serious first.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "root-activity",
        severity: Severity::Critical,
        about: "a call that is not read-only, or a console sign-in, by the root user",
        reads: false,
        test: |r, _| {
            when(
                r.user_identity.kind.as_deref() == Some("Root"),
                Severity::Critical,
            )
        },
    },
    Builtin {
        name: "cloudtrail-tampering",
        severity: Severity::Critical,
        about: "StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors, DeleteEventDataStore, StopEventDataStoreIngestion",
        reads: false,
        test: |r, _| {
            when(
                done(r, "cloudtrail")
                    && matches!(
                        r.event_name.as_str(),
                        "StopLogging"
                            | "DeleteTrail"
                            | "UpdateTrail"
                            | "PutEventSelectors"
                            | "DeleteEventDataStore"
                            | "StopEventDataStoreIngestion"
                    ),
                Severity::Critical,
            )
        },
    },
    Builtin {
        name: "detective-controls-disabled",
        severity: Severity::Critical,
        about: "a Config recorder stopped or deleted, a delivery channel deleted, a GuardDuty detector deleted or disabled, Security Hub disabled, an Access Analyzer analyzer deleted",
        reads: false,
        test: |r, _| when(detective_controls_disabled(r), Severity::Critical),
    },
    Builtin {
        name: "console-login-without-mfa",
        severity: Severity::Critical,
        about: "a successful console sign-in by an IAM user without MFA",
        reads: false,
        test: |r, _| {
            when(
                r.event_name == "ConsoleLogin"
                    && r.console_login_result() == Some("Success")
                    && r.user_identity.kind.as_deref() == Some("IAMUser")
                    && r.additional_event_data
                        .as_ref()
                        .and_then(|d| d.get("MFAUsed"))
                        .and_then(Value::as_str)
                        == Some("No"),
                Severity::Critical,
            )
        },
    },
    Builtin {
        name: "admin-policy",
        severity: Severity::Critical,
        about: "an IAM policy allowing every action on every resource, or AdministratorAccess attached",
        reads: false,
        test: |r, _| when(admin_policy(r), Severity::Critical),
    },
    Builtin {
        name: "kms-key-deletion",
        severity: Severity::Critical,
        about: "a KMS key scheduled for deletion or disabled",
        reads: false,
        test: |r, _| {
            when(
                done(r, "kms")
                    && matches!(r.event_name.as_str(), "ScheduleKeyDeletion" | "DisableKey"),
                Severity::Critical,
            )
        },
    },
    Builtin {
        name: "world-open-ingress",
        severity: Severity::Critical,
        about: "a security-group rule open to 0.0.0.0/0 or ::/0: critical, or a warning when it opens only 80 or 443 (or ICMP)",
        reads: false,
        test: |r, _| world_open_ingress(r),
    },
    Builtin {
        name: "s3-public-access",
        severity: Severity::Critical,
        about: "a public-access block removed or loosened, a bucket policy granting \"*\" without a condition, a public ACL",
        reads: false,
        test: |r, _| when(s3_public_access(r), Severity::Critical),
    },
    Builtin {
        name: "self-protection",
        severity: Severity::Critical,
        about: "a change to this stack's own resources (named by SELF_PROTECTION_PREFIX) by anyone but the stack's own roles and CloudFormation",
        reads: false,
        test: |r, c| when(self_protection(r, c), Severity::Critical),
    },
    Builtin {
        name: "access-denied",
        severity: Severity::Warning,
        about: "a call refused for want of permission (AccessDenied, UnauthorizedOperation and their variants), read-only ones included; one principal's repeats fold into one line",
        reads: true,
        test: |r, _| when(access_denied(r), Severity::Warning),
    },
    Builtin {
        name: "console-login-failed",
        severity: Severity::Warning,
        about: "a failed console sign-in",
        reads: false,
        test: |r, _| {
            when(
                r.event_name == "ConsoleLogin" && r.console_login_result() == Some("Failure"),
                Severity::Warning,
            )
        },
    },
    Builtin {
        name: "iam-credentials",
        severity: Severity::Warning,
        about: "an access key or a console password (login profile) created or changed",
        reads: false,
        test: |r, _| {
            when(
                done(r, "iam")
                    && matches!(
                        r.event_name.as_str(),
                        "CreateAccessKey"
                            | "UpdateAccessKey"
                            | "CreateLoginProfile"
                            | "UpdateLoginProfile"
                    ),
                Severity::Warning,
            )
        },
    },
];

/// The name of the built-in rule [`crate::render::Digest`] folds by principal.
pub const ACCESS_DENIED: &str = "access-denied";

/// A custom rule of `RULES`.
#[derive(Debug, Clone, PartialEq)]
pub struct Custom {
    pub name: String,
    pub severity: Severity,
    pub ignore: bool,
    conditions: Vec<(Vec<String>, Patterns)>,
}

impl Custom {
    fn matches(&self, doc: &Value) -> bool {
        self.conditions.iter().all(|(path, values)| {
            let mut found = Vec::new();
            leaves(doc, path, &mut found);
            found
                .into_iter()
                .filter_map(scalar_text)
                .any(|t| values.matches(&t))
        })
    }
}

/// The values at `path` in `v`, arrays searched element by element.
fn leaves<'v, S: AsRef<str>>(v: &'v Value, path: &[S], out: &mut Vec<&'v Value>) {
    match (path.split_first(), v) {
        (_, Value::Array(items)) => items.iter().for_each(|x| leaves(x, path, out)),
        (None, _) => out.push(v),
        (Some((key, rest)), Value::Object(map)) => {
            if let Some(x) = map.get(key.as_ref()) {
                leaves(x, rest, out);
            }
        }
        (Some(_), _) => {}
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What an event matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<'r> {
    pub severity: Severity,
    /// Most serious first; the first is the one routes see.
    pub rules: Vec<&'r str>,
}

impl<'r> Verdict<'r> {
    fn add(&mut self, rule: &'r str, severity: Severity, weights: &mut Vec<Severity>) {
        let at = weights
            .iter()
            .position(|w| *w < severity)
            .unwrap_or(weights.len());
        self.rules.insert(at, rule);
        weights.insert(at, severity);
        self.severity = self.severity.max(severity);
    }

    /// The rule routes match on.
    pub fn rule(&self) -> Option<&'r str> {
        self.rules.first().copied()
    }
}

/// Why an event was dropped, and the ignore rule that dropped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped<'r> {
    pub why: Drop,
    pub rule: Option<&'r str>,
}

/// The rules in force: built-ins not disabled, custom rules, the minimum severity.
#[derive(Debug, Clone)]
pub struct Rules {
    builtins: Vec<&'static Builtin>,
    custom: Vec<Custom>,
    ignore: Vec<Custom>,
    pub min_severity: Severity,
    context: Context,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::from_lookup(|_| None).unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

impl Rules {
    /// From variables looked up by name. `RULES` holds the custom rules' JSON (the handler
    /// puts `RULES_PARAMETER`'s value there). Errors are one line naming the variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let disabled = opswatch_support::list_of(&get(env::DISABLE_RULES).unwrap_or_default());
        for name in &disabled {
            if !BUILTINS.iter().any(|b| b.name.eq_ignore_ascii_case(name)) {
                return Err(format!(
                    "{}: no built-in rule is named {name:?} (they are {})",
                    env::DISABLE_RULES,
                    BUILTINS
                        .iter()
                        .map(|b| b.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let min_severity = match get(env::MIN_SEVERITY).filter(|s| !s.trim().is_empty()) {
            None => Severity::Info,
            Some(s) => Severity::parse(&s).ok_or_else(|| {
                format!(
                    "{}: {s:?} is not a severity (critical, warning or info)",
                    env::MIN_SEVERITY
                )
            })?,
        };
        let all = match get(env::RULES).filter(|s| !s.trim().is_empty()) {
            None => Vec::new(),
            Some(json) => parse_custom(&json).map_err(|e| format!("{}: {e}", env::RULES))?,
        };
        let (ignore, custom) = all.into_iter().partition(|c| c.ignore);
        Ok(Self {
            builtins: BUILTINS
                .iter()
                .filter(|b| !disabled.iter().any(|d| d.eq_ignore_ascii_case(b.name)))
                .collect(),
            custom,
            ignore,
            min_severity,
            context: Context {
                self_prefix: get(env::SELF_PROTECTION_PREFIX)
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty()),
            },
        })
    }

    /// Whether [`Rules::judge`] needs the record as JSON (custom rules look at any path).
    pub fn needs_document(&self) -> bool {
        !(self.custom.is_empty() && self.ignore.is_empty())
    }

    /// A log file's record as JSON, only where [`Rules::needs_document`]; a record that is
    /// not JSON here cannot have been read as a `Record` either.
    pub fn document(&self, raw: &serde_json::value::RawValue) -> Option<Value> {
        if self.needs_document() {
            serde_json::from_str(raw.get()).ok()
        } else {
            None
        }
    }

    /// The names of the rules in force, built-in then custom, and the ignore rules.
    pub fn names(&self) -> (Vec<&str>, Vec<&str>) {
        let on = self
            .builtins
            .iter()
            .map(|b| b.name)
            .chain(self.custom.iter().map(|c| c.name.as_str()))
            .collect();
        (on, self.ignore.iter().map(|c| c.name.as_str()).collect())
    }

    /// Whether a built-in rule in force that looks at reads could match this one (only
    /// `access-denied`, only on a failed call).
    fn judges_reads(&self, r: &Record) -> bool {
        r.error_code.is_some() && self.builtins.iter().any(|b| b.reads)
    }

    /// Whether an event gets an alert, and with what weight. `doc` is the record as JSON;
    /// it is needed only where [`Rules::needs_document`] says so.
    pub fn judge<'r>(
        &'r self,
        filter: &Filter,
        r: &Record,
        doc: Option<&Value>,
    ) -> Result<Verdict<'r>, Dropped<'r>> {
        let drop = |why| Dropped { why, rule: None };
        if let Some(doc) = doc
            && let Some(rule) = self.ignore.iter().find(|c| c.matches(doc))
        {
            return Err(Dropped {
                why: Drop::Ignored,
                rule: Some(&rule.name),
            });
        }
        let read_only = filter.read_only(r);
        // Most of a trail is reads no rule looks at: dropped before the lists are walked.
        if read_only && self.custom.is_empty() && !self.judges_reads(r) {
            return Err(drop(Drop::ReadOnly));
        }
        filter.lists(r).map_err(drop)?;
        let mut v = Verdict {
            severity: Severity::Info,
            rules: Vec::new(),
        };
        let mut weights = Vec::new();
        for b in &self.builtins {
            if (b.reads || !read_only)
                && let Some(s) = (b.test)(r, &self.context)
            {
                v.add(b.name, s, &mut weights);
            }
        }
        if let Some(doc) = doc {
            for c in self.custom.iter().filter(|c| c.matches(doc)) {
                v.add(&c.name, c.severity, &mut weights);
            }
        }
        if read_only && v.rules.is_empty() {
            return Err(drop(Drop::ReadOnly));
        }
        if v.severity < self.min_severity {
            return Err(drop(Drop::BelowMinimum));
        }
        Ok(v)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(rename = "match")]
    matches: Map<String, Value>,
    #[serde(default)]
    ignore: bool,
}

fn parse_custom(json: &str) -> Result<Vec<Custom>, String> {
    let specs: Vec<Value> = serde_json::from_str(json).map_err(|e| {
        format!("not a JSON array of rules ({e}); expected [{{\"name\": …, \"severity\": …, \"match\": {{\"eventName\": \"…\"}}}}]")
    })?;
    let mut out: Vec<Custom> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let at = |why: String| format!("rule {}: {why}", i + 1);
        let spec: Spec = serde_json::from_value(spec).map_err(|e| at(e.to_string()))?;
        let at = |why: String| format!("rule {} ({:?}): {why}", i + 1, spec.name);
        let name = spec.name.trim().to_owned();
        if name.is_empty() {
            return Err(at("the name is empty".into()));
        }
        if BUILTINS.iter().any(|b| b.name.eq_ignore_ascii_case(&name))
            || out.iter().any(|c| c.name.eq_ignore_ascii_case(&name))
        {
            return Err(at("another rule has this name".into()));
        }
        let severity = match (&spec.severity, spec.ignore) {
            (Some(s), _) => Severity::parse(s).ok_or_else(|| {
                at(format!(
                    "unknown severity {s:?} (critical, warning or info)"
                ))
            })?,
            (None, true) => Severity::Info,
            (None, false) => {
                return Err(at(
                    "no severity (critical, warning or info; only an ignore rule goes without)"
                        .into(),
                ));
            }
        };
        if spec.matches.is_empty() {
            return Err(at("\"match\" is empty: it would match every event".into()));
        }
        let mut conditions = Vec::with_capacity(spec.matches.len());
        for (path, values) in spec.matches {
            let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
            if keys.iter().any(|k| k.is_empty()) {
                return Err(at(format!("{path:?} is not a dotted path")));
            }
            let items = match values {
                Value::Array(items) => items,
                one => vec![one],
            };
            let texts = items
                .iter()
                .map(|v| scalar_text(v).ok_or(v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|v| at(format!("{path:?}: {v} is not a string, number or boolean")))?;
            let patterns = Patterns::from_items(&texts);
            if patterns.is_empty() {
                return Err(at(format!("{path:?} lists no value")));
            }
            conditions.push((keys, patterns));
        }
        out.push(Custom {
            name,
            severity,
            ignore: spec.ignore,
            conditions,
        });
    }
    Ok(out)
}

// ── The built-in rules' tests ────────────────────────────────────────────────────────────

fn when(yes: bool, s: Severity) -> Option<Severity> {
    yes.then_some(s)
}

/// A call to `<service>.amazonaws.com` that succeeded.
fn done(r: &Record, service: &str) -> bool {
    r.error_code.is_none()
        && r.event_source
            .strip_suffix(".amazonaws.com")
            .is_some_and(|s| s == service)
}

fn param<'r>(r: &'r Record, key: &str) -> Option<&'r Value> {
    r.request_parameters.as_ref()?.get(key)
}

fn access_denied(r: &Record) -> bool {
    r.error_code.as_deref().is_some_and(|c| {
        c.contains("AccessDenied")
            || c.contains("UnauthorizedOperation")
            || c == "UnauthorizedAccess"
            || c.starts_with("AuthorizationError")
    })
}

fn detective_controls_disabled(r: &Record) -> bool {
    let n = r.event_name.as_str();
    (done(r, "config")
        && matches!(
            n,
            "StopConfigurationRecorder" | "DeleteConfigurationRecorder" | "DeleteDeliveryChannel"
        ))
        || (done(r, "guardduty")
            && (n == "DeleteDetector"
                || (n == "UpdateDetector"
                    && param(r, "enable").is_some_and(|v| v == &Value::Bool(false)))))
        || (done(r, "securityhub") && n == "DisableSecurityHub")
        || (done(r, "access-analyzer") && n == "DeleteAnalyzer")
}

/// A policy document as CloudTrail records it: JSON text (URL-encoded in some records), or
/// already an object.
fn policy(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s)
            .ok()
            .or_else(|| serde_json::from_str(&percent_decode(s)?).ok()),
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
fn statements(doc: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    let s = doc.get("Statement");
    let list: Vec<&Value> = match s {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    list.into_iter().filter_map(Value::as_object)
}

fn allows(st: &Map<String, Value>) -> bool {
    st.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// `"*"` (or `"*:*"`), alone or in a list.
fn star(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => s == "*" || s == "*:*",
        Some(Value::Array(items)) => items.iter().any(|x| star(Some(x))),
        _ => false,
    }
}

fn admin_policy(r: &Record) -> bool {
    if !done(r, "iam") {
        return false;
    }
    match r.event_name.as_str() {
        "CreatePolicy"
        | "CreatePolicyVersion"
        | "PutUserPolicy"
        | "PutRolePolicy"
        | "PutGroupPolicy" => param(r, "policyDocument")
            .and_then(policy)
            .is_some_and(|doc| {
                statements(&doc)
                    .any(|st| allows(st) && star(st.get("Action")) && star(st.get("Resource")))
            }),
        "AttachUserPolicy" | "AttachRolePolicy" | "AttachGroupPolicy" => param(r, "policyArn")
            .and_then(Value::as_str)
            .is_some_and(|arn| arn.ends_with(":policy/AdministratorAccess")),
        _ => false,
    }
}

fn world_open_ingress(r: &Record) -> Option<Severity> {
    if !done(r, "ec2")
        || !matches!(
            r.event_name.as_str(),
            "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules"
        )
    {
        return None;
    }
    let params = r.request_parameters.as_ref()?;
    // The shapes CloudTrail records: `ipPermissions.items[]` (AuthorizeSecurityGroupIngress),
    // `ModifySecurityGroupRulesRequest.SecurityGroupRule[].SecurityGroupRule`, and the
    // legacy single rule at the top level.
    let mut rules: Vec<&Map<String, Value>> = Vec::new();
    let mut found = Vec::new();
    leaves(params, &["ipPermissions", "items"], &mut found);
    leaves(
        params,
        &[
            "ModifySecurityGroupRulesRequest",
            "SecurityGroupRule",
            "SecurityGroupRule",
        ],
        &mut found,
    );
    rules.extend(found.into_iter().filter_map(Value::as_object));
    rules.extend(params.as_object());
    rules
        .into_iter()
        .filter(|rule| opens_to_world(rule))
        .map(port_severity)
        .max()
}

fn opens_to_world(rule: &Map<String, Value>) -> bool {
    let world = |v: &Value| v.as_str().is_some_and(opswatch_delivery::is_world);
    let direct = ["cidrIp", "CidrIp", "CidrIpv4", "cidrIpv6", "CidrIpv6"]
        .iter()
        .any(|k| rule.get(*k).is_some_and(world));
    let nested = [("ipRanges", "cidrIp"), ("ipv6Ranges", "cidrIpv6")]
        .iter()
        .any(|(list, key)| {
            let mut found = Vec::new();
            if let Some(ranges) = rule.get(*list) {
                leaves(ranges, &["items", key], &mut found);
            }
            found.into_iter().any(world)
        });
    direct || nested
}

/// [`opswatch_delivery::world_open_ingress`] on the rule's protocol and ports.
fn port_severity(rule: &Map<String, Value>) -> Severity {
    let get = |keys: &[&str]| keys.iter().find_map(|k| rule.get(*k));
    let protocol = get(&["ipProtocol", "IpProtocol"])
        .and_then(scalar_text)
        .unwrap_or_default();
    let port = |keys: &[&str]| get(keys).and_then(Value::as_i64);
    opswatch_delivery::world_open_ingress(
        &protocol,
        port(&["fromPort", "FromPort"]),
        port(&["toPort", "ToPort"]),
    )
}

/// Any value under `v` (keys and strings), depth first; `f` says whether to stop.
fn any_value(
    v: &Value,
    key: Option<&str>,
    f: &mut impl FnMut(Option<&str>, &Value) -> bool,
) -> bool {
    if f(key, v) {
        return true;
    }
    match v {
        Value::Object(map) => map.iter().any(|(k, x)| any_value(x, Some(k), f)),
        Value::Array(items) => items.iter().any(|x| any_value(x, key, f)),
        _ => false,
    }
}

fn s3_public_access(r: &Record) -> bool {
    if !done(r, "s3") {
        return false;
    }
    // A call without parameters can still be a deletion; every other test finds nothing.
    let params = r.request_parameters.as_ref().unwrap_or(&Value::Null);
    match r.event_name.as_str() {
        "DeleteBucketPublicAccessBlock"
        | "DeleteAccountPublicAccessBlock"
        | "DeletePublicAccessBlock" => true,
        "PutBucketPublicAccessBlock" | "PutAccountPublicAccessBlock" | "PutPublicAccessBlock" => {
            any_value(params, None, &mut |k, v| {
                matches!(
                    k,
                    Some(
                        "BlockPublicAcls"
                            | "IgnorePublicAcls"
                            | "BlockPublicPolicy"
                            | "RestrictPublicBuckets"
                    )
                ) && (v == &Value::Bool(false) || v.as_str() == Some("false"))
            })
        }
        "PutBucketPolicy" => ["bucketPolicy", "policy"]
            .iter()
            .filter_map(|k| params.get(*k))
            .filter_map(policy)
            .any(|doc| {
                statements(&doc).any(|st| {
                    allows(st)
                        && !st.contains_key("Condition")
                        && match st.get("Principal") {
                            Some(Value::String(s)) => s == "*",
                            Some(Value::Object(p)) => star(p.get("AWS")),
                            _ => false,
                        }
                })
            }),
        "PutBucketAcl" | "PutObjectAcl" => any_value(params, None, &mut |k, v| {
            let canned = k == Some("x-amz-acl")
                && v.as_str().is_some_and(|s| {
                    matches!(
                        s,
                        "public-read" | "public-read-write" | "authenticated-read"
                    )
                });
            let group = v.as_str().is_some_and(|s| {
                s.ends_with("/groups/global/AllUsers")
                    || s.ends_with("/groups/global/AuthenticatedUsers")
            });
            canned || group
        }),
        _ => false,
    }
}

fn self_protection(r: &Record, c: &Context) -> bool {
    let Some(prefix) = c.self_prefix.as_deref() else {
        return false;
    };
    let starts = |s: &str| {
        s.get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
    };
    let u = &r.user_identity;
    // The stack's own functions at work, and CloudFormation deploying it.
    if u.role_name().is_some_and(starts)
        || u.invoked_by.as_deref() == Some("cloudformation.amazonaws.com")
        || r.error_code.is_some()
    {
        return false;
    }
    let stack = prefix.trim_end_matches('-');
    if r.event_source == "cloudformation.amazonaws.com" {
        return r.event_name == "DeleteStack"
            && param(r, "stackName")
                .and_then(Value::as_str)
                .is_some_and(|s| s == stack || s.split(['/', ':']).any(|p| p == stack));
    }
    r.request_parameters.as_ref().is_some_and(|p| {
        any_value(p, None, &mut |_, v| {
            v.as_str().is_some_and(|s| s.split(['/', ':']).any(starts))
        })
    })
}

#[cfg(test)]
mod tests;
