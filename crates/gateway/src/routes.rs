//! Route tables and AWS's matching rules, with no sockets.
//!
//! One [`RouteTable`] is one stage of one API: its routes with their integrations already
//! resolved for that stage (stage variables substituted, aliases looked up). Tables are
//! immutable; the server swaps whole [`crate::Snapshot`]s.
//!
//! Matching, as API Gateway does it (`../shared/reference/aws-semantics.md` §2.2, §2.3):
//!
//! - The path is split on `/`; one trailing slash is ignored (`/hello/` is routed as `/hello`;
//!   the event still carries the path as sent). A segment pattern is a literal, a `{param}`
//!   (one non-empty segment) or a final `{name+}` (one or more segments, greedy).
//! - **REST**: the resource is chosen first — of the resources whose pattern matches, the one
//!   whose segments are most specific from left to right (literal > `{param}` > `{proxy+}`),
//!   which is a depth-first walk of the resource tree trying literal children first. Then the
//!   method: an exact method, else `ANY`. A resource without the method, or no resource, is
//!   `403 {"message":"Missing Authentication Token"}`.
//! - **HTTP API**: routes are chosen with their method: a route without a greedy variable
//!   beats one with; then the most specific segments; then an exact method beats `ANY`; then
//!   the `$default` route; else `404 {"message":"Not Found"}`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use slipway_model::function::Version;

/// One segment of a route's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Param(String),
    /// `{name+}`: the rest of the path, at least one non-empty segment; always last.
    Greedy(String),
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
        }
    }
}

/// A resource path or route path: `/items/{id}`, `/{proxy+}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    segments: Vec<Segment>,
}

/// Why a path cannot be a route.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("path '{0}' must start with '/'")]
    NoLeadingSlash(String),
    #[error("path '{0}': a greedy path variable must be the last segment")]
    GreedyNotLast(String),
    #[error("path '{0}': segment '{1}' is not a literal, {{name}} or {{name+}}")]
    BadSegment(String, String),
}

impl PathPattern {
    pub fn parse(path: &str) -> Result<PathPattern, PatternError> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err(PatternError::NoLeadingSlash(path.to_owned()));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let seg =
                    if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                        if let Some(name) = inner.strip_suffix('+') {
                            if i + 1 != parts.len() {
                                return Err(PatternError::GreedyNotLast(path.to_owned()));
                            }
                            Segment::Greedy(name.to_owned())
                        } else {
                            Segment::Param(inner.to_owned())
                        }
                    } else if part.is_empty() || part.contains(['{', '}']) {
                        return Err(PatternError::BadSegment(
                            path.to_owned(),
                            (*part).to_owned(),
                        ));
                    } else {
                        Segment::Literal((*part).to_owned())
                    };
                if matches!(&seg, Segment::Param(n) | Segment::Greedy(n) if n.is_empty()) {
                    return Err(PatternError::BadSegment(
                        path.to_owned(),
                        (*part).to_owned(),
                    ));
                }
                segments.push(seg);
            }
        }
        let text = if segments.is_empty() {
            "/".to_owned()
        } else {
            path.strip_suffix('/').unwrap_or(path).to_owned()
        };
        Ok(PathPattern { text, segments })
    }

    /// The path as written (`/items/{proxy+}`): the event's `resource`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    fn has_greedy(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Greedy(_)))
    }

    /// Compares specificity: `Less` is more specific.
    fn specificity(&self, other: &PathPattern) -> Ordering {
        let a = self.segments.iter().map(Segment::rank);
        let b = other.segments.iter().map(Segment::rank);
        a.cmp(b)
    }

    /// Matches request path segments (raw, not yet decoded); returns the path parameters,
    /// percent-decoded.
    pub fn matches(&self, parts: &[&str]) -> Option<Vec<(String, String)>> {
        let mut params = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Literal(lit) => {
                    if parts.get(i) != Some(&lit.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let part = parts.get(i).filter(|p| !p.is_empty())?;
                    params.push((name.clone(), percent_decode(part)));
                }
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).filter(|r| !r.is_empty())?;
                    let joined = rest.join("/");
                    if joined.is_empty() {
                        return None;
                    }
                    params.push((name.clone(), percent_decode(&joined)));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
}

