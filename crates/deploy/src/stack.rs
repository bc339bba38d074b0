//! Stacks: CloudFormation's statuses, the record the store keeps for each stack, the closed set
//! of operations on a stack checked against its status, and the exact event sequences of
//! create, update, rollback and delete.
//!
//! Source: CloudFormation User Guide `using-cfn-describing-stacks` (statuses, what each allows),
//! `using-cfn-updating-stacks-changesets*` (change sets), API reference `ResourceStatus`,
//! `DescribeStackEvents`. The messages of [`StackError`] follow CloudFormation's
//! `ValidationError` texts (`Stack:… is in ROLLBACK_COMPLETE state and can not be updated.`).
//!
//! The executor drives a stack with [`StackRecord::check`] (may this operation start now?),
//! [`StackStatus::advance`] (what status follows when the work completes or fails) and
//! [`event_script`] (which events to emit for a plan and an outcome), persisting each change.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{Phase, Plan, PlanKind, Step};

/// Every stack status CloudFormation reports (`StackStatus` in the API reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StackStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    RollbackInProgress,
    RollbackFailed,
    RollbackComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    UpdateInProgress,
    UpdateCompleteCleanupInProgress,
    UpdateComplete,
    UpdateFailed,
    UpdateRollbackInProgress,
    UpdateRollbackFailed,
    UpdateRollbackCompleteCleanupInProgress,
    UpdateRollbackComplete,
    ReviewInProgress,
    ImportInProgress,
    ImportComplete,
    ImportRollbackInProgress,
    ImportRollbackFailed,
    ImportRollbackComplete,
}

