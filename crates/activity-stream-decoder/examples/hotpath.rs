//! Single-thread throughput of the per-record steps after decryption (gunzip, event scan,
//! base64), on payloads shaped like the benchmark's. No KMS, no Lambda:
//! `cargo run --release --example hotpath`. `cargo xtask bench das` is the real comparison.

use std::hint::black_box;
use std::time::Instant;

use opswatch_activity_stream_decoder::das;
use opswatch_activity_stream_decoder::filter::Filter;
use opswatch_activity_stream_decoder::sample::{self, Flavor, Rng};

/// As in the function's `main.rs`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut rng = Rng::new(7);
    let payloads: Vec<Vec<u8>> = (0..350u64)
        .map(|r| {
            let flavor = if r % 2 == 0 {
                Flavor::Postgres
            } else {
                Flavor::Mysql
            };
            let mut events: Vec<_> = (0..10)
                .map(|i| sample::activity_event(flavor, r * 10 + i, &mut rng))
                .collect();
            events[0] = sample::heartbeat(flavor);
            sample::payload("cluster-X", &events)
        })
        .collect();
    let gz: Vec<Vec<u8>> = payloads.iter().map(|p| sample::gzip(p)).collect();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "{} payloads, {:.1} KB each uncompressed, {:.1} KB gzip",
        payloads.len(),
        bytes as f64 / 350.0 / 1e3,
        gz.iter().map(Vec::len).sum::<usize>() as f64 / 350.0 / 1e3
    );
    let rounds = 50;
    let time = |name: &str, f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..rounds {
            f();
        }
        let per = t.elapsed().as_secs_f64() / f64::from(rounds) / 350.0 * 1e6;
        println!(
            "{name:<10} {per:6.2} µs/record  {:7.0} MB/s of payload",
            bytes as f64 / 350.0 / per
        );
    };
    time("gunzip", &mut || {
        for g in &gz {
            black_box(das::gunzip(g).ok());
        }
    });
    let decoded: Vec<das::Decoded> = payloads
        .iter()
        .filter_map(|p| das::decode_payload(p).ok())
        .collect();
    time("scan", &mut || {
        for p in &payloads {
            black_box(das::decode_payload(p).ok());
        }
    });
    // The archive filters: RDS's own users dropped, then also two fields redacted.
    let users = [
        "rdsadmin".to_owned(),
        "rdssec".to_owned(),
        "rdsproxyadmin".to_owned(),
    ];
    let fields = ["commandText".to_owned(), "paramList".to_owned()];
    let key = Some(&b"a redaction key of 32 bytes....."[..]);
    for (name, redact) in [("scan+drop", &[][..]), ("+redact", &fields[..])] {
        let Ok(filter) = Filter::new(&users, redact, key) else {
            return;
        };
        time(name, &mut || {
            for p in &payloads {
                black_box(das::decode_payload_with(p, &filter).ok());
            }
        });
    }
    time("serde", &mut || {
        for p in &payloads {
            black_box(serde_json::from_slice::<serde::de::IgnoredAny>(p).ok());
        }
    });
    time("base64", &mut || {
        for d in &decoded {
            black_box(das::b64_encode(&d.ndjson));
        }
    });
    // The response's way out through lambda_runtime: RawValue check, then serde_json::to_vec.
    let mut response = String::from("{\"records\":[");
    for (i, d) in decoded.iter().enumerate() {
        if i > 0 {
            response.push(',');
        }
        response.push_str(&format!(
            "{{\"recordId\":\"4954698668313554428650745793632167567570019247115678515{i:03}\",\"result\":\"Ok\",\"data\":\"{}\"}}",
            das::b64_encode(&d.ndjson)
        ));
    }
    response.push_str("]}");
    println!("response   {:.2} MB", response.len() as f64 / 1e6);
    time("RawValue", &mut || {
        let raw = serde_json::value::RawValue::from_string(response.clone()).ok();
        black_box(raw.map(|r| serde_json::to_vec(&r).ok()));
    });
    time("from_str", &mut || {
        black_box(serde_json::value::RawValue::from_string(response.clone()).ok());
    });
    let raw = serde_json::value::RawValue::from_string(response.clone()).ok();
    time("to_vec", &mut || {
        black_box(serde_json::to_vec(&raw).ok());
    });
    time("clone", &mut || {
        black_box(response.clone());
    });
    // The event's way in, when a benchmark batch is at hand.
    if let Some(event) = std::env::args().nth(1).and_then(|p| std::fs::read(p).ok()) {
        println!("event      {:.2} MB", event.len() as f64 / 1e6);
        time("ev Raw", &mut || {
            black_box(serde_json::from_slice::<Box<serde_json::value::RawValue>>(&event).ok());
        });
        time("ev Value", &mut || {
            black_box(serde_json::from_slice::<serde_json::Value>(&event).ok());
        });
        let text = String::from_utf8_lossy(&event).into_owned();
        time("ev parse", &mut || {
            black_box(
                opswatch_activity_stream_decoder::firehose::FirehoseEvent::from_json(&text).ok(),
            );
        });
    }
}
