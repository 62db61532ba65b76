//! Small-object phases: timed concurrent PUTs (ETag-verified) then GETs
//! of the written objects, reported as ops/s with p50/p99 latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::{open_conns, Ctx};
use crate::report::Report;
use crate::stats::{percentile, rate, sorted_millis};
use crate::swift_client::{BodyMode, Conn, ReqBody};

/// Pause after a transport error so a dead server is not hammered.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// Successful small ops of one phase.
#[derive(Default)]
pub(super) struct OpsTiming {
    pub(super) ok: u64,
    pub(super) latencies: Vec<Duration>,
    pub(super) elapsed: Duration,
}

pub(super) fn push_ops(report: &mut Report, prefix: &str, timing: &OpsTiming) {
    report.push(
        format!("{prefix}_ops_per_s"),
        rate(timing.ok as f64, timing.elapsed),
        1,
    );
    let millis = sorted_millis(&timing.latencies);
    for p in [50u8, 99] {
        report.push(
            format!("{prefix}_p{p}_ms"),
            percentile(&millis, f64::from(p)).unwrap_or(f64::NAN),
            3,
        );
    }
}

pub(super) struct SmallPut {
    pub(super) timing: OpsTiming,
    /// Objects confirmed written (201 and matching ETag).
    pub(super) written: Vec<String>,
    /// Every name a PUT was sent for (for cleanup).
    pub(super) attempted: Vec<String>,
}

pub(super) async fn small_put_phase(ctx: &Arc<Ctx>, container: &Arc<str>) -> SmallPut {
    let conns = open_conns(ctx, ctx.cfg.concurrency).await;
    let start = Instant::now();
    let deadline = start + ctx.cfg.duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(id, conn)| {
            tokio::spawn(small_put_worker(
                ctx.clone(),
                conn,
                id,
                container.clone(),
                deadline,
            ))
        })
        .collect();
    let mut out = SmallPut {
        timing: OpsTiming::default(),
        written: Vec::new(),
        attempted: Vec::new(),
    };
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(worker) => {
                out.timing.ok += worker.timing.ok;
                out.timing.latencies.extend(worker.timing.latencies);
                out.written.extend(worker.written);
                out.attempted.extend(worker.attempted);
            }
            Err(err) => ctx.errors.record(format!("PUT worker failed: {err}")),
        }
    }
    out.timing.elapsed = start.elapsed();
    out
}

async fn small_put_worker(
    ctx: Arc<Ctx>,
    mut conn: Conn,
    id: usize,
    container: Arc<str>,
    deadline: Instant,
) -> SmallPut {
    let size = ctx.cfg.small_size as usize;
    let mut rng = StdRng::from_entropy();
    let mut out = SmallPut {
        timing: OpsTiming::default(),
        written: Vec::new(),
        attempted: Vec::new(),
    };
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let mut buf = vec![0u8; size];
        rng.fill_bytes(&mut buf);
        let expected = hex::encode(Md5::digest(&buf));
        let name = format!("s{id:03}-{seq:09}");
        seq += 1;
        let target = conn.endpoint().object_target(&container, &name);
        out.attempted.push(name.clone());
        let started = Instant::now();
        let result = conn
            .request(
                Method::PUT,
                &target,
                &[],
                ReqBody::Full(Bytes::from(buf)),
                BodyMode::Drain,
            )
            .await;
        let latency = started.elapsed();
        match result {
            // Swift answers 201, S3 200.
            Ok(reply) if reply.status.is_success() => match reply.etag() {
                Some(etag) if etag == expected => {
                    out.timing.ok += 1;
                    out.timing.latencies.push(latency);
                    out.written.push(name);
                }
                other => ctx
                    .errors
                    .record(format!("PUT {target}: ETag {other:?}, expected {expected}")),
            },
            Ok(reply) => ctx
                .errors
                .record(format!("PUT {target}: status {}", reply.status)),
            Err(err) => {
                ctx.errors.record(format!("{err:#}"));
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    out
}

pub(super) async fn small_get_phase(
    ctx: &Arc<Ctx>,
    container: &Arc<str>,
    names: Arc<Vec<String>>,
) -> OpsTiming {
    let mut timing = OpsTiming::default();
    if names.is_empty() {
        ctx.errors
            .record("GET small: no objects were written, nothing to read");
        return timing;
    }
    let conns = open_conns(ctx, ctx.cfg.concurrency).await;
    let cursor = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + ctx.cfg.duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            tokio::spawn(small_get_worker(
                ctx.clone(),
                conn,
                container.clone(),
                names.clone(),
                cursor.clone(),
                deadline,
            ))
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(worker) => {
                timing.ok += worker.ok;
                timing.latencies.extend(worker.latencies);
            }
            Err(err) => ctx.errors.record(format!("GET worker failed: {err}")),
        }
    }
    timing.elapsed = start.elapsed();
    timing
}

async fn small_get_worker(
    ctx: Arc<Ctx>,
    mut conn: Conn,
    container: Arc<str>,
    names: Arc<Vec<String>>,
    cursor: Arc<AtomicUsize>,
    deadline: Instant,
) -> OpsTiming {
    let mut timing = OpsTiming::default();
    let expected_len = ctx.cfg.small_size;
    while Instant::now() < deadline {
        let index = cursor.fetch_add(1, Ordering::Relaxed) % names.len();
        let target = conn.endpoint().object_target(&container, &names[index]);
        let started = Instant::now();
        let result = conn
            .request(Method::GET, &target, &[], ReqBody::Empty, BodyMode::Drain)
            .await;
        let latency = started.elapsed();
        match result {
            Ok(reply) if reply.status == StatusCode::OK && reply.body_len == expected_len => {
                timing.ok += 1;
                timing.latencies.push(latency);
            }
            Ok(reply) => ctx.errors.record(format!(
                "GET {target}: status {}, {} bytes (expected 200, {expected_len} bytes)",
                reply.status, reply.body_len
            )),
            Err(err) => {
                ctx.errors.record(format!("{err:#}"));
                tokio::time::sleep(ERROR_BACKOFF).await;
            }
        }
    }
    timing
}
