//! `cargo bench -p slipway-server --bench deploy`: the deploy engine feeding the gateway, on a
//! server started in this process (SQLite state, real Python functions, real HTTP on loopback).
//!
//! 1. **update to live** — a stack of 10 functions behind one REST API, each with
//!    `AutoPublishAlias: live`; one function's code changes; the time from the deploy call to
//!    the first gateway answer from the new version (a client polls the route meanwhile),
//!    p50/min/max over several runs. Target: < 500 ms.
//! 2. **requests/s during a shift** — concurrent keep-alive clients on one route, while the
//!    alias is steady and during a `Linear10PercentEvery1Minute` deployment whose ten steps the
//!    manual clock drives inside the measuring window (every step is a new route table swapped
//!    in under load), in alternating rounds, and the ratio. Target: ≥ 95 %. The server ticks
//!    ten times in every window (its ticker runs whatever is deploying), so the windows differ
//!    only in the shift. For scale, a window with the first step's 10 % split held still shows
//!    what serving two versions costs by itself. On a noisy machine the figure to read is the
//!    median of the per-round ratios (each round's steady and shifting windows are next to
//!    each other in time), printed with every round's ratio and the pooled one; the CPU time
//!    of the process per successful request, steady and shifting, says what the shift costs
//!    whatever the machine's load.
//!
//! `SLIPWAY_DEPLOY_BENCH=live` runs part 1 only, `SLIPWAY_DEPLOY_BENCH=shift` part 2 only (unset:
//! both). Part 2 also prints each round on stderr: its ratio, CPU per request, the cold starts
//! of the shifting function in each window, and the time the window's ticks took.
//!
//! Without `--bench` (`cargo test --all-targets`) it runs a quick smoke pass and prints nothing.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on stdout, progress on stderr"
)]

#[path = "../tests/common/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use slipway_deploy::stack::StackStatus;
use slipway_engine::providers::load_function;
use slipway_engine::{DeployRequest, ManualClock};
use slipway_model::function::Version;
use slipway_model::invoke::{InvokeRequest, Invoker as _};
use slipway_runtime::PythonConfig;
use slipway_server::{Config, Server, ServerHandle};

const TARGET: &str = "123456789012/us-east-1";
const FUNCTIONS: usize = 10;
const MINUTE_MS: u64 = 60_000;
const POLL: Duration = Duration::from_millis(2);

fn handler(tag: &str) -> String {
    format!("def handler(event, context):\n    return {{'statusCode': 200, 'body': '{tag}'}}\n")
}

/// Ten functions; function `i` runs the code in `code[i]`. `preference` is the
/// `DeploymentPreference` type of `f0` (none: the alias moves at once).
fn template(code: &[String], preference: Option<&str>) -> String {
    let mut t = String::from("Transform: AWS::Serverless-2016-10-31\nResources:\n");
    for (i, dir) in code.iter().enumerate() {
        t.push_str(&format!(
            "  F{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: f{i}\n      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: {dir}/\n      AutoPublishAlias: live\n"
        ));
        if i == 0
            && let Some(p) = preference
        {
            t.push_str(&format!("      DeploymentPreference:\n        Type: {p}\n"));
        }
        t.push_str(&format!(
            "      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /f{i}\n            Method: get\n"
        ));
    }
    t
}

