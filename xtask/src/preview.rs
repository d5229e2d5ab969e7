//! `cargo xtask preview`: the demo's Slack messages drawn the way Slack draws Block Kit, as
//! one HTML page (`docs/img/index.html`) and one PNG per sample that posted (headless
//! Chromium), under `docs/img/`. The bodies are the exact ones the functions posted to the
//! demo's Slack Web API; the decoder, which posts nothing, is drawn as the event it wrote.
//!
//! Only the HTML is tested (this module's tests); the browser is used to take pictures of it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::demo::{Posted, Run, Transcript};

/// Width of a picture in CSS pixels (Slack's message pane on a laptop).
const WIDTH: u32 = 760;
/// The window the browser draws into; the picture is cut to its content afterwards.
const MAX_HEIGHT: u32 = 4000;

/// `cargo xtask preview [--out DIR]` (default `docs/img/`).
pub async fn main(args: &[String]) -> Result<(), String> {
    let out = match args {
        [] => crate::root().join("docs/img"),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => return Err("usage: cargo xtask preview [--out DIR]".into()),
    };
    let chromium = chromium()?;
    let transcript = crate::demo::run().await?;
    let work = crate::target_dir().join("preview");
    for dir in [&out, &work] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let index = out.join("index.html");
    write(&index, &page(&transcript))?;
    eprintln!("\nxtask preview: wrote {}", index.display());
    let mut pictures = Vec::new();
    for run in transcript.runs.iter().filter(|r| !r.messages.is_empty()) {
        let name = format!("{}-{}", run.function, run.slug);
        pictures.push((name, document(&run_html(run, false))));
    }
    if let Some(event) = &transcript.decoded {
        pictures.push((
            "activity-stream-decoder".to_owned(),
            document(&decoded_html(event)),
        ));
    }
    for (name, html) in pictures {
        let source = work.join(format!("{name}.html"));
        write(&source, &html)?;
        let png = out.join(format!("{name}.png"));
        screenshot(&chromium, &source, &png)?;
        eprintln!("xtask preview: wrote {}", png.display());
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Debian's `chromium` (or `$CHROMIUM`).
fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Ok(p.into());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            "no Chromium: `apt-get update && apt-get install chromium fonts-noto-color-emoji fonts-noto-cjk` (or set CHROMIUM)"
                .to_owned()
        })
}

/// Draw `source` in a tall window, then cut the picture below the content.
fn screenshot(chromium: &Path, source: &Path, png: &Path) -> Result<(), String> {
    let mut c = std::process::Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--default-background-color=ffffffff",
    ])
    .arg(format!("--window-size={WIDTH},{MAX_HEIGHT}"))
    .arg(format!("--screenshot={}", png.display()))
    .arg(format!("file://{}", source.display()))
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    crate::run(&mut c)?;
    crop(png)
}

/// Cut a white-backed picture 16 pixels below its last non-white row.
fn crop(path: &Path) -> Result<(), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| at(&e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| at(&e))?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or_default()];
    let info = reader.next_frame(&mut buf).map_err(|e| at(&e))?;
    let (color, _) = reader.output_color_type();
    let row = info.line_size;
    let samples = color.samples();
    let last = (0..info.height as usize)
        .rev()
        .find(|&y| {
            buf[y * row..(y + 1) * row]
                .chunks(samples)
                .any(|px| px.iter().take(3).any(|&c| c < 250))
        })
        .unwrap_or(0);
    let height = (last + 17).min(info.height as usize);
    let out = std::fs::File::create(path).map_err(|e| at(&e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(out), info.width, height as u32);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(|e| at(&e))?;
    writer
        .write_image_data(&buf[..height * row])
        .map_err(|e| at(&e))
}

/// The page of every run: the functions in the demo's order, each sample's messages.
fn page(t: &Transcript) -> String {
    let mut body = String::from(
        "<h1>opswatch: the demo's Slack messages</h1>\n<p class=\"about\">Made by <code>cargo xtask preview</code> from <code>cargo xtask demo</code>: the bodies each function posted, drawn as Slack draws Block Kit.</p>\n",
    );
    for f in crate::FUNCTIONS {
        let _ = writeln!(body, "<h2 id=\"{0}\">{0}</h2>", f.name);
        if f.name == "activity-stream-decoder" {
            if let Some(event) = &t.decoded {
                body.push_str(&decoded_html(event));
            }
            continue;
        }
        for run in t.runs.iter().filter(|r| r.function == f.name) {
            body.push_str(&run_html(run, true));
        }
    }
    document(&body)
}

