//! Pipelines: CodePipeline-shaped delivery definitions, read from Slipway's own `slipway.yaml`
//! or imported from an `AWS::CodePipeline::Pipeline` resource, and validated exactly as
//! CodePipeline validates them.
//!
//! # The model
//!
//! A [`Pipeline`] is what CodePipeline's `GetPipeline` returns: stages of actions, each action
//! with an [`ActionTypeId`] (category, owner, provider, version), a string-to-string
//! `configuration`, input and output artefacts (by name), a `runOrder`, and optionally a
//! region, a role, a variable namespace. Pipeline-level settings are `pipelineType` (V1/V2),
//! `executionMode` (SUPERSEDED, QUEUED, PARALLEL), V2 `variables` and `triggers`, and the
//! transitions disabled at creation (`DisableInboundStageTransitions`). Two things are
//! Slipway's own and resolved here so that the engine does not need the template again:
//!
//! - `project`: for a CodeBuild action whose `ProjectName` was a `Ref` to an
//!   `AWS::CodeBuild::Project` of the same template (or a build written in `slipway.yaml`), the
//!   project's buildspec (inline, a path, or a SAM build), environment variables and timeout;
//! - `target`: for a deploy action, the `account/region` (or short target name) its stack
//!   lives in — from a `slipway.yaml` target, or, on import, the account of the action's
//!   `RoleArn` (else the importing account) and its `Region` (else the importing region).
//!
//! Every element keeps an [`Origin`]: the file position and property path of what the user
//! wrote, so that [`validate`] — shared by both ways in — points at the user's own text, even
//! after a `targets:` matrix expanded one deploy into many actions.
//!
//! # `slipway.yaml`
//!
//! ```yaml
//! name: payments              # optional; defaults to the project directory's name
//! mode: superseded            # superseded (default) | queued | parallel
//! variables:                  # V2 pipeline variables: NAME: default, or {default, description}
//!   Greeting: hello
//! source:                     # exactly one of:
//!   git: {branch: main, repository: .}        # a local git repository's branch
//!   # s3: {bucket: uploads, key: app/source.zip}  # a zip uploaded to the local S3
//! stages:
//!   - name: Build
//!     build: buildspec.yml    # a buildspec path; `sam` for a SAM build; or a mapping:
//!                             # {buildspec | sam: true, env: {K: V}, timeout: 20, input: X}
//!   - name: Test
//!     test: tests/buildspec.yml   # as build; tests get the latest build output by default
//!   - name: Staging
//!     deploy:
//!       stack: payments-staging
//!       template: packaged.yaml   # file in the latest build output, or `Artefact::file`
//!       targets: [222222222222/eu-west-1, 222222222222/us-east-1]  # or `target: dev`
//!       parameters: {Stage: staging}           # ParameterOverrides
//!       capabilities: [CAPABILITY_IAM]
//!       config: config.json       # TemplateConfiguration, in the same artefact
//!       outputs: outputs.json     # OutputFileName: stack outputs into `<Action>Output`
//!       mode: create-update       # create-update | replace-on-failure | delete-only
//!       review: true              # change set → manual review → execute
//!   - name: Approve
//!     approval: {message: Promote to prod?, link: https://…, notify: arn:aws:sns:…, timeout: 60}
//!   - name: Smoke
//!     invoke: {function: smoke-test, parameters: '{"url": "…"}'}
//!   - name: Parallel            # several actions in one stage:
//!     actions:
//!       - {name: Unit, test: unit.yml}
//!       - {name: Lint, test: lint.yml}
//!       - {name: Report, invoke: {function: report}, run-order: 2}
//! ```
//!
//! The file becomes a V2 pipeline. The first stage, `Source`, holds one action `Source`
//! (namespace `SourceVariables`, output `SourceOutput`); a git source is a
//! `CodeStarSourceConnection` action on a local connection, an S3 source an `S3` action.
//! A stage written with one action key gets one action named after the key (`Build`,
//! `Deploy`, …), or after the stage when an earlier stage already took that name (a `Staging`
//! and a `Prod` stage with one-target `deploy:`s give actions `Deploy` and `Prod`); every action `X` that produces something outputs `XOutput` and exports its
//! variables under namespace `XVariables`. Builds take `SourceOutput`; tests and deploys take
//! the output of the latest build before them (else `SourceOutput`); `input:` overrides.
//!
//! **The matrix.** A deploy with `targets:` becomes one action per target, all with the same
//! `runOrder` (so they run in parallel), named `<Action>-<target>` with `/` turned into `-`
//! (`Deploy-222222222222-eu-west-1`), in the order written; their output artefacts and
//! namespaces get the same suffix. With `review: true` each target gets a change set
//! (`<Action>-ChangeSet-<target>`, run order 1), one manual `<Action>-Review` for all of them
//! (run order 2), then the executions (`<Action>-Execute-<target>`, run order 3).

mod file;
mod import;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use self::file::{LOCAL_CONNECTION_ARN, REVIEW_CHANGE_SET, parse_file, valid_target};
pub use self::import::{ImportOptions, PIPELINE_TYPE, PROJECT_TYPE, import, import_unresolved};
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};

/// Where something was written: a property path and a position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    pub path: String,
    pub pos: Pos,
}

impl Loc {
    pub fn new(path: impl Into<String>, pos: Pos) -> Self {
        Self {
            path: path.into(),
            pos,
        }
    }

    /// A child location (`Stages.2` + `Name`), at `pos`.
    pub fn child(&self, key: impl fmt::Display, pos: Pos) -> Loc {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Loc::new(path, pos)
    }

    fn error(&self, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, message)
            .at(self.pos)
            .path(self.path.clone())
    }
}

/// The user's text an element came from: its own location and those of its fields, keyed by
/// the CodePipeline property they became (`Name`, `RunOrder`, `InputArtifacts.0`,
/// `Configuration.StackName`). Not serialised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub loc: Loc,
    pub fields: BTreeMap<String, Loc>,
    /// Fields (`Configuration.S3Bucket`, `Actions`) written but not read because of an error
    /// already reported: checks that would only repeat it (a "missing" key, an empty list)
    /// skip them.
    pub unreadable: BTreeSet<String>,
}

