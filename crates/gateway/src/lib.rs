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

pub mod build;
pub mod directory;
pub mod event;
pub mod reload;
pub mod response;
pub mod routes;
pub mod server;

pub use build::{ApiEntry, BuildProblem, Snapshot, api_id};
pub use directory::{Directory, FunctionProblem, local_functions};
pub use reload::{Fingerprint, Reloader, code_dirs};
pub use routes::{ApiKind, Backend, Integration, PayloadVersion, RouteTable, Routing};
pub use server::{
    Gateway, GatewayConfig, IncomingRequest, ServeError, ServeOptions, Server, Serving, StageUrl,
    serve, stage_urls,
};
