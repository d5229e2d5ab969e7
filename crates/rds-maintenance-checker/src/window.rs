//! Weekly maintenance windows (pure): RDS's `PreferredMaintenanceWindow`
//! (`ddd:hh24:mi-ddd:hh24:mi`, UTC, e.g. `sun:23:30-mon:00:30`) and the start of the first
//! window at or after a moment.

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A weekly window: its start and end as minutes from Monday 00:00 UTC. The end may come
/// before the start: the window then crosses the end of the week (`sun:23:30-mon:00:30`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceWindow {
    start: i64,
    end: i64,
    /// As RDS spells it (lowercased), for the message.
    spec: String,
}

/// `wed:07:00` → minutes from Monday 00:00.
fn moment(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let (day, hour, minute) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hour.len() != 2 || minute.len() != 2 {
        return None;
    }
    let day = DAYS.iter().position(|d| d.eq_ignore_ascii_case(day))? as i64;
    let (hour, minute) = (hour.parse::<i64>().ok()?, minute.parse::<i64>().ok()?);
    ((0..24).contains(&hour) && (0..60).contains(&minute))
        .then_some(day * 1440 + hour * 60 + minute)
}

impl MaintenanceWindow {
    /// `ddd:hh24:mi-ddd:hh24:mi`, days `mon`…`sun` in any case.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let bad = || format!("{spec:?} is not a maintenance window (ddd:hh24:mi-ddd:hh24:mi)");
        let (a, b) = spec.split_once('-').ok_or_else(bad)?;
        let (start, end) = (moment(a).ok_or_else(bad)?, moment(b).ok_or_else(bad)?);
        if start == end {
            return Err(bad());
        }
        Ok(Self {
            start,
            end,
            spec: spec.to_ascii_lowercase(),
        })
    }

    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// How long the window lasts, in minutes (across the week's end too).
    pub fn minutes(&self) -> i64 {
        (self.end - self.start).rem_euclid(7 * 1440)
    }

    /// The start (epoch seconds) of the first window starting at or after `at`.
    pub fn next_start(&self, at: i64) -> i64 {
        // 1970-01-01 was a Thursday: Monday 1969-12-29 00:00 UTC is −3 days.
        let monday = (at + 3 * DAY).div_euclid(WEEK) * WEEK - 3 * DAY;
        let start = monday + self.start * MINUTE;
        if start >= at { start } else { start + WEEK }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23T00:00:00Z, a Monday.
    const MONDAY: i64 = 1_795_392_000;
    const H: i64 = 3_600;

    fn w(s: &str) -> MaintenanceWindow {
        MaintenanceWindow::parse(s).unwrap()
    }

    #[test]
    fn parses_what_rds_returns() {
        assert_eq!(w("wed:07:00-wed:07:30").minutes(), 30);
        assert_eq!(w("Sun:23:30-Mon:00:30").spec(), "sun:23:30-mon:00:30");
        assert_eq!(
            w("sun:23:30-mon:00:30").minutes(),
            60,
            "across the week's end"
        );
        assert_eq!(w("tue:23:45-wed:00:15").minutes(), 30, "across midnight");
        for bad in [
            "",
            "wed:07:00",
            "wed:7:00-wed:07:30",
            "xyz:07:00-wed:07:30",
            "wed:24:00-thu:00:30",
            "wed:07:60-wed:08:30",
            "wed:07:00-wed:07:00",
            "wed:07:00:00-wed:07:30",
        ] {
            assert!(MaintenanceWindow::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_window_at_or_after() {
        // 2026-11-23 is a Monday (`date -ud @1795392000`).
        assert_eq!(opswatch_support::rfc3339(MONDAY), "2026-11-23T00:00:00Z");
        let wed = w("wed:07:00-wed:07:30");
        assert_eq!(wed.next_start(MONDAY), MONDAY + 2 * 24 * H + 7 * H);
        // Wednesday 03:00 → that Wednesday 07:00.
        assert_eq!(
            wed.next_start(MONDAY + 2 * 24 * H + 3 * H),
            MONDAY + 2 * 24 * H + 7 * H
        );
        // Exactly at the start: that window; a minute later: next week's.
        assert_eq!(
            wed.next_start(MONDAY + 2 * 24 * H + 7 * H),
            MONDAY + 2 * 24 * H + 7 * H
        );
        assert_eq!(
            wed.next_start(MONDAY + 2 * 24 * H + 7 * H + 60),
            MONDAY + 9 * 24 * H + 7 * H
        );
        // Sunday's window, asked on Monday: six days later; asked the Sunday after it:
        // the week after.
        let sun = w("sun:23:30-mon:00:30");
        assert_eq!(sun.next_start(MONDAY), MONDAY + 6 * 24 * H + 23 * H + 1_800);
        assert_eq!(
            sun.next_start(MONDAY + 6 * 24 * H + 23 * H + 1_801),
            MONDAY + 13 * 24 * H + 23 * H + 1_800
        );
        // Monday 00:00 exactly, from the Sunday before.
        let mon = w("mon:00:00-mon:00:30");
        assert_eq!(mon.next_start(MONDAY - 1), MONDAY);
        // Before 1970 (1969-12-31 was a Wednesday) and far ahead: the same arithmetic.
        assert_eq!(
            opswatch_support::rfc3339(wed.next_start(-DAY)),
            "1969-12-31T07:00:00Z"
        );
        assert_eq!(
            opswatch_support::rfc3339(w("fri:01:00-fri:01:30").next_start(4_102_444_800)),
            "2100-01-01T01:00:00Z"
        );
    }

    proptest::proptest! {
        #[test]
        fn next_start_is_the_first_one(at in -1_000_000_000i64..5_000_000_000, d in 0usize..7, h in 0i64..24, m in 0i64..60) {
            let spec = format!("{}:{h:02}:{m:02}-{}:{:02}:{m:02}", DAYS[d], DAYS[d], (h + 1) % 24);
            let Ok(win) = MaintenanceWindow::parse(&spec) else { return Ok(()) };
            let s = win.next_start(at);
            proptest::prop_assert!(s >= at && s - at < WEEK);
            proptest::prop_assert_eq!(s.rem_euclid(60), 0);
            // On the right weekday and time.
            let days = s.div_euclid(DAY);
            proptest::prop_assert_eq!((days + 3).rem_euclid(7) as usize, d);
            proptest::prop_assert_eq!(s.rem_euclid(DAY), h * H + m * 60);
        }
    }
}
