//! From the YAML node tree to the runbook model, reporting every structural problem.
//!
//! Decoding checks what one value can tell on its own: keys (unknown, duplicate, missing),
//! types, names, durations, selectors, error-code patterns, modes. A field that is wrong is
//! reported and replaced by its default so that decoding goes on and later checks (references,
//! cycles, actions, templates) still run on the rest. Cross-references are `validate.rs`'s job.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::diagnostic::{Code, Problem};
use super::duration::Duration;
use super::model::{
    Compensate, ForEach, Items, Mode, Outputs, ParamSpec, ParamType, Runbook, Step,
};
use super::policy::{Backoff, ErrorPattern, OnFailure, RetryPolicy};
use super::selector::Selector;
use super::source::Span;
use super::yaml::{Node, Value};

pub(crate) const RUNBOOK_KEYS: &[&str] =
    &["name", "description", "params", "modes", "locks", "steps"];
pub(crate) const PARAM_KEYS: &[&str] = &[
    "type",
    "values",
    "default",
    "required",
    "secret",
    "description",
];
pub(crate) const STEP_KEYS: &[&str] = &[
    "id",
    "description",
    "action",
    "with",
    "needs",
    "when",
    "for_each",
    "retry",
    "timeout",
    "on_failure",
    "critical",
    "compensate",
    "only_in_modes",
    "outputs",
];
const FOR_EACH_KEYS: &[&str] = &["items", "concurrency", "max_errors"];
const RETRY_KEYS: &[&str] = &["max_attempts", "backoff", "retry_on", "fail_fast_on"];
const COMPENSATE_KEYS: &[&str] = &["action", "with"];

/// Largest `retry.max_attempts`: more attempts than this only hide a broken step.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;

/// The decoded runbook and, for each step, the node it came from (for validation's locations).
pub(crate) struct Decoded<'n> {
    pub runbook: Runbook,
    pub step_nodes: Vec<&'n Node<'n>>,
}

/// Decodes a runbook; problems are appended to `problems`.
pub(crate) fn decode<'n>(root: &'n Node<'n>, problems: &mut Vec<Problem>) -> Decoded<'n> {
    let mut d = Decoder { problems };
    let mut runbook = Runbook {
        name: String::new(),
        description: String::new(),
        params: BTreeMap::new(),
        modes: Vec::new(),
        locks: Vec::new(),
        steps: Vec::new(),
    };
    let mut step_nodes = Vec::new();
    if matches!(root.value, Value::Null) {
        d.problems.push(
            Problem::new(Code::MissingKey, Span::new(0, 0), "the runbook is empty")
                .label("expected `name` and `steps`")
                .help("a runbook is a mapping with at least `name` and `steps`"),
        );
        return Decoded {
            runbook,
            step_nodes,
        };
    }
    let Some(fields) = d.mapping(root, "a runbook", RUNBOOK_KEYS) else {
        return Decoded {
            runbook,
            step_nodes,
        };
    };
    if let Some(name) = d.required(&fields, "name", "the runbook") {
        runbook.name = d.string(name, "`name`").unwrap_or_default();
    }
    if let Some(node) = fields.get("description") {
        runbook.description = d.string(node, "`description`").unwrap_or_default();
    }
    if let Some(node) = fields.get("params") {
        runbook.params = d.params(node);
    }
    if let Some(node) = fields.get("modes") {
        runbook.modes = d.modes(node, "`modes`");
    }
    if let Some(node) = fields.get("locks") {
        runbook.locks = d.string_list(node, "`locks`");
    }
    if let Some(node) = d.required(&fields, "steps", "the runbook") {
        match &node.value {
            Value::Seq(items) => {
                if items.is_empty() {
                    d.problems.push(
                        Problem::new(Code::InvalidValue, node.span, "`steps` is empty")
                            .label("no steps")
                            .help("a runbook needs at least one step"),
                    );
                }
                for item in items {
                    if let Some(step) = d.step(item) {
                        runbook.steps.push(step);
                        step_nodes.push(item);
                    }
                }
            }
            _ => d.wrong_type(node, "`steps`", "a list of steps"),
        }
    }
    Decoded {
        runbook,
        step_nodes,
    }
}

