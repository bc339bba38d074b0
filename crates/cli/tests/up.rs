//! `slipway up` end to end: the real binary on a real git repository — the first commit
//! delivered, an approval given from another `slipway` process, the next commit delivered,
//! Ctrl-C, and the history read afterwards.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{git, http_get, slipway, write};

const TIMEOUT: Duration = Duration::from_secs(120);

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub up-hello-${Stage}
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
"#;

const PIPELINE: &str = r#"name: shop
source:
  git: main
stages:
  - name: Build
    build: sam
  - name: Dev
    deploy: {stack: shop-dev, template: template.yaml, target: dev}
  - name: Approve
    approval: {message: Promote?}
  - name: Prod
    deploy: {stack: shop-prod, template: template.yaml, targets: [222222222222/eu-west-1], parameters: {Stage: prod}}
"#;

fn commit(dir: &Path, version: &str) {
    write(
        dir,
        &[(
            "src/app.py",
            &format!("def handler(event, context):\n    return '{version}'\n"),
        )],
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", &format!("app {version}")]);
}

struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Up {
    fn start(dir: &Path) -> Up {
        Up::start_with(dir, &["--poll-interval", "0.2"])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .current_dir(dir)
            .args(["up", "--port", "0", "--gateway-port", "0"])
            .args(extra)
            .env_remove("SLIPWAY_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Up {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, part: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(part) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {part:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn up_delivers_every_commit_and_takes_approvals_from_another_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        &[
            ("template.yaml", TEMPLATE),
            ("slipway.yaml", PIPELINE),
            (".gitignore", ".slipway/\n"),
        ],
    );
    git(&dir, &["init", "-q", "-b", "main"]);
    commit(&dir, "v1");

    let mut up = Up::start(&dir);
    let url = up.wait_for("control plane");
    assert!(url.contains("http://127.0.0.1:"), "{url}");
    up.wait_for("Source → Build → Dev → Approve → Prod");
    up.wait_for("Dev/Deploy Succeeded");
    up.wait_for("waiting for approval: slipway pipeline approve shop --stage Approve");

    // Another terminal: the verb finds the running server through .slipway/server.json.
    let approve = slipway(&dir, &["pipeline", "approve", "--stage", "Approve"]);
    assert_eq!(approve.code, 0, "{}\n{}", approve.stdout, approve.stderr);
    assert!(
        approve.stdout.contains("eu-west-1 Succeeded"),
        "{}",
        approve.stdout
    );
    up.wait_for("Prod/Deploy-222222222222-eu-west-1 Succeeded");

    commit(&dir, "v2");
    up.wait_for("app v2");
    up.wait_for("Dev/Deploy Succeeded");

    let pid = up.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    up.wait_for("stopped;");
    let status = up.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // Embedded afterwards: the history is in the project's state store.
    let history = slipway(&dir, &["pipeline", "history"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", history.stdout);
    assert!(
        lines[0].contains("InProgress") && lines[0].contains("app v2"),
        "{}",
        history.stdout
    );
    assert!(
        lines[1].contains("Succeeded") && lines[1].contains("app v1"),
        "{}",
        history.stdout
    );
}

/// `--git-hook`: with polling an hour apart, a commit still starts the pipeline at once — the
/// post-commit hook Slipway wrote runs `slipway pipeline poll`, which finds the running server;
/// a hook of the user's own is left alone.
#[test]
fn up_with_git_hooks_starts_a_commit_at_once_and_keeps_the_users_own_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hooked");
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = "name: hooked\nsource:\n  git: main\nstages:\n  - name: Build\n    build: sam\n  - name: Dev\n    deploy: {stack: hooked-dev, template: template.yaml, target: dev}\n";
    write(
        &dir,
        &[
            ("template.yaml", TEMPLATE),
            ("slipway.yaml", pipeline),
            (".gitignore", ".slipway/\n"),
        ],
    );
    git(&dir, &["init", "-q", "-b", "main"]);
    let own = "#!/bin/sh\necho mine\n";
    write(&dir, &[(".git/hooks/post-merge", own)]);
    commit(&dir, "v1");

    let mut up = Up::start_with(&dir, &["--poll-interval", "3600", "--git-hook"]);
    up.wait_for("git hooks       post-commit, post-rewrite → slipway pipeline poll");
    up.wait_for("Dev/Deploy Succeeded");
    assert_eq!(
        std::fs::read_to_string(dir.join(".git/hooks/post-merge")).unwrap(),
        own
    );
    let hook = std::fs::read_to_string(dir.join(".git/hooks/post-commit")).unwrap();
    assert!(hook.contains("pipeline poll --project"), "{hook}");

    // The next poll is an hour away: only the hook can start this one.
    commit(&dir, "v2");
    up.wait_for("app v2");
    up.wait_for("Dev/Deploy Succeeded");

    // Without new commits, asking again starts nothing.
    let poll = slipway(&dir, &["pipeline", "poll"]);
    assert_eq!(poll.code, 0, "{}\n{}", poll.stdout, poll.stderr);
    assert_eq!(poll.stdout.trim(), "no new commit");
}

#[test]
fn up_refuses_a_directory_that_is_not_a_git_repository() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("template.yaml", TEMPLATE)]);
    let r = slipway(tmp.path(), &["up", "--port", "0", "--gateway-port", "0"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("is not a git repository; slipway up deploys commits"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("git init"), "{}", r.stderr);
}

#[test]
fn kill_9_during_a_build_then_up_again_runs_the_build_again_and_carries_on() {
    interrupted_build(|up| {
        // kill -9: no shutdown, no cleanup; the state store has what was committed.
        up.child.kill().unwrap();
        up.child.wait().unwrap();
    });
}

#[test]
fn ctrl_c_during_a_build_cancels_it_and_up_again_runs_it_again() {
    interrupted_build(|up| {
        let pid = up.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        up.wait_for("stopped;");
        assert_eq!(up.child.wait().unwrap().code(), Some(0));
    });
}

/// Waits (bounded) until a real process — the build's shell — has written `path`.
#[allow(
    clippy::disallowed_methods,
    reason = "polls for a real process's effect"
)]
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    while !path.exists() {
        assert!(Instant::now() < deadline, "no {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A build waiting on a gate file is interrupted by `stop`; `up` again runs it again and the
/// execution carries on to Dev — one execution for the one commit.
fn interrupted_build(stop: impl FnOnce(&mut Up)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    let gate = tmp.path().join("gate");
    let runs = tmp.path().join("runs");
    let pipeline = format!(
        "name: shop\nsource:\n  git: main\nstages:\n  - name: Build\n    build: {{buildspec: buildspec.yml, env: {{GATE: {}, RUNS: {}}}}}\n  - name: Dev\n    deploy: {{stack: shop-dev, template: template.yaml, target: dev}}\n",
        gate.display(),
        runs.display()
    );
    write(
        &dir,
        &[
            ("template.yaml", TEMPLATE),
            ("slipway.yaml", &pipeline),
            (".gitignore", ".slipway/\n"),
            (
                "buildspec.yml",
                "version: 0.2\nphases:\n  build:\n    commands:\n      - echo run >> \"$RUNS\"\n      - while [ ! -f \"$GATE\" ]; do sleep 0.05; done\nartifacts:\n  files: ['**/*']\n",
            ),
        ],
    );
    git(&dir, &["init", "-q", "-b", "main"]);
    commit(&dir, "v1");

    let mut up = Up::start(&dir);
    up.wait_for("Build/Build InProgress");
    wait_for_file(&runs);
    stop(&mut up);

    let mut again = Up::start(&dir);
    again.wait_for("Source → Build → Dev");
    std::fs::write(&gate, "").unwrap();
    again.wait_for("Dev/Deploy Succeeded");
    let text = std::fs::read_to_string(&runs).unwrap();
    assert!(text.lines().count() >= 2, "the build ran again: {text:?}");
    let pid = again.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    again.wait_for("stopped;");
    assert_eq!(again.child.wait().unwrap().code(), Some(0));

    // One execution for the one commit: the restart resumed it, it did not start another.
    let history = slipway(&dir, &["pipeline", "history"]);
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", history.stdout);
    assert!(lines[0].contains("Succeeded"), "{}", history.stdout);
}

#[test]
fn pipeline_run_embedded_in_a_project_up_never_ran_in_uses_the_default_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    std::fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        &[("template.yaml", TEMPLATE), (".gitignore", ".slipway/\n")],
    );
    git(&dir, &["init", "-q", "-b", "trunk"]);
    commit(&dir, "v1");
    let run = slipway(&dir, &["pipeline", "run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Build/Build Succeeded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Dev/Deploy Succeeded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("stack fresh-dev in 123456789012/us-east-1: CREATE_COMPLETE"),
        "{}",
        run.stdout
    );
    let show = slipway(&dir, &["pipeline", "show"]);
    assert!(
        show.stdout.contains("fresh (version 1, SUPERSEDED mode)"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout
            .contains("Deploy [Deploy CloudFormation, run order 1] → dev"),
        "{}",
        show.stdout
    );
    let list = slipway(&dir, &["pipeline", "list"]);
    assert!(
        list.stdout.starts_with("fresh") && list.stdout.contains("Succeeded"),
        "{}",
        list.stdout
    );
}

/// The example the README starts with (`examples/delivery`), as a newcomer runs it: unit tests,
/// staging answering on the gateway, an approval, production in two regions — each with its
/// own API.
#[test]
fn the_delivery_example_goes_from_commit_to_production_in_two_regions() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/delivery");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("delivery");
    for f in [
        "template.yaml",
        "buildspec.yml",
        "slipway.yaml",
        "src/app.py",
        "src/hooks.py",
        "src/test_app.py",
    ] {
        let text = std::fs::read_to_string(example.join(f)).unwrap();
        write(&dir, &[(f, text.as_str())]);
    }
    write(&dir, &[(".gitignore", ".slipway/\n__pycache__/\n")]);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "first commit"]);

    let mut up = Up::start(&dir);
    up.wait_for("Source → Build → Staging → Approve → Prod");
    up.wait_for("Build/Build Succeeded");
    let staging = up.wait_for("API ServerlessRestApi (Prod) of delivery-staging");
    let base = staging.rsplit(' ').next().unwrap().to_owned();
    let (status, body) = http_get(&format!("{base}greet?name=Ada"));
    assert!(status.contains("200"), "{status} {body}");
    assert!(
        body.contains("\"Hello, Ada!\"") && body.contains("\"staging\""),
        "{body}"
    );
    let (status, body) = http_get(&format!("{base}status"));
    assert!(
        status.contains("200") && body.contains("\"ok\""),
        "{status} {body}"
    );

    let approve = slipway(&dir, &["pipeline", "approve", "--stage", "Approve"]);
    assert_eq!(approve.code, 0, "{}\n{}", approve.stdout, approve.stderr);
    let mut prod = Vec::new();
    for _ in 0..2 {
        let line = up.wait_for("of delivery-prod in 222222222222/");
        if line.contains("(Prod)") {
            prod.push(line);
        } else {
            prod.push(up.wait_for("(Prod) of delivery-prod in 222222222222/"));
        }
    }
    let mut regions: Vec<&str> = prod
        .iter()
        .map(|l| {
            if l.contains("eu-west-1") {
                "eu-west-1"
            } else {
                "us-east-1"
            }
        })
        .collect();
    regions.sort_unstable();
    regions.dedup();
    assert_eq!(regions, ["eu-west-1", "us-east-1"], "{prod:?}");
    for line in &prod {
        let base = line.rsplit(' ').next().unwrap();
        let (status, body) = http_get(&format!("{base}greet"));
        assert!(
            status.contains("200") && body.contains("\"prod\""),
            "{status} {body}"
        );
    }
}
