//! The delivery pipeline against moto's DynamoDB and the fake Slack Web API: exactly once
//! across redeliveries and partial failures, claims released and expired, threads (also
//! under a race), the table unreachable, configuration errors.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use opswatch_delivery::config::Settings;
use opswatch_delivery::store::{Claim, Store};
use opswatch_delivery::{Delivery, DeliveryError, Notice, Outcome, Severity};
use opswatch_devkit::Moto;
use opswatch_devkit::slack_api::{ApiReply, DEMO_TOKEN, SlackApiFake};
use opswatch_slack::{Alert, Mrkdwn};

const FUNCTION: &str = "config-change-notifier";
const TABLE: &str = "opswatch-dedupe";

async fn sdk(endpoint: &str) -> SdkConfig {
    opswatch_devkit::moto::sdk_config(endpoint).await
}

struct World {
    _moto: Moto,
    config: SdkConfig,
    slack: SlackApiFake,
}

async fn world() -> World {
    let moto = Moto::start().expect("moto");
    let config = sdk(&moto.endpoint()).await;
    opswatch_devkit::dynamodb::create_table(&config, TABLE)
        .await
        .expect("table");
    let slack = SlackApiFake::start(DEMO_TOKEN).await.expect("fake Slack");
    World {
        _moto: moto,
        config,
        slack,
    }
}

impl World {
    async fn delivery(&self, extra: &[(&str, &str)]) -> Delivery {
        let url = self.slack.url();
        let mut vars = vec![
            ("SLACK_BOT_TOKEN", DEMO_TOKEN),
            ("SLACK_CHANNEL", "#alerts"),
            ("SLACK_API_URL", url.as_str()),
            ("DEDUPE_TABLE", TABLE),
            ("SLACK_MAX_RETRY_SECONDS", "1"),
        ];
        vars.extend_from_slice(extra);
        let settings = Settings::from_lookup(|k| {
            vars.iter()
                .rev()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("settings");
        Delivery::from_settings(FUNCTION, &self.config, settings)
            .await
            .expect("delivery")
    }
}

fn notice(source: &str, thread: Option<&str>, lines: usize) -> Notice {
    let body = (0..lines)
        .map(|i| Mrkdwn::text(&format!("line {i:04} {}", "x".repeat(200))))
        .collect();
    let n = Notice::new(
        Alert::new(format!("alert from {source}"), "fallback").lines(body),
        Severity::Warning,
        source,
    );
    match thread {
        Some(t) => n.thread(t),
        None => n,
    }
}

async fn deliver(d: &Delivery, n: Notice) -> (Outcome, Result<(), DeliveryError>) {
    let mut out = Outcome::new("SNS record");
    let r = d.deliver(n, &mut out).await;
    (out, r)
}

fn counts(out: &Outcome) -> (usize, usize) {
    (out.messages_posted(), out.deduplicated())
}

#[tokio::test]
async fn a_source_posts_once_however_often_it_is_delivered() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    let (out, r) = deliver(&d, notice("sns/m-1", None, 1)).await;
    r.unwrap();
    assert_eq!(counts(&out), (1, 0));
    let (out, r) = deliver(&d, notice("sns/m-1", None, 1)).await;
    r.unwrap();
    assert_eq!(counts(&out), (0, 1));
    // A cold start (another client) finds it too; another source is another message.
    let other = w.delivery(&[]).await;
    let (out, _) = deliver(&other, notice("sns/m-1", None, 1)).await;
    assert_eq!(counts(&out), (0, 1));
    let (out, _) = deliver(&other, notice("sns/m-2", None, 1)).await;
    assert_eq!(counts(&out), (1, 0));
    assert_eq!(w.slack.messages().len(), 2);
}

#[tokio::test]
async fn a_dry_run_counts_what_it_printed_not_posted() {
    let w = world().await;
    let settings = Settings::from_lookup(|_| None).expect("no settings: a dry run");
    let d = Delivery::from_settings(FUNCTION, &w.config, settings)
        .await
        .expect("delivery");
    let (out, r) = deliver(&d, notice("sns/dry", None, 1)).await;
    r.unwrap();
    assert_eq!((out.messages_posted(), out.messages_printed()), (0, 1));
    let response = out.response();
    assert_eq!(
        (&response["messagesPosted"], &response["messagesPrinted"]),
        (&serde_json::json!(0), &serde_json::json!(1))
    );
    assert!(w.slack.messages().is_empty());
}

#[tokio::test]
async fn retries_are_counted_whether_the_post_then_succeeds_or_fails() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    let posts = |w: &World| {
        w.slack
            .calls()
            .iter()
            .filter(|c| c.method == "chat.postMessage")
            .count()
    };
    // Two 429s, then taken: two retries.
    w.slack
        .script([ApiReply::RateLimited(0), ApiReply::RateLimited(0)]);
    let (out, r) = deliver(&d, notice("sns/retried", None, 1)).await;
    r.unwrap();
    assert_eq!((posts(&w), out.slack_retries()), (3, 2));
    // Rate limited until the budget or the attempts run out: every try after the first counts.
    w.slack.always(ApiReply::RateLimited(0));
    let (out, r) = deliver(&d, notice("sns/given-up", None, 1)).await;
    assert!(r.is_err(), "{r:?}");
    let tried = posts(&w) - 3;
    assert!(tried > 1, "{tried}");
    assert_eq!(out.slack_retries() as usize, tried - 1);
}

