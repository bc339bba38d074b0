//! EventBridge schedule expressions (`AWS::Events::Rule` `ScheduleExpression`, SAM `Schedule`
//! events): `rate(VALUE UNIT)` and the six-field `cron(Minutes Hours Day-of-month Month
//! Day-of-week Year)`, parsed into a [`Schedule`] that answers "when is the next firing after
//! t?". Pure: time is milliseconds since the epoch, always UTC (as EventBridge's rules).
//!
//! What EventBridge documents ("Using cron and rate expressions to schedule rules",
//! `eb-scheduled-rule-pattern`), and what this module does with it:
//!
//! - `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)`, `rate(2 days)`: a positive whole
//!   number; the unit singular when the value is 1 and plural otherwise.
//! - cron fields: Minutes `0-59` (`, - * /`), Hours `0-23` (`, - * /`), Day-of-month `1-31`
//!   (`, - * ? / L W`), Month `1-12` or `JAN-DEC` (`, - * /`), Day-of-week `1-7` or `SUN-SAT`
//!   with 1 = Sunday (`, - * ? L #`), Year `1970-2199` (`, - * /`). One of Day-of-month and
//!   Day-of-week must be `?` (and not both): a day is chosen by one field only.
//! - `L` in Day-of-month is the month's last day; `LW` its last weekday; `15W` the weekday
//!   nearest the 15th, never leaving the month (Quartz's meaning, which EventBridge follows).
//!   `L` alone in Day-of-week is the last day of the week (Saturday); `6L` the month's last
//!   Friday; `3#2` its second Tuesday. These forms stand alone in their field (no lists).
//! - `a/n` starts at `a` and steps by `n` to the field's end; `*/n` starts at the field's
//!   minimum; `a-b/n` stays inside the range. A range may wrap (`FRI-MON`, `22-2`).
//!
//! The finest precision is one minute: a cron schedule fires at second 0 of each matching
//! minute. Anything else is refused with a [`ScheduleError`] that says what and where; no input
//! panics.

use std::fmt;

pub use slipway_model::civil::{civil_from_days, days_from_civil};

pub const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;
const YEAR_MIN: i64 = 1970;
const YEAR_MAX: i64 = 2199;

/// A parsed schedule expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every `period_ms`, counted from an anchor (when the rule started).
    Rate {
        period_ms: u64,
    },
    Cron(Cron),
}

/// The six fields of a cron expression, as sets of what matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    dom: DayOfMonth,
    /// Bits 1..=12.
    months: u16,
    dow: DayOfWeek,
    /// Bit `y - 1970`.
    years: [u64; 4],
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`: the day is chosen by Day-of-week.
    Unspecified,
    /// Bits 1..=31.
    Days(u32),
    /// `L`.
    Last,
    /// `LW`.
    LastWeekday,
    /// `15W`.
    NearestWeekday(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfWeek {
    Unspecified,
    /// Bits 1..=7 (1 = Sunday).
    Days(u8),
    /// `6L`: the last Friday of the month.
    LastOf(u32),
    /// `3#2`: the second Tuesday.
    Nth {
        day: u32,
        n: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    pub expression: String,
    pub message: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid ScheduleExpression '{}': {}",
            self.expression, self.message
        )
    }
}

impl std::error::Error for ScheduleError {}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        let err = |message: String| ScheduleError {
            expression: expression.to_owned(),
            message,
        };
        let e = expression.trim();
        if let Some(inner) = e.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return parse_rate(inner).map_err(err);
        }
        if let Some(inner) = e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Cron::parse(inner).map(Schedule::Cron).map_err(err);
        }
        if e.starts_with("at(") {
            return Err(err(
                "one-time at(...) schedules belong to EventBridge Scheduler; Slipway runs rate(...) and cron(...) rules"
                    .to_owned(),
            ));
        }
        Err(err(
            "expected rate(VALUE UNIT) or cron(Minutes Hours Day-of-month Month Day-of-week Year)"
                .to_owned(),
        ))
    }

    /// The first firing strictly after `after_ms`. A rate counts whole periods from
    /// `anchor_ms`; a cron ignores the anchor. `None` when the schedule never fires again
    /// (a cron whose years have passed, or a date that does not exist, like 31 February).
    pub fn next_after(&self, anchor_ms: u64, after_ms: u64) -> Option<u64> {
        match self {
            Schedule::Rate { period_ms } => {
                if after_ms < anchor_ms {
                    return anchor_ms.checked_add(*period_ms);
                }
                let k = (after_ms - anchor_ms) / period_ms + 1;
                k.checked_mul(*period_ms)?.checked_add(anchor_ms)
            }
            Schedule::Cron(c) => c.next_after(after_ms),
        }
    }
}

