"""The object store behind identity, with real clients and nothing but the
openrc's OS_* variables (or credentials made through the CLI): `openstack
container/object` commands, the `swift` CLI with Keystone v3, EC2
credentials made with `openstack ec2 credentials create` used by boto3,
and application credentials (`--os-auth-type v3applicationcredential`)."""

import os
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from compat_helpers import swift_cli_path

IDENTITY_VARS = ("OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME",
                 "OS_PROJECT_DOMAIN_NAME")


def s3_client(cairn, access, secret):
    return boto3.client(
        "s3", endpoint_url=cairn.base_url, aws_access_key_id=access,
        aws_secret_access_key=secret, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def eventually(check, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.25)


def test_containers_and_objects_with_openstack(openstack, tmp_path, unique):
    token = openstack("token", "issue")
    container = unique("osc")
    made = openstack("container", "create", container)
    assert made[0]["container"] == container
    assert made[0]["account"] == f"AUTH_{token['project_id']}"
    assert container in [c["Name"] for c in openstack("container", "list")]
    (tmp_path / "hello.txt").write_bytes(b"hello from the openstack CLI\n")
    obj = openstack("object", "create", container, "hello.txt", cwd=tmp_path)
    assert obj[0]["object"] == "hello.txt" and obj[0]["etag"]
    assert [o["Name"] for o in openstack("object", "list", container)] == ["hello.txt"]
    out = tmp_path / "saved.txt"
    openstack("object", "save", "--file", str(out), container, "hello.txt", fmt=False)
    assert out.read_bytes() == b"hello from the openstack CLI\n"
    shown = openstack("object", "show", container, "hello.txt")
    assert shown["content-length"] == "29"
    account = openstack("object", "store", "account", "show")
    assert account["Account"] == f"AUTH_{token['project_id']}"
    assert int(account["Containers"]) >= 1


def test_swift_cli_with_keystone_v3(cairn, tmp_path, unique, project_conn):
    rc = cairn.openrc
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ST_", "OS_", "SWIFTCLIENT_"))}
    env["HOME"] = str(tmp_path)
    auth = ["--os-auth-url", rc["OS_AUTH_URL"], "--auth-version", "3",
            "--os-username", rc["OS_USERNAME"], "--os-password", rc["OS_PASSWORD"],
            "--os-project-name", rc["OS_PROJECT_NAME"],
            "--os-user-domain-name", "Default", "--os-project-domain-name", "Default"]

    def swift(*args):
        p = subprocess.run([swift_cli_path(), *auth, *args], cwd=tmp_path, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        assert p.returncode == 0, f"swift {args}: {p.stdout.decode()} {p.stderr.decode()}"
        return p.stdout.decode()

    container = unique("v3")
    (tmp_path / "up.bin").write_bytes(os.urandom(100_000))
    swift("upload", container, "up.bin")
    assert swift("list", container).split() == ["up.bin"]
    (tmp_path / "up.bin").rename(tmp_path / "orig.bin")
    swift("download", container, "up.bin")
    assert (tmp_path / "up.bin").read_bytes() == (tmp_path / "orig.bin").read_bytes()
    stat = swift("stat")
    project = project_conn.get_auth()[0].rsplit("/", 1)[1]
    assert f"Account: {project}" in stat and project.startswith("AUTH_")
    # The same object through swiftclient's API on the same token kind.
    assert project_conn.head_object(container, "up.bin")["content-length"] == "100000"


def test_ec2_credentials_with_boto3(cairn, openstack, project_conn, unique):
    cred = openstack("ec2", "credentials", "create")
    token = openstack("token", "issue")
    assert cred["project_id"] == token["project_id"] and cred["user_id"] == token["user_id"]
    access, secret = cred["access"], cred["secret"]
    assert access in [c["Access"] for c in openstack("ec2", "credentials", "list")]
    s3 = s3_client(cairn, access, secret)
    bucket = unique("ec2")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"through an ec2 credential")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"through an ec2 credential"
    # It is the project's account: Swift with a Keystone token sees it too.
    assert project_conn.get_object(bucket, "k")[1] == b"through an ec2 credential"
    assert bucket in [o["Name"] for o in openstack("container", "list")]
    # A wrong secret is refused.
    with pytest.raises(ClientError) as e:
        s3_client(cairn, access, "0" * len(secret)).list_buckets()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # Deleted, the key stops working within seconds.
    openstack("ec2", "credentials", "delete", access, fmt=False)

    def refused():
        try:
            s3.list_buckets()
            return False
        except ClientError as err:
            return err.response["Error"]["Code"] == "InvalidAccessKeyId"

    eventually(refused, "the deleted key is refused")


def test_ec2_key_of_a_member_stays_in_its_project(cairn, openstack, unique):
    project, user = unique("p"), unique("u")
    openstack("project", "create", project)
    openstack("user", "create", "--project", project, "--password", "pw-ec2", user)
    openstack("role", "add", "--project", project, "--user", user, "member", fmt=False)
    as_user = {"OS_USERNAME": user, "OS_PASSWORD": "pw-ec2", "OS_PROJECT_NAME": project}
    cred = openstack("ec2", "credentials", "create", env=as_user)
    mine = s3_client(cairn, cred["access"], cred["secret"])
    bucket = unique("mb")
    mine.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in mine.list_buckets()["Buckets"]]
    # Buckets live in a project's account: the openrc's key (the admin
    # project) does not list the member's, and the member's key does not
    # reach the admin's.
    rc = cairn.openrc
    admin = s3_client(cairn, rc["AWS_ACCESS_KEY_ID"], rc["AWS_SECRET_ACCESS_KEY"])
    admin_bucket = unique("ab")
    admin.create_bucket(Bucket=admin_bucket)
    assert bucket not in [b["Name"] for b in admin.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        mine.put_object(Bucket=admin_bucket, Key="x", Body=b"x")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    assert admin.list_objects_v2(Bucket=admin_bucket)["KeyCount"] == 0


def test_application_credential_login(openstack, unique):
    name = unique("app")
    made = openstack("application", "credential", "create", "--description", "ci", name)
    assert made["Name"] == name and made["Secret"] and made["ID"]
    assert [r["name"] for r in made["Roles"]] == ["admin"], made
    listed = openstack("application", "credential", "list")
    assert name in [a["Name"] for a in listed]
    assert all("Secret" not in a for a in listed)
    args = ["--os-auth-type", "v3applicationcredential",
            "--os-application-credential-id", made["ID"],
            f"--os-application-credential-secret={made['Secret']}"]
    tok = openstack(*args, "token", "issue", drop=IDENTITY_VARS)
    owner = openstack("token", "issue")
    assert tok["project_id"] == owner["project_id"] and tok["user_id"] == owner["user_id"]
    container = unique("appc")
    openstack(*args, "container", "create", container, drop=IDENTITY_VARS)
    assert container in [c["Name"] for c in
                         openstack(*args, "container", "list", drop=IDENTITY_VARS)]
    openstack("application", "credential", "delete", name, fmt=False)
    code, out, err = openstack(*args, "token", "issue", drop=IDENTITY_VARS, check=False)
    assert code != 0 and "401" in err, err


def test_tempauth_can_be_turned_off(tmp_path):
    from compat_helpers import CairnServer, stop_and_check
    import requests
    from swiftclient import client as swift_client

    config = tmp_path / "cairn.toml"
    config.write_text("[objectd]\ntempauth = false\n")
    server = CairnServer(tmp_path / "data", config)
    rc = server.start()
    try:
        r = requests.get(rc["ST_AUTH"], headers={"X-Auth-User": rc["ST_USER"],
                                                 "X-Auth-Key": rc["ST_KEY"]}, timeout=30)
        assert r.status_code == 401
        conn = swift_client.Connection(
            authurl=rc["OS_AUTH_URL"], user=rc["OS_USERNAME"], key=rc["OS_PASSWORD"],
            auth_version="3", retries=0,
            os_options={"project_name": rc["OS_PROJECT_NAME"], "user_domain_name": "Default",
                        "project_domain_name": "Default"})
        conn.put_container("still-works")
        assert "still-works" in [c["name"] for c in conn.get_account()[1]]
    finally:
        stop_and_check(server)
