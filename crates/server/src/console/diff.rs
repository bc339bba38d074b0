//! Change sets as diffs: per resource, what a change set adds, modifies or removes, whether it
//! replaces it and why (the plan's details), and the property-level before/after of the
//! resolved templates. Pure: templates in, rows out (`resources.rs` draws them).
//!
//! The "before" of a change set waiting for review is the stack's current template. (As in
//! CloudFormation, executing a change set removes the stack's change sets, so what a stack
//! page lists is what waits to be executed — `CHANGE_SET_REPLACE` pipeline actions,
//! `slipway deploy --no-execute-changeset`; should an executed one be kept, its "before" is
//! the template of the change set executed before it, none for the first.) Values of `NoEcho` parameters are masked in both
//! sides (the templates are resolved, so they would otherwise appear in the clear).

use std::collections::BTreeMap;

use serde_json::Value;

/// The most a value shows before it is cut.
const VALUE_CHARS: usize = 160;
/// The most property rows one resource shows.
pub(crate) const ROWS: usize = 50;

/// One changed leaf: its path under `Properties`, before and after (`None`: absent).
#[derive(Debug, PartialEq)]
pub(crate) struct PropertyChange {
    pub(crate) path: String,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        _ => {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let text = if text.chars().count() > VALUE_CHARS {
                text.chars().take(VALUE_CHARS).collect::<String>() + "…"
            } else {
                text
            };
            out.insert(prefix.to_owned(), text);
        }
    }
}

/// Replaces every string equal to a secret with `****`.
fn mask(v: &Value, secrets: &[String]) -> Value {
    match v {
        Value::String(s)
            if secrets
                .iter()
                .any(|x| !x.is_empty() && s.contains(x.as_str())) =>
        {
            Value::String("****".into())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| mask(x, secrets)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), mask(x, secrets)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The changed leaves of resource `logical_id`'s properties between two resolved templates.
pub(crate) fn property_changes(
    before: &Value,
    after: &Value,
    logical_id: &str,
    secrets: &[String],
) -> Vec<PropertyChange> {
    let props = |t: &Value| {
        let p = &t["Resources"][logical_id]["Properties"];
        let mut out = BTreeMap::new();
        if !p.is_null() {
            flatten("", &mask(p, secrets), &mut out);
        }
        out
    };
    let (b, a) = (props(before), props(after));
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| PropertyChange {
            path: k.clone(),
            before: b.get(k).cloned(),
            after: a.get(k).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_that_differ_with_secrets_masked() {
        let before = json!({"Resources": {"F": {"Properties": {
            "Handler": "app.handler",
            "Environment": {"Variables": {"EXTRA": "1", "TOKEN": "s3cret"}},
            "Layers": ["a"]
        }}}});
        let after = json!({"Resources": {"F": {"Properties": {
            "Handler": "app.handler",
            "Environment": {"Variables": {"EXTRA": "2", "TOKEN": "n3w-s3cret"}},
            "MemorySize": 256
        }}}});
        let got = property_changes(
            &before,
            &after,
            "F",
            &["s3cret".to_owned(), "n3w-s3cret".to_owned()],
        );
        let rows: Vec<(&str, Option<&str>, Option<&str>)> = got
            .iter()
            .map(|c| (c.path.as_str(), c.before.as_deref(), c.after.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [
                ("Environment.Variables.EXTRA", Some("1"), Some("2")),
                ("Layers[0]", Some("a"), None),
                ("MemorySize", None, Some("256")),
            ],
            "a changed secret shows as unchanged ****"
        );
        // A new resource: every leaf is an addition.
        let added = property_changes(&json!(null), &after, "F", &[]);
        assert!(added.iter().all(|c| c.before.is_none()));
        assert_eq!(added.len(), 4);
    }
}
