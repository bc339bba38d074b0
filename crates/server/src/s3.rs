//! S3 (REST-XML, path-style `/bucket/key`): `PutObject`, `GetObject`, `HeadObject`,
//! `DeleteObject`, `CopyObject`, `ListObjectsV2`, plus `ListBuckets`, `HeadBucket` and
//! `CreateBucket`, on the buckets the engine created or `CreateBucket` made — directories
//! under `<data_dir>/s3/`, one file per object — and multipart uploads (`s3_multipart.rs`).
//! A put, copy or completed multipart upload also starts the pipelines whose S3 source
//! watches that key (`pipelines::object_uploaded`).
//! Object-created and object-removed events go to the bucket's notification configuration
//! (`events.rs`); removal events only for keys that existed.
//!
//! `GetObject` answers a single `Range: bytes=…` with 206 (the AWS CLI downloads big objects
//! in ranges).
//!
//! Known differences: the `ETag` is the first 128 bits of the content's sha256 (not its MD5);
//! no user metadata or content type is kept (objects answer `binary/octet-stream`); keys whose
//! path segments are empty, `.` or `..` are refused rather than stored.

use std::path::{Path, PathBuf};

use hyper::Method;
use hyper::header::HeaderValue;
use sha2::{Digest as _, Sha256};
use slipway_engine::providers::bucket_dir;

use slipway_deploy::events::S3Event;

use crate::wire::{self, AwsError, HttpResponse, S3_XMLNS, Service, Xml};
use crate::{App, Req, events, s3_multipart};

fn no_such_bucket(bucket: &str) -> AwsError {
    let mut e = AwsError::new(
        Service::S3,
        404,
        "NoSuchBucket",
        "The specified bucket does not exist",
    );
    e.resource = Some(("BucketName", bucket.to_owned()));
    e
}

fn no_such_key(key: &str) -> AwsError {
    let mut e = AwsError::new(
        Service::S3,
        404,
        "NoSuchKey",
        "The specified key does not exist.",
    );
    e.resource = Some(("Key", key.to_owned()));
    e
}

/// Query parameters that make a request another operation than the object or bucket one.
const SUBRESOURCES: &[&str] = &[
    "uploads",
    "uploadId",
    "partNumber",
    "acl",
    "tagging",
    "versionId",
    "versions",
    "versioning",
    "policy",
    "cors",
    "lifecycle",
    "location",
    "notification",
    "website",
    "retention",
    "legal-hold",
    "object-lock",
    "restore",
    "select",
    "attributes",
    "torrent",
    "delete",
];

/// Everything else S3 has (ACLs, versioning, …) is refused loudly.
fn not_implemented(req: &Req) -> AwsError {
    AwsError::new(
        Service::S3,
        501,
        "NotImplemented",
        format!(
            "Slipway does not implement this S3 operation ({} {}): only PutObject, GetObject, HeadObject, DeleteObject, CopyObject, ListObjectsV2, ListBuckets, HeadBucket, CreateBucket and the multipart upload operations (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts)",
            req.method, req.path
        ),
    )
}

fn io_error(e: &std::io::Error, path: &Path) -> AwsError {
    AwsError::internal(Service::S3, &format!("{}: {e}", path.display()))
}

pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let path = req.path.trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (
            wire::percent_decode(b, false),
            wire::percent_decode(k, false),
        ),
        None => (wire::percent_decode(path, false), String::new()),
    };
    if bucket.is_empty() {
        return match req.method {
            Method::GET => list_buckets(app),
            _ => Err(not_implemented(req)),
        };
    }
    let dir = bucket_dir(&app.data_dir, &bucket);
    if !key.is_empty() && s3_multipart::is_multipart(req) {
        if bucket.contains(['/', '\\']) || bucket.starts_with('.') || !dir.is_dir() {
            return Err(no_such_bucket(&bucket));
        }
        let file = object_path(&dir, &key)?;
        return match s3_multipart::handle(app, req, &bucket, &key, &file)? {
            s3_multipart::Done::Response(r) => Ok(r),
            s3_multipart::Done::Completed(r, size, etag) => {
                created(
                    app,
                    req,
                    &bucket,
                    &key,
                    &file,
                    S3Event::CompleteMultipartUpload,
                    size,
                    &etag,
                );
                Ok(r)
            }
        };
    }
    if SUBRESOURCES.iter().any(|sub| req.query(sub).is_some()) {
        return Err(not_implemented(req));
    }
    if key.is_empty() && req.method == Method::PUT {
        return create_bucket(&bucket, &dir);
    }
    if bucket.contains(['/', '\\']) || bucket.starts_with('.') || !dir.is_dir() {
        return Err(no_such_bucket(&bucket));
    }
    if key.is_empty() {
        return match req.method {
            Method::GET if req.query("list-type") == Some("2") => {
                list_objects_v2(req, &bucket, &dir)
            }
            Method::HEAD => Ok(wire::response(200, "application/xml", "")),
            _ => Err(not_implemented(req)),
        };
    }
    let file = object_path(&dir, &key)?;
    let (resp, event) = match req.method {
        Method::PUT if req.header("x-amz-copy-source").is_some() => {
            (copy_object(app, req, &file)?, Some(S3Event::Copy))
        }
        Method::PUT => (put_object(app, req, &file)?, Some(S3Event::Put)),
        Method::GET => return get_object(req, &file, &key, false),
        Method::HEAD => return get_object(req, &file, &key, true),
        Method::DELETE => {
            let existed = file.is_file();
            let r = delete_object(&dir, &file)?;
            (r, existed.then_some(S3Event::Delete))
        }
        _ => return Err(not_implemented(req)),
    };
    // Notifications go out once the object is in place (or gone), as S3 sends them after
    // finishing the request.
    if let Some(event) = event {
        let (size, etag) = match std::fs::read(&file) {
            Ok(b) => (b.len() as u64, etag(&b)),
            Err(_) => (0, String::new()),
        };
        created(app, req, &bucket, &key, &file, event, size, &etag);
    }
    Ok(resp)
}

/// The object `key` was created (or removed, for `S3Event::Delete`): its notifications, and
/// for a new object the pipelines whose S3 source watches it.
#[allow(clippy::too_many_arguments)]
fn created(
    app: &App,
    req: &Req,
    bucket: &str,
    key: &str,
    file: &Path,
    event: S3Event,
    size: u64,
    etag: &str,
) {
    events::s3_object_event(
        app,
        &events::ObjectEvent {
            event,
            bucket,
            key,
            size,
            etag,
            request_id: &req.request_id,
        },
    );
    // A new object (or version of one) is what an S3 source action watches for.
    if event != S3Event::Delete {
        crate::pipelines::object_uploaded(app, bucket, key, file);
    }
}

/// `CreateBucket` (`aws s3 mb`): `PUT /bucket`. The body's `CreateBucketConfiguration`
/// (the region) is not kept: a bucket is a directory of this server. The name must follow
/// S3's rules for new buckets (3–63 characters: lowercase letters, digits, `-` and `.`,
/// beginning and ending with a letter or digit, not shaped like an IP address). S3 answers
/// `BucketAlreadyOwnedByYou` (409) for a bucket the caller owns, outside us-east-1; Slipway
/// always does.
fn create_bucket(bucket: &str, dir: &Path) -> Result<HttpResponse, AwsError> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let edges = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ip_like = bucket.split('.').count() == 4
        && bucket
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !(3..=63).contains(&bucket.len())
        || !ok_chars
        || !edges(bucket.chars().next())
        || !edges(bucket.chars().last())
        || bucket.contains("..")
        || ip_like
    {
        let mut e = AwsError::new(
            Service::S3,
            400,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        );
        e.resource = Some(("BucketName", bucket.to_owned()));
        return Err(e);
    }
    if dir.is_dir() {
        let mut e = AwsError::new(
            Service::S3,
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        );
        e.resource = Some(("BucketName", bucket.to_owned()));
        return Err(e);
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error(&e, dir))?;
    let mut r = wire::response(200, "application/xml", "");
    if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
        r.headers_mut().insert(hyper::header::LOCATION, v);
    }
    Ok(r)
}

