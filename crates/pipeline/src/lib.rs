//! Pipeline executions as a pure state machine.
//!
//! [`step`] takes the state of one pipeline ([`PipelineState`]: its definition, every
//! execution with its per-stage and per-action state, stage locks, transitions), one
//! [`Event`] and the current time, and returns the next state and the [`Command`]s the engine
//! must carry out (start an action with its configuration resolved, abandon one, lock or
//! unlock a stage, wake up later). It does no I/O, reads no clock and is deterministic, so the
//! engine persists the state before carrying out the commands and a crash resumes from the
//! stored state; tests run it on data.
//!
//! The rules are CodePipeline's (`reference/aws-semantics.md` §8.3–8.4):
//!
//! - An execution enters the first stage, then each next stage when the previous succeeded.
//!   Within a stage, all actions of the lowest `runOrder` not yet done start together; higher
//!   run orders start when every lower one succeeded. A failed action lets the others of its
//!   group finish, then fails the stage and the execution; no higher run order starts.
//! - A stage processes one execution at a time (it is locked while in progress, and a failure
//!   or a stop unlocks it). Executions wait in front of a locked stage, or of a disabled
//!   inbound transition.
//! - `SUPERSEDED`: at most one execution waits in front of a stage; a newer one arriving
//!   overtakes it and the older becomes `Superseded` (terminal). An execution entering a stage
//!   where an earlier one failed or stopped supersedes that one: it can no longer be retried
//!   (it keeps its `Failed`/`Stopped` status and records `superseded_by`).
//!   `QUEUED`: waiting executions enter in arrival order, none is superseded.
//!   `PARALLEL`: no locks, executions run independently.
//! - Stop and wait: no new action starts; when the in-progress ones finish the execution is
//!   `Stopped`. Stop and abandon: in-progress actions become `Abandoned` at once. Both unlock
//!   the stage and leave it retryable.
//! - Retry of the failed (or stopped) stage: `FAILED_ACTIONS` re-runs what did not succeed,
//!   `ALL_ACTIONS` re-runs the whole stage; refused when superseded, when the pipeline
//!   structure changed since, or while the execution is still in progress.
//! - Manual approvals wait for [`Event::ApprovalResult`] with the approval's token; a rejection
//!   or the timeout (7 days, or the action's `TimeoutInMinutes`) fails the action. Every action
//!   has CodePipeline's timeout, enforced on [`Event::Tick`]; a [`Command::ScheduleWakeup`]
//!   says when the next one is due.
//! - Stage rollback ([`Event::Rollback`], V2 `RollbackStage`): a new `ROLLBACK` execution
//!   re-runs one stage with the source revisions, artefacts and variables of an earlier
//!   execution that succeeded in it; not for the source stage, not in `PARALLEL` mode, not to
//!   a rollback, and only under the same pipeline structure version.
//!
//! [`PipelineState::serving`] answers "which execution (and so which commit) serves this
//! target": the most recent successful deploy action into it.
//!
//! Operations the state does not allow are a typed [`StepError`]; the state is unchanged.
//!
//! The I/O half lives in modules of its own, so the machine stays pure: [`exec`] (the
//! executor: persist each step in the state store, then run its commands through
//! [`exec::ActionRunner`]s), [`git`] (local git repositories as sources), [`jobs`]
//! (CodePipeline jobs: how a Lambda invoke action waits for `PutJob*Result`) and [`trigger`]
//! (branch polling, GitHub webhooks with HMAC signatures).

pub mod exec;
pub mod git;
pub mod jobs;
pub mod trigger;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slipway_model::pipeline::{
    Action, ActionTypeId, BuildProject, Category, ExecutionMode, Pipeline, PipelineType, Provider,
    variable_refs,
};

/// Milliseconds since the Unix epoch. Time is passed in, never read.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn plus_minutes(self, minutes: u32) -> Timestamp {
        Timestamp(self.0 + u64::from(minutes) * 60_000)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    InProgress,
    Stopping,
    Stopped,
    Succeeded,
    Superseded,
    Failed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    #[default]
    Standard,
    Rollback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageStatus {
    NotStarted,
    InProgress,
    Stopping,
    Stopped,
    Succeeded,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    NotStarted,
    InProgress,
    Succeeded,
    Failed,
    Abandoned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StopMode {
    /// "Stop and wait": in-progress actions finish.
    Wait,
    /// "Stop and abandon": in-progress actions are abandoned.
    Abandon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    FailedActions,
    AllActions,
}

/// Where an execution is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "camelCase")]
pub enum Position {
    /// In front of stage `stage` (locked, or its inbound transition disabled).
    Waiting {
        stage: usize,
    },
    Running {
        stage: usize,
    },
    /// Failed or stopped in `stage`; retryable from there.
    Halted {
        stage: usize,
    },
    Finished,
}

/// The revision a source action fetched (the commit, the S3 object version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevision {
    pub action_name: String,
    pub revision_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// An artefact an action produced: its name and where the artefact store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub name: String,
    pub location: String,
}

