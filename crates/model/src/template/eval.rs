//! Intrinsic functions, conditions and dynamic references, evaluated as far as they can be.
//!
//! The evaluator is a partial evaluator. Everything CloudFormation can know before it creates a
//! resource — parameters, pseudo parameters, mappings, conditions, `Fn::If`, `AWS::NoValue`,
//! string functions over known values — is computed. A reference to a resource is answered by
//! [`PhysicalValues`]: before deployment it knows nothing and the reference stays in the output
//! as CloudFormation syntax (`{"Ref": "Fn"}`, `{"Fn::GetAtt": ["Fn", "Arn"]}`, a reduced
//! `Fn::Sub`), so the resolved template is itself a valid template. The deploy engine runs the
//! same evaluator again with the physical IDs it created, which finishes the job. One evaluator,
//! two moments, the same rules.
//!
//! Literal text that Slipway substitutes into a `Fn::Sub` that stays symbolic is escaped
//! (`${` → `${!`), so a parameter value can never be re-read as a variable on the second pass.

use std::collections::{BTreeMap, BTreeSet};

use super::params::{MASK, ParameterStore, ResolvedParam, SsmKind};
use super::path::Path;
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Kind, Map, Node};

/// The pseudo parameters of the stack being evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pseudo {
    pub account: String,
    pub region: String,
    pub partition: String,
    pub url_suffix: String,
    pub stack_name: String,
    pub stack_id: String,
    pub notification_arns: Vec<String>,
}

impl Pseudo {
    /// Pseudo parameters for a stack in `account`/`region`. The stack ID's UUID is derived from
    /// the three, so the same stack always gets the same ID.
    pub fn new(account: &str, region: &str, stack_name: &str) -> Pseudo {
        let partition = partition_of(region);
        let url_suffix = if partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        let digest = super::hash::sha256_hex(format!("{account}/{region}/{stack_name}").as_bytes());
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[12..16],
            &digest[16..20],
            &digest[20..32]
        );
        Pseudo {
            account: account.to_owned(),
            region: region.to_owned(),
            partition: partition.to_owned(),
            url_suffix: url_suffix.to_owned(),
            stack_name: stack_name.to_owned(),
            stack_id: format!(
                "arn:{partition}:cloudformation:{region}:{account}:stack/{stack_name}/{uuid}"
            ),
            notification_arns: Vec::new(),
        }
    }

    fn value(&self, name: &str, pos: Pos) -> Option<Option<Node>> {
        let s = |v: &str| Some(Some(Node::string(pos, v)));
        match name {
            "AWS::AccountId" => s(&self.account),
            "AWS::Region" => s(&self.region),
            "AWS::Partition" => s(&self.partition),
            "AWS::URLSuffix" => s(&self.url_suffix),
            "AWS::StackName" => s(&self.stack_name),
            "AWS::StackId" => s(&self.stack_id),
            "AWS::NotificationARNs" => Some(Some(Node::seq(
                pos,
                self.notification_arns
                    .iter()
                    .map(|a| Node::string(pos, a.clone()))
                    .collect(),
            ))),
            "AWS::NoValue" => Some(None),
            _ => None,
        }
    }
}

pub const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// Outputs exported by other stacks of the same target, for `Fn::ImportValue`.
pub trait ExportLookup {
    fn export(&self, name: &str) -> ExportAnswer;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportAnswer {
    Found(String),
    /// The target is known and nothing exports this name.
    Missing,
    /// Exports cannot be looked up here (no state store); the reference stays symbolic.
    Unknown,
}

/// No exports are known: every `Fn::ImportValue` stays symbolic with a warning.
pub struct NoExports;

impl ExportLookup for NoExports {
    fn export(&self, _: &str) -> ExportAnswer {
        ExportAnswer::Unknown
    }
}

impl ExportLookup for BTreeMap<String, String> {
    fn export(&self, name: &str) -> ExportAnswer {
        match self.get(name) {
            Some(v) => ExportAnswer::Found(v.clone()),
            None => ExportAnswer::Missing,
        }
    }
}

/// What a resource's `Ref` and attributes are, once it exists.
pub trait PhysicalValues {
    fn ref_value(&self, logical_id: &str) -> Option<Node>;
    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Node>;
}

/// Before deployment: nothing is known, every resource reference stays symbolic.
pub struct NotDeployed;

impl PhysicalValues for NotDeployed {
    fn ref_value(&self, _: &str) -> Option<Node> {
        None
    }
    fn attribute(&self, _: &str, _: &str) -> Option<Node> {
        None
    }
}

/// A resource as far as references to it are concerned.
#[derive(Clone, Debug)]
pub struct ResourceDecl {
    pub type_: String,
    /// False when its `Condition` is false: the resource is declared but not created.
    pub active: bool,
    pub condition: Option<String>,
}

/// Where an expression sits, which decides what it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Conditions,
    Properties,
    Metadata,
    UpdatePolicy,
    ResourceAttribute,
    Outputs,
    /// `Export.Name` and the argument of `Fn::ImportValue`: no resource references.
    ExportName,
}

impl Context {
    fn allows_if(self) -> bool {
        matches!(
            self,
            Context::Properties
                | Context::Metadata
                | Context::UpdatePolicy
                | Context::Outputs
                | Context::ResourceAttribute
        )
    }

    fn allows_resources(self) -> bool {
        !matches!(self, Context::Conditions | Context::ExportName)
    }

    fn allows_dynamic_refs(self) -> bool {
        matches!(self, Context::Properties | Context::Metadata)
    }
}

pub struct Scope<'a> {
    pub params: &'a BTreeMap<String, ResolvedParam>,
    pub pseudo: &'a Pseudo,
    pub mappings: Option<&'a Map>,
    pub conditions: &'a BTreeMap<String, bool>,
    pub resources: &'a BTreeMap<String, ResourceDecl>,
    pub physical: &'a dyn PhysicalValues,
    pub exports: &'a dyn ExportLookup,
    pub ssm: &'a dyn ParameterStore,
    /// `Transform: AWS::LanguageExtensions` enables `Fn::Length`, `Fn::ToJsonString` and
    /// `Fn::FindInMap` defaults.
    pub language_extensions: bool,
    /// Answers whether a resource type has an attribute (for `Fn::GetAtt`).
    pub has_attribute: &'a dyn Fn(&str, &str) -> AttributeCheck,
    /// Before the SAM transform, resources it will generate (`ServerlessRestApi`, `Fn.Version`,
    /// `FnRole`) do not exist yet: names that are not declared stay symbolic without a
    /// diagnostic, and the pass after the transform checks them.
    pub lenient: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributeCheck {
    Yes,
    /// The attribute is unknown; the list is what the type does have.
    No(Vec<String>),
    /// The type's attributes are not modelled (inert records): anything goes.
    Unknown,
}

