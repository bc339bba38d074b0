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
