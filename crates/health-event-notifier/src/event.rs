//! An AWS Health event as EventBridge delivers it (pure): the envelope checked
//! (`source` `aws.health`, a Health detail-type), then `detail` read field by field, so a
//! missing or mistyped field is named in a one-line error rather than guessed at.
//!
//! Shapes as AWS documents them ("Reference: AWS Health events Amazon EventBridge schema"):
//! times as HTTP dates (`Wed, 15 Feb 2023 22:07:07 GMT`; RFC 3339 is read too), `page` and
//! `totalPages` as strings, `eventDescription` a list of `{language, latestDescription}`,
//! `affectedEntities` a list of `{entityValue, tags?, status?}`, and `affectedAccount` in an
//! organization view.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The detail-types this function handles.
pub const DETAIL_TYPES: [&str; 2] = ["AWS Health Event", "AWS Health Abuse Event"];

/// Why an event cannot be used: one line naming the part at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "not an AWS Health event: source is {0}, expected \"aws.health\" (the EventBridge rule should match only aws.health)"
    )]
    NotHealth(String),
    #[error(
        "not an AWS Health event: detail-type is {0}, expected \"AWS Health Event\" or \"AWS Health Abuse Event\""
    )]
    DetailType(String),
    #[error("the AWS Health event has no \"detail\" object")]
    NoDetail,
    #[error("the AWS Health event's detail has no \"eventArn\"")]
    NoArn,
    #[error("the AWS Health event's {field} {why}")]
    Field { field: &'static str, why: String },
}

/// What an event is about (`eventTypeCategory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Category {
    Issue,
    ScheduledChange,
    AccountNotification,
    Investigation,
    /// A category this version does not know: shown as it came.
    Other(String),
}

impl Category {
    fn parse(s: &str) -> Self {
        match s {
            "issue" => Category::Issue,
            "scheduledChange" => Category::ScheduledChange,
            "accountNotification" => Category::AccountNotification,
            "investigation" => Category::Investigation,
            other => Category::Other(other.to_owned()),
        }
    }

    /// As AWS writes it.
    pub fn code(&self) -> &str {
        match self {
            Category::Issue => "issue",
            Category::ScheduledChange => "scheduledChange",
            Category::AccountNotification => "accountNotification",
            Category::Investigation => "investigation",
            Category::Other(s) => s,
        }
    }
}

/// Where the event stands (`statusCode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Upcoming,
    Closed,
    Other(String),
}

impl Status {
    fn parse(s: &str) -> Self {
        match s {
            "open" => Status::Open,
            "upcoming" => Status::Upcoming,
            "closed" => Status::Closed,
            other => Status::Other(other.to_owned()),
        }
    }

    /// How far along the event is, to order two notices of the same `lastUpdatedTime`.
    pub fn rank(&self) -> i64 {
        match self {
            Status::Upcoming => 0,
            Status::Open | Status::Other(_) => 1,
            Status::Closed => 2,
        }
    }

    /// As shown: `closed` reads "resolved".
    pub fn word(&self) -> &str {
        match self {
            Status::Open => "open",
            Status::Upcoming => "upcoming",
            Status::Closed => "resolved",
            Status::Other(s) => s,
        }
    }
}

/// A time as the event gave it, and as unix seconds when it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Time {
    pub raw: String,
    pub epoch: Option<i64>,
}

impl Time {
    fn parse(raw: &str) -> Self {
        use aws_smithy_types::DateTime;
        use aws_smithy_types::date_time::Format;
        let raw = raw.trim();
        let epoch = DateTime::from_str(raw, Format::HttpDate)
            .or_else(|_| DateTime::from_str(raw, Format::DateTime))
            .ok()
            .map(|d| d.secs());
        Time {
            raw: raw.to_owned(),
            epoch,
        }
    }
}

/// A resource the event affects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    pub value: String,
    pub tags: BTreeMap<String, String>,
    /// `IMPAIRED`, `UNIMPAIRED`, `UNKNOWN`, … when the event says.
    pub status: Option<String>,
}

