//! `cargo xtask invoke [--release] [--local] <function> <event-file|->`.
//!
//! Like `sam local invoke`, the function gets this shell's environment: its AWS credentials,
//! region and endpoints. With `--local`, or when the environment has no AWS credentials at
//! all, it gets the demo's local stand-ins instead (moto with the samples' AWS state, a fake
//! SendGrid, a fake RDS API), so every sample runs on a fresh machine; Slack stays a dry run
//! unless SLACK_WEBHOOK_URL is set.

use std::io::Read;
use std::time::Duration;

use opswatch_devkit::{LocalLambda, Outcome};

pub async fn main(args: &[String]) -> Result<(), String> {
    let flag = |f: &str| args.iter().any(|a| a == f);
    let release = flag("--release");
    let rest: Vec<&String> = args
        .iter()
        .filter(|a| *a != "--release" && *a != "--local")
        .collect();
    let [name, event] = rest[..] else {
        return Err(
            "usage: cargo xtask invoke [--release] [--local] <function> <event-file|->".into(),
        );
    };
    let function = crate::function(name)?;
    let event = if event == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| format!("reading the event from stdin: {e}"))?;
        buf
    } else {
        std::fs::read(event).map_err(|e| format!("reading {event}: {e}"))?
    };
    crate::build_bins(&[function.name], release)?;
    let standins = if flag("--local") || !aws_configured() {
        crate::python::ensure()?;
        let s = crate::demo::Standins::start().await?;
        eprintln!(
            "invoke: {} using local stand-ins: moto {}, fake SendGrid {}, fake RDS API {}",
            if flag("--local") {
                "--local:"
            } else {
                "no AWS credentials in the environment:"
            },
            s.moto.endpoint(),
            s.sendgrid.url(),
            s.rds.url()
        );
        let scheduled = serde_json::from_slice::<serde_json::Value>(&event)
            .is_ok_and(|v| v["detail-type"] == "Scheduled Event");
        if function.name == "audit-log-watcher" && scheduled {
            eprintln!(
                "invoke: the stand-in's audit log holds the sample lines of the last few minutes \
                 (CloudWatch Logs takes only recent events); a scheduled event whose \"time\" is \
                 now polls them, as `cargo xtask demo` does"
            );
        }
        Some(s)
    } else {
        None
    };
    let mut lambda = LocalLambda::new(crate::binary(function.name, release), function.name);
    if let Some(s) = &standins {
        lambda = lambda.envs(s.env());
    }
    lambda.capture = false;
    lambda.inherit_env = true;
    lambda.timeout = Duration::from_secs(900);
    let invoked = lambda.invoke(&event).await.map_err(|e| e.to_string())?;
    match invoked.outcome {
        Outcome::Response(body) => {
            println!(
                "{}",
                if body.trim().is_empty() {
                    "null"
                } else {
                    body.trim()
                }
            );
            Ok(())
        }
        Outcome::Error {
            error_type,
            error_message,
        } => Err(format!("{error_type}: {error_message}")),
        Outcome::InitError {
            error_type,
            error_message,
        } => Err(format!(
            "the function failed to start: {error_type}: {error_message}"
        )),
        Outcome::Exited(code) => Err(format!(
            "the function exited without answering (status {code:?})"
        )),
        Outcome::TimedOut => Err("the function did not answer within 900 s".into()),
    }
}

/// Whether this shell can reach AWS on its own: credentials or a profile of some kind, or an
/// endpoint override (a local stand-in the user started).
fn aws_configured() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let vars = [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ];
    if vars.iter().any(|k| set(k))
        || std::env::vars().any(|(k, _)| k.starts_with("AWS_ENDPOINT_URL"))
    {
        return true;
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
            .is_some_and(|p| p.is_file())
    };
    file("AWS_SHARED_CREDENTIALS_FILE", "credentials") || file("AWS_CONFIG_FILE", "config")
}
