//! The planner: desired template vs. deployed stack → a plan, which is data.
//!
//! A [`Plan`] has two faces. [`Plan::changes`] is the change set as CloudFormation describes it
//! (`ResourceChange{Action, LogicalResourceId, PhysicalResourceId, ResourceType, Replacement,
//! Scope, Details}`, CFN `using-cfn-updating-stacks-changesets*`, API `ResourceChangeDetail`), and
//! [`Plan::steps`] is what the executor carries out, in order, each step with its undo. The
//! executor persists "step k is about to run" before running it; after a failure (or a crash)
//! [`Plan::rollback`] gives the undo steps of everything done so far, and [`Plan::inverse`] the
//! rollback of the whole plan.
//!
//! Rules (CFN `using-cfn-updating-stacks-changesets`, `using-cfn-describing-stacks`):
//!
//! - Creates and updates run in the template's dependency order; a replacement creates the new
//!   physical resource in the main phase and deletes the old one in the cleanup phase
//!   (`UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`), as do removed resources, in reverse dependency
//!   order. Cleanup is not rolled back.
//! - `Replacement` is the most intrusive of a change's details: `Always` + `Static` → `True`,
//!   `Always` + `Dynamic` or any `Conditionally` → `Conditional`, otherwise `False`.
//! - A property that refers to a resource being replaced (`Ref`) or to an attribute of a resource
//!   being modified (`Fn::GetAtt`) gets a `Dynamic` detail with `ResourceReference` /
//!   `ResourceAttribute` and that resource as `CausingEntity`; a property whose old and new value
//!   carry a changed parameter's old and new value gets `ParameterReference` details (Dynamic and
//!   Static, as CloudFormation lists them); other changes are `Static` `DirectModification`.
//! - A custom-named resource that requires replacement while keeping its name is an error at
//!   plan time ("CloudFormation cannot update a stack when a custom-named resource requires
//!   replacing"). Changing a resource's type is an error too.
//! - `DeletionPolicy: Retain` (and `RetainExceptOnCreate` outside a create's rollback) keeps a
//!   removed resource: the step is still there, flagged, and the executor only forgets it.
//!   `UpdateReplacePolicy: Retain` keeps the old physical resource of a replacement.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slipway_model::template::{ParamValue, Template};

