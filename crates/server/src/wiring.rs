//! How the engine's changes reach the data plane: [`ServerHooks`] implements
//! [`slipway_engine::Hooks`], registering every function version with the runtime and passing
//! API, alias and function changes to a [`RouteSink`] (the server's own gateway, `routes.rs`,
//! and the one configured, [`NoRoutes`] by default).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use slipway_engine::Hooks;
use slipway_engine::providers::{FunctionRecord, Target};
use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_runtime::Runtime;
use slipway_store::state::{Collection, StateStore};

/// The bucket (a directory under the data dir, as the engine keeps buckets) where code uploaded
/// with `UpdateFunctionCode` is unpacked, at `<function>/<sha256 of the zip>`.
pub(crate) const CODE_BUCKET: &str = "slipway-function-code";

/// What the gateway implements to learn that its route table is stale.
pub trait RouteSink: Send + Sync {
    /// A REST or HTTP API's routes, stages or deployments changed.
    fn routes_changed(&self, _target: &str, _api: &str) {}
    /// An alias's version or weights changed (a route to it picks versions anew).
    fn alias_changed(&self, _target: &str, _function: &str, _alias: &str) {}
    /// A function (`$LATEST`, a version) was created, changed or deleted.
    fn function_changed(&self, _target: &str, _function: &str) {}
}

/// No gateway yet.
pub struct NoRoutes;

impl RouteSink for NoRoutes {}

/// The engine's [`Hooks`] of a server.
pub struct ServerHooks {
    runtime: Runtime,
    routes: Arc<dyn RouteSink>,
    /// (where, name, version): the same name in two targets is two functions.
    registered: Mutex<BTreeSet<(Location, String, Version)>>,
}

impl ServerHooks {
    pub fn new(runtime: Runtime, routes: Arc<dyn RouteSink>) -> ServerHooks {
        ServerHooks {
            runtime,
            routes,
            registered: Mutex::new(BTreeSet::new()),
        }
    }

    /// Every function version registered with the runtime.
    pub(crate) fn registered_versions(&self) -> Vec<(Location, String, Version)> {
        self.registered().iter().cloned().collect()
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, BTreeSet<(Location, String, Version)>> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hooks for ServerHooks {
    fn function_changed(&self, spec: &FunctionSpec) {
        tracing::debug!(function = %spec.name, version = %spec.version, "registering");
        self.registered().insert((
            spec.location.clone(),
            spec.name.clone(),
            spec.version.clone(),
        ));
        self.runtime.register(spec.clone());
        let target = format!("{}/{}", spec.location.account, spec.location.region);
        self.routes.function_changed(&target, &spec.name);
    }

    fn function_deleted(&self, target: &str, function: &str) {
        let Some(location) = Target::parse(target).map(|t| t.location()) else {
            return;
        };
        let here = |l: &Location, f: &String| *l == location && f == function;
        let gone: Vec<(Location, String, Version)> = {
            let mut reg = self.registered();
            let gone = reg.iter().filter(|(l, f, _)| here(l, f)).cloned().collect();
            reg.retain(|(l, f, _)| !here(l, f));
            gone
        };
        for (l, f, v) in gone {
            self.runtime.unregister_at(Some(&l), &f, &v);
        }
        self.routes.function_changed(target, function);
    }

    fn alias_changed(&self, target: &str, function: &str, alias: &str) {
        self.routes.alias_changed(target, function, alias);
    }

    fn routes_changed(&self, target: &str, api: &str) {
        self.routes.routes_changed(target, api);
    }
}

/// The runnable configuration of one version of a stored function (each published version
/// keeps the code directory it was made from).
pub(crate) fn spec_of(
    rec: &FunctionRecord,
    target: &Target,
    data_dir: &Path,
    version: &Version,
) -> Option<FunctionSpec> {
    rec.spec(target, data_dir, version)
}

/// At start: every function version the store holds is registered again (the runtime keeps
/// nothing across restarts).
pub(crate) fn register_stored(store: &dyn StateStore, data_dir: &Path, hooks: &ServerHooks) {
    let docs = match store.list_all_docs(Collection::Functions) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot list the stored functions");
            return;
        }
    };
    for (t, name, doc) in docs {
        let (Some(target), Ok(rec)) = (
            Target::parse(&t),
            serde_json::from_value::<FunctionRecord>(doc.value),
        ) else {
            tracing::warn!(target = %t, function = %name, "unreadable stored function");
            continue;
        };
        let versions = std::iter::once(Version::Latest).chain(
            rec.version_properties
                .keys()
                .map(|n| Version::Published(*n)),
        );
        for v in versions {
            if let Some(spec) = spec_of(&rec, &target, data_dir, &v) {
                hooks.function_changed(&spec);
            }
        }
    }
}
