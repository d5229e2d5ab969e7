//! The built-in rules (pure): one entry each in [`BUILTINS`], most serious first, each
//! named, with the most serious it rates an event, the ATT&CK tactic it watches for, and
//! what it looks for. They cover the techniques public catalogues of AWS attacks list
//! (MITRE ATT&CK for IaaS, Stratus Red Team): docs/cloudtrail-event-handler.md maps them.

use serde_json::{Map, Value};

use super::custom::{leaves, scalar_text};
use super::policy::{self, Exposure};
use super::{Context, Trusted};
use crate::principal::{Kind, Principal};
use crate::record::Record;
use opswatch_delivery::Severity;

/// A built-in rule: its name, the most serious it rates an event, and what it looks for.
#[derive(Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub severity: Severity,
    /// The ATT&CK tactic it watches for.
    pub tactic: &'static str,
    pub about: &'static str,
    /// Also judged on read-only calls.
    pub reads: bool,
    pub(crate) test: Test,
}

/// How a rule judges.
#[derive(Clone, Copy)]
pub(crate) enum Test {
    /// One record at a time.
    Event(fn(&Record, &Context) -> Option<Severity>),
    /// Counted across a log file ([`super::Judge`]): [`secret_read`].
    Burst,
}

impl Test {
    #[cfg(test)]
    pub(crate) fn is_event(self) -> bool {
        matches!(self, Test::Event(_))
    }
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

pub const ROOT_ACTIVITY: &str = "root-activity";
/// The rule [`crate::render::Digest`] folds by principal.
pub const ACCESS_DENIED: &str = "access-denied";
pub const SECRET_READ_BURST: &str = "secret-read-burst";

use Severity::{Critical, Warning};

/// Every built-in rule, most serious first.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: ROOT_ACTIVITY,
        severity: Critical,
        tactic: "Initial access, privilege escalation",
        about: "every call by the root user, reads included, and its console sign-ins; not a call an AWS service made on root's behalf (invokedBy)",
        reads: true,
        test: Test::Event(|r, _| {
            let u = &r.user_identity;
            when(
                u.kind.as_deref() == Some("Root") && u.invoked_by.is_none(),
                Critical,
            )
        }),
    },
    Builtin {
        name: "cloudtrail-tampering",
        severity: Critical,
        tactic: "Defense evasion",
        about: "StopLogging, DeleteTrail, UpdateTrail, PutEventSelectors, DeleteEventDataStore, StopEventDataStoreIngestion",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(
                    r,
                    "cloudtrail",
                    &[
                        "StopLogging",
                        "DeleteTrail",
                        "UpdateTrail",
                        "PutEventSelectors",
                        "DeleteEventDataStore",
                        "StopEventDataStoreIngestion",
                    ],
                ),
                Critical,
            )
        }),
    },
    Builtin {
        name: "trail-logs-deleted",
        severity: Critical,
        tactic: "Defense evasion",
        about: "a CloudTrail bucket deleted, its policy deleted or a lifecycle rule that expires its logs; a CloudTrail log group or stream deleted (TRAIL_BUCKETS, TRAIL_LOG_GROUPS, or any name that says cloudtrail)",
        reads: false,
        test: Test::Event(|r, c| when(trail_logs_deleted(r, c), Critical)),
    },
    Builtin {
        name: "logging-disabled",
        severity: Critical,
        tactic: "Defense evasion",
        about: "VPC flow logs deleted, a database activity stream stopped, Route 53 Resolver query logging deleted or detached, WAF logging deleted, Bedrock invocation logging deleted, load-balancer access logs turned off",
        reads: false,
        test: Test::Event(|r, _| when(logging_disabled(r), Critical)),
    },
    Builtin {
        name: "detective-controls-disabled",
        severity: Critical,
        tactic: "Defense evasion",
        about: "Config recording stopped or deleted; GuardDuty deleted, disabled, detached from its administrator, its members removed, findings archived by a filter or an IP set trusted; Security Hub, Macie, Inspector, Detective or Access Analyzer turned off",
        reads: false,
        test: Test::Event(|r, _| when(detective_controls_disabled(r), Critical)),
    },
    Builtin {
        name: "organization-tampering",
        severity: Critical,
        tactic: "Defense evasion",
        about: "an account leaving or removed from the organization, the organization deleted, a service's organization access or a policy type disabled: critical; a delegated administrator deregistered, a service control policy detached, deleted or changed: warning",
        reads: false,
        test: Test::Event(|r, _| organization_tampering(r)),
    },
    Builtin {
        name: "console-login-without-mfa",
        severity: Critical,
        tactic: "Initial access",
        about: "a successful console sign-in by an IAM user without MFA",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                r.event_name == "ConsoleLogin"
                    && r.console_login_result() == Some("Success")
                    && r.user_identity.kind.as_deref() == Some("IAMUser")
                    && r.additional_event_data
                        .as_ref()
                        .and_then(|d| d.get("MFAUsed"))
                        .and_then(Value::as_str)
                        == Some("No"),
                Critical,
            )
        }),
    },
    Builtin {
        name: "admin-policy",
        severity: Critical,
        tactic: "Privilege escalation, persistence",
        about: "an IAM policy that allows every action (Action \"*\", \"iam:*\" or NotAction) on every resource, or AdministratorAccess or IAMFullAccess attached",
        reads: false,
        test: Test::Event(|r, _| when(admin_policy(r), Critical)),
    },
    Builtin {
        name: "kms-key-deletion",
        severity: Critical,
        tactic: "Impact",
        about: "a KMS key scheduled for deletion or disabled",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(r, "kms", &["ScheduleKeyDeletion", "DisableKey"]),
                Critical,
            )
        }),
    },
    Builtin {
        name: "world-open-ingress",
        severity: Critical,
        tactic: "Initial access, exfiltration",
        about: "a security-group rule open to the whole internet (any /0): critical, or a warning when it opens only 80 or 443 (or ICMP)",
        reads: false,
        test: Test::Event(|r, _| world_open_ingress(r)),
    },
    Builtin {
        name: "s3-public-access",
        severity: Critical,
        tactic: "Exfiltration",
        about: "a public-access block removed or loosened, a bucket policy that grants everyone without a condition restricting the caller, a public ACL",
        reads: false,
        test: Test::Event(|r, _| when(s3_public_access(r), Critical)),
    },
    Builtin {
        name: "snapshot-shared",
        severity: Critical,
        tactic: "Exfiltration",
        about: "an RDS or cluster snapshot, an EBS snapshot or an AMI shared with everyone: critical; with an account outside the organization (ACCOUNT_NAMES, TRUSTED_ACCOUNTS): warning",
        reads: false,
        test: Test::Event(snapshot_shared),
    },
    Builtin {
        name: "resource-policy-opened",
        severity: Critical,
        tactic: "Persistence, exfiltration",
        about: "a resource policy opened to everyone (Lambda function or layer, KMS key, SQS queue, SNS topic, secret, ECR repository, EventBridge bus, backup vault, EFS, Glacier): critical; to an account outside the organization (S3 buckets too): warning",
        reads: false,
        test: Test::Event(resource_policy_opened),
    },
    Builtin {
        name: "role-trust-opened",
        severity: Critical,
        tactic: "Persistence",
        about: "a role's trust policy (CreateRole, UpdateAssumeRolePolicy) open to everyone, or to a web-identity provider without a subject condition (any GitHub repository): critical; to an account outside the organization: warning",
        reads: false,
        test: Test::Event(role_trust_opened),
    },
    Builtin {
        name: "self-protection",
        severity: Critical,
        tactic: "Defense evasion",
        about: "a change to this stack's own resources (named by SELF_PROTECTION_PREFIX) by anyone but the stack's own roles and CloudFormation",
        reads: false,
        test: Test::Event(|r, c| when(self_protection(r, c), Critical)),
    },
    Builtin {
        name: ACCESS_DENIED,
        severity: Warning,
        tactic: "Discovery",
        about: "a call refused for want of permission (AccessDenied, UnauthorizedOperation and their variants), read-only ones included; one principal's repeats fold into one line",
        reads: true,
        test: Test::Event(|r, _| when(access_denied(r), Warning)),
    },
    Builtin {
        name: "console-login-failed",
        severity: Warning,
        tactic: "Credential access",
        about: "a failed console sign-in",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                r.event_name == "ConsoleLogin" && r.console_login_result() == Some("Failure"),
                Warning,
            )
        }),
    },
    Builtin {
        name: "iam-credentials",
        severity: Warning,
        tactic: "Persistence",
        about: "an access key or a console password (login profile) created or changed",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(
                    r,
                    "iam",
                    &[
                        "CreateAccessKey",
                        "UpdateAccessKey",
                        "CreateLoginProfile",
                        "UpdateLoginProfile",
                    ],
                ),
                Warning,
            )
        }),
    },
    Builtin {
        name: "credentials-for-another-user",
        severity: Warning,
        tactic: "Persistence, privilege escalation",
        about: "an access key, console password, SSH key, signing certificate or service credential created or changed for an IAM user other than the caller",
        reads: false,
        test: Test::Event(|r, _| when(credentials_for_another_user(r), Warning)),
    },
    Builtin {
        name: "authentication-weakened",
        severity: Warning,
        tactic: "Defense evasion, credential access",
        about: "an MFA device deactivated or deleted, the account's password policy deleted",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(
                    r,
                    "iam",
                    &[
                        "DeactivateMFADevice",
                        "DeleteVirtualMFADevice",
                        "DeleteAccountPasswordPolicy",
                    ],
                ),
                Warning,
            )
        }),
    },
    Builtin {
        name: "identity-provider-changed",
        severity: Warning,
        tactic: "Persistence",
        about: "a SAML or OIDC identity provider created or changed, an IAM Roles Anywhere trust anchor created, changed or enabled",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(
                    r,
                    "iam",
                    &[
                        "CreateSAMLProvider",
                        "UpdateSAMLProvider",
                        "CreateOpenIDConnectProvider",
                        "AddClientIDToOpenIDConnectProvider",
                        "UpdateOpenIDConnectProviderThumbprint",
                    ],
                ) || done_any(
                    r,
                    "rolesanywhere",
                    &[
                        "CreateTrustAnchor",
                        "UpdateTrustAnchor",
                        "EnableTrustAnchor",
                    ],
                ),
                Warning,
            )
        }),
    },
    Builtin {
        name: "federation-token",
        severity: Warning,
        tactic: "Persistence",
        about: "temporary credentials issued with GetFederationToken, which outlive the access key they came from",
        reads: false,
        test: Test::Event(|r, _| when(done_any(r, "sts", &["GetFederationToken"]), Warning)),
    },
    Builtin {
        name: "database-unprotected",
        severity: Warning,
        tactic: "Impact",
        about: "a database or cluster deleted without a final snapshot or with its automated backups, deletion protection turned off, automated backups turned off (retention 0) or deleted, a database made publicly accessible",
        reads: false,
        test: Test::Event(|r, _| when(database_unprotected(r), Warning)),
    },
    Builtin {
        name: "database-password-changed",
        severity: Warning,
        tactic: "Credential access, persistence",
        about: "the master password of an RDS/Aurora database or cluster, or of a Redshift cluster, changed",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                (done_any(r, "rds", &["ModifyDBInstance", "ModifyDBCluster"])
                    || done_any(r, "redshift", &["ModifyCluster"]))
                    && param(r, "masterUserPassword").is_some(),
                Warning,
            )
        }),
    },
    Builtin {
        name: "backups-deleted",
        severity: Warning,
        tactic: "Impact",
        about: "an AWS Backup vault, recovery point, plan or vault lock deleted; an EBS snapshot lifecycle policy deleted; an S3 bucket's versioning suspended",
        reads: false,
        test: Test::Event(|r, _| when(backups_deleted(r), Warning)),
    },
    Builtin {
        name: "instance-command",
        severity: Warning,
        tactic: "Execution",
        about: "commands sent to instances (SSM SendCommand) or a session started on one (SSM StartSession)",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(r, "ssm", &["SendCommand", "StartSession"]),
                Warning,
            )
        }),
    },
    Builtin {
        name: "instance-ssh-key",
        severity: Warning,
        tactic: "Lateral movement",
        about: "an SSH key pushed to an instance (EC2 Instance Connect, its serial console), serial console access enabled",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(
                    r,
                    "ec2-instance-connect",
                    &["SendSSHPublicKey", "SendSerialConsoleSSHPublicKey"],
                ) || done_any(r, "ec2", &["EnableSerialConsoleAccess"]),
                Warning,
            )
        }),
    },
    Builtin {
        name: "user-data-changed",
        severity: Warning,
        tactic: "Execution, privilege escalation",
        about: "an instance's user data changed (it runs as root at the next start)",
        reads: false,
        test: Test::Event(|r, _| {
            when(
                done_any(r, "ec2", &["ModifyInstanceAttribute"])
                    && (param(r, "userData").is_some()
                        || param_str(r, "attribute") == Some("userData")),
                Warning,
            )
        }),
    },
    Builtin {
        name: "code-changed",
        severity: Warning,
        tactic: "Persistence, execution",
        about: "a Lambda function's code replaced, a layer published or a function's layers (extensions) changed, a SageMaker notebook lifecycle configuration created or changed",
        reads: false,
        test: Test::Event(|r, c| when(code_changed(r, c), Warning)),
    },
    Builtin {
        name: "resource-hijacking",
        severity: Warning,
        tactic: "Impact",
        about: "GPU or accelerator instances launched (p, g, inf, trn, dl, vt, f families), Bedrock model access requested or a model agreement accepted",
        reads: false,
        test: Test::Event(|r, _| when(resource_hijacking(r), Warning)),
    },
    Builtin {
        name: SECRET_READ_BURST,
        severity: Warning,
        tactic: "Credential access",
        about: "one principal reading SECRET_READ_THRESHOLD (10) or more distinct secrets in one log file: Secrets Manager values, decrypted SSM parameters, Windows passwords, instance user data",
        reads: true,
        test: Test::Burst,
    },
];

