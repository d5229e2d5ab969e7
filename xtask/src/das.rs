//! `cargo xtask gen-das` and `cargo xtask bench das`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use opswatch_devkit::{LocalLambda, Moto, Outcome};
use serde_json::Value;

const FUNCTION: &str = "activity-stream-decoder";

/// Run the sample generator (an example of the decoder crate, which alone links aws-esdk).
pub fn generate(endpoint: &str, out: &Path, release: bool, extra: &[&str]) -> Result<(), String> {
    let mut c = crate::cargo();
    c.args([
        "run",
        "--quiet",
        "-p",
        "opswatch-activity-stream-decoder",
        "--example",
        "gen-das",
    ]);
    if release {
        c.arg("--release");
    }
    c.args(["--", "--endpoint", endpoint, "--out"])
        .arg(out)
        .args(extra);
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    c.stdout(std::io::stderr());
    crate::run(&mut c)
}

/// `cargo xtask gen-das [--endpoint URL] [--out DIR]`.
pub fn gen_main(args: &[String]) -> Result<(), String> {
    let mut endpoint = None;
    let mut out = crate::root().join("events/activity-stream");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--endpoint" => endpoint = it.next().cloned(),
            "--out" => out = it.next().map(PathBuf::from).ok_or("--out needs a folder")?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: cargo xtask gen-das [--endpoint URL] [--out DIR]"
                ));
            }
        }
    }
    match endpoint {
        Some(e) => generate(&e, &out, false, &[]),
        None => {
            crate::python::ensure()?;
            let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
            eprintln!(
                "gen-das: no --endpoint: using a private moto; its keys die with it, so these samples show the shape but cannot be decrypted later"
            );
            generate(&moto.endpoint(), &out, false, &[])
        }
    }
}

/// The demo's part: samples against the demo's moto, decoded, summarised.
pub async fn demo(moto: &Moto) -> Result<(), String> {
    let dir = crate::target_dir().join("demo/activity-stream");
    generate(&moto.endpoint(), &dir, false, &[])?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| e.to_string())?;
        let lambda = LocalLambda::new(crate::binary(FUNCTION, false), FUNCTION)
            .envs(moto.aws_env())
            .env("LOG_LEVEL", "warn");
        let invoked = lambda.invoke(&bytes).await.map_err(|e| e.to_string())?;
        println!(
            "\n▶ {FUNCTION} {} (generated against the demo's moto KMS)",
            f.display()
        );
        match invoked.outcome {
            Outcome::Response(r) => {
                let v: Value = serde_json::from_str(&r).map_err(|e| e.to_string())?;
                for rec in v["records"].as_array().into_iter().flatten() {
                    let result = rec["result"].as_str().unwrap_or_default();
                    print!(
                        "  {} {result}",
                        rec["recordId"].as_str().unwrap_or_default()
                    );
                    if result == "Ok" {
                        use base64::Engine;
                        let nd = base64::engine::general_purpose::STANDARD
                            .decode(rec["data"].as_str().unwrap_or_default())
                            .unwrap_or_default();
                        let text = String::from_utf8_lossy(&nd);
                        let first = text.lines().next().unwrap_or_default();
                        let shown: String = first.chars().take(150).collect();
                        println!(": {} events, first: {shown}…", text.lines().count());
                    } else {
                        println!();
                    }
                }
            }
            other => println!("  {other:?}\n{}", invoked.stderr),
        }
    }
    Ok(())
}

fn summaries(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "invocation summary")
        .map(|v| v["fields"].clone())
        .collect()
}

