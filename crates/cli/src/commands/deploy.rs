//! `slipway deploy` (`sam deploy`) and `slipway server`.
//!
//! `deploy` works through the control API ([`crate::client`]), against `--endpoint` or a
//! server it runs embedded over the data directory:
//!
//! 1. `--dry-run`: `POST …/deploy {dryRun}` and print the plan; nothing is stored.
//! 2. Otherwise create a change set (`noExecuteChangeset: true`) and print it as a table
//!    (Action / LogicalId / Type / Replacement). An update with nothing to change prints "No
//!    changes to deploy" and exits 1 (0 with `--no-fail-on-empty-changeset`), as SAM CLI.
//! 3. `--no-execute-changeset` stops here; `--confirm-changeset` asks on stdin.
//! 4. Execute it on one task while this one polls every [`POLL`]: new stack events as they
//!    are written, and every deployment that appeared since step 2 (the traffic shifts): its
//!    weights over time (the deployment's own history, so no step is missed between two polls),
//!    hook results, alarm states, the end. `[+Ns]` is the server's clock since the deployment
//!    was created: a `--time-scale` rehearsal reads as the real deployment would (hooks and
//!    alarms as seen at the poll).
//! 5. When the stack is no longer `…_IN_PROGRESS`: the outputs; exit 1 if it ended in a
//!    rollback or failure status.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, Write};
use std::path::Path;
use std::time::Duration;

use slipway_model::diag::render_human;
use slipway_server::api::types::{
    Change, DeployInput, DeployOptions, Deployment, Output, Parameter,
};

use super::Status;
use crate::args::{DeployArgs, ServerArgs};
use crate::client::{Client, ClientError, Session, TargetName, announce, server_config, withdraw};
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings::{self, DeploySettings};

/// How often a deploy looks at the stack and its deployments (real time).
pub(crate) const POLL: Duration = Duration::from_millis(100);

pub(crate) fn run(
    args: &DeployArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let resolved = settings::deploy(args, env, cwd);
    err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
    let Some(s) = resolved.settings else {
        return Ok(Status::Usage);
    };
    let path = cwd.join(&s.template);
    let template = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
        what: "template",
        path: path.clone(),
        source,
    })?;
    let code_root = path.parent().map_or_else(|| cwd.to_owned(), Path::to_owned);
    let code_root = code_root.canonicalize().unwrap_or(code_root);
    if let Some(aws) = &s.aws {
        return deploy_aws(&s, aws, &template, &code_root, out, err);
    }
    if s.remote.connect.endpoint.is_some() && s.remote.connect.time_scale.is_some() {
        writeln!(
            err,
            "warning: --time-scale applies to an embedded server; the server at the endpoint keeps its own clock (start it with `slipway server --time-scale N`)"
        )?;
    }
    let input = DeployInput {
        template,
        file: Some(s.template.display().to_string()),
        parameters: s
            .parameter_overrides
            .iter()
            .map(|(k, v)| Parameter {
                key: k.clone(),
                value: Some(v.clone()),
                use_previous_value: false,
            })
            .collect(),
        tags: s.tags.iter().cloned().collect(),
        code_root: Some(code_root.display().to_string()),
        change_set_name: None,
        options: DeployOptions {
            capabilities: s.capabilities.clone(),
            ..DeployOptions::default()
        },
    };
    let rt = runtime()?;
    rt.block_on(async {
        let session = Session::open(&s.remote.connect)
            .await
            .map_err(CliError::Client)?;
        let r = deploy(&session, &s, input, out, err).await;
        session.close().await;
        r
    })
}

/// An aws target: `slipway_aws` when built with the `aws` feature.
#[cfg(feature = "aws")]
fn deploy_aws(
    s: &DeploySettings,
    aws: &settings::AwsDeploy,
    template: &str,
    code_root: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    super::deploy_aws::run(s, aws, template, code_root, out, err)
}

#[cfg(not(feature = "aws"))]
fn deploy_aws(
    _: &DeploySettings,
    aws: &settings::AwsDeploy,
    _: &str,
    _: &Path,
    _: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    writeln!(
        err,
        "error: aws:{}/{} is an aws target, and this slipway was built without AWS support: build it with `cargo build --features slipway-cli/aws`",
        aws.target.account, aws.target.region
    )?;
    Ok(Status::Usage)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Tokio)
}