/// The built-in rule of this name (ASCII case ignored).
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name.eq_ignore_ascii_case(name))
}

/// Every built-in rule's name, comma-separated.
pub fn names() -> String {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

// ── Helpers ──────────────────────────────────────────────────────────────────────────────

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

/// A successful call to one of `names` of `service`.
fn done_any(r: &Record, service: &str, names: &[&str]) -> bool {
    done(r, service) && names.contains(&r.event_name.as_str())
}

/// A successful Lambda call: its event names carry an API version
/// (`UpdateFunctionCode20150331v2`).
fn lambda(r: &Record, name: &str) -> bool {
    done(r, "lambda")
        && r.event_name
            .strip_prefix(name)
            .is_some_and(|v| v.is_empty() || v.starts_with(|c: char| c.is_ascii_digit()))
}

fn param<'r>(r: &'r Record, key: &str) -> Option<&'r Value> {
    r.request_parameters.as_ref()?.get(key)
}

fn param_str<'r>(r: &'r Record, key: &str) -> Option<&'r str> {
    param(r, key)?.as_str()
}

/// `true`/`false`, as JSON or as text (CloudTrail writes both).
fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The accounts the event itself belongs to.
fn own_accounts(r: &Record) -> Vec<&str> {
    [
        r.recipient_account_id.as_deref(),
        r.user_identity.account_id.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect()
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

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    haystack.to_ascii_lowercase().contains(needle)
}

fn starts_ignoring_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

// ── The rules' tests ─────────────────────────────────────────────────────────────────────

fn access_denied(r: &Record) -> bool {
    r.error_code.as_deref().is_some_and(|c| {
        c.contains("AccessDenied")
            || c.contains("UnauthorizedOperation")
            || c == "UnauthorizedAccess"
            || c.starts_with("AuthorizationError")
    })
}

fn trail_logs_deleted(r: &Record, c: &Context) -> bool {
    let bucket = || {
        param_str(r, "bucketName").is_some_and(|b| {
            c.trail_buckets.matches(b)
                || contains_ignoring_case(b, "cloudtrail")
                || starts_ignoring_case(b, "aws-controltower-logs-")
        })
    };
    let group = || {
        param_str(r, "logGroupName").is_some_and(|g| {
            c.trail_log_groups.matches(g) || contains_ignoring_case(g, "cloudtrail")
        })
    };
    let expires = || {
        r.request_parameters.as_ref().is_some_and(|p| {
            any_value(p, None, &mut |k, _| {
                matches!(k, Some("Expiration" | "NoncurrentVersionExpiration"))
            })
        })
    };
    (done_any(r, "s3", &["DeleteBucket", "DeleteBucketPolicy"]) && bucket())
        || (done_any(
            r,
            "s3",
            &["PutBucketLifecycle", "PutBucketLifecycleConfiguration"],
        ) && bucket()
            && expires())
        || (done_any(r, "logs", &["DeleteLogGroup", "DeleteLogStream"]) && group())
}

fn logging_disabled(r: &Record) -> bool {
    let access_logs_off = || {
        r.request_parameters.as_ref().is_some_and(|p| {
            let mut found = Vec::new();
            leaves(p, &["attributes"], &mut found);
            found.iter().any(|a| {
                a.get("key").and_then(Value::as_str) == Some("access_logs.s3.enabled")
                    && a.get("value").and_then(Value::as_str) == Some("false")
            })
        })
    };
    done_any(r, "ec2", &["DeleteFlowLogs"])
        || done_any(r, "rds", &["StopActivityStream"])
        || done_any(
            r,
            "route53resolver",
            &[
                "DeleteResolverQueryLogConfig",
                "DisassociateResolverQueryLogConfig",
            ],
        )
        || ["wafv2", "waf", "waf-regional"]
            .iter()
            .any(|s| done_any(r, s, &["DeleteLoggingConfiguration"]))
        || done_any(r, "bedrock", &["DeleteModelInvocationLoggingConfiguration"])
        || (done_any(r, "elasticloadbalancing", &["ModifyLoadBalancerAttributes"])
            && access_logs_off())
}

fn detective_controls_disabled(r: &Record) -> bool {
    let n = r.event_name.as_str();
    done_any(
        r,
        "config",
        &[
            "StopConfigurationRecorder",
            "DeleteConfigurationRecorder",
            "DeleteDeliveryChannel",
        ],
    ) || (done(r, "guardduty")
        && (matches!(
            n,
            "DeleteDetector"
                | "DisassociateFromMasterAccount"
                | "DisassociateFromAdministratorAccount"
                | "StopMonitoringMembers"
                | "DeleteMembers"
                | "DisassociateMembers"
                | "DeletePublishingDestination"
                | "UpdateIPSet"
        ) || (n == "UpdateDetector" && flag(param(r, "enable")) == Some(false))
            || (matches!(n, "CreateFilter" | "UpdateFilter")
                && param_str(r, "action") == Some("ARCHIVE"))
            || (n == "CreateIPSet" && flag(param(r, "activate")) != Some(false))))
        || done_any(
            r,
            "securityhub",
            &[
                "DisableSecurityHub",
                "BatchDisableStandards",
                "DisassociateFromAdministratorAccount",
                "DisassociateFromMasterAccount",
                "DisableImportFindingsForProduct",
            ],
        )
        || done_any(r, "access-analyzer", &["DeleteAnalyzer"])
        || done_any(r, "macie2", &["DisableMacie"])
        || (done_any(r, "macie2", &["UpdateMacieSession"])
            && param_str(r, "status") == Some("PAUSED"))
        || done_any(r, "inspector2", &["Disable"])
        || done_any(r, "detective", &["DeleteGraph", "DisassociateMembership"])
}

fn organization_tampering(r: &Record) -> Option<Severity> {
    if !done(r, "organizations") {
        return None;
    }
    match r.event_name.as_str() {
        "LeaveOrganization"
        | "RemoveAccountFromOrganization"
        | "DeleteOrganization"
        | "DisableAWSServiceAccess"
        | "DisablePolicyType" => Some(Critical),
        "DeregisterDelegatedAdministrator" | "DetachPolicy" | "DeletePolicy" | "UpdatePolicy" => {
            Some(Warning)
        }
        _ => None,
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
            .and_then(policy::parse)
            .is_some_and(|doc| policy::statements(&doc).any(policy::is_admin)),
        "AttachUserPolicy" | "AttachRolePolicy" | "AttachGroupPolicy" => param_str(r, "policyArn")
            .is_some_and(|arn| {
                arn.ends_with(":policy/AdministratorAccess")
                    || arn.ends_with(":policy/IAMFullAccess")
            }),
        _ => false,
    }
}

fn world_open_ingress(r: &Record) -> Option<Severity> {
    if !done_any(
        r,
        "ec2",
        &["AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules"],
    ) {
        return None;
    }
    let params = r.request_parameters.as_ref()?;
    // The shapes CloudTrail records: `ipPermissions.items[]` (AuthorizeSecurityGroupIngress),
    // `ModifySecurityGroupRulesRequest.SecurityGroupRule[].SecurityGroupRule`, and the
    // legacy single rule at the top level.
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
    let mut rules: Vec<&Map<String, Value>> =
        found.into_iter().filter_map(Value::as_object).collect();
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

/// The policy documents a call carries under `keys` (each a dotted path).
fn documents(r: &Record, paths: &[&[&str]]) -> Vec<Value> {
    let Some(params) = r.request_parameters.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in paths {
        let mut found = Vec::new();
        leaves(params, path, &mut found);
        out.extend(found.into_iter().filter_map(policy::parse));
    }
    out
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
                ) && flag(Some(v)) == Some(false)
            })
        }
        "PutBucketPolicy" => documents(r, &[&["bucketPolicy"], &["policy"]])
            .iter()
            .any(|doc| policy::exposure(doc, &Trusted::default(), &[]) == Some(Exposure::Public)),
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

