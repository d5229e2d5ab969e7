//! Development automation for opswatch, run as `cargo xtask <command>`:
//!
//! - `invoke [--release] <function> <event-file|->`: run a function's real binary once on an
//!   event behind a local Lambda Runtime API; the response on stdout, logs on stderr.
//! - `demo`: every function on its `events/` samples against moto and a local Slack.
//! - `preview`: the demo's Slack messages drawn as HTML and PNG under `docs/img/`.
//! - `test`: formatting, clippy, every test, template lint and checkov: what CI runs.
//! - `checkov`: the outside scanner over every CloudFormation template.
//! - `iam`: the template's IAM and redelivery checks, after the SAM transform.
//! - `slack-manifest`: the Slack app's manifest (scopes, interactivity, `/opswatch`).
//! - `rules <log file|event>…`: CloudTrail records through the configured rules; nothing
//!   posted.
//! - `fake slack|sendgrid|rds [--port N]`: a local stand-in to point `invoke` at.

mod checkov;
mod ct;
mod das;
mod demo;
#[cfg(test)]
mod docs;
mod fake;
mod iam;
mod invoke;
mod load;
mod manifest;
mod package;
mod preview;
mod python;
mod redelivery;
mod rules;
mod show;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

/// A function of the suite: its binary name and its samples folder under `events/`.
pub struct Function {
    pub name: &'static str,
    pub events: &'static str,
}

pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "config-change-notifier",
        events: "config",
    },
    Function {
        name: "activity-stream-decoder",
        events: "activity-stream",
    },
    Function {
        name: "cloudtrail-event-handler",
        events: "cloudtrail",
    },
    Function {
        name: "sendgrid-bounce-poller",
        events: "sendgrid",
    },
    Function {
        name: "rds-maintenance-checker",
        events: "rds",
    },
    Function {
        name: "audit-log-watcher",
        events: "audit",
    },
    Function {
        name: "health-event-notifier",
        events: "health",
    },
    Function {
        name: "slack-actions",
        events: "slack-actions",
    },
];

pub fn function(name: &str) -> Result<&'static Function, String> {
    FUNCTIONS.iter().find(|f| f.name == name).ok_or_else(|| {
        let known: Vec<_> = FUNCTIONS.iter().map(|f| f.name).collect();
        format!("unknown function {name:?}; known: {}", known.join(", "))
    })
}

/// The workspace root.
pub fn root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// The shared target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `cargo` as invoked us.
pub fn cargo() -> std::process::Command {
    let mut c =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Run a command, failing with its name when it fails.
pub fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let what = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("starting {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {status}"))
    }
}

/// `cargo build <args>`, its progress shown (a line per crate compiled: the first build
/// takes minutes) on stderr.
pub fn build(args: &[&str]) -> Result<(), String> {
    let mut c = cargo();
    c.arg("build").args(args);
    if std::env::var_os("CI").is_some() {
        c.arg("--locked");
    }
    c.stdout(std::io::stderr());
    run(&mut c)
}

/// Build function binaries, showing cargo's progress.
pub fn build_bins(names: &[&str], release: bool) -> Result<(), String> {
    let mut args: Vec<&str> = Vec::new();
    if release {
        args.push("--release");
    }
    for n in names {
        args.extend(["--bin", n]);
    }
    build(&args)
}

/// Build an example of a package (release) and return its path.
pub fn build_example(package: &str, example: &str) -> Result<PathBuf, String> {
    build(&["--release", "-p", package, "--example", example])?;
    Ok(target_dir().join("release/examples").join(example))
}

pub fn binary(name: &str, release: bool) -> PathBuf {
    target_dir()
        .join(if release { "release" } else { "debug" })
        .join(name)
}

const USAGE: &str = "usage: cargo xtask <command>
  invoke [--release] [--local] <function> <event-file|->
                                                 run a function once on an event (--local, or
                                                 no AWS credentials: local stand-ins)
  demo                                           every function on its samples, locally
  preview [--out DIR]                            the demo's Slack messages as HTML and PNG
                                                 pictures in docs/img/ (needs Debian's chromium)
  test                                           fmt, clippy, all tests, template lint, checkov (CI)
  checkov                                        checkov over every CloudFormation template
  iam                                            the template's IAM after the SAM transform
  slack-manifest [--url <SlackActionsUrl>]       the Slack app manifest to paste at api.slack.com/apps
  rules <log file|event>…                        CloudTrail records through the configured
                                                 rules (RULES, DISABLE_RULES, …); nothing posted
  package                                        arm64 Lambda zips of every function (cargo-lambda)
  gen-das [--endpoint URL] [--out DIR]           DAS Firehose events made as RDS makes them
  bench                                          the three benchmarks below, in turn
  bench das [--rounds N] [--pause-ms N]          decoder vs the Python baseline, same run
  bench cloudtrail [--rounds N]                  a 110 MB log file: floor, steps, before, Python
  bench load                                     every poster at volume: time, rate, peak RSS
  fake slack [--port N]                          a local Slack: incoming webhook and Web API, each
                                                 message printed as it arrives
  fake sendgrid [--port N]                       a fake SendGrid bounces API with the sample bounces
  fake rds [--port N]                            a fake RDS API with the sample maintenance and windows";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.first().map(String::as_str) {
        Some("invoke") => runtime.block_on(invoke::main(&args[1..])),
        Some("demo") => runtime.block_on(demo::main()),
        Some("preview") => runtime.block_on(preview::main(&args[1..])),
        Some("rules") => rules::main(&args[1..]),
        Some("test") => test::main(),
        Some("checkov") => checkov::main(),
        Some("iam") => iam::check_template(),
        Some("slack-manifest") => manifest::main(&args[1..]),
        Some("package") => package::main(),
        Some("gen-das") => das::gen_main(&args[1..]),
        Some("fake") => runtime.block_on(fake::main(&args[1..])),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("das") => runtime.block_on(das::bench(&args[2..])),
            Some("cloudtrail") => ct::bench(&args[2..]),
            Some("load") => runtime.block_on(load::bench(args.get(2).map(String::as_str))),
            None => runtime
                .block_on(das::bench(&[]))
                .and_then(|()| ct::bench(&[]))
                .and_then(|()| runtime.block_on(load::bench(None))),
            Some(other) => Err(format!(
                "unknown benchmark {other}; known: das, cloudtrail, load"
            )),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