/// What an action reports when it succeeds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    #[serde(default)]
    pub outputs: Vec<Artifact>,
    /// Output variables, exposed under the action's namespace.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// What the action did, for "which commit serves prod": a build ID, a stack ID, a
    /// deployment ID, a function version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    pub approved: bool,
    pub by: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    pub name: String,
    pub status: ActionStatus,
    /// 0 until first started; +1 on every start.
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// A manual approval's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ActionResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageState {
    pub name: String,
    pub status: StageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    pub actions: Vec<ActionState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: String,
    /// Arrival order: a higher number is a newer execution.
    pub seq: u64,
    pub pipeline_version: u32,
    pub status: ExecutionStatus,
    pub execution_type: ExecutionType,
    pub position: Position,
    pub source_revisions: Vec<SourceRevision>,
    /// Pipeline-level variables (`#{variables.X}`), defaults and start-time overrides.
    pub variables: BTreeMap<String, String>,
    /// Output variables by namespace.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// Artefacts produced so far in this execution, by name.
    pub artifacts: BTreeMap<String, Artifact>,
    pub stages: Vec<StageState>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// A rollback runs one stage only: this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_stage: Option<usize>,
    /// For a rollback: the execution whose artefacts and variables it redeploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
}

impl Execution {
    pub fn stage(&self, name: &str) -> Option<&StageState> {
        self.stages.iter().find(|s| s.name == name)
    }

    pub fn action(&self, stage: &str, action: &str) -> Option<&ActionState> {
        self.stage(stage)?.actions.iter().find(|a| a.name == action)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionState {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<Timestamp>,
}

/// Everything about one pipeline's executions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineState {
    pub pipeline: Pipeline,
    /// Every execution, oldest first: the history.
    pub executions: Vec<Execution>,
    /// Per stage, the execution holding it.
    pub locks: Vec<Option<String>>,
    /// Per stage, its inbound transition (index 0, the first stage, has none).
    pub transitions: Vec<TransitionState>,
    pub seq: u64,
}

impl PipelineState {
    /// A pipeline with no executions yet; transitions disabled by the definition start
    /// disabled.
    pub fn new(pipeline: Pipeline) -> Self {
        let n = pipeline.stages.len();
        let transitions = pipeline
            .stages
            .iter()
            .map(|s| {
                let d = pipeline
                    .disabled_transitions
                    .iter()
                    .find(|d| d.stage_name == s.name);
                TransitionState {
                    enabled: d.is_none(),
                    reason: d.map(|d| d.reason.clone()),
                    changed_at: None,
                }
            })
            .collect();
        Self {
            pipeline,
            executions: Vec::new(),
            locks: vec![None; n],
            transitions,
            seq: 0,
        }
    }

    pub fn execution(&self, id: &str) -> Option<&Execution> {
        self.executions.iter().find(|e| e.id == id)
    }

    /// What serves a target: the most recent successful deploy action into it, and the
    /// execution (with its source revisions) it belongs to. "Which commit serves prod?"
    pub fn serving(&self, target: &str) -> Option<Serving<'_>> {
        let mut best: Option<Serving<'_>> = None;
        for x in &self.executions {
            for (si, s) in x.stages.iter().enumerate() {
                for (ai, a) in s.actions.iter().enumerate() {
                    let Some(def) = self
                        .pipeline
                        .stages
                        .get(si)
                        .and_then(|st| st.actions.get(ai))
                    else {
                        continue;
                    };
                    let deploys = def.action_type_id.category == Category::Deploy
                        && def.target.as_deref() == Some(target)
                        && def.config("ActionMode") != Some("DELETE_ONLY")
                        && def.config("ActionMode") != Some("CHANGE_SET_REPLACE");
                    if !deploys || a.status != ActionStatus::Succeeded {
                        continue;
                    }
                    let newer = best.as_ref().is_none_or(|b| a.ended_at > b.action.ended_at);
                    if newer {
                        best = Some(Serving {
                            execution: x,
                            stage: &s.name,
                            action: a,
                        });
                    }
                }
            }
        }
        best
    }

    /// The execution holding a stage, if any.
    pub fn lock_holder(&self, stage: &str) -> Option<&str> {
        let (i, _) = self.pipeline.stage(stage)?;
        self.locks[i].as_deref()
    }
}

/// The answer of [`PipelineState::serving`].
#[derive(Clone, Copy, Debug)]
pub struct Serving<'a> {
    pub execution: &'a Execution,
    pub stage: &'a str,
    pub action: &'a ActionState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    pub approved: bool,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Everything that can happen to a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Event {
    /// A new execution (a commit, an upload, a manual start). It may overtake older ones.
    Start {
        execution_id: String,
        source_revisions: Vec<SourceRevision>,
        /// Overrides of V2 pipeline variables.
        variables: BTreeMap<String, String>,
        execution_type: ExecutionType,
    },
    ActionSucceeded {
        execution_id: String,
        stage: String,
        action: String,
        result: ActionResult,
    },
    ActionFailed {
        execution_id: String,
        stage: String,
        action: String,
        message: String,
    },
    /// `PutApprovalResult`.
    ApprovalResult {
        execution_id: String,
        stage: String,
        action: String,
        token: String,
        decision: ApprovalDecision,
    },
    /// Time passed: timeouts are due.
    Tick,
    Stop {
        execution_id: String,
        mode: StopMode,
        reason: Option<String>,
    },
    Retry {
        execution_id: String,
        stage: String,
        mode: RetryMode,
    },
    DisableTransition {
        stage: String,
        reason: String,
    },
    EnableTransition {
        stage: String,
    },
    /// `RollbackStage`: a new execution of type ROLLBACK re-runs one stage with the artefacts
    /// and variables of an earlier successful execution of it.
    Rollback {
        execution_id: String,
        stage: String,
        target_execution_id: String,
    },
}

