//! `cargo bench -p slipway-runtime`: invokes a hello handler through the runtime directly and
//! prints warm p50/p99 latency, invokes/s with 1 and 4 environments, cold start, the memory of
//! an idle environment, and the platform's share of a warm invoke (latency minus the handler's
//! own time measured inside Python).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on stdout, progress on stderr"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_model::invoke::{InvokeRequest, Invoker};
use slipway_runtime::{Runtime, RuntimeConfig};

const HANDLER: &str = "import os\ndef handler(event, context):\n    return {'statusCode': 200, 'body': 'hello', 'pid': os.getpid()}\n";
const EVENT: &str = r#"{"path": "/hello", "httpMethod": "GET", "headers": {"accept": "*/*"}}"#;

fn spec(name: &str, code: &Path, cap: u32) -> FunctionSpec {
    FunctionSpec {
        name: name.to_owned(),
        version: Version::Latest,
        location: Location::default(),
        runtime: "python3.11".to_owned(),
        handler: "app.handler".to_owned(),
        code_dir: code.to_path_buf(),
        layers: Vec::new(),
        memory_mb: 128,
        timeout_secs: 3,
        environment: Default::default(),
        reserved_concurrency: Some(cap),
        architectures: Vec::new(),
        description: String::new(),
    }
}

/// Invokes made by the whole run (to divide `strace -c -f` counts by).
static INVOKES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn once(runtime: &Runtime, name: &str) -> Duration {
    INVOKES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let response = runtime
        .invoke(InvokeRequest::new(name, Version::Latest, EVENT))
        .await
        .expect("invoke");
    assert!(response.function_error.is_none(), "{:?}", response.payload);
    started.elapsed()
}

