//! Local git repositories as pipeline sources, through the `git` CLI.
//!
//! A source action (`CodeStarSourceConnection`, GitHub, CodeCommit) names a repository
//! (`FullRepositoryId`, or `RepositoryName` / `Repo` for the older providers) and a branch. The
//! repository is a local path, relative to the project directory ([`GitSource::project_dir`]):
//! `slipway.yaml`'s `git: {repository: .}` is the project itself. The action checks out the
//! execution's commit — the one a trigger saw, else the branch's head at the time the action
//! runs — as `git archive --format=zip` of that commit (so only committed files, never the
//! working tree's edits), stores the zip in the artefact store, and exports CodePipeline's
//! source variables: `CommitId`, `BranchName`, `CommitMessage`, `AuthorDate`,
//! `FullRepositoryName`, `ConnectionArn` (CodeCommit adds `RepositoryName`, `CommitterDate`).
//!
//! git runs as a child process with a clean environment: `PATH`, `LC_ALL=C`, no system or
//! global configuration, no prompts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use slipway_model::pipeline::{Pipeline, Provider};

use crate::ActionResult;
use crate::Artifact;
use crate::exec::{ActionOutcome, ActionRunner, Job};

/// A repository's commit, as a source action reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub message: String,
    pub author_date: String,
    pub committer_date: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git in {}", dir.display())]
    Spawn {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git {args} in {} failed: {stderr}", dir.display())]
    Failed {
        dir: PathBuf,
        args: String,
        stderr: String,
    },
}

/// `git ARGS` in `dir` with a clean environment; stdout on success.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|source| GitError::Spawn {
            dir: dir.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(GitError::Failed {
            dir: dir.to_owned(),
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `dir` is inside a git work tree.
pub fn is_repository(dir: &Path) -> bool {
    git(dir, &["rev-parse", "--is-inside-work-tree"]).is_ok_and(|o| o.trim() == "true")
}

/// The branch checked out in `dir` (`None` on a detached HEAD or before the first commit).
pub fn current_branch(dir: &Path) -> Option<String> {
    let b = git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).ok()?;
    let b = b.trim();
    (!b.is_empty()).then(|| b.to_owned())
}

/// The commit at the head of `branch`, or `None` when the branch has no commit yet.
pub fn branch_head(repo: &Path, branch: &str) -> Result<Option<String>, GitError> {
    match git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}^{{commit}}"),
        ],
    ) {
        Ok(o) => Ok(Some(o.trim().to_owned())),
        Err(GitError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a git source points at now: the head of `branch` in `repo`, `None` when `repo` is not
/// a repository or the branch has no commit (the poller's look and a start by hand).
pub fn source_head(repo: &Path, branch: &str) -> Result<Option<String>, GitError> {
    if !is_repository(repo) {
        return Ok(None);
    }
    branch_head(repo, branch)
}

/// A revision's summary: the first line of `rev`'s message, when it can be read.
pub fn summary(repo: &Path, rev: &str) -> Option<String> {
    commit_info(repo, rev)
        .ok()
        .and_then(|c| c.message.lines().next().map(str::to_owned))
}

pub fn commit_info(repo: &Path, rev: &str) -> Result<Commit, GitError> {
    let out = git(
        repo,
        &["show", "-s", "--format=%H%x00%aI%x00%cI%x00%B", rev, "--"],
    )?;
    let mut parts = out.splitn(4, '\0');
    let mut next = || parts.next().unwrap_or("").trim().to_owned();
    Ok(Commit {
        id: next(),
        author_date: next(),
        committer_date: next(),
        message: next(),
    })
}

/// The repository and branch a source action reads.
pub fn source_location(config: &BTreeMap<String, String>) -> Option<(String, String)> {
    let repo = ["FullRepositoryId", "RepositoryName", "Repo"]
        .iter()
        .find_map(|k| config.get(*k))?;
    let branch = config.get("BranchName").or_else(|| config.get("Branch"))?;
    Some((repo.clone(), branch.clone()))
}

/// The git sources of a pipeline's first stage: (action name, repository, branch).
pub fn git_sources(p: &Pipeline) -> Vec<(String, String, String)> {
    let Some(first) = p.stages.first() else {
        return Vec::new();
    };
    first
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a.action_type_id.provider,
                Provider::CodeStarSourceConnection | Provider::GitHub | Provider::CodeCommit
            )
        })
        .filter_map(|a| {
            let (r, b) = source_location(&a.configuration)?;
            Some((a.name.clone(), r, b))
        })
        .collect()
}