/// Splits a request path (without query, without the stage) into segments, ignoring one
/// trailing slash. `/` is no segments.
pub fn split_path(path: &str) -> Vec<&str> {
    let p = path.strip_prefix('/').unwrap_or(path);
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() {
        Vec::new()
    } else {
        p.split('/').collect()
    }
}

/// `%41` → `A`; `+` stays `+` (paths are not form-encoded); invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// REST API (payload v1 always) or HTTP API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKind {
    Rest,
    Http,
}

/// `payloadFormatVersion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadVersion {
    V1,
    V2,
}

/// How an alias (or a plain version) splits traffic.
#[derive(Clone, Debug, PartialEq)]
pub enum Routing {
    Single(Version),
    /// `RoutingConfig.AdditionalVersionWeights`: `secondary` gets `weight` (0.0–1.0).
    Weighted {
        primary: Version,
        secondary: Version,
        weight: f64,
    },
}

impl Routing {
    /// The version one request runs, drawn from `rng` (seeded in tests).
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &Version {
        match self {
            Routing::Single(v) => v,
            Routing::Weighted {
                primary,
                secondary,
                weight,
            } => {
                if rng.f64() < *weight {
                    secondary
                } else {
                    primary
                }
            }
        }
    }
}

/// A Lambda function (version or alias) an integration invokes.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    /// Physical function name.
    pub function: String,
    /// The account and region of the function (the API's own: an integration names a function
    /// of its target). `None` when the directory does not say.
    pub location: Option<slipway_model::function::Location>,
    /// The alias or version named in the integration URI, if any.
    pub qualifier: Option<String>,
    pub routing: Routing,
}

/// What a route does.
#[derive(Clone, Debug, PartialEq)]
pub enum Integration {
    /// `aws_proxy` to Lambda. `backend` is an error text when the URI could not be resolved
    /// for this stage (AWS answers such requests with 500; the text goes to the log).
    Lambda {
        backend: Result<Backend, String>,
        payload: PayloadVersion,
        timeout: Duration,
    },
    /// A `mock` integration (SAM's CORS preflight): a status and static headers.
    Mock {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Any other integration type: answered with 500 and a log line.
    Unsupported { kind: String },
}

/// A route: a path pattern, a method (`None` = `ANY`) and what it does.
#[derive(Clone, Debug)]
pub struct Route {
    pub pattern: PathPattern,
    pub method: Option<String>,
    pub integration: Arc<Integration>,
}

/// A stage of an API.
#[derive(Clone, Debug, PartialEq)]
pub struct StageInfo {
    pub name: String,
    /// `Variables` / `StageVariables`; empty means `stageVariables: null`.
    pub variables: BTreeMap<String, String>,
}

/// What every route of an API shares.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiInfo {
    /// The local API id (10 characters, `[0-9a-z]`), as in `{apiId}.execute-api…`.
    pub id: String,
    /// The template's logical ID.
    pub logical_id: String,
    pub kind: ApiKind,
    /// `BinaryMediaTypes` (`image/png`, `*/*`), REST only.
    pub binary_media_types: Vec<String>,
    pub account: String,
    pub region: String,
    /// HTTP API `CorsConfiguration` (`x-amazon-apigateway-cors`); REST APIs answer CORS with
    /// their own `OPTIONS` methods (SAM's mock integrations).
    pub cors: Option<Cors>,
}

/// An HTTP API's CORS configuration, which API Gateway applies itself: it answers preflight
/// requests (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) without a route,
/// and sets the `Access-Control-*` response headers in place of the integration's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_methods: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    pub fn allow_origin(&self, origin: &str) -> Option<String> {
        if self.allow_origins.iter().any(|o| o == "*") {
            return Some(if self.allow_credentials {
                origin.to_owned()
            } else {
                "*".to_owned()
            });
        }
        self.allow_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| origin.to_owned())
    }
}

/// One stage of one API: immutable once built.
#[derive(Clone, Debug)]
pub struct RouteTable {
    pub api: Arc<ApiInfo>,
    pub stage: StageInfo,
    pub routes: Vec<Route>,
    /// HTTP API `$default` route.
    pub default_route: Option<Arc<Integration>>,
}

