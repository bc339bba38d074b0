//! The data plane fed by the deploy engine: the gateway's route tables rebuilt from the state
//! store whenever the engine reports a change.
//!
//! # What is served
//!
//! Every stack of every target (deleted ones excepted) contributes the APIs among its
//! deployed resources. A stack's resources are read as the engine keeps them
//! (`StackRecord::resources`, in deployment order, properties as the template gave them with
//! references still symbolic), so an API is served from the step that created it, also in the
//! middle of an update. [`slipway_gateway::build_deployed`] turns them into route tables,
//! resolving references through a [`Directory`] made from the same record and the target's
//! [`FunctionRecord`]s:
//!
//! - `AWS::Lambda::Function` logical ID → the physical function name;
//! - `AWS::Lambda::Alias` → (function, alias) from the alias ARN, and each alias of the target's
//!   functions → its versions and weights (`Routing::Weighted` during a traffic shift);
//! - `AWS::Lambda::Version` → (function, version number) from the version ARN;
//! - `AWS::ApiGateway::RestApi` / `AWS::ApiGatewayV2::Api` → the physical ID the engine gave it,
//!   which is the `{apiId}` of the invoke URLs.
//!
//! The snapshots of all stacks are concatenated into one [`Snapshot`] and swapped into the
//! [`Gateway`] whole. Root addressing is off (several stacks may serve APIs): requests address
//! an API by host (`{apiId}.execute-api.localhost`) or path (`/_api/{apiId}/{stage}/…`).
//!
//! # When
//!
//! Once at start (before the gateway listens), then after every change the engine's
//! [`Hooks`](slipway_engine::Hooks) report (routes, aliases, functions — [`RouteSink`]).
//! A report only bumps a counter and wakes the rebuild task; the task reads the store on a
//! blocking thread and swaps the result in, so reports arriving during a rebuild coalesce into
//! the next one. When everything reported since the last swap is a change of aliases the
//! served snapshot already knows (a traffic shift's step, `UpdateAlias`), the task reads only
//! those functions' records and swaps in the served snapshot with those aliases' routing
//! replaced ([`Snapshot::with_alias_routing`]: everything else is shared), instead of
//! reading every stack and building every table again; any other report (or an alias it
//! does not know, or one gone) makes the next swap a full rebuild. Requests never wait for a rebuild: they load the current snapshot without a
//! lock and run on it. [`DataPlane::settled`] waits until everything reported so far is served
//! (what a deploy that wants to print working URLs, a test or a benchmark awaits).
//!
//! # Weights
//!
//! A weighted alias's version is drawn per request by the gateway
//! ([`slipway_gateway::Routing::pick`]), from [`GatewayConfig::seed`] and a request counter.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use slipway_deploy::stack::{DeployedResource, StackStatus};
use slipway_engine::providers::{FunctionRecord, Target};
use slipway_gateway::{Directory, Gateway, GatewayConfig, Routing, Snapshot, StageUrl};
use slipway_model::function::Version;
use slipway_model::template::eval::Pseudo;
use slipway_runtime::Runtime;
use slipway_store::state::{Collection, StateStore};
use tokio::sync::{Notify, watch};

use crate::wiring::RouteSink;

/// The gateway of a server and what keeps its snapshot current.
pub(crate) struct DataPlane {
    pub(crate) gateway: Arc<Gateway>,
    store: Arc<dyn StateStore>,
    /// Changes reported so far.
    wanted: AtomicU64,
    kick: Notify,
    /// The last report count a swapped-in snapshot covers.
    built: watch::Sender<u64>,
    /// What the reports not served yet ask for (counted in `wanted` under the same lock).
    pending: Mutex<Pending>,
    /// The aliases (target, function, alias) the served snapshot was built with.
    known: Mutex<BTreeSet<AliasKey>>,
}

/// (target, function, alias).
type AliasKey = (String, String, String);

