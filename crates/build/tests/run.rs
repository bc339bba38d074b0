//! Buildspec runs against real bash processes: phase transitions, shell state, environment,
//! masking, timeouts, cancellation, artefacts, reports and cache. No test waits for time to pass:
//! timestamps come from a manual clock, and the timeout test blocks a command on a pipe.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_build::record::{BuildPhase, Section, Status, TestStatus};
use slipway_build::{
    BuildOptions, BuildResult, BuildspecSource, CancelToken, EnvKind, EnvOverride, JsonSecretStore,
    LineKind, LogLine, LogSink, ManualClock, MemorySink, Source, run_build,
};
use slipway_model::template::{JsonParameterStore, SsmKind};

struct Fixture {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    data: PathBuf,
}

fn fixture(buildspec: &str, files: &[(&str, &str)]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("buildspec.yml"), buildspec).unwrap();
    for (name, body) in files {
        let p = src.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    let data = tmp.path().join("data");
    Fixture {
        _tmp: tmp,
        src,
        data,
    }
}

fn build_with(f: &Fixture, tweak: impl FnOnce(&mut BuildOptions<'_>)) -> (BuildResult, MemorySink) {
    let sink = MemorySink::default();
    let clock = ManualClock::new(1_796_151_600_000).stepping(1);
    let mut opts = BuildOptions::new("demo", Source::Dir(f.src.clone()), &f.data);
    opts.sink = &sink;
    opts.clock = &clock;
    opts.initiator = "tester".into();
    tweak(&mut opts);
    let r = run_build(&opts).unwrap();
    (r, sink)
}

fn build(f: &Fixture) -> (BuildResult, MemorySink) {
    build_with(f, |_| {})
}

fn phase_status(r: &BuildResult, p: BuildPhase) -> Option<Status> {
    r.phase(p).and_then(|p| p.status)
}

fn ran(r: &BuildResult, p: BuildPhase) -> Vec<String> {
    r.commands
        .iter()
        .filter(|c| c.phase == p)
        .map(|c| c.command.clone())
        .collect()
}

#[test]
fn v02_keeps_shell_state_between_commands_and_phases() {
    let f = fixture(
        "version: 0.2\nphases:\n  install:\n    commands:\n      - mkdir -p sub && cd sub\n      - X=kept\n      - greet() { echo hi-$1; }\n  build:\n    commands:\n      - pwd\n      - echo x=$X\n      - greet there\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Succeeded, "{}", sink.text());
    let out = sink.output();
    assert_eq!(out[0], r.src_dir.join("sub").display().to_string());
    assert_eq!(out[1..], ["x=kept", "hi-there"]);
}

#[test]
fn v01_runs_each_command_in_its_own_shell() {
    let f = fixture(
        "version: 0.1\nphases:\n  build:\n    commands:\n      - mkdir -p sub && cd sub\n      - X=lost\n      - pwd\n      - echo \"x=$X\"\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(
        sink.output(),
        [r.src_dir.display().to_string(), "x=".to_owned()]
    );
}

#[test]
fn install_failure_skips_to_finalizing() {
    let f = fixture(
        "version: 0.2\nphases:\n  install:\n    commands: [\"false\", echo never]\n    finally: [echo finally-runs]\n  pre_build:\n    commands: [echo no]\n  build:\n    commands: [echo no]\n  post_build:\n    commands: [echo no]\nartifacts:\n  files: ['**/*']\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(phase_status(&r, BuildPhase::Install), Some(Status::Failed));
    for p in [
        BuildPhase::PreBuild,
        BuildPhase::Build,
        BuildPhase::PostBuild,
        BuildPhase::UploadArtifacts,
    ] {
        assert!(r.phase(p).is_none(), "{p:?} must not run");
    }
    assert!(r.phase(BuildPhase::Finalizing).is_some());
    assert_eq!(sink.output(), ["finally-runs"]);
    let install = &r.commands;
    assert_eq!(install.len(), 2, "the command after the failure is skipped");
    assert_eq!(install[0].exit_code, Some(1));
    assert_eq!(install[1].section, Section::Finally);
    assert!(
        r.phase(BuildPhase::Install)
            .unwrap()
            .context
            .as_deref()
            .unwrap()
            .contains("COMMAND_EXECUTION_ERROR")
    );
}

#[test]
fn pre_build_failure_skips_build_and_post_build() {
    let f = fixture(
        "version: 0.2\nphases:\n  pre_build:\n    commands: [exit 3]\n  build:\n    commands: [echo no]\n  post_build:\n    commands: [echo no]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.commands[0].exit_code, Some(3));
    assert!(r.phase(BuildPhase::Build).is_none());
    assert!(sink.output().is_empty());
}

#[test]
fn build_failure_still_runs_post_build_with_succeeding_zero() {
    let f = fixture(
        "version: 0.2\nphases:\n  pre_build:\n    commands: [echo pre=$CODEBUILD_BUILD_SUCCEEDING]\n  build:\n    commands: [\"false\"]\n  post_build:\n    commands: [echo post=$CODEBUILD_BUILD_SUCCEEDING]\nartifacts:\n  files: [buildspec.yml]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(sink.output(), ["pre=1", "post=0"]);
    assert_eq!(
        phase_status(&r, BuildPhase::PostBuild),
        Some(Status::Succeeded)
    );
    assert_eq!(
        phase_status(&r, BuildPhase::UploadArtifacts),
        Some(Status::Succeeded)
    );
    assert_eq!(r.artifacts.len(), 1);
}

#[test]
fn succeeding_flag_reaches_a_v01_post_build_too() {
    let f = fixture(
        "version: 0.1\nphases:\n  build:\n    commands: [\"false\"]\n  post_build:\n    commands: [echo post=$CODEBUILD_BUILD_SUCCEEDING]\n",
        &[],
    );
    let (_, sink) = build(&f);
    assert_eq!(sink.output(), ["post=0"]);
}

#[test]
fn finally_runs_after_a_failure_and_in_order() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands: [echo one, \"false\", echo skipped]\n    finally: [echo f1, echo f2]\n  post_build:\n    commands: [echo post]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(sink.output(), ["one", "f1", "f2", "post"]);
    assert_eq!(phase_status(&r, BuildPhase::Build), Some(Status::Failed));
    assert_eq!(
        ran(&r, BuildPhase::Build),
        ["echo one", "false", "echo f1", "echo f2"]
    );
}

#[test]
fn a_failing_finally_fails_the_phase() {
    let f = fixture(
        "version: 0.2\nphases:\n  pre_build:\n    commands: [echo ok]\n    finally: [\"false\", echo not-reached]\n  build:\n    commands: [echo no]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(phase_status(&r, BuildPhase::PreBuild), Some(Status::Failed));
    assert_eq!(sink.output(), ["ok"]);
    assert!(r.phase(BuildPhase::Build).is_none());
}

#[test]
fn on_failure_continue_goes_on_and_abort_stops() {
    let f = fixture(
        "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands: [\"false\"]\n  pre_build:\n    commands: [echo pre=$CODEBUILD_BUILD_SUCCEEDING]\n  build:\n    on-failure: ABORT\n    commands: [\"false\"]\n  post_build:\n    commands: [echo no]\nartifacts:\n  files: [buildspec.yml]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(sink.output(), ["pre=0"]);
    assert!(r.phase(BuildPhase::PostBuild).is_none());
    assert!(r.phase(BuildPhase::UploadArtifacts).is_none());
}

#[test]
fn exit_ends_the_shell_and_the_next_command_gets_a_new_one() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands: [\"exit 7\"]\n  post_build:\n    commands: [echo after]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.commands[0].exit_code, Some(7));
    assert_eq!(sink.output(), ["after"]);
}

#[test]
fn a_shell_that_dies_with_a_background_job_holding_its_output_does_not_hang() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600 & echo $! > bg.pid; exit 4\n  post_build:\n    commands: [echo after]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.commands[0].exit_code, Some(4));
    assert_eq!(sink.output(), ["after"]);
    let pid = fs::read_to_string(r.src_dir.join("bg.pid")).unwrap();
    assert!(gone(pid.trim()));
}

#[test]
fn the_environment_is_clean_and_has_codebuild_variables() {
    let f = fixture(
        "version: 0.2\nenv:\n  variables:\n    STAGE: dev\n    PORT: 8080\nphases:\n  build:\n    commands:\n      - env | cut -d= -f1 | sort\n      - echo \"$CODEBUILD_BUILD_ID|$CODEBUILD_BUILD_NUMBER|$CODEBUILD_INITIATOR|$CODEBUILD_START_TIME|$CODEBUILD_BUILD_SUCCEEDING\"\n      - test \"$CODEBUILD_SRC_DIR\" = \"$(pwd)\" && echo src-ok\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Succeeded, "{}", sink.text());
    let out = sink.output();
    let names: Vec<&str> = out
        .iter()
        .map(String::as_str)
        .take_while(|l| !l.contains('|'))
        .filter(|n| !matches!(*n, "PWD" | "SHLVL" | "_" | "OLDPWD"))
        .collect();
    assert_eq!(
        names,
        [
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
            "CODEBUILD_BUILD_ARN",
            "CODEBUILD_BUILD_ID",
            "CODEBUILD_BUILD_IMAGE",
            "CODEBUILD_BUILD_NUMBER",
            "CODEBUILD_BUILD_SUCCEEDING",
            "CODEBUILD_INITIATOR",
            "CODEBUILD_KMS_KEY_ID",
            "CODEBUILD_LOG_PATH",
            "CODEBUILD_SOURCE_VERSION",
            "CODEBUILD_SRC_DIR",
            "CODEBUILD_START_TIME",
            "HOME",
            "PATH",
            "PORT",
            "STAGE",
        ]
    );
    let ids = out.iter().find(|l| l.contains('|')).unwrap();
    let parts: Vec<&str> = ids.split('|').collect();
    assert!(parts[0].starts_with("demo:") && parts[0].len() == "demo:".len() + 36);
    assert_eq!(parts[1], "1");
    assert_eq!(parts[2], "tester");
    assert_eq!(parts[3], "1796151600000");
    assert_eq!(parts[4], "1");
    assert_eq!(out.last().unwrap(), "src-ok");
    let (r2, _) = build(&f);
    assert_eq!(r2.number, 2);
    assert_ne!(r2.id, r.id);
}

#[test]
fn overrides_win_over_the_buildspec_and_reserved_names_are_refused() {
    let f = fixture(
        "version: 0.2\nenv:\n  variables:\n    STAGE: dev\n    KEEP: me\nphases:\n  build:\n    commands: [echo $STAGE-$KEEP-$EXTRA]\n",
        &[],
    );
    let (_, sink) = build_with(&f, |o| {
        o.project_env = vec![
            EnvOverride::plain("STAGE", "project"),
            EnvOverride::plain("EXTRA", "p"),
        ];
        o.env_overrides =
            EnvOverride::parse_json(r#"[{"name":"STAGE","value":"prod","type":"PLAINTEXT"}]"#)
                .unwrap();
    });
    assert_eq!(sink.output(), ["prod-me-p"]);
    let (r, _) = build_with(&f, |o| {
        o.env_overrides = vec![EnvOverride::plain("CODEBUILD_BUILD_ID", "x")]
    });
    assert_eq!(r.status, Status::Failed);
    assert_eq!(
        phase_status(&r, BuildPhase::DownloadSource),
        Some(Status::Failed)
    );
    assert!(r.phase(BuildPhase::Install).is_none());
}

#[test]
fn secrets_never_appear_in_the_log() {
    let f = fixture(
        "version: 0.2\nenv:\n  parameter-store:\n    API_KEY: /team/key\n  secrets-manager:\n    DB_PASS: prod/db:password\nphases:\n  build:\n    commands:\n      - echo key=$API_KEY pass=$DB_PASS\n      - echo \"$DB_PASS\" >&2\n      - printf 'partial %s' \"$API_KEY\"\n      - echo s3cr3t-from-override=$OVR\n",
        &[],
    );
    let mut params = JsonParameterStore::default();
    params.insert("/team/key", "k-12345", SsmKind::SecureString);
    let secrets =
        JsonSecretStore::parse(r#"{"prod/db": "{\"password\": \"hunter2\"}", "tok": "t0k3n"}"#)
            .unwrap();
    // The options borrow for the whole build; the stores outlive it.
    let params: &'static JsonParameterStore = Box::leak(Box::new(params));
    let secrets: &'static JsonSecretStore = Box::leak(Box::new(secrets));
    let (r, sink) = build_with(&f, |o| {
        o.parameter_store = params;
        o.secrets = secrets;
        o.env_overrides = vec![EnvOverride {
            name: "OVR".into(),
            value: "tok".into(),
            kind: EnvKind::SecretsManager,
        }];
    });
    assert_eq!(r.status, Status::Succeeded, "{}", sink.text());
    assert_eq!(
        sink.output(),
        [
            "key=*** pass=***",
            "***",
            "partial ***",
            "s3cr3t-from-override=***"
        ]
    );
    let file = fs::read_to_string(&r.log_path).unwrap();
    for secret in ["k-12345", "hunter2", "t0k3n"] {
        assert!(!file.contains(secret), "{secret} leaked into build.log");
        assert!(!sink.text().contains(secret));
    }
}

#[test]
fn a_missing_parameter_fails_the_build_before_any_command() {
    let f = fixture(
        "version: 0.2\nenv:\n  parameter-store:\n    X: /missing\nphases:\n  build:\n    commands: [echo no]\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert!(r.commands.is_empty());
    assert!(
        sink.text()
            .contains("parameter '/missing' is not in the local parameter store")
    );
}

#[test]
fn exported_variables_are_read_at_the_end() {
    let f = fixture(
        "version: 0.2\nenv:\n  exported-variables: [TAG, NEVER]\nphases:\n  build:\n    commands: [export TAG=v-$CODEBUILD_BUILD_NUMBER]\n  post_build:\n    commands: ['TAG=\"$TAG with \\\"quotes\\\"\"']\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Succeeded, "{}", sink.text());
    assert_eq!(r.exported_variables["TAG"], "v-1 with \"quotes\"");
    assert_eq!(r.exported_variables["NEVER"], "");
}

#[test]
fn log_lines_carry_timestamps_and_phase_markers() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n",
        &[],
    );
    let (r, sink) = build(&f);
    let lines = sink.lines();
    let hi = lines.iter().find(|l| l.kind == LineKind::Output).unwrap();
    assert_eq!(hi.phase, BuildPhase::Build);
    assert!(
        hi.render().starts_with("2026/12/01 19:00:00."),
        "{}",
        hi.render()
    );
    let text = sink.text();
    for m in [
        "Entering phase INSTALL",
        "Entering phase BUILD",
        "Running command echo hi",
        "Phase complete: BUILD State: SUCCEEDED",
        "Entering phase UPLOAD_ARTIFACTS",
        "Entering phase FINALIZING",
    ] {
        assert!(text.contains(m), "missing marker '{m}' in\n{text}");
    }
    assert_eq!(fs::read_to_string(&r.log_path).unwrap(), text);
    let order: Vec<BuildPhase> = r.phases.iter().map(|p| p.phase).collect();
    assert_eq!(
        order,
        [
            BuildPhase::Submitted,
            BuildPhase::Queued,
            BuildPhase::Provisioning,
            BuildPhase::DownloadSource,
            BuildPhase::Install,
            BuildPhase::PreBuild,
            BuildPhase::Build,
            BuildPhase::PostBuild,
            BuildPhase::UploadArtifacts,
            BuildPhase::Finalizing,
            BuildPhase::Completed
        ]
    );
}

fn pid_alive(pid: &str) -> bool {
    // A killed process that nobody reaped is a zombie: dead for our purpose.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Waits (by polling the process table, not by sleeping for a set time) until `pid` is gone.
fn gone(pid: &str) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < until {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600 & echo $! > bg.pid\n      - mkfifo block && cat block\n  post_build:\n    commands: [echo no]\n",
        &[],
    );
    // The second command blocks on a FIFO nobody writes: only the timeout ends it. The timeout
    // covers the whole build, so it leaves room for a loaded machine to reach that command.
    let (r, sink) = build_with(&f, |o| o.timeout = Some(Duration::from_secs(2)));
    assert_eq!(r.status, Status::TimedOut, "{}", sink.text());
    assert_eq!(phase_status(&r, BuildPhase::Build), Some(Status::TimedOut));
    assert!(r.phase(BuildPhase::PostBuild).is_none());
    assert_eq!(r.commands[1].exit_code, None);
    let pid = fs::read_to_string(r.src_dir.join("bg.pid")).unwrap();
    assert!(gone(pid.trim()), "background job {pid} outlived the build");
}

/// Stops the build when a command prints `ready`.
struct StopWhenReady(CancelToken);

impl LogSink for StopWhenReady {
    fn line(&self, line: &LogLine) {
        if line.kind == LineKind::Output && line.text == "ready" {
            self.0.cancel();
        }
    }
}

#[test]
fn cancellation_stops_the_build_and_kills_the_group() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600 & echo $! > bg.pid\n      - mkfifo block && echo ready && cat block\n",
        &[],
    );
    let cancel = CancelToken::new();
    let sink = StopWhenReady(cancel.clone());
    let mut opts = BuildOptions::new("demo", Source::Dir(f.src.clone()), &f.data);
    opts.sink = &sink;
    opts.cancel = cancel;
    let r = run_build(&opts).unwrap();
    assert_eq!(r.status, Status::Stopped);
    assert_eq!(phase_status(&r, BuildPhase::Build), Some(Status::Stopped));
    let pid = fs::read_to_string(r.src_dir.join("bg.pid")).unwrap();
    assert!(gone(pid.trim()));
}

fn unzip_names(store_root: &Path, sha: &str) -> Vec<String> {
    let store = slipway_store::Store::open(store_root).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("x");
    store.extract_zip(&sha.parse().unwrap(), &dest).unwrap();
    let mut names = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(&dest, &dest, &mut names);
    names.sort();
    names
}

#[test]
fn artifacts_are_collected_into_the_store() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist/lib/__pycache__ && echo a > dist/app.py && echo b > dist/lib/x.py && echo c > dist/lib/__pycache__/x.pyc\nartifacts:\n  files: ['**/*']\n  base-directory: dist\n  exclude-paths: ['**/__pycache__/**/*']\n  name: app-$CODEBUILD_BUILD_NUMBER\n  secondary-artifacts:\n    flat:\n      files: [dist/**/*.py]\n      discard-paths: yes\n",
        &[],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Succeeded, "{}", sink.text());
    assert_eq!(r.artifacts.len(), 2);
    let primary = &r.artifacts[0];
    assert_eq!(primary.name.as_deref(), Some("app-1"));
    let store = f.data.join("artefacts");
    assert_eq!(unzip_names(&store, &primary.sha256), ["app.py", "lib/x.py"]);
    assert_eq!(
        unzip_names(&store, &r.artifacts[1].sha256),
        ["app.py", "x.py"]
    );
    assert!(r.summary().contains(&format!(
        "Artifact primary (app-1): 2 file(s), {} bytes, sha256:{}",
        primary.size, primary.sha256
    )));
    // The same output stores the same archive.
    let (r2, _) = build(&f);
    assert_eq!(r2.artifacts[0].sha256, primary.sha256);
}

#[test]
fn s3_prefix_locations_and_gc_of_unreferenced_artefacts() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands: [echo $AWS_ENDPOINT_URL > out.txt]\nartifacts:\n  files: [out.txt]\n  s3-prefix: releases/\n  name: app.zip\n",
        &[],
    );
    let (r, _) = build_with(&f, |o| {
        o.aws_endpoint_url = Some("http://127.0.0.1:8040".into())
    });
    let a = &r.artifacts[0];
    assert_eq!(
        a.location.as_deref(),
        Some(format!("releases/{}/app.zip", r.id).as_str())
    );
    assert_eq!(
        fs::read_to_string(r.src_dir.join("out.txt")).unwrap(),
        "http://127.0.0.1:8040\n"
    );
    let store = slipway_store::Store::open(f.data.join("artefacts")).unwrap();
    let orphan = store.put_bytes(b"nobody refers to me").unwrap();
    let stats = slipway_build::gc_artefacts(&f.data).unwrap();
    assert_eq!((stats.kept, stats.removed), (1, 1));
    assert!(!store.contains(&orphan.digest));
    assert!(store.contains(&a.sha256.parse().unwrap()));
}

#[test]
fn no_matching_artifact_fails_upload() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands: [echo]\nartifacts:\n  files: [missing/*]\n",
        &[],
    );
    let (r, _) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(
        phase_status(&r, BuildPhase::UploadArtifacts),
        Some(Status::Failed)
    );
}

#[test]
fn junit_reports_are_read_even_when_the_build_fails() {
    let xml = r#"<testsuite name="unit"><testcase classname="t" name="ok"/><testcase classname="t" name="bad"><failure message="1 != 2"/></testcase><testcase name="later"><skipped/></testcase></testsuite>"#;
    let f = fixture(
        "version: 0.2\nphases:\n  pre_build:\n    commands: [mkdir -p out && cp junit.xml out/ && false]\n  build:\n    commands: [echo no]\nreports:\n  unit:\n    files: ['*.xml']\n    base-directory: out\n",
        &[("junit.xml", xml)],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    let rep = &r.reports[0];
    assert_eq!(rep.group, "demo-unit");
    assert_eq!(rep.files, ["out/junit.xml"]);
    assert_eq!(
        (rep.summary.total, rep.summary.failed, rep.summary.skipped),
        (3, 1, 1)
    );
    assert_eq!(rep.cases[1].status, TestStatus::Failed);
    assert!(sink.text().contains("FAILED t::bad: 1 != 2"));
    let summary = r.summary();
    assert!(
        summary.contains("Build demo:") && summary.contains("FAILED in"),
        "{summary}"
    );
    assert!(summary.contains("  PRE_BUILD         FAILED"), "{summary}");
    assert!(
        summary.contains("Report demo-unit: 3 test(s): 1 succeeded, 1 failed, 0 error, 1 skipped")
    );
    assert!(summary.contains("  FAILED t::bad"));
}

#[test]
fn cache_paths_survive_between_builds_of_a_project() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - test -f deps/installed && echo cached || (mkdir -p deps && echo yes > deps/installed && echo fresh)\ncache:\n  paths: ['deps/**/*']\n",
        &[],
    );
    let (r1, s1) = build(&f);
    assert_eq!(r1.status, Status::Succeeded);
    assert_eq!(s1.output(), ["fresh"]);
    let (_, s2) = build(&f);
    assert_eq!(s2.output(), ["cached"]);
    // Another project does not share it.
    let (_, s3) = build_with(&f, |o| o.project = "other".into());
    assert_eq!(s3.output(), ["fresh"]);
}

#[test]
fn inline_buildspecs_and_sh() {
    let f = fixture("", &[]);
    let (r, sink) = build_with(&f, |o| {
        o.buildspec = BuildspecSource::Inline(
            "version: 0.2\nenv:\n  shell: /bin/sh\nphases:\n  build:\n    commands: [cd /tmp, pwd]\n".into(),
        );
    });
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(sink.output(), ["/tmp"]);
}

#[test]
fn an_invalid_buildspec_is_an_error_with_diagnostics() {
    let f = fixture("version: 0.2\nphases:\n  biuld:\n    commands: [x]\n", &[]);
    let opts = BuildOptions::new("demo", Source::Dir(f.src.clone()), &f.data);
    match run_build(&opts) {
        Err(slipway_build::BuildError::Buildspec { diagnostics, .. }) => {
            assert_eq!(diagnostics[0].path, "phases.biuld");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn git_sources_check_out_a_commit() {
    let f = fixture(
        "version: 0.2\nphases:\n  build:\n    commands: [cat file.txt, echo $CODEBUILD_RESOLVED_SOURCE_VERSION]\n",
        &[("file.txt", "v1")],
    );
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&f.src)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    let first = git(&["rev-parse", "HEAD"]);
    fs::write(f.src.join("file.txt"), "v2").unwrap();
    git(&["commit", "-qam", "two"]);
    let (r, sink) = build_with(&f, |o| {
        o.source = Source::Git {
            repo: f.src.clone(),
            rev: first.clone(),
        };
    });
    assert_eq!(r.status, Status::Succeeded, "{}", sink.text());
    assert_eq!(sink.output(), ["v1".to_owned(), first]);
}

#[test]
fn runtime_versions_that_differ_warn() {
    let f = fixture(
        "version: 0.2\nenv:\n  variables:\n    PY: '2.7'\nphases:\n  install:\n    runtime-versions:\n      python: $PY\n      dotnet: 8.0\n",
        &[],
    );
    let (r, _) = build(&f);
    assert_eq!(r.status, Status::Succeeded);
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("python 2.7 was asked for"),
        "{:?}",
        r.warnings
    );
    assert!(r.warnings[1].contains("'dotnet' is not checked"));
}

/// The issue's acceptance case: pytest in pre_build; a failing test stops the build before any
/// build or post_build command, and the summary names the failing test.
#[test]
fn pytest_failure_in_pre_build_stops_the_build() {
    let python = std::env::var("SLIPWAY_TEST_VENV")
        .map(|v| format!("{v}/bin/python"))
        .unwrap_or_else(|_| "python3".into());
    let has_pytest = std::process::Command::new(&python)
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pytest {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "skipped: no pytest for {python} (scripts/setup installs it; run scripts/test)"
            );
        }
        return;
    }
    let spec = format!(
        "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - {python} -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests\n  build:\n    commands: [echo build-ran]\n  post_build:\n    commands: [echo post-ran]\nreports:\n  pytest:\n    files: [junit.xml]\n    base-directory: reports\n"
    );
    let f = fixture(
        &spec,
        &[(
            "tests/test_app.py",
            "def test_ok():\n    assert 1 == 1\n\ndef test_breaks():\n    assert 1 == 2\n",
        )],
    );
    let (r, sink) = build(&f);
    assert_eq!(r.status, Status::Failed);
    assert!(r.phase(BuildPhase::Build).is_none());
    assert!(!sink.output().iter().any(|l| l.contains("-ran")));
    let rep = &r.reports[0];
    assert_eq!((rep.summary.total, rep.summary.failed), (2, 1));
    let failed: Vec<&str> = rep.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["test_breaks"]);
    assert!(sink.text().contains("FAILED tests.test_app::test_breaks"));
}

