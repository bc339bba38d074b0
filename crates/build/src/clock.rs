//! The build's clock: where every timestamp in a log line, a phase record and
//! `CODEBUILD_START_TIME` comes from. Real by default; tests pass a [`ManualClock`]
//! so that timestamps are fixed and nothing waits for time to pass.
//!
//! Timeouts are the one thing measured on the monotonic clock of the machine, because they bound
//! real processes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use slipway_model::civil::civil_from_days;

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to; every reading advances it by `step_ms` (0 by default),
/// so tests can still see that durations are computed.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
    step: AtomicU64,
}

impl ManualClock {
    pub fn new(start_ms: u64) -> Self {
        Self {
            now: AtomicU64::new(start_ms),
            step: AtomicU64::new(0),
        }
    }

    #[must_use]
    pub fn stepping(self, step_ms: u64) -> Self {
        self.step.store(step_ms, Ordering::SeqCst);
        self
    }

    pub fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        let step = self.step.load(Ordering::SeqCst);
        self.now.fetch_add(step, Ordering::SeqCst)
    }
}

/// `2026/12/01 19:00:00.123` in UTC: the timestamp format of CodeBuild's container log.
pub fn format_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_like_codebuild() {
        assert_eq!(format_ms(0), "1970/01/01 00:00:00.000");
        assert_eq!(format_ms(1_796_151_600_123), "2026/12/01 19:00:00.123");
        assert_eq!(format_ms(951_782_400_000), "2000/02/29 00:00:00.000");
    }
}
