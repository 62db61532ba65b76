"""Swift v1.0 auth (tempauth semantics) against Cairn: tokens, owners,
reseller admins, container ACLs, public containers, and credentials and
data across a restart."""

import pytest
import requests
from swiftclient.exceptions import ClientException

from compat_helpers import PLAIN, TESTER, TRANS_ID, assert_trans_id, stop_and_check


def auth(cairn, user, key):
    """GET /auth/v1.0; returns the response."""
    return requests.get(cairn.auth_url, headers={"X-Auth-User": user, "X-Auth-Key": key})


def login(cairn, user, key):
    """(storage_url, token) for a user."""
    r = auth(cairn, user, key)
    assert r.status_code == 200, (user, r.status_code)
    return r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]


def req(method, url, token=None, **kw):
    headers = dict(kw.pop("headers", {}) or {})
    if token:
        headers["X-Auth-Token"] = token
    return requests.request(method, url, headers=headers, allow_redirects=False, **kw)


def account_url(storage_url, account):
    """The storage URL of another account on the same endpoint."""
    base = storage_url.rsplit("/", 1)[0]
    return f"{base}/{account}"


@pytest.fixture
def admin_obj(admin_conn, unique):
    """(storage_url, admin token, container, object) with a known body."""
    url, token = admin_conn.get_auth()
    cont = unique("auth")
    admin_conn.put_container(cont)
    admin_conn.put_object(cont, "obj", b"secret body")
    return url, token, cont, "obj"


def test_auth_endpoint(cairn):
    r = auth(cairn, cairn.openrc["ST_USER"], cairn.openrc["ST_KEY"])
    assert r.status_code == 200
    assert_trans_id(r)
    token = r.headers["X-Auth-Token"]
    assert token and r.headers["X-Storage-Token"] == token
    assert r.headers["X-Storage-Url"].endswith("/v1/AUTH_admin")
    assert int(r.headers["X-Auth-Token-Expires"]) > 0
    # X-Storage-User / X-Storage-Pass are accepted too.
    r2 = requests.get(
        cairn.auth_url,
        headers={"X-Storage-User": "test:tester", "X-Storage-Pass": "testing"},
    )
    assert r2.status_code == 200
    assert r2.headers["X-Storage-Url"].endswith("/v1/AUTH_test")
    # X-Storage-Token works like X-Auth-Token.
    r3 = requests.head(r.headers["X-Storage-Url"], headers={"X-Storage-Token": token})
    assert r3.status_code == 204
    # Each login gets a working token.
    assert req("HEAD", r.headers["X-Storage-Url"], token).status_code == 204
    assert req("HEAD", r2.headers["X-Storage-Url"], r2.headers["X-Auth-Token"]).status_code == 204


def test_bad_credentials_are_401(cairn):
    for user, key in [
        (cairn.openrc["ST_USER"], "wrong"),
        (cairn.openrc["ST_USER"], ""),
        ("test:tester", cairn.openrc["ST_KEY"]),
        ("nobody:nobody", "x"),
        ("admin", cairn.openrc["ST_KEY"]),
    ]:
        r = auth(cairn, user, key)
        assert r.status_code == 401, (user, key)
        assert "X-Auth-Token" not in r.headers
        assert_trans_id(r)
    r = requests.get(cairn.auth_url)
    assert r.status_code == 401
    # swiftclient reports the same.
    conn = cairn.connection(cairn.openrc["ST_USER"], "wrong")
    with pytest.raises(ClientException) as ei:
        conn.head_account()
    assert ei.value.http_status == 401


def test_no_token_is_401(admin_obj):
    url, _, cont, obj = admin_obj
    for method in ("GET", "HEAD"):
        for target in (url, f"{url}/{cont}", f"{url}/{cont}/{obj}"):
            r = req(method, target)
            assert r.status_code == 401, (method, target)
            assert_trans_id(r)
    assert req("PUT", f"{url}/{cont}/new", data=b"x").status_code == 401
    assert req("DELETE", f"{url}/{cont}/{obj}").status_code == 401
    assert req("POST", f"{url}/{cont}", headers={"X-Container-Meta-A": "b"}).status_code == 401


