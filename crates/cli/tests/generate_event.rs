//! End-to-end `slipway generate-event`: each event parsed as JSON and checked field by field
//! against the shape SAM CLI generates.

mod common;

use base64::Engine as _;
use common::slipway;
use serde_json::{Value, json};

fn event(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut argv = vec!["generate-event"];
    argv.extend_from_slice(args);
    let r = slipway(dir.path(), &argv);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", r.stdout))
}

fn b64(v: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn apigateway_aws_proxy() {
    let e = event(&["apigateway", "aws-proxy"]);
    assert_eq!(
        keys(&e),
        [
            "body",
            "headers",
            "httpMethod",
            "isBase64Encoded",
            "multiValueHeaders",
            "multiValueQueryStringParameters",
            "path",
            "pathParameters",
            "queryStringParameters",
            "requestContext",
            "resource",
            "stageVariables"
        ]
    );
    assert_eq!(b64(&e["body"]), r#"{"test":"body"}"#);
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(e["resource"], "/{proxy+}");
    assert_eq!(e["path"], "/path/to/resource");
    assert_eq!(e["pathParameters"], json!({"proxy": "/path/to/resource"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"foo": ["bar"]})
    );
    assert_eq!(
        e["headers"]["Host"],
        "1234567890.execute-api.us-east-1.amazonaws.com"
    );
    assert_eq!(e["multiValueHeaders"]["X-Forwarded-Port"], json!(["443"]));
    let rc = &e["requestContext"];
    assert_eq!(rc["accountId"], "123456789012");
    assert_eq!(rc["stage"], "prod");
    assert_eq!(rc["path"], "/prod/path/to/resource");
    assert_eq!(rc["resourcePath"], "/{proxy+}");
    assert_eq!(rc["httpMethod"], "POST");
    assert_eq!(rc["requestTimeEpoch"], 1_428_582_896_000_u64);
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"]["user"], Value::Null);
    assert_eq!(rc["protocol"], "HTTP/1.1");

    let e = event(&[
        "apigateway",
        "aws-proxy",
        "--method",
        "GET",
        "--path",
        "orders/7",
        "--body",
        "a \"quoted\" body",
        "--stage",
        "dev",
        "--account-id",
        "111111111111",
        "--resource",
        "/orders/{id}",
    ]);
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["path"], "/orders/7");
    assert_eq!(b64(&e["body"]), "a \"quoted\" body");
    assert_eq!(e["resource"], "/orders/{id}");
    assert_eq!(e["requestContext"]["path"], "/dev/orders/7");
    assert_eq!(e["requestContext"]["accountId"], "111111111111");
}

#[test]
fn apigateway_http_api_proxy() {
    let e = event(&[
        "apigateway",
        "http-api-proxy",
        "--path",
        "hi",
        "--method",
        "PUT",
    ]);
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/hi");
    assert_eq!(
        e["rawQueryString"],
        "parameter1=value1&parameter1=value2&parameter2=value"
    );
    assert_eq!(e["cookies"], json!(["cookie1", "cookie2"]));
    assert_eq!(e["headers"]["Header2"], "value1,value2");
    assert_eq!(e["queryStringParameters"]["parameter1"], "value1,value2");
    let rc = &e["requestContext"];
    assert_eq!(rc["http"]["method"], "PUT");
    assert_eq!(rc["http"]["path"], "/hi");
    assert_eq!(rc["http"]["sourceIp"], "192.168.0.1/32");
    assert_eq!(rc["stage"], "$default");
    assert_eq!(rc["domainName"], "id.execute-api.us-east-1.amazonaws.com");
    assert_eq!(
        rc["authorizer"]["jwt"]["scopes"],
        json!(["scope1", "scope2"])
    );
    assert_eq!(rc["timeEpoch"], 1_583_348_638_390_u64);
    assert_eq!(b64(&e["body"]), r#"{"test":"body"}"#);
    assert_eq!(e["isBase64Encoded"], true);
    assert_eq!(e["pathParameters"], json!({"parameter1": "value1"}));
}

#[test]
fn s3_put() {
    let e = event(&[
        "s3",
        "put",
        "--bucket",
        "uploads",
        "--key",
        "photos/my cat.jpg",
        "--region",
        "eu-west-1",
    ]);
    let r = &e["Records"][0];
    assert_eq!(e["Records"].as_array().unwrap().len(), 1);
    assert_eq!(r["eventVersion"], "2.0");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["awsRegion"], "eu-west-1");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["eventTime"], "1970-01-01T00:00:00.000Z");
    assert_eq!(r["s3"]["s3SchemaVersion"], "1.0");
    assert_eq!(r["s3"]["bucket"]["name"], "uploads");
    assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::uploads");
    let o = &r["s3"]["object"];
    assert_eq!(
        o["key"], "photos/my%20cat.jpg",
        "keys are URL-encoded, as S3 sends them"
    );
    assert_eq!(o["size"], 1024);
    assert_eq!(o["eTag"], "0123456789abcdef0123456789abcdef");
    assert_eq!(o["sequencer"], "0A1B2C3D4E5F678901");
    let d = event(&["s3", "delete"]);
    assert_eq!(d["Records"][0]["eventName"], "ObjectRemoved:Delete");
    assert_eq!(d["Records"][0]["s3"]["object"]["key"], "test/key");
    assert!(d["Records"][0]["s3"]["object"].get("size").is_none());
}

