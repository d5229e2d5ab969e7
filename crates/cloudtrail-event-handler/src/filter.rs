//! Which records deserve an alert (pure).
//!
//! A record is read-only when CloudTrail's `readOnly` says so, or — only for records without
//! the field — when its name starts with a read-only prefix; a name listed exactly in
//! `INCLUDE_EVENT_NAMES` is never read-only. Read-only records are dropped unless a rule
//! wants them ([`crate::rules`]). The lists ([`Filter::lists`]) drop, in order: events of
//! accounts outside `INCLUDE_ACCOUNTS` or in `EXCLUDE_ACCOUNTS` (ids or `ACCOUNT_NAMES`
//! names); events an include list is set for and does not match; events an exclude list
//! matches; and, with `ALERT_ONLY`, events that are neither an error nor a console sign-in
//! as asked. They apply only to events no critical built-in rule matched
//! ([`crate::rules::judge`]).
//!
//! Principal lists match who the principal is ([`Principal::names`]: user or role name, its
//! IAM ARN, its unique id, `root`), never a role session name, which the caller picks; an
//! entry that names a session fails the cold start.
//!
//! Lists are comma-separated; an entry ending in `*` matches by prefix, others exactly, case
//! ignored (`opswatch_support::Patterns`).

use crate::principal::Principal;
use crate::record::Record;

/// Environment variables of the filter.
pub mod env {
    pub const READ_ONLY_PREFIXES: &str = "READ_ONLY_PREFIXES";
    pub const INCLUDE_EVENT_NAMES: &str = "INCLUDE_EVENT_NAMES";
    pub const EXCLUDE_EVENT_NAMES: &str = "EXCLUDE_EVENT_NAMES";
    pub const INCLUDE_EVENT_SOURCES: &str = "INCLUDE_EVENT_SOURCES";
    pub const EXCLUDE_EVENT_SOURCES: &str = "EXCLUDE_EVENT_SOURCES";
    pub const INCLUDE_PRINCIPALS: &str = "INCLUDE_PRINCIPALS";
    pub const EXCLUDE_PRINCIPALS: &str = "EXCLUDE_PRINCIPALS";
    /// `errors`, `console-logins`, or both (comma-separated); empty: every write.
    pub const ALERT_ONLY: &str = "ALERT_ONLY";
    /// `111122223333=prod,…`: names shown beside account ids.
    pub const ACCOUNT_NAMES: &str = "ACCOUNT_NAMES";
    pub const INCLUDE_ACCOUNTS: &str = "INCLUDE_ACCOUNTS";
    pub const EXCLUDE_ACCOUNTS: &str = "EXCLUDE_ACCOUNTS";
}

pub const DEFAULT_READ_ONLY_PREFIXES: &str = "Describe,Get,List,Head,Lookup";

use opswatch_delivery::config::Names;
pub use opswatch_support::{AccountNames, Patterns};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub read_only_prefixes: Vec<String>,
    pub include_names: Patterns,
    pub exclude_names: Patterns,
    pub include_sources: Patterns,
    pub exclude_sources: Patterns,
    pub include_principals: Patterns,
    pub exclude_principals: Patterns,
    pub include_accounts: Patterns,
    pub exclude_accounts: Patterns,
    pub account_names: AccountNames,
    pub only_errors: bool,
    pub only_console_logins: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Self::from_lookup(|_| None).unwrap_or_else(|_| unreachable!("defaults are valid"))
    }
}

/// Why a record gets no alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    ReadOnly,
    ServiceEvent,
    NotIncluded,
    Excluded,
    NotAsked,
    /// An `ignore` rule matched.
    Ignored,
    /// Below `MIN_SEVERITY`.
    BelowMinimum,
}

impl Drop {
    /// Why, in a few words.
    pub fn reason(self) -> &'static str {
        match self {
            Drop::ReadOnly => "read-only",
            Drop::ServiceEvent => "an AWS service event",
            Drop::NotIncluded => "not in an INCLUDE_* list",
            Drop::Excluded => "in an EXCLUDE_* list",
            Drop::NotAsked => "not asked for by ALERT_ONLY",
            Drop::Ignored => "ignored",
            Drop::BelowMinimum => "below MIN_SEVERITY",
        }
    }
}

