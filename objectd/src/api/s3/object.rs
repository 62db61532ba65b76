//! Object operations: PutObject, GetObject and HeadObject (ranges,
//! conditions, `response-*` overrides), DeleteObject, DeleteObjects and
//! CopyObject. `x-amz-meta-*` is stored as Swift's `x-object-meta-*`, so
//! both APIs see the same metadata.

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, StatusCode};
use hyper::body::Incoming;

use super::error::S3Error;
use super::xml::{self, elem, NS};
use super::{bucket, multipart, payload, S3Request};
use crate::api::body::{self, Object};
use crate::api::response::{self, Resp};
use crate::api::swift::range::{self, Ranges};
use crate::api::swift::{conditional, header};
use crate::api::App;
use crate::proxy::manifest::Segment;
use crate::proxy::put::{BodySpec, BodyStream};
use crate::proxy::ProxyError;
use crate::store::record::ObjectMeta;
use crate::timestamp::Timestamp;

/// Request headers stored with an object as they are.
const STORED: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// S3's limit on user metadata (names and values).
const MAX_USER_METADATA: usize = 2048;

/// The stored headers a request sets: `x-amz-meta-*` as `x-object-meta-*`
/// plus the content headers S3 keeps.
pub fn stored_headers(h: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    let mut size = 0;
    for (name, value) in h {
        let Ok(value) = value.to_str() else { continue };
        let name = name.as_str();
        if let Some(key) = name.strip_prefix("x-amz-meta-") {
            size += key.len() + value.len();
            out.push((format!("x-object-meta-{key}"), value.to_string()));
        } else if name == "content-encoding" {
            let rest: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if !rest.is_empty() {
                out.push((name.to_string(), rest.join(",")));
            }
        } else if STORED.contains(&name) {
            out.push((name.to_string(), value.to_string()));
        }
    }
    if size > MAX_USER_METADATA {
        return Err(S3Error::new(
            "MetadataTooLarge",
            StatusCode::BAD_REQUEST,
            "Your metadata headers exceed the maximum allowed metadata size.",
        ));
    }
    out.sort();
    Ok(out)
}

/// The metadata of a new object version at `container/object`.
pub fn template(
    account: &str,
    container: &str,
    object: &str,
    content_type: Option<&str>,
    headers: Vec<(String, String)>,
) -> ObjectMeta {
    let mut meta =
        ObjectMeta::tombstone(format!("{account}/{container}/{object}"), Timestamp::now());
    meta.deleted = false;
    meta.content_type = content_type
        .filter(|c| !c.is_empty())
        .unwrap_or("binary/octet-stream")
        .to_string();
    meta.headers = headers;
    meta
}

/// Stores the request body as `container/object`, checked as its signature
/// says; nothing is stored when a check fails.
pub async fn store_body(
    app: &App,
    r: &S3Request,
    container: &str,
    object: &str,
    meta: ObjectMeta,
    body: Incoming,
) -> Result<ObjectMeta, S3Error> {
    let h = &r.parts.headers;
    let chunked = !matches!(
        r.verified.payload,
        super::sigv4::Payload::Unsigned | super::sigv4::Payload::Sha256(_)
    );
    let length_header = if chunked {
        "x-amz-decoded-content-length"
    } else {
        "content-length"
    };
    let content_length =
        match header(h, length_header) {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                S3Error::invalid_argument(&format!("{length_header} is not a number"))
            })?),
            None if header(h, "transfer-encoding").is_some() => None,
            None => {
                return Err(S3Error::new(
                    "MissingContentLength",
                    StatusCode::LENGTH_REQUIRED,
                    "You must provide the Content-Length HTTP header.",
                ))
            }
        };
    let expected_etag = match header(h, "content-md5") {
        Some(md5) => Some(md5_hex(md5)?),
        None => None,
    };
    let spec = BodySpec {
        content_length,
        expected_etag,
        max_size: app.cluster.max_object_size,
        page_cache: true,
    };
    let (stream, check) = payload::stream(body, &r.verified);
    match app
        .cluster
        .put_object_replacing(container, object, meta, &spec, stream)
        .await
    {
        Ok((meta, replaced)) => {
            multipart::remove_replaced(app, &r.account, container, object, replaced.as_ref(), None)
                .await;
            Ok(meta)
        }
        Err(ProxyError::ClientBody(e)) => Err(check
            .failure()
            .unwrap_or_else(|| S3Error::from_proxy(ProxyError::ClientBody(e), S3Error::internal))),
        Err(e) => Err(S3Error::from_proxy(e, S3Error::no_such_bucket)),
    }
}

