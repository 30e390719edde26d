//! Output selectors: paths into an action's JSON result, in the style of SSM Automation outputs.
//!
//! `$.server_group.status`, `$.entities.disaster_recovery_drill_id`,
//! `$.disaster_recovery_drill.drill_servers[0].drill_server_id`,
//! `$.protected_instances[*].target_server` (a wildcard yields a list), `$["odd-name"].x`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Field(String),
    Index(usize),
    Wildcard,
}

/// Why a selector could not be read: the message and the byte offset in the selector text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    pub message: String,
    pub offset: usize,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | ':')
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |offset: usize, message: String| SelectorError { message, offset };
        let Some(mut rest) = text.strip_prefix('$') else {
            return Err(err(
                0,
                format!(
                    "`{text}` is not a selector: selectors start with `$` (e.g. `$.server_group.status`)"
                ),
            ));
        };
        let mut segments = Vec::new();
        while let Some(c) = rest.chars().next() {
            let offset = text.len() - rest.len();
            match c {
                '.' => {
                    let name_len = rest[1..]
                        .find(|c: char| !is_name_char(c))
                        .unwrap_or(rest.len() - 1);
                    if name_len == 0 {
                        return Err(err(
                            offset,
                            format!("`{text}`: expected a field name after `.`"),
                        ));
                    }
                    segments.push(Segment::Field(rest[1..=name_len].to_string()));
                    rest = &rest[1 + name_len..];
                }
                '[' => {
                    let Some(close) = rest.find(']') else {
                        return Err(err(offset, format!("`{text}`: `[` is never closed")));
                    };
                    let inner = &rest[1..close];
                    let segment = if inner == "*" {
                        Segment::Wildcard
                    } else if let Ok(index) = inner.parse::<usize>() {
                        Segment::Index(index)
                    } else if inner.len() >= 2
                        && ((inner.starts_with('"') && inner.ends_with('"'))
                            || (inner.starts_with('\'') && inner.ends_with('\'')))
                    {
                        Segment::Field(inner[1..inner.len() - 1].to_string())
                    } else {
                        return Err(err(
                            offset,
                            format!(
                                "`{text}`: `[{inner}]` must be an index (`[0]`), a wildcard (`[*]`) or a quoted name (`[\"name\"]`)"
                            ),
                        ));
                    };
                    segments.push(segment);
                    rest = &rest[close + 1..];
                }
                other => {
                    return Err(err(
                        offset,
                        format!("`{text}`: unexpected `{other}`; use `.name`, `[0]` or `[*]`"),
                    ));
                }
            }
        }
        Ok(Selector {
            text: text.to_string(),
            segments,
        })
    }
}

impl Selector {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the selector yields a list (it contains a wildcard).
    pub fn is_multi(&self) -> bool {
        self.segments.contains(&Segment::Wildcard)
    }

    /// Selects from an action's result. Without a wildcard: the value, or `None` when the path
    /// does not exist. With wildcards: always a list of every match, in document order (paths
    /// that do not exist under a wildcard contribute nothing).
    pub fn select(&self, value: &Value) -> Option<Value> {
        let mut matches = Vec::new();
        collect(&self.segments, value, &mut matches);
        if self.is_multi() {
            Some(Value::Array(matches.into_iter().cloned().collect()))
        } else {
            matches.into_iter().next().cloned()
        }
    }
}

fn collect<'v>(segments: &[Segment], value: &'v Value, out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(value);
        return;
    };
    match (first, value) {
        (Segment::Field(name), Value::Object(map)) => {
            if let Some(child) = map.get(name) {
                collect(rest, child, out);
            }
        }
        (Segment::Index(i), Value::Array(items)) => {
            if let Some(child) = items.get(*i) {
                collect(rest, child, out);
            }
        }
        (Segment::Wildcard, Value::Array(items)) => {
            for child in items {
                collect(rest, child, out);
            }
        }
        (Segment::Wildcard, Value::Object(map)) => {
            for child in map.values() {
                collect(rest, child, out);
            }
        }
        _ => {}
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Selector {
    fn schema_name() -> Cow<'static, str> {
        "Selector".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A path into the action's JSON result: `$.server_group.status`, `$.items[0].id`, `$.items[*].id` (a wildcard yields a list), `$[\"odd-name\"]`.",
            "pattern": "^\\$",
            "examples": ["$.server_group.status", "$.entities.disaster_recovery_drill_id", "$.protected_instances[*].target_server"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(text: &str) -> Selector {
        text.parse().unwrap()
    }

    #[test]
    fn selects_fields_indexes_and_wildcards() {
        let result = json!({
            "server_group": {"status": "protected"},
            "disaster_recovery_drill": {"drill_servers": [{"drill_server_id": "d1"}, {"drill_server_id": "d2"}]},
            "protected_instances": [{"target_server": "a-dr"}, {"name": "no target"}, {"target_server": "b-dr"}],
            "metadata": {"__system__frozen": "false", "OS-EXT-STS:vm_state": "active"}
        });
        assert_eq!(
            sel("$.server_group.status").select(&result),
            Some(json!("protected"))
        );
        assert_eq!(
            sel("$.disaster_recovery_drill.drill_servers[1].drill_server_id").select(&result),
            Some(json!("d2"))
        );
        assert_eq!(
            sel("$.protected_instances[*].target_server").select(&result),
            Some(json!(["a-dr", "b-dr"]))
        );
        assert_eq!(
            sel("$.metadata.__system__frozen").select(&result),
            Some(json!("false"))
        );
        assert_eq!(
            sel("$.metadata.OS-EXT-STS:vm_state").select(&result),
            Some(json!("active"))
        );
        assert_eq!(
            sel("$['server_group'].status").select(&result),
            Some(json!("protected"))
        );
        assert_eq!(sel("$.missing.path").select(&result), None);
        assert_eq!(sel("$.missing[*]").select(&result), Some(json!([])));
        assert_eq!(sel("$").select(&json!(3)), Some(json!(3)));
    }

    #[test]
    fn bad_selectors_point_at_the_problem() {
        for (text, offset, why) in [
            ("server_group.status", 0, "start with `$`"),
            ("$.a..b", 3, "field name after `.`"),
            ("$.a[0", 3, "never closed"),
            ("$.a[x]", 3, "index"),
            ("$.a b", 3, "unexpected ` `"),
        ] {
            let err = text.parse::<Selector>().unwrap_err();
            assert!(err.message.contains(why), "{text}: {err}");
            assert_eq!(err.offset, offset, "{text}");
        }
    }
}
