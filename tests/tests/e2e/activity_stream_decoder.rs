//! activity-stream-decoder end to end: Firehose events of DAS records built as RDS builds them
//! (KMS GenerateDataKey against moto, ESDK, gzip), decoded by the real entry point.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use opswatch_activity_stream_decoder::crypto::Esdk;
use opswatch_activity_stream_decoder::sample::{self, BatchSpec, DataKey, Expected, Flavor, Rng};
use opswatch_e2e::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_e2e-activity-stream-decoder");
const FUNCTION: &str = "activity-stream-decoder";
const CLUSTER: &str = "cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ";
/// KMS Decrypt, as moto's recording names it (the JSON protocol's `X-Amz-Target`).
const DECRYPT: &str = "TrentService.Decrypt";

struct Kms {
    moto: Moto,
    kms: aws_sdk_kms::Client,
    esdk: Esdk,
    key_id: String,
}

async fn kms() -> Kms {
    let moto = Moto::start_recording().expect("moto");
    let kms = aws_sdk_kms::Client::new(&sdk_config(&moto).await);
    let key_id = kms
        .create_key()
        .description("DAS key")
        .send()
        .await
        .expect("key")
        .key_metadata
        .expect("metadata")
        .key_id;
    Kms {
        moto,
        kms,
        esdk: Esdk::new().expect("esdk"),
        key_id,
    }
}

async fn invoke(k: &Kms, event: &Value, extra: &[(&str, &str)]) -> (Vec<Value>, Invoked) {
    let mut l = lambda(BIN, FUNCTION, k.moto.aws_env());
    for (key, v) in extra {
        l = l.env(key, *v);
    }
    let invoked = l
        .invoke(&serde_json::to_vec(event).expect("JSON"))
        .await
        .expect("runs");
    let r = response(&invoked);
    let records = r["records"].as_array().cloned().unwrap_or_default();
    (records, invoked)
}

fn summary(invoked: &Invoked) -> Value {
    summary_line(invoked)["fields"].clone()
}

