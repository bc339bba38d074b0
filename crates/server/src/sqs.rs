//! SQS: the queues `AWS::SQS::Queue` deployed, their messages in the state store, the JSON 1.0
//! endpoint, and the pollers of SQS event source mappings.
//!
//! # The endpoint
//!
//! botocore's model of SQS (`botocore/data/sqs/2012-11-05/service-2.json`, boto3 1.44 in the
//! test venv) says `"protocol": "json"`, `"protocols": ["json"]`, `jsonVersion` 1.0, target
//! prefix `AmazonSQS`, and `awsQueryCompatible`: a request is `POST /` with `X-Amz-Target:
//! AmazonSQS.SendMessage` and an `application/x-amz-json-1.0` body naming the queue by
//! `QueueUrl`; errors are `{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": …}`
//! with `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender`, from which
//! botocore takes the error code. The query protocol (older clients) is not served.
//! Operations: `GetQueueUrl`, `SendMessage`, `SendMessageBatch`, `ReceiveMessage`,
//! `DeleteMessage`, `DeleteMessageBatch`, `GetQueueAttributes`, `PurgeQueue`.
//!
//! # Storage and time
//!
//! One document per queue (`Collection::Events`, `sqs|NAME` in the queue's target) holds its
//! messages; every change is a compare-and-swap of that document, so messages survive a restart
//! and two receivers never get the same visible message. Visibility is a deadline on the
//! injected clock: a received message is invisible until `now + VisibilityTimeout` (the
//! request's, else the queue's `VisibilityTimeout`, default 30 s), and comes back after it with
//! `ApproximateReceiveCount` one higher. `DelaySeconds` (the message's, else the queue's)
//! delays the first delivery; `MessageRetentionPeriod` (default 4 days) drops old messages.
//! Known differences: FIFO queues are served as standard ones (ordered, no deduplication or
//! groups); `WaitTimeSeconds` answers at once (no long polling); no dead-letter queues.
//!
//! # Event source mappings
//!
//! On each tick [`poll`] takes, for each enabled `AWS::Lambda::EventSourceMapping` on an SQS
//! queue, batches of up to `BatchSize` (default 10) visible messages — receiving them makes them
//! invisible for the queue's visibility timeout, as Lambda's pollers do — and invokes the
//! function synchronously with `{"Records": [...]}` ("Using Lambda with Amazon SQS"). A success
//! deletes the batch; a function error or a failed invoke deletes nothing, so the batch comes
//! back after the visibility timeout. With `FunctionResponseTypes: [ReportBatchItemFailures]`
//! a success deletes every message but those in `batchItemFailures[].itemIdentifier`; a
//! response that is not that shape, or names a message not in the batch, fails the whole batch
//! ("Reporting batch item failures").
//! `MaximumBatchingWindowInSeconds` (default 0) holds a batch smaller than `BatchSize` until
//! its oldest visible message has waited that long on the injected clock ("Lambda reads
//! messages until the batch size is reached or the batching window expires").

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use slipway_deploy::events as shapes;
use slipway_engine::providers::Target;
use slipway_model::invoke::{InvocationType, Invoker as _};
use slipway_store::state::{Batch, Collection, StateError};

use crate::wire::{self, AwsError, HttpResponse, JSON_1_0, Service};
use crate::{App, Req};

/// The query protocol's code of an error (what botocore reports as `Error.Code`).
pub(crate) fn query_code(code: &str) -> &str {
    match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "ReceiptHandleIsInvalid" => "ReceiptHandleIsInvalid",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        other => other,
    }
}

fn error(code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(Service::Sqs, 400, code, message)
}

fn no_queue() -> AwsError {
    error("QueueDoesNotExist", "The specified queue does not exist.")
}

fn invalid(message: impl Into<String>) -> AwsError {
    error("InvalidParameterValue", message)
}

fn internal(e: &dyn std::fmt::Display) -> AwsError {
    AwsError::internal(Service::Sqs, e)
}

// ---------------------------------------------------------------------------------------------
// Queues and their messages.

