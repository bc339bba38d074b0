//! `slipway deploy`, `stack …`, `deployments`, `deployment …`, `rollback` and `server` end to
//! end: the real binary, embedded (a server inside the command over `.slipway/`) and against a
//! running `slipway server` via `--endpoint`; canaries rehearsed with `--time-scale`.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Run, slipway, write};

const TIMEOUT: Duration = Duration::from_secs(60);

const APP: &str = "def handler(event, context):\n    return 'hi'\n";

fn template(preference: &str) -> String {
    format!(
        r#"Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hi
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
{preference}      Environment:
        Variables:
          GREETING: !Ref Greeting
Outputs:
  FunctionArn:
    Description: the function
    Value: !GetAtt Hello.Arn
"#
    )
}

const CANARY: &str = "      DeploymentPreference:\n        Type: Canary10Percent5Minutes\n";

fn project(preference: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("template.yaml", &template(preference)),
            ("src/app.py", APP),
        ],
    );
    dir
}

#[track_caller]
fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

#[test]
fn an_embedded_deploy_creates_updates_plans_reviews_and_deletes_a_stack() {
    let dir = project("");
    let p = dir.path();

    // --dry-run shows the plan and changes nothing.
    let r = slipway(p, &["deploy", "--stack-name", "app", "--dry-run"]);
    ok(&r);
    assert!(
        r.stdout.contains("dry run: nothing was changed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Action   LogicalId"), "{}", r.stdout);
    assert!(r.stdout.contains("+ Add    Hello "), "{}", r.stdout);
    let r = slipway(p, &["stack", "list"]);
    ok(&r);
    assert!(!r.stdout.contains("app"), "{}", r.stdout);

    // Create. A server.json left by a killed server (nothing listens there) is ignored.
    write(
        p,
        &[(
            ".slipway/server.json",
            r#"{"endpoint": "http://127.0.0.1:9", "pid": 1}"#,
        )],
    );
    let r = slipway(p, &["deploy", "--stack-name", "app"]);
    ok(&r);
    // The embedded server announced itself there while it ran, and withdrew.
    assert!(!p.join(".slipway/server.json").exists());
    assert!(
        r.stdout.contains("embedded server over [TEMP]/.slipway"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("CloudFormation stack changeset"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("CREATE_COMPLETE"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("CloudFormation outputs from deployed stack"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("arn:aws:lambda:us-east-1:123456789012:function:hello"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Successfully created/updated stack - app"),
        "{}",
        r.stdout
    );

    // Update: the function is modified in place.
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=yo",
        ],
    );
    ok(&r);
    let modify = r
        .stdout
        .lines()
        .find(|l| l.starts_with("* Modify") && l.contains("Hello "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(
        modify.contains("AWS::Lambda::Function") && modify.ends_with("False"),
        "{modify}"
    );
    assert!(r.stdout.contains("UPDATE_COMPLETE "), "{}", r.stdout);

    // Nothing to change: exit 1 as `sam deploy`, 0 when told not to fail.
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=yo",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("No changes to deploy. Stack app is up to date"),
        "{}",
        r.stdout
    );
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=yo",
            "--no-fail-on-empty-changeset",
        ],
    );
    ok(&r);

    // A change set to review: created, nothing deployed.
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=zz",
            "--no-execute-changeset",
        ],
    );
    ok(&r);
    assert!(
        r.stdout.contains("waits for review; nothing was deployed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("* Modify"), "{}", r.stdout);
    assert!(!r.stdout.contains("UPDATE_IN_PROGRESS"), "{}", r.stdout);

    let r = slipway(p, &["stack", "list"]);
    ok(&r);
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("app "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(row.contains("UPDATE_COMPLETE"), "{row}");
    let r = slipway(p, &["stack", "events", "app"]);
    ok(&r);
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.starts_with("REVIEW_IN_PROGRESS") && first.contains("AWS::CloudFormation::Stack"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("UPDATE_COMPLETE "),
        "{}",
        r.stdout
    );
    let r = slipway(p, &["stack", "outputs", "app"]);
    ok(&r);
    assert!(
        r.stdout.contains("FunctionArn") && r.stdout.contains("the function"),
        "{}",
        r.stdout
    );

    let r = slipway(p, &["stack", "delete", "app"]);
    ok(&r);
    assert!(
        r.stdout.contains("Stack app: DELETE_COMPLETE"),
        "{}",
        r.stdout
    );
    let r = slipway(p, &["stack", "list"]);
    assert!(!r.stdout.contains("app "), "{}", r.stdout);

    // Errors: a stack that does not exist; a deploy without a stack name.
    let r = slipway(p, &["stack", "outputs", "nope"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Stack with id nope does not exist"),
        "{}",
        r.stderr
    );
    let r = slipway(p, &["deploy"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no stack name"), "{}", r.stderr);
}

#[test]
fn samconfig_deploy_parameters_feed_deploy() {
    let dir = project("");
    let p = dir.path();
    write(
        p,
        &[(
            "samconfig.toml",
            "version = 0.1\n[default.deploy.parameters]\nstack_name = \"from-config\"\n\
             parameter_overrides = \"Greeting=configured\"\nregion = \"eu-west-1\"\n\
             s3_bucket = \"unused\"\n",
        )],
    );
    let r = slipway(p, &["deploy"]);
    ok(&r);
    assert!(
        r.stdout
            .contains("Deploying stack from-config to 123456789012/eu-west-1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("arn:aws:lambda:eu-west-1:123456789012:function:hello"),
        "{}",
        r.stdout
    );
    // `stack` reads the deploy table's target too.
    let r = slipway(p, &["stack", "list"]);
    assert!(r.stdout.contains("from-config"), "{}", r.stdout);
}

#[test]
fn a_canary_is_rehearsed_embedded_with_a_time_scale() {
    let dir = project(CANARY);
    let p = dir.path();
    ok(&slipway(
        p,
        &["deploy", "--stack-name", "app", "--time-scale", "6000"],
    ));
    // 5 minutes at x6000 are 50 ms.
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=v2",
            "--time-scale",
            "6000",
        ],
    );
    ok(&r);
    assert!(
        r.stdout.contains(
            "hello:live: version 1 -> 2 (CodeDeployDefault.LambdaCanary10Percent5Minutes)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("10% on version 2, 90% on version 1"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("100% on version 2, 0% on version 1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(" Succeeded"), "{}", r.stdout);
    let r = slipway(p, &["deployments", "hello"]);
    ok(&r);
    assert!(
        r.stdout.contains("hello:live   1 -> 2") && r.stdout.contains("Succeeded"),
        "{}",
        r.stdout
    );
    let r = slipway(p, &["deploy", "--stack-name", "app", "--time-scale", "0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("time scale"), "{}", r.stderr);
}

enum Line {
    Text(String),
    Eof,
}

/// A `slipway server` child on an ephemeral port, its stderr read on a thread.
struct ServerProc {
    child: Child,
    lines: mpsc::Receiver<Line>,
    endpoint: String,
}

impl ServerProc {
    fn start(dir: &Path, args: &[&str]) -> ServerProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
        cmd.current_dir(dir)
            .args(["server", "--port", "0", "--gateway-port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for var in common::VARS {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(Line::Text(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Line::Eof);
        });
        let first = match lines.recv_timeout(TIMEOUT) {
            Ok(Line::Text(l)) => l,
            _ => panic!("slipway server printed nothing"),
        };
        let endpoint = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        ServerProc {
            child,
            lines,
            endpoint,
        }
    }

    /// SIGTERM, then the process ends cleanly (exit 0, stderr closed).
    fn stop(mut self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Line::Text(_)) => {}
                Ok(Line::Eof) => break,
                Err(_) => panic!("slipway server did not stop"),
            }
        }
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `slipway deploy …` started in the background (its output collected when it ends).
fn spawn_slipway(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in common::VARS {
        cmd.env_remove(var);
    }
    cmd.spawn().unwrap()
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Polls `slipway deployments` (bounded, real time) for a deployment in progress; its ID. This
/// waits for an effect of real processes (the server's ticker), not for time to pass.
#[allow(clippy::disallowed_methods)]
fn in_progress(dir: &Path, endpoint: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let r = slipway(dir, &["deployments", "hello", "--endpoint", endpoint]);
        ok(&r);
        if let Some(row) = r
            .stdout
            .lines()
            .find(|l| l.contains("InProgress") && l.contains("10%"))
        {
            return row.split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no deployment in progress:\n{}",
            r.stdout
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deploys_reach_a_running_server_and_operators_skip_waits_and_roll_back() {
    let dir = project(CANARY);
    let p = dir.path();
    // x2: a 5-minute canary would take 150 s; nothing in this test waits for it.
    let server = ServerProc::start(p, &["--data-dir", "server-data", "--time-scale", "2"]);
    let ep = server.endpoint.clone();

    let r = slipway(p, &["deploy", "--stack-name", "app", "--endpoint", &ep]);
    ok(&r);
    assert!(
        r.stdout
            .contains(&format!("app to 123456789012/us-east-1 ({ep})")),
        "{}",
        r.stdout
    );
    assert!(
        !p.join(".slipway").exists(),
        "the project's data dir was used"
    );
    assert!(p.join("server-data/state.db").exists());
    // Without an endpoint, a verb over that data directory finds the running server instead of
    // starting a second engine over the same state.
    assert!(p.join("server-data/server.json").exists());
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--data-dir",
            "server-data",
            "--dry-run",
        ],
    );
    ok(&r);
    assert!(
        r.stdout.contains(&format!(
            "(the server running over [TEMP]/server-data at {ep})"
        )),
        "{}",
        r.stdout
    );

    // v2: the deploy follows the canary until an operator skips the wait.
    let deploy = spawn_slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=v2",
            "--endpoint",
            &ep,
        ],
    );
    let id = in_progress(p, &ep);
    let r = slipway(p, &["deployment", "skip-wait", &id, "--endpoint", &ep]);
    ok(&r);
    assert!(
        r.stdout.contains(&format!(
            "skip-wait {id}: hello:live Succeeded, 100% on version 2"
        )),
        "{}",
        r.stdout
    );
    let r = finish(deploy);
    ok(&r);
    assert!(r.stdout.contains("10% on version 2"), "{}", r.stdout);
    assert!(r.stdout.contains("100% on version 2"), "{}", r.stdout);
    assert!(r.stdout.contains("UPDATE_COMPLETE "), "{}", r.stdout);
    // A finished deployment cannot be continued.
    let r = slipway(p, &["deployment", "continue", &id, "--endpoint", &ep]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not allowed"), "{}", r.stderr);

    // v3: rolled back while shifting; the deploy ends in UPDATE_ROLLBACK_COMPLETE, exit 1.
    let deploy = spawn_slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=v3",
            "--endpoint",
            &ep,
        ],
    );
    let id3 = in_progress(p, &ep);
    let r = slipway(p, &["rollback", "hello", "--endpoint", &ep]);
    ok(&r);
    assert!(
        r.stdout.contains(&format!(
            "Stopped deployment {id3} of hello:live with rollback: all traffic on version 2"
        )),
        "{}",
        r.stdout
    );
    let r = finish(deploy);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Stopped"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Stack app ended in UPDATE_ROLLBACK_COMPLETE"),
        "{}",
        r.stdout
    );

    // No deployment in progress: the alias is moved back by hand.
    let r = slipway(
        p,
        &["rollback", "hello", "--alias", "live", "--endpoint", &ep],
    );
    ok(&r);
    assert!(
        r.stdout
            .contains("Moved hello:live from version 2 to version 1"),
        "{}",
        r.stdout
    );

    let r = slipway(p, &["stack", "list", "--endpoint", &ep]);
    ok(&r);
    assert!(
        r.stdout.contains("UPDATE_ROLLBACK_COMPLETE"),
        "{}",
        r.stdout
    );
    let r = slipway(p, &["stack", "--endpoint", &ep, "outputs", "app"]);
    ok(&r);
    assert!(r.stdout.contains("FunctionArn"), "{}", r.stdout);
    let r = slipway(p, &["deployments", "--endpoint", &ep]);
    ok(&r);
    assert_eq!(
        r.stdout.lines().filter(|l| l.starts_with("d-")).count(),
        2,
        "{}",
        r.stdout
    );
    server.stop();
    assert!(!p.join("server-data/server.json").exists());
}

#[test]
fn a_server_off_loopback_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let r = slipway(dir.path(), &["server", "--bind", "0.0.0.0", "--port", "0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("without a token"), "{}", r.stderr);
}

const HOOKED: &str = r#"Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hi
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
      Environment:
        Variables:
          GREETING: !Ref Greeting
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Hooks:
          PreTraffic: !Ref PreHook
        Alarms:
          - !Ref ErrorsAlarm
  PreHook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: CodeDeployHook_pre
      Runtime: python3.11
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
"#;

/// A PreTraffic hook as written for AWS: boto3's CodeDeploy client, `AWS_ENDPOINT_URL` from
/// the server.
const HOOK: &str = r#"
import boto3

def handler(event, context):
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status="Succeeded",
    )
"#;

#[test]
fn deploy_shows_hook_results_and_alarm_states() {
    let venv = std::env::var_os("SLIPWAY_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    assert!(
        venv.join("bin/python3.11").exists(),
        "no venv with boto3 at {}: run scripts/setup",
        venv.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        &[
            ("template.yaml", HOOKED),
            ("src/app.py", APP),
            ("hook/hook.py", HOOK),
        ],
    );
    // `python3.11` for the functions is the venv's (boto3 in it): first on the server's PATH.
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
        cmd.current_dir(p).args(args).env("PATH", &path);
        for var in common::VARS {
            cmd.env_remove(var);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    ok(&run(&["deploy", "--stack-name", "app"]));
    // x60: the hook (a real Python process) has a minute of real time, the canary 5 s.
    let r = run(&[
        "deploy",
        "--stack-name",
        "app",
        "--parameter-overrides",
        "Greeting=v2",
        "--time-scale",
        "60",
    ]);
    ok(&r);
    assert!(
        r.stdout
            .contains("BeforeAllowTraffic hook CodeDeployHook_pre: Pending"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("BeforeAllowTraffic hook CodeDeployHook_pre: Succeeded"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("alarm hello-errors: "), "{}", r.stdout);
    assert!(
        r.stdout.contains("10% on version 2, 90% on version 1"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(" Succeeded"), "{}", r.stdout);
}

/// `slipway server` serves what `slipway deploy` put in it: the deploy prints the API's invoke
/// URLs on the server's gateway, and they answer with the function's response.
#[test]
fn a_deployed_api_answers_on_the_servers_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        &[
            (
                "template.yaml",
                "Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: src/\n      Events:\n        Get:\n          Type: Api\n          Properties: {Path: /hello, Method: get}\n",
            ),
            (
                "src/app.py",
                "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hello from ' + event['path']}\n",
            ),
        ],
    );
    let server = ServerProc::start(p, &["--data-dir", "server-data"]);
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "web",
            "--endpoint",
            &server.endpoint,
        ],
    );
    ok(&r);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("API ServerlessRestApi (Prod) at "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let url = line.split(' ').nth(4).unwrap();
    let (status, body) = common::http_get(&format!("{url}hello"));
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {body}");
    assert_eq!(body, "hello from /hello");
    server.stop();
}

#[test]
fn capabilities_given_to_a_local_deploy_are_checked_as_cloudformation_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        &[(
            "template.yaml",
            "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: deployer\n      AssumeRolePolicyDocument: {}\n",
        )],
    );
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "iam",
            "--capabilities",
            "CAPABILITY_IAM",
        ],
    );
    assert_ne!(r.code, 0, "{}", r.stdout);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("Requires capabilities : [CAPABILITY_NAMED_IAM]"),
        "{all}"
    );
    let r = slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "iam",
            "--capabilities",
            "CAPABILITY_NAMED_IAM",
        ],
    );
    ok(&r);
}
