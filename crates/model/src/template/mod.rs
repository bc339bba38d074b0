//! The template engine: a SAM or CloudFormation template, as written, turned into a resolved,
//! deterministic resource graph — or into every problem found, at once.
//!
//! The stages, in order (each one keeps going after a problem so that one run reports all):
//!
//! 1. **Read** ([`crate::syntax`]): YAML or JSON into positioned nodes, short-form tags as
//!    `Fn::` maps.
//! 2. **Split** ([`raw`]): sections and resource attributes checked for shape.
//! 3. **Parameters** ([`params`]): declarations, values (Default < template configuration <
//!    overrides), SSM lookups, constraints.
//! 4. **Conditions**: evaluated in dependency order; a cycle is an error.
//! 5. **SAM** ([`sam`]), when `Transform: AWS::Serverless-2016-10-31` is declared: Globals
//!    merged, SAM resources' properties evaluated *leniently* (references to resources SAM will
//!    generate stay symbolic), then expanded into plain CloudFormation with SAM's logical IDs;
//!    `!Ref Fn.Version` / `!Ref Fn.Alias` rewritten to the generated IDs.
//! 6. **Resources and outputs** ([`eval`]): every property evaluated as far as it can be before
//!    deployment, strictly (every name must exist); each type checked against its [`schema`].
//! 7. **Graph**: dependencies from `Ref`, `Fn::GetAtt`, `Fn::Sub` and `DependsOn`, cycles
//!    reported with their members, a deterministic topological order for deployment.
//!
//! The result, [`Template`], is the second of the three forms of a user document (written →
//! resolved → deployed). References to resources stay in CloudFormation syntax; the deploy
//! engine evaluates them again with physical IDs ([`eval::PhysicalValues`]).

pub mod capabilities;
pub mod eval;
mod graph;
pub mod hash;
pub mod jinja;
pub mod params;
pub mod path;
pub mod raw;
mod sam;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde_json::{Value, json};

pub use self::eval::{
    AttributeCheck, Context, ExportAnswer, ExportLookup, NoExports, NotDeployed, PhysicalValues,
    Pseudo, ResourceDecl, Secrets,
};
pub use self::params::{
    GivenValue, JsonParameterStore, NoParameters, ParamType, ParamValue, ParameterStore,
    ResolvedParam, SsmKind, SsmParameter, TemplateConfiguration, ValueSource, parse_overrides,
};
use self::path::Path;
pub use self::raw::{LANGUAGE_EXTENSIONS, SAM_TRANSFORM};
use self::raw::{RawResource, RawTemplate};
pub use self::sam::LOCAL_CODE_BUCKET;
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Node, TagMode, parse_document};

/// Reads files a template points at (`DefinitionUri`, `CodeUri` checks), relative to the
/// template's directory. The model does no I/O itself: the caller decides what may be read.
pub trait FileSource {
    fn read(&self, relative: &str) -> Result<String, String>;
}

/// No files can be read (every `DefinitionUri` is an error).
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read(&self, relative: &str) -> Result<String, String> {
        Err(format!("'{relative}' cannot be read here"))
    }
}

impl FileSource for BTreeMap<String, String> {
    fn read(&self, relative: &str) -> Result<String, String> {
        self.get(relative)
            .cloned()
            .ok_or_else(|| format!("no such file '{relative}'"))
    }
}

/// Everything resolution needs besides the template text.
pub struct Options<'a> {
    /// The name diagnostics use for the template (`template.yaml`).
    pub file: String,
    pub account: String,
    pub region: String,
    pub stack_name: String,
    /// `--parameter-overrides`, in the order given (later ones win).
    pub overrides: Vec<(String, String)>,
    /// A CodePipeline template configuration file (`{"Parameters": {…}}`).
    pub template_configuration: Option<TemplateConfiguration>,
    /// Values the stack had before, for parameters deployed with `UsePreviousValue`.
    pub previous: BTreeMap<String, String>,
    pub parameter_store: &'a dyn ParameterStore,
    pub exports: &'a dyn ExportLookup,
    pub files: &'a dyn FileSource,
    /// Resource types accepted as inert records although Slipway cannot run them
    /// (`--accept-type`).
    pub inert_types: BTreeSet<String>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            file: "template.yaml".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack_name: "stack".into(),
            overrides: Vec::new(),
            template_configuration: None,
            previous: BTreeMap::new(),
            parameter_store: &NoParameters,
            exports: &NoExports,
            files: &NoFiles,
            inert_types: BTreeSet::new(),
        }
    }
}

