//! The control API: Slipway's own REST interface under `/api/v1`, JSON in and out, for the
//! CLI (`slipway deploy`, `stack …`, `deployments`, `deployment …`, `rollback`) and scripts.
//! `docs/openapi.yaml` describes exactly the routes of [`ROUTES`] (a test holds them equal).
//!
//! # Shape
//!
//! - Targets are two path segments, `/targets/{account}/{region}` (`123456789012/us-east-1`).
//! - Errors are `{"error": {"code", "message"}}` with a status that says the kind: 400
//!   `BadRequest` / `InvalidTemplate` (with the template's `diagnostics`), 401 `Unauthorized`,
//!   404 `NotFound`, 405 `MethodNotAllowed`, 409 `Conflict` (the state does not allow it) or
//!   `NoChanges` (an update with nothing to do), 500 `Internal` (detail only in the log).
//! - Tokens: when the server has one, every request carries `Authorization: Bearer TOKEN`.
//! - Calls that move a stack or a deployment run as the engine's only driver
//!   ([`App::drive`]) on a blocking thread and answer when the engine returns: a deploy or an
//!   execute returns once the resource steps are done and the stack is complete, rolled back,
//!   or waiting for a traffic shift, which the ticker then carries on (follow it with the
//!   stack's events and `GET /deployments/{id}`). Reads go to the store directly.
//!
//! # Rollback of an alias
//!
//! `POST /targets/{a}/{r}/functions/{function}/aliases/{alias}/rollback` (`slipway rollback`)
//! puts all of the alias's traffic back on the previous version, in one of two ways:
//!
//! 1. **A deployment of that alias is in progress** (not `Succeeded`/`Failed`/`Stopped`): it is
//!    stopped with rollback, as CodeDeploy's `StopDeployment` with `autoRollbackEnabled` —
//!    status `Stopped`, 100 % on the version it started from — and the stack update waiting on
//!    it rolls back as CloudFormation's does (`UPDATE_ROLLBACK_COMPLETE`). The same as
//!    `slipway deployment stop ID`.
//! 2. **Otherwise** the alias is moved by hand, as `aws lambda update-alias --function-version
//!    P --routing-config '{}'` would: to the version the last deployment of this alias started
//!    from when that deployment ended on the alias's current version, else to the highest
//!    published version below the current one. Any weighted routing is cleared. No deployment
//!    or stack operation is recorded; the stack keeps the version it deployed (CloudFormation
//!    calls that drift), and the next deploy that changes the function publishes and shifts
//!    again from where the alias is.
//!
//! There is no previous version (the alias is on its first version, or on `$LATEST`): 409.

pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use slipway_deploy::plan::{Action as PlanAction, Plan, PlanKind};
use slipway_deploy::stack::{
    ChangeSetRecord, ChangeSetType, ParameterInput, StackError, StackRecord, StackStatus,
};
use slipway_deploy::traffic::{
    self, AlarmState, Deployment as Dep, DeploymentError, DeploymentStatus, Phase,
};
use slipway_engine::providers::{FunctionRecord, load_function, set_alias};
use slipway_engine::{DeployRequest, EngineError, Hooks, OperationReport};
use slipway_model::function::Version;
use slipway_store::state::Collection;

use crate::App;
use crate::wire::{self, HttpResponse};
use types::*;

/// Every path the API serves starts so.
pub const PREFIX: &str = "/api/v1/";
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A request the router understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    ListStacks,
    GetStack,
    DeleteStack,
    StackEvents,
    Deploy,
    GetChangeSet,
    ExecuteChangeSet,
    ListDeployments,
    GetDeployment,
    DeploymentAction,
    RollbackAlias,
}

