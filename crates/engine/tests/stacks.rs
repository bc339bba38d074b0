//! Stack operations end to end on the executor: statuses, events, rollback, crash recovery,
//! the second evaluation pass, exports and change sets.

mod common;

use std::sync::Arc;

use common::*;
use slipway_deploy::plan::PlanKind;
use slipway_deploy::stack::{ChangeSetType, Outcome, StackStatus, event_script};
use slipway_engine::{EngineError, Fault, ManualClock};
use slipway_store::state::Collection;

const APP: &str = r#"
Parameters:
  Greeting:
    Type: String
    Default: hello
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Queue:
    Type: AWS::SQS::Queue
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code:
        S3Bucket: artefacts
        S3Key: app.zip
      Environment:
        Variables:
          TOPIC: !Ref Topic
          QUEUE_ARN: !GetAtt Queue.Arn
          GREETING: !Ref Greeting
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Sub "${Greeting} from ${Fn} on ${Topic}"
Outputs:
  FnArn:
    Value: !GetAtt Fn.Arn
    Export:
      Name: app-fn-arn
"#;

fn env(e: &slipway_engine::Engine) -> serde_json::Value {
    let rec = e.stack(T, "app").unwrap().unwrap();
    rec.resources["Fn"].resolved["Environment"]["Variables"].clone()
}

#[test]
fn create_resolves_references_to_physical_values_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let rep = r.engine.deploy(&req("app", APP)).unwrap();
    assert_eq!(rep.status, StackStatus::CreateComplete);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    let v = env(&r.engine);
    assert_eq!(v["TOPIC"], rec.resources["Topic"].physical_id);
    assert!(
        v["TOPIC"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sns:us-east-1:111111111111:app-Topic-")
    );
    assert!(
        v["QUEUE_ARN"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sqs:us-east-1:111111111111:app-Queue-")
    );
    assert_eq!(v["GREETING"], "hello");
    let fn_name = &rec.resources["Fn"].physical_id;
    assert!(fn_name.starts_with("app-Fn-"), "{fn_name}");
    let role = rec.resources["Fn"].resolved["Role"].as_str().unwrap();
    assert!(
        role.starts_with("arn:aws:iam::111111111111:role/app-Role-"),
        "{role}"
    );
    let param = rec.resources["Param"].resolved["Value"].as_str().unwrap();
    assert_eq!(
        param,
        format!(
            "hello from {fn_name} on {}",
            rec.resources["Topic"].physical_id
        )
    );
    assert_eq!(
        rec.outputs["FnArn"].value,
        format!("arn:aws:lambda:us-east-1:111111111111:function:{fn_name}")
    );
    // The function is in the store with its $LATEST.
    assert!(
        r.engine
            .store()
            .get_doc(Collection::Functions, T, fn_name)
            .unwrap()
            .is_some()
    );
    // Events: the same sequence of statuses the pure core scripts for this plan.
    let script: Vec<(String, String)> =
        event_script("app", &rec.id, &rep.plan, &Outcome::Succeeded)
            .iter()
            .map(|e| (e.logical_id.clone(), e.status.as_str().to_owned()))
            .collect();
    assert_eq!(statuses(&r.engine, "app"), script);
}

#[test]
fn a_failed_create_rolls_back_and_then_only_delete_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.inject(Fault::FailResource {
        logical_id: "Fn".into(),
        reason: "Resource handler returned message: boom".into(),
    });
    let rep = r.engine.deploy(&req("app", APP)).unwrap();
    assert_eq!(rep.status, StackStatus::RollbackComplete);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert!(rec.resources.is_empty(), "{:?}", rec.resources.keys());
    // Everything created before the failure is gone from the providers too.
    assert!(
        r.engine
            .store()
            .list_docs(Collection::Resources, T)
            .unwrap()
            .is_empty()
    );
    let failed_at = rep
        .plan
        .steps
        .iter()
        .position(|s| s.step.logical_id() == "Fn")
        .unwrap();
    let script: Vec<(String, String)> = event_script(
        "app",
        &rec.id,
        &rep.plan,
        &Outcome::FailedAt {
            step: failed_at,
            reason: "x".into(),
        },
    )
    .iter()
    .map(|e| (e.logical_id.clone(), e.status.as_str().to_owned()))
    .collect();
    assert_eq!(statuses(&r.engine, "app"), script);
    // ROLLBACK_COMPLETE: an update is refused, a delete works.
    let e = r.engine.deploy(&req("app", APP)).unwrap_err();
    assert!(e.to_string().contains("ROLLBACK_COMPLETE"), "{e}");
    let rep = r.engine.delete_stack(T, "app").unwrap();
    assert_eq!(rep.status, StackStatus::DeleteComplete);
    // The name is free again.
    let rep = r.engine.deploy(&req("app", APP)).unwrap();
    assert_eq!(rep.status, StackStatus::CreateComplete);
}

