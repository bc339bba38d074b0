//! The executor: the I/O half of the state machine in the crate root.
//!
//! # Durability
//!
//! Each pipeline's [`PipelineState`] is one document of the state store
//! (`Collection::Pipelines`, target [`STATE_TARGET`], key = the pipeline's name), together with
//! the bookmarks of its triggers (the last revision each source was seen at) and the next
//! wake-up. Every event goes the same way, under the pipeline's lock:
//!
//! 1. load the document (and its generation),
//! 2. [`step`] it,
//! 3. **commit the new state** (compare-and-swap on the generation read),
//! 4. only then carry out the commands: start actions on worker threads, cancel abandoned
//!    ones, remember the wake-up.
//!
//! A worker that finishes feeds its result back as an event, so an action's result is durable
//! before anything that depends on it starts.
//!
//! # After a crash (`kill -9`)
//!
//! [`Executor::resume`] runs once at start. The work of every action the stored state shows
//! in progress was lost with the process; what happens to it:
//!
//! - **source, build, test and deploy actions are re-started** with the same attempt number:
//!   a source checks out the same commit again (recorded at start), a build runs again in a
//!   fresh workspace, and a deploy first waits for the stack operation the deploy engine
//!   resumed or rolled back on its own start, then deploys again (an update with nothing to
//!   change succeeds at once). All of them are repeatable, so the execution carries on as if
//!   the action had been slow.
//! - **manual approvals keep waiting**, with the same token; their deadline still counts.
//!
//! Nothing is lost: artefacts are in the content-addressed store before their action is
//! recorded as succeeded, and every execution with its history is in the document. A clean
//! shutdown ([`Executor::shutdown`], Ctrl-C) ends the same way on purpose: running actions are
//! cancelled and their outcome is not recorded, so they run again on the next start instead of
//! failing the execution.
//!
//! # Actions
//!
//! Actions reach the build and deploy engines through [`ActionRunner`]s (the server provides
//! them); the git source ([`crate::git::GitSource`]) lives in this crate. Manual approvals
//! need no runner: they wait for [`Executor::decide`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_model::pipeline::{Category, Pipeline, Provider};
use slipway_store::state::{Batch, Collection, StateError, StateStore};

use crate::{
    ActionResult, ActionStatus, ApprovalDecision, Command, Event, ExecutionStatus, ExecutionType,
    PipelineState, Position, RetryMode, SourceRevision, StartAction, StepError, StopMode,
    Timestamp, step,
};

/// The store target every pipeline document lives under.
pub const STATE_TARGET: &str = "local";

/// What runs one kind of action. `run` blocks until the action ends; it is called on a worker
/// thread of its own.
pub trait ActionRunner: Send + Sync {
    fn run(&self, job: &Job) -> ActionOutcome;
}

/// One action to run: the machine's [`StartAction`] with what else a runner needs.
#[derive(Clone, Debug)]
pub struct Job {
    pub pipeline: String,
    pub action: StartAction,
    /// The source revisions the execution was started with (a webhook's or the poller's
    /// commit); a source action fetches that revision rather than the branch's head.
    pub source_revisions: Vec<SourceRevision>,
    /// A fresh directory for this attempt of this action.
    pub work_dir: PathBuf,
    /// Set when the action is abandoned (stop-and-abandon, a timeout): a runner may stop early.
    pub cancel: Cancel,
}

/// A callback run when an action is cancelled.
type OnCancel = Box<dyn Fn() + Send + Sync>;

/// Cancellation of one action: a flag to look at, and callbacks (a build's own cancel token).
#[derive(Clone, Default)]
pub struct Cancel(Arc<(AtomicBool, Mutex<Vec<OnCancel>>)>);

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cancel").field(&self.is_cancelled()).finish()
    }
}

impl Cancel {
    pub fn cancel(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        for f in self.0.1.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            f();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.0.load(Ordering::SeqCst)
    }

