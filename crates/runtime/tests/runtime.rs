//! End-to-end tests of the runtime with real processes: the built-in Python bootstrap, a shell
//! `bootstrap`, and the official `awslambdaric` against Slipway's Runtime API.
//!
//! No test waits for time to pass: idle reaping reads a `ManualClock`; the timeout test waits
//! for the platform's own deadline (1 s), which is the behaviour under test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use slipway_model::function::{FunctionSpec, Location, Version};
use slipway_model::invoke::{FunctionError, InvokeError, InvokeRequest, InvokeResponse, Invoker};
use slipway_runtime::sdk::BOTO3_VERSION;
use slipway_runtime::{ManualClock, PythonSdk, Runtime, RuntimeConfig};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("runtime-tests")
        .join(format!("{name}-{}", fastrand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_suffix() -> String {
    slipway_runtime::new_request_id()[..8].to_owned()
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn spec(name: &str, code_dir: &Path, handler: &str) -> FunctionSpec {
    FunctionSpec {
        name: name.to_owned(),
        version: Version::Latest,
        location: Location::default(),
        runtime: "python3.11".to_owned(),
        handler: handler.to_owned(),
        code_dir: code_dir.to_path_buf(),
        layers: Vec::new(),
        memory_mb: 128,
        timeout_secs: 3,
        environment: BTreeMap::new(),
        reserved_concurrency: None,
        architectures: vec!["x86_64".to_owned()],
        description: String::new(),
    }
}

struct Fixture {
    runtime: Runtime,
    code: PathBuf,
}

fn fixture(name: &str, configure: impl FnOnce(&mut RuntimeConfig)) -> Fixture {
    let root = scratch(name);
    let code = root.join("code");
    std::fs::create_dir_all(&code).unwrap();
    let mut config = RuntimeConfig::new(root.join("work"));
    configure(&mut config);
    Fixture {
        runtime: Runtime::new(config).unwrap(),
        code,
    }
}

async fn invoke(runtime: &Runtime, function: &str, payload: Value) -> InvokeResponse {
    runtime
        .invoke(InvokeRequest::new(
            function,
            Version::Latest,
            payload.to_string(),
        ))
        .await
        .unwrap()
}

fn body(response: &InvokeResponse) -> Value {
    serde_json::from_slice(&response.payload)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&response.payload)))
}

fn log_text(runtime: &Runtime, function: &str) -> String {
    runtime
        .logs(function, &Version::Latest)
        .into_iter()
        .map(|r| r.message)
        .collect::<Vec<_>>()
        .join("\n")
}

const CONTEXT_HANDLER: &str = r#"
import logging, os
calls = 0
print("module loaded")

def handler(event, context):
    global calls
    calls += 1
    print("hello from handler")
    logging.getLogger().warning("careful")
    return {
        "event": event,
        "calls": calls,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": context.identity.cognito_identity_id,
        "client_context": context.client_context,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
"#;

const CLIENT_HANDLER: &str = r#"
def handler(event, context):
    cc = context.client_context
    return {
        "custom": cc and cc.custom,
        "env": cc and cc.env,
        "installation_id": cc and cc.client and cc.client.installation_id,
        "app_title": cc and cc.client and cc.client.app_title,
        "w3c": context.w3c(),
        "identity_id": context.identity.cognito_identity_id,
        "identity_pool_id": context.identity.cognito_identity_pool_id,
    }
"#;

/// The client context (`X-Amz-Client-Context`, with its `w3c` part taken out as awslambdaric
/// does) and the Cognito identity reach the handler's context; without them, empty ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_context_and_cognito_identity_reach_the_context() {
    use base64::Engine as _;
    let f = fixture("client-context", |_| {});
    write(&f.code, "app.py", CLIENT_HANDLER);
    f.runtime.register(spec("client", &f.code, "app.handler"));
    let document = json!({
        "custom": {"tier": "gold"},
        "env": {"locale": "en_GB"},
        "client": {"installation_id": "inst-1", "app_title": "Shop"},
        "w3c": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "other": 1},
    });
    let mut request = InvokeRequest::new("client", Version::Latest, "{}");
    request.client_context =
        Some(base64::engine::general_purpose::STANDARD.encode(document.to_string()));
    request.cognito_identity =
        Some(json!({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}).to_string());
    let b = body(&f.runtime.invoke(request).await.unwrap());
    assert_eq!(
        b,
        json!({
            "custom": {"tier": "gold"},
            "env": {"locale": "en_GB"},
            "installation_id": "inst-1",
            "app_title": "Shop",
            "w3c": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
            "identity_id": "id-1",
            "identity_pool_id": "pool-1",
        })
    );
    let bare = body(&invoke(&f.runtime, "client", json!({})).await);
    assert_eq!(
        bare,
        json!({
            "custom": null, "env": null, "installation_id": null, "app_title": null,
            "w3c": {}, "identity_id": null, "identity_pool_id": null,
        })
    );
}

const TRACE_HANDLER: &str = r#"
import os, subprocess

def handler(event, context):
    child = subprocess.run(["sh", "-c", "printf %s \"$_X_AMZN_TRACE_ID\""], capture_output=True, text=True)
    return {"environ": os.environ.get("_X_AMZN_TRACE_ID"), "getenv": os.getenv("_X_AMZN_TRACE_ID"), "child": child.stdout}
"#;

