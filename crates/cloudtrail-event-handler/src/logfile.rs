//! A CloudTrail log file read at the speed of its decompression (pure: bytes in, records
//! out), in constant memory.
//!
//! The gzip stream is inflated a window at a time ([`WINDOW`]). One pass of the shared JSON
//! scanner ([`opswatch_support::json`]) validates each record as strictly as `serde_json`,
//! finds where it ends, and on the way reads its **skim** ([`Skim`]): the few fields that
//! decide most records (event type, `readOnly`, name, source, error code, the identity's
//! type), and whether every field a [`Record`] holds has the type it must have. A record the
//! caller's sieve drops on its skim (an AWS service event, a read no rule looks at: most of a
//! trail) is never parsed; the rest are parsed in full from their text, which is handed over
//! with them (custom rules read any path of it).
//!
//! **The reference decides anything unusual.** The fast path accepts only a well-formed log
//! file (`{"Records":[…]}`, anything around it skipped) whose records it can skim with
//! certainty. At anything else — a syntax error, a truncated or damaged gzip stream, a record
//! whose skim is unsure (an escaped key, a field of the wrong type, a `\u` escape, a number
//! `serde_json` may refuse, a duplicated field), a nesting or size it does not take — it stops,
//! and [`crate::record::read_log_reference`] (the `serde_json` reader this one replaces)
//! reads the file again from the first record not yet handed over. So the decisions, the
//! counts and every error message are the reference's own; the differential tests
//! (`logfile::tests`) hold the fast path to them.

use std::io::Read;

use opswatch_support::json::{MAX_DEPTH, Scanner, Syntax};

use crate::filter::Drop;
use crate::record::{self, LogError, MAX_DECOMPRESSED_BYTES, Record, Seen};

/// Inflated bytes scanned at a time: a record that does not fit makes the window grow (up to
/// [`MAX_RECORD`]), and the window is all the decompressed file ever held.
pub const WINDOW: usize = 256 * 1024;

/// The largest record the fast path takes (CloudTrail's are at most a few hundred kB); a
/// larger one is left to the reference.
const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Nesting the fast path takes within a record: stricter than `serde_json` (whose limit of
/// 128 also counts the file's object and `Records` array), so a deeper record is the
/// reference's to judge.
const RECORD_DEPTH: usize = 100;

/// What the sieve sees of a record: the fields that decide whether it needs a full parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skim<'t> {
    pub event_type: Option<&'t str>,
    pub read_only: Option<bool>,
    pub event_name: &'t str,
    pub event_source: &'t str,
    /// `errorCode` is a string (not absent, not null).
    pub error_code: bool,
    /// `userIdentity.type`.
    pub identity_type: Option<&'t str>,
}

/// A record, as the reader hands it over. (Handed to the caller at once and never stored:
/// boxing the record would cost an allocation a record for nothing.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Entry<'t> {
    /// Parsed in full, with its text as it is in the file.
    Record(Record, &'t str),
    /// Dropped by the sieve on its skim: never parsed.
    Dropped(Drop),
}

/// Read a log file (gzip or plain JSON), handing `each` every record, in order: dropped on
/// its skim where `sieve` says so, else parsed. A record that is not a CloudTrail record is
/// counted ([`Seen::unreadable`]), logged and skipped, as the reference does.
///
/// `sieve` must say of a skim only what the full judgement of the record would say.
pub fn read_log(
    bytes: &[u8],
    sieve: impl Fn(&Skim) -> Option<Drop>,
    each: impl FnMut(Entry),
) -> Result<Seen, LogError> {
    read_log_in(bytes, MAX_DECOMPRESSED_BYTES, WINDOW, sieve, each)
}

/// [`read_log`] with another decompression cap and first window (tests use small ones).
pub(crate) fn read_log_in(
    bytes: &[u8],
    cap: u64,
    window: usize,
    sieve: impl Fn(&Skim) -> Option<Drop>,
    mut each: impl FnMut(Entry),
) -> Result<Seen, LogError> {
    let mut fast = Fast {
        window: Window::new(bytes, cap, window.max(1)),
        records: 0,
        unreadable: 0,
    };
    match fast.file(&sieve, &mut each) {
        Ok(()) => Ok(Seen {
            records: fast.records,
            unreadable: fast.unreadable,
            bytes: fast.window.total,
        }),
        Err(Defer) => {
            #[cfg(test)]
            tests::DEFERRED.with(|d| d.set(d.get() + 1));
            let handed = fast.records;
            let mut later = record::read_log_reference_from(bytes, cap, handed, |r, text| {
                each(Entry::Record(r, text));
            })?;
            later.unreadable += fast.unreadable;
            Ok(later)
        }
    }
}

/// The fast path stops: the reference takes over.
#[derive(Debug)]
struct Defer;

impl From<Syntax> for Defer {
    fn from(_: Syntax) -> Self {
        Defer
    }
}

