//! AWS Signature Version 4 verification of the AWS-compatible endpoints.
//!
//! A request signed with SigV4 (an `Authorization: AWS4-HMAC-SHA256 …` header, or the
//! presigned query form `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Signature=…`)
//! is verified as AWS does it (the "Create a signed AWS API request" and "Authenticating
//! Requests: Using Query Parameters" pages of the IAM and S3 guides):
//!
//! 1. the canonical request — method, canonical URI, canonical query (every parameter but
//!    `X-Amz-Signature`, names and values URI-encoded, sorted), the signed headers (lowercase
//!    names, values trimmed with inner runs of spaces collapsed), the signed-header list and the
//!    payload hash (`x-amz-content-sha256` when sent — S3 sends it, possibly `UNSIGNED-PAYLOAD`
//!    —, `UNSIGNED-PAYLOAD` for a presigned URL, else the SHA-256 of the body);
//! 2. the canonical URI is the path as sent for S3, and the path URI-encoded once more for the
//!    other services (botocore encodes an already encoded path again, except for S3);
//! 3. the string to sign `AWS4-HMAC-SHA256\nX-Amz-Date\nDATE/REGION/SERVICE/aws4_request\n
//!    hex(SHA-256(canonical request))`, and the key `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, DATE),
//!    REGION), SERVICE), "aws4_request")`.
//!
//! The request time (`X-Amz-Date`) must lie within 15 minutes of the machine's clock (not the
//! engine's, which `--time-scale` may run fast), as AWS requires; a presigned URL must also be
//! used before `X-Amz-Date + X-Amz-Expires` (at most 7 days).
//!
//! Which secret belongs to which access key ID is the server's business ([`crate::App`]): the
//! credentials it hands to functions, and the token's when a token is configured.

use sha2::{Digest, Sha256};
use slipway_pipeline::trigger::{constant_time_eq, hmac_sha256};

use crate::wire::{percent_decode, percent_encode};

/// AWS's clock skew window.
pub(crate) const MAX_SKEW_MS: u64 = 15 * 60 * 1000;
/// The longest a presigned URL may be valid (`X-Amz-Expires`), 7 days.
const MAX_EXPIRES_S: u64 = 7 * 24 * 3600;

/// The parts of a request a signature covers.
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// The path as it came on the wire (still percent-encoded).
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a hyper::HeaderMap,
    pub body: &'a [u8],
}

/// What a signature claims.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Claim {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub amz_date: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned URL, seconds.
    pub expires_s: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SigError {
    /// The Authorization header or query parameters do not parse.
    Malformed(String),
    /// No secret is known for the access key ID.
    UnknownKey,
    /// The signature computed differs.
    Mismatch,
    /// `X-Amz-Date` is more than 15 minutes away from now.
    Skewed { amz_date: String },
    /// A presigned URL used after it expired.
    Expired,
}

/// The claim of a signed request; `None` for an unsigned one.
pub(crate) fn claim(req: &Request<'_>) -> Option<Result<Claim, SigError>> {
    let auth = req
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256") {
        return Some(header_claim(rest, req));
    }
    let query = crate::wire::parse_pairs(req.raw_query);
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("X-Amz-Algorithm").is_none() && get("X-Amz-Signature").is_none() {
        return None;
    }
    Some((|| {
        if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(SigError::Malformed(
                "X-Amz-Algorithm must be AWS4-HMAC-SHA256".into(),
            ));
        }
        let missing = |k: &str| SigError::Malformed(format!("missing the query parameter {k}"));
        let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
        let (access_key_id, date, region, service) = scope(credential)?;
        let expires_s = get("X-Amz-Expires")
            .ok_or_else(|| missing("X-Amz-Expires"))?
            .parse::<u64>()
            .map_err(|_| SigError::Malformed("X-Amz-Expires must be a number of seconds".into()))?;
        if expires_s > MAX_EXPIRES_S {
            return Err(SigError::Malformed(
                "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds".into(),
            ));
        }
        Ok(Claim {
            access_key_id,
            date,
            region,
            service,
            amz_date: get("X-Amz-Date")
                .ok_or_else(|| missing("X-Amz-Date"))?
                .to_owned(),
            signed_headers: split_headers(
                get("X-Amz-SignedHeaders").ok_or_else(|| missing("X-Amz-SignedHeaders"))?,
            ),
            signature: get("X-Amz-Signature")
                .ok_or_else(|| missing("X-Amz-Signature"))?
                .to_owned(),
            presigned: true,
            expires_s: Some(expires_s),
        })
    })())
}

fn split_headers(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// `AKID/DATE/REGION/SERVICE/aws4_request`.
fn scope(credential: &str) -> Result<(String, String, String, String), SigError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [akid, date, region, service, "aws4_request"] if !akid.is_empty() => Ok((
            (*akid).to_owned(),
            (*date).to_owned(),
            (*region).to_owned(),
            (*service).to_owned(),
        )),
        _ => Err(SigError::Malformed(format!(
            "the credential '{credential}' is not ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request"
        ))),
    }
}

