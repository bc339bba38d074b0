//! The SAM transform (`AWS::Serverless-2016-10-31`): Globals, then every `AWS::Serverless::*`
//! resource expanded into the CloudFormation resources SAM generates, with SAM's logical IDs.
//!
//! Behaviour follows `aws/serverless-application-model` (samtranslator); each rule names the
//! file it comes from, and the test templates in `tests/cases/sam/` were translated by
//! aws-sam-translator 1.110 to the same logical IDs and properties. The parts that matter most:
//!
//! * **Globals** (`plugins/globals/globals.py`): per section a fixed list of properties; the
//!   merge keeps scalars (and intrinsic calls, which count as scalars) from the resource, merges
//!   mappings recursively with the resource winning, and concatenates lists globals-first.
//!   `IgnoreGlobals: "*"` or a list of property names opts a resource out.
//! * **Implicit APIs** (`plugins/api/implicit_rest_api_plugin.py`, `implicit_http_api_plugin.py`):
//!   an `Api` event without `RestApiId` creates `ServerlessRestApi` (stage `Prod`), an `HttpApi`
//!   event without `ApiId` creates `ServerlessHttpApi` (stage `$default`). They are created as
//!   SAM does — as `AWS::Serverless::Api`/`HttpApi` resources before Globals are merged, so that
//!   `Globals.Api` applies to them. Events add routes only to definitions SAM writes; an API with
//!   its own `DefinitionBody`/`DefinitionUri` keeps it, and its events only get permissions.
//! * **Logical IDs with hashes** (`translator/logical_id_generator.py`, [`super::hash`]):
//!   `<Fn>Version<sha10>` over the function's `Code` (+ `Environment`'s keys, `MemorySize`,
//!   `SnapStart`), or over all its properties with `AutoPublishAliasAllProperties`, or the first
//!   10 characters of `AutoPublishCodeSha256`; `<Layer><sha10>` over the layer's resource dict;
//!   `<Api>Deployment<sha10>` over Python's `str()` of the definition (+ `||OpenApiVersion`)
//!   (`model/apigateway.py` `make_auto_deployable`). SAM still builds definitions from dicts that
//!   iterate in Python 2.7 order, with template strings printed `u'…'`, to keep the IDs it made
//!   under Python 2.7; [`py27_order`] reproduces that, and [`add_routes`] the order in which SAM
//!   adds paths and how often it copies the definition in between (each copy can reorder keys).
//!   Fitted and checked against the translator: every template in `tests/cases/sam/` and 240
//!   random ones (several functions and APIs, aliases, conditions, CORS, OpenAPI 3) get SAM's
//!   deployment IDs. Features SAM adds to definitions that are not expanded here (Auth, models,
//!   gateway responses) would change the hash; they are rejected instead.
//! * **Resource attributes** (`model/__init__.py` `get_passthrough_resource_attributes`):
//!   `Condition`, `DeletionPolicy` and `UpdateReplacePolicy` are copied onto every resource a
//!   function generates; versions and layers default to `DeletionPolicy: Retain`. `DependsOn`
//!   and `Metadata` stay on the primary resource (the function, the API, the table, the layer).
//! * **Conditions** are decided before the transform. A SAM resource whose condition is false is
//!   expanded quietly (its generated resources carry the condition and are skipped later); where
//!   SAM writes `Fn::If [<condition>, …]` around what a true condition generates (S3
//!   notifications, `sam:ConditionalDependsOn:` tags), the resolved branch is written instead, and
//!   SAM's synthesized `ServerlessCodeDeployCondition` (several different conditions) is not
//!   created: those shared CodeDeploy resources stay unconditional.
//! * **Defaults**: like SAM, the transform writes no `Timeout`/`MemorySize` when the template
//!   gives none; Lambda's defaults (3 s, 128 MB) are applied by whoever runs the function. This
//!   keeps version hashes identical to SAM's.
//!
//! **Local code.** A `CodeUri`/`ContentUri` that is not an S3 location is a directory or zip
//! relative to the template. It becomes `Code: {S3Bucket: "slipway-local", S3Key: <path>}`
//! ([`LOCAL_CODE_BUCKET`]): the S3-shaped form CloudFormation expects after `sam package`, with a
//! reserved bucket name that tells the build and deploy stages "this key is a local path; build
//! it and put the artefact there". The version hash is computed over this form, so before a build
//! it follows the *path*, not the files; a stage that knows the artefact's content hash should
//! name the version from the S3-shaped location it uploads, as `sam package` + SAM would.
//!
//! Policies: managed policy names and ARNs, inline documents, and sixteen common SAM policy
//! templates (DynamoDB, S3, SQS, SNS, Lambda, SSM, Secrets Manager, KMS, CloudWatch,
//! EventBridge, Step Functions; see [`POLICY_TEMPLATES`]).
//!
//! Not expanded yet (each reported as `M003` naming the feature): other SAM policy templates, event
//! types other than Api/HttpApi/S3/Schedule/SNS/SQS, `Auth`, `Domain`, `DeadLetterQueue`,
//! `EventInvokeConfig`, `FunctionUrlConfig`, SNS `SqsSubscription`, Schedule `DeadLetterConfig`,
//! and the `StateMachine`, `Application`, `Connector`, `GraphQLApi` resource types.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::FileSource;
use super::eval::Pseudo;
use super::hash::{python_json, sam_logical_id, sha1_hex};
use super::params::ResolvedParam;
use super::raw::{RawResource, RawTemplate};
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Kind, Map, Node, TagMode, parse_document};

/// The bucket name that marks an S3-shaped `Code`/`Content` whose key is a local path.
pub const LOCAL_CODE_BUCKET: &str = "slipway-local";

/// Marker property on the `AWS::Serverless::Api`/`HttpApi` resources created for implicit APIs.
const IMPLICIT: &str = "__SlipwayImplicitApi";
const IMPLICIT_REST: &str = "ServerlessRestApi";
const IMPLICIT_HTTP: &str = "ServerlessHttpApi";

/// What the transform may consult.
pub(crate) struct SamEnv<'a> {
    pub pseudo: &'a Pseudo,
    pub params: &'a BTreeMap<String, ResolvedParam>,
    pub conditions: &'a BTreeMap<String, bool>,
    /// Reads `DefinitionUri` and other local files relative to the template.
    pub files: &'a dyn FileSource,
}

/// The transform's result.
pub(crate) struct Expanded {
    /// Every resource of the template after the transform, plain CloudFormation only, in a
    /// stable order (each SAM resource replaced, in place, by what it generates).
    pub resources: IndexMap<String, RawResource>,
    /// SAM's reference shorthands and what they become: `Fn.Version` → `FnVersion1a2b3c4d5e`,
    /// `Fn.Alias` → `FnAliaslive`.
    pub refs: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Globals

/// `globals.py` `supported_properties`, by section.
const GLOBALS: &[(&str, &[&str])] = &[
    (
        "Function",
        &[
            "Handler",
            "Runtime",
            "CodeUri",
            "DeadLetterQueue",
            "Description",
            "MemorySize",
            "Timeout",
            "VpcConfig",
            "Environment",
            "Tags",
            "PropagateTags",
            "Tracing",
            "KmsKeyArn",
            "AutoPublishAlias",
            "AutoPublishAliasAllProperties",
            "Layers",
            "DeploymentPreference",
            "RolePath",
            "PermissionsBoundary",
            "ReservedConcurrentExecutions",
            "ProvisionedConcurrencyConfig",
            "AssumeRolePolicyDocument",
            "EventInvokeConfig",
            "FileSystemConfigs",
            "CodeSigningConfigArn",
            "Architectures",
            "SnapStart",
            "EphemeralStorage",
            "FunctionUrlConfig",
            "RuntimeManagementConfig",
            "LoggingConfig",
            "RecursiveLoop",
            "SourceKMSKeyArn",
        ],
    ),
    (
        "Api",
        &[
            "Auth",
            "Name",
            "DefinitionUri",
            "CacheClusterEnabled",
            "CacheClusterSize",
            "MergeDefinitions",
            "Variables",
            "EndpointConfiguration",
            "MethodSettings",
            "BinaryMediaTypes",
            "MinimumCompressionSize",
            "Cors",
            "GatewayResponses",
            "AccessLogSetting",
            "CanarySetting",
            "TracingEnabled",
            "OpenApiVersion",
            "Domain",
            "AlwaysDeploy",
            "PropagateTags",
        ],
    ),
    (
        "HttpApi",
        &[
            "Auth",
            "AccessLogSettings",
            "StageVariables",
            "Tags",
            "CorsConfiguration",
            "DefaultRouteSettings",
            "Domain",
            "RouteSettings",
            "FailOnWarnings",
            "PropagateTags",
        ],
    ),
    ("SimpleTable", &["SSESpecification"]),
    ("StateMachine", &["PropagateTags"]),
    ("LayerVersion", &["PublishLambdaVersion"]),
];

/// Merges the `Globals` section into the SAM resources it applies to, as SAM does (scalars
/// replaced by the resource's value, maps merged, lists with the globals first), and reports
/// problems in the section itself.
pub(crate) fn merge_globals(t: &mut RawTemplate, diags: &mut Diagnostics) {
    add_implicit_apis(t);
    let Some(globals) = t.globals.clone() else {
        return;
    };
    let Some(gm) = globals.as_map() else {
        diags.push(
            Diagnostic::error(
                Code::GlobalsInvalid,
                format!("Globals must be a mapping, not a {}", globals.type_name()),
            )
            .at(globals.pos)
            .path("Globals"),
        );
        return;
    };
    let mut sections: Vec<(String, Map)> = Vec::new();
    for (section, entry) in gm.iter_entries() {
        let spath = format!("Globals.{section}");
        let Some((_, allowed)) = GLOBALS.iter().find(|(n, _)| *n == section) else {
            let mut d = Diagnostic::error(
                Code::GlobalsInvalid,
                format!(
                    "'{section}' is not a supported Globals section; it must be one of {}",
                    GLOBALS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .at(entry.key_pos)
            .path(spath);
            if let Some(s) = did_you_mean(section, GLOBALS.iter().map(|(n, _)| *n)) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
            continue;
        };
        let Some(props) = entry.value.as_map() else {
            diags.push(
                Diagnostic::error(
                    Code::GlobalsInvalid,
                    format!("Globals.{section} must be a mapping"),
                )
                .at(entry.value.pos)
                .path(spath),
            );
            continue;
        };
        let mut ok = Map::new();
        for (key, e) in props.iter_entries() {
            if allowed.contains(&key) {
                ok.insert(key, e.key_pos, e.value.clone());
                continue;
            }
            let mut d = Diagnostic::error(
                Code::GlobalsInvalid,
                format!("'{key}' is not a supported property of Globals.{section}"),
            )
            .at(e.key_pos)
            .path(format!("{spath}.{key}"));
            d = match did_you_mean(key, allowed.iter().copied()) {
                Some(s) => d.help(format!("did you mean '{s}'?")),
                None => d.help(format!(
                    "set it on each resource instead; Globals.{section} accepts {}",
                    allowed.join(", ")
                )),
            };
            diags.push(d);
        }
        sections.push((section.to_owned(), ok));
    }
    for (id, r) in t.resources.iter_mut() {
        let Some(kind) = r.type_.strip_prefix("AWS::Serverless::") else {
            continue;
        };
        let Some((_, g)) = sections.iter().find(|(s, _)| s == kind) else {
            continue;
        };
        let mut g = g.clone();
        if let Some(ig) = &r.ignore_globals {
            let ipath = format!("Resources.{id}.IgnoreGlobals");
            match &ig.kind {
                Kind::String(s) if s == "*" => continue,
                Kind::Seq(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(k) if g.contains_key(k) => {
                                g.remove(k);
                            }
                            _ => diags.push(
                                Diagnostic::error(
                                    Code::SamInvalid,
                                    format!(
                                        "IgnoreGlobals names '{}', which Globals.{kind} does not set",
                                        item.scalar_text().unwrap_or_default()
                                    ),
                                )
                                .at(item.pos)
                                .path(ipath.clone()),
                            ),
                        }
                    }
                }
                _ => {
                    diags.push(
                        Diagnostic::error(
                            Code::SamInvalid,
                            "IgnoreGlobals must be \"*\" or a list of property names",
                        )
                        .at(ig.pos)
                        .path(ipath),
                    );
                    continue;
                }
            }
        }
        let pos = r.properties.pos;
        let local = std::mem::replace(&mut r.properties, Node::null(pos));
        r.properties = merge_value(&Node::map(pos, g), local);
    }
}

/// `GlobalProperties._do_merge`.
fn merge_value(global: &Node, local: Node) -> Node {
    let is_dict = |n: &Node| n.as_map().is_some() && n.intrinsic().is_none();
    match (&global.kind, &local.kind) {
        (Kind::Seq(g), Kind::Seq(l)) => {
            let mut items = g.clone();
            items.extend(l.iter().cloned());
            Node::seq(local.pos, items)
        }
        (Kind::Map(g), Kind::Map(_)) if is_dict(global) && is_dict(&local) => {
            let Kind::Map(l) = local.kind else {
                return local;
            };
            let mut out = g.clone();
            for (k, e) in l.iter_entries() {
                let merged = match g.get(k) {
                    Some(gv) => merge_value(gv, e.value.clone()),
                    None => e.value.clone(),
                };
                out.insert(k, e.key_pos, merged);
            }
            Node::map(local.pos, out)
        }
        _ => local,
    }
}

/// `implicit_rest_api_plugin.py` / `implicit_http_api_plugin.py`: the implicit APIs exist as SAM
/// resources before Globals are merged.
fn add_implicit_apis(t: &mut RawTemplate) {
    let mut rest: Option<Pos> = None;
    let mut http: Option<Pos> = None;
    for r in t.resources.values() {
        if r.type_ != "AWS::Serverless::Function" {
            continue;
        }
        let Some(events) = r.props().get("Events").and_then(Node::as_map) else {
            continue;
        };
        for (_, ev) in events.iter() {
            let Some(em) = ev.as_map() else { continue };
            let props = em.get("Properties").and_then(Node::as_map);
            let has = |k: &str| props.is_some_and(|p| p.contains_key(k));
            match em.get("Type").and_then(Node::as_str) {
                Some("Api") if !has("RestApiId") => {
                    rest.get_or_insert(ev.pos);
                }
                Some("HttpApi") if !has("ApiId") => {
                    http.get_or_insert(ev.pos);
                }
                _ => {}
            }
        }
    }
    for (id, type_, pos) in [
        (IMPLICIT_REST, "AWS::Serverless::Api", rest),
        (IMPLICIT_HTTP, "AWS::Serverless::HttpApi", http),
    ] {
        let Some(pos) = pos else { continue };
        if t.resources.contains_key(id) {
            continue;
        }
        let mut m = Map::new();
        m.insert(IMPLICIT, pos, Node::bool(pos, true));
        if id == IMPLICIT_REST {
            m.insert("StageName", pos, Node::string(pos, "Prod"));
        }
        t.resources
            .insert(id.to_owned(), RawResource::new(pos, type_, m));
    }
}

// ---------------------------------------------------------------------------------------------
// Node helpers

fn s(pos: Pos, v: &str) -> Node {
    Node::string(pos, v)
}

fn obj(pos: Pos, entries: Vec<(&str, Node)>) -> Node {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k, pos, v);
    }
    Node::map(pos, m)
}

fn reff(pos: Pos, id: &str) -> Node {
    Node::call(pos, "Ref", s(pos, id))
}

fn getatt(pos: Pos, id: &str, attr: &str) -> Node {
    Node::call(
        pos,
        "Fn::GetAtt",
        Node::seq(pos, vec![s(pos, id), s(pos, attr)]),
    )
}

fn j(pos: Pos, v: &Value) -> Node {
    Node::from_json(v, pos)
}

/// The logical ID a `Ref` or `Fn::GetAtt` (or a plain string) names.
fn ref_target(n: &Node) -> Option<String> {
    match n.intrinsic() {
        Some(("Ref", a)) => a.as_str().map(str::to_owned),
        Some(("Fn::GetAtt", a)) => a
            .as_seq()
            .and_then(|v| v.first())
            .and_then(Node::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

/// `Enabled: "false"` and `"False"` disable, as SAM's `DeploymentPreference.from_dict` reads it.
fn truthy(n: &Node) -> bool {
    match &n.kind {
        Kind::Bool(b) => *b,
        Kind::String(t) => !matches!(t.as_str(), "false" | "False"),
        _ => true,
    }
}

/// Python's `str()` of a JSON-like value (dicts in insertion order), as SAM hashes API bodies.
pub(crate) fn python_repr(n: &Node) -> String {
    let mut out = String::new();
    repr_into(n, &mut out);
    out
}

fn repr_into(n: &Node, out: &mut String) {
    match &n.kind {
        Kind::Null => out.push_str("None"),
        Kind::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Kind::Number(num) => match num.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(
                &num.as_f64()
                    .map_or_else(|| num.to_string(), super::hash::python_float),
            ),
        },
        Kind::String(t) if n.pos.col == 0 => repr_str(t, out),
        Kind::String(t) => repr_unicode(t, out),
        Kind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(item, out);
            }
            out.push(']');
        }
        Kind::Map(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter_entries().enumerate() {
                let v = &e.value;
                if i > 0 {
                    out.push_str(", ");
                }
                if e.key_pos.col == 0 {
                    repr_str(k, out);
                } else {
                    repr_unicode(k, out);
                }
                out.push_str(": ");
                repr_into(v, out);
            }
            out.push('}');
        }
    }
}

/// `Py27UniStr.__repr__`: `u` + the repr of the `unicode_escape`d text, backslashes undoubled.
fn repr_unicode(t: &str, out: &mut String) {
    let mut esc = String::new();
    for c in t.chars() {
        match c {
            '\\' => esc.push_str("\\\\"),
            '\n' => esc.push_str("\\n"),
            '\r' => esc.push_str("\\r"),
            '\t' => esc.push_str("\\t"),
            ' '..='~' => esc.push(c),
            c if (c as u32) < 0x100 => esc.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => esc.push_str(&format!("\\u{:04x}", c as u32)),
            c => esc.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    let quote = if esc.contains('\'') && !esc.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push('u');
    out.push(quote);
    for c in esc.chars() {
        if c == quote {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(quote);
}

fn repr_str(t: &str, out: &mut String) {
    let quote = if t.contains('\'') && !t.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in t.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

struct Check<'d> {
    diags: &'d mut Diagnostics,
}

impl Check<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn err(&mut self, code: Code, pos: Pos, path: &str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(code, msg).at(pos).path(path.to_owned()));
    }

    /// Unknown keys (with a did-you-mean) and keys Slipway does not expand yet.
    fn keys(&mut self, m: &Map, known: &[&str], unsupported: &[&str], path: &str, what: &str) {
        for (k, e) in m.iter_entries() {
            if k == IMPLICIT {
                continue;
            }
            let kpath = format!("{path}.{k}");
            if unsupported.contains(&k) {
                self.err(
                    Code::SamUnsupported,
                    e.key_pos,
                    &kpath,
                    format!("{what} property '{k}' is not supported by Slipway yet"),
                );
            } else if !known.contains(&k) {
                let mut d = Diagnostic::error(
                    Code::UnknownProperty,
                    format!("{what} has no property '{k}'"),
                )
                .at(e.key_pos)
                .path(kpath);
                if let Some(sug) = did_you_mean(k, known.iter().chain(unsupported).copied()) {
                    d = d.help(format!("did you mean '{sug}'?"));
                }
                self.push(d);
            }
        }
    }

    fn string(&mut self, m: &Map, key: &str, path: &str) -> Option<String> {
        let n = m.get(key)?;
        match &n.kind {
            Kind::String(v) => Some(v.clone()),
            Kind::Number(_) | Kind::Bool(_) => n.scalar_text(),
            _ => {
                self.err(
                    Code::WrongType,
                    n.pos,
                    &format!("{path}.{key}"),
                    format!("{key} must be a string, not a {}", n.type_name()),
                );
                None
            }
        }
    }

    /// A property that must be a mapping (not an intrinsic call).
    fn map<'m>(&mut self, m: &'m Map, key: &str, path: &str) -> Option<&'m Map> {
        let n = m.get(key)?;
        match n.as_map() {
            Some(mm) if n.intrinsic().is_none() => Some(mm),
            _ => {
                self.err(
                    Code::WrongType,
                    n.pos,
                    &format!("{path}.{key}"),
                    format!("{key} must be a mapping, not a {}", n.type_name()),
                );
                None
            }
        }
    }

    /// An integer property, or a symbolic value (which CloudFormation checks later).
    fn int(&mut self, m: &Map, key: &str, path: &str) {
        let Some(n) = m.get(key) else { return };
        let ok = match &n.kind {
            Kind::Number(num) => num.is_integer(),
            Kind::String(t) => t.parse::<i64>().is_ok(),
            Kind::Map(_) => n.intrinsic().is_some(),
            _ => false,
        };
        if !ok {
            self.err(
                Code::WrongType,
                n.pos,
                &format!("{path}.{key}"),
                format!("{key} must be an integer, not {}", describe(n)),
            );
        }
    }

    fn required(&mut self, m: &Map, key: &str, pos: Pos, path: &str, what: &str) -> bool {
        if m.contains_key(key) {
            return true;
        }
        self.err(
            Code::MissingRequired,
            pos,
            &format!("{path}.{key}"),
            format!("{what} needs the property '{key}'"),
        );
        false
    }
}

