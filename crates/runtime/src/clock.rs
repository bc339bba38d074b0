//! The clock that idle reaping reads. Real by default; tests use [`ManualClock`] and advance it,
//! so no test waits for time to pass.
//!
//! Only *monotonic* bookkeeping goes through this clock (when an environment was last used).
//! What a function sees — `Lambda-Runtime-Deadline-Ms`, log timestamps — is wall-clock time,
//! because the handler compares it with its own `time.time()`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A monotonic clock: time elapsed since an arbitrary origin.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Duration;
}

/// The real monotonic clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
