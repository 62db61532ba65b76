//! Counters of the daemons' work, served as JSON at `/recon/*`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

/// Counters, each only ever increased (or set, for the last-pass figures).
#[derive(Default)]
pub struct Stats {
    pub replication_passes: AtomicU64,
    pub replication_partitions: AtomicU64,
    pub replication_records_pushed: AtomicU64,
    pub replication_bytes_moved: AtomicU64,
    pub replication_handoffs_removed: AtomicU64,
    pub replication_errors: AtomicU64,
    pub replication_tombstones_reclaimed: AtomicU64,
    pub replication_last_pass_ms: AtomicU64,
    pub replication_last_pass_pushed: AtomicU64,
    pub audit_passes: AtomicU64,
    pub audit_objects_checked: AtomicU64,
    pub audit_bytes_checked: AtomicU64,
    pub audit_quarantined: AtomicU64,
    pub expired_objects: AtomicU64,
    pub updater_passes: AtomicU64,
    pub updater_delivered: AtomicU64,
    pub updater_failures: AtomicU64,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Adds `n` to a counter.
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub fn replication(&self) -> Value {
        json!({
            "passes": get(&self.replication_passes),
            "partitions_done": get(&self.replication_partitions),
            "records_pushed": get(&self.replication_records_pushed),
            "bytes_moved": get(&self.replication_bytes_moved),
            "handoff_partitions_removed": get(&self.replication_handoffs_removed),
            "errors": get(&self.replication_errors),
            "tombstones_reclaimed": get(&self.replication_tombstones_reclaimed),
            "last_pass_ms": get(&self.replication_last_pass_ms),
            "last_pass_pushed": get(&self.replication_last_pass_pushed),
        })
    }

    pub fn auditor(&self) -> Value {
        json!({
            "passes": get(&self.audit_passes),
            "objects_checked": get(&self.audit_objects_checked),
            "bytes_checked": get(&self.audit_bytes_checked),
            "quarantined": get(&self.audit_quarantined),
        })
    }

    pub fn expirer(&self) -> Value {
        json!({ "objects_expired": get(&self.expired_objects) })
    }

    pub fn updater(&self) -> Value {
        json!({
            "passes": get(&self.updater_passes),
            "delivered": get(&self.updater_delivered),
            "failures": get(&self.updater_failures),
        })
    }
}
