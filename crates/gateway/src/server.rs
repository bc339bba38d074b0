//! The hot path: addressing, one request through route table, event, invoke and response, and
//! the hyper server around it.
//!
//! ## Addressing
//!
//! Every API and stage is reachable three ways (`{port}` is the gateway's, 3000 by default):
//!
//! 1. **Host-based**, as on AWS: `http://{apiId}.execute-api.localhost:{port}/{stage}/path`
//!    (`*.localhost` resolves to loopback without DNS set-up on most systems). Any `Host`
//!    whose first label is followed by `.execute-api.` selects that API.
//! 2. **Path-based**, no DNS at all: `http://127.0.0.1:{port}/_api/{apiId}/{stage}/path`.
//!    `_api` cannot be an API id (ids are `[0-9a-z]{10}`), so the prefix is unambiguous; it is
//!    checked before the root form, which therefore cannot serve a route under `/_api/`.
//! 3. **Root**, as `sam local start-api`: when the snapshot holds exactly one API, `/path` is
//!    that API's primary stage (`Prod`, the declared `StageName`, `$default`).
//!
//! After the API, REST paths start with the stage (an unknown stage is 403 Missing
//! Authentication Token, as AWS); HTTP API paths start with a named stage if one matches,
//! else go to `$default`.
//!
//! ## Concurrency
//!
//! The route tables are one [`Snapshot`] behind an [`ArcSwap`]: a request loads the current
//! one without a lock; [`Gateway::swap`] replaces it whole, and requests in flight finish on
//! the snapshot they loaded. Weighted aliases draw from a random source derived from
//! [`GatewayConfig::seed`] and a request counter (an atomic), so a run with a fixed seed and a
//! fixed request order picks the same versions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use slipway_model::invoke::{InvokeRequest, Invoker};
use slipway_model::template::Template;
use slipway_runtime::Runtime;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::build::{Snapshot, build};
use crate::directory::{Directory, local_functions};
use crate::event::{self, RequestData, RouteData};
use crate::reload::Reloader;
use crate::response::{BinaryContext, GatewayError, Reply, map_proxy_response};
use crate::routes::{ApiKind, Cors, Integration, NoMatch, PayloadVersion, RouteTable, split_path};

/// Largest request body API Gateway accepts: 10 MB.
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;
/// The path prefix of the path-based form.
pub const PATH_PREFIX: &str = "/_api/";

/// Wall-clock milliseconds since the epoch (what `requestTimeEpoch` reports); injectable.
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_wall_clock() -> WallClock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    })
}

#[derive(Clone)]
pub struct GatewayConfig {
    /// Seed of the weighted-alias picks.
    pub seed: u64,
    /// Serve a single-API snapshot at the root too.
    pub root: bool,
    pub max_body: usize,
    pub clock: WallClock,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            seed: fastrand::u64(..),
            root: true,
            max_body: MAX_REQUEST_BODY,
            clock: system_wall_clock(),
        }
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct IncomingRequest {
    pub method: String,
    /// `Host` header (or the URI's authority).
    pub host: String,
    /// Raw path, starting with `/`.
    pub path: String,
    pub query: Option<String>,
    /// (lower-case name, value), in order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// More than [`GatewayConfig::max_body`] bytes were sent (body dropped).
    pub too_large: bool,
    pub peer: SocketAddr,
    pub local_port: u16,
    pub protocol: &'static str,
}

/// The data plane: a route-table snapshot and an invoker.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    invoker: Arc<dyn Invoker>,
    config: GatewayConfig,
    requests: AtomicU64,
    /// Replies by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    replies: [AtomicU64; 5],
}

struct Located {
    table: Arc<RouteTable>,
    /// After the stage.
    path: String,
    /// As the event reports it (`/Prod/items`).
    stage_path: String,
}