/// One run: its label (on the index page), then each message in its channel.
fn run_html(run: &Run, labelled: bool) -> String {
    let mut out = String::from("<section class=\"run\">\n");
    if labelled {
        let _ = writeln!(out, "<p class=\"label\">{}</p>", esc(&run.label));
        if run.messages.is_empty() {
            out.push_str("<p class=\"none\">(no Slack message)</p>\n");
        }
    }
    for m in &run.messages {
        out.push_str(&posted_html(m));
    }
    out.push_str("</section>\n");
    out
}

/// A message with its channel, and for a reply the thread it is in.
fn posted_html(p: &Posted) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<div class=\"channel\"><span class=\"hash\">#</span> {}",
        esc(&p.channel)
    );
    if let Some(parent) = &p.reply_to {
        let _ = write!(
            out,
            " <span class=\"thread\">· reply in the thread of “{}”</span>",
            plain(parent)
        );
    }
    out.push_str("</div>\n");
    let class = match (p.reply_to.is_some(), p.ephemeral) {
        (_, true) => "msg ephemeral",
        (true, false) => "msg reply",
        (false, false) => "msg",
    };
    if p.ephemeral {
        out.push_str("<div class=\"only-you\">Only visible to you</div>\n");
    }
    let _ = writeln!(
        out,
        "<div class=\"{class}\"><div class=\"avatar\">ow</div><div class=\"content\"><div class=\"meta\"><span class=\"name\">opswatch</span><span class=\"app\">APP</span></div>\n{}</div></div>",
        blocks(&p.body)
    );
    out
}

/// The decoder's output: one event as it lands in S3.
fn decoded_html(event: &str) -> String {
    let pretty = serde_json::from_str::<Value>(event)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| event.to_owned());
    format!(
        "<section class=\"run\"><div class=\"channel\">s3://…/activity/YYYY/MM/DD/….json.gz <span class=\"thread\">· one decoded event (NDJSON line), shown indented</span></div>\n<pre class=\"code\">{}</pre></section>\n",
        esc(&pretty)
    )
}

/// A message body's blocks as HTML (its `text` when it has none).
pub fn blocks(body: &Value) -> String {
    let mut out = String::new();
    let Some(blocks) = body["blocks"].as_array() else {
        let _ = writeln!(
            out,
            "<div class=\"section\">{}</div>",
            mrkdwn(body["text"].as_str().unwrap_or_default())
        );
        return out;
    };
    for b in blocks {
        let text = |v: &Value| -> String {
            let t = v["text"].as_str().unwrap_or_default();
            if v["type"] == "plain_text" {
                plain(t)
            } else {
                mrkdwn(t)
            }
        };
        match b["type"].as_str().unwrap_or_default() {
            "header" => {
                let _ = writeln!(out, "<div class=\"header\">{}</div>", text(&b["text"]));
            }
            "section" => {
                out.push_str("<div class=\"section\">");
                if b["text"].is_object() {
                    let _ = write!(out, "<div class=\"text\">{}</div>", text(&b["text"]));
                }
                if let Some(fields) = b["fields"].as_array() {
                    out.push_str("<div class=\"fields\">");
                    for f in fields {
                        let _ = write!(out, "<div class=\"field\">{}</div>", text(f));
                    }
                    out.push_str("</div>");
                }
                out.push_str("</div>\n");
            }
            "context" => {
                out.push_str("<div class=\"context\">");
                for e in b["elements"].as_array().into_iter().flatten() {
                    let _ = write!(out, "<span>{}</span>", text(e));
                }
                out.push_str("</div>\n");
            }
            "divider" => out.push_str("<hr>\n"),
            "actions" => {
                out.push_str("<div class=\"actions\">");
                for e in b["elements"].as_array().into_iter().flatten() {
                    match e["type"].as_str() {
                        Some("static_select") => {
                            let _ = write!(
                                out,
                                "<span class=\"button select\">{} <span class=\"caret\">▾</span></span>",
                                plain(e["placeholder"]["text"].as_str().unwrap_or_default())
                            );
                        }
                        _ => {
                            let _ = write!(
                                out,
                                "<span class=\"button\">{}</span>",
                                plain(e["text"]["text"].as_str().unwrap_or_default())
                            );
                        }
                    }
                }
                out.push_str("</div>\n");
            }
            other => {
                let _ = writeln!(out, "<div class=\"unknown\">(a {} block)</div>", esc(other));
            }
        }
    }
    out
}