#[test]
fn a_failed_update_rolls_back_to_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.deploy(&req("app", APP)).unwrap();
    let before = env(&r.engine);
    let mut u = req("app", &APP.replace("Default: hello", "Default: bonjour"));
    u.file = "template.yaml".into();
    // Fn updates first, then Param fails: Fn must be restored.
    r.engine.inject(Fault::FailResource {
        logical_id: "Param".into(),
        reason: "boom".into(),
    });
    let rep = r.engine.deploy(&u).unwrap();
    assert_eq!(rep.plan.kind, PlanKind::Update);
    assert_eq!(rep.status, StackStatus::UpdateRollbackComplete);
    assert_eq!(env(&r.engine), before);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert_eq!(rec.parameters["Greeting"].value, "hello");
    let st: Vec<String> = statuses(&r.engine, "app")
        .into_iter()
        .filter(|(l, _)| l == "app")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        st,
        [
            "CREATE_IN_PROGRESS",
            "CREATE_COMPLETE",
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE"
        ]
    );
    // And the same update without the fault goes through.
    let rep = r.engine.deploy(&u).unwrap();
    assert_eq!(rep.status, StackStatus::UpdateComplete);
    assert_eq!(env(&r.engine)["GREETING"], "bonjour");
    // Nothing changed: CloudFormation's message.
    let e = r.engine.deploy(&u).unwrap_err();
    assert!(matches!(e, EngineError::NoChanges { .. }), "{e}");
}

#[test]
fn a_crash_between_steps_resumes_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(ManualClock::new(START));
    {
        let r = sqlite_rig(&db, dir.path(), clock.clone());
        r.engine.inject(Fault::BeforeStep { step: 3 });
        let e = r.engine.deploy(&req("app", APP)).unwrap_err();
        assert!(matches!(e, EngineError::Interrupted { step: 3, .. }), "{e}");
        let rec = r.engine.stack(T, "app").unwrap().unwrap();
        assert_eq!(rec.status, StackStatus::CreateInProgress);
        assert_eq!(rec.resources.len(), 3);
    }
    let r = sqlite_rig(&db, dir.path(), clock);
    let reports = r.engine.resume().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].status, StackStatus::CreateComplete);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert_eq!(rec.resources.len(), 5);
    // Nothing is left to resume.
    assert!(r.engine.resume().unwrap().is_empty());
}

#[test]
fn a_crash_inside_a_step_rolls_back_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(ManualClock::new(START));
    {
        let r = sqlite_rig(&db, dir.path(), clock.clone());
        r.engine.inject(Fault::InsideStep { step: 2 });
        r.engine.deploy(&req("app", APP)).unwrap_err();
    }
    let r = sqlite_rig(&db, dir.path(), clock);
    let reports = r.engine.resume().unwrap();
    assert_eq!(reports[0].status, StackStatus::RollbackComplete);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert!(rec.resources.is_empty());
    assert!(
        rec.events
            .iter()
            .any(|e| e.spec.reason.as_deref()
                == Some("Resource handler was interrupted by a restart"))
    );
    assert!(
        r.engine
            .store()
            .list_docs(Collection::Resources, T)
            .unwrap()
            .is_empty()
    );
}

const CONSUMER: &str = r#"
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !ImportValue app-fn-arn
"#;

#[test]
fn imports_resolve_and_an_imported_export_blocks_delete() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.deploy(&req("app", APP)).unwrap();
    let rep = r.engine.deploy(&req("consumer", CONSUMER)).unwrap();
    assert_eq!(rep.status, StackStatus::CreateComplete);
    let app = r.engine.stack(T, "app").unwrap().unwrap();
    let c = r.engine.stack(T, "consumer").unwrap().unwrap();
    assert_eq!(
        c.resources["Param"].resolved["Value"].as_str(),
        Some(app.outputs["FnArn"].value.as_str())
    );
    assert!(c.imports.contains("app-fn-arn"));
    assert_eq!(r.engine.exports(T)["app-fn-arn"].0, "app");
    let e = r.engine.delete_stack(T, "app").unwrap_err();
    assert!(e.to_string().contains("in use by consumer"), "{e}");
    // Other targets do not see the export.
    let mut other = req("consumer", CONSUMER);
    other.target = "222222222222/eu-west-1".into();
    assert!(r.engine.deploy(&other).is_err());
    r.engine.delete_stack(T, "consumer").unwrap();
    assert_eq!(
        r.engine.delete_stack(T, "app").unwrap().status,
        StackStatus::DeleteComplete
    );
}

