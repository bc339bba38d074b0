//! Execution environments: one child process each, in its own process group, with a clean
//! environment built from Lambda's variables, the code directory as working directory, a private
//! `TMPDIR`, its own Runtime API listener, and stdout+stderr merged into one pipe that becomes
//! the function's log.
//!
//! Memory: `RLIMIT_AS` is set in the child before `exec` to `MemorySize` plus a headroom (the
//! interpreter's own mappings), and after each invocation the peak resident size (`VmHWM`; the
//! built-in bootstrap reports it with its answer on the fast channel, other runtimes' is read
//! from `/proc/PID/status`) is compared with `MemorySize`; either way the invoke fails with `Runtime.OutOfMemory` and the
//! environment is replaced.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slipway_model::function::FunctionSpec;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use crate::api::{self, ApiEvent, ApiServer, ApiShared, Invocation};
use crate::fast::{self, AheadWriter, FastChannel};
use crate::groups::Groups;
use crate::logs::{LogRecord, Logs, now_ms};

/// Written by the built-in bootstrap on stdout when a phase ends, so that every earlier line
/// reaches the log before `START`/`END`.
const FLUSH_MARKER: &[u8] = b"\0slipway:flush\0";
/// Written by the built-in bootstrap on stdout, with the request ID and `\0`, before the first
/// output of an invocation written ahead (`fast.rs`): what follows is that invocation's. One
/// that writes nothing writes no marker (and answers quietly): its `START` is the platform's.
const BEGIN_MARKER: &[u8] = b"\0slipway:begin:";
/// How long to wait for that marker before writing `END` anyway.
const FLUSH_WAIT: Duration = Duration::from_millis(200);

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Launch {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<PathBuf>,
    /// The built-in Python bootstrap (writes flush markers).
    pub(crate) builtin: bool,
    /// Talk over the fast channel (`fast.rs`) instead of the Runtime API: the built-in
    /// bootstrap only.
    pub(crate) fast: bool,
    /// Variables that depend on the runtime (`AWS_EXECUTION_ENV`, `_SLIPWAY_PYTHONPATH`).
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) memory_limit_bytes: Option<u64>,
    /// The Python `X.Y` whose SDK (`sdk.rs`) goes on the path; `None` for none.
    pub(crate) sdk: Option<String>,
}

/// How an invocation ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Bytes),
    /// `/error`: the environment stays.
    FunctionError {
        error_type: Option<String>,
        body: Bytes,
    },
    ResponseTooLarge,
    /// `/init/error`: the environment is gone.
    InitError {
        error_type: Option<String>,
        body: Bytes,
    },
    /// Init did not finish within the init timeout.
    InitTimedOut,
    /// The process ended (status in Go's words, as Lambda reports it: `exit status 1`,
    /// `signal: killed`).
    Exited(String),
    TimedOut,
}

