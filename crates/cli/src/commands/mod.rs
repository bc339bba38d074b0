//! One module per verb. Each takes its resolved settings and writers, and returns how the
//! process should exit.

pub(crate) mod validate;

use std::process::ExitCode;

/// How a command ended, as the process exit code says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// 0: done; for `validate`, the template is valid (warnings allowed).
    Success,
    /// 1: the documents have errors.
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
