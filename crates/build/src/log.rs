//! The build log: every line a build prints, with when and in which phase, secrets masked.
//!
//! Lines reach a [`LogSink`] as they happen (the CLI shows them live) and are appended to
//! `build.log` in the build's directory. Two kinds of line exist, as in CodeBuild's container
//! log: markers written by the runner (`[Container] 2026/12/01 19:00:00.123 Entering phase
//! BUILD`, `Running command make`) and output lines written by the commands, each prefixed with
//! its timestamp. Masking happens before a line goes anywhere: no sink and no file ever sees a
//! secret value.

use std::sync::Mutex;

use serde::Serialize;

use crate::clock::format_ms;
use crate::record::BuildPhase;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// Written by the runner: phase transitions, commands started and failed, warnings.
    Marker,
    /// Written by a command (stdout and stderr, merged in order).
    Output,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub at_ms: u64,
    pub phase: BuildPhase,
    pub kind: LineKind,
    /// Already masked.
    pub text: String,
}

impl LogLine {
    /// The line as `build.log` holds it.
    pub fn render(&self) -> String {
        match self.kind {
            LineKind::Marker => format!("[Container] {} {}", format_ms(self.at_ms), self.text),
            LineKind::Output => format!("{} {}", format_ms(self.at_ms), self.text),
        }
    }
}

/// Receives each line as it is produced. Called from the thread running the build.
pub trait LogSink: Send + Sync {
    fn line(&self, line: &LogLine);
}

/// Discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl LogSink for NullSink {
    fn line(&self, _: &LogLine) {}
}

/// Keeps every line in memory (tests, and callers that show the log afterwards).
#[derive(Debug, Default)]
pub struct MemorySink(Mutex<Vec<LogLine>>);

impl MemorySink {
    pub fn lines(&self) -> Vec<LogLine> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Every line rendered, one per line.
    pub fn text(&self) -> String {
        self.lines().iter().map(|l| l.render() + "\n").collect()
    }

    /// Only what the commands printed.
    pub fn output(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.kind == LineKind::Output)
            .map(|l| l.text)
            .collect()
    }
}

impl LogSink for MemorySink {
    fn line(&self, line: &LogLine) {
        if let Ok(mut l) = self.0.lock() {
            l.push(line.clone());
        }
    }
}

/// Replaces every secret value with `***`, longest first so that a secret containing another
/// is masked whole.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.secrets.iter().any(|s| s == secret) {
            return;
        }
        self.secrets.push(secret.to_owned());
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        // A multi-line secret is also masked line by line, since logs are read by line.
        if secret.contains('\n') {
            for part in secret.lines() {
                self.add(part);
            }
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_first() {
        let mut m = Masker::default();
        m.add("abc");
        m.add("abcdef");
        m.add("");
        assert_eq!(m.mask("x abcdef y abc"), "x *** y ***");
    }
}