impl Gateway {
    pub fn new(snapshot: Snapshot, invoker: Arc<dyn Invoker>, config: GatewayConfig) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            invoker,
            config,
            requests: AtomicU64::new(0),
            replies: Default::default(),
        }
    }

    /// How many replies were sent, by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub fn replies_by_class(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.replies[i].load(Ordering::Relaxed))
    }

    /// Replaces every route table at once; requests in flight keep the snapshot they loaded.
    pub fn swap(&self, snapshot: Snapshot) {
        self.snapshot.store(Arc::new(snapshot));
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Which API and stage a request is for; when none, the answer (and the kind of API it
    /// speaks for, when the API is known).
    fn locate(
        &self,
        snapshot: &Snapshot,
        host: &str,
        path: &str,
    ) -> Result<Located, (Option<ApiKind>, Reply)> {
        let not_found = || (None, GatewayError::NotFound.reply(ApiKind::Http));
        let (api, rest, root) = if let Some(after) = path.strip_prefix(PATH_PREFIX) {
            let (id, rest) = after.split_at(after.find('/').unwrap_or(after.len()));
            (snapshot.api(id).ok_or_else(not_found)?, rest, false)
        } else if let Some((id, _)) = host.split_once(".execute-api.") {
            (snapshot.api(id).ok_or_else(not_found)?, path, false)
        } else if self.config.root && snapshot.apis.len() == 1 {
            (&snapshot.apis[0], path, true)
        } else {
            return Err(not_found());
        };
        let rest = if rest.is_empty() { "/" } else { rest };
        let kind = api.info.kind;
        let no_route = |kind| (Some(kind), no_route(kind));
        if root {
            let table = api
                .primary_stage
                .as_ref()
                .and_then(|s| api.stages.get(s))
                .ok_or_else(|| no_route(kind))?;
            return Ok(Located {
                table: table.clone(),
                path: rest.to_owned(),
                stage_path: rest.to_owned(),
            });
        }
        let first = split_path(rest).first().copied().unwrap_or_default();
        let after_first = || {
            let tail = &rest[1 + first.len()..];
            if tail.is_empty() {
                "/".to_owned()
            } else {
                tail.to_owned()
            }
        };
        match kind {
            ApiKind::Rest => {
                let table = api
                    .stages
                    .get(first)
                    .filter(|_| !first.is_empty())
                    .ok_or_else(|| no_route(kind))?;
                Ok(Located {
                    table: table.clone(),
                    path: after_first(),
                    stage_path: rest.to_owned(),
                })
            }
            ApiKind::Http => {
                if !first.is_empty()
                    && first != "$default"
                    && let Some(table) = api.stages.get(first)
                {
                    return Ok(Located {
                        table: table.clone(),
                        path: after_first(),
                        stage_path: rest.to_owned(),
                    });
                }
                let table = api.stages.get("$default").ok_or_else(|| no_route(kind))?;
                Ok(Located {
                    table: table.clone(),
                    path: rest.to_owned(),
                    stage_path: rest.to_owned(),
                })
            }
        }
    }

    /// One request, start to finish. Never fails: every failure is API Gateway's answer.
    pub async fn handle(&self, req: IncomingRequest) -> Reply {
        let snapshot = self.snapshot.load_full();
        let request_id = slipway_runtime::new_request_id();
        let extended_id = extended_request_id();
        let (kind, mut reply) = match self.locate(&snapshot, &req.host, &req.path) {
            Ok(located) => (
                Some(located.table.api.kind),
                self.dispatch(&req, &located, &request_id, &extended_id)
                    .await,
            ),
            Err((kind, reply)) => (kind, reply),
        };
        match kind {
            Some(ApiKind::Rest) => {
                reply
                    .headers
                    .push(("x-amzn-RequestId".to_owned(), request_id));
                reply
                    .headers
                    .push(("x-amz-apigw-id".to_owned(), extended_id));
            }
            Some(ApiKind::Http) => reply
                .headers
                .push(("apigw-requestid".to_owned(), extended_id)),
            None => {}
        }
        let class = usize::from(reply.status / 100).clamp(1, 5) - 1;
        self.replies[class].fetch_add(1, Ordering::Relaxed);
        reply
    }

    async fn dispatch(
        &self,
        req: &IncomingRequest,
        located: &Located,
        request_id: &str,
        extended_id: &str,
    ) -> Reply {
        let table = &located.table;
        let kind = table.api.kind;
        if req.too_large {
            return GatewayError::RequestTooLarge.reply(kind);
        }
        let origin = header_value(&req.headers, "origin");
        if let (Some(cors), Some(origin)) = (&table.api.cors, origin) {
            if req.method == "OPTIONS"
                && header_value(&req.headers, "access-control-request-method").is_some()
            {
                return preflight(cors, origin);
            }
            let mut reply = Box::pin(self.integrate(req, located, request_id, extended_id)).await;
            reply
                .headers
                .retain(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-"));
            if let Some(allow) = cors.allow_origin(origin) {
                reply
                    .headers
                    .push(("access-control-allow-origin".to_owned(), allow));
                if cors.allow_credentials {
                    reply.headers.push((
                        "access-control-allow-credentials".to_owned(),
                        "true".to_owned(),
                    ));
                }
                if !cors.expose_headers.is_empty() {
                    reply.headers.push((
                        "access-control-expose-headers".to_owned(),
                        cors.expose_headers.join(","),
                    ));
                }
            }
            return reply;
        }
        self.integrate(req, located, request_id, extended_id).await
    }

    async fn integrate(
        &self,
        req: &IncomingRequest,
        located: &Located,
        request_id: &str,
        extended_id: &str,
    ) -> Reply {
        let table = &located.table;
        let kind = table.api.kind;
        let matched = match table.find(&req.method, &located.path) {
            Ok(m) => m,
            Err(NoMatch::MissingAuthenticationToken | NoMatch::NotFound) => {
                return no_route(kind);
            }
        };
        let (backend, payload, timeout) = match &**matched.integration {
            Integration::Mock { status, headers } => {
                return Reply {
                    status: *status,
                    headers: headers.clone(),
                    body: Bytes::new(),
                };
            }
            Integration::Unsupported { kind: what } => {
                tracing::warn!(api = %table.api.logical_id, integration = %what, "integration type not served");
                return GatewayError::InvokeFailed.reply(kind);
            }
            Integration::Lambda {
                backend,
                payload,
                timeout,
            } => match backend {
                Ok(b) => (b, *payload, *timeout),
                Err(e) => {
                    tracing::warn!(api = %table.api.logical_id, error = %e, "Execution failed due to configuration error");
                    return GatewayError::InvokeFailed.reply(kind);
                }
            },
        };

        let now = (self.config.clock)();
        let mut headers = req.headers.clone();
        add_forwarding_headers(&mut headers, req);
        let trace = headers
            .iter()
            .find(|(k, _)| k == "x-amzn-trace-id")
            .map(|(_, v)| v.clone());
        let source_ip = req.peer.ip().to_string();
        let data = RequestData {
            method: &req.method,
            path: &located.path,
            stage_path: &located.stage_path,
            query: req.query.as_deref(),
            headers: &headers,
            body: &req.body,
            source_ip: &source_ip,
            domain_name: &req.host,
            protocol: req.protocol,
            request_id,
            extended_request_id: extended_id,
            time_epoch_ms: now,
        };
        let route = RouteData {
            api: &table.api,
            stage: &table.stage,
            resource: matched.resource,
            route_key: &matched.route_key,
            path_params: &matched.path_params,
        };
        let event = match payload {
            PayloadVersion::V1 => event::v1(&data, &route),
            PayloadVersion::V2 => event::v2(&data, &route),
        };
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut rng =
            fastrand::Rng::with_seed(self.config.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let version = backend.routing.pick(&mut rng).clone();
        let mut invoke = InvokeRequest::new(backend.function.clone(), version, Bytes::from(event));
        invoke.qualifier = backend.qualifier.clone();
        invoke.location = backend.location.clone();
        invoke.trace_id = trace;
        let result = tokio::time::timeout(timeout, self.invoker.invoke(invoke)).await;
        let response = match result {
            Err(_) => {
                tracing::warn!(function = %backend.function, "integration timed out after {timeout:?}");
                return GatewayError::Timeout.reply(kind);
            }
            Ok(Err(e)) => {
                tracing::warn!(function = %backend.function, error = %e, "Lambda invocation failed");
                return GatewayError::InvokeFailed.reply(kind);
            }
            Ok(Ok(r)) => r,
        };
        if let Some(fe) = response.function_error {
            tracing::warn!(function = %backend.function, error = %fe, "Lambda function error");
            return GatewayError::BadIntegrationResponse.reply(kind);
        }
        let accept = req
            .headers
            .iter()
            .find(|(k, _)| k == "accept")
            .map(|(_, v)| v.as_str());
        match map_proxy_response(
            kind,
            payload,
            &response.payload,
            BinaryContext {
                binary_media_types: &table.api.binary_media_types,
                accept,
            },
        ) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(function = %backend.function, "{e}");
                GatewayError::BadIntegrationResponse.reply(kind)
            }
        }
    }
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// API Gateway's own answer to a CORS preflight on an HTTP API: 204 with the configuration.
fn preflight(cors: &Cors, origin: &str) -> Reply {
    let mut headers = Vec::new();
    if let Some(allow) = cors.allow_origin(origin) {
        headers.push(("access-control-allow-origin".to_owned(), allow));
        if cors.allow_credentials {
            headers.push((
                "access-control-allow-credentials".to_owned(),
                "true".to_owned(),
            ));
        }
        if !cors.allow_methods.is_empty() {
            headers.push((
                "access-control-allow-methods".to_owned(),
                cors.allow_methods.join(","),
            ));
        }
        if !cors.allow_headers.is_empty() {
            headers.push((
                "access-control-allow-headers".to_owned(),
                cors.allow_headers.join(","),
            ));
        }
        if let Some(age) = cors.max_age {
            headers.push(("access-control-max-age".to_owned(), age.to_string()));
        }
    }
    Reply {
        status: 204,
        headers,
        body: Bytes::new(),
    }
}

fn no_route(kind: ApiKind) -> Reply {
    match kind {
        ApiKind::Rest => GatewayError::MissingAuthenticationToken.reply(kind),
        ApiKind::Http => GatewayError::NotFound.reply(kind),
    }
}

/// `X-Forwarded-For` (the peer appended), `X-Forwarded-Port`, `X-Forwarded-Proto` and an
/// `X-Amzn-Trace-Id`, as API Gateway adds them.
fn add_forwarding_headers(headers: &mut Vec<(String, String)>, req: &IncomingRequest) {
    let ip = req.peer.ip().to_string();
    match headers.iter_mut().find(|(k, _)| k == "x-forwarded-for") {
        Some((_, v)) => {
            v.push_str(", ");
            v.push_str(&ip);
        }
        None => headers.push(("x-forwarded-for".to_owned(), ip)),
    }
    headers.retain(|(k, _)| k != "x-forwarded-port" && k != "x-forwarded-proto");
    headers.push(("x-forwarded-port".to_owned(), req.local_port.to_string()));
    headers.push(("x-forwarded-proto".to_owned(), "http".to_owned()));
    if !headers.iter().any(|(k, _)| k == "x-amzn-trace-id") {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        headers.push((
            "x-amzn-trace-id".to_owned(),
            format!(
                "Root=1-{secs:08x}-{:012x}{:012x}",
                fastrand::u64(..) & 0xFFFF_FFFF_FFFF,
                fastrand::u64(..) & 0xFFFF_FFFF_FFFF
            ),
        ));
    }
}

/// API Gateway's `extendedRequestId` form: 14 characters and `=`.
fn extended_request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s: String = (0..14)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    s.push('=');
    s
}

/// Where one stage of one API can be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageUrl {
    pub logical_id: String,
    pub api_id: String,
    pub stage: String,
    /// `http://{apiId}.execute-api.localhost:{port}/{stage}/`
    pub host_url: String,
    /// `http://{addr}/_api/{apiId}/{stage}/`
    pub path_url: String,
    /// `http://{addr}/` when this stage is served at the root.
    pub root_url: Option<String>,
}

