//! The JSON Schema of runbooks, generated from the model types (schemars).
//!
//! `schemas/runbook.schema.json` is this output, committed so that editors can use it
//! (yaml-language-server); a test fails when the committed file is stale. The action names of
//! the catalog are added as completions for `action` (steps and `compensate`).

use serde_json::{Value, json};

use super::catalog::ActionCatalog;
use super::model::Runbook;

/// The schema as JSON.
pub fn schema(catalog: &dyn ActionCatalog) -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Runbook)).unwrap_or(Value::Null);
    let actions: Vec<Value> = catalog
        .actions()
        .iter()
        .map(|a| json!({ "const": a.name, "description": a.summary }))
        .collect();
    for def in ["Step", "Compensate"] {
        if let Some(action) = schema
            .pointer_mut(&format!("/$defs/{def}/properties/action"))
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