/// An API error the user should read (not a failure to run): printed, exit 1.
pub(crate) fn report(e: ClientError, err: &mut dyn Write) -> Result<Status, CliError> {
    match e {
        ClientError::Api {
            message,
            diagnostics,
            ..
        } => {
            writeln!(err, "error: {message}")?;
            for d in &diagnostics {
                let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let at = match (d.get("line"), d.get("col")) {
                    (Some(l), Some(c)) => format!("{}:{l}:{c}: ", s("file")),
                    _ if !s("file").is_empty() => format!("{}: ", s("file")),
                    _ => String::new(),
                };
                let path = if s("path").is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s("path"))
                };
                writeln!(err, "  {at}{}{path}", s("message"))?;
            }
            Ok(Status::Invalid)
        }
        other => Err(CliError::Client(other)),
    }
}

async fn deploy(
    session: &Session,
    s: &DeploySettings,
    mut input: DeployInput,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let c = &session.client;
    let t = &s.remote.target;
    let stack = &s.stack_name;
    writeln!(
        out,
        "Deploying stack {stack} to {t} ({})",
        session.describe()
    )?;

    if s.dry_run {
        input.options.dry_run = true;
        let plan = match c.deploy(t, stack, &input).await {
            Ok(p) => p,
            Err(e) => return report(e, err),
        };
        writeln!(
            out,
            "\nChanges a {} would make (dry run: nothing was changed)",
            plan.change_set_type.to_lowercase()
        )?;
        change_table(out, &plan.changes)?;
        return Ok(Status::Success);
    }

    input.options.no_execute_changeset = true;
    let created = match c.deploy(t, stack, &input).await {
        Ok(o) => o,
        Err(e) if e.code() == Some("NoChanges") => {
            writeln!(out, "\nNo changes to deploy. Stack {stack} is up to date")?;
            return Ok(if s.fail_on_empty_changeset {
                Status::Invalid
            } else {
                Status::Success
            });
        }
        Err(e) => return report(e, err),
    };
    let Some(cs) = created.change_set else {
        return Err(CliError::Client(ClientError::Decode {
            method: hyper::Method::POST,
            path: "deploy".into(),
            status: 201,
            body: "no change set in the answer".into(),
        }));
    };
    writeln!(out, "\nCloudFormation stack changeset")?;
    change_table(out, &cs.changes)?;
    writeln!(out, "\nChangeset created successfully. {}", cs.id)?;
    if s.no_execute_changeset {
        writeln!(
            out,
            "Change set {} ({}) waits for review; nothing was deployed.",
            cs.name, cs.change_set_type
        )?;
        return Ok(Status::Success);
    }
    if s.confirm_changeset {
        write!(out, "\nDeploy this changeset? [y/N]: ")?;
        out.flush()?;
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            writeln!(out, "Not deployed; change set {} is kept.", cs.name)?;
            return Ok(Status::Success);
        }
    }

    let before: BTreeSet<String> = match c.deployments(t, None).await {
        Ok(l) => l.deployments.into_iter().map(|d| d.id).collect(),
        Err(e) => return report(e, err),
    };
    let mut seen = match c.events(t, stack, usize::MAX).await {
        Ok(e) => e.total,
        Err(e) => return report(e, err),
    };
    writeln!(out, "\nCloudFormation events from stack operations")?;
    let exec = {
        let (c, t, stack, name) = (c.clone(), t.clone(), stack.clone(), cs.name.clone());
        tokio::spawn(async move { c.execute_change_set(&t, &stack, &name).await })
    };
    let mut exec = Some(exec);
    let mut shifts = Shifts::default();
    let status = loop {
        // Shifts first: a deployment's end is what lets the alias's step complete.
        shifts.poll(c, t, &before, out).await?;
        seen = print_events(c, t, stack, seen, out).await?;
        if let Some(h) = &exec
            && h.is_finished()
            && let Some(h) = exec.take()
        {
            match h.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return report(e, err),
                Err(e) => return Err(CliError::Join(e)),
            }
        }
        if exec.is_none() {
            let st = match c.stack(t, stack).await {
                Ok(st) => st,
                Err(e) => return report(e, err),
            };
            if !st.status.ends_with("_IN_PROGRESS") {
                shifts.poll(c, t, &before, out).await?;
                print_events(c, t, stack, seen, out).await?;
                break st;
            }
        }
        out.flush()?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => {
                writeln!(
                    out,
                    "\nInterrupted. The stack operation goes on in the server (an embedded one \
                     resumes it when it next starts); follow it with `slipway stack events {stack}`."
                )?;
                return Ok(Status::Usage);
            }
        }
    };
    writeln!(out)?;
    if !status.outputs.is_empty() {
        writeln!(out, "CloudFormation outputs from deployed stack")?;
        output_table(out, &status.outputs)?;
        writeln!(out)?;
    }
    for u in &status.api_urls {
        writeln!(
            out,
            "API {} ({}) at {} and {}",
            u.logical_id, u.stage, u.path_url, u.host_url
        )?;
    }
    let failed = status.status.contains("ROLLBACK") || status.status.ends_with("_FAILED");
    if failed {
        writeln!(
            out,
            "Stack {stack} ended in {}{}",
            status.status,
            status
                .status_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )?;
        Ok(Status::Invalid)
    } else {
        writeln!(out, "Successfully created/updated stack - {stack} in {t}")?;
        Ok(Status::Success)
    }
}

