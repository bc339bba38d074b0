//! CloudWatch metric alarms, evaluated purely over a metric series.
//!
//! Sources: CloudWatch User Guide `AlarmThatSendsEmail` ("Evaluating an alarm": Period,
//! Evaluation Periods, Datapoints to Alarm — "M out of N"), `alarms-and-missing-data`
//! ("Configuring how CloudWatch alarms treat missing data"), API `PutMetricAlarm` (valid
//! periods, statistics, comparison operators).
//!
//! The series is cut into periods aligned on multiples of `Period`; the newest period evaluated
//! is the last complete one before `now`. Each period's datapoint is the statistic of its
//! samples, or missing when it has none. As the missing-data page describes:
//!
//! 1. CloudWatch retrieves more periods than `EvaluationPeriods` (the *evaluation range*;
//!    Slipway uses `EvaluationPeriods + 2`, the size of the page's examples for 3 periods).
//! 2. If at least `EvaluationPeriods` real datapoints exist in the range, the most recent
//!    `EvaluationPeriods` of them are evaluated and `TreatMissingData` does not matter: ALARM
//!    when at least `DatapointsToAlarm` breach, OK otherwise.
//! 3. Otherwise the real datapoints are evaluated with as few filled-in datapoints as needed to
//!    make `EvaluationPeriods`, filled per `TreatMissingData`: `notBreaching` → good,
//!    `breaching` → bad; `missing` → the state is ALARM if the real datapoints alone reach M,
//!    OK if the real ones could not reach M even were every missing one breaching, and
//!    INSUFFICIENT_DATA otherwise (in particular when every datapoint is missing); `ignore` →
//!    as `missing`, except that where `missing` gives INSUFFICIENT_DATA the alarm keeps its
//!    current state.
//!
//! Anomaly-detection operators (`LessThanLowerOrGreaterThanUpperThreshold`, …) and metric-math
//! alarms are rejected with a clear error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::traffic::AlarmState;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `ExtendedStatistic: pNN` (0–100).
    Percentile(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreatMissingData {
    Missing,
    NotBreaching,
    Breaching,
    Ignore,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmSpec {
    pub name: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: BTreeMap<String, String>,
    pub period_s: u64,
    pub evaluation_periods: u32,
    /// M of "M out of N"; defaults to `evaluation_periods`.
    pub datapoints_to_alarm: u32,
    pub statistic: Statistic,
    pub comparison: Comparison,
    pub threshold: f64,
    pub treat_missing_data: TreatMissingData,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    #[error("alarm {alarm}: {property} is required")]
    Missing {
        alarm: String,
        property: &'static str,
    },
    #[error("alarm {alarm}: {property} has an invalid value '{value}'")]
    Invalid {
        alarm: String,
        property: &'static str,
        value: String,
    },
    #[error("alarm {alarm}: Period must be 10, 20, 30 or a multiple of 60 seconds, not {period}")]
    Period { alarm: String, period: u64 },
    #[error("alarm {alarm}: DatapointsToAlarm ({m}) must be between 1 and EvaluationPeriods ({n})")]
    DatapointsToAlarm { alarm: String, m: u32, n: u32 },
    #[error("alarm {alarm}: specify exactly one of Statistic and ExtendedStatistic")]
    StatisticChoice { alarm: String },
    #[error(
        "alarm {alarm}: {operator} is an anomaly-detection operator, which Slipway does not evaluate"
    )]
    AnomalyDetection { alarm: String, operator: String },
    #[error("alarm {alarm}: metric math (Metrics) is not supported; use MetricName and Namespace")]
    MetricMath { alarm: String },
    #[error("alarm {alarm}: EvaluationPeriods × Period must not exceed one day ({seconds} s)")]
    TooLong { alarm: String, seconds: u64 },
}