/// Secret values met during evaluation (from `NoEcho` parameters and `ssm-secure` references),
/// which output must mask.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    values: BTreeSet<String>,
}

impl Secrets {
    pub fn add(&mut self, v: &str) {
        if !v.is_empty() {
            self.values.insert(v.to_owned());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }

    /// Replaces every secret in `s` with `*****`, longest secrets first.
    pub fn mask(&self, s: &str) -> String {
        let mut out = s.to_owned();
        let mut sorted: Vec<&String> = self.values.iter().collect();
        sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in sorted {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }

    pub fn mask_json(&self, v: &mut serde_json::Value) {
        if self.values.is_empty() {
            return;
        }
        match v {
            serde_json::Value::String(s) => *s = self.mask(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| self.mask_json(i)),
            serde_json::Value::Object(m) => m.values_mut().for_each(|i| self.mask_json(i)),
            serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {
            }
        }
    }
}

pub struct Evaluator<'s, 'a> {
    scope: &'s Scope<'a>,
    pub secrets: Secrets,
}

type Out = Option<Node>;

const FUNCTIONS: &[&str] = &[
    "Ref",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::Select",
    "Fn::Split",
    "Fn::If",
    "Fn::Equals",
    "Fn::And",
    "Fn::Or",
    "Fn::Not",
    "Fn::FindInMap",
    "Fn::ImportValue",
    "Fn::Base64",
    "Fn::GetAZs",
    "Fn::Cidr",
    "Fn::Transform",
    "Fn::Length",
    "Fn::ToJsonString",
    "Fn::ForEach",
];

fn err(code: Code, pos: Pos, path: &Path<'_>, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, msg).at(pos).path(path.to_string())
}

/// True for the symbolic forms the evaluator leaves behind (and any other intrinsic call).
pub fn is_symbolic(n: &Node) -> bool {
    n.intrinsic().is_some_and(|(k, _)| k != "Condition")
}

impl<'s, 'a> Evaluator<'s, 'a> {
    pub fn new(scope: &'s Scope<'a>) -> Self {
        let mut secrets = Secrets::default();
        for p in scope.params.values() {
            if p.decl.no_echo {
                secrets.add(&p.given);
                match &p.value {
                    super::params::ParamValue::String(s) => secrets.add(s),
                    super::params::ParamValue::List(items) => {
                        items.iter().for_each(|i| secrets.add(i))
                    }
                }
            }
        }
        Self { scope, secrets }
    }

    /// The logical IDs of every resource in scope.
    pub fn resource_names(&self) -> impl Iterator<Item = &'a str> + use<'a, '_> {
        self.scope.resources.keys().map(String::as_str)
    }

    /// Evaluates a node; `None` means `AWS::NoValue` (the property or list item disappears).
    pub fn eval(&mut self, n: &Node, ctx: Context, path: &Path<'_>, d: &mut Diagnostics) -> Out {
        match &n.kind {
            Kind::Map(m) => {
                if let Some((name, arg)) = m.single()
                    && (name == "Ref" || name.starts_with("Fn::"))
                {
                    return self.call(name, arg, n, ctx, path, d);
                }
                for (k, e) in m.iter_entries() {
                    if m.len() > 1
                        && (k == "Ref" || (k.starts_with("Fn::") && FUNCTIONS.contains(&k)))
                    {
                        d.push(err(
                            Code::IntrinsicShape,
                            e.key_pos,
                            &path.key(k),
                            format!("{k} must be the only key of its mapping"),
                        ));
                    }
                }
                let mut out = Map::new();
                for (k, e) in m.iter_entries() {
                    if let Some(v) = self.eval(&e.value, ctx, &path.key(k), d) {
                        out.insert(k, e.key_pos, v);
                    }
                }
                Some(Node::map(n.pos, out))
            }
            Kind::Seq(items) => {
                let out = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| self.eval(item, ctx, &path.index(i), d))
                    .collect();
                Some(Node::seq(n.pos, out))
            }
            Kind::String(s) if ctx.allows_dynamic_refs() && s.contains("{{resolve:") => {
                Some(Node::string(n.pos, self.dynamic_refs(s, n.pos, path, d)))
            }
            Kind::String(_) | Kind::Null | Kind::Bool(_) | Kind::Number(_) => Some(n.clone()),
        }
    }

    /// Evaluates a value that must be a plain string after evaluation.
    fn eval_text(
        &mut self,
        n: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
        what: &str,
    ) -> Result<Text, ()> {
        match self.eval(n, ctx, path, d) {
            None => {
                d.push(err(
                    Code::IntrinsicShape,
                    n.pos,
                    path,
                    format!("{what} cannot be AWS::NoValue"),
                ));
                Err(())
            }
            Some(v) if is_symbolic(&v) => Ok(Text::Symbolic(v)),
            Some(v) => match v.scalar_text() {
                Some(s) => Ok(Text::Known(s)),
                None => {
                    d.push(err(
                        Code::IntrinsicShape,
                        v.pos,
                        path,
                        format!("{what} must be a string, not a {}", v.type_name()),
                    ));
                    Err(())
                }
            },
        }
    }

