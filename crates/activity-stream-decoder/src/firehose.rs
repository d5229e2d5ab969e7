//! The Firehose data-transformation contract: own small structs (the shapes in
//! `aws_lambda_events` are stricter than what Firehose sends), and the response-size guard.
//!
//! Every input `recordId` comes back exactly once, in order, as `Ok`, `Dropped` or
//! `ProcessingFailed`; the response must stay under Lambda's 6 MB synchronous limit.

use serde::Serialize;
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

impl FirehoseEvent {
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
