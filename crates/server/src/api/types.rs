//! The control API's wire types, in one place: the server writes them, the CLI's client reads
//! them (`slipway_server::api::types`). Field names are camelCase on the wire; times are epoch
//! milliseconds; CloudFormation and CodeDeploy values (statuses, actions) are spelled as those
//! services spell them. `docs/openapi.yaml` describes the same shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every error: `{"error": {"code", "message"}}` (template problems add `diagnostics`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Stable: `BadRequest`, `InvalidTemplate`, `Unauthorized`, `NotFound`, `MethodNotAllowed`,
    /// `Conflict`, `NoChanges`, `Internal`.
    pub code: String,
    pub message: String,
    /// The template's diagnostics (as `slipway validate --output json` prints them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackList {
    pub stacks: Vec<StackSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSummary {
    pub name: String,
    pub id: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// Time of the stack's last event.
    pub updated_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stack {
    pub name: String,
    pub id: String,
    /// `ACCOUNT/REGION`.
    pub target: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// Parameter values as `DescribeStacks` shows them (`NoEcho` ones masked).
    pub parameters: BTreeMap<String, String>,
    pub outputs: Vec<Output>,
    pub resources: Vec<Resource>,
    pub change_sets: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Where the stack's APIs answer on the server's gateway (empty without a gateway).
    #[serde(default)]
    pub api_urls: Vec<ApiUrl>,
}

/// One API stage's invoke URLs on the gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUrl {
    pub logical_id: String,
    pub api_id: String,
    pub stage: String,
    /// `http://HOST:PORT/_api/{apiId}/{stage}/`
    pub path_url: String,
    /// `http://{apiId}.execute-api.localhost:PORT/{stage}/`
    pub host_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub key: String,
    pub value: String,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub logical_id: String,
    pub physical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    /// Oldest first, from index `since` of the stack's events.
    pub events: Vec<StackEvent>,
    /// How many events the stack has: the next `since`.
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackEvent {
    pub event_id: String,
    pub timestamp_ms: u64,
    pub logical_id: String,
    pub physical_id: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// `POST …/stacks/{stack}/deploy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployInput {
    /// The template's text (YAML or JSON).
    pub template: String,
    /// Its name in diagnostics (default `template.yaml`).
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The directory, on the server's machine, that local `CodeUri` paths are relative to
    /// (the project directory).
    #[serde(default)]
    pub code_root: Option<String>,
    /// Default: `slipway-<epoch ms>`.
    #[serde(default)]
    pub change_set_name: Option<String>,
    #[serde(default)]
    pub options: DeployOptions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployOptions {
    /// Create the change set and stop: it waits to be reviewed and executed.
    #[serde(default)]
    pub no_execute_changeset: bool,
    /// Plan only: nothing is stored.
    #[serde(default)]
    pub dry_run: bool,
    /// The capabilities acknowledged (`CAPABILITY_IAM`, `CAPABILITY_NAMED_IAM`,
    /// `CAPABILITY_AUTO_EXPAND`), checked as `CreateChangeSet` checks them. Absent: not
    /// checked (Slipway's own leniency for local deploys that name none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameter {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub use_previous_value: bool,
}

/// What a deploy did: planned (`dryRun`), created a change set, and possibly executed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployOutput {
    /// `CREATE` or `UPDATE`.
    pub change_set_type: String,
    pub changes: Vec<Change>,
    /// Absent for a dry run.
    pub change_set: Option<ChangeSet>,
    /// Present when the change set was executed.
    pub operation: Option<Operation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `Add`, `Modify`, `Remove`.
    pub action: String,
    pub logical_id: String,
    pub physical_id: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `True`, `False`, `Conditional`; only for `Modify`.
    pub replacement: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSet {
    pub name: String,
    pub id: String,
    pub stack: String,
    pub change_set_type: String,
    /// CloudFormation's `ExecutionStatus` (`AVAILABLE`, `EXECUTE_COMPLETE`, …).
    pub execution_status: String,
    pub created_ms: u64,
    pub changes: Vec<Change>,
}

/// A stack operation started (or resumed): where it is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub operation_id: String,
    pub stack: String,
    pub status: String,
    /// The traffic-shifting deployment the operation waits for (the server's ticker moves it).
    pub waiting_on: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentList {
    /// Oldest first.
    pub deployments: Vec<Deployment>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub target: String,
    pub function: String,
    pub alias: String,
    pub current_version: u32,
    pub target_version: u32,
    /// `CodeDeployDefault.LambdaCanary10Percent5Minutes`, …
    pub config: String,
    /// CodeDeploy's status: `Created`, `Queued`, `InProgress`, `Baking`, `Ready`, `Succeeded`,
    /// `Failed`, `Stopped`.
    pub status: String,
    /// `Pending`, `BeforeAllowTraffic`, `AfterAllowTraffic`, `WaitingForContinue`,
    /// `AllowTraffic`, `Done`.
    pub phase: String,
    /// Share of traffic on the target version, in percent (0–100).
    pub weight_percent: f64,
    /// The schedule: at `atMs` after traffic starts moving, `weightPercent` on the new version.
    pub schedule: Vec<ShiftStep>,
    /// Every weight the alias was set to so far, oldest first (`atMs`: the server's clock).
    pub weights: Vec<ShiftStep>,
    /// When the next shift step or hook timeout is due (the server's clock).
    pub next_event_ms: Option<u64>,
    pub created_ms: u64,
    pub completed_ms: Option<u64>,
    pub failure: Option<String>,
    pub hooks: Vec<HookResult>,
    /// Alarm name → `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub alarms: BTreeMap<String, String>,
    /// The server's clock when this was read (what `nextEventMs` is relative to).
    pub now_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftStep {
    pub at_ms: u64,
    pub weight_percent: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookResult {
    /// `BeforeAllowTraffic` or `AfterAllowTraffic`.
    pub lifecycle_event: String,
    pub function: String,
    /// `Pending`, `Succeeded`, `Failed` (absent: not invoked yet).
    pub status: Option<String>,
}

/// An operator action on a deployment (`POST /deployments/{id}/actions`): a closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentAction {
    /// CodeDeploy's `StopDeployment` with auto-rollback: traffic back on the old version.
    Stop,
    /// CodeDeploy's `ContinueDeployment` of a deployment waiting in `Ready`.
    Continue,
    /// Skip the remaining wait of the shift: 100 % on the new version now.
    SkipWait,
}

impl DeploymentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentAction::Stop => "stop",
            DeploymentAction::Continue => "continue",
            DeploymentAction::SkipWait => "skip-wait",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionInput {
    pub action: DeploymentAction,
}

/// What `POST …/functions/{function}/aliases/{alias}/rollback` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackOutput {
    pub function: String,
    pub alias: String,
    /// `StoppedDeployment` (an in-progress deployment was stopped with rollback) or
    /// `MovedAlias` (no deployment in progress: the alias was pointed at the previous version).
    pub kind: String,
    /// The version the alias pointed at before (its primary version).
    pub from_version: u32,
    /// The version the alias points at now, with all of the traffic.
    pub to_version: u32,
    /// The deployment that was stopped.
    pub deployment_id: Option<String>,
}