/// What the next swap has to do.
#[derive(Default)]
struct Pending {
    /// Read everything again.
    full: bool,
    /// Only these aliases moved.
    aliases: BTreeSet<AliasKey>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DataPlane {
    pub(crate) fn new(store: Arc<dyn StateStore>, runtime: Runtime, seed: Option<u64>) -> Self {
        let mut config = GatewayConfig {
            root: false,
            ..GatewayConfig::default()
        };
        if let Some(seed) = seed {
            config.seed = seed;
        }
        DataPlane {
            gateway: Arc::new(Gateway::new(Snapshot::default(), Arc::new(runtime), config)),
            store,
            wanted: AtomicU64::new(0),
            kick: Notify::new(),
            built: watch::channel(0).0,
            pending: Mutex::new(Pending {
                full: true,
                aliases: BTreeSet::new(),
            }),
            known: Mutex::new(BTreeSet::new()),
        }
    }

    /// A report: `alias` when only that alias changed, `None` for anything else.
    fn stale(&self, alias: Option<AliasKey>) {
        {
            let mut p = locked(&self.pending);
            match alias {
                Some(a) if !p.full => {
                    p.aliases.insert(a);
                }
                Some(_) => {}
                None => p.full = true,
            }
            self.wanted.fetch_add(1, Ordering::SeqCst);
        }
        self.kick.notify_one();
    }

    /// Reads the store and swaps the new snapshot in (blocking: SQLite).
    pub(crate) fn rebuild(&self) {
        let (covers, pending) = {
            let mut p = locked(&self.pending);
            (self.wanted.load(Ordering::SeqCst), std::mem::take(&mut *p))
        };
        let started = std::time::Instant::now();
        let patched = if pending.full {
            None
        } else {
            self.with_aliases(&pending.aliases)
        };
        let (snapshot, how) = match patched {
            Some(s) => (s, "aliases updated"),
            None => {
                let (s, known) = snapshot_of_store(self.store.as_ref());
                *locked(&self.known) = known;
                (s, "route tables rebuilt")
            }
        };
        let apis = snapshot.apis.len();
        self.gateway.swap(snapshot);
        tracing::debug!(apis, elapsed = ?started.elapsed(), "{how}");
        self.built.send_if_modified(|b| {
            let newer = covers > *b;
            *b = (*b).max(covers);
            newer
        });
    }

    /// The served snapshot with `aliases` routed as the store says now; `None` when one of
    /// them is not in the served snapshot's directory or not in the store any more (a full
    /// rebuild then). Swaps happen on one task at a time, so the served snapshot is the
    /// latest.
    fn with_aliases(&self, aliases: &BTreeSet<AliasKey>) -> Option<Snapshot> {
        let known = locked(&self.known);
        let mut snapshot = Snapshot::clone(&self.gateway.snapshot());
        for key @ (target, function, alias) in aliases {
            if !known.contains(key) {
                return None;
            }
            let location = Target::parse(target)?.location();
            let doc = match self.store.get_doc(Collection::Functions, target, function) {
                Ok(d) => d?,
                Err(e) => {
                    tracing::warn!(%target, %function, error = %e, "cannot read the function");
                    return None;
                }
            };
            let rec: FunctionRecord = serde_json::from_value(doc.value).ok()?;
            let routing = routing_of(rec.versions.aliases.get(alias)?);
            snapshot = snapshot
                .with_alias_routing(&location, function, alias, &routing)
                .0;
        }
        Some(snapshot)
    }

    /// Waits until the gateway serves every change reported before the call.
    pub(crate) async fn settled(&self) {
        let want = self.wanted.load(Ordering::SeqCst);
        let mut rx = self.built.subscribe();
        let _ = rx.wait_for(|b| *b >= want).await;
    }

    /// The rebuild task: one rebuild per wake-up, however many reports woke it.
    pub(crate) async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = self.kick.notified() => {}
                _ = stopped.changed() => return,
            }
            let me = self.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || me.rebuild()).await {
                // The previous snapshot stays; waiters are released rather than left hanging,
                // and the next report tries again.
                tracing::error!(error = %e, "route table rebuild panicked");
                locked(&self.pending).full = true;
                let wanted = self.wanted.load(Ordering::SeqCst);
                self.built.send_modify(|b| *b = (*b).max(wanted));
            }
        }
    }
}

