//! The Slack alert for one AWS Health notice (pure): what, where and in which state in the
//! header; event type, category, status, region, account (with its name), times as fields;
//! the latest description and the affected entities (with their tags) as the body. Every
//! string from the event is escaped; the header is plain text.

use opswatch_slack::{Alert, Mrkdwn};
use opswatch_support::AccountNames;

use crate::event::{Category, Entity, HealthEvent, Status, Time, is_event_arn};

/// Entities listed in one alert; the rest are counted ("…and N more").
pub const MAX_ENTITIES: usize = 100;
const ENTITY_CHARS: usize = 300;

/// What kind of notice, in words.
pub fn kind(e: &HealthEvent) -> &str {
    if e.abuse {
        return "abuse report";
    }
    match &e.category {
        Category::Issue => "issue",
        Category::ScheduledChange => "scheduled change",
        Category::AccountNotification => "account notification",
        Category::Investigation => "investigation",
        Category::Other(s) => s,
    }
}

/// `AWS Health issue · EC2 · us-east-1 — resolved`.
pub fn header(e: &HealthEvent) -> String {
    let mut h = format!("AWS Health {} · {}", kind(e), e.service);
    if let Some(region) = e.region.as_deref().filter(|r| !r.is_empty()) {
        h.push_str(" · ");
        h.push_str(region);
    }
    h.push_str(" — ");
    h.push_str(e.status.word());
    h
}

/// A time: RFC 3339 UTC when it could be read, else as the event wrote it.
fn when(t: &Time) -> Mrkdwn {
    match t.epoch {
        Some(secs) => Mrkdwn::text(&opswatch_support::rfc3339(secs)),
        None => Mrkdwn::text(&t.raw),
    }
}

fn code(s: &str) -> Mrkdwn {
    let mut m = Mrkdwn::new();
    m.push_code(s);
    m
}

/// The account line: `111122223333 (prod)`, or what a public event is about.
pub fn account(e: &HealthEvent, names: &AccountNames) -> Mrkdwn {
    match e.about_account() {
        Some(id) => Mrkdwn::text(&names.label(id)),
        None if e.is_public() => Mrkdwn::trusted("public: every account using the service there"),
        None => Mrkdwn::new(),
    }
}

fn status(e: &HealthEvent) -> Mrkdwn {
    let mut m = match e.status {
        Status::Closed => Mrkdwn::trusted(":white_check_mark: "),
        _ => Mrkdwn::new(),
    };
    m.push_bold(e.status.word());
    m
}

fn entity_line(entity: &Entity) -> Mrkdwn {
    let mut m = Mrkdwn::trusted("• ");
    m.push_code(&opswatch_slack::truncate_plain(&entity.value, ENTITY_CHARS));
    if let Some(s) = entity.status.as_deref().filter(|s| !s.is_empty()) {
        m.push(&format!(" ({s})"));
    }
    if !entity.tags.is_empty() {
        let tags: Vec<String> = entity
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        m.push_trusted(" — ");
        m.push(&opswatch_slack::truncate_plain(
            &tags.join(", "),
            ENTITY_CHARS,
        ));
    }
    m
}

/// The entities, at most [`MAX_ENTITIES`], then how many more.
fn entity_lines(e: &HealthEvent) -> Vec<Mrkdwn> {
    if e.entities.is_empty() {
        return Vec::new();
    }
    let mut heading = Mrkdwn::new();
    heading.push_bold("Affected entities");
    heading.push(&format!(" ({})", e.entities.len()));
    let mut lines = vec![heading];
    lines.extend(e.entities.iter().take(MAX_ENTITIES).map(entity_line));
    if e.entities.len() > MAX_ENTITIES {
        lines.push(Mrkdwn::text(&format!(
            "…and {} more (see the event in AWS Health)",
            e.entities.len() - MAX_ENTITIES
        )));
    }
    lines
}

