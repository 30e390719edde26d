//! The request builder: turns an [`Operation`] and JSON inputs into the exact path, query and
//! body bytes the official SDK would send. Pure (no I/O), so the generic [`call`] and all typed
//! methods share it, and it is tested without a server.
//!
//! - Path: `{project_id}` from the credentials, every other `{name}` from the inputs, each
//!   percent-encoded like Python's `quote(v, safe='')` (RFC 3986 unreserved set kept).
//! - Query: only the inputs given, sorted by name then value, RFC 3986-encoded (space `%20`);
//!   this string is both sent and signed.
//! - Body: shaped by [`Body`]; keys in table order (= SDK declaration order), members of nested
//!   objects in the order of [`Operation::item_fields`]; written like `json.dumps` with the SDK's
//!   defaults (`", "` / `": "` separators, non-ASCII as `\uXXXX`) so bytes and signatures match.
//!
//! Inputs are validated first: unknown names, missing required inputs and wrong JSON types are
//! refused with an error that names the input. A `null` input counts as absent.
//!
//! [`call`]: super::Client::call

use serde_json::{Map, Number, Value};

use super::error::Error;
use super::operations::{Body, Kind, Method, Operation, Param};
use super::signer::{encode_query, encode_unreserved};

/// A request ready to be signed and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltRequest {
    pub method: Method,
    /// Percent-encoded path.
    pub path: String,
    /// Canonical query string without `?` (empty when there is none).
    pub query: String,
    /// Body bytes; `None` for operations without a body.
    pub body: Option<Vec<u8>>,
    pub content_type: &'static str,
}

impl BuiltRequest {
    /// Path and query as they appear in the request line.
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// JSON with object members in a chosen order (serde_json's `Map` sorts its keys).
#[derive(Debug, Clone, PartialEq)]
pub enum OrderedJson {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<OrderedJson>),
    Object(Vec<(String, OrderedJson)>),
}

