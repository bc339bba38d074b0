//! YAML reader: saphyr's event stream folded into positioned [`Node`]s.
//!
//! We build the tree ourselves rather than use a YAML library's value type, for three reasons:
//! duplicate keys must be an error with both positions (libraries keep the last one silently),
//! aliases and merge keys must be refused (CloudFormation does not support them), and
//! CloudFormation's short-form tags must become `Fn::` maps at the position of the tag.
//! Scalars are typed with YAML 1.1 rules because that is what CloudFormation and SAM CLI use.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::{Kind, Map, Node, Number};
use crate::diag::{Code, Diagnostic, Pos, did_you_mean};

/// Whether CloudFormation's short-form tags are understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagMode {
    /// Templates: `!Ref`, `!GetAtt`, `!Sub`, … become intrinsic function maps.
    CloudFormation,
    /// Other documents (buildspecs, pipeline files): any local tag is an error.
    Plain,
}

/// Short-form tags and the long form each one stands for.
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Not", "Fn::Not"),
    ("FindInMap", "Fn::FindInMap"),
    ("ImportValue", "Fn::ImportValue"),
    ("Base64", "Fn::Base64"),
    ("GetAZs", "Fn::GetAZs"),
    ("Cidr", "Fn::Cidr"),
    ("Transform", "Fn::Transform"),
    ("Length", "Fn::Length"),
    ("ToJsonString", "Fn::ToJsonString"),
    ("ForEach", "Fn::ForEach"),
];

const CORE_TAG_HANDLE: &str = "tag:yaml.org,2002:";

/// The result of reading a document: the tree (absent only after a syntax error) and every
/// problem found on the way.
#[derive(Debug)]
pub struct Parsed {
    pub root: Option<Node>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// The tree, or the diagnostics when any of them is an error.
    pub fn into_result(self) -> Result<(Node, Vec<Diagnostic>), Vec<Diagnostic>> {
        match self.root {
            Some(root) if !self.diagnostics.iter().any(Diagnostic::is_error) => {
                Ok((root, self.diagnostics))
            }
            _ => Err(self.diagnostics),
        }
    }
}

pub fn parse_yaml(text: &str, tags: TagMode) -> Parsed {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        tags,
        diags: Vec::new(),
        path: Vec::new(),
    };
    let root = match b.document() {
        Ok(root) => root,
        Err(e) => {
            let mut d = syntax_error(&e);
            if e.info().contains("tab") {
                // The scanner reports where the token it was reading began; users need the
                // tab itself.
                if let Some(at) = first_indenting_tab(text, e.marker().line()) {
                    d = d.at(at).help("YAML indents with spaces; replace the tab");
                }
            }
            b.diags.push(d);
            None
        }
    };
    Parsed {
        root,
        diagnostics: b.diags,
    }
}

/// The first tab in the leading whitespace of a line, from line `from` (1-based) on.
fn first_indenting_tab(text: &str, from: usize) -> Option<Pos> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent]
                .find('\t')
                .map(|col| Pos::new(to_u32(i + 1), to_u32(col + 1)))
        })
}

