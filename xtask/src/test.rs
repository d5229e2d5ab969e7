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

    step("cfn-lint template.yaml");
    crate::run(
        std::process::Command::new(crate::python::bin("cfn-lint"))
            .arg(crate::root().join("template.yaml")),
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
    eprintln!("\n── xtask test: {name}");
}
