//! What the archive keeps of each event (pure): the events of RDS's own users dropped
//! (`DAS_DROP_USERS`), and the values of some fields replaced by a keyed hash (`DAS_REDACT`),
//! so identical statements still correlate while their literals cannot be read or guessed.
//!
//! A redacted string `v` becomes `"hmac-sha256:" + hex(HMAC-SHA256(key, v))`: the key is the
//! UTF-8 bytes of the secret, the message the UTF-8 bytes of `v` (its JSON escapes applied),
//! the hex lowercase. Anyone holding the key can compute the hash of a statement they suspect
//! and search the archive for it; no one without it can.

use aws_lc_rs::hmac;

/// The prefix of every redacted value.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// The shortest redaction key accepted, in bytes: a short key could be guessed, and with it
/// every literal.
pub const MIN_KEY_BYTES: usize = 16;

/// Every field of an Aurora PostgreSQL or Aurora MySQL activity event (the union of both
/// engines' documented fields), in the order the Glue table lists them.
pub const EVENT_FIELDS: &[&str] = &[
    "type",
    "class",
    "clientApplication",
    "clusterId",
    "command",
    "commandText",
    "databaseName",
    "dbProtocol",
    "dbUserName",
    "endTime",
    "errorMessage",
    "exitCode",
    "logTime",
    "netProtocol",
    "objectName",
    "objectType",
    "paramList",
    "pid",
    "remoteHost",
    "remotePort",
    "rowCount",
    "serverHost",
    "serverType",
    "serverVersion",
    "serviceName",
    "sessionId",
    "startTime",
    "statementId",
    "substatementId",
    "transactionId",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "DAS_REDACT names {0:?}, which is not a field of an activity event (fields: {fields})",
        fields = EVENT_FIELDS[1..].join(", ")
    )]
    UnknownField(String),
    #[error("DAS_REDACT cannot redact `type`: it tells events from heartbeats")]
    TypeField,
    #[error(
        "DAS_REDACT is set but DAS_REDACT_KEY_SECRET_ARN is not: the values would be hashed without a key"
    )]
    NoKey,
    #[error(
        "the redaction key is {0} bytes; it must be at least {MIN_KEY_BYTES} (e.g. aws secretsmanager get-random-password)"
    )]
    ShortKey(usize),
}

/// The decoder's filter. [`Filter::default`] keeps every event as it is.
#[derive(Debug, Default)]
pub struct Filter {
    /// Lowercase.
    drop_users: Vec<String>,
    redaction: Option<Redaction>,
}

/// The fields to redact and the key their strings are hashed with: one never without the
/// other.
pub struct Redaction {
    fields: Vec<String>,
    key: hmac::Key,
}

impl std::fmt::Debug for Redaction {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redaction")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl Filter {
    /// `drop_users`: user names, compared case-insensitively; `redact`: field names, exact;
    /// `key`: the secret's bytes, needed when `redact` names a field.
    pub fn new(
        drop_users: &[String],
        redact: &[String],
        key: Option<&[u8]>,
    ) -> Result<Self, FilterError> {
        for field in redact {
            if field == "type" {
                return Err(FilterError::TypeField);
            }
            if !EVENT_FIELDS.contains(&field.as_str()) {
                return Err(FilterError::UnknownField(field.clone()));
            }
        }
        let redaction = match (redact.is_empty(), key) {
            (true, _) => None,
            (false, None) => return Err(FilterError::NoKey),
            (false, Some(k)) if k.len() < MIN_KEY_BYTES => {
                return Err(FilterError::ShortKey(k.len()));
            }
            (false, Some(k)) => {
                let mut fields = redact.to_vec();
                fields.sort();
                fields.dedup();
                Some(Redaction {
                    fields,
                    key: hmac::Key::new(hmac::HMAC_SHA256, k),
                })
            }
        };
        Ok(Self {
            drop_users: drop_users.iter().map(|u| u.to_lowercase()).collect(),
            redaction,
        })
    }

    /// What the scanner must read from each event.
    pub fn wanted(&self) -> crate::scan::Wanted<'_> {
        crate::scan::Wanted {
            user: !self.drop_users.is_empty(),
            redact: self.redacted_fields(),
        }
    }

    /// Whether an event of this `dbUserName` is dropped.
    pub fn drops(&self, user: Option<&str>) -> bool {
        let Some(user) = user else {
            return false;
        };
        self.drop_users.iter().any(|u| {
            u.eq_ignore_ascii_case(user) || (!user.is_ascii() && user.to_lowercase() == *u)
        })
    }

    pub fn drop_users(&self) -> &[String] {
        &self.drop_users
    }

    pub fn redacted_fields(&self) -> &[String] {
        self.redaction.as_ref().map_or(&[], |r| &r.fields)
    }

    pub fn redaction(&self) -> Option<&Redaction> {
        self.redaction.as_ref()
    }
}

