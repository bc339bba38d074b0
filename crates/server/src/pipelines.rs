//! Pipelines in the server: the [`slipway_pipeline::exec::Executor`] with the action runners
//! that reach this server's build runner and deploy engine, and the loop that polls branches
//! and fires timeouts.
//!
//! - **Source**: [`slipway_pipeline::git::GitSource`], repositories relative to
//!   [`PipelineConfig::project_dir`]; `S3` sources read this server's S3, and an upload to a
//!   watched key starts the pipeline ([`S3Source`], [`object_uploaded`]). A start by hand or
//!   by creating a pipeline ([`Pipelines::start_execution`]) reads every source's current
//!   revision first and carries it, as a trigger's.
//! - **Build / Test** (`CodeBuild`): the input artefact (the `PrimarySource`, else the first)
//!   is unpacked into the action's workspace; the project's buildspec runs with
//!   [`slipway_build::run_build`] (`CODEBUILD_INITIATOR=codepipeline/<pipeline>`,
//!   `AWS_ENDPOINT_URL` = this server, the action's `EnvironmentVariables` over the project's),
//!   or, for a SAM build project, [`slipway_build::build_template`] on the source's
//!   `template.yaml`. The buildspec's primary artifact is the first output artefact, secondary
//!   ones go to the outputs of the same name; a SAM build's output is the build directory
//!   (the built `template.yaml` and a package per function). Exported variables become the
//!   action's variables. A failed build fails the action with the failing phase's context.
//! - **Deploy** (`CloudFormation`): the template is `TemplatePath` (`Artifact::path`) inside an
//!   input artefact, unpacked once per artefact digest under `<data>/pipelines/artefacts/`.
//!   Local code paths (`CodeUri`, `ContentUri`, a `Code` string) are rewritten to live under
//!   that digest, so a new commit is new code for the engine (which keys local code by its
//!   path) and an unchanged artefact is no change. Parameters: `TemplateConfiguration`'s
//!   `Parameters`, then `ParameterOverrides` (literals, `Fn::GetParam`, and `Fn::GetArtifactAtt`:
//!   the artefact placed as an object of this server's S3, see `DeployRunner::artifact_att`). Action modes as
//!   `reference/aws-semantics.md` §5.8 says; the action waits until the stack operation
//!   settles (the ticker moves traffic shifts), and its variables are the stack's outputs,
//!   also written as `OutputFileName` into its output artefact. Targets: `ACCOUNT/REGION`
//!   as written; a short name (`dev`) is the server's default account in the action's region
//!   (else the default region), so stacks of two short-named targets need distinct names.
//!   Every engine call goes through [`App::drive`], the engine's one door. A target
//!   `aws:ACCOUNT/REGION` goes to AWS instead, every action mode alike (`deploy_aws`, the
//!   `aws` feature).
//! - **Invoke** (`Lambda`): `invoke_action.rs` — the function runs as a CodePipeline job and
//!   reports on the CodePipeline endpoint (`codepipeline.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use slipway_build::{BuildOptions, SamBuildOptions, Source, run_build};
use slipway_deploy::stack::{ChangeSetType, ParameterInput, StackStatus};
use slipway_engine::providers::bucket_dir;
use slipway_engine::{DeployRequest, EngineError};
use slipway_model::pipeline::{
    BuildProject, BuildspecSource, OverrideValue, parse_parameter_overrides, split_artifact_path,
};
use slipway_model::syntax::{TagMode, parse_document};
use slipway_model::template::capabilities;
use slipway_pipeline::exec::{ActionOutcome, ActionRunner, Executor, Job, Runners};
use slipway_pipeline::git::{GitSource, s3_sources};
use slipway_pipeline::jobs::JobBoard;
use slipway_pipeline::trigger::Poller;
use slipway_pipeline::{ActionResult, Artifact, SourceRevision};
use slipway_store::{Digest, Store, ZipEntry};
use tokio::sync::watch;

use crate::App;

/// Pipeline settings of the server.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Where source repositories are looked up (`repository: .` is this directory); the data
    /// directory's parent when `None`.
    pub project_dir: Option<PathBuf>,
    /// How often git sources are polled (a few seconds by default); `None` disables polling.
    pub poll_interval: Option<Duration>,
    /// The secret GitHub-format webhooks are signed with; without one every webhook is refused.
    pub webhook_secret: Option<String>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            project_dir: None,
            poll_interval: Some(Duration::from_secs(2)),
            webhook_secret: None,
        }
    }
}

/// The server's pipeline part.
pub struct Pipelines {
    pub executor: Arc<Executor>,
    /// CodePipeline jobs of Lambda invoke actions (`invoke_action.rs`, `codepipeline.rs`).
    pub jobs: Arc<JobBoard>,
    pub source: Arc<GitSource>,
    pub poller: Option<Poller>,
    pub(crate) webhook_secret: Option<String>,
    /// One look at the git sources at a time: the loop's, `POST /api/v1/pipelines:poll`'s
    /// (a git hook's) and [`Pipelines::start_execution`]'s, which would otherwise start the
    /// same new commit twice.
    polling: Mutex<()>,
    /// The data directory: S3 buckets live under it.
    data_dir: PathBuf,
}

impl Pipelines {
    /// Looks at every git source's branch now, whether or not polling is on (what a git hook's
    /// `slipway pipeline poll` asks for); the IDs of the executions started.
    pub(crate) fn poll_now(&self) -> Result<Vec<String>, slipway_pipeline::trigger::PollError> {
        let _one = self.polling.lock().unwrap_or_else(|e| e.into_inner());
        let once = Poller::new(Duration::ZERO);
        self.poller
            .as_ref()
            .unwrap_or(&once)
            .poll(&self.executor, &self.source)
    }

    /// `StartPipelineExecution`: starts `name` on its sources' current revisions — every
    /// way a person starts a pipeline comes here (`POST …/executions`, the console,
    /// `slipway pipeline run`, and the execution that creating a pipeline starts, see
    /// `pipeline_import.rs`).
    ///
    /// AWS's API reference: StartPipelineExecution "begins processing the latest commit to the
    /// source location specified as part of the pipeline". So the revisions are read *now*
    /// and carried by the execution, as a trigger's are: a git source's branch head (which
    /// also becomes the poller's bookmark, so the poller does not start the same commit a
    /// second time), and an S3 source's object as it is now (stored in the artefact store at
    /// once, so an object uploaded before the pipeline existed is what runs, and a later
    /// overwrite does not change it). A source whose revision cannot be read now (no
    /// repository, no branch, no object) gets none, and its action fails with the reason
    /// when it runs — as on AWS, where such an execution fails in its source stage.
    pub fn start_execution(
        &self,
        name: &str,
        variables: BTreeMap<String, String>,
    ) -> Result<String, slipway_pipeline::exec::ExecError> {
        let _one = self.polling.lock().unwrap_or_else(|e| e.into_inner());
        let pipeline = self.executor.state(name)?.pipeline;
        let revisions = self.current_revisions(&pipeline);
        self.executor.start(name, revisions, variables)
    }

