//! Slack messages for opswatch: text that is safe by construction ([`Mrkdwn`]), Block Kit
//! layouts that respect Slack's limits without dropping anything ([`Alert`]), and delivery
//! with bounded retries ([`Slack`]) to incoming webhooks or through the Web API
//! (`chat.postMessage`, `chat.update`, threads) with a bot token.
//!
//! This crate does no AWS I/O: resolving secrets from Secrets Manager belongs to
//! `opswatch-support`, and routing, exactly-once and threads to `opswatch-delivery`.

pub mod actions;
mod crypto;
mod deliver;
pub mod marker;
mod message;
mod mrkdwn;
mod secret;
pub mod signing;

pub use deliver::{DEFAULT_API_URL, Posted, RetryPolicy, Slack, SlackError, Target};
pub use message::{Alert, Block, Body, Message, NOTE_ROOM, limits};
pub use mrkdwn::{Mrkdwn, escape, one_line, truncate_plain};
pub use secret::{BotToken, CREDENTIAL_URL_RULE, Secret, WebhookUrl, credential_url};