/// The entries of a mapping, by key text.
pub(crate) struct Fields<'n> {
    owner: &'n Node<'n>,
    entries: Vec<(Cow<'n, str>, &'n Node<'n>, &'n Node<'n>)>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node<'n>> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| *v)
    }

    /// Where to point when a key is missing: the first key of the mapping (mappings themselves
    /// have no useful span), or the mapping.
    fn anchor(&self) -> Span {
        self.entries
            .first()
            .map_or(self.owner.span, |(_, k, _)| k.span)
    }
}

/// Whether a name (step id, param, output) is valid: it must work as a template path segment.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let max = match word.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    }
    // A one-letter word is as close to every other one-letter word as to its intended one.
    .min(word.chars().count() / 2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

struct Decoder<'p> {
    problems: &'p mut Vec<Problem>,
}

impl Decoder<'_> {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.push(
            Problem::new(
                Code::WrongType,
                node.span,
                format!("{what} must be {expected}, not {}", node.value.kind_name()),
            )
            .label(format!("expected {expected}")),
        );
    }

    /// Checks that `node` is a mapping with only `allowed` keys, each once.
    fn mapping<'n>(
        &mut self,
        node: &'n Node<'n>,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, what, "a mapping");
            return None;
        };
        let mut fields = Fields {
            owner: node,
            entries: Vec::new(),
        };
        for (key, value) in entries {
            let Some(text) = key.key_text() else {
                self.push(
                    Problem::new(Code::WrongType, key.span, "keys must be plain text")
                        .label("not a text key"),
                );
                continue;
            };
            if !allowed.contains(&text.as_ref()) {
                let mut problem = Problem::new(
                    Code::UnknownKey,
                    key.span,
                    format!("unknown key `{text}` in {what}"),
                )
                .label("unknown key");
                problem = match suggest(&text, allowed.iter().copied()) {
                    Some(s) => problem.help(format!("did you mean `{s}`?")),
                    None => problem.help(format!("the keys of {what} are: {}", allowed.join(", "))),
                };
                self.push(problem);
                continue;
            }
            if let Some((_, first, _)) = fields.entries.iter().find(|(k, _, _)| *k == text) {
                let first_span = first.span;
                self.push(
                    Problem::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{text}` is given twice"),
                    )
                    .label("second time")
                    .related(first_span, "first time"),
                );
                continue;
            }
            fields.entries.push((text, key, value));
        }
        Some(fields)
    }

    /// Free-form mapping (`with`): any text keys, each once.
    fn free_mapping(&mut self, node: &Node, what: &str) -> BTreeMap<String, Json> {
        let mut out = BTreeMap::new();
        let Value::Map(entries) = &node.value else {
            if !matches!(node.value, Value::Null) {
                self.wrong_type(node, what, "a mapping");
            }
            return out;
        };
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for (key, value) in entries {
            let Some(text) = key.as_str() else {
                self.push(
                    Problem::new(
                        Code::WrongType,
                        key.span,
                        format!("the keys of {what} must be text"),
                    )
                    .label("not a text key"),
                );
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == text) {
                let first = *first;
                self.push(
                    Problem::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{text}` is given twice"),
                    )
                    .label("second time")
                    .related(first, "first time"),
                );
                continue;
            }
            seen.push((text, key.span));
            out.insert(text.to_string(), value.to_json());
        }
        out
    }

    fn required<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &str,
        owner: &str,
    ) -> Option<&'n Node<'n>> {
        let node = fields.get(key);
        if node.is_none() {
            self.push(
                Problem::new(
                    Code::MissingKey,
                    fields.anchor(),
                    format!("{owner} has no `{key}`"),
                )
                .label(format!("`{key}` is missing here"))
                .help(format!("add `{key}`")),
            );
        }
        node
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    fn name(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = self.string(node, what)?;
        if !is_valid_name(&name) {
            self.push(
                Problem::new(
                    Code::InvalidName,
                    node.span,
                    format!("`{name}` is not a valid {what}"),
                )
                .label("invalid name"),
            );
        }
        Some(name)
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, what, "`true` or `false`");
                None
            }
        }
    }

    fn count(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<u32> {
        match &node.value {
            Value::Int(i) if (min..=max).contains(i) => u32::try_from(*i).ok(),
            Value::Int(i) => {
                self.push(
                    Problem::new(
                        Code::InvalidValue,
                        node.span,
                        format!("{what} must be between {min} and {max}, not {i}"),
                    )
                    .label("out of range"),
                );
                None
            }
            _ => {
                self.wrong_type(node, what, "a whole number");
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node<'n>, what: &str) -> &'n [Node<'n>] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.wrong_type(node, what, "a list");
                &[]
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<String> {
        let items = self.list(node, what);
        items
            .iter()
            .filter_map(|item| self.string(item, &format!("an entry of {what}")))
            .collect()
    }

    fn modes(&mut self, node: &Node, what: &str) -> Vec<Mode> {
        let mut modes: Vec<Mode> = Vec::new();
        for item in self.list(node, what) {
            let Some(text) = self.string(item, &format!("an entry of {what}")) else {
                continue;
            };
            match text.parse::<Mode>() {
                Ok(mode) if modes.contains(&mode) => self.push(
                    Problem::new(
                        Code::InvalidValue,
                        item.span,
                        format!("mode `{mode}` is listed twice"),
                    )
                    .label("listed before"),
                ),
                Ok(mode) => modes.push(mode),
                Err(message) => {
                    let mut problem =
                        Problem::new(Code::InvalidValue, item.span, message).label("not a mode");
                    if let Some(s) = suggest(&text, Mode::ALL.iter().map(|m| m.as_str())) {
                        problem = problem.help(format!("did you mean `{s}`?"));
                    }
                    self.push(problem);
                }
            }
        }
        modes
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        match &node.value {
            Value::String(s) => match s.parse::<Duration>() {
                Ok(d) => Some(d),
                Err(e) => {
                    self.push(
                        Problem::new(Code::BadDuration, node.span, e.0).label("not a duration"),
                    );
                    None
                }
            },
            Value::Int(i) => {
                self.push(
                    Problem::new(
                        Code::BadDuration,
                        node.span,
                        format!("{what} `{i}` has no unit"),
                    )
                    .label("no unit")
                    .help(format!("write `{i}s` for seconds or `{i}m` for minutes")),
                );
                None
            }
            _ => {
                self.wrong_type(node, what, "a duration such as `30s`");
                None
            }
        }
    }

    fn patterns(&mut self, node: &Node, what: &str) -> Vec<ErrorPattern> {
        let mut out = Vec::new();
        for item in self.list(node, what) {
            let Some(text) = self.string(item, &format!("an entry of {what}")) else {
                continue;
            };
            match text.parse::<ErrorPattern>() {
                Ok(p) => out.push(p),
                Err(message) => {
                    self.push(
                        Problem::new(Code::BadErrorPattern, item.span, message)
                            .label("bad pattern"),
                    );
                }
            }
        }
        out
    }

    fn params(&mut self, node: &Node) -> BTreeMap<String, ParamSpec> {
        let mut out = BTreeMap::new();
        let Value::Map(entries) = &node.value else {
            if !matches!(node.value, Value::Null) {
                self.wrong_type(node, "`params`", "a mapping of param names to declarations");
            }
            return out;
        };
        let mut seen: Vec<(String, Span)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.name(key, "param name") else {
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let first = *first;
                self.push(
                    Problem::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("param `{name}` is declared twice"),
                    )
                    .label("second time")
                    .related(first, "first time"),
                );
                continue;
            }
            seen.push((name.clone(), key.span));
            if let Some(spec) = self.param(value, &name) {
                out.insert(name, spec);
            }
        }
        out
    }

    fn param(&mut self, node: &Node, name: &str) -> Option<ParamSpec> {
        let fields = self.mapping(node, &format!("param `{name}`"), PARAM_KEYS)?;
        let type_node = self.required(&fields, "type", &format!("param `{name}`"))?;
        let type_text = self.string(type_node, "`type`")?;
        let kind = match type_text.as_str() {
            "string" => ParamType::String,
            "integer" => ParamType::Integer,
            "boolean" => ParamType::Boolean,
            "list" => ParamType::List,
            "enum" => ParamType::Enum,
            other => {
                let mut problem = Problem::new(
                    Code::InvalidValue,
                    type_node.span,
                    format!("`{other}` is not a param type"),
                )
                .label("unknown type")
                .help("param types are string, integer, boolean, list and enum");
                if let Some(s) = suggest(other, ["string", "integer", "boolean", "list", "enum"]) {
                    problem = problem.help(format!("did you mean `{s}`?"));
                }
                self.push(problem);
                return None;
            }
        };
        let mut spec = ParamSpec {
            kind,
            values: Vec::new(),
            default: None,
            required: None,
            secret: false,
            description: String::new(),
        };
        if let Some(values) = fields.get("values") {
            if kind == ParamType::Enum {
                spec.values = self.string_list(values, "`values`");
                if spec.values.is_empty() {
                    self.push(
                        Problem::new(
                            Code::InvalidValue,
                            values.span,
                            format!("enum param `{name}` has no values"),
                        )
                        .label("empty"),
                    );
                }
            } else {
                self.push(
                    Problem::new(
                        Code::InvalidValue,
                        values.span,
                        "`values` is only for `type: enum`",
                    )
                    .label("not an enum"),
                );
            }
        } else if kind == ParamType::Enum {
            self.push(
                Problem::new(
                    Code::MissingKey,
                    type_node.span,
                    format!("enum param `{name}` has no `values`"),
                )
                .label("add `values: [...]`"),
            );
        }
        if let Some(default) = fields.get("default") {
            let ok = match (kind, &default.value) {
                (ParamType::String, Value::String(_)) => true,
                (ParamType::Integer, Value::Int(_)) => true,
                (ParamType::Boolean, Value::Bool(_)) => true,
                (ParamType::List, Value::Seq(_)) => true,
                (ParamType::Enum, Value::String(s)) => {
                    if spec.values.is_empty() || spec.values.iter().any(|v| v == s) {
                        true
                    } else {
                        self.push(
                            Problem::new(
                                Code::ParamType,
                                default.span,
                                format!("default `{s}` is not one of the values of `{name}`"),
                            )
                            .label("not in `values`")
                            .help(format!("values: {}", spec.values.join(", "))),
                        );
                        false
                    }
                }
                _ => {
                    self.push(
                        Problem::new(
                            Code::ParamType,
                            default.span,
                            format!(
                                "the default of `{name}` is {}, but the param is {}",
                                default.value.kind_name(),
                                type_phrase(kind)
                            ),
                        )
                        .label(format!("expected {}", type_phrase(kind))),
                    );
                    false
                }
            };
            if ok {
                spec.default = Some(default.to_json());
            }
        }
        if let Some(node) = fields.get("required") {
            spec.required = self.bool(node, "`required`");
            if spec.required == Some(true) && spec.default.is_some() {
                self.push(
                    Problem::new(Code::InvalidValue, node.span, format!("param `{name}` is required but has a default"))
                        .label("contradicts `default`")
                        .help("remove `required: true` (a param with a default is optional) or remove the default"),
                );
            }
        }
        if let Some(node) = fields.get("secret") {
            spec.secret = self.bool(node, "`secret`").unwrap_or(false);
            if spec.secret && kind != ParamType::String {
                self.push(
                    Problem::new(
                        Code::InvalidValue,
                        node.span,
                        format!("secret param `{name}` must be a string"),
                    )
                    .label("only string params can be secret"),
                );
            }
            if spec.secret && spec.default.is_some() {
                self.push(
                    Problem::new(
                        Code::InvalidValue,
                        node.span,
                        format!("secret param `{name}` has a default"),
                    )
                    .label("a secret written in the runbook is not secret")
                    .help(
                        "remove the default and pass the value with `--param` or the environment",
                    ),
                );
            }
        }
        if let Some(node) = fields.get("description") {
            spec.description = self.string(node, "`description`").unwrap_or_default();
        }
        Some(spec)
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
        let fields = self.mapping(node, "a step", STEP_KEYS)?;
        let id = match fields.get("id") {
            Some(n) => self.name(n, "step id").unwrap_or_default(),
            None => {
                self.push(
                    Problem::new(Code::MissingKey, fields.anchor(), "this step has no `id`")
                        .label("`id` is missing here")
                        .help("add `id:` with a unique name"),
                );
                String::new()
            }
        };
        let owner = if id.is_empty() {
            "this step".to_string()
        } else {
            format!("step `{id}`")
        };
        let action = match self.required(&fields, "action", &owner) {
            Some(n) => self.string(n, "`action`").unwrap_or_default(),
            None => String::new(),
        };
        let mut step = Step {
            id,
            description: String::new(),
            action,
            inputs: BTreeMap::new(),
            needs: Vec::new(),
            when: None,
            for_each: None,
            retry: None,
            timeout: None,
            on_failure: OnFailure::Abort,
            critical: true,
            compensate: None,
            only_in_modes: Vec::new(),
            outputs: Outputs::default(),
        };
        if let Some(n) = fields.get("description") {
            step.description = self.string(n, "`description`").unwrap_or_default();
        }
        if let Some(n) = fields.get("with") {
            step.inputs = self.free_mapping(n, "`with`");
        }
        if let Some(n) = fields.get("needs") {
            if let Value::String(s) = &n.value {
                self.push(
                    Problem::new(
                        Code::WrongType,
                        n.span,
                        "`needs` must be a list of step ids",
                    )
                    .label("a single id")
                    .help(format!("write `needs: [{s}]`")),
                );
            } else {
                step.needs = self.string_list(n, "`needs`");
            }
        }
        if let Some(n) = fields.get("when") {
            // A YAML boolean would make the condition constant: almost always a mistake for a
            // template, and the schema (and serde) read `when` as text.
            if let Value::Bool(b) = &n.value {
                self.push(
                    Problem::new(Code::WrongType, n.span, "`when` must be a condition, not a boolean")
                        .label("a constant")
                        .help(format!(
                            "write a template such as `when: \"{{{{ params.enabled }}}}\"`, or remove `when` (`{b}` never changes)"
                        )),
                );
            } else {
                step.when = self.string(n, "`when`");
            }
        }
        if let Some(n) = fields.get("for_each") {
            step.for_each = self.for_each(n);
        }
        if let Some(n) = fields.get("retry") {
            step.retry = self.retry(n);
        }
        if let Some(n) = fields.get("timeout") {
            step.timeout = self.duration(n, "`timeout`");
            if step.timeout.is_some_and(|t| t.is_zero()) {
                self.push(
                    Problem::new(Code::BadDuration, n.span, "`timeout` cannot be zero")
                        .label("zero"),
                );
            }
        }
        if let Some(n) = fields.get("on_failure")
            && let Some(text) = self.string(n, "`on_failure`")
        {
            step.on_failure = OnFailure::from(text.as_str());
        }
        if let Some(n) = fields.get("critical") {
            step.critical = self.bool(n, "`critical`").unwrap_or(true);
        }
        if let Some(n) = fields.get("compensate") {
            step.compensate = self.compensate(n);
        }
        if let Some(n) = fields.get("only_in_modes") {
            step.only_in_modes = self.modes(n, "`only_in_modes`");
            if step.only_in_modes.is_empty() && matches!(&n.value, Value::Seq(s) if s.is_empty()) {
                self.push(
                    Problem::new(
                        Code::InvalidValue,
                        n.span,
                        "`only_in_modes` is empty, so the step would never run",
                    )
                    .label("empty")
                    .help("remove `only_in_modes` to run the step in every mode"),
                );
            }
        }
        if let Some(n) = fields.get("outputs") {
            step.outputs = self.outputs(n);
        }
        Some(step)
    }

    fn for_each(&mut self, node: &Node) -> Option<ForEach> {
        if let Value::Seq(_) | Value::String(_) = node.value {
            self.push(
                Problem::new(Code::WrongType, node.span, "`for_each` is a mapping with `items`")
                    .label("expected a mapping")
                    .help("write `for_each: { items: ... }` (with optional `concurrency` and `max_errors`)"),
            );
            return None;
        }
        let fields = self.mapping(node, "`for_each`", FOR_EACH_KEYS)?;
        let items_node = self.required(&fields, "items", "`for_each`")?;
        let items = match &items_node.value {
            Value::Seq(items) => Items::List(items.iter().map(Node::to_json).collect()),
            Value::String(s) if super::template::is_template(s) => Items::Template(s.to_string()),
            Value::String(_) => {
                self.push(
                    Problem::new(
                        Code::WrongType,
                        items_node.span,
                        "`items` is a list or a template that yields a list",
                    )
                    .label("plain text")
                    .help("write a YAML list, or a template such as `{{ params.servers }}`"),
                );
                return None;
            }
            _ => {
                self.wrong_type(items_node, "`items`", "a list or a template");
                return None;
            }
        };
        let mut for_each = ForEach {
            items,
            concurrency: None,
            max_errors: 0,
        };
        if let Some(n) = fields.get("concurrency") {
            for_each.concurrency = self.count(n, "`concurrency`", 1, 1000);
        }
        if let Some(n) = fields.get("max_errors") {
            for_each.max_errors = self.count(n, "`max_errors`", 0, 1_000_000).unwrap_or(0);
        }
        Some(for_each)
    }

    fn retry(&mut self, node: &Node) -> Option<RetryPolicy> {
        let fields = self.mapping(node, "`retry`", RETRY_KEYS)?;
        let mut policy = RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::default(),
            retry_on: Vec::new(),
            fail_fast_on: Vec::new(),
        };
        if let Some(n) = fields.get("max_attempts") {
            policy.max_attempts = self
                .count(n, "`max_attempts`", 1, i64::from(MAX_ATTEMPTS_LIMIT))
                .unwrap_or(3);
        }
        if let Some(n) = fields.get("backoff")
            && let Some(b) = self.backoff(n)
        {
            policy.backoff = b;
        }
        if let Some(n) = fields.get("retry_on") {
            policy.retry_on = self.patterns(n, "`retry_on`");
        }
        if let Some(n) = fields.get("fail_fast_on") {
            policy.fail_fast_on = self.patterns(n, "`fail_fast_on`");
        }
        Some(policy)
    }

    fn backoff(&mut self, node: &Node) -> Option<Backoff> {
        let kind_node = node.get("kind");
        let kind = kind_node.and_then(Node::as_str);
        let allowed: &[&str] = match kind {
            Some("constant") => &["kind", "initial"],
            Some("linear") => &["kind", "initial", "cap"],
            _ => &["kind", "initial", "factor", "cap"],
        };
        let what = match kind {
            Some(k @ ("constant" | "linear" | "exponential")) => format!("`{k}` backoff"),
            _ => "`backoff`".to_string(),
        };
        let fields = self.mapping(node, &what, allowed)?;
        let kind_node = self.required(&fields, "kind", "`backoff`")?;
        let kind = self.string(kind_node, "`kind`")?;
        let initial = match self.required(&fields, "initial", "`backoff`") {
            Some(n) => self.duration(n, "`initial`"),
            None => None,
        };
        let cap = fields.get("cap").and_then(|n| self.duration(n, "`cap`"));
        if let (Some(i), Some(c), Some(n)) = (initial, cap, fields.get("cap"))
            && c < i
        {
            self.push(
                Problem::new(
                    Code::InvalidValue,
                    n.span,
                    format!("`cap` ({c}) is shorter than `initial` ({i})"),
                )
                .label("shorter than `initial`"),
            );
        }
        let initial = initial?;
        match kind.as_str() {
            "constant" => Some(Backoff::Constant { initial }),
            "linear" => Some(Backoff::Linear { initial, cap }),
            "exponential" => {
                let factor = match fields.get("factor") {
                    None => 2.0,
                    Some(n) => match n.value {
                        Value::Int(i) if (1..=10).contains(&i) => i as f64,
                        Value::Float(f) if (1.0..=10.0).contains(&f) => f,
                        Value::Int(_) | Value::Float(_) => {
                            self.push(
                                Problem::new(
                                    Code::InvalidValue,
                                    n.span,
                                    "`factor` must be between 1 and 10",
                                )
                                .label("out of range"),
                            );
                            2.0
                        }
                        _ => {
                            self.wrong_type(n, "`factor`", "a number");
                            2.0
                        }
                    },
                };
                Some(Backoff::Exponential {
                    initial,
                    factor,
                    cap,
                })
            }
            other => {
                self.push(
                    Problem::new(
                        Code::InvalidValue,
                        kind_node.span,
                        format!("`{other}` is not a backoff kind"),
                    )
                    .label("unknown kind")
                    .help("backoff kinds are constant, linear and exponential"),
                );
                None
            }
        }
    }

    fn compensate(&mut self, node: &Node) -> Option<Compensate> {
        let fields = self.mapping(node, "`compensate`", COMPENSATE_KEYS)?;
        let action_node = self.required(&fields, "action", "`compensate`")?;
        let action = self.string(action_node, "`action`")?;
        let inputs = fields
            .get("with")
            .map(|n| self.free_mapping(n, "`with`"))
            .unwrap_or_default();
        Some(Compensate { action, inputs })
    }

    fn outputs(&mut self, node: &Node) -> Outputs {
        let mut out = BTreeMap::new();
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "`outputs`", "a mapping of output names to selectors");
            return Outputs(out);
        };
        let mut seen: Vec<(String, Span)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.name(key, "output name") else {
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let first = *first;
                self.push(
                    Problem::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("output `{name}` is declared twice"),
                    )
                    .label("second time")
                    .related(first, "first time"),
                );
                continue;
            }
            seen.push((name.clone(), key.span));
            let Some(text) = self.string(value, "a selector") else {
                continue;
            };
            match text.parse::<Selector>() {
                Ok(selector) => {
                    out.insert(name, selector);
                }
                Err(e) => {
                    let span = narrow(value.span, e.offset, &text);
                    self.push(
                        Problem::new(Code::BadSelector, span, e.message).label("bad selector"),
                    );
                }
            }
        }
        Outputs(out)
    }
}