    /// The current revision of each source of `p` that has one (see [`Self::start_execution`]).
    fn current_revisions(&self, p: &slipway_model::pipeline::Pipeline) -> Vec<SourceRevision> {
        let mut out = Vec::new();
        for (action_name, repository, branch) in slipway_pipeline::git::git_sources(p) {
            let repo = self.source.repo_path(&repository);
            let Ok(Some(head)) = slipway_pipeline::git::source_head(&repo, &branch) else {
                continue;
            };
            out.push(SourceRevision {
                action_name,
                summary: slipway_pipeline::git::summary(&repo, &head),
                revision_id: head,
            });
        }
        for (action_name, bucket, key) in s3_sources(p) {
            let Some(file) = object_file(&self.data_dir, &bucket, &key).filter(|f| f.is_file())
            else {
                continue;
            };
            match self.source.artefacts.put_file(&file) {
                Ok(blob) => out.push(s3_revision(action_name, &blob.digest, &bucket, &key)),
                Err(e) => {
                    tracing::warn!(error = %e, bucket, key, "cannot store an S3 source object; the source action reads it when it runs");
                }
            }
        }
        out
    }
}

pub(crate) fn build(
    app: &Arc<App>,
    config: &PipelineConfig,
    rt: tokio::runtime::Handle,
) -> Result<Pipelines, slipway_store::Error> {
    let data_dir = app.data_dir.clone();
    let artefacts = Arc::new(Store::open(data_dir.join("artefacts"))?);
    let project_dir = config.project_dir.clone().unwrap_or_else(|| {
        data_dir
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned)
    });
    let source = Arc::new(GitSource {
        project_dir,
        artefacts: artefacts.clone(),
    });
    let endpoint = format!("http://{}", app.endpoint_addr());
    let build = Arc::new(BuildRunner {
        data_dir: data_dir.clone(),
        artefacts: artefacts.clone(),
        endpoint,
        credentials: app.credentials(),
        account: app.default_account.clone(),
        region: app.default_region.clone(),
    });
    let clock = app.clock.clone();
    let jobs = JobBoard::new(app.store.clone(), {
        let clock = clock.clone();
        Arc::new(move || clock.now_ms())
    });
    let invoke = Arc::new(crate::invoke_action::InvokeRunner {
        app: Arc::downgrade(app),
        rt: rt.clone(),
        artefacts: artefacts.clone(),
        jobs: jobs.clone(),
    });
    let notify = crate::approvals::notifier(Arc::downgrade(app), rt.clone());
    let deploy = Arc::new(DeployRunner {
        app: Arc::downgrade(app),
        rt,
        artefacts: artefacts.clone(),
        unpacked: data_dir.join("pipelines").join("artefacts"),
        unpacking: Mutex::new(()),
    });
    let sources = Arc::new(SourceRunner {
        git: source.clone(),
        s3: S3Source {
            data_dir: data_dir.clone(),
            artefacts,
        },
    });
    let executor = Executor::new(
        app.store.clone(),
        Runners {
            source: Some(sources),
            build: Some(build),
            deploy: Some(deploy),
            invoke: Some(invoke),
        },
        Arc::new(move || clock.now_ms()),
        data_dir.join("pipelines").join("work"),
    );
    executor.on_approval(notify);
    Ok(Pipelines {
        executor,
        jobs,
        source,
        poller: config.poll_interval.map(Poller::new),
        webhook_secret: config.webhook_secret.clone(),
        polling: Mutex::new(()),
        data_dir,
    })
}

/// Polls branches when due and fires pipeline timeouts, until stopped.
pub(crate) async fn pipeline_loop(app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopped.changed() => return,
        }
        let a = app.clone();
        let once = move || {
            let Some(p) = a.pipelines.get() else { return };
            if let Err(e) = p.executor.tick() {
                tracing::warn!(error = %e, "pipeline tick failed");
            }
            if let Some(poller) = &p.poller
                && poller.due(a.clock.now_ms())
                && let Err(e) = p.poll_now()
            {
                tracing::warn!(error = %e, "polling sources failed");
            }
        };
        if let Err(e) = tokio::task::spawn_blocking(once).await {
            tracing::error!(error = %e, "pipeline loop panicked");
        }
    }
}

fn digest_of(a: &Artifact) -> Result<Digest, String> {
    a.location
        .parse::<Digest>()
        .map_err(|_| format!("artefact '{}' has no store location", a.name))
}

fn artifact(name: &str, digest: &Digest) -> Artifact {
    Artifact {
        name: name.to_owned(),
        location: format!("sha256:{}", digest.hex()),
    }
}

// ---------------------------------------------------------------------------------------------
// Sources.

/// Source actions: `S3` ones read the local S3's buckets, the others are git sources.
struct SourceRunner {
    git: Arc<GitSource>,
    s3: S3Source,
}

impl ActionRunner for SourceRunner {
    fn run(&self, job: &Job) -> ActionOutcome {
        if job.action.action_type_id.provider == slipway_model::pipeline::Provider::S3 {
            match self.s3.fetch(job) {
                Ok(r) => ActionOutcome::Succeeded(r),
                Err(e) => ActionOutcome::Failed(e),
            }
        } else {
            self.git.run(job)
        }
    }
}

/// The `S3` source action: the zip at `S3Bucket`/`S3ObjectKey` of this server's S3 becomes
/// the output artefact.
///
/// CodePipeline reads a *version* of the object (its source buckets must be versioned) and
/// exports the source variables `ETag` and `VersionId`. Slipway's S3 keeps no versions, so
/// the revision is the object's content: an upload puts the bytes into the artefact store at
/// once ([`object_uploaded`]) and the execution carries their sha256 as its revision, so the
/// action reads exactly what was uploaded even when the object is overwritten meanwhile.
/// `VersionId` is that sha256 (the same bytes uploaded twice have the same `VersionId`, unlike
/// S3's), `ETag` the object's ETag as Slipway's S3 answers it, without the quotes. A start
/// by hand (or by creating the pipeline) stores the object as it is then and carries that
/// ([`Pipelines::start_execution`]); only an execution with no revision for the action (the
/// object was missing at the start) looks for it again when the action runs.
///
/// The object must be a zip the artefact store can unpack safely (no absolute or `..` paths,
/// no symlinks, within the size limits): anything else fails the action, naming the entry,
/// before a build sees it. (CodePipeline accepts a single unzipped file too, and says that
/// downstream actions expecting a zip then fail; Slipway fails at the source instead.)
struct S3Source {
    data_dir: PathBuf,
    artefacts: Arc<Store>,
}

