//! The control API (`/api/v1`) over real HTTP on loopback against an in-process server: stacks,
//! change sets, deployments and their actions, alias rollback, errors and tokens; and the
//! OpenAPI document held equal to the router.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use common::*;
use serde_json::{Value, json};
use slipway_engine::Clock as _;

const T: &str = "/api/v1/targets/123456789012/us-east-1";

/// One HTTP/1.1 request (`Connection: close`): status and JSON body.
fn call(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let value = if rest.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("{method} {path}: {e}: {rest}"))
    };
    (status, value)
}

fn get(r: &Rig, path: &str) -> (u16, Value) {
    call(&r.endpoint(), "GET", path, None, None)
}

fn post(r: &Rig, path: &str, body: &Value) -> (u16, Value) {
    call(&r.endpoint(), "POST", path, Some(body), None)
}

const HELLO: &str = "def handler(event, context):\n    return 'v1'\n";

fn app(extra_env: &str, preference: &str) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hi
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      Runtime: python3.12
      Handler: app.handler
      CodeUri: hello/
      AutoPublishAlias: live
{preference}      Environment:
        Variables:
          GREETING: !Ref Greeting
          EXTRA: "{extra_env}"
Outputs:
  FunctionArn:
    Value: !GetAtt Hello.Arn
"#
    )
}

fn deploy_body(r: &Rig, template: &str, options: &Value) -> Value {
    json!({
        "template": template,
        "codeRoot": r.project().display().to_string(),
        "parameters": [{"key": "Greeting", "value": "hello"}],
        "options": options.clone(),
    })
}

#[test]
fn the_openapi_document_lists_exactly_the_routers_paths() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.yaml"
    ))
    .unwrap();
    // The document is hand-written with a fixed layout: paths at two spaces, methods at four.
    let mut documented = std::collections::BTreeSet::new();
    let mut in_paths = false;
    let mut path = String::new();
    for line in doc.lines() {
        if !line.starts_with(' ') {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = format!("/{p}");
        } else if let Some(m) = line.strip_prefix("    ").and_then(|m| m.strip_suffix(':'))
            && ["get", "post", "put", "delete", "patch"].contains(&m)
        {
            documented.insert((m.to_uppercase(), path.clone()));
        }
    }
    let routed: std::collections::BTreeSet<_> = slipway_server::api::routes()
        .into_iter()
        .chain(slipway_server::PIPELINE_ROUTES.iter().copied())
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(
        documented, routed,
        "docs/openapi.yaml and the router differ"
    );
}