/// An action to run, with everything the engine needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartAction {
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    pub attempt: u32,
    pub action_type_id: ActionTypeId,
    /// The configuration with every `#{…}` variable substituted.
    pub configuration: BTreeMap<String, String>,
    /// Input artefacts as this execution produced them.
    pub inputs: Vec<Artifact>,
    /// Names of the artefacts the action must report.
    pub outputs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<BuildProject>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub deadline: Timestamp,
    /// For a manual approval: the token `PutApprovalResult` must give back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What the engine must do after a step, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Command {
    StartAction(StartAction),
    /// Stop the work of an in-progress action (stop-and-abandon, a timeout); its result, if it
    /// still comes, is refused.
    AbandonAction {
        execution_id: String,
        stage: String,
        action: String,
        attempt: u32,
    },
    LockStage {
        stage: String,
        execution_id: String,
    },
    UnlockStage {
        stage: String,
        execution_id: String,
    },
    /// Send a [`Event::Tick`] at (or after) this time.
    ScheduleWakeup {
        at: Timestamp,
    },
    ExecutionEnded {
        execution_id: String,
        status: ExecutionStatus,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("no execution '{0}'")]
    UnknownExecution(String),
    #[error("execution '{0}' already exists")]
    DuplicateExecution(String),
    #[error("the pipeline has no stage '{0}'")]
    UnknownStage(String),
    #[error("stage '{stage}' has no action '{action}'")]
    UnknownAction { stage: String, action: String },
    #[error("pipeline variable '{0}' is not declared")]
    UnknownVariable(String),
    #[error("execution '{execution_id}' is not running stage '{stage}'")]
    NotInStage { execution_id: String, stage: String },
    #[error(
        "action '{stage}.{action}' of execution '{execution_id}' is {status:?}, not in progress"
    )]
    ActionNotInProgress {
        execution_id: String,
        stage: String,
        action: String,
        status: ActionStatus,
    },
    #[error("action '{stage}.{action}' is a manual approval; it takes an approval result")]
    IsAnApproval { stage: String, action: String },
    #[error("action '{stage}.{action}' is not a manual approval")]
    NotAnApproval { stage: String, action: String },
    #[error("the approval token for '{stage}.{action}' is not the current one")]
    WrongApprovalToken { stage: String, action: String },
    #[error("action '{action}' does not declare output artefact '{artifact}'")]
    UnknownOutputArtifact { action: String, artifact: String },
    #[error("execution '{execution_id}' is {status:?}, not in progress")]
    ExecutionNotInProgress {
        execution_id: String,
        status: ExecutionStatus,
    },
    #[error(
        "execution '{execution_id}' is {status:?}; only failed or stopped executions can be retried"
    )]
    NotRetryable {
        execution_id: String,
        status: ExecutionStatus,
    },
    #[error("execution '{execution_id}' was superseded by '{by}' and can no longer be retried")]
    Superseded { execution_id: String, by: String },
    #[error("execution '{execution_id}' did not fail or stop in stage '{stage}'")]
    StageNotFailed { execution_id: String, stage: String },
    #[error(
        "execution '{execution_id}' ran pipeline version {version}; the pipeline is now version {current}"
    )]
    PipelineChanged {
        execution_id: String,
        version: u32,
        current: u32,
    },
    #[error("stage '{stage}' is in use by execution '{by}'")]
    StageLocked { stage: String, by: String },
    #[error("the first stage '{0}' has no inbound transition")]
    NoInboundTransition(String),
    #[error("the transition into '{0}' is already disabled")]
    TransitionAlreadyDisabled(String),
    #[error("the transition into '{0}' is already enabled")]
    TransitionAlreadyEnabled(String),
    #[error("the source stage '{0}' cannot be rolled back")]
    RollbackOfSourceStage(String),
    #[error("stage rollback is not available in PARALLEL execution mode")]
    RollbackNotAvailable,
    #[error(
        "execution '{execution_id}' did not succeed in stage '{stage}'; only a successful one can be a rollback target"
    )]
    RollbackTargetNotSucceeded { execution_id: String, stage: String },
    #[error("execution '{0}' is itself a rollback and cannot be a rollback target")]
    RollbackOfRollback(String),
}

/// One step of the state machine. On error the given state is left as it was.
pub fn step(
    state: &PipelineState,
    event: &Event,
    now: Timestamp,
) -> Result<(PipelineState, Vec<Command>), StepError> {
    let mut m = Machine {
        st: state.clone(),
        now,
        cmds: Vec::new(),
    };
    m.apply(event)?;
    m.advance();
    Ok((m.st, m.cmds))
}

struct Machine {
    st: PipelineState,
    now: Timestamp,
    cmds: Vec<Command>,
}