/// One AWS Health notice, as read from its EventBridge event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    /// The EventBridge event's id (differs between the primary and backup copies).
    pub id: Option<String>,
    /// The account the event was sent to (the management or delegated administrator
    /// account in an organization view).
    pub account: Option<String>,
    /// The region the event was delivered to (not the region it is about).
    pub delivered_to: Option<String>,
    pub abuse: bool,
    pub arn: String,
    pub service: String,
    pub type_code: String,
    pub category: Category,
    /// `PUBLIC` or `ACCOUNT_SPECIFIC`.
    pub scope: Option<String>,
    pub communication_id: Option<String>,
    pub start: Option<Time>,
    pub end: Option<Time>,
    pub last_updated: Option<Time>,
    pub status: Status,
    /// The region the event is about (`global` for global services).
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub description: Option<String>,
    pub entities: Vec<Entity>,
    /// `(page, totalPages)`: AWS splits an event whose entities exceed EventBridge's size
    /// limit into pages that differ only in their entities.
    pub page: (u32, u32),
    /// The affected account, in an organization view.
    pub affected_account: Option<String>,
    /// A copy delivered to the backup region.
    pub backup: bool,
    pub actionability: Option<String>,
    /// The EventBridge event's `time`, when the event gives no `lastUpdatedTime`.
    pub sent: Option<Time>,
}

fn describe(v: Option<&Value>) -> String {
    match v {
        None => "missing".to_owned(),
        Some(Value::String(s)) => format!("{:?}", opswatch_slack::truncate_plain(s, 80)),
        Some(other) => format!("a {} rather than a string", kind(other)),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// A string field: `None` when absent or null; an error when of another type.
fn opt_str(
    obj: &Map<String, Value>,
    name: &str,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ParseError::Field {
            field,
            why: format!("is a {}, expected a string", kind(other)),
        }),
    }
}

/// A field that must be there, as a non-empty string.
fn req_str(
    obj: &Map<String, Value>,
    name: &str,
    field: &'static str,
) -> Result<String, ParseError> {
    match opt_str(obj, name, field)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ParseError::Field {
            field,
            why: "is missing or empty".to_owned(),
        }),
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn account(
    obj: &Map<String, Value>,
    name: &str,
    field: &'static str,
) -> Result<Option<String>, ParseError> {
    match opt_str(obj, name, field)? {
        None => Ok(None),
        Some(a) if is_account_id(&a) => Ok(Some(a)),
        Some(a) => Err(ParseError::Field {
            field,
            why: format!(
                "{} is not a 12-digit account id",
                describe(Some(&Value::String(a)))
            ),
        }),
    }
}

/// `page`/`totalPages`: strings in the documented samples, numbers accepted.
fn page_number(
    obj: &Map<String, Value>,
    name: &str,
    field: &'static str,
) -> Result<Option<u32>, ParseError> {
    let bad = |v: &Value| ParseError::Field {
        field,
        why: format!("{} is not a page number", describe(Some(v))),
    };
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::String(s)) => s
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| bad(v)),
        Some(v @ Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| bad(v)),
        Some(v) => Err(bad(v)),
    }
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The English description, else the first one given.
fn description(detail: &Map<String, Value>) -> Result<Option<String>, ParseError> {
    let list = match detail.get("eventDescription") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ParseError::Field {
                field: "detail.eventDescription",
                why: format!("is a {}, expected a list", kind(other)),
            });
        }
    };
    let texts: Vec<(Option<&str>, &str)> = list
        .iter()
        .filter_map(|d| {
            let text = d.get("latestDescription")?.as_str()?;
            Some((d.get("language").and_then(Value::as_str), text))
        })
        .collect();
    Ok(texts
        .iter()
        .find(|(lang, _)| lang.is_some_and(|l| l.eq_ignore_ascii_case("en_US")))
        .or(texts.first())
        .map(|(_, text)| (*text).to_owned()))
}