fn describe(n: &Node) -> String {
    n.scalar_text()
        .map_or_else(|| format!("a {}", n.type_name()), |t| format!("'{t}'"))
}

/// `s3://bucket/key?versionId=v` (`model/s3_utils/uri_parser.py`).
fn parse_s3_uri(uri: &str) -> Option<(String, String, Option<String>)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bk, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (bucket, key) = bk.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    let version = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("versionId=").map(str::to_owned))
    });
    Some((bucket.to_owned(), key.to_owned(), version))
}

// ---------------------------------------------------------------------------------------------
// The transform

/// `Condition`, `DeletionPolicy`, `UpdateReplacePolicy` of a SAM resource, copied onto what it
/// generates (`SamResourceMacro.get_passthrough_resource_attributes`).
#[derive(Clone)]
struct Pass {
    condition: Option<(String, Pos)>,
    deletion_policy: Option<Node>,
    update_replace_policy: Option<Node>,
}

impl Pass {
    fn of(r: &RawResource) -> Pass {
        Pass {
            condition: r.condition.clone(),
            deletion_policy: r.deletion_policy.clone(),
            update_replace_policy: r.update_replace_policy.clone(),
        }
    }

    fn apply(&self, r: &mut RawResource) {
        r.condition.clone_from(&self.condition);
        r.deletion_policy.clone_from(&self.deletion_policy);
        r.update_replace_policy
            .clone_from(&self.update_replace_policy);
    }
}

/// One route an event adds to an API.
#[derive(Clone)]
struct Route {
    path: String,
    method: String,
    /// What goes inside `${…}` of the integration URI: `Fn.Arn` or the alias's logical ID.
    uri_target: String,
    pos: Pos,
    /// The order SAM adds routes in: functions in Python 2.7 dict order of the template's
    /// logical IDs, events in that order of their names (see [`py27_order`]).
    rank: (usize, usize),
    /// The order the implicit API plugin adds REST paths in (see `add_rest_routes`).
    plugin_rank: (usize, usize),
    /// The function's Condition: SAM wraps the route of a conditional function in `Fn::If`.
    condition: Option<(String, Pos)>,
    payload_format_version: Option<Node>,
    timeout: Option<Node>,
}

enum Slot {
    Done(Vec<(String, RawResource)>),
    Rest(String, RawResource),
    Http(String, RawResource),
}

struct S3Notification {
    bucket: String,
    events: Vec<Node>,
    filter: Option<Node>,
    function_arn: Node,
    permission: String,
    /// The function has a Condition: SAM then records the dependency as a bucket tag
    /// (`sam:ConditionalDependsOn:<permission>`) instead of `DependsOn`.
    conditional: bool,
    pos: Pos,
    path: String,
}

struct Ctx<'e, 'd> {
    env: &'e SamEnv<'e>,
    ck: Check<'d>,
    refs: BTreeMap<String, String>,
    types: BTreeMap<String, String>,
    /// Stage names of the REST APIs, for permission IDs (`<Fn><Event>Permission<Stage>`).
    rest_stages: BTreeMap<String, String>,
    rest_routes: BTreeMap<String, Vec<Route>>,
    http_routes: BTreeMap<String, Vec<Route>>,
    s3: Vec<S3Notification>,
    /// Where the first enabled DeploymentPreference is, if any.
    deploy_app: Option<Pos>,
    codedeploy_role: Option<Pos>,
    /// Where each resource comes in SAM's iteration of the Resources mapping.
    fn_rank: BTreeMap<String, usize>,
    /// `PassthroughCondition` conditions of every DeploymentPreference, and whether an enabled
    /// one has none: together they decide the CodeDeploy resources' own Condition.
    dp_conditions: BTreeSet<String>,
    dp_unconditional: bool,
}

/// Expands SAM resources. `resources` have their properties evaluated already (parameters,
/// conditions and `Fn::If` done; references to resources left symbolic).
pub(crate) fn transform(
    resources: IndexMap<String, RawResource>,
    env: &SamEnv<'_>,
    diags: &mut Diagnostics,
) -> Expanded {
    // Parameters are already substituted in the properties that arrive here.
    let _ = env.params;
    let mut ctx = Ctx {
        env,
        ck: Check { diags },
        refs: BTreeMap::new(),
        types: resources
            .iter()
            .map(|(k, r)| (k.clone(), r.type_.clone()))
            .collect(),
        rest_stages: BTreeMap::new(),
        rest_routes: BTreeMap::new(),
        http_routes: BTreeMap::new(),
        s3: Vec::new(),
        deploy_app: None,
        codedeploy_role: None,
        fn_rank: BTreeMap::new(),
        dp_conditions: BTreeSet::new(),
        dp_unconditional: false,
    };
    let all: Vec<String> = resources.keys().cloned().collect();
    for (i, id) in py27_order(&all).into_iter().enumerate() {
        ctx.fn_rank.insert(id, i);
    }
    for (id, r) in &resources {
        if r.type_ == "AWS::Serverless::Api" {
            let stage = r
                .props()
                .get("StageName")
                .and_then(Node::as_str)
                .unwrap_or("Stage");
            ctx.rest_stages.insert(id.clone(), stage.to_owned());
        }
    }
    let mut resources = resources;
    implicit_api_attributes(&mut resources, env);
    let mut slots: Vec<(Slot, bool)> = Vec::new();
    for (id, r) in resources {
        let active = r
            .condition
            .as_ref()
            .is_none_or(|(c, _)| env.conditions.get(c).copied().unwrap_or(true));
        if !active && r.type_.starts_with("AWS::Serverless::") {
            // Not created: its properties were never evaluated. Expand it quietly so that
            // references to what it would generate stay known; everything keeps its Condition.
            let mut scratch = Diagnostics::for_file(String::new());
            let mut quiet = Ctx {
                env,
                ck: Check {
                    diags: &mut scratch,
                },
                refs: BTreeMap::new(),
                types: ctx.types.clone(),
                rest_stages: ctx.rest_stages.clone(),
                rest_routes: BTreeMap::new(),
                http_routes: BTreeMap::new(),
                s3: Vec::new(),
                deploy_app: None,
                codedeploy_role: None,
                fn_rank: ctx.fn_rank.clone(),
                dp_conditions: BTreeSet::new(),
                dp_unconditional: false,
            };
            let slot = expand_one(&mut quiet, id, r);
            ctx.refs.extend(quiet.refs);
            // Their REST routes stay, wrapped in `Fn::If` on the (false) condition, because SAM
            // writes them so and they are part of the deployment's hash.
            for (api, routes) in quiet.rest_routes {
                ctx.rest_routes.entry(api).or_default().extend(routes);
            }
            slots.push((slot, true));
            continue;
        }
        let slot = expand_one(&mut ctx, id, r);
        slots.push((slot, false));
    }
    let mut out: IndexMap<String, RawResource> = IndexMap::new();
    for (slot, quiet) in slots {
        let items = match slot {
            Slot::Done(v) => v,
            Slot::Rest(id, r) | Slot::Http(id, r) if quiet => {
                // An API that is not created: expanded without diagnostics, as above.
                let mut scratch = Diagnostics::for_file(String::new());
                let mut q = Ctx {
                    env,
                    ck: Check {
                        diags: &mut scratch,
                    },
                    refs: BTreeMap::new(),
                    types: ctx.types.clone(),
                    rest_stages: ctx.rest_stages.clone(),
                    rest_routes: BTreeMap::new(),
                    http_routes: BTreeMap::new(),
                    s3: Vec::new(),
                    deploy_app: None,
                    codedeploy_role: None,
                    fn_rank: ctx.fn_rank.clone(),
                    dp_conditions: BTreeSet::new(),
                    dp_unconditional: false,
                };
                if let Some(routes) = ctx.rest_routes.remove(&id) {
                    q.rest_routes.insert(id.clone(), routes);
                }
                if let Some(routes) = ctx.http_routes.remove(&id) {
                    q.http_routes.insert(id.clone(), routes);
                }
                let items = if r.type_ == "AWS::Serverless::Api" {
                    expand_rest_api(&mut q, &id, &r)
                } else {
                    expand_http_api(&mut q, &id, &r)
                };
                ctx.refs.extend(q.refs);
                items
            }
            Slot::Rest(id, r) => expand_rest_api(&mut ctx, &id, &r),
            Slot::Http(id, r) => expand_http_api(&mut ctx, &id, &r),
        };
        for (k, v) in items {
            if out.contains_key(&k) {
                ctx.ck.err(
                    Code::SamInvalid,
                    v.pos,
                    &format!("Resources.{k}"),
                    format!(
                        "the SAM transform generates '{k}', which the template already declares"
                    ),
                );
                continue;
            }
            out.insert(k, v);
        }
    }
    codedeploy_resources(&mut ctx, &mut out);
    apply_s3_notifications(&mut ctx, &mut out);
    Expanded {
        resources: out,
        refs: ctx.refs,
    }
}

/// `ImplicitApiPlugin._maybe_add_condition_to_implicit_api` and the deletion / update-replace
/// policies after it: the implicit APIs take their attributes from the functions whose events
/// they serve. Several different conditions make SAM add an `Fn::Or` condition; decided here, it
/// is one of the (false) conditions when none holds, and none otherwise.
fn implicit_api_attributes(resources: &mut IndexMap<String, RawResource>, env: &SamEnv<'_>) {
    for (api, event_type, id_key) in [
        (IMPLICIT_REST, "Api", "RestApiId"),
        (IMPLICIT_HTTP, "HttpApi", "ApiId"),
    ] {
        if !resources
            .get(api)
            .is_some_and(|r| r.props().contains_key(IMPLICIT))
        {
            continue;
        }
        let mut conditions: Vec<Option<(String, Pos)>> = Vec::new();
        let mut deletion: Vec<String> = Vec::new();
        let mut replace: Vec<String> = Vec::new();
        for r in resources.values() {
            if r.type_ != "AWS::Serverless::Function" {
                continue;
            }
            let Some(events) = r.props().get("Events").and_then(Node::as_map) else {
                continue;
            };
            for (_, ev) in events.iter() {
                let Some(em) = ev.as_map() else { continue };
                let props = em.get("Properties").and_then(Node::as_map);
                if em.get("Type").and_then(Node::as_str) != Some(event_type)
                    || props.is_some_and(|p| p.contains_key(id_key))
                {
                    continue;
                }
                conditions.push(r.condition.clone());
                if let Some(d) = r.deletion_policy.as_ref().and_then(Node::as_str) {
                    deletion.push(d.to_owned());
                }
                if let Some(d) = r.update_replace_policy.as_ref().and_then(Node::as_str) {
                    replace.push(d.to_owned());
                }
            }
        }
        let Some(api_res) = resources.get_mut(api) else {
            continue;
        };
        if !conditions.is_empty() && conditions.iter().all(Option::is_some) {
            let mut names: Vec<(String, Pos)> = conditions.into_iter().flatten().collect();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            names.dedup_by(|a, b| a.0 == b.0);
            let any_true = names
                .iter()
                .any(|(c, _)| env.conditions.get(c).copied().unwrap_or(true));
            api_res.condition = match names.len() {
                1 => names.pop(),
                _ if any_true => None,
                _ => names.pop(),
            };
        }
        let pick = |found: &[String], order: &[&str]| {
            order
                .iter()
                .find(|p| found.iter().any(|f| f == *p))
                .map(|p| (*p).to_owned())
        };
        let pos = api_res.pos;
        if let Some(p) = pick(&deletion, &["Retain", "Delete"]) {
            api_res.deletion_policy = Some(s(pos, &p));
        }
        if let Some(p) = pick(&replace, &["Retain", "Snapshot", "Delete"]) {
            api_res.update_replace_policy = Some(s(pos, &p));
        }
    }
}

fn expand_one(ctx: &mut Ctx<'_, '_>, id: String, r: RawResource) -> Slot {
    match r.type_.as_str() {
        "AWS::Serverless::Function" => Slot::Done(expand_function(ctx, &id, &r)),
        "AWS::Serverless::Api" => Slot::Rest(id, r),
        "AWS::Serverless::HttpApi" => Slot::Http(id, r),
        "AWS::Serverless::LayerVersion" => Slot::Done(expand_layer(ctx, &id, &r)),
        "AWS::Serverless::SimpleTable" => Slot::Done(expand_table(ctx, &id, &r)),
        t if t.starts_with("AWS::Serverless::") => {
            const OTHERS: &[&str] = &[
                "AWS::Serverless::Function",
                "AWS::Serverless::Api",
                "AWS::Serverless::HttpApi",
                "AWS::Serverless::LayerVersion",
                "AWS::Serverless::SimpleTable",
                "AWS::Serverless::StateMachine",
                "AWS::Serverless::Application",
                "AWS::Serverless::Connector",
                "AWS::Serverless::GraphQLApi",
                "AWS::Serverless::WebSocketApi",
                "AWS::Serverless::CapacityProvider",
            ];
            let path = format!("Resources.{id}.Type");
            if OTHERS.contains(&t) {
                ctx.ck.err(
                    Code::SamUnsupported,
                    r.type_pos,
                    &path,
                    format!("{t} is not supported by Slipway yet"),
                );
            } else {
                let mut d = Diagnostic::error(
                    Code::SamUnsupported,
                    format!("'{t}' is not a SAM resource type"),
                )
                .at(r.type_pos)
                .path(path);
                if let Some(sug) = did_you_mean(t, OTHERS.iter().copied()) {
                    d = d.help(format!("did you mean '{sug}'?"));
                }
                ctx.ck.push(d);
            }
            Slot::Done(Vec::new())
        }
        _ => Slot::Done(vec![(id, r)]),
    }
}

fn generated(pos: Pos, type_: &str, props: Node, by: &str) -> RawResource {
    let mut r = RawResource::new(pos, type_, Map::new());
    r.properties = props;
    r.generated_by = Some(by.to_owned());
    r
}

// ---------------------------------------------------------------------------------------------
// AWS::Serverless::Function (`model/sam_resources.py` `SamFunction`)

const FN_KNOWN: &[&str] = &[
    "Handler",
    "Runtime",
    "CodeUri",
    "InlineCode",
    "ImageUri",
    "PackageType",
    "ImageConfig",
    "FunctionName",
    "Description",
    "MemorySize",
    "Timeout",
    "Role",
    "Policies",
    "AssumeRolePolicyDocument",
    "PermissionsBoundary",
    "RolePath",
    "Environment",
    "Events",
    "Tags",
    "Tracing",
    "KmsKeyArn",
    "Layers",
    "ReservedConcurrentExecutions",
    "AutoPublishAlias",
    "AutoPublishCodeSha256",
    "AutoPublishAliasAllProperties",
    "VersionDescription",
    "DeploymentPreference",
    "ProvisionedConcurrencyConfig",
    "FileSystemConfigs",
    "CodeSigningConfigArn",
    "Architectures",
    "SnapStart",
    "EphemeralStorage",
    "RuntimeManagementConfig",
    "LoggingConfig",
    "RecursiveLoop",
    "VpcConfig",
    "SourceKMSKeyArn",
];
const FN_UNSUPPORTED: &[&str] = &[
    "DeadLetterQueue",
    "EventInvokeConfig",
    "FunctionUrlConfig",
    "PropagateTags",
    "CapacityProviderConfig",
    "FunctionScalingConfig",
    "VersionDeletionPolicy",
];
/// Copied to `AWS::Lambda::Function` unchanged.
const FN_PASSTHROUGH: &[&str] = &[
    "Architectures",
    "Description",
    "Environment",
    "EphemeralStorage",
    "FileSystemConfigs",
    "FunctionName",
    "Handler",
    "ImageConfig",
    "KmsKeyArn",
    "Layers",
    "LoggingConfig",
    "MemorySize",
    "PackageType",
    "RecursiveLoop",
    "ReservedConcurrentExecutions",
    "RuntimeManagementConfig",
    "Runtime",
    "SnapStart",
    "Timeout",
    "VpcConfig",
    "CodeSigningConfigArn",
];

/// `ArnGenerator.generate_aws_managed_policy_arn`: the partition is written in, not `Fn::Sub`.
fn managed_arn(pos: Pos, partition: &str, name: &str) -> Node {
    s(pos, &format!("arn:{partition}:iam::aws:policy/{name}"))
}

fn tag_list(pos: Pos, sam_key: &str, tags: Option<&Map>) -> Node {
    let mut items = vec![obj(
        pos,
        vec![("Key", s(pos, sam_key)), ("Value", s(pos, "SAM"))],
    )];
    if let Some(t) = tags {
        for (k, e) in t.iter_entries() {
            items.push(obj(
                e.key_pos,
                vec![("Key", s(e.key_pos, k)), ("Value", e.value.clone())],
            ));
        }
    }
    Node::seq(pos, items)
}