/// The bootstrap keeps the trace ID in os.environ's mapping and writes it to the C environment
/// only before a process starts (`_set_trace`): each invocation's own ID reaches both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invocation_sees_its_trace_id_in_os_environ_and_in_its_child_processes() {
    let f = fixture("trace", |_| {});
    write(&f.code, "app.py", TRACE_HANDLER);
    f.runtime.register(spec("traced", &f.code, "app.handler"));
    for n in 1..=3 {
        let trace =
            format!("Root=1-67891233-abcdef01234567891234567{n};Parent=53995c3f42cd8ad8;Sampled=1");
        let mut request = InvokeRequest::new("traced", Version::Latest, "{}");
        request.trace_id = Some(trace.clone());
        let response = f.runtime.invoke(request).await.unwrap();
        let b = body(&response);
        assert_eq!(
            (
                b["environ"].as_str(),
                b["getenv"].as_str(),
                b["child"].as_str()
            ),
            (
                Some(trace.as_str()),
                Some(trace.as_str()),
                Some(trace.as_str())
            ),
            "invocation {n}: {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_handler_sees_lambda_context_and_state_survives() {
    let f = fixture("context", |_| {});
    write(&f.code, "app.py", CONTEXT_HANDLER);
    f.runtime.register(spec("hello", &f.code, "app.handler"));

    let first = invoke(&f.runtime, "hello", json!({"name": "world"})).await;
    assert_eq!(first.function_error, None, "{:?}", first.payload);
    assert_eq!(first.executed_version, Version::Latest);
    let b = body(&first);
    assert_eq!(b["event"], json!({"name": "world"}));
    assert_eq!(b["calls"], 1);
    assert_eq!(b["request_id"], first.request_id.as_str());
    assert_eq!(b["function_name"], "hello");
    assert_eq!(b["function_version"], "$LATEST");
    assert_eq!(b["memory_limit_in_mb"], "128");
    assert_eq!(
        b["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello"
    );
    assert_eq!(b["log_group_name"], "/aws/lambda/hello");
    assert!(
        b["log_stream_name"]
            .as_str()
            .unwrap()
            .contains("/[$LATEST]"),
        "{b}"
    );
    assert_eq!(b["cwd"], f.code.display().to_string());
    let remaining = b["remaining"].as_i64().unwrap();
    assert!(remaining > 2000 && remaining <= 3000, "{remaining}");
    assert!(b["trace"].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(b["identity"], Value::Null);
    assert_eq!(b["client_context"], Value::Null);

    // Warm: same process, module state kept.
    let mut request = InvokeRequest::new("hello", Version::Latest, "{}");
    request.qualifier = Some("live".to_owned());
    request.log_tail = true;
    let second = f.runtime.invoke(request).await.unwrap();
    let b2 = body(&second);
    assert_eq!(b2["calls"], 2);
    assert_eq!(b2["pid"], b["pid"]);
    assert_eq!(
        b2["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:hello:live"
    );
    use base64::Engine as _;
    let tail = base64::engine::general_purpose::STANDARD
        .decode(second.log_result.unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    assert!(
        tail.starts_with(&format!(
            "START RequestId: {} Version: $LATEST\n",
            second.request_id
        )),
        "{tail}"
    );
    assert!(tail.contains("\nhello from handler\n"), "{tail}");

    let logs = log_text(&f.runtime, "hello");
    let id = &first.request_id;
    let lines: Vec<&str> = logs.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == format!("START RequestId: {id} Version: $LATEST"))
        .unwrap();
    assert_eq!(lines[start - 1], "module loaded", "{logs}");
    assert_eq!(lines[start + 1], "hello from handler");
    assert!(lines[start + 2].starts_with("[WARNING]\t20"), "{logs}");
    assert!(
        lines[start + 2].ends_with(&format!("Z\t{id}\tcareful")),
        "{logs}"
    );
    assert_eq!(lines[start + 3], format!("END RequestId: {id}"));
    let report = lines[start + 4];
    assert!(
        report.starts_with(&format!("REPORT RequestId: {id}\tDuration: ")),
        "{report}"
    );
    assert!(report.contains("\tBilled Duration: "), "{report}");
    assert!(
        report.contains("\tMemory Size: 128 MB\tMax Memory Used: "),
        "{report}"
    );
    assert!(report.contains("\tInit Duration: "), "{report}");
    let second_report = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("REPORT"))
        .unwrap();
    assert!(!second_report.contains("Init Duration"), "{second_report}");

    let metrics = f.runtime.metrics("hello", &Version::Latest).unwrap();
    assert_eq!(
        (metrics.invocations, metrics.cold_starts, metrics.errors),
        (2, 1, 0)
    );
    assert_eq!(metrics.environments, 1);
    assert_eq!(
        metrics.log_flush_timeouts, 0,
        "every line reached the log before END"
    );
    // The same two invocations by minute (two minutes when they straddle one's end).
    let minutes = f
        .runtime
        .minutes_at(None, "hello", &Version::Latest)
        .unwrap();
    let sum = |g: fn(&slipway_runtime::Minute) -> u32| minutes.iter().map(g).sum::<u32>();
    assert_eq!(
        (
            sum(|m| m.invocations),
            sum(|m| m.cold_starts),
            sum(|m| m.errors),
            sum(|m| m.timed)
        ),
        (2, 1, 0, 2)
    );
    let p99 = minutes.last().unwrap().quantile_ms(0.99).unwrap();
    assert!(
        p99 > 0.0 && p99 <= metrics.duration_ms_max * std::f64::consts::SQRT_2 + 1e-9,
        "{p99}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_clean_and_reserved_variables_win() {
    let f = fixture("env", |c| {
        c.extra_env.insert(
            "AWS_ENDPOINT_URL".to_owned(),
            "http://127.0.0.1:8040".to_owned(),
        );
    });
    write(
        &f.code,
        "dir/app.py",
        "import os, tempfile\ndef fn(event, context):\n    return {'env': dict(os.environ), 'tmp': tempfile.gettempdir()}\n",
    );
    let mut s = spec("envcheck", &f.code, "dir/app.fn");
    s.environment
        .insert("TABLE_NAME".to_owned(), "orders".to_owned());
    s.environment
        .insert("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "spoofed".to_owned());
    f.runtime.register(s);
    let response = invoke(&f.runtime, "envcheck", json!({})).await;
    let b = body(&response);
    let env = b["env"].as_object().unwrap();
    // The test process has these; the function must not.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    for leaked in ["CARGO_MANIFEST_DIR", "HOME", "USER", "RUST_BACKTRACE"] {
        assert!(!env.contains_key(leaked), "{leaked} leaked: {env:?}");
    }
    assert_eq!(env["TABLE_NAME"], "orders");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "envcheck");
    assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:8040");
    assert_eq!(env["_HANDLER"], "dir/app.fn");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.11");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["LAMBDA_TASK_ROOT"], f.code.display().to_string());
    assert_eq!(env["LANG"], "en_US.UTF-8");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(!env.contains_key("_SLIPWAY_PYTHONPATH"));
    let tmp = b["tmp"].as_str().unwrap();
    assert_eq!(env["TMPDIR"], tmp);
    assert!(tmp.contains("/work/tmp/env-"), "{tmp}");
}

async fn error_of(f: &Fixture, name: &str, handler: &str) -> Value {
    f.runtime.register(spec(name, &f.code, handler));
    let response = invoke(&f.runtime, name, json!({})).await;
    assert_eq!(response.function_error, Some(FunctionError::Unhandled));
    body(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_shapes_match_awslambdaric() {
    let f = fixture("errors", |_| {});
    write(
        &f.code,
        "app.py",
        "import datetime\ndef raises(event, context):\n    return {}['missing']\n\ndef unserialisable(event, context):\n    return {'when': datetime.datetime(2020, 1, 1)}\n",
    );
    write(&f.code, "broken.py", "def handler(:\n");
    write(&f.code, "needs.py", "import not_installed_anywhere\n");

    let raised = error_of(&f, "raises", "app.raises").await;
    assert_eq!(raised["errorType"], "KeyError");
    assert_eq!(raised["errorMessage"], "'missing'");
    let trace = raised["stackTrace"].as_array().unwrap();
    assert_eq!(trace.len(), 1, "{raised}");
    assert!(
        trace[0]
            .as_str()
            .unwrap()
            .contains("app.py\", line 3, in raises"),
        "{raised}"
    );
    assert_eq!(raised["requestId"].as_str().unwrap().len(), 36);
    let logs = log_text(&f.runtime, "raises");
    assert!(
        logs.contains(
            "[ERROR] KeyError: 'missing'\rTraceback (most recent call last):\r\u{a0}\u{a0}File"
        ),
        "{logs:?}"
    );

    let marshal = error_of(&f, "marshal", "app.unserialisable").await;
    assert_eq!(marshal["errorType"], "Runtime.MarshalError");
    assert_eq!(
        marshal["errorMessage"],
        "Unable to marshal response: Object of type datetime is not JSON serializable"
    );

    let missing = error_of(&f, "missing", "app.nope").await;
    assert_eq!(
        missing,
        json!({"errorMessage": "Handler 'nope' missing on module 'app'", "errorType": "Runtime.HandlerNotFound", "requestId": "", "stackTrace": []})
    );

    let import = error_of(&f, "import", "needs.handler").await;
    assert_eq!(import["errorType"], "Runtime.ImportModuleError");
    assert_eq!(
        import["errorMessage"],
        "Unable to import module 'needs': No module named 'not_installed_anywhere'"
    );
    let logs = log_text(&f.runtime, "import");
    assert!(logs.contains("INIT_REPORT Init Duration: "), "{logs}");
    assert!(
        logs.contains("Status: error\tError Type: Runtime.ImportModuleError"),
        "{logs}"
    );

    let syntax = error_of(&f, "syntax", "broken.handler").await;
    assert_eq!(syntax["errorType"], "Runtime.UserCodeSyntaxError");
    assert!(
        syntax["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Syntax error in module 'broken': "),
        "{syntax}"
    );

    let malformed = error_of(&f, "malformed", "nodot").await;
    assert_eq!(malformed["errorType"], "Runtime.MalformedHandlerName");
    assert_eq!(
        malformed["errorMessage"],
        "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_error_is_retried_on_the_next_invoke() {
    let f = fixture("retry", |_| {});
    write(&f.code, "app.py", "raise RuntimeError('not yet')\n");
    f.runtime.register(spec("retry", &f.code, "app.handler"));
    let failed = invoke(&f.runtime, "retry", json!({})).await;
    let b = body(&failed);
    assert_eq!(b["errorType"], "RuntimeError");
    assert_eq!(b["errorMessage"], "not yet");
    write(
        &f.code,
        "app.py",
        "def handler(event, context):\n    return 'ok'\n",
    );
    let ok = invoke(&f.runtime, "retry", json!({})).await;
    assert_eq!(ok.function_error, None);
    assert_eq!(&ok.payload[..], b"\"ok\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_are_exit_errors_and_the_environment_is_replaced() {
    let f = fixture("crash", |_| {});
    write(
        &f.code,
        "app.py",
        "import os, signal\ndef handler(event, context):\n    if event.get('exit') is not None:\n        os._exit(event['exit'])\n    if event.get('kill'):\n        os.kill(os.getpid(), signal.SIGKILL)\n    return os.getpid()\n",
    );
    f.runtime.register(spec("crash", &f.code, "app.handler"));
    let pid = body(&invoke(&f.runtime, "crash", json!({})).await);
    let exited = invoke(&f.runtime, "crash", json!({"exit": 3})).await;
    let b = body(&exited);
    assert_eq!(b["errorType"], "Runtime.ExitError");
    assert_eq!(
        b["errorMessage"],
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status 3",
            exited.request_id
        )
    );
    let killed = body(&invoke(&f.runtime, "crash", json!({"kill": true})).await);
    assert!(
        killed["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: signal: killed"),
        "{killed}"
    );
    let again = body(&invoke(&f.runtime, "crash", json!({})).await);
    assert_ne!(again, pid, "a fresh environment");
    let m = f.runtime.metrics("crash", &Version::Latest).unwrap();
    assert_eq!((m.errors, m.cold_starts, m.environments), (2, 3, 1));
    let minutes = f
        .runtime
        .minutes_at(None, "crash", &Version::Latest)
        .unwrap();
    let errors: u32 = minutes.iter().map(|m| m.errors).sum();
    let cold: u32 = minutes.iter().map(|m| m.cold_starts).sum();
    assert_eq!((errors, cold), (2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_environment() {
    let f = fixture("timeout", |_| {});
    write(
        &f.code,
        "app.py",
        "import threading\ndef handler(event, context):\n    if event.get('hang'):\n        threading.Event().wait()\n    return 'fine'\n",
    );
    let mut s = spec("slow", &f.code, "app.handler");
    s.timeout_secs = 1;
    f.runtime.register(s);
    let timed_out = invoke(&f.runtime, "slow", json!({"hang": true})).await;
    assert_eq!(timed_out.function_error, Some(FunctionError::Unhandled));
    let b = body(&timed_out);
    assert_eq!(b["errorType"], "Sandbox.Timedout");
    let message = b["errorMessage"].as_str().unwrap();
    assert!(
        message.ends_with(&format!(
            "Z {} Task timed out after 1.00 seconds",
            timed_out.request_id
        )),
        "{message}"
    );
    let logs = log_text(&f.runtime, "slow");
    assert!(logs.contains("\tStatus: timeout"), "{logs}");
    assert_eq!(
        &invoke(&f.runtime, "slow", json!({})).await.payload[..],
        b"\"fine\""
    );
    let m = f.runtime.metrics("slow", &Version::Latest).unwrap();
    assert_eq!((m.timeouts, m.cold_starts), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_cap_throttles_with_429() {
    let f = fixture("cap", |c| c.throttle_wait = Duration::from_millis(20));
    write(
        &f.code,
        "app.py",
        "import socket\ndef handler(event, context):\n    s = socket.create_connection(('127.0.0.1', event['port']))\n    s.recv(1)\n    return 'released'\n",
    );
    let mut s = spec("capped", &f.code, "app.handler");
    s.reserved_concurrency = Some(1);
    f.runtime.register(s);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let runtime = f.runtime.clone();
    let first =
        tokio::spawn(async move { invoke(&runtime, "capped", json!({"port": port})).await });
    // The handler is running once it connects.
    let (mut conn, _) = listener.accept().await.unwrap();
    let throttled = f
        .runtime
        .invoke(InvokeRequest::new("capped", Version::Latest, "{}"))
        .await
        .unwrap_err();
    assert!(matches!(throttled, InvokeError::TooManyRequests { .. }));
    assert_eq!(throttled.aws_error(), ("TooManyRequestsException", 429));
    use tokio::io::AsyncWriteExt;
    conn.write_all(b"x").await.unwrap();
    assert_eq!(&first.await.unwrap().payload[..], b"\"released\"");
    let m = f.runtime.metrics("capped", &Version::Latest).unwrap();
    assert_eq!((m.throttles, m.max_concurrent), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_environments_are_reaped_by_the_clock() {
    let clock = Arc::new(ManualClock::default());
    let c = clock.clone();
    let f = fixture("reap", move |config| {
        config.clock = c;
        config.idle_timeout = Duration::from_secs(600);
    });
    write(
        &f.code,
        "app.py",
        "def handler(event, context):\n    return 1\n",
    );
    f.runtime.register(spec("idle", &f.code, "app.handler"));
    invoke(&f.runtime, "idle", json!({})).await;
    assert_eq!(f.runtime.idle_environments("idle", &Version::Latest), 1);
    clock.advance(Duration::from_secs(599));
    assert_eq!(f.runtime.reap_idle(), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(f.runtime.reap_idle(), 1);
    assert_eq!(f.runtime.idle_environments("idle", &Version::Latest), 0);
    invoke(&f.runtime, "idle", json!({})).await;
    let m = f.runtime.metrics("idle", &Version::Latest).unwrap();
    assert_eq!((m.cold_starts, m.environments), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_and_runtime_packages_are_importable() {
    let root = scratch("layers");
    let runtime_dir = root.join("runtime-site");
    write(
        &runtime_dir,
        "boto3/__init__.py",
        "__version__ = 'cached'\n",
    );
    let rt = runtime_dir.clone();
    let f = fixture("layers", move |c| c.python.runtime_paths = vec![rt]);
    let layer = f.code.parent().unwrap().join("layer");
    write(&layer, "python/shared_lib.py", "VALUE = 'from layer'\n");
    write(
        &layer,
        "python/lib/python3.11/site-packages/dep.py",
        "VALUE = 'from site-packages'\n",
    );
    write(
        &f.code,
        "app.py",
        "import shared_lib, dep, boto3\ndef handler(event, context):\n    return [shared_lib.VALUE, dep.VALUE, boto3.__version__]\n",
    );
    let mut s = spec("layered", &f.code, "app.handler");
    s.layers = vec![layer];
    f.runtime.register(s);
    let b = body(&invoke(&f.runtime, "layered", json!({})).await);
    assert_eq!(b, json!(["from layer", "from site-packages", "cached"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_fails_the_invoke() {
    let f = fixture("memory", |_| {});
    write(
        &f.code,
        "app.py",
        "def handler(event, context):\n    if event.get('big'):\n        return len(bytearray(512 * 1024 * 1024))\n    return 'small'\n",
    );
    f.runtime.register(spec("hungry", &f.code, "app.handler"));
    let oom = invoke(&f.runtime, "hungry", json!({"big": true})).await;
    let b = body(&oom);
    assert_eq!(b["errorType"], "Runtime.OutOfMemory", "{b}");
    assert_eq!(
        &invoke(&f.runtime, "hungry", json!({})).await.payload[..],
        b"\"small\""
    );
    assert_eq!(
        f.runtime
            .metrics("hungry", &Version::Latest)
            .unwrap()
            .cold_starts,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_script_custom_runtime() {
    let f = fixture("provided", |_| {});
    write(
        &f.code,
        "bootstrap",
        r#"#!/bin/sh
set -eu
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
echo "custom runtime up: $_HANDLER"
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "$api/invocation/next")
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  echo "got $id"
  curl -sS -o /dev/null -X POST "$api/invocation/$id/response" -d "{\"echo\":$event}"
done
"#,
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        f.code.join("bootstrap"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut s = spec("custom", &f.code, "function.handler");
    s.runtime = "provided.al2023".to_owned();
    f.runtime.register(s);
    for n in 0..2 {
        let response = invoke(&f.runtime, "custom", json!({"n": n})).await;
        assert_eq!(body(&response), json!({"echo": {"n": n}}));
    }
    let logs = log_text(&f.runtime, "custom");
    assert!(
        logs.contains("custom runtime up: function.handler"),
        "{logs}"
    );
    assert_eq!(
        f.runtime
            .metrics("custom", &Version::Latest)
            .unwrap()
            .cold_starts,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_custom_bootstrap_is_an_invalid_entrypoint() {
    let f = fixture("noboot", |_| {});
    let mut s = spec("noboot", &f.code, "x");
    s.runtime = "provided.al2".to_owned();
    f.runtime.register(s);
    let b = body(&invoke(&f.runtime, "noboot", json!({})).await);
    assert_eq!(b["errorType"], "Runtime.InvalidEntrypoint");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_and_bad_payloads() {
    let f = fixture("unknown", |_| {});
    let err = f
        .runtime
        .invoke(InvokeRequest::new("ghost", Version::Latest, "{}"))
        .await
        .unwrap_err();
    assert_eq!(err.aws_error(), ("ResourceNotFoundException", 404));
    write(&f.code, "app.py", "def handler(e, c):\n    return e\n");
    f.runtime.register(spec("echo", &f.code, "app.handler"));
    let err = f
        .runtime
        .invoke(InvokeRequest::new("echo", Version::Latest, "{not json"))
        .await
        .unwrap_err();
    assert_eq!(err.aws_error(), ("InvalidRequestContentException", 400));
    let mut nodejs = spec("node", &f.code, "index.handler");
    nodejs.runtime = "nodejs20.x".to_owned();
    f.runtime.register(nodejs);
    let err = f
        .runtime
        .invoke(InvokeRequest::new("node", Version::Latest, "{}"))
        .await
        .unwrap_err();
    assert_eq!(err.aws_error(), ("InvalidRuntimeException", 502));
}

/// The venv made by `scripts/setup`, which holds the official runtime interface client.
fn test_venv() -> PathBuf {
    let venv = std::env::var_os("SLIPWAY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} not found: run scripts/setup (it creates the venv with awslambdaric that this test needs)",
        python.display()
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_awslambdaric_runs_against_our_runtime_api() {
    let venv = test_venv();
    let f = fixture("ric", |_| {});
    write(&f.code, "app.py", CONTEXT_HANDLER);
    // A venv's python must be run by its own path (not canonicalised) to find its packages.
    write(
        &f.code,
        "bootstrap",
        &format!(
            "#!/bin/sh\nexec '{}' -m awslambdaric \"$_HANDLER\"\n",
            venv.join("bin/python").display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        f.code.join("bootstrap"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut s = spec("ric", &f.code, "app.handler");
    s.runtime = "provided.al2023".to_owned();
    s.memory_mb = 512;
    f.runtime.register(s);
    let first = invoke(&f.runtime, "ric", json!({"via": "awslambdaric"})).await;
    assert_eq!(
        first.function_error,
        None,
        "{:?}",
        String::from_utf8_lossy(&first.payload)
    );
    let b = body(&first);
    assert_eq!(b["event"], json!({"via": "awslambdaric"}));
    assert_eq!(b["request_id"], first.request_id.as_str());
    assert_eq!(b["function_name"], "ric");
    assert_eq!(b["memory_limit_in_mb"], "512");
    assert!(b["remaining"].as_i64().unwrap() > 2000);
    let second = invoke(&f.runtime, "ric", json!({})).await;
    assert_eq!(body(&second)["calls"], 2);

    // Its error shape, which our bootstrap reproduces.
    write(
        &f.code,
        "bad.py",
        "def handler(e, c):\n    raise ValueError('boom')\n",
    );
    let mut s = spec("ric-error", &f.code, "bad.handler");
    s.runtime = "provided.al2023".to_owned();
    s.memory_mb = 512;
    f.runtime.register(s);
    let error = body(&invoke(&f.runtime, "ric-error", json!({})).await);
    assert_eq!(error["errorType"], "ValueError");
    assert_eq!(error["errorMessage"], "boom");
    assert_eq!(error["stackTrace"].as_array().unwrap().len(), 1, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_once_is_what_the_cli_calls() {
    let root = scratch("once");
    let code = root.join("code");
    write(
        &code,
        "app.py",
        "def handler(e, c):\n    return {'got': e}\n",
    );
    let mut config = RuntimeConfig::new(root.join("work"));
    config.log_sink = Some(Arc::new(slipway_runtime::StderrLogSink::default()));
    let response = slipway_runtime::invoke_once(
        config,
        spec("once", &code, "app.handler"),
        bytes::Bytes::from_static(b"{\"a\": 1}"),
    )
    .await
    .unwrap();
    assert_eq!(body(&response), json!({"got": {"a": 1}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_decimals_and_oversized_responses() {
    let f = fixture("large", |_| {});
    write(
        &f.code,
        "app.py",
        "import decimal\ndef handler(event, context):\n    if event.get('huge'):\n        return 'x' * (7 * 1024 * 1024)\n    return {'len': len(event['blob']), 'dec': decimal.Decimal('3'), 'uni': '\\u00e9'}\n",
    );
    let mut s = spec("large", &f.code, "app.handler");
    s.memory_mb = 256;
    f.runtime.register(s);
    let blob = "y".repeat(3 * 1024 * 1024);
    let response = invoke(&f.runtime, "large", json!({ "blob": blob })).await;
    assert_eq!(
        String::from_utf8_lossy(&response.payload),
        r#"{"len": 3145728, "dec": 3, "uni": "\u00e9"}"#
    );
    let too_big = body(&invoke(&f.runtime, "large", json!({"huge": true})).await);
    assert_eq!(
        too_big["errorType"], "Function.ResponseSizeTooLarge",
        "{too_big}"
    );
}

/// Our bootstrap and the official client answer the same faulty handlers with the same JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_json_is_identical_to_awslambdaric() {
    let venv = test_venv();
    let f = fixture("ric-compare", |_| {});
    write(
        &f.code,
        "app.py",
        "import datetime\ndef raises(event, context):\n    return helper()\n\ndef helper():\n    raise ValueError('boom')\n\ndef unserialisable(event, context):\n    return {'when': datetime.datetime(2020, 1, 1)}\n",
    );
    write(&f.code, "needs.py", "import not_installed_anywhere\n");
    write(&f.code, "broken.py", "def handler(:\n");
    write(
        &f.code,
        "bootstrap",
        &format!(
            "#!/bin/sh\nexec '{}' -m awslambdaric \"$_HANDLER\"\n",
            venv.join("bin/python").display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        f.code.join("bootstrap"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for (n, handler) in [
        "app.raises",
        "app.unserialisable",
        "app.nope",
        "needs.handler",
        "broken.handler",
        "nodot",
    ]
    .into_iter()
    .enumerate()
    {
        let ours = format!("ours{n}");
        let theirs = format!("ric{n}");
        f.runtime.register(spec(&ours, &f.code, handler));
        let mut s = spec(&theirs, &f.code, handler);
        s.runtime = "provided.al2023".to_owned();
        s.memory_mb = 512;
        f.runtime.register(s);
        let a = invoke(&f.runtime, &ours, json!({})).await;
        let b = invoke(&f.runtime, &theirs, json!({})).await;
        let (mut a_body, mut b_body) = (body(&a), body(&b));
        for (value, response) in [(&mut a_body, &a), (&mut b_body, &b)] {
            // Request ids differ by construction; they must be this invocation's (or "").
            let id = value["requestId"].take();
            assert!(id == json!("") || id == json!(response.request_id), "{id}");
        }
        assert_eq!(a_body, b_body, "{handler}");
        assert_eq!(a.function_error, b.function_error);
    }
}

/// The built-in bootstrap speaks the fast channel by default and the Runtime API when it is
/// turned off: both give the same answers, errors, init errors and size limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_bootstrap_answers_alike_on_both_channels() {
    let mut seen = Vec::new();
    for fast in [true, false] {
        let f = fixture(&format!("channel-{fast}"), |c| c.fast_channel = fast);
        write(
            &f.code,
            "app.py",
            "def handler(event, context):\n    print('in handler')\n    return {'id': context.aws_request_id != '', 'arn': context.invoked_function_arn, 'left': context.get_remaining_time_in_millis() > 0, 'event': event}\n\ndef fails(event, context):\n    raise ValueError('no')\n\ndef huge(event, context):\n    return 'x' * (7 * 1024 * 1024)\n",
        );
        write(&f.code, "bad.py", "raise RuntimeError('at import')\n");
        f.runtime.register(spec("ok", &f.code, "app.handler"));
        let ok = body(&invoke(&f.runtime, "ok", json!({"k": [1, 2]})).await);
        assert_eq!(ok["event"], json!({"k": [1, 2]}), "fast={fast}");
        assert_eq!(ok["id"], true);
        assert_eq!(ok["left"], true);
        assert!(
            log_text(&f.runtime, "ok").contains("in handler"),
            "fast={fast}"
        );
        let failed = error_of(&f, "fails", "app.fails").await;
        let large = error_of(&f, "huge", "app.huge").await;
        let init = error_of(&f, "bad", "bad.handler").await;
        // The init error's report carries the real init time, not the init timeout.
        let log = log_text(&f.runtime, "bad");
        let report = log
            .lines()
            .find(|l| l.contains("INIT_REPORT Init Duration: "))
            .unwrap_or_else(|| panic!("{log}"));
        let ms: f64 = report
            .split("Init Duration: ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(ms < 10_000.0, "{report}");
        seen.push((
            ok["arn"].clone(),
            failed["errorType"].clone(),
            failed["errorMessage"].clone(),
            large["errorType"].clone(),
            init["errorType"].clone(),
            init["errorMessage"].clone(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].1, "ValueError");
    assert_eq!(seen[0].3, "Function.ResponseSizeTooLarge");
    assert_eq!(seen[0].4, "RuntimeError");
}

/// `prewarm` starts environments through init before any invoke, as provisioned concurrency
/// does: the first invoke is warm and its REPORT shows no init.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prewarmed_environments_serve_the_first_invoke_warm() {
    let f = fixture("prewarm", |_| {});
    write(
        &f.code,
        "app.py",
        "import os\ndef handler(event, context):\n    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n",
    );
    let mut s = spec("pre", &f.code, "app.handler");
    s.reserved_concurrency = Some(3);
    f.runtime.register(s);
    // Never more than the concurrency cap.
    let started = f.runtime.prewarm("pre", &Version::Latest, 5).await.unwrap();
    assert_eq!(started, 3);
    assert_eq!(f.runtime.idle_environments("pre", &Version::Latest), 3);
    let r = invoke(&f.runtime, "pre", json!({})).await;
    assert_eq!(&r.payload[..], b"\"provisioned-concurrency\"");
    let m = f.runtime.metrics("pre", &Version::Latest).unwrap();
    assert_eq!(m.cold_starts, 0, "{m:?}");
    let log = log_text(&f.runtime, "pre");
    let report = log.lines().find(|l| l.starts_with("REPORT")).unwrap();
    assert!(!report.contains("Init Duration"), "{report}");
    // Already warm: nothing more to start.
    assert_eq!(
        f.runtime.prewarm("pre", &Version::Latest, 2).await.unwrap(),
        0
    );

    write(&f.code, "bad.py", "raise RuntimeError('at import')\n");
    f.runtime.register(spec("bad", &f.code, "bad.handler"));
    let err = f
        .runtime
        .prewarm("bad", &Version::Latest, 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Runtime"), "{err}");
    assert_eq!(f.runtime.idle_environments("bad", &Version::Latest), 0);
}

/// The target concurrency (`slipway serve`'s default): a short CPU-bound handler called at
/// many connections runs on the busy environments in turn rather than on one each; a handler
/// that waits (here on a socket) still gets an environment per concurrent invoke, as Lambda.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_concurrency_holds_short_cpu_bound_invokes_back() {
    let f = fixture("target", |c| {
        c.target_concurrency = Some(1);
        // Long enough that a held invoke never gives up on a loaded machine.
        c.target_wait = Duration::from_secs(30);
    });
    write(
        &f.code,
        "app.py",
        "import socket, time\ndef busy(event, context):\n    return sum(range(300000))\n\ndef waits(event, context):\n    if 'port' in event:\n        s = socket.create_connection(('127.0.0.1', event['port']))\n        s.recv(1)\n    else:\n        time.sleep(0.05)\n    return 'done'\n",
    );
    f.runtime.register(spec("busy", &f.code, "app.busy"));
    f.runtime.register(spec("waits", &f.code, "app.waits"));

    // What the runtime learns from: a few invocations one at a time.
    for _ in 0..3 {
        invoke(&f.runtime, "busy", json!({})).await;
        invoke(&f.runtime, "waits", json!({})).await;
    }
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let runtime = f.runtime.clone();
            tokio::spawn(async move { invoke(&runtime, "busy", json!({})).await })
        })
        .collect();
    for call in calls {
        assert_eq!(&call.await.unwrap().payload[..], b"44999850000");
    }
    let m = f.runtime.metrics("busy", &Version::Latest).unwrap();
    assert_eq!((m.cold_starts, m.environments), (1, 1), "{m:?}");
    assert_eq!(m.invocations, 9);

    // Two at once, each blocked until the test answers: both must be connected together.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let runtime = f.runtime.clone();
            tokio::spawn(async move { invoke(&runtime, "waits", json!({ "port": port })).await })
        })
        .collect();
    let mut conns = Vec::new();
    for _ in 0..2 {
        let accepted = tokio::time::timeout(Duration::from_secs(20), listener.accept()).await;
        conns.push(accepted.expect("both invokes run at once").unwrap().0);
    }
    use tokio::io::AsyncWriteExt;
    for conn in &mut conns {
        conn.write_all(b"x").await.unwrap();
    }
    for call in calls {
        assert_eq!(&call.await.unwrap().payload[..], b"\"done\"");
    }
    let m = f.runtime.metrics("waits", &Version::Latest).unwrap();
    assert_eq!(m.cold_starts, 2, "{m:?}");
}

/// A caller that goes away mid-invocation (a client hanging up on the gateway) does not cancel
/// it: the invocation runs to its end as on Lambda, its environment goes back to the pool and
/// the concurrency it held is given back — else the target concurrency would count it running
/// for ever and hold every later invoke back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_whose_caller_went_away_still_ends_and_frees_its_environment() {
    let f = fixture("abandoned", |c| c.target_concurrency = Some(1));
    write(
        &f.code,
        "app.py",
        "import socket\ndef handler(event, context):\n    s = socket.create_connection(('127.0.0.1', event['port']))\n    s.recv(1)\n    return 'done'\n",
    );
    f.runtime.register(spec("slow", &f.code, "app.handler"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let runtime = f.runtime.clone();
    let caller =
        tokio::spawn(async move { invoke(&runtime, "slow", json!({ "port": port })).await });
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
        .await
        .expect("the invocation runs")
        .unwrap();
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    use tokio::io::AsyncWriteExt;
    conn.write_all(b"x").await.unwrap();
    // The invocation ends on its own; wait for the books to say so.
    let ended = async {
        loop {
            let m = f.runtime.metrics("slow", &Version::Latest).unwrap();
            if m.concurrent == 0 && f.runtime.idle_environments("slow", &Version::Latest) == 1 {
                return m;
            }
            tokio::task::yield_now().await;
        }
    };
    let m = tokio::time::timeout(Duration::from_secs(30), ended)
        .await
        .expect("the abandoned invocation ended and gave its environment back");
    assert_eq!((m.invocations, m.cold_starts, m.errors), (1, 1, 0), "{m:?}");
}

const SDK_HANDLER: &str = "import sys\nimport boto3, botocore\ndef handler(event, context):\n    return {'boto3': boto3.__version__, 'botocore': botocore.__version__, 'file': boto3.__file__, 'path': sys.path}\n";

/// As on Lambda, `boto3` imports with nothing in the function's requirements: the pinned
/// version, installed once from PyPI into the user's cache (this test downloads it only the
/// first time it runs on a machine). It comes after the function's own code on `sys.path`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_is_provided_from_the_pypi_cache() {
    let f = fixture("sdk", |c| c.python.sdk = PythonSdk::pypi());
    write(&f.code, "app.py", SDK_HANDLER);
    f.runtime.register(spec("sdk", &f.code, "app.handler"));
    let response = invoke(&f.runtime, "sdk", json!({})).await;
    assert!(
        response.function_error.is_none(),
        "{}",
        log_text(&f.runtime, "sdk")
    );
    let b = body(&response);
    assert_eq!(b["boto3"], BOTO3_VERSION);
    assert_eq!(b["botocore"], BOTO3_VERSION);
    let cache = slipway_runtime::sdk::default_cache_dir();
    let file = b["file"].as_str().unwrap();
    assert!(file.starts_with(&cache.display().to_string()), "{file}");
    let path: Vec<&str> = b["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(path[0], f.code.display().to_string(), "{path:?}");
    let sdk_at = path
        .iter()
        .position(|p| p.starts_with(&cache.display().to_string()))
        .unwrap();
    let stdlib_at = path
        .iter()
        .position(|p| p.ends_with("/lib/python3.11"))
        .unwrap();
    assert!(sdk_at < stdlib_at, "{path:?}");

    // A function's own boto3 wins over the provided one.
    let own = f.code.parent().unwrap().join("own");
    write(&own, "app.py", SDK_HANDLER);
    write(&own, "boto3/__init__.py", "__version__ = 'own'\n");
    f.runtime.register(spec("own", &own, "app.handler"));
    assert_eq!(
        body(&invoke(&f.runtime, "own", json!({})).await)["boto3"],
        "own"
    );
}

/// An existing directory serves offline machines; `off` provides nothing; an unreachable
/// index is a warning, and functions that do not import boto3 still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_can_come_from_a_directory_be_off_or_be_unreachable() {
    let dir = scratch("sdk-dir");
    write(&dir, "boto3/__init__.py", "__version__ = 'from dir'\n");
    write(&dir, "botocore/__init__.py", "__version__ = 'from dir'\n");
    let d = dir.clone();
    let f = fixture("sdk-dir", move |c| c.python.sdk = PythonSdk::Dir(d));
    write(&f.code, "app.py", SDK_HANDLER);
    f.runtime.register(spec("dir", &f.code, "app.handler"));
    assert_eq!(
        body(&invoke(&f.runtime, "dir", json!({})).await)["boto3"],
        "from dir"
    );

    const PATH_HANDLER: &str = "import sys\ndef handler(event, context):\n    return sys.path\n";
    for (name, sdk) in [
        ("off", PythonSdk::Off),
        (
            "unreachable",
            PythonSdk::Pypi {
                cache_dir: scratch("sdk-unreachable"),
                boto3: BOTO3_VERSION.to_owned(),
                // Nothing listens on the discard port of loopback: pip fails at once.
                index_url: Some("http://127.0.0.1:9/simple".to_owned()),
            },
        ),
    ] {
        let cache = match &sdk {
            PythonSdk::Pypi { cache_dir, .. } => Some(cache_dir.clone()),
            _ => None,
        };
        let f = fixture(name, move |c| c.python.sdk = sdk);
        write(&f.code, "app.py", PATH_HANDLER);
        f.runtime.register(spec(name, &f.code, "app.handler"));
        let response = invoke(&f.runtime, name, json!({})).await;
        assert!(
            response.function_error.is_none(),
            "{}",
            log_text(&f.runtime, name)
        );
        let path = body(&response);
        let text = path.to_string();
        assert!(!text.contains("python-sdk"), "{name}: {text}");
        if let Some(cache) = cache {
            // Nothing half-installed is left, and the next cold start does not try again.
            let left: Vec<_> = std::fs::read_dir(&cache)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .filter(|n| !n.to_string_lossy().ends_with(".lock"))
                .collect();
            assert!(left.is_empty(), "{left:?}");
        }
    }
}

const WRITE_HANDLER: &str = r#"
import errno, os
def handler(event, context):
    out = {}
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "new.txt"), "w") as f:
            f.write("x")
        out["code"] = "written"
    except OSError as e:
        out["code"] = [type(e).__name__, e.errno, e.strerror, errno.errorcode.get(e.errno)]
    path = os.path.join(os.environ["TMPDIR"], "scratch.txt")
    with open(path, "w") as f:
        f.write("ok")
    with open(path) as f:
        out["tmp"] = f.read()
    out["uid"] = os.getuid()
    return out
"#;

/// As `/var/task` on Lambda, the code directory is read-only to the function (even for root:
/// a read-only bind mount in a private mount namespace), and `TMPDIR` is writable. Here the
/// runtime's work directory (with `TMPDIR`) lies inside the code directory, as with
/// `CodeUri: .` and `.slipway/` in the project: it stays writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_directory_is_read_only_and_tmp_is_writable() {
    let root = scratch("readonly");
    let code = root.join("code");
    write(&code, "app.py", WRITE_HANDLER);
    let mut config = RuntimeConfig::new(code.join(".slipway/runtime"));
    config.python.sdk = PythonSdk::Off;
    let runtime = Runtime::new(config).unwrap();
    runtime.register(spec("ro", &code, "app.handler"));
    let response = invoke(&runtime, "ro", json!({})).await;
    assert!(
        response.function_error.is_none(),
        "{}",
        log_text(&runtime, "ro")
    );
    let b = body(&response);
    assert_eq!(
        b["code"],
        json!(["OSError", 30, "Read-only file system", "EROFS"]),
        "{b}"
    );
    assert_eq!(b["tmp"], "ok");
    assert_eq!(b["uid"], u64::from(rustix_uid()));
    assert!(!code.join("new.txt").exists());
    // Warm invokes run in the same namespace: still read-only.
    let b = body(&invoke(&runtime, "ro", json!({})).await);
    assert_eq!(b["code"][1], 30);

    // Off: the code directory is as writable as its permissions say.
    let mut config = RuntimeConfig::new(root.join("work-rw"));
    config.python.sdk = PythonSdk::Off;
    config.read_only_code = false;
    let runtime = Runtime::new(config).unwrap();
    runtime.register(spec("rw", &code, "app.handler"));
    assert_eq!(
        body(&invoke(&runtime, "rw", json!({})).await)["code"],
        "written"
    );
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap()
}

/// A quiet invoke (nothing printed) skips the flush marker on the fast channel; output of a
/// process the handler started still reaches the log before `END`, and prints after a quiet
/// invoke are attributed to their own invocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_order_holds_with_quiet_invokes() {
    let f = fixture("quiet", |c| c.python.sdk = slipway_runtime::PythonSdk::Off);
    write(
        &f.code,
        "app.py",
        "import subprocess\ndef handler(event, context):\n    if event.get('child'):\n        subprocess.run(['sh', '-c', 'echo from-child-' + event['child']])\n    if event.get('print'):\n        print('printed-' + event['print'])\n    return 'ok'\n",
    );
    f.runtime.register(spec("quiet", &f.code, "app.handler"));
    for event in [
        json!({}),
        json!({"child": "1"}),
        json!({}),
        json!({"print": "2"}),
        json!({}),
        json!({"child": "3"}),
    ] {
        let response = invoke(&f.runtime, "quiet", event).await;
        assert!(response.function_error.is_none());
    }
    let logs = f.runtime.logs("quiet", &Version::Latest);
    for needle in ["from-child-1", "printed-2", "from-child-3"] {
        let at = logs
            .iter()
            .position(|r| r.message == needle)
            .unwrap_or_else(|| panic!("{needle}: {logs:#?}"));
        let request = logs[at]
            .request_id
            .clone()
            .expect("attributed to its invocation");
        let end = logs
            .iter()
            .position(|r| r.message == format!("END RequestId: {request}"))
            .unwrap();
        assert!(at < end, "{needle} after its END: {logs:#?}");
    }
    assert_eq!(
        f.runtime
            .metrics("quiet", &Version::Latest)
            .unwrap()
            .log_flush_timeouts,
        0
    );
}

/// A runtime that holds invokes back for one busy environment (never giving up on a loaded
/// machine), without the SDK.
fn holding_fixture(name: &str) -> Fixture {
    fixture(name, |c| {
        c.target_concurrency = Some(1);
        c.target_wait = Duration::from_secs(30);
        c.python.sdk = slipway_runtime::PythonSdk::Off;
    })
}

/// Under the target concurrency, an invoke held back writes its frame ahead on a busy
/// environment (`fast.rs`): the runtime picks it up as it answers the one before. Each
/// invocation still gets its own deadline, counted from its pick-up, and its own log lines,
/// between its `START` and its `END`, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invokes_written_ahead_keep_their_deadlines_and_their_logs() {
    let f = holding_fixture("ahead");
    write(
        &f.code,
        "app.py",
        "def handler(event, context):\n    sum(range(200000))\n    if event.get('print'):\n        print('printed-' + context.aws_request_id)\n    return {'n': event.get('n'), 'remaining': context.get_remaining_time_in_millis(), 'id': context.aws_request_id}\n",
    );
    f.runtime.register(spec("ahead", &f.code, "app.handler"));
    for _ in 0..3 {
        invoke(&f.runtime, "ahead", json!({})).await;
    }
    let calls: Vec<_> = (0..12)
        .map(|n| {
            let runtime = f.runtime.clone();
            tokio::spawn(async move {
                invoke(&runtime, "ahead", json!({"n": n, "print": n % 2 == 0})).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for (n, call) in calls.into_iter().enumerate() {
        let response = call.await.unwrap();
        let body = body(&response);
        assert_eq!(body["n"], n, "{body}");
        assert_eq!(body["id"], response.request_id.as_str());
        // 3 s of timeout, counted from when the runtime picked the invocation up: nowhere
        // near spent by the queue before it.
        let remaining = body["remaining"].as_i64().unwrap();
        assert!(remaining > 2000 && remaining <= 3000, "{body}");
        ids.push((response.request_id, n % 2 == 0));
    }
    let m = f.runtime.metrics("ahead", &Version::Latest).unwrap();
    assert_eq!((m.environments, m.errors), (1, 0), "{m:?}");
    // All but the first of the twelve: those that came while another was ahead waited, and
    // were written ahead in turn as the environment went on (`refill`).
    assert!(m.written_ahead >= 11, "{m:?}");
    assert_eq!(m.log_flush_timeouts, 0, "{m:?}");

    let logs = f.runtime.logs("ahead", &Version::Latest);
    for (id, printed) in ids {
        let at = |message: String| {
            logs.iter()
                .position(|r| r.message == message)
                .unwrap_or_else(|| panic!("{message}: {logs:#?}"))
        };
        let start = at(format!("START RequestId: {id} Version: $LATEST"));
        let end = at(format!("END RequestId: {id}"));
        let report = logs
            .iter()
            .position(|r| r.message.starts_with(&format!("REPORT RequestId: {id}\t")))
            .unwrap();
        assert!(start < end && end < report, "{id}: {logs:#?}");
        let own: Vec<usize> = (0..logs.len())
            .filter(|&i| logs[i].request_id.as_deref() == Some(id.as_str()))
            .collect();
        assert!(
            own.iter().all(|&i| (start..=report).contains(&i)),
            "{id}'s records outside its START..REPORT: {logs:#?}"
        );
        if printed {
            let line = at(format!("printed-{id}"));
            assert!(start < line && line < end, "{id}: {logs:#?}");
            assert_eq!(logs[line].request_id.as_deref(), Some(id.as_str()));
        }
    }
}

/// A frame written ahead behind an invocation that then times out never ran: the environment
/// is killed with the one before, and the invoke written ahead runs on another environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoke_written_ahead_of_one_that_times_out_runs_elsewhere() {
    let f = holding_fixture("ahead-timeout");
    write(
        &f.code,
        "app.py",
        "def handler(event, context):\n    if event.get('spin'):\n        print('spinning')\n        while True:\n            pass\n    return sum(range(200000))\n",
    );
    let mut s = spec("spin", &f.code, "app.handler");
    s.timeout_secs = 1;
    f.runtime.register(s);
    for _ in 0..3 {
        invoke(&f.runtime, "spin", json!({})).await;
    }
    let runtime = f.runtime.clone();
    let spinning =
        tokio::spawn(async move { invoke(&runtime, "spin", json!({"spin": true})).await });
    // Once its handler prints, the spinning invocation was sent and its environment is busy.
    let running = async {
        while !f
            .runtime
            .logs("spin", &Version::Latest)
            .iter()
            .any(|r| r.message == "spinning")
        {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the spinning invocation runs");
    let quick = invoke(&f.runtime, "spin", json!({})).await;
    assert!(quick.function_error.is_none(), "{:?}", quick.payload);
    assert_eq!(&quick.payload[..], b"19999900000");
    let timed_out = spinning.await.unwrap();
    assert_eq!(body(&timed_out)["errorType"], "Sandbox.Timedout");
    let m = f.runtime.metrics("spin", &Version::Latest).unwrap();
    assert_eq!(
        (m.timeouts, m.written_ahead, m.cold_starts),
        (1, 1, 2),
        "{m:?}"
    );
}