    fn call(
        &mut self,
        name: &str,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let fpath = path.key(name);
        let pos = whole.pos;
        let keep = || Some(whole.clone());
        match name {
            "Ref" => self.ref_(arg, whole, ctx, &fpath, d),
            "Fn::GetAtt" => self.get_att(arg, whole, ctx, &fpath, d),
            "Fn::Sub" => self.sub(arg, whole, ctx, &fpath, d),
            "Fn::Join" => self.join(arg, whole, ctx, &fpath, d),
            "Fn::Select" => self.select(arg, whole, ctx, &fpath, d),
            "Fn::Split" => self.split(arg, whole, ctx, &fpath, d),
            "Fn::If" => self.if_(arg, whole, ctx, &fpath, d),
            "Fn::FindInMap" => self.find_in_map(arg, whole, ctx, &fpath, d),
            "Fn::ImportValue" => self.import_value(arg, whole, ctx, &fpath, d),
            "Fn::Base64" => match self.eval_text(arg, ctx, &fpath, d, "Fn::Base64's argument") {
                Ok(Text::Known(s)) => Some(Node::string(pos, base64(s.as_bytes()))),
                Ok(Text::Symbolic(v)) => Some(Node::call(pos, name, v)),
                Err(()) => keep(),
            },
            "Fn::GetAZs" => match self.eval_text(arg, ctx, &fpath, d, "Fn::GetAZs's region") {
                Ok(Text::Known(region)) => {
                    let region = if region.is_empty() {
                        self.scope.pseudo.region.clone()
                    } else {
                        region
                    };
                    Some(Node::seq(
                        pos,
                        ["a", "b", "c"]
                            .iter()
                            .map(|z| Node::string(pos, format!("{region}{z}")))
                            .collect(),
                    ))
                }
                Ok(Text::Symbolic(v)) => Some(Node::call(pos, name, v)),
                Err(()) => keep(),
            },
            "Fn::Cidr" => self.cidr(arg, whole, ctx, &fpath, d),
            "Fn::Equals" | "Fn::And" | "Fn::Or" | "Fn::Not" => {
                if ctx == Context::Conditions {
                    let b = self.condition_fn(whole, path, d, &mut Vec::new())?;
                    Some(Node::bool(pos, b))
                } else {
                    d.push(err(
                        Code::IntrinsicNotAllowed,
                        pos,
                        &fpath,
                        format!("{name} can only be used in the Conditions section (use Fn::If with a named condition here)"),
                    ));
                    keep()
                }
            }
            "Fn::Length" if self.scope.language_extensions => {
                match self.eval(arg, ctx, &fpath, d) {
                    Some(v) => match &v.kind {
                        Kind::Seq(items) => Some(Node::int(pos, items.len() as i64)),
                        _ if is_symbolic(&v) => Some(Node::call(pos, name, v)),
                        _ => {
                            d.push(err(
                                Code::IntrinsicShape,
                                v.pos,
                                &fpath,
                                "Fn::Length takes a list",
                            ));
                            keep()
                        }
                    },
                    None => Some(Node::int(pos, 0)),
                }
            }
            "Fn::ToJsonString" if self.scope.language_extensions => {
                match self.eval(arg, ctx, &fpath, d) {
                    Some(v) => {
                        let mut symbolic = false;
                        v.walk(&mut |n| symbolic |= is_symbolic(n));
                        if symbolic {
                            Some(Node::call(pos, name, v))
                        } else {
                            Some(Node::string(pos, v.to_json().to_string()))
                        }
                    }
                    None => keep(),
                }
            }
            "Fn::Length" | "Fn::ToJsonString" => {
                d.push(err(
                    Code::IntrinsicNotAllowed,
                    pos,
                    &fpath,
                    format!("{name} needs 'Transform: AWS::LanguageExtensions'"),
                ));
                keep()
            }
            "Fn::ForEach" | "Fn::Transform" => {
                d.push(err(
                    Code::NotSupported,
                    pos,
                    &fpath,
                    format!("{name} is not supported by Slipway yet"),
                ));
                keep()
            }
            other => {
                let mut diag = err(
                    Code::UnknownFunction,
                    pos,
                    &fpath,
                    format!("unknown intrinsic function '{other}'"),
                );
                if let Some(s) = did_you_mean(other, FUNCTIONS.iter().copied()) {
                    diag = diag.help(format!("did you mean '{s}'?"));
                }
                d.push(diag);
                keep()
            }
        }
    }

    fn unresolved(&self, name: &str, pos: Pos, path: &Path<'_>, what: &str) -> Diagnostic {
        let candidates = self
            .scope
            .params
            .keys()
            .map(String::as_str)
            .chain(self.scope.resources.keys().map(String::as_str))
            .chain(PSEUDO_PARAMETERS.iter().copied());
        let mut diag = err(
            Code::UnresolvedReference,
            pos,
            path,
            format!(
                "{what} '{name}' is not {} of this template",
                if what.contains("GetAtt") {
                    "a resource"
                } else {
                    "a parameter, pseudo parameter or resource"
                }
            ),
        );
        if let Some(s) = did_you_mean(name, candidates) {
            diag = diag.help(format!("did you mean '{s}'?"));
        }
        diag
    }

    /// Checks a resource reference; returns the resource type when the reference is usable.
    fn resource_ref(
        &self,
        id: &str,
        pos: Pos,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Option<&'a str> {
        let r = self.scope.resources.get(id)?;
        if !ctx.allows_resources() {
            d.push(err(
                Code::IntrinsicNotAllowed,
                pos,
                path,
                match ctx {
                    Context::Conditions => format!("conditions cannot refer to resources ('{id}')"),
                    _ => format!("export names cannot refer to resources ('{id}')"),
                },
            ));
            return None;
        }
        if !r.active {
            d.push(err(
                Code::UnresolvedReference,
                pos,
                path,
                format!(
                    "'{id}' is not created because its condition '{}' is false, so it cannot be referenced here",
                    r.condition.as_deref().unwrap_or("?")
                ),
            ).help("guard the reference with Fn::If on the same condition"));
            return None;
        }
        Some(r.type_.as_str())
    }

    fn ref_(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let Some(name) = arg.as_str() else {
            d.push(err(
                Code::IntrinsicShape,
                arg.pos,
                path,
                format!("Ref takes a name, not a {}", arg.type_name()),
            ));
            return Some(whole.clone());
        };
        if let Some(p) = self.scope.params.get(name) {
            return Some(p.value.to_node(whole.pos));
        }
        if let Some(v) = self.scope.pseudo.value(name, whole.pos) {
            return v;
        }
        if self.scope.resources.contains_key(name) {
            if self.resource_ref(name, whole.pos, ctx, path, d).is_none() {
                return Some(whole.clone());
            }
            return Some(match self.scope.physical.ref_value(name) {
                Some(mut v) => {
                    v.pos = whole.pos;
                    v
                }
                None => Node::call(whole.pos, "Ref", Node::string(arg.pos, name)),
            });
        }
        if !self.scope.lenient {
            d.push(self.unresolved(name, arg.pos, path, "Ref target"));
        }
        Some(whole.clone())
    }

