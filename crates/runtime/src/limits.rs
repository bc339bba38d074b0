//! Resource limits applied in the child between `fork` and `exec`.
//!
//! This is the one place in the workspace that needs `unsafe`: `pre_exec` runs a closure in the
//! forked child, where only async-signal-safe calls are allowed. The closure makes exactly one
//! system call, `setrlimit(RLIMIT_AS)`, through rustix (a raw syscall: no allocation, no locks).

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