#[tokio::test]
async fn a_partly_posted_alert_posts_only_the_rest_on_retry() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    // 200 lines of ~210 characters: several messages.
    let parts = notice("s3/b/k@e1", None, 200).alert.into_messages().len();
    assert!(parts >= 4, "{parts}");
    w.slack.script([ApiReply::Normal, ApiReply::Normal]);
    w.slack.always(ApiReply::Status(500));
    let (out, r) = deliver(&d, notice("s3/b/k@e1", None, 200)).await;
    assert!(matches!(r, Err(DeliveryError::Failed(_))), "{r:?}");
    assert_eq!(counts(&out), (2, 0));
    w.slack.always(ApiReply::Normal);
    let (out, r) = deliver(&d, notice("s3/b/k@e1", None, 200)).await;
    r.unwrap();
    assert_eq!(counts(&out), (parts - 2, 2));
    // Every line once, in order.
    let text: String = w
        .slack
        .messages()
        .iter()
        .map(|m| m.blocks.to_string())
        .collect();
    for i in 0..200 {
        assert_eq!(
            text.matches(&format!("line {i:04} ")).count(),
            1,
            "line {i}"
        );
    }
}

#[tokio::test]
async fn claims_are_released_on_failure_and_expire_after_a_crash() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    w.slack.always(ApiReply::Status(502));
    let (_, r) = deliver(&d, notice("sns/m-9", None, 1)).await;
    assert!(r.is_err());
    // Released at once: the retry (seconds later) posts.
    w.slack.always(ApiReply::Normal);
    let (out, r) = deliver(&d, notice("sns/m-9", None, 1)).await;
    r.unwrap();
    assert_eq!(counts(&out), (1, 0));

    // A crashed attempt's claim blocks others until it expires, then may be retaken.
    let s = Store::new(
        &w.config,
        TABLE.into(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let now = 1_800_000_000;
    assert_eq!(
        s.claim("k", "crashed", now, now + 60, "src").await.unwrap(),
        Claim::Won { look_since: None }
    );
    assert_eq!(
        s.claim("k", "retry", now + 30, now + 90, "src")
            .await
            .unwrap(),
        Claim::Busy { expires: now + 60 }
    );
    // Taken over from an attempt that crashed holding it: it may have posted, so the
    // winner looks from when that attempt began.
    assert_eq!(
        s.claim("k", "retry", now + 61, now + 121, "src")
            .await
            .unwrap(),
        Claim::Won {
            look_since: Some(now)
        }
    );
    // The crashed attempt can no longer mark it, nor release it.
    assert!(
        !s.done("k", "crashed", now + 62, Some("1.1"), None, None)
            .await
            .unwrap()
    );
    s.release("k", "crashed").await.unwrap();
    assert!(
        s.done("k", "retry", now + 62, Some("1.2"), Some("C1"), None)
            .await
            .unwrap()
    );
    assert_eq!(
        s.claim("k", "third", now + 63, now + 123, "src")
            .await
            .unwrap(),
        Claim::Done {
            ts: Some("1.2".into()),
            thread_ts: None
        }
    );
    // Past its TTL (DynamoDB deletes lazily), a key is free again.
    assert_eq!(
        s.claim("k", "later", now + 3600 + 63, now + 3600 + 123, "src")
            .await
            .unwrap(),
        Claim::Won { look_since: None }
    );

    // An attempt whose outcome is unknown frees the claim at once, and the next one looks
    // from when the earliest unknown attempt began.
    assert_eq!(
        s.claim("u", "first", now, now + 60, "src").await.unwrap(),
        Claim::Won { look_since: None }
    );
    s.unknown("u", "first", now - 5, now + 1).await.unwrap();
    assert_eq!(
        s.claim("u", "second", now + 2, now + 62, "src")
            .await
            .unwrap(),
        Claim::Won {
            look_since: Some(now - 5)
        }
    );
    // A claim whose put was made but whose answer was lost is found to be ours; what it
    // replaced is not known, so it looks back as far as a claim can reach.
    assert_eq!(
        s.claim("u", "second", now + 3, now + 63, "src")
            .await
            .unwrap(),
        Claim::Won {
            look_since: Some(now + 3 - opswatch_delivery::config::LONGEST_CLAIM.as_secs() as i64)
        }
    );
}

#[tokio::test]
async fn alerts_of_one_thread_key_reply_to_the_first_and_the_parent_counts_them() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    for (i, source) in ["sns/a", "sns/b", "sns/c"].iter().enumerate() {
        let (out, r) = deliver(&d, notice(source, Some("111122223333/sg-1"), 1)).await;
        r.unwrap();
        assert_eq!(counts(&out), (1, 0), "alert {i}");
    }
    deliver(&d, notice("sns/other", Some("111122223333/sg-2"), 1))
        .await
        .1
        .unwrap();
    let m = w.slack.messages();
    assert_eq!(m.len(), 4);
    let parent = &m[0];
    assert_eq!(parent.thread_ts, None);
    assert_eq!(m[1].thread_ts.as_deref(), Some(parent.ts.as_str()));
    assert_eq!(m[2].thread_ts.as_deref(), Some(parent.ts.as_str()));
    assert_eq!(m[3].thread_ts, None, "another resource, another thread");
    // Edited twice; its content kept, the count last.
    assert_eq!(parent.edits.len(), 2);
    let text = parent.blocks.to_string();
    assert!(text.contains("2 more alerts in the thread"), "{text}");
    assert!(text.contains("alert from sns/a"), "{text}");
    assert_eq!(
        parent.edits[0]["blocks"].as_array().map(Vec::len),
        parent.blocks.as_array().map(Vec::len)
    );

    // A redelivered reply is not posted twice, nor counted twice.
    let (out, _) = deliver(&d, notice("sns/b", Some("111122223333/sg-1"), 1)).await;
    assert_eq!(counts(&out), (0, 1));
    assert_eq!(w.slack.messages()[0].edits.len(), 2);
}

