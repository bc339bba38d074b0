//! CodeDeploy for Lambda: deployment configurations, their exact schedules, and the deployment
//! state machine.
//!
//! Sources: CodeDeploy User Guide `deployment-configurations` (the predefined
//! `CodeDeployDefault.Lambda*` configurations), `reference-appspec-file-structure-hooks` (the
//! lifecycle Start → BeforeAllowTraffic → AllowTraffic → AfterAllowTraffic → End),
//! CodeDeploy API `TimeBasedCanary`, `TimeBasedLinear`, `PutLifecycleEventHookExecutionStatus`,
//! `DeploymentInfo.status`; SAM `docs/safe_lambda_deployments.rst` and the SAM translator's
//! docstrings (what each failure does to the alias).
//!
//! # Schedules
//!
//! A schedule is a list of `(offset from the start of AllowTraffic, weight of the new version)`,
//! weights in per-mille so they are exact:
//!
//! - `AllAtOnce`: `[(0, 100%)]`.
//! - `TimeBasedCanary{p, i}`: `[(0, p%), (i min, 100%)]` — "shifts traffic in two increments".
//! - `TimeBasedLinear{p, i}`: `[(0, p%), (i, 2p%), …, (k·i, 100%)]`. **Decision**: the first
//!   increment happens at t=0. The CodeDeploy API reference defines `linearPercentage` as "the
//!   percentage of traffic that is shifted *at the start of each increment*", so the first
//!   increment starts the shift and each interval is followed by the next increment;
//!   `Linear10PercentEvery1Minute` is ten shifts, the last at 9 minutes. (SAM's prose "complete in
//!   100 minutes" for `Linear10PercentEvery10Minutes` counts the last interval too; the weight
//!   reaches 100% at 90 minutes either way it is read, and the deployment moves on to
//!   AfterAllowTraffic then.) A percentage that does not divide 100 ends with a smaller last
//!   increment (30% → 30, 60, 90, 100).
//!
//! # State machine
//!
//! [`Deployment::step`] is pure: `(state, event, now) → (state, actions)` or a typed error when
//! the state does not allow the event. The executor persists the new state, then carries out
//! the actions. Every wait is a deadline stored in the state ([`Deployment::next_timer`]), so
//! after a crash the executor schedules the timer again from the stored state and the remaining
//! wait is exact; a timer that fires early (or twice) only re-arms itself.
//!
//! Failure rules (SAM translator docstrings, CodeDeploy `monitoring-create-alarms`):
//! a BeforeAllowTraffic failure fails the deployment with the alias untouched; an alarm in ALARM
//! at any point (also before traffic moves) stops the deployment and puts 100% of the traffic
//! back on the old version at once; an AfterAllowTraffic failure puts traffic back too. A hook
//! that does not report within the timeout (1 hour by default) fails the deployment.
//!
//! Operator actions: `Stop` (StopDeployment with auto-rollback, as SAM's deployment groups
//! configure `DEPLOYMENT_STOP_ON_REQUEST`) → `Stopped`, traffic back; `Rollback` → `Failed`,
//! traffic back (or, after success, a new rollback deployment as CodeDeploy does);
//! `SkipWait` → skip the remaining wait of the shift: go to 100% now (Slipway's addition);
//! `Continue` → leave `Ready` (only when the deployment was created to wait before traffic,
//! CodeDeploy's ContinueDeployment of a READY_WAIT).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub const MINUTE_MS: u64 = 60_000;
/// CodeDeploy fails a hook that has not reported within an hour.
pub const DEFAULT_HOOK_TIMEOUT_MS: u64 = 60 * MINUTE_MS;
/// Weights are per-mille of traffic on the new version.
pub const FULL: u32 = 1000;

/// How traffic moves (`TrafficRoutingConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentConfig {
    AllAtOnce,
    TimeBasedCanary {
        canary_percentage: u32,
        canary_interval_minutes: u32,
    },
    TimeBasedLinear {
        linear_percentage: u32,
        linear_interval_minutes: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("No deployment configuration found for name: {0}")]
    UnknownName(String),
    #[error("percentage must be between 1 and 99, not {0}")]
    Percentage(u32),
    #[error("interval must be at least 1 minute")]
    Interval,
}

