//! `cargo xtask bench cloudtrail [--rounds N]`: a ≥100 MB CloudTrail log file shaped like a
//! real trail (`synthetic::Trail`: four calls in five reads, ids and times that vary, gzip
//! about 8×), read as the function reads it, beside its floor and its baselines, each a
//! fresh process, in interleaved rounds (a noisy moment falls on every row alike):
//!
//! - the floor: inflate alone (zlib-rs, the reader's own decoder and window), and GNU
//!   `gzip -dc` for scale;
//! - the reader's steps: scan (every record validated and skimmed, none parsed), reader
//!   (the records the rules need parsed), read (rules and render too: the function's path);
//! - before: the same path with the reference reader (serde_json streaming, every record
//!   parsed), as the function read files until issue 30;
//! - Python's gzip + json.load and the same read-only filter.
//!
//! Medians over the rounds, with their range; ratios are of per-round figures.

use std::process::{Command, Stdio};

use serde_json::Value;

const MB: u64 = 110;

/// The rows, in the order each round runs them.
const ROWS: [(&str, &str); 7] = [
    ("gunzip", "floor: inflate alone (zlib-rs)"),
    ("gzip", "GNU gzip -dc (for scale)"),
    ("scan", "+ scan and skim every record"),
    ("reader", "+ parse what the rules need"),
    ("read", "ours: + rules and render"),
    ("reference", "before: reference reader"),
    ("python", "Python gzip + json.load"),
];

pub fn bench(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: cargo xtask bench cloudtrail [--rounds N]";
    let rounds = match args {
        [] => 5,
        [flag, n] if flag == "--rounds" => {
            n.parse::<usize>().ok().filter(|n| *n > 0).ok_or(USAGE)?
        }
        _ => return Err(USAGE.into()),
    };
    eprintln!("bench cloudtrail: building the reader (release)");
    let exe = crate::build_example("opswatch-cloudtrail-event-handler", "ct-stream")?;
    let dir = crate::target_dir().join("bench/cloudtrail");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // `trail`: the realistic shape (earlier runs used a file that repeated itself, 27× gzip).
    let file = dir.join(format!("trail-{MB}MB.json.gz"));
    if !file.exists() {
        crate::run(
            Command::new(&exe)
                .arg("generate")
                .arg(&file)
                .arg(MB.to_string()),
        )?;
    }
    let script = crate::root().join("xtask/bench/cloudtrail_baseline.py");
    let json_line = |cmd: &mut Command, what: &str| -> Result<Value, String> {
        let out = cmd.output().map_err(|e| format!("running {what}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{what}'s output: {e}"))
    };
    let run = |row: &str| -> Result<Value, String> {
        match row {
            "python" => json_line(
                Command::new("python3").arg(&script).arg(&file),
                "the baseline",
            ),
            "gzip" => {
                let started = std::time::Instant::now();
                let status = Command::new("gzip")
                    .arg("-dc")
                    .arg(&file)
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|e| format!("gzip: {e}"))?;
                if !status.success() {
                    return Err(format!("gzip -dc: {status}"));
                }
                Ok(serde_json::json!({"secs": started.elapsed().as_secs_f64()}))
            }
            mode => json_line(Command::new(&exe).arg(mode).arg(&file), mode),
        }
    };
    let mut samples: Vec<Vec<Value>> = vec![Vec::new(); ROWS.len()];
    for round in 0..rounds {
        eprintln!("bench cloudtrail: round {}/{rounds}", round + 1);
        for (i, (row, _)) in ROWS.iter().enumerate() {
            samples[i].push(run(row)?);
        }
    }
    let first = |row: &str| -> &Value {
        let i = ROWS.iter().position(|(r, _)| *r == row).unwrap_or(0);
        &samples[i][0]
    };
    let (ours, before, base) = (first("read"), first("reference"), first("python"));
    // Ours and before run the same rules: the same counts and messages. The baseline keeps
    // the writes (its filter has no rules): the same records.
    if ["records", "alerted", "messages"]
        .iter()
        .any(|k| ours[k] != before[k])
        || ours["records"] != base["records"]
    {
        return Err(format!(
            "the readers disagree: ours {ours}, before {before}, Python {base}"
        ));
    }
    let mb = ours["bytes"].as_f64().unwrap_or(0.0) / 1e6;
    let gz = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    let secs = |i: usize| -> Vec<f64> {
        samples[i]
            .iter()
            .map(|v| v["secs"].as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let rss = |i: usize| -> f64 {
        samples[i]
            .iter()
            .filter_map(|v| v["peak_rss_kb"].as_f64())
            .fold(f64::NAN, f64::max)
            / 1024.0
    };
    let idx = |row: &str| ROWS.iter().position(|(r, _)| *r == row).unwrap_or(0);
    let per_round = |a: usize, b: usize| -> Vec<f64> {
        secs(a).iter().zip(secs(b)).map(|(x, y)| x / y).collect()
    };
    println!(
        "\ncloudtrail-event-handler's log-file path, its floor and its baselines — one file, {rounds} interleaved rounds"
    );
    println!(
        "file: {mb:.1} MB of JSON ({gz:.1} MB gzip, {:.1}×), {} records ({} writes, which the Python baseline keeps);\n\
         ours parses {} of them for the rules and alerts {} (writes, and the reads rules judge) in {} Slack messages\n",
        mb / gz,
        ours["records"],
        base["alerted"],
        ours["parsed"],
        ours["alerted"],
        ours["messages"]
    );
    println!(
        "{:<36} {:>20} {:>10} {:>16} {:>13} {:>10}",
        "", "seconds, median (range)", "MB/s", "× the floor", "× Python MB/s", "peak RSS"
    );
    let floor = idx("gunzip");
    let python = idx("python");
    for (i, (_, label)) in ROWS.iter().enumerate() {
        let s = secs(i);
        let (lo, hi) = crate::das::bounds(&s);
        let m = crate::das::median(&s);
        let rss = rss(i);
        println!(
            "{label:<36} {:>8.3} ({lo:.3}–{hi:.3}) {:>10.0} {:>15.2}× {:>12.1}× {:>10}",
            m,
            mb / m,
            crate::das::median(&per_round(i, floor)),
            crate::das::median(&per_round(python, i)),
            if rss.is_nan() {
                "—".to_owned()
            } else {
                format!("{rss:.0} MB")
            }
        );
    }
    let (read, reader, scan, reference) =
        (idx("read"), idx("reader"), idx("scan"), idx("reference"));
    let m = |i: usize| crate::das::median(&secs(i)) * 1e3;
    println!(
        "\nwhere ours goes, medians: inflate {:.0} ms + scan and skim {:.0} ms + parse {:.0} ms + rules and render {:.0} ms",
        m(floor),
        m(scan) - m(floor),
        m(reader) - m(scan),
        m(read) - m(reader)
    );
    let ratios = per_round(python, read);
    let (lo, hi) = crate::das::bounds(&ratios);
    println!(
        "ours vs Python: {:.1}× the MB/s (rounds {lo:.1}–{hi:.1}×); vs before: {:.1}×; peak RSS {:.0} MB (Python {:.0} MB)",
        crate::das::median(&ratios),
        crate::das::median(&per_round(reference, read)),
        rss(read),
        rss(python)
    );
    Ok(())
}