    fn get_att(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let pos = whole.pos;
        let (id, attr_node) = match &arg.kind {
            Kind::Seq(items) if items.len() == 2 => match items[0].as_str() {
                Some(id) => (id.to_owned(), items[1].clone()),
                None => {
                    d.push(err(
                        Code::IntrinsicShape,
                        items[0].pos,
                        path,
                        "Fn::GetAtt's logical ID must be a literal string",
                    ));
                    return Some(whole.clone());
                }
            },
            Kind::String(s) => match s.split_once('.') {
                Some((id, attr)) => (id.to_owned(), Node::string(arg.pos, attr)),
                None => {
                    d.push(err(
                        Code::IntrinsicShape,
                        arg.pos,
                        path,
                        format!("Fn::GetAtt '{s}' needs the form LogicalId.Attribute"),
                    ));
                    return Some(whole.clone());
                }
            },
            _ => {
                d.push(err(
                    Code::IntrinsicShape,
                    arg.pos,
                    path,
                    "Fn::GetAtt takes [LogicalId, Attribute]",
                ));
                return Some(whole.clone());
            }
        };
        let attr =
            match self.eval_text(&attr_node, ctx, &path.index(1), d, "Fn::GetAtt's attribute") {
                Ok(Text::Known(a)) => a,
                Ok(Text::Symbolic(_)) | Err(()) => {
                    d.push(err(
                        Code::IntrinsicShape,
                        attr_node.pos,
                        path,
                        "Fn::GetAtt's attribute must be known before deployment",
                    ));
                    return Some(whole.clone());
                }
            };
        if !self.scope.resources.contains_key(&id) {
            if self.scope.lenient {
                return Some(Node::call(
                    pos,
                    "Fn::GetAtt",
                    Node::seq(pos, vec![Node::string(pos, id), Node::string(pos, attr)]),
                ));
            }
            d.push(self.unresolved(&id, arg.pos, path, "Fn::GetAtt resource"));
            return Some(whole.clone());
        }
        let Some(type_) = self.resource_ref(&id, pos, ctx, path, d) else {
            return Some(whole.clone());
        };
        if let AttributeCheck::No(known) = (self.scope.has_attribute)(type_, &attr) {
            let mut diag = err(
                Code::UnknownAttribute,
                attr_node.pos,
                path,
                format!("{type_} has no attribute '{attr}' (resource '{id}')"),
            );
            diag = match did_you_mean(&attr, known.iter().map(String::as_str)) {
                Some(s) => diag.help(format!("did you mean '{s}'?")),
                None if !known.is_empty() => {
                    diag.help(format!("its attributes are: {}", known.join(", ")))
                }
                None => diag.help(format!("{type_} has no attributes")),
            };
            d.push(diag);
            return Some(whole.clone());
        }
        Some(match self.scope.physical.attribute(&id, &attr) {
            Some(mut v) => {
                v.pos = pos;
                v
            }
            None => Node::call(
                pos,
                "Fn::GetAtt",
                Node::seq(pos, vec![Node::string(pos, id), Node::string(pos, attr)]),
            ),
        })
    }

    fn sub(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let pos = whole.pos;
        let (template, vars): (&str, Option<&Map>) = match &arg.kind {
            Kind::String(s) => (s, None),
            Kind::Seq(items) if items.len() == 2 => match (&items[0].kind, &items[1].kind) {
                (Kind::String(s), Kind::Map(m)) => (s, Some(m)),
                _ => {
                    d.push(err(
                        Code::IntrinsicShape,
                        arg.pos,
                        path,
                        "Fn::Sub takes a string or [string, {Name: value}]",
                    ));
                    return Some(whole.clone());
                }
            },
            _ => {
                d.push(err(
                    Code::IntrinsicShape,
                    arg.pos,
                    path,
                    "Fn::Sub takes a string or [string, {Name: value}]",
                ));
                return Some(whole.clone());
            }
        };
        // Evaluate the variable map first.
        let mut known_vars: BTreeMap<&str, String> = BTreeMap::new();
        let mut symbolic_vars = Map::new();
        if let Some(vars) = vars {
            let vpath = path.index(1);
            for (k, e) in vars.iter_entries() {
                match self.eval_text(&e.value, ctx, &vpath.key(k), d, "a Fn::Sub variable") {
                    Ok(Text::Known(s)) => {
                        known_vars.insert(k, s);
                    }
                    Ok(Text::Symbolic(v)) => {
                        symbolic_vars.insert(k, e.key_pos, v);
                    }
                    Err(()) => return Some(whole.clone()),
                }
            }
        }
        let segments = match parse_sub(template) {
            Ok(s) => s,
            Err(msg) => {
                d.push(err(Code::IntrinsicShape, pos, path, msg));
                return Some(whole.clone());
            }
        };
        let mut out = String::new();
        let mut symbolic = false;
        let mut failed = false;
        for seg in segments {
            match seg {
                SubSegment::Literal(t) => out.push_str(&escape_sub(&t)),
                SubSegment::Var(name) => {
                    if let Some(v) = known_vars.get(name.as_str()) {
                        out.push_str(&escape_sub(v));
                        continue;
                    }
                    if symbolic_vars.contains_key(&name) {
                        symbolic = true;
                        out.push_str(&format!("${{{name}}}"));
                        continue;
                    }
                    match self.sub_var(&name, pos, ctx, path, d) {
                        SubVar::Known(v) => out.push_str(&escape_sub(&v)),
                        SubVar::Symbolic => {
                            symbolic = true;
                            out.push_str(&format!("${{{name}}}"));
                        }
                        SubVar::Failed => failed = true,
                    }
                }
            }
        }
        if failed {
            return Some(whole.clone());
        }
        if !symbolic {
            return Some(Node::string(pos, unescape_sub(&out)));
        }
        let body = if symbolic_vars.is_empty() {
            Node::string(pos, out)
        } else {
            Node::seq(
                pos,
                vec![Node::string(pos, out), Node::map(pos, symbolic_vars)],
            )
        };
        Some(Node::call(pos, "Fn::Sub", body))
    }

