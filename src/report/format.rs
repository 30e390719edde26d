//! How times and durations read in reports: UTC to the second, durations in the largest units
//! that matter (`850ms`, `4.2s`, `3m 07s`, `2h 05m`).

use jiff::Timestamp;

/// Milliseconds from `start` to `end`; `None` when either is missing or the clock went backwards.
pub(crate) fn millis_between(start: Option<Timestamp>, end: Option<Timestamp>) -> Option<u64> {
    let (start, end) = (start?, end?);
    let millis = end.duration_since(start).as_millis();
    u64::try_from(millis).ok()
}

/// A timestamp as `2026-11-03 14:05:09 UTC`.
pub(crate) fn timestamp(time: Timestamp) -> String {
    time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A timestamp as `14:05:09` (for tables where the date is the run's).
pub(crate) fn time_of_day(time: Timestamp) -> String {
    time.strftime("%H:%M:%S").to_string()
}

/// A duration for people: `850ms`, `4.2s`, `59.9s`, `3m 07s`, `2h 05m`, `3d 4h`.
pub(crate) fn duration(millis: u64) -> String {
    if millis < 1_000 {
        return format!("{millis}ms");
    }
    if millis < 60_000 {
        // Tenths, truncated so that 59,999 ms never shows as "60.0s".
        return format!("{}.{}s", millis / 1_000, (millis % 1_000) / 100);
    }
    let seconds = millis / 1_000;
    if seconds < 3_600 {
        return format!("{}m {:02}s", seconds / 60, seconds % 60);
    }
    let minutes = seconds / 60;
    if minutes < 24 * 60 {
        return format!("{}h {:02}m", minutes / 60, minutes % 60);
    }
    let hours = minutes / 60;
    format!("{}d {}h", hours / 24, hours % 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_units_that_matter() {
        let cases = [
            (0, "0ms"),
            (850, "850ms"),
            (1_000, "1.0s"),
            (4_250, "4.2s"),
            (59_999, "59.9s"),
            (60_000, "1m 00s"),
            (187_000, "3m 07s"),
            (3_599_999, "59m 59s"),
            (3_600_000, "1h 00m"),
            (7_500_000, "2h 05m"),
            (100 * 3_600_000, "4d 4h"),
        ];
        for (millis, text) in cases {
            assert_eq!(duration(millis), text, "{millis} ms");
        }
    }

    #[test]
    fn timestamps_read_in_utc() {
        let time: Timestamp = "2026-11-03T15:05:09.123+01:00".parse().unwrap();
        assert_eq!(timestamp(time), "2026-11-03 14:05:09 UTC");
        assert_eq!(time_of_day(time), "14:05:09");
    }

    #[test]
    fn millis_between_needs_both_ends_in_order() {
        let start: Timestamp = "2026-11-03T14:00:00Z".parse().unwrap();
        let end: Timestamp = "2026-11-03T14:00:01.5Z".parse().unwrap();
        assert_eq!(millis_between(Some(start), Some(end)), Some(1_500));
        assert_eq!(millis_between(Some(end), Some(start)), None);
        assert_eq!(millis_between(None, Some(end)), None);
    }
}
