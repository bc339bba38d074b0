//! Errors that stop a command before it can report on the user's documents. Problems *in*
//! those documents are diagnostics, not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("cannot read {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the output")]
    Write(#[source] std::io::Error),
    #[error("cannot serialise the output as JSON")]
    Json(#[source] serde_json::Error),
    #[error("cannot determine the current directory")]
    Cwd(#[source] std::io::Error),
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime")]
    Tokio(#[source] std::io::Error),
    #[error(transparent)]
    Invoke(slipway_runtime::LocalInvokeError),
    #[error("cannot start the runtime")]
    Runtime(#[source] slipway_runtime::RuntimeError),
    #[error(transparent)]
    Serve(slipway_gateway::ServeError),
    #[error("cannot wait for Ctrl-C")]
    Signal(#[source] std::io::Error),
    #[error(transparent)]
    Build(slipway_build::BuildError),
    #[error(transparent)]
    SamBuild(slipway_build::sam::SamBuildError),
    #[error(transparent)]
    Client(crate::client::ClientError),
    #[error("cannot run the server")]
    Server(#[source] slipway_server::ServerError),
    #[error("a background task failed")]
    Join(#[source] tokio::task::JoinError),
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Write(e)
    }
}
