//! How serious a CloudTrail event is, which rule says so, and whose thread it belongs to
//! (pure).
//!
//! - `root-activity` (**critical**): anything the root user does that passed the filter;
//! - `access-denied` (**warning**): a call refused for want of permission (`AccessDenied…`,
//!   `…UnauthorizedOperation`);
//! - `console-login-failed` (**warning**): a failed console sign-in;
//! - every other write call: **info**, no rule.
//!
//! Thread key: the account and the principal (a user, a role — not its session, so one
//! pipeline's runs share a thread — the root user, a service).

use opswatch_delivery::Severity;

use crate::record::Record;

/// The rule an event matches, if any, and its severity.
pub fn weigh(r: &Record) -> (Severity, Option<&'static str>) {
    if r.user_identity.kind.as_deref() == Some("Root") {
        return (Severity::Critical, Some("root-activity"));
    }
    if r.error_code.as_deref().is_some_and(|c| {
        c.contains("AccessDenied")
            || c.contains("UnauthorizedOperation")
            || c == "UnauthorizedAccess"
    }) {
        return (Severity::Warning, Some("access-denied"));
    }
    let failed_login = r.event_name == "ConsoleLogin"
        && r.response_elements
            .as_ref()
            .and_then(|e| e.get("ConsoleLogin"))
            .and_then(|v| v.as_str())
            == Some("Failure");
    if failed_login {
        return (Severity::Warning, Some("console-login-failed"));
    }
    (Severity::Info, None)
}

/// The account an event happened in: the trail's recipient, else the caller's.
pub fn account(r: &Record) -> Option<&str> {
    r.recipient_account_id
        .as_deref()
        .or(r.user_identity.account_id.as_deref())
}

/// Who made the call, as a stable key: `root`, `user/<name>`, `role/<name>`,
/// `service/<name>`, else the ARN or principal id.
pub fn principal(r: &Record) -> String {
    let u = &r.user_identity;
    match u.kind.as_deref() {
        Some("Root") => "root".into(),
        Some("IAMUser") => format!("user/{}", u.user_name.as_deref().unwrap_or("?")),
        Some("AssumedRole") => match u.role_name() {
            Some(role) => format!("role/{role}"),
            None => u.arn.clone().unwrap_or_else(|| "role/?".into()),
        },
        Some("AWSService") => format!("service/{}", u.invoked_by.as_deref().unwrap_or("?")),
        _ => u
            .arn
            .clone()
            .or_else(|| u.principal_id.clone())
            .or_else(|| u.invoked_by.clone())
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// The thread key of an event: `<account>/<principal>`.
pub fn thread(r: &Record) -> String {
    format!("{}/{}", account(r).unwrap_or("-"), principal(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(v: serde_json::Value) -> Record {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn rules_and_threads() {
        let root = record(serde_json::json!({
            "eventName": "CreateUser", "userIdentity": {"type": "Root", "accountId": "111122223333"}
        }));
        assert_eq!(weigh(&root), (Severity::Critical, Some("root-activity")));
        assert_eq!(thread(&root), "111122223333/root");
        let denied = record(serde_json::json!({
            "eventName": "RunInstances", "errorCode": "Client.UnauthorizedOperation",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deploy/run-1",
              "sessionContext": {"sessionIssuer": {"userName": "deploy"}}}
        }));
        assert_eq!(weigh(&denied), (Severity::Warning, Some("access-denied")));
        // One role's sessions share a thread.
        assert_eq!(thread(&denied), "111122223333/role/deploy");
        let login = record(serde_json::json!({
            "eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"},
            "userIdentity": {"type": "IAMUser", "userName": "alice"}
        }));
        assert_eq!(
            weigh(&login),
            (Severity::Warning, Some("console-login-failed"))
        );
        assert_eq!(thread(&login), "-/user/alice");
        let plain = record(
            serde_json::json!({"eventName": "CreateTags", "userIdentity": {"type": "IAMUser", "userName": "bob"}}),
        );
        assert_eq!(weigh(&plain), (Severity::Info, None));
    }
}
