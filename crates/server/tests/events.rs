//! Event delivery with real processes: templates deployed through the engine of an in-process
//! server, real Python handlers that write what they received to files, and boto3 and the AWS
//! CLI as the clients that upload, send and publish. Time moves only with the manual clock.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use slipway_deploy::schedule::iso8601_s;
use slipway_deploy::stack::StackStatus;
use slipway_store::state::Collection;

/// Writes every event it gets to `$OUT_DIR/<function>/<uuid>.json` (atomically); a worker
/// fails the messages whose body starts with "fail" on their first receive, and raises on a
/// batch holding a "crash".
const RECORDER: &str = r#"
import json, os, uuid

def handler(event, context):
    d = os.path.join(os.environ["OUT_DIR"], context.function_name)
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, uuid.uuid4().hex + ".json")
    with open(p + ".tmp", "w") as f:
        json.dump(event, f)
    os.rename(p + ".tmp", p)
    if any(r.get("body") == "crash" for r in event.get("Records", [])):
        raise RuntimeError("crash")
    failures = [
        {"itemIdentifier": r["messageId"]}
        for r in event.get("Records", [])
        if r.get("eventSource") == "aws:sqs"
        and r["body"].startswith("fail")
        and r["attributes"]["ApproximateReceiveCount"] == "1"
    ]
    return {"batchItemFailures": failures}
"#;

fn globals(out: &Path) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: recorder/
    Environment:
      Variables:
        OUT_DIR: {}
"#,
        out.display()
    )
}

fn rig_with(template_body: &str) -> (Rig, PathBuf) {
    let r = Rig::start();
    r.write(&[("recorder/app.py", RECORDER)]);
    let out = r.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rep = r.deploy("events", &format!("{}{template_body}", globals(&out)));
    assert_eq!(
        rep.status,
        StackStatus::CreateComplete,
        "{:?}",
        r.engine.stack(TARGET, "events").unwrap().map(|s| s.events)
    );
    (r, out)
}

/// The events a function wrote, oldest first.
fn events_of(out: &Path, function: &str) -> Vec<Value> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(out.join(function))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

fn wait_events(r: &Rig, out: &Path, function: &str, n: usize) -> Vec<Value> {
    r.wait_for(&format!("{n} event(s) for {function}"), || {
        events_of(out, function).len() >= n
    });
    events_of(out, function)
}