    /// Runs `f` on cancellation (at once when already cancelled).
    pub fn on_cancel(&self, f: impl Fn() + Send + Sync + 'static) {
        if self.is_cancelled() {
            f();
        }
        self.0
            .1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionOutcome {
    Succeeded(ActionResult),
    Failed(String),
}

/// The runners by action category; a missing one fails its actions with a clear message.
#[derive(Clone, Default)]
pub struct Runners {
    pub source: Option<Arc<dyn ActionRunner>>,
    pub build: Option<Arc<dyn ActionRunner>>,
    pub deploy: Option<Arc<dyn ActionRunner>>,
    pub invoke: Option<Arc<dyn ActionRunner>>,
}

/// Told when a manual approval starts waiting (the first dispatch of an attempt, not a
/// restart's): the pipeline's name and the action, token and deadline included. The server
/// publishes CodePipeline's approval notification to the action's `NotificationArn`.
pub type ApprovalNotifier = Arc<dyn Fn(&str, &StartAction) + Send + Sync>;

/// The time, in milliseconds since the epoch (the server's injectable clock).
pub type NowFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// What the store keeps per pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineDoc {
    pub state: PipelineState,
    /// Per source action, the last revision a trigger started an execution for.
    #[serde(default)]
    pub seen: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wakeup: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("no pipeline '{0}'")]
    UnknownPipeline(String),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the stored pipeline '{name}' cannot be read")]
    Corrupt {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no action '{stage}.{action}' of pipeline '{pipeline}' is waiting for approval")]
    NoPendingApproval {
        pipeline: String,
        stage: String,
        action: String,
    },
}

/// Runs pipelines: persists each step, then carries out its commands.
pub struct Executor {
    store: Arc<dyn StateStore>,
    runners: Runners,
    now: NowFn,
    work_root: PathBuf,
    locks: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
    running: Mutex<BTreeMap<(String, String, String, u32), Cancel>>,
    /// Bumped after every commit; waiters (CLI progress, tests) watch it.
    changes: (Mutex<u64>, Condvar),
    /// Set by [`Executor::shutdown`]: no action starts, no result is recorded.
    stopping: AtomicBool,
    notifier: std::sync::OnceLock<ApprovalNotifier>,
}

impl Executor {
    /// `work_root`: where each action attempt gets its directory (`.slipway/pipelines/work`).
    pub fn new(
        store: Arc<dyn StateStore>,
        runners: Runners,
        now: NowFn,
        work_root: PathBuf,
    ) -> Arc<Executor> {
        Arc::new(Executor {
            store,
            runners,
            now,
            work_root,
            locks: Mutex::new(BTreeMap::new()),
            running: Mutex::new(BTreeMap::new()),
            changes: (Mutex::new(0), Condvar::new()),
            stopping: AtomicBool::new(false),
            notifier: std::sync::OnceLock::new(),
        })
    }

    /// Sets what is told when a manual approval starts waiting (once; later calls are ignored).
    pub fn on_approval(&self, f: ApprovalNotifier) {
        let _ = self.notifier.set(f);
    }

    fn lock(&self, name: &str) -> Arc<Mutex<()>> {
        let mut l = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        l.entry(name.to_owned()).or_default().clone()
    }

    fn now(&self) -> Timestamp {
        Timestamp((self.now)())
    }

    /// The stored document of a pipeline and its generation.
    pub fn load(&self, name: &str) -> Result<Option<(PipelineDoc, u64)>, ExecError> {
        load(self.store.as_ref(), name)
    }

    pub fn state(&self, name: &str) -> Result<PipelineState, ExecError> {
        self.load(name)?
            .map(|(d, _)| d.state)
            .ok_or_else(|| ExecError::UnknownPipeline(name.to_owned()))
    }

    /// Names of the stored pipelines, sorted.
    pub fn list(&self) -> Result<Vec<String>, ExecError> {
        list(self.store.as_ref())
    }

