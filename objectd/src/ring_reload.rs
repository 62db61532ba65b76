//! Picking up a new ring without a restart: the ring file is checked every
//! few seconds; a newer version is installed, after opening any device it
//! names on this host that is not open yet. The replicator then moves data
//! to its new places.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::proxy::Cluster;
use crate::ring::Ring;
use crate::store::DeviceStore;
use crate::Config;

/// How often the ring file is checked.
const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Opens the ring's devices on this host, except those `skip` names.
pub async fn open_local_devices(
    ring: &Ring,
    cfg: &Config,
    skip: impl Fn(u32) -> bool,
) -> anyhow::Result<Vec<Arc<DeviceStore>>> {
    if !cfg.storage {
        return Ok(Vec::new());
    }
    let local: Vec<_> = ring
        .devices()
        .iter()
        .filter(|d| cfg.local_hosts.is_empty() || cfg.local_hosts.contains(&d.host))
        .filter(|d| !skip(d.id))
        .cloned()
        .collect();
    let devices_dir = cfg.devices_dir.clone();
    tokio::task::spawn_blocking(move || {
        local
            .iter()
            .map(|d| {
                DeviceStore::open(d.id, &devices_dir.join(&d.device))
                    .map(Arc::new)
                    .with_context(|| format!("open device {}", d.device))
            })
            .collect()
    })
    .await?
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the ring whenever its file changes, until `shutdown`.
pub async fn watch(cluster: Arc<Cluster>, cfg: Config, shutdown: CancellationToken) {
    let mut seen = modified(&cfg.ring);
    while crate::daemons::pause(CHECK_INTERVAL, &shutdown).await {
        let now = modified(&cfg.ring);
        if now == seen {
            continue;
        }
        seen = now;
        if let Err(e) = reload(&cluster, &cfg).await {
            warn!("cannot reload ring {}: {e:#}", cfg.ring.display());
        }
    }
}

async fn reload(cluster: &Cluster, cfg: &Config) -> anyhow::Result<()> {
    let path = cfg.ring.clone();
    let ring = tokio::task::spawn_blocking(move || Ring::load(path)).await??;
    if ring.version() <= cluster.ring().version() {
        return Ok(());
    }
    let added = open_local_devices(&ring, cfg, |id| cluster.has_device(id)).await?;
    let version = ring.version();
    let new_devices = added.len();
    cluster.install(ring, added);
    info!(version, new_devices, "ring reloaded");
    Ok(())
}
