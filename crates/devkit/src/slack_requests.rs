//! Requests as Slack sends them to an app's interactivity and slash command URL, delivered
//! as a Lambda function URL event (payload format 2.0): form bodies (`payload=<JSON>` for
//! a click, the command's fields for `/opswatch`), signed as Slack documents ("Verifying
//! requests from Slack": `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>` under the
//! app's signing secret). Written apart from the function's own verifier, so a test that
//! signs here checks that one against the documented scheme.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::slack_api::ApiMessage;

/// The signing secret of the demo's and tests' Slack app.
pub const SIGNING_SECRET: &str = "0f0e0d0c0b0a09080706050403020100-local-signing-secret";

/// Epoch seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `X-Slack-Signature` for `body` at `timestamp` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    m.update(format!("v0:{timestamp}:{body}").as_bytes());
    let tag = m.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// A function URL event carrying `body` with these two headers, as Lambda hands it over.
pub fn url_event(body: &str, timestamp: &str, signature: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signature,
            "host": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "Slackbot 1.0"},
            "requestId": "c0ffee00-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "05/Dec/2026:02:30:00 +0000",
            "timeEpoch": 1_796_437_800_000u64,
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// `body` signed now under `secret`, as a function URL event.
pub fn signed(secret: &str, body: &str) -> Value {
    signed_at(secret, body, now())
}

/// `body` signed under `secret` at `ts` (epoch seconds), as a function URL event.
pub fn signed_at(secret: &str, body: &str, ts: i64) -> Value {
    url_event(body, &ts.to_string(), &signature(secret, ts, body))
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// An `action_ts` as Slack's: unique per click, so two clicks never make the same body.
fn action_ts() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}.{:06}", micros / 1_000_000, (micros + n) % 1_000_000)
}

/// The `block_actions` body of `user` clicking `action_id` with `value` on `message`
/// (a button's value, or the chosen option's for a select), as Slack sends it.
pub fn click(message: &ApiMessage, user: &str, action_id: &str, value: &str) -> String {
    let mut shown = json!({
        "type": "message", "subtype": "bot_message", "bot_id": message.bot_id,
        "ts": message.ts, "text": message.text, "blocks": message.blocks,
    });
    if let Some(t) = &message.thread_ts {
        shown["thread_ts"] = json!(t);
    }
    let action = if action_id == "opswatch_mute" {
        json!({"action_id": action_id, "block_id": "opswatch_actions", "type": "static_select",
               "selected_option": {"text": {"type": "plain_text", "text": "24 hours"}, "value": value},
               "action_ts": action_ts()})
    } else {
        json!({"action_id": action_id, "block_id": "opswatch_actions", "type": "button",
               "text": {"type": "plain_text", "text": "Acknowledge"}, "value": value,
               "action_ts": action_ts()})
    };
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0FAKE0000"},
        "api_app_id": "A0OPSWATCH",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
        "trigger_id": "1234567890.1234567890.abcdef",
        "team": {"id": "T0FAKE0000", "domain": "fake"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": message.channel, "name": "alerts"},
        "message": shown,
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FAKE0000/1234567890/abcdef",
        "actions": [action],
    });
    form(&[("payload", &payload.to_string())])
}

/// The body of `user` typing `/opswatch <text>` in `channel`.
pub fn command(user: &str, channel: &str, text: &str) -> String {
    form(&[
        ("token", "deprecated-verification-token"),
        ("team_id", "T0FAKE0000"),
        ("team_domain", "fake"),
        ("channel_id", channel),
        ("channel_name", "alerts"),
        ("user_id", user),
        ("user_name", &user.to_lowercase()),
        ("command", "/opswatch"),
        ("text", text),
        ("api_app_id", "A0OPSWATCH"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0FAKE0000/1/abc",
        ),
        ("trigger_id", &action_ts()),
    ])
}

/// The elements of `message`'s actions blocks.
fn elements(message: &ApiMessage) -> Vec<Value> {
    message
        .blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The value of the button `action_id` on `message`.
pub fn button_value(message: &ApiMessage, action_id: &str) -> Option<String> {
    elements(message)
        .into_iter()
        .find(|e| e["action_id"] == action_id)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

/// The value of the `Mute…` option labelled `label` ("24 hours").
pub fn mute_option(message: &ApiMessage, label: &str) -> Option<String> {
    elements(message)
        .into_iter()
        .find(|e| e["action_id"] == "opswatch_mute")?["options"]
        .as_array()?
        .iter()
        .find(|o| o["text"]["text"] == label)
        .and_then(|o| o["value"].as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own example ("Verifying requests from Slack").
    #[test]
    fn signs_as_slack_documents() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            signature("8f742231b10e8888abcd99yyyzzz85a5", 1_531_420_618, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
