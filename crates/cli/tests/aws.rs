//! `slipway deploy --target aws:…` against `moto` (PyPI's AWS double, `moto_server`), started
//! on a free loopback port for this test and killed at its end. The checks go through the AWS
//! CLI of the test venv. What moto cannot check (invocation, the SAM transform, traffic
//! shifting, real failure statuses) is listed in the README's "Deploying to AWS".

#![cfg(feature = "aws")]

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const BUCKET: &str = "slipway-artifacts-123456789012-us-east-1";

fn venv_bin(name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("SLIPWAY_TEST_VENV")?;
    let p = Path::new(&venv).join("bin").join(name);
    p.is_file().then_some(p)
}

/// The moto server, killed when dropped.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// moto takes no port 0: pick a free port (bind, release), start it there, and retry
    /// with another when it could not listen.
    fn start() -> Moto {
        let bin = venv_bin("moto_server").unwrap_or_else(|| PathBuf::from("moto_server"));
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {} ({e}): run scripts/setup, which installs moto[server]",
                        bin.display()
                    )
                });
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Moto {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                    };
                }
                #[allow(
                    clippy::disallowed_methods,
                    reason = "a bounded poll for moto's port, a real event, not time passing"
                )]
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The environment every AWS client here runs with: moto's test keys, no profile files, no
/// instance metadata.
fn aws_env(cmd: &mut Command, home: &Path, endpoint: Option<&str>, creds: bool) {
    for v in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "SLIPWAY_ENDPOINT",
        "SLIPWAY_DATA_DIR",
        "SLIPWAY_STACK_NAME",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1");
    if creds {
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
    }
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", e);
    }
}

#[allow(clippy::print_stderr, reason = "the transcript a failing test shows")]
fn slipway(dir: &Path, endpoint: Option<&str>, creds: bool, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    aws_env(&mut cmd, dir, endpoint, creds);
    let out = cmd.output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!(
        "$ slipway {}\n[exit {}]\n{}{}",
        args.join(" "),
        r.code,
        r.stdout,
        r.stderr
    );
    r
}

/// The AWS CLI of the test venv against moto; its JSON answer.
fn aws_cli(dir: &Path, moto: &Moto, args: &[&str]) -> serde_json::Value {
    let bin = venv_bin("aws").unwrap_or_else(|| PathBuf::from("aws"));
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .args(["--endpoint-url", &moto.url, "--output", "json"]);
    aws_env(&mut cmd, dir, None, true);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap()
}

