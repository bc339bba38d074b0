//! Buildspec globs (`artifacts.files`, `reports.*.files`, `cache.paths`) matched against a
//! directory tree, as CodeBuild matches them.
//!
//! Patterns are matched against the `/`-separated path of every regular file relative to the
//! base directory: `*` stays inside one path segment, `**/` spans any number of directories
//! (including none), so `**/*` is every file and `dir/*` the files directly in `dir`. A leading
//! `./` is ignored. Directories themselves are never entries (CodeBuild: "matched directories
//! themselves are not included"); symlinks are not followed and not collected.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

pub(crate) fn glob_set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.strip_prefix("./").unwrap_or(p);
        let g = GlobBuilder::new(p)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("'{p}' is not a valid glob: {e}"))?;
        b.add(g);
    }
    b.build().map_err(|e| e.to_string())
}

/// Every regular file under `root`, as sorted `/`-separated relative paths.
pub(crate) fn all_files(root: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(root, "", &mut out, false)?;
    out.sort();
    Ok(out)
}

/// Every directory under `root` (not `root` itself), as relative paths.
pub(crate) fn all_dirs(root: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk(root, "", &mut out, true)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>, dirs: bool) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let ft = e.file_type()?;
        if ft.is_dir() {
            if dirs {
                out.push(rel.clone());
            }
            walk(&e.path(), &rel, out, dirs)?;
        } else if ft.is_file() && !dirs {
            out.push(rel);
        }
    }
    Ok(())
}

/// The base directories `base` names under `root`: itself when it has no glob characters,
/// else every directory matching it.
pub(crate) fn base_dirs(root: &Path, base: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let Some(base) = base.map(|b| b.strip_prefix("./").unwrap_or(b).trim_end_matches('/')) else {
        return Ok(vec![root.to_owned()]);
    };
    if base.contains(['*', '?', '[', '{']) {
        let set = glob_set(&[base.to_owned()])?;
        let dirs = all_dirs(root).map_err(|e| format!("reading {}: {e}", root.display()))?;
        let found: Vec<PathBuf> = dirs
            .iter()
            .filter(|d| set.is_match(d.as_str()))
            .map(|d| root.join(d))
            .collect();
        if found.is_empty() {
            return Err(format!("no directory matches base-directory '{base}'"));
        }
        return Ok(found);
    }
    let dir = root.join(base);
    if !dir.is_dir() {
        return Err(format!("base-directory '{base}' does not exist"));
    }
    Ok(vec![dir])
}

/// The files of one artifact set or report: (name in the output, file on disk).
pub(crate) fn select(
    root: &Path,
    base: Option<&str>,
    files: &[String],
    exclude: &[String],
    discard_paths: bool,
) -> Result<Vec<(String, PathBuf)>, String> {
    let include = glob_set(files)?;
    let exclude = glob_set(exclude)?;
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for dir in base_dirs(root, base)? {
        let candidates = all_files(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for rel in candidates {
            if !include.is_match(rel.as_str()) || exclude.is_match(rel.as_str()) {
                continue;
            }
            let name = if discard_paths {
                rel.rsplit('/').next().unwrap_or(&rel).to_owned()
            } else {
                rel.clone()
            };
            out.push((name, dir.join(&rel)));
        }
    }
    Ok(out)
}

/// Copies a tree, keeping symlinks as symlinks and permissions, skipping `skip` (the data
/// directory when it sits inside the source).
pub(crate) fn copy_tree(from: &Path, to: &Path, skip: Option<&Path>) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let src = e.path();
        if skip.is_some_and(|s| s == src) {
            continue;
        }
        let dest = to.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&src, &dest, skip)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dest)?;
        } else if ft.is_file() {
            fs::copy(&src, &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            let p = t.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        t
    }

    fn names(v: Vec<(String, PathBuf)>) -> Vec<String> {
        v.into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn codebuild_glob_cases() {
        let t = tree(&[
            "a.txt",
            "dist/app.py",
            "dist/lib/x.py",
            "dist/lib/__pycache__/x.pyc",
            "dist/lib/deep/y.py",
            "build-1/out.bin",
            "build-2/out.bin",
        ]);
        let r = t.path();
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // `**/*` is every file.
        assert_eq!(select(r, None, &s(&["**/*"]), &[], false).unwrap().len(), 7);
        // `dir/*` only the files directly in dir.
        assert_eq!(
            names(select(r, None, &s(&["dist/*"]), &[], false).unwrap()),
            ["dist/app.py"]
        );
        // `dir/**/*` everything below dir; exclude-paths take files out.
        assert_eq!(
            names(
                select(
                    r,
                    Some("dist"),
                    &s(&["**/*"]),
                    &s(&["**/__pycache__/**/*"]),
                    false
                )
                .unwrap()
            ),
            ["app.py", "lib/deep/y.py", "lib/x.py"]
        );
        // discard-paths flattens.
        assert_eq!(
            names(select(r, Some("dist/lib"), &s(&["**/*.py"]), &[], true).unwrap()),
            ["y.py", "x.py"]
        );
        // A glob base-directory selects every matching directory; the dirs are not entries.
        assert_eq!(
            names(select(r, Some("build-*"), &s(&["*"]), &[], false).unwrap()),
            ["out.bin", "out.bin"]
        );
        // ./ is ignored; a single file by name.
        assert_eq!(
            names(select(r, None, &s(&["./a.txt"]), &[], false).unwrap()),
            ["a.txt"]
        );
        assert!(select(r, Some("missing"), &s(&["*"]), &[], false).is_err());
        assert!(select(r, None, &s(&["[unclosed"]), &[], false).is_err());
    }
}