/// The hex MD5 of a `Content-MD5` (base64) header.
fn md5_hex(value: &str) -> Result<String, S3Error> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .filter(|b| b.len() == 16)
        .map(hex::encode)
        .ok_or_else(|| {
            S3Error::new(
                "InvalidDigest",
                StatusCode::BAD_REQUEST,
                "The Content-MD5 you specified was invalid.",
            )
        })
}

pub async fn put(app: &App, r: &S3Request, body: Incoming) -> Result<Resp, S3Error> {
    bucket::info(app, r).await?;
    let meta = template(
        &r.account,
        r.bucket(),
        r.key(),
        r.header("content-type"),
        stored_headers(&r.parts.headers)?,
    );
    let meta = store_body(app, r, r.bucket(), r.key(), meta, body).await?;
    let mut resp = response::empty(StatusCode::OK);
    response::set(&mut resp, "etag", &format!("\"{}\"", meta.etag));
    Ok(resp)
}

/// Opens `container/object` for reading; `NoSuchKey` (or `NoSuchBucket`) if absent.
pub async fn open(
    app: &App,
    account: &str,
    container: &str,
    object: &str,
    head: bool,
) -> Result<Object, S3Error> {
    let found = if head {
        app.cluster.head_object(account, container, object).await
    } else {
        app.cluster.get_object(account, container, object).await
    };
    let found = match found {
        Ok(f) => f,
        Err(ProxyError::NotFound) => {
            return Err(match app.cluster.container_info(account, container).await {
                Ok(_) => S3Error::no_such_key(),
                Err(_) => S3Error::no_such_bucket(),
            })
        }
        Err(e) => return Err(S3Error::from_proxy(e, S3Error::no_such_key)),
    };
    body::open(&app.cluster, account, found, head)
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_key))
}

/// The last-modified time of a version.
fn last_modified(meta: &ObjectMeta) -> Timestamp {
    meta.meta_ts.max(meta.ts)
}

/// Sets ETag, Last-Modified, the stored headers and user metadata.
fn object_headers(resp: &mut Resp, meta: &ObjectMeta) {
    response::set(resp, "etag", &format!("\"{}\"", meta.etag));
    response::set(resp, "last-modified", &last_modified(meta).http_date());
    for (n, v) in &meta.headers {
        if let Some(k) = n.strip_prefix("x-object-meta-") {
            response::set(resp, &format!("x-amz-meta-{k}"), v);
        } else if STORED.contains(&n.as_str()) {
            response::set(resp, n, v);
        }
    }
}

