//! Multipart uploads. Parts are ordinary objects in the bucket's segments
//! container (`<bucket>+segments`): `<key>/<upload id>` marks an upload in
//! progress (and holds the object's metadata), `<key>/<upload id>/<part>`
//! are its parts. Completing writes a manifest object listing the parts, so
//! no byte is copied; its ETag is the MD5 of the parts' MD5s, `-N`.

use http::StatusCode;
use hyper::body::Incoming;
use openssl::hash::{hash, MessageDigest};

use super::bucket::{self, segments_container};
use super::endpoint::MAX_PART_NUMBER;
use super::error::S3Error;
use super::object::{
    self, check_copy_conditions, copy_source, store_body, store_stream, stored_headers, template,
};
use super::xml::{self, elem, NS};
use super::{payload, S3Request};
use crate::api::response::{self, Resp};
use crate::api::App;
use crate::proxy::manifest::{Manifest, Segment};
use crate::proxy::ProxyError;
use crate::store::listing::{Entry, ListParams};
use crate::store::record::ObjectRow;

/// Stored header of a completed multipart object naming its upload, whose
/// parts are `<key>/<upload id>/*` in the segments container.
pub const UPLOAD_ID: &str = "x-object-sysmeta-s3-upload-id";

/// Removes the parts of a multipart object that a write replaced (nothing
/// when the replaced version was not one, or is the upload `keep`).
pub async fn remove_replaced(
    app: &App,
    account: &str,
    bucket: &str,
    key: &str,
    replaced: Option<&crate::store::record::ObjectMeta>,
    keep: Option<&str>,
) {
    let Some(id) = replaced
        .and_then(|m| m.headers.iter().find(|(n, _)| n == UPLOAD_ID))
        .map(|(_, v)| v.as_str())
    else {
        return;
    };
    if keep == Some(id) {
        return;
    }
    let segments = segments_container(bucket);
    let params = ListParams {
        prefix: format!("{}/", marker_name(key, id)),
        limit: MAX_PART_NUMBER as usize + 1,
        ..Default::default()
    };
    let Ok(rows) = app.cluster.list_container(account, &segments, params).await else {
        return;
    };
    for entry in rows {
        if let Entry::Row(name, _) = entry {
            if let Err(e) = app.cluster.delete_object(account, &segments, &name).await {
                tracing::debug!(segment = %name, "part delete: {e}");
            }
        }
    }
}

/// Smallest size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

fn marker_name(key: &str, upload_id: &str) -> String {
    format!("{key}/{upload_id}")
}

fn part_name(key: &str, upload_id: &str, part: u32) -> String {
    format!("{key}/{upload_id}/{part:05}")
}

/// Whether a name component is an upload id (32 hex digits).
fn is_upload_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The metadata the upload was created with; `NoSuchUpload` if it is gone.
async fn upload(
    app: &App,
    r: &S3Request,
    upload_id: &str,
) -> Result<crate::store::record::ObjectMeta, S3Error> {
    if !is_upload_id(upload_id) {
        return Err(S3Error::no_such_upload());
    }
    app.cluster
        .head_object(
            &r.account,
            &segments_container(r.bucket()),
            &marker_name(r.key(), upload_id),
        )
        .await
        .map(|f| f.meta)
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_upload))
}

/// The stored parts of an upload, in part order.
async fn parts(
    app: &App,
    r: &S3Request,
    upload_id: &str,
) -> Result<Vec<(u32, String, ObjectRow)>, S3Error> {
    let prefix = format!("{}/", marker_name(r.key(), upload_id));
    let params = ListParams {
        prefix: prefix.clone(),
        limit: MAX_PART_NUMBER as usize + 1,
        ..Default::default()
    };
    let rows = app
        .cluster
        .list_container(&r.account, &segments_container(r.bucket()), params)
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_upload))?;
    Ok(rows
        .into_iter()
        .filter_map(|e| match e {
            Entry::Row(name, row) => {
                let n = name[prefix.len()..].parse::<u32>().ok()?;
                Some((n, name, row))
            }
            Entry::Subdir(_) => None,
        })
        .collect())
}

pub async fn create(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    let bucket_info = bucket::info(app, r).await?;
    let segments = segments_container(r.bucket());
    if app
        .cluster
        .container_info(&r.account, &segments)
        .await
        .is_err()
    {
        app.cluster
            .put_container(
                &r.account,
                &segments,
                Vec::new(),
                Some(app.cluster.policy_index(&bucket_info.policy)),
            )
            .await
            .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_bucket))?;
    }
    let upload_id = format!("{:032x}", rand::random::<u128>());
    let meta = template(
        &r.account,
        &segments,
        &marker_name(r.key(), &upload_id),
        r.header("content-type"),
        stored_headers(&r.parts.headers)?,
    );
    store_stream(
        app,
        &segments,
        &marker_name(r.key(), &upload_id),
        meta,
        0,
        Box::pin(futures::stream::empty()),
    )
    .await?;
    let mut out = format!("<InitiateMultipartUploadResult xmlns=\"{NS}\">");
    elem(&mut out, "Bucket", r.bucket());
    elem(&mut out, "Key", r.key());
    elem(&mut out, "UploadId", &upload_id);
    out.push_str("</InitiateMultipartUploadResult>");
    Ok(xml::ok(&out))
}

