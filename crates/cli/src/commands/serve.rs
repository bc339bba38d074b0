//! `slipway serve`: `sam local start-api`, on Slipway's gateway and runtime.
//!
//! The call sequence is the one of the `slipway_gateway` crate docs:
//!
//! 1. Resolve the template (as `invoke` does: errors stop, resource types Slipway cannot run
//!    are kept as inert records).
//! 2. A [`Runtime`] working under `<data dir>/runtime`, its logs streamed to stderr
//!    ([`StderrLogSink`]).
//! 3. [`slipway_gateway::serve`] with the address (`--host`, `-p`), the template's directory
//!    (`CodeUri` is relative to it) and the `--env-vars` document.
//! 4. Print what is not served as warnings, then every invoke URL: path-based and host-based
//!    per API and stage, and the root when a single API is served there; then
//!    `Serving at http://HOST:PORT/ (Ctrl-C to stop)`. Everything goes to stderr.
//! 5. The reaper (idle execution environments) and the reload watcher (template and code
//!    directories, polled every 100 ms; a saved change is served on the next request).
//! 6. Ctrl-C (SIGINT): stop the watcher and the reaper, then [`Serving::shutdown`] — no
//!    longer listening, every execution environment killed — wait for those processes to
//!    exit, and exit 0.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use slipway_gateway::{ServeOptions, Serving, StageUrl};
use slipway_model::diag::{Code, Diagnostic, Sources, render_human};
use slipway_model::template::{NoParameters, Options, Template, resolve};
use slipway_runtime::{PythonConfig, Runtime, RuntimeConfig, StderrLogSink};

use super::invoke::resource_types;
use super::{DirFiles, Status};
use crate::args::ServeArgs;
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings::{self, ServeSettings};

/// How often the reload watcher looks at the template and the code directories.
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// How often idle execution environments are looked for and stopped.
const REAP_EVERY: Duration = Duration::from_secs(60);
/// How long the killed execution environments get to exit at shutdown.
const CHILDREN_GRACE: Duration = Duration::from_secs(5);

pub(crate) fn run(
    args: &ServeArgs,
    env: &Environment,
    cwd: &Path,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let resolved = settings::serve(args, env, cwd);
    err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
    let Some(s) = resolved.settings else {
        return Ok(Status::Usage);
    };
    let template_path = cwd.join(&s.template);
    let template = match load(&s, &template_path) {
        Ok(t) => t,
        Err(rendered) => {
            err.write_all(rendered.as_bytes())?;
            return Ok(Status::Invalid);
        }
    };
    let env_vars = match &s.env_vars {
        None => serde_json::Value::Null,
        Some(path) => {
            let path = cwd.join(path);
            let text = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
                what: "env vars file",
                path: path.clone(),
                source,
            })?;
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    writeln!(err, "error: {}: not valid JSON: {e}", path.display())?;
                    return Ok(Status::Usage);
                }
            }
        }
    };
    let template_dir = template_path
        .parent()
        .map_or_else(|| cwd.to_owned(), Path::to_owned);

    let mut config = RuntimeConfig::new(cwd.join(&s.data_dir).join("runtime"));
    config.log_sink = Some(Arc::new(StderrLogSink::batched()));
    config.target_concurrency = (s.target_concurrency > 0).then_some(s.target_concurrency);
    if let Some(python) = &s.python {
        config.python = PythonConfig {
            fallback: python.clone(),
            ..PythonConfig::default()
        };
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // One worker thread, unless TOKIO_WORKER_THREADS says otherwise (Tokio reads it only when
    // no count is set). The gateway's own work per request is a few microseconds (the no-op
    // integration's ceiling is about 100 000 requests/s on one core); the functions run in
    // processes of their own, and those are what need the cores. A second worker on two cores
    // only competes with them, and costs a futex wake-up and a context switch each time one
    // worker hands a task to the other: `scripts/bench-gateway`'s set-up measured 0.5
    // voluntary context switches per request in the server with two workers and 0.12 with
    // one, 82 against 70 µs of CPU per request, and 6-12 % more requests/s at 16 connections.
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    let tokio = builder.enable_all().build().map_err(CliError::Tokio)?;
    let status = tokio.block_on(async {
        // Listening for Ctrl-C from the start: one arriving while the functions warm up stops
        // the server as cleanly as one arriving later (the default action would leave the
        // environments' process groups running).
        let mut interrupts =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(CliError::Signal)?;
        let runtime = Runtime::new(config).map_err(CliError::Runtime)?;
        let mut options = ServeOptions::new(&template_dir);
        options.addr = SocketAddr::new(s.host, s.port);
        options.env_vars = env_vars;
        options.allow_non_loopback = s.allow_non_loopback;
        let serving = match slipway_gateway::serve(&template, runtime, options).await {
            Ok(serving) => serving,
            Err(e @ slipway_gateway::ServeError::NotLoopback { .. }) => {
                writeln!(err, "error: {e}")?;
                writeln!(
                    err,
                    "  help: pass --allow-non-loopback to listen there anyway"
                )?;
                return Ok(Status::Usage);
            }
            Err(e) => return Err(CliError::Serve(e)),
        };
        report(&serving, err)?;
        let mut interrupted = false;
        if s.warm > 0 {
            tokio::select! {
                warmed = warm(&serving.runtime, s.warm as usize, err) => warmed?,
                _ = interrupts.recv() => interrupted = true,
            }
        }
        let reaper = serving.runtime.spawn_reaper(REAP_EVERY);
        let watched = s.clone();
        let watcher = serving.reloader().watch(
            template_path.clone(),
            WATCH_EVERY,
            move |path| load(&watched, path),
            |result| on_reload(&result),
        );
        if !interrupted {
            interrupts.recv().await;
        }
        watcher.abort();
        reaper.abort();
        serving.shutdown().await;
        Ok::<_, CliError>(Status::Success)
    })?;
    drop(tokio);
    if !reap_children() {
        writeln!(
            err,
            "warning: an execution environment did not exit within {CHILDREN_GRACE:?} of being \
             killed"
        )?;
    }
    writeln!(err, "Stopped")?;
    Ok(status)
}