impl Origin {
    pub fn new(loc: Loc) -> Self {
        Self {
            loc,
            fields: BTreeMap::new(),
            unreadable: BTreeSet::new(),
        }
    }

    pub fn mark_unreadable(&mut self, key: impl Into<String>) {
        self.unreadable.insert(key.into());
    }

    /// Where a field was written, or the element itself when the field was not written.
    pub fn field(&self, key: &str) -> &Loc {
        self.fields.get(key).unwrap_or(&self.loc)
    }

    pub fn set(&mut self, key: impl Into<String>, loc: Loc) {
        self.fields.insert(key.into(), loc);
    }
}

/// Which document a pipeline was read from; a few CodePipeline requirements that make no sense
/// for a local file (a `RoleArn` on every CloudFormation action) apply to imports only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DefinitionFormat {
    #[default]
    SlipwayFile,
    CloudFormation,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PipelineType {
    #[default]
    V1,
    V2,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    #[default]
    Superseded,
    Queued,
    Parallel,
}

impl ExecutionMode {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SUPERSEDED" => Self::Superseded,
            "QUEUED" => Self::Queued,
            "PARALLEL" => Self::Parallel,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superseded => "SUPERSEDED",
            Self::Queued => "QUEUED",
            Self::Parallel => "PARALLEL",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    Source,
    Build,
    Test,
    Deploy,
    Approval,
    Invoke,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "Source",
            Self::Build => "Build",
            Self::Test => "Test",
            Self::Deploy => "Deploy",
            Self::Approval => "Approval",
            Self::Invoke => "Invoke",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Owner {
    #[serde(rename = "AWS")]
    Aws,
    ThirdParty,
}

impl Owner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::ThirdParty => "ThirdParty",
        }
    }
}

/// The action providers Slipway runs. Everything else is refused at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Provider {
    S3,
    CodeCommit,
    /// GitHub (version 1, OAuth), `ThirdParty`.
    GitHub,
    CodeStarSourceConnection,
    CodeBuild,
    CloudFormation,
    Manual,
    Lambda,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "S3",
            Self::CodeCommit => "CodeCommit",
            Self::GitHub => "GitHub",
            Self::CodeStarSourceConnection => "CodeStarSourceConnection",
            Self::CodeBuild => "CodeBuild",
            Self::CloudFormation => "CloudFormation",
            Self::Manual => "Manual",
            Self::Lambda => "Lambda",
        }
    }

    /// (min inputs, max inputs, min outputs, max outputs), CodePipeline's limits.
    pub fn artifact_limits(self) -> (usize, usize, usize, usize) {
        match self {
            Self::S3 | Self::CodeCommit | Self::GitHub | Self::CodeStarSourceConnection => {
                (0, 0, 1, 1)
            }
            Self::CodeBuild => (1, 5, 0, 5),
            Self::CloudFormation => (0, 10, 0, 1),
            Self::Manual => (0, 0, 0, 0),
            Self::Lambda => (0, 5, 0, 5),
        }
    }

    /// The action timeout CodePipeline applies, in minutes.
    pub fn default_timeout_minutes(self) -> u32 {
        match self {
            // Source actions take what they are given; a generous bound.
            Self::S3 | Self::CodeCommit | Self::GitHub | Self::CodeStarSourceConnection => 60,
            Self::CodeBuild => 8 * 60,
            Self::CloudFormation => 3 * 24 * 60,
            Self::Manual => 7 * 24 * 60,
            // CodePipeline's quotas page: "AWS Lambda invoke action: 24 hours"; each job the
            // function does not answer within 20 minutes times out on its own
            // (`slipway_pipeline::jobs`).
            Self::Lambda => 24 * 60,
        }
    }

    /// Configuration keys: (required, optional).
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::S3 => (
                &["S3Bucket", "S3ObjectKey"],
                &["PollForSourceChanges", "AllowOverrideForS3ObjectKey"],
            ),
            Self::CodeCommit => (
                &["RepositoryName", "BranchName"],
                &["PollForSourceChanges", "OutputArtifactFormat"],
            ),
            Self::GitHub => (
                &["Owner", "Repo", "Branch", "OAuthToken"],
                &["PollForSourceChanges"],
            ),
            Self::CodeStarSourceConnection => (
                &["ConnectionArn", "FullRepositoryId", "BranchName"],
                &["OutputArtifactFormat", "DetectChanges"],
            ),
            Self::CodeBuild => (
                &["ProjectName"],
                &[
                    "PrimarySource",
                    "BatchEnabled",
                    "CombineArtifacts",
                    "EnvironmentVariables",
                ],
            ),
            Self::CloudFormation => (
                &["ActionMode", "StackName"],
                &[
                    "ChangeSetName",
                    "TemplatePath",
                    "TemplateConfiguration",
                    "Capabilities",
                    "RoleArn",
                    "OutputFileName",
                    "ParameterOverrides",
                ],
            ),
            Self::Manual => (
                &[],
                &["CustomData", "ExternalEntityLink", "NotificationArn"],
            ),
            Self::Lambda => (&["FunctionName"], &["UserParameters"]),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionTypeId {
    pub category: Category,
    pub owner: Owner,
    pub provider: Provider,
}

impl ActionTypeId {
    /// Recognises a supported `(category, owner, provider, version)`; `None` for anything else.
    pub fn parse(category: &str, owner: &str, provider: &str, version: &str) -> Option<Self> {
        let (c, o, p) = match (category, owner, provider, version) {
            ("Source", "AWS", "S3", "1") => (Category::Source, Owner::Aws, Provider::S3),
            ("Source", "AWS", "CodeCommit", "1") => {
                (Category::Source, Owner::Aws, Provider::CodeCommit)
            }
            ("Source", "ThirdParty", "GitHub", "1") => {
                (Category::Source, Owner::ThirdParty, Provider::GitHub)
            }
            ("Source", "AWS", "CodeStarSourceConnection", "1") => (
                Category::Source,
                Owner::Aws,
                Provider::CodeStarSourceConnection,
            ),
            ("Build", "AWS", "CodeBuild", "1") => {
                (Category::Build, Owner::Aws, Provider::CodeBuild)
            }
            ("Test", "AWS", "CodeBuild", "1") => (Category::Test, Owner::Aws, Provider::CodeBuild),
            ("Deploy", "AWS", "CloudFormation", "1") => {
                (Category::Deploy, Owner::Aws, Provider::CloudFormation)
            }
            ("Approval", "AWS", "Manual", "1") => {
                (Category::Approval, Owner::Aws, Provider::Manual)
            }
            ("Invoke", "AWS", "Lambda", "1") => (Category::Invoke, Owner::Aws, Provider::Lambda),
            _ => return None,
        };
        Some(Self {
            category: c,
            owner: o,
            provider: p,
        })
    }