#[test]
fn change_sets_review_execute_and_obsolete_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let cs = r
        .engine
        .create_change_set(&req("app", APP), "first", ChangeSetType::Create)
        .unwrap();
    assert_eq!(cs.plan.changes.len(), 5);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert_eq!(rec.status, StackStatus::ReviewInProgress);
    assert!(rec.resources.is_empty());
    let d = r.engine.describe_change_set(T, "app", "first").unwrap();
    assert_eq!(d.name, "first");
    let rep = r.engine.execute_change_set(T, "app", "first").unwrap();
    assert_eq!(rep.status, StackStatus::CreateComplete);
    // Two update change sets; executing one deletes the other.
    let u = req("app", &APP.replace("Default: hello", "Default: hi"));
    r.engine
        .create_change_set(&u, "a", ChangeSetType::Update)
        .unwrap();
    r.engine
        .create_change_set(&u, "b", ChangeSetType::Update)
        .unwrap();
    let e = r
        .engine
        .create_change_set(&u, "b", ChangeSetType::Update)
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    let rep = r.engine.execute_change_set(T, "app", "b").unwrap();
    assert_eq!(rep.status, StackStatus::UpdateComplete);
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert!(rec.change_sets.is_empty());
    assert!(r.engine.describe_change_set(T, "app", "a").is_err());
    // Deleting a change set.
    r.engine
        .create_change_set(
            &req("app", &APP.replace("Default: hello", "Default: yo")),
            "c",
            ChangeSetType::Update,
        )
        .unwrap();
    r.engine.delete_change_set(T, "app", "c").unwrap();
    assert!(r.engine.describe_change_set(T, "app", "c").is_err());
    assert!(r.engine.resume().unwrap().is_empty());
}

#[test]
fn unsupported_types_fail_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let t =
        "Resources:\n  I:\n    Type: AWS::EC2::Instance\n    Properties:\n      ImageId: ami-1\n";
    let e = r.engine.deploy(&req("app", t)).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("cannot be deployed") || m.contains("not supported"),
        "{m}"
    );
    assert!(r.engine.stack(T, "app").unwrap().is_none());
}

#[test]
fn s3_buckets_are_directories_and_retained_resources_stay() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let t = "Resources:\n  B:\n    Type: AWS::S3::Bucket\n  Kept:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n";
    r.engine.deploy(&req("app", t)).unwrap();
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    let b = rec.resources["B"].physical_id.clone();
    let kept = rec.resources["Kept"].physical_id.clone();
    assert!(dir.path().join("s3").join(&b).is_dir());
    assert_eq!(
        rec.resources["B"].attributes["Arn"],
        format!("arn:aws:s3:::{b}")
    );
    r.engine.delete_stack(T, "app").unwrap();
    assert!(!dir.path().join("s3").join(&b).exists());
    assert!(dir.path().join("s3").join(&kept).is_dir());
    assert!(statuses(&r.engine, "app").contains(&("Kept".to_owned(), "DELETE_SKIPPED".to_owned())));
}

#[test]
fn dry_run_prints_the_change_set_and_use_previous_value_keeps_a_parameter() {
    use slipway_deploy::stack::ParameterInput;
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let (plan, _) = r.engine.plan(&req("app", APP)).unwrap();
    let table = plan.to_string();
    assert!(
        table.contains("+ Add") && table.contains("AWS::Lambda::Function"),
        "{table}"
    );
    // A dry run changes nothing.
    assert!(r.engine.stack(T, "app").unwrap().is_none());
    let mut first = req("app", APP);
    first.parameters = vec![ParameterInput {
        key: "Greeting".into(),
        value: Some("salut".into()),
        use_previous_value: false,
    }];
    r.engine.deploy(&first).unwrap();
    let mut again = req(
        "app",
        &APP.replace("Type: String\n      Value", "Type: StringList\n      Value"),
    );
    again.parameters = vec![ParameterInput {
        key: "Greeting".into(),
        value: None,
        use_previous_value: true,
    }];
    let rep = r.engine.deploy(&again).unwrap();
    assert_eq!(rep.status, StackStatus::UpdateComplete);
    assert_eq!(env(&r.engine)["GREETING"], "salut");
}