/// Prints the stack's events from index `since`; the new count.
pub(crate) async fn print_events(
    c: &Client,
    t: &TargetName,
    stack: &str,
    since: usize,
    out: &mut dyn Write,
) -> Result<usize, CliError> {
    let list = match c.events(t, stack, since).await {
        Ok(l) => l,
        // A stack deleted (or never created) has no more events to show.
        Err(e) if e.code() == Some("NotFound") => return Ok(since),
        Err(e) => return Err(CliError::Client(e)),
    };
    for e in &list.events {
        writeln!(
            out,
            "{:<36} {:<40} {:<32} {}",
            e.status,
            e.resource_type,
            e.logical_id,
            e.reason.as_deref().unwrap_or("-")
        )?;
    }
    Ok(list.total)
}

/// What was last printed of each deployment.
#[derive(Default)]
struct Shifts {
    seen: BTreeMap<String, Seen>,
}

struct Seen {
    /// How many entries of the weight history were printed.
    weights: usize,
    status: String,
    phase: String,
    hooks: BTreeMap<String, Option<String>>,
    alarms: BTreeMap<String, String>,
}

impl Shifts {
    async fn poll(
        &mut self,
        c: &Client,
        t: &TargetName,
        before: &BTreeSet<String>,
        out: &mut dyn Write,
    ) -> Result<(), CliError> {
        let list = c.deployments(t, None).await.map_err(CliError::Client)?;
        for d in list.deployments.iter().filter(|d| !before.contains(&d.id)) {
            self.show(d, out)?;
        }
        Ok(())
    }

