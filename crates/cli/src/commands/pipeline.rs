//! `slipway pipeline list|show|run|status|history|approve|reject|retry|stop|import`.
//!
//! Where a verb works (settings: flag > environment > the running server > embedded):
//!
//! 1. `--endpoint URL` (or `SLIPWAY_ENDPOINT`): the REST API of that server
//!    (`/api/v1/pipelines…`, `Authorization: Bearer` from `--token` / `SLIPWAY_TOKEN`).
//! 2. else the server `slipway up` runs on this project, found through
//!    `<data dir>/server.json` when it still answers;
//! 3. else **embedded** on the project's data directory: reads open the state store directly;
//!    verbs that move an execution (`run`, `approve`, `reject`, `retry`, `stop`, and `import`,
//!    whose creation of a pipeline starts it) start the platform on a free loopback port over
//!    that data directory (no polling), do their work, follow the execution until it comes to
//!    rest (ends, or waits for an approval), and stop. Against a server, `import` only names
//!    the execution it started: the server runs it.
//!
//! Live progress ([`Progress`]) prints one line per action state change, with its duration,
//! then a table of the execution's stages and actions.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use slipway_model::diag::{Sources, render_human};
use slipway_model::pipeline::{Pipeline, parse_file};
use slipway_pipeline::exec::{self, ExecError, Executor, settled};
use slipway_pipeline::{
    ActionStatus, ApprovalDecision, Execution, ExecutionStatus, PipelineState, RetryMode, StopMode,
    git,
};
use slipway_server::{ImportAction, ImportError, ImportRequest, ImportedPipeline};
use slipway_store::state::sqlite::SqliteStore;

use super::Status;
use crate::env_vars::{self, Environment};

