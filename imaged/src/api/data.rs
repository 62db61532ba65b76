//! Image data: upload (`PUT /v2/images/{id}/file`) and download (`GET`,
//! with a `Range`). An upload moves the image queued → saving → active:
//! the head of the body is inspected before anything is stored, the body
//! is hashed (MD5 `checksum`, SHA-512 `os_hash_value`) on a thread of its
//! own and streamed into segment objects; a failed or interrupted upload
//! removes what it stored and leaves the image queued, never active.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use openssl::hash::{Hasher, MessageDigest};
use tokio::sync::mpsc;

use super::response::{self, Resp};
use super::{changeable, visible, Caller, Service};
use crate::inspect::{self, HEAD_LEN};
use crate::model::{now_ms, status, Segment};
use crate::objects::{ByteStream, ObjectStore};

/// Why an upload did not complete.
enum Failed {
    Inspect(String),
    TooLarge,
    SizeMismatch,
    Client(io::Error),
    Store(io::Error),
}

/// What a completed upload stored.
struct Received {
    size: u64,
    md5: String,
    sha512: String,
    virtual_size: Option<u64>,
}

/// A segment object being written.
struct OpenSegment {
    name: String,
    len: u64,
    tx: mpsc::Sender<io::Result<Bytes>>,
    writer: tokio::task::JoinHandle<io::Result<()>>,
}

/// Streams the body into segment objects; `segments` collects what was
/// stored (for the caller to remove on failure).
struct Receiver<'a> {
    objects: &'a Arc<ObjectStore>,
    image_id: &'a str,
    segment_size: u64,
    max_size: u64,
    declared: Option<u64>,
    total: u64,
    open: Option<OpenSegment>,
    segments: Vec<Segment>,
    hash_tx: mpsc::Sender<Bytes>,
}

impl Receiver<'_> {
    async fn feed(&mut self, mut data: Bytes) -> Result<(), Failed> {
        self.total += data.len() as u64;
        if self.total > self.max_size {
            return Err(Failed::TooLarge);
        }
        if self.declared.is_some_and(|d| self.total > d) {
            return Err(Failed::SizeMismatch);
        }
        if self.hash_tx.send(data.clone()).await.is_err() {
            return Err(Failed::Store(io::Error::other("hash thread stopped")));
        }
        while !data.is_empty() {
            if self.open.is_none() {
                let name = format!("{}/{:05}", self.image_id, self.segments.len());
                let (tx, rx) = mpsc::channel(4);
                let objects = self.objects.clone();
                let object = name.clone();
                let writer = tokio::spawn(async move { objects.put(&object, rx).await });
                self.open = Some(OpenSegment {
                    name,
                    len: 0,
                    tx,
                    writer,
                });
            }
            let seg = self.open.as_mut().expect("opened above");
            let take = ((self.segment_size - seg.len) as usize).min(data.len());
            let piece = data.split_to(take);
            seg.len += take as u64;
            if seg.tx.send(Ok(piece)).await.is_err() {
                let seg = self.open.take().expect("open");
                return Err(Failed::Store(finish_err(seg).await));
            }
            if seg.len == self.segment_size {
                self.close().await?;
            }
        }
        Ok(())
    }

    /// Completes the open segment.
    async fn close(&mut self) -> Result<(), Failed> {
        let Some(seg) = self.open.take() else {
            return Ok(());
        };
        drop(seg.tx);
        match seg.writer.await {
            Ok(Ok(())) => {
                self.segments.push(Segment {
                    object: seg.name,
                    size: seg.len,
                });
                Ok(())
            }
            Ok(Err(e)) => Err(Failed::Store(e)),
            Err(e) => Err(Failed::Store(io::Error::other(e))),
        }
    }

    /// Aborts the open segment: the store sees the body fail and keeps nothing.
    async fn abort(&mut self) {
        if let Some(seg) = self.open.take() {
            let _ = seg.tx.send(Err(io::Error::other("upload aborted"))).await;
            drop(seg.tx);
            let _ = seg.writer.await;
        }
    }
}

async fn finish_err(seg: OpenSegment) -> io::Error {
    drop(seg.tx);
    match seg.writer.await {
        Ok(Err(e)) => e,
        Ok(Ok(())) => io::Error::other("segment writer stopped early"),
        Err(e) => io::Error::other(e),
    }
}

/// MD5 and SHA-512 of everything sent, on a blocking thread.
fn hash_thread() -> (
    mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<(String, String)>,
) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let handle = tokio::task::spawn_blocking(move || {
        let mut md5 = Hasher::new(MessageDigest::md5()).expect("OpenSSL has MD5");
        let mut sha = Hasher::new(MessageDigest::sha512()).expect("OpenSSL has SHA-512");
        while let Some(chunk) = rx.blocking_recv() {
            md5.update(&chunk).expect("hash update");
            sha.update(&chunk).expect("hash update");
        }
        (
            hex::encode(md5.finish().expect("hash finish")),
            hex::encode(sha.finish().expect("hash finish")),
        )
    });
    (tx, handle)
}

