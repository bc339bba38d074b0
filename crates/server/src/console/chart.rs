//! Charts drawn as SVG by hand. Pure: numbers in, markup out (its numbers are ours, its
//! labels escaped).
//!
//! - [`weight_chart`]: a deployment's traffic, the new version's weight over time as a step
//!   line, the old version's as its complement, and the schedule still to come dashed;
//! - [`time_chart`]: small time series (a function version's per-minute metrics, an alarm's
//!   datapoints) with an optional threshold line and marked moments (state changes).

use std::fmt::Write as _;

use super::html::{duration, esc, time};

/// `(at_ms, percent on the new version)`, oldest first.
pub(crate) struct Series<'a> {
    pub(crate) weights: &'a [(u64, f64)],
    /// Steps still to come (absolute times), drawn dashed.
    pub(crate) planned: &'a [(u64, f64)],
    pub(crate) start_ms: u64,
    /// Where the drawn past ends and the planned part begins.
    pub(crate) now_ms: u64,
    pub(crate) end_ms: u64,
    pub(crate) old_label: &'a str,
    pub(crate) new_label: &'a str,
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 34.0;

/// The step points of a weight series from `start` to `end`, beginning at `first`.
fn steps(points: &[(u64, f64)], start: u64, end: u64, first: f64) -> Vec<(u64, f64)> {
    let mut out = vec![(start, first)];
    let mut last = first;
    for &(t, w) in points {
        let t = t.clamp(start, end);
        out.push((t, last));
        out.push((t, w));
        last = w;
    }
    out.push((end, last));
    out
}

pub(crate) fn weight_chart(s: &Series<'_>) -> String {
    let end = s.end_ms.max(s.start_ms + 1);
    let span = (end - s.start_ms) as f64;
    let x = |t: u64| LEFT + (t.saturating_sub(s.start_ms) as f64 / span) * (W - LEFT - RIGHT);
    let y = |p: f64| TOP + (1.0 - p.clamp(0.0, 100.0) / 100.0) * (H - TOP - BOTTOM);
    let path = |pts: &[(u64, f64)], f: &dyn Fn(f64) -> f64| {
        let mut d = String::new();
        for (i, (t, p)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(*t),
                y(f(*p))
            );
        }
        d
    };
    let actual_end = if s.planned.is_empty() {
        end
    } else {
        s.now_ms.clamp(s.start_ms, end)
    };
    let actual = steps(s.weights, s.start_ms, actual_end, 0.0);
    let current = s.weights.last().map_or(0.0, |w| w.1);
    let planned = if s.planned.is_empty() {
        Vec::new()
    } else {
        steps(s.planned, actual_end, end, current)
    };
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-title\" \
         preserveAspectRatio=\"xMidYMid meet\"><title id=\"chart-title\">Traffic weight over time: {} (new) and {} (old)</title>",
        esc(s.new_label),
        esc(s.old_label)
    );
    for p in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{p}%</text>",
            W - RIGHT,
            y(p),
            y(p),
            LEFT - 6.0,
            y(p) + 4.0
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\">0s</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        H - 12.0,
        W - RIGHT,
        H - 12.0,
        esc(&duration(end - s.start_ms))
    );
    let _ = write!(
        out,
        "<path class=\"old\" d=\"{}\"/><path class=\"new\" d=\"{}\"/>",
        path(&actual, &|p| 100.0 - p),
        path(&actual, &|p| p)
    );
    if !planned.is_empty() {
        let _ = write!(
            out,
            "<path class=\"old planned\" d=\"{}\"/><path class=\"new planned\" d=\"{}\"/>",
            path(&planned, &|p| 100.0 - p),
            path(&planned, &|p| p)
        );
    }
    out.push_str("</svg><figcaption>");
    let _ = write!(
        out,
        "<span class=\"key new\">{} (new) {current}%</span> <span class=\"key old\">{} (old) {}%</span>",
        esc(s.new_label),
        esc(s.old_label),
        100.0 - current
    );
    if !planned.is_empty() {
        out.push_str(" <span class=\"key planned\">dashed: still to come</span>");
    }
    out.push_str("</figcaption></figure>");
    out
}

/// One line of a [`time_chart`]: points `(at_ms, value)`, oldest first; `class` picks its
/// colour (`s0`, `s1`, …, styled in `console.css`).
pub(crate) struct Line<'a> {
    pub(crate) label: &'a str,
    pub(crate) class: &'a str,
    pub(crate) points: &'a [(u64, f64)],
}

/// A time series chart: lines over `[start_ms, end_ms]` from 0 to a round maximum, an
/// optional threshold (drawn dashed, with its value) and marks (a vertical line with a label
/// at a time: an alarm's state changes).
pub(crate) struct TimeChart<'a> {
    /// Unique on the page (the `<title>`'s id).
    pub(crate) id: &'a str,
    pub(crate) title: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) start_ms: u64,
    pub(crate) end_ms: u64,
    pub(crate) lines: &'a [Line<'a>],
    pub(crate) threshold: Option<f64>,
    pub(crate) marks: &'a [(u64, &'a str)],
}

const SW: f64 = 320.0;
const SH: f64 = 150.0;

/// 1, 2 or 5 × a power of ten, at least `v`.
fn round_up(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v * 0.999_999)
        .unwrap_or(10.0 * p)
}

fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(crate) fn time_chart(c: &TimeChart<'_>) -> String {
    let end = c.end_ms.max(c.start_ms + 1);
    let span = (end - c.start_ms) as f64;
    let max = c
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(c.threshold)
        .fold(0.0, f64::max);
    let top = round_up(max);
    let x =
        |t: u64| LEFT + (t.clamp(c.start_ms, end) - c.start_ms) as f64 / span * (SW - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - (v / top).clamp(0.0, 1.0)) * (SH - TOP - BOTTOM);
    let mut out = String::with_capacity(2048);
    let _ = write!(
        out,
        "<figure class=\"chart small\"><svg viewBox=\"0 0 {SW} {SH}\" role=\"img\" aria-labelledby=\"{id}\" \
         preserveAspectRatio=\"xMidYMid meet\"><title id=\"{id}\">{}</title>",
        esc(c.title),
        id = esc(c.id)
    );
    for v in [0.0, top / 2.0, top] {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            SW - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            esc(&number(v))
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\">{}</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        SH - 12.0,
        esc(&time(c.start_ms)[11..16]),
        SW - RIGHT,
        SH - 12.0,
        esc(&time(end)[11..16])
    );
    if let Some(t) = c.threshold {
        let _ = write!(
            out,
            "<line class=\"threshold\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis threshold\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">threshold {}</text>",
            SW - RIGHT,
            y(t),
            y(t),
            SW - RIGHT,
            y(t) - 3.0,
            esc(&number(t))
        );
    }
    for (at, label) in c.marks {
        let _ = write!(
            out,
            "<line class=\"mark\" x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/>\
             <text class=\"axis mark\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x(*at),
            x(*at),
            SH - BOTTOM,
            x(*at) + 2.0,
            TOP + 9.0,
            esc(label)
        );
    }
    for l in c.lines {
        let mut d = String::new();
        for (i, (t, v)) in l.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(*t),
                y(*v)
            );
        }
        let _ = write!(out, "<g class=\"{}\"><path d=\"{d}\"/>", esc(l.class));
        for (t, v) in l.points {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\"/>",
                x(*t),
                y(*v)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg><figcaption>");
    let _ = write!(out, "<span>{}</span>", esc(c.title));
    for l in c.lines {
        let last = l.points.last().map_or("–".to_owned(), |p| number(p.1));
        let _ = write!(
            out,
            " <span class=\"key {}\">{}: {}{}</span>",
            esc(l.class),
            esc(l.label),
            esc(&last),
            esc(c.unit)
        );
    }
    out.push_str("</figcaption></figure>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_chart_scales_to_a_round_maximum_and_draws_threshold_and_marks() {
        let svg = time_chart(&TimeChart {
            id: "c<1>",
            title: "Errors <by minute>",
            unit: "",
            start_ms: 0,
            end_ms: 600_000,
            lines: &[Line {
                label: "Errors",
                class: "s1",
                points: &[(0, 1.0), (300_000, 3.0)],
            }],
            threshold: Some(2.0),
            marks: &[(300_000, "ALARM")],
        });
        assert!(svg.contains("aria-labelledby=\"c&lt;1&gt;\""), "{svg}");
        assert!(svg.contains("Errors &lt;by minute&gt;"));
        // 3 rounds up to 5: the top grid line says 5, the middle 2.50.
        assert!(
            svg.contains(">5</text>") && svg.contains(">2.50</text>"),
            "{svg}"
        );
        assert!(svg.contains("threshold 2</text>"));
        assert!(svg.contains("class=\"axis mark\""));
        assert!(svg.contains(">ALARM</text>"));
        assert!(svg.contains("Errors: 3</span>"));
        assert_eq!(round_up(0.0), 1.0);
        assert_eq!(round_up(101.0), 200.0);
        assert_eq!(round_up(0.3), 0.5);
    }

    #[test]
    fn a_canary_step_then_the_rest_to_come() {
        let svg = weight_chart(&Series {
            weights: &[(1_000, 10.0)],
            planned: &[(301_000, 100.0)],
            start_ms: 1_000,
            now_ms: 31_000,
            end_ms: 301_000,
            old_label: "v1",
            new_label: "v<2>",
        });
        assert!(svg.starts_with("<figure class=\"chart\"><svg"));
        assert!(svg.contains("v&lt;2&gt; (new) 10%"), "{svg}");
        assert!(svg.contains("v1 (old) 90%"));
        assert!(svg.contains("class=\"new planned\""));
        // The new version's line: 0 % until the first step, 10 % until now (a tenth of the way),
        // then dashed up to 100 % at the end of the schedule.
        assert!(
            svg.contains("class=\"new\" d=\"M44.0,186.0 L44.0,186.0 L44.0,168.6 L102.4,168.6\""),
            "{svg}"
        );
        assert!(svg.contains("class=\"new planned\" d=\"M102.4,168.6 L628.0,168.6 L628.0,12.0"));
    }

    #[test]
    fn a_finished_shift_has_no_planned_part() {
        let svg = weight_chart(&Series {
            weights: &[(0, 10.0), (5, 100.0)],
            planned: &[],
            start_ms: 0,
            now_ms: 10,
            end_ms: 10,
            old_label: "1",
            new_label: "2",
        });
        assert!(!svg.contains("planned"));
        assert!(svg.contains("2 (new) 100%"));
    }
}
