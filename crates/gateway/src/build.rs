//! A resolved template → a [`Snapshot`]: every API, every stage, every route, with integration
//! URIs resolved against a [`Directory`] for that stage.
//!
//! Sources of routes (after the SAM transform everything is plain CloudFormation):
//! - `AWS::ApiGateway::RestApi` with a swagger/OpenAPI `Body` (`paths` → methods →
//!   `x-amazon-apigateway-integration`; `x-amazon-apigateway-any-method` is `ANY`);
//! - `AWS::ApiGateway::Resource` / `AWS::ApiGateway::Method` trees under a `RestApi`;
//! - `AWS::ApiGatewayV2::Api` with an OpenAPI 3 `Body` (the `$default` path is the `$default`
//!   route), and `AWS::ApiGatewayV2::Route` + `AWS::ApiGatewayV2::Integration`.
//!
//! Stages: `AWS::ApiGateway::Stage` (`StageName`, `Variables`), the stage an
//! `AWS::ApiGateway::Deployment` names with `StageName` (SAM's extra `Stage` stage), and
//! `AWS::ApiGatewayV2::Stage` (`StageName`, `StageVariables`).
//!
//! Anything that cannot be served is a [`BuildProblem`] with the property path; the rest is
//! still built.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slipway_model::template::Template;
use slipway_model::template::eval::Pseudo;

use crate::directory::Directory;
use crate::routes::{
    ApiInfo, ApiKind, Cors, Integration, PathPattern, PayloadVersion, Route, RouteTable, StageInfo,
};

/// REST integration timeout default (and maximum): 29 s.
pub const REST_TIMEOUT: Duration = Duration::from_millis(29_000);
/// HTTP API integration timeout default (and maximum): 30 s.
pub const HTTP_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Every API of a template: what the server routes with. Immutable.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub apis: Vec<ApiEntry>,
}

#[derive(Clone, Debug)]
pub struct ApiEntry {
    pub info: Arc<ApiInfo>,
    /// Stage name → its route table.
    pub stages: BTreeMap<String, Arc<RouteTable>>,
    /// The stage served at the root (`slipway serve` with a single API): the API's declared
    /// stage (`Prod`, `StageName`), `$default` for HTTP APIs.
    pub primary_stage: Option<String>,
}

impl Snapshot {
    pub fn api(&self, id: &str) -> Option<&ApiEntry> {
        self.apis.iter().find(|a| a.info.id == id)
    }

    /// This snapshot with every Lambda integration that invokes alias `alias` of `function`
    /// in `location` routed by `routing` instead (the alias moved, or its weights did), and
    /// how many integrations changed. Everything else is shared with `self`: API infos, the
    /// route tables of stages that do not invoke the alias, and the other routes'
    /// integrations. What a traffic shift's step swaps in, instead of a snapshot built anew.
    pub fn with_alias_routing(
        &self,
        location: &slipway_model::function::Location,
        function: &str,
        alias: &str,
        routing: &crate::routes::Routing,
    ) -> (Snapshot, usize) {
        let mut changed = 0;
        // The same integration with the new routing, when it invokes the alias.
        let mut update = |i: &Arc<Integration>| -> Option<Arc<Integration>> {
            let Integration::Lambda {
                backend: Ok(b),
                payload,
                timeout,
            } = i.as_ref()
            else {
                return None;
            };
            if b.function != function
                || b.qualifier.as_deref() != Some(alias)
                || b.location.as_ref().is_some_and(|l| l != location)
                || b.routing == *routing
            {
                return None;
            }
            changed += 1;
            let mut backend = b.clone();
            backend.routing = routing.clone();
            Some(Arc::new(Integration::Lambda {
                backend: Ok(backend),
                payload: *payload,
                timeout: *timeout,
            }))
        };
        let apis = self
            .apis
            .iter()
            .map(|api| {
                let stages = api
                    .stages
                    .iter()
                    .map(|(name, table)| {
                        let routes: Vec<Option<Arc<Integration>>> = table
                            .routes
                            .iter()
                            .map(|r| update(&r.integration))
                            .collect();
                        let default_route = table.default_route.as_ref().map(&mut update);
                        let table = if routes.iter().all(Option::is_none)
                            && default_route.as_ref().is_none_or(Option::is_none)
                        {
                            table.clone()
                        } else {
                            let mut t = RouteTable::clone(table);
                            for (route, new) in t.routes.iter_mut().zip(routes) {
                                if let Some(new) = new {
                                    route.integration = new;
                                }
                            }
                            if let Some(Some(new)) = default_route {
                                t.default_route = Some(new);
                            }
                            Arc::new(t)
                        };
                        (name.clone(), table)
                    })
                    .collect();
                ApiEntry {
                    info: api.info.clone(),
                    stages,
                    primary_stage: api.primary_stage.clone(),
                }
            })
            .collect();
        (Snapshot { apis }, changed)
    }
}