/// `DeletionPolicy` / `UpdateReplacePolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Policy {
    Delete,
    Retain,
    Snapshot,
    RetainExceptOnCreate,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "Delete" => Policy::Delete,
            "Retain" => Policy::Retain,
            "Snapshot" => Policy::Snapshot,
            "RetainExceptOnCreate" => Policy::RetainExceptOnCreate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Delete => "Delete",
            Policy::Retain => "Retain",
            Policy::Snapshot => "Snapshot",
            Policy::RetainExceptOnCreate => "RetainExceptOnCreate",
        }
    }
}

/// One resource of the resolved template.
#[derive(Clone, Debug)]
pub struct Resource {
    pub logical_id: String,
    pub type_: String,
    /// Where the resource (or the SAM resource that generated it) is written.
    pub pos: Pos,
    /// Evaluated properties (a mapping); references to resources stay symbolic.
    pub properties: Node,
    /// `DependsOn` as written.
    pub depends_on: Vec<String>,
    /// Every resource this one needs first: `DependsOn` plus every reference.
    pub dependencies: BTreeSet<String>,
    pub condition: Option<String>,
    pub deletion_policy: Option<Policy>,
    pub update_replace_policy: Option<Policy>,
    pub update_policy: Option<Node>,
    pub creation_policy: Option<Node>,
    pub metadata: Option<Node>,
    /// For resources the SAM transform generated: the SAM resource's logical ID.
    pub generated_by: Option<String>,
    /// Accepted with `--accept-type`: recorded, never run.
    pub inert: bool,
}

#[derive(Clone, Debug)]
pub struct Output {
    pub name: String,
    pub pos: Pos,
    pub description: Option<String>,
    pub value: Node,
    /// The export name, evaluated (a string unless it could not be).
    pub export_name: Option<Node>,
    pub condition: Option<String>,
}

/// A resolved template: the input of planning and deployment.
#[derive(Clone, Debug)]
pub struct Template {
    pub description: Option<String>,
    pub transforms: Vec<String>,
    pub parameters: BTreeMap<String, ResolvedParam>,
    pub conditions: BTreeMap<String, bool>,
    /// Resources that will exist (their condition holds), in template order; SAM-generated
    /// resources take the place of the SAM resource they came from.
    pub resources: IndexMap<String, Resource>,
    /// Resources declared but not created because their condition is false.
    pub skipped: Vec<String>,
    pub outputs: IndexMap<String, Output>,
    /// A deterministic deployment order: dependencies first, ties in template order.
    pub order: Vec<String>,
    pub pseudo: Pseudo,
    /// Values that every output of this template must mask.
    pub secrets: Secrets,
}

