//! Event delivery: what the deployed event sources do once a stack is up. The engine only
//! records S3 notification configurations, SNS subscriptions, SQS event source mappings and
//! EventBridge rules (`Collection::Resources`, their resolved properties); this module reads
//! those records when something happens and invokes functions with the events AWS would send
//! (`slipway_deploy::events` builds them).
//!
//! - S3 (`s3_object_event`): a `PutObject`, `CopyObject` or `DeleteObject` on a bucket whose
//!   `NotificationConfiguration.LambdaConfigurations` match (`Event`, `Filter.S3Key.Rules`)
//!   invokes each function asynchronously (`InvocationType: Event`, as S3 does), one record per
//!   event. `QueueConfigurations` send the same event to a queue of `sqs.rs`, and
//!   `TopicConfigurations` publish it through `sns.rs`.
//! - SNS: `sns.rs` (publish, fan-out).
//! - SQS: `sqs.rs` (queues, the pollers of event source mappings), polled from [`tick`].
//! - Schedules (`tick_schedules`): each `AWS::Events::Rule` with a `ScheduleExpression`, not
//!   `DISABLED`, fires its Lambda targets when due by the injected clock.
//!
//! Asynchronous invocations are queued by the runtime and run once: Lambda's two retries of a
//! failed asynchronous invocation, and destinations or dead-letter queues for them, are not
//! modelled.
//!
//! # Schedules and time
//!
//! A schedule's position is persisted (`Collection::Events`, `schedule|RULE`): the expression,
//! its anchor and the next due time. A rate counts from the anchor — the first tick that saw
//! the rule, i.e. its creation (EventBridge starts a rate when the rule is created); changing
//! the expression re-anchors it. On a tick at or after the due time the next due time is
//! persisted first, then the targets are invoked (at most once per due time: a crash between
//! the two loses that one firing rather than repeating it). After downtime (or a clock moved
//! far ahead) the rule fires **once**, stamped with the first missed time, and the next due
//! time is the first one after now: missed firings are not replayed one by one, as a
//! scheduler that was down would not have sent them. A `DISABLED` rule does not fire and keeps
//! its next due time moving, so enabling it does not fire at once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use slipway_deploy::events::{self as shapes, S3Event};
use slipway_deploy::schedule::Schedule;
use slipway_engine::providers::{Target, load_function};
use slipway_model::function::Version;
use slipway_model::invoke::{InvocationType, InvokeRequest, Invoker as _};
use slipway_store::state::{Batch, Collection, StateError};

use crate::App;

/// Every provider record of `type_`, across targets: `(target, record)`.
pub(crate) fn records_of(app: &App, type_: &str) -> Vec<(String, Value)> {
    let prefix = format!("{type_}|");
    match app.store.list_all_docs(Collection::Resources) {
        Ok(docs) => docs
            .into_iter()
            .filter(|(_, k, _)| k.starts_with(&prefix))
            .map(|(t, _, d)| (t, d.value))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the resource records");
            Vec::new()
        }
    }
}

/// The invoke request for a function reference as event sources hold it: a name, `name:qualifier`,
/// or a (qualified) function ARN. An alias picks its version with its weights.
pub(crate) fn invoke_request(
    app: &App,
    target: &str,
    function: &str,
    payload: Vec<u8>,
    invocation_type: InvocationType,
) -> Option<InvokeRequest> {
    let parts: Vec<&str> = function.split(':').collect();
    let (target, name, qualifier) = match parts.as_slice() {
        [
            "arn",
            _,
            "lambda",
            region,
            account,
            "function",
            name,
            rest @ ..,
        ] => (
            format!("{account}/{region}"),
            (*name).to_owned(),
            rest.first().map(|q| (*q).to_owned()),
        ),
        [name] => (target.to_owned(), (*name).to_owned(), None),
        [name, q] => (target.to_owned(), (*name).to_owned(), Some((*q).to_owned())),
        _ => {
            tracing::warn!(function, "not a function name or ARN: event not delivered");
            return None;
        }
    };
    let rec = match load_function(app.store.as_ref(), &target, &name) {
        Ok(Some((rec, _))) => rec,
        Ok(None) => {
            tracing::warn!(function, "function not found: event not delivered");
            return None;
        }
        Err(e) => {
            tracing::warn!(function, error = %e, "cannot read the function: event not delivered");
            return None;
        }
    };
    let version = match qualifier.as_deref() {
        None => Version::Latest,
        Some(q) => match Version::parse(q) {
            Some(v) => v,
            None => match rec.versions.aliases.get(q) {
                Some(alias) => crate::lambda::pick(&alias.routes()),
                None => {
                    tracing::warn!(function, "alias not found: event not delivered");
                    return None;
                }
            },
        },
    };
    let mut req = InvokeRequest::new(rec.name, version, payload);
    req.qualifier = qualifier;
    req.location = slipway_engine::providers::Target::parse(&target).map(|t| t.location());
    req.invocation_type = invocation_type;
    Some(req)
}