async fn receive(
    service: &Service,
    image_id: &str,
    disk_format: &str,
    body: Incoming,
    declared: Option<u64>,
) -> (Result<Received, Failed>, Vec<Segment>) {
    let (hash_tx, hashes) = hash_thread();
    let mut r = Receiver {
        objects: &service.objects,
        image_id,
        segment_size: service.segment_size.max(1),
        max_size: service.max_image_size,
        declared,
        total: 0,
        open: None,
        segments: Vec::new(),
        hash_tx,
    };
    let result = receive_into(&mut r, disk_format, body).await;
    if result.is_err() {
        r.abort().await;
    }
    let Receiver {
        segments,
        hash_tx,
        total,
        ..
    } = r;
    drop(hash_tx);
    let (md5, sha512) = match hashes.await {
        Ok(h) => h,
        Err(e) => return (Err(Failed::Store(io::Error::other(e))), segments),
    };
    let result = result.and_then(|virtual_size| {
        if declared.is_some_and(|d| d != total) {
            return Err(Failed::SizeMismatch);
        }
        Ok(Received {
            size: total,
            md5,
            sha512,
            virtual_size: virtual_size.map(|v| if v == u64::MAX { total } else { v }),
        })
    });
    (result, segments)
}

/// Reads the body into `r`; answers the virtual size (`u64::MAX` standing
/// for "the image's own size").
async fn receive_into(
    r: &mut Receiver<'_>,
    disk_format: &str,
    body: Incoming,
) -> Result<Option<u64>, Failed> {
    let mut stream = body.into_data_stream();
    let mut head = BytesMut::new();
    let mut ended = false;
    while head.len() < HEAD_LEN {
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(Failed::Client(io::Error::other(e))),
            None => {
                ended = true;
                break;
            }
        }
    }
    let head = head.freeze();
    let virtual_size = inspect::inspect(
        disk_format,
        &head[..head.len().min(HEAD_LEN)],
        Some(u64::MAX),
    )
    .map_err(Failed::Inspect)?;
    r.feed(head).await?;
    while !ended {
        match stream.next().await {
            Some(Ok(chunk)) => r.feed(chunk).await?,
            Some(Err(e)) => return Err(Failed::Client(io::Error::other(e))),
            None => ended = true,
        }
    }
    r.close().await?;
    Ok(virtual_size)
}

fn header_u64(req: &Request<Incoming>, name: &str) -> Option<u64> {
    req.headers().get(name)?.to_str().ok()?.parse().ok()
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(service: &Service, caller: &Caller, id: &str, req: Request<Incoming>) -> Resp {
    let disk_format = {
        let _guard = service.records.write_lock().await;
        let mut image = match changeable(service, caller, id).await {
            Ok(i) => i,
            Err(r) => return r,
        };
        if image.status != status::QUEUED {
            return response::error(
                StatusCode::CONFLICT,
                &format!(
                    "Image status transition from {} to saving is not allowed",
                    image.status
                ),
            );
        }
        let (Some(disk_format), Some(_)) =
            (image.disk_format.clone(), image.container_format.clone())
        else {
            return response::error(
                StatusCode::BAD_REQUEST,
                "Properties disk_format, container_format must be set prior to saving data.",
            );
        };
        image.status = status::SAVING.into();
        image.updated_at_ms = now_ms();
        if let Err(e) = service.records.put(&image).await {
            return response::internal(e);
        }
        disk_format
    };
    let declared =
        header_u64(&req, "x-openstack-image-size").or_else(|| header_u64(&req, "content-length"));
    let (result, segments) = if declared.is_some_and(|d| d > service.max_image_size) {
        (Err(Failed::TooLarge), Vec::new())
    } else {
        receive(service, id, &disk_format, req.into_body(), declared).await
    };
    let _guard = service.records.write_lock().await;
    let current = match service.records.get(id).await {
        Ok(c) => c,
        Err(e) => return response::internal(e),
    };
    let Some(mut image) = current else {
        // Deleted while uploading: nothing to keep.
        remove_segments(&service.objects, &segments).await;
        return response::error(
            StatusCode::GONE,
            &format!("Image {id} was deleted during the upload."),
        );
    };
    image.updated_at_ms = now_ms();
    match result {
        Ok(got) => {
            image.status = status::ACTIVE.into();
            image.size = Some(got.size);
            image.checksum = Some(got.md5);
            image.os_hash_algo = Some("sha512".into());
            image.os_hash_value = Some(got.sha512);
            image.virtual_size = got.virtual_size;
            image.segments = segments;
            match service.records.put(&image).await {
                Ok(()) => response::empty(StatusCode::NO_CONTENT),
                Err(e) => response::internal(e),
            }
        }
        Err(failed) => {
            remove_segments(&service.objects, &segments).await;
            image.status = status::QUEUED.into();
            if let Err(e) = service.records.put(&image).await {
                return response::internal(e);
            }
            match failed {
                Failed::Inspect(msg) => response::error(StatusCode::BAD_REQUEST, &msg),
                Failed::TooLarge => response::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Image exceeds the storage quota or the largest image allowed.",
                ),
                Failed::SizeMismatch => response::error(
                    StatusCode::BAD_REQUEST,
                    "The uploaded data does not match the declared size.",
                ),
                Failed::Client(e) => {
                    tracing::info!(image = id, "upload interrupted: {e}");
                    response::error(StatusCode::BAD_REQUEST, "The upload was interrupted.")
                }
                Failed::Store(e) => {
                    tracing::warn!(image = id, "storing image data failed: {e}");
                    response::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The image data could not be stored.",
                    )
                }
            }
        }
    }
}

