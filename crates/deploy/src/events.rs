//! The events Lambda's event sources hand to functions, built as AWS builds them, and the
//! matching rules that decide who gets one. Pure: identifiers and times are passed in.
//!
//! Sources of the shapes (checked against the documentation, December 2026):
//!
//! - S3: "Event message structure" (`AmazonS3/latest/userguide/notification-content-structure`):
//!   `Records[]` of `eventVersion` "2.1" (what S3 sends for object-created and object-removed
//!   events), `eventSource` "aws:s3", `awsRegion`, `eventTime` ISO-8601 with milliseconds,
//!   `eventName` without the `s3:` prefix (`ObjectCreated:Put`), `userIdentity.principalId`,
//!   `requestParameters.sourceIPAddress`, `responseElements` `x-amz-request-id`/`x-amz-id-2`,
//!   `s3.s3SchemaVersion` "1.0", `s3.configurationId`, `s3.bucket {name, ownerIdentity
//!   {principalId}, arn}`, `s3.object {key, size, eTag, sequencer}` (`size` and `eTag` absent
//!   on `ObjectRemoved` events). "The s3 key provides information about the bucket and object
//!   involved in the event. The object key name value is URL encoded" — as a form is
//!   (`red flower.jpg` → `red+flower.jpg`); `/` stays as it is.
//! - S3 filters and event types ("Event notification types and destinations", "Configuring
//!   event notifications using object key name filtering"): `s3:ObjectCreated:*` matches
//!   `Put`, `Post`, `Copy` and `CompleteMultipartUpload`; `s3:ObjectRemoved:*` matches
//!   `Delete` and `DeleteMarkerCreated`; `prefix`/`suffix` rules compare the raw key
//!   (case-sensitive), at most one of each.
//! - SNS to Lambda: "Using Lambda with Amazon SNS" example event: `Records[]` of
//!   `EventVersion` "1.0", `EventSubscriptionArn`, `EventSource` "aws:sns", and `Sns {Type
//!   "Notification", MessageId, TopicArn, Subject (null when absent), Message, Timestamp,
//!   SignatureVersion "1", Signature, SigningCertUrl, UnsubscribeUrl, MessageAttributes {name:
//!   {Type, Value}}}`. HTTP endpoints get the JSON document of "Parsing message formats"
//!   (`SigningCertURL`, `UnsubscribeURL` spelled in capitals there).
//! - SQS to Lambda: "Using Lambda with Amazon SQS" example event: `Records[]` of `messageId`,
//!   `receiptHandle`, `body`, `attributes {ApproximateReceiveCount, SentTimestamp, SenderId,
//!   ApproximateFirstReceiveTimestamp}` (epoch milliseconds as strings), `messageAttributes
//!   {name: {stringValue, binaryValue, stringListValues [], binaryListValues [], dataType}}`,
//!   `md5OfBody`, `eventSource` "aws:sqs", `eventSourceARN`, `awsRegion`.
//! - EventBridge scheduled events ("Amazon EventBridge events" example "Scheduled Event"):
//!   `version` "0", `id`, `detail-type` "Scheduled Event", `source` "aws.events", `account`,
//!   `time` (seconds precision, `Z`), `region`, `resources` [the rule's ARN], `detail` {}.
//!
//! Signatures are not real: Slipway holds no SNS signing key; `Signature` is a fixed
//! placeholder and `SigningCertUrl` points at AWS's documented certificate location for the
//! region, so code that verifies signatures must be told to skip it locally.

use serde_json::{Map, Value, json};

use crate::schedule::{iso8601_ms, iso8601_s};

// ---------------------------------------------------------------------------------------------
// S3.

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Event {
    Put,
    Copy,
    /// `CompleteMultipartUpload` assembled the object.
    CompleteMultipartUpload,
    Delete,
}

impl S3Event {
    /// `ObjectCreated:Put`, as the record's `eventName` spells it.
    pub fn name(self) -> &'static str {
        match self {
            S3Event::Put => "ObjectCreated:Put",
            S3Event::Copy => "ObjectCreated:Copy",
            S3Event::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
            S3Event::Delete => "ObjectRemoved:Delete",
        }
    }

    fn created(self) -> bool {
        !matches!(self, S3Event::Delete)
    }
}

