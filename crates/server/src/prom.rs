//! `GET /metrics` on the control-plane port: Prometheus' text exposition format (0.0.4).
//!
//! Unauthenticated on loopback; with a token (non-loopback bind) it needs the token like every
//! other request (`Authorization: Bearer TOKEN`, what Prometheus' `authorization` scrape
//! setting sends). What is exported:
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `slipway_lambda_invocations_total` | counter | `function`, `version` |
//! | `slipway_lambda_errors_total` | counter | `function`, `version` |
//! | `slipway_lambda_throttles_total` | counter | `function`, `version` |
//! | `slipway_lambda_timeouts_total` | counter | `function`, `version` |
//! | `slipway_lambda_cold_starts_total` | counter | `function`, `version` |
//! | `slipway_lambda_duration_milliseconds` | summary (`_sum`, `_count`) | `function`, `version` |
//! | `slipway_lambda_concurrent_executions` | gauge | `function`, `version` |
//! | `slipway_lambda_environments` | gauge | `function`, `version` |
//! | `slipway_deployments` | gauge | `status` (CodeDeploy's: `Succeeded`, `InProgress`, …) |
//! | `slipway_gateway_responses_total` | counter | `class` (`2xx` … `5xx`) |
//!
//! Function figures are the runtime's running totals per registered version (they restart at
//! zero with the server, as Prometheus counters may); the duration summary has no quantiles
//! because the runtime keeps totals, not samples. Deployments are counted over every target.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use slipway_runtime::FunctionMetrics;
use slipway_store::state::Collection;

use crate::App;
use crate::wire::{HttpResponse, response};

pub(crate) const PATH: &str = "/metrics";
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What one scrape reports.
#[derive(Default)]
struct Figures {
    /// `(labels, totals)`: the runtime's totals of one function version, its labels already
    /// written (`function`, `version`, and the target's `account` and `region`: two targets
    /// may each have a function of that name).
    functions: Vec<(String, FunctionMetrics)>,
    /// Deployment status → how many.
    deployments: BTreeMap<String, u64>,
    /// `[1xx, 2xx, 3xx, 4xx, 5xx]` of the gateway, when there is one.
    gateway: Option<[u64; 5]>,
}

pub(crate) async fn respond(app: &Arc<App>) -> HttpResponse {
    let a = app.clone();
    let figures = tokio::task::spawn_blocking(move || collect(&a))
        .await
        .unwrap_or_default();
    response(200, CONTENT_TYPE, render(&figures))
}

