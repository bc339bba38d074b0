//! `slipway build`: a CodeBuild buildspec run, or a SAM-style build of a template's functions.
//!
//! Which one is decided in [`crate::settings`]: `--buildspec`, or `buildspec.yml` in the source
//! with no template named, runs the buildspec through [`slipway_build::run_build`]; otherwise
//! the template is built as `sam build` does ([`slipway_build::build_template`]), into
//! `<data dir>/build`, where `slipway invoke` finds the built template.
//!
//! While it runs, the build log goes to stderr: on a terminal a spinner line shows the current
//! phase and the elapsed time below the log lines; otherwise (a pipe, CI) plain log lines only.
//! When it ends, the closing summary goes to stdout — per-phase durations, test report counts
//! with the failing tests, artefacts with their sha256 and size. Exit 0 when the build
//! succeeded, 1 when it failed or the buildspec is invalid (its diagnostics rendered
//! rustc-style), 2 when it could not start.

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use slipway_build::sam::{BuildState, SamBuildError, SamBuildOptions};
use slipway_build::{
    BuildError, BuildspecSource, CancelToken, EnvOverride, LogLine, LogSink, SamEvent, SamProgress,
    Source, build_template, export_commit, path_in_repo, run_build,
};
use slipway_model::diag::{Sources, render_human};

use super::Status;
use crate::args::BuildArgs;
use crate::env_vars::Environment;
use crate::error::CliError;
use crate::settings::{self, BuildMode, BuildSettings, BuildSource};

/// Shows the build as it happens: a spinner on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    /// The phase the spinner shows, to update its message only on a change.
    phase: Mutex<String>,
}