/// Invokes asynchronously (`Event`): the runtime queues it. Call from a thread of the server's
/// tokio runtime (a handler's blocking thread, the ticker's).
pub(crate) fn invoke_event(app: &App, target: &str, function: &str, event: &Value) {
    let Some(req) = invoke_request(
        app,
        target,
        function,
        event.to_string().into_bytes(),
        InvocationType::Event,
    ) else {
        return;
    };
    let runtime = app.runtime.clone();
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no tokio runtime: event not delivered");
        return;
    };
    let function = function.to_owned();
    handle.spawn(async move {
        if let Err(e) = runtime.invoke(req).await {
            tracing::warn!(%function, error = %e, "asynchronous invoke failed");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// S3.

/// One object event as the S3 endpoint saw it.
pub(crate) struct ObjectEvent<'a> {
    pub(crate) event: S3Event,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) size: u64,
    /// With or without quotes.
    pub(crate) etag: &'a str,
    pub(crate) request_id: &'a str,
}

static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sends the event to every matching notification configuration of the bucket.
pub(crate) fn s3_object_event(app: &App, e: &ObjectEvent<'_>) {
    let Some((target_name, record)) = records_of(app, "AWS::S3::Bucket")
        .into_iter()
        .find(|(_, r)| r.get("PhysicalId").and_then(Value::as_str) == Some(e.bucket))
    else {
        return;
    };
    let Some(nc) = record.pointer("/Properties/NotificationConfiguration") else {
        return;
    };
    let Some(target) = Target::parse(&target_name) else {
        return;
    };
    let now = app.clock.now_ms();
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sequencer = shapes::s3_sequencer(now, seq);
    let host_id = slipway_model::template::hash::sha256_hex(e.request_id.as_bytes());
    let etag = e.etag.trim_matches('"');
    for (list, dest) in [
        ("LambdaConfigurations", "Function"),
        ("QueueConfigurations", "Queue"),
        ("TopicConfigurations", "Topic"),
    ] {
        let Some(configs) = nc.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in configs.iter().enumerate() {
            let wanted = c.get("Event").and_then(Value::as_str).unwrap_or("");
            if !shapes::s3_event_matches(wanted, e.event)
                || !shapes::s3_filter_matches(c.get("Filter"), e.key)
            {
                continue;
            }
            let Some(to) = c.get(dest).and_then(Value::as_str) else {
                continue;
            };
            // CloudFormation's LambdaConfiguration has no Id: S3 then names the configuration
            // itself. A stable one per bucket, list and position stands in for it.
            let configuration_id = c
                .get("Id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    let h = slipway_model::template::hash::sha256_hex(
                        format!("{}|{list}|{i}|{to}", e.bucket).as_bytes(),
                    );
                    format!("slipway-{}", &h[..32])
                });
            let event = shapes::s3_event(&shapes::S3Record {
                event: e.event,
                region: &target.region,
                partition: target.partition(),
                time_ms: now,
                principal_id: &format!("AWS:{}", target.account),
                source_ip: "127.0.0.1",
                request_id: e.request_id,
                host_id: &host_id,
                configuration_id: &configuration_id,
                bucket: e.bucket,
                owner_id: &target.account,
                key: e.key,
                size: e.size,
                etag,
                sequencer: &sequencer,
            });
            match dest {
                "Function" => invoke_event(app, &target_name, to, &event),
                "Queue" => crate::sqs::send_internal(app, to, &event.to_string()),
                _ => crate::sns::publish_internal(
                    app,
                    to,
                    Some("Amazon S3 Notification"),
                    &event.to_string(),
                    &[],
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ticker.

/// One tick of event delivery: due schedules fire, SQS pollers take what is visible.
pub(crate) fn tick(app: &Arc<App>) {
    tick_schedules(app);
    crate::sqs::poll(app);
    sweep(app);
}

/// Drops the state of what a stack deleted: a deleted queue's messages (SQS deletes them with
/// the queue) and a deleted rule's position, so a queue or rule created again under the same
/// name starts empty and anew.
fn sweep(app: &App) {
    // State first, records after: a queue created (and sent to) between the two reads is then
    // seen as live, never swept.
    let Ok(state) = app.store.list_all_docs(Collection::Events) else {
        return;
    };
    let Ok(resources) = app.store.list_all_docs(Collection::Resources) else {
        return;
    };
    let live: std::collections::BTreeSet<(String, String)> = resources
        .iter()
        .filter_map(|(t, k, d)| {
            if k.starts_with("AWS::SQS::Queue|") {
                let name = d.value.pointer("/Attributes/QueueName")?.as_str()?;
                Some((t.clone(), format!("sqs|{name}")))
            } else {
                k.strip_prefix("AWS::Events::Rule|")
                    .map(|rule| (t.clone(), format!("schedule|{rule}")))
            }
        })
        .collect();
    for (t, k, d) in state {
        let owned = k.starts_with("sqs|") || k.starts_with("schedule|");
        if owned && !live.contains(&(t.clone(), k.clone())) {
            // A concurrent change wins; the next tick tries again.
            let _ = app
                .store
                .commit(Batch::new().delete(Collection::Events, &t, &k, d.generation));
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ScheduleState {
    expression: String,
    anchor_ms: u64,
    /// `None`: the schedule never fires again.
    next_ms: Option<u64>,
}

fn tick_schedules(app: &App) {
    let now = app.clock.now_ms();
    for (target_name, rule) in records_of(app, "AWS::Events::Rule") {
        let Some(expr) = rule
            .pointer("/Properties/ScheduleExpression")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let name = rule
            .get("PhysicalId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Ok(schedule) = Schedule::parse(expr) else {
            // The provider refuses invalid expressions at deploy time.
            continue;
        };
        let disabled =
            rule.pointer("/Properties/State").and_then(Value::as_str) == Some("DISABLED");
        match step_schedule(app, &target_name, name, expr, &schedule, disabled, now) {
            Ok(Some(due)) => fire_rule(app, &target_name, &rule, due),
            Ok(None) => {}
            Err(e) => tracing::warn!(rule = name, error = %e, "cannot move the schedule"),
        }
    }
}

/// Persists the schedule's next position; `Some(due)` when it fires now.
fn step_schedule(
    app: &App,
    target: &str,
    rule: &str,
    expr: &str,
    schedule: &Schedule,
    disabled: bool,
    now: u64,
) -> Result<Option<u64>, StateError> {
    let key = format!("schedule|{rule}");
    let current = app.store.get_doc(Collection::Events, target, &key)?;
    let state: Option<ScheduleState> = current
        .as_ref()
        .and_then(|c| serde_json::from_value(c.value.clone()).ok());
    let (next, fire) = match state {
        Some(s) if s.expression == expr => match s.next_ms {
            Some(due) if due <= now => (
                ScheduleState {
                    next_ms: schedule.next_after(s.anchor_ms, now),
                    ..s
                },
                (!disabled).then_some(due),
            ),
            _ => return Ok(None),
        },
        _ => (
            ScheduleState {
                expression: expr.to_owned(),
                anchor_ms: now,
                next_ms: schedule.next_after(now, now),
            },
            None,
        ),
    };
    let doc = serde_json::to_value(&next).unwrap_or(Value::Null);
    app.store.commit(Batch::new().put(
        Collection::Events,
        target,
        &key,
        current.map(|c| c.generation),
        doc,
    ))?;
    Ok(fire)
}

fn fire_rule(app: &App, target_name: &str, rule: &Value, due: u64) {
    let Some(target) = Target::parse(target_name) else {
        return;
    };
    let arn = rule
        .pointer("/Attributes/Arn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let event = shapes::scheduled_event(
        &slipway_runtime::new_request_id(),
        &target.account,
        &target.region,
        arn,
        due,
    );
    let targets = rule
        .pointer("/Properties/Targets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in targets {
        let Some(to) = t.get("Arn").and_then(Value::as_str) else {
            continue;
        };
        // `Input` replaces the event with its (JSON) text.
        let payload = match t.get("Input").and_then(Value::as_str) {
            Some(input) => serde_json::from_str(input).unwrap_or_else(|_| json!(input)),
            None => event.clone(),
        };
        if to.contains(":lambda:") || !to.starts_with("arn:") {
            invoke_event(app, target_name, to, &payload);
        } else if to.contains(":sqs:") {
            crate::sqs::send_internal(app, to, &payload.to_string());
        } else if to.contains(":sns:") {
            crate::sns::publish_internal(app, to, None, &payload.to_string(), &[]);
        }
    }
}