impl StackStatus {
    pub const ALL: [StackStatus; 23] = [
        StackStatus::CreateInProgress,
        StackStatus::CreateFailed,
        StackStatus::CreateComplete,
        StackStatus::RollbackInProgress,
        StackStatus::RollbackFailed,
        StackStatus::RollbackComplete,
        StackStatus::DeleteInProgress,
        StackStatus::DeleteFailed,
        StackStatus::DeleteComplete,
        StackStatus::UpdateInProgress,
        StackStatus::UpdateCompleteCleanupInProgress,
        StackStatus::UpdateComplete,
        StackStatus::UpdateFailed,
        StackStatus::UpdateRollbackInProgress,
        StackStatus::UpdateRollbackFailed,
        StackStatus::UpdateRollbackCompleteCleanupInProgress,
        StackStatus::UpdateRollbackComplete,
        StackStatus::ReviewInProgress,
        StackStatus::ImportInProgress,
        StackStatus::ImportComplete,
        StackStatus::ImportRollbackInProgress,
        StackStatus::ImportRollbackFailed,
        StackStatus::ImportRollbackComplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StackStatus::CreateInProgress => "CREATE_IN_PROGRESS",
            StackStatus::CreateFailed => "CREATE_FAILED",
            StackStatus::CreateComplete => "CREATE_COMPLETE",
            StackStatus::RollbackInProgress => "ROLLBACK_IN_PROGRESS",
            StackStatus::RollbackFailed => "ROLLBACK_FAILED",
            StackStatus::RollbackComplete => "ROLLBACK_COMPLETE",
            StackStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
            StackStatus::DeleteFailed => "DELETE_FAILED",
            StackStatus::DeleteComplete => "DELETE_COMPLETE",
            StackStatus::UpdateInProgress => "UPDATE_IN_PROGRESS",
            StackStatus::UpdateCompleteCleanupInProgress => "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            StackStatus::UpdateComplete => "UPDATE_COMPLETE",
            StackStatus::UpdateFailed => "UPDATE_FAILED",
            StackStatus::UpdateRollbackInProgress => "UPDATE_ROLLBACK_IN_PROGRESS",
            StackStatus::UpdateRollbackFailed => "UPDATE_ROLLBACK_FAILED",
            StackStatus::UpdateRollbackCompleteCleanupInProgress => {
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
            }
            StackStatus::UpdateRollbackComplete => "UPDATE_ROLLBACK_COMPLETE",
            StackStatus::ReviewInProgress => "REVIEW_IN_PROGRESS",
            StackStatus::ImportInProgress => "IMPORT_IN_PROGRESS",
            StackStatus::ImportComplete => "IMPORT_COMPLETE",
            StackStatus::ImportRollbackInProgress => "IMPORT_ROLLBACK_IN_PROGRESS",
            StackStatus::ImportRollbackFailed => "IMPORT_ROLLBACK_FAILED",
            StackStatus::ImportRollbackComplete => "IMPORT_ROLLBACK_COMPLETE",
        }
    }

    pub fn parse(s: &str) -> Option<StackStatus> {
        StackStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Work is under way: no other operation may start (CancelUpdateStack aside).
    pub fn is_in_progress(self) -> bool {
        match self {
            StackStatus::CreateInProgress
            | StackStatus::RollbackInProgress
            | StackStatus::DeleteInProgress
            | StackStatus::UpdateInProgress
            | StackStatus::UpdateCompleteCleanupInProgress
            | StackStatus::UpdateRollbackInProgress
            | StackStatus::UpdateRollbackCompleteCleanupInProgress
            | StackStatus::ImportInProgress
            | StackStatus::ImportRollbackInProgress => true,
            StackStatus::CreateFailed
            | StackStatus::CreateComplete
            | StackStatus::RollbackFailed
            | StackStatus::RollbackComplete
            | StackStatus::DeleteFailed
            | StackStatus::DeleteComplete
            | StackStatus::UpdateComplete
            | StackStatus::UpdateFailed
            | StackStatus::UpdateRollbackFailed
            | StackStatus::UpdateRollbackComplete
            | StackStatus::ReviewInProgress
            | StackStatus::ImportComplete
            | StackStatus::ImportRollbackFailed
            | StackStatus::ImportRollbackComplete => false,
        }
    }

    /// Outputs are only available when no operation is in progress (`outputs-section-structure`).
    pub fn outputs_available(self) -> bool {
        !self.is_in_progress() && self != StackStatus::ReviewInProgress
    }

    /// The status that follows when the work of the current in-progress status ends.
    /// `rollback_on_failure` is false for `--disable-rollback` (`CREATE_FAILED`, `UPDATE_FAILED`).
    pub fn advance(self, outcome: Progress) -> Result<StackStatus, StackError> {
        use Progress::{Completed, Failed};
        use StackStatus as S;
        let next = match (self, outcome) {
            (S::CreateInProgress, Completed) => S::CreateComplete,
            (S::CreateInProgress, Failed { rollback: true }) => S::RollbackInProgress,
            (S::CreateInProgress, Failed { rollback: false }) => S::CreateFailed,
            (S::RollbackInProgress, Completed) => S::RollbackComplete,
            (S::RollbackInProgress, Failed { .. }) => S::RollbackFailed,
            (S::DeleteInProgress, Completed) => S::DeleteComplete,
            (S::DeleteInProgress, Failed { .. }) => S::DeleteFailed,
            (S::UpdateInProgress, Completed) => S::UpdateCompleteCleanupInProgress,
            (S::UpdateInProgress, Failed { rollback: true }) => S::UpdateRollbackInProgress,
            (S::UpdateInProgress, Failed { rollback: false }) => S::UpdateFailed,
            // Cleanup is never rolled back: a resource that fails to delete there is reported
            // (DELETE_FAILED) and the stack completes anyway.
            (S::UpdateCompleteCleanupInProgress, Completed | Failed { .. }) => S::UpdateComplete,
            (S::UpdateRollbackInProgress, Completed) => S::UpdateRollbackCompleteCleanupInProgress,
            (S::UpdateRollbackInProgress, Failed { .. }) => S::UpdateRollbackFailed,
            (S::UpdateRollbackCompleteCleanupInProgress, Completed | Failed { .. }) => {
                S::UpdateRollbackComplete
            }
            (S::ImportInProgress, Completed) => S::ImportComplete,
            (S::ImportInProgress, Failed { .. }) => S::ImportRollbackInProgress,
            (S::ImportRollbackInProgress, Completed) => S::ImportRollbackComplete,
            (S::ImportRollbackInProgress, Failed { .. }) => S::ImportRollbackFailed,
            (
                S::CreateFailed
                | S::CreateComplete
                | S::RollbackFailed
                | S::RollbackComplete
                | S::DeleteFailed
                | S::DeleteComplete
                | S::UpdateComplete
                | S::UpdateFailed
                | S::UpdateRollbackFailed
                | S::UpdateRollbackComplete
                | S::ReviewInProgress
                | S::ImportComplete
                | S::ImportRollbackFailed
                | S::ImportRollbackComplete,
                _,
            ) => return Err(StackError::NothingInProgress { status: self }),
        };
        Ok(next)
    }
}

impl fmt::Display for StackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the work of an in-progress status ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    Completed,
    Failed { rollback: bool },
}

/// A resource's status in stack events (`ResourceStatus` in the API reference, resource values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceStatus {
    CreateInProgress,
    CreateFailed,
    CreateComplete,
    DeleteInProgress,
    DeleteFailed,
    DeleteComplete,
    DeleteSkipped,
    UpdateInProgress,
    UpdateFailed,
    UpdateComplete,
}