/// The router's table: method, path pattern (`{name}` is one segment), route.
const ROUTES: &[(&str, &str, Route)] = &[
    (
        "GET",
        "/api/v1/targets/{account}/{region}/stacks",
        Route::ListStacks,
    ),
    (
        "GET",
        "/api/v1/targets/{account}/{region}/stacks/{stack}",
        Route::GetStack,
    ),
    (
        "DELETE",
        "/api/v1/targets/{account}/{region}/stacks/{stack}",
        Route::DeleteStack,
    ),
    (
        "GET",
        "/api/v1/targets/{account}/{region}/stacks/{stack}/events",
        Route::StackEvents,
    ),
    (
        "POST",
        "/api/v1/targets/{account}/{region}/stacks/{stack}/deploy",
        Route::Deploy,
    ),
    (
        "GET",
        "/api/v1/targets/{account}/{region}/stacks/{stack}/change-sets/{changeSet}",
        Route::GetChangeSet,
    ),
    (
        "POST",
        "/api/v1/targets/{account}/{region}/stacks/{stack}/change-sets/{changeSet}/execute",
        Route::ExecuteChangeSet,
    ),
    (
        "GET",
        "/api/v1/targets/{account}/{region}/deployments",
        Route::ListDeployments,
    ),
    ("GET", "/api/v1/deployments/{id}", Route::GetDeployment),
    (
        "POST",
        "/api/v1/deployments/{id}/actions",
        Route::DeploymentAction,
    ),
    (
        "POST",
        "/api/v1/targets/{account}/{region}/functions/{function}/aliases/{alias}/rollback",
        Route::RollbackAlias,
    ),
];

/// `(method, path pattern)` of every route (the OpenAPI document must list exactly these).
pub fn routes() -> Vec<(&'static str, &'static str)> {
    ROUTES.iter().map(|(m, p, _)| (*m, *p)).collect()
}

/// Matches `path` against the table: the route and its captures, or the methods the path
/// allows (empty: no such path).
fn route(
    method: &Method,
    path: &str,
) -> Result<(Route, BTreeMap<&'static str, String>), Vec<&'static str>> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut allowed = Vec::new();
    for (m, pattern, r) in ROUTES {
        let pat: Vec<&'static str> = pattern.split('/').collect();
        if pat.len() != segs.len() {
            continue;
        }
        let mut caps = BTreeMap::new();
        let ok = pat.iter().zip(&segs).all(|(p, s)| {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !s.is_empty() => {
                    caps.insert(name, wire::percent_decode(s, false));
                    true
                }
                Some(_) => false,
                None => p == s,
            }
        });
        if !ok {
            continue;
        }
        if method.as_str() == *m {
            return Ok((*r, caps));
        }
        allowed.push(*m);
    }
    Err(allowed)
}

/// An API error: status, stable code, message for the client.
#[derive(Debug)]
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
    diagnostics: Vec<serde_json::Value>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            diagnostics: Vec::new(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "NotFound", message)
    }

    fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, "Conflict", message)
    }

    fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "control API: internal error");
        ApiError::new(500, "Internal", "An internal error occurred.")
    }

    fn response(self) -> HttpResponse {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                diagnostics: self.diagnostics,
            },
        };
        wire::json(self.status, "application/json", &body)
    }
}

