//! The replicator. For every partition a local device holds, it compares the
//! partition's summary (each record's key and version) with every other
//! primary's and pushes the records that differ: newer objects with their
//! bytes, tombstones, container and account rows (which merge by
//! timestamp). A device holding a partition it is not a primary for (a
//! handoff) pushes it to all primaries, then drops its copy. Every replica
//! runs the same pass, so pushes in both directions converge. Stores of
//! erasure-coded policies are handed to the reconstructor instead.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use super::stats::{add, Stats};
use super::Settings;
use crate::proxy::Cluster;
use crate::store::DeviceStore;

/// Every this many passes (and after a ring change) a pass checks every
/// partition; the others check only partitions written since the last pass.
const FULL_PASS_EVERY: u64 = 10;

/// Runs a pass every `replicator_interval` until `shutdown`.
pub async fn run(
    cluster: Arc<Cluster>,
    settings: Settings,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let mut passes = 0u64;
    let mut ring_version = None;
    while super::pause(settings.replicator_interval, &shutdown).await {
        let version: Vec<u64> = cluster
            .policies()
            .all()
            .iter()
            .filter_map(|p| cluster.ring_of(p.index).map(|r| r.version()))
            .collect();
        let full =
            passes.is_multiple_of(FULL_PASS_EVERY) || ring_version.as_ref() != Some(&version);
        ring_version = Some(version);
        passes += 1;
        pass(&cluster, full, &settings, &stats, &shutdown)
            .instrument(info_span!("replicator"))
            .await;
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    pub partitions: u64,
    pub pushed: u64,
    pub bytes: u64,
    pub handoffs_removed: u64,
    pub reclaimed: u64,
    pub errors: u64,
}

/// One replication pass over every local device: every partition when
/// `full`, else only those written since the last pass.
pub async fn pass(
    cluster: &Cluster,
    full: bool,
    settings: &Settings,
    stats: &Stats,
    shutdown: &CancellationToken,
) -> PassReport {
    let started = Instant::now();
    let mut report = PassReport::default();
    let devices = cluster.devices();
    let mut dirty = std::collections::BTreeSet::new();
    for dev in &devices {
        dirty.append(&mut dev.take_dirty());
    }
    for dev in devices {
        let listed = if full {
            dev.partitions().await
        } else {
            Ok(dirty.clone())
        };
        let parts = match listed {
            Ok(p) => p,
            Err(e) => {
                warn!(device = dev.id, "cannot list partitions: {e}");
                report.errors += 1;
                continue;
            }
        };
        for part in parts {
            if shutdown.is_cancelled() {
                return report;
            }
            let ec = cluster
                .policies()
                .get(dev.policy)
                .and_then(|p| p.ec.clone());
            match ec {
                Some(scheme) => {
                    super::reconstructor::reconstruct_partition(
                        cluster,
                        &dev,
                        &scheme,
                        part,
                        settings,
                        &mut report,
                        shutdown,
                    )
                    .await
                }
                None => {
                    replicate_partition(cluster, &dev, part, settings, &mut report, shutdown).await
                }
            }
        }
    }
    let cutoff = crate::timestamp::Timestamp(
        crate::timestamp::Timestamp::now()
            .0
            .saturating_sub(settings.reclaim_age.as_micros() as u64 / 10),
    );
    // Reclaiming scans every record, so it rides along with full passes only.
    for dev in cluster.devices().into_iter().filter(|_| full) {
        match dev.reclaim_tombstones(cutoff).await {
            Ok(n) => report.reclaimed += n as u64,
            Err(e) => {
                warn!(device = dev.id, "cannot reclaim tombstones: {e}");
                report.errors += 1;
            }
        }
    }
    add(&stats.replication_tombstones_reclaimed, report.reclaimed);
    add(&stats.replication_passes, 1);
    add(&stats.replication_partitions, report.partitions);
    add(&stats.replication_records_pushed, report.pushed);
    add(&stats.replication_bytes_moved, report.bytes);
    add(&stats.replication_handoffs_removed, report.handoffs_removed);
    add(&stats.replication_errors, report.errors);
    stats
        .replication_last_pass_pushed
        .store(report.pushed, std::sync::atomic::Ordering::Relaxed);
    stats.replication_last_pass_ms.store(
        started.elapsed().as_millis() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    if report.pushed > 0 || report.handoffs_removed > 0 || report.reclaimed > 0 || report.errors > 0
    {
        info!(
            partitions = report.partitions,
            pushed = report.pushed,
            bytes = report.bytes,
            handoffs_removed = report.handoffs_removed,
            reclaimed = report.reclaimed,
            errors = report.errors,
            ms = started.elapsed().as_millis() as u64,
            "replication pass done"
        );
    }
    report
}

async fn replicate_partition(
    cluster: &Cluster,
    dev: &Arc<DeviceStore>,
    part: u32,
    settings: &Settings,
    report: &mut PassReport,
    shutdown: &CancellationToken,
) {
    let Some(ring) = cluster.ring_of(dev.policy) else {
        return;
    };
    let primaries: Vec<u32> = ring.primaries(part).iter().map(|d| d.id).collect();
    let is_primary = primaries.contains(&dev.id);
    let mine = match dev.partition_summary(part).await {
        Ok(s) => s,
        Err(e) => {
            warn!(device = dev.id, part, "cannot read partition: {e}");
            report.errors += 1;
            return;
        }
    };
    if mine.is_empty() {
        return;
    }
    report.partitions += 1;
    let mut all_done = true;
    for target_id in primaries.iter().filter(|id| **id != dev.id) {
        let Some(target) = cluster.node_in(dev.policy, *target_id) else {
            all_done = false;
            continue;
        };
        let theirs = match target.partition_summary(part).await {
            Ok(s) => s,
            Err(e) => {
                warn!(device = target.id(), part, "cannot read partition: {e}");
                report.errors += 1;
                all_done = false;
                continue;
            }
        };
        for (key, version) in &mine {
            if theirs.get(key) == Some(version) {
                continue;
            }
            let raw = match dev.raw_record(key.clone()).await {
                Ok(Some(raw)) => raw,
                Ok(None) => continue,
                Err(e) => {
                    warn!(device = dev.id, part, "cannot read record: {e}");
                    report.errors += 1;
                    all_done = false;
                    continue;
                }
            };
            match target.apply_replica(key, &raw, dev).await {
                Ok(bytes) => {
                    report.pushed += 1;
                    report.bytes += bytes;
                    if !super::throttle(bytes, settings.replicator_bytes_per_sec, shutdown).await {
                        return;
                    }
                }
                Err(e) => {
                    warn!(
                        from = dev.id,
                        to = target.id(),
                        part,
                        "cannot push record: {e}"
                    );
                    report.errors += 1;
                    all_done = false;
                }
            }
        }
    }
    if !all_done {
        // Something could not be pushed (a peer down, or not yet holding
        // the device under a new ring): look again next pass, not only at
        // the next full one.
        dev.mark_dirty(part);
    }
    if !is_primary && all_done && primaries.len() == ring.replicas() as usize {
        match dev.purge_records(part, mine).await {
            Ok(_) => report.handoffs_removed += 1,
            Err(e) => {
                warn!(
                    device = dev.id,
                    part, "cannot drop handed-off partition: {e}"
                );
                report.errors += 1;
            }
        }
    }
}
