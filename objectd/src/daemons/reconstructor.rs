//! The reconstructor: the replicator's counterpart for erasure-coded
//! policies, where primary `i` of a partition holds fragment archive `i`
//! and copying a record to a peer would be wrong. For every partition a
//! local store holds, it compares summaries with every primary:
//! - a primary that lacks an object version gets its own archive rebuilt
//!   from `k` others, segment by segment, by exactly one peer (the first
//!   slot after it, cyclically, that holds the version);
//! - tombstones are copied as they are (they are the same everywhere);
//! - a primary holding the version with older metadata (it missed a POST)
//!   gets the newer metadata applied to its own archive;
//! - a store holding a partition it is not a primary for (a handoff) sends
//!   each archive to the primary of its fragment index, then drops it;
//! - an archive of a version that fewer than `k` primaries hold, and none
//!   holds anything newer of, is the remains of a failed write: no read can
//!   use it and nothing can rebuild it. Once older than the reclaim age it
//!   is removed by the primaries holding it (never by a handoff, and only
//!   once this process has run the same ring for the reclaim age, so
//!   archives a ring change moved are home), and the version before it
//!   gets rebuilt in its place.
//!
//! Missing archives include quarantined ones: the auditor and the proxy's
//! reads quarantine corrupt archives, and this rebuilds them.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::replicator::PassReport;
use super::Settings;
use crate::ec::archive::{self, Layout};
use crate::ec::EcScheme;
use crate::node::Node;
use crate::proxy::ec_get::{scheme_of, EcObject, FragmentReader};
use crate::proxy::Cluster;
use crate::store::device::StoredObject;
use crate::store::record::{self, ObjectMeta, Placement as Where};
use crate::store::scan::{Summary, Version};
use crate::store::writer::ObjectPost;
use crate::store::{DeviceStore, StoreError};

/// Versions younger than this are left alone: their archives may still be
/// arriving from the proxy, and rebuilding them would only race the upload.
const FRESH_SECS: u64 = 5;

/// The object hash in an object key (`o` + partition + hash).
fn key_hash(key: &[u8]) -> Option<[u8; 16]> {
    (key.first() == Some(&b'o')).then_some(())?;
    key.get(5..21)?.try_into().ok()
}

/// Whether a summary holds `key` at (or past) data version `ts`.
fn holds(summary: Option<&Summary>, key: &[u8], mine: &Version) -> bool {
    summary
        .and_then(|s| s.get(key))
        .is_some_and(|theirs| theirs[0] >= mine[0])
}

