//! SAM-style builds (`slipway build` without a buildspec), as `sam build` does them.
//!
//! For every function and layer of the template whose code is a local directory:
//!
//! | resource | code from | built into |
//! | --- | --- | --- |
//! | `AWS::Serverless::Function` (`PackageType: Zip`) | `CodeUri` (or `Globals.Function.CodeUri`) | `<build>/<LogicalId>/` |
//! | `AWS::Lambda::Function` with `Code: <local dir>` | `Code` | `<build>/<LogicalId>/` |
//! | `AWS::Serverless::LayerVersion` with `Metadata.BuildMethod` | `ContentUri` | `<build>/<LogicalId>/python/` (python) or as the Makefile puts it |
//!
//! The build method is the runtime's (`python3.x`: copy the code, then `pip install -r
//! requirements.txt -t <package>`), or `Metadata: {BuildMethod: makefile}`, which runs `make
//! build-<LogicalId>` in the code directory with `ARTIFACTS_DIR` set to the package directory.
//! A layer without `BuildMethod` is copied as it is (SAM does not build it either). Inline code,
//! `PackageType: Image`, S3 locations and non-Python runtimes without a Makefile are listed as
//! skipped, with the reason.
//!
//! Then `<build>/template.yaml` is written: the template with every built `CodeUri`,
//! `ContentUri` or `Code` pointing at its package directory (written as JSON, which is YAML and
//! keeps every intrinsic in its long form).
//!
//! # What makes a rebuild fast
//!
//! - **Unchanged functions are not rebuilt at all.** A function's fingerprint is the sha256 of
//!   its build inputs: kind, runtime, build method, and every file under its code directory as
//!   (relative path, size, modification time, executable bit). The fingerprints of the last
//!   build are kept in `<build>/.slipway-build.json`; a function whose fingerprint and package
//!   directory are unchanged is reported `Unchanged` without reading a byte of its files.
//! - **Dependencies are installed once per (requirements, runtime).** pip installs into
//!   `<cache>/<sha256 of runtime + requirements.txt>/`, and that directory is then linked (hard
//!   links, falling back to copies) into each package that needs it. Editing a handler rebuilds
//!   its function without running pip.
//!
//! - **Archives are made once per package content.** With an artefact store configured, each
//!   package is stored as a deterministic zip (its sha256 is the function's code hash); an
//!   unchanged package keeps the digest recorded in the manifest.
//!
//! Directories named `.aws-sam`, `.slipway`, `.git` and `__pycache__` are not part of a package.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use slipway_model::diag::Diagnostic;
use slipway_model::syntax::{Node, TagMode, parse_document};

/// Bumped whenever the layout of a package changes, so old packages are rebuilt.
const BUILDER_VERSION: &str = "slipway-sam-build-1";
const SKIP_DIRS: [&str; 4] = [".aws-sam", ".slipway", ".git", "__pycache__"];

pub struct SamBuildOptions {
    /// The template (`template.yaml`); code paths are relative to its directory.
    pub template: PathBuf,
    /// Where packages and the built template go (`.aws-sam/build` for SAM; Slipway uses
    /// `.slipway/build`).
    pub build_dir: PathBuf,
    /// The dependency cache, shared by every function and build (`.slipway/cache/deps`).
    pub cache_dir: PathBuf,
    /// How pip is run: the program and its first arguments; `install -r <requirements> -t
    /// <dir>` and quiet flags follow. `None`: `<python> -m pip`, with the runtime's
    /// interpreter (`python3.12`) when it is on PATH, else `python3`.
    pub pip: Option<Vec<String>>,
    /// Rebuild everything, ignoring fingerprints and the dependency cache.
    pub force: bool,
    /// The artefact store (`.slipway/artefacts`): when set, every package is also stored there
    /// as a deterministic zip, and its sha256 is what deploys refer to. An unchanged package
    /// keeps the digest recorded for it, without zipping again.
    pub artefacts: Option<PathBuf>,
    /// Told about each function and layer as its build starts, moves on and ends (the CLI's
    /// live display). [`NoProgress`] by default.
    pub progress: Arc<dyn SamProgress>,
}

