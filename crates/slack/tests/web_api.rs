//! The Slack client against the local fakes: the Web API's `ok: false` answers sorted into
//! retry, configuration error and refusal; the token in the header only; webhooks as before.

use std::time::{Duration, Instant};

use opswatch_devkit::slack_api::{ApiReply, DEMO_TOKEN, SlackApiFake};
use opswatch_devkit::{Reply, SlackFake};
use opswatch_slack::{
    Alert, BotToken, Message, Mrkdwn, RetryPolicy, Slack, SlackError, Target, WebhookUrl,
};

fn message(text: &str) -> Message {
    Alert::new(text, text)
        .lines(vec![Mrkdwn::text("a line")])
        .into_messages()
        .remove(0)
}

fn client(api: &SlackApiFake, token: &str, budget_ms: u64) -> Slack {
    let retry = RetryPolicy {
        budget: Duration::from_millis(budget_ms),
        initial_backoff: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    Slack::new(retry)
        .expect("a client")
        .with_token(BotToken::parse(token).expect("a token"), &api.url())
}

fn alerts() -> Target {
    Target::channel("#alerts", "SLACK_CHANNEL")
}

#[tokio::test]
async fn posts_and_threads_with_the_token_in_the_header_only() {
    let api = SlackApiFake::start(DEMO_TOKEN).await.unwrap();
    let slack = client(&api, DEMO_TOKEN, 3000);
    let parent = slack
        .post(&alerts(), &message("first"), None)
        .await
        .unwrap();
    assert_eq!(parent.channel.as_deref(), Some("C0ALERTS000"));
    let ts = parent.ts.clone().unwrap();
    let reply = slack
        .post(&alerts(), &message("second"), Some(&ts))
        .await
        .unwrap();
    assert_ne!(reply.ts, parent.ts);
    slack
        .update(
            "C0ALERTS000",
            &ts,
            &message("first, edited"),
            "SLACK_CHANNEL",
        )
        .await
        .unwrap();
    let messages = api.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].text, "first, edited");
    assert_eq!(messages[0].edits.len(), 1);
    assert_eq!(messages[1].thread_ts.as_deref(), Some(ts.as_str()));
    for call in api.calls() {
        assert_eq!(
            call.authorization.as_deref(),
            Some(format!("Bearer {DEMO_TOKEN}").as_str())
        );
        assert!(!call.body.contains(DEMO_TOKEN), "{}", call.body);
        // Links in alerts are not unfurled into previews.
        if call.method == "chat.postMessage" {
            assert!(
                call.body.contains("\"unfurl_links\":false"),
                "{}",
                call.body
            );
        }
    }
}

/// A configuration error: one line naming Slack's code and the setting, at once, no retry.
async fn setup_error(api: &SlackApiFake, slack: &Slack, target: &Target) -> (String, String) {
    let calls = api.calls().len();
    let started = Instant::now();
    let e = slack
        .post(target, &message("x"), None)
        .await
        .expect_err("a configuration error");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(api.calls().len(), calls + 1, "retried: {e}");
    assert!(e.is_configuration(), "{e}");
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(!text.contains(DEMO_TOKEN), "{text}");
    (e.code().unwrap_or_default().to_owned(), text)
}

