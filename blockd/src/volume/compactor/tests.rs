//! Compaction: the range arithmetic, and a whole pass over a service
//! with in-memory segments (a sparse segment rewritten under a volume and
//! a snapshot, an orphan deleted, the data unchanged).

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::device::BlockDevice;
use crate::nbd::Exports;
use crate::records::{SnapshotRecord, VolumeRecord};
use crate::service::{BlockService, Source};
use crate::volume::cleaner::Cleaner;
use crate::volume::segments::{MemSegments, SegmentStore};

#[test]
fn live_ranges_merge_overlaps_across_maps() {
    let live = live_ranges(&[(1, 0, 10), (1, 5, 10), (1, 30, 5), (2, 0, 4), (1, 15, 1)]);
    assert_eq!(live[&1], vec![(0, 16), (30, 5)]);
    assert_eq!(live[&2], vec![(0, 4)]);
}

#[test]
fn moves_rewrite_only_moved_stretches() {
    let mut moves = Moves::default();
    moves
        .by_segment
        .insert(7, vec![(0, 16, 9, 100), (30, 5, 9, 116)]);
    let mut map = RangeMap::new();
    map.insert(
        0,
        8,
        Located {
            segment: 7,
            offset: 4,
        },
    );
    map.insert(
        8,
        5,
        Located {
            segment: 7,
            offset: 30,
        },
    );
    map.insert(
        13,
        3,
        Located {
            segment: 8,
            offset: 0,
        },
    );
    assert!(moves.apply(&mut map));
    let got: Vec<_> = map.iter().map(|(s, l, v)| (s, l, *v)).collect();
    assert_eq!(
        got,
        vec![
            (
                0,
                8,
                Located {
                    segment: 9,
                    offset: 104
                }
            ),
            (
                8,
                5,
                Located {
                    segment: 9,
                    offset: 116
                }
            ),
            (
                13,
                3,
                Located {
                    segment: 8,
                    offset: 0
                }
            ),
        ]
    );
    assert!(!moves.apply(&mut map), "nothing left to move");
}

fn volume(id: &str) -> VolumeRecord {
    VolumeRecord {
        id: id.into(),
        project_id: "p".into(),
        user_id: "u".into(),
        name: None,
        description: None,
        size: 1,
        status: "creating".into(),
        volume_type: "__DEFAULT__".into(),
        snapshot_id: None,
        source_volid: None,
        created_at: String::new(),
        updated_at: None,
        metadata: Default::default(),
        bootable: false,
        image_metadata: None,
        attachments: Vec::new(),
    }
}

fn snapshot(id: &str, volume: &str) -> SnapshotRecord {
    SnapshotRecord {
        id: id.into(),
        volume_id: volume.into(),
        project_id: "p".into(),
        user_id: "u".into(),
        name: None,
        description: None,
        size: 1,
        status: "creating".into(),
        created_at: String::new(),
        updated_at: None,
        metadata: Default::default(),
    }
}

async fn write(d: &Arc<crate::volume::VolumeDevice>, offset: u64, byte: u8, len: usize) {
    let d2 = d.clone();
    tokio::task::spawn_blocking(move || d2.write_at(&vec![byte; len], offset).unwrap())
        .await
        .unwrap();
    d.pack().await.unwrap();
}

async fn read(d: &Arc<crate::volume::VolumeDevice>, len: usize) -> Vec<u8> {
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let mut b = vec![0xEEu8; len];
        d.read_at(&mut b, 0).unwrap();
        b
    })
    .await
    .unwrap()
}

fn segments_named(store: &Store, map: &str) -> Vec<u64> {
    let mut v: Vec<u64> = store
        .load_map(map)
        .unwrap()
        .iter()
        .map(|(_, _, l)| l.segment)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_rewrites_sparse_segments_and_deletes_orphans() {
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mem = Arc::new(MemSegments::default());
    let svc = BlockService::open(
        dir.path().to_path_buf(),
        mem.clone(),
        8 << 20,
        0,
        Arc::new(Exports::default()),
        crate::service::NbdEndpoint {
            addr: "127.0.0.1:10809".parse().unwrap(),
            tls: false,
        },
        None,
    )
    .await
    .unwrap();
    svc.create_volume(volume("v"), Source::Empty).await.unwrap();
    let d = svc.device("v").unwrap();
    write(&d, 0, 0xA1, 4 * MIB).await;
    let first = segments_named(&svc.store, "v");
    assert_eq!(first.len(), 1);
    // Three quarters of the first segment overwritten: a quarter is live.
    write(&d, 0, 0xB2, 3 * MIB).await;
    svc.create_snapshot(snapshot("s", "v")).await.unwrap();
    let mut want = vec![0xB2u8; 3 * MIB];
    want.extend(vec![0xA1u8; MIB]);
    assert_eq!(read(&d, 4 * MIB).await, want);
    // An object no record names: a pack that died before committing.
    mem.put(9_999, Bytes::from_static(b"orphan")).await.unwrap();

    assert_eq!(svc.compact().await.unwrap(), (1, 1));
    assert!(!mem.objects.lock().unwrap().contains_key(&9_999));
    assert!(
        svc.store.allocate_segment() > 9_999,
        "an orphan's id is never handed out again"
    );
    for map in ["v", "s"] {
        assert!(
            !segments_named(&svc.store, map).contains(&first[0]),
            "{map} still names the rewritten segment"
        );
    }
    let mut cleaner = Cleaner::default();
    cleaner.sweep(&svc.store, &svc.segments).await.unwrap();
    cleaner.sweep(&svc.store, &svc.segments).await.unwrap();
    assert!(!mem.objects.lock().unwrap().contains_key(&first[0]));
    assert_eq!(read(&d, 4 * MIB).await, want, "the volume reads the copy");
    // Nothing is sparse any more.
    assert_eq!(svc.compact().await.unwrap(), (0, 0));
}
