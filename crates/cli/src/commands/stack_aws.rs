//! `slipway stack list|events|outputs|delete --target aws:…` (or a named aws target): the
//! same verbs and the same tables as for a local target, read from CloudFormation through
//! `slipway_aws` (`ListStacks`, `DescribeStackEvents`, `DescribeStacks`, `DeleteStack`).
//! A stack that does not exist is an error naming it and the target, exit 1, as locally.

use std::io::Write;
use std::time::Duration;

use slipway_aws::Aws;

use super::Status;
use super::deploy::{runtime, table};
use super::stack::iso8601;
use crate::args::StackCommand;
use crate::commands::targets::AwsTarget;
use crate::error::CliError;

/// How often a deletion is looked at (real time), and how long it may take.
const POLL: Duration = Duration::from_millis(500);
const DELETE_TIMEOUT: Duration = Duration::from_secs(3600);

pub(crate) fn run(
    command: &StackCommand,
    t: &AwsTarget,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let target = slipway_aws::Target::from(t);
    let name = format!("aws:{}/{}", t.account, t.region);
    let rt = runtime()?;
    let r = rt.block_on(async {
        let aws = Aws::connect(&target).await?;
        verb(&aws, command, out).await
    });
    match r {
        Ok(s) => Ok(s),
        Err(Failure::Cli(e)) => Err(e),
        Err(Failure::Missing(stack)) => {
            writeln!(err, "error: stack {stack} does not exist in {name}")?;
            Ok(Status::Invalid)
        }
        Err(Failure::Aws(e)) => {
            writeln!(err, "error: {name}: {e}")?;
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                writeln!(err, "  caused by: {c}")?;
                cause = c.source();
            }
            Ok(Status::Invalid)
        }
    }
}

enum Failure {
    Aws(slipway_aws::Error),
    Missing(String),
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

impl From<CliError> for Failure {
    fn from(e: CliError) -> Self {
        Failure::Cli(e)
    }
}

fn event_line(e: &slipway_aws::Event) -> String {
    format!(
        "{:<36} {:<40} {:<32} {}",
        e.status,
        e.resource_type,
        e.logical_id,
        e.reason.as_deref().unwrap_or("-")
    )
}

async fn verb(aws: &Aws, command: &StackCommand, out: &mut dyn Write) -> Result<Status, Failure> {
    let exists = async |stack: &str| -> Result<(), Failure> {
        match aws.stack_status(stack).await? {
            Some(_) => Ok(()),
            None => Err(Failure::Missing(stack.to_owned())),
        }
    };
    match command {
        StackCommand::List => {
            let rows: Vec<Vec<String>> = aws
                .list_stacks()
                .await?
                .into_iter()
                .map(|s| {
                    vec![
                        s.name,
                        s.status,
                        iso8601(s.updated_ms),
                        s.reason.unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            table(out, &["Stack", "Status", "Updated", "Reason"], &rows)?;
        }
        StackCommand::Events { name } => {
            exists(name).await?;
            for e in aws.events_since(name, None).await? {
                writeln!(out, "{}", event_line(&e))?;
            }
        }
        StackCommand::Outputs { name } => {
            exists(name).await?;
            let rows: Vec<Vec<String>> = aws
                .describe(name)
                .await?
                .outputs
                .into_iter()
                .map(|(k, v, d)| vec![k, v, d.unwrap_or_else(|| "-".into())])
                .collect();
            table(out, &["Key", "Value", "Description"], &rows)?;
        }
        StackCommand::Delete { name } => {
            exists(name).await?;
            let mut lines = Vec::new();
            let r = aws
                .delete_and_wait(name, POLL, DELETE_TIMEOUT, &mut |e| {
                    lines.push(event_line(e));
                })
                .await;
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            match r {
                Ok(_) => writeln!(out, "Stack {name}: DELETE_COMPLETE")?,
                Err(slipway_aws::Error::DeleteFailed { status, reason, .. }) => {
                    writeln!(out, "Stack {name}: {status}{reason}")?;
                    return Ok(Status::Invalid);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Status::Success)
}
