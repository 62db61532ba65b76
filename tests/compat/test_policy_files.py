"""Policy rules files (JSON, `{"action": "rule"}`, as Keystone's and
Glance's policy.json): identity and the image service start from their
default rules and a file given in `[identity] policy_file` or `[imaged]
policy_file` overrides them. Checked with a member of a fresh project, who
by default may create images but not list projects; the files turn both
around."""

import json
import os
import subprocess

import requests

from compat_helpers import CONFIG, CairnServer, openstack_path


def login(rc, user, password, project):
    r = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]


def run(tmp_path, policy_files):
    config = tmp_path / "cairn.toml"
    extra = ""
    for table, rules in policy_files.items():
        path = tmp_path / f"{table}-policy.json"
        path.write_text(json.dumps(rules))
        extra += f'\n[{table}]\npolicy_file = "{path}"\n'
    config.write_text(CONFIG + extra)
    s = CairnServer(tmp_path / "data", config)
    s.start(timeout=60.0)
    try:
        rc = s.openrc
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_", "AWS_"))}
        env.update({k: v for k, v in rc.items() if k.startswith("OS_")})
        env["HOME"] = str(tmp_path)

        def osc(*args):
            p = subprocess.run([openstack_path(), *args], env=env, capture_output=True, timeout=120)
            assert p.returncode == 0, p.stderr.decode()

        osc("project", "create", "demo")
        osc("user", "create", "--project", "demo", "--password", "pw", "alice")
        osc("role", "add", "--project", "demo", "--user", "alice", "member")
        token, body = login(rc, "alice", "pw", "demo")
        projects = requests.get(rc["OS_AUTH_URL"].rstrip("/") + "/projects",
                                headers={"X-Auth-Token": token}, timeout=30).status_code
        image = next(e["url"] for svc in body["catalog"] if svc["type"] == "image"
                     for e in svc["endpoints"] if e["interface"] == "public")
        create = requests.post(image.rstrip("/") + "/v2/images", headers={"X-Auth-Token": token}, timeout=30,
                               json={"name": "x", "disk_format": "raw", "container_format": "bare"}).status_code
        return projects, create
    finally:
        s.stop()


def test_default_rules(tmp_path):
    projects, create = run(tmp_path, {})
    assert (projects, create) == (403, 201)


def test_policy_files_override_the_defaults(tmp_path):
    projects, create = run(tmp_path, {
        "identity": {"identity:list_projects": "role:admin or role:member"},
        "imaged": {"add_image": "role:admin"},
    })
    assert (projects, create) == (200, 403)
