//! What a verified request asks (pure): a click on one of opswatch's buttons (an
//! interactivity `block_actions` payload), the `/opswatch` slash command, or Slack's
//! `ssl_check`. Anything else signed by Slack is [`Malformed`].

use serde_json::Value;

/// A click.
#[derive(Clone, Debug, PartialEq)]
pub struct Click {
    pub user: String,
    /// The channel's id and the message's `ts` the button is on.
    pub channel: String,
    pub message_ts: String,
    /// The thread the message is in, if it is a reply.
    pub thread_ts: Option<String>,
    /// The message as Slack shows it (`text`, `blocks`).
    pub message: Value,
    pub action_id: String,
    /// The button's value, or the chosen option's.
    pub value: String,
}

/// The `/opswatch` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub user: String,
    pub channel: String,
    /// What follows the command (`mutes`, `unmute <id>`).
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Click(Click),
    Command(Command),
    /// Slack checking the URL's certificate (signed like everything else).
    SslCheck,
    /// Interactivity Slack sends that opswatch does not use (a shortcut, a modal): nothing
    /// to do.
    Other(String),
}

/// A signed body that is not what Slack sends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed request: {0}")]
pub struct Malformed(pub String);

fn bad(why: impl Into<String>) -> Malformed {
    Malformed(why.into())
}

/// A Slack id (user, channel): upper-case letters and digits.
fn id(v: &Value, what: &str) -> Result<String, Malformed> {
    v.as_str()
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 32
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("{what} is not a Slack id")))
}

/// A message `ts` (`1733374800.000100`).
fn ts(v: &Value, what: &str) -> Result<String, Malformed> {
    v.as_str()
        .filter(|s| {
            !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("{what} is not a message ts")))
}

pub fn parse(body: &[u8]) -> Result<Payload, Malformed> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| bad("the body is not a form"))?;
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if field("ssl_check") == Some("1") {
        return Ok(Payload::SslCheck);
    }
    if let Some(payload) = field("payload") {
        let p: Value = serde_json::from_str(payload).map_err(|_| bad("the payload is not JSON"))?;
        return interaction(&p);
    }
    if let Some(command) = field("command") {
        if command != "/opswatch" {
            return Err(bad(format!(
                "unknown command {:?}",
                command.chars().take(40).collect::<String>()
            )));
        }
        return Ok(Payload::Command(Command {
            user: id(
                &Value::from(field("user_id").unwrap_or_default()),
                "user_id",
            )?,
            channel: id(
                &Value::from(field("channel_id").unwrap_or_default()),
                "channel_id",
            )?,
            text: field("text").unwrap_or_default().trim().to_owned(),
        }));
    }
    Err(bad("neither an interaction payload nor a command"))
}

