//! `cargo bench -p slipway-gateway`: requests/s, p50 and p99 through the gateway over loopback
//! HTTP/1.1 keep-alive connections, at 1 and 16 connections:
//!
//! 1. **ceiling** — the gateway with a no-op integration (an in-process `Invoker` answering a
//!    fixed proxy response): routing, event building, response mapping, hyper;
//! 2. **hello** — the gateway in front of a real Python hello handler run by slipway-runtime;
//! 3. **direct** — the same handler invoked through the runtime without the gateway, so that
//!    the gateway's share of a request is the difference of the two p50s at 1 connection;
//! 4. **python** — `benches/baseline.py`, a minimal in-process asyncio server that builds the
//!    proxy event and calls the same handler (the limit for a Python handler; one process),
//!    and the ratio of the gateway's requests/s to it.
//!
//! The load generator is a hyper client in the same process (one task per connection) on its
//! own tokio runtime (2 threads named `bench-client`), bounded by time (`SLIPWAY_BENCH_SECS`,
//! default 3 s per run) and by count (200 000 requests). Client and server share the machine's
//! cores.
//!
//! ## CPU time per request
//!
//! On a shared machine requests/s moves with everyone else's load; CPU time per request does
//! much less. Each run also prints the server's and the client's CPU time per request:
//!
//! - **server**, for the gateway: this process's threads other than the client's (the gateway's
//!   runtime, the Runtime API, log readers) plus every descendant process (the Python
//!   execution environments); for the baseline: the `baseline.py` process;
//! - **client**: the `bench-client` threads.
//!
//! The figures come from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on CPU, per thread),
//! sampled before and after each run. `getrusage(RUSAGE_CHILDREN)` cannot be used: it counts
//! only children that have exited and been waited for, and the environments are alive during
//! the run. When both sides are CPU-bound on the same cores, requests/s is about
//! `cores / (server + client CPU per request)`, so the bench also prints the ratio those CPU
//! times predict, next to the measured one.

#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use slipway_gateway::build::build;
use slipway_gateway::{
    Directory, Gateway, GatewayConfig, IncomingRequest, ServeOptions, Server, serve,
};
use slipway_model::function::Version;
use slipway_model::invoke::{InvokeFuture, InvokeRequest, InvokeResponse, Invoker};
use slipway_model::template::{Options, resolve};
use slipway_runtime::{Runtime, RuntimeConfig};
use tokio::net::TcpStream;

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.12
      Handler: app.handler
      ReservedConcurrentExecutions: 16
      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: get}
"#;

const APP: &str = "import json\n\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps({'message': 'hello world'})}\n";

const MAX_REQUESTS: usize = 200_000;

/// The allocator of the `slipway` binary (crates/cli/src/main.rs), so that the figures are its.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Noop;

impl Invoker for Noop {
    fn invoke(&self, _request: InvokeRequest) -> InvokeFuture<'_> {
        Box::pin(async {
            Ok(InvokeResponse {
                payload: Bytes::from_static(
                    br#"{"statusCode":200,"body":"{\"message\": \"hello world\"}"}"#,
                ),
                function_error: None,
                executed_version: Version::Latest,
                log_result: None,
                request_id: String::new(),
            })
        })
    }
}

struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// CPU nanoseconds spent during the run, when measured.
    cpu: Option<Cpu>,
}

/// CPU nanoseconds: the server side and the load generator.
#[derive(Clone, Copy, Default)]
struct Cpu {
    server: u64,
    /// Of `server`: child processes (the execution environments; for the baseline, none).
    children: u64,
    client: u64,
}

/// Nanoseconds on CPU of one thread (`/proc/…/task/<tid>`): the first field of `schedstat`.
fn thread_cpu_ns(task: &Path) -> u64 {
    std::fs::read_to_string(task.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Nanoseconds on CPU of every thread of process `pid`.
fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks.flatten().map(|t| thread_cpu_ns(&t.path())).sum()
}

/// Every process below `root` (children, their children…), from the parent field of
/// `/proc/<pid>/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parent_of.push((pid, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parent_of {
            if ppid == p {
                out.push(pid);
                frontier.push(pid);
            }
        }
    }
    out
}

/// CPU used so far: the client threads of this process, and the server: `server_pid` and its
/// descendants, or (when `None`) this process's other threads and all its descendants.
fn cpu_now(server_pid: Option<u32>) -> Cpu {
    let mut cpu = Cpu::default();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = thread_cpu_ns(&path);
        if comm.starts_with("bench-client") {
            cpu.client += ns;
        } else if server_pid.is_none() {
            cpu.server += ns;
        }
    }
    let root = server_pid.unwrap_or_else(std::process::id);
    if let Some(pid) = server_pid {
        cpu.server += process_cpu_ns(pid);
    }
    cpu.children = descendants(root)
        .into_iter()
        .map(process_cpu_ns)
        .sum::<u64>();
    cpu.server += cpu.children;
    cpu
}