/// The description's lines, runs of blank lines made one.
fn description_lines(text: &str) -> Vec<Mrkdwn> {
    let mut lines = Vec::new();
    let mut blank = true;
    for line in text.lines().map(str::trim_end) {
        if line.trim().is_empty() {
            if !blank {
                lines.push(Mrkdwn::new());
            }
            blank = true;
        } else {
            lines.push(Mrkdwn::text(line));
            blank = false;
        }
    }
    if lines.last().is_some_and(Mrkdwn::is_empty) {
        lines.pop();
    }
    lines
}

/// The context line: the event's ARN, and where to open it.
fn context(e: &HealthEvent) -> Mrkdwn {
    let mut m = Mrkdwn::trusted("AWS Health ");
    m.push_code(&e.arn);
    // Only an ARN of the documented shape (no characters of markup) makes a link, and
    // only in the commercial partition, whose console this is.
    if is_event_arn(&e.arn) && e.arn.starts_with("arn:aws:") {
        m.push_trusted(" · ");
        m.push_link(
            &format!(
                "https://health.aws.amazon.com/health/home#/account/event-log?eventID={}&eventTab=details",
                e.arn
            ),
            "open in AWS Health",
        );
    }
    m
}

fn fields(alert: Alert, e: &HealthEvent, names: &AccountNames) -> Alert {
    let mut region = Mrkdwn::text(e.region.as_deref().unwrap_or_default());
    if let Some(az) = e.availability_zone.as_deref().filter(|a| !a.is_empty()) {
        region.push(&format!(" ({az})"));
    }
    let pages = if e.page.1 > 1 {
        Mrkdwn::text(&format!("{} of {}", e.page.0, e.page.1))
    } else {
        Mrkdwn::new()
    };
    alert
        .field("Event type", code(&e.type_code))
        .field("Category", Mrkdwn::text(e.category.code()))
        .field("Status", status(e))
        .field("Region", region)
        .field("Account", account(e, names))
        .field("Start", e.start.as_ref().map(when).unwrap_or_default())
        .field("End", e.end.as_ref().map(when).unwrap_or_default())
        .field(
            "Last updated",
            e.last_updated.as_ref().map(when).unwrap_or_default(),
        )
        .field(
            "Actionability",
            Mrkdwn::text(e.actionability.as_deref().unwrap_or_default()),
        )
        .field("Page", pages)
}

fn fallback(e: &HealthEvent) -> String {
    format!("{} ({})", header(e), e.type_code)
}

/// The alert for a notice: the first page of an event, with its description.
pub fn alert(e: &HealthEvent, names: &AccountNames) -> Alert {
    if e.page.0 > 1 {
        return more_entities(e, names);
    }
    let description = e
        .description
        .as_deref()
        .map(description_lines)
        .unwrap_or_default();
    fields(Alert::new(header(e), fallback(e)), e, names)
        .lines(description)
        .lines(entity_lines(e))
        .context(context(e))
}

