//! Block Kit messages for incoming webhooks, kept inside Slack's limits.
//!
//! A function describes what it wants to say as an [`Alert`] (header, fields, body lines,
//! context); [`Alert::into_messages`] lays it out as one or more webhook bodies. Nothing is
//! dropped: a body longer than one message continues in the next ("(2/3)" in the header), and
//! only a single line longer than a whole section is cut, visibly.

use serde::{Deserialize, Serialize};

use crate::mrkdwn::{Mrkdwn, truncate_plain};

/// Room every message keeps for each note added after it was posted (a thread parent's "3
/// more in the thread", "Acknowledged by …"): characters of block text. The layout keeps
/// room for two such notes, and two blocks (a note, the buttons).
pub const NOTE_ROOM: usize = 120;

/// Slack's documented limits, and the practical one on total block text.
pub mod limits {
    /// `text` of a section block.
    pub const SECTION_TEXT: usize = 3000;
    /// One field of a section block.
    pub const FIELD_TEXT: usize = 2000;
    /// Fields per section block.
    pub const FIELDS_PER_SECTION: usize = 10;
    /// `text` of a header block (plain_text).
    pub const HEADER_TEXT: usize = 150;
    /// Elements of a context block.
    pub const CONTEXT_ELEMENTS: usize = 10;
    /// Blocks per message.
    pub const BLOCKS: usize = 50;
    /// Beyond roughly this much block text Slack answers `msg_blocks_too_long`.
    pub const MESSAGE_TEXT: usize = 12_000;
    /// Elements of an actions block.
    pub const ACTION_ELEMENTS: usize = 25;
    /// The top-level `text` fallback (notifications, screen readers).
    pub const FALLBACK_TEXT: usize = 3000;
}

/// A message body: the `text` fallback plus `blocks` (an incoming-webhook body as it is; the
/// Web API adds the channel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub text: String,
    pub blocks: Vec<Block>,
}

impl Message {
    /// This message with `note` added at the end (before its buttons), in its last context
    /// block when that has room, else in a new one. The layout keeps room for it
    /// ([`NOTE_ROOM`]), so the result is within Slack's limits whenever the message was.
    pub fn with_note(&self, note: &Mrkdwn) -> Message {
        let mut m = self.clone();
        let element = MrkdwnText::new(note.truncated(NOTE_ROOM));
        // Before the buttons, if the message has them.
        let at = m
            .blocks
            .iter()
            .rposition(|b| !matches!(b, Block::Actions { .. }))
            .map_or(0, |i| i + 1);
        match at.checked_sub(1).and_then(|i| m.blocks.get_mut(i)) {
            Some(Block::Context { elements }) if elements.len() < limits::CONTEXT_ELEMENTS => {
                elements.push(element)
            }
            _ => m.blocks.insert(
                at,
                Block::Context {
                    elements: vec![element],
                },
            ),
        }
        m
    }

    /// This message with `block` (an actions block) at its end.
    pub fn with_actions(&self, block: Block) -> Message {
        let mut m = self.clone();
        m.blocks.push(block);
        m
    }

    /// Whether the message carries opswatch's alert buttons.
    pub fn has_actions(&self) -> bool {
        self.blocks.iter().any(|b| {
            matches!(b, Block::Actions { block_id, .. } if block_id == crate::actions::BLOCK_ID)
        })
    }

    /// The message as it stands once acknowledged: its buttons gone, and `note`
    /// ("Acknowledged by … at …") in a context block of its own at the end.
    pub fn acknowledged(&self, note: &Mrkdwn) -> Message {
        let mut m = self.clone();
        m.blocks.retain(|b| !matches!(b, Block::Actions { .. }));
        m.blocks.push(Block::Context {
            elements: vec![MrkdwnText::new(note.truncated(NOTE_ROOM))],
        });
        m
    }