#[test]
fn s3_uploads_copies_and_deletes_reach_the_function_with_s3_event_records() {
    let (r, out) = rig_with(
        r#"
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: uploads-bucket
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectRemoved:Delete
            Queue: !GetAtt Removals.Arn
  Removals:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: removals
  OnUpload:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: on-upload
      Events:
        Created:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: incoming/
  OnDelete:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: on-delete
      Events:
        Removed:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectRemoved:*
"#,
    );

    // boto3 put_object: a key outside the filter first, then one inside.
    let etag = r.python(
        r#"
import boto3
s3 = boto3.client("s3")
s3.put_object(Bucket="uploads-bucket", Key="other/skip.txt", Body=b"no")
print(s3.put_object(Bucket="uploads-bucket", Key="incoming/my photo (1).jpg", Body=b"hello")["ETag"])
"#,
    );
    let ev = wait_events(&r, &out, "on-upload", 1);
    assert_eq!(ev.len(), 1, "the filtered-out key sent nothing: {ev:?}");
    let rec = &ev[0]["Records"][0];
    assert_eq!(ev[0]["Records"].as_array().unwrap().len(), 1);
    assert_eq!(rec["eventVersion"], "2.1");
    assert_eq!(rec["eventSource"], "aws:s3");
    assert_eq!(rec["awsRegion"], "us-east-1");
    assert_eq!(rec["eventName"], "ObjectCreated:Put");
    assert_eq!(
        rec["eventTime"],
        slipway_deploy::schedule::iso8601_ms(START_MS)
    );
    assert!(rec["userIdentity"]["principalId"].is_string());
    assert_eq!(rec["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    assert!(rec["responseElements"]["x-amz-request-id"].is_string());
    assert!(rec["responseElements"]["x-amz-id-2"].is_string());
    let s3 = &rec["s3"];
    assert_eq!(s3["s3SchemaVersion"], "1.0");
    assert!(!s3["configurationId"].as_str().unwrap().is_empty());
    assert_eq!(s3["bucket"]["name"], "uploads-bucket");
    assert_eq!(s3["bucket"]["arn"], "arn:aws:s3:::uploads-bucket");
    assert_eq!(s3["bucket"]["ownerIdentity"]["principalId"], "123456789012");
    assert_eq!(s3["object"]["key"], "incoming/my+photo+%281%29.jpg");
    assert_eq!(s3["object"]["size"], 5);
    assert_eq!(s3["object"]["eTag"], etag.trim().trim_matches('"'));
    assert!(s3["object"]["sequencer"].is_string());

    // The AWS CLI's `s3 cp`, then a copy: both are object-created events.
    let local = r.dir.path().join("cli.txt");
    std::fs::write(&local, "from the cli").unwrap();
    r.aws(&[
        "s3",
        "cp",
        local.to_str().unwrap(),
        "s3://uploads-bucket/incoming/cli.txt",
    ]);
    let ev = wait_events(&r, &out, "on-upload", 2);
    let rec = &ev[1]["Records"][0];
    assert_eq!(rec["s3"]["object"]["key"], "incoming/cli.txt");
    assert_eq!(rec["s3"]["object"]["size"], 12);
    r.python(
        r#"
import boto3
s3 = boto3.client("s3")
s3.copy_object(Bucket="uploads-bucket", Key="incoming/copy.txt",
               CopySource={"Bucket": "uploads-bucket", "Key": "incoming/cli.txt"})
assert s3.get_object(Bucket="uploads-bucket", Key="incoming/copy.txt")["Body"].read() == b"from the cli"
s3.delete_object(Bucket="uploads-bucket", Key="incoming/cli.txt")
"#,
    );
    let ev = wait_events(&r, &out, "on-upload", 3);
    assert_eq!(ev[2]["Records"][0]["eventName"], "ObjectCreated:Copy");
    let del = wait_events(&r, &out, "on-delete", 1);
    let rec = &del[0]["Records"][0];
    assert_eq!(rec["eventName"], "ObjectRemoved:Delete");
    assert_eq!(rec["s3"]["object"]["key"], "incoming/cli.txt");
    assert!(rec["s3"]["object"].get("size").is_none());
    // The queue configuration got the same record.
    let body = r.python(
        r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="removals")["QueueUrl"]
print(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
"#,
    );
    let queued: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(queued["Records"][0]["eventName"], "ObjectRemoved:Delete");
    assert_eq!(
        queued["Records"][0]["s3"]["object"]["key"],
        "incoming/cli.txt"
    );
    // Sequencers grow.
    assert!(
        ev[1]["Records"][0]["s3"]["object"]["sequencer"].as_str()
            < ev[2]["Records"][0]["s3"]["object"]["sequencer"].as_str()
    );
}

/// The messages left on a queue (from the store, without a client).
fn queue_len(r: &Rig, queue: &str) -> usize {
    r.engine
        .store()
        .get_doc(Collection::Events, TARGET, &format!("sqs|{queue}"))
        .unwrap()
        .map_or(0, |d| d.value["messages"].as_array().map_or(0, Vec::len))
}

#[test]
fn sqs_batches_partial_failures_and_the_visibility_timeout() {
    let (r, out) = rig_with(
        r#"
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: work
      VisibilityTimeout: 60
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: worker
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  Fragile:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: fragile
      VisibilityTimeout: 60
  FragileWorker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: fragile-worker
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Fragile.Arn
  Manual:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: manual
"#,
    );
    // A consumer of its own, with boto3: receive, invisibility, delete, attributes, errors.
    r.python(
        r#"
import boto3
from botocore.exceptions import ClientError
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="manual")["QueueUrl"]
sent = sqs.send_message(QueueUrl=url, MessageBody="by hand",
                        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                          MessageAttributeNames=["All"])["Messages"]
assert len(got) == 1, got
m = got[0]
assert m["Body"] == "by hand" and m["MessageId"] == sent["MessageId"], m
assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
assert m["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}, m
assert m["Attributes"]["ApproximateReceiveCount"] == "1", m
assert "Messages" not in sqs.receive_message(QueueUrl=url), "invisible after a receive"
try:
    sqs.delete_message(QueueUrl=url, ReceiptHandle="junk")
    raise SystemExit("expected ReceiptHandleIsInvalid")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ReceiptHandleIsInvalid", e.response
out = sqs.delete_message_batch(QueueUrl=url, Entries=[
    {"Id": "a", "ReceiptHandle": m["ReceiptHandle"]}, {"Id": "b", "ReceiptHandle": "junk"}])
assert [e["Id"] for e in out["Successful"]] == ["a"] and [e["Id"] for e in out["Failed"]] == ["b"], out
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
assert a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0", a
assert a["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:manual", a
try:
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    raise SystemExit("expected InvalidParameterValue")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterValue", e.response
"#,
    );
    let sent = r.python(
        r#"
import boto3, json
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
entries = [{"Id": f"e{i}", "MessageBody": ("fail-%d" if i == 3 else "job-%d") % i,
            "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(i)}}}
           for i in range(10)]
out = sqs.send_message_batch(QueueUrl=url, Entries=entries)
assert len(out["Successful"]) == 10 and not out.get("Failed"), out
sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="fragile")["QueueUrl"], MessageBody="crash")
print(json.dumps(out["Successful"]))
"#,
    );
    let sent: Vec<Value> = serde_json::from_str(&sent).unwrap();
    assert!(sent.iter().all(|s| s["MD5OfMessageBody"].is_string()));

    // Two batches of five; the failed item alone stays, invisible.
    let ev = wait_events(&r, &out, "worker", 2);
    assert_eq!(ev.len(), 2);
    let mut bodies = Vec::new();
    for e in &ev {
        let recs = e["Records"].as_array().unwrap();
        assert_eq!(recs.len(), 5);
        for rec in recs {
            assert_eq!(rec["eventSource"], "aws:sqs");
            assert_eq!(
                rec["eventSourceARN"],
                "arn:aws:sqs:us-east-1:123456789012:work"
            );
            assert_eq!(rec["awsRegion"], "us-east-1");
            assert_eq!(rec["attributes"]["ApproximateReceiveCount"], "1");
            assert_eq!(rec["attributes"]["SentTimestamp"], START_MS.to_string());
            assert_eq!(
                rec["attributes"]["ApproximateFirstReceiveTimestamp"],
                START_MS.to_string()
            );
            assert!(rec["attributes"]["SenderId"].is_string());
            assert!(rec["receiptHandle"].is_string());
            assert_eq!(rec["messageAttributes"]["n"]["dataType"], "Number");
            let sent_md5 = sent
                .iter()
                .find(|s| s["MessageId"] == rec["messageId"])
                .unwrap()["MD5OfMessageBody"]
                .clone();
            assert_eq!(rec["md5OfBody"], sent_md5);
            bodies.push(rec["body"].as_str().unwrap().to_owned());
        }
    }
    bodies.sort();
    assert_eq!(bodies.len(), 10);
    assert!(bodies.contains(&"fail-3".to_owned()));
    r.wait_for("the successful messages deleted", || {
        queue_len(&r, "work") == 1
    });
    let attrs = r.python(
        r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
print(a["ApproximateNumberOfMessages"], a["ApproximateNumberOfMessagesNotVisible"])
"#,
    );
    assert_eq!(attrs.trim(), "0 1");

    // The failed message is invisible until exactly the end of its visibility timeout.
    let doc = r
        .engine
        .store()
        .get_doc(Collection::Events, TARGET, "sqs|work")
        .unwrap()
        .unwrap();
    assert_eq!(doc.value["messages"][0]["visible_ms"], START_MS + 60_000);
    // A function error deletes nothing: the whole batch stays.
    wait_events(&r, &out, "fragile-worker", 1);
    assert_eq!(queue_len(&r, "fragile"), 1);
    r.clock.advance_ms(60_000);
    let crashed = wait_events(&r, &out, "fragile-worker", 2);
    assert_eq!(
        crashed[1]["Records"][0]["attributes"]["ApproximateReceiveCount"],
        "2"
    );
    let ev = wait_events(&r, &out, "worker", 3);
    let recs = ev[2]["Records"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["body"], "fail-3");
    assert_eq!(recs[0]["attributes"]["ApproximateReceiveCount"], "2");
    r.wait_for("the retried message deleted", || queue_len(&r, "work") == 0);

    // A restart keeps what is on the queue.
    let mut r = r;
    r.python(
        r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="work")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="after-restart")
try:
    sqs.get_queue_url(QueueName="nope")
    raise SystemExit("expected QueueDoesNotExist")
except sqs.exceptions.QueueDoesNotExist:
    pass
"#,
    );
    r.restart();
    let ev = wait_events(&r, &out, "worker", 4);
    assert_eq!(ev[3]["Records"][0]["body"], "after-restart");
}

