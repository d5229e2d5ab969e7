//! Writes Firehose transformation events of Database Activity Streams records, built the way
//! RDS builds them, against a KMS endpoint (moto). Run through `cargo xtask gen-das`.
//!
//! gen-das --endpoint URL --out DIR                     named samples
//! gen-das --endpoint URL --out DIR --batches N [--records R --events E --rotate K]
//!                                                       benchmark batches batch-NN.json

use opswatch_activity_stream_decoder::crypto::Esdk;
use opswatch_activity_stream_decoder::sample::{self, BatchSpec, DataKey, Flavor, Rng};
use serde_json::Value;

const CLUSTER: &str = "cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ";

struct Args {
    endpoint: String,
    region: String,
    out: std::path::PathBuf,
    batches: Option<usize>,
    records: usize,
    events: usize,
    rotate: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        endpoint: String::new(),
        region: "us-east-1".into(),
        out: "events/activity-stream".into(),
        batches: None,
        records: 350,
        events: 10,
        rotate: 120,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--endpoint" => a.endpoint = value()?,
            "--region" => a.region = value()?,
            "--out" => a.out = value()?.into(),
            "--batches" => a.batches = Some(num(value()?)?),
            "--records" => a.records = num(value()?)?,
            "--events" => a.events = num(value()?)?,
            "--rotate" => a.rotate = num(value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.endpoint.is_empty() {
        return Err("--endpoint (a KMS endpoint such as moto) is required".into());
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&a.endpoint)
        .region(aws_config::Region::new(a.region.clone()))
        .load()
        .await;
    let kms = aws_sdk_kms::Client::new(&config);
    let esdk = Esdk::new()?;
    let key_id = kms
        .create_key()
        .description("opswatch DAS samples")
        .send()
        .await
        .map_err(|e| {
            format!(
                "KMS CreateKey at {}: {}",
                a.endpoint,
                opswatch_support::error_chain(&e)
            )
        })?
        .key_metadata
        .ok_or("no key metadata")?
        .key_id;
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let write = |name: &str, v: &Value| {
        let path = a.out.join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(v).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("gen-das: wrote {}", path.display());
        Ok::<_, String>(())
    };

    if let Some(batches) = a.batches {
        for b in 0..batches {
            let spec = BatchSpec {
                resource_id: CLUSTER.into(),
                records: a.records,
                per_record: a.events,
                rotate_every: a.rotate,
                seed: 1000 + b as u64,
            };
            let (event, _) = sample::batch(&kms, &esdk, &key_id, &spec).await?;
            write(&format!("batch-{b:02}.json"), &event)?;
        }
        return Ok(());
    }

    let key = DataKey::generate(&kms, &esdk, &key_id, CLUSTER).await?;
    let mut rng = Rng::new(42);
    let mut record = |flavor: Flavor, n: u64, heartbeat_every: u64| {
        (0..n)
            .map(|i| {
                if heartbeat_every > 0 && i % heartbeat_every == heartbeat_every - 1 {
                    sample::heartbeat(flavor)
                } else {
                    sample::activity_event(flavor, i, &mut rng)
                }
            })
            .collect::<Vec<Value>>()
    };
    let pg = [
        record(Flavor::Postgres, 4, 3),
        record(Flavor::Postgres, 3, 0),
        vec![sample::heartbeat(Flavor::Postgres)],
    ];
    let my = [record(Flavor::Mysql, 3, 0), record(Flavor::Mysql, 5, 4)];
    let mut datas = Vec::new();
    for events in &pg {
        datas.push(key.record(&esdk, CLUSTER, events).await?);
    }
    write(
        "postgres-batch.json",
        &sample::firehose_event(CLUSTER, &datas),
    )?;
    let mut datas = Vec::new();
    for events in &my {
        datas.push(key.record(&esdk, CLUSTER, events).await?);
    }
    let rotated = DataKey::generate(&kms, &esdk, &key_id, CLUSTER).await?;
    datas.push(
        rotated
            .record(&esdk, CLUSTER, &record(Flavor::Mysql, 2, 0))
            .await?,
    );
    write(
        "mysql-rotated-key.json",
        &sample::firehose_event(CLUSTER, &datas),
    )?;
    let hb = key
        .record(
            &esdk,
            CLUSTER,
            &[
                sample::heartbeat(Flavor::Postgres),
                sample::heartbeat(Flavor::Postgres),
            ],
        )
        .await?;
    write(
        "heartbeat-only.json",
        &sample::firehose_event(CLUSTER, &[hb]),
    )?;
    Ok(())
}
