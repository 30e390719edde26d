//! The plan: a validated runbook for one mode and one set of params, as a DAG in waves.
//!
//! A plan lists the steps that run in the chosen mode, grouped into waves (the steps of a wave
//! may run in parallel; a step's wave comes after the waves of everything it depends on), with
//! each step's action, effect, and inputs rendered as far as params allow (references to steps,
//! items or the run id stay as templates; secret params show as `***`). The engine schedules
//! from the same [`Plan`]; `drbook plan` prints it as text, JSON, Graphviz DOT or Mermaid.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Error;
use super::catalog::{ActionCatalog, Effect, JobKind};
use super::duration::Duration;
use super::graph::{EdgeKind, StepGraph};
use super::model::{Items, Mode, Outputs, Runbook};
use super::params::ParamValues;
use super::policy::{Backoff, OnFailure, RetryPolicy};
use super::template::{Context, Template, is_template};

/// A runbook planned for one mode and one set of params.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub mode: Option<Mode>,
    /// Param values, secrets masked.
    pub params: Map<String, Value>,
    /// The locks the run will hold, rendered.
    pub locks: Vec<String>,
    /// Step ids by wave.
    pub waves: Vec<Vec<String>>,
    /// The steps in wave order.
    pub steps: Vec<PlannedStep>,
    /// Every dependency between planned steps.
    pub edges: Vec<PlannedEdge>,
}

/// One step of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub action: String,
    /// What the action does, from the catalog.
    pub summary: String,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns_job: Option<JobKind>,
    /// 0-based wave.
    pub wave: usize,
    /// Steps it waits for (`needs`).
    pub needs: Vec<String>,
    /// Steps whose failure it handles; it runs only if one of them fails.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handles: Vec<String>,
    /// Inputs, rendered where params allow.
    pub inputs: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The value of `when` when params decide it (`false`: the run will skip the step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when_now: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_each: Option<PlannedForEach>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    pub on_failure: OnFailure,
    pub critical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compensate: Option<PlannedCompensate>,
    #[serde(skip_serializing_if = "Outputs::is_empty")]
    pub outputs: Outputs,
}

/// The fan-out of a planned step.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedForEach {
    /// The items when params determine them, else the template.
    pub items: Value,
    /// How many items, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    pub max_errors: u32,
}

/// The compensation of a planned step.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCompensate {
    pub action: String,
    pub effect: Effect,
    pub inputs: Map<String, Value>,
}

/// A dependency: `from` must be done before `to` starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedEdge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