pub async fn upload_part(
    app: &App,
    r: &S3Request,
    part: u32,
    upload_id: &str,
    body: Incoming,
) -> Result<Resp, S3Error> {
    upload(app, r, upload_id).await?;
    let segments = segments_container(r.bucket());
    let name = part_name(r.key(), upload_id, part);
    let meta = template(
        &r.account,
        &segments,
        &name,
        Some("application/octet-stream"),
        Vec::new(),
    );
    let stored = store_body(app, r, &segments, &name, meta, body).await?;
    let mut resp = response::empty(StatusCode::OK);
    response::set(&mut resp, "etag", &format!("\"{}\"", stored.etag));
    Ok(resp)
}

pub async fn upload_part_copy(
    app: &App,
    r: &S3Request,
    part: u32,
    upload_id: &str,
) -> Result<Resp, S3Error> {
    upload(app, r, upload_id).await?;
    let (sb, sk) = copy_source(r)?;
    let src = object::open(app, &r.account, &sb, &sk, false).await?;
    check_copy_conditions(r, &src.meta)?;
    let (start, end) = match r.header("x-amz-copy-source-range") {
        None => (0, src.meta.size.saturating_sub(1)),
        Some(v) => {
            let bad = || {
                S3Error::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
            };
            let (a, b) = v
                .trim()
                .strip_prefix("bytes=")
                .and_then(|s| s.split_once('-'))
                .ok_or_else(bad)?;
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b || b >= src.meta.size {
                return Err(S3Error::new(
                    "InvalidRange",
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "The requested range is not satisfiable",
                ));
            }
            (a, b)
        }
    };
    let length = if src.meta.size == 0 {
        0
    } else {
        end - start + 1
    };
    let stream = if length == 0 {
        Box::pin(futures::stream::empty()) as crate::proxy::put::BodyStream
    } else if length == src.meta.size {
        src.full()
    } else {
        src.slice(start, end)
    };
    let segments = segments_container(r.bucket());
    let name = part_name(r.key(), upload_id, part);
    let meta = template(
        &r.account,
        &segments,
        &name,
        Some("application/octet-stream"),
        Vec::new(),
    );
    let stored = store_stream(app, &segments, &name, meta, length, stream).await?;
    let mut out = format!("<CopyPartResult xmlns=\"{NS}\">");
    elem(&mut out, "LastModified", &xml::date(stored.ts));
    elem(&mut out, "ETag", &format!("\"{}\"", stored.etag));
    out.push_str("</CopyPartResult>");
    Ok(xml::ok(&out))
}