/// Something in the template that the gateway does not serve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BuildProblem {
    /// `Resources.MyApi.Properties.Body.paths./x.get`.
    pub path: String,
    pub message: String,
}

/// The local API id of a logical ID in a stack: 10 characters of `[0-9a-z]`, like AWS's, and
/// the same on every run.
pub fn api_id(stack_name: &str, logical_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stack_name.bytes().chain([b'/']).chain(logical_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(10);
    for _ in 0..10 {
        out.push(DIGITS[(h % 36) as usize] as char);
        h /= 36;
    }
    out
}

/// Builds the snapshot of `template`.
pub fn build(template: &Template, dir: &Directory) -> (Snapshot, Vec<BuildProblem>) {
    let resources = template
        .resources
        .iter()
        .map(|(id, r)| (id.clone(), r.type_.clone(), r.properties.to_json()))
        .collect();
    build_deployed(resources, &template.pseudo, dir)
}

/// Builds the snapshot of a deployed stack: `(logical ID, type, properties)` of its resources
/// in order, properties as the template gave them (references to resources still symbolic, as
/// the deploy engine keeps them), `pseudo` the stack's pseudo parameters, and `dir` what its
/// references stand for.
pub fn build_deployed(
    resources: Vec<(String, String, Value)>,
    pseudo: &Pseudo,
    dir: &Directory,
) -> (Snapshot, Vec<BuildProblem>) {
    let order: Vec<(String, String)> = resources
        .iter()
        .map(|(id, t, _)| (id.clone(), t.clone()))
        .collect();
    let mut b = Builder {
        order,
        pseudo,
        dir,
        problems: Vec::new(),
        props: resources
            .into_iter()
            .map(|(id, t, p)| (id, (t, p)))
            .collect(),
    };
    let mut apis = Vec::new();
    for (id, type_) in b.order.clone() {
        let kind = match type_.as_str() {
            "AWS::ApiGateway::RestApi" => ApiKind::Rest,
            "AWS::ApiGatewayV2::Api" => ApiKind::Http,
            _ => continue,
        };
        if let Some(entry) = b.api(&id, kind) {
            apis.push(entry);
        }
    }
    (Snapshot { apis }, b.problems)
}

/// A route before its integration is resolved for a stage.
struct RawRoute {
    pattern: PathPattern,
    method: Option<String>,
    integration: RawIntegration,
}

enum RawIntegration {
    Lambda {
        uri: Value,
        payload: PayloadVersion,
        timeout: Duration,
        path: String,
    },
    Ready(Integration),
}

struct Builder<'a> {
    /// `(logical ID, type)` in template order.
    order: Vec<(String, String)>,
    pseudo: &'a Pseudo,
    dir: &'a Directory,
    problems: Vec<BuildProblem>,
    props: BTreeMap<String, (String, Value)>,
}

