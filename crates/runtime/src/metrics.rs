//! Per-minute series of one function version: invocations, errors, cold starts and a small
//! fixed-size latency histogram per minute, for the console's charts (p50/p99 by minute).
//!
//! # Bounded memory
//!
//! Each version keeps a ring of [`MINUTES`] minutes (the last hour); a slot is reused when
//! its minute comes round again, so a version costs `MINUTES × size_of::<Minute>()` (about
//! 11 KB) however many invocations it serves and however long it lives. The ring goes away
//! with the version's pool.
//!
//! # The histogram
//!
//! [`BINS`] bins on a √2 scale: bin `i` holds durations up to `BASE_MS × √2^i` (0.0625 ms,
//! 0.088 ms, 0.125 ms, … about 46 s); the last bin also holds everything longer. A quantile is
//! read by walking the counts to the bin that holds it and interpolating inside that bin, so
//! it is within one bin's width (a factor of √2) of the true value — the precision a chart
//! needs, at 4 bytes per bin. (CloudWatch's own percentiles are also estimates from a
//! compressed distribution, not exact order statistics.)
//!
//! # Cost per invoke
//!
//! [`Recorder::record`] takes one uncontended `Mutex` for a few additions and one `log2`;
//! readers copy the ring under the same lock.
//!
//! Minutes are wall-clock minutes (milliseconds since the Unix epoch / 60 000), as the log
//! records' timestamps are; the caller passes the time in, so tests choose it.

use std::sync::Mutex;

/// Minutes kept per function version.
pub const MINUTES: usize = 60;
/// Bins of the latency histogram.
pub const BINS: usize = 40;
/// The upper bound of the first bin, in milliseconds.
pub const BASE_MS: f64 = 0.0625;

/// One minute of one function version.
#[derive(Clone, Debug, PartialEq)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    pub invocations: u32,
    /// Invocations that ended in a function error (timeouts and crashes included).
    pub errors: u32,
    /// Invocations that ran an init phase first.
    pub cold_starts: u32,
    /// Invocations with a measured duration (an init failure has none), and their total.
    pub timed: u32,
    pub duration_ms_total: f64,
    pub histogram: [u32; BINS],
}

impl Minute {
    fn empty(minute: u64) -> Minute {
        Minute {
            minute,
            invocations: 0,
            errors: 0,
            cold_starts: 0,
            timed: 0,
            duration_ms_total: 0.0,
            histogram: [0; BINS],
        }
    }

    /// The upper bound of bin `i`, in milliseconds.
    pub fn bin_upper_ms(i: usize) -> f64 {
        BASE_MS * std::f64::consts::SQRT_2.powi(i as i32)
    }

    fn bin_of(ms: f64) -> usize {
        if ms <= BASE_MS || ms.is_nan() {
            return 0;
        }
        // bin i holds (BASE·√2^(i-1), BASE·√2^i].
        let i = ((ms / BASE_MS).log2() * 2.0).ceil();
        (i as usize).min(BINS - 1)
    }

    /// The `q` quantile (0 < q ≤ 1) of the minute's durations, estimated from the histogram;
    /// `None` when no invocation was timed.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.timed == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * f64::from(self.timed)).max(1.0);
        let mut seen = 0.0;
        for (i, &n) in self.histogram.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let n = f64::from(n);
            if seen + n >= rank {
                let lo = if i == 0 {
                    0.0
                } else {
                    Minute::bin_upper_ms(i - 1)
                };
                let hi = Minute::bin_upper_ms(i);
                return Some(lo + (hi - lo) * ((rank - seen) / n));
            }
            seen += n;
        }
        Some(Minute::bin_upper_ms(BINS - 1))
    }
}

/// The ring of one function version.
pub(crate) struct Recorder {
    ring: Mutex<Vec<Minute>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            ring: Mutex::new((0..MINUTES).map(|_| Minute::empty(u64::MAX)).collect()),
        }
    }
}

impl Recorder {
    /// Records one invocation that ended at `now_ms` (wall clock): its duration when it ran
    /// (`None` after an init failure), whether it failed and whether it was a cold start.
    pub(crate) fn record(&self, now_ms: u64, duration_ms: Option<f64>, error: bool, cold: bool) {
        let minute = now_ms / 60_000;
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut ring[(minute % MINUTES as u64) as usize];
        if slot.minute != minute {
            *slot = Minute::empty(minute);
        }
        slot.invocations += 1;
        slot.errors += u32::from(error);
        slot.cold_starts += u32::from(cold);
        if let Some(ms) = duration_ms {
            slot.timed += 1;
            slot.duration_ms_total += ms;
            slot.histogram[Minute::bin_of(ms)] += 1;
        }
    }

    /// The minutes with invocations among the last [`MINUTES`] up to `now_ms`, oldest first.
    pub(crate) fn snapshot(&self, now_ms: u64) -> Vec<Minute> {
        let now = now_ms / 60_000;
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Minute> = ring
            .iter()
            .filter(|m| m.minute <= now && now - m.minute < MINUTES as u64)
            .cloned()
            .collect();
        drop(ring);
        out.sort_by_key(|m| m.minute);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_their_bounds() {
        assert_eq!(Minute::bin_of(0.0), 0);
        assert_eq!(Minute::bin_of(BASE_MS), 0);
        assert_eq!(Minute::bin_of(BASE_MS * 1.2), 1);
        for i in 1..BINS {
            let upper = Minute::bin_upper_ms(i);
            assert_eq!(
                Minute::bin_of(upper * 0.999),
                i,
                "just under bin {i}'s bound"
            );
            assert_eq!(
                Minute::bin_of(upper * 0.75),
                i,
                "above bin {}'s bound",
                i - 1
            );
        }
        assert_eq!(Minute::bin_of(1e9), BINS - 1);
        assert!(Minute::bin_upper_ms(BINS - 1) > 40_000.0);
    }

    #[test]
    fn quantiles_are_within_a_bin_of_the_truth() {
        let r = Recorder::default();
        // 98 fast invocations of 2 ms and 2 slow ones of 300 ms in one minute.
        for _ in 0..98 {
            r.record(60_000, Some(2.0), false, false);
        }
        r.record(60_001, Some(300.0), true, true);
        r.record(60_002, Some(300.0), false, false);
        let m = &r.snapshot(61_000)[0];
        assert_eq!((m.invocations, m.errors, m.cold_starts), (100, 1, 1));
        let p50 = m.quantile_ms(0.5).unwrap();
        let p99 = m.quantile_ms(0.99).unwrap();
        assert!(p50 > 2.0 / std::f64::consts::SQRT_2 && p50 <= 2.0 * std::f64::consts::SQRT_2);
        assert!(p99 > 300.0 / std::f64::consts::SQRT_2 && p99 <= 300.0 * std::f64::consts::SQRT_2);
    }

    #[test]
    fn the_ring_keeps_the_last_hour_only() {
        let r = Recorder::default();
        for minute in 0..150u64 {
            r.record(minute * 60_000, Some(1.0), false, false);
        }
        let got = r.snapshot(149 * 60_000);
        assert_eq!(got.len(), MINUTES);
        assert_eq!(got.first().unwrap().minute, 90);
        assert_eq!(got.last().unwrap().minute, 149);
        // An hour later nothing is current.
        assert!(r.snapshot(300 * 60_000).is_empty());
        // An init failure counts, with no duration.
        r.record(400 * 60_000, None, true, true);
        let m = &r.snapshot(400 * 60_000)[0];
        assert_eq!((m.invocations, m.timed), (1, 0));
        assert_eq!(m.quantile_ms(0.5), None);
    }
}
