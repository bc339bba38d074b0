//! What a build leaves behind: its status, each phase with its status and duration, each
//! command with its exit status, the test reports and the artefacts. Serialised as
//! `build.json` in the build's directory; the names follow CodeBuild's `BatchGetBuilds`.

use indexmap::IndexMap;
use serde::Serialize;
use slipway_model::buildspec::PhaseName;

/// CodeBuild's `BuildPhase` types, in the order a build goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildPhase {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

impl BuildPhase {
    pub fn api_name(self) -> &'static str {
        match self {
            BuildPhase::Submitted => "SUBMITTED",
            BuildPhase::Queued => "QUEUED",
            BuildPhase::Provisioning => "PROVISIONING",
            BuildPhase::DownloadSource => "DOWNLOAD_SOURCE",
            BuildPhase::Install => "INSTALL",
            BuildPhase::PreBuild => "PRE_BUILD",
            BuildPhase::Build => "BUILD",
            BuildPhase::PostBuild => "POST_BUILD",
            BuildPhase::UploadArtifacts => "UPLOAD_ARTIFACTS",
            BuildPhase::Finalizing => "FINALIZING",
            BuildPhase::Completed => "COMPLETED",
        }
    }
}

impl From<PhaseName> for BuildPhase {
    fn from(p: PhaseName) -> Self {
        match p {
            PhaseName::Install => BuildPhase::Install,
            PhaseName::PreBuild => BuildPhase::PreBuild,
            PhaseName::Build => BuildPhase::Build,
            PhaseName::PostBuild => BuildPhase::PostBuild,
        }
    }
}

/// CodeBuild's `StatusType`, for phases and for the build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    InProgress,
    Stopped,
}

impl Status {
    pub fn api_name(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Fault => "FAULT",
            Status::TimedOut => "TIMED_OUT",
            Status::InProgress => "IN_PROGRESS",
            Status::Stopped => "STOPPED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhaseRecord {
    pub phase: BuildPhase,
    /// `None` only for `COMPLETED`, which has no status in CodeBuild either.
    pub status: Option<Status>,
    pub start_ms: u64,
    pub end_ms: u64,
    /// `COMMAND_EXECUTION_ERROR: Error while executing command: make. Reason: exit status 2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl PhaseRecord {
    pub fn duration_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Commands,
    Finally,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandRecord {
    pub phase: BuildPhase,
    pub section: Section,
    pub index: usize,
    /// As written in the buildspec, secrets masked.
    pub command: String,
    /// `None` when the command never finished (timeout, stop).
    pub exit_code: Option<i32>,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TestStatus {
    Succeeded,
    Failed,
    Error,
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestCase {
    pub suite: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub classname: String,
    pub status: TestStatus,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TestSummary {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub error: usize,
    pub skipped: usize,
}

impl TestSummary {
    pub fn of(cases: &[TestCase]) -> TestSummary {
        let mut s = TestSummary {
            total: cases.len(),
            ..TestSummary::default()
        };
        for c in cases {
            match c.status {
                TestStatus::Succeeded => s.succeeded += 1,
                TestStatus::Failed => s.failed += 1,
                TestStatus::Error => s.error += 1,
                TestStatus::Skipped => s.skipped += 1,
            }
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportRecord {
    /// `<project>-<report group>`, as CodeBuild names report groups declared in a buildspec.
    pub group: String,
    /// Files read, relative to the source directory.
    pub files: Vec<String>,
    pub summary: TestSummary,
    pub cases: Vec<TestCase>,
    /// Files that matched but could not be read as JUnit XML.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl ReportRecord {
    pub fn failures(&self) -> impl Iterator<Item = &TestCase> {
        self.cases
            .iter()
            .filter(|c| matches!(c.status, TestStatus::Failed | TestStatus::Error))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactRecord {
    /// `primary`, or the secondary artifact's identifier.
    pub identifier: String,
    /// `name` after shell expansion, when the buildspec gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub sha256: String,
    pub size: u64,
    pub files: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildResult {
    pub id: String,
    pub arn: String,
    pub project: String,
    pub number: u64,
    pub status: Status,
    pub start_ms: u64,
    pub end_ms: u64,
    pub phases: Vec<PhaseRecord>,
    pub commands: Vec<CommandRecord>,
    /// `env.exported-variables` as they were at the end of the last phase that ran.
    #[serde(serialize_with = "ordered")]
    pub exported_variables: IndexMap<String, String>,
    pub reports: Vec<ReportRecord>,
    pub artifacts: Vec<ArtifactRecord>,
    /// Warnings the build produced (runtime-versions mismatches and the like).
    pub warnings: Vec<String>,
    pub src_dir: std::path::PathBuf,
    pub log_path: std::path::PathBuf,
}

impl BuildResult {
    pub fn succeeded(&self) -> bool {
        self.status == Status::Succeeded
    }

    pub fn phase(&self, p: BuildPhase) -> Option<&PhaseRecord> {
        self.phases.iter().find(|r| r.phase == p)
    }
}

fn ordered<S: serde::Serializer>(m: &IndexMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter())
}
