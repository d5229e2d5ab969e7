//! What invoked the function (pure): an SQS batch whose bodies announce CloudTrail log files
//! (SNS envelopes, or the bare message with raw message delivery), SNS directly, or one
//! EventBridge "AWS API Call via CloudTrail" event.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;

use crate::record::Record;

/// The text CloudTrail publishes to a topic when a trail is pointed at it.
pub const VALIDATION_MESSAGE: &str = "CloudTrail validation message.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(
        "the event is not an SQS batch, an SNS event or an EventBridge CloudTrail event (no \"Records\" array, no \"detail\")"
    )]
    Unrecognised,
    #[error("the event has a \"detail\" but is not an EventBridge event ({0})")]
    Envelope(String),
    #[error("the EventBridge event's \"detail\" is not a CloudTrail record ({0})")]
    Detail(String),
    #[error(
        "the EventBridge event is {0:?}, not a CloudTrail event (detail-type \"AWS API Call via CloudTrail\", \"AWS Console Sign In via CloudTrail\", …)"
    )]
    NotCloudTrail(String),
    #[error("the message has no body")]
    NoBody,
    #[error("the message is not JSON ({0})")]
    NotJson(String),
    #[error(
        "the message is not a CloudTrail delivery notification (it has no s3Bucket and s3ObjectKey list)"
    )]
    NotDelivery,
}

/// The invocation's event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An SQS batch: each message succeeds or fails on its own.
    Sqs(Vec<Item>),
    /// SNS records delivered straight to the function.
    Sns(Vec<Item>),
    /// One API call from EventBridge (no log file).
    EventBridge(Box<Record>),
}

/// One SQS message or SNS record.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub index: usize,
    /// SQS `messageId` (the batch-failure identifier) or SNS `MessageId`.
    pub id: Option<String>,
    pub delivery: Result<Delivery, InputError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Log files CloudTrail wrote.
    Files { bucket: String, keys: Vec<String> },
    /// CloudTrail checking the topic: nothing to do.
    Validation,
}

pub fn parse(event: &Value) -> Result<Event, InputError> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let sqs = records
            .iter()
            .any(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
        let str_of = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        let items = records
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let (id, body) = if sqs {
                    (str_of(r, "messageId"), str_of(r, "body"))
                } else {
                    let sns = r.get("Sns").unwrap_or(&Value::Null);
                    (str_of(sns, "MessageId"), str_of(sns, "Message"))
                };
                Item {
                    index,
                    id,
                    delivery: body.ok_or(InputError::NoBody).and_then(|b| delivery(&b)),
                }
            })
            .collect();
        return Ok(if sqs {
            Event::Sqs(items)
        } else {
            Event::Sns(items)
        });
    }
    if event.get("detail").is_some() {
        // EventBridge names what CloudTrail sends "AWS API Call via CloudTrail", "AWS Console
        // Sign In via CloudTrail", "AWS Service Event via CloudTrail", …; a rule that also
        // matches other events (a schedule, say) must not turn them into alerts. Said first,
        // whatever else such an event holds.
        let detail_type = event
            .get("detail-type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !detail_type.ends_with(" via CloudTrail") {
            return Err(InputError::NotCloudTrail(detail_type.to_owned()));
        }
        let envelope: EventBridgeEvent<Value> = serde_json::from_value(event.clone())
            .map_err(|e| InputError::Envelope(e.to_string()))?;
        let mut record: Record = serde_json::from_value(envelope.detail)
            .map_err(|e| InputError::Detail(e.to_string()))?;
        if record.event_name.trim().is_empty() || record.event_source.trim().is_empty() {
            return Err(InputError::Detail(
                "it names no eventName and eventSource".into(),
            ));
        }
        // EventBridge puts these beside the detail; older detail versions omit them.
        if record.recipient_account_id.is_none() {
            record.recipient_account_id = envelope.account;
        }
        return Ok(Event::EventBridge(Box::new(record)));
    }
    Err(InputError::Unrecognised)
}

/// An EventBridge event's record as JSON, for custom rules: its `detail`, with the account
/// EventBridge puts beside it where the detail has none (as [`parse`] does for the record).
pub fn detail_document(event: &Value, r: &Record) -> Value {
    let mut d = event.get("detail").cloned().unwrap_or_default();
    if let (Some(o), Some(a)) = (d.as_object_mut(), &r.recipient_account_id) {
        o.entry("recipientAccountId")
            .or_insert_with(|| Value::String(a.clone()));
    }
    d
}

