//! The volume data path against in-memory segments and a temporary
//! RocksDB: overlay reads, packing into segments, holes, journal replay.

use std::sync::Arc;

use super::*;
use crate::volume::buffers::WriteBuffers;
use crate::volume::segments::MemSegments;

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    mem: Arc<MemSegments>,
    segments: Arc<Segments>,
    buffers: Arc<WriteBuffers>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("meta")).unwrap());
        let mem = Arc::new(MemSegments::default());
        let segments = Arc::new(Segments::new(mem.clone(), 1 << 20));
        Fixture {
            dir,
            store,
            mem,
            segments,
            buffers: Arc::default(),
        }
    }

    fn open(&self, id: &str) -> Arc<VolumeDevice> {
        Arc::new(
            VolumeDevice::open(
                id,
                16 << 20,
                self.dir.path().join("journals"),
                self.store.clone(),
                self.segments.clone(),
                Handle::current(),
                self.buffers.clone(),
            )
            .unwrap(),
        )
    }
}

async fn on_thread<T: Send + 'static>(
    d: &Arc<VolumeDevice>,
    f: impl FnOnce(&VolumeDevice) -> T + Send + 'static,
) -> T {
    let d = d.clone();
    tokio::task::spawn_blocking(move || f(&d)).await.unwrap()
}

async fn read(d: &Arc<VolumeDevice>, offset: u64, len: usize) -> Vec<u8> {
    on_thread(d, move |d| {
        let mut b = vec![0xAAu8; len];
        d.read_at(&mut b, offset).unwrap();
        b
    })
    .await
}