fn pos_of(span: &Span) -> Pos {
    Pos::new(to_u32(span.start.line()), to_u32(span.start.col() + 1))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn syntax_error(e: &ScanError) -> Diagnostic {
    let m = e.marker();
    Diagnostic::error(Code::Syntax, format!("invalid YAML: {}", e.info()))
        .at(Pos::new(to_u32(m.line()), to_u32(m.col() + 1)))
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    tags: TagMode,
    diags: Vec<Diagnostic>,
    path: Vec<String>,
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 512;

type Ev<'a> = (Event<'a>, Span);

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Ev<'a>, ScanError> {
        match self.parser.next_event() {
            Some(r) => r,
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn path(&self) -> String {
        self.path.join(".")
    }

    fn document(&mut self) -> Result<Option<Node>, ScanError> {
        let mut root = None;
        let mut docs = 0;
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart(_) => {
                    docs += 1;
                    let (ev, span) = self.next()?;
                    let node = self.node(ev, span)?;
                    if docs == 1 {
                        root = Some(node);
                    } else {
                        self.diags.push(
                            Diagnostic::error(
                                Code::MultipleDocuments,
                                "the file holds more than one YAML document; only one is allowed",
                            )
                            .at(node.pos),
                        );
                    }
                }
                Event::StreamEnd => break,
                Event::Alias(_)
                | Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::SequenceEnd
                | Event::MappingStart(..)
                | Event::MappingEnd => {
                    return Err(ScanError::new_str(
                        span.start,
                        "unexpected event outside a document",
                    ));
                }
            }
        }
        match root {
            Some(n) if !n.is_null() => Ok(Some(n)),
            Some(n) => {
                self.diags.push(
                    Diagnostic::error(Code::EmptyDocument, "the document is empty").at(n.pos),
                );
                Ok(None)
            }
            None => {
                self.diags.push(
                    Diagnostic::error(Code::EmptyDocument, "the file is empty").at(Pos::new(1, 1)),
                );
                Ok(None)
            }
        }
    }

    fn node(&mut self, ev: Event<'a>, span: Span) -> Result<Node, ScanError> {
        let pos = pos_of(&span);
        if self.path.len() > MAX_DEPTH {
            return Err(ScanError::new_str(
                span.start,
                "nesting deeper than 512 levels",
            ));
        }
        match ev {
            Event::Scalar(value, style, _anchor, tag) => Ok(self.scalar(&value, style, tag, pos)),
            Event::SequenceStart(_anchor, tag) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    self.path.push(items.len().to_string());
                    let item = self.node(ev, span);
                    self.path.pop();
                    items.push(item?);
                }
                Ok(self.tagged_collection(tag, Node::seq(pos, items)))
            }
            Event::MappingStart(_anchor, tag) => {
                let map = self.mapping()?;
                Ok(self.tagged_collection(tag, Node::map(pos, map)))
            }
            Event::Alias(_) => {
                self.diags.push(
                    Diagnostic::error(
                        Code::YamlAlias,
                        "YAML aliases (*name) are not supported by CloudFormation; repeat the value instead",
                    )
                    .at(pos)
                    .path(self.path()),
                );
                Ok(Node::null(pos))
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing
            | Event::SequenceEnd
            | Event::MappingEnd => Err(ScanError::new_str(span.start, "unexpected YAML event")),
        }
    }

    fn mapping(&mut self) -> Result<Map, ScanError> {
        let mut map = Map::new();
        loop {
            let (ev, span) = self.next()?;
            let key_pos = pos_of(&span);
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(value, _, _, tag) => {
                    if let Some(tag) = tag
                        && !(tag.handle == CORE_TAG_HANDLE && tag.suffix == "str")
                    {
                        self.diags.push(
                            Diagnostic::error(
                                Code::ComplexKey,
                                format!(
                                    "a mapping key cannot carry the tag {}{}",
                                    tag.handle, tag.suffix
                                ),
                            )
                            .at(key_pos)
                            .path(self.path()),
                        );
                    }
                    value.into_owned()
                }
                other => {
                    // A sequence, mapping or alias as a key: consume it, report it, and carry
                    // on with a placeholder so the rest of the document is still checked.
                    let _ = self.node(other, span)?;
                    self.diags.push(
                        Diagnostic::error(Code::ComplexKey, "mapping keys must be plain strings")
                            .at(key_pos)
                            .path(self.path()),
                    );
                    format!("<complex key at {key_pos}>")
                }
            };
            if key == "<<" {
                self.diags.push(
                    Diagnostic::error(
                        Code::YamlAlias,
                        "YAML merge keys (<<) are not supported by CloudFormation",
                    )
                    .at(key_pos)
                    .path(self.path()),
                );
            }
            let (ev, span) = self.next()?;
            self.path.push(key.clone());
            let value = self.node(ev, span);
            self.path.pop();
            let value = value?;
            if let Some(first) = map.key_pos(&key) {
                let path = if self.path.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.path())
                };
                self.diags.push(
                    Diagnostic::error(Code::DuplicateKey, format!("duplicate key '{key}'"))
                        .at(key_pos)
                        .path(path)
                        .related(format!("'{key}' is first written here"), Some(first)),
                );
                continue;
            }
            map.insert(key, key_pos, value);
        }
        Ok(map)
    }

    fn scalar(
        &mut self,
        value: &str,
        style: ScalarStyle,
        tag: Option<Cow<'_, Tag>>,
        pos: Pos,
    ) -> Node {
        let Some(tag) = tag else {
            let kind = if style == ScalarStyle::Plain {
                plain_scalar(value)
            } else {
                Kind::String(value.to_owned())
            };
            return Node::new(pos, kind);
        };
        if tag.handle == CORE_TAG_HANDLE {
            let kind = match tag.suffix.as_str() {
                "str" => Some(Kind::String(value.to_owned())),
                "null" => Some(Kind::Null),
                "bool" => match plain_scalar(value) {
                    k @ Kind::Bool(_) => Some(k),
                    _ => None,
                },
                "int" | "float" => match plain_scalar(value) {
                    k @ Kind::Number(_) => Some(k),
                    _ => None,
                },
                _ => None,
            };
            return match kind {
                Some(kind) => Node::new(pos, kind),
                None => {
                    self.unknown_tag(&tag, pos);
                    Node::string(pos, value)
                }
            };
        }
        let arg = Node::string(pos, value);
        self.short_form(&tag, arg, pos)
    }

    fn tagged_collection(&mut self, tag: Option<Cow<'_, Tag>>, node: Node) -> Node {
        let Some(tag) = tag else { return node };
        if tag.handle == CORE_TAG_HANDLE {
            let fits = matches!(
                (tag.suffix.as_str(), &node.kind),
                ("seq", Kind::Seq(_)) | ("map", Kind::Map(_))
            );
            if !fits {
                self.unknown_tag(&tag, node.pos);
            }
            return node;
        }
        let pos = node.pos;
        self.short_form(&tag, node, pos)
    }

    fn short_form(&mut self, tag: &Tag, arg: Node, pos: Pos) -> Node {
        let long = (self.tags == TagMode::CloudFormation && tag.handle == "!")
            .then(|| SHORT_FORMS.iter().find(|(s, _)| *s == tag.suffix))
            .flatten();
        let Some(&(short, long)) = long else {
            self.unknown_tag(tag, pos);
            return arg;
        };
        match (short, &arg.kind) {
            ("Ref" | "Condition", Kind::String(_)) => Node::call(pos, long, arg),
            // A wrong shape (`!Ref [a]`, `!GetAtt NoDot`) is kept as written: the evaluator
            // reports it once, with the property path.
            ("GetAtt", Kind::String(s)) => match s.split_once('.') {
                // `!GetAtt A.B.C` splits at the first dot: resource `A`, attribute `B.C`.
                Some((res, attr)) => Node::call(
                    pos,
                    long,
                    Node::seq(pos, vec![Node::string(pos, res), Node::string(pos, attr)]),
                ),
                None => Node::call(pos, long, arg),
            },
            _ => Node::call(pos, long, arg),
        }
    }

    fn unknown_tag(&mut self, tag: &Tag, pos: Pos) {
        let shown = if tag.handle == CORE_TAG_HANDLE {
            format!("!!{}", tag.suffix)
        } else {
            format!("{}{}", tag.handle, tag.suffix)
        };
        let mut d = if tag.handle == CORE_TAG_HANDLE {
            Diagnostic::error(
                Code::UnknownTag,
                format!("the YAML tag {shown} is not supported here"),
            )
        } else if self.tags == TagMode::Plain {
            Diagnostic::error(
                Code::UnknownTag,
                format!(
                    "the tag {shown} is not allowed in this file; intrinsic functions belong in templates"
                ),
            )
        } else {
            Diagnostic::error(Code::UnknownTag, format!("unknown tag {shown}"))
        };
        if self.tags == TagMode::CloudFormation
            && let Some(s) = did_you_mean(&tag.suffix, SHORT_FORMS.iter().map(|(s, _)| *s))
        {
            d = d.help(format!("did you mean !{s}?"));
        }
        self.diags.push(d.at(pos).path(self.path()));
    }
}