impl RouteSink for DataPlane {
    fn routes_changed(&self, _: &str, _: &str) {
        self.stale(None);
    }
    fn alias_changed(&self, target: &str, function: &str, alias: &str) {
        self.stale(Some((
            target.to_owned(),
            function.to_owned(),
            alias.to_owned(),
        )));
    }
    fn function_changed(&self, _: &str, _: &str) {
        self.stale(None);
    }
}

/// Tells two sinks (the server's own data plane and the one configured).
pub(crate) struct Both(pub(crate) Arc<dyn RouteSink>, pub(crate) Arc<dyn RouteSink>);

impl RouteSink for Both {
    fn routes_changed(&self, target: &str, api: &str) {
        self.0.routes_changed(target, api);
        self.1.routes_changed(target, api);
    }
    fn alias_changed(&self, target: &str, function: &str, alias: &str) {
        self.0.alias_changed(target, function, alias);
        self.1.alias_changed(target, function, alias);
    }
    fn function_changed(&self, target: &str, function: &str) {
        self.0.function_changed(target, function);
        self.1.function_changed(target, function);
    }
}

/// One stack as the data plane reads it.
struct DeployedStack {
    name: String,
    id: String,
    resources: Vec<(String, DeployedResource)>,
}

fn read_stack(store: &dyn StateStore, target: &str, name: &str) -> Option<DeployedStack> {
    let doc = match store.get_stack_resources(target, name) {
        Ok(Some(d)) => d,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(%target, stack = %name, error = %e, "cannot read the stack");
            return None;
        }
    };
    let status = doc
        .record
        .get("status")
        .cloned()
        .and_then(|s| serde_json::from_value::<StackStatus>(s).ok());
    if status.is_none_or(|s| s == StackStatus::DeleteComplete) {
        return None;
    }
    let resources = doc
        .resources
        .into_iter()
        .filter_map(|(id, r)| Some((id, serde_json::from_value(r).ok()?)))
        .collect();
    Some(DeployedStack {
        name: name.to_owned(),
        id: doc
            .record
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        resources,
    })
}

fn read_functions(store: &dyn StateStore, target: &str) -> BTreeMap<String, FunctionRecord> {
    match store.list_docs(Collection::Functions, target) {
        Ok(docs) => docs
            .into_iter()
            .filter_map(|(k, d)| Some((k, serde_json::from_value(d.value).ok()?)))
            .collect(),
        Err(e) => {
            tracing::warn!(%target, error = %e, "cannot list the functions");
            BTreeMap::new()
        }
    }
}

/// `FUNCTION` and `QUALIFIER` of `arn:…:function:FUNCTION:QUALIFIER`.
fn qualified(arn: &str) -> Option<(&str, &str)> {
    arn.split_once(":function:")?.1.split_once(':')
}

fn routing_of(alias: &slipway_deploy::lambda::Alias) -> Routing {
    match alias.additional {
        None => Routing::Single(alias.function_version.clone()),
        Some((v, weight)) => Routing::Weighted {
            primary: alias.function_version.clone(),
            secondary: Version::Published(v),
            weight,
        },
    }
}

/// What a stack's references stand for.
fn directory(
    target: &Target,
    stack: &DeployedStack,
    functions: &BTreeMap<String, FunctionRecord>,
) -> Directory {
    let mut dir = Directory {
        location: target.location(),
        ..Directory::default()
    };
    // Functions of other stacks of the target can be named by ARN in an integration URI; a
    // key that is not a logical ID (logical IDs are alphanumeric) keeps them out of `Ref`.
    for name in functions.keys() {
        dir.functions.insert(format!("{name}@"), name.clone());
    }
    for (f, rec) in functions {
        for (a, alias) in &rec.versions.aliases {
            dir.routing
                .insert((f.clone(), a.clone()), routing_of(alias));
        }
    }
    for (id, r) in &stack.resources {
        match r.resource_type.as_str() {
            "AWS::Lambda::Function" => {
                dir.functions.insert(id.clone(), r.physical_id.clone());
            }
            "AWS::Lambda::Alias" => {
                if let Some((f, a)) = qualified(&r.physical_id) {
                    dir.aliases.insert(id.clone(), (f.to_owned(), a.to_owned()));
                }
            }
            "AWS::Lambda::Version" => {
                if let Some((f, n)) = qualified(&r.physical_id)
                    && let Some(v) = Version::parse(n)
                {
                    dir.versions.insert(id.clone(), (f.to_owned(), v));
                }
            }
            "AWS::ApiGateway::RestApi" | "AWS::ApiGatewayV2::Api" => {
                dir.api_ids.insert(id.clone(), r.physical_id.clone());
            }
            _ => {}
        }
    }
    dir
}

