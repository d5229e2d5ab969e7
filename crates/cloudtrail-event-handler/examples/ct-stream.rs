//! The log-file hot path, for `cargo xtask bench cloudtrail`:
//!
//! ct-stream generate <out.json.gz> <MB>   a CloudTrail log file of at least MB of JSON,
//!                                         shaped like a real trail (synthetic::Trail)
//! ct-stream read <file.json.gz>           read it as the function does (inflate, skim,
//!                                         sieve, parse what the rules need, render)
//! ct-stream scan <file.json.gz>           inflate and scan: every record validated and
//!                                         skimmed, none parsed (a sieve that drops all)
//! ct-stream reader <file.json.gz>         the reader alone: inflate, skim, sieve, parse what
//!                                         the rules need (no rules, no render)
//! ct-stream reference <file.json.gz>      `read` with the reference reader (serde_json
//!                                         streaming, every record parsed)
//! ct-stream gunzip <file.json.gz>         the floor: inflate alone, same decoder and window
//!
//! Each prints one JSON line of figures.

use std::io::{Read, Write};
use std::time::Instant;

use opswatch_cloudtrail_event_handler::filter::Filter;
use opswatch_cloudtrail_event_handler::logfile::{self, Entry};
use opswatch_cloudtrail_event_handler::record::{Record, read_log_reference};
use opswatch_cloudtrail_event_handler::render::Digest;
use opswatch_cloudtrail_event_handler::rules::Rules;
use opswatch_cloudtrail_event_handler::synthetic::{Rng, Trail};
use serde_json::json;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["generate", out, mb] => generate(out, mb.parse().map_err(|e| format!("{mb}: {e}"))?),
        ["read", file] => read(file, Mode::Read),
        ["reader", file] => read(file, Mode::Reader),
        ["scan", file] => read(file, Mode::Scan),
        ["reference", file] => read(file, Mode::Reference),
        ["gunzip", file] => gunzip(file),
        _ => Err(
            "usage: ct-stream generate <out> <MB> | ct-stream read|reference|gunzip <file>".into(),
        ),
    }
}

fn generate(out: &str, mb: u64) -> Result<(), String> {
    let file = std::fs::File::create(out).map_err(|e| format!("{out}: {e}"))?;
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::new(6));
    let trail = Trail::single("111122223333");
    let mut rng = Rng::new(2026);
    // A record is about 1.4 kB: enough of them for `mb` MB, in one file.
    let mut counting = Counting {
        n: 0,
        inner: &mut gz,
    };
    let records = mb * 1_000_000 / 1_300;
    trail
        .write_log(&mut rng, "111122223333", records, &mut counting)
        .map_err(|e| e.to_string())?;
    let written = counting.n;
    gz.finish()
        .map_err(|e| e.to_string())?
        .flush()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "ct-stream: wrote {out}: {records} records, {:.1} MB of JSON",
        written as f64 / 1e6
    );
    Ok(())
}

/// Counts the bytes written through it.
struct Counting<'w, W: Write> {
    n: u64,
    inner: &'w mut W,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Scan,
    Read,
    Reader,
    Reference,
}

fn read(file: &str, mode: Mode) -> Result<(), String> {
    // As the function: the compressed object in memory, the JSON streamed.
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let started = Instant::now();
    let filter = Filter::default();
    let rules = Rules::default();
    let mut digest = Digest::default();
    let mut alerted = 0usize;
    let mut parsed = 0usize;
    // One judge per file, as the function (secret reads are counted across it).
    let mut judge = rules.reading(&filter);
    let mut on_record = |r: Record| {
        parsed += 1;
        if mode == Mode::Reader {
            return;
        }
        if let Ok(verdict) = judge.judge(&r, None) {
            alerted += 1;
            digest.add(&r, &verdict, &filter.account_names);
        }
    };
    let seen = if mode == Mode::Reference {
        read_log_reference(&bytes, |r, _| on_record(r))
    } else {
        logfile::read_log(
            &bytes,
            |skim| match mode {
                Mode::Scan => Some(opswatch_cloudtrail_event_handler::filter::Drop::ReadOnly),
                _ => rules.sieve(&filter, skim),
            },
            |entry| {
                if let Entry::Record(r, _) = entry {
                    on_record(r);
                }
            },
        )
    }
    .map_err(|e| e.to_string())?;
    let messages = digest.into_alert(Some(file)).into_messages().len();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bytes": seen.bytes, "records": seen.records, "parsed": parsed, "alerted": alerted,
               "messages": messages, "secs": secs, "peak_rss_kb": peak_rss_kb()})
    );
    Ok(())
}

/// Inflate alone: the same decoder and window as the reader, nothing looked at.
fn gunzip(file: &str) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let started = Instant::now();
    let mut decoder = flate2::bufread::MultiGzDecoder::new(&bytes[..]);
    let mut window = vec![0u8; logfile::WINDOW];
    let mut total = 0u64;
    loop {
        let n = decoder.read(&mut window).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bytes": total, "secs": secs, "peak_rss_kb": peak_rss_kb()})
    );
    Ok(())
}

/// The process's peak resident set (VmHWM), in kB.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