#[test]
fn gc_keeps_what_the_state_store_and_the_last_sam_build_name() {
    use slipway_store::state::{Batch, Collection, StateStore as _, sqlite::SqliteStore};
    let data = tempfile::tempdir().unwrap();
    let store = slipway_store::Store::open(data.path().join("artefacts")).unwrap();
    let named_by_state = store.put_bytes(b"a pipeline artefact").unwrap().digest;
    let named_by_manifest = store.put_bytes(b"a SAM package").unwrap().digest;
    let orphan = store.put_bytes(b"nobody's").unwrap().digest;

    let state = SqliteStore::open(data.path().join("state.db")).unwrap();
    let doc = serde_json::json!({
        "stages": [{"outputs": [{"location": format!("s3://slipway-artefacts/sha256:{}", named_by_state.hex().to_uppercase())}]}]
    });
    state
        .commit(Batch::new().put(
            Collection::Functions,
            "123456789012/us-east-1",
            "f",
            None,
            doc,
        ))
        .unwrap();
    drop(state);
    fs::create_dir_all(data.path().join("build")).unwrap();
    fs::write(
        data.path().join("build/.slipway-build.json"),
        serde_json::json!({"fingerprints": {}, "archives": {"Hello": [named_by_manifest.hex(), 13]}})
            .to_string(),
    )
    .unwrap();

    let stats = slipway_build::gc_artefacts(data.path()).unwrap();
    assert_eq!((stats.kept, stats.removed), (2, 1), "{stats:?}");
    assert!(store.contains(&named_by_state));
    assert!(store.contains(&named_by_manifest));
    assert!(!store.contains(&orphan));
}