/// The S3 sources of a pipeline's first stage: (action name, `S3Bucket`, `S3ObjectKey`).
pub fn s3_sources(p: &Pipeline) -> Vec<(String, String, String)> {
    let Some(first) = p.stages.first() else {
        return Vec::new();
    };
    first
        .actions
        .iter()
        .filter(|a| a.action_type_id.provider == Provider::S3)
        .filter_map(|a| {
            let bucket = a.configuration.get("S3Bucket")?;
            let key = a.configuration.get("S3ObjectKey")?;
            Some((a.name.clone(), bucket.clone(), key.clone()))
        })
        .collect()
}

/// The source action runner for local git repositories.
pub struct GitSource {
    /// Repository paths are relative to this directory.
    pub project_dir: PathBuf,
    pub artefacts: Arc<slipway_store::Store>,
}

impl GitSource {
    pub fn repo_path(&self, repository: &str) -> PathBuf {
        let p = Path::new(repository);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.project_dir.join(p)
        }
    }

    fn fetch(&self, job: &Job) -> Result<ActionResult, String> {
        let a = &job.action;
        if a.action_type_id.provider == Provider::S3 {
            return Err(
                "S3 source actions are run by the server's S3 source, not by the git source".into(),
            );
        }
        let (repository, branch) = source_location(&a.configuration)
            .ok_or("the source action names no repository and branch")?;
        let repo = self.repo_path(&repository);
        if !is_repository(&repo) {
            return Err(format!(
                "{} is not a git repository (source '{repository}')",
                repo.display()
            ));
        }
        let rev = match job
            .source_revisions
            .iter()
            .find(|r| r.action_name == a.action)
        {
            Some(r) => r.revision_id.clone(),
            None => branch_head(&repo, &branch)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("branch '{branch}' of {} has no commit", repo.display()))?,
        };
        let commit = commit_info(&repo, &rev).map_err(|e| e.to_string())?;
        let zip = job.work_dir.join("source.zip");
        let zip_s = zip.to_string_lossy().into_owned();
        git(
            &repo,
            &["archive", "--format=zip", "-o", &zip_s, &commit.id],
        )
        .map_err(|e| e.to_string())?;
        let blob = self
            .artefacts
            .put_file(&zip)
            .map_err(|e| format!("cannot store the source archive: {e}"))?;
        let _ = std::fs::remove_file(&zip);
        let mut variables = BTreeMap::new();
        variables.insert("CommitId".to_owned(), commit.id.clone());
        variables.insert("BranchName".to_owned(), branch);
        variables.insert("CommitMessage".to_owned(), commit.message.clone());
        variables.insert("AuthorDate".to_owned(), commit.author_date.clone());
        variables.insert("FullRepositoryName".to_owned(), repository.clone());
        match a.action_type_id.provider {
            Provider::CodeCommit => {
                variables.insert("RepositoryName".to_owned(), repository);
                variables.insert("CommitterDate".to_owned(), commit.committer_date.clone());
            }
            _ => {
                if let Some(c) = a.configuration.get("ConnectionArn") {
                    variables.insert("ConnectionArn".to_owned(), c.clone());
                }
            }
        }
        let outputs = a
            .outputs
            .first()
            .map(|name| Artifact {
                name: name.clone(),
                location: format!("sha256:{}", blob.digest.hex()),
            })
            .into_iter()
            .collect();
        Ok(ActionResult {
            outputs,
            variables,
            summary: commit.message.lines().next().map(str::to_owned),
            external_execution_id: Some(commit.id),
        })
    }
}

impl ActionRunner for GitSource {
    fn run(&self, job: &Job) -> ActionOutcome {
        match self.fetch(job) {
            Ok(r) => ActionOutcome::Succeeded(r),
            Err(e) => ActionOutcome::Failed(e),
        }
    }
}
