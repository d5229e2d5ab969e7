//! Exactly-once keys (pure). A Slack message's key is derived from where its alert came from
//! — the function, the alert's source (an SNS MessageId, an S3 object and its ETag, a
//! schedule window), the destination, and the message's place among the alert's parts —
//! never from the clock or the request id, so a redelivered or retried event finds the keys
//! of what it already posted.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `s`.
pub fn digest(s: &str) -> String {
    let hash = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in hash.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The table key of one Slack message: `function#msg#<hash>`. The parts are joined with a
/// separator that no part contains (US, 0x1f), so two different sources never join equal.
pub fn message(function: &str, source: &str, destination: &str, part: usize) -> String {
    let joined = [source, destination, &part.to_string()].join("\u{1f}");
    format!("{function}#msg#{}", digest(&joined))
}

/// The table key of a thread: one per function, destination and thread key.
pub fn thread(function: &str, destination: &str, thread: &str) -> String {
    let joined = [destination, thread].join("\u{1f}");
    format!("{function}#thread#{}", digest(&joined))
}

/// The table key of a function's state (`name` tells one scope from another).
pub fn state(function: &str, name: &str) -> String {
    format!("{function}#state#{}", digest(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        // Independent value: `printf 'abc' | sha256sum`.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let k = message("config-change-notifier", "sns/m-1", "channel:alerts", 0);
        assert_eq!(
            k,
            message("config-change-notifier", "sns/m-1", "channel:alerts", 0)
        );
        assert!(k.starts_with("config-change-notifier#msg#"));
        let others = [
            message("config-change-notifier", "sns/m-1", "channel:alerts", 1),
            message("config-change-notifier", "sns/m-2", "channel:alerts", 0),
            message("config-change-notifier", "sns/m-1", "channel:security", 0),
            message("audit-log-watcher", "sns/m-1", "channel:alerts", 0),
            // Joining cannot make two sources equal.
            message(
                "config-change-notifier",
                "sns/m-1\u{1f}channel:alerts",
                "",
                0,
            ),
        ];
        for o in others {
            assert_ne!(k, o);
        }
        assert_ne!(
            thread("f", "channel:alerts", "111122223333/sg-1"),
            thread("f", "channel:alerts", "111122223333/sg-2")
        );
    }
}
