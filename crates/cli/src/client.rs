//! The control API's client, and the session every server-backed verb runs in.
//!
//! One code path: a verb always talks HTTP to `/api/v1` (`slipway_server::api`). With an
//! endpoint (`--endpoint`, `SLIPWAY_ENDPOINT`) that is a running `slipway server`; without one,
//! [`Session::open`] starts a [`slipway_server::Server`] in this process on `127.0.0.1:0` over
//! the project's data directory (its clock scaled by `--time-scale`), and [`Session::close`]
//! shuts it down (every execution environment stopped). Either way the verb gets a [`Client`].
//!
//! ```text
//! let session = Session::open(&connect).await?;   // remote, or embedded on port 0
//! let stacks = session.client.list_stacks(&target).await?;
//! session.close().await;
//! ```
//!
//! [`Client`] is cheap to clone (a deploy executes a change set on one task while it polls
//! events on another). Each request is one HTTP/1.1 connection (`hyper::client::conn`), which
//! is all a loopback control API needs; no TLS. The synchronous pipeline verbs use the same
//! client through [`Client::blocking_raw`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use slipway_server::api::types::{
    ActionInput, ChangeSet, DeployInput, DeployOutput, Deployment, DeploymentAction,
    DeploymentList, ErrorBody, EventList, Operation, RollbackOutput, Stack, StackList,
};
use slipway_server::{Config, Server, ServerHandle};

/// How long one request may take (a deploy's execute answers once its resource steps are done).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("the endpoint {endpoint:?} is not an http://HOST:PORT URL")]
    BadEndpoint { endpoint: String },
    #[error("cannot reach the Slipway server at {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the request {method} {path} to {endpoint} failed")]
    Http {
        endpoint: String,
        method: Method,
        path: String,
        #[source]
        source: hyper::Error,
    },
    #[error("the request {method} {path} took longer than {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout { method: Method, path: String },
    /// The API answered with an error body.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        diagnostics: Vec<serde_json::Value>,
    },
    #[error("unexpected answer to {method} {path} (HTTP {status}): {body}")]
    Decode {
        method: Method,
        path: String,
        status: u16,
        body: String,
    },
    #[error("cannot start the embedded server")]
    Embedded(#[source] slipway_server::ServerError),
    #[error(transparent)]
    Scale(slipway_engine::clock::ClockError),
}

impl ClientError {
    /// The API's error code (`NotFound`, `NoChanges`, …), when the server answered with one.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A target as the API addresses it: `ACCOUNT/REGION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TargetName {
    pub(crate) account: String,
    pub(crate) region: String,
}

impl TargetName {
    fn path(&self) -> String {
        format!(
            "/api/v1/targets/{}/{}",
            seg(&self.account),
            seg(&self.region)
        )
    }
}

impl std::fmt::Display for TargetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The control API at one endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    /// `http://HOST:PORT`, as given.
    endpoint: String,
    /// `HOST:PORT`.
    authority: String,
    token: Option<Arc<str>>,
}

