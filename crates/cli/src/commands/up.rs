//! `slipway up [DIR]`: the platform for one project, delivering every commit.
//!
//! 1. `DIR` (default `.`) must be a git repository with a commit: pipelines deploy commits.
//!    A directory that is not one is refused with the commands that make it one — deploying a
//!    snapshot of the working tree would deploy edits nobody committed, and the next commit
//!    would not be told apart from them.
//! 2. The pipeline: `slipway.yaml` when present, else the default one
//!    ([`super::pipeline::project_pipeline`]: current branch → build, with `buildspec.yml`'s
//!    tests when there is one, else a SAM-style build → deploy `template.yaml` to `dev`).
//! 3. The platform: [`slipway_server::Server`] with its data in `DIR/.slipway` (state,
//!    artefacts, builds), the control plane and AWS-compatible endpoints on 127.0.0.1:8040
//!    (`--port`), polling the branch every `--poll-interval` (2 s), the webhook when
//!    `--webhook-secret` (or `SLIPWAY_WEBHOOK_SECRET`) is set. `DIR/.slipway/server.json` says
//!    where it runs, so `slipway pipeline approve …` in another terminal finds it.
//! 4. The pipeline is defined (a changed definition becomes its next version) and the first
//!    poll starts it on the branch's head — unless that commit already ran: running `up` again
//!    resumes from the stored state (in-progress actions re-run, approvals still wait) and
//!    only a new commit starts a new execution.
//! 5. Progress: one line per action state change, a table when an execution ends.
//! 6. Ctrl-C (or SIGTERM): stop polling and serving, stop every function process, remove
//!    `server.json`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use slipway_pipeline::exec::settled;
use slipway_pipeline::git;

use super::Status;
use super::pipeline::{PipelineError, Progress, project_pipeline, table};
use crate::env_vars::{self, Environment};

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The project directory (default: the current directory).
    pub(crate) dir: Option<PathBuf>,
    /// The control-plane port (default 8040; 0 for any free port).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub(crate) port: Option<u16>,
    /// The gateway's port, where the deployed APIs answer (default 3000; 0 for any free port).
    #[arg(long, value_name = "PORT")]
    pub(crate) gateway_port: Option<u16>,
    /// How often the branch is polled for new commits, in seconds (default 2).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) poll_interval: Option<f64>,
    /// The secret GitHub-format webhooks are signed with (enables
    /// `POST /api/v1/pipelines/NAME/webhook`).
    #[arg(long, value_name = "SECRET")]
    pub(crate) webhook_secret: Option<String>,
    /// Install git hooks (post-commit, post-merge, post-rewrite) that tell this server about a
    /// new commit at once (`slipway pipeline poll`), instead of at the next poll. A hook of the
    /// same name that Slipway did not write is left alone.
    #[arg(long)]
    pub(crate) git_hook: bool,
}

/// The first line after the shebang of the hooks Slipway writes: how it knows its own.
const HOOK_MARK: &str = "# slipway: tells `slipway up` about a new commit (slipway up --git-hook)";
/// The hooks that mean "the branch may have moved".
const HOOKS: [&str; 3] = ["post-commit", "post-merge", "post-rewrite"];

/// Writes the git hooks of `--git-hook` into the repository at `dir` (its hooks directory as
/// git resolves it: `core.hooksPath`, worktrees). Returns the hooks written and a line for each
/// one left alone. The hook runs in the background and never fails the git command.
pub(crate) fn install_git_hooks(dir: &Path) -> std::io::Result<(Vec<&'static str>, Vec<String>)> {
    let hooks = git::git(dir, &["rev-parse", "--git-path", "hooks"])
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let hooks = dir.join(hooks.trim());
    std::fs::create_dir_all(&hooks)?;
    let exe = std::env::current_exe()?;
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let script = format!(
        "#!/bin/sh\n{HOOK_MARK}\n{} pipeline poll --project {} >/dev/null 2>&1 &\nexit 0\n",
        quote(&exe),
        quote(dir)
    );
    let (mut written, mut kept) = (Vec::new(), Vec::new());
    for name in HOOKS {
        let path = hooks.join(name);
        if let Ok(existing) = std::fs::read_to_string(&path)
            && !existing.contains(HOOK_MARK)
        {
            kept.push(format!(
                "{} exists and is not Slipway's: left alone (add `slipway pipeline poll &` to it)",
                path.display()
            ));
            continue;
        }
        std::fs::write(&path, &script)?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        written.push(name);
    }
    Ok((written, kept))
}

