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

/// The parts of a key, each prefixed with its length in bytes (`5:sns/1` …): no two lists
/// of parts encode alike, whatever characters a part holds — a source cannot end with what
/// looks like a separator and the next part, and so join to another alert's key.
fn encode(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        out.push_str(&p.len().to_string());
        out.push(':');
        out.push_str(p);
    }
    out
}

/// The table key of one Slack message: `function#msg#<hash>` of the source, the destination
/// and the message's place among the alert's parts, length-prefixed.
pub fn message(function: &str, source: &str, destination: &str, part: usize) -> String {
    let joined = encode(&[source, destination, &part.to_string()]);
    format!("{function}#msg#{}", digest(&joined))
}

/// The table key of a thread: one per function, destination and thread key.
pub fn thread(function: &str, destination: &str, thread: &str) -> String {
    format!(
        "{function}#thread#{}",
        digest(&encode(&[destination, thread]))
    )
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
        ];
        for o in others {
            assert_ne!(k, o);
        }
        assert_ne!(
            thread("f", "channel:alerts", "111122223333/sg-1"),
            thread("f", "channel:alerts", "111122223333/sg-2")
        );
    }

    #[test]
    fn parts_that_join_alike_give_different_keys() {
        // Under a plain join with any separator, these pairs are the same string.
        let plain = |parts: &[&str], sep: &str| parts.join(sep);
        for sep in ["", "\u{1f}", "|", "#"] {
            let a = [format!("sns/m-1{sep}channel"), "a".to_owned()];
            let b = ["sns/m-1".to_owned(), format!("channel{sep}a")];
            assert_eq!(
                plain(&[&a[0], &a[1]], sep),
                plain(&[&b[0], &b[1]], sep),
                "the pair collides when joined with {sep:?}"
            );
            assert_ne!(message("f", &a[0], &a[1], 0), message("f", &b[0], &b[1], 0));
            assert_ne!(thread("f", &a[0], &a[1]), thread("f", &b[0], &b[1]));
        }
        // A part that holds a length prefix itself.
        assert_ne!(encode(&["1:a", ""]), encode(&["1", "a:"]));
        assert_eq!(encode(&["ab", "", "c"]), "2:ab0:1:c");
    }

    #[test]
    fn thread_keys_differ() {
        assert_ne!(
            thread("f", "channel:alerts", "111122223333/sg-1"),
            thread("f", "channel:alerts", "111122223333/sg-2")
        );
    }
}
