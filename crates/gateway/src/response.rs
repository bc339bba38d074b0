//! Proxy responses → HTTP, and API Gateway's own error responses.
//!
//! Payload v1 (REST, and HTTP APIs on `1.0`) must be a JSON object with only `statusCode`,
//! `headers`, `multiValueHeaders`, `body` and `isBase64Encoded`; anything else is malformed
//! (REST 502, HTTP API 500). `multiValueHeaders` win over `headers` for the same name.
//! Payload v2 infers: valid JSON without `statusCode` is a 200 `application/json` whose body
//! is that JSON (a JSON string is its text); `cookies` become `set-cookie` headers.
//! With no `Content-Type`, `application/json` is sent.
//!
//! A base64 body (`isBase64Encoded: true`) is decoded on HTTP APIs; on REST APIs when the
//! request's `Accept` or the response's `Content-Type` matches the API's `BinaryMediaTypes`,
//! otherwise the base64 text is sent as it is, as API Gateway does.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use crate::event::media_type_matches;
use crate::routes::{ApiKind, PayloadVersion};

/// An HTTP response, before the server adds its per-request headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// The responses API Gateway writes itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// REST: no resource or method (403).
    MissingAuthenticationToken,
    /// HTTP API: no route (404); also an unknown API id.
    NotFound,
    /// Malformed proxy response or function error (REST 502, HTTP API 500).
    BadIntegrationResponse,
    /// The invoke itself failed: function not found, bad URI, throttled (500).
    InvokeFailed,
    /// Integration timeout (REST 504, HTTP API 503).
    Timeout,
    /// Request body over 10 MB (413).
    RequestTooLarge,
}

