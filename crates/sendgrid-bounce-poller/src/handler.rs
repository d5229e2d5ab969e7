//! One scheduled run: the windows since the checkpoint, every entry of each configured
//! suppression list for each window from SendGrid, delivered through the pipeline (one alert
//! per destination, grouped by list), and only then the checkpoint moved past the window.

use opswatch_delivery::{BAD_INPUT, Delivery, Groups, Notice, Outcome, Severity};
use opswatch_support::Failure;
use serde_json::Value;

use crate::render;
use crate::sendgrid::{Bounce, List, SendGrid, SendGridError, Spent};
use opswatch_support::checkpoint::{Checkpoint, CheckpointError};
use opswatch_support::window;

pub struct Poller {
    pub delivery: Delivery,
    pub sendgrid: SendGrid,
    pub checkpoint: Option<Checkpoint>,
    /// Seconds looked back when there is no checkpoint (`POLL_INTERVAL`).
    pub interval: i64,
    /// Longest window asked of SendGrid at once (`MAX_WINDOW`).
    pub max_window: i64,
    /// How far behind the schedule's time a window ends (`SETTLE_DELAY`): an entry that
    /// SendGrid shows a little after its `created` time is still in the window that covers
    /// it when that window is read.
    pub settle: i64,
    pub notify_when_empty: bool,
    pub mask_emails: bool,
    /// Entries of one list in one window that make a warning; fewer are info.
    pub warn_count: usize,
    /// The lists polled (`SENDGRID_LISTS`).
    pub lists: Vec<List>,
}

/// Why a run stopped: the `errorType` and the one line.
type Stop = (&'static str, String);

fn sendgrid_error(e: SendGridError) -> Stop {
    let t = if e.is_configuration() {
        "ConfigurationError"
    } else {
        "SendGridError"
    };
    (t, e.to_string())
}

fn checkpoint_error(e: CheckpointError) -> Stop {
    ("CheckpointError", e.to_string())
}

impl Poller {
    /// The response: `{"from", "to", "windows", "bounces", "blocks", "spamReports",
    /// "invalidEmails" (the lists polled), "messagesPosted", …}`.
    pub async fn handle(&self, event: Value) -> Result<Value, Failure> {
        let mut out = Outcome::new("window");
        out.set("from", "");
        out.set("to", "");
        for list in &self.lists {
            out.count(list.count_key(), 0);
        }
        if let Err((error_type, message)) = self.run(&event, &mut out).await {
            out.stop(error_type, message);
        }
        out.finish()
    }

    async fn run(&self, event: &Value, out: &mut Outcome) -> Result<(), Stop> {
        let end =
            opswatch_support::scheduled_time(event).map_err(|e| (BAD_INPUT, e))? - self.settle;
        let checkpoint = match &self.checkpoint {
            Some(c) => c.read().await.map_err(checkpoint_error)?,
            None => None,
        };
        let windows = window::windows(end, checkpoint, self.interval, self.max_window);
        out.set("windows", windows.len());
        let Some(&(first, _)) = windows.first() else {
            tracing::info!(checkpoint, end, "nothing new since the checkpoint");
            return Ok(());
        };
        out.set("from", render::time(first));
        out.set("to", render::time(end));
        let mut total = 0;
        // One rate-limit budget and one page budget for the whole run, across lists and windows.
        let mut spent = Spent::default();
        'windows: for (n, (a, b)) in windows.into_iter().enumerate() {
            out.received(1);
            let mut found: Vec<(List, Vec<Bounce>)> = Vec::with_capacity(self.lists.len());
            for &list in &self.lists {
                let entries = match self.sendgrid.list(list, a, b - 1, &mut spent).await {
                    Ok(entries) => entries,
                    // The run's page budget is spent after whole windows: they stand, the
                    // checkpoint is past them, and the next run goes on from there.
                    Err(e) if e.is_page_cap() && n > 0 => {
                        tracing::warn!(pages = spent.pages, next = %render::time(a), "SENDGRID_MAX_PAGES reached: the rest of the backlog is read by the next runs");
                        out.set("pageCapReached", true);
                        break 'windows;
                    }
                    Err(e) => {
                        let (t, m) = sendgrid_error(e);
                        return Err((t, format!("{m} (the {} list)", list.name())));
                    }
                };
                out.count(list.count_key(), entries.len());
                total += entries.len();
                found.push((list, entries));
            }
            // Each list routes by its own rule and weight; lists going to one destination
            // share one alert.
            let mut groups: Groups<Vec<(List, Vec<Bounce>)>> = Groups::default();
            for (list, entries) in found.into_iter().filter(|(_, e)| !e.is_empty()) {
                groups
                    .by_route(
                        &self.delivery,
                        severity(entries.len(), self.warn_count),
                        None,
                        Some(list.name()),
                        None,
                    )
                    .push((list, entries));
            }
            // The window is the source: a retried run finds what it already posted.
            let notices = groups.into_notices(&format!("window/{a}-{b}"), |found| {
                Some(render::alert(&found, a, b, self.mask_emails))
            });
            for notice in notices {
                self.deliver(notice, out, a).await?;
            }
            if let Some(c) = &self.checkpoint {
                c.write(b).await.map_err(checkpoint_error)?;
            }
        }
        if total == 0 && self.notify_when_empty {
            let notice = Notice::new(
                render::none(&self.lists, first, end),
                Severity::Info,
                format!("window/{first}-{end}/none"),
            )
            .rule("no-bounces");
            self.deliver(notice, out, end).await?;
        }
        Ok(())
    }

    async fn deliver(
        &self,
        notice: Notice,
        out: &mut Outcome,
        checkpoint: i64,
    ) -> Result<(), Stop> {
        self.delivery.deliver(notice, out).await.map_err(|e| {
            (
                e.error_type(),
                format!(
                    "{e} (the checkpoint stays at {}; the next run posts what was not posted)",
                    render::time(checkpoint)
                ),
            )
        })
    }
}

/// A list's weight in a window: a **warning** from `warn_count` entries on, else **info**.
pub fn severity(bounces: usize, warn_count: usize) -> Severity {
    if bounces >= warn_count {
        Severity::Warning
    } else {
        Severity::Info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_weighs_by_its_bounces() {
        assert_eq!(severity(1, 50), Severity::Info);
        assert_eq!(severity(49, 50), Severity::Info);
        assert_eq!(severity(50, 50), Severity::Warning);
        assert_eq!(severity(3, 3), Severity::Warning);
    }
}
