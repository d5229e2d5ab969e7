//! `cargo xtask bench cloudtrail`: a ≥100 MB CloudTrail log file read as the function reads
//! it (streamed), side by side with Python's gzip + json.load on the same file.

use std::process::Command;

use serde_json::Value;

const MB: u64 = 110;

pub fn bench() -> Result<(), String> {
    eprintln!("bench cloudtrail: building the reader (release)");
    let mut c = crate::cargo();
    c.args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "opswatch-cloudtrail-event-handler",
        "--example",
        "ct-stream",
    ]);
    c.stdout(std::io::stderr());
    crate::run(&mut c)?;
    let exe = crate::target_dir().join("release/examples/ct-stream");
    let dir = crate::target_dir().join("bench/cloudtrail");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(format!("log-{MB}MB.json.gz"));
    if !file.exists() {
        crate::run(
            Command::new(&exe)
                .arg("generate")
                .arg(&file)
                .arg(MB.to_string()),
        )?;
    }
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
    let ours = json_line(Command::new(&exe).arg("read").arg(&file), "ct-stream")?;
    let script = crate::root().join("xtask/bench/cloudtrail_baseline.py");
    let base = json_line(
        Command::new("python3").arg(&script).arg(&file),
        "the baseline",
    )?;
    if ours["records"] != base["records"] || ours["alerted"] != base["alerted"] {
        return Err(format!("ours and the baseline disagree: {ours} vs {base}"));
    }
    let mb = ours["bytes"].as_f64().unwrap_or(0.0) / 1e6;
    let rate = |v: &Value| mb / v["secs"].as_f64().unwrap_or(f64::NAN);
    let rss = |v: &Value| v["peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0;
    let gz = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "\ncloudtrail-event-handler log-file path vs Python gzip + json.load — same file, one run"
    );
    println!(
        "file: {mb:.1} MB of JSON ({gz:.1} MB gzip), {} records, {} write calls alerted in {} Slack messages\n",
        ours["records"], ours["alerted"], ours["messages"]
    );
    println!(
        "{:<28} {:>10} {:>12} {:>14}",
        "", "seconds", "MB/s (JSON)", "peak RSS (MB)"
    );
    for (name, v) in [
        ("ours (stream, filter, render)", &ours),
        ("Python gzip + json.load", &base),
    ] {
        println!(
            "{name:<28} {:>10.2} {:>12.0} {:>14.0}",
            v["secs"].as_f64().unwrap_or(f64::NAN),
            rate(v),
            rss(v)
        );
    }
    println!(
        "{:<28} {:>10} {:>11.1}× {:>13.1}×",
        "ratio",
        "",
        rate(&ours) / rate(&base),
        rss(&base) / rss(&ours)
    );
    Ok(())
}
