//! `slipway deploy` to an aws target: `sam package` + `sam deploy` through `slipway_aws`.
//!
//! 1. The template is read (YAML short forms become their `Fn::` maps) and packaged: every
//!    local code path zipped through the artefact store (`<data dir>/artefacts`, so the same
//!    code gives the same bytes and the same `sha256` key), uploaded unless the bucket has the
//!    key already, the template rewritten to the S3 locations. The template goes up as written
//!    otherwise: the SAM transform and CodeDeploy traffic shifting are AWS's to run.
//! 2. A change set, `CREATE` or `UPDATE` as the stack stands (a stack that cannot be updated is
//!    a clear error), printed as the same table as a local deploy. "No changes" prints SAM
//!    CLI's message and exits as a local deploy does (1, or 0 with
//!    `--no-fail-on-empty-changeset`). `--no-execute-changeset` stops there,
//!    `--confirm-changeset` asks.
//! 3. Executed; the stack's events printed as they appear until its status is no longer
//!    `…_IN_PROGRESS`; the outputs; exit 1 on a rollback or failed status.
//!
//! Capabilities are what `--capabilities` (or samconfig's `capabilities`) says and nothing
//! more, as `sam deploy`: CloudFormation answers `InsufficientCapabilities` for a template
//! with IAM resources or macros without them, and the hint names the flag.

use std::io::{BufRead as _, Write};
use std::path::Path;
use std::time::Duration;

use slipway_aws::{Aws, ChangeSet, ChangeSetRequest};
use slipway_model::syntax::{TagMode, parse_document};

use super::Status;
use super::deploy::{runtime, table};
use crate::error::CliError;
use crate::settings::{AwsDeploy, DeploySettings};

/// How often the change set and the stack are looked at (real time).
const POLL: Duration = Duration::from_millis(500);
/// How long a change set may take to create.
const CHANGE_SET_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) fn run(
    s: &DeploySettings,
    a: &AwsDeploy,
    template: &str,
    code_root: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    if s.dry_run {
        writeln!(
            err,
            "error: --dry-run plans against the local engine; for an aws target use --no-execute-changeset to see CloudFormation's change set"
        )?;
        return Ok(Status::Usage);
    }
    let doc = match parse_document(template, TagMode::CloudFormation).into_result() {
        Ok((node, _)) => node.to_json(),
        Err(diags) => {
            for d in &diags {
                writeln!(err, "error: {}: {}", s.template.display(), d.message)?;
            }
            return Ok(Status::Invalid);
        }
    };
    let target = slipway_aws::Target {
        account: a.target.account.clone(),
        region: a.target.region.clone(),
        profile: a.target.profile.clone(),
        s3_bucket: a.target.s3_bucket.clone(),
        s3_prefix: a.target.s3_prefix.clone(),
        endpoint_url: a.target.endpoint_url.clone(),
        role_arn: a.target.role_arn.clone(),
        cfn_role_arn: None,
    };
    let store_dir = s.remote.connect.data_dir.join("artefacts");
    let store = slipway_store::Store::open(&store_dir).map_err(|e| CliError::Io {
        action: "open the artefact store",
        path: store_dir.clone(),
        source: std::io::Error::other(e),
    })?;
    let rt = runtime()?;
    rt.block_on(async {
        match deploy(s, a, &target, &doc, code_root, &store, out).await {
            Ok(status) => Ok(status),
            Err(Failure::Aws(e)) => {
                writeln!(err, "error: {e}")?;
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    writeln!(err, "  caused by: {c}")?;
                    cause = c.source();
                }
                if e.to_string().contains("InsufficientCapabilities") {
                    writeln!(
                        err,
                        "  hint: acknowledge them with --capabilities CAPABILITY_IAM (or CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND), as sam deploy needs"
                    )?;
                }
                Ok(Status::Invalid)
            }
            Err(Failure::Cli(e)) => Err(e),
        }
    })
}

enum Failure {
    Aws(slipway_aws::Error),
    Cli(CliError),
}

