//! The updater: delivers async pendings (listing rows a container replica
//! missed while it was down) to every current replica of the container,
//! then updates the account's stats, and drops each pending once all
//! replicas took it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::stats::{add, Stats};
use crate::proxy::Cluster;
use crate::timestamp::Timestamp;

/// Pendings handled per device per pass.
const BATCH: usize = 1000;

/// Runs an updater pass every `interval` until `shutdown`.
pub async fn run(
    cluster: Arc<Cluster>,
    interval: Duration,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    while super::pause(interval, &shutdown).await {
        let (delivered, failed) = pass(&cluster, &shutdown).await;
        add(&stats.updater_passes, 1);
        add(&stats.updater_delivered, delivered);
        add(&stats.updater_failures, failed);
        if delivered > 0 || failed > 0 {
            info!(delivered, failed, "updater pass done");
        }
    }
}

/// One pass over every local device's pendings; answers how many were
/// delivered and how many must wait.
pub async fn pass(cluster: &Cluster, shutdown: &CancellationToken) -> (u64, u64) {
    let (mut delivered, mut failed) = (0, 0);
    for dev in cluster.devices() {
        let pendings = match dev.pendings(BATCH).await {
            Ok(p) => p,
            Err(e) => {
                warn!(device = dev.id, "cannot read async pendings: {e}");
                continue;
            }
        };
        for (key, update) in pendings {
            if shutdown.is_cancelled() {
                return (delivered, failed);
            }
            let place = cluster.primaries(&update.account, Some(&update.container), None);
            let sends = place.nodes.iter().map(|n| {
                n.container_row(
                    place.part,
                    &update.account,
                    &update.container,
                    &update.object,
                    update.row.clone(),
                )
            });
            let results = futures::future::join_all(sends).await;
            let all = place.nodes.len() == place.replicas && results.iter().all(|r| r.is_ok());
            if let Some(info) = results.into_iter().filter_map(Result::ok).last() {
                cluster
                    .update_account(
                        &update.account,
                        &update.container,
                        &info,
                        Timestamp::now(),
                        false,
                    )
                    .await;
            }
            if !all {
                failed += 1;
                continue;
            }
            match dev.remove_pending(key).await {
                Ok(()) => delivered += 1,
                Err(e) => warn!(device = dev.id, "cannot drop delivered pending: {e}"),
            }
        }
    }
    (delivered, failed)
}
