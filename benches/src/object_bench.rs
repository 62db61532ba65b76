//! The `object` benchmark: small-object PUT/GET ops/s with latency
//! percentiles, large-object PUT/GET MiB/s, time to list a big container,
//! then best-effort concurrent cleanup. Drives any Swift v1 endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bytes::Bytes;
use http::{Method, StatusCode};
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::Deserialize;

use crate::report::{ErrorTally, Report};
use crate::stats::{median, percentile, rate, sorted_millis};
use crate::swift_client::{authenticate, encode_path, BodyMode, Conn, ReqBody, Session};
use crate::units::{size_human, size_label};

/// Swift's default cap on entries per listing request.
pub const LISTING_PAGE_MAX: usize = 10_000;

const MIB: f64 = (1u64 << 20) as f64;
/// Pause after a transport error so a dead server is not hammered.
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// Tunables of the object benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectConfig {
    /// Workers (one keep-alive connection each) for the small-object phases,
    /// the listing fill and cleanup.
    pub concurrency: usize,
    pub small_size: u64,
    /// How long each small-object phase runs.
    pub duration: Duration,
    pub large_size: u64,
    pub large_count: usize,
    pub large_parallel: usize,
    /// Objects in the listing container.
    pub list_count: usize,
    /// Timed listings; the median is reported.
    pub list_repeats: usize,
    /// Container name to use instead of a fresh random one.
    pub container: Option<String>,
    /// Skip cleanup.
    pub keep: bool,
    /// Per-request timeout (covers the whole body).
    pub timeout: Duration,
}

impl Default for ObjectConfig {
    fn default() -> Self {
        ObjectConfig {
            concurrency: 16,
            small_size: 4096,
            duration: Duration::from_secs(10),
            large_size: 64 << 20,
            large_count: 8,
            large_parallel: 4,
            list_count: 10_000,
            list_repeats: 3,
            container: None,
            keep: false,
            timeout: Duration::from_secs(120),
        }
    }
}

impl ObjectConfig {
    /// Tiny settings for a quick end-to-end check: 1 s phases, 2 MiB large
    /// objects (4 of them), a 200-object listing.
    pub fn smoke() -> Self {
        ObjectConfig {
            duration: Duration::from_secs(1),
            large_size: 2 << 20,
            large_count: 4,
            list_count: 200,
            ..ObjectConfig::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if self.large_parallel == 0 {
            bail!("--large-parallel must be at least 1");
        }
        if self.large_count == 0 {
            bail!("--large-count must be at least 1");
        }
        if self.large_size == 0 {
            bail!("--large-size must be at least 1 byte");
        }
        if self.list_count == 0 {
            bail!("--list-count must be at least 1");
        }
        if self.list_repeats == 0 {
            bail!("--list-repeats must be at least 1");
        }
        if usize::try_from(self.large_size).is_err() || usize::try_from(self.small_size).is_err() {
            bail!("object size does not fit in memory");
        }
        if let Some(name) = &self.container {
            if name.is_empty() || name.contains('/') {
                bail!("--container must be non-empty and must not contain '/'");
            }
        }
        Ok(())
    }
}

/// Swift v1.0 credentials (`ST_AUTH`, `ST_USER`, `ST_KEY`).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub auth_url: String,
    pub user: String,
    pub key: String,
}

/// Error summary of a completed run (figures go to the [`Report`]).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Failed requests while measuring (including the untimed listing fill).
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// Failed deletes during cleanup (not counted in `errors`).
    pub cleanup_errors: u64,
}

struct Ctx {
    session: Session,
    cfg: ObjectConfig,
    errors: ErrorTally,
}

impl Ctx {
    fn conn(&self) -> Conn {
        self.session.conn(self.cfg.timeout)
    }
}

/// What was (maybe) created and must be removed afterwards.
#[derive(Default)]
struct Created {
    containers: Vec<String>,
    objects: Vec<(Arc<str>, String)>,
}

fn log(message: impl AsRef<str>) {
    eprintln!("# {}", message.as_ref());
}