/// The predefined configurations (`CodeDeployDefault.Lambda<Name>`), in the documentation's
/// order.
pub const PREDEFINED: &[(&str, DeploymentConfig)] = &[
    ("Canary10Percent5Minutes", canary(10, 5)),
    ("Canary10Percent10Minutes", canary(10, 10)),
    ("Canary10Percent15Minutes", canary(10, 15)),
    ("Canary10Percent30Minutes", canary(10, 30)),
    ("Linear10PercentEvery1Minute", linear(10, 1)),
    ("Linear10PercentEvery2Minutes", linear(10, 2)),
    ("Linear10PercentEvery3Minutes", linear(10, 3)),
    ("Linear10PercentEvery10Minutes", linear(10, 10)),
    ("AllAtOnce", DeploymentConfig::AllAtOnce),
];

const fn canary(p: u32, i: u32) -> DeploymentConfig {
    DeploymentConfig::TimeBasedCanary {
        canary_percentage: p,
        canary_interval_minutes: i,
    }
}

const fn linear(p: u32, i: u32) -> DeploymentConfig {
    DeploymentConfig::TimeBasedLinear {
        linear_percentage: p,
        linear_interval_minutes: i,
    }
}

/// The alias's `UpdatePolicy.CodeDeployLambdaAliasUpdate` (CFN `aws-attribute-updatepolicy`):
/// a change of the alias's version goes through this CodeDeploy deployment group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasUpdatePolicy {
    pub application_name: String,
    pub deployment_group_name: String,
    pub before_allow_traffic_hook: Option<String>,
    pub after_allow_traffic_hook: Option<String>,
}

impl AliasUpdatePolicy {
    /// From a resolved `UpdatePolicy` value; `None` when it has no CodeDeploy policy.
    pub fn from_update_policy(v: &serde_json::Value) -> Option<AliasUpdatePolicy> {
        let p = v.get("CodeDeployLambdaAliasUpdate")?;
        let s = |k: &str| {
            p.get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Some(AliasUpdatePolicy {
            application_name: s("ApplicationName")?,
            deployment_group_name: s("DeploymentGroupName")?,
            before_allow_traffic_hook: s("BeforeAllowTrafficHook"),
            after_allow_traffic_hook: s("AfterAllowTrafficHook"),
        })
    }

    pub fn hooks(&self) -> Hooks {
        Hooks {
            before_allow_traffic: self.before_allow_traffic_hook.clone(),
            after_allow_traffic: self.after_allow_traffic_hook.clone(),
        }
    }
}

/// What a deployment group (`AWS::CodeDeploy::DeploymentGroup`, resolved) says about a
/// deployment: its configuration and the alarms to watch (when `AlarmConfiguration.Enabled`).
/// `custom` finds configurations defined by `AWS::CodeDeploy::DeploymentConfig` by name.
pub fn group_settings(
    group: &serde_json::Value,
    custom: &dyn Fn(&str) -> Option<DeploymentConfig>,
) -> Result<(DeploymentConfig, Vec<String>), ConfigError> {
    use serde_json::Value;
    let name = group
        .get("DeploymentConfigName")
        .and_then(Value::as_str)
        // CodeDeploy's default for a Lambda deployment group without one.
        .unwrap_or("CodeDeployDefault.LambdaAllAtOnce");
    let config = match custom(name) {
        Some(c) => c.validate()?,
        None => DeploymentConfig::predefined(name)?,
    };
    let mut alarms = Vec::new();
    if let Some(ac) = group.get("AlarmConfiguration")
        && ac
            .get("Enabled")
            .is_none_or(|e| e == &Value::Bool(true) || e == "true")
    {
        for a in ac
            .get("Alarms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = a.get("Name").and_then(Value::as_str) {
                alarms.push(n.to_owned());
            }
        }
    }
    Ok((config, alarms))
}

impl DeploymentConfig {
    /// From `AWS::CodeDeploy::DeploymentConfig` properties (`TrafficRoutingConfig`); `None`
    /// when the configuration has no traffic routing (not a Lambda configuration).
    pub fn from_properties(p: &serde_json::Value) -> Option<Result<DeploymentConfig, ConfigError>> {
        use serde_json::Value;
        let t = p.get("TrafficRoutingConfig")?;
        let int = |v: Option<&Value>, k: &str| -> u32 {
            v.and_then(|o| o.get(k))
                .and_then(|x| {
                    x.as_u64()
                        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                })
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        let c = match t.get("Type").and_then(Value::as_str)? {
            "AllAtOnce" => DeploymentConfig::AllAtOnce,
            "TimeBasedCanary" => {
                let o = t.get("TimeBasedCanary");
                DeploymentConfig::TimeBasedCanary {
                    canary_percentage: int(o, "CanaryPercentage"),
                    canary_interval_minutes: int(o, "CanaryInterval"),
                }
            }
            "TimeBasedLinear" => {
                let o = t.get("TimeBasedLinear");
                DeploymentConfig::TimeBasedLinear {
                    linear_percentage: int(o, "LinearPercentage"),
                    linear_interval_minutes: int(o, "LinearInterval"),
                }
            }
            other => return Some(Err(ConfigError::UnknownName(other.to_owned()))),
        };
        Some(c.validate())
    }
}

/// One shift: at `at_ms` after AllowTraffic starts, the new version gets `weight` per-mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftStep {
    pub at_ms: u64,
    pub weight: u32,
}