/// A deployed queue: where it lives and its settings.
#[derive(Clone, Debug)]
pub(crate) struct Queue {
    pub(crate) target: String,
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) url: String,
    visibility_s: u64,
    delay_s: u64,
    retention_s: u64,
}

fn num(props: &Value, key: &str) -> Option<u64> {
    match props.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The queue named `name` in `target`, from its provider record.
fn find_queue(app: &App, target: &str, name: &str) -> Result<Option<Queue>, AwsError> {
    let docs = app
        .store
        .list_docs(Collection::Resources, target)
        .map_err(|e| internal(&e))?;
    Ok(docs.into_iter().find_map(|(k, d)| {
        if !k.starts_with("AWS::SQS::Queue|") {
            return None;
        }
        let attrs = d.value.get("Attributes")?;
        if attrs.get("QueueName").and_then(Value::as_str) != Some(name) {
            return None;
        }
        let props = d.value.get("Properties").cloned().unwrap_or(Value::Null);
        Some(Queue {
            target: target.to_owned(),
            name: name.to_owned(),
            arn: attrs.get("Arn").and_then(Value::as_str)?.to_owned(),
            url: attrs.get("QueueUrl").and_then(Value::as_str)?.to_owned(),
            visibility_s: num(&props, "VisibilityTimeout").unwrap_or(30),
            delay_s: num(&props, "DelaySeconds").unwrap_or(0),
            retention_s: num(&props, "MessageRetentionPeriod").unwrap_or(345_600),
        })
    }))
}

/// A queue from its URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or any URL ending
/// in `/ACCOUNT/NAME`).
fn queue_by_url(app: &App, req: &Req, url: &str) -> Result<Queue, AwsError> {
    let mut segs = url.trim_end_matches('/').rsplit('/');
    let name = segs.next().unwrap_or_default();
    let account = segs.next().unwrap_or_default();
    let region = url
        .split("://")
        .nth(1)
        .and_then(|h| h.split('/').next())
        .and_then(|host| host.strip_prefix("sqs."))
        .and_then(|h| h.split('.').next())
        .map(str::to_owned)
        .or_else(|| req.region.clone())
        .unwrap_or_else(|| app.default_region.clone());
    let target = format!("{account}/{region}");
    if Target::parse(&target).is_none() {
        return Err(no_queue());
    }
    find_queue(app, &target, name)?.ok_or_else(no_queue)
}

/// A queue from its ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
fn queue_by_arn(app: &App, arn: &str) -> Option<Queue> {
    let p: Vec<&str> = arn.split(':').collect();
    let [_, _, "sqs", region, account, name] = p.as_slice() else {
        return None;
    };
    find_queue(app, &format!("{account}/{region}"), name)
        .ok()
        .flatten()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct QueueState {
    messages: Vec<Message>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Message {
    id: String,
    body: String,
    md5: String,
    /// `(name, DataType, value)`; binary values base64.
    attributes: Vec<(String, String, String)>,
    md5_attributes: Option<String>,
    sender: String,
    sent_ms: u64,
    visible_ms: u64,
    receives: u32,
    first_receive_ms: u64,
    /// The receipt handle of the latest receive.
    receipt: Option<String>,
}

/// Changes a queue's messages atomically (compare-and-swap, retried on a concurrent change).
fn update<R>(
    app: &App,
    q: &Queue,
    mut f: impl FnMut(&mut QueueState, u64) -> R,
) -> Result<R, StateError> {
    let key = format!("sqs|{}", q.name);
    let mut attempt = 0;
    loop {
        let current = app.store.get_doc(Collection::Events, &q.target, &key)?;
        let mut state: QueueState = current
            .as_ref()
            .and_then(|c| serde_json::from_value(c.value.clone()).ok())
            .unwrap_or_default();
        let now = app.clock.now_ms();
        let retention_ms = q.retention_s * 1000;
        state
            .messages
            .retain(|m| m.sent_ms.saturating_add(retention_ms) > now);
        let r = f(&mut state, now);
        let doc = serde_json::to_value(&state).unwrap_or(Value::Null);
        // Nothing changed (a poll of an empty queue): no write.
        let unchanged = match &current {
            Some(c) => c.value == doc,
            None => state.messages.is_empty(),
        };
        if unchanged {
            return Ok(r);
        }
        match app.store.commit(Batch::new().put(
            Collection::Events,
            &q.target,
            &key,
            current.map(|c| c.generation),
            doc,
        )) {
            Ok(_) => return Ok(r),
            Err(StateError::Conflict { .. }) if attempt < 50 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// `MD5OfMessageAttributes` as SQS computes it ("Calculating the MD5 message digest for message
/// attributes"): attributes sorted by name, each as length-prefixed (4 bytes, big-endian) name,
/// data type, a transport byte (1 string, 2 binary) and length-prefixed value.
fn md5_of_attributes(attrs: &[(String, String, String)]) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut sorted: Vec<&(String, String, String)> = attrs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut buf = Vec::new();
    let put = |b: &[u8], buf: &mut Vec<u8>| {
        buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
        buf.extend_from_slice(b);
    };
    for (name, ty, value) in sorted {
        put(name.as_bytes(), &mut buf);
        put(ty.as_bytes(), &mut buf);
        if ty.starts_with("Binary") {
            buf.push(2);
            let raw = BASE64.decode(value).unwrap_or_default();
            put(&raw, &mut buf);
        } else {
            buf.push(1);
            put(value.as_bytes(), &mut buf);
        }
    }
    Some(md5_hex(&buf))
}

fn new_message(
    q: &Queue,
    body: String,
    attributes: Vec<(String, String, String)>,
    delay_s: Option<u64>,
    sender: &str,
    now: u64,
) -> Message {
    let delay = delay_s.unwrap_or(q.delay_s);
    Message {
        id: slipway_runtime::new_request_id(),
        md5: md5_hex(body.as_bytes()),
        md5_attributes: md5_of_attributes(&attributes),
        body,
        attributes,
        sender: sender.to_owned(),
        sent_ms: now,
        visible_ms: now + delay * 1000,
        receives: 0,
        first_receive_ms: 0,
        receipt: None,
    }
}

/// Takes up to `max` visible messages, invisible until `now + visibility_s`. With a batching
/// window, fewer than `max` are taken only once the oldest visible one has waited the window.
fn receive(
    app: &App,
    q: &Queue,
    max: usize,
    visibility_s: u64,
    window_ms: u64,
) -> Result<Vec<Message>, StateError> {
    update(app, q, |state, now| {
        let mut out = Vec::new();
        if window_ms > 0 {
            let visible = state.messages.iter().filter(|m| m.visible_ms <= now);
            let (count, oldest) =
                visible.fold((0, u64::MAX), |(n, o), m| (n + 1, o.min(m.visible_ms)));
            if count < max && oldest.saturating_add(window_ms) > now {
                return out;
            }
        }
        for m in state.messages.iter_mut() {
            if out.len() == max {
                break;
            }
            if m.visible_ms > now {
                continue;
            }
            m.receives += 1;
            if m.receives == 1 {
                m.first_receive_ms = now;
            }
            m.visible_ms = now + visibility_s * 1000;
            let handle = BASE64.encode(format!(
                "{}|{}|{}|{}",
                q.name,
                m.id,
                m.receives,
                slipway_runtime::new_request_id()
            ));
            m.receipt = Some(handle);
            out.push(m.clone());
        }
        out
    })
}

/// Deletes the messages whose latest receipt is one of `receipts`; how many went.
fn delete(app: &App, q: &Queue, receipts: &[String]) -> Result<usize, StateError> {
    update(app, q, |state, _| {
        let before = state.messages.len();
        state
            .messages
            .retain(|m| !m.receipt.as_ref().is_some_and(|r| receipts.contains(r)));
        before - state.messages.len()
    })
}

/// Sends `body` to the queue of `arn` (S3 and SNS deliveries, schedule targets).
pub(crate) fn send_internal(app: &App, arn: &str, body: &str) {
    let Some(q) = queue_by_arn(app, arn) else {
        tracing::warn!(queue = arn, "queue not found: message not delivered");
        return;
    };
    let account = q.target.split('/').next().unwrap_or_default().to_owned();
    if let Err(e) = update(app, &q, |state, now| {
        state.messages.push(new_message(
            &q,
            body.to_owned(),
            Vec::new(),
            None,
            &account,
            now,
        ));
    }) {
        tracing::warn!(queue = arn, error = %e, "message not delivered");
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint.

pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let op = req
        .header(wire::X_AMZ_TARGET)
        .and_then(|t| t.strip_prefix(wire::SQS_TARGET))
        .unwrap_or_default()
        .to_owned();
    let sender = wire::credential_scope(req.header("authorization").unwrap_or(""))
        .map(|s| s.0)
        .unwrap_or_else(|| app.default_account.clone());
    match op.as_str() {
        "GetQueueUrl" => {
            let b: wire::GetQueueUrlRequest = body(req)?;
            let name = required(b.queue_name.as_deref(), "QueueName")?;
            let account = b
                .queue_owner_aws_account_id
                .as_deref()
                .unwrap_or(&app.default_account);
            let region = req.region.as_deref().unwrap_or(&app.default_region);
            let q = find_queue(app, &format!("{account}/{region}"), name)?.ok_or_else(no_queue)?;
            answer(&wire::GetQueueUrlResult { queue_url: q.url })
        }
        "SendMessage" => {
            let b: wire::SendMessageRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            let (text, attrs, delay) = parse_entry(&b)?;
            let out = update(app, &q, |state, now| {
                let msg = new_message(&q, text.clone(), attrs.clone(), delay, &sender, now);
                let out = sent(None, &msg);
                state.messages.push(msg);
                out
            })
            .map_err(|e| internal(&e))?;
            answer(&out)
        }
        "SendMessageBatch" => {
            let b: wire::SendMessageBatchRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            check_batch(b.entries.iter().map(|e| e.id.as_deref()))?;
            let parsed = b
                .entries
                .iter()
                .map(|e| Ok((required(e.id.as_deref(), "Id")?.to_owned(), parse_entry(e)?)))
                .collect::<Result<Vec<_>, AwsError>>()?;
            let successful = update(app, &q, |state, now| {
                let mut done = Vec::new();
                for (id, (text, attrs, delay)) in &parsed {
                    let msg = new_message(&q, text.clone(), attrs.clone(), *delay, &sender, now);
                    done.push(sent(Some(id.clone()), &msg));
                    state.messages.push(msg);
                }
                done
            })
            .map_err(|e| internal(&e))?;
            answer(&wire::BatchResult {
                successful,
                failed: Vec::new(),
            })
        }
        "ReceiveMessage" => {
            let b: wire::ReceiveMessageRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            let max = b.max_number_of_messages.unwrap_or(1);
            if !(1..=10).contains(&max) {
                return Err(invalid(format!(
                    "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
                )));
            }
            // No long polling: a wait is accepted (0-20 s, as SQS checks) and answered at once.
            if b.wait_time_seconds.is_some_and(|w| w > 20) {
                return Err(invalid(
                    "Value for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
                ));
            }
            let vis = b.visibility_timeout.unwrap_or(q.visibility_s);
            let mut system = b.attribute_names.clone();
            system.extend(b.message_system_attribute_names.iter().cloned());
            let got = receive(app, &q, max as usize, vis, 0).map_err(|e| internal(&e))?;
            answer(&wire::ReceiveMessageResult {
                messages: got
                    .iter()
                    .map(|m| received(m, &system, &b.message_attribute_names))
                    .collect(),
            })
        }
        "DeleteMessage" => {
            let b: wire::DeleteMessageRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            let handle = required(b.receipt_handle.as_deref(), "ReceiptHandle")?;
            check_receipt(&q, handle)?;
            delete(app, &q, &[handle.to_owned()]).map_err(|e| internal(&e))?;
            answer(&serde_json::json!({}))
        }
        "DeleteMessageBatch" => {
            let b: wire::DeleteMessageBatchRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            check_batch(b.entries.iter().map(|e| e.id.as_deref()))?;
            let mut successful = Vec::new();
            let mut failed = Vec::new();
            let mut handles = Vec::new();
            for e in &b.entries {
                let id = required(e.id.as_deref(), "Id")?.to_owned();
                let h = required(e.receipt_handle.as_deref(), "ReceiptHandle")?;
                match check_receipt(&q, h) {
                    Ok(()) => {
                        handles.push(h.to_owned());
                        successful.push(wire::BatchResultEntry { id });
                    }
                    Err(err) => failed.push(wire::BatchResultErrorEntry {
                        id,
                        sender_fault: true,
                        code: err.code,
                        message: err.message,
                    }),
                }
            }
            delete(app, &q, &handles).map_err(|e| internal(&e))?;
            answer(&wire::BatchResult { successful, failed })
        }
        "PurgeQueue" => {
            let b: wire::QueueAttributesRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            update(app, &q, |state, _| state.messages.clear()).map_err(|e| internal(&e))?;
            answer(&serde_json::json!({}))
        }
        "GetQueueAttributes" => {
            let b: wire::QueueAttributesRequest = body(req)?;
            let q = queue_by_url(app, req, required(b.queue_url.as_deref(), "QueueUrl")?)?;
            let (visible, invisible, delayed) = update(app, &q, |state, now| {
                let mut c = (0, 0, 0);
                for m in &state.messages {
                    if m.visible_ms <= now {
                        c.0 += 1;
                    } else if m.receives == 0 {
                        c.2 += 1;
                    } else {
                        c.1 += 1;
                    }
                }
                c
            })
            .map_err(|e| internal(&e))?;
            let all = [
                ("QueueArn", q.arn.clone()),
                ("ApproximateNumberOfMessages", visible.to_string()),
                (
                    "ApproximateNumberOfMessagesNotVisible",
                    invisible.to_string(),
                ),
                ("ApproximateNumberOfMessagesDelayed", delayed.to_string()),
                ("VisibilityTimeout", q.visibility_s.to_string()),
                ("DelaySeconds", q.delay_s.to_string()),
                ("MessageRetentionPeriod", q.retention_s.to_string()),
                ("MaximumMessageSize", "1048576".to_owned()),
                ("ReceiveMessageWaitTimeSeconds", "0".to_owned()),
            ];
            let attributes = all
                .into_iter()
                .filter(|(k, _)| b.attribute_names.iter().any(|w| w == "All" || w == k))
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            answer(&wire::GetQueueAttributesResult { attributes })
        }
        other => Err(AwsError::new(
            Service::Sqs,
            400,
            "InvalidAction",
            format!(
                "Slipway's SQS does not implement '{other}': GetQueueUrl, SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessage, DeleteMessageBatch, GetQueueAttributes and PurgeQueue"
            ),
        )),
    }
}

fn answer<T: Serialize>(v: &T) -> Result<HttpResponse, AwsError> {
    Ok(wire::json(200, JSON_1_0, v))
}

fn body<T: serde::de::DeserializeOwned + Default>(req: &Req) -> Result<T, AwsError> {
    if req.body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        AwsError::new(
            Service::Sqs,
            400,
            "InvalidParameterValue",
            format!("the request body does not match the operation: {e}"),
        )
    })
}

fn required<'v>(v: Option<&'v str>, name: &str) -> Result<&'v str, AwsError> {
    v.ok_or_else(|| {
        error(
            "MissingParameter",
            format!("The request must contain the parameter {name}."),
        )
    })
}

/// One to ten entries with distinct IDs.
fn check_batch<'a>(ids: impl ExactSizeIterator<Item = Option<&'a str>>) -> Result<(), AwsError> {
    let n = ids.len();
    if n == 0 {
        return Err(error(
            "EmptyBatchRequest",
            "There should be at least one entry in the request.",
        ));
    }
    if n > 10 {
        return Err(error(
            "TooManyEntriesInBatchRequest",
            format!("Maximum number of entries per request are 10. You have sent {n}."),
        ));
    }
    let mut seen: Vec<&str> = ids.flatten().collect();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(error(
            "BatchEntryIdsNotDistinct",
            "Two or more batch entries in the request have the same Id.",
        ));
    }
    Ok(())
}

