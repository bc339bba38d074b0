//! Planner cases: templates in, plans out.

use serde_json::json;
use slipway_deploy::plan::{
    Action, ChangeSource, Evaluation, Phase, PlanError, PlanKind, Replacement, Step, plan,
    plan_delete,
};
use slipway_deploy::replacement::RequiresRecreation;
use slipway_deploy::stack::{
    DeletionPolicy, EventStatus, Outcome, ResourceStatus, StackRecord, StackStatus, event_script,
};
use slipway_model::template::{Options, Template, resolve};

fn resolve_with(text: &str, overrides: &[(&str, &str)]) -> Template {
    let opts = Options {
        stack_name: "app".into(),
        overrides: overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    };
    let out = resolve(text, &opts);
    assert!(!out.has_errors(), "{:#?}", out.diagnostics);
    out.template.unwrap_or_else(|| panic!("no template"))
}

fn t(text: &str) -> Template {
    resolve_with(text, &[])
}

/// A stack where every resource of `template` exists, named `<id>-phys`.
fn deployed(template: &Template) -> StackRecord {
    let mut s = StackRecord::new(
        "app",
        "123456789012/us-east-1",
        &template.pseudo.stack_id,
        StackStatus::CreateComplete,
    );
    for id in &template.order {
        let r = StackRecord::deployed_resource(template, id, &format!("{id}-phys"), json!({}))
            .unwrap_or_else(|| panic!("{id}"));
        s.resources.insert(id.clone(), r);
    }
    s.set_parameters(template);
    s
}

const BASE: &str = r#"
Parameters:
  Mem:
    Type: Number
    Default: "128"
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: arn:aws:iam::123456789012:role/r
      Code: {ZipFile: "def handler(e, c): return 1"}
      MemorySize: !Ref Mem
      Environment:
        Variables:
          QUEUE: !Ref Queue
  Ver:
    Type: AWS::Lambda::Version
    DeletionPolicy: Retain
    Properties:
      FunctionName: !Ref Fn
  Live:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: !GetAtt Ver.Version
      Name: live
"#;

