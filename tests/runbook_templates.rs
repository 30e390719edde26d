//! drbook evaluates templates itself (for exact positions and speed); this test renders the
//! same templates through the handlebars crate, configured as the language says (strict mode,
//! no HTML escaping, drbook's extra helpers registered), and requires the same output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

use drbook::runbook::helpers::{HELPERS, Helper};
use drbook::runbook::{Context, Mode, StepStatus, Template};
use handlebars::{
    Handlebars, HelperDef, RenderContext, RenderError, RenderErrorReason, ScopedJson,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// One of drbook's helpers, callable from the handlebars crate.
struct Wrapped(&'static Helper);

impl HelperDef for Wrapped {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &handlebars::Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc handlebars::Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args: Vec<Value> = h.params().iter().map(|p| p.value().clone()).collect();
        (self.0.call)(&args)
            .map(ScopedJson::Derived)
            .map_err(|e| RenderErrorReason::Other(e).into())
    }
}

fn handlebars() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    // Handlebars has its own eq, ne, gt, gte, lt, lte, and, or, not, len and lookup; the
    // others are drbook's.
    let builtin = [
        "eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len", "lookup",
    ];
    for helper in HELPERS {
        if !builtin.contains(&helper.name) {
            hb.register_helper(helper.name, Box::new(Wrapped(helper)));
        }
    }
    hb
}

fn context() -> Context {
    let Value::Object(params) = json!({
        "name": "web",
        "count": 3,
        "zero": 0,
        "flag": true,
        "empty": "",
        "list": ["a", "b", "c"],
        "obj": {"k": "v", "n": 2},
        "html": "<b>&\"</b>",
        "nothing": null
    }) else {
        unreachable!()
    };
    let mut ctx = Context::new("run-42", Some(Mode::Drill), params);
    let mut outputs = Map::new();
    outputs.insert("status".into(), json!("protected"));
    outputs.insert("ids".into(), json!(["i1", "i2"]));
    ctx.set_step("check", StepStatus::Succeeded, outputs);
    ctx.with_item(json!({"id": "ecs-web-01", "size": 40}), 1)
}

