//! Slipway's composition root: one long-lived process holding the state store, the deploy
//! engine, the function runtime and the AWS-compatible endpoints, wired together.
//!
//! # What runs
//!
//! [`Server::start`] opens `<data_dir>/state.db` (SQLite), the artefact store
//! (`<data_dir>/artefacts`), binds the control-plane port (loopback by default; any other
//! address requires a token), builds a [`slipway_runtime::Runtime`] whose functions get
//! `AWS_ENDPOINT_URL` pointing at this server and dummy credentials, and an
//! [`slipway_engine::Engine`] whose [`Hooks`](slipway_engine::Hooks) register every function
//! version with that runtime and tell a [`RouteSink`] (the gateway) about APIs and aliases.
//! It then re-registers what the store already holds, calls [`Engine::resume`] for operations a
//! crash interrupted, and starts two tasks: the HTTP server and a ticker that calls
//! [`Engine::tick`] on a blocking thread every [`Config::tick_interval`], after sampling the
//! runtime's counters into the `AWS/Lambda` metrics alarms are evaluated on (`metrics.rs`).
//!
//! # Endpoints
//!
//! Slipway's own control API under `/api/v1` ([`api`]); Lambda, CodeDeploy, CloudFormation and
//! S3 on the same port, routed as `wire.rs` explains; handlers
//! live in one module per service and stay thin: parse the wire type, call the engine or the
//! store, write the wire type. SNS (`sns.rs`) and SQS (`sqs.rs`) too, with event delivery
//! (`events.rs`: S3 notifications, schedules and SQS pollers run from the ticker).
//! `GET /metrics` on the same port is Prometheus' text format (`prom.rs`).
//!
//! # Data plane
//!
//! With [`Config::gateway`], the deployed stacks' APIs are served on that address by a
//! [`slipway_gateway::Gateway`] whose route tables are rebuilt from the store after every change
//! the engine reports (`routes.rs`).
//!
//! # Shutdown
//!
//! [`ServerHandle::shutdown`] stops accepting, stops the ticker, waits for it, cancels the
//! running pipeline actions (their outcome is not recorded: they run again on the next start),
//! and stops every execution environment (each a process group, killed) so no child outlives
//! the server.
//! [`run`] does that on Ctrl-C or SIGTERM.

//!
//! # For the CLI
//!
//! `slipway server [--data-dir DIR] [--port 8040] [--gateway-port 3000]` builds a [`Config`]
//! (data dir, `bind` on 127.0.0.1 with the port, `gateway` on 127.0.0.1 with
//! [`DEFAULT_GATEWAY_PORT`], `token` when binding elsewhere) and starts it on a multi-thread
//! tokio runtime until Ctrl-C/SIGTERM. Every other server-backed verb talks HTTP to the control
//! API ([`api`], `/api/v1`): to `--endpoint`, or to a server it starts itself on port 0 over
//! the project's data dir (`gateway` stays `None`: nothing serves once it exits) and shuts down
//! afterwards.
//!
//! ```text
//! let mut config = slipway_server::Config::new(data_dir);
//! config.bind = SocketAddr::from(([127, 0, 0, 1], port));
//! slipway_server::run(config).await?;
//! ```

pub mod api;
mod api_pipelines;
mod approvals;
/// The pipeline routes of the control API (`/api/v1/pipelines…`).
pub use api_pipelines::ROUTES as PIPELINE_ROUTES;
mod cloudformation;
mod codedeploy;
mod codepipeline;
mod console;
mod events;
mod invoke_action;
mod lambda;
mod metrics;
mod pipeline_import;
mod pipelines;
mod prom;
mod routes;
mod s3;
mod s3_multipart;
mod sigv4;
mod sns;
mod sqs;
mod wire;
mod wiring;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;
use slipway_engine::{Clock, Engine, EngineParts, SystemClock};
use slipway_runtime::{PythonConfig, Runtime, RuntimeConfig};
use slipway_store::state::StateStore;
use slipway_store::state::sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api_pipelines::{X_GITHUB_EVENT, X_HUB_SIGNATURE_256};
pub use pipeline_import::{
    ImportAction, ImportError, ImportReport, ImportRequest, ImportedPipeline,
};
pub use pipelines::{PipelineConfig, Pipelines};
pub use wiring::{NoRoutes, RouteSink, ServerHooks};