impl DeploymentConfig {
    /// A predefined configuration by its CodeDeploy name (`CodeDeployDefault.LambdaCanary…`) or
    /// SAM's `DeploymentPreference.Type` (`Canary10Percent5Minutes`).
    pub fn predefined(name: &str) -> Result<DeploymentConfig, ConfigError> {
        let short = name
            .strip_prefix("CodeDeployDefault.Lambda")
            .unwrap_or(name);
        PREDEFINED
            .iter()
            .find(|(n, _)| *n == short)
            .map(|(_, c)| *c)
            .ok_or_else(|| ConfigError::UnknownName(name.to_owned()))
    }

    /// Checks a custom configuration (`AWS::CodeDeploy::DeploymentConfig`).
    pub fn validate(self) -> Result<DeploymentConfig, ConfigError> {
        match self {
            DeploymentConfig::AllAtOnce => Ok(self),
            DeploymentConfig::TimeBasedCanary {
                canary_percentage: p,
                canary_interval_minutes: i,
            }
            | DeploymentConfig::TimeBasedLinear {
                linear_percentage: p,
                linear_interval_minutes: i,
            } => {
                if !(1..=99).contains(&p) {
                    Err(ConfigError::Percentage(p))
                } else if i == 0 {
                    Err(ConfigError::Interval)
                } else {
                    Ok(self)
                }
            }
        }
    }

    /// The exact schedule; the last step is always 100%.
    pub fn schedule(self) -> Vec<ShiftStep> {
        match self {
            DeploymentConfig::AllAtOnce => vec![ShiftStep {
                at_ms: 0,
                weight: FULL,
            }],
            DeploymentConfig::TimeBasedCanary {
                canary_percentage,
                canary_interval_minutes,
            } => vec![
                ShiftStep {
                    at_ms: 0,
                    weight: canary_percentage.min(100) * 10,
                },
                ShiftStep {
                    at_ms: u64::from(canary_interval_minutes) * MINUTE_MS,
                    weight: FULL,
                },
            ],
            DeploymentConfig::TimeBasedLinear {
                linear_percentage,
                linear_interval_minutes,
            } => {
                let p = linear_percentage.clamp(1, 100) * 10;
                let mut out = Vec::new();
                let mut w = 0;
                let mut k = 0u64;
                while w < FULL {
                    w = (w + p).min(FULL);
                    out.push(ShiftStep {
                        at_ms: k * u64::from(linear_interval_minutes) * MINUTE_MS,
                        weight: w,
                    });
                    k += 1;
                }
                out
            }
        }
    }
}

/// `DeploymentInfo.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    Baking,
    Succeeded,
    Failed,
    Stopped,
    Ready,
}

impl DeploymentStatus {
    pub fn is_terminal(self) -> bool {
        match self {
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped => {
                true
            }
            DeploymentStatus::Created
            | DeploymentStatus::Queued
            | DeploymentStatus::InProgress
            | DeploymentStatus::Baking
            | DeploymentStatus::Ready => false,
        }
    }
}

/// The two hook lifecycle events of a Lambda deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LifecycleEvent {
    BeforeAllowTraffic,
    AfterAllowTraffic,
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LifecycleEvent::BeforeAllowTraffic => "BeforeAllowTraffic",
            LifecycleEvent::AfterAllowTraffic => "AfterAllowTraffic",
        })
    }
}

/// `PutLifecycleEventHookExecutionStatus.status` (only these two are accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookStatus {
    Succeeded,
    Failed,
}

/// CloudWatch alarm states, as far as a deployment is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// What the deployment is doing now; every variant carries what resuming needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not started (status Created or Queued).
    Pending,
    /// A hook was invoked and has until `deadline_ms` to report.
    Hook {
        event: LifecycleEvent,
        execution_id: String,
        deadline_ms: u64,
    },
    /// Waiting for `Continue` before traffic moves (status Ready).
    WaitingForContinue,
    /// Shifting: `applied` steps of the schedule are in effect; the next one is due at
    /// `started_ms + schedule[applied].at_ms`.
    Shifting {
        started_ms: u64,
        applied: usize,
    },
    Done,
}

