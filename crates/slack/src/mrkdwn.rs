//! Slack `mrkdwn` text that is safe by construction.
//!
//! Everything that comes from outside (tags, user names, bounce reasons, SQL) can only enter a
//! [`Mrkdwn`] through [`Mrkdwn::text`] / [`Mrkdwn::push`] and friends, which escape `&`, `<`
//! and `>` so that outside text can never mention `<!channel>` or forge a `<link|label>`.
//! Our own markup enters through the `*_trusted` methods, which take `&'static str` only, so a
//! runtime string cannot slip in unescaped by accident.

use std::fmt;

/// A piece of Slack mrkdwn in which every outside character has been escaped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Mrkdwn(String);

/// Escape the three characters Slack treats as control characters in mrkdwn.
pub fn escape(outside: &str) -> String {
    let mut out = String::with_capacity(outside.len());
    escape_into(&mut out, outside);
    out
}

fn escape_into(out: &mut String, outside: &str) {
    for c in outside.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// Escape, and keep outside text from closing a `code` span or a ``` block: a backtick
/// becomes the look-alike U+02CB.
fn escape_code_into(out: &mut String, outside: &str) {
    for c in outside.chars() {
        match c {
            '`' => out.push('\u{2cb}'),
            '\n' | '\r' => out.push(' '),
            c => escape_into_char(out, c),
        }
    }
}

fn escape_into_char(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

impl Mrkdwn {
    pub fn new() -> Self {
        Self(String::new())
    }

    /// Outside text, escaped.
    pub fn text(outside: &str) -> Self {
        Self(escape(outside))
    }

    /// Our own markup (a literal in the source).
    pub fn trusted(markup: &'static str) -> Self {
        Self(markup.to_owned())
    }

    /// Append outside text, escaped.
    pub fn push(&mut self, outside: &str) -> &mut Self {
        escape_into(&mut self.0, outside);
        self
    }

    /// Append our own markup.
    pub fn push_trusted(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Append another safe piece.
    pub fn push_mrkdwn(&mut self, other: &Mrkdwn) -> &mut Self {
        self.0.push_str(&other.0);
        self
    }

    /// Append outside text in bold.
    pub fn push_bold(&mut self, outside: &str) -> &mut Self {
        self.0.push('*');
        escape_into(&mut self.0, outside);
        self.0.push('*');
        self
    }

    /// Append outside text as an inline `code` span (backticks and newlines neutralised).
    pub fn push_code(&mut self, outside: &str) -> &mut Self {
        self.0.push('`');
        escape_code_into(&mut self.0, outside);
        self.0.push('`');
        self
    }

    /// Append a link. The URL is escaped (and `|` percent-encoded) so it cannot carry a
    /// label of its own; the label is outside text.
    pub fn push_link(&mut self, url: &str, label: &str) -> &mut Self {
        self.0.push('<');
        for c in url.chars() {
            match c {
                '|' => self.0.push_str("%7C"),
                c => escape_into_char(&mut self.0, c),
            }
        }
        self.0.push('|');
        escape_code_free_label(&mut self.0, label);
        self.0.push('>');
        self
    }

    /// Mention a Slack user by id (`<@U0123ABCD>`). Anything that is not a user id (`U…`
    /// or `W…`, upper-case letters and digits) is shown as escaped text instead, so an id
    /// from outside cannot become other markup (`<!channel>`).
    pub fn push_user(&mut self, id: &str) -> &mut Self {
        let is_id = (3..=32).contains(&id.len())
            && id.starts_with(['U', 'W'])
            && id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if is_id {
            self.0.push_str("<@");
            self.0.push_str(id);
            self.0.push('>');
        } else {
            self.push(id);
        }
        self
    }

    /// Outside text for a line of a preformatted (```) block.
    pub fn code_line(outside: &str) -> Self {
        let mut m = Self::new();
        escape_code_into(&mut m.0, outside);
        m
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in characters, as Slack counts its limits.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// Cut to at most `max` characters, never inside an `&…;` entity, ending with a visible
    /// "…and N more characters" when anything was cut.
    pub fn truncated(&self, max: usize) -> Mrkdwn {
        let total = self.chars();
        if total <= max {
            return self.clone();
        }
        // Reserve room for the marker, whose width depends on the count it reports.
        let marker = |n: usize| format!("…and {n} more characters");
        let mut keep = max.saturating_sub(marker(total).chars().count());
        let mut cut = byte_index(&self.0, keep);
        // Do not split an entity such as `&amp;`.
        if let Some(amp) = self.0[..cut].rfind('&')
            && !self.0[amp..cut].contains(';')
            && self.0[amp..]
                .find(';')
                .is_some_and(|semi| amp + semi >= cut)
        {
            cut = amp;
            keep = self.0[..cut].chars().count();
        }
        let mut out = self.0[..cut].to_owned();
        out.push_str(&marker(total - keep));
        Mrkdwn(out)
    }
}

fn escape_code_free_label(out: &mut String, label: &str) {
    for c in label.chars() {
        match c {
            '|' => out.push('¦'),
            c => escape_into_char(out, c),
        }
    }
}

fn byte_index(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i)
}

impl fmt::Debug for Mrkdwn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Mrkdwn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Another service's answer body as one line of at most `max` characters, for an error
/// message: an HTML page (a proxy's or a plain web server's error page) is read as its text
/// without the markup, and every run of whitespace, line breaks included, becomes one space.
pub fn one_line(body: &str, max: usize) -> String {
    let body = body.trim();
    let mut text = String::with_capacity(body.len().min(4 * max));
    if body.starts_with('<') {
        let mut in_tag = false;
        for c in body.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    text.push(' ');
                }
                '>' if in_tag => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
    } else {
        text.push_str(body);
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_plain(&collapsed, max)
}

/// Cut plain (not mrkdwn) text to `max` characters with a trailing "…".
pub fn truncate_plain(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_body_becomes_one_line() {
        // What `python3 -m http.server` answers a POST.
        let page = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        <p>Error code: 501</p>\n        <p>Message: Unsupported method ('POST').</p>\n    </body>\n</html>\n";
        assert_eq!(
            one_line(page, 200),
            "Error response Error response Error code: 501 Message: Unsupported method ('POST')."
        );
        assert_eq!(one_line("no_service", 200), "no_service");
        assert_eq!(one_line(" a\r\n\tb  c ", 200), "a b c");
        let long = one_line(&"x ".repeat(300), 20);
        assert_eq!(long.chars().count(), 20);
        assert!(long.ends_with('…') && !long.contains('\n'));
    }

    fn check_escape(input: &str, expected: &str) {
        assert_eq!(Mrkdwn::text(input).as_str(), expected, "input: {input:?}");
    }

    #[test]
    fn escapes_control_characters() {
        check_escape("<!channel>", "&lt;!channel&gt;");
        check_escape("a & b", "a &amp; b");
        check_escape(
            "<https://evil.example|click>",
            "&lt;https://evil.example|click&gt;",
        );
        check_escape("&amp;", "&amp;amp;");
        check_escape("plain — 日本語", "plain — 日本語");
    }

    #[test]
    fn code_cannot_break_out() {
        let mut m = Mrkdwn::new();
        m.push_code("a```b`<!here>\nx");
        assert_eq!(m.as_str(), "`aˋˋˋbˋ&lt;!here&gt; x`");
    }

    #[test]
    fn links_cannot_forge_labels() {
        let mut m = Mrkdwn::new();
        m.push_link("https://x.example/?a=1&b=<2>|evil", "lab|el <!channel>");
        assert_eq!(
            m.as_str(),
            "<https://x.example/?a=1&amp;b=&lt;2&gt;%7Cevil|lab¦el &lt;!channel&gt;>"
        );
    }

    #[test]
    fn truncation_is_visible_and_within_limit() {
        let long = Mrkdwn::text(&"x".repeat(5000));
        let cut = long.truncated(3000);
        assert!(cut.chars() <= 3000, "{}", cut.chars());
        assert!(cut.as_str().ends_with(" more characters"));
        let kept = cut.as_str().chars().take_while(|c| *c == 'x').count();
        assert_eq!(
            cut.as_str(),
            format!("{}…and {} more characters", "x".repeat(kept), 5000 - kept)
        );
    }

    #[test]
    fn truncation_never_splits_an_entity() {
        for pad in 0..12 {
            let s = Mrkdwn::text(&format!("{}{}", "y".repeat(pad), "<".repeat(50)));
            let cut = s.truncated(40);
            let body = cut.as_str().split('…').next().unwrap_or_default();
            assert!(
                body.ends_with("&lt;") || body.ends_with('y') || body.is_empty(),
                "{body}"
            );
            assert!(cut.chars() <= 40);
        }
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(Mrkdwn::text("abc").truncated(3).as_str(), "abc");
        assert_eq!(truncate_plain("abcdef", 4), "abc…");
        assert_eq!(truncate_plain("abc", 4), "abc");
    }
}
