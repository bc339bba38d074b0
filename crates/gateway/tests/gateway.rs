//! The gateway without sockets: requests through `Gateway::handle` to a fake invoker that
//! records the events it gets and answers what each test tells it.
//!
//! Event fixtures (`tests/fixtures/*.json`) are the whole event, with the random parts
//! (request ids, trace id) masked; `BLESS=1` rewrites them. They are also compared key by key
//! with the documented API Gateway samples in `tests/fixtures/aws/`, so a field AWS sends that
//! we do not (or the other way round), or a `null` where AWS has a value, fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use slipway_gateway::build::build;
use slipway_gateway::response::Reply;
use slipway_gateway::{Directory, Gateway, GatewayConfig, IncomingRequest, Routing, Snapshot};
use slipway_model::function::Version;
use slipway_model::invoke::{
    FunctionError, InvokeError, InvokeFuture, InvokeRequest, InvokeResponse, Invoker,
};
use slipway_model::template::{Options, Template, resolve};

type Answer = dyn Fn(&InvokeRequest) -> Option<Result<InvokeResponse, InvokeError>> + Send + Sync;

struct Fake {
    seen: Mutex<Vec<InvokeRequest>>,
    answer: Box<Answer>,
}

impl Invoker for Fake {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture<'_> {
        let answer = (self.answer)(&request);
        self.seen.lock().unwrap().push(request);
        Box::pin(async move {
            match answer {
                Some(a) => a,
                None => std::future::pending().await,
            }
        })
    }
}

fn ok(payload: &Value) -> Option<Result<InvokeResponse, InvokeError>> {
    Some(Ok(InvokeResponse {
        payload: Bytes::from(payload.to_string()),
        function_error: None,
        executed_version: Version::Latest,
        log_result: None,
        request_id: "r".into(),
    }))
}

fn case(name: &str) -> Template {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/cases")
        .join(name);
    let opts = Options {
        stack_name: "golden".into(),
        ..Options::default()
    };
    resolve(&std::fs::read_to_string(path).unwrap(), &opts)
        .template
        .unwrap()
}

struct Setup {
    gateway: Gateway,
    fake: Arc<Fake>,
}

fn setup(snapshot: Snapshot, answer: Box<Answer>) -> Setup {
    let fake = Arc::new(Fake {
        seen: Mutex::new(Vec::new()),
        answer,
    });
    let config = GatewayConfig {
        seed: 42,
        root: true,
        clock: Arc::new(|| 1_583_349_317_135),
        ..GatewayConfig::default()
    };
    Setup {
        gateway: Gateway::new(snapshot, fake.clone(), config),
        fake,
    }
}

fn snapshot_of(t: &Template) -> Snapshot {
    build(t, &Directory::local(t)).0
}

