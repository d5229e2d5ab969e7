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

/// Nesting deeper than this is refused (as `serde_json` refuses past 128).
const MAX_DEPTH: usize = 128;

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
    #[error("{what} at byte {at}")]
    Syntax { what: &'static str, at: usize },
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
    let mut s = Scanner {
        b: json,
        i: 0,
        depth: 0,
        spaces: 0,
    };
    s.ws();
    s.expect(b'{', "expected the payload to be a JSON object")?;
    let mut list: Option<Vec<Event>> = None;
    s.items(b'}', |s| {
        let is_list = s.key()? == "databaseActivityEventList";
        s.colon()?;
        if !is_list {
            return s.value();
        }
        if list.is_some() {
            return Err(ScanError::Duplicate("databaseActivityEventList"));
        }
        list = Some(s.event_list(wanted)?);
        Ok(())
    })?;
    s.ws();
    if s.i != s.b.len() {
        return Err(s.err("trailing characters"));
    }
    list.ok_or(ScanError::MissingList)
}

/// Text the output keeps (events) or that is compared (keys, `type`) must be UTF-8; like
/// serde_json, bytes in values that are skipped are not checked.
fn utf8(b: &[u8]) -> Result<&str, ScanError> {
    std::str::from_utf8(b).map_err(|e| ScanError::Utf8(e.to_string()))
}

/// The index of the first `"`, `\\` or control character in `b` (or its length), eight bytes
/// at a time: in the word `v`, a byte is flagged by `(v - 0x01…) & !v & 0x80…` when it is
/// zero; the lowest flag is always exact.
fn special(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let v = u64::from_le_bytes(w);
        let flags = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(b.len() - i)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    /// Whitespace bytes skipped so far (outside strings).
    spaces: usize,
}

impl<'a> Scanner<'a> {
    fn err(&self, what: &'static str) -> ScanError {
        ScanError::Syntax { what, at: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        let start = self.i;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
        self.spaces += self.i - start;
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), ScanError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// An object's members (`close` is `}`; `item` reads key, `:` and value) or an array's
    /// elements (`]`), after the opening bracket.
    #[inline(always)]
    fn items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.nest()?;
        self.ws();
        if !self.eat(close) {
            loop {
                self.ws();
                item(self)?;
                self.ws();
                if self.eat(b',') {
                    continue;
                }
                let what = if close == b'}' {
                    "expected `,` or `}`"
                } else {
                    "expected `,` or `]`"
                };
                self.expect(close, what)?;
                break;
            }
        }
        self.depth -= 1;
        Ok(())
    }

    #[inline(always)]
    fn colon(&mut self) -> Result<(), ScanError> {
        self.ws();
        self.expect(b':', "expected `:`")?;
        self.ws();
        Ok(())
    }

    fn nest(&mut self) -> Result<(), ScanError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        Ok(())
    }

    /// The list: an array of objects, each scanned for its `type`.
    fn event_list(&mut self, wanted: Wanted) -> Result<Vec<Event<'a>>, ScanError> {
        self.expect(b'[', "expected `databaseActivityEventList` to be an array")?;
        let mut events = Vec::with_capacity(16);
        self.items(b']', |s| {
            events.push(s.event(wanted)?);
            Ok(())
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
            return Err(self.err("expected a string key"));
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
            return self.value();
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
            _ => self.value(),
        }
    }

    fn key(&mut self) -> Result<Cow<'a, str>, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string key"));
        }
        self.string()
    }

    /// A string at `"`: its value (borrowed unless it has escapes).
    fn string(&mut self) -> Result<Cow<'a, str>, ScanError> {
        let open = self.i;
        let escaped = self.skip_string()?;
        let raw = utf8(&self.b[open..self.i])?;
        if !escaped {
            return Ok(Cow::Borrowed(&raw[1..raw.len() - 1]));
        }
        // Rare: serde_json applies the escapes, refusing lone surrogates as it does when it
        // reads a key or a field's value.
        serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|_| ScanError::Syntax {
                what: "invalid escape",
                at: open,
            })
    }

    /// A string at `"`, validated and skipped; whether it has escapes. (Like serde_json when
    /// it skips a value, `\u` escapes are not checked for surrogate pairs.)
    fn skip_string(&mut self) -> Result<bool, ScanError> {
        self.i += 1;
        let mut escaped = false;
        loop {
            self.i += special(self.b.get(self.i..).unwrap_or_default());
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {}
                Some(_) => return Err(self.err("control character in a string")),
            }
            self.i += 1;
            escaped = true;
            match self.peek() {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                Some(b'u') => {
                    self.i += 1;
                    for _ in 0..4 {
                        if !self.peek().is_some_and(|h| h.is_ascii_hexdigit()) {
                            return Err(self.err("invalid \\u escape"));
                        }
                        self.i += 1;
                    }
                }
                _ => return Err(self.err("invalid escape")),
            }
        }
    }

    /// An object's members after its `{`: each key validated and skipped, each value read
    /// by `value`.
    #[inline(always)]
    fn members(
        &mut self,
        mut value: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.items(b'}', |s| {
            if s.peek() != Some(b'"') {
                return Err(s.err("expected a string key"));
            }
            s.skip_string()?;
            s.colon()?;
            value(s)
        })
    }

    /// Any value, validated and skipped.
    fn value(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                self.members(Self::value)
            }
            Some(b'[') => {
                self.i += 1;
                self.items(b']', Self::value)
            }
            Some(b'"') => self.skip_string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), ScanError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), ScanError> {
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(self.err("invalid number"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn special_finds_the_first_quote_backslash_or_control(
            b in proptest::collection::vec(proptest::sample::select(vec![b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x22 ^ 0x80]), 0..40),
        ) {
            let naive = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).unwrap_or(b.len());
            proptest::prop_assert_eq!(special(&b), naive);
        }
    }
}
