//! Templates: the handlebars subset runbooks use, parsed once, checked statically, evaluated.
//!
//! A template is text with `{{ expression }}` parts (handlebars syntax, strict, no HTML
//! escaping). Expressions are paths (`params.server_group_id`, `steps.create.outputs.job_id`,
//! `item.id`), literals (`'protected'`, `3`, `true`, `null`), helper calls (`eq a b`) and
//! sub-expressions in parentheses. `{{#if}}` / `{{#unless}}` blocks with `{{else}}` and comments
//! (`{{! ... }}`) are supported; other handlebars features (partials, `#each`, `@root`, `../`,
//! whitespace control `~`, hash arguments) are refused with a clear error, so that everything
//! a runbook can say is checked before it runs.
//!
//! drbook parses and evaluates templates itself rather than through the handlebars crate: the
//! parser knows the position of every reference (validation points at the exact name), and
//! planning a 5,000-step runbook stays within its time budget (the handlebars crate spends about
//! 15 µs compiling each template). A differential test renders every template shape through the
//! handlebars crate (strict mode, `no_escape`) and asserts the same output.
//!
//! A value that is exactly one `{{ expression }}` keeps its JSON type (number, list, object);
//! anything else renders to a string.

use std::fmt;
use std::ops::Range;

use serde_json::{Map, Value};

use super::helpers::{self, kind, truthy};
use super::model::{Mode, StepStatus};

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
    /// `{{#if c}}...{{else}}...{{/if}}`, or `#unless` (with `negate`).
    Cond {
        negate: bool,
        cond: Expr,
        then: Vec<Part>,
        otherwise: Vec<Part>,
    },
}

/// An expression inside `{{ }}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Path(PathExpr),
    Literal(Value, Range<usize>),
    Call(Call),
}

/// A helper call: `eq a b`, or `(eq a b)` as a sub-expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub helper: String,
    /// Byte range of the helper name in the template text.
    pub helper_span: Range<usize>,
    pub args: Vec<Expr>,
}

/// A reference to a value of the context, such as `steps.check.outputs.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathExpr {
    /// The path as written (`steps.a.outputs.ids.[0]`).
    text: String,
    /// Where each segment lies in `text` (brackets excluded). One string and one list per path
    /// instead of a string per segment: templates are parsed by the thousand.
    bounds: Vec<(u32, u32)>,
    /// Byte range of the path in the template text.
    pub span: Range<usize>,
}

impl PathExpr {
    /// The segments: `steps`, `a`, `outputs`, `ids`, `0`.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        self.bounds
            .iter()
            .map(|&(a, b)| self.text.get(a as usize..b as usize).unwrap_or(""))
    }

    /// Segment `i`, if the path has that many.
    pub fn segment(&self, i: usize) -> Option<&str> {
        let &(a, b) = self.bounds.get(i)?;
        self.text.get(a as usize..b as usize)
    }

    /// How many segments the path has.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// The path normalised to dots (`steps.a.outputs.ids.0`).
    pub fn dotted(&self) -> String {
        self.segments().collect::<Vec<_>>().join(".")
    }
}

/// A template that cannot be parsed: what is wrong, and where in the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Range<usize>,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A template that cannot be evaluated. The message names paths and kinds of values, never the
/// values themselves (they may be secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether a string contains template syntax at all (cheap pre-check).
pub fn is_template(text: &str) -> bool {
    find_pair(text.as_bytes(), b'{').is_some()
}

/// Where `cc` (two equal bytes, `{{` or `}}`) first occurs. A byte loop: templates are short,
/// and a generic substring search costs more to set up than to run here.
fn find_pair(bytes: &[u8], c: u8) -> Option<usize> {
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == c {
            if bytes[i + 1] == c {
                return Some(i);
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    None
}

impl Template {
    /// Parses template text.
    pub fn parse(text: &str) -> Result<Template, SyntaxError> {
        let mut parser = Parser { text, pos: 0 };
        let (parts, end) = parser.sequence(None)?;
        match end {
            Terminator::Eof => Ok(Template { parts }),
            // `sequence(None)` only returns at the end of input or with an error.
            Terminator::Else(span) | Terminator::End(span) => Err(SyntaxError {
                message: "block end without a block".into(),
                span,
            }),
        }
    }

    /// The expression, if the template is exactly one `{{ expression }}`: its value keeps its
    /// JSON type.
    pub fn single_expression(&self) -> Option<&Expr> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => Some(e),
            _ => None,
        }
    }

    /// Whether the template has no expressions (plain text, maybe with comments).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Every path the template reads, in order of appearance.
    pub fn references(&self) -> Vec<&PathExpr> {
        let mut out = Vec::new();
        visit_parts(&self.parts, &mut |e| {
            if let Expr::Path(p) = e {
                out.push(p);
            }
        });
        out
    }

    /// Every helper call, in order of appearance.
    pub fn calls(&self) -> Vec<&Call> {
        let mut out = Vec::new();
        visit_parts(&self.parts, &mut |e| {
            if let Expr::Call(c) = e {
                out.push(c);
            }
        });
        out
    }

    /// Evaluates the template. A single expression keeps its JSON type; otherwise the result is
    /// a string.
    pub fn render(&self, context: &Context) -> Result<Value, RenderError> {
        if let Some(expr) = self.single_expression() {
            return eval(expr, context);
        }
        let mut out = String::new();
        render_parts(&self.parts, context, &mut out)?;
        Ok(Value::String(out))
    }
}

