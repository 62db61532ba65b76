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

/// Opens the stores of policy `policy` on the ring's devices on this host,
/// except those `skip` names.
pub async fn open_local_devices(
    ring: &Ring,
    policy: u32,
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
                let root = crate::policy::device_dir(&devices_dir.join(&d.device), policy);
                DeviceStore::open_for_policy(d.id, policy, &root)
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

/// Reloads each policy's ring whenever its file changes, until `shutdown`.
pub async fn watch(cluster: Arc<Cluster>, cfg: Config, shutdown: CancellationToken) {
    let indexes: Vec<u32> = cfg.policies.all().iter().map(|p| p.index).collect();
    let mut seen: Vec<_> = indexes
        .iter()
        .map(|p| modified(&cfg.ring_path(*p)))
        .collect();
    while crate::daemons::pause(CHECK_INTERVAL, &shutdown).await {
        for (policy, seen) in indexes.iter().zip(seen.iter_mut()) {
            let path = cfg.ring_path(*policy);
            let now = modified(&path);
            if now == *seen {
                continue;
            }
            *seen = now;
            if let Err(e) = reload(&cluster, &cfg, *policy).await {
                warn!("cannot reload ring {}: {e:#}", path.display());
            }
        }
    }
}

async fn reload(cluster: &Cluster, cfg: &Config, policy: u32) -> anyhow::Result<()> {
    let path = cfg.ring_path(policy);
    let ring = tokio::task::spawn_blocking(move || Ring::load(path)).await??;
    if cluster
        .ring_of(policy)
        .is_some_and(|r| ring.version() <= r.version())
    {
        return Ok(());
    }
    let added = open_local_devices(&ring, policy, cfg, |id| cluster.has_device(policy, id)).await?;
    let version = ring.version();
    let new_devices = added.len();
    cluster.install(policy, ring, added);
    info!(policy, version, new_devices, "ring reloaded");
    Ok(())
}
