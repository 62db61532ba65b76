//! Background daemons that keep data whole: the replicator (pushes what
//! replicas lack and moves handoff partitions home), the auditor (checks
//! every stored byte against its BLAKE3 and quarantines what fails), the
//! expirer (removes objects past `X-Delete-At`) and the updater (delivers
//! listing updates a container replica missed). Each runs as a task over the
//! cluster's local devices and counts its work in `Stats`.

pub mod auditor;
pub mod expirer;
pub mod reconstructor;
pub mod replicator;
pub mod stats;
pub mod updater;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::proxy::Cluster;
pub use stats::Stats;

/// How often and how fast the daemons work.
#[derive(Clone, Debug)]
pub struct Settings {
    pub replicator_interval: Duration,
    /// Bytes per second the replicator may move (0: unlimited).
    pub replicator_bytes_per_sec: u64,
    pub auditor_interval: Duration,
    /// Bytes per second the auditor may read (0: unlimited).
    pub auditor_bytes_per_sec: u64,
    pub expirer_interval: Duration,
    pub updater_interval: Duration,
    /// Tombstones older than this are removed.
    pub reclaim_age: Duration,
}

/// Starts every daemon; they stop at `shutdown`.
pub fn spawn(
    cluster: Arc<Cluster>,
    settings: Settings,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    set.spawn(replicator::run(
        cluster.clone(),
        settings.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    set.spawn(auditor::run(
        cluster.clone(),
        settings.clone(),
        stats.clone(),
        shutdown.clone(),
    ));
    set.spawn(expirer::run(
        cluster.clone(),
        settings.expirer_interval,
        stats.clone(),
        shutdown.clone(),
    ));
    set.spawn(updater::run(
        cluster,
        settings.updater_interval,
        stats,
        shutdown,
    ));
    set
}

/// Sleeps so that `bytes` take at least `bytes / rate` seconds; false if
/// shutdown came first.
pub async fn throttle(bytes: u64, rate: u64, shutdown: &CancellationToken) -> bool {
    if rate == 0 || bytes == 0 {
        return !shutdown.is_cancelled();
    }
    let wait = Duration::from_secs_f64(bytes as f64 / rate as f64);
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// Waits `interval`; false if shutdown came first.
pub async fn pause(interval: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(interval) => true,
    }
}
