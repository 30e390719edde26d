//! YAML to a tree of nodes that remember where they came from.
//!
//! `serde-saphyr` parses the text (with budgets against YAML bombs) into [`Node`]s: plain values
//! plus the byte span of each node. Decoding the runbook from this tree instead of deserializing
//! straight into Rust types lets validation report *every* problem (unknown keys, wrong types,
//! duplicate keys, ...) with its location, instead of stopping at the first one.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::source::{Source, Span};

/// One YAML node with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// Where the node is *used*: for an alias (`*a`) this is the alias, not the anchor.
    pub span: Span,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    /// Entries in document order; duplicate keys are kept so that validation can report them.
    Map(Vec<(Node, Node)>),
}

impl Value {
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

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The key of a mapping entry as text. Scalar keys are converted (`1: x` has key `"1"`).
    pub fn key_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value of `key` in a mapping (the first one, if the key is duplicated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` in a mapping.
    pub fn key_node(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, _)| k),
            _ => None,
        }
    }

    /// The `index`-th element of a sequence.
    pub fn at(&self, index: usize) -> Option<&Node> {
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
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    if let Some(key) = k.key_text() {
                        map.insert(key, v.to_json());
                    }
                }
                serde_json::Value::Object(map)
            }
        }
    }
}

/// Limits that stop YAML bombs (alias expansion), absurd nesting and huge node counts before
/// they cost memory. They are generous for hand-written runbooks: the 5,000-step benchmark
/// runbook uses about a quarter of the node budget.
pub mod limits {
    pub const MAX_DEPTH: usize = 48;
    pub const MAX_NODES: usize = 250_000;
    pub const MAX_ALIASES: usize = 1_000;
    pub const MAX_ANCHORS: usize = 1_000;
    /// Total events replayed by alias expansion: the knob that defeats "billion laughs".
    pub const MAX_REPLAYED_EVENTS: usize = 20_000;
}

/// Why YAML could not be turned into a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    pub message: String,
    pub span: Span,
    /// `true` when a budget (size, depth, aliases) was exceeded rather than the syntax being wrong.
    pub over_budget: bool,
}

/// Parses YAML text into a [`Node`] tree, enforcing [`limits`].
pub fn parse(source: &Source) -> Result<Node, ParseFailure> {
    let text = source.text();
    if text.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            span: Span::new(0, 0),
        });
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: limits::MAX_DEPTH,
            max_nodes: limits::MAX_NODES,
            max_aliases: limits::MAX_ALIASES,
            max_anchors: limits::MAX_ANCHORS,
            max_documents: 1,
            max_total_scalar_bytes: super::source::MAX_RUNBOOK_BYTES * 2,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: limits::MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: 16,
        },
        // Duplicate keys are reported by validation, together with every other problem.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options) {
        Ok(root) => Ok(into_node(root)),
        Err(err) => {
            let span = err.location().map_or_else(Span::default, |loc| {
                let s = loc.span();
                match s.byte_offset() {
                    Some(offset) => Span::new(offset as usize, s.byte_len().unwrap_or(0) as usize),
                    // Some parser errors carry only a line and column.
                    None => Span::new(
                        offset_of(text, loc.line() as usize, loc.column() as usize),
                        0,
                    ),
                }
            });
            let message = err.without_snippet().to_string();
            let over_budget = message.contains("budget")
                || message.contains("limit")
                || message.contains("exceeded");
            Err(ParseFailure {
                message: clean_message(&message),
                span,
                over_budget,
            })
        }
    }
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

/// serde-saphyr appends "at line X column Y" to its messages; the diagnostic shows the location
/// graphically, so the duplicate is dropped.
fn clean_message(message: &str) -> String {
    let trimmed = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    trimmed.trim().to_string()
}

/// The serde-facing tree: values whose children are `Spanned`. Converted to [`Node`] at once.
enum RawNode {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

fn into_node(raw: Spanned<RawNode>) -> Node {
    let span = raw.referenced.span();
    let span = Span::new(
        span.byte_offset().unwrap_or(0) as usize,
        span.byte_len().unwrap_or(0) as usize,
    );
    let value = match raw.value {
        RawNode::Null => Value::Null,
        RawNode::Bool(b) => Value::Bool(b),
        RawNode::Int(i) => Value::Int(i),
        RawNode::Float(f) => Value::Float(f),
        RawNode::String(s) => Value::String(s),
        RawNode::Seq(items) => Value::Seq(items.into_iter().map(into_node).collect()),
        RawNode::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (into_node(k), into_node(v)))
                .collect(),
        ),
    };
    Node { value, span }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }

    fn visit_none<E>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<RawNode, E> {
        // Integers beyond i64 are kept as floats, like serde_json does; no runbook field needs them.
        Ok(i64::try_from(u).map_or(RawNode::Float(u as f64), RawNode::Int))
    }

    fn visit_i128<E>(self, i: i128) -> Result<RawNode, E> {
        Ok(i64::try_from(i).map_or(RawNode::Float(i as f64), RawNode::Int))
    }

    fn visit_u128<E>(self, u: u128) -> Result<RawNode, E> {
        Ok(i64::try_from(u).map_or(RawNode::Float(u as f64), RawNode::Int))
    }

    fn visit_f64<E>(self, f: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<RawNode, E> {
        Ok(RawNode::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<RawNode, E> {
        Ok(RawNode::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key::<Spanned<RawNode>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Result<Node, ParseFailure> {
        parse(&Source::new("t.yaml", text).unwrap())
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
