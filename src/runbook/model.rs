//! The runbook model: plain owned data, what a validated runbook *is*.
//!
//! These types are the contract between the language and the engine, and the source of the
//! JSON Schema (`schemas/runbook.schema.json`, via schemars). They derive serde so that a
//! validated runbook can be stored with a run and read back; authors' YAML is decoded by
//! `decode.rs` instead, which reports every problem with its location.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::duration::Duration;
use super::policy::{OnFailure, RetryPolicy};
use super::selector::Selector;

/// A runbook: a DR procedure written once and run the same way every time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "drbook runbook")]
pub struct Runbook {
    /// Short name, shown in plans, run listings and the audit log.
    pub name: String,
    /// What the runbook does and when to use it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Inputs of the runbook, given with `--param name=value` or taken from their default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, ParamSpec>,
    /// The DR modes this runbook supports; `drbook run/plan --mode` picks one. Omit for a
    /// runbook that is not a DR operation (onboarding, housekeeping): it runs without `--mode`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modes: Vec<Mode>,
    /// What the runbook acts on (usually protection group ids), templated from params. Two runs
    /// holding the same lock never run at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
    /// The steps. They run as a DAG: a step starts when every step it `needs` is done.
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Whether the runbook can run in `mode` (`None`: without a mode).
    pub fn supports(&self, mode: Option<Mode>) -> bool {
        match mode {
            Some(m) => self.modes.contains(&m),
            None => self.modes.is_empty(),
        }
    }
}

/// A DR mode: what kind of operation a run is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A DR drill: drill servers in an isolated VPC, production untouched, always cleaned up.
    Drill,
    /// Planned failover: production stopped cleanly, then the protection group is reversed.
    PlannedFailover,
    /// Unplanned failover: the production site is lost; fail over to the DR site now.
    Failover,
    /// Planned reverse back to the original production site.
    Reverse,
    /// After a failover: protect again (reprotect) and move back to the original site.
    Failback,
}

impl Mode {
    pub const ALL: [Mode; 5] = [
        Mode::Drill,
        Mode::PlannedFailover,
        Mode::Failover,
        Mode::Reverse,
        Mode::Failback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Drill => "drill",
            Mode::PlannedFailover => "planned-failover",
            Mode::Failover => "failover",
            Mode::Reverse => "reverse",
            Mode::Failback => "failback",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not a mode; modes are {}",
                    Mode::ALL.map(|m| m.as_str()).join(", ")
                )
            })
    }
}

/// The declaration of one param.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// The param's type; `--param` values are parsed by it.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// The allowed values of an `enum` param.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Value used when the param is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Whether the param must be given. Default: required when there is no `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// The value is a secret: it prints as `***` everywhere (plans, logs, audit, checkpoints).
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// What the param means.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn default_true() -> bool {
    true
}

impl ParamSpec {
    /// Whether a value must be given on the command line.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

/// Type of a param.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A list: JSON (`["a","b"]`, `[{"id":"a"}]`) or comma-separated text (`a,b`).
    List,
    /// One of `values`.
    Enum,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
            ParamType::List => "list",
            ParamType::Enum => "enum",
        }
    }
}

/// One step of a runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id; other steps name it in `needs` and read it as `steps.<id>`.
    pub id: String,
    /// What the step is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What the step does: an SDRS/ECS operation (`sdrs.protection_group.failover`) or a
    /// built-in (`sdrs.job.wait`, `wait.until`, `approval`, `assert`, `sleep`, `log`).
    pub action: String,
    /// Inputs of the action. Strings may be templates (`{{ params.server_group_id }}`).
    #[serde(rename = "with", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Value>,
    /// Steps that must be done before this one starts (Argo `dependencies`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Condition: the step runs only when it is truthy, otherwise it is skipped (Argo `when`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Run the action once per item (Argo `withItems`/`withParam`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
    /// Try again on failure (SSM `maxAttempts`, Argo `retryStrategy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Longest one attempt may take (SSM `timeoutSeconds`); for `approval`, how long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// What a failure does (SSM `onFailure`).
    #[serde(default, skip_serializing_if = "is_abort")]
    pub on_failure: OnFailure,
    /// Whether a failure of this step fails the run (SSM `isCritical`; default true).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub critical: bool,
    /// The action that undoes this step, run in reverse order when the run aborts (saga).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<Compensate>,
    /// Run the step only in these modes (default: every mode of the runbook).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_in_modes: Vec<Mode>,
    /// Values picked from the action's result, readable as `steps.<id>.outputs.<name>`.
    #[serde(default, skip_serializing_if = "Outputs::is_empty")]
    pub outputs: Outputs,
}

fn is_abort(on_failure: &OnFailure) -> bool {
    *on_failure == OnFailure::Abort
}

impl Step {
    /// Whether the step runs in `mode` (a mode-less runbook passes `None`).
    pub fn is_active_in(&self, mode: Option<Mode>) -> bool {
        match mode {
            Some(m) => self.only_in_modes.is_empty() || self.only_in_modes.contains(&m),
            None => true,
        }
    }

    /// The retry policy in force: the declared one, or a single attempt.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone().unwrap_or_default()
    }
}