    fn sub_var(
        &mut self,
        name: &str,
        pos: Pos,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> SubVar {
        if let Some((id, attr)) = name.split_once('.')
            && self.scope.resources.contains_key(id)
        {
            let call = Node::call(
                pos,
                "Fn::GetAtt",
                Node::seq(pos, vec![Node::string(pos, id), Node::string(pos, attr)]),
            );
            return match self.get_att(
                call.as_map()
                    .and_then(Map::single)
                    .map(|(_, a)| a)
                    .unwrap_or(&call),
                &call,
                ctx,
                path,
                d,
            ) {
                Some(v) if is_symbolic(&v) => {
                    if v == call {
                        SubVar::Symbolic
                    } else {
                        SubVar::Failed
                    }
                }
                Some(v) => v.scalar_text().map_or(SubVar::Failed, SubVar::Known),
                None => SubVar::Failed,
            };
        }
        if let Some(p) = self.scope.params.get(name) {
            return match &p.value {
                super::params::ParamValue::String(s) => SubVar::Known(s.clone()),
                super::params::ParamValue::List(_) => {
                    d.push(err(
                        Code::IntrinsicShape,
                        pos,
                        path,
                        format!("Fn::Sub cannot substitute the list parameter '{name}'; join it first (Fn::Join)"),
                    ));
                    SubVar::Failed
                }
            };
        }
        if let Some(v) = self.scope.pseudo.value(name, pos) {
            return match v.and_then(|n| n.as_str().map(str::to_owned)) {
                Some(s) => SubVar::Known(s),
                None => {
                    d.push(err(
                        Code::IntrinsicShape,
                        pos,
                        path,
                        format!("Fn::Sub cannot substitute {name}"),
                    ));
                    SubVar::Failed
                }
            };
        }
        if self.scope.resources.contains_key(name) {
            let call = Node::call(pos, "Ref", Node::string(pos, name));
            return match self.ref_(&Node::string(pos, name), &call, ctx, path, d) {
                Some(v) if is_symbolic(&v) => {
                    if v == call {
                        SubVar::Symbolic
                    } else {
                        SubVar::Failed
                    }
                }
                Some(v) => v.scalar_text().map_or(SubVar::Failed, SubVar::Known),
                None => SubVar::Failed,
            };
        }
        if self.scope.lenient {
            return SubVar::Symbolic;
        }
        d.push(self.unresolved(name, pos, path, "Fn::Sub variable"));
        SubVar::Failed
    }

    fn list_arg<'n>(
        &self,
        arg: &'n Node,
        n: usize,
        name: &str,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Option<&'n [Node]> {
        match arg.as_seq() {
            Some(items) if items.len() == n => Some(items),
            _ => {
                d.push(err(
                    Code::IntrinsicShape,
                    arg.pos,
                    path,
                    format!("{name} takes a list of {n} arguments"),
                ));
                None
            }
        }
    }

    fn join(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let Some([delim, list]) = self.list_arg(arg, 2, "Fn::Join", path, d) else {
            return Some(whole.clone());
        };
        let Some(delim_s) = literal_delimiter(delim, "Fn::Join", path, d) else {
            return Some(whole.clone());
        };
        let Some(list_v) = self.eval(list, ctx, &path.index(1), d) else {
            return Some(Node::string(whole.pos, ""));
        };
        let items = match &list_v.kind {
            Kind::Seq(items) => items,
            _ if is_symbolic(&list_v) => {
                return Some(Node::call(
                    whole.pos,
                    "Fn::Join",
                    Node::seq(arg.pos, vec![Node::string(delim.pos, delim_s), list_v]),
                ));
            }
            _ => {
                d.push(err(
                    Code::IntrinsicShape,
                    list_v.pos,
                    path,
                    format!(
                        "Fn::Join needs a list of strings, not a {}",
                        list_v.type_name()
                    ),
                ));
                return Some(whole.clone());
            }
        };
        let mut parts = Vec::with_capacity(items.len());
        let mut symbolic = false;
        for item in items {
            if is_symbolic(item) {
                symbolic = true;
                continue;
            }
            match item.scalar_text() {
                Some(s) => parts.push(s),
                None => {
                    d.push(err(
                        Code::IntrinsicShape,
                        item.pos,
                        path,
                        format!("Fn::Join can only join strings, not a {}", item.type_name()),
                    ));
                    return Some(whole.clone());
                }
            }
        }
        if symbolic {
            return Some(Node::call(
                whole.pos,
                "Fn::Join",
                Node::seq(arg.pos, vec![Node::string(delim.pos, delim_s), list_v]),
            ));
        }
        Some(Node::string(whole.pos, parts.join(&delim_s)))
    }

    fn select(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let Some([index, list]) = self.list_arg(arg, 2, "Fn::Select", path, d) else {
            return Some(whole.clone());
        };
        let idx = match self.eval_text(index, ctx, &path.index(0), d, "Fn::Select's index") {
            Ok(Text::Known(s)) => match s.trim().parse::<usize>() {
                Ok(i) => i,
                Err(_) => {
                    d.push(err(
                        Code::IntrinsicShape,
                        index.pos,
                        path,
                        format!("Fn::Select's index must be a non-negative integer, not '{s}'"),
                    ));
                    return Some(whole.clone());
                }
            },
            Ok(Text::Symbolic(_)) | Err(()) => return Some(whole.clone()),
        };
        let Some(list_v) = self.eval(list, ctx, &path.index(1), d) else {
            return Some(whole.clone());
        };
        match &list_v.kind {
            Kind::Seq(items) => match items.get(idx) {
                Some(item) => Some(item.clone()),
                None => {
                    d.push(err(
                        Code::IndexOutOfRange,
                        index.pos,
                        path,
                        format!(
                            "Fn::Select index {idx} is out of range for a list of {} items",
                            items.len()
                        ),
                    ));
                    Some(whole.clone())
                }
            },
            _ if is_symbolic(&list_v) => Some(Node::call(
                whole.pos,
                "Fn::Select",
                Node::seq(
                    arg.pos,
                    vec![Node::string(index.pos, idx.to_string()), list_v],
                ),
            )),
            _ => {
                d.push(err(
                    Code::IntrinsicShape,
                    list_v.pos,
                    path,
                    format!("Fn::Select needs a list, not a {}", list_v.type_name()),
                ));
                Some(whole.clone())
            }
        }
    }

    fn split(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let Some([delim, source]) = self.list_arg(arg, 2, "Fn::Split", path, d) else {
            return Some(whole.clone());
        };
        let Some(delim_s) = literal_delimiter(delim, "Fn::Split", path, d) else {
            return Some(whole.clone());
        };
        match self.eval_text(source, ctx, &path.index(1), d, "Fn::Split's source") {
            Ok(Text::Known(s)) => {
                let parts: Vec<Node> = if delim_s.is_empty() {
                    vec![Node::string(whole.pos, s)]
                } else {
                    s.split(delim_s.as_str())
                        .map(|p| Node::string(whole.pos, p))
                        .collect()
                };
                Some(Node::seq(whole.pos, parts))
            }
            Ok(Text::Symbolic(v)) => Some(Node::call(
                whole.pos,
                "Fn::Split",
                Node::seq(arg.pos, vec![Node::string(delim.pos, delim_s), v]),
            )),
            Err(()) => Some(whole.clone()),
        }
    }