/// Critical for everyone, a warning for an account outside the organization.
fn weigh(granted: &[&str], r: &Record, trusted: &Trusted) -> Option<Severity> {
    let own = own_accounts(r);
    if granted
        .iter()
        .any(|g| g.eq_ignore_ascii_case("all") || *g == "*")
    {
        return Some(Critical);
    }
    granted
        .iter()
        .filter_map(|g| policy::account_of(g))
        .any(|a| !own.contains(&a) && !trusted.contains(a))
        .then_some(Warning)
}

fn snapshot_shared(r: &Record, c: &Context) -> Option<Severity> {
    let params = r.request_parameters.as_ref()?;
    let mut granted: Vec<&str> = Vec::new();
    if done_any(
        r,
        "rds",
        &[
            "ModifyDBSnapshotAttribute",
            "ModifyDBClusterSnapshotAttribute",
        ],
    ) && param_str(r, "attributeName") == Some("restore")
    {
        let mut found = Vec::new();
        leaves(params, &["valuesToAdd"], &mut found);
        granted.extend(found.into_iter().filter_map(Value::as_str));
    }
    let items = match r.event_name.as_str() {
        "ModifySnapshotAttribute" if done(r, "ec2") => Some("createVolumePermission"),
        "ModifyImageAttribute" if done(r, "ec2") => Some("launchPermission"),
        _ => None,
    };
    if let Some(attribute) = items {
        let mut found = Vec::new();
        leaves(params, &[attribute, "add", "items"], &mut found);
        for item in found {
            // `group: all`, `userId`; an organization or OU ARN stays inside.
            granted.extend(
                ["group", "userId"]
                    .iter()
                    .filter_map(|k| item.get(*k).and_then(Value::as_str)),
            );
        }
    }
    weigh(&granted, r, &c.trusted)
}