/// The event types a bucket notification may name ("Supported event types for SQS, SNS, and
/// Lambda"). Slipway emits the object-created (`Put`, `Copy`, `CompleteMultipartUpload`) and
/// object-removed (`Delete`)
/// ones; the others are accepted and never fire locally (no lifecycle, replication, restore).
pub const S3_EVENT_TYPES: &[&str] = &[
    "s3:TestEvent",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// Checks a bucket's `NotificationConfiguration` as S3 would before accepting it: known event
/// types, a destination per configuration, `prefix`/`suffix` filter rules at most once each.
pub fn validate_s3_notifications(nc: &Value) -> Result<(), String> {
    for (list, dest) in [
        ("LambdaConfigurations", "Function"),
        ("QueueConfigurations", "Queue"),
        ("TopicConfigurations", "Topic"),
    ] {
        let Some(configs) = nc.get(list) else {
            continue;
        };
        let Some(configs) = configs.as_array() else {
            return Err(format!("NotificationConfiguration.{list} must be a list"));
        };
        for (i, c) in configs.iter().enumerate() {
            let at = format!("NotificationConfiguration.{list}[{i}]");
            match c.get("Event").and_then(Value::as_str) {
                Some(e) if S3_EVENT_TYPES.contains(&e) => {}
                Some(e) => {
                    return Err(format!(
                        "{at}.Event: the event '{e}' is not supported for notifications"
                    ));
                }
                None => return Err(format!("{at}.Event is required")),
            }
            if c.get(dest)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(format!("{at}.{dest} is required"));
            }
            let rules = c
                .pointer("/Filter/S3Key/Rules")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            let mut seen = Vec::new();
            for r in rules {
                let name = r
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if name != "prefix" && name != "suffix" {
                    return Err(format!(
                        "{at}.Filter.S3Key.Rules: the filter rule name must be prefix or suffix, not '{name}'"
                    ));
                }
                if seen.contains(&name) {
                    return Err(format!(
                        "{at}.Filter.S3Key.Rules: Cannot specify more than one {name} rule in a filter"
                    ));
                }
                seen.push(name);
            }
        }
    }
    Ok(())
}

/// Whether a configured `Event` (`s3:ObjectCreated:*`, `s3:ObjectCreated:Put`, `s3:*`…)
/// covers `event`.
pub fn s3_event_matches(configured: &str, event: S3Event) -> bool {
    let Some(c) = configured.strip_prefix("s3:") else {
        return false;
    };
    let name = event.name();
    match c.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => c == name,
    }
}

/// `Filter.S3Key.Rules` (`[{Name: prefix|suffix, Value}]`) against a key. Names are compared
/// case-insensitively (CloudFormation accepts `prefix` and `Prefix`), values exactly.
pub fn s3_filter_matches(filter: Option<&Value>, key: &str) -> bool {
    let Some(rules) = filter
        .and_then(|f| f.get("S3Key"))
        .and_then(|k| k.get("Rules"))
        .and_then(Value::as_array)
    else {
        return true;
    };
    rules.iter().all(|r| {
        let name = r.get("Name").and_then(Value::as_str).unwrap_or("");
        let value = r.get("Value").and_then(Value::as_str).unwrap_or("");
        match name.to_ascii_lowercase().as_str() {
            "prefix" => key.starts_with(value),
            "suffix" => key.ends_with(value),
            _ => false,
        }
    })
}

/// An object key as S3 event records carry it: form-URL-encoded (space → `+`, reserved
/// characters `%XX` in UTF-8), with `/` and the characters Java's form encoder keeps
/// (`A-Z a-z 0-9 . - * _`) as they are.
pub fn s3_event_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Everything an S3 event record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Record<'a> {
    pub event: S3Event,
    pub region: &'a str,
    pub partition: &'a str,
    pub time_ms: u64,
    /// Who made the request (an account or principal ID).
    pub principal_id: &'a str,
    pub source_ip: &'a str,
    pub request_id: &'a str,
    pub host_id: &'a str,
    pub configuration_id: &'a str,
    pub bucket: &'a str,
    pub owner_id: &'a str,
    /// The raw key (encoded here).
    pub key: &'a str,
    pub size: u64,
    /// Without quotes, as S3 events carry it.
    pub etag: &'a str,
    pub sequencer: &'a str,
}

