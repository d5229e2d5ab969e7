//! The pinned Python tools (moto server, cfn-lint) in a virtualenv under `target/py`,
//! installed from `xtask/requirements.txt` when missing or when the pins change.

use std::path::PathBuf;
use std::process::Command;

pub fn venv() -> PathBuf {
    crate::target_dir().join("py")
}

pub fn bin(tool: &str) -> PathBuf {
    venv().join("bin").join(tool)
}

pub fn ensure() -> Result<(), String> {
    let requirements = crate::root().join("xtask/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    let marker = venv().join(".installed-requirements");
    if std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted)
        && bin("moto_server").exists()
    {
        return Ok(());
    }
    eprintln!(
        "xtask: installing the pinned Python tools into {}",
        venv().display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    crate::run(Command::new(&python).args(["-m", "venv"]).arg(venv()))?;
    crate::run(
        Command::new(bin("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                // No wheel cache beside the virtualenv: disk is what CI runs out of.
                "--no-cache-dir",
                "-r",
            ])
            .arg(&requirements),
    )?;
    std::fs::write(&marker, wanted).map_err(|e| format!("writing {}: {e}", marker.display()))
}