pub(crate) struct Environment {
    /// Unique within the runtime.
    pub(crate) id: u64,
    pub(crate) log_stream: String,
    shared: Arc<ApiShared>,
    _server: ApiServer,
    child: Child,
    pid: Option<rustix::process::Pid>,
    /// `/proc/<pid>/status`, opened once: read again from offset 0 after each invocation.
    status: Option<std::fs::File>,
    /// `/proc/<pid>/schedstat` (the main thread's time on CPU), likewise.
    schedstat: Option<std::fs::File>,
    /// Where the process group is recorded while it lives (`groups.rs`).
    groups: Arc<Groups>,
    events: mpsc::UnboundedReceiver<ApiEvent>,
    /// Set when the process speaks the fast channel; then `events` stays silent.
    fast: Option<FastChannel>,
    flushes: watch::Receiver<u64>,
    flushes_expected: u64,
    flush_timeouts: u64,
    builtin: bool,
    tmp_dir: PathBuf,
    started: Instant,
    log_request: Arc<Mutex<Attribution>>,
    /// The number of invocations begun on this environment, and of those whose `REPORT` is
    /// written (the log reader holds an invocation written ahead back until the one before
    /// it has ended).
    begun: u64,
    ended: watch::Sender<u64>,
    /// The number of the last invocation written ahead whose `START` the log reader wrote.
    started_ahead: watch::Receiver<u64>,
    /// Writes frames ahead on the fast channel (`fast.rs`), when its socket allows.
    ahead: Option<Arc<AheadWriter>>,
    /// Set once init finished; taken by the first invocation's `REPORT`.
    pub(crate) init_duration: Option<Duration>,
    initialized: bool,
    alive: bool,
    /// Clock time of the end of the last invocation.
    pub(crate) last_used: Duration,
    /// When the last invocation's answer came, and the process's runnable time then: where
    /// an invocation written ahead began.
    pub(crate) last_answer: Option<(Instant, Option<Duration>)>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    #[error("cannot start the Runtime API listener")]
    Listen(#[source] std::io::Error),
    #[error("cannot create the environment's temporary directory {}", path.display())]
    TmpDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the log pipe")]
    Pipe(#[source] std::io::Error),
    #[error("cannot create the fast channel")]
    Channel(#[source] std::io::Error),
    #[error("cannot start {}", program.display())]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) struct SpawnArgs<'a> {
    pub(crate) spec: &'a FunctionSpec,
    pub(crate) launch: &'a Launch,
    /// Appended to the bootstrap's `sys.path` entries, after the layers (`sdk.rs`).
    pub(crate) sdk_dir: Option<&'a Path>,
    /// Make the code directory read-only to the process (`limits::ReadOnlyCode`); cleared
    /// when the system refuses it, so later spawns do not try again.
    pub(crate) read_only_code: &'a AtomicBool,
    /// The runtime's work directory (kept writable when it lies inside the code directory).
    pub(crate) work_dir: &'a Path,
    pub(crate) env_id: u64,
    pub(crate) tmp_root: &'a Path,
    pub(crate) groups: &'a Arc<Groups>,
    pub(crate) extra_env: &'a BTreeMap<String, String>,
    pub(crate) logs: Arc<Logs>,
}

/// Lambda's defaults for the variables a function may override.
fn base_env(spec: &FunctionSpec, tmp_dir: &Path) -> BTreeMap<String, String> {
    let task_root = spec.code_dir.display().to_string();
    let mut path = String::new();
    for layer in spec.layers.iter().rev() {
        path.push_str(&format!("{}/bin:", layer.display()));
    }
    path.push_str("/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    let mut ld = String::from("/lib64:/usr/lib64:");
    ld.push_str(&format!("{task_root}:{task_root}/lib"));
    for layer in spec.layers.iter().rev() {
        ld.push_str(&format!(":{}/lib", layer.display()));
    }
    BTreeMap::from([
        ("LANG".to_owned(), "en_US.UTF-8".to_owned()),
        ("PATH".to_owned(), path),
        ("LD_LIBRARY_PATH".to_owned(), ld),
        ("TZ".to_owned(), ":UTC".to_owned()),
        ("TMPDIR".to_owned(), tmp_dir.display().to_string()),
        (
            "AWS_XRAY_CONTEXT_MISSING".to_owned(),
            "LOG_ERROR".to_owned(),
        ),
    ])
}

/// The whole environment of the process: defaults < platform extras < the function's own
/// `Environment` < Lambda's reserved variables (which a function cannot override).
pub(crate) fn process_env(
    spec: &FunctionSpec,
    launch: &Launch,
    tmp_dir: &Path,
    runtime_api: &str,
    log_stream: &str,
    extra_env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = base_env(spec, tmp_dir);
    env.extend(extra_env.clone());
    env.extend(spec.environment.clone());
    let region = spec.location.region.clone();
    env.extend([
        ("_HANDLER".to_owned(), spec.handler.clone()),
        ("AWS_REGION".to_owned(), region.clone()),
        ("AWS_DEFAULT_REGION".to_owned(), region),
        ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), spec.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
            spec.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
            spec.version.to_string(),
        ),
        (
            "AWS_LAMBDA_INITIALIZATION_TYPE".to_owned(),
            "on-demand".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME".to_owned(), spec.log_group()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME".to_owned(),
            log_stream.to_owned(),
        ),
        ("AWS_LAMBDA_RUNTIME_API".to_owned(), runtime_api.to_owned()),
        (
            "LAMBDA_TASK_ROOT".to_owned(),
            spec.code_dir.display().to_string(),
        ),
    ]);
    env.extend(launch.env.clone());
    env
}

/// `[$LATEST]` and 32 hex digits after the date, as Lambda names log streams.
fn log_stream_name(spec: &FunctionSpec) -> String {
    format!(
        "{}/[{}]{:016x}{:016x}",
        crate::logs::log_stream_date(now_ms()),
        spec.version,
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

impl Environment {
    pub(crate) async fn spawn(args: SpawnArgs<'_>) -> Result<Self, SpawnError> {
        let SpawnArgs {
            spec,
            launch,
            sdk_dir,
            read_only_code,
            work_dir,
            env_id,
            tmp_root,
            groups,
            extra_env,
            logs,
        } = args;
        let (shared, events) = ApiShared::new();
        let server = api::serve(shared.clone())
            .await
            .map_err(SpawnError::Listen)?;
        let tmp_dir = tmp_root.join(format!("env-{env_id}"));
        std::fs::create_dir_all(&tmp_dir).map_err(|source| SpawnError::TmpDir {
            path: tmp_dir.clone(),
            source,
        })?;
        let log_stream = log_stream_name(spec);
        let mut env = process_env(
            spec,
            launch,
            &tmp_dir,
            &server.addr.to_string(),
            &log_stream,
            extra_env,
        );
        if let Some(dir) = sdk_dir {
            let paths = env.entry("_SLIPWAY_PYTHONPATH".to_owned()).or_default();
            if !paths.is_empty() {
                paths.push(':');
            }
            paths.push_str(&dir.display().to_string());
        }

        let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| SpawnError::Pipe(e.into()))?;
        let channel = if launch.fast {
            let (ours, theirs) =
                std::os::unix::net::UnixStream::pair().map_err(SpawnError::Channel)?;
            ours.set_nonblocking(true).map_err(SpawnError::Channel)?;
            Some((ours, theirs))
        } else {
            None
        };
        let build =
            |read_only: Option<crate::limits::ReadOnlyCode>| -> Result<Command, SpawnError> {
                let write_out: OwnedFd = write_end.try_clone().map_err(SpawnError::Pipe)?;
                let write_err: OwnedFd = write_end.try_clone().map_err(SpawnError::Pipe)?;
                let mut command = Command::new(&launch.program);
                command
                    .args(&launch.args)
                    .current_dir(&spec.code_dir)
                    .env_clear()
                    .envs(&env)
                    .stdin(Stdio::null())
                    .stdout(Stdio::from(write_out))
                    .stderr(Stdio::from(write_err))
                    .process_group(0)
                    .kill_on_drop(true);
                if let Some(limit) = launch.memory_limit_bytes {
                    crate::limits::limit_address_space(&mut command, limit);
                }
                if let Some((_, theirs)) = &channel {
                    use std::os::fd::AsRawFd as _;
                    let fd = theirs.as_raw_fd();
                    command.env(fast::FD_VAR, fd.to_string());
                    crate::limits::inherit_fd(&mut command, fd);
                }
                if let Some(read_only) = read_only {
                    crate::limits::read_only_code_dir(&mut command, read_only);
                }
                Ok(command)
            };
        let read_only = read_only_code
            .load(Ordering::Relaxed)
            .then(|| crate::limits::ReadOnlyCode::new(&spec.code_dir, &[tmp_root, work_dir]))
            .flatten();
        let tried_read_only = read_only.is_some();
        let started = Instant::now();
        let spawned = build(read_only)?.spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(first) if tried_read_only => {
                // The kernel refused the namespace or a mount (`limits.rs`): run with a
                // writable code directory, and stop trying when that works.
                let child = build(None)?.spawn().map_err(|source| SpawnError::Exec {
                    program: launch.program.clone(),
                    source,
                })?;
                if read_only_code.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %first,
                        "the code directory of functions stays writable: this system refuses a private mount namespace ({first})"
                    );
                }
                child
            }
            Err(source) => {
                return Err(SpawnError::Exec {
                    program: launch.program.clone(),
                    source,
                });
            }
        };
        // Close our copies of the write end so the reader sees EOF when the process ends (and of
        // the runtime's end of the fast channel, for the same reason).
        drop(write_end);
        let fast = match channel {
            Some((ours, theirs)) => {
                drop(theirs);
                Some(FastChannel::new(ours).map_err(SpawnError::Channel)?)
            }
            None => None,
        };
        let pid = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));
        let status = pid
            .and_then(|p| std::fs::File::open(format!("/proc/{}/status", p.as_raw_nonzero())).ok());
        let schedstat = pid.and_then(|p| {
            std::fs::File::open(format!("/proc/{}/schedstat", p.as_raw_nonzero())).ok()
        });
        if let Some(pid) = pid {
            groups.record(pid.as_raw_nonzero().get() as u32);
        }

        let (flush_tx, flushes) = watch::channel(0u64);
        let log_request = Arc::new(Mutex::new(Attribution::default()));
        let (ended, ended_rx) = watch::channel(0u64);
        let (started_ahead_tx, started_ahead) = watch::channel(0u64);
        let ahead = fast
            .as_ref()
            .and_then(FastChannel::ahead_writer)
            .map(Arc::new);
        let receiver =
            tokio::net::unix::pipe::Receiver::from_owned_fd(read_end).map_err(SpawnError::Pipe)?;
        tokio::spawn(read_log(
            receiver,
            logs,
            LogTarget {
                function: spec.name.clone(),
                version: spec.version.clone(),
                log_stream: log_stream.clone(),
                request: log_request.clone(),
                ended: ended_rx,
                started_ahead: started_ahead_tx,
            },
            flush_tx,
        ));

        Ok(Self {
            id: env_id,
            fast,
            log_stream,
            shared,
            _server: server,
            child,
            pid,
            status,
            schedstat,
            groups: groups.clone(),
            events,
            flushes,
            flushes_expected: 0,
            flush_timeouts: 0,
            builtin: launch.builtin,
            tmp_dir,
            started,
            log_request,
            begun: 0,
            ended,
            started_ahead,
            ahead,
            init_duration: None,
            initialized: false,
            alive: true,
            last_used: Duration::ZERO,
            last_answer: None,
        })
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive
    }

    fn attribution(&self) -> std::sync::MutexGuard<'_, Attribution> {
        self.log_request.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The process's output is `request_id`'s from now on (an invocation handed over as usual).
    pub(crate) fn begin_log(&mut self, request_id: &str) {
        self.begun += 1;
        self.attribution().current = Some(request_id.to_owned());
    }

    /// `request_id`'s `REPORT` is written: later output is no invocation's, unless the log
    /// reader moved on to one written ahead already.
    pub(crate) fn end_log(&mut self, request_id: &str) {
        {
            let mut attribution = self.attribution();
            if attribution.current.as_deref() == Some(request_id) {
                attribution.current = None;
            }
        }
        self.ended.send_replace(self.begun);
    }

    /// The writer of frames ahead, while this environment runs an invocation.
    pub(crate) fn ahead(&self) -> Option<Arc<AheadWriter>> {
        self.ahead.clone()
    }

    /// Notes `request_id` as written ahead: the log reader attributes what follows the
    /// bootstrap's begin marker to it, once the invocation running now has ended.
    pub(crate) fn expect_ahead(log: &Mutex<Attribution>, request_id: &str, begun: u64) {
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .ahead
            .push_back((request_id.to_owned(), begun));
    }

    /// Undoes [`Environment::expect_ahead`] for a frame that was not written after all; whether
    /// `request_id` was still expected.
    pub(crate) fn forget_ahead(log: &Mutex<Attribution>, request_id: &str) -> bool {
        let mut attribution = log.lock().unwrap_or_else(|e| e.into_inner());
        let before = attribution.ahead.len();
        attribution.ahead.retain(|(id, _)| id != request_id);
        attribution.ahead.len() < before
    }

    /// Whether the platform is to write the `START` of `request_id`, written ahead and ended:
    /// yes unless the log reader met its begin marker (and writes it). Decided under the
    /// attribution's lock, so exactly one of the two writes it.
    pub(crate) fn claim_start(&self, request_id: &str) -> bool {
        Self::forget_ahead(&self.log_request, request_id)
    }

    /// What [`Environment::expect_ahead`] needs: the attribution and the count of invocations
    /// begun once the one written ahead is.
    pub(crate) fn ahead_log(&self) -> (Arc<Mutex<Attribution>>, u64) {
        (self.log_request.clone(), self.begun + 1)
    }

    /// How long the built-in bootstrap says it worked on the current invocation (`fast.rs`).
    pub(crate) fn busy_time(&self) -> Option<Duration> {
        self.fast.as_ref().and_then(FastChannel::busy)
    }

    /// Peak resident set size of the process, in bytes (`VmHWM`).
    pub(crate) fn max_memory_bytes(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt as _;
        // The built-in bootstrap reports it with its answer (`fast.rs`): no procfs read.
        if let Some(bytes) = self.fast.as_ref().and_then(FastChannel::peak_bytes) {
            return Some(bytes);
        }
        // One pread on the descriptor opened at spawn (procfs regenerates the text at offset
        // 0): no path lookup, open or close per invocation.
        let file = self.status.as_ref()?;
        let mut buf = [0u8; 4096];
        let n = file.read_at(&mut buf, 0).ok()?;
        let status = std::str::from_utf8(&buf[..n]).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Time the process's main thread has been runnable: on CPU or waiting in a run queue for
    /// one (the first two fields of `schedstat`, in nanoseconds). Counting the queue keeps a
    /// CPU-bound handler CPU-bound when the cores are contended; a handler's own threads are
    /// not counted.
    pub(crate) fn runnable_time(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt as _;
        let file = self.schedstat.as_ref()?;
        let mut buf = [0u8; 128];
        let n = file.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let mut fields = text.split_whitespace();
        let on_cpu: u64 = fields.next()?.parse().ok()?;
        let queued: u64 = fields.next()?.parse().ok()?;
        Some(Duration::from_nanos(on_cpu + queued))
    }

    async fn wait_flush(&mut self) {
        if !self.builtin {
            return;
        }
        self.flushes_expected += 1;
        let expected = self.flushes_expected;
        let waited =
            tokio::time::timeout(FLUSH_WAIT, self.flushes.wait_for(|n| *n >= expected)).await;
        if !matches!(waited, Ok(Ok(_))) {
            self.flush_timeouts += 1;
        }
    }

    /// How often the log was not flushed in time (the process closed stdout, or wrote a line
    /// the platform could not read): a diagnostic, zero when all is well.
    pub(crate) fn take_flush_timeouts(&mut self) -> u64 {
        std::mem::take(&mut self.flush_timeouts)
    }

    /// Waits for the end of init (the first `/next`), if it has not happened yet. Init's
    /// duration is recorded however it ends (for `INIT_REPORT`).
    pub(crate) async fn ensure_initialized(&mut self, init_timeout: Duration) -> Option<Outcome> {
        let outcome = self.wait_initialized(init_timeout).await;
        if outcome.is_some() && self.init_duration.is_none() {
            self.init_duration = Some(self.started.elapsed());
        }
        outcome
    }

    async fn wait_initialized(&mut self, init_timeout: Duration) -> Option<Outcome> {
        if self.initialized {
            return None;
        }
        let deadline = tokio::time::Instant::from_std(self.started + init_timeout);
        loop {
            let Self {
                fast,
                events,
                child,
                ..
            } = self;
            tokio::select! {
                biased;
                event = next_event(fast, events) => match event {
                    Some(ApiEvent::Ready) => {
                        self.initialized = true;
                        self.init_duration = Some(self.started.elapsed());
                        self.wait_flush().await;
                        return None;
                    }
                    Some(ApiEvent::InitError { error_type, body }) => {
                        self.init_duration = Some(self.started.elapsed());
                        self.wait_flush().await;
                        self.kill();
                        return Some(Outcome::InitError { error_type, body });
                    }
                    // Answers before any invocation cannot happen (the server refuses them).
                    Some(_) => {}
                    None => return Some(self.exited().await),
                },
                status = child.wait() => {
                    return Some(self.exited_with(status));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.kill();
                    return Some(Outcome::InitTimedOut);
                }
            }
        }
    }

    /// Hands the invocation to the runtime; `Err` with the outcome when it could not take it
    /// (it exited, or `deadline` passed first). Then [`Environment::answer`].
    pub(crate) async fn send(
        &mut self,
        invocation: Invocation,
        deadline: Instant,
    ) -> Result<(), Outcome> {
        let deadline = tokio::time::Instant::from_std(deadline);
        match &mut self.fast {
            Some(fast) => {
                let child = &mut self.child;
                let sent = tokio::select! {
                    biased;
                    sent = fast.send(&invocation) => sent.is_ok(),
                    status = child.wait() => return Err(self.exited_with(status)),
                    _ = tokio::time::sleep_until(deadline) => {
                        self.kill();
                        return Err(Outcome::TimedOut);
                    }
                };
                if !sent {
                    return Err(self.exited().await);
                }
            }
            None => self.shared.deliver(invocation),
        }
        Ok(())
    }

    /// Counts an invocation written ahead (`fast.rs`) as begun: the runtime picked it up as
    /// it answered the one before. Then [`Environment::answer`].
    pub(crate) fn begun_ahead(&mut self) {
        self.begun += 1;
        // Its frame went out without `send`: the last answer's figures are not its own.
        if let Some(fast) = &mut self.fast {
            fast.forget_figures();
        }
    }

    /// Waits (briefly) until the log reader has written the `START` of the invocation written
    /// ahead that runs now: its begin marker came before its answer, and its `END` must come
    /// after.
    pub(crate) async fn wait_ahead_start(&mut self) {
        let number = self.begun;
        let waited =
            tokio::time::timeout(FLUSH_WAIT, self.started_ahead.wait_for(|n| *n >= number)).await;
        if !matches!(waited, Ok(Ok(_))) {
            self.flush_timeouts += 1;
        }
    }

    /// Waits until `deadline` for the answer to `request_id`.
    pub(crate) async fn answer(&mut self, request_id: &str, deadline: Instant) -> Outcome {
        let deadline = tokio::time::Instant::from_std(deadline);
        loop {
            let Self {
                fast,
                events,
                child,
                ..
            } = self;
            tokio::select! {
                biased;
                event = next_event(fast, events) => match event {
                    Some(ApiEvent::Response { request_id: id, body }) if id == request_id => {
                        // A quiet answer (`r` frame) has no flush marker before it.
                        if !self.fast.as_mut().is_some_and(FastChannel::take_quiet) {
                            self.wait_flush().await;
                        }
                        return Outcome::Response(body);
                    }
                    Some(ApiEvent::Error { request_id: id, error_type, body }) if id == request_id => {
                        self.wait_flush().await;
                        return Outcome::FunctionError { error_type, body };
                    }
                    Some(ApiEvent::ResponseTooLarge { request_id: id }) if id == request_id => {
                        if !self.fast.as_mut().is_some_and(FastChannel::take_quiet) {
                            self.wait_flush().await;
                        }
                        return Outcome::ResponseTooLarge;
                    }
                    Some(_) => {}
                    None => return self.exited().await,
                },
                status = child.wait() => {
                    return self.exited_with(status);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.kill();
                    return Outcome::TimedOut;
                }
            }
        }
    }

    async fn exited(&mut self) -> Outcome {
        // The fast channel closes a moment before the process is reaped; whatever it still
        // held is of no use now.
        self.fast = None;
        let status = self.child.wait().await;
        self.exited_with(status)
    }

    fn exited_with(&mut self, status: std::io::Result<ExitStatus>) -> Outcome {
        self.kill();
        Outcome::Exited(match status {
            Ok(status) => go_exit_status(status),
            Err(error) => format!("wait: {error}"),
        })
    }

    /// Kills the whole process group.
    pub(crate) fn kill(&mut self) {
        self.alive = false;
        self.status = None;
        self.schedstat = None;
        if let Some(pid) = self.pid.take() {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            self.groups.forget(pid.as_raw_nonzero().get() as u32);
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.tmp_dir);
    }
}