/// `CopyObject`: `PUT` with `x-amz-copy-source: /bucket/key` (URL-encoded, optionally
/// `?versionId=…`, which is refused).
fn copy_object(app: &App, req: &Req, file: &Path) -> Result<HttpResponse, AwsError> {
    let raw = req.header("x-amz-copy-source").unwrap_or_default();
    if raw.contains("?versionId=") {
        return Err(not_implemented(req));
    }
    let source = wire::percent_decode(raw.trim_start_matches('/'), false);
    let (sb, sk) = source.split_once('/').ok_or_else(|| {
        AwsError::new(
            Service::S3,
            400,
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    })?;
    let sdir = bucket_dir(&app.data_dir, sb);
    if sb.contains(['/', '\\']) || sb.starts_with('.') || !sdir.is_dir() {
        return Err(no_such_bucket(sb));
    }
    let sfile = object_path(&sdir, sk)?;
    let bytes = match std::fs::read(&sfile) {
        Ok(b) if sfile.is_file() => b,
        _ => return Err(no_such_key(sk)),
    };
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(&e, parent))?;
    }
    let tmp_dir = app.data_dir.join("s3-tmp");
    std::fs::create_dir_all(&tmp_dir).map_err(|e| io_error(&e, &tmp_dir))?;
    let tmp = tmp_dir.join(slipway_runtime::new_request_id());
    std::fs::write(&tmp, &bytes).map_err(|e| io_error(&e, &tmp))?;
    std::fs::rename(&tmp, file).map_err(|e| io_error(&e, file))?;
    let mut x = Xml::new();
    x.open_ns("CopyObjectResult", S3_XMLNS);
    x.leaf("LastModified", &wire::iso8601(app.clock.now_ms()));
    x.leaf("ETag", &etag(&bytes));
    x.close("CopyObjectResult");
    Ok(wire::response(200, "application/xml", x.finish()))
}

fn object_path(dir: &Path, key: &str) -> Result<PathBuf, AwsError> {
    let mut p = dir.to_path_buf();
    for seg in key.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
            return Err(AwsError::new(
                Service::S3,
                400,
                "InvalidArgument",
                format!(
                    "Slipway cannot store the key {key:?}: empty, '.' or '..' path segments are not supported"
                ),
            ));
        }
        p.push(seg);
    }
    Ok(p)
}

fn etag(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&d[..16]))
}

fn modified_ms(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

fn put_object(app: &App, req: &Req, file: &Path) -> Result<HttpResponse, AwsError> {
    let body = decode_aws_chunked(req);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(&e, parent))?;
    }
    if file.is_dir() {
        return Err(AwsError::new(
            Service::S3,
            400,
            "InvalidArgument",
            "Slipway cannot store an object whose key is a prefix of other keys",
        ));
    }
    // Written aside, then renamed into place: a reader never sees half an object.
    let tmp_dir = app.data_dir.join("s3-tmp");
    std::fs::create_dir_all(&tmp_dir).map_err(|e| io_error(&e, &tmp_dir))?;
    let tmp = tmp_dir.join(slipway_runtime::new_request_id());
    std::fs::write(&tmp, &body).map_err(|e| io_error(&e, &tmp))?;
    std::fs::rename(&tmp, file).map_err(|e| io_error(&e, file))?;
    let mut r = wire::response(200, "application/xml", "");
    if let Ok(v) = HeaderValue::from_str(&etag(&body)) {
        r.headers_mut().insert(hyper::header::ETAG, v);
    }
    Ok(r)
}

