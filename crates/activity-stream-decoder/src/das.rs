//! Database Activity Streams records: the outer JSON RDS puts on Kinesis, the encryption
//! context for the data key, and the decrypted payload (gzip JSON) turned into NDJSON.
//! Pure: no I/O.
//!
//! Events are passed through byte for byte ([`crate::scan`] hands back each event's exact
//! text): PostgreSQL and MySQL events differ
//! in shape (e.g. `exitCode` is a number in one and a string in the other), and a decoder
//! must not add, drop or retype any field.

use serde::Deserialize;

use crate::filter::Filter;

/// The outer record `type` RDS writes.
pub const RECORDS_TYPE: &str = "DatabaseActivityMonitoringRecords";

/// Largest decompressed payload accepted. RDS payloads are a few KB to a few hundred KB; the
/// cap stops a gzip bomb from exhausting the function's memory.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record data is not valid base64 ({0})")]
    DataBase64(String),
    #[error("record data is not the DAS JSON record ({0})")]
    OuterJson(String),
    #[error("unknown DAS record type {0:?} (expected {RECORDS_TYPE:?})")]
    UnknownType(String),
    #[error("the \"{field}\" field is not valid base64 ({why})")]
    FieldBase64 { field: &'static str, why: String },
    #[error("KMS could not decrypt the data key: {0}")]
    Kms(String),
    #[error("the AWS Encryption SDK could not decrypt the activity events: {0}")]
    Esdk(String),
    #[error("the decrypted payload is not valid gzip ({0})")]
    Gzip(String),
    #[error("the decrypted payload is larger than {MAX_PAYLOAD_BYTES} bytes uncompressed")]
    TooLarge,
    #[error("the decrypted payload is not the DAS events JSON ({0})")]
    PayloadJson(String),
    #[error(
        "no resource id: the event has no sourceKinesisStreamArn of the form …/aws-rds-das-<resource-id> and DAS_RESOURCE_ID is not set"
    )]
    NoResourceId,
    #[error(
        "the response would exceed Firehose's 6 MB limit; lower the processor's BufferSizeInMBs"
    )]
    ResponseTooLarge,
}

/// The resource id in a DAS stream ARN (`arn:aws:kinesis:…:stream/aws-rds-das-<id>`).
pub fn resource_id_from_stream_arn(arn: &str) -> Option<&str> {
    let (_, id) = arn.rsplit_once("/aws-rds-das-")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The KMS encryption context RDS used for the data key: `aws:rds:db-id` for an instance
/// (`db-…`), `aws:rds:dbc-id` for a cluster (`cluster-…`).
pub fn encryption_context(resource_id: &str) -> (&'static str, &str) {
    if resource_id.starts_with("db-") {
        ("aws:rds:db-id", resource_id)
    } else {
        ("aws:rds:dbc-id", resource_id)
    }
}

/// The outer record, decoded from the Firehose record's base64 `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuterRecord {
    /// The AWS Encryption SDK message.
    pub activity_events: Vec<u8>,
    /// The KMS ciphertext of the data key, base64 as RDS wrote it (the cache key).
    pub key: String,
    pub key_blob: Vec<u8>,
}

#[derive(Deserialize)]
struct Outer<'a> {
    #[serde(rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "databaseActivityEvents")]
    events: Option<String>,
    key: Option<String>,
}