/// The engine's errors as the API reports them.
fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Template { diagnostics } => {
            let n = diagnostics.len();
            let first = diagnostics
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_default();
            let mut err = ApiError::new(
                400,
                "InvalidTemplate",
                format!("the template has {n} error(s); the first: {first}"),
            );
            err.diagnostics = diagnostics
                .iter()
                .filter_map(|d| serde_json::to_value(d).ok())
                .collect();
            err
        }
        EngineError::BadTarget { .. } => ApiError::bad_request(e.to_string()),
        EngineError::NoChanges { .. } => ApiError::new(409, "NoChanges", e.to_string()),
        EngineError::DeploymentNotFound { .. } | EngineError::OperationNotFound { .. } => {
            ApiError::not_found(e.to_string())
        }
        EngineError::Stack(ref s) => match s {
            StackError::DoesNotExist { .. } | StackError::ChangeSetNotFound { .. } => {
                ApiError::not_found(e.to_string())
            }
            StackError::NoPreviousValue { .. }
            | StackError::PreviousAndValue { .. }
            | StackError::PreviousOnCreate { .. } => ApiError::bad_request(e.to_string()),
            StackError::AlreadyExists { .. }
            | StackError::NotUpdatable { .. }
            | StackError::NotAllowed { .. }
            | StackError::ChangeSetOnExistingStack { .. }
            | StackError::ChangeSetExists { .. }
            | StackError::ChangeSetNotExecutable { .. }
            | StackError::ExportInUse { .. }
            | StackError::NothingInProgress { .. } => ApiError::conflict(e.to_string()),
        },
        EngineError::Plan(_) => ApiError::bad_request(e.to_string()),
        EngineError::Deployment(ref d) => match d {
            DeploymentError::NotAllowed { .. } | DeploymentError::NoWait { .. } => {
                ApiError::conflict(e.to_string())
            }
            DeploymentError::LifecycleEventAlreadyCompleted { .. }
            | DeploymentError::InvalidHookExecutionId { .. }
            | DeploymentError::UnknownAlarm { .. } => ApiError::bad_request(e.to_string()),
        },
        EngineError::Lambda(_) | EngineError::Provider(_) => ApiError::conflict(e.to_string()),
        EngineError::State(_) | EngineError::Corrupt { .. } | EngineError::Interrupted { .. } => {
            ApiError::internal(&e)
        }
    }
}

fn ok<T: Serialize>(status: u16, value: &T) -> Result<HttpResponse, ApiError> {
    Ok(wire::json(status, "application/json", value))
}

/// One API request, read: what the handlers see.
struct ApiReq {
    route: Route,
    caps: BTreeMap<&'static str, String>,
    query: Vec<(String, String)>,
    body: Bytes,
}

impl ApiReq {
    fn cap(&self, name: &str) -> &str {
        self.caps.get(name).map_or("", String::as_str)
    }

    fn target(&self) -> String {
        format!("{}/{}", self.cap("account"), self.cap("region"))
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
    }
}

/// Serves one `/api/v1/…` request (the server's `handle` sends every such path here).
pub(crate) async fn handle(app: Arc<App>, req: Request<Incoming>) -> HttpResponse {
    match serve(app, req).await {
        Ok(r) | Err(r) => r,
    }
}

async fn serve(app: Arc<App>, req: Request<Incoming>) -> Result<HttpResponse, HttpResponse> {
    let (parts, body) = req.into_parts();
    if let Some(token) = app.token.as_deref() {
        let given = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token) {
            return Err(ApiError::new(
                401,
                "Unauthorized",
                "this server requires a token: send `Authorization: Bearer TOKEN` (SLIPWAY_TOKEN)",
            )
            .response());
        }
    }
    let (route, caps) = match route(&parts.method, parts.uri.path()) {
        Ok(r) => r,
        Err(allowed) if allowed.is_empty() => {
            return Err(
                ApiError::not_found(format!("no such resource: {}", parts.uri.path())).response(),
            );
        }
        Err(allowed) => {
            let mut r = ApiError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "{} is not allowed here; allowed: {}",
                    parts.method,
                    allowed.join(", ")
                ),
            )
            .response();
            if let Ok(v) = hyper::header::HeaderValue::from_str(&allowed.join(", ")) {
                r.headers_mut().insert(hyper::header::ALLOW, v);
            }
            return Err(r);
        }
    };
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(ApiError::new(
                413,
                "BadRequest",
                format!("the request body cannot be read: {e}"),
            )
            .response());
        }
    };
    let req = ApiReq {
        route,
        caps,
        query: wire::parse_pairs(parts.uri.query().unwrap_or("")),
        body,
    };
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || dispatch(&app2, &req))
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(&e)))
        .map_err(ApiError::response)
}