impl Comparison {
    pub fn parse(alarm: &str, s: &str) -> Result<Comparison, AlarmError> {
        Ok(match s {
            "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqualToThreshold,
            "GreaterThanThreshold" => Comparison::GreaterThanThreshold,
            "LessThanThreshold" => Comparison::LessThanThreshold,
            "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqualToThreshold,
            "LessThanLowerOrGreaterThanUpperThreshold"
            | "LessThanLowerThreshold"
            | "GreaterThanUpperThreshold" => {
                return Err(AlarmError::AnomalyDetection {
                    alarm: alarm.to_owned(),
                    operator: s.to_owned(),
                });
            }
            _ => {
                return Err(AlarmError::Invalid {
                    alarm: alarm.to_owned(),
                    property: "ComparisonOperator",
                    value: s.to_owned(),
                });
            }
        })
    }

    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

impl Statistic {
    pub fn parse(alarm: &str, s: &str) -> Result<Statistic, AlarmError> {
        Ok(match s {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => {
                return Err(AlarmError::Invalid {
                    alarm: alarm.to_owned(),
                    property: "Statistic",
                    value: s.to_owned(),
                });
            }
        })
    }

    /// `p99`, `p99.9`, `p50` (other extended statistics — `tm99`, `wm99`… — are rejected).
    pub fn parse_extended(alarm: &str, s: &str) -> Result<Statistic, AlarmError> {
        let bad = || AlarmError::Invalid {
            alarm: alarm.to_owned(),
            property: "ExtendedStatistic",
            value: s.to_owned(),
        };
        let n = s.strip_prefix('p').ok_or_else(bad)?;
        let ok_shape = !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && n.split('.')
                .nth(1)
                .is_none_or(|d| !d.is_empty() && d.len() <= 2);
        let v: f64 = if ok_shape {
            n.parse().map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        if (0.0..=100.0).contains(&v) {
            Ok(Statistic::Percentile(v))
        } else {
            Err(bad())
        }
    }

    /// The statistic of one period's samples (`None` for no samples).
    pub fn of(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        Some(match self {
            Statistic::SampleCount => n,
            Statistic::Sum => values.iter().sum(),
            Statistic::Average => values.iter().sum::<f64>() / n,
            Statistic::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Statistic::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Statistic::Percentile(p) => {
                // Nearest rank.
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                let rank = ((p / 100.0) * n).ceil().max(1.0) as usize;
                sorted[rank.min(sorted.len()) - 1]
            }
        })
    }
}

impl TreatMissingData {
    pub fn parse(alarm: &str, s: &str) -> Result<TreatMissingData, AlarmError> {
        Ok(match s {
            "missing" => TreatMissingData::Missing,
            "notBreaching" => TreatMissingData::NotBreaching,
            "breaching" => TreatMissingData::Breaching,
            "ignore" => TreatMissingData::Ignore,
            _ => {
                return Err(AlarmError::Invalid {
                    alarm: alarm.to_owned(),
                    property: "TreatMissingData",
                    value: s.to_owned(),
                });
            }
        })
    }
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    }
}

impl AlarmSpec {
    /// From `AWS::CloudWatch::Alarm` properties (resolved: no intrinsics left).
    pub fn from_properties(name: &str, p: &Value) -> Result<AlarmSpec, AlarmError> {
        let alarm = name.to_owned();
        if p.get("Metrics").is_some() {
            return Err(AlarmError::MetricMath { alarm });
        }
        let string = |k: &'static str| -> Result<String, AlarmError> {
            p.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| AlarmError::Missing {
                    alarm: alarm.clone(),
                    property: k,
                })
        };
        let integer = |k: &'static str| -> Result<Option<u64>, AlarmError> {
            match p.get(k) {
                None => Ok(None),
                Some(v) => match num(v) {
                    Some(x) if x >= 0.0 && x.fract() == 0.0 => Ok(Some(x as u64)),
                    Some(_) | None => Err(AlarmError::Invalid {
                        alarm: alarm.clone(),
                        property: k,
                        value: v.to_string(),
                    }),
                },
            }
        };
        let metric_name = string("MetricName")?;
        let namespace = string("Namespace")?;
        let period_s = integer("Period")?.ok_or_else(|| AlarmError::Missing {
            alarm: alarm.clone(),
            property: "Period",
        })?;
        if !(matches!(period_s, 10 | 20 | 30) || (period_s > 0 && period_s % 60 == 0)) {
            return Err(AlarmError::Period {
                alarm,
                period: period_s,
            });
        }
        let n = integer("EvaluationPeriods")?.ok_or_else(|| AlarmError::Missing {
            alarm: alarm.clone(),
            property: "EvaluationPeriods",
        })?;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let m = integer("DatapointsToAlarm")?.map_or(n, |m| u32::try_from(m).unwrap_or(u32::MAX));
        if n == 0 || m == 0 || m > n {
            return Err(AlarmError::DatapointsToAlarm { alarm, m, n });
        }
        let seconds = u64::from(n) * period_s;
        let limit = if period_s >= 3600 { 7 * 86_400 } else { 86_400 };
        if seconds > limit {
            return Err(AlarmError::TooLong { alarm, seconds });
        }
        let statistic = match (p.get("Statistic"), p.get("ExtendedStatistic")) {
            (Some(s), None) => Statistic::parse(name, s.as_str().unwrap_or_default())?,
            (None, Some(s)) => Statistic::parse_extended(name, s.as_str().unwrap_or_default())?,
            (Some(_), Some(_)) | (None, None) => {
                return Err(AlarmError::StatisticChoice { alarm });
            }
        };
        let comparison = Comparison::parse(name, &string("ComparisonOperator")?)?;
        let threshold = match p.get("Threshold") {
            Some(v) => num(v).ok_or_else(|| AlarmError::Invalid {
                alarm: alarm.clone(),
                property: "Threshold",
                value: v.to_string(),
            })?,
            None => {
                return Err(AlarmError::Missing {
                    alarm,
                    property: "Threshold",
                });
            }
        };
        let treat_missing_data = match p.get("TreatMissingData").and_then(Value::as_str) {
            Some(s) => TreatMissingData::parse(name, s)?,
            None => TreatMissingData::Missing,
        };
        let mut dimensions = BTreeMap::new();
        for d in p
            .get("Dimensions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(k), Some(v)) = (
                d.get("Name").and_then(Value::as_str),
                d.get("Value").and_then(Value::as_str),
            ) {
                dimensions.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(AlarmSpec {
            name: name.to_owned(),
            namespace,
            metric_name,
            dimensions,
            period_s,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            statistic,
            comparison,
            threshold,
            treat_missing_data,
        })
    }
}

