//! What is applied in the child between `fork` and `exec`: resource limits, and the one
//! descriptor it inherits.
//!
//! This is one of the two places in the workspace that need `unsafe` (the other registers the
//! fast channel's socket with the reactor, `fast.rs`): `pre_exec` runs a closure in the
//! forked child, where only async-signal-safe calls are allowed. Each closure makes exactly one
//! system call through rustix (a raw syscall: no allocation, no locks): `setrlimit(RLIMIT_AS)`,
//! or `fcntl(F_SETFD)` to keep the fast channel open across `exec`.

use tokio::process::Command;

/// Caps the child's address space at `bytes` (soft and hard limit).
pub(crate) fn limit_address_space(command: &mut Command, bytes: u64) {
    let limit = rustix::process::Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    #[allow(unsafe_code)]
    // SAFETY: the closure only calls setrlimit(2), which is async-signal-safe, and captures a
    // plain `Copy`-like value; it allocates nothing and touches no lock held by the parent.
    unsafe {
        command.pre_exec(move || {
            rustix::process::setrlimit(rustix::process::Resource::As, limit)
                .map_err(std::io::Error::from)
        });
    }
}

/// Lets the child keep the descriptor `fd` across `exec` (it is close-on-exec in the parent,
/// so no other child spawned meanwhile inherits it): the fast channel's end for the process.
pub(crate) fn inherit_fd(command: &mut Command, fd: std::os::fd::RawFd) {
    #[allow(unsafe_code)]
    // SAFETY: the closure only calls fcntl(2) (F_SETFD) on a descriptor number the parent keeps
    // open until the spawn returns; fcntl is async-signal-safe, and nothing is allocated or
    // locked. `BorrowedFd::borrow_raw` is sound because the descriptor is open in the child (a
    // fork copies the table) for the whole call.
    unsafe {
        command.pre_exec(move || {
            let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).map_err(std::io::Error::from)
        });
    }
}

/// How the code directory was made read-only to the function, as far as the platform can.
///
/// - **Root (or `CAP_SYS_ADMIN`)**: `unshare(CLONE_NEWNS)` in the child, every mount made a
///   slave (nothing the child mounts reaches the host), then the code directory bind-mounted
///   onto itself and remounted `MS_RDONLY`. Writes fail with `EROFS` ("Read-only file system",
///   errno 30), as on Lambda, whatever the file permissions say — this is what makes it hold
///   for root, where permissions do not.
/// - **Unprivileged, with user namespaces allowed**: the same inside a new user namespace
///   (`CLONE_NEWUSER | CLONE_NEWNS`) that maps only the caller's own uid and gid to
///   themselves (`setgroups` denied), so the function keeps its uid, files keep their owners,
///   and it gains no privilege outside. The remount keeps the mount's locked flags (`nosuid`,
///   `nodev`, `noexec`, atime), which the kernel requires there.
///   Checked by hand (CI runs as root): the read-only test run as `nobody`, `setpriv
///   --reuid=65534 --regid=65534 --clear-groups env -i PATH=/usr/bin:/bin HOME=/tmp/h
///   target/debug/deps/runtime-… the_code_directory_is_read_only` (with its scratch directory
///   writable by that user) passes.
/// - **Neither** (user namespaces disabled, or a seccomp policy refusing `unshare`/`mount`):
///   the code directory stays writable, and one warning says so. Slipway does not chmod the
///   code directory instead: it is often the user's own source tree, and for root permissions
///   would not stop the write anyway.
///
/// The platform's own directories under it (the work directory with `TMPDIR`, when the code
/// directory contains it, as with `CodeUri: .`) are bind-mounted again read-write on top.
/// The namespace lives and dies with the process group; process-group kills, rlimits and the
/// fast channel's descriptor are untouched by it.
pub(crate) struct ReadOnlyCode {
    code_dir: std::ffi::CString,
    writable: Vec<std::ffi::CString>,
    /// Flags the read-only remount must keep (locked in a user namespace).
    keep: rustix::mount::MountFlags,
    /// `uid_map` / `gid_map` lines when a user namespace is needed (not root).
    user_maps: Option<(Vec<u8>, Vec<u8>)>,
}

