//! Database Activity Streams records built the way RDS builds them — KMS `GenerateDataKey`
//! with the DAS encryption context, the AWS Encryption SDK with the raw AES keyring
//! `BC`/`DataKey`, gzip — for tests, `cargo xtask gen-das`, the demo and the benchmark.
//! Not used by the function itself.

use std::io::Write;

use aws_esdk::material_providers::types::keyring::KeyringRef;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::crypto::Esdk;
use crate::das::RECORDS_TYPE;

/// The frame length RDS uses.
pub const FRAME_LENGTH: i64 = 4096;

/// A small deterministic generator (xorshift64*), so samples are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Postgres,
    Mysql,
}

const SQL: &[&str] = &[
    "SELECT id, email FROM customers WHERE region = $1 LIMIT 50",
    "UPDATE orders SET status = 'shipped', updated_at = now() WHERE id = $1",
    "INSERT INTO audit_log (actor, action) VALUES ($1, $2)",
    "SELECT * FROM 商品 WHERE 名前 LIKE '%東京%'",
    "DELETE FROM sessions WHERE expires_at < now() - interval '1 day'",
    "COMMIT",
    "CREATE INDEX CONCURRENTLY idx_orders_created ON orders (created_at)",
    "SELECT pg_sleep(0.1); -- 確認用クエリ \"quoted\"",
];
const USERS: &[&str] = &["app_rw", "reporting", "admin", "rdsadmin", "etl_job"];

/// One activity event as Aurora PostgreSQL or MySQL writes it.
pub fn activity_event(flavor: Flavor, n: u64, rng: &mut Rng) -> Value {
    let sql = SQL[rng.below(SQL.len() as u64) as usize];
    let user = USERS[rng.below(USERS.len() as u64) as usize];
    let command = sql.split_whitespace().next().unwrap_or("SELECT");
    let time = format!(
        "2026-11-20 09:{:02}:{:02}.{:06}+00",
        (n / 60) % 60,
        n % 60,
        rng.below(1_000_000)
    );
    let host = format!("10.0.{}.{}", rng.below(8), 10 + rng.below(200));
    match flavor {
        Flavor::Postgres => json!({
            "type": "record", "clusterId": "", "class": "MISC", "clientApplication": "psql",
            "command": command, "commandText": sql, "databaseName": "shop", "dbProtocol": "Postgres 3.0",
            "dbUserName": user, "endTime": null, "errorMessage": null, "exitCode": null,
            "logTime": time, "netProtocol": "TCP", "objectName": "public.orders", "objectType": "TABLE",
            "paramList": ["eu-west-1"], "pid": 18000 + rng.below(1000), "remoteHost": host, "remotePort": "49804",
            "rowCount": rng.below(100), "serverHost": "172.31.3.192", "serverType": "PostgreSQL",
            "serverVersion": "16.4.2", "serviceName": "Amazon Aurora PostgreSQL-Compatible edition",
            "sessionId": format!("{:x}.{:x}", rng.below(1 << 32), rng.below(1 << 16)),
            "startTime": null, "statementId": n, "substatementId": 1, "transactionId": "0"
        }),
        Flavor::Mysql => json!({
            "type": "record", "clientApplication": null, "pid": 2830 + rng.below(100), "dbUserName": user,
            "databaseName": "shop", "remoteHost": host, "remotePort": "11054", "command": "QUERY",
            "commandText": sql, "paramList": null, "objectType": "TABLE", "objectName": "orders",
            "statementId": n, "substatementId": 1, "exitCode": "0", "sessionId": format!("{}", 725_000 + rng.below(1000)),
            "rowCount": rng.below(100), "serverHost": "master", "serverType": "MySQL",
            "serviceName": "Amazon Aurora MySQL", "serverVersion": "MySQL 8.0.39", "startTime": time,
            "endTime": time, "transactionId": "0", "dbProtocol": "MySQL", "netProtocol": "TCP",
            "errorMessage": "", "class": "MAIN", "logTime": time
        }),
    }
}

pub fn heartbeat(flavor: Flavor) -> Value {
    match flavor {
        Flavor::Postgres => {
            json!({"type": "heartbeat", "logTime": "2026-11-20 09:00:00.000000+00"})
        }
        Flavor::Mysql => {
            json!({"type": "heartbeat", "logTime": "2026-11-20 09:00:00.000000+00", "serverType": "MySQL"})
        }
    }
}

