//! Across an organization (`ORG_ACCOUNTS`): which accounts, the role each is entered by
//! (`MEMBER_ROLE_NAME`, `MEMBER_ROLE_EXTERNAL_ID`), how many at once (`ORG_CONCURRENCY`) —
//! checked once at cold start ([`OrgSettings::from_lookup`], pure) — and entering one
//! account: STS `AssumeRole` into its role, one RDS client per region with those
//! credentials ([`enter`]).
//!
//! The function's own account is read with its own credentials: a service-managed StackSet
//! does not deploy to the management account, and the function's role already reads RDS
//! there.

use aws_sdk_rds::config::Credentials;

/// Which accounts to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every ACTIVE account of the organization (`ListAccounts` on every run).
    All,
    /// These account ids, in this order, each once.
    Listed(Vec<String>),
}

/// The organization settings, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgSettings {
    pub which: Which,
    /// The role's name, with its path if it has one (`opswatch-rds-reader`,
    /// `ops/opswatch-rds-reader`).
    pub role_name: String,
    pub external_id: Option<String>,
    /// At most this many accounts are read at once (each with all its regions at once).
    pub concurrency: usize,
}

pub mod env {
    /// `all`, or a comma list of twelve-digit account ids.
    pub const ORG_ACCOUNTS: &str = "ORG_ACCOUNTS";
    pub const MEMBER_ROLE_NAME: &str = "MEMBER_ROLE_NAME";
    pub const MEMBER_ROLE_EXTERNAL_ID: &str = "MEMBER_ROLE_EXTERNAL_ID";
    /// Default 8, at most 64.
    pub const ORG_CONCURRENCY: &str = "ORG_CONCURRENCY";
}

/// How long the member role's credentials live: STS's minimum. A run ends within Lambda's 15
/// minutes, and credentials that outlive it serve nobody.
pub const SESSION_SECONDS: i32 = 900;

/// The session name the member accounts' CloudTrail shows.
pub const SESSION_NAME: &str = "opswatch-rds-maintenance-checker";

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM's role name characters (`[\w+=,.@-]`, 1–64), with an optional path before it.
fn valid_role_name(s: &str) -> bool {
    let name = s.rsplit('/').next().unwrap_or_default();
    let chars = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    };
    (1..=64).contains(&name.len())
        && chars(name)
        && s.len() <= 512
        && s.split('/').all(|seg| chars(seg) && !seg.is_empty())
}

/// STS's external id characters (`[\w+=,.@:/-]`, 2–1224).
fn valid_external_id(s: &str) -> bool {
    (2..=1224).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
}

