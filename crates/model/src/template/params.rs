//! Template parameters: declarations, the values they take (defaults, overrides, SSM), and
//! CloudFormation's constraints.
//!
//! Values come, lowest precedence first, from the declared `Default`, a CodePipeline template
//! configuration file (`{"Parameters": {…}}`), then `--parameter-overrides` in SAM syntax. A
//! `Number` is validated as a number but, as CloudFormation does, `Ref` yields it as a string.
//! `AWS::SSM::Parameter::Value<…>` parameters hold the *name* of an SSM parameter; the value is
//! read from the local parameter store. `NoEcho` values are masked (`*****`) in every output.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;

use super::path::Path;
use super::raw::{expect_map, expect_string};
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Kind, Node};

pub const MASK: &str = "*****";

/// The types CloudFormation accepts for `AWS::`-specific parameters (values are checked by
/// CloudFormation against the account; locally they are plain strings).
const AWS_SPECIFIC_TYPES: &[&str] = &[
    "AWS::EC2::AvailabilityZone::Name",
    "AWS::EC2::Image::Id",
    "AWS::EC2::Instance::Id",
    "AWS::EC2::KeyPair::KeyName",
    "AWS::EC2::SecurityGroup::GroupName",
    "AWS::EC2::SecurityGroup::Id",
    "AWS::EC2::Subnet::Id",
    "AWS::EC2::Volume::Id",
    "AWS::EC2::VPC::Id",
    "AWS::Route53::HostedZone::Id",
];

const PARAM_PROPERTIES: &[&str] = &[
    "Type",
    "Default",
    "AllowedValues",
    "AllowedPattern",
    "ConstraintDescription",
    "Description",
    "MaxLength",
    "MinLength",
    "MaxValue",
    "MinValue",
    "NoEcho",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Number,
    ListNumber,
    CommaDelimitedList,
    /// `AWS::EC2::VPC::Id` and friends.
    AwsSpecific(String),
    /// `List<AWS::EC2::Subnet::Id>` and friends.
    AwsSpecificList(String),
    /// `AWS::SSM::Parameter::Name`: the name itself, as a string.
    SsmName,
    /// `AWS::SSM::Parameter::Value<T>`: the value read from the parameter store, typed as `T`.
    SsmValue(Box<ParamType>),
}