    /// Creates a pipeline, or updates its definition. A changed structure gets the next
    /// version (CodePipeline's `UpdatePipeline`); executions and history stay.
    pub fn define(&self, mut pipeline: Pipeline) -> Result<u32, ExecError> {
        let lock = self.lock(&pipeline.name);
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let name = pipeline.name.clone();
        let (doc, expected) = match self.load(&name)? {
            None => {
                pipeline.version = 1;
                let doc = PipelineDoc {
                    state: PipelineState::new(pipeline),
                    seen: BTreeMap::new(),
                    wakeup: None,
                };
                (doc, None)
            }
            Some((mut doc, g)) => {
                let old = &doc.state.pipeline;
                pipeline.version = old.version;
                if !same_structure(old, &pipeline) {
                    pipeline.version = old.version + 1;
                    // Slipway's choice: executions still running under the old structure are
                    // stopped (their positions index the old stages, and CodePipeline refuses
                    // to retry them under a new version anyway); locks and transitions start
                    // afresh from the new definition.
                    let now = self.now();
                    let reason =
                        format!("the pipeline was updated to version {}", pipeline.version);
                    for x in &mut doc.state.executions {
                        match x.status {
                            ExecutionStatus::InProgress | ExecutionStatus::Stopping => {
                                x.status = ExecutionStatus::Stopped;
                                x.position = Position::Finished;
                                x.stop_reason = Some(reason.clone());
                                x.ended_at = Some(now);
                                x.updated_at = now;
                            }
                            ExecutionStatus::Stopped
                            | ExecutionStatus::Succeeded
                            | ExecutionStatus::Superseded
                            | ExecutionStatus::Failed
                            | ExecutionStatus::Cancelled => {}
                        }
                    }
                    let fresh = PipelineState::new(pipeline.clone());
                    doc.state.locks = fresh.locks;
                    doc.state.transitions = fresh.transitions;
                }
                let version = pipeline.version;
                if doc.state.pipeline == pipeline {
                    return Ok(version);
                }
                doc.state.pipeline = pipeline;
                (doc, Some(g))
            }
        };
        let version = doc.state.pipeline.version;
        self.commit(&name, &doc, expected)?;
        Ok(version)
    }

    fn commit(
        &self,
        name: &str,
        doc: &PipelineDoc,
        expected: Option<u64>,
    ) -> Result<(), ExecError> {
        let value = serde_json::to_value(doc).map_err(|source| ExecError::Corrupt {
            name: name.to_owned(),
            source,
        })?;
        self.store.commit(Batch::new().put(
            Collection::Pipelines,
            STATE_TARGET,
            name,
            expected,
            value,
        ))?;
        let (m, cv) = &self.changes;
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_all();
        Ok(())
    }

    /// Applies one event: step, persist, then act.
    pub fn apply(self: &Arc<Self>, name: &str, event: &Event) -> Result<Vec<Command>, ExecError> {
        self.apply_with(name, event, |_| {})
    }

    fn apply_with(
        self: &Arc<Self>,
        name: &str,
        event: &Event,
        edit: impl FnOnce(&mut PipelineDoc),
    ) -> Result<Vec<Command>, ExecError> {
        let lock = self.lock(name);
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut doc, g) = self
            .load(name)?
            .ok_or_else(|| ExecError::UnknownPipeline(name.to_owned()))?;
        let (next, cmds) = step(&doc.state, event, self.now())?;
        doc.state = next;
        edit(&mut doc);
        for c in &cmds {
            if let Command::ScheduleWakeup { at } = c {
                doc.wakeup = Some(doc.wakeup.map_or(*at, |w| w.min(*at)));
            }
        }
        self.commit(name, &doc, Some(g))?;
        self.carry_out(name, &doc.state, &cmds, false);
        Ok(cmds)
    }

