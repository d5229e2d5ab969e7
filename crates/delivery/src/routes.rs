//! Where an alert goes: `SLACK_ROUTES`, a JSON array read once at cold start; the first entry
//! that matches wins, and an alert no entry matches goes to the default destination
//! (`SLACK_CHANNEL`, else the webhook, else a dry run).
//!
//! An entry matches on any of `function`, `severity`, `account`, `rule` — each a string or an
//! array of strings, a trailing `*` matching a prefix, compared ignoring ASCII case — and
//! `tag`, an object of tag keys and values (`{"team": "payments"}`: every key must be among
//! the alert's tags, compared exactly, its value matched like the others). An absent key
//! matches anything, and a key the alert has no value for (an alert without an account, or
//! without that tag) does not match. An entry names exactly one target: `channel` (Web API
//! mode), `webhook_url` or `webhook_secret_arn`, or `"drop": true`.
//!
//! Everything that can be wrong with the text is found here, before any event is handled:
//! the error is one line naming the entry and the key (never a webhook URL).

use std::collections::BTreeMap;

use opswatch_slack::{Secret, Target};
use opswatch_support::Patterns;
use serde_json::Value;

use crate::severity::Severity;

/// The functions of the suite, for validating `function` matchers.
pub const FUNCTIONS: &[&str] = &[
    "config-change-notifier",
    "activity-stream-decoder",
    "cloudtrail-event-handler",
    "sendgrid-bounce-poller",
    "rds-maintenance-checker",
    "audit-log-watcher",
];

const KEYS: &[&str] = &[
    "function",
    "severity",
    "account",
    "rule",
    "tag",
    "channel",
    "webhook_url",
    "webhook_secret_arn",
    "drop",
];

/// Tags (key → value): a resource's (a Config item's, an RDS resource's `TagList`) or its
/// account's in Organizations.
pub type Tags = BTreeMap<String, String>;

/// What routes match an alert on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes<'a> {
    pub function: &'a str,
    pub severity: Severity,
    pub account: Option<&'a str>,
    pub rule: Option<&'a str>,
    /// The tags of what the alert is about (`None`: it has none).
    pub tags: Option<&'a Tags>,
}

/// A route as written in `SLACK_ROUTES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub function: Option<Patterns>,
    pub severity: Option<Vec<Severity>>,
    pub account: Option<Patterns>,
    pub rule: Option<Patterns>,
    /// Tag key (exact) → value patterns.
    pub tag: Option<Vec<(String, Patterns)>>,
    pub target: RouteTarget,
}

/// Where a route sends what it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// A channel id or name (`#` optional), posted to with the bot token.
    Channel(String),
    WebhookUrl(Secret),
    /// A Secrets Manager secret holding a webhook URL (read at cold start).
    WebhookSecretArn(String),
    Drop,
}

impl RouteSpec {
    pub fn matches(&self, a: &Attributes<'_>) -> bool {
        let by = |p: &Option<Patterns>, v: Option<&str>| match p {
            None => true,
            Some(p) => v.is_some_and(|v| p.matches(v)),
        };
        by(&self.function, Some(a.function))
            && self
                .severity
                .as_ref()
                .is_none_or(|s| s.contains(&a.severity))
            && by(&self.account, a.account)
            && by(&self.rule, a.rule)
            && self.tag.as_ref().is_none_or(|wanted| {
                a.tags.is_some_and(|tags| {
                    wanted
                        .iter()
                        .all(|(k, p)| tags.get(k).is_some_and(|v| p.matches(v)))
                })
            })
    }
}

/// Parse `SLACK_ROUTES` (blank: no routes).
pub fn parse(text: &str) -> Result<Vec<RouteSpec>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "SLACK_ROUTES is not JSON (line {}, column {}): {}",
            e.line(),
            e.column(),
            // serde_json's message names what it expected, never the text itself.
            e.to_string().split(" at line").next().unwrap_or_default()
        )
    })?;
    let Value::Array(entries) = v else {
        return Err("SLACK_ROUTES must be a JSON array of routes, like [{\"severity\":\"critical\",\"channel\":\"#security\"}]".into());
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry(e).map_err(|why| format!("SLACK_ROUTES[{i}]: {why}")))
        .collect()
}