impl ResourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceStatus::CreateInProgress => "CREATE_IN_PROGRESS",
            ResourceStatus::CreateFailed => "CREATE_FAILED",
            ResourceStatus::CreateComplete => "CREATE_COMPLETE",
            ResourceStatus::DeleteInProgress => "DELETE_IN_PROGRESS",
            ResourceStatus::DeleteFailed => "DELETE_FAILED",
            ResourceStatus::DeleteComplete => "DELETE_COMPLETE",
            ResourceStatus::DeleteSkipped => "DELETE_SKIPPED",
            ResourceStatus::UpdateInProgress => "UPDATE_IN_PROGRESS",
            ResourceStatus::UpdateFailed => "UPDATE_FAILED",
            ResourceStatus::UpdateComplete => "UPDATE_COMPLETE",
        }
    }
}

/// The status field of one stack event: the stack's own status, or a resource's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventStatus {
    Stack(StackStatus),
    Resource(ResourceStatus),
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Stack(s) => s.as_str(),
            EventStatus::Resource(r) => r.as_str(),
        }
    }
}

/// One event as the planner scripts it (no ID or time yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    pub status: EventStatus,
    pub reason: Option<String>,
}

/// One recorded stack event (`StackEvent` in `DescribeStackEvents`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackEvent {
    pub event_id: String,
    pub timestamp_ms: u64,
    #[serde(flatten)]
    pub spec: EventSpec,
}

/// A parameter as the stack keeps it. The real value is kept (UsePreviousValue needs it);
/// [`StackRecord::described_parameters`] masks NoEcho ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackParameter {
    pub value: String,
    pub no_echo: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackOutput {
    pub value: String,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

/// `DeletionPolicy` / `UpdateReplacePolicy` as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeletionPolicy {
    Delete,
    Retain,
    Snapshot,
    RetainExceptOnCreate,
}

impl From<slipway_model::template::Policy> for DeletionPolicy {
    fn from(p: slipway_model::template::Policy) -> Self {
        use slipway_model::template::Policy;
        match p {
            Policy::Delete => DeletionPolicy::Delete,
            Policy::Retain => DeletionPolicy::Retain,
            Policy::Snapshot => DeletionPolicy::Snapshot,
            Policy::RetainExceptOnCreate => DeletionPolicy::RetainExceptOnCreate,
        }
    }
}

impl DeletionPolicy {
    /// Whether removing the resource from the stack leaves it in place. `Snapshot` has no
    /// meaning for the types Slipway runs and deletes, as CloudFormation does for types without
    /// snapshots; `RetainExceptOnCreate` retains except when rolling back its own creation.
    pub fn retains(self, rolling_back_create: bool) -> bool {
        match self {
            DeletionPolicy::Delete | DeletionPolicy::Snapshot => false,
            DeletionPolicy::Retain => true,
            DeletionPolicy::RetainExceptOnCreate => !rolling_back_create,
        }
    }
}

/// A resource the stack owns, as deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployedResource {
    pub resource_type: String,
    pub physical_id: String,
    /// The properties as the template gave them, references still symbolic: what the next
    /// plan compares against.
    pub properties: Value,
    /// The same properties with references replaced by physical values: what was applied.
    pub resolved: Value,
    /// Attributes `Fn::GetAtt` can read (`Arn`, `Version`, …).
    pub attributes: BTreeMap<String, Value>,
    pub deletion_policy: Option<DeletionPolicy>,
    pub update_replace_policy: Option<DeletionPolicy>,
    pub dependencies: BTreeSet<String>,
    pub status: ResourceStatus,
}

/// `ChangeSetType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeSetType {
    Create,
    Update,
}

/// A change set's `ExecutionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Unavailable,
    Available,
    ExecuteInProgress,
    ExecuteComplete,
    ExecuteFailed,
    Obsolete,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangeSetRecord {
    pub name: String,
    pub id: String,
    pub change_set_type: ChangeSetType,
    pub execution_status: ExecutionStatus,
    pub created_ms: u64,
    pub plan: Plan,
    /// The resolved template the change set would deploy (`Template::to_json` form).
    pub template: Value,
    pub parameters: IndexMap<String, StackParameter>,
    pub tags: BTreeMap<String, String>,
}

/// Everything the store keeps about one stack in one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StackRecord {
    pub name: String,
    /// `account/region`.
    pub target: String,
    /// `arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`.
    pub id: String,
    pub status: StackStatus,
    pub status_reason: Option<String>,
    /// The resolved template last deployed (`Template::to_json` form); `Null` before the first.
    pub template: Value,
    pub parameters: IndexMap<String, StackParameter>,
    /// In deployment order (dependencies first): deletes walk it backwards.
    pub resources: IndexMap<String, DeployedResource>,
    pub outputs: IndexMap<String, StackOutput>,
    pub tags: BTreeMap<String, String>,
    pub change_sets: Vec<ChangeSetRecord>,
    pub events: Vec<StackEvent>,
    /// Export names this stack's template imports (`Fn::ImportValue`).
    pub imports: BTreeSet<String>,
    /// Bumped on every write; the store compares and swaps on it.
    pub generation: u64,
}

