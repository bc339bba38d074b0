//! Lambda invoke actions end to end: real Python functions get CodePipeline's job event, read
//! their input artefact from the local S3 endpoint, and report with boto3's `codepipeline`
//! client (`PutJobSuccessResult` with a continuation and output variables,
//! `PutJobFailureResult`); a later action uses the variables; a restart mid-wait resumes. And
//! manual approvals with a `NotificationArn`, whose message reaches an SQS subscriber; and the
//! CloudFormation deploy action's `Capabilities`.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::Rig;
use slipway_deploy::stack::StackStatus;
use slipway_pipeline::exec::{Executor, settled};
use slipway_pipeline::{ExecutionStatus, PipelineState};
use slipway_server::PipelineConfig;

const FUNCTIONS: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Checker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: checker
      CodeUri: fns/
      Handler: checker.handler
      Runtime: python3.11
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: echo
      CodeUri: fns/
      Handler: echo.handler
      Runtime: python3.11
"#;

/// The job worker: `mode` in UserParameters says what it does.
const CHECKER: &str = r#"
import io, json, zipfile
import boto3

cp = boto3.client("codepipeline")
s3 = boto3.client("s3")

def handler(event, context):
    job = event["CodePipeline.job"]
    data = job["data"]
    assert job["accountId"] == "123456789012", job
    cfg = data["actionConfiguration"]["configuration"]
    assert cfg["FunctionName"] == "checker", cfg
    params = json.loads(cfg.get("UserParameters") or "{}")
    mode = params.get("mode")
    if mode == "fail":
        cp.put_job_failure_result(jobId=job["id"], failureDetails={"type": "JobFailed", "message": "smoke test failed: 3 of 5 checks"})
        return
    if mode == "wait":
        # Reports nothing: the test restarts the server, then answers for it.
        open(params["marker"], "w").write(job["id"])
        return
    if mode == "continue" and "continuationToken" not in data:
        cp.put_job_success_result(jobId=job["id"], continuationToken="step-2",
                                  executionDetails={"summary": "halfway", "percentComplete": 50})
        return
    src = data["inputArtifacts"][0]
    assert src["name"] == "SourceOutput" and src["location"]["type"] == "S3", src
    loc = src["location"]["s3Location"]
    body = s3.get_object(Bucket=loc["bucketName"], Key=loc["objectKey"])["Body"].read()
    names = sorted(n for n in zipfile.ZipFile(io.BytesIO(body)).namelist() if not n.endswith("/"))
    for out in data["outputArtifacts"]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("report.txt", "checked " + " ".join(names))
        o = out["location"]["s3Location"]
        s3.put_object(Bucket=o["bucketName"], Key=o["objectKey"], Body=buf.getvalue())
    cp.put_job_success_result(jobId=job["id"],
                              outputVariables={"Files": str(len(names)), "Token": data.get("continuationToken", "none")},
                              executionDetails={"summary": "all good", "externalExecutionId": "check-1"})
    # A job takes one result.
    try:
        cp.put_job_success_result(jobId=job["id"])
        raise AssertionError("a second result was accepted")
    except cp.exceptions.InvalidJobStateException:
        pass
    try:
        cp.put_job_success_result(jobId="00000000-0000-4000-8000-000000000000")
        raise AssertionError("an unknown job was accepted")
    except cp.exceptions.JobNotFoundException:
        pass
"#;

const ECHO: &str = r#"
import boto3

def handler(event, context):
    job = event["CodePipeline.job"]
    got = job["data"]["actionConfiguration"]["configuration"].get("UserParameters", "")
    boto3.client("codepipeline").put_job_success_result(jobId=job["id"], outputVariables={"Got": got})
"#;

fn pipeline(mode: &str) -> String {
    format!(
        r#"
name: app
source:
  git: {{branch: main, repository: .}}
stages:
  - name: Check
    actions:
      - name: Smoke
        invoke: {{function: checker, parameters: {{mode: {mode}}}, input: [SourceOutput], output: true}}
  - name: Use
    actions:
      - name: Echo
        invoke: {{function: echo, parameters: "files=#{{SmokeVariables.Files}} token=#{{SmokeVariables.Token}}"}}
"#
    )
}

fn git(dir: &Path, args: &[&str]) {
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
}