fn entry(e: &Value) -> Result<RouteSpec, String> {
    let Value::Object(map) = e else {
        return Err("a route must be a JSON object".into());
    };
    if let Some(k) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key {k:?} (known: {})", KEYS.join(", ")));
    }
    let strings = |key: &str| -> Result<Option<Vec<String>>, String> {
        match map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(vec![s.clone()])),
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|x| match x {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                    _ => Err(format!("{key:?} must hold non-empty strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!(
                "{key:?} must be a non-empty string or a non-empty array of strings"
            )),
        }
    };
    let function = strings("function")?;
    if let Some(list) = &function {
        for f in list {
            let p = Patterns::parse(f);
            if !FUNCTIONS.iter().any(|known| p.matches(known)) {
                return Err(format!(
                    "\"function\" {f:?} matches no function of the suite ({})",
                    FUNCTIONS.join(", ")
                ));
            }
        }
    }
    let severity = match strings("severity")? {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|s| {
                    Severity::parse(s).ok_or_else(|| {
                        format!("\"severity\" {s:?} is not one of critical, warning, info")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let targets: Vec<&str> = ["channel", "webhook_url", "webhook_secret_arn", "drop"]
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    let target = match targets[..] {
        ["channel"] => match &map["channel"] {
            Value::String(c) if !c.trim().trim_start_matches('#').is_empty() => {
                RouteTarget::Channel(c.trim().to_owned())
            }
            _ => return Err("\"channel\" must be a channel id or name".into()),
        },
        ["webhook_url"] => match &map["webhook_url"] {
            Value::String(u)
                if u.trim().starts_with("https://") || u.trim().starts_with("http://") =>
            {
                RouteTarget::WebhookUrl(Secret::new(u.trim()))
            }
            _ => return Err("\"webhook_url\" must be an https:// URL".into()),
        },
        ["webhook_secret_arn"] => match &map["webhook_secret_arn"] {
            Value::String(a) if a.trim().starts_with("arn:") => {
                RouteTarget::WebhookSecretArn(a.trim().to_owned())
            }
            _ => return Err("\"webhook_secret_arn\" must be a Secrets Manager secret ARN".into()),
        },
        ["drop"] => match map["drop"] {
            Value::Bool(true) => RouteTarget::Drop,
            _ => return Err("\"drop\" must be true (leave it out otherwise)".into()),
        },
        [] => {
            return Err(
                "names no target: give one of \"channel\", \"webhook_url\", \"webhook_secret_arn\", \"drop\": true"
                    .into(),
            );
        }
        _ => {
            return Err(format!(
                "names {} targets ({}); a route names exactly one",
                targets.len(),
                targets.join(", ")
            ));
        }
    };
    let patterns = |key: &str| -> Result<Option<Patterns>, String> {
        Ok(strings(key)?.map(Patterns::from_items))
    };
    let tag = match map.get("tag") {
        None => None,
        Some(Value::Object(tags)) if !tags.is_empty() => Some(
            tags.iter()
                .map(|(k, v)| {
                    // AWS tag keys: 1–128 characters, compared exactly.
                    if k.is_empty() || k.chars().count() > 128 {
                        return Err(format!("\"tag\" key {k:?} is not a tag key (1 to 128 characters)"));
                    }
                    // Values as every other matcher has them; `"*"` matches any value.
                    let values = match v {
                        Value::String(s) if !s.trim().is_empty() => vec![s.clone()],
                        Value::Array(a) if !a.is_empty() => a
                            .iter()
                            .map(|x| x.as_str().filter(|s| !s.trim().is_empty()).map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| format!("\"tag\" {k:?} must hold non-empty strings"))?,
                        _ => {
                            return Err(format!(
                                "\"tag\" {k:?} must be a non-empty string or a non-empty array of strings (\"*\" matches any value)"
                            ));
                        }
                    };
                    Ok((k.clone(), Patterns::from_items(values)))
                })
                .collect::<Result<Vec<_>, String>>()?,
        ),
        Some(_) => {
            return Err(
                "\"tag\" must be a non-empty object of tag keys and values, like {\"team\": \"payments\"}"
                    .into(),
            );
        }
    };
    Ok(RouteSpec {
        function: function.map(Patterns::from_items),
        severity,
        account: patterns("account")?,
        rule: patterns("rule")?,
        tag,
        target,
    })
}

/// A route, resolved: its target ready to post to (`None`: drop).
#[derive(Clone, Debug)]
pub struct Route {
    /// `SLACK_ROUTES[2]` or `default`, for logs.
    pub name: String,
    pub target: Option<Target>,
    /// The destination's identity in exactly-once keys: the channel as written, or a hash of
    /// the webhook URL. Keys survive reordering routes that keep their destinations.
    pub label: String,
    spec: Option<RouteSpec>,
}

/// Which route an alert takes; handlers that gather many events into one alert group their
/// events by it, so each destination gets exactly its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteId(usize);

/// The routes and the default destination.
#[derive(Clone, Debug)]
pub struct Routes {
    routes: Vec<Route>,
    default: Route,
}

impl Routes {
    /// `resolved[i]` is the target of `specs[i]` (`None` for a drop).
    pub fn new(specs: Vec<RouteSpec>, resolved: Vec<Option<Target>>, default: Target) -> Self {
        let routes = specs
            .into_iter()
            .zip(resolved)
            .enumerate()
            .map(|(i, (spec, target))| Route {
                name: format!("SLACK_ROUTES[{i}]"),
                label: target.as_ref().map_or_else(|| "drop".to_owned(), label),
                target,
                spec: Some(spec),
            })
            .collect();
        Self {
            routes,
            default: Route {
                name: "default".into(),
                label: label(&default),
                target: Some(default),
                spec: None,
            },
        }
    }

    /// The first route that matches, else the default.
    pub fn route(&self, a: &Attributes<'_>) -> RouteId {
        RouteId(
            self.routes
                .iter()
                .position(|r| r.spec.as_ref().is_some_and(|s| s.matches(a)))
                .unwrap_or(self.routes.len()),
        )
    }

    pub fn get(&self, id: RouteId) -> &Route {
        self.routes.get(id.0).unwrap_or(&self.default)
    }

    /// Whether alerts taking this route can be threaded (a Web API channel).
    pub fn threads(&self, id: RouteId) -> bool {
        self.get(id).target.as_ref().is_some_and(Target::threads)
    }

    /// Whether some route matches on tags: only then are an account's tags looked up.
    pub fn use_tags(&self) -> bool {
        self.routes
            .iter()
            .any(|r| r.spec.as_ref().is_some_and(|s| s.tag.is_some()))
    }
}

fn label(target: &Target) -> String {
    match target {
        Target::Channel { channel, .. } => format!("channel:{}", channel.to_ascii_lowercase()),
        // A one-way hash of the URL: the URL itself never leaves `Target`.
        Target::Webhook(url) => format!("webhook:{}", &crate::keys::digest(url.expose())[..16]),
        Target::DryRun => "dry-run".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(
        function: &'a str,
        severity: Severity,
        account: Option<&'a str>,
        rule: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            function,
            severity,
            account,
            rule,
            tags: None,
        }
    }

    fn routes(json: &str) -> Routes {
        let specs = parse(json).unwrap();
        let resolved = specs
            .iter()
            .map(|s| match &s.target {
                RouteTarget::Channel(c) => Some(Target::channel(c, "SLACK_ROUTES")),
                RouteTarget::Drop => None,
                _ => Some(Target::DryRun),
            })
            .collect();
        Routes::new(specs, resolved, Target::channel("alerts", "SLACK_CHANNEL"))
    }

    fn check(routes: &Routes, a: Attributes<'_>, expected: &str) {
        let r = routes.get(routes.route(&a));
        assert_eq!(r.label, expected, "{a:?} took {}", r.name);
    }

    #[test]
    fn first_match_wins_and_no_match_is_the_default() {
        let r = routes(
            r##"[
              {"severity": "critical", "channel": "#security"},
              {"function": "rds-maintenance-checker", "channel": "#dba"},
              {"account": ["111122223333", "4444*"], "severity": ["warning", "info"], "channel": "prod-alerts"},
              {"rule": "noisy-*", "drop": true}
            ]"##,
        );
        use Severity::*;
        check(
            &r,
            attrs("rds-maintenance-checker", Critical, None, None),
            "channel:security",
        );
        check(
            &r,
            attrs("rds-maintenance-checker", Info, None, None),
            "channel:dba",
        );
        check(
            &r,
            attrs(
                "cloudtrail-event-handler",
                Warning,
                Some("111122223333"),
                None,
            ),
            "channel:prod-alerts",
        );
        check(
            &r,
            attrs("cloudtrail-event-handler", Info, Some("444455556666"), None),
            "channel:prod-alerts",
        );
        check(
            &r,
            attrs("cloudtrail-event-handler", Info, Some("999900001111"), None),
            "channel:alerts",
        );
        // An account matcher does not match an alert without an account.
        check(
            &r,
            attrs("cloudtrail-event-handler", Info, None, None),
            "channel:alerts",
        );
        check(
            &r,
            attrs("audit-log-watcher", Info, None, Some("Noisy-Thing")),
            "drop",
        );
        assert!(
            r.get(r.route(&attrs("audit-log-watcher", Info, None, Some("noisy-x"))))
                .target
                .is_none()
        );
        assert!(r.threads(r.route(&attrs("x", Critical, None, None))));
    }

    fn error(json: &str) -> String {
        parse(json).unwrap_err()
    }

    #[test]
    fn every_mistake_is_one_line_naming_the_entry() {
        let cases = [
            ("{}", "must be a JSON array"),
            ("[1]", "SLACK_ROUTES[0]: a route must be a JSON object"),
            (
                r##"[{"chanel": "#x"}]"##,
                "SLACK_ROUTES[0]: unknown key \"chanel\"",
            ),
            (r#"[{"severity": "critical"}]"#, "names no target"),
            (
                r##"[{"channel": "#a", "drop": true}]"##,
                "names 2 targets (channel, drop)",
            ),
            (
                r##"[{"severity": "high", "channel": "#a"}]"##,
                "\"severity\" \"high\" is not one of",
            ),
            (
                r##"[{"function": "cloudtrail-handler", "channel": "#a"}]"##,
                "matches no function",
            ),
            (
                r##"[{"account": [], "channel": "#a"}]"##,
                "\"account\" must be a non-empty",
            ),
            (
                r##"[{"account": [1], "channel": "#a"}]"##,
                "\"account\" must hold non-empty strings",
            ),
            (r#"[{"drop": false}]"#, "\"drop\" must be true"),
            (
                r##"[{"channel": "#"}]"##,
                "\"channel\" must be a channel id or name",
            ),
            (
                r#"[{"webhook_secret_arn": "my-secret"}]"#,
                "must be a Secrets Manager secret ARN",
            ),
            ("[{\"channel\": ", "SLACK_ROUTES is not JSON (line 1"),
        ];
        for (json, expected) in cases {
            let e = error(json);
            assert!(e.contains(expected), "{json}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // A webhook URL that is not one is not echoed.
        let e = error(r#"[{"webhook_url": "hooks.slack.com/services/SENTINEL"}]"#);
        assert!(!e.contains("SENTINEL"), "{e}");
        assert_eq!(parse("  ").unwrap(), Vec::new());
    }

    #[test]
    fn tag_routes_match_keys_exactly_and_values_like_the_rest() {
        let r = routes(
            r##"[
              {"tag": {"team": "payments", "env": ["prod*", "live"]}, "channel": "#payments-prod"},
              {"tag": {"team": "payments"}, "channel": "#payments"},
              {"tag": {"Owner": "*"}, "severity": "critical", "channel": "#owned"}
            ]"##,
        );
        assert!(r.use_tags());
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        fn with(t: &Tags, severity: Severity) -> Attributes<'_> {
            Attributes {
                tags: Some(t),
                ..attrs("rds-maintenance-checker", severity, None, None)
            }
        }
        use Severity::*;
        let both = tags(&[("team", "Payments"), ("env", "production")]);
        check(&r, with(&both, Info), "channel:payments-prod");
        let live = tags(&[("team", "payments"), ("env", "live")]);
        check(&r, with(&live, Info), "channel:payments-prod");
        let team = tags(&[("team", "payments"), ("env", "staging")]);
        check(&r, with(&team, Info), "channel:payments");
        // Keys compare exactly: `Team` is not `team`.
        let other_case = tags(&[("Team", "payments")]);
        check(&r, with(&other_case, Info), "channel:alerts");
        // `*` matches any value, the empty one too; the other keys still have to match.
        let owned = tags(&[("Owner", "")]);
        check(&r, with(&owned, Critical), "channel:owned");
        check(&r, with(&owned, Warning), "channel:alerts");
        // An alert without tags matches no tag route.
        check(
            &r,
            attrs("rds-maintenance-checker", Critical, None, None),
            "channel:alerts",
        );
        assert!(!routes(r##"[{"severity": "info", "channel": "#i"}]"##).use_tags());
        for (json, expected) in [
            (
                r##"[{"tag": {}, "channel": "#a"}]"##,
                "\"tag\" must be a non-empty object",
            ),
            (
                r##"[{"tag": "team=payments", "channel": "#a"}]"##,
                "\"tag\" must be a non-empty object",
            ),
            (
                r##"[{"tag": {"team": ""}, "channel": "#a"}]"##,
                "\"tag\" \"team\" must be a non-empty string",
            ),
            (
                r##"[{"tag": {"team": [1]}, "channel": "#a"}]"##,
                "\"tag\" \"team\" must hold non-empty strings",
            ),
            (
                r##"[{"tag": {"": "x"}, "channel": "#a"}]"##,
                "is not a tag key",
            ),
        ] {
            let e = error(json);
            assert!(
                e.starts_with("SLACK_ROUTES[0]: ") && e.contains(expected),
                "{json}: {e}"
            );
        }
    }

    #[test]
    fn function_prefixes_are_valid_when_they_match_a_function() {
        assert!(parse(r##"[{"function": "cloudtrail-*", "channel": "#a"}]"##).is_ok());
        assert!(parse(r##"[{"function": ["*"], "channel": "#a"}]"##).is_ok());
    }
}
