//! One-shot local invokes, the entry point of `slipway invoke`: a throwaway [`Runtime`], one
//! function, one event, logs streamed to stderr as they are written.

use std::io::Write as _;

use bytes::Bytes;
use slipway_model::function::FunctionSpec;
use slipway_model::invoke::{InvokeError, InvokeRequest, InvokeResponse, Invoker};

use crate::logs::{LogRecord, LogSink};
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};

/// Prints every log record on stderr, one record per line. The Python runtime joins the lines of
/// an error report with `\r` (one CloudWatch event); on a terminal they become lines again.
#[derive(Debug, Default)]
pub struct StderrLogSink;

impl LogSink for StderrLogSink {
    fn record(&self, record: &LogRecord) {
        let text = record.message.replace('\r', "\n");
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalInvokeError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("invoke of {function} failed")]
    Invoke {
        function: String,
        #[source]
        source: InvokeError,
    },
}

/// Registers `spec`, invokes it once with `event` (JSON text), stops the environment, and
/// returns Lambda's response. A function error is `Ok` with `function_error` set, as on Lambda;
/// `config.log_sink` receives the logs (use [`StderrLogSink`] for the CLI).
pub async fn invoke_once(
    config: RuntimeConfig,
    spec: FunctionSpec,
    event: Bytes,
) -> Result<InvokeResponse, LocalInvokeError> {
    let runtime = Runtime::new(config)?;
    let function = spec.name.clone();
    let version = spec.version.clone();
    runtime.register(spec);
    let result = runtime
        .invoke(InvokeRequest::new(function.clone(), version, event))
        .await;
    runtime.shutdown();
    result.map_err(|source| LocalInvokeError::Invoke { function, source })
}
