//! The one injectable clock. Real by default; a [`ManualClock`] in tests, where
//! "advance 5 minutes" takes no time at all; a [`ScaledClock`] for rehearsals (`--time-scale`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    pub fn new(start_ms: u64) -> ManualClock {
        ManualClock {
            now: AtomicU64::new(start_ms),
        }
    }

    pub fn advance_ms(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set_ms(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// A clock that runs `scale` times faster than the machine's (`--time-scale N`). A user
/// rehearses a 30-minute canary in 18 seconds with `N = 100`.
///
/// It is an [`Anchor`] — "at real time R the scaled time was V" — and a real-time source:
/// `now = V + (real − R) × scale`. The source is the machine's clock read once and then
/// advanced on the monotonic [`std::time::Instant`] ([`MonotonicWall`]), so the scaled time
/// never goes backwards within a run even when the wall clock is adjusted; tests inject a
/// [`ManualClock`] as the source.
///
/// # Across restarts
///
/// A server started with `--time-scale` keeps its anchor in its data directory
/// ([`ScaledClock::resume_in`], `clock.json`). The next scaled start carries on from it: the
/// scaled time at the restart is where the old clock would be had it kept running, and the
/// new scale applies from there. So a deployment waiting when the server was killed waits,
/// after the restart, exactly what is left of its wait (steps that fell due while the server
/// was down fire at once, in order, as any overdue timer does) — not the whole persisted wait
/// in real time, which is what restarting from the machine's time did.
///
/// A server started without `--time-scale` runs on the machine's clock and ignores the file:
/// it reads the scaled run's timestamps (stack events, deadlines), which lie in the machine's
/// future, as they are, and waits for them in real time. Rehearse on a data directory of
/// its own.
pub struct ScaledClock {
    anchor: Anchor,
    real: Arc<dyn Clock>,
}

/// "At real time `real_ms` the scaled clock read `virtual_ms`, and it runs `scale` times
/// faster from there", as kept in `clock.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub real_ms: u64,
    pub virtual_ms: u64,
    pub scale: f64,
}

impl Anchor {
    /// The scaled time at real time `real_ms` (never before the anchor's own).
    pub fn at(&self, real_ms: u64) -> u64 {
        let elapsed = real_ms.saturating_sub(self.real_ms) as f64;
        // `as` saturates: a huge scale stops at u64::MAX instead of wrapping.
        self.virtual_ms
            .saturating_add((elapsed * self.scale) as u64)
    }

    /// The anchor of a clock starting at real time `real_ms` with `scale`, carrying on from
    /// `previous` (a run before a restart) when there is one.
    pub fn resume(previous: Option<&Anchor>, real_ms: u64, scale: f64) -> Anchor {
        Anchor {
            real_ms,
            virtual_ms: previous.map_or(real_ms, |p| p.at(real_ms)),
            scale,
        }
    }
}

/// The machine's wall-clock time read once, then advanced on the monotonic clock.
pub struct MonotonicWall {
    start_ms: u64,
    started: std::time::Instant,
}

impl MonotonicWall {
    pub fn new() -> MonotonicWall {
        MonotonicWall {
            start_ms: SystemClock.now_ms(),
            started: std::time::Instant::now(),
        }
    }
}

impl Default for MonotonicWall {
    fn default() -> Self {
        MonotonicWall::new()
    }
}

impl Clock for MonotonicWall {
    fn now_ms(&self) -> u64 {
        self.start_ms + self.started.elapsed().as_millis() as u64
    }
}

/// `--time-scale` must be a finite real number above zero.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("the time scale must be a finite number greater than 0, not {0}")]
pub struct BadScale(pub f64);

/// Why a scaled clock could not resume from its data directory.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error(transparent)]
    Scale(#[from] BadScale),
    #[error("cannot read the scaled clock's anchor {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the scaled clock's anchor {} is not valid (delete it to start the clock afresh)", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the scaled clock's anchor {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file in a data directory that keeps a scaled clock's [`Anchor`].
pub const ANCHOR_FILE: &str = "clock.json";

fn check_scale(scale: f64) -> Result<(), BadScale> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(BadScale(scale))
    }
}

impl ScaledClock {
    /// From the machine's time now (nothing persisted).
    pub fn new(scale: f64) -> Result<ScaledClock, BadScale> {
        ScaledClock::starting_at(SystemClock.now_ms(), scale)
    }

    /// From `start_ms` (tests).
    pub fn starting_at(start_ms: u64, scale: f64) -> Result<ScaledClock, BadScale> {
        let real = Arc::new(MonotonicWall::new());
        ScaledClock::with_source(
            Anchor {
                real_ms: real.now_ms(),
                virtual_ms: start_ms,
                scale,
            },
            real,
        )
    }

    /// `anchor` on the real-time source `real`.
    pub fn with_source(anchor: Anchor, real: Arc<dyn Clock>) -> Result<ScaledClock, BadScale> {
        check_scale(anchor.scale)?;
        Ok(ScaledClock { anchor, real })
    }