    pub fn new(category: Category, provider: Provider) -> Self {
        let owner = match provider {
            Provider::GitHub => Owner::ThirdParty,
            Provider::S3
            | Provider::CodeCommit
            | Provider::CodeStarSourceConnection
            | Provider::CodeBuild
            | Provider::CloudFormation
            | Provider::Manual
            | Provider::Lambda => Owner::Aws,
        };
        Self {
            category,
            owner,
            provider,
        }
    }
}

impl fmt::Display for ActionTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/1",
            self.category.as_str(),
            self.owner.as_str(),
            self.provider.as_str()
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactStore {
    #[serde(rename = "type")]
    pub type_: String,
    pub location: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<GlobFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<GlobFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<GlobFilter>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<GlobFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<GlobFilter>,
}

/// A V2 trigger (`providerType: CodeStarSourceConnection`, git configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub source_action_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<PushFilter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_request: Vec<PullRequestFilter>,
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisabledTransition {
    pub stage_name: String,
    pub reason: String,
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvVarType {
    Plaintext,
    ParameterStore,
    SecretsManager,
}

impl EnvVarType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PLAINTEXT" => Self::Plaintext,
            "PARAMETER_STORE" => Self::ParameterStore,
            "SECRETS_MANAGER" => Self::SecretsManager,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type")]
    pub type_: EnvVarType,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BuildspecSource {
    /// `buildspec.yml` at the root of the primary source.
    Default,
    /// A path inside the primary source.
    Path(String),
    /// The buildspec text itself.
    Inline(String),
    /// `sam build` of the template at the source root.
    SamBuild,
}

/// What a CodeBuild action runs: the project it names, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildProject {
    pub name: String,
    pub buildspec: BuildspecSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_variables: Vec<EnvironmentVariable>,
    /// CodeBuild's default is 60 minutes.
    pub timeout_in_minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub name: String,
    pub action_type_id: ActionTypeId,
    pub run_order: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configuration: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_artifacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_artifacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
    /// Slipway: the target a deploy action's stack lives in (`account/region` or a short name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Slipway: the CodeBuild project this action runs, resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<BuildProject>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Action {
    /// The timeout CodePipeline applies to this action, in minutes.
    pub fn timeout_minutes(&self) -> u32 {
        self.timeout_in_minutes
            .unwrap_or_else(|| self.action_type_id.provider.default_timeout_minutes())
    }

    pub fn config(&self, key: &str) -> Option<&str> {
        self.configuration.get(key).map(String::as_str)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub name: String,
    pub actions: Vec<Action>,
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    pub name: String,
    pub format: DefinitionFormat,
    pub pipeline_type: PipelineType,
    pub execution_mode: ExecutionMode,
    /// The structure version (CodePipeline's `version`): 1 on creation, +1 on every update.
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_store: Option<ArtifactStore>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<Variable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_transitions: Vec<DisabledTransition>,
    pub stages: Vec<Stage>,
    #[serde(skip)]
    pub origin: Origin,
}

impl Pipeline {
    pub fn stage(&self, name: &str) -> Option<(usize, &Stage)> {
        self.stages.iter().enumerate().find(|(_, s)| s.name == name)
    }
}

/// What reading a pipeline gives: the pipelines when there are no errors, and every
/// diagnostic, sorted by position.
#[derive(Debug)]
pub struct Outcome {
    pub pipelines: Vec<Pipeline>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    fn from(pipelines: Vec<Pipeline>, diags: Diagnostics) -> Self {
        let failed = diags.has_errors();
        Self {
            pipelines: if failed { Vec::new() } else { pipelines },
            diagnostics: diags.into_sorted(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

// ---------------------------------------------------------------------------------------------
// Names and references.

/// Pipeline, stage and action names: `[A-Za-z0-9.@_-]`, 1–100 characters.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-'))
}

/// Artefact names: `[A-Za-z0-9_-]`, 1–100 characters.
pub fn valid_artifact_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// Namespaces and variable names: `[A-Za-z0-9@_-]`, 1–100 (namespaces) characters.
pub fn valid_namespace(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '-'))
}

/// A `#{namespace.name}` reference found in a configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarRef<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// The whole `#{…}` text.
    pub text: &'a str,
}

/// Every `#{…}` of a value, in order: a reference, or the text of a malformed one.
pub fn variable_refs(value: &str) -> Vec<Result<VarRef<'_>, &str>> {
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(i) = value[offset..].find("#{") {
        let start = offset + i;
        let after = &value[start + 2..];
        let Some(end) = after.find('}') else {
            out.push(Err(&value[start..]));
            break;
        };
        let inner = &after[..end];
        let text = &value[start..start + 2 + end + 1];
        match inner.split_once('.') {
            Some((ns, name))
                if valid_namespace(ns)
                    && !name.is_empty()
                    && !name.contains(['.', '{', '}', '#', '"']) =>
            {
                out.push(Ok(VarRef {
                    namespace: ns,
                    name,
                    text,
                }));
            }
            _ => out.push(Err(text)),
        }
        offset = start + 2 + end + 1;
    }
    out
}

/// `Artifact::path/in/artifact` as TemplatePath and TemplateConfiguration write it.
pub fn split_artifact_path(s: &str) -> Option<(&str, &str)> {
    let (a, f) = s.split_once("::")?;
    (!a.is_empty() && !f.is_empty()).then_some((a, f))
}

/// The account of an IAM role ARN (`arn:aws:iam::123456789012:role/x`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some(_), Some(_), Some(account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())).then_some(account)
}

