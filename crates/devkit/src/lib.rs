//! Local stand-ins for development and tests, all on loopback: a Lambda Runtime API that runs
//! a real function binary ([`LocalLambda`]), a fake Slack incoming webhook ([`SlackFake`]), a fake Slack Web API ([`SlackApiFake`]), a fake SendGrid bounces API ([`SendGridFake`]),
//! and moto server for AWS APIs ([`Moto`]). Used by `xtask` and the end-to-end tests; never
//! by a function.

pub mod dynamodb;
pub mod faults;
pub mod fixtures;
pub mod moto;
pub mod rds;
pub mod runtime_api;
pub mod sendgrid;
pub mod slack;
pub mod slack_api;
pub mod slack_requests;

pub use faults::{DynamoFaultProxy, DynamoFaults, OrgThrottleProxy};
pub use moto::{Moto, python_tool};
pub use rds::{RdsFake, RegionFailure};
pub use runtime_api::{Invoked, LocalLambda, Outcome};
pub use sendgrid::{SendGridFake, SgReply};
pub use slack::{Reply, SlackFake};
pub use slack_api::{ApiChaos, ApiMessage, ApiReply, SlackApiFake};

/// An axum app served on 127.0.0.1 (port 0: a free port of the system's choosing), for the
/// fakes; stops when dropped.
pub struct Served {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(port: u16, app: axum::Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An error and its causes, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