/// Accepts one HTTP request on a loopback port: `(url, join handle of (head, body))`.
fn http_sink() -> (String, std::thread::JoinHandle<(String, String)>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sns", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let head = text[..i].to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= i + 4 + len {
                    s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                    return (text[..i].to_owned(), text[i + 4..i + 4 + len].to_owned());
                }
            }
            if n == 0 {
                panic!("connection closed early");
            }
        }
    });
    (url, h)
}

#[test]
fn sns_publish_fans_out_to_every_lambda_and_http_subscriber() {
    let (r, out) = rig_with(
        r#"
Resources:
  News:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: news
  Copies:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: copies
  CopiesSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref News
      Protocol: sqs
      Endpoint: !GetAtt Copies.Arn
  ReaderA:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: reader-a
      Events:
        N:
          Type: SNS
          Properties:
            Topic: !Ref News
  ReaderB:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: reader-b
      Events:
        N:
          Type: SNS
          Properties:
            Topic: !Ref News
"#,
    );
    let (url, sink) = http_sink();
    let id = r.python(&format!(
        r#"
import boto3
sns = boto3.client("sns")
topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
assert topics == ["arn:aws:sns:us-east-1:123456789012:news"], topics
sns.subscribe(TopicArn=topics[0], Protocol="http", Endpoint="{url}")
subs = sns.list_subscriptions_by_topic(TopicArn=topics[0])["Subscriptions"]
assert sorted(s["Protocol"] for s in subs) == ["http", "lambda", "lambda", "sqs"], subs
print(sns.publish(TopicArn=topics[0], Message="hello readers", Subject="greeting",
                  MessageAttributes={{"color": {{"DataType": "String", "StringValue": "red"}}}})["MessageId"])
try:
    sns.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:missing", Message="x")
    raise SystemExit("expected NotFound")
except sns.exceptions.NotFoundException:
    pass
"#
    ));
    let id = id.trim();
    let mut subscription_arns = Vec::new();
    for f in ["reader-a", "reader-b"] {
        let ev = wait_events(&r, &out, f, 1);
        let rec = &ev[0]["Records"][0];
        assert_eq!(rec["EventSource"], "aws:sns");
        assert_eq!(rec["EventVersion"], "1.0");
        let sub = rec["EventSubscriptionArn"].as_str().unwrap();
        assert!(sub.starts_with("arn:aws:sns:us-east-1:123456789012:news:"));
        subscription_arns.push(sub.to_owned());
        let sns = &rec["Sns"];
        assert_eq!(sns["Type"], "Notification");
        assert_eq!(sns["MessageId"], id);
        assert_eq!(sns["TopicArn"], "arn:aws:sns:us-east-1:123456789012:news");
        assert_eq!(sns["Subject"], "greeting");
        assert_eq!(sns["Message"], "hello readers");
        assert_eq!(
            sns["Timestamp"],
            slipway_deploy::schedule::iso8601_ms(START_MS)
        );
        assert_eq!(sns["SignatureVersion"], "1");
        assert!(sns["Signature"].is_string());
        assert!(
            sns["SigningCertUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        assert!(sns["UnsubscribeUrl"].as_str().unwrap().contains(sub));
        assert_eq!(
            sns["MessageAttributes"]["color"],
            serde_json::json!({"Type": "String", "Value": "red"})
        );
    }
    assert_ne!(subscription_arns[0], subscription_arns[1]);

    let (head, body) = sink.join().unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("post /sns http/1.1"), "{head}");
    assert!(
        head.contains("x-amz-sns-message-type: notification"),
        "{head}"
    );
    assert!(
        head.contains(&format!("x-amz-sns-message-id: {id}")),
        "{head}"
    );
    assert!(
        head.contains("x-amz-sns-topic-arn: arn:aws:sns:us-east-1:123456789012:news"),
        "{head}"
    );
    assert!(
        head.contains("x-amz-sns-subscription-arn: arn:aws:sns:"),
        "{head}"
    );
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["Type"], "Notification");
    assert_eq!(doc["Message"], "hello readers");
    assert_eq!(doc["Subject"], "greeting");
    assert!(doc["SigningCertURL"].is_string());
    assert!(doc["UnsubscribeURL"].is_string());
    assert_eq!(doc["MessageAttributes"]["color"]["Value"], "red");

    // The sqs subscription got SNS's JSON document as the message body.
    let body = r.python(
        r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="copies")["QueueUrl"]
print(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
"#,
    );
    let copy: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(copy["Type"], "Notification");
    assert_eq!(copy["MessageId"], id);
    assert_eq!(copy["Message"], "hello readers");

    // MessageStructure=json: each protocol its own entry, else the default.
    r.python(
        r#"
import boto3, json
boto3.client("sns").publish(
    TopicArn="arn:aws:sns:us-east-1:123456789012:news", MessageStructure="json",
    Message=json.dumps({"default": "for everyone", "lambda": "for functions"}))
"#,
    );
    for f in ["reader-a", "reader-b"] {
        let ev = wait_events(&r, &out, f, 2);
        assert_eq!(ev[1]["Records"][0]["Sns"]["Message"], "for functions");
        assert_eq!(ev[1]["Records"][0]["Sns"]["Subject"], Value::Null);
    }
}

