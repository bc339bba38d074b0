//! `slipway stack list|events|outputs|delete`, `slipway deployments [FUNCTION]`,
//! `slipway deployment stop|continue|skip-wait ID`, `slipway rollback FUNCTION [--alias A]`:
//! one control-API call each (through [`crate::client::Session`]: `--endpoint`, or a server
//! embedded for the command), printed as tables. An API error (no such stack, an action the
//! deployment's state does not allow) is printed and exits 1. `stack …` with an aws target
//! (`--target aws:ACCOUNT/REGION` or a named one) reads CloudFormation instead
//! (`stack_aws.rs`, the `aws` feature) and prints the same tables.

use std::io::Write;
use std::path::Path;

use slipway_model::diag::render_human;
use slipway_server::api::types::DeploymentAction;

use super::Status;
use super::deploy::{output_table, print_events, report, runtime, table};
use crate::args::{
    ConnectArgs, DeploymentActionArg, DeploymentArgs, DeploymentsArgs, RollbackArgs, StackArgs,
    StackCommand,
};
use crate::client::{Client, Session, TargetName};
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings;

/// Resolves the connection, opens the session, runs `work`, closes the session.
fn with_session<F>(
    connect: &ConnectArgs,
    verb: &str,
    env: &Environment,
    cwd: &Path,
    err: &mut dyn Write,
    work: F,
) -> Result<Status, CliError>
where
    F: AsyncFnOnce(&Client, &TargetName) -> Result<Status, CliError>,
{
    let resolved = settings::connect(connect, verb, env, cwd);
    err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
    let Some(s) = resolved.settings else {
        return Ok(Status::Usage);
    };
    runtime()?.block_on(async {
        let session = Session::open(&s.connect).await.map_err(CliError::Client)?;
        let r = work(&session.client, &s.target).await;
        session.close().await;
        r
    })
}

pub(crate) fn stack(
    args: &StackArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let resolved = settings::connect(&args.connect, "stack", env, cwd);
    if let Some(aws) = resolved.settings.as_ref().and_then(|s| s.aws.as_ref()) {
        err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
        return stack_aws(&args.command, aws, out, err);
    }
    let mut e2 = Vec::new();
    let status = with_session(
        &args.connect,
        "stack",
        env,
        cwd,
        err,
        async |c, t| match &args.command {
            StackCommand::List => {
                let list = match c.list_stacks(t).await {
                    Ok(l) => l,
                    Err(e) => return report(e, &mut e2),
                };
                let rows: Vec<Vec<String>> = list
                    .stacks
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.status.clone(),
                            iso8601(s.updated_ms),
                            s.status_reason.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                table(out, &["Stack", "Status", "Updated", "Reason"], &rows)?;
                Ok(Status::Success)
            }
            StackCommand::Events { name } => {
                if let Err(e) = c.stack(t, name).await {
                    return report(e, &mut e2);
                }
                print_events(c, t, name, 0, out).await?;
                Ok(Status::Success)
            }
            StackCommand::Outputs { name } => {
                let s = match c.stack(t, name).await {
                    Ok(s) => s,
                    Err(e) => return report(e, &mut e2),
                };
                output_table(out, &s.outputs)?;
                Ok(Status::Success)
            }
            StackCommand::Delete { name } => {
                let seen = match c.events(t, name, usize::MAX).await {
                    Ok(l) => l.total,
                    Err(e) => return report(e, &mut e2),
                };
                let op = match c.delete_stack(t, name).await {
                    Ok(op) => op,
                    Err(e) => return report(e, &mut e2),
                };
                print_events(c, t, name, seen, out).await?;
                writeln!(out, "Stack {name}: {}", op.status)?;
                Ok(if op.status == "DELETE_COMPLETE" {
                    Status::Success
                } else {
                    Status::Invalid
                })
            }
        },
    );
    err.write_all(&e2)?;
    status
}

/// `stack …` on an aws target: CloudFormation through the SDK when built with the `aws`
/// feature.
#[cfg(feature = "aws")]
fn stack_aws(
    command: &StackCommand,
    aws: &crate::commands::targets::AwsTarget,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    super::stack_aws::run(command, aws, out, err)
}

#[cfg(not(feature = "aws"))]
fn stack_aws(
    _: &StackCommand,
    aws: &crate::commands::targets::AwsTarget,
    _: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    writeln!(
        err,
        "error: aws:{}/{} is an aws target, and this slipway was built without AWS support: build it with `cargo build --features slipway-cli/aws`",
        aws.account, aws.region
    )?;
    Ok(Status::Usage)
}

pub(crate) fn deployments(
    args: &DeploymentsArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let mut e2 = Vec::new();
    let status = with_session(&args.connect, "deployments", env, cwd, err, async |c, t| {
        let list = match c.deployments(t, args.function.as_deref()).await {
            Ok(l) => l,
            Err(e) => return report(e, &mut e2),
        };
        let rows: Vec<Vec<String>> = list
            .deployments
            .iter()
            .map(|d| {
                vec![
                    d.id.clone(),
                    format!("{}:{}", d.function, d.alias),
                    format!("{} -> {}", d.current_version, d.target_version),
                    d.config
                        .trim_start_matches("CodeDeployDefault.Lambda")
                        .to_owned(),
                    d.status.clone(),
                    format!("{}%", d.weight_percent),
                    iso8601(d.created_ms),
                ]
            })
            .collect();
        table(
            out,
            &[
                "Id", "Alias", "Versions", "Config", "Status", "Weight", "Created",
            ],
            &rows,
        )?;
        Ok(Status::Success)
    });
    err.write_all(&e2)?;
    status
}

pub(crate) fn deployment(
    args: &DeploymentArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let action = match args.action {
        DeploymentActionArg::Stop => DeploymentAction::Stop,
        DeploymentActionArg::Continue => DeploymentAction::Continue,
        DeploymentActionArg::SkipWait => DeploymentAction::SkipWait,
    };
    let mut e2 = Vec::new();
    let status = with_session(&args.connect, "deployment", env, cwd, err, async |c, _| {
        let d = match c.deployment_action(&args.id, action).await {
            Ok(d) => d,
            Err(e) => return report(e, &mut e2),
        };
        writeln!(
            out,
            "{} {}: {}:{} {}, {}% on version {}{}",
            action.as_str(),
            d.id,
            d.function,
            d.alias,
            d.status,
            d.weight_percent,
            d.target_version,
            d.failure
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        )?;
        Ok(Status::Success)
    });
    err.write_all(&e2)?;
    status
}

pub(crate) fn rollback(
    args: &RollbackArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let mut e2 = Vec::new();
    let status = with_session(&args.connect, "rollback", env, cwd, err, async |c, t| {
        let r = match c.rollback(t, &args.function, &args.alias).await {
            Ok(r) => r,
            Err(e) => return report(e, &mut e2),
        };
        match r.deployment_id.as_deref() {
            Some(id) => writeln!(
                out,
                "Stopped deployment {id} of {}:{} with rollback: all traffic on version {} (was shifting to {})",
                r.function, r.alias, r.to_version, r.from_version
            )?,
            None => writeln!(
                out,
                "Moved {}:{} from version {} to version {} (all traffic)",
                r.function, r.alias, r.from_version, r.to_version
            )?,
        }
        Ok(Status::Success)
    });
    err.write_all(&e2)?;
    status
}

/// `2026-12-01T20:14:42Z` (UTC) from epoch milliseconds: EventBridge's `time` format.
pub(crate) use slipway_deploy::schedule::iso8601_s as iso8601;

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_is_utc() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_790_000_000_000), "2026-09-21T14:13:20Z");
    }
}
