//! Keystone v3 calls for system tests: JSON requests to identity,
//! password logins, the admin's token, making projects, users and grants,
//! and Swift requests to the object store carrying an identity token.

use std::net::SocketAddr;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use crate::client::{build, send, Response};
use crate::Appliance;

/// One request to identity at `addr`, with an optional token and JSON body.
pub async fn call(
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

/// The body as JSON; panics otherwise.
pub fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", r.body))
}

/// A password token request body for `user` in the Default domain.
pub fn password_auth(user: &str, password: &str, project: Option<&str>) -> Value {
    let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}}});
    if let Some(p) = project {
        auth["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    json!({ "auth": auth })
}

/// The answer to a password login (not checked).
pub async fn try_login(addr: SocketAddr, user: &str, pw: &str, project: Option<&str>) -> Response {
    call(
        addr,
        "POST",
        "/v3/auth/tokens",
        None,
        &[],
        Some(password_auth(user, pw, project)),
    )
    .await
}

/// Logs in; returns the token and the body.
pub async fn login(
    addr: SocketAddr,
    user: &str,
    pw: &str,
    project: Option<&str>,
) -> (String, Value) {
    let r = try_login(addr, user, pw, project).await;
    assert_eq!(r.status, StatusCode::CREATED, "login {user}: {r:?}");
    let token = r
        .header("x-subject-token")
        .expect("X-Subject-Token")
        .to_string();
    (token, json_of(&r))
}

/// The admin's token on the admin project, and the admin project's id.
pub async fn admin_login(app: &Appliance) -> (String, String) {
    let pw = app.identity().password.clone();
    let (token, body) = login(app.identity_addr(), "admin", &pw, Some("admin")).await;
    let project = body["token"]["project"]["id"]
        .as_str()
        .expect("project id")
        .to_string();
    (token, project)
}

/// Creates a resource (`{"<kind>": fields}` at `path`); returns its id.
pub async fn create(
    addr: SocketAddr,
    admin: &str,
    path: &str,
    kind: &str,
    fields: Value,
) -> String {
    let r = call(
        addr,
        "POST",
        path,
        Some(admin),
        &[],
        Some(json!({ kind: fields })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "create {kind}: {r:?}");
    json_of(&r)[kind]["id"].as_str().expect("id").to_string()
}

/// The id of role `name`.
pub async fn role_id(addr: SocketAddr, admin: &str, name: &str) -> String {
    let r = call(
        addr,
        "GET",
        &format!("/v3/roles?name={name}"),
        Some(admin),
        &[],
        None,
    )
    .await;
    json_of(&r)["roles"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no role {name}"))
        .to_string()
}

/// Grants role `role` to `user` on `project`.
pub async fn grant(addr: SocketAddr, admin: &str, project: &str, user: &str, role: &str) {
    let rid = role_id(addr, admin, role).await;
    let r = call(
        addr,
        "PUT",
        &format!("/v3/projects/{project}/users/{user}/roles/{rid}"),
        Some(admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "grant {role}: {r:?}");
}

/// A user with `role` on a new project, both named after `name`; returns
/// (project id, user id, password).
pub async fn project_user(
    addr: SocketAddr,
    admin: &str,
    name: &str,
    role: &str,
) -> (String, String, String) {
    let project = create(
        addr,
        admin,
        "/v3/projects",
        "project",
        json!({"name": name}),
    )
    .await;
    let pw = format!("{name}-pw-{}", hex::encode(rand::random::<[u8; 6]>()));
    let user = create(
        addr,
        admin,
        "/v3/users",
        "user",
        json!({"name": name, "password": pw, "default_project_id": project}),
    )
    .await;
    grant(addr, admin, &project, &user, role).await;
    (project, user, pw)
}

/// A Swift request to the object store at `addr` with an identity token
/// (`None`: anonymous); `path` starts at `/v1/`.
pub async fn swift(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(t) = token {
        headers.push(("x-auth-token", t));
    }
    send(
        addr,
        build(addr, method, path, &headers, Bytes::copy_from_slice(body)),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"))
}