/// An exit status as Go's `os/exec` prints it, which is what Lambda's error messages contain.
/// What the runtime said next: on the fast channel when it speaks it, else from the Runtime
/// API server. `None` when the runtime is gone (or broke the channel's framing).
async fn next_event(
    fast: &mut Option<FastChannel>,
    events: &mut mpsc::UnboundedReceiver<ApiEvent>,
) -> Option<ApiEvent> {
    match fast {
        Some(channel) => match channel.recv().await {
            Ok(event) => Some(event),
            Err(error) => {
                if error.kind() != std::io::ErrorKind::UnexpectedEof {
                    tracing::warn!(%error, "the fast channel broke");
                }
                None
            }
        },
        None => events.recv().await,
    }
}

fn go_exit_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(signal) = status.signal() else {
        return "exit status unknown".to_owned();
    };
    let name = match signal {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        24 => "CPU time limit exceeded",
        25 => "file size limit exceeded",
        other => return format!("signal: signal {other}"),
    };
    format!("signal: {name}")
}

/// Whose output the process's lines are.
#[derive(Default)]
pub(crate) struct Attribution {
    /// The invocation running, as the platform last said.
    current: Option<String>,
    /// Invocations written ahead whose begin marker the reader has not met yet, with their
    /// numbers among those begun on the environment. (One is written ahead at a time, but the
    /// next may be written before the reader reaches the last one's marker, and one that
    /// writes nothing writes none.)
    ahead: std::collections::VecDeque<(String, u64)>,
}