pub const CAPABILITIES: &[&str] = &[
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

pub const ACTION_MODES: &[&str] = &[
    "CREATE_UPDATE",
    "DELETE_ONLY",
    "REPLACE_ON_FAILURE",
    "CHANGE_SET_REPLACE",
    "CHANGE_SET_EXECUTE",
];

// ---------------------------------------------------------------------------------------------
// Validation: CodePipeline's structural rules, shared by both ways in.

/// Checks a pipeline as CodePipeline's `CreatePipeline` does, pushing every problem.
pub fn validate(p: &Pipeline, diags: &mut Diagnostics) {
    let e = |loc: &Loc, msg: String| loc.error(Code::PipelineInvalid, msg);

    if !valid_name(&p.name) {
        diags.push(e(
            p.origin.field("Name"),
            format!(
                "pipeline name '{}' must be 1-100 characters of A-Z a-z 0-9 . @ _ -",
                p.name
            ),
        ));
    }
    let n = p.stages.len();
    if n < 2 && !p.origin.unreadable.contains("Stages") {
        diags.push(e(
            p.origin.field("Stages"),
            format!("a pipeline needs at least 2 stages, this one has {n}"),
        ));
    } else if n > 50 {
        diags.push(e(
            p.origin.field("Stages"),
            format!("a pipeline has at most 50 stages, this one has {n}"),
        ));
    }
    if p.pipeline_type == PipelineType::V1 {
        if p.execution_mode != ExecutionMode::Superseded {
            diags.push(e(
                p.origin.field("ExecutionMode"),
                format!(
                    "execution mode {} needs PipelineType V2",
                    p.execution_mode.as_str()
                ),
            ));
        }
        if !p.variables.is_empty() {
            diags.push(e(
                p.origin.field("Variables"),
                "pipeline variables need PipelineType V2".into(),
            ));
        }
        if !p.triggers.is_empty() {
            diags.push(e(
                p.origin.field("Triggers"),
                "triggers need PipelineType V2".into(),
            ));
        }
    }
    let total: usize = p.stages.iter().map(|s| s.actions.len()).sum();
    if total > 500 {
        diags.push(e(
            p.origin.field("Stages"),
            format!("a pipeline has at most 500 actions, this one has {total}"),
        ));
    }

    // Pipeline variables.
    let mut var_names = BTreeSet::new();
    for v in &p.variables {
        let ok = !v.name.is_empty()
            && v.name.len() <= 128
            && v.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_'));
        if !ok {
            diags.push(e(
                v.origin.field("Name"),
                format!(
                    "variable name '{}' must be 1-128 characters of A-Z a-z 0-9 @ - _",
                    v.name
                ),
            ));
        }
        if !var_names.insert(v.name.as_str()) {
            diags.push(e(
                v.origin.field("Name"),
                format!("variable '{}' is declared twice", v.name),
            ));
        }
        if v.default_value.as_ref().is_some_and(|d| d.len() > 1000) {
            diags.push(e(
                v.origin.field("DefaultValue"),
                "a variable's default value is at most 1000 characters".into(),
            ));
        }
        if v.description.as_ref().is_some_and(|d| d.len() > 200) {
            diags.push(e(
                v.origin.field("Description"),
                "a variable's description is at most 200 characters".into(),
            ));
        }
    }

    // Stages and actions.
    let mut stage_names: BTreeMap<&str, &Loc> = BTreeMap::new();
    // artefact name → (stage index, run order) of its producer
    let mut produced: BTreeMap<&str, (usize, u32)> = BTreeMap::new();
    // namespace → (stage index, run order)
    let mut namespaces: BTreeMap<&str, (usize, u32, &Loc)> = BTreeMap::new();
    // Every producer first: an input may come from a lower runOrder of the same stage.
    for (si, stage) in p.stages.iter().enumerate() {
        for a in &stage.actions {
            for (i, out) in a.output_artifacts.iter().enumerate() {
                let loc = a.origin.field(&format!("OutputArtifacts.{i}"));
                if !valid_artifact_name(out) {
                    diags.push(e(
                        loc,
                        format!(
                            "artefact name '{out}' must be 1-100 characters of A-Z a-z 0-9 _ -"
                        ),
                    ));
                }
                if produced.contains_key(out.as_str()) {
                    diags.push(e(
                        loc,
                        format!("output artefact '{out}' is produced by more than one action"),
                    ));
                } else {
                    produced.insert(out, (si, a.run_order));
                }
            }
            if let Some(ns) = &a.namespace {
                namespaces
                    .entry(ns)
                    .or_insert((si, a.run_order, a.origin.field("Namespace")));
            }
        }
    }
    for (si, stage) in p.stages.iter().enumerate() {
        let name_loc = stage.origin.field("Name");
        if !valid_name(&stage.name) {
            diags.push(e(
                name_loc,
                format!(
                    "stage name '{}' must be 1-100 characters of A-Z a-z 0-9 . @ _ -",
                    stage.name
                ),
            ));
        }
        if let Some(first) = stage_names.insert(&stage.name, name_loc) {
            diags.push(
                e(
                    name_loc,
                    format!("stage name '{}' is used twice", stage.name),
                )
                .related("first used here", Some(first.pos)),
            );
        }
        if stage.actions.is_empty() && !stage.origin.unreadable.contains("Actions") {
            diags.push(e(
                stage.origin.field("Actions"),
                format!("stage '{}' has no actions", stage.name),
            ));
        }
        if stage.actions.len() > 50 {
            diags.push(e(
                stage.origin.field("Actions"),
                format!(
                    "a stage has at most 50 actions, '{}' has {}",
                    stage.name,
                    stage.actions.len()
                ),
            ));
        }
        let mut action_names: BTreeMap<&str, &Loc> = BTreeMap::new();
        for a in &stage.actions {
            let aname = a.origin.field("Name");
            if !valid_name(&a.name) {
                diags.push(e(
                    aname,
                    format!(
                        "action name '{}' must be 1-100 characters of A-Z a-z 0-9 . @ _ -",
                        a.name
                    ),
                ));
            }
            if let Some(first) = action_names.insert(&a.name, aname) {
                diags.push(
                    e(
                        aname,
                        format!(
                            "action name '{}' is used twice in stage '{}'",
                            a.name, stage.name
                        ),
                    )
                    .related("first used here", Some(first.pos)),
                );
            }
            let is_source = a.action_type_id.category == Category::Source;
            if si == 0 && !is_source {
                diags.push(e(
                    a.origin.field("ActionTypeId"),
                    format!(
                        "the first stage may only hold source actions; '{}' is a {} action",
                        a.name,
                        a.action_type_id.category.as_str()
                    ),
                ));
            }
            if si > 0 && is_source {
                diags.push(e(
                    a.origin.field("ActionTypeId"),
                    format!(
                        "source action '{}' must be in the first stage, not in '{}'",
                        a.name, stage.name
                    ),
                ));
            }
            if a.run_order == 0 || a.run_order > 999 {
                diags.push(e(
                    a.origin.field("RunOrder"),
                    format!("runOrder must be 1-999, not {}", a.run_order),
                ));
            }
            if a.timeout_in_minutes == Some(0) {
                diags.push(e(
                    a.origin.field("TimeoutInMinutes"),
                    "TimeoutInMinutes must be positive".into(),
                ));
            }
            // Artefact counts.
            let (imin, imax, omin, omax) = a.action_type_id.provider.artifact_limits();
            let (ni, no) = (a.input_artifacts.len(), a.output_artifacts.len());
            if ni < imin || ni > imax {
                diags.push(e(
                    a.origin.field("InputArtifacts"),
                    format!(
                        "a {} action takes {} input artefacts, '{}' has {ni}",
                        a.action_type_id.provider.as_str(),
                        range(imin, imax),
                        a.name
                    ),
                ));
            }
            if no < omin || no > omax {
                diags.push(e(
                    a.origin.field("OutputArtifacts"),
                    format!(
                        "a {} action produces {} output artefacts, '{}' has {no}",
                        a.action_type_id.provider.as_str(),
                        range(omin, omax),
                        a.name
                    ),
                ));
            }
            // Inputs come from earlier actions.
            let mut seen_inputs = BTreeSet::new();
            for (i, input) in a.input_artifacts.iter().enumerate() {
                let loc = a.origin.field(&format!("InputArtifacts.{i}"));
                if !seen_inputs.insert(input.as_str()) {
                    diags.push(e(loc, format!("input artefact '{input}' is listed twice")));
                    continue;
                }
                match produced.get(input.as_str()) {
                    Some(&(ps, pr)) if ps < si || (ps == si && pr < a.run_order) => {}
                    Some(_) => diags.push(e(
                        loc,
                        format!(
                            "input artefact '{input}' of action '{}' is produced by an action that does not run before it",
                            a.name
                        ),
                    ).help("an input must be the output of an action in an earlier stage, or of a lower runOrder in the same stage")),
                    None => {
                        let mut d = e(
                            loc,
                            format!("input artefact '{input}' of action '{}' is not produced by any earlier action", a.name),
                        );
                        if let Some(s) = did_you_mean(input, produced.keys().copied())
                        {
                            d = d.help(format!("did you mean '{s}'?"));
                        }
                        diags.push(d);
                    }
                }
            }
            // Namespaces (checked against artefacts below, once all are known).
            if let Some(ns) = &a.namespace {
                let loc = a.origin.field("Namespace");
                if !valid_namespace(ns) {
                    diags.push(e(
                        loc,
                        format!("namespace '{ns}' must be 1-100 characters of A-Z a-z 0-9 @ _ -"),
                    ));
                } else if ns == "codepipeline" || ns == "variables" {
                    diags.push(e(loc, format!("namespace '{ns}' is reserved")));
                } else if let Some((_, _, first)) = namespaces.get(ns.as_str())
                    && *first != loc
                {
                    diags.push(
                        e(loc, format!("namespace '{ns}' is used twice"))
                            .related("first used here", Some(first.pos)),
                    );
                }
            }
            check_configuration(p, a, diags);
        }
    }
    for ns in namespaces.keys() {
        if produced.contains_key(ns) {
            let (_, _, loc) = namespaces[ns];
            diags.push(e(
                loc,
                format!("namespace '{ns}' has the same name as an artefact"),
            ));
        }
    }

    // Variable references: only to namespaces of strictly earlier actions.
    for (si, stage) in p.stages.iter().enumerate() {
        for a in &stage.actions {
            let mut fields: Vec<(String, &str)> = a
                .configuration
                .iter()
                .map(|(k, v)| (format!("Configuration.{k}"), v.as_str()))
                .collect();
            if let Some(r) = &a.region {
                fields.push(("Region".into(), r));
            }
            if let Some(r) = &a.role_arn {
                fields.push(("RoleArn".into(), r));
            }
            if let Some(proj) = &a.project {
                for v in &proj.environment_variables {
                    fields.push(("Configuration.ProjectName".into(), &v.value));
                }
            }
            for (key, value) in fields {
                let loc = a.origin.field(&key);
                for r in variable_refs(value) {
                    let r = match r {
                        Ok(r) => r,
                        Err(bad) => {
                            diags.push(e(loc, format!("'{bad}' is not a variable reference of the form #{{namespace.name}}")));
                            continue;
                        }
                    };
                    match r.namespace {
                        "codepipeline" => {
                            if r.name != "PipelineExecutionId" {
                                diags.push(e(loc, format!("{} is not a pipeline-level variable; only #{{codepipeline.PipelineExecutionId}} is", r.text)));
                            }
                        }
                        "variables" => {
                            if p.pipeline_type == PipelineType::V1 {
                                diags.push(e(
                                    loc,
                                    format!("{} needs PipelineType V2", r.text),
                                ));
                            } else if !var_names.contains(r.name) {
                                let mut d = e(
                                    loc,
                                    format!(
                                        "{} names a pipeline variable that is not declared",
                                        r.text
                                    ),
                                );
                                if let Some(s) = did_you_mean(r.name, var_names.iter().copied())
                                {
                                    d = d.help(format!("did you mean '{s}'?"));
                                }
                                diags.push(d);
                            }
                        }
                        ns => match namespaces.get(ns) {
                            Some(&(ps, pr, _)) if ps < si || (ps == si && pr < a.run_order) => {}
                            Some(_) => diags.push(e(
                                loc,
                                format!(
                                    "{} refers to namespace '{ns}' of an action that does not run before '{}'",
                                    r.text, a.name
                                ),
                            )),
                            None => {
                                let mut d = e(
                                    loc,
                                    format!("{} refers to namespace '{ns}', which no action declares", r.text),
                                );
                                if let Some(s) = did_you_mean(ns, namespaces.keys().copied()) {
                                    d = d.help(format!("did you mean '{s}'?"));
                                }
                                diags.push(d);
                            }
                        },
                    }
                }
            }
        }
    }

    // Triggers.
    let sources: BTreeMap<&str, &Action> = p
        .stages
        .first()
        .map(|s| {
            s.actions
                .iter()
                .filter(|a| a.action_type_id.category == Category::Source)
                .map(|a| (a.name.as_str(), a))
                .collect()
        })
        .unwrap_or_default();
    let mut triggered = BTreeSet::new();
    for t in &p.triggers {
        let loc = t.origin.field("SourceActionName");
        match sources.get(t.source_action_name.as_str()) {
            None => diags.push(e(
                loc,
                format!(
                    "trigger names source action '{}', which the first stage does not have",
                    t.source_action_name
                ),
            )),
            Some(a) if a.action_type_id.provider != Provider::CodeStarSourceConnection => {
                diags.push(e(
                    loc,
                    format!(
                        "triggers are only for CodeStarSourceConnection sources; '{}' is {}",
                        t.source_action_name,
                        a.action_type_id.provider.as_str()
                    ),
                ));
            }
            Some(_) => {}
        }
        if !triggered.insert(t.source_action_name.as_str()) {
            diags.push(e(
                loc,
                format!(
                    "source action '{}' has more than one trigger",
                    t.source_action_name
                ),
            ));
        }
        for (key, len) in [
            ("Push", t.push.len()),
            ("PullRequest", t.pull_request.len()),
        ] {
            if len > 3 {
                diags.push(e(
                    t.origin.field(key),
                    format!("a trigger has at most 3 {key} filters, this one has {len}"),
                ));
            }
        }
        if t.push.is_empty() && t.pull_request.is_empty() {
            diags.push(e(
                &t.origin.loc,
                "a trigger needs a Push or PullRequest filter".into(),
            ));
        }
        let globs = t
            .push
            .iter()
            .flat_map(|f| [&f.branches, &f.file_paths, &f.tags])
            .chain(
                t.pull_request
                    .iter()
                    .flat_map(|f| [&f.branches, &f.file_paths]),
            )
            .flatten();
        for g in globs {
            if g.includes.len() > 8 || g.excludes.len() > 8 {
                diags.push(e(
                    &t.origin.loc,
                    "a trigger's includes and excludes hold at most 8 patterns each".into(),
                ));
            }
        }
        for f in &t.pull_request {
            for ev in &f.events {
                if !matches!(ev.as_str(), "OPEN" | "UPDATED" | "CLOSED") {
                    diags.push(e(
                        t.origin.field("PullRequest"),
                        format!("pull request event '{ev}' is not OPEN, UPDATED or CLOSED"),
                    ));
                }
            }
        }
    }

    // Transitions disabled at creation.
    for d in &p.disabled_transitions {
        let loc = d.origin.field("StageName");
        match p.stage(&d.stage_name) {
            None => diags.push(e(
                loc,
                format!(
                    "DisableInboundStageTransitions names stage '{}', which does not exist",
                    d.stage_name
                ),
            )),
            Some((0, _)) => diags.push(e(
                loc,
                format!(
                    "the first stage '{}' has no inbound transition",
                    d.stage_name
                ),
            )),
            Some(_) => {}
        }
    }
}

fn range(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min}-{max}")
    }
}

