//! System tests of objectd as separate processes: three storage hosts and a
//! proxy on loopback (`MultiHost`), with real kills. Each test checks what
//! is read back and what each device holds (`/recon/devices`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_tests::multihost::MultiHost;
use cairn_tests::{files_under, random_bytes, wait_until, Swift};
use futures::StreamExt;
use http::StatusCode;

/// Longest wait for the daemons to converge.
const SETTLE: Duration = Duration::from_secs(180);

/// `n` objects; every tenth holds a data file, the rest are inline.
fn objects(prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let size = if i % 10 == 0 {
                100 * 1024 + i
            } else {
                1 + i % 4096
            };
            (format!("{prefix}{i:04}"), random_bytes(size))
        })
        .collect()
}

async fn upload_all(s: &Swift, container: &str, objs: &[(String, Vec<u8>)]) {
    futures::stream::iter(objs)
        .for_each_concurrent(16, |(name, body)| async move {
            s.put_object(container, name, body).await;
        })
        .await;
}

/// Panics unless every object reads back byte-exact.
async fn assert_readable(s: &Swift, container: &str, objs: &[(String, Vec<u8>)]) {
    let bad: Vec<String> = futures::stream::iter(objs)
        .map(|(name, body)| async move {
            let r = s.get(&format!("/{container}/{name}")).await;
            (r.status != StatusCode::OK || r.body[..] != body[..])
                .then(|| format!("{name}: {} ({} bytes)", r.status, r.body.len()))
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(bad.is_empty(), "objects not read back: {bad:?}");
}

async fn settle(mh: &MultiHost, objects: u64) {
    let settled = wait_until(SETTLE, || mh.settled(objects, 3)).await;
    assert!(
        settled,
        "not settled to {objects} x 3 without handoffs: {:?}\nhost logs:\n{}",
        mh.devices().await,
        (0..mh.hosts.len())
            .map(|h| mh.host_log(h))
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_killed_during_uploads_loses_nothing_acknowledged_and_heals() {
    let mut mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("c").await;
    let objs = Arc::new(objects("k", 1000));
    let done = Arc::new(AtomicUsize::new(0));
    let uploads = {
        let (s, objs, done) = (s.clone(), objs.clone(), done.clone());
        tokio::spawn(async move {
            let n = objs.len();
            futures::stream::iter(0..n)
                .map(move |i| {
                    let (s, objs, done) = (s.clone(), objs.clone(), done.clone());
                    async move {
                        let (name, body) = &objs[i];
                        let r = s.put(&format!("/c/{name}"), body.clone()).await;
                        done.fetch_add(1, Ordering::Relaxed);
                        (name.clone(), r.status)
                    }
                })
                .buffer_unordered(16)
                .collect::<Vec<_>>()
                .await
        })
    };
    assert!(
        wait_until(Duration::from_secs(120), || {
            let n = done.load(Ordering::Relaxed);
            async move { n >= 300 }
        })
        .await,
        "uploads stalled"
    );
    mh.kill(1);
    let statuses = uploads.await.expect("upload task");
    let acked: Vec<(String, Vec<u8>)> = objs
        .iter()
        .filter(|(name, _)| {
            statuses
                .iter()
                .any(|(n, st)| n == name && *st == StatusCode::CREATED)
        })
        .cloned()
        .collect();
    assert!(
        acked.len() >= 950,
        "only {} of 1000 uploads acknowledged with one host of three down",
        acked.len()
    );
    // With the host still down, every acknowledged object reads back.
    assert_readable(&s, "c", &acked).await;

    mh.start_host(1).await;
    let existing = futures::stream::iter(objs.iter())
        .map(|(name, _)| {
            let s = &s;
            async move { s.head(&format!("/c/{name}")).await.status == StatusCode::OK }
        })
        .buffer_unordered(16)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    assert!(existing >= acked.len());
    settle(&mh, existing as u64).await;
    assert_readable(&s, "c", &acked).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wiped_device_is_rebuilt_by_the_replicator() {
    let mut mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("w").await;
    let objs = objects("w", 200);
    upload_all(&s, "w", &objs).await;
    settle(&mh, 200).await;
    mh.stop(0).await;
    let dir = mh.device_dir("h0d0");
    let before = files_under(&dir.join("objects")).len();
    assert!(before > 0, "h0d0 held no data files");
    std::fs::remove_dir_all(&dir).expect("wipe device");
    mh.start_host(0).await;
    settle(&mh, 200).await;
    let after = files_under(&dir.join("objects"));
    assert_eq!(
        after.len(),
        before,
        "data files of the wiped device restored: {after:?}\n{:?}",
        mh.devices().await
    );
    assert_readable(&s, "w", &objs).await;
    assert!(mh.recon_sum("replication", "records_pushed").await > 0);
}

/// The data file of an object on host `h`, if that host holds one.
fn data_file_on(mh: &MultiHost, h: usize, name_hint: &[u8]) -> Option<std::path::PathBuf> {
    files_under(&mh.hosts[h].devices_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .find(|p| {
            std::fs::read(p)
                .is_ok_and(|bytes| bytes.len() > name_hint.len() && bytes.starts_with(name_hint))
        })
}

fn flip_middle_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).expect("read data file");
    let mid = 50 * 1024;
    bytes[mid] ^= 0xff;
    std::fs::write(path, bytes).expect("write data file");
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_file_is_never_served_quarantined_and_restored() {
    let mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("q").await;
    let a = random_bytes(200 * 1024);
    let b = random_bytes(300 * 1024);
    s.put_object("q", "a", &a).await;
    s.put_object("q", "b", &b).await;
    settle(&mh, 2).await;
    let file_a = data_file_on(&mh, 1, &a[..64]).expect("host 1 holds a replica of a");
    let file_b = data_file_on(&mh, 2, &b[..64]).expect("host 2 holds a replica of b");
    flip_middle_byte(&file_a);
    flip_middle_byte(&file_b);
    // Reads return the right bytes whichever replica they reach first.
    for _ in 0..5 {
        let r = s.get("/q/a").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body[..] == a[..], "GET returned corrupt bytes of a");
    }
    // The auditor finds the corruption, and the replicator restores a good copy.
    let restored = wait_until(SETTLE, || async {
        let good = |p: &std::path::Path, want: &[u8]| {
            std::fs::read(p)
                .is_ok_and(|bytes| bytes.len() > want.len() && bytes[..want.len()] == want[..])
        };
        good(&file_a, &a) && good(&file_b, &b)
    })
    .await;
    assert!(restored, "corrupt replicas not restored");
    assert!(
        mh.recon_sum("auditor", "quarantined").await >= 1,
        "the auditor quarantined nothing"
    );
    let quarantined: Vec<_> = (0..3)
        .flat_map(|h| files_under(&mh.hosts[h].devices_dir))
        .filter(|p| p.to_string_lossy().contains("quarantined"))
        .collect();
    assert_eq!(
        quarantined.len(),
        2,
        "both corrupt files quarantined: {quarantined:?}"
    );
    settle(&mh, 2).await;
    assert_eq!(s.get("/q/b").await.body[..], b[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_converge_after_a_container_server_was_down() {
    let mut mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("l").await;
    // Every host holds one replica of the container (one zone per host).
    mh.kill(2);
    let objs = objects("l", 60);
    upload_all(&s, "l", &objs).await;
    mh.start_host(2).await;
    // The object servers recorded what host 2's container missed; their
    // updaters deliver it.
    let delivered = wait_until(SETTLE, || async {
        mh.recon_sum("updater", "delivered").await >= 60
    })
    .await;
    assert!(delivered, "async pendings not delivered");
    settle(&mh, 60).await;
    // Only host 2's replica answers now (once the proxy stops suppressing
    // the restarted host): its listing is complete.
    mh.stop(0).await;
    mh.stop(1).await;
    let want: Vec<String> = objs.iter().map(|(n, _)| n.clone()).collect();
    let complete = wait_until(Duration::from_secs(30), || async {
        let r = s.get("/l").await;
        let names: Vec<String> = String::from_utf8_lossy(&r.body)
            .lines()
            .map(str::to_string)
            .collect();
        r.status == StatusCode::OK && names == want
    })
    .await;
    assert!(
        complete,
        "listing of host 2's replica: {:?}",
        s.get("/l").await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn added_host_takes_its_share_while_every_object_stays_readable() {
    let mut mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("r").await;
    let objs = objects("r", 150);
    upload_all(&s, "r", &objs).await;
    settle(&mh, 150).await;
    let h = mh.add_host(2).await;
    mh.add_to_ring(h);
    let new_ids: Vec<u64> = {
        let ring = objectd::ring::Ring::load(&mh.ring_path).expect("ring");
        ring.devices()
            .iter()
            .filter(|d| d.device.starts_with(&format!("h{h}")))
            .map(|d| u64::from(d.id))
            .collect()
    };
    assert_eq!(new_ids.len(), 2);
    let started = std::time::Instant::now();
    loop {
        assert_readable(&s, "r", &objs).await;
        let devs = mh.devices().await;
        let on_new: u64 = devs
            .iter()
            .filter(|d| new_ids.contains(&d["id"].as_u64().unwrap_or(u64::MAX)))
            .map(|d| d["objects"].as_u64().unwrap_or(0))
            .sum();
        if on_new > 0 && mh.settled(150, 3).await {
            break;
        }
        assert!(
            started.elapsed() < SETTLE,
            "data did not move to the new host: {devs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_readable(&s, "r", &objs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_objects_leave_every_host_and_listing() {
    let mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("e").await;
    let keep = random_bytes(1000);
    s.put_object("e", "keep", &keep).await;
    for (name, size) in [("small", 500), ("large", 200 * 1024)] {
        let r = s
            .request(
                "PUT",
                &format!("/e/{name}"),
                &[("x-delete-after", "2")],
                random_bytes(size),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}");
    }
    let data_files = |mh: &MultiHost| {
        (0..3)
            .flat_map(|h| files_under(&mh.hosts[h].devices_dir))
            .filter(|p| p.extension().is_some_and(|e| e == "data"))
            .count()
    };
    assert_eq!(data_files(&mh), 3, "three replicas of the large object");
    let gone = wait_until(Duration::from_secs(30), || async {
        s.list_names("e").await == ["keep"] && data_files(&mh) == 0 && mh.settled(1, 3).await
    })
    .await;
    assert!(
        gone,
        "expired objects remain: {:?} {:?}",
        s.list_names("e").await,
        mh.devices().await
    );
    assert_eq!(s.get("/e/small").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/e/large").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/e/keep").await.body[..], keep[..]);
    // Each object expired at least once; a replica that received the
    // tombstone by replication first has nothing left to expire.
    assert!(mh.recon_sum("expirer", "objects_expired").await >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn large_object_corrupt_everywhere_is_aborted_not_served() {
    let mh = MultiHost::start(3, 2).await;
    let s = mh.swift().clone();
    s.create_container("m").await;
    // Larger than the proxy checks before sending: checked as it streams.
    let body = random_bytes(6 * 1024 * 1024 + 7);
    s.put_object("m", "big", &body).await;
    let files: Vec<_> = (0..3)
        .filter_map(|h| data_file_on(&mh, h, &body[..64]))
        .collect();
    assert_eq!(files.len(), 3, "one replica per host");
    for f in &files {
        let mut bytes = std::fs::read(f).expect("read data file");
        bytes[3 * 1024 * 1024] ^= 0x55;
        std::fs::write(f, bytes).expect("write data file");
    }
    let req = cairn_tests::client::build(
        s.addr(),
        "GET",
        &s.path("/m/big"),
        &[("x-auth-token", s.token())],
        bytes::Bytes::new(),
    );
    match cairn_tests::client::send(s.addr(), req).await {
        // The stream was cut: the client sees an incomplete body.
        Err(e) => eprintln!("aborted as expected: {e:#}"),
        Ok(r) => assert!(
            r.status != StatusCode::OK,
            "a corrupt object was served whole ({} bytes)",
            r.body.len()
        ),
    }
}
