//! Object requests: PUT (plain, chunked, or copying with `X-Copy-From`),
//! GET/HEAD (conditional, ranged), POST, DELETE and COPY.

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyDataStream;
use hyper::body::Incoming;

use super::constraints::{self, Kind};
use super::range::{self, Ranges};
use super::{add_stored_headers, conditional, header, proxy_error, Target};
use crate::api::body::{self, Object};
use crate::api::response::{self, Resp};
use crate::api::App;
use crate::proxy::put::{BodySpec, BodyStream};
use crate::proxy::ProxyError;
use crate::store::record::ObjectMeta;
use crate::store::writer::ObjectPost;
use crate::timestamp::Timestamp;

/// Dispatches an object request.
pub async fn handle(app: &App, method: &Method, t: &Target, req: Request<Incoming>) -> Resp {
    let container = t
        .container
        .as_deref()
        .expect("object requests name a container");
    let object = t.object.as_deref().expect("object requests name an object");
    match method.as_str() {
        "GET" | "HEAD" => {
            get(
                app,
                &t.account,
                container,
                object,
                &req,
                method == Method::HEAD,
            )
            .await
        }
        "PUT" => match header(req.headers(), "x-copy-from") {
            Some(src) => {
                let src = src.to_string();
                match split_copy_path(&src) {
                    Some((sc, so)) => {
                        copy(
                            app,
                            &t.account,
                            (&sc, &so),
                            (container, object),
                            req.headers(),
                        )
                        .await
                    }
                    None => response::error(
                        StatusCode::PRECONDITION_FAILED,
                        "X-Copy-From header must be of the form <container name>/<object name>",
                    ),
                }
            }
            None => put(app, &t.account, container, object, req).await,
        },
        "COPY" => match header(req.headers(), "destination").map(str::to_string) {
            Some(dst) => match split_copy_path(&dst) {
                Some((dc, dobj)) => {
                    copy(
                        app,
                        &t.account,
                        (container, object),
                        (&dc, &dobj),
                        req.headers(),
                    )
                    .await
                }
                None => response::error(
                    StatusCode::PRECONDITION_FAILED,
                    "Destination header must be of the form <container name>/<object name>",
                ),
            },
            None => response::error(
                StatusCode::PRECONDITION_FAILED,
                "You must provide a Destination header",
            ),
        },
        "POST" => post(app, &t.account, container, object, req.headers()).await,
        "DELETE" => match app
            .cluster
            .delete_object(&t.account, container, object)
            .await
        {
            Ok(()) => response::empty(StatusCode::NO_CONTENT),
            Err(e) => proxy_error(e),
        },
        _ => response::method_not_allowed("COPY, DELETE, GET, HEAD, POST, PUT"),
    }
}

/// Splits `/container/object` (URL-encoded) as `X-Copy-From` and `Destination` carry it.
fn split_copy_path(value: &str) -> Option<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()?;
    let (c, o) = decoded.trim_start_matches('/').split_once('/')?;
    (!c.is_empty()
        && !o.is_empty()
        && constraints::check_object_name(o).is_ok()
        && !o.contains('\0'))
    .then(|| (c.to_string(), o.to_string()))
}

/// Reads `X-Delete-At` / `X-Delete-After`; the error is the 400 message.
fn delete_at(h: &HeaderMap) -> Result<Option<u64>, String> {
    let now = Timestamp::now_secs();
    let at = if let Some(v) = header(h, "x-delete-at") {
        Some(
            v.trim()
                .parse::<u64>()
                .map_err(|_| "Non-integer X-Delete-At".to_string())?,
        )
    } else if let Some(v) = header(h, "x-delete-after") {
        let after = v
            .trim()
            .parse::<u64>()
            .map_err(|_| "Non-integer X-Delete-After".to_string())?;
        Some(now.saturating_add(after))
    } else {
        None
    };
    match at {
        Some(at) if at <= now => Err("X-Delete-At in past".to_string()),
        at => Ok(at),
    }
}

/// A content type for a name by its extension (Swift guesses with `mimetypes`).
fn guess_content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "js" => "application/javascript",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        "iso" => "application/x-iso9660-image",
        "qcow2" | "img" | "raw" => "application/octet-stream",
        _ => "application/octet-stream",
    }
}

/// The metadata of a new object version from the request headers.
fn template(
    account: &str,
    container: &str,
    object: &str,
    h: &HeaderMap,
) -> Result<ObjectMeta, Resp> {
    let headers = constraints::metadata(h, Kind::Object)
        .map_err(|m| response::error(StatusCode::BAD_REQUEST, &m))?;
    let delete_at = delete_at(h).map_err(|m| response::error(StatusCode::BAD_REQUEST, &m))?;
    let detect = header(h, "x-detect-content-type").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let content_type = match header(h, "content-type") {
        Some(ct) if !detect && !ct.is_empty() => ct.to_string(),
        _ => guess_content_type(object).to_string(),
    };
    let ts = Timestamp::now();
    let mut meta = ObjectMeta::tombstone(format!("{account}/{container}/{object}"), ts);
    meta.deleted = false;
    meta.content_type = content_type;
    meta.headers = headers.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    meta.headers.sort();
    meta.delete_at = delete_at;
    Ok(meta)
}