/// `plain_text` with `emoji: true`: the text as it is, shortcodes drawn.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(':') {
        out.push_str(&esc(&rest[..i]));
        match shortcode(&rest[i..]) {
            Some((len, drawn)) => {
                out.push_str(&drawn);
                rest = &rest[i + len..];
            }
            None => {
                out.push(':');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(&esc(rest));
    out
}

/// Slack mrkdwn as HTML: code blocks, then per line inline code, links and mentions, bold,
/// italic, strike, entities and emoji shortcodes. Text that was escaped for Slack (`&lt;`)
/// stays text; everything drawn is escaped for HTML.
pub fn mrkdwn(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split("```").enumerate() {
        // Odd parts are code blocks (an unclosed fence stays text, as Slack shows it).
        let closed = i % 2 == 1 && s.split("```").count() > i + 1;
        if closed {
            let code = part.strip_prefix('\n').unwrap_or(part);
            let code = code.strip_suffix('\n').unwrap_or(code);
            let _ = write!(out, "<pre class=\"code\">{}</pre>", inline(code, true));
        } else {
            if i % 2 == 1 {
                out.push_str("```");
            }
            let lines: Vec<String> = part.split('\n').map(|l| inline(l, false)).collect();
            out.push_str(&lines.join("<br>"));
        }
    }
    out
}

/// One line of mrkdwn (or a code block's text, where only links, mentions and entities
/// are markup).
fn inline(s: &str, code: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &s[i..];
        let c = b[i];
        if c == b'<'
            && let Some(z) = rest.find('>')
        {
            out.push_str(&markup(&rest[1..z]));
            i += z + 1;
            continue;
        }
        if c == b'&' {
            let (len, decoded) = entity(rest);
            out.push_str(&esc(decoded));
            i += len;
            continue;
        }
        if !code {
            if c == b'`'
                && let Some(z) = rest[1..].find('`').filter(|&z| z > 0)
            {
                let _ = write!(out, "<code>{}</code>", entities(&rest[1..=z]));
                i += z + 2;
                continue;
            }
            if matches!(c, b'*' | b'_' | b'~')
                && let Some(z) = closing(s, i)
            {
                let tag = match c {
                    b'*' => "b",
                    b'_' => "i",
                    _ => "s",
                };
                let _ = write!(out, "<{tag}>{}</{tag}>", inline(&s[i + 1..z], false));
                i = z + 1;
                continue;
            }
            if c == b':'
                && let Some((len, drawn)) = shortcode(rest)
            {
                out.push_str(&drawn);
                i += len;
                continue;
            }
        }
        let ch = rest.chars().next().unwrap_or_default();
        out.push_str(&esc(ch.encode_utf8(&mut [0; 4])));
        i += ch.len_utf8();
    }
    out
}

/// Where the formatting opened by the `*`, `_` or `~` at `open` closes, as Slack reads it:
/// the opener follows a non-word character and precedes a non-space; the closer follows a
/// non-space and precedes a non-word character.
fn closing(s: &str, open: usize) -> Option<usize> {
    let b = s.as_bytes();
    let c = b[open];
    let word = |x: u8| x.is_ascii_alphanumeric();
    if open > 0 && word(b[open - 1]) {
        return None;
    }
    if b.get(open + 1)
        .is_none_or(|x| x.is_ascii_whitespace() || *x == c)
    {
        return None;
    }
    (open + 2..b.len()).find(|&z| {
        b[z] == c && !b[z - 1].is_ascii_whitespace() && b.get(z + 1).is_none_or(|&x| !word(x))
    })
}

/// `<…>` markup: a link, a mention, a channel.
fn markup(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(l)),
        None => (inner, None),
    };
    if let Some(special) = target.strip_prefix('!') {
        let name = label
            .map(entities)
            .unwrap_or_else(|| format!("@{}", esc(special.split('^').next().unwrap_or(special))));
        return format!("<span class=\"mention\">{name}</span>");
    }
    if let Some(user) = target.strip_prefix('@') {
        return format!("<span class=\"mention\">@{}</span>", esc(user));
    }
    if let Some(channel) = target.strip_prefix('#') {
        let name = label.map_or_else(|| esc(channel), entities);
        return format!("<span class=\"mention\">#{name}</span>");
    }
    let href = entities(target);
    format!(
        "<a href=\"{href}\">{}</a>",
        label.map_or_else(|| href.clone(), entities)
    )
}

/// Slack's three entities decoded, then escaped for HTML.
fn entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(a) = rest.find('&') {
        out.push_str(&esc(&rest[..a]));
        let (len, decoded) = entity(&rest[a..]);
        out.push_str(&esc(decoded));
        rest = &rest[a + len..];
    }
    out.push_str(&esc(rest));
    out
}

/// The entity at the start of `s` (which starts with `&`): its length and what it stands for.
fn entity(s: &str) -> (usize, &'static str) {
    for (name, ch) in [("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")] {
        if s.starts_with(name) {
            return (name.len(), ch);
        }
    }
    (1, "&")
}

