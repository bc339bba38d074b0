//! Proxy events: an HTTP request as API Gateway hands it to Lambda.
//!
//! - REST APIs (and HTTP APIs with `payloadFormatVersion: "1.0"`) send payload v1
//!   (`../shared/reference/aws-semantics.md` §2.1): `headers` with the last value of each header
//!   and `multiValueHeaders` with all of them, the same for query parameters; empty maps are
//!   `null`; `requestContext.path` carries the stage, `resourcePath` does not.
//! - HTTP APIs send payload v2 (§2.3): header names in lower case, repeated values joined with
//!   commas, `cookie` headers moved to `cookies`; absent parts (`cookies`,
//!   `queryStringParameters`, `pathParameters`, `stageVariables`, `body`) are left out, as the
//!   service does.
//!
//! The request body is base64 (`isBase64Encoded: true`) on REST APIs when its `Content-Type`
//! matches one of the API's `BinaryMediaTypes`; on HTTP APIs unless its media type is textual.
//!
//! Known difference: hyper gives header names in lower case, so REST events carry them in
//! canonical `Title-Case` (what nearly every client sends) rather than byte-for-byte as sent.

use base64::Engine as _;
use slipway_model::civil::civil_from_days;

use crate::routes::{ApiInfo, ApiKind, StageInfo, percent_decode};

/// Everything about one request that an event carries. Pure data; the server fills it.
#[derive(Clone, Debug)]
pub struct RequestData<'a> {
    pub method: &'a str,
    /// The path after the API and stage (`/items/7`), raw.
    pub path: &'a str,
    /// The path API Gateway would report with the stage (`/Prod/items/7`); for HTTP APIs on
    /// `$default`, the same as `path`.
    pub stage_path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Header (lower-case name, value) pairs in the order received.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The TCP peer's address.
    pub source_ip: &'a str,
    /// The `Host` the client used (`abc.execute-api.localhost:3000`).
    pub domain_name: &'a str,
    /// `HTTP/1.1`.
    pub protocol: &'a str,
    pub request_id: &'a str,
    pub extended_request_id: &'a str,
    pub time_epoch_ms: u64,
}

/// The matched route, as the event reports it.
#[derive(Clone, Debug)]
pub struct RouteData<'a> {
    pub api: &'a ApiInfo,
    pub stage: &'a StageInfo,
    /// `/items/{id}`, `$default`.
    pub resource: &'a str,
    pub route_key: &'a str,
    pub path_params: &'a [(String, String)],
}

/// `Content-Type` matches a media-type list (`image/png`, `image/*`, `*/*`).
pub fn media_type_matches(content_type: Option<&str>, types: &[String]) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    types.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        t == "*/*"
            || t == essence
            || t.strip_suffix("/*")
                .is_some_and(|main| essence.split('/').next() == Some(main))
    })
}

fn is_text_media_type(ct: &str) -> bool {
    let e = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    e.starts_with("text/")
        || e.ends_with("+json")
        || e.ends_with("+xml")
        || matches!(
            e.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
        )
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `content-type` → `Content-Type`.
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in name.chars() {
        if up {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        up = c == '-';
    }
    out
}

/// Query string pairs, decoded (`+` is a space, as in forms).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// A JSON object written straight into bytes: the event is built once per request, and a
/// `serde_json::Value` tree of it cost more allocations than anything else the gateway did.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        string(self.out, key);
        self.out.push(b':');
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        string(self.key(key), value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    fn null(&mut self, key: &str) {
        self.key(key).extend_from_slice(b"null");
    }

    fn raw(&mut self, key: &str, value: impl std::fmt::Display) {
        use std::io::Write as _;
        let _ = write!(self.key(key), "{value}");
    }

    /// A nested object.
    fn obj(&mut self, key: &str) -> Obj<'_> {
        Obj::open(self.key(key))
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    // serde_json's own escaping (a string never fails to serialise).
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The `requestContext` fields both payload versions open with.
fn api_context(ctx: &mut Obj<'_>, req: &RequestData<'_>, route: &RouteData<'_>) {
    ctx.str("accountId", &route.api.account);
    ctx.str("apiId", &route.api.id);
    ctx.str("domainName", req.domain_name);
    ctx.str(
        "domainPrefix",
        domain_prefix(req.domain_name, &route.api.id),
    );
}

fn string_array(out: &mut Vec<u8>, values: &[&str]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, v);
    }
    out.push(b']');
}

