//! The data plane fed by the deploy engine, end to end: a SAM app deployed into the server is
//! served on the gateway port over real HTTP, and a canary with Python hooks (boto3 against
//! the server) and an alarm moves real traffic — then moves it back.

mod common;
#[path = "common/http.rs"]
mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use slipway_deploy::stack::StackStatus;
use slipway_deploy::traffic::{DeploymentStatus, MINUTE_MS};
use slipway_engine::Clock;
use slipway_engine::providers::load_function;

/// A server with a gateway on an ephemeral port, a fixed pick seed, and a ticker that only
/// ticks when told to (the test advances the manual clock and calls `tick`).
fn rig() -> Rig {
    Rig::start_with(|c| {
        c.gateway = Some("127.0.0.1:0".parse().unwrap());
        c.gateway_seed = Some(6);
        c.tick_interval = Duration::from_secs(3600);
    })
}

fn gateway(r: &Rig) -> SocketAddr {
    r.server.as_ref().unwrap().gateway_addr().unwrap()
}

fn tick(r: &Rig) {
    let _guard = r.rt.enter();
    r.server.as_ref().unwrap().tick().unwrap();
}

fn settle(r: &Rig) {
    r.rt.block_on(r.server.as_ref().unwrap().gateway_settled());
}

/// `/_api/{apiId}/Prod/hello` of the stack's only API, and the API's ID.
fn hello_path(r: &Rig) -> (String, String) {
    let urls = r.server.as_ref().unwrap().api_urls(TARGET, "app");
    let prod = urls
        .iter()
        .find(|u| u.stage == "Prod")
        .unwrap_or_else(|| panic!("no Prod stage in {urls:?}"));
    let addr = gateway(r);
    let path = prod
        .path_url
        .strip_prefix(&format!("http://{addr}"))
        .unwrap()
        .to_owned();
    (format!("{path}hello"), prod.api_id.clone())
}

