//! The Firehose data-transformation contract: own small structs (the shapes in
//! `aws_lambda_events` are stricter than what Firehose sends), and the response-size guard.
//!
//! Every input `recordId` comes back exactly once, in order, as `Ok`, `Dropped` or
//! `ProcessingFailed`; the response must stay under Lambda's 6 MB synchronous limit.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lambda's limit on a synchronous response is 6 MB (6,291,456 bytes); keep a margin for
/// the runtime's framing.
pub const RESPONSE_LIMIT: usize = 6_000_000;

/// The event's fields this function reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FirehoseEvent {
    pub source_kinesis_stream_arn: Option<String>,
    pub records: Vec<InputRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InputRecord {
    pub record_id: String,
    /// The base64 `data`, or why it is unusable.
    pub data: Result<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event has no \"records\" array: it is not a Firehose transformation event")]
    NoRecords,
    #[error("record {0} has no \"recordId\": Firehose could not match its result")]
    NoRecordId(usize),
}

/// The event as Firehose sends it: read straight into these, without a tree.
#[derive(Deserialize)]
struct Strict {
    #[serde(rename = "sourceKinesisStreamArn", default)]
    source_kinesis_stream_arn: Option<String>,
    records: Vec<StrictRecord>,
}

#[derive(Deserialize)]
struct StrictRecord {
    #[serde(rename = "recordId")]
    record_id: String,
    data: String,
}

impl FirehoseEvent {
    /// Read the event from its JSON text: directly when it has Firehose's shape, else
    /// leniently through [`FirehoseEvent::from_value`] so that one odd record fails alone.
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        if let Ok(e) = serde_json::from_str::<Strict>(json) {
            return Ok(Self {
                source_kinesis_stream_arn: e.source_kinesis_stream_arn,
                records: e
                    .records
                    .into_iter()
                    .map(|r| InputRecord {
                        record_id: r.record_id,
                        data: Ok(r.data),
                    })
                    .collect(),
            });
        }
        let v: Value = serde_json::from_str(json).map_err(|_| EventError::NoRecords)?;
        Self::from_value(&v)
    }

    /// Read the event leniently: only what makes the contract impossible fails it.
    pub fn from_value(v: &Value) -> Result<Self, EventError> {
        let records = v
            .get("records")
            .and_then(Value::as_array)
            .ok_or(EventError::NoRecords)?;
        let records = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let record_id = r
                    .get("recordId")
                    .and_then(Value::as_str)
                    .ok_or(EventError::NoRecordId(i))?;
                let data = match r.get("data") {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err("\"data\" is not a string".to_owned()),
                    None => Err("the record has no \"data\"".to_owned()),
                };
                Ok(InputRecord {
                    record_id: record_id.to_owned(),
                    data,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            source_kinesis_stream_arn: v
                .get("sourceKinesisStreamArn")
                .and_then(Value::as_str)
                .map(str::to_owned),
            records,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Ok,
    Dropped,
    ProcessingFailed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputRecord {
    pub record_id: String,
    pub result: Status,
    /// Base64 NDJSON for `Ok`; the input data, unchanged, otherwise.
    pub data: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FirehoseResponse {
    pub records: Vec<OutputRecord>,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "Ok",
            Status::Dropped => "Dropped",
            Status::ProcessingFailed => "ProcessingFailed",
        }
    }
}

impl FirehoseResponse {
    /// The response's JSON, as `serde_json` would write it, in one pass: base64 needs no
    /// escaping, so most of it is copied as it is.
    pub fn to_json(&self) -> String {
        let mut out =
            String::with_capacity(14 + self.records.iter().map(OutputRecord::size).sum::<usize>());
        out.push_str("{\"records\":[");
        for (i, r) in self.records.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"recordId\":");
            push_json_str(&mut out, &r.record_id);
            out.push_str(",\"result\":\"");
            out.push_str(r.result.as_str());
            out.push_str("\",\"data\":");
            push_json_str(&mut out, &r.data);
            out.push('}');
        }
        out.push_str("]}");
        out
    }
}

