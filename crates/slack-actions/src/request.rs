//! The Lambda function URL event (payload format 2.0) as far as this function needs it: the
//! method, Slack's two headers and the raw body — base64-decoded when the event says so, and
//! refused when it is larger than any request Slack sends ([`MAX_BODY`]) before anything is
//! hashed or parsed (pure).

use base64::Engine;
use serde_json::{Value, json};

/// The largest body accepted. Slack's interactivity payloads carry the whole message (at
/// most ~12,000 characters of text and 50 blocks, form-encoded JSON): far below this.
pub const MAX_BODY: usize = 256 * 1024;

/// A request from the function URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    /// The body exactly as Slack sent it.
    pub body: Vec<u8>,
}

/// An HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// JSON, or empty.
    pub body: String,
}

impl Answer {
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
        }
    }

    pub fn json(body: &Value) -> Self {
        Self {
            status: 200,
            body: body.to_string(),
        }
    }

    /// The function URL's response.
    pub fn into_response(self) -> Value {
        let mut r = json!({"statusCode": self.status});
        if !self.body.is_empty() {
            r["headers"] = json!({"content-type": "application/json"});
            r["body"] = Value::String(self.body);
        }
        r
    }
}

/// Why an event is not a request this function takes (each is an HTTP status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotTaken {
    #[error("not a function URL request")]
    NotHttp,
    #[error("method is not POST")]
    Method,
    #[error("body over {MAX_BODY} bytes")]
    TooLarge,
    #[error("body is not valid base64")]
    Base64,
}

impl NotTaken {
    pub fn status(self) -> u16 {
        match self {
            NotTaken::NotHttp | NotTaken::Base64 => 400,
            NotTaken::Method => 405,
            NotTaken::TooLarge => 413,
        }
    }
}

/// A header, by name in any case (function URLs give them lower-cased).
fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

pub fn parse(event: &Value) -> Result<Request, NotTaken> {
    let method = event["requestContext"]["http"]["method"]
        .as_str()
        .ok_or(NotTaken::NotHttp)?;
    if !method.eq_ignore_ascii_case("POST") {
        return Err(NotTaken::Method);
    }
    let raw = event["body"].as_str().unwrap_or_default();
    let base64 = event["isBase64Encoded"].as_bool().unwrap_or(false);
    // Checked before decoding: base64 is 4/3 of the bytes it holds.
    if raw.len() > MAX_BODY / 3 * 4 + 4 || (!base64 && raw.len() > MAX_BODY) {
        return Err(NotTaken::TooLarge);
    }
    let body = if base64 {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| NotTaken::Base64)?
    } else {
        raw.as_bytes().to_vec()
    };
    if body.len() > MAX_BODY {
        return Err(NotTaken::TooLarge);
    }
    let headers = &event["headers"];
    Ok(Request {
        timestamp: header(headers, "x-slack-request-timestamp").map(str::to_owned),
        signature: header(headers, "x-slack-signature").map(str::to_owned),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str, base64: bool) -> Value {
        json!({
            "version": "2.0", "rawPath": "/", "isBase64Encoded": base64, "body": body,
            "headers": {"X-Slack-Request-Timestamp": "1", "x-slack-signature": "v0=00"},
            "requestContext": {"http": {"method": "POST"}},
        })
    }

    #[test]
    fn bodies_as_sent() {
        let r = parse(&event("a=b", false)).unwrap();
        assert_eq!(r.body, b"a=b");
        assert_eq!(r.timestamp.as_deref(), Some("1"));
        assert_eq!(r.signature.as_deref(), Some("v0=00"));
        let r = parse(&event("YT1i", true)).unwrap();
        assert_eq!(r.body, b"a=b");
        assert_eq!(parse(&event("!!", true)), Err(NotTaken::Base64));
        assert_eq!(parse(&json!({"Records": []})), Err(NotTaken::NotHttp));
        let mut get = event("", false);
        get["requestContext"]["http"]["method"] = json!("GET");
        assert_eq!(parse(&get), Err(NotTaken::Method));
        let big = "a".repeat(MAX_BODY + 1);
        assert_eq!(parse(&event(&big, false)), Err(NotTaken::TooLarge));
        assert_eq!(
            parse(&event(&"QUFB".repeat(MAX_BODY / 3 + 2), true)),
            Err(NotTaken::TooLarge)
        );
        assert!(parse(&event(&"a".repeat(MAX_BODY), false)).is_ok());
    }
}