/// Waits until a whole tick has run at the current clock. A message polled from the `barrier`
/// queue proves a tick ran after it was sent; a second one, sent once the first was handled,
/// proves a tick that *started* after that — so it saw the clock, the schedules and the queues
/// as they are now.
fn barrier(r: &Rig, out: &Path) {
    for _ in 0..2 {
        let seen = events_of(out, "barrier").len();
        r.python(
            r#"
import boto3
sqs = boto3.client("sqs")
sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="barrier")["QueueUrl"], MessageBody="x")
"#,
        );
        wait_events(r, out, "barrier", seen + 1);
    }
}

const BARRIER: &str = r#"
  Barrier:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: barrier
  BarrierFn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: barrier
      Events:
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Barrier.Arn
"#;

#[test]
fn an_sqs_batching_window_holds_a_small_batch_on_the_virtual_clock() {
    let (r, out) = rig_with(&format!(
        r#"
Resources:{BARRIER}
  Windowed:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: windowed
  WindowedWorker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: windowed-worker
      Events:
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Windowed.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 10
"#
    ));
    r.python(
        r#"
import boto3
sqs = boto3.client("sqs")
url = sqs.get_queue_url(QueueName="windowed")["QueueUrl"]
for b in ["one", "two"]:
    sqs.send_message(QueueUrl=url, MessageBody=b)
"#,
    );
    r.clock.advance_ms(9_999);
    barrier(&r, &out);
    assert!(events_of(&out, "windowed-worker").is_empty());
    r.clock.advance_ms(1);
    let ev = wait_events(&r, &out, "windowed-worker", 1);
    let bodies: Vec<&str> = ev[0]["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one", "two"]);
}

