//! The one injectable clock. Real by default; a [`ManualClock`] in tests, where
//! "advance 5 minutes" takes no time at all; a [`ScaledClock`] for rehearsals (`--time-scale`).

use std::sync::atomic::{AtomicU64, Ordering};

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

/// A clock that runs `scale` times faster than the machine's (`--time-scale N`): it starts at
/// the machine's time and then advances `scale` milliseconds per real millisecond, measured
/// on the monotonic [`std::time::Instant`], so it never goes backwards even when the wall
/// clock is adjusted. A user rehearses a 30-minute canary in 18 seconds with `N = 100`.
///
/// Times it writes are ahead of the machine's: a store a scaled server used holds timestamps
/// (stack events, deadlines) in the machine's future. A later server at real time reads them
/// as they are: a wait persisted under a scale is then waited for in real time, and event
/// times may run backwards across the two runs. Rehearse on a data directory of its own.
pub struct ScaledClock {
    start_ms: u64,
    started: std::time::Instant,
    scale: f64,
}

/// `--time-scale` must be a finite real number above zero.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("the time scale must be a finite number greater than 0, not {0}")]
pub struct BadScale(pub f64);

impl ScaledClock {
    /// From the machine's time now.
    pub fn new(scale: f64) -> Result<ScaledClock, BadScale> {
        ScaledClock::starting_at(SystemClock.now_ms(), scale)
    }

    /// From `start_ms` (tests).
    pub fn starting_at(start_ms: u64, scale: f64) -> Result<ScaledClock, BadScale> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(BadScale(scale));
        }
        Ok(ScaledClock {
            start_ms,
            started: std::time::Instant::now(),
            scale,
        })
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> u64 {
        let real = self.started.elapsed().as_secs_f64() * 1000.0;
        // `as` saturates: a huge scale stops at u64::MAX instead of wrapping.
        self.start_ms.saturating_add((real * self.scale) as u64)
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
}