/// `Content-Encoding: aws-chunked` bodies (`x-amz-content-sha256: STREAMING-…`) carry the
/// object in `SIZE[;chunk-signature=…]\r\nDATA\r\n` frames, ended by a zero-size one (and
/// trailers); anything else is the object itself.
pub(crate) fn decode_aws_chunked(req: &Req) -> Vec<u8> {
    let streaming = req
        .header("x-amz-content-sha256")
        .is_some_and(|v| v.starts_with("STREAMING-"));
    let chunked = req
        .header("content-encoding")
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "aws-chunked"));
    if !streaming && !chunked {
        return req.body.to_vec();
    }
    let b = &req.body[..];
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let Some(nl) = b[i..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let line = String::from_utf8_lossy(&b[i..i + nl]);
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        i += nl + 2;
        if size == 0 || i + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[i..i + size]);
        i += size + 2;
    }
    out
}

/// A `Range: bytes=…` header's one range over `len` bytes, as `start..end`: `Ok(None)` for
/// no header, or one S3 ignores (several ranges, another unit, not parsable — S3 then
/// answers the whole object); `Err` for a range past the end (416 `InvalidRange`).
fn byte_range(req: &Req, len: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = req
        .header("range")
        .and_then(|r| r.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.parse::<u64>(), b.parse::<u64>()) {
        // `bytes=-N`: the last N bytes.
        _ if a.is_empty() => match b.parse::<u64>() {
            Ok(0) => return Err(()),
            Ok(n) => len.saturating_sub(n)..len,
            Err(_) => return Ok(None),
        },
        (Ok(start), _) if b.is_empty() => start..len,
        (Ok(start), Ok(end)) if start <= end => start..(end + 1).min(len),
        _ => return Ok(None),
    };
    if range.start >= len {
        return Err(());
    }
    Ok(Some(range))
}

fn get_object(req: &Req, file: &Path, key: &str, head: bool) -> Result<HttpResponse, AwsError> {
    let meta = match std::fs::metadata(file) {
        Ok(m) if m.is_file() => m,
        _ => return Err(no_such_key(key)),
    };
    let mut bytes = std::fs::read(file).map_err(|e| io_error(&e, file))?;
    let tag = etag(&bytes);
    let total = bytes.len() as u64;
    // `aws s3 cp` downloads objects above its multipart threshold in ranges.
    let range = byte_range(req, total).map_err(|()| {
        let mut e = AwsError::new(
            Service::S3,
            416,
            "InvalidRange",
            "The requested range is not satisfiable",
        );
        e.resource = Some(("ActualObjectSize", total.to_string()));
        e
    })?;
    if let Some(r) = &range {
        bytes = bytes[r.start as usize..r.end as usize].to_vec();
    }
    let len = bytes.len();
    let mut r = wire::response(
        if range.is_some() { 206 } else { 200 },
        "binary/octet-stream",
        if head { Vec::new() } else { bytes },
    );
    let h = r.headers_mut();
    let content_range = range.map(|r| format!("bytes {}-{}/{total}", r.start, r.end - 1));
    for (k, v) in [
        ("etag", Some(tag)),
        ("last-modified", Some(wire::http_date(modified_ms(&meta)))),
        ("accept-ranges", Some("bytes".to_owned())),
        ("content-length", Some(len.to_string())),
        ("content-range", content_range),
    ] {
        if let Some(v) = v
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            h.insert(k, v);
        }
    }
    Ok(r)
}

fn delete_object(dir: &Path, file: &Path) -> Result<HttpResponse, AwsError> {
    if file.is_file() {
        std::fs::remove_file(file).map_err(|e| io_error(&e, file))?;
        // Empty "directories" are not objects: remove them up to the bucket.
        let mut p = file.parent();
        while let Some(d) = p {
            if d == dir || std::fs::remove_dir(d).is_err() {
                break;
            }
            p = d.parent();
        }
    }
    // S3 answers 204 whether or not the key existed.
    Ok(wire::response(204, "application/xml", ""))
}