impl Progress {
    fn new(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            phase: Mutex::new(String::new()),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl LogSink for Progress {
    fn line(&self, line: &LogLine) {
        let text = line.render();
        match &self.bar {
            Some(bar) => {
                let phase = line.phase.api_name();
                if let Ok(mut current) = self.phase.lock()
                    && *current != phase
                {
                    phase.clone_into(&mut current);
                    bar.set_message(phase.to_owned());
                }
                bar.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }
}

/// A SAM-style build's progress: the spinner names the function and what it is doing; each
/// finished function gets a line (plain lines only, without a terminal).
impl SamProgress for Progress {
    fn event(&self, event: &SamEvent<'_>) {
        let (msg, line) = match event {
            SamEvent::Started { logical_id, .. } => (format!("building {logical_id}"), None),
            SamEvent::Step { logical_id, step } => (
                format!("{logical_id}: {}", step.describe()),
                Some(format!("{logical_id}: {}", step.describe())),
            ),
            SamEvent::Finished(a) => {
                let state = match &a.state {
                    BuildState::Built => "built".to_owned(),
                    BuildState::Unchanged => "unchanged".to_owned(),
                    BuildState::Skipped(why) => format!("skipped ({why})"),
                };
                (
                    format!("{} {state}", a.logical_id),
                    Some(format!("{} {state} ({} ms)", a.logical_id, a.duration_ms)),
                )
            }
        };
        match &self.bar {
            Some(bar) => {
                bar.set_message(msg);
                if let (SamEvent::Finished(_), Some(line)) = (event, line) {
                    bar.println(line);
                }
            }
            None => {
                if let Some(line) = line {
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
    }
}

pub(crate) fn run(
    args: &BuildArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let resolved = settings::build(args, env, cwd);
    err.write_all(render_human(&resolved.diagnostics, &resolved.sources).as_bytes())?;
    let Some(s) = resolved.settings else {
        return Ok(Status::Usage);
    };
    match &s.mode {
        BuildMode::Buildspec(path) => buildspec(&s, path, cwd, out, err),
        BuildMode::Sam(template) => sam(&s, template, cwd, out, err),
    }
}

fn buildspec(
    s: &BuildSettings,
    path: &Path,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let (source, version) = match &s.source {
        BuildSource::Dir(d) => (Source::Dir(cwd.join(d)), None),
        BuildSource::Git(rev) => (
            Source::Git {
                repo: cwd.to_owned(),
                rev: rev.clone(),
            },
            Some(rev.clone()),
        ),
    };
    let mut overrides = Vec::new();
    for e in &s.env {
        match EnvOverride::parse_assignment(e) {
            Ok(o) => overrides.push(o),
            Err(e) => {
                writeln!(err, "error: --env: {e}")?;
                return Ok(Status::Usage);
            }
        }
    }
    let progress = Progress::new("starting the build");
    let data_dir = cwd.join(&s.data_dir);
    let mut opts = slipway_build::BuildOptions::new(&s.project, source, &data_dir);
    opts.buildspec = BuildspecSource::Path(path.to_owned());
    opts.env_overrides = overrides;
    opts.region.clone_from(&s.target.region);
    opts.account.clone_from(&s.target.account);
    opts.source_version = version;
    opts.sink = &progress;
    stop_on_ctrl_c(opts.cancel.clone());
    let result = run_build(&opts);
    progress.finish();
    match result {
        Ok(r) => {
            write!(out, "{}", r.summary())?;
            Ok(if r.succeeded() {
                Status::Success
            } else {
                Status::Invalid
            })
        }
        Err(BuildError::Buildspec {
            file,
            text,
            diagnostics,
        }) => {
            let mut sources = Sources::new();
            sources.add(file, text);
            err.write_all(render_human(&diagnostics, &sources).as_bytes())?;
            Ok(Status::Invalid)
        }
        Err(e) => Err(CliError::Build(e)),
    }
}

/// The build runs in its own process group, which a terminal's Ctrl-C does not reach: the
/// Ctrl-C stops the build as CodeBuild's StopBuild does (the build's process group is
/// killed at once, the summary says STOPPED, the exit code is 1).
fn stop_on_ctrl_c(cancel: CancelToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    // Registered here, before the build starts, so that no Ctrl-C is missed.
    let interrupts = {
        let _entered = rt.enter();
        signal(SignalKind::interrupt())
    };
    let Ok(mut interrupts) = interrupts else {
        return;
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            if interrupts.recv().await.is_some() {
                let _ = writeln!(std::io::stderr(), "Stopping the build");
                cancel.cancel();
            }
        });
    });
}

fn sam(
    s: &BuildSettings,
    template: &Path,
    cwd: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CliError> {
    let data_dir = cwd.join(&s.data_dir);
    // A git revision is exported (tracked files only, as `git archive` writes them) into
    // `<data dir>/source`, and the template at the same place inside it is built; the packages
    // and the built template go where a working-directory build puts them.
    let template_path = match &s.source {
        BuildSource::Dir(_) => cwd.join(template),
        BuildSource::Git(rev) => {
            let checkout = data_dir.join("source");
            let _ = std::fs::remove_dir_all(&checkout);
            let exported = path_in_repo(cwd).and_then(|prefix| {
                export_commit(cwd, rev, &checkout).map(|commit| (prefix, commit))
            });
            let (prefix, commit) = match exported {
                Ok(x) => x,
                Err(e) => {
                    writeln!(err, "error: --source {rev}: {e}")?;
                    return Ok(Status::Usage);
                }
            };
            let rel = template.strip_prefix(cwd).unwrap_or(template);
            if rel.is_absolute() {
                writeln!(
                    err,
                    "error: --source {rev}: the template {} is outside the repository",
                    template.display()
                )?;
                return Ok(Status::Usage);
            }
            writeln!(
                err,
                "Building {} at commit {}",
                rel.display(),
                &commit[..commit.len().min(12)]
            )?;
            checkout.join(prefix).join(rel)
        }
    };
    let progress = Arc::new(Progress::new(&format!(
        "building the functions of {}",
        template.display()
    )));
    let mut opts = SamBuildOptions::new(template_path, &data_dir);
    opts.force = s.force;
    opts.progress = progress.clone();
    if progress.bar.is_none() {
        writeln!(err, "Building the functions of {}", template.display())?;
    }
    let result = build_template(&opts);
    progress.finish();
    match result {
        Ok(r) => {
            write!(out, "{}", r.summary())?;
            Ok(Status::Success)
        }
        Err(SamBuildError::Template {
            file,
            text,
            diagnostics,
        }) => {
            let mut sources = Sources::new();
            sources.add(file, text);
            err.write_all(render_human(&diagnostics, &sources).as_bytes())?;
            Ok(Status::Invalid)
        }
        Err(e @ (SamBuildError::Resource { .. } | SamBuildError::Tool { .. })) => {
            writeln!(err, "error: build failed: {e}")?;
            Ok(Status::Invalid)
        }
        Err(e @ SamBuildError::Io { .. }) => Err(CliError::SamBuild(e)),
    }
}
