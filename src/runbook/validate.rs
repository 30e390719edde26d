//! Cross-reference checks on a decoded runbook: steps, actions, templates, modes, cleanup.
//!
//! Runs after decoding, on the model plus the node tree (for locations). Every check reports
//! and carries on; the result is the full list of problems of the file. The checks:
//! duplicate step ids; `needs` naming unknown steps; cycles (with their path); `on_failure`
//! handlers; unknown actions and missing, unknown or mistyped inputs (of the step and of its
//! `compensate`); templates (syntax, helpers, references to unknown params, steps, outputs,
//! `item` outside `for_each`, and reads of steps the reader does not depend on); conditions;
//! modes (`only_in_modes` within `modes`, no dependency on a step excluded from a mode); drill
//! cleanup; and `locks` on runbooks that change anything.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde_json::Value as Json;

use super::catalog::{ActionCatalog, ActionSpec, Effect, InputKind};
use super::decode::{Decoded, suggest};
use super::diagnostic::{Code, Problem};
use super::graph::{Ancestors, EdgeKind, StepGraph};
use super::helpers;
use super::model::{Items, Mode, Runbook};
use super::policy::OnFailure;
use super::source::{Source, Span};
use super::template::{PathExpr, Template, is_template};
use super::yaml::Node;

/// Action names that a drill runbook must pair.
const DRILL_CREATE: &str = "sdrs.drill.create";
const DRILL_DELETE: &str = "sdrs.drill.delete";

pub(crate) fn validate(
    decoded: &Decoded<'_>,
    root: &Node,
    source: &Source,
    catalog: &dyn ActionCatalog,
    problems: &mut Vec<Problem>,
) {
    let runbook = &decoded.runbook;
    let mut v = Validator {
        runbook,
        nodes: &decoded.step_nodes,
        root,
        source,
        catalog,
        problems,
        graph: StepGraph::new(runbook.steps.iter().map(|s| s.id.as_str())),
        ancestors: None,
    };
    let t = std::time::Instant::now();
    v.unique_ids();
    let t1 = t.elapsed();
    v.dependencies();
    let t2 = t.elapsed();
    v.handlers();
    v.cycles();
    let t3 = t.elapsed();
    v.ancestors = Some(v.graph.ancestors());
    let t4 = t.elapsed();
    v.modes();
    let t5 = t.elapsed();
    for i in 0..runbook.steps.len() {
        v.step_actions(i);
    }
    let t6 = t.elapsed();
    for i in 0..runbook.steps.len() {
        v.step_templates(i);
    }
    let t7 = t.elapsed();
    v.locks();
    v.drill_cleanup();
    if std::env::var_os("DRBOOK_TIMING").is_some() {
        eprintln!(
            "ids {t1:?} deps {t2:?} cycles {t3:?} anc {t4:?} modes {t5:?} actions {t6:?} templates {t7:?}"
        );
    }
}

struct Validator<'a, 'p> {
    runbook: &'a Runbook,
    nodes: &'a [&'a Node<'a>],
    root: &'a Node<'a>,
    source: &'a Source,
    catalog: &'a dyn ActionCatalog,
    problems: &'p mut Vec<Problem>,
    graph: StepGraph<'a>,
    ancestors: Option<Ancestors>,
}

/// Where a template sits, which decides what it may read.
#[derive(Debug, Clone, Copy)]
struct Scope {
    /// The step the template belongs to (`None` for `locks`).
    step: Option<usize>,
    /// `item` and `index` are defined (inside a `for_each` step's inputs or compensation).
    item: bool,
    /// The step may read its own outputs (its `compensate`).
    own_outputs: bool,
    /// Only params and `run.mode` are known (`locks`).
    params_only: bool,
}