#[test]
fn a_rate_schedule_fires_exactly_when_due_on_the_virtual_clock() {
    let (r, out) = rig_with(&format!(
        r#"
Resources:{BARRIER}
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: ticker
      Events:
        Every5:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Name: every-five
        WithInput:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Name: with-input
            Input: '{{"hello": "world"}}'
  Off:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: never-fn
      Events:
        Never:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
"#
    ));
    let armed = || {
        r.engine
            .store()
            .list_docs(Collection::Events, TARGET)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.starts_with("schedule|"))
            .count()
    };
    r.wait_for("the three schedules armed", || armed() == 3);
    let state = r
        .engine
        .store()
        .get_doc(Collection::Events, TARGET, "schedule|every-five")
        .unwrap()
        .unwrap();
    assert_eq!(state.value["next_ms"], START_MS + 5 * 60_000);

    // One millisecond before: nothing.
    r.clock.set_ms(START_MS + 5 * 60_000 - 1);
    barrier(&r, &out);
    assert!(events_of(&out, "ticker").is_empty());

    // Due: both rules fire once, the plain one with the scheduled event, the other with Input.
    r.clock.set_ms(START_MS + 5 * 60_000);
    let ev = wait_events(&r, &out, "ticker", 2);
    let plain = ev.iter().find(|e| e.get("source").is_some()).unwrap();
    assert_eq!(plain["version"], "0");
    assert_eq!(plain["detail-type"], "Scheduled Event");
    assert_eq!(plain["source"], "aws.events");
    assert_eq!(plain["account"], "123456789012");
    assert_eq!(plain["region"], "us-east-1");
    assert_eq!(plain["time"], iso8601_s(START_MS + 5 * 60_000));
    assert_eq!(
        plain["resources"],
        serde_json::json!(["arn:aws:events:us-east-1:123456789012:rule/every-five"])
    );
    assert_eq!(plain["detail"], serde_json::json!({}));
    assert!(plain["id"].is_string());
    assert!(
        ev.iter()
            .any(|e| *e == serde_json::json!({"hello": "world"}))
    );

    // After 27 minutes of "downtime": one catch-up firing each, then on schedule again.
    r.clock.set_ms(START_MS + 32 * 60_000);
    let ev = wait_events(&r, &out, "ticker", 4);
    barrier(&r, &out);
    assert_eq!(events_of(&out, "ticker").len(), 4);
    let catch_up = ev[2..].iter().find(|e| e.get("source").is_some()).unwrap();
    assert_eq!(catch_up["time"], iso8601_s(START_MS + 10 * 60_000));
    let state = r
        .engine
        .store()
        .get_doc(Collection::Events, TARGET, "schedule|every-five")
        .unwrap()
        .unwrap();
    assert_eq!(state.value["next_ms"], START_MS + 35 * 60_000);
    // The disabled rule never fired.
    assert!(events_of(&out, "never-fn").is_empty());

    // The position survives a restart: the next firing is the persisted one.
    let mut r = r;
    r.restart();
    r.clock.set_ms(START_MS + 35 * 60_000);
    let ev = wait_events(&r, &out, "ticker", 6);
    let after_restart = ev[4..].iter().find(|e| e.get("source").is_some()).unwrap();
    assert_eq!(after_restart["time"], iso8601_s(START_MS + 35 * 60_000));

    // Deleting the stack drops the schedules' and the queue's state.
    let rep = {
        let _guard = r.rt.enter();
        r.server
            .as_ref()
            .unwrap()
            .with_engine(|e| e.delete_stack(TARGET, "events"))
            .unwrap()
    };
    assert_eq!(rep.status, StackStatus::DeleteComplete);
    r.wait_for("the event state swept", || {
        r.engine
            .store()
            .list_docs(Collection::Events, TARGET)
            .unwrap()
            .is_empty()
    });
}