impl Stats {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Child processes' CPU microseconds per request (the execution environments).
    fn children_per_request(&self) -> Option<f64> {
        let cpu = self.cpu?;
        Some(cpu.children as f64 / self.requests.max(1) as f64 / 1e3)
    }

    /// Server and client CPU microseconds per request.
    fn cpu_per_request(&self) -> Option<(f64, f64)> {
        let cpu = self.cpu?;
        let n = self.requests.max(1) as f64;
        Some((cpu.server as f64 / n / 1e3, cpu.client as f64 / n / 1e3))
    }

    fn print(&mut self, name: &str, connections: usize) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies.get(i).copied().unwrap_or_default()
        };
        let cpu = self
            .cpu_per_request()
            .map(|(s, c)| {
                let envs = match self.children_per_request() {
                    Some(e) if e > 0.0 => format!(" (environments {e:.1})"),
                    _ => String::new(),
                };
                format!("   cpu/req server {s:>6.1} µs{envs} client {c:>5.1} µs")
            })
            .unwrap_or_default();
        println!(
            "{name:<8} c={connections:<3} {:>9.0} req/s   p50 {:>8.1} µs   p99 {:>8.1} µs   ({} requests){cpu}",
            self.rate(),
            pct(0.50).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
            self.requests
        );
    }
}

/// Load-tests `addr` from the client runtime, measuring the CPU the server (`server_pid`, or
/// this process's gateway side when `None`) and the client spend meanwhile.
async fn measure(
    client: &tokio::runtime::Handle,
    addr: SocketAddr,
    connections: usize,
    secs: f64,
    server_pid: Option<u32>,
) -> Stats {
    let before = cpu_now(server_pid);
    let mut stats = client
        .spawn(load(addr, "/hello", connections, secs))
        .await
        .expect("load");
    let after = cpu_now(server_pid);
    stats.cpu = Some(Cpu {
        server: after.server.saturating_sub(before.server),
        children: after.children.saturating_sub(before.children),
        client: after.client.saturating_sub(before.client),
    });
    stats
}