    fn if_(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        if !ctx.allows_if() {
            d.push(err(
                Code::IntrinsicNotAllowed,
                whole.pos,
                path,
                "Fn::If cannot be used here",
            ));
            return Some(whole.clone());
        }
        let Some([cond, yes, no]) = self.list_arg(arg, 3, "Fn::If", path, d) else {
            return Some(whole.clone());
        };
        let Some(name) = cond.as_str() else {
            d.push(err(
                Code::IntrinsicShape,
                cond.pos,
                path,
                "Fn::If's first argument must be a condition name",
            ));
            return Some(whole.clone());
        };
        let Some(&value) = self.scope.conditions.get(name) else {
            let mut diag = err(
                Code::UnknownCondition,
                cond.pos,
                path,
                format!("condition '{name}' is not declared in Conditions"),
            );
            if let Some(s) = did_you_mean(name, self.scope.conditions.keys().map(String::as_str)) {
                diag = diag.help(format!("did you mean '{s}'?"));
            }
            d.push(diag);
            return Some(whole.clone());
        };
        let (taken, other, i) = if value { (yes, no, 1) } else { (no, yes, 2) };
        // The branch not taken is not evaluated, but what it names must still exist.
        self.scan_refs(other, &path.index(if value { 2 } else { 1 }), d);
        self.eval(taken, ctx, &path.index(i), d)
    }

    /// Checks that every name a subtree refers to is declared, without evaluating it.
    pub fn scan_refs(&self, n: &Node, path: &Path<'_>, d: &mut Diagnostics) {
        if self.scope.lenient {
            return;
        }
        n.walk(&mut |node| {
            let Some((k, arg)) = node.as_map().and_then(Map::single) else {
                return;
            };
            let declared = |name: &str| {
                self.scope.params.contains_key(name)
                    || self.scope.resources.contains_key(name)
                    || PSEUDO_PARAMETERS.contains(&name)
            };
            match (k, &arg.kind) {
                ("Ref", Kind::String(name)) if !declared(name) => {
                    d.push(self.unresolved(name, arg.pos, path, "Ref target"))
                }
                ("Fn::GetAtt", Kind::Seq(items)) => {
                    if let Some(id) = items.first().and_then(Node::as_str)
                        && !self.scope.resources.contains_key(id)
                    {
                        d.push(self.unresolved(id, arg.pos, path, "Fn::GetAtt resource"));
                    }
                }
                ("Fn::If", Kind::Seq(items)) => {
                    if let Some(c) = items.first().and_then(Node::as_str)
                        && !self.scope.conditions.contains_key(c)
                    {
                        d.push(err(
                            Code::UnknownCondition,
                            items[0].pos,
                            path,
                            format!("condition '{c}' is not declared in Conditions"),
                        ));
                    }
                }
                _ => {}
            }
        });
    }

    fn find_in_map(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let items = match arg.as_seq() {
            Some(items)
                if items.len() == 3 || (items.len() == 4 && self.scope.language_extensions) =>
            {
                items
            }
            _ => {
                d.push(err(
                    Code::IntrinsicShape,
                    arg.pos,
                    path,
                    "Fn::FindInMap takes [MapName, TopLevelKey, SecondLevelKey]",
                ));
                return Some(whole.clone());
            }
        };
        let default = match items.get(3) {
            Some(n) => match n.as_map().and_then(|m| m.get("DefaultValue")) {
                Some(dv) => Some(dv),
                None => {
                    d.push(err(
                        Code::IntrinsicShape,
                        n.pos,
                        path,
                        "Fn::FindInMap's fourth argument must be {DefaultValue: …}",
                    ));
                    return Some(whole.clone());
                }
            },
            None => None,
        };
        let mut keys = Vec::with_capacity(3);
        for (i, item) in items.iter().take(3).enumerate() {
            match self.eval_text(item, ctx, &path.index(i), d, "a Fn::FindInMap key") {
                Ok(Text::Known(s)) => keys.push(s),
                Ok(Text::Symbolic(_)) => {
                    d.push(err(
                        Code::IntrinsicNotAllowed,
                        item.pos,
                        path,
                        "Fn::FindInMap keys cannot depend on resources",
                    ));
                    return Some(whole.clone());
                }
                Err(()) => return Some(whole.clone()),
            }
        }
        let found = self
            .scope
            .mappings
            .and_then(|m| m.get(&keys[0]))
            .and_then(|m| m.as_map()?.get(&keys[1]))
            .and_then(|m| m.as_map()?.get(&keys[2]));
        match (found, default) {
            (Some(v), _) => {
                let mut v = v.clone();
                v.pos = whole.pos;
                Some(v)
            }
            (None, Some(dv)) => self.eval(dv, ctx, &path.index(3), d),
            (None, None) => {
                let mappings = self.scope.mappings;
                let msg = match mappings.and_then(|m| m.get(&keys[0])) {
                    None => {
                        let mut diag = err(
                            Code::MappingLookup,
                            whole.pos,
                            path,
                            format!("mapping '{}' is not declared in Mappings", keys[0]),
                        );
                        if let Some(s) = mappings.and_then(|m| did_you_mean(&keys[0], m.keys())) {
                            diag = diag.help(format!("did you mean '{s}'?"));
                        }
                        d.push(diag);
                        return Some(whole.clone());
                    }
                    Some(m) => match m.as_map().and_then(|m| m.get(&keys[1])) {
                        None => format!("mapping '{}' has no key '{}'", keys[0], keys[1]),
                        Some(_) => format!(
                            "mapping '{}' has no key '{}' under '{}'",
                            keys[0], keys[2], keys[1]
                        ),
                    },
                };
                d.push(err(Code::MappingLookup, whole.pos, path, msg));
                Some(whole.clone())
            }
        }
    }

