//! Diagnostics: every problem Slipway finds in a user's document, reported all at once.
//!
//! A [`Diagnostic`] carries a stable [`Code`], a severity, a message written for the user, the
//! file, the `line:col` of the offending node and the property path that leads to it
//! (`Resources.Hello.Properties.Handler`). Parsers and resolvers push into a [`Diagnostics`]
//! list and keep going, so one run shows every problem; only a syntax error stops a parse,
//! because nothing after it can be trusted.
//!
//! Rendering lives here too: [`render_human`] prints rustc-style snippets (the source line and a
//! caret), and the type serialises as the JSON of `--output json`.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::Serialize;

/// A position in a source file: 1-based line and 1-based column, counted in characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const fn new(line: u32, col: u32) -> Self {
        Self { line, col }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal : $summary:literal, )*) => {
        /// The stable code of every diagnostic Slipway can emit. Codes never change meaning;
        /// retired codes are not reused. `slipway validate --explain CODE` prints the summary.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $( $(#[$doc])* $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            pub const fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            pub const fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }

            pub fn parse(s: &str) -> Option<Code> {
                match s { $( $code => Some(Code::$variant), )* _ => None }
            }
        }
    };
}

codes! {
    // Syntax of YAML and JSON documents.
    Syntax = "S001": "the document is not valid YAML or JSON",
    DuplicateKey = "S002": "a mapping has the same key twice",
    YamlAlias = "S003": "YAML anchors, aliases and merge keys are not supported by CloudFormation",
    UnknownTag = "S004": "a YAML tag that is neither a CloudFormation short form nor a supported core tag",
    MultipleDocuments = "S005": "the file holds more than one YAML document",
    EmptyDocument = "S006": "the file is empty",
    ComplexKey = "S007": "a mapping key that is not a plain string",
    TagShape = "S008": "a short-form tag applied to the wrong kind of node",
    Encoding = "S009": "the file is not valid UTF-8",
    Jinja = "S010": "a Jinja template failed to render",

    // Template structure.
    UnknownSection = "T001": "an unknown top-level section",
    WrongType = "T002": "a value of the wrong type",
    MissingRequired = "T003": "a required property or section is missing",
    UnknownProperty = "T004": "a property the resource type or section does not have",
    UnsupportedResourceType = "T005": "a resource type Slipway cannot run locally",
    InvalidLogicalId = "T006": "a logical ID that is not alphanumeric",
    UnsupportedTransform = "T007": "a transform other than AWS::Serverless-2016-10-31",
    InvalidValue = "T008": "a value outside what the property accepts",
    LimitExceeded = "T009": "a CloudFormation limit is exceeded",
    NotSupported = "T010": "a feature Slipway does not support (yet)",

    // Parameters.
    ParameterConstraint = "P001": "a parameter value violates a constraint",
    ParameterMissing = "P002": "a parameter has neither a value nor a default",
    ParameterUnknown = "P003": "an override names a parameter the template does not declare",
    ParameterType = "P004": "a parameter type is unknown or its value does not fit it",
    SsmParameterMissing = "P005": "an SSM parameter is not in the local parameter store",

    // Intrinsic functions, conditions, mappings.
    IntrinsicShape = "I001": "an intrinsic function has the wrong arguments",
    UnresolvedReference = "I002": "a Ref, GetAtt or Sub names something that does not exist",
    UnknownAttribute = "I003": "GetAtt asks a resource type for an attribute it does not have",
    UnknownCondition = "I004": "a condition name that is not declared",
    MappingLookup = "I005": "FindInMap names a map, key or value that does not exist",
    IndexOutOfRange = "I006": "Fn::Select index out of range",
    ImportUnresolved = "I007": "Fn::ImportValue names an export that no stack in the target provides",
    IntrinsicNotAllowed = "I008": "an intrinsic function used where CloudFormation does not allow it",
    DynamicReference = "I009": "a {{resolve:...}} dynamic reference that cannot be resolved",
    UnknownFunction = "I010": "a key starting with Fn:: that is not an intrinsic function",

    // Dependencies.
    Cycle = "G001": "resources depend on each other in a cycle",
    DependsOnUnknown = "G002": "DependsOn names a resource that does not exist",

    // SAM transform.
    SamInvalid = "M001": "a SAM resource is invalid",
    SamEventInvalid = "M002": "a SAM event source is invalid",
    SamUnsupported = "M003": "a SAM feature Slipway does not support (yet)",
    GlobalsInvalid = "M004": "the Globals section is invalid",

    // Outputs.
    OutputInvalid = "O001": "an output is invalid",

    // Settings and configuration files.
    ConfigInvalid = "C001": "a configuration file (samconfig.toml, env vars, parameter store) is invalid",

    // Buildspec.
    BuildspecInvalid = "B001": "a buildspec is invalid",
    BuildspecUnsupported = "B002": "a buildspec field Slipway does not support (yet)",

    // Pipelines.
    PipelineInvalid = "L001": "a pipeline definition is invalid",
    PipelineUnsupported = "L002": "a pipeline provider or setting Slipway does not support (yet)",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A secondary location that helps explain a diagnostic (the first of two duplicate keys, the
/// resources of a cycle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Related {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos: Option<Pos>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
    /// Property path from the document root, dot-separated (`Resources.Hello.Properties.Handler`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            message: message.into(),
            file: None,
            line: None,
            col: None,
            path: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    #[must_use]
    pub fn at(mut self, pos: Pos) -> Self {
        if pos.line > 0 {
            self.line = Some(pos.line);
            self.col = Some(pos.col);
        }
        self
    }

    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    #[must_use]
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn related(mut self, message: impl Into<String>, pos: Option<Pos>) -> Self {
        self.related.push(Related {
            message: message.into(),
            pos,
        });
        self
    }

    pub fn pos(&self) -> Option<Pos> {
        Some(Pos::new(self.line?, self.col?))
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: error[CODE]: message (at path)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(pos) = self.pos() {
                write!(f, ":{pos}")?;
            }
            f.write_str(": ")?;
        } else if let Some(pos) = self.pos() {
            write!(f, "{pos}: ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if !self.path.is_empty() {
            write!(f, " (at {})", self.path)?;
        }
        Ok(())
    }
}

/// An ordered collection of diagnostics with the file name stamped on as they are pushed.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    file: Option<String>,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn for_file(file: impl Into<String>) -> Self {
        Self {
            file: Some(file.into()),
            items: Vec::new(),
        }
    }

    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    pub fn push(&mut self, mut d: Diagnostic) {
        if d.file.is_none() {
            d.file.clone_from(&self.file);
        }
        // One problem is reported once, even when two passes find it.
        if !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        for d in ds {
            self.push(d);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sorted by file, then position, then code: the order users read them in.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (&a.file, a.line, a.col, a.code, &a.path, &a.message)
                .cmp(&(&b.file, b.line, b.col, b.code, &b.path, &b.message))
        });
        self.items
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The text of every file a run read, so that human output can show the offending line.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: BTreeMap<String, String>,
}