#[derive(Debug, Args)]
pub(crate) struct PipelineArgs {
    #[command(subcommand)]
    pub(crate) verb: PipelineVerb,
    /// The project directory (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Slipway's data directory (default `<project>/.slipway`).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// A running server's URL (`http://127.0.0.1:8040`); default: the one `slipway up` runs
    /// for this project, else embedded.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// The server's token, for a server that is not on loopback.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PipelineVerb {
    /// The pipelines and their latest execution.
    List,
    /// A pipeline's stages and actions.
    Show(NameArg),
    /// Start an execution and follow it.
    Run(NameArg),
    /// The latest (or one) execution: stages and actions with states and durations.
    Status(ExecArg),
    /// Every execution, newest first.
    History(NameArg),
    /// Approve a manual approval that is waiting.
    Approve(ApprovalArgs),
    /// Reject a manual approval that is waiting.
    Reject(ApprovalArgs),
    /// Retry the failed stage of an execution.
    Retry(RetryArgs),
    /// Stop an execution.
    Stop(StopArgs),
    /// Define (or update) the `AWS::CodePipeline::Pipeline`s of a CloudFormation template.
    Import(ImportArgs),
    /// Tell the running server to look at every git source's branch now (what the git hooks
    /// of `slipway up --git-hook` run after a commit, merge or rewrite).
    Poll,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CloudFormation template (YAML or JSON) declaring the pipeline(s).
    pub(crate) template: PathBuf,
    /// Parameter values: `Key=Value` pairs (or `ParameterKey=K,ParameterValue=V`).
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub(crate) parameter_overrides: Vec<String>,
    /// Import only this `AWS::CodePipeline::Pipeline` (default: every one of the template).
    #[arg(long, value_name = "ID")]
    pub(crate) logical_id: Option<String>,
    /// Define the pipeline under this name instead of its `Name` property (one pipeline only).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// `AWS::StackName` while resolving (default: the template file's stem).
    #[arg(long)]
    pub(crate) stack_name: Option<String>,
    /// The target whose stacks' exports answer `Fn::ImportValue` (`ACCOUNT/REGION` or a
    /// short name such as `dev`; default: the server's default target).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Resolve, check and print the pipeline(s); define nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Define a new pipeline without starting it (by default creating a pipeline starts it
    /// once, as CodePipeline's CreatePipeline does).
    #[arg(long)]
    pub(crate) no_start: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NameArg {
    /// The pipeline (default: the only one).
    pub(crate) name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExecArg {
    pub(crate) name: Option<String>,
    /// The execution (default: the latest).
    #[arg(long)]
    pub(crate) execution: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ApprovalArgs {
    pub(crate) name: Option<String>,
    #[arg(long)]
    pub(crate) stage: String,
    /// The approval action (default: the stage's only approval).
    #[arg(long)]
    pub(crate) action: Option<String>,
    #[arg(long)]
    pub(crate) comment: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RetryArgs {
    pub(crate) name: Option<String>,
    #[arg(long)]
    pub(crate) stage: Option<String>,
    #[arg(long)]
    pub(crate) execution: Option<String>,
    /// Re-run every action of the stage, not only the failed ones.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    pub(crate) name: Option<String>,
    #[arg(long)]
    pub(crate) execution: Option<String>,
    /// Abandon the in-progress actions instead of letting them finish.
    #[arg(long)]
    pub(crate) abandon: bool,
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PipelineError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("cannot open the state store under {}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: slipway_store::state::StateError,
    },
    #[error("cannot start the platform")]
    Server(#[from] slipway_server::ServerError),
    #[error("cannot start the async runtime")]
    Tokio(#[source] std::io::Error),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("cannot write the output")]
    Write(#[from] std::io::Error),
}

/// Where the verbs act.
enum Place {
    Remote {
        endpoint: String,
        token: Option<String>,
    },
    Embedded,
}

pub(crate) fn run(
    args: &PipelineArgs,
    env: &Environment,
    cwd: &Path,
    out: &mut dyn Write,
) -> Result<Status, PipelineError> {
    let project = args
        .project
        .as_ref()
        .map_or_else(|| cwd.to_owned(), |p| cwd.join(p));
    let data_dir = args
        .data_dir
        .as_ref()
        .map(|d| cwd.join(d))
        .or_else(|| env.get(env_vars::SLIPWAY_DATA_DIR).map(|d| cwd.join(d)))
        .unwrap_or_else(|| project.join(".slipway"));
    let token = args
        .token
        .clone()
        .or_else(|| env.get(env_vars::SLIPWAY_TOKEN).map(str::to_owned));
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| env.get(env_vars::SLIPWAY_ENDPOINT).map(str::to_owned))
        .or_else(|| running_server(&data_dir));
    let place = match endpoint {
        Some(endpoint) => Place::Remote {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
        },
        None => Place::Embedded,
    };
    let ctx = Ctx {
        place,
        data_dir,
        project,
        cwd: cwd.to_owned(),
    };
    ctx.verb(&args.verb, out)
}

struct Ctx {
    place: Place,
    data_dir: PathBuf,
    project: PathBuf,
    cwd: PathBuf,
}

impl Ctx {
    fn names(&self) -> Result<Vec<String>, PipelineError> {
        match &self.place {
            Place::Remote { .. } => {
                let v = self.http("GET", "", None)?;
                Ok(v["pipelines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect())
            }
            Place::Embedded => Ok(exec::list(&self.store()?)?),
        }
    }

    fn name(&self, given: Option<&String>) -> Result<String, PipelineError> {
        if let Some(n) = given {
            return Ok(n.clone());
        }
        let names = self.names()?;
        match names.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(PipelineError::Usage(
                "no pipeline yet: `slipway up` creates one".into(),
            )),
            many => Err(PipelineError::Usage(format!(
                "several pipelines ({}): name one",
                many.join(", ")
            ))),
        }
    }

    fn store(&self) -> Result<SqliteStore, PipelineError> {
        let path = self.data_dir.join("state.db");
        if !path.exists() {
            return Err(PipelineError::Usage(format!(
                "no Slipway state under {}: run `slipway up` first",
                self.data_dir.display()
            )));
        }
        SqliteStore::open(&path).map_err(|source| PipelineError::Store { path, source })
    }

    fn state(&self, name: &str) -> Result<PipelineState, PipelineError> {
        match &self.place {
            Place::Remote { .. } => {
                let v = self.http("GET", &format!("/{name}"), None)?;
                serde_json::from_value(v).map_err(|e| PipelineError::Http {
                    url: name.to_owned(),
                    message: format!("unexpected answer: {e}"),
                })
            }
            Place::Embedded => exec::load(&self.store()?, name)?
                .map(|(d, _)| d.state)
                .ok_or_else(|| ExecError::UnknownPipeline(name.to_owned()).into()),
        }
    }

    fn http(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, PipelineError> {
        let Place::Remote { endpoint, token } = &self.place else {
            return Err(PipelineError::Usage("no server".into()));
        };
        let api_path = format!("/api/v1/pipelines{path}");
        let url = format!("{endpoint}{api_path}");
        let (status, v) = http(
            method,
            endpoint,
            &api_path,
            token.as_deref(),
            body,
            Duration::from_secs(600),
        )
        .map_err(|message| PipelineError::Http {
            url: url.clone(),
            message,
        })?;
        if !(200..300).contains(&status) {
            let message = v["message"]
                .as_str()
                .map_or_else(|| format!("HTTP {status}: {v}"), str::to_owned);
            return Err(PipelineError::Http { url, message });
        }
        Ok(v)
    }

    fn verb(&self, verb: &PipelineVerb, out: &mut dyn Write) -> Result<Status, PipelineError> {
        match verb {
            PipelineVerb::Import(a) => self.import(a, out),
            PipelineVerb::Poll => {
                if matches!(self.place, Place::Embedded) {
                    return Err(PipelineError::Usage(format!(
                        "no running Slipway server for {} (`slipway up`, or --endpoint): nothing to tell",
                        self.project.display()
                    )));
                }
                let v = self.http("POST", ":poll", None)?;
                let started: Vec<&str> = v["started"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if started.is_empty() {
                    writeln!(out, "no new commit")?;
                }
                for id in started {
                    writeln!(out, "started execution {id}")?;
                }
                Ok(Status::Success)
            }
            PipelineVerb::List => {
                for n in self.names()? {
                    let st = self.state(&n)?;
                    match st.executions.last() {
                        Some(x) => writeln!(
                            out,
                            "{n:<24} v{:<3} {:<11} {} {}",
                            st.pipeline.version,
                            status_name(x.status),
                            short(&x.id),
                            revision(x)
                        )?,
                        None => {
                            writeln!(out, "{n:<24} v{:<3} (no execution)", st.pipeline.version)?
                        }
                    }
                }
                Ok(Status::Success)
            }
            PipelineVerb::Show(a) => {
                let st = self.state(&self.name(a.name.as_ref())?)?;
                show(&st.pipeline, out)?;
                Ok(Status::Success)
            }
            PipelineVerb::Status(a) => {
                let st = self.state(&self.name(a.name.as_ref())?)?;
                let x = match &a.execution {
                    Some(id) => st.execution(id),
                    None => st.executions.last(),
                };
                match x {
                    Some(x) => table(&st, x, out)?,
                    None => writeln!(out, "no execution yet")?,
                }
                Ok(Status::Success)
            }
            PipelineVerb::History(a) => {
                let st = self.state(&self.name(a.name.as_ref())?)?;
                for x in st.executions.iter().rev() {
                    let took = x
                        .ended_at
                        .map(|e| duration(e.0.saturating_sub(x.started_at.0)))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{}  {:<11} {:>8}  {}",
                        x.id,
                        status_name(x.status),
                        took,
                        revision(x)
                    )?;
                }
                Ok(Status::Success)
            }
            PipelineVerb::Run(a) => {
                // Embedded, the project's pipeline is (re)defined first: `run` works in a
                // project `slipway up` never ran in.
                let project = match self.place {
                    Place::Embedded => match project_pipeline(&self.project) {
                        Ok(Ok(p)) => Some(p),
                        Ok(Err(rendered)) => {
                            out.write_all(rendered.as_bytes())?;
                            return Ok(Status::Invalid);
                        }
                        Err(_) => None,
                    },
                    Place::Remote { .. } => None,
                };
                let name = match (&a.name, &project) {
                    (Some(n), _) => n.clone(),
                    (None, Some(p)) => p.name.clone(),
                    (None, None) => self.name(None)?,
                };
                self.act(&name, out, |x| match x {
                    Act::Local(p) => {
                        if let Some(def) = project.filter(|def| def.name == name) {
                            p.executor.define(def)?;
                        }
                        Ok(p.start_execution(&name, BTreeMap::new())?)
                    }
                    Act::Remote(c) => {
                        let v = c.http("POST", &format!("/{name}/executions"), Some(&json!({})))?;
                        Ok(v["executionId"].as_str().unwrap_or_default().to_owned())
                    }
                })
            }
            PipelineVerb::Approve(a) | PipelineVerb::Reject(a) => {
                let approved = matches!(verb, PipelineVerb::Approve(_));
                let name = self.name(a.name.as_ref())?;
                let action = match &a.action {
                    Some(x) => x.clone(),
                    None => approval_action(&self.state(&name)?, &a.stage)?,
                };
                let by = whoami();
                self.act(&name, out, |x| match x {
                    Act::Local(p) => Ok(p.executor.decide(
                        &name,
                        &a.stage,
                        &action,
                        ApprovalDecision {
                            approved,
                            by: by.clone(),
                            comment: a.comment.clone(),
                        },
                    )?),
                    Act::Remote(c) => {
                        let body = json!({
                            "stage": a.stage, "action": action, "by": by, "summary": a.comment,
                            "status": if approved { "Approved" } else { "Rejected" },
                        });
                        let v = c.http("POST", &format!("/{name}/approvals"), Some(&body))?;
                        Ok(v["executionId"].as_str().unwrap_or_default().to_owned())
                    }
                })
            }
            PipelineVerb::Retry(a) => {
                let name = self.name(a.name.as_ref())?;
                let st = self.state(&name)?;
                let x = pick(&st, a.execution.as_deref())?;
                let stage = match &a.stage {
                    Some(s) => s.clone(),
                    None => match x.position {
                        slipway_pipeline::Position::Halted { stage } => {
                            st.pipeline.stages[stage].name.clone()
                        }
                        _ => {
                            return Err(PipelineError::Usage(format!(
                                "execution {} has no failed stage",
                                x.id
                            )));
                        }
                    },
                };
                let id = x.id.clone();
                let mode = if a.all {
                    RetryMode::AllActions
                } else {
                    RetryMode::FailedActions
                };
                self.act(&name, out, |c| match c {
                    Act::Local(p) => p
                        .executor
                        .retry(&name, &id, &stage, mode)
                        .map(|()| id.clone())
                        .map_err(Into::into),
                    Act::Remote(c) => {
                        let mode = if a.all {
                            "ALL_ACTIONS"
                        } else {
                            "FAILED_ACTIONS"
                        };
                        c.http(
                            "POST",
                            &format!("/{name}/executions/{id}/retry"),
                            Some(&json!({"stage": stage, "mode": mode})),
                        )?;
                        Ok(id.clone())
                    }
                })
            }
            PipelineVerb::Stop(a) => {
                let name = self.name(a.name.as_ref())?;
                let st = self.state(&name)?;
                let id = pick(&st, a.execution.as_deref())?.id.clone();
                let mode = if a.abandon {
                    StopMode::Abandon
                } else {
                    StopMode::Wait
                };
                self.act(&name, out, |c| match c {
                    Act::Local(p) => p
                        .executor
                        .stop(&name, &id, mode, a.reason.clone())
                        .map(|()| id.clone())
                        .map_err(Into::into),
                    Act::Remote(c) => {
                        let body = json!({
                            "mode": if a.abandon { "ABANDON" } else { "WAIT" },
                            "reason": a.reason,
                        });
                        c.http(
                            "POST",
                            &format!("/{name}/executions/{id}/stop"),
                            Some(&body),
                        )?;
                        Ok(id.clone())
                    }
                })
            }
        }
    }

    /// `pipeline import`: the server resolves the template and defines its pipelines (embedded:
    /// a platform started on the data directory for the while, as `run` does).
    fn import(&self, a: &ImportArgs, out: &mut dyn Write) -> Result<Status, PipelineError> {
        let path = self.cwd.join(&a.template);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            PipelineError::Usage(format!("cannot read the template {}: {e}", path.display()))
        })?;
        let mut overrides = Vec::new();
        for t in &a.parameter_overrides {
            overrides.extend(
                crate::settings::override_token(t)
                    .map_err(|e| PipelineError::Usage(format!("--parameter-overrides: {e}")))?,
            );
        }
        let file = a.template.display().to_string();
        let req = ImportRequest {
            template: text,
            file: Some(file.clone()),
            parameter_overrides: overrides,
            logical_id: a.logical_id.clone(),
            name: a.name.clone(),
            stack_name: a.stack_name.clone(),
            target: a.target.clone(),
            dry_run: a.dry_run,
            no_start: a.no_start,
        };
        match &self.place {
            Place::Remote { endpoint, token } => {
                let url = format!("{endpoint}{PREFIX}");
                let body = serde_json::to_value(&req).map_err(|e| PipelineError::Http {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
                let (status, v) = http(
                    "POST",
                    endpoint,
                    PREFIX,
                    token.as_deref(),
                    Some(&body),
                    Duration::from_secs(600),
                )
                .map_err(|message| PipelineError::Http {
                    url: url.clone(),
                    message,
                })?;
                if status != 200 && status != 422 {
                    let message = v["message"]
                        .as_str()
                        .map_or_else(|| format!("HTTP {status}: {v}"), str::to_owned);
                    return Err(PipelineError::Http { url, message });
                }
                let report =
                    serde_json::from_value::<Report>(v).map_err(|e| PipelineError::Http {
                        url,
                        message: format!("unexpected answer: {e}"),
                    })?;
                // The server runs what it started: say where to follow it.
                self.print_report(&report, &file, a.dry_run, None, out)
            }
            Place::Embedded => {
                let files = super::DirFiles(
                    path.parent()
                        .map_or_else(|| self.cwd.clone(), Path::to_owned),
                );
                self.embedded(|server| {
                    let r = server.import_pipelines(&req, &files).map_err(|e| match e {
                        ImportError::Exec(e) => PipelineError::Exec(e),
                        e @ ImportError::NameNeedsOne(_) => PipelineError::Usage(e.to_string()),
                    })?;
                    let report = Report {
                        valid: r.valid,
                        target: r.target,
                        rendered: r.rendered,
                        pipelines: r.pipelines,
                    };
                    // The platform stops when this call returns: the executions the import
                    // started are followed here until they rest, as `pipeline run` does.
                    self.print_report(
                        &report,
                        &file,
                        a.dry_run,
                        Some(&server.pipelines().executor),
                        out,
                    )
                })
                .and_then(|r| r)
            }
        }
    }

    /// Prints what `import` did; with `follow`, follows each execution it started until it
    /// rests (ends, or waits for an approval). The import's own status either way: the
    /// execution's outcome is in its table and the pipeline's history.
    fn print_report(
        &self,
        report: &Report,
        file: &str,
        dry_run: bool,
        follow_on: Option<&Arc<Executor>>,
        out: &mut dyn Write,
    ) -> Result<Status, PipelineError> {
        out.write_all(report.rendered.as_bytes())?;
        if !report.valid {
            writeln!(out, "{file}: invalid — nothing was defined")?;
            return Ok(Status::Invalid);
        }
        let project = match self.place {
            Place::Embedded => Some(self.project.as_path()),
            Place::Remote { .. } => None,
        };
        for ip in &report.pipelines {
            summary(ip, &report.target, project, out)?;
        }
        if dry_run {
            writeln!(out, "dry run: nothing was defined")?;
        }
        for ip in &report.pipelines {
            let Some(id) = &ip.execution_id else { continue };
            match follow_on {
                Some(e) => {
                    follow(e, &ip.pipeline.name, id, out)?;
                }
                None => writeln!(
                    out,
                    "the server runs execution {} of {}: `slipway pipeline status {}` shows it",
                    short(id),
                    ip.pipeline.name,
                    ip.pipeline.name
                )?,
            }
        }
        Ok(Status::Success)
    }

    /// Starts the platform on the data directory (no polling), does `f`, stops it.
    fn embedded<R>(
        &self,
        f: impl FnOnce(&slipway_server::ServerHandle) -> R,
    ) -> Result<R, PipelineError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(PipelineError::Tokio)?;
        let mut config = slipway_server::Config::new(&self.data_dir);
        config.bind = "127.0.0.1:0".parse().unwrap_or(config.bind);
        config.pipelines.project_dir = Some(self.project.clone());
        config.pipelines.poll_interval = None;
        let server = rt.block_on(slipway_server::Server::new(config).start())?;
        let result = {
            let _in = rt.enter();
            f(&server)
        };
        rt.block_on(server.shutdown())?;
        Ok(result)
    }

    /// Does `f` where the verbs act, then follows the execution it names until it rests.
    fn act(
        &self,
        name: &str,
        out: &mut dyn Write,
        f: impl FnOnce(Act<'_>) -> Result<String, PipelineError>,
    ) -> Result<Status, PipelineError> {
        match &self.place {
            Place::Remote { .. } => {
                let id = f(Act::Remote(self))?;
                let mut progress = Progress::default();
                loop {
                    let st = self.state(name)?;
                    progress.update(&st, &id, out)?;
                    if settled(&st, &id) {
                        return finish(&st, &id, out);
                    }
                    // Polling the server's REST API: it has no push channel yet.
                    #[allow(clippy::disallowed_methods)]
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            Place::Embedded => self
                .embedded(|server| {
                    let p = server.pipelines();
                    f(Act::Local(p)).and_then(|id| follow(&p.executor, name, &id, out))
                })
                .and_then(|r| r),
        }
    }
}

/// `POST /api/v1/pipelines`'s answer, as far as the CLI reads it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    valid: bool,
    target: String,
    rendered: String,
    #[serde(default)]
    pipelines: Vec<ImportedPipeline>,
}

const PREFIX: &str = "/api/v1/pipelines";

/// What `import` did to one pipeline, its stages and actions, and where its sources come from.
fn summary(
    ip: &ImportedPipeline,
    target: &str,
    project: Option<&Path>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let p = &ip.pipeline;
    let what = match (ip.action, ip.previous_version) {
        (ImportAction::Created, _) => format!("created (version {})", p.version),
        (ImportAction::Updated, Some(v)) if v != p.version => {
            format!("updated (version {v} → {})", p.version)
        }
        (ImportAction::Updated, _) => format!("updated (version {}, same structure)", p.version),
        (ImportAction::Unchanged, _) => format!("unchanged (version {})", p.version),
        (ImportAction::WouldCreate, _) => "would be created".to_owned(),
        (ImportAction::WouldUpdate, Some(v)) => format!("would update version {v}"),
        (ImportAction::WouldUpdate, None) => "would be updated".to_owned(),
    };
    let actions: usize = p.stages.iter().map(|s| s.actions.len()).sum();
    writeln!(
        out,
        "pipeline {}: {what} — {} stages, {actions} actions; Fn::ImportValue from target {target}",
        p.name,
        p.stages.len()
    )?;
    show(p, out)?;
    let repos = match project {
        Some(d) => format!("relative to the project directory {}", d.display()),
        None => "relative to the server's project directory".to_owned(),
    };
    for (action, repo, branch) in git::git_sources(p) {
        writeln!(
            out,
            "  source {action}: repository '{repo}' branch '{branch}' → the local git repository at '{repo}' {repos}"
        )?;
    }
    for (action, bucket, key) in git::s3_sources(p) {
        writeln!(
            out,
            "  source {action}: s3://{bucket}/{key} on this server's S3 — an upload there starts the pipeline"
        )?;
    }
    if p.triggers.is_empty() {
        writeln!(
            out,
            "  triggers: none declared — a new commit on a git source's branch (polled) or an S3 upload starts it"
        )?;
    }
    for t in &p.triggers {
        let branches: Vec<String> = t
            .push
            .iter()
            .filter_map(|f| f.branches.as_ref())
            .flat_map(|b| b.includes.iter().cloned())
            .collect();
        writeln!(
            out,
            "  trigger on {}: push to {}{}",
            t.source_action_name,
            if branches.is_empty() {
                "any branch".to_owned()
            } else {
                branches.join(", ")
            },
            if t.pull_request.is_empty() {
                ""
            } else {
                " (pull-request filters are kept but no pull-request events arrive locally)"
            }
        )?;
    }
    match (&ip.execution_id, &ip.start_error) {
        (Some(id), _) => writeln!(
            out,
            "  started execution {id} (creating a pipeline runs it once, from its sources' current revisions)"
        )?,
        (None, Some(e)) => writeln!(
            out,
            "  not started: {e} (the pipeline is defined; `slipway pipeline run {}` starts it)",
            p.name
        )?,
        (None, None) => {}
    }
    Ok(())
}

enum Act<'a> {
    Local(&'a slipway_server::Pipelines),
    Remote(&'a Ctx),
}

/// Follows an execution on an executor in this process until it rests.
pub(crate) fn follow(
    e: &Arc<Executor>,
    name: &str,
    id: &str,
    out: &mut dyn Write,
) -> Result<Status, PipelineError> {
    let mut progress = Progress::default();
    loop {
        let (done, st) = e.wait_until(name, Duration::from_secs(1), |s| settled(s, id))?;
        progress.update(&st, id, out)?;
        if done {
            return finish(&st, id, out);
        }
    }
}

fn finish(st: &PipelineState, id: &str, out: &mut dyn Write) -> Result<Status, PipelineError> {
    let Some(x) = st.execution(id) else {
        return Ok(Status::Usage);
    };
    table(st, x, out)?;
    Ok(match x.status {
        ExecutionStatus::Succeeded | ExecutionStatus::InProgress => Status::Success,
        ExecutionStatus::Stopping
        | ExecutionStatus::Stopped
        | ExecutionStatus::Superseded
        | ExecutionStatus::Failed
        | ExecutionStatus::Cancelled => Status::Invalid,
    })
}

fn pick<'a>(st: &'a PipelineState, id: Option<&str>) -> Result<&'a Execution, PipelineError> {
    match id {
        Some(id) => st
            .execution(id)
            .ok_or_else(|| PipelineError::Usage(format!("no execution '{id}'"))),
        None => st
            .executions
            .last()
            .ok_or_else(|| PipelineError::Usage("no execution yet".into())),
    }
}

fn approval_action(st: &PipelineState, stage: &str) -> Result<String, PipelineError> {
    let (_, s) = st
        .pipeline
        .stage(stage)
        .ok_or_else(|| PipelineError::Usage(format!("the pipeline has no stage '{stage}'")))?;
    let approvals: Vec<&str> = s
        .actions
        .iter()
        .filter(|a| a.action_type_id.provider == slipway_model::pipeline::Provider::Manual)
        .map(|a| a.name.as_str())
        .collect();
    match approvals.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(PipelineError::Usage(format!(
            "stage '{stage}' has no manual approval"
        ))),
        many => Err(PipelineError::Usage(format!(
            "stage '{stage}' has several approvals ({}): pass --action",
            many.join(", ")
        ))),
    }
}

fn whoami() -> String {
    // Who approved, as CodePipeline records the IAM identity: the local user.
    std::env::var("USER").unwrap_or_else(|_| "local".into())
}

/// The data dir's running server, when `server.json` names one that answers.
pub(crate) fn running_server(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(SERVER_FILE)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let endpoint = v["endpoint"].as_str()?.to_owned();
    let (status, _) = http(
        "GET",
        &endpoint,
        "/api/v1/pipelines",
        None,
        None,
        Duration::from_secs(2),
    )
    .ok()?;
    (status == 200).then_some(endpoint)
}

use crate::client::{Client, SERVER_FILE};

/// One request to a server's pipelines API with the control API's client: (status, JSON).
fn http(
    method: &str,
    endpoint: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<(u16, Value), String> {
    let client = Client::new(endpoint, token).map_err(|e| e.to_string())?;
    let method = hyper::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    client
        .blocking_raw(method, path, body, timeout)
        .map_err(|e| error_chain(&e))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Output.

pub(crate) fn status_name(s: ExecutionStatus) -> &'static str {
    match s {
        ExecutionStatus::InProgress => "InProgress",
        ExecutionStatus::Stopping => "Stopping",
        ExecutionStatus::Stopped => "Stopped",
        ExecutionStatus::Succeeded => "Succeeded",
        ExecutionStatus::Superseded => "Superseded",
        ExecutionStatus::Failed => "Failed",
        ExecutionStatus::Cancelled => "Cancelled",
    }
}

fn action_name(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::NotStarted => "-",
        ActionStatus::InProgress => "InProgress",
        ActionStatus::Succeeded => "Succeeded",
        ActionStatus::Failed => "Failed",
        ActionStatus::Abandoned => "Abandoned",
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn revision(x: &Execution) -> String {
    x.source_revisions
        .first()
        .map(|r| {
            format!(
                "{} {}",
                short(&r.revision_id),
                r.summary.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default()
}

pub(crate) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        #[allow(clippy::cast_precision_loss)]
        let s = ms as f64 / 1000.0;
        format!("{s:.1} s")
    }
}

fn show(p: &Pipeline, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} (version {}, {} mode)",
        p.name,
        p.version,
        p.execution_mode.as_str()
    )?;
    for s in &p.stages {
        writeln!(out, "  {}", s.name)?;
        for a in &s.actions {
            let t = &a.action_type_id;
            let target = a
                .target
                .as_deref()
                .map(|t| format!(" → {t}"))
                .unwrap_or_default();
            writeln!(
                out,
                "    {} [{} {}, run order {}]{target}",
                a.name,
                t.category.as_str(),
                t.provider.as_str(),
                a.run_order
            )?;
        }
    }
    Ok(())
}

/// An execution's stages and actions with their states and durations.
pub(crate) fn table(st: &PipelineState, x: &Execution, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} execution {}: {}  {}",
        st.pipeline.name,
        x.id,
        status_name(x.status),
        revision(x)
    )?;
    for s in &x.stages {
        writeln!(out, "  {}", s.name)?;
        for a in &s.actions {
            let took = match (a.started_at, a.ended_at) {
                (Some(b), Some(e)) => duration(e.0.saturating_sub(b.0)),
                _ => String::new(),
            };
            let note = a
                .error
                .as_deref()
                .or(a.result.as_ref().and_then(|r| r.summary.as_deref()))
                .unwrap_or("");
            let note: String = note
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            writeln!(
                out,
                "    {:<32} {:<11} {:>8}  {note}",
                a.name,
                action_name(a.status),
                took
            )?;
        }
    }
    Ok(())
}

/// Prints each action's state change once.
#[derive(Default)]
pub(crate) struct Progress {
    seen: BTreeMap<(String, String, u32), ActionStatus>,
}

impl Progress {
    pub(crate) fn update(
        &mut self,
        st: &PipelineState,
        id: &str,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let Some(x) = st.execution(id) else {
            return Ok(());
        };
        for s in &x.stages {
            for a in &s.actions {
                if a.status == ActionStatus::NotStarted {
                    continue;
                }
                let key = (s.name.clone(), a.name.clone(), a.attempt);
                if self.seen.get(&key) == Some(&a.status) {
                    continue;
                }
                self.seen.insert(key, a.status);
                let took = match (a.started_at, a.ended_at) {
                    (Some(b), Some(e)) => format!(" ({})", duration(e.0.saturating_sub(b.0))),
                    _ => String::new(),
                };
                let waiting = if a.status == ActionStatus::InProgress && a.token.is_some() {
                    format!(
                        " — waiting for approval: slipway pipeline approve {} --stage {}",
                        st.pipeline.name, s.name
                    )
                } else {
                    String::new()
                };
                let why = match (a.status, a.error.as_deref()) {
                    (ActionStatus::Failed, Some(e)) => format!(": {e}"),
                    _ => String::new(),
                };
                writeln!(
                    out,
                    "[{}] {}/{} {}{took}{waiting}{why}",
                    short(&x.id),
                    s.name,
                    a.name,
                    action_name(a.status)
                )?;
            }
        }
        out.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// The project's pipeline.

/// The pipeline of a project: `slipway.yaml` when there is one, else the default one — the
/// repository's current branch → a build (`buildspec.yml` when present, which runs the tests,
/// else a SAM-style build) → a deploy of `template.yaml` to the `dev` target as stack
/// `<name>-dev`.
pub(crate) fn project_pipeline(dir: &Path) -> Result<Result<Pipeline, String>, PipelineError> {
    let name = sanitize(
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .as_deref()
            .unwrap_or("app"),
    );
    let file = dir.join("slipway.yaml");
    let (text, label) = if file.is_file() {
        (std::fs::read_to_string(&file)?, "slipway.yaml")
    } else {
        (default_pipeline(dir, &name)?, "slipway.yaml (default)")
    };
    let outcome = parse_file(&text, label, &name);
    if outcome.has_errors() {
        let mut sources = Sources::default();
        sources.add(label, &text);
        return Ok(Err(render_human(&outcome.diagnostics, &sources)));
    }
    Ok(outcome
        .pipelines
        .into_iter()
        .next()
        .ok_or_else(|| "no pipeline".to_owned()))
}

fn default_pipeline(dir: &Path, name: &str) -> Result<String, PipelineError> {
    let template = ["template.yaml", "template.yml"]
        .into_iter()
        .find(|t| dir.join(t).is_file())
        .ok_or_else(|| {
            PipelineError::Usage(format!(
                "{} has no template.yaml (nor slipway.yaml): nothing to deploy",
                dir.display()
            ))
        })?;
    let branch = git::current_branch(dir).unwrap_or_else(|| "main".into());
    let build = if dir.join("buildspec.yml").is_file() {
        "buildspec.yml"
    } else {
        "sam"
    };
    Ok(format!(
        "name: {name}\nsource:\n  git: {{branch: {branch}, repository: .}}\nstages:\n  - name: Build\n    build: {build}\n  - name: Dev\n    deploy:\n      stack: {stack}-dev\n      template: {template}\n      target: dev\n",
        stack = stack_name(name),
    ))
}

/// A pipeline name CodePipeline accepts (`[A-Za-z0-9.@_-]`).
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.is_empty() { "app".into() } else { out }
}

/// A stack name CloudFormation accepts (`[A-Za-z][A-Za-z0-9-]*`).
fn stack_name(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("app-{out}")
    }
}