def test_bogus_token_is_401(admin_obj, admin_conn):
    url, _, cont, obj = admin_obj
    for target in (url, f"{url}/{cont}", f"{url}/{cont}/{obj}"):
        r = req("GET", target, "AUTH_tk" + "0" * 32)
        assert r.status_code == 401, target
        assert_trans_id(r)
    assert req("PUT", f"{url}/{cont}/new", "AUTH_tkbogus", data=b"x").status_code == 401
    assert req("GET", f"{url}/{cont}/{obj}", "garbage").status_code == 401
    # Nothing was written.
    with pytest.raises(ClientException) as ei:
        admin_conn.head_object(cont, "new")
    assert ei.value.http_status == 404


def test_other_account_is_403(cairn, admin_obj):
    url, _, cont, obj = admin_obj
    turl, ttoken = login(cairn, *TESTER)
    assert turl.endswith("/v1/AUTH_test")
    assert account_url(turl, "AUTH_admin") == url
    for method, target in [
        ("GET", url),
        ("HEAD", url),
        ("GET", f"{url}/{cont}"),
        ("HEAD", f"{url}/{cont}"),
        ("GET", f"{url}/{cont}/{obj}"),
        ("DELETE", f"{url}/{cont}/{obj}"),
        ("POST", url),
    ]:
        r = req(method, target, ttoken)
        assert r.status_code == 403, (method, target)
        assert_trans_id(r)
    r = req("PUT", f"{url}/{cont}/intruder", ttoken, data=b"x")
    assert r.status_code == 403
    r = req("PUT", f"{url}/tester-made", ttoken)
    assert r.status_code == 403
    # Nothing changed.
    admin = cairn.connection(cairn.openrc["ST_USER"], cairn.openrc["ST_KEY"])
    assert admin.get_object(cont, obj)[1] == b"secret body"
    assert [o["name"] for o in admin.get_container(cont)[1]] == ["obj"]


def test_reseller_admin_acts_on_other_account(cairn, admin_conn, tester_conn, unique):
    url, token = admin_conn.get_auth()
    test_url = account_url(url, "AUTH_test")
    cont = unique("from-admin")
    r = req("PUT", f"{test_url}/{cont}", token)
    assert r.status_code == 201
    r = req("PUT", f"{test_url}/{cont}/o", token, data=b"by admin",
            headers={"X-Object-Meta-Who": "admin"})
    assert r.status_code == 201
    r = req("GET", f"{test_url}/{cont}/o", token)
    assert r.status_code == 200 and r.content == b"by admin"
    r = req("POST", test_url, token, headers={"X-Account-Meta-Set-By": "admin"})
    assert r.status_code == 204
    r = req("GET", test_url, token, params={"format": "json", "prefix": cont})
    assert r.status_code == 200
    assert [c["name"] for c in r.json()] == [cont]

    # The account's own admin sees the result.
    h, body = tester_conn.get_object(cont, "o")
    assert body == b"by admin"
    assert h["x-object-meta-who"] == "admin"
    assert tester_conn.head_account()["x-account-meta-set-by"] == "admin"

    r = req("DELETE", f"{test_url}/{cont}/o", token)
    assert r.status_code == 204
    r = req("DELETE", f"{test_url}/{cont}", token)
    assert r.status_code == 204
    with pytest.raises(ClientException) as ei:
        tester_conn.head_container(cont)
    assert ei.value.http_status == 404