impl Sources {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.files.insert(name.into(), text.into());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }
}

/// Renders diagnostics as rustc does: a headline, the location, the source line with a caret,
/// then the property path and any help.
pub fn render_human(diags: &[Diagnostic], sources: &Sources) -> String {
    let mut out = String::new();
    for d in diags {
        let _ = writeln!(out, "{}[{}]: {}", d.severity, d.code, d.message);
        let loc = match (&d.file, d.pos()) {
            (Some(f), Some(p)) => Some(format!("{f}:{p}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(p)) => Some(p.to_string()),
            (None, None) => None,
        };
        if let Some(loc) = loc {
            let _ = writeln!(out, "  --> {loc}");
        }
        if let (Some(file), Some(pos)) = (&d.file, d.pos())
            && let Some(line) = sources
                .get(file)
                .and_then(|t| t.lines().nth(pos.line as usize - 1))
        {
            let num = pos.line.to_string();
            let pad = " ".repeat(num.len());
            let line = line.replace('\t', " ");
            let caret_at = (pos.col as usize)
                .saturating_sub(1)
                .min(line.chars().count());
            let _ = writeln!(out, " {pad} |");
            let _ = writeln!(out, " {num} | {line}");
            let _ = writeln!(out, " {pad} | {}^", " ".repeat(caret_at));
        }
        if !d.path.is_empty() {
            let _ = writeln!(out, "   = at {}", d.path);
        }
        for r in &d.related {
            match r.pos {
                Some(p) => {
                    let _ = writeln!(out, "   = note: {} (line {})", r.message, p.line);
                }
                None => {
                    let _ = writeln!(out, "   = note: {}", r.message);
                }
            }
        }
        if let Some(h) = &d.help {
            let _ = writeln!(out, "   = help: {h}");
        }
        out.push('\n');
    }
    out
}

/// "Did you mean" for a misspelt name: the closest candidate if it is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    did_you_mean_within(name, candidates, 0.85)
}

/// [`did_you_mean`] with a chosen similarity threshold (Jaro-Winkler, 0..1): names that share
/// a long prefix, such as resource types (`AWS::…`), need a stricter one.
pub fn did_you_mean_within<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    threshold: f64,
) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > threshold)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn human_rendering_shows_line_and_caret() {
        let mut sources = Sources::new();
        sources.add("t.yaml", "Resources:\n  Fn:\n    Typo: 1\n");
        let d = Diagnostic::error(Code::UnknownProperty, "unknown property 'Typo'")
            .file("t.yaml")
            .at(Pos::new(3, 5))
            .path("Resources.Fn.Typo")
            .help("did you mean 'Type'?");
        let text = render_human(&[d], &sources);
        assert_eq!(
            text,
            "error[T004]: unknown property 'Typo'\n  --> t.yaml:3:5\n   |\n 3 |     Typo: 1\n   |     ^\n   = at Resources.Fn.Typo\n   = help: did you mean 'Type'?\n\n"
        );
    }

    #[test]
    fn did_you_mean_finds_close_names() {
        assert_eq!(
            did_you_mean("Handlr", ["Handler", "Runtime"]),
            Some("Handler")
        );
        assert_eq!(did_you_mean("zzz", ["Handler", "Runtime"]), None);
    }
}
