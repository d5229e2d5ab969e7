//! The dedupe table (`DEDUPE_TABLE`): one item per Slack message and one per thread, each
//! changed only by conditional writes, so two invocations never both believe they own one.
//!
//! Items (partition key `pk`, string; `ttl`, epoch seconds, for DynamoDB's expiry):
//!
//! - a **message** `…#msg#<hash>`: `state` `claimed` (with its `owner`, a token of the claiming
//!   attempt, and `expires`) while it is being posted, `done` (with the message's `ts`,
//!   `channel` and the `thread_ts` it belongs to) once Slack accepted it. A claim is taken
//!   when there is no item, when the item's `ttl` is past (DynamoDB deletes expired items
//!   lazily), or when an earlier claim's `expires` is past (its invocation crashed). A failed
//!   post deletes its own claim at once, so the event source's retry can post.
//! - a **thread** `…#thread#<hash>`: `state` `claimed` while its first alert (the parent) is
//!   being posted, `open` with the parent's `ts`, `channel`, `message` (its blocks, kept to
//!   edit it) and `replies` afterwards; `started` is when it began. An alert starts a new
//!   thread when none is open, or when the open one started more than `THREAD_WINDOW` ago.
//!
//! - a function's **state** `…#state#<hash>` (a changes-only report's memory of what it last
//!   delivered): `body`, the function's own JSON, and `version`, which every write checks
//!   and increments, so two runs never overwrite each other's state unseen.
//!
//! Every other failure of DynamoDB is [`StoreError`]: the pipeline then posts anyway (better
//! twice than never) and counts `DedupeUnavailable`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

/// DynamoDB could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the dedupe table {table}: {why}")]
pub struct StoreError {
    pub table: String,
    pub why: String,
}

/// The table, and how long things live in it.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    /// How long keys are kept (`DEDUPE_TTL`).
    ttl: Duration,
    /// How long a claim holds before another attempt may take it over: the Slack budget
    /// plus a margin.
    claim_for: Duration,
}

/// A message's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours: post, then [`Store::done`] or [`Store::release`].
    Won,
    /// Already posted: where it went.
    Done {
        ts: Option<String>,
        thread_ts: Option<String>,
    },
    /// Another attempt is posting it now; its claim expires at this epoch second.
    Busy { expires: i64 },
}

/// A thread's state, as seen by an alert that has its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadClaim {
    /// This alert starts the thread: post it, then [`Store::open_thread`].
    Parent,
    /// A thread is open: reply to `ts` in `channel`.
    Open { ts: String, channel: String },
    /// Another invocation is posting the parent now.
    Pending,
}

/// A reply counted: how many replies the thread now has, and the parent to edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub replies: u64,
    pub parent: Option<String>,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Whether an SDK error is DynamoDB's "the condition did not hold".
fn condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// What a conditional write came to.
enum Written<O> {
    Made(O),
    /// Its condition did not hold: nothing changed.
    NotMade,
}