/// A closed set of the operations a stack accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StackOperation {
    Create,
    Update,
    Delete,
    CreateChangeSet {
        name: String,
        change_set_type: ChangeSetType,
    },
    DescribeChangeSet {
        name: String,
    },
    ExecuteChangeSet {
        name: String,
    },
    DeleteChangeSet {
        name: String,
    },
    ContinueUpdateRollback,
    CancelUpdateStack,
}

impl StackOperation {
    pub fn name(&self) -> &'static str {
        match self {
            StackOperation::Create => "CreateStack",
            StackOperation::Update => "UpdateStack",
            StackOperation::Delete => "DeleteStack",
            StackOperation::CreateChangeSet { .. } => "CreateChangeSet",
            StackOperation::DescribeChangeSet { .. } => "DescribeChangeSet",
            StackOperation::ExecuteChangeSet { .. } => "ExecuteChangeSet",
            StackOperation::DeleteChangeSet { .. } => "DeleteChangeSet",
            StackOperation::ContinueUpdateRollback => "ContinueUpdateRollback",
            StackOperation::CancelUpdateStack => "CancelUpdateStack",
        }
    }
}

/// Who imports which export, across the target (the store answers this).
pub trait ImportIndex {
    /// Stacks (by name) whose templates import `export_name`.
    fn importers(&self, export_name: &str) -> Vec<String>;
}

impl ImportIndex for BTreeMap<String, Vec<String>> {
    fn importers(&self, export_name: &str) -> Vec<String> {
        self.get(export_name).cloned().unwrap_or_default()
    }
}

/// No stack imports anything.
pub struct NoImports;

impl ImportIndex for NoImports {
    fn importers(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    #[error("Stack [{stack}] already exists")]
    AlreadyExists { stack: String },
    #[error("Stack with id {stack} does not exist")]
    DoesNotExist { stack: String },
    #[error("Stack:{stack_id} is in {status} state and can not be updated.")]
    NotUpdatable {
        stack_id: String,
        status: StackStatus,
    },
    #[error("Stack:{stack_id} is in {status} state and can not be {verb}.")]
    NotAllowed {
        stack_id: String,
        status: StackStatus,
        verb: &'static str,
    },
    #[error(
        "Stack [{stack}] already exists and cannot be created again with the changeSet [{change_set}]."
    )]
    ChangeSetOnExistingStack { stack: String, change_set: String },
    #[error("ChangeSet [{change_set}] already exists")]
    ChangeSetExists { change_set: String },
    #[error("ChangeSet [{change_set}] does not exist")]
    ChangeSetNotFound { change_set: String },
    #[error(
        "ChangeSet [{change_set}] cannot be executed in its current execution status of [{status:?}]"
    )]
    ChangeSetNotExecutable {
        change_set: String,
        status: ExecutionStatus,
    },
    #[error("Export {export} cannot be deleted as it is in use by {}", importers.join(", "))]
    ExportInUse {
        export: String,
        importers: Vec<String>,
    },
    #[error(
        "Invalid input for parameter key {key}. Cannot specify usePreviousValue as true for a parameter key not in the previous template"
    )]
    NoPreviousValue { key: String },
    #[error(
        "Invalid input for parameter key {key}. Cannot specify usePreviousValue as true and non empty value for a parameter"
    )]
    PreviousAndValue { key: String },
    #[error(
        "Invalid input for parameter key {key}. Cannot specify usePreviousValue on a stack that does not exist"
    )]
    PreviousOnCreate { key: String },
    #[error("stack status {status} has no work in progress to finish")]
    NothingInProgress { status: StackStatus },
}

/// One entry of `--parameter-overrides` / `Parameters` in Create/UpdateStack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterInput {
    pub key: String,
    pub value: Option<String>,
    pub use_previous_value: bool,
}

/// What [`resolve_parameter_inputs`] hands to `slipway_model::template::Options`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterValues {
    /// `Options::overrides`.
    pub overrides: Vec<(String, String)>,
    /// `Options::previous`: values the stack had, for `UsePreviousValue`.
    pub previous: BTreeMap<String, String>,
}

/// Checks `UsePreviousValue` inputs against the stack and splits them for template resolution.
pub fn resolve_parameter_inputs(
    current: Option<&StackRecord>,
    inputs: &[ParameterInput],
) -> Result<ParameterValues, StackError> {
    let mut out = ParameterValues::default();
    for p in inputs {
        match (p.use_previous_value, &p.value) {
            (true, Some(v)) if !v.is_empty() => {
                return Err(StackError::PreviousAndValue { key: p.key.clone() });
            }
            (true, _) => {
                let Some(stack) = current.filter(|s| s.exists()) else {
                    return Err(StackError::PreviousOnCreate { key: p.key.clone() });
                };
                let Some(prev) = stack.parameters.get(&p.key) else {
                    return Err(StackError::NoPreviousValue { key: p.key.clone() });
                };
                out.previous.insert(p.key.clone(), prev.value.clone());
            }
            (false, Some(v)) => out.overrides.push((p.key.clone(), v.clone())),
            (false, None) => {}
        }
    }
    Ok(out)
}