#[test]
fn sns_notification() {
    let e = event(&[
        "sns",
        "notification",
        "--message",
        "{\"order\": 7}",
        "--topic",
        "orders",
        "--account-id",
        "222222222222",
    ]);
    let r = &e["Records"][0];
    assert_eq!(r["EventSource"], "aws:sns");
    assert_eq!(r["EventVersion"], "1.0");
    let sns = &r["Sns"];
    assert_eq!(sns["Type"], "Notification");
    assert_eq!(sns["TopicArn"], "arn:aws:sns:us-east-1:222222222222:orders");
    assert_eq!(sns["Message"], "{\"order\": 7}");
    assert_eq!(sns["Subject"], "example subject");
    assert_eq!(sns["SignatureVersion"], "1");
    assert_eq!(
        sns["MessageAttributes"]["Test"],
        json!({"Type": "String", "Value": "TestString"})
    );
}

#[test]
fn sqs_receive_message() {
    let e = event(&["sqs", "receive-message"]);
    let r = &e["Records"][0];
    assert_eq!(r["body"], "Hello from SQS!");
    assert_eq!(r["md5OfBody"], "7b270e59b47ff90a553787216d55d91d");
    assert_eq!(r["eventSource"], "aws:sqs");
    assert_eq!(
        r["eventSourceARN"],
        "arn:aws:sqs:us-east-1:123456789012:MyQueue"
    );
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
    assert_eq!(r["attributes"]["SenderId"], "123456789012");
    assert_eq!(r["messageAttributes"], json!({}));
    let e = event(&["sqs", "receive-message", "--body", "", "--queue-name", "q"]);
    let r = &e["Records"][0];
    assert_eq!(r["md5OfBody"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:q");
}

#[test]
fn events_schedule() {
    let e = event(&[
        "events",
        "schedule",
        "--rule",
        "nightly",
        "--region",
        "ap-south-1",
    ]);
    assert_eq!(e["detail-type"], "Scheduled Event");
    assert_eq!(e["source"], "aws.events");
    assert_eq!(e["account"], "123456789012");
    assert_eq!(e["region"], "ap-south-1");
    assert_eq!(e["time"], "1970-01-01T00:00:00Z");
    assert_eq!(
        e["resources"],
        json!(["arn:aws:events:ap-south-1:123456789012:rule/nightly"])
    );
    assert_eq!(e["detail"], json!({}));
    // SAM CLI's own name for it works too.
    assert_eq!(
        event(&["cloudwatch", "scheduled-event"])["detail-type"],
        "Scheduled Event"
    );
}

#[test]
fn fields_come_in_sam_cli_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = slipway(dir.path(), &["generate-event", "events", "schedule"]);
    let lines: Vec<&str> = r.stdout.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            "{",
            r#"  "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c","#,
            r#"  "detail-type": "Scheduled Event","#
        ]
    );
}