impl OrgSettings {
    /// From variables looked up by name (blank counts as unset). `None` without
    /// `ORG_ACCOUNTS`; the other settings without it are a mistake, named.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(accounts) = get(env::ORG_ACCOUNTS) else {
            if let Some(k) = [
                env::MEMBER_ROLE_NAME,
                env::MEMBER_ROLE_EXTERNAL_ID,
                env::ORG_CONCURRENCY,
            ]
            .into_iter()
            .find(|k| get(k).is_some())
            {
                return Err(format!(
                    "{k} is set but {} is not: set {}=all (or a list of account ids) to read other accounts",
                    env::ORG_ACCOUNTS,
                    env::ORG_ACCOUNTS
                ));
            }
            return Ok(None);
        };
        let which = if accounts.eq_ignore_ascii_case("all") {
            Which::All
        } else {
            let mut ids: Vec<String> = Vec::new();
            for id in accounts.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !is_account_id(id) {
                    return Err(format!(
                        "{}: {id:?} is not a twelve-digit account id (give \"all\" or ids like 111122223333,444455556666)",
                        env::ORG_ACCOUNTS
                    ));
                }
                if !ids.iter().any(|x| x == id) {
                    ids.push(id.to_owned());
                }
            }
            if ids.is_empty() {
                return Err(format!(
                    "{}: no account id in {accounts:?}",
                    env::ORG_ACCOUNTS
                ));
            }
            Which::Listed(ids)
        };
        let role_name = get(env::MEMBER_ROLE_NAME).ok_or_else(|| {
            format!(
                "{} needs {}: the role each member account lets this function assume (org/member-role.yaml)",
                env::ORG_ACCOUNTS,
                env::MEMBER_ROLE_NAME
            )
        })?;
        let role_name = role_name.trim_matches('/').to_owned();
        if !valid_role_name(&role_name) {
            return Err(format!(
                "{}: {role_name:?} is not an IAM role name (letters, digits and _+=,.@- up to 64, an optional path before it)",
                env::MEMBER_ROLE_NAME
            ));
        }
        let external_id = get(env::MEMBER_ROLE_EXTERNAL_ID);
        if let Some(x) = &external_id
            && !valid_external_id(x)
        {
            // The value is a shared secret of sorts: not echoed.
            return Err(format!(
                "{}: not an external id (2 to 1224 of letters, digits and _+=,.@:/-)",
                env::MEMBER_ROLE_EXTERNAL_ID
            ));
        }
        let concurrency = match get(env::ORG_CONCURRENCY) {
            None => 8,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "{}: {v:?} is not a number from 1 to 64",
                        env::ORG_CONCURRENCY
                    ));
                }
            },
        };
        Ok(Some(Self {
            which,
            role_name,
            external_id,
            concurrency,
        }))
    }

    /// The role to assume in `account`.
    pub fn role_arn(&self, partition: &str, account: &str) -> String {
        format!("arn:{partition}:iam::{account}:role/{}", self.role_name)
    }

    /// What the changes report's state is kept under: `all`, or the ids, sorted.
    pub fn scope(&self) -> String {
        match &self.which {
            Which::All => "all".into(),
            Which::Listed(ids) => {
                let mut ids = ids.clone();
                ids.sort();
                ids.join(",")
            }
        }
    }
}

/// Who the function is: its account and partition (`aws`, `aws-us-gov`, `aws-cn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub partition: String,
}

/// STS `GetCallerIdentity`, once per cold start.
pub async fn identity(sts: &aws_sdk_sts::Client) -> Result<Identity, String> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("STS GetCallerIdentity: {}", opswatch_support::sdk_error(&e)))?;
    let account = out
        .account()
        .filter(|a| is_account_id(a))
        .ok_or("STS GetCallerIdentity gave no account id")?;
    let partition = out
        .arn()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    Ok(Identity {
        account: account.to_owned(),
        partition: partition.to_owned(),
    })
}