#[tokio::test]
async fn a_long_threaded_alert_continues_in_its_own_thread() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    deliver(&d, notice("sns/long", Some("acct/r-1"), 200))
        .await
        .1
        .unwrap();
    let m = w.slack.messages();
    assert!(m.len() >= 4);
    assert!(
        m[1..]
            .iter()
            .all(|x| x.thread_ts.as_deref() == Some(m[0].ts.as_str()))
    );
    // Continuations are not "more alerts": the parent is not edited for them.
    assert!(m[0].edits.is_empty());
}

#[tokio::test]
async fn two_cold_starts_racing_make_one_parent_and_one_reply() {
    for round in 0..3 {
        let w = world().await;
        // The waiting side gives up after the retry budget + 2 s (then posts a parent of
        // its own, the documented fallback). A generous budget keeps a loaded machine (moto
        // answering one call at a time) from turning this race into that fallback; an
        // uncontended run takes milliseconds either way.
        let patient = [("SLACK_MAX_RETRY_SECONDS", "20")];
        let (a, b) = (w.delivery(&patient).await, w.delivery(&patient).await);
        // Slack takes a second over each call, so the parent's post is in flight while the
        // other alert comes for the thread.
        w.slack.delay(Duration::from_secs(1));
        let key = "111122223333/sg-race";
        let (ra, rb) = tokio::join!(
            deliver(&a, notice("sns/first", Some(key), 1)),
            deliver(&b, notice("sns/second", Some(key), 1)),
        );
        ra.1.unwrap();
        rb.1.unwrap();
        // The race happened: one side found the other's parent on its way and waited.
        assert_eq!(
            ra.0.parent_waits() + rb.0.parent_waits(),
            1,
            "round {round}: no overlap"
        );
        let m = w.slack.messages();
        let parents: Vec<_> = m.iter().filter(|x| x.thread_ts.is_none()).collect();
        assert_eq!((m.len(), parents.len()), (2, 1), "round {round}: {m:?}");
        let reply = m.iter().find(|x| x.thread_ts.is_some()).unwrap();
        assert_eq!(reply.thread_ts.as_deref(), Some(parents[0].ts.as_str()));
        assert_eq!(parents[0].edits.len(), 1, "round {round}");
    }
}

