//! The traffic chart of a deployment, drawn as SVG by hand: the new version's weight over time
//! as a step line, the old version's as its complement, and the schedule still to come dashed.
//! Pure: weights in, markup out (its numbers are ours, its labels escaped).

use std::fmt::Write as _;

use super::html::{duration, esc};

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

#[cfg(test)]
mod tests {
    use super::*;

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
