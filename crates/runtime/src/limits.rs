//! What is applied in the child between `fork` and `exec`: resource limits, and the one
//! descriptor it inherits.
//!
//! This is the one place in the workspace that needs `unsafe`: `pre_exec` runs a closure in the
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
