//! `cargo xtask test`: what CI runs.

pub fn main() -> Result<(), String> {
    crate::python::ensure()?;
    let ci = std::env::var_os("CI").is_some();
    let locked: &[&str] = if ci { &["--locked"] } else { &[] };

    step("cargo fmt --check");
    crate::run(crate::cargo().args(["fmt", "--all", "--", "--check"]))?;

    step("cargo clippy -D warnings");
    crate::run(
        crate::cargo()
            .args(["clippy", "--workspace", "--all-targets", "--quiet"])
            .args(locked)
            .args(["--", "-D", "warnings"]),
    )?;

    step("cfn-lint template.yaml org/member-role.yaml");
    crate::run(
        std::process::Command::new(crate::python::bin("cfn-lint"))
            .arg(crate::root().join("template.yaml"))
            .arg(crate::root().join("org/member-role.yaml")),
    )?;

    step("sam validate --lint");
    crate::run(
        std::process::Command::new(crate::python::bin("sam"))
            .args(["validate", "--lint", "--template"])
            .arg(crate::root().join("template.yaml"))
            .env("SAM_CLI_TELEMETRY", "0")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1"),
    )?;

    step("template IAM (after the SAM transform)");
    crate::iam::check_template()?;

    step("checkov (every CloudFormation template; findings fixed or suppressed with a reason)");
    crate::checkov::main()?;

    step("tests");
    let nextest = crate::cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut tests = crate::cargo();
    if nextest {
        tests.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        tests.args(["test", "--workspace", "--no-fail-fast"]);
    }
    tests
        .args(locked)
        .env("OPSWATCH_MOTO_SERVER", crate::python::bin("moto_server"))
        .env("INSTA_UPDATE", "no")
        .env("CI", "true");
    crate::run(&mut tests)
}

fn step(name: &str) {
    eprintln!("\n── xtask test: {name}{}", free_disk());
}

/// ` (N GB free)` on the target directory's disk, when `df` can tell: CI machines have run
/// out of disk before, and this says at which step.
fn free_disk() -> String {
    let out = std::process::Command::new("df")
        .args(["-Pk"])
        .arg(crate::target_dir().parent().unwrap_or(&crate::root()))
        .output();
    let kb = out.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.lines()
            .nth(1)?
            .split_whitespace()
            .nth(3)?
            .parse::<u64>()
            .ok()
    });
    kb.map_or_else(String::new, |kb| {
        format!(" ({:.1} GB free)", kb as f64 / 1_048_576.0)
    })
}
