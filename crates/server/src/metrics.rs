//! `AWS/Lambda` metrics for alarm evaluation, sampled from the runtime's counters.
//!
//! The runtime keeps running totals per function version ([`FunctionMetrics`]); before each
//! engine tick the server takes the difference since the previous tick and records it as one
//! sample at the engine clock's now: `Invocations`, `Errors`, `Throttles` (counts) and
//! `Duration` (the mean of the new invocations, ms). Dimensions are `FunctionName` and
//! `ExecutedVersion`; a `Resource` dimension matches `FUNCTION` or `FUNCTION:QUALIFIER` of the
//! same function (the runtime does not know which alias an invocation came through, so every
//! version's samples answer for every alias — exact while one alias serves a function).
//! Samples older than a day (by the engine clock) are dropped. Samples belong to the target
//! (`account/region`) of their function: an alarm of one target never sees the invocations of
//! a same-named function of another.

use std::collections::BTreeMap;
use std::sync::Mutex;

use slipway_deploy::alarm::Sample;
use slipway_engine::Metrics;
use slipway_model::function::{Location, Version};
use slipway_runtime::{FunctionMetrics, Runtime};

const KEEP_MS: u64 = 24 * 60 * 60 * 1000;

struct Rec {
    at_ms: u64,
    /// `account/region`.
    target: String,
    function: String,
    version: String,
    metric: &'static str,
    value: f64,
}

pub(crate) struct RuntimeMetrics {
    runtime: Runtime,
    last: Mutex<BTreeMap<(Location, String, Version), FunctionMetrics>>,
    samples: Mutex<Vec<Rec>>,
}

impl RuntimeMetrics {
    pub(crate) fn new(runtime: Runtime) -> RuntimeMetrics {
        RuntimeMetrics {
            runtime,
            last: Mutex::new(BTreeMap::new()),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// Records what the given versions did since the previous call, at `now_ms`.
    pub(crate) fn sample(&self, versions: &[(Location, String, Version)], now_ms: u64) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.retain(|s| s.at_ms + KEEP_MS >= now_ms);
        for (l, f, v) in versions {
            let Some(now) = self.runtime.metrics_at(Some(l), f, v) else {
                continue;
            };
            let before = last
                .insert((l.clone(), f.clone(), v.clone()), now.clone())
                .unwrap_or_default();
            let target = format!("{}/{}", l.account, l.region);
            let d = |a: u64, b: u64| a.saturating_sub(b) as f64;
            let invocations = d(now.invocations, before.invocations);
            let mut push = |metric, value| {
                samples.push(Rec {
                    at_ms: now_ms,
                    target: target.clone(),
                    function: f.clone(),
                    version: v.to_string(),
                    metric,
                    value,
                });
            };
            if invocations > 0.0 {
                push("Invocations", invocations);
                push("Errors", d(now.errors, before.errors));
                let total = now.duration_ms_total - before.duration_ms_total;
                push("Duration", (total / invocations).max(0.0));
            }
            let throttles = d(now.throttles, before.throttles);
            if throttles > 0.0 {
                push("Throttles", throttles);
            }
        }
    }
}

impl Metrics for RuntimeMetrics {
    fn samples(
        &self,
        target: &str,
        namespace: &str,
        metric: &str,
        dimensions: &BTreeMap<String, String>,
        from_ms: u64,
        to_ms: u64,
    ) -> Vec<Sample> {
        if namespace != "AWS/Lambda" {
            return Vec::new();
        }
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples
            .iter()
            .filter(|s| {
                s.target == target && s.metric == metric && s.at_ms >= from_ms && s.at_ms < to_ms
            })
            .filter(|s| {
                dimensions.iter().all(|(k, v)| match k.as_str() {
                    "FunctionName" => *v == s.function,
                    "ExecutedVersion" => *v == s.version,
                    "Resource" => v.split(':').next() == Some(s.function.as_str()),
                    _ => false,
                })
            })
            .map(|s| Sample {
                at_ms: s.at_ms,
                value: s.value,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alarm_reads_only_the_samples_of_its_own_target() {
        let dir = tempfile::tempdir().unwrap();
        let runtime =
            Runtime::new(slipway_runtime::RuntimeConfig::new(dir.path().join("rt"))).unwrap();
        let m = RuntimeMetrics::new(runtime);
        {
            let mut samples = m.samples.lock().unwrap();
            for (target, value) in [
                ("111111111111/us-east-1", 1.0),
                ("222222222222/eu-west-1", 5.0),
            ] {
                samples.push(Rec {
                    at_ms: 1_000,
                    target: target.to_owned(),
                    function: "hello".to_owned(),
                    version: "1".to_owned(),
                    metric: "Errors",
                    value,
                });
            }
        }
        let dims = BTreeMap::from([("FunctionName".to_owned(), "hello".to_owned())]);
        let got = |target: &str| -> Vec<f64> {
            m.samples(target, "AWS/Lambda", "Errors", &dims, 0, 2_000)
                .iter()
                .map(|s| s.value)
                .collect()
        };
        assert_eq!(got("111111111111/us-east-1"), [1.0]);
        assert_eq!(got("222222222222/eu-west-1"), [5.0]);
        assert!(got("123456789012/us-east-1").is_empty());
    }
}
