"""The real `openstack` CLI (python-openstackclient) against the session's
`cairn up`, with nothing but its openrc's OS_* variables for auth: token
issue, catalog list, project/user/role management, login as a new user, a
member refused project creation, and groups."""

import json


def test_openrc_has_identity(cairn):
    rc = cairn.openrc
    for k in ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
              "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME"):
        assert rc.get(k), k
    assert rc["OS_IDENTITY_API_VERSION"] == "3"
    assert rc["OS_AUTH_URL"].endswith("/v3")
    clouds = (cairn.data_dir / "clouds.yaml").read_text()
    assert "cairn:" in clouds and rc["OS_PASSWORD"] in clouds


def test_token_issue_and_catalog(cairn, openstack):
    tok = openstack("token", "issue")
    assert tok["id"].startswith("c1.")
    assert len(tok["project_id"]) == 32 and len(tok["user_id"]) == 32
    assert tok["expires"]
    catalog = openstack("catalog", "list")
    by_type = {c["Type"]: c for c in catalog}
    assert set(by_type) >= {"identity", "object-store"}
    swift = by_type["object-store"]
    assert swift["Name"] == "swift"
    endpoints = json.dumps(swift["Endpoints"])
    assert f"AUTH_{tok['project_id']}" in endpoints
    for iface in ("public", "internal", "admin"):
        assert iface in endpoints


def test_projects_users_roles_and_member_login(cairn, openstack, unique):
    project = unique("proj")
    user = unique("user")
    p = openstack("project", "create", project)
    assert p["name"] == project and p["domain_id"] == "default" and p["enabled"] is True
    u = openstack("user", "create", "--project", project, "--password", "pw-123", user)
    assert u["name"] == user and u["default_project_id"] == p["id"]
    assert "password" not in u
    openstack("role", "add", "--project", project, "--user", user, "member", fmt=False)
    rows = openstack("role", "assignment", "list", "--user", user, "--project", project, "--names")
    assert len(rows) == 1, rows
    assert rows[0]["Role"] == "member"
    assert rows[0]["User"] == f"{user}@Default"
    assert rows[0]["Project"] == f"{project}@Default"

    as_user = {"OS_USERNAME": user, "OS_PASSWORD": "pw-123", "OS_PROJECT_NAME": project}
    tok = openstack("token", "issue", env=as_user)
    assert tok["project_id"] == p["id"] and tok["user_id"] == u["id"]

    code, out, err = openstack("project", "create", unique("nope"), env=as_user, check=False)
    assert code != 0
    assert "403" in err and "not authorized" in err, err
    assert "identity:create_project" in err, err

    code, out, err = openstack("token", "issue", env={**as_user, "OS_PASSWORD": "wrong"}, check=False)
    assert code != 0 and "HTTP 401" in err, err


def test_groups_give_their_roles_to_members(openstack, unique):
    project, user, group = unique("gp"), unique("gu"), unique("gg")
    openstack("project", "create", project)
    openstack("user", "create", "--password", "pw-group", user)
    g = openstack("group", "create", group)
    assert g["name"] == group and g["domain_id"] == "default"
    openstack("group", "add", "user", group, user, fmt=False)
    out = openstack("group", "contains", "user", group, user, fmt=False)
    assert out.strip() == f"{user} in group {group}", out
    openstack("role", "add", "--project", project, "--group", group, "member", fmt=False)
    rows = openstack("role", "assignment", "list", "--project", project, "--names")
    assert [(r["Role"], r["Group"]) for r in rows] == [("member", f"{group}@Default")], rows
    rows = openstack("role", "assignment", "list", "--user", user, "--effective", "--names")
    assert [(r["Role"], r["User"], r["Project"]) for r in rows] == [
        ("member", f"{user}@Default", f"{project}@Default")], rows
    as_user = {"OS_USERNAME": user, "OS_PASSWORD": "pw-group", "OS_PROJECT_NAME": project}
    tok = openstack("token", "issue", env=as_user)
    assert tok["project_id"] == openstack("project", "show", project)["id"]
    assert [x["Name"] for x in openstack("group", "list", "--user", user)] == [group]
    openstack("group", "remove", "user", group, user, fmt=False)
    code, out, err = openstack("token", "issue", env=as_user, check=False)
    assert code != 0 and "HTTP 401" in err, err


def test_system_scope(openstack):
    scoped = ("OS_PROJECT_NAME", "OS_PROJECT_DOMAIN_NAME")
    tok = openstack("--os-system-scope", "all", "token", "issue", drop=scoped)
    assert tok["id"].startswith("c1.") and not tok.get("project_id"), tok
    rows = openstack("role", "assignment", "list", "--system", "all", "--names")
    assert ("admin", "admin@Default", "all") in [(r["Role"], r["User"], r["System"]) for r in rows], rows
    users = openstack("--os-system-scope", "all", "user", "list", drop=scoped)
    assert "admin" in [u["Name"] for u in users]


def test_domain_scope(openstack, unique):
    user = unique("du")
    openstack("user", "create", "--password", "pw-domain", user)
    openstack("role", "add", "--domain", "default", "--user", user, "reader", fmt=False)
    rows = openstack("role", "assignment", "list", "--domain", "default", "--names")
    assert ("reader", f"{user}@Default", "Default") in [(r["Role"], r["User"], r["Domain"]) for r in rows], rows
    env = {"OS_USERNAME": user, "OS_PASSWORD": "pw-domain", "OS_DOMAIN_NAME": "Default"}
    tok = openstack("token", "issue", env=env, drop=("OS_PROJECT_NAME", "OS_PROJECT_DOMAIN_NAME"))
    assert tok["domain_id"] == "default" and not tok.get("project_id"), tok