/// Why a deployment ended without success (`ErrorInformation.code`-like).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureReason {
    HookFailed { event: LifecycleEvent },
    HookTimedOut { event: LifecycleEvent },
    AlarmActive { alarm: String },
    StoppedByOperator,
    RolledBackByOperator,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::HookFailed { event } => {
                write!(f, "the {event} hook reported Failed")
            }
            FailureReason::HookTimedOut { event } => {
                write!(f, "the {event} hook did not report a status in time")
            }
            FailureReason::AlarmActive { alarm } => {
                write!(
                    f,
                    "alarm {alarm} is in ALARM; traffic moved back to the old version"
                )
            }
            FailureReason::StoppedByOperator => f.write_str("stopped by the operator"),
            FailureReason::RolledBackByOperator => f.write_str("rolled back by the operator"),
        }
    }
}

/// Everything the executor must do, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Point the alias: `primary` with `1 - weight`, and `additional` with `weight` (per-mille);
    /// `additional: None` = 100% on `primary`.
    SetAliasWeight {
        function: String,
        alias: String,
        primary: u32,
        additional: Option<(u32, u32)>,
    },
    /// Invoke the hook function asynchronously with
    /// `{"DeploymentId": …, "LifecycleEventHookExecutionId": …}`.
    InvokeHook {
        function: String,
        event: LifecycleEvent,
        deployment_id: String,
        execution_id: String,
    },
    /// (Re)arm the deployment's single timer.
    ScheduleTimer { at_ms: u64 },
    /// Tell CloudFormation (the stack update waiting on the alias) that the deployment ended.
    ReportSuccess,
    ReportFailure {
        reason: FailureReason,
        /// True when traffic was moved back to the old version.
        rolled_back: bool,
    },
    /// After a success, an operator rollback is a new deployment with a new ID.
    StartRollbackDeployment { from_version: u32, to_version: u32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Queue behind another deployment of the same deployment group.
    Enqueue,
    Start,
    HookResult {
        execution_id: String,
        status: HookStatus,
    },
    TimerFired,
    AlarmChanged {
        alarm: String,
        state: AlarmState,
    },
    Stop,
    Continue,
    SkipWait,
    Rollback,
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Event::Enqueue => "Enqueue",
            Event::Start => "Start",
            Event::HookResult { .. } => "PutLifecycleEventHookExecutionStatus",
            Event::TimerFired => "TimerFired",
            Event::AlarmChanged { .. } => "AlarmChanged",
            Event::Stop => "StopDeployment",
            Event::Continue => "ContinueDeployment",
            Event::SkipWait => "SkipWait",
            Event::Rollback => "Rollback",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeploymentError {
    #[error("deployment {deployment_id} is {status:?}: {event} is not allowed")]
    NotAllowed {
        deployment_id: String,
        status: DeploymentStatus,
        event: &'static str,
    },
    /// CodeDeploy's `LifecycleEventAlreadyCompletedException`.
    #[error("lifecycle event hook execution {execution_id} has already completed")]
    LifecycleEventAlreadyCompleted { execution_id: String },
    /// CodeDeploy's `InvalidLifecycleEventHookExecutionIdException`.
    #[error(
        "lifecycle event hook execution ID {execution_id} is not valid for deployment {deployment_id}"
    )]
    InvalidHookExecutionId {
        deployment_id: String,
        execution_id: String,
    },
    #[error("alarm {alarm} is not configured for deployment {deployment_id}")]
    UnknownAlarm {
        deployment_id: String,
        alarm: String,
    },
    #[error("nothing to wait for: deployment {deployment_id} is not shifting traffic")]
    NoWait { deployment_id: String },
}

/// Hooks of a deployment (`Hooks.PreTraffic` / `PostTraffic` in SAM).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    pub before_allow_traffic: Option<String>,
    pub after_allow_traffic: Option<String>,
}

