//! Commit → live, printed by `cargo bench -p slipway-server --bench up`.
//!
//! A hello app in a real git repository (one function behind an API whose stage is `dev`,
//! `AutoPublishAlias: live`), the pipeline `slipway up` makes for it (git source → SAM-style
//! build → deploy to the `dev` target, with the capabilities `sam deploy` needs), the real
//! server (SQLite, the system clock, real processes, the gateway on its own port). Each round
//! edits the handler, commits, lets the poller see the commit, runs the pipeline, and sends
//! `GET /hello` to the gateway's `dev` stage URL until it answers with the new version.
//!
//! Steps printed (medians after one warm-up round; target < 3 s in all on a 2-core machine):
//! commit (writing the file and `git commit`), detect (one poll), source, build and deploy
//! (the actions' own durations), executor (the rest of the pipeline's time: persisting steps,
//! dispatch), shift (from the pipeline's end until the gateway serves the new alias target —
//! its route table rebuilt), first answer (from then until the new version answers through
//! the gateway). The poll interval of `slipway up` (2 s by default) comes on top: the poll
//! here is called as soon as the commit exists, as a git hook would.
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use slipway_pipeline::exec::settled;
use slipway_pipeline::trigger::Poller;
use slipway_pipeline::{ExecutionStatus, Timestamp};
use slipway_server::{Config, PipelineConfig, Server};

const TEMPLATE: &str = r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: bench-hello
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      AutoPublishAlias: live
      Events:
        Get:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /hello
            Method: get
"#;

const PIPELINE: &str = "name: bench\nsource:\n  git: main\nstages:\n  - name: Build\n    build: sam\n  - name: Dev\n    deploy: {stack: bench-dev, template: template.yaml, target: dev, capabilities: [CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND]}\n";

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// `GET path` on the gateway; the body.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark skipped: run `cargo bench` for figures");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("hello");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("template.yaml"), TEMPLATE).unwrap();
    std::fs::write(project.join(".gitignore"), ".slipway/\n").unwrap();
    git(&project, &["init", "-q", "-b", "main"]);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = Config::new(project.join(".slipway"));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.gateway = Some("127.0.0.1:0".parse().unwrap());
    config.pipelines = PipelineConfig {
        project_dir: Some(project.clone()),
        poll_interval: None,
        webhook_secret: None,
    };
    let server = rt.block_on(Server::new(config).start()).unwrap();
    let gateway = server.gateway_addr().unwrap().to_string();
    let target = server.target_of(Some("dev"), None);
    let p = server.pipelines();
    let pipeline = slipway_model::pipeline::parse_file(PIPELINE, "slipway.yaml", "bench")
        .pipelines
        .remove(0);
    p.executor.define(pipeline).unwrap();

    let names = [
        "commit",
        "detect (poll)",
        "source",
        "build",
        "deploy",
        "executor",
        "shift",
        "first answer",
    ];
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut totals = Vec::new();
    let rounds = 8;
    for round in 0..rounds {
        let version = format!("v{round}");
        let t0 = Instant::now();
        std::fs::write(
            project.join("src/app.py"),
            format!(
                "def handler(event, context):\n    return {{'statusCode': 200, 'body': '{version}'}}\n"
            ),
        )
        .unwrap();
        git(&project, &["add", "-A"]);
        git(&project, &["commit", "-q", "-m", &version]);
        let t_commit = t0.elapsed();
        let started = Poller::new(Duration::ZERO)
            .poll(&p.executor, &p.source)
            .unwrap();
        let t_detect = t0.elapsed();
        let id = started[0].clone();
        let (done, st) = p
            .executor
            .wait_until("bench", Duration::from_secs(120), |s| settled(s, &id))
            .unwrap();
        let x = st.execution(&id).unwrap();
        assert!(done && x.status == ExecutionStatus::Succeeded, "{x:#?}");
        let t_pipeline = t0.elapsed();
        rt.block_on(server.gateway_settled());
        let t_shift = t0.elapsed();
        let urls = server.api_urls(&target, "bench-dev");
        let stage = urls
            .iter()
            .find(|u| u.stage == "dev")
            .expect("the dev stage");
        let path = format!(
            "{}hello",
            stage
                .path_url
                .trim_start_matches(&format!("http://{gateway}"))
        );
        while get(&gateway, &path) != version {}
        let t_live = t0.elapsed();

        let took = |si: usize| {
            let a = &x.stages[si].actions[0];
            let (Some(Timestamp(b)), Some(Timestamp(e))) = (a.started_at, a.ended_at) else {
                return 0.0;
            };
            (e - b) as f64
        };
        let actions = [took(0), took(1), took(2)];
        let pipeline_ms = (t_pipeline - t_detect).as_secs_f64() * 1000.0;
        let round_steps = [
            t_commit.as_secs_f64() * 1000.0,
            (t_detect - t_commit).as_secs_f64() * 1000.0,
            actions[0],
            actions[1],
            actions[2],
            (pipeline_ms - actions.iter().sum::<f64>()).max(0.0),
            (t_shift - t_pipeline).as_secs_f64() * 1000.0,
            (t_live - t_shift).as_secs_f64() * 1000.0,
        ];
        if round == 0 {
            continue; // warm-up: first stack create, first interpreter start
        }
        for (i, v) in round_steps.into_iter().enumerate() {
            steps[i].push(v);
        }
        totals.push(t_live.as_secs_f64() * 1000.0);
    }
    println!(
        "commit → new version answering GET /hello on the gateway's dev stage ({} rounds after a warm-up)",
        rounds - 1
    );
    for (n, v) in names.iter().zip(steps) {
        println!("  {n:<16} {:>8.1} ms  (median)", median(v));
    }
    let total = median(totals);
    println!(
        "  {:<16} {:>8.1} ms  (median; target < 3000 ms, ratio {:.2})",
        "total",
        total,
        total / 3000.0
    );
    println!("  (slipway up polls every 2 s by default: on average 1 s more before \"detect\")");
    rt.block_on(server.shutdown()).unwrap();
}