    /// A scaled clock that carries on from the anchor kept in `data_dir` (see the type's
    /// documentation), and keeps its own there for the next start. `real` is the real-time
    /// source ([`MonotonicWall`] in a server).
    pub fn resume_in(
        data_dir: &Path,
        scale: f64,
        real: Arc<dyn Clock>,
    ) -> Result<ScaledClock, ClockError> {
        check_scale(scale)?;
        let path = data_dir.join(ANCHOR_FILE);
        let previous = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice::<Anchor>(&bytes).map_err(|source| {
                ClockError::Corrupt {
                    path: path.clone(),
                    source,
                }
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ClockError::Read { path, source }),
        };
        let anchor = Anchor::resume(previous.as_ref(), real.now_ms(), scale);
        write_anchor(&path, &anchor).map_err(|source| ClockError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(ScaledClock::with_source(anchor, real)?)
    }

    pub fn scale(&self) -> f64 {
        self.anchor.scale
    }

    pub fn anchor(&self) -> Anchor {
        self.anchor
    }
}

/// Writes the anchor whole or not at all (a temporary file, synced, renamed over).
fn write_anchor(path: &Path, anchor: &Anchor) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(anchor).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> u64 {
        self.anchor.at(self.real.now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_starts_where_asked_runs_faster_and_never_goes_back() {
        let c = ScaledClock::starting_at(1_000, 1000.0).unwrap();
        let first = c.now_ms();
        assert!(first >= 1_000);
        let before = std::time::Instant::now();
        // Poll (bounded) until real time has moved at least 2 ms.
        let mut last = first;
        while before.elapsed() < std::time::Duration::from_millis(2) {
            let now = c.now_ms();
            assert!(now >= last, "went back from {last} to {now}");
            last = now;
        }
        // 2 real ms at ×1000 are at least 2 virtual seconds.
        assert!(c.now_ms() >= first + 2_000, "{} vs {first}", c.now_ms());
    }

    #[test]
    fn a_scale_must_be_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(ScaledClock::starting_at(0, bad).is_err(), "{bad}");
        }
        assert!(ScaledClock::starting_at(0, 0.5).is_ok());
    }

    #[test]
    fn a_restart_resumes_the_scaled_clock_with_the_remaining_wait() {
        let dir = tempfile::tempdir().unwrap();
        let real = Arc::new(ManualClock::new(1_000_000));
        // First run at ×60: a deployment step is due 60 s of server time after the start.
        let first = ScaledClock::resume_in(dir.path(), 60.0, real.clone()).unwrap();
        let start = first.now_ms();
        assert_eq!(start, 1_000_000, "a first start begins at real time");
        let due = start + 60_000;
        // 0.4 real seconds later (24 s of server time) the server is killed; 36 s are left.
        real.advance_ms(400);
        assert_eq!(first.now_ms(), start + 24_000);
        drop(first);
        // Down for 0.2 real seconds, then restarted with the same scale.
        real.advance_ms(200);
        let second = ScaledClock::resume_in(dir.path(), 60.0, real.clone()).unwrap();
        // It reads where the first clock would be: 0.6 real s x 60 after the start.
        assert_eq!(second.now_ms(), start + 36_000);
        // The step comes due 0.4 real seconds later, one real second after the first start,
        // as without the restart; from the machine's time it would have taken a real minute.
        real.advance_ms(399);
        assert!(second.now_ms() < due);
        real.advance_ms(1);
        assert_eq!(second.now_ms(), due);
        // A restart with another scale carries on from the same point at the new rate.
        drop(second);
        let third = ScaledClock::resume_in(dir.path(), 10.0, real.clone()).unwrap();
        assert_eq!(third.now_ms(), due);
        real.advance_ms(100);
        assert_eq!(third.now_ms(), due + 1_000);
        // The anchor on disk is the last start's.
        let kept: Anchor =
            serde_json::from_slice(&std::fs::read(dir.path().join(ANCHOR_FILE)).unwrap()).unwrap();
        assert_eq!(kept, third.anchor());
        // A broken anchor is an error naming the file, not a silent restart from real time.
        std::fs::write(dir.path().join(ANCHOR_FILE), b"{not json").unwrap();
        let e = ScaledClock::resume_in(dir.path(), 10.0, real)
            .err()
            .unwrap();
        assert!(e.to_string().contains("clock.json"), "{e}");
    }

    #[test]
    fn a_scaled_clock_never_reads_before_its_anchor() {
        let real = Arc::new(ManualClock::new(5_000));
        let a = Anchor {
            real_ms: 5_000,
            virtual_ms: 9_000,
            scale: 2.0,
        };
        let c = ScaledClock::with_source(a, real.clone()).unwrap();
        // The wall clock set back between two runs: the scaled time stays at the anchor.
        real.set_ms(1_000);
        assert_eq!(c.now_ms(), 9_000);
        assert_eq!(Anchor::resume(Some(&a), 1_000, 2.0).virtual_ms, 9_000);
    }
}
