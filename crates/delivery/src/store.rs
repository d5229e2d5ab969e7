//! The dedupe table (`DEDUPE_TABLE`): one item per Slack message and one per thread, each
//! changed only by conditional writes, so two invocations never both believe they own one.
//!
//! Items (partition key `pk`, string; `ttl`, epoch seconds, for DynamoDB's expiry):
//!
//! - a **message** `…#msg#<hash>`:
//!   - `claimed` while an attempt posts it: its `owner` (a token of the attempt),
//!     `claimed_at`, and `expires` — the invocation's deadline plus a margin, so a claim
//!     outlives the invocation that holds it, and a crashed one's claim frees itself;
//!   - `unknown` when an attempt ended without knowing whether Slack took the message (a
//!     timeout after sending, a reset, a 5xx): `attempt` is when the earliest such attempt
//!     began. The next claimer must look for the message in the channel before posting;
//!   - `done` once Slack took it: its `ts`, `channel` and `thread_ts`, kept for
//!     `DEDUPE_TTL`.
//!
//!   A claim is taken when there is no item, when its `ttl` is past (DynamoDB deletes
//!   expired items lazily), when its state is `unknown`, or when an earlier claim's
//!   `expires` is past (its invocation crashed). The put returns the item it replaced
//!   (`ReturnValues=ALL_OLD`), or the one that stopped it
//!   (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), so no read follows a claim: a
//!   replaced `unknown` or crashed claim tells the winner to look before posting
//!   ([`Claim::Won`]'s `look_since`). A post that failed for certain deletes its own claim,
//!   so the event source's retry can post at once.
//! - a **thread** `…#thread#<hash>`: `claimed` while its first alert (the parent) is being
//!   posted (`claimed_at` tells waiters how long the poster may still take; a claim older
//!   than that is taken over), `open` with the parent's `ts`, `channel`, `message` (its
//!   blocks, kept to edit it) and `counted` — the set of the replies' keys, so a reply counted
//!   twice (a retry, a takeover) counts once and the count never ends below the replies
//!   posted. `started` is when it began: an alert starts a new thread when none is open, or
//!   when the open one started more than `THREAD_WINDOW` ago. `editor` / `edit_until` hold
//!   the parent's edit: one invocation edits at a time and edits again until the count it
//!   shows is the count stored.
//! - a function's **state** `…#state#<hash>` (a changes-only report's memory of what it last
//!   delivered): `body`, the function's own JSON, and `version`, which every write checks
//!   and increments, so two runs never overwrite each other's state unseen.
//!
//! Throttling and other transient failures are retried with backoff ([`RETRY_FOR`]); every
//! write is idempotent for its owner, so a retried write whose first answer was lost finds
//! its own work. What still fails is [`StoreError`]: the pipeline then fails the unit
//! (the event source retries it) unless `DEDUPE_UNAVAILABLE=post`.

mod actions;

pub use actions::{MUTES, Mute, ack_pk};

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// How long one table call may be retried (throttling, 5xx, timeouts) before it fails.
pub const RETRY_FOR: Duration = Duration::from_secs(8);

/// The table, and how long things live in it.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    /// How long keys are kept (`DEDUPE_TTL`).
    ttl: Duration,
    /// How long a claim holds when the invocation's deadline is not known: the Slack budget
    /// plus a margin.
    claim_for: Duration,
    /// How long one call may be retried ([`RETRY_FOR`] unless [`Store::retry_for`]).
    retry_for: Duration,
}

/// A message's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours: post, then [`Store::done`], [`Store::release`] or [`Store::unknown`]. With
    /// `look_since`, an earlier attempt may have posted it (its outcome was unknown, or it
    /// crashed holding the claim): look for it in the channel from that epoch second on
    /// before posting.
    Won { look_since: Option<i64> },
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
    /// Another invocation began posting the parent at this epoch second.
    Pending { claimed_at: i64 },
    /// This alert took the thread over from a poster that began at `since` and never
    /// recorded its parent: it may have posted it (its message key `parent_key`, its
    /// content `message`). Look for it; found, [`Store::open_thread`] with it and reply;
    /// else post the parent.
    TakenOver {
        since: i64,
        /// When the thread it took over began.
        started: i64,
        parent_key: Option<String>,
        message: Option<String>,
    },
}

