//! Parsing: an SNS event's records into AWS Config notifications.
//!
//! Each record is parsed on its own, so that one malformed record cannot take its healthy
//! siblings down; every failure names the part at fault. Shapes follow the AWS Config
//! developer guide ("Notifications that AWS Config sends to an Amazon SNS topic").

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the event has no \"Records\" array: it is not an SNS event")]
    NotSnsEvent,
    #[error("the record has no Sns.Message string")]
    NoMessage,
    #[error("the SNS message is not JSON ({0})")]
    NotJson(String),
    #[error("the SNS message has no \"messageType\": it is not an AWS Config notification")]
    NoMessageType,
    #[error("unknown AWS Config messageType {0:?}")]
    UnknownMessageType(String),
    #[error("the {message_type} does not have the documented shape ({why})")]
    Shape {
        message_type: &'static str,
        why: String,
    },
}

/// One SNS record as delivered to Lambda.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsRecord {
    /// Position in the event (0-based).
    pub index: usize,
    pub message_id: Option<String>,
    /// The record's message, or why it is unreadable.
    pub message: Result<String, ParseError>,
}

/// Split an SNS event into its records. Only a missing `Records` array fails the whole event.
pub fn sns_records(event: &Value) -> Result<Vec<SnsRecord>, ParseError> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or(ParseError::NotSnsEvent)?;
    Ok(records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let sns = r.get("Sns");
            let field = |k: &str| {
                sns.and_then(|s| s.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            SnsRecord {
                index,
                message_id: field("MessageId"),
                message: field("Message").ok_or(ParseError::NoMessage),
            }
        })
        .collect())
}

/// An AWS Config notification, as far as opswatch cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    ItemChange(ItemChange),
    Oversized(Oversized),
    Compliance(ComplianceChange),
    /// Delivery and status notices: no alert. `failed` ones are logged as warnings.
    Notice {
        message_type: String,
        failed: bool,
    },
}

/// `ConfigurationItemChangeNotification` (also the body of an oversized item in S3).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemChange {
    #[serde(default)]
    pub configuration_item_diff: Option<ItemDiff>,
    pub configuration_item: ConfigurationItem,
    #[serde(default)]
    pub notification_creation_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemDiff {
    #[serde(default)]
    pub changed_properties: BTreeMap<String, PropertyChange>,
    #[serde(default)]
    pub change_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyChange {
    #[serde(default)]
    pub previous_value: Value,
    #[serde(default)]
    pub updated_value: Value,
    #[serde(default)]
    pub change_type: Option<String>,
}

/// The fields of a configuration item (or an oversized item's summary) that an alert shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationItem {
    pub resource_type: String,
    pub resource_id: String,
    #[serde(default)]
    pub resource_name: Option<String>,
    #[serde(default)]
    pub aws_account_id: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default, rename = "ARN")]
    pub arn: Option<String>,
    #[serde(default)]
    pub configuration_item_capture_time: Option<String>,
    #[serde(default)]
    pub configuration_item_status: Option<String>,
    /// Only in an oversized item's summary.
    #[serde(default)]
    pub change_type: Option<String>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, Value>>,
    /// The resource's configuration (absent from an oversized item's summary).
    #[serde(default)]
    pub configuration: Option<Value>,
}

/// `OversizedConfigurationItemChangeNotification`: a summary plus where the item is in S3.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Oversized {
    pub configuration_item_summary: ConfigurationItem,
    pub s3_delivery_summary: S3DeliverySummary,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3DeliverySummary {
    #[serde(default)]
    pub s3_bucket_location: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
}

