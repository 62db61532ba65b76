//! Compaction and orphan removal, run by the cleaner's task.
//!
//! A segment's live bytes are the union of the ranges any map (volume or
//! snapshot) names in it. A segment of our own whose live bytes are under
//! half its size has its live ranges copied, with others', into new
//! segments of up to `PACK_BYTES`, and every map is pointed at the copies
//! (`Moves`); the old segment is then unreferenced and the cleaner deletes
//! it two passes later, after reads planned on it are done.
//!
//! The same listing finds orphans: segment objects that no record names
//! and no pack has in flight (a pack that failed, or a stop, between
//! storing a segment and committing it). The listing is taken before the
//! in-flight set and the records are read, so a segment being committed is
//! never taken for one, and the allocator is first moved past every listed
//! id, so an orphan's id is never handed out again.

use std::collections::{BTreeMap, HashSet};

use bytes::BytesMut;

use super::device::PACK_BYTES;
use super::extent::Located;
use super::rangemap::RangeMap;
use super::segments::Segments;
use crate::store::Store;

/// Live fraction under which a segment is rewritten.
const REWRITE_BELOW: f64 = 0.5;
/// Most live bytes copied in one pass.
const PASS_BYTES: u64 = 64 << 20;

/// Where moved bytes went: per old segment, `(old offset, len, new
/// segment, new offset)` by old offset.
#[derive(Debug, Default)]
pub struct Moves {
    by_segment: BTreeMap<u64, Vec<(u64, u64, u64, u64)>>,
}

impl Moves {
    pub fn is_empty(&self) -> bool {
        self.by_segment.is_empty()
    }

    /// Segments moved from.
    pub fn sources(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_segment.keys().copied()
    }

    /// The new place of `len` bytes at `at`, if they moved (a mapped
    /// stretch always lies inside one moved range).
    pub fn moved(&self, at: &Located, len: u64) -> Option<Located> {
        let ranges = self.by_segment.get(&at.segment)?;
        let i = ranges
            .partition_point(|r| r.0 <= at.offset)
            .checked_sub(1)?;
        let (from, n, segment, to) = ranges[i];
        (at.offset + len <= from + n).then(|| Located {
            segment,
            offset: to + (at.offset - from),
        })
    }

    /// Points every moved stretch of `map` at its copy; answers whether
    /// anything changed.
    pub fn apply(&self, map: &mut RangeMap<Located>) -> bool {
        let changes: Vec<(u64, u64, Located)> = map
            .iter()
            .filter_map(|(start, len, at)| self.moved(at, len).map(|to| (start, len, to)))
            .collect();
        for (start, len, to) in &changes {
            map.insert(*start, *len, *to);
        }
        !changes.is_empty()
    }
}

/// Merged live ranges `(offset, len)` of each segment named by `entries`.
pub fn live_ranges(entries: &[(u64, u64, u64)]) -> BTreeMap<u64, Vec<(u64, u64)>> {
    let mut by: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for &(segment, offset, len) in entries {
        by.entry(segment).or_default().push((offset, len));
    }
    for ranges in by.values_mut() {
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(o, l) in ranges.iter() {
            match merged.last_mut() {
                Some((mo, ml)) if o <= *mo + *ml => *ml = (*ml).max(o + l - *mo),
                _ => merged.push((o, l)),
            }
        }
        *ranges = merged;
    }
    by
}

/// What one look at the segment container found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Segment objects no record names.
    pub orphans: Vec<u64>,
    /// Segments worth rewriting, with their live ranges, oldest first.
    pub sparse: Vec<(u64, Vec<(u64, u64)>)>,
}

/// Lists our segment objects and compares them with the records.
pub async fn survey(
    store: &std::sync::Arc<Store>,
    segments: &Segments,
) -> anyhow::Result<Findings> {
    let listed = segments.store.list_own().await?;
    // An id a crash left stored but unrecorded must never be handed out
    // again, or the object deleted below as an orphan could be a new pack.
    if let Some(max) = listed.iter().map(|(id, _)| *id).max() {
        store.reserve_below(max + 1);
    }
    let in_flight = store.in_flight();
    let s = store.clone();
    let (recorded, entries) = tokio::task::spawn_blocking(move || s.segment_entries()).await??;
    let live = live_ranges(&entries);
    let recorded: HashSet<u64> = recorded.into_iter().collect();
    let mut found = Findings::default();
    let mut budget = PASS_BYTES;
    for (segment, size) in listed {
        if !recorded.contains(&segment) {
            if !in_flight.contains(&segment) {
                found.orphans.push(segment);
            }
            continue;
        }
        let Some(ranges) = live.get(&segment) else {
            continue; // unreferenced: the cleaner's
        };
        let bytes: u64 = ranges.iter().map(|r| r.1).sum();
        if size > 0 && (bytes as f64) < REWRITE_BELOW * size as f64 && bytes <= budget {
            budget -= bytes;
            found.sparse.push((segment, ranges.clone()));
        }
    }
    Ok(found)
}

/// Copies the live ranges of `sparse` into new segments (recorded as
/// written by `compactor`); answers where everything went.
pub async fn copy_live(
    store: &Store,
    segments: &Segments,
    sparse: &[(u64, Vec<(u64, u64)>)],
) -> anyhow::Result<Moves> {
    let mut moves = Moves::default();
    let mut pending: Vec<(u64, u64, u64, u64)> = Vec::new();
    let mut data = BytesMut::new();
    for (i, (segment, ranges)) in sparse.iter().enumerate() {
        for &(offset, len) in ranges {
            let bytes = segments.store.get(*segment, offset, len).await?;
            anyhow::ensure!(
                bytes.len() as u64 == len,
                "segment {segment} is shorter than its extents"
            );
            pending.push((*segment, offset, len, data.len() as u64));
            data.extend_from_slice(&bytes);
        }
        let last = i + 1 == sparse.len();
        if data.len() as u64 >= PACK_BYTES || (last && !data.is_empty()) {
            let id = store.allocate_segment();
            let put = segments.store.put(id, data.split().freeze()).await;
            let recorded = match put {
                Ok(()) => store.record_segment(id, "compactor"),
                Err(e) => Err(e),
            };
            if let Err(e) = recorded {
                store.abandon_segment(id);
                return Err(e);
            }
            for (from, offset, len, to) in pending.drain(..) {
                moves
                    .by_segment
                    .entry(from)
                    .or_default()
                    .push((offset, len, id, to));
            }
        }
    }
    for ranges in moves.by_segment.values_mut() {
        ranges.sort_unstable();
    }
    Ok(moves)
}

#[cfg(test)]
mod tests;