impl Machine {
    fn exec_index(&self, id: &str) -> Result<usize, StepError> {
        self.st
            .executions
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| StepError::UnknownExecution(id.to_owned()))
    }

    fn stage_index(&self, name: &str) -> Result<usize, StepError> {
        self.st
            .pipeline
            .stage(name)
            .map(|(i, _)| i)
            .ok_or_else(|| StepError::UnknownStage(name.to_owned()))
    }

    fn def(&self, si: usize, ai: usize) -> &Action {
        &self.st.pipeline.stages[si].actions[ai]
    }

    fn parallel(&self) -> bool {
        self.st.pipeline.execution_mode == ExecutionMode::Parallel
    }

    /// The execution, stage and action an action event names; the action must be in progress.
    fn running_action(
        &self,
        execution_id: &str,
        stage: &str,
        action: &str,
    ) -> Result<(usize, usize, usize), StepError> {
        let e = self.exec_index(execution_id)?;
        let si = self.stage_index(stage)?;
        let ai = self.st.pipeline.stages[si]
            .actions
            .iter()
            .position(|a| a.name == action)
            .ok_or_else(|| StepError::UnknownAction {
                stage: stage.to_owned(),
                action: action.to_owned(),
            })?;
        let ex = &self.st.executions[e];
        if ex.position != (Position::Running { stage: si }) {
            return Err(StepError::NotInStage {
                execution_id: execution_id.to_owned(),
                stage: stage.to_owned(),
            });
        }
        let status = ex.stages[si].actions[ai].status;
        match status {
            ActionStatus::InProgress => Ok((e, si, ai)),
            ActionStatus::NotStarted
            | ActionStatus::Succeeded
            | ActionStatus::Failed
            | ActionStatus::Abandoned => Err(StepError::ActionNotInProgress {
                execution_id: execution_id.to_owned(),
                stage: stage.to_owned(),
                action: action.to_owned(),
                status,
            }),
        }
    }

    fn apply(&mut self, event: &Event) -> Result<(), StepError> {
        match event {
            Event::Start {
                execution_id,
                source_revisions,
                variables,
                execution_type,
            } => {
                let e = self.create(execution_id, source_revisions, variables, *execution_type)?;
                self.wait_before(e, 0);
                Ok(())
            }
            Event::ActionSucceeded {
                execution_id,
                stage,
                action,
                result,
            } => {
                let (e, si, ai) = self.running_action(execution_id, stage, action)?;
                let def = self.def(si, ai).clone();
                if def.action_type_id.provider == Provider::Manual {
                    return Err(StepError::IsAnApproval {
                        stage: stage.clone(),
                        action: action.clone(),
                    });
                }
                for o in &result.outputs {
                    if !def.output_artifacts.contains(&o.name) {
                        return Err(StepError::UnknownOutputArtifact {
                            action: action.clone(),
                            artifact: o.name.clone(),
                        });
                    }
                }
                let now = self.now;
                let ex = &mut self.st.executions[e];
                for o in &result.outputs {
                    ex.artifacts.insert(o.name.clone(), o.clone());
                }
                if let Some(ns) = &def.namespace {
                    ex.namespaces.insert(ns.clone(), result.variables.clone());
                }
                if def.action_type_id.category == Category::Source
                    && let Some(rev) = result.external_execution_id.clone()
                {
                    ex.source_revisions.retain(|r| r.action_name != def.name);
                    ex.source_revisions.push(SourceRevision {
                        action_name: def.name.clone(),
                        revision_id: rev,
                        summary: result.summary.clone(),
                    });
                }
                let a = &mut ex.stages[si].actions[ai];
                a.status = ActionStatus::Succeeded;
                a.ended_at = Some(now);
                a.result = Some(result.clone());
                ex.updated_at = now;
                self.settle(e, si);
                Ok(())
            }
            Event::ActionFailed {
                execution_id,
                stage,
                action,
                message,
            } => {
                let (e, si, ai) = self.running_action(execution_id, stage, action)?;
                if self.def(si, ai).action_type_id.provider == Provider::Manual {
                    return Err(StepError::IsAnApproval {
                        stage: stage.clone(),
                        action: action.clone(),
                    });
                }
                self.fail_action(e, si, ai, message.clone());
                self.settle(e, si);
                Ok(())
            }
            Event::ApprovalResult {
                execution_id,
                stage,
                action,
                token,
                decision,
            } => {
                let (e, si, ai) = self.running_action(execution_id, stage, action)?;
                if self.def(si, ai).action_type_id.provider != Provider::Manual {
                    return Err(StepError::NotAnApproval {
                        stage: stage.clone(),
                        action: action.clone(),
                    });
                }
                let now = self.now;
                let a = &mut self.st.executions[e].stages[si].actions[ai];
                if a.token.as_deref() != Some(token.as_str()) {
                    return Err(StepError::WrongApprovalToken {
                        stage: stage.clone(),
                        action: action.clone(),
                    });
                }
                a.approval = Some(ApprovalRecord {
                    approved: decision.approved,
                    by: decision.by.clone(),
                    at: now,
                    comment: decision.comment.clone(),
                });
                a.ended_at = Some(now);
                if decision.approved {
                    a.status = ActionStatus::Succeeded;
                    a.result = Some(ActionResult {
                        summary: decision.comment.clone(),
                        ..ActionResult::default()
                    });
                } else {
                    a.status = ActionStatus::Failed;
                    a.error = Some(format!("Rejected by {}", decision.by));
                }
                self.st.executions[e].updated_at = now;
                self.settle(e, si);
                Ok(())
            }
            Event::Tick => {
                self.timeouts();
                Ok(())
            }
            Event::Stop {
                execution_id,
                mode,
                reason,
            } => self.stop(execution_id, *mode, reason.clone()),
            Event::Retry {
                execution_id,
                stage,
                mode,
            } => self.retry(execution_id, stage, *mode),
            Event::DisableTransition { stage, reason } => {
                let si = self.stage_index(stage)?;
                if si == 0 {
                    return Err(StepError::NoInboundTransition(stage.clone()));
                }
                let t = &mut self.st.transitions[si];
                if !t.enabled {
                    return Err(StepError::TransitionAlreadyDisabled(stage.clone()));
                }
                *t = TransitionState {
                    enabled: false,
                    reason: Some(reason.clone()),
                    changed_at: Some(self.now),
                };
                Ok(())
            }
            Event::Rollback {
                execution_id,
                stage,
                target_execution_id,
            } => self.rollback(execution_id, stage, target_execution_id),
            Event::EnableTransition { stage } => {
                let si = self.stage_index(stage)?;
                if si == 0 {
                    return Err(StepError::NoInboundTransition(stage.clone()));
                }
                let t = &mut self.st.transitions[si];
                if t.enabled {
                    return Err(StepError::TransitionAlreadyEnabled(stage.clone()));
                }
                *t = TransitionState {
                    enabled: true,
                    reason: None,
                    changed_at: Some(self.now),
                };
                Ok(())
            }
        }
    }

    /// A new execution, not yet waiting anywhere.
    fn create(
        &mut self,
        id: &str,
        revisions: &[SourceRevision],
        overrides: &BTreeMap<String, String>,
        execution_type: ExecutionType,
    ) -> Result<usize, StepError> {
        if self.st.executions.iter().any(|e| e.id == id) {
            return Err(StepError::DuplicateExecution(id.to_owned()));
        }
        let p = &self.st.pipeline;
        let mut variables = BTreeMap::new();
        if p.pipeline_type == PipelineType::V2 {
            for v in &p.variables {
                variables.insert(v.name.clone(), v.default_value.clone().unwrap_or_default());
            }
        }
        for (k, v) in overrides {
            if !variables.contains_key(k) {
                return Err(StepError::UnknownVariable(k.clone()));
            }
            variables.insert(k.clone(), v.clone());
        }
        let stages = p
            .stages
            .iter()
            .map(|s| StageState {
                name: s.name.clone(),
                status: StageStatus::NotStarted,
                started_at: None,
                ended_at: None,
                actions: s
                    .actions
                    .iter()
                    .map(|a| ActionState {
                        name: a.name.clone(),
                        status: ActionStatus::NotStarted,
                        attempt: 0,
                        started_at: None,
                        ended_at: None,
                        deadline: None,
                        token: None,
                        result: None,
                        error: None,
                        approval: None,
                    })
                    .collect(),
            })
            .collect();
        self.st.seq += 1;
        let ex = Execution {
            id: id.to_owned(),
            seq: self.st.seq,
            pipeline_version: p.version,
            status: ExecutionStatus::InProgress,
            execution_type,
            position: Position::Finished,
            source_revisions: revisions.to_vec(),
            variables,
            namespaces: BTreeMap::new(),
            artifacts: BTreeMap::new(),
            stages,
            started_at: self.now,
            updated_at: self.now,
            ended_at: None,
            stop: None,
            stop_reason: None,
            superseded_by: None,
            only_stage: None,
            rollback_of: None,
        };
        self.st.executions.push(ex);
        Ok(self.st.executions.len() - 1)
    }

    /// Puts an execution in front of a stage; under SUPERSEDED, the older of two waiting
    /// executions is superseded.
    fn wait_before(&mut self, e: usize, si: usize) {
        self.st.executions[e].position = Position::Waiting { stage: si };
        if self.st.pipeline.execution_mode != ExecutionMode::Superseded {
            return;
        }
        let waiting: Vec<usize> = (0..self.st.executions.len())
            .filter(|&i| {
                let x = &self.st.executions[i];
                x.position == (Position::Waiting { stage: si })
                    && x.status == ExecutionStatus::InProgress
            })
            .collect();
        let Some(&newest) = waiting.iter().max_by_key(|&&i| self.st.executions[i].seq) else {
            return;
        };
        let by = self.st.executions[newest].id.clone();
        for i in waiting {
            if i != newest {
                let now = self.now;
                let x = &mut self.st.executions[i];
                x.status = ExecutionStatus::Superseded;
                x.position = Position::Finished;
                x.superseded_by = Some(by.clone());
                x.ended_at = Some(now);
                x.updated_at = now;
                self.cmds.push(Command::ExecutionEnded {
                    execution_id: x.id.clone(),
                    status: ExecutionStatus::Superseded,
                });
            }
        }
    }

    /// Lets waiting executions into free stages until nothing moves. Later stages first, so
    /// that executions ahead free their stage before those behind look at it.
    fn advance(&mut self) {
        loop {
            let mut moved = false;
            for si in (0..self.st.pipeline.stages.len()).rev() {
                if !self.st.transitions[si].enabled && si > 0 {
                    continue;
                }
                let mut waiting: Vec<usize> = (0..self.st.executions.len())
                    .filter(|&i| {
                        let x = &self.st.executions[i];
                        x.position == (Position::Waiting { stage: si })
                            && x.status == ExecutionStatus::InProgress
                    })
                    .collect();
                if waiting.is_empty() {
                    continue;
                }
                waiting.sort_by_key(|&i| self.st.executions[i].seq);
                if self.parallel() {
                    for e in waiting {
                        self.enter(e, si);
                    }
                    moved = true;
                } else if self.st.locks[si].is_none() {
                    // QUEUED: the oldest; SUPERSEDED: the only one (the newest).
                    let e = match self.st.pipeline.execution_mode {
                        ExecutionMode::Queued | ExecutionMode::Parallel => waiting[0],
                        ExecutionMode::Superseded => waiting[waiting.len() - 1],
                    };
                    self.enter(e, si);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn enter(&mut self, e: usize, si: usize) {
        let now = self.now;
        let id = self.st.executions[e].id.clone();
        let stage = self.st.pipeline.stages[si].name.clone();
        if !self.parallel() {
            // An execution entering a stage where an earlier one halted supersedes it.
            for x in &mut self.st.executions {
                if x.id != id && x.position == (Position::Halted { stage: si }) {
                    x.superseded_by = Some(id.clone());
                    x.position = Position::Finished;
                }
            }
            self.st.locks[si] = Some(id.clone());
            self.cmds.push(Command::LockStage {
                stage,
                execution_id: id,
            });
        }
        let x = &mut self.st.executions[e];
        x.position = Position::Running { stage: si };
        x.updated_at = now;
        let s = &mut x.stages[si];
        s.status = StageStatus::InProgress;
        s.started_at = Some(now);
        s.ended_at = None;
        for a in &mut s.actions {
            a.status = ActionStatus::NotStarted;
        }
        self.settle(e, si);
    }

    /// Moves a running stage on: start the next run order, or end the stage.
    fn settle(&mut self, e: usize, si: usize) {
        loop {
            let x = &self.st.executions[e];
            let s = &x.stages[si];
            if s.actions
                .iter()
                .any(|a| a.status == ActionStatus::InProgress)
            {
                return;
            }
            if s.actions
                .iter()
                .any(|a| matches!(a.status, ActionStatus::Failed | ActionStatus::Abandoned))
            {
                let status = if x.stop.is_some() {
                    ExecutionStatus::Stopped
                } else {
                    ExecutionStatus::Failed
                };
                self.halt(e, si, status);
                return;
            }
            if x.stop.is_some() {
                self.halt(e, si, ExecutionStatus::Stopped);
                return;
            }
            let defs = &self.st.pipeline.stages[si].actions;
            let next = s
                .actions
                .iter()
                .zip(defs)
                .filter(|(a, _)| a.status == ActionStatus::NotStarted)
                .map(|(_, d)| d.run_order)
                .min();
            let Some(ro) = next else {
                self.stage_succeeded(e, si);
                return;
            };
            let group: Vec<usize> = (0..defs.len())
                .filter(|&ai| {
                    defs[ai].run_order == ro && s.actions[ai].status == ActionStatus::NotStarted
                })
                .collect();
            for ai in group {
                self.start_action(e, si, ai);
            }
        }
    }

    fn start_action(&mut self, e: usize, si: usize, ai: usize) {
        let now = self.now;
        let def = self.def(si, ai);
        let deadline = now.plus_minutes(def.timeout_minutes());
        let manual = def.action_type_id.provider == Provider::Manual;
        let x = &mut self.st.executions[e];
        let a = &mut x.stages[si].actions[ai];
        a.attempt += 1;
        a.started_at = Some(now);
        a.ended_at = None;
        a.result = None;
        a.error = None;
        a.approval = None;
        a.deadline = Some(deadline);
        a.token = manual.then(|| format!("{}/{}/{}/{}", x.id, a.name, si, a.attempt));
        match start_command(&self.st.pipeline, x, si, ai) {
            Ok(cmd) => {
                x.stages[si].actions[ai].status = ActionStatus::InProgress;
                self.cmds.push(Command::StartAction(cmd));
                self.cmds.push(Command::ScheduleWakeup { at: deadline });
            }
            Err(msg) => {
                let a = &mut x.stages[si].actions[ai];
                a.status = ActionStatus::Failed;
                a.ended_at = Some(now);
                a.error = Some(msg);
            }
        }
    }

    fn fail_action(&mut self, e: usize, si: usize, ai: usize, message: String) {
        let now = self.now;
        let x = &mut self.st.executions[e];
        let a = &mut x.stages[si].actions[ai];
        a.status = ActionStatus::Failed;
        a.ended_at = Some(now);
        a.error = Some(message);
        x.updated_at = now;
    }

    fn unlock(&mut self, e: usize, si: usize) {
        let id = self.st.executions[e].id.clone();
        if self.st.locks[si].as_deref() == Some(id.as_str()) {
            self.st.locks[si] = None;
            self.cmds.push(Command::UnlockStage {
                stage: self.st.pipeline.stages[si].name.clone(),
                execution_id: id,
            });
        }
    }

    fn stage_succeeded(&mut self, e: usize, si: usize) {
        let now = self.now;
        let last =
            si + 1 == self.st.pipeline.stages.len() || self.st.executions[e].only_stage == Some(si);
        {
            let x = &mut self.st.executions[e];
            let s = &mut x.stages[si];
            s.status = StageStatus::Succeeded;
            s.ended_at = Some(now);
            x.updated_at = now;
        }
        self.unlock(e, si);
        if last {
            let x = &mut self.st.executions[e];
            x.status = ExecutionStatus::Succeeded;
            x.position = Position::Finished;
            x.ended_at = Some(now);
            self.cmds.push(Command::ExecutionEnded {
                execution_id: x.id.clone(),
                status: ExecutionStatus::Succeeded,
            });
        } else {
            self.wait_before(e, si + 1);
        }
    }

    /// Ends an execution in a stage: failed, or stopped.
    fn halt(&mut self, e: usize, si: usize, status: ExecutionStatus) {
        let now = self.now;
        {
            let x = &mut self.st.executions[e];
            let s = &mut x.stages[si];
            s.status = match status {
                ExecutionStatus::Stopped => StageStatus::Stopped,
                ExecutionStatus::Failed
                | ExecutionStatus::InProgress
                | ExecutionStatus::Stopping
                | ExecutionStatus::Succeeded
                | ExecutionStatus::Superseded
                | ExecutionStatus::Cancelled => StageStatus::Failed,
            };
            s.ended_at = Some(now);
            x.status = status;
            x.position = Position::Halted { stage: si };
            x.ended_at = Some(now);
            x.updated_at = now;
            x.stop = None;
            self.cmds.push(Command::ExecutionEnded {
                execution_id: x.id.clone(),
                status,
            });
        }
        self.unlock(e, si);
    }

    fn timeouts(&mut self) {
        let now = self.now;
        for e in 0..self.st.executions.len() {
            let Position::Running { stage: si } = self.st.executions[e].position else {
                continue;
            };
            let due: Vec<usize> = self.st.executions[e].stages[si]
                .actions
                .iter()
                .enumerate()
                .filter(|(_, a)| {
                    a.status == ActionStatus::InProgress && a.deadline.is_some_and(|d| d <= now)
                })
                .map(|(i, _)| i)
                .collect();
            if due.is_empty() {
                continue;
            }
            for ai in due {
                let def = self.def(si, ai).clone();
                let x = &self.st.executions[e];
                let attempt = x.stages[si].actions[ai].attempt;
                let minutes = def.timeout_minutes();
                let message = if def.action_type_id.provider == Provider::Manual {
                    format!("The approval timed out after {minutes} minutes without a response")
                } else {
                    self.cmds.push(Command::AbandonAction {
                        execution_id: x.id.clone(),
                        stage: x.stages[si].name.clone(),
                        action: def.name.clone(),
                        attempt,
                    });
                    format!("The action timed out after {minutes} minutes")
                };
                self.fail_action(e, si, ai, message);
            }
            self.settle(e, si);
        }
    }

    fn stop(&mut self, id: &str, mode: StopMode, reason: Option<String>) -> Result<(), StepError> {
        let e = self.exec_index(id)?;
        let x = &self.st.executions[e];
        let allowed = match (x.status, mode) {
            (ExecutionStatus::InProgress, StopMode::Wait | StopMode::Abandon) => true,
            (ExecutionStatus::Stopping, StopMode::Abandon) => true,
            (ExecutionStatus::Stopping, StopMode::Wait)
            | (
                ExecutionStatus::Stopped
                | ExecutionStatus::Succeeded
                | ExecutionStatus::Superseded
                | ExecutionStatus::Failed
                | ExecutionStatus::Cancelled,
                StopMode::Wait | StopMode::Abandon,
            ) => false,
        };
        if !allowed {
            return Err(StepError::ExecutionNotInProgress {
                execution_id: id.to_owned(),
                status: x.status,
            });
        }
        let now = self.now;
        match x.position {
            Position::Waiting { .. } | Position::Halted { .. } | Position::Finished => {
                let x = &mut self.st.executions[e];
                x.status = ExecutionStatus::Stopped;
                x.position = Position::Finished;
                x.stop_reason = reason;
                x.ended_at = Some(now);
                x.updated_at = now;
                self.cmds.push(Command::ExecutionEnded {
                    execution_id: id.to_owned(),
                    status: ExecutionStatus::Stopped,
                });
            }
            Position::Running { stage: si } => {
                {
                    let x = &mut self.st.executions[e];
                    x.stop = Some(mode);
                    x.stop_reason = reason;
                    x.status = ExecutionStatus::Stopping;
                    x.stages[si].status = StageStatus::Stopping;
                    x.updated_at = now;
                }
                if mode == StopMode::Abandon {
                    let stage_name = self.st.pipeline.stages[si].name.clone();
                    for a in &mut self.st.executions[e].stages[si].actions {
                        if a.status == ActionStatus::InProgress {
                            a.status = ActionStatus::Abandoned;
                            a.ended_at = Some(now);
                            self.cmds.push(Command::AbandonAction {
                                execution_id: id.to_owned(),
                                stage: stage_name.clone(),
                                action: a.name.clone(),
                                attempt: a.attempt,
                            });
                        }
                    }
                }
                self.settle(e, si);
            }
        }
        Ok(())
    }

    fn rollback(&mut self, id: &str, stage: &str, target: &str) -> Result<(), StepError> {
        let si = self.stage_index(stage)?;
        if si == 0 {
            return Err(StepError::RollbackOfSourceStage(stage.to_owned()));
        }
        if self.parallel() {
            return Err(StepError::RollbackNotAvailable);
        }
        let t = self.exec_index(target)?;
        let tx = &self.st.executions[t];
        if tx.execution_type == ExecutionType::Rollback {
            return Err(StepError::RollbackOfRollback(target.to_owned()));
        }
        if tx.stages[si].status != StageStatus::Succeeded {
            return Err(StepError::RollbackTargetNotSucceeded {
                execution_id: target.to_owned(),
                stage: stage.to_owned(),
            });
        }
        if tx.pipeline_version != self.st.pipeline.version {
            return Err(StepError::PipelineChanged {
                execution_id: target.to_owned(),
                version: tx.pipeline_version,
                current: self.st.pipeline.version,
            });
        }
        let (revisions, variables) = (tx.source_revisions.clone(), tx.variables.clone());
        let (artifacts, namespaces) = (tx.artifacts.clone(), tx.namespaces.clone());
        let e = self.create(id, &revisions, &BTreeMap::new(), ExecutionType::Rollback)?;
        let x = &mut self.st.executions[e];
        x.variables = variables;
        x.artifacts = artifacts;
        x.namespaces = namespaces;
        x.only_stage = Some(si);
        x.rollback_of = Some(target.to_owned());
        self.wait_before(e, si);
        Ok(())
    }

    fn retry(&mut self, id: &str, stage: &str, mode: RetryMode) -> Result<(), StepError> {
        let e = self.exec_index(id)?;
        let si = self.stage_index(stage)?;
        let x = &self.st.executions[e];
        match x.status {
            ExecutionStatus::Failed | ExecutionStatus::Stopped => {}
            ExecutionStatus::InProgress
            | ExecutionStatus::Stopping
            | ExecutionStatus::Succeeded
            | ExecutionStatus::Superseded
            | ExecutionStatus::Cancelled => {
                return Err(StepError::NotRetryable {
                    execution_id: id.to_owned(),
                    status: x.status,
                });
            }
        }
        if let Some(by) = &x.superseded_by {
            return Err(StepError::Superseded {
                execution_id: id.to_owned(),
                by: by.clone(),
            });
        }
        if x.position != (Position::Halted { stage: si }) {
            return Err(StepError::StageNotFailed {
                execution_id: id.to_owned(),
                stage: stage.to_owned(),
            });
        }
        if x.pipeline_version != self.st.pipeline.version {
            return Err(StepError::PipelineChanged {
                execution_id: id.to_owned(),
                version: x.pipeline_version,
                current: self.st.pipeline.version,
            });
        }
        if !self.parallel()
            && let Some(by) = &self.st.locks[si]
        {
            return Err(StepError::StageLocked {
                stage: stage.to_owned(),
                by: by.clone(),
            });
        }
        let now = self.now;
        let x = &mut self.st.executions[e];
        x.status = ExecutionStatus::InProgress;
        x.position = Position::Running { stage: si };
        x.ended_at = None;
        x.stop = None;
        x.stop_reason = None;
        x.updated_at = now;
        let s = &mut x.stages[si];
        s.status = StageStatus::InProgress;
        s.ended_at = None;
        for a in &mut s.actions {
            let rerun = match (mode, a.status) {
                (RetryMode::AllActions, _) => true,
                (RetryMode::FailedActions, ActionStatus::Failed | ActionStatus::Abandoned) => true,
                (
                    RetryMode::FailedActions,
                    ActionStatus::NotStarted | ActionStatus::InProgress | ActionStatus::Succeeded,
                ) => false,
            };
            if rerun {
                a.status = ActionStatus::NotStarted;
            }
        }
        if !self.parallel() {
            self.st.locks[si] = Some(id.to_owned());
            self.cmds.push(Command::LockStage {
                stage: stage.to_owned(),
                execution_id: id.to_owned(),
            });
        }
        self.settle(e, si);
        Ok(())
    }
}

/// The command that starts (or, after a restart, re-dispatches) an action of an execution:
/// configuration and region with variables substituted, inputs as this execution produced
/// them. An error says why the action cannot run (it then fails).
fn start_command(p: &Pipeline, x: &Execution, si: usize, ai: usize) -> Result<StartAction, String> {
    let def = &p.stages[si].actions[ai];
    let state = &x.stages[si].actions[ai];
    let mut configuration = BTreeMap::new();
    for (k, v) in &def.configuration {
        let v = substitute(v, x).map_err(|msg| format!("configuration '{k}': {msg}"))?;
        configuration.insert(k.clone(), v);
    }
    let region = match &def.region {
        Some(r) => Some(substitute(r, x).map_err(|msg| format!("Region: {msg}"))?),
        None => None,
    };
    let mut inputs = Vec::new();
    for name in &def.input_artifacts {
        match x.artifacts.get(name) {
            Some(a) => inputs.push(a.clone()),
            None => return Err(format!("input artefact '{name}' was not produced")),
        }
    }
    Ok(StartAction {
        execution_id: x.id.clone(),
        stage: p.stages[si].name.clone(),
        action: def.name.clone(),
        attempt: state.attempt,
        action_type_id: def.action_type_id,
        configuration,
        inputs,
        outputs: def.output_artifacts.clone(),
        region,
        role_arn: def.role_arn.clone(),
        target: def.target.clone(),
        project: def.project.clone(),
        namespace: def.namespace.clone(),
        deadline: state.deadline.unwrap_or_default(),
        token: state.token.clone(),
    })
}

impl PipelineState {
    /// After a restart: the commands that put the engine back where the stored state says it
    /// is — every in-progress action dispatched again (same attempt and token; an action
    /// started before the crash must be idempotent or be abandoned by the engine first), and
    /// a wake-up for the earliest deadline.
    pub fn resume(&self) -> Vec<Command> {
        let mut out = Vec::new();
        let mut earliest: Option<Timestamp> = None;
        for x in &self.executions {
            let Position::Running { stage: si } = x.position else {
                continue;
            };
            for (ai, a) in x.stages[si].actions.iter().enumerate() {
                if a.status != ActionStatus::InProgress {
                    continue;
                }
                if let Ok(cmd) = start_command(&self.pipeline, x, si, ai) {
                    earliest = Some(earliest.map_or(cmd.deadline, |t| t.min(cmd.deadline)));
                    out.push(Command::StartAction(cmd));
                }
            }
        }
        if let Some(at) = earliest {
            out.push(Command::ScheduleWakeup { at });
        }
        out
    }
}

/// Substitutes `#{namespace.name}` variables from an execution.
pub fn substitute(value: &str, x: &Execution) -> Result<String, String> {
    let mut out = value.to_owned();
    for r in variable_refs(value) {
        let r = r.map_err(|bad| format!("'{bad}' is not a variable reference"))?;
        let v = match r.namespace {
            "codepipeline" if r.name == "PipelineExecutionId" => Some(x.id.clone()),
            "variables" => x.variables.get(r.name).cloned(),
            ns => x.namespaces.get(ns).and_then(|m| m.get(r.name)).cloned(),
        };
        match v {
            Some(v) => out = out.replace(r.text, &v),
            None => return Err(format!("variable {} could not be resolved", r.text)),
        }
    }
    Ok(out)
}
