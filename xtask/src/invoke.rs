//! `cargo xtask invoke [--release] <function> <event-file|->`.

use std::io::Read;
use std::time::Duration;

use opswatch_devkit::{LocalLambda, Outcome};

pub async fn main(args: &[String]) -> Result<(), String> {
    let release = args.iter().any(|a| a == "--release");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--release").collect();
    let [name, event] = rest[..] else {
        return Err("usage: cargo xtask invoke [--release] <function> <event-file|->".into());
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
    let mut lambda = LocalLambda::new(crate::binary(function.name, release), function.name);
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
