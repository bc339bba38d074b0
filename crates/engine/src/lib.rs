//! Slipway's deploy engine with I/O: the executor that carries out the pure core's plans
//! ([`slipway_deploy`]) durably, through local resource providers, and the deployment driver
//! that moves aliases under CodeDeploy schedules.
//!
//! # Durability
//!
//! Every stack operation is a journal entry ([`Operation`], `Collection::Journal`) holding the
//! plan, what the template wants, and where the operation is (phase, step, and the step that
//! is running). The executor commits "step k is about to run" (with the step's first events)
//! **before** calling the provider, then the step's result, the stack's new resources and the
//! journal's next position in one atomic batch. On start, [`Engine::resume`] finds entries in
//! progress: one stopped *between* steps carries on; one stopped *inside* a step (the provider
//! may or may not have acted) fails that step and rolls back, as CloudFormation does when a
//! resource's outcome is unknown. Deployments (`Collection::Deployments`) persist each state
//! of [`slipway_deploy::traffic::Deployment`] before carrying out its actions; every wait is a
//! deadline in that state, so a restart resumes with the exact remaining wait.
//!
//! # Time, hooks, metrics
//!
//! One injectable [`Clock`]; [`Engine::tick`] fires what is due (shift steps, hook timeouts) and
//! evaluates alarms over [`Metrics`]. Hook functions are invoked through
//! [`slipway_model::invoke::Invoker`] (asynchronously, `InvocationType: Event`), and answer with
//! [`Engine::put_lifecycle_event_hook_execution_status`]. [`Hooks`] tells the runtime and the
//! gateway what changed, after each commit.

pub mod clock;
mod delivery;
mod exec;
pub mod providers;
pub mod resolve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use clock::{Anchor, Clock, ClockError, ManualClock, MonotonicWall, ScaledClock, SystemClock};
pub use exec::{DeployRequest, Desired, OpPhase, Operation, OperationReport, OutputSpec};
pub use providers::{Notice, ResourceProvider, Target};
use slipway_deploy::alarm::Sample;
use slipway_deploy::lambda::LambdaError;
use slipway_deploy::plan::PlanError;
use slipway_deploy::stack::StackError;
use slipway_deploy::traffic::DeploymentError;
use slipway_model::diag::Diagnostic;
use slipway_model::function::FunctionSpec;
use slipway_model::invoke::Invoker;
use slipway_store::state::{StateError, StateStore};

/// What the runtime and the gateway implement to learn about changes (called after commit).
pub trait Hooks: Send + Sync {
    /// A function's `$LATEST` or a published version was created or changed.
    fn function_changed(&self, _spec: &FunctionSpec) {}
    fn function_deleted(&self, _target: &str, _function: &str) {}
    /// An alias's version or weights changed.
    fn alias_changed(&self, _target: &str, _function: &str, _alias: &str) {}
    /// A REST or HTTP API's routes, stages or deployments changed.
    fn routes_changed(&self, _target: &str, _api: &str) {}
}

/// Nobody to tell.
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The runtime's metrics, for alarm evaluation (`AWS/Lambda` `Errors`, `Invocations`, …).
pub trait Metrics: Send + Sync {
    /// Samples of `namespace`/`metric` in `target` (`account/region`: metrics, like the
    /// functions they measure, belong to one target) whose dimensions include `dimensions`, in
    /// `[from, to)`.
    fn samples(
        &self,
        target: &str,
        namespace: &str,
        metric: &str,
        dimensions: &BTreeMap<String, String>,
        from_ms: u64,
        to_ms: u64,
    ) -> Vec<Sample>;
}

/// No metrics: alarms see missing data.
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn samples(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &BTreeMap<String, String>,
        _: u64,
        _: u64,
    ) -> Vec<Sample> {
        Vec::new()
    }
}

