//! Route tables built from real resolved templates: the SAM cases of the model's golden tests
//! and hand-written CloudFormation with explicit resources.

use std::path::Path;
use std::sync::Arc;

use slipway_gateway::routes::{ApiKind, Integration, NoMatch, PayloadVersion, RouteTable};
use slipway_gateway::{Backend, Directory, Routing, Snapshot, build::build};
use slipway_model::function::Version;
use slipway_model::template::{Options, Template, resolve};

fn resolve_text(text: &str) -> Template {
    let opts = Options {
        stack_name: "golden".into(),
        ..Options::default()
    };
    let outcome = resolve(text, &opts);
    assert!(!outcome.has_errors(), "{:#?}", outcome.diagnostics);
    outcome.template.unwrap()
}

fn case(name: &str) -> Template {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/cases")
        .join(name);
    resolve_text(&std::fs::read_to_string(path).unwrap())
}

fn snapshot(t: &Template) -> Snapshot {
    let (snapshot, problems) = build(t, &Directory::local(t));
    assert!(problems.is_empty(), "{problems:#?}");
    snapshot
}

fn table(s: &Snapshot, api: &str, stage: &str) -> Arc<RouteTable> {
    let entry = s
        .apis
        .iter()
        .find(|a| a.info.logical_id == api)
        .unwrap_or_else(|| panic!("no API {api}"));
    entry
        .stages
        .get(stage)
        .unwrap_or_else(|| panic!("no stage {stage} in {:?}", entry.stages.keys()))
        .clone()
}