struct LogTarget {
    function: String,
    version: slipway_model::function::Version,
    log_stream: String,
    request: Arc<Mutex<Attribution>>,
    /// How many invocations have ended (`Environment::end_log`).
    ended: watch::Receiver<u64>,
    /// The number of the last invocation written ahead whose `START` is written.
    started_ahead: watch::Sender<u64>,
}

async fn read_log(
    receiver: tokio::net::unix::pipe::Receiver,
    logs: Arc<Logs>,
    mut target: LogTarget,
    flushes: watch::Sender<u64>,
) {
    let mut reader = BufReader::new(receiver);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let mut flushed = false;
        if line.ends_with(FLUSH_MARKER) {
            line.truncate(line.len() - FLUSH_MARKER.len());
            flushed = true;
        }
        let mut begins = None;
        if !flushed
            && line.last() == Some(&0)
            && let Some(at) = line
                .windows(BEGIN_MARKER.len())
                .rposition(|w| w == BEGIN_MARKER)
        {
            let id = &line[at + BEGIN_MARKER.len()..line.len() - 1];
            begins = Some(String::from_utf8_lossy(id).into_owned());
            line.truncate(at);
        }
        if !((flushed || begins.is_some()) && line.is_empty()) {
            let request_id = target
                .request
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .current
                .clone();
            logs.push(LogRecord {
                timestamp_ms: now_ms(),
                function: target.function.clone(),
                version: target.version.clone(),
                log_stream: target.log_stream.clone(),
                request_id,
                message: String::from_utf8_lossy(&line).into_owned(),
            });
        }
        if flushed {
            flushes.send_modify(|n| *n += 1);
        }
        if let Some(request_id) = begins {
            begin_ahead(&logs, &mut target, request_id).await;
        }
    }
}