#[test]
fn invalid_schedules_and_notifications_fail_the_deploy_with_a_clear_message() {
    let r = Rig::start();
    r.write(&[("recorder/app.py", RECORDER)]);
    let out = r.dir.path().join("out");
    let rep = r.deploy(
        "bad",
        &format!(
            "{}{}",
            globals(&out),
            r#"
Resources:
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: ticker
      Events:
        Bad:
          Type: Schedule
          Properties:
            Schedule: cron(0 10 * * * *)
"#
        ),
    );
    assert_eq!(rep.status, StackStatus::RollbackComplete, "{rep:?}");
    let events = r.engine.stack(TARGET, "bad").unwrap().unwrap().events;
    assert!(
        events
            .iter()
            .any(|e| e.spec.reason.as_deref().is_some_and(|s| s
                .contains("ScheduleExpression is not valid")
                && s.contains("must be '?'"))),
        "{events:?}"
    );
    // A notification S3 would refuse fails the bucket.
    let rep = r.deploy(
        "bad-s3",
        r#"
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectCreated:Puts
            Function: arn:aws:lambda:us-east-1:123456789012:function:f
"#,
    );
    assert_eq!(rep.status, StackStatus::RollbackComplete, "{rep:?}");
    let events = r.engine.stack(TARGET, "bad-s3").unwrap().unwrap().events;
    assert!(
        events.iter().any(|e| e
            .spec
            .reason
            .as_deref()
            .is_some_and(|s| s
                .contains("the event 's3:ObjectCreated:Puts' is not supported for notifications"))),
        "{events:?}"
    );
}