#[tokio::test]
async fn configuration_errors_name_the_code_and_the_setting() {
    let api = SlackApiFake::start(DEMO_TOKEN).await.unwrap();
    api.add_channel("C0PRIVATE00", "private", false, false);
    api.add_channel("C0OLD000000", "old", true, true);
    let slack = client(&api, DEMO_TOKEN, 3000);

    let (code, text) = setup_error(&api, &slack, &Target::channel("#nope", "SLACK_CHANNEL")).await;
    assert_eq!(code, "channel_not_found");
    assert!(text.contains("fix SLACK_CHANNEL"), "{text}");

    let route = Target::channel("private", "SLACK_ROUTES[1].channel");
    let (code, text) = setup_error(&api, &slack, &route).await;
    assert_eq!(code, "not_in_channel");
    assert!(
        text.contains("invite it there") && text.contains("SLACK_ROUTES[1].channel"),
        "{text}"
    );

    let (code, _) = setup_error(&api, &slack, &Target::channel("old", "SLACK_CHANNEL")).await;
    assert_eq!(code, "is_archived");

    let wrong = client(&api, "xoxb-not-the-right-token", 3000);
    let (code, text) = setup_error(&api, &wrong, &alerts()).await;
    assert_eq!(code, "invalid_auth");
    assert!(text.contains("SLACK_BOT_TOKEN"), "{text}");

    api.script([ApiReply::Error("missing_scope")]);
    let (code, text) = setup_error(&api, &slack, &alerts()).await;
    assert_eq!(code, "missing_scope");
    assert!(text.contains("chat:write"), "{text}");

    api.revoke_token();
    let (code, _) = setup_error(&api, &slack, &alerts()).await;
    assert_eq!(code, "token_revoked");
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_refusals_are_not() {
    let api = SlackApiFake::start(DEMO_TOKEN).await.unwrap();
    let slack = client(&api, DEMO_TOKEN, 5000);

    // HTTP 429 with Retry-After: 1 s, then `ratelimited` as ok:false, then internal_error.
    api.script([
        ApiReply::RateLimited(1),
        ApiReply::Error("internal_error"),
        ApiReply::Status(503),
    ]);
    let started = Instant::now();
    let posted = slack.post(&alerts(), &message("x"), None).await.unwrap();
    assert_eq!(posted.attempts, 4);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(api.messages().len(), 1);

    // A refusal: not retried, not a configuration error, its code available.
    api.script([ApiReply::Error("invalid_blocks")]);
    let calls = api.calls().len();
    let e = slack
        .post(&alerts(), &message("x"), None)
        .await
        .unwrap_err();
    assert_eq!(api.calls().len(), calls + 1);
    assert!(!e.is_configuration() && !e.is_transient(), "{e}");
    assert_eq!(e.code(), Some("invalid_blocks"));

    // A reply to a message that is not there.
    let e = slack
        .post(&alerts(), &message("x"), Some("1.000000"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("invalid_thread_ts"));
    // chat.update needs the channel's id, and a message that exists.
    let e = slack
        .update("alerts", "1.0", &message("x"), "SLACK_CHANNEL")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("channel_not_found"));
    let e = slack
        .update("C0ALERTS000", "1.0", &message("x"), "SLACK_CHANNEL")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("message_not_found"));

    // Slack down for longer than the budget: gives up, transient.
    api.always(ApiReply::Error("service_unavailable"));
    let short = client(&api, DEMO_TOKEN, 600);
    let e = short
        .post(&alerts(), &message("x"), None)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e, SlackError::GaveUp { .. }), "{e}");
}

#[tokio::test]
async fn webhooks_post_as_before_and_a_removed_webhook_is_a_setup_error() {
    let hook = SlackFake::start().await.unwrap();
    let slack = Slack::new(RetryPolicy::default()).unwrap();
    let target = Target::Webhook(WebhookUrl::parse(&hook.url()).unwrap());
    let posted = slack.post(&target, &message("x"), None).await.unwrap();
    assert_eq!((posted.attempts, posted.ts), (1, None));
    assert_eq!(hook.received().len(), 1);

    let gone = Target::Webhook(WebhookUrl::parse(&format!("{}-removed", hook.url())).unwrap());
    let e = slack.post(&gone, &message("x"), None).await.unwrap_err();
    assert!(e.is_configuration(), "{e}");
    assert!(e.to_string().contains("no_service"), "{e}");
    assert!(!e.to_string().contains(&hook.url()), "{e}");

    hook.script([Reply::rate_limited(0)]);
    assert_eq!(
        slack
            .post(&target, &message("x"), None)
            .await
            .unwrap()
            .attempts,
        2
    );

    // A channel without a token is our own configuration error, found before any request.
    let e = slack
        .post(&alerts(), &message("x"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, SlackError::Config(_)), "{e}");
}