/// Runs the whole object benchmark, pushing figures into `report` as they
/// are measured. Returns `Err` only for setup failures (auth, container
/// creation); request failures are counted in the [`Outcome`] and in the
/// `object.errors` figure.
pub async fn run(creds: &Credentials, cfg: &ObjectConfig, report: &mut Report) -> Result<Outcome> {
    cfg.validate()?;
    let session = authenticate(&creds.auth_url, &creds.user, &creds.key, cfg.timeout).await?;
    log(format!("storage url {}", session.storage_url));
    let ctx = Arc::new(Ctx {
        session,
        cfg: cfg.clone(),
        errors: ErrorTally::default(),
    });
    let container = cfg
        .container
        .clone()
        .unwrap_or_else(|| format!("cairn-bench-{:08x}", rand::random::<u32>()));
    let list_container = format!("{container}-list");

    let mut created = Created::default();
    let measured = measure(&ctx, &container, &list_container, report, &mut created).await;
    let cleanup_errors = if cfg.keep {
        log("--keep: leaving objects and containers in place");
        0
    } else {
        cleanup(&ctx, created).await
    };
    report.push("object.errors", ctx.errors.count() as f64, 0);
    measured?;
    Ok(Outcome {
        errors: ctx.errors.count(),
        error_samples: ctx.errors.samples(),
        cleanup_errors,
    })
}

async fn measure(
    ctx: &Arc<Ctx>,
    container: &str,
    list_container: &str,
    report: &mut Report,
    created: &mut Created,
) -> Result<()> {
    let container: Arc<str> = Arc::from(container);
    let list_container: Arc<str> = Arc::from(list_container);
    let cfg = &ctx.cfg;
    let small = size_label(cfg.small_size);
    let large = size_label(cfg.large_size);

    create_container(ctx, &container, created).await?;

    // 1. small PUT
    log(format!(
        "PUT {} objects, {} workers, {:?}",
        size_human(cfg.small_size),
        cfg.concurrency,
        cfg.duration
    ));
    let put = small_put_phase(ctx, &container).await;
    created
        .objects
        .extend(put.attempted.iter().map(|n| (container.clone(), n.clone())));
    push_ops(report, &format!("object.put_{small}"), &put.timing);

    // 2. small GET
    log(format!(
        "GET {} objects ({} written), {} workers, {:?}",
        size_human(cfg.small_size),
        put.written.len(),
        cfg.concurrency,
        cfg.duration
    ));
    let get = small_get_phase(ctx, &container, Arc::new(put.written)).await;
    push_ops(report, &format!("object.get_{small}"), &get);

    // 3. large PUT / GET
    log(format!(
        "PUT/GET {} x {} objects, {} in parallel",
        cfg.large_count,
        size_human(cfg.large_size),
        cfg.large_parallel
    ));
    let size = cfg.large_size as usize;
    let (buffer, md5) = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; size];
        StdRng::from_entropy().fill_bytes(&mut buf);
        let md5 = hex::encode(Md5::digest(&buf));
        (Bytes::from(buf), md5)
    })
    .await?;
    let large_put = large_put_phase(ctx, &container, buffer, Arc::from(md5)).await;
    created.objects.extend(
        large_put
            .attempted
            .iter()
            .map(|n| (container.clone(), n.clone())),
    );
    report.push(
        format!("object.put_{large}_mib_per_s"),
        rate(large_put.bytes as f64 / MIB, large_put.elapsed),
        1,
    );
    let large_get = large_get_phase(ctx, &container, Arc::new(large_put.written)).await;
    report.push(
        format!("object.get_{large}_mib_per_s"),
        rate(large_get.bytes as f64 / MIB, large_get.elapsed),
        1,
    );

    // 4. listing
    log(format!(
        "listing: filling {list_container} with {} objects",
        cfg.list_count
    ));
    create_container(ctx, &list_container, created).await?;
    let filled = fill_listing(ctx, &list_container).await;
    created
        .objects
        .extend(filled.into_iter().map(|n| (list_container.clone(), n)));
    let list_ms = time_listings(ctx, &list_container).await;
    report.push(
        format!("object.list_{}_ms", cfg.list_count),
        median(&list_ms).unwrap_or(f64::NAN),
        3,
    );
    Ok(())
}

async fn create_container(ctx: &Ctx, name: &Arc<str>, created: &mut Created) -> Result<()> {
    let mut conn = ctx.conn();
    let target = ctx.session.storage.container_target(name, None);
    let reply = conn
        .request(Method::PUT, &target, &[], ReqBody::Empty, BodyMode::Drain)
        .await?;
    if !reply.status.is_success() {
        bail!("creating container {name} failed: {}", reply.status);
    }
    created.containers.push(name.to_string());
    Ok(())
}