/// Provider configuration: required and known keys, value limits, and the CloudFormation
/// action's rules (§5.8).
fn check_configuration(p: &Pipeline, a: &Action, diags: &mut Diagnostics) {
    let provider = a.action_type_id.provider;
    let (required, optional) = provider.keys();
    let cfg_loc = a.origin.field("Configuration");
    let key_loc = |k: &str| a.origin.field(&format!("Configuration.{k}"));
    let inv = |loc: &Loc, msg: String| loc.error(Code::PipelineInvalid, msg);
    for (k, v) in &a.configuration {
        let loc = key_loc(k);
        if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
            let mut d = inv(
                loc,
                format!(
                    "'{k}' is not a configuration property of the {} action",
                    provider.as_str()
                ),
            );
            if let Some(s) = did_you_mean(k, required.iter().chain(optional).copied()) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
        }
        if k.len() > 50 {
            diags.push(inv(
                loc,
                "a configuration key is at most 50 characters".into(),
            ));
        }
        if v.len() > 1000 {
            diags.push(inv(
                loc,
                format!(
                    "configuration value '{k}' is {} characters; at most 1000",
                    v.len()
                ),
            ));
        }
    }
    for k in required {
        if !a.configuration.contains_key(*k)
            && !a.origin.unreadable.contains(&format!("Configuration.{k}"))
        {
            diags.push(inv(
                cfg_loc,
                format!(
                    "the {} action '{}' needs configuration property '{k}'",
                    provider.as_str(),
                    a.name
                ),
            ));
        }
    }
    let has_var = |v: &str| v.contains("#{");
    match provider {
        Provider::CodeBuild => {
            if a.input_artifacts.len() > 1 {
                match a.config("PrimarySource") {
                    None => diags.push(inv(
                        cfg_loc,
                        format!(
                            "CodeBuild action '{}' has {} inputs and needs 'PrimarySource'",
                            a.name,
                            a.input_artifacts.len()
                        ),
                    )),
                    Some(ps) if !a.input_artifacts.iter().any(|i| i == ps) => diags.push(inv(
                        key_loc("PrimarySource"),
                        format!(
                            "PrimarySource '{ps}' is not an input artefact of '{}'",
                            a.name
                        ),
                    )),
                    Some(_) => {}
                }
            }
            for k in ["BatchEnabled", "CombineArtifacts"] {
                if let Some(v) = a.config(k) {
                    if v == "true" {
                        diags.push(key_loc(k).error(
                            Code::PipelineUnsupported,
                            format!("{k}: batch builds are not supported"),
                        ));
                    } else if v != "false" {
                        diags.push(inv(
                            key_loc(k),
                            format!("{k} must be true or false, not '{v}'"),
                        ));
                    }
                }
            }
            if let Some(v) = a.config("EnvironmentVariables")
                && let Err(msg) = parse_env_vars(v)
            {
                diags.push(inv(key_loc("EnvironmentVariables"), msg));
            }
        }
        Provider::CloudFormation => check_cloudformation(p, a, diags),
        Provider::Manual => {
            if let Some(v) = a.config("CustomData")
                && v.len() > 500
            {
                diags.push(inv(
                    key_loc("CustomData"),
                    "CustomData is at most 500 characters".into(),
                ));
            }
            if let Some(v) = a.config("NotificationArn")
                && !has_var(v)
                && !v.starts_with("arn:aws:sns:")
            {
                diags.push(inv(
                    key_loc("NotificationArn"),
                    format!("NotificationArn '{v}' is not an SNS topic ARN"),
                ));
            }
        }
        Provider::S3
        | Provider::CodeCommit
        | Provider::GitHub
        | Provider::CodeStarSourceConnection => {
            for k in ["PollForSourceChanges", "DetectChanges"] {
                if let Some(v) = a.config(k)
                    && v != "true"
                    && v != "false"
                {
                    diags.push(inv(
                        key_loc(k),
                        format!("{k} must be true or false, not '{v}'"),
                    ));
                }
            }
            if let Some(v) = a.config("OutputArtifactFormat")
                && v != "CODE_ZIP"
            {
                diags.push(key_loc("OutputArtifactFormat").error(
                    Code::PipelineUnsupported,
                    format!("OutputArtifactFormat '{v}' is not supported; only CODE_ZIP (full clones are not)"),
                ));
            }
        }
        Provider::Lambda => {}
    }
}