/// What a SAM-style build reports while it runs, from the thread running it, in order: for
/// each function and layer one [`SamEvent::Started`], zero or more [`SamEvent::Step`], one
/// [`SamEvent::Finished`] (not sent when the build stops with an error at that resource).
pub trait SamProgress: Send + Sync {
    fn event(&self, event: &SamEvent<'_>);
}

/// Hears nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl SamProgress for NoProgress {
    fn event(&self, _: &SamEvent<'_>) {}
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SamEvent<'a> {
    Started {
        logical_id: &'a str,
        kind: ArtefactKind,
    },
    /// A step that may take a while has begun.
    Step {
        logical_id: &'a str,
        step: SamStep,
    },
    Finished(&'a ArtefactBuild),
}

/// The slow parts of building one package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamStep {
    /// Copying the code directory into the package.
    Copying,
    /// `pip install -r requirements.txt` (the dependency cache had nothing for it).
    InstallingDependencies,
    /// `make build-<LogicalId>`.
    RunningMake,
    /// Zipping the package into the artefact store.
    Storing,
}

impl SamStep {
    pub fn describe(self) -> &'static str {
        match self {
            SamStep::Copying => "copying the code",
            SamStep::InstallingDependencies => "installing requirements.txt with pip",
            SamStep::RunningMake => "running make",
            SamStep::Storing => "storing the package",
        }
    }
}

