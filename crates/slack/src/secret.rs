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
    /// Accept a URL that may carry a credential ([`credential_url`]). The error never
    /// repeats the URL.
    pub fn parse(url: &str) -> Result<Self, SlackError> {
        let url = url.trim();
        credential_url(url)
            .map(|()| Self(Secret::new(url)))
            .map_err(|why| SlackError::Config(format!("the Slack webhook URL {why}")))
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

/// What [`credential_url`] asks of a URL, for error messages.
pub const CREDENTIAL_URL_RULE: &str =
    "must start with https:// (plain http:// only to 127.0.0.1, localhost or [::1])";

/// Whether a URL may carry a credential (a webhook URL, a bot token, an API key): `https://`
/// to a host, or plain `http://` only to this machine (127.0.0.0/8, `localhost`, `[::1]`:
/// the local stand-ins), and no user info (`http://localhost@evil.example`). A credential is
/// never sent in clear text across a network. The error says what is wrong without
/// repeating the URL.
pub fn credential_url(url: &str) -> Result<(), &'static str> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| CREDENTIAL_URL_RULE)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password before its host");
    }
    let host = parsed.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(CREDENTIAL_URL_RULE),
    }
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
            "http://127.0.0.1:80@evil.example/hook",
            "https://user:pass@hooks.slack.com/services/T/B/x",
            "http://10.0.0.1/hook",
            "http://[::ffff:10.0.0.1]/hook",
            "ftp://127.0.0.1/",
            "hooks.slack.com/services/T/B/x",
            "",
        ] {
            let err = WebhookUrl::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("must start with https://") || err.contains("must not carry a user"),
                "{bad:?}: {err}"
            );
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
