"""Fixtures for the real-client compatibility tests of Cairn's Swift and S3 APIs.

A session-scoped `cairn up` runs in a temporary data directory on
127.0.0.1:0 with extra users (test:tester, an account admin; test:plain, no
groups) and a 1 s expirer interval. Its openrc gives the admin credentials:
the v1.0 ones (account AUTH_admin), the identity ones (OS_*, the admin
project's account AUTH_<project id>) and the admin's EC2 key pair on the
admin project (AWS_*). Tests talk to it with python-swiftclient, the
`swift` and `openstack` CLIs, boto3 and `requests`.

The binary is `$CAIRN_BIN`, by default /var/tmp/cairn-target/debug/cairn.
"""

import json
import os
import subprocess
import uuid

import pytest
from swiftclient import client as swift_client

from compat_helpers import (
    PLAIN,
    TESTER,
    CairnServer,
    openstack_path,
    stop_and_check,
    swift_cli_path,
    write_config,
)


@pytest.fixture(scope="session")
def cairn(tmp_path_factory):
    """The session's running store (a CairnServer with `.openrc`)."""
    base = tmp_path_factory.mktemp("cairn")
    server = CairnServer(base / "data", write_config(base))
    server.start(timeout=60.0)
    try:
        yield server
    finally:
        if server.proc is not None:
            stop_and_check(server)


@pytest.fixture
def cairn_factory(tmp_path):
    """Function-scoped: makes a separate CairnServer on its own data dir
    (not started); every one still running is stopped and checked after."""
    servers = []

    def make():
        d = tmp_path / f"srv{len(servers)}"
        d.mkdir()
        s = CairnServer(d / "data", write_config(d))
        servers.append(s)
        return s

    yield make
    for s in servers:
        if s.proc is not None:
            stop_and_check(s)


@pytest.fixture
def admin_conn(cairn):
    return cairn.connection(cairn.openrc["ST_USER"], cairn.openrc["ST_KEY"])


@pytest.fixture
def project_conn(cairn):
    """A swiftclient connection of the identity admin (Keystone v3): the
    admin project's account, which the openrc's S3 key also acts on."""
    rc = cairn.openrc
    return swift_client.Connection(
        authurl=rc["OS_AUTH_URL"],
        user=rc["OS_USERNAME"],
        key=rc["OS_PASSWORD"],
        auth_version="3",
        os_options={
            "project_name": rc["OS_PROJECT_NAME"],
            "user_domain_name": rc["OS_USER_DOMAIN_NAME"],
            "project_domain_name": rc["OS_PROJECT_DOMAIN_NAME"],
        },
        retries=0,
    )


@pytest.fixture
def openstack(cairn, tmp_path):
    """Runs `openstack ... -f json` with the openrc's OS_* environment;
    returns parsed JSON. `env` adds variables, `drop` removes some."""
    exe = openstack_path()
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("OS_") or k.startswith("ST_") or k.startswith("AWS_"))
    }
    base_env.update({k: v for k, v in cairn.openrc.items() if k.startswith("OS_")})
    base_env["HOME"] = str(tmp_path)

    def run(*args, env=None, drop=(), check=True, fmt=True, cwd=None):
        e = dict(base_env)
        e.update(env or {})
        for k in drop:
            e.pop(k, None)
        argv = [exe, *args] + (["-f", "json"] if fmt else [])
        proc = subprocess.run(
            argv, env=e, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
            cwd=cwd or tmp_path,
        )
        out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        if not check:
            return proc.returncode, out, err
        assert proc.returncode == 0, f"openstack {' '.join(args)} exited {proc.returncode}\n{out}\n{err}"
        return json.loads(out) if fmt and out.strip() else out

    return run


@pytest.fixture
def tester_conn(cairn):
    return cairn.connection(*TESTER)


@pytest.fixture
def plain_conn(cairn):
    return cairn.connection(*PLAIN)


@pytest.fixture
def admin_auth(admin_conn):
    """(storage_url, token) of the admin user."""
    url, token = admin_conn.get_auth()
    return url, token


@pytest.fixture
def unique():
    """A unique-name maker: unique('cont') -> 'cont-<hex>'."""

    def make(prefix="c"):
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def container(admin_conn, unique):
    """A new, empty container in the admin account."""
    name = unique("cont")
    admin_conn.put_container(name)
    return name


@pytest.fixture
def swift_cli(cairn, tmp_path):
    """Runs the `swift` CLI with nothing but the openrc's environment for auth."""
    exe = swift_cli_path()
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("ST_") or k.startswith("OS_") or k.startswith("SWIFTCLIENT_"))
    }
    env.update(cairn.openrc)
    env["HOME"] = str(tmp_path)

    def run(*args, cwd=None, check=True, timeout=120):
        proc = subprocess.run(
            [exe, *args],
            cwd=cwd or tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if check:
            assert proc.returncode == 0, (
                f"swift {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout.decode(errors='replace')}\n"
                f"stderr: {proc.stderr.decode(errors='replace')}"
            )
        return proc

    return run