use wire::{AwsError, HttpResponse, Service};

/// Default control-plane port (`DESIGN.md`: "control plane, AWS-compatible endpoints and
/// console 8040").
pub const DEFAULT_PORT: u16 = 8040;
/// Default gateway port (the CLI's `--gateway-port`), as `sam local start-api`'s.
pub const DEFAULT_GATEWAY_PORT: u16 = 3000;
/// The target requests without an ARN land in, unless configured: the CLI's default account
/// with the request's region.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The credentials functions get without a token (and that any client may sign with on
/// loopback; a signature with another key or a wrong secret is refused).
pub const DUMMY_ACCESS_KEY_ID: &str = "test";
pub const DUMMY_SECRET_ACCESS_KEY: &str = "test";

/// Everything [`Server::start`] needs; [`Config::new`] gives the defaults.
#[derive(Clone)]
pub struct Config {
    /// `.slipway/` of the project by default: state, artefacts, buckets, runtime files.
    pub data_dir: PathBuf,
    /// `127.0.0.1:8040` by default; port 0 picks a free one (tests).
    pub bind: SocketAddr,
    /// Required when `bind` is not a loopback address; then every request must carry it as
    /// `Authorization: Bearer TOKEN`, or be SigV4-signed with the token as both the access key
    /// ID and the secret (what functions then get). Signatures are verified either way
    /// (`sigv4.rs`).
    pub token: Option<String>,
    /// The engine's clock ([`SystemClock`] by default; a `ManualClock` in tests and rehearsals).
    pub clock: Arc<dyn Clock>,
    /// How often [`Engine::tick`] runs.
    pub tick_interval: Duration,
    /// The account of the target that requests without an ARN address (region from the
    /// request's SigV4 scope, else [`Config::default_region`]).
    pub default_account: String,
    pub default_region: String,
    /// Interpreters for `python3.x` functions, and `runtime_paths` where a cached `boto3` lives.
    pub python: PythonConfig,
    /// Who else hears about API routes, aliases and functions (the server's own gateway
    /// always does); nobody by default.
    pub routes: Arc<dyn RouteSink>,
    /// Where the gateway serves the deployed stacks' APIs (`routes.rs`): `None` (the default)
    /// serves none; the CLI gives `127.0.0.1:`[`DEFAULT_GATEWAY_PORT`]; port 0 picks a free
    /// one. A non-loopback address requires [`Config::token`] too (the APIs themselves are
    /// not authenticated, as API Gateway's are not without an authorizer).
    pub gateway: Option<SocketAddr>,
    /// Seed of the gateway's weighted-alias picks (random when `None`).
    pub gateway_seed: Option<u64>,
    /// Pipelines: where sources are, polling, the webhook secret (`pipelines.rs`).
    pub pipelines: PipelineConfig,
    /// AWS targets whose stacks the console shows beside the local ones (name, target); the
    /// CLI gives those of `.slipway/targets.toml`. None by default.
    #[cfg(feature = "aws")]
    pub aws_targets: Vec<(String, slipway_aws::Target)>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            token: None,
            clock: Arc::new(SystemClock),
            tick_interval: Duration::from_secs(1),
            default_account: DEFAULT_ACCOUNT.to_owned(),
            default_region: "us-east-1".to_owned(),
            python: PythonConfig::default(),
            routes: Arc::new(NoRoutes),
            gateway: None,
            gateway_seed: None,
            pipelines: PipelineConfig::default(),
            #[cfg(feature = "aws")]
            aws_targets: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to listen on {addr} without a token: a non-loopback address requires one (--token or SLIPWAY_TOKEN)"
    )]
    TokenRequired { addr: SocketAddr },
    #[error(
        "refusing to serve the gateway on {addr} without a token: a non-loopback address requires one (--token or SLIPWAY_TOKEN)"
    )]
    GatewayTokenRequired { addr: SocketAddr },
    #[error("cannot start the gateway")]
    Gateway(#[source] slipway_gateway::ServeError),
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the state store {}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: slipway_store::state::StateError,
    },
    #[error("cannot open the artefact store under {}", path.display())]
    Artefacts {
        path: PathBuf,
        #[source]
        source: slipway_store::Error,
    },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the function runtime")]
    Runtime(#[source] slipway_runtime::RuntimeError),
    #[error("cannot resume the interrupted operations")]
    Resume(#[source] slipway_engine::EngineError),
    #[error("cannot resume the interrupted pipeline executions")]
    Pipelines(#[source] slipway_pipeline::exec::ExecError),
    #[error("a background task failed")]
    Join(#[source] tokio::task::JoinError),
}

/// The builder: `Server::new(config).start().await`.
pub struct Server {
    config: Config,
}

/// What the handlers share.
pub(crate) struct App {
    /// The gateway's bound address, once it listens (the control API prints invoke URLs).
    pub(crate) gateway_addr: std::sync::OnceLock<SocketAddr>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) store: Arc<dyn StateStore>,
    pub(crate) runtime: Runtime,
    pub(crate) artefacts: slipway_store::Store,
    pub(crate) hooks: Arc<ServerHooks>,
    pub(crate) data_dir: PathBuf,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) default_account: String,
    pub(crate) default_region: String,
    token: Option<String>,
    /// One driver of the engine at a time: a deploy, a tick and a hook's answer each move
    /// deployments, and the engine expects to be the only one moving a given deployment (a tick
    /// racing a deploy would both try to start the deployment the deploy just committed).
    drive: std::sync::Mutex<()>,
    metrics: Arc<metrics::RuntimeMetrics>,
    /// The gateway and its route-table rebuilds, when [`Config::gateway`] is set.
    data_plane: Option<Arc<routes::DataPlane>>,
    /// What functions and builds reach this server at (`AWS_ENDPOINT_URL`).
    endpoint: SocketAddr,
    /// Set once at start (the runners hold a weak reference back to the `App`).
    pub(crate) pipelines: std::sync::OnceLock<pipelines::Pipelines>,
    /// Becomes `true` at shutdown (the console's held event streams end on it).
    pub(crate) stopped: watch::Receiver<bool>,
    /// The console's view of AWS targets' stacks.
    #[cfg(feature = "aws")]
    pub(crate) aws_stacks: console::aws::AwsStacks,
    /// The console's "last deployed by" answers, until a pipeline changes.
    pub(crate) deployed_by: console::DeployedBy,
}

impl App {
    /// The access key ID and secret that sign for this server (what functions and builds
    /// get): see [`App::secret_of`].
    pub(crate) fn credentials(&self) -> (String, String) {
        match &self.token {
            Some(t) => (t.clone(), t.clone()),
            None => (
                DUMMY_ACCESS_KEY_ID.to_owned(),
                DUMMY_SECRET_ACCESS_KEY.to_owned(),
            ),
        }
    }

    /// The SigV4 secret of an access key ID. Without a token: the pair functions get
    /// (`test`/`test`), which any client on loopback may use. With a token: the token is the
    /// access key ID and the secret alike (what functions get then), so a signature proves the
    /// request came from a token holder and was not altered; the access key ID travels in the
    /// clear, as an Authorization header's `Credential=` always does, so the token is no more
    /// secret than before on an untrusted network (use TLS in front). Any other access key ID
    /// is refused, as AWS refuses an unknown one.
    pub(crate) fn secret_of(&self, access_key_id: &str) -> Option<String> {
        match self.token.as_deref() {
            Some(t) => (access_key_id == t).then(|| t.to_owned()),
            None => {
                (access_key_id == DUMMY_ACCESS_KEY_ID).then(|| DUMMY_SECRET_ACCESS_KEY.to_owned())
            }
        }
    }

    /// Runs `f` as the engine's only driver (blocking: call from a blocking thread).
    pub(crate) fn drive<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        let _one = self.drive.lock().unwrap_or_else(|e| e.into_inner());
        f(&self.engine)
    }

    /// One tick: what ran since the last tick becomes samples for the alarms this tick
    /// evaluates, then [`Engine::tick`] as the only driver (blocking).
    fn tick(&self) -> Result<(), slipway_engine::EngineError> {
        self.metrics
            .sample(&self.hooks.registered_versions(), self.clock.now_ms());
        self.drive(Engine::tick)
    }

    pub(crate) fn endpoint_addr(&self) -> SocketAddr {
        self.endpoint
    }

    /// The target of a pipeline action (see [`ServerHandle::target_of`]).
    pub(crate) fn target_of(&self, target: Option<&str>, region: Option<&str>) -> String {
        match target {
            Some(t) if t.contains('/') => t.to_owned(),
            _ => self.target(region),
        }
    }

    /// `ACCOUNT/REGION` of a request: the default account, the request's region.
    pub(crate) fn target(&self, region: Option<&str>) -> String {
        format!(
            "{}/{}",
            self.default_account,
            region.unwrap_or(&self.default_region)
        )
    }
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    gateway: Option<slipway_gateway::Server>,
}

