//! When a schedule's slots fall: a cron pattern (croner) read on the wall clock of an IANA time
//! zone (jiff). A *slot* is one instant the pattern names; the scheduler works on instants
//! ([`Timestamp`]s), so daylight-saving changes are decided here, once, and everything after
//! (the catch-up window, the state, run keys) counts real elapsed time.
//!
//! DST follows Vixie cron, as croner implements it: a fixed-time pattern (`30 2 * * *`) whose
//! wall-clock time falls into a spring-forward gap runs at the first instant after the gap, and
//! runs once, at the earlier instant, when the clock falls back over it; an interval pattern
//! (`*/30 * * * *`) runs on both passes of a repeated hour and not at all in a skipped one.

use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// What is wrong with a schedule's timing: its cron pattern, its time zone, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingError {
    /// The problem with the cron pattern.
    pub cron: Option<String>,
    /// The problem with the time zone.
    pub zone: Option<String>,
}

impl fmt::Display for TimingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problems: Vec<&str> = [&self.cron, &self.zone]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        f.write_str(&problems.join("; "))
    }
}

/// Parses a cron pattern: 5 fields, or 6 with seconds first, or a nickname.
fn parse_cron(pattern: &str) -> Result<Cron, String> {
    let fields = pattern.split_whitespace().count();
    if !pattern.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!(
            "cron `{pattern}` has {fields} fields; write 5 (minute hour day-of-month month \
             day-of-week) or 6 (seconds first)"
        ));
    }
    // A seventh "year" field would make six fields ambiguous (seconds first, or year last?);
    // drbook reads six fields as seconds first, the common extension.
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| format!("cron `{pattern}` is not valid: {e}"))
}

/// A parsed cron pattern and the time zone it is read in.
#[derive(Clone)]
pub struct Timing {
    pattern: String,
    cron: Cron,
    zone_name: String,
    zone: TimeZone,
}

impl fmt::Debug for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timing({:?} in {})", self.pattern, self.zone_name)
    }
}