impl Runbook {
    /// The mode a run uses: the requested one if the runbook supports it; the only mode when
    /// none is requested and the runbook has exactly one; none for a mode-less runbook.
    pub fn resolve_mode(&self, requested: Option<Mode>) -> Result<Option<Mode>, Error> {
        let list = || {
            self.modes
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (requested, self.modes.as_slice()) {
            (None, []) => Ok(None),
            (Some(m), []) => Err(Error::Mode(format!(
                "runbook `{}` declares no modes; run it without `--mode` (not `--mode {m}`)",
                self.name
            ))),
            (None, [only]) => Ok(Some(*only)),
            (None, _) => Err(Error::Mode(format!(
                "runbook `{}` supports several modes; choose one with `--mode` ({})",
                self.name,
                list()
            ))),
            (Some(m), modes) if modes.contains(&m) => Ok(Some(m)),
            (Some(m), _) => Err(Error::Mode(format!(
                "runbook `{}` does not support mode `{m}`; its modes: {}",
                self.name,
                list()
            ))),
        }
    }
}

impl Plan {
    /// Plans a validated runbook. `mode` must come from [`Runbook::resolve_mode`].
    pub fn new(
        runbook: &Runbook,
        mode: Option<Mode>,
        params: &ParamValues,
        catalog: &dyn ActionCatalog,
    ) -> Result<Plan, Error> {
        if !runbook.supports(mode) {
            runbook.resolve_mode(mode)?;
        }
        let graph = StepGraph::from_runbook(runbook);
        let active: Vec<bool> = runbook.steps.iter().map(|s| s.is_active_in(mode)).collect();
        let Some(waves) = graph.waves(|i| active[i]) else {
            return Err(Error::Mode(format!(
                "runbook `{}` has a dependency cycle; run `drbook validate` on it",
                runbook.name
            )));
        };
        let masked = params.masked();
        // Plans never know the run id; references to it stay templates.
        let context = Context::new("", mode, masked.clone());
        let mut steps = Vec::new();
        let mut wave_ids = Vec::new();
        for (w, wave) in waves.iter().enumerate() {
            let mut ids = Vec::new();
            for &i in wave {
                let step = &runbook.steps[i];
                ids.push(step.id.clone());
                let spec = catalog.action(&step.action);
                let mut needs = Vec::new();
                for &(p, kind) in graph.predecessors(i) {
                    if active[p] && kind == EdgeKind::Needs {
                        needs.push(runbook.steps[p].id.clone());
                    }
                }
                let handles = graph
                    .predecessors(i)
                    .iter()
                    .filter(|(p, kind)| active[*p] && *kind == EdgeKind::Handler)
                    .map(|&(p, _)| runbook.steps[p].id.clone())
                    .collect();
                let for_each = step.for_each.as_ref().map(|f| {
                    let items = match &f.items {
                        Items::List(items) => render_known(&Value::Array(items.clone()), &context),
                        Items::Template(text) => {
                            render_known(&Value::String(text.clone()), &context)
                        }
                    };
                    let count = items.as_array().map(Vec::len);
                    PlannedForEach {
                        items,
                        count,
                        concurrency: f.concurrency,
                        max_errors: f.max_errors,
                    }
                });
                let compensate = step.compensate.as_ref().map(|c| PlannedCompensate {
                    action: c.action.clone(),
                    effect: catalog
                        .action(&c.action)
                        .map_or(Effect::Mutating, |a| a.effect),
                    inputs: render_map(&c.inputs, &context),
                });
                steps.push(PlannedStep {
                    id: step.id.clone(),
                    description: step.description.clone(),
                    action: step.action.clone(),
                    summary: spec.map(|s| s.summary.clone()).unwrap_or_default(),
                    // An action missing from the catalog cannot pass validation; assume the
                    // worst if a caller plans an unvalidated runbook anyway.
                    effect: spec.map_or(Effect::Mutating, |s| s.effect),
                    returns_job: spec.and_then(|s| s.returns_job),
                    wave: w,
                    needs,
                    handles,
                    inputs: render_map(&step.inputs, &context),
                    when: step.when.clone(),
                    when_now: step
                        .when
                        .as_ref()
                        .and_then(|w| known_condition(w, &context)),
                    for_each,
                    retry: step.retry.clone(),
                    timeout: step.timeout,
                    on_failure: step.on_failure.clone(),
                    critical: step.critical,
                    compensate,
                    outputs: step.outputs.clone(),
                });
            }
            wave_ids.push(ids);
        }
        let edges = graph
            .edges()
            .into_iter()
            .filter(|(a, b, _)| active[*a] && active[*b])
            .map(|(a, b, kind)| PlannedEdge {
                from: runbook.steps[a].id.clone(),
                to: runbook.steps[b].id.clone(),
                kind,
            })
            .collect();
        let locks = runbook
            .locks
            .iter()
            .map(
                |l| match render_known(&Value::String(l.clone()), &context) {
                    Value::String(s) => s,
                    other => other.to_string(),
                },
            )
            .collect();
        Ok(Plan {
            runbook: runbook.name.clone(),
            mode,
            params: masked,
            locks,
            waves: wave_ids,
            steps,
            edges,
        })
    }

    pub fn step(&self, id: &str) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Whether any planned step (or compensation) changes anything.
    pub fn is_mutating(&self) -> bool {
        self.steps.iter().any(|s| {
            s.effect == Effect::Mutating
                || s.compensate
                    .as_ref()
                    .is_some_and(|c| c.effect == Effect::Mutating)
        })
    }