/// What [`resolve`] returns: the template when there are no errors, and every diagnostic
/// (warnings included), sorted by position.
#[derive(Debug)]
pub struct Outcome {
    pub template: Option<Template>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Resolves a template's text. Never panics; every problem is a diagnostic.
pub fn resolve(text: &str, opts: &Options<'_>) -> Outcome {
    let (template, diagnostics) = resolve_despite_errors(text, opts);
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    Outcome {
        template: if failed { None } else { template },
        diagnostics,
    }
}

/// [`resolve`], but the template comes back even when resolution found errors, as far as it
/// got: a parameter without a valid value stands in as an empty string (or list), and a
/// property whose value failed to evaluate may be missing. For checks that should report
/// their own problems in the same pass as the resolver's (`slipway pipeline import` runs the
/// pipeline importer on it) — never to plan or deploy from. `None` only when the text did not
/// parse into a template at all.
pub fn resolve_despite_errors(
    text: &str,
    opts: &Options<'_>,
) -> (Option<Template>, Vec<Diagnostic>) {
    let mut diags = Diagnostics::for_file(opts.file.clone());
    let template = resolve_into(text, opts, &mut diags);
    let mut diagnostics = diags.into_sorted();
    if let Some(t) = &template
        && !t.secrets.is_empty()
    {
        for d in &mut diagnostics {
            d.message = t.secrets.mask(&d.message);
            if let Some(h) = &d.help {
                d.help = Some(t.secrets.mask(h));
            }
        }
    }
    (template, diagnostics)
}

fn resolve_into(text: &str, opts: &Options<'_>, diags: &mut Diagnostics) -> Option<Template> {
    let parsed = parse_document(text, TagMode::CloudFormation);
    diags.extend(parsed.diagnostics);
    let root = parsed.root?;
    let mut raw = raw::parse(&root, diags)?;

    // Parameters.
    let decls = params::parse_decls(&raw.parameters, diags);
    let mut given: BTreeMap<String, GivenValue> = BTreeMap::new();
    for (k, v) in &opts.previous {
        given.insert(
            k.clone(),
            GivenValue {
                value: v.clone(),
                source: ValueSource::Previous,
            },
        );
    }
    if let Some(tc) = &opts.template_configuration {
        for (k, v) in &tc.parameters {
            given.insert(
                k.clone(),
                GivenValue {
                    value: v.clone(),
                    source: ValueSource::TemplateConfiguration,
                },
            );
        }
    }
    for (k, v) in &opts.overrides {
        given.insert(
            k.clone(),
            GivenValue {
                value: v.clone(),
                source: ValueSource::Override,
            },
        );
    }
    let parameters = params::resolve(&decls, &given, opts.parameter_store, diags);
    // A parameter whose value failed its checks is still declared: later stages must not
    // report references to it as unknown. It is left out of `parameters`, so give it a stand-in.
    let mut scope_params = parameters.clone();
    for (name, decl) in &decls {
        scope_params
            .entry(name.clone())
            .or_insert_with(|| ResolvedParam {
                decl: decl.clone(),
                value: if decl.type_.is_list() {
                    ParamValue::List(Vec::new())
                } else {
                    ParamValue::String(String::new())
                },
                given: String::new(),
                source: ValueSource::Default,
            });
    }

    let pseudo = Pseudo::new(&opts.account, &opts.region, &opts.stack_name);
    let language_extensions = raw.transforms.iter().any(|(n, _)| n == LANGUAGE_EXTENSIONS);
    let sam = raw.transforms.iter().any(|(n, _)| n == SAM_TRANSFORM);
    let mappings = raw.mappings.as_ref().and_then(Node::as_map).cloned();
    let attr_check = |t: &str, a: &str| schema::attribute_check(t, a);

    // Conditions, in dependency order.
    // Resources are named so that a condition referring to one is told it may not, rather
    // than that the name is unknown.
    let declared_resources = resource_decls(&raw.resources, &BTreeMap::new());
    let conditions = resolve_conditions(
        &raw,
        &ConditionEnv {
            params: &scope_params,
            pseudo: &pseudo,
            mappings: mappings.as_ref(),
            resources: &declared_resources,
            opts,
            language_extensions,
            attr_check: &attr_check,
        },
        diags,
    );

    // Every declared name, for checks that run before SAM expansion.
    check_resource_conditions(&raw, &conditions, diags);

    let mut secrets = Secrets::default();

    // SAM.
    let mut refs = BTreeMap::new();
    if sam {
        sam::merge_globals(&mut raw, diags);
        let decls_before = resource_decls(&raw.resources, &conditions);
        let scope = eval::Scope {
            params: &scope_params,
            pseudo: &pseudo,
            mappings: mappings.as_ref(),
            conditions: &conditions,
            resources: &decls_before,
            physical: &NotDeployed,
            exports: opts.exports,
            ssm: opts.parameter_store,
            language_extensions,
            has_attribute: &attr_check,
            lenient: true,
        };
        let mut ev = eval::Evaluator::new(&scope);
        let resources = std::mem::take(&mut raw.resources);
        let mut evaluated = IndexMap::new();
        for (id, mut r) in resources {
            if r.type_.starts_with("AWS::Serverless::") && condition_holds(&r, &conditions) {
                let root = Path::root("Resources");
                let rpath = root.key(&id);
                let ppath = rpath.key("Properties");
                // A dry run of the strict pass reports nothing here; strictness comes later.
                r.properties = ev
                    .eval(&r.properties, Context::Properties, &ppath, diags)
                    .unwrap_or_else(|| Node::map(r.pos, crate::syntax::Map::new()));
            }
            evaluated.insert(id, r);
        }
        absorb(&mut secrets, &ev.secrets);
        let expanded = sam::transform(
            evaluated,
            &sam::SamEnv {
                pseudo: &pseudo,
                params: &scope_params,
                conditions: &conditions,
                files: opts.files,
            },
            diags,
        );
        raw.resources = expanded.resources;
        refs = expanded.refs;
    } else {
        for (id, r) in &raw.resources {
            if r.type_.starts_with("AWS::Serverless::") {
                diags.push(
                    Diagnostic::error(
                        Code::UnsupportedTransform,
                        format!("{} needs 'Transform: {SAM_TRANSFORM}'", r.type_),
                    )
                    .at(r.type_pos)
                    .path(format!("Resources.{id}.Type")),
                );
            }
        }
    }
    if !refs.is_empty() {
        for r in raw.resources.values_mut() {
            rewrite_refs(&mut r.properties, &refs);
            for n in [&mut r.metadata, &mut r.update_policy]
                .into_iter()
                .flatten()
            {
                rewrite_refs(n, &refs);
            }
        }
        for o in raw.outputs.values_mut() {
            for n in [&mut o.value, &mut o.export_name].into_iter().flatten() {
                rewrite_refs(n, &refs);
            }
        }
    }

    // Resources, strictly.
    let decls_after = resource_decls(&raw.resources, &conditions);
    let scope = eval::Scope {
        params: &scope_params,
        pseudo: &pseudo,
        mappings: mappings.as_ref(),
        conditions: &conditions,
        resources: &decls_after,
        physical: &NotDeployed,
        exports: opts.exports,
        ssm: opts.parameter_store,
        language_extensions,
        has_attribute: &attr_check,
        lenient: false,
    };
    let mut ev = eval::Evaluator::new(&scope);
    let mut resources = IndexMap::new();
    let mut skipped = Vec::new();
    let root = Path::root("Resources");
    for (id, r) in &raw.resources {
        let rpath = root.key(id);
        if !condition_holds(r, &conditions) {
            ev.scan_refs(&r.properties, &rpath.key("Properties"), diags);
            skipped.push(id.clone());
            continue;
        }
        if let Some(res) = resolve_resource(id, r, &mut ev, opts, &rpath, diags) {
            resources.insert(id.clone(), res);
        }
    }

    // Outputs.
    let mut outputs = IndexMap::new();
    let oroot = Path::root("Outputs");
    let mut export_names: BTreeMap<String, Pos> = BTreeMap::new();
    for (name, o) in &raw.outputs {
        let opath = oroot.key(name);
        if let Some((c, cpos)) = &o.condition {
            match conditions.get(c) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    diags.push(unknown_condition(
                        c,
                        *cpos,
                        &opath.key("Condition"),
                        &conditions,
                    ));
                    continue;
                }
            }
        }
        let Some(value_node) = &o.value else { continue };
        let value = ev.eval(value_node, Context::Outputs, &opath.key("Value"), diags);
        let Some(value) = value else {
            diags.push(
                Diagnostic::error(
                    Code::OutputInvalid,
                    "an output's Value cannot be AWS::NoValue",
                )
                .at(value_node.pos)
                .path(opath.key("Value").to_string()),
            );
            continue;
        };
        let description = o.description.as_ref().and_then(|d| {
            if d.intrinsic().is_some() {
                diags.push(
                    Diagnostic::error(
                        Code::IntrinsicNotAllowed,
                        "an output's Description must be a literal string",
                    )
                    .at(d.pos)
                    .path(opath.key("Description").to_string()),
                );
                None
            } else {
                d.scalar_text()
            }
        });
        let epath = opath.key("Export");
        let export_name = o
            .export_name
            .as_ref()
            .and_then(|n| ev.eval(n, Context::ExportName, &epath.key("Name"), diags));
        if let Some(e) = &export_name
            && let Some(s) = e.as_str()
        {
            if let Some(first) = export_names.get(s) {
                diags.push(
                    Diagnostic::error(
                        Code::OutputInvalid,
                        format!("export name '{s}' is used twice"),
                    )
                    .at(e.pos)
                    .path(epath.key("Name").to_string())
                    .related("first used here", Some(*first)),
                );
            } else {
                export_names.insert(s.to_owned(), e.pos);
            }
        }
        outputs.insert(
            name.clone(),
            Output {
                name: name.clone(),
                pos: o.pos,
                description,
                value,
                export_name,
                condition: o.condition.as_ref().map(|(c, _)| c.clone()),
            },
        );
    }
    absorb(&mut secrets, &ev.secrets);

    // Graph.
    let order = graph::link(&mut resources, &outputs, diags);

    Some(Template {
        description: raw.description.clone(),
        transforms: raw.transforms.iter().map(|(n, _)| n.clone()).collect(),
        parameters,
        conditions,
        resources,
        skipped,
        outputs,
        order,
        pseudo,
        secrets,
    })
}