/// A message body: the CloudTrail delivery message, possibly inside an SNS envelope (an SQS
/// subscription without raw message delivery).
pub fn delivery(body: &str) -> Result<Delivery, InputError> {
    if body.trim() == VALIDATION_MESSAGE {
        return Ok(Delivery::Validation);
    }
    let v: Value = serde_json::from_str(body).map_err(|e| InputError::NotJson(e.to_string()))?;
    if v.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = v.get("Message").and_then(Value::as_str)
    {
        return delivery(inner);
    }
    let bucket = v.get("s3Bucket").and_then(Value::as_str);
    let keys = v.get("s3ObjectKey").and_then(Value::as_array);
    match (bucket, keys) {
        (Some(bucket), Some(keys)) => Ok(Delivery::Files {
            bucket: bucket.to_owned(),
            keys: keys
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        }),
        _ => Err(InputError::NotDelivery),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MSG: &str = r#"{"s3Bucket":"trail-bucket","s3ObjectKey":["AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/111122223333_CloudTrail_us-east-1_20261125T0905Z_abc.json.gz"]}"#;

    #[test]
    fn sqs_with_and_without_raw_delivery() {
        let envelope =
            json!({"Type": "Notification", "MessageId": "m", "Message": MSG}).to_string();
        let event = json!({"Records": [
            {"messageId": "a", "eventSource": "aws:sqs", "body": envelope},
            {"messageId": "b", "eventSource": "aws:sqs", "body": MSG},
            {"messageId": "c", "eventSource": "aws:sqs", "body": json!({"Type":"Notification","Message":VALIDATION_MESSAGE}).to_string()},
            {"messageId": "d", "eventSource": "aws:sqs", "body": "not json"},
            {"messageId": "e", "eventSource": "aws:sqs", "body": "{\"s3Bucket\":\"x\"}"},
        ]});
        let Ok(Event::Sqs(items)) = parse(&event) else {
            panic!("an SQS batch")
        };
        let files = |i: &Item| match &i.delivery {
            Ok(Delivery::Files { bucket, keys }) => format!("{bucket} {}", keys.len()),
            Ok(Delivery::Validation) => "validation".into(),
            Err(e) => e.to_string(),
        };
        let got: Vec<(Option<&str>, String)> =
            items.iter().map(|i| (i.id.as_deref(), files(i))).collect();
        assert_eq!(
            got,
            [
                (Some("a"), "trail-bucket 1".to_owned()),
                (Some("b"), "trail-bucket 1".to_owned()),
                (Some("c"), "validation".to_owned()),
                (
                    Some("d"),
                    "the message is not JSON (expected ident at line 1 column 2)".to_owned()
                ),
                (Some("e"), InputError::NotDelivery.to_string()),
            ]
        );
    }

    #[test]
    fn sns_direct_and_eventbridge() {
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "s1", "Message": MSG}}]});
        assert!(
            matches!(parse(&sns), Ok(Event::Sns(items)) if items.len() == 1 && items[0].delivery.is_ok())
        );
        let eb = json!({"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "account": "111122223333",
            "time": "2026-11-25T09:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"eventName": "CreateUser", "eventSource": "iam.amazonaws.com", "eventTime": "2026-11-25T09:00:00Z",
                       "userIdentity": {"type": "Root"}}});
        let Ok(Event::EventBridge(r)) = parse(&eb) else {
            panic!("EventBridge")
        };
        assert_eq!(
            (r.event_name.as_str(), r.recipient_account_id.as_deref()),
            ("CreateUser", Some("111122223333"))
        );
        assert_eq!(parse(&json!({"x": 1})), Err(InputError::Unrecognised));
        assert!(matches!(
            parse(
                &json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": "nope"})
            ),
            Err(InputError::Detail(_))
        ));
        // Not the envelope EventBridge sends: no source, a time that is not a time.
        assert!(matches!(
            parse(&json!({"detail-type": "AWS API Call via CloudTrail", "detail": {}})),
            Err(InputError::Envelope(why)) if why.contains("source")
        ));
        assert!(matches!(
            parse(
                &json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "time": "yesterday", "detail": {}})
            ),
            Err(InputError::Envelope(_))
        ));
        assert_eq!(
            parse(&json!({"detail-type": "Scheduled Event", "detail": {}})),
            Err(InputError::NotCloudTrail("Scheduled Event".into()))
        );
        assert_eq!(
            parse(&json!({"detail": {"eventName": "CreateUser"}})),
            Err(InputError::NotCloudTrail(String::new()))
        );
        assert!(matches!(
            parse(&json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": {}})),
            Err(InputError::Detail(why)) if why.contains("no eventName")
        ));
    }
}
