//! One-shot local invokes, the entry point of `slipway invoke`: a throwaway [`Runtime`], one
//! function, one event, logs streamed to stderr as they are written.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use slipway_model::function::FunctionSpec;
use slipway_model::invoke::{InvokeError, InvokeRequest, InvokeResponse, Invoker};

use crate::logs::{LogRecord, LogSink};
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};

/// Prints every log record on stderr, one record per line. The Python runtime joins the lines of
/// an error report with `\r` (one CloudWatch event); on a terminal they become lines again.
///
/// [`StderrLogSink::default`] writes each record as it comes, in one `write` (`slipway invoke`:
/// one invocation, every line at once). [`StderrLogSink::batched`] is for a server under load
/// (`slipway serve`): a record goes into a buffer, and a writer thread writes what gathered in
/// `BATCH_DELAY` (5 ms) in one `write` — so a busy gateway makes one system call and one wake-up of
/// the writer per batch instead of three writes per invocation (`START`, `END`, `REPORT`) on the
/// request path. [`LogSink::flush`] (called by `Runtime::shutdown`) writes what is left.
#[derive(Debug, Default)]
pub struct StderrLogSink {
    batch: Option<Arc<Batch>>,
}

/// How long the writer of a batched sink gathers records after the first one of a batch.
const BATCH_DELAY: Duration = Duration::from_millis(5);

/// A batch larger than this is written by the recording thread itself (back pressure on a
/// terminal that cannot keep up, instead of an unbounded buffer).
const MAX_BATCH_BYTES: usize = 1 << 20;

struct Batch {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// Where the bytes go: stderr (tests collect them).
    out: fn(&[u8]),
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").finish_non_exhaustive()
    }
}

impl Batch {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn write_stderr(bytes: &[u8]) {
    if !bytes.is_empty() {
        let _ = std::io::stderr().lock().write_all(bytes);
    }
}

impl StderrLogSink {
    /// A sink that batches its writes on a writer thread of its own.
    pub fn batched() -> Self {
        Self::batched_to(write_stderr)
    }

    fn batched_to(out: fn(&[u8])) -> Self {
        let batch = Arc::new(Batch {
            pending: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            out,
        });
        let writer = batch.clone();
        let spawned = std::thread::Builder::new()
            .name("slipway-log".into())
            .spawn(move || {
                loop {
                    {
                        let pending = writer.pending.lock().unwrap_or_else(|e| e.into_inner());
                        let pending = writer
                            .wake
                            .wait_while(pending, |p| p.is_empty())
                            .unwrap_or_else(|e| e.into_inner());
                        drop(pending);
                    }
                    #[allow(
                        clippy::disallowed_methods,
                        reason = "output batching on the wall clock; no logic waits on it"
                    )]
                    std::thread::sleep(BATCH_DELAY);
                    let bytes = writer.take();
                    if !bytes.is_empty() {
                        (writer.out)(&bytes);
                    }
                }
            });
        match spawned {
            Ok(_) => Self { batch: Some(batch) },
            // No thread: write as the records come.
            Err(_) => Self::default(),
        }
    }
}

impl LogSink for StderrLogSink {
    fn record(&self, record: &LogRecord) {
        let mut line = record.message.replace('\r', "\n");
        line.push('\n');
        let Some(batch) = &self.batch else {
            write_stderr(line.as_bytes());
            return;
        };
        let mut pending = batch.pending.lock().unwrap_or_else(|e| e.into_inner());
        let first = pending.is_empty();
        pending.extend_from_slice(line.as_bytes());
        if pending.len() > MAX_BATCH_BYTES {
            let full = std::mem::take(&mut *pending);
            drop(pending);
            (batch.out)(&full);
        } else if first {
            drop(pending);
            batch.wake.notify_one();
        }
    }

    fn flush(&self) {
        if let Some(batch) = &self.batch {
            let bytes = batch.take();
            if !bytes.is_empty() {
                (batch.out)(&bytes);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_model::function::Version;

    static WRITTEN: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    fn collect(bytes: &[u8]) {
        WRITTEN.lock().unwrap().push(bytes.to_vec());
    }

    #[test]
    fn a_batched_sink_writes_records_in_order_in_few_writes() {
        let sink = StderrLogSink::batched_to(collect);
        for message in ["START RequestId: 1", "line\rtwo", "END RequestId: 1"] {
            sink.record(&LogRecord {
                timestamp_ms: 0,
                function: "f".into(),
                version: Version::Latest,
                log_stream: "s".into(),
                request_id: Some("1".into()),
                message: message.into(),
            });
        }
        sink.flush();
        let written = WRITTEN.lock().unwrap();
        // Usually one write (the writer thread, or `flush`); more only if this thread was held
        // up for longer than the batch delay between two records.
        assert!(!written.is_empty() && written.len() <= 3, "{written:?}");
        assert_eq!(
            written.concat(),
            b"START RequestId: 1\nline\ntwo\nEND RequestId: 1\n"
        );
    }
}