/// One CodeDeploy deployment moving an alias from `current_version` to `target_version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub function: String,
    pub alias: String,
    pub current_version: u32,
    pub target_version: u32,
    pub config: DeploymentConfig,
    pub hooks: Hooks,
    /// Alarms watched, with their last known state.
    pub alarms: BTreeMap<String, AlarmState>,
    pub hook_timeout_ms: u64,
    /// Wait in `Ready` for `Continue` after BeforeAllowTraffic.
    pub wait_for_continue: bool,
    pub status: DeploymentStatus,
    pub phase: Phase,
    /// The weight (per-mille on the new version) in effect.
    pub weight: u32,
    pub created_ms: u64,
    pub completed_ms: Option<u64>,
    pub failure: Option<FailureReason>,
    /// Lifecycle hook executions and their results, for `GetDeployment` and idempotence.
    pub hook_executions: BTreeMap<String, Option<HookStatus>>,
    /// Every weight the alias was set to, with when (progress output: "weights over time").
    /// A deployment stored before this field existed reads as an empty history.
    #[serde(default)]
    pub weights: Vec<WeightChange>,
}

/// The alias's weight on the new version changed to `weight` (per-mille) at `at_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightChange {
    pub at_ms: u64,
    pub weight: u32,
}

/// A deployment ID as CodeDeploy writes them (`d-` and nine uppercase letters and digits),
/// derived from a seed (the function, alias, versions and creation time).
pub fn deployment_id(seed: &str) -> String {
    format!("d-{}", &crate::names::suffix(seed, "deployment", 0)[..9])
}

pub struct NewDeployment {
    pub function: String,
    pub alias: String,
    pub current_version: u32,
    pub target_version: u32,
    pub config: DeploymentConfig,
    pub hooks: Hooks,
    pub alarms: Vec<String>,
}

impl Deployment {
    pub fn new(d: NewDeployment, now_ms: u64) -> Deployment {
        let seed = format!(
            "{}:{}:{}->{}@{now_ms}",
            d.function, d.alias, d.current_version, d.target_version
        );
        Deployment {
            id: deployment_id(&seed),
            function: d.function,
            alias: d.alias,
            current_version: d.current_version,
            target_version: d.target_version,
            config: d.config,
            hooks: d.hooks,
            alarms: d
                .alarms
                .into_iter()
                .map(|a| (a, AlarmState::InsufficientData))
                .collect(),
            hook_timeout_ms: DEFAULT_HOOK_TIMEOUT_MS,
            wait_for_continue: false,
            status: DeploymentStatus::Created,
            phase: Phase::Pending,
            weight: 0,
            created_ms: now_ms,
            completed_ms: None,
            failure: None,
            hook_executions: BTreeMap::new(),
            weights: Vec::new(),
        }
    }

    /// When the executor must fire [`Event::TimerFired`] next, if at all.
    pub fn next_timer(&self) -> Option<u64> {
        match &self.phase {
            Phase::Hook { deadline_ms, .. } => Some(*deadline_ms),
            Phase::Shifting {
                started_ms,
                applied,
            } => self
                .config
                .schedule()
                .get(*applied)
                .map(|s| started_ms + s.at_ms),
            Phase::Pending | Phase::WaitingForContinue | Phase::Done => None,
        }
    }

    fn not_allowed(&self, event: &'static str) -> DeploymentError {
        DeploymentError::NotAllowed {
            deployment_id: self.id.clone(),
            status: self.status,
            event,
        }
    }

    /// The pure transition. On error the state is unchanged (the caller keeps its copy).
    pub fn step(
        &self,
        event: Event,
        now_ms: u64,
    ) -> Result<(Deployment, Vec<Action>), DeploymentError> {
        let mut d = self.clone();
        let mut actions = Vec::new();
        d.apply(event, now_ms, &mut actions)?;
        Ok((d, actions))
    }