impl GatewayError {
    pub fn reply(self, kind: ApiKind) -> Reply {
        let (status, body, error_type): (u16, &str, Option<&str>) = match (kind, self) {
            (ApiKind::Rest, Self::MissingAuthenticationToken) => (
                403,
                r#"{"message":"Missing Authentication Token"}"#,
                Some("MissingAuthenticationTokenException"),
            ),
            (ApiKind::Rest, Self::NotFound)
            | (ApiKind::Http, Self::NotFound)
            | (ApiKind::Http, Self::MissingAuthenticationToken) => {
                (404, r#"{"message":"Not Found"}"#, None)
            }
            (ApiKind::Rest, Self::BadIntegrationResponse) => (
                502,
                r#"{"message": "Internal server error"}"#,
                Some("InternalServerErrorException"),
            ),
            (ApiKind::Rest, Self::InvokeFailed) => (
                500,
                r#"{"message": "Internal server error"}"#,
                Some("InternalServerErrorException"),
            ),
            (ApiKind::Http, Self::BadIntegrationResponse | Self::InvokeFailed) => {
                (500, r#"{"message":"Internal Server Error"}"#, None)
            }
            (ApiKind::Rest, Self::Timeout) => (
                504,
                r#"{"message": "Endpoint request timed out"}"#,
                Some("InternalServerErrorException"),
            ),
            (ApiKind::Http, Self::Timeout) => (503, r#"{"message":"Service Unavailable"}"#, None),
            (ApiKind::Rest, Self::RequestTooLarge) => (
                413,
                r#"{"message":"Request Too Long"}"#,
                Some("RequestTooLargeException"),
            ),
            (ApiKind::Http, Self::RequestTooLarge) => {
                (413, r#"{"message":"Request Entity Too Large"}"#, None)
            }
        };
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(t) = error_type {
            headers.push(("x-amzn-ErrorType".to_owned(), t.to_owned()));
        }
        Reply {
            status,
            headers,
            body: Bytes::from_static(body.as_bytes()),
        }
    }
}

/// Why a proxy response was rejected (logged, never sent to the client).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Malformed Lambda proxy response: {0}")]
pub struct Malformed(pub String);

/// What the request contributes to binary handling on REST APIs.
#[derive(Clone, Copy, Debug, Default)]
pub struct BinaryContext<'a> {
    pub binary_media_types: &'a [String],
    /// The request's `Accept` header.
    pub accept: Option<&'a str>,
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn status_of(v: Option<&Value>) -> Result<u16, Malformed> {
    let n = match v {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        None => return Err(Malformed("statusCode is missing".into())),
        _ => None,
    };
    n.and_then(|n| u16::try_from(n).ok())
        .filter(|n| (100..=599).contains(n))
        .ok_or_else(|| {
            Malformed(format!(
                "statusCode {} is not a status",
                v.unwrap_or(&Value::Null)
            ))
        })
}

/// Maps a successful invoke's payload to the HTTP response.
pub fn map_proxy_response(
    kind: ApiKind,
    version: PayloadVersion,
    payload: &[u8],
    binary: BinaryContext<'_>,
) -> Result<Reply, Malformed> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Malformed(format!("the result is not JSON: {e}")))?;
    match version {
        PayloadVersion::V1 => v1(kind, &value, binary),
        PayloadVersion::V2 => v2(&value),
    }
}

fn v1(kind: ApiKind, value: &Value, binary: BinaryContext<'_>) -> Result<Reply, Malformed> {
    let obj = value
        .as_object()
        .ok_or_else(|| Malformed("the result is not a JSON object".into()))?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "statusCode" | "headers" | "multiValueHeaders" | "body" | "isBase64Encoded"
        ) {
            return Err(Malformed(format!("unexpected field '{key}'")));
        }
    }
    let status = status_of(obj.get("statusCode"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    let multi = match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Malformed("multiValueHeaders is not an object".into())),
    };
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = scalar_text(v)
                    .ok_or_else(|| Malformed(format!("header '{k}' is not a string")))?;
                if !multi.keys().any(|mk| mk.eq_ignore_ascii_case(k)) {
                    headers.push((k.clone(), v));
                }
            }
        }
        Some(_) => return Err(Malformed("headers is not an object".into())),
    }
    for (k, vs) in &multi {
        let vs = vs
            .as_array()
            .ok_or_else(|| Malformed(format!("multiValueHeaders '{k}' is not a list")))?;
        for v in vs {
            let v = scalar_text(v).ok_or_else(|| {
                Malformed(format!("header '{k}' has a value that is not a string"))
            })?;
            headers.push((k.clone(), v));
        }
    }
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(_) => return Err(Malformed("isBase64Encoded is not a boolean".into())),
    };
    let body = body_text(obj.get("body"))?;
    let decode = base64
        && match kind {
            ApiKind::Http => true,
            ApiKind::Rest => {
                let ct = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.as_str());
                let accept = binary.accept.map(|a| a.split(',').next().unwrap_or(a));
                media_type_matches(accept, binary.binary_media_types)
                    || media_type_matches(ct, binary.binary_media_types)
            }
        };
    let body = if decode {
        Bytes::from(decode_base64(&body)?)
    } else {
        Bytes::from(body)
    };
    Ok(finish(status, headers, body))
}

fn body_text(v: Option<&Value>) -> Result<String, Malformed> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Malformed("body is not a string".into())),
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, Malformed> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| Malformed(format!("body is not base64: {e}")))
}

