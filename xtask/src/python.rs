//! The pinned Python tools, each set in a virtualenv of its own under `target/`, installed
//! from its requirements file in `xtask/` when missing or when the pins change. They are
//! kept apart because their pins conflict (checkov's and the AWS tools' botocore).

use std::path::PathBuf;
use std::process::Command;

/// A virtualenv of pinned tools.
pub struct Venv {
    /// Its folder under the target directory.
    dir: &'static str,
    /// Its requirements file under `xtask/`.
    requirements: &'static str,
    /// A tool it installs: missing, the virtualenv is (re)made.
    probe: &'static str,
    /// What it is for, in the line printed while installing.
    what: &'static str,
}

/// moto server, cfn-lint, the SAM CLI: `cargo xtask demo|test|invoke|bench`.
pub const TOOLS: Venv = Venv {
    dir: "py",
    requirements: "requirements.txt",
    probe: "moto_server",
    what: "the pinned Python tools",
};

/// checkov, the outside scanner `cargo xtask test` runs over the CloudFormation templates.
pub const CHECKOV: Venv = Venv {
    dir: "py-checkov",
    requirements: "requirements-checkov.txt",
    probe: "checkov",
    what: "checkov",
};

/// cargo-lambda and zig: `cargo xtask package`.
pub const PACKAGE: Venv = Venv {
    dir: "py-package",
    requirements: "requirements-package.txt",
    probe: "cargo-lambda",
    what: "cargo-lambda and zig",
};

impl Venv {
    pub fn path(&self) -> PathBuf {
        crate::target_dir().join(self.dir)
    }

    pub fn bin(&self, tool: &str) -> PathBuf {
        self.path().join("bin").join(tool)
    }

    pub fn ensure(&self) -> Result<(), String> {
        let requirements = crate::root().join("xtask").join(self.requirements);
        let wanted = std::fs::read_to_string(&requirements)
            .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
        let marker = self.path().join(".installed-requirements");
        if std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted)
            && self.bin(self.probe).exists()
        {
            return Ok(());
        }
        eprintln!(
            "xtask: installing {} into {}",
            self.what,
            self.path().display()
        );
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        crate::run(Command::new(&python).args(["-m", "venv"]).arg(self.path()))?;
        crate::run(
            Command::new(self.bin("pip"))
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
}

pub fn bin(tool: &str) -> PathBuf {
    TOOLS.bin(tool)
}

pub fn ensure() -> Result<(), String> {
    TOOLS.ensure()
}
