//! HTML writing: escaping (every string that reaches a page goes through [`esc`] or [`seg`]),
//! the page layout, and the small formatters the pages share (times, durations, statuses).

use std::fmt::{self, Write as _};

/// Text or an attribute value, escaped: `&`, `<`, `>`, `"` and `'` become entities, so user
/// data (stack names, log lines, comments, error messages) can never open a tag or leave a
/// quoted attribute.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

pub(crate) fn esc(s: &str) -> Esc<'_> {
    Esc(s)
}

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + 1;
        }
        f.write_str(&self.0[last..])
    }
}

/// One path segment of a console URL: percent-encoded (a `/` too), then HTML-escaped.
pub(crate) fn seg(s: &str) -> String {
    esc(&crate::wire::percent_encode(s, false)).to_string()
}

/// `2026-12-01 20:14:42Z` (UTC, the server's clock).
pub(crate) fn time(epoch_ms: u64) -> String {
    let t = crate::wire::lambda_time(epoch_ms);
    // `2026-12-01T20:14:42.123+0000`
    format!("{} {}Z", &t[..10], &t[11..19])
}

/// `850ms`, `12s`, `3m 05s`, `2h 10m`.
pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A status as a badge: the class says its colour family (`ok`, `bad`, `run`, `idle`).
pub(crate) fn badge(status: &str) -> String {
    let class = match status {
        "Succeeded" | "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "OK" | "Approved" => "ok",
        "Failed" | "Stopped" | "Abandoned" | "Cancelled" | "ALARM" | "Rejected" => "bad",
        s if s.ends_with("FAILED") || s.contains("ROLLBACK") => "bad",
        "InProgress" | "Stopping" | "Baking" | "Queued" | "Created" | "Pending" | "Ready" => "run",
        s if s.ends_with("IN_PROGRESS") => "run",
        _ => "idle",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(status))
}

/// The sections of the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Pipelines,
    Deployments,
    Stacks,
    Functions,
    None,
}

/// What the live region of a page is: the event topic it follows, the generation it was
/// rendered at, and the URL of its fragment.
pub(crate) struct Live {
    pub(crate) topic: String,
    pub(crate) generation: String,
    pub(crate) src: String,
}

/// A whole page: the layout around `body` (which is already HTML). `live` wraps the part of
/// the body that the script re-fetches when the topic changes.
pub(crate) fn page(
    title: &str,
    section: Section,
    crumbs: &[(&str, String)],
    live: Option<&Live>,
    body: &str,
    after: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Slipway</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/console/\">Slipway</a><nav aria-label=\"Main\">",
        esc(title)
    );
    for (s, href, name) in [
        (Section::Pipelines, "/console/pipelines", "Pipelines"),
        (Section::Deployments, "/console/deployments", "Deployments"),
        (Section::Stacks, "/console/stacks", "Stacks"),
        (Section::Functions, "/console/functions", "Functions"),
    ] {
        let current = if s == section {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{href}\"{current}>{name}</a>");
    }
    out.push_str("</nav></header><main>");
    if !crumbs.is_empty() {
        out.push_str("<nav class=\"crumbs\" aria-label=\"Breadcrumb\">");
        for (name, href) in crumbs {
            let _ = write!(out, "<a href=\"{}\">{}</a> / ", esc(href), esc(name));
        }
        out.push_str("</nav>");
    }
    let _ = write!(
        out,
        "<h1>{}</h1><p id=\"status\" role=\"status\" aria-live=\"polite\"></p>",
        esc(title)
    );
    match live {
        Some(l) => {
            let _ = write!(
                out,
                "<div id=\"live\" data-topic=\"{}\" data-generation=\"{}\" data-src=\"{}\">{body}</div>",
                esc(&l.topic),
                esc(&l.generation),
                esc(&l.src)
            );
        }
        None => out.push_str(body),
    }
    out.push_str(after);
    out.push_str("</main></body></html>\n");
    out
}

/// A POST form with hidden fields and one button; `label` is the button's accessible name
/// when it differs from its text.
pub(crate) fn action_form(
    out: &mut String,
    action: &str,
    fields: &[(&str, &str)],
    text: &str,
    label: &str,
    class: &str,
) {
    let _ = write!(
        out,
        "<form method=\"post\" action=\"{}\" class=\"inline\" data-live>",
        esc(action)
    );
    for (k, v) in fields {
        let _ = write!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            esc(k),
            esc(v)
        );
    }
    let _ = write!(
        out,
        "<button type=\"submit\" class=\"{}\" aria-label=\"{}\">{}</button></form>",
        esc(class),
        esc(label),
        esc(text)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_open_a_tag_or_close_an_attribute() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(esc("plain é").to_string(), "plain é");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_000), "12s");
        assert_eq!(duration(185_000), "3m 05s");
        assert_eq!(duration(7_800_000), "2h 10m");
        assert_eq!(time(1_790_000_000_000), "2026-09-21 14:13:20Z");
    }
}
