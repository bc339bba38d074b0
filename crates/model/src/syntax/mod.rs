//! The positioned document tree that every user document is read into.
//!
//! YAML and JSON files both become a [`Node`]: a value with the `line:col` where it was written.
//! Everything downstream (templates, buildspecs, pipelines) works on nodes so that a problem
//! found at any stage, even after Globals were merged or SAM expanded a resource, can still
//! point at the line the user wrote.
//!
//! Scalars keep YAML 1.1 meaning, as CloudFormation (and SAM CLI, via PyYAML) read them:
//! `yes`/`no`/`on`/`off` are booleans, `0755` is octal, and unquoted numbers keep their text so
//! that `Version: 0.2` and `Timeout: 30` can be turned into strings exactly as written.
//! CloudFormation's short-form tags (`!Ref`, `!GetAtt A.B`, `!Sub`, …) are rewritten to their
//! long `Fn::` forms while parsing, positioned at the tag.

mod json;
mod yaml;

use std::fmt;

use indexmap::IndexMap;
use serde_json::Value;

pub use self::json::parse_json;
pub use self::yaml::{Parsed, TagMode, parse_yaml};
use crate::diag::Pos;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// A number as written (after YAML 1.1 base conversion): `30`, `0.2`, `1e3`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(String);

impl Number {
    /// Accepts decimal integers and floats as JSON writes them.
    pub fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        if t.parse::<i128>().is_ok() {
            return Some(Number(t.trim_start_matches('+').to_owned()));
        }
        let looks_numeric = t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            && t.chars().any(|c| c.is_ascii_digit());
        match t.parse::<f64>() {
            Ok(f) if looks_numeric && f.is_finite() => Some(Number::from_f64(f)),
            _ => None,
        }
    }

    pub fn from_i64(n: i64) -> Number {
        Number(n.to_string())
    }

    /// Floats are kept in the shortest text that reads back the same, as Python prints them
    /// (`0.2`, `3.0`), because that is the string SAM and CloudFormation make of them.
    pub fn from_f64(n: f64) -> Number {
        if n.fract() == 0.0 && n.abs() < 1e15 {
            Number(format!("{n:.1}"))
        } else {
            Number(n.to_string())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }

    pub fn is_integer(&self) -> bool {
        self.as_i64().is_some()
    }

    pub fn to_json(&self) -> Value {
        if let Ok(i) = self.0.parse::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = self.0.parse::<u64>() {
            return Value::from(u);
        }
        match self
            .0
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Value::Number(n),
            None => Value::String(self.0.clone()),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ordered mapping whose keys remember where they were written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: IndexMap<String, Entry>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key_pos: Pos,
    pub value: Node,
}

impl Map {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.get(key).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries.get(key).map(|e| e.key_pos)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Inserts or replaces; a replaced key keeps its place in the order.
    pub fn insert(&mut self, key: impl Into<String>, key_pos: Pos, value: Node) -> Option<Node> {
        self.entries
            .insert(key.into(), Entry { key_pos, value })
            .map(|e| e.value)
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        self.entries.shift_remove(key).map(|e| e.value)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), &e.value))
    }

    pub fn iter_entries(&self) -> impl ExactSizeIterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&str, &mut Node)> {
        self.entries
            .iter_mut()
            .map(|(k, e)| (k.as_str(), &mut e.value))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Node) -> bool) {
        self.entries.retain(|k, e| keep(k, &mut e.value));
    }

    /// Consumes the map, keeping each key's position.
    pub fn into_entries(self) -> impl Iterator<Item = (String, Entry)> {
        self.entries.into_iter()
    }

    /// The single key of a one-entry map: how intrinsic functions are recognised.
    pub fn single(&self) -> Option<(&str, &Node)> {
        if self.entries.len() == 1 {
            self.iter().next()
        } else {
            None
        }
    }
}

impl FromIterator<(String, Node)> for Map {
    fn from_iter<T: IntoIterator<Item = (String, Node)>>(iter: T) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            let pos = v.pos;
            m.insert(k, pos, v);
        }
        m
    }
}

impl IntoIterator for Map {
    type Item = (String, Node);
    type IntoIter = std::iter::Map<
        indexmap::map::IntoIter<String, Entry>,
        fn((String, Entry)) -> (String, Node),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter().map(|(k, e)| (k, e.value))
    }
}