async fn load(addr: SocketAddr, path: &'static str, connections: usize, secs: f64) -> Stats {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let per_conn = MAX_REQUESTS / connections;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut latencies = Vec::with_capacity(4096);
            while Instant::now() < deadline && latencies.len() < per_conn {
                let req = hyper::Request::builder()
                    .uri(path)
                    .header("host", "localhost")
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let t = Instant::now();
                let resp = send.send_request(req).await.expect("send");
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.expect("body");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    Stats {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
        cpu: None,
    }
}

/// One GET on a fresh connection; the body as text.
async fn body_of(addr: SocketAddr, path: &'static str) -> String {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("send");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

async fn direct(runtime: &Runtime, secs: f64) -> Stats {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let event = Bytes::from_static(br#"{"httpMethod":"GET","path":"/hello"}"#);
    while Instant::now() < deadline && latencies.len() < MAX_REQUESTS {
        let t = Instant::now();
        let r = runtime
            .invoke(InvokeRequest::new(
                "HelloFunction",
                Version::Latest,
                event.clone(),
            ))
            .await
            .expect("invoke");
        assert!(r.function_error.is_none());
        latencies.push(t.elapsed());
    }
    Stats {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
        cpu: None,
    }
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: a short smoke run then.
    let full = std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("SLIPWAY_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 3.0 } else { 0.2 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server")
        .enable_all()
        .build()
        .expect("tokio");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("tokio");
    let client = client_rt.handle().clone();
    rt.block_on(async move {
        let template = resolve(TEMPLATE, &Options::default())
            .template
            .expect("template");

        // 0. The gateway's own work per request, no sockets: route, event, response.
        let (snapshot, _) = build(&template, &Directory::local(&template));
        let gateway = Arc::new(Gateway::new(
            snapshot,
            Arc::new(Noop),
            GatewayConfig::default(),
        ));
        let request = IncomingRequest {
            method: "GET".into(),
            host: "127.0.0.1:3000".into(),
            path: "/hello".into(),
            query: Some("a=1".into()),
            headers: vec![
                ("host".into(), "127.0.0.1:3000".into()),
                ("user-agent".into(), "bench".into()),
                ("accept".into(), "*/*".into()),
            ],
            body: Bytes::new(),
            too_large: false,
            peer: "127.0.0.1:50000".parse().expect("peer"),
            local_port: 3000,
            protocol: "HTTP/1.1",
        };
        let n = 50_000;
        let started = Instant::now();
        for _ in 0..n {
            let reply = gateway.handle(request.clone()).await;
            assert_eq!(reply.status, 200);
        }
        println!(
            "handle   in-process {:>6.1} µs per request (route + event + response, no sockets)",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );

        // 1. Ceiling: no-op integration.
        let server = Server::bind(gateway, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = server.local_addr();
        measure(&client, addr, 4, 0.3, None).await;
        for c in [1, 16] {
            measure(&client, addr, c, secs, None)
                .await
                .print("ceiling", c);
        }
        server.shutdown().await;

        // 2. and 3. A real Python handler.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gateway-bench");
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::write(dir.join("src/app.py"), APP).expect("write");
        let mut config = RuntimeConfig::new(dir.join("runtime"));
        config
            .python
            .interpreters
            .insert("python3.12".into(), "python3".into());
        config.enforce_memory = false;
        // As `slipway serve` runs it: a target concurrency of one per core (or
        // `SLIPWAY_BENCH_TARGET`).
        let cores = std::env::var("SLIPWAY_BENCH_TARGET")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
        config.target_concurrency = Some(cores);
        let runtime = Runtime::new(config).expect("runtime");
        let mut options = ServeOptions::new(&dir);
        options.addr = "127.0.0.1:0".parse().expect("addr");
        let serving = serve(&template, runtime.clone(), options)
            .await
            .expect("serve");
        let addr = serving.server.local_addr();
        // Warm 16 environments.
        measure(&client, addr, 16, 1.0, None).await;
        let mut ours = Vec::new();
        for c in [1, 16] {
            let mut stats = measure(&client, addr, c, secs, None).await;
            stats.print("hello", c);
            ours.push((c, stats));
        }
        // The same without the target concurrency: every connection its own environment, as
        // Lambda would run them.
        runtime.set_target_concurrency(None);
        let mut lambda_like = measure(&client, addr, 16, secs, None).await;
        lambda_like.print("hello-1:1", 16);
        runtime.set_target_concurrency(Some(cores));
        println!("(hello: target concurrency {cores}; hello-1:1: off)");
        direct(&runtime, secs).await.print("direct", 1);

        // 5. Reload: a saved handler change until the gateway answers with the new code, with
        // the watcher `slipway serve` runs (polling every 100 ms).
        std::fs::write(dir.join("template.yaml"), TEMPLATE).expect("template file");
        let watcher = serving.reloader().watch(
            dir.join("template.yaml"),
            Duration::from_millis(100),
            |p| {
                let text = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
                resolve(&text, &Options::default())
                    .template
                    .ok_or_else(|| "the template has errors".to_owned())
            },
            |_| {},
        );
        let mut reloads = Vec::new();
        for i in 0..if full { 10 } else { 2 } {
            // Each save changes the file's size: CPython trusts a cached .pyc whose source has
            // the same size and modification second, so two same-size saves within a second
            // can serve the older code (Python's own rule; see reload.rs).
            let marker = format!("reloaded-{}", "x".repeat(i + 1));
            std::fs::write(dir.join("src/app.py"), APP.replace("hello world", &marker))
                .expect("write");
            let t = Instant::now();
            while !body_of(addr, "/hello").await.contains(&marker) {
                assert!(t.elapsed() < Duration::from_secs(10), "no reload");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            reloads.push(t.elapsed());
        }
        watcher.abort();
        reloads.sort();
        println!(
            "reload   save → new code answering: p50 {:.0} ms, max {:.0} ms over {} saves (target < 300 ms)",
            reloads[reloads.len() / 2].as_secs_f64() * 1e3,
            reloads[reloads.len() - 1].as_secs_f64() * 1e3,
            reloads.len()
        );
        std::fs::write(dir.join("src/app.py"), APP).expect("write");
        serving.shutdown().await;

        // 4. The Python baseline.
        let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(&baseline)
            .arg(dir.join("src"))
            .arg("app.handler")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 baseline");
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line)
            .await
            .expect("baseline port");
        let port: u16 = line.trim().parse().expect("a port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let pid = child.id();
        measure(&client, addr, 4, 0.5, pid).await;
        for (c, ours) in &ours {
            let mut py = measure(&client, addr, *c, secs, pid).await;
            py.print("python", *c);
            let predicted = match (ours.cpu_per_request(), py.cpu_per_request()) {
                (Some((gs, gc)), Some((ps, pc))) => format!(
                    "; server CPU/req gateway/python = {:.2}; predicted by CPU/req (server + client) = {:.2}",
                    gs / ps,
                    (ps + pc) / (gs + gc)
                ),
                _ => String::new(),
            };
            println!(
                "ratio    c={c:<3} gateway/python requests/s = {:.2}{predicted}",
                ours.rate() / py.rate()
            );
        }
        let _ = child.kill().await;
    });
}
