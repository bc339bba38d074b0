//! The events Slipway builds against the example events of AWS's documentation
//! (`tests/event_fixtures/`: the Lambda developer guide's "Example Amazon S3 notification
//! event", "Example SNS message event", "Example Amazon SQS message event (standard queue)", and
//! EventBridge's "Scheduled Event" example, retyped). Values differ (IDs, times); the shape —
//! every key, nesting and JSON type — must not, and constant fields must be equal.

use std::path::Path;

use serde_json::{Map, Value};
use slipway_deploy::events::{self, S3Event, S3Record, SnsMessage, SqsRecord};

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/event_fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// Keys and JSON types, recursively (an array by its first element).
fn skeleton(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), skeleton(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.first().map(skeleton).into_iter().collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "null".into(),
    }
}

fn same_shape(ours: &Value, theirs: &Value) {
    assert_eq!(
        skeleton(ours),
        skeleton(theirs),
        "\nours:   {ours:#}\ntheirs: {theirs:#}"
    );
}

#[test]
fn s3_put_matches_the_documented_example() {
    let ours = events::s3_event(&S3Record {
        event: S3Event::Put,
        region: "us-east-1",
        partition: "aws",
        time_ms: 1_567_539_447_192,
        principal_id: "AWS:123456789012",
        source_ip: "127.0.0.1",
        request_id: "r",
        host_id: "h",
        configuration_id: "c",
        bucket: "amzn-s3-demo-bucket",
        owner_id: "123456789012",
        key: "k",
        size: 1,
        etag: "e",
        sequencer: "s",
    });
    let theirs = fixture("s3-put.json");
    same_shape(&ours, &theirs);
    let (o, t) = (&ours["Records"][0], &theirs["Records"][0]);
    for k in [
        "eventVersion",
        "eventSource",
        "awsRegion",
        "eventName",
        "eventTime",
    ] {
        assert_eq!(o[k], t[k], "{k}");
    }
    assert_eq!(o["s3"]["s3SchemaVersion"], t["s3"]["s3SchemaVersion"]);
    assert_eq!(o["s3"]["bucket"]["arn"], t["s3"]["bucket"]["arn"]);
}

#[test]
fn sns_matches_the_documented_example() {
    let attrs = vec![
        (
            "Test".to_owned(),
            "String".to_owned(),
            "TestString".to_owned(),
        ),
        (
            "TestBinary".to_owned(),
            "Binary".to_owned(),
            "TestBinary".to_owned(),
        ),
    ];
    let ours = events::sns_lambda_event(
        &SnsMessage {
            message_id: "m",
            topic_arn: "arn:aws:sns:us-east-1:123456789012:sns-lambda",
            subject: Some("TestInvoke"),
            message: "Hello from SNS!",
            time_ms: 1_546_433_107_000,
            attributes: &attrs,
            region: "us-east-1",
        },
        "arn:aws:sns:us-east-1:123456789012:sns-lambda:21be56ed-a058-49f5-8c98-aedd2564c486",
    );
    let theirs = fixture("sns.json");
    same_shape(&ours, &theirs);
    let (o, t) = (&ours["Records"][0], &theirs["Records"][0]);
    for k in ["EventVersion", "EventSource", "EventSubscriptionArn"] {
        assert_eq!(o[k], t[k], "{k}");
    }
    for k in [
        "Type",
        "SignatureVersion",
        "Timestamp",
        "TopicArn",
        "Subject",
        "Message",
        "MessageAttributes",
    ] {
        assert_eq!(o["Sns"][k], t["Sns"][k], "Sns.{k}");
    }
}

#[test]
fn sqs_matches_the_documented_example() {
    let attrs = vec![(
        "myAttribute".to_owned(),
        "String".to_owned(),
        "myValue".to_owned(),
    )];
    let record = events::sqs_record(&SqsRecord {
        message_id: "059f36b4-87a3-44ab-83d2-661975830a7d",
        receipt_handle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
        body: "Test message.",
        receive_count: 1,
        sent_ms: 1_545_082_649_183,
        sender_id: "AIDAIENQZJOLO23YVJ4VO",
        first_receive_ms: 1_545_082_649_185,
        attributes: &attrs,
        md5_of_body: "e4e68fb7bd0e697a0ae8f1bb342846b3",
        queue_arn: "arn:aws:sqs:us-east-2:123456789012:my-queue",
        region: "us-east-2",
    });
    let ours = serde_json::json!({"Records": [record]});
    // Everything passed in the same way comes out equal, not only the shape.
    assert_eq!(ours, fixture("sqs.json"));
}

#[test]
fn scheduled_event_matches_the_documented_example() {
    let ours = events::scheduled_event(
        "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "123456789012",
        "us-east-1",
        "arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule",
        1_444_323_186_000,
    );
    assert_eq!(ours, fixture("scheduled.json"));
}
