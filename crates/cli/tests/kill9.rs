//! `kill -9` of a running `slipway server`, then a restart over the same data directory: a
//! traffic shift resumes at its persisted step and completes; a stack create killed at several
//! moments ends in a CloudFormation status; the SQLite store is whole after every kill; the
//! function processes the killed server left behind do not outlive the restart.
//!
//! Nothing here sleeps to let time pass: the server's clock is scaled (`--time-scale`) and the
//! test polls, with a bound, for states the real processes reach.

#![allow(
    clippy::disallowed_methods,
    reason = "bounded polls for real processes"
)]
#![allow(
    clippy::print_stderr,
    reason = "what each kill hit, for whoever reads the output"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{ServerProc, TIMEOUT, invoke, spawn_slipway};
use common::{Run, slipway, write};
use serde_json::Value;
use slipway_store::state::sqlite::SqliteStore;
use slipway_store::state::{Collection, StateStore as _};

const POLL: Duration = Duration::from_millis(20);

const TARGET: &str = "123456789012/us-east-1";

#[track_caller]
fn ok(r: &Run) {
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
}

/// A published version's number as stored (`{"Published": 1}` in an alias, `2` beside it);
/// `None` for `$LATEST` (`"Latest"`).
fn version(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v["Published"].as_u64())
}

/// What the store holds after a kill, checked: SQLite's own integrity check, every document
/// readable JSON, every alias on versions that exist with a weight in [0,1], every deployment's
/// weight in [0,1000] per mille. Returns the store for more checks.
fn check_store(data: &Path) -> SqliteStore {
    let db = data.join("state.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    let store = SqliteStore::open(&db).unwrap();
    for c in Collection::ALL {
        store.list_all_docs(c).unwrap();
    }
    for (target, name, doc) in store.list_all_docs(Collection::Functions).unwrap() {
        let f = &doc.value["versions"];
        let versions = f["versions"].as_object().cloned().unwrap_or_default();
        let exists = |v: &Value| match version(v) {
            Some(n) => versions.contains_key(&n.to_string()),
            None => v == "Latest",
        };
        for (alias, a) in f["aliases"].as_object().cloned().unwrap_or_default() {
            assert!(
                exists(&a["function_version"]),
                "{target} {name}:{alias} points at a missing version: {f:#}"
            );
            if let Some(extra) = a["additional"].as_array() {
                assert!(exists(&extra[0]), "{name}:{alias}: {f:#}");
                let w = extra[1].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&w), "{name}:{alias} weight {w}");
            }
        }
    }
    for (_, id, doc) in store.list_all_docs(Collection::Deployments).unwrap() {
        let w = doc.value["weight"].as_u64().unwrap();
        assert!(w <= 1000, "deployment {id} weight {w}");
    }
    for target in [TARGET] {
        for name in store.list_stacks(target).unwrap() {
            store.get_stack(target, &name).unwrap().unwrap();
        }
    }
    store
}

/// Every journal entry of the store has finished.
fn journal_finished(store: &SqliteStore) {
    for (_, id, doc) in store.list_all_docs(Collection::Journal).unwrap() {
        let op = &doc.value;
        assert!(
            op["phase"] == "Done" || op["phase"] == "Pending",
            "operation {id} unfinished: {op:#}"
        );
        assert!(op["running"].is_null(), "operation {id}: {op:#}");
    }
}

/// Processes whose environment puts their `TMPDIR` under `data`'s runtime: the function
/// processes of servers over `data` (pid, process group), zombies left out.
fn function_processes(data: &Path) -> Vec<(i32, i32)> {
    let marker = format!("TMPDIR={}", data.join("runtime").display());
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if !env
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(marker.as_bytes()))
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …: comm may hold spaces, so split after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        if fields.first() == Some(&"Z") {
            continue;
        }
        let pgrp = fields.get(2).and_then(|g| g.parse().ok()).unwrap_or(0);
        out.push((pid, pgrp));
    }
    out
}

/// Kills, when dropped, the function process groups still running over `data` (a failing test
/// must not leave ten-minute sleepers behind).
struct Reap(PathBuf);

impl Drop for Reap {
    fn drop(&mut self) {
        for (_, pgrp) in function_processes(&self.0) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgrp}")])
                .status();
        }
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

const LINEAR: &str = r#"Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: v1
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.11
      Handler: app.handler
      CodeUri: src/
      Timeout: 900
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Linear10PercentEvery1Minute
      Environment:
        Variables:
          GREETING: !Ref Greeting
"#;

const APP: &str = r#"import os, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"greeting": os.environ["GREETING"], "pid": os.getpid()}
"#;

