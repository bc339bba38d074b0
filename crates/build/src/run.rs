//! The buildspec runner: one CodeBuild build, phase by phase.
//!
//! # Phases and transitions
//!
//! A build goes `SUBMITTED → QUEUED → PROVISIONING → DOWNLOAD_SOURCE → INSTALL → PRE_BUILD →
//! BUILD → POST_BUILD → UPLOAD_ARTIFACTS → FINALIZING → COMPLETED`, each recorded with its
//! status and times. Within a phase the `commands` run in order; the first that fails skips
//! the rest, then `finally` runs (also stopping at its first failure); the phase fails if any
//! command of either list failed. After a failed phase:
//!
//! - `on-failure: ABORT` skips to FINALIZING; `on-failure: CONTINUE` goes on to the next phase;
//! - with no `on-failure`, a failed INSTALL or PRE_BUILD skips to FINALIZING, and a failed BUILD
//!   still runs POST_BUILD and UPLOAD_ARTIFACTS;
//! - either way, from the first failure on, `CODEBUILD_BUILD_SUCCEEDING` is `0` for every later
//!   command, and the build's status is FAILED.
//!
//! A timeout (the project's `TimeoutInMinutes`) or a stop ([`CancelToken::cancel`]) kills the
//! shell's whole process group at once; the phase that was running ends TIMED_OUT or STOPPED,
//! and so does the build, which goes straight to FINALIZING.
//!
//! UPLOAD_ARTIFACTS collects `artifacts` (primary and secondary, each a deterministic zip in the
//! artefact store) and saves `cache.paths`; FINALIZING reads the `reports`, which happens even
//! when an earlier phase failed, so a failing test run still says which tests failed.
//!
//! How commands reach the shell is described in [`crate::shell`]; how the environment is built,
//! in [`crate::env`].

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use slipway_model::buildspec::{
    self, ArtifactSet, Buildspec, Command as SpecCommand, OnFailure, Phase, PhaseName, Version,
};
use slipway_model::diag::Diagnostic;
use slipway_model::template::{NoParameters, ParameterStore};
use slipway_store::{Store, ZipEntry};

use crate::clock::{Clock, SystemClock};
use crate::env::{self, EnvOverride, JsonSecretStore, SecretStore};
use crate::files;
use crate::junit;
use crate::log::{LineKind, LogLine, LogSink, Masker, NullSink};
use crate::record::{
    ArtifactRecord, BuildPhase, BuildResult, CommandRecord, PhaseRecord, ReportRecord, Section,
    Status, TestSummary,
};
use crate::shell::{Event, Session, query_script};

/// Where the source of a build comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A directory, copied as it is (uncommitted changes included).
    Dir(PathBuf),
    /// A commit (any revision `git rev-parse` understands) of a local repository.
    Git { repo: PathBuf, rev: String },
}

/// Which buildspec to run.
#[derive(Clone, Debug, Default)]
pub enum BuildspecSource {
    /// `buildspec.yml` at the source root.
    #[default]
    Default,
    /// A path relative to the source root (as CodeBuild's buildspec override).
    Path(PathBuf),
    /// The buildspec text itself, as a CodeBuild project may hold it.
    Inline(String),
}

/// Stops a running build from another thread.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    waker: Mutex<Option<Sender<Event>>>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Ok(w) = self.0.waker.lock()
            && let Some(tx) = w.as_ref()
        {
            let _ = tx.send(Event::Cancel);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    fn register(&self, tx: Sender<Event>) {
        if let Ok(mut w) = self.0.waker.lock() {
            *w = Some(tx);
        }
    }
}

/// Everything a build needs to know. [`BuildOptions::new`] fills in the defaults: no parameters
/// or secrets, the real clock, no live log sink, no timeout, initiator `$USER`.
pub struct BuildOptions<'a> {
    /// The CodeBuild project name: `CODEBUILD_BUILD_ID` is `<project>:<uuid>`, and the cache and
    /// build numbers are kept per project.
    pub project: String,
    pub source: Source,
    pub buildspec: BuildspecSource,
    /// Slipway's data directory (`.slipway/`): builds, cache and the artefact store live here.
    pub data_dir: PathBuf,
    /// The project's environment variables (below the overrides).
    pub project_env: Vec<EnvOverride>,
    /// Start-build overrides: CodePipeline's `EnvironmentVariables`, `slipway build --env`.
    pub env_overrides: Vec<EnvOverride>,
    pub parameter_store: &'a dyn ParameterStore,
    pub secrets: &'a dyn SecretStore,
    /// The project's `TimeoutInMinutes`.
    pub timeout: Option<Duration>,
    /// `CODEBUILD_INITIATOR`: `codepipeline/<pipeline>` for pipeline builds, else a user name.
    pub initiator: String,
    /// `CODEBUILD_SOURCE_VERSION` as the caller asked for it (a branch, `pr/7`, a commit).
    pub source_version: Option<String>,
    pub region: String,
    pub account: String,
    /// `AWS_ENDPOINT_URL` for the build, so that `aws …` and boto3 inside the buildspec talk to
    /// Slipway's AWS-compatible endpoints. Unset: the variable is not set.
    pub aws_endpoint_url: Option<String>,
    pub clock: &'a dyn Clock,
    pub sink: &'a dyn LogSink,
    pub cancel: CancelToken,
}

static NO_PARAMETERS: NoParameters = NoParameters;
static NO_SECRETS: std::sync::LazyLock<JsonSecretStore> =
    std::sync::LazyLock::new(JsonSecretStore::default);

