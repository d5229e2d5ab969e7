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

/// The demo's part: samples against the demo's moto, decoded, summarised. Returns the first
/// decoded event of a person (not RDS's own users), as the decoder wrote it.
pub async fn demo(moto: &Moto) -> Result<Option<String>, String> {
    let mut person = None;
    let dir = crate::target_dir().join("demo/activity-stream");
    generate(&moto.endpoint(), &dir, false, &[])?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| e.to_string())?;
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
                        if person.is_none() {
                            person = text
                                .lines()
                                .find(|l| {
                                    serde_json::from_str::<Value>(l).is_ok_and(|v| {
                                        v["dbUserName"]
                                            .as_str()
                                            .is_some_and(|u| !u.starts_with("rds"))
                                    })
                                })
                                .map(str::to_owned);
                        }
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
    // The largest sample again, with RDS's own users left out of the archive.
    if let Some(f) = files
        .iter()
        .max_by_key(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
    {
        let bytes = std::fs::read(f).map_err(|e| e.to_string())?;
        let invoked = LocalLambda::new(crate::binary(FUNCTION, false), FUNCTION)
            .envs(moto.aws_env())
            .env("LOG_LEVEL", "info")
            .env("DAS_DROP_USERS", "rdsadmin,rdssec,rdsproxyadmin")
            .invoke(&bytes)
            .await
            .map_err(|e| e.to_string())?;
        let summary = invoked
            .logged("invocation summary")
            .first()
            .map(|v| v["fields"].clone())
            .unwrap_or_default();
        println!(
            "\n▶ {FUNCTION} {} with DAS_DROP_USERS=rdsadmin,rdssec,rdsproxyadmin\n  {} events kept, {} of RDS's own dropped; records: {} Ok, {} Dropped",
            f.display(),
            summary["events"],
            summary["dropped_events"],
            summary["ok"],
            summary["dropped"],
        );
    }
    Ok(person)
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

/// The baseline's Python environment (`xtask/bench/requirements-das.txt`), made once.
fn baseline_python() -> Result<PathBuf, String> {
    let req = crate::root().join("xtask/bench/requirements-das.txt");
    let venv = crate::target_dir().join("py-baseline");
    let python = venv.join("bin/python");
    let marker = venv.join(".installed");
    let wanted = std::fs::read_to_string(&req).map_err(|e| format!("{}: {e}", req.display()))?;
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
pub fn median(v: &[f64]) -> f64 {
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

/// The smallest and the largest of some samples.
pub fn bounds(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

/// `median (min–max)` of rates, without decimals.
fn spread(v: &[f64]) -> String {
    let (lo, hi) = bounds(v);
    format!("{:.0} ({lo:.0}–{hi:.0})", median(v))
}

/// One side's invocations of one kind (fresh data keys, or warm), over the rounds.
#[derive(Default)]
struct Side {
    /// Whole-invocation wall times (event handed over to response received), ms.
    wall_ms: Vec<f64>,
    /// The side's own summaries (both log `transform_us`: parsed event to built response).
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

    /// The transform step's times (each summary's `transform_us`), ms.
    fn transform_ms(&self) -> Vec<f64> {
        self.summaries
            .iter()
            .map(|v| v["transform_us"].as_f64().unwrap_or(f64::NAN) / 1e3)
            .collect()
    }

    /// Records/s over the transform step alone (the old inner-loop window).
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
    base_fresh: Side,
    base_warm: Side,
    fresh: Side,
    warm: Side,
    floor_fresh: Side,
    floor_warm: Side,
    /// The decoder's response, which the floor answers.
    response: Option<PathBuf>,
}

/// One side and kind of a batch's samples.
type Pick = fn(&Samples) -> &Side;

/// Warm invocations per process, after the one with fresh keys.
const WARM: usize = 2;

/// One process of `lambda`, the batch 1 + WARM times: each answer's response and time, and
/// the `fields` of its summary lines (`message` = `summary`), in order.
async fn run_side(
    lambda: &LocalLambda,
    batch: &[u8],
    summary: &str,
) -> Result<Vec<(Value, f64, Value)>, String> {
    let invoked = lambda
        .invoke_many(&vec![batch.to_vec(); 1 + WARM])
        .await
        .map_err(|e| e.to_string())?;
    let stderr = &invoked[0].stderr;
    let summaries: Vec<Value> = invoked[0]
        .logged(summary)
        .into_iter()
        .map(|v| v["fields"].clone())
        .collect();
    invoked
        .iter()
        .enumerate()
        .map(|(i, inv)| {
            let Outcome::Response(body) = &inv.outcome else {
                return Err(format!(
                    "{} failed: {:?}\n{stderr}",
                    lambda.function_name, inv.outcome
                ));
            };
            let response: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            let ms = inv.handler_time.unwrap_or_default().as_secs_f64() * 1e3;
            Ok((response, ms, summaries.get(i).cloned().unwrap_or_default()))
        })
        .collect()
}

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
    let script = crate::root().join("xtask/bench/das_baseline.py");
    eprintln!("bench das: building the decoder, the generator and the runtime's floor (release)");
    crate::build_bins(&[FUNCTION], true)?;
    let floor_bin = crate::build_example("opswatch-support", "runtime-floor")?;
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
    let mut base_ready = Vec::new();

    // Both run behind the same local Runtime API, timed the same way: event handed over to
    // response received. Firehose calls a warm environment again after its buffer fills, not
    // at once: --pause-ms idles before each warm invocation.
    let timed = |l: LocalLambda| {
        let mut l = l.envs(moto.aws_env());
        l.timeout = Duration::from_secs(600);
        l.pause = Duration::from_millis(pause_ms);
        l
    };
    let baseline =
        timed(LocalLambda::new(&python, "das-baseline").arg(script.to_string_lossy().into_owned()));
    // MIMALLOC_* pass through, to try the allocator's options.
    let decoder = timed(
        LocalLambda::new(crate::binary(FUNCTION, true), FUNCTION)
            .envs(std::env::vars().filter(|(k, _)| k.starts_with("MIMALLOC_"))),
    );

    // Rounds, each running the baseline and the decoder on every batch in turn: a noisy
    // moment of the machine falls on both sides, and medians over the rounds leave it out.
    for round in 0..rounds {
        eprintln!("bench das: round {}/{rounds}", round + 1);
        for (b, bytes) in inputs.iter().enumerate() {
            let base = run_side(&baseline, bytes, "baseline summary").await?;
            let ours = run_side(&decoder, bytes, "invocation summary").await?;
            let s = &mut all[b];
            // The floor answers the decoder's own response (the same bytes, precomputed).
            let response = match &s.response {
                Some(p) => p.clone(),
                None => {
                    let p = dir.join(format!("response-{b:02}.json"));
                    std::fs::write(&p, ours[0].0.to_string()).map_err(|e| e.to_string())?;
                    s.response = Some(p.clone());
                    p
                }
            };
            let floor = timed(
                LocalLambda::new(&floor_bin, "runtime-floor")
                    .env("FLOOR_RESPONSE", response.to_string_lossy().into_owned()),
            );
            for (i, (_, ms, _)) in run_side(&floor, bytes, "none")
                .await?
                .into_iter()
                .enumerate()
            {
                let side = if i == 0 {
                    &mut s.floor_fresh
                } else {
                    &mut s.floor_warm
                };
                side.wall_ms.push(ms);
            }
            let want = decoded(&base[0].0);
            for (i, ((b_resp, b_ms, b_sum), (o_resp, o_ms, o_sum))) in
                base.into_iter().zip(ours).enumerate()
            {
                let (got, theirs) = (decoded(&o_resp), decoded(&b_resp));
                if got != want || theirs != want {
                    return Err(format!(
                        "batch {b}, invocation {i}: the decoder and the baseline disagree"
                    ));
                }
                s.events = got.iter().map(|r| r.2.len()).sum();
                let (bs, os) = if i == 0 {
                    (&mut s.base_fresh, &mut s.fresh)
                } else {
                    (&mut s.base_warm, &mut s.warm)
                };
                bs.wall_ms.push(b_ms);
                bs.summaries.push(b_sum);
                os.wall_ms.push(o_ms);
                os.summaries.push(o_sum);
            }
        }
        // Start-up, once per round: each side's process start → its first request for an event.
        let empty = br#"{"records":[]}"#.to_vec();
        for (side, into) in [(&baseline, &mut base_ready), (&decoder, &mut ready)] {
            if let Some(r) = side
                .invoke(&empty)
                .await
                .map_err(|e| e.to_string())?
                .ready_after
            {
                into.push(r.as_secs_f64() * 1e3);
            }
        }
    }

    println!(
        "\nactivity-stream-decoder vs xtask/bench/das_baseline.py (the usual Python transformation, run\n\
         as a Lambda function) — same batches, same moto, the same local Runtime API, one run:\n\
         {rounds} rounds, the baseline and the decoder in turn on each batch; records/s from event handed\n\
         over to response received, as median (min–max); ratios are of the medians; each process\n\
         takes the batch with fresh data keys, then {WARM} times warm; {pause_ms} ms idle before each warm one"
    );
    println!(
        "{:<6} {:>7} {:>8} {:>7} │ {:>17} {:>17} {:>6} │ {:>17} {:>17} {:>6}",
        "batch",
        "input",
        "records",
        "events",
        "baseline fresh",
        "decoder fresh",
        "×",
        "baseline warm",
        "decoder warm",
        "×"
    );
    let ratio = |ours: &[f64], base: &[f64]| median(ours) / median(base);
    for (b, s) in all.iter().enumerate() {
        let r = |side: &Side| side.rates(s.records);
        println!(
            "{:<6} {:>6.2}M {:>8} {:>7} │ {:>17} {:>17} {:>5.1}× │ {:>17} {:>17} {:>5.1}×",
            b,
            s.input as f64 / 1e6,
            s.records,
            s.events,
            spread(&r(&s.base_fresh)),
            spread(&r(&s.fresh)),
            ratio(&r(&s.fresh), &r(&s.base_fresh)),
            spread(&r(&s.base_warm)),
            spread(&r(&s.warm)),
            ratio(&r(&s.warm), &r(&s.base_warm)),
        );
    }
    // Samples of every batch together.
    let pooled =
        |f: &dyn Fn(&Samples) -> Vec<f64>| -> Vec<f64> { all.iter().flat_map(f).collect() };
    let like = |ours: Pick, base: Pick| {
        ratio(
            &pooled(&|s| ours(s).rates(s.records)),
            &pooled(&|s| base(s).rates(s.records)),
        )
    };
    let inner = |ours: Pick, base: Pick| {
        ratio(
            &pooled(&|s| ours(s).transform_rates(s.records)),
            &pooled(&|s| base(s).transform_rates(s.records)),
        )
    };
    let fresh: Pick = |s| &s.fresh;
    let warm: Pick = |s| &s.warm;
    let base_fresh: Pick = |s| &s.base_fresh;
    let base_warm: Pick = |s| &s.base_warm;
    let floor_warm: Pick = |s| &s.floor_warm;
    let floor_fresh: Pick = |s| &s.floor_fresh;
    println!(
        "all    like for like (what Firehose waits for): warm {:.1}×, fresh keys {:.1}×",
        like(warm, base_warm),
        like(fresh, base_fresh)
    );
    println!(
        "       the transform step alone (parsed event → built response, KMS included; each side's own\n\
         \x20      timer): warm {:.1}×, fresh keys {:.1}×",
        inner(warm, base_warm),
        inner(fresh, base_fresh)
    );

    println!(
        "\nwhere the decoder's time goes, medians (ms of wall time; then per record, µs of CPU summed over threads):"
    );
    for (label, side) in [("fresh", fresh), ("warm", warm)] {
        let wall = median(&pooled(&|s| side(s).wall_ms.clone()));
        let runs: Vec<&Value> = all.iter().flat_map(|s| &side(s).summaries).collect();
        let med =
            |f: &dyn Fn(&Value) -> f64| median(&runs.iter().map(|v| f(v)).collect::<Vec<_>>());
        let ms = |k: &str| med(&|v| v[k].as_f64().unwrap_or(f64::NAN) / 1e3);
        let per = |k: &str| {
            med(&|v| v[k].as_f64().unwrap_or(f64::NAN) / v["records"].as_f64().unwrap_or(1.0))
        };
        let (event, transform, response) = (ms("event_us"), ms("transform_us"), ms("response_us"));
        println!(
            "  {label}: wall {wall:.1} ms = event parse {event:.1} + transform {transform:.1} (KMS {:.1}, {} calls) + response encode {response:.1} + runtime and transfer {:.1}",
            ms("kms_us"),
            med(&|v| v["kms_calls"].as_f64().unwrap_or(f64::NAN)),
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
        "\nthe runtime's floor: a function behind the same Runtime API and the same serve, taking the same\n\
         event as JSON text and answering a precomputed response of the decoder's bytes, decoding nothing.\n\
         Medians, ms of wall time; the decoder against floor + its own transform step (KMS included):"
    );
    println!(
        "{:<6} {:<6} {:>9} {:>10} {:>17} {:>9} {:>22}",
        "batch", "", "floor", "transform", "floor + transform", "decoder", "decoder / (fl. + tr.)"
    );
    for (b, s) in all.iter().enumerate() {
        for (label, floor, ours) in [
            ("warm", &s.floor_warm, &s.warm),
            ("fresh", &s.floor_fresh, &s.fresh),
        ] {
            let fl = median(&floor.wall_ms);
            let tr = median(&ours.transform_ms());
            let wall = median(&ours.wall_ms);
            let (lo, hi) = bounds(&ours.wall_ms);
            println!(
                "{b:<6} {label:<6} {fl:>9.1} {tr:>10.1} {:>17.1} {wall:>9.1} {:>21.2}×   (decoder {lo:.1}–{hi:.1} ms over the rounds)",
                fl + tr,
                wall / (fl + tr),
            );
        }
    }
    // Every batch's samples together: the noisiest single median weighs less.
    for (label, floor, ours) in [("warm", floor_warm, warm), ("fresh", floor_fresh, fresh)] {
        let fl = median(&pooled(&|s| floor(s).wall_ms.clone()));
        let tr = median(&pooled(&|s| ours(s).transform_ms()));
        let wall = median(&pooled(&|s| ours(s).wall_ms.clone()));
        println!(
            "{:<6} {label:<6} {fl:>9.1} {tr:>10.1} {:>17.1} {wall:>9.1} {:>21.2}×   (every batch's samples together)",
            "all",
            fl + tr,
            wall / (fl + tr),
        );
    }
    println!(
        "\nprocess start → ready for the first event, ms: decoder {}, baseline {}",
        spread(&ready),
        spread(&base_ready)
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
