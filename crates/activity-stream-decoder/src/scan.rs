//! One pass over a decrypted DAS payload: validate it as JSON (RFC 8259, as strictly as
//! `serde_json`), find `databaseActivityEventList`, and hand back each event's exact text and
//! its `type`. No tree is built and nothing is copied; `serde_json` would need two passes
//! (the list as raw values, then each event again for its `type`, which RDS writes last).
//!
//! When asked ([`Wanted`]), it also reads each event's `dbUserName` and finds the strings
//! inside the fields to redact, as byte ranges of the event's text, so that the caller can
//! drop an event or splice hashes in without re-serializing anything else.
//!
//! Differentially tested against the `serde_json` reading it replaces (`das` tests).

use std::borrow::Cow;
use std::ops::Range;

use opswatch_support::json::{Scanner, Syntax};

/// An element of the list: its text, and its `type` when it is an object whose `type` is a
/// string.
pub struct Event<'a> {
    pub text: &'a str,
    /// No whitespace outside strings: the text is already one compact line.
    pub compact: bool,
    pub kind: Option<Cow<'a, str>>,
    /// `dbUserName` when it was wanted and is a string.
    pub user: Option<Cow<'a, str>>,
    /// Every non-empty string inside a field to redact (directly, or at any depth of an array
    /// or object there), in order: its token's byte range in `text` (quotes included) and its
    /// value with the escapes applied.
    pub strings: Vec<(Range<usize>, Cow<'a, str>)>,
}

/// What to read from each event besides its `type`. The default reads nothing more, and
/// costs nothing more.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wanted<'w> {
    /// Read `dbUserName`.
    pub user: bool,
    /// Find the strings of these top-level fields (exact names).
    pub redact: &'w [String],
}

/// What an event's key is to the scan.
#[derive(Default)]
struct Key {
    is_type: bool,
    user: bool,
    redact: bool,
}

impl Key {
    fn of(name: &[u8], wanted: Wanted) -> Self {
        if name == b"type" {
            return Key {
                is_type: true,
                ..Key::default()
            };
        }
        Key {
            is_type: false,
            user: wanted.user && name == b"dbUserName",
            redact: wanted.redact.iter().any(|r| r.as_bytes() == name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Syntax(#[from] Syntax),
    #[error("missing field `databaseActivityEventList`")]
    MissingList,
    #[error("duplicate field `{0}`")]
    Duplicate(&'static str),
    #[error("the `type` of the event at byte {0} is not a string")]
    TypeNotString(usize),
    #[error("an event or key is not UTF-8 ({0})")]
    Utf8(String),
}

/// The events of `databaseActivityEventList`, in order.
pub fn events(json: &[u8]) -> Result<Vec<Event<'_>>, ScanError> {
    events_with(json, Wanted::default())
}

/// The events of `databaseActivityEventList`, in order, with what `wanted` asks for.
pub fn events_with<'a>(json: &'a [u8], wanted: Wanted) -> Result<Vec<Event<'a>>, ScanError> {
    let mut s = Scanner::new(json);
    s.ws();
    s.expect(b'{', "expected the payload to be a JSON object")?;
    let mut list: Option<Vec<Event>> = None;
    s.items(b'}', |s| {
        let is_list = s.key()? == "databaseActivityEventList";
        s.colon()?;
        if !is_list {
            return Ok(s.value()?);
        }
        if list.is_some() {
            return Err(ScanError::Duplicate("databaseActivityEventList"));
        }
        list = Some(s.event_list(wanted)?);
        Ok(())
    })?;
    s.ws();
    if s.i != s.b.len() {
        return Err(s.err("trailing characters").into());
    }
    list.ok_or(ScanError::MissingList)
}

/// Text the output keeps (events) or that is compared (keys, `type`) must be UTF-8; like
/// serde_json, bytes in values that are skipped are not checked.
fn utf8(b: &[u8]) -> Result<&str, ScanError> {
    std::str::from_utf8(b).map_err(|e| ScanError::Utf8(e.to_string()))
}

/// The activity events' part of the scan, on the shared JSON [`Scanner`].
trait Events<'a> {
    fn event_list(&mut self, wanted: Wanted) -> Result<Vec<Event<'a>>, ScanError>;
    fn event(&mut self, wanted: Wanted) -> Result<Event<'a>, ScanError>;
    fn event_key(&mut self, wanted: Wanted) -> Result<Key, ScanError>;
    fn redacted(
        &mut self,
        start: usize,
        redact: bool,
        out: &mut Vec<(Range<usize>, Cow<'a, str>)>,
    ) -> Result<(), ScanError>;
}

impl<'a> Events<'a> for Scanner<'a> {
    /// The list: an array of objects, each scanned for its `type`.
    fn event_list(&mut self, wanted: Wanted) -> Result<Vec<Event<'a>>, ScanError> {
        self.expect(b'[', "expected `databaseActivityEventList` to be an array")?;
        let mut events = Vec::with_capacity(16);
        self.items(b']', |s| {
            events.push(s.event(wanted)?);
            Ok::<(), ScanError>(())
        })?;
        Ok(events)
    }

