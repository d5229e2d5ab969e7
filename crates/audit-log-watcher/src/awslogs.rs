//! The CloudWatch Logs subscription event (pure): `{"awslogs":{"data": base64(gzip(JSON))}}`,
//! decoded with a cap on the decompressed size.

use base64::Engine as _;

/// Decompressed payloads larger than this are refused (a subscription delivers at most a
/// few hundred KB of compressed log events; more is a bomb, not a batch).
pub const MAX_DECOMPRESSED: u64 = 32 * 1024 * 1024;

/// The decoded payload, as `aws_lambda_events` types it. Its `LogsEvent` is not used: it
/// gunzips `awslogs.data` inside `Deserialize` with no cap on the output, and a subscription
/// event is outside input; [`decode`] caps it first.
pub type Payload = aws_lambda_events::cloudwatch_logs::LogData;
pub type LogEvent = aws_lambda_events::cloudwatch_logs::LogEntry;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AwsLogsError {
    #[error("awslogs.data is not base64: {0}")]
    Base64(String),
    #[error("awslogs.data is not gzip: {0}")]
    Gzip(String),
    #[error("awslogs.data decompresses to more than {} MiB: refused", MAX_DECOMPRESSED / 1024 / 1024)]
    TooLarge,
    #[error("awslogs.data is not a CloudWatch Logs payload: {0}")]
    Json(String),
}

/// The `awslogs.data` string of a subscription event, if the event is one.
pub fn data(event: &serde_json::Value) -> Option<&str> {
    event.get("awslogs")?.get("data")?.as_str()
}

pub fn decode(data: &str) -> Result<Payload, AwsLogsError> {
    let gz = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| AwsLogsError::Base64(e.to_string()))?;
    let json = opswatch_support::gunzip_capped(&gz, MAX_DECOMPRESSED).map_err(|e| match e {
        opswatch_support::GunzipError::TooLarge(_) => AwsLogsError::TooLarge,
        opswatch_support::GunzipError::Gzip(why) => AwsLogsError::Gzip(why),
    })?;
    serde_json::from_slice(&json).map_err(|e| AwsLogsError::Json(e.to_string()))
}

/// What a log group says about its source: `/aws/rds/cluster/<name>/…` → ("cluster",
/// name); `/aws/rds/instance/<name>/…` → ("instance", name); else the group itself.
pub fn source(log_group: &str) -> (&'static str, &str) {
    let parts: Vec<&str> = log_group.split('/').collect();
    match parts[..] {
        ["", "aws", "rds", "cluster", name, ..] if !name.is_empty() => ("cluster", name),
        ["", "aws", "rds", "instance", name, ..] if !name.is_empty() => ("instance", name),
        _ => ("log group", log_group),
    }
}

#[cfg(test)]
pub fn encode(json: &[u8]) -> String {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json).expect("gzip");
    base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let json = br#"{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/rds/cluster/aurora-prod/audit","logStream":"aurora-prod-instance-1","subscriptionFilters":["opswatch"],"logEvents":[{"id":"1","timestamp":1795597262123,"message":"x"}]}"#;
        let p = decode(&encode(json)).unwrap();
        assert_eq!(
            (p.message_type.as_str(), p.log_events.len()),
            ("DATA_MESSAGE", 1)
        );
        assert!(matches!(decode("!!!"), Err(AwsLogsError::Base64(_))));
        assert!(matches!(decode("aGVsbG8="), Err(AwsLogsError::Gzip(_))));
        assert!(matches!(
            decode(&encode(b"[1,2]")),
            Err(AwsLogsError::Json(_))
        ));
        let truncated = &encode(json)[..40];
        assert!(decode(truncated).is_err());
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        let zeros = vec![b' '; (MAX_DECOMPRESSED + 1024) as usize];
        assert_eq!(decode(&encode(&zeros)), Err(AwsLogsError::TooLarge));
    }

    #[test]
    fn sources() {
        assert_eq!(
            source("/aws/rds/cluster/aurora-prod/audit"),
            ("cluster", "aurora-prod")
        );
        assert_eq!(
            source("/aws/rds/instance/db1/postgresql"),
            ("instance", "db1")
        );
        assert_eq!(source("/custom/x"), ("log group", "/custom/x"));
    }

    proptest::proptest! {
        /// Arbitrary text, arbitrary bytes behind valid base64, and a real payload with a
        /// byte changed anywhere: decoded or refused, never a panic.
        #[test]
        fn arbitrary_payloads_never_panic(
            text in "\\PC{0,200}",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            at in 0usize..400,
            byte in proptest::num::u8::ANY,
        ) {
            let _ = decode(&text);
            let _ = decode(&base64::engine::general_purpose::STANDARD.encode(&bytes));
            let json = br#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/rds/cluster/a/audit","logStream":"s","subscriptionFilters":[],"logEvents":[{"id":"1","timestamp":1,"message":"x"}]}"#;
            let mut gz = base64::engine::general_purpose::STANDARD.decode(encode(json)).expect("b64");
            let i = at % gz.len();
            gz[i] = byte;
            let _ = decode(&base64::engine::general_purpose::STANDARD.encode(&gz));
        }
    }
}