/// Pairs grouped by name, in first-seen order, with every value (names are few: a scan).
fn grouped<'p>(
    pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
) -> Vec<(&'p str, Vec<&'p str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in pairs {
        match groups.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v),
            None => groups.push((k, vec![v])),
        }
    }
    groups
}

/// `{name: last value}`, or `null` when there are none (payload v1).
fn last_values(obj: &mut Obj<'_>, key: &str, groups: &[(&str, Vec<&str>)]) {
    if groups.is_empty() {
        return obj.null(key);
    }
    let mut map = obj.obj(key);
    for (k, values) in groups {
        map.str(k, values.last().copied().unwrap_or_default());
    }
    map.close();
}

/// `{name: [values]}`, or `null` when there are none (payload v1).
fn all_values(obj: &mut Obj<'_>, key: &str, groups: &[(&str, Vec<&str>)]) {
    if groups.is_empty() {
        return obj.null(key);
    }
    let mut map = obj.obj(key);
    for (k, values) in groups {
        string_array(map.key(k), values);
    }
    map.close();
}

/// `{name: value}` of unique names, or `null` when there are none.
fn pairs_or_null<'p>(
    obj: &mut Obj<'_>,
    key: &str,
    pairs: impl IntoIterator<Item = (&'p String, &'p String)>,
) {
    let mut pairs = pairs.into_iter().peekable();
    if pairs.peek().is_none() {
        return obj.null(key);
    }
    let mut map = obj.obj(key);
    for (k, v) in pairs {
        map.str(k, v);
    }
    map.close();
}

/// The body: `null` when empty, base64 or the text (invalid UTF-8 replaced).
fn body(obj: &mut Obj<'_>, body: &[u8], base64: bool) {
    if body.is_empty() {
        obj.null("body");
    } else if base64 {
        obj.str(
            "body",
            &base64::engine::general_purpose::STANDARD.encode(body),
        );
    } else {
        obj.str("body", &String::from_utf8_lossy(body));
    }
}