/// A successful match.
#[derive(Clone, Debug)]
pub struct Matched<'a> {
    pub integration: &'a Arc<Integration>,
    /// The resource path (REST `resource`), or the route's path.
    pub resource: &'a str,
    /// HTTP API `routeKey`: `GET /items/{id}`, `ANY /{proxy+}`, `$default`.
    pub route_key: String,
    pub path_params: Vec<(String, String)>,
}

/// Why nothing matched; the answer is [`crate::response::GatewayError`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoMatch {
    /// REST: 403 Missing Authentication Token.
    MissingAuthenticationToken,
    /// HTTP API: 404 Not Found.
    NotFound,
}

impl RouteTable {
    /// Finds the route for `method` and `path` (the path after the stage, starting with `/`).
    pub fn find(&self, method: &str, path: &str) -> Result<Matched<'_>, NoMatch> {
        let parts = split_path(path);
        match self.api.kind {
            ApiKind::Rest => self.find_rest(method, &parts),
            ApiKind::Http => self.find_http(method, &parts),
        }
    }

    fn find_rest(&self, method: &str, parts: &[&str]) -> Result<Matched<'_>, NoMatch> {
        let mut best: Option<(&PathPattern, Vec<(String, String)>)> = None;
        for route in &self.routes {
            if let Some((p, _)) = &best
                && p.as_str() == route.pattern.as_str()
            {
                continue;
            }
            if let Some(params) = route.pattern.matches(parts) {
                let better = match &best {
                    None => true,
                    Some((p, _)) => route.pattern.specificity(p) == Ordering::Less,
                };
                if better {
                    best = Some((&route.pattern, params));
                }
            }
        }
        let (pattern, params) = best.ok_or(NoMatch::MissingAuthenticationToken)?;
        let on_resource = || {
            self.routes
                .iter()
                .filter(|r| r.pattern.as_str() == pattern.as_str())
        };
        let route = on_resource()
            .find(|r| r.method.as_deref() == Some(method))
            .or_else(|| on_resource().find(|r| r.method.is_none()))
            .ok_or(NoMatch::MissingAuthenticationToken)?;
        Ok(Matched {
            integration: &route.integration,
            resource: route.pattern.as_str(),
            route_key: route_key(route),
            path_params: params,
        })
    }

    fn find_http(&self, method: &str, parts: &[&str]) -> Result<Matched<'_>, NoMatch> {
        let mut best: Option<(&Route, Vec<(String, String)>)> = None;
        for route in &self.routes {
            if route.method.as_deref().is_some_and(|m| m != method) {
                continue;
            }
            let Some(params) = route.pattern.matches(parts) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((b, _)) => http_order(route, b) == Ordering::Less,
            };
            if better {
                best = Some((route, params));
            }
        }
        if let Some((route, params)) = best {
            return Ok(Matched {
                integration: &route.integration,
                resource: route.pattern.as_str(),
                route_key: route_key(route),
                path_params: params,
            });
        }
        match &self.default_route {
            Some(integration) => Ok(Matched {
                integration,
                resource: "$default",
                route_key: "$default".to_owned(),
                path_params: Vec::new(),
            }),
            None => Err(NoMatch::NotFound),
        }
    }
}

fn http_order(a: &Route, b: &Route) -> Ordering {
    a.pattern
        .has_greedy()
        .cmp(&b.pattern.has_greedy())
        .then_with(|| a.pattern.specificity(&b.pattern))
        .then_with(|| a.method.is_none().cmp(&b.method.is_none()))
}