#[tokio::test]
async fn a_thread_ends_after_its_window_and_when_its_parent_is_deleted() {
    let w = world().await;
    let d = w.delivery(&[("THREAD_WINDOW", "1s")]).await;
    deliver(&d, notice("sns/1", Some("k"), 1)).await.1.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    deliver(&d, notice("sns/2", Some("k"), 1)).await.1.unwrap();
    let m = w.slack.messages();
    assert!(m.iter().all(|x| x.thread_ts.is_none()), "{m:?}");

    let d = w.delivery(&[]).await;
    deliver(&d, notice("sns/3", Some("j"), 1)).await.1.unwrap();
    let parent = w.slack.messages().last().unwrap().ts.clone();
    w.slack.delete(&parent);
    let (out, r) = deliver(&d, notice("sns/4", Some("j"), 1)).await;
    r.unwrap();
    assert_eq!(counts(&out), (1, 0));
    let last = w.slack.messages().last().unwrap().clone();
    assert_eq!(last.thread_ts, None, "a new parent");
    deliver(&d, notice("sns/5", Some("j"), 1)).await.1.unwrap();
    assert_eq!(w.slack.messages().last().unwrap().thread_ts, Some(last.ts));
}

/// A world whose DynamoDB is a closed loopback port: the table cannot be reached.
async fn no_table() -> World {
    World {
        _moto: Moto::start().expect("moto"),
        config: sdk("http://127.0.0.1:9").await,
        slack: SlackApiFake::start(DEMO_TOKEN).await.expect("fake Slack"),
    }
}

#[tokio::test]
async fn an_unreachable_table_fails_the_unit_and_posts_nothing() {
    let w = no_table().await;
    let d = w.delivery(&[]).await;
    let (out, r) = deliver(&d, notice("sns/x", Some("k"), 200)).await;
    let e = r.unwrap_err();
    assert!(matches!(e, DeliveryError::Failed(_)), "{e}");
    assert!(e.to_string().contains("DEDUPE_UNAVAILABLE=post"), "{e}");
    assert!(
        w.slack.messages().is_empty(),
        "nothing posted without a claim"
    );
    assert_eq!(out.messages_posted(), 0);
    assert_eq!(out.dedupe_unavailable(), 1, "counted, so the alarm sees it");
    // The next alert of the invocation fails at once, without waiting on the table again.
    let mut out2 = out;
    let r = d.deliver(notice("sns/y", None, 1), &mut out2).await;
    assert!(r.is_err());
    assert_eq!(out2.dedupe_unavailable(), 2);
}