    fn apply(
        &mut self,
        event: Event,
        now: u64,
        out: &mut Vec<Action>,
    ) -> Result<(), DeploymentError> {
        use DeploymentStatus as S;
        let name = event.name();
        match (event, self.status) {
            // Alarm states are tracked in every state; only a live deployment reacts.
            (Event::AlarmChanged { alarm, state }, _) => {
                let Some(slot) = self.alarms.get_mut(&alarm) else {
                    return Err(DeploymentError::UnknownAlarm {
                        deployment_id: self.id.clone(),
                        alarm,
                    });
                };
                *slot = state;
                if state == AlarmState::Alarm
                    && matches!(self.status, S::InProgress | S::Ready | S::Baking)
                {
                    self.fail(S::Stopped, FailureReason::AlarmActive { alarm }, now, out);
                }
                Ok(())
            }
            (Event::Enqueue, S::Created) => {
                self.status = S::Queued;
                Ok(())
            }
            (Event::Start, S::Created | S::Queued) => {
                self.status = S::InProgress;
                // An alarm already in ALARM fails the deployment before anything moves.
                if let Some(alarm) = self.alarm_in_alarm() {
                    self.fail(S::Stopped, FailureReason::AlarmActive { alarm }, now, out);
                    return Ok(());
                }
                self.enter_before_allow_traffic(now, out);
                Ok(())
            }
            (
                Event::HookResult {
                    execution_id,
                    status,
                },
                _,
            ) => self.hook_result(&execution_id, status, now, out, name),
            (Event::TimerFired, S::InProgress) => {
                match self.next_timer() {
                    Some(at) if at > now => {
                        // Early or duplicate: re-arm for the exact remaining wait.
                        out.push(Action::ScheduleTimer { at_ms: at });
                        return Ok(());
                    }
                    Some(_) => {}
                    None => return Ok(()),
                }
                match self.phase.clone() {
                    Phase::Hook { event: ev, .. } => {
                        self.fail(
                            S::Failed,
                            FailureReason::HookTimedOut { event: ev },
                            now,
                            out,
                        );
                    }
                    Phase::Shifting {
                        started_ms,
                        applied,
                    } => self.shift(started_ms, applied, now, out),
                    Phase::Pending | Phase::WaitingForContinue | Phase::Done => {}
                }
                Ok(())
            }
            (Event::Continue, S::Ready) => {
                self.status = S::InProgress;
                self.enter_allow_traffic(now, out);
                Ok(())
            }
            (Event::SkipWait, S::InProgress) => match self.phase {
                Phase::Shifting { started_ms, .. } => {
                    let last = self.config.schedule().len() - 1;
                    self.shift(started_ms, last, now, out);
                    Ok(())
                }
                Phase::Pending | Phase::Hook { .. } | Phase::WaitingForContinue | Phase::Done => {
                    Err(DeploymentError::NoWait {
                        deployment_id: self.id.clone(),
                    })
                }
            },
            (Event::Stop, S::Created | S::Queued | S::InProgress | S::Ready | S::Baking) => {
                self.fail(S::Stopped, FailureReason::StoppedByOperator, now, out);
                Ok(())
            }
            (Event::Rollback, S::Created | S::Queued | S::InProgress | S::Ready | S::Baking) => {
                self.fail(S::Failed, FailureReason::RolledBackByOperator, now, out);
                Ok(())
            }
            (Event::Rollback, S::Succeeded) => {
                out.push(Action::StartRollbackDeployment {
                    from_version: self.target_version,
                    to_version: self.current_version,
                });
                Ok(())
            }
            (
                Event::Enqueue,
                S::Queued
                | S::InProgress
                | S::Baking
                | S::Succeeded
                | S::Failed
                | S::Stopped
                | S::Ready,
            )
            | (
                Event::Start,
                S::InProgress | S::Baking | S::Succeeded | S::Failed | S::Stopped | S::Ready,
            )
            | (
                Event::TimerFired,
                S::Created
                | S::Queued
                | S::Baking
                | S::Succeeded
                | S::Failed
                | S::Stopped
                | S::Ready,
            )
            | (
                Event::Continue,
                S::Created
                | S::Queued
                | S::InProgress
                | S::Baking
                | S::Succeeded
                | S::Failed
                | S::Stopped,
            )
            | (
                Event::SkipWait,
                S::Created
                | S::Queued
                | S::Baking
                | S::Succeeded
                | S::Failed
                | S::Stopped
                | S::Ready,
            )
            | (Event::Stop, S::Succeeded | S::Failed | S::Stopped)
            | (Event::Rollback, S::Failed | S::Stopped) => Err(self.not_allowed(name)),
        }
    }

    fn alarm_in_alarm(&self) -> Option<String> {
        self.alarms
            .iter()
            .find(|(_, s)| **s == AlarmState::Alarm)
            .map(|(n, _)| n.clone())
    }