/// The JSON payload RDS encrypts.
pub fn payload(resource_id: &str, events: &[Value]) -> Vec<u8> {
    let doc = json!({
        "type": "DatabaseActivityMonitoringRecord",
        "clusterId": resource_id,
        "instanceId": "db-FZJTMYKCXQBUUZ6VLU7NW3ITCM",
        "databaseActivityEventList": events,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(bytes);
    gz.finish().unwrap_or_default()
}

/// Gzip whose length is an exact multiple of `multiple` (padding in the header's FEXTRA
/// field), so the ESDK message ends with an empty final frame.
pub fn gzip_padded(bytes: &[u8], multiple: usize) -> Vec<u8> {
    let plain = gzip(bytes).len();
    // FEXTRA costs 2 bytes of length plus the subfield (4-byte header + data).
    let mut pad = (multiple - (plain + 6) % multiple) % multiple;
    loop {
        let mut gz = flate2::GzBuilder::new()
            .extra(padding(pad))
            .write(Vec::new(), flate2::Compression::default());
        let _ = gz.write_all(bytes);
        let out = gz.finish().unwrap_or_default();
        if out.len().is_multiple_of(multiple) {
            return out;
        }
        pad += multiple - out.len() % multiple;
    }
}

fn padding(n: usize) -> Vec<u8> {
    let mut v = vec![b'O', b'W'];
    v.extend_from_slice(&(n as u16).to_le_bytes());
    v.extend(std::iter::repeat_n(0u8, n));
    v
}

/// The Firehose record data for one ESDK message and KMS data-key blob.
pub fn record_data(message: &[u8], key_blob: &[u8]) -> String {
    let outer = json!({
        "type": RECORDS_TYPE,
        "version": "1.2",
        "databaseActivityEvents": B64.encode(message),
        "key": B64.encode(key_blob),
    });
    B64.encode(serde_json::to_vec(&outer).unwrap_or_default())
}

/// A Firehose transformation event around record data.
pub fn firehose_event(resource_id: &str, datas: &[String]) -> Value {
    let records: Vec<Value> = datas
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({
                "recordId": format!("4954698668313554428650745793632162567570019247115678{i:04}"),
                "approximateArrivalTimestamp": 1_763_629_938_114u64 + i as u64,
                "data": d,
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": "1",
                    "approximateArrivalTimestamp": 1_763_629_938_114u64 + i as u64,
                    "sequenceNumber": format!("4954698668313554428650745793632162567570019247115678{i:04}"),
                    "subsequenceNumber": 0
                }
            })
        })
        .collect();
    json!({
        "invocationId": "2c1b4f5e-6d7a-4e8f-9a0b-1c2d3e4f5a6b",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/opswatch-das",
        "sourceKinesisStreamArn": format!("arn:aws:kinesis:us-east-1:123456789012:stream/aws-rds-das-{resource_id}"),
        "region": "us-east-1",
        "records": records,
    })
}

/// A data key as RDS gets it: KMS GenerateDataKey with the DAS encryption context.
pub async fn generate_data_key(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    resource_id: &str,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (k, v) = crate::das::encryption_context(resource_id);
    let out = kms
        .generate_data_key()
        .key_id(key_id)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .encryption_context(k, v)
        .send()
        .await
        .map_err(|e| format!("KMS GenerateDataKey: {}", opswatch_support::error_chain(&e)))?;
    let plain = out
        .plaintext
        .map(|b| b.into_inner())
        .ok_or("no plaintext key")?;
    let blob = out
        .ciphertext_blob
        .map(|b| b.into_inner())
        .ok_or("no key blob")?;
    Ok((plain, blob))
}

/// A data key and the keyring RDS would encrypt with.
pub struct DataKey {
    pub blob: Vec<u8>,
    pub keyring: KeyringRef,
}

impl DataKey {
    pub async fn generate(
        kms: &aws_sdk_kms::Client,
        esdk: &Esdk,
        key_id: &str,
        resource_id: &str,
    ) -> Result<Self, String> {
        let (plain, blob) = generate_data_key(kms, key_id, resource_id).await?;
        let keyring = esdk.keyring(&plain).await.map_err(|e| e.to_string())?;
        Ok(Self { blob, keyring })
    }

    /// Record data carrying these events.
    pub async fn record(
        &self,
        esdk: &Esdk,
        resource_id: &str,
        events: &[Value],
    ) -> Result<String, String> {
        let gz = gzip(&payload(resource_id, events));
        let message = esdk.encrypt(&self.keyring, &gz, FRAME_LENGTH).await?;
        Ok(record_data(&message, &self.blob))
    }
}

/// What the decoder must return for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// NDJSON lines, exactly.
    Ok(Vec<String>),
    Dropped,
}

/// The expectation for a record of these events.
pub fn expected(events: &[Value]) -> Expected {
    let lines: Vec<String> = events
        .iter()
        .filter(|e| e["type"] != "heartbeat")
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect();
    if lines.is_empty() {
        Expected::Dropped
    } else {
        Expected::Ok(lines)
    }
}