    /// The plan as text: waves, and for each step its action, effect and inputs.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mode = self
            .mode
            .map_or_else(|| "no mode".to_string(), |m| format!("mode {m}"));
        let n = self.steps.len();
        let _ = writeln!(
            out,
            "Plan for `{}` ({mode}): {n} step{} in {} wave{}",
            self.runbook,
            plural(n),
            self.waves.len(),
            plural(self.waves.len())
        );
        if !self.params.is_empty() {
            let params: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k}={}", compact(v)))
                .collect();
            let _ = writeln!(out, "Params: {}", params.join(", "));
        }
        if !self.locks.is_empty() {
            let _ = writeln!(out, "Locks:  {}", self.locks.join(", "));
        }
        for (w, wave) in self.waves.iter().enumerate() {
            let _ = writeln!(out, "\nWave {}", w + 1);
            for id in wave {
                let Some(step) = self.step(id) else { continue };
                let mut tags = vec![step.effect.as_str().to_string()];
                if let Some(job) = step.returns_job {
                    tags.push(match job {
                        JobKind::Sdrs => "returns an SDRS job".into(),
                        JobKind::Ecs => "returns an ECS job".into(),
                    });
                }
                let _ = writeln!(out, "  {}  {}  [{}]", step.id, step.action, tags.join(", "));
                if !step.handles.is_empty() {
                    let _ = writeln!(
                        out,
                        "      runs only if {} fails",
                        step.handles.join(" or ")
                    );
                }
                if !step.needs.is_empty() {
                    let _ = writeln!(out, "      needs:      {}", step.needs.join(", "));
                }
                if let Some(when) = &step.when {
                    let now = match step.when_now {
                        Some(true) => " (true: the step runs)",
                        Some(false) => " (false: the step will be skipped)",
                        None => "",
                    };
                    let _ = writeln!(out, "      when:       {when}{now}");
                }
                if let Some(f) = &step.for_each {
                    let mut line = format!("for each of {}", compact(&f.items));
                    if let Some(count) = f.count {
                        line.push_str(&format!(" ({count} item{})", plural(count)));
                    }
                    if let Some(c) = f.concurrency {
                        line.push_str(&format!(", {c} at a time"));
                    }
                    if f.max_errors > 0 {
                        line.push_str(&format!(", up to {} failed", f.max_errors));
                    }
                    let _ = writeln!(out, "      fan-out:    {line}");
                }
                for (k, v) in &step.inputs {
                    let _ = writeln!(out, "      with:       {k}: {}", compact(v));
                }
                if let Some(retry) = &step.retry {
                    let _ = writeln!(out, "      retry:      {}", describe_retry(retry));
                }
                if let Some(t) = step.timeout {
                    let _ = writeln!(out, "      timeout:    {t}");
                }
                if step.on_failure != OnFailure::Abort {
                    let _ = writeln!(out, "      on failure: {}", step.on_failure);
                }
                if !step.critical {
                    let _ = writeln!(out, "      critical:   no");
                }
                if let Some(c) = &step.compensate {
                    let inputs: Vec<String> = c
                        .inputs
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", compact(v)))
                        .collect();
                    let _ = writeln!(
                        out,
                        "      compensate: {} [{}] {}",
                        c.action,
                        c.effect.as_str(),
                        inputs.join(", ")
                    );
                }
                for (name, selector) in step.outputs.iter() {
                    let _ = writeln!(out, "      output:     {name} ← {selector}");
                }
            }
        }
        out
    }

    /// The DAG in Graphviz DOT.
    pub fn render_dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {} {{", dot_quote(&self.runbook));
        let _ = writeln!(out, "  rankdir=TB;");
        let _ = writeln!(
            out,
            "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"
        );
        for (w, wave) in self.waves.iter().enumerate() {
            let _ = writeln!(out, "  subgraph wave_{} {{ rank=same;", w + 1);
            for id in wave {
                let Some(step) = self.step(id) else { continue };
                let mut label = format!("{}\\n{}", dot_escape(&step.id), dot_escape(&step.action));
                if step.for_each.is_some() {
                    label.push_str("\\n(for each)");
                }
                let style = match step.effect {
                    Effect::Mutating => ", style=\"rounded,filled\", fillcolor=\"#fde2e2\"",
                    Effect::ReadOnly => "",
                };
                let _ = writeln!(
                    out,
                    "    {} [label=\"{label}\"{style}];",
                    dot_quote(&step.id)
                );
            }
            let _ = writeln!(out, "  }}");
        }
        for edge in &self.edges {
            let attrs = match edge.kind {
                EdgeKind::Needs => String::new(),
                EdgeKind::Handler => " [style=dashed, label=\"on failure\"]".to_string(),
            };
            let _ = writeln!(
                out,
                "  {} -> {}{attrs};",
                dot_quote(&edge.from),
                dot_quote(&edge.to)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The DAG as a Mermaid flowchart.
    pub fn render_mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        let index_of = |id: &str| self.steps.iter().position(|s| s.id == id);
        for (i, step) in self.steps.iter().enumerate() {
            let mut label = format!(
                "{}<br/>{}",
                mermaid_escape(&step.id),
                mermaid_escape(&step.action)
            );
            if step.for_each.is_some() {
                label.push_str("<br/>(for each)");
            }
            let class = match step.effect {
                Effect::Mutating => ":::mutating",
                Effect::ReadOnly => "",
            };
            let _ = writeln!(out, "  n{i}[\"{label}\"]{class}");
        }
        for edge in &self.edges {
            let (Some(a), Some(b)) = (index_of(&edge.from), index_of(&edge.to)) else {
                continue;
            };
            match edge.kind {
                EdgeKind::Needs => {
                    let _ = writeln!(out, "  n{a} --> n{b}");
                }
                EdgeKind::Handler => {
                    let _ = writeln!(out, "  n{a} -. on failure .-> n{b}");
                }
            }
        }
        out.push_str("  classDef mutating fill:#fde2e2,stroke:#c0392b\n");
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One-line JSON for a value (strings quoted so templates and empty strings stay visible).
fn compact(value: &Value) -> String {
    value.to_string()
}

fn describe_retry(retry: &RetryPolicy) -> String {
    let backoff = match &retry.backoff {
        Backoff::Constant { initial } => format!("every {initial}"),
        Backoff::Linear { initial, cap } => match cap {
            Some(cap) => format!("linear from {initial} up to {cap}"),
            None => format!("linear from {initial}"),
        },
        Backoff::Exponential {
            initial,
            factor,
            cap,
        } => match cap {
            Some(cap) => format!("exponential from {initial} ×{factor} up to {cap}"),
            None => format!("exponential from {initial} ×{factor}"),
        },
    };
    let mut text = format!("up to {} attempts, {backoff}", retry.max_attempts);
    if !retry.retry_on.is_empty() {
        let on: Vec<&str> = retry.retry_on.iter().map(|p| p.as_str()).collect();
        text.push_str(&format!("; on {}", on.join(", ")));
    }
    if !retry.fail_fast_on.is_empty() {
        let ff: Vec<&str> = retry.fail_fast_on.iter().map(|p| p.as_str()).collect();
        text.push_str(&format!("; never on {}", ff.join(", ")));
    }
    text
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_quote(text: &str) -> String {
    format!("\"{}\"", dot_escape(text))
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;")
}

fn render_map(
    inputs: &std::collections::BTreeMap<String, Value>,
    context: &Context,
) -> Map<String, Value> {
    inputs
        .iter()
        .map(|(k, v)| (k.clone(), render_known(v, context)))
        .collect()
}

/// Whether a template reads only what a plan knows: params and `run.mode`.
fn reads_only_params(template: &Template) -> bool {
    template.references().iter().all(|r| {
        matches!(
            (r.segment(0), r.segment(1), r.len()),
            (Some("params"), _, _) | (Some("run"), Some("mode"), 2)
        )
    })
}

/// A condition's value when params decide it.
fn known_condition(condition: &str, context: &Context) -> Option<bool> {
    let template = Template::parse(condition).ok()?;
    if !reads_only_params(&template) {
        return None;
    }
    super::template::evaluate_condition(condition, context).ok()
}

/// Renders the templates of a value that read only params and `run.mode`; every other template
/// (steps, items, the run id) is left as written.
fn render_known(value: &Value, context: &Context) -> Value {
    match value {
        Value::String(text) if is_template(text) => {
            let Ok(template) = Template::parse(text) else {
                return value.clone();
            };
            if !reads_only_params(&template) {
                return value.clone();
            }
            template.render(context).unwrap_or_else(|_| value.clone())
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_known(v, context)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_known(v, context)))
                .collect(),
        ),
        other => other.clone(),
    }
}