impl Server {
    pub fn new(config: Config) -> Server {
        Server { config }
    }

    /// Opens the stores, binds, wires runtime and engine, resumes, and starts serving.
    pub async fn start(self) -> Result<ServerHandle, ServerError> {
        let c = self.config;
        if !c.bind.ip().is_loopback() && c.token.as_deref().is_none_or(str::is_empty) {
            return Err(ServerError::TokenRequired { addr: c.bind });
        }
        if let Some(g) = c.gateway
            && !g.ip().is_loopback()
            && c.token.as_deref().is_none_or(str::is_empty)
        {
            return Err(ServerError::GatewayTokenRequired { addr: g });
        }
        std::fs::create_dir_all(&c.data_dir).map_err(|source| ServerError::DataDir {
            path: c.data_dir.clone(),
            source,
        })?;
        let db = c.data_dir.join("state.db");
        let store: Arc<dyn StateStore> =
            Arc::new(SqliteStore::open(&db).map_err(|source| ServerError::State {
                path: db.clone(),
                source,
            })?);
        let art_dir = c.data_dir.join("artefacts");
        let artefacts =
            slipway_store::Store::open(&art_dir).map_err(|source| ServerError::Artefacts {
                path: art_dir.clone(),
                source,
            })?;
        let listener = TcpListener::bind(c.bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: c.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: c.bind,
            source,
        })?;