async fn put(
    app: &App,
    account: &str,
    container: &str,
    object: &str,
    req: Request<Incoming>,
) -> Resp {
    let h = req.headers();
    let content_length = match header(h, "content-length") {
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return response::error(StatusCode::BAD_REQUEST, "Invalid Content-Length"),
        },
        None => None,
    };
    let chunked = header(h, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if content_length.is_none() && !chunked {
        return response::error(
            StatusCode::LENGTH_REQUIRED,
            "Missing Content-Length header.",
        );
    }
    let meta = match template(account, container, object, h) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Err(e) = app.cluster.container_info(account, container).await {
        return proxy_error(e);
    }
    if let Some(inm) = header(h, "if-none-match") {
        if inm.trim() != "*" {
            return response::error(StatusCode::BAD_REQUEST, "If-None-Match only supports *");
        }
        if app
            .cluster
            .head_object(account, container, object)
            .await
            .is_ok()
        {
            return response::error(StatusCode::PRECONDITION_FAILED, "");
        }
    }
    let spec = BodySpec {
        content_length,
        expected_etag: header(h, "etag").map(|e| e.trim().trim_matches('"').to_string()),
        max_size: app.cluster.max_object_size,
        // A client with a cache of its own (blockd's segments) asks that
        // no replica be kept in the page cache.
        page_cache: header(h, "x-cairn-cache") != Some("none"),
    };
    let body: BodyStream =
        Box::pin(BodyDataStream::new(req.into_body()).map(|r| r.map_err(io::Error::other)));
    match app
        .cluster
        .put_object(container, object, meta, &spec, body)
        .await
    {
        Ok(meta) => created(&meta),
        // A newer write of the same name won the race: Swift answers 202.
        Err(ProxyError::Conflict) => response::empty(StatusCode::ACCEPTED),
        Err(e) => proxy_error(e),
    }
}

/// The 201 answer to a PUT or copy.
fn created(meta: &ObjectMeta) -> Resp {
    let mut resp = response::empty(StatusCode::CREATED);
    response::set(&mut resp, "etag", &meta.etag);
    response::set(&mut resp, "last-modified", &meta.ts.http_date());
    resp
}