fn absorb(into: &mut Secrets, from: &Secrets) {
    for v in from.values() {
        into.add(v);
    }
}

fn condition_holds(r: &RawResource, conditions: &BTreeMap<String, bool>) -> bool {
    match &r.condition {
        None => true,
        Some((c, _)) => conditions.get(c).copied().unwrap_or(true),
    }
}

fn resource_decls(
    resources: &IndexMap<String, RawResource>,
    conditions: &BTreeMap<String, bool>,
) -> BTreeMap<String, ResourceDecl> {
    resources
        .iter()
        .map(|(id, r)| {
            (
                id.clone(),
                ResourceDecl {
                    type_: r.type_.clone(),
                    active: condition_holds(r, conditions),
                    condition: r.condition.as_ref().map(|(c, _)| c.clone()),
                },
            )
        })
        .collect()
}

fn unknown_condition(
    name: &str,
    pos: Pos,
    path: &Path<'_>,
    conditions: &BTreeMap<String, bool>,
) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::UnknownCondition,
        format!("condition '{name}' is not declared in Conditions"),
    )
    .at(pos)
    .path(path.to_string());
    if let Some(s) = did_you_mean(name, conditions.keys().map(String::as_str)) {
        d = d.help(format!("did you mean '{s}'?"));
    }
    d
}

