//! Who made a call, named once (pure): the thread key, the alert line, the header,
//! `cargo xtask rules` and the principal lists all read [`Principal`].
//!
//! A principal is what AWS authenticated: an IAM user, a role, the root user, a federated
//! user's issuing IAM user, a service. Names the *caller* picks — a role session name
//! (`--role-session-name`), a federated user's name (`GetFederationToken --name`), the user
//! name typed into a failed sign-in — are shown beside it, but never identify it: no list,
//! thread or rule keys on them, so nobody can hide behind a well-chosen name.

use std::borrow::Cow;

use opswatch_slack::Mrkdwn;

use crate::record::{Record, UserIdentity};

/// The kind of identity, from `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'r> {
    Root,
    User,
    Role,
    /// A federated user (`GetFederationToken`): its IAM user is the principal.
    Federated,
    Service,
    /// Another account (`AWSAccount`): a cross-account caller CloudTrail names by account.
    Account,
    /// Any other type (`IdentityCenterUser`, `SAMLUser`, `Unknown`, …), or none.
    Other(Option<&'r str>),
}

/// One principal, named as every part of the function names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal<'r> {
    pub kind: Kind<'r>,
    /// The stable name: the user's, the role's, the issuing user's, the service's.
    pub name: Cow<'r, str>,
    /// What the caller chose (a role session name, a federated user's name): shown only.
    pub chosen: Option<&'r str>,
    /// The IAM ARN of the user or role (never the STS session ARN).
    arn: Option<&'r str>,
    /// The unique id (`AIDA…`, `AROA…`, an account id), without a session part.
    id: Option<&'r str>,
}

impl<'r> Principal<'r> {
    pub fn of(r: &'r Record) -> Self {
        Self::of_identity(&r.user_identity)
    }