/// The interpreter itself (a `pyenv` shim would add its own start-up to every cold start).
fn python() -> PathBuf {
    if let Some(v) = std::env::var_os("SLIPWAY_TEST_VENV") {
        return PathBuf::from(v).join("bin/python");
    }
    std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

struct Bench {
    rt: tokio::runtime::Runtime,
    server: Option<ServerHandle>,
    clock: Arc<ManualClock>,
    project: PathBuf,
    gateway: SocketAddr,
    api: String,
}

impl Bench {
    fn deploy(&self, template: &str) -> StackStatus {
        let _guard = self.rt.enter();
        let req = DeployRequest {
            target: TARGET.into(),
            stack_name: "bench".into(),
            template: template.into(),
            file: "template.yaml".into(),
            code_root: Some(self.project.clone()),
            ..DeployRequest::default()
        };
        let server = self.server.as_ref().expect("server");
        server
            .with_engine(|e| e.deploy(&req))
            .expect("deploy")
            .status
    }

    fn path(&self, function: usize) -> String {
        format!("/_api/{}/Prod/f{function}", self.api)
    }
}

fn write(dir: &Path, tag: &str) {
    std::fs::create_dir_all(dir).expect("code dir");
    std::fs::write(dir.join("app.py"), handler(tag)).expect("handler");
}

fn start(root: &Path) -> Bench {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let mut config = Config::new(root.join("data"));
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.gateway = Some("127.0.0.1:0".parse().expect("addr"));
    config.clock = clock.clone();
    // The benchmark ticks itself, on the manual clock.
    config.tick_interval = Duration::from_secs(3600);
    let python = python();
    config.python = PythonConfig {
        interpreters: ["python3.11", "python3.12", "python3.13"]
            .into_iter()
            .map(|r| (r.to_owned(), python.clone()))
            .collect(),
        fallback: python,
        runtime_paths: Vec::new(),
        ..PythonConfig::default()
    };
    let server = rt.block_on(Server::new(config).start()).expect("server");
    let gateway = server.gateway_addr().expect("gateway");
    Bench {
        rt,
        server: Some(server),
        clock,
        project: root.join("project"),
        gateway,
        api: String::new(),
    }
}

/// Polls `path` every [`POLL`] until it answers `want`; the time from `since`.
async fn until_answers(addr: SocketAddr, path: &str, want: &str, since: Instant) -> Duration {
    let mut c = http::Conn::new(addr);
    loop {
        let got = c.get("127.0.0.1", path).await;
        if let Ok((200, body)) = &got
            && body == want.as_bytes()
        {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "{path} never answered {want}: {got:?}"
        );
        // A client polling every 2 ms: fine-grained enough, without taking a core from the
        // deploy it is timing.
        tokio::time::sleep(POLL).await;
    }
}

/// What a load window did.
#[derive(Clone, Copy, Default)]
struct Load {
    ok: u64,
    bad: u64,
    elapsed: Duration,
    /// CPU time of this whole process (server, clients and ticks) over the window.
    cpu: Duration,
    /// Environments of the shifting function started during the window (cold starts).
    cold: u64,
    /// Wall time the window's ticks took (the engine's work, on the bench's thread).
    ticks: Duration,
    /// CPU time of the bench's thread during those ticks.
    ticks_cpu: Duration,
}

impl Load {
    fn add(&mut self, other: Load) {
        self.ok += other.ok;
        self.bad += other.bad;
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        self.cold += other.cold;
        self.ticks += other.ticks;
        self.ticks_cpu += other.ticks_cpu;
    }

    /// Successful requests per second.
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Process CPU time per successful request, in µs.
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }
}

