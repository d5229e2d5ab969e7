//! The I/O edge: read each SNS record, fetch oversized items from S3, hand the alerts to the
//! delivery pipeline (which routes, dedupes, threads and posts them).

use opswatch_delivery::{BAD_INPUT, Delivery, Notice, Outcome};
use opswatch_slack::Alert;
use opswatch_support::{Failure, error_chain};
use serde_json::Value;

use crate::filter::ResourceFilter;
use crate::notification::{ItemChange, Notification, Oversized, SnsRecord, sns_records};
use crate::render::{self, Source};
use crate::weigh;

/// Largest oversized item read from S3 (decompressed). AWS Config items are far smaller.
const MAX_ITEM_BYTES: u64 = 64 * 1024 * 1024;

/// Everything an invocation needs; built once per execution environment.
pub struct Notifier {
    pub delivery: Delivery,
    pub s3: aws_sdk_s3::Client,
    pub filter: ResourceFilter,
}

impl Notifier {
    /// Handle every record of an SNS event; fail, naming each failed record, if any failed.
    /// The response: `{"records", "alerts", "messagesPosted", "deduplicated", "ignored"}`.
    pub async fn handle(&self, event: Value) -> Result<Value, Failure> {
        let mut out = Outcome::new("SNS record");
        let records = match sns_records(&event) {
            Ok(r) => r,
            Err(e) => {
                out.stop(BAD_INPUT, e.to_string());
                return out.finish();
            }
        };
        out.received(records.len());
        for record in &records {
            let id = record.message_id.as_deref();
            match self.notice(record).await {
                Ok(Some(notice)) => {
                    if let Err(e) = self.delivery.deliver(notice, &mut out).await {
                        out.delivery_failed(record.index, id, &e);
                    }
                }
                Ok(None) => out.ignored(1),
                Err(e) => out.unit_failed(record.index, id, BAD_INPUT, e.to_string()),
            }
            if out.stopped() {
                break;
            }
        }
        out.finish()
    }

    /// The record's alert, or `None` for a notice or a filtered resource type.
    async fn notice(
        &self,
        record: &SnsRecord,
    ) -> Result<Option<Notice>, crate::notification::ParseError> {
        let message = record.message.as_ref().map_err(Clone::clone)?;
        let notification = Notification::parse(message)?;
        if let Some(t) = notification.resource_type()
            && !self.filter.allows(t)
        {
            tracing::debug!(resource_type = t, "resource type filtered out");
            return Ok(None);
        }
        // The same SNS message gives the same keys on every delivery.
        let source = match &record.message_id {
            Some(id) => format!("sns/{id}"),
            None => format!("sns-body/{}", opswatch_delivery::keys::digest(message)),
        };
        let notice = match notification {
            Notification::ItemChange(c) => item_notice(
                render::item_change(&c, Source::Notification, self.delivery.names()),
                &c,
                source,
            ),
            Notification::Compliance(c) => Notice::new(
                render::compliance(&c, self.delivery.names()),
                weigh::compliance(&c),
                source,
            )
            .account(c.aws_account_id.clone().unwrap_or_default())
            .rule(weigh::COMPLIANCE_CHANGE)
            .thread(weigh::thread(c.aws_account_id.as_deref(), &c.resource_id)),
            Notification::Oversized(o) => self.oversized(&o, source).await,
            Notification::Notice {
                message_type,
                failed,
            } => {
                if failed {
                    tracing::warn!(message_type, "AWS Config reports a failed delivery");
                } else {
                    tracing::debug!(message_type, "status notice, no alert");
                }
                return Ok(None);
            }
        };
        Ok(Some(notice))
    }

    async fn oversized(&self, o: &Oversized, source: String) -> Notice {
        let summary = &o.configuration_item_summary;
        let unread = |alert: Alert| {
            Notice::new(alert, opswatch_delivery::Severity::Warning, source.clone())
                .account(summary.aws_account_id.clone().unwrap_or_default())
                .rule(weigh::CONFIGURATION_CHANGE)
                .thread(weigh::thread(
                    summary.aws_account_id.as_deref(),
                    &summary.resource_id,
                ))
        };
        if let Some(code) = &o.s3_delivery_summary.error_code {
            let why = format!(
                "AWS Config could not deliver it: {code} {}",
                o.s3_delivery_summary
                    .error_message
                    .as_deref()
                    .unwrap_or_default()
            );
            tracing::warn!(reason = %why, "oversized item not in S3");
            return unread(render::oversized_unread(
                o,
                why.trim(),
                self.delivery.names(),
            ));
        }
        match self.fetch_item(o).await {
            Ok(change) => item_notice(
                render::item_change(&change, Source::OversizedFromS3, self.delivery.names()),
                &change,
                source,
            ),
            Err(why) => {
                tracing::warn!(location = ?o.s3_delivery_summary.s3_bucket_location, reason = %why, "could not read the oversized item from S3");
                unread(render::oversized_unread(o, &why, self.delivery.names()))
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
}

fn item_notice(alert: Alert, c: &ItemChange, source: String) -> Notice {
    let item = &c.configuration_item;
    let (severity, rule) = weigh::item(c);
    // The resource's tags, for tag routes.
    let tags = item
        .tags
        .as_ref()
        .map(|t| {
            t.iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    Notice::new(alert, severity, source)
        .account(item.aws_account_id.clone().unwrap_or_default())
        .rule(rule)
        .tags(tags)
        .thread(weigh::thread(
            item.aws_account_id.as_deref(),
            &item.resource_id,
        ))
}

/// Gunzip (capped) when the bytes are gzip, else take them as they are.
fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    opswatch_support::maybe_gunzip(bytes, MAX_ITEM_BYTES)
        .map(|b| b.into_owned())
        .map_err(|e| format!("the S3 object is {e}"))
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
