//! `cargo xtask invoke [--release] [--local] <function> <event-file|->`.
//!
//! Like `sam local invoke`, the function gets this shell's environment: its AWS credentials,
//! region and endpoints. With `--local`, or when the environment has no AWS credentials at
//! all, the demo's local stand-ins (moto with the samples' AWS state, a fake SendGrid, a fake
//! RDS API) fill every variable the shell left unset, so every sample runs on a fresh
//! machine; a variable the user set is never replaced, and one line says which were filled
//! and which kept. Slack stays a dry run unless a Slack destination is set (`cargo xtask
//! fake slack` prints one).

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
    eprintln!("invoke: building {}", function.name);
    crate::build_bins(&[function.name], release)?;
    let standins = if flag("--local") || !aws_configured() {
        crate::python::ensure()?;
        let s = crate::demo::Standins::start().await?;
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let filling = fill(&s, set);
        eprintln!(
            "invoke: {} {}",
            if flag("--local") {
                "--local:"
            } else {
                "no AWS credentials in the environment:"
            },
            filling.line()
        );
        let scheduled = serde_json::from_slice::<serde_json::Value>(&event)
            .is_ok_and(|v| v["detail-type"] == "Scheduled Event");
        if function.name == "audit-log-watcher"
            && scheduled
            && filling.filled.iter().any(|(k, _)| k == "LOG_GROUPS")
        {
            eprintln!(
                "invoke: the stand-in's audit log holds the sample lines of the last few minutes \
                 (CloudWatch Logs takes only recent events); a scheduled event whose \"time\" is \
                 now polls them, as `cargo xtask demo` does"
            );
        }
        Some((s, filling))
    } else {
        None
    };
    let mut lambda = LocalLambda::new(crate::binary(function.name, release), function.name);
    if let Some((_, filling)) = &standins {
        lambda = lambda.envs(filling.filled.clone());
    }
    lambda.capture = false;
    lambda.inherit_env = true;
    lambda.timeout = Duration::from_secs(900);
    let invoked = lambda.invoke(&event).await.map_err(|e| e.to_string())?;
    if function.name == "activity-stream-decoder" && mentions(&invoked, "AccessDenied") {
        eprintln!(
            "invoke: a DAS sample is bound to the KMS key that made it; the committed ones were made \
             against another moto, so KMS denies them here: make fresh ones with \
             `cargo xtask gen-das --endpoint <your moto> --out target/das` (docs/activity-stream-decoder.md)"
        );
    }
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
        Outcome::Exited(code) => Err(match invoked.cold_start_error() {
            Some(why) => format!("{} failed its cold start: {why}", function.name),
            None => format!(
                "{} exited without answering ({})",
                function.name,
                code.map_or("killed by a signal".to_owned(), |c| format!(
                    "exit status {c}"
                ))
            ),
        }),
        Outcome::TimedOut => Err("the function did not answer within 900 s".into()),
    }
}

/// Whether the function's output or answer mentions `what`.
fn mentions(invoked: &opswatch_devkit::Invoked, what: &str) -> bool {
    invoked.stderr.contains(what)
        || match &invoked.outcome {
            Outcome::Response(body) => body.contains(what),
            Outcome::Error { error_message, .. } | Outcome::InitError { error_message, .. } => {
                error_message.contains(what)
            }
            _ => false,
        }
}

/// The stand-ins' variables split into those this shell left unset (filled, pointing at the
/// stand-in) and those it set (kept as they are: the user's own always win).
pub struct Filling {
    /// (variable, value) filled in.
    pub filled: Vec<(String, String)>,
    /// The variables already set, kept.
    pub kept: Vec<String>,
    /// The stand-ins some filled variable points at ("moto http://127.0.0.1:…").
    pub used: Vec<String>,
}

impl Filling {
    /// One line: the stand-ins in use, the variables filled, the user's own kept.
    pub fn line(&self) -> String {
        let names = |v: Vec<&str>| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(" ")
            }
        };
        format!(
            "local stand-ins {}; filled {}; kept yours: {}",
            if self.used.is_empty() {
                "none used".to_owned()
            } else {
                self.used.join(", ")
            },
            names(self.filled.iter().map(|(k, _)| k.as_str()).collect()),
            names(self.kept.iter().map(String::as_str).collect()),
        )
    }
}

/// Split the stand-ins' variables by whether `set` says the user set them.
pub fn fill(standins: &crate::demo::Standins, set: impl Fn(&str) -> bool) -> Filling {
    split(standins.env_by_standin(), set)
}

/// (stand-in, variable, value) split by `set`.
fn split(env: Vec<(String, String, String)>, set: impl Fn(&str) -> bool) -> Filling {
    let mut f = Filling {
        filled: Vec::new(),
        kept: Vec::new(),
        used: Vec::new(),
    };
    for (who, k, v) in env {
        if set(&k) {
            f.kept.push(k);
        } else {
            if !f.used.contains(&who) {
                f.used.push(who);
            }
            f.filled.push((k, v));
        }
    }
    f
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_own_variables_are_kept_and_only_the_unset_filled() {
        let env = [
            ("moto at x", "AWS_ENDPOINT_URL", "http://m"),
            ("moto at x", "AWS_REGION", "us-east-1"),
            ("fake SendGrid at x", "SENDGRID_API_URL", "http://s"),
            ("fake SendGrid at x", "SENDGRID_API_KEY", "SG.demo"),
            ("fake RDS API at x", "AWS_ENDPOINT_URL_RDS", "http://r"),
        ]
        .map(|(w, k, v)| (w.to_owned(), k.to_owned(), v.to_owned()))
        .to_vec();
        let mine = ["SENDGRID_API_URL", "SENDGRID_API_KEY"];
        let f = split(env, |k| mine.contains(&k));
        assert_eq!(
            f.filled,
            [
                ("AWS_ENDPOINT_URL", "http://m"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL_RDS", "http://r")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(f.kept, mine);
        assert_eq!(
            f.line(),
            "local stand-ins moto at x, fake RDS API at x; filled AWS_ENDPOINT_URL AWS_REGION \
             AWS_ENDPOINT_URL_RDS; kept yours: SENDGRID_API_URL SENDGRID_API_KEY"
        );
        let none = split(Vec::new(), |_| true);
        assert_eq!(
            none.line(),
            "local stand-ins none used; filled none; kept yours: none"
        );
    }
}