#[test]
fn stacks_deploy_through_change_sets_and_delete() {
    let r = Rig::start();
    r.write(&[("hello/app.py", HELLO)]);
    let template = app("a", "");
    let stack = format!("{T}/stacks/app");

    // A dry run plans and stores nothing.
    let (s, plan) = post(
        &r,
        &format!("{stack}/deploy"),
        &deploy_body(&r, &template, &json!({"dryRun": true})),
    );
    assert_eq!(s, 200, "{plan}");
    assert_eq!(plan["changeSetType"], "CREATE");
    assert!(plan["changeSet"].is_null());
    let ids: Vec<_> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["logicalId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"Hello") && ids.contains(&"HelloAliaslive"),
        "{ids:?}"
    );
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "Add")
    );
    assert_eq!(get(&r, &format!("{T}/stacks")).1["stacks"], json!([]));
    assert_eq!(get(&r, &stack).0, 404);

    // A change set to review: the stack is REVIEW_IN_PROGRESS until it is executed.
    let (s, out) = post(
        &r,
        &format!("{stack}/deploy"),
        &json!({"template": template, "codeRoot": r.project().display().to_string(),
                "changeSetName": "first", "options": {"noExecuteChangeset": true}}),
    );
    assert_eq!(s, 201, "{out}");
    assert!(out["operation"].is_null());
    let (s, cs) = get(&r, &format!("{stack}/change-sets/first"));
    assert_eq!(s, 200, "{cs}");
    assert_eq!(cs["executionStatus"], "AVAILABLE");
    assert_eq!(get(&r, &stack).1["status"], "REVIEW_IN_PROGRESS");
    let (s, op) = post(
        &r,
        &format!("{stack}/change-sets/first/execute"),
        &json!({}),
    );
    assert_eq!(s, 200, "{op}");
    assert_eq!(op["status"], "CREATE_COMPLETE");

    let (_, st) = get(&r, &stack);
    assert_eq!(st["status"], "CREATE_COMPLETE");
    assert_eq!(st["parameters"]["Greeting"], "hi");
    assert_eq!(st["outputs"][0]["key"], "FunctionArn");
    assert!(
        st["outputs"][0]["value"]
            .as_str()
            .unwrap()
            .ends_with(":function:hello"),
        "{st}"
    );
    assert!(
        st["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["type"] == "AWS::Lambda::Function")
    );
    let (_, list) = get(&r, &format!("{T}/stacks"));
    assert_eq!(list["stacks"][0]["name"], "app");

    // An update, created and executed in one call.
    let (s, out) = post(
        &r,
        &format!("{stack}/deploy"),
        &deploy_body(&r, &app("b", ""), &json!({})),
    );
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["changeSetType"], "UPDATE");
    assert_eq!(out["operation"]["status"], "UPDATE_COMPLETE");
    let hello = out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["logicalId"] == "Hello")
        .unwrap()
        .clone();
    assert_eq!(
        (hello["action"].as_str(), hello["replacement"].as_str()),
        (Some("Modify"), Some("False"))
    );
    assert_eq!(get(&r, &stack).1["parameters"]["Greeting"], "hello");

    // The same again: nothing to do, and no change set left behind.
    let (s, e) = post(
        &r,
        &format!("{stack}/deploy"),
        &deploy_body(&r, &app("b", ""), &json!({})),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("NoChanges")),
        "{e}"
    );
    assert_eq!(get(&r, &stack).1["changeSets"], json!([]));

    // Events, oldest first, and from an index on.
    let (_, ev) = get(&r, &format!("{stack}/events"));
    let total = ev["total"].as_u64().unwrap();
    assert_eq!(ev["events"][0]["status"], "REVIEW_IN_PROGRESS");
    assert_eq!(
        ev["events"].as_array().unwrap().last().unwrap()["status"],
        "UPDATE_COMPLETE"
    );
    let (_, tail) = get(&r, &format!("{stack}/events?since={}", total - 1));
    assert_eq!(tail["events"].as_array().unwrap().len(), 1);

    let (s, op) = call(&r.endpoint(), "DELETE", &stack, None, None);
    assert_eq!(
        (s, op["status"].as_str()),
        (200, Some("DELETE_COMPLETE")),
        "{op}"
    );
    assert_eq!(get(&r, &format!("{T}/stacks")).1["stacks"], json!([]));
    assert_eq!(
        get(&r, &format!("{T}/stacks?includeDeleted=true")).1["stacks"][0]["status"],
        "DELETE_COMPLETE"
    );
}