async fn write(d: &Arc<VolumeDevice>, offset: u64, data: Vec<u8>) {
    on_thread(d, move |d| d.write_at(&data, offset).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_writes_before_and_after_packing() {
    let f = Fixture::new();
    let d = f.open("v1");
    assert_eq!(read(&d, 0, 8192).await, vec![0u8; 8192], "thin: zeros");
    write(&d, 1000, vec![1u8; 5000]).await;
    write(&d, 3000, vec![2u8; 100]).await;
    let expect = |b: &[u8]| {
        assert!(b[..1000].iter().all(|x| *x == 0));
        assert!(b[1000..3000].iter().all(|x| *x == 1));
        assert!(b[3000..3100].iter().all(|x| *x == 2));
        assert!(b[3100..6000].iter().all(|x| *x == 1));
        assert!(b[6000..].iter().all(|x| *x == 0));
    };
    expect(&read(&d, 0, 8192).await);
    assert!(d.pack().await.unwrap());
    assert!(!d.pack().await.unwrap(), "nothing left to pack");
    assert_eq!(f.mem.objects.lock().unwrap().len(), 1);
    expect(&read(&d, 0, 8192).await);
    // A write over packed data shadows it; a trim makes a hole.
    write(&d, 2000, vec![3u8; 10]).await;
    on_thread(&d, |d| d.trim(4096, 4096).unwrap()).await;
    let b = read(&d, 0, 8192).await;
    assert_eq!(&b[2000..2010], &[3u8; 10]);
    assert!(b[4096..].iter().all(|x| *x == 0));
    let ext = on_thread(&d, |d| d.extents(0, 16 << 20).unwrap()).await;
    assert_eq!(
        ext,
        vec![
            Extent {
                len: 1000,
                hole: true
            },
            Extent {
                len: 3096,
                hole: false
            },
            Extent {
                len: (16 << 20) - 4096,
                hole: true
            }
        ]
    );
    d.pack().await.unwrap();
    let b2 = read(&d, 0, 8192).await;
    assert_eq!(b, b2, "same bytes from segments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_replay_restores_unpacked_writes() {
    let f = Fixture::new();
    let d = f.open("v2");
    write(&d, 0, vec![5u8; 4096]).await;
    d.pack().await.unwrap();
    write(&d, 4096, vec![6u8; 4096]).await;
    on_thread(&d, |d| d.flush().unwrap()).await;
    drop(d);
    let d = f.open("v2");
    let b = read(&d, 0, 8192).await;
    assert!(b[..4096].iter().all(|x| *x == 5));
    assert!(b[4096..].iter().all(|x| *x == 6));
    d.pack().await.unwrap();
    drop(d);
    let d = f.open("v2");
    assert_eq!(read(&d, 4096, 4096).await, vec![6u8; 4096]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_map_keeps_old_bytes_for_a_clone() {
    let f = Fixture::new();
    let d = f.open("src");
    write(&d, 0, vec![7u8; 4096]).await;
    let frozen = d.frozen_map().await.unwrap();
    f.store.save_map("clone", &frozen).unwrap();
    write(&d, 0, vec![8u8; 4096]).await;
    d.pack().await.unwrap();
    let c = f.open("clone");
    assert_eq!(read(&c, 0, 4096).await, vec![7u8; 4096]);
    assert_eq!(read(&d, 0, 4096).await, vec![8u8; 4096]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_reads_across_cached_and_missing_pieces() {
    let f = Fixture::new();
    let d = f.open("v3");
    let data: Vec<u8> = (0..600 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    write(&d, 4096, data.clone()).await;
    d.pack().await.unwrap();
    let segment = *f.mem.objects.lock().unwrap().keys().next().unwrap();
    f.segments.cache.forget(segment);
    // A small read caches one piece in the middle; larger reads then mix
    // cached pieces and runs of missing ones.
    assert_eq!(read(&d, 4096 + 200_000, 10).await, data[200_000..200_010]);
    for (at, len) in [(0usize, 600 * 1024), (70_000, 300_000), (131_071, 2)] {
        assert_eq!(
            read(&d, 4096 + at as u64, len).await,
            data[at..at + len],
            "{at}+{len}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeroing_without_a_hole_stays_allocated() {
    let f = Fixture::new();
    let d = f.open("v4");
    write(&d, 0, vec![9u8; 8192]).await;
    on_thread(&d, |d| {
        d.write_zeroes(0, 4096, false).unwrap();
        d.write_zeroes(4096, 4096, true).unwrap();
        // Longer than the shared zero buffer.
        d.write_zeroes(1 << 20, 3 << 20, false).unwrap();
    })
    .await;
    let expect = vec![
        Extent {
            len: 4096,
            hole: false,
        },
        Extent {
            len: (1 << 20) - 4096,
            hole: true,
        },
        Extent {
            len: 3 << 20,
            hole: false,
        },
        Extent {
            len: 12 << 20,
            hole: true,
        },
    ];
    for packed in [false, true] {
        assert_eq!(read(&d, 0, 8192).await, vec![0u8; 8192], "packed: {packed}");
        assert_eq!(read(&d, 1 << 20, 3 << 20).await, vec![0u8; 3 << 20]);
        let ext = on_thread(&d, |d| d.extents(0, 16 << 20).unwrap()).await;
        assert_eq!(ext, expect, "packed: {packed}");
        d.pack().await.unwrap();
    }
    assert!(!d.zeroes_fast(false) && d.zeroes_fast(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_calls_serve_memory_and_decline_the_rest() {
    let f = Fixture::new();
    let d = f.open("v5");
    assert!(
        d.try_write_at(&[4u8; 4096], 0).unwrap(),
        "the journal has room"
    );
    let mut b = vec![0u8; 4096];
    assert!(d.try_read_at(&mut b, 0).unwrap(), "the overlay is memory");
    assert_eq!(b, vec![4u8; 4096]);
    d.pack().await.unwrap();
    assert!(d.try_read_at(&mut b, 0).unwrap(), "cached as it was packed");
    let segment = *f.mem.objects.lock().unwrap().keys().next().unwrap();
    f.segments.cache.forget(segment);
    assert!(!d.try_read_at(&mut b, 0).unwrap(), "not cached: declined");
    assert_eq!(read(&d, 0, 4096).await, vec![4u8; 4096]);
    b.fill(0);
    assert!(d.try_read_at(&mut b, 0).unwrap(), "now it is");
    assert_eq!(b, vec![4u8; 4096]);
    let ext = d.try_extents(0, 8192).unwrap().unwrap();
    assert_eq!(ext.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_commit_in_order_and_a_failed_one_is_retried_first() {
    use std::sync::atomic::Ordering::SeqCst;
    let f = Fixture::new();
    let d = f.open("v9");
    // A pack that fails keeps its overlay readable and sealed.
    write(&d, 0, vec![1u8; 8192]).await;
    f.mem.failing_puts.store(1, SeqCst);
    assert!(d.pack().await.is_err());
    assert_eq!(read(&d, 0, 8192).await, vec![1u8; 8192]);
    assert!(
        d.wants_pack(Duration::from_secs(3600)),
        "the failed one waits"
    );
    // Newer data over it; the next pack retries the older overlay first.
    write(&d, 4096, vec![2u8; 4096]).await;
    assert!(d.pack().await.unwrap());
    let mut expect = vec![1u8; 4096];
    expect.extend_from_slice(&[2u8; 4096]);
    assert_eq!(read(&d, 0, 8192).await, expect);
    assert!(d.pack().await.unwrap());
    assert_eq!(f.mem.objects.lock().unwrap().len(), 2);
    // Two packs at once: the older one stores slowly, and the newer one
    // (over the same range) waits to commit after it.
    write(&d, 0, vec![3u8; 4096]).await;
    f.mem.slow_put_ms.store(300, SeqCst);
    let slow = {
        let d = d.clone();
        tokio::spawn(async move { d.pack().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    write(&d, 0, vec![4u8; 4096]).await;
    assert!(d.pack().await.unwrap());
    assert!(slow.await.unwrap().unwrap());
    expect[..4096].fill(4);
    assert_eq!(read(&d, 0, 8192).await, expect);
    drop(d);
    let d = f.open("v9");
    assert_eq!(
        read(&d, 0, 8192).await,
        expect,
        "the newer bytes were committed last"
    );
    // A snapshot's map holds everything written before it.
    write(&d, 8192, vec![5u8; 4096]).await;
    let map = d.frozen_map().await.unwrap();
    assert!(map.lookup(8192, 4096).iter().all(|s| s.value.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_status_over_a_huge_range_stops_at_enough_extents() {
    let f = Fixture::new();
    let d = f.open("v10");
    let huge = 1u64 << 50;
    let empty = on_thread(&d, move |d| d.extents(0, huge).unwrap()).await;
    assert_eq!(
        empty,
        vec![Extent {
            len: huge,
            hole: true
        }]
    );
    for i in 0..600u64 {
        write(&d, i * 8192, vec![1u8; 4096]).await;
    }
    d.pack().await.unwrap();
    let ext = on_thread(&d, move |d| d.extents(0, huge).unwrap()).await;
    assert!(ext.len() >= 1024, "{} extents", ext.len());
    assert_eq!(
        ext.iter().map(|e| e.len).sum::<u64>(),
        1 << 30,
        "one window"
    );
    assert!(!ext[0].hole && ext[1].hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_volume_gives_its_recycled_journal_space_back() {
    let f = Fixture::new();
    let d = f.open("v11");
    let dir = f.dir.path().join("journals").join("v11");
    for round in 0..3u8 {
        write(&d, 0, vec![round; 1 << 20]).await;
        d.pack().await.unwrap();
    }
    assert!(
        dir.join("spare.jnl").exists(),
        "a packed generation is kept"
    );
    write(&d, 4096, vec![9u8; 4096]).await;
    on_thread(&d, |d| d.flush().unwrap()).await;
    d.shrink_journal_if_idle(Duration::from_secs(3600)).unwrap();
    assert!(dir.join("spare.jnl").exists(), "not quiet yet");
    d.shrink_journal_if_idle(Duration::ZERO).unwrap();
    assert!(!dir.join("spare.jnl").exists());
    let journal_bytes: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(journal_bytes < 8192 + 64, "{journal_bytes} bytes left");
    drop(d);
    let d = f.open("v11");
    let b = read(&d, 0, 8192).await;
    assert!(b[..4096].iter().all(|x| *x == 2));
    assert!(b[4096..].iter().all(|x| *x == 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_wide_write_bound_holds_writers_until_packs_give_memory_back() {
    let mut f = Fixture::new();
    f.buffers = Arc::new(WriteBuffers::new(1 << 20));
    let (a, b) = (f.open("a"), f.open("b"));
    let half = vec![7u8; 512 << 10];
    let taken = on_thread(&a, move |d| {
        (0..4)
            .map(|i| d.try_write_at(&half, i * (512 << 10)).unwrap())
            .collect::<Vec<_>>()
    })
    .await;
    assert_eq!(taken, [true, true, false, false], "full at 1 MiB");
    assert_eq!(f.buffers.held(), 1 << 20);
    // A volume holding nothing may still write (none starves), once.
    let one = vec![1u8; 4096];
    let b_took = on_thread(&b, move |d| {
        [
            d.try_write_at(&one, 0).unwrap(),
            d.try_write_at(&one, 4096).unwrap(),
        ]
    })
    .await;
    assert_eq!(b_took, [true, false]);
    // Full buffers make every holder want a pack, however little it holds.
    assert!(b.wants_pack(Duration::from_secs(3600)));
    assert!(a.pack().await.unwrap());
    assert_eq!(f.buffers.held(), 4096, "a's pack gave its bytes back");
    assert!(on_thread(&a, |d| d.try_write_at(&[2u8; 4096], 0).unwrap()).await);
    assert_eq!(read(&a, 0, 4096).await, vec![2u8; 4096]);
    assert_eq!(read(&a, 4096, 4096).await, vec![7u8; 4096]);
    // A device that goes away gives back what it held.
    drop(b);
    assert_eq!(f.buffers.held(), 4096);
    drop(a);
    assert_eq!(f.buffers.held(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushes_sync_only_what_no_sync_covers_yet() {
    let f = Fixture::new();
    let d = f.open("group");
    let flush = |d: &Arc<VolumeDevice>| {
        let d = d.clone();
        async move { on_thread(&d, |d| d.flush().unwrap()).await }
    };
    // The first flush after open syncs (replayed records may be unsynced).
    flush(&d).await;
    assert_eq!(d.syncs(), 1);
    flush(&d).await;
    assert_eq!(d.syncs(), 1, "nothing new: no sync");
    write(&d, 0, vec![1u8; 4096]).await;
    flush(&d).await;
    assert_eq!(d.syncs(), 2, "a write since: a sync");
    // Many flushes at once after one write: each returns once the write
    // is synced, sharing syncs.
    write(&d, 4096, vec![2u8; 4096]).await;
    let all: Vec<_> = (0..16).map(|_| flush(&d)).collect();
    futures::future::join_all(all).await;
    assert_eq!(d.syncs(), 3, "16 flushes of one write share one sync");
    // What was flushed survives a reopen that replays the journal.
    drop(d);
    let d = f.open("group");
    assert_eq!(read(&d, 0, 8192).await[4096..], vec![2u8; 4096][..]);
}

/// A volume `id` under a 1 MiB service-wide bound, filled to it with
/// flushed 1s, and a 4 KiB write of 2s past them, waiting for room.
async fn writer_waiting_for_room(
    id: &str,
) -> (
    Fixture,
    Arc<VolumeDevice>,
    tokio::task::JoinHandle<io::Result<()>>,
) {
    let mut f = Fixture::new();
    f.buffers = Arc::new(WriteBuffers::new(1 << 20));
    let d = f.open(id);
    write(&d, 0, vec![1u8; 1 << 20]).await;
    on_thread(&d, |d| d.flush().unwrap()).await;
    let waiting = {
        let d = d.clone();
        tokio::task::spawn_blocking(move || d.write_at(&[2u8; 4096], 1 << 20))
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the writer waits for room");
    (f, d, waiting)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_stops_the_volume_and_releases_its_waiting_writers() {
    use std::sync::atomic::Ordering::SeqCst;
    let (f, d, waiting) = writer_waiting_for_room("full").await;
    // The pack's metadata commit fails (a full disk, say).
    f.store.failing_commits.store(1, SeqCst);
    assert!(d.pack().await.is_err());
    let refused = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting writer is released")
        .unwrap();
    assert!(refused.is_err(), "and its write fails");
    assert!(read_fails(&d).await, "the stopped volume serves nothing");
    assert!(!d.wants_pack(Duration::ZERO), "nor packs");
    assert_eq!(f.buffers.held(), 0, "its memory went back");
    // A restart replays the flushed journal.
    drop(d);
    let d = f.open("full");
    assert_eq!(read(&d, 0, 4096).await, vec![1u8; 4096]);
}

async fn read_fails(d: &Arc<VolumeDevice>) -> bool {
    on_thread(d, |d| d.read_at(&mut [0u8; 4096], 0).is_err()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_waiting_for_room_give_up_once_packing_has_stopped() {
    let (f, d, waiting) = writer_waiting_for_room("stopping").await;
    f.buffers.stop_packing();
    let refused = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting writer is released")
        .unwrap();
    assert!(refused.is_err(), "its write fails: nothing was recorded");
    assert_eq!(read(&d, 1 << 20, 4096).await, vec![0u8; 4096]);
    assert_eq!(read(&d, 0, 4096).await, vec![1u8; 4096]);
}