fn finish(status: u16, mut headers: Vec<(String, String)>, body: Bytes) -> Reply {
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn v2(value: &Value) -> Result<Reply, Malformed> {
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        // Inference: the whole result is the body.
        let body = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Ok(finish(200, Vec::new(), Bytes::from(body)));
    };
    let status = status_of(obj.get("statusCode"))?;
    let mut headers = Vec::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = scalar_text(v)
                    .ok_or_else(|| Malformed(format!("header '{k}' is not a string")))?;
                headers.push((k.clone(), v));
            }
        }
        Some(_) => return Err(Malformed("headers is not an object".into())),
    }
    match obj.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for c in a {
                let c = c
                    .as_str()
                    .ok_or_else(|| Malformed("a cookie is not a string".into()))?;
                headers.push(("set-cookie".to_owned(), c.to_owned()));
            }
        }
        Some(_) => return Err(Malformed("cookies is not a list".into())),
    }
    let base64 = matches!(obj.get("isBase64Encoded"), Some(Value::Bool(true)));
    let body = body_text(obj.get("body"))?;
    let body = if base64 {
        Bytes::from(decode_base64(&body)?)
    } else {
        Bytes::from(body)
    };
    Ok(finish(status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(payload: &str) -> Result<Reply, Malformed> {
        map_proxy_response(
            ApiKind::Rest,
            PayloadVersion::V1,
            payload.as_bytes(),
            BinaryContext::default(),
        )
    }

    #[test]
    fn rest_shapes() {
        let r = rest(r#"{"statusCode": 201, "body": "hi"}"#).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, "hi");
        assert_eq!(
            r.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        let r = rest(
            r#"{"statusCode": 200, "headers": {"X-A": "1", "Content-Type": "text/plain"},
                "multiValueHeaders": {"x-a": ["2", "3"], "Set-Cookie": ["a=1", "b=2"]}}"#,
        )
        .unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("Content-Type".to_owned(), "text/plain".to_owned()),
                ("Set-Cookie".to_owned(), "a=1".to_owned()),
                ("Set-Cookie".to_owned(), "b=2".to_owned()),
                ("x-a".to_owned(), "2".to_owned()),
                ("x-a".to_owned(), "3".to_owned()),
            ]
        );
        assert_eq!(r.body, "");
        for bad in [
            r#""hello""#,
            r#"{"body": "x"}"#,
            r#"{"statusCode": 200, "body": {"a": 1}}"#,
            r#"{"statusCode": 200, "cookies": []}"#,
            r#"{"statusCode": "abc"}"#,
            r#"{"statusCode": 200, "headers": {"a": ["x"]}}"#,
            "not json",
        ] {
            assert!(rest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rest_binary() {
        let types = vec!["image/png".to_owned()];
        let payload = r#"{"statusCode": 200, "isBase64Encoded": true, "body": "AAEC",
                          "headers": {"Content-Type": "image/png"}}"#;
        let r = map_proxy_response(
            ApiKind::Rest,
            PayloadVersion::V1,
            payload.as_bytes(),
            BinaryContext {
                binary_media_types: &types,
                accept: None,
            },
        )
        .unwrap();
        assert_eq!(&r.body[..], &[0, 1, 2]);
        // Without a binary media type, API Gateway passes the base64 text through.
        assert_eq!(rest(payload).unwrap().body, "AAEC");
    }

    #[test]
    fn http_inference() {
        let v2 = |p: &str| {
            map_proxy_response(
                ApiKind::Http,
                PayloadVersion::V2,
                p.as_bytes(),
                BinaryContext::default(),
            )
        };
        let r = v2(r#""Hello""#).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"Hello"[..]));
        let r = v2(r#"{"message": "hi"}"#).unwrap();
        assert_eq!(r.body, r#"{"message":"hi"}"#);
        assert_eq!(r.headers[0].1, "application/json");
        let r =
            v2(r#"{"statusCode": 302, "cookies": ["a=1", "b=2"], "headers": {"location": "/x"}}"#)
                .unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(
            r.headers,
            vec![
                ("location".to_owned(), "/x".to_owned()),
                ("set-cookie".to_owned(), "a=1".to_owned()),
                ("set-cookie".to_owned(), "b=2".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ]
        );
        let r = v2(r#"{"statusCode": 200, "isBase64Encoded": true, "body": "AAEC"}"#).unwrap();
        assert_eq!(&r.body[..], &[0, 1, 2]);
        assert!(v2(r#"{"statusCode": 200, "body": 5}"#).is_err());
    }

    #[test]
    fn errors() {
        let r = GatewayError::MissingAuthenticationToken.reply(ApiKind::Rest);
        assert_eq!(r.status, 403);
        assert_eq!(r.body, r#"{"message":"Missing Authentication Token"}"#);
        assert!(r.headers.contains(&(
            "x-amzn-ErrorType".to_owned(),
            "MissingAuthenticationTokenException".to_owned()
        )));
        assert_eq!(GatewayError::NotFound.reply(ApiKind::Http).status, 404);
        assert_eq!(
            GatewayError::BadIntegrationResponse
                .reply(ApiKind::Rest)
                .status,
            502
        );
        assert_eq!(GatewayError::Timeout.reply(ApiKind::Rest).status, 504);
    }
}
