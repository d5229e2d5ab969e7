//! Secrets that must never be printed: webhook URLs, bot tokens, API keys.
//!
//! [`Secret`] is the one redacted string type of the suite (`opswatch-support` re-exports it
//! for the functions' own keys): its `Debug` and `Display` print `<redacted>`, so a secret
//! that ends up in a log line, an error or a panic message shows nothing. The value leaves
//! only through [`Secret::expose`], to be put in a request.

use std::fmt;

use crate::deliver::SlackError;

/// A string that is never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the request that needs it and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A Slack incoming-webhook URL.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WebhookUrl(Secret);

impl WebhookUrl {
    /// Accept an `https://` URL, or a plain `http://` one to a loopback address (the local
    /// stand-ins: `127.0.0.1`, `localhost`, `[::1]`). A webhook URL is a credential: it is
    /// never sent in clear text across a network.
    pub fn parse(url: &str) -> Result<Self, SlackError> {
        let url = url.trim();
        let loopback = url
            .strip_prefix("http://")
            .is_some_and(|rest| is_loopback(rest.split(['/', '?', '#']).next().unwrap_or("")));
        if url.starts_with("https://") || loopback {
            Ok(Self(Secret::new(url)))
        } else {
            Err(SlackError::Config(
                "the Slack webhook URL must start with https:// (plain http:// only to 127.0.0.1, localhost or [::1])".into(),
            ))
        }
    }

    /// The URL itself: for the request, or a one-way hash that identifies the webhook.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

/// Whether a URL's authority (`host[:port]`, no user info) names this machine.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A Slack bot token (`xoxb-…`), sent as `Authorization: Bearer` and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(Secret);

impl BotToken {
    /// Accept a Slack token: `xox…-`, no spaces. The error never repeats the value.
    pub fn parse(token: &str) -> Result<Self, SlackError> {
        let token = token.trim();
        let shaped = token.starts_with("xox")
            && token.len() > 8
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if shaped {
            Ok(Self(Secret::new(token)))
        } else {
            Err(SlackError::Config(
                "the Slack bot token is not a token: it must look like xoxb-… (the app's Bot User OAuth Token)".into(),
            ))
        }
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let s = Secret::new("SENTINEL-1");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        let url = WebhookUrl::parse("https://hooks.slack.com/services/T/B/SENTINEL-2").unwrap();
        assert!(!format!("{url:?}").contains("SENTINEL"));
        let token = BotToken::parse("xoxb-1-2-SENTINEL3").unwrap();
        assert!(!format!("{token:?}").contains("SENTINEL"));
    }

    #[test]
    fn webhook_urls_are_https_or_loopback() {
        for good in [
            "https://hooks.slack.com/services/T/B/x",
            " https://hooks.slack.com/services/T/B/x\n",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://LOCALHOST:9",
            "http://[::1]:8080/hook",
            "http://127.0.0.2",
        ] {
            assert!(WebhookUrl::parse(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "http://hooks.slack.com/services/T/B/x",
            "http://127.0.0.1.nip.io/hook",
            "http://localhost@evil.example/hook",
            "http://10.0.0.1/hook",
            "ftp://127.0.0.1/",
            "hooks.slack.com/services/T/B/x",
            "",
        ] {
            let err = WebhookUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("must start with https://"), "{bad:?}: {err}");
            assert!(
                bad.is_empty() || !err.contains(bad),
                "{bad:?} printed: {err}"
            );
        }
    }

    #[test]
    fn token_shapes() {
        assert!(BotToken::parse(" xoxb-123-456-abc\n").is_ok());
        for bad in ["", "hunter2", "xoxb-1 2", "Bearer xoxb-12345678"] {
            let err = BotToken::parse(bad).unwrap_err().to_string();
            assert!(err.contains("xoxb-…"), "{err}");
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }
}