pub async fn get(app: &App, r: &S3Request, head: bool) -> Result<Resp, S3Error> {
    let obj = open(app, &r.account, r.bucket(), r.key(), head).await?;
    let meta = &obj.meta;
    match conditional::check(
        &r.parts.headers,
        &meta.etag,
        last_modified(meta).secs_ceil(),
    ) {
        Some(StatusCode::NOT_MODIFIED) => {
            let mut resp = response::empty(StatusCode::NOT_MODIFIED);
            object_headers(&mut resp, meta);
            return Ok(resp);
        }
        Some(_) => return Err(S3Error::precondition_failed()),
        None => {}
    }
    let (status, start, end) = match range::parse(r.header("range"), meta.size) {
        Ranges::Unsatisfiable => {
            return Err(S3Error::new(
                "InvalidRange",
                StatusCode::RANGE_NOT_SATISFIABLE,
                "The requested range is not satisfiable",
            ))
        }
        Ranges::Parts(p) if p.len() == 1 => (StatusCode::PARTIAL_CONTENT, p[0].0, p[0].1),
        _ => (StatusCode::OK, 0, meta.size.saturating_sub(1)),
    };
    let length = if meta.size == 0 { 0 } else { end - start + 1 };
    let mut resp = response::with_body(status, &meta.content_type, Bytes::new());
    if !head && length > 0 {
        let stream = if status == StatusCode::OK {
            obj.full()
        } else {
            obj.slice(start, end)
        };
        *resp.body_mut() = response::streamed(stream);
    }
    response::set(&mut resp, "content-length", &length.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        response::set(
            &mut resp,
            "content-range",
            &format!("bytes {start}-{end}/{}", meta.size),
        );
    }
    response::set(&mut resp, "accept-ranges", "bytes");
    object_headers(&mut resp, meta);
    if obj.is_manifest() {
        response::set(
            &mut resp,
            "x-amz-mp-parts-count",
            &obj.segments().len().to_string(),
        );
    }
    for (param, name) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(v) = r.q(param) {
            response::set(&mut resp, name, v);
        }
    }
    Ok(resp)
}