/// The CodeBuild action's `EnvironmentVariables` JSON.
pub fn parse_env_vars(text: &str) -> Result<Vec<EnvironmentVariable>, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("EnvironmentVariables is not valid JSON: {e}"))?;
    let items = value
        .as_array()
        .ok_or("EnvironmentVariables must be a JSON list of {name, value, type}")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or(format!("EnvironmentVariables item {i} is not an object"))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "name" | "value" | "type") {
                return Err(format!(
                    "EnvironmentVariables item {i} has unknown key '{k}'"
                ));
            }
        }
        let name = obj.get("name").and_then(|v| v.as_str()).ok_or(format!(
            "EnvironmentVariables item {i} needs a string 'name'"
        ))?;
        let value = obj.get("value").and_then(|v| v.as_str()).ok_or(format!(
            "EnvironmentVariables item {i} needs a string 'value'"
        ))?;
        let type_ = match obj.get("type") {
            None => EnvVarType::Plaintext,
            Some(t) => t.as_str().and_then(EnvVarType::parse).ok_or(format!(
                "EnvironmentVariables item {i}: type must be PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER"
            ))?,
        };
        out.push(EnvironmentVariable {
            name: name.into(),
            value: value.into(),
            type_,
        });
    }
    Ok(out)
}

fn check_cloudformation(p: &Pipeline, a: &Action, diags: &mut Diagnostics) {
    let key_loc = |k: &str| a.origin.field(&format!("Configuration.{k}"));
    let cfg_loc = a.origin.field("Configuration");
    let inv = |loc: &Loc, msg: String| loc.error(Code::PipelineInvalid, msg);
    let mode = a.config("ActionMode");
    if let Some(m) = mode
        && !ACTION_MODES.contains(&m)
    {
        let mut d = inv(
            key_loc("ActionMode"),
            format!("ActionMode '{m}' is not one of {}", ACTION_MODES.join(", ")),
        );
        if let Some(s) = did_you_mean(m, ACTION_MODES.iter().copied()) {
            d = d.help(format!("did you mean '{s}'?"));
        }
        diags.push(d);
    }
    if let Some(s) = a.config("StackName")
        && !s.contains("#{")
    {
        let ok = s.len() <= 128
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            diags.push(inv(
                key_loc("StackName"),
                format!(
                    "StackName '{s}' must start with a letter and hold only A-Z a-z 0-9 -, at most 128 characters"
                ),
            ));
        }
    }
    let needs =
        |k: &str, modes: &[&str]| mode.is_some_and(|m| modes.contains(&m)) && a.config(k).is_none();
    let change_set = ["CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE"];
    if needs("ChangeSetName", &change_set) {
        diags.push(inv(
            cfg_loc,
            format!(
                "ActionMode {} needs 'ChangeSetName'",
                mode.unwrap_or_default()
            ),
        ));
    }
    let with_template = ["CREATE_UPDATE", "REPLACE_ON_FAILURE", "CHANGE_SET_REPLACE"];
    if needs("TemplatePath", &with_template) {
        diags.push(inv(
            cfg_loc,
            format!(
                "ActionMode {} needs 'TemplatePath'",
                mode.unwrap_or_default()
            ),
        ));
    }
    if p.format == DefinitionFormat::CloudFormation
        && needs(
            "RoleArn",
            &[
                "CREATE_UPDATE",
                "REPLACE_ON_FAILURE",
                "DELETE_ONLY",
                "CHANGE_SET_REPLACE",
            ],
        )
    {
        diags.push(inv(
            cfg_loc,
            format!("ActionMode {} needs 'RoleArn'", mode.unwrap_or_default()),
        ));
    }
    for k in ["TemplatePath", "TemplateConfiguration"] {
        let Some(v) = a.config(k) else { continue };
        match split_artifact_path(v) {
            None => diags.push(inv(
                key_loc(k),
                format!("{k} '{v}' must be written ArtifactName::path/in/artifact"),
            )),
            Some((art, _)) if !a.input_artifacts.iter().any(|i| i == art) => diags.push(inv(
                key_loc(k),
                format!(
                    "{k} names artefact '{art}', which is not an input artefact of '{}'",
                    a.name
                ),
            )),
            Some(_) => {}
        }
    }
    if let Some(v) = a.config("Capabilities") {
        for c in v.split(',').map(str::trim) {
            if !CAPABILITIES.contains(&c) {
                diags.push(inv(
                    key_loc("Capabilities"),
                    format!("capability '{c}' is not one of {}", CAPABILITIES.join(", ")),
                ));
            }
        }
    }
    if a.config("OutputFileName").is_some() && a.output_artifacts.is_empty() {
        diags.push(inv(
            key_loc("OutputFileName"),
            format!(
                "OutputFileName needs an output artefact on '{}' to write into",
                a.name
            ),
        ));
    }
    if let Some(v) = a.config("ParameterOverrides") {
        if let Err(msg) = check_parameter_overrides(v, &a.input_artifacts) {
            diags.push(inv(key_loc("ParameterOverrides"), msg));
        }
    }
}

