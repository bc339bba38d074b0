//! Property tests of route priority against independent oracles:
//! - REST: a depth-first walk of the resource tree trying the literal child, then `{param}`
//!   children, then the greedy child — the first resource where the path ends wins;
//! - HTTP API: AWS's documented order (no greedy variable first, then most specific, then an
//!   exact method before `ANY`), computed by brute force over all routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use slipway_gateway::routes::{
    ApiInfo, ApiKind, Integration, PathPattern, Route, RouteTable, Segment, StageInfo, split_path,
};

fn seg() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("{x}".to_owned()),
        Just("{y}".to_owned()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    (prop::collection::vec(seg(), 0..4), any::<bool>()).prop_map(|(segs, greedy)| {
        let mut p = String::new();
        let mut names = 0;
        for s in segs {
            p.push('/');
            if s.starts_with('{') {
                // Distinct names per pattern, as AWS requires.
                names += 1;
                p.push_str(&format!("{{p{names}}}"));
            } else {
                p.push_str(&s);
            }
        }
        if greedy {
            p.push_str("/{proxy+}");
        }
        if p.is_empty() { "/".to_owned() } else { p }
    })
}

fn request_path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 0..5),
        any::<bool>(),
    )
        .prop_map(|(segs, slash)| {
            let mut p = format!("/{}", segs.join("/"));
            if slash && p.len() > 1 {
                p.push('/');
            }
            p
        })
}

fn method() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("GET".to_owned())),
        Just(Some("POST".to_owned()))
    ]
}

fn table(kind: ApiKind, routes: &[(String, Option<String>)]) -> RouteTable {
    // Parameters are numbered by position, so two patterns of the same shape have the same
    // text: a repeated (pattern, method) is the same route, which AWS would refuse twice.
    let mut out: Vec<Route> = Vec::new();
    for (p, m) in routes {
        let pattern = PathPattern::parse(p).unwrap();
        if out
            .iter()
            .any(|r| r.pattern.as_str() == pattern.as_str() && r.method == *m)
        {
            continue;
        }
        out.push(Route {
            pattern,
            method: m.clone(),
            integration: Arc::new(Integration::Unsupported {
                kind: format!("{} {p}", m.as_deref().unwrap_or("ANY")),
            }),
        });
    }
    RouteTable {
        api: Arc::new(ApiInfo {
            id: "0123456789".into(),
            logical_id: "Api".into(),
            kind,
            binary_media_types: Vec::new(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            cors: None,
        }),
        stage: StageInfo {
            name: "s".into(),
            variables: BTreeMap::new(),
        },
        routes: out,
        default_route: None,
    }
}

/// The REST oracle: DFS over the resource tree.
fn rest_oracle<'a>(routes: &'a [Route], parts: &[&str]) -> Option<&'a str> {
    // Resources are the distinct patterns; walk them as a tree by prefix.
    fn walk<'a>(
        resources: &[&'a PathPattern],
        depth: usize,
        parts: &[&str],
    ) -> Option<&'a PathPattern> {
        // Resources whose pattern has exactly `depth` segments and all so far consumed.
        if depth == parts.len()
            && let Some(r) = resources.iter().find(|r| r.segments().len() == depth)
        {
            return Some(r);
        }
        if depth < parts.len() {
            let deeper: Vec<&&PathPattern> = resources
                .iter()
                .filter(|r| r.segments().len() > depth)
                .collect();
            // Literal child first.
            let lit: Vec<&'a PathPattern> = deeper
                .iter()
                .filter(
                    |r| matches!(&r.segments()[depth], Segment::Literal(l) if l == parts[depth]),
                )
                .map(|r| **r)
                .collect();
            if !lit.is_empty()
                && let Some(found) = walk(&lit, depth + 1, parts)
            {
                return Some(found);
            }
            let param: Vec<&'a PathPattern> = deeper
                .iter()
                .filter(|r| matches!(&r.segments()[depth], Segment::Param(_)))
                .map(|r| **r)
                .collect();
            if !param.is_empty()
                && let Some(found) = walk(&param, depth + 1, parts)
            {
                return Some(found);
            }
            if let Some(g) = deeper
                .iter()
                .find(|r| matches!(&r.segments()[depth], Segment::Greedy(_)))
            {
                return Some(**g);
            }
        }
        None
    }
    let mut resources: Vec<&PathPattern> = Vec::new();
    for r in routes {
        if !resources.iter().any(|p| p.as_str() == r.pattern.as_str()) {
            resources.push(&r.pattern);
        }
    }
    walk(&resources, 0, parts).map(|p| p.as_str())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rest_matches_the_resource_tree_walk(
        routes in prop::collection::vec((pattern(), method()), 1..8),
        path in request_path(),
    ) {
        let t = table(ApiKind::Rest, &routes);
        let parts = split_path(&path);
        let expected = rest_oracle(&t.routes, &parts);
        // The resource chosen, whatever the method.
        let got = ["GET", "POST", "DELETE"]
            .iter()
            .find_map(|m| t.find(m, &path).ok().map(|m| m.resource.to_owned()));
        match expected {
            None => prop_assert!(got.is_none(), "{path}: got {got:?}"),
            Some(resource) => {
                // The method can still be missing on that resource (403), but when something
                // matched, it is that resource.
                if let Some(g) = &got {
                    prop_assert_eq!(g.as_str(), resource, "{}", path);
                }
                let has_any = t.routes.iter().any(|r| r.pattern.as_str() == resource && r.method.is_none());
                if has_any {
                    prop_assert_eq!(got.as_deref(), Some(resource));
                }
            }
        }
    }

    #[test]
    fn http_follows_documented_order(
        routes in prop::collection::vec((pattern(), method()), 1..8),
        path in request_path(),
        m in prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
    ) {
        let t = table(ApiKind::Http, &routes);
        let parts = split_path(&path);
        let candidates: Vec<&Route> = t.routes.iter()
            .filter(|r| r.method.as_deref().is_none_or(|x| x == m))
            .filter(|r| r.pattern.matches(&parts).is_some())
            .collect();
        let key = |r: &Route| {
            let greedy = matches!(r.pattern.segments().last(), Some(Segment::Greedy(_)));
            let ranks: Vec<u8> = r.pattern.segments().iter().map(|s| match s {
                Segment::Literal(_) => 0, Segment::Param(_) => 1, Segment::Greedy(_) => 2,
            }).collect();
            (greedy, ranks, r.method.is_none())
        };
        let best = candidates.iter().map(|r| key(r)).min();
        let got = t.find(m, &path).ok();
        match best {
            None => prop_assert!(got.is_none()),
            Some(best) => {
                let got = got.expect("a route");
                let route = t.routes.iter().find(|r| {
                    format!("{} {}", r.method.as_deref().unwrap_or("ANY"), r.pattern.as_str()) == got.route_key
                }).unwrap();
                prop_assert_eq!(key(route), best);
            }
        }
    }

    #[test]
    fn an_exact_literal_route_always_wins(
        routes in prop::collection::vec((pattern(), method()), 0..8),
        segs in prop::collection::vec(prop_oneof![Just("a"), Just("b")], 1..4),
    ) {
        let path = format!("/{}", segs.join("/"));
        let mut all = vec![(path.clone(), None)];
        all.extend(routes);
        for kind in [ApiKind::Rest, ApiKind::Http] {
            let t = table(kind, &all);
            let got = t.find("GET", &path).unwrap();
            prop_assert_eq!(got.resource, path.as_str());
        }
    }
}