fn header_claim(rest: &str, req: &Request<'_>) -> Result<Claim, SigError> {
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |k: &str| {
        SigError::Malformed(format!(
            "Authorization header requires '{k}' parameter. Authorization={}",
            "AWS4-HMAC-SHA256".to_owned() + rest
        ))
    };
    let (access_key_id, date, region, service) =
        scope(credential.ok_or_else(|| missing("Credential"))?)?;
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            SigError::Malformed("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into())
        })?
        .to_owned();
    Ok(Claim {
        access_key_id,
        date,
        region,
        service,
        amz_date,
        signed_headers: split_headers(signed.ok_or_else(|| missing("SignedHeaders"))?),
        signature: signature.ok_or_else(|| missing("Signature"))?.to_owned(),
        presigned: false,
        expires_s: None,
    })
}

/// `20261201T201442Z` → milliseconds since the epoch.
pub(crate) fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The canonical request of `req` under `claim`, for `service`.
pub(crate) fn canonical_request(req: &Request<'_>, claim: &Claim) -> String {
    let uri = if claim.service == "s3" {
        if req.raw_path.is_empty() {
            "/".to_owned()
        } else {
            req.raw_path.to_owned()
        }
    } else {
        let p = if req.raw_path.is_empty() {
            "/"
        } else {
            req.raw_path
        };
        percent_encode(p, true)
    };
    let mut query: Vec<(String, String)> = req
        .raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_encode(&percent_decode(k, false), false),
                percent_encode(&percent_decode(v, false), false),
            )
        })
        .filter(|(k, _)| !(claim.presigned && k == "X-Amz-Signature"))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in &claim.signed_headers {
        let values: Vec<String> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = match req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_owned(),
        None if claim.presigned => "UNSIGNED-PAYLOAD".to_owned(),
        None => sha256_hex(req.body),
    };
    format!(
        "{}\n{uri}\n{query}\n{headers}\n{}\n{payload}",
        req.method,
        claim.signed_headers.join(";")
    )
}

/// The signature of `req` under `claim` with `secret`.
pub(crate) fn signature(req: &Request<'_>, claim: &Claim, secret: &str) -> String {
    let canonical = canonical_request(req, claim);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        claim.date, claim.region, claim.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        claim.amz_date,
        sha256_hex(canonical.as_bytes())
    );
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), claim.date.as_bytes());
    let k = hmac_sha256(&k, claim.region.as_bytes());
    let k = hmac_sha256(&k, claim.service.as_bytes());
    let k = hmac_sha256(&k, b"aws4_request");
    hex::encode(hmac_sha256(&k, to_sign.as_bytes()))
}

/// Verifies a signed request: the secret of its access key ID (`secret_of`), the time window
/// around `now_ms` (the machine's clock), the signature.
pub(crate) fn verify(
    req: &Request<'_>,
    claim: &Claim,
    secret_of: impl Fn(&str) -> Option<String>,
    now_ms: u64,
) -> Result<(), SigError> {
    let Some(secret) = secret_of(&claim.access_key_id) else {
        return Err(SigError::UnknownKey);
    };
    let at = parse_amz_date(&claim.amz_date).ok_or_else(|| {
        SigError::Malformed(format!(
            "X-Amz-Date '{}' is not of the form YYYYMMDD'T'HHMMSS'Z'",
            claim.amz_date
        ))
    })?;
    if !claim.amz_date.starts_with(&claim.date) {
        return Err(SigError::Mismatch);
    }
    if let Some(expires) = claim.expires_s {
        if now_ms + MAX_SKEW_MS < at {
            return Err(SigError::Skewed {
                amz_date: claim.amz_date.clone(),
            });
        }
        if now_ms > at + expires * 1000 {
            return Err(SigError::Expired);
        }
    } else if now_ms.abs_diff(at) > MAX_SKEW_MS {
        return Err(SigError::Skewed {
            amz_date: claim.amz_date.clone(),
        });
    }
    let want = signature(req, claim, &secret);
    // Compared without stopping at the first difference (the webhook's comparison).
    if constant_time_eq(want.as_bytes(), claim.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    /// The `get-vanilla` case of AWS's SigV4 test suite (service `service`, the example
    /// secret of the AWS documentation).
    #[test]
    fn the_aws_test_suite_get_vanilla_case_verifies() {
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        ]);
        let req = Request {
            method: "GET",
            raw_path: "/",
            raw_query: "",
            headers: &h,
            body: b"",
        };
        let c = claim(&req).unwrap().unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        let secret = |k: &str| {
            (k == "AKIDEXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())
        };
        let at = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(verify(&req, &c, secret, at + 60_000), Ok(()));
        // A wrong secret, an unknown key, a request 16 minutes off.
        assert_eq!(
            verify(&req, &c, |_| Some("wrong".into()), at),
            Err(SigError::Mismatch)
        );
        assert_eq!(verify(&req, &c, |_| None, at), Err(SigError::UnknownKey));
        assert!(matches!(
            verify(&req, &c, secret, at + 16 * 60_000),
            Err(SigError::Skewed { .. })
        ));
        // Any change to what was signed breaks it.
        let tampered = Request {
            raw_query: "a=b",
            ..req
        };
        assert_eq!(verify(&tampered, &c, secret, at), Err(SigError::Mismatch));
    }

    #[test]
    fn unsigned_requests_claim_nothing_and_broken_ones_are_malformed() {
        let h = headers(&[("host", "h")]);
        let req = Request {
            method: "GET",
            raw_path: "/",
            raw_query: "prefix=a",
            headers: &h,
            body: b"",
        };
        assert!(claim(&req).is_none());
        let bad = Request {
            raw_query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=oops",
            ..req
        };
        assert!(matches!(claim(&bad), Some(Err(SigError::Malformed(_)))));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160_000));
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }
}