fn expand_function(ctx: &mut Ctx<'_, '_>, id: &str, r: &RawResource) -> Vec<(String, RawResource)> {
    let m = r.props().clone();
    let path = format!("Resources.{id}.Properties");
    let pos = r.pos;
    let pass = Pass::of(r);
    ctx.ck.keys(
        &m,
        FN_KNOWN,
        FN_UNSUPPORTED,
        &path,
        "AWS::Serverless::Function",
    );
    ctx.ck.int(&m, "MemorySize", &path);
    ctx.ck.int(&m, "Timeout", &path);
    let tags = ctx.ck.map(&m, "Tags", &path).cloned();
    if let Some(t) = &tags
        && let Some(kp) = t.key_pos("lambda:createdBy")
    {
        ctx.ck.err(
            Code::SamInvalid,
            kp,
            &format!("{path}.Tags.lambda:createdBy"),
            "the tag 'lambda:createdBy' is reserved: SAM sets it",
        );
    }

    // Code (`_construct_code_dict`): InlineCode, then CodeUri, then ImageUri.
    let image = m.get("PackageType").and_then(Node::as_str) == Some("Image");
    let code = if let Some(inline) = m.get("InlineCode") {
        if m.contains_key("CodeUri") {
            ctx.ck.err(
                Code::SamInvalid,
                inline.pos,
                &format!("{path}.InlineCode"),
                "only one of 'InlineCode' or 'CodeUri' can be set",
            );
        }
        Some(obj(inline.pos, vec![("ZipFile", inline.clone())]))
    } else if let Some(uri) = m.get("CodeUri") {
        code_location(
            ctx,
            uri,
            &format!("{path}.CodeUri"),
            ("S3Bucket", "S3Key", "S3ObjectVersion"),
        )
    } else if let Some(img) = m.get("ImageUri") {
        Some(obj(img.pos, vec![("ImageUri", img.clone())]))
    } else {
        ctx.ck.err(
            Code::MissingRequired,
            pos,
            &path,
            if image {
                "a function with PackageType Image needs 'ImageUri'"
            } else {
                "a function needs 'CodeUri' or 'InlineCode'"
            },
        );
        None
    };
    // Handler and Runtime of a zip-packaged function are checked on the generated
    // AWS::Lambda::Function by its schema, which reports them once, at this resource.

    // AWS::Lambda::Function.
    let mut f = Map::new();
    if let Some(c) = code {
        f.insert("Code", c.pos, c);
    }
    for k in FN_PASSTHROUGH {
        if let Some(e) = m.entry(k) {
            f.insert(*k, e.key_pos, e.value.clone());
        }
    }
    if m.contains_key("ImageUri") && !f.contains_key("PackageType") {
        f.insert("PackageType", pos, s(pos, "Image"));
    }
    let mut managed: Vec<Node> = vec![managed_arn(
        pos,
        &ctx.env.pseudo.partition,
        "service-role/AWSLambdaBasicExecutionRole",
    )];
    if let Some(t) = m.get("Tracing") {
        f.insert(
            "TracingConfig",
            t.pos,
            obj(t.pos, vec![("Mode", t.clone())]),
        );
        managed.push(managed_arn(
            t.pos,
            &ctx.env.pseudo.partition,
            "AWSXrayWriteOnlyAccess",
        ));
    }
    if let Some(v) = m.get("VpcConfig") {
        managed.push(managed_arn(
            v.pos,
            &ctx.env.pseudo.partition,
            "service-role/AWSLambdaVPCAccessExecutionRole",
        ));
    }
    let tag_node = tag_list(pos, "lambda:createdBy", tags.as_ref());
    f.insert("Tags", pos, tag_node.clone());
    let role_id = format!("{id}Role");
    let own_role = !m.contains_key("Role");
    match m.entry("Role") {
        Some(e) => f.insert("Role", e.key_pos, e.value.clone()),
        None => f.insert("Role", pos, getatt(pos, &role_id, "Arn")),
    };

    let mut out: Vec<(String, RawResource)> = Vec::new();
    // With AutoPublishCodeSha256 SAM appends the hash to the description, so that a change of
    // code alone still changes the function (`SamFunction.to_cloudformation`).
    if m.contains_key("AutoPublishAlias")
        && let Some(sha) = m.get("AutoPublishCodeSha256")
        && let Some(sha_text) = sha.as_str()
    {
        let d = match f.get("Description") {
            None => s(sha.pos, sha_text),
            Some(d) => match d.as_str() {
                Some("") => s(sha.pos, sha_text),
                Some(dt) => s(d.pos, &format!("{dt} {sha_text}")),
                None => Node::call(
                    d.pos,
                    "Fn::Join",
                    Node::seq(
                        d.pos,
                        vec![
                            s(d.pos, " "),
                            Node::seq(d.pos, vec![d.clone(), sha.clone()]),
                        ],
                    ),
                ),
            },
        };
        f.insert("Description", d.pos, d);
    }
    let mut func = generated(pos, "AWS::Lambda::Function", Node::map(pos, f.clone()), id);
    pass.apply(&mut func);
    func.depends_on.clone_from(&r.depends_on);
    func.metadata.clone_from(&r.metadata);
    func.type_pos = r.type_pos;
    out.push((id.to_owned(), func));

    // AutoPublishAlias → version + alias (`_construct_version`, `_construct_alias`).
    let mut alias_id: Option<String> = None;
    let mut alias_index = None;
    if let Some(an) = m.get("AutoPublishAlias") {
        let apath = format!("{path}.AutoPublishAlias");
        match an.as_str() {
            Some(name) if !name.is_empty() => {
                let version_id = version_logical_id(ctx, id, &m, &f, &path);
                let mut version = generated(
                    an.pos,
                    "AWS::Lambda::Version",
                    obj(an.pos, vec![("FunctionName", reff(an.pos, id))]),
                    id,
                );
                if let Some(d) = m.get("VersionDescription") {
                    version.props_mut().insert("Description", d.pos, d.clone());
                }
                pass.apply(&mut version);
                if version.deletion_policy.is_none() {
                    version.deletion_policy = Some(s(an.pos, "Retain"));
                }
                // `_construct_alias`: the alias name with '-' → 'D' and '_' → 'U'.
                let suffix: String = name
                    .chars()
                    .map(|c| match c {
                        '-' => 'D',
                        '_' => 'U',
                        c => c,
                    })
                    .collect();
                let aid = format!("{id}Alias{suffix}");
                let mut alias_props = vec![
                    ("Name", s(an.pos, name)),
                    ("FunctionName", reff(an.pos, id)),
                    ("FunctionVersion", getatt(an.pos, &version_id, "Version")),
                ];
                if let Some(pc) = m.get("ProvisionedConcurrencyConfig") {
                    alias_props.push(("ProvisionedConcurrencyConfig", pc.clone()));
                }
                let mut alias =
                    generated(an.pos, "AWS::Lambda::Alias", obj(an.pos, alias_props), id);
                pass.apply(&mut alias);
                ctx.refs.insert(format!("{id}.Version"), version_id.clone());
                ctx.refs.insert(format!("{id}.Alias"), aid.clone());
                out.push((version_id, version));
                alias_index = Some(out.len());
                out.push((aid.clone(), alias));
                alias_id = Some(aid);
            }
            _ => ctx.ck.err(
                Code::SamInvalid,
                an.pos,
                &apath,
                "AutoPublishAlias must be a non-empty string or a Ref to a template parameter",
            ),
        }
    } else if let Some(pc) = m.get("ProvisionedConcurrencyConfig") {
        ctx.ck.err(
            Code::SamInvalid,
            pc.pos,
            &format!("{path}.ProvisionedConcurrencyConfig"),
            "ProvisionedConcurrencyConfig needs AutoPublishAlias",
        );
    }

    // DeploymentPreference.
    if let Some(dp) = m.get("DeploymentPreference") {
        let dpath = format!("{path}.DeploymentPreference");
        if let Some(update) =
            deployment_preference(ctx, id, dp, &dpath, alias_id.is_some(), &pass, &mut out)
            && let Some(i) = alias_index
            && let Some((_, alias)) = out.get_mut(i)
        {
            alias.update_policy = Some(update);
        }
    }

    // Events.
    let target = Target {
        fn_id: id.to_owned(),
        alias: alias_id,
    };
    let mut event_policies: Vec<Node> = Vec::new();
    if let Some(events) = ctx.ck.map(&m, "Events", &path).cloned() {
        // `SamFunction._generate_event_resources` goes through the events sorted by their Path
        // (the name when they have none; HTTP API events without one get `$default` from the
        // implicit API plugin first), ties in the Events mapping's Python 2.7 dict order after
        // two copies (fitted against aws-sam-translator 1.110; see `py27_order`).
        let names: Vec<String> = events.keys().map(str::to_owned).collect();
        let mut order = py27_order(&py27_order(&names));
        let sort_key = |name: &str| -> String {
            let ev = events.get(name).and_then(Node::as_map);
            let props = ev.and_then(|m| m.get("Properties")).and_then(Node::as_map);
            match props.and_then(|p| p.get("Path")).and_then(Node::as_str) {
                Some(path) => path.to_owned(),
                None if ev.and_then(|m| m.get("Type")).and_then(Node::as_str)
                    == Some("HttpApi")
                    && !props.is_some_and(|p| p.contains_key("Method")) =>
                {
                    "$default".to_owned()
                }
                None => name.to_owned(),
            }
        };
        order.sort_by_cached_key(|n| sort_key(n));
        // The implicit API plugin, which creates the REST API paths, goes through the Api events
        // earlier, in the order of a dict rebuilt from the mapping's (`_get_api_events`).
        let api_names: Vec<String> = py27_order(&names)
            .into_iter()
            .filter(|n| {
                events
                    .get(n)
                    .and_then(Node::as_map)
                    .and_then(|m| m.get("Type"))
                    .and_then(Node::as_str)
                    == Some("Api")
            })
            .collect();
        let plugin_order = py27_order(&api_names);
        for (name, e) in events.iter_entries() {
            let epath = format!("{path}.Events.{name}");
            let event_rank = order.iter().position(|n| n == name).unwrap_or(usize::MAX);
            let plugin_rank = plugin_order
                .iter()
                .position(|n| n == name)
                .unwrap_or(usize::MAX);
            expand_event(
                ctx,
                &target,
                (name, event_rank, plugin_rank),
                &e.value,
                &epath,
                &pass,
                &mut out,
                &mut event_policies,
            );
        }
    }

    // The execution role (`_construct_role`).
    if own_role {
        let assume = m.get("AssumeRolePolicyDocument").cloned().unwrap_or_else(|| {
            j(pos, &json!({"Version": "2012-10-17", "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}]}),
            )
        });
        let mut inline: Vec<Node> = Vec::new();
        if let Some(p) = m.get("Policies") {
            policies(
                ctx,
                id,
                p,
                &format!("{path}.Policies"),
                &mut managed,
                &mut inline,
            );
        }
        // Event sources' policies come after the template's (`_construct_role`).
        managed.extend(event_policies);
        let mut rm = Map::new();
        rm.insert("AssumeRolePolicyDocument", pos, assume);
        rm.insert("ManagedPolicyArns", pos, Node::seq(pos, managed));
        if !inline.is_empty() {
            rm.insert("Policies", pos, Node::seq(pos, inline));
        }
        if let Some(b) = m.get("PermissionsBoundary") {
            rm.insert("PermissionsBoundary", b.pos, b.clone());
        }
        if let Some(p) = m.get("RolePath") {
            rm.insert("Path", p.pos, p.clone());
        }
        rm.insert("Tags", pos, tag_node);
        let mut role = generated(pos, "AWS::IAM::Role", Node::map(pos, rm), id);
        pass.apply(&mut role);
        out.insert(1, (role_id, role));
    } else if let Some(p) = m.get("Policies") {
        ctx.ck.push(
            Diagnostic::warning(
                Code::SamInvalid,
                "Policies are ignored when the function has a Role",
            )
            .at(p.pos)
            .path(format!("{path}.Policies")),
        );
    }
    out
}

/// One statement of a SAM policy template: actions, whether `Action` is written as a single
/// string, and resources (`*`, or an ARN pattern whose `${var}` is the template's parameter).
type PolicyStatement = (&'static [&'static str], bool, &'static [&'static str]);

