//! What the language needs to know about actions, without knowing any concrete action.
//!
//! The `runbook` layer imports nothing else in drbook, so it cannot list SDRS operations itself.
//! It defines [`ActionSpec`] (an action's inputs, effect and result) and the [`ActionCatalog`]
//! trait; validation takes a `&dyn ActionCatalog`. The concrete catalog, built from the SDRS
//! operation table plus the engine's built-ins, lives in `engine::catalog`.

use serde::Serialize;

/// Whether an action changes anything. Plans show it; dry runs refuse mutating actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    ReadOnly,
    Mutating,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::ReadOnly => "read-only",
            Effect::Mutating => "mutating",
        }
    }
}

/// Whether an action's result is an asynchronous job to wait for, and which service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Wait with `sdrs.job.wait`.
    Sdrs,
    /// Wait with `ecs.job.wait`.
    Ecs,
}

/// The type of an input, as validation checks it. Literal values are checked against it;
/// templated values are checked when the template is rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "of")]
pub enum InputKind {
    String,
    Integer,
    Boolean,
    /// A list of strings.
    StringList,
    /// A mapping.
    Object,
    /// A list of mappings.
    ObjectList,
    /// A list of anything.
    List,
    /// Any JSON value.
    Any,
    /// A duration (`30s`).
    Duration,
    /// An output selector (`$.server_group.status`).
    Selector,
    /// A condition (`{{ eq a b }}`).
    Condition,
    /// One of these strings.
    OneOf(Vec<String>),
    /// The name of another action; with `read_only`, only read-only actions are accepted.
    ActionName {
        read_only: bool,
    },
    /// The inputs of the action named by the sibling input (e.g. `wait.until`'s `with`).
    InputsOf(String),
}

impl InputKind {
    /// The kind in words, for messages and `drbook actions`.
    pub fn describe(&self) -> String {
        match self {
            InputKind::String => "string".into(),
            InputKind::Integer => "integer".into(),
            InputKind::Boolean => "boolean".into(),
            InputKind::StringList => "list of strings".into(),
            InputKind::Object => "mapping".into(),
            InputKind::ObjectList => "list of mappings".into(),
            InputKind::List => "list".into(),
            InputKind::Any => "any value".into(),
            InputKind::Duration => "duration".into(),
            InputKind::Selector => "selector".into(),
            InputKind::Condition => "condition".into(),
            InputKind::OneOf(values) => format!("one of {}", values.join(", ")),
            InputKind::ActionName { read_only: true } => "read-only action name".into(),
            InputKind::ActionName { read_only: false } => "action name".into(),
            InputKind::InputsOf(sibling) => format!("inputs of the `{sibling}` action"),
        }
    }
}

/// One input of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSpec {
    pub name: String,
    pub kind: InputKind,
    pub required: bool,
    /// One line for `drbook actions` (may be empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

impl InputSpec {
    pub fn required(name: impl Into<String>, kind: InputKind) -> Self {
        InputSpec {
            name: name.into(),
            kind,
            required: true,
            summary: String::new(),
        }
    }

    pub fn optional(name: impl Into<String>, kind: InputKind) -> Self {
        InputSpec {
            name: name.into(),
            kind,
            required: false,
            summary: String::new(),
        }
    }

    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }
}

/// Everything validation and planning need to know about an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionSpec {
    /// `sdrs.protection_group.failover`, `wait.until`, ...
    pub name: String,
    /// One line: what the action does.
    pub summary: String,
    pub inputs: Vec<InputSpec>,
    pub effect: Effect,
    /// `Some` when the result is `{"job_id": ...}` of an asynchronous job.
    pub returns_job: Option<JobKind>,
}

impl ActionSpec {
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

/// The set of actions a runbook may use.
pub trait ActionCatalog {
    /// The action called `name`.
    fn action(&self, name: &str) -> Option<&ActionSpec>;
    /// Every action, in a stable order (for suggestions, the schema and `drbook actions`).
    fn actions(&self) -> Vec<&ActionSpec>;
}

/// A catalog held in a vector: for tests and for building catalogs.
#[derive(Debug, Clone, Default)]
pub struct VecCatalog {
    pub actions: Vec<ActionSpec>,
}

impl ActionCatalog for VecCatalog {
    fn action(&self, name: &str) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.name == name)
    }

    fn actions(&self) -> Vec<&ActionSpec> {
        self.actions.iter().collect()
    }
}