fn interaction(p: &Value) -> Result<Payload, Malformed> {
    let kind = p["type"]
        .as_str()
        .ok_or_else(|| bad("the payload has no type"))?;
    if kind != "block_actions" {
        return Ok(Payload::Other(kind.chars().take(40).collect()));
    }
    let action = p["actions"]
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("block_actions without an action"))?;
    let value = action["selected_option"]["value"]
        .as_str()
        .or_else(|| action["value"].as_str())
        .unwrap_or_default()
        .to_owned();
    let message = &p["message"];
    if !message.is_object() {
        return Err(bad("the click is not on a message"));
    }
    Ok(Payload::Click(Click {
        user: id(&p["user"]["id"], "user.id")?,
        channel: id(
            if p["container"]["channel_id"].is_string() {
                &p["container"]["channel_id"]
            } else {
                &p["channel"]["id"]
            },
            "channel",
        )?,
        message_ts: ts(
            if p["container"]["message_ts"].is_string() {
                &p["container"]["message_ts"]
            } else {
                &message["ts"]
            },
            "message_ts",
        )?,
        thread_ts: message["thread_ts"]
            .as_str()
            .filter(|t| Some(*t) != message["ts"].as_str())
            .map(|t| ts(&Value::from(t), "thread_ts"))
            .transpose()?,
        message: message.clone(),
        action_id: action["action_id"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(255)
            .collect(),
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        serde_urlencoded::to_string(pairs).unwrap().into_bytes()
    }

    /// A `block_actions` payload shaped as Slack documents it (docs.slack.dev, "block_actions
    /// payload").
    fn click(value_at: Value) -> Value {
        json!({
            "type": "block_actions",
            "user": {"id": "U0ONCALL01", "username": "oncall", "team_id": "T0FAKE0000"},
            "api_app_id": "A0OPSWATCH", "token": "deprecated", "trigger_id": "1.2.3",
            "team": {"id": "T0FAKE0000", "domain": "fake"},
            "container": {"type": "message", "message_ts": "1733374800.000100", "channel_id": "C0ALERTS000", "is_ephemeral": false},
            "channel": {"id": "C0ALERTS000", "name": "alerts"},
            "message": {"type": "message", "ts": "1733374800.000100", "text": "x", "blocks": [], "bot_id": "B0OPSWATCH0"},
            "response_url": "https://hooks.slack.com/actions/T0FAKE0000/1/abc",
            "actions": [value_at],
        })
    }

    #[test]
    fn clicks_commands_and_checks() {
        let p = click(
            json!({"action_id": "opswatch_ack", "block_id": "opswatch_actions", "type": "button", "value": "v1.ack.null.00", "action_ts": "1.2"}),
        );
        let Payload::Click(c) = parse(&form(&[("payload", &p.to_string())])).unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.user.as_str(), c.channel.as_str()),
            ("U0ONCALL01", "C0ALERTS000")
        );
        assert_eq!(
            (c.action_id.as_str(), c.value.as_str()),
            ("opswatch_ack", "v1.ack.null.00")
        );
        assert_eq!(c.thread_ts, None);
        let p = click(
            json!({"action_id": "opswatch_mute", "type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "1 hour"}, "value": "v1.mute.1h:x.y"}}),
        );
        let Payload::Click(c) = parse(&form(&[("payload", &p.to_string())])).unwrap() else {
            panic!()
        };
        assert_eq!(c.value, "v1.mute.1h:x.y");
        let cmd = form(&[
            ("command", "/opswatch"),
            ("text", " unmute 0123456789abcdef "),
            ("user_id", "U0ONCALL01"),
            ("channel_id", "C0ALERTS000"),
            ("response_url", "https://hooks.slack.com/commands/1"),
        ]);
        assert_eq!(
            parse(&cmd).unwrap(),
            Payload::Command(Command {
                user: "U0ONCALL01".into(),
                channel: "C0ALERTS000".into(),
                text: "unmute 0123456789abcdef".into()
            })
        );
        assert_eq!(
            parse(&form(&[("ssl_check", "1"), ("token", "x")])).unwrap(),
            Payload::SslCheck
        );
        let shortcut = json!({"type": "shortcut", "callback_id": "x"});
        assert_eq!(
            parse(&form(&[("payload", &shortcut.to_string())])).unwrap(),
            Payload::Other("shortcut".into())
        );
    }

    #[test]
    fn malformed_bodies_are_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"payload=%7Bnot json".to_vec(), "not JSON"),
            (form(&[("payload", "{}")]), "no type"),
            (
                form(&[(
                    "payload",
                    &json!({"type": "block_actions", "actions": []}).to_string(),
                )]),
                "without an action",
            ),
            (
                form(&[(
                    "payload",
                    &click(json!({"action_id": "a"}))
                        .to_string()
                        .replace("U0ONCALL01", "<!channel>"),
                )]),
                "user.id",
            ),
            (
                form(&[("command", "/other"), ("user_id", "U1")]),
                "unknown command",
            ),
            (
                form(&[
                    ("command", "/opswatch"),
                    ("user_id", "u1"),
                    ("channel_id", "C1"),
                ]),
                "user_id",
            ),
            (form(&[("text", "hello")]), "neither"),
            (vec![0xff, 0xfe], "neither"),
        ];
        for (body, expected) in cases {
            let e = parse(&body).unwrap_err();
            assert!(e.to_string().contains(expected), "{e} (wanted {expected})");
        }
    }
}