/// The SAM policy templates Slipway expands: name, parameter, the `${var}` it fills, statements.
/// The definitions are those of `policy_templates_data/policy_templates.json` (aws-sam-translator
/// 1.110).
#[allow(clippy::type_complexity)]
const POLICY_TEMPLATES: &[(&str, Option<&str>, &str, &[PolicyStatement])] = {
    const TABLE: &[&str] = &[
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}",
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}/index/*",
    ];
    const BUCKET: &[&str] = &[
        "arn:${AWS::Partition}:s3:::${bucketName}",
        "arn:${AWS::Partition}:s3:::${bucketName}/*",
    ];
    const QUEUE: &[&str] =
        &["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}"];
    &[
        (
            "DynamoDBCrudPolicy",
            Some("TableName"),
            "tableName",
            &[(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:ConditionCheckItem",
                ],
                false,
                TABLE,
            )],
        ),
        (
            "DynamoDBReadPolicy",
            Some("TableName"),
            "tableName",
            &[(
                &[
                    "dynamodb:GetItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                ],
                false,
                TABLE,
            )],
        ),
        (
            "DynamoDBWritePolicy",
            Some("TableName"),
            "tableName",
            &[(
                &[
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                ],
                false,
                TABLE,
            )],
        ),
        (
            "S3ReadPolicy",
            Some("BucketName"),
            "bucketName",
            &[(
                &[
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetObjectVersion",
                    "s3:GetLifecycleConfiguration",
                ],
                false,
                BUCKET,
            )],
        ),
        (
            "S3WritePolicy",
            Some("BucketName"),
            "bucketName",
            &[(
                &[
                    "s3:PutObject",
                    "s3:PutObjectAcl",
                    "s3:PutLifecycleConfiguration",
                ],
                false,
                BUCKET,
            )],
        ),
        (
            "S3CrudPolicy",
            Some("BucketName"),
            "bucketName",
            &[(
                &[
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetObjectVersion",
                    "s3:PutObject",
                    "s3:PutObjectAcl",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:DeleteObject",
                ],
                false,
                BUCKET,
            )],
        ),
        (
            "SQSPollerPolicy",
            Some("QueueName"),
            "queueName",
            &[(
                &[
                    "sqs:ChangeMessageVisibility",
                    "sqs:ChangeMessageVisibilityBatch",
                    "sqs:DeleteMessage",
                    "sqs:DeleteMessageBatch",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ],
                false,
                QUEUE,
            )],
        ),
        (
            "SQSSendMessagePolicy",
            Some("QueueName"),
            "queueName",
            &[(&["sqs:SendMessage*"], false, QUEUE)],
        ),
        (
            "SNSPublishMessagePolicy",
            Some("TopicName"),
            "topicName",
            &[(
                &["sns:Publish"],
                false,
                &["arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${topicName}"],
            )],
        ),
        (
            "LambdaInvokePolicy",
            Some("FunctionName"),
            "functionName",
            &[(
                &["lambda:InvokeFunction"],
                false,
                &[
                    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*",
                ],
            )],
        ),
        (
            "SSMParameterReadPolicy",
            Some("ParameterName"),
            "parameterName",
            &[
                (&["ssm:DescribeParameters"], false, &["*"]),
                (
                    &[
                        "ssm:GetParameters",
                        "ssm:GetParameter",
                        "ssm:GetParametersByPath",
                    ],
                    false,
                    &[
                        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${parameterName}",
                    ],
                ),
            ],
        ),
        (
            "AWSSecretsManagerGetSecretValuePolicy",
            Some("SecretArn"),
            "secretArn",
            &[(&["secretsmanager:GetSecretValue"], false, &["${secretArn}"])],
        ),
        (
            "KMSDecryptPolicy",
            Some("KeyId"),
            "keyId",
            &[(
                &["kms:Decrypt"],
                true,
                &["arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${keyId}"],
            )],
        ),
        (
            "CloudWatchPutMetricPolicy",
            None,
            "",
            &[(&["cloudwatch:PutMetricData"], false, &["*"])],
        ),
        (
            "EventBridgePutEventsPolicy",
            Some("EventBusName"),
            "eventBusName",
            &[(
                &["events:PutEvents"],
                true,
                &[
                    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${eventBusName}",
                ],
            )],
        ),
        (
            "StepFunctionsExecutionPolicy",
            Some("StateMachineName"),
            "stateMachineName",
            &[(
                &["states:StartExecution"],
                false,
                &[
                    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${stateMachineName}",
                ],
            )],
        ),
    ]
};

#[allow(clippy::type_complexity)]
fn policy_template(
    name: &str,
) -> Option<&'static (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static [PolicyStatement],
)> {
    POLICY_TEMPLATES.iter().find(|(n, ..)| *n == name)
}

/// `PolicyTemplatesProcessor`: the template's statements with its parameter's `Ref`s replaced
/// by the value given.
fn expand_policy_template(
    ctx: &mut Ctx<'_, '_>,
    name: &str,
    args: &Node,
    path: &str,
) -> Option<Node> {
    let (_, param, var, statements) = policy_template(name)?;
    let ppath = format!("{path}.{name}");
    let p = args.pos;
    let value = match param {
        None => None,
        Some(param) => {
            let Some(m) = args.as_map().filter(|_| args.intrinsic().is_none()) else {
                ctx.ck.err(
                    Code::WrongType,
                    p,
                    &ppath,
                    format!("the policy template {name} takes a mapping with {param}"),
                );
                return None;
            };
            ctx.ck.keys(m, &[param], &[], &ppath, name);
            if !ctx.ck.required(m, param, p, &ppath, name) {
                return None;
            }
            m.get(param).cloned()
        }
    };
    let stmts = statements
        .iter()
        .map(|(actions, single, resources)| {
            let action = if *single && actions.len() == 1 {
                s(p, actions[0])
            } else {
                Node::seq(p, actions.iter().map(|a| s(p, a)).collect())
            };
            let res: Vec<Node> = resources
                .iter()
                .map(|r| match (&value, *r) {
                    (_, "*") | (None, _) => s(p, r),
                    (Some(v), pattern) => Node::call(
                        p,
                        "Fn::Sub",
                        Node::seq(p, vec![s(p, pattern), obj(p, vec![(var, v.clone())])]),
                    ),
                })
                .collect();
            let resource = if res.len() == 1 {
                res.into_iter().next().unwrap_or_else(|| Node::null(p))
            } else {
                Node::seq(p, res)
            };
            obj(
                p,
                vec![
                    ("Action", action),
                    ("Effect", s(p, "Allow")),
                    ("Resource", resource),
                ],
            )
        })
        .collect();
    Some(obj(p, vec![("Statement", Node::seq(p, stmts))]))
}

/// `CodeUri`/`ContentUri` → an S3-shaped location (`_construct_code_dict`,
/// `construct_s3_location_object`).
fn code_location(
    ctx: &mut Ctx<'_, '_>,
    uri: &Node,
    path: &str,
    keys: (&str, &str, &str),
) -> Option<Node> {
    let p = uri.pos;
    match &uri.kind {
        Kind::String(t) => Some(match parse_s3_uri(t) {
            Some((b, k, v)) => {
                let mut e = vec![(keys.0, s(p, &b)), (keys.1, s(p, &k))];
                if let Some(v) = v {
                    e.push((keys.2, s(p, &v)));
                }
                obj(p, e)
            }
            None if t.starts_with("s3://") => {
                ctx.ck.err(
                    Code::InvalidValue,
                    p,
                    path,
                    format!("'{t}' is not an S3 URI of the form s3://bucket/key"),
                );
                return None;
            }
            None => obj(
                p,
                vec![(keys.0, s(p, LOCAL_CODE_BUCKET)), (keys.1, s(p, t))],
            ),
        }),
        Kind::Map(mm) if uri.intrinsic().is_none() => {
            ctx.ck.keys(
                mm,
                &["Bucket", "Key", "Version"],
                &[],
                path,
                "an S3 location",
            );
            let mut e = Vec::new();
            for (from, to) in [("Bucket", keys.0), ("Key", keys.1), ("Version", keys.2)] {
                match mm.get(from) {
                    Some(v) => e.push((to, v.clone())),
                    None if from != "Version" => {
                        ctx.ck.required(mm, from, p, path, "an S3 location");
                    }
                    None => {}
                }
            }
            Some(obj(p, e))
        }
        _ => {
            ctx.ck.err(
                Code::WrongType,
                p,
                path,
                "must be a local path, an s3:// URI or {Bucket, Key, Version}",
            );
            None
        }
    }
}

/// `_construct_version`: the logical ID of the published version.
fn version_logical_id(ctx: &mut Ctx<'_, '_>, id: &str, m: &Map, f: &Map, path: &str) -> String {
    let prefix = format!("{id}Version");
    if let Some(sha) = m.get("AutoPublishCodeSha256") {
        match sha.as_str() {
            // `LogicalIdGenerator.get_hash`: a given hash is used as is, cut to 10 characters.
            Some(t) if !t.is_empty() => {
                return format!("{prefix}{}", t.chars().take(10).collect::<String>());
            }
            _ => ctx.ck.err(
                Code::WrongType,
                sha.pos,
                &format!("{path}.AutoPublishCodeSha256"),
                "AutoPublishCodeSha256 must be a string",
            ),
        }
    }
    let all = m.get("AutoPublishAliasAllProperties").is_some_and(truthy);
    let data = if all {
        // The function's properties as they stand when the version is made: the generated
        // role is attached afterwards (`to_cloudformation`).
        let mut props = f.clone();
        if !m.contains_key("Role") {
            props.remove("Role");
        }
        Node::map(Pos::default(), props)
    } else {
        let mut d = f
            .get("Code")
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default();
        if let Some(env) = f.get("Environment").and_then(Node::as_map) {
            for (k, e) in env.iter_entries() {
                d.insert(k, e.key_pos, e.value.clone());
            }
        }
        if let Some(ms) = f.get("MemorySize") {
            d.insert("MemorySize", ms.pos, ms.clone());
        }
        if let Some(ss) = f.get("SnapStart")
            && ss
                .as_map()
                .and_then(|x| x.get("ApplyOn"))
                .and_then(Node::as_str)
                .is_some_and(|a| a != "None")
        {
            d.insert("SnapStart", ss.pos, ss.clone());
        }
        Node::map(Pos::default(), d)
    };
    sam_logical_id(&prefix, Some(&data))
}

/// Who an event invokes: the function, or its alias with AutoPublishAlias.
struct Target {
    fn_id: String,
    alias: Option<String>,
}

impl Target {
    /// `FunctionName` of permissions and event source mappings.
    fn name(&self, pos: Pos) -> Node {
        reff(pos, self.alias.as_deref().unwrap_or(&self.fn_id))
    }

    fn arn(&self, pos: Pos) -> Node {
        match &self.alias {
            Some(a) => reff(pos, a),
            None => getatt(pos, &self.fn_id, "Arn"),
        }
    }

    fn uri_var(&self) -> String {
        match &self.alias {
            Some(a) => a.clone(),
            None => format!("{}.Arn", self.fn_id),
        }
    }
}

/// `Policies` (`model/resource_policies.py`): managed policy names and ARNs, inline documents;
/// SAM policy templates are not expanded yet.
fn policies(
    ctx: &mut Ctx<'_, '_>,
    id: &str,
    p: &Node,
    path: &str,
    managed: &mut Vec<Node>,
    inline: &mut Vec<Node>,
) {
    let items: Vec<(String, &Node)> = match &p.kind {
        Kind::Seq(v) => v
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("{path}.{i}"), n))
            .collect(),
        _ => vec![(path.to_owned(), p)],
    };
    // Inline documents are named after their place in the list (`_construct_role`).
    for (n, (ipath, item)) in items.into_iter().enumerate() {
        match &item.kind {
            Kind::String(name) if name.starts_with("arn:") => managed.push(item.clone()),
            Kind::String(name) => managed.push(s(
                item.pos,
                &format!("arn:{}:iam::aws:policy/{name}", ctx.env.pseudo.partition),
            )),
            Kind::Map(mm) if item.intrinsic().is_some() => {
                let _ = mm;
                managed.push(item.clone());
            }
            Kind::Map(mm) if mm.contains_key("Statement") => {
                inline.push(obj(
                    item.pos,
                    vec![
                        ("PolicyName", s(item.pos, &format!("{id}RolePolicy{n}"))),
                        ("PolicyDocument", item.clone()),
                    ],
                ));
            }
            Kind::Map(mm) => match mm.single() {
                Some((name, args)) if policy_template(name).is_some() => {
                    if let Some(doc) = expand_policy_template(ctx, name, args, &ipath) {
                        inline.push(obj(
                            item.pos,
                            vec![
                                ("PolicyName", s(item.pos, &format!("{id}RolePolicy{n}"))),
                                ("PolicyDocument", doc),
                            ],
                        ));
                    }
                }
                _ => {
                    let name = mm.keys().next().unwrap_or("?").to_owned();
                    ctx.ck.err(
                        Code::SamUnsupported,
                        item.pos,
                        &ipath,
                        format!(
                            "SAM policy template '{name}' is not supported by Slipway yet; write the policy document inline"
                        ),
                    );
                }
            },
            _ => ctx.ck.err(
                Code::WrongType,
                item.pos,
                &ipath,
                "a policy must be a managed policy name or ARN, or a policy document",
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DeploymentPreference (`model/preferences/deployment_preference*.py`)

const DP_KNOWN: &[&str] = &[
    "Type",
    "Alarms",
    "Hooks",
    "Enabled",
    "Role",
    "TriggerConfigurations",
    "PassthroughCondition",
];
const PREDEFINED: &[&str] = &[
    "Canary10Percent30Minutes",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "AllAtOnce",
    "Linear10PercentEvery10Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
];
const DEPLOY_APP: &str = "ServerlessDeploymentApplication";
const DEPLOY_ROLE: &str = "CodeDeployServiceRole";

/// Adds `<Fn>DeploymentGroup`; returns the alias's `UpdatePolicy`.
fn deployment_preference(
    ctx: &mut Ctx<'_, '_>,
    id: &str,
    dp: &Node,
    path: &str,
    has_alias: bool,
    pass: &Pass,
    out: &mut Vec<(String, RawResource)>,
) -> Option<Node> {
    let Some(m) = dp.as_map().filter(|_| dp.intrinsic().is_none()) else {
        ctx.ck.err(
            Code::WrongType,
            dp.pos,
            path,
            "DeploymentPreference must be a mapping",
        );
        return None;
    };
    ctx.ck.keys(m, DP_KNOWN, &[], path, "DeploymentPreference");
    let passthrough = m.get("PassthroughCondition").is_some_and(truthy);
    let condition = pass
        .condition
        .as_ref()
        .filter(|_| passthrough)
        .map(|(c, _)| c.clone());
    if let Some(c) = &condition {
        ctx.dp_conditions.insert(c.clone());
    }
    if m.get("Enabled").is_some_and(|e| !truthy(e)) {
        return None;
    }
    if condition.is_none() {
        ctx.dp_unconditional = true;
    }
    if !has_alias {
        ctx.ck.err(
            Code::SamInvalid,
            dp.pos,
            path,
            "'DeploymentPreference' requires the AutoPublishAlias property",
        );
        return None;
    }
    if !ctx
        .ck
        .required(m, "Type", dp.pos, path, "DeploymentPreference")
    {
        return None;
    }
    let p = dp.pos;
    let type_ = m.get("Type").cloned().unwrap_or_else(|| Node::null(p));
    let config = match type_.as_str() {
        Some(t) if PREDEFINED.contains(&t) => Node::call(
            p,
            "Fn::Sub",
            Node::seq(
                p,
                vec![
                    s(p, "CodeDeployDefault.Lambda${ConfigName}"),
                    obj(p, vec![("ConfigName", type_.clone())]),
                ],
            ),
        ),
        _ => type_.clone(),
    };
    ctx.deploy_app.get_or_insert(p);
    let role = match m.get("Role") {
        Some(r) => r.clone(),
        None => {
            ctx.codedeploy_role.get_or_insert(p);
            getatt(p, DEPLOY_ROLE, "Arn")
        }
    };
    let mut g = Map::new();
    if let Some(a) = m
        .get("Alarms")
        .filter(|a| !a.is_null() && a.as_seq().is_none_or(|s| !s.is_empty()))
    {
        let alarms = match &a.kind {
            Kind::Seq(items) => Node::seq(
                a.pos,
                items
                    .iter()
                    .map(|i| obj(i.pos, vec![("Name", i.clone())]))
                    .collect(),
            ),
            // `Fn::If` over lists of alarms stays as written for CloudFormation.
            _ => a.clone(),
        };
        g.insert(
            "AlarmConfiguration",
            a.pos,
            obj(
                a.pos,
                vec![("Alarms", alarms), ("Enabled", Node::bool(a.pos, true))],
            ),
        );
    }
    g.insert("ApplicationName", p, reff(p, DEPLOY_APP));
    g.insert(
        "AutoRollbackConfiguration",
        p,
        j(p, &json!({"Enabled": true, "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]}),
        ),
    );
    g.insert("DeploymentConfigName", p, config);
    g.insert(
        "DeploymentStyle",
        p,
        j(
            p,
            &json!({"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}),
        ),
    );
    g.insert("ServiceRoleArn", p, role);
    if let Some(t) = m.get("TriggerConfigurations") {
        g.insert("TriggerConfigurations", t.pos, t.clone());
    }
    let gid = format!("{id}DeploymentGroup");
    let mut group = generated(p, "AWS::CodeDeploy::DeploymentGroup", Node::map(p, g), id);
    if condition.is_some() {
        group.condition.clone_from(&pass.condition);
    }
    out.push((gid.clone(), group));

    let mut u = vec![
        ("ApplicationName", reff(p, DEPLOY_APP)),
        ("DeploymentGroupName", reff(p, &gid)),
    ];
    if let Some(h) = ctx.ck.map(m, "Hooks", path).cloned() {
        let hpath = format!("{path}.Hooks");
        ctx.ck
            .keys(&h, &["PreTraffic", "PostTraffic"], &[], &hpath, "Hooks");
        for (k, attr) in [
            ("PreTraffic", "BeforeAllowTrafficHook"),
            ("PostTraffic", "AfterAllowTrafficHook"),
        ] {
            if let Some(n) = h.get(k) {
                let hook = match (n.as_str(), ref_target(n)) {
                    (Some(name), _) => reff(n.pos, name),
                    (None, Some(_)) => n.clone(),
                    (None, None) => {
                        ctx.ck.err(
                            Code::WrongType,
                            n.pos,
                            &format!("{hpath}.{k}"),
                            "a hook must be the logical ID of a function",
                        );
                        continue;
                    }
                };
                u.push((attr, hook));
            }
        }
    }
    Some(obj(p, vec![("CodeDeployLambdaAliasUpdate", obj(p, u))]))
}

fn codedeploy_resources(ctx: &mut Ctx<'_, '_>, out: &mut IndexMap<String, RawResource>) {
    // `DeploymentPreferenceCollection.needs_resource_condition`: when every enabled preference
    // passes its function's condition through, the shared resources take it. (With several
    // different conditions SAM adds an `Fn::Or` condition `ServerlessCodeDeployCondition`;
    // conditions are decided before the transform here, and the resources stay unconditional.)
    let shared_condition = match (ctx.dp_unconditional, ctx.dp_conditions.len()) {
        (false, 1) => ctx
            .dp_conditions
            .first()
            .map(|c| (c.clone(), ctx.deploy_app.unwrap_or_default())),
        _ => None,
    };
    if let Some(p) = ctx.deploy_app {
        let app = generated(
            p,
            "AWS::CodeDeploy::Application",
            obj(p, vec![("ComputePlatform", s(p, "Lambda"))]),
            DEPLOY_APP,
        );
        let mut app = app;
        app.condition.clone_from(&shared_condition);
        out.insert(DEPLOY_APP.to_owned(), app);
    }
    if let Some(p) = ctx.codedeploy_role {
        let role = generated(
            p,
            "AWS::IAM::Role",
            j(
                p,
                &json!({
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": ["codedeploy.amazonaws.com"]}}]},
                    "ManagedPolicyArns": [format!("arn:{}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda", ctx.env.pseudo.partition)]
                }),
            ),
            DEPLOY_ROLE,
        );
        let mut role = role;
        role.condition.clone_from(&shared_condition);
        out.insert(DEPLOY_ROLE.to_owned(), role);
    }
}

// ---------------------------------------------------------------------------------------------
// Events (`model/eventsources/push.py`, `pull.py`)

const EVENT_TYPES: &[&str] = &["Api", "HttpApi", "S3", "Schedule", "SNS", "SQS"];
const EVENT_TYPES_UNSUPPORTED: &[&str] = &[
    "CloudWatchEvent",
    "EventBridgeRule",
    "DynamoDB",
    "Kinesis",
    "MQ",
    "MSK",
    "SelfManagedKafka",
    "ScheduleV2",
    "CloudWatchLogs",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
    "DocumentDB",
];

fn permission(pos: Pos, t: &Target, principal: &str, extra: Vec<(&str, Node)>) -> Node {
    let mut e = vec![
        ("Action", s(pos, "lambda:InvokeFunction")),
        ("FunctionName", t.name(pos)),
        ("Principal", s(pos, principal)),
    ];
    e.extend(extra);
    obj(pos, e)
}

/// A path's resource form in an `execute-api` ARN: `{param}` and `{proxy+}` become `*`.
fn arn_path(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('*');
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn expand_event(
    ctx: &mut Ctx<'_, '_>,
    t: &Target,
    (name, event_rank, plugin_rank): (&str, usize, usize),
    node: &Node,
    epath: &str,
    pass: &Pass,
    out: &mut Vec<(String, RawResource)>,
    policies: &mut Vec<Node>,
) {
    let Some(em) = node.as_map().filter(|_| node.intrinsic().is_none()) else {
        ctx.ck.err(
            Code::SamEventInvalid,
            node.pos,
            epath,
            "an event must be a mapping with Type and Properties",
        );
        return;
    };
    ctx.ck
        .keys(em, &["Type", "Properties"], &[], epath, "an event");
    let Some(type_) = ctx.ck.string(em, "Type", epath) else {
        if !em.contains_key("Type") {
            ctx.ck.err(
                Code::MissingRequired,
                node.pos,
                &format!("{epath}.Type"),
                "the event needs a Type",
            );
        }
        return;
    };
    let tpos = em.get("Type").map_or(node.pos, |n| n.pos);
    if EVENT_TYPES_UNSUPPORTED.contains(&type_.as_str()) {
        ctx.ck.err(
            Code::SamUnsupported,
            tpos,
            &format!("{epath}.Type"),
            format!("event type '{type_}' is not supported by Slipway yet"),
        );
        return;
    }
    if !EVENT_TYPES.contains(&type_.as_str()) {
        let mut d = Diagnostic::error(
            Code::SamEventInvalid,
            format!("unknown event type '{type_}'"),
        )
        .at(tpos)
        .path(format!("{epath}.Type"));
        if let Some(sug) = did_you_mean(
            &type_,
            EVENT_TYPES.iter().chain(EVENT_TYPES_UNSUPPORTED).copied(),
        ) {
            d = d.help(format!("did you mean '{sug}'?"));
        }
        ctx.ck.push(d);
        return;
    }
    let ppath = format!("{epath}.Properties");
    let empty = Map::new();
    let props = match em.get("Properties") {
        Some(p) => match p.as_map() {
            Some(m) if p.intrinsic().is_none() => m.clone(),
            _ => {
                ctx.ck.err(
                    Code::WrongType,
                    p.pos,
                    &ppath,
                    "an event's Properties must be a mapping",
                );
                return;
            }
        },
        None => empty,
    };
    let pos = node.pos;
    let eid = format!("{}{name}", t.fn_id);
    let mut push = |ctx: &mut Ctx<'_, '_>, lid: String, type_: &str, props: Node| {
        let _ = ctx;
        let mut r = generated(pos, type_, props, &t.fn_id);
        pass.apply(&mut r);
        out.push((lid, r));
    };
    match type_.as_str() {
        "Api" => {
            ctx.ck.keys(
                &props,
                &["Path", "Method", "RestApiId"],
                &[
                    "Auth",
                    "RequestModel",
                    "RequestParameters",
                    "TimeoutInMillis",
                ],
                &ppath,
                "an Api event",
            );
            let (Some(p), Some(method)) = (
                api_path(ctx, &props, pos, &ppath, true),
                api_method(ctx, &props, pos, &ppath, true),
            ) else {
                return;
            };
            let api = match props.get("RestApiId") {
                None => IMPLICIT_REST.to_owned(),
                Some(n) => match ref_target(n) {
                    Some(a)
                        if ctx.types.get(&a).map(String::as_str)
                            == Some("AWS::Serverless::Api") =>
                    {
                        a
                    }
                    _ => {
                        ctx.ck.err(
                            Code::SamEventInvalid,
                            n.pos,
                            &format!("{ppath}.RestApiId"),
                            "RestApiId must be a Ref to an AWS::Serverless::Api of this template",
                        );
                        return;
                    }
                },
            };
            let stage = ctx
                .rest_stages
                .get(&api)
                .cloned()
                .unwrap_or_else(|| "Prod".into());
            let stage_suffix: String = stage.chars().filter(char::is_ascii_alphanumeric).collect();
            let arn_method = if method == "any" {
                "*".to_owned()
            } else {
                method.to_uppercase()
            };
            let source = Node::call(
                pos,
                "Fn::Sub",
                Node::seq(
                    pos,
                    vec![
                        s(
                            pos,
                            &format!(
                                "arn:{}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{__ApiId__}}/${{__Stage__}}/{arn_method}{}",
                                ctx.env.pseudo.partition,
                                arn_path(&p)
                            ),
                        ),
                        obj(
                            pos,
                            vec![("__ApiId__", reff(pos, &api)), ("__Stage__", s(pos, "*"))],
                        ),
                    ],
                ),
            );
            push(
                ctx,
                format!("{eid}Permission{stage_suffix}"),
                "AWS::Lambda::Permission",
                permission(
                    pos,
                    t,
                    "apigateway.amazonaws.com",
                    vec![("SourceArn", source)],
                ),
            );
            ctx.rest_routes.entry(api).or_default().push(Route {
                path: p,
                method,
                uri_target: t.uri_var(),
                pos,
                rank: (
                    ctx.fn_rank.get(&t.fn_id).copied().unwrap_or(usize::MAX),
                    event_rank,
                ),
                plugin_rank: (
                    ctx.fn_rank.get(&t.fn_id).copied().unwrap_or(usize::MAX),
                    plugin_rank,
                ),
                condition: pass.condition.clone(),
                payload_format_version: None,
                timeout: None,
            });
        }
        "HttpApi" => {
            ctx.ck.keys(
                &props,
                &[
                    "ApiId",
                    "Path",
                    "Method",
                    "PayloadFormatVersion",
                    "TimeoutInMillis",
                ],
                &["Auth", "RouteSettings"],
                &ppath,
                "an HttpApi event",
            );
            let p = api_path(ctx, &props, pos, &ppath, false);
            let method = api_method(ctx, &props, pos, &ppath, false);
            let (p, method) = match (p, method) {
                (Some(p), Some(m)) => (p, m),
                (None, None) if !props.contains_key("Path") && !props.contains_key("Method") => {
                    ("$default".to_owned(), "any".to_owned())
                }
                _ => {
                    ctx.ck.err(Code::SamEventInvalid, pos, &ppath, "an HttpApi event needs both Path and Method, or neither (the $default route)");
                    return;
                }
            };
            let api = match props.get("ApiId") {
                None => IMPLICIT_HTTP.to_owned(),
                Some(n) => match ref_target(n) {
                    Some(a)
                        if ctx.types.get(&a).map(String::as_str)
                            == Some("AWS::Serverless::HttpApi") =>
                    {
                        a
                    }
                    _ => {
                        ctx.ck.err(
                            Code::SamEventInvalid,
                            n.pos,
                            &format!("{ppath}.ApiId"),
                            "ApiId must be a Ref to an AWS::Serverless::HttpApi of this template",
                        );
                        return;
                    }
                },
            };
            let arn_tail = if p == "$default" {
                "*".to_owned()
            } else {
                let m = if method == "any" {
                    "*".to_owned()
                } else {
                    method.to_uppercase()
                };
                format!("{m}{}", arn_path(&p))
            };
            let source = Node::call(
                pos,
                "Fn::Sub",
                Node::seq(
                    pos,
                    vec![
                        s(
                            pos,
                            &format!(
                                "arn:{}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{__ApiId__}}/${{__Stage__}}/{arn_tail}",
                                ctx.env.pseudo.partition
                            ),
                        ),
                        obj(
                            pos,
                            vec![("__ApiId__", reff(pos, &api)), ("__Stage__", s(pos, "*"))],
                        ),
                    ],
                ),
            );
            push(
                ctx,
                format!("{eid}Permission"),
                "AWS::Lambda::Permission",
                permission(
                    pos,
                    t,
                    "apigateway.amazonaws.com",
                    vec![("SourceArn", source)],
                ),
            );
            ctx.http_routes.entry(api).or_default().push(Route {
                path: p,
                method,
                uri_target: t.uri_var(),
                pos,
                rank: (
                    ctx.fn_rank.get(&t.fn_id).copied().unwrap_or(usize::MAX),
                    event_rank,
                ),
                plugin_rank: (
                    ctx.fn_rank.get(&t.fn_id).copied().unwrap_or(usize::MAX),
                    plugin_rank,
                ),
                condition: pass.condition.clone(),
                payload_format_version: props.get("PayloadFormatVersion").cloned(),
                timeout: props.get("TimeoutInMillis").cloned(),
            });
        }
        "Schedule" => {
            ctx.ck.keys(
                &props,
                &[
                    "Schedule",
                    "Input",
                    "Enabled",
                    "State",
                    "Name",
                    "Description",
                    "RetryPolicy",
                ],
                &["DeadLetterConfig"],
                &ppath,
                "a Schedule event",
            );
            if !ctx
                .ck
                .required(&props, "Schedule", pos, &ppath, "a Schedule event")
            {
                return;
            }
            let mut rule = Map::new();
            if let Some(x) = props.get("Schedule") {
                rule.insert("ScheduleExpression", x.pos, x.clone());
            }
            match (props.get("State"), props.get("Enabled")) {
                (Some(st), Some(en)) => ctx.ck.err(
                    Code::SamEventInvalid,
                    en.pos,
                    &format!("{ppath}.Enabled"),
                    format!(
                        "State and Enabled cannot both be set (State is {})",
                        describe(st)
                    ),
                ),
                (Some(st), None) => {
                    rule.insert("State", st.pos, st.clone());
                }
                (None, Some(en)) => {
                    let v = if truthy(en) { "ENABLED" } else { "DISABLED" };
                    rule.insert("State", en.pos, s(en.pos, v));
                }
                (None, None) => {}
            }
            for k in ["Name", "Description"] {
                if let Some(x) = props.get(k) {
                    rule.insert(k, x.pos, x.clone());
                }
            }
            let mut target = vec![
                ("Arn", t.arn(pos)),
                ("Id", s(pos, &format!("{eid}LambdaTarget"))),
            ];
            if let Some(i) = props.get("Input") {
                target.push(("Input", i.clone()));
            }
            if let Some(rp) = props.get("RetryPolicy") {
                target.push(("RetryPolicy", rp.clone()));
            }
            rule.insert("Targets", pos, Node::seq(pos, vec![obj(pos, target)]));
            push(ctx, eid.clone(), "AWS::Events::Rule", Node::map(pos, rule));
            push(
                ctx,
                format!("{eid}Permission"),
                "AWS::Lambda::Permission",
                permission(
                    pos,
                    t,
                    "events.amazonaws.com",
                    vec![("SourceArn", getatt(pos, &eid, "Arn"))],
                ),
            );
        }
        "SNS" => {
            ctx.ck.keys(
                &props,
                &[
                    "Topic",
                    "FilterPolicy",
                    "FilterPolicyScope",
                    "Region",
                    "RedrivePolicy",
                ],
                &["SqsSubscription"],
                &ppath,
                "an SNS event",
            );
            if !ctx
                .ck
                .required(&props, "Topic", pos, &ppath, "an SNS event")
            {
                return;
            }
            let topic = props
                .get("Topic")
                .cloned()
                .unwrap_or_else(|| Node::null(pos));
            push(
                ctx,
                format!("{eid}Permission"),
                "AWS::Lambda::Permission",
                permission(
                    pos,
                    t,
                    "sns.amazonaws.com",
                    vec![("SourceArn", topic.clone())],
                ),
            );
            let mut sm = vec![
                ("Endpoint", t.arn(pos)),
                ("Protocol", s(pos, "lambda")),
                ("TopicArn", topic),
            ];
            for k in [
                "FilterPolicy",
                "FilterPolicyScope",
                "Region",
                "RedrivePolicy",
            ] {
                if let Some(x) = props.get(k) {
                    sm.push((k, x.clone()));
                }
            }
            push(ctx, eid, "AWS::SNS::Subscription", obj(pos, sm));
        }
        "SQS" => {
            const SQS: &[&str] = &[
                "Queue",
                "BatchSize",
                "Enabled",
                "FilterCriteria",
                "FunctionResponseTypes",
                "MaximumBatchingWindowInSeconds",
                "ScalingConfig",
                "KmsKeyArn",
                "MetricsConfig",
            ];
            ctx.ck.keys(&props, SQS, &[], &ppath, "an SQS event");
            if !ctx
                .ck
                .required(&props, "Queue", pos, &ppath, "an SQS event")
            {
                return;
            }
            ctx.ck.int(&props, "BatchSize", &ppath);
            let mut esm = Map::new();
            for k in SQS {
                if let Some(x) = props.get(k) {
                    let key = if *k == "Queue" { "EventSourceArn" } else { k };
                    esm.insert(key, x.pos, x.clone());
                }
            }
            esm.insert("FunctionName", pos, t.name(pos));
            push(
                ctx,
                eid,
                "AWS::Lambda::EventSourceMapping",
                Node::map(pos, esm),
            );
            policies.push(managed_arn(
                pos,
                &ctx.env.pseudo.partition,
                "service-role/AWSLambdaSQSQueueExecutionRole",
            ));
        }
        "S3" => {
            ctx.ck.keys(
                &props,
                &["Bucket", "Events", "Filter"],
                &[],
                &ppath,
                "an S3 event",
            );
            let ok = ctx
                .ck
                .required(&props, "Bucket", pos, &ppath, "an S3 event")
                & ctx
                    .ck
                    .required(&props, "Events", pos, &ppath, "an S3 event");
            if !ok {
                return;
            }
            let bnode = props
                .get("Bucket")
                .cloned()
                .unwrap_or_else(|| Node::null(pos));
            // `push.py` `S3.resources_to_link`: the bucket must be declared in this template.
            let bucket = match bnode.intrinsic() {
                Some(("Ref", a)) => a.as_str().map(str::to_owned),
                _ => None,
            };
            let Some(bucket) =
                bucket.filter(|b| ctx.types.get(b).map(String::as_str) == Some("AWS::S3::Bucket"))
            else {
                ctx.ck.err(
                    Code::SamEventInvalid,
                    bnode.pos,
                    &format!("{ppath}.Bucket"),
                    "S3 events must reference an AWS::S3::Bucket of the same template with !Ref",
                );
                return;
            };
            let events = match props.get("Events") {
                Some(n) => match &n.kind {
                    Kind::Seq(v) => v.clone(),
                    _ => vec![n.clone()],
                },
                None => Vec::new(),
            };
            let perm = format!("{eid}Permission");
            push(
                ctx,
                perm.clone(),
                "AWS::Lambda::Permission",
                permission(
                    pos,
                    t,
                    "s3.amazonaws.com",
                    vec![("SourceAccount", reff(pos, "AWS::AccountId"))],
                ),
            );
            ctx.s3.push(S3Notification {
                bucket,
                events,
                filter: props.get("Filter").cloned(),
                function_arn: t.arn(pos),
                permission: perm,
                conditional: pass.condition.is_some(),
                pos,
                path: ppath.clone(),
            });
        }
        _ => {}
    }
}

fn api_path(
    ctx: &mut Ctx<'_, '_>,
    props: &Map,
    pos: Pos,
    ppath: &str,
    required: bool,
) -> Option<String> {
    if required && !ctx.ck.required(props, "Path", pos, ppath, "an Api event") {
        return None;
    }
    let p = ctx.ck.string(props, "Path", ppath)?;
    if !p.starts_with('/') {
        let at = props.get("Path").map_or(pos, |n| n.pos);
        ctx.ck.err(
            Code::SamEventInvalid,
            at,
            &format!("{ppath}.Path"),
            format!("Path '{p}' must start with '/'"),
        );
        return None;
    }
    Some(p)
}

fn api_method(
    ctx: &mut Ctx<'_, '_>,
    props: &Map,
    pos: Pos,
    ppath: &str,
    required: bool,
) -> Option<String> {
    if required && !ctx.ck.required(props, "Method", pos, ppath, "an Api event") {
        return None;
    }
    let m = ctx.ck.string(props, "Method", ppath)?.to_lowercase();
    const METHODS: &[&str] = &[
        "get", "post", "put", "delete", "patch", "head", "options", "any",
    ];
    if !METHODS.contains(&m.as_str()) {
        let at = props.get("Method").map_or(pos, |n| n.pos);
        ctx.ck.err(
            Code::SamEventInvalid,
            at,
            &format!("{ppath}.Method"),
            format!("Method '{m}' is not an HTTP method (or 'any')"),
        );
        return None;
    }
    Some(m)
}

/// `push.py` `S3._inject_notification_configuration`: the bucket gets a
/// `LambdaConfigurations` entry per event, and waits for the permission.
fn apply_s3_notifications(ctx: &mut Ctx<'_, '_>, out: &mut IndexMap<String, RawResource>) {
    for n in std::mem::take(&mut ctx.s3) {
        let Some(b) = out.get_mut(&n.bucket) else {
            ctx.ck.err(
                Code::SamEventInvalid,
                n.pos,
                &n.path,
                format!("bucket '{}' is not created", n.bucket),
            );
            continue;
        };
        let p = n.pos;
        if !n.conditional && !b.depends_on.iter().any(|(d, _)| *d == n.permission) {
            b.depends_on.push((n.permission.clone(), n.pos));
        }
        let props = b.props_mut();
        if n.conditional {
            // The tag's value is `Fn::If [<condition>, Ref <permission>, "no dependency"]`; the
            // condition holds (the function is expanded), so the reference is what remains.
            let mut tags: Vec<Node> = props
                .get("Tags")
                .and_then(Node::as_seq)
                .map(<[Node]>::to_vec)
                .unwrap_or_default();
            tags.push(obj(
                p,
                vec![
                    (
                        "Key",
                        s(p, &format!("sam:ConditionalDependsOn:{}", n.permission)),
                    ),
                    ("Value", reff(p, &n.permission)),
                ],
            ));
            props.insert("Tags", p, Node::seq(p, tags));
        }
        let mut nc = props
            .get("NotificationConfiguration")
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default();
        let mut lc: Vec<Node> = nc
            .get("LambdaConfigurations")
            .and_then(Node::as_seq)
            .map(<[Node]>::to_vec)
            .unwrap_or_default();
        for e in &n.events {
            let mut c = vec![("Event", e.clone()), ("Function", n.function_arn.clone())];
            if let Some(f) = &n.filter {
                c.push(("Filter", f.clone()));
            }
            lc.push(obj(p, c));
        }
        nc.insert("LambdaConfigurations", p, Node::seq(p, lc));
        props.insert("NotificationConfiguration", p, Node::map(p, nc));
    }
}

// ---------------------------------------------------------------------------------------------
// AWS::Serverless::Api (`model/api/api_generator.py`, `swagger/swagger.py`)

const API_KNOWN: &[&str] = &[
    "StageName",
    "Variables",
    "Cors",
    "BinaryMediaTypes",
    "DefinitionBody",
    "DefinitionUri",
    "OpenApiVersion",
    "Name",
    "Description",
    "EndpointConfiguration",
    "MethodSettings",
    "CacheClusterEnabled",
    "CacheClusterSize",
    "TracingEnabled",
    "MinimumCompressionSize",
    "AccessLogSetting",
    "CanarySetting",
    "Tags",
    "DisableExecuteApiEndpoint",
];
const API_UNSUPPORTED: &[&str] = &[
    "Auth",
    "GatewayResponses",
    "Domain",
    "Models",
    "MergeDefinitions",
    "AlwaysDeploy",
    "ApiKeySourceType",
    "FailOnWarnings",
    "Mode",
    "PropagateTags",
    "Policy",
];

/// The API definition: inline, from a local file, or SAM's skeleton. `Err` carries an S3
/// location (`BodyS3Location`), which events cannot add routes to.
fn definition(
    ctx: &mut Ctx<'_, '_>,
    m: &Map,
    path: &str,
    skeleton: Node,
    pos: Pos,
) -> Result<(Node, bool), Node> {
    if let Some(b) = m.get("DefinitionBody") {
        if b.as_map().is_some() && b.intrinsic().is_none() {
            return Ok((b.clone(), false));
        }
        ctx.ck.err(Code::SamUnsupported, b.pos, &format!("{path}.DefinitionBody"), "a DefinitionBody computed by an intrinsic function (e.g. AWS::Include) is not supported by Slipway yet");
    } else if let Some(u) = m.get("DefinitionUri") {
        let upath = format!("{path}.DefinitionUri");
        match u.as_str() {
            Some(t) if t.starts_with("s3://") => {
                if let Some((b, k, v)) = parse_s3_uri(t) {
                    let mut e = vec![("Bucket", s(u.pos, &b)), ("Key", s(u.pos, &k))];
                    if let Some(v) = v {
                        e.push(("Version", s(u.pos, &v)));
                    }
                    return Err(obj(u.pos, e));
                }
                ctx.ck.err(
                    Code::InvalidValue,
                    u.pos,
                    &upath,
                    format!("'{t}' is not an S3 URI of the form s3://bucket/key"),
                );
            }
            Some(t) => match ctx.env.files.read(t) {
                Ok(text) => {
                    let parsed = parse_document(&text, TagMode::Plain);
                    match parsed.root {
                        Some(root) if root.as_map().is_some() && parsed.diagnostics.is_empty() => {
                            return Ok((root, false));
                        }
                        _ => ctx.ck.err(
                            Code::SamInvalid,
                            u.pos,
                            &upath,
                            format!("'{t}' is not a valid OpenAPI document (YAML or JSON mapping)"),
                        ),
                    }
                }
                Err(e) => ctx.ck.err(
                    Code::SamInvalid,
                    u.pos,
                    &upath,
                    format!("cannot read DefinitionUri: {e}"),
                ),
            },
            None if u.as_map().is_some() && u.intrinsic().is_none() => {
                if let Some(mm) = u.as_map() {
                    ctx.ck.keys(
                        mm,
                        &["Bucket", "Key", "Version"],
                        &[],
                        &upath,
                        "an S3 location",
                    );
                }
                return Err(u.clone());
            }
            None => ctx.ck.err(
                Code::WrongType,
                u.pos,
                &upath,
                "DefinitionUri must be a path, an s3:// URI or {Bucket, Key, Version}",
            ),
        }
    }
    let _ = pos;
    Ok((skeleton, true))
}

/// `SwaggerEditor.gen_skeleton` / `OpenApiEditor.gen_skeleton`.
fn skeleton(pos: Pos, version_key: &str, version: &str) -> Node {
    let pp = plain(pos);
    let info = py27_obj(
        pp,
        vec![
            ("version", pp, s(pp, "1.0")),
            (
                "title",
                pp,
                py27_obj(pp, vec![("Ref", pp, s(pp, "AWS::StackName"))]),
            ),
        ],
    );
    py27_obj(
        pp,
        vec![
            (version_key, pp, s(pp, version)),
            ("info", pp, info),
            ("paths", pp, Node::map(pp, Map::new())),
        ],
    )
}

fn route_method_key(method: &str) -> String {
    if method == "any" {
        "x-amazon-apigateway-any-method".to_owned()
    } else {
        method.to_owned()
    }
}

/// `SwaggerEditor.add_lambda_integration` / `OpenApiEditor.add_lambda_integration`.
///
/// For REST APIs the order of keys matters (it is hashed into the deployment's ID), so SAM's two
/// passes are reproduced: the implicit API plugin first adds every path and method (empty), in
/// its order of functions and events, copying the definition once after each; then each event
/// fills its method while the definition is copied twice per event, and twice more by the
/// translator around them. (Fitted against aws-sam-translator 1.110: every one of 160 random
/// many-function templates got SAM's ID.)
fn add_routes(ctx: &mut Ctx<'_, '_>, body: &mut Node, routes: &[Route], api: &str, http: bool) {
    let bpos = body.pos;
    if body
        .as_map()
        .is_some_and(|m| m.get("paths").is_none_or(|p| p.as_map().is_none()))
        && let Some(bm) = body.as_map_mut()
    {
        py27_insert(bm, "paths", plain(bpos), Node::map(plain(bpos), Map::new()));
    }
    let mut routes: Vec<&Route> = routes.iter().collect();
    routes.sort_by_key(|r| if http { r.rank } else { r.plugin_rank });
    // Pass 1: paths and methods.
    let mut fresh: Vec<bool> = Vec::with_capacity(routes.len());
    for r in &routes {
        let p = r.pos;
        let pp = plain(p);
        let cond = r.condition.as_ref().filter(|_| !http);
        let key = route_method_key(&r.method);
        let Some(paths) = paths_of(body) else {
            return;
        };
        if !paths.contains_key(&r.path) {
            let empty = Node::map(p, Map::new());
            py27_insert(paths, &r.path, p, wrap_if(cond, pp, empty));
        }
        let Some(pm) = paths.get_mut(&r.path).and_then(conditional_body) else {
            fresh.push(false);
            continue;
        };
        let is_new = !pm.contains_key(&key);
        if is_new {
            let key_pos = if key == r.method { p } else { pp };
            py27_insert(pm, &key, key_pos, Node::map(pp, Map::new()));
        }
        fresh.push(is_new);
        if !http {
            py27_copy(body);
        }
    }
    // Pass 2: integrations.
    for (r, is_new) in routes.iter().zip(fresh) {
        let p = r.pos;
        let pp = plain(p);
        let cond = r.condition.as_ref().filter(|_| !http);
        let key = route_method_key(&r.method);
        if !is_new {
            ctx.ck.err(
                Code::SamEventInvalid,
                p,
                &format!("Resources.{api}"),
                format!(
                    "the API method '{}' is defined more than once for the path '{}'",
                    r.method, r.path
                ),
            );
            continue;
        }
        // The URI is a template-derived string when it names the function, SAM's own when it
        // names the alias it generated.
        let target_pos = if r.uri_target.contains('.') { p } else { pp };
        let uri = Node::call(
            pp,
            "Fn::Sub",
            s(
                target_pos,
                &format!(
                    "arn:{}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{}}}/invocations",
                    ctx.env.pseudo.partition, r.uri_target
                ),
            ),
        );
        let mut integ = vec![
            ("type", pp, s(pp, "aws_proxy")),
            ("httpMethod", pp, s(pp, "POST")),
            ("uri", pp, wrap_if(cond, pp, uri)),
        ];
        if http {
            integ.push((
                "payloadFormatVersion",
                pp,
                r.payload_format_version
                    .clone()
                    .unwrap_or_else(|| s(pp, "2.0")),
            ));
            if let Some(t) = &r.timeout {
                integ.push(("timeoutInMillis", pp, t.clone()));
            }
        }
        let mut entries = vec![("x-amazon-apigateway-integration", pp, py27_obj(pp, integ))];
        if http && r.path == "$default" {
            entries.push(("isDefaultRoute", pp, Node::bool(pp, true)));
        }
        entries.push(("responses", pp, Node::map(pp, Map::new())));
        // `OpenApiEditor.add_path_parameters_to_method`: HTTP APIs declare path parameters.
        if http {
            let params: Vec<Node> = r
                .path
                .split('{')
                .skip(1)
                .filter_map(|seg| seg.split_once('}').map(|(name, _)| name))
                .map(|name| {
                    py27_obj(
                        pp,
                        vec![
                            ("name", p, s(p, name)),
                            ("in", pp, s(pp, "path")),
                            ("required", pp, Node::bool(pp, true)),
                        ],
                    )
                })
                .collect();
            if !params.is_empty() {
                entries.push(("parameters", pp, Node::seq(pp, params)));
            }
        }
        let method = wrap_if(cond, pp, py27_obj(pp, entries));
        if let Some(pm) = paths_of(body)
            .and_then(|paths| paths.get_mut(&r.path))
            .and_then(conditional_body)
            && let Some(slot) = pm.get_mut(&key)
        {
            *slot = method;
        }
    }
    if !http {
        for _ in 0..2 + 2 * routes.len() {
            // Once a copy changes nothing, further copies change nothing either.
            if !py27_copy(body) {
                break;
            }
        }
    }
}

fn paths_of(body: &mut Node) -> Option<&mut Map> {
    body.as_map_mut()
        .and_then(|bm| bm.get_mut("paths"))
        .and_then(Node::as_map_mut)
}

/// `make_conditional`: `Fn::If [<condition>, value, AWS::NoValue]`; the value itself without a
/// condition.
fn wrap_if(cond: Option<&(String, Pos)>, pp: Pos, value: Node) -> Node {
    match cond {
        Some((c, cpos)) => Node::call(
            pp,
            "Fn::If",
            Node::seq(
                pp,
                vec![
                    s(*cpos, c),
                    value,
                    obj(pp, vec![("Ref", s(pp, "AWS::NoValue"))]),
                ],
            ),
        ),
        None => value,
    }
}

/// The mapping a path item holds, looking through `Fn::If` (its first branch).
fn conditional_body(n: &mut Node) -> Option<&mut Map> {
    if n.intrinsic().map(|(k, _)| k) == Some("Fn::If") {
        return n
            .as_map_mut()
            .and_then(|m| m.get_mut("Fn::If"))
            .and_then(|a| match &mut a.kind {
                Kind::Seq(items) => items.get_mut(1),
                _ => None,
            })
            .and_then(Node::as_map_mut);
    }
    n.as_map_mut()
}

/// `SwaggerEditor.add_cors`: an `options` mock method on every path.
fn add_cors(ctx: &mut Ctx<'_, '_>, body: &mut Node, cors: &Node, path: &str) {
    let p = cors.pos;
    let (origin, methods, headers, max_age, creds) = match &cors.kind {
        Kind::String(_) => (cors.clone(), None, None, None, None),
        Kind::Map(m) if cors.intrinsic().is_none() => {
            ctx.ck.keys(
                m,
                &[
                    "AllowOrigin",
                    "AllowMethods",
                    "AllowHeaders",
                    "MaxAge",
                    "AllowCredentials",
                ],
                &[],
                path,
                "Cors",
            );
            let Some(o) = m.get("AllowOrigin").cloned() else {
                ctx.ck.err(
                    Code::MissingRequired,
                    p,
                    &format!("{path}.AllowOrigin"),
                    "Cors needs AllowOrigin",
                );
                return;
            };
            (
                o,
                m.get("AllowMethods").cloned(),
                m.get("AllowHeaders").cloned(),
                m.get("MaxAge").cloned(),
                m.get("AllowCredentials").cloned(),
            )
        }
        _ => {
            ctx.ck.err(
                Code::WrongType,
                p,
                path,
                "Cors must be a string or a mapping",
            );
            return;
        }
    };
    let pp = plain(p);
    py27_copy(body);
    let Some(bm) = body.as_map_mut() else { return };
    let Some(paths) = bm.get_mut("paths").and_then(Node::as_map_mut) else {
        return;
    };
    for (_, pnode) in paths.iter_mut() {
        // `get_conditional_contents`: a conditional path's methods are in its `Fn::If`.
        let Some(pm) = conditional_body(pnode) else {
            continue;
        };
        if pm.contains_key("options") {
            continue;
        }
        // `_make_cors_allowed_methods_for_path_item`.
        let allowed = methods.clone().unwrap_or_else(|| {
            let mut ms: BTreeSet<String> = BTreeSet::new();
            for k in pm.keys() {
                if k == "x-amazon-apigateway-any-method" {
                    ms.extend(["DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"].map(String::from));
                } else {
                    ms.insert(k.to_uppercase());
                }
            }
            ms.insert("OPTIONS".into());
            s(
                pp,
                &format!("'{}'", ms.into_iter().collect::<Vec<_>>().join(",")),
            )
        });
        // `_options_method_response_for_cors`, key by key in SAM's order.
        let hdr = |h: &str| format!("method.response.header.Access-Control-{h}");
        let ty = |t: &str| obj(pp, vec![("type", s(pp, t))]);
        let mut params: Vec<(String, Node)> = vec![(hdr("Allow-Origin"), origin.clone())];
        let mut headers_doc: Vec<(String, Node)> =
            vec![("Access-Control-Allow-Origin".into(), ty("string"))];
        if let Some(h) = &headers {
            params.push((hdr("Allow-Headers"), h.clone()));
            headers_doc.push(("Access-Control-Allow-Headers".into(), ty("string")));
        }
        params.push((hdr("Allow-Methods"), allowed));
        headers_doc.push(("Access-Control-Allow-Methods".into(), ty("string")));
        if let Some(a) = &max_age {
            params.push((hdr("Max-Age"), a.clone()));
            headers_doc.push(("Access-Control-Max-Age".into(), ty("integer")));
        }
        if creds.as_ref().is_some_and(|c| c.as_bool() == Some(true)) {
            params.push((hdr("Allow-Credentials"), s(pp, "'true'")));
            headers_doc.push(("Access-Control-Allow-Credentials".into(), ty("string")));
        }
        let owned = |v: Vec<(String, Node)>| -> Node {
            py27_obj(
                pp,
                v.iter().map(|(k, n)| (k.as_str(), pp, n.clone())).collect(),
            )
        };
        let default = py27_obj(
            pp,
            vec![
                ("statusCode", pp, s(pp, "200")),
                ("responseParameters", pp, owned(params)),
                (
                    "responseTemplates",
                    pp,
                    obj(pp, vec![("application/json", s(pp, "{}\n"))]),
                ),
            ],
        );
        let integration = py27_obj(
            pp,
            vec![
                ("type", pp, s(pp, "mock")),
                (
                    "requestTemplates",
                    pp,
                    obj(
                        pp,
                        vec![("application/json", s(pp, "{\n  \"statusCode\" : 200\n}\n"))],
                    ),
                ),
                (
                    "responses",
                    pp,
                    py27_obj(pp, vec![("default", pp, default)]),
                ),
            ],
        );
        let ok200 = py27_obj(
            pp,
            vec![
                ("description", pp, s(pp, "Default response for CORS method")),
                ("headers", pp, owned(headers_doc)),
            ],
        );
        let json_list = || Node::seq(pp, vec![s(pp, "application/json")]);
        let options = py27_obj(
            pp,
            vec![
                ("summary", pp, s(pp, "CORS support")),
                ("consumes", pp, json_list()),
                ("produces", pp, json_list()),
                ("x-amazon-apigateway-integration", pp, integration),
                ("responses", pp, py27_obj(pp, vec![("200", pp, ok200)])),
            ],
        );
        py27_insert(pm, "options", pp, options);
    }
    py27_copy(body);
}

fn expand_rest_api(ctx: &mut Ctx<'_, '_>, id: &str, r: &RawResource) -> Vec<(String, RawResource)> {
    let m = r.props().clone();
    let path = format!("Resources.{id}.Properties");
    let pos = r.pos;
    ctx.ck.keys(
        &m,
        API_KNOWN,
        API_UNSUPPORTED,
        &path,
        "AWS::Serverless::Api",
    );
    if !m.contains_key(IMPLICIT) {
        ctx.ck
            .required(&m, "StageName", pos, &path, "AWS::Serverless::Api");
    }
    let stage = ctx
        .ck
        .string(&m, "StageName", &path)
        .unwrap_or_else(|| "Prod".into());
    let routes = ctx.rest_routes.remove(id).unwrap_or_default();
    let openapi = m.get("OpenApiVersion").and_then(Node::scalar_text);
    let mut rest = Map::new();
    let hash_source = match definition(ctx, &m, &path, skeleton(pos, "swagger", "2.0"), pos) {
        Ok((mut body, managed)) => {
            // `Globals.fix_openapi_definitions` runs before events add their routes: a managed
            // definition follows OpenApiVersion 3.
            if managed
                && let Some(v) = &openapi
                && v.starts_with("3.")
                && let Some(bm) = body.as_map_mut()
                && let Some(vn) = m.get("OpenApiVersion")
            {
                bm.remove("swagger");
                let mut vn = vn.clone();
                vn.kind = Kind::String(v.clone());
                py27_insert(bm, "openapi", plain(pos), vn);
            }
            // Events add routes only to definitions SAM writes (`__MANAGE_SWAGGER`); with the
            // template's own DefinitionBody they only get their permissions.
            if managed {
                add_routes(ctx, &mut body, &routes, id, false);
            } else {
                // `to_py27_compatible_template`: the template's own dicts, in Python 2.7 order.
                py27_copy(&mut body);
            }
            if let Some(c) = m.get("Cors") {
                add_cors(ctx, &mut body, c, &format!("{path}.Cors"));
            }
            // `ApiGenerator._openapi_postprocess`: an OpenAPI 3 definition's CORS methods lose
            // `consumes`/`produces`, and their headers are described by a `schema`.
            let v3 = |v: &str| {
                let mut parts = v.split('.');
                parts.next() == Some("3")
                    && parts.clone().count() == 2
                    && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            };
            let body_version = body
                .as_map()
                .and_then(|bm| bm.get("openapi"))
                .and_then(Node::scalar_text);
            if body.as_map().is_some_and(|bm| !bm.contains_key("swagger"))
                && openapi.clone().or(body_version).is_some_and(|v| v3(&v))
                && let Some(paths) = paths_of(&mut body)
            {
                for (_, item) in paths.iter_mut() {
                    let Some(options) = item
                        .as_map_mut()
                        .and_then(|pm| pm.get_mut("options"))
                        .and_then(Node::as_map_mut)
                    else {
                        continue;
                    };
                    options.remove("produces");
                    options.remove("consumes");
                    if let Some(headers) = options
                        .get_mut("responses")
                        .and_then(Node::as_map_mut)
                        .and_then(|r| r.get_mut("200"))
                        .and_then(Node::as_map_mut)
                        .and_then(|r| r.get_mut("headers"))
                        .and_then(Node::as_map_mut)
                    {
                        for (_, h) in headers.iter_mut() {
                            let hp = h.pos;
                            *h = obj(hp, vec![("schema", h.clone())]);
                        }
                    }
                }
            }
            // `SwaggerEditor.add_binary_media_types`.
            if let Some(bmt) = m.get("BinaryMediaTypes").and_then(Node::as_seq) {
                py27_copy(&mut body);
                let fixed: Vec<Node> = bmt
                    .iter()
                    .map(|i| match i.as_str() {
                        Some(t) => s(i.pos, &t.replace("~1", "/")),
                        None => i.clone(),
                    })
                    .collect();
                if let Some(bm) = body.as_map_mut() {
                    py27_insert(
                        bm,
                        "x-amazon-apigateway-binary-media-types",
                        plain(pos),
                        Node::seq(pos, fixed),
                    );
                }
                py27_copy(&mut body);
            }
            rest.insert("Body", pos, body.clone());
            body
        }
        Err(loc) => {
            if let Some(rt) = routes.first() {
                ctx.ck.err(
                    Code::SamEventInvalid,
                    rt.pos,
                    &path,
                    format!("events cannot add routes to '{id}', whose definition is in S3"),
                );
            }
            rest.insert("BodyS3Location", loc.pos, loc.clone());
            loc
        }
    };
    for k in [
        "Name",
        "Description",
        "MinimumCompressionSize",
        "DisableExecuteApiEndpoint",
    ] {
        if let Some(v) = m.get(k) {
            rest.insert(k, v.pos, v.clone());
        }
    }
    // The property keeps SAM's `~1` escapes; only the definition's list has them replaced.
    if let Some(b) = m.get("BinaryMediaTypes") {
        rest.insert("BinaryMediaTypes", b.pos, b.clone());
    }
    if let Some(e) = m.get("EndpointConfiguration") {
        let v = match e.as_str() {
            Some(t) => {
                // `_set_endpoint_configuration`: a plain type also becomes an import parameter.
                rest.insert(
                    "Parameters",
                    e.pos,
                    obj(e.pos, vec![("endpointConfigurationTypes", e.clone())]),
                );
                obj(e.pos, vec![("Types", Node::seq(e.pos, vec![s(e.pos, t)]))])
            }
            None => e.clone(),
        };
        rest.insert("EndpointConfiguration", e.pos, v);
    }
    // `ApiGenerator._construct_stage`: Tags go on the stage, not on the RestApi.
    let stage_tags: Option<Node> = ctx.ck.map(&m, "Tags", &path).map(|t| {
        let list = t
            .iter_entries()
            .map(|(k, e)| {
                obj(
                    e.key_pos,
                    vec![("Key", s(e.key_pos, k)), ("Value", e.value.clone())],
                )
            })
            .collect();
        Node::seq(pos, list)
    });

    // `ApiGatewayDeployment.make_auto_deployable`.
    let mut input = python_repr(&hash_source);
    if let Some(v) = &openapi {
        input.push_str("||");
        input.push_str(v);
    }
    let full = sha1_hex(input.as_bytes());
    let dep_id = format!("{id}Deployment{}", &full[..10]);
    let mut dep = vec![
        (
            "Description",
            s(pos, &format!("RestApi deployment id: {full}")),
        ),
        ("RestApiId", reff(pos, id)),
    ];
    if openapi.is_none() {
        dep.push(("StageName", s(pos, "Stage")));
    }
    let stage_id = format!(
        "{id}{}Stage",
        stage
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    let mut st = vec![
        ("DeploymentId", reff(pos, &dep_id)),
        ("RestApiId", reff(pos, id)),
        ("StageName", s(pos, &stage)),
    ];
    for k in [
        "Variables",
        "CacheClusterEnabled",
        "CacheClusterSize",
        "MethodSettings",
        "AccessLogSetting",
        "CanarySetting",
        "TracingEnabled",
    ] {
        if let Some(v) = m.get(k) {
            st.push((k, v.clone()));
        }
    }
    if let Some(tags) = stage_tags {
        st.push(("Tags", tags));
    }
    ctx.refs.insert(format!("{id}.Stage"), stage_id.clone());
    ctx.refs.insert(format!("{id}.Deployment"), dep_id.clone());
    let pass = Pass::of(r);
    let mk = |type_: &str, props: Node| {
        let mut g = generated(pos, type_, props, id);
        pass.apply(&mut g);
        g
    };
    let mut api = mk("AWS::ApiGateway::RestApi", Node::map(pos, rest));
    api.depends_on.clone_from(&r.depends_on);
    api.type_pos = r.type_pos;
    vec![
        (id.to_owned(), api),
        (dep_id, mk("AWS::ApiGateway::Deployment", obj(pos, dep))),
        (stage_id, mk("AWS::ApiGateway::Stage", obj(pos, st))),
    ]
}

// ---------------------------------------------------------------------------------------------
// AWS::Serverless::HttpApi (`model/api/http_api_generator.py`, `open_api/open_api.py`)

const HTTP_KNOWN: &[&str] = &[
    "StageName",
    "StageVariables",
    "CorsConfiguration",
    "DefinitionBody",
    "DefinitionUri",
    "Tags",
    "FailOnWarnings",
    "Description",
    "DisableExecuteApiEndpoint",
    "AccessLogSettings",
    "DefaultRouteSettings",
    "RouteSettings",
];
const HTTP_UNSUPPORTED: &[&str] = &["Auth", "Domain", "PropagateTags", "Name"];

fn expand_http_api(ctx: &mut Ctx<'_, '_>, id: &str, r: &RawResource) -> Vec<(String, RawResource)> {
    let m = r.props().clone();
    let path = format!("Resources.{id}.Properties");
    let pos = r.pos;
    ctx.ck.keys(
        &m,
        HTTP_KNOWN,
        HTTP_UNSUPPORTED,
        &path,
        "AWS::Serverless::HttpApi",
    );
    let routes = ctx.http_routes.remove(id).unwrap_or_default();
    let tags = ctx.ck.map(&m, "Tags", &path).cloned();
    let mut api = Map::new();
    match definition(ctx, &m, &path, skeleton(pos, "openapi", "3.0.1"), pos) {
        Ok((mut body, managed)) => {
            if managed {
                add_routes(ctx, &mut body, &routes, id, true);
            }
            if let Some(bm) = body.as_map_mut() {
                // SAM's own tag, then the template's (`http_api_generator.py` `_add_tags`).
                let mut tl = vec![j(
                    pos,
                    &json!({"name": "httpapi:createdBy", "x-amazon-apigateway-tag-value": "SAM"}),
                )];
                for (k, e) in tags.iter().flat_map(Map::iter_entries) {
                    tl.push(obj(
                        e.key_pos,
                        vec![
                            ("name", s(e.key_pos, k)),
                            ("x-amazon-apigateway-tag-value", e.value.clone()),
                        ],
                    ));
                }
                bm.insert("tags", pos, Node::seq(pos, tl));
                if let Some(c) = m.get("CorsConfiguration") {
                    let cors = match &c.kind {
                        Kind::Bool(true) => Some(j(
                            c.pos,
                            &json!({"allowOrigins": ["*"], "allowHeaders": ["*"], "allowMethods": ["*"]}),
                        )),
                        Kind::Bool(false) => None,
                        Kind::Map(cm) if c.intrinsic().is_none() => {
                            const CORS: &[&str] = &[
                                "AllowOrigins",
                                "AllowHeaders",
                                "AllowMethods",
                                "AllowCredentials",
                                "ExposeHeaders",
                                "MaxAge",
                            ];
                            ctx.ck.keys(
                                cm,
                                CORS,
                                &[],
                                &format!("{path}.CorsConfiguration"),
                                "CorsConfiguration",
                            );
                            let mut out = Map::new();
                            for (k, e) in cm.iter_entries() {
                                let mut key = k.to_owned();
                                if let Some(f) = key.get_mut(0..1) {
                                    f.make_ascii_lowercase();
                                }
                                out.insert(key, e.key_pos, e.value.clone());
                            }
                            Some(Node::map(c.pos, out))
                        }
                        _ => {
                            ctx.ck.err(
                                Code::WrongType,
                                c.pos,
                                &format!("{path}.CorsConfiguration"),
                                "CorsConfiguration must be true or a mapping",
                            );
                            None
                        }
                    };
                    if let Some(cn) = cors {
                        bm.insert("x-amazon-apigateway-cors", c.pos, cn);
                    }
                }
            }
            // `_add_description`: the description lives in the definition's `info`.
            if let Some(d) = m.get("Description")
                && let Some(bm) = body.as_map_mut()
            {
                let mut info = bm
                    .get("info")
                    .and_then(Node::as_map)
                    .cloned()
                    .unwrap_or_default();
                if info.contains_key("description") {
                    ctx.ck.err(
                        Code::SamInvalid,
                        d.pos,
                        &format!("{path}.Description"),
                        "Description is set both here and in the definition's info.description",
                    );
                } else {
                    info.insert("description", d.pos, d.clone());
                    bm.insert("info", pos, Node::map(pos, info));
                }
            }
            // `_update_default_path`: with FailOnWarnings the default route is `/$default`.
            if m.get("FailOnWarnings").and_then(Node::as_bool) == Some(true)
                && let Some(paths) = body
                    .as_map_mut()
                    .and_then(|bm| bm.get_mut("paths"))
                    .and_then(Node::as_map_mut)
                && let Some(default) = paths.remove("$default")
            {
                paths.insert("/$default", default.pos, default);
            }
            api.insert("Body", pos, body);
        }
        Err(loc) => {
            if let Some(rt) = routes.first() {
                ctx.ck.err(
                    Code::SamEventInvalid,
                    rt.pos,
                    &path,
                    format!("events cannot add routes to '{id}', whose definition is in S3"),
                );
            }
            api.insert("BodyS3Location", loc.pos, loc);
        }
    }
    for k in ["FailOnWarnings", "DisableExecuteApiEndpoint"] {
        if let Some(v) = m.get(k) {
            api.insert(k, v.pos, v.clone());
        }
    }
    let stage_name = ctx.ck.string(&m, "StageName", &path);
    let (stage_id, stage_value) = match &stage_name {
        None => (format!("{id}ApiGatewayDefaultStage"), "$default".to_owned()),
        Some(sn) if sn == "$default" => (format!("{id}ApiGatewayDefaultStage"), sn.clone()),
        Some(sn) => (
            format!(
                "{id}{}Stage",
                sn.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
            ),
            sn.clone(),
        ),
    };
    let mut stage_tags = Map::new();
    stage_tags.insert("httpapi:createdBy", pos, s(pos, "SAM"));
    for (k, e) in tags.iter().flat_map(Map::iter_entries) {
        stage_tags.insert(k, e.key_pos, e.value.clone());
    }
    let mut st = vec![
        ("ApiId", reff(pos, id)),
        ("AutoDeploy", Node::bool(pos, true)),
        ("StageName", s(pos, &stage_value)),
    ];
    st.push(("Tags", Node::map(pos, stage_tags)));
    for k in [
        "StageVariables",
        "AccessLogSettings",
        "DefaultRouteSettings",
        "RouteSettings",
    ] {
        if let Some(v) = m.get(k) {
            st.push((k, v.clone()));
        }
    }
    ctx.refs.insert(format!("{id}.Stage"), stage_id.clone());
    let pass = Pass::of(r);
    let mk = |type_: &str, props: Node| {
        let mut g = generated(pos, type_, props, id);
        pass.apply(&mut g);
        g
    };
    let mut a = mk("AWS::ApiGatewayV2::Api", Node::map(pos, api));
    a.depends_on.clone_from(&r.depends_on);
    a.type_pos = r.type_pos;
    vec![
        (id.to_owned(), a),
        (stage_id, mk("AWS::ApiGatewayV2::Stage", obj(pos, st))),
    ]
}

// ---------------------------------------------------------------------------------------------
// AWS::Serverless::LayerVersion and SimpleTable (`sam_resources.py`)

fn expand_layer(ctx: &mut Ctx<'_, '_>, id: &str, r: &RawResource) -> Vec<(String, RawResource)> {
    let m = r.props().clone();
    let path = format!("Resources.{id}.Properties");
    let pos = r.pos;
    const KNOWN: &[&str] = &[
        "ContentUri",
        "LayerName",
        "Description",
        "CompatibleRuntimes",
        "CompatibleArchitectures",
        "LicenseInfo",
        "RetentionPolicy",
    ];
    ctx.ck.keys(
        &m,
        KNOWN,
        &["PublishLambdaVersion"],
        &path,
        "AWS::Serverless::LayerVersion",
    );
    let mut l = Map::new();
    if ctx.ck.required(
        &m,
        "ContentUri",
        pos,
        &path,
        "AWS::Serverless::LayerVersion",
    ) && let Some(u) = m.get("ContentUri")
        && let Some(c) = code_location(
            ctx,
            u,
            &format!("{path}.ContentUri"),
            ("S3Bucket", "S3Key", "S3ObjectVersion"),
        )
    {
        l.insert("Content", u.pos, c);
    }
    match m.get("LayerName") {
        Some(n) => l.insert("LayerName", n.pos, n.clone()),
        None => l.insert("LayerName", pos, s(pos, id)),
    };
    for k in [
        "Description",
        "CompatibleRuntimes",
        "CompatibleArchitectures",
        "LicenseInfo",
    ] {
        if let Some(v) = m.get(k) {
            l.insert(k, v.pos, v.clone());
        }
    }
    let retention = match m.get("RetentionPolicy") {
        None => "Retain".to_owned(),
        Some(n) => match n.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("retain") => "Retain".to_owned(),
            Some("delete") => "Delete".to_owned(),
            _ => {
                ctx.ck.err(
                    Code::InvalidValue,
                    n.pos,
                    &format!("{path}.RetentionPolicy"),
                    format!(
                        "RetentionPolicy must be Retain or Delete, not {}",
                        describe(n)
                    ),
                );
                "Retain".to_owned()
            }
        },
    };
    // `_construct_lambda_layer`: the hash covers the resource's dict (Type, Properties and
    // Condition), without DeletionPolicy, UpdateReplacePolicy or Metadata.
    let mut inner = vec![
        ("Type", s(pos, &r.type_)),
        ("Properties", r.properties.clone()),
    ];
    if let Some((c, _)) = &r.condition {
        inner.push(("Condition", s(pos, c)));
    }
    let data = obj(pos, vec![(id, obj(pos, inner))]);
    let new_id = format!("{id}{}", &sha1_hex(python_json(&data).as_bytes())[..10]);
    ctx.refs.insert(id.to_owned(), new_id.clone());
    let mut g = generated(pos, "AWS::Lambda::LayerVersion", Node::map(pos, l), id);
    Pass::of(r).apply(&mut g);
    if g.deletion_policy.is_none() {
        g.deletion_policy = Some(s(pos, &retention));
    }
    g.depends_on.clone_from(&r.depends_on);
    g.type_pos = r.type_pos;
    vec![(new_id, g)]
}

fn expand_table(ctx: &mut Ctx<'_, '_>, id: &str, r: &RawResource) -> Vec<(String, RawResource)> {
    let m = r.props().clone();
    let path = format!("Resources.{id}.Properties");
    let pos = r.pos;
    const KNOWN: &[&str] = &[
        "PrimaryKey",
        "ProvisionedThroughput",
        "TableName",
        "Tags",
        "SSESpecification",
        "PointInTimeRecoverySpecification",
    ];
    ctx.ck
        .keys(&m, KNOWN, &[], &path, "AWS::Serverless::SimpleTable");
    let (mut name, mut ty) = (s(pos, "id"), "S".to_owned());
    if let Some(pk) = ctx.ck.map(&m, "PrimaryKey", &path).cloned() {
        let kpath = format!("{path}.PrimaryKey");
        ctx.ck
            .keys(&pk, &["Name", "Type"], &[], &kpath, "PrimaryKey");
        if ctx.ck.required(&pk, "Name", pos, &kpath, "PrimaryKey")
            && let Some(n) = pk.get("Name")
        {
            name = n.clone();
        }
        if ctx.ck.required(&pk, "Type", pos, &kpath, "PrimaryKey")
            && let Some(t) = pk.get("Type")
        {
            ty = match t.as_str() {
                Some("String") => "S".into(),
                Some("Number") => "N".into(),
                Some("Binary") => "B".into(),
                _ => {
                    ctx.ck.err(
                        Code::InvalidValue,
                        t.pos,
                        &format!("{kpath}.Type"),
                        format!(
                            "PrimaryKey.Type must be String, Number or Binary, not {}",
                            describe(t)
                        ),
                    );
                    "S".into()
                }
            };
        }
    }
    let mut t = vec![
        (
            "AttributeDefinitions",
            Node::seq(
                pos,
                vec![obj(
                    pos,
                    vec![
                        ("AttributeName", name.clone()),
                        ("AttributeType", s(pos, &ty)),
                    ],
                )],
            ),
        ),
        (
            "KeySchema",
            Node::seq(
                pos,
                vec![obj(
                    pos,
                    vec![("AttributeName", name), ("KeyType", s(pos, "HASH"))],
                )],
            ),
        ),
    ];
    match m.get("ProvisionedThroughput") {
        Some(p) => t.push(("ProvisionedThroughput", p.clone())),
        None => t.push(("BillingMode", s(pos, "PAY_PER_REQUEST"))),
    }
    for k in [
        "TableName",
        "SSESpecification",
        "PointInTimeRecoverySpecification",
    ] {
        if let Some(v) = m.get(k) {
            t.push((k, v.clone()));
        }
    }
    if let Some(tags) = ctx.ck.map(&m, "Tags", &path) {
        let list = tags
            .iter_entries()
            .map(|(k, e)| {
                obj(
                    e.key_pos,
                    vec![("Key", s(e.key_pos, k)), ("Value", e.value.clone())],
                )
            })
            .collect();
        t.push(("Tags", Node::seq(pos, list)));
    }
    let mut g = generated(pos, "AWS::DynamoDB::Table", obj(pos, t), id);
    Pass::of(r).apply(&mut g);
    g.depends_on.clone_from(&r.depends_on);
    g.metadata.clone_from(&r.metadata);
    g.type_pos = r.type_pos;
    vec![(id.to_owned(), g)]
}

// ---------------------------------------------------------------------------------------------
// Python 2.7 dict order (`utils/py27hash_fix.py`, `third_party/py27hash/hash.py`)
//
// SAM hashes API bodies with `str(swagger)`, and to keep the logical IDs it generated under
// Python 2.7 it still builds those bodies from dicts that iterate in Python 2.7's order
// (`Py27Dict`) with strings that print as `u'…'` when they came from the template
// (`Py27UniStr`). We reproduce both: maps of a generated body are kept in that order, and nodes
// SAM itself writes carry column 0 ([`plain`]) so that [`python_repr`] prints them without `u`.
// How often SAM copies the body between additions (each copy re-inserts every dict's keys in
// iteration order, which can reorder them) was fitted against aws-sam-translator 1.110 on
// random templates: one copy before every route after the first, one after the last.

/// CPython 2.7 `string_hash` over code points, as `Hash.shash`.
fn py27_hash(s: &str) -> u64 {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return 0;
    };
    let mut x: u64 = u64::from(first as u32) << 7;
    let mut len: u64 = 0;
    for c in s.chars() {
        x = x.wrapping_mul(1_000_003) ^ u64::from(c as u32);
        len += 1;
    }
    x ^ len
}

/// The iteration order of a Python 2.7 dict after inserting `keys` in this order into an empty
/// one (`Py27Keys.add`, with its resizes).
fn py27_order(keys: &[String]) -> Vec<String> {
    struct Table<'k> {
        slots: BTreeMap<u64, &'k str>,
        mask: u64,
        size: u64,
        fill: u64,
    }
    impl<'k> Table<'k> {
        fn index(&self, k: &str) -> u64 {
            let h = py27_hash(k);
            let mut i = h & self.mask;
            match self.slots.get(&i) {
                None => return i,
                Some(v) if *v == k => return i,
                Some(_) => {}
            }
            let mut walker = i;
            let mut perturb = h;
            loop {
                walker = (walker << 2)
                    .wrapping_add(walker)
                    .wrapping_add(perturb)
                    .wrapping_add(1);
                i = walker & self.mask;
                match self.slots.get(&i) {
                    None => return i,
                    Some(v) if *v == k => return i,
                    Some(_) => {}
                }
                perturb >>= 5;
            }
        }
        fn add(&mut self, k: &'k str) {
            let start = self.size;
            let i = self.index(k);
            if self.slots.insert(i, k).is_none() {
                self.size += 1;
                self.fill += 1;
            }
            if self.size > start && self.fill * 3 >= (self.mask + 1) * 2 {
                let request = self.size * if self.size > 50_000 { 2 } else { 4 };
                let mut newsize = 8;
                while newsize <= request {
                    newsize <<= 1;
                }
                let old: Vec<&'k str> = self.slots.values().copied().collect();
                self.slots.clear();
                self.mask = newsize - 1;
                self.size = 0;
                self.fill = 0;
                for k in old {
                    self.add(k);
                }
            }
        }
    }
    let mut t = Table {
        slots: BTreeMap::new(),
        mask: 7,
        size: 0,
        fill: 0,
    };
    for k in keys {
        t.add(k);
    }
    t.slots.values().map(|k| (*k).to_owned()).collect()
}

/// Rebuilds a map in the given key order.
fn reorder(m: &mut Map, order: &[String]) -> bool {
    if m.keys().eq(order.iter().map(String::as_str)) {
        return false;
    }
    let old = std::mem::take(m);
    let mut slots: Vec<Option<(String, crate::syntax::Entry)>> =
        old.into_entries().map(Some).collect();
    let index: BTreeMap<String, usize> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().map(|(k, _)| (k.clone(), i)))
        .collect();
    for k in order {
        if let Some(&i) = index.get(k)
            && let Some((k, e)) = slots[i].take()
        {
            m.insert(k, e.key_pos, e.value);
        }
    }
    for (k, e) in slots.into_iter().flatten() {
        m.insert(k, e.key_pos, e.value);
    }
    true
}

/// A `copy.deepcopy` of a body: every dict's keys re-inserted in their iteration order.
/// Returns whether any dict's order changed (copying again after `false` changes nothing).
fn py27_copy(n: &mut Node) -> bool {
    match &mut n.kind {
        Kind::Map(m) => {
            let mut changed = false;
            for (_, v) in m.iter_mut() {
                changed |= py27_copy(v);
            }
            if m.len() > 1 {
                let keys: Vec<String> = m.keys().map(str::to_owned).collect();
                changed |= reorder(m, &py27_order(&keys));
            }
            changed
        }
        Kind::Seq(items) => items.iter_mut().fold(false, |c, i| py27_copy(i) | c),
        Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) => false,
    }
}

/// `d[key] = value` on a dict that was last copied, then had no other insertion.
fn py27_insert(m: &mut Map, key: &str, key_pos: Pos, value: Node) {
    if m.contains_key(key) {
        m.insert(key, key_pos, value);
        return;
    }
    let mut keys: Vec<String> = m.keys().map(str::to_owned).collect();
    keys.push(key.to_owned());
    m.insert(key, key_pos, value);
    reorder(m, &py27_order(&keys));
}

/// A map built by inserting `entries` in order into an empty Python 2.7 dict.
fn py27_obj(pos: Pos, entries: Vec<(&str, Pos, Node)>) -> Node {
    let keys: Vec<String> = entries.iter().map(|(k, _, _)| (*k).to_owned()).collect();
    let mut m = Map::new();
    for (k, kp, v) in entries {
        m.insert(k, kp, v);
    }
    reorder(&mut m, &py27_order(&keys));
    Node::map(pos, m)
}

/// The position SAM-written nodes of an API body carry: column 0 marks a Python `str` (printed
/// without `u`); everything else came from the template.
fn plain(pos: Pos) -> Pos {
    Pos::new(pos.line, 0)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::{Options, resolve};
    use crate::diag::{Code, Diagnostic};

    /// The schema work is separate: until it lands, the types SAM generates are accepted as
    /// inert records so that these tests see only the transform's own diagnostics.
    fn opts() -> Options<'static> {
        let mut o = Options::default();
        for t in [
            "AWS::IAM::Role",
            "AWS::Lambda::Function",
            "AWS::Lambda::Permission",
            "AWS::Lambda::Version",
            "AWS::Lambda::Alias",
            "AWS::Lambda::LayerVersion",
            "AWS::Lambda::EventSourceMapping",
            "AWS::ApiGateway::RestApi",
            "AWS::ApiGateway::Deployment",
            "AWS::ApiGateway::Stage",
            "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Stage",
            "AWS::Events::Rule",
            "AWS::SNS::Subscription",
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
            "AWS::S3::Bucket",
            "AWS::DynamoDB::Table",
            "AWS::CodeDeploy::Application",
            "AWS::CodeDeploy::DeploymentGroup",
        ] {
            o.inert_types.insert(t.to_owned());
        }
        o
    }

    fn ok(text: &str) -> Value {
        let out = resolve(text, &opts());
        let errors: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
        out.template.expect("a template").to_json()
    }

    fn errs(text: &str) -> Vec<Diagnostic> {
        let out = resolve(text, &opts());
        assert!(out.has_errors(), "expected errors");
        out.diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect()
    }

    fn ids(v: &Value) -> Vec<String> {
        v["Resources"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    const HELLO: &str = "\
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://bucket/key.zip
      Handler: app.handler
      Runtime: python3.12
      Events:
        Get:
          Type: Api
          Properties:
            Path: /hello
            Method: get
";

    fn res<'v>(v: &'v Value, id: &str) -> &'v Value {
        let r = &v["Resources"][id];
        assert!(r.is_object(), "no resource {id}; have {:?}", ids(v));
        r
    }

    #[test]
    fn hello_world_with_implicit_api() {
        let v = ok(HELLO);
        let all = ids(&v);
        for id in [
            "Hello",
            "HelloRole",
            "HelloGetPermissionProd",
            "ServerlessRestApi",
            "ServerlessRestApiProdStage",
        ] {
            assert!(all.contains(&id.to_owned()), "{id} missing from {all:?}");
        }
        // aws-sam-translator 1.110 names this deployment ServerlessRestApiDeployment9bbe988acc.
        assert!(
            all.contains(&"ServerlessRestApiDeployment9bbe988acc".to_owned()),
            "{all:?}"
        );
        let f = res(&v, "Hello");
        assert_eq!(f["Type"], "AWS::Lambda::Function");
        assert_eq!(f["Slipway"]["GeneratedBy"], "Hello");
        assert_eq!(f["Properties"]["Code"]["S3Bucket"], "bucket");
        assert_eq!(f["Properties"]["Role"]["Fn::GetAtt"][0], "HelloRole");
        assert_eq!(f["Properties"]["Tags"][0]["Key"], "lambda:createdBy");
        let role = res(&v, "HelloRole");
        assert_eq!(
            role["Properties"]["ManagedPolicyArns"][0],
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        );
        let body = &res(&v, "ServerlessRestApi")["Properties"]["Body"];
        assert_eq!(body["swagger"], "2.0");
        let integ = &body["paths"]["/hello"]["get"]["x-amazon-apigateway-integration"];
        assert_eq!(integ["type"], "aws_proxy");
        assert_eq!(integ["httpMethod"], "POST");
        assert_eq!(
            integ["uri"]["Fn::Sub"],
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${Hello.Arn}/invocations"
        );
        let stage = res(&v, "ServerlessRestApiProdStage");
        assert_eq!(stage["Properties"]["StageName"], "Prod");
        let dep_id = stage["Properties"]["DeploymentId"]["Ref"].as_str().unwrap();
        // The "Stage" stage gotcha: without OpenApiVersion the deployment carries StageName Stage.
        assert_eq!(res(&v, dep_id)["Properties"]["StageName"], "Stage");
        let perm = res(&v, "HelloGetPermissionProd");
        assert_eq!(perm["Properties"]["Principal"], "apigateway.amazonaws.com");
        assert_eq!(
            perm["Properties"]["SourceArn"]["Fn::Sub"][0],
            "arn:aws:execute-api:us-east-1:123456789012:${__ApiId__}/*/GET/hello"
        );
    }

    #[test]
    fn deployment_id_matches_sam_with_many_routes() {
        // aws-sam-translator 1.110 on this template: ServerlessRestApiDeployment15692a1d63
        // (Python 2.7 dict order of paths, u'' strings, an alias target).
        let v = ok("Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://bucket/key.zip
      Handler: app.handler
      Runtime: python3.12
      Events:
        A: {Type: Api, Properties: {Path: /a, Method: get}}
        B: {Type: Api, Properties: {Path: /b, Method: POST}}
        C: {Type: Api, Properties: {Path: \"/users/{id}\", Method: any}}
        D: {Type: Api, Properties: {Path: /d, Method: put}}
        E: {Type: Api, Properties: {Path: /e/f, Method: delete}}
        F: {Type: Api, Properties: {Path: /zeta, Method: get}}
        G: {Type: Api, Properties: {Path: /a, Method: post}}
        H: {Type: Api, Properties: {Path: /items, Method: get}}
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://bucket/key.zip
      Handler: app.handler
      Runtime: python3.12
      AutoPublishAlias: live
      Events:
        X: {Type: Api, Properties: {Path: /other, Method: patch}}
");
        res(&v, "ServerlessRestApiDeployment15692a1d63");
    }

    #[test]
    fn conditional_routes_hash_as_sam_and_the_implicit_api_follows_its_functions() {
        // aws-sam-translator 1.110: ServerlessRestApiDeployment0cb0a61ca5 (routes of conditional
        // functions wrapped in Fn::If, the false one included).
        let v = ok(COND_API);
        res(&v, "ServerlessRestApiDeployment0cb0a61ca5");
        assert_eq!(
            v["Skipped"],
            serde_json::json!(["B", "BRole", "BGPermissionProd"])
        );
        let paths = &res(&v, "ServerlessRestApi")["Properties"]["Body"]["paths"];
        assert!(paths["/a"]["get"].is_object());
        assert!(paths.get("/b").is_none());

        // Only a false-condition function uses the implicit API: it is not created either.
        let only = "\
Transform: AWS::Serverless-2016-10-31
Conditions:
  IsOff: !Equals [a, b]
Resources:
  B:
    Type: AWS::Serverless::Function
    Condition: IsOff
    DeletionPolicy: Retain
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        G: {Type: Api, Properties: {Path: /b, Method: get}}
  T:
    Type: AWS::SNS::Topic
";
        let v = ok(only);
        assert_eq!(ids(&v), vec!["T".to_owned()]);
    }

    #[test]
    fn explicit_and_implicit_apis_with_cors_and_openapi3_hash_as_sam() {
        // A random template; aws-sam-translator 1.110 names ApiEYDeployment2617e946bd and
        // ServerlessRestApiDeploymentbf314e7c7e.
        let v = ok(RANDOM_APIS);
        res(&v, "ApiEYDeployment2617e946bd");
        res(&v, "ServerlessRestApiDeploymentbf314e7c7e");
        let options = &res(&v, "ApiEY")["Properties"]["Body"]["paths"]["/ms"]["options"];
        assert!(options.get("consumes").is_none());
        assert_eq!(
            options["responses"]["200"]["headers"]["Access-Control-Allow-Origin"]["schema"]["type"],
            "string"
        );
    }

    const COND_API: &str = "Transform: AWS::Serverless-2016-10-31
Conditions:
  IsOn: !Equals [a, a]
  IsOff: !Equals [a, b]
Resources:
  A:
    Type: AWS::Serverless::Function
    Condition: IsOn
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        G: {Type: Api, Properties: {Path: /a, Method: get}}
  B:
    Type: AWS::Serverless::Function
    Condition: IsOff
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        G: {Type: Api, Properties: {Path: /b, Method: get}}
  C:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        G: {Type: Api, Properties: {Path: /c, Method: get}}
";

    const RANDOM_APIS: &str = "Transform: AWS::Serverless-2016-10-31
Conditions:
  IsA:
    Fn::Equals:
    - a
    - a
  IsB:
    Fn::Equals:
    - a
    - b
Resources:
  ApiEY:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Cors: '''*'''
      OpenApiVersion: 3.0.1
  FvOqdG:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        EFNjII:
          Type: Api
          Properties:
            Path: /qskmcqi/x
            Method: put
        EnUKpNb:
          Type: Api
          Properties:
            Path: /uk
            Method: put
        EbnjXp:
          Type: Api
          Properties:
            Path: /nhhl
            Method: delete
  FyKalI:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        ERadLb:
          Type: Api
          Properties:
            Path: /ms
            Method: get
            RestApiId:
              Ref: ApiEY
        EdsiC:
          Type: Api
          Properties:
            Path: /og/x
            Method: any
            RestApiId:
              Ref: ApiEY
        EbEgLfV:
          Type: Api
          Properties:
            Path: /hz
            Method: any
        EbP:
          Type: Api
          Properties:
            Path: /isuvdk
            Method: get
      AutoPublishAlias: live
  FlQhlhg:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        Eo:
          Type: Api
          Properties:
            Path: /piexbcn/{id}
            Method: any
        EoXhiI:
          Type: Api
          Properties:
            Path: /hsrwpzg/x
            Method: post
  FceSecGK:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: a.b
      Runtime: python3.12
      Events:
        EdoX:
          Type: Api
          Properties:
            Path: /ah/{proxy+}
            Method: delete
        ESg:
          Type: Api
          Properties:
            Path: /lmuvoo
            Method: get
            RestApiId:
              Ref: ApiEY
";

    #[test]
    fn deployment_id_follows_the_body() {
        let a = ok(HELLO);
        let b = ok(&HELLO.replace("/hello", "/bye"));
        let dep = |v: &Value| {
            ids(v)
                .into_iter()
                .find(|i| i.starts_with("ServerlessRestApiDeployment"))
                .unwrap()
        };
        assert_ne!(dep(&a), dep(&b));
        let c = ok(&HELLO.replace(
            "Resources:",
            "Globals:\n  Api:\n    OpenApiVersion: 3.0.1\nResources:",
        ));
        let body = &res(&c, "ServerlessRestApi")["Properties"]["Body"];
        assert_eq!(body["openapi"], "3.0.1");
        assert!(body.get("swagger").is_none());
        assert!(res(&c, &dep(&c))["Properties"].get("StageName").is_none());
    }

    const ALIAS: &str = "\
Transform: AWS::Serverless-2016-10-31
Resources:
  MinimalFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://sam-demo-bucket/hello.zip
      Handler: hello.handler
      Runtime: python2.7
      AutoPublishAlias: live
      VersionDescription: sam-testing
Outputs:
  V:
    Value: !Ref MinimalFunction.Version
  A:
    Value: !Ref MinimalFunction.Alias
";

    #[test]
    fn version_id_matches_sam_fixture() {
        // tests/translator/output/function_with_alias.json
        let v = ok(ALIAS);
        let ver = res(&v, "MinimalFunctionVersion640128d35d");
        assert_eq!(ver["Type"], "AWS::Lambda::Version");
        assert_eq!(ver["DeletionPolicy"], "Retain");
        assert_eq!(ver["Properties"]["Description"], "sam-testing");
        let alias = res(&v, "MinimalFunctionAliaslive");
        assert_eq!(alias["Properties"]["Name"], "live");
        assert_eq!(
            alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0],
            "MinimalFunctionVersion640128d35d"
        );
        assert_eq!(
            v["Outputs"]["V"]["Value"]["Ref"],
            "MinimalFunctionVersion640128d35d"
        );
        assert_eq!(
            v["Outputs"]["A"]["Value"]["Ref"],
            "MinimalFunctionAliaslive"
        );
    }

    #[test]
    fn code_sha256_names_the_version() {
        // tests/translator/output/function_with_alias_and_code_sha256.json
        let v = ok(&ALIAS.replace(
            "      VersionDescription",
            "      AutoPublishCodeSha256: 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\n      VersionDescription",
        ));
        res(&v, "MinimalFunctionVersion6b86b273ff");
    }

    #[test]
    fn version_changes_with_code_environment_and_memory() {
        let version = |text: &str| {
            ids(&ok(text))
                .into_iter()
                .find(|i| i.starts_with("MinimalFunctionVersion"))
                .unwrap()
        };
        let base = version(ALIAS);
        let code = version(&ALIAS.replace("hello.zip", "hello2.zip"));
        let env = version(&ALIAS.replace(
            "      VersionDescription",
            "      Environment:\n        Variables:\n          A: b\n      VersionDescription",
        ));
        let mem = version(&ALIAS.replace(
            "      VersionDescription",
            "      MemorySize: 256\n      VersionDescription",
        ));
        let desc = version(&ALIAS.replace(
            "      VersionDescription",
            "      Description: other\n      VersionDescription",
        ));
        assert_ne!(base, code);
        assert_ne!(base, env);
        assert_ne!(base, mem);
        // Description is not part of the hash unless AutoPublishAliasAllProperties is set.
        assert_eq!(base, desc);
        let all = version(&ALIAS.replace(
            "      VersionDescription",
            "      AutoPublishAliasAllProperties: true\n      Description: other\n      VersionDescription",
        ));
        assert_ne!(base, all);
    }

    #[test]
    fn alias_names_are_made_alphanumeric() {
        let v = ok(&ALIAS.replace("AutoPublishAlias: live", "AutoPublishAlias: my-live_1"));
        res(&v, "MinimalFunctionAliasmyDliveU1");
    }

    #[test]
    fn layer_id_matches_sam_fixture_and_refs_follow() {
        // tests/translator/output/basic_layer.json
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Resources:
  MinimalLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: s3://sam-demo-bucket/layer.zip
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: print(1)
      Handler: index.handler
      Runtime: python3.12
      Layers: [!Ref MinimalLayer]
");
        let l = res(&v, "MinimalLayer0c7f96cce7");
        assert_eq!(l["Type"], "AWS::Lambda::LayerVersion");
        assert_eq!(l["DeletionPolicy"], "Retain");
        assert_eq!(l["Properties"]["LayerName"], "MinimalLayer");
        let f = res(&v, "Fn");
        assert_eq!(
            f["Properties"]["Layers"][0]["Ref"],
            "MinimalLayer0c7f96cce7"
        );
        assert_eq!(f["Properties"]["Code"]["ZipFile"], "print(1)");
    }

    #[test]
    fn globals_merge_as_sam_does() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Timeout: 10
    Environment:
      Variables:
        TABLE: t
        STAGE: dev
    Layers: [arn:aws:lambda:us-east-1:1:layer:a:1]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Timeout: 30
      Environment:
        Variables:
          STAGE: prod
      Layers: [arn:aws:lambda:us-east-1:1:layer:b:1]
  Other:
    Type: AWS::Serverless::Function
    IgnoreGlobals: '*'
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
");
        let p = &res(&v, "Fn")["Properties"];
        assert_eq!(p["Runtime"], "python3.11");
        assert_eq!(p["Timeout"], 30);
        assert_eq!(p["Environment"]["Variables"]["TABLE"], "t");
        assert_eq!(p["Environment"]["Variables"]["STAGE"], "prod");
        assert_eq!(p["Layers"][0], "arn:aws:lambda:us-east-1:1:layer:a:1");
        assert_eq!(p["Layers"][1], "arn:aws:lambda:us-east-1:1:layer:b:1");
        assert_eq!(p["Code"]["S3Bucket"], super::LOCAL_CODE_BUCKET);
        assert_eq!(p["Code"]["S3Key"], "src/");
        let o = &res(&v, "Other")["Properties"];
        assert_eq!(o["Runtime"], "python3.12");
        assert!(o.get("Timeout").is_none());
    }

    #[test]
    fn globals_problems_have_positions_and_suggestions() {
        let d = errs(
            "\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Role: arn:aws:iam::1:role/x
    Runtim: python3.12
  Functions:
    Timeout: 3
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
",
        );
        let role = d
            .iter()
            .find(|d| d.path == "Globals.Function.Role")
            .unwrap();
        assert_eq!(role.code, Code::GlobalsInvalid);
        assert_eq!((role.line, role.col), (Some(4), Some(5)));
        let typo = d
            .iter()
            .find(|d| d.path == "Globals.Function.Runtim")
            .unwrap();
        assert_eq!(typo.help.as_deref(), Some("did you mean 'Runtime'?"));
        let sec = d.iter().find(|d| d.path == "Globals.Functions").unwrap();
        assert_eq!((sec.line, sec.col), (Some(6), Some(3)));
        assert_eq!(sec.help.as_deref(), Some("did you mean 'Function'?"));
    }

    #[test]
    fn deployment_preference_generates_codedeploy() {
        let v = ok(&ALIAS.replace(
            "      VersionDescription: sam-testing\n",
            "      DeploymentPreference:\n        Type: Canary10Percent5Minutes\n        Alarms: [!Ref Alarm]\n        Hooks:\n          PreTraffic: !Ref Hook\n  Alarm:\n    Type: AWS::SNS::Topic\n  Hook:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: x\n      Handler: a.b\n      Runtime: python3.12\n",
        ));
        assert_eq!(
            res(&v, "ServerlessDeploymentApplication")["Properties"]["ComputePlatform"],
            "Lambda"
        );
        res(&v, "CodeDeployServiceRole");
        let g = &res(&v, "MinimalFunctionDeploymentGroup")["Properties"];
        // SAM writes Fn::Sub ["CodeDeployDefault.Lambda${ConfigName}", …]; it resolves here.
        assert_eq!(
            g["DeploymentConfigName"],
            "CodeDeployDefault.LambdaCanary10Percent5Minutes"
        );
        assert_eq!(g["AlarmConfiguration"]["Alarms"][0]["Name"]["Ref"], "Alarm");
        assert_eq!(g["DeploymentStyle"]["DeploymentType"], "BLUE_GREEN");
        assert_eq!(
            g["ServiceRoleArn"]["Fn::GetAtt"][0],
            "CodeDeployServiceRole"
        );
        let u = &res(&v, "MinimalFunctionAliaslive")["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"];
        assert_eq!(
            u["ApplicationName"]["Ref"],
            "ServerlessDeploymentApplication"
        );
        assert_eq!(
            u["DeploymentGroupName"]["Ref"],
            "MinimalFunctionDeploymentGroup"
        );
        assert_eq!(u["BeforeAllowTrafficHook"]["Ref"], "Hook");

        let off = ok(&ALIAS.replace(
            "      VersionDescription: sam-testing\n",
            "      DeploymentPreference:\n        Type: AllAtOnce\n        Enabled: 'false'\n",
        ));
        assert!(!ids(&off).contains(&"ServerlessDeploymentApplication".to_owned()));
        assert!(
            res(&off, "MinimalFunctionAliaslive")
                .get("UpdatePolicy")
                .is_none()
        );
    }

    #[test]
    fn deployment_preference_needs_an_alias() {
        let d = errs(
            "\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      DeploymentPreference:
        Type: AllAtOnce
",
        );
        assert!(
            d.iter()
                .any(|d| d.path == "Resources.Fn.Properties.DeploymentPreference"
                    && d.message.contains("AutoPublishAlias"))
        );
    }

    #[test]
    fn push_and_pull_events() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Queue:
    Type: AWS::SQS::Queue
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      AutoPublishAlias: live
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Enabled: false
        Msgs:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
        Note:
          Type: SNS
          Properties:
            Topic: !Ref Topic
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
");
        let rule = &res(&v, "FnTick")["Properties"];
        assert_eq!(rule["ScheduleExpression"], "rate(5 minutes)");
        assert_eq!(rule["State"], "DISABLED");
        assert_eq!(rule["Targets"][0]["Id"], "FnTickLambdaTarget");
        assert_eq!(rule["Targets"][0]["Arn"]["Ref"], "FnAliaslive");
        let perm = &res(&v, "FnTickPermission")["Properties"];
        assert_eq!(perm["FunctionName"]["Ref"], "FnAliaslive");
        assert_eq!(perm["SourceArn"]["Fn::GetAtt"][0], "FnTick");
        let esm = &res(&v, "FnMsgs")["Properties"];
        assert_eq!(esm["EventSourceArn"]["Fn::GetAtt"][0], "Queue");
        assert_eq!(esm["BatchSize"], 5);
        assert_eq!(esm["FunctionName"]["Ref"], "FnAliaslive");
        let role = &res(&v, "FnRole")["Properties"]["ManagedPolicyArns"];
        assert_eq!(
            role[1],
            "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
        );
        let sub = &res(&v, "FnNote")["Properties"];
        assert_eq!(sub["Protocol"], "lambda");
        assert_eq!(sub["TopicArn"]["Ref"], "Topic");
        res(&v, "FnNotePermission");
        let bucket = res(&v, "Bucket");
        let lc = &bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"][0];
        assert_eq!(lc["Event"], "s3:ObjectCreated:*");
        assert_eq!(lc["Function"]["Ref"], "FnAliaslive");
        assert_eq!(bucket["DependsOn"][0], "FnUploadPermission");
        assert_eq!(
            res(&v, "FnUploadPermission")["Properties"]["SourceAccount"],
            "123456789012"
        );
    }

    #[test]
    fn explicit_api_with_cors_and_stage_refs() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Resources:
  MyApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: beta
      Cors: \"'*'\"
      Variables:
        Mode: test
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      Events:
        Get:
          Type: Api
          Properties:
            RestApiId: !Ref MyApi
            Path: /items/{id}
            Method: GET