/// A thread's count as stored: how many replies it has, and the parent to edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub replies: u64,
    pub parent: Option<String>,
}

/// Whether an SDK error may go away if the call is made again: throttling, DynamoDB's 5xx,
/// a timeout, a connection that failed or broke.
fn transient<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => matches!(
            ctx.err().code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "LimitExceededException"
            )
        ),
        _ => false,
    }
}

/// A wait between `0` and `cap`, from the clock's nanoseconds (full jitter: many invocations
/// throttled together do not come back together).
fn jittered(cap: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let cap_ms = cap.as_millis().max(1) as u64;
    Duration::from_millis(nanos % cap_ms + 1)
}

/// `f`'s call, made again after transient failures with exponential backoff for up to
/// [`RETRY_FOR`].
async fn retried_for<O, E, R, F, Fut>(retry_for: Duration, f: F) -> Result<O, SdkError<E, R>>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<O, SdkError<E, R>>>,
{
    let started = Instant::now();
    let mut cap = Duration::from_millis(50);
    loop {
        match f().await {
            Err(e) if transient(&e) && started.elapsed() + cap < retry_for => {
                tokio::time::sleep(jittered(cap)).await;
                cap = (cap * 2).min(Duration::from_secs(1));
            }
            r => return r,
        }
    }
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
    /// A client for the table: short timeouts, and one attempt per call — [`retried`] makes
    /// the others, with backoff, for up to [`RETRY_FOR`], so an unreachable table costs an
    /// invocation seconds, not its whole timeout.
    pub fn new(
        config: &aws_config::SdkConfig,
        table: String,
        ttl: Duration,
        claim_for: Duration,
    ) -> Self {
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(2))
            .build();
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(timeouts)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: Client::from_conf(conf),
            table,
            ttl,
            claim_for,
            retry_for: RETRY_FOR,
        }
    }

    /// Retry a call for at most `d` (an interactive caller must answer within seconds).
    pub fn retry_for(mut self, d: Duration) -> Self {
        self.retry_for = d;
        self
    }

    /// `f`'s call, made again after transient failures for up to this store's retry time.
    async fn retried<O, E, R, F, Fut>(&self, f: F) -> Result<O, SdkError<E, R>>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, R>>>,
    {
        retried_for(self.retry_for, f).await
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

    /// A conditional write, made again after transient failures ([`retried`]); any failure
    /// but its condition is a [`StoreError`].
    async fn write<O, E, R, F, Fut>(&self, f: F) -> Result<Written<O>, StoreError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, R>>>,
    {
        match self.retried(f).await {
            Ok(o) => Ok(Written::Made(o)),
            Err(e) if condition_failed(&e) => Ok(Written::NotMade),
            Err(e) => Err(self.error(&e)),
        }
    }

    /// An `UpdateItem` of the item `pk`.
    fn update(
        &self,
        pk: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
    }

    /// A `DeleteItem` of the item `pk`.
    fn delete(
        &self,
        pk: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
    }

    async fn get(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let call = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true);
        let out = self
            .retried(|| call.clone().send())
            .await
            .map_err(|e| self.error(&e))?;
        Ok(out.item)
    }

    /// How long a claim made now holds: to the invocation's deadline plus `margin` when it
    /// is known, else [`Store`]'s `claim_for`.
    pub fn claim_until(&self, now: i64, deadline: Option<i64>, margin: Duration) -> i64 {
        match deadline {
            Some(d) => d.max(now) + margin.as_secs() as i64,
            None => now + self.claim_for.as_secs() as i64,
        }
    }

    /// A claim's `PutItem`: the item `pk` in state `claimed` for `owner` until `expires`,
    /// taken when `free` holds or when an earlier claim has expired (`:now` and `:claimed`
    /// are bound; `free` adds its own names and values). It returns the item it replaced, or
    /// the one that stopped it.
    fn claim_put(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        expires: i64,
        free: &str,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("state", s("claimed"))
            .item("owner", s(owner))
            .item("claimed_at", n(now))
            .item("expires", n(expires))
            .condition_expression(format!(
                "attribute_not_exists(pk) OR {free} OR (#state = :claimed AND #expires < :now)"
            ))
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":claimed", s("claimed"))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
    }

    /// The item a claim's put replaced (`Ok`) or found in its way (`Err`); any other failure
    /// is a [`StoreError`].
    async fn put_claim(
        &self,
        put: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    ) -> Result<Result<Item, Item>, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        match self.retried(|| put.clone().send()).await {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    Ok(Err(c.item().cloned().unwrap_or_default()))
                }
                _ => Err(self.error(&e)),
            },
        }
    }

    /// Claim a message for `owner`, at `now` (epoch seconds), until `expires`.
    pub async fn claim(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        expires: i64,
        source: &str,
    ) -> Result<Claim, StoreError> {
        // Past its `ttl` an item is gone in all but DynamoDB's lazy deletion.
        let put = self
            .claim_put(pk, owner, now, expires, "#ttl < :now OR #state = :unknown")
            .item("ttl", n(now + self.ttl.as_secs() as i64))
            .item("source", s(source))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":unknown", s("unknown"));
        match self.put_claim(put).await? {
            Ok(old) => {
                let live = get_n(&old, "ttl").is_none_or(|t| t >= now);
                let look_since = match get_s(&old, "state").as_deref() {
                    _ if !live || get_s(&old, "owner").as_deref() == Some(owner) => None,
                    Some("unknown") => get_n(&old, "attempt"),
                    // Its attempt crashed (or ran out of time) holding the claim.
                    Some("claimed") => get_n(&old, "claimed_at").or(Some(now - 900)),
                    _ => None,
                };
                Ok(Claim::Won { look_since })
            }
            Err(item) => match get_s(&item, "state").as_deref() {
                Some("done") => Ok(Claim::Done {
                    ts: get_s(&item, "ts"),
                    thread_ts: get_s(&item, "thread_ts"),
                }),
                // Our own put, made before its answer was lost and the call retried. What
                // it replaced is not known: it may have been a crashed attempt's claim, so
                // look back as far as any claim can reach.
                _ if get_s(&item, "owner").as_deref() == Some(owner) => Ok(Claim::Won {
                    look_since: Some(now - crate::config::LONGEST_CLAIM.as_secs() as i64),
                }),
                // Deleted in between (a released claim): the caller tries again.
                None if item.is_empty() => Ok(Claim::Busy { expires: now }),
                _ => Ok(Claim::Busy {
                    expires: get_n(&item, "expires").unwrap_or(now),
                }),
            },
        }
    }

    /// Keep holding a claim until `expires` (an invocation that waits longer than it
    /// planned). False when it is no longer ours.
    pub async fn extend(&self, pk: &str, owner: &str, expires: i64) -> Result<bool, StoreError> {
        let call = self
            .update(pk)
            .update_expression("SET #expires = :expires")
            .condition_expression("#owner = :owner AND #state = :claimed")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":claimed", s("claimed"));
        Ok(matches!(
            self.write(|| call.clone().send()).await?,
            Written::Made(_)
        ))
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
            .update(pk)
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
        let update = update.update_expression(format!("SET {} REMOVE #expires", set.join(", ")));
        Ok(matches!(
            self.write(|| update.clone().send()).await?,
            Written::Made(_)
        ))
    }

    /// The attempt that began at `attempt` (epoch seconds) ended without knowing whether
    /// Slack took the message: free the claim for the next attempt, which must look first.
    pub async fn unknown(
        &self,
        pk: &str,
        owner: &str,
        attempt: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let call = self
            .update(pk)
            .update_expression("SET #state = :unknown, #attempt = :attempt, #expires = :now")
            .condition_expression("#owner = :owner AND #state = :claimed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#attempt", "attempt")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":unknown", s("unknown"))
            .expression_attribute_values(":claimed", s("claimed"))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":owner", s(owner));
        self.write(|| call.clone().send()).await.map(|_| ())
    }

    /// Give a claim back (the post failed for certain), so that a retry may post at once.
    pub async fn release(&self, pk: &str, owner: &str) -> Result<(), StoreError> {
        let call = self
            .delete(pk)
            .condition_expression("#owner = :owner AND #state = :claimed")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":claimed", s("claimed"));
        self.write(|| call.clone().send()).await.map(|_| ())
    }

    /// Start the thread `pk` as `owner`, or find the one that is open or being started. A
    /// parent's claim older than `parent_takes` (its poster crashed, or Slack held it past
    /// its budget) is taken over.
    pub async fn claim_thread(
        &self,
        pk: &str,
        owner: &str,
        now: i64,
        window: Duration,
        parent_takes: Duration,
        parent: (&str, &str),
    ) -> Result<ThreadClaim, StoreError> {
        let (parent_key, message) = parent;
        let window = window.as_secs() as i64;
        let expires = now + parent_takes.as_secs() as i64;
        // What this claim would replace, read first: a parent's claim of another poster,
        // inside its window, is taken over — its poster may have posted. The claim keeps it
        // in `prior_*` and replaces exactly that item (or none), so a retry whose first
        // answer was lost still learns what it took over.
        let seen = self.get(pk).await?;
        let taken_over = |item: &Item, prefix: &str| {
            let field = |name: &str| format!("{prefix}{name}");
            let started = get_n(item, &field("started")).filter(|s| *s >= now - window)?;
            (get_s(item, &field("state")).as_deref() == Some("claimed")
                && get_s(item, &field("owner")).as_deref() != Some(owner))
            .then(|| ThreadClaim::TakenOver {
                since: get_n(item, &field("claimed_at")).unwrap_or(now - window),
                started,
                parent_key: get_s(item, &field("parent_key")),
                message: get_s(item, &field("message")),
            })
        };
        let mut put = self
            .claim_put(
                pk,
                owner,
                now,
                expires,
                "#started < :cutoff OR (#state = :claimed AND #claimed_at < :stale)",
            )
            .item("started", n(now))
            .item("parent_key", s(parent_key))
            .item("message", s(message))
            .item(
                "ttl",
                n(now + window + self.claim_for.as_secs() as i64 + 3600),
            )
            .expression_attribute_names("#started", "started")
            .expression_attribute_names("#claimed_at", "claimed_at")
            .expression_attribute_values(":cutoff", n(now - window))
            .expression_attribute_values(":stale", n(now - parent_takes.as_secs() as i64));
        if let Some(seen) = &seen {
            // Only the item read: else the condition fails and the caller reads again.
            let condition = format!(
                "({}) AND #owner = :seen_owner AND #claimed_at = :seen_at",
                put.get_condition_expression().clone().unwrap_or_default()
            );
            put = put
                .condition_expression(condition)
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(
                    ":seen_owner",
                    s(get_s(seen, "owner").unwrap_or_default()),
                )
                .expression_attribute_values(":seen_at", n(get_n(seen, "claimed_at").unwrap_or(0)));
            if let Some(ThreadClaim::TakenOver { .. }) = taken_over(seen, "") {
                for name in [
                    "state",
                    "owner",
                    "claimed_at",
                    "started",
                    "parent_key",
                    "message",
                ] {
                    if let Some(v) = seen.get(name) {
                        put = put.item(format!("prior_{name}"), v.clone());
                    }
                }
            }
        }
        match self.put_claim(put).await? {
            Ok(_) => Ok(seen
                .as_ref()
                .and_then(|seen| taken_over(seen, ""))
                .unwrap_or(ThreadClaim::Parent)),
            Err(item) => match get_s(&item, "state").as_deref() {
                Some("open") => match (get_s(&item, "ts"), get_s(&item, "channel")) {
                    (Some(ts), Some(channel)) => Ok(ThreadClaim::Open { ts, channel }),
                    _ => Ok(ThreadClaim::Pending { claimed_at: now }),
                },
                // Our own claim, made before its answer was lost: what it took over is in
                // `prior_*`.
                _ if get_s(&item, "owner").as_deref() == Some(owner) => {
                    Ok(taken_over(&item, "prior_").unwrap_or(ThreadClaim::Parent))
                }
                _ => Ok(ThreadClaim::Pending {
                    claimed_at: get_n(&item, "claimed_at").unwrap_or(now),
                }),
            },
        }
    }

    /// The open thread under `pk`: its parent's `ts` and channel id.
    pub async fn open_thread_of(&self, pk: &str) -> Result<Option<(String, String)>, StoreError> {
        let Some(item) = self.get(pk).await? else {
            return Ok(None);
        };
        Ok(
            match (
                get_s(&item, "state").as_deref(),
                get_s(&item, "ts"),
                get_s(&item, "channel"),
            ) {
                (Some("open"), Some(ts), Some(channel)) => Some((ts, channel)),
                _ => None,
            },
        )
    }

    /// The parent was posted: the thread is open for replies.
    pub async fn open_thread(
        &self,
        pk: &str,
        owner: &str,
        ts: &str,
        channel: &str,
        parent: &str,
        version: Option<i64>,
    ) -> Result<(), StoreError> {
        let call = self.update(pk)
            .update_expression(match version {
                Some(_) => "SET #state = :open, #ts = :ts, #channel = :channel, #message = :message, #pv = :pv REMOVE #expires",
                None => "SET #state = :open, #ts = :ts, #channel = :channel, #message = :message REMOVE #expires",
            })
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_names("#channel", "channel")
            .expression_attribute_names("#message", "message")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":ts", s(ts))
            .expression_attribute_values(":channel", s(channel))
            .expression_attribute_values(":message", s(parent))
            .expression_attribute_values(":owner", s(owner));
        let call = match version {
            Some(v) => call
                .expression_attribute_names("#pv", "pv")
                .expression_attribute_values(":pv", n(v)),
            None => call,
        };
        // Not made: taken over after our claim expired; the other parent stands, ours is
        // alone.
        self.write(|| call.clone().send()).await.map(|_| ())
    }

    /// A thread taken over from a crashed poster could not be looked at in Slack: give it
    /// back as it was — the crashed poster's stale claim, which the next alert takes over
    /// and looks again — rather than start a second thread beside a parent that may exist.
    pub async fn give_back_thread(
        &self,
        pk: &str,
        owner: &str,
        since: i64,
        started: i64,
        parent: (&str, &str),
    ) -> Result<(), StoreError> {
        let (parent_key, message) = parent;
        let call = self
            .update(pk)
            .update_expression(
                "SET #owner = :crashed, #claimed_at = :since, #started = :started, #parent_key = :key, #message = :message",
            )
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#claimed_at", "claimed_at")
            .expression_attribute_names("#started", "started")
            .expression_attribute_names("#parent_key", "parent_key")
            .expression_attribute_names("#message", "message")
            .expression_attribute_values(":crashed", s(format!("{owner}/given-back")))
            .expression_attribute_values(":since", n(since))
            .expression_attribute_values(":started", n(started))
            .expression_attribute_values(":key", s(parent_key))
            .expression_attribute_values(":message", s(message))
            .expression_attribute_values(":owner", s(owner));
        self.write(|| call.clone().send()).await.map(|_| ())
    }

    /// The parent could not be posted: let the next alert start the thread.
    pub async fn release_thread(&self, pk: &str, owner: &str) -> Result<(), StoreError> {
        self.release(pk, owner).await
    }

    /// The reply whose message key is `reply` was posted in the thread whose parent is `ts`:
    /// count it — once, however often this is called for it (a set of keys, not a
    /// counter). With `latest` (the parent's content and its version), the parent becomes
    /// that content in the same write, if its version is above the one the thread holds: the
    /// count and the content change together, so whoever holds the parent's edit and finds
    /// the count moved also finds the newest content.
    pub async fn count_reply(
        &self,
        pk: &str,
        ts: &str,
        reply: &str,
        latest: Option<(&str, i64)>,
    ) -> Result<Option<Counted>, StoreError> {
        if let Some((message, version)) = latest {
            let call = self
                .update(pk)
                .update_expression("ADD #counted :reply SET #message = :message, #pv = :pv")
                .condition_expression("#ts = :ts AND (attribute_not_exists(#pv) OR #pv < :pv)")
                .expression_attribute_names("#counted", "counted")
                .expression_attribute_names("#message", "message")
                .expression_attribute_names("#pv", "pv")
                .expression_attribute_names("#ts", "ts")
                .expression_attribute_values(":reply", AttributeValue::Ss(vec![short(reply)]))
                .expression_attribute_values(":message", s(message))
                .expression_attribute_values(":pv", n(version))
                .expression_attribute_values(":ts", s(ts))
                .return_values(ReturnValue::AllNew);
            if let Written::Made(out) = self.write(|| call.clone().send()).await? {
                return Ok(Some(counted(&out.attributes.unwrap_or_default())));
            }
            // Another thread, or the parent already shows a version as new: count only.
        }
        let call = self
            .update(pk)
            .update_expression("ADD #counted :reply")
            .condition_expression("#ts = :ts")
            .expression_attribute_names("#counted", "counted")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_values(":reply", AttributeValue::Ss(vec![short(reply)]))
            .expression_attribute_values(":ts", s(ts))
            .return_values(ReturnValue::AllNew);
        match self.write(|| call.clone().send()).await? {
            Written::Made(out) => Ok(Some(counted(&out.attributes.unwrap_or_default()))),
            // A newer thread replaced this one meanwhile: nothing to count.
            Written::NotMade => Ok(None),
        }
    }

    /// Take the right to edit the parent of thread `ts` (held until `until`, when no other
    /// invocation holds it): the count to show, or `None` when another invocation edits.
    pub async fn hold_edit(
        &self,
        pk: &str,
        ts: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<Option<Counted>, StoreError> {
        let call = self.update(pk)
            .update_expression("SET #editor = :owner, #edit_until = :until")
            .condition_expression(
                "#ts = :ts AND (attribute_not_exists(#editor) OR #edit_until < :now OR #editor = :owner)",
            )
            .expression_attribute_names("#editor", "editor")
            .expression_attribute_names("#edit_until", "edit_until")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":ts", s(ts))
            .return_values(ReturnValue::AllNew);
        match self.write(|| call.clone().send()).await? {
            Written::Made(out) => Ok(Some(counted(&out.attributes.unwrap_or_default()))),
            Written::NotMade => Ok(None),
        }
    }

    /// Let go of the parent's edit if the count is still `shown`: `Ok(None)` when let go,
    /// `Ok(Some(count))` when more replies were counted meanwhile (edit again, still
    /// holding it), `Err` on failure. A hold that is no longer ours counts as let go.
    pub async fn release_edit(
        &self,
        pk: &str,
        owner: &str,
        shown: u64,
    ) -> Result<Option<Counted>, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let call = self
            .update(pk)
            .update_expression("REMOVE #editor, #edit_until")
            .condition_expression(if shown == 0 {
                "#editor = :owner AND attribute_not_exists(#counted)"
            } else {
                "#editor = :owner AND size(#counted) = :shown"
            })
            .expression_attribute_names("#editor", "editor")
            .expression_attribute_names("#edit_until", "edit_until")
            .expression_attribute_names("#counted", "counted")
            .expression_attribute_values(":owner", s(owner))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        let call = if shown == 0 {
            call
        } else {
            call.expression_attribute_values(":shown", n(shown as i64))
        };
        match self.retried(|| call.clone().send()).await {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let item = c.item().cloned().unwrap_or_default();
                    if get_s(&item, "editor").as_deref() != Some(owner) {
                        return Ok(None);
                    }
                    Ok(Some(counted(&item)))
                }
                _ => Err(self.error(&e)),
            },
        }
    }

    /// The thread's parent is gone from Slack: forget the thread (only if it is still that
    /// one), so the next alert starts a new one.
    pub async fn forget_thread(&self, pk: &str, ts: &str) -> Result<(), StoreError> {
        let call = self
            .delete(pk)
            .condition_expression("#ts = :ts")
            .expression_attribute_names("#ts", "ts")
            .expression_attribute_values(":ts", s(ts));
        self.write(|| call.clone().send()).await.map(|_| ())
    }
}