fn resource_policy_opened(r: &Record, c: &Context) -> Option<Severity> {
    let own = own_accounts(r);
    let by_exposure = |docs: Vec<Value>, public: bool| {
        docs.iter()
            .filter_map(|d| policy::exposure(d, &c.trusted, &own))
            .map(|e| match e {
                Exposure::Public if public => Some(Critical),
                Exposure::Public => None,
                Exposure::Outside(_) => Some(Warning),
            })
            .max()
            .flatten()
    };
    // Lambda and EventBridge permissions name a principal instead of a document.
    let principal = |restricted: &[&str]| {
        let p = param_str(r, "principal")?;
        let restricted = restricted.iter().any(|k| param(r, k).is_some());
        if restricted {
            return None;
        }
        weigh(&[p], r, &c.trusted)
    };
    let source = r.event_source.strip_suffix(".amazonaws.com").unwrap_or("");
    match (source, r.event_name.as_str()) {
        _ if lambda(r, "AddPermission") => {
            // The stack's own function URL, deployed by CloudFormation, is not a backdoor.
            if own_stack_deploy(r, c) {
                return None;
            }
            principal(&["sourceArn", "sourceAccount", "principalOrgID"])
        }
        _ if lambda(r, "AddLayerVersionPermission") => principal(&["organizationId"]),
        ("events", "PutPermission") if r.error_code.is_none() => {
            principal(&["condition"]).or_else(|| by_exposure(documents(r, &[&["policy"]]), true))
        }
        ("s3", "PutBucketPolicy") if r.error_code.is_none() => {
            // Everyone is s3-public-access's; an outside account is this rule's.
            by_exposure(documents(r, &[&["bucketPolicy"], &["policy"]]), false)
        }
        _ => {
            let paths: &[&[&str]] = match (source, r.event_name.as_str()) {
                ("kms", "PutKeyPolicy" | "CreateKey") => &[&["policy"]],
                ("sqs", "SetQueueAttributes" | "CreateQueue") => &[&["attributes", "Policy"]],
                ("sns", "SetTopicAttributes")
                    if param_str(r, "attributeName") == Some("Policy") =>
                {
                    &[&["attributeValue"]]
                }
                ("sns", "CreateTopic") => &[&["attributes", "Policy"]],
                ("secretsmanager", "PutResourcePolicy") => &[&["resourcePolicy"]],
                ("ecr", "SetRepositoryPolicy") => &[&["policyText"]],
                ("backup", "PutBackupVaultAccessPolicy") => &[&["policy"]],
                ("elasticfilesystem", "PutFileSystemPolicy") => &[&["policy"]],
                ("glacier", "SetVaultAccessPolicy") => &[&["policy", "policy"], &["policy"]],
                _ => return None,
            };
            if r.error_code.is_some() {
                return None;
            }
            by_exposure(documents(r, paths), true)
        }
    }
}