impl Store {
    /// A client for the table: short timeouts and two attempts, so an unreachable table
    /// costs an invocation seconds, not its whole timeout.
    pub fn new(
        config: &aws_config::SdkConfig,
        table: String,
        ttl: Duration,
        claim_for: Duration,
    ) -> Self {
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(5))
            .build();
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(timeouts)
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(2),
            )
            .build();
        Self {
            client: Client::from_conf(conf),
            table,
            ttl,
            claim_for,
        }
    }

    fn error<E>(&self, e: &E) -> StoreError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error,
    {
        StoreError {
            table: self.table.clone(),
            why: opswatch_support::sdk_error(e),
        }
    }

    /// A conditional write's result; any failure but its condition is a [`StoreError`].
    fn written<O, E, R>(&self, r: Result<O, SdkError<E, R>>) -> Result<Written<O>, StoreError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match r {
            Ok(o) => Ok(Written::Made(o)),
            Err(e) if condition_failed(&e) => Ok(Written::NotMade),
            Err(e) => Err(self.error(&e)),
        }
    }

    async fn get(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(&e))?;
        Ok(out.item)
    }

    /// A claim's `PutItem`: the item `pk` in state `claimed` for `owner` until the claim
    /// expires, taken when `free` holds or when an earlier claim has expired (`:now` and
    /// `:claimed` are bound; `free` adds its own names and values).
    fn claim_put(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        free: &str,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("state", s("claimed"))
            .item("owner", s(owner))
            .item("expires", n(now + self.claim_for.as_secs() as i64))
            .condition_expression(format!(
                "attribute_not_exists(pk) OR {free} OR (#state = :claimed AND #expires < :now)"
            ))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":claimed", s("claimed"))
    }

    /// Claim a message for `owner`, at `now` (epoch seconds).
    pub async fn claim(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        source: &str,
    ) -> Result<Claim, StoreError> {
        // Past its `ttl` an item is gone in all but DynamoDB's lazy deletion.
        let put = self
            .claim_put(pk, owner, now, "#ttl < :now")
            .item("ttl", n(now + self.ttl.as_secs() as i64))
            .item("source", s(source))
            .expression_attribute_names("#ttl", "ttl")
            .send()
            .await;
        match self.written(put)? {
            Written::Made(_) => Ok(Claim::Won),
            Written::NotMade => match self.get(pk).await? {
                // Deleted in between (a released claim): the caller tries again.
                None => Ok(Claim::Busy { expires: now }),
                Some(item) if get_s(&item, "state").as_deref() == Some("done") => Ok(Claim::Done {
                    ts: get_s(&item, "ts"),
                    thread_ts: get_s(&item, "thread_ts"),
                }),
                Some(item) => Ok(Claim::Busy {
                    expires: get_n(&item, "expires").unwrap_or(now),
                }),
            },
        }
    }

    /// The message was posted: keep its key (and where it went) for `DEDUPE_TTL`. Returns
    /// false when the claim was no longer ours (it expired and another attempt took it).
    pub async fn done(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        ts: Option<&str>,
        channel: Option<&str>,
        thread_ts: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["#state = :done".to_owned(), "#ttl = :ttl".to_owned()];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":ttl", n(now + self.ttl.as_secs() as i64))
            .expression_attribute_values(":owner", s(owner));
        for (name, value) in [("ts", ts), ("channel", channel), ("thread_ts", thread_ts)] {
            if let Some(v) = value {
                update = update
                    .expression_attribute_names(format!("#{name}"), name)
                    .expression_attribute_values(format!(":{name}"), s(v));
                set.push(format!("#{name} = :{name}"));
            }
        }
        let result = update
            .update_expression(format!("SET {} REMOVE #expires", set.join(", ")))
            .send()
            .await;
        Ok(matches!(self.written(result)?, Written::Made(_)))
    }

    /// Give a claim back (the post failed), so that a retry may post at once.
    pub async fn release(&self, pk: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .condition_expression("#owner = :owner AND #state = :claimed")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":claimed", s("claimed"))
            .send()
            .await;
        self.written(result).map(|_| ())
    }

    /// Start the thread `pk` as `owner`, or find the one that is open or being started.
    pub async fn claim_thread(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        window: Duration,
    ) -> Result<ThreadClaim, StoreError> {
        let window = window.as_secs() as i64;
        // A thread older than the window is over: a new one starts.
        let put = self
            .claim_put(pk, owner, now, "#started < :cutoff")
            .item("started", n(now))
            .item(
                "ttl",
                n(now + window + self.claim_for.as_secs() as i64 + 3600),
            )
            .expression_attribute_names("#started", "started")
            .expression_attribute_values(":cutoff", n(now - window))
            .send()
            .await;
        match self.written(put)? {
            Written::Made(_) => Ok(ThreadClaim::Parent),
            Written::NotMade => match self.get(pk).await? {
                Some(item) if get_s(&item, "state").as_deref() == Some("open") => {
                    match (get_s(&item, "ts"), get_s(&item, "channel")) {
                        (Some(ts), Some(channel)) => Ok(ThreadClaim::Open { ts, channel }),
                        _ => Ok(ThreadClaim::Pending),
                    }
                }
                _ => Ok(ThreadClaim::Pending),
            },
        }
    }

    /// The parent was posted: the thread is open for replies.
    pub async fn open_thread(
        &self,
        pk: &str,
        owner: &str,
        ts: &str,
        channel: &str,
        parent: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression(
                "SET #state = :open, #ts = :ts, #channel = :channel, #message = :message, #replies = :zero REMOVE #expires",
            )
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_names("#channel", "channel")
            .expression_attribute_names("#message", "message")
            .expression_attribute_names("#replies", "replies")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":ts", s(ts))
            .expression_attribute_values(":channel", s(channel))
            .expression_attribute_values(":message", s(parent))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // Not made: taken over after our claim expired; the other parent stands, ours is
        // alone.
        self.written(result).map(|_| ())
    }

    /// The parent could not be posted: let the next alert start the thread.
    pub async fn release_thread(&self, pk: &str, owner: &str) -> Result<(), StoreError> {
        self.release(pk, owner).await
    }

    /// A reply was posted in the thread whose parent is `ts`: count it.
    pub async fn count_reply(&self, pk: &str, ts: &str) -> Result<Option<Counted>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("ADD #replies :one")
            .condition_expression("#ts = :ts")
            .expression_attribute_names("#replies", "replies")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ts", s(ts))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match self.written(result)? {
            Written::Made(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(Some(Counted {
                    replies: get_n(&item, "replies").unwrap_or(0).max(0) as u64,
                    parent: get_s(&item, "message"),
                }))
            }
            // A newer thread replaced this one meanwhile: nothing to count.
            Written::NotMade => Ok(None),
        }
    }

    /// The thread's parent is gone from Slack: forget the thread (only if it is still that
    /// one), so the next alert starts a new one.
    pub async fn forget_thread(&self, pk: &str, ts: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .condition_expression("#ts = :ts")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_values(":ts", s(ts))
            .send()
            .await;
        self.written(result).map(|_| ())
    }
}