fn start(mode: &str) -> Rig {
    let rig = Rig::start_with(|c| {
        c.pipelines = PipelineConfig {
            project_dir: Some(c.data_dir.parent().unwrap().join("project")),
            poll_interval: None,
            webhook_secret: None,
        };
    });
    let p = rig.project();
    std::fs::create_dir_all(&p).unwrap();
    git(&p, &["init", "-q", "-b", "main"]);
    rig.write(&[
        ("fns/checker.py", CHECKER),
        ("fns/echo.py", ECHO),
        ("README.md", "hello\n"),
    ]);
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "first"]);
    let report = rig.deploy("functions", FUNCTIONS);
    assert_eq!(report.status, StackStatus::CreateComplete, "{report:?}");
    define(&rig, mode);
    rig
}

fn define(rig: &Rig, mode: &str) {
    let text = pipeline(mode);
    let outcome = slipway_model::pipeline::parse_file(&text, "slipway.yaml", "app");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    exec(rig)
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
}

fn exec(rig: &Rig) -> Arc<Executor> {
    rig.server.as_ref().unwrap().pipelines().executor.clone()
}

fn wait(rig: &Rig, what: &str, f: impl Fn(&PipelineState) -> bool) -> PipelineState {
    let (ok, st) = exec(rig)
        .wait_until("app", Duration::from_secs(120), f)
        .unwrap();
    assert!(ok, "timed out waiting for {what}: {st:#?}");
    st
}

#[test]
fn a_function_reports_success_after_a_continuation_and_a_later_action_uses_its_variables() {
    let rig = start("continue");
    let id = exec(&rig)
        .start("app", Vec::new(), Default::default())
        .unwrap();
    let st = wait(&rig, "the execution", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    // Three files in the commit (two in fns/, the README): the input artefact was read.
    assert_eq!(x.namespaces["SmokeVariables"]["Files"], "3");
    // The second job carried the continuation token.
    assert_eq!(x.namespaces["SmokeVariables"]["Token"], "step-2");
    assert_eq!(x.namespaces["EchoVariables"]["Got"], "files=3 token=step-2");
    let smoke = &x.stages[1].actions[0];
    let result = smoke.result.as_ref().unwrap();
    assert_eq!(result.summary.as_deref(), Some("all good"));
    assert_eq!(result.external_execution_id.as_deref(), Some("check-1"));
    // The uploaded output artefact is in the artefact store.
    assert_eq!(result.outputs.len(), 1);
    assert!(x.artifacts.contains_key("SmokeOutput"), "{:?}", x.artifacts);
    // Two jobs for the one attempt: the first continued, the second succeeded.
    let jobs = rig
        .server
        .as_ref()
        .unwrap()
        .pipelines()
        .jobs
        .of_attempt(&id, "Check", "Smoke", 1)
        .unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].continuation_token.as_deref(), Some("step-2"));
}

#[test]
fn a_failure_result_fails_the_action_with_its_message() {
    let rig = start("fail");
    let id = exec(&rig)
        .start("app", Vec::new(), Default::default())
        .unwrap();
    let st = wait(&rig, "the execution", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed, "{x:#?}");
    assert_eq!(
        x.stages[1].actions[0].error.as_deref(),
        Some("smoke test failed: 3 of 5 checks")
    );
    assert_eq!(x.stages[2].actions[0].attempt, 0, "nothing after it ran");
}