fn ids(event: &Value) -> Vec<String> {
    event["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["recordId"].as_str().expect("id").to_owned())
        .collect()
}

/// Every input id exactly once, in order, and each result as expected.
fn check(event: &Value, out: &[Value], expected: &[Result<Expected, ()>]) {
    let got: Vec<String> = out
        .iter()
        .map(|r| r["recordId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(got, ids(event), "record ids in order");
    for (i, (r, want)) in out.iter().zip(expected).enumerate() {
        match want {
            Ok(Expected::Ok(lines)) => {
                assert_eq!(r["result"], "Ok", "record {i}: {r}");
                let ndjson = String::from_utf8(
                    B64.decode(r["data"].as_str().expect("data"))
                        .expect("base64"),
                )
                .expect("utf-8");
                let got: Vec<&str> = ndjson.lines().collect();
                assert_eq!(got, *lines, "record {i}");
                assert!(ndjson.ends_with('\n'));
            }
            Ok(Expected::Dropped) => assert_eq!(r["result"], "Dropped", "record {i}"),
            Err(()) => {
                assert_eq!(r["result"], "ProcessingFailed", "record {i}");
                assert_eq!(
                    r["data"], event["records"][i]["data"],
                    "record {i}: a failed record keeps its input data"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_batch_sharing_one_data_key_costs_one_kms_call() {
    let k = kms().await;
    let spec = BatchSpec {
        resource_id: CLUSTER.into(),
        records: 60,
        per_record: 6,
        rotate_every: 1000,
        seed: 1,
    };
    let (event, expected) = sample::batch(&k.kms, &k.esdk, &k.key_id, &spec)
        .await
        .expect("batch");
    k.moto.reset_recording().expect("recording");
    let (out, invoked) = invoke(&k, &event, &[]).await;
    check(
        &event,
        &out,
        &expected.into_iter().map(Ok).collect::<Vec<_>>(),
    );
    assert_eq!(
        k.moto.recorded_calls(DECRYPT).expect("recording"),
        1,
        "KMS Decrypt calls moto received for 60 records sharing one data key"
    );
    let s = summary(&invoked);
    assert_eq!(s["kms_calls"], 1, "{s}");
    assert_eq!(s["dropped"], 2, "records 24 and 49 are heartbeat-only: {s}");
    assert_eq!(s["failed"], 0, "{s}");
    assert_eq!(
        s["sdk_fallbacks"], 0,
        "the direct reader decrypts what RDS writes: {s}"
    );
}

#[tokio::test]
async fn a_warm_environment_decrypts_a_data_key_once_across_invocations() {
    let k = kms().await;
    let spec = BatchSpec {
        resource_id: CLUSTER.into(),
        records: 20,
        per_record: 3,
        rotate_every: 1000,
        seed: 3,
    };
    let (event, expected) = sample::batch(&k.kms, &k.esdk, &k.key_id, &spec)
        .await
        .expect("batch");
    let expected: Vec<_> = expected.into_iter().map(Ok).collect();
    let bytes = serde_json::to_vec(&event).expect("JSON");
    k.moto.reset_recording().expect("recording");
    let invoked = lambda(BIN, FUNCTION, k.moto.aws_env())
        .invoke_many(&[bytes.clone(), bytes])
        .await
        .expect("runs");
    assert_eq!(invoked.len(), 2);
    for inv in &invoked {
        let r = response(inv);
        check(&event, r["records"].as_array().expect("records"), &expected);
    }
    assert_eq!(
        k.moto.recorded_calls(DECRYPT).expect("recording"),
        1,
        "the second invocation of the same environment found the data key in its cache"
    );
}

#[tokio::test]
async fn rotated_data_keys_each_cost_one_call() {
    let k = kms().await;
    let spec = BatchSpec {
        resource_id: CLUSTER.into(),
        records: 30,
        per_record: 3,
        rotate_every: 10,
        seed: 2,
    };
    let (event, expected) = sample::batch(&k.kms, &k.esdk, &k.key_id, &spec)
        .await
        .expect("batch");
    k.moto.reset_recording().expect("recording");
    let (out, invoked) = invoke(&k, &event, &[]).await;
    check(
        &event,
        &out,
        &expected.into_iter().map(Ok).collect::<Vec<_>>(),
    );
    assert_eq!(k.moto.recorded_calls(DECRYPT).expect("recording"), 3);
    assert_eq!(summary(&invoked)["kms_calls"], 3);
}

fn outer(data: &str) -> Value {
    serde_json::from_slice(&B64.decode(data).expect("base64")).expect("json")
}

fn reencode(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).expect("json"))
}

#[tokio::test]
async fn bad_records_fail_alone() {
    let k = kms().await;
    let key = DataKey::generate(&k.kms, &k.esdk, &k.key_id, CLUSTER)
        .await
        .expect("data key");
    // A data key made for another cluster: KMS refuses it under this cluster's context.
    let foreign = DataKey::generate(
        &k.kms,
        &k.esdk,
        &k.key_id,
        "cluster-SOMEOTHERCLUSTER0000000000",
    )
    .await
    .expect("data key");
    let mut rng = Rng::new(9);
    let pg: Vec<Value> = (0..4)
        .map(|n| sample::activity_event(Flavor::Postgres, n, &mut rng))
        .collect();
    let my: Vec<Value> = (0..3)
        .map(|n| sample::activity_event(Flavor::Mysql, n, &mut rng))
        .collect();
    let good = key.record(&k.esdk, CLUSTER, &pg).await.expect("record");
    let heartbeats = key
        .record(
            &k.esdk,
            CLUSTER,
            &[
                sample::heartbeat(Flavor::Postgres),
                sample::heartbeat(Flavor::Postgres),
            ],
        )
        .await
        .expect("record");
    let good_mysql = key.record(&k.esdk, CLUSTER, &my).await.expect("record");

    let mut corrupted = outer(&good);
    let mut message = B64
        .decode(corrupted["databaseActivityEvents"].as_str().expect("field"))
        .expect("b64");
    let at = message.len() - 30;
    message[at] ^= 0x40;
    corrupted["databaseActivityEvents"] = json!(B64.encode(&message));
    let wrong_context = foreign.record(&k.esdk, CLUSTER, &pg).await.expect("record");
    let mut unknown = outer(&good);
    unknown["type"] = json!("SomethingElse");

    let datas = vec![
        good.clone(),
        reencode(&corrupted),
        heartbeats,
        wrong_context,
        "%%% not base64 %%%".to_owned(),
        B64.encode("this is not JSON"),
        reencode(&unknown),
        good_mysql,
    ];
    let event = sample::firehose_event(CLUSTER, &datas);
    let (out, invoked) = invoke(&k, &event, &[]).await;
    check(
        &event,
        &out,
        &[
            Ok(sample::expected(&pg)),
            Err(()),
            Ok(Expected::Dropped),
            Err(()),
            Err(()),
            Err(()),
            Err(()),
            Ok(sample::expected(&my)),
        ],
    );
    // Each failure is logged with its record id and a reason naming the part at fault.
    let warnings: Vec<Value> = invoked
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "record failed")
        .collect();
    let reason = |i: usize| {
        let id = ids(&event)[i].clone();
        warnings
            .iter()
            .find(|w| w["fields"]["record_id"] == id.as_str())
            .map(|w| w["fields"]["error"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert!(
        reason(1).starts_with("the AWS Encryption SDK could not decrypt"),
        "{}",
        reason(1)
    );
    assert!(
        reason(3).starts_with("KMS could not decrypt the data key: InvalidCiphertextException"),
        "{}",
        reason(3)
    );
    assert!(
        reason(4).starts_with("record data is not valid base64"),
        "{}",
        reason(4)
    );
    assert!(
        reason(5).starts_with("record data is not the DAS JSON record"),
        "{}",
        reason(5)
    );
    assert_eq!(
        reason(6),
        "unknown DAS record type \"SomethingElse\" (expected \"DatabaseActivityMonitoringRecords\")"
    );
    assert!(!invoked.stderr.contains("panicked"));
    assert_eq!(
        summary(&invoked)["sdk_fallbacks"],
        1,
        "only the corrupted message goes to the SDK"
    );
}

#[tokio::test]
async fn resource_id_from_the_environment_when_the_arn_is_missing() {
    let k = kms().await;
    let key = DataKey::generate(&k.kms, &k.esdk, &k.key_id, CLUSTER)
        .await
        .expect("data key");
    let events = vec![sample::activity_event(
        Flavor::Postgres,
        1,
        &mut Rng::new(5),
    )];
    let mut event = sample::firehose_event(
        CLUSTER,
        &[key.record(&k.esdk, CLUSTER, &events).await.expect("record")],
    );
    event
        .as_object_mut()
        .expect("object")
        .remove("sourceKinesisStreamArn");

    let (out, invoked) = invoke(&k, &event, &[]).await;
    check(&event, &out, &[Err(())]);
    assert!(
        invoked.stderr.contains("no resource id"),
        "{}",
        invoked.stderr
    );

    let (out, _) = invoke(&k, &event, &[("DAS_RESOURCE_ID", CLUSTER)]).await;
    check(&event, &out, &[Ok(sample::expected(&events))]);
}

#[tokio::test]
async fn the_response_stays_under_the_limit_and_keeps_every_id() {
    let k = kms().await;
    let spec = BatchSpec {
        resource_id: CLUSTER.into(),
        records: 20,
        per_record: 10,
        rotate_every: 1000,
        seed: 3,
    };
    let (event, _) = sample::batch(&k.kms, &k.esdk, &k.key_id, &spec)
        .await
        .expect("batch");
    let (full, _) = invoke(&k, &event, &[]).await;
    let full_len = serde_json::to_string(&json!({ "records": full }))
        .expect("json")
        .len();
    let limit = full_len / 2;
    let (out, invoked) = invoke(&k, &event, &[("RESPONSE_LIMIT_BYTES", &limit.to_string())]).await;
    let len = serde_json::to_string(&json!({ "records": out }))
        .expect("json")
        .len();
    assert!(len <= limit, "{len} > {limit}");
    let got: Vec<&str> = out
        .iter()
        .map(|r| r["recordId"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(got, ids(&event));
    let failed = out
        .iter()
        .filter(|r| r["result"] == "ProcessingFailed")
        .count();
    assert!(
        failed > 0 && out[0]["result"] == "Ok",
        "the last records give way first"
    );
    assert!(
        invoked
            .stderr
            .contains("the response would exceed Firehose's 6 MB limit")
    );
}

#[tokio::test]
async fn not_a_firehose_event_is_a_clear_error() {
    let k = kms().await;
    let invoked = lambda(BIN, FUNCTION, k.moto.aws_env())
        .invoke(br#"{"Records":[]}"#)
        .await
        .expect("runs");
    assert_eq!(
        error(&invoked),
        (
            "BadInput".into(),
            "the event has no \"records\" array: it is not a Firehose transformation event".into()
        )
    );
}

/// The Firehose contract as a property: random batches (sizes, events per record, key
/// rotations) with a random subset of records broken in random ways — not base64, not JSON,
/// a truncated record, a flipped byte in the encrypted payload — go through one warm
/// process. Every batch answers every input id once, in order; healthy records are `Ok`
/// with exactly their events (or `Dropped` when heartbeat-only), broken ones
/// `ProcessingFailed` with their input data.
#[tokio::test]
async fn firehose_contract_holds_for_random_batches_with_broken_records() {
    let k = kms().await;
    let mut rng = Rng::new(0x5eed);
    let mut events = Vec::new();
    let mut wants = Vec::new();
    for seed in 0..8u64 {
        let spec = BatchSpec {
            resource_id: CLUSTER.into(),
            records: 1 + rng.below(40) as usize,
            per_record: 1 + rng.below(6) as usize,
            rotate_every: 1 + rng.below(20) as usize,
            seed: 100 + seed,
        };
        let (mut event, expected) = sample::batch(&k.kms, &k.esdk, &k.key_id, &spec)
            .await
            .expect("batch");
        let mut want: Vec<Result<Expected, ()>> = expected.into_iter().map(Ok).collect();
        let records = event["records"].as_array_mut().expect("records");
        for (i, record) in records.iter_mut().enumerate() {
            if rng.below(4) != 0 {
                continue;
            }
            let data = record["data"].as_str().expect("data").to_owned();
            let outer = B64.decode(&data).expect("base64");
            let broken = match rng.below(4) {
                0 => "!!not base64!!".to_owned(),
                1 => B64.encode(b"not json at all"),
                2 => B64.encode(&outer[..outer.len() / 2]),
                _ => {
                    let mut v: Value = serde_json::from_slice(&outer).expect("outer JSON");
                    let mut ciphertext: Vec<char> = v["databaseActivityEvents"]
                        .as_str()
                        .expect("payload")
                        .chars()
                        .collect();
                    let at = ciphertext.len() / 2;
                    ciphertext[at] = if ciphertext[at] == 'A' { 'B' } else { 'A' };
                    v["databaseActivityEvents"] = json!(ciphertext.into_iter().collect::<String>());
                    B64.encode(v.to_string())
                }
            };
            record["data"] = json!(broken);
            want[i] = Err(());
        }
        events.push(event);
        wants.push(want);
    }
    let bodies: Vec<Vec<u8>> = events
        .iter()
        .map(|e| serde_json::to_vec(e).expect("JSON"))
        .collect();
    let answers = lambda(BIN, FUNCTION, k.moto.aws_env())
        .invoke_many(&bodies)
        .await
        .expect("runs");
    assert_eq!(answers.len(), events.len());
    for ((event, want), invoked) in events.iter().zip(&wants).zip(&answers) {
        let r = response(invoked);
        let out = r["records"].as_array().cloned().unwrap_or_default();
        check(event, &out, want);
    }
}

/// Aurora PostgreSQL's and MySQL's events in turn, `n` of them.
fn mixed_events(seed: u64, n: u64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| sample::activity_event(flavor(i), i, &mut rng))
        .collect()
}

fn flavor(n: u64) -> Flavor {
    if n.is_multiple_of(2) {
        Flavor::Postgres
    } else {
        Flavor::Mysql
    }
}

/// 20 records of the sample's events (9 each and a heartbeat), 40 % of them by RDS's own
/// users in three spellings; records 3, 8, 13 and 18 hold nothing else.
fn housekeeping_batch() -> Vec<Vec<Value>> {
    const OWN: &[&str] = &["rdsadmin", "RDSADMIN", "rdsproxyadmin"];
    let mut rng = Rng::new(17);
    let mut n = 0;
    (0..20)
        .map(|r| {
            let flavor = flavor(r);
            (0..10)
                .map(|i| {
                    n += 1;
                    let mut e = sample::activity_event(flavor, n, &mut rng);
                    // 4 records × 9 events, 16 × 2 and 4 more: 72 of 180.
                    let own = r % 5 == 3 || i == 0 || i == 4 || (i == 7 && r % 4 == 0);
                    e["dbUserName"] = if own {
                        json!(OWN[n as usize % OWN.len()])
                    } else {
                        json!(["app_rw", "reporting", "etl_job"][n as usize % 3])
                    };
                    if i == 9 { sample::heartbeat(flavor) } else { e }
                })
                .collect()
        })
        .collect()
}

async fn records(k: &Kms, batch: &[Vec<Value>]) -> Value {
    let key = DataKey::generate(&k.kms, &k.esdk, &k.key_id, CLUSTER)
        .await
        .expect("data key");
    let mut datas = Vec::new();
    for events in batch {
        datas.push(key.record(&k.esdk, CLUSTER, events).await.expect("record"));
    }
    sample::firehose_event(CLUSTER, &datas)
}

#[tokio::test]
async fn rds_own_users_are_dropped_and_every_other_event_kept_byte_for_byte() {
    let k = kms().await;
    let batch = housekeeping_batch();
    let own = |e: &Value| {
        e["dbUserName"].as_str().is_some_and(|u| {
            ["rdsadmin", "rdsproxyadmin"].contains(&u.to_ascii_lowercase().as_str())
        })
    };
    let all: Vec<&Value> = batch
        .iter()
        .flatten()
        .filter(|e| e["type"] == "record")
        .collect();
    let owned = all.iter().filter(|e| own(e)).count();
    assert_eq!(
        owned * 100 / all.len(),
        40,
        "40 % of the events are RDS's own"
    );
    let event = records(&k, &batch).await;

    let (out, invoked) = invoke(&k, &event, &[("DAS_DROP_USERS", "rdsadmin, rdsproxyadmin")]).await;
    // What must come out: the other events, exactly as serialized into the payload.
    let expected: Vec<Result<Expected, ()>> = batch
        .iter()
        .map(|events| {
            let kept: Vec<Value> = events.iter().filter(|e| !own(e)).cloned().collect();
            Ok(sample::expected(&kept))
        })
        .collect();
    assert_eq!(
        expected
            .iter()
            .filter(|e| matches!(e, Ok(Expected::Dropped)))
            .count(),
        4,
        "records 3, 8, 13 and 18 hold only RDS's own events"
    );
    check(&event, &out, &expected);
    let s = summary(&invoked);
    assert_eq!(s["dropped_events"], owned, "{s}");
    assert_eq!(s["dropped"], 4, "{s}");
    assert_eq!(s["events"], all.len() - owned, "{s}");

    // Unset, nothing is dropped: the archive stays complete.
    let (out, _) = invoke(&k, &event, &[]).await;
    check(
        &event,
        &out,
        &batch
            .iter()
            .map(|e| Ok(sample::expected(e)))
            .collect::<Vec<_>>(),
    );
}

fn hmac_hex(key: &str, value: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(value.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("hmac-sha256:{hex}")
}

#[tokio::test]
async fn redacted_fields_hold_the_keyed_hash_and_nothing_else_changes() {
    let k = kms().await;
    // As `aws secretsmanager get-random-password` makes them.
    let secret = "Zq7#x9!LmP2$vT8&wR4^kN6*hJ3(bF5)";
    let arn = put_secret(&k.moto, "opswatch/das-redaction-key", secret).await;
    let mut events = mixed_events(23, 30);
    events[0]["paramList"] = json!(["4111 1111 1111 1111", "", null, "東京 \"quoted\""]);
    events[1]["commandText"] = json!("");
    events[2]["commandText"] = Value::Null;
    events.push(sample::heartbeat(Flavor::Postgres));
    let event = records(&k, &[events.clone()]).await;

    let l = lambda(BIN, FUNCTION, k.moto.aws_env())
        .env("DAS_REDACT", "commandText,paramList")
        .env("DAS_REDACT_KEY_SECRET_ARN", &arn)
        .secret(secret);
    // The harness fails the invocation if the key appears in anything the function printed
    // (debug logs included) or answered.
    let invoked = l
        .invoke(&serde_json::to_vec(&event).expect("JSON"))
        .await
        .expect("runs, and never prints the key");
    let out = response(&invoked)["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();

    // Independently: RustCrypto's HMAC over each value, put in place in the same JSON value,
    // serialized as the payload was.
    let redacted: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(Value::String(s)) = e.get_mut("commandText")
                && !s.is_empty()
            {
                *s = hmac_hex(secret, s);
            }
            if let Some(Value::Array(list)) = e.get_mut("paramList") {
                for v in list {
                    if let Value::String(s) = v
                        && !s.is_empty()
                    {
                        *s = hmac_hex(secret, s);
                    }
                }
            }
            e
        })
        .collect();
    check(&event, &out, &[Ok(sample::expected(&redacted))]);
    let first = B64
        .decode(out[0]["data"].as_str().expect("data"))
        .expect("base64");
    let first: Value = serde_json::from_str(
        String::from_utf8(first)
            .expect("utf-8")
            .lines()
            .next()
            .expect("a line"),
    )
    .expect("JSON");
    assert_eq!(
        first["paramList"],
        json!([
            hmac_hex(secret, "4111 1111 1111 1111"),
            "",
            null,
            hmac_hex(secret, "東京 \"quoted\"")
        ])
    );
    let s = summary(&invoked);
    // 29 statements with text (one empty, one null) and 2 parameters.
    let params = events
        .iter()
        .filter_map(|e| e["paramList"].as_array())
        .flatten()
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        .count();
    assert_eq!(s["redacted_values"], 28 + params, "{s}");
}

#[tokio::test]
async fn redaction_without_a_usable_key_stops_the_cold_start() {
    let k = kms().await;
    let redacting = |arn: Option<String>| {
        let l = lambda(BIN, FUNCTION, k.moto.aws_env()).env("DAS_REDACT", "commandText");
        match arn {
            Some(arn) => l.env("DAS_REDACT_KEY_SECRET_ARN", arn),
            None => l,
        }
    };
    // The one line the cold start stops with.
    let refused = |l: LocalLambda| async move {
        let invoked = l.invoke(br#"{"records":[]}"#).await.expect("runs");
        cold_start_error(&invoked)
    };
    let e = refused(redacting(None)).await;
    assert!(e.contains("DAS_REDACT_KEY_SECRET_ARN is not"), "{e}");
    let short = put_secret(&k.moto, "short", "tiny-key").await;
    let e = refused(redacting(Some(short)).secret("tiny-key")).await;
    assert!(e.contains("8 bytes"), "{e}");
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf".to_owned();
    let e = refused(redacting(Some(missing))).await;
    assert!(e.contains("the redaction key"), "{e}");
    let e = refused(redacting(None).env("DAS_REDACT", "commandtext")).await;
    assert!(e.contains("\"commandtext\""), "{e}");
}

/// The template as CloudFormation gets it (after the SAM transform), as JSON.
fn template() -> Value {
    let out = std::process::Command::new(opswatch_devkit::python_tool("python"))
        .arg(root().join("xtask/sam_transform.py"))
        .arg(root().join("template.yaml"))
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the SAM transform runs (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A Firehose prefix (`!{timestamp:yyyy}`…) or a Java date format (`yyyy/MM/dd`) for one day.
fn render_day(pattern: &str, (y, m, d): (u32, u32, u32)) -> String {
    pattern
        .replace("yyyy", &format!("{y:04}"))
        .replace("MM", &format!("{m:02}"))
        .replace("dd", &format!("{d:02}"))
}

#[test]
fn the_glue_table_reads_what_the_firehose_writes() {
    let t = template();
    let stream =
        &t["Resources"]["DasDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"];
    let table = &t["Resources"]["DasGlueTable"]["Properties"]["TableInput"];
    assert_eq!(stream["BucketARN"]["Fn::GetAtt"][0], "DasArchiveBucket");
    assert_eq!(stream["CompressionFormat"], "GZIP");
    assert!(
        stream["FileExtension"]
            .as_str()
            .is_some_and(|e| e.ends_with(".gz"))
    );

    // The partition: one key, dt, projected by day over the prefix Firehose writes.
    let params = &table["Parameters"];
    assert_eq!(
        table["PartitionKeys"],
        json!([{"Name": "dt", "Type": "string"}])
    );
    assert_eq!(params["projection.enabled"], "true");
    assert_eq!(params["projection.dt.type"], "date");
    assert_eq!(params["projection.dt.interval.unit"], "DAYS");
    let format = params["projection.dt.format"].as_str().expect("format");
    let location = params["storage.location.template"]["Fn::Sub"]
        .as_str()
        .expect("a Sub of the bucket");
    let prefix = stream["Prefix"].as_str().expect("prefix");
    for day in [(2026, 1, 5), (2026, 11, 20), (2027, 12, 31)] {
        let firehose = render_day(&prefix.replace("!{timestamp:", "").replace('}', ""), day);
        let athena = location
            .replace("${DasArchiveBucket}", "bucket")
            .replace("${!dt}", &render_day(format, day));
        assert_eq!(athena, format!("s3://bucket/{firehose}"), "{day:?}");
    }
    assert_eq!(
        table["StorageDescriptor"]["Location"]["Fn::Sub"],
        format!(
            "s3://${{DasArchiveBucket}}/{}",
            prefix.split('/').next().expect("top")
        ) + "/"
    );

    // The columns: every field either engine writes, typed as both write it.
    let columns: Vec<(String, String)> = table["StorageDescriptor"]["Columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().expect("name").to_owned(),
                c["Type"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    let names: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
    let fields: Vec<String> = opswatch_activity_stream_decoder::filter::EVENT_FIELDS
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    assert_eq!(
        names, fields,
        "the columns are the decoder's list of fields"
    );
    let samples = mixed_events(9, 50);
    let mut seen: Vec<String> = samples
        .iter()
        .flat_map(|e| {
            e.as_object()
                .expect("object")
                .keys()
                .map(|k| k.to_ascii_lowercase())
        })
        .collect();
    seen.sort();
    seen.dedup();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "the union of both engines' fields");
    for e in &samples {
        for (key, v) in e.as_object().expect("object") {
            let (_, ty) = columns
                .iter()
                .find(|c| c.0 == key.to_ascii_lowercase())
                .expect("a column");
            let fits = match ty.as_str() {
                "bigint" => v.is_null() || v.is_i64() || v.is_u64(),
                "array<string>" => {
                    v.is_null()
                        || v.as_array()
                            .is_some_and(|a| a.iter().all(|x| x.is_string() || x.is_null()))
                }
                "string" => !v.is_object() && !v.is_array(),
                other => panic!("unexpected column type {other}"),
            };
            assert!(fits, "{key} = {v} does not fit {ty}");
        }
    }
}