fn role_trust_opened(r: &Record, c: &Context) -> Option<Severity> {
    let key = match r.event_name.as_str() {
        "UpdateAssumeRolePolicy" => "policyDocument",
        "CreateRole" => "assumeRolePolicyDocument",
        _ => return None,
    };
    if !done(r, "iam") {
        return None;
    }
    let doc = param(r, key).and_then(policy::parse)?;
    if policy::unpinned_web_identity(&doc).is_some() {
        return Some(Critical);
    }
    match policy::exposure(&doc, &c.trusted, &own_accounts(r))? {
        Exposure::Public => Some(Critical),
        Exposure::Outside(_) => Some(Warning),
    }
}

fn self_protection(r: &Record, c: &Context) -> bool {
    let Some(prefix) = c.self_prefix.as_deref() else {
        return false;
    };
    let starts = |s: &str| starts_ignoring_case(s, prefix);
    let who = Principal::of(r);
    // The stack's own functions at work, and CloudFormation deploying it.
    if (who.kind == Kind::Role && starts(&who.name))
        || r.user_identity.invoked_by.as_deref() == Some("cloudformation.amazonaws.com")
        || r.error_code.is_some()
    {
        return false;
    }
    let stack = prefix.trim_end_matches('-');
    if r.event_source == "cloudformation.amazonaws.com" {
        return r.event_name == "DeleteStack"
            && param_str(r, "stackName")
                .is_some_and(|s| s == stack || s.split(['/', ':']).any(|p| p == stack));
    }
    r.request_parameters.as_ref().is_some_and(|p| {
        any_value(p, None, &mut |_, v| {
            v.as_str().is_some_and(|s| s.split(['/', ':']).any(starts))
        })
    })
}

