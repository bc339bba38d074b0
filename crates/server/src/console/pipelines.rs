//! Pipeline pages: the list with each pipeline's latest execution, and one pipeline as
//! CodePipeline's console draws it — a row per stage, a cell per action (a matrix deploy's
//! targets are actions of their stage, so a row per account × region), each with its state,
//! duration and what it did — with the execution history and the controls (run, stop, retry,
//! approve or reject with a comment). Pure renderers over [`PipelineState`].

use std::fmt::Write as _;

use slipway_model::pipeline::Provider;
use slipway_pipeline::{
    ActionState, ActionStatus, Execution, ExecutionStatus, PipelineState, Position, StageStatus,
};

use super::html::{action_form, badge, duration, esc, seg, time};

/// How many executions the history table shows (the newest).
pub(crate) const HISTORY: usize = 50;

pub(crate) fn exec_status(s: ExecutionStatus) -> &'static str {
    match s {
        ExecutionStatus::InProgress => "InProgress",
        ExecutionStatus::Stopping => "Stopping",
        ExecutionStatus::Stopped => "Stopped",
        ExecutionStatus::Succeeded => "Succeeded",
        ExecutionStatus::Superseded => "Superseded",
        ExecutionStatus::Failed => "Failed",
        ExecutionStatus::Cancelled => "Cancelled",
    }
}

fn stage_status(s: StageStatus) -> &'static str {
    match s {
        StageStatus::NotStarted => "NotStarted",
        StageStatus::InProgress => "InProgress",
        StageStatus::Stopping => "Stopping",
        StageStatus::Stopped => "Stopped",
        StageStatus::Succeeded => "Succeeded",
        StageStatus::Failed => "Failed",
    }
}

pub(crate) fn action_status(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::NotStarted => "NotStarted",
        ActionStatus::InProgress => "InProgress",
        ActionStatus::Succeeded => "Succeeded",
        ActionStatus::Failed => "Failed",
        ActionStatus::Abandoned => "Abandoned",
    }
}

fn took(start: Option<u64>, end: Option<u64>, now: u64) -> String {
    match (start, end) {
        (Some(s), Some(e)) => duration(e.saturating_sub(s)),
        (Some(s), None) => format!("{} so far", duration(now.saturating_sub(s))),
        _ => String::new(),
    }
}

fn revision(x: &Execution) -> String {
    x.source_revisions
        .first()
        .map(|r| {
            let short: String = r.revision_id.chars().take(8).collect();
            match &r.summary {
                Some(s) => format!("{short} {s}"),
                None => short,
            }
        })
        .unwrap_or_default()
}

/// One row of the list.
pub(crate) struct Summary {
    pub(crate) name: String,
    pub(crate) latest: Option<Execution>,
    /// How many executions it has.
    pub(crate) count: usize,
}

/// `/console/pipelines`: every pipeline with its latest execution.
pub(crate) fn list(rows: &[Summary], now: u64) -> String {
    let mut out = String::with_capacity(256 + rows.len() * 400);
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No pipelines yet. Define one in <code>slipway.yaml</code> and run <code>slipway up</code>.</p>");
        return out;
    }
    out.push_str("<div class=\"scroll\"><table><caption>Pipelines and their latest execution</caption><thead><tr><th scope=\"col\">Pipeline</th><th scope=\"col\">Latest</th><th scope=\"col\">Started</th><th scope=\"col\">Took</th><th scope=\"col\">Revision</th><th scope=\"col\">Executions</th></tr></thead><tbody>");
    for s in rows {
        let name = &s.name;
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"/console/pipelines/{}\">{}</a></th>",
            seg(name),
            esc(name)
        );
        match &s.latest {
            Some(x) => {
                let _ = write!(
                    out,
                    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    badge(exec_status(x.status)),
                    esc(&time(x.started_at.0)),
                    esc(&took(Some(x.started_at.0), x.ended_at.map(|t| t.0), now)),
                    esc(&revision(x)),
                    s.count
                );
            }
            None => out.push_str("<td>never run</td><td></td><td></td><td></td><td>0</td></tr>"),
        }
    }
    out.push_str("</tbody></table></div>");
    out
}

