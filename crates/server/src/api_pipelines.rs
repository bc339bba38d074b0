//! `/api/v1/pipelines…`: Slipway's own REST API for pipelines, and the GitHub webhook.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /api/v1/pipelines` | `{"pipelines": [{name, version, latest}]}` |
//! | `POST /api/v1/pipelines` | import a CloudFormation template's CodePipeline pipelines (`pipeline_import.rs`): 200 with what was defined, 422 with every diagnostic and nothing defined |
//! | `POST /api/v1/pipelines:poll` | look at every git source's branch now (the git hooks of `slipway up --git-hook`) → `{"started": [id…]}` |
//! | `GET /api/v1/pipelines/{name}` | the pipeline's state: definition, executions (history), locks, transitions |
//! | `POST /api/v1/pipelines/{name}/executions` | start; body `{"variables": {…}}` (optional) → 201 `{"executionId"}` |
//! | `GET /api/v1/pipelines/{name}/executions/{id}` | one execution |
//! | `POST …/executions/{id}/stop` | `{"mode": "WAIT" \| "ABANDON", "reason"}` |
//! | `POST …/executions/{id}/retry` | `{"stage", "mode": "FAILED_ACTIONS" \| "ALL_ACTIONS"}` |
//! | `POST /api/v1/pipelines/{name}/approvals` | `{"stage", "action", "status": "Approved" \| "Rejected", "summary", "by"}` |
//! | `POST /api/v1/pipelines/{name}/webhook` | a GitHub `push` event, `X-Hub-Signature-256` required |
//!
//! Errors are `{"code", "message"}` with 400 (bad body), 401 (token or signature), 404 (no such
//! pipeline or execution), 409 (the state does not allow it). With a server token, every route
//! but the webhook needs `Authorization: Bearer TOKEN`; the webhook is authenticated by its
//! signature instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Deserialize;
use serde_json::{Value, json};
use slipway_pipeline::exec::ExecError;
use slipway_pipeline::trigger::{parse_push, push_targets, verify_signature};
use slipway_pipeline::{ApprovalDecision, RetryMode, SourceRevision, StepError, StopMode};

use crate::App;
use crate::wire::{self, HttpResponse};

pub(crate) const PREFIX: &str = "/api/v1/pipelines";

/// Every route [`route`] answers, as `docs/openapi.yaml` lists them (a test holds the document
/// equal to this list and `api::routes`); keep it in step with the `match` in [`route`].
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/pipelines"),
    ("POST", "/api/v1/pipelines"),
    ("POST", "/api/v1/pipelines:poll"),
    ("GET", "/api/v1/pipelines/{name}"),
    ("POST", "/api/v1/pipelines/{name}/executions"),
    ("GET", "/api/v1/pipelines/{name}/executions/{executionId}"),
    (
        "POST",
        "/api/v1/pipelines/{name}/executions/{executionId}/stop",
    ),
    (
        "POST",
        "/api/v1/pipelines/{name}/executions/{executionId}/retry",
    ),
    ("POST", "/api/v1/pipelines/{name}/approvals"),
    ("POST", "/api/v1/pipelines/{name}/webhook"),
];
const JSON: &str = "application/json";
const MAX_BODY: usize = 1024 * 1024;
/// GitHub's signature header.
pub const X_HUB_SIGNATURE_256: &str = "x-hub-signature-256";
pub const X_GITHUB_EVENT: &str = "x-github-event";

fn error(status: u16, code: &str, message: impl Into<String>) -> HttpResponse {
    wire::json(
        status,
        JSON,
        &json!({"code": code, "message": message.into()}),
    )
}