#[tokio::test]
async fn dedupe_unavailable_post_posts_anyway_and_says_so() {
    let w = no_table().await;
    let d = w.delivery(&[("DEDUPE_UNAVAILABLE", "post")]).await;
    let (out, r) = deliver(&d, notice("sns/x", Some("k"), 200)).await;
    r.unwrap();
    let parts = w.slack.messages().len();
    assert!(parts >= 4);
    assert_eq!(out.messages_posted(), parts);
    // Every message was posted unguarded, and counted so.
    assert_eq!(out.dedupe_unavailable(), parts);
}

#[tokio::test]
async fn a_channel_that_does_not_exist_stops_at_once() {
    let w = world().await;
    let d = w.delivery(&[("SLACK_CHANNEL", "#nope")]).await;
    let started = Instant::now();
    let (mut out, r) = deliver(&d, notice("sns/y", None, 1)).await;
    let e = r.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(e, DeliveryError::Configuration(_)), "{e}");
    assert!(
        e.to_string().contains("channel_not_found") && e.to_string().contains("SLACK_CHANNEL"),
        "{e}"
    );
    assert_eq!(w.slack.calls().len(), 1);
    // The claim was released: once the setting is fixed, the retry posts.
    out.delivery_failed(0, None, &e);
    assert!(out.stopped());
    let fixed = w.delivery(&[]).await;
    let (out, r) = deliver(&fixed, notice("sns/y", None, 1)).await;
    r.unwrap();
    assert_eq!(counts(&out), (1, 0));
}

#[tokio::test]
async fn routes_send_each_alert_to_its_channel_or_drop_it() {
    let w = world().await;
    let d = w
        .delivery(&[(
            "SLACK_ROUTES",
            r##"[{"severity": "critical", "channel": "#security"},
                 {"account": "999999999999", "drop": true}]"##,
        )])
        .await;
    let critical = Notice::new(Alert::new("root", "root"), Severity::Critical, "sns/r1");
    deliver(&d, critical).await.1.unwrap();
    let info = Notice::new(Alert::new("tag", "tag"), Severity::Info, "sns/r2");
    deliver(&d, info).await.1.unwrap();
    let dropped = Notice::new(Alert::new("sandbox", "sandbox"), Severity::Info, "sns/r3")
        .account("999999999999");
    let (out, r) = deliver(&d, dropped).await;
    r.unwrap();
    assert_eq!(out.messages_posted(), 0);
    let names = |c: &str| -> Vec<String> {
        w.slack
            .channel_messages(c)
            .iter()
            .map(|m| m.text.clone())
            .collect()
    };
    assert_eq!(names("security"), ["[critical] root"]);
    assert_eq!(names("alerts"), ["[info] tag"]);
}

/// The key of an alert's first message, as the pipeline builds it (default route,
/// `alerts`).
fn first_key(source: &str) -> String {
    opswatch_delivery::keys::message(FUNCTION, source, "channel:alerts", 0)
}

#[tokio::test]
async fn a_message_whose_answer_was_lost_is_found_in_slack_and_not_posted_again() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    // Slack posts it and the answer never comes; the retry looks first and finds it.
    w.slack.script([ApiReply::Lost]);
    let (out, r) = deliver(&d, notice("sns/lost", None, 1)).await;
    r.unwrap();
    assert_eq!(w.slack.messages().len(), 1, "posted once");
    assert_eq!(out.looked_and_found(), (1, 1));
    assert_eq!(counts(&out), (0, 0), "found, not posted again");
    // And it is recorded: a redelivery does not look, it knows.
    let (out, r) = deliver(&d, notice("sns/lost", None, 1)).await;
    r.unwrap();
    assert_eq!((counts(&out), out.looked_and_found()), ((0, 1), (0, 0)));
    assert_eq!(w.slack.messages().len(), 1);
}