use crate::names;
use crate::replacement::{self, RequiresRecreation};
use crate::stack::{DeletionPolicy, ImportIndex, StackRecord, StackStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanKind {
    Create,
    Update,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Add,
    Modify,
    Remove,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replacement {
    True,
    False,
    Conditional,
}

impl Replacement {
    pub fn as_str(self) -> &'static str {
        match self {
            Replacement::True => "True",
            Replacement::False => "False",
            Replacement::Conditional => "Conditional",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evaluation {
    Static,
    Dynamic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeSource {
    ResourceReference,
    ParameterReference,
    ResourceAttribute,
    DirectModification,
    Automatic,
}

/// `Target.Attribute` (also the values of `Scope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TargetAttribute {
    Properties,
    Metadata,
    CreationPolicy,
    UpdatePolicy,
    DeletionPolicy,
    UpdateReplacePolicy,
    Tags,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub attribute: TargetAttribute,
    pub name: Option<String>,
    pub requires_recreation: RequiresRecreation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub evaluation: Evaluation,
    pub change_source: ChangeSource,
    /// The parameter or resource (`Res` or `Res.Attr`) behind the change; `None` for direct
    /// modifications.
    pub causing_entity: Option<String>,
    pub target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub action: Action,
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: String,
    /// Only for `Modify`.
    pub replacement: Option<Replacement>,
    pub scope: Vec<TargetAttribute>,
    pub details: Vec<Detail>,
}

/// Which phase of an operation a step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Creates and updates, in dependency order (`*_IN_PROGRESS`).
    Main,
    /// Deletes, in reverse dependency order (`*_CLEANUP_IN_PROGRESS`, or a stack delete).
    Cleanup,
}

/// One thing the executor does to one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Step {
    Create {
        logical_id: String,
        resource_type: String,
        /// Symbolic properties; the executor resolves references with the physical values of
        /// what exists when the step runs.
        properties: Value,
        /// The generated physical name, for types named after one and not custom-named.
        physical_name: Option<String>,
        deletion_policy: Option<DeletionPolicy>,
    },
    Update {
        logical_id: String,
        resource_type: String,
        physical_id: String,
        from: Value,
        to: Value,
        /// A `Conditional` replacement decided when the references resolve: if any of these
        /// properties differs from the deployed value once resolved, replace instead.
        recreate_if_changed: Vec<String>,
    },
    /// Create the replacement physical resource (the old one stays until cleanup).
    Replace {
        logical_id: String,
        resource_type: String,
        old_physical_id: String,
        from: Value,
        properties: Value,
        physical_name: Option<String>,
    },
    /// Delete a resource the stack no longer has (or the whole stack's resources).
    Delete {
        logical_id: String,
        resource_type: String,
        /// `None`: the resource a `Create` step of this plan made (its undo).
        physical_id: Option<String>,
        properties: Value,
        policy: Option<DeletionPolicy>,
    },
    /// Cleanup after a replacement: delete the old physical resource.
    DeleteReplaced {
        logical_id: String,
        resource_type: String,
        physical_id: Option<String>,
        policy: Option<DeletionPolicy>,
    },
    /// Undo of a replacement: delete the new physical resource and point the logical ID back
    /// at the old one.
    DiscardReplacement {
        logical_id: String,
        resource_type: String,
        old_physical_id: String,
        properties: Value,
    },
}

impl Step {
    pub fn phase(&self) -> Phase {
        match self {
            Step::Create { .. } | Step::Update { .. } | Step::Replace { .. } => Phase::Main,
            Step::Delete { .. } | Step::DeleteReplaced { .. } | Step::DiscardReplacement { .. } => {
                Phase::Cleanup
            }
        }
    }

    pub fn logical_id(&self) -> &str {
        match self {
            Step::Create { logical_id, .. }
            | Step::Update { logical_id, .. }
            | Step::Replace { logical_id, .. }
            | Step::Delete { logical_id, .. }
            | Step::DeleteReplaced { logical_id, .. }
            | Step::DiscardReplacement { logical_id, .. } => logical_id,
        }
    }

    pub fn resource_type(&self) -> &str {
        match self {
            Step::Create { resource_type, .. }
            | Step::Update { resource_type, .. }
            | Step::Replace { resource_type, .. }
            | Step::Delete { resource_type, .. }
            | Step::DeleteReplaced { resource_type, .. }
            | Step::DiscardReplacement { resource_type, .. } => resource_type,
        }
    }

    /// The inverse step, for rollback. Deletes have none: CloudFormation does not roll back a
    /// cleanup phase or a stack delete (a failure there is `DELETE_FAILED`).
    pub fn undo(&self) -> Option<Step> {
        match self {
            Step::Create {
                logical_id,
                resource_type,
                properties,
                deletion_policy,
                ..
            } => Some(Step::Delete {
                logical_id: logical_id.clone(),
                resource_type: resource_type.clone(),
                physical_id: None,
                properties: properties.clone(),
                policy: *deletion_policy,
            }),
            Step::Update {
                logical_id,
                resource_type,
                physical_id,
                from,
                to,
                recreate_if_changed,
            } => Some(Step::Update {
                logical_id: logical_id.clone(),
                resource_type: resource_type.clone(),
                physical_id: physical_id.clone(),
                from: to.clone(),
                to: from.clone(),
                recreate_if_changed: recreate_if_changed.clone(),
            }),
            Step::Replace {
                logical_id,
                resource_type,
                old_physical_id,
                from,
                ..
            } => Some(Step::DiscardReplacement {
                logical_id: logical_id.clone(),
                resource_type: resource_type.clone(),
                old_physical_id: old_physical_id.clone(),
                properties: from.clone(),
            }),
            Step::Delete { .. } | Step::DeleteReplaced { .. } | Step::DiscardReplacement { .. } => {
                None
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub step: Step,
    pub undo: Option<Step>,
}

impl PlannedStep {
    fn new(step: Step) -> PlannedStep {
        let undo = step.undo();
        PlannedStep { step, undo }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stack: String,
    pub kind: PlanKind,
    pub changes: Vec<ResourceChange>,
    pub steps: Vec<PlannedStep>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename {name} and update the stack again. (Resources.{logical_id}.Properties.{property})"
    )]
    CustomNamedReplacement {
        logical_id: String,
        property: String,
        name: String,
    },
    #[error(
        "Update of resource type is not permitted. The new template modifies resource type of the following resources: [{logical_id}] ({from} → {to})"
    )]
    TypeChanged {
        logical_id: String,
        from: String,
        to: String,
    },
    #[error("resource {logical_id}: type '{resource_type}' cannot be deployed by Slipway")]
    UnsupportedType {
        logical_id: String,
        resource_type: String,
    },
    #[error("Cannot delete export {export} as it is in use by {}", importers.join(", "))]
    ExportInUse {
        export: String,
        importers: Vec<String>,
    },
    #[error("stack {stack} is in {status}: only a delete is possible")]
    OnlyDelete { stack: String, status: StackStatus },
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The undo steps of the first `completed` steps, in the order to run them: main-phase
    /// undos (restoring updated resources) newest first, then cleanup-phase undos (deleting
    /// what was created, and new physical resources of replacements), newest first.
    pub fn rollback(&self, completed: usize) -> Vec<Step> {
        let undos: Vec<Step> = self.steps[..completed.min(self.steps.len())]
            .iter()
            .rev()
            .filter_map(|s| s.undo.clone())
            .collect();
        let (mut main, cleanup): (Vec<Step>, Vec<Step>) =
            undos.into_iter().partition(|s| s.phase() == Phase::Main);
        main.extend(cleanup);
        main
    }

    /// The undo steps after step `failed` failed: those of every earlier step, and the failed
    /// step's own when it was an in-place update (which may have been partly applied, and
    /// which CloudFormation rolls back too). A failed create or replacement left nothing that
    /// its undo could restore.
    pub fn rollback_after_failure(&self, failed: usize) -> Vec<Step> {
        let partly = self
            .steps
            .get(failed)
            .is_some_and(|s| matches!(s.step, Step::Update { .. }));
        self.rollback(if partly { failed + 1 } else { failed })
    }

    /// The rollback plan of the whole main phase: each inverse step's undo is the step it
    /// reverses, where that can be redone.
    pub fn inverse(&self) -> Plan {
        let main = self
            .steps
            .iter()
            .filter(|s| s.step.phase() == Phase::Main)
            .count();
        let mut originals: BTreeMap<String, Step> = BTreeMap::new();
        for s in &self.steps[..main] {
            originals.insert(s.step.logical_id().to_owned(), s.step.clone());
        }
        let steps = self
            .rollback(main)
            .into_iter()
            .map(|step| {
                let undo = match &step {
                    Step::Update { .. } => step.undo(),
                    Step::Delete { .. } | Step::DiscardReplacement { .. } => {
                        originals.get(step.logical_id()).cloned()
                    }
                    Step::Create { .. } | Step::Replace { .. } | Step::DeleteReplaced { .. } => {
                        None
                    }
                };
                PlannedStep { step, undo }
            })
            .collect();
        let changes = self
            .changes
            .iter()
            .filter(|c| c.action != Action::Remove)
            .map(|c| ResourceChange {
                action: match c.action {
                    Action::Add => Action::Remove,
                    Action::Modify | Action::Remove => Action::Modify,
                },
                logical_id: c.logical_id.clone(),
                physical_id: c.physical_id.clone(),
                resource_type: c.resource_type.clone(),
                replacement: c.replacement,
                scope: c.scope.clone(),
                details: Vec::new(),
            })
            .collect();
        Plan {
            stack: self.stack.clone(),
            kind: self.kind,
            changes,
            steps,
        }
    }
}

/// What one resource's change is, as far as resources that refer to it are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Added,
    Modified,
    Replaced,
}

/// Plans the deployment of `desired` over `current` (`None`, or a stack that has no
/// resources yet, for a create).
pub fn plan(desired: &Template, current: Option<&StackRecord>) -> Result<Plan, PlanError> {
    let stack = desired.pseudo.stack_name.clone();
    let current = current.filter(|c| c.exists() && c.status != StackStatus::ReviewInProgress);
    if let Some(c) = current {
        match c.status {
            StackStatus::RollbackComplete
            | StackStatus::RollbackFailed
            | StackStatus::CreateFailed
            | StackStatus::DeleteFailed => {
                return Err(PlanError::OnlyDelete {
                    stack,
                    status: c.status,
                });
            }
            StackStatus::CreateInProgress
            | StackStatus::CreateComplete
            | StackStatus::RollbackInProgress
            | StackStatus::DeleteInProgress
            | StackStatus::DeleteComplete
            | StackStatus::UpdateInProgress
            | StackStatus::UpdateCompleteCleanupInProgress
            | StackStatus::UpdateComplete
            | StackStatus::UpdateFailed
            | StackStatus::UpdateRollbackInProgress
            | StackStatus::UpdateRollbackFailed
            | StackStatus::UpdateRollbackCompleteCleanupInProgress
            | StackStatus::UpdateRollbackComplete
            | StackStatus::ReviewInProgress
            | StackStatus::ImportInProgress
            | StackStatus::ImportComplete
            | StackStatus::ImportRollbackInProgress
            | StackStatus::ImportRollbackFailed
            | StackStatus::ImportRollbackComplete => {}
        }
    }
    let kind = if current.is_some() {
        PlanKind::Update
    } else {
        PlanKind::Create
    };
    let changed_params = changed_parameters(desired, current);
    let mut fates: BTreeMap<&str, Fate> = BTreeMap::new();
    let mut changes = Vec::new();
    let mut main = Vec::new();
    let mut replaced: BTreeSet<&str> = BTreeSet::new();

    for id in &desired.order {
        let Some(r) = desired.resources.get(id) else {
            continue;
        };
        let rules = replacement::rules(&r.type_);
        if rules.is_none() && !r.inert {
            return Err(PlanError::UnsupportedType {
                logical_id: id.clone(),
                resource_type: r.type_.clone(),
            });
        }
        let props = r.properties.to_json();
        let old = current.and_then(|c| c.resources.get(id));
        let Some(old) = old else {
            fates.insert(id, Fate::Added);
            changes.push(ResourceChange {
                action: Action::Add,
                logical_id: id.clone(),
                physical_id: None,
                resource_type: r.type_.clone(),
                replacement: None,
                scope: Vec::new(),
                details: Vec::new(),
            });
            main.push(PlannedStep::new(Step::Create {
                logical_id: id.clone(),
                resource_type: r.type_.clone(),
                physical_name: generated_name(&stack, id, &r.type_, &props, 0),
                properties: props,
                deletion_policy: r.deletion_policy.map(DeletionPolicy::from),
            }));
            continue;
        };
        if old.resource_type != r.type_ {
            return Err(PlanError::TypeChanged {
                logical_id: id.clone(),
                from: old.resource_type.clone(),
                to: r.type_.clone(),
            });
        }
        let requires = |p: &str| rules.map_or(RequiresRecreation::Never, |t| t.requires(p));
        let mut details = Vec::new();
        let keys = property_keys(&old.properties, &props);
        for key in &keys {
            let (a, b) = (old.properties.get(key), props.get(key));
            let target = Target {
                attribute: TargetAttribute::Properties,
                name: Some(key.clone()),
                requires_recreation: requires(key),
            };
            if a != b {
                let mut by_param = false;
                for (p, (pold, pnew)) in &changed_params {
                    if a.is_some_and(|v| contains_str(v, pold))
                        && b.is_some_and(|v| contains_str(v, pnew))
                    {
                        by_param = true;
                        for evaluation in [Evaluation::Dynamic, Evaluation::Static] {
                            details.push(Detail {
                                evaluation,
                                change_source: ChangeSource::ParameterReference,
                                causing_entity: Some(p.clone()),
                                target: target.clone(),
                            });
                        }
                    }
                }
                if !by_param {
                    details.push(Detail {
                        evaluation: Evaluation::Static,
                        change_source: ChangeSource::DirectModification,
                        causing_entity: None,
                        target: target.clone(),
                    });
                }
            }
            // References to resources changing in this plan.
            if let Some(v) = b {
                let mut refs = BTreeSet::new();
                collect_refs(v, &mut refs);
                for (res, attr) in refs {
                    let fate = fates.get(res.as_str()).copied();
                    let (source, entity) = match (&attr, fate) {
                        (None, Some(Fate::Replaced)) => {
                            (ChangeSource::ResourceReference, res.clone())
                        }
                        (Some(a), Some(Fate::Replaced | Fate::Modified)) => {
                            (ChangeSource::ResourceAttribute, format!("{res}.{a}"))
                        }
                        (None, Some(Fate::Modified | Fate::Added) | None)
                        | (Some(_), Some(Fate::Added) | None) => continue,
                    };
                    details.push(Detail {
                        evaluation: Evaluation::Dynamic,
                        change_source: source,
                        causing_entity: Some(entity),
                        target: target.clone(),
                    });
                }
            }
        }
        if details.is_empty() {
            continue;
        }
        let replacement_ = replacement_of(&details);
        let certain = details.iter().any(|d| {
            d.target.requires_recreation == RequiresRecreation::Always
                && (d.evaluation == Evaluation::Static
                    || (d.change_source == ChangeSource::ResourceReference
                        && d.causing_entity
                            .as_deref()
                            .is_some_and(|e| replaced.contains(e))))
        });
        if certain
            && let Some(np) = replacement::name_property(&r.type_)
            && let Some(name) = props.get(np).and_then(Value::as_str)
            && old.properties.get(np) == props.get(np)
        {
            let property = details
                .iter()
                .find(|d| d.target.requires_recreation == RequiresRecreation::Always)
                .and_then(|d| d.target.name.clone())
                .unwrap_or_default();
            return Err(PlanError::CustomNamedReplacement {
                logical_id: id.clone(),
                property,
                name: name.to_owned(),
            });
        }
        let mut scope: Vec<TargetAttribute> = details.iter().map(|d| d.target.attribute).collect();
        scope.sort();
        scope.dedup();
        changes.push(ResourceChange {
            action: Action::Modify,
            logical_id: id.clone(),
            physical_id: Some(old.physical_id.clone()),
            resource_type: r.type_.clone(),
            replacement: Some(replacement_),
            scope,
            details: details.clone(),
        });
        if certain {
            fates.insert(id, Fate::Replaced);
            replaced.insert(id);
            main.push(PlannedStep::new(Step::Replace {
                logical_id: id.clone(),
                resource_type: r.type_.clone(),
                old_physical_id: old.physical_id.clone(),
                from: old.properties.clone(),
                physical_name: generated_name(&stack, id, &r.type_, &props, replacement_salt(old)),
                properties: props,
            }));
        } else {
            let mut recreate: Vec<String> = details
                .iter()
                .filter(|d| d.target.requires_recreation != RequiresRecreation::Never)
                .filter_map(|d| d.target.name.clone())
                .collect();
            recreate.dedup();
            fates.insert(
                id,
                if recreate.is_empty() {
                    Fate::Modified
                } else {
                    // Might be replaced: references to it are Dynamic either way.
                    Fate::Replaced
                },
            );
            main.push(PlannedStep::new(Step::Update {
                logical_id: id.clone(),
                resource_type: r.type_.clone(),
                physical_id: old.physical_id.clone(),
                from: old.properties.clone(),
                to: props,
                recreate_if_changed: recreate,
            }));
        }
    }

    // Cleanup: removed resources and the old halves of replacements, newest first.
    let mut cleanup = Vec::new();
    if let Some(c) = current {
        let mut removes = Vec::new();
        for (id, old) in c.resources.iter().rev() {
            if !desired.resources.contains_key(id) {
                removes.push(ResourceChange {
                    action: Action::Remove,
                    logical_id: id.clone(),
                    physical_id: Some(old.physical_id.clone()),
                    resource_type: old.resource_type.clone(),
                    replacement: None,
                    scope: Vec::new(),
                    details: Vec::new(),
                });
                cleanup.push(PlannedStep::new(Step::Delete {
                    logical_id: id.clone(),
                    resource_type: old.resource_type.clone(),
                    physical_id: Some(old.physical_id.clone()),
                    properties: old.properties.clone(),
                    policy: old.deletion_policy,
                }));
            } else if replaced.contains(id.as_str()) {
                let policy = desired
                    .resources
                    .get(id)
                    .and_then(|r| r.update_replace_policy)
                    .map(DeletionPolicy::from);
                cleanup.push(PlannedStep::new(Step::DeleteReplaced {
                    logical_id: id.clone(),
                    resource_type: old.resource_type.clone(),
                    physical_id: Some(old.physical_id.clone()),
                    policy,
                }));
            }
        }
        changes.extend(removes);
    }
    main.extend(cleanup);
    Ok(Plan {
        stack,
        kind,
        changes,
        steps: main,
    })
}

/// Plans deleting a stack: every resource, newest first, `DeletionPolicy` honoured.
pub fn plan_delete(current: &StackRecord) -> Plan {
    let mut changes = Vec::new();
    let mut steps = Vec::new();
    for (id, r) in current.resources.iter().rev() {
        changes.push(ResourceChange {
            action: Action::Remove,
            logical_id: id.clone(),
            physical_id: Some(r.physical_id.clone()),
            resource_type: r.resource_type.clone(),
            replacement: None,
            scope: Vec::new(),
            details: Vec::new(),
        });
        steps.push(PlannedStep::new(Step::Delete {
            logical_id: id.clone(),
            resource_type: r.resource_type.clone(),
            physical_id: Some(r.physical_id.clone()),
            properties: r.properties.clone(),
            policy: r.deletion_policy,
        }));
    }
    Plan {
        stack: current.name.clone(),
        kind: PlanKind::Delete,
        changes,
        steps,
    }
}

/// An update may not drop an export another stack imports (CFN `outputs-section-structure`).
pub fn check_exports(
    desired: &Template,
    current: &StackRecord,
    imports: &dyn ImportIndex,
) -> Result<(), PlanError> {
    let kept: BTreeSet<String> = desired
        .outputs
        .values()
        .filter_map(|o| o.export_name.as_ref())
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect();
    for (export, _) in current.exports() {
        if kept.contains(export) {
            continue;
        }
        let importers: Vec<String> = imports
            .importers(export)
            .into_iter()
            .filter(|s| s != &current.name)
            .collect();
        if !importers.is_empty() {
            return Err(PlanError::ExportInUse {
                export: export.to_owned(),
                importers,
            });
        }
    }
    Ok(())
}

fn replacement_salt(old: &crate::stack::DeployedResource) -> u32 {
    // A replacement needs a name the old resource does not have: derive the salt from the old
    // physical ID, so a second replacement gets a third name.
    let h = slipway_model::template::hash::sha256_hex(old.physical_id.as_bytes());
    u32::from_str_radix(&h[..8], 16).unwrap_or(1).max(1)
}

fn generated_name(
    stack: &str,
    logical_id: &str,
    resource_type: &str,
    props: &Value,
    salt: u32,
) -> Option<String> {
    let np = replacement::name_property(resource_type)?;
    if props.get(np).is_some() {
        return None;
    }
    Some(names::physical_name(stack, logical_id, resource_type, salt))
}

fn replacement_of(details: &[Detail]) -> Replacement {
    let mut r = Replacement::False;
    for d in details {
        match (d.target.requires_recreation, d.evaluation) {
            (RequiresRecreation::Always, Evaluation::Static) => return Replacement::True,
            (RequiresRecreation::Always, Evaluation::Dynamic)
            | (RequiresRecreation::Conditionally, _) => r = Replacement::Conditional,
            (RequiresRecreation::Never, _) => {}
        }
    }
    r
}

/// Parameters whose value changed since the stack was last deployed: name → (old, new).
fn changed_parameters(
    desired: &Template,
    current: Option<&StackRecord>,
) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let Some(c) = current else { return out };
    for (name, p) in &desired.parameters {
        let new = match &p.value {
            ParamValue::String(s) => s.clone(),
            ParamValue::List(items) => items.join(","),
        };
        if let Some(old) = c.parameters.get(name)
            && old.value != new
            && !old.value.is_empty()
            && !new.is_empty()
        {
            out.insert(name.clone(), (old.value.clone(), new));
        }
    }
    out
}