pub(crate) fn run(
    args: &UpArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, PipelineError> {
    let dir = args
        .dir
        .as_ref()
        .map_or_else(|| cwd.to_owned(), |d| cwd.join(d));
    let dir = dir.canonicalize().unwrap_or(dir);
    if !dir.is_dir() {
        writeln!(err, "error: {} is not a directory", dir.display())?;
        return Ok(Status::Usage);
    }
    if !git::is_repository(&dir) {
        writeln!(
            err,
            "error: {} is not a git repository; slipway up deploys commits.\n  help: make it one: git init && git add -A && git commit -m 'first commit'",
            dir.display()
        )?;
        return Ok(Status::Usage);
    }
    let pipeline = match project_pipeline(&dir)? {
        Ok(p) => p,
        Err(rendered) => {
            err.write_all(rendered.as_bytes())?;
            return Ok(Status::Invalid);
        }
    };
    let name = pipeline.name.clone();
    let branches: Vec<String> = git::git_sources(&pipeline)
        .into_iter()
        .map(|(_, _, b)| b)
        .collect();
    for b in &branches {
        if git::branch_head(&dir, b).ok().flatten().is_none() {
            writeln!(
                err,
                "error: branch '{b}' of {} has no commit yet.\n  help: git add -A && git commit -m 'first commit'",
                dir.display()
            )?;
            return Ok(Status::Usage);
        }
    }
    let data_dir = dir.join(".slipway");
    if git::git(&dir, &["check-ignore", "-q", ".slipway/"]).is_err() {
        writeln!(
            err,
            "note: add .slipway/ to .gitignore: it holds Slipway's state, not your project"
        )?;
    }

    let mut config = slipway_server::Config::new(&data_dir);
    config.bind = SocketAddr::new(
        Ipv4Addr::LOCALHOST.into(),
        args.port.unwrap_or(slipway_server::DEFAULT_PORT),
    );
    config.gateway = Some(SocketAddr::new(
        Ipv4Addr::LOCALHOST.into(),
        args.gateway_port
            .unwrap_or(slipway_server::DEFAULT_GATEWAY_PORT),
    ));
    config.pipelines.project_dir = Some(dir.clone());
    super::targets::configure_console(&mut config, &dir);
    if let Some(s) = args.poll_interval {
        config.pipelines.poll_interval = Some(Duration::from_secs_f64(s.max(0.1)));
    }
    config.pipelines.webhook_secret = args
        .webhook_secret
        .clone()
        .or_else(|| env.get(env_vars::SLIPWAY_WEBHOOK_SECRET).map(str::to_owned));
    let poll = config.pipelines.poll_interval;
    let webhook = config.pipelines.webhook_secret.is_some();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(PipelineError::Tokio)?;
    let server = rt.block_on(slipway_server::Server::new(config).start())?;
    let url = server.endpoint_url();
    let executor = server.pipelines().executor.clone();
    let version = {
        let _in = rt.enter();
        executor.define(pipeline.clone())?
    };
    // Where other `slipway` processes find this server (`slipway pipeline approve …`).
    crate::client::announce(&data_dir, &url);
    let hooks = if args.git_hook {
        match install_git_hooks(&dir) {
            Ok((written, kept)) => {
                for k in kept {
                    writeln!(err, "note: {k}")?;
                }
                written
            }
            Err(e) => {
                writeln!(err, "warning: the git hooks could not be written: {e}")?;
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };

    writeln!(out, "Slipway is up for {}", dir.display())?;
    writeln!(out, "  control plane   {url}")?;
    writeln!(out, "  AWS endpoints   AWS_ENDPOINT_URL={url}")?;
    if let Some(g) = server.gateway_url() {
        writeln!(out, "  gateway         {g}/ (the deployed APIs)")?;
    }
    writeln!(out, "  pipelines API   {url}/api/v1/pipelines")?;
    if webhook {
        writeln!(
            out,
            "  webhook         {url}/api/v1/pipelines/{name}/webhook"
        )?;
    }
    let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    writeln!(
        out,
        "  pipeline        {name} (version {version}): {}",
        stages.join(" → ")
    )?;
    if !hooks.is_empty() {
        writeln!(
            out,
            "  git hooks       {} → slipway pipeline poll (a commit starts at once)",
            hooks.join(", ")
        )?;
    }
    match poll {
        Some(p) => writeln!(
            out,
            "  watching        branch {} every {:.1} s — commit to deliver; Ctrl-C to stop",
            branches.join(", "),
            p.as_secs_f64()
        )?,
        None => writeln!(out, "  Ctrl-C to stop")?,
    }
    out.flush()?;

    // Progress is rendered on a plain thread and written here (this thread holds stdout);
    // Ctrl-C on the async runtime.
    let stop = Arc::new(AtomicBool::new(false));
    // The watcher sends rendered progress, and each deploy action that succeeded (its stack's
    // API URLs are printed from here, where the server is).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Shown>();
    let watcher = {
        let stop = stop.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            let mut progress: Option<(String, Progress, bool)> = None;
            let mut deployed = std::collections::BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                let Ok((_, st)) = executor.wait_until(&name, Duration::from_millis(300), |_| false)
                else {
                    continue;
                };
                let Some(latest) = st.executions.last() else {
                    continue;
                };
                let mut buf = Vec::new();
                if progress.as_ref().is_none_or(|(id, _, _)| id != &latest.id) {
                    let _ = writeln!(
                        buf,
                        "\n▶ execution {} for {}",
                        latest.id,
                        latest
                            .source_revisions
                            .first()
                            .map(|r| format!(
                                "{} {}",
                                r.revision_id.get(..8).unwrap_or(&r.revision_id),
                                r.summary.as_deref().unwrap_or("")
                            ))
                            .unwrap_or_else(|| "the branch head".into())
                    );
                    progress = Some((latest.id.clone(), Progress::default(), false));
                }
                if let Some((id, p, reported)) = progress.as_mut() {
                    let _ = p.update(&st, id, &mut buf);
                    let ended = st
                        .execution(id)
                        .is_some_and(|x| x.ended_at.is_some() && settled(&st, id));
                    if ended && !*reported {
                        *reported = true;
                        if let Some(x) = st.execution(id) {
                            let _ = table(&st, x, &mut buf);
                        }
                    }
                }
                if !buf.is_empty() && tx.send(Shown::Text(buf)).is_err() {
                    return;
                }
                for d in succeeded_deploys(&st) {
                    if deployed.insert(d.clone()) && tx.send(Shown::Deployed(d)).is_err() {
                        return;
                    }
                }
            }
        })
    };
    let signal = rt.block_on(async {
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        // SIGTERM (a service manager, `timeout`, `kill`) stops as cleanly as Ctrl-C.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                r = &mut ctrl_c => return r,
                _ = term.recv() => return Ok(()),
                Some(msg) = rx.recv() => {
                    match msg {
                        Shown::Text(buf) => out.write_all(&buf)?,
                        Shown::Deployed(d) => api_urls(&server, &d, out)?,
                    }
                    out.flush()?;
                }
            }
        }
    });
    stop.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    writeln!(out, "\nstopping…")?;
    crate::client::withdraw(&data_dir);
    rt.block_on(server.shutdown())?;
    signal?;
    writeln!(out, "stopped; `slipway up` again carries on from here")?;
    Ok(Status::Success)
}

