//! The executor's own rules, with stand-in runners (the real ones are exercised end to end in
//! crates/server/tests/pipelines.rs): a step is in the store before its action runs, results
//! come back as events, resume re-dispatches, a new structure stops what ran under the old.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_model::pipeline::{Pipeline, parse_file};
use slipway_pipeline::exec::{self, ActionOutcome, ActionRunner, Executor, Job, Runners, settled};
use slipway_pipeline::{ActionResult, ActionStatus, Artifact, ExecutionStatus};
use slipway_store::state::StateStore;
use slipway_store::state::memory::MemoryStore;

const FILE: &str = "source:\n  git: main\nstages:\n  - name: Build\n    build: buildspec.yml\n  - name: Approve\n    approval: {message: ok?}\n";

fn pipeline(text: &str) -> Pipeline {
    let o = parse_file(text, "slipway.yaml", "p");
    assert!(!o.has_errors(), "{:?}", o.diagnostics);
    o.pipelines.into_iter().next().unwrap()
}

/// Records what the store said about the action when it started, then succeeds.
struct Checking {
    store: Arc<dyn StateStore>,
    seen: Mutex<Vec<(String, ActionStatus)>>,
}

impl ActionRunner for Checking {
    fn run(&self, job: &Job) -> ActionOutcome {
        let (doc, _) = exec::load(self.store.as_ref(), &job.pipeline)
            .unwrap()
            .unwrap();
        let a = doc
            .state
            .execution(&job.action.execution_id)
            .unwrap()
            .action(&job.action.stage, &job.action.action)
            .unwrap()
            .clone();
        self.seen
            .lock()
            .unwrap()
            .push((job.action.action.clone(), a.status));
        ActionOutcome::Succeeded(ActionResult {
            outputs: job
                .action
                .outputs
                .iter()
                .map(|n| Artifact {
                    name: n.clone(),
                    location: "sha256:00".into(),
                })
                .collect(),
            ..ActionResult::default()
        })
    }
}

fn executor(store: &Arc<dyn StateStore>, runner: &Arc<Checking>) -> Arc<Executor> {
    let tmp = std::env::temp_dir().join(format!("slipway-exec-test-{}", std::process::id()));
    Executor::new(
        store.clone(),
        Runners {
            source: Some(runner.clone()),
            build: Some(runner.clone()),
            deploy: None,
            invoke: None,
        },
        Arc::new(|| 1_000_000),
        tmp,
    )
}

#[test]
fn each_step_is_stored_before_its_action_runs_and_resume_dispatches_again() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let runner = Arc::new(Checking {
        store: store.clone(),
        seen: Mutex::new(Vec::new()),
    });
    let x = executor(&store, &runner);
    assert_eq!(x.define(pipeline(FILE)).unwrap(), 1);
    assert_eq!(
        x.define(pipeline(FILE)).unwrap(),
        1,
        "same structure, same version"
    );
    let id = x.start("p", Vec::new(), Default::default()).unwrap();
    let (ok, st) = x
        .wait_until("p", Duration::from_secs(30), |s| settled(s, &id))
        .unwrap();
    assert!(ok);
    assert_eq!(
        *runner.seen.lock().unwrap(),
        [
            ("Source".to_owned(), ActionStatus::InProgress),
            ("Build".to_owned(), ActionStatus::InProgress)
        ],
        "every action was recorded in progress before it ran"
    );
    let e = st.execution(&id).unwrap();
    assert_eq!(e.status, ExecutionStatus::InProgress);
    assert_eq!(
        e.action("Approve", "Approval").unwrap().status,
        ActionStatus::InProgress
    );

    // A second executor on the same store (a restart): the approval keeps waiting, nothing
    // runs again.
    let again = executor(&store, &runner);
    assert_eq!(again.resume().unwrap(), 1);
    assert_eq!(runner.seen.lock().unwrap().len(), 2);

    // A new structure is a new version; what ran under the old one is stopped.
    let changed = format!("{FILE}  - name: More\n    approval: {{message: again?}}\n");
    assert_eq!(again.define(pipeline(&changed)).unwrap(), 2);
    let st = again.state("p").unwrap();
    let e = st.execution(&id).unwrap();
    assert_eq!(e.status, ExecutionStatus::Stopped);
    assert_eq!(
        e.stop_reason.as_deref(),
        Some("the pipeline was updated to version 2")
    );
    assert!(st.locks.iter().all(Option::is_none));
}

/// Panics in the build.
struct Panicking;

impl ActionRunner for Panicking {
    fn run(&self, job: &Job) -> ActionOutcome {
        if job.action.stage == "Build" {
            panic!("index out of bounds in the test runner");
        }
        ActionOutcome::Succeeded(ActionResult {
            outputs: job
                .action
                .outputs
                .iter()
                .map(|n| Artifact {
                    name: n.clone(),
                    location: "sha256:00".into(),
                })
                .collect(),
            ..ActionResult::default()
        })
    }
}

#[test]
fn a_runner_that_panics_fails_its_action_instead_of_leaving_it_in_progress() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let runner = Arc::new(Panicking);
    let tmp = std::env::temp_dir().join(format!("slipway-exec-panic-{}", std::process::id()));
    let x = Executor::new(
        store,
        Runners {
            source: Some(runner.clone()),
            build: Some(runner),
            deploy: None,
            invoke: None,
        },
        Arc::new(|| 1_000_000),
        tmp,
    );
    x.define(pipeline(FILE)).unwrap();
    let id = x.start("p", Vec::new(), Default::default()).unwrap();
    let (ok, st) = x
        .wait_until("p", Duration::from_secs(30), |s| settled(s, &id))
        .unwrap();
    assert!(ok, "{st:#?}");
    let e = st.execution(&id).unwrap();
    assert_eq!(e.status, ExecutionStatus::Failed);
    let b = e.action("Build", "Build").unwrap();
    assert_eq!(b.status, ActionStatus::Failed);
    assert!(
        b.error
            .as_deref()
            .is_some_and(|m| m.contains("panicked: index out of bounds in the test runner")),
        "{b:?}"
    );
}
