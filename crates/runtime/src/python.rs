//! The `python3.x` runtimes: the built-in bootstrap and the choice of a local interpreter.
//!
//! Interpreter mapping, in order:
//! 1. `RuntimeConfig::python.interpreters["python3.12"]` when configured (a path or a command
//!    name looked up on the server's `PATH`);
//! 2. a `python3.12` executable on the server's `PATH`;
//! 3. `RuntimeConfig::python.fallback` (default `python3`).
//!
//! When the chosen interpreter's `X.Y` differs from the requested runtime, one warning is logged
//! per (runtime, interpreter) pair; the function still runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::sdk::PythonSdk;

/// The bootstrap, as shipped inside the binary.
pub const BOOTSTRAP_PY: &str = include_str!("bootstrap.py");

/// Python runtimes Lambda offers that Slipway accepts.
pub const SUPPORTED: &[&str] = &[
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
];

#[derive(Clone, Debug)]
pub struct PythonConfig {
    /// `pythonX.Y` → interpreter (path or command name).
    pub interpreters: BTreeMap<String, PathBuf>,
    /// Used when no `pythonX.Y` is configured or found.
    pub fallback: PathBuf,
    /// Directories put on `sys.path` after the task root and the layers, where Lambda has its
    /// runtime's own packages (`/var/runtime`): the place for a cached `boto3`/`botocore` so
    /// handlers import them without listing them, as on Lambda.
    pub runtime_paths: Vec<PathBuf>,
    /// Where `boto3`/`botocore` come from (`sdk.rs`): by default installed once from PyPI into
    /// the user's cache, or as `SLIPWAY_PYTHON_SDK` says (`off`, or a directory).
    pub sdk: PythonSdk,
}

impl Default for PythonConfig {
    fn default() -> Self {
        Self {
            interpreters: BTreeMap::new(),
            fallback: PathBuf::from("python3"),
            runtime_paths: Vec::new(),
            sdk: PythonSdk::from_env(),
        }
    }
}

/// Looks a command up on the server's own `PATH` (the function never sees that `PATH`).
pub(crate) fn which(command: &Path) -> Option<PathBuf> {
    if command.components().count() > 1 {
        return command.is_file().then(|| command.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

pub(crate) struct Interpreters {
    config: PythonConfig,
    resolved: Mutex<BTreeMap<String, (PathBuf, Option<String>)>>,
    warned: Mutex<BTreeSet<(String, PathBuf)>>,
}

impl Interpreters {
    pub(crate) fn new(config: PythonConfig) -> Self {
        Self {
            config,
            resolved: Mutex::new(BTreeMap::new()),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// The interpreter for `runtime` (`python3.12`), or `None` when none can be found.
    pub(crate) fn resolve(&self, runtime: &str) -> Option<PathBuf> {
        if let Some((path, _)) = self.lock_resolved().get(runtime) {
            return Some(path.clone());
        }
        let found: Vec<PathBuf> = [
            self.config.interpreters.get(runtime).and_then(|p| which(p)),
            which(Path::new(runtime)),
            which(&self.config.fallback),
        ]
        .into_iter()
        .flatten()
        .collect();
        // The first candidate that runs wins: a `python3.12` on PATH can be a pyenv shim for a
        // version that is installed but not selected, which exits 127 at every start. Run the
        // real interpreter it names, not the launcher (a pyenv shim costs ~300 ms a start).
        // When none answers the probe, the first found is used as it is.
        let (version, candidate) = match found.iter().find_map(|c| probe(c)) {
            Some((version, executable)) => (Some(version), executable),
            None => (None, found.first()?.clone()),
        };
        let wanted = runtime.trim_start_matches("python");
        if version.as_deref() != Some(wanted) {
            let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
            if warned.insert((runtime.to_owned(), candidate.clone())) {
                tracing::warn!(
                    runtime,
                    interpreter = %candidate.display(),
                    found = version.as_deref().unwrap_or("unknown"),
                    "{runtime} runs on {} (Python {}): results may differ from Lambda",
                    candidate.display(),
                    version.as_deref().unwrap_or("unknown"),
                );
            }
        }
        self.lock_resolved()
            .insert(runtime.to_owned(), (candidate.clone(), version));
        Some(candidate)
    }

    /// The `X.Y` of the interpreter chosen for `runtime`, when it answered the probe.
    pub(crate) fn version(&self, runtime: &str) -> Option<String> {
        self.lock_resolved()
            .get(runtime)
            .and_then(|(_, v)| v.clone())
    }

    fn lock_resolved(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, (PathBuf, Option<String>)>> {
        self.resolved.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `X.Y` and `sys.executable` of an interpreter (runs it once; the caller caches the result).
fn probe(interpreter: &Path) -> Option<(String, PathBuf)> {
    let output = std::process::Command::new(interpreter)
        .args([
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)",
        ])
        .env_clear()
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let version = lines.next()?.trim().to_owned();
    let executable = PathBuf::from(lines.next().unwrap_or_default().trim());
    let executable = if executable.is_file() {
        executable
    } else {
        interpreter.to_path_buf()
    };
    Some((version, executable))
}

/// The `sys.path` entries a layer contributes, as on Lambda: `python/lib/pythonX.Y/site-packages`
/// then `python/`; then the runtime's own directories.
pub(crate) fn layer_paths(layers: &[PathBuf], runtime: &str, runtime_paths: &[PathBuf]) -> String {
    let mut paths = Vec::new();
    // A later layer wins, so it comes first on sys.path.
    for layer in layers.iter().rev() {
        paths.push(
            layer
                .join("python/lib")
                .join(runtime)
                .join("site-packages")
                .display()
                .to_string(),
        );
        paths.push(layer.join("python").display().to_string());
    }
    paths.extend(runtime_paths.iter().map(|p| p.display().to_string()));
    paths.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_runtimes_to_interpreters_and_warns_once() {
        let mut config = PythonConfig::default();
        config
            .interpreters
            .insert("python3.8".to_owned(), PathBuf::from("python3"));
        let interpreters = Interpreters::new(config);
        let chosen = interpreters.resolve("python3.8").expect("python3 on PATH");
        assert!(chosen.is_absolute(), "{}", chosen.display());
        assert_eq!(interpreters.resolve("python3.8"), Some(chosen));
        // python3 is not 3.8 on any machine we run on: exactly one warning recorded.
        assert_eq!(interpreters.warned.lock().unwrap().len(), 1);

        let none = Interpreters::new(PythonConfig {
            interpreters: BTreeMap::new(),
            fallback: PathBuf::from("/nonexistent/python"),
            runtime_paths: Vec::new(),
            sdk: PythonSdk::Off,
        });
        assert_eq!(none.resolve("python3.99"), None);
    }

    #[test]
    fn layer_paths_put_later_layers_first() {
        let layers = [PathBuf::from("/l1"), PathBuf::from("/l2")];
        assert_eq!(
            layer_paths(&layers, "python3.12", &[PathBuf::from("/rt")]),
            "/l2/python/lib/python3.12/site-packages:/l2/python:/l1/python/lib/python3.12/site-packages:/l1/python:/rt"
        );
    }
}