/// Reconstructs one partition of a local erasure-coded store.
pub async fn reconstruct_partition(
    cluster: &Cluster,
    dev: &Arc<DeviceStore>,
    scheme: &Arc<EcScheme>,
    part: u32,
    settings: &Settings,
    report: &mut PassReport,
    shutdown: &CancellationToken,
) {
    let Some(ring) = cluster.ring_of(dev.policy) else {
        return;
    };
    let primaries: Vec<Option<Node>> = ring
        .primaries(part)
        .iter()
        .map(|d| cluster.node_in(dev.policy, d.id))
        .collect();
    let my_slot = ring.primaries(part).iter().position(|d| d.id == dev.id);
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
    let mut summaries: Vec<Option<Summary>> = Vec::with_capacity(primaries.len());
    let mut all_done = true;
    for (slot, node) in primaries.iter().enumerate() {
        if Some(slot) == my_slot {
            summaries.push(Some(mine.clone()));
            continue;
        }
        let summary = match node {
            Some(n) => match n.partition_summary(part).await {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!(device = n.id(), part, "cannot read partition: {e}");
                    report.errors += 1;
                    None
                }
            },
            None => None,
        };
        all_done &= summary.is_some();
        summaries.push(summary);
    }
    // Reaping needs every primary's view, from a primary, under a ring
    // this process has run for the whole reclaim age: archives that a ring
    // change left on handoffs are home long before then, so a version few
    // primaries hold is then truly a failed write, not one in transit.
    let may_reap = my_slot.is_some()
        && summaries.iter().all(Option::is_some)
        && cluster.ring_age(dev.policy) >= settings.reclaim_age;
    for (key, version) in &mine {
        if shutdown.is_cancelled() {
            return;
        }
        let Some(hash) = key_hash(key) else { continue };
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
        let Some((meta, _)) = record::decode_object(&raw) else {
            continue;
        };
        if may_reap && stranded(&summaries, key, version, &meta, settings) {
            let only = std::iter::once((key.clone(), *version)).collect();
            match dev.purge_records(part, only).await {
                Ok(_) => {
                    warn!(
                        device = dev.id,
                        part,
                        "removed a fragment archive of a failed write ({} of {} archives)",
                        holders(&summaries, key, version),
                        meta.fragment.as_ref().map_or(0, |f| f.k)
                    );
                    report.reclaimed += 1;
                }
                Err(e) => {
                    warn!(device = dev.id, part, "cannot remove stranded archive: {e}");
                    report.errors += 1;
                }
            }
            continue;
        }
        for (slot, node) in primaries.iter().enumerate() {
            if Some(slot) == my_slot {
                continue;
            }
            if my_slot.is_some()
                && meta.fragment.is_some()
                && older_metadata(summaries[slot].as_ref(), key, version)
            {
                if let Some(target) = node {
                    match push_metadata(target, part, hash, &meta).await {
                        Ok(()) => report.pushed += 1,
                        Err(e) => {
                            warn!(to = target.id(), part, "cannot push object metadata: {e}");
                            report.errors += 1;
                            all_done = false;
                        }
                    }
                }
                continue;
            }
            if holds(summaries[slot].as_ref(), key, version) {
                continue;
            }
            let Some(target) = node else {
                all_done = false;
                continue;
            };
            let copy_as_is = meta.deleted
                || (my_slot.is_none()
                    && meta
                        .fragment
                        .as_ref()
                        .is_some_and(|f| f.index as usize == slot));
            let result = if copy_as_is {
                target.apply_replica(key, &raw, dev).await
            } else if meta.fragment.is_none() || my_slot.is_none() {
                // A handoff sends only its own archive home; rebuilding is
                // for primaries.
                continue;
            } else if responsible(&summaries, key, version, slot) != my_slot {
                continue;
            } else if meta.ts.secs_ceil() + FRESH_SECS > crate::timestamp::Timestamp::now_secs() {
                all_done = false;
                continue;
            } else {
                rebuild(&primaries, scheme, part, hash, &meta, slot, target).await
            };
            match result {
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
                        fragment = slot,
                        "cannot restore fragment archive: {e}"
                    );
                    report.errors += 1;
                    all_done = false;
                }
            }
        }
    }
    if !all_done {
        dev.mark_dirty(part);
    }
    if my_slot.is_none() && all_done && primaries.len() == ring.replicas() as usize {
        // Only once every primary holds what this handoff held.
        let home = mine
            .iter()
            .all(|(key, version)| summaries.iter().any(|s| holds(s.as_ref(), key, version)));
        if !home {
            dev.mark_dirty(part);
            return;
        }
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

/// Whether a summary holds this very data version with older metadata
/// (it missed a POST).
fn older_metadata(summary: Option<&Summary>, key: &[u8], mine: &Version) -> bool {
    summary
        .and_then(|s| s.get(key))
        .is_some_and(|t| t[0] == mine[0] && t[1] < mine[1] && t[2] == 0 && mine[2] == 0)
}

/// Applies this archive's metadata (a POST at its time) to a peer's archive
/// of the same version; a peer that has it already answers a conflict.
async fn push_metadata(
    target: &Node,
    part: u32,
    hash: [u8; 16],
    meta: &ObjectMeta,
) -> Result<(), StoreError> {
    let post = ObjectPost {
        ts: meta.meta_ts,
        content_type: Some(meta.content_type.clone()),
        headers: meta.headers.clone(),
        delete_at: meta.delete_at,
    };
    match target.post_object(part, hash, post).await {
        Ok(_) | Err(StoreError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

/// How many primaries hold exactly this version.
fn holders(summaries: &[Option<Summary>], key: &[u8], mine: &Version) -> usize {
    summaries
        .iter()
        .filter(|s| {
            s.as_ref()
                .and_then(|s| s.get(key))
                .is_some_and(|t| t[0] == mine[0])
        })
        .count()
}

/// Whether this archive is the remains of a failed write past the reclaim
/// age: fewer than `k` primaries hold its version and none a newer one.
fn stranded(
    summaries: &[Option<Summary>],
    key: &[u8],
    mine: &Version,
    meta: &ObjectMeta,
    settings: &Settings,
) -> bool {
    let Some(f) = meta.fragment.as_ref().filter(|_| !meta.deleted) else {
        return false;
    };
    let newer = summaries.iter().any(|s| {
        s.as_ref()
            .and_then(|s| s.get(key))
            .is_some_and(|t| t[0] > mine[0])
    });
    let old = meta.ts.secs_ceil() + settings.reclaim_age.as_secs()
        < crate::timestamp::Timestamp::now_secs();
    !newer && old && holders(summaries, key, mine) < f.k as usize
}

/// The slot that rebuilds `missing`'s archive: the first one after it,
/// cyclically, whose summary holds the version.
fn responsible(
    summaries: &[Option<Summary>],
    key: &[u8],
    version: &Version,
    missing: usize,
) -> Option<usize> {
    let width = summaries.len();
    (1..width)
        .map(|d| (missing + d) % width)
        .find(|s| holds(summaries[*s].as_ref(), key, version))
}

/// Rebuilds archive `index` of the version `meta` describes from the other
/// primaries' archives and stores it on `target`; answers the bytes written.
pub async fn rebuild(
    primaries: &[Option<Node>],
    policy: &Arc<EcScheme>,
    part: u32,
    hash: [u8; 16],
    meta: &ObjectMeta,
    index: usize,
    target: &Node,
) -> Result<u64, StoreError> {
    let reads = primaries
        .iter()
        .flatten()
        .map(|n| async move { (n.clone(), n.get_object(part, hash).await) });
    let rows: Vec<(Node, StoredObject)> = futures::future::join_all(reads)
        .await
        .into_iter()
        .filter_map(|(n, r)| match r {
            Ok(Some(s)) if s.meta.ts == meta.ts && !s.meta.deleted && s.meta.fragment.is_some() => {
                Some((n, s))
            }
            _ => None,
        })
        .collect();
    let newest = rows
        .iter()
        .map(|(_, s)| &s.meta)
        .max_by_key(|m| m.meta_ts)
        .unwrap_or(meta)
        .clone();
    let scheme = scheme_of(&newest, policy).map_err(|e| StoreError::Io(io::Error::other(e)))?;
    let object_size = newest.object_size();
    let layout = Layout::new(&scheme, object_size);
    // Archives carry per-fragment checks, not a whole-body BLAKE3.
    let fragment_meta = || {
        let mut m = newest.clone();
        if let Some(f) = &mut m.fragment {
            f.index = index as u32;
        }
        m.blake3 = String::new();
        m.size = layout.archive_len();
        m
    };
    if rows
        .iter()
        .all(|(_, s)| s.meta.placement == Where::Inline && s.inline.is_some())
    {
        let mut archives: Vec<Option<Bytes>> = vec![None; scheme.width()];
        for (_, s) in &rows {
            let i = s.meta.fragment.as_ref().map_or(0, |f| f.index as usize);
            if let Some(slot) = archives.get_mut(i) {
                *slot = s.inline.clone();
            }
        }
        let body = archive::decode_all(&scheme, object_size, &archives)
            .map_err(|e| StoreError::Io(io::Error::other(e)))?;
        let mut all =
            archive::encode_all(&scheme, &body).map_err(|e| StoreError::Io(io::Error::other(e)))?;
        let archive = all.swap_remove(index).freeze();
        let meta = ObjectMeta {
            placement: Where::Inline,
            ..fragment_meta()
        };
        let len = archive.len() as u64;
        target.put_object(part, hash, meta, archive).await?;
        return Ok(len);
    }
    let mut sources: Vec<(usize, Node)> = rows
        .iter()
        .filter_map(|(n, s)| Some((s.meta.fragment.as_ref()?.index as usize, n.clone())))
        .filter(|(i, _)| *i != index)
        .collect();
    sources.sort_by_key(|(i, _)| *i);
    sources.dedup_by_key(|(i, _)| *i);
    let obj = Arc::new(EcObject {
        part,
        hash,
        ts: meta.ts,
        scheme: scheme.clone(),
        layout,
        sources,
    });
    let mut reader = FragmentReader::open(&obj, 0, layout.segment_count().saturating_sub(1));
    let mut upload = target.open_upload(part, hash, false)?;
    let sender = upload.sender.take().expect("a new upload has a sender");
    while reader.next().await?.is_some() {
        let mut fragments: Vec<Option<Vec<u8>>> = reader
            .fragments
            .iter()
            .map(|f| f.as_ref().map(|b| b.to_vec()))
            .collect();
        scheme
            .rebuild(&mut fragments)
            .map_err(|e| StoreError::Io(io::Error::other(e)))?;
        let fragment = fragments[index].take().unwrap_or_default();
        let mut framed = BytesMut::with_capacity(fragment.len() + archive::CHECK_LEN);
        framed.extend_from_slice(&fragment);
        framed.extend_from_slice(&archive::check(&fragment));
        if sender.send(framed.freeze()).await.is_err() {
            return Err(StoreError::Io(io::Error::other("fragment upload stopped")));
        }
    }
    drop(sender);
    let meta = ObjectMeta {
        placement: Where::File,
        ..fragment_meta()
    };
    upload.commit(meta).await?;
    Ok(layout.archive_len())
}