Outputs:
  Stage:
    Value: !Ref MyApi.Stage
");
        let perm = res(&v, "FnGetPermissionbeta");
        assert_eq!(
            perm["Properties"]["SourceArn"]["Fn::Sub"][0],
            "arn:aws:execute-api:us-east-1:123456789012:${__ApiId__}/*/GET/items/*"
        );
        let stage = res(&v, "MyApibetaStage");
        assert_eq!(stage["Properties"]["Variables"]["Mode"], "test");
        assert_eq!(v["Outputs"]["Stage"]["Value"]["Ref"], "MyApibetaStage");
        let paths = &res(&v, "MyApi")["Properties"]["Body"]["paths"]["/items/{id}"];
        assert!(paths["get"].is_object());
        let opts = &paths["options"]["x-amazon-apigateway-integration"];
        assert_eq!(opts["type"], "mock");
        assert_eq!(
            opts["responses"]["default"]["responseParameters"]["method.response.header.Access-Control-Allow-Methods"],
            "'GET,OPTIONS'"
        );
        assert!(!ids(&v).contains(&"ServerlessRestApi".to_owned()));
    }

    #[test]
    fn definition_uri_is_read_from_files() {
        let mut files = std::collections::BTreeMap::new();
        files.insert(
            "api.yaml".to_owned(),
            "openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get: {}\n"
                .to_owned(),
        );
        let mut o = opts();
        o.files = &files;
        let out = resolve(
            "\
Transform: AWS::Serverless-2016-10-31
Resources:
  MyApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      DefinitionUri: api.yaml
",
            &o,
        );
        assert!(!out.has_errors(), "{:?}", out.diagnostics);
        let v = out.template.unwrap().to_json();
        assert!(res(&v, "MyApi")["Properties"]["Body"]["paths"]["/x"]["get"].is_object());
    }

    #[test]
    fn implicit_http_api() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      Events:
        Any:
          Type: HttpApi
        Get:
          Type: HttpApi
          Properties:
            Path: /x
            Method: get