type Item = HashMap<String, AttributeValue>;

/// A reply's key as the thread's set holds it: 16 hex digits of its hash (a thread's
/// thousands of replies fit in one item; two of them colliding is a 1 in 2^64 event).
fn short(reply: &str) -> String {
    let hash = reply.rsplit('#').next().unwrap_or(reply);
    hash.chars().take(16).collect()
}

fn counted(item: &Item) -> Counted {
    Counted {
        replies: item
            .get("counted")
            .and_then(|v| v.as_ss().ok())
            .map_or(0, |v| v.len() as u64),
        parent: get_s(item, "message"),
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
        let version = get_n(&item, "version").unwrap_or(0);
        // A state larger than one item: its parts, written before this head named them.
        if let (Some(prefix), Some(parts)) = (get_s(&item, "parts_at"), get_n(&item, "parts")) {
            let mut body = String::new();
            for i in 0..parts {
                let part = self.get(&format!("{prefix}#{i}")).await?;
                let Some(text) = part.as_ref().and_then(|p| get_s(p, "body")) else {
                    return Err(StoreError {
                        table: self.table.clone(),
                        why: format!("part {i} of {parts} of the state {pk} is missing"),
                    });
                };
                body.push_str(&text);
            }
            return Ok(Some(Saved { body, version }));
        }
        Ok(get_s(&item, "body").map(|body| Saved { body, version }))
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
        let ttl = now + keep.as_secs() as i64;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("version", n(read.unwrap_or(0) + 1))
            .item("ttl", n(ttl))
            .return_values(ReturnValue::AllOld);
        if body.len() <= STATE_PART {
            put = put.item("body", s(body));
        } else {
            // Too large for one item (400 KB): the parts go first, under a prefix of this
            // write's own, and the head names them only once they are all there. A reader
            // sees the old state or the new, never a mix; a write that loses the race
            // leaves parts nobody names, which expire.
            let prefix = format!("{pk}#part#{}", crate::owner_token());
            let parts = split_at_chars(body, STATE_PART);
            for (i, part) in parts.iter().enumerate() {
                let call = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(format!("{prefix}#{i}")))
                    .item("body", s(*part))
                    .item("ttl", n(ttl));
                self.write(|| call.clone().send()).await?;
            }
            put = put
                .item("parts_at", s(&prefix))
                .item("parts", n(parts.len() as i64));
        }
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
        let Written::Made(out) = self.write(|| put.clone().send()).await? else {
            return Ok(false);
        };
        // The parts of the state this write replaced are no longer named: delete them
        // (what fails here expires with its TTL).
        let old = out.attributes.unwrap_or_default();
        if let (Some(prefix), Some(parts)) = (get_s(&old, "parts_at"), get_n(&old, "parts")) {
            for i in 0..parts {
                let call = self.delete(format!("{prefix}#{i}"));
                if let Err(e) = self.write(|| call.clone().send()).await {
                    tracing::debug!(error = %e, "an old part of a state was not deleted; it expires");
                }
            }
        }
        Ok(true)
    }
}

/// The most of a state's body one item holds (DynamoDB's item limit is 400 KB, names and
/// other attributes included).
pub const STATE_PART: usize = 300_000;

/// `text` in pieces of at most `max` bytes, cut at character boundaries.
fn split_at_chars(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(max);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts
}
