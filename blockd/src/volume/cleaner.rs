//! The segment cleaner: a mark phase over every extent map (volumes and
//! snapshots, read from one consistent RocksDB view) finds the segments no
//! map refers to; a segment found unreferenced by two passes in a row is
//! deleted from the object store and forgotten. The second look gives
//! reads planned just before an overwrite time to finish. Shared segments
//! (snapshots, clones) stay as long as any map names them.

use std::collections::HashSet;
use std::sync::Arc;

use crate::store::Store;

use super::segments::Segments;

/// Remembers what the previous pass found unreferenced.
#[derive(Default)]
pub struct Cleaner {
    unreferenced: HashSet<u64>,
}

impl Cleaner {
    /// Whether the last pass found segments to delete on the next one.
    pub fn has_candidates(&self) -> bool {
        !self.unreferenced.is_empty()
    }

    /// One pass; answers how many segments were deleted.
    pub async fn sweep(
        &mut self,
        store: &Arc<Store>,
        segments: &Segments,
    ) -> anyhow::Result<usize> {
        let s = store.clone();
        let (all, used) = tokio::task::spawn_blocking(move || s.segment_usage()).await??;
        let unreferenced: HashSet<u64> = all.into_iter().filter(|s| !used.contains(s)).collect();
        let doomed: Vec<u64> = unreferenced
            .intersection(&self.unreferenced)
            .copied()
            .collect();
        let mut deleted = Vec::new();
        for seg in &doomed {
            match segments.store.delete(*seg).await {
                Ok(()) => {
                    segments.cache.forget(*seg);
                    deleted.push(*seg);
                }
                Err(e) => tracing::warn!(segment = seg, "cannot delete segment: {e:#}"),
            }
        }
        let s = store.clone();
        let gone = deleted.clone();
        tokio::task::spawn_blocking(move || s.forget_segments(&gone)).await??;
        self.unreferenced = unreferenced
            .into_iter()
            .filter(|s| !deleted.contains(s))
            .collect();
        if !deleted.is_empty() {
            tracing::info!(deleted = deleted.len(), "segment cleaner pass");
        }
        Ok(deleted.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::extent::Located;
    use crate::volume::rangemap::RangeMap;
    use crate::volume::segments::{MemSegments, SegmentStore};
    use bytes::Bytes;

    #[tokio::test]
    async fn deletes_only_segments_no_map_names_after_two_passes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let mem = Arc::new(MemSegments::default());
        let segments = Segments::new(mem.clone(), 1 << 20);
        let mut map = RangeMap::new();
        for seg in [1u64, 2] {
            mem.put(seg, Bytes::from_static(b"x")).await.unwrap();
            map.insert(
                seg * 10,
                1,
                Located {
                    segment: seg,
                    offset: 0,
                },
            );
            store.commit_pack("vol", &mut map, Some(seg), seg).unwrap();
        }
        // A snapshot shares segment 1 only.
        let mut snap = RangeMap::new();
        snap.load(
            10,
            1,
            Located {
                segment: 1,
                offset: 0,
            },
        );
        store.save_map("snap", &snap).unwrap();
        let mut cleaner = Cleaner::default();
        assert_eq!(cleaner.sweep(&store, &segments).await.unwrap(), 0);
        store.delete_map("vol").unwrap();
        assert_eq!(
            cleaner.sweep(&store, &segments).await.unwrap(),
            0,
            "first look"
        );
        assert!(cleaner.has_candidates());
        assert_eq!(cleaner.sweep(&store, &segments).await.unwrap(), 1);
        let left: Vec<u64> = mem.objects.lock().unwrap().keys().copied().collect();
        assert_eq!(left, vec![1], "the snapshot's segment stays");
        store.delete_map("snap").unwrap();
        cleaner.sweep(&store, &segments).await.unwrap();
        cleaner.sweep(&store, &segments).await.unwrap();
        assert!(mem.objects.lock().unwrap().is_empty());
    }
}