/// Enter `account`: assume its member role and make one RDS client per region with those
/// credentials. The error is one line naming the role and STS's reason. An answer for
/// another account than the one asked is refused: nothing read with it could be shown under
/// the right name.
pub async fn enter(
    sts: &aws_sdk_sts::Client,
    settings: &OrgSettings,
    partition: &str,
    account: &str,
    base: &aws_config::SdkConfig,
    regions: &[String],
) -> Result<Vec<(String, aws_sdk_rds::Client)>, String> {
    let role = settings.role_arn(partition, account);
    let out = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name(SESSION_NAME)
        .duration_seconds(SESSION_SECONDS)
        .set_external_id(settings.external_id.clone())
        .send()
        .await
        .map_err(|e| format!("AssumeRole {role}: {}", opswatch_support::sdk_error(&e)))?;
    let assumed = out.assumed_role_user().map(|u| u.arn()).unwrap_or_default();
    if assumed.split(':').nth(4) != Some(account) {
        return Err(format!(
            "AssumeRole {role}: STS answered for {assumed:?}, not account {account}"
        ));
    }
    let c = out
        .credentials()
        .ok_or_else(|| format!("AssumeRole {role}: STS gave no credentials"))?;
    let credentials = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "opswatch-member-role",
    );
    Ok(regions
        .iter()
        .map(|r| {
            let conf = aws_sdk_rds::config::Builder::from(base)
                .region(aws_sdk_rds::config::Region::new(r.clone()))
                .credentials_provider(credentials.clone())
                .build();
            (r.clone(), aws_sdk_rds::Client::from_conf(conf))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<OrgSettings>, String> {
        OrgSettings::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn accounts_roles_and_concurrency() {
        assert_eq!(settings(&[]), Ok(None));
        let s = settings(&[
            ("ORG_ACCOUNTS", "all"),
            ("MEMBER_ROLE_NAME", "opswatch-rds-reader"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.which, Which::All);
        assert_eq!((s.concurrency, s.external_id.as_deref()), (8, None));
        assert_eq!(
            s.role_arn("aws-us-gov", "222233334444"),
            "arn:aws-us-gov:iam::222233334444:role/opswatch-rds-reader"
        );
        let s = settings(&[
            ("ORG_ACCOUNTS", " 444455556666, 222233334444 ,444455556666,"),
            ("MEMBER_ROLE_NAME", "/ops/reader/"),
            ("MEMBER_ROLE_EXTERNAL_ID", "opswatch-7f3a"),
            ("ORG_CONCURRENCY", "32"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            s.which,
            Which::Listed(vec!["444455556666".into(), "222233334444".into()])
        );
        assert_eq!(s.scope(), "222233334444,444455556666");
        assert_eq!(s.role_arn("aws", "1"), "arn:aws:iam::1:role/ops/reader");
        assert_eq!(
            (s.concurrency, s.external_id.as_deref()),
            (32, Some("opswatch-7f3a"))
        );
    }

    #[test]
    fn every_mistake_is_one_line_naming_the_setting() {
        let role = ("MEMBER_ROLE_NAME", "reader");
        for (vars, expected) in [
            (
                vec![("ORG_ACCOUNTS", "prod")],
                "ORG_ACCOUNTS: \"prod\" is not a twelve-digit",
            ),
            (
                vec![("ORG_ACCOUNTS", "1111222233334"), role],
                "not a twelve-digit",
            ),
            (
                vec![("ORG_ACCOUNTS", ",,"), role],
                "ORG_ACCOUNTS: no account id",
            ),
            (
                vec![("ORG_ACCOUNTS", "all")],
                "ORG_ACCOUNTS needs MEMBER_ROLE_NAME",
            ),
            (
                vec![("ORG_ACCOUNTS", "all"), ("MEMBER_ROLE_NAME", "a role")],
                "MEMBER_ROLE_NAME: \"a role\" is not",
            ),
            (
                vec![
                    ("ORG_ACCOUNTS", "all"),
                    ("MEMBER_ROLE_NAME", &"r".repeat(65)),
                ],
                "is not an IAM role name",
            ),
            (
                vec![("ORG_ACCOUNTS", "all"), role, ("ORG_CONCURRENCY", "0")],
                "ORG_CONCURRENCY: \"0\" is not a number from 1 to 64",
            ),
            (
                vec![("ORG_ACCOUNTS", "all"), role, ("ORG_CONCURRENCY", "65")],
                "from 1 to 64",
            ),
            (
                vec![
                    ("ORG_ACCOUNTS", "all"),
                    role,
                    ("MEMBER_ROLE_EXTERNAL_ID", "x"),
                ],
                "MEMBER_ROLE_EXTERNAL_ID: not an external id",
            ),
            (
                vec![role],
                "MEMBER_ROLE_NAME is set but ORG_ACCOUNTS is not",
            ),
            (
                vec![("ORG_CONCURRENCY", "4")],
                "ORG_CONCURRENCY is set but ORG_ACCOUNTS is not",
            ),
        ] {
            let e = settings(&vars).unwrap_err();
            assert!(e.contains(expected) && !e.contains('\n'), "{vars:?}: {e}");
        }
        // The external id is not echoed.
        let e = settings(&[
            ("ORG_ACCOUNTS", "all"),
            role,
            ("MEMBER_ROLE_EXTERNAL_ID", "secret value!"),
        ])
        .unwrap_err();
        assert!(!e.contains("secret value"), "{e}");
    }
}
