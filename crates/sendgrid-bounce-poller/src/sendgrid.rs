//! SendGrid's suppression lists (`GET /v3/suppression/bounces`, `/blocks`, `/spam_reports`,
//! `/invalid_emails`), all pages, rate limits honoured within one budget for the whole run.
//! The API key goes only into the `Authorization` header; it is never printed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One of SendGrid's suppression lists; they share `start_time`/`end_time`/`limit`/`offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum List {
    Bounces,
    Blocks,
    SpamReports,
    InvalidEmails,
}

impl List {
    pub const ALL: [List; 4] = [
        List::Bounces,
        List::Blocks,
        List::SpamReports,
        List::InvalidEmails,
    ];

    /// As the API's path and `SENDGRID_LISTS` name it (also the alert's rule).
    pub fn name(self) -> &'static str {
        match self {
            List::Bounces => "bounces",
            List::Blocks => "blocks",
            List::SpamReports => "spam_reports",
            List::InvalidEmails => "invalid_emails",
        }
    }

    /// Its count's name in the response and the summary line (`bounces`, `spamReports`).
    pub fn count_key(self) -> &'static str {
        match self {
            List::Bounces => "bounces",
            List::Blocks => "blocks",
            List::SpamReports => "spamReports",
            List::InvalidEmails => "invalidEmails",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name.trim())
    }

    /// `3 bounces`, `1 spam report`, `2 invalid addresses`.
    pub fn count(self, n: usize) -> String {
        let (one, many) = match self {
            List::Bounces => ("bounce", "bounces"),
            List::Blocks => ("block", "blocks"),
            List::SpamReports => ("spam report", "spam reports"),
            List::InvalidEmails => ("invalid address", "invalid addresses"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }

    /// The lists of `SENDGRID_LISTS` (comma-separated; default `bounces`), each once.
    pub fn parse_all(names: &[String]) -> Result<Vec<Self>, String> {
        if names.is_empty() {
            return Ok(vec![List::Bounces]);
        }
        let mut out = Vec::new();
        for n in names {
            let l = List::parse(n).ok_or_else(|| {
                format!("SENDGRID_LISTS: {n:?} is not one of bounces, blocks, spam_reports, invalid_emails")
            })?;
            if !out.contains(&l) {
                out.push(l);
            }
        }
        Ok(out)
    }
}

/// An entry of a suppression list as SendGrid lists it: bounces and blocks carry `reason`
/// and `status`, invalid emails `reason`, spam reports `ip`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Bounce {
    /// Unix seconds.
    pub created: i64,
    pub email: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
}

/// What a run has spent of its budgets: time waiting for SendGrid's rate limits
/// (`SENDGRID_RATE_LIMIT_BUDGET`) and pages read (`SENDGRID_MAX_PAGES`).
#[derive(Debug, Default)]
pub struct Spent {
    pub waited: Duration,
    pub pages: usize,
}

/// An API key: never printed (`Debug` shows `ApiKey(<redacted>)`).
#[derive(Clone, Debug)]
pub struct ApiKey(opswatch_support::Secret);

impl ApiKey {
    pub fn new(key: &str) -> Result<Self, String> {
        let key = key.trim();
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the SendGrid API key is empty or has spaces in it".into());
        }
        Ok(Self(opswatch_support::Secret::new(key)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendGridError {
    #[error(
        "SendGrid refused the API key (HTTP {0}): check SENDGRID_API_KEY or the secret SENDGRID_API_KEY_SECRET_ARN names; the key needs read access to suppressions"
    )]
    Unauthorized(u16),
    #[error(
        "SendGrid kept answering 429 (rate limited): waiting {0:?} more would pass the run's budget of {1:?} in all; the next run catches up"
    )]
    RateLimited(Duration, Duration),
    #[error("SendGrid answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("SendGrid could not be reached: {0}")]
    Transport(String),
    #[error("SendGrid's answer is not a list of suppressions ({0})")]
    Decode(String),
    #[error(
        "one window holds more than SENDGRID_MAX_PAGES ({0}) pages of entries: lower MAX_WINDOW or raise SENDGRID_MAX_PAGES"
    )]
    TooManyPages(usize),
}

impl SendGridError {
    pub fn is_configuration(&self) -> bool {
        matches!(self, SendGridError::Unauthorized(_))
    }