/// The inflated bytes not yet scanned, and the stream they come from.
struct Window<'b> {
    source: Box<dyn Read + 'b>,
    buf: Vec<u8>,
    /// `buf[at..end]` is what is left to scan.
    at: usize,
    end: usize,
    /// The stream has ended.
    done: bool,
    /// Bytes inflated so far.
    total: u64,
    cap: u64,
}

impl<'b> Window<'b> {
    fn new(bytes: &'b [u8], cap: u64, window: usize) -> Self {
        let source: Box<dyn Read + 'b> = if bytes.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::bufread::MultiGzDecoder::new(bytes))
        } else {
            Box::new(bytes)
        };
        Self {
            source,
            buf: vec![0; window],
            at: 0,
            end: 0,
            done: false,
            total: 0,
            cap,
        }
    }

    /// More bytes after what is left: the rest moved to the front, the window grown when the
    /// rest fills it. False at the end of the stream.
    fn more(&mut self) -> Result<bool, Defer> {
        if self.done {
            return Ok(false);
        }
        self.buf.copy_within(self.at..self.end, 0);
        self.end -= self.at;
        self.at = 0;
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_RECORD {
                return Err(Defer);
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let before = self.end;
        while self.end < self.buf.len() {
            match self.source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A damaged stream: the reference says how.
                Err(_) => return Err(Defer),
            }
        }
        self.total += (self.end - before) as u64;
        if self.total > self.cap {
            return Err(Defer);
        }
        Ok(self.end > before)
    }

    /// Run `scan` over what is left; where it fails within a few bytes of the end, the end
    /// of the window was the cause: read more and run it again. On success the window moves
    /// past what `scan` read; the scan's value comes with where in the window it started.
    fn step<T>(
        &mut self,
        depth: usize,
        scan: impl Fn(&mut Scanner<'_>) -> Result<T, Syntax>,
    ) -> Result<(T, usize, usize), Defer> {
        loop {
            let mut s = Scanner::new(&self.buf[self.at..self.end]);
            s.depth = depth;
            match scan(&mut s) {
                Ok(v) => {
                    let start = self.at;
                    self.at += s.i;
                    return Ok((v, start, self.at));
                }
                // `\uXXXX` is the longest token that can fail for want of bytes.
                Err(e) if e.at + 8 >= self.end - self.at && self.more()? => {}
                Err(_) => return Err(Defer),
            }
        }
    }

    /// Skip whitespace; whether `close` comes next (then it is read; else nothing more is).
    fn closes(&mut self, close: u8) -> Result<bool, Defer> {
        let (closed, _, _) = self.step(0, |s| {
            s.ws();
            match s.peek() {
                None => Err(s.err("the end of the window")),
                Some(c) => {
                    s.i += usize::from(c == close);
                    Ok(c == close)
                }
            }
        })?;
        Ok(closed)
    }

    /// Skip whitespace and expect one of `bytes`: which one.
    fn token(&mut self, bytes: &'static [u8]) -> Result<u8, Defer> {
        let (c, _, _) = self.step(0, |s| {
            s.ws();
            match s.peek() {
                Some(c) if bytes.contains(&c) => {
                    s.i += 1;
                    Ok(c)
                }
                _ => Err(s.err("unexpected")),
            }
        })?;
        Ok(c)
    }
}

struct Fast<'b> {
    window: Window<'b>,
    /// Records handed over (or counted unreadable).
    records: usize,
    unreadable: usize,
}