impl<'a> Validator<'a, '_> {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn step_node(&self, i: usize) -> &'a Node<'a> {
        self.nodes[i]
    }

    /// Span of a step's key value (`action`, `needs`, ...), or of the step's id, or the step.
    fn field_span(&self, i: usize, key: &str) -> Span {
        let node = self.step_node(i);
        node.get(key)
            .map(|n| n.span)
            .or_else(|| node.get("id").map(|n| n.span))
            .unwrap_or(node.span)
    }

    fn id_span(&self, i: usize) -> Span {
        self.field_span(i, "id")
    }

    fn unique_ids(&mut self) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, step) in self.runbook.steps.iter().enumerate() {
            if step.id.is_empty() {
                continue;
            }
            match first.get(step.id.as_str()) {
                Some(&j) => {
                    let problem = Problem::new(
                        Code::DuplicateStep,
                        self.id_span(i),
                        format!("step id `{}` is used twice", step.id),
                    )
                    .label("second step with this id")
                    .related(self.id_span(j), "first step with this id");
                    self.push(problem);
                }
                None => {
                    first.insert(&step.id, i);
                }
            }
        }
    }

    fn step_ids(&self) -> impl Iterator<Item = &str> {
        self.runbook.steps.iter().map(|s| s.id.as_str())
    }

    fn dependencies(&mut self) {
        for (i, step) in self.runbook.steps.iter().enumerate() {
            let needs_node = self.step_node(i).get("needs");
            let mut seen: Vec<&str> = Vec::new();
            for (j, need) in step.needs.iter().enumerate() {
                let span = needs_node
                    .and_then(|n| n.at(j))
                    .map_or(self.field_span(i, "needs"), |n| n.span);
                if seen.contains(&need.as_str()) {
                    self.push(
                        Problem::new(
                            Code::InvalidValue,
                            span,
                            format!("`{need}` is listed twice in `needs`"),
                        )
                        .label("listed before"),
                    );
                    continue;
                }
                seen.push(need);
                if *need == step.id {
                    self.push(
                        Problem::new(Code::Cycle, span, format!("step `{need}` needs itself"))
                            .label("needs itself")
                            .help("remove it from its own `needs`"),
                    );
                    continue;
                }
                match self.graph.index_of(need) {
                    Some(p) => self.graph.add_edge(p, i, EdgeKind::Needs),
                    None => {
                        let mut problem = Problem::new(
                            Code::UnknownStep,
                            span,
                            format!("`needs` names `{need}`, which is not a step of this runbook"),
                        )
                        .label("unknown step");
                        if let Some(s) = suggest(need, self.step_ids()) {
                            problem = problem.help(format!("did you mean `{s}`?"));
                        }
                        self.push(problem);
                    }
                }
            }
        }
    }

    fn handlers(&mut self) {
        // Handler edges are added after checking against the `needs`-only ancestry, so that a
        // handler that is also an ancestor is reported as such rather than as a cycle.
        let has_handlers = self
            .runbook
            .steps
            .iter()
            .any(|s| matches!(s.on_failure, OnFailure::Handler(_)));
        if !has_handlers {
            return;
        }
        let needs_ancestors = self.graph.ancestors();
        let mut edges = Vec::new();
        for (i, step) in self.runbook.steps.iter().enumerate() {
            let OnFailure::Handler(handler) = &step.on_failure else {
                continue;
            };
            let span = self.field_span(i, "on_failure");
            let Some(h) = self.graph.index_of(handler) else {
                let mut problem = Problem::new(
                    Code::BadHandler,
                    span,
                    format!("`on_failure` names `{handler}`, which is neither `abort`, `continue` nor a step"),
                )
                .label("unknown handler");
                let candidates = self.step_ids().chain(["abort", "continue"]);
                if let Some(s) = suggest(handler, candidates) {
                    problem = problem.help(format!("did you mean `{s}`?"));
                }
                self.push(problem);
                continue;
            };
            if h == i {
                self.push(
                    Problem::new(
                        Code::BadHandler,
                        span,
                        format!("step `{handler}` is its own failure handler"),
                    )
                    .label("names itself")
                    .help("a handler runs after the step fails; name another step"),
                );
                continue;
            }
            if needs_ancestors.depends_on(i, h) {
                let problem = Problem::new(
                    Code::BadHandler,
                    span,
                    format!("handler `{handler}` runs before `{}`, so it cannot handle its failure", step.id),
                )
                .label("handler is an ancestor")
                .related(self.id_span(h), "the handler")
                .help(format!("`{}` depends on `{handler}` through `needs`; pick a handler that does not run before it", step.id));
                self.push(problem);
                continue;
            }
            edges.push((i, h));
        }
        for (i, h) in edges {
            self.graph.add_edge(i, h, EdgeKind::Handler);
        }
    }

    fn cycles(&mut self) {
        for cycle in self.graph.cycles() {
            let names: Vec<&str> = cycle.iter().map(|&i| self.graph.id(i)).collect();
            // In `needs` terms the cycle reads backwards: the last step needs the one before.
            let mut spans = Vec::new();
            for pair in cycle.windows(2) {
                let (before, after) = (pair[0], pair[1]);
                spans.push((self.edge_span(before, after), after, before));
            }
            let reversed: Vec<&str> = names.iter().rev().copied().collect();
            let message = format!("dependency cycle: {}", reversed.join(" → "));
            let Some(((first_span, first_after, first_before), rest)) = spans.split_first() else {
                continue;
            };
            let mut problem = Problem::new(Code::Cycle, *first_span, message)
                .label(format!(
                    "`{}` needs `{}`",
                    self.graph.id(*first_after),
                    self.graph.id(*first_before)
                ))
                .help("each step in the cycle waits for the next one, so none can start; remove one of these `needs`");
            for (span, after, before) in rest {
                problem = problem.related(
                    *span,
                    format!(
                        "`{}` needs `{}`",
                        self.graph.id(*after),
                        self.graph.id(*before)
                    ),
                );
            }
            self.push(problem);
        }
    }

    /// Span of the `needs` entry (or `on_failure`) that makes `after` come after `before`.
    fn edge_span(&self, before: usize, after: usize) -> Span {
        let before_id = self.graph.id(before);
        let step = &self.runbook.steps[after];
        if let Some(j) = step.needs.iter().position(|n| n == before_id)
            && let Some(node) = self.step_node(after).get("needs").and_then(|n| n.at(j))
        {
            return node.span;
        }
        if step.on_failure == OnFailure::Handler(before_id.to_string()) {
            // The handler edge is declared on the failing step.
            return self.field_span(before, "on_failure");
        }
        self.id_span(after)
    }

    fn depends_on(&self, step: usize, on: usize) -> bool {
        self.ancestors
            .as_ref()
            .is_some_and(|a| a.depends_on(step, on))
    }

    fn modes(&mut self) {
        let runbook = self.runbook;
        for (i, step) in runbook.steps.iter().enumerate() {
            let list_node = self.step_node(i).get("only_in_modes");
            for (j, mode) in step.only_in_modes.iter().enumerate() {
                if !runbook.modes.contains(mode) {
                    let span = list_node
                        .and_then(|n| n.at(j))
                        .map_or(self.field_span(i, "only_in_modes"), |n| n.span);
                    let message = if runbook.modes.is_empty() {
                        format!(
                            "`only_in_modes` names `{mode}`, but the runbook declares no `modes`"
                        )
                    } else {
                        format!(
                            "`only_in_modes` names `{mode}`, which the runbook does not support (modes: {})",
                            join_modes(&runbook.modes)
                        )
                    };
                    self.push(
                        Problem::new(Code::UnsupportedMode, span, message)
                            .label("unsupported mode"),
                    );
                }
            }
        }
        if runbook.modes.is_empty() {
            return;
        }
        // A step active in a mode may depend only on steps active in that mode: otherwise it
        // would wait for (and maybe read) a step that never runs.
        for (i, step) in runbook.steps.iter().enumerate() {
            let predecessors = self.graph.predecessors(i).to_vec();
            for (p, kind) in predecessors {
                let other = &runbook.steps[p];
                let missing: Vec<Mode> = runbook
                    .modes
                    .iter()
                    .copied()
                    .filter(|m| step.is_active_in(Some(*m)) && !other.is_active_in(Some(*m)))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let (span, message) = match kind {
                    EdgeKind::Needs => (
                        self.edge_span(p, i),
                        format!(
                            "step `{}` runs in {} but needs `{}`, which does not",
                            step.id,
                            join_modes(&missing),
                            other.id
                        ),
                    ),
                    EdgeKind::Handler => (
                        self.field_span(p, "on_failure"),
                        format!(
                            "step `{}` runs in {} but its handler `{}` does not",
                            other.id,
                            join_modes(&missing),
                            step.id
                        ),
                    ),
                };
                // Point at the modes of the step that is missing from them.
                let excluded = if kind == EdgeKind::Needs { p } else { i };
                self.push(
                    Problem::new(Code::ExcludedDependency, span, message)
                        .label(format!("not in {}", join_modes(&missing)))
                        .related(self.field_span(excluded, "only_in_modes"), "its modes"),
                );
            }
        }
    }

    fn step_actions(&mut self, i: usize) {
        let step = &self.runbook.steps[i];
        let node = self.step_node(i);
        if !step.action.is_empty() {
            let action_span = node.get("action").map_or(self.id_span(i), |n| n.span);
            self.check_action(&step.action, action_span, &step.inputs, node.get("with"));
        }
        if let Some(compensate) = &step.compensate {
            let comp_node = node.get("compensate");
            let span = comp_node
                .and_then(|n| n.get("action"))
                .map_or(self.field_span(i, "compensate"), |n| n.span);
            self.check_action(
                &compensate.action,
                span,
                &compensate.inputs,
                comp_node.and_then(|n| n.get("with")),
            );
        }
    }

    fn check_action(
        &mut self,
        action: &str,
        action_span: Span,
        inputs: &BTreeMap<String, Json>,
        with_node: Option<&Node>,
    ) -> Option<Effect> {
        // The catalog outlives the validator, so the spec is borrowed from it, not from `self`.
        let catalog = self.catalog;
        let Some(spec) = catalog.action(action) else {
            let mut problem = Problem::new(
                Code::UnknownAction,
                action_span,
                format!("`{action}` is not an action"),
            )
            .label("unknown action");
            let names: Vec<&str> = self
                .catalog
                .actions()
                .iter()
                .map(|a| a.name.as_str())
                .collect();
            if let Some(s) = suggest(action, names.iter().copied()) {
                problem = problem.help(format!("did you mean `{s}`?"));
            }
            self.push(problem);
            return None;
        };
        self.check_inputs(spec, action_span, inputs, with_node);
        Some(spec.effect)
    }

    fn check_inputs(
        &mut self,
        spec: &ActionSpec,
        action_span: Span,
        inputs: &BTreeMap<String, Json>,
        with_node: Option<&Node>,
    ) {
        for (name, value) in inputs {
            let key_span = with_node
                .and_then(|n| n.key_node(name))
                .map_or(action_span, |n| n.span);
            let value_node = with_node.and_then(|n| n.get(name));
            let Some(input) = spec.input(name) else {
                let mut problem = Problem::new(
                    Code::UnknownInput,
                    key_span,
                    format!("`{}` has no input `{name}`", spec.name),
                )
                .label("unknown input");
                let names: Vec<&str> = spec.inputs.iter().map(|i| i.name.as_str()).collect();
                problem = match suggest(name, names.iter().copied()) {
                    Some(s) => problem.help(format!("did you mean `{s}`?")),
                    None if names.is_empty() => {
                        problem.help(format!("`{}` takes no inputs", spec.name))
                    }
                    None => problem.help(format!(
                        "the inputs of `{}` are: {}",
                        spec.name,
                        names.join(", ")
                    )),
                };
                self.push(problem);
                continue;
            };
            let span = value_node.map_or(key_span, |n| n.span);
            self.check_input_value(spec, name, &input.kind, value, span, inputs, value_node);
        }
        let missing: Vec<&str> = spec
            .inputs
            .iter()
            .filter(|i| i.required && !inputs.contains_key(&i.name))
            .map(|i| i.name.as_str())
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.push(
                Problem::new(
                    Code::MissingInput,
                    action_span,
                    format!(
                        "`{}` needs the input{} {list}",
                        spec.name,
                        if missing.len() == 1 { "" } else { "s" }
                    ),
                )
                .label(format!("missing {list}"))
                .help(format!("add {list} under `with`")),
            );
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one input's full context; splitting it up only moves the arguments around"
    )]
    fn check_input_value(
        &mut self,
        spec: &ActionSpec,
        name: &str,
        kind: &InputKind,
        value: &Json,
        span: Span,
        siblings: &BTreeMap<String, Json>,
        value_node: Option<&Node>,
    ) {
        let type_error = |expected: &str, value: &Json| {
            Problem::new(
                Code::InputType,
                span,
                format!(
                    "input `{name}` of `{}` must be {expected}, not {}",
                    spec.name,
                    helpers::kind(value)
                ),
            )
            .label(format!("expected {expected}"))
        };
        // A template's type is known only when it is rendered, except that text around an
        // expression always renders to a string.
        if let Json::String(text) = value
            && is_template(text)
        {
            let needs_structure = matches!(
                kind,
                InputKind::Integer
                    | InputKind::Boolean
                    | InputKind::StringList
                    | InputKind::Object
                    | InputKind::ObjectList
                    | InputKind::List
            );
            // Parsing is needed only to see whether a typed input keeps its type.
            let single = needs_structure
                && Template::parse(text)
                    .ok()
                    .is_some_and(|t| t.single_expression().is_some());
            if needs_structure && !single {
                self.push(
                        Problem::new(
                            Code::InputType,
                            span,
                            format!(
                                "input `{name}` of `{}` must be {}, but this template renders to a string",
                                spec.name,
                                kind.describe()
                            ),
                        )
                        .label("renders to a string")
                        .help("make the value exactly one `{{ expression }}` so that it keeps its type"),
                    );
            }
            if matches!(kind, InputKind::ActionName { .. } | InputKind::Selector) {
                self.push(
                    Problem::new(
                        Code::InputType,
                        span,
                        format!("input `{name}` cannot be a template"),
                    )
                    .label("must be written out")
                    .help("validation checks this input before the run, so it must be literal"),
                );
            }
            return;
        }
        match kind {
            InputKind::Any => {}
            InputKind::String => {
                if !value.is_string() {
                    let problem =
                        type_error("a string", value).help("quote the value to make it a string");
                    self.push(problem);
                }
            }
            InputKind::Integer => {
                if !value.is_i64() && !value.is_u64() {
                    self.push(type_error("an integer", value));
                }
            }
            InputKind::Boolean => {
                if !value.is_boolean() {
                    self.push(type_error("`true` or `false`", value));
                }
            }
            InputKind::StringList => match value {
                Json::Array(items) if items.iter().all(Json::is_string) => {}
                _ => self.push(type_error("a list of strings", value)),
            },
            InputKind::Object => {
                if !value.is_object() {
                    self.push(type_error("a mapping", value));
                }
            }
            InputKind::ObjectList => match value {
                Json::Array(items)
                    if items.iter().all(|i| i.is_object() || is_template_value(i)) => {}
                _ => self.push(
                    type_error("a list of mappings", value).help("e.g. `[{id: ecs-web-01}]`"),
                ),
            },
            InputKind::List => {
                if !value.is_array() {
                    self.push(type_error("a list", value));
                }
            }
            InputKind::Duration => match value {
                Json::String(text) => {
                    if let Err(e) = text.parse::<super::duration::Duration>() {
                        self.push(
                            Problem::new(Code::BadDuration, span, e.0).label("not a duration"),
                        );
                    }
                }
                Json::Number(n) => self.push(
                    Problem::new(
                        Code::BadDuration,
                        span,
                        format!("duration `{n}` has no unit"),
                    )
                    .label("no unit")
                    .help(format!("write `{n}s` for seconds or `{n}m` for minutes")),
                ),
                other => self.push(type_error("a duration such as `30s`", other)),
            },
            InputKind::Selector => match value {
                Json::String(text) => {
                    if let Err(e) = text.parse::<super::selector::Selector>() {
                        let span = super::decode::narrow(span, e.offset, text);
                        self.push(
                            Problem::new(Code::BadSelector, span, e.message).label("bad selector"),
                        );
                    }
                }
                other => self.push(type_error(
                    "a selector such as `$.server_group.status`",
                    other,
                )),
            },
            InputKind::Condition => match value {
                Json::Bool(_) => {}
                Json::String(_) => {}
                other => self.push(type_error("a condition such as `{{ eq a b }}`", other)),
            },
            InputKind::OneOf(values) => match value {
                Json::String(s) if values.contains(s) => {}
                Json::String(s) => {
                    let mut problem = Problem::new(
                        Code::InputType,
                        span,
                        format!(
                            "input `{name}` of `{}` must be one of {}, not `{s}`",
                            spec.name,
                            values.join(", ")
                        ),
                    )
                    .label("not an allowed value");
                    if let Some(sug) = suggest(s, values.iter().map(String::as_str)) {
                        problem = problem.help(format!("did you mean `{sug}`?"));
                    }
                    self.push(problem);
                }
                other => self.push(type_error(&format!("one of {}", values.join(", ")), other)),
            },
            InputKind::ActionName { read_only } => {
                let Json::String(target) = value else {
                    self.push(type_error("an action name", value));
                    return;
                };
                match self.catalog.action(target) {
                    None => {
                        let mut problem = Problem::new(
                            Code::UnknownAction,
                            span,
                            format!("`{target}` is not an action"),
                        )
                        .label("unknown action");
                        let names: Vec<&str> = self
                            .catalog
                            .actions()
                            .iter()
                            .map(|a| a.name.as_str())
                            .collect();
                        if let Some(s) = suggest(target, names.iter().copied()) {
                            problem = problem.help(format!("did you mean `{s}`?"));
                        }
                        self.push(problem);
                    }
                    Some(target_spec) if *read_only && target_spec.effect == Effect::Mutating => {
                        self.push(
                            Problem::new(
                                Code::InputType,
                                span,
                                format!("`{}` polls with read-only actions, but `{target}` changes things", spec.name),
                            )
                            .label("mutating action")
                            .help("poll with a `show` or `list` action"),
                        );
                    }
                    Some(_) => {}
                }
            }
            InputKind::InputsOf(sibling) => {
                let Json::Object(map) = value else {
                    self.push(type_error("a mapping of inputs", value));
                    return;
                };
                let Some(Json::String(target)) = siblings.get(sibling) else {
                    return;
                };
                let Some(target_spec) = self.catalog.action(target).cloned() else {
                    // The sibling input is reported as unknown on its own.
                    return;
                };
                let nested: BTreeMap<String, Json> =
                    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                self.check_inputs(&target_spec, span, &nested, value_node);
            }
        }
    }

    fn step_templates(&mut self, i: usize) {
        let step = &self.runbook.steps[i];
        let node = self.step_node(i);
        // A `for_each` that failed to decode was still meant: `item` is not a second problem.
        let has_items = step.for_each.is_some() || node.get("for_each").is_some();
        let inputs_scope = Scope {
            step: Some(i),
            item: has_items,
            own_outputs: false,
            params_only: false,
        };
        let outer_scope = Scope {
            item: false,
            ..inputs_scope
        };
        if let Some(with) = node.get("with") {
            self.templates_in(with, inputs_scope);
        }
        if let (Some(when), Some(when_node)) = (&step.when, node.get("when")) {
            self.condition(when, when_node, outer_scope, "`when`");
        }
        if let Some(for_each) = &step.for_each
            && let Some(items_node) = node.get("for_each").and_then(|n| n.get("items"))
        {
            match &for_each.items {
                Items::Template(text) => {
                    if let Some(template) = self.template(text, items_node, outer_scope)
                        && template.single_expression().is_none()
                    {
                        self.push(
                            Problem::new(
                                Code::TemplateSyntax,
                                items_node.span,
                                "`items` must be exactly one `{{ expression }}` that yields a list",
                            )
                            .label("renders to a string"),
                        );
                    }
                }
                Items::List(_) => self.templates_in(items_node, outer_scope),
            }
        }
        if let Some(comp) = node.get("compensate").and_then(|n| n.get("with")) {
            let scope = Scope {
                own_outputs: true,
                ..inputs_scope
            };
            self.templates_in(comp, scope);
        }
        // The conditions of `assert` are conditions, wherever they sit.
        if step.action == "assert"
            && let (Some(Json::String(that)), Some(that_node)) = (
                step.inputs.get("that"),
                node.get("with").and_then(|n| n.get("that")),
            )
            && is_template(that)
        {
            self.condition_shape(that, that_node, "`that`");
        }
    }

    /// Checks every template string in a YAML value (keys are not templates).
    fn templates_in(&mut self, node: &Node, scope: Scope) {
        match &node.value {
            super::yaml::Value::String(text) if is_template(text) => {
                self.template(text, node, scope);
            }
            super::yaml::Value::Seq(items) => {
                for item in items {
                    self.templates_in(item, scope);
                }
            }
            super::yaml::Value::Map(entries) => {
                for (_, item) in entries {
                    self.templates_in(item, scope);
                }
            }
            _ => {}
        }
    }

    fn condition(&mut self, text: &str, node: &Node, scope: Scope, what: &str) {
        if matches!(text.trim(), "true" | "false") {
            return;
        }
        if !is_template(text) {
            self.push(
                Problem::new(Code::BadCondition, node.span, format!("{what} is not a condition"))
                    .label("plain text")
                    .help("write one template expression, e.g. `\"{{ eq steps.check.outputs.status 'protected' }}\"`"),
            );
            return;
        }
        if let Some(template) = self.template(text, node, scope) {
            self.single_expression(&template, node, what);
        }
    }

    fn condition_shape(&mut self, text: &str, node: &Node, what: &str) {
        if let Ok(template) = Template::parse(text) {
            self.single_expression(&template, node, what);
        }
    }

    fn single_expression(&mut self, template: &Template, node: &Node, what: &str) {
        if template.single_expression().is_none() {
            self.push(
                Problem::new(
                    Code::BadCondition,
                    node.span,
                    format!("{what} must be exactly one `{{{{ expression }}}}`"),
                )
                .label("text around the expression"),
            );
        }
    }

    /// Parses and checks one template; returns it when it parsed.
    fn template(&mut self, text: &str, node: &Node, scope: Scope) -> Option<Template> {
        let template = match Template::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let span = self.span_in(node, text, e.span.clone());
                self.push(
                    Problem::new(
                        Code::TemplateSyntax,
                        span,
                        format!("invalid template: {}", e.message),
                    )
                    .label("here"),
                );
                return None;
            }
        };
        for call in template.calls() {
            let span = self.span_in(node, text, call.helper_span.clone());
            match helpers::helper(&call.helper) {
                None => {
                    let mut problem = Problem::new(
                        Code::UnknownHelper,
                        span,
                        format!("`{}` is not a template helper", call.helper),
                    )
                    .label("unknown helper");
                    if let Some(s) = suggest(&call.helper, helpers::HELPERS.iter().map(|h| h.name))
                    {
                        problem = problem.help(format!("did you mean `{s}`?"));
                    }
                    self.push(problem);
                }
                Some(h) if !h.arity.accepts(call.args.len()) => {
                    self.push(
                        Problem::new(
                            Code::TemplateSyntax,
                            span,
                            format!(
                                "`{}` takes {}, not {}",
                                h.name,
                                h.arity.describe(),
                                call.args.len()
                            ),
                        )
                        .label("wrong number of arguments"),
                    );
                }
                Some(_) => {}
            }
        }
        for reference in template.references() {
            let span = self.span_in(node, text, reference.span.clone());
            self.reference(reference, span, scope);
        }
        Some(template)
    }

    /// Locates `range` of a template inside the YAML scalar `node`.
    fn span_in(&self, node: &Node, text: &str, range: Range<usize>) -> Span {
        let len = range.len().max(1);
        let slice = self.source.slice(node.span).unwrap_or("");
        if slice == text {
            return Span::new(node.span.offset + range.start, len);
        }
        if slice.len() == text.len() + 2 && slice.get(1..slice.len() - 1) == Some(text) {
            return Span::new(node.span.offset + 1 + range.start, len);
        }
        // Block scalars and escaped strings: find the piece of text itself.
        if let Some(piece) = text.get(range.clone())
            && let Some(pos) = slice.find(piece)
        {
            return Span::new(node.span.offset + pos, len);
        }
        node.span
    }

    fn reference(&mut self, reference: &PathExpr, span: Span, scope: Scope) {
        // Only messages need the path as text; most references are fine.
        let path = PathText(reference);
        let unknown = |message: String| {
            Problem::new(Code::UnknownReference, span, message).label("unknown name")
        };
        let segment = |i: usize| reference.segment(i);
        let len = reference.len();
        let root = segment(0).unwrap_or("");
        match root {
            "params" => {
                let Some(name) = segment(1) else {
                    self.push(unknown(
                        "`params` alone is not a value; read `params.<name>`".into(),
                    ));
                    return;
                };
                if !self.runbook.params.contains_key(name) {
                    let mut problem = Problem::new(
                        Code::UnknownParam,
                        span,
                        format!("`{path}` reads the param `{name}`, which is not declared"),
                    )
                    .label("unknown param");
                    if let Some(s) = suggest(name, self.runbook.params.keys().map(String::as_str)) {
                        problem = problem.help(format!("did you mean `params.{s}`?"));
                    } else {
                        problem = problem.help(format!(
                            "declare it under `params:` (e.g. `{name}: {{ type: string }}`)"
                        ));
                    }
                    self.push(problem);
                }
            }
            "run" => match segment(1) {
                Some(which @ ("id" | "mode")) if len == 2 => {
                    if scope.params_only && which == "id" {
                        self.push(unknown("`locks` cannot read `run.id`: locks must be known before the run starts".into()));
                    }
                }
                _ => self.push(unknown(format!(
                    "`{path}` is not defined; `run` has `run.id` and `run.mode`"
                ))),
            },
            "item" | "index" => {
                if scope.params_only {
                    self.push(unknown(format!("`locks` cannot read `{root}`")));
                } else if !scope.item {
                    self.push(
                        unknown(format!("`{root}` is only defined inside a `for_each` step"))
                            .help("`item` and `index` exist in the `with` and `compensate` of a step with `for_each` (not in its `when` or `items`)"),
                    );
                } else if root == "index" && len > 1 {
                    self.push(unknown("`index` is a number; it has no fields".into()));
                }
            }
            "steps" => {
                if scope.params_only {
                    self.push(unknown(
                        "`locks` can only read params (and `run.mode`)".into(),
                    ));
                    return;
                }
                let Some(id) = segment(1) else {
                    self.push(unknown(
                        "`steps` alone is not a value; read `steps.<id>.outputs.<name>`".into(),
                    ));
                    return;
                };
                let Some(target) = self.graph.index_of(id) else {
                    let mut problem = unknown(format!(
                        "`{path}` reads the step `{id}`, which does not exist"
                    ));
                    if let Some(s) = suggest(id, self.step_ids()) {
                        problem = problem.help(format!("did you mean `steps.{s}`?"));
                    }
                    self.push(problem);
                    return;
                };
                match segment(2) {
                    Some("status") if len == 3 => {}
                    Some("outputs") => {
                        if let Some(output) = segment(3) {
                            let outputs = &self.runbook.steps[target].outputs;
                            if outputs.get(output).is_none() {
                                let mut problem = unknown(format!(
                                    "`{path}` reads the output `{output}`, which step `{id}` does not declare"
                                ));
                                let names: Vec<&str> =
                                    outputs.iter().map(|(n, _)| n.as_str()).collect();
                                problem = match suggest(output, names.iter().copied()) {
                                    Some(s) => problem.help(format!("did you mean `steps.{id}.outputs.{s}`?")),
                                    None if names.is_empty() => problem.help(format!(
                                        "declare it on step `{id}`: `outputs: {{ {output}: $.path.in.the.result }}`"
                                    )),
                                    None => problem.help(format!("step `{id}` declares: {}", names.join(", "))),
                                };
                                self.push(problem);
                            }
                        }
                    }
                    _ => {
                        self.push(unknown(format!(
                            "`{path}` is not defined; read `steps.{id}.status` or `steps.{id}.outputs.<name>`"
                        )));
                        return;
                    }
                }
                let Some(reader) = scope.step else {
                    return;
                };
                if target == reader {
                    if !scope.own_outputs {
                        self.push(
                            Problem::new(
                                Code::MissingDependency,
                                span,
                                format!(
                                    "step `{id}` reads itself; its outputs exist only after it ran"
                                ),
                            )
                            .label("reads itself")
                            .help("a step may read its own outputs only in its `compensate`"),
                        );
                    }
                    return;
                }
                if !self.depends_on(reader, target) {
                    let reader_id = &self.runbook.steps[reader].id;
                    self.push(
                        Problem::new(
                            Code::MissingDependency,
                            span,
                            format!("step `{reader_id}` reads `{id}` but does not depend on it, so it could run first"),
                        )
                        .label(format!("`{id}` may not have run yet"))
                        .help(format!("add `needs: [{id}]` to step `{reader_id}`")),
                    );
                }
            }
            _ => {
                let mut problem = unknown(format!(
                    "`{path}` is not defined; templates read `params`, `steps`, `item`, `index` and `run`"
                ));
                if let Some(s) = suggest(root, ["params", "steps", "item", "index", "run"]) {
                    problem = problem.help(format!("did you mean `{s}`?"));
                }
                self.push(problem);
            }
        }
    }

    fn locks(&mut self) {
        let scope = Scope {
            step: None,
            item: false,
            own_outputs: false,
            params_only: true,
        };
        let locks_node = self.root.get("locks");
        for (j, lock) in self.runbook.locks.iter().enumerate() {
            if let Some(node) = locks_node.and_then(|n| n.at(j))
                && is_template(lock)
            {
                self.template(lock, node, scope);
            }
        }
        if !self.runbook.locks.is_empty() {
            return;
        }
        let first_mutating = self.runbook.steps.iter().enumerate().find_map(|(i, s)| {
            let mutating = |action: &str| {
                self.catalog
                    .action(action)
                    .is_some_and(|a| a.effect == Effect::Mutating)
            };
            if mutating(&s.action) {
                Some((i, "action"))
            } else if s.compensate.as_ref().is_some_and(|c| mutating(&c.action)) {
                Some((i, "compensate"))
            } else {
                None
            }
        });
        if let Some((i, key)) = first_mutating {
            let step = &self.runbook.steps[i];
            let span = self.field_span(i, key);
            let mut problem = Problem::new(
                Code::MissingLocks,
                span,
                format!(
                    "step `{}` changes things, but the runbook declares no `locks`",
                    step.id
                ),
            )
            .label("mutating action");
            if self.runbook.params.contains_key("server_group_id") {
                problem = problem
                    .help("add `locks: [\"{{ params.server_group_id }}\"]` at the top level");
            }
            self.push(problem);
        }
    }

    fn drill_cleanup(&mut self) {
        if !self.runbook.modes.contains(&Mode::Drill) {
            return;
        }
        let drill = Some(Mode::Drill);
        let steps = &self.runbook.steps;
        let deletes: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].action == DRILL_DELETE && steps[i].is_active_in(drill))
            .collect();
        let mut problems = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if step.action != DRILL_CREATE || !step.is_active_in(drill) {
                continue;
            }
            // The compensation may sit on the create step or on a step after it: the drill id
            // is usually known only once the create job is done (`sdrs.job.wait`).
            let compensated = steps.iter().enumerate().any(|(j, s)| {
                (j == i || self.depends_on(j, i))
                    && s.is_active_in(drill)
                    && s.compensate
                        .as_ref()
                        .is_some_and(|c| c.action == DRILL_DELETE)
            });
            let deleted_later = deletes.iter().any(|&d| self.depends_on(d, i));
            if !compensated && !deleted_later {
                problems.push(
                    Problem::new(
                        Code::DrillCleanup,
                        self.field_span(i, "action"),
                        format!("the drill created by step `{}` is never deleted", step.id),
                    )
                    .label("creates a drill")
                    .help(format!(
                        "add a later step (one that needs `{}`) with `action: {DRILL_DELETE}`, and `compensate: {{ action: {DRILL_DELETE}, ... }}` on this step for the failure path",
                        step.id
                    )),
                );
            }
        }
        if deletes.is_empty() {
            let span = self
                .root
                .get("modes")
                .and_then(|modes| match &modes.value {
                    super::yaml::Value::Seq(items) => items
                        .iter()
                        .find(|n| n.as_str() == Some("drill"))
                        .map(|n| n.span),
                    _ => None,
                })
                .unwrap_or(self.root.span);
            problems.push(
                Problem::new(
                    Code::DrillCleanup,
                    span,
                    format!("the runbook supports `drill` but no step runs `{DRILL_DELETE}` in that mode"),
                )
                .label("drill mode without cleanup"),
            );
        }
        self.problems.extend(problems);
    }
}

/// A path shown in a message, joined only when it is shown.
struct PathText<'s>(&'s PathExpr);

impl std::fmt::Display for PathText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, segment) in self.0.segments().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

fn is_template_value(value: &Json) -> bool {
    matches!(value, Json::String(s) if is_template(s))
}

fn join_modes(modes: &[Mode]) -> String {
    modes
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
