//! [`Runtime`]: registered function versions → pools of execution environments, and the
//! [`Invoker`] that runs one invocation on one environment at a time.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_model::invoke::{
    FunctionError, InvocationType, InvokeError, InvokeFuture, InvokeRequest, InvokeResponse,
    Invoker,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::api::Invocation;
use crate::clock::{Clock, SystemClock};
use crate::env::{Attribution, Environment, Launch, Outcome, SpawnArgs};
use crate::fast::{self, AheadWriter};
use crate::groups::Groups;
use crate::logs::{DEFAULT_LOG_CAPACITY, LogRecord, LogSink, Logs, now_ms, rfc3339_ms};
use crate::metrics::{Minute, Recorder};
use crate::python::{self, Interpreters, PythonConfig};
use crate::sdk::{self, PythonSdk};

/// Synchronous invoke payload limit (6 MB).
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// Asynchronous (`Event`) invoke payload limit (1 MB, as the live `Invoke` reference says).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// How the runtime behaves; every field has a default suited to a developer machine.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Where the bootstrap is written and environments get their private `TMPDIR`.
    pub work_dir: PathBuf,
    /// Concurrency cap of a function without `ReservedConcurrentExecutions`.
    pub default_concurrency: u32,
    /// How long an invoke beyond the cap waits for a free environment before 429.
    pub throttle_wait: Duration,
    /// An environment unused this long is reaped (Lambda: minutes; default 10 min).
    pub idle_timeout: Duration,
    /// Init phase cap (Lambda: 10 s).
    pub init_timeout: Duration,
    pub python: PythonConfig,
    /// Enforce `MemorySize` with `RLIMIT_AS` (plus `memory_headroom_mb`) and a peak-RSS check.
    pub enforce_memory: bool,
    pub memory_headroom_mb: u32,
    /// Variables the platform gives every function (`AWS_ENDPOINT_URL`, credentials), under the
    /// function's own `Environment`.
    pub extra_env: BTreeMap<String, String>,
    pub log_capacity: usize,
    pub log_sink: Option<Arc<dyn LogSink>>,
    pub clock: Arc<dyn Clock>,
    /// The built-in Python bootstrap talks to the platform over the fast channel (`fast.rs`)
    /// rather than the Runtime API (which stays served). On by default; off measures the
    /// Runtime API path.
    pub fast_channel: bool,
    /// Local serving's *target concurrency* (`None`: off, Lambda's rule). See
    /// [`Runtime::set_target_concurrency`].
    pub target_concurrency: Option<u32>,
    /// How long an invoke held back by the target concurrency waits for a warm environment
    /// before it takes another one, as Lambda would (and the longest recent average duration
    /// for which it is held back at all).
    pub target_wait: Duration,
    /// Make each function's code directory read-only to it, as `/var/task` is on Lambda, in a
    /// private mount namespace where the system allows one (`limits.rs` says what each case
    /// gives). On by default.
    pub read_only_code: bool,
}

