//! The `object` benchmark: small-object PUT/GET ops/s with latency
//! percentiles, large-object PUT/GET MiB/s, time to list a big container,
//! then best-effort concurrent cleanup. Drives any Swift v1 endpoint.
//!
//! The phases live in private submodules: `config` (tunables),
//! `small_objects`, `large_objects`, `listing` and `cleanup`; this module
//! owns the credentials, the run context and the phase sequence.

mod cleanup;
mod config;
mod large_objects;
mod listing;
mod policies;
mod small_objects;

use std::sync::Arc;

use anyhow::{bail, Result};
use bytes::Bytes;
use http::Method;
use md5::{Digest, Md5};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::report::{ErrorTally, Report};
use crate::stats::{median, rate};
use crate::swift_client::{authenticate, BodyMode, Conn, ReqBody, Session};
use crate::units::{size_human, size_label};
use cleanup::cleanup;
use large_objects::{large_get_phase, large_put_phase};
use listing::{fill_listing, time_listings};
use small_objects::{push_ops, small_get_phase, small_put_phase};

pub use config::ObjectConfig;
pub use listing::LISTING_PAGE_MAX;
pub use policies::run_policies;

const MIB: f64 = (1u64 << 20) as f64;

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
    /// Prefix of every figure's name (`object`, or `swift`/`s3` side by side).
    prefix: String,
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
    run_session(session, cfg, report, "object").await
}

/// Runs the benchmark over an established session (Swift or S3), naming
/// the figures `<prefix>.<figure>`.
pub async fn run_session(
    session: Session,
    cfg: &ObjectConfig,
    report: &mut Report,
    prefix: &str,
) -> Result<Outcome> {
    cfg.validate()?;
    log(format!("storage url {}", session.storage_url));
    let ctx = Arc::new(Ctx {
        session,
        prefix: prefix.to_string(),
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
    report.push(format!("{prefix}.errors"), ctx.errors.count() as f64, 0);
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
    let p = &ctx.prefix;
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
    push_ops(report, &format!("{p}.put_{small}"), &put.timing);

    // 2. small GET
    log(format!(
        "GET {} objects ({} written), {} workers, {:?}",
        size_human(cfg.small_size),
        put.written.len(),
        cfg.concurrency,
        cfg.duration
    ));
    let get = small_get_phase(ctx, &container, Arc::new(put.written)).await;
    push_ops(report, &format!("{p}.get_{small}"), &get);

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
        format!("{p}.put_{large}_mib_per_s"),
        rate(large_put.bytes as f64 / MIB, large_put.elapsed),
        1,
    );
    let large_get = large_get_phase(ctx, &container, Arc::new(large_put.written)).await;
    report.push(
        format!("{p}.get_{large}_mib_per_s"),
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
        format!("{p}.list_{}_ms", cfg.list_count),
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
