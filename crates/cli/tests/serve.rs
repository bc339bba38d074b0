//! `slipway serve` end to end: the real binary on an ephemeral port, real HTTP, real Python,
//! Ctrl-C (SIGINT) and nothing left behind.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Generous: the first request starts a Python execution environment.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A temp copy of `examples/hello` with an implicit API: `GET /hello`.
fn hello_project() -> tempfile::TempDir {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let template = std::fs::read_to_string(example.join("template.yaml")).unwrap();
    let with_api = template.replacen(
        "      MemorySize: 128\n",
        "      MemorySize: 128\n      Events:\n        Hello:\n          Type: Api\n          \
         Properties:\n            Path: /hello\n            Method: get\n",
        1,
    );
    assert_ne!(
        with_api, template,
        "examples/hello/template.yaml changed shape"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("template.yaml"), with_api).unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::copy(example.join("src/app.py"), dir.path().join("src/app.py")).unwrap();
    dir
}

enum Line {
    Text(String),
    Eof,
}

/// `slipway serve` running in `dir`, its stderr read line by line on a thread.
struct Server {
    child: Child,
    lines: mpsc::Receiver<Line>,
    seen: Vec<String>,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
        cmd.current_dir(dir)
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for var in [
            "SLIPWAY_REGION",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "SLIPWAY_ACCOUNT",
            "SLIPWAY_STACK_NAME",
            "SLIPWAY_DATA_DIR",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(Line::Text(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Line::Eof);
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stderr line starting with `prefix`; panics with everything seen on a
    /// timeout or the end of stderr.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Line::Text(line)) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Ok(Line::Eof) | Err(_) => {
                    panic!(
                        "no {prefix:?} line on stderr; saw:\n{}",
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// Waits for stderr to close (the process and anything that inherited it are gone).
    fn wait_for_eof(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Line::Text(line)) => self.seen.push(line),
                Ok(Line::Eof) => return,
                Err(_) => panic!("stderr still open; saw:\n{}", self.seen.join("\n")),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over HTTP/1.1: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "expected a Content-Length body: {head}"
    );
    (status, body.to_owned())
}

/// The parent of each live (not zombie) process, from `/proc`.
fn live_processes() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("?");
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" && state != "X" {
            out.push((pid, ppid));
        }
    }
    out
}

/// Every live descendant of `root`.
fn descendants(root: u32) -> BTreeSet<u32> {
    let all = live_processes();
    let mut found = BTreeSet::from([root]);
    loop {
        let before = found.len();
        for (pid, ppid) in &all {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.remove(&root);
    found
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

#[test]
fn serves_hello_over_http_and_stops_cleanly_on_ctrl_c() {
    let dir = hello_project();
    let mut server = Server::start(dir.path(), &["-p", "0"]);
    let mounted = server.wait_for("Mounted ");
    let serving = server.wait_for("Serving at ");
    let port: u16 = serving
        .strip_prefix("Serving at http://127.0.0.1:")
        .and_then(|s| s.strip_suffix("/ (Ctrl-C to stop)"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {serving:?}"));
    assert_ne!(port, 0);

    // `Mounted ServerlessRestApi (Prod) at http://127.0.0.1:PORT/_api/ID/Prod/ and
    // http://ID.execute-api.localhost:PORT/Prod/, and at http://127.0.0.1:PORT/`
    let words: Vec<&str> = mounted.split(' ').collect();
    assert_eq!(
        words[..4],
        ["Mounted", "ServerlessRestApi", "(Prod)", "at"],
        "{mounted}"
    );
    let path_url = words[4];
    let prefix = format!("http://127.0.0.1:{port}/_api/");
    assert!(
        path_url.starts_with(&prefix) && path_url.ends_with("/Prod/"),
        "{mounted}"
    );
    let api_id = &path_url[prefix.len()..path_url.len() - "/Prod/".len()];
    assert_eq!(
        words[5..],
        [
            "and",
            &format!("http://{api_id}.execute-api.localhost:{port}/Prod/,"),
            "and",
            "at",
            &format!("http://127.0.0.1:{port}/"),
        ],
        "{mounted}"
    );

    let (status, body) = get(port, &format!("/_api/{api_id}/Prod/hello"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), serde_json::json!({"message": "Hello"}));
    let (status, body) = get(port, "/hello");
    assert_eq!(status, 200, "served at the root too: {body}");
    assert_eq!(json(&body), serde_json::json!({"message": "Hello"}));
    let (status, body) = get(port, &format!("/_api/{api_id}/Prod/nope"));
    assert_eq!(
        (status, json(&body)),
        (
            403,
            serde_json::json!({"message": "Missing Authentication Token"})
        )
    );

    let pid = server.child.id();
    let children = descendants(pid);
    assert!(
        !children.is_empty(),
        "an execution environment should be running"
    );
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    server.wait_for_eof();
    let status = server.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "stderr:\n{}",
        server.seen.join("\n")
    );
    assert_eq!(server.seen.last().map(String::as_str), Some("Stopped"));
    let left: Vec<u32> = children
        .iter()
        .copied()
        .filter(|p| live_processes().iter().any(|(q, _)| q == p))
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn warm_starts_environments_before_the_first_request() {
    let dir = hello_project();
    let mut server = Server::start(dir.path(), &["-p", "0", "--warm", "2"]);
    server.wait_for("Serving at ");
    let warmed = server.wait_for("Warmed ");
    assert!(
        warmed.starts_with("Warmed 2 environment(s) of "),
        "{warmed}"
    );
    // Two interpreters run before any request reached the gateway.
    let pid = server.child.id();
    let children = descendants(pid);
    assert!(children.len() >= 2, "{children:?}");
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    server.wait_for_eof();
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
}