def test_plain_user_and_container_acls(cairn, tester_conn, plain_conn, unique):
    cont = unique("acl")
    tester_conn.put_container(cont)
    tester_conn.put_object(cont, "doc", b"shared document")
    purl, ptoken = login(cairn, *PLAIN)
    assert purl.endswith("/v1/AUTH_test")

    # No ACL: a plain user may not list its own account nor touch the container.
    assert req("GET", purl, ptoken).status_code == 403
    assert req("HEAD", purl, ptoken).status_code == 403
    assert req("GET", f"{purl}/{cont}", ptoken).status_code == 403
    assert req("GET", f"{purl}/{cont}/doc", ptoken).status_code == 403
    assert req("PUT", f"{purl}/{cont}/new", ptoken, data=b"x").status_code == 403
    assert req("PUT", f"{purl}/plain-made", ptoken).status_code == 403
    with pytest.raises(ClientException) as ei:
        plain_conn.get_account()
    assert ei.value.http_status == 403

    # Read ACL: reading and listing work, writing still does not.
    tester_conn.post_container(cont, {"X-Container-Read": "test:plain"})
    r = req("GET", f"{purl}/{cont}/doc", ptoken)
    assert r.status_code == 200 and r.content == b"shared document"
    assert plain_conn.get_object(cont, "doc")[1] == b"shared document"
    assert [o["name"] for o in plain_conn.get_container(cont)[1]] == ["doc"]
    assert req("PUT", f"{purl}/{cont}/new", ptoken, data=b"x").status_code == 403
    assert req("DELETE", f"{purl}/{cont}/doc", ptoken).status_code == 403
    # Read access does not allow changing the container's metadata or ACLs.
    r = req("POST", f"{purl}/{cont}", ptoken, headers={"X-Container-Read": ".r:*"})
    assert r.status_code == 403
    assert req("GET", purl, ptoken).status_code == 403

    # Write ACL: objects can be created and deleted.
    tester_conn.post_container(cont, {"X-Container-Write": "test:plain"})
    r = req("PUT", f"{purl}/{cont}/from-plain", ptoken, data=b"written by plain")
    assert r.status_code == 201
    plain_conn.put_object(cont, "via-client", b"client write")
    assert tester_conn.get_object(cont, "from-plain")[1] == b"written by plain"
    assert tester_conn.get_object(cont, "via-client")[1] == b"client write"
    assert req("DELETE", f"{purl}/{cont}/via-client", ptoken).status_code == 204

    # Emptying the read ACL leaves write-only access.
    tester_conn.post_container(cont, {"X-Container-Read": ""})
    assert "x-container-read" not in tester_conn.head_container(cont)
    assert req("GET", f"{purl}/{cont}/doc", ptoken).status_code == 403
    assert req("PUT", f"{purl}/{cont}/again", ptoken, data=b"y").status_code == 201


def test_remove_container_acl_headers(cairn, tester_conn, unique):
    # X-Remove-Container-Read / -Write drop the ACLs like an empty value does.
    cont = unique("acl-rm")
    tester_conn.put_container(
        cont, headers={"X-Container-Read": "test:plain", "X-Container-Write": "test:plain"}
    )
    tester_conn.put_object(cont, "doc", b"doc")
    purl, ptoken = login(cairn, *PLAIN)
    assert req("GET", f"{purl}/{cont}/doc", ptoken).status_code == 200

    tester_conn.post_container(cont, {"X-Remove-Container-Read": "x"})
    h = tester_conn.head_container(cont)
    assert "x-container-read" not in h
    assert h["x-container-write"] == "test:plain"
    assert req("GET", f"{purl}/{cont}/doc", ptoken).status_code == 403

    tester_conn.post_container(cont, {"X-Remove-Container-Write": "x"})
    assert "x-container-write" not in tester_conn.head_container(cont)
    assert req("PUT", f"{purl}/{cont}/w", ptoken, data=b"x").status_code == 403


def test_acl_by_account_grants_all_its_users(cairn, admin_conn, unique):
    # An ACL naming an account (no user part) grants every user of it.
    cont = unique("acl-acct")
    admin_conn.put_container(cont, headers={"X-Container-Read": "test"})
    admin_conn.put_object(cont, "o", b"for test users")
    url, _ = admin_conn.get_auth()
    _, ptoken = login(cairn, *PLAIN)
    r = req("GET", f"{url}/{cont}/o", ptoken)
    assert r.status_code == 200 and r.content == b"for test users"
    r = req("GET", f"{url}/{cont}", ptoken)
    assert r.status_code == 200 and r.text == "o\n"