    fn hook_result(
        &mut self,
        execution_id: &str,
        status: HookStatus,
        now: u64,
        out: &mut Vec<Action>,
        event: &'static str,
    ) -> Result<(), DeploymentError> {
        match self.hook_executions.get(execution_id) {
            None => {
                return Err(DeploymentError::InvalidHookExecutionId {
                    deployment_id: self.id.clone(),
                    execution_id: execution_id.to_owned(),
                });
            }
            Some(Some(_)) => {
                return Err(DeploymentError::LifecycleEventAlreadyCompleted {
                    execution_id: execution_id.to_owned(),
                });
            }
            Some(None) => {}
        }
        let Phase::Hook {
            event: ev,
            execution_id: waiting,
            ..
        } = self.phase.clone()
        else {
            return Err(self.not_allowed(event));
        };
        if waiting != execution_id || self.status != DeploymentStatus::InProgress {
            return Err(self.not_allowed(event));
        }
        self.hook_executions
            .insert(execution_id.to_owned(), Some(status));
        match (status, ev) {
            (HookStatus::Failed, _) => {
                self.fail(
                    DeploymentStatus::Failed,
                    FailureReason::HookFailed { event: ev },
                    now,
                    out,
                );
            }
            (HookStatus::Succeeded, LifecycleEvent::BeforeAllowTraffic) => {
                if self.wait_for_continue {
                    self.status = DeploymentStatus::Ready;
                    self.phase = Phase::WaitingForContinue;
                } else {
                    self.enter_allow_traffic(now, out);
                }
            }
            (HookStatus::Succeeded, LifecycleEvent::AfterAllowTraffic) => self.succeed(now, out),
        }
        Ok(())
    }

    fn invoke_hook(
        &mut self,
        event: LifecycleEvent,
        function: String,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        let execution_id = format!(
            "{}-{}",
            self.id,
            match event {
                LifecycleEvent::BeforeAllowTraffic => "before",
                LifecycleEvent::AfterAllowTraffic => "after",
            }
        );
        let deadline_ms = now + self.hook_timeout_ms;
        self.hook_executions.insert(execution_id.clone(), None);
        self.phase = Phase::Hook {
            event,
            execution_id: execution_id.clone(),
            deadline_ms,
        };
        out.push(Action::InvokeHook {
            function,
            event,
            deployment_id: self.id.clone(),
            execution_id,
        });
        out.push(Action::ScheduleTimer { at_ms: deadline_ms });
    }

    fn enter_before_allow_traffic(&mut self, now: u64, out: &mut Vec<Action>) {
        match self.hooks.before_allow_traffic.clone() {
            Some(f) => self.invoke_hook(LifecycleEvent::BeforeAllowTraffic, f, now, out),
            None if self.wait_for_continue => {
                self.status = DeploymentStatus::Ready;
                self.phase = Phase::WaitingForContinue;
            }
            None => self.enter_allow_traffic(now, out),
        }
    }

    fn enter_allow_traffic(&mut self, now: u64, out: &mut Vec<Action>) {
        self.phase = Phase::Shifting {
            started_ms: now,
            applied: 0,
        };
        self.shift(now, 0, now, out);
    }

    /// Applies schedule step `index` (all steps up to it are then in effect).
    fn shift(&mut self, started_ms: u64, index: usize, now: u64, out: &mut Vec<Action>) {
        let schedule = self.config.schedule();
        let Some(s) = schedule.get(index) else { return };
        self.weight = s.weight;
        self.weights.push(WeightChange {
            at_ms: now,
            weight: s.weight,
        });
        out.push(self.alias_action(s.weight));
        let applied = index + 1;
        if applied >= schedule.len() {
            self.after_traffic(now, out);
        } else {
            self.phase = Phase::Shifting {
                started_ms,
                applied,
            };
            out.push(Action::ScheduleTimer {
                at_ms: started_ms + schedule[applied].at_ms,
            });
        }
    }

    fn after_traffic(&mut self, now: u64, out: &mut Vec<Action>) {
        match self.hooks.after_allow_traffic.clone() {
            Some(f) => self.invoke_hook(LifecycleEvent::AfterAllowTraffic, f, now, out),
            None => self.succeed(now, out),
        }
    }

    fn alias_action(&self, weight: u32) -> Action {
        let (primary, additional) = if weight >= FULL {
            (self.target_version, None)
        } else if weight == 0 {
            (self.current_version, None)
        } else {
            (self.current_version, Some((self.target_version, weight)))
        };
        Action::SetAliasWeight {
            function: self.function.clone(),
            alias: self.alias.clone(),
            primary,
            additional,
        }
    }

    fn succeed(&mut self, now: u64, out: &mut Vec<Action>) {
        self.status = DeploymentStatus::Succeeded;
        self.phase = Phase::Done;
        self.completed_ms = Some(now);
        out.push(Action::ReportSuccess);
    }

