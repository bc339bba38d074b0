//! The AWS SDK for Python (`boto3`, `botocore` and their dependencies) that every `python3.x`
//! function can import without listing it, as on Lambda.
//!
//! Where it comes from ([`PythonSdk`]):
//! - **PyPI** (the default): `boto3==`[`BOTO3_VERSION`] and its dependencies, installed once by
//!   the function's own interpreter (`python -m pip install --target`) into a cache shared by
//!   every function, project and runtime of the user: `$XDG_CACHE_HOME/slipway/python-sdk`, else
//!   `~/.cache/slipway/python-sdk`. One directory per (interpreter `X.Y`, boto3 version), e.g.
//!   `python3.11-boto3-1.44.8/`. A cache hit is one `stat` (then remembered by the runtime for
//!   its life); a miss installs under an exclusive `flock` on `<key>.lock`, into a temporary
//!   directory that is renamed into place when pip succeeded, so two runtimes (or two functions)
//!   cold-starting at once install it once and neither ever sees half an install.
//! - **An existing directory** (`SLIPWAY_PYTHON_SDK=/path`): for offline machines; used as it is.
//! - **Off** (`SLIPWAY_PYTHON_SDK=off`): functions see only their own code, layers and the
//!   local interpreter's packages.
//!
//! Where it goes on `sys.path`: after the task root, the layers and
//! [`PythonConfig::runtime_paths`](crate::PythonConfig::runtime_paths), before the
//! interpreter's standard library and its own `site-packages`. On Lambda (the Python runtime
//! docs' "search path" section, and the Lambda team in aws/aws-lambda-web-adapter#453/#454) the
//! order is `/var/task`, then the layers (`/opt/python/lib/pythonX.Y/site-packages`,
//! `/opt/python`), then the runtime's packages: `/var/runtime` for python3.8–3.10, and
//! `/var/lang/lib/pythonX.Y/site-packages` (after the standard library) from python3.11 on.
//! Either way a function's own `boto3` (in its code or a layer) wins over the provided one, as
//! here. Our directory sits before the standard library for every version; no SDK package
//! shadows a standard module, so the difference cannot be seen by a handler.
//!
//! When PyPI cannot be reached (or pip fails), the install is not retried for the life of the
//! runtime, one warning names the cause and the two ways out (a directory, or off), and
//! functions still run: one that imports `boto3` then fails its init with Lambda's own
//! `Runtime.ImportModuleError` (unless the local interpreter has a `boto3` of its own), one that
//! does not never notices.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `boto3` installed from PyPI unless configured otherwise. Lambda updates the SDK of its
/// runtimes from time to time; a pinned version keeps the cache key, and local runs, stable.
pub const BOTO3_VERSION: &str = "1.44.8";

/// Environment variable read by [`PythonSdk::from_env`]: `off`, `pypi`, or a directory.
pub const SDK_VAR: &str = "SLIPWAY_PYTHON_SDK";

/// Where the SDK every `python3.x` function can import comes from (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PythonSdk {
    /// Installed once from PyPI (or `index_url`, a mirror) into `cache_dir`.
    Pypi {
        cache_dir: PathBuf,
        boto3: String,
        /// pip's `--index-url`; `None` uses pip's own configuration (PyPI by default).
        index_url: Option<String>,
    },
    /// An existing directory holding `boto3/`, `botocore/`, … (used as it is).
    Dir(PathBuf),
    Off,
}

impl PythonSdk {
    /// PyPI into the user's cache directory, with the pinned version.
    pub fn pypi() -> Self {
        PythonSdk::Pypi {
            cache_dir: default_cache_dir(),
            boto3: BOTO3_VERSION.to_owned(),
            index_url: None,
        }
    }

    /// From `SLIPWAY_PYTHON_SDK`: `off`, `pypi` (the default when unset or empty), or a
    /// directory.
    pub fn from_env() -> Self {
        match std::env::var_os(SDK_VAR) {
            None => Self::pypi(),
            Some(value) => match value.to_str() {
                Some("") | Some("pypi") => Self::pypi(),
                Some("off") => PythonSdk::Off,
                _ => PythonSdk::Dir(PathBuf::from(value)),
            },
        }
    }
}

/// `$XDG_CACHE_HOME/slipway/python-sdk`, else `$HOME/.cache/slipway/python-sdk`, else a
/// directory under the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("slipway").join("python-sdk")
}

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error("cannot prepare the SDK cache {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run {}", interpreter.display())]
    Spawn {
        interpreter: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {output}")]
    Pip {
        command: String,
        status: String,
        output: String,
    },
    #[error("the configured SDK directory {} does not exist", path.display())]
    MissingDir { path: PathBuf },
}