async fn copy(
    app: &App,
    account: &str,
    (sc, so): (&str, &str),
    (dc, dobj): (&str, &str),
    h: &HeaderMap,
) -> Resp {
    let has_body = header(h, "content-length").is_some_and(|l| l.trim() != "0")
        || header(h, "transfer-encoding").is_some();
    if has_body {
        return response::error(
            StatusCode::BAD_REQUEST,
            "Copy requests require a zero byte body",
        );
    }
    let found = match app.cluster.get_object(account, sc, so).await {
        Ok(f) => f,
        Err(e) => return proxy_error(e),
    };
    let found = match body::open(&app.cluster, account, found, false).await {
        Ok(o) => o,
        Err(e) => return proxy_error(e),
    };
    if let Err(e) = app.cluster.container_info(account, dc).await {
        return proxy_error(e);
    }
    let mut meta = match template(account, dc, dobj, h) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let fresh = header(h, "x-fresh-metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if header(h, "content-type").is_none() {
        meta.content_type = found.meta.content_type.clone();
    }
    if !fresh {
        let mut merged = found.meta.headers.clone();
        crate::store::writer::merge_headers(&mut merged, meta.headers.clone());
        meta.headers = merged;
        if meta.delete_at.is_none() {
            meta.delete_at = found.meta.delete_at;
        }
    }
    let spec = BodySpec {
        content_length: Some(found.meta.size),
        expected_etag: None,
        max_size: app.cluster.max_object_size,
        page_cache: true,
    };
    let src_last_modified = found.meta.meta_ts.http_date();
    let body = found.full();
    match app.cluster.put_object(dc, dobj, meta, &spec, body).await {
        Ok(meta) => {
            let mut resp = created(&meta);
            let src = format!("{sc}/{so}");
            let quoted =
                percent_encoding::utf8_percent_encode(&src, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
                    .replace("%2F", "/");
            response::set(&mut resp, "x-copied-from", &quoted);
            response::set(&mut resp, "x-copied-from-account", account);
            response::set(&mut resp, "x-copied-from-last-modified", &src_last_modified);
            resp
        }
        Err(e) => proxy_error(e),
    }
}

async fn get(
    app: &App,
    account: &str,
    container: &str,
    object: &str,
    req: &Request<Incoming>,
    head: bool,
) -> Resp {
    let found = if head {
        app.cluster.head_object(account, container, object).await
    } else {
        app.cluster.get_object(account, container, object).await
    };
    let found = match found {
        Ok(f) => f,
        Err(e) => return proxy_error(e),
    };
    let found = match body::open(&app.cluster, account, found, head).await {
        Ok(o) => o,
        Err(e) => return proxy_error(e),
    };
    let meta = &found.meta;
    let last_modified = meta.meta_ts.max(meta.ts);
    if let Some(status) = conditional::check(req.headers(), &meta.etag, last_modified.secs_ceil()) {
        let mut resp = response::empty(status);
        response::set(&mut resp, "etag", &meta.etag);
        response::set(&mut resp, "last-modified", &last_modified.http_date());
        return resp;
    }
    let ranges = range::parse(header(req.headers(), "range"), meta.size);
    let mut resp = match ranges {
        Ranges::Unsatisfiable => {
            let mut r = response::error(StatusCode::RANGE_NOT_SATISFIABLE, "");
            response::set(&mut r, "content-range", &format!("bytes */{}", meta.size));
            return r;
        }
        Ranges::Full => {
            let mut r = response::with_body(StatusCode::OK, &meta.content_type, Bytes::new());
            if !head {
                *r.body_mut() = response::streamed(found.full());
            }
            response::set(&mut r, "content-length", &meta.size.to_string());
            r
        }
        Ranges::Parts(parts) if parts.len() == 1 => {
            let (a, b) = parts[0];
            let mut r = response::with_body(
                StatusCode::PARTIAL_CONTENT,
                &meta.content_type,
                Bytes::new(),
            );
            if !head {
                *r.body_mut() = response::streamed(found.slice(a, b));
            }
            response::set(
                &mut r,
                "content-range",
                &format!("bytes {a}-{b}/{}", meta.size),
            );
            response::set(&mut r, "content-length", &(b - a + 1).to_string());
            r
        }
        Ranges::Parts(parts) => multipart_ranges(&found, &parts, head),
    };
    response::set(&mut resp, "etag", &meta.etag);
    response::set(&mut resp, "last-modified", &last_modified.http_date());
    response::set(&mut resp, "x-timestamp", &meta.ts.to_string());
    response::set(&mut resp, "accept-ranges", "bytes");
    if let Some(at) = meta.delete_at {
        response::set(&mut resp, "x-delete-at", &at.to_string());
    }
    add_stored_headers(&mut resp, &meta.headers);
    resp
}

/// A `multipart/byteranges` answer for several ranges.
fn multipart_ranges(found: &Object, parts: &[(u64, u64)], head: bool) -> Resp {
    let boundary = format!("{:032x}", rand::random::<u128>());
    let size = found.meta.size;
    let mut pieces: Vec<BodyStream> = Vec::new();
    let mut length = 0u64;
    for &(a, b) in parts {
        let head_text = format!(
            "--{boundary}\r\nContent-Type: {}\r\nContent-Range: bytes {a}-{b}/{size}\r\n\r\n",
            found.meta.content_type
        );
        length += head_text.len() as u64 + (b - a + 1) + 2;
        pieces.push(Box::pin(futures::stream::iter([Ok(Bytes::from(
            head_text,
        ))])));
        pieces.push(found.slice(a, b));
        pieces.push(Box::pin(futures::stream::iter([Ok(Bytes::from_static(
            b"\r\n",
        ))])));
    }
    let tail = format!("--{boundary}--");
    length += tail.len() as u64;
    pieces.push(Box::pin(futures::stream::iter([Ok(Bytes::from(tail))])));
    let content_type = format!("multipart/byteranges;boundary={boundary}");
    let mut r = response::with_body(StatusCode::PARTIAL_CONTENT, &content_type, Bytes::new());
    if !head {
        let body: BodyStream = Box::pin(futures::stream::iter(pieces).flatten());
        *r.body_mut() = response::streamed(body);
    }
    response::set(&mut r, "content-length", &length.to_string());
    r
}

async fn post(app: &App, account: &str, container: &str, object: &str, h: &HeaderMap) -> Resp {
    let headers = match constraints::metadata(h, Kind::Object) {
        Ok(hs) => hs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
        Err(m) => return response::error(StatusCode::BAD_REQUEST, &m),
    };
    let delete_at = match delete_at(h) {
        Ok(d) => d,
        Err(m) => return response::error(StatusCode::BAD_REQUEST, &m),
    };
    let content_type = header(h, "content-type").map(str::to_string);
    let ts = Timestamp::now();
    let make = || ObjectPost {
        ts,
        content_type: content_type.clone(),
        headers: headers.clone(),
        delete_at,
    };
    match app
        .cluster
        .post_object(account, container, object, make)
        .await
    {
        Ok(_) => response::empty(StatusCode::ACCEPTED),
        Err(e) => proxy_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_paths() {
        assert_eq!(split_copy_path("/c/o/x"), Some(("c".into(), "o/x".into())));
        assert_eq!(split_copy_path("c/a%20b"), Some(("c".into(), "a b".into())));
        assert_eq!(split_copy_path("/c"), None);
        assert_eq!(split_copy_path("/c/../x"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(guess_content_type("a.TXT"), "text/plain");
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
    }
}