pub fn parse_outer(data: &str) -> Result<OuterRecord, RecordError> {
    let json = b64_decode(data.trim()).map_err(|e| RecordError::DataBase64(e.to_string()))?;
    let outer: Outer =
        serde_json::from_slice(&json).map_err(|e| RecordError::OuterJson(e.to_string()))?;
    match outer.kind.as_deref() {
        Some(RECORDS_TYPE) => {}
        Some(other) => return Err(RecordError::UnknownType(other.to_owned())),
        None => return Err(RecordError::OuterJson("missing field `type`".into())),
    }
    let events = outer
        .events
        .ok_or_else(|| RecordError::OuterJson("missing field `databaseActivityEvents`".into()))?;
    let key = outer
        .key
        .ok_or_else(|| RecordError::OuterJson("missing field `key`".into()))?;
    let field = |field: &'static str, s: &str| {
        b64_decode(s.trim()).map_err(|e| RecordError::FieldBase64 {
            field,
            why: e.to_string(),
        })
    };
    Ok(OuterRecord {
        activity_events: field("databaseActivityEvents", &events)?,
        key_blob: field("key", &key)?,
        key,
    })
}

/// Standard base64 with padding (SIMD: most of a batch's bytes pass through here).
pub fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    base64_simd::STANDARD
        .decode_to_vec(s)
        .map_err(|_| "invalid base64".to_owned())
}

pub fn b64_encode(b: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(b)
}