/// `n` GETs over `workers` keep-alive connections: `(status, body)` of each.
fn burst(r: &Rig, path: &str, n: usize, workers: usize) -> Vec<(u16, String)> {
    let addr = gateway(r);
    r.rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..workers {
            let path = path.to_owned();
            let share = n / workers + usize::from(w < n % workers);
            tasks.push(tokio::spawn(async move {
                let mut c = http::Conn::new(addr);
                let mut out = Vec::new();
                for _ in 0..share {
                    let (s, b) = c.get("127.0.0.1", &path).await.unwrap();
                    out.push((s, String::from_utf8_lossy(&b).into_owned()));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    })
}

fn count(replies: &[(u16, String)], body: &str) -> usize {
    replies
        .iter()
        .filter(|(s, b)| *s == 200 && b == body)
        .count()
}

fn five_xx(replies: &[(u16, String)]) -> usize {
    replies.iter().filter(|(s, _)| *s >= 500).count()
}

const SIMPLE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: v1/
      Events:
        Get:
          Type: Api
          Properties:
            Path: /hello
            Method: get
"#;

fn app(code: &str) -> String {
    format!(
        r#"
def handler(event, context):
    return {{"statusCode": 200, "body": "{code}"}}
"#
    )
}

#[test]
fn a_deployed_api_is_served_by_host_and_by_path_counted_in_metrics_and_after_a_restart() {
    let r = rig();
    r.write(&[("v1/app.py", &app("v1"))]);
    assert_eq!(r.deploy("app", SIMPLE).status, StackStatus::CreateComplete);
    settle(&r);
    let (path, api) = hello_path(&r);
    // The API ID is the physical ID the engine gave the API.
    let rec = r.engine.stack(TARGET, "app").unwrap().unwrap();
    assert_eq!(rec.resources["ServerlessRestApi"].physical_id, api);

    let got = burst(&r, &path, 3, 1);
    assert_eq!(count(&got, "v1"), 3, "{got:?}");
    let addr = gateway(&r);
    let (status, body) = r.rt.block_on(async {
        http::Conn::new(addr)
            .get(
                &format!("{api}.execute-api.localhost:{}", addr.port()),
                "/Prod/hello",
            )
            .await
            .unwrap()
    });
    assert_eq!((status, &body[..]), (200, &b"v1"[..]));
    // An unknown stage is API Gateway's 403; an unknown API the gateway's 404.
    let got = burst(&r, &format!("/_api/{api}/Nope/hello"), 1, 1);
    assert_eq!(got[0].0, 403, "{got:?}");
    let got = burst(&r, "/_api/zzzzzzzzzz/Prod/hello", 1, 1);
    assert_eq!(got[0].0, 404, "{got:?}");

    let metrics = r.python(&format!(
        "import urllib.request\nprint(urllib.request.urlopen('{}/metrics').read().decode())",
        r.endpoint()
    ));
    assert!(
        metrics
            .contains("slipway_lambda_invocations_total{function=\"hello\",version=\"$LATEST\",account=\"123456789012\",region=\"us-east-1\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("slipway_gateway_responses_total{class=\"2xx\"} 4"));
    assert!(metrics.contains("slipway_gateway_responses_total{class=\"4xx\"} 2"));
    assert!(metrics.contains("# TYPE slipway_lambda_duration_milliseconds summary"));

    // A restarted server serves what the store holds from the start (a new port here).
    let mut r = r;
    r.restart();
    let got = burst(&r, &path, 2, 1);
    assert_eq!(count(&got, "v1"), 2, "{got:?}");

    // Deleting the stack takes its API off the gateway.
    let _guard = r.rt.enter();
    r.server
        .as_ref()
        .unwrap()
        .with_engine(|e| e.delete_stack(TARGET, "app"))
        .unwrap();
    drop(_guard);
    settle(&r);
    let got = burst(&r, &path, 1, 1);
    assert_eq!(got[0].0, 404, "{got:?}");
}

const CANARY: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: {code}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Alarms:
          - !Ref AliasErrors
        Hooks:
          PreTraffic: !Ref PreTrafficHook
          PostTraffic: !Ref PostTrafficHook
      Events:
        Get:
          Type: Api
          Properties:
            Path: /hello
            Method: get
  PreTrafficHook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: CodeDeployHook_pre
      Runtime: python3.12
      Handler: hook.handler
      CodeUri: hooks/
  PostTrafficHook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: CodeDeployHook_post
      Runtime: python3.12
      Handler: hook.handler
      CodeUri: hooks/
  AliasErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: hello-live-errors
      Namespace: AWS/Lambda
      MetricName: Errors
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: notBreaching
      Dimensions:
        - Name: Resource
          Value: hello:live
        - Name: FunctionName
          Value: hello
"#;

/// A lifecycle hook as written for AWS: it reports success through boto3's CodeDeploy client
/// (`AWS_ENDPOINT_URL` points it at the server).
const HOOK: &str = r#"
import boto3

def handler(event, context):
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status="Succeeded",
    )
    return "Succeeded"
"#;

const BROKEN: &str = r#"
def handler(event, context):
    raise RuntimeError("v3 is broken")
"#;

/// `(primary, additional)` of `hello:live` in the store.
fn live(r: &Rig) -> (String, Option<(u32, f64)>) {
    let (f, _) = load_function(r.engine.store(), TARGET, "hello")
        .unwrap()
        .unwrap();
    let a = &f.versions.aliases["live"];
    (a.function_version.to_string(), a.additional)
}

fn status(r: &Rig) -> StackStatus {
    r.engine.stack(TARGET, "app").unwrap().unwrap().status
}

#[test]
fn a_canary_with_hooks_shifts_real_traffic_and_an_alarm_rolls_a_broken_version_back() {
    let r = rig();
    r.write(&[
        ("v1/app.py", &app("v1")),
        ("v2/app.py", &app("v2")),
        ("v3/app.py", BROKEN),
        ("hooks/hook.py", HOOK),
    ]);
    let rep = r.deploy("app", &CANARY.replace("{code}", "v1/"));
    assert_eq!(rep.status, StackStatus::CreateComplete);
    settle(&r);
    let (path, _) = hello_path(&r);
    let got = burst(&r, &path, 20, 2);
    assert_eq!(count(&got, "v1"), 20, "{got:?}");

    // Traffic flows through the whole update; none of it may fail because of the switch.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let stop = stop.clone();
        let path = path.clone();
        let addr = gateway(&r);
        r.rt.spawn(async move {
            let mut c = http::Conn::new(addr);
            let mut replies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (s, b) = c.get("127.0.0.1", &path).await.unwrap();
                replies.push((s, String::from_utf8_lossy(&b).into_owned()));
            }
            replies
        })
    };

    // v2: the PreTraffic hook (a real Python process using boto3) lets the canary start.
    let rep = r.deploy("app", &CANARY.replace("{code}", "v2/"));
    assert_eq!(rep.status, StackStatus::UpdateInProgress);
    let d2 = rep
        .waiting_on
        .expect("the alias update waits for CodeDeploy");
    r.wait_for("the PreTraffic hook to start the canary", || {
        live(&r) == ("1".to_owned(), Some((2, 0.1)))
    });
    settle(&r);
    let got = burst(&r, &path, 400, 4);
    let (v1, v2) = (count(&got, "v1"), count(&got, "v2"));
    assert_eq!(five_xx(&got), 0, "{got:?}");
    assert_eq!(v1 + v2, 400);
    // 10 %: 400 draws of p = 0.1 (mean 40, sd 6); the bounds are 3.3 sd away. The seed is
    // fixed, but the background client's share of the request counter varies from run to run.
    assert!((20..=60).contains(&v2), "v1 {v1}, v2 {v2}");

    // Five minutes later (virtual), 100 % v2; the PostTraffic hook ends the deployment.
    r.clock.advance_ms(5 * MINUTE_MS);
    tick(&r);
    r.wait_for("the deployment to succeed", || {
        r.engine.deployment(&d2).unwrap().unwrap().status == DeploymentStatus::Succeeded
    });
    r.wait_for("the stack update to complete", || {
        tick(&r);
        status(&r) == StackStatus::UpdateComplete
    });
    assert_eq!(live(&r), ("2".to_owned(), None));
    settle(&r);
    let got = burst(&r, &path, 100, 4);
    assert_eq!(count(&got, "v2"), 100, "{got:?}");

    stop.store(true, Ordering::Relaxed);
    let during = r.rt.block_on(background).unwrap();
    assert!(!during.is_empty());
    assert_eq!(five_xx(&during), 0, "a 5xx during the switch");
    assert!(during.iter().all(|(s, _)| *s == 200));

    // v3 is broken: its share of the canary fails, the alarm on the alias's Errors goes to
    // ALARM, traffic is back on v2 at once and the stack update rolls back.
    let rep = r.deploy("app", &CANARY.replace("{code}", "v3/"));
    assert_eq!(rep.status, StackStatus::UpdateInProgress);
    let d3 = rep
        .waiting_on
        .expect("the alias update waits for CodeDeploy");
    r.wait_for("the PreTraffic hook to start the v3 canary", || {
        live(&r) == ("2".to_owned(), Some((3, 0.1)))
    });
    settle(&r);
    let got = burst(&r, &path, 100, 4);
    let failed = five_xx(&got);
    assert!(failed > 0 && failed < 30, "{failed} of 100 failed");
    assert_eq!(count(&got, "v2") + failed, 100);
    // The runtime's counters become samples at this tick; a minute later their 60-second
    // period is complete and the alarm evaluates it, as CloudWatch would.
    let started = r.clock.now_ms();
    tick(&r);
    r.clock.advance_ms(MINUTE_MS);
    tick(&r);
    let dep = r.engine.deployment(&d3).unwrap().unwrap();
    assert_eq!(dep.status, DeploymentStatus::Stopped, "{dep:?}");
    assert!(r.clock.now_ms() - started < 5 * MINUTE_MS);
    assert_eq!(live(&r), ("2".to_owned(), None));
    r.wait_for("the stack to roll back", || {
        tick(&r);
        status(&r) == StackStatus::UpdateRollbackComplete
    });
    settle(&r);
    let got = burst(&r, &path, 100, 4);
    assert_eq!(count(&got, "v2"), 100, "{got:?}");

    // The console's deployment page draws the alarm's metric: the period's datapoint (the
    // failed invocations), the threshold, and the change to ALARM.
    let page = r.python(&format!(
        "import urllib.request\nprint(urllib.request.urlopen('{}/console/deployments/{d3}').read().decode())",
        r.endpoint()
    ));
    assert!(
        page.contains(">Alarm hello-live-errors: datapoints per period</title>"),
        "{page}"
    );
    assert!(page.contains("threshold 1</text>"), "{page}");
    assert!(page.contains(">ALARM</text>"), "{page}");
    assert!(
        page.contains(&format!("Datapoint: {failed}</span>")),
        "{page}"
    );
    let metrics = r.python(&format!(
        "import urllib.request\nprint(urllib.request.urlopen('{}/metrics').read().decode())",
        r.endpoint()
    ));
    assert!(
        metrics.contains("slipway_deployments{status=\"Succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("slipway_deployments{status=\"Stopped\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "slipway_lambda_errors_total{{function=\"hello\",version=\"3\",account=\"123456789012\",region=\"us-east-1\"}} {failed}"
        )),
        "{metrics}"
    );
}

#[test]
fn a_gateway_off_loopback_needs_a_token_and_so_do_the_metrics() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = slipway_server::Config::new(dir.path());
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.gateway = Some("0.0.0.0:0".parse().unwrap());
    let e = rt
        .block_on(slipway_server::Server::new(c).start())
        .err()
        .unwrap();
    assert!(
        matches!(e, slipway_server::ServerError::GatewayTokenRequired { .. }),
        "{e}"
    );

    let r = Rig::start_with(|c| {
        c.gateway = Some("0.0.0.0:0".parse().unwrap());
        c.token = Some("s3cret".into());
    });
    let script = format!(
        r##"
import urllib.request, urllib.error
url = "{}/metrics"
try:
    urllib.request.urlopen(url)
    raise SystemExit("expected 403")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
req = urllib.request.Request(url, headers={{"Authorization": "Bearer s3cret"}})
text = urllib.request.urlopen(req).read().decode()
assert "# TYPE slipway_gateway_responses_total counter" in text, text
print("ok")
"##,
        r.endpoint()
    );
    assert_eq!(r.python(&script).trim(), "ok");
}
