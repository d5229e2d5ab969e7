//! Buttons on alerts, and the values they carry.
//!
//! With `ACTIONS=on` each alert message ends with an actions block: `Acknowledge`
//! ([`ACK`]) and, when the alert can be muted, a `Mute…` select ([`MUTE`]: 1 hour, 24
//! hours, 7 days). A mute announcement carries `Unmute` ([`UNMUTE`]). Every value is signed
//! — HMAC-SHA256 under a key derived from the Slack app's signing secret ([`ActionKey`]) —
//! so a value that opswatch did not make (or one edited on the way) is refused, even inside
//! a request whose Slack signature is valid:
//!
//! - `v1.ack.<scope JSON>.<tag>`: the alert's mute scope, or `null` (the button's value,
//!   at most 2,000 characters);
//! - `v1.mute.<duration>:<mute id>.<tag>` (an option's value, at most 150 characters);
//! - `v1.unmute.<mute id>.<tag>`.
//!
//! `<tag>` is the first 16 bytes of the HMAC of everything before it, in hex.
//!
//! A mute's [`Scope`] is function + rule + subject (`*` as the rule: every rule); its id is
//! a short hash of the three, the name `mute#<id>` has in the table and `/opswatch unmute
//! <id>` takes.

use hmac::Mac;

use crate::crypto::{hex, mac, unhex};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::message::Block;
use crate::secret::Secret;

pub const ACK: &str = "opswatch_ack";
pub const MUTE: &str = "opswatch_mute";
pub const UNMUTE: &str = "opswatch_unmute";
/// The actions block's `block_id` on an alert.
pub const BLOCK_ID: &str = "opswatch_actions";

/// What the action key is derived from (with the signing secret as the HMAC key).
pub const DERIVATION: &[u8] = b"opswatch action value v1";

/// The mute lengths offered: (value, label, seconds).
pub const DURATIONS: [(&str, &str, i64); 3] = [
    ("1h", "1 hour", 3600),
    ("24h", "24 hours", 86_400),
    ("7d", "7 days", 7 * 86_400),
];

/// The longest ack value Slack takes for a button (2,000), with room to spare.
const MAX_BUTTON_VALUE: usize = 1900;

/// What a mute silences: one function's alerts of one rule (or every rule, `*`) about one
/// subject (a CloudTrail principal, a Config resource, an audit cluster and user, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    #[serde(rename = "f")]
    pub function: String,
    #[serde(rename = "r")]
    pub rule: String,
    #[serde(rename = "s")]
    pub subject: String,
}

/// Every rule of a function, in a [`Scope`].
pub const ANY_RULE: &str = "*";

impl Scope {
    pub fn new(function: &str, rule: Option<&str>, subject: &str) -> Self {
        Self {
            function: function.to_owned(),
            rule: rule.unwrap_or(ANY_RULE).to_owned(),
            subject: subject.to_owned(),
        }
    }

    /// The mute's id: 16 hex digits of SHA-256 over the three parts, each length-prefixed.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.function, &self.rule, &self.subject] {
            h.update(part.len().to_string().as_bytes());
            h.update(b":");
            h.update(part.as_bytes());
        }
        hex(&h.finalize()[..8])
    }

    /// The same function and subject, every rule.
    pub fn any_rule(&self) -> Self {
        Self {
            rule: ANY_RULE.to_owned(),
            ..self.clone()
        }
    }
}

/// A value opswatch made, opened and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Ack {
        scope: Option<Scope>,
    },
    Mute {
        seconds: i64,
        label: &'static str,
        id: String,
    },
    Unmute {
        id: String,
    },
}

/// The key values are signed with; never printed.
#[derive(Clone)]
pub struct ActionKey([u8; 32]);

impl std::fmt::Debug for ActionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActionKey(<redacted>)")
    }
}

/// Whether `id` looks like a mute id (16 lowercase hex digits).
pub fn is_mute_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn plain(text: &str) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": true})
}

impl ActionKey {
    pub fn from_signing_secret(secret: &Secret) -> Self {
        let mut m = mac(secret.expose().as_bytes());
        m.update(DERIVATION);
        Self(m.finalize().into_bytes().into())
    }

    fn tag(&self, signed: &str) -> String {
        let mut m = mac(&self.0);
        m.update(signed.as_bytes());
        hex(&m.finalize().into_bytes()[..16])
    }

    fn seal(&self, kind: &str, body: &str) -> String {
        let signed = format!("v1.{kind}.{body}");
        let tag = self.tag(&signed);
        format!("{signed}.{tag}")
    }

    /// The value of an `Acknowledge` button.
    pub fn ack_value(&self, scope: Option<&Scope>) -> String {
        let json = serde_json::to_string(&scope).unwrap_or_else(|_| "null".into());
        self.seal("ack", &json)
    }

    /// The value of one `Mute…` option.
    pub fn mute_value(&self, duration: &str, id: &str) -> String {
        self.seal("mute", &format!("{duration}:{id}"))
    }

    pub fn unmute_value(&self, id: &str) -> String {
        self.seal("unmute", id)
    }

    /// Open a value: `None` unless opswatch made it with this key (compared in constant
    /// time) and it is well-formed.
    pub fn open(&self, value: &str) -> Option<Action> {
        let (signed, tag) = value.rsplit_once('.')?;
        let tag = unhex(tag)?;
        if tag.len() != 16 {
            return None;
        }
        let mut m = mac(&self.0);
        m.update(signed.as_bytes());
        m.verify_truncated_left(&tag).ok()?;
        let rest = signed.strip_prefix("v1.")?;
        let (kind, body) = rest.split_once('.')?;
        match kind {
            "ack" => {
                let scope: Option<Scope> = serde_json::from_str(body).ok()?;
                Some(Action::Ack { scope })
            }
            "mute" => {
                let (duration, id) = body.split_once(':')?;
                let (_, label, seconds) = DURATIONS.iter().find(|(d, _, _)| *d == duration)?;
                is_mute_id(id).then(|| Action::Mute {
                    seconds: *seconds,
                    label,
                    id: id.to_owned(),
                })
            }
            "unmute" => is_mute_id(body).then(|| Action::Unmute {
                id: body.to_owned(),
            }),
            _ => None,
        }
    }