/// The invoke URLs of every API and stage of a snapshot served at `addr`.
pub fn stage_urls(snapshot: &Snapshot, addr: SocketAddr, root: bool) -> Vec<StageUrl> {
    let mut out = Vec::new();
    let single = root && snapshot.apis.len() == 1;
    for api in &snapshot.apis {
        for stage in api.stages.keys() {
            let segment = if api.info.kind == ApiKind::Http && stage == "$default" {
                String::new()
            } else {
                format!("{stage}/")
            };
            out.push(StageUrl {
                logical_id: api.info.logical_id.clone(),
                api_id: api.info.id.clone(),
                stage: stage.clone(),
                host_url: format!(
                    "http://{}.execute-api.localhost:{}/{segment}",
                    api.info.id,
                    addr.port()
                ),
                path_url: format!("http://{addr}{PATH_PREFIX}{}/{segment}", api.info.id),
                root_url: (single && api.primary_stage.as_deref() == Some(stage))
                    .then(|| format!("http://{addr}/")),
            });
        }
    }
    out
}

/// A running gateway server.
pub struct Server {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{addr} is not a loopback address: the gateway has no authentication, so it listens on \
         127.0.0.1 or ::1 unless non-loopback binding is explicitly allowed"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Server {
    /// Listens on `addr` (port 0 for an ephemeral port) and serves `gateway`.
    pub async fn bind(gateway: Arc<Gateway>, addr: SocketAddr) -> Result<Server, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, gateway.clone(), stopped));
        Ok(Server {
            addr,
            gateway,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Stops accepting, lets open connections finish their current request, and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    mut stopped: watch::Receiver<bool>,
) {
    let local_port = listener.local_addr().map_or(0, |a| a.port());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let gateway = gateway.clone();
                async move {
                    let incoming =
                        read_request(req, peer, local_port, gateway.config.max_body).await;
                    let reply = gateway.handle(incoming).await;
                    Ok::<_, std::convert::Infallible>(to_response(reply))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

async fn read_request(
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    local_port: u16,
    max_body: usize,
) -> IncomingRequest {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let declared_too_large = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > max_body);
    let (body, too_large) = if declared_too_large {
        (Bytes::new(), true)
    } else {
        match Limited::new(body, max_body).collect().await {
            Ok(c) => (c.to_bytes(), false),
            Err(_) => (Bytes::new(), true),
        }
    };
    IncomingRequest {
        method: parts.method.as_str().to_owned(),
        host,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
        too_large,
        peer,
        local_port,
        protocol: match parts.version {
            hyper::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
    }
}

fn to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(reply.body));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    let headers = resp.headers_mut();
    for (k, v) in reply.headers {
        // Framing is hyper's: a function's own Content-Length or Transfer-Encoding would
        // contradict the body actually sent.
        if ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            headers.append(name, value);
        }
    }
    resp
}