fn action_cell(
    out: &mut String,
    pipeline: &str,
    x: &Execution,
    stage: &str,
    a: &ActionState,
    provider: Option<Provider>,
    now: u64,
) {
    let _ = write!(
        out,
        "<li class=\"action\"><div class=\"action-head\"><span class=\"action-name\">{}</span> {}</div>",
        esc(&a.name),
        badge(action_status(a.status))
    );
    if let Some(p) = provider {
        let _ = write!(out, "<div class=\"meta\">{}", esc(&format!("{p:?}")));
        if a.attempt > 1 {
            let _ = write!(out, " · attempt {}", a.attempt);
        }
        let t = took(a.started_at.map(|t| t.0), a.ended_at.map(|t| t.0), now);
        if !t.is_empty() {
            let _ = write!(out, " · {}", esc(&t));
        }
        out.push_str("</div>");
    }
    if let Some(r) = &a.result {
        if let Some(s) = &r.summary {
            let _ = write!(out, "<div class=\"meta\">{}</div>", esc(s));
        }
        if let Some(id) = &r.external_execution_id {
            // Deployments (`d-…`) and ARNs have a page; a commit or a build ID is shown as is.
            if id.starts_with("arn:") || id.starts_with("d-") {
                let _ = write!(
                    out,
                    "<div class=\"meta\">ran: <a href=\"/console/find/{}\">{}</a></div>",
                    seg(id),
                    esc(id)
                );
            } else {
                let _ = write!(
                    out,
                    "<div class=\"meta\">ran: <code>{}</code></div>",
                    esc(id)
                );
            }
        }
    }
    if let Some(e) = &a.error {
        let _ = write!(out, "<div class=\"error\">{}</div>", esc(e));
    }
    if let Some(ap) = &a.approval {
        let _ = write!(
            out,
            "<div class=\"meta\">{} by {}{}</div>",
            if ap.approved { "Approved" } else { "Rejected" },
            esc(&ap.by),
            ap.comment
                .as_deref()
                .map(|c| format!(": “{}”", esc(c)))
                .unwrap_or_default()
        );
    }
    let waiting_approval = provider == Some(Provider::Manual)
        && a.status == ActionStatus::InProgress
        && x.status == ExecutionStatus::InProgress;
    if waiting_approval {
        let id = format!("comment-{}-{}", seg(stage), seg(&a.name));
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/console/pipelines/{p}/approvals\" class=\"approval\" data-live>\
             <input type=\"hidden\" name=\"stage\" value=\"{s}\"><input type=\"hidden\" name=\"action\" value=\"{an}\">\
             <label for=\"{id}\">Comment</label><textarea id=\"{id}\" name=\"comment\" rows=\"2\"></textarea>\
             <div class=\"buttons\"><button type=\"submit\" name=\"decision\" value=\"Approved\" class=\"primary\" aria-label=\"Approve {s} / {an}\">Approve</button>\
             <button type=\"submit\" name=\"decision\" value=\"Rejected\" class=\"danger\" aria-label=\"Reject {s} / {an}\">Reject</button></div></form>",
            p = seg(pipeline),
            s = esc(stage),
            an = esc(&a.name),
        );
    }
    out.push_str("</li>");
}

/// The body of `/console/pipelines/{name}`: the grid of `shown` (or of the latest execution),
/// the controls and the history.
pub(crate) fn page(s: &PipelineState, shown: Option<&str>, now: u64) -> String {
    let name = &s.pipeline.name;
    let mut out = String::with_capacity(8192);
    out.push_str("<div class=\"toolbar\">");
    action_form(
        &mut out,
        &format!("/console/pipelines/{}/run", seg(name)),
        &[],
        "Run pipeline",
        &format!("Run pipeline {name}"),
        "primary",
    );
    out.push_str("</div>");
    let x = match shown {
        Some(id) => s.execution(id),
        None => s.executions.last(),
    };
    match x {
        None => out.push_str("<p class=\"empty\">This pipeline has not run yet.</p>"),
        Some(x) => grid(&mut out, s, x, now),
    }
    history(&mut out, s, x.map(|x| x.id.as_str()), now);
    out
}

