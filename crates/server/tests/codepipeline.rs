//! CodePipeline's S3 sources and imported CodePipeline templates, end to end: zips uploaded
//! with the real AWS CLI to this server's S3 start the pipelines watching them, artefacts are
//! addressable in S3 for `Fn::GetArtifactAtt`, and an imported `AWS::CodePipeline::Pipeline`
//! template runs from source to production.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::Rig;
use slipway_pipeline::exec::Executor;
use slipway_pipeline::{ActionStatus, ExecutionStatus, PipelineState};
use slipway_server::PipelineConfig;

fn rig() -> Rig {
    Rig::start_with(|c| {
        c.pipelines = PipelineConfig {
            project_dir: Some(c.data_dir.parent().unwrap().join("project")),
            poll_interval: None,
            webhook_secret: None,
        };
    })
}

fn exec(rig: &Rig) -> Arc<Executor> {
    rig.server.as_ref().unwrap().pipelines().executor.clone()
}

fn wait(rig: &Rig, name: &str, what: &str, f: impl Fn(&PipelineState) -> bool) -> PipelineState {
    let (ok, st) = exec(rig)
        .wait_until(name, Duration::from_secs(180), f)
        .unwrap();
    assert!(ok, "timed out waiting for {what}: {st:#?}");
    st
}

/// Writes a zip at `path` with Python's zipfile: `(name, content, is_symlink)`; a symlink's
/// content is its target.
fn make_zip(rig: &Rig, path: &Path, entries: &[(&str, &str, bool)]) {
    let list: Vec<String> = entries
        .iter()
        .map(|(n, c, l)| format!("({n:?}, {c:?}, {})", if *l { "True" } else { "False" }))
        .collect();
    rig.python(&format!(
        r#"
import zipfile
with zipfile.ZipFile({path:?}, "w") as z:
    for name, content, link in [{entries}]:
        info = zipfile.ZipInfo(name)
        info.external_attr = ((0o120777 if link else 0o100644) << 16)
        z.writestr(info, content)
"#,
        path = path.to_str().unwrap(),
        entries = list.join(", ")
    ));
}

const S3_PIPELINE: &str = r#"
name: fromzip
source:
  s3: {bucket: uploads, key: app/source.zip}
stages:
  - name: Build
    build: buildspec.yml
"#;

const ZIP_BUILDSPEC: &str = r#"version: 0.2
env:
  exported-variables: [GREETING]
phases:
  build:
    commands:
      - test "$(cat hello.txt)" = "hello from s3"
      - export GREETING="$(cat hello.txt)"
artifacts:
  files: ['**/*']
"#;