/// What `slipway serve` needs besides the template and the runtime.
#[derive(Clone)]
pub struct ServeOptions {
    /// `--host` and `-p` (127.0.0.1:3000).
    pub addr: SocketAddr,
    /// The template's directory: `CodeUri` paths are relative to it.
    pub project_dir: PathBuf,
    /// The `--env-vars` document (`Value::Null` when none).
    pub env_vars: serde_json::Value,
    pub gateway: GatewayConfig,
    /// Listen on a non-loopback `addr` although requests are not authenticated.
    pub allow_non_loopback: bool,
}

impl ServeOptions {
    pub fn new(project_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            project_dir: project_dir.into(),
            env_vars: serde_json::Value::Null,
            gateway: GatewayConfig::default(),
            allow_non_loopback: false,
        }
    }
}

/// A running `slipway serve`.
pub struct Serving {
    pub server: Server,
    pub runtime: Runtime,
    pub urls: Vec<StageUrl>,
    /// What is not served (functions, routes), each with its template path: print them.
    pub problems: Vec<String>,
    project_dir: PathBuf,
    env_vars: serde_json::Value,
}

impl Serving {
    /// A handle that serves a changed template or changed code without a restart.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            gateway: self.server.gateway().clone(),
            runtime: self.runtime.clone(),
            project_dir: self.project_dir.clone(),
            env_vars: self.env_vars.clone(),
        }
    }

    /// Stops the server, then every execution environment.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        self.runtime.shutdown();
    }
}

