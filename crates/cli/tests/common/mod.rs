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

/// `git ARGS` in `dir` with a fixed identity and no user or system configuration; fails the
/// test when git does.
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// One `GET` over HTTP/1.1 to `url` (`http://HOST:PORT/path`, a fresh connection): the status
/// line and the body.
pub(crate) fn http_get(url: &str) -> (String, String) {
    use std::io::Read as _;
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply.lines().next().unwrap_or_default().to_owned();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
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
