//! Slipway's function runtime: runs Lambda functions on this machine, with no containers,
//! behaving as Lambda does.
//!
//! - [`Runtime`] holds registered [`FunctionSpec`](slipway_model::function::FunctionSpec)s, each
//!   with a pool of execution environments, and implements
//!   [`Invoker`](slipway_model::invoke::Invoker).
//! - An execution environment ([`env`]) is one process in its own process group, with a clean
//!   environment (Lambda's reserved variables and the function's own, never the server's), the
//!   code directory as working directory, a private `TMPDIR`, and its own Runtime API listener
//!   ([`api`]) on `127.0.0.1`; the built-in bootstrap talks over a Unix socket pair instead
//!   (`fast.rs`: the same events, without HTTP). It serves one invocation at a time and is reused; idle ones are
//!   reaped by [`Runtime::reap_idle`] against an injectable [`Clock`].
//! - `python3.8`…`python3.14` run the built-in bootstrap ([`python::BOOTSTRAP_PY`]) on a local
//!   interpreter chosen as [`python`] documents; `provided*` run the function's `bootstrap`.
//! - Failures stay inside one invocation: timeouts (`Sandbox.Timedout`), crashes
//!   (`Runtime.ExitError`), memory (`Runtime.OutOfMemory`), init errors (reported, then retried
//!   by the next invoke on a fresh environment).
//!
//! Known differences from Lambda that a handler can observe:
//! - the context's `function_name`, `log_group_name`, `log_stream_name`, `memory_limit_in_mb`
//!   and `function_version` are read from the environment once per process (awslambdaric reads
//!   them at each invoke: a handler rewriting those reserved variables would notice);
//! - `Decimal` results are encoded as `int`/`float` (awslambdaric emits the decimal text);
//! - the code directory is read-only (`EROFS`) only where the system allows a private mount
//!   namespace (root, or unprivileged user namespaces; `limits.rs`); elsewhere it stays writable;
//! - `MemorySize` is enforced with `RLIMIT_AS` (plus a headroom, default 64 MB) and a check of the
//!   peak resident size after each invocation, not a cgroup; a Python `MemoryError` is reported
//!   as `Runtime.OutOfMemory`;
//! - with the built-in bootstrap, `_X_AMZN_TRACE_ID` is updated in `os.environ` at each
//!   invocation and in the C environment only when the handler starts a process (glibc's
//!   `setenv` would keep every distinct trace ID for the life of the process): native code in
//!   the handler's own process calling `getenv(3)` sees the value as of the last process
//!   started;
//! - the built-in bootstrap runs under the `SCHED_BATCH` policy (`os.sched_getscheduler(0)`
//!   shows it), so that an environment woken by the platform does not preempt it; fairness
//!   and nice values are as under `SCHED_OTHER`.

pub mod api;
pub mod clock;
mod env;
mod fast;
mod groups;
mod limits;
mod local;
pub mod logs;
pub mod metrics;
pub mod python;
mod runtime;
pub mod sdk;

pub use clock::{Clock, ManualClock, SystemClock};
pub use local::{LocalInvokeError, StderrLogSink, invoke_once};
pub use logs::{LogRecord, LogSink};
pub use metrics::Minute;
pub use python::PythonConfig;
pub use runtime::{
    FunctionMetrics, MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD, Runtime, RuntimeConfig, RuntimeError,
    new_request_id,
};
pub use sdk::PythonSdk;