        let mut rc = RuntimeConfig::new(c.data_dir.join("runtime"));
        rc.python = c.python.clone();
        let endpoint_host = if addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            addr.ip()
        };
        // With a token, the token is both the access key ID and the secret (see
        // `App::secret_of`); without, the dummy pair.
        let (access_key, secret_key) = match &c.token {
            Some(t) => (t.clone(), t.clone()),
            None => (
                DUMMY_ACCESS_KEY_ID.to_owned(),
                DUMMY_SECRET_ACCESS_KEY.to_owned(),
            ),
        };
        rc.extra_env = [
            (
                "AWS_ENDPOINT_URL",
                format!("http://{}", SocketAddr::new(endpoint_host, addr.port())),
            ),
            ("AWS_ACCESS_KEY_ID", access_key),
            ("AWS_SECRET_ACCESS_KEY", secret_key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let runtime = Runtime::new(rc).map_err(ServerError::Runtime)?;
        let data_plane = c.gateway.map(|_| {
            Arc::new(routes::DataPlane::new(
                store.clone(),
                runtime.clone(),
                c.gateway_seed,
            ))
        });
        let sinks: Arc<dyn RouteSink> = match &data_plane {
            Some(dp) => Arc::new(routes::Both(dp.clone(), c.routes.clone())),
            None => c.routes.clone(),
        };
        let hooks = Arc::new(ServerHooks::new(runtime.clone(), sinks));
        let metrics = Arc::new(metrics::RuntimeMetrics::new(runtime.clone()));
        let (stop, stopped) = watch::channel(false);
        let engine = Arc::new(Engine::new(EngineParts {
            store: store.clone(),
            clock: c.clock.clone(),
            data_dir: c.data_dir.clone(),
            hooks: hooks.clone(),
            invoker: Arc::new(runtime.clone()),
            metrics: metrics.clone(),
        }));
        let app = Arc::new(App {
            engine: engine.clone(),
            store: store.clone(),
            runtime: runtime.clone(),
            artefacts,
            hooks: hooks.clone(),
            data_dir: c.data_dir.clone(),
            clock: c.clock.clone(),
            default_account: c.default_account.clone(),
            default_region: c.default_region.clone(),
            token: c.token.clone(),
            drive: std::sync::Mutex::new(()),
            metrics,
            data_plane: data_plane.clone(),
            gateway_addr: std::sync::OnceLock::new(),
            endpoint: SocketAddr::new(endpoint_host, addr.port()),
            pipelines: std::sync::OnceLock::new(),
            stopped: stopped.clone(),
            #[cfg(feature = "aws")]
            aws_stacks: console::aws::AwsStacks::new(c.aws_targets.clone()),
            deployed_by: console::DeployedBy::default(),
        });
        let p = pipelines::build(&app, &c.pipelines, tokio::runtime::Handle::current()).map_err(
            |source| ServerError::Artefacts {
                path: art_dir.clone(),
                source,
            },
        )?;
        let _ = app.pipelines.set(p);

        // What the store already holds runs again; interrupted operations carry on.
        let data_dir = c.data_dir.clone();
        let reg = hooks.clone();
        let a = app.clone();
        tokio::task::spawn_blocking(move || {
            wiring::register_stored(store.as_ref(), &data_dir, &reg);
            a.drive(|e| e.resume()).map(|_| ())?;
            if let Some(dp) = &a.data_plane {
                dp.rebuild();
            }
            Ok::<(), slipway_engine::EngineError>(())
        })
        .await
        .map_err(ServerError::Join)?
        .map_err(ServerError::Resume)?;
        // Then the pipeline actions that were in progress (`slipway_pipeline::exec` says how).
        let a = app.clone();
        tokio::task::spawn_blocking(move || a.pipelines.get().map(|p| p.executor.resume()))
            .await
            .map_err(ServerError::Join)?
            .transpose()
            .map_err(ServerError::Pipelines)?;

        let mut tasks = Vec::new();
        let mut gateway = None;
        if let (Some(dp), Some(g)) = (&data_plane, c.gateway) {
            let server = slipway_gateway::Server::bind(dp.gateway.clone(), g)
                .await
                .map_err(ServerError::Gateway)?;
            tracing::info!(addr = %server.local_addr(), "slipway gateway listening");
            let _ = app.gateway_addr.set(server.local_addr());
            gateway = Some(server);
            tasks.push(tokio::spawn(dp.clone().run(stopped.clone())));
        }
        tasks.push(tokio::spawn(serve(listener, app.clone(), stopped.clone())));
        tasks.push(tokio::spawn(tick_loop(
            app.clone(),
            c.tick_interval,
            stopped,
        )));
        tasks.push(tokio::spawn(pipelines::pipeline_loop(
            app.clone(),
            stop.subscribe(),
        )));
        tracing::info!(%addr, "slipway server listening");
        Ok(ServerHandle {
            addr,
            app,
            stop,
            tasks,
            gateway,
        })
    }
}