fn visit_parts<'a>(parts: &'a [Part], f: &mut impl FnMut(&'a Expr)) {
    for part in parts {
        match part {
            Part::Text(_) => {}
            Part::Expr(e) => visit_expr(e, f),
            Part::Cond {
                cond,
                then,
                otherwise,
                ..
            } => {
                visit_expr(cond, f);
                visit_parts(then, f);
                visit_parts(otherwise, f);
            }
        }
    }
}

fn visit_expr<'a>(expr: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(expr);
    if let Expr::Call(call) = expr {
        for arg in &call.args {
            visit_expr(arg, f);
        }
    }
}

fn render_parts(parts: &[Part], context: &Context, out: &mut String) -> Result<(), RenderError> {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Expr(e) => {
                let value = eval(e, context)?;
                match value {
                    Value::String(s) => out.push_str(&s),
                    Value::Number(n) => out.push_str(&n.to_string()),
                    Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                    other => {
                        return Err(RenderError {
                            message: format!(
                                "`{}` is {}, which cannot be part of a string; use a value that is exactly this expression, or `json`/`join`/`default`",
                                describe(e),
                                kind(&other)
                            ),
                        });
                    }
                }
            }
            Part::Cond {
                negate,
                cond,
                then,
                otherwise,
            } => {
                let holds = truthy(&eval(cond, context)?) != *negate;
                render_parts(if holds { then } else { otherwise }, context, out)?;
            }
        }
    }
    Ok(())
}

fn describe(expr: &Expr) -> String {
    match expr {
        Expr::Path(p) => p.dotted(),
        Expr::Literal(v, _) => v.to_string(),
        Expr::Call(c) => format!("{} ...", c.helper),
    }
}

fn eval(expr: &Expr, context: &Context) -> Result<Value, RenderError> {
    match expr {
        Expr::Literal(v, _) => Ok(v.clone()),
        Expr::Path(p) => context.lookup(p).cloned(),
        Expr::Call(call) => {
            let Some(helper) = helpers::helper(&call.helper) else {
                return Err(RenderError {
                    message: format!("`{}` is not a helper", call.helper),
                });
            };
            if !helper.arity.accepts(call.args.len()) {
                return Err(RenderError {
                    message: format!(
                        "`{}` takes {}, not {}",
                        helper.name,
                        helper.arity.describe(),
                        call.args.len()
                    ),
                });
            }
            let args = call
                .args
                .iter()
                .map(|a| eval(a, context))
                .collect::<Result<Vec<_>, _>>()?;
            (helper.call)(&args).map_err(|message| RenderError {
                message: format!("`{}`: {message}", helper.name),
            })
        }
    }
}