impl RuntimeConfig {
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Self {
            work_dir: work_dir.into(),
            default_concurrency: 10,
            throttle_wait: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(600),
            init_timeout: Duration::from_secs(10),
            python: PythonConfig::default(),
            enforce_memory: true,
            memory_headroom_mb: 64,
            extra_env: BTreeMap::new(),
            log_capacity: DEFAULT_LOG_CAPACITY,
            log_sink: None,
            clock: Arc::new(SystemClock::default()),
            fast_channel: true,
            target_concurrency: None,
            target_wait: Duration::from_millis(25),
            read_only_code: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot create the runtime directory {}", path.display())]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the Python bootstrap to {}", path.display())]
    Bootstrap {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Counters and durations of one function version, for alarms and the console.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionMetrics {
    pub invocations: u64,
    /// Invocations that ended with a function error (including timeouts and crashes).
    pub errors: u64,
    pub throttles: u64,
    pub timeouts: u64,
    pub cold_starts: u64,
    pub duration_ms_total: f64,
    pub duration_ms_max: f64,
    pub init_duration_ms_total: f64,
    /// Invocations in flight now, and the most seen at once.
    pub concurrent: u32,
    pub max_concurrent: u32,
    /// Environments alive now (idle or busy).
    pub environments: u32,
    /// Times the built-in bootstrap's log did not reach the platform before `END` (should be 0).
    pub log_flush_timeouts: u64,
    /// Invocations whose frame was written ahead on a busy environment (`fast.rs`).
    pub written_ahead: u64,
}

/// A function version is known by where it lives and its name: two targets (accounts or
/// regions) may each have a `hello`, and they are different functions.
type Key = (Location, String, Version);

struct Pool {
    spec: FunctionSpec,
    launch: Result<Arc<Launch>, LaunchError>,
    permits: Arc<Semaphore>,
    idle: Mutex<Idle>,
    metrics: Mutex<FunctionMetrics>,
    /// The last hour by minute (`metrics.rs`).
    minutes: Recorder,
}

/// The environments of a pool that are not running an invocation, and what the target
/// concurrency needs to know (all under one lock, so that an invoke that decides to wait is
/// queued before any environment can come back).
#[derive(Default)]
struct Idle {
    /// Last used on top (reused first), so that environments beyond the need go stale and
    /// are reaped.
    envs: Vec<Environment>,
    /// Invocations running on an environment now (not those waiting for one).
    running: u32,
    /// Invokes held back by the target concurrency, oldest first: an environment that comes
    /// back goes to the first one still waiting, and one that goes on with the frame written
    /// ahead on it takes the first one's frame ahead in turn.
    waiters: VecDeque<Waiter>,
    /// Moving averages over recent warm invocations, once there is one.
    profile: Option<Profile>,
    /// Environments running an invocation that can take frames ahead (`fast.rs`): an invoke
    /// held back writes its frame on the one with the fewest ahead instead of waiting for any
    /// environment to come back. An entry lasts until its environment goes idle or dies.
    busy: Vec<Busy>,
    /// Invokes whose frame is written ahead on the environment with this ID, waiting for it,
    /// in the order they were written.
    ahead: Vec<(u64, oneshot::Sender<Handoff>)>,
}

/// Frames written ahead on one environment at most. One is enough for a busy environment
/// not to sleep between invocations most of the time; deeper queues (2 and 4 were measured
/// with `scripts/bench-gateway`'s set-up) put the environments to sleep less still but cost
/// more than they saved, and leave more invokes behind a slow one.
const MAX_AHEAD: usize = 1;

/// An invoke held back by the target concurrency.
struct Waiter {
    handed: oneshot::Sender<Handed>,
    request_id: String,
    /// Its frame, to write ahead on an environment that takes the next one (none: too large).
    frame: Option<fast::AheadFrame>,
}

/// What a waiting invoke is handed.
enum Handed {
    /// An environment, idle now.
    Env(Environment),
    /// Its frame was written ahead on an environment, which comes when the invocation before
    /// ends.
    Ahead(oneshot::Receiver<Handoff>),
}

/// An environment running an invocation, as an invoke written ahead on it needs it.
struct Busy {
    env_id: u64,
    writer: Arc<AheadWriter>,
    log: Arc<Mutex<Attribution>>,
    /// Frames written ahead and not handed over yet.
    queued: usize,
    /// The number the next frame written ahead gets among the invocations begun on the
    /// environment.
    next_number: u64,
}

/// What an invoke written ahead gets when the invocation before it on that environment ends.
enum Handoff {
    /// The environment, already running it.
    Started(Environment),
    /// The environment is gone. `maybe_started`: the invocation before had answered, so this
    /// one may have begun before the environment was killed (it is not run again).
    Lost { maybe_started: bool },
}

/// How an invoke gets its environment.
enum Taken {
    /// An idle one, or one handed over after a wait; `None`: start one.
    Ready(Option<Environment>),
    /// One already running it: its frame was written ahead.
    Ahead(Environment),
    /// Its frame was written ahead on an environment that died after it may have begun.
    Killed,
}

/// Exponentially weighted averages (weight 1/8 per invocation).
///
/// The CPU side is a ratio of averages, not an average of ratios: the platform reads an
/// environment's runnable time when it reads an answer, and for a frame written ahead the
/// runtime began before that read (it took the frame the moment it answered the previous
/// one), so one invocation's window may catch part of the next one's work. Consecutive
/// windows tile the environment's time, and summed over a few invocations the two figures
/// agree.
#[derive(Clone, Copy, Debug)]
struct Profile {
    /// Wall time per invocation: the built-in bootstrap's own figure (from taking the frame to
    /// answering, `fast.rs`), else the platform's.
    duration_us: f64,
    /// Time per invocation its environment was runnable (on CPU or queued for one); 0 when
    /// unknown.
    runnable_us: f64,
}

impl Profile {
    const WEIGHT: f64 = 0.125;

    fn update(previous: Option<Profile>, duration: Duration, cpu: Option<Duration>) -> Profile {
        let duration_us = duration.as_secs_f64() * 1e6;
        let runnable_us = cpu.map_or(0.0, |cpu| cpu.as_secs_f64() * 1e6);
        match previous {
            None => Profile {
                duration_us,
                runnable_us,
            },
            Some(p) => Profile {
                duration_us: p.duration_us + Self::WEIGHT * (duration_us - p.duration_us),
                runnable_us: p.runnable_us + Self::WEIGHT * (runnable_us - p.runnable_us),
            },
        }
    }

    /// The share of an invocation's wall time its environment was runnable.
    fn cpu_share(&self) -> f64 {
        if self.duration_us > 0.0 {
            (self.runnable_us / self.duration_us).min(1.0)
        } else {
            0.0
        }
    }

    /// Whether an invocation that ends with `running` of its function's invocations running
    /// (itself counted) teaches the profile. Those that ran beside at most `target` of their
    /// own do: the many environments of a spill compete for the cores, which makes a CPU-bound
    /// handler look like one that waits. A spill teaches it too while it has no answer yet or
    /// says "do not wait" — else a function under load from its first invocations on (16
    /// connections at once after `slipway serve --warm 2`) would spill for ever, since no
    /// invocation would ever run with few enough beside it to teach otherwise.
    fn learns_from(profile: Option<&Profile>, target: u32, running: u32, wait: Duration) -> bool {
        target == 0 || running <= target || !profile.is_some_and(|p| p.worth_waiting(wait))
    }

    /// Short and CPU-bound: another environment would compete for the same cores, and a
    /// busy one comes back soon.
    fn worth_waiting(&self, target_wait: Duration) -> bool {
        self.cpu_share() >= 0.5 && self.duration_us < target_wait.as_secs_f64() * 1e6
    }
}

#[derive(Clone, Debug)]
enum LaunchError {
    /// Not a runtime Slipway runs: `InvalidRuntimeException`.
    Unsupported(String),
    /// A `python3.x` runtime without a local interpreter.
    NoInterpreter(String),
}

impl Pool {
    fn metrics(&self) -> std::sync::MutexGuard<'_, FunctionMetrics> {
        self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Inner {
    config: RuntimeConfig,
    bootstrap_path: PathBuf,
    tmp_root: PathBuf,
    groups: Arc<Groups>,
    interpreters: Interpreters,
    pools: Mutex<BTreeMap<Key, Arc<Pool>>>,
    logs: Arc<Logs>,
    next_env: AtomicU64,
    /// [`RuntimeConfig::target_concurrency`], changeable live; 0 is off.
    target_concurrency: AtomicU32,
    /// The SDK directory per interpreter (`sdk.rs`), found or installed once per runtime.
    sdk_dirs: Mutex<BTreeMap<PathBuf, Arc<tokio::sync::OnceCell<Option<PathBuf>>>>>,
    /// Still trying to make code directories read-only (`limits::ReadOnlyCode`).
    read_only_code: std::sync::atomic::AtomicBool,
}

/// The function runtime. Cheap to clone (a handle); the gateway and control plane hold it as
/// `Arc<dyn Invoker>`.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// Creates the work directory and writes the built-in bootstrap into it.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let work_dir = config.work_dir.clone();
        let tmp_root = work_dir.join("tmp");
        for dir in [&work_dir, &tmp_root] {
            std::fs::create_dir_all(dir).map_err(|source| RuntimeError::WorkDir {
                path: dir.clone(),
                source,
            })?;
        }
        // Execution environments a crashed predecessor left behind are stopped, and their
        // private `TMPDIR`s (named `env-1`, … again by this runtime) cleared (`groups.rs`).
        let groups = Groups::new(&work_dir).map_err(|source| RuntimeError::WorkDir {
            path: work_dir.join("groups"),
            source,
        })?;
        let sweep = groups.sweep();
        if sweep.killed > 0 {
            tracing::info!(
                killed = sweep.killed,
                "stopped execution environments left by a previous run"
            );
        }
        if !sweep.others_running {
            for entry in std::fs::read_dir(&tmp_root).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let bootstrap_path = work_dir.join("slipway_bootstrap.py");
        let current = std::fs::read_to_string(&bootstrap_path).ok();
        if current.as_deref() != Some(python::BOOTSTRAP_PY) {
            std::fs::write(&bootstrap_path, python::BOOTSTRAP_PY).map_err(|source| {
                RuntimeError::Bootstrap {
                    path: bootstrap_path.clone(),
                    source,
                }
            })?;
        }
        let read_only_code = config.read_only_code;
        let logs = Arc::new(Logs::new(config.log_capacity, config.log_sink.clone()));
        let config_target = config.target_concurrency.unwrap_or(0);
        Ok(Self {
            inner: Arc::new(Inner {
                interpreters: Interpreters::new(config.python.clone()),
                config,
                bootstrap_path,
                tmp_root,
                groups: Arc::new(groups),
                pools: Mutex::new(BTreeMap::new()),
                logs,
                next_env: AtomicU64::new(1),
                target_concurrency: AtomicU32::new(config_target),
                sdk_dirs: Mutex::new(BTreeMap::new()),
                read_only_code: std::sync::atomic::AtomicBool::new(read_only_code),
            }),
        })
    }

    fn pools(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Arc<Pool>>> {
        self.inner.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers (or replaces) one function version. Environments of a replaced spec finish
    /// their current invocation and are not reused.
    pub fn register(&self, spec: FunctionSpec) {
        let launch = self.launch_for(&spec).map(Arc::new);
        let cap = spec
            .reserved_concurrency
            .unwrap_or(self.inner.config.default_concurrency);
        let pool = Arc::new(Pool {
            launch,
            permits: Arc::new(Semaphore::new(cap as usize)),
            idle: Mutex::new(Idle::default()),
            metrics: Mutex::new(FunctionMetrics::default()),
            minutes: Recorder::default(),
            spec,
        });
        let key = (
            pool.spec.location.clone(),
            pool.spec.name.clone(),
            pool.spec.version.clone(),
        );
        self.pools().insert(key, pool);
    }

    /// Removes a function version (the only one of that name: see [`Runtime::pool_at`]) and
    /// stops its idle environments.
    pub fn unregister(&self, function: &str, version: &Version) -> bool {
        self.unregister_at(None, function, version)
    }

    /// Removes the function version of `location` (any, when `None` and the name is unique).
    pub fn unregister_at(
        &self,
        location: Option<&Location>,
        function: &str,
        version: &Version,
    ) -> bool {
        let mut pools = self.pools();
        let Some(key) = find_key(&pools, location, function, version) else {
            return false;
        };
        pools.remove(&key).is_some()
    }

    fn launch_for(&self, spec: &FunctionSpec) -> Result<Launch, LaunchError> {
        let config = &self.inner.config;
        let memory_limit_bytes = config
            .enforce_memory
            .then(|| u64::from(spec.memory_mb + config.memory_headroom_mb) * 1024 * 1024);
        let runtime = spec.runtime.as_str();
        if python::SUPPORTED.contains(&runtime) {
            let interpreter = self
                .inner
                .interpreters
                .resolve(runtime)
                .ok_or_else(|| LaunchError::NoInterpreter(runtime.to_owned()))?;
            let mut env = BTreeMap::from([(
                "AWS_EXECUTION_ENV".to_owned(),
                format!("AWS_Lambda_{runtime}"),
            )]);
            // Compiled bytecode goes under the work directory, never into the code directory
            // (which on Lambda is read-only, so no `__pycache__` appears there either).
            env.insert(
                "_SLIPWAY_PYCACHE".to_owned(),
                config.work_dir.join("pycache").display().to_string(),
            );
            let layers = python::layer_paths(&spec.layers, runtime, &config.python.runtime_paths);
            if !layers.is_empty() {
                env.insert("_SLIPWAY_PYTHONPATH".to_owned(), layers);
            }
            let version = self
                .inner
                .interpreters
                .version(runtime)
                .unwrap_or_else(|| runtime.trim_start_matches("python").to_owned());
            return Ok(Launch {
                sdk: (config.python.sdk != PythonSdk::Off).then_some(version),
                program: interpreter,
                args: vec![self.inner.bootstrap_path.clone()],
                builtin: true,
                fast: config.fast_channel,
                env,
                memory_limit_bytes,
            });
        }
        if matches!(runtime, "provided" | "provided.al2" | "provided.al2023") {
            return Ok(Launch {
                program: spec.code_dir.join("bootstrap"),
                args: Vec::new(),
                builtin: false,
                fast: false,
                sdk: None,
                env: BTreeMap::new(),
                memory_limit_bytes,
            });
        }
        Err(LaunchError::Unsupported(runtime.to_owned()))
    }

    fn pool(&self, function: &str, version: &Version) -> Option<Arc<Pool>> {
        self.pool_at(None, function, version)
    }

    /// The pool of `function`/`version` in `location`; with `None`, the one pool of that name
    /// and version when there is exactly one (a runtime serving one target: `slipway serve`,
    /// `slipway invoke`). A name registered in several locations needs its location.
    fn pool_at(
        &self,
        location: Option<&Location>,
        function: &str,
        version: &Version,
    ) -> Option<Arc<Pool>> {
        let pools = self.pools();
        let key = find_key(&pools, location, function, version)?;
        pools.get(&key).cloned()
    }

    /// Metrics of one function version (the only one of that name).
    pub fn metrics(&self, function: &str, version: &Version) -> Option<FunctionMetrics> {
        self.metrics_at(None, function, version)
    }

    /// Metrics of one function version of `location`.
    pub fn metrics_at(
        &self,
        location: Option<&Location>,
        function: &str,
        version: &Version,
    ) -> Option<FunctionMetrics> {
        self.pool_at(location, function, version)
            .map(|p| p.metrics().clone())
    }

    /// The last hour of one function version by minute ([`crate::metrics`]), oldest first;
    /// only minutes with invocations.
    pub fn minutes_at(
        &self,
        location: Option<&Location>,
        function: &str,
        version: &Version,
    ) -> Option<Vec<Minute>> {
        self.pool_at(location, function, version)
            .map(|p| p.minutes.snapshot(now_ms()))
    }

    /// The kept log records of one function version, oldest first.
    pub fn logs(&self, function: &str, version: &Version) -> Vec<LogRecord> {
        self.inner.logs.snapshot(function, version)
    }

    /// Stops environments idle for at least `idle_timeout` by the configured clock; returns how
    /// many. [`Runtime::spawn_reaper`] calls it periodically; tests call it after advancing a
    /// [`crate::ManualClock`].
    pub fn reap_idle(&self) -> usize {
        let now = self.inner.config.clock.now();
        let timeout = self.inner.config.idle_timeout;
        let pools: Vec<Arc<Pool>> = self.pools().values().cloned().collect();
        let mut reaped = 0;
        for pool in pools {
            let stale: Vec<Environment> = {
                let mut idle = pool.idle();
                let (stale, keep) = idle
                    .envs
                    .drain(..)
                    .partition(|env| now.saturating_sub(env.last_used) >= timeout);
                idle.envs = keep;
                stale
            };
            if !stale.is_empty() {
                pool.metrics().environments -= stale.len() as u32;
                reaped += stale.len();
            }
        }
        reaped
    }

    /// Runs [`Runtime::reap_idle`] every `every` on the current tokio runtime.
    pub fn spawn_reaper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let runtime = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                runtime.reap_idle();
            }
        })
    }

    /// Starts execution environments of a registered function version ahead of any invoke,
    /// as Lambda's provisioned concurrency does (`AWS_LAMBDA_INITIALIZATION_TYPE` is
    /// `provisioned-concurrency` in them, and no `REPORT` shows their init): each runs its init
    /// and waits idle, until the pool holds `n` idle environments or the function's concurrency
    /// cap is reached. Returns how many it started; an environment whose init fails is
    /// reported as the error (its log has the init error), and none after it is started.
    pub async fn prewarm(
        &self,
        function: &str,
        version: &Version,
        n: usize,
    ) -> Result<usize, InvokeError> {
        let pool = self
            .pool(function, version)
            .ok_or_else(|| InvokeError::NotFound {
                function: function.to_owned(),
            })?;
        let Ok(mut launch) = pool.launch.as_deref().cloned() else {
            return Err(InvokeError::InvalidRuntime {
                message: format!("The runtime of {function} cannot be started"),
            });
        };
        launch.env.insert(
            "AWS_LAMBDA_INITIALIZATION_TYPE".to_owned(),
            "provisioned-concurrency".to_owned(),
        );
        let cap = pool
            .spec
            .reserved_concurrency
            .unwrap_or(self.inner.config.default_concurrency) as usize;
        let mut started = 0;
        while pool.idle().envs.len() < n.min(cap) {
            // Held during init, so that a prewarm never runs beside more invokes than the cap.
            let Ok(_permit) = pool.permits.clone().try_acquire_owned() else {
                break;
            };
            let env_id = self.inner.next_env.fetch_add(1, Ordering::Relaxed);
            let config = &self.inner.config;
            let sdk_dir = self.sdk_dir(&launch).await;
            let mut env = Environment::spawn(SpawnArgs {
                spec: &pool.spec,
                launch: &launch,
                sdk_dir: sdk_dir.as_deref(),
                read_only_code: &self.inner.read_only_code,
                work_dir: &self.inner.config.work_dir,
                env_id,
                tmp_root: &self.inner.tmp_root,
                groups: &self.inner.groups,
                extra_env: &config.extra_env,
                logs: self.inner.logs.clone(),
            })
            .await
            .map_err(|error| InvokeError::InvalidRuntime {
                message: format!(
                    "cannot start an execution environment: {}",
                    error_chain(&error)
                ),
            })?;
            if let Some(outcome) = env.ensure_initialized(config.init_timeout).await {
                let request_id = new_request_id();
                let stream = env.log_stream.clone();
                let (_, error_type) = self.failure(&pool.spec, &stream, &request_id, outcome);
                return Err(InvokeError::InvalidRuntime {
                    message: format!(
                        "the init of {function} failed ({error_type}); its log has the details"
                    ),
                });
            }
            if let Some(init) = env.init_duration.take() {
                pool.metrics().init_duration_ms_total += init.as_secs_f64() * 1000.0;
            }
            {
                let mut m = pool.metrics();
                m.environments += 1;
            }
            env.last_used = config.clock.now();
            pool.idle().envs.push(env);
            started += 1;
        }
        Ok(started)
    }

    /// The directory with `boto3` for environments of `launch` (`sdk.rs`): looked up (or
    /// installed) by the first cold start that needs it, then remembered, failure included.
    async fn sdk_dir(&self, launch: &Launch) -> Option<PathBuf> {
        let version = launch.sdk.as_ref()?;
        let cell = self
            .inner
            .sdk_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(launch.program.clone())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let sdk = self.inner.config.python.sdk.clone();
            let (interpreter, version) = (launch.program.clone(), version.clone());
            let found = tokio::task::spawn_blocking(move || {
                sdk::ensure(&sdk, &interpreter, &version)
            })
            .await;
            match found {
                Ok(Ok(dir)) => dir,
                Ok(Err(error)) => {
                    tracing::warn!(
                        error = %error_chain(&error),
                        "boto3 is not provided to python functions: {}; functions that import it need it in their code or a layer (or set {}=off, or to a directory that holds it)",
                        error_chain(&error),
                        sdk::SDK_VAR,
                    );
                    None
                }
                Err(_) => None,
            }
        })
        .await
        .clone()
    }

    /// Every registered function version, in name order.
    pub fn functions(&self) -> Vec<(String, Version)> {
        self.pools()
            .keys()
            .map(|(_, f, v)| (f.clone(), v.clone()))
            .collect()
    }

    /// Number of idle environments of one function version.
    pub fn idle_environments(&self, function: &str, version: &Version) -> usize {
        self.pool(function, version)
            .map_or(0, |p| p.idle().envs.len())
    }

    /// Local serving's *target concurrency* (`None` or 0: off). Lambda gives every concurrent
    /// invocation its own execution environment, up to the concurrency cap; on a developer
    /// machine with a few cores, a short CPU-bound handler served at many connections then
    /// runs in as many processes competing for those cores, and each invocation costs more
    /// CPU (context switches, cold caches). With a target of `n`, an invoke that finds `n`
    /// invocations of its function running, when the function's recent invocations are
    /// CPU-bound (their environments were runnable — on CPU or queued for it — for at least half their
    /// wall time) and on
    /// average shorter than [`RuntimeConfig::target_wait`], waits up to `target_wait` for
    /// one of those environments to come back and runs on it. Otherwise, or when the wait
    /// runs out, it takes an idle or new environment as Lambda would. One invocation per
    /// environment at a time still holds, and so does the concurrency cap; the
    /// `ConcurrentExecutions` metric still counts waiting invokes.
    pub fn set_target_concurrency(&self, target: Option<u32>) {
        self.inner
            .target_concurrency
            .store(target.unwrap_or(0), Ordering::Relaxed);
    }

    /// Stops every environment.
    pub fn shutdown(&self) {
        let pools: Vec<Arc<Pool>> = std::mem::take(&mut *self.pools()).into_values().collect();
        for pool in pools {
            let mut idle = pool.idle();
            idle.envs.clear();
            idle.waiters.clear();
        }
        self.inner.logs.flush();
    }

    fn log(&self, spec: &FunctionSpec, stream: &str, request_id: &str, message: String) {
        self.inner.logs.push(LogRecord {
            timestamp_ms: now_ms(),
            function: spec.name.clone(),
            version: spec.version.clone(),
            log_stream: stream.to_owned(),
            request_id: Some(request_id.to_owned()),
            message,
        });
    }

    async fn invoke_request(&self, request: InvokeRequest) -> Result<InvokeResponse, InvokeError> {
        let pool = self
            .pool_at(
                request.location.as_ref(),
                &request.function,
                &request.version,
            )
            .ok_or_else(|| InvokeError::NotFound {
                function: match &request.qualifier {
                    Some(q) => format!("{}:{q}", request.function),
                    None => request.function.clone(),
                },
            })?;
        let (limit, operation) = match request.invocation_type {
            InvocationType::Event => (MAX_ASYNC_PAYLOAD, "Invoke"),
            _ => (MAX_SYNC_PAYLOAD, "Invoke"),
        };
        if request.payload.len() > limit {
            return Err(InvokeError::RequestTooLarge { limit, operation });
        }
        if !request.payload.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&request.payload).is_err()
        {
            return Err(InvokeError::InvalidRequestContent {
                reason: "the payload is not valid JSON".to_owned(),
            });
        }
        let launch = match &pool.launch {
            Ok(launch) => launch.clone(),
            Err(LaunchError::Unsupported(runtime)) => {
                return Err(InvokeError::InvalidRuntime {
                    message: format!(
                        "The runtime parameter of {runtime} is not supported by Slipway"
                    ),
                });
            }
            Err(LaunchError::NoInterpreter(runtime)) => {
                return Err(InvokeError::InvalidRuntime {
                    message: format!(
                        "No local Python interpreter for {runtime}: install {runtime} or python3, or map it in the runtime configuration"
                    ),
                });
            }
        };
        let client_context = match &request.client_context {
            None => None,
            Some(encoded) => Some(
                BASE64
                    .decode(encoded)
                    .ok()
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .ok_or_else(|| InvokeError::InvalidRequestContent {
                        reason: "Client context must be a valid Base64-encoded JSON object"
                            .to_owned(),
                    })?,
            ),
        };
        match request.invocation_type {
            InvocationType::DryRun => {
                return Ok(InvokeResponse {
                    payload: Bytes::new(),
                    function_error: None,
                    executed_version: request.version,
                    log_result: None,
                    request_id: new_request_id(),
                });
            }
            InvocationType::Event => {
                let request_id = new_request_id();
                let runtime = self.clone();
                let id = request_id.clone();
                let version = request.version.clone();
                tokio::spawn(async move {
                    // Async invokes queue instead of being throttled.
                    let permit = pool.permits.clone().acquire_owned().await;
                    if let Ok(permit) = permit {
                        runtime
                            .run(&pool, &launch, &request, client_context, id, permit)
                            .await;
                    }
                });
                return Ok(InvokeResponse {
                    payload: Bytes::new(),
                    function_error: None,
                    executed_version: version,
                    log_result: None,
                    request_id,
                });
            }
            InvocationType::RequestResponse => {}
        }
        let wait = self.inner.config.throttle_wait;
        let permit = match tokio::time::timeout(wait, pool.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                pool.metrics().throttles += 1;
                return Err(InvokeError::TooManyRequests {
                    reason: "ReservedFunctionConcurrentInvocationLimitExceeded".to_owned(),
                });
            }
        };
        let request_id = new_request_id();
        // On a task of its own: a caller that goes away (a client that hangs up, a gateway
        // timeout) does not cancel the invocation — on Lambda it runs to its end — and the
        // pool's books (`running`, the environment) are settled by `run` whatever the caller
        // does. Dropped halfway, the environment would be lost mid-invocation and its
        // `running` count never given back, so that the target concurrency held every later
        // invoke back for its whole wait.
        let runtime = self.clone();
        tokio::spawn(async move {
            runtime
                .run(&pool, &launch, &request, client_context, request_id, permit)
                .await
        })
        .await
        .map_err(|e| InvokeError::Service {
            message: format!("the invocation failed: {e}"),
        })
    }

    /// Runs one invocation on an idle or new environment.
    async fn run(
        &self,
        pool: &Pool,
        launch: &Launch,
        request: &InvokeRequest,
        client_context: Option<String>,
        request_id: String,
        permit: OwnedSemaphorePermit,
    ) -> InvokeResponse {
        let spec = &pool.spec;
        {
            let mut m = pool.metrics();
            m.invocations += 1;
            m.concurrent += 1;
            m.max_concurrent = m.max_concurrent.max(m.concurrent);
        }
        let (payload, function_error, env, used) = self
            .run_on_env(pool, launch, request, client_context, &request_id)
            .await;
        {
            let mut m = pool.metrics();
            m.concurrent -= 1;
            if function_error.is_some() {
                m.errors += 1;
            }
        }
        self.give_back(pool, env, used);
        drop(permit);
        let log_result = request.log_tail.then(|| {
            let lines = self
                .inner
                .logs
                .of_request(&spec.name, &spec.version, &request_id);
            let text = lines.join("\n") + "\n";
            BASE64.encode(last_bytes(&text, 4096))
        });
        InvokeResponse {
            payload,
            function_error,
            executed_version: request.version.clone(),
            log_result,
            request_id,
        }
    }

    /// An environment for one invocation: an idle one, or (under the target concurrency) one
    /// that runs it after the invocation it runs now (its frame written ahead, `fast.rs`), or
    /// one that another invocation gives back, or none (start one). Counts the invocation as
    /// running.
    async fn take_env(&self, pool: &Pool, invocation: &Invocation, timeout: Duration) -> Taken {
        let target = self.inner.target_concurrency.load(Ordering::Relaxed);
        let wait = self.inner.config.target_wait;
        loop {
            let waiting = {
                let mut idle = pool.idle();
                let hold = target > 0
                    && idle.running >= target
                    && idle.profile.is_some_and(|p| p.worth_waiting(wait));
                if !hold {
                    idle.running += 1;
                    return Taken::Ready(idle.envs.pop());
                }
                let frame = fast::AheadFrame::new(invocation, timeout.as_millis() as u64);
                let written = match frame {
                    Some(frame) => Self::write_ahead(&mut idle, &invocation.request_id, frame),
                    None => Err(None),
                };
                match written {
                    Ok(started) => Err(started),
                    Err(frame) => {
                        let (tx, rx) = oneshot::channel();
                        idle.waiters.push_back(Waiter {
                            handed: tx,
                            request_id: invocation.request_id.clone(),
                            frame,
                        });
                        Ok(rx)
                    }
                }
            };
            let mut handed = match waiting {
                Ok(handed) => handed,
                Err(started) => match Self::when_ahead_starts(pool, started).await {
                    Some(taken) => return taken,
                    None => continue,
                },
            };
            // Handed over, the environment counts as running still (`give_back`).
            let got = match tokio::time::timeout(wait, &mut handed).await {
                Ok(Ok(got)) => Some(got),
                Ok(Err(_)) => None,
                Err(_) => {
                    // Run out: as Lambda would, unless something was handed over just now.
                    // Closed under the pool's lock, under which `give_back` writes a frame
                    // ahead only for a waiter that is still open, and hands it over.
                    let mut idle = pool.idle();
                    handed.close();
                    match handed.try_recv() {
                        Ok(got) => Some(got),
                        Err(_) => {
                            idle.running += 1;
                            return Taken::Ready(idle.envs.pop());
                        }
                    }
                }
            };
            match got {
                Some(Handed::Env(env)) => return Taken::Ready(Some(env)),
                Some(Handed::Ahead(started)) => {
                    match Self::when_ahead_starts(pool, started).await {
                        Some(taken) => return taken,
                        None => continue,
                    }
                }
                // The environment that would have come died: start one.
                None => {
                    let mut idle = pool.idle();
                    idle.running += 1;
                    return Taken::Ready(idle.envs.pop());
                }
            }
        }
    }

    /// Waits for the environment an invoke's frame was written ahead on; `None`: the frame
    /// never began (the environment died first), so the invoke starts over.
    async fn when_ahead_starts(pool: &Pool, started: oneshot::Receiver<Handoff>) -> Option<Taken> {
        pool.metrics().written_ahead += 1;
        // Handed over, the environment counts as running still.
        match started.await {
            Ok(Handoff::Started(env)) => Some(Taken::Ahead(env)),
            Ok(Handoff::Lost {
                maybe_started: true,
            }) => {
                pool.idle().running += 1;
                Some(Taken::Killed)
            }
            // Never begun: as if it had just come.
            Ok(Handoff::Lost { .. }) | Err(_) => None,
        }
    }

    /// Writes the frame of invocation `request_id` ahead on the busy environment with the
    /// fewest frames ahead (the longest-running of those), if one takes it; then the hand-off
    /// comes when the invocation before it there ends. Under the pool's lock, so that the environment cannot
    /// come back meanwhile. `Err` gives the frame back when no environment had room (the
    /// invoke waits with it, for [`Runtime::refill`]), and none when it could not be written.
    ///
    /// A frame written ahead cannot be taken back: the invoke waits for that environment
    /// however long the invocation before runs (up to its timeout), where one held back as
    /// usual would start an environment of its own after the target wait. Both happen only
    /// for a function whose profile says short and CPU-bound.
    fn write_ahead(
        idle: &mut Idle,
        request_id: &str,
        frame: fast::AheadFrame,
    ) -> Result<oneshot::Receiver<Handoff>, Option<fast::AheadFrame>> {
        let Some(busy) = idle
            .busy
            .iter_mut()
            .filter(|b| b.queued < MAX_AHEAD)
            .min_by_key(|b| b.queued)
        else {
            return Err(Some(frame));
        };
        Self::write_frame(busy, &mut idle.ahead, request_id, &frame).ok_or(None)
    }

    /// Writes `frame`, the invocation `request_id`'s, ahead on `busy`; the hand-off to wait
    /// for, or `None` when it could not be written (the channel broke, which the invocation
    /// running there will find out).
    fn write_frame(
        busy: &mut Busy,
        ahead: &mut Vec<(u64, oneshot::Sender<Handoff>)>,
        request_id: &str,
        frame: &fast::AheadFrame,
    ) -> Option<oneshot::Receiver<Handoff>> {
        Environment::expect_ahead(&busy.log, request_id, busy.next_number);
        if busy.writer.write(frame).is_err() {
            // Nothing is ahead after all.
            Environment::forget_ahead(&busy.log, request_id);
            return None;
        }
        busy.queued += 1;
        busy.next_number += 1;
        let (tx, rx) = oneshot::channel();
        ahead.push((busy.env_id, tx));
        Some(rx)
    }

    /// `busy` goes on with the frame written ahead on it: the first waiter that can go ahead
    /// has its frame written there in turn, so that the environment finds its next invocation
    /// when it answers this one instead of sleeping until the platform brings one. Waiters
    /// that gave up are dropped on the way; one too large to go ahead keeps its place.
    fn refill(idle: &mut Idle, b: usize) {
        while idle.busy[b].queued < MAX_AHEAD {
            let Some(i) = idle
                .waiters
                .iter()
                .position(|w| w.frame.is_some() || w.handed.is_closed())
            else {
                return;
            };
            let Some(waiter) = idle.waiters.remove(i) else {
                return;
            };
            let Some(frame) = waiter.frame.filter(|_| !waiter.handed.is_closed()) else {
                continue;
            };
            let Some(started) = Self::write_frame(
                &mut idle.busy[b],
                &mut idle.ahead,
                &waiter.request_id,
                &frame,
            ) else {
                // The channel broke: the waiter waits on for another environment.
                idle.waiters.insert(
                    i,
                    Waiter {
                        frame: None,
                        ..waiter
                    },
                );
                return;
            };
            // Open, and it cannot close meanwhile (it closes under the pool's lock). Were its
            // task dropped (the runtime shutting down), the frame would run for no one, and
            // its hand-off, refused, ends the environment (`give_back`).
            let _ = waiter.handed.send(Handed::Ahead(started));
        }
    }

    /// Tells every invoke written ahead on environment `env_id` that it is gone.
    fn lose_ahead(idle: &mut Idle, env_id: u64, maybe_started: bool) {
        idle.busy.retain(|b| b.env_id != env_id);
        let mut i = 0;
        while i < idle.ahead.len() {
            if idle.ahead[i].0 == env_id {
                let (_, next) = idle.ahead.remove(i);
                let _ = next.send(Handoff::Lost { maybe_started });
            } else {
                i += 1;
            }
        }
    }

    /// The end of an invocation on `env` (none: it could not start): the environment goes to
    /// the invoke written ahead on it, or to the first invoke waiting for one, or back to the
    /// idle stack, or (dead) away.
    fn give_back(&self, pool: &Pool, env: Option<Environment>, used: Option<Used>) {
        let answered = used.as_ref().is_some_and(|u| u.answered);
        let mut idle = pool.idle();
        // The first invoke written ahead on this environment, if any; when there is none, the
        // environment is busy no more.
        let ahead = env.as_ref().and_then(|env| {
            let next = idle
                .ahead
                .iter()
                .position(|(id, _)| *id == env.id)
                .map(|i| idle.ahead.remove(i).1);
            match (&next, idle.busy.iter().position(|b| b.env_id == env.id)) {
                (Some(_), Some(b)) if env.is_alive() => {
                    idle.busy[b].queued -= 1;
                    Self::refill(&mut idle, b);
                }
                (_, Some(b)) => {
                    idle.busy.swap_remove(b);
                }
                (_, None) => {}
            }
            next
        });
        let target = self.inner.target_concurrency.load(Ordering::Relaxed);
        if let Some(used) = used
            && Profile::learns_from(
                idle.profile.as_ref(),
                target,
                idle.running,
                self.inner.config.target_wait,
            )
        {
            idle.profile = Some(Profile::update(idle.profile, used.duration, used.cpu));
        }
        match env {
            Some(mut env) if env.is_alive() => {
                env.last_used = self.inner.config.clock.now();
                if let Some(next) = ahead {
                    if let Err(Handoff::Started(mut env)) = next.send(Handoff::Started(env)) {
                        // Its invoke is gone (the runtime shuts down): the frame ahead would
                        // run for no one.
                        env.kill();
                        Self::lose_ahead(&mut idle, env.id, true);
                        idle.running -= 1;
                        drop(idle);
                        pool.metrics().environments -= 1;
                    }
                    return;
                }
                while let Some(waiter) = idle.waiters.pop_front() {
                    match waiter.handed.send(Handed::Env(env)) {
                        Ok(()) => return,
                        Err(Handed::Env(back)) => env = back,
                        Err(Handed::Ahead(_)) => unreachable!("sent an environment"),
                    }
                }
                idle.running -= 1;
                idle.envs.push(env);
            }
            dead => {
                idle.running -= 1;
                if let Some(next) = ahead {
                    // Every frame written ahead on it is lost; those after the first may have
                    // begun too if the first had (they run without a pause).
                    let _ = next.send(Handoff::Lost {
                        maybe_started: answered,
                    });
                    if let Some(env) = &dead {
                        Self::lose_ahead(&mut idle, env.id, answered);
                    }
                } else {
                    // A waiter expecting this one starts its own now rather than when its wait
                    // runs out.
                    idle.waiters.pop_front();
                }
                drop(idle);
                if dead.is_some() {
                    pool.metrics().environments -= 1;
                }
            }
        }
    }

    async fn run_on_env(
        &self,
        pool: &Pool,
        launch: &Launch,
        request: &InvokeRequest,
        client_context: Option<String>,
        request_id: &str,
    ) -> (
        Bytes,
        Option<FunctionError>,
        Option<Environment>,
        Option<Used>,
    ) {
        let spec = &pool.spec;
        let config = &self.inner.config;
        let timeout = Duration::from_secs(u64::from(spec.timeout_secs));
        let invoked_function_arn = match &request.qualifier {
            Some(q) => spec.qualified_arn(q),
            None => spec.arn(),
        };
        let mut invocation = Invocation {
            request_id: request_id.to_owned(),
            deadline_ms: 0,
            invoked_function_arn,
            trace_id: request.trace_id.clone().unwrap_or_else(new_trace_id),
            client_context,
            cognito_identity: request.cognito_identity.clone(),
            payload: request.payload.clone(),
        };
        let (reused, ahead) = match self.take_env(pool, &invocation, timeout).await {
            Taken::Ready(env) => (env, false),
            Taken::Ahead(env) => (Some(env), true),
            Taken::Killed => {
                let (payload, _) = self.failure(
                    spec,
                    "",
                    request_id,
                    Outcome::Exited("signal: killed".to_owned()),
                );
                pool.minutes.record(now_ms(), None, true, false);
                return (payload, Some(FunctionError::Unhandled), None, None);
            }
        };
        let mut env = match reused {
            Some(env) => env,
            None => {
                let env_id = self.inner.next_env.fetch_add(1, Ordering::Relaxed);
                let sdk_dir = self.sdk_dir(launch).await;
                let spawned = Environment::spawn(SpawnArgs {
                    spec,
                    launch,
                    sdk_dir: sdk_dir.as_deref(),
                    read_only_code: &self.inner.read_only_code,
                    work_dir: &self.inner.config.work_dir,
                    env_id,
                    tmp_root: &self.inner.tmp_root,
                    groups: &self.inner.groups,
                    extra_env: &config.extra_env,
                    logs: self.inner.logs.clone(),
                })
                .await;
                match spawned {
                    Ok(env) => {
                        let mut m = pool.metrics();
                        m.cold_starts += 1;
                        m.environments += 1;
                        env
                    }
                    Err(error) => {
                        tracing::warn!(function = %spec.name, error = %error_chain(&error), "cannot start an execution environment");
                        let body = serde_json::json!({
                            "errorMessage": format!("RequestId: {request_id} Error: {}", error_chain(&error)),
                            "errorType": "Runtime.InvalidEntrypoint",
                        });
                        pool.minutes.record(now_ms(), None, true, false);
                        return (
                            Bytes::from(body.to_string()),
                            Some(FunctionError::Unhandled),
                            None,
                            None,
                        );
                    }
                }
            }
        };
        let stream = env.log_stream.clone();
        if ahead {
            // Begun already; the log reader wrote its `START` at the bootstrap's begin marker.
            env.begun_ahead();
        } else {
            env.begin_log(request_id);
        }
        if let Some(outcome) = env.ensure_initialized(config.init_timeout).await {
            let init_ms = env
                .init_duration
                .unwrap_or(config.init_timeout)
                .as_secs_f64()
                * 1000.0;
            let (payload, error_type) = self.failure(spec, &stream, request_id, outcome);
            self.log(
                spec,
                &stream,
                request_id,
                format!(
                    "INIT_REPORT Init Duration: {init_ms:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}"
                ),
            );
            env.end_log(request_id);
            pool.minutes.record(now_ms(), None, true, true);
            return (payload, Some(FunctionError::Unhandled), Some(env), None);
        }
        let init_duration = env.init_duration.take();
        if let Some(init) = init_duration {
            pool.metrics().init_duration_ms_total += init.as_secs_f64() * 1000.0;
        }
        if !ahead {
            self.log(
                spec,
                &stream,
                request_id,
                format!("START RequestId: {request_id} Version: {}", spec.version),
            );
        }
        // The profile's CPU side is read only when the target concurrency is on: two preads
        // per invocation that Lambda-style serving does not need.
        let profiled = self.inner.target_concurrency.load(Ordering::Relaxed) > 0;
        // One written ahead began when the runtime answered the one before.
        let (started, cpu_before) = match env.last_answer.take() {
            Some((at, cpu)) if ahead => (at, cpu),
            _ => (
                Instant::now(),
                if profiled { env.runnable_time() } else { None },
            ),
        };
        let deadline = started + timeout;
        // While it runs, an invoke held back may write its frame ahead on it.
        let takes_ahead = profiled && invocation.payload.len() <= fast::MAX_AHEAD_BYTES;
        let sent = if ahead {
            Ok(())
        } else {
            invocation.deadline_ms = now_ms() + timeout.as_millis() as u64;
            env.send(invocation, deadline).await
        };
        let outcome = match sent {
            Ok(()) => {
                // (One written ahead keeps the entry its environment has.)
                if takes_ahead
                    && !ahead
                    && let Some(writer) = env.ahead()
                {
                    let (log, next_number) = env.ahead_log();
                    pool.idle().busy.push(Busy {
                        env_id: env.id,
                        writer,
                        log,
                        queued: 0,
                        next_number,
                    });
                }
                env.answer(request_id, deadline).await
            }
            Err(outcome) => outcome,
        };
        let answered = matches!(
            outcome,
            Outcome::Response(_) | Outcome::FunctionError { .. } | Outcome::ResponseTooLarge
        );
        let duration = started.elapsed();
        let cpu_after = if profiled { env.runnable_time() } else { None };
        if answered {
            env.last_answer = Some((Instant::now(), cpu_after));
        }
        let used = Used {
            answered,
            // The bootstrap's own figure, without the time its answer waited for the platform
            // (only an answer carries one).
            duration: env.busy_time().filter(|_| answered).unwrap_or(duration),
            cpu: cpu_before
                .zip(cpu_after)
                .map(|(before, after)| after.saturating_sub(before)),
        };
        if ahead {
            if env.claim_start(request_id) {
                // No output (a quiet answer), so no begin marker: the `START` is ours.
                self.log(
                    spec,
                    &stream,
                    request_id,
                    format!("START RequestId: {request_id} Version: {}", spec.version),
                );
            } else if env.is_alive() {
                env.wait_ahead_start().await;
            }
        }
        let max_memory = env.max_memory_bytes();
        let limit = u64::from(spec.memory_mb) * 1024 * 1024;
        let out_of_memory = matches!(&outcome, Outcome::FunctionError { error_type: Some(t), .. } if t == "MemoryError")
            || max_memory.is_some_and(|used| used > limit);
        let out_of_memory = out_of_memory && !matches!(outcome, Outcome::TimedOut);
        if out_of_memory {
            env.kill();
        }
        let status = match &outcome {
            Outcome::TimedOut => Some("timeout"),
            Outcome::Exited(_) => Some("error"),
            _ if out_of_memory => Some("error"),
            _ => None,
        };
        let (payload, function_error) = if out_of_memory {
            let body = serde_json::json!({
                "errorMessage": format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
                "errorType": "Runtime.OutOfMemory",
            });
            (
                Bytes::from(body.to_string()),
                Some(FunctionError::Unhandled),
            )
        } else {
            match outcome {
                Outcome::Response(body) => (body, None),
                other => {
                    let (payload, _) = self.failure(spec, &stream, request_id, other);
                    (payload, Some(FunctionError::Unhandled))
                }
            }
        };
        if status == Some("timeout") {
            pool.metrics().timeouts += 1;
        }
        {
            let mut m = pool.metrics();
            let ms = duration.as_secs_f64() * 1000.0;
            m.duration_ms_total += ms;
            m.duration_ms_max = m.duration_ms_max.max(ms);
        }
        pool.minutes.record(
            now_ms(),
            Some(duration.as_secs_f64() * 1000.0),
            function_error.is_some(),
            init_duration.is_some(),
        );
        self.log(
            spec,
            &stream,
            request_id,
            format!("END RequestId: {request_id}"),
        );
        let ms = duration.as_secs_f64() * 1000.0;
        let mut report = format!(
            "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            ms.ceil().max(1.0) as u64,
            spec.memory_mb,
            max_memory.map_or(0, |b| b.div_ceil(1024 * 1024)),
        );
        if let Some(init) = init_duration {
            report.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        if let Some(status) = status {
            report.push_str(&format!("\tStatus: {status}"));
        }
        if out_of_memory {
            report.push_str("\tError Type: Runtime.OutOfMemory");
        }
        self.log(spec, &stream, request_id, report);
        env.end_log(request_id);
        pool.metrics().log_flush_timeouts += env.take_flush_timeouts();
        (payload, function_error, Some(env), Some(used))
    }

    /// The payload and error type of an outcome that is not a response.
    fn failure(
        &self,
        spec: &FunctionSpec,
        stream: &str,
        request_id: &str,
        outcome: Outcome,
    ) -> (Bytes, String) {
        let synthesized = |error_type: &str, message: String| {
            let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
            (Bytes::from(body.to_string()), error_type.to_owned())
        };
        match outcome {
            Outcome::Response(body) => (body, String::new()),
            Outcome::FunctionError { error_type, body }
            | Outcome::InitError { error_type, body } => {
                let error_type = error_type.unwrap_or_else(|| "Unhandled".to_owned());
                if body.is_empty() {
                    synthesized(&error_type, String::new())
                } else {
                    (body, error_type)
                }
            }
            Outcome::ResponseTooLarge => synthesized(
                "Function.ResponseSizeTooLarge",
                format!(
                    "Response payload size exceeded maximum allowed payload size ({} bytes).",
                    crate::api::MAX_RESPONSE_BYTES
                ),
            ),
            Outcome::InitTimedOut => synthesized(
                "Runtime.Unknown",
                format!(
                    "RequestId: {request_id} Error: Init phase did not finish within {:.2} seconds",
                    self.inner.config.init_timeout.as_secs_f64()
                ),
            ),
            Outcome::Exited(status) => synthesized(
                "Runtime.ExitError",
                format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
            ),
            Outcome::TimedOut => {
                let message = format!(
                    "{} {request_id} Task timed out after {:.2} seconds",
                    rfc3339_ms(now_ms()),
                    f64::from(spec.timeout_secs)
                );
                self.log(spec, stream, request_id, message.clone());
                synthesized("Sandbox.Timedout", message)
            }
        }
    }
}