    pub fn of_identity(u: &'r UserIdentity) -> Self {
        let issuer = u
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref());
        let arn = u.arn.as_deref();
        let id = u.principal_id.as_deref();
        // `arn:aws:sts::1:assumed-role/ROLE/SESSION`, `arn:aws:sts::1:federated-user/NAME`.
        let sts_part = |what: &str| {
            arn.and_then(|a| a.split_once(&format!(":{what}/")))
                .map(|(_, rest)| rest)
        };
        let fallback = || {
            u.user_name
                .as_deref()
                .or(arn)
                .or(id)
                .or(u.invoked_by.as_deref())
                .unwrap_or("unknown")
        };
        match u.kind.as_deref() {
            Some("Root") => Self {
                kind: Kind::Root,
                name: Cow::Borrowed("root"),
                chosen: None,
                arn,
                id,
            },
            Some("IAMUser") => Self {
                kind: Kind::User,
                name: Cow::Borrowed(
                    u.user_name
                        .as_deref()
                        .or_else(|| arn.and_then(|a| a.rsplit('/').next()))
                        .or(id)
                        .unwrap_or("?"),
                ),
                chosen: None,
                arn,
                id,
            },
            Some("AssumedRole") => {
                let from_arn = sts_part("assumed-role").map(|rest| rest.split_once('/'));
                let name = issuer
                    .and_then(|i| i.user_name.as_deref())
                    .or_else(|| from_arn.map(|p| p.map_or("?", |(role, _)| role)))
                    .unwrap_or("?");
                Self {
                    kind: Kind::Role,
                    name: Cow::Borrowed(name),
                    chosen: from_arn.flatten().map(|(_, session)| session),
                    arn: issuer.and_then(|i| i.arn.as_deref()),
                    // `AROA…:session`: the role's id is the part before the colon.
                    id: id.map(|id| id.split(':').next().unwrap_or(id)),
                }
            }
            Some("FederatedUser") => Self {
                kind: Kind::Federated,
                name: Cow::Borrowed(
                    issuer
                        .and_then(|i| i.user_name.as_deref())
                        .unwrap_or("an IAM user"),
                ),
                chosen: sts_part("federated-user"),
                arn: issuer.and_then(|i| i.arn.as_deref()),
                id: None,
            },
            Some("AWSService") => Self {
                kind: Kind::Service,
                name: Cow::Borrowed(u.invoked_by.as_deref().unwrap_or("an AWS service")),
                chosen: None,
                arn: None,
                id: None,
            },
            Some("AWSAccount") => Self {
                kind: Kind::Account,
                name: Cow::Borrowed(u.account_id.as_deref().or(id).unwrap_or("?")),
                chosen: None,
                arn: None,
                id: u.account_id.as_deref(),
            },
            other => Self {
                kind: Kind::Other(other),
                name: Cow::Borrowed(fallback()),
                chosen: None,
                arn,
                id,
            },
        }
    }

    /// A stable key: `root`, `user/<name>`, `role/<name>`, `federated/<issuing user>`,
    /// `service/<name>`, `account/<id>`, else the name. One role's sessions share it.
    pub fn key(&self) -> String {
        let prefix = match self.kind {
            Kind::Root => return "root".into(),
            Kind::User => "user/",
            Kind::Role => "role/",
            Kind::Federated => "federated/",
            Kind::Service => "service/",
            Kind::Account => "account/",
            Kind::Other(_) => "",
        };
        format!("{prefix}{}", self.name)
    }

    /// Plain text, for a header: `alice`, `deploy/run-1`, `root`.
    pub fn label(&self) -> String {
        match self.chosen {
            Some(c) => format!("{}/{c}", self.name),
            None => self.name.clone().into_owned(),
        }
    }

    /// Mrkdwn, for an alert line: the name in bold, what the caller chose and the kind
    /// beside it, every piece escaped.
    pub fn push_to(&self, m: &mut Mrkdwn) {
        if self.kind == Kind::Root {
            m.push_trusted("*root*");
            return;
        }
        m.push_bold(&self.name);
        if let Some(c) = self.chosen {
            m.push_trusted(" / ");
            m.push(c);
        }
        let kind = match self.kind {
            Kind::User => " (IAM user)",
            Kind::Role => " (role)",
            Kind::Federated => " (federated user)",
            Kind::Service => " (service)",
            Kind::Account => " (account)",
            Kind::Other(Some(kind)) => {
                m.push_trusted(" (").push(kind).push_trusted(")");
                return;
            }
            Kind::Root | Kind::Other(None) => return,
        };
        m.push_trusted(kind);
    }

    /// What a principal list can match: the name (user, role, issuing user, service,
    /// account), the IAM ARN, the unique id without its session, and `root` for the root
    /// user. Never a session name, a federated user's name or a typed user name.
    pub fn names(&self) -> Vec<&str> {
        let name = match self.kind {
            // An unknown type's user name may be what someone typed into a sign-in form.
            Kind::Other(_) => None,
            _ => Some(self.name.as_ref()),
        };
        let mut out: Vec<&str> = Vec::with_capacity(3);
        for n in [name, self.arn, self.id].into_iter().flatten() {
            if !n.is_empty() && !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }

    /// The IAM user's own name, when the caller is an IAM user.
    pub fn user_name(&self) -> Option<&str> {
        (self.kind == Kind::User).then_some(self.name.as_ref())
    }
}

