//! One pass over JSON text, validating it as strictly as `serde_json` reads it (RFC 8259:
//! strings without raw control characters and with valid escapes, numbers without leading
//! zeros, nesting bounded) without building anything: the caller walks the structure it
//! wants ([`Scanner::items`], [`Scanner::members`]) and skips the rest ([`Scanner::value`]).
//! Strings are skipped eight bytes at a time ([`special`]).
//!
//! Shared by the readers that must be faster than a tree: Aurora's activity events
//! (activity-stream-decoder) and CloudTrail log files (cloudtrail-event-handler). Each is
//! differentially tested against the `serde_json` reading it replaces.

use std::borrow::Cow;

/// Nesting deeper than this is refused (as `serde_json` refuses past 128).
pub const MAX_DEPTH: usize = 128;

/// Where the text stops being JSON, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct Syntax {
    pub what: &'static str,
    pub at: usize,
}

/// The index of the first `"`, `\\` or control character in `b` (or its length), eight bytes
/// at a time: in the word `v`, a byte is flagged by `(v - 0x01…) & !v & 0x80…` when it is
/// zero; the lowest flag is always exact.
pub fn special(b: &[u8]) -> usize {
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

/// A position in JSON text, and what was seen on the way.
pub struct Scanner<'a> {
    pub b: &'a [u8],
    pub i: usize,
    pub depth: usize,
    /// Whitespace bytes skipped so far (outside strings).
    pub spaces: usize,
    /// A `\u` escape was skipped ([`Scanner::skip_string`] does not check surrogate pairs;
    /// `serde_json` refuses a lone surrogate in a string it decodes).
    pub unicode_escapes: bool,
    /// A number with an exponent or more than 17 digits was skipped (one `serde_json` may
    /// refuse as out of range when it reads it as a number).
    pub big_numbers: bool,
}

impl<'a> Scanner<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self {
            b,
            i: 0,
            depth: 0,
            spaces: 0,
            unicode_escapes: false,
            big_numbers: false,
        }
    }

    pub fn err(&self, what: &'static str) -> Syntax {
        Syntax { what, at: self.i }
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    pub fn ws(&mut self) {
        let start = self.i;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
        self.spaces += self.i - start;
    }

    #[inline(always)]
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    #[inline(always)]
    pub fn expect(&mut self, c: u8, what: &'static str) -> Result<(), Syntax> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// An object's members (`close` is `}`; `item` reads key, `:` and value) or an array's
    /// elements (`]`), after the opening bracket.
    #[inline(always)]
    pub fn items<E: From<Syntax>>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), E>,
    ) -> Result<(), E> {
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
    pub fn colon(&mut self) -> Result<(), Syntax> {
        self.ws();
        self.expect(b':', "expected `:`")?;
        self.ws();
        Ok(())
    }

    #[inline(always)]
    fn nest(&mut self) -> Result<(), Syntax> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        Ok(())
    }

    pub fn key(&mut self) -> Result<Cow<'a, str>, Syntax> {
        if self.peek() != Some(b'"') {
            return Err(self.err("expected a string key"));
        }
        self.string()
    }

    /// A string at `"`: its value (borrowed unless it has escapes). Not UTF-8: an error at
    /// the string.
    pub fn string(&mut self) -> Result<Cow<'a, str>, Syntax> {
        let open = self.i;
        let escaped = self.skip_string()?;
        // Text that is kept or compared must be UTF-8; like serde_json, bytes in values that
        // are skipped are not checked.
        let raw = std::str::from_utf8(&self.b[open..self.i]).map_err(|_| Syntax {
            what: "a string that is not UTF-8",
            at: open,
        })?;
        if !escaped {
            return Ok(Cow::Borrowed(&raw[1..raw.len() - 1]));
        }
        // Rare: serde_json applies the escapes, refusing lone surrogates as it does when it
        // reads a key or a field's value.
        serde_json::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|_| Syntax {
                what: "invalid escape",
                at: open,
            })
    }

    /// A string at `"`, validated and skipped; whether it has escapes. (Like serde_json when
    /// it skips a value, `\u` escapes are not checked for surrogate pairs.)
    #[inline]
    pub fn skip_string(&mut self) -> Result<bool, Syntax> {
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
                    self.unicode_escapes = true;
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
    pub fn members<E: From<Syntax>>(
        &mut self,
        mut value: impl FnMut(&mut Self) -> Result<(), E>,
    ) -> Result<(), E> {
        self.items(b'}', |s| {
            if s.peek() != Some(b'"') {
                return Err(s.err("expected a string key").into());
            }
            s.skip_string()?;
            s.colon()?;
            value(s)
        })
    }

    /// Any value, validated and skipped.
    pub fn value(&mut self) -> Result<(), Syntax> {
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

    pub fn literal(&mut self, word: &'static [u8]) -> Result<(), Syntax> {
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

    pub fn number(&mut self) -> Result<(), Syntax> {
        let start = self.i;
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
            self.big_numbers = true;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if self.i - start > 17 {
            self.big_numbers = true;
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

        #[test]
        fn accepts_exactly_what_serde_json_accepts(text in "[ \\[\\]{}\",:0-9a-z.eE+\\\\-]{0,24}") {
            let mut s = Scanner::new(text.as_bytes());
            s.ws();
            let ours = s.value().is_ok() && { s.ws(); s.i == text.len() };
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
            proptest::prop_assert_eq!(ours, theirs, "{:?}", text);
        }
    }
}