impl ServerHandle {
    /// The bound address (the port chosen when the configured one was 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`: what `AWS_ENDPOINT_URL` should be for clients of this server.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The engine, for reads (stacks, deployments, functions). Anything that moves a stack or
    /// a deployment goes through [`ServerHandle::with_engine`].
    pub fn engine(&self) -> Arc<Engine> {
        self.app.engine.clone()
    }

    /// Runs `f` as the engine's only driver — how an embedded `slipway deploy`, `rollback` or
    /// `deployment stop|continue|skip-wait` calls the engine while the ticker and the
    /// CodeDeploy endpoint run. It blocks: call it from `tokio::task::spawn_blocking` or from a
    /// plain thread that has entered this tokio runtime (`Runtime::enter`), since hooks are
    /// invoked through the function runtime.
    pub fn with_engine<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        self.app.drive(f)
    }

    /// What the ticker does every [`Config::tick_interval`], now: the runtime's counters
    /// sampled into metrics, then [`Engine::tick`] (tests advance a `ManualClock`, then tick).
    /// Blocking, like [`ServerHandle::with_engine`].
    pub fn tick(&self) -> Result<(), slipway_engine::EngineError> {
        let ticked = self.app.tick();
        events::tick(&self.app);
        ticked
    }

    /// The target a pipeline action deploys into: its `target` when it is `ACCOUNT/REGION`,
    /// else the default account with the action's region (a short name such as `dev` maps
    /// there, as the deploy runner does).
    pub fn target_of(&self, target: Option<&str>, region: Option<&str>) -> String {
        self.app.target_of(target, region)
    }

    /// The gateway's bound address, when [`Config::gateway`] is set.
    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway
            .as_ref()
            .map(slipway_gateway::Server::local_addr)
    }

    /// `http://ADDR` of the gateway (`/_api/{apiId}/{stage}/…` under it).
    pub fn gateway_url(&self) -> Option<String> {
        self.gateway_addr().map(|a| format!("http://{a}"))
    }

    /// The invoke URLs of a stack's APIs on this gateway, read from the store now (what a
    /// deploy prints); empty without a gateway. Blocking: reads SQLite.
    pub fn api_urls(&self, target: &str, stack: &str) -> Vec<slipway_gateway::StageUrl> {
        match self.gateway_addr() {
            Some(addr) => routes::stack_urls(self.app.store.as_ref(), target, stack, addr),
            None => Vec::new(),
        }
    }

    /// Resolves once the gateway serves every change the engine reported before the call
    /// (route tables are rebuilt in the background after each report).
    pub async fn gateway_settled(&self) {
        if let Some(dp) = &self.app.data_plane {
            dp.settled().await;
        }
    }

    /// Pipelines: the executor (define, start, approve, state) and the source poller.
    /// `slipway pipeline import`: resolves a template, imports its CodePipeline pipelines and
    /// (unless `dry_run`) defines them; the same work as `POST /api/v1/pipelines`, with the
    /// files beside the template readable through `files`. Blocking.
    pub fn import_pipelines(
        &self,
        req: &ImportRequest,
        files: &dyn slipway_model::template::FileSource,
    ) -> Result<ImportReport, ImportError> {
        self.app.import_pipelines(req, files)
    }

    pub fn pipelines(&self) -> &Pipelines {
        // Always set by `Server::start`.
        self.app
            .pipelines
            .get()
            .unwrap_or_else(|| unreachable!("Server::start sets the pipelines"))
    }

    /// The function runtime (metrics, logs; the gateway's `Invoker`).
    pub fn runtime(&self) -> Runtime {
        self.app.runtime.clone()
    }

    /// Stops accepting, stops the ticker and every execution environment.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        if let Some(g) = self.gateway {
            g.shutdown().await;
        }
        if let Some(p) = self.app.pipelines.get() {
            p.executor.shutdown();
        }
        for t in self.tasks {
            t.await.map_err(ServerError::Join)?;
        }
        self.app.runtime.shutdown();
        tracing::info!("slipway server stopped");
        Ok(())
    }
}

