//! Whose thread a CloudTrail event belongs to, and which account it happened in (pure).
//! How serious it is: [`crate::rules`].
//!
//! Thread key: the account and the principal (a user, a role — not its session, so one
//! pipeline's runs share a thread — the root user, a service).

use crate::principal::Principal;
use crate::record::Record;

/// The account an event happened in: the trail's recipient, else the caller's.
pub fn account(r: &Record) -> Option<&str> {
    r.recipient_account_id
        .as_deref()
        .or(r.user_identity.account_id.as_deref())
}

/// Who made the call, as a stable key ([`Principal::key`]).
pub fn principal(r: &Record) -> String {
    Principal::of(r).key()
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
    fn threads() {
        let root = record(serde_json::json!({
            "eventName": "CreateUser", "userIdentity": {"type": "Root", "accountId": "111122223333"}
        }));
        assert_eq!(thread(&root), "111122223333/root");
        // An organization trail: the account is the recipient's, not the caller's.
        let role = record(serde_json::json!({
            "eventName": "RunInstances", "recipientAccountId": "444455556666",
            "userIdentity": {"type": "AssumedRole", "accountId": "111122223333",
              "arn": "arn:aws:sts::111122223333:assumed-role/deploy/run-1",
              "sessionContext": {"sessionIssuer": {"userName": "deploy"}}}
        }));
        // One role's sessions share a thread.
        assert_eq!(thread(&role), "444455556666/role/deploy");
        let user = record(
            serde_json::json!({"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser", "userName": "alice"}}),
        );
        assert_eq!(thread(&user), "-/user/alice");
        let service = record(
            serde_json::json!({"eventName": "X", "userIdentity": {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}}),
        );
        assert_eq!(principal(&service), "service/autoscaling.amazonaws.com");
    }
}
