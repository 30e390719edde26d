//! The JSON Schema of runbooks, generated from the model types (schemars).
//!
//! `schemas/runbook.schema.json` is this output, committed so that editors can use it
//! (yaml-language-server); a test fails when the committed file is stale. The schema is JSON
//! Schema draft-07, the draft every YAML editor plugin supports. The action names of the
//! catalog are added as completions for `action` (steps and `compensate`).

use serde_json::{Map, Value, json};

use super::catalog::ActionCatalog;
use super::model::Runbook;

/// The schema as JSON.
pub fn schema(catalog: &dyn ActionCatalog) -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut schema =
        serde_json::to_value(generator.into_root_schema_for::<Runbook>()).unwrap_or(Value::Null);
    drop_null_options(&mut schema);
    let actions: Vec<Value> = catalog
        .actions()
        .iter()
        .map(|a| json!({ "const": a.name, "description": a.summary }))
        .collect();
    for def in ["Step", "Compensate"] {
        if let Some(action) = schema
            .pointer_mut(&format!("/definitions/{def}/properties/action"))
            .and_then(Value::as_object_mut)
        {
            action.insert("anyOf".into(), Value::Array(actions.clone()));
        }
    }
    schema
}

/// The schema as the text of `schemas/runbook.schema.json`.
pub fn schema_text(catalog: &dyn ActionCatalog) -> String {
    let mut text = serde_json::to_string_pretty(&schema(catalog)).unwrap_or_default();
    text.push('\n');
    text
}

/// schemars writes an optional field as "`T` or null"; runbooks omit such fields instead of
/// writing `null`, so the schema offers only `T` (and editors do not suggest `null`).
fn drop_null_options(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(any)) = map.get("anyOf") {
                let is_null = |v: &Value| v == &json!({ "type": "null" });
                if any.len() == 2 && any.iter().any(is_null) {
                    let other = any.iter().find(|v| !is_null(v)).cloned();
                    map.remove("anyOf");
                    if let Some(Value::Object(inner)) = other {
                        merge(map, inner);
                    }
                    // In draft-07 a `$ref` hides its siblings (the description); `allOf` keeps both.
                    if map.len() > 1
                        && let Some(reference) = map.remove("$ref")
                    {
                        map.insert("allOf".into(), json!([{ "$ref": reference }]));
                    }
                }
            }
            if let Some(Value::Array(types)) = map.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 {
                    map.insert("type".into(), kept[0].clone());
                }
            }
            for child in map.values_mut() {
                drop_null_options(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_options),
        _ => {}
    }
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        into.entry(k).or_insert(v);
    }
}
