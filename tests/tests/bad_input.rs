//! System tests of hostile or broken requests: uploads cut short, lying
//! lengths, wrong ETags, bad names and metadata, header floods, unknown
//! methods and oversized declarations. Each checks the status Swift gives
//! and that nothing is left behind (object absent, listing unchanged, every
//! device's `tmp/` empty).

use std::time::Duration;

use bytes::Bytes;
use cairn_tests::raw::{raw_request, request_head, RawConn};
use cairn_tests::{
    assert_tmp_empties, data_files, md5_hex, random_bytes, tmp_files, wait_until, Appliance,
};
use http::StatusCode;
use tokio::io::{AsyncWriteExt, BufReader};

const KIB: usize = 1024;

/// The head of an authenticated PUT of `rel` declaring `length` bytes.
fn put_head(app: &Appliance, rel: &str, length: u64) -> Vec<u8> {
    let len = length.to_string();
    let headers = [
        ("X-Auth-Token", app.token()),
        ("Content-Length", len.as_str()),
    ];
    request_head("PUT", &app.swift().path(rel), app.addr(), &headers)
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnect_mid_upload_leaves_nothing() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("dc").await;
    let mut conn = RawConn::connect(app.addr()).await.expect("connect");
    conn.send(&put_head(&app, "/dc/cut", 1024 * 1024))
        .await
        .expect("send head");
    conn.send(&random_bytes(300 * KIB))
        .await
        .expect("send body");
    // The upload is under way: temporary files exist while the body flows.
    let started = wait_until(Duration::from_secs(5), || async {
        !tmp_files(&app.data_dir()).is_empty()
    })
    .await;
    drop(conn);
    assert!(started, "no temporary file appeared during a 1 MiB upload");

    assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
    assert_eq!(s.get("/dc/cut").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.head("/dc/cut").await.status, StatusCode::NOT_FOUND);
    assert!(s.list_names("dc").await.is_empty());
    assert_eq!(
        s.head("/dc").await.header_u64("x-container-object-count"),
        0
    );
    assert!(data_files(&app.data_dir()).is_empty());

    // The name is not poisoned: a complete upload then works.
    let body = random_bytes(1024 * 1024);
    s.put_object("dc", "cut", &body).await;
    assert!(s.get("/dc/cut").await.body[..] == body[..]);
    assert!(tmp_files(&app.data_dir()).is_empty());
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_cut_short_leaves_nothing() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("dc").await;
    for size in [KIB, 300 * KIB] {
        let name = format!("chunked-{size}");
        let mut req = request_head(
            "PUT",
            &s.path(&format!("/dc/{name}")),
            app.addr(),
            &[
                ("X-Auth-Token", app.token()),
                ("Transfer-Encoding", "chunked"),
            ],
        );
        let framed = cairn_tests::raw::chunked(&random_bytes(size), &[16 * KIB]);
        // Everything but the terminating zero chunk.
        req.extend_from_slice(&framed[..framed.len() - 5]);
        let mut conn = RawConn::connect(app.addr()).await.expect("connect");
        conn.send(&req).await.expect("send");
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(conn);
        assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = s.get(&format!("/dc/{name}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}: {r:?}");
    }
    assert!(s.list_names("dc").await.is_empty());
    assert_eq!(
        s.head("/dc").await.header_u64("x-container-object-count"),
        0
    );
    assert!(data_files(&app.data_dir()).is_empty());
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_etag_is_422_and_stores_nothing() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("et").await;
    let wrong = md5_hex(b"something else");
    for size in [KIB, 200 * KIB] {
        let body = random_bytes(size);
        let r = s
            .request("PUT", &format!("/et/new-{size}"), &[("etag", &wrong)], body)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{size}: {r:?}");
        r.assert_trans_id();
        assert_eq!(
            s.get(&format!("/et/new-{size}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
    }
    assert!(s.list_names("et").await.is_empty());
    assert!(data_files(&app.data_dir()).is_empty());

    // A failed overwrite keeps the old version; a right ETag (quoted or not) is accepted.
    for size in [KIB, 200 * KIB] {
        let old = random_bytes(size);
        let name = format!("old-{size}");
        s.put_object("et", &name, &old).await;
        let r = s
            .request(
                "PUT",
                &format!("/et/{name}"),
                &[("etag", &wrong)],
                random_bytes(size),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{size}: {r:?}");
        assert!(
            s.get(&format!("/et/{name}")).await.body[..] == old[..],
            "{name} changed"
        );
        let new = random_bytes(size);
        let quoted = format!("\"{}\"", md5_hex(&new));
        let r = s
            .request(
                "PUT",
                &format!("/et/{name}"),
                &[("etag", &quoted)],
                new.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{size}: {r:?}");
        assert!(s.get(&format!("/et/{name}")).await.body[..] == new[..]);
    }
    assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
    assert_eq!(
        data_files(&app.data_dir()).len(),
        3,
        "one large object, three replicas"
    );
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn short_bodies_store_nothing() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("cl").await;
    for (declared, sent) in [(100, 50), (200 * KIB, 100 * KIB)] {
        // Close the whole connection after part of the body.
        let name = format!("closed-{declared}");
        let mut conn = RawConn::connect(app.addr()).await.expect("connect");
        conn.send(&put_head(&app, &format!("/cl/{name}"), declared as u64))
            .await
            .expect("send head");
        conn.send(&random_bytes(sent)).await.expect("send body");
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(conn);

        // Half-close: the server sees the end of the stream and must not
        // take the short body as the object.
        let name2 = format!("halfclosed-{declared}");
        let mut conn = RawConn::connect(app.addr()).await.expect("connect");
        conn.send(&put_head(&app, &format!("/cl/{name2}"), declared as u64))
            .await
            .expect("send head");
        conn.send(&random_bytes(sent)).await.expect("send body");
        conn.shutdown_write().await.expect("half-close");
        if let Ok(r) = conn.read_response(false).await {
            assert!(
                !(200..300).contains(&r.status),
                "short body of {sent}/{declared} accepted: {r:?}"
            );
        }

        assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for n in [&name, &name2] {
            let r = s.get(&format!("/cl/{n}")).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{n}: {r:?}");
        }
    }
    assert!(s.list_names("cl").await.is_empty());
    assert!(data_files(&app.data_dir()).is_empty());
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn excess_body_bytes_are_not_stored() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("cl").await;
    let sent = b"0123456789abcdefghij";
    let mut conn = RawConn::connect(app.addr()).await.expect("connect");
    let mut req = put_head(&app, "/cl/ten", 10);
    req.extend_from_slice(sent);
    conn.send(&req).await.expect("send");
    let first = conn.read_response(false).await;
    let r = s.get("/cl/ten").await;
    match first {
        Ok(resp) if resp.status == 201 => {
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            assert_eq!(
                &r.body[..],
                &sent[..10],
                "stored body is not the first 10 bytes"
            );
            assert_eq!(s.list("cl").await[0].bytes, 10);
        }
        other => {
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "PUT failed ({other:?}) but an object exists: {r:?}"
            );
        }
    }
    assert_ne!(r.body.len(), 20, "all 20 bytes stored for a 10-byte PUT");
    app.assert_no_errors();
}

/// A refused request: path, headers, expected status.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, StatusCode);

#[tokio::test(flavor = "multi_thread")]
async fn bad_names_and_metadata_are_refused() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("nm").await;
    s.put_object("nm", "keep", b"kept").await;
    let listing_before = s.list("nm").await;
    let containers_before = s.containers().await;

    let long_object = "o".repeat(1025);
    let long_container = "c".repeat(257);
    let long_meta_name = format!("x-object-meta-{}", "n".repeat(129));
    let long_meta_value = "v".repeat(257);
    let long_cmeta_name = format!("x-container-meta-{}", "n".repeat(129));
    let cases: Vec<Case> = vec![
        ("/nm/a/../b".into(), vec![], StatusCode::BAD_REQUEST),
        ("/nm/../b".into(), vec![], StatusCode::BAD_REQUEST),
        (
            "/nm/bad%00name".into(),
            vec![],
            StatusCode::PRECONDITION_FAILED,
        ),
        ("/nm/%FF%FE".into(), vec![], StatusCode::PRECONDITION_FAILED),
        (
            format!("/nm/{long_object}"),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        // 513 two-byte characters: 1026 bytes once decoded.
        (
            format!("/nm/{}", "%C3%A9".repeat(513)),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/{long_container}"),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/{long_container}/o"),
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/nm/meta-name".into(),
            vec![(long_meta_name.as_str(), "v")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/nm/meta-value".into(),
            vec![("x-object-meta-k", long_meta_value.as_str())],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/nm2".into(),
            vec![(long_cmeta_name.as_str(), "v")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/nm3".into(),
            vec![("x-container-meta-k", long_meta_value.as_str())],
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (rel, headers, want) in &cases {
        let r = s
            .request("PUT", rel, headers, Bytes::from_static(b"x"))
            .await;
        let shown = &rel[..rel.len().min(80)];
        assert_eq!(
            r.status,
            *want,
            "PUT {shown} ({} headers): {r:?}",
            headers.len()
        );
        r.assert_trans_id();
    }
    // Reads of the same names do not find anything either.
    assert_eq!(s.get("/nm/b").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/nm/meta-name").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/nm/meta-value").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/nm/bad").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.list("nm").await, listing_before);
    assert_eq!(s.containers().await, containers_before);
    assert!(tmp_files(&app.data_dir()).is_empty());

    // The limits themselves are allowed.
    s.create_container("ok").await;
    let long_ok = "c".repeat(256);
    s.create_container(&long_ok).await;
    s.put_object(&long_ok, "o", b"x").await;
    s.put_object("ok", &"o".repeat(1024), b"x").await;
    s.put_object("ok", &"%C3%A9".repeat(512), b"x").await;
    let meta_name = format!("x-object-meta-{}", "n".repeat(128));
    let value = "v".repeat(256);
    let r = s
        .request(
            "PUT",
            "/ok/meta",
            &[
                (meta_name.as_str(), "v"),
                ("x-object-meta-k", value.as_str()),
            ],
            Bytes::from_static(b"x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let h = s.head("/ok/meta").await;
    assert_eq!(h.header(&meta_name), Some("v"));
    assert_eq!(h.header("x-object-meta-k"), Some(value.as_str()));
    assert_eq!(s.list("ok").await.len(), 3);
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn header_flood_is_refused_and_server_keeps_serving() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("hf").await;
    s.put_object("hf", "o", b"still here").await;
    // An idle keep-alive connection opened before the flood.
    let mut idle = RawConn::connect(app.addr()).await.expect("connect");

    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {}\r\n",
        s.path("/hf/o"),
        app.addr(),
        app.token()
    );
    for i in 0..10_000 {
        req.push_str(&format!("X-Flood-{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let stream = tokio::net::TcpStream::connect(app.addr())
        .await
        .expect("connect");
    let (rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The server may close before reading it all; that is its right.
        let _ = wr.write_all(req.as_bytes()).await;
        wr
    });
    let mut rd = BufReader::new(rd);
    let resp = tokio::time::timeout(
        Duration::from_secs(30),
        cairn_tests::raw::read_response(&mut rd, false),
    )
    .await
    .expect("no answer to the header flood within 30 s")
    .expect("read answer to the header flood");
    assert!(
        resp.status == 431 || resp.status == 400,
        "10 000 headers answered {} (want 431 or 400)",
        resp.status
    );
    drop(writer.await);

    let path = s.path("/hf/o");
    let get = request_head("GET", &path, app.addr(), &[("X-Auth-Token", app.token())]);
    idle.send(&get)
        .await
        .expect("idle connection still writable");
    let r = idle
        .read_response(false)
        .await
        .expect("idle connection answers");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"still here"[..]));
    let r = raw_request(app.addr(), &get)
        .await
        .expect("new connection answers");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"still here"[..]));
    assert_eq!(s.get("/hf/o").await.status, StatusCode::OK);
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_edges() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("pe").await;
    s.put_object("pe", "o", b"body").await;
    let token = [("X-Auth-Token", app.token())];

    // Unknown method.
    for rel in ["/pe/o", "/pe", ""] {
        let req = request_head("FROB", &s.path(rel), app.addr(), &token);
        let r = raw_request(app.addr(), &req).await.expect("FROB");
        assert_eq!(r.status, 405, "FROB {rel:?}: {r:?}");
        assert!(r.header("x-trans-id").is_some());
    }
    assert!(s.get("/pe/o").await.body[..] == b"body"[..]);

    // Declaring more than the 5 GiB limit: 413 from the headers alone.
    let req = put_head(&app, "/pe/huge", 5 * 1024 * 1024 * 1024 + 3);
    let r = raw_request(app.addr(), &req).await.expect("huge PUT");
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(s.get("/pe/huge").await.status, StatusCode::NOT_FOUND);

    // No Content-Length and no chunked coding: 411.
    let req = request_head("PUT", &s.path("/pe/nolen"), app.addr(), &token);
    let r = raw_request(app.addr(), &req)
        .await
        .expect("PUT without length");
    assert_eq!(r.status, 411, "{r:?}");
    assert_eq!(s.get("/pe/nolen").await.status, StatusCode::NOT_FOUND);

    assert_eq!(s.list_names("pe").await, ["o"]);
    assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_expect_continue_closes_the_connection() {
    // A client that stops waiting for `100 Continue` sends its body after
    // the refusal; on a reused connection those bytes would be taken for
    // the start of the next request. The server must end the connection.
    let app = Appliance::start().await;
    let mut conn = RawConn::connect(app.addr()).await.expect("connect");
    let headers = [
        ("X-Auth-Token", app.token()),
        ("Content-Length", "1"),
        ("Expect", "100-continue"),
    ];
    let head = request_head(
        "PUT",
        &app.swift().path("/no-such-container/o"),
        app.addr(),
        &headers,
    );
    conn.send(&head).await.expect("send head");
    let refused = conn.read_response(false).await.expect("response");
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(refused.header("connection"), Some("close"));
    // The late body and a next request get no answer: the server hung up.
    let next = request_head(
        "GET",
        &app.swift().path(""),
        app.addr(),
        &[("X-Auth-Token", app.token())],
    );
    let _ = conn.send(b"x").await;
    let _ = conn.send(&next).await;
    assert!(
        conn.read_response(false).await.is_err(),
        "the connection was reused"
    );
}