/// `requestTime`: `04/Mar/2020:19:15:17 +0000`.
pub fn request_time(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn domain_prefix<'a>(domain: &'a str, api_id: &'a str) -> &'a str {
    let host = domain.split(':').next().unwrap_or(domain);
    match host.split_once('.') {
        Some((first, _)) if first == api_id => api_id,
        Some((first, rest)) if !rest.is_empty() && !first.bytes().all(|b| b.is_ascii_digit()) => {
            first
        }
        _ => api_id,
    }
}

/// A stable 6-character resource id for a resource path, as `requestContext.resourceId`.
fn resource_id(api: &str, resource: &str) -> String {
    crate::build::api_id(api, resource)[..6].to_owned()
}

/// Payload v1: REST APIs, and HTTP APIs with `payloadFormatVersion: "1.0"`, as JSON.
pub fn v1(req: &RequestData<'_>, route: &RouteData<'_>) -> Vec<u8> {
    let http = route.api.kind == ApiKind::Http;
    let names: Vec<std::borrow::Cow<'_, str>> = req
        .headers
        .iter()
        .map(|(k, _)| {
            if http {
                std::borrow::Cow::Borrowed(k.as_str())
            } else {
                std::borrow::Cow::Owned(title_case(k))
            }
        })
        .collect();
    let headers = grouped(
        names
            .iter()
            .map(|n| n.as_ref())
            .zip(req.headers.iter().map(|(_, v)| v.as_str())),
    );
    let query = req.query.map(parse_query).unwrap_or_default();
    let query = grouped(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let binary = match route.api.kind {
        ApiKind::Rest => media_type_matches(
            header(req.headers, "content-type"),
            &route.api.binary_media_types,
        ),
        ApiKind::Http => v2_is_binary(req),
    };
    let mut out = Vec::with_capacity(1536 + req.body.len() * 4 / 3);
    let mut event = Obj::open(&mut out);
    event.str("resource", route.resource);
    event.str("path", req.path);
    event.str("httpMethod", req.method);
    last_values(&mut event, "headers", &headers);
    all_values(&mut event, "multiValueHeaders", &headers);
    last_values(&mut event, "queryStringParameters", &query);
    all_values(&mut event, "multiValueQueryStringParameters", &query);
    pairs_or_null(
        &mut event,
        "pathParameters",
        route.path_params.iter().map(|(k, v)| (k, v)),
    );
    pairs_or_null(&mut event, "stageVariables", &route.stage.variables);
    {
        let mut ctx = event.obj("requestContext");
        api_context(&mut ctx, req, route);
        ctx.str("extendedRequestId", req.extended_request_id);
        ctx.str("httpMethod", req.method);
        {
            let mut identity = ctx.obj("identity");
            for key in [
                "accessKey",
                "accountId",
                "caller",
                "cognitoAmr",
                "cognitoAuthenticationProvider",
                "cognitoAuthenticationType",
                "cognitoIdentityId",
                "cognitoIdentityPoolId",
                "principalOrgId",
            ] {
                identity.null(key);
            }
            identity.str("sourceIp", req.source_ip);
            identity.null("user");
            identity.opt_str("userAgent", header(req.headers, "user-agent"));
            identity.null("userArn");
            identity.close();
        }
        ctx.str("path", req.stage_path);
        ctx.str("protocol", req.protocol);
        ctx.str("requestId", req.request_id);
        ctx.str("requestTime", &request_time(req.time_epoch_ms));
        ctx.raw("requestTimeEpoch", req.time_epoch_ms);
        ctx.str("resourceId", &resource_id(&route.api.id, route.resource));
        ctx.str("resourcePath", route.resource);
        if http {
            ctx.str("routeKey", route.route_key);
        }
        ctx.str("stage", &route.stage.name);
        ctx.close();
    }
    body(&mut event, req.body, binary);
    event.raw("isBase64Encoded", binary && !req.body.is_empty());
    if http {
        event.str("version", "1.0");
    }
    event.close();
    out
}

fn v2_is_binary(req: &RequestData<'_>) -> bool {
    if req.body.is_empty() {
        return false;
    }
    match header(req.headers, "content-type") {
        Some(ct) => !is_text_media_type(ct) || std::str::from_utf8(req.body).is_err(),
        None => std::str::from_utf8(req.body).is_err(),
    }
}

/// Payload v2: HTTP APIs, as JSON.
pub fn v2(req: &RequestData<'_>, route: &RouteData<'_>) -> Vec<u8> {
    let names: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    let mut cookies: Vec<&str> = Vec::new();
    let mut plain = Vec::new();
    for (name, (_, v)) in names.iter().zip(req.headers) {
        if name == "cookie" {
            cookies.extend(v.split(';').map(str::trim).filter(|c| !c.is_empty()));
        } else {
            plain.push((name.as_str(), v.as_str()));
        }
    }
    let headers = grouped(plain);
    let query = req.query.map(parse_query).unwrap_or_default();
    let query = grouped(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let joined = |obj: &mut Obj<'_>, key: &str, groups: &[(&str, Vec<&str>)]| {
        let mut map = obj.obj(key);
        for (k, values) in groups {
            map.str(k, &values.join(","));
        }
        map.close();
    };
    let binary = v2_is_binary(req);
    let mut out = Vec::with_capacity(1024 + req.body.len() * 4 / 3);
    let mut event = Obj::open(&mut out);
    event.str("version", "2.0");
    event.str("routeKey", route.route_key);
    event.str("rawPath", req.stage_path);
    event.str("rawQueryString", req.query.unwrap_or_default());
    if !cookies.is_empty() {
        string_array(event.key("cookies"), &cookies);
    }
    joined(&mut event, "headers", &headers);
    if !query.is_empty() {
        joined(&mut event, "queryStringParameters", &query);
    }
    {
        let mut ctx = event.obj("requestContext");
        api_context(&mut ctx, req, route);
        {
            let mut http = ctx.obj("http");
            http.str("method", req.method);
            http.str("path", req.stage_path);
            http.str("protocol", req.protocol);
            http.str("sourceIp", req.source_ip);
            http.str(
                "userAgent",
                header(req.headers, "user-agent").unwrap_or_default(),
            );
            http.close();
        }
        ctx.str("requestId", req.extended_request_id);
        ctx.str("routeKey", route.route_key);
        ctx.str("stage", &route.stage.name);
        ctx.str("time", &request_time(req.time_epoch_ms));
        ctx.raw("timeEpoch", req.time_epoch_ms);
        ctx.close();
    }
    if !route.path_params.is_empty() {
        pairs_or_null(
            &mut event,
            "pathParameters",
            route.path_params.iter().map(|(k, v)| (k, v)),
        );
    }
    if !route.stage.variables.is_empty() {
        pairs_or_null(&mut event, "stageVariables", &route.stage.variables);
    }
    if !req.body.is_empty() {
        body(&mut event, req.body, binary);
    }
    event.raw("isBase64Encoded", binary);
    event.close();
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The direct writers give the same events as the `Value` trees they replaced, over
    /// repeated and empty headers and queries, cookies, bodies text and binary, path
    /// parameters and stage variables, REST and HTTP APIs.
    #[test]
    fn direct_events_equal_the_value_built_ones() {
        let header_sets: Vec<Vec<(String, String)>> = vec![
            vec![],
            vec![("host".into(), "abc.execute-api.localhost:3000".into())],
            vec![
                ("user-agent".into(), "curl/8 \"quoted\" \u{e9}".into()),
                ("x-multi".into(), "a".into()),
                ("cookie".into(), "a=1; b=2".into()),
                ("X-Multi".into(), "b".into()),
                ("content-type".into(), "image/png".into()),
                ("cookie".into(), "c=3".into()),
            ],
            vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
        ];
        let queries = [
            None,
            Some(""),
            Some("a=1&a=2&b=x+y%21&c"),
            Some("q=%E2%9C%93"),
        ];
        let bodies: [&[u8]; 4] = [b"", b"{\"k\": \"v\\n\"}", b"\xff\x00\x01", "é".as_bytes()];
        let params = [
            vec![],
            vec![
                ("id".to_owned(), "7".to_owned()),
                ("proxy".to_owned(), "a/b".to_owned()),
            ],
        ];
        let variables = [
            BTreeMap::new(),
            BTreeMap::from([("alias".to_owned(), "live".to_owned())]),
        ];
        let mut checked = 0;
        for kind in [ApiKind::Rest, ApiKind::Http] {
            let api = ApiInfo {
                id: "abcdefghij".into(),
                logical_id: "Api".into(),
                kind,
                binary_media_types: vec!["image/*".into()],
                account: "123456789012".into(),
                region: "us-east-1".into(),
                cors: None,
            };
            for headers in &header_sets {
                for query in queries {
                    for body in bodies {
                        for (path_params, variables) in params.iter().zip(&variables) {
                            let stage = StageInfo {
                                name: "Prod".into(),
                                variables: variables.clone(),
                            };
                            let req = RequestData {
                                method: "POST",
                                path: "/items/7",
                                stage_path: "/Prod/items/7",
                                query,
                                headers,
                                body,
                                source_ip: "127.0.0.1",
                                domain_name: "abcdefghij.execute-api.localhost:3000",
                                protocol: "HTTP/1.1",
                                request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                                extended_request_id: "AbCdEfGhIjKlMnO=",
                                time_epoch_ms: 1_583_349_317_135,
                            };
                            let route = RouteData {
                                api: &api,
                                stage: &stage,
                                resource: "/items/{id}",
                                route_key: "POST /items/{id}",
                                path_params,
                            };
                            let v1: serde_json::Value =
                                serde_json::from_slice(&v1(&req, &route)).unwrap();
                            assert_eq!(v1, reference::v1(&req, &route), "{req:?}");
                            let v2: serde_json::Value =
                                serde_json::from_slice(&v2(&req, &route)).unwrap();
                            assert_eq!(v2, reference::v2(&req, &route), "{req:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 4 * 4 * 4 * 2);
    }

    #[test]
    fn times() {
        assert_eq!(
            request_time(1_583_349_317_135),
            "04/Mar/2020:19:15:17 +0000"
        );
        assert_eq!(
            request_time(1_587_481_701_067),
            "21/Apr/2020:15:08:21 +0000"
        );
        assert_eq!(request_time(0), "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn media_types() {
        let t = vec!["image/png".to_owned(), "application/*".to_owned()];
        assert!(media_type_matches(Some("image/png; q=1"), &t));
        assert!(media_type_matches(Some("application/octet-stream"), &t));
        assert!(!media_type_matches(Some("text/plain"), &t));
        assert!(media_type_matches(Some("text/plain"), &["*/*".to_owned()]));
        assert!(!media_type_matches(None, &t));
    }

    #[test]
    fn names_and_queries() {
        assert_eq!(title_case("x-amzn-trace-id"), "X-Amzn-Trace-Id");
        assert_eq!(
            parse_query("a=1&a=2&b=x+y%21&c"),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("a".to_owned(), "2".to_owned()),
                ("b".to_owned(), "x y!".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
    }
}

/// The events as they were built before, through a `serde_json::Value` tree: what the direct
/// writers must equal.
#[cfg(test)]
mod reference {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use serde_json::{Map, Value, json};

    use super::*;

    fn body_value(body: &[u8], base64: bool) -> Value {
        if body.is_empty() {
            Value::Null
        } else if base64 {
            Value::String(base64::engine::general_purpose::STANDARD.encode(body))
        } else {
            Value::String(String::from_utf8_lossy(body).into_owned())
        }
    }

    fn string_map(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
        let m: Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    }

    /// Payload v1: REST APIs, and HTTP APIs with `payloadFormatVersion: "1.0"`.
    pub(super) fn v1(req: &RequestData<'_>, route: &RouteData<'_>) -> Value {
        let http = route.api.kind == ApiKind::Http;
        let name = |k: &str| if http { k.to_owned() } else { title_case(k) };
        let mut headers = Map::new();
        let mut multi: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (k, v) in req.headers {
            let k = name(k);
            headers.insert(k.clone(), Value::String(v.clone()));
            multi.entry(k).or_default().push(Value::String(v.clone()));
        }
        let query = req.query.map(parse_query).unwrap_or_default();
        let mut mq: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (k, v) in &query {
            mq.entry(k.clone())
                .or_default()
                .push(Value::String(v.clone()));
        }
        let binary = match route.api.kind {
            ApiKind::Rest => media_type_matches(
                header(req.headers, "content-type"),
                &route.api.binary_media_types,
            ),
            ApiKind::Http => v2_is_binary(req),
        };
        let user_agent = header(req.headers, "user-agent");
        let mut ctx = json!({
            "accountId": route.api.account,
            "apiId": route.api.id,
            "domainName": req.domain_name,
            "domainPrefix": domain_prefix(req.domain_name, &route.api.id),
            "extendedRequestId": req.extended_request_id,
            "httpMethod": req.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAmr": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": req.source_ip,
                "user": null,
                "userAgent": user_agent,
                "userArn": null,
            },
            "path": req.stage_path,
            "protocol": req.protocol,
            "requestId": req.request_id,
            "requestTime": request_time(req.time_epoch_ms),
            "requestTimeEpoch": req.time_epoch_ms,
            "resourceId": resource_id(&route.api.id, route.resource),
            "resourcePath": route.resource,
            "stage": route.stage.name,
        });
        if http {
            ctx["routeKey"] = Value::String(route.route_key.to_owned());
        }
        let mut event = json!({
            "resource": route.resource,
            "path": req.path,
            "httpMethod": req.method,
            "headers": if headers.is_empty() { Value::Null } else { Value::Object(headers) },
            "multiValueHeaders": if multi.is_empty() { Value::Null } else {
                Value::Object(multi.into_iter().map(|(k, v)| (k, Value::Array(v))).collect())
            },
            "queryStringParameters": string_map(query.iter().cloned()),
            "multiValueQueryStringParameters": if mq.is_empty() { Value::Null } else {
                Value::Object(mq.into_iter().map(|(k, v)| (k, Value::Array(v))).collect())
            },
            "pathParameters": string_map(route.path_params.iter().cloned()),
            "stageVariables": string_map(route.stage.variables.clone()),
            "requestContext": ctx,
            "body": body_value(req.body, binary),
            "isBase64Encoded": binary && !req.body.is_empty(),
        });
        if http {
            event["version"] = Value::String("1.0".into());
        }
        event
    }

    /// Payload v2: HTTP APIs.
    pub(super) fn v2(req: &RequestData<'_>, route: &RouteData<'_>) -> Value {
        let mut headers: Map<String, Value> = Map::new();
        let mut cookies = Vec::new();
        for (k, v) in req.headers {
            let k = k.to_ascii_lowercase();
            if k == "cookie" {
                cookies.extend(
                    v.split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(|c| Value::String(c.to_owned())),
                );
                continue;
            }
            match headers.get_mut(&k) {
                Some(Value::String(prev)) => {
                    prev.push(',');
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k, Value::String(v.clone()));
                }
            }
        }
        let mut query: Map<String, Value> = Map::new();
        for (k, v) in req.query.map(parse_query).unwrap_or_default() {
            match query.get_mut(&k) {
                Some(Value::String(prev)) => {
                    prev.push(',');
                    prev.push_str(&v);
                }
                _ => {
                    query.insert(k, Value::String(v));
                }
            }
        }
        let binary = v2_is_binary(req);
        let mut event = Map::new();
        event.insert("version".into(), "2.0".into());
        event.insert("routeKey".into(), route.route_key.into());
        event.insert("rawPath".into(), req.stage_path.into());
        event.insert(
            "rawQueryString".into(),
            req.query.unwrap_or_default().into(),
        );
        if !cookies.is_empty() {
            event.insert("cookies".into(), Value::Array(cookies));
        }
        event.insert("headers".into(), Value::Object(headers));
        if !query.is_empty() {
            event.insert("queryStringParameters".into(), Value::Object(query));
        }
        event.insert(
            "requestContext".into(),
            json!({
                "accountId": route.api.account,
                "apiId": route.api.id,
                "domainName": req.domain_name,
                "domainPrefix": domain_prefix(req.domain_name, &route.api.id),
                "http": {
                    "method": req.method,
                    "path": req.stage_path,
                    "protocol": req.protocol,
                    "sourceIp": req.source_ip,
                    "userAgent": header(req.headers, "user-agent").unwrap_or_default(),
                },
                "requestId": req.extended_request_id,
                "routeKey": route.route_key,
                "stage": route.stage.name,
                "time": request_time(req.time_epoch_ms),
                "timeEpoch": req.time_epoch_ms,
            }),
        );
        if !route.path_params.is_empty() {
            event.insert(
                "pathParameters".into(),
                string_map(route.path_params.iter().cloned()),
            );
        }
        if !route.stage.variables.is_empty() {
            event.insert(
                "stageVariables".into(),
                string_map(route.stage.variables.clone()),
            );
        }
        if !req.body.is_empty() {
            event.insert("body".into(), body_value(req.body, binary));
        }
        event.insert("isBase64Encoded".into(), binary.into());
        Value::Object(event)
    }
}
