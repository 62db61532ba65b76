//! The segment cleaner: a mark phase over every extent map (volumes and
//! snapshots, read from one consistent RocksDB view) finds the segments no
//! map refers to; a segment found unreferenced by two passes in a row is
//! deleted from the object store and forgotten. The second look gives
//! reads planned just before an overwrite time to finish. Shared segments
//! (snapshots, clones) stay as long as any map names them. A shared
//! segment (another account's object) is not deleted but forgotten, and
//! its clone marker goes once no remaining shared segment names it.

use std::collections::HashSet;
use std::sync::Arc;

use crate::store::Store;

use super::segments::Segments;
use super::shared::{Marker, SharedObject};

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
        let mut shared = Vec::new();
        for seg in &doomed {
            if let Some(o) = segments.shared(*seg) {
                shared.push((*seg, o));
                continue;
            }
            match segments.store.delete(*seg).await {
                Ok(()) => {
                    segments.forget(*seg);
                    deleted.push(*seg);
                }
                Err(e) => tracing::warn!(segment = seg, "cannot delete segment: {e:#}"),
            }
        }
        let unshared = release_markers(segments, shared).await;
        deleted.extend(&unshared);
        let s = store.clone();
        let gone = deleted.clone();
        tokio::task::spawn_blocking(move || s.forget_segments(&gone)).await??;
        for seg in unshared {
            segments.remove_shared(seg);
            segments.forget(seg);
        }
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

/// Removes the clone markers that only `doomed` shared segments name;
/// answers the segments that may be forgotten (those whose marker stays
/// for others, or is gone). A marker that cannot be removed keeps its
/// segments for the next pass.
async fn release_markers(segments: &Segments, doomed: Vec<(u64, Arc<SharedObject>)>) -> Vec<u64> {
    let ids: HashSet<u64> = doomed.iter().map(|(s, _)| *s).collect();
    let mut markers: Vec<&Marker> = doomed.iter().map(|(_, o)| &o.marker).collect();
    markers.sort_by(|a, b| a.object.cmp(&b.object));
    markers.dedup();
    let mut kept = HashSet::new();
    for m in markers {
        if segments.marker_in_use_beyond(m, &ids) {
            continue;
        }
        if let Err(e) = segments.store.unmark(m).await {
            tracing::warn!(marker = %m.object, "cannot remove clone marker: {e:#}");
            kept.insert(m.clone());
        }
    }
    doomed
        .iter()
        .filter(|(_, o)| !kept.contains(&o.marker))
        .map(|(s, _)| *s)
        .collect()
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

    #[tokio::test]
    async fn shared_segments_release_their_marker_when_the_last_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let mem = Arc::new(MemSegments::default());
        let segments = Segments::new(mem.clone(), 1 << 20);
        let marker = Marker {
            account: "AUTH_img".into(),
            container: "clones".into(),
            object: "image/vol".into(),
        };
        mem.mark(&marker).await.unwrap();
        let shared = |n: u64| SharedObject {
            account: "AUTH_img".into(),
            container: "images".into(),
            object: format!("image/{n:05}"),
            marker: marker.clone(),
        };
        for n in [0u64, 1] {
            mem.shared.lock().unwrap().insert(
                format!("AUTH_img/images/image/{n:05}"),
                Bytes::from(vec![n as u8; 8]),
            );
        }
        let mut map = RangeMap::new();
        let list: Vec<(u64, SharedObject)> = (0..2)
            .map(|n| {
                let seg = store.allocate_segment();
                map.load(
                    n * 8,
                    8,
                    Located {
                        segment: seg,
                        offset: 0,
                    },
                );
                (seg, shared(n))
            })
            .collect();
        for (seg, o) in &list {
            segments.add_shared(*seg, o.clone());
        }
        store.save_shared_map("vol", &map, &list).unwrap();
        let mut buf = [0u8; 4];
        segments.read(list[1].0, 2, &mut buf).await.unwrap();
        assert_eq!(buf, [1; 4], "reads come from the shared object");
        // A snapshot keeps the second object only.
        let mut snap = RangeMap::new();
        snap.load(
            8,
            8,
            Located {
                segment: list[1].0,
                offset: 0,
            },
        );
        store.save_map("snap", &snap).unwrap();
        store.delete_map("vol").unwrap();
        let mut cleaner = Cleaner::default();
        cleaner.sweep(&store, &segments).await.unwrap();
        assert_eq!(cleaner.sweep(&store, &segments).await.unwrap(), 1);
        assert!(
            mem.markers.lock().unwrap().contains(&marker),
            "still shared"
        );
        assert_eq!(store.shared_segments().unwrap().len(), 1);
        store.delete_map("snap").unwrap();
        cleaner.sweep(&store, &segments).await.unwrap();
        cleaner.sweep(&store, &segments).await.unwrap();
        assert!(mem.markers.lock().unwrap().is_empty(), "marker released");
        assert!(store.shared_segments().unwrap().is_empty());
        assert_eq!(
            mem.shared.lock().unwrap().len(),
            2,
            "the image's objects stay"
        );
    }
}