fn check_resource_conditions(
    raw: &RawTemplate,
    conditions: &BTreeMap<String, bool>,
    diags: &mut Diagnostics,
) {
    let root = Path::root("Resources");
    for (id, r) in &raw.resources {
        if let Some((c, pos)) = &r.condition
            && !conditions.contains_key(c)
        {
            diags.push(unknown_condition(
                c,
                *pos,
                &root.key(id).key("Condition"),
                conditions,
            ));
        }
    }
}

struct ConditionEnv<'e, 'a> {
    params: &'e BTreeMap<String, ResolvedParam>,
    pseudo: &'e Pseudo,
    mappings: Option<&'e crate::syntax::Map>,
    resources: &'e BTreeMap<String, ResourceDecl>,
    opts: &'e Options<'a>,
    language_extensions: bool,
    attr_check: &'e dyn Fn(&str, &str) -> AttributeCheck,
}

/// Evaluates the Conditions section: each condition after the ones it names with `Condition`,
/// a cycle reported once with its members. A condition that cannot be decided (an error in it)
/// counts as false so that checking goes on.
fn resolve_conditions(
    raw: &RawTemplate,
    env: &ConditionEnv<'_, '_>,
    diags: &mut Diagnostics,
) -> BTreeMap<String, bool> {
    // Dependencies between conditions.
    let mut deps: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for (name, (_, node)) in &raw.conditions {
        let mut names = Vec::new();
        node.walk(&mut |n| {
            if let Some(("Condition", arg)) = n.as_map().and_then(crate::syntax::Map::single)
                && let Some(s) = arg.as_str()
            {
                names.push(s);
            }
        });
        deps.insert(name.as_str(), names);
    }
    // Order them; a condition in a cycle is reported and treated as false.
    let mut order: Vec<&str> = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 = visiting, 2 = done
    let mut cyclic: BTreeSet<&str> = BTreeSet::new();
    fn visit<'n>(
        name: &'n str,
        deps: &IndexMap<&'n str, Vec<&'n str>>,
        state: &mut BTreeMap<&'n str, u8>,
        stack: &mut Vec<&'n str>,
        order: &mut Vec<&'n str>,
        cycles: &mut Vec<Vec<&'n str>>,
    ) {
        match state.get(name) {
            Some(2) => return,
            Some(_) => {
                if let Some(i) = stack.iter().position(|s| *s == name) {
                    cycles.push(stack[i..].to_vec());
                }
                return;
            }
            None => {}
        }
        let Some(ds) = deps.get(name) else { return };
        state.insert(name, 1);
        stack.push(name);
        for d in ds {
            visit(d, deps, state, stack, order, cycles);
        }
        stack.pop();
        state.insert(name, 2);
        order.push(name);
    }
    let mut cycles = Vec::new();
    for name in deps.keys() {
        visit(
            name,
            &deps,
            &mut state,
            &mut Vec::new(),
            &mut order,
            &mut cycles,
        );
    }
    for cycle in cycles {
        let first = cycle[0];
        let pos = raw
            .conditions
            .get(first)
            .map(|(p, _)| *p)
            .unwrap_or_default();
        let mut shown: Vec<&str> = cycle.clone();
        shown.push(first);
        diags.push(
            Diagnostic::error(
                Code::Cycle,
                format!(
                    "conditions refer to each other in a cycle: {}",
                    shown.join(" → ")
                ),
            )
            .at(pos)
            .path(format!("Conditions.{first}")),
        );
        cyclic.extend(cycle);
    }

    let mut values: BTreeMap<String, bool> = BTreeMap::new();
    let root = Path::root("Conditions");
    for name in order {
        let (_, node) = &raw.conditions[name];
        if cyclic.contains(name) {
            values.insert(name.to_owned(), false);
            continue;
        }
        let scope = eval::Scope {
            params: env.params,
            pseudo: env.pseudo,
            mappings: env.mappings,
            conditions: &values,
            resources: env.resources,
            physical: &NotDeployed,
            exports: env.opts.exports,
            ssm: env.opts.parameter_store,
            language_extensions: env.language_extensions,
            has_attribute: env.attr_check,
            lenient: false,
        };
        let mut ev = eval::Evaluator::new(&scope);
        let cpath = root.key(name);
        let before = diags.error_count();
        // Names a condition refers to must be declared.
        node.walk(&mut |n| {
            if let Some(("Condition", arg)) = n.as_map().and_then(crate::syntax::Map::single)
                && let Some(s) = arg.as_str()
                && !raw.conditions.contains_key(s)
            {
                let mut d = Diagnostic::error(
                    Code::UnknownCondition,
                    format!("condition '{s}' is not declared in Conditions"),
                )
                .at(arg.pos)
                .path(cpath.to_string());
                if let Some(c) = did_you_mean(s, raw.conditions.keys().map(String::as_str)) {
                    d = d.help(format!("did you mean '{c}'?"));
                }
                diags.push(d);
            }
        });
        let v = ev.condition_fn(node, &cpath, diags, &mut Vec::new());
        match v {
            Some(b) => {
                values.insert(name.to_owned(), b);
            }
            None => {
                if diags.error_count() == before {
                    diags.push(
                        Diagnostic::error(
                            Code::IntrinsicShape,
                            format!("condition '{name}' cannot be decided before deployment"),
                        )
                        .at(node.pos)
                        .path(cpath.to_string()),
                    );
                }
                values.insert(name.to_owned(), false);
            }
        }
    }
    values
}

