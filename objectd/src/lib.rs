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
pub mod store;
pub mod timestamp;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::{Config, FileConfig};

/// Opens the devices this host holds, then serves the Swift API on
/// `listener` and runs the expirer until `shutdown`.
pub async fn run(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ring =
        ring::Ring::load(&cfg.ring).with_context(|| format!("load ring {}", cfg.ring.display()))?;
    let local: Vec<_> = ring
        .devices()
        .iter()
        .filter(|d| cfg.local_hosts.is_empty() || cfg.local_hosts.contains(&d.host))
        .cloned()
        .collect();
    let devices_dir = cfg.devices_dir.clone();
    let devices = tokio::task::spawn_blocking(move || {
        local
            .iter()
            .map(|d| {
                store::DeviceStore::open(d.id, &devices_dir.join(&d.device))
                    .map(Arc::new)
                    .with_context(|| format!("open device {}", d.device))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
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
        stats: stats.clone(),
    });
    let mut daemons = daemons::spawn(cluster, cfg.daemons.clone(), stats, shutdown.clone());
    api::serve(listener, app, shutdown).await;
    while daemons.join_next().await.is_some() {}
    info!("object store stopped");
    Ok(())
}