impl StackRecord {
    /// A stack that has been named but not yet deployed (CreateStack's first moment, or a
    /// CREATE-type change set, which leaves it in REVIEW_IN_PROGRESS).
    pub fn new(name: &str, target: &str, id: &str, status: StackStatus) -> StackRecord {
        StackRecord {
            name: name.to_owned(),
            target: target.to_owned(),
            id: id.to_owned(),
            status,
            status_reason: None,
            template: Value::Null,
            parameters: IndexMap::new(),
            resources: IndexMap::new(),
            outputs: IndexMap::new(),
            tags: BTreeMap::new(),
            change_sets: Vec::new(),
            events: Vec::new(),
            imports: BTreeSet::new(),
            generation: 0,
        }
    }

    /// False once deleted: a DELETE_COMPLETE stack is history, and its name is free again.
    pub fn exists(&self) -> bool {
        self.status != StackStatus::DeleteComplete
    }

    /// Parameters as `DescribeStacks` shows them: NoEcho values masked.
    pub fn described_parameters(&self) -> IndexMap<String, String> {
        self.parameters
            .iter()
            .map(|(k, p)| {
                let v = if p.no_echo {
                    slipway_model::template::params::MASK.to_owned()
                } else {
                    p.value.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// Exports this stack declares.
    pub fn exports(&self) -> impl Iterator<Item = (&str, &str)> {
        self.outputs
            .values()
            .filter_map(|o| o.export_name.as_deref().map(|n| (n, o.value.as_str())))
    }

    /// Whether `op` may start now. `stack` is `None` when no stack of that name exists.
    pub fn check(
        stack: Option<&StackRecord>,
        stack_name: &str,
        op: &StackOperation,
        imports: &dyn ImportIndex,
    ) -> Result<(), StackError> {
        let live = stack.filter(|s| s.exists());
        let Some(s) = live else {
            return match op {
                StackOperation::Create
                | StackOperation::CreateChangeSet {
                    change_set_type: ChangeSetType::Create,
                    ..
                } => Ok(()),
                StackOperation::Update
                | StackOperation::Delete
                | StackOperation::CreateChangeSet {
                    change_set_type: ChangeSetType::Update,
                    ..
                }
                | StackOperation::DescribeChangeSet { .. }
                | StackOperation::ExecuteChangeSet { .. }
                | StackOperation::DeleteChangeSet { .. }
                | StackOperation::ContinueUpdateRollback
                | StackOperation::CancelUpdateStack => Err(StackError::DoesNotExist {
                    stack: stack_name.to_owned(),
                }),
            };
        };
        s.check_status(op)?;
        match op {
            StackOperation::Delete => {
                for (export, _) in s.exports() {
                    let importers: Vec<String> = imports
                        .importers(export)
                        .into_iter()
                        .filter(|n| n != &s.name)
                        .collect();
                    if !importers.is_empty() {
                        return Err(StackError::ExportInUse {
                            export: export.to_owned(),
                            importers,
                        });
                    }
                }
                Ok(())
            }
            StackOperation::CreateChangeSet { name, .. } => {
                if s.change_sets.iter().any(|c| &c.name == name) {
                    return Err(StackError::ChangeSetExists {
                        change_set: name.clone(),
                    });
                }
                Ok(())
            }
            StackOperation::ExecuteChangeSet { name } => {
                let cs = s.change_set(name)?;
                match cs.execution_status {
                    ExecutionStatus::Available => Ok(()),
                    st @ (ExecutionStatus::Unavailable
                    | ExecutionStatus::ExecuteInProgress
                    | ExecutionStatus::ExecuteComplete
                    | ExecutionStatus::ExecuteFailed
                    | ExecutionStatus::Obsolete) => Err(StackError::ChangeSetNotExecutable {
                        change_set: name.clone(),
                        status: st,
                    }),
                }
            }
            StackOperation::DescribeChangeSet { name }
            | StackOperation::DeleteChangeSet { name } => s.change_set(name).map(|_| ()),
            StackOperation::Create
            | StackOperation::Update
            | StackOperation::ContinueUpdateRollback
            | StackOperation::CancelUpdateStack => Ok(()),
        }
    }

    fn change_set(&self, name: &str) -> Result<&ChangeSetRecord, StackError> {
        self.change_sets
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| StackError::ChangeSetNotFound {
                change_set: name.to_owned(),
            })
    }

    /// The status table: which operations each status allows.
    fn check_status(&self, op: &StackOperation) -> Result<(), StackError> {
        use StackStatus as S;
        let not_updatable = || StackError::NotUpdatable {
            stack_id: self.id.clone(),
            status: self.status,
        };
        let not = |verb: &'static str| StackError::NotAllowed {
            stack_id: self.id.clone(),
            status: self.status,
            verb,
        };
        let stable = matches!(
            self.status,
            S::CreateComplete | S::UpdateComplete | S::UpdateRollbackComplete | S::ImportComplete
        );
        match op {
            StackOperation::Create => Err(StackError::AlreadyExists {
                stack: self.name.clone(),
            }),
            StackOperation::Update => {
                if stable {
                    Ok(())
                } else {
                    Err(not_updatable())
                }
            }
            StackOperation::Delete => match self.status {
                S::CreateComplete
                | S::CreateFailed
                | S::RollbackComplete
                | S::RollbackFailed
                | S::DeleteFailed
                | S::UpdateComplete
                | S::UpdateFailed
                | S::UpdateRollbackComplete
                | S::UpdateRollbackFailed
                | S::ReviewInProgress
                | S::ImportComplete
                | S::ImportRollbackComplete
                | S::ImportRollbackFailed => Ok(()),
                S::CreateInProgress
                | S::RollbackInProgress
                | S::DeleteInProgress
                | S::DeleteComplete
                | S::UpdateInProgress
                | S::UpdateCompleteCleanupInProgress
                | S::UpdateRollbackInProgress
                | S::UpdateRollbackCompleteCleanupInProgress
                | S::ImportInProgress
                | S::ImportRollbackInProgress => Err(not("deleted")),
            },
            StackOperation::CreateChangeSet {
                name,
                change_set_type,
            } => match change_set_type {
                ChangeSetType::Create if self.status == S::ReviewInProgress => Ok(()),
                ChangeSetType::Create => Err(StackError::ChangeSetOnExistingStack {
                    stack: self.name.clone(),
                    change_set: name.clone(),
                }),
                ChangeSetType::Update if stable => Ok(()),
                ChangeSetType::Update => Err(not_updatable()),
            },
            StackOperation::ExecuteChangeSet { .. } => {
                if stable || self.status == S::ReviewInProgress {
                    Ok(())
                } else {
                    Err(not_updatable())
                }
            }
            StackOperation::DescribeChangeSet { .. } => Ok(()),
            StackOperation::DeleteChangeSet { .. } => {
                if self.status.is_in_progress() {
                    Err(not_updatable())
                } else {
                    Ok(())
                }
            }
            StackOperation::ContinueUpdateRollback => {
                if self.status == S::UpdateRollbackFailed {
                    Ok(())
                } else {
                    Err(not("rolled back"))
                }
            }
            StackOperation::CancelUpdateStack => {
                if self.status == S::UpdateInProgress {
                    Ok(())
                } else {
                    Err(not("cancelled"))
                }
            }
        }
    }

    /// Executing a change set deletes every other change set of the stack
    /// (`using-cfn-updating-stacks-changesets-execute`); returns the executed one.
    pub fn take_change_set_for_execution(
        &mut self,
        name: &str,
    ) -> Result<ChangeSetRecord, StackError> {
        let Some(i) = self.change_sets.iter().position(|c| c.name == name) else {
            return Err(StackError::ChangeSetNotFound {
                change_set: name.to_owned(),
            });
        };
        let mut cs = self.change_sets.swap_remove(i);
        self.change_sets.clear();
        cs.execution_status = ExecutionStatus::ExecuteInProgress;
        Ok(cs)
    }

    /// A direct update makes the stack's change sets obsolete.
    pub fn obsolete_change_sets(&mut self) {
        for c in &mut self.change_sets {
            c.execution_status = ExecutionStatus::Obsolete;
        }
    }

    /// Records an event, numbering it deterministically.
    pub fn record(&mut self, spec: EventSpec, now_ms: u64) {
        let event_id = if spec.resource_type == STACK_TYPE {
            format!("{}-{}-{}", self.id, spec.status.as_str(), self.events.len())
        } else {
            format!(
                "{}-{}-{}",
                spec.logical_id,
                spec.status.as_str(),
                self.events.len()
            )
        };
        if spec.resource_type == STACK_TYPE
            && let EventStatus::Stack(st) = spec.status
        {
            self.status = st;
            self.status_reason = spec.reason.clone();
        }
        self.events.push(StackEvent {
            event_id,
            timestamp_ms: now_ms,
            spec,
        });
    }
}

pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// How a plan's execution ended, for [`event_script`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Step `step` (an index into `plan.steps`) failed with `reason`; the failed resource gets a
    /// `*_FAILED` event and everything done before it is undone.
    FailedAt {
        step: usize,
        reason: String,
    },
}

fn ev(
    logical_id: &str,
    physical_id: Option<&str>,
    resource_type: &str,
    status: EventStatus,
    reason: Option<&str>,
) -> EventSpec {
    EventSpec {
        logical_id: logical_id.to_owned(),
        physical_id: physical_id.map(str::to_owned),
        resource_type: resource_type.to_owned(),
        status,
        reason: reason.map(str::to_owned),
    }
}

fn step_events(step: &Step, out: &mut Vec<EventSpec>, rolling_back_create: bool) {
    use ResourceStatus as R;
    let r = EventStatus::Resource;
    match step {
        Step::Create {
            logical_id,
            resource_type,
            ..
        } => {
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::CreateInProgress),
                None,
            ));
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::CreateInProgress),
                Some("Resource creation Initiated"),
            ));
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::CreateComplete),
                None,
            ));
        }
        Step::Update {
            logical_id,
            resource_type,
            physical_id,
            ..
        } => {
            out.push(ev(
                logical_id,
                Some(physical_id),
                resource_type,
                r(R::UpdateInProgress),
                None,
            ));
            out.push(ev(
                logical_id,
                Some(physical_id),
                resource_type,
                r(R::UpdateComplete),
                None,
            ));
        }
        Step::Replace {
            logical_id,
            resource_type,
            old_physical_id,
            ..
        } => {
            out.push(ev(
                logical_id,
                Some(old_physical_id),
                resource_type,
                r(R::UpdateInProgress),
                None,
            ));
            out.push(ev(
                logical_id,
                Some(old_physical_id),
                resource_type,
                r(R::UpdateInProgress),
                Some(REPLACEMENT_REASON),
            ));
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::UpdateInProgress),
                Some("Resource creation Initiated"),
            ));
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::UpdateComplete),
                None,
            ));
        }
        Step::Delete {
            logical_id,
            resource_type,
            physical_id,
            policy,
            ..
        }
        | Step::DeleteReplaced {
            logical_id,
            resource_type,
            physical_id,
            policy,
            ..
        } => {
            let pid = physical_id.as_deref();
            if policy.is_some_and(|p| p.retains(rolling_back_create)) {
                out.push(ev(
                    logical_id,
                    pid,
                    resource_type,
                    r(R::DeleteSkipped),
                    None,
                ));
            } else {
                out.push(ev(
                    logical_id,
                    pid,
                    resource_type,
                    r(R::DeleteInProgress),
                    None,
                ));
                out.push(ev(
                    logical_id,
                    pid,
                    resource_type,
                    r(R::DeleteComplete),
                    None,
                ));
            }
        }
        Step::DiscardReplacement {
            logical_id,
            resource_type,
            ..
        } => {
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::DeleteInProgress),
                None,
            ));
            out.push(ev(
                logical_id,
                None,
                resource_type,
                r(R::DeleteComplete),
                None,
            ));
        }
    }
}