/// The console's way in (`console/`): one request through this router and these handlers,
/// after the console authenticated it (cookie or token). Blocking, like the handlers.
pub(crate) fn call(
    app: &App,
    method: &Method,
    path: &str,
    query: &str,
    body: Bytes,
) -> HttpResponse {
    match route(method, path) {
        Ok((route, caps)) => {
            let req = ApiReq {
                route,
                caps,
                query: wire::parse_pairs(query),
                body,
            };
            dispatch(app, &req).unwrap_or_else(ApiError::response)
        }
        Err(_) => ApiError::not_found(format!("no such resource: {path}")).response(),
    }
}

fn dispatch(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    match req.route {
        Route::ListStacks => list_stacks(app, req),
        Route::GetStack => get_stack(app, req),
        Route::DeleteStack => delete_stack(app, req),
        Route::StackEvents => stack_events(app, req),
        Route::Deploy => deploy(app, req),
        Route::GetChangeSet => get_change_set(app, req),
        Route::ExecuteChangeSet => execute_change_set(app, req),
        Route::ListDeployments => list_deployments(app, req),
        Route::GetDeployment => get_deployment(app, req),
        Route::DeploymentAction => deployment_action(app, req),
        Route::RollbackAlias => rollback_alias(app, req),
    }
}

// ---------------------------------------------------------------------------------------------
// Stacks.

fn load_stack(app: &App, req: &ApiReq) -> Result<StackRecord, ApiError> {
    let name = req.cap("stack");
    app.engine
        .stack(&req.target(), name)
        .map_err(engine_error)?
        .ok_or_else(|| ApiError::not_found(format!("Stack with id {name} does not exist")))
}

fn updated_ms(s: &StackRecord) -> u64 {
    s.events.last().map_or(0, |e| e.timestamp_ms)
}

fn list_stacks(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let target = req.target();
    let all = req.query("includeDeleted") == Some("true");
    let mut stacks = Vec::new();
    for name in app.engine.list_stacks(&target).map_err(engine_error)? {
        let Some(s) = app.engine.stack(&target, &name).map_err(engine_error)? else {
            continue;
        };
        if s.status == StackStatus::DeleteComplete && !all {
            continue;
        }
        stacks.push(StackSummary {
            updated_ms: updated_ms(&s),
            name: s.name,
            id: s.id,
            status: s.status.as_str().to_owned(),
            status_reason: s.status_reason,
        });
    }
    ok(200, &StackList { stacks })
}

fn get_stack(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let s = load_stack(app, req)?;
    let out = Stack {
        parameters: s.described_parameters().into_iter().collect(),
        outputs: s
            .outputs
            .iter()
            .map(|(k, o)| Output {
                key: k.clone(),
                value: o.value.clone(),
                description: o.description.clone(),
                export_name: o.export_name.clone(),
            })
            .collect(),
        resources: s
            .resources
            .iter()
            .map(|(k, r)| Resource {
                logical_id: k.clone(),
                physical_id: r.physical_id.clone(),
                resource_type: r.resource_type.clone(),
                status: r.status.as_str().to_owned(),
            })
            .collect(),
        change_sets: s.change_sets.iter().map(|c| c.name.clone()).collect(),
        tags: s.tags.clone(),
        api_urls: match app.gateway_addr.get() {
            Some(addr) => crate::routes::stack_urls(app.store.as_ref(), &s.target, &s.name, *addr)
                .into_iter()
                .map(|u| ApiUrl {
                    logical_id: u.logical_id,
                    api_id: u.api_id,
                    stage: u.stage,
                    path_url: u.path_url,
                    host_url: u.host_url,
                })
                .collect(),
            None => Vec::new(),
        },
        name: s.name,
        id: s.id,
        target: s.target,
        status: s.status.as_str().to_owned(),
        status_reason: s.status_reason,
    };
    ok(200, &out)
}