/// An emoji shortcode at the start of `s`: its length and its drawing (the emoji for the
/// ones opswatch uses, else the shortcode as text in a chip).
fn shortcode(s: &str) -> Option<(usize, String)> {
    let end = s[1..].find(':')? + 1;
    let name = &s[1..end];
    // A name has a letter: `12:36:54` is a time, not an emoji.
    if !name.bytes().any(|b| b.is_ascii_lowercase())
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b))
    {
        return None;
    }
    let emoji = match name {
        "rotating_light" => "🚨",
        "warning" => "⚠️",
        "x" => "❌",
        "no_entry" => "⛔",
        "computer" => "💻",
        "information_source" => "ℹ️",
        "thread" => "🧵",
        "white_check_mark" => "✅",
        "lock" => "🔒",
        "wrench" => "🔧",
        "email" => "📧",
        "calendar" => "📅",
        "no_bell" => "🔕",
        "bell" => "🔔",
        "grey_question" => "❔",
        _ => {
            return Some((
                end + 1,
                format!("<span class=\"emoji\">:{}:</span>", esc(name)),
            ));
        }
    };
    Some((end + 1, format!("<span class=\"emoji\">{emoji}</span>")))
}

/// Escape text for HTML: the five characters XML reserves (HTML5 knows `&apos;` too).
fn esc(s: &str) -> String {
    opswatch_devkit::rds::xml_escape(s)
}

/// A whole page with Slack's look.
fn document(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>opswatch alerts</title>\n<style>{CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )
}