/// What templates can read while a run is going: `params`, `steps.<id>.status`,
/// `steps.<id>.outputs.<name>`, `run.id`, `run.mode`, and inside a `for_each` step `item` and
/// `index`.
///
/// Its `Debug` output names params and steps but shows no values: a context holds secret
/// params in clear, because templates must render them into requests.
#[derive(Clone, Default, PartialEq)]
pub struct Context {
    root: Map<String, Value>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |name: &str| -> Vec<&str> {
            match self.root.get(name) {
                Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
                _ => Vec::new(),
            }
        };
        f.debug_struct("Context")
            .field("params", &keys("params"))
            .field("steps", &keys("steps"))
            .field("item", &self.root.contains_key("item"))
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The context of a run: its params with secrets exposed (templates render them into
    /// requests; anything shown to people uses [`ParamValues::masked`] instead).
    ///
    /// [`ParamValues::masked`]: super::params::ParamValues::masked
    pub fn for_run(run_id: &str, mode: Option<Mode>, params: &super::params::ParamValues) -> Self {
        Context::new(run_id, mode, params.expose())
    }

    /// A context from param values as given (already typed and defaulted).
    pub fn new(run_id: &str, mode: Option<Mode>, params: Map<String, Value>) -> Self {
        let mut root = Map::new();
        root.insert("params".into(), Value::Object(params));
        root.insert("steps".into(), Value::Object(Map::new()));
        let mut run = Map::new();
        run.insert("id".into(), Value::String(run_id.to_string()));
        run.insert(
            "mode".into(),
            mode.map_or(Value::Null, |m| Value::String(m.as_str().into())),
        );
        root.insert("run".into(), Value::Object(run));
        Context { root }
    }

    /// Records what a step did: `steps.<id>.status` and `steps.<id>.outputs`.
    pub fn set_step(&mut self, id: &str, status: StepStatus, outputs: Map<String, Value>) {
        let mut step = Map::new();
        step.insert("status".into(), Value::String(status.as_str().into()));
        step.insert("outputs".into(), Value::Object(outputs));
        if let Some(Value::Object(steps)) = self.root.get_mut("steps") {
            steps.insert(id.to_string(), Value::Object(step));
        }
    }

    /// The same context inside one item of a `for_each`: `item` and `index` are set.
    pub fn with_item(&self, item: Value, index: usize) -> Context {
        let mut root = self.root.clone();
        root.insert("item".into(), item);
        root.insert("index".into(), Value::from(index));
        Context { root }
    }

    /// The context as one JSON value (for tests). It holds secret params in clear: never log it.
    pub fn as_json(&self) -> Value {
        Value::Object(self.root.clone())
    }

    fn lookup(&self, path: &PathExpr) -> Result<&Value, RenderError> {
        let mut current: Option<&Value> = None;
        for (i, segment) in path.segments().enumerate() {
            let next = match current {
                None => self.root.get(segment),
                Some(Value::Object(map)) => map.get(segment),
                Some(Value::Array(items)) => {
                    segment.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                Some(_) => None,
            };
            match next {
                Some(v) => current = Some(v),
                None => {
                    let path_text = path.segments().take(i + 1).collect::<Vec<_>>().join(".");
                    let path = path_text;
                    let message = if i == 0 && (segment == "item" || segment == "index") {
                        format!("`{segment}` is only defined inside a `for_each` step")
                    } else if path_starts_with_steps(&path) && i <= 1 {
                        format!("`{path}` has not run yet")
                    } else {
                        format!("`{path}` is not defined")
                    };
                    return Err(RenderError { message });
                }
            }
        }
        current.ok_or_else(|| RenderError {
            message: "empty path".into(),
        })
    }
}

fn path_starts_with_steps(path: &str) -> bool {
    path == "steps" || path.starts_with("steps.")
}

/// Renders every template string inside a JSON value (`with` inputs, `for_each` items). Keys are
/// not templated. Strings without `{{` are returned as they are.
pub fn render(value: &Value, context: &Context) -> Result<Value, RenderError> {
    match value {
        Value::String(s) if is_template(s) => {
            let template = Template::parse(s).map_err(|e| RenderError {
                message: format!("invalid template: {e}"),
            })?;
            template.render(context)
        }
        Value::Array(items) => items
            .iter()
            .map(|v| render(v, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), render(v, context)?)))
            .collect::<Result<Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// Evaluates a condition (`when`, `assert`): one template expression, or a YAML boolean, judged
/// by [truthiness](helpers::truthy).
pub fn evaluate_condition(condition: &str, context: &Context) -> Result<bool, RenderError> {
    match condition.trim() {
        "true" => return Ok(true),
        "false" => return Ok(false),
        _ => {}
    }
    let template = Template::parse(condition).map_err(|e| RenderError {
        message: format!("invalid condition: {e}"),
    })?;
    let Some(expr) = template.single_expression() else {
        return Err(RenderError {
            message: "a condition must be exactly one `{{ expression }}`".into(),
        });
    };
    Ok(truthy(&eval(expr, context)?))
}

enum Terminator {
    Eof,
    Else(Range<usize>),
    End(Range<usize>),
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

fn syntax(message: impl Into<String>, span: Range<usize>) -> SyntaxError {
    SyntaxError {
        message: message.into(),
        span,
    }
}

impl<'a> Parser<'a> {
    /// Parses parts until the end of input, or until `{{else}}` / `{{/block}}` when inside the
    /// block `block`.
    fn sequence(&mut self, block: Option<&str>) -> Result<(Vec<Part>, Terminator), SyntaxError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(open) = find_pair(rest.as_bytes(), b'{') else {
                text.push_str(rest);
                self.pos = self.text.len();
                break;
            };
            let open_at = self.pos + open;
            // `\{{` is a literal `{{` (handlebars' escape).
            if open > 0 && rest.as_bytes()[open - 1] == b'\\' {
                text.push_str(&rest[..open - 1]);
                text.push_str("{{");
                self.pos = open_at + 2;
                continue;
            }
            text.push_str(&rest[..open]);
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            let (inner, inner_start, close_end) = self.mustache(open_at)?;
            self.pos = close_end;
            let whole = open_at..close_end;
            let trimmed = inner.trim_start();
            let lead = inner.len() - trimmed.len();
            let trimmed = trimmed.trim_end();
            let start = inner_start + lead;
            if inner.starts_with('~') || inner.ends_with('~') {
                return Err(syntax(
                    "whitespace control (`~`) is not supported in runbook templates",
                    whole,
                ));
            }
            match trimmed.chars().next() {
                None => return Err(syntax("empty `{{ }}`", whole)),
                Some('!') => {}
                Some('#') => {
                    let body = &trimmed[1..];
                    let name_len = body.find(char::is_whitespace).unwrap_or(body.len());
                    let name = &body[..name_len];
                    let negate = match name {
                        "if" => false,
                        "unless" => true,
                        "each" => {
                            return Err(syntax(
                                "`#each` is not supported: use a `for_each` step, or the `join` helper to build a string from a list",
                                whole,
                            ));
                        }
                        other => {
                            return Err(syntax(
                                format!(
                                    "block `#{other}` is not supported; runbook templates allow `#if` and `#unless`"
                                ),
                                whole,
                            ));
                        }
                    };
                    let cond_text = &body[name_len..];
                    let cond_start = start + 1 + name_len;
                    if cond_text.trim().is_empty() {
                        return Err(syntax(format!("`#{name}` needs a condition"), whole));
                    }
                    let cond = parse_expression(cond_text, cond_start)?;
                    let (then, end) = self.sequence(Some(name))?;
                    let otherwise = match end {
                        Terminator::Else(_) => {
                            let (otherwise, end) = self.sequence(Some(name))?;
                            match end {
                                Terminator::End(..) => otherwise,
                                Terminator::Else(span) => {
                                    return Err(syntax(
                                        format!("`#{name}` has two `{{{{else}}}}`"),
                                        span,
                                    ));
                                }
                                Terminator::Eof => {
                                    return Err(syntax(
                                        format!(
                                            "`{{{{#{name}}}}}` is never closed with `{{{{/{name}}}}}`"
                                        ),
                                        whole,
                                    ));
                                }
                            }
                        }
                        Terminator::End(..) => Vec::new(),
                        Terminator::Eof => {
                            return Err(syntax(
                                format!("`{{{{#{name}}}}}` is never closed with `{{{{/{name}}}}}`"),
                                whole,
                            ));
                        }
                    };
                    parts.push(Part::Cond {
                        negate,
                        cond,
                        then,
                        otherwise,
                    });
                }
                Some('/') => {
                    let name = trimmed[1..].trim();
                    return match block {
                        Some(open) if open == name => Ok((parts, Terminator::End(whole))),
                        Some(open) => Err(syntax(
                            format!(
                                "`{{{{/{name}}}}}` closes `#{open}`; expected `{{{{/{open}}}}}`"
                            ),
                            whole,
                        )),
                        None => Err(syntax(format!("`{{{{/{name}}}}}` closes no block"), whole)),
                    };
                }
                Some('>') => {
                    return Err(syntax("partials (`{{> name}}`) are not supported", whole));
                }
                Some('^') => {
                    return Err(syntax(
                        "inverse sections (`{{^ }}`) are not supported; use `{{#unless}}`",
                        whole,
                    ));
                }
                Some('*') => {
                    return Err(syntax("decorators are not supported", whole));
                }
                Some('&') => {
                    return Err(syntax(
                        "`{{& }}` is not needed: runbook templates never escape HTML",
                        whole,
                    ));
                }
                _ if trimmed == "else" => {
                    return match block {
                        Some(_) => Ok((parts, Terminator::Else(whole))),
                        None => Err(syntax("`{{else}}` outside `#if` or `#unless`", whole)),
                    };
                }
                _ => {
                    let expr = parse_expression(trimmed, start)?;
                    // Handlebars reads `{{ 42 }}` as a path and refuses `{{ 'x' }}`; a literal
                    // is only an argument, so drbook refuses it alone too.
                    if let Expr::Literal(_, span) = &expr {
                        return Err(syntax(
                            "a literal alone is not a template expression; write it as plain text",
                            span.clone(),
                        ));
                    }
                    parts.push(Part::Expr(expr));
                }
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok((parts, Terminator::Eof))
    }

    /// Finds the end of the mustache opening at `open_at`; returns its inside, where the inside
    /// starts, and where the mustache ends.
    fn mustache(&self, open_at: usize) -> Result<(&'a str, usize, usize), SyntaxError> {
        let text = self.text;
        let after = &text[open_at..];
        if after.starts_with("{{!--") {
            let Some(end) = after.find("--}}") else {
                return Err(syntax(
                    "comment `{{!--` is never closed with `--}}`",
                    open_at..text.len(),
                ));
            };
            return Ok((
                &text[open_at + 2..open_at + end + 2],
                open_at + 2,
                open_at + end + 4,
            ));
        }
        let (open_len, close) = if after.starts_with("{{{") {
            (3, "}}}")
        } else {
            (2, "}}")
        };
        let end = if open_len == 3 {
            after[open_len..].find(close)
        } else {
            find_pair(&after.as_bytes()[open_len..], b'}')
        };
        let Some(end) = end else {
            return Err(syntax(
                format!("`{}` is never closed with `{close}`", &after[..open_len]),
                open_at..text.len(),
            ));
        };
        let inner_start = open_at + open_len;
        let inner = &text[inner_start..inner_start + end];
        if open_len == 2 && find_pair(inner.as_bytes(), b'{').is_some() {
            return Err(syntax(
                "`{{` inside `{{ }}`",
                open_at..inner_start + end + 2,
            ));
        }
        Ok((inner, inner_start, inner_start + end + close.len()))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'t> {
    Open,
    Close,
    Literal(Value),
    Word(&'t str),
}

fn tokenize(text: &str, base: usize) -> Result<Vec<(Token<'_>, Range<usize>)>, SyntaxError> {
    // Most expressions are a path or a helper with two or three arguments.
    let mut tokens = Vec::with_capacity(8);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let start = i;
        match c {
            '(' => {
                tokens.push((Token::Open, base + i..base + i + 1));
                i += 1;
            }
            ')' => {
                tokens.push((Token::Close, base + i..base + i + 1));
                i += 1;
            }
            '\'' | '"' => {
                let Some(len) = text[i + 1..].find(c) else {
                    return Err(syntax(
                        format!("string literal is never closed with `{c}`"),
                        base + i..base + text.len(),
                    ));
                };
                let literal = &text[i + 1..i + 1 + len];
                if literal.contains('\\') {
                    return Err(syntax(
                        "escapes are not supported in template strings; use the other quote character",
                        base + i..base + i + len + 2,
                    ));
                }
                tokens.push((
                    Token::Literal(Value::String(literal.to_string())),
                    base + i..base + i + len + 2,
                ));
                i += len + 2;
            }
            '@' => {
                let end = text[i..]
                    .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
                    .map_or(text.len(), |e| i + e);
                let word = &text[i..end];
                let hint = match word {
                    "@index" => "; use `index`",
                    "@root" => "; paths always start at the root",
                    _ => "",
                };
                return Err(syntax(
                    format!("`{word}` is not supported in runbook templates{hint}"),
                    base + i..base + end,
                ));
            }
            _ => {
                let mut end = i;
                let mut in_bracket = false;
                while end < text.len() {
                    let b = bytes[end];
                    if in_bracket {
                        if b == b']' {
                            in_bracket = false;
                        }
                    } else if b == b'[' {
                        in_bracket = true;
                    } else if b.is_ascii_whitespace() || b == b'(' || b == b')' {
                        break;
                    }
                    end += 1;
                }
                let word = &text[start..end];
                let span = base + start..base + end;
                if in_bracket {
                    return Err(syntax(format!("`[` in `{word}` is never closed"), span));
                }
                if word.contains('=') {
                    return Err(syntax(
                        format!("hash arguments (`{word}`) are not supported"),
                        span,
                    ));
                }
                let token = match word {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "null" => Token::Literal(Value::Null),
                    _ if looks_numeric(word) => {
                        match serde_json::from_str::<serde_json::Number>(word) {
                            Ok(n) => Token::Literal(Value::Number(n)),
                            Err(_) => {
                                return Err(syntax(format!("`{word}` is not a number"), span));
                            }
                        }
                    }
                    _ => Token::Word(word),
                };
                tokens.push((token, span));
                i = end;
            }
        }
    }
    Ok(tokens)
}

fn looks_numeric(word: &str) -> bool {
    let digits = word.strip_prefix('-').unwrap_or(word);
    digits.starts_with(|c: char| c.is_ascii_digit())
}

fn parse_expression(text: &str, base: usize) -> Result<Expr, SyntaxError> {
    let mut tokens = tokenize(text, base)?;
    let whole = base..base + text.len();
    let mut pos = 0;
    let expr = parse_call_or_operand(&mut tokens, &mut pos, whole.clone(), true)?;
    if pos != tokens.len() {
        let span = tokens[pos].1.clone();
        return Err(syntax("unexpected text after the expression", span));
    }
    Ok(expr)
}

/// `helper arg...` or a single operand. At the top level the tokens run to the end; inside
/// parentheses, to the matching `)`.
fn parse_call_or_operand(
    tokens: &mut [(Token<'_>, Range<usize>)],
    pos: &mut usize,
    whole: Range<usize>,
    top: bool,
) -> Result<Expr, SyntaxError> {
    let stop = |t: &Token| !top && *t == Token::Close;
    let remaining = tokens[*pos..].iter().take_while(|(t, _)| !stop(t)).count();
    if remaining == 0 {
        return Err(syntax("expected an expression", whole));
    }
    let first = parse_operand(tokens, pos, whole.clone())?;
    let has_more = tokens.get(*pos).is_some_and(|(t, _)| !stop(t));
    if !has_more {
        return Ok(first);
    }
    let Expr::Path(head) = first else {
        let span = tokens[*pos].1.clone();
        return Err(syntax("expected a helper name before arguments", span));
    };
    if head.len() != 1 {
        return Err(syntax(
            format!(
                "`{}` is followed by arguments, but a helper name has no dots",
                head.dotted()
            ),
            head.span,
        ));
    }
    let mut args = Vec::new();
    while tokens.get(*pos).is_some_and(|(t, _)| !stop(t)) {
        args.push(parse_operand(tokens, pos, whole.clone())?);
    }
    Ok(Expr::Call(Call {
        helper: head.segment(0).unwrap_or_default().to_string(),
        helper_span: head.span,
        args,
    }))
}

fn parse_operand(
    tokens: &mut [(Token<'_>, Range<usize>)],
    pos: &mut usize,
    whole: Range<usize>,
) -> Result<Expr, SyntaxError> {
    let Some((token, span)) = tokens.get_mut(*pos) else {
        return Err(syntax("expected an expression", whole));
    };
    *pos += 1;
    let span = span.clone();
    // Each token is read once, so a literal's value can be moved out.
    match std::mem::replace(token, Token::Close) {
        Token::Literal(v) => Ok(Expr::Literal(v, span)),
        Token::Word(w) => parse_path(w, span).map(Expr::Path),
        Token::Close => Err(syntax("unexpected `)`", span)),
        Token::Open => {
            let inner = parse_call_or_operand(tokens, pos, span.start..whole.end, false)?;
            match tokens.get(*pos) {
                Some((Token::Close, _)) => {
                    *pos += 1;
                    Ok(inner)
                }
                _ => Err(syntax(
                    "`(` is never closed with `)`",
                    span.start..whole.end,
                )),
            }
        }
    }
}

fn is_segment_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | ':')
}

fn parse_path(word: &str, span: Range<usize>) -> Result<PathExpr, SyntaxError> {
    if word == "this" || word.starts_with("this.") || word.starts_with("../") || word == ".." {
        return Err(syntax(
            format!(
                "`{word}` is not supported; paths start at `params`, `steps`, `item`, `index` or `run`"
            ),
            span,
        ));
    }
    let mut bounds: Vec<(u32, u32)> = Vec::with_capacity(4);
    let mut rest = word;
    // `rest` is always a suffix of `word`, so `word.len() - rest.len()` is where it starts.
    loop {
        let segment;
        let start;
        if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else {
                return Err(syntax(format!("`[` in `{word}` is never closed"), span));
            };
            start = word.len() - after.len();
            segment = &after[..close];
            rest = &after[close + 1..];
            if segment.is_empty() {
                return Err(syntax(format!("empty `[]` in `{word}`"), span));
            }
        } else {
            let end = rest
                .bytes()
                .position(|b| matches!(b, b'.' | b'[' | b'/'))
                .unwrap_or(rest.len());
            start = word.len() - rest.len();
            segment = &rest[..end];
            rest = &rest[end..];
            if segment.is_empty() {
                return Err(syntax(format!("`{word}` has an empty path segment"), span));
            }
            // Most segments are ASCII names; check characters only when a byte is unusual.
            let plain = segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b':'));
            if !plain && let Some(bad) = segment.chars().find(|c| !is_segment_char(*c)) {
                return Err(syntax(
                    format!("`{bad}` cannot appear in the path `{word}`"),
                    span,
                ));
            }
        }
        let (Ok(a), Ok(b)) = (u32::try_from(start), u32::try_from(start + segment.len())) else {
            return Err(syntax(format!("the path `{word}` is too long"), span));
        };
        bounds.push((a, b));
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('/') {
            return Err(syntax(
                format!("`{word}`: separate path segments with `.`, not `/`"),
                span,
            ));
        }
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
            if rest.is_empty() {
                return Err(syntax(format!("`{word}` ends with `.`"), span));
            }
        } else if !rest.starts_with('[') {
            return Err(syntax(format!("unexpected `{rest}` in `{word}`"), span));
        }
    }
    Ok(PathExpr {
        text: word.to_string(),
        bounds,
        span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context {
        let params = json!({
            "server_group_id": "pg-web-0001",
            "servers": ["ecs-web-01", "ecs-web-02"],
            "count": 3,
            "password": "hunter2"
        });
        let Value::Object(params) = params else {
            unreachable!()
        };
        let mut ctx = Context::new("run-1", Some(Mode::Drill), params);
        let Value::Object(outputs) =
            json!({"status": "protected", "ids": ["a", "b"], "nothing": null})
        else {
            unreachable!()
        };
        ctx.set_step("check", StepStatus::Succeeded, outputs);
        ctx
    }

    fn render_text(text: &str, ctx: &Context) -> Result<Value, String> {
        Template::parse(text)
            .map_err(|e| format!("syntax: {e}"))?
            .render(ctx)
            .map_err(|e| e.message)
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        let ctx = context();
        assert_eq!(render_text("{{ params.count }}", &ctx), Ok(json!(3)));
        assert_eq!(
            render_text("{{ params.servers }}", &ctx),
            Ok(json!(["ecs-web-01", "ecs-web-02"]))
        );
        assert_eq!(
            render_text("{{{ params.servers }}}", &ctx),
            Ok(json!(["ecs-web-01", "ecs-web-02"]))
        );
        assert_eq!(
            render_text("{{ eq steps.check.outputs.status 'protected' }}", &ctx),
            Ok(json!(true))
        );
        assert_eq!(
            render_text("{{ steps.check.outputs.nothing }}", &ctx),
            Ok(json!(null))
        );
        assert_eq!(render_text("{{ run.mode }}", &ctx), Ok(json!("drill")));
        assert_eq!(
            render_text("{{ steps.check.status }}", &ctx),
            Ok(json!("succeeded"))
        );
    }

    #[test]
    fn anything_else_is_a_string() {
        let ctx = context();
        assert_eq!(
            render_text(
                "drill-{{ params.server_group_id }}-{{ params.count }}",
                &ctx
            ),
            Ok(json!("drill-pg-web-0001-3"))
        );
        assert_eq!(render_text(" {{ params.count }}", &ctx), Ok(json!(" 3")));
        assert_eq!(
            render_text("{{ steps.check.outputs.ids.[1] }}{{! note }}", &ctx),
            Ok(json!("b"))
        );
        assert_eq!(
            render_text("{{ steps.check.outputs.ids.0 }}!", &ctx),
            Ok(json!("a!"))
        );
        assert_eq!(render_text("plain", &ctx), Ok(json!("plain")));
        assert_eq!(
            render_text("\\{{ not a template }}", &ctx),
            Ok(json!("{{ not a template }}"))
        );
        assert_eq!(
            render_text("{{#if (eq run.mode 'drill')}}yes{{else}}no{{/if}}", &ctx),
            Ok(json!("yes"))
        );
        assert_eq!(
            render_text("{{#unless params.count}}none{{else}}some{{/unless}}", &ctx),
            Ok(json!("some"))
        );
        assert_eq!(
            render_text("{{ join params.servers ', ' }}", &ctx),
            Ok(json!("ecs-web-01, ecs-web-02"))
        );
        assert_eq!(
            render_text("n={{ len (lookup steps.check.outputs 'ids') }}", &ctx),
            Ok(json!("n=2"))
        );
    }

    #[test]
    fn strictness() {
        let ctx = context();
        assert_eq!(
            render_text("{{ params.nope }}", &ctx),
            Err("`params.nope` is not defined".into())
        );
        assert_eq!(
            render_text("{{ steps.later.outputs.x }}", &ctx),
            Err("`steps.later` has not run yet".into())
        );
        assert_eq!(
            render_text("{{ item }}", &ctx),
            Err("`item` is only defined inside a `for_each` step".into())
        );
        let err = render_text("x {{ params.servers }}", &ctx).unwrap_err();
        assert!(
            err.contains("a list, which cannot be part of a string"),
            "{err}"
        );
        let err = render_text("x {{ steps.check.outputs.nothing }}", &ctx).unwrap_err();
        assert!(err.contains("null"), "{err}");
        let err = render_text("{{ gt params.password 3 }}", &ctx).unwrap_err();
        assert!(
            !err.contains("hunter2"),
            "a secret leaked into an error: {err}"
        );
    }

    #[test]
    fn debug_output_shows_names_not_values() {
        let shown = format!("{:?}", context());
        assert!(shown.contains("password"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("pg-web-0001"), "{shown}");
    }

    #[test]
    fn items_and_index_inside_for_each() {
        let ctx = context().with_item(json!({"id": "ecs-web-02"}), 1);
        assert_eq!(
            render_text("{{ item.id }}#{{ index }}", &ctx),
            Ok(json!("ecs-web-02#1"))
        );
        assert_eq!(render_text("{{ index }}", &ctx), Ok(json!(1)));
    }

    #[test]
    fn render_walks_json_and_keeps_types() {
        let ctx = context();
        let with = json!({
            "server_group_id": "{{ params.server_group_id }}",
            "servers": [{"id": "{{ params.servers.[0] }}"}],
            "limit": "{{ params.count }}",
            "type": "SOFT",
            "n": 5
        });
        assert_eq!(
            render(&with, &ctx).unwrap(),
            json!({"server_group_id": "pg-web-0001", "servers": [{"id": "ecs-web-01"}], "limit": 3, "type": "SOFT", "n": 5})
        );
    }

    #[test]
    fn conditions() {
        let ctx = context();
        assert_eq!(
            evaluate_condition("{{ eq steps.check.outputs.status 'protected' }}", &ctx),
            Ok(true)
        );
        assert_eq!(
            evaluate_condition("{{ steps.check.outputs.nothing }}", &ctx),
            Ok(false)
        );
        assert_eq!(evaluate_condition("{{ params.servers }}", &ctx), Ok(true));
        assert_eq!(evaluate_condition("false", &ctx), Ok(false));
        assert!(evaluate_condition("{{ params.count }} and more", &ctx).is_err());
    }

    #[test]
    fn references_have_exact_positions() {
        let text = "{{ eq steps.check.outputs.status (lower params.x) }}";
        let template = Template::parse(text).unwrap();
        let refs: Vec<(String, &str)> = template
            .references()
            .iter()
            .map(|r| (r.dotted(), &text[r.span.clone()]))
            .collect();
        assert_eq!(
            refs,
            [
                (
                    "steps.check.outputs.status".to_string(),
                    "steps.check.outputs.status"
                ),
                ("params.x".to_string(), "params.x"),
            ]
        );
        let calls: Vec<&str> = template
            .calls()
            .iter()
            .map(|c| &text[c.helper_span.clone()])
            .collect();
        assert_eq!(calls, ["eq", "lower"]);
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        for (text, why, at) in [
            ("{{ params.x ", "never closed", "{{ params.x "),
            ("{{ }}", "empty", "{{ }}"),
            (
                "{{#each params.x}}{{this}}{{/each}}",
                "`#each` is not supported",
                "{{#each params.x}}",
            ),
            ("{{#if a}}x", "never closed", "{{#if a}}"),
            ("{{#if a}}x{{/unless}}", "closes `#if`", "{{/unless}}"),
            ("{{ @index }}", "use `index`", "@index"),
            ("{{ ../x }}", "not supported", "../x"),
            ("{{ a..b }}", "empty path segment", "a..b"),
            ("{{ eq a b=c }}", "hash arguments", "b=c"),
            ("{{ eq 'a }}", "never closed", "'a"),
            ("{{ (eq a b }}", "never closed", "(eq a b"),
            ("{{ 'x' y }}", "helper name", "y"),
            ("{{~ a }}", "whitespace control", "{{~ a }}"),
            ("{{> partial }}", "partials", "{{> partial }}"),
            ("{{ a.b c }}", "has no dots", "a.b"),
            ("{{ 42 }}", "literal alone", "42"),
        ] {
            let err = Template::parse(text).unwrap_err();
            assert!(err.message.contains(why), "{text}: {}", err.message);
            assert_eq!(&text[err.span.clone()], at, "{text}: {}", err.message);
        }
    }
}