    fn import_value(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let _ = ctx;
        let name = match self.eval_text(
            arg,
            Context::ExportName,
            path,
            d,
            "Fn::ImportValue's export name",
        ) {
            Ok(Text::Known(s)) => s,
            Ok(Text::Symbolic(_)) | Err(()) => return Some(whole.clone()),
        };
        match self.scope.exports.export(&name) {
            ExportAnswer::Found(v) => Some(Node::string(whole.pos, v)),
            ExportAnswer::Missing => {
                d.push(err(
                    Code::ImportUnresolved,
                    whole.pos,
                    path,
                    format!("no stack in this target exports '{name}'"),
                ));
                Some(whole.clone())
            }
            ExportAnswer::Unknown => {
                d.push(
                    Diagnostic::warning(
                        Code::ImportUnresolved,
                        format!(
                            "export '{name}' cannot be checked here: no target state is available"
                        ),
                    )
                    .at(whole.pos)
                    .path(path.to_string()),
                );
                Some(Node::call(
                    whole.pos,
                    "Fn::ImportValue",
                    Node::string(arg.pos, name),
                ))
            }
        }
    }

    fn cidr(
        &mut self,
        arg: &Node,
        whole: &Node,
        ctx: Context,
        path: &Path<'_>,
        d: &mut Diagnostics,
    ) -> Out {
        let Some([block, count, bits]) = self.list_arg(arg, 3, "Fn::Cidr", path, d) else {
            return Some(whole.clone());
        };
        let mut texts = Vec::new();
        for (i, n) in [block, count, bits].into_iter().enumerate() {
            match self.eval_text(n, ctx, &path.index(i), d, "a Fn::Cidr argument") {
                Ok(Text::Known(s)) => texts.push(Node::string(n.pos, s)),
                Ok(Text::Symbolic(v)) => texts.push(v),
                Err(()) => return Some(whole.clone()),
            }
        }
        if texts.iter().any(is_symbolic) {
            return Some(Node::call(whole.pos, "Fn::Cidr", Node::seq(arg.pos, texts)));
        }
        let s = |i: usize| texts[i].as_str().unwrap_or_default().to_owned();
        match cidr_subnets(&s(0), &s(1), &s(2)) {
            Ok(list) => Some(Node::seq(
                whole.pos,
                list.into_iter()
                    .map(|c| Node::string(whole.pos, c))
                    .collect(),
            )),
            Err(msg) => {
                d.push(err(
                    Code::IntrinsicShape,
                    whole.pos,
                    path,
                    format!("Fn::Cidr: {msg}"),
                ));
                Some(whole.clone())
            }
        }
    }