fn route_key(route: &Route) -> String {
    format!(
        "{} {}",
        route.method.as_deref().unwrap_or("ANY"),
        route.pattern.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(kind: ApiKind, routes: &[(&str, Option<&str>)]) -> RouteTable {
        RouteTable {
            api: Arc::new(ApiInfo {
                id: "abcdef1234".into(),
                logical_id: "Api".into(),
                kind,
                binary_media_types: Vec::new(),
                account: "123456789012".into(),
                region: "us-east-1".into(),
                cors: None,
            }),
            stage: StageInfo {
                name: "Prod".into(),
                variables: BTreeMap::new(),
            },
            routes: routes
                .iter()
                .map(|(p, m)| Route {
                    pattern: PathPattern::parse(p).unwrap(),
                    method: m.map(str::to_owned),
                    integration: Arc::new(Integration::Unsupported {
                        kind: format!("{} {p}", m.unwrap_or("ANY")),
                    }),
                })
                .collect(),
            default_route: None,
        }
    }

    fn hit(t: &RouteTable, method: &str, path: &str) -> Option<String> {
        t.find(method, path).ok().map(|m| match &**m.integration {
            Integration::Unsupported { kind } => kind.clone(),
            _ => unreachable!(),
        })
    }

    #[test]
    fn patterns_parse() {
        assert!(PathPattern::parse("/a/{proxy+}/b").is_err());
        assert!(PathPattern::parse("a").is_err());
        assert!(PathPattern::parse("/a//b").is_err());
        assert_eq!(PathPattern::parse("/").unwrap().as_str(), "/");
        assert_eq!(PathPattern::parse("/hello/").unwrap().as_str(), "/hello");
    }

    #[test]
    fn rest_priority_and_methods() {
        let t = table(
            ApiKind::Rest,
            &[
                ("/{proxy+}", None),
                ("/items/{id}", Some("GET")),
                ("/items/special", Some("GET")),
                ("/items/{id}/{rest+}", None),
                ("/users", Some("POST")),
            ],
        );
        assert_eq!(
            hit(&t, "GET", "/items/special").as_deref(),
            Some("GET /items/special")
        );
        assert_eq!(
            hit(&t, "GET", "/items/7").as_deref(),
            Some("GET /items/{id}")
        );
        assert_eq!(
            hit(&t, "GET", "/items/7/").as_deref(),
            Some("GET /items/{id}")
        );
        assert_eq!(
            hit(&t, "PUT", "/items/7/a/b").as_deref(),
            Some("ANY /items/{id}/{rest+}")
        );
        assert_eq!(hit(&t, "DELETE", "/x/y").as_deref(), Some("ANY /{proxy+}"));
        // The resource is chosen before the method: POST-only /users does not fall back.
        assert_eq!(
            t.find("GET", "/users").unwrap_err(),
            NoMatch::MissingAuthenticationToken
        );
        // A greedy variable needs at least one segment; {id} needs a non-empty one.
        assert_eq!(
            t.find("GET", "/").unwrap_err(),
            NoMatch::MissingAuthenticationToken
        );
        let m = t.find("GET", "/a%20b/c").unwrap();
        assert_eq!(
            m.path_params,
            vec![("proxy".to_owned(), "a b/c".to_owned())]
        );
        assert_eq!(m.resource, "/{proxy+}");
    }

    #[test]
    fn http_priority() {
        let mut t = table(
            ApiKind::Http,
            &[
                ("/pets/dog/1", Some("GET")),
                ("/pets/dog/{id}", Some("GET")),
                ("/pets/{proxy+}", Some("GET")),
                ("/{proxy+}", None),
                ("/users", Some("POST")),
            ],
        );
        assert_eq!(
            hit(&t, "GET", "/pets/dog/1").as_deref(),
            Some("GET /pets/dog/1")
        );
        assert_eq!(
            hit(&t, "GET", "/pets/dog/2").as_deref(),
            Some("GET /pets/dog/{id}")
        );
        assert_eq!(
            hit(&t, "GET", "/pets/cat/1").as_deref(),
            Some("GET /pets/{proxy+}")
        );
        assert_eq!(
            hit(&t, "POST", "/pets/dog/1").as_deref(),
            Some("ANY /{proxy+}")
        );
        // HTTP APIs choose the route with its method: GET /users falls to the greedy ANY.
        assert_eq!(hit(&t, "GET", "/users").as_deref(), Some("ANY /{proxy+}"));
        assert_eq!(t.find("GET", "/").unwrap_err(), NoMatch::NotFound);
        t.default_route = Some(Arc::new(Integration::Unsupported {
            kind: "$default".into(),
        }));
        let m = t.find("GET", "/").unwrap();
        assert_eq!(m.route_key, "$default");
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(split_path("/"), Vec::<&str>::new());
        assert_eq!(split_path("/a/b/"), vec!["a", "b"]);
    }
}