impl OrderedJson {
    /// Converts a `Value`, keeping its (sorted) key order.
    pub fn from_value(value: &Value) -> Self {
        match value {
            Value::Null => OrderedJson::Null,
            Value::Bool(b) => OrderedJson::Bool(*b),
            Value::Number(n) => OrderedJson::Number(n.clone()),
            Value::String(s) => OrderedJson::String(s.clone()),
            Value::Array(items) => OrderedJson::Array(items.iter().map(Self::from_value).collect()),
            Value::Object(map) => OrderedJson::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Writes the value as Python's `json.dumps(value)` does with its defaults:
    /// `{"a": 1, "b": [1, 2]}`, `ensure_ascii=True`.
    pub fn to_sdk_json(&self) -> String {
        let mut out = String::new();
        self.write_sdk_json(&mut out);
        out
    }

    fn write_sdk_json(&self, out: &mut String) {
        match self {
            OrderedJson::Null => out.push_str("null"),
            OrderedJson::Bool(true) => out.push_str("true"),
            OrderedJson::Bool(false) => out.push_str("false"),
            OrderedJson::Number(n) => out.push_str(&n.to_string()),
            OrderedJson::String(s) => write_ascii_json_string(s, out),
            OrderedJson::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_sdk_json(out);
                }
                out.push(']');
            }
            OrderedJson::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_ascii_json_string(key, out);
                    out.push_str(": ");
                    value.write_sdk_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string with Python's `ensure_ascii` escaping: short escapes for `"` `\` `\n` `\r` `\t`
/// `\b` `\f`, and `\uXXXX` (lower-case hex, surrogate pairs above U+FFFF) for every other
/// character outside printable ASCII (`' '..='~'`), DEL included.
fn write_ascii_json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "a string",
        Kind::Integer => "an integer",
        Kind::Boolean => "a boolean",
        Kind::StringList => "a list of strings",
        Kind::Object => "an object",
        Kind::ObjectList => "a list of objects",
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks (and lightly coerces) one value against its declared kind. Scalars convert where the
/// meaning is unambiguous: a number or boolean given for a string becomes its text, a numeric
/// string given for an integer becomes the integer, `"true"`/`"false"` become booleans.
fn coerce(
    op: &'static Operation,
    path: &str,
    kind: Kind,
    value: &Value,
    item_fields: Option<&'static [Param]>,
) -> Result<OrderedJson, Error> {
    let wrong = || Error::InvalidInput {
        operation: op.name,
        input: path.to_owned(),
        reason: format!("expected {}, got {}", kind_name(kind), json_type(value)),
    };
    match (kind, value) {
        (Kind::String, Value::String(s)) => Ok(OrderedJson::String(s.clone())),
        (Kind::String, Value::Number(n)) => Ok(OrderedJson::String(n.to_string())),
        (Kind::String, Value::Bool(b)) => Ok(OrderedJson::String(b.to_string())),
        (Kind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Ok(OrderedJson::Number(n.clone()))
        }
        (Kind::Integer, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(|i| OrderedJson::Number(Number::from(i)))
            .map_err(|_| Error::InvalidInput {
                operation: op.name,
                input: path.to_owned(),
                reason: format!("expected an integer, got the string \"{s}\""),
            }),
        (Kind::Boolean, Value::Bool(b)) => Ok(OrderedJson::Bool(*b)),
        (Kind::Boolean, Value::String(s)) if s == "true" || s == "false" => {
            Ok(OrderedJson::Bool(s == "true"))
        }
        (Kind::StringList, Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| coerce(op, &format!("{path}[{i}]"), Kind::String, item, None))
            .collect::<Result<Vec<_>, _>>()
            .map(OrderedJson::Array),
        (Kind::Object, Value::Object(map)) => object(op, path, map, item_fields),
        (Kind::ObjectList, Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = format!("{path}[{i}]");
                match item {
                    Value::Object(map) => object(op, &item_path, map, item_fields),
                    other => Err(Error::InvalidInput {
                        operation: op.name,
                        input: item_path,
                        reason: format!("expected an object, got {}", json_type(other)),
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(OrderedJson::Array),
        _ => Err(wrong()),
    }
}

/// A nested object: known members checked and written in reference order, unknown members kept
/// after them, `null` members dropped.
fn object(
    op: &'static Operation,
    path: &str,
    map: &Map<String, Value>,
    item_fields: Option<&'static [Param]>,
) -> Result<OrderedJson, Error> {
    let Some(fields) = item_fields else {
        return Ok(OrderedJson::from_value(&Value::Object(map.clone())));
    };
    let mut members = Vec::with_capacity(map.len());
    for field in fields {
        match map.get(field.name) {
            None | Some(Value::Null) if field.required => {
                return Err(Error::InvalidInput {
                    operation: op.name,
                    input: format!("{path}.{}", field.name),
                    reason: "required".to_owned(),
                });
            }
            None | Some(Value::Null) => {}
            Some(value) => members.push((
                field.name.to_owned(),
                coerce(
                    op,
                    &format!("{path}.{}", field.name),
                    field.kind,
                    value,
                    None,
                )?,
            )),
        }
    }
    for (key, value) in map {
        if !value.is_null() && !fields.iter().any(|f| f.name == key) {
            members.push((key.clone(), OrderedJson::from_value(value)));
        }
    }
    Ok(OrderedJson::Object(members))
}

fn scalar_text(value: &OrderedJson) -> String {
    match value {
        OrderedJson::String(s) => s.clone(),
        OrderedJson::Number(n) => n.to_string(),
        OrderedJson::Bool(b) => b.to_string(),
        other => other.to_sdk_json(),
    }
}

/// Builds the request of `op` from `inputs`; `project_id` fills `{project_id}`.
pub fn build(
    op: &'static Operation,
    project_id: &str,
    inputs: &Map<String, Value>,
) -> Result<BuiltRequest, Error> {
    for name in inputs.keys() {
        if !op.inputs().any(|p| p.name == name) {
            let known: Vec<&str> = op.inputs().map(|p| p.name).collect();
            return Err(Error::InvalidInput {
                operation: op.name,
                input: name.clone(),
                reason: if known.is_empty() {
                    "unknown input: this operation takes no inputs".to_owned()
                } else {
                    format!("unknown input; expected one of: {}", known.join(", "))
                },
            });
        }
    }
    let value_of = |param: &Param| -> Result<Option<OrderedJson>, Error> {
        match inputs.get(param.name) {
            None | Some(Value::Null) if param.required => Err(Error::InvalidInput {
                operation: op.name,
                input: param.name.to_owned(),
                reason: "required".to_owned(),
            }),
            None | Some(Value::Null) => Ok(None),
            Some(value) => coerce(
                op,
                param.name,
                param.kind,
                value,
                op.item_fields(param.name),
            )
            .map(Some),
        }
    };

    let mut path = String::with_capacity(op.path.len() + 48);
    for (i, segment) in op.path.split('/').enumerate() {
        if i > 0 {
            path.push('/');
        }
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some("project_id") => path.push_str(&encode_unreserved(project_id.as_bytes())),
            Some(name) => {
                let param = op
                    .path_params
                    .iter()
                    .find(|p| p.name == name)
                    .ok_or_else(|| Error::InvalidInput {
                        operation: op.name,
                        input: name.to_owned(),
                        reason: "path placeholder missing from the operation table".to_owned(),
                    })?;
                let text = value_of(param)?
                    .map(|v| scalar_text(&v))
                    .unwrap_or_default();
                // An empty segment would address a different resource (or the collection).
                if text.is_empty() {
                    return Err(Error::InvalidInput {
                        operation: op.name,
                        input: name.to_owned(),
                        reason: "must not be empty".to_owned(),
                    });
                }
                path.push_str(&encode_unreserved(text.as_bytes()));
            }
            None => path.push_str(segment),
        }
    }

    let mut pairs = Vec::new();
    for param in op.query {
        if let Some(value) = value_of(param)? {
            pairs.push((param.name.to_owned(), scalar_text(&value)));
        }
    }
    let query = encode_query(&pairs);

    let body = match op.body {
        Body::None => None,
        Body::Wrapped { key, fields } => {
            let mut inner = Vec::new();
            for field in fields {
                if let Some(value) = value_of(field)? {
                    inner.push((field.name.to_owned(), value));
                }
            }
            let outer = OrderedJson::Object(vec![(key.to_owned(), OrderedJson::Object(inner))]);
            Some(outer.to_sdk_json().into_bytes())
        }
        Body::TopLevel { fields, fixed } => {
            let mut members = Vec::new();
            for field in fields {
                if let Some(value) = value_of(field)? {
                    members.push((field.name.to_owned(), value));
                }
            }
            for (name, value) in fixed {
                members.push(((*name).to_owned(), OrderedJson::String((*value).to_owned())));
            }
            Some(OrderedJson::Object(members).to_sdk_json().into_bytes())
        }
    };

    Ok(BuiltRequest {
        method: op.method,
        path,
        query,
        body,
        content_type: op.content_type(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]
mod tests {
    use super::*;
    use crate::sdrs::operations::find;
    use serde_json::json;

    fn inputs(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("inputs must be an object"),
        }
    }

    fn body_text(built: &BuiltRequest) -> &str {
        std::str::from_utf8(built.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn wrapped_body_matches_signing_vector_a_byte_for_byte() {
        let built = build(
            find("create_protection_group"),
            "0605767ef300d5762fd3c0147d8a8f1e",
            &inputs(json!({
                "dr_type": "migration", "source_vpc_id": "vpc-0001", "domain_id": "domain-0001",
                "target_availability_zone": "az-1b", "source_availability_zone": "az-1a",
                "description": "conformance", "name": "pg-web"
            })),
        )
        .unwrap();
        assert_eq!(
            built.path,
            "/v1/0605767ef300d5762fd3c0147d8a8f1e/server-groups"
        );
        assert_eq!(
            body_text(&built),
            r#"{"server_group": {"name": "pg-web", "description": "conformance", "source_availability_zone": "az-1a", "target_availability_zone": "az-1b", "domain_id": "domain-0001", "source_vpc_id": "vpc-0001", "dr_type": "migration"}}"#
        );
        assert_eq!(built.content_type, "application/json;charset=utf-8");
    }

    #[test]
    fn query_is_sorted_encoded_and_only_has_given_params() {
        let built = build(
            find("list_protected_instances"),
            "p",
            &inputs(json!({
                "server_group_id": "sg-0001", "name": "web 01/é+*~", "limit": 10, "offset": "0",
                "status": null
            })),
        )
        .unwrap();
        assert_eq!(
            built.target(),
            "/v1/p/protected-instances?limit=10&name=web%2001%2F%C3%A9%2B%2A~&offset=0&server_group_id=sg-0001"
        );
        assert_eq!(built.body, None);
        assert_eq!(built.content_type, "application/json");
    }

    #[test]
    fn path_params_are_encoded_like_quote_with_no_safe_characters() {
        let built = build(
            find("delete_protected_instance_tag"),
            "p",
            &inputs(json!({"protected_instance_id": "pi-0001", "key": "env name:1/é"})),
        )
        .unwrap();
        assert_eq!(
            built.path,
            "/v1/p/protected-instances/pi-0001/tags/env%20name%3A1%2F%C3%A9"
        );
    }

    #[test]
    fn empty_wrapped_and_top_level_bodies() {
        let start = build(
            find("start_protection_group"),
            "p",
            &inputs(json!({"server_group_id": "sg"})),
        )
        .unwrap();
        assert_eq!(body_text(&start), r#"{"start-server-group": {}}"#);
        let delete = build(
            find("delete_protected_instance"),
            "p",
            &inputs(json!({"protected_instance_id": "pi"})),
        )
        .unwrap();
        assert_eq!(body_text(&delete), "{}");
        let tags = build(
            find("batch_add_tags"),
            "p",
            &inputs(json!({"protected_instance_id": "pi", "tags": [{"value": "1", "key": "a"}]})),
        )
        .unwrap();
        assert_eq!(
            body_text(&tags),
            r#"{"tags": [{"key": "a", "value": "1"}], "action": "create"}"#
        );
    }

    #[test]
    fn nested_members_follow_the_sdk_order_and_unknown_members_follow() {
        let built = build(
            find("batch_create_protected_instances"),
            "p",
            &inputs(json!({
                "name_prefix": "web", "server_group_id": "sg",
                "servers": [{"flavorRef": "s6.large.2", "server_id": "s-1", "zz_extra": true}]
            })),
        )
        .unwrap();
        assert_eq!(
            body_text(&built),
            r#"{"protected_instances": {"name_prefix": "web", "server_group_id": "sg", "servers": [{"server_id": "s-1", "flavorRef": "s6.large.2", "zz_extra": true}]}}"#
        );
    }

    #[test]
    fn non_ascii_and_control_characters_are_escaped_like_python() {
        let built = build(
            find("update_protection_group_name"),
            "p",
            &inputs(json!({"server_group_id": "sg", "name": "é\u{1F600}\"\\\n\u{1}\u{7f}"})),
        )
        .unwrap();
        assert_eq!(
            body_text(&built),
            "{\"server_group\": {\"name\": \"\\u00e9\\ud83d\\ude00\\\"\\\\\\n\\u0001\\u007f\"}}"
        );
    }

    fn error_of(op: &str, value: Value) -> (String, String) {
        match build(find(op), "p", &inputs(value)).unwrap_err() {
            Error::InvalidInput { input, reason, .. } => (input, reason),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn invalid_inputs_are_named() {
        assert_eq!(
            error_of("show_protection_group", json!({})),
            ("server_group_id".into(), "required".into())
        );
        let (input, reason) = error_of(
            "show_protection_group",
            json!({"server_group_id": "a", "sever_group_id": "b"}),
        );
        assert_eq!(input, "sever_group_id");
        assert!(
            reason.contains("expected one of: server_group_id"),
            "{reason}"
        );
        assert_eq!(
            error_of(
                "expand_replication",
                json!({"replication_id": "r", "new_size": "big"})
            ),
            (
                "new_size".into(),
                "expected an integer, got the string \"big\"".into()
            )
        );
        assert_eq!(
            error_of(
                "batch_add_tags",
                json!({"protected_instance_id": "pi", "tags": [{"key": "a"}]})
            ),
            ("tags[0].value".into(), "required".into())
        );
        assert_eq!(
            error_of(
                "add_protected_instance_nic",
                json!({"protected_instance_id": "pi", "subnet_id": "s", "security_groups": ["sg"]})
            ),
            (
                "security_groups[0]".into(),
                "expected an object, got a string".into()
            )
        );
        assert_eq!(
            error_of("show_protection_group", json!({"server_group_id": ""})),
            ("server_group_id".into(), "must not be empty".into())
        );
        assert_eq!(
            error_of("show_quota", json!({"limit": 1})).1,
            "unknown input: this operation takes no inputs"
        );
    }

    #[test]
    fn scalars_are_coerced_where_unambiguous() {
        let built = build(
            find("expand_replication"),
            "p",
            &inputs(json!({"replication_id": "r", "new_size": "200"})),
        )
        .unwrap();
        assert_eq!(
            body_text(&built),
            r#"{"extend-replication": {"new_size": 200}}"#
        );
        let built = build(
            find("list_protected_instances_by_tags"),
            "p",
            &inputs(json!({"action": "filter", "limit": 10, "offset": 0})),
        )
        .unwrap();
        assert_eq!(
            body_text(&built),
            r#"{"limit": "10", "offset": "0", "action": "filter"}"#
        );
    }
}