/// The entry point of `slipway serve`: registers the template's functions (`$LATEST`, code
/// from `CodeUri` directories) with `runtime`, builds the route tables, and listens.
pub async fn serve(
    template: &Template,
    runtime: Runtime,
    options: ServeOptions,
) -> Result<Serving, ServeError> {
    if !options.addr.ip().is_loopback() && !options.allow_non_loopback {
        return Err(ServeError::NotLoopback { addr: options.addr });
    }
    let (specs, function_problems) =
        local_functions(template, &options.project_dir, &options.env_vars);
    for spec in specs {
        runtime.register(spec);
    }
    let dir = Directory::local(template);
    let (snapshot, build_problems) = build(template, &dir);
    let mut problems: Vec<String> = function_problems.iter().map(ToString::to_string).collect();
    problems.extend(build_problems.iter().map(ToString::to_string));
    let root = options.gateway.root;
    let gateway = Arc::new(Gateway::new(
        snapshot,
        Arc::new(runtime.clone()),
        options.gateway.clone(),
    ));
    let server = Server::bind(gateway, options.addr).await?;
    let urls = stage_urls(&server.gateway().snapshot(), server.local_addr(), root);
    Ok(Serving {
        server,
        runtime,
        urls,
        problems,
        project_dir: options.project_dir,
        env_vars: options.env_vars,
    })
}
