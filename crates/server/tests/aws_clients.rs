//! The AWS-compatible endpoints as real clients see them: boto3 and the AWS CLI from the test
//! venv, with `AWS_ENDPOINT_URL` pointed at a server running in this process.

mod common;

use common::*;
use serde_json::Value;
use slipway_deploy::stack::StackStatus;
use slipway_deploy::traffic::{DeploymentStatus, MINUTE_MS};
use slipway_engine::Clock;
use slipway_engine::providers::load_function;

const APP: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: hello/
  Boom:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: boom
      Runtime: python3.12
      Handler: app.handler
      CodeUri: boom/
  Source:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: source-bucket
Outputs:
  HelloArn:
    Value: !GetAtt Hello.Arn
    Export:
      Name: hello-arn
"#;

const HELLO: &str = r#"
def handler(event, context):
    print("hello log line")
    return {"got": event, "version": context.function_version, "code": "v1"}
"#;

const BOOM: &str = r#"
def handler(event, context):
    raise ValueError("boom")
"#;

fn app_rig() -> Rig {
    let r = Rig::start();
    r.write(&[("hello/app.py", HELLO), ("boom/app.py", BOOM)]);
    let rep = r.deploy("app", APP);
    assert_eq!(rep.status, StackStatus::CreateComplete);
    r
}

