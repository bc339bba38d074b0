//! A `slipway server` child process and loopback HTTP for the tests that run one.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(90);

pub(crate) fn venv() -> PathBuf {
    let venv = std::env::var_os("SLIPWAY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    assert!(
        venv.join("bin/python3.11").exists(),
        "no venv at {}: run scripts/setup",
        venv.display()
    );
    venv
}

/// A `slipway server` child on ephemeral ports over `data`, its stderr read on a thread.
pub(crate) struct ServerProc {
    child: Child,
    lines: mpsc::Receiver<Option<String>>,
    pub(crate) endpoint: String,
    /// The gateway's address (`--gateway-port 0`).
    pub(crate) gateway: String,
}

impl ServerProc {
    pub(crate) fn start(dir: &Path, data: &Path, scale: &str) -> ServerProc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
        cmd.current_dir(dir)
            .args(["server", "--port", "0", "--gateway-port", "0"])
            .arg("--data-dir")
            .arg(data)
            .args(["--time-scale", scale])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for var in super::VARS {
            cmd.env_remove(var);
        }
        // `python3.11` for the functions is the venv's: first on the server's PATH.
        cmd.env(
            "PATH",
            format!(
                "{}:{}",
                venv().join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(Some(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(None);
        });
        let first = match lines.recv_timeout(TIMEOUT) {
            Ok(Some(l)) => l,
            _ => panic!("slipway server printed nothing"),
        };
        let url = |line: &str| {
            line.split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap_or_else(|| panic!("{line}"))
                .trim_end_matches('/')
                .to_owned()
        };
        let endpoint = url(&first);
        // The lines after the first name the gateway and the console, in either order.
        let gateway = loop {
            match lines.recv_timeout(TIMEOUT) {
                Ok(Some(l)) if l.contains("Gateway") => break url(&l),
                Ok(Some(_)) => {}
                other => panic!("no gateway line: {other:?}"),
            }
        };
        ServerProc {
            child,
            lines,
            endpoint,
            gateway,
        }
    }

    /// `kill -9`: no chance to clean anything up.
    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.code().is_none(), "{status:?}");
    }

    /// SIGTERM, then a clean exit.
    pub(crate) fn stop(mut self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + TIMEOUT;
        while let Ok(Some(_)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {}
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn spawn_slipway(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway"));
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in super::VARS {
        cmd.env_remove(var);
    }
    cmd.spawn().unwrap()
}

/// One HTTP/1.1 request on loopback (`Connection: close`): status and body.
pub(crate) fn http(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Lambda `Invoke` on the server's AWS endpoint.
pub(crate) fn invoke(
    endpoint: &str,
    function: &str,
    event: &str,
    asynchronous: bool,
) -> (u16, String) {
    let headers: &[(&str, &str)] = if asynchronous {
        &[("X-Amz-Invocation-Type", "Event")]
    } else {
        &[]
    };
    http(
        endpoint,
        "POST",
        &format!("/2015-03-31/functions/{function}/invocations"),
        headers,
        event,
    )
}