mod never_panics {
    use std::sync::Arc;

    use bytes::Bytes;
    use proptest::prelude::*;
    use slipway_gateway::build::build;
    use slipway_gateway::{Directory, Gateway, GatewayConfig, IncomingRequest};
    use slipway_model::function::Version;
    use slipway_model::invoke::{InvokeFuture, InvokeRequest, InvokeResponse, Invoker};
    use slipway_model::template::{Options, resolve};

    struct Echo;

    impl Invoker for Echo {
        fn invoke(&self, request: InvokeRequest) -> InvokeFuture<'_> {
            // Whatever the event was, answer it back as the result: mostly malformed.
            Box::pin(async move {
                Ok(InvokeResponse {
                    payload: request.payload,
                    function_error: None,
                    executed_version: Version::Latest,
                    log_result: None,
                    request_id: String::new(),
                })
            })
        }
    }

    const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://b/k.zip
      Handler: app.handler
      Runtime: python3.12
      Events:
        A: {Type: Api, Properties: {Path: "/a/{x}/{proxy+}", Method: any}}
        B: {Type: Api, Properties: {Path: /a/b, Method: get}}
        H: {Type: HttpApi, Properties: {Path: "/h/{id}", Method: any}}
"#;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_request_gets_an_answer(
            path in "/[a-z_%/{}+.*0-9$]{0,30}",
            query in proptest::option::of("[a-z=&%+;]{0,20}"),
            host in prop_oneof![Just("localhost".to_owned()), "[a-z0-9.:]{0,30}"],
            method in prop_oneof![Just("GET"), Just("POST"), Just("OPTIONS"), Just("HEAD")],
            body in proptest::collection::vec(any::<u8>(), 0..64),
            ct in proptest::option::of(prop_oneof![Just("image/png"), Just("text/plain"), Just("x")]),
        ) {
            let t = resolve(TEMPLATE, &Options::default()).template.unwrap();
            let (snapshot, _) = build(&t, &Directory::local(&t));
            let ids: Vec<String> = snapshot.apis.iter().map(|a| a.info.id.clone()).collect();
            let gateway = Gateway::new(snapshot, Arc::new(Echo), GatewayConfig {
                root: false,
                ..GatewayConfig::default()
            });
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut headers = vec![("host".to_owned(), host.clone())];
            if let Some(ct) = ct {
                headers.push(("content-type".to_owned(), ct.to_owned()));
            }
            for target in [path.clone(), format!("/_api/{}{path}", ids[0]), format!("/_api/{}/Prod{path}", ids[1 % ids.len()])] {
                let reply = rt.block_on(gateway.handle(IncomingRequest {
                    method: method.to_owned(),
                    host: host.clone(),
                    path: target,
                    query: query.clone(),
                    headers: headers.clone(),
                    body: Bytes::from(body.clone()),
                    too_large: false,
                    peer: "127.0.0.1:1".parse().unwrap(),
                    local_port: 3000,
                    protocol: "HTTP/1.1",
                }));
                prop_assert!((200..600).contains(&reply.status));
            }
        }
    }
}