type Entry = (String, Vec<(String, String, String)>, Option<u64>);

/// `MessageBody`, `MessageAttributes`, `DelaySeconds` of a send.
fn parse_entry(m: &wire::SendMessageRequest) -> Result<Entry, AwsError> {
    let text = required(m.message_body.as_deref(), "MessageBody")?;
    if text.is_empty() {
        return Err(invalid(
            "The request must contain the parameter MessageBody.",
        ));
    }
    let mut attrs = Vec::new();
    for (name, v) in &m.message_attributes {
        let ty = v
            .data_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "The message attribute '{name}' must contain a non-empty attribute type."
                ))
            })?;
        let value = v
            .string_value
            .as_deref()
            .or(v.binary_value.as_deref())
            .ok_or_else(|| {
                invalid(format!(
                    "The message attribute '{name}' must contain a non-empty message attribute value."
                ))
            })?;
        attrs.push((name.clone(), ty.to_owned(), value.to_owned()));
    }
    if m.delay_seconds.is_some_and(|d| d > 900) {
        return Err(invalid(
            "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and 900.",
        ));
    }
    Ok((text.to_owned(), attrs, m.delay_seconds))
}

fn sent(id: Option<String>, m: &Message) -> wire::SendMessageResult {
    wire::SendMessageResult {
        id,
        message_id: m.id.clone(),
        md5_of_message_body: m.md5.clone(),
        md5_of_message_attributes: m.md5_attributes.clone(),
    }
}