impl ParamType {
    pub fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "String" => ParamType::String,
            "Number" => ParamType::Number,
            "List<Number>" => ParamType::ListNumber,
            "CommaDelimitedList" => ParamType::CommaDelimitedList,
            "AWS::SSM::Parameter::Name" => ParamType::SsmName,
            _ => {
                if let Some(inner) = s
                    .strip_prefix("AWS::SSM::Parameter::Value<")
                    .and_then(|r| r.strip_suffix('>'))
                {
                    let inner = match inner {
                        "String" => ParamType::String,
                        "List<String>" | "CommaDelimitedList" => ParamType::CommaDelimitedList,
                        other => match ParamType::parse(other)? {
                            t @ (ParamType::AwsSpecific(_) | ParamType::AwsSpecificList(_)) => t,
                            ParamType::String
                            | ParamType::Number
                            | ParamType::ListNumber
                            | ParamType::CommaDelimitedList
                            | ParamType::SsmName
                            | ParamType::SsmValue(_) => return None,
                        },
                    };
                    return Some(ParamType::SsmValue(Box::new(inner)));
                }
                if let Some(inner) = s.strip_prefix("List<").and_then(|r| r.strip_suffix('>')) {
                    return AWS_SPECIFIC_TYPES
                        .contains(&inner)
                        .then(|| ParamType::AwsSpecificList(inner.to_owned()));
                }
                if AWS_SPECIFIC_TYPES.contains(&s) {
                    return Some(ParamType::AwsSpecific(s.to_owned()));
                }
                return None;
            }
        })
    }

    pub fn is_list(&self) -> bool {
        match self {
            ParamType::ListNumber
            | ParamType::CommaDelimitedList
            | ParamType::AwsSpecificList(_) => true,
            ParamType::SsmValue(inner) => inner.is_list(),
            ParamType::String
            | ParamType::Number
            | ParamType::AwsSpecific(_)
            | ParamType::SsmName => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ParamDecl {
    pub name: String,
    pub pos: Pos,
    pub type_text: String,
    pub type_: ParamType,
    pub default: Option<String>,
    pub default_pos: Option<Pos>,
    pub allowed_values: Vec<String>,
    pub allowed_pattern: Option<(String, Regex)>,
    pub constraint_description: Option<String>,
    pub description: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub no_echo: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamValue {
    String(String),
    List(Vec<String>),
}

impl ParamValue {
    pub fn to_node(&self, pos: Pos) -> Node {
        match self {
            ParamValue::String(s) => Node::string(pos, s.clone()),
            ParamValue::List(items) => Node::seq(
                pos,
                items.iter().map(|s| Node::string(pos, s.clone())).collect(),
            ),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::String(s) => serde_json::Value::String(s.clone()),
            ParamValue::List(items) => items.iter().cloned().collect(),
        }
    }
}

/// Where a parameter's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ValueSource {
    Default,
    TemplateConfiguration,
    Override,
    /// `UsePreviousValue`: the value the stack had before (deploy engine).
    Previous,
}

#[derive(Clone, Debug)]
pub struct ResolvedParam {
    pub decl: ParamDecl,
    pub value: ParamValue,
    /// The raw value given (for SSM types: the parameter name).
    pub given: String,
    pub source: ValueSource,
}

/// A value supplied for a parameter from outside the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GivenValue {
    pub value: String,
    pub source: ValueSource,
}

/// Local SSM parameter store: what `AWS::SSM::Parameter::Value<…>` parameters and
/// `{{resolve:ssm:…}}` references read.
pub trait ParameterStore {
    /// The value of `name` at `version` (latest when `None`).
    fn get(&self, name: &str, version: Option<u64>) -> Option<SsmParameter>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsmParameter {
    pub value: String,
    pub kind: SsmKind,
    pub version: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum SsmKind {
    String,
    StringList,
    SecureString,
}

/// A parameter store read from JSON:
/// `{"/app/url": "https://…", "/app/key": {"Value": "…", "Type": "SecureString", "Version": 3,
/// "History": {"1": "…", "2": "…"}}}`.
#[derive(Clone, Debug, Default)]
pub struct JsonParameterStore {
    params: BTreeMap<String, BTreeMap<u64, (String, SsmKind)>>,
}

impl JsonParameterStore {
    pub fn parse(text: &str) -> Result<JsonParameterStore, String> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Plain(String),
            Full {
                #[serde(rename = "Value")]
                value: String,
                #[serde(rename = "Type", default = "default_kind")]
                kind: SsmKind,
                #[serde(rename = "Version", default = "one")]
                version: u64,
                #[serde(rename = "History", default)]
                history: BTreeMap<String, String>,
            },
        }
        fn default_kind() -> SsmKind {
            SsmKind::String
        }
        fn one() -> u64 {
            1
        }
        let raw: BTreeMap<String, Entry> =
            serde_json::from_str(text).map_err(|e| format!("invalid parameter store JSON: {e}"))?;
        let mut params = BTreeMap::new();
        for (name, entry) in raw {
            let mut versions = BTreeMap::new();
            match entry {
                Entry::Plain(v) => {
                    versions.insert(1, (v, SsmKind::String));
                }
                Entry::Full {
                    value,
                    kind,
                    version,
                    history,
                } => {
                    for (v, old) in history {
                        let n: u64 = v.parse().map_err(|_| {
                            format!("parameter {name}: History key '{v}' is not a version number")
                        })?;
                        versions.insert(n, (old, kind));
                    }
                    versions.insert(version, (value, kind));
                }
            }
            params.insert(name, versions);
        }
        Ok(JsonParameterStore { params })
    }

    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>, kind: SsmKind) {
        let versions = self.params.entry(name.into()).or_default();
        let next = versions.keys().next_back().map_or(1, |v| v + 1);
        versions.insert(next, (value.into(), kind));
    }
}

impl ParameterStore for JsonParameterStore {
    fn get(&self, name: &str, version: Option<u64>) -> Option<SsmParameter> {
        let versions = self.params.get(name)?;
        let (v, (value, kind)) = match version {
            Some(v) => (v, versions.get(&v)?),
            None => versions.iter().next_back().map(|(v, e)| (*v, e))?,
        };
        Some(SsmParameter {
            value: value.clone(),
            kind: *kind,
            version: v,
        })
    }
}