#[test]
fn a_zip_uploaded_with_the_aws_cli_starts_the_pipeline_watching_its_key() {
    let rig = rig();
    let outcome = slipway_model::pipeline::parse_file(S3_PIPELINE, "slipway.yaml", "fromzip");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    let ex = exec(&rig);
    ex.define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();

    rig.aws(&["s3", "mb", "s3://uploads"]);
    let zip = rig.dir.path().join("source.zip");
    make_zip(
        &rig,
        &zip,
        &[
            ("buildspec.yml", ZIP_BUILDSPEC, false),
            ("hello.txt", "hello from s3", false),
        ],
    );
    // Another key of the bucket starts nothing.
    rig.aws(&["s3", "cp", zip.to_str().unwrap(), "s3://uploads/other.zip"]);
    assert!(ex.state("fromzip").unwrap().executions.is_empty());

    rig.aws(&[
        "s3",
        "cp",
        zip.to_str().unwrap(),
        "s3://uploads/app/source.zip",
    ]);
    let head = rig.aws_json(&[
        "s3api",
        "head-object",
        "--bucket",
        "uploads",
        "--key",
        "app/source.zip",
    ]);
    let etag = head["ETag"].as_str().unwrap().trim_matches('"').to_owned();
    let st = wait(&rig, "fromzip", "the upload's execution", |s| {
        s.executions
            .first()
            .is_some_and(|x| x.status != ExecutionStatus::InProgress)
    });
    let x = &st.executions[0];
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    let source = x.action("Source", "Source").unwrap();
    let vars = &source.result.as_ref().unwrap().variables;
    assert_eq!(vars["ETag"], etag);
    assert_eq!(vars["VersionId"], x.source_revisions[0].revision_id);
    let build = x.stages[1].actions[0].result.as_ref().unwrap();
    assert_eq!(build.variables["GREETING"], "hello from s3");

    // Zips that would write outside the workspace fail the source action, naming the entry.
    for (entries, why) in [
        (vec![("../evil.txt", "x", false)], "'..'"),
        (vec![("/tmp/evil.txt", "x", false)], "absolute"),
        (
            vec![("link", "/etc", true), ("link/passwd", "x", false)],
            "symlink",
        ),
    ] {
        let bad = rig.dir.path().join("bad.zip");
        make_zip(&rig, &bad, &entries);
        let before = ex.state("fromzip").unwrap().executions.len();
        rig.aws(&[
            "s3",
            "cp",
            bad.to_str().unwrap(),
            "s3://uploads/app/source.zip",
        ]);
        let st = wait(&rig, "fromzip", "the bad upload's execution", |s| {
            s.executions.len() == before + 1
                && s.executions[before].status != ExecutionStatus::InProgress
        });
        let x = &st.executions[before];
        assert_eq!(x.status, ExecutionStatus::Failed);
        let a = x.action("Source", "Source").unwrap();
        assert_eq!(a.status, ActionStatus::Failed);
        let err = a.error.as_deref().unwrap();
        assert!(
            err.contains("s3://uploads/app/source.zip") && err.contains(why),
            "{why}: {err}"
        );
        assert_eq!(x.stages[1].actions[0].status, ActionStatus::NotStarted);
    }
    assert!(!rig.dir.path().join("evil.txt").exists());
    assert!(!Path::new("/tmp/evil.txt").exists());

    // A bucket name S3 would refuse, and a second `mb` of the same bucket.
    let out = rig.aws_raw(&["s3", "mb", "s3://Not_Valid"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidBucketName"));
    let out = rig.aws_raw(&["s3", "mb", "s3://uploads"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("BucketAlreadyOwnedByYou"));
}

/// The example's files, zipped as a team's CI would upload them.
fn zip_example(rig: &Rig, zip: &Path) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codepipeline");
    rig.python(&format!(
        r#"
import os, zipfile
root = {root:?}
with zipfile.ZipFile({zip:?}, "w") as z:
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if "__pycache__" not in p:
                z.write(p, os.path.relpath(p, root))
"#,
        root = dir.to_str().unwrap(),
        zip = zip.to_str().unwrap()
    ));
}

/// `slipway pipeline import`'s work: resolve the template with the overrides, read its
/// pipelines.
fn import(text: &str, overrides: Vec<(String, String)>) -> slipway_model::pipeline::Pipeline {
    let opts = slipway_model::template::Options {
        file: "pipeline.yaml".into(),
        stack_name: "orders-pipeline".into(),
        overrides,
        ..slipway_model::template::Options::default()
    };
    let resolved = slipway_model::template::resolve(text, &opts);
    assert!(
        !resolved.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        resolved.diagnostics
    );
    let outcome = slipway_model::pipeline::import(
        &resolved.template.unwrap(),
        &slipway_model::pipeline::ImportOptions {
            file: "pipeline.yaml".into(),
            logical_id: None,
        },
    );
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    outcome.pipelines.into_iter().next().unwrap()
}

#[test]
fn an_imported_codepipeline_template_runs_from_an_s3_upload_to_prod() {
    let rig = rig();
    let markers = rig.dir.path().join("markers");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codepipeline/pipeline.yaml"),
    )
    .unwrap();
    let pipeline = import(
        &text,
        vec![("MarkerDir".into(), markers.to_str().unwrap().into())],
    );
    // Fn::If dropped the LoadTests stage and kept the Lint action.
    let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["Source", "Build", "Test", "Approve", "Prod"]);
    let build: Vec<&str> = pipeline.stages[1]
        .actions
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(build, ["Unit", "Package", "Lint"]);
    let ex = exec(&rig);
    ex.define(pipeline).unwrap();

    rig.aws(&["s3", "mb", "s3://orders-source"]);
    let zip = rig.dir.path().join("source.zip");
    zip_example(&rig, &zip);
    rig.aws(&[
        "s3",
        "cp",
        zip.to_str().unwrap(),
        "s3://orders-source/orders/source.zip",
    ]);

    let st = wait(&rig, "orders", "the approval", |s| {
        s.executions.first().is_some_and(|x| {
            x.status != ExecutionStatus::InProgress
                || x.action("Approve", "Promote")
                    .is_some_and(|a| a.status == ActionStatus::InProgress)
        })
    });
    let x = &st.executions[0];
    assert_eq!(x.status, ExecutionStatus::InProgress, "{x:#?}");
    // Unit and Package ran side by side (same run order), Lint after them.
    let b = x.stage("Build").unwrap();
    let (unit, package, lint) = (&b.actions[0], &b.actions[1], &b.actions[2]);
    assert!(unit.started_at <= package.ended_at && package.started_at <= unit.ended_at);
    assert!(lint.started_at >= unit.ended_at.max(package.ended_at));

    // The function's code came from the artefact store's S3 location.
    let out = rig.dir.path().join("hello.json");
    rig.aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "orders-hello-test",
        out.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["message"], "hello from orders");
    assert_eq!(v["stage"], "test");
    let etag = &x
        .action("Source", "Source")
        .unwrap()
        .result
        .as_ref()
        .unwrap()
        .variables["ETag"];
    assert_eq!(v["source_etag"], etag.as_str());
    let package_key = format!(
        "orders/BuildOutpu/{}.zip",
        &x.artifacts["BuildOutput"].location["sha256:".len()..][..16]
    );
    let listed = rig.aws(&["s3", "ls", "--recursive", "s3://orders-pipeline-artifacts/"]);
    assert!(listed.contains(&package_key), "{listed}");

    // The S3-triggered function of the test stack reacts to an upload.
    let order = rig.dir.path().join("order-1.json");
    std::fs::write(&order, "{\"id\": 1}").unwrap();
    rig.aws(&[
        "s3",
        "cp",
        order.to_str().unwrap(),
        "s3://orders-test-uploads/incoming/order-1.json",
    ]);
    let marker = markers.join("test-incoming_order-1.json");
    rig.wait_for("the reactor's marker", || marker.is_file());
    let seen: serde_json::Value = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(seen["bucket"], "orders-test-uploads");
    assert_eq!(seen["event"], "ObjectCreated:Put");

    // Approved: prod follows.
    ex.decide(
        "orders",
        "Approve",
        "Promote",
        slipway_pipeline::ApprovalDecision {
            approved: true,
            by: "release-manager".into(),
            comment: Some("test looks good".into()),
        },
    )
    .unwrap();
    let st = wait(&rig, "orders", "prod", |s| {
        s.executions[0].status != ExecutionStatus::InProgress
    });
    assert_eq!(
        st.executions[0].status,
        ExecutionStatus::Succeeded,
        "{:#?}",
        st.executions[0]
    );
    rig.aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "orders-hello-prod",
        out.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["stage"], "prod");
}