/// A parameter override value: a string, or one of the two functions CodePipeline evaluates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OverrideValue {
    Literal(String),
    /// `Fn::GetArtifactAtt [artifact, BucketName | ObjectKey | URL]`
    ArtifactAtt {
        artifact: String,
        attribute: String,
    },
    /// `Fn::GetParam [artifact, file.json, key]`
    Param {
        artifact: String,
        file: String,
        key: String,
    },
}

/// Parses `ParameterOverrides`: a JSON object of at most 1 KB.
pub fn parse_parameter_overrides(text: &str) -> Result<IndexMap<String, OverrideValue>, String> {
    if text.len() > 1024 {
        return Err(format!(
            "ParameterOverrides is {} bytes; CloudFormation actions accept at most 1 KB",
            text.len()
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("ParameterOverrides is not valid JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("ParameterOverrides must be a JSON object of parameter names to values")?;
    let mut out = IndexMap::new();
    for (name, v) in obj {
        let parsed = match v {
            serde_json::Value::String(s) => OverrideValue::Literal(s.clone()),
            serde_json::Value::Object(f) if f.len() == 1 => {
                let (fname, args) = f.iter().next().ok_or("empty function")?;
                let args: Vec<&str> = args
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                match (fname.as_str(), args.as_slice()) {
                    ("Fn::GetArtifactAtt", [art, attr]) => {
                        if !matches!(*attr, "BucketName" | "ObjectKey" | "URL") {
                            return Err(format!(
                                "Fn::GetArtifactAtt of '{name}' asks for '{attr}'; an artefact has BucketName, ObjectKey and URL"
                            ));
                        }
                        OverrideValue::ArtifactAtt {
                            artifact: (*art).into(),
                            attribute: (*attr).into(),
                        }
                    }
                    ("Fn::GetParam", [art, file, key]) => OverrideValue::Param {
                        artifact: (*art).into(),
                        file: (*file).into(),
                        key: (*key).into(),
                    },
                    ("Fn::GetArtifactAtt", _) => {
                        return Err(format!(
                            "Fn::GetArtifactAtt of '{name}' takes [ArtifactName, BucketName|ObjectKey|URL]"
                        ));
                    }
                    ("Fn::GetParam", _) => {
                        return Err(format!(
                            "Fn::GetParam of '{name}' takes [ArtifactName, file.json, key]"
                        ));
                    }
                    (other, _) => {
                        return Err(format!(
                            "parameter override '{name}' uses '{other}'; only Fn::GetArtifactAtt and Fn::GetParam are evaluated"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "parameter override '{name}' must be a string or a Fn::GetArtifactAtt / Fn::GetParam, not {other}"
                ));
            }
        };
        out.insert(name.clone(), parsed);
    }
    Ok(out)
}

fn check_parameter_overrides(text: &str, inputs: &[String]) -> Result<(), String> {
    for (name, v) in parse_parameter_overrides(text)? {
        let art = match &v {
            OverrideValue::Literal(_) => continue,
            OverrideValue::ArtifactAtt { artifact, .. } | OverrideValue::Param { artifact, .. } => {
                artifact
            }
        };
        if !inputs.iter().any(|i| i == art) {
            return Err(format!(
                "parameter override '{name}' reads artefact '{art}', which is not an input artefact of the action"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_references_are_found_and_malformed_ones_reported() {
        let refs = variable_refs("a #{Src.CommitId} b #{codepipeline.PipelineExecutionId} #{bad}");
        assert_eq!(refs.len(), 3);
        let ok = refs[0].as_ref().unwrap();
        assert_eq!(
            (ok.namespace, ok.name, ok.text),
            ("Src", "CommitId", "#{Src.CommitId}")
        );
        assert_eq!(refs[2], Err("#{bad}"));
        assert_eq!(variable_refs("#{open"), vec![Err("#{open")]);
        assert!(variable_refs("no refs {here}").is_empty());
    }

    #[test]
    fn artifact_paths_arns_and_targets() {
        assert_eq!(
            split_artifact_path("Build::a/b.yaml"),
            Some(("Build", "a/b.yaml"))
        );
        assert_eq!(split_artifact_path("template.yaml"), None);
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:role/x"),
            Some("123456789012")
        );
        assert_eq!(arn_account("arn:aws:iam::12:role/x"), None);
        assert!(valid_target("111111111111/us-east-1"));
        assert!(valid_target("prod"));
        assert!(!valid_target("1111/us-east-1"));
        assert!(!valid_target("a b"));
    }

    #[test]
    fn parameter_overrides_parse_both_functions() {
        let o = parse_parameter_overrides(
            r#"{"A": "x", "B": {"Fn::GetArtifactAtt": ["Out", "URL"]}, "C": {"Fn::GetParam": ["Out", "o.json", "k"]}}"#,
        )
        .unwrap();
        assert_eq!(o["A"], OverrideValue::Literal("x".into()));
        assert_eq!(
            o["B"],
            OverrideValue::ArtifactAtt {
                artifact: "Out".into(),
                attribute: "URL".into()
            }
        );
        assert!(parse_parameter_overrides("[]").is_err());
        assert!(
            parse_parameter_overrides(&format!("{{\"A\": \"{}\"}}", "x".repeat(1100))).is_err()
        );
    }

    #[test]
    fn action_types_outside_the_supported_set_are_refused() {
        assert!(ActionTypeId::parse("Build", "AWS", "CodeBuild", "1").is_some());
        assert!(ActionTypeId::parse("Build", "AWS", "CodeBuild", "2").is_none());
        assert!(ActionTypeId::parse("Deploy", "AWS", "CodeDeploy", "1").is_none());
        assert!(ActionTypeId::parse("Source", "ThirdParty", "GitHub", "2").is_none());
    }
}
