//! SNS (query protocol, `Version=2010-03-31`, XML answers — botocore's
//! `sns/2010-03-31/service-2.json` says `"protocol": "query"`): `Publish`, `ListTopics`,
//! `Subscribe`, `ListSubscriptionsByTopic`, on the topics `AWS::SNS::Topic` deployed.
//!
//! A publish fans out to every subscription of the topic — the `AWS::SNS::Subscription`s of the
//! templates and those made with `Subscribe` (kept in `Collection::Events`,
//! `sns-subscription|ARN`):
//!
//! - `lambda`: an asynchronous invoke with `{"Records": [{"EventSource": "aws:sns", …}]}`;
//! - `http`: a `POST` of SNS's JSON document with `Content-Type: text/plain; charset=UTF-8` and
//!   the `x-amz-sns-message-type`, `x-amz-sns-message-id`, `x-amz-sns-topic-arn` and
//!   `x-amz-sns-subscription-arn` headers ("Parsing message formats", "HTTP/HTTPS headers"),
//!   sent from a task so the publisher does not wait; `https` endpoints are not reached (no TLS
//!   client here) and are logged;
//! - `sqs`: the JSON document as the message body (the raw message with `RawMessageDelivery`).
//!
//! Known differences: subscriptions need no confirmation (AWS first sends an `http` endpoint a
//! `SubscriptionConfirmation`); messages are not signed (see `slipway_deploy::events`);
//! `FilterPolicy` matches message attributes with exact values only (a list of strings or
//! numbers per attribute); other operators make the subscription match nothing, and say so in
//! the log; no retries or delivery policies.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use slipway_deploy::events as shapes;
use slipway_engine::providers::Target;
use slipway_store::state::{Batch, Collection};

use crate::wire::{self, AwsError, HttpResponse, SNS_XMLNS, Service, Xml};
use crate::{App, Req};

fn error(status: u16, code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(Service::Sns, status, code, message)
}

fn not_found(what: &str) -> AwsError {
    error(404, "NotFound", format!("{what} does not exist"))
}

fn internal(e: &dyn std::fmt::Display) -> AwsError {
    AwsError::internal(Service::Sns, e)
}

/// A subscription, wherever it was made.
#[derive(Clone, Debug)]
struct Subscription {
    arn: String,
    topic: String,
    protocol: String,
    endpoint: String,
    raw: bool,
    filter: Option<Value>,
}

fn topic_exists(app: &App, target: &str, arn: &str) -> Result<bool, AwsError> {
    Ok(app
        .store
        .get_doc(
            Collection::Resources,
            target,
            &format!("AWS::SNS::Topic|{arn}"),
        )
        .map_err(|e| internal(&e))?
        .is_some())
}

