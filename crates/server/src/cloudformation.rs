//! CloudFormation (query protocol, `Version=2010-05-15`, XML answers): `DescribeStacks`,
//! `DescribeStackEvents`, `ListExports`. A stack that does not exist (or was deleted, when named)
//! is CloudFormation's `ValidationError` "Stack with id NAME does not exist".

use slipway_deploy::stack::{StackRecord, StackStatus};

use crate::wire::{self, AwsError, CFN_XMLNS, HttpResponse, Service, Xml};
use crate::{App, Req};

pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    // The form body, then the query string (a GET works too).
    let mut params = wire::parse_pairs(&String::from_utf8_lossy(&req.body));
    params.extend(req.query.iter().cloned());
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let action = get("Action").unwrap_or_default();
    let target = app.target(req.region.as_deref());
    let x = match action.as_str() {
        "DescribeStacks" => describe_stacks(app, &target, get("StackName").as_deref())?,
        "DescribeStackEvents" => {
            let name = get("StackName").ok_or_else(|| {
                AwsError::cfn_validation("1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
            })?;
            describe_stack_events(app, &target, &name)?
        }
        "ListExports" => list_exports(app, &target)?,
        other => {
            return Err(AwsError::new(
                Service::CloudFormation,
                400,
                "InvalidAction",
                format!("The action {other} is not valid for this web service."),
            ));
        }
    };
    let mut out = x;
    out.open("ResponseMetadata");
    out.leaf("RequestId", &req.request_id);
    out.close("ResponseMetadata");
    out.close(&format!("{action}Response"));
    Ok(wire::response(200, "text/xml", out.finish()))
}

fn begin(action: &str) -> Xml {
    let mut x = Xml::new();
    x.open_ns(&format!("{action}Response"), CFN_XMLNS);
    x.open(&format!("{action}Result"));
    x
}

/// A stack by name or stack ID (`arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID`).
fn find(app: &App, target: &str, name_or_id: &str) -> Result<Option<StackRecord>, AwsError> {
    let (target, name) = match name_or_id.strip_prefix("arn:") {
        Some(rest) => {
            let p: Vec<&str> = rest.split(':').collect();
            match p.as_slice() {
                [_, "cloudformation", region, account, res] => (
                    format!("{account}/{region}"),
                    res.split('/').nth(1).unwrap_or_default().to_owned(),
                ),
                _ => return Ok(None),
            }
        }
        None => (target.to_owned(), name_or_id.to_owned()),
    };
    let rec = app
        .engine
        .stack(&target, &name)
        .map_err(|e| AwsError::internal(Service::CloudFormation, &e))?;
    // A deleted stack is found by its ID only, as on CloudFormation.
    Ok(rec.filter(|r| r.status != StackStatus::DeleteComplete || name_or_id.starts_with("arn:")))
}

fn does_not_exist(name: &str) -> AwsError {
    AwsError::cfn_validation(format!("Stack with id {name} does not exist"))
}

fn describe_stacks(app: &App, target: &str, name: Option<&str>) -> Result<Xml, AwsError> {
    let stacks = match name {
        Some(n) => vec![find(app, target, n)?.ok_or_else(|| does_not_exist(n))?],
        None => {
            let names = app
                .engine
                .list_stacks(target)
                .map_err(|e| AwsError::internal(Service::CloudFormation, &e))?;
            let mut out = Vec::new();
            for n in names {
                if let Some(r) = find(app, target, &n)? {
                    out.push(r);
                }
            }
            out
        }
    };
    let mut x = begin("DescribeStacks");
    x.open("Stacks");
    for s in &stacks {
        x.open("member");
        x.leaf("StackId", &s.id);
        x.leaf("StackName", &s.name);
        let created = s.events.first().map_or(0, |e| e.timestamp_ms);
        x.leaf("CreationTime", &wire::iso8601(created));
        if let Some(last) = s.events.last()
            && s.events.len() > 1
            && !matches!(
                s.status,
                StackStatus::CreateComplete | StackStatus::CreateInProgress
            )
        {
            x.leaf("LastUpdatedTime", &wire::iso8601(last.timestamp_ms));
        }
        x.leaf("StackStatus", s.status.as_str());
        x.leaf_opt("StackStatusReason", s.status_reason.as_deref());
        x.open("Parameters");
        for (k, v) in s.described_parameters() {
            x.open("member");
            x.leaf("ParameterKey", &k);
            x.leaf("ParameterValue", &v);
            x.close("member");
        }
        x.close("Parameters");
        if s.status.outputs_available() {
            x.open("Outputs");
            for (k, o) in &s.outputs {
                x.open("member");
                x.leaf("OutputKey", k);
                x.leaf("OutputValue", &o.value);
                x.leaf_opt("Description", o.description.as_deref());
                x.leaf_opt("ExportName", o.export_name.as_deref());
                x.close("member");
            }
            x.close("Outputs");
        }
        x.open("Tags");
        for (k, v) in &s.tags {
            x.open("member");
            x.leaf("Key", k);
            x.leaf("Value", v);
            x.close("member");
        }
        x.close("Tags");
        x.leaf("DisableRollback", "false");
        x.close("member");
    }
    x.close("Stacks");
    x.close("DescribeStacksResult");
    Ok(x)
}

fn describe_stack_events(app: &App, target: &str, name: &str) -> Result<Xml, AwsError> {
    let s = find(app, target, name)?.ok_or_else(|| does_not_exist(name))?;
    let mut x = begin("DescribeStackEvents");
    x.open("StackEvents");
    // Newest first, as CloudFormation lists them.
    for e in s.events.iter().rev() {
        x.open("member");
        x.leaf("StackId", &s.id);
        x.leaf("EventId", &e.event_id);
        x.leaf("StackName", &s.name);
        x.leaf("LogicalResourceId", &e.spec.logical_id);
        x.leaf_opt("PhysicalResourceId", e.spec.physical_id.as_deref());
        x.leaf("ResourceType", &e.spec.resource_type);
        x.leaf("Timestamp", &wire::iso8601(e.timestamp_ms));
        x.leaf("ResourceStatus", e.spec.status.as_str());
        x.leaf_opt("ResourceStatusReason", e.spec.reason.as_deref());
        x.close("member");
    }
    x.close("StackEvents");
    x.close("DescribeStackEventsResult");
    Ok(x)
}

fn list_exports(app: &App, target: &str) -> Result<Xml, AwsError> {
    let mut x = begin("ListExports");
    x.open("Exports");
    for (name, (stack, value)) in app.engine.exports(target) {
        let id = find(app, target, &stack)?.map_or(stack, |s| s.id);
        x.open("member");
        x.leaf("ExportingStackId", &id);
        x.leaf("Name", &name);
        x.leaf("Value", &value);
        x.close("member");
    }
    x.close("Exports");
    x.close("ListExportsResult");
    Ok(x)
}