    fn event(&mut self, wanted: Wanted) -> Result<Event<'a>, ScanError> {
        let start = self.i;
        let spaces = self.spaces;
        if !self.eat(b'{') {
            // Not an object, so not a heartbeat: passed on as it is.
            self.value()?;
            return Ok(Event {
                text: utf8(&self.b[start..self.i])?,
                compact: self.spaces == spaces,
                kind: None,
                user: None,
                strings: Vec::new(),
            });
        }
        let mut kind: Option<Option<Cow<'a, str>>> = None;
        let mut user: Option<Option<Cow<'a, str>>> = None;
        let mut strings = Vec::new();
        self.items(b'}', |s| {
            let key = s.event_key(wanted)?;
            s.colon()?;
            if key.user {
                if user.is_some() {
                    return Err(ScanError::Duplicate("dbUserName"));
                }
                if s.peek() != Some(b'"') {
                    user = Some(None);
                    return s.redacted(start, key.redact, &mut strings);
                }
                let open = s.i;
                let name = s.string()?;
                if key.redact && !name.is_empty() {
                    strings.push((open - start..s.i - start, name.clone()));
                }
                user = Some(Some(name));
                return Ok(());
            }
            if !key.is_type {
                return s.redacted(start, key.redact, &mut strings);
            }
            if kind.is_some() {
                return Err(ScanError::Duplicate("type"));
            }
            kind = Some(match s.peek() {
                Some(b'"') => Some(s.string()?),
                Some(b'n') => {
                    s.value()?;
                    None
                }
                _ => {
                    s.value()?;
                    return Err(ScanError::TypeNotString(start));
                }
            });
            Ok(())
        })?;
        Ok(Event {
            text: utf8(&self.b[start..self.i])?,
            compact: self.spaces == spaces,
            kind: kind.flatten(),
            user: user.flatten(),
            strings,
        })
    }

    /// What an event's key is: `type`, `dbUserName` (when wanted), a field to redact. Its
    /// UTF-8 is checked with the event's text.
    fn event_key(&mut self, wanted: Wanted) -> Result<Key, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string key").into());
        }
        let open = self.i;
        if !self.skip_string()? {
            return Ok(Key::of(&self.b[open + 1..self.i - 1], wanted));
        }
        self.i = open;
        Ok(Key::of(self.string()?.as_bytes(), wanted))
    }

    /// A value, validated and skipped; when `redact`, every non-empty string in it (at any
    /// depth) is pushed onto `out` with its range relative to the event at `start`.
    fn redacted(
        &mut self,
        start: usize,
        redact: bool,
        out: &mut Vec<(Range<usize>, Cow<'a, str>)>,
    ) -> Result<(), ScanError> {
        if !redact {
            return Ok(self.value()?);
        }
        match self.peek() {
            Some(b'"') => {
                let open = self.i;
                let value = self.string()?;
                if !value.is_empty() {
                    out.push((open - start..self.i - start, value));
                }
                Ok(())
            }
            Some(b'[') => {
                self.i += 1;
                self.items(b']', |s| s.redacted(start, true, out))
            }
            Some(b'{') => {
                self.i += 1;
                self.members(|s| s.redacted(start, true, out))
            }
            _ => Ok(self.value()?),
        }
    }
}