fn property_keys(a: &Value, b: &Value) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for v in [a, b] {
        if let Some(m) = v.as_object() {
            for k in m.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

fn contains_str(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|i| contains_str(i, needle)),
        Value::Object(m) => m.values().any(|i| contains_str(i, needle)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Every resource reference in a symbolic value: `(logical_id, None)` for `Ref`,
/// `(logical_id, Some(attr))` for `Fn::GetAtt` and `${Res.Attr}` in `Fn::Sub`.
pub fn collect_refs(v: &Value, out: &mut BTreeSet<(String, Option<String>)>) {
    match v {
        Value::Object(m) => {
            if m.len() == 1 {
                if let Some(Value::String(id)) = m.get("Ref") {
                    out.insert((id.clone(), None));
                    return;
                }
                if let Some(arg) = m.get("Fn::GetAtt") {
                    match arg {
                        Value::Array(items) => {
                            if let (Some(Value::String(id)), Some(Value::String(a))) =
                                (items.first(), items.get(1))
                            {
                                out.insert((id.clone(), Some(a.clone())));
                            }
                        }
                        Value::String(s) => {
                            if let Some((id, a)) = s.split_once('.') {
                                out.insert((id.to_owned(), Some(a.to_owned())));
                            }
                        }
                        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => {}
                    }
                    return;
                }
                if let Some(arg) = m.get("Fn::Sub") {
                    let (text, vars) = match arg {
                        Value::String(s) => (Some(s.as_str()), None),
                        Value::Array(items) => {
                            (items.first().and_then(Value::as_str), items.get(1))
                        }
                        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => {
                            (None, None)
                        }
                    };
                    let local: BTreeSet<&str> = vars
                        .and_then(Value::as_object)
                        .map(|o| o.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    if let Some(t) = text {
                        for var in sub_vars(t) {
                            if local.contains(var.as_str()) || var.starts_with("AWS::") {
                                continue;
                            }
                            match var.split_once('.') {
                                Some((id, a)) => out.insert((id.to_owned(), Some(a.to_owned()))),
                                None => out.insert((var, None)),
                            };
                        }
                    }
                    if let Some(vs) = vars {
                        collect_refs(vs, out);
                    }
                    return;
                }
            }
            for x in m.values() {
                collect_refs(x, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// `${Name}` variables of a `Fn::Sub` string (`${!Literal}` skipped).
fn sub_vars(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else { break };
        let name = after[..j].trim();
        if !name.starts_with('!') && !name.is_empty() {
            out.push(name.to_owned());
        }
        rest = &after[j + 1..];
    }
    out
}

impl fmt::Display for Plan {
    /// The change-set table `slipway deploy` prints (SAM CLI's layout), stable for snapshots.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = [
            "Operation",
            "LogicalResourceId",
            "ResourceType",
            "Replacement",
        ];
        let rows: Vec<[String; 4]> = self
            .changes
            .iter()
            .map(|c| {
                let op = match c.action {
                    Action::Add => "+ Add",
                    Action::Modify => "* Modify",
                    Action::Remove => "- Delete",
                };
                [
                    op.to_owned(),
                    c.logical_id.clone(),
                    c.resource_type.clone(),
                    c.replacement.map_or("N/A", Replacement::as_str).to_owned(),
                ]
            })
            .collect();
        let mut w = header.map(str::len);
        for r in &rows {
            for (i, cell) in r.iter().enumerate() {
                w[i] = w[i].max(cell.len());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 4]| -> fmt::Result {
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            )
        };
        writeln!(f, "CloudFormation stack changeset ({})", self.stack)?;
        line(f, header)?;
        let total: usize = w.iter().sum::<usize>() + 6;
        writeln!(f, "{}", "-".repeat(total))?;
        if rows.is_empty() {
            writeln!(f, "No changes to deploy.")?;
        }
        for r in &rows {
            line(f, [&r[0], &r[1], &r[2], &r[3]])?;
        }
        Ok(())
    }
}
