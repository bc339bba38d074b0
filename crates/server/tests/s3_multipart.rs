//! S3 multipart uploads on this server's S3 endpoint: the real AWS CLI's `aws s3 cp` of a
//! 9 MB zip (above its 8 MB `multipart_threshold`) assembles the object, sends the bucket's
//! `ObjectCreated:CompleteMultipartUpload` notification and starts the pipeline watching the
//! key; boto3 drives the error cases, and nothing of an upload is left behind.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::Rig;
use slipway_deploy::stack::StackStatus;
use slipway_pipeline::exec::Executor;
use slipway_pipeline::{ExecutionStatus, PipelineState};
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

/// The uploads in progress (directories under the data dir's `s3-multipart`).
fn uploads_left(rig: &Rig) -> Vec<String> {
    let root = rig.dir.path().join("data/s3-multipart");
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

const TEMPLATE: &str = r#"
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: big-uploads
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:CompleteMultipartUpload
            Queue: !GetAtt Created.Arn
  Created:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: created
"#;

const PIPELINE: &str = r#"
name: bigzip
source:
  s3: {bucket: big-uploads, key: app/source.zip}
stages:
  - name: Build
    build: buildspec.yml
"#;

const BUILDSPEC: &str = r#"version: 0.2
env:
  exported-variables: [BLOB_SIZE]
phases:
  build:
    commands:
      - export BLOB_SIZE="$(wc -c < blob.bin | tr -d ' ')"
artifacts:
  files: [buildspec.yml]
"#;

/// A zip of the buildspec and 9 MB of random bytes, stored (not deflated) so the zip is
/// bigger than the AWS CLI's 8 MB multipart threshold.
fn big_zip(rig: &Rig, path: &Path) {
    rig.python(&format!(
        r#"
import os, zipfile
with zipfile.ZipFile({path:?}, "w", compression=zipfile.ZIP_STORED) as z:
    z.writestr("buildspec.yml", {BUILDSPEC:?})
    z.writestr("blob.bin", os.urandom(9 * 1024 * 1024))
"#,
        path = path.to_str().unwrap(),
    ));
}

#[test]
fn the_aws_cli_uploads_a_big_zip_in_parts_and_the_watching_pipeline_starts() {
    let rig = rig();
    let report = rig.deploy("uploads", TEMPLATE);
    assert_eq!(
        report.status,
        StackStatus::CreateComplete,
        "{:?}",
        report.plan
    );
    let outcome = slipway_model::pipeline::parse_file(PIPELINE, "slipway.yaml", "bigzip");
    assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics);
    let ex = exec(&rig);
    ex.define(outcome.pipelines.into_iter().next().unwrap())
        .unwrap();

    let zip = rig.dir.path().join("source.zip");
    big_zip(&rig, &zip);
    let len = std::fs::metadata(&zip).unwrap().len();
    assert!(len > 9 * 1024 * 1024);
    rig.aws(&[
        "s3",
        "cp",
        zip.to_str().unwrap(),
        "s3://big-uploads/app/source.zip",
    ]);

    // The object is whole.
    let back = rig.dir.path().join("back.zip");
    rig.aws(&[
        "s3",
        "cp",
        "s3://big-uploads/app/source.zip",
        back.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&zip).unwrap());
    assert!(uploads_left(&rig).is_empty(), "{:?}", uploads_left(&rig));

    // The notification names the multipart completion.
    let body = rig.python(
        r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="created")["QueueUrl"]
print(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
"#,
    );
    let queued: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let rec = &queued["Records"][0];
    assert_eq!(rec["eventName"], "ObjectCreated:CompleteMultipartUpload");
    assert_eq!(rec["s3"]["object"]["key"], "app/source.zip");
    assert_eq!(rec["s3"]["object"]["size"], len);
    let etag = rec["s3"]["object"]["eTag"].as_str().unwrap();
    assert!(etag.ends_with("-2"), "8 MB + the rest: {etag}");

    // The pipeline ran on the assembled zip.
    let st = wait(&rig, "bigzip", "the upload's execution", |s| {
        s.executions
            .first()
            .is_some_and(|x| x.status != ExecutionStatus::InProgress)
    });
    assert_eq!(st.executions.len(), 1);
    let x = &st.executions[0];
    assert_eq!(x.status, ExecutionStatus::Succeeded, "{x:#?}");
    let build = x.stages[1].actions[0].result.as_ref().unwrap();
    assert_eq!(build.variables["BLOB_SIZE"], (9 * 1024 * 1024).to_string());
}

#[test]
fn multipart_errors_answer_as_s3_does_and_leave_nothing_behind() {
    let rig = Rig::start();
    rig.aws(&["s3", "mb", "s3://parts"]);
    let out = rig.python(
        r#"
import boto3, botocore
s3 = boto3.client("s3")

def code(f):
    try:
        f()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error")

MiB = 1024 * 1024
up = s3.create_multipart_upload(Bucket="parts", Key="k/obj.bin")
assert up["Bucket"] == "parts" and up["Key"] == "k/obj.bin"
uid = up["UploadId"]
p1 = s3.upload_part(Bucket="parts", Key="k/obj.bin", UploadId=uid, PartNumber=1, Body=b"a" * 1024)["ETag"]
p2 = s3.upload_part(Bucket="parts", Key="k/obj.bin", UploadId=uid, PartNumber=2, Body=b"b" * 10)["ETag"]
parts = s3.list_parts(Bucket="parts", Key="k/obj.bin", UploadId=uid)["Parts"]
assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, 1024, p1), (2, 10, p2)], parts

