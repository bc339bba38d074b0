//! Running the real `slipway` binary in a temp directory, as a user would.

#![allow(dead_code, reason = "each test file uses part of this")]

pub(crate) mod server;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }
}

/// The variables Slipway reads, removed from the environment of every run.
pub(crate) const VARS: &[&str] = &[
    "SLIPWAY_REGION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "SLIPWAY_ACCOUNT",
    "SLIPWAY_STACK_NAME",
    "SLIPWAY_DATA_DIR",
    "SLIPWAY_ENDPOINT",
    "SLIPWAY_TOKEN",
];

/// Runs `slipway args…` in `dir` with `stdin` as its standard input, the variables Slipway
/// reads removed from its environment; temp paths in the output become `[TEMP]`.
pub(crate) fn slipway_with_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in VARS {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let filter =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&dir.display().to_string(), "[TEMP]");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: filter(&out.stdout),
        stderr: filter(&out.stderr),
    }
}

pub(crate) fn slipway(dir: &Path, args: &[&str]) -> Run {
    slipway_with_stdin(dir, args, b"")
}