    /// The run's page budget is spent: what was read so far is posted, the rest next run.
    pub fn is_page_cap(&self) -> bool {
        matches!(self, SendGridError::TooManyPages(_))
    }
}

pub struct SendGrid {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    /// Page size (`limit`); SendGrid allows up to 500.
    pub page_size: usize,
    /// The longest total wait for rate limits in one run, across pages and lists.
    pub max_wait: Duration,
    /// Pages read at most in one run, across lists and windows (`SENDGRID_MAX_PAGES`).
    pub max_pages: usize,
}

impl SendGrid {
    pub fn new(base: &str, key: ApiKey) -> Result<Self, String> {
        // The API key goes to this URL: never in clear text across a network.
        opswatch_support::credential_url(base)
            .map_err(|why| format!("SENDGRID_API_URL: the URL {why}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent("opswatch-sendgrid-bounce-poller")
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.trim().trim_end_matches('/').to_owned(),
            key,
            page_size: 500,
            max_wait: Duration::from_secs(20),
            max_pages: 100,
        })
    }

    /// Every entry of `list` created in `[start, end_inclusive]` (SendGrid's times are
    /// inclusive), oldest first; rate-limit waits and pages count against `spent`.
    pub async fn list(
        &self,
        list: List,
        start: i64,
        end_inclusive: i64,
        spent: &mut Spent,
    ) -> Result<Vec<Bounce>, SendGridError> {
        let mut all = Vec::new();
        let mut offset = 0usize;
        loop {
            if spent.pages >= self.max_pages {
                return Err(SendGridError::TooManyPages(self.max_pages));
            }
            spent.pages += 1;
            let page = self.page(list, start, end_inclusive, offset, spent).await?;
            let n = page.len();
            all.extend(page);
            if n < self.page_size {
                break;
            }
            offset += n;
        }
        all.sort_by(|a, b| (a.created, &a.email).cmp(&(b.created, &b.email)));
        all.dedup();
        Ok(all)
    }

    async fn page(
        &self,
        list: List,
        start: i64,
        end: i64,
        offset: usize,
        spent: &mut Spent,
    ) -> Result<Vec<Bounce>, SendGridError> {
        loop {
            let response = self
                .http
                .get(format!(
                    "{}/v3/suppression/{}?start_time={start}&end_time={end}&limit={}&offset={offset}",
                    self.base,
                    list.name(),
                    self.page_size
                ))
                .bearer_auth(self.key.0.expose())
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| SendGridError::Transport(opswatch_support::error_chain(&e.without_url())))?;
            let status = response.status().as_u16();
            match status {
                200 => {
                    let body = response.bytes().await.map_err(|e| {
                        SendGridError::Transport(opswatch_support::error_chain(&e.without_url()))
                    })?;
                    return parse_page(&body);
                }
                401 | 403 => return Err(SendGridError::Unauthorized(status)),
                429 => {
                    let wait = reset_wait(response.headers());
                    if spent.waited + wait > self.max_wait {
                        return Err(SendGridError::RateLimited(wait, self.max_wait));
                    }
                    tracing::info!(
                        list = list.name(),
                        wait_ms = wait.as_millis() as u64,
                        waited_ms = spent.waited.as_millis() as u64,
                        "SendGrid rate limit; waiting for its reset"
                    );
                    tokio::time::sleep(wait).await;
                    spent.waited += wait;
                }
                _ => {
                    let body = response.text().await.unwrap_or_default();
                    return Err(SendGridError::Http {
                        status,
                        body: opswatch_slack::one_line(&body, 200),
                    });
                }
            }
        }
    }
}

/// One page of `GET /v3/suppression/<list>`: a JSON array of entries (pure).
pub fn parse_page(body: &[u8]) -> Result<Vec<Bounce>, SendGridError> {
    serde_json::from_slice(body).map_err(|e| SendGridError::Decode(e.to_string()))
}

