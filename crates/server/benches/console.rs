//! `cargo bench -p slipway-server --bench console`: server time of the console's pages over a
//! realistic state — 50 pipelines with 1 000 executions in all (510 of them in `p00`, the
//! pipeline page measured), 200 deployments of one function (versions 1 → 201, each with its
//! weight history), and that function with 201 published versions. Also the value stream of
//! `p00`'s latest execution (six deploy actions) and the function's stack page (which looks
//! through every execution for the one that last deployed it).
//!
//! The state is written into the SQLite store before the server starts (the documents the
//! executor and the engine write), then each page is fetched over loopback HTTP; the figure is
//! the server's own `Server-Timing: render;dur=…` (reading the store, rendering, no network),
//! with the client's round trip beside it. Target: < 100 ms server time per page. Without
//! `--bench` (`cargo test --benches`) one request per page runs and nothing is printed.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use slipway_deploy::traffic::{
    Deployment, DeploymentConfig, DeploymentStatus, Hooks, NewDeployment, Phase, WeightChange,
};
use slipway_engine::{DeployRequest, ManualClock};
use slipway_model::pipeline::parse_file;
use slipway_pipeline::exec::{PipelineDoc, STATE_TARGET};
use slipway_pipeline::{
    ActionResult, ActionState, ActionStatus, Execution, ExecutionStatus, ExecutionType,
    PipelineState, Position, SourceRevision, StageState, StageStatus, Timestamp,
};
use slipway_server::{Config, Server};
use slipway_store::state::sqlite::SqliteStore;
use slipway_store::state::{Batch, Collection, StateStore};

const TARGET: &str = "123456789012/us-east-1";
const START_MS: u64 = 1_790_000_000_000;

fn pipeline_yaml(name: &str) -> String {
    format!(
        r#"
name: {name}
source:
  git: {{branch: main, repository: .}}
stages:
  - name: Build
    build: buildspec.yml
  - name: Staging
    deploy: {{stack: {name}-staging, template: packaged.yaml, target: 111111111111/us-east-1}}
  - name: Approve
    approval: {{message: Promote?}}
  - name: Prod
    deploy:
      stack: {name}-prod
      template: packaged.yaml
      targets: [222222222222/us-east-1, 222222222222/eu-west-1, 222222222222/ap-south-1]
"#
    )
}

/// A finished execution of `p`, every action succeeded, a minute per stage.
fn execution(p: &PipelineState, seq: u64) -> Execution {
    let start = START_MS + seq * 600_000;
    let stages = p
        .pipeline
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let t0 = start + i as u64 * 60_000;
            StageState {
                name: s.name.clone(),
                status: StageStatus::Succeeded,
                started_at: Some(Timestamp(t0)),
                ended_at: Some(Timestamp(t0 + 55_000)),
                actions: s
                    .actions
                    .iter()
                    .map(|a| ActionState {
                        name: a.name.clone(),
                        status: ActionStatus::Succeeded,
                        attempt: 1,
                        started_at: Some(Timestamp(t0)),
                        ended_at: Some(Timestamp(t0 + 55_000)),
                        deadline: None,
                        token: None,
                        result: Some(ActionResult {
                            summary: Some(format!("{} done", a.name)),
                            external_execution_id: Some(format!(
                                "arn:aws:cloudformation:us-east-1:222222222222:stack/x/{seq}"
                            )),
                            ..ActionResult::default()
                        }),
                        error: None,
                        approval: None,
                    })
                    .collect(),
            }
        })
        .collect();
    Execution {
        id: format!("{seq:08x}-0000-4000-8000-000000000000"),
        seq,
        pipeline_version: p.pipeline.version,
        status: ExecutionStatus::Succeeded,
        execution_type: ExecutionType::Standard,
        position: Position::Finished,
        source_revisions: vec![SourceRevision {
            action_name: "Source".into(),
            revision_id: format!("{seq:040x}"),
            summary: Some(format!("commit number {seq} <with markup>")),
        }],
        variables: Default::default(),
        namespaces: Default::default(),
        artifacts: Default::default(),
        stages,
        started_at: Timestamp(start),
        updated_at: Timestamp(start + 300_000),
        ended_at: Some(Timestamp(start + 300_000)),
        stop: None,
        stop_reason: None,
        superseded_by: None,
        only_stage: None,
        rollback_of: None,
    }
}

