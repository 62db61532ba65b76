//! Identity (Keystone v3) of the real `cairn up` over HTTP: version
//! discovery, password tokens with a catalog, validation, revocation,
//! identical answers for an unknown user and a wrong password, admin-only
//! management, expiry, the verification document services poll, and
//! system-scoped tokens.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cairn_tests::client::{build, send, Response};
use cairn_tests::Appliance;
use http::StatusCode;
use serde_json::{json, Value};

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Response {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(t) = token {
        headers.push(("x-auth-token", t));
    }
    let bytes = match &body {
        Some(b) => {
            headers.push(("content-type", "application/json"));
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    send(addr, build(addr, method, path, &headers, bytes))
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
}

fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", r.body))
}

fn password_auth(user: &str, password: &str, project: Option<&str>) -> Value {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}}});
    if let Some(p) = project {
        auth["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    json!({ "auth": auth })
}

/// Logs in; returns the token and the body.
async fn login(addr: SocketAddr, user: &str, pw: &str, project: Option<&str>) -> (String, Value) {
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(password_auth(user, pw, project)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "login {user}: {r:?}");
    let token = r
        .header("x-subject-token")
        .expect("X-Subject-Token")
        .to_string();
    (token, json_of(&r))
}

#[tokio::test]
async fn discovery_tokens_catalog_and_revocation() {
    let app = Appliance::start().await;
    let addr = app.identity_addr();
    let pw = app.identity().password.clone();

    let root = call(addr, "GET", "/", None, &[], None).await;
    assert_eq!(root.status, StatusCode::MULTIPLE_CHOICES);
    let v = json_of(&root);
    assert_eq!(v["versions"]["values"][0]["id"], "v3.14");
    let v3 = json_of(&call(addr, "GET", "/v3", None, &[], None).await);
    assert_eq!(v3["version"]["status"], "stable");
    assert_eq!(
        v3["version"]["links"][0]["href"],
        format!("http://{addr}/v3/")
    );

    let (token, body) = login(addr, "admin", &pw, Some("admin")).await;
    let t = &body["token"];
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["methods"], json!(["password"]));
    assert!(t["expires_at"].as_str().expect("expires_at").ends_with('Z'));
    assert!(t["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .any(|r| r["name"] == "admin"));
    let project_id = t["project"]["id"].as_str().expect("project id").to_string();
    let catalog = t["catalog"].as_array().expect("catalog");
    let object = catalog
        .iter()
        .find(|s| s["type"] == "object-store")
        .expect("object-store in catalog");
    let public = object["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["interface"] == "public")
        .expect("public endpoint");
    assert_eq!(
        public["url"],
        format!("http://{}/v1/AUTH_{project_id}", app.addr())
    );
    assert_eq!(public["region_id"], "RegionOne");
    assert!(catalog.iter().any(|s| s["type"] == "identity"));

    // nocatalog leaves the catalog out.
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens?nocatalog",
        None,
        &[],
        Some(password_auth("admin", &pw, Some("admin"))),
    )
    .await;
    assert!(json_of(&r)["token"].get("catalog").is_none());

    // A second token validates the first; then the first is revoked.
    let (other, _) = login(addr, "admin", &pw, Some("admin")).await;
    let subject = [("x-subject-token", token.as_str())];
    let r = call(addr, "GET", "/v3/auth/tokens", Some(&other), &subject, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(json_of(&r)["token"]["project"]["id"], project_id.as_str());
    assert_eq!(r.header("x-subject-token"), Some(token.as_str()));
    let r = call(
        addr,
        "HEAD",
        "/v3/auth/tokens",
        Some(&other),
        &subject,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = call(
        addr,
        "DELETE",
        "/v3/auth/tokens",
        Some(&other),
        &subject,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = call(addr, "GET", "/v3/auth/tokens", Some(&other), &subject, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    assert_eq!(json_of(&r)["error"]["code"], 404);
    // The revoked token no longer authenticates anything.
    let r = call(addr, "GET", "/v3/auth/catalog", Some(&token), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(addr, "GET", "/v3/auth/catalog", Some(&other), &[], None).await;
    assert_eq!(r.status, StatusCode::OK);

    // Services see the revocation in the verification document.
    let doc = json_of(&call(addr, "GET", "/v3/cairn/token-verification", None, &[], None).await);
    let doc: common::token::VerificationDocument =
        serde_json::from_value(doc).expect("verification document");
    let verifier = doc.verifier().expect("EdDSA key");
    let now = common::token::now_ms();
    assert_eq!(
        verifier.check(&token, now),
        Err(common::token::TokenError::Revoked)
    );
    let claims = verifier
        .check(&other, now)
        .expect("other token verifies locally");
    assert_eq!(claims.project_id.as_deref(), Some(project_id.as_str()));
    assert!(claims.has_role("admin"));

    // A token re-scoped with the token method.
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": other}},
                             "scope": {"project": {"id": project_id}}}}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        json_of(&r)["token"]["methods"],
        json!(["password", "token"])
    );
    app.assert_no_errors();
}

#[tokio::test]
async fn failed_logins_look_alike_and_members_cannot_manage() {
    let app = Appliance::start().await;
    let addr = app.identity_addr();
    let pw = app.identity().password.clone();
    let (admin, _) = login(addr, "admin", &pw, Some("admin")).await;

    let wrong = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(password_auth("admin", "not-the-password", Some("admin"))),
    )
    .await;
    let unknown = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(password_auth("nobody", "not-the-password", Some("admin"))),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.header("x-subject-token").is_none());
    assert_eq!(
        json_of(&wrong),
        json!({"error": {"code": 401, "title": "Unauthorized",
                         "message": "The request you have made requires authentication."}})
    );

    // Admin makes a project, a member user and grants the member role.
    let r = call(
        addr,
        "POST",
        "/v3/projects",
        Some(&admin),
        &[],
        Some(json!({"project": {"name": "demo", "enabled": true}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let project_id = json_of(&r)["project"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = call(
        addr,
        "POST",
        "/v3/projects",
        Some(&admin),
        &[],
        Some(json!({"project": {"name": "demo"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(addr, "POST", "/v3/users", Some(&admin), &[],
        Some(json!({"user": {"name": "alice", "password": "alice-pw", "default_project_id": project_id}}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let user = json_of(&r);
    assert!(user["user"].get("password").is_none());
    assert!(!r.body.windows(8).any(|w| w == b"argon2id"));
    let user_id = user["user"]["id"].as_str().expect("id").to_string();
    let roles = json_of(
        &call(
            addr,
            "GET",
            "/v3/roles?name=member",
            Some(&admin),
            &[],
            None,
        )
        .await,
    );
    let member_role = roles["roles"][0]["id"]
        .as_str()
        .expect("member role")
        .to_string();
    let grant = format!("/v3/projects/{project_id}/users/{user_id}/roles/{member_role}");
    // Before the grant alice cannot scope to demo.
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(password_auth("alice", "alice-pw", Some("demo"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(addr, "PUT", &grant, Some(&admin), &[], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");

    let (alice, body) = login(addr, "alice", "alice-pw", Some("demo")).await;
    assert_eq!(body["token"]["roles"][0]["name"], "member");
    let r = call(
        addr,
        "POST",
        "/v3/projects",
        Some(&alice),
        &[],
        Some(json!({"project": {"name": "alices"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert_eq!(json_of(&r)["error"]["title"], "Forbidden");
    let r = call(addr, "GET", "/v3/users", Some(&alice), &[], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // She may read herself and her projects.
    let r = call(
        addr,
        "GET",
        &format!("/v3/users/{user_id}"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(addr, "GET", "/v3/auth/projects", Some(&alice), &[], None).await;
    assert_eq!(json_of(&r)["projects"][0]["name"], "demo");
    let r = call(
        addr,
        "GET",
        &format!("/v3/role_assignments?user.id={user_id}&effective&include_names=True"),
        Some(&alice),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let a = &json_of(&r)["role_assignments"][0];
    assert_eq!(a["role"]["name"], "member");
    assert_eq!(a["scope"]["project"]["name"], "demo");
    // A default project scopes a login without scope.
    let (_, body) = login(addr, "alice", "alice-pw", None).await;
    assert_eq!(body["token"]["project"]["id"], project_id.as_str());

    // Disabling alice revokes her token at once.
    let r = call(
        addr,
        "PATCH",
        &format!("/v3/users/{user_id}"),
        Some(&admin),
        &[],
        Some(json!({"user": {"enabled": false}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(addr, "GET", "/v3/auth/projects", Some(&alice), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(password_auth("alice", "alice-pw", Some("demo"))),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, unknown.body);
    app.assert_no_errors();
}

#[tokio::test]
async fn tokens_expire() {
    let app = Appliance::start_with_config("[identity]\ntoken_ttl_secs = 2\n").await;
    let addr = app.identity_addr();
    let pw = app.identity().password.clone();
    let (token, body) = login(addr, "admin", &pw, Some("admin")).await;
    let r = call(addr, "GET", "/v3/auth/catalog", Some(&token), &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!json_of(&r)["catalog"]
        .as_array()
        .expect("catalog")
        .is_empty());
    let issued = body["token"]["issued_at"]
        .as_str()
        .expect("issued_at")
        .to_string();
    assert_ne!(
        issued,
        body["token"]["expires_at"].as_str().expect("expires_at")
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let r = call(addr, "GET", "/v3/auth/catalog", Some(&token), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (fresh, _) = login(addr, "admin", &pw, Some("admin")).await;
    let r = call(
        addr,
        "GET",
        "/v3/auth/tokens",
        Some(&fresh),
        &[("x-subject-token", token.as_str())],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn restart_keeps_identity() {
    let mut app = Appliance::start().await;
    let pw = app.identity().password.clone();
    let (token, _) = login(app.identity_addr(), "admin", &pw, Some("admin")).await;
    app.restart().await;
    assert_eq!(app.identity().password, pw, "the admin password is kept");
    let addr = app.identity_addr();
    // The signing key survives, so the old token still works; the catalog
    // follows the new ports.
    let r = call(addr, "GET", "/v3/auth/catalog", Some(&token), &[], None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let cat = json_of(&r);
    let ids: Vec<&str> = cat["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .flat_map(|s| s["endpoints"].as_array().expect("endpoints"))
        .filter_map(|e| e["url"].as_str())
        .collect();
    // identity, object-store, image, volumev3 and block-storage, three
    // interfaces each.
    assert_eq!(ids.len(), 15, "{ids:?}");
    assert!(
        ids.iter().any(|u| u.ends_with("/image")),
        "the image service is in the catalog: {ids:?}"
    );
    assert!(
        ids.iter()
            .any(|u| u.starts_with(&format!("http://{addr}/v3"))),
        "{ids:?}"
    );
    let mode = std::fs::metadata(app.data_dir().join("credentials.toml"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("credentials.toml");
    assert_eq!(mode, 0o600);
    let clouds = std::fs::read_to_string(app.data_dir().join("clouds.yaml")).expect("clouds.yaml");
    assert!(clouds.contains("  cairn:\n") && clouds.contains(&pw));
}

#[tokio::test]
async fn system_scoped_tokens() {
    use cairn_tests::keystone::{admin_login, create, role_id, swift};
    let app = Appliance::start().await;
    let (addr, obj) = (app.identity_addr(), app.addr());
    let pw = app.identity().password.clone();
    let system_auth = |user: &str, password: &str| {
        let mut body = password_auth(user, password, None);
        body["auth"]["scope"] = json!({"system": {"all": true}});
        body
    };
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(system_auth("admin", &pw)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let system = r.header("x-subject-token").expect("token").to_string();
    let t = json_of(&r)["token"].clone();
    assert_eq!(t["system"], json!({"all": true}));
    assert!(t.get("project").is_none());
    assert_eq!(t["roles"][0]["name"], "admin");
    assert!(t["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .any(|s| s["type"] == "identity"));

    // The system admin acts on every project's account; it manages identity.
    let (admin, _) = admin_login(&app).await;
    let (project, _, member_pw) =
        cairn_tests::keystone::project_user(addr, &admin, "sysdemo", "member").await;
    let (member, _) = login(addr, "sysdemo", &member_pw, Some("sysdemo")).await;
    let acct = format!("/v1/AUTH_{project}");
    assert_eq!(
        swift(obj, "PUT", &format!("{acct}/c"), Some(&member), &[], b"")
            .await
            .status,
        StatusCode::CREATED
    );
    let r = swift(obj, "GET", &format!("{acct}/c"), Some(&system), &[], b"").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = call(addr, "GET", "/v3/users", Some(&system), &[], None).await;
    assert_eq!(r.status, StatusCode::OK);

    // Without a system role there is no system token; a system reader
    // does not own accounts.
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(system_auth("sysdemo", &member_pw)),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let uid = create(
        addr,
        &admin,
        "/v3/users",
        "user",
        json!({"name": "auditor", "password": "aud-pw"}),
    )
    .await;
    let reader = role_id(addr, &admin, "reader").await;
    let r = call(
        addr,
        "PUT",
        &format!("/v3/system/users/{uid}/roles/{reader}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(system_auth("auditor", "aud-pw")),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let auditor = r.header("x-subject-token").expect("token").to_string();
    assert_eq!(
        swift(obj, "GET", &format!("{acct}/c"), Some(&auditor), &[], b"")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(addr, "GET", "/v3/users", Some(&auditor), &[], None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            addr,
            "POST",
            "/v3/projects",
            Some(&auditor),
            &[],
            Some(json!({"project": {"name": "no"}}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let rows = json_of(
        &call(
            addr,
            "GET",
            "/v3/role_assignments?scope.system=all&include_names=True",
            Some(&admin),
            &[],
            None,
        )
        .await,
    );
    let names: Vec<(String, String)> = rows["role_assignments"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|a| {
            (
                a["user"]["name"].as_str().unwrap_or("").to_string(),
                a["role"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        names.contains(&("admin".into(), "admin".into()))
            && names.contains(&("auditor".into(), "reader".into())),
        "{names:?}"
    );
    assert!(rows["role_assignments"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|a| a["scope"]["system"]["all"] == true));
    // Revoking the system role revokes the token.
    let r = call(
        addr,
        "DELETE",
        &format!("/v3/system/users/{uid}/roles/{reader}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(addr, "GET", "/v3/users", Some(&auditor), &[], None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.assert_no_errors();
}

#[tokio::test]
async fn domain_scoped_tokens() {
    use cairn_tests::keystone::{admin_login, create, role_id, swift};
    let app = Appliance::start().await;
    let (addr, obj) = (app.identity_addr(), app.addr());
    let (admin, admin_project) = admin_login(&app).await;
    let uid = create(
        addr,
        &admin,
        "/v3/users",
        "user",
        json!({"name": "dora", "password": "dora-pw"}),
    )
    .await;
    let domain_auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "dora", "password": "dora-pw", "domain": {"id": "default"}}}},
        "scope": {"domain": {"name": "Default"}}}});
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(domain_auth.clone()),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "no role on the domain yet"
    );
    let member = role_id(addr, &admin, "member").await;
    let grant = format!("/v3/domains/default/users/{uid}/roles/{member}");
    assert_eq!(
        call(addr, "PUT", &grant, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(addr, "HEAD", &grant, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(domain_auth.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let token = r.header("x-subject-token").expect("token").to_string();
    let t = json_of(&r)["token"].clone();
    assert_eq!(t["domain"], json!({"id": "default", "name": "Default"}));
    assert!(t.get("project").is_none() && t.get("system").is_none());
    assert_eq!(t["roles"][0]["name"], "member");
    // Validation shows the same scope.
    let r = call(
        addr,
        "GET",
        "/v3/auth/tokens",
        Some(&admin),
        &[("x-subject-token", &token)],
        None,
    )
    .await;
    assert_eq!(json_of(&r)["token"]["domain"]["id"], "default");
    // A domain token owns no object store account.
    let r = swift(
        obj,
        "HEAD",
        &format!("/v1/AUTH_{admin_project}"),
        Some(&token),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let rows = json_of(
        &call(
            addr,
            "GET",
            "/v3/role_assignments?scope.domain.id=default&include_names=True",
            Some(&admin),
            &[],
            None,
        )
        .await,
    );
    let rows = rows["role_assignments"].as_array().expect("rows").clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["user"]["name"].as_str(),
            rows[0]["scope"]["domain"]["name"].as_str()
        ),
        (Some("dora"), Some("Default"))
    );
    let listed = json_of(&call(addr, "GET", "/v3/role_assignments", Some(&admin), &[], None).await);
    assert!(
        listed["role_assignments"]
            .as_array()
            .expect("rows")
            .iter()
            .any(|a| a["scope"]["domain"]["id"] == "default"),
        "{listed}"
    );
    // Revoking the grant revokes the token.
    assert_eq!(
        call(addr, "DELETE", &grant, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = call(
        addr,
        "GET",
        "/v3/auth/tokens",
        Some(&admin),
        &[("x-subject-token", &token)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(domain_auth),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.assert_no_errors();
}