fn attribute_value(ty: &str, value: &str) -> wire::MessageAttributeValue {
    let binary = ty.starts_with("Binary");
    wire::MessageAttributeValue {
        data_type: Some(ty.to_owned()),
        string_value: (!binary).then(|| value.to_owned()),
        binary_value: binary.then(|| value.to_owned()),
    }
}

fn received(m: &Message, system: &[String], user: &[String]) -> wire::ReceivedMessage {
    let all_system = [
        ("SenderId", m.sender.clone()),
        ("SentTimestamp", m.sent_ms.to_string()),
        ("ApproximateReceiveCount", m.receives.to_string()),
        (
            "ApproximateFirstReceiveTimestamp",
            m.first_receive_ms.to_string(),
        ),
    ];
    let attributes = all_system
        .into_iter()
        .filter(|(k, _)| system.iter().any(|s| s == "All" || s == k))
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let wanted = |name: &str| {
        user.iter().any(|u| {
            u == "All"
                || u == ".*"
                || u == name
                || u.strip_suffix(".*").is_some_and(|p| name.starts_with(p))
        })
    };
    let picked: Vec<(String, String, String)> = m
        .attributes
        .iter()
        .filter(|(n, _, _)| wanted(n))
        .cloned()
        .collect();
    wire::ReceivedMessage {
        message_id: m.id.clone(),
        receipt_handle: m.receipt.clone().unwrap_or_default(),
        md5_of_body: m.md5.clone(),
        body: m.body.clone(),
        attributes,
        message_attributes: picked
            .iter()
            .map(|(n, t, v)| (n.clone(), attribute_value(t, v)))
            .collect(),
        md5_of_message_attributes: md5_of_attributes(&picked),
    }
}

