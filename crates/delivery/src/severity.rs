//! How serious an alert is. Every alert has one; it is shown in the message (the header's
//! emoji, a context line), written in the alert's log line, and routes may match on it.

use std::fmt;

use opswatch_slack::Mrkdwn;

/// `info` < `warning` < `critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// `critical`, `warning` or `info`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The emoji shortcode a header starts with.
    pub fn emoji(self) -> &'static str {
        match self {
            Severity::Info => ":information_source:",
            Severity::Warning => ":warning:",
            Severity::Critical => ":rotating_light:",
        }
    }

    /// The severity as mrkdwn for the message's context line.
    pub fn label(self) -> Mrkdwn {
        Mrkdwn::trusted(match self {
            Severity::Info => "*info*",
            Severity::Warning => "*warning*",
            Severity::Critical => "*critical*",
        })
    }
}

/// Whether a CIDR block is the whole internet (`0.0.0.0/0`, `::/0`).
pub fn is_world(cidr: &str) -> bool {
    // A prefix length of 0 is every address, whatever the address bits say (`10.0.0.0/0`).
    cidr.trim().rsplit_once('/').is_some_and(|(addr, len)| {
        len.trim().parse::<u8>() == Ok(0) && addr.trim().parse::<std::net::IpAddr>().is_ok()
    })
}

/// The weight of an ingress rule open to the whole internet, one rule for every function
/// that sees one (CloudTrail's `AuthorizeSecurityGroupIngress`, a Config change): 80 or 443
/// alone, or ICMP, is a **warning** — a web server, a ping; anything else (another port, a
/// range, every protocol `-1`, a rule without ports) is **critical**. `protocol` is as AWS
/// writes it: a name (`tcp`, `icmp`) or a number (`6`, `1`, `58`, `-1`).
pub fn world_open_ingress(protocol: &str, from: Option<i64>, to: Option<i64>) -> Severity {
    let protocol = protocol.to_ascii_lowercase();
    if matches!(protocol.as_str(), "icmp" | "icmpv6" | "1" | "58") {
        return Severity::Warning;
    }
    match (from, to) {
        (Some(a), Some(b)) if a == b && (a == 80 || a == 443) && protocol != "-1" => {
            Severity::Warning
        }
        _ => Severity::Critical,
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_open_ingress_weights() {
        for world in [
            "0.0.0.0/0",
            "::/0",
            "10.0.0.0/0",
            "192.168.1.1/0",
            "2001:db8::/0",
            " 0.0.0.0/00 ",
        ] {
            assert!(is_world(world), "{world}");
        }
        for not in [
            "10.0.0.0/8",
            "0.0.0.0/1",
            "0.0.0.0",
            "sg-123",
            "pl-123/0",
            "/0",
            "",
        ] {
            assert!(!is_world(not), "{not}");
        }
        let w = world_open_ingress;
        assert_eq!(w("tcp", Some(22), Some(22)), Severity::Critical);
        assert_eq!(w("6", Some(443), Some(443)), Severity::Warning);
        assert_eq!(w("tcp", Some(80), Some(443)), Severity::Critical);
        assert_eq!(w("-1", None, None), Severity::Critical);
        assert_eq!(w("ICMP", Some(8), Some(-1)), Severity::Warning);
        assert_eq!(w("udp", None, None), Severity::Critical);
    }

    #[test]
    fn names_and_order() {
        assert_eq!(Severity::parse(" Critical "), Some(Severity::Critical));
        assert_eq!(Severity::parse("warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("high"), None);
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }
}
