//! objectd: a Swift-compatible object store. Rings place accounts,
//! containers and objects on devices (`ring`); storage nodes keep them
//! (`store`); the proxy fans requests out over replicas (`proxy`); the HTTP
//! front end speaks Swift v1 (`api`); background daemons keep data whole
//! (`daemons`). `run` starts it all.

pub mod api;
pub mod config;
pub mod daemons;
pub mod proxy;
pub mod ring;
pub mod ring_reload;
pub mod store;
pub mod timestamp;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{Config, FileConfig};

/// Opens the devices this host holds, then serves the Swift API on
/// `listener` and runs the background daemons until `shutdown`.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ring =
        ring::Ring::load(&cfg.ring).with_context(|| format!("load ring {}", cfg.ring.display()))?;
    let devices = ring_reload::open_local_devices(&ring, &cfg, |_| false).await?;
    info!(
        devices = devices.len(),
        part_power = ring.part_power(),
        replicas = ring.replicas(),
        "object store opened"
    );
    let cluster = Arc::new(proxy::Cluster::new(ring, devices, cfg.max_object_size));
    let stats = Arc::new(daemons::Stats::default());
    let app = Arc::new(api::App {
        cluster: cluster.clone(),
        auth: api::auth::TempAuth::new(cfg.users.clone(), cfg.token_ttl),
        s3: api::s3::S3Config {
            keys: api::s3::keys::S3Keys::new(cfg.s3_keys.clone()),
            domains: cfg.s3_domains.clone(),
        },
        stats: stats.clone(),
    });
    let mut daemons = daemons::spawn(
        cluster.clone(),
        cfg.daemons.clone(),
        stats,
        shutdown.clone(),
    );
    daemons.spawn(ring_reload::watch(cluster, cfg.clone(), shutdown.clone()));
    api::serve(listener, app, shutdown).await;
    while daemons.join_next().await.is_some() {}
    info!("object store stopped");
    Ok(())
}
