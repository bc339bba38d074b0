//! Progressive delivery on a manual clock: a canary takes no real time, hooks and alarms roll
//! back, and a restart mid-shift resumes with the right remaining wait.

mod common;

use std::sync::Arc;

use common::*;
use slipway_deploy::stack::StackStatus;
use slipway_deploy::traffic::{DeploymentStatus, HookStatus, MINUTE_MS};
use slipway_engine::providers::load_function;
use slipway_engine::{Clock, ManualClock};

fn app(code: &str, hooks: bool) -> String {
    let hook = if hooks {
        "        Hooks:\n          PreTraffic: !Ref PreHook\n"
    } else {
        ""
    };
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: {code}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Alarms:
          - !Ref ErrorsAlarm
{hook}  PreHook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: CodeDeployHook_pre
      Runtime: python3.12
      Handler: hook.handler
      CodeUri: hook/
  ErrorsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: hello-errors
      Namespace: AWS/Lambda
      MetricName: Errors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: notBreaching
      Dimensions:
        - Name: FunctionName
          Value: hello
"#
    )
}

/// `(primary, Some((additional, weight)))` of `hello:live`.
fn live(r: &Rig) -> (String, Option<(u32, f64)>) {
    let (f, _) = load_function(r.engine.store(), T, "hello")
        .unwrap()
        .unwrap();
    let a = &f.versions.aliases["live"];
    (a.function_version.to_string(), a.additional)
}

fn hook_execution(r: &Rig) -> (String, String) {
    let calls = r.invoker.calls.lock().unwrap();
    let (f, payload) = calls.last().unwrap().clone();
    assert_eq!(f, "CodeDeployHook_pre");
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    (
        v["DeploymentId"].as_str().unwrap().to_owned(),
        v["LifecycleEventHookExecutionId"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[test]
fn a_five_minute_canary_runs_on_the_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let rep = r.engine.deploy(&req("app", &app("v1/", true))).unwrap();
    assert_eq!(rep.status, StackStatus::CreateComplete);
    assert_eq!(live(&r), ("1".into(), None));
    // The runtime heard of $LATEST and version 1, the gateway of the alias, after commit.
    let told = r.hooks.told.lock().unwrap().clone();
    assert!(
        told.contains(&"function hello:$LATEST".to_owned()),
        "{told:?}"
    );
    assert!(told.contains(&"function hello:1".to_owned()), "{told:?}");
    assert!(told.contains(&"alias hello:live".to_owned()), "{told:?}");

    let rep = r.engine.deploy(&req("app", &app("v2/", true))).unwrap();
    assert_eq!(rep.status, StackStatus::UpdateInProgress);
    let d = rep
        .waiting_on
        .expect("the alias update waits for CodeDeploy");
    // BeforeAllowTraffic: the hook was invoked with CodeDeploy's event; no traffic moved yet.
    let (dep_id, exec_id) = hook_execution(&r);
    assert_eq!(dep_id, d);
    assert_eq!(live(&r), ("1".into(), None));
    r.engine
        .put_lifecycle_event_hook_execution_status(&d, &exec_id, HookStatus::Succeeded)
        .unwrap();
    assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
    // 10% for exactly five minutes.
    r.clock.advance_ms(5 * MINUTE_MS - 1);
    r.engine.tick().unwrap();
    assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
    assert_eq!(
        r.engine.stack(T, "app").unwrap().unwrap().status,
        StackStatus::UpdateInProgress
    );
    r.clock.advance_ms(1);
    r.engine.tick().unwrap();
    assert_eq!(live(&r), ("2".into(), None));
    let dep = r.engine.deployment(&d).unwrap().unwrap();
    assert_eq!(dep.status, DeploymentStatus::Succeeded);
    assert_eq!(
        r.engine.stack(T, "app").unwrap().unwrap().status,
        StackStatus::UpdateComplete
    );
    // A hook answering twice gets CodeDeploy's error.
    let e = r
        .engine
        .put_lifecycle_event_hook_execution_status(&d, &exec_id, HookStatus::Succeeded)
        .unwrap_err();
    assert!(e.to_string().contains("already completed"), "{e}");
}

#[test]
fn a_failing_pre_traffic_hook_rolls_the_stack_back() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.deploy(&req("app", &app("v1/", true))).unwrap();
    let rep = r.engine.deploy(&req("app", &app("v2/", true))).unwrap();
    let d = rep.waiting_on.unwrap();
    let (_, exec_id) = hook_execution(&r);
    r.engine
        .put_lifecycle_event_hook_execution_status(&d, &exec_id, HookStatus::Failed)
        .unwrap();
    assert_eq!(
        r.engine.deployment(&d).unwrap().unwrap().status,
        DeploymentStatus::Failed
    );
    let rec = r.engine.stack(T, "app").unwrap().unwrap();
    assert_eq!(rec.status, StackStatus::UpdateRollbackComplete);
    assert_eq!(live(&r), ("1".into(), None));
    // $LATEST is back on the v1 code.
    let (f, _) = load_function(r.engine.store(), T, "hello")
        .unwrap()
        .unwrap();
    assert_eq!(f.properties["Code"]["S3Key"], "v1/");
    assert!(
        rec.events
            .iter()
            .any(|e| e.spec.reason.as_deref().is_some_and(|m| m.contains(&d)))
    );
}

#[test]
fn an_alarm_during_the_shift_moves_traffic_back_and_fails_the_update() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.deploy(&req("app", &app("v1/", false))).unwrap();
    let rep = r.engine.deploy(&req("app", &app("v2/", false))).unwrap();
    let d = rep.waiting_on.unwrap();
    assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
    r.clock.advance_ms(MINUTE_MS);
    r.engine.tick().unwrap();
    assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
    // Errors start flowing.
    *r.metrics.errors_from.lock().unwrap() = Some(r.clock.now_ms());
    r.clock.advance_ms(MINUTE_MS);
    r.engine.tick().unwrap();
    let dep = r.engine.deployment(&d).unwrap().unwrap();
    assert_eq!(dep.status, DeploymentStatus::Stopped);
    assert_eq!(live(&r), ("1".into(), None));
    assert_eq!(
        r.engine.stack(T, "app").unwrap().unwrap().status,
        StackStatus::UpdateRollbackComplete
    );
}

