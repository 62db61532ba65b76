//! System test of handoffs: when a primary device cannot take a write, the
//! replica goes to a handoff device from the ring, every object still gets
//! three durable copies and reads back whole.

use cairn_tests::{data_files, md5_hex, random_bytes, Appliance};
use http::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn failed_primary_is_replaced_by_a_handoff() {
    let app = Appliance::start().await;
    let s = app.swift().clone();
    s.create_container("h").await;
    // Device d0 can no longer start uploads: its tmp/ is now a plain file.
    let broken = app.data_dir().join("devices").join("d0");
    std::fs::remove_dir_all(broken.join("tmp")).expect("remove tmp");
    std::fs::write(broken.join("tmp"), b"not a directory").expect("block tmp");

    let mut bodies = Vec::new();
    for i in 0..24 {
        let body = random_bytes(100 * 1024 + i);
        s.put_object("h", &format!("o{i}"), &body).await;
        bodies.push(body);
    }
    let files = data_files(&app.data_dir());
    assert_eq!(
        files.len(),
        24 * 3,
        "three data files per object: {files:?}"
    );
    assert!(
        files.iter().all(|f| !f.starts_with(&broken)),
        "nothing was written to the broken device"
    );
    for (i, body) in bodies.iter().enumerate() {
        let r = s.get(&format!("/h/o{i}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(md5_hex(&r.body), md5_hex(body), "o{i} reads back whole");
    }
    app.assert_no_errors();
}