#[test]
fn errors_have_a_code_a_message_and_a_status() {
    let r = Rig::start();
    let code = |(s, v): (u16, Value)| (s, v["error"]["code"].as_str().unwrap_or("?").to_owned());
    assert_eq!(code(get(&r, "/api/v1/nothing")), (404, "NotFound".into()));
    assert_eq!(
        code(call(
            &r.endpoint(),
            "PUT",
            &format!("{T}/stacks"),
            None,
            None
        )),
        (405, "MethodNotAllowed".into())
    );
    assert_eq!(
        code(get(&r, &format!("{T}/stacks/none"))),
        (404, "NotFound".into())
    );
    assert_eq!(
        code(get(&r, "/api/v1/targets/nope/us-east-1/stacks/x/events")),
        (404, "NotFound".into())
    );
    assert_eq!(
        code(post(
            &r,
            &format!("{T}/stacks/x/deploy"),
            &json!({"templat": ""})
        )),
        (400, "BadRequest".into())
    );
    assert_eq!(
        code(post(
            &r,
            "/api/v1/targets/nope/us-east-1/stacks/x/deploy",
            &json!({"template": "{}"})
        )),
        (400, "BadRequest".into())
    );
    let (s, bad) = post(
        &r,
        &format!("{T}/stacks/x/deploy"),
        &json!({"template": "Resources:\n  A:\n    Type: AWS::Nope::Thing\n"}),
    );
    assert_eq!(s, 400, "{bad}");
    assert!(
        ["InvalidTemplate", "BadRequest"].contains(&bad["error"]["code"].as_str().unwrap()),
        "{bad}"
    );
    let (s, bad) = post(
        &r,
        &format!("{T}/stacks/x/deploy"),
        &json!({"template": "Resources: [\n"}),
    );
    assert_eq!(
        (s, bad["error"]["code"].as_str()),
        (400, Some("InvalidTemplate")),
        "{bad}"
    );
    assert!(
        !bad["error"]["diagnostics"].as_array().unwrap().is_empty(),
        "{bad}"
    );
    assert_eq!(
        code(get(&r, "/api/v1/deployments/d-NOPE")),
        (404, "NotFound".into())
    );
    let (s, e) = post(
        &r,
        "/api/v1/deployments/d-NOPE/actions",
        &json!({"action": "faster"}),
    );
    assert_eq!(s, 400);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("skip-wait"),
        "{e}"
    );
    assert_eq!(
        code(post(
            &r,
            &format!("{T}/functions/nope/aliases/live/rollback"),
            &json!({})
        )),
        (404, "NotFound".into())
    );
}

#[test]
fn a_token_is_required_when_the_server_has_one() {
    let r = Rig::start_with(|c| c.token = Some("s3cret".into()));
    let path = format!("{T}/stacks");
    let (s, e) = call(&r.endpoint(), "GET", &path, None, None);
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (401, Some("Unauthorized"))
    );
    assert_eq!(
        call(&r.endpoint(), "GET", &path, None, Some("wrong")).0,
        401
    );
    assert_eq!(
        call(&r.endpoint(), "GET", &path, None, Some("s3cret")).0,
        200
    );
}