impl Client {
    pub(crate) fn new(endpoint: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let bad = || ClientError::BadEndpoint {
            endpoint: endpoint.to_owned(),
        };
        let rest = endpoint.strip_prefix("http://").ok_or_else(bad)?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad());
        }
        Ok(Client {
            endpoint: format!("http://{authority}"),
            authority: authority.to_owned(),
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let fut = self.send(method.clone(), path, body);
        let (status, bytes) =
            tokio::time::timeout(REQUEST_TIMEOUT, fut)
                .await
                .map_err(|_| ClientError::Timeout {
                    method: method.clone(),
                    path: path.to_owned(),
                })??;
        let decode_error = || ClientError::Decode {
            method: method.clone(),
            path: path.to_owned(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        };
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| decode_error());
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                code: e.error.code,
                message: e.error.message,
                diagnostics: e.error.diagnostics,
            }),
            Err(_) => Err(decode_error()),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|source| ClientError::Connect {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        let http = |source| ClientError::Http {
            endpoint: self.endpoint.clone(),
            method: method.clone(),
            path: path.to_owned(),
            source,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let driver = tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(t) = &self.token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Decode {
                method: method.clone(),
                path: path.to_owned(),
                status: 0,
                body: e.to_string(),
            })?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(http)?.to_bytes();
        driver.abort();
        Ok((status, bytes))
    }

    /// A request whose answer is read as JSON whatever its status (`Null` when it is not
    /// JSON): for the pipelines API, whose errors are `{"code","message"}`.
    pub(crate) async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(u16, serde_json::Value), ClientError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let fut = self.send(method.clone(), path, body);
        let (status, bytes) =
            tokio::time::timeout(timeout, fut)
                .await
                .map_err(|_| ClientError::Timeout {
                    method,
                    path: path.to_owned(),
                })??;
        let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status.as_u16(), v))
    }

    /// [`Client::raw`] from synchronous code (the pipeline verbs), on a runtime of its own.
    pub(crate) fn blocking_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(u16, serde_json::Value), ClientError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ClientError::Connect {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        rt.block_on(self.raw(method, path, body, timeout))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.call(Method::POST, path, Some(bytes)).await
    }

    pub(crate) async fn list_stacks(&self, t: &TargetName) -> Result<StackList, ClientError> {
        self.get(&format!("{}/stacks", t.path())).await
    }

    pub(crate) async fn stack(&self, t: &TargetName, stack: &str) -> Result<Stack, ClientError> {
        self.get(&format!("{}/stacks/{}", t.path(), seg(stack)))
            .await
    }

    /// Events from index `since` on.
    pub(crate) async fn events(
        &self,
        t: &TargetName,
        stack: &str,
        since: usize,
    ) -> Result<EventList, ClientError> {
        self.get(&format!(
            "{}/stacks/{}/events?since={since}",
            t.path(),
            seg(stack)
        ))
        .await
    }

    pub(crate) async fn delete_stack(
        &self,
        t: &TargetName,
        stack: &str,
    ) -> Result<Operation, ClientError> {
        self.call(
            Method::DELETE,
            &format!("{}/stacks/{}", t.path(), seg(stack)),
            None,
        )
        .await
    }

    pub(crate) async fn deploy(
        &self,
        t: &TargetName,
        stack: &str,
        input: &DeployInput,
    ) -> Result<DeployOutput, ClientError> {
        self.post(&format!("{}/stacks/{}/deploy", t.path(), seg(stack)), input)
            .await
    }

    #[allow(
        dead_code,
        reason = "part of the client's API for `slipway up`; no verb reads one yet"
    )]
    pub(crate) async fn change_set(
        &self,
        t: &TargetName,
        stack: &str,
        name: &str,
    ) -> Result<ChangeSet, ClientError> {
        self.get(&format!(
            "{}/stacks/{}/change-sets/{}",
            t.path(),
            seg(stack),
            seg(name)
        ))
        .await
    }

    pub(crate) async fn execute_change_set(
        &self,
        t: &TargetName,
        stack: &str,
        name: &str,
    ) -> Result<Operation, ClientError> {
        self.post(
            &format!(
                "{}/stacks/{}/change-sets/{}/execute",
                t.path(),
                seg(stack),
                seg(name)
            ),
            &serde_json::json!({}),
        )
        .await
    }

    pub(crate) async fn deployments(
        &self,
        t: &TargetName,
        function: Option<&str>,
    ) -> Result<DeploymentList, ClientError> {
        let q = function.map_or_else(String::new, |f| format!("?function={}", seg(f)));
        self.get(&format!("{}/deployments{q}", t.path())).await
    }

    #[allow(
        dead_code,
        reason = "part of the client's API for `slipway up`; no verb reads one yet"
    )]
    pub(crate) async fn deployment(&self, id: &str) -> Result<Deployment, ClientError> {
        self.get(&format!("/api/v1/deployments/{}", seg(id))).await
    }

    pub(crate) async fn deployment_action(
        &self,
        id: &str,
        action: DeploymentAction,
    ) -> Result<Deployment, ClientError> {
        self.post(
            &format!("/api/v1/deployments/{}/actions", seg(id)),
            &ActionInput { action },
        )
        .await
    }

    pub(crate) async fn rollback(
        &self,
        t: &TargetName,
        function: &str,
        alias: &str,
    ) -> Result<RollbackOutput, ClientError> {
        self.post(
            &format!(
                "{}/functions/{}/aliases/{}/rollback",
                t.path(),
                seg(function),
                seg(alias)
            ),
            &serde_json::json!({}),
        )
        .await
    }
}

/// How a verb reaches a server (resolved by `settings`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConnectSettings {
    /// A running server; `None`: embedded.
    pub(crate) endpoint: Option<String>,
    pub(crate) token: Option<String>,
    /// For an embedded server: the data directory (absolute).
    pub(crate) data_dir: PathBuf,
    /// For an embedded server: its clock runs this many times faster.
    pub(crate) time_scale: Option<f64>,
    /// For an embedded server: the interpreter for `pythonX.Y` functions without `pythonX.Y`
    /// on `PATH`.
    pub(crate) python: Option<PathBuf>,
}

/// Where the verb's requests go, and the embedded server to stop afterwards.
pub(crate) struct Session {
    pub(crate) client: Client,
    embedded: Option<ServerHandle>,
    /// The data directory whose running server this session found (no endpoint was given).
    discovered: Option<PathBuf>,
    data_dir: PathBuf,
}