impl Fast<'_> {
    /// `{ …, "Records": [ … ], … }`, then nothing but whitespace.
    fn file(
        &mut self,
        sieve: &impl Fn(&Skim) -> Option<Drop>,
        each: &mut impl FnMut(Entry),
    ) -> Result<(), Defer> {
        self.window.token(b"{")?;
        let mut found = false;
        if !self.window.closes(b'}')? {
            loop {
                // A key (not escaped) and its `:`.
                let (records, _, _) = self.window.step(1, |s| {
                    s.ws();
                    let open = s.i;
                    if s.peek() != Some(b'"') {
                        return Err(s.err("expected a key"));
                    }
                    if s.skip_string()? {
                        return Err(s.err("an escaped key"));
                    }
                    let records = &s.b[open + 1..s.i - 1] == b"Records";
                    s.colon()?;
                    Ok(records)
                })?;
                if records && !found {
                    found = true;
                    self.window.token(b"[")?;
                    self.records(sieve, each)?;
                } else {
                    // Rare (CloudTrail writes only `Records`): a value that fits the window.
                    self.window.step(1, |s| s.value())?;
                }
                if self.window.token(b",}")? == b'}' {
                    break;
                }
            }
        }
        // Nothing after the object but whitespace.
        loop {
            let left = &self.window.buf[self.window.at..self.window.end];
            if !left
                .iter()
                .all(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
            {
                return Err(Defer);
            }
            self.window.at = self.window.end;
            if !self.window.more()? {
                break;
            }
        }
        // No `Records`: not a log file, as the reference says.
        if found { Ok(()) } else { Err(Defer) }
    }

    /// The elements of `Records`, after its `[`.
    fn records(
        &mut self,
        sieve: &impl Fn(&Skim) -> Option<Drop>,
        each: &mut impl FnMut(Entry),
    ) -> Result<(), Defer> {
        if self.window.closes(b']')? {
            return Ok(());
        }
        loop {
            let (skim, start, end) = self.window.step(MAX_DEPTH - RECORD_DEPTH, |s| {
                s.ws();
                let lead = s.i;
                let skim = skim_record(s)?;
                // A number could go on in the next window (and a record ends in `}`).
                if s.i == s.b.len() {
                    return Err(s.err("the end of the window"));
                }
                Ok((skim, lead))
            })?;
            let (raw, lead) = skim;
            // The reference keeps a record's text as a String: it must be UTF-8.
            let text =
                std::str::from_utf8(&self.window.buf[start + lead..end]).map_err(|_| Defer)?;
            self.records += 1;
            match raw.resolve(text).and_then(|skim| sieve(&skim)) {
                Some(why) => each(Entry::Dropped(why)),
                None => match serde_json::from_str::<Record>(text) {
                    Ok(r) => each(Entry::Record(r, text)),
                    Err(e) => {
                        self.unreadable += 1;
                        tracing::warn!(record = self.records, error = %e, "not a CloudTrail record; skipped");
                    }
                },
            }
            if self.window.token(b",]")? == b']' {
                return Ok(());
            }
        }
    }
}

/// A field's place in a record's text (its value, between the quotes).
type Span = Option<(usize, usize)>;

/// A record's skim as byte ranges of its text, and whether it is certain.
#[derive(Debug, Default, Clone, Copy)]
struct RawSkim {
    /// The record is an object whose every [`Record`] field has its type, none twice, no key
    /// escaped and no value the full parse could refuse: its full parse cannot fail.
    clean: bool,
    event_type: Span,
    read_only: Option<bool>,
    event_name: Span,
    event_source: Span,
    error_code: bool,
    identity_type: Span,
}

impl RawSkim {
    /// The skim over the record's (UTF-8) text; `None` when it is not certain.
    fn resolve(self, text: &str) -> Option<Skim<'_>> {
        if !self.clean {
            return None;
        }
        let get = |span: Span| match span {
            Some((a, b)) => text.get(a..b).map(Some),
            None => Some(None),
        };
        Some(Skim {
            event_type: get(self.event_type)?,
            read_only: self.read_only,
            event_name: get(self.event_name)?.unwrap_or_default(),
            event_source: get(self.event_source)?.unwrap_or_default(),
            error_code: self.error_code,
            identity_type: get(self.identity_type)?,
        })
    }
}

/// What a key of a record (or of its identity) holds, as [`Record`] reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `String`: a string, never null.
    Str,
    /// `Option<String>`: a string or null.
    OptStr,
    /// `Option<bool>`.
    OptBool,
    /// `Option<Value>`: anything.
    Any,
    /// A nested struct: an object (`Option<…>`: or null).
    Struct { nullable: bool },
    /// Not a field of [`Record`]: skipped.
    Other,
}

/// The fields the skim reads, beside their kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    EventType,
    ReadOnly,
    EventName,
    EventSource,
    ErrorCode,
    Identity,
    IdentityType,
    SessionContext,
    SessionIssuer,
}

/// A key of a record: its kind, the skim's slot, and its bit in the duplicate check. (By
/// length first: most keys of a record are compared once, or not at all.)
fn record_field(key: &[u8]) -> (Kind, Slot, u32) {
    use Kind::*;
    let other = (Other, Slot::None, 0);
    let is = |name: &[u8], field| if key == name { field } else { other };
    match key.len() {
        7 => is(b"eventID", (OptStr, Slot::None, 1 << 11)),
        9 => match key {
            b"eventTime" => (Str, Slot::None, 1),
            b"eventName" => (Str, Slot::EventName, 1 << 2),
            b"awsRegion" => (Str, Slot::None, 1 << 3),
            b"userAgent" => (OptStr, Slot::None, 1 << 5),
            b"errorCode" => (OptStr, Slot::ErrorCode, 1 << 6),
            b"eventType" => (OptStr, Slot::EventType, 1 << 10),
            _ => other,
        },
        8 => is(b"readOnly", (OptBool, Slot::ReadOnly, 1 << 8)),
        11 => is(b"eventSource", (Str, Slot::EventSource, 1 << 1)),
        12 => match key {
            b"errorMessage" => (OptStr, Slot::None, 1 << 7),
            b"userIdentity" => (Struct { nullable: false }, Slot::Identity, 1 << 12),
            _ => other,
        },
        15 => is(b"sourceIPAddress", (OptStr, Slot::None, 1 << 4)),
        16 => is(b"responseElements", (Any, Slot::None, 1 << 14)),
        17 => is(b"requestParameters", (Any, Slot::None, 1 << 13)),
        18 => is(b"recipientAccountId", (OptStr, Slot::None, 1 << 9)),
        19 => is(b"additionalEventData", (Any, Slot::None, 1 << 15)),
        28 => is(b"sessionCredentialFromConsole", (Any, Slot::None, 1 << 16)),
        _ => other,
    }
}