/// Polls (bounded, real time) until the deployment reads as `want`; the manual clock does not
/// move, so only the server's ticker can make it so.
fn wait_deployment(r: &Rig, id: &str, mut want: impl FnMut(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    r.wait_for(&format!("deployment {id}"), || {
        last = get(r, &format!("/api/v1/deployments/{id}")).1;
        want(&last)
    });
    last
}

const CANARY: &str = "      DeploymentPreference:\n        Type: Canary10Percent5Minutes\n";

#[test]
fn deployments_are_listed_moved_by_operator_actions_and_rolled_back() {
    let r = Rig::start();
    r.write(&[("hello/app.py", HELLO)]);
    let stack = format!("{T}/stacks/app");
    let (s, out) = post(
        &r,
        &format!("{stack}/deploy"),
        &deploy_body(&r, &app("1", CANARY), &json!({})),
    );
    assert_eq!(s, 200, "{out}");
    // v2: a canary; the stack waits on it.
    let (_, out) = post(
        &r,
        &format!("{stack}/deploy"),
        &deploy_body(&r, &app("2", CANARY), &json!({})),
    );
    let id = out["operation"]["waitingOn"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert_eq!(out["operation"]["status"], "UPDATE_IN_PROGRESS");
    let d = wait_deployment(&r, &id, |d| d["weightPercent"] == 10.0);
    assert_eq!(
        (d["status"].as_str(), d["phase"].as_str()),
        (Some("InProgress"), Some("AllowTraffic"))
    );
    assert_eq!(
        d["config"],
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    );
    assert_eq!(
        (d["currentVersion"].as_u64(), d["targetVersion"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        d["schedule"][1],
        json!({"atMs": 300000, "weightPercent": 100.0})
    );
    // The manual clock has not moved: the shift started at START_MS.
    assert_eq!(d["nextEventMs"].as_u64(), Some(START_MS + 300_000));
    assert_eq!(d["nowMs"].as_u64(), Some(r.clock.now_ms()));

    let (_, list) = get(&r, &format!("{T}/deployments?function=hello"));
    assert_eq!(list["deployments"][0]["id"], id.as_str());
    let (_, by_logical) = get(&r, &format!("{T}/deployments?function=Hello"));
    assert_eq!(by_logical["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(&r, &format!("{T}/deployments?function=other")).1["deployments"],
        json!([])
    );

    // `continue` is only for a deployment waiting in Ready: 409; skip-wait ends the wait.
    let (s, e) = post(
        &r,
        &format!("/api/v1/deployments/{id}/actions"),
        &json!({"action": "continue"}),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("Conflict")),
        "{e}"
    );
    let (s, d) = post(
        &r,
        &format!("/api/v1/deployments/{id}/actions"),
        &json!({"action": "skip-wait"}),
    );
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        (d["status"].as_str(), d["weightPercent"].as_f64()),
        (Some("Succeeded"), Some(100.0))
    );
    // Weights over time, on the (unmoved) manual clock.
    assert_eq!(
        d["weights"],
        json!([{"atMs": START_MS, "weightPercent": 10.0}, {"atMs": START_MS, "weightPercent": 100.0}])
    );
    r.wait_for("the stack update", || {
        get(&r, &stack).1["status"] == "UPDATE_COMPLETE"
    });

    // No deployment in progress: the alias goes back to version 1 by hand.
    let (s, rb) = post(
        &r,
        &format!("{T}/functions/hello/aliases/live/rollback"),
        &json!({}),
    );
    assert_eq!(s, 200, "{rb}");
    assert_eq!(
        rb,
        json!({"function": "hello", "alias": "live", "kind": "MovedAlias", "fromVersion": 2, "toVersion": 1, "deploymentId": null})
    );
    let alias = r.aws_json(&[
        "lambda",
        "get-alias",
        "--function-name",
        "hello",
        "--name",
        "live",
    ]);
    assert_eq!(alias["FunctionVersion"], "1");
    // On version 1 there is nothing earlier.
    let (s, e) = post(
        &r,
        &format!("{T}/functions/hello/aliases/live/rollback"),
        &json!({}),
    );
    assert_eq!(s, 409, "{e}");

    // v3 while shifting: rollback stops the deployment and the stack update rolls back.
    let (_, out) = post(
        &r,
        &format!("{stack}/deploy"),
        &deploy_body(&r, &app("3", CANARY), &json!({})),
    );
    let id3 = out["operation"]["waitingOn"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    wait_deployment(&r, &id3, |d| d["weightPercent"] == 10.0);
    let (s, rb) = post(
        &r,
        &format!("{T}/functions/Hello/aliases/live/rollback"),
        &json!({}),
    );
    assert_eq!(s, 200, "{rb}");
    assert_eq!(rb["kind"], "StoppedDeployment");
    assert_eq!(rb["deploymentId"], id3.as_str());
    let d = get(&r, &format!("/api/v1/deployments/{id3}")).1;
    assert_eq!(
        (d["status"].as_str(), d["weightPercent"].as_f64()),
        (Some("Stopped"), Some(0.0)),
        "{d}"
    );
    assert!(d["failure"].as_str().unwrap().contains("stopped"), "{d}");
    r.wait_for("the stack rollback", || {
        get(&r, &stack).1["status"] == "UPDATE_ROLLBACK_COMPLETE"
    });
    let (s, e) = post(
        &r,
        &format!("/api/v1/deployments/{id3}/actions"),
        &json!({"action": "stop"}),
    );
    assert_eq!(s, 409, "{e}");
}

/// Every documented pipeline route is one the pipelines router answers: a made-up pipeline
/// gets `PipelineNotFound` (or the webhook's own refusal), never the router's `NotFound`.
#[test]
fn every_pipeline_route_is_routed() {
    let r = Rig::start();
    for (method, pattern) in slipway_server::PIPELINE_ROUTES {
        let path = pattern
            .replace("{name}", "no-such-pipeline")
            .replace("{executionId}", "x");
        let body = json!({"stage": "S", "action": "A", "status": "Approved"});
        let (status, v) = call(&r.endpoint(), method, &path, Some(&body), None);
        let code = v["error"]["code"].as_str().unwrap_or_default().to_owned();
        assert_ne!(code, "NotFound", "{method} {path}: {status} {v}");
        assert!(status < 500, "{method} {path}: {status} {v}");
    }
}

/// `POST /api/v1/pipelines` (what `slipway pipeline import` calls): `Fn::ImportValue` is
/// answered by a live stack of the target, `Fn::If` drops a stage, the server's token is
/// required, a bad template is a 422 with positioned diagnostics and defines nothing.
#[test]
fn a_template_is_imported_with_exports_of_the_target_behind_the_token() {
    let r = Rig::start_with(|c| c.token = Some("s3cret".into()));
    let tok = Some("s3cret");
    let shared = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: shared-art\nOutputs:\n  Art:\n    Value: !Ref Bucket\n    Export:\n      Name: shared-artefacts\n";
    let body = json!({"template": shared, "codeRoot": r.project().display().to_string()});
    let (s, out) = call(
        &r.endpoint(),
        "POST",
        &format!("{T}/stacks/shared/deploy"),
        Some(&body),
        tok,
    );
    assert_eq!(s, 200, "{out}");
    let pipeline = r#"
Parameters:
  WithCheck: {Type: String, Default: "no"}
Conditions:
  Check: !Equals [!Ref WithCheck, "yes"]
Resources:
  Pipe:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: shared
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore: {Type: S3, Location: !ImportValue shared-artefacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Src
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {S3Bucket: src, S3ObjectKey: app.zip}
              OutputArtifacts: [{Name: Src}]
        - !If
          - Check
          - Name: Check
            Actions:
              - Name: Approve
                ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
          - !Ref AWS::NoValue
        - Name: Gate
          Actions:
            - Name: Approve
              ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
"#;
    let req = json!({"template": pipeline, "file": "pipeline.yaml"});
    let (s, _) = call(&r.endpoint(), "POST", "/api/v1/pipelines", Some(&req), None);
    assert_eq!(s, 401);
    let (s, out) = call(&r.endpoint(), "POST", "/api/v1/pipelines", Some(&req), tok);
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["target"], "123456789012/us-east-1");
    let p = &out["pipelines"][0];
    assert_eq!(p["action"], "created", "{out}");
    // Created, so started once (CreatePipeline); its S3 object does not exist, so that
    // execution fails at its source — the import is a success all the same.
    let first = p["executionId"]
        .as_str()
        .expect("an execution id")
        .to_owned();
    assert_eq!(p["pipeline"]["artifactStore"]["location"], "shared-art");
    let stages: Vec<&str> = p["pipeline"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["Source", "Gate"]);

    // The condition true: a new stage, so UpdatePipeline's next version.
    let req = json!({"template": pipeline, "file": "pipeline.yaml",
        "parameterOverrides": [["WithCheck", "yes"]]});
    let (s, out) = call(&r.endpoint(), "POST", "/api/v1/pipelines", Some(&req), tok);
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["pipelines"][0]["action"], "updated", "{out}");
    assert_eq!(out["pipelines"][0]["previousVersion"], 1);
    assert_eq!(out["pipelines"][0]["pipeline"]["version"], 2);
    assert!(out["pipelines"][0].get("executionId").is_none(), "{out}");
    let (_, st) = call(&r.endpoint(), "GET", "/api/v1/pipelines/shared", None, tok);
    let ids: Vec<&str> = st["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str()], "{st}");

    // An export that does not exist: 422, the diagnostic's position, nothing changed.
    let broken = pipeline.replace("shared-artefacts", "no-such-export");
    let req = json!({"template": broken, "file": "pipeline.yaml"});
    let (s, out) = call(&r.endpoint(), "POST", "/api/v1/pipelines", Some(&req), tok);
    assert_eq!(s, 422, "{out}");
    assert_eq!(out["code"], "InvalidTemplate");
    assert_eq!(out["valid"], false);
    let d = &out["diagnostics"][0];
    assert_eq!(
        (d["file"].as_str(), d["line"].as_u64()),
        (Some("pipeline.yaml"), Some(12)),
        "{out}"
    );
    assert!(
        out["rendered"]
            .as_str()
            .unwrap()
            .contains("--> pipeline.yaml:12:"),
        "{out}"
    );
    let (_, st) = call(&r.endpoint(), "GET", "/api/v1/pipelines/shared", None, tok);
    assert_eq!(st["pipeline"]["version"], 2);
}
