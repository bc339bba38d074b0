//! A server in this process on an ephemeral loopback port with a temp data dir, and the real
//! AWS clients (boto3, the AWS CLI) from the test venv pointed at it.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_engine::{DeployRequest, Engine, ManualClock, OperationReport};
use slipway_runtime::PythonConfig;
use slipway_server::{Config, Server, ServerHandle};

pub const TARGET: &str = "123456789012/us-east-1";
pub const START_MS: u64 = 1_790_000_000_000;

pub fn venv() -> PathBuf {
    let v = std::env::var_os("SLIPWAY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    assert!(
        v.join("bin/python").exists() && v.join("bin/aws").exists(),
        "no Python venv with boto3 and awscli at {}: run scripts/setup",
        v.display()
    );
    v
}

pub struct Rig {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<ServerHandle>,
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub venv: PathBuf,
    config: Config,
}

impl Rig {
    pub fn start() -> Rig {
        Rig::start_with(|_| {})
    }

    /// A rig whose configuration `adjust` changes first.
    pub fn start_with(adjust: impl FnOnce(&mut Config)) -> Rig {
        let venv = venv();
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START_MS));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let python = venv.join("bin/python");
        let mut config = Config::new(dir.path().join("data"));
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.clock = clock.clone();
        config.tick_interval = Duration::from_millis(20);
        config.python = PythonConfig {
            interpreters: ["python3.11", "python3.12", "python3.13"]
                .into_iter()
                .map(|r| (r.to_owned(), python.clone()))
                .collect(),
            fallback: python,
            runtime_paths: Vec::new(),
            ..PythonConfig::default()
        };
        adjust(&mut config);
        let server = rt.block_on(Server::new(config.clone()).start()).unwrap();
        let engine = server.engine();
        Rig {
            rt,
            server: Some(server),
            engine,
            clock,
            dir,
            venv,
            config,
        }
    }

    /// Stops the server and starts a new one on the same data directory (and port 0 again).
    pub fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown()).unwrap();
        }
        let server = self
            .rt
            .block_on(Server::new(self.config.clone()).start())
            .unwrap();
        self.engine = server.engine();
        self.server = Some(server);
    }

    /// `http://127.0.0.1:PORT` (also when bound to every address).
    pub fn endpoint(&self) -> String {
        let port = self.server.as_ref().unwrap().addr().port();
        format!("http://127.0.0.1:{port}")
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// Writes `files` (path → text) under the project directory.
    pub fn write(&self, files: &[(&str, &str)]) {
        for (p, text) in files {
            let path = self.project().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    /// `Engine::deploy` on this thread, inside the server's tokio runtime (hooks are invoked
    /// through the runtime), as an embedded `slipway deploy` would.
    pub fn deploy(&self, stack: &str, template: &str) -> OperationReport {
        let _guard = self.rt.enter();
        let req = DeployRequest {
            target: TARGET.into(),
            stack_name: stack.into(),
            template: template.into(),
            file: "template.yaml".into(),
            code_root: Some(self.project()),
            ..DeployRequest::default()
        };
        self.server
            .as_ref()
            .unwrap()
            .with_engine(|e| e.deploy(&req))
            .unwrap()
    }

    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.dir.path())
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(self.dir.path());
        c
    }

    /// `aws ARGS…`; returns the output whatever the exit status.
    pub fn aws_raw(&self, args: &[&str]) -> Output {
        self.command(&self.venv.join("bin/aws"))
            .args(args)
            .output()
            .unwrap()
    }

    /// `aws ARGS…`, which must succeed; its stdout.
    pub fn aws(&self, args: &[&str]) -> String {
        let out = self.aws_raw(args);
        assert!(
            out.status.success(),
            "aws {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `aws … --output json`, parsed.
    pub fn aws_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["--output", "json"]);
        let out = self.aws(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("aws {args:?}: {e}: {out}"))
    }

    /// Runs a Python script with boto3; it must exit 0. Its stdout.
    pub fn python(&self, script: &str) -> String {
        let out = self
            .command(&self.venv.join("bin/python"))
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python failed ({}):\n{script}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Waits (real time, bounded) for something a real process does — a hook running in its
    /// own interpreter and calling back over HTTP. Time in the engine moves only with the
    /// manual clock; this polls for an effect, it does not wait for time to pass.
    #[allow(clippy::disallowed_methods)]
    pub fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown()).unwrap();
        }
    }
}