/// An empty store.
pub struct NoParameters;

impl ParameterStore for NoParameters {
    fn get(&self, _: &str, _: Option<u64>) -> Option<SsmParameter> {
        None
    }
}

/// Parses SAM's `--parameter-overrides`: space-separated `Key=Value` pairs (values may be quoted
/// with `"` or `'`) or CloudFormation's `ParameterKey=Key,ParameterValue=Value`.
pub fn parse_overrides(input: &str) -> Result<Vec<(String, String)>, String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in input.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                started = true;
            }
            None if c.is_whitespace() => {
                if started {
                    tokens.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            None => {
                cur.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!(
            "unterminated quote in parameter overrides: {input}"
        ));
    }
    if started {
        tokens.push(cur);
    }
    let mut out = Vec::new();
    for t in tokens {
        if let Some(rest) = t.strip_prefix("ParameterKey=") {
            let Some((key, value)) = rest.split_once(",ParameterValue=") else {
                return Err(format!(
                    "'{t}' must be ParameterKey=Key,ParameterValue=Value"
                ));
            };
            out.push((key.to_owned(), value.to_owned()));
        } else if let Some((k, v)) = t.split_once('=') {
            if k.is_empty() {
                return Err(format!("'{t}' has no parameter name before '='"));
            }
            out.push((k.to_owned(), v.to_owned()));
        } else {
            return Err(format!("'{t}' is not Key=Value"));
        }
    }
    Ok(out)
}

/// A CodePipeline template configuration file: `{"Parameters": {…}, "Tags": {…}, "StackPolicy": {…}}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfiguration {
    #[serde(rename = "Parameters", default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(rename = "Tags", default)]
    pub tags: BTreeMap<String, String>,
    #[serde(rename = "StackPolicy", default)]
    pub stack_policy: Option<serde_json::Value>,
}

impl TemplateConfiguration {
    pub fn parse(text: &str) -> Result<TemplateConfiguration, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid template configuration: {e}"))
    }
}

pub(crate) fn parse_decls(
    raw: &IndexMap<String, (Pos, Node)>,
    diags: &mut Diagnostics,
) -> IndexMap<String, ParamDecl> {
    let root = Path::root("Parameters");
    let mut out = IndexMap::new();
    for (name, (pos, node)) in raw {
        let path = root.key(name);
        if let Some(d) = parse_decl(name, *pos, node, &path, diags) {
            out.insert(name.clone(), d);
        }
    }
    out
}

fn scalar_list(node: &Node, path: &Path<'_>, what: &str, diags: &mut Diagnostics) -> Vec<String> {
    match &node.kind {
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| expect_string(n, &path.index(i), what, diags))
            .collect(),
        Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) | Kind::Map(_) => {
            diags.push(
                Diagnostic::error(Code::WrongType, format!("{what} must be a list"))
                    .at(node.pos)
                    .path(path.to_string()),
            );
            Vec::new()
        }
    }
}

fn number_prop(
    m: &crate::syntax::Map,
    key: &str,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) -> Option<f64> {
    let n = m.get(key)?;
    let parsed = n.scalar_text().and_then(|t| t.trim().parse::<f64>().ok());
    if parsed.is_none() {
        diags.push(
            Diagnostic::error(Code::WrongType, format!("{key} must be a number"))
                .at(n.pos)
                .path(path.key(key).to_string()),
        );
    }
    parsed
}

