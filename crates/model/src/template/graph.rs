//! The dependency graph of a resolved template: who needs whom, cycles, and the order to
//! deploy in.
//!
//! An edge A → B exists when A's properties (or Metadata, UpdatePolicy) reference B through
//! `Ref`, `Fn::GetAtt` or a `${B}` / `${B.Attr}` variable of `Fn::Sub`, or when A lists B in
//! `DependsOn`. The order is Kahn's algorithm with ties broken by template order, so the same
//! template always deploys in the same order. A cycle is reported once, naming its members in
//! order.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;

use super::eval::{SubSegment, parse_sub};
use super::{Output, Resource};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::syntax::{Kind, Node};

/// Every logical ID a node refers to (of those in `known`).
pub(crate) fn references(n: &Node, known: &dyn Fn(&str) -> bool, out: &mut BTreeSet<String>) {
    n.walk(&mut |node| {
        let Some((k, arg)) = node.as_map().and_then(crate::syntax::Map::single) else {
            return;
        };
        match (k, &arg.kind) {
            ("Ref", Kind::String(s)) if known(s) => {
                out.insert(s.clone());
            }
            ("Fn::GetAtt", Kind::Seq(items)) => {
                if let Some(id) = items.first().and_then(Node::as_str)
                    && known(id)
                {
                    out.insert(id.to_owned());
                }
            }
            ("Fn::GetAtt", Kind::String(s)) => {
                if let Some((id, _)) = s.split_once('.')
                    && known(id)
                {
                    out.insert(id.to_owned());
                }
            }
            ("Fn::Sub", _) => {
                let (text, vars) = match &arg.kind {
                    Kind::String(s) => (Some(s.as_str()), None),
                    Kind::Seq(items) => (
                        items.first().and_then(Node::as_str),
                        items.get(1).and_then(Node::as_map),
                    ),
                    Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::Map(_) => (None, None),
                };
                if let Some(Ok(segments)) = text.map(parse_sub) {
                    for seg in segments {
                        if let SubSegment::Var(v) = seg {
                            if vars.is_some_and(|m| m.contains_key(&v)) {
                                continue;
                            }
                            let id = v.split_once('.').map_or(v.as_str(), |(id, _)| id);
                            if known(id) {
                                out.insert(id.to_owned());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    });
}

/// Fills every resource's `dependencies`, reports cycles, and returns the deployment order.
pub(crate) fn link(
    resources: &mut IndexMap<String, Resource>,
    _outputs: &IndexMap<String, Output>,
    diags: &mut Diagnostics,
) -> Vec<String> {
    let ids: BTreeSet<String> = resources.keys().cloned().collect();
    let known = |s: &str| ids.contains(s);
    for r in resources.values_mut() {
        let mut deps = BTreeSet::new();
        references(&r.properties, &known, &mut deps);
        for n in [&r.metadata, &r.update_policy].into_iter().flatten() {
            references(n, &known, &mut deps);
        }
        for d in &r.depends_on {
            if known(d) {
                deps.insert(d.clone());
            }
        }
        deps.remove(&r.logical_id);
        r.dependencies = deps;
    }
    // Self-references are cycles of one.
    for r in resources.values() {
        let mut own = BTreeSet::new();
        references(&r.properties, &|s| s == r.logical_id, &mut own);
        if !own.is_empty() || r.depends_on.contains(&r.logical_id) {
            diags.push(
                Diagnostic::error(
                    Code::Cycle,
                    format!("resource '{0}' depends on itself: {0} → {0}", r.logical_id),
                )
                .at(r.pos)
                .path(format!("Resources.{}", r.logical_id)),
            );
        }
    }

    // Kahn's algorithm, ties by template order.
    let index: BTreeMap<&str, usize> = resources
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut remaining: Vec<usize> = resources.values().map(|r| r.dependencies.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); resources.len()];
    for (i, r) in resources.values().enumerate() {
        for d in &r.dependencies {
            dependents[index[d.as_str()]].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..resources.len())
        .filter(|i| remaining[*i] == 0)
        .collect();
    let mut order = Vec::with_capacity(resources.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &dependents[i] {
            remaining[j] -= 1;
            if remaining[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if order.len() < resources.len() {
        report_cycles(resources, &order, diags);
    }
    order
        .into_iter()
        .filter_map(|i| resources.get_index(i).map(|(k, _)| k.clone()))
        .collect()
}

/// Finds the cycles among the resources Kahn's algorithm could not order and reports each.
fn report_cycles(
    resources: &IndexMap<String, Resource>,
    ordered: &[usize],
    diags: &mut Diagnostics,
) {
    let done: BTreeSet<usize> = ordered.iter().copied().collect();
    let stuck: Vec<&str> = resources
        .keys()
        .enumerate()
        .filter(|(i, _)| !done.contains(i))
        .map(|(_, k)| k.as_str())
        .collect();
    let stuck_set: BTreeSet<&str> = stuck.iter().copied().collect();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    for start in &stuck {
        if reported.contains(start) {
            continue;
        }
        // Walk dependencies among stuck nodes until one repeats.
        let mut path: Vec<&str> = vec![start];
        let mut seen: BTreeMap<&str, usize> = BTreeMap::from([(*start, 0)]);
        let mut cur = *start;
        let cycle = loop {
            let next = resources[cur]
                .dependencies
                .iter()
                .map(String::as_str)
                .find(|d| stuck_set.contains(d) && *d != cur);
            let Some(next) = next else { break None };
            if let Some(&at) = seen.get(next) {
                break Some(path[at..].to_vec());
            }
            seen.insert(next, path.len());
            path.push(next);
            cur = next;
        };
        let Some(cycle) = cycle else { continue };
        if cycle.iter().any(|c| reported.contains(c)) {
            continue;
        }
        reported.extend(cycle.iter().copied());
        let first = cycle[0];
        let mut shown = cycle.clone();
        shown.push(first);
        let mut d = Diagnostic::error(
            Code::Cycle,
            format!(
                "resources depend on each other in a cycle: {}",
                shown.join(" → ")
            ),
        )
        .at(resources[first].pos)
        .path(format!("Resources.{first}"));
        for c in &cycle[1..] {
            d = d.related(
                format!("'{c}' is part of the cycle"),
                Some(resources[*c].pos),
            );
        }
        diags.push(d);
    }
}
