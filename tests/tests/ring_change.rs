//! System test of a ring change on a running appliance: a device is added
//! and the ring rebalanced with `objectd ring`; the running store picks the
//! new ring up, the replicator moves data to its new primaries, and every
//! object stays readable throughout.

use std::process::Command;
use std::time::{Duration, Instant};

use cairn_tests::placement::{devices_with_files, primaries, ring};
use cairn_tests::{cairn_bin, md5_hex, random_bytes, Appliance};
use http::StatusCode;

fn objectd(args: &[&str]) {
    let bin = cairn_bin().with_file_name("objectd");
    let out = Command::new(&bin).args(args).output().expect("run objectd");
    assert!(
        out.status.success(),
        "objectd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn added_device_takes_its_share_while_objects_stay_readable() {
    let app = Appliance::start_with_config(
        "[objectd]\nreplicator_interval_secs = 1\n[ring]\nmin_part_hours = 0\n",
    )
    .await;
    let s = app.swift().clone();
    s.create_container("r").await;
    let objects: Vec<_> = (0..30)
        .map(|i| {
            (
                format!("o{i:02}"),
                random_bytes(if i % 3 == 0 { 2000 } else { 90 * 1024 + i }),
            )
        })
        .collect();
    for (name, body) in &objects {
        s.put_object("r", name, body).await;
    }
    let data_dir = app.data_dir();
    let ring_file = data_dir.join("rings").join("object.ring");
    let ring_path = ring_file.to_str().expect("utf-8 path");
    let before = ring(&data_dir).version();
    objectd(&[
        "ring",
        "add",
        ring_path,
        "--region",
        "1",
        "--zone",
        "4",
        "--host",
        "127.0.0.1:6200",
        "--device",
        "d6",
        "--weight",
        "100",
    ]);
    objectd(&["ring", "rebalance", ring_path]);
    let new_ring = ring(&data_dir);
    assert!(new_ring.version() > before);
    let placed: Vec<_> = objects
        .iter()
        .map(|(n, _)| primaries(&new_ring, "AUTH_admin", "r", n))
        .collect();
    assert!(
        placed.iter().any(|(_, _, p)| p.contains("d6")),
        "the new device is a primary of some objects"
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        for (name, body) in &objects {
            let r = s.get(&format!("/r/{name}")).await;
            assert_eq!(r.status, StatusCode::OK, "{name} readable during the move");
            assert_eq!(
                md5_hex(&r.body),
                md5_hex(body),
                "{name} whole during the move"
            );
        }
        let settled = placed
            .iter()
            .zip(&objects)
            .filter(|(_, (_, body))| body.len() > 64 * 1024)
            .all(|((part, hash, prim), _)| devices_with_files(&data_dir, *part, hash) == *prim);
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "data did not settle on the new primaries; log:\n{}",
            app.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        app.log().contains("ring reloaded"),
        "the running store reloaded the ring"
    );
    assert_eq!(s.list_names("r").await.len(), objects.len());
    app.assert_no_errors();
}
