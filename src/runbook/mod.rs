//! The runbook language: YAML model, parsing with locations, validation, the DAG plan, and the
//! template engine the run uses. No I/O besides reading the runbook file; no other drbook layer
//! is imported (actions are known through the [`ActionCatalog`] trait).
//!
//! ```text
//! text ──yaml──► Node tree ──decode──► Runbook ──validate──► Runbook (valid)
//!                 (spans)      (structural problems)   (cross-references)  │
//!                                                                          ▼
//!                            Plan::new(runbook, mode, params, catalog) ──► Plan (waves, DAG)
//! ```
//!
//! At run time the engine renders inputs with [`render`], evaluates `when`/`assert` with
//! [`evaluate_condition`], and picks outputs with [`Outputs::select`] / [`Selector::select`]:
//!
//! ```
//! use drbook::engine::catalog::Catalog;
//! use drbook::runbook::{self, Context, Mode, ParamValues, Plan, StepStatus};
//! use serde_json::json;
//!
//! let catalog = Catalog::global();
//! let runbook = runbook::load("runbooks/dr-drill.yaml".as_ref(), catalog)?;
//! let mode = runbook.resolve_mode(Some(Mode::Drill))?;
//! let params = ParamValues::from_args(&runbook, &["drill_vpc_id=vpc-drill-0001".into()])?;
//! let plan = Plan::new(&runbook, mode, &params, catalog)?;
//! assert_eq!(plan.waves[0], ["check_group"]);
//!
//! // Run time: render the inputs of the original step (not the plan's display copy).
//! let mut context = Context::for_run("run-1", mode, &params);
//! let step = runbook.step("check_group").expect("a step of the plan");
//! let request = runbook::render(&serde_json::to_value(&step.inputs)?, &context)?;
//! assert_eq!(request, json!({ "server_group_id": "pg-web-0001" }));
//!
//! // The action answered; keep the declared outputs for the steps that read them.
//! let result = json!({ "server_group": { "status": "protected", "name": "web-tier" } });
//! context.set_step(&step.id, StepStatus::Succeeded, step.outputs.select(&result));
//! let assert = runbook.step("ensure_protected").expect("a step");
//! let that = assert.inputs["that"].as_str().expect("a condition");
//! assert!(runbook::evaluate_condition(that, &context)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod catalog;
pub mod diagnostic;
pub mod duration;
pub mod graph;
pub mod helpers;
pub mod model;
pub mod params;
pub mod plan;
pub mod policy;
pub mod schema;
pub mod selector;
pub mod source;
pub mod template;

mod decode;
mod validate;
mod yaml;

use std::path::Path;

pub use catalog::{ActionCatalog, ActionSpec, Effect, InputKind, InputSpec, JobKind, VecCatalog};
pub use diagnostic::{Code, Diagnostics, Problem, RenderOptions};
pub use duration::Duration;
pub use model::{
    Compensate, ForEach, Items, Mode, Outputs, ParamSpec, ParamType, Runbook, Step, StepStatus,
};
pub use params::ParamValues;
pub use plan::{Plan, PlannedCompensate, PlannedEdge, PlannedForEach, PlannedStep};
pub use policy::{Backoff, ErrorPattern, OnFailure, RetryPolicy};
pub use selector::Selector;
pub use source::{MAX_RUNBOOK_BYTES, Source, Span};
pub use template::{Context, Template};