/// A key of `userIdentity`.
fn identity_field(key: &[u8]) -> (Kind, Slot, u32) {
    use Kind::*;
    match key {
        b"type" => (OptStr, Slot::IdentityType, 1),
        b"principalId" => (OptStr, Slot::None, 1 << 1),
        b"arn" => (OptStr, Slot::None, 1 << 2),
        b"accountId" => (OptStr, Slot::None, 1 << 3),
        b"userName" => (OptStr, Slot::None, 1 << 4),
        b"invokedBy" => (OptStr, Slot::None, 1 << 5),
        b"sessionContext" => (Struct { nullable: true }, Slot::SessionContext, 1 << 6),
        _ => (Other, Slot::None, 0),
    }
}

/// A key of `sessionContext`.
fn session_context_field(key: &[u8]) -> (Kind, Slot, u32) {
    match key {
        b"sessionIssuer" => (Kind::Struct { nullable: true }, Slot::SessionIssuer, 1),
        _ => (Kind::Other, Slot::None, 0),
    }
}

/// A key of `sessionIssuer`.
fn session_issuer_field(key: &[u8]) -> (Kind, Slot, u32) {
    match key {
        b"type" => (Kind::OptStr, Slot::None, 1),
        b"userName" => (Kind::OptStr, Slot::None, 1 << 1),
        b"arn" => (Kind::OptStr, Slot::None, 1 << 2),
        _ => (Kind::Other, Slot::None, 0),
    }
}

/// One record, validated, with its skim (ranges relative to where the record starts).
fn skim_record(s: &mut Scanner<'_>) -> Result<RawSkim, Syntax> {
    let start = s.i;
    let mut skim = RawSkim {
        clean: true,
        ..RawSkim::default()
    };
    if s.peek() != Some(b'{') {
        // An array could still be read as a Record (serde reads a struct from a sequence):
        // the full parse decides.
        s.value()?;
        skim.clean = false;
        return Ok(skim);
    }
    s.i += 1;
    object(s, start, record_field, &mut skim)?;
    if s.unicode_escapes || s.big_numbers {
        skim.clean = false;
    }
    Ok(skim)
}

/// An object's members after its `{`, each key looked up by `field`.
fn object(
    s: &mut Scanner<'_>,
    start: usize,
    field: fn(&[u8]) -> (Kind, Slot, u32),
    skim: &mut RawSkim,
) -> Result<(), Syntax> {
    let mut seen = 0u32;
    s.items(b'}', |s| {
        if s.peek() != Some(b'"') {
            return Err(s.err("expected a string key"));
        }
        let open = s.i;
        let escaped = s.skip_string()?;
        let (kind, slot, bit) = if escaped {
            // `"event\u004eame"` is `eventName` to serde: not certain.
            skim.clean = false;
            (Kind::Other, Slot::None, 0)
        } else {
            field(&s.b[open + 1..s.i - 1])
        };
        s.colon()?;
        if seen & bit != 0 {
            skim.clean = false;
        }
        seen |= bit;
        member(s, start, kind, slot, skim)
    })
}