/// `key`'s file in `bucket`'s directory; keys with empty, `.` or `..` segments have none (the
/// S3 endpoint refuses to store them).
/// An S3 source's revision: the stored object's sha256, summarised by its location.
fn s3_revision(action_name: String, digest: &Digest, bucket: &str, key: &str) -> SourceRevision {
    SourceRevision {
        action_name,
        revision_id: digest.hex(),
        summary: Some(format!("s3://{bucket}/{key}")),
    }
}

fn object_file(data_dir: &Path, bucket: &str, key: &str) -> Option<PathBuf> {
    if bucket.is_empty() || bucket.contains(['/', '\\']) || bucket.starts_with('.') {
        return None;
    }
    let mut p = bucket_dir(data_dir, bucket);
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

impl S3Source {
    fn fetch(&self, job: &Job) -> Result<ActionResult, String> {
        let a = &job.action;
        let bucket = a
            .configuration
            .get("S3Bucket")
            .ok_or("the S3 source has no S3Bucket")?;
        let key = a
            .configuration
            .get("S3ObjectKey")
            .ok_or("the S3 source has no S3ObjectKey")?;
        let url = format!("s3://{bucket}/{key}");
        let digest = match job
            .source_revisions
            .iter()
            .find(|r| r.action_name == a.action)
        {
            Some(r) => {
                let d = r.revision_id.parse::<Digest>().map_err(|_| {
                    format!(
                        "the revision '{}' of {url} is not a Slipway S3 version",
                        r.revision_id
                    )
                })?;
                if !self.artefacts.contains(&d) {
                    return Err(format!(
                        "the uploaded version {} of {url} is no longer in the artefact store",
                        r.revision_id
                    ));
                }
                d
            }
            None => {
                if !bucket_dir(&self.data_dir, bucket).is_dir() {
                    return Err(format!(
                        "the bucket '{bucket}' does not exist in the local S3 (create it with `aws s3 mb s3://{bucket}` or a stack)"
                    ));
                }
                let file = object_file(&self.data_dir, bucket, key)
                    .filter(|f| f.is_file())
                    .ok_or_else(|| {
                        format!("{url} does not exist: upload the source zip there first")
                    })?;
                self.artefacts
                    .put_file(&file)
                    .map_err(|e| format!("cannot store {url}: {e}"))?
                    .digest
            }
        };
        self.artefacts
            .check_zip(&digest)
            .map_err(|e| format!("{url} is not a zip Slipway can use as a source artefact: {e}"))?;
        let hex = digest.hex();
        let mut variables = BTreeMap::new();
        variables.insert("ETag".to_owned(), hex[..32].to_owned());
        variables.insert("VersionId".to_owned(), hex.clone());
        Ok(ActionResult {
            outputs: a
                .outputs
                .first()
                .map(|n| artifact(n, &digest))
                .into_iter()
                .collect(),
            variables,
            summary: Some(format!("{url} (ETag {})", &hex[..32])),
            external_execution_id: Some(hex),
        })
    }
}

/// An object was put into `bucket` at `key` (`PutObject`, `CopyObject`): every pipeline whose
/// S3 source watches that bucket and key starts an execution on the uploaded bytes, which go
/// into the artefact store first (see [`S3Source`]). Each upload starts one execution, as each
/// new version does in CodePipeline.
///
/// `PollForSourceChanges` does not matter here: with `true` CodePipeline polls, with `false`
/// real templates pair the source with an EventBridge rule (on CloudTrail's `PutObject`) that
/// starts the pipeline; import keeps only the pipeline, so Slipway starts on the upload either
/// way.
pub(crate) fn object_uploaded(app: &App, bucket: &str, key: &str, file: &Path) {
    let Some(p) = app.pipelines.get() else {
        return;
    };
    let names = match p.executor.list() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list pipelines for an S3 upload");
            return;
        }
    };
    let mut stored: Option<Digest> = None;
    for name in names {
        let Ok(Some((doc, _))) = p.executor.load(&name) else {
            continue;
        };
        let actions: Vec<String> = s3_sources(&doc.state.pipeline)
            .into_iter()
            .filter(|(_, b, k)| b == bucket && k == key)
            .map(|(a, _, _)| a)
            .collect();
        if actions.is_empty() {
            continue;
        }
        let digest = match stored {
            Some(d) => d,
            None => match p.source.artefacts.put_file(file) {
                Ok(blob) => *stored.insert(blob.digest),
                Err(e) => {
                    tracing::warn!(error = %e, bucket, key, "cannot store an uploaded source");
                    return;
                }
            },
        };
        let revs = actions
            .into_iter()
            .map(|action_name| s3_revision(action_name, &digest, bucket, key))
            .collect();
        match p.executor.start(&name, revs, BTreeMap::new()) {
            Ok(id) => {
                tracing::info!(pipeline = %name, bucket, key, execution = %id, "S3 upload started an execution");
            }
            Err(e) => {
                tracing::warn!(pipeline = %name, error = %e, "an S3 upload could not start the pipeline");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Artefacts as S3 objects: one scheme for `Fn::GetArtifactAtt` (deploy actions) and the
// artefacts an invoke action's function reads and writes.

/// The bucket that holds `pipeline`'s artefacts as objects of this server's S3: the
/// pipeline's `ArtifactStore.Location`, else `codepipeline-REGION-ACCOUNT` (shaped like the
/// bucket CodePipeline creates by default, `codepipeline-us-east-1-123456789012`) for the
/// action's region (else the server's default region) and the server's default account — the
/// pipeline's own account, as on AWS, where the artefact bucket belongs to the pipeline's
/// account even when an action runs in another one.
pub(crate) fn artifact_bucket(app: &App, pipeline: &str, region: Option<&str>) -> String {
    let configured = app
        .pipelines
        .get()
        .and_then(|p| p.executor.state(pipeline).ok())
        .and_then(|st| st.pipeline.artifact_store.map(|s| s.location))
        .filter(|l| object_file(&app.data_dir, l, "k").is_some());
    configured.unwrap_or_else(|| {
        let region = region.unwrap_or(&app.default_region);
        format!("codepipeline-{region}-{}", app.default_account)
    })
}

/// An artefact's key: `<pipeline, first 20 characters>/<artefact, first 10>/<16 of hex>.zip`,
/// as CodePipeline writes `MyPipeline/ArtifactNa/1ABCyZZ.zip`. Its last part is random on AWS;
/// here it is the first 16 characters of `hex` — the content's sha256 for an artefact that
/// exists (so the same artefact has the same key), a hash naming the action attempt for an
/// output a function must upload.
pub(crate) fn artifact_key(pipeline: &str, artifact: &str, hex: &str) -> String {
    let short = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    format!(
        "{}/{}/{}.zip",
        short(pipeline, 20),
        short(artifact, 10),
        short(hex, 16)
    )
}

/// Puts the artefact store's zip `d` at `s3://bucket/key` unless an object is there already:
/// a hard link to the blob (else a copy), made aside and renamed into place, so a reader never
/// sees half a zip. The bucket is created if needed.
pub(crate) fn place_artifact(
    app: &App,
    artefacts: &Store,
    bucket: &str,
    key: &str,
    d: &Digest,
) -> Result<PathBuf, String> {
    let file = object_file(&app.data_dir, bucket, key)
        .ok_or_else(|| format!("s3://{bucket}/{key} is not a key Slipway can store"))?;
    if !file.is_file() {
        let place = || -> std::io::Result<()> {
            let dir = file.parent().unwrap_or(&app.data_dir);
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{}.{}.partial", d.hex(), std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            if std::fs::hard_link(artefacts.path_of(d), &tmp).is_err() {
                std::fs::copy(artefacts.path_of(d), &tmp)?;
            }
            std::fs::rename(&tmp, &file)
        };
        place().map_err(|e| format!("cannot place the artefact at s3://{bucket}/{key}: {e}"))?;
    }
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// CodeBuild.

struct BuildRunner {
    data_dir: PathBuf,
    artefacts: Arc<Store>,
    endpoint: String,
    /// The access key ID and secret that sign for this server (`App::credentials`).
    credentials: (String, String),
    account: String,
    region: String,
}

impl ActionRunner for BuildRunner {
    fn run(&self, job: &Job) -> ActionOutcome {
        match self.build(job) {
            Ok(r) => ActionOutcome::Succeeded(r),
            Err(e) => ActionOutcome::Failed(e),
        }
    }
}

impl BuildRunner {
    fn build(&self, job: &Job) -> Result<ActionResult, String> {
        let a = &job.action;
        let project = a.project.clone().unwrap_or_else(|| BuildProject {
            name: a
                .configuration
                .get("ProjectName")
                .cloned()
                .unwrap_or_else(|| a.action.clone()),
            buildspec: BuildspecSource::Default,
            environment_variables: Vec::new(),
            timeout_in_minutes: 60,
        });
        let primary = a
            .configuration
            .get("PrimarySource")
            .and_then(|n| a.inputs.iter().find(|i| &i.name == n))
            .or_else(|| a.inputs.first())
            .ok_or("the build has no input artefact")?;
        let src = job.work_dir.join("src");
        self.artefacts
            .extract_zip(&digest_of(primary)?, &src)
            .map_err(|e| format!("cannot unpack '{}': {e}", primary.name))?;
        let spec = match &project.buildspec {
            BuildspecSource::SamBuild => return self.sam_build(job, &src),
            BuildspecSource::Default => slipway_build::BuildspecSource::Default,
            BuildspecSource::Path(p) => slipway_build::BuildspecSource::Path(PathBuf::from(p)),
            BuildspecSource::Inline(t) => slipway_build::BuildspecSource::Inline(t.clone()),
        };
        let mut opts = BuildOptions::new(project.name.clone(), Source::Dir(src), &self.data_dir);
        opts.buildspec = spec;
        // The buildspec's `aws …` and boto3 reach this server (`AWS_ENDPOINT_URL`), which
        // verifies signatures: they sign with its credentials, as functions do, unless the
        // project or the action sets their own.
        let (key, secret) = self.credentials.clone();
        opts.project_env = [
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ]
        .into_iter()
        .map(|(name, value)| slipway_build::EnvOverride {
            name: name.to_owned(),
            value,
            kind: slipway_build::EnvKind::Plaintext,
        })
        .collect();
        opts.project_env
            .extend(
                project
                    .environment_variables
                    .iter()
                    .map(|v| slipway_build::EnvOverride {
                        name: v.name.clone(),
                        value: v.value.clone(),
                        kind: match v.type_ {
                            slipway_model::pipeline::EnvVarType::Plaintext => {
                                slipway_build::EnvKind::Plaintext
                            }
                            slipway_model::pipeline::EnvVarType::ParameterStore => {
                                slipway_build::EnvKind::ParameterStore
                            }
                            slipway_model::pipeline::EnvVarType::SecretsManager => {
                                slipway_build::EnvKind::SecretsManager
                            }
                        },
                    }),
            );
        if let Some(j) = a.configuration.get("EnvironmentVariables") {
            opts.env_overrides = slipway_build::EnvOverride::parse_json(j)?;
        }
        opts.timeout = Some(Duration::from_secs(
            u64::from(project.timeout_in_minutes.max(1)) * 60,
        ));
        opts.initiator = format!("codepipeline/{}", job.pipeline);
        opts.source_version = job.source_revisions.first().map(|r| r.revision_id.clone());
        opts.region = a.region.clone().unwrap_or_else(|| self.region.clone());
        opts.account = self.account.clone();
        opts.aws_endpoint_url = Some(self.endpoint.clone());
        let token = opts.cancel.clone();
        job.cancel.on_cancel(move || token.cancel());
        let result = run_build(&opts).map_err(|e| e.to_string())?;
        if !result.succeeded() {
            let why = result
                .phases
                .iter()
                .find(|p| {
                    p.status
                        .is_some_and(|s| s != slipway_build::Status::Succeeded)
                })
                .map(|p| {
                    format!(
                        " in phase {}: {}",
                        p.phase.api_name(),
                        p.context.as_deref().unwrap_or("failed")
                    )
                })
                .unwrap_or_default();
            let tests: Vec<String> = result
                .reports
                .iter()
                .flat_map(|r| r.failures().map(|c| c.name.clone()))
                .collect();
            let tests = if tests.is_empty() {
                String::new()
            } else {
                format!(" (failed tests: {})", tests.join(", "))
            };
            return Err(format!(
                "Build {} {}{why}{tests}. Log: {}",
                result.id,
                result.status.api_name(),
                result.log_path.display()
            ));
        }
        let mut outputs = Vec::new();
        for (i, name) in a.outputs.iter().enumerate() {
            let rec = result
                .artifacts
                .iter()
                .find(|r| &r.identifier == name)
                .or_else(|| {
                    (i == 0)
                        .then(|| result.artifacts.iter().find(|r| r.identifier == "primary"))
                        .flatten()
                })
                .ok_or_else(|| {
                    format!("the buildspec produced no artifacts for output artefact '{name}'")
                })?;
            outputs.push(Artifact {
                name: name.clone(),
                location: format!("sha256:{}", rec.sha256),
            });
        }
        Ok(ActionResult {
            outputs,
            variables: result
                .exported_variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            summary: Some(format!("Build {} succeeded", result.id)),
            external_execution_id: Some(result.id),
        })
    }

    fn sam_build(&self, job: &Job, src: &Path) -> Result<ActionResult, String> {
        let a = &job.action;
        let template = ["template.yaml", "template.yml", "template.json"]
            .iter()
            .map(|f| src.join(f))
            .find(|p| p.is_file())
            .ok_or("the source has no template.yaml to build")?;
        let build_dir = job.work_dir.join("build");
        let opts = SamBuildOptions {
            template,
            build_dir: build_dir.clone(),
            cache_dir: self.data_dir.join("cache/deps"),
            pip: None,
            force: false,
            artefacts: None,
            progress: std::sync::Arc::new(slipway_build::NoProgress),
        };
        let r = slipway_build::build_template(&opts).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(build_dir.join(".slipway-build.json"));
        let blob = self
            .artefacts
            .put_dir(&build_dir)
            .map_err(|e| format!("cannot store the build output: {e}"))?;
        Ok(ActionResult {
            outputs: a
                .outputs
                .first()
                .map(|n| artifact(n, &blob.digest))
                .into_iter()
                .collect(),
            variables: BTreeMap::new(),
            summary: Some(format!(
                "SAM build of {} function(s) and layer(s) in {} ms",
                r.artefacts.len(),
                r.duration_ms
            )),
            external_execution_id: None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// CloudFormation.

struct DeployRunner {
    app: Weak<App>,
    rt: tokio::runtime::Handle,
    artefacts: Arc<Store>,
    /// `<data>/pipelines/artefacts/<digest>/`: each input artefact unpacked once.
    unpacked: PathBuf,
    unpacking: Mutex<()>,
}

impl ActionRunner for DeployRunner {
    fn run(&self, job: &Job) -> ActionOutcome {
        let Some(app) = self.app.upgrade() else {
            return ActionOutcome::Failed("the server is shutting down".into());
        };
        // Hooks are invoked through the function runtime, which needs the tokio runtime.
        let _rt = self.rt.enter();
        match self.deploy(&app, job) {
            Ok(r) => ActionOutcome::Succeeded(r),
            Err(e) => ActionOutcome::Failed(e),
        }
    }
}

/// `REPLACE_ON_FAILURE` replaces stacks in these statuses.
const REPLACEABLE: [StackStatus; 5] = [
    StackStatus::RollbackComplete,
    StackStatus::RollbackFailed,
    StackStatus::CreateFailed,
    StackStatus::DeleteFailed,
    StackStatus::UpdateRollbackFailed,
];

/// What an AWS deploy action's template modes send.
#[cfg(feature = "aws")]
struct AwsInput {
    template: Value,
    root: PathBuf,
    parameters: Vec<(String, String)>,
    capabilities: Vec<String>,
}

/// How an AWS deploy action's call ended.
#[cfg(feature = "aws")]
enum AwsEnded {
    Deployed(slipway_aws::Deployed),
    Prepared(slipway_aws::ChangeSet),
    /// Whether there was a stack to delete.
    Deleted(bool),
}

fn engine_err(e: &EngineError) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

impl DeployRunner {
    /// As [`crate::ServerHandle::target_of`].
    fn target(app: &App, job: &Job) -> String {
        let a = &job.action;
        app.target_of(a.target.as_deref(), a.region.as_deref())
    }

    /// Unpacks an artefact (once per digest) and returns its directory.
    fn unpack(&self, a: &Artifact) -> Result<(Digest, PathBuf), String> {
        let d = digest_of(a)?;
        let dir = self.unpacked.join(d.hex());
        let _one = self.unpacking.lock().unwrap_or_else(|e| e.into_inner());
        if !dir.is_dir() {
            let tmp = self.unpacked.join(format!("{}.partial", d.hex()));
            let _ = std::fs::remove_dir_all(&tmp);
            self.artefacts
                .extract_zip(&d, &tmp)
                .map_err(|e| format!("cannot unpack '{}': {e}", a.name))?;
            std::fs::rename(&tmp, &dir).map_err(|e| format!("cannot unpack '{}': {e}", a.name))?;
        }
        Ok((d, dir))
    }

    /// `Artifact::path` → (the file's text, its artefact's digest, the path).
    fn artifact_file(&self, job: &Job, spec: &str) -> Result<(String, Digest, String), String> {
        let (name, path) = split_artifact_path(spec)
            .ok_or_else(|| format!("'{spec}' is not of the form ArtifactName::path"))?;
        let a = job
            .action
            .inputs
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| format!("'{name}' is not an input artefact of this action"))?;
        let (d, dir) = self.unpack(a)?;
        let file = dir.join(path);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {path} in artefact '{name}': {e}"))?;
        Ok((text, d, path.to_owned()))
    }

    /// `Fn::GetArtifactAtt [artifact, BucketName | ObjectKey | URL]`: where the artefact store
    /// keeps an input artefact, as an object of this server's S3.
    ///
    /// The bucket and key are [`artifact_bucket`] and [`artifact_key`] (the same place the
    /// invoke action gives its function), and the zip is placed there by [`place_artifact`]
    /// when first asked for, so `aws s3 cp` can read it and a template's
    /// `Code: {S3Bucket, S3Key}` deploys it (the engine unpacks zip objects). `URL` is
    /// the path-style URL of the object on this server's S3 endpoint (CodePipeline's is
    /// `https://s3.REGION.amazonaws.com/bucket/key`). `ObjectKey` is the whole key, which is what
    /// CloudFormation's `S3Key` needs (the CloudFormation user guide's example shows only the
    /// file name, `1ABCyZZ.zip`).
    fn artifact_att(
        &self,
        app: &App,
        job: &Job,
        artifact: &str,
        attribute: &str,
    ) -> Result<String, String> {
        let a = job
            .action
            .inputs
            .iter()
            .find(|i| i.name == artifact)
            .ok_or_else(|| {
                format!("Fn::GetArtifactAtt: '{artifact}' is not an input artefact of this action")
            })?;
        let d = digest_of(a)?;
        let bucket = artifact_bucket(app, &job.pipeline, job.action.region.as_deref());
        let key = artifact_key(&job.pipeline, artifact, &d.hex());
        place_artifact(app, &self.artefacts, &bucket, &key, &d)
            .map_err(|e| format!("Fn::GetArtifactAtt: {e}"))?;
        Ok(match attribute {
            "BucketName" => bucket,
            "ObjectKey" => key,
            _ => format!("http://{}/{bucket}/{key}", app.endpoint_addr()),
        })
    }

    fn request(
        &self,
        app: &App,
        job: &Job,
        stack: &str,
        op: capabilities::Operation,
    ) -> Result<DeployRequest, String> {
        let c = &job.action.configuration;
        let spec = c
            .get("TemplatePath")
            .ok_or("TemplatePath is required to create or update a stack")?;
        let (text, digest, path) = self.artifact_file(job, spec)?;
        let parsed = parse_document(&text, TagMode::CloudFormation);
        let mut template = parsed
            .root
            .map(|r| r.to_json())
            .ok_or_else(|| format!("{spec} is not a template"))?;
        // The action's `Capabilities` acknowledge what CloudFormation asks for.
        let given: Vec<String> = c
            .get("Capabilities")
            .map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let missing = capabilities::missing(&capabilities::required(&template, op), &given);
        if !missing.is_empty() {
            return Err(format!(
                "{} (Service: AmazonCloudFormation; Status Code: 400; Error Code: InsufficientCapabilitiesException)",
                capabilities::message(&missing)
            ));
        }
        let template_dir = Path::new(&path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        relocate_code(&mut template, &format!("{}/{template_dir}", digest.hex()));
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        if let Some(cfg) = c.get("TemplateConfiguration") {
            let (text, _, _) = self.artifact_file(job, cfg)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("TemplateConfiguration {cfg} is not JSON: {e}"))?;
            if let Some(m) = v.get("Parameters").and_then(Value::as_object) {
                for (k, v) in m {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    params.insert(k.clone(), v);
                }
            }
        }
        if let Some(o) = c.get("ParameterOverrides") {
            for (k, v) in parse_parameter_overrides(o)? {
                let value = match v {
                    OverrideValue::Literal(s) => s,
                    OverrideValue::Param {
                        artifact,
                        file,
                        key,
                    } => {
                        let (text, _, _) =
                            self.artifact_file(job, &format!("{artifact}::{file}"))?;
                        let v: Value = serde_json::from_str(&text).map_err(|e| {
                            format!("Fn::GetParam: {file} in '{artifact}' is not JSON: {e}")
                        })?;
                        let got = v.get(&key).ok_or_else(|| {
                            format!("Fn::GetParam: {file} in '{artifact}' has no key '{key}'")
                        })?;
                        got.as_str().map_or_else(|| got.to_string(), str::to_owned)
                    }
                    OverrideValue::ArtifactAtt {
                        artifact,
                        attribute,
                    } => self.artifact_att(app, job, &artifact, &attribute)?,
                };
                params.insert(k, value);
            }
        }
        Ok(DeployRequest {
            target: Self::target(app, job),
            stack_name: stack.to_owned(),
            template: serde_json::to_string(&template).unwrap_or_default(),
            file: path,
            parameters: params
                .into_iter()
                .map(|(key, value)| ParameterInput {
                    key,
                    value: Some(value),
                    use_previous_value: false,
                })
                .collect(),
            tags: BTreeMap::new(),
            code_root: Some(self.unpacked.clone()),
        })
    }

    /// Waits until no operation is in progress on the stack; its status then (`None`: no
    /// stack).
    fn settle(
        app: &App,
        target: &str,
        stack: &str,
        job: &Job,
    ) -> Result<Option<StackStatus>, String> {
        loop {
            let rec = app
                .engine
                .stack(target, stack)
                .map_err(|e| engine_err(&e))?;
            let Some(rec) = rec.filter(|r| r.exists()) else {
                return Ok(None);
            };
            if !rec.status.is_in_progress() {
                return Ok(Some(rec.status));
            }
            if job.cancel.is_cancelled() {
                return Err("abandoned".into());
            }
            // The ticker moves traffic shifts and hooks on (on the engine's own clock); this
            // waits for that real event, polling: the engine has no notification to wait on.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finished(
        &self,
        app: &App,
        job: &Job,
        target: &str,
        stack: &str,
    ) -> Result<ActionResult, String> {
        let status = Self::settle(app, target, stack, job)?;
        let rec = app
            .engine
            .stack(target, stack)
            .map_err(|e| engine_err(&e))?
            .ok_or_else(|| format!("stack {stack} disappeared"))?;
        match status {
            Some(StackStatus::CreateComplete | StackStatus::UpdateComplete) => {}
            other => {
                return Err(format!(
                    "stack {stack} in {target} ended in {}{}",
                    other.map_or("DELETE_COMPLETE", StackStatus::as_str),
                    rec.status_reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ));
            }
        }
        let variables: BTreeMap<String, String> = rec
            .outputs
            .iter()
            .map(|(k, o)| (k.clone(), o.value.clone()))
            .collect();
        let outputs = self.output_file(job, &variables)?;
        Ok(ActionResult {
            outputs,
            variables,
            summary: Some(format!(
                "stack {stack} in {target}: {}",
                rec.status.as_str()
            )),
            external_execution_id: Some(rec.id),
        })
    }

    /// `OutputFileName`: the stack's outputs as JSON in the action's output artefact.
    fn output_file(
        &self,
        job: &Job,
        variables: &BTreeMap<String, String>,
    ) -> Result<Vec<Artifact>, String> {
        let mut outputs = Vec::new();
        if let (Some(file), Some(name)) = (
            job.action.configuration.get("OutputFileName"),
            job.action.outputs.first(),
        ) {
            let path = job.work_dir.join("outputs.json");
            let body = serde_json::to_vec_pretty(variables).unwrap_or_default();
            std::fs::write(&path, body).map_err(|e| format!("cannot write {file}: {e}"))?;
            let blob = self
                .artefacts
                .put_zip(&[ZipEntry {
                    name: file.clone(),
                    source: path,
                }])
                .map_err(|e| format!("cannot store {file}: {e}"))?;
            outputs.push(artifact(name, &blob.digest));
        }
        Ok(outputs)
    }

    fn create_update(
        &self,
        app: &App,
        job: &Job,
        target: &str,
        stack: &str,
    ) -> Result<ActionResult, String> {
        // CodePipeline's CREATE_UPDATE and REPLACE_ON_FAILURE call CreateStack/UpdateStack.
        let req = self.request(app, job, stack, capabilities::Operation::Direct)?;
        match app.drive(|e| e.deploy(&req)) {
            Ok(_) | Err(EngineError::NoChanges { .. }) => self.finished(app, job, target, stack),
            Err(e) => Err(engine_err(&e)),
        }
    }

    fn delete(app: &App, job: &Job, target: &str, stack: &str) -> Result<(), String> {
        app.drive(|e| e.delete_stack(target, stack))
            .map_err(|e| engine_err(&e))?;
        match Self::settle(app, target, stack, job)? {
            None | Some(StackStatus::DeleteComplete) => Ok(()),
            Some(s) => Err(format!(
                "stack {stack} in {target} could not be deleted: {}",
                s.as_str()
            )),
        }
    }

    /// A deploy action whose target is `aws:ACCOUNT/REGION`: the stack goes to AWS through
    /// `slipway_aws` as `sam deploy` sends it (packaged into the managed artefact bucket
    /// `slipway-artifacts-ACCOUNT-REGION`, created when missing), in the action's region when
    /// it names one, assuming the action's `RoleArn` as CodePipeline's cross-account actions
    /// do. Credentials and the endpoint come from the server's environment (the usual AWS
    /// chain, `AWS_ENDPOINT_URL`). Every `ActionMode`, with the local runner's semantics
    /// (`reference/aws-semantics.md` §5.8), once no operation is under way on the stack:
    ///
    /// - `CREATE_UPDATE`: a change set executed and followed to a terminal status.
    /// - `REPLACE_ON_FAILURE`: the same, after deleting a stack in a failed status.
    /// - `DELETE_ONLY`: deleted and followed until gone; a missing stack is success.
    /// - `CHANGE_SET_REPLACE`: the change set `ChangeSetName` created (one of that name deleted
    ///   first), not executed; an empty one is success ("no changes").
    /// - `CHANGE_SET_EXECUTE`: the change set `ChangeSetName` executed and followed; an empty
    ///   one is success.
    ///
    /// The stack's outputs are the action's variables and its `OutputFileName`. The action's
    /// own `roleArn` (the cross-account role) is assumed in every mode; the configuration's
    /// `RoleArn` is the service role CloudFormation acts as for the change sets and the
    /// deletion (`ExecuteChangeSet` takes none: the change set carries it).
    #[cfg(feature = "aws")]
    fn deploy_aws(
        &self,
        app: &App,
        job: &Job,
        aws: &str,
        mode: &str,
        stack: &str,
    ) -> Result<ActionResult, String> {
        let (account, region) = aws
            .split_once('/')
            .ok_or_else(|| format!("target aws:{aws} is not aws:ACCOUNT/REGION"))?;
        let a = &job.action;
        let c = &a.configuration;
        let target = slipway_aws::Target {
            account: account.to_owned(),
            region: a.region.clone().unwrap_or_else(|| region.to_owned()),
            role_arn: a.role_arn.clone(),
            cfn_role_arn: c.get("RoleArn").cloned(),
            ..slipway_aws::Target::default()
        };
        let name = format!("aws:{}/{}", target.account, target.region);
        let poll = Duration::from_millis(500);
        // Until the action's own deadline (CodePipeline's timeout for it).
        let give_up = Duration::from_millis(a.deadline.0.saturating_sub(app.clock.now_ms()))
            .max(Duration::from_secs(60));
        let change_set = || {
            c.get("ChangeSetName")
                .map(String::as_str)
                .ok_or("ChangeSetName is required")
        };
        let done = |summary: String| ActionResult {
            summary: Some(summary),
            ..ActionResult::default()
        };
        // What the template modes need; read before any call, so bad input touches nothing.
        let input = match mode {
            "CREATE_UPDATE" | "REPLACE_ON_FAILURE" | "CHANGE_SET_REPLACE" => {
                Some(self.aws_input(app, job, stack)?)
            }
            "DELETE_ONLY" | "CHANGE_SET_EXECUTE" => None,
            other => {
                return Err(format!(
                    "ActionMode '{other}' is not one CloudFormation knows"
                ));
            }
        };
        if mode == "CHANGE_SET_REPLACE" || mode == "CHANGE_SET_EXECUTE" {
            change_set()?;
        }
        let ended = self.rt.block_on(async {
            let aws = slipway_aws::Aws::connect(&target).await?;
            let status = aws.settle(stack, poll, give_up).await?;
            let d = input.as_ref().map(|i| slipway_aws::StackDeploy {
                stack,
                template: &i.template,
                root: &i.root,
                store: &self.artefacts,
                resolve_s3: true,
                parameters: &i.parameters,
                tags: &[],
                capabilities: &i.capabilities,
                poll,
                give_up,
            });
            let mut quiet = |_: &slipway_aws::Event| {};
            Ok::<_, slipway_aws::Error>(match (mode, &d) {
                ("CREATE_UPDATE", Some(d)) => {
                    AwsEnded::Deployed(aws.deploy_stack(d, &mut quiet).await?)
                }
                ("REPLACE_ON_FAILURE", Some(d)) => {
                    AwsEnded::Deployed(aws.replace_on_failure(d, &mut quiet).await?)
                }
                ("CHANGE_SET_REPLACE", Some(d)) => {
                    let cs = change_set().unwrap_or_default();
                    AwsEnded::Prepared(aws.prepare_change_set(d, cs).await?)
                }
                ("CHANGE_SET_EXECUTE", _) => {
                    let cs = change_set().unwrap_or_default();
                    AwsEnded::Deployed(
                        aws.execute_named(stack, cs, poll, give_up, &mut quiet)
                            .await?,
                    )
                }
                _ => AwsEnded::Deleted(
                    status.is_some()
                        && aws
                            .delete_and_wait(stack, poll, give_up, &mut quiet)
                            .await?,
                ),
            })
            .map(|e| (e, aws))
        });
        let (ended, aws) = ended.map_err(|e| format!("{name}: {e}"))?;
        let info = match ended {
            AwsEnded::Deleted(true) => return Ok(done(format!("stack {stack} in {name} deleted"))),
            AwsEnded::Deleted(false) => {
                return Ok(done(format!("stack {stack} does not exist in {name}")));
            }
            AwsEnded::Prepared(slipway_aws::ChangeSet::NoChanges { id }) => {
                return Ok(ActionResult {
                    summary: Some(format!(
                        "change set {} of stack {stack} in {name}: no changes",
                        change_set()?
                    )),
                    external_execution_id: Some(id),
                    ..ActionResult::default()
                });
            }
            AwsEnded::Prepared(slipway_aws::ChangeSet::Ready { id, changes, .. }) => {
                return Ok(ActionResult {
                    summary: Some(format!(
                        "change set {} of stack {stack} in {name}: {} change(s)",
                        change_set()?,
                        changes.len()
                    )),
                    external_execution_id: Some(id),
                    ..ActionResult::default()
                });
            }
            AwsEnded::Deployed(slipway_aws::Deployed::Finished(info)) => info,
            // Nothing changed: the stack as it stands gives the outputs.
            AwsEnded::Deployed(slipway_aws::Deployed::NoChanges) => self
                .rt
                .block_on(aws.describe(stack))
                .map_err(|e| format!("{name}: {e}"))?,
        };
        let summary = format!("stack {stack} in {name}: {}", info.status);
        if !slipway_aws::succeeded(&info.status) {
            return Err(match info.reason {
                Some(r) => format!("{summary} ({r})"),
                None => summary,
            });
        }
        let variables: BTreeMap<String, String> =
            info.outputs.into_iter().map(|(k, v, _)| (k, v)).collect();
        Ok(ActionResult {
            outputs: self.output_file(job, &variables)?,
            summary: Some(summary),
            variables,
            external_execution_id: None,
        })
    }

    /// The template as written (its local paths relative to its directory in the unpacked
    /// artefact, nested templates' too), parameters and capabilities of an AWS deploy action.
    #[cfg(feature = "aws")]
    fn aws_input(&self, app: &App, job: &Job, stack: &str) -> Result<AwsInput, String> {
        let req = self.request(app, job, stack, capabilities::Operation::ChangeSet)?;
        let spec = job
            .action
            .configuration
            .get("TemplatePath")
            .ok_or("TemplatePath is required to create or update a stack")?;
        let (text, digest, path) = self.artifact_file(job, spec)?;
        let template = parse_document(&text, TagMode::CloudFormation)
            .root
            .map(|r| r.to_json())
            .ok_or_else(|| format!("{spec} is not a template"))?;
        let mut root = self.unpacked.join(digest.hex());
        if let Some(dir) = Path::new(&path).parent() {
            root.push(dir);
        }
        let parameters: Vec<(String, String)> = req
            .parameters
            .iter()
            .filter_map(|p| Some((p.key.clone(), p.value.clone()?)))
            .collect();
        let capabilities: Vec<String> = job
            .action
            .configuration
            .get("Capabilities")
            .map(|c| {
                c.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(AwsInput {
            template,
            root,
            parameters,
            capabilities,
        })
    }

    /// Without the `aws` feature an AWS target is refused with the way to get it.
    #[cfg(not(feature = "aws"))]
    fn deploy_aws(
        &self,
        _app: &App,
        _job: &Job,
        aws: &str,
        _mode: &str,
        _stack: &str,
    ) -> Result<ActionResult, String> {
        Err(format!(
            "target aws:{aws}: this slipway was built without the AWS target (cargo build --features slipway-cli/aws)"
        ))
    }

    fn deploy(&self, app: &App, job: &Job) -> Result<ActionResult, String> {
        let c = &job.action.configuration;
        let mode = c.get("ActionMode").map_or("CREATE_UPDATE", String::as_str);
        let stack = c.get("StackName").ok_or("StackName is required")?;
        if let Some(aws) = job
            .action
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("aws:"))
        {
            return self.deploy_aws(app, job, aws, mode, stack);
        }
        let target = Self::target(app, job);
        // An operation the engine resumed after a restart (or a traffic shift) ends first.
        let status = Self::settle(app, &target, stack, job)?;
        let done = |summary: String| ActionResult {
            summary: Some(summary),
            ..ActionResult::default()
        };
        match mode {
            "CREATE_UPDATE" => self.create_update(app, job, &target, stack),
            "REPLACE_ON_FAILURE" => {
                if let Some(s) = status
                    && REPLACEABLE.contains(&s)
                {
                    Self::delete(app, job, &target, stack)?;
                }
                self.create_update(app, job, &target, stack)
            }
            "DELETE_ONLY" => {
                if status.is_some() {
                    Self::delete(app, job, &target, stack)?;
                    Ok(done(format!("stack {stack} in {target} deleted")))
                } else {
                    Ok(done(format!("stack {stack} does not exist in {target}")))
                }
            }
            "CHANGE_SET_REPLACE" => {
                let name = c.get("ChangeSetName").ok_or("ChangeSetName is required")?;
                let rec = app
                    .engine
                    .stack(&target, stack)
                    .map_err(|e| engine_err(&e))?
                    .filter(|r| r.exists());
                if rec
                    .as_ref()
                    .is_some_and(|r| r.change_sets.iter().any(|cs| &cs.name == name))
                {
                    app.drive(|e| e.delete_change_set(&target, stack, name))
                        .map_err(|e| engine_err(&e))?;
                }
                let kind = match &rec {
                    Some(r) if r.status != StackStatus::ReviewInProgress => ChangeSetType::Update,
                    Some(_) | None => ChangeSetType::Create,
                };
                let req = self.request(app, job, stack, capabilities::Operation::ChangeSet)?;
                let cs = app
                    .drive(|e| e.create_change_set(&req, name, kind))
                    .map_err(|e| engine_err(&e))?;
                Ok(ActionResult {
                    summary: Some(format!(
                        "change set {name} of stack {stack} in {target}: {} change(s)",
                        cs.plan.steps.len()
                    )),
                    external_execution_id: Some(cs.id),
                    ..ActionResult::default()
                })
            }
            "CHANGE_SET_EXECUTE" => {
                let name = c.get("ChangeSetName").ok_or("ChangeSetName is required")?;
                app.drive(|e| e.execute_change_set(&target, stack, name))
                    .map_err(|e| engine_err(&e))?;
                self.finished(app, job, &target, stack)
            }
            other => Err(format!(
                "ActionMode '{other}' is not one CloudFormation knows"
            )),
        }
    }
}

/// Prefixes every local code path of a template (SAM `CodeUri`/`ContentUri`, also in
/// `Globals.Function`, and a `Code`/`Content` string of the Lambda types) with `prefix/`.
fn relocate_code(template: &mut Value, prefix: &str) {
    let prefix = prefix.trim_end_matches('/');
    let fix = |v: &mut Value| {
        if let Some(s) = v.as_str()
            && !s.starts_with("s3://")
            && !Path::new(s).is_absolute()
        {
            let rel = s.trim_start_matches("./");
            let joined = if rel.is_empty() || rel == "." {
                prefix.to_owned()
            } else {
                format!("{prefix}/{rel}")
            };
            *v = Value::String(joined);
        }
    };
    if let Some(g) = template.pointer_mut("/Globals/Function/CodeUri") {
        fix(g);
    }
    let Some(resources) = template.get_mut("Resources").and_then(Value::as_object_mut) else {
        return;
    };
    for r in resources.values_mut() {
        let key = match r.get("Type").and_then(Value::as_str) {
            Some("AWS::Serverless::Function") => "CodeUri",
            Some("AWS::Serverless::LayerVersion") => "ContentUri",
            Some("AWS::Lambda::Function") => "Code",
            Some("AWS::Lambda::LayerVersion") => "Content",
            _ => continue,
        };
        if let Some(v) = r.pointer_mut(&format!("/Properties/{key}")) {
            fix(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{artifact_key, relocate_code};

    #[test]
    fn artefact_keys_truncate_as_codepipeline_does() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            artifact_key("a-pipeline-name-longer-than-twenty", "BuildOutput", hex),
            "a-pipeline-name-long/BuildOutpu/0123456789abcdef.zip"
        );
        assert_eq!(artifact_key("p", "Src", hex), "p/Src/0123456789abcdef.zip");
        // Characters, not bytes.
        assert_eq!(
            artifact_key("p", "ÄÄÄÄÄÄÄÄÄÄÄÄ", hex),
            "p/ÄÄÄÄÄÄÄÄÄÄ/0123456789abcdef.zip"
        );
    }

    #[test]
    fn code_paths_move_under_the_artefact() {
        let mut t = serde_json::json!({
            "Globals": {"Function": {"CodeUri": "./src"}},
            "Resources": {
                "A": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "hello/"}},
                "B": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://b/k.zip"}},
                "C": {"Type": "AWS::Lambda::Function", "Properties": {"Code": "C"}},
                "D": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": {"Bucket": "b", "Key": "k"}}}
            }
        });
        relocate_code(&mut t, "abc/");
        assert_eq!(t["Globals"]["Function"]["CodeUri"], "abc/src");
        assert_eq!(t["Resources"]["A"]["Properties"]["CodeUri"], "abc/hello/");
        assert_eq!(t["Resources"]["B"]["Properties"]["CodeUri"], "s3://b/k.zip");
        assert_eq!(t["Resources"]["C"]["Properties"]["Code"], "abc/C");
        assert_eq!(t["Resources"]["D"]["Properties"]["CodeUri"]["Key"], "k");
    }
}
