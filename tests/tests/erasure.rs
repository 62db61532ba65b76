//! System tests of the erasure-coded policy (4+2) on three storage hosts of
//! two devices each and a proxy, as separate processes: objects of every
//! size class read back byte-exact, also with two devices' archives gone;
//! the reconstructor restores lost and corrupt archives and reaps those
//! of a failed write; ranges read only what was asked.

use std::path::PathBuf;
use std::time::Duration;

use cairn_tests::multihost::{MultiHost, EC_POLICY, EC_SEGMENT};
use cairn_tests::{files_under, random_bytes, wait_until, Swift};
use futures::StreamExt;
use http::StatusCode;

/// Longest wait for the reconstructor to converge.
const SETTLE: Duration = Duration::from_secs(180);

/// Objects of 0 B, 1 B, one segment and one either side, an inline-sized
/// and a just-streamed body, several segments, and 100 MiB.
fn objects() -> Vec<(String, Vec<u8>)> {
    [
        0,
        1,
        EC_SEGMENT - 1,
        EC_SEGMENT,
        EC_SEGMENT + 1,
        3 * EC_SEGMENT + 17,
        40 * EC_SEGMENT + 5,
        100 * 1024 * 1024,
    ]
    .into_iter()
    .map(|n| (format!("o{n}"), random_bytes(n)))
    .collect()
}

async fn assert_readable(s: &Swift, objs: &[(String, Vec<u8>)]) {
    let bad: Vec<String> = futures::stream::iter(objs)
        .map(|(name, body)| async move {
            let r = s.get(&format!("/ec/{name}")).await;
            (r.status != StatusCode::OK || r.body[..] != body[..]).then(|| {
                format!(
                    "{name}: {} ({} of {} bytes)",
                    r.status,
                    r.body.len(),
                    body.len()
                )
            })
        })
        .buffer_unordered(4)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(bad.is_empty(), "objects not read back: {bad:?}");
}