/// Error codes drbook itself gives to step failures (the `DRBOOK` namespace of retry patterns).
/// The engine reports these; runbooks match them in `retry_on` / `fail_fast_on`.
pub mod codes {
    /// An attempt ran longer than the step's `timeout`.
    pub const TIMEOUT: &str = "DRBOOK.TIMEOUT";
    /// An `assert` condition was false.
    pub const ASSERT: &str = "DRBOOK.ASSERT";
    /// An approval was rejected (or timed out with `on_timeout: reject`).
    pub const REJECTED: &str = "DRBOOK.REJECTED";
    /// `wait.until` saw a value listed in `stop`.
    pub const WAIT_STOPPED: &str = "DRBOOK.WAIT_STOPPED";
    /// `wait.until` or a job wait reached its `max_wait`.
    pub const WAIT_TIMEOUT: &str = "DRBOOK.WAIT_TIMEOUT";
    /// A template could not be rendered at run time (a missing value, a wrong type).
    pub const TEMPLATE: &str = "DRBOOK.TEMPLATE";
    /// A `for_each` had more failed items than `max_errors`.
    pub const ITEMS: &str = "DRBOOK.ITEMS";
    /// The step was cancelled (the run aborted while it ran).
    pub const CANCELLED: &str = "DRBOOK.CANCELLED";
    /// After a crash or a lost response, drbook could not tell whether a mutating call was
    /// applied, and will not re-issue it blindly.
    pub const UNKNOWN_OUTCOME: &str = "DRBOOK.UNKNOWN_OUTCOME";
    /// The run-wide deadline passed.
    pub const DEADLINE: &str = "DRBOOK.DEADLINE";

    /// Every code above, for documentation and tests.
    pub const ALL: &[&str] = &[
        TIMEOUT,
        ASSERT,
        REJECTED,
        WAIT_STOPPED,
        WAIT_TIMEOUT,
        TEMPLATE,
        ITEMS,
        CANCELLED,
        UNKNOWN_OUTCOME,
        DEADLINE,
    ];
}

/// Errors of the runbook layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_RUNBOOK_BYTES`].
    #[error("{name} is {size} bytes; runbooks are limited to 1 MiB ({limit} bytes)")]
    TooLarge { name: String, size: u64, limit: u64 },
    /// The runbook has problems; each has a location.
    #[error("{0}")]
    Invalid(Box<Diagnostics>),
    /// Params given for a run are wrong; one message per problem, each naming the param.
    #[error("invalid params:\n  {}", .0.join("\n  "))]
    Params(Vec<String>),
    /// The requested mode does not fit the runbook.
    #[error("{0}")]
    Mode(String),
    /// A template could not be rendered at run time.
    #[error("template: {message}")]
    Template { message: String },
}

impl Error {
    /// Whether the error means "no such file" (the CLI exits with "not found").
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Parses and validates a runbook, collecting every problem.
pub fn check(source: &Source, catalog: &dyn ActionCatalog) -> Result<Runbook, Box<Diagnostics>> {
    let mut problems = Vec::new();
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(failure) => {
            let code = if failure.over_budget {
                Code::YamlLimit
            } else {
                Code::YamlSyntax
            };
            let label = if failure.over_budget {
                "too complex"
            } else {
                "here"
            };
            let message = if failure.over_budget {
                format!(
                    "the YAML is too complex to load safely: {}",
                    failure.message
                )
            } else {
                format!("invalid YAML: {}", failure.message)
            };
            problems.push(Problem::new(code, failure.span, message).label(label));
            return Err(Box::new(Diagnostics::new(source.clone(), problems)));
        }
    };
    let decoded = decode::decode(&root, &mut problems);
    validate::validate(&decoded, &root, source, catalog, &mut problems);
    if problems.is_empty() {
        Ok(decoded.runbook)
    } else {
        Err(Box::new(Diagnostics::new(source.clone(), problems)))
    }
}

/// Reads, parses and validates a runbook file.
pub fn load(path: &Path, catalog: &dyn ActionCatalog) -> Result<Runbook, Error> {
    let source = Source::read(path)?;
    check(&source, catalog).map_err(Error::Invalid)
}

/// Renders the templates in a value (a step's `with`, a `for_each`'s items) against the run's
/// context. A string that is exactly one `{{ expression }}` keeps the expression's JSON type.
pub fn render(value: &serde_json::Value, context: &Context) -> Result<serde_json::Value, Error> {
    template::render(value, context).map_err(|e| Error::Template { message: e.message })
}

/// Evaluates a `when` or `assert` condition: one `{{ expression }}` (or `true`/`false`), judged
/// by [`helpers::truthy`].
pub fn evaluate_condition(condition: &str, context: &Context) -> Result<bool, Error> {
    template::evaluate_condition(condition, context)
        .map_err(|e| Error::Template { message: e.message })
}

#[cfg(test)]
mod tests;
