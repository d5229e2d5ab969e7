//! Message markers: every Web API message opswatch posts carries its exactly-once key as
//! Slack message metadata —
//!
//! ```json
//! {"event_type": "opswatch_alert", "event_payload": {"key": "<key>", "sig": "<hex>"}}
//! ```
//!
//! — so that after a lost answer the message can be found in the channel's history instead
//! of being posted again. `sig` is HMAC-SHA256 of the key under a key derived from the bot
//! token (HMAC-SHA256 of [`DERIVATION`] under the token): only a holder of the token can
//! mark a message, so a channel member who posts a look-alike (or an app with another
//! token) cannot make opswatch believe an alert was already posted. The finder also checks
//! that the message came from the app's own `bot_id`.

use hmac::Mac;

use crate::crypto::{hex, mac, unhex};
use serde_json::{Value, json};

use crate::secret::BotToken;

/// The metadata's `event_type`.
pub const EVENT_TYPE: &str = "opswatch_alert";

/// What the marker key is derived from (with the bot token as the HMAC key).
pub const DERIVATION: &[u8] = b"opswatch message marker v1";

/// The key markers are signed with; never printed.
#[derive(Clone)]
pub struct MarkKey([u8; 32]);

impl std::fmt::Debug for MarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkKey(<redacted>)")
    }
}

impl MarkKey {
    pub fn from_token(token: &BotToken) -> Self {
        let mut m = mac(token.expose().as_bytes());
        m.update(DERIVATION);
        Self(m.finalize().into_bytes().into())
    }

    /// The signature of `key` (lowercase hex).
    pub fn sign(&self, key: &str) -> String {
        let mut m = mac(&self.0);
        m.update(key.as_bytes());
        hex(&m.finalize().into_bytes())
    }

    /// The `metadata` argument of a `chat.postMessage` carrying `key`.
    pub fn metadata(&self, key: &str) -> Value {
        json!({
            "event_type": EVENT_TYPE,
            "event_payload": { "key": key, "sig": self.sign(key) },
        })
    }

    /// Whether the message (as `conversations.history` gives it, with its `metadata`)
    /// carries `key`, signed with this key (compared in constant time).
    pub fn verifies(&self, message: &Value, key: &str) -> bool {
        let meta = &message["metadata"];
        if meta["event_type"].as_str() != Some(EVENT_TYPE)
            || meta["event_payload"]["key"].as_str() != Some(key)
        {
            return false;
        }
        let Some(sig) = meta["event_payload"]["sig"].as_str().and_then(unhex) else {
            return false;
        };
        let mut m = mac(&self.0);
        m.update(key.as_bytes());
        m.verify_slice(&sig).is_ok()
    }
}

/// Whether `channel` is a channel id (`C…`, `G…`, `D…`, upper-case letters and digits) rather
/// than a name: history can only be read by id.
pub fn looks_like_channel_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(token: &str) -> MarkKey {
        MarkKey::from_token(&BotToken::parse(token).unwrap())
    }

    #[test]
    fn a_marker_verifies_only_with_its_key_and_its_token() {
        let k = key("xoxb-1-2-abc");
        let meta = k.metadata("f#msg#1");
        let message = json!({"metadata": meta});
        assert!(k.verifies(&message, "f#msg#1"));
        // Another alert's key, with this signature.
        assert!(!k.verifies(&message, "f#msg#2"));
        // Another token signs differently: a marker cannot be made without ours.
        assert!(!key("xoxb-1-2-abd").verifies(&message, "f#msg#1"));
        // A look-alike a channel member could post: the right key, no or a wrong signature.
        let mut forged = message.clone();
        forged["metadata"]["event_payload"]["sig"] = json!("00".repeat(32));
        assert!(!k.verifies(&forged, "f#msg#1"));
        forged["metadata"]["event_payload"]["sig"] = json!("not hex");
        assert!(!k.verifies(&forged, "f#msg#1"));
        forged["metadata"]["event_payload"]
            .as_object_mut()
            .unwrap()
            .remove("sig");
        assert!(!k.verifies(&forged, "f#msg#1"));
        let mut other_type = message;
        other_type["metadata"]["event_type"] = json!("something_else");
        assert!(!k.verifies(&other_type, "f#msg#1"));
        // Independent value: python3 -c 'import hmac,hashlib;d=hmac.new(b"xoxb-1-2-abc",
        // b"opswatch message marker v1",hashlib.sha256).digest();
        // print(hmac.new(d,b"f#msg#1",hashlib.sha256).hexdigest())'
        assert_eq!(k.sign("f#msg#1"), PYTHON_SIG);
    }

    const PYTHON_SIG: &str = "9aef786ab36a66ea6f91c11220bf10a5f9e25461414871931163daceb9f963bc";

    #[test]
    fn channel_ids_and_names() {
        for id in ["C0ALERTS000", "G0123ABCDE", "D0123ABCD"] {
            assert!(looks_like_channel_id(id), "{id}");
        }
        for name in ["alerts", "Cats-and-dogs", "C0alerts00", "ops"] {
            assert!(!looks_like_channel_id(name), "{name}");
        }
    }
}