/// What one invocation took: wall time and the time its environment was runnable.
struct Used {
    /// It ended with an answer of the runtime's (a response or an error), not a timeout or an
    /// exit.
    answered: bool,
    duration: Duration,
    cpu: Option<Duration>,
}

impl Invoker for Runtime {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture<'_> {
        Box::pin(self.invoke_request(request))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The last `n` bytes of `text`, cut at a character boundary.
fn last_bytes(text: &str, n: usize) -> &str {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A random UUID (version 4), as Lambda request ids are.
/// The key of `function`/`version` in `location`, or of the only one of that name and version.
fn find_key(
    pools: &BTreeMap<Key, Arc<Pool>>,
    location: Option<&Location>,
    function: &str,
    version: &Version,
) -> Option<Key> {
    match location {
        Some(l) => {
            let key = (l.clone(), function.to_owned(), version.clone());
            pools.contains_key(&key).then_some(key)
        }
        None => {
            let mut matching = pools
                .keys()
                .filter(|(_, f, v)| f == function && v == version);
            let first = matching.next()?.clone();
            matching.next().is_none().then_some(first)
        }
    }
}

pub fn new_request_id() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0xC << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// An X-Ray trace header for an invocation that came without one.
fn new_trace_id() -> String {
    format!(
        "Root=1-{:08x}-{:012x}{:012x};Parent={:016x};Sampled=0",
        now_ms() / 1000,
        fastrand::u64(..) & 0xFFFF_FFFF_FFFF,
        fastrand::u64(..) & 0xFFFF_FFFF_FFFF,
        fastrand::u64(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_learns_from_a_spill_only_until_it_holds_invokes_back() {
        let wait = Duration::from_millis(25);
        let holds = Profile {
            duration_us: 500.0,
            runnable_us: 450.0,
        };
        let spills = Profile {
            duration_us: 500.0,
            runnable_us: 100.0,
        };
        // Off, or few enough beside it: always.
        assert!(Profile::learns_from(Some(&holds), 0, 16, wait));
        assert!(Profile::learns_from(Some(&holds), 2, 2, wait));
        // Sixteen on two: only while the profile is missing or lets invokes spill.
        assert!(Profile::learns_from(None, 2, 16, wait));
        assert!(Profile::learns_from(Some(&spills), 2, 16, wait));
        assert!(!Profile::learns_from(Some(&holds), 2, 16, wait));
    }

    #[test]
    fn the_profile_of_windows_that_overlap_the_next_invocation_sums_them() {
        // A CPU-bound handler of 40 µs whose answers wait 30 µs to be read, each frame written
        // ahead: the platform's windows catch 10, then 70 µs of its work, in turn.
        let mut profile = None;
        for i in 0..64 {
            let runnable = if i % 2 == 0 { 10 } else { 70 };
            profile = Some(Profile::update(
                profile,
                Duration::from_micros(40),
                Some(Duration::from_micros(runnable)),
            ));
        }
        let profile = profile.unwrap();
        assert!(profile.cpu_share() > 0.9, "{profile:?}");
        assert!(profile.worth_waiting(Duration::from_millis(25)));
        // A handler that sleeps: runnable for a tenth of its time.
        let mut profile = None;
        for _ in 0..64 {
            profile = Some(Profile::update(
                profile,
                Duration::from_millis(2),
                Some(Duration::from_micros(200)),
            ));
        }
        assert!(!profile.unwrap().worth_waiting(Duration::from_millis(25)));
        // Unknown CPU: never held back.
        let unknown = Profile::update(None, Duration::from_micros(40), None);
        assert!(!unknown.worth_waiting(Duration::from_millis(25)));
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }

    #[test]
    fn cuts_at_char_boundary() {
        assert_eq!(last_bytes("aé", 1), "");
        assert_eq!(last_bytes("abc", 2), "bc");
    }
}