    /// The first of Slack's limits this message breaks, if any: for tests that check every
    /// message a function could send.
    pub fn limit_violation(&self) -> Option<String> {
        use limits::*;
        let chars = |s: &str| s.chars().count();
        if self.blocks.len() > BLOCKS {
            return Some(format!("{} blocks (at most {BLOCKS})", self.blocks.len()));
        }
        if chars(&self.text) > FALLBACK_TEXT {
            return Some(format!(
                "a fallback text of {} characters",
                chars(&self.text)
            ));
        }
        let total: usize = self.blocks.iter().map(Block::text_len).sum();
        if total > MESSAGE_TEXT {
            return Some(format!(
                "{total} characters of block text (at most {MESSAGE_TEXT})"
            ));
        }
        for (i, b) in self.blocks.iter().enumerate() {
            let broken = match b {
                Block::Header { text } => (chars(&text.text) > HEADER_TEXT).then_some("header"),
                Block::Section { text, fields } => {
                    if text.as_ref().is_some_and(|t| chars(&t.text) > SECTION_TEXT) {
                        Some("section text")
                    } else if fields.len() > FIELDS_PER_SECTION {
                        Some("number of fields")
                    } else if fields.iter().any(|f| chars(&f.text) > FIELD_TEXT) {
                        Some("field")
                    } else {
                        None
                    }
                }
                Block::Context { elements } => {
                    (elements.len() > CONTEXT_ELEMENTS).then_some("context elements")
                }
                Block::Divider => None,
                Block::Actions { elements, .. } => (elements.is_empty()
                    || elements.len() > limits::ACTION_ELEMENTS)
                    .then_some("actions elements"),
            };
            if let Some(what) = broken {
                return Some(format!("block {i}: its {what} is over Slack's limit"));
            }
        }
        None
    }
}

/// The Block Kit blocks opswatch uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: PlainText,
    },
    Section {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<MrkdwnText>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<MrkdwnText>,
    },
    Context {
        elements: Vec<MrkdwnText>,
    },
    Divider,
    /// Interactive elements (buttons, selects), as Block Kit takes them: see
    /// [`crate::actions`].
    Actions {
        block_id: String,
        elements: Vec<serde_json::Value>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlainText {
    #[serde(rename = "type")]
    kind: String,
    pub text: String,
    emoji: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MrkdwnText {
    #[serde(rename = "type")]
    kind: String,
    pub text: String,
}

impl MrkdwnText {
    fn new(m: Mrkdwn) -> Self {
        Self {
            kind: "mrkdwn".to_owned(),
            text: m.into_string(),
        }
    }
}

impl Block {
    fn header(text: &str) -> Self {
        Block::Header {
            text: PlainText {
                kind: "plain_text".to_owned(),
                text: truncate_plain(text, limits::HEADER_TEXT),
                emoji: true,
            },
        }
    }

    fn section(text: Mrkdwn) -> Self {
        Block::Section {
            text: Some(MrkdwnText::new(text)),
            fields: Vec::new(),
        }
    }

    /// Characters of text this block contributes to the message.
    pub fn text_len(&self) -> usize {
        match self {
            Block::Header { text } => text.text.chars().count(),
            Block::Section { text, fields } => text
                .iter()
                .chain(fields)
                .map(|t| t.text.chars().count())
                .sum(),
            Block::Context { elements } => elements.iter().map(|t| t.text.chars().count()).sum(),
            Block::Divider | Block::Actions { .. } => 0,
        }
    }
}

/// A body part of an alert.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// mrkdwn lines, packed into as few sections as fit.
    Lines(Vec<Mrkdwn>),
    /// Lines of outside text shown preformatted (```), e.g. a diff.
    Code(Vec<String>),
}

/// What a function wants to say; laid out by [`Alert::into_messages`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alert {
    /// Plain-text notification fallback (outside text allowed: it is escaped).
    pub fallback: String,
    /// Header (plain text, cut to 150 characters).
    pub header: String,
    /// Label/value pairs shown as section fields; values are safe mrkdwn.
    pub fields: Vec<(&'static str, Mrkdwn)>,
    pub body: Vec<Body>,
    /// Context line(s) shown small at the bottom of every message (links, times).
    pub context: Vec<Mrkdwn>,
}

impl Alert {
    pub fn new(header: impl Into<String>, fallback: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            fallback: fallback.into(),
            ..Self::default()
        }
    }

    pub fn field(mut self, label: &'static str, value: Mrkdwn) -> Self {
        if !value.is_empty() {
            self.fields.push((label, value));
        }
        self
    }

    pub fn lines(mut self, lines: Vec<Mrkdwn>) -> Self {
        if !lines.is_empty() {
            self.body.push(Body::Lines(lines));
        }
        self
    }

    pub fn code(mut self, lines: Vec<String>) -> Self {
        if !lines.is_empty() {
            self.body.push(Body::Code(lines));
        }
        self
    }

    pub fn context(mut self, element: Mrkdwn) -> Self {
        if !element.is_empty() {
            self.context.push(element);
        }
        self
    }

    /// Lay the alert out as webhook bodies within Slack's limits.
    pub fn into_messages(self) -> Vec<Message> {
        let context = context_block(&self.context);
        let context_len = context.as_ref().map_or(0, Block::text_len);
        let mut head = field_sections(&self.fields);
        let mut body: Vec<Block> = Vec::new();
        for part in &self.body {
            body.extend(body_sections(part));
        }

        // Room in each message for the body, after its header and context.
        let header_len = limits::HEADER_TEXT;
        let fixed_blocks = 1 + usize::from(context.is_some());
        let mut pages: Vec<Vec<Block>> = Vec::new();
        let mut page: Vec<Block> = std::mem::take(&mut head);
        let mut page_len: usize = page.iter().map(Block::text_len).sum();
        for block in body {
            let len = block.text_len();
            // Two blocks (a note added later, the buttons) and NOTE_ROOM characters of
            // text stay free.
            let full = page.len() + fixed_blocks + 1 > limits::BLOCKS - 2
                || header_len + context_len + page_len + len > limits::MESSAGE_TEXT - 2 * NOTE_ROOM;
            if full && !page.is_empty() {
                pages.push(std::mem::take(&mut page));
                page_len = 0;
            }
            page_len += len;
            page.push(block);
        }
        pages.push(page);

        let total = pages.len();
        let fallback = Mrkdwn::text(&self.fallback);
        pages
            .into_iter()
            .enumerate()
            .map(|(i, page)| {
                let suffix = if total > 1 {
                    format!(" ({}/{total})", i + 1)
                } else {
                    String::new()
                };
                let mut header =
                    truncate_plain(&self.header, limits::HEADER_TEXT - suffix.chars().count());
                header.push_str(&suffix);
                let mut text = fallback
                    .truncated(limits::FALLBACK_TEXT - suffix.len())
                    .into_string();
                text.push_str(&suffix);
                let mut blocks = Vec::with_capacity(page.len() + 2);
                blocks.push(Block::header(&header));
                blocks.extend(page);
                blocks.extend(context.clone());
                Message { text, blocks }
            })
            .collect()
    }
}