fn parse_decl(
    name: &str,
    pos: Pos,
    node: &Node,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) -> Option<ParamDecl> {
    let m = expect_map(node, path, "a parameter", diags)?;
    for (key, e) in m.iter_entries() {
        if !PARAM_PROPERTIES.contains(&key) {
            let mut d = Diagnostic::error(
                Code::UnknownProperty,
                format!("unknown parameter property '{key}'"),
            )
            .at(e.key_pos)
            .path(path.key(key).to_string());
            if let Some(s) = did_you_mean(key, PARAM_PROPERTIES.iter().copied()) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
        }
        if e.value.intrinsic().is_some() {
            diags.push(
                Diagnostic::error(
                    Code::IntrinsicNotAllowed,
                    "parameter declarations cannot use intrinsic functions",
                )
                .at(e.value.pos)
                .path(path.key(key).to_string()),
            );
        }
    }
    let Some(type_node) = m.get("Type") else {
        diags.push(
            Diagnostic::error(
                Code::MissingRequired,
                format!("parameter '{name}' has no Type"),
            )
            .at(pos)
            .path(path.to_string()),
        );
        return None;
    };
    let type_text = expect_string(type_node, &path.key("Type"), "Type", diags)?;
    let Some(type_) = ParamType::parse(&type_text) else {
        let known = [
            "String",
            "Number",
            "List<Number>",
            "CommaDelimitedList",
            "AWS::SSM::Parameter::Value<String>",
        ];
        let mut d = Diagnostic::error(
            Code::ParameterType,
            format!("unknown parameter type '{type_text}'"),
        )
        .at(type_node.pos)
        .path(path.key("Type").to_string());
        if let Some(s) = did_you_mean(
            &type_text,
            known
                .iter()
                .copied()
                .chain(AWS_SPECIFIC_TYPES.iter().copied()),
        ) {
            d = d.help(format!("did you mean '{s}'?"));
        }
        diags.push(d);
        return None;
    };
    let default = m.get("Default").and_then(|n| match &n.kind {
        Kind::Seq(_) | Kind::Map(_) => {
            diags.push(
                Diagnostic::error(Code::WrongType, "Default must be a string (a list parameter's default is comma-separated: \"a,b\")")
                    .at(n.pos)
                    .path(path.key("Default").to_string()),
            );
            None
        }
        Kind::Null => Some(String::new()),
        Kind::Bool(_) | Kind::Number(_) | Kind::String(_) => n.scalar_text(),
    });
    let allowed_pattern = m.get("AllowedPattern").and_then(|n| {
        let p = expect_string(n, &path.key("AllowedPattern"), "AllowedPattern", diags)?;
        match Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some((p, re)),
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!("AllowedPattern is not a valid regular expression: {e}"),
                    )
                    .at(n.pos)
                    .path(path.key("AllowedPattern").to_string()),
                );
                None
            }
        }
    });
    let no_echo = match m.get("NoEcho") {
        None => false,
        Some(n) => match n.scalar_text().as_deref() {
            Some("true" | "True" | "TRUE") => true,
            Some("false" | "False" | "FALSE") => false,
            _ => {
                diags.push(
                    Diagnostic::error(Code::WrongType, "NoEcho must be true or false")
                        .at(n.pos)
                        .path(path.key("NoEcho").to_string()),
                );
                false
            }
        },
    };
    let text = |key: &str, diags: &mut Diagnostics| {
        m.get(key)
            .and_then(|n| expect_string(n, &path.key(key), key, diags))
    };
    let decl = ParamDecl {
        name: name.to_owned(),
        pos,
        type_text,
        type_,
        default_pos: m.get("Default").map(|n| n.pos),
        default,
        allowed_values: m
            .get("AllowedValues")
            .map(|n| scalar_list(n, &path.key("AllowedValues"), "AllowedValues", diags))
            .unwrap_or_default(),
        allowed_pattern,
        constraint_description: text("ConstraintDescription", diags),
        description: text("Description", diags),
        min_length: number_prop(m, "MinLength", path, diags).map(|f| f as u64),
        max_length: number_prop(m, "MaxLength", path, diags).map(|f| f as u64),
        min_value: number_prop(m, "MinValue", path, diags),
        max_value: number_prop(m, "MaxValue", path, diags),
        no_echo,
    };
    if decl.description.as_ref().is_some_and(|d| d.len() > 4000) {
        diags.push(
            Diagnostic::error(
                Code::LimitExceeded,
                "a parameter Description is limited to 4000 characters",
            )
            .at(pos)
            .path(path.key("Description").to_string()),
        );
    }
    Some(decl)
}

