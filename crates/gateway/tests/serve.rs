//! End to end over real HTTP: `serve()` on an ephemeral loopback port, real Python handlers run
//! by slipway-runtime, a hyper client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use slipway_gateway::{GatewayConfig, ServeOptions, Serving, serve};
use slipway_model::template::{Options, resolve};
use slipway_runtime::{Runtime, RuntimeConfig};
use tokio::net::TcpStream;

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 5
    CodeUri: src/
  Api:
    BinaryMediaTypes: ["image~1png"]
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.hello
      Environment:
        Variables:
          GREETING: hello
      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: get}
  LogoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.logo
      Events:
        Logo:
          Type: Api
          Properties: {Path: /logo, Method: get}
  BadFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.bad
      Events:
        Bad:
          Type: Api
          Properties: {Path: /bad, Method: get}
  OrdersApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      Variables:
        color: blue
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        Echo:
          Type: Api
          Properties:
            RestApiId: !Ref OrdersApi
            Path: /echo/{proxy+}
            Method: any
        HttpEcho:
          Type: HttpApi
          Properties: {Path: "/h/{id}", Method: GET}
"#;

const APP: &str = r#"
import base64, json, os

PNG = b"\x89PNG\r\n\x1a\n\x00\x01"

def hello(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": os.environ["GREETING"] + " world"})}

def logo(event, context):
    return {"statusCode": 200, "isBase64Encoded": True,
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(PNG).decode()}

def bad(event, context):
    return {"nope": 1}

def echo(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "arn": context.invoked_function_arn})}
"#;

/// A runtime whose `python3.12` is the machine's `python3` (a pyenv shim named `python3.12`
/// on `PATH` would otherwise be taken for a real interpreter).
fn runtime(dir: &Path) -> Runtime {
    let mut config = RuntimeConfig::new(dir.join(".slipway/runtime"));
    config
        .python
        .interpreters
        .insert("python3.12".into(), PathBuf::from("python3"));
    Runtime::new(config).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("gateway-serve")
        .join(format!(
            "{name}-{}",
            &slipway_runtime::new_request_id()[..8]
        ));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    dir
}

struct Response {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
}

async fn get(addr: std::net::SocketAddr, host: &str, target: &str, method: &str) -> Response {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", host)
        .header("user-agent", "slipway-test")
        .header("accept", "image/png")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Response {
        status,
        headers,
        body,
    }
}

async fn start(name: &str) -> Serving {
    let dir = scratch(name);
    std::fs::write(dir.join("template.yaml"), TEMPLATE).unwrap();
    std::fs::write(dir.join("src/app.py"), APP).unwrap();
    let outcome = resolve(TEMPLATE, &Options::default());
    assert!(!outcome.has_errors(), "{:#?}", outcome.diagnostics);
    let template = outcome.template.unwrap();
    let runtime = runtime(&dir);
    let mut options = ServeOptions::new(&dir);
    options.addr = "127.0.0.1:0".parse().unwrap();
    options.gateway = GatewayConfig {
        seed: 1,
        ..GatewayConfig::default()
    };
    let serving = serve(&template, runtime, options).await.unwrap();
    assert!(serving.problems.is_empty(), "{:#?}", serving.problems);
    serving
}