/// What the progress watcher hands the main thread.
enum Shown {
    Text(Vec<u8>),
    Deployed(Deployed),
}

/// A deploy action of an execution that succeeded, and where its stack is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Deployed {
    execution: String,
    stage: String,
    action: String,
    attempt: u32,
    target: Option<String>,
    region: Option<String>,
    stack: String,
}

/// Every succeeded deploy action of the latest execution, with its stack.
fn succeeded_deploys(st: &slipway_pipeline::PipelineState) -> Vec<Deployed> {
    use slipway_model::pipeline::Category;
    let mut out = Vec::new();
    if let Some(x) = st.executions.last() {
        for stage in &x.stages {
            let Some(def) = st.pipeline.stages.iter().find(|s| s.name == stage.name) else {
                continue;
            };
            for a in &stage.actions {
                if a.status != slipway_pipeline::ActionStatus::Succeeded {
                    continue;
                }
                let Some(d) = def.actions.iter().find(|d| d.name == a.name) else {
                    continue;
                };
                let Some(stack) = d.configuration.get("StackName") else {
                    continue;
                };
                if d.action_type_id.category != Category::Deploy {
                    continue;
                }
                out.push(Deployed {
                    execution: x.id.clone(),
                    stage: stage.name.clone(),
                    action: a.name.clone(),
                    attempt: a.attempt,
                    target: d.target.clone(),
                    region: d.region.clone(),
                    stack: stack.clone(),
                });
            }
        }
    }
    out
}

/// Where the APIs of a stack a deploy action made answer on the gateway.
fn api_urls(
    server: &slipway_server::ServerHandle,
    d: &Deployed,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let target = server.target_of(d.target.as_deref(), d.region.as_deref());
    for u in server.api_urls(&target, &d.stack) {
        writeln!(
            out,
            "  API {} ({}) of {} in {target}: {}",
            u.logical_id, u.stage, d.stack, u.path_url
        )?;
    }
    Ok(())
}
