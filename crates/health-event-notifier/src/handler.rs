//! The I/O edge: read the event, add the account's tags (Organizations) for tag routes, and
//! hand the notice to the delivery pipeline (which routes, dedupes, threads and posts).

use opswatch_delivery::{BAD_INPUT, Delivery, Notice, Outcome, Tags};
use opswatch_support::Failure;
use serde_json::{Value, json};

use crate::event::HealthEvent;
use crate::{render, weigh};

/// Everything an invocation needs; built once per execution environment.
pub struct Notifier {
    pub delivery: Delivery,
}

impl Notifier {
    /// Handle one EventBridge event. The response:
    /// `{"records", "alerts", "messagesPosted", "deduplicated", …, "eventArn", "status"}`.
    pub async fn handle(&self, event: Value) -> Result<Value, Failure> {
        let mut out = Outcome::new("AWS Health event");
        let e = match HealthEvent::parse(&event) {
            Ok(e) => e,
            Err(why) => {
                out.stop(BAD_INPUT, why.to_string());
                return out.finish();
            }
        };
        out.received(1);
        out.set("eventArn", json!(e.arn));
        out.set("status", json!(e.status.word()));
        if e.backup {
            tracing::debug!(event_arn = %e.arn, "the backup region's copy: posted only if the primary's was not");
        }
        let notice = self.notice(&e).await;
        if let Err(why) = self.delivery.deliver(notice, &mut out).await {
            out.delivery_failed(0, e.id.as_deref(), &why);
        }
        out.finish()
    }

    /// The notice for an event: its alert, severity, account, rule (the event type code),
    /// tags, thread and version.
    pub async fn notice(&self, e: &HealthEvent) -> Notice {
        let mut notice = Notice::new(
            render::alert(e, self.delivery.names()),
            weigh::severity(e),
            weigh::source(e),
        )
        .rule(e.type_code.clone())
        .tags(self.tags(e).await)
        .thread(weigh::thread(e))
        .subject(e.type_code.clone())
        .thread_lasts(weigh::THREAD_LASTS);
        if let Some(account) = e.about_account() {
            notice = notice.account(account);
        }
        // A later page lists more entities: a reply that leaves the parent as it is.
        if e.page.0 == 1
            && let Some(version) = e.version()
        {
            notice = notice.parent_version(version);
        }
        notice
    }

    /// The tags tag routes see: the account's in Organizations (when names come from it),
    /// overlaid by the tags every affected entity shares.
    async fn tags(&self, e: &HealthEvent) -> Tags {
        let mut tags: Tags = match e.about_account() {
            Some(account) => self
                .delivery
                .account_tags(account)
                .await
                .map(|t| (*t).clone())
                .unwrap_or_default(),
            None => Tags::new(),
        };
        tags.extend(e.shared_tags());
        tags
    }
}