fn seed(store: &dyn StateStore) -> String {
    let mut batch = Batch::new();
    for i in 0..50 {
        let name = format!("p{i:02}");
        let mut out = parse_file(&pipeline_yaml(&name), "slipway.yaml", &name);
        let mut pipeline = out.pipelines.remove(0);
        pipeline.version = 1;
        let mut st = PipelineState::new(pipeline);
        let n = if i == 0 { 510 } else { 10 };
        for seq in 1..=n {
            st.executions.push(execution(&st, seq));
        }
        st.seq = n;
        let doc = PipelineDoc {
            state: st,
            seen: Default::default(),
            wakeup: None,
        };
        batch = batch.put(
            Collection::Pipelines,
            STATE_TARGET,
            &name,
            None,
            serde_json::to_value(&doc).unwrap(),
        );
    }
    let mut last = String::new();
    for v in 1..=200u32 {
        let at = START_MS + u64::from(v) * 3_600_000;
        let mut d = Deployment::new(
            NewDeployment {
                function: "hello".into(),
                alias: "live".into(),
                current_version: v,
                target_version: v + 1,
                config: DeploymentConfig::TimeBasedLinear {
                    linear_percentage: 10,
                    linear_interval_minutes: 1,
                },
                hooks: Hooks::default(),
                alarms: vec!["errors".into(), "latency".into()],
            },
            at,
        );
        d.status = DeploymentStatus::Succeeded;
        d.phase = Phase::Done;
        d.weight = 1000;
        d.completed_ms = Some(at + 600_000);
        d.weights = (1..=10)
            .map(|k| WeightChange {
                at_ms: at + (k - 1) * 60_000,
                weight: (k * 100) as u32,
            })
            .collect();
        last = d.id.clone();
        batch = batch.put(
            Collection::Deployments,
            TARGET,
            &d.id,
            None,
            serde_json::to_value(&d).unwrap(),
        );
    }
    store.commit(batch).unwrap();
    last
}

/// `GET path`: the server's render time (ms) and the round trip.
fn fetch(addr: SocketAddr, path: &str) -> (f64, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{path}: {}",
        &text[..text.len().min(400)]
    );
    let dur = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("server-timing: render;dur=")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    (dur, took)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let deployment = {
        let store = SqliteStore::open(data.join("state.db")).unwrap();
        seed(&store)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = Config::new(&data);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.clock = Arc::new(ManualClock::new(START_MS + 1_000 * 3_600_000));
    config.tick_interval = Duration::from_secs(3600);
    let server = rt.block_on(Server::new(config).start()).unwrap();

    // The function behind the deployments, with 201 versions: one deployed for real, then its
    // record given 200 more (copies of the first) as 200 deploys of code changes would.
    let code = dir.path().join("project/hello");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("app.py"), "def handler(e, c):\n    return 1\n").unwrap();
    {
        let _guard = rt.enter();
        let req = DeployRequest {
            target: TARGET.into(),
            stack_name: "app".into(),
            template: "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: hello\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: hello/\n      AutoPublishAlias: live\n".into(),
            file: "template.yaml".into(),
            code_root: Some(dir.path().join("project")),
            ..DeployRequest::default()
        };
        server.with_engine(|e| e.deploy(&req)).unwrap();
    }
    {
        let store = SqliteStore::open(data.join("state.db")).unwrap();
        let doc = store
            .get_doc(Collection::Functions, TARGET, "hello")
            .unwrap()
            .unwrap();
        let mut v = doc.value.clone();
        let first = v["versions"]["versions"]["1"].clone();
        for n in 2..=201u32 {
            let mut c = first.clone();
            c["number"] = json!(n);
            v["versions"]["versions"][n.to_string()] = c;
        }
        v["versions"]["last_number"] = json!(201);
        store
            .commit(Batch::new().put(
                Collection::Functions,
                TARGET,
                "hello",
                Some(doc.generation),
                v,
            ))
            .unwrap();
    }

    let addr = server.addr();
    let pages = [
        (
            "pipeline list (50 pipelines)",
            "/console/pipelines".to_owned(),
        ),
        (
            "pipeline page (510 executions)",
            "/console/pipelines/p00".to_owned(),
        ),
        ("deployment list (200)", "/console/deployments".to_owned()),
        (
            "deployment page",
            format!("/console/deployments/{deployment}"),
        ),
        (
            "function page (201 versions)",
            format!("/console/functions/{}/hello", TARGET),
        ),
        (
            "value stream (p00's latest)",
            "/console/pipelines/p00/stream".to_owned(),
        ),
        (
            "stack page (scans 1 000 executions)",
            format!("/console/stacks/{}/app", TARGET),
        ),
    ];
    let runs = if full { 30 } else { 1 };
    if full {
        println!(
            "console pages, server time (Server-Timing) over {runs} requests; round trip beside it"
        );
        println!(
            "{:<34} {:>10} {:>10} {:>12}",
            "page", "p50 ms", "max ms", "trip p50 ms"
        );
    }
    for (name, path) in &pages {
        let mut server_ms = Vec::new();
        let mut trip = Vec::new();
        for _ in 0..runs {
            let (d, t) = fetch(addr, path);
            server_ms.push(d);
            trip.push(t.as_secs_f64() * 1000.0);
        }
        server_ms.sort_by(f64::total_cmp);
        trip.sort_by(f64::total_cmp);
        if full {
            println!(
                "{:<34} {:>10.2} {:>10.2} {:>12.2}",
                name,
                server_ms[runs / 2],
                server_ms[runs - 1],
                trip[runs / 2]
            );
        }
    }
    rt.block_on(server.shutdown()).unwrap();
}