/// Decoded events per record id, as JSON values, for comparing two responses.
fn decoded(response: &Value) -> Vec<(String, String, Vec<Value>)> {
    use base64::Engine;
    response["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let result = r["result"].as_str().unwrap_or_default().to_owned();
            let events = if result == "Ok" {
                let nd = base64::engine::general_purpose::STANDARD
                    .decode(r["data"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                String::from_utf8_lossy(&nd)
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            } else {
                Vec::new()
            };
            (
                r["recordId"].as_str().unwrap_or_default().to_owned(),
                result,
                events,
            )
        })
        .collect()
}

fn baseline_python() -> Result<PathBuf, String> {
    let dir = crate::root().join("../shared/baselines");
    let req = dir.join("requirements.txt");
    if !req.exists() {
        return Err(format!("the baselines are not at {}", dir.display()));
    }
    let venv = crate::target_dir().join("py-baseline");
    let python = venv.join("bin/python");
    let marker = venv.join(".installed");
    let wanted = std::fs::read_to_string(&req).map_err(|e| e.to_string())?;
    if !(python.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted)) {
        eprintln!(
            "bench: installing the baseline's requirements into {}",
            venv.display()
        );
        crate::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        crate::run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&req),
        )?;
        std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
    }
    Ok(python)
}

/// The median of some samples (NaN for none).
fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `median (min–max)` of rates, without decimals.
fn spread(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.0} ({lo:.0}–{hi:.0})", median(v))
}

/// The decoder's invocations of one kind (cold or warm key cache), over the rounds.
#[derive(Default)]
struct Side {
    /// Whole-invocation wall times (Runtime API to Runtime API), ms.
    wall_ms: Vec<f64>,
    /// The decoder's invocation summaries (its own timings, among them `transform_us`).
    summaries: Vec<Value>,
}

impl Side {
    /// Records/s over the whole invocation.
    fn rates(&self, records: usize) -> Vec<f64> {
        self.wall_ms
            .iter()
            .map(|ms| records as f64 / (ms / 1e3))
            .collect()
    }

    /// Records/s over the baseline's window: the transform step alone.
    fn transform_rates(&self, records: usize) -> Vec<f64> {
        self.summaries
            .iter()
            .map(|v| {
                v["transform_us"]
                    .as_f64()
                    .map_or(f64::NAN, |us| records as f64 / (us / 1e6))
            })
            .collect()
    }
}

/// Every sample of one batch, over the rounds.
#[derive(Default)]
struct Samples {
    input: usize,
    records: usize,
    events: usize,
    /// Baseline records/s (its own timer).
    base: Vec<f64>,
    cold: Side,
    warm: Side,
}

/// Warm invocations per decoder process, after the cold one.
const WARM: usize = 2;