fn credentials_for_another_user(r: &Record) -> bool {
    done_any(
        r,
        "iam",
        &[
            "CreateAccessKey",
            "CreateLoginProfile",
            "UpdateLoginProfile",
            "CreateServiceSpecificCredential",
            "UploadSSHPublicKey",
            "UploadSigningCertificate",
        ],
    ) && param_str(r, "userName").is_some_and(|target| {
        let me = Principal::of(r);
        let own = match me.kind {
            Kind::Root => target.eq_ignore_ascii_case("root"),
            _ => me
                .user_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(target)),
        };
        !own
    })
}

fn database_unprotected(r: &Record) -> bool {
    if !done(r, "rds") {
        return false;
    }
    let yes = |k| flag(param(r, k)) == Some(true);
    let no = |k| flag(param(r, k)) == Some(false);
    match r.event_name.as_str() {
        "DeleteDBInstance" | "DeleteDBCluster" => {
            yes("skipFinalSnapshot") || yes("deleteAutomatedBackups")
        }
        "ModifyDBInstance" | "ModifyDBCluster" => {
            no("deletionProtection")
                || yes("publiclyAccessible")
                || param(r, "backupRetentionPeriod").and_then(Value::as_i64) == Some(0)
        }
        "DeleteDBInstanceAutomatedBackup" | "DeleteDBClusterAutomatedBackup" => true,
        _ => false,
    }
}