/// Waits for every child process (the execution environments [`Serving::shutdown`] killed)
/// to exit, so that none outlives `slipway serve`; `false` when one is still running after
/// [`CHILDREN_GRACE`].
fn reap_children() -> bool {
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Blocks until a child exits; ECHILD once none is left.
        while rustix::process::wait(rustix::process::WaitOptions::empty()).is_ok() {}
        let _ = done.send(());
    });
    exited.recv_timeout(CHILDREN_GRACE).is_ok()
}

/// Prints what is not served, then every invoke URL, then where the server listens.
fn report(serving: &Serving, err: &mut dyn Write) -> Result<(), CliError> {
    for problem in &serving.problems {
        writeln!(err, "warning: {problem}")?;
    }
    for url in &serving.urls {
        writeln!(err, "{}", mounted(url))?;
    }
    if serving.urls.is_empty() {
        writeln!(
            err,
            "warning: the template declares no API: no route is served"
        )?;
    }
    writeln!(
        err,
        "Serving at http://{}/ (Ctrl-C to stop)",
        serving.server.local_addr()
    )?;
    err.flush()?;
    Ok(())
}

/// `--warm N`: N environments of every function started now, before the first request.
async fn warm(runtime: &Runtime, n: usize, err: &mut dyn Write) -> Result<(), CliError> {
    for (function, version) in runtime.functions() {
        match runtime.prewarm(&function, &version, n).await {
            Ok(started) => writeln!(err, "Warmed {started} environment(s) of {function}")?,
            Err(e) => writeln!(err, "warning: cannot warm {function}: {e}")?,
        }
    }
    err.flush()?;
    Ok(())
}

/// `Mounted ServerlessRestApi (Prod) at <path URL> and <host URL>[, and at <root URL>]`.
fn mounted(url: &StageUrl) -> String {
    let mut line = format!(
        "Mounted {} ({}) at {} and {}",
        url.logical_id, url.stage, url.path_url, url.host_url
    );
    if let Some(root) = &url.root_url {
        line.push_str(", and at ");
        line.push_str(root);
    }
    line
}

/// What a reload reports: its problems, or why the previous version is still served.
fn on_reload(result: &Result<Vec<String>, String>) {
    let mut err = std::io::stderr().lock();
    match result {
        Ok(problems) => {
            let _ = writeln!(err, "Reloaded");
            for problem in problems {
                let _ = writeln!(err, "warning: {problem}");
            }
        }
        Err(rendered) => {
            let _ = write!(err, "{rendered}");
            let _ = writeln!(
                err,
                "error: the changed template has errors; still serving the previous version"
            );
        }
    }
}

/// Reads and resolves the template at `path` with the settings' parameters and target;
/// `Err` holds its rendered errors (warnings do not stop a serve).
fn load(s: &ServeSettings, path: &Path) -> Result<Template, String> {
    let name = s.template.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("error: cannot read template {}: {e}\n", path.display()))?;
    let files = DirFiles(path.parent().map_or_else(PathBuf::new, Path::to_owned));
    let opts = Options {
        file: name.clone(),
        account: s.target.account.clone(),
        region: s.target.region.clone(),
        stack_name: s.target.stack_name.clone(),
        overrides: s.parameter_overrides.clone(),
        parameter_store: &NoParameters,
        files: &files,
        ..Options::default()
    };
    let mut outcome = resolve(&text, &opts);
    // Types Slipway cannot deploy yet do not matter to serving: keep them as inert records.
    let only_unsupported = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .all(|d| d.code == Code::UnsupportedResourceType);
    if outcome.template.is_none() && only_unsupported {
        let opts = Options {
            inert_types: resource_types(&text),
            ..opts
        };
        outcome = resolve(&text, &opts);
    }
    let errors: Vec<Diagnostic> = outcome
        .diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    match outcome.template {
        Some(t) if errors.is_empty() => Ok(t),
        _ => {
            let mut sources = Sources::new();
            sources.add(name, text);
            Err(render_human(&errors, &sources))
        }
    }
}