impl ReadOnlyCode {
    /// `None` when a path cannot be passed to the kernel (a NUL in it).
    pub(crate) fn new(code_dir: &std::path::Path, writable: &[&std::path::Path]) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt as _;
        let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_bytes()).ok();
        // Absolute and without symlinks: the child has already changed into the code directory
        // when it mounts, and a relative path would name something else.
        let code_dir = &std::fs::canonicalize(code_dir).ok()?;
        let writable = writable
            .iter()
            .filter_map(|w| std::fs::canonicalize(w).ok())
            .filter(|w| w.starts_with(code_dir))
            .map(|w| c(&w))
            .collect::<Option<Vec<_>>>()?;
        let mut keep = rustix::mount::MountFlags::empty();
        if let Ok(st) = rustix::fs::statvfs(code_dir) {
            use rustix::fs::StatVfsMountFlags as S;
            use rustix::mount::MountFlags as M;
            for (s, m) in [
                (S::NOSUID, M::NOSUID),
                (S::NODEV, M::NODEV),
                (S::NOEXEC, M::NOEXEC),
                (S::NOATIME, M::NOATIME),
                (S::NODIRATIME, M::NODIRATIME),
                (S::RELATIME, M::RELATIME),
            ] {
                if st.f_flag.contains(s) {
                    keep |= m;
                }
            }
        }
        let uid = rustix::process::geteuid();
        let user_maps = (!uid.is_root()).then(|| {
            let gid = rustix::process::getegid().as_raw();
            (
                format!("{0} {0} 1\n", uid.as_raw()).into_bytes(),
                format!("{gid} {gid} 1\n").into_bytes(),
            )
        });
        Some(Self {
            code_dir: c(code_dir)?,
            writable,
            keep,
            user_maps,
        })
    }
}

/// Makes the child's view of the code directory read-only (see [`ReadOnlyCode`]). When any
/// step fails the spawn fails with that error; the caller then spawns again without it.
pub(crate) fn read_only_code_dir(command: &mut Command, spec: ReadOnlyCode) {
    use rustix::mount::{MountFlags, MountPropagationFlags};
    #[allow(unsafe_code)]
    // SAFETY: the closure makes only raw system calls through rustix (unshare, open, write,
    // close, mount) on C strings and byte buffers prepared before the fork and captured by
    // value: nothing is allocated, formatted or locked in the child. `unshare_unsafe` is
    // called without `CLONE_FILES`, so no descriptor table is split between threads (the
    // child of a fork has one thread).
    unsafe {
        command.pre_exec(move || {
            let err = |e: rustix::io::Errno| std::io::Error::from(e);
            let write_file = |path: &std::ffi::CStr, data: &[u8]| -> std::io::Result<()> {
                let fd =
                    rustix::fs::open(path, rustix::fs::OFlags::WRONLY, rustix::fs::Mode::empty())
                        .map_err(err)?;
                rustix::io::write(&fd, data).map_err(err)?;
                Ok(())
            };
            match &spec.user_maps {
                None => rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)
                    .map_err(err)?,
                Some((uid_map, gid_map)) => {
                    rustix::thread::unshare_unsafe(
                        rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNS,
                    )
                    .map_err(err)?;
                    write_file(c"/proc/self/setgroups", b"deny")?;
                    write_file(c"/proc/self/uid_map", uid_map)?;
                    write_file(c"/proc/self/gid_map", gid_map)?;
                }
            }
            rustix::mount::mount_change(
                c"/",
                MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
            )
            .map_err(err)?;
            rustix::mount::mount_bind(spec.code_dir.as_c_str(), spec.code_dir.as_c_str())
                .map_err(err)?;
            rustix::mount::mount_remount(
                spec.code_dir.as_c_str(),
                MountFlags::BIND | MountFlags::RDONLY | spec.keep,
                c"",
            )
            .map_err(err)?;
            for w in &spec.writable {
                // A bind copies the read-only flag of the mount it comes from: remount it
                // writable (this mount is ours, so no flag of it is locked).
                rustix::mount::mount_bind(w.as_c_str(), w.as_c_str()).map_err(err)?;
                rustix::mount::mount_remount(w.as_c_str(), MountFlags::BIND | spec.keep, c"")
                    .map_err(err)?;
            }
            Ok(())
        });
    }
}
