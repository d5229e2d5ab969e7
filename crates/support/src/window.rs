//! Which time windows a scheduled poll covers (pure). A window is half-open, `[start, end)`
//! in unix seconds: an item stamped exactly on a boundary belongs to the later window, so it
//! is reported once. Used by every function that polls on a schedule with a checkpoint.

/// The run's windows: from the checkpoint (else `end − interval`) to the scheduled event's
/// time, in chunks of at most `max` seconds. Empty when there is nothing new (the
/// checkpoint is at or past `end`, e.g. a late retry of an older event).
pub fn windows(end: i64, checkpoint: Option<i64>, interval: i64, max: i64) -> Vec<(i64, i64)> {
    let start = checkpoint.unwrap_or(end - interval);
    let max = max.max(1);
    let mut out = Vec::new();
    let mut a = start;
    while a < end {
        let b = a.saturating_add(max).min(end);
        out.push((a, b));
        a = b;
    }
    out
}

/// `600`, `600s`, `10m`, `1h`, `1d` → seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 600s, 10m, 1h or 1d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?} is not a duration like 600s, 10m, 1h or 1d")),
    };
    match n.checked_mul(scale) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("{s:?} must be a positive duration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_half_open_and_chunked() {
        assert_eq!(windows(1000, None, 600, 86_400), [(400, 1000)]);
        assert_eq!(windows(1000, Some(700), 600, 86_400), [(700, 1000)]);
        assert_eq!(windows(1000, Some(1000), 600, 86_400), []);
        assert_eq!(windows(1000, Some(1200), 600, 86_400), []);
        assert_eq!(
            windows(1000, Some(0), 600, 400),
            [(0, 400), (400, 800), (800, 1000)]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600"), Ok(600));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("5w").is_err());
    }

    proptest::proptest! {
        #[test]
        fn consecutive_runs_cover_time_exactly_once(
            start in 0i64..1_000_000,
            steps in proptest::collection::vec(1i64..100_000, 1..10),
            max in 1i64..50_000,
        ) {
            // Each run starts at the previous run's end (the checkpoint): the windows tile
            // [start, last end) with no gap and no overlap.
            let mut checkpoint = start;
            let mut end = start;
            let mut covered = Vec::new();
            for s in steps {
                end += s;
                for w in windows(end, Some(checkpoint), 600, max) {
                    covered.push(w);
                }
                checkpoint = end;
            }
            let mut at = start;
            for (a, b) in covered {
                proptest::prop_assert_eq!(a, at);
                proptest::prop_assert!(b > a && b - a <= max);
                at = b;
            }
            proptest::prop_assert_eq!(at, end);
        }
    }
}
