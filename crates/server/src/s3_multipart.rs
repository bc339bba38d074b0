//! S3 multipart uploads: `CreateMultipartUpload` (`POST /b/k?uploads`), `UploadPart`
//! (`PUT /b/k?partNumber=N&uploadId=U`), `CompleteMultipartUpload` (`POST /b/k?uploadId=U`
//! with the part list), `AbortMultipartUpload` (`DELETE /b/k?uploadId=U`) and `ListParts`
//! (`GET /b/k?uploadId=U`). The AWS CLI's `aws s3 cp` switches to these above its
//! `multipart_threshold` (8 MB by default).
//!
//! An upload is a directory `<data_dir>/s3-multipart/<upload id>/` holding `upload.json`
//! (bucket, key, when it began) and one file per part (`00001`) with its ETag beside it
//! (`00001.etag`); nothing of an upload is held in memory between requests. Completing
//! checks the list (ascending part numbers — else `InvalidPartOrder`; each part uploaded with
//! that ETag — else `InvalidPart`; every part but the last at least 5 MiB — else
//! `EntityTooSmall`), then claims the upload (a rename, so two completions cannot both
//! win), streams the parts into one file aside, renames it into place and removes the
//! upload's directory. Aborting removes the directory. A failed check leaves the upload as
//! it was, as S3 does, so the client may complete it again.
//!
//! ETags follow S3's multipart form `"HEX-N"` (N = the number of parts): on S3 HEX is the MD5
//! of the parts' binary MD5s; here, as Slipway's object ETags are the first 128 bits of a
//! sha256 (see `s3.rs`), each part's ETag is that of its bytes and HEX is the first 128 bits
//! of the sha256 of the parts' binary ETags. Known difference: Slipway keeps no per-object
//! metadata, so a later `GetObject`/`HeadObject`/`ListObjectsV2` reports the content's
//! single-part ETag, not the `-N` form `CompleteMultipartUpload` answered.
//!
//! Not implemented (answered `NotImplemented`): `UploadPartCopy`, `ListMultipartUploads`;
//! per-part checksums (`x-amz-checksum-*`) are neither checked nor returned. A part is one
//! request body, so it is bounded by the endpoint's 64 MiB body limit (S3 allows 5 GiB; the
//! AWS CLI's default part is 8 MB). Uploads are never expired (S3 keeps them until aborted or
//! a lifecycle rule removes them, too). A server killed in the middle of a completion leaves
//! that upload's claimed directory (`<id>.completing.<request>`) behind, unused.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use hyper::Method;
use hyper::header::HeaderValue;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::wire::{self, AwsError, HttpResponse, S3_XMLNS, Service, Xml};
use crate::{App, Req};

/// S3's smallest part, but for the last one.
const MIN_PART: u64 = 5 * 1024 * 1024;
/// Part numbers run 1..=10000.
const MAX_PART_NUMBER: u32 = 10_000;

#[derive(Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    initiated_ms: u64,
}

/// What a multipart request did, for `s3.rs` to notify about.
pub(crate) enum Done {
    /// A response and nothing else.
    Response(HttpResponse),
    /// The object was assembled at `file`: `(response, size, etag)`.
    Completed(HttpResponse, u64, String),
}

fn uploads_root(app: &App) -> PathBuf {
    app.data_dir.join("s3-multipart")
}

fn no_such_upload(upload_id: &str) -> AwsError {
    let mut e = AwsError::new(
        Service::S3,
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    );
    e.resource = Some(("UploadId", upload_id.to_owned()));
    e
}

fn malformed_xml() -> AwsError {
    AwsError::new(
        Service::S3,
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

fn io_error(e: &std::io::Error, path: &Path) -> AwsError {
    AwsError::internal(Service::S3, &format!("{}: {e}", path.display()))
}

fn etag_of_digest(d: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&d[..16]))
}

/// Is this request a multipart one (`?uploads`, or `?uploadId=`)?
pub(crate) fn is_multipart(req: &Req) -> bool {
    req.query("uploads").is_some() || req.query("uploadId").is_some()
}