fn exec_error(e: &ExecError) -> HttpResponse {
    let (status, code) = match e {
        ExecError::UnknownPipeline(_) => (404, "PipelineNotFound"),
        ExecError::Step(StepError::UnknownExecution(_)) => (404, "PipelineExecutionNotFound"),
        ExecError::Step(StepError::UnknownStage(_) | StepError::UnknownAction { .. }) => {
            (404, "StageNotFound")
        }
        ExecError::Step(_) | ExecError::NoPendingApproval { .. } => (409, "InvalidState"),
        ExecError::State(_) | ExecError::Corrupt { .. } => (500, "InternalError"),
    };
    if status == 500 {
        tracing::error!(error = %e, "pipeline API");
        return error(status, code, "internal error");
    }
    error(status, code, e.to_string())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopBody {
    #[serde(default)]
    mode: Option<StopMode>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryBody {
    stage: String,
    #[serde(default)]
    mode: Option<RetryMode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalBody {
    stage: String,
    action: String,
    status: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, HttpResponse> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| error(400, "BadRequest", format!("the body is not valid: {e}")))
}

pub(crate) async fn handle(app: Arc<App>, req: Request<Incoming>) -> HttpResponse {
    let (parts, incoming) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| wire::percent_decode(s, false))
        .collect();
    let is_webhook = parts.method == Method::POST && segs.len() == 2 && segs[1] == "webhook";
    if !is_webhook && let Some(token) = app.token.as_deref() {
        let auth = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth.strip_prefix("Bearer ") != Some(token) {
            return error(401, "Unauthorized", "a bearer token is required");
        }
    }
    let bytes = match http_body_util::Limited::new(incoming, MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => return error(400, "BadRequest", e.to_string()),
    };
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signature = header(X_HUB_SIGNATURE_256);
    let event = header(X_GITHUB_EVENT);
    let method = parts.method.clone();
    let run = move || {
        route(
            &app,
            &method,
            &segs,
            &bytes,
            signature.as_deref(),
            event.as_deref(),
        )
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|e| error(500, "InternalError", e.to_string()))
}

/// One request after authentication (also the console's way in, `console/`). Blocking.
pub(crate) fn route(
    app: &App,
    method: &Method,
    segs: &[String],
    bytes: &[u8],
    signature: Option<&str>,
    event: Option<&str>,
) -> HttpResponse {
    let Some(p) = app.pipelines.get() else {
        return error(404, "PipelineNotFound", "pipelines are not enabled");
    };
    let x = &p.executor;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let ok = |v: Value| wire::json(200, JSON, &v);
    let result = match (method, segs.as_slice()) {
        (&Method::GET, []) => x.list().map(|names| {
            let items: Vec<Value> = names
                .iter()
                .filter_map(|n| x.state(n).ok())
                .map(|s| {
                    let latest = s.executions.last().map(|e| {
                        json!({"executionId": e.id, "status": e.status, "startedAt": e.started_at})
                    });
                    json!({"name": s.pipeline.name, "version": s.pipeline.version, "latest": latest})
                })
                .collect();
            ok(json!({ "pipelines": items }))
        }),
        (&Method::POST, []) => {
            let req: crate::ImportRequest = match body(bytes) {
                Ok(b) => b,
                Err(r) => return r,
            };
            return match app.import_pipelines(&req, crate::pipeline_import::no_files()) {
                Ok(report) => {
                    let status = if report.valid { 200 } else { 422 };
                    let mut v = serde_json::to_value(&report).unwrap_or_default();
                    if !report.valid {
                        v["code"] = json!("InvalidTemplate");
                        v["message"] = json!("the template has errors: nothing was defined");
                    }
                    wire::json(status, JSON, &v)
                }
                Err(crate::ImportError::Exec(e)) => exec_error(&e),
                Err(e) => error(400, "BadRequest", e.to_string()),
            };
        }
        (&Method::GET, [name]) => x
            .state(name)
            .map(|s| ok(serde_json::to_value(&s).unwrap_or_default())),
        (&Method::POST, [name, "executions"]) => {
            let b: StartBody = match body(bytes) {
                Ok(b) => b,
                Err(r) => return r,
            };
            p.start_execution(name, b.variables)
                .map(|id| wire::json(201, JSON, &json!({ "executionId": id })))
        }
        (&Method::GET, [name, "executions", id]) => x.state(name).and_then(|s| {
            s.execution(id)
                .map(|e| ok(serde_json::to_value(e).unwrap_or_default()))
                .ok_or_else(|| ExecError::Step(StepError::UnknownExecution((*id).to_owned())))
        }),
        (&Method::POST, [name, "executions", id, "stop"]) => {
            let b: StopBody = match body(bytes) {
                Ok(b) => b,
                Err(r) => return r,
            };
            x.stop(name, id, b.mode.unwrap_or(StopMode::Wait), b.reason)
                .map(|()| ok(json!({ "executionId": id })))
        }
        (&Method::POST, [name, "executions", id, "retry"]) => {
            let b: RetryBody = match body(bytes) {
                Ok(b) => b,
                Err(r) => return r,
            };
            x.retry(
                name,
                id,
                &b.stage,
                b.mode.unwrap_or(RetryMode::FailedActions),
            )
            .map(|()| ok(json!({ "executionId": id })))
        }
        (&Method::POST, [name, "approvals"]) => {
            let b: ApprovalBody = match body(bytes) {
                Ok(b) => b,
                Err(r) => return r,
            };
            let approved = match b.status.as_str() {
                "Approved" => true,
                "Rejected" => false,
                other => {
                    return error(
                        400,
                        "BadRequest",
                        format!("status '{other}' is neither Approved nor Rejected"),
                    );
                }
            };
            let decision = ApprovalDecision {
                approved,
                by: b.by.unwrap_or_else(|| "api".to_owned()),
                comment: b.summary,
            };
            x.decide(name, &b.stage, &b.action, decision)
                .map(|id| ok(json!({ "executionId": id })))
        }
        // A git hook's `slipway pipeline poll`: every git source looked at now. (`:` cannot be
        // in a pipeline name, so this never shadows one.)
        (&Method::POST, [":poll"]) => {
            return match p.poll_now() {
                Ok(started) => wire::json(200, JSON, &json!({ "started": started })),
                Err(e) => error(500, "PollFailed", e.to_string()),
            };
        }
        (&Method::POST, [name, "webhook"]) => {
            return webhook(p, name, bytes, signature, event);
        }
        _ => return error(404, "NotFound", "no such pipeline route"),
    };
    result.unwrap_or_else(|e| exec_error(&e))
}

fn webhook(
    p: &crate::pipelines::Pipelines,
    name: &str,
    bytes: &[u8],
    signature: Option<&str>,
    event: Option<&str>,
) -> HttpResponse {
    let Some(secret) = p.webhook_secret.as_deref() else {
        return error(401, "Unauthorized", "no webhook secret is configured");
    };
    if !verify_signature(secret, bytes, signature) {
        return error(
            401,
            "Unauthorized",
            "the X-Hub-Signature-256 signature is missing or wrong",
        );
    }
    match event {
        Some("ping") => return wire::json(200, JSON, &json!({"started": []})),
        Some("push") | None => {}
        Some(other) => {
            return wire::json(
                200,
                JSON,
                &json!({"started": [], "ignored": format!("event '{other}'")}),
            );
        }
    }
    let push = match parse_push(bytes) {
        Ok(Some(p)) => p,
        Ok(None) => return wire::json(200, JSON, &json!({"started": []})),
        Err(e) => return error(400, "BadRequest", e),
    };
    let state = match p.executor.state(name) {
        Ok(s) => s,
        Err(e) => return exec_error(&e),
    };
    let actions = push_targets(&state.pipeline, &push.branch);
    if actions.is_empty() {
        return wire::json(
            200,
            JSON,
            &json!({"started": [], "ignored": format!("branch '{}' is filtered out", push.branch)}),
        );
    }
    let revisions = actions
        .into_iter()
        .map(|a| SourceRevision {
            action_name: a,
            revision_id: push.commit.clone(),
            summary: push.message.clone(),
        })
        .collect();
    match p.executor.start(name, revisions, BTreeMap::new()) {
        Ok(id) => wire::json(201, JSON, &json!({"started": [id]})),
        Err(e) => exec_error(&e),
    }
}