/// One metric sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: u64,
    pub value: f64,
}

/// The result of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub state: AlarmState,
    /// The evaluation range, oldest period first (`None` = missing).
    pub datapoints: Vec<Option<f64>>,
    /// Breaching datapoints counted (real and filled in).
    pub breaching: u32,
    pub reason: String,
}

/// How many periods are retrieved beyond `EvaluationPeriods`.
pub const EXTRA_PERIODS: u32 = 2;

/// Evaluates `spec` at `now_ms` over `samples` (any order); `previous` is the alarm's current
/// state (what `ignore` keeps).
pub fn evaluate(
    spec: &AlarmSpec,
    samples: &[Sample],
    now_ms: u64,
    previous: AlarmState,
) -> Evaluation {
    let period_ms = spec.period_s * 1000;
    let n = spec.evaluation_periods;
    let m = spec.datapoints_to_alarm;
    let range = n + EXTRA_PERIODS;
    let end = now_ms / period_ms * period_ms;
    let mut datapoints = Vec::with_capacity(range as usize);
    for i in (0..u64::from(range)).rev() {
        let hi = end.saturating_sub(i * period_ms);
        let lo = hi.saturating_sub(period_ms);
        if hi == lo {
            datapoints.push(None);
            continue;
        }
        let values: Vec<f64> = samples
            .iter()
            .filter(|s| s.at_ms >= lo && s.at_ms < hi)
            .map(|s| s.value)
            .collect();
        datapoints.push(spec.statistic.of(&values));
    }
    let real: Vec<f64> = datapoints.iter().flatten().copied().collect();
    let breach = |v: &f64| spec.comparison.breaches(*v, spec.threshold);
    let summary = |state: AlarmState, breaching: u32, considered: u32| {
        let reason = format!(
            "{breaching} out of the last {considered} datapoints were breaching the threshold ({}), {m} needed: {}",
            spec.threshold,
            match state {
                AlarmState::Ok => "OK",
                AlarmState::Alarm => "ALARM",
                AlarmState::InsufficientData => "INSUFFICIENT_DATA",
            }
        );
        (state, breaching, reason)
    };
    let (state, breaching, reason) = if real.len() >= n as usize {
        let recent = &real[real.len() - n as usize..];
        let b = recent.iter().filter(|v| breach(v)).count() as u32;
        summary(
            if b >= m {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            },
            b,
            n,
        )
    } else {
        let b = real.iter().filter(|v| breach(v)).count() as u32;
        let fills = n - real.len() as u32;
        match spec.treat_missing_data {
            TreatMissingData::NotBreaching => summary(
                if b >= m {
                    AlarmState::Alarm
                } else {
                    AlarmState::Ok
                },
                b,
                n,
            ),
            TreatMissingData::Breaching => {
                let b = b + fills;
                summary(
                    if b >= m {
                        AlarmState::Alarm
                    } else {
                        AlarmState::Ok
                    },
                    b,
                    n,
                )
            }
            TreatMissingData::Missing | TreatMissingData::Ignore => {
                let decided = if real.is_empty() {
                    None
                } else if b >= m {
                    Some(AlarmState::Alarm)
                } else if b + fills < m {
                    Some(AlarmState::Ok)
                } else {
                    None
                };
                match (decided, spec.treat_missing_data) {
                    (Some(s), _) => summary(s, b, real.len() as u32),
                    (None, TreatMissingData::Ignore) => (
                        previous,
                        b,
                        "not enough data: the alarm keeps its state (TreatMissingData: ignore)"
                            .to_owned(),
                    ),
                    (None, _) => (
                        AlarmState::InsufficientData,
                        b,
                        format!(
                            "{} of {n} datapoints available (TreatMissingData: missing)",
                            real.len()
                        ),
                    ),
                }
            }
        }
    };
    Evaluation {
        state,
        datapoints,
        breaching,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const P: u64 = 60_000;

    fn spec(n: u32, m: u32, treat: TreatMissingData) -> AlarmSpec {
        AlarmSpec {
            name: "Errors".into(),
            namespace: "AWS/Lambda".into(),
            metric_name: "Errors".into(),
            dimensions: BTreeMap::new(),
            period_s: 60,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            statistic: Statistic::Sum,
            comparison: Comparison::GreaterThanOrEqualToThreshold,
            threshold: 1.0,
            treat_missing_data: treat,
        }
    }

    /// Builds samples from a pattern over the evaluation range, oldest first:
    /// `X` breaching, `0` not breaching, `-` missing. Evaluated at the end of the range.
    fn run(pattern: &str, s: &AlarmSpec, previous: AlarmState) -> AlarmState {
        let len = pattern.len() as u64;
        let base = 100 * P;
        let samples: Vec<Sample> = pattern
            .bytes()
            .enumerate()
            .filter_map(|(i, c)| {
                let at_ms = base + i as u64 * P + 5;
                match c {
                    b'X' => Some(Sample { at_ms, value: 3.0 }),
                    b'0' => Some(Sample { at_ms, value: 0.0 }),
                    _ => None,
                }
            })
            .collect();
        evaluate(s, &samples, base + len * P + 30, previous).state
    }

    #[test]
    fn m_out_of_n_without_missing_data() {
        use AlarmState::{Alarm, Ok};
        let s = spec(3, 2, TreatMissingData::Missing);
        assert_eq!(run("000X0", &s, Ok), Ok);
        assert_eq!(run("000XX", &s, Ok), Alarm);
        assert_eq!(run("00X0X", &s, Ok), Alarm);
        assert_eq!(run("XX000", &s, Ok), Ok, "only the most recent 3 count");
        let all = spec(3, 3, TreatMissingData::Missing);
        assert_eq!(run("00XXX", &all, Ok), Alarm);
        assert_eq!(run("00X0X", &all, Ok), Ok);
    }

    #[test]
    fn enough_real_datapoints_make_missing_data_irrelevant() {
        // Three real datapoints in the range of five: they are evaluated, gaps skipped.
        for treat in [
            TreatMissingData::Missing,
            TreatMissingData::NotBreaching,
            TreatMissingData::Breaching,
            TreatMissingData::Ignore,
        ] {
            let s = spec(3, 3, treat);
            assert_eq!(
                run("0-X-X", &s, AlarmState::Alarm),
                AlarmState::Ok,
                "{treat:?}"
            );
            assert_eq!(
                run("X-X-X", &s, AlarmState::Ok),
                AlarmState::Alarm,
                "{treat:?}"
            );
        }
    }

    #[test]
    fn treat_missing_data_rules() {
        use AlarmState::{Alarm, InsufficientData as Insufficient, Ok};
        let cases: [(&str, [AlarmState; 4]); 4] = [
            // pattern: [missing, notBreaching, breaching, ignore(previous = Alarm)]
            ("-----", [Insufficient, Ok, Alarm, Alarm]),
            ("----0", [Ok, Ok, Ok, Ok]),
            ("--X--", [Insufficient, Ok, Alarm, Alarm]),
            ("-X-X-", [Insufficient, Ok, Alarm, Alarm]),
        ];
        for (pattern, want) in cases {
            let got = [
                run(pattern, &spec(3, 3, TreatMissingData::Missing), Alarm),
                run(pattern, &spec(3, 3, TreatMissingData::NotBreaching), Alarm),
                run(pattern, &spec(3, 3, TreatMissingData::Breaching), Alarm),
                run(pattern, &spec(3, 3, TreatMissingData::Ignore), Alarm),
            ];
            assert_eq!(got, want, "{pattern}");
        }
        // M of N with partial data: two real breaching of 2-of-3 alarm even when "missing".
        assert_eq!(
            run("---XX", &spec(3, 2, TreatMissingData::Missing), Ok),
            Alarm
        );
        // Ignore keeps OK as OK too.
        assert_eq!(run("-----", &spec(3, 3, TreatMissingData::Ignore), Ok), Ok);
    }

    #[test]
    fn statistics() {
        let v = [1.0, 4.0, 2.0, 3.0];
        assert_eq!(Statistic::SampleCount.of(&v), Some(4.0));
        assert_eq!(Statistic::Sum.of(&v), Some(10.0));
        assert_eq!(Statistic::Average.of(&v), Some(2.5));
        assert_eq!(Statistic::Minimum.of(&v), Some(1.0));
        assert_eq!(Statistic::Maximum.of(&v), Some(4.0));
        assert_eq!(Statistic::Percentile(50.0).of(&v), Some(2.0));
        assert_eq!(Statistic::Percentile(99.0).of(&v), Some(4.0));
        assert_eq!(Statistic::Percentile(0.0).of(&v), Some(1.0));
        assert_eq!(Statistic::Sum.of(&[]), None);
        assert_eq!(
            Statistic::parse_extended("a", "p99.9"),
            Ok(Statistic::Percentile(99.9))
        );
        assert!(Statistic::parse_extended("a", "tm99").is_err());
        assert!(Statistic::parse_extended("a", "p101").is_err());
        assert!(Statistic::parse_extended("a", "p9.999").is_err());
    }

    #[test]
    fn comparisons() {
        use Comparison as C;
        assert!(C::GreaterThanOrEqualToThreshold.breaches(1.0, 1.0));
        assert!(!C::GreaterThanThreshold.breaches(1.0, 1.0));
        assert!(C::LessThanThreshold.breaches(0.5, 1.0));
        assert!(C::LessThanOrEqualToThreshold.breaches(1.0, 1.0));
        assert!(matches!(
            C::parse("a", "LessThanLowerOrGreaterThanUpperThreshold"),
            Err(AlarmError::AnomalyDetection { .. })
        ));
        assert!(matches!(
            C::parse("a", "GreaterThanUpperThreshold"),
            Err(AlarmError::AnomalyDetection { .. })
        ));
        assert!(matches!(
            C::parse("a", "Bigger"),
            Err(AlarmError::Invalid { .. })
        ));
    }

    #[test]
    fn from_cloudformation_properties() {
        let p = json!({
            "MetricName": "Errors", "Namespace": "AWS/Lambda", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": "2", "DatapointsToAlarm": 1,
            "Threshold": "0", "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "Dimensions": [{"Name": "FunctionName", "Value": "app-Fn"}, {"Name": "Resource", "Value": "app-Fn:live"}]
        });
        let s = AlarmSpec::from_properties("Alarm", &p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.evaluation_periods, s.datapoints_to_alarm), (2, 1));
        assert_eq!(s.treat_missing_data, TreatMissingData::NotBreaching);
        assert_eq!(s.dimensions["Resource"], "app-Fn:live");
        let with = |k: &str, v: Value| {
            let mut q = p.clone();
            q[k] = v;
            AlarmSpec::from_properties("Alarm", &q)
        };
        assert!(matches!(
            with("Period", json!(45)),
            Err(AlarmError::Period { .. })
        ));
        assert!(matches!(
            with("DatapointsToAlarm", json!(3)),
            Err(AlarmError::DatapointsToAlarm { .. })
        ));
        assert!(matches!(
            with("ExtendedStatistic", json!("p99")),
            Err(AlarmError::StatisticChoice { .. })
        ));
        assert!(matches!(
            with("TreatMissingData", json!("sometimes")),
            Err(AlarmError::Invalid { .. })
        ));
        assert!(matches!(
            with("EvaluationPeriods", json!(1441)),
            Err(AlarmError::TooLong { .. })
        ));
        assert!(matches!(
            with("Metrics", json!([])),
            Err(AlarmError::MetricMath { .. })
        ));
        let mut q = p.clone();
        if let Some(o) = q.as_object_mut() {
            o.remove("Statistic");
            o.insert("ExtendedStatistic".into(), json!("p90"));
            o.remove("TreatMissingData");
        }
        let s = AlarmSpec::from_properties("Alarm", &q).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.statistic, Statistic::Percentile(90.0));
        assert_eq!(
            s.treat_missing_data,
            TreatMissingData::Missing,
            "the default"
        );
    }

    #[test]
    fn periods_align_and_only_complete_ones_count() {
        let s = spec(1, 1, TreatMissingData::Missing);
        // A breach in the current, incomplete period is not evaluated yet.
        let samples = [Sample {
            at_ms: 10 * P + 10,
            value: 5.0,
        }];
        let e = evaluate(&s, &samples, 10 * P + 30_000, AlarmState::Ok);
        assert_eq!(e.state, AlarmState::InsufficientData);
        let e = evaluate(&s, &samples, 11 * P, AlarmState::Ok);
        assert_eq!(e.state, AlarmState::Alarm);
        assert_eq!(e.datapoints.len(), 3);
        assert_eq!(e.datapoints.last(), Some(&Some(5.0)));
    }
}