def complete(ps, key="k/obj.bin", uid=uid):
    return lambda: s3.complete_multipart_upload(
        Bucket="parts", Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in ps]})

# Part 1 is under 5 MiB and not the last.
assert code(complete([(1, p1), (2, p2)])) == ("EntityTooSmall", 400)
assert code(complete([(2, p2), (1, p1)])) == ("InvalidPartOrder", 400)
assert code(complete([(1, p1), (1, p1)])) == ("InvalidPartOrder", 400)
assert code(complete([(1, p2)])) == ("InvalidPart", 400)
assert code(complete([(3, p2)])) == ("InvalidPart", 400)
# Another key's upload ID, and one never made.
assert code(complete([(1, p1)], key="other")) == ("NoSuchUpload", 404)
assert code(complete([(1, p1)], uid="nope")) == ("NoSuchUpload", 404)
assert code(lambda: s3.upload_part(Bucket="parts", Key="k/obj.bin", UploadId=uid, PartNumber=0, Body=b"x")) == ("InvalidArgument", 400)
assert code(lambda: s3.upload_part(Bucket="parts", Key="k/obj.bin", UploadId=uid, PartNumber=10001, Body=b"x")) == ("InvalidArgument", 400)
assert code(lambda: s3.create_multipart_upload(Bucket="no-such-bucket", Key="k")) == ("NoSuchBucket", 404)
# A failed completion left the upload as it was: a big first part (re-sent) completes it.
p1 = s3.upload_part(Bucket="parts", Key="k/obj.bin", UploadId=uid, PartNumber=1, Body=b"a" * (5 * MiB))["ETag"]
done = complete([(1, p1), (2, p2)])()
assert done["ETag"].strip('"').endswith("-2"), done
assert done["Key"] == "k/obj.bin"
body = s3.get_object(Bucket="parts", Key="k/obj.bin")["Body"].read()
assert body == b"a" * (5 * MiB) + b"b" * 10
# Ranged reads, as `aws s3 cp` downloads big objects.
r = s3.get_object(Bucket="parts", Key="k/obj.bin", Range="bytes=0-3")
assert r["Body"].read() == b"aaaa" and r["ContentRange"] == f"bytes 0-3/{5 * MiB + 10}", r
assert s3.get_object(Bucket="parts", Key="k/obj.bin", Range="bytes=-3")["Body"].read() == b"bbb"
assert s3.get_object(Bucket="parts", Key="k/obj.bin", Range=f"bytes={5 * MiB - 1}-")["Body"].read() == b"a" + b"b" * 10
assert code(lambda: s3.get_object(Bucket="parts", Key="k/obj.bin", Range="bytes=99999999-")) == ("InvalidRange", 416)
# A completed upload is gone.
assert code(complete([(1, p1), (2, p2)])) == ("NoSuchUpload", 404)
assert code(lambda: s3.list_parts(Bucket="parts", Key="k/obj.bin", UploadId=uid)) == ("NoSuchUpload", 404)

# Only parts named in the list make the object; a single small part is the last one.
up = s3.create_multipart_upload(Bucket="parts", Key="one")["UploadId"]
e1 = s3.upload_part(Bucket="parts", Key="one", UploadId=up, PartNumber=1, Body=b"only")["ETag"]
s3.upload_part(Bucket="parts", Key="one", UploadId=up, PartNumber=7, Body=b"unused")
complete([(1, e1)], key="one", uid=up)()
assert s3.get_object(Bucket="parts", Key="one")["Body"].read() == b"only"

# Aborted: gone, and its parts with it.
up = s3.create_multipart_upload(Bucket="parts", Key="gone")["UploadId"]
s3.upload_part(Bucket="parts", Key="gone", UploadId=up, PartNumber=1, Body=b"x")
s3.abort_multipart_upload(Bucket="parts", Key="gone", UploadId=up)
assert code(lambda: s3.upload_part(Bucket="parts", Key="gone", UploadId=up, PartNumber=2, Body=b"x")) == ("NoSuchUpload", 404)
assert code(lambda: s3.abort_multipart_upload(Bucket="parts", Key="gone", UploadId=up)) == ("NoSuchUpload", 404)
assert code(lambda: s3.get_object(Bucket="parts", Key="gone")) == ("NoSuchKey", 404)
print(sorted(o["Key"] for o in s3.list_objects_v2(Bucket="parts")["Contents"]))
"#,
    );
    assert_eq!(out.trim(), "['k/obj.bin', 'one']");
    assert!(uploads_left(&rig).is_empty(), "{:?}", uploads_left(&rig));
}