fn backend(t: &RouteTable, method: &str, path: &str) -> Backend {
    let m = t.find(method, path).unwrap();
    match &**m.integration {
        Integration::Lambda { backend: Ok(b), .. } => b.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sam_hello_world_has_prod_and_stage() {
    let t = case("sam_ids/hello_world.yaml");
    let s = snapshot(&t);
    assert_eq!(s.apis.len(), 1);
    let api = &s.apis[0];
    assert_eq!(api.info.kind, ApiKind::Rest);
    assert_eq!(api.info.id.len(), 10);
    assert_eq!(api.primary_stage.as_deref(), Some("Prod"));
    assert_eq!(api.stages.keys().collect::<Vec<_>>(), vec!["Prod", "Stage"]);
    let prod = table(&s, "ServerlessRestApi", "Prod");
    assert!(prod.stage.variables.is_empty());
    let b = backend(&prod, "GET", "/hello");
    assert_eq!(b.function, "HelloWorldFunction");
    assert_eq!(b.qualifier, None);
    assert_eq!(b.routing, Routing::Single(Version::Latest));
    assert_eq!(
        backend(&prod, "GET", "/hello/").function,
        "HelloWorldFunction"
    );
    assert_eq!(
        prod.find("POST", "/hello").unwrap_err(),
        NoMatch::MissingAuthenticationToken
    );
    assert_eq!(
        prod.find("GET", "/").unwrap_err(),
        NoMatch::MissingAuthenticationToken
    );
}

#[test]
fn sam_explicit_api_stage_variables_binary_and_cors() {
    let t = case("sam_ids/explicit_api.yaml");
    let s = snapshot(&t);
    let v1 = table(&s, "MyApi", "v1");
    assert_eq!(
        v1.stage.variables.get("alias").map(String::as_str),
        Some("live")
    );
    assert_eq!(v1.api.binary_media_types, vec!["image/png".to_owned()]);
    let m = v1.find("DELETE", "/items/a/b").unwrap();
    assert_eq!(m.resource, "/items/{proxy+}");
    assert_eq!(m.path_params, vec![("proxy".to_owned(), "a/b".to_owned())]);
    // SAM's CORS preflight is a mock integration with the configured headers.
    let pre = v1.find("OPTIONS", "/items/x").unwrap();
    match &**pre.integration {
        Integration::Mock { status, headers } => {
            assert_eq!(*status, 200);
            assert!(headers.contains(&("Access-Control-Allow-Origin".to_owned(), "*".to_owned())));
            assert!(headers.contains(&(
                "Access-Control-Allow-Methods".to_owned(),
                "GET,POST".to_owned()
            )));
        }
        other => panic!("{other:?}"),
    }
    // The extra `Stage` stage has no variables.
    assert!(table(&s, "MyApi", "Stage").stage.variables.is_empty());
}

#[test]
fn sam_http_api_v2_default_stage() {
    let t = case("sam_ids/events_all.yaml");
    let s = snapshot(&t);
    let d = table(&s, "ServerlessHttpApi", "$default");
    assert_eq!(d.api.kind, ApiKind::Http);
    let m = d.find("GET", "/items/42").unwrap();
    assert_eq!(m.route_key, "GET /items/{id}");
    match &**m.integration {
        Integration::Lambda {
            payload, backend, ..
        } => {
            assert_eq!(*payload, PayloadVersion::V2);
            assert_eq!(backend.as_ref().unwrap().function, "Worker");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.find("POST", "/items/42").unwrap_err(), NoMatch::NotFound);
}

#[test]
fn realworld_alias_in_uri_and_two_apis() {
    let t = case("realworld/sam_app.yaml");
    let s = snapshot(&t);
    assert_eq!(s.apis.len(), 2);
    let staging = table(&s, "OrdersApi", "staging");
    let b = backend(&staging, "GET", "/orders");
    assert_eq!(b.function, "ListOrdersFunction");
    assert_eq!(b.qualifier.as_deref(), Some("live"));
    assert_eq!(
        backend(&staging, "GET", "/orders/9").function,
        "GetOrderFunction"
    );
    let prod = table(&s, "ServerlessRestApi", "Prod");
    assert_eq!(
        backend(&prod, "GET", "/health").qualifier.as_deref(),
        Some("live")
    );
}

#[test]
fn weighted_alias_from_the_directory() {
    let t = case("realworld/sam_app.yaml");
    let mut dir = Directory::local(&t);
    dir.routing.insert(
        ("ListOrdersFunction".into(), "live".into()),
        Routing::Weighted {
            primary: Version::Published(1),
            secondary: Version::Published(2),
            weight: 0.1,
        },
    );
    let (s, _) = build(&t, &dir);
    let staging = table(&s, "OrdersApi", "staging");
    let b = backend(&staging, "GET", "/orders");
    let mut rng = fastrand::Rng::with_seed(7);
    let n = 5000;
    let second = (0..n)
        .filter(|_| b.routing.pick(&mut rng) == &Version::Published(2))
        .count();
    let share = second as f64 / n as f64;
    assert!((0.08..=0.12).contains(&share), "{share}");
}

const EXPLICIT: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: orders
      Runtime: python3.12
      Handler: app.handler
      Role: arn:aws:iam::123456789012:role/r
      Code: {S3Bucket: b, S3Key: k}
  FnAlias:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: "1"
      Name: blue
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: explicit
  Items:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !GetAtt Api.RootResourceId
      PathPart: items
  Item:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !Ref Items
      PathPart: "{id}"
  GetItem:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Item
      HttpMethod: GET
      AuthorizationType: NONE
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:orders:${!stageVariables.alias}/invocations"
  AnyRoot:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: ANY
      AuthorizationType: NONE
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Join ["", ["arn:aws:apigateway:", !Ref "AWS::Region", ":lambda:path/2015-03-31/functions/", !GetAtt Fn.Arn, "/invocations"]]
  Deployment:
    Type: AWS::ApiGateway::Deployment
    DependsOn: [GetItem, AnyRoot]
    Properties:
      RestApiId: !Ref Api
  Blue:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Api
      DeploymentId: !Ref Deployment
      StageName: blue
      Variables: {alias: blue}
  Broken:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Api
      DeploymentId: !Ref Deployment
      StageName: broken
      Variables: {alias: nosuchalias}
"#;

#[test]
fn explicit_resource_method_tree_with_stage_variable_alias() {
    let t = resolve_text(EXPLICIT);
    let s = snapshot(&t);
    let blue = table(&s, "Api", "blue");
    let b = backend(&blue, "GET", "/items/7");
    assert_eq!(b.function, "orders");
    assert_eq!(b.qualifier.as_deref(), Some("blue"));
    let root = backend(&blue, "PATCH", "/");
    assert_eq!((root.function.as_str(), root.qualifier), ("orders", None));
    // An alias the stage names that does not exist: the route is there, the invoke fails.
    let broken = table(&s, "Api", "broken");
    let m = broken.find("GET", "/items/7").unwrap();
    match &**m.integration {
        Integration::Lambda {
            backend: Err(e), ..
        } => {
            assert!(e.contains("Function not found"), "{e}");
            assert!(
                e.starts_with("Resources.GetItem.Properties.Integration.Uri"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

const HTTP_EXPLICIT: &str = r#"
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: arn:aws:iam::123456789012:role/r
      Code: {S3Bucket: b, S3Key: k}
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: h
      ProtocolType: HTTP
  Integ:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Fn.Arn
      PayloadFormatVersion: "1.0"
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: "POST /things/{id}"
      Target: !Join ["/", ["integrations", !Ref Integ]]
  Default:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: "$default"
      Target: !Sub "integrations/${Integ}"
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: dev
      StageVariables: {color: green}
"#;

#[test]
fn explicit_http_api_routes_and_payload_v1() {
    let t = resolve_text(HTTP_EXPLICIT);
    // A bare function ARN as IntegrationUri is what AWS accepts for HTTP APIs.
    let s = snapshot(&t);
    let dev = table(&s, "Api", "dev");
    assert_eq!(
        dev.stage.variables.get("color").map(String::as_str),
        Some("green")
    );
    let m = dev.find("POST", "/things/1").unwrap();
    assert_eq!(m.route_key, "POST /things/{id}");
    match &**m.integration {
        Integration::Lambda {
            payload: PayloadVersion::V1,
            backend: Ok(b),
            ..
        } => assert_eq!(b.function, "Fn"),
        other => panic!("{other:?}"),
    }
    assert_eq!(dev.find("GET", "/anything").unwrap().route_key, "$default");
}

#[test]
fn an_alias_step_swaps_only_the_integrations_that_invoke_the_alias() {
    let t = case("realworld/sam_app.yaml");
    let weighted = |weight| {
        let mut dir = Directory::local(&t);
        dir.routing.insert(
            ("ListOrdersFunction".into(), "live".into()),
            Routing::Weighted {
                primary: Version::Published(1),
                secondary: Version::Published(2),
                weight,
            },
        );
        dir
    };
    let dir = weighted(0.1);
    let (before, _) = build(&t, &dir);
    let (rebuilt, _) = build(&t, &weighted(0.6));
    let routing = Routing::Weighted {
        primary: Version::Published(1),
        secondary: Version::Published(2),
        weight: 0.6,
    };
    let (after, changed) =
        before.with_alias_routing(&dir.location, "ListOrdersFunction", "live", &routing);
    assert!(changed > 0);
    // What a full rebuild serves, route for route.
    assert_eq!(after.apis.len(), rebuilt.apis.len());
    for (a, r) in after.apis.iter().zip(&rebuilt.apis) {
        assert!(Arc::ptr_eq(&a.info, &before.api(&a.info.id).unwrap().info));
        assert_eq!(
            a.stages.keys().collect::<Vec<_>>(),
            r.stages.keys().collect::<Vec<_>>()
        );
        for (name, table) in &a.stages {
            let want = &r.stages[name];
            let old = &before.api(&a.info.id).unwrap().stages[name];
            let invokes = |t: &RouteTable| {
                t.routes.iter().any(|route| {
                    matches!(&*route.integration, Integration::Lambda { backend: Ok(b), .. }
                        if b.function == "ListOrdersFunction" && b.qualifier.as_deref() == Some("live"))
                })
            };
            // Tables that do not invoke the alias are the same tables.
            assert_eq!(Arc::ptr_eq(table, old), !invokes(old), "{name}");
            for (got, want) in table.routes.iter().zip(&want.routes) {
                assert_eq!(got.pattern.as_str(), want.pattern.as_str());
                assert_eq!(*got.integration, *want.integration);
            }
        }
    }
    // The same routing again changes nothing; another function's alias neither.
    assert_eq!(
        after
            .with_alias_routing(&dir.location, "ListOrdersFunction", "live", &routing)
            .1,
        0
    );
    assert_eq!(
        before
            .with_alias_routing(&dir.location, "OtherFunction", "live", &routing)
            .1,
        0
    );
}