#[test]
fn an_unanswered_job_survives_a_restart_and_times_out_after_twenty_minutes() {
    let mut rig = start("wait");
    let marker = rig.dir.path().join("job-id");
    // The checker writes its job ID to the marker, then returns without reporting.
    let text = pipeline("wait").replace(
        "{mode: wait}",
        &format!("{{mode: wait, marker: '{}'}}", marker.display()),
    );
    let outcome = slipway_model::pipeline::parse_file(&text, "slipway.yaml", "app");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    exec(&rig)
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
    let id = exec(&rig)
        .start("app", Vec::new(), Default::default())
        .unwrap();
    rig.wait_for("the job", || marker.is_file());
    let job_id = std::fs::read_to_string(&marker).unwrap();
    let board = |rig: &Rig| rig.server.as_ref().unwrap().pipelines().jobs.clone();
    rig.wait_for("the invocation to return", || {
        board(&rig).get(&job_id).unwrap().unwrap().status
            == slipway_pipeline::jobs::JobStatus::Dispatched
    });

    // A restart: the job is still waiting (not invoked again), and still takes its result.
    rig.restart();
    let st = exec(&rig).state("app").unwrap();
    assert_eq!(
        st.execution(&id).unwrap().status,
        ExecutionStatus::InProgress
    );
    let out = rig.python(&format!(
        r#"
import boto3
cp = boto3.client("codepipeline")
d = cp.get_job_details(jobId="{job_id}")["jobDetails"]
assert d["accountId"] == "123456789012", d
print(d["data"]["actionConfiguration"]["configuration"]["FunctionName"])
"#
    ));
    assert_eq!(out.trim(), "checker");
    let jobs = board(&rig).of_attempt(&id, "Check", "Smoke", 1).unwrap();
    assert_eq!(jobs.len(), 1, "the dispatched job was not invoked again");

    // Twenty minutes on the injected clock without a reply: the job times out.
    rig.clock.advance_ms(20 * 60_000);
    let st = wait(&rig, "the timeout", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Failed, "{x:#?}");
    let err = x.stages[1].actions[0].error.as_deref().unwrap();
    assert!(err.contains("within 20 minutes"), "{err}");
    // A late result is refused with CodePipeline's error.
    let out = rig.python(&format!(
        r#"
import boto3
cp = boto3.client("codepipeline")
try:
    cp.put_job_success_result(jobId="{job_id}")
except cp.exceptions.InvalidJobStateException as e:
    print("refused")
"#
    ));
    assert_eq!(out.trim(), "refused");
}

const TOPIC: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Approvals:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: approvals
  Reviews:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: reviews
  ToQueue:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Approvals
      Protocol: sqs
      Endpoint: !GetAtt Reviews.Arn
"#;

const APPROVAL: &str = r#"
name: app
source:
  git: {branch: main, repository: .}
stages:
  - name: Approve
    approval:
      message: Check staging first
      link: https://example.com/changes
      notify: arn:aws:sns:us-east-1:123456789012:approvals
"#;

#[test]
fn an_approval_with_a_notification_arn_publishes_codepipelines_message_to_sns() {
    let mut rig = start("fail");
    let report = rig.deploy("topic", TOPIC);
    assert_eq!(report.status, StackStatus::CreateComplete, "{report:?}");
    let outcome = slipway_model::pipeline::parse_file(APPROVAL, "slipway.yaml", "app");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    exec(&rig)
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
    let id = exec(&rig)
        .start("app", Vec::new(), Default::default())
        .unwrap();
    let st = wait(&rig, "the approval", |s| settled(s, &id));
    let a = st.execution(&id).unwrap().stages[1].actions[0].clone();
    let token = a.token.unwrap();
    let receive = r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="reviews")["QueueUrl"]
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
for m in got:
    print(m["Body"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
"#;
    let out = rig.python(receive);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        doc["Subject"],
        "APPROVAL NEEDED: AWS CodePipeline app for action Approval"
    );
    assert_eq!(
        doc["TopicArn"],
        "arn:aws:sns:us-east-1:123456789012:approvals"
    );
    let m: serde_json::Value = serde_json::from_str(doc["Message"].as_str().unwrap()).unwrap();
    assert_eq!(m["region"], "us-east-1");
    let console = format!("{}/console/pipelines/app", rig.endpoint());
    assert_eq!(m["consoleLink"], console.as_str());
    let ap = &m["approval"];
    assert_eq!(ap["pipelineName"], "app");
    assert_eq!(ap["stageName"], "Approve");
    assert_eq!(ap["actionName"], "Approval");
    assert_eq!(ap["token"], token.as_str());
    assert_eq!(ap["customData"], "Check staging first");
    assert_eq!(ap["externalEntityLink"], "https://example.com/changes");
    assert_eq!(
        ap["approvalReviewLink"],
        format!("{console}/Approve/Approval/approve/{token}").as_str()
    );
    // Seven days after the start, to the minute: START_MS + 7 d = 2026-09-28T14:13:20Z.
    assert_eq!(ap["expires"], "2026-09-28T14:13Z");

    // A restart leaves the approval waiting and does not notify again.
    rig.restart();
    let out = rig.python(receive);
    assert_eq!(out.trim(), "", "no second notification");
}

const SAM: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fns/
      Handler: echo.handler
      Runtime: python3.11
"#;

const CAPS: &str = r#"
name: app
source:
  git: {branch: main, repository: .}