fn stack_events(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let s = load_stack(app, req)?;
    let since = match req.query("since") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("`since` must be a count of events, not {v:?}"))
        })?,
    };
    let total = s.events.len();
    let events = s
        .events
        .iter()
        .skip(since)
        .map(|e| StackEvent {
            event_id: e.event_id.clone(),
            timestamp_ms: e.timestamp_ms,
            logical_id: e.spec.logical_id.clone(),
            physical_id: e.spec.physical_id.clone(),
            resource_type: e.spec.resource_type.clone(),
            status: e.spec.status.as_str().to_owned(),
            reason: e.spec.reason.clone(),
        })
        .collect();
    ok(200, &EventList { events, total })
}

fn operation(r: &OperationReport) -> Operation {
    Operation {
        operation_id: r.operation_id.clone(),
        stack: r.stack.clone(),
        status: r.status.as_str().to_owned(),
        waiting_on: r.waiting_on.clone(),
    }
}

fn delete_stack(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let target = req.target();
    let name = req.cap("stack").to_owned();
    let r = app
        .drive(|e| e.delete_stack(&target, &name))
        .map_err(engine_error)?;
    ok(200, &operation(&r))
}

fn changes(plan: &Plan) -> Vec<Change> {
    plan.changes
        .iter()
        .map(|c| Change {
            action: match c.action {
                PlanAction::Add => "Add",
                PlanAction::Modify => "Modify",
                PlanAction::Remove => "Remove",
            }
            .to_owned(),
            logical_id: c.logical_id.clone(),
            physical_id: c.physical_id.clone(),
            resource_type: c.resource_type.clone(),
            replacement: c.replacement.map(|r| r.as_str().to_owned()),
        })
        .collect()
}

fn change_set_type(t: ChangeSetType) -> &'static str {
    match t {
        ChangeSetType::Create => "CREATE",
        ChangeSetType::Update => "UPDATE",
    }
}

