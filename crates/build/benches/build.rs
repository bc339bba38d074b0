//! Build-engine figures, printed by `cargo bench -p slipway-build`.
//!
//! - buildspec run overhead: a whole `run_build` of a one-command buildspec (workspace copy,
//!   shell start, phases, log, record), and the cost of each further command in the same shell;
//! - `slipway build` (SAM-style) of a two-function app with a `requirements.txt`: first run (a
//!   real pip run; the requirements name no package, so no network is involved), second run with
//!   no change (target < 100 ms), and after editing one handler (target: no pip run, < 300 ms).
#![allow(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use slipway_build::sam::{BuildState, Deps, SamBuildOptions, build_template};
use slipway_build::{BuildOptions, Source, Status, run_build};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn buildspec_runs(root: &Path, commands: usize, runs: usize) -> Duration {
    let src = root.join(format!("src-{commands}"));
    fs::create_dir_all(&src).unwrap();
    let mut spec = String::from("version: 0.2\nphases:\n  build:\n    commands:\n");
    for i in 0..commands {
        spec.push_str(&format!("      - X={i}\n"));
    }
    fs::write(src.join("buildspec.yml"), spec).unwrap();
    fs::write(src.join("app.py"), "print('hi')\n").unwrap();
    let data = root.join("data");
    let mut times = Vec::new();
    for _ in 0..runs {
        let opts = BuildOptions::new("bench", Source::Dir(src.clone()), &data);
        let t = Instant::now();
        let r = run_build(&opts).unwrap();
        times.push(t.elapsed());
        assert_eq!(r.status, Status::Succeeded);
    }
    median(times)
}

fn main() {
    // `cargo test --all-targets` runs benchmarks unoptimised as a smoke check; figures are
    // only meaningful from `cargo bench`, which passes `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark skipped: run `cargo bench` for figures");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    let one = buildspec_runs(root, 1, 15);
    let many = buildspec_runs(root, 101, 7);
    println!(
        "buildspec run, 1 command (whole build)      {:>8.2} ms  (median)",
        ms(one)
    );
    println!(
        "buildspec, each further command (0.2 shell) {:>8.3} ms",
        ms(many.saturating_sub(one)) / 100.0
    );

    let app = root.join("app");
    let w = |rel: &str, body: &str| {
        let p = app.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    };
    w(
        "template.yaml",
        "Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n    Runtime: python3.11\nResources:\n  HelloFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: hello/\n      Handler: app.handler\n  ByeFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: bye/\n      Handler: app.handler\n",
    );
    for f in ["hello", "bye"] {
        w(
            &format!("{f}/app.py"),
            "def handler(event, context):\n    return {'statusCode': 200}\n",
        );
        w(
            &format!("{f}/requirements.txt"),
            "# no third-party packages\n",
        );
    }
    let opts = SamBuildOptions::new(app.join("template.yaml"), &app.join(".slipway"));

    let t = Instant::now();
    let first = build_template(&opts).unwrap();
    let first_t = t.elapsed();
    assert_eq!(first.get("HelloFunction").unwrap().deps, Deps::Installed);

    let mut noop = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = build_template(&opts).unwrap();
        noop.push(t.elapsed());
        assert!(r.artefacts.iter().all(|a| a.state == BuildState::Unchanged));
    }
    let noop = median(noop);

    let mut edit = Vec::new();
    for i in 0..10 {
        w(
            "hello/app.py",
            &format!(
                "def handler(event, context):\n    return {{'statusCode': 200, 'n': {i}{}}}\n",
                "0".repeat(i)
            ),
        );
        let t = Instant::now();
        let r = build_template(&opts).unwrap();
        edit.push(t.elapsed());
        let hello = r.get("HelloFunction").unwrap();
        assert_eq!(hello.state, BuildState::Built);
        assert_eq!(
            hello.deps,
            Deps::Cached,
            "an edited handler must not run pip"
        );
        assert_eq!(r.get("ByeFunction").unwrap().state, BuildState::Unchanged);
    }
    let edit = median(edit);

    println!(
        "sam build, two functions, first run (pip)   {:>8.2} ms",
        ms(first_t)
    );
    println!(
        "sam build, no change                        {:>8.2} ms  (median; target < 100 ms: {})",
        ms(noop),
        if noop < Duration::from_millis(100) {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "sam build, one handler edited (no pip)      {:>8.2} ms  (median; target < 300 ms: {})",
        ms(edit),
        if edit < Duration::from_millis(300) {
            "met"
        } else {
            "MISSED"
        }
    );
}
