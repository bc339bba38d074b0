//! Slipway's stores: the content-addressed artefact store (this module) and the state store
//! ([`state`]: SQLite in WAL mode behind a trait, with an in-memory twin for tests).
//!
//! # The artefact store on disk
//!
//! ```text
//! <root>/blobs/sha256/<2 hex>/<62 hex>   one immutable file per distinct content
//! <root>/tmp/                             writes in flight (renamed into place when complete)
//! ```
//!
//! A blob's name is the sha256 of its bytes, so a second put of the same bytes is a no-op
//! (deduplication) and a read can always check what it got ([`Store::get`] re-hashes and refuses
//! a blob whose bytes no longer match its name). Writes go to `tmp/` and are renamed into place,
//! so a crash never leaves a half-written blob under a valid name.
//!
//! Zip archives are blobs too. [`Store::put_zip`] writes them deterministically — entries sorted
//! by name, every timestamp 1980-01-01, permissions reduced to 0644/0755 — so the same files
//! always give the same digest, and an unchanged build output is stored once.
//! [`Store::extract_zip`] unpacks into a new directory and refuses, before writing anything,
//! archives with absolute or `..` paths, symlinks, too many entries or too many bytes; it counts
//! the bytes it actually inflates, so a lying size header does not get past the limit.
//!
//! [`Store::gc`] deletes every blob not named in a keep-set (the caller — the state store —
//! knows which artefacts are still referenced).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

pub mod state;

/// The sha256 of a blob's bytes: its name in the store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest, Error> {
        let s = s.strip_prefix("sha256:").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| Error::BadDigest(s.to_owned()))?;
        Ok(Digest(out))
    }
}

/// What the store refuses to unpack.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
    pub max_entry_bytes: u64,
}

impl Default for Limits {
    /// Lambda's own limit on unzipped code is 250 MB; archives here hold code and build output.
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_total_bytes: 1 << 30,
            max_entry_bytes: 512 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("'{0}' is not a sha256 digest")]
    BadDigest(String),
    #[error("blob {0} is not in the store")]
    Missing(Digest),
    #[error("blob {expected} is corrupt: its bytes hash to {actual}")]
    Corrupt { expected: Digest, actual: Digest },
    #[error("blob {digest} is not a readable zip archive")]
    Zip {
        digest: Digest,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("archive {digest} refused: entry '{entry}' {reason}")]
    Unsafe {
        digest: Digest,
        entry: String,
        reason: &'static str,
    },
    #[error("archive {digest} refused: {reason}")]
    TooLarge { digest: Digest, reason: String },
    #[error("cannot extract into {}: the directory is not empty", .0.display())]
    DestinationNotEmpty(PathBuf),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A blob as stored: its digest and size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub kept: usize,
    pub removed: usize,
    pub freed_bytes: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    pub files: usize,
    pub bytes: u64,
}

/// One file to put in an archive: its name inside the archive (`/`-separated, relative) and
/// where its bytes are now.
#[derive(Clone, Debug)]
pub struct ZipEntry {
    pub name: String,
    pub source: PathBuf,
}

#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    limits: Limits,
}

