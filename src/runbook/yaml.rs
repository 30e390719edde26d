//! YAML to a tree of nodes that remember where they came from.
//!
//! The text goes through `granit-parser` (the YAML parser inside serde-saphyr, used through
//! serde-saphyr's re-export) as a stream of events, and this module builds [`Node`]s from them:
//! plain values plus the byte span of each node. Decoding the runbook from this tree instead of
//! deserializing straight into Rust types lets validation report *every* problem (unknown keys,
//! wrong types, duplicate keys, ...) with its location.
//!
//! Building the tree from events, rather than through serde-saphyr's serde layer with
//! `Spanned<T>` on every node, is about three times faster (the benchmark's 900 KB runbook:
//! ~50 ms instead of ~120 ms), which the 100 ms budget for a 5,000-step runbook needs. The same
//! limits serde-saphyr's `Budget` enforces are enforced here while the tree grows, so a YAML
//! bomb fails at the alias that would blow up, with its location.
//!
//! Scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans (`yes`, `no`,
//! `on`, `off` stay text), `~`/`null`/empty are null, and numbers are decimal, `0x` hex or `0o`
//! octal integers, or floats (with `.inf` and `.nan`). Quoted and block scalars are text.
//! Merge keys (`<<: *defaults`) are expanded; explicit keys win over merged ones.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_saphyr::granit_parser::{self as gp, Event, ScalarStyle};

use super::source::{Source, Span};

/// One YAML node with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    pub value: Value<'a>,
    /// Where the node is *used*: for an alias (`*a`) this is the alias, not the anchor. For a
    /// collection, the position where it starts (length 0).
    pub span: Span,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Borrowed from the source text when the scalar is written plainly (no escapes).
    String(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    /// Entries in document order; duplicate keys are kept so that validation can report them.
    Map(Vec<(Node<'a>, Node<'a>)>),
}