fn backups_deleted(r: &Record) -> bool {
    let suspended = || {
        r.request_parameters.as_ref().is_some_and(|p| {
            any_value(p, None, &mut |k, v| {
                k == Some("Status") && v.as_str() == Some("Suspended")
            })
        })
    };
    done_any(
        r,
        "backup",
        &[
            "DeleteBackupVault",
            "DeleteRecoveryPoint",
            "DeleteBackupPlan",
            "DeleteBackupVaultLockConfiguration",
        ],
    ) || done_any(r, "dlm", &["DeleteLifecyclePolicy"])
        || (done_any(r, "s3", &["PutBucketVersioning"]) && suspended())
}

/// CloudFormation changing this stack's own function (`SELF_PROTECTION_PREFIX`): a deploy of
/// opswatch, not a technique.
fn own_stack_deploy(r: &Record, c: &Context) -> bool {
    c.self_prefix.as_deref().is_some_and(|p| {
        r.user_identity.invoked_by.as_deref() == Some("cloudformation.amazonaws.com")
            && param_str(r, "functionName")
                .is_some_and(|f| starts_ignoring_case(f.rsplit(':').next().unwrap_or(f), p))
    })
}

fn code_changed(r: &Record, c: &Context) -> bool {
    !own_stack_deploy(r, c)
        && (lambda(r, "UpdateFunctionCode")
            || lambda(r, "PublishLayerVersion")
            || (lambda(r, "UpdateFunctionConfiguration") && param(r, "layers").is_some())
            || done_any(
                r,
                "sagemaker",
                &[
                    "CreateNotebookInstanceLifecycleConfig",
                    "UpdateNotebookInstanceLifecycleConfig",
                ],
            ))
}