/// User + system CPU time of this process so far (`/proc/self/stat`, in clock ticks of
/// 10 ms: a 2 s window on two cores holds a few hundred).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// CPU time of the calling thread so far (`/proc/thread-self/schedstat`, in ns).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `clients` keep-alive connections sending GETs on `path` for `window`.
async fn load(addr: SocketAddr, path: &str, clients: usize, window: Duration) -> Load {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (ok, bad, stop, path) = (ok.clone(), bad.clone(), stop.clone(), path.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut c = http::Conn::new(addr);
            while !stop.load(Ordering::Relaxed) {
                match c.get("127.0.0.1", &path).await {
                    Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => bad.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for t in tasks {
        let _ = t.await;
    }
    Load {
        ok: ok.load(Ordering::Relaxed),
        bad: bad.load(Ordering::Relaxed),
        elapsed,
        ..Load::default()
    }
}

/// A [`load`] window during which the server ticks `ticks` times, evenly spaced, each after
/// the manual clock moves a minute (`advance`) or not. Every window ticks alike, as a server's
/// ticker does whatever is deploying: what differs is only whether an alias is shifting. The
/// ticks run on this thread (the engine blocks), the clients on the runtime's workers.
fn ticking(
    b: &Bench,
    path: &str,
    clients: usize,
    window: Duration,
    ticks: u32,
    advance: bool,
) -> Load {
    let server = b.server.as_ref().expect("server");
    let (addr, path, clock) = (b.gateway, path.to_owned(), b.clock.clone());
    let cold = cold_starts(b, "f0");
    let mut l = b.rt.block_on(async {
        let cpu = process_cpu();
        let measuring = tokio::spawn(async move { load(addr, &path, clients, window).await });
        let (mut ticking, mut ticking_cpu) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ticks {
            tokio::time::sleep(window / (ticks + 1)).await;
            if advance {
                clock.advance_ms(MINUTE_MS);
            }
            let (t, c) = (Instant::now(), thread_cpu());
            server.tick().expect("tick");
            ticking += t.elapsed();
            ticking_cpu += thread_cpu().saturating_sub(c);
        }
        let mut l = measuring.await.expect("load");
        l.cpu = process_cpu().saturating_sub(cpu);
        l.ticks = ticking;
        l.ticks_cpu = ticking_cpu;
        l
    });
    l.cold = cold_starts(b, "f0").saturating_sub(cold);
    l
}

/// Cold starts of every version of `function` so far.
fn cold_starts(b: &Bench, function: &str) -> u64 {
    let runtime = b.server.as_ref().expect("server").runtime();
    runtime
        .functions()
        .into_iter()
        .filter(|(f, _)| f == function)
        .filter_map(|(f, v)| runtime.metrics(&f, &v))
        .map(|m| m.cold_starts)
        .sum()
}

/// Starts `n` environments of the version `function:live` is shifting to (concurrent invokes
/// through the runtime, each finding no idle environment).
fn warm(b: &Bench, function: &str, n: usize) {
    let server = b.server.as_ref().expect("server");
    let engine = server.engine();
    let (rec, _) = load_function(engine.store(), TARGET, function)
        .expect("store")
        .expect("function");
    let Some((version, _)) = rec.versions.aliases["live"].additional else {
        return;
    };
    let runtime = server.runtime();
    b.rt.block_on(async {
        let calls = (0..n).map(|_| {
            let runtime = runtime.clone();
            let req = InvokeRequest::new(function, Version::Published(version), b"{}".to_vec());
            tokio::spawn(async move { runtime.invoke(req).await })
        });
        for c in calls.collect::<Vec<_>>() {
            let _ = c.await;
        }
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (mut runs, mut rounds, window, clients) = if full {
        (7, 7, Duration::from_secs(2), 4)
    } else {
        (1, 1, Duration::from_millis(200), 2)
    };
    match std::env::var("SLIPWAY_DEPLOY_BENCH").as_deref() {
        Ok("live") => rounds = 0,
        Ok("shift") => runs = 0,
        _ => {}
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-deploy-bench");
    let _ = std::fs::remove_dir_all(&root);
    let mut b = start(&root);

    // The stack: f0..f9, each on its own code directory.
    let mut code: Vec<String> = (0..FUNCTIONS).map(|i| format!("f{i}-0")).collect();
    for (i, dir) in code.iter().enumerate() {
        write(&b.project.join(dir), &format!("f{i} v0"));
    }
    assert_eq!(
        b.deploy(&template(&code, None)),
        StackStatus::CreateComplete
    );
    let server = b.server.as_ref().expect("server");
    let urls = server.api_urls(TARGET, "bench");
    b.api = urls
        .iter()
        .find(|u| u.stage == "Prod")
        .expect("a Prod stage")
        .api_id
        .clone();
    b.rt.block_on(server.gateway_settled());

    // 1. One function's code changes: deploy call → the new version answering.
    let changed = 3;
    let mut to_live = Vec::new();
    for run in 1..=runs {
        let dir = format!("f{changed}-{run}");
        let tag = format!("f{changed} v{run}");
        write(&b.project.join(&dir), &tag);
        code[changed] = dir;
        let text = template(&code, None);
        let path = b.path(changed);
        let addr = b.gateway;
        let since = Instant::now();
        let poller =
            b.rt.spawn(async move { until_answers(addr, &path, &tag, since).await });
        let deployed_in = {
            assert_eq!(b.deploy(&text), StackStatus::UpdateComplete);
            since.elapsed()
        };
        let live_in = b.rt.block_on(poller).expect("poller");
        to_live.push((live_in, deployed_in));
    }
    let mut live: Vec<Duration> = to_live.iter().map(|t| t.0).collect();
    let mut returned: Vec<Duration> = to_live.iter().map(|t| t.1).collect();
    live.sort();
    returned.sort();

    // 2. Requests/s with a steady alias and during a linear shift of f0, in alternating rounds
    // (a busy machine drifts; alternating spreads the drift over both).
    let path = b.path(0);
    let addr = b.gateway;
    b.rt.block_on(load(addr, &path, clients, window / 4)); // warm-up
    let steps: u32 = 10;
    let (mut steady, mut split, mut shifting) = (Load::default(), Load::default(), Load::default());
    // Per round: (steady, shifting), each round's two windows next to each other in time.
    let mut pairs: Vec<(Load, Load)> = Vec::new();
    let mut statuses = Vec::new();
    for round in 1..=rounds {
        let st = ticking(&b, &path, clients, window, steps, true);
        steady.add(st);
        let dir = format!("f0-{round}");
        write(&b.project.join(&dir), &format!("f0 v{round}"));
        code[0] = dir;
        assert_eq!(
            b.deploy(&template(&code, Some("Linear10PercentEvery1Minute"))),
            StackStatus::UpdateInProgress
        );
        let server = b.server.as_ref().expect("server");
        b.rt.block_on(server.gateway_settled());
        // The new version gets as many warm environments as the old one has, so the window
        // measures route-table swaps under load, not Python cold starts.
        warm(&b, "f0", clients);
        b.rt.block_on(load(addr, &path, clients, window / 4));
        // For scale: the first step's split (10 %) held still (the clock does not move, so
        // the ticks find nothing due), no tables swapped.
        let sp = ticking(&b, &path, clients, window, steps, false);
        split.add(sp);
        // Ten steps inside the window: each moves the alias and swaps a new route table in.
        let sh = ticking(&b, &path, clients, window, steps, true);
        shifting.add(sh);
        if full {
            eprintln!(
                "round {round}: shifting/steady {:.1} %, cpu/request {:.0} -> {:.0} µs, cold starts steady {} held {} shifting {}, ticks {:.1} / {:.1} ms (cpu {:.1} / {:.1} ms)",
                100.0 * sh.rate() / st.rate(),
                st.cpu_us(),
                sh.cpu_us(),
                st.cold,
                sp.cold,
                sh.cold,
                ms(st.ticks),
                ms(sh.ticks),
                ms(st.ticks_cpu),
                ms(sh.ticks_cpu),
            );
        }
        pairs.push((st, sh));
        let rec = server.engine().stack(TARGET, "bench").ok().flatten();
        statuses.push(rec.map_or("?", |s| s.status.as_str()));
    }

    if full && runs > 0 {
        println!(
            "update to live   10-function stack, 1 code change: p50 {:.0} ms, min {:.0} ms, max {:.0} ms over {runs} runs (target < 500 ms); the deploy call itself: p50 {:.0} ms",
            ms(live[live.len() / 2]),
            ms(live[0]),
            ms(live[live.len() - 1]),
            ms(returned[returned.len() / 2]),
        );
    }
    if full && rounds > 0 {
        println!(
            "gateway steady   {:.0} requests/s ({clients} clients, {rounds} x {:.1} s, {} not 200)",
            steady.rate(),
            window.as_secs_f64(),
            steady.bad
        );
        println!(
            "gateway shifting {:.0} requests/s ({rounds} x {steps} alias steps in {:.1} s, {} not 200; stacks {})",
            shifting.rate(),
            window.as_secs_f64(),
            shifting.bad,
            statuses.join(", ")
        );
        let ratios: Vec<f64> = pairs
            .iter()
            .map(|(st, sh)| 100.0 * sh.rate() / st.rate())
            .collect();
        println!(
            "ratio            shifting/steady: median of {rounds} rounds {:.1} % (target >= 95 %); pooled {:.1} %; rounds {}",
            median(ratios.clone()),
            100.0 * shifting.rate() / steady.rate(),
            ratios
                .iter()
                .map(|r| format!("{r:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "cpu per request  steady {:.0} µs, shifting {:.0} µs (process CPU time / successful requests; median per round: {:.0} µs, {:.0} µs)",
            steady.cpu_us(),
            shifting.cpu_us(),
            median(pairs.iter().map(|p| p.0.cpu_us()).collect()),
            median(pairs.iter().map(|p| p.1.cpu_us()).collect()),
        );
        println!(
            "for scale        a 10 % split held still: {:.0} requests/s ({} not 200); shifting/held = {:.1} %",
            split.rate(),
            split.bad,
            100.0 * shifting.rate() / split.rate()
        );
    }
    let server = b.server.take().expect("server");
    b.rt.block_on(server.shutdown()).expect("shutdown");
}
