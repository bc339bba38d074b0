//! Pipelines end to end: a real git repository, real buildspec builds (a real Python unit
//! test), real deploys into several targets, approvals, superseding, webhooks over real HTTP,
//! and a restart in the middle of an execution.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::Rig;
use slipway_deploy::stack::StackStatus;
use slipway_pipeline::exec::{Executor, settled};
use slipway_pipeline::trigger::{Poller, hmac_sha256};
use slipway_pipeline::{ApprovalDecision, Event, ExecutionStatus, PipelineState, Position};
use slipway_server::PipelineConfig;

const SECRET: &str = "webhook-s3cret";

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub hello-${Stage}-${AWS::Region}
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
Outputs:
  Name:
    Value: !Ref Hello
"#;

const BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - cd src && python3 -m unittest -v test_app
artifacts:
  files:
    - '**/*'
"#;

const PIPELINE: &str = r#"
name: app
source:
  git: {branch: main, repository: .}
stages:
  - name: Build
    build: buildspec.yml
  - name: Staging
    deploy:
      stack: app-staging
      template: template.yaml
      target: 111111111111/us-east-1
      parameters: {Stage: staging}
      outputs: outputs.json
  - name: Approve
    approval: {message: Promote to prod?}
  - name: Prod
    deploy:
      stack: app-prod
      template: template.yaml
      targets: [222222222222/us-east-1, 222222222222/eu-west-1]
      parameters: {Stage: prod}
"#;

fn app_py(version: &str) -> String {
    format!("def handler(event, context):\n    return {{'version': '{version}'}}\n")
}

