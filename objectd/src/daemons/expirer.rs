//! The expirer: removes objects past `X-Delete-At` from disk and listings.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::info;

use super::stats::{add, Stats};
use crate::proxy::Cluster;

/// Runs an expirer pass every `interval` until `shutdown`.
pub async fn run(
    cluster: Arc<Cluster>,
    interval: Duration,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    while super::pause(interval, &shutdown).await {
        let removed = cluster.expire_objects(10_000).await;
        add(&stats.expired_objects, removed as u64);
        if removed > 0 {
            info!(removed, "expirer pass done");
        }
    }
}