/// A realistic batch: `records` records of `per_record` events (about one in ten a
/// heartbeat), every 25th record heartbeat-only, data keys rotated every `rotate_every`
/// records, flavours alternating by key. Returns the Firehose event and the expectations.
pub struct BatchSpec {
    pub resource_id: String,
    pub records: usize,
    pub per_record: usize,
    pub rotate_every: usize,
    pub seed: u64,
}

pub async fn batch(
    kms: &aws_sdk_kms::Client,
    esdk: &Esdk,
    key_id: &str,
    spec: &BatchSpec,
) -> Result<(Value, Vec<Expected>), String> {
    let mut rng = Rng::new(spec.seed);
    let mut datas = Vec::with_capacity(spec.records);
    let mut expectations = Vec::with_capacity(spec.records);
    let mut key: Option<DataKey> = None;
    let mut n = spec.seed * 1_000_000;
    for i in 0..spec.records {
        if i % spec.rotate_every.max(1) == 0 || key.is_none() {
            key = Some(DataKey::generate(kms, esdk, key_id, &spec.resource_id).await?);
        }
        let flavor = if (i / spec.rotate_every.max(1)).is_multiple_of(2) {
            Flavor::Postgres
        } else {
            Flavor::Mysql
        };
        let events: Vec<Value> = if i % 25 == 24 {
            vec![heartbeat(flavor)]
        } else {
            (0..spec.per_record)
                .map(|_| {
                    n += 1;
                    if rng.below(10) == 0 {
                        heartbeat(flavor)
                    } else {
                        activity_event(flavor, n, &mut rng)
                    }
                })
                .collect()
        };
        let dk = key.as_ref().ok_or("no data key")?;
        datas.push(dk.record(esdk, &spec.resource_id, &events).await?);
        expectations.push(expected(&events));
    }
    Ok((firehose_event(&spec.resource_id, &datas), expectations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::das;

    /// The ESDK layer round-trips, including framing edge cases, with a local data key.
    async fn roundtrip(plaintext_gz: &[u8]) -> Vec<u8> {
        let esdk = Esdk::new().unwrap();
        let keyring = esdk.keyring(&[7u8; 32]).await.unwrap();
        let message = esdk
            .encrypt(&keyring, plaintext_gz, FRAME_LENGTH)
            .await
            .unwrap();
        let fresh = esdk.keyring(&[7u8; 32]).await.unwrap();
        esdk.decrypt(&fresh, &message).await.unwrap()
    }

    #[tokio::test]
    async fn exact_multiple_of_the_frame_length() {
        let mut rng = Rng::new(3);
        let events: Vec<Value> = (0..40)
            .map(|n| activity_event(Flavor::Postgres, n, &mut rng))
            .collect();
        let gz = gzip_padded(&payload("cluster-X", &events), FRAME_LENGTH as usize);
        assert_eq!(gz.len() % FRAME_LENGTH as usize, 0);
        assert!(gz.len() >= FRAME_LENGTH as usize);
        let back = roundtrip(&gz).await;
        assert_eq!(back, gz);
        let d = das::decode_payload(&das::gunzip(&back).unwrap()).unwrap();
        assert_eq!(d.events, 40);
    }

    #[tokio::test]
    async fn many_frames() {
        let mut rng = Rng::new(4);
        let events: Vec<Value> = (0..3000)
            .map(|n| activity_event(Flavor::Mysql, n, &mut rng))
            .collect();
        let gz = gzip(&payload("cluster-X", &events));
        assert!(gz.len() > 20 * FRAME_LENGTH as usize, "{} bytes", gz.len());
        let back = roundtrip(&gz).await;
        let d = das::decode_payload(&das::gunzip(&back).unwrap()).unwrap();
        assert_eq!(d.events, 3000);
        assert_eq!(
            expected(&events),
            Expected::Ok(
                String::from_utf8(d.ndjson)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect()
            )
        );
    }

    #[tokio::test]
    async fn a_wrong_key_or_a_flipped_byte_fails() {
        let esdk = Esdk::new().unwrap();
        let keyring = esdk.keyring(&[7u8; 32]).await.unwrap();
        let mut message = esdk
            .encrypt(&keyring, b"payload", FRAME_LENGTH)
            .await
            .unwrap();
        let other = esdk.keyring(&[8u8; 32]).await.unwrap();
        assert!(esdk.decrypt(&other, &message).await.is_err());
        let last = message.len() - 20;
        message[last] ^= 1;
        assert!(esdk.decrypt(&keyring, &message).await.is_err());
    }
}
