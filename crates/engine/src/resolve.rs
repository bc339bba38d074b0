//! The second evaluation pass: the template engine's evaluator run again over a resource's
//! symbolic properties, with [`PhysicalValues`] answered from the stack's deployed resources,
//! so `Ref`, `Fn::GetAtt` and `Fn::Sub` of resources become physical IDs and ARNs before a
//! provider sees them. `Fn::ImportValue` is answered from the exports of the same target.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde_json::Value;
use slipway_deploy::stack::DeployedResource;
use slipway_model::diag::{Diagnostics, Pos};
use slipway_model::syntax::Node;
use slipway_model::template::eval::{Evaluator, Scope, is_symbolic};
use slipway_model::template::path::Path;
use slipway_model::template::{
    Context, ExportAnswer, ExportLookup, NoParameters, PhysicalValues, Pseudo, ResourceDecl, schema,
};
use slipway_store::state::StateStore;

/// Physical values of the resources a stack has now.
pub struct StackPhysical<'a> {
    pub resources: &'a IndexMap<String, DeployedResource>,
}

impl PhysicalValues for StackPhysical<'_> {
    fn ref_value(&self, logical_id: &str) -> Option<Node> {
        self.resources
            .get(logical_id)
            .map(|r| Node::string(Pos::default(), r.physical_id.clone()))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Node> {
        let r = self.resources.get(logical_id)?;
        r.attributes
            .get(attribute)
            .map(|v| Node::from_json(v, Pos::default()))
    }
}

/// Exports of the stacks of one target; remembers every name asked for, which is how the
/// executor learns what a template imports.
pub struct StoreExports<'a> {
    pub store: &'a dyn StateStore,
    pub target: &'a str,
    /// The stack being deployed: its own exports do not count.
    pub stack: &'a str,
    pub asked: RefCell<BTreeSet<String>>,
}

impl<'a> StoreExports<'a> {
    pub fn new(store: &'a dyn StateStore, target: &'a str, stack: &'a str) -> Self {
        StoreExports {
            store,
            target,
            stack,
            asked: RefCell::new(BTreeSet::new()),
        }
    }

    /// Every export of the target: name → (stack, value).
    pub fn all(store: &dyn StateStore, target: &str) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        for name in store.list_stacks(target).unwrap_or_default() {
            let Ok(Some(doc)) = store.get_stack(target, &name) else {
                continue;
            };
            let Some(outputs) = doc.record.get("outputs").and_then(Value::as_object) else {
                continue;
            };
            let live = doc
                .record
                .get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "DELETE_COMPLETE");
            if !live {
                continue;
            }
            for o in outputs.values() {
                if let (Some(e), Some(v)) = (
                    o.get("export_name").and_then(Value::as_str),
                    o.get("value").and_then(Value::as_str),
                ) {
                    out.insert(e.to_owned(), (name.clone(), v.to_owned()));
                }
            }
        }
        out
    }
}

impl ExportLookup for StoreExports<'_> {
    fn export(&self, name: &str) -> ExportAnswer {
        self.asked.borrow_mut().insert(name.to_owned());
        match StoreExports::all(self.store, self.target).get(name) {
            Some((stack, v)) if stack != self.stack => ExportAnswer::Found(v.clone()),
            Some(_) | None => ExportAnswer::Missing,
        }
    }
}

/// Evaluates `value` (symbolic JSON from the plan) with the stack's physical values. An error
/// names the first reference that is still unresolved, or the evaluator's first diagnostic.
pub fn resolve_value(
    value: &Value,
    pseudo: &Pseudo,
    types: &BTreeMap<String, String>,
    physical: &dyn PhysicalValues,
    exports: &dyn ExportLookup,
    context: Context,
    path: &str,
) -> Result<Value, String> {
    let params = BTreeMap::new();
    let conditions = BTreeMap::new();
    let resources: BTreeMap<String, ResourceDecl> = types
        .iter()
        .map(|(id, t)| {
            (
                id.clone(),
                ResourceDecl {
                    type_: t.clone(),
                    active: true,
                    condition: None,
                },
            )
        })
        .collect();
    let has_attribute = |t: &str, a: &str| schema::attribute_check(t, a);
    let scope = Scope {
        params: &params,
        pseudo,
        mappings: None,
        conditions: &conditions,
        resources: &resources,
        physical,
        exports,
        ssm: &NoParameters,
        language_extensions: true,
        has_attribute: &has_attribute,
        lenient: false,
    };
    let mut ev = Evaluator::new(&scope);
    let mut diags = Diagnostics::new();
    let node = Node::from_json(value, Pos::default());
    let root = Path::root(path);
    let out = ev.eval(&node, context, &root, &mut diags);
    if let Some(d) = diags.iter().find(|d| d.is_error()) {
        return Err(d.message.clone());
    }
    let Some(out) = out else {
        return Ok(Value::Null);
    };
    let mut left = None;
    out.walk(&mut |n| {
        if left.is_none() && is_symbolic(n) {
            left = Some(n.to_json().to_string());
        }
    });
    if let Some(l) = left {
        return Err(format!("{path}: {l} has no value yet"));
    }
    Ok(out.to_json())
}