/// Types an unquoted scalar with YAML 1.1 rules (the ones CloudFormation and PyYAML apply).
fn plain_scalar(v: &str) -> Kind {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Kind::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Kind::Bool(false);
        }
        _ => {}
    }
    match yaml11_number(v) {
        Some(n) => Kind::Number(n),
        None => Kind::String(v.to_owned()),
    }
}

/// YAML 1.1 integers (decimal, `0b`, octal `0…`, `0x`, base 60 `1:30`) and floats (a `.` is
/// required: `1e3` is a string in YAML 1.1), underscores allowed as separators.
fn yaml11_number(v: &str) -> Option<Number> {
    let (neg, body) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let sign = if neg { "-" } else { "" };
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    let int = |digits: &str, radix: u32| -> Option<Number> {
        let n = i128::from_str_radix(digits, radix).ok()?;
        Some(Number(format!("{sign}{n}")))
    };
    if let Some(d) = clean.strip_prefix("0b") {
        return int(d, 2);
    }
    if let Some(d) = clean.strip_prefix("0x") {
        return int(d, 16);
    }
    if clean.contains(':') {
        // Base 60: every part after the first is 0..59.
        let mut parts = clean.split(':');
        let first = parts.next()?;
        if first.is_empty() || first.starts_with('0') || !first.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut total: f64 = first.parse().ok()?;
        let rest: Vec<&str> = parts.collect();
        for (i, p) in rest.iter().enumerate() {
            let last = i + 1 == rest.len();
            let (whole, frac) = if last {
                p.split_once('.').map_or((*p, None), |(a, b)| (a, Some(b)))
            } else {
                (*p, None)
            };
            if whole.is_empty() || whole.len() > 2 || !whole.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: f64 = whole.parse().ok()?;
            if n >= 60.0 {
                return None;
            }
            total = total * 60.0 + n;
            if let Some(frac) = frac {
                if !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let f: f64 = format!("0.{}", if frac.is_empty() { "0" } else { frac })
                    .parse()
                    .ok()?;
                let n = if neg { -(total + f) } else { total + f };
                return Some(Number::from_f64(n));
            }
        }
        return Some(Number(format!("{sign}{total}")));
    }
    if clean.bytes().all(|b| b.is_ascii_digit()) {
        if clean.len() > 1 && clean.starts_with('0') {
            // `0755` is octal in YAML 1.1; a leading zero with 8 or 9 in it is just text.
            return int(&clean[1..], 8);
        }
        return int(&clean, 10);
    }
    // Floats need a dot; the exponent needs a sign in YAML 1.1, but PyYAML (and so SAM)
    // accepts what Python's float() does once the dot is there.
    let (mantissa, exp) = match clean.find(['e', 'E']) {
        Some(i) => (&clean[..i], Some(&clean[i + 1..])),
        None => (clean.as_str(), None),
    };
    let (whole, frac) = mantissa.split_once('.')?;
    if !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (whole.is_empty() && frac.is_empty())
    {
        return None;
    }
    if let Some(exp) = exp {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let f: f64 = format!("{sign}{clean}").parse().ok()?;
    f.is_finite().then(|| Number::from_f64(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> Node {
        let p = parse_yaml(src, TagMode::CloudFormation);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p.root.unwrap()
    }

    fn codes(src: &str) -> Vec<(Code, u32, u32)> {
        parse_yaml(src, TagMode::CloudFormation)
            .diagnostics
            .iter()
            .map(|d| (d.code, d.line.unwrap_or(0), d.col.unwrap_or(0)))
            .collect()
    }

    #[test]
    fn yaml11_scalars() {
        let n = parse_ok(
            "a: yes\nb: off\nc: 0755\nd: 012345678912\ne: 1_000\nf: 1:30\ng: 0.20\nh: 1e3\ni: ~\nj: 0x1F\nk: '30'\nl: 3.0\n",
        );
        let j = n.to_json();
        assert_eq!(j["a"], true);
        assert_eq!(j["b"], false);
        assert_eq!(j["c"], 493);
        assert_eq!(j["d"], "012345678912");
        assert_eq!(j["e"], 1000);
        assert_eq!(j["f"], 90);
        assert_eq!(j["g"], 0.2);
        assert_eq!(j["h"], "1e3");
        assert_eq!(j["i"], serde_json::Value::Null);
        assert_eq!(j["j"], 31);
        assert_eq!(j["k"], "30");
        assert_eq!(j["l"], 3.0);
        let g = n.as_map().unwrap().get("g").unwrap();
        assert_eq!(g.scalar_text().unwrap(), "0.2");
        let l = n.as_map().unwrap().get("l").unwrap();
        assert_eq!(l.scalar_text().unwrap(), "3.0");
    }

    #[test]
    fn short_forms_become_long_forms_at_the_tag() {
        let n = parse_ok(
            "A: !Ref X\nB: !GetAtt Fn.Arn\nC: !GetAtt Db.Endpoint.Address\nD: !Sub\n  - '${a}'\n  - a: 1\nE: !GetAZs ''\n",
        );
        let j = n.to_json();
        assert_eq!(j["A"], serde_json::json!({"Ref": "X"}));
        assert_eq!(j["B"], serde_json::json!({"Fn::GetAtt": ["Fn", "Arn"]}));
        assert_eq!(
            j["C"],
            serde_json::json!({"Fn::GetAtt": ["Db", "Endpoint.Address"]})
        );
        assert_eq!(j["D"], serde_json::json!({"Fn::Sub": ["${a}", {"a": 1}]}));
        assert_eq!(j["E"], serde_json::json!({"Fn::GetAZs": ""}));
        let a = n.as_map().unwrap().get("A").unwrap();
        assert_eq!(a.pos, Pos::new(1, 4));
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(
            codes("a: 1\nb: 2\na: 3\n"),
            vec![(Code::DuplicateKey, 3, 1)]
        );
        assert_eq!(codes("a: &x 1\nb: *x\n"), vec![(Code::YamlAlias, 2, 4)]);
        assert_eq!(codes("a:\n  <<: {b: 1}\n"), vec![(Code::YamlAlias, 2, 3)]);
        assert_eq!(codes("a: !Reff x\n"), vec![(Code::UnknownTag, 1, 4)]);
        assert_eq!(codes("a: !!binary aGk=\n"), vec![(Code::UnknownTag, 1, 4)]);
        assert_eq!(codes(""), vec![(Code::EmptyDocument, 1, 1)]);
        assert_eq!(
            codes("a: 1\n---\nb: 2\n"),
            vec![(Code::MultipleDocuments, 3, 1)]
        );
        let tab = codes("a:\n\tb: 1\n");
        assert_eq!(tab.len(), 1);
        assert_eq!(tab[0].0, Code::Syntax);
        assert_eq!(tab[0].1, 2);
    }

    #[test]
    fn plain_mode_refuses_intrinsic_tags() {
        let p = parse_yaml("a: !Ref x\n", TagMode::Plain);
        assert_eq!(p.diagnostics[0].code, Code::UnknownTag);
    }

    #[test]
    fn unknown_tag_suggests() {
        let p = parse_yaml("a: !GetAt x.y\n", TagMode::CloudFormation);
        assert_eq!(
            p.diagnostics[0].help.as_deref(),
            Some("did you mean !GetAtt?")
        );
    }
}
