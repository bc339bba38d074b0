#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use slipway_deploy::alarm::Sample;
use slipway_engine::{DeployRequest, Engine, EngineParts, Hooks, ManualClock, Metrics};
use slipway_model::function::FunctionSpec;
use slipway_model::function::Version;
use slipway_model::invoke::{InvokeFuture, InvokeRequest, InvokeResponse, Invoker};
use slipway_store::state::StateStore;
use slipway_store::state::memory::MemoryStore;
use slipway_store::state::sqlite::SqliteStore;

pub const T: &str = "111111111111/us-east-1";
pub const START: u64 = 1_700_000_000_000;

/// Records every invoke and answers 202.
#[derive(Default)]
pub struct FakeInvoker {
    pub calls: Mutex<Vec<(String, String)>>,
}

impl Invoker for FakeInvoker {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture<'_> {
        self.calls.lock().unwrap().push((
            request.function.clone(),
            String::from_utf8_lossy(&request.payload).into_owned(),
        ));
        Box::pin(async move {
            Ok(InvokeResponse {
                payload: Default::default(),
                function_error: None,
                executed_version: Version::Latest,
                log_result: None,
                request_id: "r".into(),
            })
        })
    }
}

/// Errors at a fixed rate from a moment on.
#[derive(Default)]
pub struct FakeMetrics {
    pub errors_from: Mutex<Option<u64>>,
}

impl Metrics for FakeMetrics {
    fn samples(
        &self,
        _target: &str,
        _namespace: &str,
        metric: &str,
        _dimensions: &BTreeMap<String, String>,
        from_ms: u64,
        to_ms: u64,
    ) -> Vec<Sample> {
        let Some(start) = *self.errors_from.lock().unwrap() else {
            return Vec::new();
        };
        if metric != "Errors" {
            return Vec::new();
        }
        (from_ms.max(start)..to_ms)
            .step_by(10_000)
            .map(|at_ms| Sample { at_ms, value: 1.0 })
            .collect()
    }
}

/// Remembers what it was told.
#[derive(Default)]
pub struct RecordingHooks {
    pub told: Mutex<Vec<String>>,
}

impl Hooks for RecordingHooks {
    fn function_changed(&self, spec: &FunctionSpec) {
        self.told
            .lock()
            .unwrap()
            .push(format!("function {}:{}", spec.name, spec.version));
    }
    fn alias_changed(&self, _: &str, function: &str, alias: &str) {
        self.told
            .lock()
            .unwrap()
            .push(format!("alias {function}:{alias}"));
    }
    fn routes_changed(&self, _: &str, api: &str) {
        self.told.lock().unwrap().push(format!("routes {api}"));
    }
}

pub struct Rig {
    pub hooks: Arc<RecordingHooks>,
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub invoker: Arc<FakeInvoker>,
    pub metrics: Arc<FakeMetrics>,
}

pub fn rig_with(store: Arc<dyn StateStore>, data: &Path, clock: Arc<ManualClock>) -> Rig {
    let invoker = Arc::new(FakeInvoker::default());
    let metrics = Arc::new(FakeMetrics::default());
    let hooks = Arc::new(RecordingHooks::default());
    let engine = Engine::new(EngineParts {
        store,
        clock: clock.clone(),
        data_dir: data.to_path_buf(),
        hooks: hooks.clone(),
        invoker: invoker.clone(),
        metrics: metrics.clone(),
    });
    Rig {
        hooks,
        engine,
        clock,
        invoker,
        metrics,
    }
}

pub fn memory_rig(data: &Path) -> Rig {
    rig_with(
        Arc::new(MemoryStore::new()),
        data,
        Arc::new(ManualClock::new(START)),
    )
}

pub fn sqlite_rig(db: &Path, data: &Path, clock: Arc<ManualClock>) -> Rig {
    rig_with(Arc::new(SqliteStore::open(db).unwrap()), data, clock)
}

pub fn req(stack: &str, template: &str) -> DeployRequest {
    DeployRequest {
        target: T.into(),
        stack_name: stack.into(),
        template: template.into(),
        file: "template.yaml".into(),
        ..DeployRequest::default()
    }
}

/// `(logical id, status)` of every event, oldest first.
pub fn statuses(e: &Engine, stack: &str) -> Vec<(String, String)> {
    e.stack(T, stack)
        .unwrap()
        .unwrap()
        .events
        .iter()
        .map(|ev| {
            (
                ev.spec.logical_id.clone(),
                ev.spec.status.as_str().to_owned(),
            )
        })
        .collect()
}