impl Store {
    /// Opens (creating if needed) a store rooted at `root`, e.g. `.slipway/artefacts`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, Error> {
        let root = root.into();
        for d in [root.join("blobs/sha256"), root.join("tmp")] {
            fs::create_dir_all(&d).map_err(io_err("create", &d))?;
        }
        Ok(Store {
            root,
            limits: Limits::default(),
        })
    }

    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Store {
        self.limits = limits;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it is there).
    pub fn path_of(&self, d: &Digest) -> PathBuf {
        let h = d.hex();
        self.root.join("blobs/sha256").join(&h[..2]).join(&h[2..])
    }

    pub fn contains(&self, d: &Digest) -> bool {
        self.path_of(d).is_file()
    }

    fn temp_path(&self) -> PathBuf {
        // One counter per process, not per `Store`: several stores open on the same root (a
        // build opens its own) must never pick the same temporary name.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}-{n}.partial", std::process::id()))
    }

    /// Moves a finished temporary file into place under `digest` (or drops it when the store
    /// already holds that content).
    fn commit(&self, tmp: &Path, digest: Digest, size: u64) -> Result<Blob, Error> {
        let dest = self.path_of(&digest);
        if dest.is_file() {
            fs::remove_file(tmp).map_err(io_err("remove", tmp))?;
        } else {
            let dir = dest.parent().unwrap_or(&self.root);
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            fs::rename(tmp, &dest).map_err(io_err("move a blob to", &dest))?;
        }
        Ok(Blob { digest, size })
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Blob, Error> {
        let digest = Digest::of(bytes);
        if self.contains(&digest) {
            return Ok(Blob {
                digest,
                size: bytes.len() as u64,
            });
        }
        let tmp = self.temp_path();
        fs::write(&tmp, bytes).map_err(io_err("write", &tmp))?;
        self.commit(&tmp, digest, bytes.len() as u64)
    }

    pub fn put_file(&self, path: &Path) -> Result<Blob, Error> {
        let mut src = File::open(path).map_err(io_err("open", path))?;
        let tmp = self.temp_path();
        let mut out = File::create(&tmp).map_err(io_err("create", &tmp))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(io_err("read", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err("write", &tmp))?;
            size += n as u64;
        }
        drop(out);
        self.commit(&tmp, Digest(hasher.finalize().into()), size)
    }

    /// The blob's bytes, checked against its digest.
    pub fn get(&self, d: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.path_of(d);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::Missing(*d)),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let actual = Digest::of(&bytes);
        if actual != *d {
            return Err(Error::Corrupt {
                expected: *d,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Writes a deterministic zip of `entries` (sorted by name; a name given twice keeps the
    /// last source) and stores it.
    pub fn put_zip(&self, entries: &[ZipEntry]) -> Result<Blob, Error> {
        use std::os::unix::fs::PermissionsExt as _;
        let mut sorted: Vec<&ZipEntry> = entries.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.reverse();
        sorted.dedup_by(|a, b| a.name == b.name);
        sorted.reverse();
        let tmp = self.temp_path();
        let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
        let mut w = zip::ZipWriter::new(io::BufWriter::new(file));
        let zerr = |source: zip::result::ZipError| Error::Io {
            action: "write zip",
            path: tmp.clone(),
            source: io::Error::other(source),
        };
        for e in sorted {
            let meta = fs::metadata(&e.source).map_err(io_err("read", &e.source))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .last_modified_time(zip::DateTime::default())
                .unix_permissions(mode)
                .large_file(meta.len() >= u64::from(u32::MAX));
            w.start_file(e.name.as_str(), opts).map_err(zerr)?;
            let mut src = File::open(&e.source).map_err(io_err("open", &e.source))?;
            io::copy(&mut src, &mut w).map_err(io_err("read", &e.source))?;
        }
        let mut buf = w.finish().map_err(zerr)?;
        buf.flush().map_err(io_err("write", &tmp))?;
        drop(buf);
        let bytes = fs::read(&tmp).map_err(io_err("read", &tmp))?;
        let digest = Digest::of(&bytes);
        self.commit(&tmp, digest, bytes.len() as u64)
    }

    /// Zips every regular file under `dir` (symlinks refused), named relative to `dir`.
    pub fn put_dir(&self, dir: &Path) -> Result<Blob, Error> {
        let mut entries = Vec::new();
        walk_files(dir, dir, &mut entries)?;
        self.put_zip(&entries)
    }

    /// Checks an archive from the store as [`Store::extract_zip`] would, without writing
    /// anything: a readable zip, no absolute or `..` paths, no symlinks, within the entry and
    /// size limits. Returns the number of entries.
    pub fn check_zip(&self, d: &Digest) -> Result<usize, Error> {
        let bytes = self.get(d)?;
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes))
            .map_err(|source| Error::Zip { digest: *d, source })?;
        Ok(self.plan_zip(d, &mut archive)?.len())
    }

    /// Pass 1 of an extraction: every name and kind, and the declared sizes, checked.
    fn plan_zip(
        &self,
        d: &Digest,
        archive: &mut zip::ZipArchive<io::Cursor<Vec<u8>>>,
    ) -> Result<Vec<(PathBuf, bool, Option<u32>)>, Error> {
        let zip_err = |source| Error::Zip { digest: *d, source };
        if archive.len() > self.limits.max_entries {
            return Err(Error::TooLarge {
                digest: *d,
                reason: format!(
                    "{} entries, more than the limit of {}",
                    archive.len(),
                    self.limits.max_entries
                ),
            });
        }
        let mut plan: Vec<(PathBuf, bool, Option<u32>)> = Vec::with_capacity(archive.len());
        let mut declared = 0u64;
        for i in 0..archive.len() {
            let f = archive.by_index_raw(i).map_err(zip_err)?;
            let name = f.name().to_owned();
            let unsafe_entry = |reason| Error::Unsafe {
                digest: *d,
                entry: name.clone(),
                reason,
            };
            if f.is_symlink() {
                return Err(unsafe_entry("is a symlink"));
            }
            let rel = safe_relative(&name).map_err(unsafe_entry)?;
            if f.size() > self.limits.max_entry_bytes {
                return Err(unsafe_entry("is larger than the per-file limit"));
            }
            declared = declared.saturating_add(f.size());
            plan.push((rel, f.is_dir(), f.unix_mode()));
        }
        if declared > self.limits.max_total_bytes {
            return Err(Error::TooLarge {
                digest: *d,
                reason: format!(
                    "{declared} bytes unpacked, more than the limit of {}",
                    self.limits.max_total_bytes
                ),
            });
        }
        Ok(plan)
    }

    /// Unpacks an archive from the store into `dest`, which must not exist or be empty.
    /// Every entry is checked before anything is written.
    pub fn extract_zip(&self, d: &Digest, dest: &Path) -> Result<Extracted, Error> {
        let bytes = self.get(d)?;
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes))
            .map_err(|source| Error::Zip { digest: *d, source })?;
        let zip_err = |source| Error::Zip { digest: *d, source };
        let plan = self.plan_zip(d, &mut archive)?;
        match fs::read_dir(dest) {
            Ok(mut it) => {
                if it.next().is_some() {
                    return Err(Error::DestinationNotEmpty(dest.to_owned()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dest).map_err(io_err("create", dest))?;
            }
            Err(e) => return Err(io_err("read", dest)(e)),
        }
        // Pass 2: write, counting the bytes actually inflated.
        let mut total = 0u64;
        let mut files = 0usize;
        for (i, (rel, is_dir, mode)) in plan.into_iter().enumerate() {
            let target = dest.join(&rel);
            if is_dir {
                fs::create_dir_all(&target).map_err(io_err("create", &target))?;
                continue;
            }
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io_err("create", parent))?;
            }
            let mut f = archive.by_index(i).map_err(zip_err)?;
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(io_err("create", &target))?;
            let budget = self
                .limits
                .max_entry_bytes
                .min(self.limits.max_total_bytes - total);
            let n = io::copy(&mut (&mut f).take(budget + 1), &mut out)
                .map_err(io_err("write", &target))?;
            if n > budget {
                drop(out);
                let _ = fs::remove_file(&target);
                return Err(Error::TooLarge {
                    digest: *d,
                    reason: format!("entry '{}' inflates past the size limit", rel.display()),
                });
            }
            total += n;
            files += 1;
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt as _;
                let perm =
                    fs::Permissions::from_mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
                fs::set_permissions(&target, perm)
                    .map_err(io_err("set permissions on", &target))?;
            }
        }
        Ok(Extracted {
            files,
            bytes: total,
        })
    }

    /// Every digest in the store.
    pub fn list(&self) -> Result<Vec<Digest>, Error> {
        let base = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for shard in fs::read_dir(&base).map_err(io_err("read", &base))? {
            let shard = shard.map_err(io_err("read", &base))?.path();
            let Some(prefix) = shard
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            for f in fs::read_dir(&shard).map_err(io_err("read", &shard))? {
                let f = f.map_err(io_err("read", &shard))?;
                if let Some(rest) = f.file_name().to_str()
                    && let Ok(d) = format!("{prefix}{rest}").parse::<Digest>()
                {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes every blob not in `keep`, and any write left in flight by a crashed process.
    pub fn gc(&self, keep: &std::collections::BTreeSet<Digest>) -> Result<GcStats, Error> {
        let mut stats = GcStats::default();
        for d in self.list()? {
            if keep.contains(&d) {
                stats.kept += 1;
                continue;
            }
            let p = self.path_of(&d);
            let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&p).map_err(io_err("remove", &p))?;
            stats.removed += 1;
            stats.freed_bytes += size;
        }
        let tmp = self.root.join("tmp");
        for f in fs::read_dir(&tmp).map_err(io_err("read", &tmp))? {
            let p = f.map_err(io_err("read", &tmp))?.path();
            let _ = fs::remove_file(p);
        }
        Ok(stats)
    }
}

/// An archive name as a safe relative path: no root, no `..`, no drive or backslash tricks.
fn safe_relative(name: &str) -> Result<PathBuf, &'static str> {
    if name.is_empty() {
        return Err("has an empty name");
    }
    if name.contains('\\') || name.contains('\0') {
        return Err("has a backslash or NUL in its name");
    }
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("climbs out of the destination with '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("has an absolute path"),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("names no file");
    }
    Ok(out)
}

fn walk_files(root: &Path, dir: &Path, out: &mut Vec<ZipEntry>) -> Result<(), Error> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io_err("read", dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err("read", dir))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        let ft = e.file_type().map_err(io_err("read", &path))?;
        if ft.is_dir() {
            walk_files(root, &path, out)?;
        } else if ft.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(ZipEntry {
                name: rel.to_string_lossy().into_owned(),
                source: path.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open(t.path().join("store")).unwrap();
        (t, s)
    }

    /// A zip with whatever entry names and kinds a test needs, bypassing the store's checks.
    fn raw_zip(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, body, symlink) in entries {
            let opts = zip::write::SimpleFileOptions::default();
            if *symlink {
                w.add_symlink(*name, std::str::from_utf8(body).unwrap(), opts)
                    .unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(body).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn blobs_dedupe_and_verify() {
        let (_t, s) = store();
        let a = s.put_bytes(b"hello").unwrap();
        let b = s.put_bytes(b"hello").unwrap();
        assert_eq!(a, b);
        assert_eq!(s.list().unwrap().len(), 1);
        assert_eq!(s.get(&a.digest).unwrap(), b"hello");
        assert_eq!(
            a.digest.hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        fs::write(s.path_of(&a.digest), b"tampered").unwrap();
        assert!(matches!(s.get(&a.digest), Err(Error::Corrupt { .. })));
        let missing = Digest::of(b"nope");
        assert!(matches!(s.get(&missing), Err(Error::Missing(_))));
    }

    #[test]
    fn zips_are_deterministic_and_round_trip() {
        let (t, s) = store();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("pkg")).unwrap();
        fs::write(src.join("app.py"), "print(1)\n").unwrap();
        fs::write(src.join("pkg/mod.py"), "x = 2\n").unwrap();
        let a = s.put_dir(&src).unwrap();
        let b = s.put_dir(&src).unwrap();
        assert_eq!(a.digest, b.digest);
        let out = t.path().join("out");
        let x = s.extract_zip(&a.digest, &out).unwrap();
        assert_eq!(x.files, 2);
        assert_eq!(
            fs::read_to_string(out.join("pkg/mod.py")).unwrap(),
            "x = 2\n"
        );
        assert!(matches!(
            s.extract_zip(&a.digest, &out),
            Err(Error::DestinationNotEmpty(_))
        ));
    }

    #[test]
    fn malicious_archives_are_refused() {
        let (t, s) = store();
        let cases: &[(&str, Vec<u8>)] = &[
            ("traversal", raw_zip(&[("../evil.txt", b"x", false)])),
            (
                "nested traversal",
                raw_zip(&[("a/../../evil.txt", b"x", false)]),
            ),
            ("absolute", raw_zip(&[("/tmp/evil.txt", b"x", false)])),
            (
                "symlink",
                raw_zip(&[("link", b"/etc", true), ("link/passwd", b"x", false)]),
            ),
            ("backslash", raw_zip(&[("..\\evil.txt", b"x", false)])),
        ];
        for (what, bytes) in cases {
            let blob = s.put_bytes(bytes).unwrap();
            let dest = t.path().join(format!("out-{what}"));
            let r = s.check_zip(&blob.digest);
            assert!(matches!(r, Err(Error::Unsafe { .. })), "{what}: {r:?}");
            let r = s.extract_zip(&blob.digest, &dest);
            assert!(matches!(r, Err(Error::Unsafe { .. })), "{what}: {r:?}");
            assert!(!dest.exists(), "{what}: nothing may be written");
        }
        assert!(!t.path().join("evil.txt").exists());
    }

    #[test]
    fn size_limits_hold_even_when_headers_lie() {
        let (t, s) = store();
        let s = s.with_limits(Limits {
            max_entries: 2,
            max_total_bytes: 1000,
            max_entry_bytes: 1000,
        });
        let big = raw_zip(&[("big", &[0u8; 5000], false)]);
        let blob = s.put_bytes(&big).unwrap();
        let r = s.extract_zip(&blob.digest, &t.path().join("big"));
        assert!(
            matches!(r, Err(Error::Unsafe { .. } | Error::TooLarge { .. })),
            "{r:?}"
        );
        let many = raw_zip(&[("a", b"1", false), ("b", b"2", false), ("c", b"3", false)]);
        let blob = s.put_bytes(&many).unwrap();
        let r = s.extract_zip(&blob.digest, &t.path().join("many"));
        assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    }

    #[test]
    fn gc_keeps_only_what_is_referenced() {
        let (_t, s) = store();
        let a = s.put_bytes(b"a").unwrap();
        let b = s.put_bytes(b"bb").unwrap();
        let keep = [a.digest].into_iter().collect();
        let stats = s.gc(&keep).unwrap();
        assert_eq!(stats.kept, 1);
        assert_eq!(stats.removed, 1);
        assert_eq!(stats.freed_bytes, 2);
        assert!(s.contains(&a.digest));
        assert!(!s.contains(&b.digest));
    }
}