impl Timing {
    /// Parses `pattern` (5 fields as in crontab, or 6 with seconds first; `@daily`-style
    /// nicknames) and looks `zone` up in the time zone database. Both are checked, and each
    /// problem is a sentence meant for the schedule's author.
    pub fn parse(pattern: &str, zone: &str) -> Result<Self, TimingError> {
        let cron = parse_cron(pattern);
        let tz = TimeZone::get(zone).map_err(|e| {
            format!(
                "time zone `{zone}` is not known ({e}); use an IANA name such as Europe/Paris or UTC"
            )
        });
        match (cron, tz) {
            (Ok(cron), Ok(tz)) => Ok(Self {
                pattern: pattern.to_owned(),
                cron,
                zone_name: zone.to_owned(),
                zone: tz,
            }),
            (cron, tz) => Err(TimingError {
                cron: cron.err(),
                zone: tz.err(),
            }),
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The time zone name as written.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// `instant` on this schedule's wall clock.
    pub fn local(&self, instant: Timestamp) -> Zoned {
        instant.to_zoned(self.zone.clone())
    }

    /// The first slot strictly after `instant`; `None` if the pattern never matches again.
    pub fn next_after(&self, instant: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_next_occurrence(&self.local(instant), false)
            .ok()
            .map(|zoned| zoned.timestamp())
    }

    /// The last slot at or before `instant`; `None` if there is none (in croner's search range).
    pub fn last_at_or_before(&self, instant: Timestamp) -> Option<Timestamp> {
        // croner works in whole seconds; a sub-second `instant` still includes the slot at its
        // second, which is not after it.
        let whole = Timestamp::from_second(instant.as_second()).ok()?;
        self.cron
            .find_previous_occurrence(&self.local(whole), true)
            .ok()
            .map(|zoned| zoned.timestamp())
    }

    /// The slots strictly after `instant`, in order.
    pub fn slots_after(&self, instant: Timestamp) -> impl Iterator<Item = Timestamp> + '_ {
        let mut cursor = instant;
        std::iter::from_fn(move || {
            let next = self.next_after(cursor)?;
            cursor = next;
            Some(next)
        })
    }

    /// A human description of the pattern, e.g. "At 03:00 on Sunday".
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn paris(text: &str) -> Timestamp {
        // A civil time in Paris; `text` is unambiguous in every test that uses this.
        let civil: jiff::civil::DateTime = text.parse().unwrap();
        civil.in_tz("Europe/Paris").unwrap().timestamp()
    }

    #[test]
    fn five_and_six_fields_and_nicknames_parse() {
        let weekly = Timing::parse("0 3 * * SUN", "Europe/Paris").unwrap();
        // 2026-11-22 is a Sunday; 03:00 in Paris (CET, +01:00) is 02:00 UTC.
        assert_eq!(
            weekly.next_after(at("2026-11-20T00:00:00Z")),
            Some(at("2026-11-22T02:00:00Z"))
        );
        let seconds = Timing::parse("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(
            seconds.next_after(at("2026-11-20T00:00:01Z")),
            Some(at("2026-11-20T00:00:10Z"))
        );
        let daily = Timing::parse("@daily", "UTC").unwrap();
        assert_eq!(
            daily.next_after(at("2026-11-20T00:00:00Z")),
            Some(at("2026-11-21T00:00:00Z"))
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_explained() {
        let four = Timing::parse("0 3 * *", "UTC").unwrap_err().to_string();
        assert!(four.contains("has 4 fields"), "{four}");
        let seven = Timing::parse("0 0 3 * * SUN 2027", "UTC")
            .unwrap_err()
            .to_string();
        assert!(seven.contains("has 7 fields"), "{seven}");
        let bad = Timing::parse("0 25 * * *", "UTC").unwrap_err().to_string();
        assert!(bad.contains("cron `0 25 * * *` is not valid"), "{bad}");
        let zone = Timing::parse("0 3 * * *", "Europe/Pariss").unwrap_err();
        assert_eq!(zone.cron, None);
        let zone = zone.zone.unwrap_or_default();
        assert!(
            zone.contains("time zone `Europe/Pariss` is not known"),
            "{zone}"
        );
        let both = Timing::parse("0 3 * *", "Europe/Pariss").unwrap_err();
        assert!(both.cron.is_some() && both.zone.is_some(), "{both:?}");
    }

    #[test]
    fn slots_iterate_in_order_and_last_at_or_before_includes_the_instant() {
        let hourly = Timing::parse("0 * * * *", "UTC").unwrap();
        let slots: Vec<_> = hourly
            .slots_after(at("2026-11-20T09:30:00Z"))
            .take(3)
            .collect();
        assert_eq!(
            slots,
            [
                at("2026-11-20T10:00:00Z"),
                at("2026-11-20T11:00:00Z"),
                at("2026-11-20T12:00:00Z")
            ]
        );
        assert_eq!(
            hourly.last_at_or_before(at("2026-11-20T11:00:00Z")),
            Some(at("2026-11-20T11:00:00Z"))
        );
        assert_eq!(
            hourly.last_at_or_before(at("2026-11-20T11:00:00.5Z")),
            Some(at("2026-11-20T11:00:00Z"))
        );
        assert_eq!(
            hourly.last_at_or_before(at("2026-11-20T10:59:59Z")),
            Some(at("2026-11-20T10:00:00Z"))
        );
    }

    #[test]
    fn a_fixed_time_in_the_spring_forward_gap_runs_right_after_it() {
        // 2026-03-29: Paris jumps from 02:00 CET to 03:00 CEST; 02:30 does not exist.
        let timing = Timing::parse("30 2 * * *", "Europe/Paris").unwrap();
        let slots: Vec<_> = timing
            .slots_after(paris("2026-03-28T12:00"))
            .take(3)
            .collect();
        assert_eq!(
            slots,
            [
                paris("2026-03-29T03:00"),
                paris("2026-03-30T02:30"),
                paris("2026-03-31T02:30")
            ]
        );
        assert_eq!(slots[0], at("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn a_fixed_time_in_the_repeated_hour_runs_once() {
        // 2026-10-25: Paris falls back from 03:00 CEST to 02:00 CET; 02:30 happens twice.
        let timing = Timing::parse("30 2 * * *", "Europe/Paris").unwrap();
        let slots: Vec<_> = timing
            .slots_after(at("2026-10-24T12:00:00Z"))
            .take(2)
            .collect();
        // The earlier 02:30 (CEST, +02:00) only, then the next day.
        assert_eq!(
            slots,
            [at("2026-10-25T00:30:00Z"), at("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn an_interval_pattern_runs_on_both_passes_of_the_repeated_hour() {
        let timing = Timing::parse("*/30 * * * *", "Europe/Paris").unwrap();
        let slots: Vec<_> = timing
            .slots_after(at("2026-10-24T23:45:00Z"))
            .take_while(|slot| *slot <= at("2026-10-25T02:00:00Z"))
            .collect();
        // 02:00 and 02:30 CEST, then 02:00 and 02:30 CET again, then 03:00 CET: every 30
        // minutes of real time, with no gap and no duplicate.
        assert_eq!(
            slots,
            [
                at("2026-10-25T00:00:00Z"),
                at("2026-10-25T00:30:00Z"),
                at("2026-10-25T01:00:00Z"),
                at("2026-10-25T01:30:00Z"),
                at("2026-10-25T02:00:00Z"),
            ]
        );
    }

    #[test]
    fn an_interval_pattern_skips_the_missing_hour() {
        let timing = Timing::parse("0 * * * *", "Europe/Paris").unwrap();
        let slots: Vec<_> = timing
            .slots_after(paris("2026-03-29T00:30"))
            .take(3)
            .collect();
        // 01:00 CET, then 03:00 CEST (02:00 does not exist), then 04:00 CEST.
        assert_eq!(
            slots,
            [
                paris("2026-03-29T01:00"),
                paris("2026-03-29T03:00"),
                paris("2026-03-29T04:00")
            ]
        );
        assert_eq!(
            slots[1].duration_since(slots[0]),
            jiff::SignedDuration::from_hours(1)
        );
    }

    #[test]
    fn a_pattern_that_never_matches_has_no_next_slot() {
        let never = Timing::parse("0 0 30 2 *", "UTC").unwrap();
        assert_eq!(never.next_after(at("2026-11-20T00:00:00Z")), None);
    }
}
