//! The object store on identity's tokens, through the real `cairn up`:
//! members own their project's account and are refused others' (403),
//! readers read but do not write, container ACLs name projects, users and
//! roles, `.r:*` opens reads to anyone, the admin project's admin acts on
//! every account, and forged, expired, revoked, disabled-user and
//! deleted-project tokens are refused (401) within seconds.

use std::time::{Duration, Instant};

use cairn_tests::keystone::{admin_login, call, login, project_user, swift};
use cairn_tests::{wait_until, Appliance};
use http::StatusCode;
use serde_json::json;

/// Longest a revocation may take to reach the object store.
const REVOCATION_DELAY: Duration = Duration::from_secs(6);

#[tokio::test]
async fn roles_and_acls_decide_what_a_token_may_do() {
    let app = Appliance::start().await;
    let (ida, obj) = (app.identity_addr(), app.addr());
    let (admin, _) = admin_login(&app).await;
    let (pa, alice_id, alice_pw) = project_user(ida, &admin, "alpha", "member").await;
    let (pb, bob_id, bob_pw) = project_user(ida, &admin, "beta", "member").await;
    let reader_pw = "reader-pw-1";
    let rita = cairn_tests::keystone::create(
        ida,
        &admin,
        "/v3/users",
        "user",
        json!({"name": "rita", "password": reader_pw}),
    )
    .await;
    cairn_tests::keystone::grant(ida, &admin, &pa, &rita, "reader").await;
    let (alice, _) = login(ida, "alpha", &alice_pw, Some("alpha")).await;
    let (bob, _) = login(ida, "beta", &bob_pw, Some("beta")).await;
    let (reader, _) = login(ida, "rita", reader_pw, Some("alpha")).await;
    let (a, b) = (format!("/v1/AUTH_{pa}"), format!("/v1/AUTH_{pb}"));

    // A member owns their project's account.
    let r = swift(obj, "PUT", &format!("{a}/docs"), Some(&alice), &[], b"").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = swift(
        obj,
        "PUT",
        &format!("{a}/docs/x"),
        Some(&alice),
        &[],
        b"alpha data",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = swift(obj, "GET", &format!("{a}/docs/x"), Some(&alice), &[], b"").await;
    assert_eq!(
        (r.status, &r.body[..]),
        (StatusCode::OK, &b"alpha data"[..])
    );
    // X-Storage-Token works as X-Auth-Token does.
    let r = swift(obj, "HEAD", &a, None, &[("x-storage-token", &alice)], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = swift(obj, "PUT", &format!("{b}/mine"), Some(&bob), &[], b"").await;
    assert_eq!(r.status, StatusCode::CREATED);

    // A member of another project is refused, whatever the method.
    for (method, path) in [
        ("GET", format!("{a}/docs/x")),
        ("GET", format!("{a}/docs")),
        ("HEAD", a.clone()),
        ("PUT", format!("{a}/docs/y")),
        ("DELETE", format!("{a}/docs/x")),
        ("PUT", format!("{a}/bobs")),
        ("POST", format!("{a}/docs")),
    ] {
        let r = swift(obj, method, &path, Some(&bob), &[], b"").await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "bob {method} {path}: {r:?}"
        );
    }
    let r = swift(obj, "GET", &format!("{b}/mine"), Some(&alice), &[], b"").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A reader reads but does not write.
    let r = swift(obj, "GET", &format!("{a}/docs/x"), Some(&reader), &[], b"").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = swift(
        obj,
        "GET",
        &format!("{a}?format=json"),
        Some(&reader),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    for (method, path) in [
        ("PUT", format!("{a}/docs/y")),
        ("DELETE", format!("{a}/docs/x")),
        ("PUT", format!("{a}/readers")),
        ("POST", format!("{a}/docs")),
        ("POST", a.clone()),
    ] {
        let r = swift(obj, method, &path, Some(&reader), &[], b"").await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "reader {method} {path}: {r:?}"
        );
    }
    let r = swift(obj, "GET", &format!("{b}/mine"), Some(&reader), &[], b"").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // ACLs: bob may read as project:user, write as *:user; a role name
    // grants everyone holding it.
    let read_acl = format!("{pb}:{bob_id}");
    let r = swift(
        obj,
        "POST",
        &format!("{a}/docs"),
        Some(&alice),
        &[
            ("x-container-read", &read_acl),
            ("x-container-write", &format!("*:{bob_id}")),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = swift(obj, "GET", &format!("{a}/docs/x"), Some(&bob), &[], b"").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = swift(
        obj,
        "PUT",
        &format!("{a}/docs/from-bob"),
        Some(&bob),
        &[],
        b"b",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = swift(
        obj,
        "POST",
        &format!("{a}/docs"),
        Some(&alice),
        &[("x-container-read", "member"), ("x-container-write", "")],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = swift(obj, "GET", &format!("{a}/docs/x"), Some(&bob), &[], b"").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the member role is granted: {r:?}"
    );
    let r = swift(
        obj,
        "PUT",
        &format!("{a}/docs/again"),
        Some(&bob),
        &[],
        b"b",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the write ACL was cleared");
    let r = swift(
        obj,
        "POST",
        &format!("{a}/docs"),
        Some(&alice),
        &[("x-container-read", &format!("{pa}:*"))],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = swift(obj, "GET", &format!("{a}/docs/x"), Some(&bob), &[], b"").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "bob is not in alpha");
    // `.r:*` opens object reads to anyone, without a token.
    let r = swift(obj, "GET", &format!("{a}/docs/x"), None, &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = swift(
        obj,
        "POST",
        &format!("{a}/docs"),
        Some(&alice),
        &[("x-container-read", ".r:*")],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = swift(obj, "GET", &format!("{a}/docs/x"), None, &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);

    // The admin project's admin acts on every account; tempauth still works.
    let r = swift(
        obj,
        "GET",
        &format!("{b}/mine?format=json"),
        Some(&admin),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(app.swift().head("").await.status, StatusCode::NO_CONTENT);
    // An admin of an ordinary project is its owner only.
    let (_, _, carl_pw) = project_user(ida, &admin, "gamma", "admin").await;
    let (carl, _) = login(ida, "gamma", &carl_pw, Some("gamma")).await;
    let r = swift(obj, "GET", &format!("{b}/mine"), Some(&carl), &[], b"").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let _ = alice_id;
    app.assert_no_errors();
}

#[tokio::test]
async fn forged_and_expired_tokens_are_refused() {
    let app = Appliance::start_with_config("[identity]\ntoken_ttl_secs = 3\n").await;
    let (ida, obj) = (app.identity_addr(), app.addr());
    let (admin, project) = admin_login(&app).await;
    let acct = format!("/v1/AUTH_{project}");
    let r = swift(obj, "HEAD", &acct, Some(&admin), &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    // One changed character anywhere in the signature or claims.
    let (claims_end, _) = admin.rsplit_once('.').expect("c1.claims.sig");
    let mut forged = Vec::new();
    for pos in [admin.len() - 5, claims_end.len() - 5, 5] {
        let mut t = admin.clone().into_bytes();
        t[pos] = if t[pos] == b'A' { b'B' } else { b'A' };
        forged.push(String::from_utf8(t).expect("ascii"));
    }
    forged.push("c1.AAAA.BBBB".into());
    forged.push(format!("{admin}x"));
    for t in &forged {
        let r = swift(obj, "HEAD", &acct, Some(t), &[], b"").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{t}: {r:?}");
    }
    // A token signed by another key (another appliance's identity).
    let other = Appliance::start().await;
    let (foreign, _) = admin_login(&other).await;
    let r = swift(obj, "HEAD", &acct, Some(&foreign), &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    drop(other);
    // Expiry.
    let (short, _) = login(
        ida,
        "admin",
        &app.identity().password.clone(),
        Some("admin"),
    )
    .await;
    let r = swift(obj, "HEAD", &acct, Some(&short), &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let r = swift(obj, "HEAD", &acct, Some(&short), &[], b"").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.assert_no_errors();
}

/// Waits until `token` is refused by the object store; panics if that
/// takes longer than `REVOCATION_DELAY`.
async fn refused_soon(obj: std::net::SocketAddr, path: &str, token: &str, why: &str) {
    let started = Instant::now();
    let refused = wait_until(REVOCATION_DELAY, || async {
        swift(obj, "HEAD", path, Some(token), &[], b"").await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(refused, "{why}: still accepted after {REVOCATION_DELAY:?}");
    eprintln!("{why}: refused after {:?}", started.elapsed());
}

#[tokio::test]
async fn revoked_disabled_and_deleted_are_refused_within_seconds() {
    let app = Appliance::start().await;
    let (ida, obj) = (app.identity_addr(), app.addr());
    let (admin, _) = admin_login(&app).await;

    // A revoked token.
    let (pa, _, pw) = project_user(ida, &admin, "revoked", "member").await;
    let (t1, _) = login(ida, "revoked", &pw, Some("revoked")).await;
    let (t2, _) = login(ida, "revoked", &pw, Some("revoked")).await;
    let acct = format!("/v1/AUTH_{pa}");
    assert_eq!(
        swift(obj, "HEAD", &acct, Some(&t1), &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(
        ida,
        "DELETE",
        "/v3/auth/tokens",
        Some(&admin),
        &[("x-subject-token", &t1)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    refused_soon(obj, &acct, &t1, "revoked token").await;
    assert_eq!(
        swift(obj, "HEAD", &acct, Some(&t2), &[], b"").await.status,
        StatusCode::NO_CONTENT,
        "only the revoked token is refused"
    );

    // A disabled user.
    let (pd, ud, pw) = project_user(ida, &admin, "disabled", "member").await;
    let (t, _) = login(ida, "disabled", &pw, Some("disabled")).await;
    let acct = format!("/v1/AUTH_{pd}");
    assert_eq!(
        swift(obj, "HEAD", &acct, Some(&t), &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
    let r = call(
        ida,
        "PATCH",
        &format!("/v3/users/{ud}"),
        Some(&admin),
        &[],
        Some(json!({"user": {"enabled": false}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    refused_soon(obj, &acct, &t, "disabled user's token").await;

    // A deleted project.
    let (pdel, _, pw) = project_user(ida, &admin, "deleted", "member").await;
    let (t, _) = login(ida, "deleted", &pw, Some("deleted")).await;
    let acct = format!("/v1/AUTH_{pdel}");
    assert_eq!(
        swift(obj, "PUT", &format!("{acct}/c"), Some(&t), &[], b"")
            .await
            .status,
        StatusCode::CREATED
    );
    let r = call(
        ida,
        "DELETE",
        &format!("/v3/projects/{pdel}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    refused_soon(obj, &acct, &t, "deleted project's token").await;

    // A member who lost the role.
    let (pl, ul, pw) = project_user(ida, &admin, "lost", "member").await;
    let (t, _) = login(ida, "lost", &pw, Some("lost")).await;
    let acct = format!("/v1/AUTH_{pl}");
    let rid = cairn_tests::keystone::role_id(ida, &admin, "member").await;
    let r = call(
        ida,
        "DELETE",
        &format!("/v3/projects/{pl}/users/{ul}/roles/{rid}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    refused_soon(obj, &acct, &t, "token of a removed grant").await;
    app.assert_no_errors();
}