/// Fan-out: run the step's action once per item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForEach {
    /// A YAML list, or a template that yields a list (`{{ steps.list.outputs.ids }}`). Inside
    /// the step, `{{ item }}` is the current item and `{{ index }}` its position from 0.
    pub items: Items,
    /// Most items in flight at once (default: no limit beyond the run's global limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Failed items tolerated before the step fails (default 0). SSM `maxErrors`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_errors: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The items of a `for_each`.
#[derive(Debug, Clone, PartialEq)]
pub enum Items {
    /// Literal items written in the runbook.
    List(Vec<Value>),
    /// A template that renders to a list.
    Template(String),
}

impl Serialize for Items {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Items::List(items) => items.serialize(serializer),
            Items::Template(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Array(items) => Ok(Items::List(items)),
            Value::String(text) => Ok(Items::Template(text)),
            _ => Err(serde::de::Error::custom(
                "`items` is a list or a template string",
            )),
        }
    }
}

impl JsonSchema for Items {
    fn schema_name() -> Cow<'static, str> {
        "Items".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A YAML list, or a template yielding a list (`{{ steps.list.outputs.ids }}`).",
            "anyOf": [
                { "type": "array" },
                { "type": "string", "pattern": "\\{\\{" }
            ]
        })
    }
}

/// The undo of a step: an action and its inputs. Its templates may read the step's own outputs
/// (`steps.<this step>.outputs.*`); in a `for_each` step it runs once per succeeded item, with
/// `item`, `index` and that item's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compensate {
    /// The undoing action.
    pub action: String,
    /// Its inputs (templates allowed).
    #[serde(rename = "with", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Value>,
}

/// Declared outputs: name → selector into the action's JSON result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Outputs(pub BTreeMap<String, Selector>);

impl Outputs {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Selector> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Selector)> {
        self.0.iter()
    }

    /// Every declared output picked from one result; outputs whose path is absent are `null`.
    pub fn select(&self, result: &Value) -> serde_json::Map<String, Value> {
        self.0
            .iter()
            .map(|(name, selector)| (name.clone(), selector.select(result).unwrap_or(Value::Null)))
            .collect()
    }

    /// The outputs of a `for_each` step: each output is a list with one value per item, in item
    /// order (`results` are the items' results in item order).
    pub fn select_each(&self, results: &[Value]) -> serde_json::Map<String, Value> {
        self.0
            .iter()
            .map(|(name, selector)| {
                let values = results
                    .iter()
                    .map(|r| selector.select(r).unwrap_or(Value::Null))
                    .collect();
                (name.clone(), Value::Array(values))
            })
            .collect()
    }
}

/// The status of a step (`steps.<id>.status` in templates). The engine records these; a step
/// that reads another one depends on it, so it sees a final status (`succeeded`, `failed`,
/// `skipped`, `cancelled`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Not started yet.
    Pending,
    /// Its action is running.
    Running,
    /// Waiting for the asynchronous job its action started.
    WaitingJob,
    /// Waiting for an approval.
    WaitingApproval,
    /// Failed an attempt; the next one is scheduled.
    Retrying,
    /// Done; its outputs are available.
    Succeeded,
    /// Failed for good (after retries).
    Failed,
    /// Not run: its `when` was false, a step it needs failed, or it is a handler no one called.
    Skipped,
    /// Stopped because the run aborted while it ran.
    Cancelled,
    /// Its `compensate` action is running.
    Compensating,
    /// Undone by its `compensate` action.
    Compensated,
    /// Its `compensate` action failed.
    CompensationFailed,
}

impl StepStatus {
    pub const ALL: [StepStatus; 12] = [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::WaitingJob,
        StepStatus::WaitingApproval,
        StepStatus::Retrying,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Skipped,
        StepStatus::Cancelled,
        StepStatus::Compensating,
        StepStatus::Compensated,
        StepStatus::CompensationFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::WaitingJob => "waiting-job",
            StepStatus::WaitingApproval => "waiting-approval",
            StepStatus::Retrying => "retrying",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Compensating => "compensating",
            StepStatus::Compensated => "compensated",
            StepStatus::CompensationFailed => "compensation-failed",
        }
    }

    /// Whether the step will not change any more (its dependants may start or be skipped).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled
                | StepStatus::Compensated
                | StepStatus::CompensationFailed
        )
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_print_in_kebab_case_and_parse_back() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>(), Ok(mode));
            assert_eq!(serde_json::to_value(mode).unwrap(), json!(mode.as_str()));
        }
        assert!("planned_failover".parse::<Mode>().is_err());
    }

    #[test]
    fn a_param_without_default_is_required_unless_it_says_otherwise() {
        let mut spec = ParamSpec {
            kind: ParamType::String,
            values: vec![],
            default: None,
            required: None,
            secret: false,
            description: String::new(),
        };
        assert!(spec.is_required());
        spec.required = Some(false);
        assert!(!spec.is_required());
        spec.required = None;
        spec.default = Some(json!("x"));
        assert!(!spec.is_required());
    }

    #[test]
    fn step_statuses_print_as_serde_writes_them() {
        for status in StepStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
    }

    #[test]
    fn for_each_outputs_are_lists_in_item_order() {
        let outputs = Outputs(BTreeMap::from([(
            "job_id".to_string(),
            "$.job_id".parse().unwrap(),
        )]));
        let each =
            outputs.select_each(&[json!({"job_id": "j1"}), json!({}), json!({"job_id": "j3"})]);
        assert_eq!(each["job_id"], json!(["j1", null, "j3"]));
    }
}