pub const REPLACEMENT_REASON: &str =
    "Requested update requires the creation of a new physical resource; hence creating one.";

fn failed_status(step: &Step) -> ResourceStatus {
    match step {
        Step::Create { .. } => ResourceStatus::CreateFailed,
        Step::Update { .. } | Step::Replace { .. } => ResourceStatus::UpdateFailed,
        Step::Delete { .. } | Step::DeleteReplaced { .. } | Step::DiscardReplacement { .. } => {
            ResourceStatus::DeleteFailed
        }
    }
}

/// The exact sequence of stack events a plan produces for an outcome: what
/// `DescribeStackEvents` lists (oldest first) after the operation ends.
pub fn event_script(stack: &str, stack_id: &str, plan: &Plan, outcome: &Outcome) -> Vec<EventSpec> {
    use StackStatus as S;
    let st = |s: StackStatus, reason: Option<&str>| {
        let mut e = ev(
            stack,
            Some(stack_id),
            STACK_TYPE,
            EventStatus::Stack(s),
            reason,
        );
        e.logical_id = stack.to_owned();
        e
    };
    let mut out = Vec::new();
    let (begin, rollback_status, main_done) = match plan.kind {
        PlanKind::Create => (
            S::CreateInProgress,
            S::RollbackInProgress,
            S::CreateComplete,
        ),
        PlanKind::Update => (
            S::UpdateInProgress,
            S::UpdateRollbackInProgress,
            S::UpdateCompleteCleanupInProgress,
        ),
        PlanKind::Delete => (S::DeleteInProgress, S::DeleteFailed, S::DeleteComplete),
    };
    out.push(st(begin, Some("User Initiated")));
    let failed_at = match outcome {
        Outcome::Succeeded => None,
        Outcome::FailedAt { step, reason } => Some((*step, reason.as_str())),
    };
    let creating = plan.kind == PlanKind::Create;
    for (i, ps) in plan.steps.iter().enumerate() {
        if ps.step.phase() == Phase::Cleanup && plan.kind == PlanKind::Update {
            continue;
        }
        if let Some((f, reason)) = failed_at
            && f == i
        {
            let (lid, ty) = (ps.step.logical_id(), ps.step.resource_type());
            let r = EventStatus::Resource;
            let start = match failed_status(&ps.step) {
                ResourceStatus::CreateFailed => ResourceStatus::CreateInProgress,
                ResourceStatus::UpdateFailed => ResourceStatus::UpdateInProgress,
                ResourceStatus::CreateInProgress
                | ResourceStatus::CreateComplete
                | ResourceStatus::DeleteInProgress
                | ResourceStatus::DeleteFailed
                | ResourceStatus::DeleteComplete
                | ResourceStatus::DeleteSkipped
                | ResourceStatus::UpdateInProgress
                | ResourceStatus::UpdateComplete => ResourceStatus::DeleteInProgress,
            };
            out.push(ev(lid, None, ty, r(start), None));
            out.push(ev(lid, None, ty, r(failed_status(&ps.step)), Some(reason)));
            if plan.kind == PlanKind::Delete {
                out.push(st(
                    S::DeleteFailed,
                    Some(&delete_failed_reason(lid, reason)),
                ));
                return out;
            }
            let why = match plan.kind {
                PlanKind::Create => format!(
                    "The following resource(s) failed to create: [{lid}]. Rollback requested by user."
                ),
                PlanKind::Update | PlanKind::Delete => {
                    format!("The following resource(s) failed to update: [{lid}]. ")
                }
            };
            out.push(st(rollback_status, Some(&why)));
            // The failed resource itself: a failed create is cleaned up first.
            if creating {
                let r = EventStatus::Resource;
                out.push(ev(lid, None, ty, r(ResourceStatus::DeleteInProgress), None));
                out.push(ev(lid, None, ty, r(ResourceStatus::DeleteComplete), None));
            }
            let undo = plan.rollback_after_failure(i);
            let mut cleanup_started = false;
            for u in &undo {
                if u.phase() == Phase::Cleanup && plan.kind == PlanKind::Update && !cleanup_started
                {
                    out.push(st(S::UpdateRollbackCompleteCleanupInProgress, None));
                    cleanup_started = true;
                }
                step_events(u, &mut out, creating);
            }
            match plan.kind {
                PlanKind::Create => out.push(st(S::RollbackComplete, None)),
                PlanKind::Update | PlanKind::Delete => {
                    if !cleanup_started {
                        out.push(st(S::UpdateRollbackCompleteCleanupInProgress, None));
                    }
                    out.push(st(S::UpdateRollbackComplete, None));
                }
            }
            return out;
        }
        step_events(&ps.step, &mut out, false);
    }
    match plan.kind {
        PlanKind::Create | PlanKind::Delete => out.push(st(main_done, None)),
        PlanKind::Update => {
            out.push(st(main_done, None));
            for ps in plan
                .steps
                .iter()
                .filter(|s| s.step.phase() == Phase::Cleanup)
            {
                step_events(&ps.step, &mut out, false);
            }
            out.push(st(S::UpdateComplete, None));
        }
    }
    out
}