/// Gunzip a decrypted payload (every member, as `MultiGzDecoder` would), refusing more than
/// [`MAX_PAYLOAD_BYTES`]. The inflater is kept per thread and reset between payloads, and the
/// output is sized from the gzip trailer, so a record costs no allocation but its output.
pub fn gunzip(gz: &[u8]) -> Result<Vec<u8>, RecordError> {
    // ISIZE (the last member's size mod 2^32) is only a hint; growth and the cap decide.
    let hint = gz
        .last_chunk::<4>()
        .map_or(0, |t| u32::from_le_bytes(*t) as usize)
        .min(1 << 24);
    let mut out = Vec::with_capacity(hint.max(gz.len() * 4) + 1);
    let mut rest = gz;
    loop {
        rest = &rest[gzip_header_len(rest)?..];
        let start = out.len();
        let used = INFLATER.with_borrow_mut(|d| inflate_member(d, rest, &mut out))?;
        rest = &rest[used..];
        let Some((trailer, after)) = rest.split_first_chunk::<8>() else {
            return Err(RecordError::Gzip("the gzip trailer is truncated".into()));
        };
        let (crc, size) = trailer.split_at(4);
        let member = &out[start..];
        if crc32fast::hash(member).to_le_bytes() != crc {
            return Err(RecordError::Gzip(
                "corrupt gzip stream does not have a matching checksum".into(),
            ));
        }
        if (member.len() as u32).to_le_bytes() != size {
            return Err(RecordError::Gzip(
                "the gzip size trailer does not match".into(),
            ));
        }
        rest = after;
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

thread_local! {
    static INFLATER: std::cell::RefCell<flate2::Decompress> =
        std::cell::RefCell::new(flate2::Decompress::new(false));
}

/// The length of a gzip member's header (RFC 1952 §2.3).
fn gzip_header_len(gz: &[u8]) -> Result<usize, RecordError> {
    let bad = |why: &str| RecordError::Gzip(why.to_owned());
    let Some(&[0x1f, 0x8b, 8, flags, _, _, _, _, _, _]) = gz.first_chunk::<10>() else {
        return Err(bad(if gz.len() < 10 {
            "truncated gzip header"
        } else {
            "invalid gzip header"
        }));
    };
    if flags & 0xe0 != 0 {
        return Err(bad("invalid gzip header (reserved flags)"));
    }
    let mut at = 10;
    if flags & 0x04 != 0 {
        let len = gz
            .get(at..at + 2)
            .ok_or_else(|| bad("truncated gzip header"))?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let zero = gz
                .get(at..)
                .and_then(|t| t.iter().position(|&b| b == 0))
                .ok_or_else(|| bad("truncated gzip header"))?;
            at += zero + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    if at > gz.len() {
        return Err(bad("truncated gzip header"));
    }
    Ok(at)
}

/// Inflate one raw deflate stream from `input` onto `out`; the input bytes it used.
fn inflate_member(
    d: &mut flate2::Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, RecordError> {
    d.reset(false);
    let cap = MAX_PAYLOAD_BYTES as usize;
    loop {
        if out.len() == out.capacity() {
            if out.len() > cap {
                return Err(RecordError::TooLarge);
            }
            let more = out.len().max(32 * 1024).min(cap + 1 - out.len());
            out.reserve_exact(more);
        }
        let used = d.total_in() as usize;
        let written = out.len();
        let status = d
            .decompress_vec(&input[used..], out, flate2::FlushDecompress::None)
            .map_err(|e| RecordError::Gzip(e.to_string()))?;
        if out.len() > cap {
            return Err(RecordError::TooLarge);
        }
        match status {
            flate2::Status::StreamEnd => return Ok(d.total_in() as usize),
            _ if d.total_in() as usize == used && out.len() == written => {
                return Err(RecordError::Gzip("the deflate stream is truncated".into()));
            }
            _ => {}
        }
    }
}

/// Activity events of one record, as NDJSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub ndjson: Vec<u8>,
    pub events: usize,
    pub heartbeats: usize,
    /// Events of a `DAS_DROP_USERS` user, left out.
    pub dropped_events: usize,
    /// Strings replaced by their keyed hash (`DAS_REDACT`).
    pub redacted_values: usize,
}

/// The activity events of a decompressed payload, heartbeats removed, one per line.
pub fn decode_payload(json: &[u8]) -> Result<Decoded, RecordError> {
    decode_payload_with(json, &Filter::default())
}

/// [`decode_payload`], with the events of the filter's users left out and its fields' strings
/// replaced by their hash. Every other byte of an event stays as RDS wrote it (whitespace
/// outside strings aside: an event is one line).
pub fn decode_payload_with(json: &[u8], filter: &Filter) -> Result<Decoded, RecordError> {
    let events = crate::scan::events_with(json, filter.wanted())
        .map_err(|e| RecordError::PayloadJson(e.to_string()))?;
    let mut out = Decoded {
        ndjson: Vec::with_capacity(json.len()),
        ..Decoded::default()
    };
    for event in events {
        if event.kind.as_deref() == Some("heartbeat") {
            out.heartbeats += 1;
            continue;
        }
        if filter.drops(event.user.as_deref()) {
            out.dropped_events += 1;
            continue;
        }
        let copy = |text: &str, out: &mut Vec<u8>| {
            if event.compact {
                out.extend_from_slice(text.as_bytes());
            } else {
                minify_into(text, out);
            }
        };
        // Each range is a whole string token, so every piece between them starts and ends
        // outside a string, as minify_into requires.
        let mut at = 0;
        if let Some(redaction) = filter.redaction() {
            for (range, value) in &event.strings {
                copy(&event.text[at..range.start], &mut out.ndjson);
                redaction.hash_into(value, &mut out.ndjson);
                at = range.end;
            }
        }
        copy(&event.text[at..], &mut out.ndjson);
        out.ndjson.push(b'\n');
        out.events += 1;
        out.redacted_values += event.strings.len();
    }
    Ok(out)
}

/// Copy JSON text without whitespace outside strings, so an event is one line whatever its
/// formatting; strings, numbers and key order stay exactly as they were.
fn minify_into(json: &str, out: &mut Vec<u8>) {
    if !json
        .bytes()
        .any(|b| matches!(b, b'\n' | b'\r' | b'\t' | b' '))
    {
        out.extend_from_slice(json.as_bytes());
        return;
    }
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::Deserialize;
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    struct Payload<'a> {
        #[serde(rename = "databaseActivityEventList", borrow)]
        events: Vec<&'a RawValue>,
    }

    #[derive(Deserialize)]
    struct EventType<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }

    /// The reading the scanner replaced: serde_json, two passes. The reference it is tested against.
    fn decode_payload_serde(json: &[u8]) -> Result<Decoded, RecordError> {
        let payload: Payload =
            serde_json::from_slice(json).map_err(|e| RecordError::PayloadJson(e.to_string()))?;
        let mut out = Decoded {
            ndjson: Vec::with_capacity(json.len()),
            ..Decoded::default()
        };
        for raw in payload.events {
            // The rule both follow: an element that is not an object is not a heartbeat.
            if !raw.get().starts_with('{') {
                minify_into(raw.get(), &mut out.ndjson);
                out.ndjson.push(b'\n');
                out.events += 1;
                continue;
            }
            let kind: EventType = serde_json::from_str(raw.get())
                .map_err(|e| RecordError::PayloadJson(e.to_string()))?;
            if kind.kind.as_deref() == Some("heartbeat") {
                out.heartbeats += 1;
                continue;
            }
            minify_into(raw.get(), &mut out.ndjson);
            out.ndjson.push(b'\n');
            out.events += 1;
        }
        Ok(out)
    }

    fn check_decode(payload: &str, expected_lines: &[&str], heartbeats: usize) {
        let d = decode_payload(payload.as_bytes()).unwrap();
        let text = String::from_utf8(d.ndjson).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, expected_lines);
        assert_eq!(d.events, expected_lines.len());
        assert_eq!(d.heartbeats, heartbeats);
    }

    #[test]
    fn events_pass_through_exactly_and_heartbeats_go() {
        check_decode(
            r#"{"type":"DatabaseActivityMonitoringRecord","clusterId":"cluster-X","databaseActivityEventList":[
                {"type":"heartbeat","logTime":"2026-11-20 09:00:00.000+00"},
                {"logTime":"2026-11-20 09:00:01","exitCode":null,"rowCount":1.0,"commandText":"SELECT '東京 \" x'","type":"record"},
                {"logTime":"t","exitCode":"0","type":"record","class":"MAIN"}]}"#,
            &[
                r#"{"logTime":"2026-11-20 09:00:01","exitCode":null,"rowCount":1.0,"commandText":"SELECT '東京 \" x'","type":"record"}"#,
                r#"{"logTime":"t","exitCode":"0","type":"record","class":"MAIN"}"#,
            ],
            1,
        );
    }

    #[test]
    fn pretty_events_become_one_line_without_touching_strings() {
        check_decode(
            "{\"databaseActivityEventList\":[{\n  \"a\" : \"x  y\\\\\",\n  \"b\": [1, 2]\n}]}",
            &[r#"{"a":"x  y\\","b":[1,2]}"#],
            0,
        );
    }

    #[test]
    fn only_heartbeats_yield_nothing() {
        check_decode(
            r#"{"databaseActivityEventList":[{"type":"heartbeat"},{"type":"heartbeat"}]}"#,
            &[],
            2,
        );
    }

    #[test]
    fn bad_payloads_are_named() {
        let err = |s: &str| decode_payload(s.as_bytes()).unwrap_err().to_string();
        assert!(err("nope").starts_with("the decrypted payload is not the DAS events JSON"));
        assert!(err("{}").contains("missing field `databaseActivityEventList`"));
    }

    #[test]
    fn outer_records() {
        let enc = |s: &str| B64.encode(s);
        let ok = parse_outer(&enc(r#"{"type":"DatabaseActivityMonitoringRecords","version":"1.2","databaseActivityEvents":"QUJD","key":"REVG"}"#)).unwrap();
        assert_eq!(
            (
                ok.activity_events.as_slice(),
                ok.key_blob.as_slice(),
                ok.key.as_str()
            ),
            (&b"ABC"[..], &b"DEF"[..], "REVG")
        );
        let err = |s: &str| parse_outer(s).unwrap_err().to_string();
        assert!(err("***").starts_with("record data is not valid base64"));
        assert!(err(&enc("not json")).starts_with("record data is not the DAS JSON record"));
        assert_eq!(
            err(&enc(r#"{"type":"Other"}"#)),
            "unknown DAS record type \"Other\" (expected \"DatabaseActivityMonitoringRecords\")"
        );
        assert!(err(&enc(r#"{"type":"DatabaseActivityMonitoringRecords","databaseActivityEvents":"@@","key":"QQ=="}"#)).starts_with("the \"databaseActivityEvents\" field is not valid base64"));
        assert!(
            err(&enc(
                r#"{"type":"DatabaseActivityMonitoringRecords","key":"QQ=="}"#
            ))
            .contains("databaseActivityEvents")
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn base64_agrees_with_the_base64_crate(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
            text in "[A-Za-z0-9+/]{0,20}={0,3}|[\\PC]{0,8}",
        ) {
            proptest::prop_assert_eq!(b64_encode(&bytes), B64.encode(&bytes));
            proptest::prop_assert_eq!(b64_decode(&B64.encode(&bytes)), Ok(bytes));
            proptest::prop_assert_eq!(b64_decode(&text).ok(), B64.decode(&text).ok(), "{:?}", text);
        }
    }

    #[test]
    fn resource_ids_and_contexts() {
        assert_eq!(
            resource_id_from_stream_arn(
                "arn:aws:kinesis:us-east-1:123456789012:stream/aws-rds-das-cluster-ABC"
            ),
            Some("cluster-ABC")
        );
        assert_eq!(
            resource_id_from_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/other"),
            None
        );
        assert_eq!(
            resource_id_from_stream_arn("arn:aws:kinesis:x:1:stream/aws-rds-das-"),
            None
        );
        assert_eq!(
            encryption_context("cluster-ABC"),
            ("aws:rds:dbc-id", "cluster-ABC")
        );
        assert_eq!(encryption_context("db-XYZ"), ("aws:rds:db-id", "db-XYZ"));
    }

    /// What `gunzip` replaced: flate2's streaming reader. The reference it is tested against.
    fn gunzip_flate2(gz: &[u8]) -> Result<Vec<u8>, RecordError> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz)
            .take(MAX_PAYLOAD_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| RecordError::Gzip(e.to_string()))?;
        if out.len() as u64 > MAX_PAYLOAD_BYTES {
            return Err(RecordError::TooLarge);
        }
        Ok(out)
    }

    fn gzip_member(
        data: &[u8],
        name: Option<&str>,
        comment: Option<&str>,
        extra: Option<Vec<u8>>,
    ) -> Vec<u8> {
        use std::io::Write;
        let mut b = flate2::GzBuilder::new().mtime(1_700_000_000);
        if let Some(n) = name {
            b = b.filename(n);
        }
        if let Some(c) = comment {
            b = b.comment(c);
        }
        if let Some(e) = extra {
            b = b.extra(e);
        }
        let mut w = b.write(Vec::new(), flate2::Compression::fast());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1000))]

        #[test]
        fn gunzip_agrees_with_flate2(
            members in proptest::collection::vec((
                proptest::collection::vec(proptest::sample::select(b"ab{}\"xyz01\n".to_vec()), 0..3000),
                proptest::option::of("[a-z]{0,8}"),
                proptest::option::of("[a-z ]{0,8}"),
                proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..20)),
            ), 1..4),
            cut in proptest::option::of(proptest::num::usize::ANY),
            flip in proptest::option::of((proptest::num::usize::ANY, 1u8..=255)),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..3),
        ) {
            let mut gz = Vec::new();
            for (data, name, comment, extra) in &members {
                gz.extend(gzip_member(data, name.as_deref(), comment.as_deref(), extra.clone()));
            }
            if let Some(c) = cut {
                gz.truncate(c % (gz.len() + 1));
            }
            if let Some((at, x)) = flip && !gz.is_empty() {
                let at = at % gz.len();
                gz[at] ^= x;
            }
            gz.extend(&tail);
            let (new, old) = (gunzip(&gz), gunzip_flate2(&gz));
            match (&new, &old) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                _ => proptest::prop_assert!(false, "gunzip {:?} vs flate2 {:?}", new.map(|v| v.len()), old.map(|v| v.len())),
            }
        }
    }

    #[test]
    fn gunzip_reads_every_member_and_checks_trailers() {
        let mut two = gzip_member(b"first ", Some("a.json"), Some("c"), Some(vec![1, 2, 3, 4]));
        two.extend(gzip_member(b"second", None, None, None));
        assert_eq!(gunzip(&two).unwrap(), b"first second");
        let mut bad_crc = gzip_member(b"payload", None, None, None);
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(matches!(gunzip(&bad_crc), Err(RecordError::Gzip(e)) if e.contains("checksum")));
        let mut bad_size = gzip_member(b"payload", None, None, None);
        bad_size[n - 1] ^= 1;
        assert!(gunzip(&bad_size).is_err());
        assert!(gunzip(&bad_size[..n - 3]).is_err());
    }

    #[test]
    fn gzip_is_capped() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..65 {
            gz.write_all(&chunk).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 200_000);
        assert_eq!(gunzip(&bomb), Err(RecordError::TooLarge));
        assert!(matches!(gunzip(b"\x1f\x8bjunk"), Err(RecordError::Gzip(_))));
    }

    /// The scanner and the serde_json reading it replaced agree: both fail, or both give the
    /// same events. (serde_json also reads a struct from a JSON array; RDS never writes one,
    /// and the scanner refuses it.)
    fn agrees_with_serde_json(bytes: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        let new = decode_payload(bytes);
        let old = if bytes.trim_ascii_start().starts_with(b"[") {
            Err(RecordError::PayloadJson("array".into()))
        } else {
            decode_payload_serde(bytes)
        };
        match (&new, &old) {
            (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => proptest::prop_assert!(
                false,
                "scanner {new:?} vs serde_json {old:?} on {:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
        Ok(())
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "(heartbeat|record|[\\PC\"\\\\\u{0}-\u{1f}]{0,12})".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("(type|[a-z]{1,6}|t\\u0079pe)", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn payload_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let event = prop_oneof![
            4 => proptest::collection::vec(("(type|[a-z]{1,8})", json_value()), 0..8)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
            1 => json_value(),
        ];
        (
            proptest::collection::vec(event, 0..6),
            json_value(),
            any::<bool>(),
        )
            .prop_map(|(events, other, pretty)| {
                let doc = serde_json::json!({"type": "DatabaseActivityMonitoringRecord",
                    "other": other, "databaseActivityEventList": events});
                if pretty {
                    serde_json::to_string_pretty(&doc).unwrap()
                } else {
                    serde_json::to_string(&doc).unwrap()
                }
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn scanner_agrees_on_valid_payloads(text in payload_text()) {
            agrees_with_serde_json(text.as_bytes())?;
            proptest::prop_assert!(decode_payload(text.as_bytes()).is_ok() || text.contains("\"databaseActivityEventList\":[") || text.contains("\"databaseActivityEventList\": ["));
        }

        #[test]
        fn scanner_agrees_on_mutated_payloads(
            text in payload_text(),
            edits in proptest::collection::vec((proptest::num::usize::ANY, 0u8..3, proptest::sample::select(
                b"\"\\{}[],: \n0-e.u\x01\xfftnx9E+".to_vec())), 1..4),
        ) {
            let mut bytes = text.into_bytes();
            for (at, op, c) in edits {
                if bytes.is_empty() { break; }
                let at = at % bytes.len();
                match op {
                    0 => bytes[at] = c,
                    1 => { bytes.remove(at); }
                    _ => bytes.insert(at, c),
                }
            }
            agrees_with_serde_json(&bytes)?;
        }

        #[test]
        fn scanner_agrees_on_anything(text in "[\\PC{}\\[\\]\",:]{0,64}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            agrees_with_serde_json(text.as_bytes())?;
            agrees_with_serde_json(&bytes)?;
        }
    }

    use crate::filter::reference_hash;

    /// The filter's reference: serde_json values, RustCrypto's HMAC.
    fn redact_value(key: &[u8], v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if !s.is_empty() => *s = reference_hash(key, s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| redact_value(key, x)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| redact_value(key, x)),
            _ => {}
        }
    }

    fn filtered_event() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        (
            proptest::option::of(prop_oneof![
                Just(serde_json::json!("rdsadmin")),
                Just(serde_json::json!("RDSADMIN")),
                Just(serde_json::json!("rdsproxyadmin")),
                Just(serde_json::json!("RdsAdmin ")),
                Just(serde_json::json!("app_rw")),
                Just(serde_json::Value::Null),
                json_value(),
            ]),
            proptest::option::of(json_value()),
            proptest::option::of(json_value()),
            proptest::collection::vec(("[a-z]{1,8}", json_value()), 0..4),
            prop_oneof![Just("record"), Just("heartbeat")],
        )
            .prop_map(|(user, text, params, others, kind)| {
                let mut o = serde_json::Map::new();
                for (k, v) in others {
                    o.insert(k, v);
                }
                if let Some(u) = user {
                    o.insert("dbUserName".into(), u);
                }
                if let Some(t) = text {
                    o.insert("commandText".into(), t);
                }
                if let Some(p) = params {
                    o.insert("paramList".into(), p);
                }
                o.insert("type".into(), kind.into());
                serde_json::Value::Object(o)
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1000))]

        /// Dropping and redacting agree with serde_json and RustCrypto's HMAC; with nothing
        /// to redact, the kept events are the unfiltered lines byte for byte.
        #[test]
        fn the_filter_agrees_with_a_reference(
            events in proptest::collection::vec(filtered_event(), 0..8),
            pretty: bool,
            redact: bool,
        ) {
            let doc = serde_json::json!({"databaseActivityEventList": events});
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.expect("JSON");
            let key = b"0123456789abcdef-test-key";
            let fields: Vec<String> = if redact { vec!["commandText".into(), "paramList".into()] } else { vec![] };
            let filter = Filter::new(&["RdsAdmin".into(), "rdsproxyadmin".into()], &fields, Some(key)).expect("filter");
            let plain = decode_payload(text.as_bytes()).expect("valid");
            let got = decode_payload_with(text.as_bytes(), &filter).expect("valid");
            let plain_lines: Vec<&str> = std::str::from_utf8(&plain.ndjson).expect("utf-8").lines().collect();
            let mut want = Vec::new();
            let mut dropped = 0;
            for line in &plain_lines {
                let mut v: serde_json::Value = serde_json::from_str(line).expect("line");
                let user = v["dbUserName"].as_str().map(str::to_ascii_lowercase);
                if matches!(user.as_deref(), Some("rdsadmin" | "rdsproxyadmin")) {
                    dropped += 1;
                    continue;
                }
                if redact {
                    for f in ["commandText", "paramList"] {
                        if let Some(x) = v.get_mut(f) {
                            redact_value(key, x);
                        }
                    }
                    want.push(v);
                } else {
                    want.push(serde_json::Value::String((*line).to_owned()));
                }
            }
            let got_text = std::str::from_utf8(&got.ndjson).expect("utf-8");
            let got_lines: Vec<serde_json::Value> = got_text
                .lines()
                .map(|l| if redact { serde_json::from_str(l).expect("line") } else { serde_json::Value::String(l.to_owned()) })
                .collect();
            proptest::prop_assert_eq!(got_lines, want);
            proptest::prop_assert_eq!(got.dropped_events, dropped);
            proptest::prop_assert_eq!(got.events + dropped, plain.events);
            proptest::prop_assert_eq!(got.heartbeats, plain.heartbeats);
        }
    }

    #[test]
    fn redaction_splices_hashes_and_keeps_every_other_byte() {
        let key = b"0123456789abcdef";
        let filter = Filter::new(&[], &["commandText".into(), "paramList".into()], Some(key))
            .expect("filter");
        let payload = br#"{"databaseActivityEventList":[
            {"type":"record","commandText":"SELECT 'a\"b'","paramList":["x",null,"",7,["y"]],"rowCount":1.0,"exitCode":null},
            {"type":"record","commandText":null,"paramList":[],"errorMessage":""},
            {"type":"record","commandText":"","dbUserName":"rdsadmin"}]}"#;
        let d = decode_payload_with(payload, &filter).expect("valid");
        let h = |v: &str| reference_hash(key, v);
        assert_eq!(
            String::from_utf8(d.ndjson).expect("utf-8"),
            format!(
                "{{\"type\":\"record\",\"commandText\":\"{}\",\"paramList\":[\"{}\",null,\"\",7,[\"{}\"]],\"rowCount\":1.0,\"exitCode\":null}}\n\
                 {{\"type\":\"record\",\"commandText\":null,\"paramList\":[],\"errorMessage\":\"\"}}\n\
                 {{\"type\":\"record\",\"commandText\":\"\",\"dbUserName\":\"rdsadmin\"}}\n",
                h("SELECT 'a\"b'"),
                h("x"),
                h("y")
            )
        );
        assert_eq!((d.events, d.redacted_values, d.dropped_events), (3, 3, 0));
    }

    #[test]
    fn a_duplicate_user_name_or_a_broken_escape_in_a_redacted_field_fails_the_record() {
        let key = b"0123456789abcdef";
        let filter =
            Filter::new(&["rdsadmin".into()], &["commandText".into()], Some(key)).expect("filter");
        for bad in [
            r#"{"databaseActivityEventList":[{"dbUserName":"a","dbUserName":"rdsadmin"}]}"#,
            r#"{"databaseActivityEventList":[{"commandText":"\ud800"}]}"#,
        ] {
            assert!(
                decode_payload_with(bad.as_bytes(), &filter).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!(
            "{{\"databaseActivityEventList\":[{{\"a\":{}1{}}}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(decode_payload(deep.as_bytes()).is_err());
        let ok = format!(
            "{{\"databaseActivityEventList\":[{{\"a\":{}1{}}}]}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        agrees_with_serde_json(ok.as_bytes()).unwrap();
        assert_eq!(decode_payload(ok.as_bytes()).unwrap().events, 1);
    }

    #[test]
    fn escaped_keys_and_types_are_read_as_serde_json_reads_them() {
        check_decode(
            r#"{"databaseActivity\u0045ventList":[{"t\u0079pe":"heart\u0062eat"},{"type":null},{"x":"\ud800"}]}"#,
            &[r#"{"type":null}"#, r#"{"x":"\ud800"}"#],
            1,
        );
        check_decode(
            r#"{"databaseActivityEventList":["record",[1, 2],null]}"#,
            &[r#""record""#, "[1,2]", "null"],
            0,
        );
        for bad in [
            r#"{"databaseActivityEventList":[{"type":5}]}"#,
            r#"{"databaseActivityEventList":[{"type":"a","type":"b"}]}"#,
            r#"{"databaseActivityEventList":[],"databaseActivityEventList":[]}"#,
            r#"{"databaseActivityEventList":[{"type":"\ud800"}]}"#,
            r#"{"databaseActivityEventList":[{}]} x"#,
            r#"{"databaseActivityEventList":[{"a":01}]}"#,
        ] {
            assert!(decode_payload(bad.as_bytes()).is_err(), "{bad}");
            agrees_with_serde_json(bad.as_bytes()).unwrap();
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(data in ".*", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_outer(&data);
            let _ = parse_outer(&B64.encode(&bytes));
            let _ = decode_payload(&bytes);
            let _ = gunzip(&bytes);
        }
    }
}
