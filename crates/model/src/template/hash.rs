//! Hashes that must match other tools bit for bit.
//!
//! SAM names generated resources after a hash of their content (`HelloVersion3f9a1c2b4d`,
//! `ServerlessRestApiDeployment5e2c…`): the first 10 hex digits of the SHA-1 of the data
//! serialised by Python's `json.dumps(data, separators=(",", ":"), sort_keys=True)` — with
//! `ensure_ascii` on, so non-ASCII text is written as `\uXXXX`, and floats written the way
//! Python's `repr` writes them (source: aws-sam-translator `translator/logical_id_generator.py`).
//! Getting this exactly right is what makes `!Ref Fn.Version` resolve to the same logical ID
//! that `sam deploy` would create.

use sha1::Digest as _;

use crate::syntax::{Kind, Node};

pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(data))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// SAM's `LogicalIdGenerator(prefix, data).gen()`: prefix + 10 hex digits of SHA-1 of the data
/// (a string is hashed as is, anything else as compact sorted JSON); no data → just the prefix.
pub fn sam_logical_id(prefix: &str, data: Option<&Node>) -> String {
    format!("{prefix}{}", sam_hash(data, 10))
}

pub fn sam_hash(data: Option<&Node>, len: usize) -> String {
    let Some(data) = data else {
        return String::new();
    };
    let text = match &data.kind {
        Kind::String(s) => s.clone(),
        Kind::Null => return String::new(),
        Kind::Map(m) if m.is_empty() => return String::new(),
        Kind::Seq(s) if s.is_empty() => return String::new(),
        Kind::Bool(false) => return String::new(),
        Kind::Bool(true) | Kind::Number(_) | Kind::Seq(_) | Kind::Map(_) => python_json(data),
    };
    let h = sha1_hex(text.as_bytes());
    h[..len.min(h.len())].to_owned()
}

/// `json.dumps(v, separators=(",", ":"), sort_keys=True)` as CPython writes it.
pub fn python_json(n: &Node) -> String {
    let mut out = String::new();
    write_py(n, &mut out);
    out
}

fn write_py(n: &Node, out: &mut String) {
    match &n.kind {
        Kind::Null => out.push_str("null"),
        Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Kind::Number(num) => {
            if let Some(i) = num.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(f) = num.as_f64() {
                out.push_str(&python_float(f));
            } else {
                out.push_str(num.as_str());
            }
        }
        Kind::String(s) => write_py_str(s, out),
        Kind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_py(item, out);
            }
            out.push(']');
        }
        Kind::Map(m) => {
            let mut keys: Vec<&str> = m.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_py_str(k, out);
                out.push(':');
                if let Some(v) = m.get(k) {
                    write_py(v, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_py_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that read back the same, positional between
/// 1e-4 and 1e16, scientific (`1e+16`, `1.5e-05`) outside.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{f:e}"); // e.g. "1.5e-5", "-1e16"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{TagMode, parse_yaml};

    #[test]
    fn python_float_repr() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.5e-5, "1.5e-05"),
            (1e16, "1e+16"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(python_float(f), s, "{f}");
        }
    }

    #[test]
    fn python_json_matches_cpython() {
        // json.dumps({"b": [1, 2.5, True, None], "a": "é\n"}, separators=(",", ":"), sort_keys=True)
        let n = parse_yaml("b: [1, 2.5, true, null]\na: \"é\\n\"\n", TagMode::Plain)
            .root
            .unwrap();
        assert_eq!(python_json(&n), r#"{"a":"\u00e9\n","b":[1,2.5,true,null]}"#);
    }

    #[test]
    fn sam_logical_id_matches_translator() {
        // aws-sam-translator 1.110 names the version of a function with
        // CodeUri s3://bucket/key.zip "HelloWorldFunctionVersion32edd06e5c".
        let code = parse_yaml("S3Bucket: bucket\nS3Key: key.zip\n", TagMode::Plain)
            .root
            .unwrap();
        assert_eq!(
            sam_logical_id("HelloWorldFunctionVersion", Some(&code)),
            "HelloWorldFunctionVersion32edd06e5c"
        );
    }
}
