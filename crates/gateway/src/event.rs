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

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
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

/// Payload v1: REST APIs, and HTTP APIs with `payloadFormatVersion: "1.0"`.
pub fn v1(req: &RequestData<'_>, route: &RouteData<'_>) -> Value {
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

fn v2_is_binary(req: &RequestData<'_>) -> bool {
    if req.body.is_empty() {
        return false;
    }
    match header(req.headers, "content-type") {
        Some(ct) => !is_text_media_type(ct) || std::str::from_utf8(req.body).is_err(),
        None => std::str::from_utf8(req.body).is_err(),
    }
}

/// Payload v2: HTTP APIs.
pub fn v2(req: &RequestData<'_>, route: &RouteData<'_>) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

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
