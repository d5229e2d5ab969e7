//! A Slack message as a person would read it in a terminal.

use std::io::IsTerminal;

use serde_json::Value;

/// An ANSI style, or nothing when stdout is not a terminal.
pub fn ansi(code: &'static str) -> &'static str {
    if std::io::stdout().is_terminal() {
        code
    } else {
        ""
    }
}

pub fn message(m: &Value) -> String {
    let mut out = String::new();
    let blocks = m["blocks"].as_array().cloned().unwrap_or_default();
    for b in &blocks {
        let text = b["text"]["text"]
            .as_str()
            .map(|t| unescape(&links(t, false)));
        match b["type"].as_str() {
            Some("header") => out.push_str(&format!(
                "  ┃ {}{}{}\n",
                ansi(BOLD),
                text.unwrap_or_default(),
                ansi(RESET)
            )),
            Some("section") => {
                if let Some(fields) = b["fields"].as_array() {
                    let line: Vec<String> = fields
                        .iter()
                        .filter_map(|f| f["text"].as_str())
                        .map(|f| unescape(f).replacen('\n', ": ", 1).replace('*', ""))
                        .collect();
                    for chunk in line.chunks(3) {
                        out.push_str(&format!("  ┃ {}\n", chunk.join("  ·  ")));
                    }
                }
                for l in text.unwrap_or_default().lines() {
                    out.push_str(&format!("  ┃ {l}\n"));
                }
            }
            Some("context") => {
                for e in b["elements"].as_array().into_iter().flatten() {
                    let t = unescape(&links(e["text"].as_str().unwrap_or_default(), true));
                    out.push_str(&format!("  ┃ {}{t}{}\n", ansi(DIM), ansi(RESET)));
                }
            }
            Some("actions") => {
                let labels: Vec<String> = b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| match e["type"].as_str() {
                        Some("static_select") => format!(
                            "[{} ▾]",
                            e["placeholder"]["text"].as_str().unwrap_or_default()
                        ),
                        _ => format!("[{}]", e["text"]["text"].as_str().unwrap_or_default()),
                    })
                    .collect();
                out.push_str(&format!("  ┃ {}\n", labels.join(" ")));
            }
            _ => {}
        }
    }
    if blocks.is_empty() {
        out.push_str(&format!(
            "  ┃ {}\n",
            unescape(m["text"].as_str().unwrap_or_default())
        ));
    }
    out
}

/// Every `<url|label>` → the label, underlined (`label (url)` when `with_url`). In escaped
/// mrkdwn a `<` is always markup.
fn links(s: &str, with_url: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(a) = rest.find('<') {
        let Some(z) = rest[a..].find('>').map(|z| a + z) else {
            break;
        };
        out.push_str(&rest[..a]);
        let inner = &rest[a + 1..z];
        match inner.split_once('|') {
            Some((url, label)) if with_url => out.push_str(&format!("{label} ({url})")),
            Some((_, label)) => out.push_str(&format!("{}{label}{}", ansi(UNDERLINE), ansi(RESET))),
            None => out.push_str(inner),
        }
        rest = &rest[z + 1..];
    }
    out.push_str(rest);
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub const BOLD: &str = "\x1b[1m";
pub const DIM: &str = "\x1b[2m";
pub const UNDERLINE: &str = "\x1b[4m";
pub const CYAN: &str = "\x1b[36m";
pub const BOLD_CYAN: &str = "\x1b[1;36m";
pub const YELLOW: &str = "\x1b[33m";
pub const RED: &str = "\x1b[31m";
pub const RESET: &str = "\x1b[0m";
