//! End-to-end `slipway build`: buildspec runs (passing, failing, invalid) and SAM-style builds,
//! by the real binary in a temp dir. Output is not a terminal here: plain log lines on stderr,
//! the summary on stdout.

mod common;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};

use common::{git, slipway, write};
use serde_json::Value;

const PASSING: &str = r#"version: 0.2
env:
  variables:
    GREETING: hello
phases:
  build:
    commands:
      - echo "building with $GREETING"
      - mkdir -p out reports
      - echo hi > out/a.txt
      - printf '<testsuite name="s" tests="2" failures="1"><testcase classname="t" name="ok"/><testcase classname="t" name="bad"><failure message="boom"/></testcase></testsuite>' > reports/junit.xml
reports:
  unit:
    files: ['junit.xml']
    base-directory: reports
    file-format: JUNITXML
artifacts:
  files: ['**/*']
  base-directory: out
"#;

const FAILING: &str = r#"version: 0.2
phases:
  pre_build:
    commands:
      - echo checking
      - exit 3
  build:
    commands:
      - echo never runs
"#;

#[test]
fn a_buildspec_run_streams_its_log_and_ends_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("buildspec.yml", PASSING)]);
    let r = slipway(
        dir.path(),
        &["build", "--env", "GREETING=override", "--project", "demo"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // The log, live, on stderr: phase markers and command output.
    assert!(r.stderr.contains("Entering phase BUILD"), "{}", r.stderr);
    assert!(
        r.stderr.contains(" building with override\n"),
        "{}",
        r.stderr
    );
    // The summary on stdout: status, phase durations, the report, the artefact.
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("Build demo:") && first.contains(" SUCCEEDED in "),
        "{first}"
    );
    for phase in [
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
    ] {
        assert!(
            r.stdout.lines().any(|l| l.trim_start().starts_with(phase)
                && l.contains("SUCCEEDED")
                && l.ends_with(" ms")),
            "{phase}:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("Report demo-unit: 2 test(s): 1 succeeded, 1 failed, 0 error, 0 skipped\n  FAILED t::bad\n"), "{}", r.stdout);
    let artefact = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Artifact primary: 1 file(s), "))
        .unwrap();
    let sha = artefact.rsplit("sha256:").next().unwrap();
    assert_eq!(sha.len(), 64, "{artefact}");
}

#[test]
fn a_failing_buildspec_exits_1_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("ci/spec.yml", FAILING), ("template.yaml", "not used")],
    );
    let r = slipway(dir.path(), &["build", "--buildspec", "ci/spec.yml"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(" FAILED in "), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("PRE_BUILD") && l.contains("FAILED")),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains(" checking\n"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("never runs\n"),
        "a pre_build failure skips build:\n{}",
        r.stderr
    );
}

#[test]
fn an_invalid_buildspec_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  biuld:\n    commands: [make]\n",
        )],
    );
    let r = slipway(dir.path(), &["build"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("buildspec.yml:3:3"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn a_sam_build_then_invoke_uses_the_package() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "template.yaml",
                "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n      Runtime: python3.11\n      Handler: app.handler\n",
            ),
            (
                "src/app.py",
                "import os\ndef handler(event, context):\n    return {'cwd': os.getcwd()}\n",
            ),
        ],
    );
    let r = slipway(dir.path(), &["build"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Hello "))
        .unwrap();
    assert!(
        line.contains("function built, ") && line.contains(" bytes, sha256:"),
        "{line}"
    );
    assert!(
        r.stdout
            .contains("Built template: [TEMP]/.slipway/build/template.yaml"),
        "{}",
        r.stdout
    );
    // A second build changes nothing.
    let again = slipway(dir.path(), &["build"]);
    assert!(
        again.stdout.contains("function unchanged"),
        "{}",
        again.stdout
    );

    let r = slipway(dir.path(), &["invoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("Using the built template .slipway/build/template.yaml"),
        "{}",
        r.stderr
    );
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let cwd = v["cwd"].as_str().unwrap();
    assert!(
        cwd.ends_with("/.slipway/build/Hello"),
        "runs the package, not src/: {cwd}"
    );
}

#[test]
fn a_sam_build_of_a_missing_code_dir_fails() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "template.yaml",
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: nowhere/\n      Runtime: python3.11\n      Handler: app.handler\n",
        )],
    );
    let r = slipway(dir.path(), &["build", "-t", "template.yaml"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("error: build failed: Hello: CodeUri"),
        "{}",
        r.stderr
    );
}