/// drbook's rendering as the text handlebars would write.
fn drbook_text(template: &str, ctx: &Context) -> Result<String, String> {
    let value = Template::parse(template)
        .map_err(|e| format!("syntax: {e}"))?
        .render(ctx)
        .map_err(|e| e.message)?;
    Ok(match value {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn handlebars_text(hb: &Handlebars<'_>, template: &str, ctx: &Context) -> Result<String, String> {
    hb.render_template(template, &ctx.as_json())
        .map_err(|e| e.to_string())
}

#[test]
fn drbook_renders_like_handlebars() {
    let hb = handlebars();
    let ctx = context();
    let corpus = [
        "{{ params.name }}",
        "{{params.name}}",
        "drill-{{ params.name }}-{{ params.count }}",
        "{{{ params.name }}}",
        "{{ params.html }}",
        "{{ run.id }}/{{ run.mode }}",
        "{{ steps.check.status }}: {{ steps.check.outputs.status }}",
        "{{ steps.check.outputs.ids.[1] }}",
        "{{ params.list.[0] }}{{ params.obj.k }}",
        "{{ item.id }}#{{ index }} ({{ item.size }} GB)",
        "{{ eq params.name 'web' }}",
        "{{ eq steps.check.outputs.status \"protected\" }}",
        "{{ ne params.count 3 }}",
        "{{ gt params.count 2 }} {{ gte params.count 3 }} {{ lt params.zero 1 }} {{ lte 4 params.count }}",
        "{{ gt 'b' 'a' }}",
        "{{ and params.flag (eq params.count 3) }}",
        "{{ and params.flag params.empty }}",
        "{{ or params.zero params.empty params.flag }}",
        "{{ not params.list }} {{ not params.empty }}",
        "{{ len params.list }} {{ len params.name }} {{ len params.obj }}",
        "{{ lookup params.list 2 }}",
        "{{ lookup params.obj 'n' }}",
        "{{ lookup (lookup steps.check.outputs 'ids') 0 }}",
        "{{ contains params.list 'b' }} {{ contains params.name 'e' }} {{ contains params.obj 'x' }}",
        "{{ join params.list ', ' }}",
        "{{ default params.nothing 'fallback' }} {{ default params.name 'fallback' }}",
        "{{ json params.obj }}",
        "{{ concat 'drill-' params.name '-' params.count }}",
        "{{ lower 'ACTIVE' }} {{ upper params.name }}",
        "{{ upper (concat params.name (lookup params.list 0)) }}",
        "{{#if params.flag}}yes{{else}}no{{/if}}",
        "{{#if params.zero}}yes{{else}}no{{/if}}",
        "{{#unless params.empty}}empty{{else}}full{{/unless}}",
        "{{#if (gt (len params.list) 2)}}many{{/if}}.",
        "{{#if (eq run.mode 'drill')}}drill of {{ params.name }}{{/if}}",
        "a{{! a comment }}b{{!-- a {{ long }} comment --}}c",
        "\\{{ not a template }} {{ params.name }}",
        "{{ eq (len params.list) 3 }}",
    ];
    for template in corpus {
        let ours = drbook_text(template, &ctx);
        let theirs = handlebars_text(&hb, template, &ctx);
        assert_eq!(ours, theirs, "template {template:?}");
    }
}

#[test]
fn missing_values_and_lone_literals_fail_in_both() {
    let hb = handlebars();
    let ctx = context();
    for template in [
        "{{ params.missing }}",
        "x {{ steps.later.outputs.y }}",
        "{{ item.nope }}",
        "{{ 'literal' }}",
        "{{ 42 }}",
    ] {
        assert!(drbook_text(template, &ctx).is_err(), "{template}");
        assert!(handlebars_text(&hb, template, &ctx).is_err(), "{template}");
    }
}

/// Typed expressions, so that every generated template is meaningful for both engines.
#[derive(Debug, Clone)]
enum Kind {
    Number,
    Text,
    Bool,
}

fn expression(kind: Kind, depth: u32) -> BoxedStrategy<String> {
    let leaf = match kind {
        Kind::Number => prop_oneof![
            (0i64..100).prop_map(|n| n.to_string()),
            Just("params.count".to_string()),
            Just("params.zero".to_string()),
            Just("index".to_string()),
            Just("item.size".to_string()),
        ]
        .boxed(),
        Kind::Text => prop_oneof![
            "[a-z]{0,6}".prop_map(|s| format!("'{s}'")),
            Just("params.name".to_string()),
            Just("params.empty".to_string()),
            Just("steps.check.outputs.status".to_string()),
            Just("item.id".to_string()),
            Just("run.mode".to_string()),
        ]
        .boxed(),
        Kind::Bool => prop_oneof![
            Just("true".to_string()),
            Just("false".to_string()),
            Just("params.flag".to_string()),
        ]
        .boxed(),
    };
    if depth == 0 {
        return leaf;
    }
    let number = || expression(Kind::Number, depth - 1);
    let text = || expression(Kind::Text, depth - 1);
    let boolean = || expression(Kind::Bool, depth - 1);
    let composite = match kind {
        Kind::Number => prop_oneof![
            text().prop_map(|t| format!("(len {t})")),
            Just("(len params.list)".to_string()),
        ]
        .boxed(),
        Kind::Text => prop_oneof![
            (text(), number()).prop_map(|(a, b)| format!("(concat {a} {b})")),
            text().prop_map(|t| format!("(upper {t})")),
            text().prop_map(|t| format!("(lower {t})")),
            Just("(join params.list '+')".to_string()),
            Just("(lookup params.list 1)".to_string()),
        ]
        .boxed(),
        Kind::Bool => prop_oneof![
            (number(), number()).prop_map(|(a, b)| format!("(gt {a} {b})")),
            (number(), number()).prop_map(|(a, b)| format!("(lte {a} {b})")),
            (text(), text()).prop_map(|(a, b)| format!("(eq {a} {b})")),
            (text(), text()).prop_map(|(a, b)| format!("(ne {a} {b})")),
            (boolean(), text()).prop_map(|(a, b)| format!("(and {a} {b})")),
            (number(), boolean()).prop_map(|(a, b)| format!("(or {a} {b})")),
            boolean().prop_map(|b| format!("(not {b})")),
            text().prop_map(|t| format!("(contains params.list {t})")),
        ]
        .boxed(),
    };
    prop_oneof![leaf, composite].boxed()
}

/// Whether an expression is a bare literal, which neither engine accepts alone in `{{ }}`.
fn is_literal(expr: &str) -> bool {
    expr.starts_with(|c: char| c.is_ascii_digit() || c == '\'') || expr == "true" || expr == "false"
}

/// An expression that can stand alone in `{{ }}`.
fn mustache(kind: Kind) -> impl Strategy<Value = String> {
    expression(kind, 2)
        .prop_filter("a literal alone is not an expression", |e| !is_literal(e))
        .prop_map(|e| format!("{{{{ {e} }}}}"))
}

/// A template: text around expressions of every kind, sometimes inside `#if`.
fn template() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-z :/-]{0,5}",
        mustache(Kind::Number),
        mustache(Kind::Text),
        mustache(Kind::Bool),
        (expression(Kind::Bool, 2), "[a-z]{0,3}", "[a-z]{0,3}")
            .prop_map(|(c, a, b)| format!("{{{{#if {c}}}}}{a}{{{{else}}}}{b}{{{{/if}}}}")),
    ];
    prop::collection::vec(part, 1..4).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_templates_render_like_handlebars(template in template()) {
        let hb = handlebars();
        let ctx = context();
        let ours = drbook_text(&template, &ctx);
        let theirs = handlebars_text(&hb, &template, &ctx);
        prop_assert!(ours.is_ok(), "drbook failed on {:?}: {:?}", template, ours);
        prop_assert_eq!(ours, theirs, "template {:?}", template);
    }
}
