//! The executor: stack operations (create, update, delete, change sets) carried out step by
//! step from a [`Plan`], journaled before each step, rolled back from the plan's undo steps,
//! with CloudFormation's statuses and events.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slipway_deploy::plan::{self, Phase, Plan, PlanKind, Step};
use slipway_deploy::stack::{
    self, ChangeSetRecord, ChangeSetType, DeployedResource, EventSpec, EventStatus,
    ExecutionStatus, ParameterInput, Progress, ResourceStatus, StackOperation, StackOutput,
    StackParameter, StackRecord, StackStatus,
};
use slipway_deploy::traffic::{AliasUpdatePolicy, DeploymentStatus};
use slipway_model::template::{self, Context, Options, Pseudo};
use slipway_store::state::{Batch, Collection, StackWrite, Write};

use crate::providers::{self, ProviderCx, Target};
use crate::resolve::{StackPhysical, StoreExports, resolve_value};
use crate::{Engine, EngineError, Fault, parse_target};

/// `slipway deploy`: one template into one stack of one target.
#[derive(Clone, Debug, Default)]
pub struct DeployRequest {
    /// `account/region`.
    pub target: String,
    pub stack_name: String,
    pub template: String,
    /// The template's name in diagnostics.
    pub file: String,
    pub parameters: Vec<ParameterInput>,
    pub tags: BTreeMap<String, String>,
    /// The project directory that `slipway-local` code keys are relative to.
    pub code_root: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub name: String,
    /// Symbolic: resolved with physical values when the operation completes.
    pub value: Value,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

/// What the template wants, as the journal keeps it (the resolved `Template` itself is not
/// kept: the plan's symbolic properties and these facts are all the second pass needs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    pub target: Target,
    pub stack_id: String,
    pub template: Value,
    pub types: BTreeMap<String, String>,
    /// The resource records to write once each resource exists (policies, dependencies).
    pub skeletons: IndexMap<String, DeployedResource>,
    pub update_policies: BTreeMap<String, Value>,
    pub inert: BTreeSet<String>,
    pub outputs: Vec<OutputSpec>,
    pub parameters: IndexMap<String, StackParameter>,
    pub imports: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
    pub code_root: Option<PathBuf>,
}

/// Where an operation is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpPhase {
    /// A change set's operation, not executed yet.
    Pending,
    /// Main-phase steps (for a delete: every step), `next` an index into `plan.steps`.
    Main {
        next: usize,
    },
    /// An update's cleanup steps.
    Cleanup {
        next: usize,
    },
    /// Undoing after `failed` failed: `undo[next]` runs next.
    Rollback {
        undo: Vec<Step>,
        next: usize,
        cleanup_started: bool,
    },
    Done,
}

/// One journal entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    pub target: String,
    pub stack: String,
    pub plan: Plan,
    pub desired: Desired,
    /// The stack's resources when the operation began (what a rollback restores).
    pub previous: IndexMap<String, DeployedResource>,
    pub phase: OpPhase,
    /// The step recorded as about to run and not finished (a crash left it so).
    pub running: Option<usize>,
    /// The CodeDeploy deployment a step waits for.
    pub waiting: Option<String>,
    pub failure: Option<String>,
    pub change_set: Option<String>,
    pub created_ms: u64,
}

/// What a call that starts or resumes an operation returns.
#[derive(Clone, Debug, PartialEq)]
pub struct OperationReport {
    pub operation_id: String,
    pub stack: String,
    pub status: StackStatus,
    /// The deployment the operation waits for ([`Engine::tick`] moves it on).
    pub waiting_on: Option<String>,
    pub plan: Plan,
}

/// What the deployment driver reads of a stack.
pub(crate) struct LoadedView<'a> {
    pub resources: &'a IndexMap<String, DeployedResource>,
}

/// A stack loaded from the store with what saving it back needs.
struct Loaded {
    rec: StackRecord,
    generation: Option<u64>,
    stored_events: usize,
    reset_events: bool,
}

enum StepOutcome {
    Done,
    Failed(String),
    Waiting(String),
    /// A deployment to commit with the step, then start.
    Deploy(Box<slipway_deploy::traffic::Deployment>),
}

impl Engine {
    // -----------------------------------------------------------------------------------------
    // Reading.

    fn load(&self, target: &str, name: &str) -> Result<Option<Loaded>, EngineError> {
        let Some(doc) = self.store.get_stack(target, name)? else {
            return Ok(None);
        };
        let key = format!("{target}/{name}");
        let corrupt = |source| EngineError::Corrupt {
            what: "stack",
            key: key.clone(),
            source,
        };
        let mut rec: StackRecord = serde_json::from_value(doc.record).map_err(corrupt)?;
        for (id, r) in doc.resources {
            rec.resources
                .insert(id, serde_json::from_value(r).map_err(corrupt)?);
        }
        for (_, c) in doc.change_sets {
            rec.change_sets
                .push(serde_json::from_value(c).map_err(corrupt)?);
        }
        for e in doc.events {
            rec.events.push(serde_json::from_value(e).map_err(corrupt)?);
        }
        rec.generation = doc.generation;
        Ok(Some(Loaded {
            stored_events: rec.events.len(),
            rec,
            generation: Some(doc.generation),
            reset_events: false,
        }))
    }

    /// The stack as `DescribeStacks` would see it (`None`: never created in this target).
    pub fn stack(&self, target: &str, name: &str) -> Result<Option<StackRecord>, EngineError> {
        Ok(self.load(target, name)?.map(|l| l.rec))
    }

    /// Names of the target's stacks (deleted ones included: they stay visible as CloudFormation's
    /// do).
    pub fn list_stacks(&self, target: &str) -> Result<Vec<String>, EngineError> {
        Ok(self.store.list_stacks(target)?)
    }

    /// `ListExports`: name → (exporting stack, value).
    pub fn exports(&self, target: &str) -> BTreeMap<String, (String, String)> {
        StoreExports::all(self.store.as_ref(), target)
    }

    pub fn operation(&self, target: &str, id: &str) -> Result<Option<Operation>, EngineError> {
        Ok(self.load_op(target, id)?.map(|(o, _)| o))
    }

    fn load_op(&self, target: &str, id: &str) -> Result<Option<(Operation, u64)>, EngineError> {
        let Some(doc) = self.store.get_doc(Collection::Journal, target, id)? else {
            return Ok(None);
        };
        let op = serde_json::from_value(doc.value).map_err(|source| EngineError::Corrupt {
            what: "journal entry",
            key: id.to_owned(),
            source,
        })?;
        Ok(Some((op, doc.generation)))
    }

    // -----------------------------------------------------------------------------------------
    // Writing.

    fn stack_write(&self, l: &Loaded) -> Result<StackWrite, EngineError> {
        let mut bare = l.rec.clone();
        let resources = std::mem::take(&mut bare.resources);
        let change_sets = std::mem::take(&mut bare.change_sets);
        let events = std::mem::take(&mut bare.events);
        let to = |v: &dyn erased::Ser| v.json();
        Ok(StackWrite {
            target: l.rec.target.clone(),
            name: l.rec.name.clone(),
            expected: l.generation,
            record: to(&bare),
            resources: resources.iter().map(|(k, r)| (k.clone(), to(r))).collect(),
            change_sets: change_sets
                .iter()
                .map(|c| (c.name.clone(), to(c)))
                .collect(),
            reset_events: l.reset_events,
            append_events: events[l.stored_events.min(events.len())..]
                .iter()
                .map(|e| to(e))
                .collect(),
        })
    }