/// Whether a principal-list entry names a role session (an STS ARN or a unique id with a
/// session part), which the caller chooses: such an entry would let anyone who picks that
/// name through. The error says what to write instead.
pub fn refuse_session_entry(entry: &str) -> Result<(), String> {
    let lower = entry.to_ascii_lowercase();
    if lower.contains(":assumed-role/") || lower.contains(":federated-user/") {
        return Err(format!(
            "{entry:?} names a session, which the caller picks: name the role or user itself (its name, arn:aws:iam::<account>:role/<name>, or its AROA… id)"
        ));
    }
    if let Some((id, _)) = entry.trim().split_once(':')
        && ["AROA", "AIDA"]
            .iter()
            .any(|p| id.get(..4).is_some_and(|h| h.eq_ignore_ascii_case(p)))
    {
        return Err(format!(
            "{entry:?} is a principal id with a session name, which the caller picks: write the id alone ({id})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(identity: serde_json::Value) -> (String, String, Vec<String>, String) {
        let u: UserIdentity = serde_json::from_value(identity).expect("an identity");
        let p = Principal::of_identity(&u);
        let mut m = Mrkdwn::new();
        p.push_to(&mut m);
        (
            p.key(),
            p.label(),
            p.names().into_iter().map(str::to_owned).collect(),
            m.as_str().to_owned(),
        )
    }

    fn check(identity: serde_json::Value, key: &str, label: &str, names: &[&str], line: &str) {
        let got = of(identity.clone());
        assert_eq!(
            got,
            (
                key.to_owned(),
                label.to_owned(),
                names.iter().map(|s| (*s).to_owned()).collect(),
                line.to_owned()
            ),
            "{identity}"
        );
    }

    #[test]
    fn every_kind_is_named_once() {
        check(
            json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}),
            "root",
            "root",
            &["root", "arn:aws:iam::111122223333:root", "111122223333"],
            "*root*",
        );
        check(
            json!({"type": "IAMUser", "principalId": "AIDACKCEVSQ6C2EXAMPLE", "arn": "arn:aws:iam::111122223333:user/Alice", "userName": "Alice"}),
            "user/Alice",
            "Alice",
            &[
                "Alice",
                "arn:aws:iam::111122223333:user/Alice",
                "AIDACKCEVSQ6C2EXAMPLE",
            ],
            "*Alice* (IAM user)",
        );
        // The session name is shown, never matched.
        check(
            json!({"type": "AssumedRole", "principalId": "AROAEXAMPLEID:ci-deploy",
                   "arn": "arn:aws:sts::111122223333:assumed-role/admin/ci-deploy",
                   "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEID",
                     "arn": "arn:aws:iam::111122223333:role/admin", "userName": "admin"}}}),
            "role/admin",
            "admin/ci-deploy",
            &[
                "admin",
                "arn:aws:iam::111122223333:role/admin",
                "AROAEXAMPLEID",
            ],
            "*admin* / ci-deploy (role)",
        );
        // No session context: the role from the STS ARN, still not the session.
        check(
            json!({"type": "AssumedRole", "principalId": "AROAEXAMPLEID:x", "arn": "arn:aws:sts::1:assumed-role/admin/x"}),
            "role/admin",
            "admin/x",
            &["admin", "AROAEXAMPLEID"],
            "*admin* / x (role)",
        );
        // GetFederationToken's name is the caller's choice; the IAM user behind it is not.
        check(
            json!({"type": "FederatedUser", "principalId": "111122223333:ci-deploy",
                   "arn": "arn:aws:sts::111122223333:federated-user/ci-deploy",
                   "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                     "arn": "arn:aws:iam::111122223333:user/bob", "userName": "bob"}}}),
            "federated/bob",
            "bob/ci-deploy",
            &["bob", "arn:aws:iam::111122223333:user/bob"],
            "*bob* / ci-deploy (federated user)",
        );
        check(
            json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}),
            "service/autoscaling.amazonaws.com",
            "autoscaling.amazonaws.com",
            &["autoscaling.amazonaws.com"],
            "*autoscaling.amazonaws.com* (service)",
        );
        check(
            json!({"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "999988887777"}),
            "account/999988887777",
            "999988887777",
            &["999988887777"],
            "*999988887777* (account)",
        );
        // What someone typed into a failed sign-in (CloudTrail hides unknown user names).
        check(
            json!({"type": "IAMUser", "principalId": "111122223333", "accountId": "111122223333",
                   "accessKeyId": "", "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
            "user/HIDDEN_DUE_TO_SECURITY_REASONS",
            "HIDDEN_DUE_TO_SECURITY_REASONS",
            &["HIDDEN_DUE_TO_SECURITY_REASONS", "111122223333"],
            "*HIDDEN_DUE_TO_SECURITY_REASONS* (IAM user)",
        );
        check(
            json!({"type": "Unknown", "principalId": "", "userName": "<!channel>"}),
            "<!channel>",
            "<!channel>",
            &[],
            "*&lt;!channel&gt;* (Unknown)",
        );
    }

    #[test]
    fn session_entries_are_refused() {
        for entry in [
            "arn:aws:sts::111122223333:assumed-role/admin/ci-deploy",
            "arn:aws:sts::111122223333:assumed-role/admin/*",
            "arn:aws:sts::111122223333:federated-user/ci",
            "AROAEXAMPLEID:ci-deploy",
            "aroaexampleid:ci-*",
        ] {
            assert!(refuse_session_entry(entry).is_err(), "{entry}");
        }
        for entry in [
            "admin",
            "arn:aws:iam::111122223333:role/admin",
            "AROAEXAMPLEID",
            "root",
            "ci-*",
        ] {
            assert_eq!(refuse_session_entry(entry), Ok(()), "{entry}");
        }
    }
}
