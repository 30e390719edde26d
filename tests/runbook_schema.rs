//! The committed JSON Schema is current, and the example runbooks conform to it.
//!
//! Conformance is checked two ways: with a small validator for the JSON Schema keywords the
//! generated schema uses (types, properties, required, additionalProperties, items, $ref,
//! allOf/anyOf/oneOf, const, enum; `pattern` is left out, as no regex engine is a dependency),
//! and by deserializing each runbook with serde into the very types the schema is generated
//! from, which must give the same runbook as the validating decoder.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

use std::path::{Path, PathBuf};

use drbook::engine::catalog::Catalog;
use drbook::runbook::{self, Runbook, Source, schema};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn committed_schema() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("schemas/runbook.schema.json")).unwrap()
}

#[test]
fn the_committed_schema_is_current() {
    let generated = schema::schema_text(Catalog::global());
    assert!(
        committed_schema() == generated,
        "schemas/runbook.schema.json is stale: run `cargo run -- schema > schemas/runbook.schema.json`"
    );
}

fn runbooks() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in ["runbooks", "tests/fixtures/runbooks/ok"] {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    assert!(paths.len() >= 5);
    paths
}

/// Validates `value` against `schema`; returns the first mismatch with its JSON path.
fn conform(value: &Value, schema: &Value, root: &Value, path: &str) -> Result<(), String> {
    let schema = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{path}: nothing is allowed here")),
        Value::Object(map) => map,
        other => return Err(format!("{path}: schema is not an object: {other}")),
    };
    if let Some(Value::String(reference)) = schema.get("$ref") {
        let pointer = reference.trim_start_matches('#');
        let target = root
            .pointer(pointer)
            .ok_or(format!("unknown $ref {reference}"))?;
        conform(value, target, root, path)?;
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for s in all {
            conform(value, s, root, path)?;
        }
    }
    if let Some(Value::Array(any)) = schema.get("anyOf")
        && !any.iter().any(|s| conform(value, s, root, path).is_ok())
    {
        return Err(format!("{path}: matches none of anyOf ({value})"));
    }
    if let Some(Value::Array(one)) = schema.get("oneOf") {
        let n = one
            .iter()
            .filter(|s| conform(value, s, root, path).is_ok())
            .count();
        if n != 1 {
            return Err(format!("{path}: matches {n} of oneOf ({value})"));
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{path}: expected {c}, found {value}"));
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{path}: expected {types:?}, found {value}"));
        }
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err(format!("{path}: `{key}` is required"));
                }
            }
        }
        for (key, child) in object {
            let child_path = format!("{path}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(s) => conform(child, s, root, &child_path)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{path}: `{key}` is not allowed"));
                    }
                    Some(s) => conform(child, s, root, &child_path)?,
                    None => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conform(item, s, root, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn example_runbooks_conform_to_the_schema() {
    let schema: Value = serde_json::from_str(&committed_schema()).unwrap();
    for path in runbooks() {
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        if let Err(e) = conform(&value, &schema, &schema, "$") {
            panic!("{} does not conform to the schema: {e}", path.display());
        }
    }
}

#[test]
fn the_schema_rejects_what_validation_rejects() {
    let schema: Value = serde_json::from_str(&committed_schema()).unwrap();
    let bad = [
        r#"{"name": "x", "steps": [{"id": "a", "action": "log", "neds": []}]}"#,
        r#"{"name": "x", "steps": [{"id": "a", "action": "sdrs.nope"}]}"#,
        r#"{"name": "x", "modes": ["dril"], "steps": []}"#,
        r#"{"steps": []}"#,
        r#"{"name": "x", "steps": [{"id": "a", "action": "log", "retry": {"backoff": {"kind": "constant", "initial": "1s", "factor": 2}}}]}"#,
    ];
    for text in bad {
        let value: Value = serde_json::from_str(text).unwrap();
        assert!(
            conform(&value, &schema, &schema, "$").is_err(),
            "accepted {text}"
        );
    }
}

#[test]
fn serde_reads_every_example_as_the_validating_decoder_does() {
    for path in runbooks() {
        let text = std::fs::read_to_string(&path).unwrap();
        let checked = runbook::check(
            &Source::new("x.yaml", text.clone()).unwrap(),
            Catalog::global(),
        )
        .unwrap_or_else(|d| panic!("{}: {d}", path.display()));
        let via_serde: Runbook =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(via_serde, checked, "{}", path.display());
    }
}

#[test]
fn examples_point_editors_at_the_schema() {
    for path in runbooks()
        .into_iter()
        .filter(|p| p.starts_with(Path::new(ROOT).join("runbooks")))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/runbook.schema.json\n"),
            "{}",
            path.display()
        );
    }
}