/// The row of `slipway deployments hello` for a deployment in progress: (ID, percent on the
/// new version).
fn shifting(dir: &Path, endpoint: &str) -> Option<(String, u32)> {
    let r = slipway(dir, &["deployments", "hello", "--endpoint", endpoint]);
    ok(&r);
    r.stdout.lines().find_map(|l| {
        if !l.contains("InProgress") {
            return None;
        }
        let id = l.split_whitespace().next()?.to_owned();
        let pct = l
            .split_whitespace()
            .find_map(|w| w.strip_suffix('%')?.parse().ok())?;
        Some((id, pct))
    })
}

#[test]
fn a_shift_killed_with_sigkill_resumes_at_its_step_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, &[("template.yaml", LINEAR), ("src/app.py", APP)]);
    let data = p.join("server-data");
    let _reap = Reap(data.clone());

    // x60: the ten one-minute steps take 9 s; the test kills the server after two.
    let server = ServerProc::start(p, &data, "60");
    let ep = server.endpoint.clone();
    ok(&slipway(
        p,
        &["deploy", "--stack-name", "app", "--endpoint", &ep],
    ));
    let (code, body) = invoke(&ep, "hello:live", "{}", false);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"v1\""), "{body}");

    let deploy = spawn_slipway(
        p,
        &[
            "deploy",
            "--stack-name",
            "app",
            "--parameter-overrides",
            "Greeting=v2",
            "--endpoint",
            &ep,
        ],
    );
    let (id, _) = wait_for("a shift past its first step", || {
        shifting(p, &ep).filter(|(_, pct)| (20..100).contains(pct))
    });
    // Traffic flows through the split while it shifts; two invocations are still running
    // (function processes busy for ten minutes) when the server dies.
    for _ in 0..4 {
        let (code, body) = invoke(&ep, "hello:live", "{}", false);
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"v1\"") || body.contains("\"v2\""), "{body}");
    }
    // Two at once: the idle environment takes one, a new one the other.
    for _ in 0..2 {
        let (code, body) = invoke(&ep, "hello:live", r#"{"sleep": 600}"#, true);
        assert_eq!(code, 202, "{body}");
    }
    wait_for("the busy invocations' processes", || {
        (function_processes(&data).len() >= 2).then_some(())
    });
    server.kill9();
    let _ = deploy.wait_with_output().unwrap(); // its server is gone: it fails, as it must

    // What survived the kill.
    let store = check_store(&data);
    let (_, dep) = store
        .list_all_docs(Collection::Deployments)
        .unwrap()
        .into_iter()
        .find_map(|(_, k, d)| (k == id).then_some((k, d.value)))
        .unwrap();
    assert_eq!(dep["status"], "InProgress", "{dep:#}");
    let persisted = dep["weight"].as_u64().unwrap();
    assert!((1..1000).contains(&persisted), "{dep:#}");
    let hello = store
        .get_doc(Collection::Functions, TARGET, "hello")
        .unwrap()
        .unwrap()
        .value;
    let live = &hello["versions"]["aliases"]["live"];
    assert_eq!(version(&live["function_version"]), Some(1), "{hello:#}");
    assert_eq!(version(&live["additional"][0]), Some(2), "{hello:#}");
    let weight = live["additional"][1].as_f64().unwrap();
    assert!(
        (weight * 1000.0 - persisted as f64).abs() < 0.5,
        "{hello:#}"
    );
    let journal = store.list_all_docs(Collection::Journal).unwrap();
    assert!(
        journal
            .iter()
            .any(|(_, _, d)| d.value["waiting"] == id.as_str()),
        "the update waits on {id}: {journal:#?}"
    );
    drop(store);
    // The processes the killed server left: the idle ones see their channel close and exit;
    // the busy one is still in its handler.
    let leftovers: Vec<(i32, i32)> = function_processes(&data);
    eprintln!("function processes after the kill: {leftovers:?}");

    // Restart over the same data directory (x600: what is left takes under a second or so).
    let server = ServerProc::start(p, &data, "600");
    let ep = server.endpoint.clone();
    // The scaled clock carried on from the killed server's (its anchor in the data directory),
    // not from the machine's time, which lies behind every time the shift persisted: what is
    // left of the current step's wait is what gets waited.
    let anchor: Value =
        serde_json::from_slice(&std::fs::read(data.join("clock.json")).unwrap()).unwrap();
    let last_step = dep["weights"]
        .as_array()
        .and_then(|w| w.iter().filter_map(|c| c["at_ms"].as_u64()).max())
        .unwrap();
    assert!(
        anchor["virtual_ms"].as_u64().unwrap() >= last_step,
        "the restarted clock {anchor} is before the persisted step at {last_step}"
    );
    assert_eq!(anchor["scale"], 600.0, "{anchor}");
    let orphans: Vec<(i32, i32)> = function_processes(&data)
        .into_iter()
        .filter(|p| leftovers.contains(p))
        .collect();
    assert!(
        orphans.is_empty(),
        "the killed server's function processes outlived the restart: {orphans:?}"
    );
    let mut seen = Vec::new();
    wait_for("the deployment to end", || {
        let r = slipway(p, &["deployments", "hello", "--endpoint", &ep]);
        ok(&r);
        let row = r.stdout.lines().find(|l| l.starts_with(&id))?.to_owned();
        if let Some(pct) = row
            .split_whitespace()
            .find_map(|w| w.strip_suffix('%')?.parse::<u64>().ok())
        {
            seen.push(pct);
        }
        (!row.contains("InProgress")).then_some(row)
    });
    assert!(
        seen.iter().all(|pct| *pct * 10 >= persisted && *pct <= 100),
        "resumed below the persisted step {persisted}‰: {seen:?}"
    );
    let r = slipway(p, &["deployments", "hello", "--endpoint", &ep]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("Succeeded") && l.contains("100%")),
        "{}",
        r.stdout
    );
    let stack = wait_for("the stack update to complete", || {
        let r = slipway(p, &["stack", "list", "--endpoint", &ep]);
        ok(&r);
        let row = r.stdout.lines().find(|l| l.starts_with("app "))?.to_owned();
        (!row.contains("IN_PROGRESS")).then_some(row)
    });
    assert!(stack.contains("UPDATE_COMPLETE"), "{stack}");
    let (code, body) = invoke(&ep, "hello:live", "{}", false);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"v2\""), "{body}");
    server.stop();

    let store = check_store(&data);
    journal_finished(&store);
    let hello = store
        .get_doc(Collection::Functions, TARGET, "hello")
        .unwrap()
        .unwrap()
        .value;
    let live = &hello["versions"]["aliases"]["live"];
    assert_eq!(version(&live["function_version"]), Some(2), "{hello:#}");
    assert!(live["additional"].is_null(), "{hello:#}");
    assert!(function_processes(&data).is_empty());
}