/// Opens `n` connections concurrently; failures are counted as errors.
async fn open_conns(ctx: &Ctx, n: usize) -> Vec<Conn> {
    let attempts = (0..n).map(|_| async {
        let mut conn = ctx.conn();
        match conn.connect().await {
            Ok(()) => Some(conn),
            Err(err) => {
                ctx.errors.record(format!("connect: {err:#}"));
                None
            }
        }
    });
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Successful small ops of one phase.
#[derive(Default)]
struct OpsTiming {
    ok: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

fn push_ops(report: &mut Report, prefix: &str, timing: &OpsTiming) {
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

struct SmallPut {
    timing: OpsTiming,
    /// Objects confirmed written (201 and matching ETag).
    written: Vec<String>,
    /// Every name a PUT was sent for (for cleanup).
    attempted: Vec<String>,
}

async fn small_put_phase(ctx: &Arc<Ctx>, container: &Arc<str>) -> SmallPut {
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
            Ok(reply) if reply.status == StatusCode::CREATED => match reply.etag() {
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

async fn small_get_phase(
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

/// Outcome of a large-object phase.
#[derive(Default)]
struct Bulk {
    bytes: u64,
    elapsed: Duration,
    written: Vec<String>,
    attempted: Vec<String>,
}

async fn large_put_phase(
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
                        Ok(reply) if reply.status == StatusCode::CREATED => match reply.etag() {
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

async fn large_get_phase(ctx: &Arc<Ctx>, container: &Arc<str>, names: Arc<Vec<String>>) -> Bulk {
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

/// Name of the `index`-th object of the listing container.
fn listing_name(index: usize) -> String {
    format!("o{index:08}")
}

/// PUTs `list_count` zero-byte objects concurrently (untimed). Returns the
/// names a PUT was sent for.
async fn fill_listing(ctx: &Arc<Ctx>, container: &Arc<str>) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers = ctx.cfg.concurrency.min(ctx.cfg.list_count);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (ctx, container, next) = (ctx.clone(), container.clone(), next.clone());
            tokio::spawn(async move {
                let mut conn = ctx.conn();
                let mut attempted = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= ctx.cfg.list_count {
                        break;
                    }
                    let name = listing_name(index);
                    let target = conn.endpoint().object_target(&container, &name);
                    attempted.push(name);
                    match conn
                        .request(Method::PUT, &target, &[], ReqBody::Empty, BodyMode::Drain)
                        .await
                    {
                        Ok(reply) if reply.status == StatusCode::CREATED => {}
                        Ok(reply) => ctx
                            .errors
                            .record(format!("PUT {target}: status {}", reply.status)),
                        Err(err) => ctx.errors.record(format!("{err:#}")),
                    }
                }
                attempted
            })
        })
        .collect();
    let mut names = Vec::new();
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(part) => names.extend(part),
            Err(err) => ctx
                .errors
                .record(format!("listing fill worker failed: {err}")),
        }
    }
    names
}

#[derive(Deserialize)]
struct ListingEntry {
    name: String,
}

/// Times `list_repeats` full JSON listings of the container (pages of at
/// most [`LISTING_PAGE_MAX`], following `marker`). Only request + body
/// transfer is timed, not JSON parsing. Returns the successful times in ms.
async fn time_listings(ctx: &Ctx, container: &str) -> Vec<f64> {
    let expected = ctx.cfg.list_count;
    let limit = expected.clamp(1, LISTING_PAGE_MAX);
    let mut conn = ctx.conn();
    if let Err(err) = conn.connect().await {
        ctx.errors.record(format!("listing connect: {err:#}"));
        return Vec::new();
    }
    let mut times = Vec::new();
    'repeat: for _ in 0..ctx.cfg.list_repeats {
        let mut elapsed = Duration::ZERO;
        let mut total = 0usize;
        let mut marker: Option<String> = None;
        loop {
            let mut query = format!("format=json&limit={limit}");
            if let Some(marker) = &marker {
                query.push_str("&marker=");
                query.push_str(&encode_path(marker, false));
            }
            let target = conn.endpoint().container_target(container, Some(&query));
            let started = Instant::now();
            let result = conn
                .request(Method::GET, &target, &[], ReqBody::Empty, BodyMode::Collect)
                .await;
            elapsed += started.elapsed();
            let reply = match result {
                // An empty listing may come back as 204 No Content.
                Ok(reply)
                    if reply.status == StatusCode::OK || reply.status == StatusCode::NO_CONTENT =>
                {
                    reply
                }
                Ok(reply) => {
                    ctx.errors
                        .record(format!("GET {target}: status {}", reply.status));
                    continue 'repeat;
                }
                Err(err) => {
                    ctx.errors.record(format!("{err:#}"));
                    continue 'repeat;
                }
            };
            let parsed = if reply.status == StatusCode::NO_CONTENT {
                Ok(Vec::new())
            } else {
                serde_json::from_slice::<Vec<ListingEntry>>(&reply.body)
            };
            let entries = match parsed {
                Ok(entries) => entries,
                Err(err) => {
                    ctx.errors
                        .record(format!("GET {target}: bad JSON listing: {err}"));
                    continue 'repeat;
                }
            };
            total += entries.len();
            let page_len = entries.len();
            marker = entries.into_iter().last().map(|e| e.name);
            if page_len < limit || total >= expected || marker.is_none() {
                break;
            }
        }
        if total != expected {
            ctx.errors.record(format!(
                "listing {container}: {total} entries, expected {expected}"
            ));
        }
        times.push(elapsed.as_secs_f64() * 1e3);
    }
    times
}

/// Deletes what was created, concurrently, then the containers. Failures
/// (other than 404) are counted and returned, never fatal.
async fn cleanup(ctx: &Arc<Ctx>, created: Created) -> u64 {
    log(format!(
        "cleanup: deleting {} objects and {} containers",
        created.objects.len(),
        created.containers.len()
    ));
    let failures = Arc::new(ErrorTally::default());
    let objects = Arc::new(created.objects);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = ctx.cfg.concurrency.min(objects.len());
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (ctx, objects, next, failures) =
                (ctx.clone(), objects.clone(), next.clone(), failures.clone());
            tokio::spawn(async move {
                let mut conn = ctx.conn();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((container, name)) = objects.get(index) else {
                        break;
                    };
                    let target = conn.endpoint().object_target(container, name);
                    match conn
                        .request(
                            Method::DELETE,
                            &target,
                            &[],
                            ReqBody::Empty,
                            BodyMode::Drain,
                        )
                        .await
                    {
                        Ok(reply)
                            if reply.status.is_success()
                                || reply.status == StatusCode::NOT_FOUND => {}
                        Ok(reply) => {
                            failures.record(format!("DELETE {target}: status {}", reply.status))
                        }
                        Err(err) => failures.record(format!("{err:#}")),
                    }
                }
            })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        if let Err(err) = task {
            failures.record(format!("cleanup worker failed: {err}"));
        }
    }

    let mut conn = ctx.conn();
    for container in created.containers.iter().rev() {
        let target = conn.endpoint().container_target(container, None);
        // A just-emptied container may still look non-empty for a moment.
        for attempt in 0..3 {
            match conn
                .request(
                    Method::DELETE,
                    &target,
                    &[],
                    ReqBody::Empty,
                    BodyMode::Drain,
                )
                .await
            {
                Ok(reply) if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND => {
                    break
                }
                Ok(reply) if reply.status == StatusCode::CONFLICT && attempt < 2 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok(reply) => {
                    failures.record(format!("DELETE {target}: status {}", reply.status));
                    break;
                }
                Err(err) => {
                    failures.record(format!("{err:#}"));
                    break;
                }
            }
        }
    }
    for sample in failures.samples().iter().take(5) {
        log(format!("cleanup: {sample}"));
    }
    failures.count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_and_default_configs_are_valid() {
        ObjectConfig::default().validate().unwrap();
        let smoke = ObjectConfig::smoke();
        smoke.validate().unwrap();
        assert_eq!(smoke.duration, Duration::from_secs(1));
        assert_eq!(smoke.large_size, 2 << 20);
        assert_eq!(smoke.list_count, 200);
    }

    #[test]
    fn rejects_bad_configs() {
        let bad = ObjectConfig {
            concurrency: 0,
            ..ObjectConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = ObjectConfig {
            container: Some("a/b".into()),
            ..ObjectConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn listing_names_sort_in_index_order() {
        assert!(listing_name(9) < listing_name(10));
        assert!(listing_name(99_999) < listing_name(100_000));
    }
}