/// `{"Records": [record]}` of one S3 event.
pub fn s3_event(r: &S3Record<'_>) -> Value {
    let mut object = Map::new();
    object.insert("key".into(), json!(s3_event_key(r.key)));
    if r.event.created() {
        object.insert("size".into(), json!(r.size));
        object.insert("eTag".into(), json!(r.etag));
    }
    object.insert("sequencer".into(), json!(r.sequencer));
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": r.region,
        "eventTime": iso8601_ms(r.time_ms),
        "eventName": r.event.name(),
        "userIdentity": {"principalId": r.principal_id},
        "requestParameters": {"sourceIPAddress": r.source_ip},
        "responseElements": {"x-amz-request-id": r.request_id, "x-amz-id-2": r.host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": r.configuration_id,
            "bucket": {
                "name": r.bucket,
                "ownerIdentity": {"principalId": r.owner_id},
                "arn": format!("arn:{}:s3:::{}", r.partition, r.bucket),
            },
            "object": Value::Object(object),
        },
    }]})
}

/// S3's `sequencer`: a hexadecimal string that grows with each event of a key. Derived from
/// the event time and a per-server counter, zero-padded so that comparing two as strings
/// orders them, as S3 says to (after padding the shorter one).
pub fn s3_sequencer(time_ms: u64, counter: u64) -> String {
    format!("{:012X}{:04X}", time_ms, counter & 0xFFFF)
}

// ---------------------------------------------------------------------------------------------
// SNS.

/// One published message.
#[derive(Clone, Debug, PartialEq)]
pub struct SnsMessage<'a> {
    pub message_id: &'a str,
    pub topic_arn: &'a str,
    pub subject: Option<&'a str>,
    pub message: &'a str,
    pub time_ms: u64,
    /// `(name, type, value)`; binary values base64-encoded.
    pub attributes: &'a [(String, String, String)],
    pub region: &'a str,
}

fn sns_common(m: &SnsMessage<'_>, subscription_arn: &str) -> (String, String, String, Value) {
    let cert = format!(
        "https://sns.{}.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000.pem",
        m.region
    );
    let unsubscribe = format!(
        "https://sns.{}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
        m.region
    );
    let attrs: Map<String, Value> = m
        .attributes
        .iter()
        .map(|(n, t, v)| (n.clone(), json!({"Type": t, "Value": v})))
        .collect();
    (
        cert,
        unsubscribe,
        iso8601_ms(m.time_ms),
        Value::Object(attrs),
    )
}

/// A placeholder (base64 of "slipway-unsigned"): Slipway cannot sign as SNS.
pub const SNS_SIGNATURE: &str = "c2xpcHdheS11bnNpZ25lZA==";

/// `{"Records": [record]}` for a `lambda` subscription.
pub fn sns_lambda_event(m: &SnsMessage<'_>, subscription_arn: &str) -> Value {
    let (cert, unsubscribe, ts, attrs) = sns_common(m, subscription_arn);
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": m.message_id,
            "TopicArn": m.topic_arn,
            "Subject": m.subject,
            "Message": m.message,
            "Timestamp": ts,
            "SignatureVersion": "1",
            "Signature": SNS_SIGNATURE,
            "SigningCertUrl": cert,
            "UnsubscribeUrl": unsubscribe,
            "MessageAttributes": attrs,
        },
    }]})
}