/// A receipt handle this queue could have issued.
fn check_receipt(q: &Queue, handle: &str) -> Result<(), AwsError> {
    let ok = BASE64
        .decode(handle)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|s| s.split('|').next() == Some(q.name.as_str()));
    if ok {
        Ok(())
    } else {
        Err(error(
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Event source mappings.

/// Batches at most this many times per mapping and tick, so one busy queue cannot hold the
/// ticker.
const BATCHES_PER_TICK: usize = 10;

/// Takes what is visible on every enabled SQS mapping and invokes its function.
pub(crate) fn poll(app: &Arc<App>) {
    for (target, esm) in crate::events::records_of(app, "AWS::Lambda::EventSourceMapping") {
        let Some(props) = esm.get("Properties") else {
            continue;
        };
        let Some(source) = props.get("EventSourceArn").and_then(Value::as_str) else {
            continue;
        };
        if !source.contains(":sqs:") {
            continue;
        }
        let enabled = match props.get("Enabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s != "false",
            _ => true,
        };
        if !enabled {
            continue;
        }
        let Some(function) = props.get("FunctionName").and_then(Value::as_str) else {
            continue;
        };
        let Some(q) = queue_by_arn(app, source) else {
            continue;
        };
        let batch = num(props, "BatchSize").unwrap_or(10).max(1) as usize;
        let window_ms = num(props, "MaximumBatchingWindowInSeconds").unwrap_or(0) * 1000;
        let report = props
            .get("FunctionResponseTypes")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|t| t == "ReportBatchItemFailures"));
        for _ in 0..BATCHES_PER_TICK {
            let msgs = match receive(app, &q, batch, q.visibility_s, window_ms) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(queue = %q.name, error = %e, "cannot receive");
                    break;
                }
            };
            if msgs.is_empty() {
                break;
            }
            deliver(app, &target, function, &q, msgs, report);
        }
    }
}

