//! In-process tests of the replicator over real devices in a temp dir:
//! passes that check only written partitions, and a lost replica restored.

use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{replicator, Settings, Stats};
use crate::proxy::put::BodySpec;
use crate::proxy::Cluster;
use crate::store::record::ObjectMeta;
use crate::timestamp::Timestamp;

fn settings() -> Settings {
    Settings {
        replicator_interval: Duration::from_secs(1),
        replicator_bytes_per_sec: 0,
        auditor_interval: Duration::from_secs(1),
        auditor_bytes_per_sec: 0,
        expirer_interval: Duration::from_secs(1),
        updater_interval: Duration::from_secs(1),
        reclaim_age: Duration::from_secs(3600),
    }
}

fn cluster(dir: &std::path::Path) -> Cluster {
    Cluster::on_local_devices(dir, 4)
}

#[tokio::test(flavor = "multi_thread")]
async fn passes_check_written_partitions_and_restore_lost_replicas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = cluster(dir.path());
    let (stats, stop) = (Stats::default(), CancellationToken::new());
    let mut meta = ObjectMeta::tombstone("AUTH_a/c/o".into(), Timestamp::now());
    meta.deleted = false;
    let spec = BodySpec {
        content_length: Some(5),
        expected_etag: None,
        max_size: 1 << 30,
        page_cache: true,
    };
    let body = Box::pin(futures::stream::iter([Ok(Bytes::from_static(b"hello"))]));
    c.put_object("c", "o", meta, &spec, body)
        .await
        .expect("put");

    // Listing updates are queued behind the PUT; passes settle once they land.
    let mut checked = 0;
    let mut settled = false;
    for _ in 0..50 {
        let r = replicator::pass(&c, false, &settings(), &stats, &stop).await;
        checked += r.partitions;
        if r.pushed == 0 {
            settled = true;
            break;
        }
        // Queued account rows land with the device's next batch.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(checked > 0, "written partitions are checked");
    assert!(settled, "replicas come to agree");
    let idle = replicator::pass(&c, false, &settings(), &stats, &stop).await;
    assert_eq!(idle.partitions, 0, "an idle pass checks nothing");

    // One replica loses the object; the next pass puts it back.
    let place = c.primaries("AUTH_a", Some("c"), Some("o"));
    let victim = &place.nodes[1];
    let ts = victim
        .get_object(place.part, place.hash)
        .await
        .expect("read")
        .expect("present")
        .meta
        .ts;
    victim
        .local()
        .expect("devices are local")
        .purge_object(place.part, place.hash, ts)
        .await
        .expect("purge");
    assert!(victim
        .get_object(place.part, place.hash)
        .await
        .expect("read")
        .is_none());
    let repair = replicator::pass(&c, false, &settings(), &stats, &stop).await;
    assert!(
        repair.pushed >= 1,
        "the lost replica is pushed back: {repair:?}"
    );
    let back = victim
        .get_object(place.part, place.hash)
        .await
        .expect("read")
        .expect("restored");
    assert_eq!(back.inline.as_deref(), Some(&b"hello"[..]));
    let full = replicator::pass(&c, true, &settings(), &stats, &stop).await;
    assert_eq!(
        full.pushed, 0,
        "a full pass finds everything in sync: {full:?}"
    );
    assert!(full.partitions > 0);
}
