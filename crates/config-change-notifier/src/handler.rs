//! The I/O edge: read each SNS record, fetch oversized items from S3, post to Slack.

use std::io::Read;

use opswatch_slack::{Alert, Slack, SlackError};
use opswatch_support::{Summary, error_chain};
use serde::Serialize;
use serde_json::Value;

use crate::filter::ResourceFilter;
use crate::notification::{
    ItemChange, Notification, Oversized, ParseError, SnsRecord, sns_records,
};
use crate::render::{self, Source};

/// Largest oversized item read from S3 (decompressed). AWS Config items are far smaller.
const MAX_ITEM_BYTES: u64 = 64 * 1024 * 1024;

/// Everything an invocation needs; built once per execution environment.
pub struct Notifier {
    pub slack: Slack,
    pub s3: aws_sdk_s3::Client,
    pub filter: ResourceFilter,
}

/// What the invocation did, returned as the handler's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub records: usize,
    pub messages_posted: usize,
    pub ignored: usize,
}

/// Why an invocation failed. Every healthy record was still handled first.
pub type HandlerError = opswatch_support::InvocationError<ParseError>;

#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error("{0}")]
    BadInput(#[from] ParseError),
    #[error("{0}")]
    Delivery(#[from] SlackError),
}

enum Handled {
    Posted(usize),
    Ignored,
}

impl Notifier {
    /// Handle every record of an SNS event; fail, naming each failed record, if any failed.
    pub async fn handle(&self, event: Value) -> Result<Response, HandlerError> {
        let records = sns_records(&event).map_err(HandlerError::BadInput)?;
        let mut summary = Summary {
            records: records.len(),
            ..Summary::default()
        };
        let mut failures = Vec::new();
        let mut delivery = false;
        for record in &records {
            match self.record(record, &mut summary).await {
                Ok(Handled::Posted(n)) => summary.messages_posted += n,
                Ok(Handled::Ignored) => summary.ignored += 1,
                Err(e) => {
                    let id = record.message_id.as_deref().unwrap_or("none");
                    tracing::error!(record = record.index, message_id = id, error = %e, "SNS record failed");
                    delivery |= matches!(e, RecordError::Delivery(_));
                    failures.push(format!("record {} (MessageId {id}): {e}", record.index));
                }
            }
        }
        summary.failed = failures.len();
        summary.log();
        if failures.is_empty() {
            Ok(Response {
                records: summary.records,
                messages_posted: summary.messages_posted,
                ignored: summary.ignored,
            })
        } else {
            Err(HandlerError::Records {
                unit: "SNS record(s)",
                total: records.len(),
                failed: failures.len(),
                details: failures.join("; "),
                delivery,
            })
        }
    }

    async fn record(
        &self,
        record: &SnsRecord,
        summary: &mut Summary,
    ) -> Result<Handled, RecordError> {
        let message = record.message.as_ref().map_err(Clone::clone)?;
        let notification = Notification::parse(message)?;
        if let Some(t) = notification.resource_type()
            && !self.filter.allows(t)
        {
            tracing::debug!(resource_type = t, "resource type filtered out");
            return Ok(Handled::Ignored);
        }
        let alert = match notification {
            Notification::ItemChange(c) => render::item_change(&c, Source::Notification),
            Notification::Compliance(c) => render::compliance(&c),
            Notification::Oversized(o) => self.oversized(&o).await,
            Notification::Notice {
                message_type,
                failed,
            } => {
                if failed {
                    tracing::warn!(message_type, "AWS Config reports a failed delivery");
                } else {
                    tracing::debug!(message_type, "status notice, no alert");
                }
                return Ok(Handled::Ignored);
            }
        };
        Ok(Handled::Posted(self.post(alert, summary).await?))
    }

    async fn oversized(&self, o: &Oversized) -> Alert {
        if let Some(code) = &o.s3_delivery_summary.error_code {
            let why = format!(
                "AWS Config could not deliver it: {code} {}",
                o.s3_delivery_summary
                    .error_message
                    .as_deref()
                    .unwrap_or_default()
            );
            tracing::warn!(reason = %why, "oversized item not in S3");
            return render::oversized_unread(o, why.trim());
        }
        match self.fetch_item(o).await {
            Ok(change) => render::item_change(&change, Source::OversizedFromS3),
            Err(why) => {
                tracing::warn!(location = ?o.s3_delivery_summary.s3_bucket_location, reason = %why, "could not read the oversized item from S3");
                render::oversized_unread(o, &why)
            }
        }
    }

    async fn fetch_item(&self, o: &Oversized) -> Result<ItemChange, String> {
        let (bucket, key) = o
            .s3_delivery_summary
            .bucket_and_key()
            .ok_or("the notification has no usable s3BucketLocation")?;
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("S3 GetObject: {}", error_chain(&e)))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| format!("reading the S3 object: {}", error_chain(&e)))?
            .into_bytes();
        let json = decompress(&bytes)?;
        serde_json::from_slice(&json).map_err(|e| {
            format!("the S3 object is not a ConfigurationItemChangeNotification ({e})")
        })
    }

    async fn post(&self, alert: Alert, summary: &mut Summary) -> Result<usize, SlackError> {
        let messages = alert.into_messages();
        for m in &messages {
            let posted = self.slack.post(m).await?;
            summary.slack_retries += posted.attempts.saturating_sub(1);
        }
        Ok(messages.len())
    }
}

/// Gunzip (capped) when the bytes are gzip, else take them as they are.
fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_ITEM_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the S3 object is not valid gzip ({e})"))?;
    if out.len() as u64 > MAX_ITEM_BYTES {
        return Err(format!(
            "the S3 object decompresses to more than {MAX_ITEM_BYTES} bytes"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompress_plain_gzip_and_garbage() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"a\":1}").expect("in memory");
        let gz = gz.finish().expect("in memory");
        assert_eq!(decompress(&gz), Ok(b"{\"a\":1}".to_vec()));
        assert_eq!(decompress(b"{}"), Ok(b"{}".to_vec()));
        assert!(
            decompress(&[0x1f, 0x8b, 0, 1, 2])
                .unwrap_err()
                .starts_with("the S3 object is not valid gzip")
        );
    }
}