    fn carry_out(
        self: &Arc<Self>,
        name: &str,
        state: &PipelineState,
        cmds: &[Command],
        resumed: bool,
    ) {
        for c in cmds {
            match c {
                Command::StartAction(a) => self.dispatch(name, state, a, resumed),
                Command::AbandonAction {
                    execution_id,
                    stage,
                    action,
                    attempt,
                } => {
                    let key = (
                        execution_id.clone(),
                        stage.clone(),
                        action.clone(),
                        *attempt,
                    );
                    if let Some(c) = self
                        .running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&key)
                    {
                        c.cancel();
                    }
                }
                Command::ExecutionEnded {
                    execution_id,
                    status,
                } => {
                    tracing::info!(pipeline = name, execution = %execution_id, ?status, "execution ended");
                }
                Command::LockStage { .. }
                | Command::UnlockStage { .. }
                | Command::ScheduleWakeup { .. } => {}
            }
        }
    }

    /// Stops for a clean shutdown (Ctrl-C): the running actions are cancelled and their
    /// outcomes are *not* recorded, so the stored state still shows them in progress and the
    /// next start runs them again, as after a crash — an interrupted build must not fail the
    /// execution.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for c in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            c.cancel();
        }
    }

    fn dispatch(
        self: &Arc<Self>,
        name: &str,
        state: &PipelineState,
        a: &StartAction,
        resumed: bool,
    ) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let category = a.action_type_id.category;
        let runner = match (category, a.action_type_id.provider) {
            (Category::Approval, _) | (_, Provider::Manual) => {
                // An approval waits for a person; a restart does not notify again.
                if !resumed && let Some(f) = self.notifier.get() {
                    f(name, a);
                }
                return;
            }
            (Category::Source, _) => self.runners.source.clone(),
            (Category::Build | Category::Test, _) => self.runners.build.clone(),
            (Category::Deploy, _) => self.runners.deploy.clone(),
            (Category::Invoke, _) => self.runners.invoke.clone(),
        };
        let cancel = Cancel::default();
        let key = (
            a.execution_id.clone(),
            a.stage.clone(),
            a.action.clone(),
            a.attempt,
        );
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), cancel.clone());
        let job = Job {
            pipeline: name.to_owned(),
            source_revisions: state
                .execution(&a.execution_id)
                .map(|x| x.source_revisions.clone())
                .unwrap_or_default(),
            work_dir: self
                .work_root
                .join(name)
                .join(&a.execution_id)
                .join(format!("{}-{}-{}", a.stage, a.action, a.attempt)),
            action: a.clone(),
            cancel,
        };
        let me = self.clone();
        let name = name.to_owned();
        let spawned = std::thread::Builder::new()
            .name(format!("action {}", a.action))
            .spawn(move || {
                let outcome = match runner {
                    Some(r) => {
                        let _ = std::fs::remove_dir_all(&job.work_dir);
                        match std::fs::create_dir_all(&job.work_dir) {
                            Ok(()) => run_caught(r.as_ref(), &job),
                            Err(e) => ActionOutcome::Failed(format!(
                                "cannot create the action's workspace {}: {e}",
                                job.work_dir.display()
                            )),
                        }
                    }
                    None => ActionOutcome::Failed(format!(
                        "Slipway cannot run {} actions of provider {} here",
                        job.action.action_type_id.category.as_str(),
                        job.action.action_type_id.provider.as_str()
                    )),
                };
                me.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                let a = &job.action;
                if me.stopping.load(Ordering::SeqCst) {
                    tracing::info!(pipeline = %name, action = %a.action, "shutting down: the action runs again on the next start");
                    return;
                }
                let event = match outcome {
                    ActionOutcome::Succeeded(result) => Event::ActionSucceeded {
                        execution_id: a.execution_id.clone(),
                        stage: a.stage.clone(),
                        action: a.action.clone(),
                        result,
                    },
                    ActionOutcome::Failed(message) => Event::ActionFailed {
                        execution_id: a.execution_id.clone(),
                        stage: a.stage.clone(),
                        action: a.action.clone(),
                        message,
                    },
                };
                match me.apply(&name, &event) {
                    Ok(_) => {}
                    // Abandoned, superseded or stopped meanwhile: the result is refused.
                    Err(e @ ExecError::Step(_)) => {
                        tracing::info!(pipeline = %name, action = %a.action, error = %e, "action result not applied");
                    }
                    // The store failed: the action stays in progress until the next start
                    // runs it again (`resume`).
                    Err(e) => {
                        tracing::error!(pipeline = %name, action = %a.action, error = %e, "action result could not be stored; the action runs again on the next start");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start an action thread");
        }
    }

    /// Starts an execution. `revisions`: what a trigger saw (empty for a manual start: each
    /// source fetches its branch's head).
    pub fn start(
        self: &Arc<Self>,
        name: &str,
        revisions: Vec<SourceRevision>,
        variables: BTreeMap<String, String>,
    ) -> Result<String, ExecError> {
        let id = new_execution_id();
        let seen: Vec<(String, String)> = revisions
            .iter()
            .map(|r| (r.action_name.clone(), r.revision_id.clone()))
            .collect();
        self.apply_with(
            name,
            &Event::Start {
                execution_id: id.clone(),
                source_revisions: revisions,
                variables,
                execution_type: ExecutionType::Standard,
            },
            |doc| doc.seen.extend(seen),
        )?;
        Ok(id)
    }

    /// A trigger saw `revision` on `source_action`: starts an execution unless that revision
    /// already started one. Returns the new execution's ID.
    pub fn trigger(
        self: &Arc<Self>,
        name: &str,
        source_action: &str,
        revision: &str,
        summary: Option<String>,
    ) -> Result<Option<String>, ExecError> {
        let Some((doc, _)) = self.load(name)? else {
            return Err(ExecError::UnknownPipeline(name.to_owned()));
        };
        if doc.seen.get(source_action).map(String::as_str) == Some(revision) {
            return Ok(None);
        }
        let rev = SourceRevision {
            action_name: source_action.to_owned(),
            revision_id: revision.to_owned(),
            summary,
        };
        self.start(name, vec![rev], BTreeMap::new()).map(Some)
    }

    /// Records a trigger's bookmark without starting anything (a poller's first look).
    pub fn mark_seen(
        &self,
        name: &str,
        source_action: &str,
        revision: &str,
    ) -> Result<(), ExecError> {
        let lock = self.lock(name);
        let _g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let Some((mut doc, g)) = self.load(name)? else {
            return Err(ExecError::UnknownPipeline(name.to_owned()));
        };
        doc.seen
            .insert(source_action.to_owned(), revision.to_owned());
        self.commit(name, &doc, Some(g))
    }

    /// `PutApprovalResult` without the token: the approval of `stage.action` that is waiting
    /// now (in the execution holding the stage).
    pub fn decide(
        self: &Arc<Self>,
        name: &str,
        stage: &str,
        action: &str,
        decision: ApprovalDecision,
    ) -> Result<String, ExecError> {
        let state = self.state(name)?;
        let pending = state.executions.iter().rev().find_map(|x| {
            let Position::Running { stage: si } = x.position else {
                return None;
            };
            let s = x.stages.get(si).filter(|s| s.name == stage)?;
            let a = s
                .actions
                .iter()
                .find(|a| a.name == action && a.status == ActionStatus::InProgress)?;
            Some((x.id.clone(), a.token.clone()?))
        });
        let Some((execution_id, token)) = pending else {
            return Err(ExecError::NoPendingApproval {
                pipeline: name.to_owned(),
                stage: stage.to_owned(),
                action: action.to_owned(),
            });
        };
        self.apply(
            name,
            &Event::ApprovalResult {
                execution_id: execution_id.clone(),
                stage: stage.to_owned(),
                action: action.to_owned(),
                token,
                decision,
            },
        )?;
        Ok(execution_id)
    }

    pub fn retry(
        self: &Arc<Self>,
        name: &str,
        execution_id: &str,
        stage: &str,
        mode: RetryMode,
    ) -> Result<(), ExecError> {
        self.apply(
            name,
            &Event::Retry {
                execution_id: execution_id.to_owned(),
                stage: stage.to_owned(),
                mode,
            },
        )
        .map(|_| ())
    }

    pub fn stop(
        self: &Arc<Self>,
        name: &str,
        execution_id: &str,
        mode: StopMode,
        reason: Option<String>,
    ) -> Result<(), ExecError> {
        self.apply(
            name,
            &Event::Stop {
                execution_id: execution_id.to_owned(),
                mode,
                reason,
            },
        )
        .map(|_| ())
    }

    /// Fires due wake-ups (action and approval timeouts).
    pub fn tick(self: &Arc<Self>) -> Result<(), ExecError> {
        let now = self.now();
        for name in self.list()? {
            let Some((doc, _)) = self.load(&name)? else {
                continue;
            };
            if doc.wakeup.is_some_and(|w| w <= now) {
                self.apply_with(&name, &Event::Tick, |d| d.wakeup = None)?;
            }
        }
        Ok(())
    }

    /// After a start: re-dispatches what the stored states show in progress (see the module
    /// essay for what that means for each kind of action).
    pub fn resume(self: &Arc<Self>) -> Result<usize, ExecError> {
        let mut n = 0;
        for name in self.list()? {
            let Some((doc, _)) = self.load(&name)? else {
                continue;
            };
            let cmds = doc.state.resume();
            n += cmds
                .iter()
                .filter(|c| matches!(c, Command::StartAction(_)))
                .count();
            self.carry_out(&name, &doc.state, &cmds, true);
        }
        Ok(n)
    }

    /// Waits (at most `timeout`) until `done` holds for the pipeline's state; the last state
    /// seen either way.
    pub fn wait_until(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(&PipelineState) -> bool,
    ) -> Result<(bool, PipelineState), ExecError> {
        let deadline = std::time::Instant::now() + timeout;
        let (m, cv) = &self.changes;
        let mut seen = *m.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let st = self.state(name)?;
            if done(&st) {
                return Ok((true, st));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok((false, st));
            }
            let g = m.lock().unwrap_or_else(|e| e.into_inner());
            let (g, _) = cv
                .wait_timeout_while(g, left.min(Duration::from_millis(200)), |v| *v == seen)
                .unwrap_or_else(|e| e.into_inner());
            seen = *g;
        }
    }
}