#[tokio::test]
async fn a_marker_forged_by_a_channel_member_does_not_stop_the_alert() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    let key = first_key("sns/forged");
    // A person who knows the key (it is in every message's metadata) posts it with a
    // signature of their own, and with one from another workspace's token.
    let other = opswatch_slack::BotToken::parse("xoxb-1111-2222-anotherworkspacetoken").unwrap();
    let theirs = opswatch_slack::marker::MarkKey::from_token(&other).metadata(&key);
    let mut bad = theirs.clone();
    bad["event_payload"]["sig"] = serde_json::json!("00".repeat(32));
    w.slack
        .post_as_person("C0ALERTS000", "not the alert", theirs);
    w.slack.post_as_person("C0ALERTS000", "not the alert", bad);
    // So is the app's own signature, copied into a person's message.
    let ours = opswatch_slack::marker::MarkKey::from_token(
        &opswatch_slack::BotToken::parse(DEMO_TOKEN).unwrap(),
    )
    .metadata(&key);
    w.slack
        .post_as_person("C0ALERTS000", "not the alert either", ours);
    // The post's answer is a 500: unknown, so it looks, finds only forgeries, and posts.
    w.slack.script([ApiReply::Status(500)]);
    let (out, r) = deliver(&d, notice("sns/forged", None, 1)).await;
    r.unwrap();
    assert_eq!(out.looked_and_found(), (1, 0));
    assert_eq!(counts(&out), (1, 0));
    let bots: Vec<_> = w
        .slack
        .messages()
        .into_iter()
        .filter(|m| m.bot_id.is_some())
        .collect();
    assert_eq!(bots.len(), 1, "the alert was posted");
    assert!(bots[0].text.contains("fallback"), "{:?}", bots[0]);
    // The forgeries carried the very key the alert was posted under.
    assert_eq!(bots[0].metadata["event_payload"]["key"], key.as_str());
}

#[tokio::test]
async fn without_history_scopes_a_lost_answer_is_posted_again_and_says_why() {
    let w = world().await;
    w.slack.scopes(&["chat:write"]);
    let d = w.delivery(&[]).await;
    w.slack.script([ApiReply::Lost]);
    let (out, r) = deliver(&d, notice("sns/noscope", None, 1)).await;
    r.unwrap();
    // It could not look: posted again (a duplicate, as with webhooks), never lost.
    assert_eq!(w.slack.messages().len(), 2);
    assert_eq!(counts(&out), (1, 0));
    let missing: Vec<_> = w
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.error.as_deref() == Some("missing_scope"))
        .collect();
    assert!(!missing.is_empty(), "it tried to look");
}

#[tokio::test]
async fn a_state_larger_than_one_item_is_split_and_read_back_whole() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    let keep = Duration::from_secs(3600);
    // About 1.2 MB, with multi-byte characters across the cuts.
    let big: String = (0..40_000)
        .map(|i| format!("{{\"é{i:06}\":\"ü-{i}\"}},"))
        .collect();
    assert!(big.len() > 3 * opswatch_delivery::store::STATE_PART);
    assert!(d.save_state("big", &big, None, keep).await.unwrap());
    let saved = d.load_state("big").await.unwrap().expect("saved");
    assert_eq!((saved.body == big, saved.version), (true, 1));
    // A second write from the same read loses, and the state stays whole.
    assert!(!d.save_state("big", "other", None, keep).await.unwrap());
    // The next version replaces it (small again), and the old parts are gone.
    assert!(d.save_state("big", "small", Some(1), keep).await.unwrap());
    let saved = d.load_state("big").await.unwrap().expect("saved");
    assert_eq!((saved.body.as_str(), saved.version), ("small", 2));
    let client = aws_sdk_dynamodb::Client::new(&w.config);
    let items = client.scan().table_name(TABLE).send().await.unwrap();
    let parts = items
        .items()
        .iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|k| k.contains("#part#"))
        })
        .count();
    // The replaced state's parts were deleted.
    assert_eq!(parts, 0);
}