fn request(method: &str, host: &str, target: &str) -> IncomingRequest {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    IncomingRequest {
        method: method.into(),
        host: host.into(),
        path: path.into(),
        query,
        headers: vec![
            ("host".into(), host.into()),
            ("user-agent".into(), "curl/8.5.0".into()),
            ("accept".into(), "*/*".into()),
        ],
        body: Bytes::new(),
        too_large: false,
        peer: "10.1.2.3:55555".parse::<SocketAddr>().unwrap(),
        local_port: 3000,
        protocol: "HTTP/1.1",
    }
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn last_event(fake: &Fake) -> Value {
    let seen = fake.seen.lock().unwrap();
    serde_json::from_slice(&seen.last().expect("an invoke").payload).unwrap()
}

fn mask(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        if let Value::Object(m) = v {
            for (k, x) in m.iter_mut() {
                if matches!(k.as_str(), "requestId" | "extendedRequestId")
                    || k.eq_ignore_ascii_case("x-amzn-trace-id")
                {
                    *x = match x {
                        Value::Array(_) => json!(["<masked>"]),
                        _ => json!("<masked>"),
                    };
                } else {
                    walk(x);
                }
            }
        }
    }
    walk(&mut v);
    v
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check_fixture(name: &str, event: &Value) {
    let path = fixtures().join(name);
    let text = serde_json::to_string_pretty(&mask(event.clone())).unwrap() + "\n";
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(text, expected, "{name} differs (BLESS=1 rewrites it)");
}

/// Every key of AWS's sample is in ours with a value of the same JSON type (a `null` in the
/// sample accepts anything: it is a value that depends on the request), and we send no key
/// AWS does not, except the ones listed.
fn same_shape(ours: &Value, aws: &Value, at: &str, extra_ok: &[&str]) {
    match (ours, aws) {
        (Value::Object(o), Value::Object(a)) => {
            for (k, av) in a {
                let here = format!("{at}.{k}");
                if extra_ok.contains(&here.as_str()) {
                    continue;
                }
                let ov = o.get(k).unwrap_or_else(|| panic!("missing {here}"));
                // Header and parameter maps differ per request: compare only their kind.
                if [
                    "headers",
                    "multiValueHeaders",
                    "queryStringParameters",
                    "multiValueQueryStringParameters",
                    "pathParameters",
                    "stageVariables",
                ]
                .contains(&k.as_str())
                {
                    continue;
                }
                same_shape(ov, av, &here, extra_ok);
            }
            for k in o.keys() {
                let here = format!("{at}.{k}");
                assert!(
                    a.contains_key(k) || extra_ok.contains(&here.as_str()),
                    "{here} is not in the AWS sample"
                );
            }
        }
        (_, Value::Null) => {}
        (o, a) => assert_eq!(
            std::mem::discriminant(o),
            std::mem::discriminant(a),
            "{at}: ours {o}, AWS {a}"
        ),
    }
}

fn aws_sample(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("aws").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn rest_v1_event_exact() {
    let t = case("sam_ids/hello_world.yaml");
    let s = setup(
        snapshot_of(&t),
        Box::new(|_| ok(&json!({"statusCode": 200, "body": "hi"}))),
    );
    let id = s.gateway.snapshot().apis[0].info.id.clone();
    let host = format!("{id}.execute-api.localhost:3000");
    let mut req = request("GET", &host, "/Prod/hello/?name=a%20b&name=c&x=1");
    req.headers
        .push(("x-forwarded-for".into(), "192.0.2.9".into()));
    let reply = s.gateway.handle(req).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "hi");
    assert_eq!(header(&reply, "content-type"), Some("application/json"));
    let event = last_event(&s.fake);
    assert_eq!(
        header(&reply, "x-amzn-RequestId"),
        event["requestContext"]["requestId"].as_str()
    );
    assert_eq!(event["requestContext"]["identity"]["sourceIp"], "10.1.2.3");
    assert_eq!(event["requestContext"]["path"], "/Prod/hello/");
    assert_eq!(event["path"], "/hello/");
    assert_eq!(event["resource"], "/hello");
    assert_eq!(event["stageVariables"], Value::Null);
    assert_eq!(event["pathParameters"], Value::Null);
    assert_eq!(event["body"], Value::Null);
    assert_eq!(event["requestContext"]["domainPrefix"], id.as_str());
    assert_eq!(
        event["queryStringParameters"],
        json!({"name": "c", "x": "1"})
    );
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"name": ["a b", "c"], "x": ["1"]})
    );
    assert_eq!(event["headers"]["X-Forwarded-For"], "192.0.2.9, 10.1.2.3");
    check_fixture("rest-v1-get.json", &event);
    same_shape(&event, &aws_sample("rest-v1.json"), "$", &[]);
    let invoked = &s.fake.seen.lock().unwrap()[0];
    assert_eq!(invoked.function, "HelloWorldFunction");
    assert_eq!(invoked.version, Version::Latest);
}