async fn settle(mh: &MultiHost, objects: u64) {
    let ok = wait_until(SETTLE, || mh.settled_in(1, objects, 6)).await;
    assert!(
        ok,
        "fragment archives did not settle to {objects} x 6: {:?}\nhost logs:\n{}",
        mh.devices().await,
        (0..mh.hosts.len())
            .map(|h| mh.host_log(h))
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
}

/// The archive data files of the erasure-coded policy on one host.
fn archive_files(mh: &MultiHost, h: usize) -> Vec<PathBuf> {
    mh.hosts[h]
        .devices
        .iter()
        .flat_map(|d| files_under(&mh.hosts[h].devices_dir.join(d).join("policy-1/objects")))
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn erasure_coded_objects_survive_lost_and_corrupt_archives() {
    let mut mh = MultiHost::start_ec(3, 2).await;
    let s = mh.swift().clone();
    let r = s
        .request("PUT", "/ec", &[("x-storage-policy", EC_POLICY)], Vec::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let head = s.head("/ec").await;
    assert_eq!(head.header("x-storage-policy"), Some(EC_POLICY));

    let objs = objects();
    for (name, body) in &objs {
        s.put_object("ec", name, body).await;
    }
    assert_readable(&s, &objs).await;
    // The listing shows whole-object sizes, not archive sizes.
    let listed = s.list("ec").await;
    for (name, body) in &objs {
        let row = listed.iter().find(|l| &l.name == name).expect("listed");
        assert_eq!(row.bytes, body.len() as u64, "{name}");
    }
    settle(&mh, objs.len() as u64).await;

    // Ranges, within a segment, across segments and a suffix.
    let (name, body) = &objs[6];
    let len = body.len();
    for (range, start, end) in [
        ("bytes=0-0".to_string(), 0, 0),
        (
            format!("bytes={}-{}", EC_SEGMENT - 3, EC_SEGMENT + 2),
            EC_SEGMENT - 3,
            EC_SEGMENT + 2,
        ),
        (format!("bytes={}-", len - 10), len - 10, len - 1),
        ("bytes=-7".to_string(), len - 7, len - 1),
        (
            format!("bytes=1000-{}", 5 * EC_SEGMENT),
            1000,
            5 * EC_SEGMENT,
        ),
    ] {
        let r = s
            .request(
                "GET",
                &format!("/ec/{name}"),
                &[("range", &range)],
                Vec::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(&r.body[..], &body[start..=end], "{range}");
    }

    // Any two devices (here one host's) gone: everything still reads.
    mh.stop(0).await;
    assert_readable(&s, &objs).await;
    mh.start_host(0).await;

    // A host loses both devices' archives; the reconstructor rebuilds them.
    mh.kill(1);
    for d in mh.hosts[1].devices.clone() {
        std::fs::remove_dir_all(mh.hosts[1].devices_dir.join(&d).join("policy-1"))
            .expect("wipe policy-1 store");
    }
    mh.start_host(1).await;
    settle(&mh, objs.len() as u64).await;
    // With host 0 down, reads need exactly the rebuilt archives of host 1.
    mh.stop(0).await;
    assert_readable(&s, &objs).await;
    mh.start_host(0).await;
    // The proxy skips a host for a few seconds after it refused connections;
    // the next check needs all six archives reachable.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // A corrupt archive is never decoded into data, and is rebuilt.
    let victim = archive_files(&mh, 2)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("host 2 holds archive files");
    let original = std::fs::read(&victim).expect("read archive");
    let mut bad = original.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x5a;
    std::fs::write(&victim, &bad).expect("corrupt archive");
    assert_readable(&s, &objs).await;
    let healed = wait_until(SETTLE, || {
        let victim = victim.clone();
        let original = original.clone();
        async move { std::fs::read(&victim).is_ok_and(|now| now == original) }
    })
    .await;
    assert!(
        healed,
        "corrupt archive was not quarantined and rebuilt byte-exact"
    );
    settle(&mh, objs.len() as u64).await;
    assert_readable(&s, &objs).await;

    // The auditor finds a corrupt archive nobody reads; it is rebuilt too.
    let unread = archive_files(&mh, 0)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("host 0 holds archive files");
    let original = std::fs::read(&unread).expect("read archive");
    let mut bad = original.clone();
    bad[original.len() / 3] ^= 0xa5;
    std::fs::write(&unread, &bad).expect("corrupt archive");
    let healed = wait_until(SETTLE, || {
        let unread = unread.clone();
        let original = original.clone();
        async move { std::fs::read(&unread).is_ok_and(|now| now == original) }
    })
    .await;
    assert!(healed, "the auditor did not catch a corrupt archive");
    assert!(mh.recon_sum("auditor", "quarantined").await >= 1);

    // Deletes reach every archive.
    for (name, _) in &objs {
        let r = s.delete(&format!("/ec/{name}")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{name}");
        assert_eq!(
            s.get(&format!("/ec/{name}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let gone = wait_until(SETTLE, || async {
        (0..3).all(|h| archive_files(&mh, h).is_empty())
    })
    .await;
    assert!(gone, "archive files remain after deletes");
}

#[tokio::test(flavor = "multi_thread")]
async fn container_policy_is_fixed_once_set() {
    let mh = MultiHost::start_ec(3, 2).await;
    let s = mh.swift();
    let bad = s
        .request("PUT", "/p", &[("x-storage-policy", "gold")], Vec::new())
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let r = s
        .request("PUT", "/p", &[("x-storage-policy", EC_POLICY)], Vec::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let again = s
        .request("PUT", "/p", &[("x-storage-policy", EC_POLICY)], Vec::new())
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let conflict = s
        .request(
            "PUT",
            "/p",
            &[("x-storage-policy", "replicated")],
            Vec::new(),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        s.head("/p").await.header("x-storage-policy"),
        Some(EC_POLICY)
    );
    s.create_container("plain").await;
    assert_eq!(
        s.head("/plain").await.header("x-storage-policy"),
        Some("replicated")
    );
    // Objects go where their container says: six archives, or three replicas.
    let body = random_bytes(200 * 1024);
    s.put_object("p", "x", &body).await;
    s.put_object("plain", "x", &body).await;
    assert!(wait_until(SETTLE, || mh.settled_in(1, 1, 6)).await);
    assert!(wait_until(SETTLE, || mh.settled_in(0, 1, 3)).await);
    assert_eq!(&s.get("/p/x").await.body[..], &body[..]);
}

/// An erasure-coded cluster holding `/ec/obj` (`body`) in six archives.
async fn one_ec_object(body: Vec<u8>) -> MultiHost {
    let mh = MultiHost::start_ec(3, 2).await;
    let s = mh.swift();
    let r = s
        .request("PUT", "/ec", &[("x-storage-policy", EC_POLICY)], Vec::new())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(s.put("/ec/obj", body).await.status, StatusCode::CREATED);
    settle(&mh, 1).await;
    mh
}

/// Copies a directory tree.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Two archives of a newer version (a write that reached fewer than k
/// devices) beside four of the version before: reads serve the older one,
/// and once past the reclaim age the reconstructor removes the stranded
/// archives and rebuilds the older version in their place.
#[tokio::test(flavor = "multi_thread")]
async fn archives_of_a_failed_write_are_reaped() {
    let v1 = random_bytes(3 * EC_SEGMENT + 17);
    let mut mh = one_ec_object(v1.clone()).await;
    let policy_dir = |mh: &MultiHost, h: usize, d: usize| {
        mh.hosts[h]
            .devices_dir
            .join(&mh.hosts[h].devices[d])
            .join("policy-1")
    };
    let backup = mh.root().join("backup");
    for h in 0..3 {
        mh.stop(h).await;
        let cfg = std::fs::read_to_string(mh.host_config(h)).unwrap();
        let cfg = cfg.replacen("[objectd]\n", "[objectd]\nreclaim_age_secs = 2\n", 1);
        std::fs::write(mh.host_config(h), cfg).unwrap();
    }
    for h in 0..2 {
        for d in 0..2 {
            copy_tree(&policy_dir(&mh, h, d), &backup.join(format!("{h}-{d}")));
        }
    }
    for h in 0..3 {
        mh.start_host(h).await;
    }
    let v2 = random_bytes(3 * EC_SEGMENT + 17);
    let s = mh.swift();
    assert_eq!(s.put("/ec/obj", v2).await.status, StatusCode::CREATED);
    for h in 0..3 {
        mh.stop(h).await;
    }
    // Four devices go back to before the write: it reached only two.
    for h in 0..2 {
        for d in 0..2 {
            std::fs::remove_dir_all(policy_dir(&mh, h, d)).unwrap();
            copy_tree(&backup.join(format!("{h}-{d}")), &policy_dir(&mh, h, d));
        }
    }
    for h in 0..3 {
        mh.start_host(h).await;
    }
    let s = mh.swift();
    let got = s.get("/ec/obj").await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.body[..] == v1[..],
        "reads serve the last complete version"
    );
    let one_version = wait_until(SETTLE, || async {
        let files: Vec<PathBuf> = (0..3).flat_map(|h| archive_files(&mh, h)).collect();
        let names: std::collections::HashSet<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_owned())
            .collect();
        files.len() == 6 && names.len() == 1
    })
    .await;
    assert!(
        one_version,
        "stranded archives were not replaced: {:?}\n{}",
        (0..3)
            .flat_map(|h| archive_files(&mh, h))
            .collect::<Vec<_>>(),
        mh.host_log(2)
    );
    let got = mh.swift().get("/ec/obj").await;
    assert!(got.status == StatusCode::OK && got.body[..] == v1[..]);
}

/// The stored headers of `/ec/obj` on each device of host `h` (stopped).
async fn stored_headers(mh: &MultiHost, h: usize) -> Vec<Vec<(String, String)>> {
    let ring = objectd::ring::Ring::load(objectd::policy::ring_path(&mh.ring_path, 1))
        .expect("load the EC ring");
    let account = format!("AUTH_{}", cairn_tests::multihost::ADMIN.0);
    let hash = ring.hash_path(&account, Some("ec"), Some("obj"));
    let part = ring.partition_for_hash(&hash);
    let mut out = Vec::new();
    for (i, d) in mh.hosts[h].devices.iter().enumerate() {
        let root = mh.hosts[h].devices_dir.join(d).join("policy-1");
        let store = objectd::store::DeviceStore::open_for_policy(i as u32, 1, &root)
            .expect("open the EC store");
        let found = store.get_object(part, hash).await.expect("read the record");
        out.push(found.map(|f| f.meta.headers).unwrap_or_default());
    }
    out
}

/// A POST that one host missed reaches that host's archives through the
/// reconstructor.
#[tokio::test(flavor = "multi_thread")]
async fn a_missed_post_is_repaired() {
    let mut mh = one_ec_object(random_bytes(3 * EC_SEGMENT + 17)).await;
    mh.stop(2).await;
    let meta = ("x-object-meta-color".to_string(), "blue".to_string());
    // Four of six archives take it: short of the quorum, but applied.
    mh.swift()
        .request(
            "POST",
            "/ec/obj",
            &[("x-object-meta-color", "blue")],
            Vec::new(),
        )
        .await;
    assert!(
        stored_headers(&mh, 2)
            .await
            .iter()
            .all(|h| !h.contains(&meta)),
        "the stopped host cannot have the POST"
    );
    let mut repaired = false;
    for _ in 0..10 {
        mh.start_host(2).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        mh.stop(2).await;
        if stored_headers(&mh, 2)
            .await
            .iter()
            .all(|h| h.contains(&meta))
        {
            repaired = true;
            break;
        }
    }
    assert!(
        repaired,
        "host 2's archives never got the POST:\n{}",
        mh.host_log(0)
    );
    mh.start_host(2).await;
    let got = mh.swift().head("/ec/obj").await;
    assert_eq!(got.header("x-object-meta-color"), Some("blue"));
}
