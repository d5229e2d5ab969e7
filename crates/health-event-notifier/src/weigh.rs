//! Each notice's severity, rule, thread and identity (pure).

use std::time::Duration;

use opswatch_delivery::Severity;

use crate::event::{Category, HealthEvent};

/// How long an event's thread lasts from its first notice: AWS Health keeps events for 90
/// days, and a scheduled change is announced weeks before it closes.
pub const THREAD_LASTS: Duration = Duration::from_secs(90 * 86_400);

/// An issue (an abuse report too) is critical; a scheduled change a warning; an account
/// notification or investigation is info. The category, not the status, decides: a closed
/// issue keeps its thread's severity, so it goes to the same route and thread as its
/// opening. A category this version does not know is a warning.
pub fn severity(e: &HealthEvent) -> Severity {
    match e.category {
        Category::Issue => Severity::Critical,
        Category::ScheduledChange | Category::Other(_) => Severity::Warning,
        Category::AccountNotification | Category::Investigation => Severity::Info,
    }
}

/// One thread per event and affected account; a public event is one thread for all the
/// accounts it reaches.
pub fn thread(e: &HealthEvent) -> String {
    format!("{}/{}", e.arn, e.about_account().unwrap_or("public"))
}

/// What identifies the notice, whichever copy carries it: the EventBridge id, the region it
/// was delivered to and `backupEvent` differ between the primary and backup copies and
/// are left out; the communication (with its page), the update's time and status are in.
pub fn source(e: &HealthEvent) -> String {
    let updated = e.updated().map_or("", |t| t.raw.as_str());
    format!(
        "health/{}/{}/{}/{}/{}/{}",
        thread(e),
        e.communication_id.as_deref().unwrap_or_default(),
        updated,
        e.status.word(),
        e.page.0,
        e.page.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(name: &str) -> HealthEvent {
        let path = format!("{}/../../events/health/{name}", env!("CARGO_MANIFEST_DIR"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap();
        HealthEvent::parse(&v).unwrap()
    }

    #[test]
    fn severities_by_category() {
        assert_eq!(severity(&event("issue-1-open.json")), Severity::Critical);
        assert_eq!(severity(&event("issue-3-closed.json")), Severity::Critical);
        assert_eq!(
            severity(&event("scheduled-rds-maintenance.json")),
            Severity::Warning
        );
        assert_eq!(
            severity(&event("account-notification.json")),
            Severity::Info
        );
        let mut e = event("account-notification.json");
        e.category = Category::Investigation;
        assert_eq!(severity(&e), Severity::Info);
    }

    #[test]
    fn the_backup_copy_is_the_same_notice_and_an_update_is_another() {
        let primary = event("issue-1-open.json");
        let mut backup = primary.clone();
        backup.id = Some("another-eventbridge-id".into());
        backup.delivered_to = Some("us-west-2".into());
        backup.backup = true;
        assert_eq!(source(&primary), source(&backup));
        assert_eq!(thread(&primary), thread(&event("issue-3-closed.json")));
        assert_ne!(source(&primary), source(&event("issue-2-updated.json")));
        let mut page2 = primary.clone();
        page2.page = (2, 2);
        assert_ne!(source(&primary), source(&page2));
    }

    #[test]
    fn one_thread_per_affected_account_and_one_for_a_public_event() {
        let a = event("issue-1-open.json");
        let mut b = a.clone();
        b.affected_account = Some("444455556666".into());
        assert_ne!(thread(&a), thread(&b));
        let (mut pa, mut pb) = (a.clone(), b.clone());
        pa.scope = Some("PUBLIC".into());
        pb.scope = Some("PUBLIC".into());
        assert_eq!(thread(&pa), thread(&pb));
        assert_eq!(source(&pa), source(&pb));
    }
}
