//! The execution environments' process groups, recorded under the work directory so that a
//! runtime started after a crash (`kill -9` of the server) stops the ones its predecessor left.
//!
//! What really happens to them when the server dies without cleaning up: each environment is
//! its own process group, re-parented to init. An idle built-in bootstrap sees its fast channel
//! close (`_FastApi` raises) and an idle `awslambdaric` loses its Runtime API connection, so
//! both exit; but a handler still running (a long invocation, a hook) carries on until it ends,
//! holding its `TMPDIR` — which the next runtime hands out again (`env-1`, …) — and whatever
//! else it touches. So: a file `<work dir>/groups/<pgid>` per live environment, written after
//! spawn and removed when the environment is killed, holds `owner-pid owner-start child-start`
//! (start times from `/proc/PID/stat`, so a recycled PID is never mistaken for ours).
//! [`Groups::sweep`], run by `Runtime::new`, kills every recorded group whose owner is no longer
//! running and whose leader is still the process we started, then forgets the records. A record
//! whose owner still runs (another live runtime over the same directory) is left alone.

use std::path::{Path, PathBuf};

use rustix::process::{Pid, Signal};

/// What [`Groups::sweep`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Sweep {
    /// Leftover groups killed.
    pub(crate) killed: usize,
    /// Some records belong to another runtime still running over this directory.
    pub(crate) others_running: bool,
}

pub(crate) struct Groups {
    dir: PathBuf,
    /// This process: its PID and start time.
    owner: (u32, u64),
}

/// A process's start time (clock ticks since boot), field 22 of `/proc/PID/stat`; `None` when
/// there is no such process (or it is a zombie, which holds nothing).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state …`: comm may hold spaces and parentheses; the fields follow the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

impl Groups {
    pub(crate) fn new(work_dir: &Path) -> std::io::Result<Groups> {
        let dir = work_dir.join("groups");
        std::fs::create_dir_all(&dir)?;
        let me = std::process::id();
        Ok(Groups {
            dir,
            owner: (me, start_time(me).unwrap_or(0)),
        })
    }

    /// Records a process group just spawned (its leader's PID is the group ID).
    pub(crate) fn record(&self, pgid: u32) {
        let Some(start) = start_time(pgid) else {
            return; // already gone
        };
        let text = format!("{} {} {start}\n", self.owner.0, self.owner.1);
        if let Err(error) = std::fs::write(self.dir.join(pgid.to_string()), text) {
            tracing::warn!(%error, pgid, "cannot record an execution environment's process group");
        }
    }

    /// Forgets a process group this runtime killed.
    pub(crate) fn forget(&self, pgid: u32) {
        let _ = std::fs::remove_file(self.dir.join(pgid.to_string()));
    }

    /// Kills the groups left by runtimes that are no longer running.
    pub(crate) fn sweep(&self) -> Sweep {
        let mut out = Sweep::default();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(pgid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let nums: Vec<u64> = text
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            let [owner, owner_start, child_start] = nums[..] else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let owner_alive = u32::try_from(owner)
                .ok()
                .and_then(start_time)
                .is_some_and(|s| s == owner_start);
            if owner_alive {
                out.others_running = true;
                continue;
            }
            if start_time(pgid) == Some(child_start)
                && let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw)
            {
                match rustix::process::kill_process_group(pid, Signal::KILL) {
                    Ok(()) => out.killed += 1,
                    Err(error) => {
                        tracing::warn!(%error, pgid, "cannot stop a leftover execution environment");
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_read_and_missing_processes_have_none() {
        assert!(start_time(std::process::id()).is_some());
        assert_eq!(start_time(u32::MAX), None);
    }

    #[test]
    fn records_of_a_live_owner_are_kept_and_malformed_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let groups = Groups::new(dir.path()).unwrap();
        // A record of this very process as a group of ours: its owner (us) runs, so it stays.
        groups.record(std::process::id());
        std::fs::write(dir.path().join("groups/12345"), "garbage").unwrap();
        assert_eq!(
            groups.sweep(),
            Sweep {
                killed: 0,
                others_running: true
            }
        );
        assert!(
            dir.path()
                .join(format!("groups/{}", std::process::id()))
                .exists()
        );
        assert!(!dir.path().join("groups/12345").exists());
        groups.forget(std::process::id());
        assert!(
            !dir.path()
                .join(format!("groups/{}", std::process::id()))
                .exists()
        );
    }

    #[test]
    fn a_group_whose_owner_is_gone_is_killed() {
        use std::os::unix::process::CommandExt as _;
        let dir = tempfile::tempdir().unwrap();
        let groups = Groups::new(dir.path()).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        let start = start_time(pgid).unwrap();
        // Owned by a process that does not exist.
        std::fs::write(
            dir.path().join(format!("groups/{pgid}")),
            format!("{} 0 {start}\n", u32::MAX),
        )
        .unwrap();
        assert_eq!(
            groups.sweep(),
            Sweep {
                killed: 1,
                others_running: false
            }
        );
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(9));
        assert!(!dir.path().join(format!("groups/{pgid}")).exists());
        // A record whose leader is not the process it names any more is only dropped.
        std::fs::write(
            dir.path().join(format!("groups/{pgid}")),
            format!("{} 0 {start}\n", u32::MAX),
        )
        .unwrap();
        assert_eq!(groups.sweep(), Sweep::default());
    }
}