/// Resolves every parameter's value and checks it against its constraints. `given` holds the
/// values supplied from outside, already merged by precedence.
pub(crate) fn resolve(
    decls: &IndexMap<String, ParamDecl>,
    given: &BTreeMap<String, GivenValue>,
    store: &dyn ParameterStore,
    diags: &mut Diagnostics,
) -> BTreeMap<String, ResolvedParam> {
    let mut out = BTreeMap::new();
    for (name, value) in given {
        if !decls.contains_key(name) {
            let mut d = Diagnostic::error(
                Code::ParameterUnknown,
                format!(
                    "a value is given for parameter '{name}', which the template does not declare"
                ),
            )
            .path(format!("Parameters.{name}"));
            if let Some(s) = did_you_mean(name, decls.keys().map(String::as_str)) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            if value.source == ValueSource::Previous {
                continue;
            }
            diags.push(d);
        }
    }
    for (name, decl) in decls {
        let path = format!("Parameters.{name}");
        let (raw, source, pos) = match (given.get(name), &decl.default) {
            (Some(g), _) => (g.value.clone(), g.source, decl.pos),
            (None, Some(d)) => (
                d.clone(),
                ValueSource::Default,
                decl.default_pos.unwrap_or(decl.pos),
            ),
            // A Default that was written but rejected has been reported already.
            (None, None) if decl.default_pos.is_some() => continue,
            (None, None) => {
                diags.push(
                    Diagnostic::error(
                        Code::ParameterMissing,
                        format!("parameter '{name}' has no value: give one with --parameter-overrides {name}=VALUE or declare a Default"),
                    )
                    .at(decl.pos)
                    .path(path),
                );
                continue;
            }
        };
        let mut problems = Vec::new();
        let value = value_of(decl, &raw, store, &mut problems);
        for p in problems {
            let shown = if decl.no_echo {
                MASK.to_owned()
            } else {
                raw.clone()
            };
            let origin = match source {
                ValueSource::Default => "its Default".to_owned(),
                ValueSource::TemplateConfiguration => "the template configuration".to_owned(),
                ValueSource::Override => "--parameter-overrides".to_owned(),
                ValueSource::Previous => "the previous deployment".to_owned(),
            };
            let code = if p.1 {
                Code::SsmParameterMissing
            } else {
                Code::ParameterConstraint
            };
            diags.push(
                Diagnostic::error(code, p.0)
                    .at(pos)
                    .path(path.clone())
                    .help(format!("the value '{shown}' comes from {origin}")),
            );
        }
        if let Some(value) = value {
            out.insert(
                name.clone(),
                ResolvedParam {
                    decl: decl.clone(),
                    value,
                    given: raw,
                    source,
                },
            );
        }
    }
    out
}

/// Computes a parameter's value from the raw text, pushing `(message, is_ssm_problem)`.
fn value_of(
    decl: &ParamDecl,
    raw: &str,
    store: &dyn ParameterStore,
    problems: &mut Vec<(String, bool)>,
) -> Option<ParamValue> {
    let name = &decl.name;
    match &decl.type_ {
        ParamType::SsmValue(inner) => {
            let Some(p) = store.get(raw, None) else {
                problems.push((
                    format!("parameter '{name}' names the SSM parameter '{raw}', which is not in the local parameter store"),
                    true,
                ));
                return None;
            };
            if p.kind == SsmKind::SecureString {
                problems.push((
                    format!("parameter '{name}': SSM parameter '{raw}' is a SecureString, which SSM parameter types do not support; use a {{{{resolve:ssm-secure:{raw}}}}} dynamic reference"),
                    true,
                ));
                return None;
            }
            Some(if inner.is_list() {
                ParamValue::List(split_list(&p.value))
            } else {
                ParamValue::String(p.value)
            })
        }
        ParamType::String | ParamType::AwsSpecific(_) | ParamType::SsmName => {
            check_string(decl, raw, problems);
            Some(ParamValue::String(raw.to_owned()))
        }
        ParamType::Number => {
            check_number(decl, raw, problems);
            Some(ParamValue::String(raw.to_owned()))
        }
        ParamType::ListNumber => {
            let items = split_list(raw);
            for item in &items {
                check_number(decl, item, problems);
            }
            Some(ParamValue::List(items))
        }
        ParamType::CommaDelimitedList | ParamType::AwsSpecificList(_) => {
            let items = split_list(raw);
            for item in &items {
                check_string(decl, item, problems);
            }
            Some(ParamValue::List(items))
        }
    }
}