impl Node {
    pub fn new(pos: Pos, kind: Kind) -> Self {
        Self { pos, kind }
    }

    pub fn null(pos: Pos) -> Self {
        Self::new(pos, Kind::Null)
    }

    pub fn string(pos: Pos, s: impl Into<String>) -> Self {
        Self::new(pos, Kind::String(s.into()))
    }

    pub fn bool(pos: Pos, b: bool) -> Self {
        Self::new(pos, Kind::Bool(b))
    }

    pub fn int(pos: Pos, n: i64) -> Self {
        Self::new(pos, Kind::Number(Number::from_i64(n)))
    }

    pub fn seq(pos: Pos, items: Vec<Node>) -> Self {
        Self::new(pos, Kind::Seq(items))
    }

    pub fn map(pos: Pos, map: Map) -> Self {
        Self::new(pos, Kind::Map(map))
    }

    /// A one-key map: `{"Ref": "X"}` and the other intrinsic shapes.
    pub fn call(pos: Pos, name: &str, arg: Node) -> Self {
        let mut m = Map::new();
        m.insert(name, pos, arg);
        Self::map(pos, m)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            Kind::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The node as text when it is a scalar: strings as they are, numbers as written, booleans
    /// as `true`/`false` — how CloudFormation turns scalars into strings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::String(s) => Some(s.clone()),
            Kind::Number(n) => Some(n.to_string()),
            Kind::Bool(b) => Some(b.to_string()),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// The intrinsic function this node calls, if it is a one-key map whose key is `Ref`,
    /// `Condition` or starts with `Fn::`.
    pub fn intrinsic(&self) -> Option<(&str, &Node)> {
        let (k, v) = self.as_map()?.single()?;
        (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k, v))
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "boolean",
            Kind::Number(_) => "number",
            Kind::String(_) => "string",
            Kind::Seq(_) => "list",
            Kind::Map(_) => "mapping",
        }
    }

    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Number(n) => n.to_json(),
            Kind::String(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.to_owned(), v.to_json())).collect())
            }
        }
    }

    /// Builds a node from JSON, every part placed at `pos` (for values Slipway generates).
    pub fn from_json(value: &Value, pos: Pos) -> Node {
        let kind = match value {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(Number(n.to_string())),
            Value::String(s) => Kind::String(s.clone()),
            Value::Array(a) => Kind::Seq(a.iter().map(|v| Node::from_json(v, pos)).collect()),
            Value::Object(o) => Kind::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v, pos)))
                    .collect(),
            ),
        };
        Node::new(pos, kind)
    }

    /// Visits every node depth-first, parents before children.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        f(self);
        match &self.kind {
            Kind::Seq(items) => items.iter().for_each(|n| n.walk(f)),
            Kind::Map(m) => m.iter().for_each(|(_, n)| n.walk(f)),
            Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) => {}
        }
    }
}

/// Which grammar a document is written in, chosen from its first meaningful character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    pub fn sniff(text: &str) -> Format {
        let first = text
            .lines()
            .map(str::trim_start)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.chars().next());
        if first == Some('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// Parses a document in either format. A JSON document is read by the JSON parser so that
/// its errors read like JSON errors; everything else is YAML.
pub fn parse_document(text: &str, tags: TagMode) -> Parsed {
    match Format::sniff(text) {
        Format::Json => parse_json(text),
        Format::Yaml => parse_yaml(text, tags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text_and_convert_to_json() {
        assert_eq!(
            Number::parse("0.2").unwrap().to_json(),
            serde_json::json!(0.2)
        );
        assert_eq!(
            Number::parse("30").unwrap().to_json(),
            serde_json::json!(30)
        );
        assert_eq!(Number::parse("+5").unwrap().as_str(), "5");
        assert!(Number::parse("1.2.3").is_none());
        assert!(Number::parse("abc").is_none());
        assert!(Number::parse("inf").is_none());
    }

    #[test]
    fn sniffs_format() {
        assert_eq!(Format::sniff("  \n{\"a\": 1}"), Format::Json);
        assert_eq!(Format::sniff("# c\na: 1"), Format::Yaml);
    }
}