    /// Commits the stack and the journal entry together, and refreshes their generations.
    fn commit(
        &self,
        l: &mut Loaded,
        op: Option<(&Operation, &mut Option<u64>)>,
    ) -> Result<(), EngineError> {
        self.commit_with(l, op, Vec::new())
    }

    /// [`Engine::commit`] with more writes in the same batch (after the stack and the journal).
    fn commit_with(
        &self,
        l: &mut Loaded,
        op: Option<(&Operation, &mut Option<u64>)>,
        extra: Vec<Write>,
    ) -> Result<(), EngineError> {
        let mut batch = Batch::new().stack(self.stack_write(l)?);
        let has_op = op.is_some();
        if let Some((o, g)) = &op {
            // Live until done: what a tick and a restart look at.
            batch = batch.put_live(
                Collection::Journal,
                &o.target,
                &o.id,
                **g,
                serde_json::to_value(o).unwrap_or(Value::Null),
                o.phase != OpPhase::Done,
            );
        }
        batch.writes.extend(extra);
        let gens = self.store.commit(batch)?;
        self.flush_notices();
        l.generation = Some(gens[0]);
        l.rec.generation = gens[0];
        l.stored_events = l.rec.events.len();
        l.reset_events = false;
        if has_op && let Some((_, g)) = op {
            *g = Some(gens[1]);
        }
        Ok(())
    }

    fn event(&self, l: &mut Loaded, spec: EventSpec) {
        let now = self.clock.now_ms();
        l.rec.record(spec, now);
    }

    fn stack_event(&self, l: &mut Loaded, status: StackStatus, reason: Option<String>) {
        let spec = EventSpec {
            logical_id: l.rec.name.clone(),
            physical_id: Some(l.rec.id.clone()),
            resource_type: stack::STACK_TYPE.to_owned(),
            status: EventStatus::Stack(status),
            reason,
        };
        self.event(l, spec);
    }

    fn resource_event(
        &self,
        l: &mut Loaded,
        step: &Step,
        physical: Option<&str>,
        status: ResourceStatus,
        reason: Option<&str>,
    ) {
        let spec = EventSpec {
            logical_id: step.logical_id().to_owned(),
            physical_id: physical.map(str::to_owned),
            resource_type: step.resource_type().to_owned(),
            status: EventStatus::Resource(status),
            reason: reason.map(str::to_owned),
        };
        self.event(l, spec);
    }

    // -----------------------------------------------------------------------------------------
    // Preparing.

    fn import_index(&self, target: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in self.store.list_stacks(target).unwrap_or_default() {
            if let Ok(Some(l)) = self.load(target, &name)
                && l.rec.exists()
            {
                for i in &l.rec.imports {
                    out.entry(i.clone()).or_default().push(name.clone());
                }
            }
        }
        out
    }

    /// Resolves the template and plans it over the stack as it is: what `--dry-run` prints.
    pub fn plan(&self, req: &DeployRequest) -> Result<(Plan, Desired), EngineError> {
        let target = parse_target(&req.target)?;
        let tname = target.name();
        let current = self.load(&tname, &req.stack_name)?;
        let current_rec = current.as_ref().map(|l| &l.rec).filter(|r| r.exists());
        let values = stack::resolve_parameter_inputs(current_rec, &req.parameters)?;
        let exports = StoreExports::new(self.store.as_ref(), &tname, &req.stack_name);
        let opts = Options {
            file: if req.file.is_empty() {
                "template.yaml".into()
            } else {
                req.file.clone()
            },
            account: target.account.clone(),
            region: target.region.clone(),
            stack_name: req.stack_name.clone(),
            overrides: values.overrides,
            previous: values.previous,
            exports: &exports,
            ..Options::default()
        };
        let outcome = template::resolve(&req.template, &opts);
        let diagnostics: Vec<_> = outcome
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        let Some(t) = outcome.template.filter(|_| diagnostics.is_empty()) else {
            return Err(EngineError::Template { diagnostics });
        };
        for (id, r) in &t.resources {
            if !r.inert && providers::provider(&r.type_).is_none() {
                return Err(EngineError::Plan(plan::PlanError::UnsupportedType {
                    logical_id: id.clone(),
                    resource_type: r.type_.clone(),
                }));
            }
        }
        let plan = plan::plan(&t, current_rec)?;
        if let Some(c) = current_rec
            && c.status != StackStatus::ReviewInProgress
        {
            plan::check_exports(&t, c, &self.import_index(&tname))?;
        }
        let imports = exports
            .asked
            .borrow()
            .iter()
            .filter(|n| matches!(exports.export_lookup(n), Some(true)))
            .cloned()
            .collect();
        let mut rec = StackRecord::new(&req.stack_name, &tname, "", StackStatus::CreateInProgress);
        rec.set_parameters(&t);
        let skeletons = t
            .resources
            .keys()
            .filter_map(|id| {
                StackRecord::deployed_resource(&t, id, "", Value::Null).map(|r| (id.clone(), r))
            })
            .collect();
        let desired = Desired {
            stack_id: t.pseudo.stack_id.clone(),
            target,
            template: t.to_json(),
            types: t
                .resources
                .iter()
                .map(|(k, r)| (k.clone(), r.type_.clone()))
                .collect(),
            skeletons,
            update_policies: t
                .resources
                .iter()
                .filter_map(|(k, r)| r.update_policy.as_ref().map(|p| (k.clone(), p.to_json())))
                .collect(),
            inert: t
                .resources
                .iter()
                .filter(|(_, r)| r.inert)
                .map(|(k, _)| k.clone())
                .collect(),
            outputs: t
                .outputs
                .values()
                .filter(|o| {
                    o.condition
                        .as_ref()
                        .is_none_or(|c| t.conditions.get(c).copied().unwrap_or(true))
                })
                .map(|o| OutputSpec {
                    name: o.name.clone(),
                    value: o.value.to_json(),
                    description: o.description.clone(),
                    export_name: o
                        .export_name
                        .as_ref()
                        .and_then(|n| n.as_str().map(str::to_owned)),
                })
                .collect(),
            parameters: rec.parameters,
            imports,
            tags: req.tags.clone(),
            code_root: req.code_root.clone(),
        };
        Ok((plan, desired))
    }

    /// Unique per stack: the stack's generation moves with every operation and change set.
    fn new_op_id(&self, target: &str, stack: &str, what: &str, seq: u64) -> String {
        let now = self.clock.now_ms();
        let h =
            template::hash::sha256_hex(format!("{target}/{stack}/{what}/{now}/{seq}").as_bytes());
        format!("op-{now:013}-{}", &h[..8])
    }

