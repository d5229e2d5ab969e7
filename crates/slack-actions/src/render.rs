//! What this function says in Slack (pure): a mute's announcement in the alert's thread,
//! the note that replaces it when lifted, the `/opswatch` answers. Everything from outside
//! (subjects, rules) goes through [`Mrkdwn`] escaping; users are mentioned by checked id.

use opswatch_delivery::store::Mute;
use opswatch_slack::Mrkdwn;
use opswatch_slack::actions::{ANY_RULE, ActionKey, Scope};
use serde_json::{Value, json};

fn section(m: &Mrkdwn) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": m.as_str()}})
}

fn context(m: &Mrkdwn) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": m.as_str()}]})
}

/// `function · rule · subject`, the rule shown as "every rule" for `*`.
pub fn scope_line(scope: &Scope) -> Mrkdwn {
    let mut m = Mrkdwn::new();
    m.push_code(&scope.function);
    m.push_trusted(" · ");
    if scope.rule == ANY_RULE {
        m.push_trusted("every rule");
    } else {
        m.push_code(&scope.rule);
    }
    m.push_trusted(" · ");
    m.push_code(&opswatch_slack::truncate_plain(&scope.subject, 400));
    m
}

/// The announcement of a mute, posted in the alert's thread, with its `Unmute` button.
pub fn muted(m: &Mute, label: &str, key: &ActionKey) -> (String, Vec<Value>) {
    let mut head = Mrkdwn::trusted(":no_bell: Muted for ");
    head.push(label);
    head.push_trusted(" by ");
    head.push_user(&m.by);
    head.push_trusted(": ");
    head.push_mrkdwn(&scope_line(&m.scope));
    let mut note = Mrkdwn::trusted("Until ");
    note.push(&opswatch_support::rfc3339(m.until));
    note.push_trusted(" · mute ");
    note.push_code(&m.id);
    note.push_trusted(" · critical alerts are always posted · `/opswatch unmute ");
    note.push(&m.id);
    note.push_trusted("` lifts it");
    // The fallback is mrkdwn too (notifications): escaped like the rest.
    let text = opswatch_slack::escape(&format!(
        "Muted for {label}: {} {} {}",
        m.scope.function, m.scope.rule, m.scope.subject
    ));
    let blocks = vec![
        section(&head),
        context(&note),
        serde_json::to_value(key.unmute_block(&m.id)).unwrap_or(Value::Null),
    ];
    (opswatch_slack::truncate_plain(&text, 300), blocks)
}

/// What replaces the announcement once the mute is lifted.
pub fn unmuted(by: &str, at: i64, scope: Option<&Scope>) -> (String, Vec<Value>) {
    let mut head = Mrkdwn::trusted(":bell: Unmuted by ");
    head.push_user(by);
    head.push_trusted(" at ");
    head.push(&opswatch_support::rfc3339(at));
    if let Some(scope) = scope {
        head.push_trusted(": ");
        head.push_mrkdwn(&scope_line(scope));
    }
    ("Unmuted".to_owned(), vec![section(&head)])
}

/// An ephemeral answer (seen by the one user only).
pub fn ephemeral(text: &Mrkdwn) -> Value {
    json!({"response_type": "ephemeral", "text": text.as_str(), "blocks": [section(text)]})
}

/// `/opswatch mutes`.
pub fn mutes(list: &[Mute]) -> Value {
    if list.is_empty() {
        return ephemeral(&Mrkdwn::trusted(":bell: No active mutes."));
    }
    let mut blocks = vec![section(&{
        let mut m = Mrkdwn::trusted(":no_bell: *Active mutes* (");
        m.push(&list.len().to_string());
        m.push_trusted(")");
        m
    })];
    // 40 mutes in full; the rest counted.
    for m in list.iter().take(40) {
        let mut line = Mrkdwn::new();
        line.push_code(&m.id);
        line.push_trusted(" ");
        line.push_mrkdwn(&scope_line(&m.scope));
        line.push_trusted("\nuntil ");
        line.push(&opswatch_support::rfc3339(m.until));
        if !m.by.is_empty() {
            line.push_trusted(" · by ");
            line.push_user(&m.by);
        }
        blocks.push(section(&line.truncated(2900)));
    }
    if list.len() > 40 {
        let mut more = Mrkdwn::new();
        more.push(&format!("… and {} more", list.len() - 40));
        blocks.push(context(&more));
    }
    blocks.push(context(&Mrkdwn::trusted(
        "`/opswatch unmute &lt;id&gt;` lifts one",
    )));
    let count = match list.len() {
        1 => "1 active mute".to_owned(),
        n => format!("{n} active mutes"),
    };
    json!({"response_type": "ephemeral", "text": count, "blocks": blocks})
}

/// `/opswatch` with anything it does not know.
pub fn usage() -> Value {
    ephemeral(&Mrkdwn::trusted(
        "`/opswatch mutes` lists the active mutes · `/opswatch unmute &lt;id&gt;` lifts one",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opswatch_slack::Secret;

    fn mute() -> Mute {
        Mute {
            id: "0123456789abcdef".into(),
            scope: Scope::new(
                "cloudtrail-event-handler",
                None,
                "111122223333/arn:aws:iam::111122223333:user/<!channel>",
            ),
            until: 1_764_979_200,
            by: "U0ONCALL01".into(),
            at: 1_764_892_800,
        }
    }

    #[test]
    fn answers_escape_what_comes_from_outside() {
        let key = ActionKey::from_signing_secret(&Secret::new("s"));
        let (text, blocks) = muted(&mute(), "24 hours", &key);
        let all = serde_json::to_string(&blocks).unwrap();
        assert!(!all.contains("<!channel>"), "{all}");
        assert!(all.contains("&lt;!channel&gt;"), "{all}");
        assert!(all.contains("<@U0ONCALL01>"), "{all}");
        assert!(!text.contains("<!channel>"), "{text}");
        insta::assert_json_snapshot!("muted", json!({"text": text, "blocks": blocks}));
        insta::assert_json_snapshot!(
            "unmuted",
            unmuted("U0ONCALL01", 1_764_900_000, Some(&mute().scope)).1
        );
        insta::assert_json_snapshot!("mutes", mutes(&[mute()]));
        assert_eq!(mutes(&[])["text"], ":bell: No active mutes.");
        // A user id that is not one is shown as text, never as markup.
        let mut forged = mute();
        forged.by = "!channel".into();
        let all = mutes(&[forged]).to_string();
        assert!(
            !all.contains("<!channel>") && !all.contains("<@!channel>"),
            "{all}"
        );
    }
}