    fn show(&mut self, d: &Deployment, out: &mut dyn Write) -> Result<(), CliError> {
        let at = format!("[+{}s]", d.now_ms.saturating_sub(d.created_ms) / 1000);
        let s = self.seen.entry(d.id.clone()).or_insert_with(|| Seen {
            weights: 0,
            status: String::new(),
            phase: String::new(),
            hooks: BTreeMap::new(),
            alarms: BTreeMap::new(),
        });
        if s.status.is_empty() {
            writeln!(
                out,
                "Traffic shift {} of {}:{}: version {} -> {} ({})",
                d.id, d.function, d.alias, d.current_version, d.target_version, d.config
            )?;
        }
        for h in &d.hooks {
            let was = s.hooks.get(&h.lifecycle_event).cloned().flatten();
            if h.status.is_some() && h.status != was {
                writeln!(
                    out,
                    "  {at} {} hook {}: {}",
                    h.lifecycle_event,
                    h.function,
                    h.status.as_deref().unwrap_or("-")
                )?;
            }
            s.hooks.insert(h.lifecycle_event.clone(), h.status.clone());
        }
        for (name, state) in &d.alarms {
            if s.alarms.get(name) != Some(state) {
                writeln!(out, "  {at} alarm {name}: {state}")?;
                s.alarms.insert(name.clone(), state.clone());
            }
        }
        if d.phase != s.phase && d.phase == "WaitingForContinue" {
            writeln!(
                out,
                "  {at} waiting: `slipway deployment continue {}` lets traffic move",
                d.id
            )?;
        }
        // The weights the alias was set to, each with the server's time it happened.
        for w in d.weights.iter().skip(s.weights) {
            writeln!(
                out,
                "  [+{}s] {}% on version {}, {}% on version {}",
                w.at_ms.saturating_sub(d.created_ms) / 1000,
                fmt_pct(w.weight_percent),
                d.target_version,
                fmt_pct(100.0 - w.weight_percent),
                d.current_version
            )?;
        }
        s.weights = d.weights.len();
        if d.status != s.status && matches!(d.status.as_str(), "Succeeded" | "Failed" | "Stopped") {
            let why = d
                .failure
                .as_deref()
                .map(|f| format!(": {f}"))
                .unwrap_or_default();
            writeln!(out, "  {at} deployment {} {}{why}", d.id, d.status)?;
        }
        s.status.clone_from(&d.status);
        s.phase.clone_from(&d.phase);
        Ok(())
    }
}

fn fmt_pct(p: f64) -> String {
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round())
    } else {
        format!("{p:.1}")
    }
}

/// Left-aligned columns under a header, between dashed rules (as `sam deploy` prints tables).
pub(crate) fn table(
    out: &mut dyn Write,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<(), CliError> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let total = widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1);
    let rule = "-".repeat(total);
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   "));
            }
        }
        s
    };
    writeln!(out, "{rule}")?;
    writeln!(
        out,
        "{}",
        line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
    )?;
    writeln!(out, "{rule}")?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(out, "{rule}")?;
    Ok(())
}

fn change_table(out: &mut dyn Write, changes: &[Change]) -> Result<(), CliError> {
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
    table(out, &["Action", "LogicalId", "Type", "Replacement"], &rows)
}

pub(crate) fn output_table(out: &mut dyn Write, outputs: &[Output]) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = outputs
        .iter()
        .map(|o| {
            vec![
                o.key.clone(),
                o.value.clone(),
                o.description.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(out, &["Key", "Value", "Description"], &rows)
}

/// `slipway server`: the control plane until Ctrl-C or SIGTERM.
pub(crate) fn server(
    args: &ServerArgs,
    env: &Environment,
    cwd: &Path,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let resolved = settings::server(args, env, cwd);
    err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
    let Some(s) = resolved.settings else {
        return Ok(Status::Usage);
    };
    let mut config = server_config(&s.connect, s.bind).map_err(CliError::Client)?;
    config.gateway = Some(s.gateway);
    super::targets::configure_console(&mut config, cwd);
    let rt = runtime()?;
    rt.block_on(async {
        let handle = slipway_server::Server::new(config)
            .start()
            .await
            .map_err(CliError::Server)?;
        announce(&s.connect.data_dir, &handle.endpoint_url());
        let scale = s
            .connect
            .time_scale
            .map(|n| format!(", clock x{n}"))
            .unwrap_or_default();
        writeln!(
            err,
            "Slipway server listening on {} (data {}{scale}; Ctrl-C to stop)",
            handle.endpoint_url(),
            s.connect.data_dir.display()
        )?;
        writeln!(err, "Console at {}/console/", handle.endpoint_url())?;
        if let Some(url) = handle.gateway_url() {
            writeln!(err, "Gateway serving the deployed APIs at {url}/")?;
        }
        err.flush()?;
        wait_for_signal().await?;
        writeln!(err, "Stopping…")?;
        withdraw(&s.connect.data_dir);
        handle.shutdown().await.map_err(CliError::Server)?;
        Ok(Status::Success)
    })
}

async fn wait_for_signal() -> Result<(), CliError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CliError::Signal)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(CliError::Signal),
        _ = term.recv() => Ok(()),
    }
}