fn collect(app: &App) -> Figures {
    let functions = app
        .hooks
        .registered_versions()
        .into_iter()
        .filter_map(|(l, f, v)| {
            let m = app.runtime.metrics_at(Some(&l), &f, &v)?;
            Some((
                function_labels(&f, &v.to_string(), &l.account, &l.region),
                m,
            ))
        })
        .collect();
    let mut deployments = BTreeMap::new();
    match app.store.list_all_docs(Collection::Deployments) {
        Ok(docs) => {
            for (_, _, d) in docs {
                if let Some(s) = d.value.get("status").and_then(|s| s.as_str()) {
                    *deployments.entry(s.to_owned()).or_insert(0) += 1;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list the deployments for /metrics"),
    }
    Figures {
        functions,
        deployments,
        gateway: app
            .data_plane
            .as_ref()
            .map(|dp| dp.gateway.replies_by_class()),
    }
}

/// A label value with `\`, `"` and newlines escaped.
/// `function="…",version="…",account="…",region="…"`, escaped.
fn function_labels(function: &str, version: &str, account: &str, region: &str) -> String {
    format!(
        "function=\"{}\",version=\"{}\",account=\"{}\",region=\"{}\"",
        label(function),
        label(version),
        label(account),
        label(region)
    )
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(f: &Figures) -> String {
    let mut out = String::new();
    let family = |out: &mut String,
                  name: &str,
                  kind: &str,
                  help: &str,
                  value: &dyn Fn(&FunctionMetrics) -> String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, m) in &f.functions {
            let _ = writeln!(out, "{name}{{{labels}}} {}", value(m));
        }
    };
    family(
        &mut out,
        "slipway_lambda_invocations_total",
        "counter",
        "Invocations of a function version.",
        &|m| m.invocations.to_string(),
    );
    family(
        &mut out,
        "slipway_lambda_errors_total",
        "counter",
        "Invocations that ended with a function error (timeouts and crashes included).",
        &|m| m.errors.to_string(),
    );
    family(
        &mut out,
        "slipway_lambda_throttles_total",
        "counter",
        "Invocations refused for want of concurrency (TooManyRequestsException).",
        &|m| m.throttles.to_string(),
    );
    family(
        &mut out,
        "slipway_lambda_timeouts_total",
        "counter",
        "Invocations stopped at the function's timeout.",
        &|m| m.timeouts.to_string(),
    );
    family(
        &mut out,
        "slipway_lambda_cold_starts_total",
        "counter",
        "Execution environments started for an invocation.",
        &|m| m.cold_starts.to_string(),
    );
    let name = "slipway_lambda_duration_milliseconds";
    let _ = writeln!(out, "# HELP {name} Duration of invocations.");
    let _ = writeln!(out, "# TYPE {name} summary");
    for (labels, m) in &f.functions {
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", m.duration_ms_total);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", m.invocations);
    }
    family(
        &mut out,
        "slipway_lambda_concurrent_executions",
        "gauge",
        "Invocations in flight.",
        &|m| m.concurrent.to_string(),
    );
    family(
        &mut out,
        "slipway_lambda_environments",
        "gauge",
        "Execution environments alive (idle or busy).",
        &|m| m.environments.to_string(),
    );
    let name = "slipway_deployments";
    let _ = writeln!(out, "# HELP {name} CodeDeploy deployments by status.");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (status, n) in &f.deployments {
        let _ = writeln!(out, "{name}{{status=\"{}\"}} {n}", label(status));
    }
    if let Some(classes) = f.gateway {
        let name = "slipway_gateway_responses_total";
        let _ = writeln!(out, "# HELP {name} Gateway responses by status class.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (i, n) in classes.iter().enumerate() {
            let _ = writeln!(out, "{name}{{class=\"{}xx\"}} {n}", i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_one_type_line_per_family_and_escaped_labels() {
        let m = FunctionMetrics {
            invocations: 3,
            errors: 1,
            duration_ms_total: 12.5,
            ..FunctionMetrics::default()
        };
        let f = Figures {
            functions: vec![(
                function_labels("he\"llo", "1", "111111111111", "eu-west-1"),
                m,
            )],
            deployments: [("Succeeded".to_owned(), 2)].into_iter().collect(),
            gateway: Some([0, 7, 0, 1, 0]),
        };
        let text = render(&f);
        assert!(
            text.contains(
                "slipway_lambda_invocations_total{function=\"he\\\"llo\",version=\"1\",account=\"111111111111\",region=\"eu-west-1\"} 3\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("slipway_lambda_errors_total{function=\"he\\\"llo\",version=\"1\",account=\"111111111111\",region=\"eu-west-1\"} 1\n")
        );
        assert!(text.contains(
            "slipway_lambda_duration_milliseconds_sum{function=\"he\\\"llo\",version=\"1\",account=\"111111111111\",region=\"eu-west-1\"} 12.5\n"
        ));
        assert!(text.contains(
            "slipway_lambda_duration_milliseconds_count{function=\"he\\\"llo\",version=\"1\",account=\"111111111111\",region=\"eu-west-1\"} 3\n"
        ));
        assert!(text.contains("slipway_deployments{status=\"Succeeded\"} 2\n"));
        assert!(text.contains("slipway_gateway_responses_total{class=\"2xx\"} 7\n"));
        assert!(text.contains("slipway_gateway_responses_total{class=\"5xx\"} 0\n"));
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(types, 10);
    }
}