def test_public_read_and_rlistings(admin_conn, unique):
    url, _ = admin_conn.get_auth()
    cont = unique("public")
    admin_conn.put_container(cont)
    admin_conn.put_object(cont, "pub.txt", b"public content", content_type="text/plain")

    assert req("GET", f"{url}/{cont}/pub.txt").status_code == 401
    admin_conn.post_container(cont, {"X-Container-Read": ".r:*"})

    r = req("GET", f"{url}/{cont}/pub.txt")
    assert r.status_code == 200
    assert r.content == b"public content"
    assert r.headers["Content-Type"] == "text/plain"
    assert_trans_id(r)
    r = req("HEAD", f"{url}/{cont}/pub.txt")
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(len(b"public content"))
    r = req("GET", f"{url}/{cont}/pub.txt", headers={"Range": "bytes=0-5"})
    assert r.status_code == 206 and r.content == b"public"
    assert req("GET", f"{url}/{cont}/missing").status_code == 404

    # Listing is still refused, and so is any write.
    assert req("GET", f"{url}/{cont}").status_code == 401
    assert req("HEAD", f"{url}/{cont}").status_code == 401
    assert req("PUT", f"{url}/{cont}/anon", data=b"x").status_code == 401
    assert req("DELETE", f"{url}/{cont}/pub.txt").status_code == 401
    assert req("GET", url).status_code == 401

    admin_conn.post_container(cont, {"X-Container-Read": ".r:*,.rlistings"})
    r = req("GET", f"{url}/{cont}")
    assert r.status_code == 200
    assert r.text == "pub.txt\n"
    r = req("GET", f"{url}/{cont}", params={"format": "json"})
    assert [o["name"] for o in r.json()] == ["pub.txt"]
    assert req("PUT", f"{url}/{cont}/anon", data=b"x").status_code == 401
    assert req("GET", url).status_code == 401

    # Taking the ACL away closes it again.
    admin_conn.post_container(cont, {"X-Container-Read": ""})
    assert req("GET", f"{url}/{cont}/pub.txt").status_code == 401
    assert req("GET", f"{url}/{cont}").status_code == 401


def test_restart_keeps_data_and_credentials(cairn_factory):
    server = cairn_factory()
    rc1 = server.start()
    key = rc1["ST_KEY"]
    conn = server.connection(rc1["ST_USER"], key)
    conn.put_container("persist", headers={"X-Container-Meta-Kept": "yes",
                                           "X-Container-Read": "test:plain"})
    big = bytes(range(256)) * 1024  # 256 KiB
    conn.put_object("persist", "small", b"small object", headers={"X-Object-Meta-A": "1"})
    conn.put_object("persist", "big", big)
    tconn = server.connection(*TESTER)
    tconn.put_container("tester-cont")
    tconn.put_object("tester-cont", "t", b"tester data")
    old_url, old_token = conn.get_auth()

    assert server.stop() == 0, "cairn up did not exit 0 on SIGTERM:\n" + server.log_tail()

    rc2 = server.start()
    assert rc2["ST_KEY"] == key
    assert rc2["ST_USER"] == rc1["ST_USER"]

    # An old token may be refused (tokens need not survive); if it is, 401.
    new_url = f"{server.base_url}/v1/AUTH_admin"
    r = req("GET", f"{new_url}/persist/small", old_token)
    assert r.status_code in (200, 401)
    if r.status_code == 200:
        assert r.content == b"small object"
    assert TRANS_ID.match(r.headers.get("X-Trans-Id", ""))

    # A new login with the same key works and sees everything.
    conn2 = server.connection(rc2["ST_USER"], rc2["ST_KEY"])
    url2, token2 = conn2.get_auth()
    assert url2 == new_url
    assert token2
    h = conn2.head_container("persist")
    assert h["x-container-meta-kept"] == "yes"
    assert h["x-container-read"] == "test:plain"
    assert h["x-container-object-count"] == "2"
    assert h["x-container-bytes-used"] == str(len(big) + len(b"small object"))
    h, body = conn2.get_object("persist", "small")
    assert body == b"small object"
    assert h["x-object-meta-a"] == "1"
    assert conn2.get_object("persist", "big")[1] == big
    assert [o["name"] for o in conn2.get_container("persist")[1]] == ["big", "small"]

    # Configured users still log in; their data and the ACL survived too.
    assert server.connection(*TESTER).get_object("tester-cont", "t")[1] == b"tester data"
    _, ptoken = login(server, *PLAIN)
    r = req("GET", f"{new_url}/persist/small", ptoken)
    assert r.status_code == 200 and r.content == b"small object"

    stop_and_check(server)
