//! System tests of self-repair in the all-in-one: the replicator rebuilds a
//! wiped device and brings handoff copies home; the auditor quarantines a
//! corrupted data file, a GET never completes with corrupt bytes, and the
//! replicator restores the good copy.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_tests::placement::{devices_with_files, devices_with_records, primaries, ring};
use cairn_tests::{md5_hex, random_bytes, wait_until, Appliance};
use http::StatusCode;

const FAST_REPAIR: &str = "[objectd]\nreplicator_interval_secs = 1\nauditor_interval_secs = 1\nauditor_bytes_per_sec = 0\n";
const KIB: usize = 1024;

/// Objects of the test: (name, body), half inline-sized, half data files.
fn corpus(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let size = if i % 2 == 0 { KIB + i } else { 100 * KIB + i };
            (format!("obj-{i:03}"), random_bytes(size))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn wiped_device_is_rebuilt_by_the_replicator() {
    let mut app = Appliance::start_with_config(FAST_REPAIR).await;
    let s = app.swift().clone();
    s.create_container("w").await;
    let objects = corpus(40);
    for (name, body) in &objects {
        s.put_object("w", name, body).await;
    }
    app.stop().await;
    let wiped = app.data_dir().join("devices").join("d1");
    std::fs::remove_dir_all(&wiped).expect("wipe d1");
    app.start_again().await;

    let data_dir = app.data_dir();
    let ring = ring(&data_dir);
    let placed: Vec<_> = objects
        .iter()
        .map(|(n, _)| primaries(&ring, "AUTH_admin", "w", n))
        .collect();
    let files_home = || {
        placed
            .iter()
            .zip(&objects)
            .filter(|(_, (_, body))| body.len() > 64 * KIB)
            .all(|((part, hash, prim), _)| devices_with_files(&data_dir, *part, hash) == *prim)
    };
    assert!(
        wait_until(Duration::from_secs(60), || async { files_home() }).await,
        "data files not rebuilt on their primaries; log:\n{}",
        app.log()
    );
    let s = app.swift().clone();
    for (name, body) in &objects {
        let r = s.get(&format!("/w/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert_eq!(md5_hex(&r.body), md5_hex(body), "{name} reads back whole");
    }
    assert_eq!(s.list_names("w").await.len(), objects.len());
    let stats = cairn_tests::client::recon(s.addr(), "replication").await;
    let req = cairn_tests::client::build(
        s.addr(),
        "POST",
        "/recon/replication",
        &[],
        bytes::Bytes::new(),
    );
    let post = cairn_tests::client::send(s.addr(), req)
        .await
        .expect("POST /recon");
    assert_eq!(
        post.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "recon is read-only"
    );
    let req = cairn_tests::client::build(s.addr(), "GET", "/recon/nope", &[], bytes::Bytes::new());
    let unknown = cairn_tests::client::send(s.addr(), req)
        .await
        .expect("GET /recon/nope");
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        stats["records_pushed"].as_u64().unwrap_or(0) > 0,
        "recon counts pushes: {stats}"
    );
    assert!(
        stats["bytes_moved"].as_u64().unwrap_or(0) > 0,
        "recon counts bytes: {stats}"
    );

    // Every object, inline or not, has a record on exactly its three primaries.
    app.stop().await;
    let keys: Vec<_> = placed.iter().map(|(p, h, _)| (*p, *h)).collect();
    let holders = devices_with_records(&data_dir, &keys).await;
    for ((name, _), (held, (_, _, prim))) in objects.iter().zip(holders.iter().zip(&placed)) {
        assert_eq!(held, prim, "{name} is on exactly its primaries");
    }
    assert!(
        app.error_lines().is_empty(),
        "no ERROR lines:\n{:?}",
        app.error_lines()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn handoff_copies_go_home_when_the_primary_returns() {
    let app = Appliance::start_with_config(FAST_REPAIR).await;
    let s = app.swift().clone();
    s.create_container("h").await;
    let d0 = app.data_dir().join("devices").join("d0");
    std::fs::remove_dir_all(d0.join("tmp")).expect("remove tmp");
    std::fs::write(d0.join("tmp"), b"blocked").expect("block d0 uploads");
    let objects: Vec<_> = (0..16)
        .map(|i| (format!("o{i}"), random_bytes(120 * KIB + i)))
        .collect();
    for (name, body) in &objects {
        s.put_object("h", name, body).await;
    }
    // d0 works again: its partitions come back from the handoffs, which then let go.
    std::fs::remove_file(d0.join("tmp")).expect("unblock");
    std::fs::create_dir(d0.join("tmp")).expect("recreate tmp");
    let data_dir = app.data_dir();
    let ring = ring(&data_dir);
    let placed: Vec<_> = objects
        .iter()
        .map(|(n, _)| primaries(&ring, "AUTH_admin", "h", n))
        .collect();
    let home = || {
        placed
            .iter()
            .all(|(part, hash, prim)| devices_with_files(&data_dir, *part, hash) == *prim)
    };
    assert!(
        wait_until(Duration::from_secs(60), || async { home() }).await,
        "objects not on exactly their primaries; log:\n{}",
        app.log()
    );
    for (name, body) in &objects {
        let r = s.get(&format!("/h/{name}")).await;
        assert_eq!(md5_hex(&r.body), md5_hex(body), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_file_is_never_served_and_is_restored() {
    let app = Appliance::start_with_config(FAST_REPAIR).await;
    let s = app.swift().clone();
    s.create_container("c").await;
    let small = random_bytes(300 * KIB);
    let large = random_bytes(6 * 1024 * KIB);
    s.put_object("c", "small", &small).await;
    s.put_object("c", "large", &large).await;
    let data_dir = app.data_dir();
    let ring = ring(&data_dir);
    for (name, body) in [("small", &small), ("large", &large)] {
        let (part, hash, prim) = primaries(&ring, "AUTH_admin", "c", name);
        // Flip bytes in the copy on the first primary (the one reads prefer).
        let first = ring.primaries(part)[0].device.clone();
        let hex = hex::encode(hash);
        let dir = data_dir
            .join("devices")
            .join(&first)
            .join("objects")
            .join(part.to_string())
            .join(&hex[hex.len() - 3..])
            .join(&hex);
        let file = std::fs::read_dir(&dir)
            .expect("object dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "data"))
            .expect("data file");
        let mut bytes = std::fs::read(&file).expect("read data file");
        for b in bytes.iter_mut().take(body.len()).skip(1000).step_by(4096) {
            *b ^= 0xff;
        }
        std::fs::write(&file, &bytes).expect("corrupt data file");
        // A GET either returns the right bytes or is aborted; never wrong bytes.
        for _ in 0..3 {
            let req = cairn_tests::client::build(
                s.addr(),
                "GET",
                &s.path(&format!("/c/{name}")),
                &[("x-auth-token", s.token())],
                bytes::Bytes::new(),
            );
            if let Ok(r) = cairn_tests::client::send(s.addr(), req).await {
                assert_eq!(r.status, StatusCode::OK);
                assert_eq!(
                    md5_hex(&r.body),
                    md5_hex(body),
                    "{name}: a completed GET has the right bytes"
                );
            }
        }
        let restored = || {
            let files = devices_with_files(&data_dir, part, &hash);
            files == prim
                && quarantined(&data_dir) > 0
                && copies_match(&data_dir, part, &hash, body)
        };
        assert!(
            wait_until(Duration::from_secs(60), || async { restored() }).await,
            "{name}: not quarantined and restored; log:\n{}",
            app.log()
        );
        let r = s.get(&format!("/c/{name}")).await;
        assert_eq!(md5_hex(&r.body), md5_hex(body), "{name} after repair");
    }
}

/// Files in every device's `quarantined/objects`.
fn quarantined(data_dir: &std::path::Path) -> usize {
    cairn_tests::device_dirs(data_dir)
        .iter()
        .map(|d| cairn_tests::files_under(&d.join("quarantined").join("objects")).len())
        .sum()
}

/// Whether every data file of the object starts with exactly `body`.
fn copies_match(data_dir: &std::path::Path, part: u32, hash: &[u8; 16], body: &[u8]) -> bool {
    let hex = hex::encode(hash);
    let want = md5_hex(body);
    let mut seen = BTreeSet::new();
    for dev in cairn_tests::device_dirs(data_dir) {
        let dir = dev
            .join("objects")
            .join(part.to_string())
            .join(&hex[hex.len() - 3..])
            .join(&hex);
        for f in cairn_tests::files_under(&dir) {
            let Ok(bytes) = std::fs::read(&f) else {
                return false;
            };
            if bytes.len() < body.len() || md5_hex(&bytes[..body.len()]) != want {
                return false;
            }
            seen.insert(f);
        }
    }
    !seen.is_empty()
}

#[tokio::test(flavor = "multi_thread")]
async fn tombstones_are_reclaimed_after_the_reclaim_age() {
    let mut app = Appliance::start_with_config(
        "[objectd]\nreplicator_interval_secs = 1\nreclaim_age_secs = 2\n",
    )
    .await;
    let s = app.swift().clone();
    s.create_container("t").await;
    s.create_container("keep").await;
    s.put_object("keep", "k", b"kept").await;
    for i in 0..5 {
        s.put_object(
            "t",
            &format!("o{i}"),
            &random_bytes(if i == 0 { 100 * KIB } else { 10 }),
        )
        .await;
        assert_eq!(
            s.delete(&format!("/t/o{i}")).await.status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(s.delete("/t").await.status, StatusCode::NO_CONTENT);
    let reclaimed = || async {
        let stats = cairn_tests::client::recon(s.addr(), "replication").await;
        stats["tombstones_reclaimed"].as_u64().unwrap_or(0) >= 5 * 3 * 2
    };
    let done = wait_until(Duration::from_secs(30), reclaimed).await;
    let log = app.log();
    app.stop().await;
    let counts = cairn_tests::placement::record_counts(&app.data_dir()).await;
    assert!(done, "tombstones not reclaimed: {counts:?}; log:\n{log}");
    // What remains: the kept object and its row (3 replicas each), the kept
    // container's record and account row, the two containers the image
    // service makes at start (images and clone markers), and the account
    // records.
    assert_eq!(counts.get(&'o'), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&'c'), Some(&3), "{counts:?}");
    assert_eq!(counts.get(&'C'), Some(&9), "{counts:?}");
    assert_eq!(counts.get(&'a'), Some(&9), "{counts:?}");
    app.start_again().await;
    let r = app.swift().get("/keep/k").await;
    assert_eq!(r.body.as_ref(), b"kept");
}