/// `{"Ref": "Fn.Version"}` → `{"Ref": "FnVersion1a2b3c4d5e"}` (and the same inside `Fn::Sub`
/// and for `Fn::GetAtt`'s logical ID).
fn rewrite_refs(n: &mut Node, refs: &BTreeMap<String, String>) {
    use crate::syntax::Kind;
    match &mut n.kind {
        Kind::Map(m) => {
            if m.len() == 1 {
                if let Some(arg) = m.get_mut("Ref") {
                    if let Some(to) = arg.as_str().and_then(|s| refs.get(s)) {
                        arg.kind = Kind::String(to.clone());
                    }
                    return;
                }
                if let Some(arg) = m.get_mut("Fn::Sub") {
                    let text = match &mut arg.kind {
                        Kind::String(_) => Some(arg),
                        Kind::Seq(items) => items.first_mut(),
                        Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::Map(_) => None,
                    };
                    if let Some(t) = text
                        && let Kind::String(s) = &mut t.kind
                    {
                        for (from, to) in refs {
                            let pat = format!("${{{from}}}");
                            if s.contains(&pat) {
                                *s = s.replace(&pat, &format!("${{{to}}}"));
                            }
                        }
                    }
                }
            }
            for (_, v) in m.iter_mut() {
                rewrite_refs(v, refs);
            }
        }
        Kind::Seq(items) => items.iter_mut().for_each(|i| rewrite_refs(i, refs)),
        Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) => {}
    }
}