/// The directory holding `boto3` for functions run by `interpreter` (Python `version`, `X.Y`),
/// installing it first when needed. Blocking: call it off the async threads.
pub(crate) fn ensure(
    sdk: &PythonSdk,
    interpreter: &Path,
    version: &str,
) -> Result<Option<PathBuf>, SdkError> {
    match sdk {
        PythonSdk::Off => Ok(None),
        PythonSdk::Dir(path) => {
            if path.is_dir() {
                Ok(Some(path.clone()))
            } else {
                Err(SdkError::MissingDir { path: path.clone() })
            }
        }
        PythonSdk::Pypi {
            cache_dir,
            boto3,
            index_url,
        } => {
            let key = format!("python{version}-boto3-{boto3}");
            ensure_installed(cache_dir, &key, |target| {
                pip_install(interpreter, boto3, index_url.as_deref(), target)
            })
            .map(Some)
        }
    }
}

/// `cache_dir/key`, made by `install` (into the empty directory it is given) unless it exists.
/// Concurrency-safe across threads and processes: an exclusive `flock` on `key.lock` while
/// installing, and an atomic rename of the finished directory into place.
pub(crate) fn ensure_installed(
    cache_dir: &Path,
    key: &str,
    install: impl FnOnce(&Path) -> Result<(), SdkError>,
) -> Result<PathBuf, SdkError> {
    let target = cache_dir.join(key);
    if target.is_dir() {
        return Ok(target);
    }
    let cache_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SdkError::Cache { path, source }
    };
    std::fs::create_dir_all(cache_dir).map_err(cache_err(cache_dir))?;
    let lock_path = cache_dir.join(format!("{key}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(cache_err(&lock_path))?;
    // Held until `lock` is dropped (closing the file releases it, also when we crash).
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| cache_err(&lock_path)(e.into()))?;
    if target.is_dir() {
        return Ok(target);
    }
    let partial = cache_dir.join(format!(
        ".{key}.partial-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(cache_err(&partial))?;
    let result = install(&partial)
        .and_then(|()| std::fs::rename(&partial, &target).map_err(cache_err(&target)));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    drop(lock);
    result.map(|()| target)
}

fn pip_install(
    interpreter: &Path,
    boto3: &str,
    index_url: Option<&str>,
    target: &Path,
) -> Result<(), SdkError> {
    let requirement = format!("boto3=={boto3}");
    let mut args: Vec<String> = [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        // Bytecode is written under the runtime's `pycache` at first import instead
        // (`sys.pycache_prefix`), so none is compiled here.
        "--no-compile",
        "--retries",
        "1",
        "--timeout",
        "15",
    ]
    .map(str::to_owned)
    .into();
    if let Some(url) = index_url {
        args.extend(["--index-url".to_owned(), url.to_owned()]);
    }
    args.extend([
        "--target".to_owned(),
        target.display().to_string(),
        requirement,
    ]);
    // pip is the platform's tool, not the function: it runs with the server's environment
    // (proxies, pip's own configuration), never with a function's.
    let output = Command::new(interpreter)
        .args(&args)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env_remove("PYTHONPATH")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| SdkError::Spawn {
            interpreter: interpreter.to_path_buf(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The last lines say why (pip prints retries first).
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" / ");
    Err(SdkError::Pip {
        command: format!(
            "{} -m pip install {}",
            interpreter.display(),
            args[3..].join(" ")
        ),
        status: output.status.to_string(),
        output: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn installs_once_under_the_lock_and_renames_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (dir, calls) = (dir.path().to_path_buf(), calls.clone());
                std::thread::spawn(move || {
                    ensure_installed(&dir, "k", |target| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Nothing is visible under the final name while installing.
                        assert!(!dir.join("k").exists());
                        std::fs::write(target.join("boto3.py"), "__version__ = '0'").unwrap();
                        Ok(())
                    })
                    .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), dir.path().join("k"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(dir.path().join("k/boto3.py").is_file());
        // No partial directory is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
    }

    #[test]
    fn a_failed_install_leaves_nothing_and_is_tried_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure_installed(dir.path(), "k", |_| {
            Err(SdkError::Pip {
                command: "pip".into(),
                status: "exit status: 1".into(),
                output: "no network".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("no network"), "{err}");
        assert!(!dir.path().join("k").exists());
        ensure_installed(dir.path(), "k", |_| Ok(())).unwrap();
        assert!(dir.path().join("k").is_dir());
    }

    #[test]
    fn reads_the_choice_from_a_value() {
        assert!(
            matches!(PythonSdk::pypi(), PythonSdk::Pypi { boto3, .. } if boto3 == BOTO3_VERSION)
        );
        assert!(default_cache_dir().ends_with("slipway/python-sdk"));
    }
}