/// `"a, b,c"` → `["a", "b", "c"]`; an empty string is an empty list.
pub fn split_list(raw: &str) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(',').map(|s| s.trim().to_owned()).collect()
}

fn constraint_message(decl: &ParamDecl, fallback: String) -> String {
    match &decl.constraint_description {
        Some(c) => format!(
            "Parameter '{}' failed to satisfy constraint: {c}",
            decl.name
        ),
        None => fallback,
    }
}

fn check_allowed_values(decl: &ParamDecl, v: &str, problems: &mut Vec<(String, bool)>) {
    if !decl.allowed_values.is_empty() && !decl.allowed_values.iter().any(|a| a == v) {
        problems.push((
            format!(
                "Parameter '{}' must be one of AllowedValues: {}",
                decl.name,
                decl.allowed_values.join(", ")
            ),
            false,
        ));
    }
}

fn check_string(decl: &ParamDecl, v: &str, problems: &mut Vec<(String, bool)>) {
    check_allowed_values(decl, v, problems);
    let len = v.chars().count() as u64;
    if let Some(min) = decl.min_length
        && len < min
    {
        let msg = format!(
            "Parameter '{}' must contain at least {min} characters",
            decl.name
        );
        problems.push((constraint_message(decl, msg), false));
    }
    if let Some(max) = decl.max_length
        && len > max
    {
        let msg = format!(
            "Parameter '{}' must contain at most {max} characters",
            decl.name
        );
        problems.push((constraint_message(decl, msg), false));
    }
    if let Some((p, re)) = &decl.allowed_pattern
        && !re.is_match(v)
    {
        let msg = format!("Parameter '{}' must match pattern {p}", decl.name);
        problems.push((constraint_message(decl, msg), false));
    }
}

fn check_number(decl: &ParamDecl, v: &str, problems: &mut Vec<(String, bool)>) {
    let Ok(n) = v.trim().parse::<f64>() else {
        problems.push((format!("Parameter '{}' must be a number", decl.name), false));
        return;
    };
    check_allowed_values(decl, v, problems);
    if let Some(min) = decl.min_value
        && n < min
    {
        let msg = format!(
            "Parameter '{}' must be a number not less than {min}",
            decl.name
        );
        problems.push((constraint_message(decl, msg), false));
    }
    if let Some(max) = decl.max_value
        && n > max
    {
        let msg = format!(
            "Parameter '{}' must be a number not greater than {max}",
            decl.name
        );
        problems.push((constraint_message(decl, msg), false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_like_sam() {
        assert_eq!(
            parse_overrides(
                "Stage=prod Name=\"a b\" List=a,b ParameterKey=K,ParameterValue=V 'Q'='x y'"
            )
            .unwrap(),
            vec![
                ("Stage".into(), "prod".into()),
                ("Name".into(), "a b".into()),
                ("List".into(), "a,b".into()),
                ("K".into(), "V".into()),
                ("Q".into(), "x y".into()),
            ]
        );
        assert!(parse_overrides("novalue").is_err());
        assert!(parse_overrides("A=\"open").is_err());
        assert_eq!(
            parse_overrides("Empty=").unwrap(),
            vec![("Empty".into(), String::new())]
        );
    }

    #[test]
    fn types_parse() {
        assert_eq!(
            ParamType::parse("List<AWS::EC2::Subnet::Id>"),
            Some(ParamType::AwsSpecificList("AWS::EC2::Subnet::Id".into()))
        );
        assert_eq!(
            ParamType::parse("AWS::SSM::Parameter::Value<List<String>>"),
            Some(ParamType::SsmValue(Box::new(ParamType::CommaDelimitedList)))
        );
        assert_eq!(ParamType::parse("Strin"), None);
        assert_eq!(ParamType::parse("List<String>"), None);
    }

    #[test]
    fn store_versions() {
        let s = JsonParameterStore::parse(
            r#"{"/a": "x", "/b": {"Value": "new", "Version": 3, "History": {"1": "old"}}}"#,
        )
        .unwrap();
        assert_eq!(s.get("/a", None).unwrap().value, "x");
        assert_eq!(s.get("/b", None).unwrap().value, "new");
        assert_eq!(s.get("/b", Some(1)).unwrap().value, "old");
        assert!(s.get("/b", Some(2)).is_none());
    }
}