/// The JSON body an `http`/`https` subscription receives (`Subject` only when set,
/// `MessageAttributes` only when there are some).
pub fn sns_http_body(m: &SnsMessage<'_>, subscription_arn: &str) -> Value {
    let (cert, unsubscribe, ts, attrs) = sns_common(m, subscription_arn);
    let mut o = Map::new();
    o.insert("Type".into(), json!("Notification"));
    o.insert("MessageId".into(), json!(m.message_id));
    o.insert("TopicArn".into(), json!(m.topic_arn));
    if let Some(s) = m.subject {
        o.insert("Subject".into(), json!(s));
    }
    o.insert("Message".into(), json!(m.message));
    o.insert("Timestamp".into(), json!(ts));
    o.insert("SignatureVersion".into(), json!("1"));
    o.insert("Signature".into(), json!(SNS_SIGNATURE));
    o.insert("SigningCertURL".into(), json!(cert));
    o.insert("UnsubscribeURL".into(), json!(unsubscribe));
    if !m.attributes.is_empty() {
        o.insert("MessageAttributes".into(), attrs);
    }
    Value::Object(o)
}

// ---------------------------------------------------------------------------------------------
// SQS.

/// One received message as the event source mapping hands it over.
#[derive(Clone, Debug, PartialEq)]
pub struct SqsRecord<'a> {
    pub message_id: &'a str,
    pub receipt_handle: &'a str,
    pub body: &'a str,
    pub receive_count: u32,
    pub sent_ms: u64,
    pub sender_id: &'a str,
    pub first_receive_ms: u64,
    /// `(name, DataType, StringValue or base64 BinaryValue)`.
    pub attributes: &'a [(String, String, String)],
    pub md5_of_body: &'a str,
    pub queue_arn: &'a str,
    pub region: &'a str,
}

/// One `Records[]` entry of an SQS event.
pub fn sqs_record(r: &SqsRecord<'_>) -> Value {
    let attrs: Map<String, Value> = r
        .attributes
        .iter()
        .map(|(n, t, v)| {
            let a = if t.starts_with("Binary") {
                json!({"binaryValue": v, "stringListValues": [], "binaryListValues": [], "dataType": t})
            } else {
                json!({"stringValue": v, "stringListValues": [], "binaryListValues": [], "dataType": t})
            };
            (n.clone(), a)
        })
        .collect();
    json!({
        "messageId": r.message_id,
        "receiptHandle": r.receipt_handle,
        "body": r.body,
        "attributes": {
            "ApproximateReceiveCount": r.receive_count.to_string(),
            "SentTimestamp": r.sent_ms.to_string(),
            "SenderId": r.sender_id,
            "ApproximateFirstReceiveTimestamp": r.first_receive_ms.to_string(),
        },
        "messageAttributes": attrs,
        "md5OfBody": r.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": r.queue_arn,
        "awsRegion": r.region,
    })
}