fn resolve_resource(
    id: &str,
    r: &RawResource,
    ev: &mut eval::Evaluator<'_, '_>,
    opts: &Options<'_>,
    rpath: &Path<'_>,
    diags: &mut Diagnostics,
) -> Option<Resource> {
    let ppath = rpath.key("Properties");
    let properties = ev
        .eval(&r.properties, Context::Properties, &ppath, diags)
        .unwrap_or_else(|| Node::map(r.pos, crate::syntax::Map::new()));
    let mut inert = false;
    match schema::lookup(&r.type_) {
        Some(s) => {
            if properties.as_map().is_some() {
                schema::check_properties_node(s, &properties, &ppath, diags);
            }
        }
        None if opts.inert_types.contains(&r.type_) => inert = true,
        // Without the SAM transform this was reported as needing it.
        None if r.type_.starts_with("AWS::Serverless::") => {}
        None => {
            let mut d = Diagnostic::error(
                Code::UnsupportedResourceType,
                format!(
                    "resource type '{}' is not supported by Slipway yet",
                    r.type_
                ),
            )
            .at(r.type_pos)
            .path(rpath.key("Type").to_string());
            d = match crate::diag::did_you_mean_within(&r.type_, schema::type_names(), 0.95) {
                Some(s) => d.help(format!(
                    "did you mean '{s}'? To keep '{}' as an inert record that is never run, pass --accept-type {}",
                    r.type_, r.type_
                )),
                None => d.help(format!(
                    "to keep it as an inert record that is never run, pass --accept-type {}",
                    r.type_
                )),
            };
            diags.push(d);
        }
    }
    let metadata = r
        .metadata
        .as_ref()
        .and_then(|n| ev.eval(n, Context::Metadata, &rpath.key("Metadata"), diags));
    let update_policy = r
        .update_policy
        .as_ref()
        .and_then(|n| ev.eval(n, Context::UpdatePolicy, &rpath.key("UpdatePolicy"), diags));
    let creation_policy = r.creation_policy.as_ref().and_then(|n| {
        ev.eval(
            n,
            Context::ResourceAttribute,
            &rpath.key("CreationPolicy"),
            diags,
        )
    });
    let mut policy = |node: &Option<Node>, key: &str, diags: &mut Diagnostics| -> Option<Policy> {
        let n = node.as_ref()?;
        let kpath = rpath.key(key);
        let v = ev.eval(n, Context::ResourceAttribute, &kpath, diags)?;
        match v.as_str().and_then(Policy::parse) {
            Some(p) => Some(p),
            None => {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        format!(
                            "{key} must be Delete, Retain, Snapshot or RetainExceptOnCreate, not {}",
                            v.scalar_text()
                                .map_or_else(|| format!("a {}", v.type_name()), |s| format!("'{s}'"))
                        ),
                    )
                    .at(v.pos)
                    .path(kpath.to_string()),
                );
                None
            }
        }
    };
    let deletion_policy = policy(&r.deletion_policy, "DeletionPolicy", diags);
    let update_replace_policy = policy(&r.update_replace_policy, "UpdateReplacePolicy", diags);
    // DependsOn must name resources of this template.
    for (dep, pos) in &r.depends_on {
        if !ev.resource_names().any(|n| n == dep) {
            let mut d = Diagnostic::error(
                Code::DependsOnUnknown,
                format!("DependsOn names '{dep}', which is not a resource of this template"),
            )
            .at(*pos)
            .path(rpath.key("DependsOn").to_string());
            if let Some(s) = did_you_mean(dep, ev.resource_names()) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
        }
    }
    Some(Resource {
        logical_id: id.to_owned(),
        type_: r.type_.clone(),
        pos: r.pos,
        properties,
        depends_on: r.depends_on.iter().map(|(d, _)| d.clone()).collect(),
        dependencies: BTreeSet::new(),
        condition: r.condition.as_ref().map(|(c, _)| c.clone()),
        deletion_policy,
        update_replace_policy,
        update_policy,
        creation_policy,
        metadata,
        generated_by: r.generated_by.clone(),
        inert,
    })
}

