//! Groups in identity through the real `cairn up`: a role granted to a
//! group reaches its members (tokens, the object store, effective role
//! assignments), and leaving the group takes it away, tokens included.

use std::time::Duration;

use cairn_tests::keystone::{admin_login, call, create, json_of, login, role_id, swift, try_login};
use cairn_tests::{wait_until, Appliance};
use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn group_roles_reach_members_until_they_leave() {
    let app = Appliance::start().await;
    let (ida, obj) = (app.identity_addr(), app.addr());
    let (admin, _) = admin_login(&app).await;
    let project = create(
        ida,
        &admin,
        "/v3/projects",
        "project",
        json!({"name": "team"}),
    )
    .await;
    let user = create(
        ida,
        &admin,
        "/v3/users",
        "user",
        json!({"name": "gina", "password": "gina-pw"}),
    )
    .await;
    let group = create(ida, &admin, "/v3/groups", "group", json!({"name": "devs"})).await;
    let r = call(
        ida,
        "POST",
        "/v3/groups",
        Some(&admin),
        &[],
        Some(json!({"group": {"name": "devs"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let listed = json_of(&call(ida, "GET", "/v3/groups?name=devs", Some(&admin), &[], None).await);
    assert_eq!(listed["groups"][0]["id"], group.as_str());

    // No role yet: no project token.
    let r = try_login(ida, "gina", "gina-pw", Some("team")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let member = role_id(ida, &admin, "member").await;
    let membership = format!("/v3/groups/{group}/users/{user}");
    assert_eq!(
        call(ida, "HEAD", &membership, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(ida, "PUT", &membership, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(ida, "HEAD", &membership, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let grant = format!("/v3/projects/{project}/groups/{group}/roles/{member}");
    assert_eq!(
        call(ida, "PUT", &grant, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(ida, "HEAD", &grant, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let (token, body) = login(ida, "gina", "gina-pw", Some("team")).await;
    assert_eq!(body["token"]["roles"][0]["name"], "member");
    let acct = format!("/v1/AUTH_{project}");
    let r = swift(obj, "PUT", &format!("{acct}/c"), Some(&token), &[], b"").await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "a member through the group owns the account"
    );
    let groups_of = json_of(
        &call(
            ida,
            "GET",
            &format!("/v3/users/{user}/groups"),
            Some(&token),
            &[],
            None,
        )
        .await,
    );
    assert_eq!(groups_of["groups"][0]["name"], "devs");
    let projects = json_of(&call(ida, "GET", "/v3/auth/projects", Some(&token), &[], None).await);
    assert_eq!(projects["projects"][0]["id"], project.as_str());

    // Role assignments: the group's, and the member's when effective.
    let q = format!("/v3/role_assignments?scope.project.id={project}&include_names=True");
    let direct = json_of(&call(ida, "GET", &q, Some(&admin), &[], None).await);
    let rows = direct["role_assignments"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{direct}");
    assert_eq!(rows[0]["group"]["name"], "devs");
    assert!(rows[0].get("user").is_none());
    let q = format!("/v3/role_assignments?user.id={user}&effective&include_names=True");
    let eff = json_of(&call(ida, "GET", &q, Some(&token), &[], None).await);
    let rows = eff["role_assignments"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{eff}");
    assert_eq!(rows[0]["user"]["name"], "gina");
    assert_eq!(rows[0]["role"]["name"], "member");
    assert!(rows[0]["links"]["membership"]
        .as_str()
        .expect("membership link")
        .ends_with(&membership));
    let q = format!("/v3/role_assignments?user.id={user}");
    let not_eff = json_of(&call(ida, "GET", &q, Some(&admin), &[], None).await);
    assert_eq!(
        not_eff["role_assignments"],
        json!([]),
        "no direct assignment"
    );

    // Leaving the group takes the role and revokes the token.
    assert_eq!(
        call(ida, "DELETE", &membership, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = call(ida, "GET", "/v3/auth/projects", Some(&token), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let refused = wait_until(Duration::from_secs(6), || async {
        swift(obj, "HEAD", &acct, Some(&token), &[], b"")
            .await
            .status
            == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(
        refused,
        "the object store still takes the token of a member who left"
    );
    let r = try_login(ida, "gina", "gina-pw", Some("team")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Back in, then the group goes: the same.
    assert_eq!(
        call(ida, "PUT", &membership, Some(&admin), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let (token, _) = login(ida, "gina", "gina-pw", Some("team")).await;
    assert_eq!(
        call(
            ida,
            "DELETE",
            &format!("/v3/groups/{group}"),
            Some(&admin),
            &[],
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let r = call(ida, "GET", "/v3/auth/projects", Some(&token), &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = try_login(ida, "gina", "gina-pw", Some("team")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        ida,
        "GET",
        &format!("/v3/groups/{group}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Members cannot manage groups.
    let (_, _, pw) = cairn_tests::keystone::project_user(ida, &admin, "plainm", "member").await;
    let (plain, _) = login(ida, "plainm", &pw, Some("plainm")).await;
    let r = call(
        ida,
        "POST",
        "/v3/groups",
        Some(&plain),
        &[],
        Some(json!({"group": {"name": "x"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    app.assert_no_errors();
}