fn stack_snapshot(
    target: &Target,
    stack: &DeployedStack,
    functions: &BTreeMap<String, FunctionRecord>,
) -> Snapshot {
    let dir = directory(target, stack, functions);
    let mut pseudo = Pseudo::new(&target.account, &target.region, &stack.name);
    if !stack.id.is_empty() {
        pseudo.stack_id = stack.id.clone();
    }
    let resources = stack
        .resources
        .iter()
        .map(|(id, r)| (id.clone(), r.resource_type.clone(), r.properties.clone()))
        .collect();
    let (mut snapshot, problems) = slipway_gateway::build_deployed(resources, &pseudo, &dir);
    for p in problems {
        tracing::debug!(target = %target.name(), stack = %stack.name, "not served: {p}");
    }
    // Only APIs that exist (an API resource not created yet has no ID to be reached at).
    snapshot
        .apis
        .retain(|a| dir.api_ids.get(&a.info.logical_id) == Some(&a.info.id));
    snapshot
}

/// The targets that hold an API: the engine records every API it creates
/// (`Collection::Resources`, key `Type|PhysicalId`), whatever the stack.
fn targets_with_apis(store: &dyn StateStore) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = store
        .targets()
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.name)
        .collect();
    match store.list_all_docs(Collection::Resources) {
        Ok(docs) => out.extend(
            docs.into_iter()
                .filter(|(_, key, _)| {
                    key.starts_with("AWS::ApiGateway::RestApi|")
                        || key.starts_with("AWS::ApiGatewayV2::Api|")
                })
                .map(|(t, _, _)| t),
        ),
        Err(e) => tracing::warn!(error = %e, "cannot list the recorded resources"),
    }
    out
}

/// Every API of every stack of every target, and the aliases of every target that holds one.
pub(crate) fn snapshot_of_store(store: &dyn StateStore) -> (Snapshot, BTreeSet<AliasKey>) {
    let mut all = Snapshot::default();
    let mut aliases = BTreeSet::new();
    for t in targets_with_apis(store) {
        let Some(target) = Target::parse(&t) else {
            continue;
        };
        let stacks = store.list_stacks(&t).unwrap_or_default();
        if stacks.is_empty() {
            continue;
        }
        let functions = read_functions(store, &t);
        for (f, rec) in &functions {
            for a in rec.versions.aliases.keys() {
                aliases.insert((t.clone(), f.clone(), a.clone()));
            }
        }
        for name in stacks {
            if let Some(stack) = read_stack(store, &t, &name) {
                all.apis
                    .extend(stack_snapshot(&target, &stack, &functions).apis);
            }
        }
    }
    (all, aliases)
}

/// The invoke URLs of one stack's APIs on a gateway at `addr` (read from the store now).
pub(crate) fn stack_urls(
    store: &dyn StateStore,
    target: &str,
    stack: &str,
    addr: SocketAddr,
) -> Vec<StageUrl> {
    let (Some(t), Some(s)) = (Target::parse(target), read_stack(store, target, stack)) else {
        return Vec::new();
    };
    let snapshot = stack_snapshot(&t, &s, &read_functions(store, target));
    slipway_gateway::stage_urls(&snapshot, addr, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_and_version_arns_split() {
        assert_eq!(
            qualified("arn:aws:lambda:us-east-1:123456789012:function:hello:live"),
            Some(("hello", "live"))
        );
        assert_eq!(
            qualified("arn:aws:lambda:us-east-1:123456789012:function:hello:7"),
            Some(("hello", "7"))
        );
        assert_eq!(
            qualified("arn:aws:lambda:us-east-1:123456789012:function:hello"),
            None
        );
    }
}
