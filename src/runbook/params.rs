//! Param values for one run: parsed from `--param name=value` by the declared types, defaulted,
//! and kept apart when secret.
//!
//! Secret values live in `secrecy` boxes: they are exposed only to build the run-time template
//! context, print as `***` everywhere else (plans, `Debug`), and [`ParamValues::redact`] scrubs
//! them out of any text before it is logged.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::Error;
use super::decode::suggest;
use super::model::{ParamSpec, ParamType, Runbook};

/// What a secret prints as.
pub const MASK: &str = "***";

/// The params of one run.
#[derive(Clone, Default)]
pub struct ParamValues {
    plain: Map<String, Value>,
    secrets: BTreeMap<String, SecretString>,
}

impl fmt::Debug for ParamValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.masked()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string())),
            )
            .finish()
    }
}

impl ParamValues {
    /// Parses `name=value` pairs (as given on the command line) by the runbook's declarations,
    /// fills in defaults, and reports every unknown, mistyped or missing param at once.
    pub fn from_args(runbook: &Runbook, args: &[String]) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let mut given: Vec<(String, String)> = Vec::new();
        for arg in args {
            match arg.split_once('=') {
                Some((name, value)) if !name.trim().is_empty() => {
                    given.push((name.trim().to_string(), value.to_string()));
                }
                _ => problems.push(format!("`{arg}` is not `name=value`")),
            }
        }
        let mut typed: Vec<(String, Value)> = Vec::new();
        for (name, text) in given {
            let Some(spec) = runbook.params.get(&name) else {
                typed.push((name, Value::String(text)));
                continue;
            };
            match parse_value(spec, &text) {
                Ok(v) => typed.push((name, v)),
                // The value is left out of the message: it may be a secret.
                Err(why) => problems.push(format!("param `{name}`: {why}")),
            }
        }
        match Self::from_values(runbook, typed) {
            Ok(values) if problems.is_empty() => Ok(values),
            Ok(_) => Err(Error::Params(problems)),
            Err(Error::Params(more)) => {
                problems.extend(more);
                Err(Error::Params(problems))
            }
            Err(other) => Err(other),
        }
    }

    /// Builds values from typed JSON (an API, a stored run), checking them like
    /// [`from_args`](Self::from_args).
    pub fn from_values(
        runbook: &Runbook,
        values: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let mut out = ParamValues::default();
        let mut seen = Vec::new();
        for (name, value) in values {
            if seen.contains(&name) {
                problems.push(format!("param `{name}` is given twice"));
                continue;
            }
            seen.push(name.clone());
            let Some(spec) = runbook.params.get(&name) else {
                let mut message = format!("`{name}` is not a param of runbook `{}`", runbook.name);
                if let Some(s) = suggest(&name, runbook.params.keys().map(String::as_str)) {
                    message.push_str(&format!("; did you mean `{s}`?"));
                } else if !runbook.params.is_empty() {
                    let names: Vec<&str> = runbook.params.keys().map(String::as_str).collect();
                    message.push_str(&format!(" (params: {})", names.join(", ")));
                }
                problems.push(message);
                continue;
            };
            if let Err(why) = check_value(spec, &value) {
                problems.push(format!("param `{name}`: {why}"));
                continue;
            }
            out.insert(&name, spec, value);
        }
        for (name, spec) in &runbook.params {
            if seen.contains(name) {
                continue;
            }
            match &spec.default {
                Some(default) => out.insert(name, spec, default.clone()),
                None if spec.is_required() => problems.push(format!(
                    "param `{name}` is required{}: pass `--param {name}=<{}>`",
                    if spec.description.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", spec.description)
                    },
                    spec.kind.as_str()
                )),
                None => {
                    out.plain.insert(name.clone(), Value::Null);
                }
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(Error::Params(problems))
        }
    }

    fn insert(&mut self, name: &str, spec: &ParamSpec, value: Value) {
        if spec.secret {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.secrets
                .insert(name.to_string(), SecretString::from(text));
        } else {
            self.plain.insert(name.to_string(), value);
        }
    }

    /// Every value, secrets included: only for the run-time template context.
    pub fn expose(&self) -> Map<String, Value> {
        let mut out = self.plain.clone();
        for (name, secret) in &self.secrets {
            out.insert(
                name.clone(),
                Value::String(secret.expose_secret().to_string()),
            );
        }
        out
    }

    /// Every value with secrets replaced by `***`: for plans, logs and anything shown.
    pub fn masked(&self) -> Map<String, Value> {
        let mut out = self.plain.clone();
        for name in self.secrets.keys() {
            out.insert(name.clone(), Value::String(MASK.into()));
        }
        out
    }

    /// Whether any param is secret (callers skip masking when none is).
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The names of the secret params.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// Whether `name` is a secret param.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.contains_key(name)
    }

    /// `text` with every secret value replaced by `***` (for error messages and logs that may
    /// echo rendered inputs).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets.values() {
            let value = secret.expose_secret();
            if !value.is_empty() {
                out = out.replace(value, MASK);
            }
        }
        out
    }
}