/// A dozen resources of the kinds a create spends its steps on.
fn big_template() -> String {
    let mut t = String::from("Transform: AWS::Serverless-2016-10-31\nResources:\n");
    for i in 0..6 {
        t.push_str(&format!(
            "  Fn{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.11\n      Handler: app.handler\n      CodeUri: src/\n      AutoPublishAlias: live\n"
        ));
    }
    t.push_str("  Bucket:\n    Type: AWS::S3::Bucket\n  Topic:\n    Type: AWS::SNS::Topic\n  Queue:\n    Type: AWS::SQS::Queue\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: !Ref Bucket\n");
    t
}

#[test]
fn stack_creates_killed_at_several_moments_end_in_a_cloudformation_status() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        &[("template.yaml", &big_template()), ("src/app.py", APP)],
    );
    let data: PathBuf = p.join("server-data");
    let db = data.join("state.db");
    let mut interrupted = 0;
    for round in 0..4usize {
        let stack = format!("big{round}");
        let server = ServerProc::start(p, &data, "1");
        let ep = server.endpoint.clone();
        let deploy = spawn_slipway(p, &["deploy", "--stack-name", &stack, "--endpoint", &ep]);
        // Kill when the stack has written a growing number of events (a moment further into
        // the create each round), or as soon as it has ended.
        let events_wanted = 2 + 4 * round;
        let conn = wait_for("the state database", || {
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()
        });
        let ended = wait_for("the create to reach its moment", || {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM stack_events WHERE stack = ?1",
                    [&stack],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            let status: Option<String> = conn
                .query_row("SELECT record FROM stacks WHERE name = ?1", [&stack], |r| {
                    r.get(0)
                })
                .ok();
            let done = status.is_some_and(|s| s.contains("_COMPLETE\""));
            (done || n >= events_wanted as i64).then_some(done)
        });
        drop(conn);
        server.kill9();
        let _ = deploy.wait_with_output().unwrap();
        if !ended {
            interrupted += 1;
        }
        drop(check_store(&data));

        let server = ServerProc::start(p, &data, "1");
        let ep = server.endpoint.clone();
        let r = slipway(p, &["stack", "list", "--endpoint", &ep]);
        ok(&r);
        for line in r.stdout.lines().filter(|l| l.starts_with("big")) {
            assert!(
                ["CREATE_COMPLETE", "ROLLBACK_COMPLETE"]
                    .iter()
                    .any(|s| line.split_whitespace().any(|w| w == *s)),
                "round {round}: {line}\n{}",
                r.stdout
            );
        }
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{stack} "))),
            "round {round}: {}",
            r.stdout
        );
        eprintln!(
            "round {round} (killed {}): {}",
            if ended {
                "after the create"
            } else {
                "during the create"
            },
            r.stdout
                .lines()
                .filter(|l| l.starts_with(&format!("{stack} ")))
                .collect::<String>()
        );
        server.stop();
        journal_finished(&check_store(&data));
    }
    eprintln!("{interrupted} of 4 creates were killed before they ended");
}