/// The multipart operation the request names, for the object `bucket`/`key` whose file
/// would be `file`.
pub(crate) fn handle(
    app: &App,
    req: &Req,
    bucket: &str,
    key: &str,
    file: &Path,
) -> Result<Done, AwsError> {
    if req.query("uploads").is_some() {
        return match req.method {
            Method::POST => create(app, bucket, key).map(Done::Response),
            _ => Err(super_not_implemented(req)),
        };
    }
    let upload_id = req.query("uploadId").unwrap_or_default();
    let dir = upload_dir(app, upload_id, bucket, key)?;
    match req.method {
        Method::PUT if req.header("x-amz-copy-source").is_some() => Err(super_not_implemented(req)),
        Method::PUT => upload_part(req, &dir, upload_id).map(Done::Response),
        Method::POST => complete(app, req, bucket, key, file, &dir, upload_id),
        Method::DELETE => {
            std::fs::remove_dir_all(&dir).map_err(|_| no_such_upload(upload_id))?;
            Ok(Done::Response(wire::response(204, "application/xml", "")))
        }
        Method::GET => list_parts(req, bucket, key, &dir, upload_id).map(Done::Response),
        _ => Err(super_not_implemented(req)),
    }
}

fn super_not_implemented(req: &Req) -> AwsError {
    AwsError::new(
        Service::S3,
        501,
        "NotImplemented",
        format!(
            "Slipway does not implement this S3 multipart operation ({} {}): only CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload and ListParts",
            req.method, req.path
        ),
    )
}

/// The directory of an upload begun for this bucket and key; `NoSuchUpload` for any other.
fn upload_dir(app: &App, upload_id: &str, bucket: &str, key: &str) -> Result<PathBuf, AwsError> {
    let well_formed = !upload_id.is_empty()
        && upload_id.len() <= 64
        && upload_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !well_formed {
        return Err(no_such_upload(upload_id));
    }
    let dir = uploads_root(app).join(upload_id);
    let meta: Upload = std::fs::read(dir.join("upload.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| no_such_upload(upload_id))?;
    if meta.bucket != bucket || meta.key != key {
        return Err(no_such_upload(upload_id));
    }
    Ok(dir)
}

fn create(app: &App, bucket: &str, key: &str) -> Result<HttpResponse, AwsError> {
    let upload_id = slipway_runtime::new_request_id();
    let root = uploads_root(app);
    let dir = root.join(&upload_id);
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&e, &dir))?;
    let meta = Upload {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        initiated_ms: app.clock.now_ms(),
    };
    let body = serde_json::to_vec(&meta).map_err(|e| AwsError::internal(Service::S3, &e))?;
    let file = dir.join("upload.json");
    std::fs::write(&file, body).map_err(|e| io_error(&e, &file))?;
    let mut x = Xml::new();
    x.open_ns("InitiateMultipartUploadResult", S3_XMLNS);
    x.leaf("Bucket", bucket);
    x.leaf("Key", key);
    x.leaf("UploadId", &upload_id);
    x.close("InitiateMultipartUploadResult");
    Ok(wire::response(200, "application/xml", x.finish()))
}

fn part_number(s: Option<&str>) -> Result<u32, AwsError> {
    match s.and_then(|s| s.parse::<u32>().ok()) {
        Some(n) if (1..=MAX_PART_NUMBER).contains(&n) => Ok(n),
        _ => {
            let mut e = AwsError::new(
                Service::S3,
                400,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            );
            e.resource = Some(("ArgumentName", "partNumber".to_owned()));
            Err(e)
        }
    }
}

fn part_file(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:05}"))
}

fn upload_part(req: &Req, dir: &Path, upload_id: &str) -> Result<HttpResponse, AwsError> {
    let n = part_number(req.query("partNumber"))?;
    let body = crate::s3::decode_aws_chunked(req);
    let etag = etag_of_digest(&Sha256::digest(&body));
    // Aside, then renamed: a part re-sent with the same number replaces the old one whole.
    let tmp = dir.join(format!(".{}.partial", req.request_id));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, &body)?;
        std::fs::write(part_file(dir, n).with_extension("etag"), &etag)?;
        std::fs::rename(&tmp, part_file(dir, n))
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        // The upload was aborted or completed meanwhile.
        if !dir.is_dir() {
            return Err(no_such_upload(upload_id));
        }
        return Err(io_error(&e, dir));
    }
    let mut r = wire::response(200, "application/xml", "");
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(hyper::header::ETAG, v);
    }
    Ok(r)
}