/// A later page of an event: it differs from the first only in its entities.
fn more_entities(e: &HealthEvent, names: &AccountNames) -> Alert {
    let header = format!(
        "{} · more affected entities ({} of {})",
        header(e),
        e.page.0,
        e.page.1
    );
    Alert::new(header.clone(), format!("{header} ({})", e.type_code))
        .field("Event type", code(&e.type_code))
        .field("Account", account(e, names))
        .lines(entity_lines(e))
        .context(context(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/health/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect("json")
    }

    fn event(name: &str) -> HealthEvent {
        HealthEvent::parse(&sample(name)).expect("a Health event")
    }

    fn names() -> AccountNames {
        AccountNames::parse("111122223333=prod,444455556666=staging").unwrap()
    }

    #[test]
    fn an_issue_says_what_where_and_its_state() {
        let open = alert(&event("issue-1-open.json"), &names());
        assert_eq!(open.header, "AWS Health issue · EC2 · us-east-1 — open");
        let closed = alert(&event("issue-3-closed.json"), &names());
        assert_eq!(
            closed.header,
            "AWS Health issue · EC2 · us-east-1 — resolved"
        );
        let messages = closed.into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        for expected in [
            "AWS_EC2_OPERATIONAL_ISSUE",
            "111122223333 (prod)",
            "2024-12-05T09:32:00Z",
            "2024-12-05T10:55:00Z",
            "[RESOLVED] Between 9:32 AM",
            "i-0a1b2c3d4e5f60718",
            "stage=prod, team=payments",
            "open in AWS Health",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        insta::assert_json_snapshot!("issue_closed", messages);
    }

    #[test]
    fn the_organization_view_names_the_affected_account() {
        let messages = alert(&event("org-view-ec2-retirement.json"), &names()).into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(text.contains("444455556666 (staging)"), "{text}");
        assert!(!text.contains("111122223333"), "{text}");
        insta::assert_json_snapshot!("org_view", messages);
    }

    #[test]
    fn outside_text_cannot_ping_or_link() {
        let mut e = event("issue-1-open.json");
        e.description = Some("<!channel> see <https://evil.example|the fix> & more".into());
        e.entities[0].tags.insert("owner".into(), "<!here>".into());
        e.entities[0].value = "<@U123>".into();
        e.service = "<!everyone>".into();
        let text = serde_json::to_string(&alert(&e, &names()).into_messages()).unwrap();
        for bad in ["<!channel>", "<!here>", "<@U123>", "<https://evil"] {
            assert!(!text.contains(bad), "{bad} in {text}");
        }
        assert!(
            text.contains("&lt;!channel&gt; see &lt;https://evil.example|the fix&gt; &amp; more"),
            "{text}"
        );
    }

    #[test]
    fn an_odd_arn_is_shown_but_never_linked() {
        let mut e = event("issue-1-open.json");
        e.arn = "arn:aws:health:us-east-1::event/EC2/X/Y>|<x".into();
        let text = serde_json::to_string(&alert(&e, &names()).into_messages()).unwrap();
        assert!(!text.contains("open in AWS Health"), "{text}");
    }

    #[test]
    fn many_entities_are_counted_past_the_cap_and_later_pages_list_theirs() {
        let mut e = event("scheduled-rds-maintenance.json");
        let one = e.entities[0].clone();
        e.entities = (0..MAX_ENTITIES + 7)
            .map(|i| Entity {
                value: format!("db-{i:04}"),
                ..one.clone()
            })
            .collect();
        let messages = alert(&e, &names()).into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(text.contains("…and 7 more"), "{text}");
        assert!(messages.iter().all(|m| m.limit_violation().is_none()));
        e.page = (2, 3);
        let page = alert(&e, &names());
        assert!(
            page.header.ends_with("more affected entities (2 of 3)"),
            "{}",
            page.header
        );
        let text = serde_json::to_string(&page.into_messages()).unwrap();
        assert!(
            text.contains("db-0000") && !text.contains("operating system updates"),
            "{text}"
        );
    }

    #[test]
    fn every_sample_fits_slacks_limits() {
        let dir = format!("{}/../../events/health", env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let e = HealthEvent::parse(
                &serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
            )
            .unwrap();
            for m in alert(&e, &names()).into_messages() {
                assert_eq!(m.limit_violation(), None, "{}", path.display());
            }
            n += 1;
        }
        assert!(n >= 6, "{n} samples");
    }

    proptest::proptest! {
        /// Any description, however long and whatever it holds, is laid out within Slack's
        /// limits and never carries a mention.
        #[test]
        fn any_description_fits_and_pings_nobody(text in "(<!channel>|[a-z <>&|\n]{0,40}){0,400}") {
            let mut e = event("issue-2-updated.json");
            e.description = Some(text);
            for m in alert(&e, &names()).into_messages() {
                proptest::prop_assert_eq!(m.limit_violation(), None);
                proptest::prop_assert!(!serde_json::to_string(&m).unwrap().contains("<!channel>"));
            }
        }
    }
}
