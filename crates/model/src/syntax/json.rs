//! JSON reader with positions (RFC 8259). serde_json forgets where values were written, and
//! keeps the last of two duplicate keys without a word; templates need both facts.

use super::yaml::Parsed;
use super::{Kind, Map, Node, Number};
use crate::diag::{Code, Diagnostic, Pos};

/// Parses a JSON document. Duplicate keys are reported (all of them) and the first value kept;
/// a syntax error ends the parse.
pub fn parse_json(text: &str) -> Parsed {
    let mut p = JsonParser {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        diags: Vec::new(),
        path: Vec::new(),
        depth: 0,
    };
    let root = match p.document() {
        Ok(n) => Some(n),
        Err((pos, msg)) => {
            p.diags
                .push(Diagnostic::error(Code::Syntax, format!("invalid JSON: {msg}")).at(pos));
            None
        }
    };
    Parsed {
        root,
        diagnostics: p.diags,
    }
}

type PResult<T> = Result<T, (Pos, String)>;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 512;

struct JsonParser {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    diags: Vec<Diagnostic>,
    path: Vec<String>,
    depth: usize,
}

impl JsonParser {
    fn pos(&self) -> Pos {
        Pos::new(self.line, self.col)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn fail<T>(&self, msg: impl Into<String>) -> PResult<T> {
        Err((self.pos(), msg.into()))
    }

    fn expect(&mut self, c: char) -> PResult<()> {
        match self.peek() {
            Some(x) if x == c => {
                self.bump();
                Ok(())
            }
            Some(x) => self.fail(format!("expected '{c}', found '{x}'")),
            None => self.fail(format!("expected '{c}', found the end of the file")),
        }
    }

    fn document(&mut self) -> PResult<Node> {
        if self.peek() == Some('\u{feff}') {
            self.bump();
        }
        self.ws();
        if self.peek().is_none() {
            return self.fail("the file is empty");
        }
        let v = self.value()?;
        self.ws();
        match self.peek() {
            None => Ok(v),
            Some(c) => self.fail(format!("unexpected '{c}' after the end of the document")),
        }
    }

    fn value(&mut self) -> PResult<Node> {
        let pos = self.pos();
        match self.peek() {
            Some('{') => self.nested(Self::object),
            Some('[') => self.nested(Self::array),
            Some('"') => Ok(Node::string(pos, self.string()?)),
            Some('t') => self.word("true", Node::bool(pos, true)),
            Some('f') => self.word("false", Node::bool(pos, false)),
            Some('n') => self.word("null", Node::null(pos)),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) => self.fail(format!("unexpected '{c}', expected a value")),
            None => self.fail("unexpected end of the file, expected a value"),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> PResult<Node>) -> PResult<Node> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn word(&mut self, w: &str, node: Node) -> PResult<Node> {
        for expected in w.chars() {
            if self.peek() != Some(expected) {
                return self.fail(format!("invalid literal, expected '{w}'"));
            }
            self.bump();
        }
        Ok(node)
    }

    fn object(&mut self) -> PResult<Node> {
        let pos = self.pos();
        self.expect('{')?;
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Node::map(pos, map));
        }
        loop {
            self.ws();
            let key_pos = self.pos();
            if self.peek() != Some('"') {
                return self.fail("expected a quoted key");
            }
            let key = self.string()?;
            self.ws();
            self.expect(':')?;
            self.ws();
            self.path.push(key.clone());
            let v = self.value();
            self.path.pop();
            let v = v?;
            if let Some(first) = map.key_pos(&key) {
                let mut path = self.path.join(".");
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                self.diags.push(
                    Diagnostic::error(Code::DuplicateKey, format!("duplicate key '{key}'"))
                        .at(key_pos)
                        .path(path)
                        .related(format!("'{key}' is first written here"), Some(first)),
                );
            } else {
                map.insert(key, key_pos, v);
            }
            self.ws();
            match self.bump() {
                Some(',') => continue,
                Some('}') => break,
                Some(c) => {
                    return Err((
                        self.prev_pos(),
                        format!("expected ',' or '}}', found '{c}'"),
                    ));
                }
                None => return self.fail("unexpected end of the file inside an object"),
            }
        }
        Ok(Node::map(pos, map))
    }

    fn prev_pos(&self) -> Pos {
        Pos::new(self.line, self.col.saturating_sub(1).max(1))
    }

    fn array(&mut self) -> PResult<Node> {
        let pos = self.pos();
        self.expect('[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(Node::seq(pos, items));
        }
        loop {
            self.ws();
            self.path.push(items.len().to_string());
            let v = self.value();
            self.path.pop();
            items.push(v?);
            self.ws();
            match self.bump() {
                Some(',') => continue,
                Some(']') => break,
                Some(c) => {
                    return Err((self.prev_pos(), format!("expected ',' or ']', found '{c}'")));
                }
                None => return self.fail("unexpected end of the file inside an array"),
            }
        }
        Ok(Node::seq(pos, items))
    }

    fn string(&mut self) -> PResult<String> {
        self.expect('"')?;
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return self.fail("unterminated string"),
                Some('"') => return Ok(s),
                Some('\\') => match self.bump() {
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('/') => s.push('/'),
                    Some('b') => s.push('\u{8}'),
                    Some('f') => s.push('\u{c}'),
                    Some('n') => s.push('\n'),
                    Some('r') => s.push('\r'),
                    Some('t') => s.push('\t'),
                    Some('u') => {
                        let hi = self.hex4()?;
                        let c = if (0xD800..0xDC00).contains(&hi) {
                            if self.bump() != Some('\\') || self.bump() != Some('u') {
                                return self.fail("unpaired surrogate in \\u escape");
                            }
                            let lo = self.hex4()?;
                            if !(0xDC00..0xE000).contains(&lo) {
                                return self.fail("invalid low surrogate in \\u escape");
                            }
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        } else {
                            char::from_u32(hi)
                        };
                        match c {
                            Some(c) => s.push(c),
                            None => return self.fail("invalid \\u escape"),
                        }
                    }
                    Some(c) => return self.fail(format!("invalid escape '\\{c}'")),
                    None => return self.fail("unterminated string"),
                },
                Some(c) if (c as u32) < 0x20 => {
                    return Err((
                        self.prev_pos(),
                        "control character in string; escape it".into(),
                    ));
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn hex4(&mut self) -> PResult<u32> {
        let mut n = 0;
        for _ in 0..4 {
            match self.bump().and_then(|c| c.to_digit(16)) {
                Some(d) => n = n * 16 + d,
                None => return self.fail("invalid \\u escape: expected four hex digits"),
            }
        }
        Ok(n)
    }

    fn number(&mut self) -> PResult<Node> {
        let pos = self.pos();
        let start = self.i;
        if self.peek() == Some('-') {
            self.bump();
        }
        match self.peek() {
            Some('0') => {
                self.bump();
            }
            Some(c) if c.is_ascii_digit() => {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
            _ => return self.fail("invalid number"),
        }
        if self.peek() == Some('.') {
            self.bump();
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return self.fail("invalid number: digits expected after '.'");
            }
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return self.fail("invalid number: digits expected in the exponent");
            }
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        let text: String = self.chars[start..self.i].iter().collect();
        match Number::parse(&text) {
            Some(n) => Ok(Node::new(pos, Kind::Number(n))),
            None => Err((pos, format!("number {text} is out of range"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_positions() {
        let p = parse_json("{\n  \"a\": [1, 2.50, \"x\"],\n  \"b\": {\"c\": null, \"d\": true}\n}");
        let root = p.root.unwrap();
        assert_eq!(
            root.to_json(),
            serde_json::json!({"a": [1, 2.5, "x"], "b": {"c": null, "d": true}})
        );
        let a = root.as_map().unwrap().get("a").unwrap();
        assert_eq!(a.pos, Pos::new(2, 8));
        assert_eq!(a.as_seq().unwrap()[2].pos, Pos::new(2, 18));
    }

    #[test]
    fn duplicate_keys_and_errors() {
        let p = parse_json("{\"a\": 1,\n \"a\": 2}");
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].code, Code::DuplicateKey);
        assert_eq!(p.diagnostics[0].pos(), Some(Pos::new(2, 2)));
        let p = parse_json("{\"a\": 1,}");
        assert_eq!(p.diagnostics[0].code, Code::Syntax);
        assert!(p.root.is_none());
        let p = parse_json("{\"a\": \"\\u00e9\\ud83d\\ude00\"}");
        assert_eq!(p.root.unwrap().to_json()["a"], "é😀");
        assert!(parse_json(&"[".repeat(10_000)).root.is_none());
    }
}