fn grid(out: &mut String, s: &PipelineState, x: &Execution, now: u64) {
    let name = &s.pipeline.name;
    let _ = write!(
        out,
        "<section aria-labelledby=\"exec-h\"><h2 id=\"exec-h\">Execution <code>{}</code> {}</h2><p class=\"meta\">started {} · {} · {}</p>",
        esc(&x.id),
        badge(exec_status(x.status)),
        esc(&time(x.started_at.0)),
        esc(&took(Some(x.started_at.0), x.ended_at.map(|t| t.0), now)),
        esc(&revision(x))
    );
    let _ = write!(
        out,
        "<p><a href=\"/console/pipelines/{}/stream?execution={}\">Value stream of this execution</a>: commit → build → stacks → versions → traffic</p>",
        seg(name),
        seg(&x.id)
    );
    if let Some(r) = &x.stop_reason {
        let _ = write!(out, "<p class=\"meta\">stop reason: {}</p>", esc(r));
    }
    if let Some(by) = &x.superseded_by {
        let _ = write!(
            out,
            "<p class=\"meta\">superseded by <a href=\"/console/pipelines/{}?execution={}\">{}</a></p>",
            seg(name),
            seg(by),
            esc(by)
        );
    }
    if matches!(
        x.status,
        ExecutionStatus::InProgress | ExecutionStatus::Stopping
    ) {
        out.push_str("<div class=\"toolbar\">");
        let stop = format!(
            "/console/pipelines/{}/executions/{}/stop",
            seg(name),
            seg(&x.id)
        );
        action_form(
            out,
            &stop,
            &[("mode", "WAIT")],
            "Stop",
            "Stop execution and wait for running actions",
            "",
        );
        action_form(
            out,
            &stop,
            &[("mode", "ABANDON")],
            "Stop and abandon",
            "Stop execution and abandon running actions",
            "danger",
        );
        out.push_str("</div>");
    }
    let halted = match x.position {
        Position::Halted { stage } => Some(stage),
        _ => None,
    };
    out.push_str("<ol class=\"stages\">");
    for (si, st) in x.stages.iter().enumerate() {
        let def = s
            .pipeline
            .stages
            .iter()
            .find(|d| d.name == st.name)
            .filter(|_| x.pipeline_version == s.pipeline.version);
        let waiting_here = x.position == Position::Waiting { stage: si };
        let _ = write!(
            out,
            "<li class=\"stage\"><div class=\"stage-head\"><h3>{}</h3> {}{}<span class=\"meta\">{}</span></div>",
            esc(&st.name),
            badge(stage_status(st.status)),
            if waiting_here {
                " <span class=\"badge run\">waiting to enter</span> "
            } else {
                " "
            },
            esc(&took(
                st.started_at.map(|t| t.0),
                st.ended_at.map(|t| t.0),
                now
            ))
        );
        out.push_str("<ul class=\"actions\">");
        for a in &st.actions {
            let provider = def
                .and_then(|d| d.actions.iter().find(|da| da.name == a.name))
                .map(|da| da.action_type_id.provider);
            action_cell(out, name, x, &st.name, a, provider, now);
        }
        out.push_str("</ul>");
        if halted == Some(si) && x.superseded_by.is_none() {
            out.push_str("<div class=\"toolbar\">");
            let retry = format!(
                "/console/pipelines/{}/executions/{}/retry",
                seg(name),
                seg(&x.id)
            );
            action_form(
                out,
                &retry,
                &[("stage", &st.name), ("mode", "FAILED_ACTIONS")],
                "Retry failed actions",
                &format!("Retry the failed actions of stage {}", st.name),
                "primary",
            );
            action_form(
                out,
                &retry,
                &[("stage", &st.name), ("mode", "ALL_ACTIONS")],
                "Retry stage",
                &format!("Retry every action of stage {}", st.name),
                "",
            );
            out.push_str("</div>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ol></section>");
}

fn history(out: &mut String, s: &PipelineState, shown: Option<&str>, now: u64) {
    let n = s.executions.len();
    if n == 0 {
        return;
    }
    let _ = write!(
        out,
        "<section aria-labelledby=\"hist-h\"><h2 id=\"hist-h\">History</h2><p class=\"meta\">{} execution(s){}</p>\
         <div class=\"scroll\"><table><thead><tr><th scope=\"col\">Execution</th><th scope=\"col\">Status</th><th scope=\"col\">Type</th><th scope=\"col\">Started</th><th scope=\"col\">Took</th><th scope=\"col\">Revision</th></tr></thead><tbody>",
        n,
        if n > HISTORY {
            format!(", the newest {HISTORY} shown")
        } else {
            String::new()
        }
    );
    for x in s.executions.iter().rev().take(HISTORY) {
        let current = if shown == Some(x.id.as_str()) {
            " aria-current=\"true\""
        } else {
            ""
        };
        let short: String = x.id.chars().take(8).collect();
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"/console/pipelines/{}?execution={}\"{current} aria-label=\"Execution {}\">{}</a></th><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            seg(&s.pipeline.name),
            seg(&x.id),
            esc(&x.id),
            esc(&short),
            badge(exec_status(x.status)),
            x.execution_type,
            esc(&time(x.started_at.0)),
            esc(&took(Some(x.started_at.0), x.ended_at.map(|t| t.0), now)),
            esc(&revision(x))
        );
    }
    out.push_str("</tbody></table></div></section>");
}