impl From<slipway_aws::Error> for Failure {
    fn from(e: slipway_aws::Error) -> Self {
        Failure::Aws(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Cli(CliError::Write(e))
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument distinct"
)]
async fn deploy(
    s: &DeploySettings,
    a: &AwsDeploy,
    target: &slipway_aws::Target,
    doc: &serde_json::Value,
    code_root: &Path,
    store: &slipway_store::Store,
    out: &mut dyn Write,
) -> Result<Status, Failure> {
    let stack = &s.stack_name;
    writeln!(
        out,
        "Deploying stack {stack} to aws:{}/{}{}",
        target.account,
        target.region,
        target
            .endpoint_url
            .as_deref()
            .map(|u| format!(" (endpoint {u})"))
            .unwrap_or_default()
    )?;
    let aws = Aws::connect(target).await?;
    let bucket = aws.bucket(a.resolve_s3).await?;
    let packaged = aws.package(doc, code_root, store, &bucket).await?;
    for k in &packaged.uploaded {
        writeln!(out, "Uploaded s3://{bucket}/{k}")?;
    }
    for k in &packaged.skipped {
        writeln!(out, "Unchanged s3://{bucket}/{k} (already uploaded)")?;
    }
    let req = ChangeSetRequest {
        stack: stack.clone(),
        template: packaged.template,
        parameters: s.parameter_overrides.clone(),
        tags: s.tags.clone(),
        capabilities: a.capabilities.clone(),
        bucket,
        name: None,
    };
    let (id, name, changes) = match aws
        .create_change_set(&req, POLL, CHANGE_SET_TIMEOUT)
        .await?
    {
        ChangeSet::NoChanges { .. } => {
            writeln!(out, "\nNo changes to deploy. Stack {stack} is up to date")?;
            return Ok(if s.fail_on_empty_changeset {
                Status::Invalid
            } else {
                Status::Success
            });
        }
        ChangeSet::Ready {
            id,
            name,
            changes,
            change_set_type,
        } => {
            writeln!(out, "\nCloudFormation stack changeset ({change_set_type})")?;
            (id, name, changes)
        }
    };
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            let sign = match c.action.as_str() {
                "Add" => "+",
                "Modify" => "*",
                _ => "-",
            };
            vec![
                format!("{sign} {}", c.action),
                c.logical_id.clone(),
                c.resource_type.clone(),
                c.replacement.clone().unwrap_or_else(|| "N/A".into()),
            ]
        })
        .collect();
    table(out, &["Action", "LogicalId", "Type", "Replacement"], &rows).map_err(Failure::Cli)?;
    writeln!(out, "\nChangeset created successfully. {id}")?;
    if s.no_execute_changeset {
        writeln!(
            out,
            "Change set {name} waits for review; nothing was deployed."
        )?;
        return Ok(Status::Success);
    }
    if s.confirm_changeset {
        write!(out, "\nDeploy this changeset? [y/N]: ")?;
        out.flush()?;
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "Not deployed; change set {name} is kept.")?;
            return Ok(Status::Success);
        }
    }

    let mut mark = aws.newest_event(stack).await?;
    writeln!(out, "\nCloudFormation events from stack operations")?;
    if let Err(e) = aws.execute_change_set(stack, &id).await {
        // What the stack recorded before the failure says more than the error alone.
        print_events(&aws, stack, &mut mark, out).await?;
        return Err(e.into());
    }
    let info = loop {
        print_events(&aws, stack, &mut mark, out).await?;
        let info = aws.describe(stack).await?;
        if !info.status.ends_with("_IN_PROGRESS") {
            print_events(&aws, stack, &mut mark, out).await?;
            break info;
        }
        out.flush()?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => {
                writeln!(
                    out,
                    "\nInterrupted. The stack operation goes on in AWS; follow it with `aws cloudformation describe-stack-events --stack-name {stack}`."
                )?;
                return Ok(Status::Usage);
            }
        }
    };
    writeln!(out)?;
    if !info.outputs.is_empty() {
        writeln!(out, "CloudFormation outputs from deployed stack")?;
        let rows: Vec<Vec<String>> = info
            .outputs
            .iter()
            .map(|(k, v, d)| {
                vec![
                    k.clone(),
                    v.clone(),
                    d.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        table(out, &["Key", "Value", "Description"], &rows).map_err(Failure::Cli)?;
        writeln!(out)?;
    }
    if info.status.contains("ROLLBACK") || info.status.ends_with("_FAILED") {
        writeln!(
            out,
            "Stack {stack} ended in {}{}",
            info.status,
            info.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )?;
        return Ok(Status::Invalid);
    }
    writeln!(
        out,
        "Successfully created/updated stack - {stack} in aws:{}/{}",
        target.account, target.region
    )?;
    Ok(Status::Success)
}

async fn print_events(
    aws: &Aws,
    stack: &str,
    mark: &mut Option<String>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let events = aws.events_since(stack, mark.as_deref()).await?;
    for e in &events {
        writeln!(
            out,
            "{:<36} {:<40} {:<32} {}",
            e.status,
            e.resource_type,
            e.logical_id,
            e.reason.as_deref().unwrap_or("-")
        )?;
    }
    if let Some(last) = events.last() {
        *mark = Some(last.id.clone());
    }
    Ok(())
}
