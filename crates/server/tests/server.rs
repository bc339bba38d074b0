//! The server as a process: who may talk to it, what the gateway hears, and that shutting down
//! leaves no function process behind.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use slipway_deploy::stack::StackStatus;
use slipway_server::{Config, RouteSink, Server, ServerError};

#[test]
fn a_non_loopback_bind_requires_a_token() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::new(dir.path());
    c.bind = "0.0.0.0:0".parse().unwrap();
    let e = rt.block_on(Server::new(c).start()).err().unwrap();
    assert!(matches!(e, ServerError::TokenRequired { .. }), "{e}");
    assert!(e.to_string().contains("requires one"), "{e}");
}

#[test]
fn with_a_token_only_clients_that_carry_it_get_in() {
    let r = Rig::start_with(|c| {
        c.bind = "0.0.0.0:0".parse().unwrap();
        c.token = Some("s3cret".into());
    });
    let script = r#"
import boto3
from botocore.exceptions import ClientError
ok = boto3.client("cloudformation", aws_access_key_id="s3cret", aws_secret_access_key="s3cret")
assert ok.describe_stacks()["Stacks"] == []
# The token as the access key ID but a wrong secret: the signature does not verify.
wrong = boto3.client("cloudformation", aws_access_key_id="s3cret", aws_secret_access_key="x")
try:
    wrong.describe_stacks()
    raise SystemExit("expected SignatureDoesNotMatch")
except ClientError as e:
    assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
bad = boto3.client("cloudformation")
try:
    bad.describe_stacks()
    raise SystemExit("expected AccessDenied")
except ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl RouteSink for Recorder {
    fn routes_changed(&self, _: &str, api: &str) {
        self.0.lock().unwrap().push(format!("routes {api}"));
    }
    fn alias_changed(&self, _: &str, function: &str, alias: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("alias {function}:{alias}"));
    }
}

const API_APP: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: hello/
      AutoPublishAlias: live
      Events:
        Get:
          Type: Api
          Properties:
            Path: /hello
            Method: get
"#;

const PID: &str = r#"
import os
def handler(event, context):
    return {"pid": os.getpid()}
"#;

#[test]
fn the_gateway_hears_of_routes_and_aliases_and_shutdown_stops_every_function() {
    let routes = Arc::new(Recorder::default());
    let sink = routes.clone();
    let mut r = Rig::start_with(move |c| c.routes = sink);
    r.write(&[("hello/app.py", PID)]);
    assert_eq!(r.deploy("app", API_APP).status, StackStatus::CreateComplete);
    let told = routes.0.lock().unwrap().clone();
    assert!(told.contains(&"alias hello:live".to_owned()), "{told:?}");
    assert!(told.iter().any(|t| t.starts_with("routes ")), "{told:?}");

    // The function got AWS_ENDPOINT_URL and credentials: boto3 inside it would reach us.
    let out = r.dir.path().join("out.json");
    r.aws(&[
        "lambda",
        "invoke",
        "--function-name",
        "hello:live",
        out.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let pid = v["pid"].as_u64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    let server = r.server.take().unwrap();
    r.rt.block_on(server.shutdown()).unwrap();
    // SIGKILL of its process group is sent on shutdown; it lands at once, not synchronously.
    r.wait_for("the function process to be gone", || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.is_empty() || status.contains("State:\tZ")
    });
}

const PLAIN: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: hello/
"#;

#[test]
fn after_a_restart_every_stored_version_runs_its_own_code() {
    let mut r = Rig::start();
    r.write(&[(
        "hello/app.py",
        "def handler(event, context):\n    return 'v1'\n",
    )]);
    assert_eq!(r.deploy("app", PLAIN).status, StackStatus::CreateComplete);
    let script = r#"
import io, zipfile, boto3
lam = boto3.client("lambda")
assert lam.publish_version(FunctionName="hello")["Version"] == "1"
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return 'v2'\n")
assert lam.update_function_code(FunctionName="hello", ZipFile=buf.getvalue(), Publish=True)["Version"] == "2"
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");
    r.restart();
    let script = r#"
import json, boto3
lam = boto3.client("lambda")
got = {q: json.loads(lam.invoke(FunctionName="hello", Qualifier=q)["Payload"].read())
       for q in ["1", "2", "$LATEST"]}
assert got == {"1": "v1", "2": "v2", "$LATEST": "v2"}, got
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");
}