fn parse_rate(inner: &str) -> Result<Schedule, String> {
    let mut parts = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a rate is rate(VALUE UNIT), for example rate(5 minutes)".to_owned());
    };
    let n: u64 = value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("the rate value '{value}' is not a positive whole number"))?;
    let (unit_ms, singular) = match unit {
        "minute" => (MINUTE_MS, true),
        "minutes" => (MINUTE_MS, false),
        "hour" => (60 * MINUTE_MS, true),
        "hours" => (60 * MINUTE_MS, false),
        "day" => (DAY_MS, true),
        "days" => (DAY_MS, false),
        other => {
            return Err(format!(
                "the rate unit '{other}' is not one of minute(s), hour(s), day(s)"
            ));
        }
    };
    if singular != (n == 1) {
        return Err(format!(
            "the unit must be singular for a value of 1 and plural otherwise ('{n} {unit}')"
        ));
    }
    let period_ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| format!("the rate '{inner}' is too large"))?;
    Ok(Schedule::Rate { period_ms })
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field's bounds and names, for error messages and parsing.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const F_MIN: Field = Field {
    name: "Minutes",
    min: 0,
    max: 59,
    names: &[],
};
const F_HOUR: Field = Field {
    name: "Hours",
    min: 0,
    max: 23,
    names: &[],
};
const F_DOM: Field = Field {
    name: "Day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const F_MONTH: Field = Field {
    name: "Month",
    min: 1,
    max: 12,
    names: &MONTHS,
};
const F_DOW: Field = Field {
    name: "Day-of-week",
    min: 1,
    max: 7,
    names: &DAYS,
};
const F_YEAR: Field = Field {
    name: "Year",
    min: YEAR_MIN as u32,
    max: YEAR_MAX as u32,
    names: &[],
};

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(self.min + i as u32);
        }
        let v: u32 = s.parse().map_err(|_| {
            if self.names.is_empty() {
                format!("{}: '{s}' is not a number", self.name)
            } else {
                format!(
                    "{}: '{s}' is not a number or one of {}",
                    self.name,
                    self.names.join(",")
                )
            }
        })?;
        if v < self.min || v > self.max {
            return Err(format!(
                "{}: {v} is outside {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }

    /// A list of `*`, `v`, `a-b`, each optionally `/step`, as the values it matches.
    fn values(&self, s: &str) -> Result<Vec<u32>, String> {
        let mut out = Vec::new();
        for item in s.split(',') {
            if item.is_empty() {
                return Err(format!("{}: empty item in '{s}'", self.name));
            }
            let (range, step) = match item.split_once('/') {
                Some((r, st)) => {
                    let step: u32 = st.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!(
                            "{}: the step '{st}' is not a positive whole number",
                            self.name
                        )
                    })?;
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (start, end) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                (self.value(a)?, self.value(b)?)
            } else {
                let v = self.value(range)?;
                // `a/n` runs from a to the field's end.
                (v, if step.is_some() { self.max } else { v })
            };
            let span = self.max - self.min + 1;
            let len = if end >= start {
                end - start + 1
            } else {
                // A wrapping range: FRI-MON, 22-2.
                span - (start - end) + 1
            };
            let step = step.unwrap_or(1);
            let mut i = 0;
            while i < len {
                let v = self.min + (start - self.min + i) % span;
                out.push(v);
                i += step;
            }
        }
        Ok(out)
    }
}

fn bits_u64(vals: &[u32]) -> u64 {
    vals.iter().fold(0, |acc, v| acc | 1u64 << v)
}

impl Cron {
    fn parse(inner: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [mi, h, dom, mo, dow, y] = fields.as_slice() else {
            return Err(format!(
                "a cron expression has six fields (Minutes Hours Day-of-month Month Day-of-week Year), found {}",
                fields.len()
            ));
        };
        for (f, s) in [(&F_MIN, mi), (&F_HOUR, h), (&F_MONTH, mo), (&F_YEAR, y)] {
            // Month names hold an L (JUL) but never ? or #; the other fields have no names.
            let misplaced = if f.names.is_empty() {
                s.to_ascii_uppercase().contains(['?', 'L', 'W', '#'])
            } else {
                s.contains(['?', '#'])
            };
            if misplaced {
                return Err(format!(
                    "{}: the wildcards ? L W # are not allowed here ('{s}')",
                    f.name
                ));
            }
        }
        let minutes = bits_u64(&F_MIN.values(mi)?);
        let hours = bits_u64(&F_HOUR.values(h)?) as u32;
        let months = bits_u64(&F_MONTH.values(mo)?) as u16;
        let mut years = [0u64; 4];
        for v in F_YEAR.values(y)? {
            let i = (v - F_YEAR.min) as usize;
            years[i / 64] |= 1 << (i % 64);
        }
        let dom = parse_dom(dom)?;
        let dow = parse_dow(dow)?;
        match (&dom, &dow) {
            (DayOfMonth::Unspecified, DayOfWeek::Unspecified) => {
                return Err(
                    "Day-of-month and Day-of-week cannot both be '?': one of them chooses the day"
                        .to_owned(),
                );
            }
            (DayOfMonth::Unspecified, _) | (_, DayOfWeek::Unspecified) => {}
            _ => {
                return Err(
                    "one of Day-of-month and Day-of-week must be '?' (EventBridge does not combine them)"
                        .to_owned(),
                );
            }
        }
        Ok(Cron {
            minutes,
            hours,
            dom,
            months,
            dow,
            years,
        })
    }

    fn year_ok(&self, y: i64) -> bool {
        if !(YEAR_MIN..=YEAR_MAX).contains(&y) {
            return false;
        }
        let i = (y - YEAR_MIN) as usize;
        self.years[i / 64] & (1 << (i % 64)) != 0
    }

    fn day_ok(&self, y: i64, m: u32, d: u32, weekday: u32) -> bool {
        let last = days_in_month(y, m);
        let dom_ok = match &self.dom {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(bits) => bits & (1 << d) != 0,
            DayOfMonth::Last => d == last,
            DayOfMonth::LastWeekday => d == nearest_weekday(y, m, last),
            DayOfMonth::NearestWeekday(n) => d == nearest_weekday(y, m, (*n).min(last)),
        };
        // 1 = Sunday … 7 = Saturday.
        let wd = weekday + 1;
        let dow_ok = match &self.dow {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(bits) => bits & (1 << wd) != 0,
            DayOfWeek::LastOf(day) => wd == *day && d + 7 > last,
            DayOfWeek::Nth { day, n } => wd == *day && (d - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }

    /// The first matching minute strictly after `after_ms`.
    fn next_after(&self, after_ms: u64) -> Option<u64> {
        let start_min = after_ms / MINUTE_MS + 1;
        let mut day = (start_min * MINUTE_MS / DAY_MS) as i64;
        let mut first_minute_of_day = (start_min % (DAY_MS / MINUTE_MS)) as u32;
        loop {
            let (y, m, d) = civil_from_days(day);
            if y > YEAR_MAX {
                return None;
            }
            if !self.year_ok(y) {
                // Skip to the next year.
                day = days_from_civil(y + 1, 1, 1);
                first_minute_of_day = 0;
                continue;
            }
            if self.months & (1 << m) == 0 {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                day = days_from_civil(ny, nm, 1);
                first_minute_of_day = 0;
                continue;
            }
            let weekday = (day + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday (4).
            if self.day_ok(y, m, d, weekday) {
                for minute_of_day in first_minute_of_day..24 * 60 {
                    let (h, mi) = (minute_of_day / 60, minute_of_day % 60);
                    if self.hours & (1 << h) != 0 && self.minutes & (1 << mi) != 0 {
                        return Some(day as u64 * DAY_MS + u64::from(minute_of_day) * MINUTE_MS);
                    }
                }
            }
            day += 1;
            first_minute_of_day = 0;
        }
    }
}

fn parse_dom(s: &str) -> Result<DayOfMonth, String> {
    let u = s.to_ascii_uppercase();
    if u == "?" {
        return Ok(DayOfMonth::Unspecified);
    }
    if u == "L" {
        return Ok(DayOfMonth::Last);
    }
    if u == "LW" {
        return Ok(DayOfMonth::LastWeekday);
    }
    if let Some(n) = u.strip_suffix('W') {
        let v = F_DOM.value(n).map_err(|e| format!("{e} (in '{s}')"))?;
        return Ok(DayOfMonth::NearestWeekday(v));
    }
    if u.contains(['L', 'W', '#', '?']) {
        return Err(format!(
            "Day-of-month: '{s}' is not supported: L, LW, nW and ? stand alone in the field, and # belongs to Day-of-week"
        ));
    }
    Ok(DayOfMonth::Days(bits_u64(&F_DOM.values(s)?) as u32))
}

fn parse_dow(s: &str) -> Result<DayOfWeek, String> {
    let u = s.to_ascii_uppercase();
    if u == "?" {
        return Ok(DayOfWeek::Unspecified);
    }
    if u == "L" {
        return Ok(DayOfWeek::Days(1 << 7));
    }
    if let Some((d, n)) = u.split_once('#') {
        let day = F_DOW.value(d).map_err(|e| format!("{e} (in '{s}')"))?;
        let n: u32 = n
            .parse()
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or_else(|| format!("Day-of-week: in '{s}', the week after # must be 1-5"))?;
        return Ok(DayOfWeek::Nth { day, n });
    }
    if let Some(d) = u.strip_suffix('L')
        && !d.is_empty()
        && !d.ends_with('-')
        && !d.contains([',', '/', '-'])
    {
        let day = F_DOW.value(d).map_err(|e| format!("{e} (in '{s}')"))?;
        return Ok(DayOfWeek::LastOf(day));
    }
    if u.contains('#') || u.contains('?') || u.contains('W') && !DAYS.iter().any(|n| u.contains(n))
    {
        return Err(format!(
            "Day-of-week: '{s}' is not supported: L, nL, n#k and ? stand alone in the field, and W belongs to Day-of-month"
        ));
    }
    // Day names contain no L (SUN…SAT), so an L left here is misplaced.
    if u.contains('L') {
        return Err(format!(
            "Day-of-week: '{s}' is not supported: L and nL stand alone in the field"
        ));
    }
    Ok(DayOfWeek::Days(bits_u64(&F_DOW.values(s)?) as u8))
}

/// The weekday nearest day `d` of the month, not leaving the month (Quartz's `W`).
fn nearest_weekday(y: i64, m: u32, d: u32) -> u32 {
    let wd = (days_from_civil(y, m, d) + 4).rem_euclid(7) as u32; // 0 = Sunday
    let last = days_in_month(y, m);
    match wd {
        6 if d == 1 => 3,        // Saturday the 1st: Monday the 3rd.
        6 => d - 1,              // Saturday: Friday.
        0 if d == last => d - 2, // Sunday the last: Friday.
        0 => d + 1,              // Sunday: Monday.
        _ => d,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-12-01T20:14:42.123Z`.
pub fn iso8601_ms(epoch_ms: u64) -> String {
    let (date, rest) = split(epoch_ms);
    format!("{date}T{rest}.{:03}Z", epoch_ms % 1000)
}

/// `2026-12-01T20:14:42Z` (EventBridge's `time`).
pub fn iso8601_s(epoch_ms: u64) -> String {
    let (date, rest) = split(epoch_ms);
    format!("{date}T{rest}Z")
}

fn split(epoch_ms: u64) -> (String, String) {
    let secs = epoch_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let r = secs % 86_400;
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", r / 3600, r % 3600 / 60, r % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch ms of a UTC date and time.
    fn at(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> u64 {
        days_from_civil(y, mo, d) as u64 * DAY_MS + h * 3_600_000 + mi * MINUTE_MS
    }

    fn next(expr: &str, from: u64) -> Option<String> {
        let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        s.next_after(0, from).map(iso8601_s)
    }

    #[test]
    fn dates_round_trip() {
        for days in [-1000i64, 0, 59, 60, 365, 11_016, 19_000, 83_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(iso8601_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601_s(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn rates() {
        let cases: &[(&str, Option<u64>)] = &[
            ("rate(1 minute)", Some(MINUTE_MS)),
            ("rate(5 minutes)", Some(5 * MINUTE_MS)),
            ("rate(1 hour)", Some(3_600_000)),
            ("rate(12 hours)", Some(12 * 3_600_000)),
            ("rate(1 day)", Some(DAY_MS)),
            ("rate(7 days)", Some(7 * DAY_MS)),
            ("rate(5 minute)", None),
            ("rate(1 minutes)", None),
            ("rate(0 minutes)", None),
            ("rate(-1 minutes)", None),
            ("rate(1.5 hours)", None),
            ("rate(5 seconds)", None),
            ("rate(5)", None),
            ("rate()", None),
            ("rate(5 minutes", None),
            ("every 5 minutes", None),
        ];
        for (e, want) in cases {
            let got = Schedule::parse(e).ok().map(|s| match s {
                Schedule::Rate { period_ms } => period_ms,
                Schedule::Cron(_) => 0,
            });
            assert_eq!(got, *want, "{e}");
        }
        let s = Schedule::parse("rate(5 minutes)").unwrap();
        let t0 = 1_000_000;
        assert_eq!(s.next_after(t0, t0), Some(t0 + 5 * MINUTE_MS));
        assert_eq!(
            s.next_after(t0, t0 + 5 * MINUTE_MS - 1),
            Some(t0 + 5 * MINUTE_MS)
        );
        assert_eq!(
            s.next_after(t0, t0 + 5 * MINUTE_MS),
            Some(t0 + 10 * MINUTE_MS)
        );
        assert_eq!(
            s.next_after(t0, t0 + 23 * MINUTE_MS),
            Some(t0 + 25 * MINUTE_MS)
        );
        assert_eq!(s.next_after(t0, 0), Some(t0 + 5 * MINUTE_MS));
    }

    #[test]
    fn crons_fire_when_the_documentation_says() {
        // Examples of EventBridge's documentation, and the edge cases of each wildcard.
        let from = at(2026, 12, 1, 21, 50); // a Tuesday
        let cases: &[(&str, &str)] = &[
            // 10:15 UTC every day.
            ("cron(15 10 * * ? *)", "2026-12-02T10:15:00Z"),
            // 18:00 Monday through Friday.
            ("cron(0 18 ? * MON-FRI *)", "2026-12-02T18:00:00Z"),
            // 08:00 on the first day of the month.
            ("cron(0 8 1 * ? *)", "2027-01-01T08:00:00Z"),
            // Every 10 minutes on weekdays.
            ("cron(0/10 * ? * MON-FRI *)", "2026-12-01T22:00:00Z"),
            // Every 5 minutes between 8:00 and 17:55 on weekdays.
            ("cron(0/5 8-17 ? * MON-FRI *)", "2026-12-02T08:00:00Z"),
            // 9:00 on the first Monday of each month.
            ("cron(0 9 ? * 2#1 *)", "2026-12-07T09:00:00Z"),
            ("cron(* * * * ? *)", "2026-12-01T21:51:00Z"),
            ("cron(1/10 * * * ? *)", "2026-12-01T21:51:00Z"),
            ("cron(0 0 L * ? *)", "2026-12-31T00:00:00Z"),
            ("cron(0 0 L 2 ? 2028)", "2028-02-29T00:00:00Z"),
            ("cron(0 0 L 2 ? 2027)", "2027-02-28T00:00:00Z"),
            // The last weekday of January 2027 (the 31st is a Sunday).
            ("cron(0 0 LW 1 ? 2027)", "2027-01-29T00:00:00Z"),
            // The weekday nearest 2027-05-01 (a Saturday) is Monday the 3rd.
            ("cron(0 0 1W 5 ? 2027)", "2027-05-03T00:00:00Z"),
            // …nearest 2027-05-15 (a Saturday): Friday the 14th.
            ("cron(0 0 15W 5 ? 2027)", "2027-05-14T00:00:00Z"),
            // …nearest 2027-05-16 (a Sunday): Monday the 17th.
            ("cron(0 0 16W 5 ? 2027)", "2027-05-17T00:00:00Z"),
            // The last Friday of December 2026.
            ("cron(0 12 ? * 6L *)", "2026-12-25T12:00:00Z"),
            // L alone in Day-of-week: Saturday.
            ("cron(0 12 ? * L *)", "2026-12-05T12:00:00Z"),
            ("cron(0 12 ? * 7 *)", "2026-12-05T12:00:00Z"),
            ("cron(0 12 ? * SUN *)", "2026-12-06T12:00:00Z"),
            ("cron(0 12 ? * sun *)", "2026-12-06T12:00:00Z"),
            // A wrapping range: Friday to Monday.
            ("cron(0 12 ? * FRI-MON *)", "2026-12-04T12:00:00Z"),
            ("cron(0 22-2 * * ? *)", "2026-12-01T22:00:00Z"),
            ("cron(30 0 1 JAN,JUL ? *)", "2027-01-01T00:30:00Z"),
            ("cron(0 0 29 2 ? *)", "2028-02-29T00:00:00Z"),
            ("cron(0 0 1 1 ? 2030-2032)", "2030-01-01T00:00:00Z"),
            ("cron(0 0 1 1 ? 2030/5)", "2030-01-01T00:00:00Z"),
            ("cron(0 0 5 * ? *)", "2026-12-05T00:00:00Z"),
            ("cron(50 21 * * ? *)", "2026-12-02T21:50:00Z"),
        ];
        for (e, want) in cases {
            assert_eq!(next(e, from).as_deref(), Some(*want), "{e}");
        }
        // Strictly after: a firing at exactly `from` is not the next one.
        assert_eq!(
            next("cron(50 21 * * ? *)", from + 1).as_deref(),
            Some("2026-12-02T21:50:00Z")
        );
        assert_eq!(
            next("cron(50 21 * * ? *)", from - 1).as_deref(),
            Some("2026-12-01T21:50:00Z")
        );
        // Never again.
        assert_eq!(next("cron(0 0 31 2 ? *)", from), None);
        assert_eq!(next("cron(0 0 1 1 ? 2020)", from), None);
        assert_eq!(next("cron(0 0 ? * 2#5 2199)", at(2199, 12, 31, 0, 0)), None);
    }

    #[test]
    fn bad_crons_are_refused_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("cron(0 10 * * *)", "six fields"),
            ("cron(0 10 * * ? * *)", "six fields"),
            ("cron(0 10 * * * *)", "must be '?'"),
            ("cron(0 10 ? * ? *)", "cannot both be '?'"),
            ("cron(60 10 * * ? *)", "Minutes: 60 is outside 0-59"),
            ("cron(0 24 * * ? *)", "Hours: 24 is outside 0-23"),
            ("cron(0 0 32 * ? *)", "Day-of-month: 32 is outside 1-31"),
            ("cron(0 0 0 * ? *)", "Day-of-month: 0 is outside 1-31"),
            ("cron(0 0 * 13 ? *)", "Month: 13 is outside 1-12"),
            ("cron(0 0 ? * 8 *)", "Day-of-week: 8 is outside 1-7"),
            ("cron(0 0 * * ? 1969)", "Year: 1969 is outside 1970-2199"),
            (
                "cron(0 0 * FOO ? *)",
                "Month: 'FOO' is not a number or one of JAN",
            ),
            ("cron(x 0 * * ? *)", "Minutes: 'x' is not a number"),
            ("cron(0/0 0 * * ? *)", "step '0'"),
            ("cron(0, 0 * * ? *)", "empty item"),
            ("cron(? 0 * * ? *)", "not allowed here"),
            ("cron(0 0 ? * 2#6 *)", "1-5"),
            ("cron(0 0 1#2 * ? *)", "# belongs to Day-of-week"),
            ("cron(0 0 ? * 2W *)", "W belongs to Day-of-month"),
            ("cron(0 0 L,15 * ? *)", "stand alone"),
            ("cron(0 0 ? * 1,6L *)", "stand alone"),
            ("cron(0 0 32W * ? *)", "outside 1-31"),
            ("at(2026-12-01T10:00:00)", "EventBridge Scheduler"),
            ("cron 0 0 * * ? *", "expected rate"),
            ("", "expected rate"),
        ];
        for (e, want) in cases {
            let err = Schedule::parse(e).expect_err(e);
            assert!(
                err.to_string().contains(want),
                "{e}: '{err}' does not mention '{want}'"
            );
        }
    }

    #[test]
    fn nothing_panics_on_odd_input() {
        let pieces = [
            "*",
            "?",
            "L",
            "W",
            "LW",
            "#",
            "/",
            "-",
            ",",
            "0",
            "7",
            "59",
            "99999999999",
            "JAN",
            "SUN",
            "1#",
            "#1",
            "L-",
            "-L",
            "5L",
            "1-",
            "-1",
            "*/",
            "/5",
            "1//2",
            "a-b",
            "ü",
        ];
        let mut n = 0u64;
        for a in pieces {
            for b in pieces {
                let e = format!("cron({a} {b} {a} {b} {b} {a})");
                if let Ok(s) = Schedule::parse(&e) {
                    let _ = s.next_after(0, at(2026, 1, 1, 0, 0));
                }
                let _ = Schedule::parse(&format!("rate({a} {b})"));
                n += 1;
            }
        }
        assert!(n > 0);
    }
}