impl SamBuildOptions {
    /// Slipway's layout under a data directory: `<data>/build` and `<data>/cache/deps`.
    pub fn new(template: impl Into<PathBuf>, data_dir: &Path) -> Self {
        SamBuildOptions {
            template: template.into(),
            build_dir: data_dir.join("build"),
            cache_dir: data_dir.join("cache/deps"),
            pip: None,
            force: false,
            artefacts: Some(data_dir.join("artefacts")),
            progress: Arc::new(NoProgress),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtefactKind {
    Function,
    Layer,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum BuildState {
    Built,
    Unchanged,
    Skipped(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deps {
    /// No `requirements.txt`.
    None,
    /// pip ran.
    Installed,
    /// Taken from the dependency cache.
    Cached,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtefactBuild {
    pub logical_id: String,
    pub kind: ArtefactKind,
    pub runtime: Option<String>,
    pub method: Option<String>,
    pub state: BuildState,
    pub deps: Deps,
    /// The package directory.
    pub dir: Option<PathBuf>,
    pub fingerprint: Option<String>,
    /// The package's zip in the artefact store, when a store is configured.
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SamBuildResult {
    pub artefacts: Vec<ArtefactBuild>,
    pub template: PathBuf,
    pub duration_ms: u64,
}

impl SamBuildResult {
    pub fn get(&self, logical_id: &str) -> Option<&ArtefactBuild> {
        self.artefacts.iter().find(|a| a.logical_id == logical_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SamBuildError {
    #[error("the template {file} cannot be read ({} problem(s))", diagnostics.len())]
    Template {
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
    #[error("{logical_id}: {message}")]
    Resource { logical_id: String, message: String },
    #[error("{logical_id}: {what} failed with {status}:\n{output}")]
    Tool {
        logical_id: String,
        what: String,
        status: String,
        output: String,
    },
}

fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> SamBuildError + 'p {
    move |source| SamBuildError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// One thing to build, read from the template.
struct Target {
    logical_id: String,
    kind: ArtefactKind,
    /// The property holding the code location (`CodeUri`, `ContentUri`, `Code`).
    property: &'static str,
    code: Result<PathBuf, String>,
    runtime: Option<String>,
    method: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Manifest {
    fingerprints: BTreeMap<String, String>,
    /// Logical ID → (sha256, size) of the package's zip in the artefact store.
    #[serde(default)]
    archives: BTreeMap<String, (String, u64)>,
}

fn prop_str<'n>(props: Option<&'n Node>, key: &str) -> Option<&'n str> {
    props
        .and_then(Node::as_map)
        .and_then(|m| m.get(key))
        .and_then(Node::as_str)
}

/// The functions and layers of a template, from its resources as written (the SAM transform
/// is not needed to know where code lives).
fn targets(root: &Node, base: &Path) -> Vec<Target> {
    let Some(map) = root.as_map() else {
        return Vec::new();
    };
    let globals = map
        .get("Globals")
        .and_then(Node::as_map)
        .and_then(|g| g.get("Function"));
    let Some(resources) = map.get("Resources").and_then(Node::as_map) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (id, res) in resources.iter() {
        let Some(r) = res.as_map() else { continue };
        let ty = r.get("Type").and_then(Node::as_str).unwrap_or("");
        let props = r.get("Properties");
        let metadata_method = r
            .get("Metadata")
            .and_then(Node::as_map)
            .and_then(|m| m.get("BuildMethod"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        let location = |key: &str, inherit: bool| -> Result<PathBuf, String> {
            let node = props
                .and_then(Node::as_map)
                .and_then(|m| m.get(key))
                .or_else(|| {
                    inherit
                        .then(|| globals.and_then(Node::as_map).and_then(|g| g.get(key)))
                        .flatten()
                });
            match node {
                None => Err(format!("no {key}")),
                Some(n) => match n.as_str() {
                    Some(s) if s.starts_with("s3://") => Err(format!("{key} is in S3")),
                    Some(s) => Ok(base.join(s)),
                    None => Err(format!("{key} is not a local path")),
                },
            }
        };
        let (kind, property, code, runtime, method) = match ty {
            "AWS::Serverless::Function" => {
                let runtime = prop_str(props, "Runtime")
                    .or_else(|| prop_str(globals, "Runtime"))
                    .map(str::to_owned);
                let code = if prop_str(props, "PackageType") == Some("Image") {
                    Err("PackageType Image is built from a container image".to_owned())
                } else if props
                    .and_then(Node::as_map)
                    .is_some_and(|m| m.contains_key("InlineCode"))
                {
                    Err("InlineCode needs no build".to_owned())
                } else {
                    location("CodeUri", true)
                };
                let method = metadata_method.or_else(|| runtime.clone());
                (ArtefactKind::Function, "CodeUri", code, runtime, method)
            }
            "AWS::Lambda::Function" => {
                let runtime = prop_str(props, "Runtime").map(str::to_owned);
                let code = match props.and_then(Node::as_map).and_then(|m| m.get("Code")) {
                    Some(n) if n.as_str().is_some() => location("Code", false),
                    _ => Err("Code is not a local path".to_owned()),
                };
                let method = metadata_method.or_else(|| runtime.clone());
                (ArtefactKind::Function, "Code", code, runtime, method)
            }
            "AWS::Serverless::LayerVersion" => {
                let runtime = props
                    .and_then(Node::as_map)
                    .and_then(|m| m.get("CompatibleRuntimes"))
                    .and_then(Node::as_seq)
                    .and_then(|s| s.first())
                    .and_then(Node::as_str)
                    .map(str::to_owned);
                (
                    ArtefactKind::Layer,
                    "ContentUri",
                    location("ContentUri", false),
                    runtime,
                    metadata_method,
                )
            }
            _ => continue,
        };
        out.push(Target {
            logical_id: id.to_owned(),
            kind,
            property,
            code,
            runtime,
            method,
        });
    }
    out
}

fn skip_dir(name: &str) -> bool {
    SKIP_DIRS.contains(&name)
}

/// The sha256 of a directory's build inputs, from file metadata only.
fn fingerprint(dir: &Path, extra: &str) -> io::Result<String> {
    fn walk(dir: &Path, rel: &str, h: &mut Sha256) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type()?;
            if ft.is_dir() {
                if !skip_dir(&name) {
                    walk(&e.path(), &path, h)?;
                }
            } else {
                let m = e.metadata()?;
                h.update(path.as_bytes());
                h.update(
                    format!(
                        "\0{}\0{}.{}\0{}\n",
                        m.len(),
                        m.mtime(),
                        m.mtime_nsec(),
                        m.mode() & 0o111
                    )
                    .as_bytes(),
                );
            }
        }
        Ok(())
    }
    let mut h = Sha256::new();
    h.update(BUILDER_VERSION.as_bytes());
    h.update(extra.as_bytes());
    walk(dir, "", &mut h)?;
    Ok(hex::encode(h.finalize()))
}

fn copy_code(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        let ft = e.file_type()?;
        let dest = to.join(&name);
        if ft.is_dir() {
            if !skip_dir(&name.to_string_lossy()) {
                copy_code(&e.path(), &dest)?;
            }
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path())?, &dest)?;
        } else {
            fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

/// Links (or copies, across file systems) every file of `from` into `to`.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            link_tree(&e.path(), &dest)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path())?, &dest)?;
        } else {
            if dest.exists() {
                fs::remove_file(&dest)?;
            }
            if fs::hard_link(e.path(), &dest).is_err() {
                fs::copy(e.path(), &dest)?;
            }
        }
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn run_tool(logical_id: &str, what: &str, cmd: &mut Command) -> Result<(), SamBuildError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SamBuildError::Tool {
            logical_id: logical_id.to_owned(),
            what: what.to_owned(),
            status: "an error starting it".into(),
            output: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(SamBuildError::Tool {
        logical_id: logical_id.to_owned(),
        what: what.to_owned(),
        status: out.status.to_string(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    })
}

struct Builder<'o> {
    opts: &'o SamBuildOptions,
}

impl Builder<'_> {
    fn pip_command(&self, runtime: Option<&str>) -> Command {
        match &self.opts.pip {
            Some(argv) => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
            None => {
                let python = runtime
                    .filter(|r| r.starts_with("python") && on_path(r))
                    .unwrap_or("python3");
                let mut c = Command::new(python);
                c.args(["-m", "pip"]);
                c
            }
        }
    }

    /// The dependency directory for a requirements file: from the cache, or installed now.
    fn deps(
        &self,
        logical_id: &str,
        runtime: Option<&str>,
        requirements: &Path,
        step: &dyn Fn(SamStep),
    ) -> Result<(PathBuf, Deps), SamBuildError> {
        let text = fs::read(requirements).map_err(io_err("read", requirements))?;
        let mut h = Sha256::new();
        h.update(BUILDER_VERSION.as_bytes());
        h.update(runtime.unwrap_or("").as_bytes());
        h.update(b"\0");
        h.update(&text);
        let key = hex::encode(h.finalize());
        let dir = self.opts.cache_dir.join(&key);
        if dir.is_dir() && !self.opts.force {
            return Ok((dir, Deps::Cached));
        }
        step(SamStep::InstallingDependencies);
        let tmp = self.opts.cache_dir.join(format!("{key}.partial"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(io_err("create", &tmp))?;
        let mut cmd = self.pip_command(runtime);
        cmd.args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            "-r",
        ])
        .arg(requirements)
        .arg("-t")
        .arg(&tmp);
        run_tool(logical_id, "pip install", &mut cmd)?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&tmp, &dir).map_err(io_err("move dependencies to", &dir))?;
        Ok((dir, Deps::Installed))
    }

    fn build_one(&self, t: &Target, code: &Path, dest: &Path) -> Result<Deps, SamBuildError> {
        let id = &t.logical_id;
        let staging = dest.with_extension("partial");
        let _ = fs::remove_dir_all(&staging);
        let method = t.method.as_deref().unwrap_or("");
        let mut deps = Deps::None;
        let step = |step| {
            self.opts.progress.event(&SamEvent::Step {
                logical_id: id,
                step,
            });
        };
        if method == "makefile" {
            step(SamStep::RunningMake);
            fs::create_dir_all(&staging).map_err(io_err("create", &staging))?;
            let mut cmd = Command::new("make");
            cmd.arg("-C")
                .arg(code)
                .arg(format!("build-{id}"))
                .arg(format!("ARTIFACTS_DIR={}", staging.display()))
                .env("ARTIFACTS_DIR", &staging);
            run_tool(id, &format!("make build-{id}"), &mut cmd)?;
        } else if method.starts_with("python") {
            let layer_dir = staging.join("python");
            let pkg: &Path = match t.kind {
                ArtefactKind::Function => &staging,
                ArtefactKind::Layer => &layer_dir,
            };
            step(SamStep::Copying);
            copy_code(code, pkg).map_err(io_err("copy the code from", code))?;
            let req = code.join("requirements.txt");
            if req.is_file() {
                let (dir, how) =
                    self.deps(id, t.runtime.as_deref().or(Some(method)), &req, &step)?;
                link_tree(&dir, pkg).map_err(io_err("link dependencies into", pkg))?;
                deps = how;
            }
        } else if t.kind == ArtefactKind::Layer && method.is_empty() {
            step(SamStep::Copying);
            copy_code(code, &staging).map_err(io_err("copy the code from", code))?;
        } else {
            return Err(SamBuildError::Resource {
                logical_id: id.clone(),
                message: format!(
                    "no build method for '{method}': Slipway builds python runtimes, or any runtime with Metadata: {{BuildMethod: makefile}}"
                ),
            });
        }
        let _ = fs::remove_dir_all(dest);
        fs::rename(&staging, dest).map_err(io_err("move the package to", dest))?;
        Ok(deps)
    }
}

/// Builds every function and layer of a template; see the module documentation.
pub fn build_template(opts: &SamBuildOptions) -> Result<SamBuildResult, SamBuildError> {
    let started = Instant::now();
    let file = opts.template.file_name().map_or_else(
        || "template.yaml".into(),
        |f| f.to_string_lossy().into_owned(),
    );
    let text = fs::read_to_string(&opts.template).map_err(io_err("read", &opts.template))?;
    let parsed = parse_document(&text, TagMode::CloudFormation);
    let root = match parsed.root {
        Some(r) if !parsed.diagnostics.iter().any(Diagnostic::is_error) => r,
        _ => {
            return Err(SamBuildError::Template {
                file,
                text,
                diagnostics: parsed.diagnostics,
            });
        }
    };
    let base = opts
        .template
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    fs::create_dir_all(&opts.build_dir).map_err(io_err("create", &opts.build_dir))?;
    fs::create_dir_all(&opts.cache_dir).map_err(io_err("create", &opts.cache_dir))?;
    let manifest_path = opts.build_dir.join(".slipway-build.json");
    let old: Manifest = fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut new = Manifest::default();
    let builder = Builder { opts };
    let store = match &opts.artefacts {
        Some(root) => Some(
            slipway_store::Store::open(root).map_err(|e| SamBuildError::Io {
                action: "open the artefact store in",
                path: root.clone(),
                source: io::Error::other(e),
            })?,
        ),
        None => None,
    };
    let mut json = root.to_json();
    let mut artefacts = Vec::new();
    for t in targets(&root, &base) {
        let t0 = Instant::now();
        opts.progress.event(&SamEvent::Started {
            logical_id: &t.logical_id,
            kind: t.kind,
        });
        let mut rec = ArtefactBuild {
            logical_id: t.logical_id.clone(),
            kind: t.kind,
            runtime: t.runtime.clone(),
            method: t.method.clone(),
            state: BuildState::Built,
            deps: Deps::None,
            dir: None,
            fingerprint: None,
            sha256: None,
            size: None,
            duration_ms: 0,
        };
        let code = match &t.code {
            Ok(c) => c.clone(),
            Err(reason) => {
                rec.state = BuildState::Skipped(reason.clone());
                opts.progress.event(&SamEvent::Finished(&rec));
                artefacts.push(rec);
                continue;
            }
        };
        if !code.is_dir() {
            return Err(SamBuildError::Resource {
                logical_id: t.logical_id.clone(),
                message: format!("{} '{}' is not a directory", t.property, code.display()),
            });
        }
        let extra = format!(
            "{:?}\0{}\0{}\0{}",
            t.kind,
            t.runtime.as_deref().unwrap_or(""),
            t.method.as_deref().unwrap_or(""),
            code.display()
        );
        let fp = fingerprint(&code, &extra).map_err(io_err("read", &code))?;
        let dest = opts.build_dir.join(&t.logical_id);
        let unchanged =
            !opts.force && old.fingerprints.get(&t.logical_id) == Some(&fp) && dest.is_dir();
        if unchanged {
            rec.state = BuildState::Unchanged;
        } else {
            rec.deps = builder.build_one(&t, &code, &dest)?;
        }
        if let Some(store) = &store {
            let kept = old
                .archives
                .get(&t.logical_id)
                .filter(|(d, _)| unchanged && d.parse().is_ok_and(|d| store.contains(&d)));
            let (digest, size) = match kept {
                Some(k) => k.clone(),
                None => {
                    opts.progress.event(&SamEvent::Step {
                        logical_id: &t.logical_id,
                        step: SamStep::Storing,
                    });
                    let blob = store.put_dir(&dest).map_err(|e| SamBuildError::Resource {
                        logical_id: t.logical_id.clone(),
                        message: format!("storing the package: {e}"),
                    })?;
                    (blob.digest.hex(), blob.size)
                }
            };
            new.archives
                .insert(t.logical_id.clone(), (digest.clone(), size));
            rec.sha256 = Some(digest);
            rec.size = Some(size);
        }
        if let Some(props) = json
            .get_mut("Resources")
            .and_then(|r| r.get_mut(&t.logical_id))
            .and_then(|r| {
                let obj = r.as_object_mut()?;
                Some(
                    obj.entry("Properties")
                        .or_insert_with(|| Value::Object(serde_json::Map::new())),
                )
            })
            .and_then(Value::as_object_mut)
        {
            props.insert(t.property.to_owned(), Value::String(t.logical_id.clone()));
        }
        new.fingerprints.insert(t.logical_id.clone(), fp.clone());
        rec.fingerprint = Some(fp);
        rec.dir = Some(dest);
        rec.duration_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        opts.progress.event(&SamEvent::Finished(&rec));
        artefacts.push(rec);
    }
    let template_out = opts.build_dir.join("template.yaml");
    let body = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    if fs::read_to_string(&template_out).ok().as_deref() != Some(body.as_str()) {
        fs::write(&template_out, body).map_err(io_err("write", &template_out))?;
    }
    let manifest = serde_json::to_vec_pretty(&new).unwrap_or_default();
    if fs::read(&manifest_path).ok().as_deref() != Some(manifest.as_slice()) {
        fs::write(&manifest_path, manifest).map_err(io_err("write", &manifest_path))?;
    }
    Ok(SamBuildResult {
        artefacts,
        template: template_out,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

impl SamBuildResult {
    /// One line per function and layer (built, unchanged or skipped, and how its dependencies
    /// were got), then where the built template is.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for a in &self.artefacts {
            let state = match &a.state {
                BuildState::Built => "built".to_owned(),
                BuildState::Unchanged => "unchanged".to_owned(),
                BuildState::Skipped(why) => format!("skipped: {why}"),
            };
            let deps = match a.deps {
                Deps::None => "",
                Deps::Installed => ", dependencies installed",
                Deps::Cached => ", dependencies from cache",
            };
            let archive = match (&a.sha256, a.size) {
                (Some(d), Some(n)) => format!(", {n} bytes, sha256:{d}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<24} {:<8} {state}{deps}{archive} ({} ms)",
                a.logical_id,
                match a.kind {
                    ArtefactKind::Function => "function",
                    ArtefactKind::Layer => "layer",
                },
                a.duration_ms
            );
        }
        let _ = writeln!(
            out,
            "Built template: {} ({} ms)",
            self.template.display(),
            self.duration_ms
        );
        out
    }
}