fn list_buckets(app: &App) -> Result<HttpResponse, AwsError> {
    let root = app.data_dir.join("s3");
    let mut names: Vec<(String, u64)> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let ms = e.metadata().map(|m| modified_ms(&m)).unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), ms)
        })
        .collect();
    names.sort();
    let mut x = Xml::new();
    x.open_ns("ListAllMyBucketsResult", S3_XMLNS);
    x.open("Owner");
    x.leaf("ID", &app.default_account);
    x.leaf("DisplayName", "slipway");
    x.close("Owner");
    x.open("Buckets");
    for (n, ms) in names {
        x.open("Bucket");
        x.leaf("Name", &n);
        x.leaf("CreationDate", &wire::iso8601(ms));
        x.close("Bucket");
    }
    x.close("Buckets");
    x.close("ListAllMyBucketsResult");
    Ok(wire::response(200, "application/xml", x.finish()))
}

/// Every object of a bucket: `(key, size, modified ms, path)`, sorted by key (S3's UTF-8
/// binary order).
fn walk(dir: &Path) -> Vec<(String, u64, u64, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let key = format!("{prefix}{name}");
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push((e.path(), format!("{key}/")));
            } else if meta.is_file() {
                out.push((key, meta.len(), modified_ms(&meta), e.path()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn list_objects_v2(req: &Req, bucket: &str, dir: &Path) -> Result<HttpResponse, AwsError> {
    let prefix = req.query("prefix").unwrap_or("");
    let delimiter = req.query("delimiter").filter(|d| !d.is_empty());
    let max_keys: usize = req
        .query("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let url = req.query("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            wire::percent_encode(s, true)
        } else {
            s.to_owned()
        }
    };
    let after = match req.query("continuation-token") {
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    AwsError::new(
                        Service::S3,
                        400,
                        "InvalidArgument",
                        "The continuation token provided is incorrect",
                    )
                })?,
        ),
        None => req.query("start-after").map(str::to_owned),
    };
    let mut contents = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    let mut last = None;
    for (key, size, ms, path) in walk(dir) {
        if !key.starts_with(prefix) || after.as_deref().is_some_and(|a| key.as_str() <= a) {
            continue;
        }
        let rolled = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|i| key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = &rolled
            && prefixes.last() == Some(cp)
        {
            continue;
        }
        if contents.len() + prefixes.len() == max_keys {
            truncated = true;
            break;
        }
        last = Some(key.clone());
        match rolled {
            Some(cp) => prefixes.push(cp),
            None => contents.push((key, size, ms, path)),
        }
    }
    let mut x = Xml::new();
    x.open_ns("ListBucketResult", S3_XMLNS);
    x.leaf("Name", bucket);
    x.leaf("Prefix", &enc(prefix));
    if let Some(d) = delimiter {
        x.leaf("Delimiter", &enc(d));
    }
    x.leaf("MaxKeys", &max_keys.to_string());
    x.leaf("KeyCount", &(contents.len() + prefixes.len()).to_string());
    x.leaf("IsTruncated", if truncated { "true" } else { "false" });
    if let Some(t) = req.query("continuation-token") {
        x.leaf("ContinuationToken", t);
    }
    if truncated && let Some(l) = &last {
        // A rolled-up prefix continues after every key under it.
        let resume = match prefixes.last() {
            Some(p) if l.starts_with(p.as_str()) => format!("{p}\u{10FFFF}"),
            _ => l.clone(),
        };
        x.leaf("NextContinuationToken", &hex::encode(resume));
    }
    if let Some(s) = req.query("start-after") {
        x.leaf("StartAfter", &enc(s));
    }
    if url {
        x.leaf("EncodingType", "url");
    }
    for (key, size, ms, path) in &contents {
        x.open("Contents");
        x.leaf("Key", &enc(key));
        x.leaf("LastModified", &wire::iso8601(*ms));
        let tag = std::fs::read(path).map(|b| etag(&b)).unwrap_or_default();
        x.leaf("ETag", &tag);
        x.leaf("Size", &size.to_string());
        x.leaf("StorageClass", "STANDARD");
        x.close("Contents");
    }
    for p in &prefixes {
        x.open("CommonPrefixes");
        x.leaf("Prefix", &enc(p));
        x.close("CommonPrefixes");
    }
    x.close("ListBucketResult");
    Ok(wire::response(200, "application/xml", x.finish()))
}