#[test]
fn a_restart_mid_shift_resumes_with_the_remaining_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = Arc::new(ManualClock::new(START));
    let d;
    {
        let r = sqlite_rig(&db, dir.path(), clock.clone());
        r.engine.deploy(&req("app", &app("v1/", false))).unwrap();
        let rep = r.engine.deploy(&req("app", &app("v2/", false))).unwrap();
        d = rep.waiting_on.unwrap();
        assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
        clock.advance_ms(2 * MINUTE_MS);
        r.engine.tick().unwrap();
        // The process dies here.
    }
    clock.advance_ms(MINUTE_MS);
    let r = sqlite_rig(&db, dir.path(), clock.clone());
    let reports = r.engine.resume().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].waiting_on.as_deref(), Some(d.as_str()));
    assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
    // Three minutes were spent; two remain.
    clock.advance_ms(2 * MINUTE_MS - 1);
    r.engine.tick().unwrap();
    assert_eq!(live(&r), ("1".into(), Some((2, 0.1))));
    clock.advance_ms(1);
    r.engine.tick().unwrap();
    assert_eq!(live(&r), ("2".into(), None));
    assert_eq!(
        r.engine.stack(T, "app").unwrap().unwrap().status,
        StackStatus::UpdateComplete
    );
}

#[test]
fn a_hook_that_never_reports_times_out_after_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.deploy(&req("app", &app("v1/", true))).unwrap();
    let d = r
        .engine
        .deploy(&req("app", &app("v2/", true)))
        .unwrap()
        .waiting_on
        .unwrap();
    r.clock.advance_ms(60 * MINUTE_MS - 1);
    r.engine.tick().unwrap();
    assert_eq!(
        r.engine.deployment(&d).unwrap().unwrap().status,
        DeploymentStatus::InProgress
    );
    r.clock.advance_ms(1);
    r.engine.tick().unwrap();
    assert_eq!(
        r.engine.deployment(&d).unwrap().unwrap().status,
        DeploymentStatus::Failed
    );
    assert_eq!(live(&r), ("1".into(), None));
    assert_eq!(
        r.engine.stack(T, "app").unwrap().unwrap().status,
        StackStatus::UpdateRollbackComplete
    );
}

#[test]
fn all_at_once_without_hooks_completes_in_the_same_call() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    let t = |c: &str| app(c, false).replace("Canary10Percent5Minutes", "AllAtOnce");
    r.engine.deploy(&req("app", &t("v1/"))).unwrap();
    let rep = r.engine.deploy(&req("app", &t("v2/"))).unwrap();
    assert_eq!(rep.status, StackStatus::UpdateComplete);
    assert_eq!(live(&r), ("2".into(), None));
    let deps = r.engine.deployments(T).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].status, DeploymentStatus::Succeeded);
}

#[test]
fn skip_wait_finishes_the_shift_now() {
    let dir = tempfile::tempdir().unwrap();
    let r = memory_rig(dir.path());
    r.engine.deploy(&req("app", &app("v1/", false))).unwrap();
    let d = r
        .engine
        .deploy(&req("app", &app("v2/", false)))
        .unwrap()
        .waiting_on
        .unwrap();
    r.engine.skip_wait(&d).unwrap();
    assert_eq!(live(&r), ("2".into(), None));
    assert_eq!(
        r.engine.stack(T, "app").unwrap().unwrap().status,
        StackStatus::UpdateComplete
    );
}
