//! Local stand-ins for development and tests, all on loopback: a Lambda Runtime API that runs
//! a real function binary ([`LocalLambda`]), a fake Slack incoming webhook ([`SlackFake`]),
//! and moto server for AWS APIs ([`Moto`]). Used by `xtask` and the end-to-end tests; never
//! by a function.

pub mod fixtures;
pub mod moto;
pub mod runtime_api;
pub mod slack;

pub use moto::Moto;
pub use runtime_api::{Invoked, LocalLambda, Outcome};
pub use slack::{Reply, SlackFake};