/// A CodePipeline template watching `s3://uploads/app/source.zip`, whose build checks the
/// zip's `hello.txt` and exports what it says.
const S3_TEMPLATE: &str = r#"Parameters:
  Expected:
    Type: String
    Default: hello from s3
Resources:
  Check:
    Type: AWS::CodeBuild::Project
    Properties:
      ServiceRole: arn:aws:iam::123456789012:role/codebuild
      Artifacts: {Type: CODEPIPELINE}
      Environment: {Type: LINUX_CONTAINER, ComputeType: BUILD_GENERAL1_SMALL, Image: aws/codebuild/standard:7.0}
      Source:
        Type: CODEPIPELINE
        BuildSpec: !Sub |
          version: 0.2
          env:
            exported-variables: [GREETING]
          phases:
            build:
              commands:
                - test "$(cat hello.txt)" = "${Expected}"
                - export GREETING="$(cat hello.txt)"
  Pipe:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: early
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore: {Type: S3, Location: artefacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Zip
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {S3Bucket: uploads, S3ObjectKey: app/source.zip, PollForSourceChanges: "false"}
              OutputArtifacts: [{Name: Src}]
        - Name: Build
          Actions:
            - Name: Check
              ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
              Configuration: {ProjectName: !Ref Check}
              InputArtifacts: [{Name: Src}]
"#;

/// `POST /api/v1/pipelines` from Python's urllib: the answer's JSON.
fn post_import(rig: &Rig, body: &serde_json::Value) -> serde_json::Value {
    let out = rig.python(&format!(
        r#"
import json, urllib.request
req = urllib.request.Request({url:?}, data={body:?}.encode(), method="POST",
                             headers={{"Content-Type": "application/json"}})
print(urllib.request.urlopen(req).read().decode())
"#,
        url = format!("{}/api/v1/pipelines", rig.endpoint()),
        body = body.to_string(),
    ));
    serde_json::from_str(out.trim()).unwrap()
}

/// CreatePipeline starts the pipeline once: an imported pipeline whose S3 source object was
/// uploaded *before* the pipeline existed runs from that object at once (no new upload
/// needed), the execution carrying the object's content as its revision; re-importing
/// (UpdatePipeline) starts nothing.
#[test]
fn a_pipeline_imported_after_its_zip_was_uploaded_runs_from_that_zip_and_an_update_starts_nothing()
{
    let rig = rig();
    rig.aws(&["s3", "mb", "s3://uploads"]);
    let zip = rig.dir.path().join("source.zip");
    make_zip(&rig, &zip, &[("hello.txt", "hello from s3", false)]);
    rig.aws(&[
        "s3",
        "cp",
        zip.to_str().unwrap(),
        "s3://uploads/app/source.zip",
    ]);
    let sha = rig.python(&format!(
        "import hashlib; print(hashlib.sha256(open({:?}, 'rb').read()).hexdigest())",
        zip.to_str().unwrap()
    ));

    let report = post_import(&rig, &serde_json::json!({"template": S3_TEMPLATE}));
    let p = &report["pipelines"][0];
    assert_eq!(p["action"], "created", "{report}");
    let id = p["executionId"]
        .as_str()
        .expect("an execution id")
        .to_owned();
    assert!(p.get("startError").is_none(), "{report}");
    let st = wait(&rig, "early", "the creation's execution", |s| {
        s.execution(&id)
            .is_some_and(|x| x.status != ExecutionStatus::InProgress)
    });
    assert_eq!(st.executions.len(), 1);
    let x = st.execution(&id).unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    assert_eq!(x.source_revisions[0].revision_id, sha.trim());
    let summary = x.source_revisions[0].summary.as_deref().unwrap_or_default();
    assert!(
        summary.starts_with("s3://uploads/app/source.zip"),
        "{summary}"
    );
    let build = x.action("Build", "Check").unwrap().result.as_ref().unwrap();
    assert_eq!(build.variables["GREETING"], "hello from s3");

    // A changed buildspec: UpdatePipeline, version 2, and no execution.
    let report = post_import(
        &rig,
        &serde_json::json!({"template": S3_TEMPLATE.replace("test \"$(cat", "test -n \"$(cat")}),
    );
    let p = &report["pipelines"][0];
    assert_eq!(p["action"], "updated", "{report}");
    assert_eq!(p["pipeline"]["version"], 2, "{report}");
    assert!(p.get("executionId").is_none(), "{report}");
    assert_eq!(exec(&rig).state("early").unwrap().executions.len(), 1);
}
