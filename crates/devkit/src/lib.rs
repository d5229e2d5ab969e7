//! Local stand-ins for development and tests, all on loopback: a Lambda Runtime API that runs
//! a real function binary ([`LocalLambda`]), a fake Slack incoming webhook ([`SlackFake`]), a fake SendGrid bounces API ([`SendGridFake`]),
//! and moto server for AWS APIs ([`Moto`]). Used by `xtask` and the end-to-end tests; never
//! by a function.

pub mod fixtures;
pub mod moto;
pub mod rds;
pub mod runtime_api;
pub mod sendgrid;
pub mod slack;

pub use moto::Moto;
pub use rds::{RdsFake, RegionFailure};
pub use runtime_api::{Invoked, LocalLambda, Outcome};
pub use sendgrid::{SendGridFake, SgReply};
pub use slack::{Reply, SlackFake};
