//! System tests of durability: what was acknowledged survives a clean
//! restart (SIGTERM, exit 0, start again on the same data directory) byte
//! for byte, with the same credentials, and a crash (SIGKILL) mid-upload
//! keeps every acknowledged object and nothing of the interrupted one.

use std::time::Duration;

use cairn_tests::raw::{request_head, RawConn};
use cairn_tests::{
    assert_tmp_empties, data_files, md5_hex, random_bytes, tmp_files, wait_until, Appliance,
};
use http::StatusCode;

const KIB: usize = 1024;

/// Starts a 1 MiB PUT of `path`, sends only `sent` bytes of it, and waits
/// until its temporary file exists; the open connection is returned.
async fn start_stalled_upload(app: &Appliance, path: &str, sent: usize) -> RawConn {
    let mut conn = RawConn::connect(app.addr()).await.expect("connect");
    let head = request_head(
        "PUT",
        &app.swift().path(path),
        app.addr(),
        &[("X-Auth-Token", app.token()), ("Content-Length", "1048576")],
    );
    conn.send(&head).await.expect("send head");
    conn.send(&random_bytes(sent)).await.expect("send body");
    let in_flight = wait_until(Duration::from_secs(5), || async {
        !tmp_files(&app.data_dir()).is_empty()
    })
    .await;
    assert!(in_flight, "no temporary file during the upload");
    conn
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_survive_restart() {
    let mut app = Appliance::start_with_config(
        "[[objectd.users]]\naccount = \"test\"\nuser = \"tester\"\nkey = \"testing\"\ngroups = [\".admin\"]\n",
    )
    .await;
    let s = app.swift().clone();
    s.create_container("dur").await;
    let sizes = [
        0,
        1,
        100,
        4 * KIB,
        64 * KIB,
        64 * KIB + 1,
        300 * KIB,
        KIB * KIB,
    ];
    let bodies: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| {
            (
                format!("dir/obj-{i:02}"),
                random_bytes(sizes[i % sizes.len()]),
            )
        })
        .collect();
    let puts = bodies.iter().map(|(name, body)| {
        let s = s.clone();
        let (name, body) = (name.clone(), body.clone());
        tokio::spawn(async move { s.put_object("dur", &name, &body).await })
    });
    for joined in futures::future::join_all(puts).await {
        joined.expect("PUT task");
    }
    let meta = s
        .request(
            "POST",
            "/dur/dir/obj-00",
            &[("x-object-meta-color", "blue")],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(meta.status, StatusCode::ACCEPTED, "{meta:?}");
    let tester = app.login("test:tester", "testing").await.expect("tester");
    tester.create_container("t").await;
    tester.put_object("t", "x", b"tester's").await;
    let large = bodies.iter().filter(|(_, b)| b.len() > 64 * KIB).count();
    assert_eq!(data_files(&app.data_dir()).len(), 3 * large);
    let openrc_before = app.openrc().clone();
    let listing_before = s.list("dur").await;
    assert_eq!(listing_before.len(), 50);

    app.restart().await;

    // The same credentials log in; only the port may differ.
    assert_eq!(app.openrc().user, openrc_before.user);
    assert_eq!(app.openrc().key, openrc_before.key);
    let s = app.swift().clone();
    assert!(
        app.storage_url().ends_with("/v1/AUTH_admin"),
        "{}",
        app.storage_url()
    );
    for (name, body) in &bodies {
        let r = s.get(&format!("/dur/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "{name} after restart: {r:?}");
        assert_eq!(r.body.len(), body.len(), "{name} length");
        assert!(r.body[..] == body[..], "{name} differs after restart");
        assert_eq!(r.etag(), Some(md5_hex(body).as_str()), "{name} ETag");
    }
    assert_eq!(
        s.head("/dur/dir/obj-00")
            .await
            .header("x-object-meta-color"),
        Some("blue")
    );
    assert_eq!(s.list("dur").await, listing_before);
    let head = s.head("/dur").await;
    assert_eq!(head.header_u64("x-container-object-count"), 50);
    let sum: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(head.header_u64("x-container-bytes-used"), sum as u64);
    let tester = app
        .login("test:tester", "testing")
        .await
        .expect("tester after restart");
    assert_eq!(tester.get("/t/x").await.body.as_ref(), b"tester's");
    assert!(app.login("admin:admin", "wrong-key").await.is_err());

    // Writes work after the restart, and a second restart keeps them too.
    s.put_object("dur", "after", &random_bytes(80 * KIB)).await;
    app.restart().await;
    let r = app.swift().get("/dur/after").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 80 * KIB);
    assert_eq!(app.swift().list("dur").await.len(), 51);
    assert_tmp_empties(&app.data_dir(), Duration::from_secs(1)).await;
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly() {
    let mut app = Appliance::start().await;
    app.swift().create_container("c").await;
    let status = app.stop().await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(
        app.log().contains("stopped"),
        "no 'stopped' in log:\n{}",
        app.log()
    );
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_mid_upload_keeps_acknowledged_objects_only() {
    let mut app = Appliance::start().await;
    let s = app.swift().clone();
    s.create_container("cr").await;
    let bodies: Vec<(String, Vec<u8>)> = [10, 64 * KIB + 1, 500 * KIB, 3000, 0]
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("o{i}"), random_bytes(n)))
        .collect();
    for (name, body) in &bodies {
        s.put_object("cr", name, body).await;
    }
    // An upload in flight when the process dies.
    let conn = start_stalled_upload(&app, "/cr/partial", 300 * KIB).await;

    app.crash_and_restart().await;
    drop(conn);

    let s = app.swift().clone();
    assert!(
        tmp_files(&app.data_dir()).is_empty(),
        "tmp not cleaned at start"
    );
    assert_eq!(s.get("/cr/partial").await.status, StatusCode::NOT_FOUND);
    let mut names: Vec<_> = bodies.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(s.list_names("cr").await, names);
    for (name, body) in &bodies {
        let r = s.get(&format!("/cr/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "{name} after crash");
        assert!(r.body[..] == body[..], "{name} differs after crash");
    }
    let head = s.head("/cr").await;
    assert_eq!(
        head.header_u64("x-container-object-count"),
        bodies.len() as u64
    );
    assert_eq!(
        data_files(&app.data_dir()).len(),
        3 * 2,
        "two large objects"
    );
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_a_stalled_upload_still_stops_cleanly() {
    let mut app = Appliance::start().await;
    let s = app.swift().clone();
    s.create_container("st").await;
    s.put_object("st", "kept", &random_bytes(100 * KIB)).await;
    let conn = start_stalled_upload(&app, "/st/stalled", 200 * KIB).await;

    // The client neither finishes nor leaves; the server must still stop.
    let started = std::time::Instant::now();
    app.restart().await;
    let took = started.elapsed();
    drop(conn);
    assert!(took < Duration::from_secs(30), "restart took {took:?}");
    let s = app.swift().clone();
    assert!(
        tmp_files(&app.data_dir()).is_empty(),
        "{:?}",
        tmp_files(&app.data_dir())
    );
    assert_eq!(s.get("/st/stalled").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.list_names("st").await, ["kept"]);
    assert_eq!(s.get("/st/kept").await.body.len(), 100 * KIB);
    app.assert_no_errors();
}
