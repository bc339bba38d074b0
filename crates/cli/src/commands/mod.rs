//! One module per verb. Each takes its resolved settings and writers, and returns how the
//! process should exit.

pub(crate) mod build;
pub(crate) mod deploy;
#[cfg(feature = "aws")]
pub(crate) mod deploy_aws;
pub(crate) mod gc;
pub(crate) mod generate_event;
pub(crate) mod invoke;
pub(crate) mod pipeline;
pub(crate) mod serve;
pub(crate) mod stack;
#[cfg(feature = "aws")]
pub(crate) mod stack_aws;
pub(crate) mod targets;
pub(crate) mod up;
pub(crate) mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use slipway_model::template::FileSource;

/// Reads files a template points at, relative to the template's directory.
pub(crate) struct DirFiles(pub(crate) PathBuf);

impl FileSource for DirFiles {
    fn read(&self, relative: &str) -> Result<String, String> {
        let path = self.0.join(relative);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }
}

/// How a command ended, as the process exit code says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0: done; for `validate`, the template is valid (warnings allowed).
    Success,
    /// 1: the documents have errors; for `invoke`, the function returned an error; for
    /// `build`, the build failed.
    Invalid,
    /// 2: the command could not run (bad flags or settings, unreadable files).
    Usage,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        ExitCode::from(match s {
            Status::Success => 0,
            Status::Invalid => 1,
            Status::Usage => 2,
        })
    }
}