/// An injectable fault: the executor stops as a crash would, leaving the store as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stop before step `step` (a plan index) is recorded as about to run.
    BeforeStep { step: usize },
    /// Stop after step `step` is recorded as about to run, before the provider acts.
    InsideStep { step: usize },
    /// The provider of resource `logical_id` fails with `reason` (creates and updates).
    FailResource { logical_id: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the template has {} error(s); the first: {}", diagnostics.len(), diagnostics.first().map_or("", |d| d.message.as_str()))]
    Template { diagnostics: Vec<Diagnostic> },
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Provider(#[from] providers::ProviderError),
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    #[error("No updates are to be performed.")]
    NoChanges { stack: String },
    #[error("target '{target}' is not of the form ACCOUNT/REGION (111111111111/us-east-1)")]
    BadTarget { target: String },
    #[error("the stored {what} '{key}' cannot be read")]
    Corrupt {
        what: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("operation {operation} stopped at step {step} (injected fault)")]
    Interrupted { operation: String, step: usize },
    #[error("Deployment {id} does not exist")]
    DeploymentNotFound { id: String },
    #[error("operation {id} does not exist")]
    OperationNotFound { id: String },
}

/// What an [`Engine`] is made of.
pub struct EngineParts {
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    /// Where S3 buckets, code and layers live.
    pub data_dir: PathBuf,
    pub hooks: Arc<dyn Hooks>,
    pub invoker: Arc<dyn Invoker>,
    pub metrics: Arc<dyn Metrics>,
}

/// The executor and the deployment driver over one state store.
pub struct Engine {
    store: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
    hooks: Arc<dyn Hooks>,
    invoker: Arc<dyn Invoker>,
    metrics: Arc<dyn Metrics>,
    faults: Mutex<Vec<Fault>>,
    /// Notices of steps not committed yet: handed to [`Hooks`] after the next commit.
    pending: Mutex<Vec<(String, Notice)>>,
    /// Operations being driven now (a deployment ending inside a step must not re-enter).
    driving: Mutex<std::collections::BTreeSet<String>>,
    /// Whether the next [`Engine::tick`] looks for operations waiting on an ended deployment
    /// (reading every live journal entry, plan and template included, is not for every tick).
    /// Set at start, when a wake-up could not drive an operation (it was being driven: its
    /// deployment ended inside its own step), and when a wake-up failed.
    wake: std::sync::atomic::AtomicBool,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Engine {
        Engine {
            store: parts.store,
            clock: parts.clock,
            data_dir: parts.data_dir,
            hooks: parts.hooks,
            invoker: parts.invoker,
            metrics: parts.metrics,
            faults: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
            driving: Mutex::new(std::collections::BTreeSet::new()),
            wake: std::sync::atomic::AtomicBool::new(true),
        }
    }

    pub fn store(&self) -> &dyn StateStore {
        self.store.as_ref()
    }

    /// Arms a fault for the next operations (tests of crash recovery and rollback).
    pub fn inject(&self, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
    }

    fn fault(&self, f: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let i = faults.iter().position(f)?;
        Some(faults.remove(i))
    }

    fn defer(&self, target: &str, notices: Vec<Notice>) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(notices.into_iter().map(|n| (target.to_owned(), n)));
    }

    fn flush_notices(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (target, n) in pending {
            self.notify(&target, n);
        }
    }

    fn notify(&self, target: &str, n: Notice) {
        match n {
            Notice::Function(spec) => self.hooks.function_changed(&spec),
            Notice::FunctionDeleted { function } => self.hooks.function_deleted(target, &function),
            Notice::Alias { function, alias } => {
                self.hooks.alias_changed(target, &function, &alias)
            }
            Notice::Routes { api } => self.hooks.routes_changed(target, &api),
        }
    }
}

fn parse_target(target: &str) -> Result<Target, EngineError> {
    Target::parse(target).ok_or_else(|| EngineError::BadTarget {
        target: target.to_owned(),
    })
}