#[tokio::test]
async fn a_crashed_posters_thread_is_given_back_when_slack_cannot_be_asked_and_found_later() {
    let w = world().await;
    let d = w.delivery(&[]).await;
    // A poster posted the parent, then crashed before recording the thread: its message
    // is in Slack, and the thread's claim (naming that message's key) is stale.
    deliver(&d, notice("sns/parent", None, 1)).await.1.unwrap();
    let parent = w.slack.messages()[0].clone();
    let store = Store::new(
        &w.config,
        TABLE.into(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let pk = opswatch_delivery::keys::thread(FUNCTION, "channel:alerts", "k");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let content =
        serde_json::to_string(&serde_json::json!({"text": "parent", "blocks": []})).unwrap();
    store
        .claim_thread(
            &pk,
            "crashed",
            now - 100,
            Duration::from_secs(3600),
            Duration::from_secs(6),
            (&first_key("sns/parent"), &content),
        )
        .await
        .unwrap();

    // The next alert takes the thread over, but Slack cannot be asked where the parent is:
    // nothing is posted (no second thread), the unit fails, the thread goes back as it was.
    let fresh = w.delivery(&[]).await;
    w.slack.always(ApiReply::Status(500));
    let (_, r) = deliver(&fresh, notice("sns/reply", Some("k"), 1)).await;
    assert!(matches!(r, Err(DeliveryError::Failed(_))), "{r:?}");
    w.slack.always(ApiReply::Normal);
    assert_eq!(
        w.slack.messages().len(),
        1,
        "nothing posted beside the parent"
    );

    // The retry finds the parent and replies under it.
    let (out, r) = deliver(&fresh, notice("sns/reply", Some("k"), 1)).await;
    r.unwrap();
    let m = w.slack.messages();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[1].thread_ts.as_deref(), Some(parent.ts.as_str()));
    assert_eq!(out.looked_and_found().0, 1);
}

#[tokio::test]
async fn a_thread_takeover_whose_answer_was_lost_still_knows_what_it_took_over() {
    let w = world().await;
    let store = Store::new(
        &w.config,
        TABLE.into(),
        Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (hour, takes) = (Duration::from_secs(3600), Duration::from_secs(6));
    use opswatch_delivery::store::ThreadClaim;
    assert_eq!(
        store
            .claim_thread(
                "t",
                "crashed",
                now - 100,
                hour,
                takes,
                ("k-crashed", "m-crashed")
            )
            .await
            .unwrap(),
        ThreadClaim::Parent
    );
    let expected = ThreadClaim::TakenOver {
        since: now - 100,
        started: now - 100,
        parent_key: Some("k-crashed".into()),
        message: Some("m-crashed".into()),
    };
    assert_eq!(
        store
            .claim_thread("t", "me", now, hour, takes, ("k-me", "m-me"))
            .await
            .unwrap(),
        expected
    );
    // The same call again, as after a lost answer: the claim is ours, and what it took
    // over is still known.
    assert_eq!(
        store
            .claim_thread("t", "me", now, hour, takes, ("k-me", "m-me"))
            .await
            .unwrap(),
        expected
    );
    // Someone else meanwhile waits.
    assert_eq!(
        store
            .claim_thread("t", "other", now + 1, hour, takes, ("k-o", "m-o"))
            .await
            .unwrap(),
        ThreadClaim::Pending { claimed_at: now }
    );
}

#[tokio::test]
async fn a_mute_holds_back_its_subjects_alerts_but_never_a_critical_one() {
    use opswatch_delivery::store::Mute;
    use opswatch_slack::actions::Scope;
    let w = world().await;
    let d = w
        .delivery(&[("ACTIONS", "on"), ("SLACK_SIGNING_SECRET", "local-signing")])
        .await;
    let store = Store::new(
        &w.config,
        TABLE.into(),
        Duration::from_secs(3600),
        Duration::from_secs(30),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // sg-1 muted for every rule; sg-3's mute has ended.
    for (subject, until) in [("acct/sg-1", now + 3600), ("acct/sg-3", now - 1)] {
        let scope = Scope::new(FUNCTION, None, subject);
        store
            .mute(&Mute {
                id: scope.id(),
                scope,
                until,
                by: "U0ONCALL01".into(),
                at: now - 10,
            })
            .await
            .expect("mute");
    }
    let mut out = Outcome::new("SNS record");
    for (source, subject, severity) in [
        ("sns/1", "acct/sg-1", Severity::Warning),
        ("sns/2", "acct/sg-2", Severity::Warning),
        ("sns/3", "acct/sg-1", Severity::Critical),
        ("sns/4", "acct/sg-3", Severity::Info),
    ] {
        let mut n = notice(source, Some(subject), 1).rule("configuration-change");
        n.severity = severity;
        d.deliver(n, &mut out).await.expect("delivered");
    }
    assert_eq!(out.muted(), 1);
    let posted = w.slack.messages();
    let texts: Vec<String> = posted.iter().map(|m| m.body().to_string()).collect();
    assert_eq!(posted.len(), 3, "{texts:#?}");
    assert!(
        !texts.iter().any(|t| t.contains("alert from sns/1")),
        "a muted alert was posted"
    );
    // Every alert carries the buttons; a critical one cannot be muted.
    for m in &posted {
        let blocks = m.blocks.to_string();
        assert!(blocks.contains("opswatch_ack"), "{blocks}");
        let critical = m.body().to_string().contains("alert from sns/3");
        assert_eq!(blocks.contains("opswatch_mute"), !critical, "{blocks}");
    }
    // Lifted: sg-1 posts again.
    let scope = Scope::new(FUNCTION, None, "acct/sg-1");
    assert!(
        store
            .unmute(&scope.id(), now)
            .await
            .expect("unmute")
            .is_some()
    );
    let mut out = Outcome::new("SNS record");
    d.deliver(notice("sns/5", Some("acct/sg-1"), 1), &mut out)
        .await
        .expect("delivered");
    assert_eq!((out.muted(), out.messages_posted()), (0, 1));
}

/// A notice that is version `v` of a long-lived subject (an AWS Health event's update).
fn version(source: &str, v: i64) -> Notice {
    let mut n = notice(source, Some("event-1"), 1);
    n.alert.header = format!("status v{v}");
    n.thread_lasts(Duration::from_secs(3600)).parent_version(v)
}

#[tokio::test]
async fn a_living_threads_parent_shows_its_newest_version_and_outlasts_the_window() {
    let w = world().await;
    let d = w.delivery(&[("THREAD_WINDOW", "1s")]).await;
    deliver(&d, version("health/v1", 1)).await.1.unwrap();
    // Past THREAD_WINDOW: the thread lasts as long as the notice says.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    deliver(&d, version("health/v3", 3)).await.1.unwrap();
    let header = |m: &opswatch_devkit::ApiMessage| m.blocks[0]["text"]["text"].to_string();
    let m = w.slack.messages();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].thread_ts.as_deref(), Some(m[0].ts.as_str()));
    assert!(header(&m[0]).contains("status v3"), "{}", header(&m[0]));
    assert!(
        m[0].blocks
            .to_string()
            .contains("1 more alert in the thread")
    );
    // An older version arriving late is a reply; the parent keeps the newest, with the count.
    deliver(&d, version("health/v2", 2)).await.1.unwrap();
    let m = w.slack.messages();
    assert_eq!(m.len(), 3);
    assert_eq!(m[2].thread_ts.as_deref(), Some(m[0].ts.as_str()));
    assert!(header(&m[0]).contains("status v3"), "{}", header(&m[0]));
    assert!(
        m[0].blocks
            .to_string()
            .contains("2 more alerts in the thread")
    );
    // A redelivered update posts nothing and changes nothing.
    let edits = m[0].edits.len();
    let (out, _) = deliver(&d, version("health/v3", 3)).await;
    assert_eq!(counts(&out), (0, 1));
    assert_eq!(w.slack.messages()[0].edits.len(), edits);
    // A notice without a version leaves the parent's content alone.
    let plain = notice("health/page-2", Some("event-1"), 1).thread_lasts(Duration::from_secs(3600));
    deliver(&d, plain).await.1.unwrap();
    let m = w.slack.messages();
    assert_eq!(m[3].thread_ts.as_deref(), Some(m[0].ts.as_str()));
    assert!(header(&m[0]).contains("status v3"), "{}", header(&m[0]));
    assert!(
        m[0].blocks
            .to_string()
            .contains("3 more alerts in the thread")
    );
}