/// The text of the first `<tag>…</tag>` in `s`, entities decoded.
fn element<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = s.find(&open)? + open.len();
    let len = s[start..].find(&close)?;
    Some(&s[start..start + len])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `(PartNumber, ETag)` list of a `CompleteMultipartUpload` body, in the order written.
/// ETags are compared without their quotes (clients send them either way).
fn parse_part_list(body: &[u8]) -> Result<Vec<(u32, String)>, AwsError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed_xml())?;
    // The root element, whose start tag may carry the S3 namespace.
    let root = text
        .find("<CompleteMultipartUpload")
        .map(|i| &text[i + "<CompleteMultipartUpload".len()..])
        .filter(|r| r.starts_with(['>', ' ', '\n', '\r', '\t']))
        .and_then(|r| {
            let body = &r[r.find('>')? + 1..];
            Some(&body[..body.rfind("</CompleteMultipartUpload>")?])
        })
        .ok_or_else(malformed_xml)?;
    let mut parts = Vec::new();
    let mut rest = root;
    while let Some(i) = rest.find("<Part>") {
        let after = &rest[i + "<Part>".len()..];
        let end = after.find("</Part>").ok_or_else(malformed_xml)?;
        let part = &after[..end];
        let n = element(part, "PartNumber")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(malformed_xml)?;
        let etag = element(part, "ETag").ok_or_else(malformed_xml)?;
        parts.push((n, unescape(etag.trim()).trim_matches('"').to_owned()));
        rest = &after[end + "</Part>".len()..];
    }
    if parts.is_empty() {
        return Err(malformed_xml());
    }
    Ok(parts)
}

fn invalid_part(n: u32) -> AwsError {
    let mut e = AwsError::new(
        Service::S3,
        400,
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    );
    e.resource = Some(("PartNumber", n.to_string()));
    e
}

fn complete(
    app: &App,
    req: &Req,
    bucket: &str,
    key: &str,
    file: &Path,
    dir: &Path,
    upload_id: &str,
) -> Result<Done, AwsError> {
    let list = parse_part_list(&crate::s3::decode_aws_chunked(req))?;
    if list.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(AwsError::new(
            Service::S3,
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    let mut sizes = Vec::with_capacity(list.len());
    let mut digests = Vec::with_capacity(list.len() * 16);
    for (n, etag) in &list {
        let stored = std::fs::read_to_string(part_file(dir, *n).with_extension("etag"))
            .map_err(|_| invalid_part(*n))?;
        let size = std::fs::metadata(part_file(dir, *n))
            .map_err(|_| invalid_part(*n))?
            .len();
        if stored.trim_matches('"') != etag {
            return Err(invalid_part(*n));
        }
        digests.extend(hex::decode(stored.trim_matches('"')).map_err(|_| invalid_part(*n))?);
        sizes.push(size);
    }
    if let Some(i) = sizes[..sizes.len() - 1].iter().position(|s| *s < MIN_PART) {
        let mut e = AwsError::new(
            Service::S3,
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed object size.",
        );
        e.resource = Some(("PartNumber", list[i].0.to_string()));
        return Err(e);
    }
    if file.is_dir() {
        return Err(AwsError::new(
            Service::S3,
            400,
            "InvalidArgument",
            "Slipway cannot store an object whose key is a prefix of other keys",
        ));
    }
    // Claim the upload: a concurrent completion or abort finds it gone.
    let claimed = dir.with_file_name(format!("{upload_id}.completing.{}", req.request_id));
    std::fs::rename(dir, &claimed).map_err(|_| no_such_upload(upload_id))?;
    let assembled = (|| -> Result<u64, AwsError> {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(&e, parent))?;
        }
        let tmp = claimed.join(".assembled");
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| io_error(&e, &tmp))?);
        let mut total = 0;
        for (n, _) in &list {
            let p = part_file(&claimed, *n);
            let mut src = std::fs::File::open(&p).map_err(|e| io_error(&e, &p))?;
            total += std::io::copy(&mut src, &mut out).map_err(|e| io_error(&e, &tmp))?;
        }
        out.flush().map_err(|e| io_error(&e, &tmp))?;
        drop(out);
        std::fs::rename(&tmp, file).map_err(|e| io_error(&e, file))?;
        Ok(total)
    })();
    let size = match assembled {
        Ok(size) => size,
        Err(e) => {
            // Nothing was placed: the upload is the client's again.
            let _ = std::fs::remove_file(claimed.join(".assembled"));
            let _ = std::fs::rename(&claimed, dir);
            return Err(e);
        }
    };
    let _ = std::fs::remove_dir_all(&claimed);
    let etag = format!(
        "\"{}-{}\"",
        hex::encode(&Sha256::digest(&digests)[..16]),
        list.len()
    );
    let mut x = Xml::new();
    x.open_ns("CompleteMultipartUploadResult", S3_XMLNS);
    x.leaf(
        "Location",
        &format!(
            "http://{}/{bucket}/{}",
            app.endpoint_addr(),
            wire::percent_encode(key, true)
        ),
    );
    x.leaf("Bucket", bucket);
    x.leaf("Key", key);
    x.leaf("ETag", &etag);
    x.close("CompleteMultipartUploadResult");
    Ok(Done::Completed(
        wire::response(200, "application/xml", x.finish()),
        size,
        etag,
    ))
}