/// The message IDs a function reported as failed (`ReportBatchItemFailures`):
/// `{"batchItemFailures": [{"itemIdentifier": ID}]}`. `None` when the response is not that
/// shape — Lambda then treats the whole batch as failed ("Reporting batch item failures":
/// an invalid response or an empty/null `itemIdentifier` fails the batch).
pub fn batch_item_failures(response: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(response).ok()?;
    if v.is_null() {
        return Some(Vec::new());
    }
    let Some(list) = v.get("batchItemFailures") else {
        // Any other JSON object is a success with no failures.
        return v.is_object().then(Vec::new);
    };
    if list.is_null() {
        return Some(Vec::new());
    }
    list.as_array()?
        .iter()
        .map(|f| {
            f.get("itemIdentifier")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// EventBridge schedules.

/// The event of one scheduled firing at `time_ms`.
pub fn scheduled_event(
    id: &str,
    account: &str,
    region: &str,
    rule_arn: &str,
    time_ms: u64,
) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso8601_s(time_ms),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_event_names_and_filters() {
        use S3Event::*;
        let cases = [
            ("s3:ObjectCreated:*", Put, true),
            ("s3:ObjectCreated:*", Copy, true),
            ("s3:ObjectCreated:*", Delete, false),
            ("s3:ObjectCreated:Put", Put, true),
            ("s3:ObjectCreated:Put", Copy, false),
            ("s3:ObjectCreated:Copy", Copy, true),
            ("s3:ObjectCreated:*", CompleteMultipartUpload, true),
            ("s3:ObjectCreated:Put", CompleteMultipartUpload, false),
            (
                "s3:ObjectCreated:CompleteMultipartUpload",
                CompleteMultipartUpload,
                true,
            ),
            ("s3:ObjectRemoved:*", Delete, true),
            ("s3:ObjectRemoved:Delete", Delete, true),
            ("s3:ObjectRemoved:*", Put, false),
            ("s3:*", Delete, true),
            ("ObjectCreated:Put", Put, false),
        ];
        for (c, e, want) in cases {
            assert_eq!(s3_event_matches(c, e), want, "{c} {e:?}");
        }
        let f = json!({"S3Key": {"Rules": [
            {"Name": "prefix", "Value": "uploads/"},
            {"Name": "Suffix", "Value": ".jpg"},
        ]}});
        assert!(s3_filter_matches(Some(&f), "uploads/a.jpg"));
        assert!(!s3_filter_matches(Some(&f), "uploads/a.png"));
        assert!(!s3_filter_matches(Some(&f), "other/a.jpg"));
        assert!(!s3_filter_matches(Some(&f), "Uploads/a.jpg"));
        assert!(s3_filter_matches(None, "anything"));
        assert!(s3_filter_matches(Some(&json!({})), "anything"));
    }

    #[test]
    fn s3_notification_configurations_are_checked() {
        let ok = json!({"LambdaConfigurations": [{"Event": "s3:ObjectCreated:*", "Function": "arn:f",
            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "a/"}, {"Name": "Suffix", "Value": ".x"}]}}}]});
        assert_eq!(validate_s3_notifications(&ok), Ok(()));
        let cases = [
            (
                json!({"LambdaConfigurations": [{"Event": "s3:ObjectCreated:Puts", "Function": "f"}]}),
                "not supported",
            ),
            (
                json!({"LambdaConfigurations": [{"Function": "f"}]}),
                "Event is required",
            ),
            (
                json!({"QueueConfigurations": [{"Event": "s3:ObjectRemoved:*"}]}),
                "Queue is required",
            ),
            (
                json!({"TopicConfigurations": {"Event": "s3:ObjectRemoved:*"}}),
                "must be a list",
            ),
            (
                json!({"LambdaConfigurations": [{"Event": "s3:ObjectCreated:*", "Function": "f",
                "Filter": {"S3Key": {"Rules": [{"Name": "contains", "Value": "x"}]}}}]}),
                "prefix or suffix",
            ),
            (
                json!({"LambdaConfigurations": [{"Event": "s3:ObjectCreated:*", "Function": "f",
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "a"}, {"Name": "Prefix", "Value": "b"}]}}}]}),
                "more than one prefix",
            ),
        ];
        for (nc, want) in cases {
            let e = validate_s3_notifications(&nc).expect_err(want);
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn s3_keys_are_encoded_as_in_records() {
        assert_eq!(s3_event_key("red flower.jpg"), "red+flower.jpg");
        assert_eq!(s3_event_key("a/b c/(1).txt"), "a/b+c/%281%29.txt");
        assert_eq!(s3_event_key("ü=+&"), "%C3%BC%3D%2B%26");
        assert_eq!(s3_event_key("x-y_z.*"), "x-y_z.*");
    }

    #[test]
    fn s3_record_shape() {
        let r = S3Record {
            event: S3Event::Put,
            region: "us-east-1",
            partition: "aws",
            time_ms: 1_700_000_000_123,
            principal_id: "123456789012",
            source_ip: "127.0.0.1",
            request_id: "REQ",
            host_id: "HOST",
            configuration_id: "cfg",
            bucket: "b",
            owner_id: "123456789012",
            key: "my photo.jpg",
            size: 3,
            etag: "abc",
            sequencer: "0065",
        };
        assert_eq!(
            s3_event(&r),
            json!({"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2023-11-14T22:13:20.123Z", "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "123456789012"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "REQ", "x-amz-id-2": "HOST"},
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "cfg",
                    "bucket": {"name": "b", "ownerIdentity": {"principalId": "123456789012"},
                        "arn": "arn:aws:s3:::b"},
                    "object": {"key": "my+photo.jpg", "size": 3, "eTag": "abc", "sequencer": "0065"}}
            }]})
        );
        let d = s3_event(&S3Record {
            event: S3Event::Delete,
            ..r
        });
        assert_eq!(
            d["Records"][0]["s3"]["object"],
            json!({"key": "my+photo.jpg", "sequencer": "0065"})
        );
        assert_eq!(d["Records"][0]["eventName"], "ObjectRemoved:Delete");
        assert!(s3_sequencer(2, 0) > s3_sequencer(1, 5));
        assert!(s3_sequencer(1, 6) > s3_sequencer(1, 5));
    }

    #[test]
    fn sns_shapes() {
        let attrs = vec![("color".to_owned(), "String".to_owned(), "red".to_owned())];
        let m = SnsMessage {
            message_id: "m-1",
            topic_arn: "arn:aws:sns:us-east-1:123456789012:t",
            subject: None,
            message: "hi",
            time_ms: 1_700_000_000_123,
            attributes: &attrs,
            region: "us-east-1",
        };
        let sub = "arn:aws:sns:us-east-1:123456789012:t:sub-1";
        let e = sns_lambda_event(&m, sub);
        let rec = &e["Records"][0];
        assert_eq!(rec["EventSource"], "aws:sns");
        assert_eq!(rec["EventVersion"], "1.0");
        assert_eq!(rec["EventSubscriptionArn"], sub);
        assert_eq!(rec["Sns"]["Type"], "Notification");
        assert_eq!(rec["Sns"]["Subject"], Value::Null);
        assert_eq!(rec["Sns"]["Timestamp"], "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rec["Sns"]["MessageAttributes"],
            json!({"color": {"Type": "String", "Value": "red"}})
        );
        assert!(
            rec["Sns"]["UnsubscribeUrl"]
                .as_str()
                .unwrap()
                .ends_with(&format!("SubscriptionArn={sub}"))
        );
        let h = sns_http_body(&m, sub);
        assert!(h.get("Subject").is_none());
        assert!(h.get("SigningCertURL").is_some());
        assert_eq!(h["MessageAttributes"]["color"]["Value"], "red");
    }

    #[test]
    fn sqs_shapes_and_batch_failures() {
        let attrs = vec![("n".to_owned(), "Number".to_owned(), "7".to_owned())];
        let r = sqs_record(&SqsRecord {
            message_id: "id",
            receipt_handle: "rh",
            body: "b",
            receive_count: 2,
            sent_ms: 10,
            sender_id: "AIDA",
            first_receive_ms: 11,
            attributes: &attrs,
            md5_of_body: "92eb5ffee6ae2fec3ad71c777531578f",
            queue_arn: "arn:aws:sqs:us-east-1:123456789012:q",
            region: "us-east-1",
        });
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(r["attributes"]["SentTimestamp"], "10");
        assert_eq!(r["messageAttributes"]["n"]["stringValue"], "7");
        assert_eq!(r["messageAttributes"]["n"]["dataType"], "Number");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:q");

        let f = |s: &str| batch_item_failures(s.as_bytes());
        assert_eq!(
            f(r#"{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}"#),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(f(r#"{"batchItemFailures":[]}"#), Some(vec![]));
        assert_eq!(f("null"), Some(vec![]));
        assert_eq!(f("{}"), Some(vec![]));
        assert_eq!(f(r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#), None);
        assert_eq!(f(r#"{"batchItemFailures":[{}]}"#), None);
        assert_eq!(f(r#"{"batchItemFailures":"x"}"#), None);
        assert_eq!(f("not json"), None);
    }

    #[test]
    fn scheduled_event_shape() {
        let e = scheduled_event(
            "id-1",
            "123456789012",
            "us-east-1",
            "arn:aws:events:us-east-1:123456789012:rule/r",
            1_700_000_000_123,
        );
        assert_eq!(
            e,
            json!({"version": "0", "id": "id-1", "detail-type": "Scheduled Event",
                "source": "aws.events", "account": "123456789012",
                "time": "2023-11-14T22:13:20Z", "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/r"], "detail": {}})
        );
    }
}
