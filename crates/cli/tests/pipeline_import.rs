//! `slipway pipeline import`: the real binary importing CloudFormation templates'
//! `AWS::CodePipeline::Pipeline`s, embedded and against a running `slipway server`.

mod common;

use std::path::Path;

use common::server::ServerProc;
use common::{Run, git, slipway, write};

fn example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codepipeline/pipeline.yaml"),
    )
    .unwrap()
}

/// `r`'s stdout says `text` (shown in full when it does not).
#[track_caller]
fn has(r: &Run, text: &str) {
    assert!(r.stdout.contains(text), "{}", r.stdout);
}

/// `r`'s stdout does not say `text`.
#[track_caller]
fn lacks(r: &Run, text: &str) {
    assert!(!r.stdout.contains(text), "{}", r.stdout);
}

fn ok(r: &Run) {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

/// A template with three problems: one the resolver finds (a parameter without a value)
/// and two the importer finds; the pipeline's `Name` uses the parameter.
const BAD: &str = r#"Parameters:
  Env:
    Type: String
Resources:
  Pipe:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: !Sub "bad-${Env}"
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore: {Type: S3, Location: artefacts}
      Stages:
        - Name: Source
          Blockers: []
          Actions:
            - Name: Src
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {S3Bucket: b, S3ObjectKey: k.zip}
              OutputArtifacts: [{Name: Src}]
        - Name: Build
          Actions:
            - Name: Jenkins
              ActionTypeId: {Category: Build, Owner: AWS, Provider: Jenkins, Version: "1"}
              InputArtifacts: [{Name: Src}]
"#;

#[test]
fn import_defines_the_example_with_overrides_then_reimport_updates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, &[("ci/pipeline.yaml", &example())]);

    // --dry-run: the LoadTests stage is there (RunLoadTests=true), nothing is defined.
    let dry = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci/pipeline.yaml",
            "--parameter-overrides",
            "RunLoadTests=true",
            "MarkerDir=/tmp/markers",
            "--dry-run",
        ],
    );
    ok(&dry);
    has(
        &dry,
        "pipeline orders: would be created — 6 stages, 8 actions",
    );
    assert!(dry.stdout.contains("dry run: nothing was defined"));
    assert!(
        !dir.join(".slipway/state.db").exists() || {
            let list = slipway(dir, &["pipeline", "list"]);
            list.stdout.trim().is_empty()
        }
    );

    let first = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci/pipeline.yaml",
            "--parameter-overrides",
            "MarkerDir=/tmp/markers",
        ],
    );
    ok(&first);
    has(
        &first,
        "pipeline orders: created (version 1) — 5 stages, 7 actions",
    );
    has(
        &first,
        "source Source: s3://orders-source/orders/source.zip on this server's S3",
    );
    // Creating it started it once, as CreatePipeline does, and the embedded import followed
    // that execution until it rested: no zip was ever uploaded, so its source failed (as the
    // first execution of such a pipeline fails on AWS) — the import itself succeeded.
    has(&first, "  started execution ");
    has(&first, "Source/Source Failed");
    has(&first, "s3://orders-source/orders/source.zip");
    let history = slipway(dir, &["pipeline", "history", "orders"]);
    assert_eq!(history.stdout.lines().count(), 1, "{}", history.stdout);
    has(&history, "Failed");

    // --no-start defines only.
    let quiet = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci/pipeline.yaml",
            "--parameter-overrides",
            "MarkerDir=/tmp/markers",
            "--name",
            "orders-quiet",
            "--no-start",
        ],
    );
    ok(&quiet);
    has(&quiet, "pipeline orders-quiet: created (version 1)");
    lacks(&quiet, "started execution");
    let history = slipway(dir, &["pipeline", "history", "orders-quiet"]);
    assert!(history.stdout.trim().is_empty(), "{}", history.stdout);

    let show = slipway(dir, &["pipeline", "show", "orders"]);
    ok(&show);
    has(&show, "orders (version 1, SUPERSEDED mode)");
    assert!(show.stdout.contains("Lint [Test CodeBuild, run order 2]"));
    assert!(!show.stdout.contains("LoadTests"));

    // The same template again: nothing changes.
    let again = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci/pipeline.yaml",
            "--parameter-overrides",
            "MarkerDir=/tmp/markers",
        ],
    );
    ok(&again);
    has(&again, "pipeline orders: unchanged (version 1)");
    lacks(&again, "started execution");

    // Without the Lint action the structure changed: UpdatePipeline, version 2.
    let update = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci/pipeline.yaml",
            "--parameter-overrides",
            "MarkerDir=/tmp/markers",
            "RunLint=false",
        ],
    );
    ok(&update);
    has(
        &update,
        "pipeline orders: updated (version 1 → 2) — 5 stages, 6 actions",
    );
    // UpdatePipeline starts nothing.
    lacks(&update, "started execution");
    let show = slipway(dir, &["pipeline", "show", "orders"]);
    assert!(show.stdout.contains("orders (version 2, SUPERSEDED mode)"));
    lacks(&show, "Lint");

    // `pipeline run` on the imported pipeline: no zip was uploaded, so its S3 source fails.
    let run = slipway(dir, &["pipeline", "run", "orders"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    has(&run, "Source/Source Failed");
    let history = slipway(dir, &["pipeline", "history", "orders"]);
    assert_eq!(history.stdout.lines().count(), 2, "{}", history.stdout);
}

#[test]
fn a_bad_template_prints_every_diagnostic_with_its_position_and_defines_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, &[("bad.yaml", BAD)]);

    let r = slipway(dir, &["pipeline", "import", "bad.yaml"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    has(&r, "parameter 'Env' has no value");
    has(&r, "--> bad.yaml:2:3");
    assert!(r.stdout.contains("bad.yaml: invalid — nothing was defined"));
    // All at once: the importer's own problems come in the same answer as the resolver's,
    // and nothing that only follows from the missing value (the Name built from it).
    for (what, at) in [
        (
            "'Blockers' is not supported by Slipway's pipelines",
            "--> bad.yaml:13:11",
        ),
        (
            "action type Build/AWS/Jenkins/1 is not supported",
            "--> bad.yaml:22:15",
        ),
    ] {
        assert!(r.stdout.contains(what), "{what}: {}", r.stdout);
        assert!(r.stdout.contains(at), "{at}: {}", r.stdout);
    }
    lacks(&r, "--> bad.yaml:8:");
    let errors = r.stdout.lines().filter(|l| l.starts_with("error")).count();
    assert_eq!(errors, 3, "{}", r.stdout);

    // With the parameter given, the importer's diagnostics: both, with positions and paths.
    let r = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "bad.yaml",
            "--parameter-overrides",
            "Env=x",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    has(&r, "'Blockers' is not supported by Slipway's pipelines");
    has(&r, "--> bad.yaml:13:11");
    assert!(
        r.stdout
            .contains("at Resources.Pipe.Properties.Stages.0.Blockers")
    );
    has(&r, "action type Build/AWS/Jenkins/1 is not supported");
    has(&r, "--> bad.yaml:22:15");
    assert!(
        r.stdout
            .contains("at Resources.Pipe.Properties.Stages.1.Actions.0.ActionTypeId")
    );
    let list = slipway(dir, &["pipeline", "list"]);
    assert!(list.stdout.trim().is_empty(), "{}", list.stdout);

    // --logical-id naming nothing: a diagnostic; --name renames the one pipeline.
    write(dir, &[("ci.yaml", &example())]);
    let r = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci.yaml",
            "--logical-id",
            "Nope",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    has(
        &r,
        "the template has no AWS::CodePipeline::Pipeline named 'Nope'",
    );
    let r = slipway(
        dir,
        &[
            "pipeline",
            "import",
            "ci.yaml",
            "--logical-id",
            "Pipeline",
            "--name",
            "orders-copy",
            "--dry-run",
        ],
    );
    ok(&r);
    has(&r, "pipeline orders-copy: would be created");

    // Unreadable template: a usage error.
    let r = slipway(dir, &["pipeline", "import", "missing.yaml"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
}

/// A CodePipeline template whose CodeCommit source maps to the project's own git repository
/// (`RepositoryName: .`), with a CodeBuild build whose buildspec is inline.
const GIT_PIPELINE: &str = r#"Parameters:
  Greeting:
    Type: String
    Default: hello
Resources:
  Checks:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: checks
      ServiceRole: arn:aws:iam::123456789012:role/codebuild
      Artifacts: {Type: CODEPIPELINE}
      Environment: {Type: LINUX_CONTAINER, ComputeType: BUILD_GENERAL1_SMALL, Image: aws/codebuild/standard:7.0}
      Source:
        Type: CODEPIPELINE
        BuildSpec: !Sub |
          version: 0.2
          phases:
            build:
              commands:
                - test -f app.txt
                - echo "${Greeting} from the build"
  Pipe:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: gitpipe
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore: {Type: S3, Location: artefacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Repo
              ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
              Configuration: {RepositoryName: ".", BranchName: trunk, PollForSourceChanges: "false"}
              OutputArtifacts: [{Name: Src}]
        - Name: Build
          Actions:
            - Name: Checks
              ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
              Configuration: {ProjectName: !Ref Checks}
              InputArtifacts: [{Name: Src}]
"#;

#[test]
fn an_imported_codecommit_pipeline_runs_from_the_local_repository_against_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        &[
            ("pipeline.yaml", GIT_PIPELINE),
            ("app.txt", "v1\n"),
            (".gitignore", ".slipway/\ndata/\n"),
        ],
    );
    git(&dir, &["init", "-q", "-b", "trunk"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "v1"]);
    let data = dir.join("data");
    let server = ServerProc::start(&dir, &data, "1");
    let ep = server.endpoint.clone();

    // A bad template through the API: 422, every diagnostic printed, nothing defined.
    write(&dir, &[("bad.yaml", BAD)]);
    let bad = slipway(
        &dir,
        &[
            "pipeline",
            "--endpoint",
            &ep,
            "import",
            "bad.yaml",
            "--parameter-overrides",
            "Env=x",
        ],
    );
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    has(&bad, "--> bad.yaml:13:11");
    has(&bad, "--> bad.yaml:22:15");

    let imp = slipway(
        &dir,
        &["pipeline", "--endpoint", &ep, "import", "pipeline.yaml"],
    );
    ok(&imp);
    has(
        &imp,
        "pipeline gitpipe: created (version 1) — 2 stages, 2 actions",
    );
    has(
        &imp,
        "source Repo: repository '.' branch 'trunk' → the local git repository at '.' relative to the server's project directory",
    );
    // Created, so started from the branch head; the server runs it (the CLI says where to
    // look), and the poller does not start that commit a second time.
    has(&imp, "  started execution ");
    has(&imp, "`slipway pipeline status gitpipe` shows it");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    let st = rested(&ep);
    let x = &st["executions"][0];
    assert_eq!(x["status"], "Succeeded", "{st}");
    assert_eq!(x["sourceRevisions"][0]["revisionId"], head.as_str(), "{st}");
    let list = slipway(&dir, &["pipeline", "--endpoint", &ep, "list"]);
    assert_eq!(list.stdout.lines().count(), 1, "{}", list.stdout);

    let run = slipway(&dir, &["pipeline", "--endpoint", &ep, "run", "gitpipe"]);
    ok(&run);
    has(&run, "Source/Repo Succeeded");
    has(&run, "Build/Checks Succeeded");

    // Re-import with another parameter value: the buildspec changed, so version 2.
    let again = slipway(
        &dir,
        &[
            "pipeline",
            "--endpoint",
            &ep,
            "import",
            "pipeline.yaml",
            "--parameter-overrides",
            "Greeting=hi",
        ],
    );
    ok(&again);
    has(&again, "pipeline gitpipe: updated (version 1 → 2)");
    lacks(&again, "started execution");
    // The import's execution and `run`'s: the update started nothing, nor did the poller.
    let history = slipway(&dir, &["pipeline", "--endpoint", &ep, "history", "gitpipe"]);
    assert_eq!(history.stdout.lines().count(), 2, "{}", history.stdout);
    assert!(
        history.stdout.lines().all(|l| l.contains("Succeeded")),
        "{}",
        history.stdout
    );
    server.stop();
}

/// `gitpipe`'s state once its latest execution is no longer in progress (polls the server's
/// API for that effect; bounded).
#[allow(clippy::disallowed_methods)]
fn rested(ep: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, body) = common::server::http(ep, "GET", "/api/v1/pipelines/gitpipe", &[], "");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let latest = v["executions"].as_array().and_then(|x| x.last()).cloned();
        if latest.is_some_and(|x| x["status"] != "InProgress") {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "still running: {v}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Embedded (no server), the execution that creating a pipeline starts is followed until it
/// rests — here at a manual approval — before the platform stops, so nothing is left
/// half-run: `pipeline approve`, embedded too, carries it on to the end from the stored
/// state. The git source ran from the branch head.
#[test]
fn an_embedded_import_runs_the_new_pipeline_until_it_waits_for_approval_then_approve_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    let gated = GIT_PIPELINE.replace("Name: gitpipe", "Name: gated").replace(
        "        - Name: Build\n",
        "        - Name: Gate\n          Actions:\n            - Name: Approve\n              ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: \"1\"}\n        - Name: Build\n",
    );
    write(
        &dir,
        &[
            ("pipeline.yaml", &gated),
            ("app.txt", "v1\n"),
            (".gitignore", ".slipway/\n"),
        ],
    );
    git(&dir, &["init", "-q", "-b", "trunk"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "first commit"]);

    let imp = slipway(&dir, &["pipeline", "import", "pipeline.yaml"]);
    ok(&imp);
    has(
        &imp,
        "pipeline gated: created (version 1) — 3 stages, 3 actions",
    );
    has(&imp, "Source/Repo Succeeded");
    has(
        &imp,
        "Gate/Approve InProgress — waiting for approval: slipway pipeline approve gated --stage Gate",
    );
    lacks(&imp, "Build/Checks");
    let status = slipway(&dir, &["pipeline", "status", "gated"]);
    assert!(
        status.stdout.contains("InProgress") && status.stdout.contains("first commit"),
        "{}",
        status.stdout
    );

    let approve = slipway(&dir, &["pipeline", "approve", "gated", "--stage", "Gate"]);
    ok(&approve);
    has(&approve, "Build/Checks Succeeded");
    let history = slipway(&dir, &["pipeline", "history", "gated"]);
    assert_eq!(history.stdout.lines().count(), 1, "{}", history.stdout);
    has(&history, "Succeeded");
}
