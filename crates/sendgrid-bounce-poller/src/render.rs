//! Slack alerts for suppressions (pure): the counts and the window, then one line per entry
//! (time, address, and what the list has: status and reason, or the IP a spam report came
//! from), grouped by list, continued in further messages when long.

use opswatch_slack::{Alert, Mrkdwn};
pub use opswatch_support::rfc3339 as time;

use crate::sendgrid::{Bounce, List};

const REASON_CHARS: usize = 300;

/// `jane.doe@example.com` → `j…@example.com`.
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

pub fn line(b: &Bounce, mask_emails: bool) -> Mrkdwn {
    let mut m = Mrkdwn::trusted("• ");
    m.push_code(&time(b.created));
    m.push_trusted(" ");
    if mask_emails {
        m.push_bold(&mask(&b.email));
    } else {
        m.push_bold(&b.email);
    }
    if !b.status.trim().is_empty() {
        m.push_trusted(" ");
        m.push_code(b.status.trim());
    }
    let reason = b.reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if !reason.is_empty() {
        m.push_trusted(" — ");
        m.push(&opswatch_slack::truncate_plain(&reason, REASON_CHARS));
    }
    if !b.ip.trim().is_empty() {
        m.push_trusted(" from ");
        m.push_code(&opswatch_slack::truncate_plain(b.ip.trim(), 64));
    }
    m
}

/// The alert for a window's entries, list by list (`start..end`, half-open); a list with
/// no entries is left out, and a single list needs no heading.
pub fn alert(found: &[(List, Vec<Bounce>)], start: i64, end: i64, mask_emails: bool) -> Alert {
    let found: Vec<&(List, Vec<Bounce>)> = found.iter().filter(|(_, e)| !e.is_empty()).collect();
    let counts: Vec<String> = found.iter().map(|(l, e)| l.count(e.len())).collect();
    let header = format!("SendGrid: {}", counts.join(", "));
    let mut lines = Vec::new();
    for (list, entries) in &found {
        if found.len() > 1 {
            let mut h = Mrkdwn::new();
            h.push_bold(&heading(*list));
            h.push(&format!(" ({})", entries.len()));
            lines.push(h);
        }
        lines.extend(entries.iter().map(|b| line(b, mask_emails)));
    }
    Alert::new(
        header.clone(),
        format!("{header} between {} and {}", time(start), time(end)),
    )
    .field(
        "Window",
        Mrkdwn::text(&format!("{} → {}", time(start), time(end))),
    )
    .lines(lines)
}

fn heading(list: List) -> String {
    match list {
        List::Bounces => "Bounces",
        List::Blocks => "Blocks",
        List::SpamReports => "Spam reports",
        List::InvalidEmails => "Invalid addresses",
    }
    .into()
}

/// The alert for a window's bounces (`start..end`, half-open).
pub fn bounces(bounces: &[Bounce], start: i64, end: i64, mask_emails: bool) -> Alert {
    alert(
        &[(List::Bounces, bounces.to_vec())],
        start,
        end,
        mask_emails,
    )
}

/// What `NOTIFY_WHEN_EMPTY` posts: `SendGrid: no bounces`, or with several lists
/// `SendGrid: nothing new (bounces, blocks)`.
pub fn none(lists: &[List], start: i64, end: i64) -> Alert {
    let header = match lists {
        [List::Bounces] | [] => "SendGrid: no bounces".to_owned(),
        _ => format!(
            "SendGrid: nothing new ({})",
            lists
                .iter()
                .map(|l| l.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Alert::new(
        header.clone(),
        format!("{header} between {} and {}", time(start), time(end)),
    )
    .field(
        "Window",
        Mrkdwn::text(&format!("{} → {}", time(start), time(end))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(created: i64, email: &str, status: &str, reason: &str) -> Bounce {
        Bounce {
            created,
            email: email.into(),
            status: status.into(),
            reason: reason.into(),
            ip: String::new(),
        }
    }

    #[test]
    fn lists_grouped_each_with_what_it_has() {
        let spam = Bounce {
            ip: "10.63.202.100 <!here>".into(),
            ..b(1_795_597_300, "user1@example.com", "", "")
        };
        let found = [
            (
                List::Bounces,
                vec![b(
                    1_795_597_385,
                    "jane.doe@example.com",
                    "5.1.1",
                    "550 no such user",
                )],
            ),
            (List::Blocks, vec![]),
            (List::SpamReports, vec![spam]),
            (
                List::InvalidEmails,
                vec![b(
                    1_795_597_400,
                    "user@example",
                    "",
                    "Mail domain mentioned in email address is unknown",
                )],
            ),
        ];
        let messages = alert(&found, 1_795_597_200, 1_795_597_800, false).into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(!text.contains("<!here>"), "{text}");
        assert!(
            !text.contains("Blocks"),
            "an empty list is left out: {text}"
        );
        insta::assert_json_snapshot!(messages);
    }

    #[test]
    fn message() {
        let list = [
            b(
                1_795_597_385,
                "jane.doe@example.com",
                "5.1.1",
                "550 5.1.1 The email account that you tried to reach does not exist.",
            ),
            b(
                1_795_597_412,
                "ops@<!channel>.example",
                "4.2.2",
                "452 4.2.2 Mailbox full <https://evil.example|click> & more\n\nsecond line",
            ),
        ];
        let messages = bounces(&list, 1_795_597_200, 1_795_597_800, false).into_messages();
        let text = serde_json::to_string(&messages).unwrap();
        assert!(
            !text.contains("<!channel>") && !text.contains("<https://evil"),
            "{text}"
        );
        insta::assert_json_snapshot!(messages);
        let masked = serde_json::to_string(&bounces(&list, 0, 1, true).into_messages()).unwrap();
        assert!(
            masked.contains("j…@example.com") && !masked.contains("jane.doe"),
            "{masked}"
        );
    }

    #[test]
    fn many_bounces_continue_without_loss() {
        let list: Vec<Bounce> = (0..1000)
            .map(|i| {
                b(
                    1_795_597_200 + i,
                    &format!("user{i:04}@example.com"),
                    "5.1.1",
                    "550 no such user",
                )
            })
            .collect();
        let messages = bounces(&list, 1_795_597_200, 1_795_598_200, false).into_messages();
        assert!(messages.len() > 1);
        let all = serde_json::to_string(&messages).unwrap();
        for i in 0..1000 {
            assert_eq!(
                all.matches(&format!("user{i:04}@")).count(),
                1,
                "bounce {i}"
            );
        }
    }
}
