//! System tests of ordinary object storage through the Swift API: round
//! trips across the inline/file boundary, chunked uploads, ranges, expiry and
//! concurrent writers, each checked by reading back what was stored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cairn_tests::raw::{chunked, raw_request, request_head};
use cairn_tests::{
    assert_tmp_empties, data_files, md5_hex, random_bytes, tmp_files, wait_until, Appliance,
};
use http::StatusCode;

const KIB: usize = 1024;

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_across_sizes() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("rt").await;
    let sizes = [0, 1, 64 * KIB, 64 * KIB + 1, 5 * KIB * KIB];
    let mut bodies = Vec::new();
    for size in sizes {
        let body = random_bytes(size);
        let name = format!("obj-{size}");
        let put = s.put(&format!("/rt/{name}"), body.clone()).await;
        assert_eq!(put.status, StatusCode::CREATED, "PUT {size}: {put:?}");
        put.assert_trans_id();
        assert_eq!(put.etag(), Some(md5_hex(&body).as_str()), "PUT {size} ETag");

        let get = s.get(&format!("/rt/{name}")).await;
        assert_eq!(get.status, StatusCode::OK, "GET {size}");
        get.assert_trans_id();
        assert_eq!(get.body.len(), size, "GET {size} length");
        assert!(get.body[..] == body[..], "GET {size}: body differs");
        assert_eq!(get.etag(), Some(md5_hex(&body).as_str()), "GET {size} ETag");
        assert_eq!(get.header_u64("content-length"), size as u64);

        let head = s.head(&format!("/rt/{name}")).await;
        assert_eq!(head.status, StatusCode::OK, "HEAD {size}");
        head.assert_trans_id();
        assert_eq!(
            head.header_u64("content-length"),
            size as u64,
            "HEAD {size}"
        );
        assert_eq!(
            head.etag(),
            Some(md5_hex(&body).as_str()),
            "HEAD {size} ETag"
        );
        assert!(head.body.is_empty());
        bodies.push((name, body));
    }

    // The listing and the container's totals agree with what was stored.
    let listed = s.list("rt").await;
    let mut want: Vec<_> = bodies
        .iter()
        .map(|(n, b)| (n.clone(), b.len() as u64, md5_hex(b)))
        .collect();
    want.sort();
    let got: Vec<_> = listed
        .iter()
        .map(|e| (e.name.clone(), e.bytes, e.hash.clone()))
        .collect();
    assert_eq!(got, want);
    let head = s.head("/rt").await;
    head.assert_trans_id();
    assert_eq!(
        head.header_u64("x-container-object-count"),
        sizes.len() as u64
    );
    let total: usize = sizes.iter().sum();
    assert_eq!(head.header_u64("x-container-bytes-used"), total as u64);

    // Errors carry a transaction id too.
    let missing = s.get("/rt/missing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    missing.assert_trans_id();

    // Bodies over 64 KiB are files, three replicas each; none left in tmp.
    let large = sizes.iter().filter(|&&n| n > 64 * KIB).count();
    assert_eq!(data_files(&app.data_dir()).len(), 3 * large, "data files");
    assert!(tmp_files(&app.data_dir()).is_empty());

    // Overwrite (inline to file) and delete read back and keep the totals right.
    let newer = random_bytes(100 * KIB);
    s.put_object("rt", "obj-1", &newer).await;
    let get = s.get("/rt/obj-1").await;
    assert!(get.body[..] == newer[..], "overwritten object differs");
    let head = s.head("/rt").await;
    assert_eq!(
        head.header_u64("x-container-object-count"),
        sizes.len() as u64
    );
    let total = total - 1 + newer.len();
    assert_eq!(head.header_u64("x-container-bytes-used"), total as u64);
    let del = s.delete("/rt/obj-1").await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    del.assert_trans_id();
    assert_eq!(s.get("/rt/obj-1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.delete("/rt/obj-1").await.status, StatusCode::NOT_FOUND);
    let head = s.head("/rt").await;
    assert_eq!(
        head.header_u64("x-container-object-count"),
        sizes.len() as u64 - 1
    );
    let total = total - newer.len();
    assert_eq!(head.header_u64("x-container-bytes-used"), total as u64);
    assert!(!s.list_names("rt").await.contains(&"obj-1".to_string()));
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_reads_back_exact() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("ch").await;
    for (name, size) in [("big", 200 * KIB), ("small", 3 * KIB)] {
        let body = random_bytes(size);
        let mut req = request_head(
            "PUT",
            &s.path(&format!("/ch/{name}")),
            app.addr(),
            &[
                ("X-Auth-Token", app.token()),
                ("Transfer-Encoding", "chunked"),
                ("Connection", "close"),
            ],
        );
        req.extend_from_slice(&chunked(&body, &[1, 1000, 64 * KIB, 7, 50 * KIB]));
        let resp = raw_request(app.addr(), &req).await.expect("chunked PUT");
        assert_eq!(resp.status, 201, "chunked PUT {name}: {resp:?}");
        assert!(resp.header("x-trans-id").is_some());
        assert_eq!(
            resp.header("etag").map(|e| e.trim_matches('"')),
            Some(md5_hex(&body).as_str())
        );
        let get = s.get(&format!("/ch/{name}")).await;
        assert_eq!(get.status, StatusCode::OK);
        assert!(get.body[..] == body[..], "chunked {name}: body differs");
        assert_eq!(get.header_u64("content-length"), size as u64);
    }
    let listed = s.list("ch").await;
    assert_eq!(
        listed.iter().map(|e| e.bytes).collect::<Vec<_>>(),
        vec![200 * KIB as u64, 3 * KIB as u64]
    );
    assert!(tmp_files(&app.data_dir()).is_empty());
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_ranges_serve_the_whole_body() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("rg").await;
    for size in [100, 70 * KIB] {
        let body = random_bytes(size);
        let path = format!("/rg/o{size}");
        s.put_object("rg", &format!("o{size}"), &body).await;
        for range in ["bytes=zz", "bytes=5-1", "bytes=", "bites=0-1", "bytes=1-x"] {
            let r = s
                .request("GET", &path, &[("range", range)], Bytes::new())
                .await;
            assert_eq!(r.status, StatusCode::OK, "{range} on {size}: {r:?}");
            assert!(r.body[..] == body[..], "{range} on {size}: body differs");
            assert!(r.header("content-range").is_none(), "{range}: {r:?}");
        }
        // A good range still works.
        let r = s
            .request("GET", &path, &[("range", "bytes=10-19")], Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.body[..], body[10..20]);
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes 10-19/{size}").as_str())
        );
        let r = s
            .request("GET", &path, &[("range", "bytes=-5")], Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.body[..], body[size - 5..]);
        let r = s
            .request(
                "GET",
                &path,
                &[("range", &format!("bytes={size}-"))],
                Bytes::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE, "{r:?}");
    }
    app.assert_no_errors();
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_objects_vanish_from_reads_and_listings() {
    let app = Appliance::start_with_config(
        "[objectd]\nexpirer_interval_secs = 1\n\
         [[objectd.users]]\naccount = \"test\"\nuser = \"tester\"\nkey = \"testing\"\ngroups = [\".admin\"]\n",
    )
    .await;
    let s = app.swift();
    s.create_container("ex").await;
    let keep = random_bytes(10);
    s.put_object("ex", "keep", &keep).await;

    // A small (inline) and a large (file-backed) object that expire.
    let before_put = now_secs();
    for (name, size) in [("short", 1000), ("big", 100 * KIB)] {
        let put = s
            .request(
                "PUT",
                &format!("/ex/{name}"),
                &[("x-delete-after", "1")],
                random_bytes(size),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{name}: {put:?}");
    }
    let head = s.head("/ex").await;
    if now_secs() < before_put + 1 {
        // Still before the earliest possible delete-at: both are counted.
        assert_eq!(head.header_u64("x-container-object-count"), 3, "{head:?}");
        let used = (10 + 1000 + 100 * KIB) as u64;
        assert_eq!(head.header_u64("x-container-bytes-used"), used, "{head:?}");
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["short", "big"] {
        let get = s.get(&format!("/ex/{name}")).await;
        assert_eq!(
            get.status,
            StatusCode::NOT_FOUND,
            "expired {name} served: {get:?}"
        );
        let head = s.head(&format!("/ex/{name}")).await;
        assert_eq!(
            head.status,
            StatusCode::NOT_FOUND,
            "expired {name}: {head:?}"
        );
    }

    let gone = wait_until(Duration::from_secs(10), || async {
        let h = s.head("/ex").await;
        s.list_names("ex").await == ["keep"]
            && h.header_u64("x-container-object-count") == 1
            && h.header_u64("x-container-bytes-used") == 10
    })
    .await;
    let h = s.head("/ex").await;
    assert!(
        gone,
        "expired objects still listed/counted after 10 s: listing {:?}, count {:?}, bytes {:?}",
        s.list_names("ex").await,
        h.header("x-container-object-count"),
        h.header("x-container-bytes-used"),
    );
    assert!(s.get("/ex/keep").await.body[..] == keep[..]);
    let files_gone = wait_until(Duration::from_secs(10), || async {
        data_files(&app.data_dir()).is_empty()
    })
    .await;
    assert!(
        files_gone,
        "data files of the expired object remain: {:?}",
        data_files(&app.data_dir())
    );

    // The configured user works too.
    let tester = app
        .login("test:tester", "testing")
        .await
        .expect("tester login");
    assert!(
        tester.path("").ends_with("/v1/AUTH_test"),
        "{}",
        tester.path("")
    );
    tester.create_container("mine").await;
    assert_eq!(tester.list_names("mine").await, Vec::<String>::new());
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_puts_are_all_listed_and_counted() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("cc").await;
    let bodies: Vec<Vec<u8>> = (0..64).map(|i| random_bytes(100 + i * 37)).collect();
    let puts = bodies.iter().enumerate().map(|(i, b)| {
        let s = s.clone();
        let b = b.clone();
        tokio::spawn(async move {
            let r = s.put(&format!("/cc/obj-{i:02}"), b).await;
            (i, r)
        })
    });
    for joined in futures::future::join_all(puts).await {
        let (i, r) = joined.expect("PUT task");
        assert_eq!(r.status, StatusCode::CREATED, "PUT obj-{i:02}: {r:?}");
        assert_eq!(r.etag(), Some(md5_hex(&bodies[i]).as_str()));
    }
    let listed = s.list("cc").await;
    let names: Vec<_> = listed.iter().map(|e| e.name.clone()).collect();
    let want: Vec<_> = (0..64).map(|i| format!("obj-{i:02}")).collect();
    assert_eq!(names, want);
    for (e, b) in listed.iter().zip(&bodies) {
        assert_eq!(
            (e.bytes, e.hash.as_str()),
            (b.len() as u64, md5_hex(b).as_str())
        );
    }
    let head = s.head("/cc").await;
    assert_eq!(head.header_u64("x-container-object-count"), 64);
    let sum: usize = bodies.iter().map(Vec::len).sum();
    assert_eq!(head.header_u64("x-container-bytes-used"), sum as u64);

    // Concurrent readers get the right bodies back.
    let gets = (0..64).map(|i| {
        let s = s.clone();
        tokio::spawn(async move { (i, s.get(&format!("/cc/obj-{i:02}")).await) })
    });
    for joined in futures::future::join_all(gets).await {
        let (i, r) = joined.expect("GET task");
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body[..] == bodies[i][..], "obj-{i:02} differs");
    }
    assert_tmp_empties(&app.data_dir(), Duration::from_secs(1)).await;
    app.assert_no_errors();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_overwrites_leave_one_whole_version() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("ow").await;
    let mut wrong = Vec::new();
    for (name, size) in [("small", 3 * KIB), ("large", 150 * KIB)] {
        let bodies: Vec<Vec<u8>> = (0..32).map(|_| random_bytes(size + 1)).collect();
        let puts = bodies.iter().map(|b| {
            let s = s.clone();
            let b = b.clone();
            let rel = format!("/ow/{name}");
            tokio::spawn(async move { s.put(&rel, b).await })
        });
        // Swift answers a PUT that lost the race to a newer one with 202
        // (its object servers' 409 becomes 202 at the proxy), never with 409.
        let statuses: Vec<StatusCode> = futures::future::join_all(puts)
            .await
            .into_iter()
            .map(|j| j.expect("PUT task").status)
            .collect();
        let get = s.get(&format!("/ow/{name}")).await;
        assert_eq!(get.status, StatusCode::OK);
        let winner = bodies
            .iter()
            .position(|b| b[..] == get.body[..])
            .unwrap_or_else(|| panic!("{name}: the stored body is none of the uploads"));
        assert_eq!(get.etag(), Some(md5_hex(&bodies[winner]).as_str()));
        let listed: Vec<_> = s
            .list("ow")
            .await
            .into_iter()
            .filter(|e| e.name == name)
            .collect();
        assert_eq!(listed.len(), 1, "{name} listed {} times", listed.len());
        assert_eq!(
            listed[0].hash,
            md5_hex(&bodies[winner]),
            "{name}: listing hash"
        );
        assert_eq!(listed[0].bytes, size as u64 + 1);
        let mut tally = std::collections::BTreeMap::new();
        for st in &statuses {
            *tally.entry(st.as_u16()).or_insert(0) += 1;
        }
        let swift_like = statuses
            .iter()
            .all(|st| *st == StatusCode::CREATED || *st == StatusCode::ACCEPTED);
        if !swift_like || statuses[winner] != StatusCode::CREATED {
            wrong.push(format!(
                "{name}: statuses {tally:?}, stored version answered {}",
                statuses[winner]
            ));
        }
    }
    let head = s.head("/ow").await;
    assert_eq!(head.header_u64("x-container-object-count"), 2, "{head:?}");
    let used = 3 * KIB + 1 + 150 * KIB + 1;
    assert_eq!(
        head.header_u64("x-container-bytes-used"),
        used as u64,
        "{head:?}"
    );
    // One large object: three replicas, older versions gone, nothing in tmp.
    assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
    let files_settled = wait_until(Duration::from_secs(5), || async {
        data_files(&app.data_dir()).len() == 3
    })
    .await;
    assert!(
        files_settled,
        "want 3 data files for one large object, found {:?}",
        data_files(&app.data_dir())
    );
    app.assert_no_errors();
    assert!(
        wrong.is_empty(),
        "concurrent PUTs of one name must each get 201 or 202, the stored one 201: {wrong:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn container_totals_match_listing_after_concurrent_churn() {
    let app = Appliance::start().await;
    let s = app.swift();
    s.create_container("churn").await;
    // 8 names; each task overwrites or deletes one at random sizes, both
    // sides of the inline limit. Swift answers 201 or 202 (lost the race) to
    // a PUT, and 204, 404 or 409 (lost the race) to a DELETE.
    let tasks = (0..96).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let rel = format!("/churn/n{}", i % 8);
            if i % 5 == 4 {
                let st = s.delete(&rel).await.status;
                let ok = [
                    StatusCode::NO_CONTENT,
                    StatusCode::NOT_FOUND,
                    StatusCode::CONFLICT,
                ];
                (!ok.contains(&st)).then(|| format!("DELETE {st}"))
            } else {
                let size = if i % 3 == 0 { 70 * KIB + i } else { 10 * i };
                let st = s.put(&rel, random_bytes(size)).await.status;
                let ok = [StatusCode::CREATED, StatusCode::ACCEPTED];
                (!ok.contains(&st)).then(|| format!("PUT {st}"))
            }
        })
    });
    let mut wrong = std::collections::BTreeMap::new();
    for joined in futures::future::join_all(tasks).await {
        if let Some(w) = joined.expect("churn task") {
            *wrong.entry(w).or_insert(0) += 1;
        }
    }
    let listed = s.list("churn").await;
    let head = s.head("/churn").await;
    let bytes: u64 = listed.iter().map(|e| e.bytes).sum();
    assert_eq!(
        (
            head.header_u64("x-container-object-count"),
            head.header_u64("x-container-bytes-used")
        ),
        (listed.len() as u64, bytes),
        "container totals disagree with its listing {listed:?}"
    );
    for e in &listed {
        let r = s.get(&format!("/churn/{}", e.name)).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{} listed but not readable",
            e.name
        );
        assert_eq!(
            (r.body.len() as u64, md5_hex(&r.body)),
            (e.bytes, e.hash.clone())
        );
    }
    for i in 0..8 {
        let name = format!("n{i}");
        if !listed.iter().any(|e| e.name == name) {
            let r = s.get(&format!("/churn/{name}")).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{name} readable but not listed"
            );
        }
    }
    assert_tmp_empties(&app.data_dir(), Duration::from_secs(5)).await;
    app.assert_no_errors();
    assert!(
        wrong.is_empty(),
        "of 96 requests, answers Swift does not give (answer: count): {wrong:?}"
    );
}