fn runtime_interpreters(
    interpreter: &Option<std::path::PathBuf>,
) -> std::collections::BTreeMap<String, std::path::PathBuf> {
    interpreter
        .iter()
        .map(|p| ("python3.11".to_owned(), p.clone()))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The handler's own time per call (json decode + handler + json encode) inside Python.
fn python_handler_cost(code: &Path) -> Option<Duration> {
    let script = format!(
        "import json, sys, timeit\nsys.path.insert(0, {code:?})\nimport app\nev = {EVENT:?}\nn = 20000\nt = timeit.timeit(lambda: json.dumps(app.handler(json.loads(ev), None)), number=n)\nprint(t / n)\n",
        code = code.display().to_string()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .ok()?;
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_secs_f64(secs))
}

fn rss_kb(pid: u64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (ns) used so far by every thread of process `pid` (`self` for this one), from
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution, unlike `stat`'s clock ticks).
fn cpu_ns(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(run());
}

async fn run() {
    // `cargo test --all-targets` runs this without `--bench`: a quick smoke run then.
    let full = std::env::args().any(|a| a == "--bench");
    let (cold_runs, warm_runs, window) = if full {
        (10, 5000, Duration::from_secs(2))
    } else {
        (2, 50, Duration::from_millis(200))
    };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-bench");
    let _ = std::fs::remove_dir_all(&root);
    let code = root.join("code");
    std::fs::create_dir_all(&code).expect("code dir");
    std::fs::write(code.join("app.py"), HANDLER).expect("handler");
    let mut config = RuntimeConfig::new(root.join("work"));
    // SLIPWAY_BENCH_PYTHON=/usr/bin/python3.11 measures another interpreter for python3.11.
    let interpreter = std::env::var_os("SLIPWAY_BENCH_PYTHON").map(std::path::PathBuf::from);
    if let Some(path) = &interpreter {
        config
            .python
            .interpreters
            .insert("python3.11".to_owned(), path.clone());
    }
    let mut http_config = config.clone();
    http_config.work_dir = root.join("work-http");
    http_config.fast_channel = false;
    let runtime = Runtime::new(config).expect("runtime");
    let http_runtime = Runtime::new(http_config).expect("runtime");

    // Cold start: a fresh function each time, first invoke end to end.
    let mut cold = Vec::new();
    for i in 0..cold_runs {
        let name = format!("cold{i}");
        runtime.register(spec(&name, &code, 1));
        cold.push(once(&runtime, &name).await);
        runtime.unregister(&name, &Version::Latest);
    }
    cold.sort();
    // The same with the code directory left writable (no private mount namespace), alternating
    // runs would be fairer, but these follow at once.
    let mut writable_config = RuntimeConfig::new(root.join("work-writable"));
    writable_config.read_only_code = false;
    writable_config.python.interpreters = runtime_interpreters(&interpreter);
    let writable = Runtime::new(writable_config).expect("runtime");
    let mut cold_writable = Vec::new();
    for i in 0..cold_runs {
        let name = format!("coldw{i}");
        writable.register(spec(&name, &code, 1));
        cold_writable.push(once(&writable, &name).await);
        writable.unregister(&name, &Version::Latest);
    }
    cold_writable.sort();
    writable.shutdown();
    // What the machine needs to start a bare interpreter, for scale.
    let mut bare = Vec::new();
    for _ in 0..cold_runs {
        let started = Instant::now();
        let bare_python = interpreter.as_deref().unwrap_or(Path::new("python3"));
        let _ = std::process::Command::new(bare_python)
            .args(["-c", "pass"])
            .env_clear()
            .status();
        bare.push(started.elapsed());
    }
    bare.sort();

    eprintln!("cold starts measured");
    // Warm latency on one environment: the fast channel, and the Runtime API over HTTP (what
    // awslambdaric and custom runtimes use), alternating in rounds so both see the same load.
    runtime.register(spec("warm", &code, 1));
    http_runtime.register(spec("warm", &code, 1));
    for r in [&runtime, &http_runtime] {
        for _ in 0..=warm_runs / 25 {
            once(r, "warm").await;
        }
    }
    let warm_pid = {
        let response = runtime
            .invoke(InvokeRequest::new("warm", Version::Latest, EVENT))
            .await
            .expect("invoke");
        let value: serde_json::Value = serde_json::from_slice(&response.payload).expect("json");
        value["pid"].as_u64().unwrap_or_default().to_string()
    };
    let mut warm = Vec::with_capacity(warm_runs);
    let mut warm_http = Vec::with_capacity(warm_runs);
    // CPU spent during the fast-channel rounds by this process (the platform: tokio workers,
    // the benchmark's own loop) and by the environment's Python process.
    let (mut cpu_platform, mut cpu_env) = (0u64, 0u64);
    for _ in 0..10 {
        let (p0, e0) = (cpu_ns("self"), cpu_ns(&warm_pid));
        for _ in 0..warm_runs / 10 {
            warm.push(once(&runtime, "warm").await);
        }
        cpu_platform += cpu_ns("self") - p0;
        cpu_env += cpu_ns(&warm_pid) - e0;
        for _ in 0..warm_runs / 10 {
            warm_http.push(once(&http_runtime, "warm").await);
        }
    }
    warm.sort();
    warm_http.sort();
    http_runtime.shutdown();

    eprintln!("warm latency measured");
    // Throughput with 1 and 4 environments.
    let mut throughput = Vec::new();
    for envs in [1u32, 4] {
        let name = format!("tp{envs}");
        runtime.register(spec(&name, &code, envs));
        let runtime = Arc::new(runtime.clone());
        // Warm every environment first.
        let mut warmups = Vec::new();
        for _ in 0..envs {
            let (r, n) = (runtime.clone(), name.clone());
            warmups.push(tokio::spawn(async move { once(&r, &n).await }));
        }
        for w in warmups {
            w.await.expect("warmup");
        }
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..envs {
            let (r, n) = (runtime.clone(), name.clone());
            workers.push(tokio::spawn(async move {
                let mut count = 0u64;
                while started.elapsed() < window {
                    once(&r, &n).await;
                    count += 1;
                }
                count
            }));
        }
        let mut total = 0;
        for w in workers {
            total += w.await.expect("worker");
        }
        throughput.push((envs, total as f64 / started.elapsed().as_secs_f64()));
    }

    eprintln!("throughput measured");
    // Memory of an idle environment.
    let response = runtime
        .invoke(InvokeRequest::new("warm", Version::Latest, EVENT))
        .await
        .expect("invoke");
    let value: serde_json::Value = serde_json::from_slice(&response.payload).expect("json");
    let idle_rss = value["pid"].as_u64().and_then(rss_kb);

    let handler_cost = python_handler_cost(&code);
    let p50 = percentile(&warm, 0.5);
    println!(
        "slipway-runtime invoke benchmark (hello handler, python3.11, built-in bootstrap on the fast channel)"
    );
    println!(
        "cold start        p50 {:7.2} ms   min {:7.2} ms   max {:7.2} ms   (target < 60 ms)",
        ms(percentile(&cold, 0.5)),
        ms(cold[0]),
        ms(cold[cold.len() - 1])
    );
    println!(
        "  writable code   p50 {:7.2} ms   (no mount namespace: what read-only costs)",
        ms(percentile(&cold_writable, 0.5))
    );
    println!(
        "bare interpreter  p50 {:7.2} ms   (`python3 -c pass` on this machine now, for scale)",
        ms(percentile(&bare, 0.5))
    );
    println!(
        "warm invoke       p50 {:7.3} ms   p99 {:7.3} ms   ({} samples)",
        ms(p50),
        ms(percentile(&warm, 0.99)),
        warm.len()
    );
    let p50_http = percentile(&warm_http, 0.5);
    println!(
        "  over HTTP       p50 {:7.3} ms   p99 {:7.3} ms   (the Runtime API path; fast/HTTP = {:.2})",
        ms(p50_http),
        ms(percentile(&warm_http, 0.99)),
        p50.as_secs_f64() / p50_http.as_secs_f64()
    );
    if let Some(cost) = handler_cost {
        println!(
            "platform overhead p50 {:7.3} ms   (warm p50 minus the handler's own {:.3} ms in Python; target < 0.1 ms; over HTTP {:.3} ms)",
            ms(p50.saturating_sub(cost)),
            ms(cost),
            ms(p50_http.saturating_sub(cost))
        );
    }
    let n = warm.len().max(1) as f64;
    println!(
        "cpu per warm invoke   platform {:6.1} us   environment process {:6.1} us   (schedstat; less load-sensitive than latency, but still moves with load)",
        cpu_platform as f64 / n / 1000.0,
        cpu_env as f64 / n / 1000.0
    );
    for (envs, rate) in throughput {
        println!("throughput        {envs} env(s): {rate:9.0} invokes/s");
    }
    println!(
        "invokes made      {} (to divide `strace -f -c` counts of this run by)",
        INVOKES.load(std::sync::atomic::Ordering::Relaxed)
    );
    match idle_rss {
        Some(kb) => println!("idle environment  RSS {:.1} MB", kb as f64 / 1024.0),
        None => println!("idle environment  RSS unknown"),
    }
    runtime.shutdown();
}