");
        let body = &res(&v, "ServerlessHttpApi")["Properties"]["Body"];
        assert_eq!(body["openapi"], "3.0.1");
        let integ = &body["paths"]["$default"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"];
        assert_eq!(integ["payloadFormatVersion"], "2.0");
        assert!(body["paths"]["/x"]["get"].is_object());
        let st = &res(&v, "ServerlessHttpApiApiGatewayDefaultStage")["Properties"];
        assert_eq!(st["StageName"], "$default");
        assert_eq!(st["AutoDeploy"], true);
        res(&v, "FnAnyPermission");
        res(&v, "FnGetPermission");
    }

    #[test]
    fn simple_table_defaults() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::Serverless::SimpleTable
");
        let t = &res(&v, "Table");
        assert_eq!(t["Type"], "AWS::DynamoDB::Table");
        assert_eq!(
            t["Properties"]["AttributeDefinitions"][0]["AttributeName"],
            "id"
        );
        assert_eq!(
            t["Properties"]["AttributeDefinitions"][0]["AttributeType"],
            "S"
        );
        assert_eq!(t["Properties"]["KeySchema"][0]["KeyType"], "HASH");
        assert_eq!(t["Properties"]["BillingMode"], "PAY_PER_REQUEST");
    }

    #[test]
    fn attributes_pass_through() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Conditions:
  IsOn: !Equals [a, a]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Condition: IsOn
    DeletionPolicy: Delete
    DependsOn: T
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
  T:
    Type: AWS::SNS::Topic