fn list_parts(
    req: &Req,
    bucket: &str,
    key: &str,
    dir: &Path,
    upload_id: &str,
) -> Result<HttpResponse, AwsError> {
    let marker: u32 = req
        .query("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max_parts: usize = req
        .query("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let mut parts: Vec<(u32, u64, u64, String)> = std::fs::read_dir(dir)
        .map_err(|_| no_such_upload(upload_id))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u32 = name.parse().ok().filter(|_| name.len() == 5)?;
            let meta = e.metadata().ok()?;
            let etag = std::fs::read_to_string(part_file(dir, n).with_extension("etag")).ok()?;
            let ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            Some((n, meta.len(), ms, etag))
        })
        .filter(|p| p.0 > marker)
        .collect();
    parts.sort_by_key(|p| p.0);
    let truncated = parts.len() > max_parts;
    parts.truncate(max_parts);
    let mut x = Xml::new();
    x.open_ns("ListPartsResult", S3_XMLNS);
    x.leaf("Bucket", bucket);
    x.leaf("Key", key);
    x.leaf("UploadId", upload_id);
    x.leaf("PartNumberMarker", &marker.to_string());
    if let Some(last) = parts.last() {
        x.leaf("NextPartNumberMarker", &last.0.to_string());
    }
    x.leaf("MaxParts", &max_parts.to_string());
    x.leaf("IsTruncated", if truncated { "true" } else { "false" });
    for (n, size, ms, etag) in &parts {
        x.open("Part");
        x.leaf("PartNumber", &n.to_string());
        x.leaf("LastModified", &wire::iso8601(*ms));
        x.leaf("ETag", etag);
        x.leaf("Size", &size.to_string());
        x.close("Part");
    }
    x.leaf("StorageClass", "STANDARD");
    x.close("ListPartsResult");
    Ok(wire::response(200, "application/xml", x.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_lists_parse_with_quoted_or_escaped_etags() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><ETag>&quot;aa&quot;</ETag><PartNumber>1</PartNumber></Part>
  <Part><PartNumber>2</PartNumber><ETag>"bb"</ETag></Part>
</CompleteMultipartUpload>"#;
        assert_eq!(
            parse_part_list(body).unwrap(),
            vec![(1, "aa".to_owned()), (2, "bb".to_owned())]
        );
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
            b"<CompleteMultipartUploads><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUploads>",
            b"\xff",
        ] {
            assert_eq!(parse_part_list(bad).unwrap_err().code, "MalformedXML");
        }
    }
}
