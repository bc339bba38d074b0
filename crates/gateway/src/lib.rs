//! Slipway's API gateway: the data plane that turns HTTP requests into API Gateway proxy
//! events for Lambda functions, and their results back into HTTP, as API Gateway does.
//!
//! - [`build`] turns a resolved template into a [`Snapshot`]: one [`RouteTable`] per API and
//!   stage, integration URIs resolved against a [`Directory`] (which physical function, version
//!   and alias each reference means).
//! - [`routes`] matches requests with AWS's priorities (pure, no sockets).
//! - [`event`] builds REST payload v1 and HTTP API payload v2 events; [`response`] validates
//!   and maps proxy responses, and writes API Gateway's own error responses.
//! - [`server`] is the hyper server: addressing (host-based, path-based, root), weighted alias
//!   picks, snapshots swapped atomically, and [`serve`], the entry point of `slipway serve`.
//! - [`reload`] serves saved code and template changes without a restart.
//!
//! ## `slipway serve`
//!
//! What the CLI does, in order (settings resolved by the CLI as usual):
//!
//! ```text
//! let template = slipway_model::template::resolve(&text, &options).template?;  // report diagnostics
//! let mut rc = slipway_runtime::RuntimeConfig::new(project_dir.join(".slipway/runtime"));
//! rc.log_sink = Some(Arc::new(slipway_runtime::StderrLogSink::default()));
//! let runtime = slipway_runtime::Runtime::new(rc)?;
//! let mut serve = slipway_gateway::ServeOptions::new(&template_dir);  // CodeUri is relative to it
//! serve.addr = SocketAddr::new(host, port);                            // --host, -p
//! serve.env_vars = serde_json::from_str(&env_vars_text)?;              // -n env-vars.json
//! let serving = slipway_gateway::serve(&template, runtime, serve).await?;
//! // print serving.problems (warnings) and, per serving.urls: host_url, path_url, root_url
//! let reaper = serving.runtime.spawn_reaper(Duration::from_secs(60));
//! let watcher = serving.reloader().watch(template_path, Duration::from_millis(100),
//!     |path| /* read + resolve again with the same options */,
//!     |result| /* print problems or the resolve error */);
//! tokio::signal::ctrl_c().await?;
//! watcher.abort(); reaper.abort();
//! serving.shutdown().await;  // stops listening, then every execution environment
//! ```

pub mod build;
pub mod directory;
pub mod event;
pub mod reload;
pub mod response;
pub mod routes;
pub mod server;

pub use build::{ApiEntry, BuildProblem, Snapshot, api_id, build_deployed};
pub use directory::{Directory, FunctionProblem, local_functions};
pub use reload::{Fingerprint, Reloader, code_dirs};
pub use routes::{ApiKind, Backend, Integration, PayloadVersion, RouteTable, Routing};
pub use server::{
    Gateway, GatewayConfig, IncomingRequest, ServeError, ServeOptions, Server, Serving, StageUrl,
    serve, stage_urls,
};