impl Redaction {
    /// Append `"hmac-sha256:<hex>"` (a JSON string, quotes included) for `value`.
    pub fn hash_into(&self, value: &str, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let tag = hmac::sign(&self.key, value.as_bytes());
        out.push(b'"');
        out.extend_from_slice(HASH_PREFIX.as_bytes());
        for b in tag.as_ref() {
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        }
        out.push(b'"');
    }
}

/// The independent implementation the redaction is tested against: RustCrypto's `hmac` and
/// `sha2`, not aws-lc. The hash without quotes.
#[cfg(test)]
pub(crate) fn reference_hash(key: &[u8], value: &str) -> String {
    use ::hmac::{KeyInit, Mac};
    let mut mac = ::hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(value.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{HASH_PREFIX}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference, as the JSON string the decoder writes.
    fn reference(key: &[u8], value: &str) -> String {
        format!("\"{}\"", reference_hash(key, value))
    }

    fn hashed(f: &Filter, v: &str) -> String {
        let mut out = Vec::new();
        f.redaction().expect("redacting").hash_into(v, &mut out);
        String::from_utf8(out).expect("ASCII")
    }

    fn redacting(key: &[u8]) -> Filter {
        Filter::new(&[], &["commandText".into()], Some(key)).expect("filter")
    }

    #[test]
    fn rfc_4231_test_case_2() {
        // The reference against the RFC's vector; ours against the reference (the RFC's key,
        // "Jefe", is shorter than a redaction key may be).
        assert_eq!(
            reference(b"Jefe", "what do ya want for nothing?"),
            format!(
                "\"{HASH_PREFIX}5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843\""
            )
        );
        let f = redacting(b"JefeJefeJefeJefe");
        assert_eq!(
            hashed(&f, "what do ya want for nothing?"),
            reference(b"JefeJefeJefeJefe", "what do ya want for nothing?")
        );
    }

    proptest::proptest! {
        #[test]
        fn the_hash_is_hmac_sha256_of_the_utf8_bytes(
            key in proptest::collection::vec(proptest::num::u8::ANY, 16..100),
            value in "\\PC{0,200}",
        ) {
            let f = redacting(&key);
            proptest::prop_assert_eq!(hashed(&f, &value), reference(&key, &value));
        }
    }

    #[test]
    fn users_compare_without_case() {
        let f = Filter::new(
            &["rdsadmin".into(), "RDSProxyAdmin".into(), "Ünïcode".into()],
            &[],
            None,
        )
        .expect("filter");
        for user in [
            "rdsadmin",
            "RDSADMIN",
            "RdsAdmin",
            "rdsproxyadmin",
            "ünÏcode",
        ] {
            assert!(f.drops(Some(user)), "{user}");
        }
        for user in ["rdsadmin2", "app", "", "rds admin"] {
            assert!(!f.drops(Some(user)), "{user}");
        }
        assert!(!f.drops(None));
        assert!(!Filter::default().drops(Some("rdsadmin")));
        assert!(f.wanted().user && f.wanted().redact.is_empty());
        assert!(!Filter::default().wanted().user);
    }

    #[test]
    fn configuration_errors_are_named() {
        let key = Some(&[7u8; 32][..]);
        let err = |r: &[&str], k: Option<&[u8]>| {
            let r: Vec<String> = r.iter().map(|s| (*s).to_owned()).collect();
            Filter::new(&[], &r, k).expect_err("refused").to_string()
        };
        assert!(err(&["commandtext"], key).starts_with("DAS_REDACT names \"commandtext\""));
        assert!(err(&["type"], key).contains("`type`"));
        assert!(err(&["commandText"], None).contains("DAS_REDACT_KEY_SECRET_ARN"));
        assert!(err(&["commandText"], Some(b"short")).contains("5 bytes"));
        // A key without fields is harmless (nothing to redact).
        assert!(Filter::new(&[], &[], key).is_ok());
        let f = Filter::new(&[], &["paramList".into()], Some(b"0123456789abcdef0123")).expect("ok");
        let debug = format!("{f:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }
}