fn entities(detail: &Map<String, Value>) -> Result<Vec<Entity>, ParseError> {
    let list = match detail.get("affectedEntities") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ParseError::Field {
                field: "detail.affectedEntities",
                why: format!("is a {}, expected a list", kind(other)),
            });
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let Some(obj) = e.as_object() else {
            return Err(ParseError::Field {
                field: "detail.affectedEntities",
                why: format!("holds a {}, expected objects", kind(e)),
            });
        };
        let value = req_str(obj, "entityValue", "detail.affectedEntities[].entityValue")?;
        let tags = match obj.get("tags") {
            Some(Value::Object(t)) => t
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let status = obj
            .get("status")
            .or_else(|| obj.get("statusCode"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        out.push(Entity {
            value,
            tags,
            status,
        });
    }
    Ok(out)
}

/// An event ARN as AWS documents it:
/// `arn:<partition>:health:<region>::event/<SERVICE>/<TYPE_CODE>/<ID>`.
pub fn is_event_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, _region, _account, resource] = parts[..] else {
        return false;
    };
    let safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    arn_ == "arn"
        && partition.starts_with("aws")
        && safe(partition)
        && service == "health"
        && resource
            .strip_prefix("event/")
            .is_some_and(|r| r.split('/').count() == 3 && r.split('/').all(safe))
}

