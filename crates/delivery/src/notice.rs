//! What a handler hands to the pipeline ([`Notice`]) and why an alert was not delivered
//! ([`DeliveryError`]).

use opswatch_slack::{Alert, SlackError};

use crate::outcome::{CONFIGURATION_ERROR, Outcome, SLACK_DELIVERY_FAILED};
use crate::{RouteId, Severity};

/// What a handler hands to the pipeline: one alert and what the pipeline needs to know
/// about it.
#[derive(Clone, Debug)]
pub struct Notice {
    pub alert: Alert,
    pub severity: Severity,
    /// The AWS account the alert is about, for routes.
    pub account: Option<String>,
    /// The rule that raised it (`root-activity`, `compliance-change`, …), for routes.
    pub rule: Option<String>,
    /// The tags of what the alert is about (a Config item's, an RDS resource's, the
    /// account's in Organizations), for tag routes.
    pub tags: Option<crate::Tags>,
    /// Alerts that share a thread key within `THREAD_WINDOW` go to one thread (Web API mode
    /// with `DEDUPE_TABLE`).
    pub thread: Option<String>,
    /// What the alert is about, for mutes (a mute is function + rule + subject): a
    /// CloudTrail principal, a Config resource, an audit cluster and user, an RDS resource,
    /// a SendGrid list. The thread key unless set otherwise; `None`: it cannot be muted.
    pub subject: Option<String>,
    /// Where the alert comes from: the same event gives the same source on every delivery
    /// (`sns/<MessageId>`, `s3/<bucket>/<key>@<etag>/<group>`, `window/<from>-<to>`); the
    /// message keys derive from it. Never the clock or the request id.
    pub source: String,
    /// The route, when the handler already split its events by route.
    pub route: Option<RouteId>,
    /// How long the thread lasts from its first alert, instead of `THREAD_WINDOW`: for
    /// something that lives longer than a burst of alerts (an AWS Health event).
    pub thread_lasts: Option<std::time::Duration>,
    /// This alert is a newer state of what its thread is about: the parent is edited to show
    /// it (its first message) when `version` is above every version the thread has shown. An
    /// older version arriving late is a reply and leaves the parent as it is.
    pub parent_version: Option<i64>,
}

impl Notice {
    pub fn new(alert: Alert, severity: Severity, source: impl Into<String>) -> Self {
        Self {
            alert,
            severity,
            account: None,
            rule: None,
            tags: None,
            thread: None,
            subject: None,
            source: source.into(),
            route: None,
            thread_lasts: None,
            parent_version: None,
        }
    }

    pub fn account(mut self, account: impl Into<String>) -> Self {
        let a: String = account.into();
        self.account = (!a.is_empty()).then_some(a);
        self
    }

    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// The tags tag routes match (an empty set matches no tag route).
    pub fn tags(mut self, tags: crate::Tags) -> Self {
        self.tags = Some(tags);
        self
    }

    /// The thread key (and the subject, unless one is set).
    pub fn thread(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if self.subject.is_none() {
            self.subject = Some(key.clone());
        }
        self.thread = Some(key);
        self
    }

    /// What the alert is about, for mutes.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The thread lasts this long from its first alert (instead of `THREAD_WINDOW`).
    pub fn thread_lasts(mut self, lasts: std::time::Duration) -> Self {
        self.thread_lasts = Some(lasts);
        self
    }

    /// The thread's parent shows this alert while `version` is the newest it has seen.
    pub fn parent_version(mut self, version: i64) -> Self {
        self.parent_version = Some(version);
        self
    }

    pub fn route(mut self, route: RouteId) -> Self {
        self.route = Some(route);
        self
    }
}

/// Why an alert was not (fully) delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A setting is wrong (Slack said so, or we knew): the invocation stops, nothing is
    /// retried.
    #[error("{0}")]
    Configuration(SlackError),
    /// Slack could not be reached in time, the message is being posted by another
    /// invocation, or the dedupe table cannot be reached: the event source's retry will
    /// post what is missing.
    #[error("{0}")]
    Failed(String),
}

impl DeliveryError {
    pub fn error_type(&self) -> &'static str {
        match self {
            DeliveryError::Configuration(_) => CONFIGURATION_ERROR,
            DeliveryError::Failed(_) => SLACK_DELIVERY_FAILED,
        }
    }
}

impl Outcome {
    /// Record a delivery failure of unit `index`: a configuration error stops the
    /// invocation; anything else fails this unit only.
    pub fn delivery_failed(&mut self, index: usize, id: Option<&str>, e: &DeliveryError) {
        match e {
            DeliveryError::Configuration(_) => self.stop(CONFIGURATION_ERROR, e.to_string()),
            DeliveryError::Failed(_) => {
                self.unit_failed(index, id, SLACK_DELIVERY_FAILED, e.to_string())
            }
        }
    }
}
