//! `slipway pipeline import` on the server: a CloudFormation template's
//! `AWS::CodePipeline::Pipeline` resources, resolved and defined.
//!
//! The template is resolved as `slipway validate` resolves it (parameters with the request's
//! overrides, conditions — so `Fn::If` around whole stages and actions is decided —,
//! `Fn::FindInMap`, `Fn::Sub`), with `Fn::ImportValue` answered by the live stacks of the
//! request's target (default: the server's default target, as a pipeline action without
//! `target` deploys). Then [`slipway_model::pipeline::import`] reads the pipelines. Every
//! diagnostic of both steps is returned, with its position and property path, and, when there
//! is any error, nothing is defined: all or nothing, for every pipeline of the template.
//! Both steps report in one pass: when resolution fails (a parameter without a value, an
//! export that does not exist), the importer still reads what resolution made of the
//! template ([`slipway_model::template::resolve_despite_errors`]) and its own diagnostics —
//! unsupported providers and properties — come in the same answer, less the ones that are
//! only consequences of the resolution errors
//! ([`slipway_model::pipeline::import_unresolved`]).
//!
//! Defining an existing pipeline is CodePipeline's `UpdatePipeline` (looked up: the API
//! reference, "Updating the pipeline increases the version number of the pipeline by 1"): the
//! definition is replaced and its version goes up by one when anything in it changed
//! ([`slipway_pipeline::exec::Executor::define`] compares the whole definition, configuration
//! included; re-importing an unchanged template is no new version).
//! The user guide's "Edit a pipeline" page: editing does not rerun the latest revision — the
//! next source change (or `pipeline run`) starts the edited pipeline; so an import that
//! updates a pipeline starts nothing. What happens to an execution in progress is not documented beyond
//! `StageNotRetryableException` ("the pipeline structure … might have changed while actions
//! awaited retry"); Slipway's choice (`Executor::define`) is to stop an execution still in
//! progress when the structure changes, since its stage positions index the old stages —
//! it does not keep running on the old definition.
//!
//! Creating a pipeline starts it once, as CodePipeline's `CreatePipeline` does (looked up: the
//! user guide's "Start a pipeline in CodePipeline": "When a pipeline is created, a pipeline
//! execution starts automatically. This is the `CreatePipeline` trigger type"). The execution
//! is started after the definition is committed, through
//! [`crate::Pipelines::start_execution`] — StartPipelineExecution's own path, so it runs from
//! the sources' current revisions: a git source's branch head, an S3 source's object as it is
//! now (also one uploaded before the pipeline existed). The definition never depends on the
//! start: a start that fails is reported as `startError` next to the created pipeline, and
//! the import still succeeds. `noStart` (`--no-start`) defines without starting — for a
//! pipeline whose source is not there yet (an S3 object still to be uploaded: on AWS its
//! first execution fails in the source stage) or that should first be looked at; a git
//! source still starts on the poller's first look (`slipway up`), as before.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slipway_model::diag::{Diagnostic, Sources, render_human};
use slipway_model::pipeline::{ImportOptions, Pipeline, import, import_unresolved};
use slipway_model::template::{FileSource, NoFiles, Options, resolve_despite_errors};

use crate::App;

/// The body of `POST /api/v1/pipelines`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    /// The template's text (YAML or JSON).
    pub template: String,
    /// The template's file name, for diagnostics (default `template.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `--parameter-overrides`, in the order given (a later one wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter_overrides: Vec<(String, String)>,
    /// Import only this logical ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_id: Option<String>,
    /// Define the pipeline under this name instead of its `Name` (one pipeline only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `AWS::StackName` while resolving (default: the file's stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    /// The target whose stacks answer `Fn::ImportValue` (`ACCOUNT/REGION` or a short name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Resolve and report, define nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Define, but do not start the execution creating a pipeline starts.
    #[serde(default)]
    pub no_start: bool,
}

/// What happened to one pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportAction {
    Created,
    Updated,
    Unchanged,
    /// `dryRun`: it would be created.
    WouldCreate,
    /// `dryRun`: it exists, and would be updated (or stay as it is).
    WouldUpdate,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportedPipeline {
    pub action: ImportAction,
    /// The stored version before, when the pipeline existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<u32>,
    pub pipeline: Pipeline,
    /// The execution creating the pipeline started (`action: created` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// Why that execution could not be started; the pipeline is defined all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_error: Option<String>,
}

/// The answer: every diagnostic (also rendered as `slipway validate` prints them), and the
/// pipelines defined — none when `valid` is false.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub valid: bool,
    pub target: String,
    pub diagnostics: Vec<Diagnostic>,
    /// The diagnostics with file:line:col, property path and a source snippet.
    pub rendered: String,
    pub pipelines: Vec<ImportedPipeline>,
}

/// Why an import could not be applied although the template is valid.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("--name renames one pipeline, but the template has {0}: pass --logical-id too")]
    NameNeedsOne(usize),
    #[error(transparent)]
    Exec(#[from] slipway_pipeline::exec::ExecError),
}