const CSS: &str = r#"
body { margin: 0; padding: 12px 20px; background: #fff; color: #1d1c1d; width: 720px;
  font: 15px/1.46668 Lato, "Noto Sans", "Helvetica Neue", Helvetica, Arial, sans-serif, "Noto Color Emoji"; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.about, .label, .none { color: #616061; font-size: 13px; }
.run { margin: 0 0 18px; }
.channel { font-weight: 900; font-size: 15px; padding: 6px 0; border-bottom: 1px solid #e8e8e8; margin-bottom: 8px; }
.channel .hash { color: #616061; font-weight: 400; }
.channel .thread { font-weight: 400; color: #616061; font-size: 13px; }
.msg { display: flex; gap: 8px; padding: 8px 0; }
.msg.reply { margin-left: 24px; padding-left: 12px; border-left: 3px solid #e8e8e8; }
.avatar { flex: none; width: 36px; height: 36px; border-radius: 6px; background: #232f3e; color: #ff9900;
  font-weight: 900; font-size: 14px; display: flex; align-items: center; justify-content: center; }
.content { flex: 1; min-width: 0; }
.meta .name { font-weight: 900; } .meta .app { margin-left: 4px; padding: 0 3px; font-size: 10px; font-weight: 700;
  color: #616061; background: #e8e8e8; border-radius: 2px; vertical-align: 2px; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0; }
.section { margin: 4px 0; word-wrap: break-word; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin: 4px 0; }
.context { font-size: 12px; color: #616061; margin: 4px 0; }
.actions { display: flex; gap: 8px; margin: 8px 0 4px; }
.button { display: inline-block; border: 1px solid #bbbbbb; border-radius: 4px; padding: 3px 12px; font-size: 13px; font-weight: 700; color: #1d1c1d; background: #fff; }
.button.select { font-weight: 400; color: #616061; min-width: 90px; }
.caret { float: right; margin-left: 12px; }
.msg.ephemeral { background: #f8f8f8; border-radius: 6px; padding: 8px; }
.only-you { font-size: 12px; color: #616061; margin-top: 6px; }
.context span + span::before { content: ""; margin-left: 8px; }
code { font: 12px Monaco, Menlo, Consolas, "DejaVu Sans Mono", monospace; color: #e01e5a; background: #f6f6f6;
  border: 1px solid #dddddd; border-radius: 3px; padding: 1px 3px; }
pre.code { font: 12px/1.5 Monaco, Menlo, Consolas, "DejaVu Sans Mono", monospace; background: #f8f8f8;
  border: 1px solid #dddddd; border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
hr { border: none; border-top: 1px solid #ddd; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mrkdwn_formatting_is_drawn() {
        assert_eq!(
            mrkdwn("*Account*\nprod (`111122223333`) _in the console_ ~gone~"),
            "<b>Account</b><br>prod (<code>111122223333</code>) <i>in the console</i> <s>gone</s>"
        );
        assert_eq!(
            mrkdwn("<https://console.aws.amazon.com/?a=1&amp;b=2|Open the *console*>"),
            "<a href=\"https://console.aws.amazon.com/?a=1&amp;b=2\">Open the *console*</a>"
        );
        assert_eq!(
            mrkdwn(":rotating_light: :not_ours: 10:42 a:b"),
            "<span class=\"emoji\">🚨</span> <span class=\"emoji\">:not_ours:</span> 10:42 a:b"
        );
        // Not formatting: inside words, around spaces, or unclosed.
        assert_eq!(
            mrkdwn("snake_case_name 2 * 3 * 4 *open"),
            "snake_case_name 2 * 3 * 4 *open"
        );
        assert_eq!(
            mrkdwn("```\n+ 0.0.0.0/0 tcp 22\n- *not bold*\n```\nafter"),
            "<pre class=\"code\">+ 0.0.0.0/0 tcp 22\n- *not bold*</pre><br>after"
        );
    }

    #[test]
    fn outside_text_stays_text() {
        // What the functions send for a tag value `<!channel> ping & <https://evil.example|click>`
        // and a header holding markup: escaped for Slack, so it must stay text here too.
        let body = json!({
            "text": "fallback",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "<script>alert(1)</script> & <!here>", "emoji": true}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "Owner: &lt;!channel&gt; ping &amp; &lt;https://evil.example|click here&gt; <b>"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "```\n~ Tags.Owner: alice → &lt;!channel&gt; \"quoted\"\n```"}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": "*User*\n`&lt;img src=x onerror=alert(1)&gt;`"}]}
            ]
        });
        let html = blocks(&body);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>\""), "{html}");
        assert!(!html.contains("class=\"mention\""), "{html}");
        assert!(!html.contains("href=\"https://evil"), "{html}");
        assert_eq!(html.matches("&lt;!channel&gt;").count(), 2, "{html}");
        assert_eq!(
            html.matches("&lt;https://evil.example|click here&gt;")
                .count(),
            1,
            "{html}"
        );
        // Real Slack markup, by contrast, is drawn as a mention and a link.
        assert_eq!(
            mrkdwn("<!channel> see <https://example.com|this>"),
            "<span class=\"mention\">@channel</span> see <a href=\"https://example.com\">this</a>"
        );
    }

    #[test]
    fn a_message_page() {
        let run = Run {
            function: "config-change-notifier",
            slug: "security-group-ingress".into(),
            label: "events/config/security-group-ingress.json".into(),
            messages: vec![
                Posted {
                    channel: "security".into(),
                    reply_to: None,
                    body: json!({
                        "text": "[critical] sg-1 changed",
                        "blocks": [
                            {"type": "header", "text": {"type": "plain_text", "text": ":rotating_light: Security group sg-1 opened to the world", "emoji": true}},
                            {"type": "section", "fields": [
                                {"type": "mrkdwn", "text": "*Account*\nprod (`111122223333`)"},
                                {"type": "mrkdwn", "text": "*Region*\nus-east-1"}
                            ]},
                            {"type": "section", "text": {"type": "mrkdwn", "text": "```\n+ ingress tcp 22 from 0.0.0.0/0\n```"}},
                            {"type": "divider"},
                            {"type": "context", "elements": [
                                {"type": "mrkdwn", "text": "*critical* · config-change-notifier"},
                                {"type": "mrkdwn", "text": "<https://console.aws.amazon.com/config|Open in AWS Config>"}
                            ]}
                        ]
                    }),
                    ephemeral: false,
                },
                Posted {
                    channel: "security".into(),
                    reply_to: Some(
                        ":rotating_light: Security group sg-1 opened to the world".into(),
                    ),
                    body: json!({"text": "a later change", "blocks": [
                        {"type": "section", "text": {"type": "mrkdwn", "text": "_2 more in the thread_"}},
                        {"type": "actions", "block_id": "opswatch_actions", "elements": [
                            {"type": "button", "action_id": "opswatch_ack", "text": {"type": "plain_text", "text": "Acknowledge"}, "value": "v1.ack.null.0"},
                            {"type": "static_select", "action_id": "opswatch_mute", "placeholder": {"type": "plain_text", "text": "Mute…"}, "options": []}
                        ]}
                    ]}),
                    ephemeral: false,
                },
                Posted {
                    channel: "security".into(),
                    reply_to: None,
                    body: json!({"text": "1 active mute", "blocks": [
                        {"type": "section", "text": {"type": "mrkdwn", "text": ":no_bell: *Active mutes* (1)"}}
                    ]}),
                    ephemeral: true,
                },
            ],
        };
        insta::assert_snapshot!(run_html(&run, true));
    }
}