/// Runs an action, turning a panic of its runner into a failure of the action. Without this a
/// runner that panics (a bug, an unexpected input) ends its worker thread with no result, and
/// the action shows `InProgress` forever with nothing behind it — one way a deploy could look
/// stuck before it reached the engine.
fn run_caught(r: &dyn ActionRunner, job: &Job) -> ActionOutcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.run(job))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            ActionOutcome::Failed(format!(
                "Slipway's {} runner panicked: {why}",
                job.action.action_type_id.provider.as_str()
            ))
        }
    }
}

/// Whether an execution has come to rest: ended, waiting in front of a stage another
/// execution holds (or whose transition is disabled), or every in-progress action is a manual
/// approval waiting for a person.
pub fn settled(state: &PipelineState, execution_id: &str) -> bool {
    let Some(x) = state.execution(execution_id) else {
        return false;
    };
    match x.status {
        ExecutionStatus::InProgress | ExecutionStatus::Stopping => {}
        ExecutionStatus::Stopped
        | ExecutionStatus::Succeeded
        | ExecutionStatus::Superseded
        | ExecutionStatus::Failed
        | ExecutionStatus::Cancelled => return true,
    }
    let si = match x.position {
        Position::Running { stage } => stage,
        Position::Waiting { .. } => return true,
        Position::Halted { .. } | Position::Finished => return true,
    };
    let Some(defs) = state.pipeline.stages.get(si).map(|s| &s.actions) else {
        return false;
    };
    let running: Vec<_> = x.stages[si]
        .actions
        .iter()
        .zip(defs)
        .filter(|(a, _)| a.status == ActionStatus::InProgress)
        .collect();
    !running.is_empty()
        && running
            .iter()
            .all(|(_, d)| d.action_type_id.provider == Provider::Manual)
}

/// Reads one pipeline document from a store (also for read-only CLI verbs).
pub fn load(store: &dyn StateStore, name: &str) -> Result<Option<(PipelineDoc, u64)>, ExecError> {
    let Some(v) = store.get_doc(Collection::Pipelines, STATE_TARGET, name)? else {
        return Ok(None);
    };
    let doc = serde_json::from_value(v.value).map_err(|source| ExecError::Corrupt {
        name: name.to_owned(),
        source,
    })?;
    Ok(Some((doc, v.generation)))
}

/// Names of the pipelines in a store, sorted.
pub fn list(store: &dyn StateStore) -> Result<Vec<String>, ExecError> {
    Ok(store
        .list_docs(Collection::Pipelines, STATE_TARGET)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// The structure, for versioning: stages and actions as CodePipeline compares them.
fn same_structure(a: &Pipeline, b: &Pipeline) -> bool {
    let strip = |p: &Pipeline| {
        let mut p = p.clone();
        p.version = 0;
        serde_json::to_value(&p).unwrap_or_default()
    };
    strip(a) == strip(b)
}

/// CodePipeline's execution IDs are UUIDs.
pub fn new_execution_id() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}