impl S3DeliverySummary {
    /// `bucket/key…` split into its bucket and key.
    pub fn bucket_and_key(&self) -> Option<(&str, &str)> {
        let loc = self
            .s3_bucket_location
            .as_deref()?
            .trim_start_matches("s3://");
        let (bucket, key) = loc.split_once('/')?;
        (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
    }
}

/// `ComplianceChangeNotification`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceChange {
    pub config_rule_name: String,
    #[serde(default, rename = "configRuleARN")]
    pub config_rule_arn: Option<String>,
    pub resource_type: String,
    pub resource_id: String,
    #[serde(default)]
    pub aws_account_id: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub new_evaluation_result: Option<EvaluationResult>,
    #[serde(default)]
    pub old_evaluation_result: Option<EvaluationResult>,
    #[serde(default)]
    pub notification_creation_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationResult {
    #[serde(default)]
    pub compliance_type: Option<String>,
    #[serde(default)]
    pub annotation: Option<String>,
    #[serde(default)]
    pub result_recorded_time: Option<String>,
}

impl Notification {
    /// Parse one SNS message body.
    pub fn parse(message: &str) -> Result<Self, ParseError> {
        let value: Value =
            serde_json::from_str(message).map_err(|e| ParseError::NotJson(e.to_string()))?;
        let message_type = value
            .get("messageType")
            .and_then(Value::as_str)
            .ok_or(ParseError::NoMessageType)?
            .to_owned();
        fn shape<T: serde::de::DeserializeOwned>(
            message_type: &'static str,
            value: Value,
        ) -> Result<T, ParseError> {
            serde_json::from_value(value).map_err(|e| ParseError::Shape {
                message_type,
                why: e.to_string(),
            })
        }
        Ok(match message_type.as_str() {
            "ConfigurationItemChangeNotification" => {
                Notification::ItemChange(shape("ConfigurationItemChangeNotification", value)?)
            }
            "OversizedConfigurationItemChangeNotification" => Notification::Oversized(shape(
                "OversizedConfigurationItemChangeNotification",
                value,
            )?),
            "ComplianceChangeNotification" => {
                Notification::Compliance(shape("ComplianceChangeNotification", value)?)
            }
            t if is_notice(t) => Notification::Notice {
                failed: t.ends_with("Failed"),
                message_type,
            },
            _ => return Err(ParseError::UnknownMessageType(message_type)),
        })
    }