    /// The actions block of an alert: `Acknowledge`, and `Mute…` when it has a scope.
    pub fn block(&self, scope: Option<&Scope>) -> Block {
        let mut ack = self.ack_value(scope);
        let scope = if ack.len() > MAX_BUTTON_VALUE {
            // A subject too long to carry: acknowledge only.
            ack = self.ack_value(None);
            None
        } else {
            scope
        };
        let mut elements = vec![json!({
            "type": "button",
            "action_id": ACK,
            "text": plain("Acknowledge"),
            "value": ack,
        })];
        if let Some(scope) = scope {
            let id = scope.id();
            let options: Vec<Value> = DURATIONS
                .iter()
                .map(
                    |(d, label, _)| json!({"text": plain(label), "value": self.mute_value(d, &id)}),
                )
                .collect();
            elements.push(json!({
                "type": "static_select",
                "action_id": MUTE,
                "placeholder": plain("Mute…"),
                "options": options,
            }));
        }
        Block::Actions {
            block_id: BLOCK_ID.to_owned(),
            elements,
        }
    }

    /// The `Unmute` button under a mute's announcement.
    pub fn unmute_block(&self, id: &str) -> Block {
        Block::Actions {
            block_id: "opswatch_unmute".to_owned(),
            elements: vec![json!({
                "type": "button",
                "action_id": UNMUTE,
                "text": plain("Unmute"),
                "value": self.unmute_value(id),
            })],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ActionKey {
        ActionKey::from_signing_secret(&Secret::new("8f742231b10e8888abcd99yyyzzz85a5"))
    }

    fn scope() -> Scope {
        Scope::new(
            "cloudtrail-event-handler",
            None,
            "111122223333/arn:aws:iam::111122223333:user/alice",
        )
    }

    #[test]
    fn values_open_only_as_made() {
        let k = key();
        let s = scope();
        let ack = k.ack_value(Some(&s));
        assert_eq!(
            k.open(&ack),
            Some(Action::Ack {
                scope: Some(s.clone())
            })
        );
        assert_eq!(
            k.open(&k.ack_value(None)),
            Some(Action::Ack { scope: None })
        );
        let mute = k.mute_value("24h", &s.id());
        assert!(mute.len() <= 150, "{mute}");
        assert_eq!(
            k.open(&mute),
            Some(Action::Mute {
                seconds: 86_400,
                label: "24 hours",
                id: s.id()
            })
        );
        assert_eq!(
            k.open(&k.unmute_value(&s.id())),
            Some(Action::Unmute { id: s.id() })
        );
        // Another secret's key, a changed body, a changed or short tag, junk.
        let other = ActionKey::from_signing_secret(&Secret::new("another secret"));
        assert_eq!(other.open(&mute), None);
        let longer = mute.replace("v1.mute.24h:", "v1.mute.7d:");
        assert_eq!(k.open(&longer), None);
        let mut flipped = mute.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(k.open(&flipped), None);
        assert_eq!(k.open(&mute[..mute.len() - 2]), None);
        for junk in ["", ".", "v1.ack..", "v1.mute.24h:x.00", "null"] {
            assert_eq!(k.open(junk), None, "{junk}");
        }
        // A duration or id opswatch does not make, even signed.
        assert_eq!(k.open(&k.mute_value("1y", &s.id())), None);
        assert_eq!(k.open(&k.mute_value("1h", "ABC")), None);
        // Independent value: python3 -c 'import hmac,hashlib;
        // d=hmac.new(b"8f742231b10e8888abcd99yyyzzz85a5",b"opswatch action value v1",hashlib.sha256).digest();
        // print(hmac.new(d,b"v1.unmute.0123456789abcdef",hashlib.sha256).hexdigest()[:32])'
        assert_eq!(
            k.unmute_value("0123456789abcdef"),
            format!("v1.unmute.0123456789abcdef.{PYTHON_TAG}")
        );
    }

    const PYTHON_TAG: &str = "500630f28dc0af07b63a9d2e1499325b";

    #[test]
    fn ids_separate_parts_and_rules() {
        let s = scope();
        assert!(is_mute_id(&s.id()));
        assert_ne!(s.id(), s.any_rule().id().replace('0', "1"));
        let a = Scope::new("f", Some("ab"), "c");
        let b = Scope::new("f", Some("a"), "bc");
        assert_ne!(a.id(), b.id());
        assert_eq!(Scope::new("f", None, "c").rule, ANY_RULE);
    }

    #[test]
    fn the_block_offers_mute_only_with_a_scope_that_fits() {
        let k = key();
        let with = serde_json::to_value(k.block(Some(&scope()))).unwrap();
        assert_eq!(with["elements"].as_array().unwrap().len(), 2);
        assert_eq!(with["elements"][1]["options"].as_array().unwrap().len(), 3);
        let without = serde_json::to_value(k.block(None)).unwrap();
        assert_eq!(without["elements"].as_array().unwrap().len(), 1);
        let huge = Scope::new("f", None, &"x".repeat(3000));
        let cut = serde_json::to_value(k.block(Some(&huge))).unwrap();
        assert_eq!(cut["elements"].as_array().unwrap().len(), 1);
        assert!(cut["elements"][0]["value"].as_str().unwrap().len() <= 2000);
    }
}