    /// Replaces `{{resolve:ssm:…}}` (and `ssm-secure`) references inside a string.
    fn dynamic_refs(&mut self, s: &str, pos: Pos, path: &Path<'_>, d: &mut Diagnostics) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{resolve:") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                d.push(err(
                    Code::DynamicReference,
                    pos,
                    path,
                    "unterminated dynamic reference ({{resolve:… without }})",
                ));
                out.push_str(&rest[start..]);
                return out;
            };
            let body = &after[..end];
            rest = &after[end + 2..];
            match self.resolve_dynamic(body) {
                Ok(v) => out.push_str(&v),
                Err(msg) => {
                    d.push(err(Code::DynamicReference, pos, path, msg));
                    out.push_str("{{");
                    out.push_str(body);
                    out.push_str("}}");
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn resolve_dynamic(&mut self, body: &str) -> Result<String, String> {
        // body = "resolve:service:reference"
        let rest = body.strip_prefix("resolve:").unwrap_or(body);
        let (service, reference) = rest
            .split_once(':')
            .ok_or_else(|| format!("malformed dynamic reference '{{{{{body}}}}}'"))?;
        match service {
            "ssm" | "ssm-secure" => {
                let (name, version) = match reference.rsplit_once(':') {
                    Some((n, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                        (n, v.parse::<u64>().ok())
                    }
                    _ => (reference, None),
                };
                let name = name.split_once(":parameter").map_or(name, |(_, n)| n);
                let p = self
                    .scope
                    .ssm
                    .get(name, version)
                    .ok_or_else(|| match version {
                        Some(v) => format!(
                            "SSM parameter '{name}' version {v} is not in the local parameter store"
                        ),
                        None => {
                            format!("SSM parameter '{name}' is not in the local parameter store")
                        }
                    })?;
                if service == "ssm" && p.kind == SsmKind::SecureString {
                    return Err(format!(
                        "SSM parameter '{name}' is a SecureString: use {{{{resolve:ssm-secure:{name}}}}}"
                    ));
                }
                if service == "ssm-secure" {
                    self.secrets.add(&p.value);
                }
                Ok(p.value)
            }
            "secretsmanager" => Err(
                "{{resolve:secretsmanager:…}} dynamic references are not supported by Slipway yet"
                    .into(),
            ),
            other => Err(format!(
                "unknown dynamic reference service '{other}' (expected ssm, ssm-secure or secretsmanager)"
            )),
        }
    }

    /// Evaluates one named condition's expression (the Conditions section).
    pub fn condition_fn(
        &mut self,
        n: &Node,
        path: &Path<'_>,
        d: &mut Diagnostics,
        stack: &mut Vec<String>,
    ) -> Option<bool> {
        let Some((name, arg)) = n.as_map().and_then(Map::single) else {
            d.push(err(
                Code::IntrinsicShape,
                n.pos,
                path,
                "a condition must be Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition",
            ));
            return None;
        };
        let fpath = path.key(name);
        match name {
            "Fn::Equals" => {
                let [a, b] = self.list_arg(arg, 2, "Fn::Equals", &fpath, d)? else {
                    return None;
                };
                let a = self.eval(a, Context::Conditions, &fpath.index(0), d)?;
                let b = self.eval(b, Context::Conditions, &fpath.index(1), d)?;
                if is_symbolic(&a) || is_symbolic(&b) {
                    return None;
                }
                Some(comparable(&a) == comparable(&b))
            }
            "Fn::And" | "Fn::Or" => {
                let items = match arg.as_seq() {
                    Some(items) if (2..=10).contains(&items.len()) => items,
                    _ => {
                        d.push(err(
                            Code::IntrinsicShape,
                            arg.pos,
                            &fpath,
                            format!("{name} takes a list of 2 to 10 conditions"),
                        ));
                        return None;
                    }
                };
                let mut values = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    values.push(self.condition_fn(item, &fpath.index(i), d, stack)?);
                }
                Some(if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Fn::Not" => {
                let [inner] = self.list_arg(arg, 1, "Fn::Not", &fpath, d)? else {
                    return None;
                };
                Some(!self.condition_fn(inner, &fpath.index(0), d, stack)?)
            }
            "Condition" => {
                let Some(c) = arg.as_str() else {
                    d.push(err(
                        Code::IntrinsicShape,
                        arg.pos,
                        &fpath,
                        "Condition takes a condition name",
                    ));
                    return None;
                };
                self.named_condition(c, arg.pos, &fpath, d, stack)
            }
            other => {
                d.push(err(
                    Code::IntrinsicNotAllowed,
                    n.pos,
                    path,
                    format!("{other} cannot be used as a condition (use Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition)"),
                ));
                None
            }
        }
    }

    /// A `Condition: Name` inside a condition. Conditions are evaluated in dependency order
    /// (see `template::resolve_conditions`), so the named one is known unless it was undeclared
    /// or in a cycle, both reported there.
    fn named_condition(
        &mut self,
        name: &str,
        pos: Pos,
        path: &Path<'_>,
        d: &mut Diagnostics,
        stack: &mut Vec<String>,
    ) -> Option<bool> {
        let _ = (pos, path, d, stack);
        self.scope.conditions.get(name).copied()
    }
}

/// The delimiter of `Fn::Join` / `Fn::Split`, which must be written as a literal.
fn literal_delimiter(
    delim: &Node,
    function: &str,
    path: &Path<'_>,
    d: &mut Diagnostics,
) -> Option<String> {
    let s = delim.scalar_text();
    if s.is_none() {
        d.push(err(
            Code::IntrinsicShape,
            delim.pos,
            path,
            format!("{function}'s delimiter must be a literal string"),
        ));
    }
    s
}

enum Text {
    Known(String),
    Symbolic(Node),
}

enum SubVar {
    Known(String),
    Symbolic,
    Failed,
}

/// The value used to compare in `Fn::Equals`: scalars by their text, lists element by element.
fn comparable(n: &Node) -> serde_json::Value {
    match &n.kind {
        Kind::Seq(items) => items.iter().map(comparable).collect(),
        Kind::Map(_) => n.to_json(),
        Kind::Null => serde_json::Value::String(String::new()),
        Kind::Bool(_) | Kind::Number(_) | Kind::String(_) => {
            serde_json::Value::String(n.scalar_text().unwrap_or_default())
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SubSegment {
    Literal(String),
    Var(String),
}

/// Splits a `Fn::Sub` template into literal text and `${Name}` variables; `${!Text}` is the
/// literal `${Text}`.
pub fn parse_sub(s: &str) -> Result<Vec<SubSegment>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unterminated '${{' in Fn::Sub string '{s}'"));
        };
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            lit.push_str("${");
            lit.push_str(literal);
            lit.push('}');
        } else {
            if name.is_empty() {
                return Err("empty '${}' in Fn::Sub string".into());
            }
            if !lit.is_empty() {
                out.push(SubSegment::Literal(std::mem::take(&mut lit)));
            }
            out.push(SubSegment::Var(name.trim().to_owned()));
        }
        rest = &after[end + 1..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(SubSegment::Literal(lit));
    }
    Ok(out)
}

fn escape_sub(s: &str) -> String {
    s.replace("${", "${!")
}

fn unescape_sub(s: &str) -> String {
    s.replace("${!", "${")
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// `Fn::Cidr`: `count` subnets of `2^bits` addresses carved in order from `block` (IPv4 or IPv6).
pub fn cidr_subnets(block: &str, count: &str, bits: &str) -> Result<Vec<String>, String> {
    let (addr, prefix) = block
        .split_once('/')
        .ok_or_else(|| format!("'{block}' is not a CIDR block"))?;
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| format!("'{block}' has an invalid prefix length"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("count '{count}' is not a number"))?;
    let bits: u32 = bits
        .trim()
        .parse()
        .map_err(|_| format!("cidrBits '{bits}' is not a number"))?;
    if !(1..=256).contains(&count) {
        return Err(format!("count must be between 1 and 256, not {count}"));
    }
    let (value, width, v6): (u128, u32, bool) = if let Ok(ip) = addr.parse::<std::net::Ipv4Addr>() {
        (u128::from(u32::from(ip)), 32, false)
    } else if let Ok(ip) = addr.parse::<std::net::Ipv6Addr>() {
        (u128::from(ip), 128, true)
    } else {
        return Err(format!("'{addr}' is not an IP address"));
    };
    if prefix > width || bits == 0 || bits > width - prefix {
        return Err(format!("cidrBits {bits} does not fit in a /{prefix} block"));
    }
    let new_prefix = width - bits;
    let available: u128 = 1u128 << (new_prefix - prefix).min(127);
    if u128::from(count) > available {
        return Err(format!(
            "a /{prefix} holds only {available} subnets of /{new_prefix}, not {count}"
        ));
    }
    let mask: u128 = if prefix == 0 {
        0
    } else {
        (!0u128 << (width - prefix))
            & if width == 128 {
                !0
            } else {
                (1u128 << width) - 1
            }
    };
    let base = value & mask;
    let step = 1u128 << bits;
    Ok((0..u128::from(count))
        .map(|i| {
            let net = base + i * step;
            if v6 {
                format!("{}/{new_prefix}", std::net::Ipv6Addr::from(net))
            } else {
                format!("{}/{new_prefix}", std::net::Ipv4Addr::from(net as u32))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_segments() {
        assert_eq!(
            parse_sub("a${B}c${!D}e${F.G}").unwrap(),
            vec![
                SubSegment::Literal("a".into()),
                SubSegment::Var("B".into()),
                SubSegment::Literal("c${D}e".into()),
                SubSegment::Var("F.G".into()),
            ]
        );
        assert!(parse_sub("a${B").is_err());
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn cidr_matches_cloudformation_examples() {
        // CloudFormation's documented example: !Cidr ["192.168.0.0/24", 6, 5].
        assert_eq!(
            cidr_subnets("192.168.0.0/24", "6", "5").unwrap(),
            vec![
                "192.168.0.0/27",
                "192.168.0.32/27",
                "192.168.0.64/27",
                "192.168.0.96/27",
                "192.168.0.128/27",
                "192.168.0.160/27"
            ]
        );
        assert_eq!(
            cidr_subnets("2001:db8::/56", "2", "64").unwrap(),
            vec!["2001:db8::/64", "2001:db8:0:1::/64"]
        );
        assert!(cidr_subnets("10.0.0.0/24", "9", "5").is_err());
    }

    #[test]
    fn secrets_are_masked() {
        let mut s = Secrets::default();
        s.add("hunter2");
        assert_eq!(s.mask("pw=hunter2;"), "pw=*****;");
    }
}