    /// The resource type the notification is about, for include/exclude filtering.
    pub fn resource_type(&self) -> Option<&str> {
        match self {
            Notification::ItemChange(c) => Some(&c.configuration_item.resource_type),
            Notification::Oversized(o) => Some(&o.configuration_item_summary.resource_type),
            Notification::Compliance(c) => Some(&c.resource_type),
            Notification::Notice { .. } => None,
        }
    }
}

/// Delivery and status notices AWS Config sends besides changes.
fn is_notice(message_type: &str) -> bool {
    matches!(
        message_type,
        "ConfigurationHistoryDeliveryCompleted"
            | "ConfigurationHistoryDeliveryFailed"
            | "ConfigurationSnapshotDeliveryStarted"
            | "ConfigurationSnapshotDeliveryCompleted"
            | "ConfigurationSnapshotDeliveryFailed"
            | "ConfigRulesEvaluationStarted"
            | "OversizedConfigurationItemChangeDeliveryFailed"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(event: &str) -> String {
        let v: Value = serde_json::from_str(event).expect("sample is JSON");
        let recs = sns_records(&v).expect("sample is an SNS event");
        recs[0].message.clone().expect("sample has a message")
    }

    #[test]
    fn samples_parse_to_their_kind() {
        let kind = |event: &str| match Notification::parse(&message(event)) {
            Ok(Notification::ItemChange(c)) => {
                format!("change {}", c.configuration_item.resource_type)
            }
            Ok(Notification::Oversized(o)) => format!(
                "oversized {:?}",
                o.s3_delivery_summary.bucket_and_key().map(|b| b.0)
            ),
            Ok(Notification::Compliance(c)) => format!("compliance {}", c.config_rule_name),
            Ok(Notification::Notice {
                message_type,
                failed,
            }) => format!("notice {message_type} {failed}"),
            Err(e) => format!("error {e}"),
        };
        let ev = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/../../events/config/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("sample exists")
        };
        assert_eq!(
            kind(&ev("security-group-ingress.json")),
            "change AWS::EC2::SecurityGroup"
        );
        assert_eq!(
            kind(&ev("oversized-security-group.json")),
            "oversized Some(\"opswatch-config-demo\")"
        );
        assert_eq!(
            kind(&ev("compliance-change.json")),
            "compliance restricted-ssh"
        );
        assert_eq!(
            kind(&ev("history-delivery-completed.json")),
            "notice ConfigurationHistoryDeliveryCompleted false"
        );
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        let err = |m: &str| Notification::parse(m).expect_err("must fail").to_string();
        assert_eq!(
            err("nope"),
            "the SNS message is not JSON (expected ident at line 1 column 2)"
        );
        assert_eq!(
            err("{}"),
            "the SNS message has no \"messageType\": it is not an AWS Config notification"
        );
        assert_eq!(
            err(r#"{"messageType":"X"}"#),
            "unknown AWS Config messageType \"X\""
        );
        assert_eq!(
            err(r#"{"messageType":"ConfigurationItemChangeNotification"}"#),
            "the ConfigurationItemChangeNotification does not have the documented shape (missing field `configurationItem`)"
        );
    }

    #[test]
    fn records_are_split_individually() {
        let v =
            serde_json::json!({"Records":[{"Sns":{"MessageId":"a","Message":"x"}},{"Sns":{}},7]});
        let recs = sns_records(&v).expect("has Records");
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].message, Ok("x".into()));
        assert_eq!(recs[1].message, Err(ParseError::NoMessage));
        assert_eq!(recs[2].message_id, None);
        assert_eq!(
            sns_records(&serde_json::json!({"records":[]})),
            Err(ParseError::NotSnsEvent)
        );
    }

    #[test]
    fn s3_location_splits() {
        let s = |loc: &str| S3DeliverySummary {
            s3_bucket_location: Some(loc.into()),
            error_code: None,
            error_message: None,
        };
        assert_eq!(
            s("b/k/x.json.gz").bucket_and_key(),
            Some(("b", "k/x.json.gz"))
        );
        assert_eq!(s("s3://b/k").bucket_and_key(), Some(("b", "k")));
        assert_eq!(s("b").bucket_and_key(), None);
        assert_eq!(s("/k").bucket_and_key(), None);
    }

    proptest::proptest! {
        /// Arbitrary text, and real notifications cut and mutated anywhere, never panic the
        /// parser: they parse or give a ParseError.
        #[test]
        fn arbitrary_and_mutated_messages_never_panic(
            text in "\\PC{0,300}",
            cut in 0usize..4000,
            byte in proptest::num::u8::ANY,
        ) {
            let _ = Notification::parse(&text);
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/config");
            for sample in ["security-group-ingress.json", "compliance-change.json", "oversized-security-group.json"] {
                let event: Value = serde_json::from_slice(&std::fs::read(root.join(sample)).expect("sample")).expect("json");
                let _ = sns_records(&event);
                let message = event["Records"][0]["Sns"]["Message"].as_str().unwrap_or_default();
                let mut bytes = message.as_bytes().to_vec();
                if !bytes.is_empty() {
                    let i = cut % bytes.len();
                    bytes[i] = byte;
                    let _ = Notification::parse(&String::from_utf8_lossy(&bytes));
                    let _ = Notification::parse(message.get(..cut.min(message.len())).unwrap_or(message));
                }
            }
        }

        /// Whatever each record holds, every record comes back once, in order, with its own
        /// index: its message when `Sns.Message` is a string (else `NoMessage`, for that record
        /// alone), its `MessageId` when that is a string. Only an event without a `Records`
        /// array fails as a whole.
        #[test]
        fn every_record_comes_back_once_in_order(
            records in proptest::collection::vec(
                (0u8..5, "\\PC{0,60}", proptest::option::of("[0-9a-f-]{1,36}")),
                0..8,
            ),
            not_an_array in prop_oneof![
                Just(Value::Null),
                Just(serde_json::json!("Records")),
                Just(serde_json::json!({"Sns": {"Message": "x"}})),
                Just(serde_json::json!(3)),
            ],
        ) {
            let mut json = Vec::new();
            let mut expected = Vec::new();
            for (index, (shape, message, id)) in records.iter().enumerate() {
                let mut sns = serde_json::Map::new();
                if let Some(id) = id {
                    sns.insert("MessageId".into(), id.as_str().into());
                }
                let (record, message, id) = match shape {
                    // As SNS sends it.
                    0 => {
                        sns.insert("Message".into(), message.as_str().into());
                        sns.insert("Type".into(), "Notification".into());
                        (serde_json::json!({"EventSource": "aws:sns", "Sns": sns}), Ok(message.clone()), id.clone())
                    }
                    // A message that is not a string.
                    1 => {
                        sns.insert("Message".into(), serde_json::json!({"text": message}));
                        (serde_json::json!({"Sns": sns}), Err(ParseError::NoMessage), id.clone())
                    }
                    // No message.
                    2 => (serde_json::json!({"Sns": sns}), Err(ParseError::NoMessage), id.clone()),
                    // The message beside `Sns`, not in it.
                    3 => (serde_json::json!({"Message": message, "Sns": sns}), Err(ParseError::NoMessage), id.clone()),
                    // Not an object at all.
                    _ => (serde_json::json!(message), Err(ParseError::NoMessage), None),
                };
                json.push(record);
                expected.push(SnsRecord { index, message_id: id, message });
            }
            prop_assert_eq!(sns_records(&serde_json::json!({"Records": json})), Ok(expected));
            prop_assert_eq!(
                sns_records(&serde_json::json!({"Records": not_an_array})),
                Err(ParseError::NotSnsEvent)
            );
            prop_assert_eq!(sns_records(&serde_json::json!({"records": []})), Err(ParseError::NotSnsEvent));
        }
    }
}
