//! `cargo bench -p slipway-server --bench events`: event delivery through a real server on
//! loopback with real Python handlers. Prints the latency from an S3 `PutObject` sent to the
//! notified function having run (p50/p99), and SQS throughput through an event source mapping
//! (messages sent in `SendMessageBatch` requests of ten, until every one is deleted after its
//! batch succeeded). Unsigned requests, routed by their shape, as a raw HTTP client sends them.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on stdout, progress on stderr"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use slipway_engine::DeployRequest;
use slipway_runtime::PythonConfig;
use slipway_server::{Config, Server};
use slipway_store::state::Collection;

const TARGET: &str = "123456789012/us-east-1";

/// Touches `$OUT_DIR/<key's last segment>` for S3 events; nothing for SQS batches.
const HANDLER: &str = r#"
import os
def handler(event, context):
    for r in event.get("Records", []):
        if r.get("eventSource") == "aws:s3":
            name = r["s3"]["object"]["key"].rsplit("/", 1)[-1]
            open(os.path.join(os.environ["OUT_DIR"], name), "w").close()
    return {}
"#;

fn template(out: &Path) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: fn/
    Environment:
      Variables:
        OUT_DIR: {}
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: bench-bucket
  OnPut:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: on-put
      Events:
        P:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: bench
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: worker
      ReservedConcurrentExecutions: 4
      Events:
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 10
"#,
        out.display()
    )
}

async fn request(addr: &str, req: Request<Full<Bytes>>) -> (u16, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, body)
}

fn python() -> PathBuf {
    std::env::var_os("SLIPWAY_TEST_VENV")
        .map(|v| PathBuf::from(v).join("bin/python"))
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

#[allow(clippy::disallowed_methods, reason = "polls a real process's effect")]
fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (puts, messages) = if full { (200, 2000) } else { (5, 50) };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("events-bench");
    let _ = std::fs::remove_dir_all(&root);
    let out = root.join("out");
    std::fs::create_dir_all(root.join("project/fn")).expect("project");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(root.join("project/fn/app.py"), HANDLER).expect("handler");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let mut config = Config::new(root.join("data"));
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.tick_interval = Duration::from_millis(10);
    let py = python();
    config.python = PythonConfig {
        interpreters: [("python3.12".to_owned(), py.clone())]
            .into_iter()
            .collect(),
        fallback: py,
        runtime_paths: Vec::new(),
        ..PythonConfig::default()
    };
    let server = rt.block_on(Server::new(config).start()).expect("server");
    let addr = server.addr().to_string();
    {
        let _guard = rt.enter();
        let req = DeployRequest {
            target: TARGET.into(),
            stack_name: "bench".into(),
            template: template(&out),
            file: "template.yaml".into(),
            code_root: Some(root.join("project")),
            ..DeployRequest::default()
        };
        let rep = server.with_engine(|e| e.deploy(&req)).expect("deploy");
        eprintln!("deployed: {:?}", rep.status);
    }

    // S3: PUT sent → the notified function has run (its marker file exists). The invoke is
    // asynchronous, so the function often runs before the PUT's answer is read.
    let mut lat = Vec::new();
    for i in 0..puts {
        let name = format!("o{i}");
        let req = Request::put(format!("/bench-bucket/in/{name}"))
            .header("host", addr.as_str())
            .body(Full::new(Bytes::from_static(b"x")))
            .expect("put");
        let sent = Instant::now();
        let (status, _) = rt.block_on(request(&addr, req));
        assert_eq!(status, 200);
        let marker = out.join(&name);
        let deadline = sent + Duration::from_secs(30);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "no S3 event for {name}");
            std::thread::sleep(Duration::from_micros(200));
        }
        lat.push(sent.elapsed());
    }
    lat.sort();
    println!(
        "s3 put sent -> function ran: p50 {:.1} ms, p99 {:.1} ms ({puts} puts, warm after the first)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // SQS: batches of ten sent, polled by the mapping, deleted after each batch succeeded.
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/bench";
    let started = Instant::now();
    for b in 0..messages / 10 {
        let entries: Vec<serde_json::Value> = (0..10)
            .map(|i| serde_json::json!({"Id": format!("m{i}"), "MessageBody": format!("job {b}-{i}")}))
            .collect();
        let body = serde_json::json!({"QueueUrl": url, "Entries": entries}).to_string();
        let req = Request::post("/")
            .header("host", addr.as_str())
            .header("x-amz-target", "AmazonSQS.SendMessageBatch")
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from(body)))
            .expect("send");
        let (status, answer) = rt.block_on(request(&addr, req));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    let sent = started.elapsed();
    let engine = server.engine();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left = engine
            .store()
            .get_doc(Collection::Events, TARGET, "sqs|bench")
            .expect("store")
            .map_or(0, |d| d.value["messages"].as_array().map_or(0, Vec::len));
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} messages left");
        std::thread::sleep(Duration::from_millis(1));
    }
    let total = started.elapsed();
    println!(
        "sqs: {messages} messages sent in {:.0} ms, all processed and deleted in {:.0} ms ({:.0} messages/s, batches of 10, 4 environments)",
        sent.as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0,
        messages as f64 / total.as_secs_f64()
    );
    rt.block_on(server.shutdown()).expect("shutdown");
}