fn objects(dir: &Path, moto: &Moto) -> Vec<(String, String)> {
    let v = aws_cli(dir, moto, &["s3api", "list-objects-v2", "--bucket", BUCKET]);
    let mut keys: Vec<(String, String)> = v["Contents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["Key"].as_str().unwrap_or_default().to_owned(),
                        o["LastModified"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

fn template(extra: &str) -> String {
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Stage:
    Type: String
    Default: dev
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{ Service: lambda.amazonaws.com }}
            Action: sts:AssumeRole
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: src/
  Files:
    Type: AWS::S3::Bucket
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: !Sub "api-${{Stage}}"
{extra}"#
    )
}

#[test]
fn package_create_update_delete_against_moto() {
    let moto = Moto::start();
    let url = Some(moto.url.as_str());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.py"), "def handler(e, c):\n    return 1\n").unwrap();
    std::fs::write(dir.join("template.yaml"), template("")).unwrap();
    let target = format!("aws:{ACCOUNT}/us-east-1");
    let base = [
        "deploy",
        "--stack-name",
        "app",
        "--target",
        target.as_str(),
        "--capabilities",
        "CAPABILITY_IAM",
    ];
    let deploy = |more: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(more);
        slipway(dir, url, true, &a)
    };

    // No credentials: said so, before any call.
    let r = slipway(dir, url, false, &base);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no AWS credentials"), "{}", r.stderr);

    // No bucket: the flags that give one are named.
    let r = deploy(&[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--s3-bucket"), "{}", r.stderr);
    assert!(r.stderr.contains("--resolve-s3"), "{}", r.stderr);
    let r = deploy(&["--s3-bucket", "no-such-bucket"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no-such-bucket does not exist"),
        "{}",
        r.stderr
    );

    // Create: the managed bucket made, the code uploaded, a CREATE change set.
    let r = deploy(&["--resolve-s3", "--tags", "team=core"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Uploaded s3://"), "{}", r.stdout);
    assert!(r.stdout.contains("changeset (CREATE)"), "{}", r.stdout);
    assert!(r.stdout.contains("+ Add"), "{}", r.stdout);
    assert!(r.stdout.contains("AWS::Lambda::Function"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Successfully created/updated stack - app")
    );
    let first = objects(dir, &moto);
    assert_eq!(first.len(), 1, "{first:?}");
    let stack = aws_cli(
        dir,
        &moto,
        &["cloudformation", "describe-stacks", "--stack-name", "app"],
    );
    assert_eq!(stack["Stacks"][0]["StackStatus"], "CREATE_COMPLETE");
    let f = aws_cli(dir, &moto, &["lambda", "list-functions"]);
    let code_key = &first[0].0;
    assert!(code_key.ends_with(".zip"), "{code_key}");
    assert_eq!(f["Functions"].as_array().map(Vec::len), Some(1), "{f}");

    // Nothing changed: SAM CLI's message; exit 1 unless --no-fail-on-empty-changeset.
    let r = deploy(&["--resolve-s3"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("No changes to deploy. Stack app is up to date")
    );
    assert!(r.stdout.contains("Unchanged s3://"), "{}", r.stdout);
    let r = deploy(&["--resolve-s3", "--no-fail-on-empty-changeset"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("No changes to deploy"));

    // Update with the same code: nothing uploaded again, an UPDATE change set.
    std::fs::write(
        dir.join("template.yaml"),
        template("  More:\n    Type: AWS::S3::Bucket\n"),
    )
    .unwrap();
    let r = deploy(&["--resolve-s3", "--parameter-overrides", "Stage=prod"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("changeset (UPDATE)"), "{}", r.stdout);
    assert!(!r.stdout.contains("Uploaded"), "{}", r.stdout);
    assert_eq!(objects(dir, &moto), first, "the code was uploaded again");

    // New code: a new key beside the old one.
    std::fs::write(dir.join("src/app.py"), "def handler(e, c):\n    return 2\n").unwrap();
    let r = deploy(&["--resolve-s3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Uploaded s3://"), "{}", r.stdout);
    assert_eq!(objects(dir, &moto).len(), 2);

    // A named target holds the endpoint and the bucket: no AWS_ENDPOINT_URL needed.
    let r = slipway(
        dir,
        None,
        true,
        &[
            "targets",
            "add",
            "mock",
            "--aws",
            "--account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--s3-bucket",
            BUCKET,
            "--endpoint-url",
            &moto.url,
            "--role-arn",
            "arn:aws:iam::123456789012:role/deployer",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = slipway(dir, None, true, &["targets", "list"]);
    assert!(
        r.stdout.contains("mock") && r.stdout.contains(BUCKET),
        "{}",
        r.stdout
    );
    std::fs::write(dir.join("src/app.py"), "def handler(e, c):\n    return 3\n").unwrap();
    let r = slipway(
        dir,
        None,
        true,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--target",
            "mock",
            "--capabilities",
            "CAPABILITY_IAM",
            "--no-execute-changeset",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("waits for review"), "{}", r.stdout);
    assert!(r.stdout.contains("* Modify"), "{}", r.stdout);

    // A stack that fails: its events and the error are shown, exit 1. (moto fails the
    // ExecuteChangeSet call itself rather than rolling back.)
    std::fs::create_dir_all(dir.join("bad")).unwrap();
    std::fs::write(
        dir.join("bad/template.yaml"),
        format!("Resources:\n  Taken:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: {BUCKET}\n"),
    )
    .unwrap();
    let r = slipway(
        &dir.join("bad"),
        url,
        true,
        &[
            "deploy",
            "--stack-name",
            "bad",
            "--target",
            &target,
            "--s3-bucket",
            BUCKET,
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("CREATE_IN_PROGRESS"), "{}", r.stdout);
    assert!(r.stderr.contains("BucketAlreadyExists"), "{}", r.stderr);

    // A template over CloudFormation's 51,200-byte body limit goes up to the bucket and is
    // passed by URL.
    std::fs::create_dir_all(dir.join("big")).unwrap();
    std::fs::write(
        dir.join("big/template.yaml"),
        format!(
            "Metadata:\n  Pad: {}\nResources:\n  Data:\n    Type: AWS::S3::Bucket\n",
            "x".repeat(60_000)
        ),
    )
    .unwrap();
    let r = slipway(
        &dir.join("big"),
        url,
        true,
        &[
            "deploy",
            "--stack-name",
            "big",
            "--target",
            &target,
            "--s3-bucket",
            BUCKET,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        objects(dir, &moto)
            .iter()
            .any(|(k, _)| k.ends_with(".template")),
        "no template object"
    );

    // Delete; the stack is gone.
    aws_cli(
        dir,
        &moto,
        &["cloudformation", "delete-stack", "--stack-name", "app"],
    );
    let stacks = aws_cli(dir, &moto, &["cloudformation", "list-stacks"]);
    let app: Vec<&serde_json::Value> = stacks["StackSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["StackName"] == "app")
        .collect();
    assert!(
        app.iter().all(|s| s["StackStatus"] == "DELETE_COMPLETE"),
        "{app:?}"
    );
    let r = slipway(dir, None, true, &["targets", "remove", "mock"]);
    assert_eq!(r.code, 0);
}

/// The entry point a pipeline's CloudFormation action calls (no terminal, no prompt): create,
/// then "no changes"; a target's `role_arn` assumed through STS on the way.
#[test]
fn deploy_stack_without_a_person_in_the_loop() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.py"), "def handler(e, c):\n    return 1\n").unwrap();
    let template: serde_json::Value = serde_json::json!({
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.12", "Handler": "app.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": "src"}},
            "Files": {"Type": "AWS::S3::Bucket"}
        }
    });
    let store = slipway_store::Store::open(dir.join("artefacts")).unwrap();
    let target = slipway_aws::Target {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        endpoint_url: Some(moto.url.clone()),
        role_arn: Some("arn:aws:iam::123456789012:role/deployer".into()),
        cfn_role_arn: Some("arn:aws:iam::123456789012:role/cfn-service".into()),
        ..slipway_aws::Target::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (first, second, events) = rt.block_on(async {
        let aws = slipway_aws::Aws::connect_with_keys(&target, "testing", "testing")
            .await
            .unwrap();
        let deploy = slipway_aws::StackDeploy {
            stack: "piped",
            template: &template,
            root: dir,
            store: &store,
            resolve_s3: true,
            parameters: &[],
            tags: &[],
            capabilities: &["CAPABILITY_IAM".to_owned()],
            poll: Duration::from_millis(100),
            give_up: Duration::from_secs(60),
        };
        let mut events = Vec::new();
        let first = aws
            .deploy_stack(&deploy, &mut |e| events.push(e.status.clone()))
            .await
            .unwrap();
        let second = aws.deploy_stack(&deploy, &mut |_| {}).await.unwrap();
        (first, second, events)
    });
    match first {
        slipway_aws::Deployed::Finished(info) => assert_eq!(info.status, "CREATE_COMPLETE"),
        other => panic!("{other:?}"),
    }
    assert_eq!(second, slipway_aws::Deployed::NoChanges);
    assert!(events.iter().any(|s| s == "CREATE_COMPLETE"), "{events:?}");
    // The service role CloudFormation acts as went with the change set.
    let stack = aws_cli(
        dir,
        &moto,
        &["cloudformation", "describe-stacks", "--stack-name", "piped"],
    );
    assert_eq!(
        stack["Stacks"][0]["RoleARN"], "arn:aws:iam::123456789012:role/cfn-service",
        "{stack}"
    );
}

/// One pipeline, two kinds of target in one execution: a stack deploys to a local target
/// (Slipway's engine) and one to `aws:ACCOUNT/REGION` (packaged into the managed bucket, a
/// change set on "AWS" — moto here). moto cannot expand SAM, so the AWS stage's template is
/// plain CloudFormation with `Code: src/` as `aws cloudformation package` takes it; the local
/// stage deploys the SAM form of the same function.
#[test]
fn a_pipeline_deploys_to_a_local_and_an_aws_target() {
    let moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let template = template("");
    common::write(
        dir,
        &[
            ("template.yaml", template.as_str()),
            (
                "local.yaml",
                "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: src/\n",
            ),
            (
                "src/app.py",
                "def handler(event, context):\n    return 'hi'\n",
            ),
            (
                "slipway.yaml",
                "name: both\nsource:\n  git: main\nstages:\n  - name: Local\n    deploy: {stack: both-local, template: local.yaml, target: 111111111111/us-east-1}\n  - name: Cloud\n    deploy: {stack: both-cloud, template: template.yaml, target: aws:123456789012/us-east-1, parameters: {Stage: prod}}\n",
            ),
            (".gitignore", ".slipway/\n"),
        ],
    );
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "first"]);
    let r = slipway(dir, Some(&moto.url), true, &["pipeline", "run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("stack both-local in 111111111111/us-east-1: CREATE_COMPLETE"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("stack both-cloud in aws:123456789012/us-east-1: CREATE_COMPLETE"),
        "{}",
        r.stdout
    );
    // On "AWS": the stack with its parameter, and the code in the managed bucket.
    let stacks = aws_cli(
        dir,
        &moto,
        &[
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            "both-cloud",
        ],
    );
    assert_eq!(
        stacks["Stacks"][0]["StackStatus"], "CREATE_COMPLETE",
        "{stacks}"
    );
    assert_eq!(
        stacks["Stacks"][0]["Parameters"][0]["ParameterValue"], "prod",
        "{stacks}"
    );
    assert_eq!(objects(dir, &moto).len(), 1);
}

/// A stack's status on moto, `None` when it has none.
fn stack_status(dir: &Path, moto: &Moto, stack: &str) -> Option<String> {
    let v = aws_cli(dir, moto, &["cloudformation", "list-stacks"]);
    v["StackSummaries"]
        .as_array()?
        .iter()
        .find(|s| s["StackName"] == stack && s["StackStatus"] != "DELETE_COMPLETE")
        .and_then(|s| s["StackStatus"].as_str())
        .map(str::to_owned)
}

/// Every CloudFormation ActionMode of a pipeline's deploy actions, on an `aws:` target:
/// `review: true` gives CHANGE_SET_REPLACE (the change set made, not executed), a manual
/// review, then CHANGE_SET_EXECUTE; REPLACE_ON_FAILURE creates a missing stack; DELETE_ONLY
/// deletes one stack and succeeds on one that never was. The second run has nothing to
/// change: the empty change set is success in both change-set modes, as "no changes" is for
/// `sam deploy`. (moto never rolls a stack back, so REPLACE_ON_FAILURE's delete of a failed
/// stack is checked by `slipway_aws`'s unit tests, not here.)
#[test]
fn a_pipeline_runs_every_action_mode_against_aws() {
    let moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let aws = "aws:123456789012/us-east-1";
    let pipeline = format!(
        "name: modes\nsource:\n  git: main\nstages:\n\
         \x20 - name: Release\n    deploy: {{stack: modes-review, template: template.yaml, target: {aws}, review: true}}\n\
         \x20 - name: Replace\n    deploy: {{stack: modes-replace, template: template.yaml, target: {aws}, mode: replace-on-failure}}\n\
         \x20 - name: Clean\n    actions:\n\
         \x20     - {{name: Drop, deploy: {{stack: modes-replace, target: {aws}, mode: delete-only}}}}\n\
         \x20     - {{name: Never, deploy: {{stack: modes-never, target: {aws}, mode: delete-only}}}}\n"
    );
    common::write(
        dir,
        &[
            (
                "template.yaml",
                "Resources:\n  Files:\n    Type: AWS::S3::Bucket\nOutputs:\n  FilesName:\n    Value: !Ref Files\n",
            ),
            ("slipway.yaml", pipeline.as_str()),
            (".gitignore", ".slipway/\n"),
        ],
    );
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "first"]);

    // CHANGE_SET_REPLACE: a CREATE change set waits for review; nothing is created.
    let r = slipway(dir, Some(&moto.url), true, &["pipeline", "run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "change set slipway-review of stack modes-review in aws:123456789012/us-east-1: 1 change(s)"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(
        stack_status(dir, &moto, "modes-review").as_deref(),
        Some("REVIEW_IN_PROGRESS")
    );
    let cs = aws_cli(
        dir,
        &moto,
        &[
            "cloudformation",
            "describe-change-set",
            "--stack-name",
            "modes-review",
            "--change-set-name",
            "slipway-review",
        ],
    );
    assert_eq!(cs["Status"], "CREATE_COMPLETE", "{cs}");
    assert_eq!(cs["ExecutionStatus"], "AVAILABLE", "{cs}");

    // Approved: CHANGE_SET_EXECUTE, then REPLACE_ON_FAILURE (a create), then DELETE_ONLY of
    // that stack and of one that never existed.
    let r = slipway(
        dir,
        Some(&moto.url),
        true,
        &["pipeline", "approve", "--stage", "Release"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for line in [
        "stack modes-review in aws:123456789012/us-east-1: CREATE_COMPLETE",
        "stack modes-replace in aws:123456789012/us-east-1: CREATE_COMPLETE",
        "stack modes-replace in aws:123456789012/us-east-1 deleted",
        "stack modes-never does not exist in aws:123456789012/us-east-1",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
    }
    assert_eq!(
        stack_status(dir, &moto, "modes-review").as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(stack_status(dir, &moto, "modes-replace"), None);

    // Again, nothing changed: the empty change set is no failure, and executing it is none.
    let r = slipway(dir, Some(&moto.url), true, &["pipeline", "run"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("change set slipway-review of stack modes-review in aws:123456789012/us-east-1: no changes"),
        "{}",
        r.stdout
    );
    let r = slipway(
        dir,
        Some(&moto.url),
        true,
        &["pipeline", "approve", "--stage", "Release"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("stack modes-review in aws:123456789012/us-east-1: CREATE_COMPLETE"),
        "{}",
        r.stdout
    );
}

/// `slipway stack list|events|outputs|delete` on an aws target print the tables a local
/// target prints, read from CloudFormation; a missing stack is an error naming it.
#[test]
fn stack_verbs_read_and_delete_aws_stacks() {
    let moto = Moto::start();
    let url = Some(moto.url.as_str());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(
        dir.join("template.yaml"),
        "Resources:\n  Files:\n    Type: AWS::S3::Bucket\nOutputs:\n  FilesName:\n    Description: the bucket\n    Value: !Ref Files\n",
    )
    .unwrap();
    let target = format!("aws:{ACCOUNT}/us-east-1");
    let t = target.as_str();
    // moto gives no outputs to a stack made by a change set: this one is made directly.
    let body = format!("file://{}", dir.join("template.yaml").display());
    aws_cli(
        dir,
        &moto,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            "shown",
            "--template-body",
            &body,
        ],
    );

    let r = slipway(dir, url, true, &["stack", "list", "--target", t]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let header = r.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        header.starts_with("Stack") && header.contains("Status") && header.contains("Updated"),
        "{}",
        r.stdout
    );
    let row = r
        .stdout
        .lines()
        .find(|l| l.starts_with("shown "))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(row.contains("CREATE_COMPLETE"), "{row}");

    let r = slipway(
        dir,
        url,
        true,
        &["stack", "outputs", "shown", "--target", t],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bucket = aws_cli(
        dir,
        &moto,
        &["cloudformation", "describe-stacks", "--stack-name", "shown"],
    )["Stacks"][0]["Outputs"][0]["OutputValue"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        r.stdout.lines().any(|l| l.starts_with("FilesName")
            && l.contains(&bucket)
            && l.ends_with("the bucket")),
        "{}",
        r.stdout
    );

    let r = slipway(dir, url, true, &["stack", "events", "shown", "--target", t]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("CREATE_IN_PROGRESS")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("CREATE_COMPLETE"),
        "{}",
        r.stdout
    );

    let r = slipway(dir, url, true, &["stack", "delete", "shown", "--target", t]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("Stack shown: DELETE_COMPLETE"),
        "{}",
        r.stdout
    );
    assert_eq!(stack_status(dir, &moto, "shown"), None);

    let r = slipway(
        dir,
        url,
        true,
        &["stack", "outputs", "shown", "--target", t],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("stack shown does not exist in aws:123456789012/us-east-1"),
        "{}",
        r.stderr
    );
    // The verbs of the local engine's deployments say where AWS keeps them instead.
    let r = slipway(dir, url, true, &["deployments", "--target", t]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("CodeDeploy"), "{}", r.stderr);
}

/// Nested stacks as `sam package` sends them: a local `TemplateURL` is packaged in its turn
/// (the child's code relative to the child's directory), uploaded under its content's key and
/// rewritten to the object's HTTPS URL, which CloudFormation (moto here) reads to create the
/// nested stack; unchanged, nothing goes up again. A SAM application's local `Location` and
/// an `AWS::Include` file are packaged alike (moto expands neither, so those are checked in
/// the bucket and the packaged template).
#[test]
fn nested_templates_are_packaged_recursively() {
    let moto = Moto::start();
    let url = Some(moto.url.as_str());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let child = r#"Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { Service: lambda.amazonaws.com }
            Action: sts:AssumeRole
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: !GetAtt Role.Arn
      Code: src/
Outputs:
  FnName:
    Value: !Ref Fn
"#;
    common::write(
        dir,
        &[
            (
                "template.yaml",
                "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: nested/child.yaml\n",
            ),
            ("nested/child.yaml", child),
            ("nested/src/app.py", "def handler(e, c):\n    return 1\n"),
        ],
    );
    let target = format!("aws:{ACCOUNT}/us-east-1");
    let args = [
        "deploy",
        "--stack-name",
        "parent",
        "--target",
        target.as_str(),
        "--resolve-s3",
        "--capabilities",
        "CAPABILITY_IAM",
    ];
    let r = slipway(dir, url, true, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let keys: Vec<String> = objects(dir, &moto).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let child_key = keys.iter().find(|k| k.ends_with(".template")).unwrap();
    assert!(keys.iter().any(|k| k.ends_with(".zip")), "{keys:?}");

    // The parent names the child by URL; the child names its code in the bucket.
    let parent = aws_cli(
        dir,
        &moto,
        &["cloudformation", "get-template", "--stack-name", "parent"],
    );
    let body = parent["TemplateBody"].clone();
    let body: serde_json::Value = match body {
        serde_json::Value::String(s) => serde_json::from_str(&s).unwrap(),
        v => v,
    };
    assert_eq!(
        body["Resources"]["Child"]["Properties"]["TemplateURL"],
        format!("https://s3.us-east-1.amazonaws.com/{BUCKET}/{child_key}")
    );
    let got = dir.join("child.json");
    aws_cli(
        dir,
        &moto,
        &[
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            child_key,
            got.to_str().unwrap(),
        ],
    );
    let uploaded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&got).unwrap()).unwrap();
    let code = &uploaded["Resources"]["Fn"]["Properties"]["Code"];
    assert_eq!(code["S3Bucket"], BUCKET, "{uploaded}");
    assert!(
        code["S3Key"].as_str().unwrap().ends_with(".zip"),
        "{uploaded}"
    );
    assert_eq!(
        uploaded["Resources"]["Fn"]["Properties"]["Role"],
        serde_json::json!({"Fn::GetAtt": ["Role", "Arn"]})
    );
    // moto made the nested stack, and its function, from the URL.
    let f = aws_cli(dir, &moto, &["lambda", "list-functions"]);
    assert_eq!(f["Functions"].as_array().map(Vec::len), Some(1), "{f}");

    // Unchanged: nothing uploaded again.
    let r = slipway(
        dir,
        url,
        true,
        &[&args[..], &["--no-fail-on-empty-changeset"]].concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("Uploaded"), "{}", r.stdout);
    assert_eq!(objects(dir, &moto).len(), 2);

    // A SAM application and an AWS::Include file: packaged through the library.
    common::write(
        dir,
        &[
            (
                "sam/template.yaml",
                "Transform: AWS::Serverless-2016-10-31\nResources:\n  App:\n    Type: AWS::Serverless::Application\n    Properties:\n      Location: app/template.yaml\n  Api:\n    Type: AWS::ApiGateway::RestApi\n    Properties:\n      Body:\n        Fn::Transform:\n          Name: AWS::Include\n          Parameters:\n            Location: api.yaml\n",
            ),
            (
                "sam/api.yaml",
                "openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths: {}\n",
            ),
            (
                "sam/app/template.yaml",
                "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: fn/\n",
            ),
            ("sam/app/fn/app.py", "def handler(e, c):\n    return 2\n"),
        ],
    );
    let text = std::fs::read_to_string(dir.join("sam/template.yaml")).unwrap();
    let template = slipway_model::syntax::parse_document(
        &text,
        slipway_model::syntax::TagMode::CloudFormation,
    )
    .root
    .unwrap()
    .to_json();
    let store = slipway_store::Store::open(dir.join("artefacts")).unwrap();
    let target = slipway_aws::Target {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        endpoint_url: Some(moto.url.clone()),
        ..slipway_aws::Target::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let packaged = rt.block_on(async {
        let aws = slipway_aws::Aws::connect_with_keys(&target, "testing", "testing")
            .await
            .unwrap();
        aws.package(&template, &dir.join("sam"), &store, BUCKET)
            .await
            .unwrap()
    });
    // The application's template, its function's code and the included file.
    assert_eq!(packaged.uploaded.len(), 3, "{:?}", packaged.uploaded);
    let t = &packaged.template;
    let location = t["Resources"]["App"]["Properties"]["Location"]
        .as_str()
        .unwrap();
    assert!(
        location.starts_with(&format!("https://s3.us-east-1.amazonaws.com/{BUCKET}/"))
            && location.ends_with(".template"),
        "{location}"
    );
    let include =
        t["Resources"]["Api"]["Properties"]["Body"]["Fn::Transform"]["Parameters"]["Location"]
            .as_str()
            .unwrap();
    assert!(
        include.starts_with(&format!("s3://{BUCKET}/")) && include.ends_with(".yaml"),
        "{include}"
    );
}

/// `slipway server`, killed when dropped; its endpoint from its first line.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path) -> Server {
        use std::io::BufRead as _;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
        cmd.current_dir(dir)
            .args(["server", "--port", "0", "--gateway-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        aws_env(&mut cmd, dir, None, true);
        let mut child = cmd.spawn().unwrap();
        let mut first = String::new();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        stderr.read_line(&mut first).unwrap();
        // The rest is drained (and shown), so that the server never writes to a closed pipe.
        std::thread::spawn(move || {
            #[allow(clippy::print_stderr, reason = "the server's log, for a failing test")]
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("server: {line}");
            }
        });
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no endpoint in {first:?}"))
            .to_owned();
        Server { child, url }
    }
}

/// The console's stacks page shows the stacks of the project's aws targets, read through the
/// SDK and marked as AWS; one AWS stack's page has its status, outputs and events; a target
/// that cannot be reached shows its error and the page still answers.
#[test]
fn the_console_shows_aws_stacks_and_their_errors() {
    let moto = Moto::start();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    common::write(
        dir,
        &[
            (
                "template.yaml",
                "Resources:\n  Files:\n    Type: AWS::S3::Bucket\nOutputs:\n  FilesName:\n    Value: !Ref Files\n",
            ),
            (
                ".slipway/targets.toml",
                &format!(
                    "[targets.mock]\nkind = \"aws\"\naccount = \"{ACCOUNT}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\ns3_bucket = \"{BUCKET}\"\n\n\
                     [targets.down]\nkind = \"aws\"\naccount = \"{ACCOUNT}\"\nregion = \"eu-west-1\"\nendpoint_url = \"http://127.0.0.1:1\"\n",
                    moto.url
                ),
            ),
        ],
    );
    // moto gives no outputs to a stack made by a change set: this one is made directly.
    let body = format!("file://{}", dir.join("template.yaml").display());
    aws_cli(
        dir,
        &moto,
        &[
            "cloudformation",
            "create-stack",
            "--stack-name",
            "seen",
            "--template-body",
            &body,
        ],
    );

    let server = Server::start(dir);
    let (status, body) = common::http_get(&format!("{}/console/stacks", server.url));
    assert!(status.contains("200"), "{status}\n{body}");
    assert!(body.contains("On AWS"), "{body}");
    assert!(body.contains("AWS 123456789012/us-east-1"), "{body}");
    assert!(body.contains("href=\"/console/aws/mock/seen\""), "{body}");
    assert!(body.contains("CREATE_COMPLETE"), "{body}");
    assert!(
        body.contains("Cannot read the stacks of down"),
        "the unreachable target's error is shown: {body}"
    );

    let (status, body) = common::http_get(&format!("{}/console/aws/mock/seen", server.url));
    assert!(status.contains("200"), "{status}\n{body}");
    assert!(body.contains("FilesName"), "{body}");
    assert!(body.contains("CREATE_COMPLETE"), "{body}");
    assert!(body.contains("AWS::CloudFormation::Stack"), "{body}");
    let (status, _) = common::http_get(&format!("{}/console/aws/nope/seen", server.url));
    assert!(status.contains("404"), "{status}");
}