fn refers_to(v: Option<&Value>, id: &str) -> bool {
    v.and_then(|v| v.get("Ref")).and_then(Value::as_str) == Some(id)
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

impl Builder<'_> {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(BuildProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn api(&mut self, id: &str, kind: ApiKind) -> Option<ApiEntry> {
        let props = self.props.get(id)?.1.clone();
        let base = format!("Resources.{id}.Properties");
        let mut routes = Vec::new();
        let mut default_route = None;
        let mut binary: Vec<String> = Vec::new();
        if let Some(types) = props.get("BinaryMediaTypes").and_then(Value::as_array) {
            binary.extend(
                types
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|t| t.replace("~1", "/")),
            );
        }
        if let Some(body) = props.get("Body") {
            if let Some(types) = body
                .get("x-amazon-apigateway-binary-media-types")
                .and_then(Value::as_array)
            {
                binary.extend(types.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            self.body_routes(
                body,
                kind,
                &format!("{base}.Body"),
                &mut routes,
                &mut default_route,
            );
        }
        for key in ["BodyS3Location"] {
            if props.get(key).is_some() {
                self.problem(
                    format!("{base}.{key}"),
                    "an API definition outside the template is not served; inline it as Body",
                );
            }
        }
        match kind {
            ApiKind::Rest => self.method_routes(id, &mut routes),
            ApiKind::Http => self.v2_routes(id, &mut routes, &mut default_route),
        }
        binary.sort();
        binary.dedup();

        // Stages.
        let mut stages: Vec<StageInfo> = Vec::new();
        let mut primary = None;
        let mut stage_problems = Vec::new();
        for (sid, (ty, sp)) in &self.props {
            let (api_key, vars_key) = match (kind, ty.as_str()) {
                (ApiKind::Rest, "AWS::ApiGateway::Stage") => ("RestApiId", "Variables"),
                (ApiKind::Http, "AWS::ApiGatewayV2::Stage") => ("ApiId", "StageVariables"),
                _ => continue,
            };
            if !refers_to(sp.get(api_key), id) {
                continue;
            }
            let Some(name) = sp.get("StageName").and_then(Value::as_str) else {
                stage_problems.push(BuildProblem {
                    path: format!("Resources.{sid}.Properties.StageName"),
                    message: "a stage needs a literal StageName".into(),
                });
                continue;
            };
            stages.push(StageInfo {
                name: name.to_owned(),
                variables: string_map(sp.get(vars_key)),
            });
        }
        self.problems.extend(stage_problems);
        // Template order for the primary stage.
        for (sid, ty) in &self.order {
            let ty = ty.as_str();
            if (ty == "AWS::ApiGateway::Stage" || ty == "AWS::ApiGatewayV2::Stage")
                && let Some((_, sp)) = self.props.get(sid)
                && (refers_to(sp.get("RestApiId"), id) || refers_to(sp.get("ApiId"), id))
                && primary.is_none()
            {
                primary = sp
                    .get("StageName")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        if kind == ApiKind::Rest {
            for (_, (ty, dp)) in self.props.iter() {
                if ty == "AWS::ApiGateway::Deployment"
                    && refers_to(dp.get("RestApiId"), id)
                    && let Some(name) = dp.get("StageName").and_then(Value::as_str)
                    && !stages.iter().any(|s| s.name == name)
                {
                    stages.push(StageInfo {
                        name: name.to_owned(),
                        variables: string_map(
                            dp.get("StageDescription").and_then(|d| d.get("Variables")),
                        ),
                    });
                    primary.get_or_insert_with(|| name.to_owned());
                }
            }
        } else if stages.iter().any(|s| s.name == "$default") {
            primary = Some("$default".to_owned());
        }

        let info = Arc::new(ApiInfo {
            id: self
                .dir
                .api_ids
                .get(id)
                .cloned()
                .unwrap_or_else(|| api_id(&self.pseudo.stack_name, id)),
            logical_id: id.to_owned(),
            kind,
            binary_media_types: binary,
            account: self.pseudo.account.clone(),
            region: self.pseudo.region.clone(),
            cors: match kind {
                ApiKind::Http => props
                    .get("Body")
                    .and_then(|b| b.get("x-amazon-apigateway-cors"))
                    .or_else(|| props.get("CorsConfiguration"))
                    .map(cors),
                ApiKind::Rest => None,
            },
        });
        let mut tables = BTreeMap::new();
        for stage in stages {
            let resolved = routes
                .iter()
                .map(|r: &RawRoute| Route {
                    pattern: r.pattern.clone(),
                    method: r.method.clone(),
                    integration: Arc::new(self.resolve(&r.integration, &stage)),
                })
                .collect();
            let default = default_route
                .as_ref()
                .map(|d| Arc::new(self.resolve(d, &stage)));
            tables.insert(
                stage.name.clone(),
                Arc::new(RouteTable {
                    api: info.clone(),
                    stage,
                    routes: resolved,
                    default_route: default,
                }),
            );
        }
        Some(ApiEntry {
            info,
            stages: tables,
            primary_stage: primary,
        })
    }

    fn body_routes(
        &mut self,
        body: &Value,
        kind: ApiKind,
        base: &str,
        routes: &mut Vec<RawRoute>,
        default_route: &mut Option<RawIntegration>,
    ) {
        let Some(paths) = body.get("paths").and_then(Value::as_object) else {
            return;
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (key, op) in item {
                let method = if key == "x-amazon-apigateway-any-method" {
                    None
                } else if METHODS.contains(&key.to_ascii_lowercase().as_str()) {
                    Some(key.to_ascii_uppercase())
                } else {
                    continue;
                };
                let here = format!("{base}.paths.{path}.{key}");
                let Some(integ) = op.get("x-amazon-apigateway-integration") else {
                    self.problem(&here, "no x-amazon-apigateway-integration: not served");
                    continue;
                };
                let integration = self.body_integration(integ, kind, &here);
                if kind == ApiKind::Http && path == "$default" {
                    *default_route = Some(integration);
                    continue;
                }
                match PathPattern::parse(path) {
                    Ok(pattern) => routes.push(RawRoute {
                        pattern,
                        method,
                        integration,
                    }),
                    Err(e) => self.problem(format!("{base}.paths.{path}"), e.to_string()),
                }
            }
        }
    }

    fn body_integration(&mut self, integ: &Value, kind: ApiKind, here: &str) -> RawIntegration {
        let ty = integ
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let timeout = integ
            .get("timeoutInMillis")
            .and_then(Value::as_u64)
            .map(Duration::from_millis);
        match ty.as_str() {
            "aws_proxy" => RawIntegration::Lambda {
                uri: integ.get("uri").cloned().unwrap_or(Value::Null),
                payload: payload_version(integ.get("payloadFormatVersion"), kind),
                timeout: timeout.unwrap_or(default_timeout(kind)),
                path: format!("{here}.x-amazon-apigateway-integration.uri"),
            },
            "mock" => RawIntegration::Ready(mock(integ)),
            other => {
                self.problem(
                    format!("{here}.x-amazon-apigateway-integration.type"),
                    format!("integration type '{other}' is not served (only aws_proxy and mock)"),
                );
                RawIntegration::Ready(Integration::Unsupported {
                    kind: other.to_owned(),
                })
            }
        }
    }

    /// `AWS::ApiGateway::Resource` / `Method` under REST API `api`.
    fn method_routes(&mut self, api: &str, routes: &mut Vec<RawRoute>) {
        let mut methods = Vec::new();
        for (mid, (ty, mp)) in &self.props {
            if ty == "AWS::ApiGateway::Method" && refers_to(mp.get("RestApiId"), api) {
                methods.push((mid.clone(), mp.clone()));
            }
        }
        for (mid, mp) in methods {
            let here = format!("Resources.{mid}.Properties");
            let Some(path) = self.resource_path(api, mp.get("ResourceId"), 0) else {
                self.problem(
                    format!("{here}.ResourceId"),
                    "cannot tell which resource this is",
                );
                continue;
            };
            let method = match mp.get("HttpMethod").and_then(Value::as_str) {
                Some(m) if m.eq_ignore_ascii_case("ANY") => None,
                Some(m) => Some(m.to_ascii_uppercase()),
                None => {
                    self.problem(format!("{here}.HttpMethod"), "HttpMethod is needed");
                    continue;
                }
            };
            let integ = mp.get("Integration").cloned().unwrap_or(Value::Null);
            let ty = integ
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_uppercase();
            let integration = match ty.as_str() {
                "AWS_PROXY" => RawIntegration::Lambda {
                    uri: integ.get("Uri").cloned().unwrap_or(Value::Null),
                    payload: PayloadVersion::V1,
                    timeout: integ
                        .get("TimeoutInMillis")
                        .and_then(Value::as_u64)
                        .map_or(REST_TIMEOUT, Duration::from_millis),
                    path: format!("{here}.Integration.Uri"),
                },
                "MOCK" => RawIntegration::Ready(Integration::Mock {
                    status: 200,
                    headers: Vec::new(),
                }),
                other => {
                    self.problem(
                        format!("{here}.Integration.Type"),
                        format!(
                            "integration type '{other}' is not served (only AWS_PROXY and MOCK)"
                        ),
                    );
                    RawIntegration::Ready(Integration::Unsupported {
                        kind: other.to_owned(),
                    })
                }
            };
            match PathPattern::parse(&path) {
                Ok(pattern) => routes.push(RawRoute {
                    pattern,
                    method,
                    integration,
                }),
                Err(e) => self.problem(format!("{here}.ResourceId"), e.to_string()),
            }
        }
    }

    /// The full path of a `ResourceId` value: `GetAtt Api.RootResourceId` is `/`, `Ref Res`
    /// is its parent's path plus its `PathPart`.
    fn resource_path(&self, api: &str, id: Option<&Value>, depth: usize) -> Option<String> {
        let id = id?;
        if depth > 64 {
            return None;
        }
        if let Some(att) = id.get("Fn::GetAtt") {
            let (res, attr) = match att {
                Value::Array(a) if a.len() == 2 => (a[0].as_str()?, a[1].as_str()?),
                Value::String(s) => s.split_once('.')?,
                _ => return None,
            };
            return (res == api && attr == "RootResourceId").then(|| "/".to_owned());
        }
        let rid = id.get("Ref")?.as_str()?;
        let (ty, rp) = self.props.get(rid)?;
        if ty != "AWS::ApiGateway::Resource" {
            return None;
        }
        let part = rp.get("PathPart")?.as_str()?;
        let parent = self.resource_path(api, rp.get("ParentId"), depth + 1)?;
        Some(if parent == "/" {
            format!("/{part}")
        } else {
            format!("{parent}/{part}")
        })
    }

    /// `AWS::ApiGatewayV2::Route` + `Integration` under HTTP API `api`.
    fn v2_routes(
        &mut self,
        api: &str,
        routes: &mut Vec<RawRoute>,
        default_route: &mut Option<RawIntegration>,
    ) {
        let mut found = Vec::new();
        for (rid, (ty, rp)) in &self.props {
            if ty == "AWS::ApiGatewayV2::Route" && refers_to(rp.get("ApiId"), api) {
                found.push((rid.clone(), rp.clone()));
            }
        }
        for (rid, rp) in found {
            let here = format!("Resources.{rid}.Properties");
            let Some(key) = rp.get("RouteKey").and_then(Value::as_str) else {
                self.problem(format!("{here}.RouteKey"), "RouteKey is needed");
                continue;
            };
            let mut integ_id = None;
            if let Some(target) = rp.get("Target") {
                walk_refs(target, &mut |r| {
                    if self
                        .props
                        .get(r)
                        .is_some_and(|(t, _)| t == "AWS::ApiGatewayV2::Integration")
                    {
                        integ_id = Some(r.to_owned());
                    }
                });
            }
            let Some(integ_id) = integ_id else {
                self.problem(
                    format!("{here}.Target"),
                    "no AWS::ApiGatewayV2::Integration target",
                );
                continue;
            };
            let ip = self.props[&integ_id].1.clone();
            let ty = ip
                .get("IntegrationType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let integration = if ty.eq_ignore_ascii_case("AWS_PROXY") {
                RawIntegration::Lambda {
                    uri: ip.get("IntegrationUri").cloned().unwrap_or(Value::Null),
                    payload: payload_version(ip.get("PayloadFormatVersion"), ApiKind::Http),
                    timeout: ip
                        .get("TimeoutInMillis")
                        .and_then(Value::as_u64)
                        .map_or(HTTP_TIMEOUT, Duration::from_millis),
                    path: format!("Resources.{integ_id}.Properties.IntegrationUri"),
                }
            } else {
                self.problem(
                    format!("Resources.{integ_id}.Properties.IntegrationType"),
                    format!("integration type '{ty}' is not served (only AWS_PROXY)"),
                );
                RawIntegration::Ready(Integration::Unsupported {
                    kind: ty.to_owned(),
                })
            };
            if key == "$default" {
                *default_route = Some(integration);
                continue;
            }
            let Some((method, path)) = key.split_once(' ') else {
                self.problem(
                    format!("{here}.RouteKey"),
                    format!("'{key}' is not 'METHOD /path'"),
                );
                continue;
            };
            let method = (!method.eq_ignore_ascii_case("ANY")).then(|| method.to_ascii_uppercase());
            match PathPattern::parse(path) {
                Ok(pattern) => routes.push(RawRoute {
                    pattern,
                    method,
                    integration,
                }),
                Err(e) => self.problem(format!("{here}.RouteKey"), e.to_string()),
            }
        }
    }

    fn resolve(&self, raw: &RawIntegration, stage: &StageInfo) -> Integration {
        match raw {
            RawIntegration::Ready(i) => i.clone(),
            RawIntegration::Lambda {
                uri,
                payload,
                timeout,
                path,
            } => Integration::Lambda {
                backend: self
                    .render(uri, stage)
                    .and_then(|uri| function_of_uri(&uri))
                    .and_then(|f| self.dir.backend(&f))
                    .map_err(|e| format!("{path}: {e}")),
                payload: *payload,
                timeout: *timeout,
            },
        }
    }

    /// Renders an integration URI for a stage: references become the ARNs and names they
    /// stand for, pseudo parameters their values, `${stageVariables.x}` the stage's value.
    fn render(&self, v: &Value, stage: &StageInfo) -> Result<String, String> {
        let text = self.render_value(v, stage, 0)?;
        substitute_stage_variables(&text, stage)
    }

    fn render_value(&self, v: &Value, stage: &StageInfo, depth: usize) -> Result<String, String> {
        if depth > 16 {
            return Err("the URI nests too deep".into());
        }
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().ok_or("empty")?;
                match k.as_str() {
                    "Ref" => {
                        let name = arg.as_str().ok_or("Ref needs a name")?;
                        self.ref_text(name)
                    }
                    "Fn::GetAtt" => {
                        let (res, attr) = match arg {
                            Value::Array(a) if a.len() == 2 => (
                                a[0].as_str().unwrap_or_default(),
                                a[1].as_str().unwrap_or_default(),
                            ),
                            Value::String(s) => s.split_once('.').unwrap_or((s, "")),
                            _ => return Err("malformed Fn::GetAtt".into()),
                        };
                        self.dir
                            .attribute(res, attr)
                            .ok_or_else(|| format!("cannot resolve {res}.{attr}"))
                    }
                    "Fn::Join" => {
                        let a = arg
                            .as_array()
                            .filter(|a| a.len() == 2)
                            .ok_or("malformed Fn::Join")?;
                        let sep = a[0].as_str().unwrap_or_default();
                        let parts = a[1].as_array().ok_or("malformed Fn::Join")?;
                        let rendered: Result<Vec<String>, String> = parts
                            .iter()
                            .map(|p| self.render_value(p, stage, depth + 1))
                            .collect();
                        Ok(rendered?.join(sep))
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match arg {
                            Value::String(s) => (s.as_str(), None),
                            Value::Array(a) if a.len() == 2 => {
                                (a[0].as_str().ok_or("malformed Fn::Sub")?, a[1].as_object())
                            }
                            _ => return Err("malformed Fn::Sub".into()),
                        };
                        self.sub(text, vars, stage, depth)
                    }
                    other => Err(format!("{other} cannot be evaluated here")),
                }
            }
            _ => Err("the URI is not a string".into()),
        }
    }

    fn ref_text(&self, name: &str) -> Result<String, String> {
        let p = self.pseudo;
        match name {
            "AWS::Region" => Ok(p.region.clone()),
            "AWS::AccountId" => Ok(p.account.clone()),
            "AWS::Partition" => Ok(p.partition.clone()),
            "AWS::URLSuffix" => Ok(p.url_suffix.clone()),
            "AWS::StackName" => Ok(p.stack_name.clone()),
            _ => self
                .dir
                .ref_value(name)
                .ok_or_else(|| format!("cannot resolve Ref {name} to a Lambda function")),
        }
    }

    fn sub(
        &self,
        text: &str,
        vars: Option<&serde_json::Map<String, Value>>,
        stage: &StageInfo,
        depth: usize,
    ) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("unclosed ${ in Fn::Sub")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if name.starts_with("stageVariables.") {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.render_value(v, stage, depth + 1)?);
            } else if let Some((res, attr)) = name.split_once('.')
                && !name.starts_with("AWS::")
            {
                out.push_str(
                    &self
                        .dir
                        .attribute(res, attr)
                        .ok_or_else(|| format!("cannot resolve {res}.{attr}"))?,
                );
            } else {
                out.push_str(&self.ref_text(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn walk_refs(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref") {
                f(r);
            }
            for x in m.values() {
                walk_refs(x, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk_refs(x, f)),
        // `Fn::Sub` text: `integrations/${Integ}`.
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                f(&after[..end]);
                rest = &after[end + 1..];
            }
        }
        _ => {}
    }
}