/// At a begin marker: once the invocation before has written its `REPORT`, the one written
/// ahead starts — its `START` line, then its output.
async fn begin_ahead(logs: &Logs, target: &mut LogTarget, request_id: String) {
    let number = {
        let mut attribution = target.request.lock().unwrap_or_else(|e| e.into_inner());
        let i = attribution
            .ahead
            .iter()
            .position(|(id, _)| *id == request_id);
        match i.and_then(|i| attribution.ahead.remove(i)) {
            Some((_, number)) => number,
            // Not one the platform wrote ahead (or whose START it wrote itself): its output
            // all the same.
            None => {
                attribution.current = Some(request_id);
                return;
            }
        }
    };
    // The invocation before ends whatever happens to it (an answer, a timeout, a kill), so
    // this wait ends too; when the environment is dropped first, the sender goes with it.
    let _ = target.ended.wait_for(|ended| *ended + 1 >= number).await;
    target
        .request
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .current = Some(request_id.clone());
    logs.push(LogRecord {
        timestamp_ms: now_ms(),
        function: target.function.clone(),
        version: target.version.clone(),
        log_stream: target.log_stream.clone(),
        message: format!("START RequestId: {request_id} Version: {}", target.version),
        request_id: Some(request_id),
    });
    target.started_ahead.send_replace(number);
}
