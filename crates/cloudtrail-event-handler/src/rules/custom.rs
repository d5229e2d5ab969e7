//! The rules of `RULES` (pure): `[{"name": …, "severity": …, "match": {"<dotted path>":
//! "value" | ["any", "of"], …}}]`.
//!
//! Every path must match (and); a path matches when any value found there (arrays on the
//! way are searched element by element) matches any listed value: exact, or a prefix ending
//! in `*`, ASCII case ignored as in every list of the suite.
//!
//! `"ignore": true` rules need no severity; they drop what they match, except an event a
//! critical built-in rule matched. Such an event is dropped only by an ignore rule whose
//! `"silences"` names that rule: `{"name": "break-glass", "ignore": true, "silences":
//! ["root-activity"], "match": {…}}`. A silencing rule may not match on what the caller
//! chooses (the user agent, a session's ARN or id), or anyone could wear its key.
//!
//! A rule that does not parse fails the cold start with one line.

use opswatch_delivery::Severity;
use opswatch_support::Patterns;
use serde_json::{Map, Value};

use super::builtin;

/// A custom rule of `RULES`.
#[derive(Debug, Clone, PartialEq)]
pub struct Custom {
    pub name: String,
    pub severity: Severity,
    pub ignore: bool,
    /// The critical built-in rules this ignore rule may silence.
    pub silences: Vec<String>,
    conditions: Vec<(Vec<String>, Patterns)>,
}

impl Custom {
    pub fn matches(&self, doc: &Value) -> bool {
        self.conditions.iter().all(|(path, values)| {
            let mut found = Vec::new();
            leaves(doc, path, &mut found);
            found
                .into_iter()
                .filter_map(scalar_text)
                .any(|t| values.matches(&t))
        })
    }

    /// Whether this ignore rule names `rule` in `silences`.
    pub fn silences(&self, rule: &str) -> bool {
        self.silences.iter().any(|s| s.eq_ignore_ascii_case(rule))
    }
}

/// The values at `path` in `v`, arrays searched element by element.
pub fn leaves<'v, S: AsRef<str>>(v: &'v Value, path: &[S], out: &mut Vec<&'v Value>) {
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

pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Paths whose values the caller picks (a user agent, a role session's ARN or id, a
/// source identity): a silencing rule may not rely on them.
const CHOSEN_BY_CALLER: &[&str] = &[
    "userAgent",
    "userIdentity.arn",
    "userIdentity.principalId",
    "userIdentity.sessionContext.sourceIdentity",
    "requestParameters.roleSessionName",
];

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
    #[serde(default)]
    silences: Vec<String>,
}

pub fn parse(json: &str) -> Result<Vec<Custom>, String> {
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
        if builtin::find(&name).is_some() || out.iter().any(|c| c.name.eq_ignore_ascii_case(&name))
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
        if !spec.silences.is_empty() && !spec.ignore {
            return Err(at(
                "\"silences\" belongs to an ignore rule (\"ignore\": true)".into(),
            ));
        }
        for rule in &spec.silences {
            match builtin::find(rule) {
                None => {
                    return Err(at(format!(
                        "\"silences\" names {rule:?}, which is not a built-in rule (they are {})",
                        builtin::names()
                    )));
                }
                Some(b) if b.severity < Severity::Critical => {
                    return Err(at(format!(
                        "\"silences\" names {rule:?}, which is not a critical rule: an ignore rule drops its events without naming it"
                    )));
                }
                Some(_) => {}
            }
        }
        if spec.matches.is_empty() {
            return Err(at("\"match\" is empty: it would match every event".into()));
        }
        let mut conditions = Vec::with_capacity(spec.matches.len());
        for (path, values) in spec.matches {
            let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
            if keys.iter().any(|k| k.is_empty()) {
                return Err(at(format!("{path:?} is not a dotted path")));
            }
            if !spec.silences.is_empty() && CHOSEN_BY_CALLER.contains(&path.as_str()) {
                return Err(at(format!(
                    "a rule that silences a critical rule may not match {path:?}: the caller picks it (match the role or user: userIdentity.sessionContext.sessionIssuer.arn, userIdentity.userName, userIdentity.type)"
                )));
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
            silences: spec.silences,
            conditions,
        });
    }
    Ok(out)
}