impl<'a> BuildOptions<'a> {
    pub fn new(project: impl Into<String>, source: Source, data_dir: impl Into<PathBuf>) -> Self {
        BuildOptions {
            project: project.into(),
            source,
            buildspec: BuildspecSource::Default,
            data_dir: data_dir.into(),
            project_env: Vec::new(),
            env_overrides: Vec::new(),
            parameter_store: &NO_PARAMETERS,
            secrets: &*NO_SECRETS,
            timeout: None,
            initiator: std::env::var("USER").unwrap_or_else(|_| "slipway".into()),
            source_version: None,
            region: "us-east-1".into(),
            account: "123456789012".into(),
            aws_endpoint_url: None,
            clock: &SystemClock,
            sink: &NullSink,
            cancel: CancelToken::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The buildspec has errors; render them with `slipway_model::diag::render_human`, giving it
    /// `text` under the name `file`.
    #[error("the buildspec {file} is invalid ({} problem(s))", diagnostics.iter().filter(|d| d.is_error()).count())]
    Buildspec {
        file: String,
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the source: {0}")]
    Source(String),
    #[error("cannot start the build shell")]
    Spawn(#[source] io::Error),
    #[error(
        "'{0}' is not a valid project name: 2 to 255 letters, digits, '-' and '_', starting with a letter or digit"
    )]
    InvalidProject(String),
}

/// CodeBuild's project name pattern: `[A-Za-z0-9][A-Za-z0-9\-_]{1,254}`.
fn valid_project(name: &str) -> bool {
    let mut chars = name.chars();
    (2..=255).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn io_err<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> BuildError + 'p {
    move |source| BuildError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Reads and checks the buildspec a build would run, without running anything.
pub fn load_buildspec(
    source: &Source,
    which: &BuildspecSource,
) -> Result<(Buildspec, Vec<Diagnostic>), BuildError> {
    let (file, text) = match which {
        BuildspecSource::Inline(t) => ("<inline buildspec>".to_owned(), t.clone()),
        BuildspecSource::Default | BuildspecSource::Path(_) => {
            let rel = match which {
                BuildspecSource::Path(p) => p.clone(),
                _ => PathBuf::from(buildspec::DEFAULT_FILE),
            };
            let text = match source {
                Source::Dir(d) => {
                    let p = d.join(&rel);
                    fs::read_to_string(&p).map_err(io_err("read the buildspec", &p))?
                }
                Source::Git { repo, rev } => {
                    git(repo, &["show", &format!("{rev}:{}", rel.display())])?
                }
            };
            (rel.display().to_string(), text)
        }
    };
    let outcome = buildspec::parse(&text, &file);
    match outcome.buildspec {
        Some(b) => Ok((b, outcome.diagnostics)),
        None => Err(BuildError::Buildspec {
            file,
            text,
            diagnostics: outcome.diagnostics,
        }),
    }
}

fn git(repo: &Path, args: &[&str]) -> Result<String, BuildError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Source(format!("running git: {e}")))?;
    if !out.status.success() {
        return Err(BuildError::Source(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes the tree of `rev` (any revision git understands: a commit, a branch, a tag,
/// `HEAD~2`) of the repository at `repo` into `dest` (created; files already there are kept
/// unless the tree overwrites them), as `git archive` exports it: tracked files only, no
/// `.git`. Returns the full commit ID.
pub fn export_commit(repo: &Path, rev: &str, dest: &Path) -> Result<String, BuildError> {
    let commit = git(
        repo,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )?
    .trim()
    .to_owned();
    fs::create_dir_all(dest).map_err(io_err("create", dest))?;
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", &commit])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| BuildError::Source(format!("running git archive: {e}")))?;
    let tar_in = archive.stdout.take().map_or(Stdio::null(), Stdio::from);
    let tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(dest)
        .stdin(tar_in)
        .status()
        .map_err(|e| BuildError::Source(format!("running tar: {e}")))?;
    let git_ok = archive.wait().map(|s| s.success()).unwrap_or(false);
    if !tar.success() || !git_ok {
        return Err(BuildError::Source(format!(
            "cannot check out {rev} of {}",
            repo.display()
        )));
    }
    Ok(commit)
}

/// Where the directory `dir` lies inside its git work tree (`""` at the top, else `a/b/`).
pub fn path_in_repo(dir: &Path) -> Result<String, BuildError> {
    Ok(git(dir, &["rev-parse", "--show-prefix"])?.trim().to_owned())
}

/// 16 random bytes from the kernel.
fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b
}

/// A version-4 UUID.
pub fn uuid_v4() -> String {
    let mut b = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn next_build_number(dir: &Path) -> Result<u64, BuildError> {
    let p = dir.join("last-build-number");
    let n = fs::read_to_string(&p)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    fs::write(&p, n.to_string()).map_err(io_err("write", &p))?;
    Ok(n)
}

/// How often a wait checks that the shell is still alive.
const LIVENESS: Duration = Duration::from_millis(250);

enum Waited {
    Status(i32, Option<String>),
    ShellEnded(i32),
    TimedOut,
    Stopped,
}

enum CmdOutcome {
    Exit(i32),
    TimedOut,
    Stopped,
}

enum PhaseOutcome {
    Succeeded,
    Failed(String),
    TimedOut,
    Stopped,
}

struct Runner<'o, 'a> {
    opts: &'o BuildOptions<'a>,
    build_id: String,
    spec: &'o Buildspec,
    env: BTreeMap<String, String>,
    masker: Masker,
    log: Option<File>,
    phase: BuildPhase,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    session: Option<Session>,
    sessions: u64,
    token: (String, String),
    scripts: PathBuf,
    src: PathBuf,
    deadline: Option<Instant>,
    commands: Vec<CommandRecord>,
    warnings: Vec<String>,
}

impl Runner<'_, '_> {
    fn emit(&mut self, kind: LineKind, text: &str) {
        let line = LogLine {
            at_ms: self.opts.clock.now_ms(),
            phase: self.phase,
            kind,
            text: self.masker.mask(text),
        };
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "{}", line.render());
        }
        self.opts.sink.line(&line);
    }

    fn marker(&mut self, text: &str) {
        self.emit(LineKind::Marker, text);
    }

    fn warn(&mut self, text: &str) {
        self.marker(&format!("Warning: {text}"));
        self.warnings.push(self.masker.mask(text));
    }

    fn spawn_session(&mut self) -> io::Result<Session> {
        self.sessions += 1;
        Session::spawn(
            self.sessions,
            self.spec.env.shell,
            &self.env,
            &self.src,
            &self.scripts,
            (&self.token.0, &self.token.1),
            self.tx.clone(),
        )
    }

    /// Waits for the current session to report on the script it was given.
    fn wait(&mut self) -> Waited {
        let Some(id) = self.session.as_ref().map(|s| s.id) else {
            return Waited::ShellEnded(-1);
        };
        let mut query = None;
        loop {
            if self.opts.cancel.is_cancelled() {
                self.end_session();
                return Waited::Stopped;
            }
            let left = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            let ev = match self
                .rx
                .recv_timeout(left.map_or(LIVENESS, |l| l.min(LIVENESS)))
            {
                Ok(ev) => ev,
                Err(RecvTimeoutError::Timeout) => {
                    if left.is_some_and(|l| l <= LIVENESS) {
                        self.end_session();
                        return Waited::TimedOut;
                    }
                    if let Some(s) = self.session.as_mut()
                        && s.shell_exited()
                    {
                        s.kill_orphans();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return Waited::ShellEnded(-1),
            };
            match ev {
                Event::Line { session, text } if session == id => {
                    self.emit(LineKind::Output, &text);
                }
                Event::Query { session, hex } if session == id => query = Some(hex),
                Event::Status { session, code } if session == id => {
                    return Waited::Status(code, query);
                }
                Event::Eof { session } if session == id => {
                    let code = self.session.as_mut().map_or(-1, Session::exit_code);
                    self.session = None;
                    return Waited::ShellEnded(code);
                }
                Event::Cancel => {
                    self.end_session();
                    return Waited::Stopped;
                }
                // Output of a session already ended.
                Event::Line { .. }
                | Event::Query { .. }
                | Event::Status { .. }
                | Event::Eof { .. } => {}
            }
        }
    }

    fn end_session(&mut self) {
        if let Some(mut s) = self.session.take() {
            s.kill();
        }
    }

    fn ensure_session(&mut self) -> io::Result<()> {
        if self.session.is_none() {
            let s = self.spawn_session()?;
            self.session = Some(s);
        }
        Ok(())
    }

    /// Runs one script in the build's shell (a fresh one in 0.1) and waits for it.
    fn run_script(&mut self, script: &str) -> Waited {
        if self.spec.version == Version::V0_1 {
            self.end_session();
        }
        if let Err(e) = self.ensure_session() {
            self.marker(&format!("Cannot start the shell: {e}"));
            return Waited::ShellEnded(127);
        }
        let sent = self.session.as_mut().map(|s| s.send(script));
        if let Some(Err(e)) = sent {
            // The shell ended between two commands: start again with a new one.
            self.marker(&format!(
                "The shell ended unexpectedly ({e}); starting a new one"
            ));
            self.end_session();
            if let Err(e) = self.ensure_session() {
                self.marker(&format!("Cannot start the shell: {e}"));
                return Waited::ShellEnded(127);
            }
            if let Some(Err(e)) = self.session.as_mut().map(|s| s.send(script)) {
                self.marker(&format!("Cannot give the command to the shell: {e}"));
                return Waited::ShellEnded(127);
            }
        }
        let w = self.wait();
        if self.spec.version == Version::V0_1 {
            self.end_session();
        }
        w
    }

    /// The shell expansion of `expr` (inside double quotes) in the build's shell.
    fn query(&mut self, expr: &str) -> Option<String> {
        // Inside double quotes: `$VAR` and `$(...)` expand, a `"` must not end the string.
        let escaped = expr.replace('"', "\\\"");
        match self.run_script(&query_script(&escaped)) {
            Waited::Status(0, Some(h)) => hex::decode(h.trim())
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        }
    }

    fn exec(&mut self, section: Section, index: usize, cmd: &SpecCommand) -> CmdOutcome {
        let start = self.opts.clock.now_ms();
        self.marker(&format!("Running command {}", cmd.text));
        let mut script = cmd.text.clone();
        script.push('\n');
        let waited = self.run_script(&script);
        let (outcome, exit_code) = match waited {
            Waited::Status(c, _) | Waited::ShellEnded(c) => (CmdOutcome::Exit(c), Some(c)),
            Waited::TimedOut => (CmdOutcome::TimedOut, None),
            Waited::Stopped => (CmdOutcome::Stopped, None),
        };
        if let Some(c) = exit_code
            && c != 0
        {
            self.marker(&format!(
                "Command did not exit successfully {} exit status {c}",
                cmd.text
            ));
        }
        self.commands.push(CommandRecord {
            phase: self.phase,
            section,
            index,
            command: self.masker.mask(&cmd.text),
            exit_code,
            start_ms: start,
            end_ms: self.opts.clock.now_ms(),
        });
        outcome
    }

    fn run_list(
        &mut self,
        section: Section,
        cmds: &[SpecCommand],
    ) -> Result<Option<String>, PhaseOutcome> {
        for (i, c) in cmds.iter().enumerate() {
            match self.exec(section, i, c) {
                CmdOutcome::Exit(0) => {}
                CmdOutcome::Exit(code) => {
                    return Ok(Some(format!(
                        "COMMAND_EXECUTION_ERROR: Error while executing command: {}. Reason: exit status {code}",
                        self.masker.mask(&c.text)
                    )));
                }
                CmdOutcome::TimedOut => return Err(PhaseOutcome::TimedOut),
                CmdOutcome::Stopped => return Err(PhaseOutcome::Stopped),
            }
        }
        Ok(None)
    }

    fn run_phase(&mut self, name: PhaseName, phase: Option<&Phase>) -> PhaseOutcome {
        let Some(phase) = phase else {
            return PhaseOutcome::Succeeded;
        };
        if name == PhaseName::Install {
            self.check_runtimes(&phase.runtime_versions);
        }
        let failed = match self.run_list(Section::Commands, &phase.commands) {
            Ok(f) => f,
            Err(o) => return o,
        };
        let finally_failed = match self.run_list(Section::Finally, &phase.finally) {
            Ok(f) => f,
            Err(o) => return o,
        };
        match failed.or(finally_failed) {
            Some(ctx) => PhaseOutcome::Failed(ctx),
            None => PhaseOutcome::Succeeded,
        }
    }

    /// `runtime-versions` against the toolchains on this machine: a warning when they differ
    /// (the build goes on with what is installed).
    fn check_runtimes(&mut self, wanted: &IndexMap<String, String>) {
        for (runtime, written) in wanted {
            // `python: $PY_VERSION` is allowed: the value is looked up in the build's environment.
            let version = match written.strip_prefix('$') {
                Some(var) => self
                    .env
                    .get(var.trim_matches(['{', '}']))
                    .cloned()
                    .unwrap_or_default(),
                None => written.clone(),
            };
            let version = &version;
            let probe: Option<(&str, &[&str])> = match runtime.as_str() {
                "python" => Some(("python3", &["--version"])),
                "nodejs" => Some(("node", &["--version"])),
                "golang" => Some(("go", &["version"])),
                "ruby" => Some(("ruby", &["--version"])),
                "java" => Some(("java", &["-version"])),
                _ => None,
            };
            let Some((prog, args)) = probe else {
                self.warn(&format!(
                    "runtime-versions: '{runtime}' is not checked by Slipway; the build uses whatever is on PATH"
                ));
                continue;
            };
            let out = Command::new(prog)
                .args(args)
                .env_clear()
                .envs(&self.env)
                .stdin(Stdio::null())
                .output();
            let found = match out {
                Ok(o) if o.status.success() => {
                    let text = format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    );
                    extract_version(&text)
                }
                _ => None,
            };
            match found {
                None => self.warn(&format!(
                    "runtime-versions: {runtime} {version} was asked for, but '{prog}' is not on this machine"
                )),
                Some(have) if !version_matches(version, &have) => self.warn(&format!(
                    "runtime-versions: {runtime} {version} was asked for; this machine has {have}, which the build uses"
                )),
                Some(have) => self.marker(&format!("Using {runtime} {have} for runtime-versions {runtime}: {version}")),
            }
        }
    }

    fn set_succeeding(&mut self, ok: bool) {
        let v = if ok { "1" } else { "0" };
        self.env
            .insert("CODEBUILD_BUILD_SUCCEEDING".into(), v.into());
        if self.spec.version == Version::V0_2 && self.session.is_some() {
            let _ = self.run_script(&format!("export CODEBUILD_BUILD_SUCCEEDING={v}\n"));
        }
    }

    fn upload_artifacts(&mut self, store: &Store) -> Result<Vec<ArtifactRecord>, String> {
        let Some(a) = &self.spec.artifacts else {
            return Ok(Vec::new());
        };
        let mut sets: Vec<(String, &ArtifactSet)> = vec![("primary".to_owned(), &a.primary)];
        sets.extend(a.secondary.iter().map(|(k, v)| (k.clone(), v)));
        let mut out = Vec::new();
        for (id, set) in sets {
            let selected = files::select(
                &self.src,
                set.base_directory.as_deref(),
                &set.files,
                &set.exclude_paths,
                set.discard_paths,
            )
            .map_err(|e| format!("CLIENT_ERROR: artifact '{id}': {e}"))?;
            if selected.is_empty() {
                return Err(format!(
                    "CLIENT_ERROR: no matching artifact paths found for artifact '{id}'"
                ));
            }
            let mut seen = BTreeMap::new();
            for (name, _) in &selected {
                *seen.entry(name.clone()).or_insert(0) += 1;
            }
            for (name, n) in seen.into_iter().filter(|(_, n)| *n > 1) {
                self.warn(&format!(
                    "artifact '{id}': {n} files are named '{name}' after discard-paths; the last one is kept"
                ));
            }
            let entries: Vec<ZipEntry> = selected
                .into_iter()
                .map(|(name, source)| ZipEntry { name, source })
                .collect();
            let blob = store
                .put_zip(&entries)
                .map_err(|e| format!("artifact '{id}': {e}"))?;
            let name = set
                .name
                .as_ref()
                .map(|n| self.query(n).unwrap_or_else(|| n.clone()));
            let files = entries
                .iter()
                .map(|e| e.name.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            self.marker(&format!(
                "Artifact {id}: {files} file(s), {} bytes, sha256:{}",
                blob.size, blob.digest
            ));
            // CodeBuild's S3 key: `<s3-prefix>/<build id>/<name>` (namespace BUILD_ID).
            let location = set.s3_prefix.as_ref().map(|p| {
                format!(
                    "{}/{}/{}",
                    p.trim_end_matches('/'),
                    self.build_id,
                    name.as_deref().unwrap_or(&id)
                )
            });
            out.push(ArtifactRecord {
                identifier: id,
                location,
                name,
                sha256: blob.digest.hex(),
                size: blob.size,
                files,
            });
        }
        Ok(out)
    }

    fn save_cache(&mut self, cache_dir: &Path) -> Result<(), String> {
        let Some(c) = &self.spec.cache else {
            return Ok(());
        };
        let selected = files::select(&self.src, None, &c.paths, &[], false)?;
        let fresh = cache_dir.with_extension("new");
        let _ = fs::remove_dir_all(&fresh);
        for (rel, from) in &selected {
            let to = fresh.join(rel);
            if let Some(p) = to.parent() {
                fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
            }
            fs::copy(from, &to).map_err(|e| format!("{}: {e}", to.display()))?;
        }
        fs::create_dir_all(&fresh).map_err(|e| format!("{}: {e}", fresh.display()))?;
        let _ = fs::remove_dir_all(cache_dir);
        fs::rename(&fresh, cache_dir).map_err(|e| format!("{}: {e}", cache_dir.display()))?;
        self.marker(&format!("Saved {} cached file(s)", selected.len()));
        Ok(())
    }

    fn reports(&mut self) -> Vec<ReportRecord> {
        let mut out = Vec::new();
        for (group, r) in &self.spec.reports {
            let full = format!("{}-{group}", self.opts.project);
            let mut rec = ReportRecord {
                group: full.clone(),
                files: Vec::new(),
                summary: TestSummary::default(),
                cases: Vec::new(),
                errors: Vec::new(),
            };
            match files::select(&self.src, r.base_directory.as_deref(), &r.files, &[], false) {
                Err(e) => rec.errors.push(e),
                Ok(sel) if sel.is_empty() => rec.errors.push("no report files matched".into()),
                Ok(sel) => {
                    for (_, path) in sel {
                        let rel = path
                            .strip_prefix(&self.src)
                            .unwrap_or(&path)
                            .display()
                            .to_string();
                        match fs::read_to_string(&path)
                            .map_err(|e| e.to_string())
                            .and_then(|t| junit::parse(&t))
                        {
                            Ok(cases) => rec.cases.extend(cases),
                            Err(e) => rec.errors.push(format!("{rel}: {e}")),
                        }
                        rec.files.push(rel);
                    }
                }
            }
            rec.summary = TestSummary::of(&rec.cases);
            let s = rec.summary;
            self.marker(&format!(
                "Report {full}: {} test(s), {} succeeded, {} failed, {} error, {} skipped",
                s.total, s.succeeded, s.failed, s.error, s.skipped
            ));
            let failures: Vec<String> = rec
                .failures()
                .map(|c| {
                    let who = if c.classname.is_empty() {
                        c.name.clone()
                    } else {
                        format!("{}::{}", c.classname, c.name)
                    };
                    match &c.message {
                        Some(m) => format!("{who}: {}", m.lines().next().unwrap_or("")),
                        None => who,
                    }
                })
                .collect();
            for f in failures {
                self.marker(&format!("  FAILED {f}"));
            }
            for e in rec.errors.clone() {
                self.warn(&format!("report {full}: {e}"));
            }
            out.push(rec);
        }
        out
    }
}

/// `Python 3.11.7` → `3.11.7`; `v20.1.0` → `20.1.0`.
fn extract_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '"')
        .map(|w| w.trim_start_matches(['v', 'o', 'g']))
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .map(str::to_owned)
}

/// `3.x`, `latest` and an exact prefix (`3.11` of `3.11.7`) match.
fn version_matches(wanted: &str, have: &str) -> bool {
    if wanted == "latest" {
        return true;
    }
    let w: Vec<&str> = wanted.split('.').collect();
    let h: Vec<&str> = have.split('.').collect();
    w.iter()
        .enumerate()
        .all(|(i, part)| *part == "x" || h.get(i) == Some(part))
}

/// Runs one build to the end and returns its record. An `Err` means the build could not start
/// (invalid buildspec, unreadable source); a build that starts always ends with a
/// [`BuildResult`], whatever its status.
pub fn run_build(opts: &BuildOptions<'_>) -> Result<BuildResult, BuildError> {
    if !valid_project(&opts.project) {
        return Err(BuildError::InvalidProject(opts.project.clone()));
    }
    let (spec, diags) = load_buildspec(&opts.source, &opts.buildspec)?;
    let clock = opts.clock;
    let start = clock.now_ms();
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut phases = Vec::new();
    let mut record = |phase, status, s, e, context: Option<String>| {
        phases.push(PhaseRecord {
            phase,
            status,
            start_ms: s,
            end_ms: e,
            context,
        });
    };
    record(
        BuildPhase::Submitted,
        Some(Status::Succeeded),
        start,
        start,
        None,
    );
    record(
        BuildPhase::Queued,
        Some(Status::Succeeded),
        start,
        start,
        None,
    );

    // PROVISIONING: the build's directories, number and identity.
    fs::create_dir_all(&opts.data_dir).map_err(io_err("create", &opts.data_dir))?;
    let data_dir = opts
        .data_dir
        .canonicalize()
        .map_err(io_err("resolve", &opts.data_dir))?;
    let project_dir = data_dir.join("builds").join(&opts.project);
    fs::create_dir_all(&project_dir).map_err(io_err("create", &project_dir))?;
    let number = next_build_number(&project_dir)?;
    let uuid = uuid_v4();
    let id = format!("{}:{uuid}", opts.project);
    let arn = format!(
        "arn:aws:codebuild:{}:{}:build/{id}",
        opts.region, opts.account
    );
    let build_dir = project_dir.join(&uuid);
    let src = build_dir.join("src");
    let scripts = build_dir.join("scripts");
    fs::create_dir_all(&scripts).map_err(io_err("create", &scripts))?;
    let log_path = build_dir.join("build.log");
    let log = File::create(&log_path).map_err(io_err("create", &log_path))?;
    let store = Store::open(data_dir.join("artefacts")).map_err(|e| BuildError::Io {
        action: "open the artefact store in",
        path: data_dir.join("artefacts"),
        source: io::Error::other(e),
    })?;
    let cache_dir = data_dir.join("cache/projects").join(&opts.project);
    let t = clock.now_ms();
    record(
        BuildPhase::Provisioning,
        Some(Status::Succeeded),
        start,
        t,
        None,
    );

    // DOWNLOAD_SOURCE: a fresh workspace.
    let resolved = match &opts.source {
        Source::Dir(dir) => {
            let skip = dir
                .canonicalize()
                .ok()
                .filter(|d| data_dir.starts_with(d))
                .map(|_| data_dir.clone());
            files::copy_tree(dir, &src, skip.as_deref())
                .map_err(io_err("copy the source from", dir))?;
            git(dir, &["rev-parse", "--verify", "-q", "HEAD"])
                .ok()
                .map(|s| s.trim().to_owned())
        }
        Source::Git { repo, rev } => Some(export_commit(repo, rev, &src)?),
    };

    let mut base = BTreeMap::new();
    for k in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(k) {
            base.insert(k.to_owned(), v);
        }
    }
    let builtins: [(&str, String); 13] = [
        ("AWS_REGION", opts.region.clone()),
        ("AWS_DEFAULT_REGION", opts.region.clone()),
        ("CODEBUILD_BUILD_ID", id.clone()),
        ("CODEBUILD_BUILD_ARN", arn.clone()),
        ("CODEBUILD_BUILD_NUMBER", number.to_string()),
        ("CODEBUILD_BUILD_IMAGE", "slipway/local".into()),
        ("CODEBUILD_BUILD_SUCCEEDING", "1".into()),
        ("CODEBUILD_INITIATOR", opts.initiator.clone()),
        ("CODEBUILD_LOG_PATH", uuid),
        ("CODEBUILD_SRC_DIR", src.display().to_string()),
        ("CODEBUILD_START_TIME", start.to_string()),
        (
            "CODEBUILD_KMS_KEY_ID",
            format!("arn:aws:kms:{}:{}:alias/aws/s3", opts.region, opts.account),
        ),
        (
            "CODEBUILD_SOURCE_VERSION",
            opts.source_version
                .clone()
                .or_else(|| resolved.clone())
                .unwrap_or_default(),
        ),
    ];
    for (k, v) in builtins {
        base.insert(k.to_owned(), v);
    }
    if let Some(r) = &resolved {
        base.insert("CODEBUILD_RESOLVED_SOURCE_VERSION".into(), r.clone());
    }
    if let Some(url) = &opts.aws_endpoint_url {
        base.insert("AWS_ENDPOINT_URL".into(), url.clone());
    }
    let token = (hex::encode(random_bytes()), hex::encode(random_bytes()));
    let (tx, rx) = mpsc::channel();
    opts.cancel.register(tx.clone());
    let mut r = Runner {
        opts,
        build_id: id.clone(),
        spec: &spec,
        env: BTreeMap::new(),
        masker: Masker::default(),
        log: Some(log),
        phase: BuildPhase::DownloadSource,
        tx,
        rx,
        session: None,
        sessions: 0,
        token,
        scripts,
        src: src.clone(),
        deadline,
        commands: Vec::new(),
        warnings: Vec::new(),
    };
    for d in &diags {
        r.warn(&d.to_string());
    }
    let mut status = Status::Succeeded;
    let mut skip_to_finalizing = false;
    let dl_start = t;
    match env::assemble(
        base,
        &spec,
        &opts.project_env,
        &opts.env_overrides,
        opts.parameter_store,
        opts.secrets,
    ) {
        Ok(e) => {
            r.env = e.vars;
            r.masker = e.masker;
            if spec.cache.is_some() && cache_dir.is_dir() {
                let n = restore_cache(&cache_dir, &src).unwrap_or(0);
                r.marker(&format!("Restored {n} cached file(s)"));
            }
            record(
                BuildPhase::DownloadSource,
                Some(Status::Succeeded),
                dl_start,
                clock.now_ms(),
                None,
            );
        }
        Err(errors) => {
            for e in &errors {
                r.marker(&format!("Error: {e}"));
            }
            status = Status::Failed;
            skip_to_finalizing = true;
            record(
                BuildPhase::DownloadSource,
                Some(Status::Failed),
                dl_start,
                clock.now_ms(),
                Some(format!("CLIENT_ERROR: {}", errors.join("; "))),
            );
        }
    }

    for name in PhaseName::ALL {
        if skip_to_finalizing {
            break;
        }
        let phase = spec.phases.get(name);
        r.phase = name.into();
        let p_start = clock.now_ms();
        r.marker(&format!("Entering phase {}", name.api_name()));
        let outcome = r.run_phase(name, phase);
        let (st, ctx) = match &outcome {
            PhaseOutcome::Succeeded => (Status::Succeeded, None),
            PhaseOutcome::Failed(c) => (Status::Failed, Some(c.clone())),
            PhaseOutcome::TimedOut => (
                Status::TimedOut,
                Some("BUILD_TIMED_OUT: Build timed out".to_owned()),
            ),
            PhaseOutcome::Stopped => (
                Status::Stopped,
                Some("BUILD_STOPPED: Build was stopped".to_owned()),
            ),
        };
        r.marker(&format!(
            "Phase complete: {} State: {}",
            name.api_name(),
            st.api_name()
        ));
        r.marker(&format!(
            "Phase context status code: {} Message: {}",
            ctx.as_deref()
                .and_then(|c| c.split(": ").next())
                .unwrap_or(""),
            ctx.as_deref()
                .and_then(|c| c.split_once(": ").map(|x| x.1))
                .unwrap_or("")
        ));
        record(r.phase, Some(st), p_start, clock.now_ms(), ctx);
        match outcome {
            PhaseOutcome::Succeeded => {}
            PhaseOutcome::Failed(_) => {
                if status == Status::Succeeded {
                    status = Status::Failed;
                    r.set_succeeding(false);
                }
                let on_failure = phase.and_then(|p| p.on_failure);
                skip_to_finalizing = match on_failure {
                    Some(OnFailure::Abort) => true,
                    Some(OnFailure::Continue) => false,
                    None => matches!(name, PhaseName::Install | PhaseName::PreBuild),
                };
            }
            PhaseOutcome::TimedOut => {
                status = Status::TimedOut;
                skip_to_finalizing = true;
            }
            PhaseOutcome::Stopped => {
                status = Status::Stopped;
                skip_to_finalizing = true;
            }
        }
    }

    // The exported variables, as the last phase left them.
    let mut exported = IndexMap::new();
    if matches!(status, Status::Succeeded | Status::Failed) {
        for name in &spec.env.exported_variables {
            if let Some(v) = r.query(&format!("${{{name}-}}")) {
                exported.insert(name.clone(), v);
            }
        }
    }

    let mut artifacts = Vec::new();
    if !skip_to_finalizing {
        r.phase = BuildPhase::UploadArtifacts;
        let u_start = clock.now_ms();
        r.marker("Entering phase UPLOAD_ARTIFACTS");
        let mut ctx = None;
        match r.upload_artifacts(&store) {
            Ok(a) => artifacts = a,
            Err(e) => ctx = Some(e),
        }
        if ctx.is_none()
            && let Err(e) = r.save_cache(&cache_dir)
        {
            ctx = Some(format!("CLIENT_ERROR: saving the cache: {e}"));
        }
        let st = if ctx.is_some() {
            Status::Failed
        } else {
            Status::Succeeded
        };
        if let Some(c) = &ctx {
            r.marker(c);
            if status == Status::Succeeded {
                status = Status::Failed;
            }
        }
        r.marker(&format!(
            "Phase complete: UPLOAD_ARTIFACTS State: {}",
            st.api_name()
        ));
        record(
            BuildPhase::UploadArtifacts,
            Some(st),
            u_start,
            clock.now_ms(),
            ctx,
        );
    }

    r.phase = BuildPhase::Finalizing;
    let f_start = clock.now_ms();
    r.marker("Entering phase FINALIZING");
    let reports = r.reports();
    r.end_session();
    record(
        BuildPhase::Finalizing,
        Some(Status::Succeeded),
        f_start,
        clock.now_ms(),
        None,
    );
    let end = clock.now_ms();
    record(BuildPhase::Completed, None, end, end, None);
    r.phase = BuildPhase::Completed;
    r.marker(&format!("Build {} {}", id, status.api_name()));
    let result = BuildResult {
        id,
        arn,
        project: opts.project.clone(),
        number,
        status,
        start_ms: start,
        end_ms: end,
        phases,
        commands: std::mem::take(&mut r.commands),
        exported_variables: exported,
        reports,
        artifacts,
        warnings: std::mem::take(&mut r.warnings),
        src_dir: src,
        log_path,
    };
    let json_path = build_dir.join("build.json");
    if let Ok(json) = serde_json::to_string_pretty(&result) {
        fs::write(&json_path, json).map_err(io_err("write", &json_path))?;
    }
    Ok(result)
}

/// Copies the project's cache into the new workspace; files of the source win.
fn restore_cache(cache: &Path, src: &Path) -> io::Result<usize> {
    let mut n = 0;
    for rel in files::all_files(cache)? {
        let to = src.join(&rel);
        if to.exists() {
            continue;
        }
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        fs::copy(cache.join(&rel), &to)?;
        n += 1;
    }
    Ok(n)
}

/// Garbage-collects the artefact store under `data_dir`: every blob that nothing refers to is
/// deleted. `slipway gc` calls this. What refers to a blob, and so keeps it:
///
/// - a build record (`builds/*/*/build.json`): its artifacts' `sha256`;
/// - the last SAM-style build (`build/.slipway-build.json`): each package's archive;
/// - the state store (`state.db`), read conservatively: every string in every stored document
///   (functions, deployments, journal, resources, and whatever collection comes next — pipeline
///   executions naming their artefacts) and in every stack (record, resources, change sets,
///   events) is split into words, and each 64-hex-digit word is kept as a digest. A string that
///   only looks like a digest keeps a blob it does not mean, which is harmless; nothing the
///   store names is ever removed.
///
/// Run it on an idle data directory: a blob written by a running server or build after the
/// references were read and before the sweep would go too.
pub fn gc_artefacts(data_dir: &Path) -> Result<slipway_store::GcStats, BuildError> {
    let mut keep = std::collections::BTreeSet::new();
    let builds = data_dir.join("builds");
    for project in fs::read_dir(&builds).into_iter().flatten().flatten() {
        for build in fs::read_dir(project.path()).into_iter().flatten().flatten() {
            let p = build.path().join("build.json");
            let Ok(text) = fs::read_to_string(&p) else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| BuildError::Io {
                action: "read the build record",
                path: p.clone(),
                source: io::Error::other(e),
            })?;
            for a in v["artifacts"].as_array().into_iter().flatten() {
                if let Some(d) = a["sha256"].as_str().and_then(|s| s.parse().ok()) {
                    keep.insert(d);
                }
            }
        }
    }
    let manifest = data_dir.join("build").join(".slipway-build.json");
    if let Ok(text) = fs::read_to_string(&manifest) {
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| BuildError::Io {
            action: "read the build manifest",
            path: manifest.clone(),
            source: io::Error::other(e),
        })?;
        digests_in(&v, &mut keep);
    }
    let db = data_dir.join("state.db");
    if db.is_file() {
        state_references(&db, &mut keep)?;
    }
    let root = data_dir.join("artefacts");
    let store = Store::open(&root).map_err(|e| BuildError::Io {
        action: "open the artefact store in",
        path: root.clone(),
        source: io::Error::other(e),
    })?;
    store.gc(&keep).map_err(|e| BuildError::Io {
        action: "collect garbage in",
        path: root,
        source: io::Error::other(e),
    })
}

/// Every digest the state store at `db` names (see [`gc_artefacts`]).
fn state_references(
    db: &Path,
    keep: &mut std::collections::BTreeSet<slipway_store::Digest>,
) -> Result<(), BuildError> {
    use slipway_store::state::{Collection, StateStore as _, sqlite::SqliteStore};
    let state_err = |e: slipway_store::state::StateError| BuildError::Io {
        action: "read the state store",
        path: db.to_owned(),
        source: io::Error::other(e),
    };
    let store = SqliteStore::open(db).map_err(state_err)?;
    let mut targets = std::collections::BTreeSet::new();
    for t in store.targets().map_err(state_err)? {
        targets.insert(t.name);
    }
    for c in Collection::ALL {
        for (target, _, doc) in store.list_all_docs(c).map_err(state_err)? {
            digests_in(&doc.value, keep);
            targets.insert(target);
        }
    }
    for t in &targets {
        for name in store.list_stacks(t).map_err(state_err)? {
            let Some(stack) = store.get_stack(t, &name).map_err(state_err)? else {
                continue;
            };
            digests_in(&stack.record, keep);
            for (_, v) in stack.resources.iter().chain(&stack.change_sets) {
                digests_in(v, keep);
            }
            for v in &stack.events {
                digests_in(v, keep);
            }
        }
    }
    Ok(())
}

/// Every 64-hex-digit word of every string (and object key) in `v`.
fn digests_in(v: &serde_json::Value, keep: &mut std::collections::BTreeSet<slipway_store::Digest>) {
    use serde_json::Value;
    fn words(s: &str, keep: &mut std::collections::BTreeSet<slipway_store::Digest>) {
        for w in s.split(|c: char| !c.is_ascii_hexdigit()) {
            if w.len() == 64
                && let Ok(d) = w.to_ascii_lowercase().parse()
            {
                keep.insert(d);
            }
        }
    }
    match v {
        Value::String(s) => words(s, keep),
        Value::Array(a) => a.iter().for_each(|x| digests_in(x, keep)),
        Value::Object(m) => {
            for (k, x) in m {
                words(k, keep);
                digests_in(x, keep);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_versions_match_like_codebuild() {
        assert!(version_matches("3.x", "3.11.7"));
        assert!(version_matches("3.11", "3.11.7"));
        assert!(!version_matches("3.12", "3.11.7"));
        assert!(version_matches("latest", "20.1.0"));
        assert_eq!(
            extract_version("Python 3.11.7\n").as_deref(),
            Some("3.11.7")
        );
        assert_eq!(extract_version("v20.1.0\n").as_deref(), Some("20.1.0"));
        assert_eq!(
            extract_version("go version go1.22.1 linux/amd64").as_deref(),
            Some("1.22.1")
        );
    }

    #[test]
    fn project_names_follow_codebuild() {
        assert!(valid_project("my-app_2"));
        assert!(!valid_project("a"));
        assert!(!valid_project("../x"));
        assert!(!valid_project("-x"));
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid_v4());
    }
}
