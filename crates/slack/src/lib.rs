//! Slack messages for opswatch: text that is safe by construction ([`Mrkdwn`]), Block Kit
//! layouts that respect Slack's limits without dropping anything ([`Alert`]), and delivery to
//! an incoming webhook with bounded retries ([`Slack`]).
//!
//! This crate does no AWS I/O: resolving the webhook URL from Secrets Manager belongs to
//! `opswatch-support`.

mod deliver;
mod message;
mod mrkdwn;

pub use deliver::{Destination, Posted, RetryPolicy, Slack, SlackError, WebhookUrl};
pub use message::{Alert, Block, Body, Message, limits};
pub use mrkdwn::{Mrkdwn, escape, truncate_plain};
