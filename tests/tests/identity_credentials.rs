//! Credentials in identity through the real `cairn up`: EC2 key pairs
//! (OS-EC2 and `/v3/credentials`) and the service lookup the object store
//! makes with them, application credentials (create, log in by id or by
//! name, roles, expiry, restrictions, deletion revoking their tokens, in
//! identity and in the object store), lockout after failed logins, and no
//! password, secret or token in the log of a whole run.

use std::time::Duration;

use cairn_tests::keystone::{admin_login, call, json_of, login, project_user, swift, try_login};
use cairn_tests::{wait_until, Appliance};
use http::StatusCode;
use serde_json::{json, Value};

/// The service secret `cairn up` generated (objectd presents it to identity).
fn service_secret(app: &Appliance) -> String {
    let text =
        std::fs::read_to_string(app.data_dir().join("credentials.toml")).expect("credentials.toml");
    text.lines()
        .find_map(|l| l.strip_prefix("service_secret = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("service_secret in credentials.toml")
}

fn app_cred_auth(auth: Value) -> Value {
    json!({"auth": {"identity": {"methods": ["application_credential"],
                                 "application_credential": auth}}})
}

#[tokio::test]
async fn ec2_credentials_and_the_service_lookup() {
    let app = Appliance::start().await;
    let ida = app.identity_addr();
    let (admin, admin_project) = admin_login(&app).await;
    let (pa, ua, pw) = project_user(ida, &admin, "ec2user", "member").await;
    let (mine, _) = login(ida, "ec2user", &pw, Some("ec2user")).await;

    let base = format!("/v3/users/{ua}/credentials/OS-EC2");
    let r = call(
        ida,
        "POST",
        &base,
        Some(&mine),
        &[],
        Some(json!({"tenant_id": pa})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let c = json_of(&r)["credential"].clone();
    let (access, secret) = (
        c["access"].as_str().expect("access"),
        c["secret"].as_str().expect("secret"),
    );
    assert_eq!(c["tenant_id"], pa.as_str());
    assert_eq!(c["user_id"], ua.as_str());
    assert!(c["links"]["self"]
        .as_str()
        .expect("link")
        .ends_with(&format!("OS-EC2/{access}")));

    let list = json_of(&call(ida, "GET", &base, Some(&mine), &[], None).await);
    assert_eq!(list["credentials"].as_array().expect("list").len(), 1);
    let shown = call(
        ida,
        "GET",
        &format!("{base}/{access}"),
        Some(&mine),
        &[],
        None,
    )
    .await;
    assert_eq!(json_of(&shown)["credential"]["secret"], secret);
    let all = json_of(
        &call(
            ida,
            "GET",
            "/v3/credentials?type=ec2",
            Some(&admin),
            &[],
            None,
        )
        .await,
    );
    let entry = all["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .find(|x| x["user_id"] == ua.as_str())
        .expect("ec2user's credential in /v3/credentials")
        .clone();
    let blob: Value =
        serde_json::from_str(entry["blob"].as_str().expect("blob")).expect("blob JSON");
    assert_eq!(
        (blob["access"].as_str(), blob["secret"].as_str()),
        (Some(access), Some(secret))
    );
    assert_eq!(entry["project_id"], pa.as_str());
    // Another member cannot see or make someone else's.
    let (_, _, opw) = project_user(ida, &admin, "other", "member").await;
    let (other, _) = login(ida, "other", &opw, Some("other")).await;
    let r = call(ida, "GET", &base, Some(&other), &[], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        ida,
        "POST",
        &base,
        Some(&other),
        &[],
        Some(json!({"tenant_id": pa})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(ida, "GET", "/v3/credentials", Some(&other), &[], None).await;
    assert_eq!(
        json_of(&r)["credentials"],
        json!([]),
        "a member lists only their own"
    );

    // The service lookup: only with the service secret.
    let lookup = format!("/v3/cairn/ec2-credentials/{access}");
    let svc = service_secret(&app);
    let r = call(ida, "GET", &lookup, None, &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        ida,
        "GET",
        &lookup,
        Some(&admin),
        &[("x-service-secret", "wrong-secret-wrong")],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        ida,
        "GET",
        &lookup,
        None,
        &[("x-service-secret", &svc)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let g = json_of(&r)["credential"].clone();
    assert_eq!(
        (g["secret"].as_str(), g["project_id"].as_str()),
        (Some(secret), Some(pa.as_str()))
    );
    assert_eq!(g["roles"], json!(["member"]));
    assert_eq!(g["is_admin_project"], false);
    // cairn up made the admin's pair (the openrc's) on the admin project.
    let s3 = app.openrc().s3.clone().expect("AWS_* in openrc");
    let r = call(
        ida,
        "GET",
        &format!("/v3/cairn/ec2-credentials/{}", s3.access_key_id),
        None,
        &[("x-service-secret", &svc)],
        None,
    )
    .await;
    let g = json_of(&r)["credential"].clone();
    assert_eq!(g["secret"].as_str(), Some(s3.secret_access_key.as_str()));
    assert_eq!(g["project_id"].as_str(), Some(admin_project.as_str()));
    assert_eq!(g["is_admin_project"], true);

    let r = call(
        ida,
        "DELETE",
        &format!("{base}/{access}"),
        Some(&mine),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        ida,
        "GET",
        &lookup,
        None,
        &[("x-service-secret", &svc)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        ida,
        "GET",
        &format!("{base}/{access}"),
        Some(&mine),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.assert_no_errors();
}

#[tokio::test]
async fn application_credentials() {
    let app = Appliance::start().await;
    let (ida, obj) = (app.identity_addr(), app.addr());
    let (admin, _) = admin_login(&app).await;
    let (pa, ua, pw) = project_user(ida, &admin, "appuser", "member").await;
    cairn_tests::keystone::grant(ida, &admin, &pa, &ua, "reader").await;
    let (mine, _) = login(ida, "appuser", &pw, Some("appuser")).await;
    let base = format!("/v3/users/{ua}/application_credentials");

    // Roles beyond the token's are refused; a subset is kept.
    let r = call(
        ida,
        "POST",
        &base,
        Some(&mine),
        &[],
        Some(json!({"application_credential": {"name": "x", "roles": [{"name": "admin"}]}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = call(ida, "POST", &base, Some(&mine), &[],
        Some(json!({"application_credential": {"name": "ro", "roles": [{"name": "reader"}],
                    "secret": null, "description": null, "expires_at": null, "unrestricted": false}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let ro = json_of(&r)["application_credential"].clone();
    let (ro_id, ro_secret) = (
        ro["id"].as_str().expect("id").to_string(),
        ro["secret"].as_str().expect("secret").to_string(),
    );
    assert_eq!(ro["roles"][0]["name"], "reader");
    assert_eq!(ro["project_id"], pa.as_str());
    let r = call(
        ida,
        "POST",
        &base,
        Some(&mine),
        &[],
        Some(json!({"application_credential": {"name": "ro"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let shown = json_of(
        &call(
            ida,
            "GET",
            &format!("{base}/{ro_id}"),
            Some(&mine),
            &[],
            None,
        )
        .await,
    );
    assert!(shown["application_credential"].get("secret").is_none());
    let listed = json_of(
        &call(
            ida,
            "GET",
            &format!("{base}?name=ro"),
            Some(&mine),
            &[],
            None,
        )
        .await,
    );
    assert_eq!(
        listed["application_credentials"]
            .as_array()
            .expect("list")
            .len(),
        1
    );

    // Log in by id, and by name and user.
    let r = call(
        ida,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(app_cred_auth(json!({"id": ro_id, "secret": ro_secret}))),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let ro_token = r.header("x-subject-token").expect("token").to_string();
    let t = json_of(&r)["token"].clone();
    assert_eq!(t["methods"], json!(["application_credential"]));
    assert_eq!(
        t["roles"],
        json!([{"id": t["roles"][0]["id"], "name": "reader"}])
    );
    assert_eq!(t["application_credential"]["id"], ro_id.as_str());
    assert_eq!(t["application_credential"]["restricted"], true);
    assert_eq!(t["project"]["id"], pa.as_str());
    let r = call(
        ida,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(app_cred_auth(json!({"name": "ro", "secret": ro_secret,
            "user": {"name": "appuser", "domain": {"id": "default"}}}))),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    for bad in [
        json!({"id": ro_id, "secret": "wrong"}),
        json!({"id": "nope", "secret": ro_secret}),
    ] {
        let r = call(
            ida,
            "POST",
            "/v3/auth/tokens",
            None,
            &[],
            Some(app_cred_auth(bad)),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // The token reads the project's account but writes nothing.
    let acct = format!("/v1/AUTH_{pa}");
    assert_eq!(
        swift(obj, "PUT", &format!("{acct}/c"), Some(&mine), &[], b"")
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        swift(obj, "GET", &format!("{acct}/c"), Some(&ro_token), &[], b"")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        swift(
            obj,
            "PUT",
            &format!("{acct}/c/o"),
            Some(&ro_token),
            &[],
            b"x"
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // A restricted credential's token makes no further credentials.
    let r = call(
        ida,
        "POST",
        &base,
        Some(&ro_token),
        &[],
        Some(json!({"application_credential": {"name": "more"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");

    // Deleting it revokes its tokens, in identity and the object store.
    let r = call(
        ida,
        "DELETE",
        &format!("{base}/{ro_id}"),
        Some(&mine),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(ida, "GET", "/v3/auth/projects", Some(&ro_token), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let gone = wait_until(Duration::from_secs(6), || async {
        swift(obj, "HEAD", &acct, Some(&ro_token), &[], b"")
            .await
            .status
            == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        gone,
        "the object store still takes a deleted credential's token"
    );
    let r = call(
        ida,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(app_cred_auth(json!({"id": ro_id, "secret": ro_secret}))),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Expiry: a credential that ends in two seconds.
    let soon = common::token::iso8601(common::token::now_ms() + 2000);
    let r = call(ida, "POST", &base, Some(&mine), &[],
        Some(json!({"application_credential": {"name": "brief", "expires_at": soon, "secret": "my-own-secret"}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let brief = json_of(&r)["application_credential"].clone();
    assert_eq!(brief["secret"], "my-own-secret");
    let auth = app_cred_auth(json!({"id": brief["id"], "secret": "my-own-secret"}));
    let r = call(
        ida,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(auth.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let expires = json_of(&r)["token"]["expires_at"]
        .as_str()
        .expect("expires_at")
        .to_string();
    assert!(
        expires <= soon,
        "token outlives its credential: {expires} > {soon}"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = call(ida, "POST", "/v3/auth/tokens", None, &[], Some(auth)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.assert_no_errors();
}

#[tokio::test]
async fn lockout_after_failed_logins() {
    let app = Appliance::start_with_config(
        "[identity]\nlockout_failure_attempts = 3\nlockout_duration_secs = 3\n",
    )
    .await;
    let ida = app.identity_addr();
    let (admin, _) = admin_login(&app).await;
    let (_, _, pw) = project_user(ida, &admin, "locky", "member").await;
    let unknown = try_login(ida, "nobody-at-all", "whatever", Some("locky")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for _ in 0..3 {
        let r = try_login(ida, "locky", "wrong password", Some("locky")).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::UNAUTHORIZED, &unknown.body)
        );
    }
    // Locked out: the right password is refused with the same answer.
    let r = try_login(ida, "locky", &pw, Some("locky")).await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::UNAUTHORIZED, &unknown.body),
        "{r:?}"
    );
    // Others are not affected.
    let r = try_login(
        ida,
        "admin",
        &app.identity().password.clone(),
        Some("admin"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let unlocked = wait_until(Duration::from_secs(6), || async {
        try_login(ida, "locky", &pw, Some("locky")).await.status == StatusCode::CREATED
    })
    .await;
    assert!(unlocked, "still locked out after the lockout duration");
    // A success clears the count: two more failures do not lock.
    for _ in 0..2 {
        try_login(ida, "locky", "wrong password", Some("locky")).await;
    }
    assert_eq!(
        try_login(ida, "locky", &pw, Some("locky")).await.status,
        StatusCode::CREATED
    );
    app.assert_no_errors();
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let mut app = Appliance::start_with_env(None, &[("RUST_LOG", "debug")]).await;
    let ida = app.identity_addr();
    let (admin, _) = admin_login(&app).await;
    let (pa, ua, pw) = project_user(ida, &admin, "logged", "member").await;
    let (mine, _) = login(ida, "logged", &pw, Some("logged")).await;
    let _ = try_login(ida, "logged", "a-wrong-password-123", Some("logged")).await;
    let r = call(
        ida,
        "POST",
        &format!("/v3/users/{ua}/credentials/OS-EC2"),
        Some(&mine),
        &[],
        Some(json!({"tenant_id": pa})),
    )
    .await;
    let ec2_secret = json_of(&r)["credential"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let access = json_of(&r)["credential"]["access"]
        .as_str()
        .expect("access")
        .to_string();
    let r = call(
        ida,
        "POST",
        &format!("/v3/users/{ua}/application_credentials"),
        Some(&mine),
        &[],
        Some(json!({"application_credential": {"name": "logapp"}})),
    )
    .await;
    let app_secret = json_of(&r)["application_credential"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let app_id = json_of(&r)["application_credential"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = call(
        ida,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(app_cred_auth(json!({"id": app_id, "secret": app_secret}))),
    )
    .await;
    let app_token = r.header("x-subject-token").expect("token").to_string();
    let svc = service_secret(&app);
    let r = call(
        ida,
        "GET",
        &format!("/v3/cairn/ec2-credentials/{access}"),
        None,
        &[("x-service-secret", &svc)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let acct = format!("/v1/AUTH_{pa}");
    assert_eq!(
        swift(
            obj_addr(&app),
            "PUT",
            &format!("{acct}/c"),
            Some(&mine),
            &[],
            b""
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        swift(obj_addr(&app), "HEAD", &acct, Some(&app_token), &[], b"")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let _ = swift(
        obj_addr(&app),
        "HEAD",
        &acct,
        Some("c1.forged.token"),
        &[],
        b"",
    )
    .await;
    let admin_pw = app.identity().password.clone();
    let swift_key = app.openrc().key.clone();
    let s3 = app.openrc().s3.clone().expect("AWS_*");
    let status = app.stop().await;
    assert!(status.success());
    let log = app.log();
    assert!(log.contains("DEBUG"), "the run logged at debug level");
    for (what, secret) in [
        ("admin password", admin_pw.as_str()),
        ("user password", pw.as_str()),
        ("wrong password", "a-wrong-password-123"),
        ("ec2 secret", ec2_secret.as_str()),
        ("admin ec2 secret", s3.secret_access_key.as_str()),
        ("application credential secret", app_secret.as_str()),
        ("service secret", svc.as_str()),
        ("swift key", swift_key.as_str()),
        ("admin token", admin.as_str()),
        ("user token", mine.as_str()),
        ("application credential token", app_token.as_str()),
    ] {
        assert!(!log.contains(secret), "the log holds the {what}");
    }
}

fn obj_addr(app: &Appliance) -> std::net::SocketAddr {
    app.addr()
}
