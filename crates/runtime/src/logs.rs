//! Function logs: every line an execution environment prints, plus the platform's `START`,
//! `END`, `REPORT`, `INIT_REPORT` and timeout lines, timestamped and kept per function and
//! version (a bounded ring, like a CloudWatch log group that forgets), and handed as they come
//! to an optional [`LogSink`] (the CLI prints them to stderr).
//!
//! A record is one CloudWatch event: a line of output, or a multi-line error report that the
//! Python runtime joins with `\r` (as awslambdaric does), kept as written.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use slipway_model::civil::civil_from_days;
use slipway_model::function::Version;

/// One log event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Wall-clock time, Unix epoch milliseconds.
    pub timestamp_ms: u64,
    pub function: String,
    pub version: Version,
    /// `AWS_LAMBDA_LOG_STREAM_NAME` of the environment that wrote it.
    pub log_stream: String,
    /// The invocation running when the line was written, if any.
    pub request_id: Option<String>,
    /// The text, without its final newline.
    pub message: String,
}

/// Receives every log record as it is written.
pub trait LogSink: Send + Sync + 'static {
    fn record(&self, record: &LogRecord);

    /// Writes out whatever the sink still holds (`Runtime::shutdown` calls it).
    fn flush(&self) {}
}

/// How many records are kept per function version.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

type Key = (String, Version);

/// The log store: bounded per function version.
pub(crate) struct Logs {
    capacity: usize,
    kept: Mutex<BTreeMap<Key, VecDeque<LogRecord>>>,
    sink: Option<Arc<dyn LogSink>>,
}

impl Logs {
    pub(crate) fn new(capacity: usize, sink: Option<Arc<dyn LogSink>>) -> Self {
        Self {
            capacity,
            kept: Mutex::new(BTreeMap::new()),
            sink,
        }
    }

    pub(crate) fn push(&self, record: LogRecord) {
        if let Some(sink) = &self.sink {
            sink.record(&record);
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let ring = kept
            .entry((record.function.clone(), record.version.clone()))
            .or_default();
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    pub(crate) fn flush(&self) {
        if let Some(sink) = &self.sink {
            sink.flush();
        }
    }

    pub(crate) fn snapshot(&self, function: &str, version: &Version) -> Vec<LogRecord> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&(function.to_owned(), version.clone()))
            .map(|ring| ring.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The records of one invocation, in order.
    pub(crate) fn of_request(&self, function: &str, version: &Version, id: &str) -> Vec<String> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(&(function.to_owned(), version.clone()))
            .map(|ring| {
                ring.iter()
                    .filter(|r| r.request_id.as_deref() == Some(id))
                    .map(|r| r.message.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// RFC 3339 UTC with milliseconds: `2026-12-01T18:53:23.123Z`.
pub fn rfc3339_ms(epoch_ms: u64) -> String {
    let secs = (epoch_ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        epoch_ms % 1000
    )
}

/// `YYYY/MM/DD` of a wall-clock time, as in a Lambda log stream name.
pub(crate) fn log_stream_date(epoch_ms: u64) -> String {
    let (y, mo, d) = civil_from_days(((epoch_ms / 1000) as i64).div_euclid(86_400));
    format!("{y:04}/{mo:02}/{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_542_409_706_888), "2018-11-16T23:08:26.888Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(log_stream_date(1_542_409_706_888), "2018/11/16");
    }
}