/// How long until `X-RateLimit-Reset` (unix seconds); a second when it is missing or past.
fn reset_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), |reset| {
            Duration::from_secs(reset.saturating_sub(now).clamp(1, 60))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opswatch_support::testing::mutate;
    use proptest::prelude::*;
    use serde_json::Value;

    /// A page as SendGrid documents it.
    const PAGE: &str = r#"[
      {"created": 1443651125, "email": "testemail1@test.com", "reason": "550 5.1.1 The email account that you tried to reach does not exist.", "status": "5.1.1"},
      {"created": 1443651141, "email": "testemail2@test.com", "reason": "550 5.1.1 <https://x|y> & <!channel>", "status": "5.1.1"}
    ]"#;

    #[test]
    fn lists_by_name() {
        assert_eq!(List::parse_all(&[]).unwrap(), [List::Bounces]);
        let names: Vec<String> = ["bounces", " spam_reports", "bounces", "invalid_emails"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            List::parse_all(&names).unwrap(),
            [List::Bounces, List::SpamReports, List::InvalidEmails]
        );
        assert!(
            List::parse_all(&["spam".into()])
                .unwrap_err()
                .contains("\"spam\"")
        );
        assert_eq!(List::SpamReports.count(1), "1 spam report");
        assert_eq!(List::InvalidEmails.count(2), "2 invalid addresses");
    }

    /// A spam report and an invalid email as SendGrid documents them.
    #[test]
    fn each_list_has_its_shape() {
        let spam = parse_page(
            br#"[{"created": 1443651141, "email": "user1@example.com", "ip": "10.63.202.100"}]"#,
        )
        .unwrap();
        assert_eq!(
            (spam[0].ip.as_str(), spam[0].reason.as_str()),
            ("10.63.202.100", "")
        );
        let invalid = parse_page(br#"[{"created": 1443651141, "email": "user1@example", "reason": "Mail domain mentioned in email address is unknown"}]"#).unwrap();
        assert_eq!(invalid[0].status, "");
    }

    #[test]
    fn the_documented_page() {
        let page = parse_page(PAGE.as_bytes()).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[1].email, "testemail2@test.com");
        assert!(matches!(
            parse_page(br#"{"errors":[{"message":"x"}]}"#),
            Err(SendGridError::Decode(_))
        ));
    }

    /// A field's value as sent: what it is when right, or something of the wrong type.
    #[derive(Clone, Debug)]
    enum Field<T> {
        Right(T),
        Absent,
        Wrong(Value),
    }

    fn field<T: std::fmt::Debug + Clone + 'static>(
        right: impl Strategy<Value = T> + 'static,
    ) -> impl Strategy<Value = Field<T>> {
        prop_oneof![
            6 => right.prop_map(Field::Right),
            1 => Just(Field::Absent),
            1 => prop_oneof![
                Just(Value::Null),
                Just(serde_json::json!(1.5)),
                Just(serde_json::json!(["x"])),
                Just(serde_json::json!({"a": 1})),
                Just(serde_json::json!(true)),
                Just(serde_json::json!("1443651125")),
                Just(serde_json::json!(18446744073709551615u64)),
            ]
            .prop_map(Field::Wrong),
        ]
    }

    /// Text as SendGrid may hold it: SMTP replies, addresses, Slack's control characters, long
    /// lines, any script.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("550 5.1.1 The email account that you tried to reach does not exist.".to_owned()),
            Just("<!channel> & <https://evil.example|click> *bold*".to_owned()),
            "[a-z0-9.+_-]{1,20}@[a-z0-9-]{1,15}\\.(com|io|example)",
            "\\PC{0,80}",
            // Long (100 to 2,000 characters), cheaply.
            "\\PC{1,20}".prop_map(|s| s.repeat(100)),
        ]
    }

    /// One entry: its JSON, and the Bounce it must parse to (`None`: the page must fail).
    fn entry() -> impl Strategy<Value = (Value, Option<Bounce>)> {
        (
            field(any::<i64>()),
            field(text()),
            field(text()),
            field(text()),
            field(text()),
            proptest::option::of(any::<u32>()),
        )
            .prop_map(|(created, email, reason, status, ip, group)| {
                let mut json = serde_json::Map::new();
                let mut ok = true;
                let mut put = |name: &str, f: &Field<Value>, required: bool| match f {
                    Field::Right(v) => {
                        json.insert(name.to_owned(), v.clone());
                    }
                    Field::Absent => ok &= !required,
                    Field::Wrong(v) => {
                        json.insert(name.to_owned(), v.clone());
                        ok = false;
                    }
                };
                let as_json = |f: &Field<String>| match f {
                    Field::Right(s) => Field::Right(Value::String(s.clone())),
                    Field::Absent => Field::Absent,
                    // A string is the right type for the text fields.
                    Field::Wrong(Value::String(s)) => Field::Right(Value::String(s.clone())),
                    Field::Wrong(v) => Field::Wrong(v.clone()),
                };
                let created_json = match &created {
                    Field::Right(n) => Field::Right(serde_json::json!(n)),
                    Field::Absent => Field::Absent,
                    Field::Wrong(v) => Field::Wrong(v.clone()),
                };
                put("created", &created_json, true);
                put("email", &as_json(&email), true);
                put("reason", &as_json(&reason), false);
                put("status", &as_json(&status), false);
                put("ip", &as_json(&ip), false);
                if let Some(g) = group {
                    // A field opswatch does not read (suppression groups): ignored.
                    json.insert("group_id".to_owned(), serde_json::json!(g));
                }
                let text = |f: Field<Value>| match f {
                    Field::Right(Value::String(s)) => s,
                    _ => String::new(),
                };
                let bounce = ok.then(|| Bounce {
                    created: match created {
                        Field::Right(n) => n,
                        _ => 0,
                    },
                    email: text(as_json(&email)),
                    reason: text(as_json(&reason)),
                    status: text(as_json(&status)),
                    ip: text(as_json(&ip)),
                });
                (Value::Object(json), bounce)
            })
    }

    /// Whatever parses renders within Slack's limits, every bounce once.
    fn renders(page: &[Bounce]) -> Result<(), TestCaseError> {
        for mask in [false, true] {
            let messages = crate::render::bounces(page, 0, 600, mask).into_messages();
            for m in &messages {
                prop_assert_eq!(m.limit_violation(), None);
            }
            let lines: usize = messages
                .iter()
                .flat_map(|m| &m.blocks)
                .map(|b| match b {
                    opswatch_slack::Block::Section { text: Some(t), .. } => {
                        t.text.lines().filter(|l| l.starts_with("• ")).count()
                    }
                    _ => 0,
                })
                .sum();
            prop_assert_eq!(lines, page.len());
        }
        Ok(())
    }

    proptest! {
        /// Pages shaped like SendGrid's, entry by entry: each field present and right, absent,
        /// or of the wrong type, plus fields we do not read. A page parses exactly when every
        /// entry has an integer `created` and a string `email` and its other fields are
        /// strings when present; then every entry comes back as sent (absent text empty), in
        /// order, and renders within Slack's limits, once.
        #[test]
        fn pages_parse_exactly_when_every_entry_has_the_documented_shape(
            entries in proptest::collection::vec(entry(), 0..40),
            wrap in 0u8..8,
        ) {
            let array: Vec<Value> = entries.iter().map(|(json, _)| json.clone()).collect();
            // Now and then not an array at all: SendGrid's error object, or one entry alone.
            let body = match wrap {
                0 => serde_json::json!({"errors": [{"field": null, "message": "access forbidden"}]}),
                1 if !array.is_empty() => array[0].clone(),
                _ => Value::Array(array),
            };
            let expected: Option<Vec<Bounce>> = match &body {
                Value::Array(_) => entries.iter().map(|(_, b)| b.clone()).collect(),
                _ => None,
            };
            let parsed = parse_page(body.to_string().as_bytes());
            match (parsed, expected) {
                (Ok(page), Some(expected)) => {
                    prop_assert_eq!(&page, &expected);
                    renders(&page)?;
                }
                (Err(SendGridError::Decode(_)), None) => {}
                (got, want) => prop_assert!(false, "{body}: parsed {got:?}, expected {want:?}"),
            }
        }

        #[test]
        fn mutated_pages_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
        ) {
            if let Ok(page) = parse_page(&mutate(PAGE.as_bytes(), &edits)) {
                renders(&page)?;
            }
        }

        #[test]
        fn any_bounce_renders_within_limits(
            page in proptest::collection::vec(
                (any::<i64>(), "\\PC{0,300}", "\\PC{0,20}", "\\PC{0,2000}"),
                0..80,
            )
        ) {
            let page: Vec<Bounce> = page
                .into_iter()
                .map(|(created, email, status, reason)| Bounce { created, email, status, reason, ip: String::new() })
                .collect();
            let json = serde_json::to_vec(&page).unwrap();
            prop_assert_eq!(parse_page(&json).unwrap(), page.clone());
            renders(&page)?;
        }
    }
}