impl Value<'_> {
    /// What the value is, in words, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl<'a> Node<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// The key of a mapping entry as text. Scalar keys are converted (`1: x` has key `"1"`).
    pub fn key_text(&self) -> Option<Cow<'_, str>> {
        match &self.value {
            Value::String(s) => Some(Cow::Borrowed(s.as_ref())),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            Value::Float(f) => Some(Cow::Owned(f.to_string())),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value of `key` in a mapping (the first one, if the key is duplicated).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` in a mapping.
    pub fn key_node(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, _)| k),
            _ => None,
        }
    }

    /// The `index`-th element of a sequence.
    pub fn at(&self, index: usize) -> Option<&Node<'a>> {
        match &self.value {
            Value::Seq(items) => items.get(index),
            _ => None,
        }
    }

    /// Converts to JSON for free-form values (`with`, defaults, literal `for_each` items).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    if let Some(key) = k.key_text() {
                        map.insert(key.into_owned(), v.to_json());
                    }
                }
                serde_json::Value::Object(map)
            }
        }
    }
}

/// Limits that stop YAML bombs (alias expansion), absurd nesting and huge node counts before
/// they cost memory: the same kinds of limits as serde-saphyr's `Budget`, sized for runbooks.
/// The 5,000-step benchmark runbook uses about 40% of the node budget.
pub mod limits {
    /// Nesting of sequences and mappings.
    pub const MAX_DEPTH: usize = 48;
    /// Nodes in the tree, counting every copy an alias makes.
    pub const MAX_NODES: usize = 250_000;
    /// `*alias` uses.
    pub const MAX_ALIASES: usize = 1_000;
    /// `&anchor` definitions.
    pub const MAX_ANCHORS: usize = 1_000;
}

/// Why YAML could not be turned into a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    pub message: String,
    pub span: Span,
    /// `true` when a limit (depth, nodes, aliases) was exceeded rather than the syntax being
    /// wrong.
    pub over_budget: bool,
}

/// Parses YAML text into a [`Node`] tree, enforcing [`limits`].
pub fn parse(source: &Source) -> Result<Node<'_>, ParseFailure> {
    let text = source.text();
    let mut options = gp::Options::default();
    // The parser refuses deeper nesting itself, before the builder would.
    options.flow_nesting_limit = limits::MAX_DEPTH + 1;
    options.block_nesting_limit = limits::MAX_DEPTH + 1;
    let parser = gp::Parser::new_from_str_with_options(text, options);
    let mut builder = Builder::default();
    for item in parser {
        let (event, span) = item.map_err(|e| {
            let offset = e
                .marker()
                .byte_offset()
                .unwrap_or_else(|| offset_of(text, e.marker().line(), e.marker().col() + 1));
            let over_budget = matches!(
                e.kind(),
                gp::ErrorKind::RecursionLimitExceeded
                    | gp::ErrorKind::InputByteLimitExceeded { .. }
            );
            let message = if matches!(e.kind(), gp::ErrorKind::RecursionLimitExceeded) {
                format!("nested deeper than {} levels", limits::MAX_DEPTH)
            } else {
                e.info()
            };
            ParseFailure {
                message,
                span: Span::new(offset, 0),
                over_budget,
            }
        })?;
        builder.event(event, span_of(&span, text))?;
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        span: Span::new(0, 0),
    }))
}

fn span_of(span: &gp::Span, text: &str) -> Span {
    let start = span
        .start
        .byte_offset()
        .unwrap_or_else(|| offset_of(text, span.start.line(), span.start.col() + 1));
    let end = span
        .end
        .byte_offset()
        .unwrap_or_else(|| offset_of(text, span.end.line(), span.end.col() + 1));
    Span::new(start, end.saturating_sub(start))
}

/// Byte offset of a 1-based line and character column (clamped to the text).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

fn limit(message: impl Into<String>, span: Span) -> ParseFailure {
    ParseFailure {
        message: message.into(),
        span,
        over_budget: true,
    }
}

fn invalid(message: impl Into<String>, span: Span) -> ParseFailure {
    ParseFailure {
        message: message.into(),
        span,
        over_budget: false,
    }
}

/// A collection being built.
struct Frame<'a> {
    span: Span,
    anchor: usize,
    /// Nodes counted before this collection started (to size anchored subtrees).
    nodes_before: usize,
    kind: FrameKind<'a>,
}

enum FrameKind<'a> {
    Seq(Vec<Node<'a>>),
    Map {
        entries: Vec<(Node<'a>, Node<'a>)>,
        key: Option<Node<'a>>,
    },
}

/// A copy of an anchored node and how many nodes an alias to it adds.
struct Anchored<'a> {
    node: Node<'a>,
    size: usize,
}

#[derive(Default)]
struct Builder<'a> {
    stack: Vec<Frame<'a>>,
    anchors: HashMap<usize, Anchored<'a>>,
    root: Option<Node<'a>>,
    nodes: usize,
    aliases: usize,
    documents: usize,
}

impl<'a> Builder<'a> {
    fn count(&mut self, n: usize, span: Span) -> Result<(), ParseFailure> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > limits::MAX_NODES {
            return Err(limit(
                format!(
                    "more than {} nodes (aliases count every copy they make)",
                    limits::MAX_NODES
                ),
                span,
            ));
        }
        Ok(())
    }

    fn anchor(&mut self, id: usize, node: &Node<'a>, size: usize) -> Result<(), ParseFailure> {
        if id == 0 {
            return Ok(());
        }
        if self.anchors.len() >= limits::MAX_ANCHORS {
            return Err(limit(
                format!("more than {} anchors", limits::MAX_ANCHORS),
                node.span,
            ));
        }
        self.anchors.insert(
            id,
            Anchored {
                node: node.clone(),
                size,
            },
        );
        Ok(())
    }

    fn event(&mut self, event: Event<'a>, span: Span) -> Result<(), ParseFailure> {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(invalid(
                        "a runbook file holds one YAML document; remove the second `---`",
                        span,
                    ));
                }
            }
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > limits::MAX_ALIASES {
                    return Err(limit(
                        format!("more than {} aliases", limits::MAX_ALIASES),
                        span,
                    ));
                }
                let Some(size) = self.anchors.get(&id).map(|a| a.size) else {
                    return Err(invalid("alias to an unknown anchor", span));
                };
                // Count the copy before making it, so that a bomb never allocates past the limit.
                self.count(size, span)?;
                let node = match self.anchors.get(&id) {
                    Some(anchored) => anchored.node.clone(),
                    None => return Err(invalid("alias to an unknown anchor", span)),
                };
                self.push(Node { span, ..node })?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, span)?;
                let value = resolve(text, style, tag.as_deref()).map_err(|m| invalid(m, span))?;
                let node = Node { value, span };
                self.anchor(anchor, &node, 1)?;
                self.push(node)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.open(
                    span,
                    anchor,
                    tag.as_deref(),
                    "seq",
                    FrameKind::Seq(Vec::new()),
                )?;
            }
            Event::MappingStart(_, anchor, tag) => {
                let kind = FrameKind::Map {
                    entries: Vec::new(),
                    key: None,
                };
                self.open(span, anchor, tag.as_deref(), "map", kind)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(invalid("unbalanced YAML structure", span));
                };
                let size = self.nodes - frame.nodes_before;
                let value = match frame.kind {
                    FrameKind::Seq(items) => Value::Seq(items),
                    FrameKind::Map { entries, key } => {
                        if let Some(key) = key {
                            return Err(invalid("a mapping key has no value", key.span));
                        }
                        Value::Map(merge_keys(entries)?)
                    }
                };
                let node = Node {
                    value,
                    span: frame.span,
                };
                self.anchor(frame.anchor, &node, size)?;
                self.push(node)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn open(
        &mut self,
        span: Span,
        anchor: usize,
        tag: Option<&gp::Tag>,
        core: &str,
        kind: FrameKind<'a>,
    ) -> Result<(), ParseFailure> {
        if let Some(tag) = tag
            && tag.core_suffix() != Some(core)
        {
            return Err(invalid(
                format!(
                    "YAML tag `{}{}` is not supported here",
                    tag.original_handle(),
                    tag.suffix()
                ),
                span,
            ));
        }
        if self.stack.len() >= limits::MAX_DEPTH {
            return Err(limit(
                format!("nested deeper than {} levels", limits::MAX_DEPTH),
                span,
            ));
        }
        let nodes_before = self.nodes;
        self.count(1, span)?;
        self.stack.push(Frame {
            span: Span::new(span.offset, 0),
            anchor,
            nodes_before,
            kind,
        });
        Ok(())
    }

    fn push(&mut self, node: Node<'a>) -> Result<(), ParseFailure> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
            }
            Some(Frame {
                kind: FrameKind::Seq(items),
                ..
            }) => items.push(node),
            Some(Frame {
                kind: FrameKind::Map { entries, key },
                ..
            }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}
/// Expands merge keys (`<<: *defaults` or `<<: [*a, *b]`): merged entries are added for keys
/// the mapping does not set itself; earlier sources win over later ones.
fn merge_keys<'a>(
    entries: Vec<(Node<'a>, Node<'a>)>,
) -> Result<Vec<(Node<'a>, Node<'a>)>, ParseFailure> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(entries);
    }
    let mut explicit = Vec::new();
    let mut sources = Vec::new();
    for (key, value) in entries {
        if is_merge_key(&key) {
            match value.value {
                Value::Map(map) => sources.push(map),
                Value::Seq(items) => {
                    for item in items {
                        match item.value {
                            Value::Map(map) => sources.push(map),
                            _ => return Err(invalid("`<<` merges mappings only", item.span)),
                        }
                    }
                }
                _ => return Err(invalid("`<<` merges mappings only", value.span)),
            }
        } else {
            explicit.push((key, value));
        }
    }
    for source in sources {
        for (key, value) in source {
            let present = explicit
                .iter()
                .any(|(k, _)| k.key_text().is_some() && k.key_text() == key.key_text());
            if !present {
                explicit.push((key, value));
            }
        }
    }
    Ok(explicit)
}

fn is_merge_key(key: &Node<'_>) -> bool {
    matches!(&key.value, Value::String(s) if s == "<<")
}

/// The value of a scalar under the YAML 1.2 core schema.
fn resolve<'a>(
    text: Cow<'a, str>,
    style: ScalarStyle,
    tag: Option<&gp::Tag>,
) -> Result<Value<'a>, String> {
    if let Some(tag) = tag {
        // `!` (non-specific) and `!!str` force text; other core tags force their type.
        return match tag.core_suffix() {
            Some("str") => Ok(Value::String(text)),
            Some(core @ ("int" | "float" | "bool" | "null")) => {
                let value = plain(text.clone());
                let matches = matches!(
                    (core, &value),
                    ("int", Value::Int(_))
                        | ("float", Value::Float(_) | Value::Int(_))
                        | ("bool", Value::Bool(_))
                        | ("null", Value::Null)
                );
                match (core, value) {
                    ("float", Value::Int(i)) => Ok(Value::Float(i as f64)),
                    (_, value) if matches => Ok(value),
                    _ => Err(format!("`{text}` is not a valid !!{core}")),
                }
            }
            _ if tag.handle() == "!" && tag.suffix().is_empty() => Ok(Value::String(text)),
            _ => Err(format!(
                "YAML tag `{}{}` is not supported",
                tag.original_handle(),
                tag.suffix()
            )),
        };
    }
    match style {
        ScalarStyle::Plain => Ok(plain(text)),
        _ => Ok(Value::String(text)),
    }
}

/// A plain scalar's value: null, boolean, integer, float, or text.
fn plain(text: Cow<'_, str>) -> Value<'_> {
    match text.as_ref() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    // Most plain scalars are words; only these first characters can start a number.
    if !text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
    {
        return Value::String(text);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(i);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            // Integers beyond i64 are kept as floats, like JSON numbers.
            Err(_) => text
                .parse::<f64>()
                .map_or(Value::String(text.clone()), Value::Float),
        };
    }
    if is_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::String(text)
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit before the exponent.
fn is_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Result<Node<'static>, ParseFailure> {
        // The tree borrows the source text; a test can keep it for the rest of the process.
        let source: &'static Source = Box::leak(Box::new(Source::new("t.yaml", text).unwrap()));
        parse(source)
    }

    #[test]
    fn nodes_carry_byte_spans_and_keep_duplicate_keys() {
        let node = tree("a: 1\nb: \"x\"\na: [true, ~]\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("not a map: {node:?}")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].1.value, Value::String("x".into()));
        assert_eq!(entries[1].1.span, Span::new(8, 3));
        assert_eq!(entries[2].0.span, Span::new(12, 1));
        assert_eq!(
            entries[2].1.to_json(),
            serde_json::json!([true, serde_json::Value::Null])
        );
    }

    #[test]
    fn quoted_numbers_stay_strings() {
        let node = tree("a: \"30\"\nb: 30\n").unwrap();
        assert_eq!(node.get("a").unwrap().value, Value::String("30".into()));
        assert_eq!(node.get("b").unwrap().value, Value::Int(30));
    }

    #[test]
    fn a_billion_laughs_is_refused() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
            text.push_str(&format!(
                "{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = name;
        }
        let err = tree(&text).unwrap_err();
        assert!(err.over_budget, "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let err = tree(&text).unwrap_err();
        assert!(err.over_budget, "{err:?}");
        let mut text = String::new();
        for depth in 0..60 {
            text.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
        }
        let err = tree(&text).unwrap_err();
        assert!(err.over_budget, "{err:?}");
    }

    #[test]
    fn scalars_follow_the_yaml_1_2_core_schema() {
        let node = tree(
            "a: [~, null, '', true, False, yes, on, 12, -7, 0x1F, 0o17, 1.5, 1e3, .inf, 007, 1_000, v1.2, \"12\", !!str 12, !!float 3]\n",
        )
        .unwrap();
        let Value::Seq(items) = &node.get("a").unwrap().value else {
            panic!("{node:?}")
        };
        let values: Vec<&Value> = items.iter().map(|n| &n.value).collect();
        assert_eq!(
            values,
            [
                &Value::Null,
                &Value::Null,
                &Value::String("".into()),
                &Value::Bool(true),
                &Value::Bool(false),
                &Value::String("yes".into()),
                &Value::String("on".into()),
                &Value::Int(12),
                &Value::Int(-7),
                &Value::Int(31),
                &Value::Int(15),
                &Value::Float(1.5),
                &Value::Float(1000.0),
                &Value::Float(f64::INFINITY),
                &Value::Int(7),
                &Value::String("1_000".into()),
                &Value::String("v1.2".into()),
                &Value::String("12".into()),
                &Value::String("12".into()),
                &Value::Float(3.0),
            ]
        );
    }

    #[test]
    fn merge_keys_fill_in_what_the_mapping_does_not_set() {
        let node = tree(
            "base: &base {max_attempts: 3, backoff: {kind: constant, initial: 1s}}\nretry: {<<: *base, max_attempts: 5}\n",
        )
        .unwrap();
        let retry = node.get("retry").unwrap();
        assert_eq!(retry.get("max_attempts").unwrap().value, Value::Int(5));
        assert_eq!(
            retry.get("backoff").unwrap().get("kind").unwrap().as_str(),
            Some("constant")
        );
        assert!(retry.get("<<").is_none());
    }

    #[test]
    fn aliases_point_at_their_use() {
        let node = tree("a: &x hello\nb: *x\n").unwrap();
        assert_eq!(node.get("b").unwrap().as_str(), Some("hello"));
        assert_eq!(node.get("b").unwrap().span, Span::new(15, 2));
    }

    #[test]
    fn unsupported_tags_and_second_documents_are_refused() {
        assert!(
            tree("a: !custom x\n")
                .unwrap_err()
                .message
                .contains("not supported")
        );
        assert!(
            tree("a: 1\n---\nb: 2\n")
                .unwrap_err()
                .message
                .contains("one YAML document")
        );
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = tree("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(!err.over_budget, "{err:?}");
        assert!(err.span.offset > 0, "{err:?}");
        let err = tree("a: 1\nb: c: d\n").unwrap_err();
        assert_eq!(err.span.offset, 9, "{err:?}");
    }
}