fn test_py(expect: &str) -> String {
    format!(
        "import unittest\nimport app\n\nclass T(unittest.TestCase):\n    def test_version(self):\n        self.assertEqual(app.handler({{}}, None)['version'], '{expect}')\n"
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct P {
    rig: Rig,
}

impl P {
    fn start() -> P {
        let rig = Rig::start_with(|c| {
            c.pipelines = PipelineConfig {
                project_dir: Some(c.data_dir.parent().unwrap().join("project")),
                poll_interval: None,
                webhook_secret: Some(SECRET.into()),
            };
        });
        let p = rig.project();
        std::fs::create_dir_all(&p).unwrap();
        git(&p, &["init", "-q", "-b", "main"]);
        let me = P { rig };
        me.rig.write(&[
            ("template.yaml", TEMPLATE),
            ("buildspec.yml", BUILDSPEC),
            ("slipway.yaml", PIPELINE),
        ]);
        let outcome = slipway_model::pipeline::parse_file(PIPELINE, "slipway.yaml", "app");
        assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
        me.exec()
            .define(outcome.pipelines.into_iter().next().unwrap())
            .unwrap();
        me
    }

    fn exec(&self) -> Arc<Executor> {
        self.rig
            .server
            .as_ref()
            .unwrap()
            .pipelines()
            .executor
            .clone()
    }

    /// Writes the app at `version` with a test expecting `expect`, and commits it.
    fn commit(&self, version: &str, expect: &str) -> String {
        self.rig.write(&[
            ("src/app.py", &app_py(version)),
            ("src/test_app.py", &test_py(expect)),
        ]);
        let p = self.rig.project();
        git(&p, &["add", "-A"]);
        git(&p, &["commit", "-q", "-m", &format!("app {version}")]);
        git(&p, &["rev-parse", "HEAD"])
    }

    /// One poll of the branch: the executions it started.
    fn poll(&self) -> Vec<String> {
        let s = self.rig.server.as_ref().unwrap().pipelines();
        Poller::new(Duration::ZERO)
            .poll(&s.executor, &s.source)
            .unwrap()
    }

    fn wait(&self, what: &str, f: impl Fn(&PipelineState) -> bool) -> PipelineState {
        let (ok, st) = self
            .exec()
            .wait_until("app", Duration::from_secs(120), f)
            .unwrap();
        assert!(ok, "timed out waiting for {what}: {st:#?}");
        st
    }

    fn stack(&self, target: &str, name: &str) -> Option<StackStatus> {
        self.rig
            .engine
            .stack(target, name)
            .unwrap()
            .filter(|r| r.exists())
            .map(|r| r.status)
    }
}

#[test]
fn commit_to_staging_then_approval_then_prod_in_two_targets() {
    let p = P::start();
    let commit = p.commit("v1", "v1");
    let started = p.poll();
    assert_eq!(started.len(), 1);
    let id = started[0].clone();
    assert!(p.poll().is_empty(), "the same commit starts nothing twice");

    let st = p.wait("the approval", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::InProgress, "{x:#?}");
    assert_eq!(x.position, Position::Running { stage: 3 });
    assert_eq!(x.source_revisions[0].revision_id, commit);
    assert_eq!(x.namespaces["SourceVariables"]["CommitId"], commit);
    assert_eq!(x.namespaces["SourceVariables"]["CommitMessage"], "app v1");
    assert_eq!(x.namespaces["SourceVariables"]["BranchName"], "main");
    // The staging stack's outputs are the deploy action's variables.
    assert_eq!(
        x.namespaces["DeployVariables"]["Name"],
        "hello-staging-us-east-1"
    );
    assert_eq!(
        p.stack("111111111111/us-east-1", "app-staging"),
        Some(StackStatus::CreateComplete)
    );
    assert_eq!(p.stack("222222222222/us-east-1", "app-prod"), None);

    let approval = &x.stages[3].actions[0].name;
    p.exec()
        .decide(
            "app",
            "Approve",
            approval,
            ApprovalDecision {
                approved: true,
                by: "alice".into(),
                comment: Some("ship it".into()),
            },
        )
        .unwrap();
    let st = p.wait("prod", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    let rec = x.stages[3].actions[0].approval.as_ref().unwrap();
    assert_eq!((rec.approved, rec.by.as_str()), (true, "alice"));
    let prod = &x.stages[4].actions;
    assert_eq!(prod.len(), 2);
    for t in ["222222222222/us-east-1", "222222222222/eu-west-1"] {
        assert_eq!(
            p.stack(t, "app-prod"),
            Some(StackStatus::CreateComplete),
            "{t}"
        );
    }
    // "Which commit serves prod in eu-west-1?"
    let serving = st.serving("222222222222/eu-west-1").unwrap();
    assert_eq!(serving.execution.source_revisions[0].revision_id, commit);

    // Live: each target's function answers through the Lambda endpoint, with boto3.
    let out = p.rig.python(
        r#"
import boto3, json
lam = boto3.client("lambda", region_name="us-east-1")
for arn in ["arn:aws:lambda:us-east-1:111111111111:function:hello-staging-us-east-1",
            "arn:aws:lambda:us-east-1:222222222222:function:hello-prod-us-east-1",
            "arn:aws:lambda:eu-west-1:222222222222:function:hello-prod-eu-west-1"]:
    r = lam.invoke(FunctionName=arn)
    print(json.loads(r["Payload"].read())["version"])
"#,
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["v1", "v1", "v1"]
    );

    // A new commit is new code: staging serves v2 after the next execution.
    p.commit("v2", "v2");
    let id2 = p.poll().remove(0);
    let st = p.wait("the second approval", |s| settled(s, &id2));
    assert_eq!(
        st.execution(&id2).unwrap().position,
        Position::Running { stage: 3 }
    );
    let out = p.rig.python(
        r#"
import boto3, json
lam = boto3.client("lambda", region_name="us-east-1")
r = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:111111111111:function:hello-staging-us-east-1")
print(json.loads(r["Payload"].read())["version"])
"#,
    );
    assert_eq!(out.trim(), "v2");
}

#[test]
fn a_failing_unit_test_stops_the_pipeline_before_any_deploy() {
    let p = P::start();
    p.commit("v1", "v2-expected");
    let id = p.poll().remove(0);
    let st = p.wait("the failure", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed);
    assert_eq!(x.position, Position::Halted { stage: 1 });
    let err = x.stages[1].actions[0].error.as_deref().unwrap();
    assert!(err.contains("FAILED") && err.contains("BUILD"), "{err}");
    assert_eq!(p.stack("111111111111/us-east-1", "app-staging"), None);
    assert!(
        x.stages[2..]
            .iter()
            .all(|s| s.actions.iter().all(|a| a.attempt == 0))
    );
}

#[test]
fn a_newer_commit_supersedes_an_older_execution_between_stages() {
    let p = P::start();
    p.exec()
        .apply(
            "app",
            &Event::DisableTransition {
                stage: "Staging".into(),
                reason: "hold".into(),
            },
        )
        .unwrap();
    p.commit("v1", "v1");
    let older = p.poll().remove(0);
    p.wait("the older in front of Staging", |s| {
        s.execution(&older).unwrap().position == Position::Waiting { stage: 2 }
    });
    p.commit("v2", "v2");
    let newer = p.poll().remove(0);
    let st = p.wait("the newer in front of Staging", |s| {
        s.execution(&newer).unwrap().position == Position::Waiting { stage: 2 }
    });
    let o = st.execution(&older).unwrap();
    assert_eq!(o.status, ExecutionStatus::Superseded);
    assert_eq!(o.superseded_by.as_deref(), Some(newer.as_str()));
    // Enabling the transition lets the newer one in; the older never deploys.
    p.exec()
        .apply(
            "app",
            &Event::EnableTransition {
                stage: "Staging".into(),
            },
        )
        .unwrap();
    p.wait("the newer at the approval", |s| settled(s, &newer));
    let out = p.rig.python(
        r#"
import boto3, json
lam = boto3.client("lambda", region_name="us-east-1")
r = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:111111111111:function:hello-staging-us-east-1")
print(json.loads(r["Payload"].read())["version"])
"#,
    );
    assert_eq!(out.trim(), "v2");
}

/// A raw HTTP/1.1 POST; (status, body).
fn post(endpoint: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_owned())
}

#[test]
fn webhook_signatures_decide_whether_anything_starts() {
    let p = P::start();
    let commit = p.commit("v1", "v1");
    let body = format!(
        r#"{{"ref":"refs/heads/main","after":"{commit}","head_commit":{{"message":"app v1"}}}}"#
    );
    let good = format!(
        "sha256={}",
        hex::encode(hmac_sha256(SECRET.as_bytes(), body.as_bytes()))
    );
    let bad = format!(
        "sha256={}",
        hex::encode(hmac_sha256(b"wrong", body.as_bytes()))
    );
    let path = "/api/v1/pipelines/app/webhook";
    let ep = p.rig.endpoint();
    let count = || p.exec().state("app").unwrap().executions.len();

    let (status, _) = post(&ep, path, &[("X-GitHub-Event", "push")], body.as_bytes());
    assert_eq!(status, 401, "no signature");
    let (status, _) = post(
        &ep,
        path,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &bad)],
        body.as_bytes(),
    );
    assert_eq!(status, 401, "wrong signature");
    let tampered = body.replace("app v1", "app v9");
    let (status, _) = post(
        &ep,
        path,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)],
        tampered.as_bytes(),
    );
    assert_eq!(status, 401, "a body the signature is not for");
    assert_eq!(count(), 0, "nothing started");

    // Another branch is filtered out.
    let other = body.replace("refs/heads/main", "refs/heads/feature");
    let sig = format!(
        "sha256={}",
        hex::encode(hmac_sha256(SECRET.as_bytes(), other.as_bytes()))
    );
    let (status, text) = post(
        &ep,
        path,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
        other.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(count(), 0);

    let (status, text) = post(
        &ep,
        path,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)],
        body.as_bytes(),
    );
    assert_eq!(status, 201, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = v["started"][0].as_str().unwrap().to_owned();
    assert_eq!(count(), 1);
    let st = p.wait("the approval", |s| settled(s, &id));
    assert_eq!(
        st.execution(&id).unwrap().source_revisions[0].revision_id,
        commit
    );
    // The poller knows that commit already.
    assert!(p.poll().is_empty());
}