/// A function's state as it was read: its JSON body and the version a write must find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub body: String,
    pub version: i64,
}

impl Store {
    /// The state item `pk`, if there is one (and its `ttl` has not passed).
    pub async fn load_state(&self, pk: &str, now: i64) -> Result<Option<Saved>, StoreError> {
        let Some(item) = self.get(pk).await? else {
            return Ok(None);
        };
        if get_n(&item, "ttl").is_some_and(|t| t < now) {
            return Ok(None);
        }
        Ok(get_s(&item, "body").map(|body| Saved {
            body,
            version: get_n(&item, "version").unwrap_or(0),
        }))
    }

    /// Write the state `pk` if it is still the version read (`None`: if there was none, or
    /// it expired); it lives `keep` from `now`. False when another run wrote in between:
    /// read it again and merge.
    pub async fn save_state(
        &self,
        pk: &str,
        body: &str,
        read: Option<i64>,
        now: i64,
        keep: Duration,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("body", s(body))
            .item("version", n(read.unwrap_or(0) + 1))
            .item("ttl", n(now + keep.as_secs() as i64));
        let put = match read {
            Some(v) => put
                .condition_expression("#version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", n(v)),
            None => put
                .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", n(now)),
        };
        let result = put.send().await;
        Ok(matches!(self.written(result)?, Written::Made(_)))
    }
}

/// Create the table as `template.yaml` does (partition key `pk`, string; on demand; TTL on
/// `ttl`): for the local stand-ins — the demo, the tests, the benchmarks — never called by a
/// function.
pub async fn create_table(config: &aws_config::SdkConfig, table: &str) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let client = Client::new(config);
    let describe = |e: &dyn std::error::Error| {
        format!(
            "creating the table {table}: {}",
            opswatch_support::error_chain(e)
        )
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| describe(&e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| describe(&e))?,
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| describe(&e))?,
        )
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(())
}