#[tokio::test]
async fn rest_v1_post_with_path_parameters_and_stage_variables() {
    let t = case("sam_ids/explicit_api.yaml");
    let s = setup(
        snapshot_of(&t),
        Box::new(|_| ok(&json!({"statusCode": 204}))),
    );
    let id = s.gateway.snapshot().apis[0].info.id.clone();
    let mut req = request(
        "POST",
        "127.0.0.1:3000",
        &format!("/_api/{id}/v1/items/a/b%2Fc"),
    );
    req.headers
        .push(("content-type".into(), "application/json".into()));
    req.body = Bytes::from_static(br#"{"k": 1}"#);
    let reply = s.gateway.handle(req).await;
    assert_eq!(reply.status, 204);
    let event = last_event(&s.fake);
    assert_eq!(event["resource"], "/items/{proxy+}");
    assert_eq!(event["pathParameters"], json!({"proxy": "a/b/c"}));
    assert_eq!(event["stageVariables"], json!({"alias": "live"}));
    assert_eq!(event["body"], r#"{"k": 1}"#);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["requestContext"]["stage"], "v1");
    assert_eq!(event["requestContext"]["resourcePath"], "/items/{proxy+}");
    check_fixture("rest-v1-post-proxy.json", &event);
    same_shape(&event, &aws_sample("rest-v1.json"), "$", &[]);

    // A binary media type: the body goes base64.
    let mut req = request("PUT", "127.0.0.1:3000", &format!("/_api/{id}/v1/items/x"));
    req.headers
        .push(("content-type".into(), "image/png".into()));
    req.body = Bytes::from_static(&[0, 159, 146, 150]);
    s.gateway.handle(req).await;
    let event = last_event(&s.fake);
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(event["body"], "AJ+Slg==");
}

#[tokio::test]
async fn http_v2_event_exact() {
    let t = case("sam_ids/events_all.yaml");
    let s = setup(snapshot_of(&t), Box::new(|_| ok(&json!({"ok": true}))));
    let id = s.gateway.snapshot().apis[0].info.id.clone();
    let host = format!("{id}.execute-api.localhost:3000");
    let mut req = request("GET", &host, "/items/42?tag=a&tag=b&q=%2A");
    req.headers.push(("cookie".into(), "a=1; b=2".into()));
    req.headers.push(("x-multi".into(), "one".into()));
    req.headers.push(("x-multi".into(), "two".into()));
    let reply = s.gateway.handle(req).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, r#"{"ok":true}"#);
    assert!(header(&reply, "apigw-requestid").is_some());
    let event = last_event(&s.fake);
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /items/{id}");
    assert_eq!(event["rawPath"], "/items/42");
    assert_eq!(event["rawQueryString"], "tag=a&tag=b&q=%2A");
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-multi"], "one,two");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(
        event["queryStringParameters"],
        json!({"tag": "a,b", "q": "*"})
    );
    assert_eq!(event["pathParameters"], json!({"id": "42"}));
    assert!(event.get("stageVariables").is_none());
    assert!(event.get("body").is_none());
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "10.1.2.3");
    assert_eq!(event["requestContext"]["stage"], "$default");
    check_fixture("http-v2-get.json", &event);
    same_shape(
        &event,
        &aws_sample("http-v2.json"),
        "$",
        &[
            "$.requestContext.authentication",
            "$.requestContext.authorizer",
        ],
    );
}