fn change_set(stack: &str, c: &ChangeSetRecord) -> ChangeSet {
    ChangeSet {
        name: c.name.clone(),
        id: c.id.clone(),
        stack: stack.to_owned(),
        change_set_type: change_set_type(c.change_set_type).to_owned(),
        execution_status: serde_json::to_value(c.execution_status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        created_ms: c.created_ms,
        changes: changes(&c.plan),
    }
}

/// Create (and unless told otherwise execute) a change set, or only plan (`dryRun`).
fn deploy(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let input: DeployInput = req.json()?;
    let target = req.target();
    let stack = req.cap("stack").to_owned();
    if let Some(given) = &input.options.capabilities {
        // The deploy is a change set: CAPABILITY_AUTO_EXPAND is not needed, IAM is.
        let parsed = slipway_model::syntax::parse_document(
            &input.template,
            slipway_model::syntax::TagMode::CloudFormation,
        );
        if let Some(t) = parsed.root.map(|r| r.to_json()) {
            use slipway_model::template::capabilities as caps;
            let missing = caps::missing(&caps::required(&t, caps::Operation::ChangeSet), given);
            if !missing.is_empty() {
                return Err(ApiError::new(
                    400,
                    "InsufficientCapabilitiesException",
                    caps::message(&missing),
                ));
            }
        }
    }
    let dreq = DeployRequest {
        target: target.clone(),
        stack_name: stack.clone(),
        template: input.template,
        file: input.file.unwrap_or_default(),
        parameters: input
            .parameters
            .into_iter()
            .map(|p| ParameterInput {
                key: p.key,
                value: p.value,
                use_previous_value: p.use_previous_value,
            })
            .collect(),
        tags: input.tags,
        code_root: input.code_root.map(Into::into),
    };
    if input.options.dry_run {
        let (plan, _) = app.engine.plan(&dreq).map_err(engine_error)?;
        let kind = if plan.kind == PlanKind::Update {
            "UPDATE"
        } else {
            "CREATE"
        };
        return ok(
            200,
            &DeployOutput {
                change_set_type: kind.to_owned(),
                changes: changes(&plan),
                change_set: None,
                operation: None,
            },
        );
    }
    let name = input
        .change_set_name
        .unwrap_or_else(|| format!("slipway-{}", app.clock.now_ms()));
    let out = app.drive(|e| -> Result<DeployOutput, ApiError> {
        let live = e
            .stack(&target, &stack)
            .map_err(engine_error)?
            .filter(|s| s.exists() && s.status != StackStatus::ReviewInProgress);
        let kind = if live.is_some() {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        };
        let cs = e
            .create_change_set(&dreq, &name, kind)
            .map_err(engine_error)?;
        if kind == ChangeSetType::Update && cs.plan.is_empty() {
            // CloudFormation fails such a change set ("The submitted information didn't contain
            // changes"); `sam deploy` then reports that there is nothing to deploy. We do not keep
            // it.
            e.delete_change_set(&target, &stack, &name)
                .map_err(engine_error)?;
            return Err(ApiError::new(
                409,
                "NoChanges",
                format!("No changes to deploy. Stack {stack} is up to date"),
            ));
        }
        let operation = if input.options.no_execute_changeset {
            None
        } else {
            Some(operation(
                &e.execute_change_set(&target, &stack, &name)
                    .map_err(engine_error)?,
            ))
        };
        let cs = match operation {
            Some(_) => e
                .stack(&target, &stack)
                .ok()
                .flatten()
                .and_then(|s| s.change_sets.iter().find(|c| c.name == name).cloned())
                .unwrap_or(cs),
            None => cs,
        };
        Ok(DeployOutput {
            change_set_type: change_set_type(kind).to_owned(),
            changes: changes(&cs.plan),
            change_set: Some(change_set(&stack, &cs)),
            operation,
        })
    })?;
    let status = if out.operation.is_some() { 200 } else { 201 };
    ok(status, &out)
}

fn get_change_set(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let stack = req.cap("stack");
    let cs = app
        .engine
        .describe_change_set(&req.target(), stack, req.cap("changeSet"))
        .map_err(engine_error)?;
    ok(200, &change_set(stack, &cs))
}

fn execute_change_set(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let target = req.target();
    let (stack, name) = (req.cap("stack").to_owned(), req.cap("changeSet").to_owned());
    let r = app
        .drive(|e| e.execute_change_set(&target, &stack, &name))
        .map_err(engine_error)?;
    ok(200, &operation(&r))
}

// ---------------------------------------------------------------------------------------------
// Deployments.

fn percent(per_mille: u32) -> f64 {
    f64::from(per_mille) / 10.0
}

fn alarm_state(s: AlarmState) -> &'static str {
    match s {
        AlarmState::Ok => "OK",
        AlarmState::Alarm => "ALARM",
        AlarmState::InsufficientData => "INSUFFICIENT_DATA",
    }
}

fn status_name(s: DeploymentStatus) -> &'static str {
    match s {
        DeploymentStatus::Created => "Created",
        DeploymentStatus::Queued => "Queued",
        DeploymentStatus::InProgress => "InProgress",
        DeploymentStatus::Baking => "Baking",
        DeploymentStatus::Succeeded => "Succeeded",
        DeploymentStatus::Failed => "Failed",
        DeploymentStatus::Stopped => "Stopped",
        DeploymentStatus::Ready => "Ready",
    }
}