fn parse_value(spec: &ParamSpec, text: &str) -> Result<Value, String> {
    match spec.kind {
        ParamType::String | ParamType::Enum => Ok(Value::String(text.to_string())),
        ParamType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "expected an integer".to_string()),
        ParamType::Boolean => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("expected `true` or `false`".into()),
        },
        ParamType::List => {
            let trimmed = text.trim();
            if trimmed.starts_with('[') {
                match serde_json::from_str::<Value>(trimmed) {
                    Ok(v @ Value::Array(_)) => Ok(v),
                    Ok(_) => Err("expected a JSON list".into()),
                    Err(e) => Err(format!("not a valid JSON list ({e})")),
                }
            } else if trimmed.is_empty() {
                Ok(Value::Array(Vec::new()))
            } else {
                Ok(Value::Array(
                    trimmed
                        .split(',')
                        .map(|s| Value::String(s.trim().to_string()))
                        .collect(),
                ))
            }
        }
    }
}

fn check_value(spec: &ParamSpec, value: &Value) -> Result<(), String> {
    let ok = match (spec.kind, value) {
        (ParamType::String, Value::String(_)) => true,
        (ParamType::Integer, v) => v.is_i64(),
        (ParamType::Boolean, Value::Bool(_)) => true,
        (ParamType::List, Value::Array(_)) => true,
        (ParamType::Enum, Value::String(s)) => {
            if spec.values.contains(s) {
                true
            } else {
                let mut message = format!("expected one of {}", spec.values.join(", "));
                if let Some(sug) = suggest(s, spec.values.iter().map(String::as_str)) {
                    message.push_str(&format!("; did you mean `{sug}`?"));
                }
                return Err(message);
            }
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {}", spec.kind.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runbook() -> Runbook {
        let yaml = r#"
name: t
params:
  server_group_id: { type: string, default: pg-web-0001 }
  servers: { type: list, default: [ecs-web-01] }
  batch: { type: integer, default: 2 }
  force: { type: boolean, default: false }
  site: { type: enum, values: [source, target], default: target }
  ticket: { type: string }
  password: { type: string, secret: true, required: false }
steps:
  - id: s
    action: log
    with: { message: hi }
"#;
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_are_parsed_by_type_and_defaulted() {
        let values = ParamValues::from_args(
            &runbook(),
            &args(&[
                "ticket=CHG-1",
                "servers=a, b",
                "batch=5",
                "force=true",
                "site=source",
            ]),
        )
        .unwrap();
        let v = values.expose();
        assert_eq!(v["ticket"], json!("CHG-1"));
        assert_eq!(v["servers"], json!(["a", "b"]));
        assert_eq!(v["batch"], json!(5));
        assert_eq!(v["force"], json!(true));
        assert_eq!(v["site"], json!("source"));
        assert_eq!(v["server_group_id"], json!("pg-web-0001"));
        assert_eq!(v["password"], json!(null));
        let json_list =
            ParamValues::from_args(&runbook(), &args(&["ticket=x", r#"servers=[{"id":"a"}]"#]))
                .unwrap();
        assert_eq!(json_list.expose()["servers"], json!([{"id": "a"}]));
    }

    #[test]
    fn every_problem_is_reported_and_names_the_param() {
        let err = ParamValues::from_args(
            &runbook(),
            &args(&["batch=many", "site=dr", "severs=x", "force"]),
        )
        .unwrap_err();
        let Error::Params(problems) = err else {
            panic!("{err}")
        };
        let text = problems.join("\n");
        assert!(
            text.contains("param `batch`: expected an integer"),
            "{text}"
        );
        assert!(
            text.contains("param `site`: expected one of source, target"),
            "{text}"
        );
        assert!(
            text.contains("`severs` is not a param of runbook `t`; did you mean `servers`?"),
            "{text}"
        );
        assert!(text.contains("`force` is not `name=value`"), "{text}");
        assert!(text.contains("param `ticket` is required"), "{text}");
        assert_eq!(problems.len(), 5, "{text}");
    }

    #[test]
    fn secrets_are_masked_and_redacted() {
        let values =
            ParamValues::from_args(&runbook(), &args(&["ticket=x", "password=hunter2"])).unwrap();
        assert_eq!(values.masked()["password"], json!(MASK));
        assert_eq!(values.expose()["password"], json!("hunter2"));
        assert!(!format!("{values:?}").contains("hunter2"));
        assert_eq!(
            values.redact("login with hunter2 failed"),
            "login with *** failed"
        );
    }
}