");
        let f = res(&v, "Fn");
        assert_eq!(f["Condition"], "IsOn");
        assert_eq!(f["DeletionPolicy"], "Delete");
        assert_eq!(f["DependsOn"][0], "T");
        let r = res(&v, "FnRole");
        assert_eq!(r["Condition"], "IsOn");
        assert_eq!(r["DeletionPolicy"], "Delete");
        assert!(r.get("DependsOn").is_none());
    }

    #[test]
    fn false_condition_skips_everything_generated() {
        let out = resolve(
            "\
Transform: AWS::Serverless-2016-10-31
Conditions:
  IsOff: !Equals [a, b]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Condition: IsOff
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      AutoPublishAlias: live
  T:
    Type: AWS::SNS::Topic
",
            &opts(),
        );
        assert!(!out.has_errors(), "{:?}", out.diagnostics);
        let v = out.template.unwrap().to_json();
        assert_eq!(ids(&v), vec!["T".to_owned()]);
    }

    #[test]
    fn validation_reports_paths_positions_and_suggestions() {
        let d = errs(
            "\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handlr: app.handler
      Runtime: python3.12
      Events:
        Hello:
          Type: Api
          Properties:
            Method: get
        Stream:
          Type: Kinesis
          Properties: {}
        Odd:
          Type: Shedule
",
        );
        let unknown = d
            .iter()
            .find(|d| d.path == "Resources.Fn.Properties.Handlr")
            .unwrap();
        assert_eq!(unknown.code, Code::UnknownProperty);
        assert_eq!((unknown.line, unknown.col), (Some(7), Some(7)));
        assert_eq!(unknown.help.as_deref(), Some("did you mean 'Handler'?"));
        assert!(
            d.iter()
                .any(|d| d.code == Code::MissingRequired && d.path == "Resources.Fn.Properties")
        );
        let path = d
            .iter()
            .find(|d| d.path == "Resources.Fn.Properties.Events.Hello.Properties.Path")
            .unwrap();
        assert_eq!(path.code, Code::MissingRequired);
        let kin = d
            .iter()
            .find(|d| d.path == "Resources.Fn.Properties.Events.Stream.Type")
            .unwrap();
        assert_eq!(kin.code, Code::SamUnsupported);
        assert!(kin.message.contains("Kinesis"));
        let odd = d
            .iter()
            .find(|d| d.path == "Resources.Fn.Properties.Events.Odd.Type")
            .unwrap();
        assert_eq!(odd.help.as_deref(), Some("did you mean 'Schedule'?"));
    }

    #[test]
    fn policy_templates_become_inline_policies() {
        let v = ok("\
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::Serverless::SimpleTable
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      Policies:
        - AmazonDynamoDBReadOnlyAccess
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
        - CloudWatchPutMetricPolicy: {}
");
        let role = &res(&v, "FnRole")["Properties"];
        assert_eq!(
            role["ManagedPolicyArns"][1],
            "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess"
        );
        let crud = &role["Policies"][0];
        assert_eq!(crud["PolicyName"], "FnRolePolicy1");
        let st = &crud["PolicyDocument"]["Statement"][0];
        assert_eq!(st["Action"][0], "dynamodb:GetItem");
        assert_eq!(
            st["Resource"][0]["Fn::Sub"][0],
            "arn:aws:dynamodb:us-east-1:123456789012:table/${tableName}"
        );
        assert_eq!(st["Resource"][0]["Fn::Sub"][1]["tableName"]["Ref"], "Table");
        assert_eq!(role["Policies"][1]["PolicyName"], "FnRolePolicy2");
        let d = errs(
            "\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      Policies:
        - S3ReadPolicy: {Bucket: b}
",
        );
        assert!(d.iter().any(|d| d.code == Code::UnknownProperty
            && d.path == "Resources.Fn.Properties.Policies.0.S3ReadPolicy.Bucket"
            && d.help.as_deref() == Some("did you mean 'BucketName'?")));
        assert!(d.iter().any(|d| d.code == Code::MissingRequired
            && d.path == "Resources.Fn.Properties.Policies.0.S3ReadPolicy.BucketName"));
    }

    #[test]
    fn unsupported_sam_types_and_templates_are_named() {
        let d = errs(
            "\
Transform: AWS::Serverless-2016-10-31
Resources:
  Sm:
    Type: AWS::Serverless::StateMachine
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: x
      Handler: a.b
      Runtime: python3.12
      Policies:
        - RekognitionDetectOnlyPolicy: {}
",
        );
        let sm = d.iter().find(|d| d.path == "Resources.Sm.Type").unwrap();
        assert_eq!(sm.code, Code::SamUnsupported);
        assert!(sm.message.contains("AWS::Serverless::StateMachine"));
        let p = d
            .iter()
            .find(|d| d.path == "Resources.Fn.Properties.Policies.0")
            .unwrap();
        assert!(p.message.contains("RekognitionDetectOnlyPolicy"));
    }

    #[test]
    fn python_repr_matches_cpython() {
        // Template strings print as Python 2.7 unicode: str({u'a': [1, True, None], u'b': u"it's"}).
        let n = crate::syntax::parse_yaml(
            "a: [1, true, null]\nb: \"it's\"\n",
            crate::syntax::TagMode::Plain,
        )
        .root
        .unwrap();
        assert_eq!(
            super::python_repr(&n),
            r#"{u'a': [1, True, None], u'b': u"it's"}"#
        );
    }
}