/// The wire form of a deployment.
fn deployment(target: &str, d: &Dep, now_ms: u64) -> Deployment {
    let phase = match &d.phase {
        Phase::Pending => "Pending".to_owned(),
        Phase::Hook { event, .. } => event.to_string(),
        Phase::WaitingForContinue => "WaitingForContinue".to_owned(),
        Phase::Shifting { .. } => "AllowTraffic".to_owned(),
        Phase::Done => "Done".to_owned(),
    };
    // Execution IDs are `{deployment}-before` and `{deployment}-after` (one each at most).
    let mut hooks = Vec::new();
    for (event, suffix, function) in [
        (
            traffic::LifecycleEvent::BeforeAllowTraffic,
            "before",
            &d.hooks.before_allow_traffic,
        ),
        (
            traffic::LifecycleEvent::AfterAllowTraffic,
            "after",
            &d.hooks.after_allow_traffic,
        ),
    ] {
        let Some(function) = function else { continue };
        let status = d
            .hook_executions
            .get(&format!("{}-{suffix}", d.id))
            .map(|s| s.map_or("Pending", hook_status).to_owned());
        hooks.push(HookResult {
            lifecycle_event: event.to_string(),
            function: function.clone(),
            status,
        });
    }
    Deployment {
        id: d.id.clone(),
        target: target.to_owned(),
        function: d.function.clone(),
        alias: d.alias.clone(),
        current_version: d.current_version,
        target_version: d.target_version,
        config: crate::codedeploy::config_name(d.config),
        status: status_name(d.status).to_owned(),
        phase,
        weight_percent: percent(d.weight),
        schedule: d
            .config
            .schedule()
            .iter()
            .map(|s| ShiftStep {
                at_ms: s.at_ms,
                weight_percent: percent(s.weight),
            })
            .collect(),
        weights: d
            .weights
            .iter()
            .map(|w| ShiftStep {
                at_ms: w.at_ms,
                weight_percent: percent(w.weight),
            })
            .collect(),
        next_event_ms: if d.status.is_terminal() {
            None
        } else {
            d.next_timer()
        },
        created_ms: d.created_ms,
        completed_ms: d.completed_ms,
        failure: d.failure.as_ref().map(ToString::to_string),
        hooks,
        alarms: d
            .alarms
            .iter()
            .map(|(k, v)| (k.clone(), alarm_state(*v).to_owned()))
            .collect(),
        now_ms,
    }
}

fn hook_status(s: traffic::HookStatus) -> &'static str {
    match s {
        traffic::HookStatus::Succeeded => "Succeeded",
        traffic::HookStatus::Failed => "Failed",
    }
}

fn list_deployments(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let target = req.target();
    let function = req.query("function");
    let now = app.clock.now_ms();
    let deployments = app
        .engine
        .deployments(&target)
        .map_err(engine_error)?
        .iter()
        .filter(|d| {
            function
                .is_none_or(|f| d.function == f || function_matches(app, &target, f, &d.function))
        })
        .map(|d| deployment(&target, d, now))
        .collect();
    ok(200, &DeploymentList { deployments })
}

/// A function named by its logical ID (`HelloFunction`) as well as by its name.
fn function_matches(app: &App, target: &str, given: &str, name: &str) -> bool {
    matches!(load_function(app.store.as_ref(), target, name), Ok(Some((r, _))) if r.logical_id == given)
}

fn find_deployment(app: &App, id: &str) -> Result<(String, Dep), ApiError> {
    for (t, k, d) in app
        .store
        .list_all_docs(Collection::Deployments)
        .map_err(|e| ApiError::internal(&e))?
    {
        if k == id {
            let dep = serde_json::from_value(d.value).map_err(|e| ApiError::internal(&e))?;
            return Ok((t, dep));
        }
    }
    Err(ApiError::not_found(format!(
        "Deployment {id} does not exist"
    )))
}

fn get_deployment(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let (target, d) = find_deployment(app, req.cap("id"))?;
    ok(200, &deployment(&target, &d, app.clock.now_ms()))
}

fn deployment_action(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let input: ActionInput = req.json().map_err(|e| {
        ApiError::bad_request(format!(
            "{}; the body is {{\"action\": \"stop\" | \"continue\" | \"skip-wait\"}}",
            e.message
        ))
    })?;
    let id = req.cap("id").to_owned();
    let (target, _) = find_deployment(app, &id)?;
    let d = app
        .drive(|e| match input.action {
            DeploymentAction::Stop => e.stop_deployment(&id),
            DeploymentAction::Continue => e.continue_deployment(&id),
            DeploymentAction::SkipWait => e.skip_wait(&id),
        })
        .map_err(engine_error)?;
    ok(200, &deployment(&target, &d, app.clock.now_ms()))
}