stages:
  - name: Deploy
    actions:
      - {name: Direct, deploy: {stack: direct, template: template.yaml, capabilities: [CAPABILITY_IAM]}}
      - {name: NoIam, deploy: {stack: noiam, template: template.yaml, capabilities: [CAPABILITY_AUTO_EXPAND]}}
      - {name: Reviewed, deploy: {stack: reviewed, template: template.yaml, capabilities: [CAPABILITY_IAM], review: true}}
      - {name: Both, deploy: {stack: both, template: template.yaml, capabilities: [CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND]}}
"#;

#[test]
fn deploy_actions_need_the_capabilities_cloudformation_asks_for() {
    let rig = start("fail");
    rig.write(&[("template.yaml", SAM)]);
    let p = rig.project();
    git(&p, &["add", "-A"]);
    git(&p, &["commit", "-q", "-m", "template"]);
    let outcome = slipway_model::pipeline::parse_file(CAPS, "slipway.yaml", "app");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    exec(&rig)
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
    let id = exec(&rig)
        .start("app", Vec::new(), Default::default())
        .unwrap();
    let st = wait(&rig, "the deploys", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    let action = |n: &str| x.action("Deploy", n).unwrap();
    // CreateStack/UpdateStack from a template with a transform needs CAPABILITY_AUTO_EXPAND…
    let e = action("Direct").error.as_deref().unwrap_or_default();
    assert!(
        e.starts_with("Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
            && e.contains("InsufficientCapabilitiesException"),
        "{e}"
    );
    // …the function's generated role needs CAPABILITY_IAM…
    let e = action("NoIam").error.as_deref().unwrap_or_default();
    assert!(
        e.starts_with("Requires capabilities : [CAPABILITY_IAM]"),
        "{e}"
    );
    // …and a change set, reviewed before it runs, needs no CAPABILITY_AUTO_EXPAND.
    assert_eq!(
        action("Reviewed-ChangeSet").status,
        slipway_pipeline::ActionStatus::Succeeded,
        "{x:#?}"
    );
    assert_eq!(
        action("Both").status,
        slipway_pipeline::ActionStatus::Succeeded,
        "{x:#?}"
    );
    for (stack, made) in [("direct", false), ("noiam", false), ("both", true)] {
        let exists = rig
            .engine
            .stack(common::TARGET, stack)
            .unwrap()
            .is_some_and(|r| r.exists());
        assert_eq!(exists, made, "{stack}");
    }
}

const IMPORTED: &str = r#"
Parameters:
  Mode: {Type: String, Default: continue}
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: app
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore: {Type: S3, Location: artefacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
              Configuration: {RepositoryName: ".", BranchName: main}
              OutputArtifacts: [{Name: SourceOutput}]
        - Name: Check
          Actions:
            - Name: Smoke
              ActionTypeId: {Category: Invoke, Owner: AWS, Provider: Lambda, Version: "1"}
              Configuration:
                FunctionName: checker
                UserParameters: !Sub '{"mode": "${Mode}"}'
              InputArtifacts: [{Name: SourceOutput}]
              OutputArtifacts: [{Name: SmokeOutput}]
              Namespace: SmokeVariables
            - Name: Echo
              ActionTypeId: {Category: Invoke, Owner: AWS, Provider: Lambda, Version: "1"}
              Configuration:
                FunctionName: arn:aws:lambda:us-east-1:123456789012:function:echo
                UserParameters: "files=#{SmokeVariables.Files}"
              Namespace: EchoVariables
              RunOrder: 2
"#;

#[test]
fn an_imported_codepipeline_template_runs_its_lambda_invoke_actions() {
    let rig = start("fail");
    let resolved = slipway_model::template::resolve(
        IMPORTED,
        &slipway_model::template::Options {
            file: "pipeline.yaml".into(),
            stack_name: "pipeline".into(),
            ..Default::default()
        },
    );
    let template = resolved
        .template
        .unwrap_or_else(|| panic!("{:?}", resolved.diagnostics));
    let outcome = slipway_model::pipeline::import(
        &template,
        &slipway_model::pipeline::ImportOptions {
            file: "pipeline.yaml".into(),
            logical_id: None,
        },
    );
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    exec(&rig)
        .define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();
    let id = exec(&rig)
        .start("app", Vec::new(), Default::default())
        .unwrap();
    let st = wait(&rig, "the execution", |s| settled(s, &id));
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    assert_eq!(x.namespaces["SmokeVariables"]["Token"], "step-2");
    assert_eq!(x.namespaces["EchoVariables"]["Got"], "files=3");
    assert!(x.artifacts.contains_key("SmokeOutput"));
}