#[tokio::test]
async fn unknown_routes_stages_and_apis() {
    let t = case("sam_ids/hello_world.yaml");
    let s = setup(
        snapshot_of(&t),
        Box::new(|_| ok(&json!({"statusCode": 200}))),
    );
    let id = s.gateway.snapshot().apis[0].info.id.clone();
    let host = format!("{id}.execute-api.localhost:3000");
    for target in ["/Prod/nope", "/Nope/hello", "/", "/Prod", "/Prod/"] {
        let r = s.gateway.handle(request("GET", &host, target)).await;
        assert_eq!(r.status, 403, "{target}");
        assert_eq!(r.body, r#"{"message":"Missing Authentication Token"}"#);
        assert_eq!(
            header(&r, "x-amzn-ErrorType"),
            Some("MissingAuthenticationTokenException")
        );
        assert!(header(&r, "x-amzn-RequestId").is_some());
    }
    let r = s
        .gateway
        .handle(request("POST", &host, "/Prod/hello"))
        .await;
    assert_eq!(r.status, 403);
    // The root form serves the single API's primary stage, without the stage in the path.
    let r = s
        .gateway
        .handle(request("GET", "localhost:3000", "/hello"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(last_event(&s.fake)["requestContext"]["stage"], "Prod");
    // SAM's extra `Stage` stage is served too.
    let r = s
        .gateway
        .handle(request("GET", &host, "/Stage/hello"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(last_event(&s.fake)["requestContext"]["stage"], "Stage");
    let r = s
        .gateway
        .handle(request(
            "GET",
            "zzzzzzzzzz.execute-api.localhost",
            "/Prod/hello",
        ))
        .await;
    assert_eq!(r.status, 404);

    let t = case("sam_ids/events_all.yaml");
    let s = setup(snapshot_of(&t), Box::new(|_| ok(&json!({}))));
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/nothing"))
        .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (404, &br#"{"message":"Not Found"}"#[..])
    );
}

fn function_error() -> Option<Result<InvokeResponse, InvokeError>> {
    Some(Ok(InvokeResponse {
        payload: Bytes::from_static(br#"{"errorMessage":"boom","errorType":"Exception"}"#),
        function_error: Some(FunctionError::Unhandled),
        executed_version: Version::Latest,
        log_result: None,
        request_id: "r".into(),
    }))
}

#[tokio::test]
async fn malformed_responses_and_function_errors() {
    let t = case("sam_ids/hello_world.yaml");
    let cases: Vec<(Box<Answer>, u16)> = vec![
        (Box::new(|_| ok(&json!({"body": "no status"}))), 502),
        (Box::new(|_| ok(&json!("just a string"))), 502),
        (
            Box::new(|_| ok(&json!({"statusCode": 200, "body": {"not": "a string"}}))),
            502,
        ),
        (Box::new(|_| function_error()), 502),
        (
            Box::new(|_| {
                Some(Err(InvokeError::NotFound {
                    function: "x".into(),
                }))
            }),
            500,
        ),
    ];
    for (answer, status) in cases {
        let s = setup(snapshot_of(&t), answer);
        let r = s
            .gateway
            .handle(request("GET", "localhost", "/hello"))
            .await;
        assert_eq!(r.status, status);
        assert_eq!(r.body, r#"{"message": "Internal server error"}"#);
    }
    let t = case("sam_ids/events_all.yaml");
    let s = setup(snapshot_of(&t), Box::new(|_| function_error()));
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/items/1"))
        .await;
    assert_eq!(
        (r.status, &r.body[..]),
        (500, &br#"{"message":"Internal Server Error"}"#[..])
    );
}

#[tokio::test(start_paused = true)]
async fn integration_timeout() {
    let t = case("sam_ids/hello_world.yaml");
    let s = setup(snapshot_of(&t), Box::new(|_| None));
    let started = tokio::time::Instant::now();
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/hello"))
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(r.body, r#"{"message": "Endpoint request timed out"}"#);
    assert_eq!(started.elapsed(), Duration::from_secs(29));

    let t = case("sam_ids/events_all.yaml");
    let s = setup(snapshot_of(&t), Box::new(|_| None));
    let started = tokio::time::Instant::now();
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/items/1"))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test]
async fn request_too_large() {
    let t = case("sam_ids/hello_world.yaml");
    let s = setup(
        snapshot_of(&t),
        Box::new(|_| ok(&json!({"statusCode": 200}))),
    );
    let mut req = request("GET", "localhost", "/hello");
    req.too_large = true;
    let r = s.gateway.handle(req).await;
    assert_eq!(r.status, 413);
    assert!(s.fake.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn binary_response_and_multi_value_headers() {
    let t = case("sam_ids/explicit_api.yaml");
    let s = setup(
        snapshot_of(&t),
        Box::new(|_| {
            ok(&json!({
                "statusCode": 200,
                "isBase64Encoded": true,
                "body": "iVBORw0KGgo=",
                "headers": {"Content-Type": "image/png"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            }))
        }),
    );
    let mut req = request("GET", "localhost", "/items/logo");
    req.headers.push(("accept".into(), "image/png".into()));
    let r = s.gateway.handle(req).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"\x89PNG\r\n\x1a\n");
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, vec!["a=1", "b=2"]);
}

#[tokio::test]
async fn cors_preflight_from_the_cors_setting() {
    let t = case("sam_ids/explicit_api.yaml");
    let s = setup(snapshot_of(&t), Box::new(|_| ok(&json!({}))));
    let r = s
        .gateway
        .handle(request("OPTIONS", "localhost", "/items/a"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(header(&r, "Access-Control-Allow-Methods"), Some("GET,POST"));
    assert!(s.fake.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn weighted_alias_ten_percent_over_5000_requests() {
    let t = case("realworld/sam_app.yaml");
    let mut dir = Directory::local(&t);
    dir.routing.insert(
        ("ListOrdersFunction".into(), "live".into()),
        Routing::Weighted {
            primary: Version::Published(3),
            secondary: Version::Published(4),
            weight: 0.1,
        },
    );
    let (snapshot, _) = build(&t, &dir);
    let s = setup(snapshot, Box::new(|_| ok(&json!({"statusCode": 200}))));
    let api = s
        .gateway
        .snapshot()
        .apis
        .iter()
        .find(|a| a.info.logical_id == "OrdersApi")
        .unwrap()
        .info
        .id
        .clone();
    for _ in 0..5000 {
        let r = s
            .gateway
            .handle(request(
                "GET",
                "localhost",
                &format!("/_api/{api}/staging/orders"),
            ))
            .await;
        assert_eq!(r.status, 200);
    }
    let first_run: Vec<InvokeRequest> = s.fake.seen.lock().unwrap().clone();
    let second = first_run
        .iter()
        .filter(|r| r.version == Version::Published(4))
        .count();
    assert!(
        first_run
            .iter()
            .all(|r| r.qualifier.as_deref() == Some("live"))
    );
    let share = second as f64 / 5000.0;
    assert!((0.08..=0.12).contains(&share), "{share}");
    // The same seed, the same picks.
    let first_run: Vec<Version> = first_run.into_iter().map(|r| r.version).collect();
    let (snapshot, _) = build(&t, &dir);
    let again = setup(snapshot, Box::new(|_| ok(&json!({"statusCode": 200}))));
    for _ in 0..200 {
        again
            .gateway
            .handle(request(
                "GET",
                "localhost",
                &format!("/_api/{api}/staging/orders"),
            ))
            .await;
    }
    let second_run: Vec<Version> = again
        .fake
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.version.clone())
        .collect();
    assert_eq!(first_run[..200], second_run[..]);
}

#[tokio::test]
async fn snapshots_swap_atomically() {
    let hello = case("sam_ids/hello_world.yaml");
    let http = case("sam_ids/events_all.yaml");
    let s = setup(
        snapshot_of(&hello),
        Box::new(|_| ok(&json!({"statusCode": 200}))),
    );
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/hello"))
        .await;
    assert_eq!(r.status, 200);
    s.gateway.swap(snapshot_of(&http));
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/hello"))
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .gateway
        .handle(request("GET", "localhost", "/items/3"))
        .await;
    assert_eq!(r.status, 200);
}

const HTTP_CORS: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: app.handler
      Runtime: python3.12
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /things, Method: GET, ApiId: !Ref Api}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: ["https://example.com"]
        AllowMethods: [GET, POST]
        AllowHeaders: [x-custom]
        ExposeHeaders: [x-out]
        MaxAge: 600
"#;

#[tokio::test]
async fn http_api_cors_is_answered_by_the_gateway() {
    let t = resolve(HTTP_CORS, &Options::default()).template.unwrap();
    let s = setup(
        snapshot_of(&t),
        Box::new(|_| {
            ok(
                &json!({"statusCode": 200, "headers": {"access-control-allow-origin": "https://evil"}}),
            )
        }),
    );
    let mut pre = request("OPTIONS", "localhost", "/things");
    pre.headers
        .push(("origin".into(), "https://example.com".into()));
    pre.headers
        .push(("access-control-request-method".into(), "GET".into()));
    let r = s.gateway.handle(pre).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(header(&r, "access-control-allow-headers"), Some("x-custom"));
    assert_eq!(header(&r, "access-control-max-age"), Some("600"));
    assert!(s.fake.seen.lock().unwrap().is_empty());

    let mut get = request("GET", "localhost", "/things");
    get.headers
        .push(("origin".into(), "https://example.com".into()));
    let r = s.gateway.handle(get).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(header(&r, "access-control-expose-headers"), Some("x-out"));

    let mut other = request("GET", "localhost", "/things");
    other
        .headers
        .push(("origin".into(), "https://other.org".into()));
    let r = s.gateway.handle(other).await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}
