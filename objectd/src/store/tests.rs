//! Device-level tests: the writer's merge rules, container stats, object
//! versions, data files and expiry, against a real RocksDB in a temp dir.

use bytes::Bytes;

use super::record::{ObjectMeta, ObjectRow, Placement};
use super::writer::ContainerChange;
use super::{DeviceStore, StoreError};
use crate::timestamp::Timestamp;

fn row(ts: u64, deleted: bool, size: u64) -> ObjectRow {
    ObjectRow {
        ts: Timestamp(ts),
        deleted,
        size,
        etag: "e".into(),
        content_type: "t".into(),
    }
}

fn live(ts: u64, body: &[u8]) -> ObjectMeta {
    let mut m = ObjectMeta::tombstone("a/c/o".into(), Timestamp(ts));
    m.deleted = false;
    m.size = body.len() as u64;
    m.blake3 = blake3::hash(body).to_hex().to_string();
    m
}

#[tokio::test]
async fn container_stats_follow_rows_and_block_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dev = DeviceStore::open(0, dir.path()).expect("open");
    let put = ContainerChange::Put {
        ts: Timestamp(1),
        headers: vec![],
        policy: "p".into(),
    };
    dev.container_change(3, "a", "c", put)
        .await
        .expect("create");
    dev.container_row(3, "a", "c", "o1", row(10, false, 5))
        .await
        .expect("row");
    dev.container_row(3, "a", "c", "o2", row(11, false, 7))
        .await
        .expect("row");
    // Overwrite o1 with a bigger body; a stale update changes nothing.
    dev.container_row(3, "a", "c", "o1", row(12, false, 9))
        .await
        .expect("row");
    let info = dev
        .container_row(3, "a", "c", "o1", row(9, false, 100))
        .await
        .expect("row");
    assert_eq!((info.object_count, info.bytes_used), (2, 16));
    let del = ContainerChange::Delete { ts: Timestamp(20) };
    assert!(matches!(
        dev.container_change(3, "a", "c", del).await,
        Err(StoreError::NotEmpty)
    ));
    dev.container_row(3, "a", "c", "o1", row(21, true, 0))
        .await
        .expect("row");
    let info = dev
        .container_row(3, "a", "c", "o2", row(22, true, 0))
        .await
        .expect("row");
    assert_eq!((info.object_count, info.bytes_used), (0, 0));
    let del = ContainerChange::Delete { ts: Timestamp(23) };
    let info = dev
        .container_change(3, "a", "c", del)
        .await
        .expect("delete empty");
    assert!(!info.exists());
}

#[tokio::test]
async fn newer_object_versions_win_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = [7u8; 16];
    {
        let dev = DeviceStore::open(0, dir.path()).expect("open");
        dev.put_object(1, hash, live(10, b"new"), Bytes::from_static(b"new"))
            .await
            .expect("put");
        let stale = dev
            .put_object(1, hash, live(5, b"old"), Bytes::from_static(b"old"))
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict)));
    }
    let dev = DeviceStore::open(0, dir.path()).expect("reopen");
    let got = dev
        .get_object(1, hash)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.inline.as_deref(), Some(&b"new"[..]));
    assert_eq!(got.meta.ts, Timestamp(10));
}

#[tokio::test]
async fn file_objects_commit_and_replace_old_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dev = DeviceStore::open(0, dir.path()).expect("open");
    let hash = [9u8; 16];
    for ts in [10, 11] {
        let body = vec![ts as u8; 100_000];
        let mut up = dev.start_upload(true).expect("upload");
        up.write(&body).expect("write");
        let mut meta = live(ts, &body);
        meta.placement = Placement::File;
        dev.put_file_object(2, hash, meta, up)
            .await
            .expect("commit");
    }
    assert!(
        !dev.data_path(2, &hash, Timestamp(10)).exists(),
        "old data file removed"
    );
    let path = dev.data_path(2, &hash, Timestamp(11));
    let trailer = super::data_file::read_trailer(&path).expect("trailer");
    assert_eq!(trailer.ts, Timestamp(11));
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[tokio::test]
async fn expired_objects_are_listed_and_purged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dev = DeviceStore::open(0, dir.path()).expect("open");
    let mut meta = live(10, b"x");
    meta.delete_at = Some(100);
    dev.put_object(4, [1; 16], meta, Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert!(dev.expired(99, 10).await.expect("scan").is_empty());
    let due = dev.expired(100, 10).await.expect("scan");
    assert_eq!(due, vec![(4, [1; 16], Timestamp(10))]);
    assert!(dev
        .purge_object(4, [1; 16], Timestamp(10))
        .await
        .expect("purge")
        .is_some());
    assert!(dev.get_object(4, [1; 16]).await.expect("get").is_none());
    assert!(dev.expired(1000, 10).await.expect("scan").is_empty());
}
