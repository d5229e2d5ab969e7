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

struct Run {
    records: usize,
    events: usize,
    secs: f64,
}

impl Run {
    fn rps(&self) -> f64 {
        self.records as f64 / self.secs
    }
    fn eps(&self) -> f64 {
        self.events as f64 / self.secs
    }
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

pub async fn bench() -> Result<(), String> {
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

    let mut table = Vec::new();
    let mut breakdown: Vec<Vec<Value>> = Vec::new();
    let mut ready = Vec::new();
    for b in 0..batches {
        let path = dir.join(format!("batch-{b:02}.json"));
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let records =
            serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string())?["records"]
                .as_array()
                .map_or(0, Vec::len);

        // The baseline, on the same batch and the same moto.
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
        // "baseline: N records, E events in T s: R records/s, …" (T is rounded to the ms; R
        // is not).
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<f64>().ok());
        let base = Run {
            records: num(1).unwrap_or(0.0) as usize,
            events: num(3).unwrap_or(0.0) as usize,
            secs: match (num(1), num(8)) {
                (Some(n), Some(rps)) if rps > 0.0 => n / rps,
                _ => num(6).unwrap_or(f64::NAN),
            },
        };
        let base_response: Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("baseline response: {e}"))?;

        // Ours: one fresh process, the batch twice (cold key cache, then warm).
        let mut lambda =
            LocalLambda::new(crate::binary(FUNCTION, true), FUNCTION).envs(moto.aws_env());
        lambda.timeout = Duration::from_secs(300);
        let invoked = lambda
            .invoke_many(&[bytes.clone(), bytes.clone()])
            .await
            .map_err(|e| e.to_string())?;
        let mut runs = Vec::new();
        for inv in &invoked {
            let Outcome::Response(body) = &inv.outcome else {
                return Err(format!("decoder failed: {:?}\n{}", inv.outcome, inv.stderr));
            };
            let response: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            if decoded(&response) != decoded(&base_response) {
                return Err(format!("batch {b}: the decoder and the baseline disagree"));
            }
            let events = decoded(&response).iter().map(|r| r.2.len()).sum();
            runs.push(Run {
                records,
                events,
                secs: inv.handler_time.unwrap_or_default().as_secs_f64(),
            });
        }
        if let Some(r) = invoked[0].ready_after {
            ready.push(r);
        }
        // The process's stderr: the cold invocation's summary, then the warm one's.
        breakdown.push(summaries(&invoked[0].stderr));
        table.push((b, bytes.len(), base, runs));
    }

    println!(
        "\nactivity-stream-decoder vs baselines/das_ref_decode.py — same batches, same moto, one run"
    );
    println!(
        "{:<6} {:>9} {:>8} {:>7} │ {:>12} {:>12} │ {:>12} {:>12} │ {:>12} │ {:>8} {:>8}",
        "batch",
        "input",
        "records",
        "events",
        "base rec/s",
        "base ev/s",
        "cold rec/s",
        "cold ev/s",
        "warm rec/s",
        "cold ×",
        "warm ×"
    );
    for (b, size, base, runs) in &table {
        let (cold, warm) = (&runs[0], &runs[1]);
        println!(
            "{:<6} {:>8.2}M {:>8} {:>7} │ {:>12.0} {:>12.0} │ {:>12.0} {:>12.0} │ {:>12.0} │ {:>7.1}× {:>7.1}×",
            b,
            *size as f64 / 1e6,
            cold.records,
            cold.events,
            base.rps(),
            base.eps(),
            cold.rps(),
            cold.eps(),
            warm.rps(),
            cold.rps() / base.rps(),
            warm.rps() / base.rps()
        );
    }
    println!(
        "\nthe same, timed over the baseline's own window (it times from the parsed event to the built response,\nKMS included, event parsing and response writing not): our transform step"
    );
    for (i, runs) in breakdown.iter().enumerate() {
        let base = &table[i].2;
        let rate = |k: usize| {
            runs.get(k)
                .and_then(|s| s["transform_us"].as_f64())
                .map_or(f64::NAN, |us| table[i].3[0].records as f64 / (us / 1e6))
        };
        println!(
            "  batch {i}: cold {:>8.0} rec/s {:>6.1}×   warm {:>8.0} rec/s {:>6.1}×",
            rate(0),
            rate(0) / base.rps(),
            rate(1),
            rate(1) / base.rps()
        );
    }
    println!(
        "\nwhere the time goes (ms of wall time; then per record, µs of CPU summed over threads):"
    );
    for (i, s) in breakdown.iter().enumerate().flat_map(|(i, runs)| {
        runs.iter()
            .take(2)
            .enumerate()
            .map(move |(w, s)| ((i, w), s))
    }) {
        let (i, warm) = i;
        let label = if warm == 0 { "cold" } else { "warm" };
        let ms = |k: &str| s[k].as_f64().unwrap_or(0.0) / 1e3;
        let wall = table[i].3[warm].secs * 1e3;
        println!(
            "  batch {i} {label}: wall {wall:.1} ms = event parse {:.1} + transform {:.1} (KMS {:.1}) + response encode {:.1} + runtime and transfer {:.1}",
            ms("event_us"),
            ms("transform_us"),
            ms("kms_us"),
            ms("response_us"),
            wall - ms("event_us") - ms("transform_us") - ms("response_us")
        );
        let n = s["records"].as_f64().unwrap_or(1.0);
        let per = |k: &str| s[k].as_f64().unwrap_or(0.0) / n;
        println!(
            "  batch {i} {label}: KMS {:.1} wall ({} calls, concurrent)  decrypt {:.1}  gunzip {:.1}  JSON {:.1}  base64 {:.1}  (SDK fallbacks: {})",
            per("kms_us"),
            s["kms_calls"],
            per("decrypt_us"),
            per("gunzip_us"),
            per("json_us"),
            per("encode_us"),
            s["sdk_fallbacks"]
        );
    }
    let ms: Vec<String> = ready
        .iter()
        .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
        .collect();
    println!(
        "\nprocess start → ready for the first event: {}",
        ms.join(", ")
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