impl Template {
    /// The resolved template as JSON (what `slipway validate --print-resolved` prints), with
    /// every secret masked.
    pub fn to_json(&self) -> Value {
        let mut params = serde_json::Map::new();
        for (name, p) in &self.parameters {
            let value = if p.decl.no_echo {
                match &p.value {
                    ParamValue::String(_) => Value::String(params::MASK.into()),
                    ParamValue::List(items) => items
                        .iter()
                        .map(|_| Value::String(params::MASK.into()))
                        .collect(),
                }
            } else {
                p.value.to_json()
            };
            params.insert(
                name.clone(),
                json!({"Type": p.decl.type_text, "Value": value, "Source": p.source}),
            );
        }
        let mut resources = serde_json::Map::new();
        for (id, r) in &self.resources {
            let mut o = serde_json::Map::new();
            o.insert("Type".into(), Value::String(r.type_.clone()));
            if r.properties.as_map().is_some_and(|m| !m.is_empty()) {
                o.insert("Properties".into(), r.properties.to_json());
            }
            if !r.depends_on.is_empty() {
                o.insert("DependsOn".into(), json!(r.depends_on));
            }
            if let Some(c) = &r.condition {
                o.insert("Condition".into(), Value::String(c.clone()));
            }
            if let Some(p) = r.deletion_policy {
                o.insert("DeletionPolicy".into(), Value::String(p.as_str().into()));
            }
            if let Some(p) = r.update_replace_policy {
                o.insert(
                    "UpdateReplacePolicy".into(),
                    Value::String(p.as_str().into()),
                );
            }
            if let Some(n) = &r.update_policy {
                o.insert("UpdatePolicy".into(), n.to_json());
            }
            if let Some(n) = &r.creation_policy {
                o.insert("CreationPolicy".into(), n.to_json());
            }
            if let Some(n) = &r.metadata {
                o.insert("Metadata".into(), n.to_json());
            }
            let mut sl = serde_json::Map::new();
            if let Some(g) = &r.generated_by {
                sl.insert("GeneratedBy".into(), Value::String(g.clone()));
            }
            if !r.dependencies.is_empty() {
                sl.insert("Dependencies".into(), json!(r.dependencies));
            }
            if r.inert {
                sl.insert("Inert".into(), Value::Bool(true));
            }
            if !sl.is_empty() {
                o.insert("Slipway".into(), Value::Object(sl));
            }
            resources.insert(id.clone(), Value::Object(o));
        }
        let mut outputs = serde_json::Map::new();
        for (name, o) in &self.outputs {
            let mut m = serde_json::Map::new();
            if let Some(d) = &o.description {
                m.insert("Description".into(), Value::String(d.clone()));
            }
            m.insert("Value".into(), o.value.to_json());
            if let Some(e) = &o.export_name {
                m.insert("Export".into(), json!({"Name": e.to_json()}));
            }
            if let Some(c) = &o.condition {
                m.insert("Condition".into(), Value::String(c.clone()));
            }
            outputs.insert(name.clone(), Value::Object(m));
        }
        let mut out = serde_json::Map::new();
        if let Some(d) = &self.description {
            out.insert("Description".into(), Value::String(d.clone()));
        }
        out.insert("Parameters".into(), Value::Object(params));
        out.insert("Conditions".into(), json!(self.conditions));
        out.insert("Resources".into(), Value::Object(resources));
        if !self.skipped.is_empty() {
            out.insert("Skipped".into(), json!(self.skipped));
        }
        out.insert("Outputs".into(), Value::Object(outputs));
        out.insert("DeploymentOrder".into(), json!(self.order));
        let mut v = Value::Object(out);
        self.secrets.mask_json(&mut v);
        v
    }
}
