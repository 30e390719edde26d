//! Redaction of secret values before they are stored or audited.
//!
//! The store and the audit log write exactly what they are given: they never guess which fields
//! are secret, because a guess would both miss secrets with innocent names and mangle innocent
//! fields with scary ones. Callers know which parameters are `secret: true`; they pass those names
//! to [`redact`] before building a record or an audit entry.

use serde_json::Value;

/// The marker that replaces a secret value in records, audit entries and reports.
pub const REDACTED: &str = "<redacted>";

/// Replaces, at any depth of `value`, the value of every object member whose name is in
/// `secret_names` with [`REDACTED`], and every string equal to one of `secret_values` (the secrets
/// themselves, as they may have been rendered into a request body) with [`REDACTED`] too.
///
/// Returns how many values were replaced, so callers can assert in tests that redaction happened.
pub fn redact(value: &mut Value, secret_names: &[&str], secret_values: &[&str]) -> usize {
    match value {
        Value::Object(members) => members
            .iter_mut()
            .map(|(name, member)| {
                if secret_names.contains(&name.as_str()) {
                    *member = Value::String(REDACTED.to_owned());
                    1
                } else {
                    redact(member, secret_names, secret_values)
                }
            })
            .sum(),
        Value::Array(items) => items
            .iter_mut()
            .map(|item| redact(item, secret_names, secret_values))
            .sum(),
        Value::String(text) => {
            if !text.is_empty() && secret_values.contains(&text.as_str()) {
                *text = REDACTED.to_owned();
                1
            } else {
                0
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_named_members_and_known_values_at_any_depth() {
        let mut value = json!({
            "admin_pass": "hunter2",
            "server": {"name": "web-1", "metadata": {"admin_pass": {"nested": true}}},
            "list": [{"token": "t"}, "s3cr3t", "public"],
            "password_hint": "not a secret name",
        });
        let replaced = redact(&mut value, &["admin_pass", "token"], &["s3cr3t"]);
        assert_eq!(replaced, 4);
        assert_eq!(
            value,
            json!({
                "admin_pass": REDACTED,
                "server": {"name": "web-1", "metadata": {"admin_pass": REDACTED}},
                "list": [{"token": REDACTED}, REDACTED, "public"],
                "password_hint": "not a secret name",
            })
        );
    }

    #[test]
    fn empty_secret_value_does_not_redact_empty_strings() {
        let mut value = json!({"a": ""});
        assert_eq!(redact(&mut value, &[], &[""]), 0);
        assert_eq!(value, json!({"a": ""}));
    }
}