fn default_timeout(kind: ApiKind) -> Duration {
    match kind {
        ApiKind::Rest => REST_TIMEOUT,
        ApiKind::Http => HTTP_TIMEOUT,
    }
}

fn payload_version(v: Option<&Value>, kind: ApiKind) -> PayloadVersion {
    match (kind, v.and_then(Value::as_str)) {
        (ApiKind::Rest, _) | (ApiKind::Http, Some("1.0")) => PayloadVersion::V1,
        (ApiKind::Http, _) => PayloadVersion::V2,
    }
}

/// SAM's CORS preflight: `responses.default` with a status and `responseParameters`
/// (`method.response.header.X: "'value'"`).
fn mock(integ: &Value) -> Integration {
    let default = integ.get("responses").and_then(|r| r.get("default"));
    let status = default
        .and_then(|d| d.get("statusCode"))
        .and_then(|s| match s {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        })
        .unwrap_or(200);
    let mut headers = Vec::new();
    if let Some(params) = default
        .and_then(|d| d.get("responseParameters"))
        .and_then(Value::as_object)
    {
        for (k, v) in params {
            if let (Some(name), Some(value)) =
                (k.strip_prefix("method.response.header."), v.as_str())
            {
                let value = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(value);
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    Integration::Mock { status, headers }
}

/// `x-amazon-apigateway-cors` (`allowOrigins`) or `CorsConfiguration` (`AllowOrigins`).
fn cors(v: &Value) -> Cors {
    let get = |k: &str| {
        let mut upper = k.to_owned();
        upper[..1].make_ascii_uppercase();
        v.get(k).or_else(|| v.get(&upper))
    };
    let list = |k: &str| {
        get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Cors {
        allow_origins: list("allowOrigins"),
        allow_headers: list("allowHeaders"),
        allow_methods: list("allowMethods"),
        expose_headers: list("exposeHeaders"),
        max_age: get("maxAge").and_then(Value::as_u64),
        allow_credentials: get("allowCredentials").and_then(Value::as_bool) == Some(true),
    }
}

/// `${stageVariables.name}` → the stage's value; an undefined variable is an error (AWS
/// answers such requests with 500).
pub fn substitute_stage_variables(text: &str, stage: &StageInfo) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${stageVariables.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${stageVariables.".len()..];
        let end = after.find('}').ok_or("unclosed ${stageVariables.")?;
        let name = &after[..end];
        let value = stage.variables.get(name).ok_or_else(|| {
            format!(
                "stage variable '{name}' is not defined on stage '{}'",
                stage.name
            )
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION/invocations` →
/// `FUNCTION`; a bare function ARN (what HTTP APIs accept as `IntegrationUri`) is itself.
pub fn function_of_uri(uri: &str) -> Result<String, String> {
    if uri.starts_with("arn:") && uri.split(':').nth(2) == Some("lambda") {
        return Ok(uri.to_owned());
    }
    let start = uri
        .find("/functions/")
        .ok_or_else(|| format!("'{uri}' is not a Lambda invocation URI"))?;
    let rest = &uri[start + "/functions/".len()..];
    let end = rest
        .rfind("/invocations")
        .ok_or_else(|| format!("'{uri}' is not a Lambda invocation URI"))?;
    Ok(rest[..end].to_owned())
}