fn deliver(
    app: &Arc<App>,
    target: &str,
    function: &str,
    q: &Queue,
    msgs: Vec<Message>,
    report: bool,
) {
    let region = q.target.split('/').nth(1).unwrap_or_default().to_owned();
    let records: Vec<Value> = msgs
        .iter()
        .map(|m| {
            shapes::sqs_record(&shapes::SqsRecord {
                message_id: &m.id,
                receipt_handle: m.receipt.as_deref().unwrap_or_default(),
                body: &m.body,
                receive_count: m.receives,
                sent_ms: m.sent_ms,
                sender_id: &m.sender,
                first_receive_ms: m.first_receive_ms,
                attributes: &m.attributes,
                md5_of_body: &m.md5,
                queue_arn: &q.arn,
                region: &region,
            })
        })
        .collect();
    let payload = json!({"Records": records}).to_string().into_bytes();
    let Some(req) = crate::events::invoke_request(
        app,
        target,
        function,
        payload,
        InvocationType::RequestResponse,
    ) else {
        return;
    };
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let app = app.clone();
    let q = q.clone();
    handle.spawn(async move {
        let out = app.runtime.invoke(req).await;
        let receipts: Vec<String> = match out {
            Ok(r) if r.function_error.is_none() => {
                let failed = if report {
                    shapes::batch_item_failures(&r.payload)
                } else {
                    Some(Vec::new())
                };
                // An identifier that is not a message of the batch fails the whole batch, as an
                // empty or missing one does.
                let failed =
                    failed.filter(|ids| ids.iter().all(|id| msgs.iter().any(|m| &m.id == id)));
                match failed {
                    Some(ids) => msgs
                        .iter()
                        .filter(|m| !ids.contains(&m.id))
                        .filter_map(|m| m.receipt.clone())
                        .collect(),
                    None => {
                        tracing::warn!(queue = %q.name, "the batch response is not {{\"batchItemFailures\": [...]}}: the whole batch fails");
                        Vec::new()
                    }
                }
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::warn!(queue = %q.name, error = %e, "invoke failed: the batch stays on the queue");
                Vec::new()
            }
        };
        if receipts.is_empty() {
            return;
        }
        let a = app.clone();
        let done = tokio::task::spawn_blocking(move || delete(&a, &q, &receipts)).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "cannot delete the processed batch");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_message_attributes_matches_the_documented_encoding() {
        // Body MD5 of "hello".
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
        let a = vec![("a".to_owned(), "String".to_owned(), "b".to_owned())];
        // 00000001 'a' 00000006 'String' 01 00000001 'b'
        let mut buf = Vec::new();
        buf.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 6]);
        buf.extend_from_slice(b"String");
        buf.extend_from_slice(&[1, 0, 0, 0, 1, b'b']);
        assert_eq!(md5_of_attributes(&a), Some(md5_hex(&buf)));
        assert_eq!(md5_of_attributes(&[]), None);
    }
}