// ---------------------------------------------------------------------------------------------
// Rollback of an alias (see the module's documentation).

/// A function by name, or by logical ID when exactly one function of the target has it.
fn find_function(app: &App, target: &str, given: &str) -> Result<FunctionRecord, ApiError> {
    if let Some((r, _)) =
        load_function(app.store.as_ref(), target, given).map_err(|e| ApiError::internal(&e))?
    {
        return Ok(r);
    }
    let mut found: Vec<FunctionRecord> = app
        .store
        .list_docs(Collection::Functions, target)
        .map_err(|e| ApiError::internal(&e))?
        .into_iter()
        .filter_map(|(_, d)| serde_json::from_value::<FunctionRecord>(d.value).ok())
        .filter(|r| r.logical_id == given)
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ApiError::not_found(format!("Function not found: {given}"))),
        _ => Err(ApiError::bad_request(format!(
            "{given} is the logical ID of functions in several stacks; name the function"
        ))),
    }
}

fn rollback_alias(app: &App, req: &ApiReq) -> Result<HttpResponse, ApiError> {
    let target = req.target();
    let alias = req.cap("alias").to_owned();
    let f = find_function(app, &target, req.cap("function"))?;
    let function = f.name;
    let out = app.drive(|e| -> Result<RollbackOutput, ApiError> {
        let deployments: Vec<Dep> = e
            .deployments(&target)
            .map_err(engine_error)?
            .into_iter()
            .filter(|d| d.function == function && d.alias == alias)
            .collect();
        // 1. A deployment in progress: stopped with rollback.
        if let Some(d) = deployments.iter().rev().find(|d| !d.status.is_terminal()) {
            let stopped = e.stop_deployment(&d.id).map_err(engine_error)?;
            return Ok(RollbackOutput {
                function: function.clone(),
                alias: alias.clone(),
                kind: "StoppedDeployment".to_owned(),
                from_version: d.target_version,
                to_version: stopped.current_version,
                deployment_id: Some(d.id.clone()),
            });
        }
        // 2. Otherwise: the alias moved by hand to the previous version.
        let (rec, _) = load_function(e.store(), &target, &function)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| ApiError::not_found(format!("Function not found: {function}")))?;
        let a = rec.versions.aliases.get(&alias).ok_or_else(|| {
            ApiError::not_found(format!(
                "Cannot find alias arn: {}:{alias}",
                rec.versions.arn
            ))
        })?;
        let Version::Published(current) = a.function_version else {
            return Err(ApiError::conflict(format!(
                "alias {alias} of {function} points at $LATEST: there is no previous version"
            )));
        };
        let previous = deployments
            .iter()
            .rev()
            .find(|d| d.status == DeploymentStatus::Succeeded && d.target_version == current)
            .map(|d| d.current_version)
            .filter(|v| rec.versions.versions.contains_key(v))
            .or_else(|| rec.versions.versions.range(..current).next_back().map(|(n, _)| *n));
        let Some(previous) = previous else {
            return Err(ApiError::conflict(format!(
                "alias {alias} of {function} is on version {current}, its first: there is no previous version"
            )));
        };
        set_alias(
            e.store(),
            &target,
            &function,
            &alias,
            &previous.to_string(),
            &slipway_deploy::lambda::RoutingConfig::new(),
        )
        .map_err(|err| engine_error(err.into()))?;
        app.hooks.alias_changed(&target, &function, &alias);
        Ok(RollbackOutput {
            function: function.clone(),
            alias: alias.clone(),
            kind: "MovedAlias".to_owned(),
            from_version: current,
            to_version: previous,
            deployment_id: None,
        })
    })?;
    ok(200, &out)
}