    fn fail(
        &mut self,
        status: DeploymentStatus,
        reason: FailureReason,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        // Traffic goes back only if it moved (a PreTraffic failure leaves the alias untouched).
        let moved = self.weight > 0;
        if moved {
            self.weight = 0;
            self.weights.push(WeightChange {
                at_ms: now,
                weight: 0,
            });
            out.push(self.alias_action(0));
        }
        self.status = status;
        self.phase = Phase::Done;
        self.completed_ms = Some(now);
        self.failure = Some(reason.clone());
        out.push(Action::ReportFailure {
            reason,
            rolled_back: moved,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &[ShiftStep]) -> Vec<(u64, u32)> {
        s.iter()
            .map(|x| (x.at_ms / MINUTE_MS, x.weight / 10))
            .collect()
    }

    #[test]
    fn predefined_schedules() {
        let c = |n: &str| DeploymentConfig::predefined(n).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            pct(&c("Canary10Percent5Minutes").schedule()),
            [(0, 10), (5, 100)]
        );
        assert_eq!(
            pct(&c("CodeDeployDefault.LambdaCanary10Percent30Minutes").schedule()),
            [(0, 10), (30, 100)]
        );
        assert_eq!(
            pct(&c("Canary10Percent10Minutes").schedule()),
            [(0, 10), (10, 100)]
        );
        assert_eq!(
            pct(&c("Canary10Percent15Minutes").schedule()),
            [(0, 10), (15, 100)]
        );
        let l1 = c("Linear10PercentEvery1Minute").schedule();
        assert_eq!(l1.len(), 10);
        assert_eq!(pct(&l1)[..3], [(0, 10), (1, 20), (2, 30)]);
        assert_eq!(pct(&l1)[9], (9, 100));
        assert_eq!(
            pct(&c("Linear10PercentEvery2Minutes").schedule())[9],
            (18, 100)
        );
        assert_eq!(
            pct(&c("Linear10PercentEvery3Minutes").schedule())[9],
            (27, 100)
        );
        assert_eq!(
            pct(&c("Linear10PercentEvery10Minutes").schedule())[9],
            (90, 100)
        );
        assert_eq!(pct(&c("AllAtOnce").schedule()), [(0, 100)]);
        assert!(DeploymentConfig::predefined("Canary7").is_err());
        assert_eq!(PREDEFINED.len(), 9);
    }

    #[test]
    fn custom_schedules() {
        assert_eq!(
            pct(&linear(30, 4).schedule()),
            [(0, 30), (4, 60), (8, 90), (12, 100)]
        );
        assert_eq!(pct(&canary(25, 45).schedule()), [(0, 25), (45, 100)]);
        assert_eq!(canary(0, 5).validate(), Err(ConfigError::Percentage(0)));
        assert_eq!(linear(10, 0).validate(), Err(ConfigError::Interval));
        assert!(linear(50, 1).validate().is_ok());
    }

    #[test]
    fn from_templates() {
        use serde_json::json;
        let c = DeploymentConfig::from_properties(&json!({
            "ComputePlatform": "Lambda",
            "TrafficRoutingConfig": {"Type": "TimeBasedCanary",
                "TimeBasedCanary": {"CanaryPercentage": 25, "CanaryInterval": 45}}
        }));
        assert_eq!(c, Some(Ok(canary(25, 45))));
        let l = DeploymentConfig::from_properties(&json!({
            "TrafficRoutingConfig": {"Type": "TimeBasedLinear",
                "TimeBasedLinear": {"LinearPercentage": "0", "LinearInterval": 1}}
        }));
        assert_eq!(l, Some(Err(ConfigError::Percentage(0))));
        assert_eq!(DeploymentConfig::from_properties(&json!({})), None);

        let group = json!({
            "DeploymentConfigName": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            "AlarmConfiguration": {"Enabled": true, "Alarms": [{"Name": "app-errors"}]}
        });
        let none = |_: &str| None;
        assert_eq!(
            group_settings(&group, &none),
            Ok((linear(10, 1), vec!["app-errors".to_owned()]))
        );
        let custom_group = json!({"DeploymentConfigName": "Mine",
            "AlarmConfiguration": {"Enabled": false, "Alarms": [{"Name": "x"}]}});
        let mine = |n: &str| (n == "Mine").then_some(canary(50, 2));
        assert_eq!(
            group_settings(&custom_group, &mine),
            Ok((canary(50, 2), vec![]))
        );
        assert!(group_settings(&custom_group, &none).is_err());

        let policy = json!({"CodeDeployLambdaAliasUpdate": {
            "ApplicationName": "app", "DeploymentGroupName": "FnDeploymentGroup",
            "BeforeAllowTrafficHook": "pre"}});
        let p = AliasUpdatePolicy::from_update_policy(&policy);
        assert_eq!(
            p.as_ref().map(|p| p.hooks().before_allow_traffic),
            Some(Some("pre".into()))
        );
        assert_eq!(AliasUpdatePolicy::from_update_policy(&json!({})), None);
    }
}
