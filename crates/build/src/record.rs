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
    /// Where CodeBuild would put it in S3, when the buildspec gives an `s3-prefix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
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

fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        #[allow(clippy::cast_precision_loss)]
        let s = ms as f64 / 1000.0;
        format!("{s:.2} s")
    }
}

impl BuildResult {
    /// The closing summary of `slipway build`: status, per-phase durations, test report counts
    /// with the failing tests, artefacts with their hashes and sizes, exported variables.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Build {} (#{}) {} in {}",
            self.id,
            self.number,
            self.status.api_name(),
            fmt_ms(self.end_ms.saturating_sub(self.start_ms))
        );
        for p in &self.phases {
            let Some(st) = p.status else { continue };
            if matches!(p.phase, BuildPhase::Submitted | BuildPhase::Queued) {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<17} {:<10} {:>9}",
                p.phase.api_name(),
                st.api_name(),
                fmt_ms(p.duration_ms())
            );
            if let Some(c) = &p.context
                && st != Status::Succeeded
            {
                let _ = writeln!(out, "    {c}");
            }
        }
        for r in &self.reports {
            let s = r.summary;
            let _ = writeln!(
                out,
                "Report {}: {} test(s): {} succeeded, {} failed, {} error, {} skipped",
                r.group, s.total, s.succeeded, s.failed, s.error, s.skipped
            );
            for c in r.failures() {
                let who = if c.classname.is_empty() {
                    c.name.clone()
                } else {
                    format!("{}::{}", c.classname, c.name)
                };
                let _ = writeln!(out, "  FAILED {who}");
            }
            for e in &r.errors {
                let _ = writeln!(out, "  warning: {e}");
            }
        }
        for a in &self.artifacts {
            let _ = writeln!(
                out,
                "Artifact {}{}: {} file(s), {} bytes, sha256:{}",
                a.identifier,
                a.name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                a.files,
                a.size,
                a.sha256
            );
        }
        for (k, v) in &self.exported_variables {
            let _ = writeln!(out, "Exported {k}={v}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}
