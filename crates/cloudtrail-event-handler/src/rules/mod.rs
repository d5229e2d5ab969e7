//! Which rules a CloudTrail event matches, and so how serious it is (pure).
//!
//! - [`builtin`]: the built-in rules, each named, with its severity and the ATT&CK tactic it
//!   watches, on by default (`DISABLE_RULES` turns any off);
//! - [`custom`]: the rules of `RULES` — custom alerts, and `ignore` rules (with `silences`);
//! - [`policy`]: IAM and resource policies judged: admin, public, outside the organization;
//! - [`judge`]: the order in which all of it applies, and what an event gets. Read it first:
//!   it is short, and it is where a critical alert is kept from anything that would drop it
//!   but its name.
//!
//! An event's severity is the highest of the rules it matches, **info** when it matches
//! none; its line names every rule it matched, and routes see the first (the most serious).
//! Built-in rules that describe a change fire only when the call succeeded: a refused
//! attempt is `access-denied`.

pub mod builtin;
pub mod custom;
pub mod judge;
pub mod policy;

use std::collections::BTreeSet;

use opswatch_delivery::Severity;
use opswatch_support::Patterns;
use serde_json::Value;

pub use builtin::{ACCESS_DENIED, BUILTINS, Builtin, ROOT_ACTIVITY, SECRET_READ_BURST};
pub use custom::Custom;
pub use judge::{Dropped, Fold, Judge, Verdict};

/// Environment variables of the rules.
pub mod env {
    /// Custom rules, JSON.
    pub const RULES: &str = "RULES";
    /// An SSM parameter holding the custom rules (read at cold start) when `RULES` is unset.
    pub const RULES_PARAMETER: &str = "RULES_PARAMETER";
    /// Built-in rules turned off, comma-separated names.
    pub const DISABLE_RULES: &str = "DISABLE_RULES";
    /// `info` (default), `warning` or `critical`: events below are dropped (never one a
    /// critical built-in rule matched).
    pub const MIN_SEVERITY: &str = "MIN_SEVERITY";
    /// The prefix of this stack's resource names (the template sets `<stack name>-`), for
    /// `self-protection`.
    pub const SELF_PROTECTION_PREFIX: &str = "SELF_PROTECTION_PREFIX";
    /// Account ids that may be granted access without a warning, beside `ACCOUNT_NAMES`'.
    pub const TRUSTED_ACCOUNTS: &str = "TRUSTED_ACCOUNTS";
    /// Buckets CloudTrail writes to, beside any whose name says `cloudtrail`.
    pub const TRAIL_BUCKETS: &str = "TRAIL_BUCKETS";
    /// Log groups CloudTrail writes to, beside any whose name says `cloudtrail`.
    pub const TRAIL_LOG_GROUPS: &str = "TRAIL_LOG_GROUPS";
    /// Distinct secrets one principal may read in one log file before `secret-read-burst`.
    pub const SECRET_READ_THRESHOLD: &str = "SECRET_READ_THRESHOLD";
}

/// `SECRET_READ_THRESHOLD` when unset.
pub const DEFAULT_SECRET_READ_THRESHOLD: usize = 10;

/// Accounts that may be granted access without a warning: `ACCOUNT_NAMES`' (the
/// organization, as the deployment knows it) and `TRUSTED_ACCOUNTS`. The event's own
/// account is always trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trusted(BTreeSet<String>);