#[test]
fn create_adds_everything_in_dependency_order() {
    let tpl = t(BASE);
    let p = plan(&tpl, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.kind, PlanKind::Create);
    let ids: Vec<&str> = p.changes.iter().map(|c| c.logical_id.as_str()).collect();
    assert_eq!(ids, ["Queue", "Fn", "Ver", "Live"]);
    assert!(
        p.changes
            .iter()
            .all(|c| c.action == Action::Add && c.replacement.is_none())
    );
    let steps: Vec<&str> = p.steps.iter().map(|s| s.step.logical_id()).collect();
    assert_eq!(steps, ["Queue", "Fn", "Ver", "Live"]);
    // Generated names for named types only, deterministic.
    match &p.steps[0].step {
        Step::Create { physical_name, .. } => {
            let n = physical_name.clone().unwrap_or_default();
            assert!(n.starts_with("app-Queue-"), "{n}");
            assert_eq!(n.len(), "app-Queue-".len() + 12);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p, plan(&tpl, None).unwrap_or_else(|e| panic!("{e}")));
    insta_like(
        &p.to_string(),
        "CloudFormation stack changeset (app)
Operation  LogicalResourceId  ResourceType           Replacement
----------------------------------------------------------------
+ Add      Queue              AWS::SQS::Queue        N/A
+ Add      Fn                 AWS::Lambda::Function  N/A
+ Add      Ver                AWS::Lambda::Version   N/A
+ Add      Live               AWS::Lambda::Alias     N/A
",
    );
    // Undo of a create is a delete; inverse runs newest first.
    let inv = p.inverse();
    let ids: Vec<&str> = inv.steps.iter().map(|s| s.step.logical_id()).collect();
    assert_eq!(ids, ["Live", "Ver", "Fn", "Queue"]);
    assert!(
        inv.steps
            .iter()
            .all(|s| matches!(s.step, Step::Delete { .. }))
    );
    assert!(matches!(inv.steps[0].undo, Some(Step::Create { .. })));
}

fn insta_like(got: &str, want: &str) {
    assert_eq!(got, want, "\n--- got ---\n{got}\n--- want ---\n{want}");
}

#[test]
fn unchanged_template_plans_nothing() {
    let tpl = t(BASE);
    let cur = deployed(&tpl);
    let p = plan(&tpl, Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.kind, PlanKind::Update);
    assert!(p.is_empty(), "{p}");
    assert!(p.steps.is_empty());
    assert!(p.to_string().contains("No changes to deploy."));
}

#[test]
fn parameter_change_is_a_parameter_reference() {
    let cur = deployed(&t(BASE));
    let tpl = resolve_with(BASE, &[("Mem", "256")]);
    let p = plan(&tpl, Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.changes.len(), 1, "{p}");
    let c = &p.changes[0];
    assert_eq!((c.action, c.logical_id.as_str()), (Action::Modify, "Fn"));
    assert_eq!(c.replacement, Some(Replacement::False));
    assert_eq!(c.physical_id.as_deref(), Some("Fn-phys"));
    assert_eq!(c.details.len(), 2);
    assert_eq!(c.details[0].evaluation, Evaluation::Dynamic);
    assert_eq!(c.details[1].evaluation, Evaluation::Static);
    for d in &c.details {
        assert_eq!(d.change_source, ChangeSource::ParameterReference);
        assert_eq!(d.causing_entity.as_deref(), Some("Mem"));
        assert_eq!(d.target.name.as_deref(), Some("MemorySize"));
        assert_eq!(d.target.requires_recreation, RequiresRecreation::Never);
    }
    // Modifying the function: the alias reads only Ref Fn (unchanged physical ID) and
    // Ver.Version — Ver itself does not change, so nothing else moves.
    assert!(matches!(p.steps[0].step, Step::Update { .. }));
    let inv = p.inverse();
    match (&p.steps[0].step, &inv.steps[0].step) {
        (Step::Update { from: a, to: b, .. }, Step::Update { from: c, to: d, .. }) => {
            assert_eq!((a, b), (d, c));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replacement_propagates_as_dynamic_references() {
    let cur = deployed(&t(BASE));
    let renamed = BASE.replace(
        "Runtime: python3.12",
        "Runtime: python3.12\n      FunctionName: renamed",
    );
    let tpl = t(&renamed);
    let p = plan(&tpl, Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    let by_id = |id: &str| {
        p.changes
            .iter()
            .find(|c| c.logical_id == id)
            .unwrap_or_else(|| panic!("{id} not in\n{p}"))
    };
    let f = by_id("Fn");
    assert_eq!(f.replacement, Some(Replacement::True));
    assert_eq!(f.details[0].change_source, ChangeSource::DirectModification);
    assert_eq!(f.details[0].causing_entity, None);
    assert_eq!(
        f.details[0].target.requires_recreation,
        RequiresRecreation::Always
    );
    // Ver refers to Fn (FunctionName → Always): Dynamic, so Conditional.
    let v = by_id("Ver");
    assert_eq!(v.replacement, Some(Replacement::Conditional));
    assert_eq!(v.details[0].evaluation, Evaluation::Dynamic);
    assert_eq!(v.details[0].change_source, ChangeSource::ResourceReference);
    assert_eq!(v.details[0].causing_entity.as_deref(), Some("Fn"));
    // The alias: FunctionName (Ref Fn, replaced → Always, Dynamic) and Ver.Version.
    let a = by_id("Live");
    assert_eq!(a.replacement, Some(Replacement::Conditional));
    assert!(
        a.details
            .iter()
            .any(|d| d.change_source == ChangeSource::ResourceAttribute
                && d.causing_entity.as_deref() == Some("Ver.Version"))
    );
    // Steps: Fn replaced for certain (new physical); Ver and Live are certain too (a reference
    // to a replaced resource in an Always property); cleanup deletes the old ones newest first.
    let kinds: Vec<(&str, Phase)> = p
        .steps
        .iter()
        .map(|s| (s.step.logical_id(), s.step.phase()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Fn", Phase::Main),
            ("Ver", Phase::Main),
            ("Live", Phase::Main),
            ("Live", Phase::Cleanup),
            ("Ver", Phase::Cleanup),
            ("Fn", Phase::Cleanup),
        ]
    );
    assert!(matches!(p.steps[0].step, Step::Replace { .. }));
    assert!(matches!(
        p.steps[0].undo,
        Some(Step::DiscardReplacement { .. })
    ));
    // Events: the replacement is announced, the old one deleted in cleanup.
    let ev = event_script("app", &cur.id, &p, &Outcome::Succeeded);
    let fnev: Vec<(&str, Option<&str>)> = ev
        .iter()
        .filter(|e| e.logical_id == "Fn")
        .map(|e| (e.status.as_str(), e.reason.as_deref()))
        .collect();
    assert_eq!(
        fnev,
        [
            ("UPDATE_IN_PROGRESS", None),
            (
                "UPDATE_IN_PROGRESS",
                Some(slipway_deploy::stack::REPLACEMENT_REASON)
            ),
            ("UPDATE_IN_PROGRESS", Some("Resource creation Initiated")),
            ("UPDATE_COMPLETE", None),
            ("DELETE_IN_PROGRESS", None),
            ("DELETE_COMPLETE", None),
        ]
    );
    // Failing at the alias: the new Fn and Ver are discarded in the rollback's cleanup.
    let failed = event_script(
        "app",
        &cur.id,
        &p,
        &Outcome::FailedAt {
            step: 2,
            reason: "x".into(),
        },
    );
    let tail: Vec<(&str, &str)> = failed
        .iter()
        .skip_while(|e| e.status.as_str() != "UPDATE_ROLLBACK_IN_PROGRESS")
        .map(|e| (e.logical_id.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            ("app", "UPDATE_ROLLBACK_IN_PROGRESS"),
            ("app", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
            ("Ver", "DELETE_IN_PROGRESS"),
            ("Ver", "DELETE_COMPLETE"),
            ("Fn", "DELETE_IN_PROGRESS"),
            ("Fn", "DELETE_COMPLETE"),
            ("app", "UPDATE_ROLLBACK_COMPLETE"),
        ]
    );
    match &p.steps[0].step {
        Step::Replace { physical_name, .. } => assert_eq!(physical_name, &None, "custom name"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn custom_named_resource_cannot_be_replaced() {
    let named = BASE.replace(
        "  Queue:\n    Type: AWS::SQS::Queue\n",
        "  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: jobs\n",
    );
    let cur = deployed(&t(&named));
    let fifo = named.replace("QueueName: jobs", "QueueName: jobs\n      FifoQueue: true");
    let err = plan(&t(&fifo), Some(&cur)).err();
    assert_eq!(
        err,
        Some(PlanError::CustomNamedReplacement {
            logical_id: "Queue".into(),
            property: "FifoQueue".into(),
            name: "jobs".into(),
        })
    );
    // Renaming at the same time is fine: a new name, a new queue.
    let renamed = named.replace(
        "QueueName: jobs",
        "QueueName: jobs2.fifo\n      FifoQueue: true",
    );
    let p = plan(&t(&renamed), Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.changes[0].replacement, Some(Replacement::True));
}

#[test]
fn removal_honours_deletion_policy_and_runs_in_cleanup() {
    let cur = deployed(&t(BASE));
    let without = BASE.split("  Ver:").next().unwrap_or_default().to_owned();
    let p = plan(&t(&without), Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    let removes: Vec<&str> = p
        .changes
        .iter()
        .filter(|c| c.action == Action::Remove)
        .map(|c| c.logical_id.as_str())
        .collect();
    assert_eq!(removes, ["Live", "Ver"]);
    let policies: Vec<(&str, Option<DeletionPolicy>)> = p
        .steps
        .iter()
        .filter_map(|s| match &s.step {
            Step::Delete {
                logical_id, policy, ..
            } => Some((logical_id.as_str(), *policy)),
            _ => None,
        })
        .collect();
    assert_eq!(
        policies,
        [("Live", None), ("Ver", Some(DeletionPolicy::Retain))]
    );
    assert!(
        p.steps.iter().all(|s| s.undo.is_none()),
        "cleanup is not undone"
    );
    let events = event_script("app", &cur.id, &p, &Outcome::Succeeded);
    let flat: Vec<(String, &str)> = events
        .iter()
        .map(|e| (e.logical_id.clone(), e.status.as_str()))
        .collect();
    assert_eq!(
        flat,
        [
            ("app".to_owned(), "UPDATE_IN_PROGRESS"),
            ("app".to_owned(), "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            ("Live".to_owned(), "DELETE_IN_PROGRESS"),
            ("Live".to_owned(), "DELETE_COMPLETE"),
            ("Ver".to_owned(), "DELETE_SKIPPED"),
            ("app".to_owned(), "UPDATE_COMPLETE"),
        ]
    );
}

#[test]
fn unsupported_and_retyped_resources_fail_at_plan_time() {
    let cur = deployed(&t(BASE));
    let retyped = BASE.replace("Type: AWS::SQS::Queue", "Type: AWS::SNS::Topic");
    assert!(matches!(
        plan(&t(&retyped), Some(&cur)),
        Err(PlanError::TypeChanged { .. })
    ));
    let mut rolled_back = cur;
    rolled_back.status = StackStatus::RollbackComplete;
    assert!(matches!(
        plan(&t(BASE), Some(&rolled_back)),
        Err(PlanError::OnlyDelete { .. })
    ));
}

#[test]
fn create_events_and_failed_create_rollback() {
    let tpl = t(BASE);
    let p = plan(&tpl, None).unwrap_or_else(|e| panic!("{e}"));
    let ok = event_script("app", "sid", &p, &Outcome::Succeeded);
    let statuses: Vec<&str> = ok.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses.first(), Some(&"CREATE_IN_PROGRESS"));
    assert_eq!(statuses.last(), Some(&"CREATE_COMPLETE"));
    assert_eq!(ok.len(), 2 + 4 * 3);
    assert_eq!(ok[0].reason.as_deref(), Some("User Initiated"));

    // Fn (step 1) fails: Queue is deleted again, the stack ends in ROLLBACK_COMPLETE.
    let failed = event_script(
        "app",
        "sid",
        &p,
        &Outcome::FailedAt {
            step: 1,
            reason: "boom".into(),
        },
    );
    let flat: Vec<(&str, &str)> = failed
        .iter()
        .map(|e| (e.logical_id.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        flat,
        [
            ("app", "CREATE_IN_PROGRESS"),
            ("Queue", "CREATE_IN_PROGRESS"),
            ("Queue", "CREATE_IN_PROGRESS"),
            ("Queue", "CREATE_COMPLETE"),
            ("Fn", "CREATE_IN_PROGRESS"),
            ("Fn", "CREATE_FAILED"),
            ("app", "ROLLBACK_IN_PROGRESS"),
            ("Fn", "DELETE_IN_PROGRESS"),
            ("Fn", "DELETE_COMPLETE"),
            ("Queue", "DELETE_IN_PROGRESS"),
            ("Queue", "DELETE_COMPLETE"),
            ("app", "ROLLBACK_COMPLETE"),
        ]
    );
    assert_eq!(failed[5].reason.as_deref(), Some("boom"));
    assert_eq!(
        failed[6].reason.as_deref(),
        Some("The following resource(s) failed to create: [Fn]. Rollback requested by user.")
    );
    // Recording the script moves the stack's status with it.
    let mut s = StackRecord::new("app", "t", "sid", StackStatus::CreateInProgress);
    for (i, e) in failed.into_iter().enumerate() {
        s.record(e, i as u64);
    }
    assert_eq!(s.status, StackStatus::RollbackComplete);
    assert_eq!(s.events.len(), 12);
}

#[test]
fn failed_update_rolls_back_through_cleanup() {
    let cur = deployed(&t(BASE));
    let tpl = t(&BASE
        .replace(
            "  Queue:\n    Type: AWS::SQS::Queue\n",
            "  Queue:\n    Type: AWS::SQS::Queue\n  Topic:\n    Type: AWS::SNS::Topic\n",
        )
        .replace(
            "QUEUE: !Ref Queue",
            "QUEUE: !Ref Queue\n          TOPIC: !Ref Topic",
        ));
    let p = plan(&tpl, Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<(&str, Action)> = p
        .changes
        .iter()
        .map(|c| (c.logical_id.as_str(), c.action))
        .collect();
    assert_eq!(ids, [("Topic", Action::Add), ("Fn", Action::Modify)]);
    // Fn's update fails: Topic is deleted in the rollback's cleanup.
    let ev = event_script(
        "app",
        "sid",
        &p,
        &Outcome::FailedAt {
            step: 1,
            reason: "bad".into(),
        },
    );
    let flat: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| (e.logical_id.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(
        flat,
        [
            ("app", "UPDATE_IN_PROGRESS"),
            ("Topic", "CREATE_IN_PROGRESS"),
            ("Topic", "CREATE_IN_PROGRESS"),
            ("Topic", "CREATE_COMPLETE"),
            ("Fn", "UPDATE_IN_PROGRESS"),
            ("Fn", "UPDATE_FAILED"),
            ("app", "UPDATE_ROLLBACK_IN_PROGRESS"),
            ("Fn", "UPDATE_IN_PROGRESS"),
            ("Fn", "UPDATE_COMPLETE"),
            ("app", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
            ("Topic", "DELETE_IN_PROGRESS"),
            ("Topic", "DELETE_COMPLETE"),
            ("app", "UPDATE_ROLLBACK_COMPLETE"),
        ]
    );
    // Successful update: adds, then modify, then UPDATE_COMPLETE_CLEANUP_IN_PROGRESS.
    let okev = event_script("app", "sid", &p, &Outcome::Succeeded);
    let last: Vec<&str> = okev
        .iter()
        .rev()
        .take(2)
        .map(|e| e.status.as_str())
        .collect();
    assert_eq!(
        last,
        ["UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"]
    );
    assert!(
        okev.iter()
            .any(|e| e.status == EventStatus::Resource(ResourceStatus::UpdateComplete))
    );
}

#[test]
fn delete_plan_reverses_and_skips_retained() {
    let cur = deployed(&t(BASE));
    let p = plan_delete(&cur);
    let ids: Vec<&str> = p.steps.iter().map(|s| s.step.logical_id()).collect();
    assert_eq!(ids, ["Live", "Ver", "Fn", "Queue"]);
    let ev = event_script("app", "sid", &p, &Outcome::Succeeded);
    let flat: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| (e.logical_id.as_str(), e.status.as_str()))
        .collect();
    assert_eq!(flat[0], ("app", "DELETE_IN_PROGRESS"));
    assert!(flat.contains(&("Ver", "DELETE_SKIPPED")));
    assert_eq!(flat.last(), Some(&("app", "DELETE_COMPLETE")));
    let failed = event_script(
        "app",
        "sid",
        &p,
        &Outcome::FailedAt {
            step: 2,
            reason: "in use".into(),
        },
    );
    assert_eq!(
        failed.last().map(|e| e.status.as_str()),
        Some("DELETE_FAILED")
    );
}

#[test]
fn attribute_of_a_modified_resource_is_dynamic() {
    let text = r#"
Parameters:
  Timeout:
    Type: Number
    Default: "3"
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: arn:aws:iam::123456789012:role/r
      Code: {ZipFile: "x"}
      Timeout: !Ref Timeout
  Perm:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !GetAtt Fn.Arn
      Principal: s3.amazonaws.com
"#;
    let cur = deployed(&t(text));
    let p = plan(&resolve_with(text, &[("Timeout", "9")]), Some(&cur))
        .unwrap_or_else(|e| panic!("{e}"));
    let perm = p
        .changes
        .iter()
        .find(|c| c.logical_id == "Perm")
        .unwrap_or_else(|| panic!("{p}"));
    assert_eq!(perm.replacement, Some(Replacement::Conditional));
    assert_eq!(perm.details.len(), 1);
    let d = &perm.details[0];
    assert_eq!(d.evaluation, Evaluation::Dynamic);
    assert_eq!(d.change_source, ChangeSource::ResourceAttribute);
    assert_eq!(d.causing_entity.as_deref(), Some("Fn.Arn"));
    assert_eq!(d.target.requires_recreation, RequiresRecreation::Always);
    // Decided when the attribute resolves: the executor replaces only if FunctionName changed.
    match &p.steps[1].step {
        Step::Update {
            recreate_if_changed,
            ..
        } => assert_eq!(recreate_if_changed, &["FunctionName".to_owned()]),
        other => panic!("{other:?}"),
    }
    // Stable table for snapshots.
    insta_like(
        &p.to_string(),
        "CloudFormation stack changeset (app)
Operation  LogicalResourceId  ResourceType             Replacement
------------------------------------------------------------------
* Modify   Fn                 AWS::Lambda::Function    False
* Modify   Perm               AWS::Lambda::Permission  Conditional
",
    );
    // Plans are data: they survive the store.
    let back: slipway_deploy::plan::Plan =
        serde_json::from_str(&serde_json::to_string(&p).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, p);
}

/// The two entries of the replacement table corrected against the CloudFormation docs
/// (`replacement.rs`): moving a rule to another event bus ("Some interruptions") and enabling
/// Object Lock on a bucket ("No interruption") update in place; renaming a rule still replaces
/// it.
#[test]
fn event_bus_and_object_lock_changes_update_in_place() {
    const RULE: &str = r#"
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Rule:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(5 minutes)
"#;
    let cur = deployed(&t(RULE));
    let changed = RULE
        .replace(
            "    Type: AWS::S3::Bucket\n",
            "    Type: AWS::S3::Bucket\n    Properties:\n      ObjectLockEnabled: true\n",
        )
        .replace(
            "      ScheduleExpression: rate(5 minutes)\n",
            "      ScheduleExpression: rate(5 minutes)\n      EventBusName: orders\n",
        );
    let p = plan(&t(&changed), Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.changes.len(), 2, "{p}");
    for (c, property) in p.changes.iter().zip(["ObjectLockEnabled", "EventBusName"]) {
        assert_eq!(c.action, Action::Modify, "{p}");
        assert_eq!(c.replacement, Some(Replacement::False), "{}", c.logical_id);
        assert_eq!(c.details.len(), 1, "{p}");
        assert_eq!(c.details[0].target.name.as_deref(), Some(property));
        assert_eq!(
            c.details[0].target.requires_recreation,
            RequiresRecreation::Never
        );
    }
    assert!(
        p.steps
            .iter()
            .all(|s| matches!(s.step, Step::Update { .. }))
    );

    let renamed = RULE.replace(
        "      ScheduleExpression: rate(5 minutes)\n",
        "      ScheduleExpression: rate(5 minutes)\n      Name: nightly\n",
    );
    let p = plan(&t(&renamed), Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.changes.len(), 1, "{p}");
    assert_eq!(p.changes[0].replacement, Some(Replacement::True), "{p}");
    assert_eq!(
        p.changes[0].details[0].target.requires_recreation,
        RequiresRecreation::Always
    );
}

/// An HTTP API changing protocol is replaced; a changed OpenAPI body is not.
#[test]
fn http_api_protocol_type_replaces_and_body_does_not() {
    const API: &str = r#"
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: shop
      ProtocolType: HTTP
"#;
    let cur = deployed(&t(API));
    let p = plan(&t(&API.replace("Name: shop", "Name: store")), Some(&cur))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.changes[0].replacement, Some(Replacement::False), "{p}");
    let p =
        plan(&t(&API.replace("HTTP", "WEBSOCKET")), Some(&cur)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.changes[0].replacement, Some(Replacement::True), "{p}");
}