    fn new_operation(
        &self,
        plan: Plan,
        desired: Desired,
        l: &Loaded,
        change_set: Option<String>,
    ) -> Operation {
        let tname = desired.target.name();
        Operation {
            id: self.new_op_id(
                &tname,
                &l.rec.name,
                &format!("{:?}", plan.kind),
                l.generation.unwrap_or(0) * 1_000_000 + l.rec.events.len() as u64,
            ),
            target: tname,
            stack: l.rec.name.clone(),
            previous: l.rec.resources.clone(),
            plan,
            desired,
            phase: OpPhase::Main { next: 0 },
            running: None,
            waiting: None,
            failure: None,
            change_set,
            created_ms: self.clock.now_ms(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Starting operations.

    /// `slipway deploy` without a change set: creates the stack, or updates it.
    pub fn deploy(&self, req: &DeployRequest) -> Result<OperationReport, EngineError> {
        let target = parse_target(&req.target)?;
        let tname = target.name();
        let current = self.load(&tname, &req.stack_name)?;
        let live = current.as_ref().map(|l| &l.rec).filter(|r| r.exists());
        let op = match live {
            Some(r) if r.status != StackStatus::ReviewInProgress => StackOperation::Update,
            Some(_) | None => StackOperation::Create,
        };
        StackRecord::check(live, &req.stack_name, &op, &self.import_index(&tname)).or_else(
            |e| match (&e, live) {
                // A stack that only has change sets (REVIEW_IN_PROGRESS) is created directly too.
                (stack::StackError::AlreadyExists { .. }, Some(r))
                    if r.status == StackStatus::ReviewInProgress =>
                {
                    Ok(())
                }
                _ => Err(e),
            },
        )?;
        let (plan, desired) = self.plan(req)?;
        if plan.kind == PlanKind::Update && plan.is_empty() {
            return Err(EngineError::NoChanges {
                stack: req.stack_name.clone(),
            });
        }
        let mut l = self.fresh_or_existing(current, &desired, &req.stack_name, &tname);
        l.rec.obsolete_change_sets();
        let op = self.new_operation(plan, desired, &l, None);
        self.begin(l, &op)
    }

    fn fresh_or_existing(
        &self,
        current: Option<Loaded>,
        desired: &Desired,
        name: &str,
        tname: &str,
    ) -> Loaded {
        match current {
            Some(l) if l.rec.exists() => l,
            Some(old) => Loaded {
                rec: StackRecord::new(
                    name,
                    tname,
                    &desired.stack_id,
                    StackStatus::CreateInProgress,
                ),
                generation: old.generation,
                stored_events: 0,
                reset_events: true,
            },
            None => Loaded {
                rec: StackRecord::new(
                    name,
                    tname,
                    &desired.stack_id,
                    StackStatus::CreateInProgress,
                ),
                generation: None,
                stored_events: 0,
                reset_events: false,
            },
        }
    }

    fn begin(&self, mut l: Loaded, op: &Operation) -> Result<OperationReport, EngineError> {
        let begin = match op.plan.kind {
            PlanKind::Create => StackStatus::CreateInProgress,
            PlanKind::Update => StackStatus::UpdateInProgress,
            PlanKind::Delete => StackStatus::DeleteInProgress,
        };
        self.stack_event(&mut l, begin, Some("User Initiated".into()));
        let mut g = self
            .store
            .get_doc(Collection::Journal, &op.target, &op.id)?
            .map(|d| d.generation);
        self.commit(&mut l, Some((op, &mut g)))?;
        self.drive(&op.target, &op.id)
    }

    /// `DeleteStack`.
    pub fn delete_stack(&self, target: &str, name: &str) -> Result<OperationReport, EngineError> {
        let t = parse_target(target)?;
        let tname = t.name();
        let current = self.load(&tname, name)?;
        let live = current.as_ref().map(|l| &l.rec).filter(|r| r.exists());
        StackRecord::check(
            live,
            name,
            &StackOperation::Delete,
            &self.import_index(&tname),
        )?;
        let Some(mut l) = current else {
            return Err(stack::StackError::DoesNotExist {
                stack: name.to_owned(),
            }
            .into());
        };
        let plan = plan::plan_delete(&l.rec);
        let desired = Desired {
            target: t,
            stack_id: l.rec.id.clone(),
            template: Value::Null,
            types: l
                .rec
                .resources
                .iter()
                .map(|(k, r)| (k.clone(), r.resource_type.clone()))
                .collect(),
            skeletons: IndexMap::new(),
            update_policies: BTreeMap::new(),
            inert: BTreeSet::new(),
            outputs: Vec::new(),
            parameters: l.rec.parameters.clone(),
            imports: BTreeSet::new(),
            tags: l.rec.tags.clone(),
            code_root: None,
        };
        // Pending change-set operations go with the stack.
        self.drop_pending_ops(&tname, name, None)?;
        l.rec.change_sets.clear();
        let op = self.new_operation(plan, desired, &l, None);
        self.begin(l, &op)
    }

    fn drop_pending_ops(
        &self,
        target: &str,
        stack: &str,
        keep: Option<&str>,
    ) -> Result<(), EngineError> {
        for (key, doc) in self.store.list_docs(Collection::Journal, target)? {
            let Ok(op) = serde_json::from_value::<Operation>(doc.value) else {
                continue;
            };
            if op.stack == stack && op.phase == OpPhase::Pending && keep != Some(key.as_str()) {
                self.store.commit(Batch::new().delete(
                    Collection::Journal,
                    target,
                    &key,
                    doc.generation,
                ))?;
            }
        }
        Ok(())
    }

    /// `CreateChangeSet`: plans and keeps the plan; a stack that does not exist yet appears in
    /// `REVIEW_IN_PROGRESS`.
    pub fn create_change_set(
        &self,
        req: &DeployRequest,
        name: &str,
        change_set_type: ChangeSetType,
    ) -> Result<ChangeSetRecord, EngineError> {
        let target = parse_target(&req.target)?;
        let tname = target.name();
        let current = self.load(&tname, &req.stack_name)?;
        let live = current.as_ref().map(|l| &l.rec).filter(|r| r.exists());
        StackRecord::check(
            live,
            &req.stack_name,
            &StackOperation::CreateChangeSet {
                name: name.to_owned(),
                change_set_type,
            },
            &self.import_index(&tname),
        )?;
        let (plan, desired) = self.plan(req)?;
        let mut l = match current {
            Some(l) if l.rec.exists() => l,
            other => {
                let mut l = self.fresh_or_existing(other, &desired, &req.stack_name, &tname);
                l.rec.status = StackStatus::ReviewInProgress;
                self.stack_event(
                    &mut l,
                    StackStatus::ReviewInProgress,
                    Some("User Initiated".into()),
                );
                l
            }
        };
        let mut op = self.new_operation(plan.clone(), desired.clone(), &l, Some(name.to_owned()));
        op.phase = OpPhase::Pending;
        let cs = ChangeSetRecord {
            name: name.to_owned(),
            id: format!(
                "{}:changeSet/{name}/{}",
                desired
                    .target
                    .arn("cloudformation", "")
                    .trim_end_matches(':'),
                &op.id
            ),
            change_set_type,
            execution_status: ExecutionStatus::Available,
            created_ms: self.clock.now_ms(),
            plan,
            template: desired.template.clone(),
            parameters: desired.parameters.clone(),
            tags: desired.tags,
        };
        l.rec.change_sets.push(cs.clone());
        let mut g = None;
        self.commit(&mut l, Some((&op, &mut g)))?;
        Ok(cs)
    }

    /// `DescribeChangeSet`.
    pub fn describe_change_set(
        &self,
        target: &str,
        stack_name: &str,
        name: &str,
    ) -> Result<ChangeSetRecord, EngineError> {
        let rec = self.stack(&parse_target(target)?.name(), stack_name)?;
        let live = rec.as_ref().filter(|r| r.exists());
        StackRecord::check(
            live,
            stack_name,
            &StackOperation::DescribeChangeSet {
                name: name.to_owned(),
            },
            &stack::NoImports,
        )?;
        live.and_then(|r| r.change_sets.iter().find(|c| c.name == name).cloned())
            .ok_or_else(|| {
                stack::StackError::ChangeSetNotFound {
                    change_set: name.to_owned(),
                }
                .into()
            })
    }

    /// `DeleteChangeSet`.
    pub fn delete_change_set(
        &self,
        target: &str,
        stack_name: &str,
        name: &str,
    ) -> Result<(), EngineError> {
        let tname = parse_target(target)?.name();
        let current = self.load(&tname, stack_name)?;
        let live = current.as_ref().map(|l| &l.rec).filter(|r| r.exists());
        StackRecord::check(
            live,
            stack_name,
            &StackOperation::DeleteChangeSet {
                name: name.to_owned(),
            },
            &stack::NoImports,
        )?;
        let Some(mut l) = current else { return Ok(()) };
        l.rec.change_sets.retain(|c| c.name != name);
        for (key, doc) in self.store.list_docs(Collection::Journal, &tname)? {
            if let Ok(op) = serde_json::from_value::<Operation>(doc.value)
                && op.stack == stack_name
                && op.phase == OpPhase::Pending
                && op.change_set.as_deref() == Some(name)
            {
                self.store.commit(Batch::new().delete(
                    Collection::Journal,
                    &tname,
                    &key,
                    doc.generation,
                ))?;
            }
        }
        self.commit(&mut l, None)
    }

    /// `ExecuteChangeSet`: runs the kept plan; the stack's other change sets are deleted.
    pub fn execute_change_set(
        &self,
        target: &str,
        stack_name: &str,
        name: &str,
    ) -> Result<OperationReport, EngineError> {
        let tname = parse_target(target)?.name();
        let current = self.load(&tname, stack_name)?;
        let live = current.as_ref().map(|l| &l.rec).filter(|r| r.exists());
        StackRecord::check(
            live,
            stack_name,
            &StackOperation::ExecuteChangeSet {
                name: name.to_owned(),
            },
            &self.import_index(&tname),
        )?;
        let Some(mut l) = current else {
            return Err(stack::StackError::DoesNotExist {
                stack: stack_name.to_owned(),
            }
            .into());
        };
        l.rec.take_change_set_for_execution(name)?;
        let mut found = None;
        for (key, doc) in self.store.list_docs(Collection::Journal, &tname)? {
            if let Ok(op) = serde_json::from_value::<Operation>(doc.value)
                && op.stack == stack_name
                && op.phase == OpPhase::Pending
                && op.change_set.as_deref() == Some(name)
            {
                found = Some((key, op, doc.generation));
            }
        }
        let Some((key, mut op, g)) = found else {
            return Err(stack::StackError::ChangeSetNotFound {
                change_set: name.to_owned(),
            }
            .into());
        };
        self.drop_pending_ops(&tname, stack_name, Some(&key))?;
        op.phase = OpPhase::Main { next: 0 };
        op.previous = l.rec.resources.clone();
        let begin = match op.plan.kind {
            PlanKind::Create => StackStatus::CreateInProgress,
            PlanKind::Update => StackStatus::UpdateInProgress,
            PlanKind::Delete => StackStatus::DeleteInProgress,
        };
        self.stack_event(&mut l, begin, Some("User Initiated".into()));
        let mut g = Some(g);
        self.commit(&mut l, Some((&op, &mut g)))?;
        self.drive(&tname, &op.id)
    }

    // -----------------------------------------------------------------------------------------
    // Resuming.

    /// On start: carries on every operation found in progress (or rolls it back), and puts
    /// every live deployment's alias back where its persisted state says.
    pub fn resume(&self) -> Result<Vec<OperationReport>, EngineError> {
        self.reconcile_deployments()?;
        let mut out = Vec::new();
        for (target, id, doc) in self.store.list_live_docs(Collection::Journal)? {
            let Ok(op) = serde_json::from_value::<Operation>(doc.value) else {
                continue;
            };
            if matches!(op.phase, OpPhase::Done | OpPhase::Pending) {
                continue;
            }
            out.push(self.drive(&target, &id)?);
        }
        Ok(out)
    }

    /// Operations waiting on a deployment that has ended move on.
    pub(crate) fn wake_waiting(&self) -> Result<(), EngineError> {
        // Only the entries not done (an indexed read): finished operations keep their plan and
        // template, and this runs on every tick.
        for (target, id, doc) in self.store.list_live_docs(Collection::Journal)? {
            // Most live entries wait for nothing: look before deserialising the whole entry.
            if doc
                .value
                .get("waiting")
                .is_none_or(serde_json::Value::is_null)
            {
                continue;
            }
            let Ok(op) = serde_json::from_value::<Operation>(doc.value) else {
                continue;
            };
            if let Some(d) = &op.waiting
                && let Some(dep) = self.deployment(d)?
                && dep.status.is_terminal()
            {
                self.drive(&target, &id)?;
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Driving.

    fn report(&self, op: &Operation, l: &Loaded) -> OperationReport {
        OperationReport {
            operation_id: op.id.clone(),
            stack: op.stack.clone(),
            status: l.rec.status,
            waiting_on: op.waiting.clone(),
            plan: op.plan.clone(),
        }
    }

    /// Runs an operation from where its journal entry says, until it ends or waits.
    pub(crate) fn drive(&self, target: &str, id: &str) -> Result<OperationReport, EngineError> {
        let Some((op, _)) = self.load_op(target, id)? else {
            return Err(EngineError::OperationNotFound { id: id.to_owned() });
        };
        // A deployment ending inside a step of this very operation wakes it: the outer call
        // carries on by itself.
        if !self.driving_lock().insert(id.to_owned()) {
            // Whatever woke it is looked at again by the next tick, after the outer call.
            self.wake.store(true, std::sync::atomic::Ordering::SeqCst);
            let l = self.load(target, &op.stack)?;
            return Ok(OperationReport {
                operation_id: op.id.clone(),
                stack: op.stack.clone(),
                status: l.map_or(StackStatus::ReviewInProgress, |l| l.rec.status),
                waiting_on: op.waiting.clone(),
                plan: op.plan,
            });
        }
        let out = self.drive_locked(target, id);
        self.driving_lock().remove(id);
        out
    }

    fn driving_lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.driving.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn drive_locked(&self, target: &str, id: &str) -> Result<OperationReport, EngineError> {
        let Some((mut op, g)) = self.load_op(target, id)? else {
            return Err(EngineError::OperationNotFound { id: id.to_owned() });
        };
        let mut g = Some(g);
        let Some(mut l) = self.load(target, &op.stack)? else {
            return Err(stack::StackError::DoesNotExist {
                stack: op.stack.clone(),
            }
            .into());
        };
        // A step found running: the provider may or may not have acted. Fail it (rollback).
        if let Some(k) = op.running
            && op.waiting.is_none()
        {
            op.running = None;
            let reason = "Resource handler was interrupted by a restart".to_owned();
            match op.phase.clone() {
                OpPhase::Main { .. } => {
                    self.fail_main(&mut op, &mut l, k, &reason);
                }
                OpPhase::Cleanup { next } => {
                    let step = op.plan.steps[next].step.clone();
                    self.resource_event(
                        &mut l,
                        &step,
                        None,
                        ResourceStatus::DeleteFailed,
                        Some(&reason),
                    );
                    op.phase = OpPhase::Cleanup { next: next + 1 };
                }
                OpPhase::Rollback {
                    undo,
                    next,
                    cleanup_started,
                } => {
                    // Undo steps are idempotent: run it again.
                    op.phase = OpPhase::Rollback {
                        undo,
                        next,
                        cleanup_started,
                    };
                }
                OpPhase::Pending | OpPhase::Done => {}
            }
            self.commit(&mut l, Some((&op, &mut g)))?;
        }
        loop {
            match op.phase.clone() {
                OpPhase::Pending | OpPhase::Done => return Ok(self.report(&op, &l)),
                OpPhase::Main { next } => {
                    let steps = &op.plan.steps;
                    let main_end = if op.plan.kind == PlanKind::Delete {
                        steps.len()
                    } else {
                        steps
                            .iter()
                            .position(|s| s.step.phase() == Phase::Cleanup)
                            .unwrap_or(steps.len())
                    };
                    if next >= main_end {
                        self.finish_main(&mut op, &mut l, main_end);
                        self.commit(&mut l, Some((&op, &mut g)))?;
                        continue;
                    }
                    let step = steps[next].step.clone();
                    match self.run_forward(&mut op, &mut g, &mut l, next, &step, false)? {
                        StepOutcome::Done => op.phase = OpPhase::Main { next: next + 1 },
                        StepOutcome::Waiting(d) => {
                            if self.deployment(&d)?.is_some_and(|x| x.status.is_terminal()) {
                                // It ended at once (AllAtOnce without hooks): carry on.
                                continue;
                            }
                            return Ok(self.report(&op, &l));
                        }
                        StepOutcome::Deploy(_) => unreachable!("run_forward starts deployments"),
                        StepOutcome::Failed(reason) => {
                            if op.plan.kind == PlanKind::Delete {
                                self.resource_event(
                                    &mut l,
                                    &step,
                                    None,
                                    ResourceStatus::DeleteFailed,
                                    Some(&reason),
                                );
                                let st =
                                    l.rec.status.advance(Progress::Failed { rollback: false })?;
                                self.stack_event(
                                    &mut l,
                                    st,
                                    Some(format!(
                                        "The following resource(s) failed to delete: [{}]. {reason}",
                                        step.logical_id()
                                    )),
                                );
                                op.phase = OpPhase::Done;
                                op.failure = Some(reason);
                            } else {
                                self.fail_main(&mut op, &mut l, next, &reason);
                            }
                        }
                    }
                    self.commit(&mut l, Some((&op, &mut g)))?;
                }
                OpPhase::Cleanup { next } => {
                    if next >= op.plan.steps.len() {
                        let st = l.rec.status.advance(Progress::Completed)?;
                        self.stack_event(&mut l, st, None);
                        op.phase = OpPhase::Done;
                        self.commit(&mut l, Some((&op, &mut g)))?;
                        continue;
                    }
                    let step = op.plan.steps[next].step.clone();
                    if let StepOutcome::Failed(reason) =
                        self.run_forward(&mut op, &mut g, &mut l, next, &step, false)?
                    {
                        // Cleanup is never rolled back: report and carry on.
                        self.resource_event(
                            &mut l,
                            &step,
                            None,
                            ResourceStatus::DeleteFailed,
                            Some(&reason),
                        );
                    }
                    op.phase = OpPhase::Cleanup { next: next + 1 };
                    self.commit(&mut l, Some((&op, &mut g)))?;
                }
                OpPhase::Rollback {
                    undo,
                    next,
                    cleanup_started,
                } => {
                    if next >= undo.len() {
                        if op.plan.kind == PlanKind::Update && !cleanup_started {
                            let st = l.rec.status.advance(Progress::Completed)?;
                            self.stack_event(&mut l, st, None);
                        }
                        let st = l.rec.status.advance(Progress::Completed)?;
                        self.stack_event(&mut l, st, None);
                        op.phase = OpPhase::Done;
                        self.commit(&mut l, Some((&op, &mut g)))?;
                        continue;
                    }
                    let step = undo[next].clone();
                    let mut cleanup_started = cleanup_started;
                    if step.phase() == Phase::Cleanup
                        && op.plan.kind == PlanKind::Update
                        && !cleanup_started
                    {
                        let st = l.rec.status.advance(Progress::Completed)?;
                        self.stack_event(&mut l, st, None);
                        cleanup_started = true;
                        op.phase = OpPhase::Rollback {
                            undo: undo.clone(),
                            next,
                            cleanup_started,
                        };
                    }
                    let creating = op.plan.kind == PlanKind::Create;
                    match self.run_forward(&mut op, &mut g, &mut l, next, &step, creating)? {
                        StepOutcome::Done | StepOutcome::Waiting(_) | StepOutcome::Deploy(_) => {
                            op.phase = OpPhase::Rollback {
                                undo,
                                next: next + 1,
                                cleanup_started,
                            };
                        }
                        StepOutcome::Failed(reason) => {
                            let failed = match step {
                                Step::Update { .. } => ResourceStatus::UpdateFailed,
                                _ => ResourceStatus::DeleteFailed,
                            };
                            self.resource_event(&mut l, &step, None, failed, Some(&reason));
                            let st = l.rec.status.advance(Progress::Failed { rollback: true })?;
                            self.stack_event(&mut l, st, Some(reason.clone()));
                            op.phase = OpPhase::Done;
                            op.failure = Some(reason);
                        }
                    }
                    self.commit(&mut l, Some((&op, &mut g)))?;
                }
            }
        }
    }

    fn fail_main(&self, op: &mut Operation, l: &mut Loaded, k: usize, reason: &str) {
        let step = op.plan.steps[k].step.clone();
        let status = match step {
            Step::Create { .. } => ResourceStatus::CreateFailed,
            Step::Update { .. } | Step::Replace { .. } => ResourceStatus::UpdateFailed,
            Step::Delete { .. } | Step::DeleteReplaced { .. } | Step::DiscardReplacement { .. } => {
                ResourceStatus::DeleteFailed
            }
        };
        self.resource_event(l, &step, None, status, Some(reason));
        let lid = step.logical_id().to_owned();
        let why = match op.plan.kind {
            PlanKind::Create => format!(
                "The following resource(s) failed to create: [{lid}]. Rollback requested by user."
            ),
            PlanKind::Update | PlanKind::Delete => {
                format!("The following resource(s) failed to update: [{lid}]. ")
            }
        };
        if let Ok(st) = l.rec.status.advance(Progress::Failed { rollback: true }) {
            self.stack_event(l, st, Some(why));
        }
        if op.plan.kind == PlanKind::Create {
            self.resource_event(l, &step, None, ResourceStatus::DeleteInProgress, None);
            // A create that left something behind (interrupted after the provider acted) is
            // deleted before the rollback of the rest.
            if let Some(r) = l.rec.resources.shift_remove(&lid)
                && let Some(p) = providers::provider(&r.resource_type)
            {
                let notices = RefCell::new(Vec::new());
                let cx = self.cx(op, &lid, &notices);
                let _ = p.delete(&cx, &r.physical_id, &r.resolved);
                self.defer(&op.target, notices.into_inner());
            }
            self.resource_event(l, &step, None, ResourceStatus::DeleteComplete, None);
        }
        op.failure = Some(reason.to_owned());
        op.phase = OpPhase::Rollback {
            undo: op.plan.rollback_after_failure(k),
            next: 0,
            cleanup_started: false,
        };
    }

    fn finish_main(&self, op: &mut Operation, l: &mut Loaded, main_end: usize) {
        match op.plan.kind {
            PlanKind::Delete => {
                l.rec.resources.clear();
                l.rec.outputs.clear();
                l.rec.imports.clear();
                if let Ok(st) = l.rec.status.advance(Progress::Completed) {
                    self.stack_event(l, st, None);
                }
                op.phase = OpPhase::Done;
            }
            PlanKind::Create | PlanKind::Update => {
                match self.resolve_outputs(op, l) {
                    Ok(outputs) => l.rec.outputs = outputs,
                    Err(reason) => {
                        // Outputs that cannot be resolved fail the operation like a resource.
                        op.failure = Some(reason.clone());
                        if let Ok(st) = l.rec.status.advance(Progress::Failed { rollback: true }) {
                            self.stack_event(l, st, Some(reason));
                        }
                        op.phase = OpPhase::Rollback {
                            undo: op.plan.rollback(main_end),
                            next: 0,
                            cleanup_started: false,
                        };
                        return;
                    }
                }
                l.rec.template = op.desired.template.clone();
                l.rec.parameters = op.desired.parameters.clone();
                l.rec.imports = op.desired.imports.clone();
                l.rec.tags = op.desired.tags.clone();
                if let Ok(st) = l.rec.status.advance(Progress::Completed) {
                    self.stack_event(l, st, None);
                }
                op.phase = if op.plan.kind == PlanKind::Create {
                    OpPhase::Done
                } else {
                    OpPhase::Cleanup { next: main_end }
                };
            }
        }
    }

    fn resolve_outputs(
        &self,
        op: &Operation,
        l: &Loaded,
    ) -> Result<IndexMap<String, StackOutput>, String> {
        let exports = StoreExports::new(self.store.as_ref(), &op.target, &op.stack);
        let mut out = IndexMap::new();
        for o in &op.desired.outputs {
            let v = self.resolve(
                op,
                l,
                &o.value,
                Context::Outputs,
                &format!("Outputs.{}.Value", o.name),
                &exports,
            )?;
            let value = match v {
                Value::String(s) => s,
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            out.insert(
                o.name.clone(),
                StackOutput {
                    value,
                    description: o.description.clone(),
                    export_name: o.export_name.clone(),
                },
            );
        }
        Ok(out)
    }

    fn resolve(
        &self,
        op: &Operation,
        l: &Loaded,
        v: &Value,
        context: Context,
        path: &str,
        exports: &StoreExports<'_>,
    ) -> Result<Value, String> {
        let t = &op.desired.target;
        let mut pseudo = Pseudo::new(&t.account, &t.region, &op.stack);
        pseudo.stack_id = l.rec.id.clone();
        let mut types = op.desired.types.clone();
        for (k, r) in &l.rec.resources {
            types
                .entry(k.clone())
                .or_insert_with(|| r.resource_type.clone());
        }
        let physical = StackPhysical {
            resources: &l.rec.resources,
        };
        resolve_value(v, &pseudo, &types, &physical, exports, context, path)
    }

    pub(crate) fn cx<'a>(
        &'a self,
        op: &'a Operation,
        logical_id: &'a str,
        notices: &'a RefCell<Vec<providers::Notice>>,
    ) -> ProviderCx<'a> {
        ProviderCx {
            store: self.store.as_ref(),
            target: &op.desired.target,
            stack: &op.stack,
            logical_id,
            op_id: &op.id,
            data_dir: &self.data_dir,
            code_root: op.desired.code_root.as_deref(),
            notices,
        }
    }

    /// Runs one step: journal "about to run" with its first events, act, then the caller
    /// commits the result. `rolling_back_create` decides `RetainExceptOnCreate`.
    fn run_forward(
        &self,
        op: &mut Operation,
        g: &mut Option<u64>,
        l: &mut Loaded,
        index: usize,
        step: &Step,
        rolling_back_create: bool,
    ) -> Result<StepOutcome, EngineError> {
        let in_rollback = matches!(op.phase, OpPhase::Rollback { .. });
        // Resuming a step that waits on a deployment.
        if let Some(d) = op.waiting.clone() {
            let Some(dep) = self.deployment(&d)? else {
                op.waiting = None;
                op.running = None;
                return Ok(StepOutcome::Failed(format!("deployment {d} was lost")));
            };
            if !dep.status.is_terminal() {
                return Ok(StepOutcome::Waiting(d));
            }
            op.waiting = None;
            op.running = None;
            if dep.status == DeploymentStatus::Succeeded {
                if let Step::Update { logical_id, to, .. } = step {
                    let exports = StoreExports::new(self.store.as_ref(), &op.target, &op.stack);
                    let resolved = self
                        .resolve(
                            op,
                            l,
                            to,
                            Context::Properties,
                            &format!("Resources.{logical_id}.Properties"),
                            &exports,
                        )
                        .unwrap_or(Value::Null);
                    let pid = l
                        .rec
                        .resources
                        .get(logical_id)
                        .map(|r| r.physical_id.clone());
                    if let Some(r) = l.rec.resources.get_mut(logical_id) {
                        if let Some(s) = op.desired.skeletons.get(logical_id) {
                            let mut n = s.clone();
                            n.physical_id = r.physical_id.clone();
                            n.attributes = r.attributes.clone();
                            *r = n;
                        }
                        r.resolved = resolved;
                        r.status = ResourceStatus::UpdateComplete;
                    }
                    self.resource_event(
                        l,
                        step,
                        pid.as_deref(),
                        ResourceStatus::UpdateComplete,
                        None,
                    );
                }
                return Ok(StepOutcome::Done);
            }
            let why = dep
                .failure
                .as_ref()
                .map_or_else(|| format!("{:?}", dep.status), ToString::to_string);
            return Ok(StepOutcome::Failed(format!(
                "CodeDeploy deployment {} failed: {why}",
                dep.id
            )));
        }
        if !in_rollback
            && self
                .fault(|f| matches!(f, Fault::BeforeStep { step } if *step == index))
                .is_some()
        {
            return Err(EngineError::Interrupted {
                operation: op.id.clone(),
                step: index,
            });
        }
        // Step k is about to run: say so durably, with its first events.
        let lid = step.logical_id().to_owned();
        let current_pid = l.rec.resources.get(&lid).map(|r| r.physical_id.clone());
        let retained = match step {
            Step::Delete { policy, .. } | Step::DeleteReplaced { policy, .. } => {
                policy.is_some_and(|p| p.retains(rolling_back_create))
            }
            _ => false,
        };
        match step {
            Step::Create { .. } => {
                self.resource_event(l, step, None, ResourceStatus::CreateInProgress, None)
            }
            Step::Update { physical_id, .. } => self.resource_event(
                l,
                step,
                Some(physical_id),
                ResourceStatus::UpdateInProgress,
                None,
            ),
            Step::Replace {
                old_physical_id, ..
            } => self.resource_event(
                l,
                step,
                Some(old_physical_id),
                ResourceStatus::UpdateInProgress,
                None,
            ),
            Step::Delete { physical_id, .. } | Step::DeleteReplaced { physical_id, .. } => {
                let pid = physical_id.clone().or(current_pid.clone());
                if retained {
                    self.resource_event(
                        l,
                        step,
                        pid.as_deref(),
                        ResourceStatus::DeleteSkipped,
                        None,
                    );
                } else {
                    self.resource_event(
                        l,
                        step,
                        pid.as_deref(),
                        ResourceStatus::DeleteInProgress,
                        None,
                    );
                }
            }
            Step::DiscardReplacement { .. } => self.resource_event(
                l,
                step,
                current_pid.as_deref(),
                ResourceStatus::DeleteInProgress,
                None,
            ),
        }
        op.running = Some(index);
        self.commit(l, Some((op, g)))?;
        if !in_rollback
            && self
                .fault(|f| matches!(f, Fault::InsideStep { step } if *step == index))
                .is_some()
        {
            return Err(EngineError::Interrupted {
                operation: op.id.clone(),
                step: index,
            });
        }
        let notices = RefCell::new(Vec::new());
        let outcome = self.act(op, l, step, in_rollback, retained, &notices)?;
        // The caller commits the step's result next; the hooks hear of it then.
        self.defer(&op.target, notices.into_inner());
        if let StepOutcome::Deploy(d) = outcome {
            // The step waits on the deployment: both are committed together, then it starts.
            let id = d.id.clone();
            op.waiting = Some(id.clone());
            let put = Write::Put {
                collection: Collection::Deployments,
                target: op.target.clone(),
                key: id.clone(),
                expected: None,
                doc: serde_json::to_value(&*d).unwrap_or(Value::Null),
                live: !d.status.is_terminal(),
            };
            self.commit_with(l, Some((op, g)), vec![put])?;
            self.deployment_event(&id, slipway_deploy::traffic::Event::Start)?;
            return Ok(StepOutcome::Waiting(id));
        }
        if !matches!(outcome, StepOutcome::Waiting(_)) {
            op.running = None;
        }
        Ok(outcome)
    }

    fn act(
        &self,
        op: &Operation,
        l: &mut Loaded,
        step: &Step,
        in_rollback: bool,
        retained: bool,
        notices: &RefCell<Vec<providers::Notice>>,
    ) -> Result<StepOutcome, EngineError> {
        let lid = step.logical_id().to_owned();
        let ty = step.resource_type().to_owned();
        let inert = op.desired.inert.contains(&lid);
        let provider: &dyn providers::ResourceProvider = match providers::provider(&ty) {
            Some(p) => p,
            None if inert => &INERT,
            None => {
                return Ok(StepOutcome::Failed(format!(
                    "type '{ty}' cannot be deployed by Slipway"
                )));
            }
        };
        if !in_rollback
            && let Some(Fault::FailResource { reason, .. }) = self.fault(
                |f| matches!(f, Fault::FailResource { logical_id, .. } if *logical_id == lid),
            )
            && matches!(
                step,
                Step::Create { .. } | Step::Update { .. } | Step::Replace { .. }
            )
        {
            return Ok(StepOutcome::Failed(reason));
        }
        let cx = self.cx(op, &lid, notices);
        let exports = StoreExports::new(self.store.as_ref(), &op.target, &op.stack);
        let ppath = format!("Resources.{lid}.Properties");
        let skeleton =
            |physical_id: &str, resolved: Value, attributes, status| -> DeployedResource {
                let base = if in_rollback {
                    op.previous
                        .get(&lid)
                        .or_else(|| op.desired.skeletons.get(&lid))
                } else {
                    op.desired
                        .skeletons
                        .get(&lid)
                        .or_else(|| op.previous.get(&lid))
                };
                let mut r = base.cloned().unwrap_or(DeployedResource {
                    resource_type: ty.clone(),
                    physical_id: String::new(),
                    properties: Value::Null,
                    resolved: Value::Null,
                    attributes: BTreeMap::new(),
                    deletion_policy: None,
                    update_replace_policy: None,
                    dependencies: BTreeSet::new(),
                    status,
                });
                r.physical_id = physical_id.to_owned();
                r.resolved = resolved;
                r.attributes = attributes;
                r.status = status;
                r
            };
        match step {
            Step::Create {
                properties,
                physical_name,
                ..
            } => {
                let resolved =
                    match self.resolve(op, l, properties, Context::Properties, &ppath, &exports) {
                        Ok(v) => v,
                        Err(e) => return Ok(StepOutcome::Failed(e)),
                    };
                match provider.create(&cx, physical_name.as_deref(), &resolved) {
                    Ok(a) => {
                        self.resource_event(
                            l,
                            step,
                            Some(&a.physical_id),
                            ResourceStatus::CreateInProgress,
                            Some("Resource creation Initiated"),
                        );
                        self.resource_event(
                            l,
                            step,
                            Some(&a.physical_id),
                            ResourceStatus::CreateComplete,
                            None,
                        );
                        let r = skeleton(
                            &a.physical_id,
                            resolved,
                            a.attributes,
                            ResourceStatus::CreateComplete,
                        );
                        l.rec.resources.insert(lid, r);
                        Ok(StepOutcome::Done)
                    }
                    Err(e) => Ok(StepOutcome::Failed(e.to_string())),
                }
            }
            Step::Update {
                physical_id, to, ..
            } => {
                let resolved = match self.resolve(op, l, to, Context::Properties, &ppath, &exports)
                {
                    Ok(v) => v,
                    Err(e) => return Ok(StepOutcome::Failed(e)),
                };
                let old = l
                    .rec
                    .resources
                    .get(&lid)
                    .map(|r| r.resolved.clone())
                    .unwrap_or(Value::Null);
                if !in_rollback
                    && let Some(d) = self.maybe_start_deployment(op, l, &lid, &old, &resolved)?
                {
                    return Ok(StepOutcome::Deploy(Box::new(d)));
                }
                match provider.update(&cx, physical_id, &old, &resolved) {
                    Ok(a) => {
                        self.resource_event(
                            l,
                            step,
                            Some(&a.physical_id),
                            ResourceStatus::UpdateComplete,
                            None,
                        );
                        let r = skeleton(
                            &a.physical_id,
                            resolved,
                            a.attributes,
                            ResourceStatus::UpdateComplete,
                        );
                        l.rec.resources.insert(lid, r);
                        Ok(StepOutcome::Done)
                    }
                    Err(e) => Ok(StepOutcome::Failed(e.to_string())),
                }
            }
            Step::Replace {
                old_physical_id,
                properties,
                physical_name,
                ..
            } => {
                let resolved =
                    match self.resolve(op, l, properties, Context::Properties, &ppath, &exports) {
                        Ok(v) => v,
                        Err(e) => return Ok(StepOutcome::Failed(e)),
                    };
                match provider.create(&cx, physical_name.as_deref(), &resolved) {
                    Ok(a) => {
                        self.resource_event(
                            l,
                            step,
                            Some(old_physical_id),
                            ResourceStatus::UpdateInProgress,
                            Some(stack::REPLACEMENT_REASON),
                        );
                        self.resource_event(
                            l,
                            step,
                            Some(&a.physical_id),
                            ResourceStatus::UpdateInProgress,
                            Some("Resource creation Initiated"),
                        );
                        self.resource_event(
                            l,
                            step,
                            Some(&a.physical_id),
                            ResourceStatus::UpdateComplete,
                            None,
                        );
                        let r = skeleton(
                            &a.physical_id,
                            resolved,
                            a.attributes,
                            ResourceStatus::UpdateComplete,
                        );
                        l.rec.resources.insert(lid, r);
                        Ok(StepOutcome::Done)
                    }
                    Err(e) => Ok(StepOutcome::Failed(e.to_string())),
                }
            }
            Step::Delete {
                physical_id,
                properties,
                ..
            } => {
                let current = l.rec.resources.get(&lid).cloned();
                let pid = physical_id
                    .clone()
                    .or(current.as_ref().map(|r| r.physical_id.clone()));
                let Some(pid) = pid else {
                    // Nothing was created: nothing to delete.
                    self.resource_event(l, step, None, ResourceStatus::DeleteComplete, None);
                    return Ok(StepOutcome::Done);
                };
                if !retained {
                    let props = current.as_ref().map_or(properties, |r| &r.resolved);
                    if let Err(e) = provider.delete(&cx, &pid, props) {
                        return Ok(StepOutcome::Failed(e.to_string()));
                    }
                    self.resource_event(l, step, Some(&pid), ResourceStatus::DeleteComplete, None);
                }
                l.rec.resources.shift_remove(&lid);
                Ok(StepOutcome::Done)
            }
            Step::DeleteReplaced { physical_id, .. } => {
                if let Some(pid) = physical_id
                    && !retained
                {
                    let props = op
                        .previous
                        .get(&lid)
                        .map(|r| r.resolved.clone())
                        .unwrap_or(Value::Null);
                    if let Err(e) = provider.delete(&cx, pid, &props) {
                        return Ok(StepOutcome::Failed(e.to_string()));
                    }
                    self.resource_event(l, step, Some(pid), ResourceStatus::DeleteComplete, None);
                }
                Ok(StepOutcome::Done)
            }
            Step::DiscardReplacement {
                old_physical_id, ..
            } => {
                if let Some(r) = l.rec.resources.get(&lid).cloned()
                    && &r.physical_id != old_physical_id
                    && let Err(e) = provider.delete(&cx, &r.physical_id, &r.resolved)
                {
                    return Ok(StepOutcome::Failed(e.to_string()));
                }
                self.resource_event(l, step, None, ResourceStatus::DeleteComplete, None);
                if let Some(prev) = op.previous.get(&lid) {
                    l.rec.resources.insert(lid, prev.clone());
                }
                Ok(StepOutcome::Done)
            }
        }
    }

    /// An alias whose `UpdatePolicy.CodeDeployLambdaAliasUpdate` is set and whose version
    /// changes moves under a CodeDeploy deployment instead of at once.
    fn maybe_start_deployment(
        &self,
        op: &Operation,
        l: &Loaded,
        lid: &str,
        old: &Value,
        new: &Value,
    ) -> Result<Option<slipway_deploy::traffic::Deployment>, EngineError> {
        if op.desired.types.get(lid).map(String::as_str) != Some("AWS::Lambda::Alias") {
            return Ok(None);
        }
        let Some(policy) = op.desired.update_policies.get(lid) else {
            return Ok(None);
        };
        let exports = StoreExports::new(self.store.as_ref(), &op.target, &op.stack);
        let Ok(policy) = self.resolve(
            op,
            l,
            policy,
            Context::UpdatePolicy,
            &format!("Resources.{lid}.UpdatePolicy"),
            &exports,
        ) else {
            return Ok(None);
        };
        let Some(policy) = AliasUpdatePolicy::from_update_policy(&policy) else {
            return Ok(None);
        };
        let (Some(from), Some(to)) = (
            providers::version_of(old).and_then(|v| v.parse::<u32>().ok()),
            providers::version_of(new).and_then(|v| v.parse::<u32>().ok()),
        ) else {
            return Ok(None);
        };
        if from == to {
            return Ok(None);
        }
        let function = new
            .get("FunctionName")
            .and_then(Value::as_str)
            .map(providers::function_name)
            .unwrap_or_default()
            .to_owned();
        let alias = new
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let view = LoadedView {
            resources: &l.rec.resources,
        };
        let d = self.start_deployment(op, &view, &policy, &function, &alias, from, to)?;
        Ok(Some(d))
    }
}

/// Inert resources (`--accept-type`): recorded, never run.
static INERT: InertProvider = InertProvider;

struct InertProvider;

impl providers::ResourceProvider for InertProvider {
    fn create(
        &self,
        cx: &ProviderCx<'_>,
        name: Option<&str>,
        _: &Value,
    ) -> Result<providers::Applied, providers::ProviderError> {
        Ok(providers::Applied {
            physical_id: name
                .map_or_else(|| format!("{}-{}", cx.stack, cx.logical_id), str::to_owned),
            attributes: BTreeMap::new(),
        })
    }

    fn update(
        &self,
        _: &ProviderCx<'_>,
        physical_id: &str,
        _: &Value,
        _: &Value,
    ) -> Result<providers::Applied, providers::ProviderError> {
        Ok(providers::Applied {
            physical_id: physical_id.to_owned(),
            attributes: BTreeMap::new(),
        })
    }

    fn delete(
        &self,
        _: &ProviderCx<'_>,
        _: &str,
        _: &Value,
    ) -> Result<(), providers::ProviderError> {
        Ok(())
    }
}

impl StoreExports<'_> {
    /// Whether an asked-for name is exported by another stack (`Some(true)`): an import.
    fn export_lookup(&self, name: &str) -> Option<bool> {
        Some(
            StoreExports::all(self.store, self.target)
                .get(name)
                .is_some_and(|(s, _)| s != self.stack),
        )
    }
}

/// Serialising records that are known to serialise.
mod erased {
    pub(super) trait Ser {
        fn json(&self) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}