impl App {
    /// Resolves, imports and (unless `dry_run`) defines. Blocking.
    pub(crate) fn import_pipelines(
        &self,
        req: &ImportRequest,
        files: &dyn FileSource,
    ) -> Result<ImportReport, ImportError> {
        let file = req.file.clone().unwrap_or_else(|| "template.yaml".into());
        let target = self.target_of(req.target.as_deref(), None);
        let (account, region) = target
            .split_once('/')
            .map(|(a, r)| (a.to_owned(), r.to_owned()))
            .unwrap_or_else(|| (self.default_account.clone(), self.default_region.clone()));
        // Every export of the target's live stacks, as `slipway deploy` sees them.
        let exports: BTreeMap<String, String> = self
            .engine
            .exports(&target)
            .into_iter()
            .map(|(name, (_, value))| (name, value))
            .collect();
        let stack_name = req.stack_name.clone().unwrap_or_else(|| stem(&file));
        let opts = Options {
            file: file.clone(),
            account,
            region,
            stack_name,
            overrides: req.parameter_overrides.clone(),
            exports: &exports,
            files,
            ..Options::default()
        };
        let (template, mut diagnostics) = resolve_despite_errors(&req.template, &opts);
        let import_opts = ImportOptions {
            file: file.clone(),
            logical_id: req.logical_id.clone(),
        };
        let mut pipelines = Vec::new();
        match &template {
            Some(t) if !diagnostics.iter().any(Diagnostic::is_error) => {
                let outcome = import(t, &import_opts);
                diagnostics.extend(outcome.diagnostics);
                pipelines = outcome.pipelines;
            }
            // Resolution failed: the importer's own problems are reported in the same answer
            // (not its complaints about the resolver's stand-ins); nothing is defined.
            Some(t) => {
                let own = import_unresolved(&req.template, t, &diagnostics, &import_opts);
                diagnostics.extend(own);
                diagnostics.sort_by_key(|d| (d.line.is_none(), d.line, d.col));
            }
            None => {}
        }
        let valid = !diagnostics.iter().any(Diagnostic::is_error);
        let mut sources = Sources::default();
        sources.add(file, req.template.clone());
        let rendered = render_human(&diagnostics, &sources);
        if !valid {
            return Ok(ImportReport {
                valid,
                target,
                diagnostics,
                rendered,
                pipelines: Vec::new(),
            });
        }
        if let Some(n) = &req.name {
            if pipelines.len() != 1 {
                return Err(ImportError::NameNeedsOne(pipelines.len()));
            }
            pipelines[0].name.clone_from(n);
        }
        let Some(p) = self.pipelines.get() else {
            return Err(slipway_pipeline::exec::ExecError::UnknownPipeline(
                "pipelines are not enabled".into(),
            )
            .into());
        };
        let x = &p.executor;
        let mut out = Vec::new();
        // Nothing is defined unless every pipeline is valid (checked above); then one by one.
        for pipeline in pipelines {
            let before = x
                .list()?
                .contains(&pipeline.name)
                .then(|| x.state(&pipeline.name))
                .transpose()?;
            let previous_version = before.as_ref().map(|s| s.pipeline.version);
            if req.dry_run {
                out.push(ImportedPipeline {
                    action: if before.is_some() {
                        ImportAction::WouldUpdate
                    } else {
                        ImportAction::WouldCreate
                    },
                    previous_version,
                    pipeline,
                    execution_id: None,
                    start_error: None,
                });
                continue;
            }
            x.define(pipeline.clone())?;
            let after = x.state(&pipeline.name)?.pipeline;
            let action = match &before {
                None => ImportAction::Created,
                Some(b) if b.pipeline == after => ImportAction::Unchanged,
                Some(_) => ImportAction::Updated,
            };
            // CreatePipeline's execution, once the definition is stored; UpdatePipeline none.
            let (execution_id, start_error) = if action == ImportAction::Created && !req.no_start {
                match p.start_execution(&after.name, BTreeMap::new()) {
                    Ok(id) => (Some(id), None),
                    Err(e) => {
                        tracing::warn!(pipeline = %after.name, error = %e, "the created pipeline could not be started");
                        (None, Some(e.to_string()))
                    }
                }
            } else {
                (None, None)
            };
            out.push(ImportedPipeline {
                action,
                previous_version,
                pipeline: after,
                execution_id,
                start_error,
            });
        }
        Ok(ImportReport {
            valid,
            target,
            diagnostics,
            rendered,
            pipelines: out,
        })
    }
}

/// `pipeline` of `ci/pipeline.yaml`.
fn stem(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let s = base.split('.').next().unwrap_or(base);
    if s.is_empty() {
        "pipeline".into()
    } else {
        s.to_owned()
    }
}

/// For the REST route: no files beside the template are readable by the server.
pub(crate) fn no_files() -> &'static NoFiles {
    &NoFiles
}