fn resource_hijacking(r: &Record) -> bool {
    let accelerated = || {
        param_str(r, "instanceType").is_some_and(|t| {
            let family: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect::<String>()
                .to_ascii_lowercase();
            matches!(
                family.as_str(),
                "p" | "g" | "gr" | "inf" | "trn" | "dl" | "vt" | "f"
            )
        })
    };
    (done_any(r, "ec2", &["RunInstances"]) && accelerated())
        || done_any(
            r,
            "bedrock",
            &[
                "PutUseCaseForModelAccess",
                "CreateFoundationModelAgreement",
                "PutFoundationModelEntitlement",
            ],
        )
}

/// What one secret-reading call read: the ids it named, and reads counted in bulk (a
/// filtered batch counts as the page it may return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRead {
    pub ids: Vec<String>,
    pub bulk: usize,
}

/// The calls that may read a secret, by event source and name: [`secret_read`] looks only
/// at these (and at their parameters), and the log reader's sieve parses any of them in full.
const SECRET_READS: &[(&str, &str)] = &[
    ("secretsmanager.amazonaws.com", "GetSecretValue"),
    ("secretsmanager.amazonaws.com", "BatchGetSecretValue"),
    ("ssm.amazonaws.com", "GetParameter"),
    ("ssm.amazonaws.com", "GetParameters"),
    ("ssm.amazonaws.com", "GetParametersByPath"),
    ("ec2.amazonaws.com", "GetPasswordData"),
    ("ec2.amazonaws.com", "DescribeInstanceAttribute"),
];

/// Whether a call of this source and name may read a secret ([`secret_read`] says whether it
/// did, from its parameters).
pub fn may_read_secret(source: &str, name: &str) -> bool {
    SECRET_READS.contains(&(source, name))
}

/// The secrets a call reads, if it reads any: Secrets Manager values, SSM parameters with
/// decryption, an instance's Windows password or user data.
pub fn secret_read(r: &Record) -> Option<SecretRead> {
    if !may_read_secret(&r.event_source, &r.event_name) {
        return None;
    }
    let source = r.event_source.strip_suffix(".amazonaws.com")?;
    let strings = |key: &str| -> Vec<String> {
        let mut found = Vec::new();
        if let Some(p) = &r.request_parameters {
            leaves(p, &[key], &mut found);
        }
        found
            .into_iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let ids = |key: &str| {
        Some(SecretRead {
            ids: strings(key),
            bulk: 0,
        })
    };
    let decrypted = || flag(param(r, "withDecryption")) == Some(true);
    match (source, r.event_name.as_str()) {
        ("secretsmanager", "GetSecretValue") => ids("secretId"),
        ("secretsmanager", "BatchGetSecretValue") => Some(SecretRead {
            ids: strings("secretIdList"),
            // A filtered batch returns up to maxResults (20 unless given) secrets a call.
            bulk: if param(r, "filters").is_some() {
                param(r, "maxResults")
                    .and_then(Value::as_u64)
                    .map_or(20, |n| n as usize)
            } else {
                0
            },
        }),
        ("ssm", "GetParameter") if decrypted() => ids("name"),
        ("ssm", "GetParameters") if decrypted() => ids("names"),
        ("ssm", "GetParametersByPath") if decrypted() => ids("path"),
        ("ec2", "GetPasswordData") => ids("instanceId"),
        ("ec2", "DescribeInstanceAttribute") if param_str(r, "attribute") == Some("userData") => {
            Some(SecretRead {
                ids: strings("instanceId")
                    .into_iter()
                    .map(|i| format!("userData/{i}"))
                    .collect(),
                bulk: 0,
            })
        }
        _ => None,
    }
}