/// Points into a scalar at `offset` bytes into its text when the scalar is written plainly
/// (its span is as long as the text, or the text plus two quotes); otherwise the whole scalar.
pub(crate) fn narrow(span: Span, offset: usize, text: &str) -> Span {
    let quoted = span.len == text.len() + 2;
    if span.len == text.len() || quoted {
        let start = span.offset + offset + usize::from(quoted);
        let len = text.len().saturating_sub(offset).max(1);
        Span::new(start, len.min(span.end().saturating_sub(start).max(1)))
    } else {
        span
    }
}

fn type_phrase(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "a string",
        ParamType::Integer => "an integer",
        ParamType::Boolean => "a boolean",
        ParamType::List => "a list",
        ParamType::Enum => "an enum (a string)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("stpes", STEP_KEYS.iter().copied()), None);
        assert_eq!(
            suggest("stpes", RUNBOOK_KEYS.iter().copied()),
            Some("steps")
        );
        assert_eq!(suggest("neds", STEP_KEYS.iter().copied()), Some("needs"));
        assert_eq!(suggest("xyzzy", STEP_KEYS.iter().copied()), None);
    }

    #[test]
    fn names_must_work_as_template_path_segments() {
        for ok in ["create_drill", "wait-job", "_x", "s1"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["1st", "has space", "a.b", "", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