impl HealthEvent {
    /// Read an EventBridge event as an AWS Health notice.
    pub fn parse(event: &Value) -> Result<Self, ParseError> {
        let Some(top) = event.as_object() else {
            return Err(ParseError::NotHealth(format!(
                "absent (the event is a {})",
                kind(event)
            )));
        };
        match top.get("source") {
            Some(Value::String(s)) if s == "aws.health" => {}
            other => return Err(ParseError::NotHealth(describe(other))),
        }
        let detail_type = top.get("detail-type");
        let abuse = match detail_type.and_then(Value::as_str) {
            Some(t) if t == DETAIL_TYPES[0] => false,
            Some(t) if t == DETAIL_TYPES[1] => true,
            _ => return Err(ParseError::DetailType(describe(detail_type))),
        };
        let Some(detail) = top.get("detail").and_then(Value::as_object) else {
            return Err(ParseError::NoDetail);
        };
        let arn = match detail.get("eventArn") {
            None | Some(Value::Null) => return Err(ParseError::NoArn),
            Some(Value::String(s)) if s.trim().is_empty() => return Err(ParseError::NoArn),
            Some(Value::String(s)) if is_event_arn(s.trim()) => s.trim().to_owned(),
            other => {
                return Err(ParseError::Field {
                    field: "detail.eventArn",
                    why: format!(
                        "{} is not an AWS Health event ARN (arn:aws:health:<region>::event/<service>/<type>/<id>)",
                        describe(other)
                    ),
                });
            }
        };
        let time = |name: &str, field: &'static str| -> Result<Option<Time>, ParseError> {
            Ok(opt_str(detail, name, field)?
                .filter(|s| !s.trim().is_empty())
                .map(|s| Time::parse(&s)))
        };
        let page = page_number(detail, "page", "detail.page")?.unwrap_or(1);
        let pages = page_number(detail, "totalPages", "detail.totalPages")?.unwrap_or(1);
        if page > pages {
            return Err(ParseError::Field {
                field: "detail.page",
                why: format!("{page} is past detail.totalPages {pages}"),
            });
        }
        Ok(HealthEvent {
            id: opt_str(top, "id", "id")?,
            account: account(top, "account", "account")?,
            delivered_to: opt_str(top, "region", "region")?,
            abuse,
            service: req_str(detail, "service", "detail.service")?,
            type_code: req_str(detail, "eventTypeCode", "detail.eventTypeCode")?,
            category: Category::parse(&req_str(
                detail,
                "eventTypeCategory",
                "detail.eventTypeCategory",
            )?),
            scope: opt_str(detail, "eventScopeCode", "detail.eventScopeCode")?,
            communication_id: opt_str(detail, "communicationId", "detail.communicationId")?,
            start: time("startTime", "detail.startTime")?,
            end: time("endTime", "detail.endTime")?,
            last_updated: time("lastUpdatedTime", "detail.lastUpdatedTime")?,
            // Abuse reports may come without a status: they are open until said otherwise.
            status: opt_str(detail, "statusCode", "detail.statusCode")?
                .map_or(Status::Open, |s| Status::parse(&s)),
            region: opt_str(detail, "eventRegion", "detail.eventRegion")?,
            availability_zone: opt_str(detail, "availabilityZone", "detail.availabilityZone")?,
            description: description(detail)?,
            entities: entities(detail)?,
            page: (page, pages),
            affected_account: account(detail, "affectedAccount", "detail.affectedAccount")?,
            backup: flag(detail.get("backupEvent")),
            actionability: opt_str(detail, "actionability", "detail.actionability")?,
            sent: opt_str(top, "time", "time")?.map(|s| Time::parse(&s)),
            arn,
        })
    }

    /// A public event (a service's status in a region) is the same for every account.
    pub fn is_public(&self) -> bool {
        self.scope.as_deref() == Some("PUBLIC")
    }

    /// The account the event is about: the organization view's affected account, else the
    /// account it was sent to; `None` for a public event.
    pub fn about_account(&self) -> Option<&str> {
        if self.is_public() {
            return None;
        }
        self.affected_account.as_deref().or(self.account.as_deref())
    }

    /// When this notice was written: its `lastUpdatedTime`, else the EventBridge event's
    /// `time`.
    pub fn updated(&self) -> Option<&Time> {
        self.last_updated.as_ref().or(self.sent.as_ref())
    }

    /// The notice's place in its event's life: later updates have higher versions; at the
    /// same `lastUpdatedTime`, closed is after open. `None` when no time can be read.
    pub fn version(&self) -> Option<i64> {
        let t = self.updated().and_then(|t| t.epoch)?;
        Some(t * 4 + self.status.rank())
    }

    /// The tags every affected entity carries with the same value (for tag routes): the
    /// event is about them all, so only what they share decides its route.
    pub fn shared_tags(&self) -> BTreeMap<String, String> {
        let Some((first, rest)) = self.entities.split_first() else {
            return BTreeMap::new();
        };
        first
            .tags
            .iter()
            .filter(|(k, v)| rest.iter().all(|e| e.tags.get(*k) == Some(*v)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/health/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect("json")
    }

    #[test]
    fn reads_the_documented_issue() {
        let e = HealthEvent::parse(&sample("issue-1-open.json")).unwrap();
        assert_eq!(e.service, "EC2");
        assert_eq!(e.type_code, "AWS_EC2_OPERATIONAL_ISSUE");
        assert_eq!(e.category, Category::Issue);
        assert_eq!(e.status, Status::Open);
        assert_eq!(e.region.as_deref(), Some("us-east-1"));
        assert_eq!(e.start.as_ref().unwrap().epoch, Some(1_733_391_120));
        assert!(
            e.description
                .as_deref()
                .unwrap()
                .contains("increased API error rates")
        );
        assert_eq!(e.page, (1, 1));
        assert!(!e.abuse && !e.backup);
        assert_eq!(e.about_account(), Some("111122223333"));
    }

    #[test]
    fn later_notices_have_higher_versions_and_closed_follows_open() {
        let open = HealthEvent::parse(&sample("issue-1-open.json")).unwrap();
        let updated = HealthEvent::parse(&sample("issue-2-updated.json")).unwrap();
        let closed = HealthEvent::parse(&sample("issue-3-closed.json")).unwrap();
        assert!(open.version() < updated.version());
        assert!(updated.version() < closed.version());
        let mut same_time = closed.clone();
        same_time.status = Status::Open;
        assert!(same_time.version() < closed.version());
    }

    #[test]
    fn an_organization_view_is_about_its_affected_account() {
        let e = HealthEvent::parse(&sample("org-view-ec2-retirement.json")).unwrap();
        assert_eq!(e.affected_account.as_deref(), Some("444455556666"));
        assert_eq!(e.about_account(), Some("444455556666"));
        assert_ne!(e.account.as_deref(), e.about_account());
        assert!(!e.entities.is_empty());
    }

    #[test]
    fn shared_tags_are_the_ones_every_entity_has() {
        let mut e = HealthEvent::parse(&sample("issue-1-open.json")).unwrap();
        let entity = |v: &str, tags: &[(&str, &str)]| Entity {
            value: v.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            status: None,
        };
        e.entities = vec![
            entity("i-1", &[("team", "payments"), ("stage", "prod")]),
            entity("i-2", &[("team", "payments"), ("stage", "dev")]),
        ];
        assert_eq!(
            e.shared_tags(),
            BTreeMap::from([("team".to_owned(), "payments".to_owned())])
        );
        e.entities.push(entity("i-3", &[]));
        assert!(e.shared_tags().is_empty());
    }

    #[test]
    fn times_in_either_documented_format() {
        assert_eq!(
            Time::parse("Wed, 15 Feb 2023 22:07:07 GMT").epoch,
            Some(1_676_498_827)
        );
        assert_eq!(
            Time::parse("2023-02-15T22:07:07Z").epoch,
            Some(1_676_498_827)
        );
        let odd = Time::parse("soon");
        assert_eq!((odd.raw.as_str(), odd.epoch), ("soon", None));
    }

    #[test]
    fn event_arns() {
        for good in [
            "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_7f35c8ae",
            "arn:aws:health:global::event/AWS_ABUSE/AWS_ABUSE_DOS_REPORT/AWS_ABUSE_DOS_REPORT_1",
            "arn:aws-us-gov:health:us-gov-west-1::event/RDS/AWS_RDS_MAINTENANCE_SCHEDULED/X-1",
        ] {
            assert!(is_event_arn(good), "{good}");
        }
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:health:us-east-1::event/EC2/X",
            "arn:aws:health:us-east-1::event/EC2/X/<!channel>",
            "arn:aws:health:us-east-1::event/EC2/X/a b",
            "event/EC2/X/Y",
        ] {
            assert!(!is_event_arn(bad), "{bad}");
        }
    }

    #[test]
    fn bad_input_is_named_in_one_line() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!([1]),
                "not an AWS Health event: source is absent (the event is a list)",
            ),
            (
                json!({"source": "aws.ec2", "detail-type": "AWS Health Event"}),
                "source is \"aws.ec2\"",
            ),
            (
                json!({"source": "aws.health", "detail-type": "EC2 Instance State-change Notification"}),
                "detail-type is \"EC2 Instance State-change Notification\"",
            ),
            (
                json!({"source": "aws.health", "detail-type": "AWS Health Event"}),
                "has no \"detail\" object",
            ),
            (
                json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": "x"}),
                "has no \"detail\" object",
            ),
            (
                json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": {}}),
                "has no \"eventArn\"",
            ),
            (
                json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": {"eventArn": 7}}),
                "detail.eventArn a number rather than a string is not an AWS Health event ARN",
            ),
            (
                json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": {"eventArn": "arn:aws:health:us-east-1::event/EC2/A/B"}}),
                "detail.service is missing or empty",
            ),
        ];
        for (event, expected) in cases {
            let e = HealthEvent::parse(&event).unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} lacks {expected:?}");
            assert!(!e.contains('\n'), "{e:?}");
        }
        let mut e = sample("issue-1-open.json");
        e["detail"]["affectedAccount"] = "12345".into();
        assert_eq!(
            HealthEvent::parse(&e).unwrap_err().to_string(),
            "the AWS Health event's detail.affectedAccount \"12345\" is not a 12-digit account id"
        );
        let mut e = sample("issue-1-open.json");
        e["detail"]["page"] = "3".into();
        assert!(
            HealthEvent::parse(&e)
                .unwrap_err()
                .to_string()
                .contains("past detail.totalPages 1")
        );
    }

    proptest::proptest! {
        /// Whatever arrives, parsing answers (an event or an error), never panics.
        #[test]
        fn never_panics(detail in proptest::collection::hash_map("[a-zA-Z]{1,16}", proptest::prelude::any::<Option<String>>(), 0..12)) {
            let mut event = sample("issue-1-open.json");
            for (k, v) in detail {
                event["detail"][k] = v.map_or(Value::Null, Value::String);
            }
            let _ = HealthEvent::parse(&event);
        }
    }
}