#[test]
fn lambda_invoke_versions_and_weighted_aliases_with_boto3_and_the_cli() {
    let r = app_rig();

    // The AWS CLI: invoke writes the payload to a file and prints the status and version.
    let out = r.dir.path().join("out.json");
    let v = r.aws_json(&[
        "lambda",
        "invoke",
        "--function-name",
        "hello",
        "--payload",
        r#"{"x": 1}"#,
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["StatusCode"], 200);
    assert_eq!(v["ExecutedVersion"], "$LATEST");
    let payload: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(payload["got"]["x"], 1);
    assert_eq!(payload["version"], "$LATEST");

    // A function error is a 200 with X-Amz-Function-Error, as on Lambda.
    let v = r.aws_json(&[
        "lambda",
        "invoke",
        "--function-name",
        "boom",
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["FunctionError"], "Unhandled");
    let payload: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(payload["errorType"], "ValueError");

    // A missing function: ResourceNotFoundException, exit status 255 (the CLI's client error).
    let o = r.aws_raw(&["lambda", "get-function", "--function-name", "nope"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ResourceNotFoundException")
            && err.contains(
                "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
            ),
        "{err}"
    );

    // boto3: log tail, DryRun, Event, publish, new code, a weighted alias read back.
    let script = r#"
import base64, io, json, zipfile, collections
import boto3
from botocore.exceptions import ClientError
lam = boto3.client("lambda")

r = lam.invoke(FunctionName="hello", Payload=b'{"a": 2}', LogType="Tail")
assert r["StatusCode"] == 200, r
assert json.loads(r["Payload"].read())["got"] == {"a": 2}
log = base64.b64decode(r["LogResult"]).decode()
assert "hello log line" in log and "START RequestId" in log and "REPORT RequestId" in log, log

assert lam.invoke(FunctionName="hello", InvocationType="DryRun")["StatusCode"] == 204
assert lam.invoke(FunctionName="hello", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202

try:
    lam.invoke(FunctionName="hello", Payload=b"not json")
    raise SystemExit("expected InvalidRequestContentException")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidRequestContentException", e.response

v1 = lam.publish_version(FunctionName="hello")
assert v1["Version"] == "1", v1
# Nothing changed: the same version again.
assert lam.publish_version(FunctionName="hello")["Version"] == "1"

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return {'version': context.function_version, 'code': 'v2'}\n")
u = lam.update_function_code(FunctionName="hello", ZipFile=buf.getvalue())
assert u["Version"] == "$LATEST", u
assert json.loads(lam.invoke(FunctionName="hello")["Payload"].read())["code"] == "v2"
v2 = lam.publish_version(FunctionName="hello", Description="second")
assert v2["Version"] == "2" and v2["Description"] == "second", v2

# Version 1 still runs its own code.
r = lam.invoke(FunctionName="hello", Qualifier="1", Payload=b"{}")
assert r["ExecutedVersion"] == "1"
assert json.loads(r["Payload"].read()) == {"got": {}, "version": "1", "code": "v1"}

versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="hello")["Versions"]]
assert versions == ["$LATEST", "1", "2"], versions
g = lam.get_function(FunctionName="hello", Qualifier="2")
assert g["Configuration"]["Version"] == "2"
assert g["Configuration"]["FunctionArn"].endswith(":function:hello:2")

a = lam.create_alias(FunctionName="hello", Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
assert a["AliasArn"] == "arn:aws:lambda:us-east-1:123456789012:function:hello:live", a
a = lam.get_alias(FunctionName="hello", Name="live")
assert a["FunctionVersion"] == "1" and a["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.5}, a

# The alias's weights are resolved per request.
seen = collections.Counter(
    lam.invoke(FunctionName="hello", Qualifier="live")["ExecutedVersion"] for _ in range(30))
assert set(seen) == {"1", "2"}, seen
seen = collections.Counter(
    lam.invoke(FunctionName="hello:live")["ExecutedVersion"] for _ in range(5))
assert set(seen) <= {"1", "2"}, seen

a = lam.update_alias(FunctionName="hello", Name="live", FunctionVersion="2",
                     RoutingConfig={"AdditionalVersionWeights": {}})
assert a["FunctionVersion"] == "2" and "RoutingConfig" not in a, a
assert lam.invoke(FunctionName="hello", Qualifier="live")["ExecutedVersion"] == "2"

for bad, code in [
    (lambda: lam.get_alias(FunctionName="hello", Name="nope"), "ResourceNotFoundException"),
    (lambda: lam.create_alias(FunctionName="hello", Name="live", FunctionVersion="1"), "ResourceConflictException"),
    (lambda: lam.invoke(FunctionName="hello", Qualifier="9"), "ResourceNotFoundException"),
    (lambda: lam.invoke(FunctionName="hello:live", Qualifier="1"), "InvalidParameterValueException"),
    (lambda: lam.invoke(FunctionName="hello", InvocationType="Sometimes"), "InvalidParameterValueException"),
]:
    try:
        bad()
        raise SystemExit("expected " + code)
    except ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");

    // The CLI reads the alias back too.
    let a = r.aws_json(&[
        "lambda",
        "get-alias",
        "--function-name",
        "hello",
        "--name",
        "live",
    ]);
    assert_eq!(a["FunctionVersion"], "2");
}

#[test]
fn cloudformation_and_s3_through_the_cli() {
    let r = app_rig();

    let v = r.aws_json(&["cloudformation", "describe-stacks", "--stack-name", "app"]);
    let s = &v["Stacks"][0];
    assert_eq!(s["StackName"], "app");
    assert_eq!(s["StackStatus"], "CREATE_COMPLETE");
    assert_eq!(s["Outputs"][0]["OutputKey"], "HelloArn");
    assert_eq!(
        s["Outputs"][0]["OutputValue"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello"
    );
    let id = s["StackId"].as_str().unwrap().to_owned();
    // By stack ID as well; and every stack without a name.
    let v = r.aws_json(&["cloudformation", "describe-stacks", "--stack-name", &id]);
    assert_eq!(v["Stacks"][0]["StackName"], "app");
    let v = r.aws_json(&["cloudformation", "describe-stacks"]);
    assert_eq!(v["Stacks"].as_array().unwrap().len(), 1);

    let o = r.aws_raw(&["cloudformation", "describe-stacks", "--stack-name", "nope"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("(ValidationError)") && err.contains("Stack with id nope does not exist"),
        "{err}"
    );

    let v = r.aws_json(&[
        "cloudformation",
        "describe-stack-events",
        "--stack-name",
        "app",
    ]);
    let events = v["StackEvents"].as_array().unwrap();
    assert_eq!(events[0]["LogicalResourceId"], "app");
    assert_eq!(events[0]["ResourceStatus"], "CREATE_COMPLETE");
    assert!(events.iter().any(|e| e["LogicalResourceId"] == "Hello"
        && e["ResourceStatus"] == "CREATE_COMPLETE"
        && e["ResourceType"] == "AWS::Lambda::Function"));

    let v = r.aws_json(&["cloudformation", "list-exports"]);
    assert_eq!(v["Exports"][0]["Name"], "hello-arn");
    assert_eq!(v["Exports"][0]["ExportingStackId"], id.as_str());

    // S3: the bucket the stack created.
    let file = r.dir.path().join("a b.txt");
    std::fs::write(&file, "hello, bucket\n").unwrap();
    r.aws(&[
        "s3",
        "cp",
        file.to_str().unwrap(),
        "s3://source-bucket/dir/a b.txt",
    ]);
    r.aws(&[
        "s3",
        "cp",
        file.to_str().unwrap(),
        "s3://source-bucket/top.txt",
    ]);
    let ls = r.aws(&["s3", "ls", "s3://source-bucket/"]);
    assert!(ls.contains("PRE dir/") && ls.contains("top.txt"), "{ls}");
    let ls = r.aws(&["s3", "ls", "s3://source-bucket/dir/"]);
    assert!(ls.contains("14 a b.txt"), "{ls}");
    let ls = r.aws(&["s3", "ls", "--recursive", "s3://source-bucket"]);
    assert!(ls.contains("dir/a b.txt") && ls.contains("top.txt"), "{ls}");
    let got = r.dir.path().join("got.txt");
    r.aws(&[
        "s3",
        "cp",
        "s3://source-bucket/dir/a b.txt",
        got.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "hello, bucket\n");

    let o = r.aws_raw(&["s3", "ls", "s3://no-such-bucket/"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("NoSuchBucket"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let script = r#"
import boto3
from botocore.exceptions import ClientError
s3 = boto3.client("s3")
s3.put_object(Bucket="source-bucket", Key="k/1.json", Body=b'{"n": 1}')
assert s3.get_object(Bucket="source-bucket", Key="k/1.json")["Body"].read() == b'{"n": 1}'
h = s3.head_object(Bucket="source-bucket", Key="k/1.json")
assert h["ContentLength"] == 8, h
page = s3.list_objects_v2(Bucket="source-bucket", Prefix="k/")
assert [o["Key"] for o in page["Contents"]] == ["k/1.json"], page
page = s3.list_objects_v2(Bucket="source-bucket", MaxKeys=1)
assert page["IsTruncated"] and page["KeyCount"] == 1, page
rest = s3.list_objects_v2(Bucket="source-bucket", ContinuationToken=page["NextContinuationToken"])
keys = [o["Key"] for o in page["Contents"]] + [o["Key"] for o in rest["Contents"]]
assert keys == ["dir/a b.txt", "k/1.json", "top.txt"], keys
s3.delete_object(Bucket="source-bucket", Key="k/1.json")
for call, code in [
    (lambda: s3.get_object(Bucket="source-bucket", Key="k/1.json"), "NoSuchKey"),
    (lambda: s3.head_object(Bucket="source-bucket", Key="k/1.json"), "404"),
    (lambda: s3.get_object(Bucket="nope", Key="x"), "NoSuchBucket"),
    (lambda: s3.list_multipart_uploads(Bucket="source-bucket"), "NotImplemented"),
    (lambda: s3.list_objects(Bucket="source-bucket"), "NotImplemented"),
]:
    try:
        call()
        raise SystemExit("expected " + code)
    except ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");
}

const CANARY: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: {code}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Hooks:
          PreTraffic: !Ref PreHook
  PreHook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: CodeDeployHook_pre
      Runtime: python3.12
      Handler: hook.handler
      CodeUri: hook/
      Environment:
        Variables:
          CHECK_FUNCTION: hello
"#;

/// A PreTraffic hook as written for AWS: it tests the new code through the Lambda API and
/// reports with CodeDeploy's API, both through boto3 and `AWS_ENDPOINT_URL`.
const HOOK: &str = r#"
import json, os
import boto3

def handler(event, context):
    lam = boto3.client("lambda")
    cd = boto3.client("codedeploy")
    r = lam.invoke(FunctionName=os.environ["CHECK_FUNCTION"], Payload=b'{"probe": true}')
    body = json.loads(r["Payload"].read())
    status = "Succeeded" if body.get("code") == "v2" and "FunctionError" not in r else "Failed"
    cd.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return status
"#;

#[test]
fn a_pre_traffic_hook_written_for_aws_decides_a_canary() {
    let r = Rig::start();
    r.write(&[
        ("v1/app.py", HELLO),
        ("v2/app.py", &HELLO.replace("\"v1\"", "\"v2\"")),
        ("hook/hook.py", HOOK),
    ]);
    let rep = r.deploy("app", &CANARY.replace("{code}", "v1/"));
    assert_eq!(rep.status, StackStatus::CreateComplete);

    let rep = r.deploy("app", &CANARY.replace("{code}", "v2/"));
    assert_eq!(rep.status, StackStatus::UpdateInProgress);
    let d = rep
        .waiting_on
        .expect("the alias update waits for CodeDeploy");

    let live = || {
        let (f, _) = load_function(r.engine.store(), TARGET, "hello")
            .unwrap()
            .unwrap();
        let a = &f.versions.aliases["live"];
        (a.function_version.to_string(), a.additional)
    };
    // The hook runs as a real process and answers through the CodeDeploy endpoint.
    r.wait_for("the PreTraffic hook to succeed", || {
        live() == ("1".to_owned(), Some((2, 0.1)))
    });
    let v = r.aws_json(&["deploy", "get-deployment", "--deployment-id", &d]);
    assert_eq!(v["deploymentInfo"]["status"], "InProgress");
    assert_eq!(
        v["deploymentInfo"]["deploymentConfigName"],
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    );
    let s = r.aws_json(&["cloudformation", "describe-stacks", "--stack-name", "app"]);
    assert_eq!(s["Stacks"][0]["StackStatus"], "UPDATE_IN_PROGRESS");

    // Five minutes on the manual clock; the server's ticker finishes the shift.
    r.clock.advance_ms(5 * MINUTE_MS);
    r.wait_for("the deployment to succeed", || {
        r.engine.deployment(&d).unwrap().unwrap().status == DeploymentStatus::Succeeded
    });
    r.wait_for("the stack update to complete", || {
        r.engine.stack(TARGET, "app").unwrap().unwrap().status == StackStatus::UpdateComplete
    });
    let v = r.aws_json(&["deploy", "get-deployment", "--deployment-id", &d]);
    assert_eq!(v["deploymentInfo"]["status"], "Succeeded");
    let a = r.aws_json(&[
        "lambda",
        "get-alias",
        "--function-name",
        "hello",
        "--name",
        "live",
    ]);
    assert_eq!(a["FunctionVersion"], "2");
    assert!(a.get("RoutingConfig").is_none(), "{a}");
    let s = r.aws_json(&["cloudformation", "describe-stacks", "--stack-name", "app"]);
    assert_eq!(s["Stacks"][0]["StackStatus"], "UPDATE_COMPLETE");

    // A hook answering twice gets CodeDeploy's error.
    let o = r.aws_raw(&[
        "deploy",
        "put-lifecycle-event-hook-execution-status",
        "--deployment-id",
        &d,
        "--lifecycle-event-hook-execution-id",
        "nope",
        "--status",
        "Succeeded",
    ]);
    assert!(!o.status.success());
    let o = r.aws_raw(&["deploy", "get-deployment", "--deployment-id", "d-NOPE00000"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("DeploymentDoesNotExistException"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

const WATCHED: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: {code}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Alarms:
          - !Ref ErrorsAlarm
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

#[test]
fn errors_of_the_new_version_raise_the_alarm_and_roll_the_canary_back() {
    let r = Rig::start();
    r.write(&[("good/app.py", HELLO), ("bad/app.py", BOOM)]);
    assert_eq!(
        r.deploy("app", &WATCHED.replace("{code}", "good/")).status,
        StackStatus::CreateComplete
    );
    let rep = r.deploy("app", &WATCHED.replace("{code}", "bad/"));
    let d = rep
        .waiting_on
        .expect("the alias update waits for CodeDeploy");
    let live = || {
        let (f, _) = load_function(r.engine.store(), TARGET, "hello")
            .unwrap()
            .unwrap();
        let a = &f.versions.aliases["live"];
        (a.function_version.to_string(), a.additional)
    };
    r.wait_for("the canary to start", || {
        live() == ("1".to_owned(), Some((2, 0.1)))
    });

    // The new version fails; the runtime's counters become the alarm's Errors datapoints.
    let script = r#"
import boto3
lam = boto3.client("lambda")
for _ in range(3):
    assert lam.invoke(FunctionName="hello", Qualifier="2")["FunctionError"] == "Unhandled"
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");

    // Well inside the five-minute canary, the alarm stops the deployment.
    let started = r.clock.now_ms();
    r.wait_for("the alarm to stop the deployment", || {
        let dep = r.engine.deployment(&d).unwrap().unwrap();
        if dep.status.is_terminal() {
            return true;
        }
        if r.clock.now_ms() - started < 4 * MINUTE_MS {
            r.clock.advance_ms(10_000);
        }
        false
    });
    let dep = r.engine.deployment(&d).unwrap().unwrap();
    assert_eq!(dep.status, DeploymentStatus::Stopped, "{dep:?}");
    assert_eq!(live(), ("1".to_owned(), None));
    r.wait_for("the stack to roll back", || {
        r.engine.stack(TARGET, "app").unwrap().unwrap().status
            == StackStatus::UpdateRollbackComplete
    });
    let v = r.aws_json(&["deploy", "get-deployment", "--deployment-id", &d]);
    assert_eq!(v["deploymentInfo"]["status"], "Stopped");
    assert_eq!(
        v["deploymentInfo"]["errorInformation"]["code"],
        "ALARM_ACTIVE"
    );
}

/// SigV4 is verified: boto3 and the AWS CLI with the right secret get in (header-signed, and a
/// presigned S3 URL fetched by plain HTTP); a wrong secret, an unknown access key ID, a
/// tampered or expired presigned URL and a clock 16 minutes off get each service's error.
#[test]
fn signatures_are_verified_with_each_services_error_shape() {
    let r = app_rig();
    let script = r#"
import datetime, boto3, urllib.request, urllib.error
from unittest import mock
from botocore.exceptions import ClientError

def client(service, secret="test", key="test"):
    return boto3.client(service, aws_access_key_id=key, aws_secret_access_key=secret)

s3 = client("s3")
s3.put_object(Bucket="source-bucket", Key="dir/a b+c.txt", Body=b"hi")
assert s3.get_object(Bucket="source-bucket", Key="dir/a b+c.txt")["Body"].read() == b"hi"
assert client("lambda").get_function(FunctionName="hello")["Configuration"]["FunctionName"] == "hello"
assert client("cloudformation").describe_stacks(StackName="app")["Stacks"][0]["StackName"] == "app"

def fails(call, status, code):
    try:
        call()
    except ClientError as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"])
        assert got == (status, code), (got, e.response)
        return
    raise SystemExit(f"expected {code}")

fails(lambda: client("lambda", "wrong").get_function(FunctionName="hello"), 403, "InvalidSignatureException")
fails(lambda: client("lambda", key="nobody").get_function(FunctionName="hello"), 403, "UnrecognizedClientException")
fails(lambda: client("codedeploy").get_deployment(deploymentId="d-AAAAAAAAA"), 400, "DeploymentDoesNotExistException")
fails(lambda: client("codedeploy", "wrong").get_deployment(deploymentId="d-AAAAAAAAA"), 400, "InvalidSignatureException")
fails(lambda: client("cloudformation", "wrong").describe_stacks(), 403, "SignatureDoesNotMatch")
fails(lambda: client("cloudformation", key="nobody").describe_stacks(), 403, "InvalidClientTokenId")
fails(lambda: client("s3", "wrong").get_object(Bucket="source-bucket", Key="dir/a b+c.txt"), 403, "SignatureDoesNotMatch")
fails(lambda: client("s3", key="nobody").list_objects_v2(Bucket="source-bucket"), 403, "InvalidAccessKeyId")
fails(lambda: client("sns", "wrong").list_topics(), 403, "SignatureDoesNotMatch")
fails(lambda: client("sqs", "wrong").list_queues(), 403, "SignatureDoesNotMatch")

# A request signed 16 minutes in the past.
past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)
with mock.patch("botocore.auth.get_current_datetime", return_value=past.replace(tzinfo=None)):
    fails(lambda: client("s3").list_objects_v2(Bucket="source-bucket"), 403, "RequestTimeTooSkewed")
    fails(lambda: client("lambda").get_function(FunctionName="hello"), 403, "InvalidSignatureException")

# Presigned (SigV4's query form; boto3 presigns S3 with SigV2 unless told): good, tampered,
# expired.
from botocore.config import Config
s3 = boto3.client("s3", aws_access_key_id="test", aws_secret_access_key="test", config=Config(signature_version="s3v4"))
url = s3.generate_presigned_url("get_object", Params={"Bucket": "source-bucket", "Key": "dir/a b+c.txt"}, ExpiresIn=300)
assert "X-Amz-Signature=" in url, url
assert urllib.request.urlopen(url).read() == b"hi"
def http_error(u):
    try:
        urllib.request.urlopen(u)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    raise SystemExit("expected an HTTP error")
code, body = http_error(url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))
assert code == 403 and "<Code>SignatureDoesNotMatch</Code>" in body, body
old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
with mock.patch("botocore.auth.get_current_datetime", return_value=old.replace(tzinfo=None)):
    stale = s3.generate_presigned_url("get_object", Params={"Bucket": "source-bucket", "Key": "dir/a b+c.txt"}, ExpiresIn=60)
code, body = http_error(stale)
assert code == 403 and "<Code>AccessDenied</Code>" in body and "Request has expired" in body, body
print("ok")
"#;
    assert_eq!(r.python(script).trim(), "ok");

    // The AWS CLI, good secret and bad.
    let out = r.aws_json(&["lambda", "get-function", "--function-name", "hello"]);
    assert_eq!(out["Configuration"]["FunctionName"], "hello");
    let mut bad = r.command(&r.venv.join("bin/aws"));
    bad.env("AWS_SECRET_ACCESS_KEY", "wrong")
        .args(["cloudformation", "describe-stacks"]);
    let out = bad.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
}
