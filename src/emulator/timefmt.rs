//! The timestamp formats of the reference, which differ by resource.

use jiff::Timestamp;
use jiff::tz::TimeZone;

fn utc(at: Timestamp) -> jiff::civil::DateTime {
    at.to_zoned(TimeZone::UTC).datetime()
}

/// Jobs and the task center (5.1.1, 5.9.1): `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`, e.g.
/// `2019-04-01T12:00:00.000Z`.
pub fn job(at: Timestamp) -> String {
    let t = utc(at);
    format!(
        "{}.{:03}Z",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_nanosecond() / 1_000_000
    )
}

/// Protection groups, protected instances and drills (5.4.2, 5.5.3, 5.7.3):
/// `yyyy-MM-dd HH:mm:ss.SSS`, e.g. `2019-04-01 12:00:00.000`.
pub fn resource(at: Timestamp) -> String {
    let t = utc(at);
    format!(
        "{}.{:03}",
        t.strftime("%Y-%m-%d %H:%M:%S"),
        t.subsec_nanosecond() / 1_000_000
    )
}

/// Replication pairs (5.6.3): `yyyy-MM-ddTHH:mm:ss.SSSSSS`, e.g. `2019-04-01T12:00:00.000000`.
pub fn pair(at: Timestamp) -> String {
    let t = utc(at);
    format!(
        "{}.{:06}",
        t.strftime("%Y-%m-%dT%H:%M:%S"),
        t.subsec_nanosecond() / 1_000
    )
}

/// ECS servers: `yyyy-MM-ddTHH:mm:ssZ`.
pub fn ecs(at: Timestamp) -> String {
    utc(at).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_reference_examples() {
        let at: Timestamp = "2019-04-01T12:00:00.123456789Z".parse().unwrap();
        assert_eq!(job(at), "2019-04-01T12:00:00.123Z");
        assert_eq!(resource(at), "2019-04-01 12:00:00.123");
        assert_eq!(pair(at), "2019-04-01T12:00:00.123456");
        assert_eq!(ecs(at), "2019-04-01T12:00:00Z");
    }
}