/// `cargo xtask bench das [--rounds N] [--pause-ms N]`.
pub async fn bench(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: cargo xtask bench das [--rounds N] [--pause-ms N]";
    let (mut rounds, mut pause_ms) = (5usize, 0u64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let n = it
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| format!("{flag} takes a whole number; {USAGE}"))?;
        match flag.as_str() {
            "--rounds" if n > 0 => rounds = n as usize,
            "--pause-ms" => pause_ms = n,
            _ => return Err(USAGE.into()),
        }
    }
    crate::python::ensure()?;
    let python = baseline_python()?;
    let script = crate::root().join("../shared/baselines/das_ref_decode.py");
    eprintln!("bench das: building the decoder and the generator (release)");
    crate::build_bins(&[FUNCTION], true)?;
    let moto = Moto::start_with(&crate::python::bin("moto_server"))?;
    let dir = crate::target_dir().join("bench/das");
    let _ = std::fs::remove_dir_all(&dir);
    let batches = 3;
    generate(
        &moto.endpoint(),
        &dir,
        true,
        &[
            "--batches",
            &batches.to_string(),
            "--records",
            "350",
            "--events",
            "10",
            "--rotate",
            "120",
        ],
    )?;
    let inputs: Vec<Vec<u8>> = (0..batches)
        .map(|b| std::fs::read(dir.join(format!("batch-{b:02}.json"))).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut all: Vec<Samples> = inputs
        .iter()
        .map(|bytes| {
            let records = serde_json::from_slice::<Value>(bytes)
                .map_or(0, |v| v["records"].as_array().map_or(0, Vec::len));
            Samples {
                input: bytes.len(),
                records,
                ..Samples::default()
            }
        })
        .collect();
    let mut ready = Vec::new();

    // Rounds, each running the baseline and the decoder on every batch in turn: a noisy
    // moment of the machine falls on both sides, and medians over the rounds leave it out.
    for round in 0..rounds {
        eprintln!("bench das: round {}/{rounds}", round + 1);
        for (b, bytes) in inputs.iter().enumerate() {
            let path = dir.join(format!("batch-{b:02}.json"));
            let out = Command::new(&python)
                .arg(&script)
                .args(["--endpoint", &moto.endpoint(), "--region", "us-east-1"])
                .arg(&path)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .output()
                .map_err(|e| format!("running the baseline: {e}"))?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let line = stderr
                .lines()
                .find(|l| l.starts_with("baseline:"))
                .ok_or_else(|| format!("baseline failed:\n{stderr}"))?;
            // "baseline: N records, E events in T s: R records/s, …"
            let words: Vec<&str> = line.split_whitespace().collect();
            let rps = words.get(8).and_then(|w| w.parse::<f64>().ok());
            let base_response: Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("baseline response: {e}"))?;

            // Ours: one fresh process, the batch 1 + WARM times (cold key cache, then warm).
            // MIMALLOC_* pass through, to try the allocator's options.
            let mut lambda = LocalLambda::new(crate::binary(FUNCTION, true), FUNCTION)
                .envs(moto.aws_env())
                .envs(std::env::vars().filter(|(k, _)| k.starts_with("MIMALLOC_")));
            lambda.timeout = Duration::from_secs(300);
            // Firehose calls a warm environment again after its buffer fills, not at once.
            lambda.pause = Duration::from_millis(pause_ms);
            let invoked = lambda
                .invoke_many(&vec![bytes.clone(); 1 + WARM])
                .await
                .map_err(|e| e.to_string())?;
            let s = &mut all[b];
            s.base.push(rps.unwrap_or(f64::NAN));
            let summaries = summaries(&invoked[0].stderr);
            for (i, inv) in invoked.iter().enumerate() {
                let Outcome::Response(body) = &inv.outcome else {
                    return Err(format!("decoder failed: {:?}\n{}", inv.outcome, inv.stderr));
                };
                let response: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
                let ours = decoded(&response);
                if ours != decoded(&base_response) {
                    return Err(format!("batch {b}: the decoder and the baseline disagree"));
                }
                s.events = ours.iter().map(|r| r.2.len()).sum();
                let side = if i == 0 { &mut s.cold } else { &mut s.warm };
                side.wall_ms
                    .push(inv.handler_time.unwrap_or_default().as_secs_f64() * 1e3);
                side.summaries
                    .push(summaries.get(i).cloned().unwrap_or_default());
            }
            if let Some(r) = invoked[0].ready_after {
                ready.push(r.as_secs_f64() * 1e3);
            }
        }
    }

    println!(
        "\nactivity-stream-decoder vs baselines/das_ref_decode.py — same batches, same moto, one run:\n\
         {rounds} rounds, the baseline and the decoder in turn on each batch; records/s as median (min–max);\n\
         ratios are of the medians; {pause_ms} ms idle before each warm invocation"
    );
    println!(
        "{:<6} {:>7} {:>8} {:>7} │ {:>18} │ {:>20} {:>7} │ {:>20} {:>7}",
        "batch", "input", "records", "events", "baseline", "cold", "×", "warm", "×"
    );
    let ratio = |ours: &[f64], base: &[f64]| median(ours) / median(base);
    for (b, s) in all.iter().enumerate() {
        println!(
            "{:<6} {:>6.2}M {:>8} {:>7} │ {:>18} │ {:>20} {:>6.1}× │ {:>20} {:>6.1}×",
            b,
            s.input as f64 / 1e6,
            s.records,
            s.events,
            spread(&s.base),
            spread(&s.cold.rates(s.records)),
            ratio(&s.cold.rates(s.records), &s.base),
            spread(&s.warm.rates(s.records)),
            ratio(&s.warm.rates(s.records), &s.base),
        );
    }
    // Samples of every batch together.
    let pooled =
        |f: &dyn Fn(&Samples) -> Vec<f64>| -> Vec<f64> { all.iter().flat_map(f).collect() };
    let base = pooled(&|s| s.base.clone());
    let (cold, warm) = (
        pooled(&|s| s.cold.rates(s.records)),
        pooled(&|s| s.warm.rates(s.records)),
    );
    let (cold_transform, warm_transform) = (
        pooled(&|s| s.cold.transform_rates(s.records)),
        pooled(&|s| s.warm.transform_rates(s.records)),
    );
    println!(
        "all    whole invocation (what Firehose waits for): cold {:.1}×, warm {:.1}×",
        ratio(&cold, &base),
        ratio(&warm, &base)
    );
    println!(
        "       over the baseline's own window (parsed event → built response, KMS included; it leaves\n\
         \x20      out reading the event and writing the response): cold {} rec/s {:.1}×, warm {} rec/s {:.1}×",
        spread(&cold_transform),
        ratio(&cold_transform, &base),
        spread(&warm_transform),
        ratio(&warm_transform, &base),
    );

    println!(
        "\nwhere the time goes, medians (ms of wall time; then per record, µs of CPU summed over threads):"
    );
    let cold_side: fn(&Samples) -> &Side = |s| &s.cold;
    let warm_side: fn(&Samples) -> &Side = |s| &s.warm;
    for (label, side) in [("cold", cold_side), ("warm", warm_side)] {
        let wall = pooled(&|s| side(s).wall_ms.clone());
        let runs: Vec<&Value> = all.iter().flat_map(|s| &side(s).summaries).collect();
        let ms = |k: &str| {
            median(
                &runs
                    .iter()
                    .map(|v| v[k].as_f64().unwrap_or(f64::NAN) / 1e3)
                    .collect::<Vec<_>>(),
            )
        };
        let per = |k: &str| {
            median(
                &runs
                    .iter()
                    .map(|v| {
                        v[k].as_f64().unwrap_or(f64::NAN) / v["records"].as_f64().unwrap_or(1.0)
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let wall = median(&wall);
        let (event, transform, response) = (ms("event_us"), ms("transform_us"), ms("response_us"));
        println!(
            "  {label}: wall {wall:.1} ms = event parse {event:.1} + transform {transform:.1} (KMS {:.1}, {} calls) + response encode {response:.1} + runtime and transfer {:.1}",
            ms("kms_us"),
            median(
                &runs
                    .iter()
                    .map(|v| v["kms_calls"].as_f64().unwrap_or(f64::NAN))
                    .collect::<Vec<_>>()
            ),
            wall - event - transform - response
        );
        println!(
            "  {label}: decrypt {:.1}  gunzip {:.1}  JSON {:.1}  base64 {:.1}  (SDK fallbacks: {})",
            per("decrypt_us"),
            per("gunzip_us"),
            per("json_us"),
            per("encode_us"),
            runs.iter()
                .map(|v| v["sdk_fallbacks"].as_u64().unwrap_or(0))
                .sum::<u64>()
        );
    }
    println!(
        "\nprocess start → ready for the first event: {} ms",
        spread(&ready)
    );
    println!(
        "Lambda zip (bootstrap, deflate): {}",
        zip_size(&crate::binary(FUNCTION, true))?
    );
    Ok(())
}

/// Zip a binary as `bootstrap` (as cargo-lambda does) and return the zip's size.
pub fn zip_size(binary: &Path) -> Result<String, String> {
    let zip = crate::target_dir().join(format!(
        "bench/{}.zip",
        binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
    ));
    let code = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n    z.write(sys.argv[1], 'bootstrap')";
    crate::run(
        Command::new(crate::python::bin("python"))
            .args(["-c", code])
            .arg(binary)
            .arg(&zip),
    )?;
    let zipped = std::fs::metadata(&zip).map_err(|e| e.to_string())?.len();
    let raw = std::fs::metadata(binary).map_err(|e| e.to_string())?.len();
    Ok(format!(
        "{:.1} MB (binary {:.1} MB, x86_64 build here; arm64 is similar)",
        zipped as f64 / 1e6,
        raw as f64 / 1e6
    ))
}
