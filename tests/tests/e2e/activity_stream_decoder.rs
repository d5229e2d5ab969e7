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