impl Session {
    /// Connects to the endpoint; without one, to the server already running over the data
    /// directory (its [`SERVER_FILE`]), else starts an embedded server (call inside a
    /// multi-thread tokio runtime).
    pub(crate) async fn open(c: &ConnectSettings) -> Result<Session, ClientError> {
        if let Some(e) = &c.endpoint {
            return Ok(Session {
                client: Client::new(e, c.token.as_deref())?,
                embedded: None,
                discovered: None,
                data_dir: c.data_dir.clone(),
            });
        }
        if let Some(e) = discover(&c.data_dir).await {
            return Ok(Session {
                client: Client::new(&e, c.token.as_deref())?,
                embedded: None,
                discovered: Some(c.data_dir.clone()),
                data_dir: c.data_dir.clone(),
            });
        }
        let handle = Server::new(embedded_config(c)?)
            .start()
            .await
            .map_err(ClientError::Embedded)?;
        announce(&c.data_dir, &handle.endpoint_url());
        Ok(Session {
            client: Client::new(&handle.endpoint_url(), None)?,
            embedded: Some(handle),
            discovered: None,
            data_dir: c.data_dir.clone(),
        })
    }

    /// What the session talks to, for a header line.
    pub(crate) fn describe(&self) -> String {
        match (&self.embedded, &self.discovered) {
            (Some(_), _) => format!("embedded server over {}", self.data_dir.display()),
            (None, Some(d)) => format!(
                "the server running over {} at {}",
                d.display(),
                self.client.endpoint()
            ),
            (None, None) => self.client.endpoint().to_owned(),
        }
    }

    /// Shuts the embedded server down (nothing for a remote one).
    pub(crate) async fn close(self) {
        if let Some(h) = self.embedded {
            withdraw(&self.data_dir);
            if let Err(e) = h.shutdown().await {
                warn_shutdown(&e);
            }
        }
    }
}

/// `<data dir>/server.json`: the server running over that data directory, `{"endpoint",
/// "pid"}`, written by `slipway server` and by an embedded server while it runs, removed when
/// it stops. A verb without an endpoint uses that server instead of starting a second engine
/// over the same state (two drivers of one deployment). A file left by a killed server is
/// ignored: nothing answers at its endpoint.
pub(crate) const SERVER_FILE: &str = "server.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct ServerFile {
    endpoint: String,
    pid: u32,
}

/// Records that this process serves `data_dir` at `endpoint` (best effort: a read-only data
/// directory only loses the discovery).
pub(crate) fn announce(data_dir: &std::path::Path, endpoint: &str) {
    let f = ServerFile {
        endpoint: endpoint.to_owned(),
        pid: std::process::id(),
    };
    let _ = std::fs::write(
        data_dir.join(SERVER_FILE),
        serde_json::to_vec(&f).unwrap_or_default(),
    );
}

/// Removes the record if it is still this process's.
pub(crate) fn withdraw(data_dir: &std::path::Path) {
    let path = data_dir.join(SERVER_FILE);
    let ours = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<ServerFile>(&b).ok())
        .is_some_and(|f| f.pid == std::process::id());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// The endpoint of a server running over `data_dir` that accepts connections.
async fn discover(data_dir: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(data_dir.join(SERVER_FILE)).ok()?;
    let f: ServerFile = serde_json::from_slice(&bytes).ok()?;
    let authority = f.endpoint.strip_prefix("http://")?.to_owned();
    let connect = tokio::net::TcpStream::connect(authority);
    match tokio::time::timeout(Duration::from_millis(500), connect).await {
        Ok(Ok(_)) => Some(f.endpoint),
        _ => None,
    }
}

/// A shutdown problem of the embedded server is not the verb's failure; say it on stderr.
#[allow(
    clippy::print_stderr,
    reason = "a last word after the verb's own output"
)]
fn warn_shutdown(e: &slipway_server::ServerError) {
    eprintln!("warning: the embedded server did not stop cleanly: {e}");
}

/// The [`Config`] of a server over `c.data_dir` on `bind` (`slipway server` and embedded).
pub(crate) fn server_config(
    c: &ConnectSettings,
    bind: std::net::SocketAddr,
) -> Result<Config, ClientError> {
    let mut config = Config::new(&c.data_dir);
    config.bind = bind;
    config.token = c.token.clone().filter(|t| !t.is_empty());
    if let Some(python) = &c.python {
        config.python = slipway_runtime::PythonConfig {
            fallback: python.clone(),
            ..slipway_runtime::PythonConfig::default()
        };
    }
    if let Some(scale) = c.time_scale {
        // Carries on from the clock a previous scaled run kept in the data directory, so a
        // restart waits what is left of a wait (`ScaledClock::resume_in`).
        let clock = slipway_engine::ScaledClock::resume_in(
            &c.data_dir,
            scale,
            Arc::new(slipway_engine::MonotonicWall::new()),
        )
        .map_err(ClientError::Scale)?;
        config.clock = Arc::new(clock);
        // Ticks as often in server time as without a scale (1 s), within real-time bounds.
        let every = Duration::from_secs(1).div_f64(scale);
        config.tick_interval = every.clamp(Duration::from_millis(10), Duration::from_secs(1));
    }
    Ok(config)
}

fn embedded_config(c: &ConnectSettings) -> Result<Config, ClientError> {
    let mut c = c.clone();
    // The embedded server is ours alone: loopback, no token.
    c.token = None;
    server_config(&c, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
}