/// `slipway server`: starts, serves until Ctrl-C (or SIGTERM), shuts down cleanly.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let handle = Server::new(config).start().await?;
    shutdown_signal().await;
    handle.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn tick_loop(app: Arc<App>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopped.changed() => return,
        }
        let a = app.clone();
        let tick = move || {
            let ticked = a.tick();
            // Event sources (schedules, SQS pollers) move with the same clock; they do not
            // drive the engine.
            events::tick(&a);
            ticked
        };
        match tokio::task::spawn_blocking(tick).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "engine tick failed"),
            Err(e) => tracing::error!(error = %e, "engine tick panicked"),
        }
    }
}

async fn serve(listener: TcpListener, app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let app = app.clone();
        let mut stop = stopped.clone();
        conns.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(app, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    // In-flight requests finish; idle keep-alive connections close.
    while conns.join_next().await.is_some() {}
}

/// One request, its body read, as the handlers see it.
pub(crate) struct Req {
    pub(crate) method: Method,
    /// The raw (still percent-encoded) path.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// From the SigV4 credential scope.
    pub(crate) region: Option<String>,
    pub(crate) request_id: String,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

const MAX_BODY: usize = 64 * 1024 * 1024;

/// The machine's time, for SigV4's 15-minute window (never the engine's clock, which
/// `--time-scale` may run fast).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A failed SigV4 check in the shape each service answers it. Lambda (REST-JSON) answers 403
/// `InvalidSignatureException` / `UnrecognizedClientException`; CodeDeploy and CodePipeline (JSON 1.1) the
/// same codes with 400, as JSON 1.1 services answer client errors; the query services
/// (CloudFormation, SNS) and SQS 403 `SignatureDoesNotMatch` / `InvalidClientTokenId`; S3 403
/// `SignatureDoesNotMatch` / `InvalidAccessKeyId` / `RequestTimeTooSkewed`, and `AccessDenied`
/// "Request has expired" for a presigned URL past its time.
fn signature_error(service: Service, e: &sigv4::SigError) -> AwsError {
    use sigv4::SigError;
    const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    const BAD_KEY: &str = "The security token included in the request is invalid.";
    let (json, status) = match service {
        Service::Lambda => (true, 403),
        Service::CodeDeploy | Service::CodePipeline => (true, 400),
        Service::CloudFormation | Service::Sns | Service::Sqs | Service::S3 => (false, 403),
    };
    let (code, message): (&str, String) = match (e, service) {
        (SigError::UnknownKey, Service::S3) => (
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".into(),
        ),
        (SigError::UnknownKey, _) if json => ("UnrecognizedClientException", BAD_KEY.into()),
        (SigError::UnknownKey, _) => ("InvalidClientTokenId", BAD_KEY.into()),
        (SigError::Skewed { .. }, Service::S3) => (
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.".into(),
        ),
        (SigError::Skewed { amz_date }, _) => (
            if json {
                "InvalidSignatureException"
            } else {
                "SignatureDoesNotMatch"
            },
            format!(
                "Signature expired: {amz_date} is now earlier or later than 15 minutes from the current time."
            ),
        ),
        (SigError::Expired, Service::S3) => ("AccessDenied", "Request has expired".into()),
        (SigError::Expired, _) => (
            if json {
                "InvalidSignatureException"
            } else {
                "SignatureDoesNotMatch"
            },
            "Signature expired: the presigned request is past X-Amz-Expires.".into(),
        ),
        (SigError::Malformed(m), Service::S3) => ("AuthorizationQueryParametersError", m.clone()),
        (SigError::Malformed(m), _) => ("IncompleteSignatureException", m.clone()),
        (SigError::Mismatch, _) if json => ("InvalidSignatureException", MISMATCH.into()),
        (SigError::Mismatch, _) => ("SignatureDoesNotMatch", MISMATCH.into()),
    };
    let status = match e {
        SigError::Malformed(_) if service == Service::S3 => 400,
        SigError::Malformed(_) => 400,
        _ => status,
    };
    AwsError::new(service, status, code, message)
}

async fn handle(app: Arc<App>, req: Request<Incoming>) -> HttpResponse {
    if console::wants(&req) {
        return console::handle(app, req).await;
    }
    if req.uri().path().starts_with(api_pipelines::PREFIX) {
        return api_pipelines::handle(app, req).await;
    }
    if req.uri().path().starts_with(api::PREFIX) {
        return api::handle(app, req).await;
    }
    let (parts, body) = req.into_parts();
    let request_id = slipway_runtime::new_request_id();
    let auth = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let scope = wire::credential_scope(&auth);
    let path = parts.uri.path().to_owned();
    let query = wire::parse_pairs(parts.uri.query().unwrap_or(""));
    let target_header = parts
        .headers
        .get(wire::X_AMZ_TARGET)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = parts
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let service = match scope.as_ref().map(|s| s.2.as_str()) {
        Some("lambda") => Service::Lambda,
        Some("codedeploy") => Service::CodeDeploy,
        Some("codepipeline") => Service::CodePipeline,
        Some("cloudformation") => Service::CloudFormation,
        Some("s3") => Service::S3,
        Some("sns") => Service::Sns,
        Some("sqs") => Service::Sqs,
        _ if target_header
            .as_deref()
            .is_some_and(|t| t.starts_with(wire::SQS_TARGET)) =>
        {
            Service::Sqs
        }
        _ if target_header
            .as_deref()
            .is_some_and(|t| t.starts_with(wire::CODEDEPLOY_TARGET)) =>
        {
            Service::CodeDeploy
        }
        _ if target_header
            .as_deref()
            .is_some_and(|t| t.starts_with(wire::CODEPIPELINE_TARGET)) =>
        {
            Service::CodePipeline
        }
        _ if path.starts_with("/2015-03-31/") => Service::Lambda,
        _ if path == "/" && (is_form || query.iter().any(|(k, _)| k == "Action")) => {
            Service::CloudFormation
        }
        _ => Service::S3,
    };
    let head = parts.method == Method::HEAD;
    let signed = auth.starts_with("AWS4-HMAC-SHA256")
        || query
            .iter()
            .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm");
    if let Some(token) = app.token.as_deref() {
        // A signed request is let through here and verified below, once its body is read.
        let bearer = auth.strip_prefix("Bearer ") == Some(token);
        if !bearer && !signed {
            let code = match service {
                Service::S3 => "AccessDenied",
                Service::CloudFormation | Service::CodeDeploy | Service::CodePipeline => {
                    "AccessDeniedException"
                }
                Service::Lambda => "AccessDeniedException",
                Service::Sns => "AuthorizationError",
                Service::Sqs => "AccessDenied",
            };
            return AwsError::new(
                service,
                403,
                code,
                "The security token included in the request is invalid.",
            )
            .into_response(head, &request_id);
        }
    }
    if parts.method == Method::GET && path == prom::PATH {
        return prom::respond(&app).await;
    }
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let (status, code) = if service == Service::Lambda {
                (413, "RequestTooLargeException")
            } else {
                (400, "IncompleteBody")
            };
            return AwsError::new(service, status, code, e.to_string())
                .into_response(head, &request_id);
        }
    };
    if signed {
        let sreq = sigv4::Request {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: &body,
        };
        let checked = match sigv4::claim(&sreq) {
            Some(Ok(claim)) => sigv4::verify(&sreq, &claim, |k| app.secret_of(k), wall_ms()),
            Some(Err(e)) => Err(e),
            None => Ok(()),
        };
        if let Err(e) = checked {
            return signature_error(service, &e).into_response(head, &request_id);
        }
    }
    let req = Req {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body,
        region: scope.map(|s| s.1),
        request_id: request_id.clone(),
    };
    let result = match service {
        Service::Lambda => match lambda::invocation(&req).map(str::to_owned) {
            Some(f) => lambda::invoke(&app, &req, &f).await,
            None => blocking(&app, req, service, lambda::handle).await,
        },
        Service::CodeDeploy => blocking(&app, req, service, codedeploy::handle).await,
        Service::CodePipeline => blocking(&app, req, service, codepipeline::handle).await,
        Service::CloudFormation => blocking(&app, req, service, cloudformation::handle).await,
        Service::S3 => blocking(&app, req, service, s3::handle).await,
        Service::Sns => blocking(&app, req, service, sns::handle).await,
        Service::Sqs => blocking(&app, req, service, sqs::handle).await,
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(head, &request_id),
    };
    let h = resp.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&request_id) {
        h.insert(wire::X_AMZN_REQUEST_ID, v.clone());
        if service == Service::S3 {
            h.insert(wire::X_AMZ_REQUEST_ID, v);
        }
    }
    resp
}

/// Runs a handler that touches the store (SQLite, files) on a blocking thread.
async fn blocking(
    app: &Arc<App>,
    req: Req,
    service: Service,
    f: fn(&App, &Req) -> Result<HttpResponse, AwsError>,
) -> Result<HttpResponse, AwsError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(&app, &req))
        .await
        .unwrap_or_else(|e| Err(AwsError::internal(service, &e)))
}
