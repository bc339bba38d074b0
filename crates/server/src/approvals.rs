//! Manual approval notifications: an approval action with a `NotificationArn` publishes
//! CodePipeline's approval message to that (local) SNS topic when it starts waiting, in the
//! shape of "JSON data format for manual approval notifications in CodePipeline":
//!
//! ```json
//! {"region": "us-east-1",
//!  "consoleLink": "http://127.0.0.1:PORT/console/pipelines/app",
//!  "approval": {"pipelineName": "app", "stageName": "Approve", "actionName": "Approval",
//!    "token": "…", "expires": "2026-12-09T01:22Z", "externalEntityLink": "…",
//!    "approvalReviewLink": "http://127.0.0.1:PORT/console/pipelines/app/Approve/Approval/approve/TOKEN",
//!    "customData": "…"}}
//! ```
//!
//! with the subject `APPROVAL NEEDED: AWS CodePipeline PIPELINE for action ACTION`. The links
//! point at Slipway's console instead of the AWS console (the review link keeps AWS's
//! `…/STAGE/ACTION/approve/TOKEN` tail; the console page of the pipeline is where one
//! approves). `externalEntityLink` and `customData` are left out when the action has none.
//! A restart does not publish again for an approval already waiting.

use std::sync::{Arc, Weak};

use serde_json::{Map, Value};
use slipway_pipeline::StartAction;
use slipway_pipeline::exec::ApprovalNotifier;

use crate::App;

/// `2016-07-07T20:22Z`: the approval's expiry, to the minute.
fn expires(ms: u64) -> String {
    let full = crate::wire::iso8601(ms);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ` → `YYYY-MM-DDTHH:MMZ`
    format!("{}Z", &full[..16])
}

/// The message an approval publishes.
pub(crate) fn message(
    console: &str,
    region: &str,
    pipeline: &str,
    a: &StartAction,
) -> (String, Value) {
    let link = format!("{console}/console/pipelines/{pipeline}");
    let token = a.token.clone().unwrap_or_default();
    let mut approval = Map::new();
    approval.insert("pipelineName".into(), pipeline.into());
    approval.insert("stageName".into(), a.stage.clone().into());
    approval.insert("actionName".into(), a.action.clone().into());
    approval.insert("token".into(), token.clone().into());
    approval.insert("expires".into(), expires(a.deadline.0).into());
    if let Some(l) = a.configuration.get("ExternalEntityLink") {
        approval.insert("externalEntityLink".into(), l.clone().into());
    }
    approval.insert(
        "approvalReviewLink".into(),
        format!("{link}/{}/{}/approve/{token}", a.stage, a.action).into(),
    );
    if let Some(c) = a.configuration.get("CustomData") {
        approval.insert("customData".into(), c.clone().into());
    }
    let subject = format!(
        "APPROVAL NEEDED: AWS CodePipeline {pipeline} for action {}",
        a.action
    );
    let body = serde_json::json!({
        "region": region,
        "consoleLink": link,
        "approval": approval,
    });
    (subject, body)
}

pub(crate) fn notifier(app: Weak<App>, rt: tokio::runtime::Handle) -> ApprovalNotifier {
    Arc::new(move |pipeline: &str, a: &StartAction| {
        let Some(topic) = a.configuration.get("NotificationArn") else {
            return;
        };
        let Some(app) = app.upgrade() else {
            return;
        };
        let region = a
            .region
            .clone()
            .or_else(|| topic.split(':').nth(3).map(str::to_owned))
            .unwrap_or_else(|| app.default_region.clone());
        let console = format!("http://{}", app.endpoint_addr());
        let (subject, body) = message(&console, &region, pipeline, a);
        // Lambda subscribers are invoked through the runtime, which needs the tokio runtime.
        let _rt = rt.enter();
        crate::sns::publish_internal(&app, topic, Some(&subject), &body.to_string(), &[]);
        tracing::info!(pipeline, action = %a.action, %topic, "approval notification published");
    })
}
