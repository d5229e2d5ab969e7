//! Which records deserve an alert (pure).
//!
//! In order: a record is dropped when it is read-only (`readOnly: true`, or a name starting
//! with a read-only prefix) unless its name is listed exactly in `INCLUDE_EVENT_NAMES`; when
//! it is an AWS service event (`eventType: AwsServiceEvent`, not a call anyone made); when an
//! include list is set and does not match; when an exclude list matches; and, with
//! `ALERT_ONLY`, when it is neither an error nor a console sign-in as asked.
//!
//! Lists are comma-separated; an entry ending in `*` matches by prefix, others exactly, case
//! ignored (`opswatch_support::Patterns`).

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
}

pub const DEFAULT_READ_ONLY_PREFIXES: &str = "Describe,Get,List,Head,Lookup";

pub use opswatch_support::Patterns;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub read_only_prefixes: Vec<String>,
    pub include_names: Patterns,
    pub exclude_names: Patterns,
    pub include_sources: Patterns,
    pub exclude_sources: Patterns,
    pub include_principals: Patterns,
    pub exclude_principals: Patterns,
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
}

impl Filter {
    /// From variables looked up by name (the environment, in the function).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let list = |k: &str| Patterns::parse(&get(k).unwrap_or_default());
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
            only_errors,
            only_console_logins,
        })
    }

    pub fn decide(&self, r: &Record) -> Result<(), Drop> {
        let read_only = r.read_only == Some(true)
            || self
                .read_only_prefixes
                .iter()
                .any(|p| r.event_name.starts_with(p.as_str()));
        if read_only && !self.include_names.lists_exactly(&r.event_name) {
            return Err(Drop::ReadOnly);
        }
        if r.event_type.as_deref() == Some("AwsServiceEvent") {
            return Err(Drop::ServiceEvent);
        }
        let principals = principals(r);
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

/// The names a principal list can match: user name, ARN, role name, role session name,
/// principal id, invoking service, and `root` for the root user.
fn principals(r: &Record) -> Vec<&str> {
    let u = &r.user_identity;
    let mut out: Vec<&str> = [
        u.user_name.as_deref(),
        u.arn.as_deref(),
        u.role_name(),
        u.session_name(),
        u.principal_id.as_deref(),
        u.invoked_by.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if u.kind.as_deref() == Some("Root") {
        out.push("root");
    }
    out
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

        let mut service = rec("RotateKey", None);
        service.event_type = Some("AwsServiceEvent".into());
        assert_eq!(Filter::default().decide(&service), Err(Drop::ServiceEvent));
    }
}