fn url_of<'a>(serving: &'a Serving, api: &str, stage: &str) -> &'a slipway_gateway::StageUrl {
    serving
        .urls
        .iter()
        .find(|u| u.logical_id == api && u.stage == stage)
        .unwrap_or_else(|| panic!("{:#?}", serving.urls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sam_app_over_real_http() {
    let serving = start("app").await;
    let addr = serving.server.local_addr();
    let prod = url_of(&serving, "ServerlessRestApi", "Prod").clone();
    let dev = url_of(&serving, "OrdersApi", "dev").clone();
    let http = url_of(&serving, "ServerlessHttpApi", "$default").clone();
    assert_eq!(
        prod.host_url,
        format!(
            "http://{}.execute-api.localhost:{}/Prod/",
            prod.api_id,
            addr.port()
        )
    );
    assert_eq!(
        prod.path_url,
        format!("http://{addr}/_api/{}/Prod/", prod.api_id)
    );
    // Three APIs: nothing at the root.
    assert!(serving.urls.iter().all(|u| u.root_url.is_none()));

    // Implicit API, host-based.
    let host = format!("{}.execute-api.localhost:{}", prod.api_id, addr.port());
    let r = get(addr, &host, "/Prod/hello", "GET").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["message"], "hello world");
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers.contains_key("x-amzn-requestid"));

    // Binary response.
    let r = get(addr, &host, "/Prod/logo", "GET").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/png");
    assert_eq!(&r.body[..], b"\x89PNG\r\n\x1a\n\x00\x01");

    // Malformed proxy response.
    let r = get(addr, &host, "/Prod/bad", "GET").await;
    assert_eq!(r.status, 502);
    assert_eq!(&r.body[..], br#"{"message": "Internal server error"}"#);

    // Unknown route on a REST API.
    let r = get(addr, &host, "/Prod/nowhere", "GET").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        &r.body[..],
        br#"{"message":"Missing Authentication Token"}"#
    );
    assert_eq!(
        r.headers["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );

    // Defined API with a stage and stage variables, path-based form.
    let target = format!("/_api/{}/dev/echo/a/b?x=1", dev.api_id);
    let r = get(addr, "127.0.0.1", &target, "DELETE").await;
    assert_eq!(r.status, 200);
    let body = r.json();
    let event = &body["event"];
    assert_eq!(event["httpMethod"], "DELETE");
    assert_eq!(event["resource"], "/echo/{proxy+}");
    assert_eq!(event["path"], "/echo/a/b");
    assert_eq!(event["pathParameters"]["proxy"], "a/b");
    assert_eq!(event["stageVariables"]["color"], "blue");
    assert_eq!(event["queryStringParameters"]["x"], "1");
    assert_eq!(event["requestContext"]["stage"], "dev");
    assert_eq!(event["requestContext"]["path"], "/dev/echo/a/b");
    assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        event["requestContext"]["requestId"].as_str(),
        r.headers["x-amzn-requestid"].to_str().ok()
    );
    assert_eq!(
        body["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    );

    // HTTP API, payload v2; unknown route is 404.
    let http_host = format!("{}.execute-api.localhost:{}", http.api_id, addr.port());
    let r = get(addr, &http_host, "/h/7", "GET").await;
    assert_eq!(r.status, 200);
    let event = &r.json()["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /h/{id}");
    assert_eq!(event["pathParameters"]["id"], "7");
    assert!(r.headers.contains_key("apigw-requestid"));
    let r = get(addr, &http_host, "/nope", "GET").await;
    assert_eq!(r.status, 404);
    assert_eq!(&r.body[..], br#"{"message":"Not Found"}"#);

    serving.shutdown().await;
}

const SINGLE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.12
      Handler: app.hello
      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: get}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_api_served_at_the_root() {
    let dir = scratch("root");
    std::fs::write(
        dir.join("src/app.py"),
        "def hello(event, context):\n    return {'statusCode': 200, 'body': event['requestContext']['stage'] + ' ' + event['path']}\n",
    )
    .unwrap();
    let template = resolve(SINGLE, &Options::default()).template.unwrap();
    let runtime = runtime(&dir);
    let mut options = ServeOptions::new(&dir);
    options.addr = "127.0.0.1:0".parse().unwrap();
    let serving = serve(&template, runtime, options).await.unwrap();
    let addr = serving.server.local_addr();
    let prod = url_of(&serving, "ServerlessRestApi", "Prod");
    assert_eq!(
        prod.root_url.as_deref(),
        Some(format!("http://{addr}/").as_str())
    );
    let r = get(addr, &addr.to_string(), "/hello", "GET").await;
    let logs = serving
        .runtime
        .logs("HelloFunction", &slipway_model::function::Version::Latest);
    assert_eq!(r.status, 200, "{logs:#?}");
    assert_eq!(&r.body[..], b"Prod /hello");
    let gateway = Arc::clone(serving.server.gateway());
    assert_eq!(gateway.snapshot().apis.len(), 1);
    serving.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_code_is_served_on_the_next_request() {
    let dir = scratch("reload");
    let app = |v: &str| {
        format!("def hello(event, context):\n    return {{'statusCode': 200, 'body': '{v}'}}\n")
    };
    std::fs::write(dir.join("src/app.py"), app("v1")).unwrap();
    std::fs::write(dir.join("template.yaml"), SINGLE).unwrap();
    let template = resolve(SINGLE, &Options::default()).template.unwrap();
    let mut options = ServeOptions::new(&dir);
    options.addr = "127.0.0.1:0".parse().unwrap();
    let serving = serve(&template, runtime(&dir), options).await.unwrap();
    let addr = serving.server.local_addr();
    let host = addr.to_string();
    assert_eq!(&get(addr, &host, "/hello", "GET").await.body[..], b"v1");

    // Reload by hand.
    let dirs = slipway_gateway::code_dirs(&template, &dir);
    assert_eq!(dirs, vec![dir.join("src/")]);
    let before = slipway_gateway::Fingerprint::of(&dirs);
    std::fs::write(dir.join("src/app.py"), app("v2 (saved)")).unwrap();
    assert_ne!(slipway_gateway::Fingerprint::of(&dirs), before);
    assert!(serving.reloader().reload(&template).is_empty());
    assert_eq!(
        &get(addr, &host, "/hello", "GET").await.body[..],
        b"v2 (saved)"
    );

    // The watcher: a saved change is picked up without being asked.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = serving.reloader().watch(
        dir.join("template.yaml"),
        Duration::from_millis(50),
        |path| {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            resolve(&text, &Options::default())
                .template
                .ok_or_else(|| "template has errors".to_owned())
        },
        move |result| {
            let _ = tx.send(result);
        },
    );
    let saved = std::time::Instant::now();
    std::fs::write(dir.join("src/app.py"), app("v3, watched")).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a reload")
        .unwrap();
    let took = saved.elapsed();
    assert!(result.unwrap().is_empty());
    assert_eq!(
        &get(addr, &host, "/hello", "GET").await.body[..],
        b"v3, watched"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    watcher.abort();
    serving.shutdown().await;
}

#[tokio::test]
async fn refuses_a_non_loopback_address_unless_allowed() {
    let dir = scratch("loopback");
    let template = resolve(SINGLE, &Options::default()).template.unwrap();
    let mut options = ServeOptions::new(&dir);
    options.addr = "0.0.0.0:0".parse().unwrap();
    let err = serve(&template, runtime(&dir), options)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, slipway_gateway::ServeError::NotLoopback { .. }),
        "{err}"
    );
}

/// The venv made by `scripts/setup` (Flask and apig-wsgi from PyPI are in it).
fn test_venv() -> PathBuf {
    let venv = std::env::var_os("SLIPWAY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    assert!(
        venv.join("bin/python").is_file(),
        "{} not found: run scripts/setup (it creates the venv with Flask and apig-wsgi that this test needs)",
        venv.display()
    );
    venv
}

const FLASK_TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  WebFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.12
      Handler: app.handler
      Events:
        Root:
          Type: Api
          Properties: {Path: /, Method: any}
        Proxy:
          Type: Api
          Properties: {Path: "/{proxy+}", Method: any}
"#;

const FLASK_APP: &str = r#"
from apig_wsgi import make_lambda_handler
from flask import Flask, jsonify, request

app = Flask(__name__)

@app.get("/")
def index():
    return "flask root"

@app.get("/users/<name>")
def user(name):
    return jsonify(name=name, q=request.args.getlist("q"), ua=request.headers.get("User-Agent"))

@app.post("/echo")
def echo():
    return request.get_data(), 201, {"Content-Type": "text/plain", "X-Seen": request.path}

handler = make_lambda_handler(app)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flask_app_behind_apig_wsgi() {
    let venv = test_venv();
    let dir = scratch("flask");
    std::fs::write(dir.join("src/app.py"), FLASK_APP).unwrap();
    let template = resolve(FLASK_TEMPLATE, &Options::default())
        .template
        .unwrap();
    let mut config = RuntimeConfig::new(dir.join(".slipway/runtime"));
    config
        .python
        .interpreters
        .insert("python3.12".into(), venv.join("bin/python"));
    let mut options = ServeOptions::new(&dir);
    options.addr = "127.0.0.1:0".parse().unwrap();
    let serving = serve(&template, Runtime::new(config).unwrap(), options)
        .await
        .unwrap();
    let addr = serving.server.local_addr();
    let host = addr.to_string();

    let r = get(addr, &host, "/users/ada?q=1&q=2", "GET").await;
    let logs = serving
        .runtime
        .logs("WebFunction", &slipway_model::function::Version::Latest);
    assert_eq!(r.status, 200, "{logs:#?}");
    let body = r.json();
    assert_eq!(body["name"], "ada");
    assert_eq!(body["q"], serde_json::json!(["1", "2"]));
    assert_eq!(body["ua"], "slipway-test");

    let r = get(addr, &host, "/", "GET").await;
    assert_eq!((r.status, &r.body[..]), (200, &b"flask root"[..]));

    let r = get(addr, &host, "/echo", "POST").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.headers["x-seen"], "/echo");

    let r = get(addr, &host, "/missing", "GET").await;
    assert_eq!(r.status, 404, "Flask's own 404 through the proxy");
    serving.shutdown().await;
}