fn delete_failed_reason(lid: &str, reason: &str) -> String {
    format!("The following resource(s) failed to delete: [{lid}]. {reason}")
}

impl StackRecord {
    /// Records what the template's parameters were, after a deployment completes (NoEcho kept,
    /// masked only when described).
    pub fn set_parameters(&mut self, template: &slipway_model::template::Template) {
        use slipway_model::template::ParamValue;
        self.parameters = template
            .parameters
            .iter()
            .map(|(k, p)| {
                let value = match &p.value {
                    ParamValue::String(s) => s.clone(),
                    ParamValue::List(items) => items.join(","),
                };
                (
                    k.clone(),
                    StackParameter {
                        value,
                        no_echo: p.decl.no_echo,
                    },
                )
            })
            .collect();
    }

    /// The resource record for a resource of `template` once a step created or updated it.
    pub fn deployed_resource(
        template: &slipway_model::template::Template,
        logical_id: &str,
        physical_id: &str,
        resolved: Value,
    ) -> Option<DeployedResource> {
        let r = template.resources.get(logical_id)?;
        Some(DeployedResource {
            resource_type: r.type_.clone(),
            physical_id: physical_id.to_owned(),
            properties: r.properties.to_json(),
            resolved,
            attributes: BTreeMap::new(),
            deletion_policy: r.deletion_policy.map(DeletionPolicy::from),
            update_replace_policy: r.update_replace_policy.map(DeletionPolicy::from),
            dependencies: r.dependencies.clone(),
            status: ResourceStatus::CreateComplete,
        })
    }
}