/// A member's value, checked against its kind; the skim's slot filled.
fn member(
    s: &mut Scanner<'_>,
    start: usize,
    kind: Kind,
    slot: Slot,
    skim: &mut RawSkim,
) -> Result<(), Syntax> {
    match (kind, s.peek()) {
        (Kind::Other | Kind::Any, _) => s.value(),
        (Kind::Str | Kind::OptStr, Some(b'"')) => {
            let open = s.i;
            if s.skip_string()? {
                // Escapes in a field the skim reads: the full parse reads it.
                skim.clean &= slot == Slot::None;
            }
            let span = Some((open + 1 - start, s.i - 1 - start));
            match slot {
                Slot::EventType => skim.event_type = span,
                Slot::EventName => skim.event_name = span,
                Slot::EventSource => skim.event_source = span,
                Slot::ErrorCode => skim.error_code = true,
                Slot::IdentityType => skim.identity_type = span,
                _ => {}
            }
            Ok(())
        }
        (Kind::OptStr, Some(b'n')) => {
            s.literal(b"null")?;
            // A later duplicate makes the skim unclean; null resets nothing it set.
            Ok(())
        }
        (Kind::OptBool, Some(b't')) => {
            s.literal(b"true")?;
            skim.read_only = Some(true);
            Ok(())
        }
        (Kind::OptBool, Some(b'f')) => {
            s.literal(b"false")?;
            skim.read_only = Some(false);
            Ok(())
        }
        (Kind::OptBool, Some(b'n')) => s.literal(b"null"),
        (Kind::Struct { nullable: true }, Some(b'n')) => s.literal(b"null"),
        (Kind::Struct { .. }, Some(b'{')) => {
            s.i += 1;
            let fields = match slot {
                Slot::Identity => identity_field,
                Slot::SessionContext => session_context_field,
                _ => session_issuer_field,
            };
            object(s, start, fields, skim)
        }
        // The wrong type: the full parse finds the record unreadable.
        _ => {
            skim.clean = false;
            s.value()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::render::Digest;
    use crate::rules::{Rules, configured};
    use crate::synthetic::{Rng, Trail};
    use opswatch_support::AccountNames;
    use serde_json::{Value, json};
    use std::io::Write;

    thread_local! {
        /// Files the fast path left to the reference, on this thread.
        pub(super) static DEFERRED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn deferred() -> usize {
        DEFERRED.with(std::cell::Cell::get)
    }

    fn gz(s: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(s).unwrap();
        w.finish().unwrap()
    }

    fn names(bytes: &[u8]) -> Result<(Vec<String>, Seen), String> {
        let mut out = Vec::new();
        let seen = read_log(
            bytes,
            |_| None,
            |e| {
                if let Entry::Record(r, _) = e {
                    out.push(r.event_name);
                }
            },
        )
        .map_err(|e| e.to_string())?;
        Ok((out, seen))
    }

    #[test]
    fn records_in_order_gzip_or_plain() {
        let doc = r#"{"Records":[{"eventName":"A","readOnly":false},{"eventName":"B"},{"eventName":5},{"eventName":"C"}],"other":{"x":[1]}}"#;
        for bytes in [gz(doc.as_bytes()), doc.as_bytes().to_vec()] {
            let (got, seen) = names(&bytes).unwrap();
            assert_eq!(got, ["A", "B", "C"]);
            assert_eq!((seen.records, seen.unreadable), (4, 1));
        }
    }

    #[test]
    fn bad_files_are_named() {
        assert!(
            names(&[0x1f, 0x8b, 8, 0, 1, 2, 3])
                .unwrap_err()
                .starts_with("the log file is not valid gzip JSON")
        );
        assert!(
            names(b"{\"Records\":[{\"eventName\":\"A\"},")
                .unwrap_err()
                .starts_with("the log file is not valid gzip JSON")
        );
        assert_eq!(
            names(b"{\"digest\":1}").unwrap_err(),
            LogError::NotLog.to_string()
        );
        assert_eq!(names(b"hello").unwrap_err(), LogError::NotLog.to_string());
        assert!(names(b"{\"Records\":[]} x").is_err());
    }

    #[test]
    fn keys_beside_records_are_read_by_the_fast_path() {
        let before = deferred();
        let doc = br#" {"":{"":""}, "digest" : [1, {"Records": 2}] ,"Records":[{"eventName":"A"}],"z":null} "#;
        for window in [WINDOW, 3] {
            let mut seen = Vec::new();
            read_log_in(
                doc,
                MAX_DECOMPRESSED_BYTES,
                window,
                |_| None,
                |e| {
                    if let Entry::Record(r, _) = e {
                        seen.push(r.event_name);
                    }
                },
            )
            .unwrap();
            assert_eq!(seen, ["A"]);
        }
        assert_eq!(deferred(), before);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let mut json = br#"{"Records":["#.to_vec();
        json.extend(vec![b' '; 4 * 1024 * 1024]);
        json.extend(b"]}");
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        w.write_all(&json).unwrap();
        let bomb = w.finish().unwrap();
        assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
        let r = read_log_in(&bomb, 1024 * 1024, WINDOW, |_| None, |_| {});
        assert!(matches!(r, Err(LogError::TooLarge)), "{r:?}");
        // Under the cap the same file is an empty, valid log.
        let under = read_log_in(&bomb, 8 * 1024 * 1024, WINDOW, |_| None, |_| {});
        assert!(matches!(under, Ok(Seen { records: 0, .. })), "{under:?}");
    }

    /// Every field of [`Record`] and of the identity it holds, as serde names them: the
    /// skim must know each one's type, or a record whose field has the wrong type would be
    /// dropped on its skim instead of counted unreadable.
    #[test]
    fn the_skim_knows_every_field_a_record_reads() {
        use serde::Deserialize;
        use serde::de::{self, Visitor};
        struct Probe(std::cell::RefCell<Vec<&'static str>>);
        impl<'de> de::Deserializer<'de> for &Probe {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("probe"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.borrow_mut().extend(fields);
                Err(de::Error::custom("probe"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let fields = |probe: fn(&Probe)| {
            let p = Probe(Default::default());
            probe(&p);
            p.0.into_inner()
        };
        let known = |table: fn(&[u8]) -> (Kind, Slot, u32), names: Vec<&str>| {
            for name in names {
                assert!(
                    table(name.as_bytes()).0 != Kind::Other,
                    "the skim does not know {name:?}"
                );
            }
        };
        known(
            record_field,
            fields(|p| drop(crate::record::Record::deserialize(p))),
        );
        known(
            identity_field,
            fields(|p| drop(crate::record::UserIdentity::deserialize(p))),
        );
        known(
            session_context_field,
            fields(|p| drop(crate::record::SessionContext::deserialize(p))),
        );
        known(
            session_issuer_field,
            fields(|p| drop(crate::record::SessionIssuer::deserialize(p))),
        );
    }

    /// [`Rules::sieve`] drops reads that no built-in rule judges: it knows what each rule
    /// that judges reads looks at. A new one must be taught to it.
    #[test]
    fn the_sieve_knows_every_rule_that_judges_reads() {
        use crate::rules::{ACCESS_DENIED, BUILTINS, ROOT_ACTIVITY, SECRET_READ_BURST};
        let reads: Vec<&str> = BUILTINS
            .iter()
            .filter(|b| b.reads)
            .map(|b| b.name)
            .collect();
        assert_eq!(
            reads,
            [ROOT_ACTIVITY, ACCESS_DENIED, SECRET_READ_BURST],
            "teach Rules::sieve what the new rule looks at"
        );
    }

    /// The configurations the differential tests judge under: each changes what the sieve
    /// may drop.
    fn configurations() -> Vec<(Filter, Rules)> {
        [
            vec![],
            vec![("INCLUDE_EVENT_NAMES", "DescribeInstances, GetRole, Run*")],
            vec![("READ_ONLY_PREFIXES", "")],
            vec![("DISABLE_RULES", "root-activity,secret-read-burst")],
            vec![("SECRET_READ_THRESHOLD", "2"), ("MIN_SEVERITY", "warning")],
            vec![(
                "RULES",
                r#"[{"name":"kms-reads","match":{"eventSource":"kms.amazonaws.com"},"severity":"warning"}]"#,
            )],
            vec![(
                "RULES",
                r#"[{"name":"quiet-ci","ignore":true,"match":{"userIdentity.userName":"ci-*"}}]"#,
            )],
        ]
        .into_iter()
        .map(|vars| configured(&vars).expect("a valid configuration"))
        .collect()
    }

    /// What a reader made of a file under one configuration: each record's fate, the alert
    /// the alerted ones make, and the result.
    fn judged(
        filter: &Filter,
        rules: &Rules,
        read: impl FnOnce(
            &dyn Fn(&Skim) -> Option<Drop>,
            &mut dyn FnMut(Entry),
        ) -> Result<Seen, LogError>,
    ) -> (Vec<String>, String, Result<Seen, String>) {
        let mut fates = Vec::new();
        let mut digest = Digest::default();
        let mut judge = rules.reading(filter);
        let sieve = |s: &Skim| rules.sieve(filter, s);
        let result = read(&sieve, &mut |e| match e {
            Entry::Dropped(why) => fates.push(format!("{why:?}")),
            Entry::Record(r, text) => {
                let doc = rules.document(text);
                match judge.judge(&r, doc.as_ref()) {
                    Ok(v) => {
                        fates.push(format!("{:?} {:?} {:?}", v.severity, v.rules, v.fold));
                        digest.add(&r, &v, &AccountNames::default());
                    }
                    // What the sieve would say: why only (an ignore rule's name is the
                    // judge's to give, and never on a record the sieve drops).
                    Err(d) if d.rule.is_none() => fates.push(format!("{:?}", d.why)),
                    Err(d) => fates.push(format!("{:?} {:?} {:?}", d.why, d.rule, d.silenced)),
                }
            }
        });
        let alert = format!("{:?}", digest.into_alert(None));
        (fates, alert, result.map_err(|e| e.to_string()))
    }

    /// The fast reader (sieve and all, in a window of `window` bytes) and the reference
    /// agree on `bytes` under every configuration.
    fn agree(bytes: &[u8], window: usize) -> Result<(), String> {
        for (filter, rules) in configurations() {
            let fast = judged(&filter, &rules, |sieve, each| {
                read_log_in(bytes, MAX_DECOMPRESSED_BYTES, window, sieve, each)
            });
            let reference = judged(&filter, &rules, |_, each| {
                crate::record::read_log_reference(bytes, |r, text| each(Entry::Record(r, text)))
            });
            // A file that cannot be read fails as a whole, with the same error. Which of its
            // first records are handed over before the error shows depends on how much the
            // decoder had inflated (flate2 drops what it inflated in the call that fails):
            // one reader's records are the start of the other's.
            let same = match (&fast.2, &reference.2) {
                (Err(a), Err(b)) => {
                    let n = fast.0.len().min(reference.0.len());
                    a == b && fast.0[..n] == reference.0[..n]
                }
                _ => fast == reference,
            };
            if !same {
                return Err(format!(
                    "the readers disagree (window {window})\nfast:      {:?}\nreference: {:?}\nfile: {}",
                    fast,
                    reference,
                    String::from_utf8_lossy(bytes)
                ));
            }
        }
        Ok(())
    }

    /// A record of a real trail's shape, changed in one of the ways that make readers differ.
    fn record(rng: &mut Rng, n: u64) -> Value {
        let trail = Trail::single("111122223333");
        let mut r = trail.record(rng, "111122223333", n);
        let set = |r: &mut Value, path: &[&str], v: Value| {
            let mut at = r;
            for p in &path[..path.len() - 1] {
                at = &mut at[*p];
            }
            at[path[path.len() - 1]] = v;
        };
        match rng.below(40) {
            // Records-like keys in the parameters: only the file's own `Records` counts.
            0 => set(
                &mut r,
                &["requestParameters"],
                json!({"Records": [{"eventName": "DeleteTrail", "readOnly": false}], "eventName": "StopLogging"}),
            ),
            // Escapes where the skim reads, and where it does not.
            1 => set(&mut r, &["eventName"], json!("Describe\"Instances\\")),
            2 => set(&mut r, &["userAgent"], json!("tab\there \u{1} é ✓ \"q\"")),
            3 => set(&mut r, &["userIdentity", "type"], json!("Ro\u{1}ot")),
            // The wrong types: the record is unreadable.
            4 => set(&mut r, &["eventName"], json!(5)),
            5 => set(&mut r, &["eventName"], Value::Null),
            6 => set(&mut r, &["readOnly"], json!("true")),
            7 => set(&mut r, &["userIdentity"], Value::Null),
            8 => set(&mut r, &["userIdentity"], json!(["Root", "p", "arn"])),
            9 => set(&mut r, &["errorCode"], json!(403)),
            10 => set(&mut r, &["userIdentity", "sessionContext"], json!(7)),
            11 => set(&mut r, &["userIdentity", "sessionContext"], Value::Null),
            12 => set(
                &mut r,
                &["userIdentity", "sessionContext", "sessionIssuer"],
                Value::Null,
            ),
            13 => set(
                &mut r,
                &[
                    "userIdentity",
                    "sessionContext",
                    "sessionIssuer",
                    "userName",
                ],
                json!(false),
            ),
            14 => set(&mut r, &["eventTime"], Value::Null),
            15 => set(&mut r, &["recipientAccountId"], Value::Null),
            // What decides: errors, root, service events, reads and writes.
            16 => set(&mut r, &["errorCode"], json!("AccessDenied")),
            17 => set(&mut r, &["errorCode"], Value::Null),
            18 => set(&mut r, &["userIdentity", "type"], json!("Root")),
            19 => set(&mut r, &["eventType"], json!("AwsServiceEvent")),
            20 => set(&mut r, &["readOnly"], Value::Null),
            21 => set(&mut r, &["eventType"], Value::Null),
            // Not objects.
            22 => r = json!(5),
            23 => r = json!(["2026-11-25T09:00:00Z", "ec2.amazonaws.com", "RunInstances"]),
            24 => r = json!("a record"),
            25 => r = Value::Null,
            26 => r = json!({}),
            _ => {}
        }
        r
    }

    /// A record's text changed where JSON values cannot reach: keys escaped or twice, numbers
    /// out of range, lone surrogates, deep nesting, bytes that are not UTF-8 or JSON.
    fn text_change(rng: &mut Rng, text: &mut Vec<u8>) {
        if text.first() != Some(&b'{') {
            return;
        }
        let insert: &[u8] = match rng.below(200) {
            0 => br#""event\u004eame":"CreateUser","#,
            1 => br#""eventName":"DeleteTrail","#,
            2 => br#""readOnly":true,"#,
            3 => br#""big":1e400,"#,
            4 => br#""additionalEventData":{"n":1e400},"#,
            5 => br#""x":"\ud800","#,
            6 => br#""sessionCredentialFromConsole":"\ud800","#,
            7 => br#""deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"#,
            8 => b"\"bad\":\"\xff\xfe\",",
            9 => b"\"ctl\":\"a\x01b\",",
            10 => br#""n":012,"#,
            11 => br#""n":-,"#,
            12 => br#""n":12345678901234567890123,"#,
            13 => br#""t":tru,"#,
            14 => br#""esc":"\q","#,
            15 => br#""errorMessage":"\ud83d\ude00","#,
            16 => br#""additionalEventData":{"MFAUsed":"\u0059es"},"#,
            _ => return,
        };
        text.splice(1..1, insert.iter().copied());
    }

    /// A log file of a real trail's shape, in one of the ways files differ.
    fn log_file(seed: u64) -> Vec<u8> {
        let mut rng = Rng::new(seed);
        let n = rng.below(12);
        let pretty = rng.below(3) == 0;
        let records: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let r = record(&mut rng, i);
                let mut text = if pretty {
                    serde_json::to_vec_pretty(&r).unwrap()
                } else {
                    serde_json::to_vec(&r).unwrap()
                };
                text_change(&mut rng, &mut text);
                text
            })
            .collect();
        let sep: &[u8] = if pretty { b",\n  " } else { b"," };
        let mut array = b"[".to_vec();
        array.extend(records.join(sep));
        array.extend(b"]");
        let mut doc = Vec::new();
        match rng.below(32) {
            0 => doc.extend(b"\n\t {\"before\":{\"Records\":[1]},\"Records\":"),
            1 => doc.extend(b"{\"Records\":[{\"eventName\":\"Other\"}],\"Records\":"),
            2 => doc.extend(b"{\"records\":"),
            3 => doc.extend(b"[{\"Records\":"),
            4 => doc.extend(b"{\"\":{\"\":\"\"}, \"Records\" :"),
            _ => doc.extend(b"{\"Records\":"),
        }
        doc.extend(&array);
        match rng.below(32) {
            0 => doc.extend(b",\"after\":[true,null,{\"x\":\"y\"}]}"),
            1 => doc.extend(b"} trailing"),
            2 => doc.extend(b"}\n\n"),
            3 => {}
            _ => doc.extend(b"}"),
        }
        let mut bytes = match rng.below(8) {
            0 => doc,
            // Two gzip members, as concatenated files are.
            1 => {
                let half = doc.len() / 2;
                let mut two = gz(&doc[..half]);
                two.extend(gz(&doc[half..]));
                two
            }
            _ => gz(&doc),
        };
        match rng.below(20) {
            // Cut short, or damaged.
            0 if !bytes.is_empty() => {
                let keep = rng.below(bytes.len() as u64) as usize;
                bytes.truncate(keep);
            }
            1 if bytes.len() > 20 => {
                let at = 10 + rng.below(bytes.len() as u64 - 10) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            _ => {}
        }
        bytes
    }

    #[test]
    fn the_readers_agree_on_real_shaped_files() {
        // A whole synthetic trail, in the default window and in small ones (every record
        // crosses a window's edge, and the window grows to hold it).
        let trail = Trail::single("111122223333");
        let file = trail.log_file(&mut Rng::new(1), "111122223333", 3000);
        let before = deferred();
        for window in [WINDOW, 4096, 64, 7] {
            agree(&file, window).unwrap();
        }
        assert_eq!(deferred(), before, "the fast path reads a real trail alone");
        // The committed samples.
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/cloudtrail/s3-objects"
        );
        let mut stack = vec![std::path::PathBuf::from(dir)];
        let mut samples = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let bytes = std::fs::read(&p).unwrap();
                    let before = deferred();
                    for window in [WINDOW, 16] {
                        agree(&bytes, window).unwrap();
                        agree(&gz(&bytes), window).unwrap();
                    }
                    assert_eq!(
                        deferred(),
                        before,
                        "{} was left to the reference",
                        p.display()
                    );
                    samples += 1;
                }
            }
        }
        assert!(samples >= 2, "{samples} samples");
    }

    /// The random files test both paths: most are read by the fast path alone, many are
    /// (partly) left to the reference.
    #[test]
    fn the_random_files_take_both_paths() {
        let before = deferred();
        let files = 400;
        for seed in 0..files {
            read_log_in(
                &log_file(seed),
                MAX_DECOMPRESSED_BYTES,
                64,
                |_| None,
                |_| {},
            )
            .ok();
        }
        let left = deferred() - before;
        assert!(
            (files / 10..files / 2).contains(&(left as u64)),
            "{left} of {files} left to the reference"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        #[test]
        fn the_readers_agree(seed in proptest::num::u64::ANY, window in 1usize..300) {
            let bytes = log_file(seed);
            if let Err(why) = agree(&bytes, window) {
                return Err(proptest::test_runner::TestCaseError::fail(why));
            }
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256), text in "\\PC{0,64}") {
            let _ = read_log(&bytes, |_| None, |_| {});
            let _ = read_log(text.as_bytes(), |_| None, |_| {});
            let _ = read_log(&gz(text.as_bytes()), |_| None, |_| {});
        }
    }

    /// The sieve drops what it can: a synthetic trail's reads and service events are never
    /// parsed (the speed is in what is not read).
    #[test]
    fn most_of_a_trail_is_never_parsed() {
        let trail = Trail::single("111122223333");
        let file = trail.log_file(&mut Rng::new(3), "111122223333", 2000);
        let (filter, rules) = (Filter::default(), Rules::default());
        let (mut dropped, mut parsed) = (0, 0);
        read_log(
            &file,
            |s| rules.sieve(&filter, s),
            |e| match e {
                Entry::Dropped(_) => dropped += 1,
                Entry::Record(..) => parsed += 1,
            },
        )
        .unwrap();
        assert!(dropped > 2 * parsed, "{dropped} dropped, {parsed} parsed");
    }
}