#[test]
fn ctrl_c_stops_the_build_and_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started $$ > pid.txt && cat pid.txt\n      - sleep 600\n",
        )],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .current_dir(dir.path())
        .arg("build")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the build to be running (its first command's output), not for time to pass.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut shell_pid = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.trim_end().split(" started ").nth(1) {
            shell_pid = Some(rest.to_owned());
            break;
        }
        line.clear();
    }
    let shell_pid = shell_pid.expect("the build started");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().next().unwrap().contains(" STOPPED in "),
        "{stdout}"
    );
    assert!(rest.contains("Stopping the build"), "{rest}");
    // The build's shell (and its `sleep`) is gone.
    let alive = Command::new("kill")
        .args(["-0", &shell_pid])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!alive.success(), "the build shell {shell_pid} survived");
}

#[test]
fn gc_keeps_what_builds_refer_to_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("buildspec.yml", PASSING)]);
    let r = slipway(dir.path(), &["build", "--project", "demo"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = slipway(dir.path(), &["gc"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("removed 0 "), "{}", r.stdout);
    assert!(!r.stdout.contains("kept 0 "), "{}", r.stdout);
    // Once no build record refers to them, the artefacts go.
    std::fs::remove_dir_all(dir.path().join(".slipway/builds")).unwrap();
    let r = slipway(dir.path(), &["gc"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("kept 0 "), "{}", r.stdout);
    assert!(!r.stdout.contains("removed 0 "), "{}", r.stdout);
}

#[test]
fn a_sam_build_of_a_git_revision_builds_that_commit_and_shows_each_function() {
    let dir = tempfile::tempdir().unwrap();
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n      Runtime: python3.11\n      Handler: app.handler\n  Other:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n      Runtime: python3.11\n      Handler: app.handler\n";
    write(
        dir.path(),
        &[
            ("template.yaml", template),
            (
                "src/app.py",
                "def handler(event, context):\n    return 'first'\n",
            ),
        ],
    );
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    write(
        dir.path(),
        &[(
            "src/app.py",
            "def handler(event, context):\n    return 'second'\n",
        )],
    );
    git(dir.path(), &["commit", "-q", "-am", "second"]);
    // The working tree has a third, uncommitted version: not what a revision build takes.
    write(
        dir.path(),
        &[(
            "src/app.py",
            "def handler(event, context):\n    return 'dirty'\n",
        )],
    );

    let r = slipway(dir.path(), &["build", "--source", "HEAD~1"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Building template.yaml at commit "),
        "{}",
        r.stderr
    );
    // Plain progress lines, one per step and function (stderr is not a terminal here).
    for line in ["Hello: copying the code", "Hello built (", "Other built ("] {
        assert!(r.stderr.contains(line), "{line:?} in {}", r.stderr);
    }
    let built = std::fs::read_to_string(dir.path().join(".slipway/build/Hello/app.py")).unwrap();
    assert!(built.contains("'first'"), "{built}");

    let r = slipway(dir.path(), &["build", "--source", "main"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let built = std::fs::read_to_string(dir.path().join(".slipway/build/Hello/app.py")).unwrap();
    assert!(built.contains("'second'"), "{built}");

    let r = slipway(dir.path(), &["build", "--source", "no-such-rev"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("error: --source no-such-rev: "),
        "{}",
        r.stderr
    );
}
