//! Database Activity Streams records: the outer JSON RDS puts on Kinesis, the encryption
//! context for the data key, and the decrypted payload (gzip JSON) turned into NDJSON.
//! Pure: no I/O.
//!
//! Events are passed through byte for byte (`RawValue`): PostgreSQL and MySQL events differ
//! in shape (e.g. `exitCode` is a number in one and a string in the other), and a decoder
//! must not add, drop or retype any field.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::value::RawValue;

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
    let json = B64
        .decode(data.trim())
        .map_err(|e| RecordError::DataBase64(e.to_string()))?;
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
        B64.decode(s.trim()).map_err(|e| RecordError::FieldBase64 {
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

/// Gunzip a decrypted payload, refusing more than [`MAX_PAYLOAD_BYTES`].
pub fn gunzip(gz: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::with_capacity(gz.len() * 8);
    flate2::read::MultiGzDecoder::new(gz)
        .take(MAX_PAYLOAD_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| RecordError::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_PAYLOAD_BYTES {
        return Err(RecordError::TooLarge);
    }
    Ok(out)
}

/// Activity events of one record, as NDJSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub ndjson: Vec<u8>,
    pub events: usize,
    pub heartbeats: usize,
}

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

/// The activity events of a decompressed payload, heartbeats removed, one per line.
pub fn decode_payload(json: &[u8]) -> Result<Decoded, RecordError> {
    let payload: Payload =
        serde_json::from_slice(json).map_err(|e| RecordError::PayloadJson(e.to_string()))?;
    let mut out = Decoded {
        ndjson: Vec::with_capacity(json.len()),
        ..Decoded::default()
    };
    for raw in payload.events {
        let kind: EventType =
            serde_json::from_str(raw.get()).map_err(|e| RecordError::PayloadJson(e.to_string()))?;
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
