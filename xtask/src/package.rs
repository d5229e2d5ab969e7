//! `cargo xtask package`: every function built for Lambda (arm64, provided.al2023) with
//! cargo-lambda, zipped as `target/package/lambda/<function>/bootstrap.zip`, sizes printed.
//! It builds in its own target directory (`target/package`), so a long cross build does not
//! hold the lock of the one tests and `invoke` use. The
//! pinned cargo-lambda and zig come from PyPI into `target/py-package`; the arm64 standard
//! library from rustup when it is missing.

use std::path::PathBuf;
use std::process::Command;

/// Above this a zip is reported as over budget (the DAS decoder carries the ESDK and is
/// exempt).
const BUDGET: u64 = 5 * 1024 * 1024;

fn out() -> PathBuf {
    crate::target_dir().join("package")
}

fn ensure_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup: {e}"))?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == "aarch64-unknown-linux-gnu")
    {
        return Ok(());
    }
    crate::run(Command::new("rustup").args(["target", "add", "aarch64-unknown-linux-gnu"]))
}

pub fn main() -> Result<(), String> {
    crate::python::PACKAGE.ensure()?;
    ensure_target()?;
    let bin = crate::python::PACKAGE.path().join("bin");
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut paths = vec![bin.clone()];
            paths.extend(std::env::split_paths(&p));
            std::env::join_paths(paths).map_err(|e| e.to_string())?
        }
        None => bin.clone().into_os_string(),
    };
    // Cargo unifies features across one build: the decoder's aws-esdk turns on SDK features
    // the others do not need, so it is built on its own (as SAM builds each function).
    let (das, rest): (Vec<_>, Vec<_>) = crate::FUNCTIONS
        .iter()
        .partition(|f| f.name == "activity-stream-decoder");
    for group in [rest, das] {
        if group.is_empty() {
            continue;
        }
        let mut build = crate::cargo();
        build
            .args([
                "lambda",
                "build",
                "--release",
                "--arm64",
                "--output-format",
                "zip",
            ])
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", out());
        if std::env::var_os("CI").is_some() {
            build.arg("--locked");
        }
        for f in group {
            build.args(["--bin", f.name]);
        }
        crate::run(&mut build)?;
    }

    println!("\n{:<28} {:>12}", "function (arm64)", "zip size");
    let mut over = Vec::new();
    for f in crate::FUNCTIONS {
        let zip = out().join("lambda").join(f.name).join("bootstrap.zip");
        let size = std::fs::metadata(&zip)
            .map_err(|e| format!("{}: {e}", zip.display()))?
            .len();
        println!("{:<28} {:>9.2} MB", f.name, size as f64 / 1_048_576.0);
        if size > BUDGET && f.name != "activity-stream-decoder" {
            over.push(f.name);
        }
    }
    println!("\nzips in {}", out().join("lambda").display());
    if !over.is_empty() {
        println!("over the 5 MB budget: {}", over.join(", "));
    }
    Ok(())
}
