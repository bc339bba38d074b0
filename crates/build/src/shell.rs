//! Shell sessions: how commands reach a shell and how their exit statuses come back.
//!
//! A session is one shell process (`bash` or `/bin/sh`), started with a clean environment as
//! the leader of its own process group, stdin a pipe, stdout a pipe, and stderr merged into
//! stdout by the shell itself (`exec 2>&1`), so output keeps its order. The shell runs a small
//! driver loop:
//!
//! ```sh
//! while IFS= read -r f; do . "$f" </dev/null; printf '%s%s S %d\n' "$a" "$b" "$?"; done
//! ```
//!
//! For each command the runner writes the command's text to a file in the build's directory and
//! the file's path, one line, to the shell's stdin; the shell *sources* it — in the same shell
//! process, so `cd`, variables, functions and `set` options carry over to the next command, as
//! in buildspec 0.2 — with stdin from `/dev/null` (CodeBuild gives commands no terminal and no
//! input), then prints a status marker. The marker is a random 128-bit token the runner made for
//! this build, held in the shell as two halves (`$a`, `$b`) so that a command printing its
//! environment (`set`, `env`) never prints the whole token. The reader thread splits every
//! output line at the token: text before it is output (a last line without a newline), the
//! rest is `S <exit status>` or `Q <hex>` (an answer to an internal query, used to read
//! exported variables and expand artifact names).
//!
//! Buildspec 0.1 uses the same session, one per command, ended after its command.
//!
//! If a command ends the shell (`exit 3`), the reader sees end-of-file; the command's status is
//! the shell's exit status, and the next command gets a new shell — with the build's
//! environment, but without the state the old shell had built up (the one place 0.2's
//! carry-over is lost; CodeBuild does not document what it does there).
//!
//! Ending a session kills its whole process group (SIGKILL to `-pgid`), so background jobs that
//! a command started do not outlive the build. While waiting, the runner also checks every
//! 250 ms whether the shell itself has died while a background job keeps its output open; if so
//! it kills the rest of the group, so that the end of the shell is seen.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Sender;

use slipway_model::buildspec::Shell;

/// What the reader threads and the cancel handle tell the runner.
#[derive(Debug)]
pub(crate) enum Event {
    Line { session: u64, text: String },
    Status { session: u64, code: i32 },
    Query { session: u64, hex: String },
    Eof { session: u64 },
    Cancel,
}

const DRIVER: &str = r#"exec 2>&1
__slipway_a=$1
__slipway_b=$2
shift 2
while IFS= read -r __slipway_f; do
  . "$__slipway_f" </dev/null
  printf '%s%s S %d\n' "$__slipway_a" "$__slipway_b" "$?"
done
"#;

/// The script of an internal query: prints `<token> Q <hex of the expansion of expr>`.
pub(crate) fn query_script(expr: &str) -> String {
    format!(
        "printf '%s%s Q %s\\n' \"$__slipway_a\" \"$__slipway_b\" \"$(printf '%s' \"{expr}\" | od -An -tx1 -v | tr -d ' \\n')\"\n"
    )
}

pub(crate) struct Session {
    pub(crate) id: u64,
    child: Child,
    stdin: Option<ChildStdin>,
    scripts: PathBuf,
    counter: u64,
}

impl Session {
    pub(crate) fn spawn(
        id: u64,
        shell: Shell,
        env: &BTreeMap<String, String>,
        cwd: &Path,
        scripts: &Path,
        token: (&str, &str),
        events: Sender<Event>,
    ) -> io::Result<Session> {
        std::fs::create_dir_all(scripts)?;
        let mut child = Command::new(shell.program())
            .arg("-c")
            .arg(DRIVER)
            .arg("slipway")
            .arg(token.0)
            .arg(token.1)
            .env_clear()
            .envs(env)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let stdin = child.stdin.take();
        let marker = format!("{}{} ", token.0, token.1);
        std::thread::Builder::new()
            .name(format!("slipway-shell-{id}"))
            .spawn(move || read_output(id, stdout, &marker, &events))?;
        Ok(Session {
            id,
            child,
            stdin,
            scripts: scripts.to_owned(),
            counter: 0,
        })
    }

    /// Hands one script to the shell.
    pub(crate) fn send(&mut self, script: &str) -> io::Result<()> {
        self.counter += 1;
        let path = self
            .scripts
            .join(format!("s{}-{}.sh", self.id, self.counter));
        std::fs::write(&path, script)?;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("the shell's input is closed"))?;
        let line = format!("{}\n", path.display());
        stdin.write_all(line.as_bytes())?;
        stdin.flush()
    }

    /// The shell's exit status once it has ended (after end-of-file on its output).
    pub(crate) fn exit_code(&mut self) -> i32 {
        use std::os::unix::process::ExitStatusExt as _;
        match self.child.wait() {
            Ok(s) => s
                .code()
                .or_else(|| s.signal().map(|n| 128 + n))
                .unwrap_or(-1),
            Err(_) => -1,
        }
    }

    /// Whether the shell itself has ended (its background jobs may still hold the output open).
    pub(crate) fn shell_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills what is left of the group of a shell that ended, so that its output reaches
    /// end-of-file.
    pub(crate) fn kill_orphans(&mut self) {
        kill_group(self.child.id());
    }

    /// Kills the session's whole process group and reaps the shell.
    pub(crate) fn kill(&mut self) {
        self.stdin = None;
        kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to every process in the group. `kill(1)` does it without unsafe code; its own exit
/// status does not matter (the group may already be gone).
pub(crate) fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read_output(id: u64, stdout: std::process::ChildStdout, marker: &str, events: &Sender<Event>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf);
        let ev = match line.find(marker) {
            None => Event::Line {
                session: id,
                text: line.into_owned(),
            },
            Some(at) => {
                if at > 0 {
                    let _ = events.send(Event::Line {
                        session: id,
                        text: line[..at].to_owned(),
                    });
                }
                let rest = &line[at + marker.len()..];
                if let Some(code) = rest.strip_prefix("S ") {
                    Event::Status {
                        session: id,
                        code: code.trim().parse().unwrap_or(-1),
                    }
                } else if let Some(hex) = rest.strip_prefix("Q ") {
                    Event::Query {
                        session: id,
                        hex: hex.trim().to_owned(),
                    }
                } else {
                    continue;
                }
            }
        };
        if events.send(ev).is_err() {
            return;
        }
    }
    let _ = events.send(Event::Eof { session: id });
}
