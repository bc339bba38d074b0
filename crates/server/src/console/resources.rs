//! Deployment, stack and function pages: pure renderers over the control API's wire types
//! (`api/types.rs`, read through [`crate::api::call`]) and the runtime's metrics and logs.

use std::fmt::Write as _;

use slipway_runtime::{FunctionMetrics, LogRecord, Minute};

use super::chart::{Line, Series, TimeChart, time_chart, weight_chart};
use super::html::{action_form, badge, duration, esc, seg, time};
use crate::api::types::{Deployment, EventList, Stack, StackSummary};

fn is_terminal(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Stopped")
}

fn dep_link(d: &Deployment) -> String {
    format!(
        "<a href=\"/console/deployments/{}\">{}</a>",
        seg(&d.id),
        esc(&d.id)
    )
}

/// `/console/deployments`: every target's deployments, newest first.
pub(crate) fn deployment_list(deps: &[Deployment]) -> String {
    if deps.is_empty() {
        return "<p class=\"empty\">No deployments yet: a function with <code>AutoPublishAlias</code> and a <code>DeploymentPreference</code> makes one on every code change.</p>".to_owned();
    }
    let mut out = String::with_capacity(256 + deps.len() * 400);
    out.push_str("<div class=\"scroll\"><table><caption>Deployments, newest first</caption><thead><tr><th scope=\"col\">Deployment</th><th scope=\"col\">Function</th><th scope=\"col\">Versions</th><th scope=\"col\">Status</th><th scope=\"col\">New version's traffic</th><th scope=\"col\">Created</th></tr></thead><tbody>");
    for d in deps {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}:{} <span class=\"meta\">{}</span></td><td>{} → {}</td><td>{}</td><td>{}%</td><td>{}</td></tr>",
            dep_link(d),
            esc(&d.function),
            esc(&d.alias),
            esc(&d.target),
            d.current_version,
            d.target_version,
            badge(&d.status),
            d.weight_percent,
            esc(&time(d.created_ms))
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// One alarm a deployment watches: its state now, what it measures, its datapoints (one per
/// period), threshold and state changes (`mod.rs`'s `alarm_views`).
pub(crate) struct AlarmView {
    pub(crate) name: String,
    pub(crate) state: String,
    pub(crate) describe: String,
    pub(crate) threshold: Option<f64>,
    pub(crate) points: Vec<(u64, f64)>,
    pub(crate) changes: Vec<(u64, String)>,
    pub(crate) start_ms: u64,
    pub(crate) end_ms: u64,
}

/// The body of `/console/deployments/{id}`.
pub(crate) fn deployment_page(d: &Deployment, alarms: &[AlarmView]) -> String {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<p class=\"summary\">{} <span class=\"meta\">phase {}</span></p>\
         <dl class=\"facts\"><dt>Function</dt><dd><a href=\"/console/functions/{}/{}\">{}</a> alias <code>{}</code></dd>\
         <dt>Versions</dt><dd>{} → {}</dd><dt>Configuration</dt><dd>{}</dd><dt>Target</dt><dd>{}</dd>\
         <dt>Traffic on the new version</dt><dd class=\"weight\">{}%</dd><dt>Created</dt><dd>{}</dd>",
        badge(&d.status),
        esc(&d.phase),
        d.target.split('/').map(seg).collect::<Vec<_>>().join("/"),
        seg(&d.function),
        esc(&d.function),
        esc(&d.alias),
        d.current_version,
        d.target_version,
        esc(&d.config),
        esc(&d.target),
        d.weight_percent,
        esc(&time(d.created_ms)),
    );
    if let Some(c) = d.completed_ms {
        let _ = write!(
            out,
            "<dt>Completed</dt><dd>{} (took {})</dd>",
            esc(&time(c)),
            esc(&duration(c.saturating_sub(d.created_ms)))
        );
    }
    if let Some(f) = &d.failure {
        let _ = write!(out, "<dt>Outcome</dt><dd class=\"error\">{}</dd>", esc(f));
    } else if d.status == "Succeeded" {
        out.push_str("<dt>Outcome</dt><dd>all traffic on the new version</dd>");
    }
    out.push_str("</dl>");

    if !is_terminal(&d.status) {
        out.push_str("<div class=\"toolbar\">");
        let to = format!("/console/deployments/{}/actions", seg(&d.id));
        action_form(
            &mut out,
            &to,
            &[("action", "skip-wait")],
            "Skip wait",
            "Skip the wait: shift all traffic now",
            "primary",
        );
        if d.status == "Ready" {
            action_form(
                &mut out,
                &to,
                &[("action", "continue")],
                "Continue",
                "Continue the deployment",
                "",
            );
        }
        action_form(
            &mut out,
            &to,
            &[("action", "stop")],
            "Stop and roll back",
            "Stop the deployment and roll back",
            "danger",
        );
        out.push_str("</div>");
    } else {
        let t: Vec<&str> = d.target.split('/').collect();
        if let [account, region] = t.as_slice() {
            out.push_str("<div class=\"toolbar\">");
            action_form(
                &mut out,
                &format!(
                    "/console/functions/{}/{}/{}/aliases/{}/rollback",
                    seg(account),
                    seg(region),
                    seg(&d.function),
                    seg(&d.alias)
                ),
                &[],
                "Roll back alias",
                &format!("Roll back alias {} to the previous version", d.alias),
                "danger",
            );
            out.push_str("</div>");
        }
    }

    // The chart: from the first weight (traffic started) to the end of the schedule or now.
    let weights: Vec<(u64, f64)> = d
        .weights
        .iter()
        .map(|w| (w.at_ms, w.weight_percent))
        .collect();
    let start = weights.first().map_or(d.created_ms, |w| w.0);
    let planned: Vec<(u64, f64)> = if is_terminal(&d.status) {
        Vec::new()
    } else {
        d.schedule
            .iter()
            .map(|s| (start + s.at_ms, s.weight_percent))
            .filter(|(t, _)| *t > d.now_ms || weights.last().is_none_or(|w| w.0 < *t))
            .collect()
    };
    let end = d
        .completed_ms
        .unwrap_or(d.now_ms)
        .max(planned.last().map_or(0, |p| p.0))
        .max(weights.last().map_or(0, |w| w.0));
    out.push_str("<section aria-labelledby=\"traffic-h\"><h2 id=\"traffic-h\">Traffic</h2>");
    out.push_str(&weight_chart(&Series {
        weights: &weights,
        planned: &planned,
        start_ms: start,
        now_ms: d.now_ms,
        end_ms: end,
        old_label: &format!("version {}", d.current_version),
        new_label: &format!("version {}", d.target_version),
    }));
    if !planned.is_empty() {
        out.push_str("<h3>Still to come</h3><ul class=\"plain\">");
        for (t, w) in &planned {
            let _ = write!(
                out,
                "<li>{}: {}% on version {} (in {})</li>",
                esc(&time(*t)),
                w,
                d.target_version,
                esc(&duration(t.saturating_sub(d.now_ms)))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");

    out.push_str("<section aria-labelledby=\"hooks-h\"><h2 id=\"hooks-h\">Hooks</h2>");
    if d.hooks.is_empty() {
        out.push_str("<p class=\"meta\">No lifecycle hooks.</p>");
    } else {
        out.push_str("<ul class=\"plain\">");
        for h in &d.hooks {
            let _ = write!(
                out,
                "<li>{} <code>{}</code> {}</li>",
                esc(&h.lifecycle_event),
                esc(&h.function),
                badge(h.status.as_deref().unwrap_or("not invoked yet"))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section><section aria-labelledby=\"alarms-h\"><h2 id=\"alarms-h\">Alarms</h2>");
    if alarms.is_empty() {
        out.push_str("<p class=\"meta\">No alarms watch this deployment.</p>");
    } else {
        out.push_str("<div class=\"charts\">");
        for (i, a) in alarms.iter().enumerate() {
            let _ = write!(
                out,
                "<div class=\"alarm\"><h3><code>{}</code> {}</h3><p class=\"meta\">{}</p>",
                esc(&a.name),
                badge(&a.state),
                esc(&a.describe)
            );
            let marks: Vec<(u64, &str)> = a.changes.iter().map(|(t, s)| (*t, s.as_str())).collect();
            out.push_str(&time_chart(&TimeChart {
                id: &format!("alarm-{i}"),
                title: &format!("Alarm {}: datapoints per period", a.name),
                unit: "",
                start_ms: a.start_ms,
                end_ms: a.end_ms,
                lines: &[Line {
                    label: "Datapoint",
                    class: "s0",
                    points: &a.points,
                }],
                threshold: a.threshold,
                marks: &marks,
            }));
            if !a.changes.is_empty() {
                out.push_str("<ul class=\"plain changes\">");
                for (t, s) in &a.changes {
                    let _ = write!(out, "<li>{} → {}</li>", esc(&time(*t)), badge(s));
                }
                out.push_str("</ul>");
            }
            out.push_str("</div>");
        }
        out.push_str("</div>");
    }
    out.push_str("</section>");
    out
}

fn stack_href(target: &str, name: &str) -> String {
    let mut parts = target.split('/');
    let (a, r) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    format!("/console/stacks/{}/{}/{}", seg(a), seg(r), seg(name))
}

/// `/console/stacks`: `(target, stacks)` pairs.
pub(crate) fn stack_list(targets: &[(String, Vec<StackSummary>)]) -> String {
    if targets.iter().all(|(_, s)| s.is_empty()) {
        return "<p class=\"empty\">No stacks yet: <code>slipway deploy</code> creates one.</p>"
            .to_owned();
    }
    let mut out = String::new();
    out.push_str("<div class=\"scroll\"><table><caption>Stacks</caption><thead><tr><th scope=\"col\">Stack</th><th scope=\"col\">Target</th><th scope=\"col\">Status</th><th scope=\"col\">Updated</th></tr></thead><tbody>");
    for (t, stacks) in targets {
        for s in stacks {
            let _ = write!(
                out,
                "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                stack_href(t, &s.name),
                esc(&s.name),
                esc(t),
                badge(&s.status),
                s.status_reason
                    .as_deref()
                    .map(|r| format!(" <span class=\"meta\">{}</span>", esc(r)))
                    .unwrap_or_default(),
                esc(&time(s.updated_ms))
            );
        }
    }
    out.push_str("</tbody></table></div>");
    out
}

/// One change set as a diff (`mod.rs`'s `change_set_views`, `diff.rs`).
pub(crate) struct ChangeSetView {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) created_ms: u64,
    pub(crate) resources: Vec<ResourceDiff>,
}

pub(crate) struct ResourceDiff {
    /// `Add`, `Modify`, `Remove`.
    pub(crate) action: String,
    pub(crate) logical_id: String,
    pub(crate) resource_type: String,
    pub(crate) replacement: Option<String>,
    /// The plan's details in words: what changed, from where, whether it recreates.
    pub(crate) causes: Vec<String>,
    pub(crate) properties: Vec<super::diff::PropertyChange>,
}

fn change_sets(out: &mut String, sets: &[ChangeSetView]) {
    out.push_str("<section aria-labelledby=\"cs-h\"><h2 id=\"cs-h\">Change sets</h2>");
    if sets.is_empty() {
        out.push_str("<p class=\"meta\">No change sets.</p></section>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"meta\">the newest {}, newest first; values of NoEcho parameters show as ****</p>",
        sets.len()
    );
    for c in sets {
        let _ = write!(
            out,
            "<details class=\"changeset\"{}><summary><code>{}</code> {} {} <span class=\"meta\">{} · {} resource change(s)</span></summary>",
            if std::ptr::eq(c, &sets[0]) {
                " open"
            } else {
                ""
            },
            esc(&c.name),
            esc(&c.kind),
            badge(&c.status),
            esc(&time(c.created_ms)),
            c.resources.len()
        );
        if c.resources.is_empty() {
            out.push_str("<p class=\"meta\">No resource changes.</p>");
        }
        for r in &c.resources {
            let class = match r.action.as_str() {
                "Add" => "add",
                "Remove" => "remove",
                _ => "modify",
            };
            let _ = write!(
                out,
                "<div class=\"rdiff {class}\"><h3><span class=\"badge\">{}</span> {} <span class=\"meta\">{}</span>{}</h3>",
                esc(&r.action),
                esc(&r.logical_id),
                esc(&r.resource_type),
                match r.replacement.as_deref() {
                    Some("True") => " <span class=\"badge bad\">replacement</span>".to_owned(),
                    Some("Conditional") => {
                        " <span class=\"badge run\">conditional replacement</span>".to_owned()
                    }
                    Some(other) =>
                        format!(" <span class=\"meta\">replacement: {}</span>", esc(other)),
                    None => String::new(),
                }
            );
            if !r.causes.is_empty() {
                out.push_str("<ul class=\"plain meta\">");
                for cause in &r.causes {
                    let _ = write!(out, "<li>{}</li>", esc(cause));
                }
                out.push_str("</ul>");
            }
            if !r.properties.is_empty() {
                out.push_str("<div class=\"scroll\"><table class=\"diff\"><thead><tr><th scope=\"col\">Property</th><th scope=\"col\">Before</th><th scope=\"col\">After</th></tr></thead><tbody>");
                for p in r.properties.iter().take(super::diff::ROWS) {
                    let cell = |v: &Option<String>, tag: &str| match v {
                        Some(v) => format!("<{tag}>{}</{tag}>", esc(v)),
                        None => "<span class=\"meta\">(absent)</span>".to_owned(),
                    };
                    let _ = write!(
                        out,
                        "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td></tr>",
                        esc(&p.path),
                        cell(&p.before, "del"),
                        cell(&p.after, "ins")
                    );
                }
                if r.properties.len() > super::diff::ROWS {
                    let _ = write!(
                        out,
                        "<tr><td colspan=\"3\" class=\"meta\">and {} more</td></tr>",
                        r.properties.len() - super::diff::ROWS
                    );
                }
                out.push_str("</tbody></table></div>");
            }
            out.push_str("</div>");
        }
        out.push_str("</details>");
    }
    out.push_str("</section>");
}

/// The body of `/console/stacks/{account}/{region}/{stack}`.
pub(crate) fn stack_page(s: &Stack, events: &EventList, sets: &[ChangeSetView]) -> String {
    let mut out = String::with_capacity(8192);
    let _ = write!(
        out,
        "<p class=\"summary\">{}{} <span class=\"meta\">{}</span></p>",
        badge(&s.status),
        s.status_reason
            .as_deref()
            .map(|r| format!(" {}", esc(r)))
            .unwrap_or_default(),
        esc(&s.id)
    );
    out.push_str("<section aria-labelledby=\"res-h\"><h2 id=\"res-h\">Resources</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Logical ID</th><th scope=\"col\">Type</th><th scope=\"col\">Physical ID</th><th scope=\"col\">Status</th></tr></thead><tbody>");
    for r in &s.resources {
        let physical = r.physical_id.as_str();
        let cell = if r.resource_type == "AWS::Lambda::Function" && !physical.is_empty() {
            let t: Vec<&str> = s.target.split('/').collect();
            format!(
                "<a href=\"/console/functions/{}/{}/{}\">{}</a>",
                seg(t.first().copied().unwrap_or("")),
                seg(t.get(1).copied().unwrap_or("")),
                seg(physical),
                esc(physical)
            )
        } else {
            esc(physical).to_string()
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.logical_id),
            esc(&r.resource_type),
            cell,
            badge(&r.status)
        );
    }
    out.push_str("</tbody></table></div></section>");
    out.push_str("<section aria-labelledby=\"out-h\"><h2 id=\"out-h\">Outputs</h2>");
    if s.outputs.is_empty() {
        out.push_str("<p class=\"meta\">No outputs.</p>");
    } else {
        out.push_str("<dl class=\"facts\">");
        for o in &s.outputs {
            let _ = write!(
                out,
                "<dt>{}</dt><dd><code>{}</code>{}</dd>",
                esc(&o.key),
                esc(&o.value),
                o.export_name
                    .as_deref()
                    .map(|e| format!(" <span class=\"meta\">exported as {}</span>", esc(e)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</dl>");
    }
    out.push_str("</section>");
    change_sets(&mut out, sets);
    let _ = write!(
        out,
        "<section aria-labelledby=\"ev-h\"><h2 id=\"ev-h\">Events</h2><p class=\"meta\">{} event(s), newest first</p><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Logical ID</th><th scope=\"col\">Status</th><th scope=\"col\">Reason</th></tr></thead><tbody>",
        events.total
    );
    for e in events.events.iter().rev().take(200) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} <span class=\"meta\">{}</span></td><td>{}</td><td>{}</td></tr>",
            esc(&time(e.timestamp_ms)),
            esc(&e.logical_id),
            esc(&e.resource_type),
            badge(&e.status),
            esc(e.reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// One function in a list: target, name, stack, its aliases (name → description).
pub(crate) struct FunctionRow {
    pub(crate) target: String,
    pub(crate) name: String,
    pub(crate) stack: String,
    pub(crate) versions: usize,
    pub(crate) aliases: Vec<String>,
}

fn function_href(target: &str, name: &str) -> String {
    let mut parts = target.split('/');
    let (a, r) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    format!("/console/functions/{}/{}/{}", seg(a), seg(r), seg(name))
}

pub(crate) fn function_list(rows: &[FunctionRow]) -> String {
    if rows.is_empty() {
        return "<p class=\"empty\">No functions deployed yet.</p>".to_owned();
    }
    let mut out = String::new();
    out.push_str("<div class=\"scroll\"><table><caption>Functions</caption><thead><tr><th scope=\"col\">Function</th><th scope=\"col\">Target</th><th scope=\"col\">Stack</th><th scope=\"col\">Versions</th><th scope=\"col\">Aliases</th></tr></thead><tbody>");
    for r in rows {
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            function_href(&r.target, &r.name),
            esc(&r.name),
            esc(&r.target),
            stack_href(&r.target, &r.stack),
            esc(&r.stack),
            r.versions,
            esc(&r.aliases.join(", "))
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// One version's row on a function page.
pub(crate) struct VersionRow {
    /// `$LATEST` or the number.
    pub(crate) version: String,
    pub(crate) metrics: Option<FunctionMetrics>,
    /// The last hour by minute (only minutes with invocations), oldest first.
    pub(crate) minutes: Vec<Minute>,
}

/// How many versions get per-minute charts (the newest with invocations in the last hour).
pub(crate) const CHARTED_VERSIONS: usize = 4;

/// The charts of one version's last hour: invocations and errors, p50 and p99 duration, cold
/// starts — one point per minute with invocations.
fn version_charts(out: &mut String, version: &str, minutes: &[Minute], now_ms: u64) {
    let at = |m: &Minute| m.minute * 60_000;
    let pts = |f: &dyn Fn(&Minute) -> Option<f64>| -> Vec<(u64, f64)> {
        minutes
            .iter()
            .filter_map(|m| f(m).map(|v| (at(m), v)))
            .collect()
    };
    let invocations = pts(&|m| Some(f64::from(m.invocations)));
    let errors = pts(&|m| Some(f64::from(m.errors)));
    let p50 = pts(&|m| m.quantile_ms(0.5));
    let p99 = pts(&|m| m.quantile_ms(0.99));
    let cold = pts(&|m| Some(f64::from(m.cold_starts)));
    let start = (now_ms / 60_000).saturating_sub(59) * 60_000;
    let end = (now_ms / 60_000) * 60_000;
    let id = |k: &str| format!("v{}-{k}", version.replace('$', ""));
    let _ = write!(
        out,
        "<section class=\"version-charts\" aria-labelledby=\"{}\"><h3 id=\"{}\">Version {}</h3><div class=\"charts\">",
        esc(&id("h")),
        esc(&id("h")),
        esc(version)
    );
    for (key, title, unit, lines) in [
        (
            "inv",
            format!("Version {version}: invocations and errors per minute"),
            "",
            vec![
                Line {
                    label: "Invocations",
                    class: "s0",
                    points: &invocations,
                },
                Line {
                    label: "Errors",
                    class: "s1",
                    points: &errors,
                },
            ],
        ),
        (
            "dur",
            format!("Version {version}: duration p50 and p99 per minute"),
            " ms",
            vec![
                Line {
                    label: "p50",
                    class: "s0",
                    points: &p50,
                },
                Line {
                    label: "p99",
                    class: "s2",
                    points: &p99,
                },
            ],
        ),
        (
            "cold",
            format!("Version {version}: cold starts per minute"),
            "",
            vec![Line {
                label: "Cold starts",
                class: "s3",
                points: &cold,
            }],
        ),
    ] {
        out.push_str(&time_chart(&TimeChart {
            id: &id(key),
            title: &title,
            unit,
            start_ms: start,
            end_ms: end,
            lines: &lines,
            threshold: None,
            marks: &[],
        }));
    }
    out.push_str("</div></section>");
}

/// One alias: name, primary version, the additional version and its weight (0–1).
pub(crate) struct AliasRow {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) additional: Option<(u32, f64)>,
}

/// How many versions and log lines a function page shows (the newest).
pub(crate) const VERSIONS: usize = 50;
pub(crate) const LOG_LINES: usize = 100;

pub(crate) fn function_page(versions: &[VersionRow], aliases: &[AliasRow], now_ms: u64) -> String {
    let mut out = String::with_capacity(8192);
    out.push_str("<section aria-labelledby=\"al-h\"><h2 id=\"al-h\">Aliases</h2>");
    if aliases.is_empty() {
        out.push_str("<p class=\"meta\">No aliases.</p>");
    } else {
        out.push_str("<ul class=\"plain\">");
        for a in aliases {
            let _ = write!(
                out,
                "<li><code>{}</code> → version {}",
                esc(&a.name),
                esc(&a.version)
            );
            if let Some((v, w)) = a.additional {
                let _ = write!(
                    out,
                    " ({:.0}%), version {v} ({:.0}%)",
                    (1.0 - w) * 100.0,
                    w * 100.0
                );
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    let _ = write!(
        out,
        "</section><section aria-labelledby=\"ver-h\"><h2 id=\"ver-h\">Versions and their metrics</h2><p class=\"meta\">{} version(s){}; counters since this server started</p>\
         <div class=\"scroll\"><table><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Invocations</th><th scope=\"col\">Errors</th><th scope=\"col\">Throttles</th><th scope=\"col\">Cold starts</th><th scope=\"col\">Mean duration</th><th scope=\"col\">Max duration</th><th scope=\"col\">Environments</th></tr></thead><tbody>",
        versions.len(),
        if versions.len() > VERSIONS {
            format!(", the newest {VERSIONS} shown")
        } else {
            String::new()
        }
    );
    for v in versions.iter().take(VERSIONS) {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", esc(&v.version));
        match &v.metrics {
            Some(m) => {
                let (mean, max) = if m.invocations == 0 {
                    ("–".to_owned(), "–".to_owned())
                } else {
                    (
                        format!("{:.1} ms", m.duration_ms_total / m.invocations as f64),
                        format!("{:.1} ms", m.duration_ms_max),
                    )
                };
                let _ = write!(
                    out,
                    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{mean}</td><td>{max}</td><td>{}</td></tr>",
                    m.invocations, m.errors, m.throttles, m.cold_starts, m.environments
                );
            }
            None => {
                out.push_str("<td colspan=\"7\" class=\"meta\">not loaded in the runtime</td></tr>")
            }
        }
    }
    out.push_str("</tbody></table></div></section>");
    out.push_str(
        "<section aria-labelledby=\"min-h\"><h2 id=\"min-h\">The last hour, by minute</h2>",
    );
    let charted: Vec<&VersionRow> = versions
        .iter()
        .filter(|v| !v.minutes.is_empty())
        .take(CHARTED_VERSIONS)
        .collect();
    if charted.is_empty() {
        out.push_str("<p class=\"meta\">No invocations in the last hour.</p>");
    } else {
        let _ = write!(
            out,
            "<p class=\"meta\">the newest {CHARTED_VERSIONS} versions with invocations; durations are estimated from a √2-step histogram (within a factor of 1.4)</p>"
        );
        for v in charted {
            version_charts(&mut out, &v.version, &v.minutes, now_ms);
        }
    }
    out.push_str("</section>");
    out
}

/// Log records as the tail shows them: one line each, escaped.
pub(crate) fn log_lines(out: &mut String, logs: &[LogRecord]) {
    for l in logs {
        let _ = writeln!(
            out,
            "<span class=\"meta\">{} {}</span> {}",
            esc(&time(l.timestamp_ms)),
            esc(&l.version.to_string()),
            esc(&l.message)
        );
    }
}

/// The live log tail of a function page, outside the page's live region: the newest lines,
/// then the script appends what `/console/logs/…?after=CURSOR` answers each time the topic
/// `logs/…` moves (keeping at most `data-keep` lines).
pub(crate) fn log_tail(topic: &str, src: &str, cursor: &str, logs: &[LogRecord]) -> String {
    let mut out = String::with_capacity(256 + logs.len() * 120);
    let _ = write!(
        out,
        "<section aria-labelledby=\"log-h\"><h2 id=\"log-h\">Live log tail</h2><p class=\"meta\">every version, oldest first; the newest {LOG_LINES} when the page opened, then new lines as they are written (at most {TAIL_KEEP} kept in the page)</p>\
         <pre class=\"logs\" id=\"tail\" tabindex=\"0\" aria-label=\"Log lines\" data-topic=\"{}\" data-cursor=\"{}\" data-src=\"{}\" data-keep=\"{TAIL_KEEP}\">",
        esc(topic),
        esc(cursor),
        esc(src)
    );
    log_lines(&mut out, logs);
    out.push_str("</pre></section>");
    out
}

/// The most log lines the page keeps (the script drops the oldest).
pub(crate) const TAIL_KEEP: usize = 1000;