fn context_block(elements: &[Mrkdwn]) -> Option<Block> {
    if elements.is_empty() {
        return None;
    }
    let per = limits::SECTION_TEXT / elements.len().min(limits::CONTEXT_ELEMENTS);
    Some(Block::Context {
        elements: elements
            .iter()
            .take(limits::CONTEXT_ELEMENTS)
            .map(|e| MrkdwnText::new(e.truncated(per)))
            .collect(),
    })
}

fn field_sections(fields: &[(&'static str, Mrkdwn)]) -> Vec<Block> {
    fields
        .chunks(limits::FIELDS_PER_SECTION)
        .map(|chunk| Block::Section {
            text: None,
            fields: chunk
                .iter()
                .map(|(label, value)| {
                    let mut m = Mrkdwn::new();
                    m.push_bold(label).push_trusted("\n");
                    let room = limits::FIELD_TEXT - m.chars();
                    m.push_mrkdwn(&value.truncated(room));
                    MrkdwnText::new(m)
                })
                .collect(),
        })
        .collect()
}

fn body_sections(body: &Body) -> Vec<Block> {
    match body {
        Body::Lines(lines) => pack(lines.iter().cloned(), "", ""),
        Body::Code(lines) => pack(lines.iter().map(|l| Mrkdwn::code_line(l)), "```\n", "\n```"),
    }
}

/// Pack lines into sections of at most `SECTION_TEXT` characters, each wrapped in
/// `open`/`close`; a single line too long for a section is cut visibly.
fn pack(
    lines: impl Iterator<Item = Mrkdwn>,
    open: &'static str,
    close: &'static str,
) -> Vec<Block> {
    let room = limits::SECTION_TEXT - open.chars().count() - close.chars().count();
    let mut sections = Vec::new();
    let mut current = Mrkdwn::new();
    let mut current_len = 0;
    for line in lines {
        let line = line.truncated(room);
        let len = line.chars();
        let sep = usize::from(current_len > 0);
        if current_len > 0 && current_len + sep + len > room {
            sections.push(wrap(std::mem::take(&mut current), open, close));
            current_len = 0;
        }
        if current_len > 0 {
            current.push_trusted("\n");
            current_len += 1;
        }
        current.push_mrkdwn(&line);
        current_len += len;
    }
    if current_len > 0 {
        sections.push(wrap(current, open, close));
    }
    sections
}

fn wrap(inner: Mrkdwn, open: &'static str, close: &'static str) -> Block {
    let mut m = Mrkdwn::trusted(open);
    m.push_mrkdwn(&inner).push_trusted(close);
    Block::section(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(m: &Message) -> Vec<&str> {
        m.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Section { text: Some(t), .. } => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn assert_within_limits(m: &Message) {
        assert!(
            m.blocks.len() <= limits::BLOCKS,
            "{} blocks",
            m.blocks.len()
        );
        let total: usize = m.blocks.iter().map(Block::text_len).sum();
        assert!(total <= limits::MESSAGE_TEXT, "{total} chars of block text");
        for b in &m.blocks {
            match b {
                Block::Header { text } => assert!(text.text.chars().count() <= limits::HEADER_TEXT),
                Block::Section { text, fields } => {
                    if let Some(t) = text {
                        assert!(t.text.chars().count() <= limits::SECTION_TEXT);
                    }
                    assert!(fields.len() <= limits::FIELDS_PER_SECTION);
                    for f in fields {
                        assert!(f.text.chars().count() <= limits::FIELD_TEXT);
                    }
                }
                Block::Context { elements } => assert!(elements.len() <= limits::CONTEXT_ELEMENTS),
                Block::Actions { elements, .. } => {
                    assert!(elements.len() <= limits::ACTION_ELEMENTS)
                }
                Block::Divider => {}
            }
        }
    }

    #[test]
    fn small_alert_is_one_message() {
        let msgs = Alert::new("Security group changed", "sg-1 changed")
            .field("Account", Mrkdwn::text("123456789012"))
            .code(vec!["+ ingress tcp 22 from 0.0.0.0/0".into()])
            .context(Mrkdwn::trusted("via AWS Config"))
            .into_messages();
        assert_eq!(msgs.len(), 1);
        insta::assert_json_snapshot!(msgs[0]);
    }

    #[test]
    fn long_bodies_continue_in_further_messages_without_loss() {
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("line {i:04} <!channel> {}", "z".repeat(40)))
            .collect();
        let msgs = Alert::new("Many changes", "many")
            .code(lines.clone())
            .into_messages();
        assert!(msgs.len() > 1);
        let mut seen = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            assert_within_limits(m);
            let Block::Header { text } = &m.blocks[0] else {
                panic!("first block is a header")
            };
            assert!(
                text.text.ends_with(&format!("({}/{})", i + 1, msgs.len())),
                "{}",
                text.text
            );
            for s in sections(m) {
                let inner = s
                    .strip_prefix("```\n")
                    .and_then(|s| s.strip_suffix("\n```"))
                    .expect("fenced");
                seen.extend(inner.lines().map(str::to_owned));
            }
        }
        let expected: Vec<String> = lines
            .iter()
            .map(|l| l.replace('<', "&lt;").replace('>', "&gt;"))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn many_short_lines_respect_the_block_limit() {
        // Each line alone fills a section, so blocks, not characters, bind first.
        let lines: Vec<Mrkdwn> = (0..120)
            .map(|i| Mrkdwn::text(&format!("{i} {}", "q".repeat(2990))))
            .collect();
        let msgs = Alert::new("h", "f").lines(lines).into_messages();
        let total_sections: usize = msgs.iter().map(|m| sections(m).len()).sum();
        assert_eq!(total_sections, 120);
        msgs.iter().for_each(assert_within_limits);
    }

    #[test]
    fn an_overlong_line_is_cut_visibly() {
        let msgs = Alert::new("h", "f")
            .lines(vec![Mrkdwn::text(&"w".repeat(10_000))])
            .into_messages();
        assert_eq!(msgs.len(), 1);
        let s = sections(&msgs[0]);
        assert!(
            s[0].ends_with("more characters"),
            "{}",
            &s[0][s[0].len() - 40..]
        );
        assert_within_limits(&msgs[0]);
    }

    #[test]
    fn header_and_fields_are_cut_to_their_limits() {
        let msgs = Alert::new("H".repeat(400), "f".repeat(5000))
            .field("Big", Mrkdwn::text(&"v".repeat(4000)))
            .into_messages();
        assert_within_limits(&msgs[0]);
        assert!(msgs[0].text.chars().count() <= limits::FALLBACK_TEXT);
    }
}