#[test]
fn a_restart_keeps_a_waiting_approval_and_the_rest_of_the_execution_runs() {
    let mut p = P::start();
    p.commit("v1", "v1");
    let id = p.poll().remove(0);
    p.wait("the approval", |s| settled(s, &id));
    p.rig.restart();
    let st = p.exec().state("app").unwrap();
    assert_eq!(
        st.execution(&id).unwrap().position,
        Position::Running { stage: 3 }
    );
    p.exec()
        .decide(
            "app",
            "Approve",
            "Approval",
            ApprovalDecision {
                approved: true,
                by: "bob".into(),
                comment: None,
            },
        )
        .unwrap();
    let st = p.wait("prod", |s| settled(s, &id));
    assert_eq!(
        st.execution(&id).unwrap().status,
        ExecutionStatus::Succeeded
    );
}

const MODES: &str = r#"
name: app
source:
  git: main
stages:
  - name: Build
    build: sam
  - name: Test
    actions:
      - {name: TestStack, deploy: {stack: app-test, template: template.yaml, target: 111111111111/us-east-1, mode: replace-on-failure, parameters: {Stage: test}}}
  - name: Release
    actions:
      - {name: Release, deploy: {stack: app-release, template: template.yaml, target: 111111111111/us-east-1, parameters: {Stage: prod}, review: true}}
  - name: Cleanup
    actions:
      - {name: Gone, deploy: {stack: never-created, target: 111111111111/us-east-1, mode: delete-only}}