fn push_json_str(out: &mut String, s: &str) {
    // No early exit, so that the check vectorizes.
    let plain = !s.bytes().fold(false, |esc, b| {
        esc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

impl OutputRecord {
    /// Bytes this record adds to the serialized response.
    fn size(&self) -> usize {
        // {"recordId":"…","result":"…","data":"…"} and a comma: 38 bytes besides the values
        // (record ids and base64 need no escaping).
        let result = match self.result {
            Status::Ok => 2,
            Status::Dropped => 7,
            Status::ProcessingFailed => 16,
        };
        38 + self.record_id.len() + result + self.data.len()
    }
}

/// Keep the response under `limit` bytes: from the last record backwards, turn `Ok` records
/// into `ProcessingFailed` (with their input data, so Firehose writes them to the error
/// prefix and nothing is lost) until it fits. Returns the record ids it failed.
pub fn enforce_limit(records: &mut [OutputRecord], inputs: &[String], limit: usize) -> Vec<String> {
    let mut total: usize = 14 + records.iter().map(OutputRecord::size).sum::<usize>();
    let mut failed = Vec::new();
    for (r, input) in records.iter_mut().zip(inputs).rev() {
        if total <= limit {
            break;
        }
        if r.result == Status::Ok {
            let before = r.size();
            r.result = Status::ProcessingFailed;
            r.data = input.clone();
            total = total - before + r.size();
            failed.push(r.record_id.clone());
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_matches_serialization() {
        for (status, data) in [
            (Status::Ok, "QUJD"),
            (Status::Dropped, ""),
            (Status::ProcessingFailed, "eHl6eHl6"),
        ] {
            let r = OutputRecord {
                record_id: "49546986683135544286507457936321625675700192471156785154".into(),
                result: status,
                data: data.into(),
            };
            let one = serde_json::to_string(&FirehoseResponse {
                records: vec![r.clone()],
            })
            .unwrap()
            .len();
            let two = serde_json::to_string(&FirehoseResponse {
                records: vec![r.clone(), r.clone()],
            })
            .unwrap()
            .len();
            assert!(
                one <= 14 + r.size() && two <= 14 + 2 * r.size(),
                "{status:?}: {one} {two} vs {}",
                r.size()
            );
            assert!(
                14 + 2 * r.size() - two <= 4,
                "estimate too loose: {two} vs {}",
                r.size()
            );
        }
    }

    #[test]
    fn guard_fails_the_last_ok_records_until_it_fits() {
        let mk = |i: usize, s: Status, n: usize| OutputRecord {
            record_id: format!("id{i}"),
            result: s,
            data: "A".repeat(n),
        };
        let mut records = vec![
            mk(0, Status::Ok, 1000),
            mk(1, Status::Ok, 1000),
            mk(2, Status::Dropped, 10),
            mk(3, Status::Ok, 1000),
        ];
        let inputs: Vec<String> = (0..4).map(|_| "in".to_owned()).collect();
        let failed = enforce_limit(&mut records, &inputs, 2300);
        assert_eq!(failed, ["id3"]);
        assert_eq!(records[3].result, Status::ProcessingFailed);
        assert_eq!(records[3].data, "in");
        let len = serde_json::to_string(&FirehoseResponse {
            records: records.clone(),
        })
        .unwrap()
        .len();
        assert!(len <= 2300, "{len}");
        assert_eq!(
            records
                .iter()
                .map(|r| r.record_id.as_str())
                .collect::<Vec<_>>(),
            ["id0", "id1", "id2", "id3"]
        );
    }

    proptest::proptest! {
        #[test]
        fn to_json_is_what_serde_json_writes(
            records in proptest::collection::vec(("\\PC{0,12}|[\"\\\\\u{0}-\u{1f}a]{0,6}", 0u8..3, "[A-Za-z0-9+/=]{0,40}|\\PC{0,8}"), 0..8),
        ) {
            let response = FirehoseResponse {
                records: records
                    .into_iter()
                    .map(|(id, s, data)| OutputRecord {
                        record_id: id,
                        result: [Status::Ok, Status::Dropped, Status::ProcessingFailed][usize::from(s)],
                        data,
                    })
                    .collect(),
            };
            proptest::prop_assert_eq!(response.to_json(), serde_json::to_string(&response).unwrap());
        }

        #[test]
        fn from_json_reads_what_from_value_reads(json in "\\PC{0,80}", n in 0usize..4, bad in 0usize..6) {
            // Arbitrary text, and events of Firehose's shape with one record made odd.
            let _ = FirehoseEvent::from_json(&json);
            let mut records: Vec<Value> = (0..n)
                .map(|i| serde_json::json!({"recordId": format!("r{i}"), "data": "QQ==", "approximateArrivalTimestamp": 1}))
                .collect();
            if let Some(r) = records.first_mut() {
                match bad {
                    0 => r["data"] = Value::from(5),
                    1 => { r.as_object_mut().unwrap().remove("data"); }
                    2 => r["recordId"] = Value::Null,
                    3 => *r = Value::from("x"),
                    _ => {}
                }
            }
            let v = serde_json::json!({"invocationId": "i", "sourceKinesisStreamArn": "arn:x", "records": records});
            proptest::prop_assert_eq!(
                FirehoseEvent::from_json(&v.to_string()),
                FirehoseEvent::from_value(&v)
            );
        }
    }

    #[test]
    fn lenient_event_parsing() {
        let v = serde_json::json!({"records":[{"recordId":"a","data":"QQ=="},{"recordId":"b"},{"recordId":"c","data":5}]});
        let e = FirehoseEvent::from_value(&v).unwrap();
        assert_eq!(e.records[0].data, Ok("QQ==".into()));
        assert!(e.records[1].data.is_err() && e.records[2].data.is_err());
        assert_eq!(
            FirehoseEvent::from_value(&serde_json::json!({})),
            Err(EventError::NoRecords)
        );
        assert_eq!(
            FirehoseEvent::from_value(&serde_json::json!({"records":[{}]})),
            Err(EventError::NoRecordId(0))
        );
    }
}