/// The segments of the current version of `container/object` when it is a
/// manifest (a completed multipart upload); empty otherwise.
pub async fn manifest_segments(
    app: &App,
    account: &str,
    container: &str,
    object: &str,
) -> Vec<Segment> {
    match app.cluster.head_object(account, container, object).await {
        Ok(found) if crate::proxy::manifest::logical(&found.meta).is_some() => {
            match open(app, account, container, object, false).await {
                Ok(obj) => obj.segments().to_vec(),
                Err(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// Deletes the segments of a manifest that was deleted or replaced.
pub async fn delete_segments(app: &App, account: &str, segments: Vec<Segment>) {
    for s in segments {
        if let Err(e) = app
            .cluster
            .delete_object(account, &s.container, &s.object)
            .await
        {
            tracing::debug!(segment = %s.object, "segment delete: {e}");
        }
    }
}

/// Deletes an object; a manifest's segments go with it. Absent objects are
/// not an error.
pub async fn delete_object(
    app: &App,
    account: &str,
    container: &str,
    object: &str,
) -> Result<(), S3Error> {
    let segments = manifest_segments(app, account, container, object).await;
    match app.cluster.delete_object(account, container, object).await {
        Ok(()) | Err(ProxyError::NotFound) => {}
        Err(e) => return Err(S3Error::from_proxy(e, S3Error::no_such_key)),
    }
    delete_segments(app, account, segments).await;
    Ok(())
}

pub async fn delete(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    bucket::info(app, r).await?;
    delete_object(app, &r.account, r.bucket(), r.key()).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// Most keys one DeleteObjects request may name.
const MAX_DELETE_KEYS: usize = 1000;

pub async fn delete_many(app: &App, r: &S3Request, body: Incoming) -> Result<Resp, S3Error> {
    let body = payload::read_all(body, &r.verified, 2 * 1024 * 1024).await?;
    if let Some(md5) = r.header("content-md5") {
        let want = md5_hex(md5)?;
        let got = hex::encode(
            openssl::hash::hash(openssl::hash::MessageDigest::md5(), &body)
                .map_err(|_| S3Error::internal())?,
        );
        if want != got {
            return Err(S3Error::from_proxy(
                ProxyError::EtagMismatch,
                S3Error::internal,
            ));
        }
    }
    let doc = xml::parse(&body)?;
    if doc.name != "Delete" {
        return Err(S3Error::malformed_xml());
    }
    let quiet = doc.text_of("Quiet").is_some_and(|q| q.trim() == "true");
    let keys: Vec<String> = doc
        .all("Object")
        .map(|o| {
            o.text_of("Key")
                .map(str::to_string)
                .ok_or_else(S3Error::malformed_xml)
        })
        .collect::<Result<_, _>>()?;
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(S3Error::malformed_xml());
    }
    bucket::info(app, r).await?;
    let results: Vec<(String, Result<(), S3Error>)> = futures::stream::iter(keys)
        .map(|k| async move {
            let res = delete_object(app, &r.account, r.bucket(), &k).await;
            (k, res)
        })
        .buffered(16)
        .collect()
        .await;
    let mut out = format!("<DeleteResult xmlns=\"{NS}\">");
    for (key, res) in results {
        match res {
            Ok(()) if quiet => {}
            Ok(()) => {
                out.push_str("<Deleted>");
                elem(&mut out, "Key", &key);
                out.push_str("</Deleted>");
            }
            Err(e) => {
                out.push_str("<Error>");
                elem(&mut out, "Key", &key);
                elem(&mut out, "Code", e.code);
                elem(&mut out, "Message", &e.message);
                out.push_str("</Error>");
            }
        }
    }
    out.push_str("</DeleteResult>");
    Ok(xml::ok(&out))
}

/// The bucket and key of `x-amz-copy-source` (`[/]bucket/key[?versionId=null]`).
pub fn copy_source(r: &S3Request) -> Result<(String, String), S3Error> {
    let raw = r.header("x-amz-copy-source").unwrap_or_default();
    let (path, version) = match raw.split_once('?') {
        Some((p, v)) => (p, Some(v)),
        None => (raw, None),
    };
    if version.is_some_and(|v| v != "versionId=null") {
        return Err(S3Error::not_implemented(
            "copying object versions is not implemented",
        ));
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("Invalid copy source encoding"))?;
    match decoded.trim_start_matches('/').split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

/// Checks the `x-amz-copy-source-if-*` conditions against the source.
pub fn check_copy_conditions(r: &S3Request, src: &ObjectMeta) -> Result<(), S3Error> {
    let mut h = HeaderMap::new();
    for (from, to) in [
        ("x-amz-copy-source-if-match", "if-match"),
        ("x-amz-copy-source-if-none-match", "if-none-match"),
        ("x-amz-copy-source-if-modified-since", "if-modified-since"),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
        ),
    ] {
        if let Some(v) = r.parts.headers.get(from) {
            h.insert(to, v.clone());
        }
    }
    match conditional::check(&h, &src.etag, last_modified(src).secs_ceil()) {
        None => Ok(()),
        Some(_) => Err(S3Error::precondition_failed()),
    }
}

/// Stores a stream of known length as `container/object`.
pub async fn store_stream(
    app: &App,
    container: &str,
    object: &str,
    meta: ObjectMeta,
    length: u64,
    stream: BodyStream,
) -> Result<ObjectMeta, S3Error> {
    let spec = BodySpec {
        content_length: Some(length),
        expected_etag: None,
        max_size: app.cluster.max_object_size,
        page_cache: true,
    };
    let account = meta.path.split('/').next().unwrap_or_default().to_string();
    let (meta, replaced) = app
        .cluster
        .put_object_replacing(container, object, meta, &spec, stream)
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_bucket))?;
    multipart::remove_replaced(app, &account, container, object, replaced.as_ref(), None).await;
    Ok(meta)
}

pub async fn copy(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    let (sb, sk) = copy_source(r)?;
    bucket::info(app, r).await?;
    let src = open(app, &r.account, &sb, &sk, false).await?;
    check_copy_conditions(r, &src.meta)?;
    let replace = match r.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
    };
    if !replace && sb == r.bucket() && sk == r.key() {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let meta = if replace {
        template(
            &r.account,
            r.bucket(),
            r.key(),
            r.header("content-type"),
            stored_headers(&r.parts.headers)?,
        )
    } else {
        template(
            &r.account,
            r.bucket(),
            r.key(),
            Some(&src.meta.content_type),
            src.meta.headers.clone(),
        )
    };
    let stored = store_stream(app, r.bucket(), r.key(), meta, src.meta.size, src.full()).await?;
    let mut out = format!("<CopyObjectResult xmlns=\"{NS}\">");
    elem(&mut out, "LastModified", &xml::date(stored.ts));
    elem(&mut out, "ETag", &format!("\"{}\"", stored.etag));
    out.push_str("</CopyObjectResult>");
    Ok(xml::ok(&out))
}