impl Trusted {
    pub fn from_ids<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> Self {
        Self(ids.into_iter().map(|s| s.as_ref().to_owned()).collect())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// What the built-in rules know beyond the record.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub(crate) self_prefix: Option<String>,
    pub(crate) trusted: Trusted,
    pub(crate) trail_buckets: Patterns,
    pub(crate) trail_log_groups: Patterns,
}

/// The rules in force: built-ins not disabled, custom rules, the minimum severity.
#[derive(Debug, Clone)]
pub struct Rules {
    builtins: Vec<&'static Builtin>,
    custom: Vec<Custom>,
    ignore: Vec<Custom>,
    pub min_severity: Severity,
    context: Context,
    /// `secret-read-burst`'s threshold, when the rule is on.
    secret_reads: Option<usize>,
}

impl Default for Rules {
    fn default() -> Self {
        Self::from_lookup(|_| None, &opswatch_support::AccountNames::default())
            .unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

impl Rules {
    /// From variables looked up by name, and the accounts `ACCOUNT_NAMES` names (as the
    /// [`crate::filter::Filter`] parsed them: one list, read once, trusted by the rules).
    /// `RULES` holds the custom rules' JSON (the handler puts `RULES_PARAMETER`'s value
    /// there). Errors are one line naming the variable.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        names: &opswatch_support::AccountNames,
    ) -> Result<Self, String> {
        let disabled = opswatch_support::list_of(&get(env::DISABLE_RULES).unwrap_or_default());
        for name in &disabled {
            if builtin::find(name).is_none() {
                return Err(format!(
                    "{}: no built-in rule is named {name:?} (they are {})",
                    env::DISABLE_RULES,
                    builtin::names()
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
            Some(json) => custom::parse(&json).map_err(|e| format!("{}: {e}", env::RULES))?,
        };
        let (ignore, custom) = all.into_iter().partition(|c| c.ignore);
        let builtins: Vec<&'static Builtin> = BUILTINS
            .iter()
            .filter(|b| !disabled.iter().any(|d| d.eq_ignore_ascii_case(b.name)))
            .collect();
        let mut trusted =
            opswatch_support::list_of(&get(env::TRUSTED_ACCOUNTS).unwrap_or_default());
        for id in &trusted {
            if policy::account_of(id) != Some(id.as_str()) {
                return Err(format!(
                    "{}: {id:?} is not a 12-digit account id",
                    env::TRUSTED_ACCOUNTS
                ));
            }
        }
        trusted.extend(names.ids().map(str::to_owned));
        let threshold = match get(env::SECRET_READ_THRESHOLD).filter(|s| !s.trim().is_empty()) {
            None => DEFAULT_SECRET_READ_THRESHOLD,
            Some(s) => s
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 2)
                .ok_or_else(|| {
                    format!(
                        "{}: {s:?} is not a number of secrets of 2 or more (turn the rule off with DISABLE_RULES={})",
                        env::SECRET_READ_THRESHOLD,
                        builtin::SECRET_READ_BURST
                    )
                })?,
        };
        let secret_reads = builtins
            .iter()
            .any(|b| b.name == builtin::SECRET_READ_BURST)
            .then_some(threshold);
        Ok(Self {
            builtins,
            custom,
            ignore,
            min_severity,
            secret_reads,
            context: Context {
                self_prefix: get(env::SELF_PROTECTION_PREFIX)
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty()),
                trusted: Trusted::from_ids(trusted),
                trail_buckets: Patterns::parse(&get(env::TRAIL_BUCKETS).unwrap_or_default()),
                trail_log_groups: Patterns::parse(&get(env::TRAIL_LOG_GROUPS).unwrap_or_default()),
            },
        })
    }

    /// Whether [`Rules::judge`] needs the record as JSON (custom rules look at any path).
    pub fn needs_document(&self) -> bool {
        !(self.custom.is_empty() && self.ignore.is_empty())
    }

    /// A log file's record as JSON, only where [`Rules::needs_document`]; a record that is
    /// not JSON here cannot have been read as a `Record` either.
    pub fn document(&self, text: &str) -> Option<Value> {
        if self.needs_document() {
            serde_json::from_str(text).ok()
        } else {
            None
        }
    }

    /// The names of the rules in force, built-in then custom, and the ignore rules (with
    /// what each silences).
    pub fn names(&self) -> (Vec<&str>, Vec<String>) {
        let on = self
            .builtins
            .iter()
            .map(|b| b.name)
            .chain(self.custom.iter().map(|c| c.name.as_str()))
            .collect();
        let ignore = self
            .ignore
            .iter()
            .map(|c| {
                if c.silences.is_empty() {
                    c.name.clone()
                } else {
                    format!("{} (silences {})", c.name, c.silences.join(", "))
                }
            })
            .collect();
        (on, ignore)
    }
}

/// The filter and the rules as `vars` (name, value) configure them: for tests.
#[cfg(test)]
pub(crate) fn configured(vars: &[(&str, &str)]) -> Result<(crate::filter::Filter, Rules), String> {
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    let filter = crate::filter::Filter::from_lookup(get)?;
    let rules = Rules::from_lookup(get, &filter.account_names)?;
    Ok((filter, rules))
}

#[cfg(test)]
impl Rules {
    /// The same rules with one built-in rule's test replaced: the mutants that show each
    /// test case depends on its rule.
    pub(crate) fn with_test(&self, name: &str, test: builtin::Test) -> Self {
        let mut out = self.clone();
        for b in &mut out.builtins {
            if b.name == name {
                *b = Box::leak(Box::new(Builtin { test, ..**b }));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
