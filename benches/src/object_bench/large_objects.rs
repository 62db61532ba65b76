//! Large-object phases: a fixed number of big objects PUT (chunked,
//! ETag-verified) and then GET with bounded parallelism, measured as
//! aggregate throughput.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};

use super::{open_conns, Ctx};
use crate::swift_client::{BodyMode, ReqBody};

/// Outcome of a large-object phase.
#[derive(Default)]
pub(super) struct Bulk {
    pub(super) bytes: u64,
    pub(super) elapsed: Duration,
    pub(super) written: Vec<String>,
    pub(super) attempted: Vec<String>,
}

pub(super) async fn large_put_phase(
    ctx: &Arc<Ctx>,
    container: &Arc<str>,
    buffer: Bytes,
    md5: Arc<str>,
) -> Bulk {
    let workers = ctx.cfg.large_parallel.min(ctx.cfg.large_count);
    let conns = open_conns(ctx, workers).await;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (ctx, container, buffer, md5, next) = (
                ctx.clone(),
                container.clone(),
                buffer.clone(),
                md5.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut out = Bulk::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= ctx.cfg.large_count {
                        break;
                    }
                    let name = format!("L{index:05}");
                    let target = conn.endpoint().object_target(&container, &name);
                    out.attempted.push(name.clone());
                    // Cloning `Bytes` bumps a refcount; frames are slices.
                    let body = ReqBody::chunked(buffer.clone());
                    let result = conn
                        .request(Method::PUT, &target, &[], body, BodyMode::Drain)
                        .await;
                    match result {
                        // Swift answers 201, S3 200.
                        Ok(reply) if reply.status.is_success() => match reply.etag() {
                            Some(etag) if *etag == *md5 => {
                                out.bytes += buffer.len() as u64;
                                out.written.push(name);
                            }
                            other => ctx
                                .errors
                                .record(format!("PUT {target}: ETag {other:?}, expected {md5}")),
                        },
                        Ok(reply) => ctx
                            .errors
                            .record(format!("PUT {target}: status {}", reply.status)),
                        Err(err) => ctx.errors.record(format!("{err:#}")),
                    }
                }
                out
            })
        })
        .collect();
    collect_bulk(ctx, tasks, start).await
}

pub(super) async fn large_get_phase(
    ctx: &Arc<Ctx>,
    container: &Arc<str>,
    names: Arc<Vec<String>>,
) -> Bulk {
    if names.is_empty() {
        ctx.errors
            .record("GET large: no objects were written, nothing to read");
        return Bulk::default();
    }
    let workers = ctx.cfg.large_parallel.min(names.len());
    let conns = open_conns(ctx, workers).await;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (ctx, container, names, next) =
                (ctx.clone(), container.clone(), names.clone(), next.clone());
            tokio::spawn(async move {
                let mut out = Bulk::default();
                let expected = ctx.cfg.large_size;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(index) else { break };
                    let target = conn.endpoint().object_target(&container, name);
                    let result = conn
                        .request(Method::GET, &target, &[], ReqBody::Empty, BodyMode::Drain)
                        .await;
                    match result {
                        Ok(reply)
                            if reply.status == StatusCode::OK && reply.body_len == expected =>
                        {
                            out.bytes += reply.body_len;
                        }
                        Ok(reply) => ctx.errors.record(format!(
                            "GET {target}: status {}, {} bytes (expected 200, {expected} bytes)",
                            reply.status, reply.body_len
                        )),
                        Err(err) => ctx.errors.record(format!("{err:#}")),
                    }
                }
                out
            })
        })
        .collect();
    collect_bulk(ctx, tasks, start).await
}

async fn collect_bulk(
    ctx: &Ctx,
    tasks: Vec<tokio::task::JoinHandle<Bulk>>,
    start: Instant,
) -> Bulk {
    let mut total = Bulk::default();
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(part) => {
                total.bytes += part.bytes;
                total.written.extend(part.written);
                total.attempted.extend(part.attempted);
            }
            Err(err) => ctx
                .errors
                .record(format!("large-object worker failed: {err}")),
        }
    }
    total.elapsed = start.elapsed();
    total
}