"#;

#[test]
fn replace_on_failure_after_a_retry_a_reviewed_change_set_and_delete_only_on_a_missing_stack() {
    let p = P::start();
    let outcome = slipway_model::pipeline::parse_file(MODES, "slipway.yaml", "app");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    p.exec()
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
    // The test stack's first create fails: the stack ends ROLLBACK_COMPLETE.
    p.rig.engine.inject(slipway_engine::Fault::FailResource {
        logical_id: "Hello".into(),
        reason: "injected".into(),
    });
    p.commit("v1", "v1");
    let id = p.poll().remove(0);
    let st = p.wait("the failure", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed, "{x:#?}");
    assert_eq!(x.position, Position::Halted { stage: 2 });
    assert_eq!(
        p.stack("111111111111/us-east-1", "app-test"),
        Some(StackStatus::RollbackComplete)
    );

    // Retry: REPLACE_ON_FAILURE deletes the failed stack and creates it again.
    p.exec()
        .retry(
            "app",
            &id,
            "Test",
            slipway_pipeline::RetryMode::FailedActions,
        )
        .unwrap();
    let st = p.wait("the review", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::InProgress, "{x:#?}");
    assert_eq!(x.stages[2].actions[0].attempt, 2);
    assert_eq!(
        p.stack("111111111111/us-east-1", "app-test"),
        Some(StackStatus::CreateComplete)
    );
    // The change set is made and waits for review; the stack is not created yet.
    assert_eq!(
        p.stack("111111111111/us-east-1", "app-release"),
        Some(StackStatus::ReviewInProgress)
    );
    let review = st.pipeline.stages[3]
        .actions
        .iter()
        .find(|a| a.action_type_id.provider == slipway_model::pipeline::Provider::Manual)
        .unwrap()
        .name
        .clone();
    p.exec()
        .decide(
            "app",
            "Release",
            &review,
            ApprovalDecision {
                approved: true,
                by: "carol".into(),
                comment: None,
            },
        )
        .unwrap();
    let st = p.wait("the end", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    assert_eq!(
        p.stack("111111111111/us-east-1", "app-release"),
        Some(StackStatus::CreateComplete)
    );
    let gone = &x.stages[4].actions[0];
    let summary = gone.result.as_ref().unwrap().summary.as_deref().unwrap();
    assert!(summary.contains("does not exist"), "{summary}");
}
