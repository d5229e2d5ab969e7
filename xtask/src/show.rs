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
        let text = b["text"]["text"].as_str().map(unescape);
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
                    let t = unescape(e["text"].as_str().unwrap_or_default());
                    out.push_str(&format!("  ┃ {}{}{}\n", ansi(DIM), links(&t), ansi(RESET)));
                }
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

/// `<url|label>` → `label (url)`.
fn links(s: &str) -> String {
    match (s.find('<'), s.find('|'), s.rfind('>')) {
        (Some(a), Some(p), Some(z)) if a < p && p < z => {
            format!(
                "{}{} ({}){}",
                &s[..a],
                &s[p + 1..z],
                &s[a + 1..p],
                &s[z + 1..]
            )
        }
        _ => s.to_owned(),
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub const BOLD: &str = "\x1b[1m";
pub const DIM: &str = "\x1b[2m";
pub const CYAN: &str = "\x1b[36m";
pub const BOLD_CYAN: &str = "\x1b[1;36m";
pub const YELLOW: &str = "\x1b[33m";
pub const RED: &str = "\x1b[31m";
pub const RESET: &str = "\x1b[0m";
