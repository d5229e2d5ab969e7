//! moto server on a free loopback port, for tests and the demo; stopped when dropped.
//!
//! The executable is `$OPSWATCH_MOTO_SERVER`, else `target/py/bin/moto_server` of this
//! workspace (where `cargo xtask test|demo` install the pinned moto), else `moto_server` on
//! `PATH`. A missing moto is an error, never a skipped test.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

/// An AWS SDK configuration for a moto (or any stand-in) at `endpoint`: region
/// [`REGION`], moto's test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

pub struct Moto {
    child: Child,
    addr: SocketAddr,
    /// moto's request recording (`MOTO_RECORDER_FILEPATH`), when started recording.
    recording: Option<PathBuf>,
}

/// Where moto_server is.
pub fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("OPSWATCH_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/py/bin/moto_server");
    if local.exists() {
        local
    } else {
        PathBuf::from("moto_server")
    }
}

/// Another program of moto's Python environment (`python`, `cfn-lint`), beside
/// [`moto_server_path`].
pub fn python_tool(name: &str) -> PathBuf {
    moto_server_path().with_file_name(name)
}

impl Moto {
    /// Start moto (found as [`moto_server_path`] says) and wait until it answers.
    pub fn start() -> Result<Self, String> {
        Self::start_with(&moto_server_path())
    }

    /// Start this moto_server executable and wait until it answers.
    pub fn start_with(exe: &std::path::Path) -> Result<Self, String> {
        Self::spawn(exe, false)
    }

    /// Start moto with its request recorder on (`MOTO_ENABLE_RECORDING`), so that a test can
    /// count, on moto's side, the calls a function made: [`Moto::recorded_calls`].
    pub fn start_recording() -> Result<Self, String> {
        Self::spawn(&moto_server_path(), true)
    }

    fn spawn(exe: &std::path::Path, record: bool) -> Result<Self, String> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let recording = record.then(|| {
            std::env::temp_dir().join(format!(
                "opswatch-moto-{}-{}.ndjson",
                std::process::id(),
                STARTED.fetch_add(1, Ordering::Relaxed)
            ))
        });
        let mut command = Command::new(exe);
        if let Some(path) = &recording {
            std::fs::write(path, "").map_err(|e| format!("creating {}: {e}", path.display()))?;
            command
                .env("MOTO_ENABLE_RECORDING", "true")
                .env("MOTO_RECORDER_FILEPATH", path);
        }
        // Port 0: moto binds a free port itself and says which (" * Running on
        // http://127.0.0.1:PORT"), so no other process can take the port between our choosing
        // it and moto binding it.
        let mut child = command
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {} ({e}): run `cargo xtask test`, which installs the pinned moto, or set OPSWATCH_MOTO_SERVER",
                    exe.display()
                )
            })?;
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            // Read moto's log to the end (a full pipe would stall it), keeping the start-up
            // lines until the port is known, in case it never is.
            std::thread::spawn(move || {
                let mut early = String::new();
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let Some(sender) = &tx else { continue };
                    if let Some(port) = listening_port(&line) {
                        let _ = sender.send(Ok(port));
                        tx = None;
                    } else if early.len() < 4096 {
                        early.push_str(&line);
                        early.push('\n');
                    }
                }
                if let Some(sender) = tx {
                    let _ = sender.send(Err(early));
                }
            });
        }
        let port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(port)) => port,
            Ok(Err(printed)) => {
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(format!(
                    "moto_server exited at start ({status}):\n{printed}"
                ));
            }
            Err(_) => {
                let _ = child.kill();
                return Err("moto_server did not listen within 60 s".into());
            }
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                return Err(format!(
                    "moto_server said it listens on {addr} but does not"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            addr,
            recording,
        })
    }

    fn recording(&self) -> Result<&PathBuf, String> {
        self.recording
            .as_ref()
            .ok_or_else(|| "this moto was not started with Moto::start_recording".to_owned())
    }

    /// Forget the requests recorded so far (moto appends to the file on every request).
    pub fn reset_recording(&self) -> Result<(), String> {
        let path = self.recording()?;
        std::fs::write(path, "").map_err(|e| format!("truncating {}: {e}", path.display()))
    }

    /// How many requests with this `X-Amz-Target` (a JSON-protocol action such as
    /// `TrentService.Decrypt`) moto received since it started or the last reset.
    pub fn recorded_calls(&self, target: &str) -> Result<usize, String> {
        let path = self.recording()?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut n = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("moto's recording line {line:?}: {e}"))?;
            let headers = entry["headers"].as_object().into_iter().flatten();
            if headers
                .filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                .any(|(_, v)| v.as_str() == Some(target))
            {
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An AWS SDK configuration for this moto.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint()).await
    }

    /// An S3 client for this moto (path-style: moto serves buckets under its one host).
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// The environment that points an AWS SDK client (or a function) at this moto.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// The port in moto's (Werkzeug's) start-up line ` * Running on http://127.0.0.1:PORT`.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("Running on http://").nth(1)?;
    let digits: String = rest
        .rsplit(':')
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|p| *p != 0)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = &self.recording {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_port_moto_says_it_listens_on() {
        assert_eq!(
            super::listening_port(" * Running on http://127.0.0.1:41415"),
            Some(41415)
        );
        assert_eq!(
            super::listening_port(" * Running on http://127.0.0.1:41415/ (Press CTRL+C)"),
            Some(41415)
        );
        assert_eq!(
            super::listening_port("WARNING: This is a development server."),
            None
        );
        assert_eq!(
            super::listening_port(" * Running on http://127.0.0.1:0"),
            None
        );
    }
}
