//! Durations in the friendly form runbook authors write: `500ms`, `30s`, `5m`, `2h`, `1h30m`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`.
/// It always prints in the same canonical form (`90s` prints as `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(pub String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(millis: u64) -> Self {
        Duration(std::time::Duration::from_millis(millis))
    }

    pub const fn as_std(&self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        // Precision below a millisecond is not expressible in the friendly form.
        Duration(std::time::Duration::from_millis(d.as_millis() as u64))
    }
}

/// Longest duration accepted: 30 days. Anything longer in a DR runbook is a typo.
const MAX_MILLIS: u128 = 30 * 24 * 3600 * 1000;

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        if s.is_empty() {
            return Err(DurationError("a duration cannot be empty".into()));
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return Err(DurationError(format!(
                    "`{text}` is not a duration: expected a number at `{rest}`"
                )));
            }
            let number: u128 = rest[..digits]
                .parse()
                .map_err(|_| DurationError(format!("`{text}`: number too large")))?;
            rest = &rest[digits..];
            let unit_len = rest.len()
                - rest
                    .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                    .len();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let millis_per_unit: u128 = match unit {
                "ms" => 1,
                "s" => 1000,
                "m" => 60 * 1000,
                "h" => 3600 * 1000,
                "d" => 24 * 3600 * 1000,
                "" if rest.is_empty() => {
                    return Err(DurationError(format!(
                        "`{text}` has no unit: write `{text}s` for seconds (units: ms, s, m, h, d)"
                    )));
                }
                "" if rest.starts_with(char::is_whitespace) => {
                    return Err(DurationError(format!(
                        "`{text}` is not a duration: write the number and the unit together (`5m`, `30s`)"
                    )));
                }
                "" => {
                    return Err(DurationError(format!(
                        "`{text}` is not a duration: unexpected `{rest}` (use whole numbers, e.g. `1h30m` rather than `1.5h`)"
                    )));
                }
                other => {
                    return Err(DurationError(format!(
                        "`{text}` has the unknown unit `{other}` (units: ms, s, m, h, d)"
                    )));
                }
            };
            total = total.saturating_add(number.saturating_mul(millis_per_unit));
        }
        if total > MAX_MILLIS {
            return Err(DurationError(format!(
                "`{text}` is longer than the 30 days a runbook may wait"
            )));
        }
        Ok(Duration(std::time::Duration::from_millis(total as u64)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 24 * 3600 * 1000),
            ("h", 3600 * 1000),
            ("m", 60 * 1000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if millis >= size {
                write!(f, "{}{unit}", millis / size)?;
                millis %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: one or more `<number><unit>` parts, units ms, s, m, h, d (`500ms`, `30s`, `5m`, `1h30m`).",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$",
            "examples": ["30s", "5m", "1h30m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_forms_parse() {
        assert_eq!("30s".parse::<Duration>().unwrap(), Duration::from_secs(30));
        assert_eq!("5m".parse::<Duration>().unwrap(), Duration::from_secs(300));
        assert_eq!(
            "1h30m".parse::<Duration>().unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            "250ms".parse::<Duration>().unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            "2d".parse::<Duration>().unwrap(),
            Duration::from_secs(172_800)
        );
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (input, shown) in [
            ("90s", "1m30s"),
            ("0s", "0s"),
            ("1500ms", "1s500ms"),
            ("2h", "2h"),
        ] {
            let d: Duration = input.parse().unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<Duration>().unwrap(), d);
        }
    }

    #[test]
    fn bad_durations_say_why() {
        let cases = [
            ("30", "no unit"),
            ("5 minutes", "together"),
            ("5minutes", "unknown unit"),
            ("m5", "expected a number"),
            ("", "empty"),
            ("31d", "30 days"),
            ("1.5h", "whole numbers"),
        ];
        for (input, why) in cases {
            let err = input.parse::<Duration>().unwrap_err();
            assert!(err.0.contains(why), "{input}: {err}");
        }
    }
}
