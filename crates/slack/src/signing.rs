//! Slack's request signatures (v0), as Slack documents them ("Verifying requests from
//! Slack"): `X-Slack-Signature` is `v0=` + hex HMAC-SHA256 under the app's signing secret
//! of `v0:<X-Slack-Request-Timestamp>:<raw body>`. A request is accepted only when the
//! signature matches (compared in constant time) and its timestamp is within
//! [`WINDOW`] seconds of now, either way. Remembering signatures to refuse a replay inside
//! the window is the caller's (it needs a table).

use hmac::{Hmac, Mac};

use crate::crypto::{hex, mac, unhex};
use sha2::Sha256;

use crate::secret::Secret;

/// How far a request's timestamp may be from now, in seconds.
pub const WINDOW: i64 = 300;

/// Why a request was refused. The caller answers 401 to all of them alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no X-Slack-Request-Timestamp or X-Slack-Signature header")]
    Missing,
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is more than 300 s from now")]
    Stale,
    #[error("the signature is not v0= and 64 hex digits")]
    BadSignature,
    #[error("the signature does not match")]
    Mismatch,
}

fn signed(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut m = mac(secret);
    m.update(b"v0:");
    m.update(timestamp.as_bytes());
    m.update(b":");
    m.update(body);
    m
}

/// The `X-Slack-Signature` Slack would send (for tests and local tools).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let m = signed(secret.as_bytes(), &timestamp.to_string(), body);
    format!("v0={}", hex(&m.finalize().into_bytes()))
}

/// Verify a request: its timestamp (epoch seconds) when it is Slack's and fresh.
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<i64, Refused> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Refused::Missing);
    };
    let ts: i64 = (!timestamp.is_empty()
        && timestamp.len() <= 12
        && timestamp.bytes().all(|b| b.is_ascii_digit()))
    .then(|| timestamp.parse().ok())
    .flatten()
    .ok_or(Refused::BadTimestamp)?;
    if (now - ts).abs() > WINDOW {
        return Err(Refused::Stale);
    }
    let sig = signature
        .strip_prefix("v0=")
        .filter(|h| h.len() == 64)
        .and_then(unhex)
        .ok_or(Refused::BadSignature)?;
    signed(secret.expose().as_bytes(), timestamp, body)
        .verify_slice(&sig)
        .map_err(|_| Refused::Mismatch)?;
    Ok(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    /// Slack's own example ("Verifying requests from Slack").
    #[test]
    fn slacks_documented_example_verifies() {
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = 1_531_420_618;
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, ts, body), expected);
        let secret = Secret::new(SECRET);
        assert_eq!(
            verify(&secret, Some("1531420618"), Some(expected), body, ts + 10),
            Ok(ts)
        );
        assert_eq!(
            verify(&secret, Some("1531420618"), Some(expected), body, ts + 301),
            Err(Refused::Stale)
        );
        assert_eq!(
            verify(&secret, Some("1531420618"), Some(expected), body, ts - 301),
            Err(Refused::Stale)
        );
        let mut changed = body.to_vec();
        changed[0] ^= 1;
        assert_eq!(
            verify(&secret, Some("1531420618"), Some(expected), &changed, ts),
            Err(Refused::Mismatch)
        );
        assert_eq!(
            verify(&secret, None, Some(expected), body, ts),
            Err(Refused::Missing)
        );
        for bad in [
            "",
            "-1",
            "1531420618.5",
            "+1531420618",
            " 1531420618",
            "99999999999999",
        ] {
            assert_eq!(
                verify(&secret, Some(bad), Some(expected), body, ts),
                Err(Refused::BadTimestamp),
                "{bad:?}"
            );
        }
        for bad in [&expected[3..], "v1=00", "v0=zz", &expected.to_uppercase()] {
            assert!(verify(&secret, Some("1531420618"), Some(bad), body, ts).is_err());
        }
    }

    proptest! {
        /// Random bodies and timestamps: only the right secret's signature of exactly this
        /// body and timestamp, inside the window, passes.
        #[test]
        fn only_the_right_signature_inside_the_window_passes(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            ts in 1_000_000_000i64..2_000_000_000,
            skew in -1000i64..1000,
            other_ts in 1_000_000_000i64..2_000_000_000,
            flip in any::<(usize, u8)>(),
            wrong in "[a-z0-9]{1,40}",
        ) {
            let secret = Secret::new(SECRET);
            let now = ts + skew;
            let good = sign(SECRET, ts, &body);
            let ts_text = ts.to_string();
            let verdict = verify(&secret, Some(&ts_text), Some(&good), &body, now);
            prop_assert_eq!(verdict.is_ok(), skew.abs() <= WINDOW);
            // Another secret.
            prop_assume!(wrong != SECRET);
            let forged = sign(&wrong, ts, &body);
            prop_assert!(verify(&secret, Some(&ts_text), Some(&forged), &body, ts).is_err());
            // Another timestamp with this signature.
            if other_ts != ts {
                let other = other_ts.to_string();
                prop_assert!(verify(&secret, Some(&other), Some(&good), &body, other_ts).is_err());
            }
            // A changed body.
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip.0 % changed.len();
                changed[i] ^= flip.1.max(1);
                prop_assert!(verify(&secret, Some(&ts_text), Some(&good), &changed, ts).is_err());
            }
            // A changed signature byte.
            let mut bent = good.clone().into_bytes();
            let i = 3 + flip.0 % 64;
            bent[i] = if bent[i] == b'0' { b'1' } else { b'0' };
            let bent = String::from_utf8(bent).unwrap_or_default();
            prop_assert!(verify(&secret, Some(&ts_text), Some(&bent), &body, ts).is_err());
        }
    }
}