impl Filter {
    /// From variables looked up by name (the environment, in the function).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let list = |k: &str| Patterns::parse(&get(k).unwrap_or_default());
        // A role session's name is the caller's to pick: a list that names one would let
        // anyone through who picks it.
        for k in [env::INCLUDE_PRINCIPALS, env::EXCLUDE_PRINCIPALS] {
            for entry in opswatch_support::list_of(&get(k).unwrap_or_default()) {
                crate::principal::refuse_session_entry(&entry).map_err(|e| format!("{k}: {e}"))?;
            }
        }
        let mut only_errors = false;
        let mut only_console_logins = false;
        for mode in opswatch_support::list_of(&get(env::ALERT_ONLY).unwrap_or_default()) {
            match mode.to_ascii_lowercase().as_str() {
                "errors" => only_errors = true,
                "console-logins" => only_console_logins = true,
                other => {
                    return Err(format!(
                        "ALERT_ONLY: unknown mode {other:?} (expected errors, console-logins, or both)"
                    ));
                }
            }
        }
        Ok(Self {
            read_only_prefixes: opswatch_support::list_of(
                &get(env::READ_ONLY_PREFIXES)
                    .unwrap_or_else(|| DEFAULT_READ_ONLY_PREFIXES.to_owned()),
            ),
            include_names: list(env::INCLUDE_EVENT_NAMES),
            exclude_names: list(env::EXCLUDE_EVENT_NAMES),
            include_sources: list(env::INCLUDE_EVENT_SOURCES),
            exclude_sources: list(env::EXCLUDE_EVENT_SOURCES),
            include_principals: list(env::INCLUDE_PRINCIPALS),
            exclude_principals: list(env::EXCLUDE_PRINCIPALS),
            include_accounts: list(env::INCLUDE_ACCOUNTS),
            exclude_accounts: list(env::EXCLUDE_ACCOUNTS),
            // `organizations`: the delivery pipeline reads them ([`crate::Handler::from_env`]).
            account_names: match Names::parse(get(env::ACCOUNT_NAMES).as_deref())? {
                Names::Fixed(names) => names,
                Names::Organizations => AccountNames::default(),
            },
            only_errors,
            only_console_logins,
        })
    }

    /// Service events and read-only ([`Filter::read_only`]) records dropped, then
    /// [`Filter::lists`]: the filter alone, without rules (the function judges with
    /// [`crate::rules::Rules::judge`]).
    #[cfg(test)]
    pub fn decide(&self, r: &Record) -> Result<(), Drop> {
        if r.event_type.as_deref() == Some("AwsServiceEvent") {
            return Err(Drop::ServiceEvent);
        }
        if self.read_only(r) {
            return Err(Drop::ReadOnly);
        }
        self.lists(r)
    }

    /// Whether a record is read-only: CloudTrail's `readOnly` when the record has it, else
    /// the name's prefix; never when `INCLUDE_EVENT_NAMES` lists the name exactly.
    pub fn read_only(&self, r: &Record) -> bool {
        self.read_only_call(r.read_only, &r.event_name)
    }

    /// [`Filter::read_only`] of a call known by its `readOnly` and its name (a record's skim
    /// has both).
    pub fn read_only_call(&self, flag: Option<bool>, name: &str) -> bool {
        let read_only = match flag {
            Some(flag) => flag,
            None => self
                .read_only_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str())),
        };
        read_only && !self.include_names.lists_exactly(name)
    }

    /// The lists: accounts, names, sources, principals, `ALERT_ONLY`. (AWS service events
    /// never get this far: [`crate::rules::judge`].)
    pub fn lists(&self, r: &Record) -> Result<(), Drop> {
        if !self.include_accounts.is_empty() || !self.exclude_accounts.is_empty() {
            let id = crate::weigh::account(r).unwrap_or_default();
            let name = self.account_names.name(id);
            let any = |p: &Patterns| p.matches(id) || name.is_some_and(|n| p.matches(n));
            if !self.include_accounts.is_empty() && !any(&self.include_accounts) {
                return Err(Drop::NotIncluded);
            }
            if any(&self.exclude_accounts) {
                return Err(Drop::Excluded);
            }
        }
        // The principal's names only when a list asks for them: most records meet no list.
        let who = (!self.include_principals.is_empty() || !self.exclude_principals.is_empty())
            .then(|| Principal::of(r));
        let principals = who.as_ref().map(Principal::names).unwrap_or_default();
        let any = |p: &Patterns| principals.iter().any(|v| p.matches(v));
        if (!self.include_names.is_empty() && !self.include_names.matches(&r.event_name))
            || (!self.include_sources.is_empty() && !self.include_sources.matches(&r.event_source))
            || (!self.include_principals.is_empty() && !any(&self.include_principals))
        {
            return Err(Drop::NotIncluded);
        }
        if self.exclude_names.matches(&r.event_name)
            || self.exclude_sources.matches(&r.event_source)
            || any(&self.exclude_principals)
        {
            return Err(Drop::Excluded);
        }
        if self.only_errors || self.only_console_logins {
            let error = self.only_errors && r.error_code.is_some();
            let login = self.only_console_logins && r.event_name == "ConsoleLogin";
            if !(error || login) {
                return Err(Drop::NotAsked);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::UserIdentity;

    fn rec(name: &str, read_only: Option<bool>) -> Record {
        Record {
            event_name: name.into(),
            event_source: "ec2.amazonaws.com".into(),
            read_only,
            user_identity: UserIdentity {
                kind: Some("IAMUser".into()),
                user_name: Some("alice".into()),
                arn: Some("arn:aws:iam::1:user/alice".into()),
                ..UserIdentity::default()
            },
            ..Record::default()
        }
    }

    fn filter(vars: &[(&str, &str)]) -> Filter {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Filter::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
    }

    #[test]
    fn read_only_by_flag_and_by_name() {
        let f = Filter::default();
        assert_eq!(
            f.decide(&rec("AuthorizeSecurityGroupIngress", Some(false))),
            Ok(())
        );
        assert_eq!(
            f.decide(&rec("AuthorizeSecurityGroupIngress", None)),
            Ok(())
        );
        assert_eq!(f.decide(&rec("Decrypt", Some(true))), Err(Drop::ReadOnly));
        // CloudTrail's flag decides when present: STS's Get… calls that issue credentials
        // are changes, and a Describe… call it marks read-only stays so.
        assert_eq!(f.decide(&rec("GetFederationToken", Some(false))), Ok(()));
        assert_eq!(f.decide(&rec("GetSessionToken", Some(false))), Ok(()));
        assert_eq!(
            f.decide(&rec("DescribeInstances", Some(true))),
            Err(Drop::ReadOnly)
        );
        for name in [
            "DescribeInstances",
            "GetObject",
            "ListUsers",
            "HeadBucket",
            "LookupEvents",
        ] {
            assert_eq!(f.decide(&rec(name, None)), Err(Drop::ReadOnly), "{name}");
        }
        // Listed exactly: wanted even though read-only.
        let f = filter(&[("INCLUDE_EVENT_NAMES", "GetSecretValue, Put*")]);
        assert_eq!(f.decide(&rec("GetSecretValue", Some(true))), Ok(()));
        assert_eq!(f.decide(&rec("PutBucketPolicy", None)), Ok(()));
        assert_eq!(f.decide(&rec("DeleteBucket", None)), Err(Drop::NotIncluded));
        let f = filter(&[("READ_ONLY_PREFIXES", "")]);
        assert_eq!(f.decide(&rec("GetObject", None)), Ok(()));
    }

    #[test]
    fn lists_and_modes() {
        let f = filter(&[
            ("EXCLUDE_PRINCIPALS", "alice"),
            ("EXCLUDE_EVENT_SOURCES", "s3.*"),
        ]);
        assert_eq!(f.decide(&rec("RunInstances", None)), Err(Drop::Excluded));
        let f = filter(&[("INCLUDE_EVENT_SOURCES", "iam.amazonaws.com")]);
        assert_eq!(f.decide(&rec("RunInstances", None)), Err(Drop::NotIncluded));
        let f = filter(&[("INCLUDE_PRINCIPALS", "arn:aws:iam::1:user/*")]);
        assert_eq!(f.decide(&rec("RunInstances", None)), Ok(()));

        let f = filter(&[("ALERT_ONLY", "errors,console-logins")]);
        assert_eq!(f.decide(&rec("RunInstances", None)), Err(Drop::NotAsked));
        let mut err = rec("RunInstances", None);
        err.error_code = Some("AccessDenied".into());
        assert_eq!(f.decide(&err), Ok(()));
        assert_eq!(f.decide(&rec("ConsoleLogin", Some(false))), Ok(()));
        assert!(Filter::from_lookup(|k| (k == "ALERT_ONLY").then(|| "sometimes".into())).is_err());

        // Accounts by id or by name.
        let mut other = rec("RunInstances", None);
        other.recipient_account_id = Some("444455556666".into());
        let mut prod = rec("RunInstances", None);
        prod.recipient_account_id = Some("111122223333".into());
        let f = filter(&[
            ("ACCOUNT_NAMES", "111122223333=prod"),
            ("INCLUDE_ACCOUNTS", "prod"),
        ]);
        assert_eq!(f.decide(&prod), Ok(()));
        assert_eq!(f.decide(&other), Err(Drop::NotIncluded));
        let f = filter(&[("EXCLUDE_ACCOUNTS", "4444*")]);
        assert_eq!(f.decide(&prod), Ok(()));
        assert_eq!(f.decide(&other), Err(Drop::Excluded));
        assert!(
            Filter::from_lookup(|k| (k == "ACCOUNT_NAMES").then(|| "prod".into()))
                .unwrap_err()
                .starts_with("ACCOUNT_NAMES: ")
        );

        let mut service = rec("RotateKey", None);
        service.event_type = Some("AwsServiceEvent".into());
        assert_eq!(Filter::default().decide(&service), Err(Drop::ServiceEvent));
    }
}