/// `ACCOUNT/REGION` of a topic ARN.
fn target_of(arn: &str) -> Option<String> {
    let p: Vec<&str> = arn.split(':').collect();
    match p.as_slice() {
        ["arn", _, "sns", region, account, _name, ..] => Some(format!("{account}/{region}")),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn filter_of(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

fn subscriptions(app: &App, target: &str, topic: &str) -> Vec<Subscription> {
    let mut out = Vec::new();
    for (k, d) in app
        .store
        .list_docs(Collection::Resources, target)
        .unwrap_or_default()
    {
        if !k.starts_with("AWS::SNS::Subscription|") {
            continue;
        }
        let p = &d.value["Properties"];
        if p.get("TopicArn").and_then(Value::as_str) != Some(topic) {
            continue;
        }
        out.push(Subscription {
            arn: d.value["PhysicalId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            topic: topic.to_owned(),
            protocol: p["Protocol"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            endpoint: p["Endpoint"].as_str().unwrap_or_default().to_owned(),
            raw: truthy(p.get("RawMessageDelivery")),
            filter: filter_of(p.get("FilterPolicy")),
        });
    }
    for (k, d) in app
        .store
        .list_docs(Collection::Events, target)
        .unwrap_or_default()
    {
        if !k.starts_with("sns-subscription|") || d.value["TopicArn"].as_str() != Some(topic) {
            continue;
        }
        out.push(Subscription {
            arn: k["sns-subscription|".len()..].to_owned(),
            topic: topic.to_owned(),
            protocol: d.value["Protocol"].as_str().unwrap_or_default().to_owned(),
            endpoint: d.value["Endpoint"].as_str().unwrap_or_default().to_owned(),
            raw: truthy(d.value.get("RawMessageDelivery")),
            filter: filter_of(d.value.get("FilterPolicy")),
        });
    }
    out
}

/// Exact-value filter policies: every key names an attribute whose value is one of the listed
/// strings or numbers.
fn filter_matches(policy: &Value, attrs: &[(String, String, String)]) -> bool {
    let Some(map) = policy.as_object() else {
        return false;
    };
    map.iter().all(|(name, allowed)| {
        let Some((_, _, value)) = attrs.iter().find(|(n, _, _)| n == name) else {
            return false;
        };
        let Some(list) = allowed.as_array() else {
            return false;
        };
        list.iter().any(|a| match a {
            Value::String(s) => s == value,
            Value::Number(n) => value.parse::<f64>().ok() == n.as_f64(),
            other => {
                tracing::warn!(operator = %other, "FilterPolicy operators are not supported: only exact values match");
                false
            }
        })
    })
}

/// Publishes and fans out; the message ID. With `MessageStructure=json`, `per_protocol` is the
/// parsed message: each subscription gets its protocol's entry, else `default`.
fn publish(
    app: &App,
    topic: &str,
    subject: Option<&str>,
    message: &str,
    attributes: &[(String, String, String)],
    per_protocol: Option<&serde_json::Map<String, Value>>,
) -> String {
    let message_id = slipway_runtime::new_request_id();
    let Some(target) = target_of(topic) else {
        return message_id;
    };
    let region = target.split('/').nth(1).unwrap_or_default().to_owned();
    let now = app.clock.now_ms();
    for s in subscriptions(app, &target, topic) {
        if let Some(f) = &s.filter
            && !filter_matches(f, attributes)
        {
            continue;
        }
        let message = per_protocol
            .and_then(|p| p.get(&s.protocol).or_else(|| p.get("default")))
            .and_then(Value::as_str)
            .unwrap_or(message);
        let m = shapes::SnsMessage {
            message_id: &message_id,
            topic_arn: topic,
            subject,
            message,
            time_ms: now,
            attributes,
            region: &region,
        };
        match s.protocol.as_str() {
            "lambda" => {
                let event = shapes::sns_lambda_event(&m, &s.arn);
                crate::events::invoke_event(app, &target, &s.endpoint, &event);
            }
            "http" => {
                let body = if s.raw {
                    message.to_owned()
                } else {
                    shapes::sns_http_body(&m, &s.arn).to_string()
                };
                post(&s, &message_id, body);
            }
            "sqs" => {
                let body = if s.raw {
                    message.to_owned()
                } else {
                    shapes::sns_http_body(&m, &s.arn).to_string()
                };
                crate::sqs::send_internal(app, &s.endpoint, &body);
            }
            other => tracing::warn!(
                protocol = other,
                subscription = %s.arn,
                "Slipway delivers SNS messages to lambda, http and sqs subscriptions only"
            ),
        }
    }
    message_id
}

/// Publishes from inside the server (S3 notifications, schedule targets).
pub(crate) fn publish_internal(
    app: &App,
    topic: &str,
    subject: Option<&str>,
    message: &str,
    attributes: &[(String, String, String)],
) {
    publish(app, topic, subject, message, attributes, None);
}

/// `POST`s a notification to an `http` endpoint, from a task.
fn post(s: &Subscription, message_id: &str, body: String) {
    let Some(rest) = s.endpoint.strip_prefix("http://") else {
        tracing::warn!(endpoint = %s.endpoint, "only http:// endpoints are reached");
        return;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    };
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let headers = [
        ("content-type", "text/plain; charset=UTF-8".to_owned()),
        ("x-amz-sns-message-type", "Notification".to_owned()),
        ("x-amz-sns-message-id", message_id.to_owned()),
        ("x-amz-sns-topic-arn", s.topic.clone()),
        ("x-amz-sns-subscription-arn", s.arn.clone()),
        (
            "user-agent",
            "Amazon Simple Notification Service Agent".to_owned(),
        ),
        ("host", authority.clone()),
    ];
    let endpoint = s.endpoint.clone();
    handle.spawn(async move {
        let result = async {
            let addr = if authority.contains(':') {
                authority.clone()
            } else {
                format!("{authority}:80")
            };
            let stream = tokio::net::TcpStream::connect(addr).await?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            let mut rb = Request::post(path);
            for (k, v) in headers {
                rb = rb.header(k, v);
            }
            let req = rb
                .body(Full::new(Bytes::from(body)))
                .map_err(std::io::Error::other)?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(resp.status())
        }
        .await;
        match result {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                tracing::warn!(%endpoint, %status, "the http subscriber refused the notification")
            }
            Err(e) => tracing::warn!(%endpoint, error = %e, "cannot reach the http subscriber"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The endpoint.

pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let mut params = wire::parse_pairs(&String::from_utf8_lossy(&req.body));
    params.extend(req.query.iter().cloned());
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let action = get("Action").unwrap_or_default();
    let target = app.target(req.region.as_deref());
    let mut x = Xml::new();
    x.open_ns(&format!("{action}Response"), SNS_XMLNS);
    x.open(&format!("{action}Result"));
    match action.as_str() {
        "Publish" => {
            let topic = get("TopicArn").or_else(|| get("TargetArn")).ok_or_else(|| {
                error(400, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
            })?;
            let message = get("Message").ok_or_else(|| {
                error(400, "ValidationError", "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null")
            })?;
            let t = target_of(&topic)
                .ok_or_else(|| error(400, "InvalidParameter", "Invalid parameter: TopicArn"))?;
            if !topic_exists(app, &t, &topic)? {
                return Err(not_found("Topic"));
            }
            let attributes = message_attributes(&params)?;
            let subject = get("Subject");
            let structure = match get("MessageStructure").as_deref() {
                None => None,
                Some("json") => {
                    let parsed: Option<serde_json::Map<String, Value>> =
                        serde_json::from_str(&message).ok();
                    match parsed {
                        Some(m) if m.get("default").is_some_and(Value::is_string) => Some(m),
                        Some(_) => {
                            return Err(error(
                                400,
                                "InvalidParameter",
                                "Invalid parameter: Message Structure - No default entry in JSON message body",
                            ));
                        }
                        None => {
                            return Err(error(
                                400,
                                "InvalidParameter",
                                "Invalid parameter: Message Structure - JSON message body failed to parse",
                            ));
                        }
                    }
                }
                Some(other) => {
                    return Err(error(
                        400,
                        "InvalidParameter",
                        format!("Invalid parameter: MessageStructure '{other}' (only json)"),
                    ));
                }
            };
            let id = publish(
                app,
                &topic,
                subject.as_deref(),
                &message,
                &attributes,
                structure.as_ref(),
            );
            x.leaf("MessageId", &id);
        }
        "ListTopics" => {
            let docs = app
                .store
                .list_docs(Collection::Resources, &target)
                .map_err(|e| internal(&e))?;
            x.open("Topics");
            for (k, _) in docs {
                if let Some(arn) = k.strip_prefix("AWS::SNS::Topic|") {
                    x.open("member");
                    x.leaf("TopicArn", arn);
                    x.close("member");
                }
            }
            x.close("Topics");
        }
        "Subscribe" => {
            let topic = get("TopicArn").unwrap_or_default();
            let protocol = get("Protocol").unwrap_or_default().to_ascii_lowercase();
            let endpoint = get("Endpoint").unwrap_or_default();
            let t = target_of(&topic)
                .ok_or_else(|| error(400, "InvalidParameter", "Invalid parameter: TopicArn"))?;
            if !topic_exists(app, &t, &topic)? {
                return Err(not_found("Topic"));
            }
            if !matches!(protocol.as_str(), "lambda" | "http" | "sqs") {
                return Err(error(
                    400,
                    "InvalidParameter",
                    format!(
                        "Invalid parameter: Protocol '{protocol}': Slipway delivers to lambda, http and sqs"
                    ),
                ));
            }
            let mut attrs = serde_json::Map::new();
            for i in 1.. {
                let (Some(k), Some(v)) = (
                    get(&format!("Attributes.entry.{i}.key")),
                    get(&format!("Attributes.entry.{i}.value")),
                ) else {
                    break;
                };
                attrs.insert(k, json!(v));
            }
            let arn = format!("{topic}:{}", slipway_runtime::new_request_id());
            let mut doc = json!({"TopicArn": topic, "Protocol": protocol, "Endpoint": endpoint});
            for (k, v) in attrs {
                doc[k] = v;
            }
            app.store
                .commit(Batch::new().put(
                    Collection::Events,
                    &t,
                    &format!("sns-subscription|{arn}"),
                    None,
                    doc,
                ))
                .map_err(|e| internal(&e))?;
            x.leaf("SubscriptionArn", &arn);
        }
        "ListSubscriptionsByTopic" => {
            let topic = get("TopicArn").unwrap_or_default();
            let t = target_of(&topic).ok_or_else(|| not_found("Topic"))?;
            if !topic_exists(app, &t, &topic)? {
                return Err(not_found("Topic"));
            }
            let account = Target::parse(&t).map(|t| t.account).unwrap_or_default();
            x.open("Subscriptions");
            for s in subscriptions(app, &t, &topic) {
                x.open("member");
                x.leaf("SubscriptionArn", &s.arn);
                x.leaf("Owner", &account);
                x.leaf("Protocol", &s.protocol);
                x.leaf("Endpoint", &s.endpoint);
                x.leaf("TopicArn", &s.topic);
                x.close("member");
            }
            x.close("Subscriptions");
        }
        other => {
            return Err(error(
                400,
                "InvalidAction",
                format!(
                    "Slipway's SNS does not implement '{other}': Publish, ListTopics, Subscribe and ListSubscriptionsByTopic"
                ),
            ));
        }
    }
    x.close(&format!("{action}Result"));
    x.open("ResponseMetadata");
    x.leaf("RequestId", &req.request_id);
    x.close("ResponseMetadata");
    x.close(&format!("{action}Response"));
    Ok(wire::response(200, "text/xml", x.finish()))
}

/// `MessageAttributes.entry.N.Name`, `.Value.DataType`, `.Value.StringValue` or
/// `.Value.BinaryValue` (base64 on the wire, kept so).
fn message_attributes(
    params: &[(String, String)],
) -> Result<Vec<(String, String, String)>, AwsError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    for i in 1.. {
        let p = format!("MessageAttributes.entry.{i}");
        let Some(name) = get(&format!("{p}.Name")) else {
            break;
        };
        let ty = get(&format!("{p}.Value.DataType")).ok_or_else(|| {
            error(
                400,
                "ParameterValueInvalid",
                format!(
                    "The message attribute '{name}' must contain non-empty message attribute type."
                ),
            )
        })?;
        let value = get(&format!("{p}.Value.StringValue"))
            .or_else(|| get(&format!("{p}.Value.BinaryValue")))
            .ok_or_else(|| {
                error(400, "ParameterValueInvalid", format!("The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{ty}'."))
            })?;
        if ty.starts_with("Binary")
            && base64::engine::general_purpose::STANDARD
                .decode(&value)
                .is_err()
        {
            return Err(error(
                400,
                "ParameterValueInvalid",
                format!("The message attribute '{name}' has an invalid binary value."),
            ));
        }
        out.push((name, ty, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_filter_policies() {
        let attrs = vec![
            ("color".to_owned(), "String".to_owned(), "red".to_owned()),
            ("size".to_owned(), "Number".to_owned(), "3".to_owned()),
        ];
        assert!(filter_matches(&json!({"color": ["red", "blue"]}), &attrs));
        assert!(filter_matches(
            &json!({"color": ["red"], "size": [3]}),
            &attrs
        ));
        assert!(!filter_matches(&json!({"color": ["blue"]}), &attrs));
        assert!(!filter_matches(&json!({"shape": ["round"]}), &attrs));
        assert!(!filter_matches(
            &json!({"color": [{"prefix": "r"}]}),
            &attrs
        ));
        assert_eq!(
            target_of("arn:aws:sns:eu-west-1:111111111111:t").as_deref(),
            Some("111111111111/eu-west-1")
        );
    }
}