/// The parts a CompleteMultipartUpload body names, as (number, etag).
fn requested_parts(body: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let doc = xml::parse(body)?;
    if doc.name != "CompleteMultipartUpload" {
        return Err(S3Error::malformed_xml());
    }
    let parts = doc
        .all("Part")
        .map(|p| {
            let n = p
                .text_of("PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok());
            let etag = p
                .text_of("ETag")
                .map(|e| e.trim().trim_matches('"').to_string());
            n.zip(etag).ok_or_else(S3Error::malformed_xml)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parts.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(S3Error::new(
            "InvalidPartOrder",
            StatusCode::BAD_REQUEST,
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    Ok(parts)
}

/// The ETag of a multipart object: MD5 of the parts' binary MD5s, `-N`.
pub fn multipart_etag(part_etags: &[&str]) -> Option<String> {
    let mut joined = Vec::with_capacity(part_etags.len() * 16);
    for e in part_etags {
        joined.extend_from_slice(&hex::decode(e).ok()?);
    }
    let digest = hash(MessageDigest::md5(), &joined).ok()?;
    Some(format!("{}-{}", hex::encode(digest), part_etags.len()))
}

pub async fn complete(
    app: &App,
    r: &S3Request,
    upload_id: &str,
    body: Incoming,
) -> Result<Resp, S3Error> {
    let body = payload::read_all(body, &r.verified, 1024 * 1024).await?;
    let marker = upload(app, r, upload_id).await?;
    let wanted = requested_parts(&body)?;
    let stored = parts(app, r, upload_id).await?;
    let invalid_part = || {
        S3Error::new(
            "InvalidPart",
            StatusCode::BAD_REQUEST,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        )
    };
    let segments = segments_container(r.bucket());
    let mut list = Vec::with_capacity(wanted.len());
    for (n, etag) in &wanted {
        let (_, name, row) = stored
            .iter()
            .find(|(m, _, _)| m == n)
            .ok_or_else(invalid_part)?;
        if !row.etag.eq_ignore_ascii_case(etag) {
            return Err(invalid_part());
        }
        list.push(Segment {
            container: segments.clone(),
            object: name.clone(),
            size: row.size,
            etag: row.etag.clone(),
        });
    }
    let last = list.len() - 1;
    if list[..last].iter().any(|s| s.size < MIN_PART_SIZE) {
        return Err(S3Error::new(
            "EntityTooSmall",
            StatusCode::BAD_REQUEST,
            "Your proposed upload is smaller than the minimum allowed object size.",
        ));
    }
    let etags: Vec<&str> = list.iter().map(|s| s.etag.as_str()).collect();
    let etag = multipart_etag(&etags).ok_or_else(invalid_part)?;
    let meta = template(
        &r.account,
        r.bucket(),
        r.key(),
        Some(&marker.content_type),
        marker.headers.clone(),
    );
    let manifest = Manifest::new(list);
    let mut meta = meta;
    meta.headers
        .push((UPLOAD_ID.to_string(), upload_id.to_string()));
    meta.headers.sort();
    let (_, replaced) = app
        .cluster
        .put_manifest(r.bucket(), r.key(), meta, &manifest, &etag)
        .await
        .map_err(|e| S3Error::from_proxy(e, S3Error::no_such_bucket))?;
    // The upload is done: its marker, the parts not used and the parts of
    // the object it replaced go.
    remove_replaced(
        app,
        &r.account,
        r.bucket(),
        r.key(),
        replaced.as_ref(),
        Some(upload_id),
    )
    .await;
    let _ = app
        .cluster
        .delete_object(&r.account, &segments, &marker_name(r.key(), upload_id))
        .await;
    for (n, name, _) in &stored {
        if !wanted.iter().any(|(m, _)| m == n) {
            let _ = app.cluster.delete_object(&r.account, &segments, name).await;
        }
    }
    let host = r.header("host").unwrap_or("localhost");
    let mut out = format!("<CompleteMultipartUploadResult xmlns=\"{NS}\">");
    elem(
        &mut out,
        "Location",
        &format!("http://{host}/{}/{}", r.bucket(), r.key()),
    );
    elem(&mut out, "Bucket", r.bucket());
    elem(&mut out, "Key", r.key());
    elem(&mut out, "ETag", &format!("\"{etag}\""));
    out.push_str("</CompleteMultipartUploadResult>");
    Ok(xml::ok(&out))
}

pub async fn abort(app: &App, r: &S3Request, upload_id: &str) -> Result<Resp, S3Error> {
    upload(app, r, upload_id).await?;
    let segments = segments_container(r.bucket());
    for (_, name, _) in parts(app, r, upload_id).await? {
        let _ = app
            .cluster
            .delete_object(&r.account, &segments, &name)
            .await;
    }
    match app
        .cluster
        .delete_object(&r.account, &segments, &marker_name(r.key(), upload_id))
        .await
    {
        Ok(()) | Err(ProxyError::NotFound) => Ok(response::empty(StatusCode::NO_CONTENT)),
        Err(e) => Err(S3Error::from_proxy(e, S3Error::no_such_upload)),
    }
}

pub async fn list_parts(app: &App, r: &S3Request, upload_id: &str) -> Result<Resp, S3Error> {
    upload(app, r, upload_id).await?;
    let max_parts = r
        .q("max-parts")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| S3Error::invalid_argument("max-parts must be an integer"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(1000);
    let after = r
        .q("part-number-marker")
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| S3Error::invalid_argument("part-number-marker must be an integer"))
        })
        .transpose()?
        .unwrap_or(0);
    let all: Vec<_> = parts(app, r, upload_id)
        .await?
        .into_iter()
        .filter(|(n, _, _)| *n > after)
        .collect();
    let truncated = all.len() > max_parts;
    let page = &all[..all.len().min(max_parts)];
    let mut out = format!("<ListPartsResult xmlns=\"{NS}\">");
    elem(&mut out, "Bucket", r.bucket());
    elem(&mut out, "Key", r.key());
    elem(&mut out, "UploadId", upload_id);
    out.push_str("<Initiator>");
    elem(&mut out, "ID", &r.account);
    elem(&mut out, "DisplayName", &r.account);
    out.push_str("</Initiator>");
    xml::owner(&mut out, &r.account);
    elem(&mut out, "StorageClass", "STANDARD");
    elem(&mut out, "PartNumberMarker", &after.to_string());
    if let Some((n, _, _)) = page.last() {
        elem(&mut out, "NextPartNumberMarker", &n.to_string());
    }
    elem(&mut out, "MaxParts", &max_parts.to_string());
    elem(
        &mut out,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    for (n, _, row) in page {
        out.push_str("<Part>");
        elem(&mut out, "PartNumber", &n.to_string());
        elem(&mut out, "LastModified", &xml::date(row.ts));
        elem(&mut out, "ETag", &format!("\"{}\"", row.etag));
        elem(&mut out, "Size", &row.size.to_string());
        out.push_str("</Part>");
    }
    out.push_str("</ListPartsResult>");
    Ok(xml::ok(&out))
}

pub async fn list_uploads(app: &App, r: &S3Request) -> Result<Resp, S3Error> {
    bucket::info(app, r).await?;
    let prefix = r.q("prefix").unwrap_or_default().to_string();
    let key_marker = r.q("key-marker").unwrap_or_default().to_string();
    let id_marker = r.q("upload-id-marker").unwrap_or_default().to_string();
    let max = r
        .q("max-uploads")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| S3Error::invalid_argument("max-uploads must be an integer"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(1000);
    let params = ListParams {
        prefix: prefix.clone(),
        limit: usize::MAX,
        ..Default::default()
    };
    let rows = match app
        .cluster
        .list_container(&r.account, &segments_container(r.bucket()), params)
        .await
    {
        Ok(rows) => rows,
        Err(ProxyError::NotFound) => Vec::new(),
        Err(e) => return Err(S3Error::from_proxy(e, S3Error::internal)),
    };
    let mut uploads: Vec<(String, String, ObjectRow)> = rows
        .into_iter()
        .filter_map(|e| match e {
            Entry::Row(name, row) => {
                let (key, id) = name.rsplit_once('/')?;
                is_upload_id(id).then(|| (key.to_string(), id.to_string(), row))
            }
            Entry::Subdir(_) => None,
        })
        .filter(|(k, id, _)| {
            if id_marker.is_empty() {
                k.as_str() > key_marker.as_str()
            } else {
                (k.as_str(), id.as_str()) > (key_marker.as_str(), id_marker.as_str())
            }
        })
        .collect();
    uploads.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let truncated = uploads.len() > max;
    uploads.truncate(max);
    let mut out = format!("<ListMultipartUploadsResult xmlns=\"{NS}\">");
    elem(&mut out, "Bucket", r.bucket());
    elem(&mut out, "KeyMarker", &key_marker);
    elem(&mut out, "UploadIdMarker", &id_marker);
    if let (true, Some((k, id, _))) = (truncated, uploads.last()) {
        elem(&mut out, "NextKeyMarker", k);
        elem(&mut out, "NextUploadIdMarker", id);
    }
    elem(&mut out, "Prefix", &prefix);
    elem(&mut out, "MaxUploads", &max.to_string());
    elem(
        &mut out,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    for (key, id, row) in &uploads {
        out.push_str("<Upload>");
        elem(&mut out, "Key", key);
        elem(&mut out, "UploadId", id);
        out.push_str("<Initiator>");
        elem(&mut out, "ID", &r.account);
        elem(&mut out, "DisplayName", &r.account);
        out.push_str("</Initiator>");
        xml::owner(&mut out, &r.account);
        elem(&mut out, "StorageClass", "STANDARD");
        elem(&mut out, "Initiated", &xml::date(row.ts));
        out.push_str("</Upload>");
    }
    out.push_str("</ListMultipartUploadsResult>");
    Ok(xml::ok(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_md5_of_part_md5s() {
        // Two parts: MD5("a") and MD5("b").
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let mut joined = hex::decode(a).expect("hex");
        joined.extend(hex::decode(b).expect("hex"));
        let want = format!(
            "{}-2",
            hex::encode(hash(MessageDigest::md5(), &joined).expect("md5"))
        );
        assert_eq!(multipart_etag(&[a, b]), Some(want));
        assert_eq!(multipart_etag(&["not-hex"]), None);
    }

    #[test]
    fn complete_bodies() {
        let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag></Part><Part><PartNumber>3</PartNumber><ETag>bb</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            requested_parts(body).expect("valid"),
            vec![(1, "aa".to_string()), (3, "bb".to_string())]
        );
        let unordered = b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(
            requested_parts(unordered).expect_err("order").code,
            "InvalidPartOrder"
        );
        assert_eq!(
            requested_parts(b"<CompleteMultipartUpload/>")
                .expect_err("empty")
                .code,
            "MalformedXML"
        );
        assert_eq!(
            requested_parts(b"<Other><Part/></Other>")
                .expect_err("root")
                .code,
            "MalformedXML"
        );
    }

    #[test]
    fn segment_names() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(is_upload_id(id));
        assert!(!is_upload_id("00042"));
        assert_eq!(part_name("a/b", id, 7), format!("a/b/{id}/00007"));
        assert_eq!(marker_name("a/b", id), format!("a/b/{id}"));
    }
}