async fn remove_segments(objects: &ObjectStore, segments: &[Segment]) {
    for seg in segments {
        if let Err(e) = objects.delete(&seg.object).await {
            tracing::warn!("cannot remove image segment {}: {e}", seg.object);
        }
    }
}

/// Parses a single-range `Range` header against `size`: `Ok(None)` for no
/// range, `Err` for one that cannot be satisfied.
fn parse_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (a, b) => (
            a.parse().map_err(|_| ())?,
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1)),
        ),
    };
    if range.0 >= size || range.0 > range.1 {
        return Err(());
    }
    Ok(Some(range))
}

/// Bytes `start..=end` of an image's segments, fetched one after the other.
fn segment_stream(
    objects: Arc<ObjectStore>,
    segments: &[Segment],
    start: u64,
    end: u64,
) -> ByteStream {
    let mut pieces = Vec::new();
    let mut at = 0u64;
    for seg in segments {
        let (s, e) = (at, at + seg.size);
        if seg.size > 0 && start < e && end >= s {
            pieces.push((seg.object.clone(), start.max(s) - s, end.min(e - 1) - s));
        }
        at = e;
    }
    Box::pin(
        futures::stream::iter(pieces)
            .then(move |(object, a, b)| {
                let objects = objects.clone();
                async move { objects.get(&object, Some((a, b))).await }
            })
            .map(|r| match r {
                Ok(s) => s,
                Err(e) => Box::pin(futures::stream::iter([Err(e)])) as ByteStream,
            })
            .flatten(),
    )
}

/// `GET /v2/images/{id}/file`.
pub async fn download(
    service: &Service,
    caller: &Caller,
    id: &str,
    req: &Request<Incoming>,
) -> Resp {
    let image = match visible(service, caller, id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if image.status == status::DEACTIVATED && !caller.admin {
        return response::error(
            StatusCode::FORBIDDEN,
            "The requested image has been deactivated. Image data download is forbidden.",
        );
    }
    if image.status != status::ACTIVE && image.status != status::DEACTIVATED {
        return response::empty(StatusCode::NO_CONTENT);
    }
    let size = image.size.unwrap_or(0);
    let range = req.headers().get("range").and_then(|v| v.to_str().ok());
    let (status_code, start, end) = match parse_range(range, size) {
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Ok(None) => (StatusCode::OK, 0, size.saturating_sub(1)),
        Err(()) => {
            let mut r = response::error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Requested range not satisfiable",
            );
            response::set(&mut r, "content-range", &format!("bytes */{size}"));
            return r;
        }
    };
    let len = if size == 0 { 0 } else { end - start + 1 };
    let stream: ByteStream = if len == 0 {
        Box::pin(futures::stream::empty())
    } else {
        segment_stream(service.objects.clone(), &image.segments, start, end)
    };
    let mut resp = response::streamed(status_code, stream);
    response::set(&mut resp, "content-type", "application/octet-stream");
    response::set(&mut resp, "content-length", &len.to_string());
    response::set(&mut resp, "accept-ranges", "bytes");
    if status_code == StatusCode::PARTIAL_CONTENT {
        response::set(
            &mut resp,
            "content-range",
            &format!("bytes {start}-{end}/{size}"),
        );
    } else if let Some(md5) = &image.checksum {
        response::set(&mut resp, "content-md5", md5);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-0"), 10), Ok(Some((0, 0))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=2-100"), 10), Ok(Some((2, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Err(()));
    }
}
