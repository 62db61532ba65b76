"""python-swiftclient's `Connection` (and `requests` for raw HTTP) against
Cairn: accounts, containers, listings, objects, conditional and ranged
requests, copies, expiry, /info, constraints and error responses. Every
assertion is what OpenStack Swift itself answers."""

import email.utils
import gzip
import hashlib
import io
import json
import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import pytest
import requests
from swiftclient.exceptions import ClientException

from compat_helpers import TRANS_ID, assert_trans_id


def md5(data):
    return hashlib.md5(data).hexdigest()


def status_of(fn, *args, **kwargs):
    """The HTTP status of a swiftclient call that is expected to fail."""
    with pytest.raises(ClientException) as ei:
        fn(*args, **kwargs)
    return ei.value.http_status


class Raw:
    """`requests` with the admin token against the storage URL."""

    def __init__(self, url, token):
        self.url = url
        self.token = token

    def __call__(self, method, path="", headers=None, token=True, **kw):
        h = {"X-Auth-Token": self.token} if token else {}
        h.update(headers or {})
        url = self.url + ("/" + path if path else "")
        return requests.request(method, url, headers=h, allow_redirects=False, **kw)


@pytest.fixture
def raw(admin_auth):
    return Raw(*admin_auth)


# --------------------------------------------------------------------------
# Account


def test_account_head_get_post_metadata(admin_conn, container, unique):
    admin_conn.put_object(container, "o", b"12345")
    key = unique("meta").replace("-", "")
    rd = {}
    admin_conn.post_account({f"X-Account-Meta-{key}": "value one"}, response_dict=rd)
    assert rd["status"] == 204

    h = admin_conn.head_account()
    assert h[f"x-account-meta-{key}"] == "value one"
    for k in ("x-account-container-count", "x-account-object-count", "x-account-bytes-used"):
        assert h[k].isdigit()
    assert int(h["x-account-container-count"]) >= 1
    assert "x-timestamp" in h

    h, listing = admin_conn.get_account(full_listing=True)
    assert h[f"x-account-meta-{key}"] == "value one"
    entry = [c for c in listing if c["name"] == container]
    assert len(entry) == 1
    assert entry[0]["count"] == 1
    assert entry[0]["bytes"] == 5
    names = [c["name"] for c in listing]
    assert names == sorted(names)
    assert int(h["x-account-container-count"]) == len(listing)

    # Account listing parameters.
    _, only = admin_conn.get_account(prefix=container)
    assert [c["name"] for c in only] == [container]

    # Remove with X-Remove-Account-Meta-*, and with an empty value.
    admin_conn.post_account({f"X-Remove-Account-Meta-{key}": "x"})
    assert f"x-account-meta-{key}" not in admin_conn.head_account()
    admin_conn.post_account({f"X-Account-Meta-{key}": "again"})
    assert admin_conn.head_account()[f"x-account-meta-{key}"] == "again"
    admin_conn.post_account({f"X-Account-Meta-{key}": ""})
    assert f"x-account-meta-{key}" not in admin_conn.head_account()


# --------------------------------------------------------------------------
# Containers


def test_container_put_created_then_accepted(admin_conn, unique):
    name = unique("put")
    rd = {}
    admin_conn.put_container(name, response_dict=rd)
    assert rd["status"] == 201
    assert_trans_id_dict(rd)
    rd = {}
    admin_conn.put_container(name, response_dict=rd)
    assert rd["status"] == 202
    h = admin_conn.head_container(name)
    assert h["x-container-object-count"] == "0"
    assert h["x-container-bytes-used"] == "0"
    assert h["x-storage-policy"] == "replicated"


def assert_trans_id_dict(rd):
    tx = rd["headers"].get("x-trans-id")
    assert tx and TRANS_ID.match(tx), tx


def test_container_head_counts_and_bytes(admin_conn, container):
    sizes = {"a": 10, "b": 2000, "c": 70000}
    for name, n in sizes.items():
        admin_conn.put_object(container, name, os.urandom(n))
    h = admin_conn.head_container(container)
    assert h["x-container-object-count"] == "3"
    assert h["x-container-bytes-used"] == str(sum(sizes.values()))
    # Overwriting replaces the size; deleting removes it.
    admin_conn.put_object(container, "c", b"x")
    admin_conn.delete_object(container, "a")
    h = admin_conn.head_container(container)
    assert h["x-container-object-count"] == "2"
    assert h["x-container-bytes-used"] == str(2000 + 1)


LISTING_NAMES = ["a/1", "a/2", "b/1", "c", "d/e/f", "d/g"]


@pytest.fixture
def listed(admin_conn, container):
    """A container with LISTING_NAMES, each body its own name."""
    for n in LISTING_NAMES:
        admin_conn.put_object(container, n, n.encode(), content_type="text/x-name")
    return container


def names(listing):
    return [o.get("name", o.get("subdir")) for o in listing]


def test_listing_json_fields(admin_conn, listed):
    h, listing = admin_conn.get_container(listed)
    assert h["content-type"] == "application/json; charset=utf-8"
    assert names(listing) == LISTING_NAMES
    for o in listing:
        assert set(o) >= {"name", "hash", "bytes", "content_type", "last_modified"}
        assert o["hash"] == md5(o["name"].encode())
        assert o["bytes"] == len(o["name"])
        assert o["content_type"] == "text/x-name"
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$", o["last_modified"])


def test_listing_prefix_delimiter(admin_conn, listed):
    assert names(admin_conn.get_container(listed, prefix="a/")[1]) == ["a/1", "a/2"]
    assert names(admin_conn.get_container(listed, prefix="zzz")[1]) == []

    _, listing = admin_conn.get_container(listed, delimiter="/")
    assert listing == [
        {"subdir": "a/"},
        {"subdir": "b/"},
        listing[2],
        {"subdir": "d/"},
    ]
    assert listing[2]["name"] == "c"

    _, listing = admin_conn.get_container(listed, prefix="d/", delimiter="/")
    assert names(listing) == ["d/e/", "d/g"]
    assert listing[0] == {"subdir": "d/e/"}


def test_listing_marker_end_marker_limit_reverse(admin_conn, listed):
    g = admin_conn.get_container
    assert names(g(listed, marker="b/1")[1]) == ["c", "d/e/f", "d/g"]
    assert names(g(listed, end_marker="c")[1]) == ["a/1", "a/2", "b/1"]
    assert names(g(listed, marker="a/1", end_marker="d/e/f")[1]) == ["a/2", "b/1", "c"]
    assert names(g(listed, limit=2)[1]) == ["a/1", "a/2"]
    assert names(g(listed, limit=2, marker="a/2")[1]) == ["b/1", "c"]
    assert names(g(listed, query_string="reverse=true")[1]) == LISTING_NAMES[::-1]
    assert names(g(listed, query_string="reverse=true&limit=2")[1]) == ["d/g", "d/e/f"]
    assert names(g(listed, marker="c", query_string="reverse=true")[1]) == ["b/1", "a/2", "a/1"]


def test_x_newest_listings_merge_replicas_into_the_same_pages(admin_conn, listed):
    # With X-Newest every replica's listing is merged; on agreeing
    # replicas each page must be exactly the plain one.
    newest = {"X-Newest": "true"}
    cases = [
        {},
        {"prefix": "d/", "delimiter": "/"},
        {"delimiter": "/"},
        {"marker": "a/1", "end_marker": "d/e/f"},
        {"limit": 2, "marker": "a/2"},
        {"query_string": "reverse=true&limit=2"},
        {"marker": "c", "query_string": "reverse=true"},
        {"limit": 1, "full_listing": True},
    ]
    for kw in cases:
        plain = admin_conn.get_container(listed, **kw)[1]
        merged = admin_conn.get_container(listed, headers=newest, **kw)[1]
        assert merged == plain, kw
    assert names(admin_conn.get_container(listed, headers=newest, limit=1, full_listing=True)[1]) == LISTING_NAMES


def test_listing_full_listing_pages(admin_conn, container):
    want = [f"obj-{i:03d}" for i in range(25)]
    for n in want:
        admin_conn.put_object(container, n, b"")
    # full_listing pages with marker=<last name> until an empty page.
    _, listing = admin_conn.get_container(container, limit=4, full_listing=True)
    assert names(listing) == want
    _, listing = admin_conn.get_container(container, limit=4)
    assert names(listing) == want[:4]


def test_listing_bad_parameters_412(raw, listed):
    for q in ("limit=10001", "limit=abc", "limit=-1", "delimiter=ab"):
        r = raw("GET", f"{listed}?{q}")
        assert r.status_code == 412, q
        assert_trans_id(r)
    r = raw("GET", f"{listed}?limit=10000")
    assert r.status_code == 200


def test_listing_text_and_xml(raw, listed):
    r = raw("GET", listed)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.content == ("\n".join(LISTING_NAMES) + "\n").encode()
    assert r.headers["X-Container-Object-Count"] == str(len(LISTING_NAMES))

    r = raw("GET", listed, params={"format": "plain", "delimiter": "/"})
    assert r.content == b"a/\nb/\nc\nd/\n"

    r = raw("GET", listed, params={"format": "xml"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(r.content)
    assert root.tag == "container"
    assert root.get("name") == listed
    objs = root.findall("object")
    assert [o.findtext("name") for o in objs] == LISTING_NAMES
    for o in objs:
        assert o.findtext("hash") == md5(o.findtext("name").encode())
        assert o.findtext("bytes") == str(len(o.findtext("name")))
        assert o.findtext("content_type") == "text/x-name"
        assert o.findtext("last_modified")

    r = raw("GET", listed, params={"format": "xml", "delimiter": "/"})
    root = ET.fromstring(r.content)
    subdirs = root.findall("subdir")
    assert [s.get("name") for s in subdirs] == ["a/", "b/", "d/"]
    assert [s.findtext("name") for s in subdirs] == ["a/", "b/", "d/"]
    assert [o.findtext("name") for o in root.findall("object")] == ["c"]

    # Accept header chooses JSON when there is no format parameter.
    r = raw("GET", listed, headers={"Accept": "application/json"})
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert [o["name"] for o in r.json()] == LISTING_NAMES

    # Account listings in xml and text.
    r = raw("GET", "", params={"format": "xml", "prefix": listed})
    root = ET.fromstring(r.content)
    assert root.tag == "account"
    (c,) = root.findall("container")
    assert c.findtext("name") == listed
    assert c.findtext("count") == str(len(LISTING_NAMES))
    assert c.findtext("bytes") == str(sum(map(len, LISTING_NAMES)))
    r = raw("GET", "", params={"prefix": listed})
    assert r.content == (listed + "\n").encode()


def test_empty_listings(raw, container):
    r = raw("GET", container)
    assert r.status_code == 204
    assert r.content == b""
    r = raw("GET", container, params={"format": "json"})
    assert r.status_code == 200
    assert r.json() == []
    r = raw("GET", container, params={"format": "xml"})
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert root.tag == "container" and list(root) == []


def test_container_post_and_remove_metadata(admin_conn, container):
    rd = {}
    admin_conn.post_container(
        container,
        {"X-Container-Meta-Color": "blue", "X-Container-Meta-Shape": "round"},
        response_dict=rd,
    )
    assert rd["status"] == 204
    h = admin_conn.head_container(container)
    assert h["x-container-meta-color"] == "blue"
    assert h["x-container-meta-shape"] == "round"

    admin_conn.post_container(container, {"X-Remove-Container-Meta-Color": "x"})
    h = admin_conn.head_container(container)
    assert "x-container-meta-color" not in h
    assert h["x-container-meta-shape"] == "round"

    # POST merges: untouched keys survive, an empty value removes.
    admin_conn.post_container(container, {"X-Container-Meta-New": "1"})
    h = admin_conn.head_container(container)
    assert h["x-container-meta-shape"] == "round"
    assert h["x-container-meta-new"] == "1"
    admin_conn.post_container(container, {"X-Container-Meta-Shape": ""})
    assert "x-container-meta-shape" not in admin_conn.head_container(container)

    # Metadata given at PUT time, and on GET too.
    admin_conn.put_container(container, headers={"X-Container-Meta-Put": "p"})
    h, _ = admin_conn.get_container(container)
    assert h["x-container-meta-put"] == "p"
    assert h["x-container-meta-new"] == "1"

    # POST to a missing container is 404.
    assert status_of(admin_conn.post_container, container + "-missing", {"X-Container-Meta-A": "b"}) == 404


def test_container_delete_statuses(admin_conn, unique, raw):
    name = unique("del")
    admin_conn.put_container(name)
    admin_conn.put_object(name, "o", b"x")
    assert status_of(admin_conn.delete_container, name) == 409
    r = raw("DELETE", name)
    assert r.status_code == 409
    assert_trans_id(r)
    admin_conn.delete_object(name, "o")
    rd = {}
    admin_conn.delete_container(name, response_dict=rd)
    assert rd["status"] == 204
    assert status_of(admin_conn.delete_container, name) == 404
    assert status_of(admin_conn.head_container, name) == 404
    assert status_of(admin_conn.get_container, name) == 404
    # Objects cannot go into a missing container.
    assert status_of(admin_conn.put_object, name, "o", b"x") == 404


# --------------------------------------------------------------------------
# Objects


def test_object_put_get_head_post_delete(admin_conn, container, raw):
    body = b"object body \x00\xff" * 100
    gz = gzip.compress(body)
    rd = {}
    etag = admin_conn.put_object(
        container,
        "obj.dat",
        gz,
        content_type="application/x-cairn-test",
        headers={
            "X-Object-Meta-Color": "Blue",
            "X-Object-Meta-Two-Words": "a b",
            "Content-Disposition": 'attachment; filename="obj.dat"',
            "Content-Encoding": "gzip",
        },
        response_dict=rd,
    )
    assert rd["status"] == 201
    assert etag == md5(gz)
    assert rd["headers"]["etag"] == md5(gz)
    assert "last-modified" in rd["headers"]

    h, got = admin_conn.get_object(container, "obj.dat")
    assert got == gz  # stored bytes, not decoded
    assert h["content-type"] == "application/x-cairn-test"
    assert h["content-length"] == str(len(gz))
    assert h["etag"] == md5(gz)
    assert h["x-object-meta-color"] == "Blue"
    assert h["x-object-meta-two-words"] == "a b"
    assert h["content-disposition"] == 'attachment; filename="obj.dat"'
    assert h["content-encoding"] == "gzip"
    assert h["accept-ranges"] == "bytes"
    assert re.match(r"^\d{10}\.\d{5}$", h["x-timestamp"])
    assert email.utils.parsedate_to_datetime(h["last-modified"])

    hh = admin_conn.head_object(container, "obj.dat")
    for k in ("content-type", "content-length", "etag", "x-object-meta-color",
              "content-disposition", "content-encoding", "last-modified"):
        assert hh[k] == h[k], k
    r = raw("HEAD", f"{container}/obj.dat")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Length"] == str(len(gz))

    # POST replaces the object's user metadata (and these system headers)
    # wholesale, and may change the content type.
    rd = {}
    admin_conn.post_object(
        container, "obj.dat",
        {"X-Object-Meta-Size": "Large", "Content-Type": "text/x-changed"},
        response_dict=rd,
    )
    assert rd["status"] == 202
    h = admin_conn.head_object(container, "obj.dat")
    assert h["x-object-meta-size"] == "Large"
    assert "x-object-meta-color" not in h
    assert "x-object-meta-two-words" not in h
    assert "content-disposition" not in h
    assert "content-encoding" not in h
    assert h["content-type"] == "text/x-changed"
    assert h["etag"] == md5(gz)
    assert admin_conn.get_object(container, "obj.dat")[1] == gz

    assert status_of(admin_conn.post_object, container, "missing", {"X-Object-Meta-A": "b"}) == 404

    rd = {}
    admin_conn.delete_object(container, "obj.dat", response_dict=rd)
    assert rd["status"] == 204
    assert status_of(admin_conn.get_object, container, "obj.dat") == 404
    assert status_of(admin_conn.head_object, container, "obj.dat") == 404
    assert status_of(admin_conn.delete_object, container, "obj.dat") == 404
    assert admin_conn.get_container(container)[1] == []


def test_post_content_type_updates_listing(admin_conn, container):
    # A POST that changes Content-Type updates the container listing too.
    admin_conn.put_object(container, "ct", b"abc", content_type="text/a")
    admin_conn.post_object(container, "ct", {"Content-Type": "text/b"})
    assert admin_conn.head_object(container, "ct")["content-type"] == "text/b"
    (entry,) = admin_conn.get_container(container)[1]
    assert entry["content_type"] == "text/b"
    assert entry["hash"] == md5(b"abc")
    assert entry["bytes"] == 3


def test_object_content_type_guessed_and_zero_bytes(admin_conn, container, raw):
    r = raw("PUT", f"{container}/page.html", data=b"<p>hi</p>")
    assert r.status_code == 201
    assert admin_conn.head_object(container, "page.html")["content-type"] == "text/html"
    r = raw("PUT", f"{container}/empty", data=b"")
    assert r.status_code == 201
    assert r.headers["Etag"] == md5(b"")
    h, body = admin_conn.get_object(container, "empty")
    assert body == b""
    assert h["content-length"] == "0"
    assert h["content-type"] == "application/octet-stream"
    # An object name with spaces, unicode and slashes round-trips.
    name = "dir/sp ace/ünï©ødé ?#&.txt"
    admin_conn.put_object(container, name, b"odd")
    assert admin_conn.get_object(container, name)[1] == b"odd"
    assert name in names(admin_conn.get_container(container)[1])


def test_chunked_upload(admin_conn, container, raw):
    parts = [os.urandom(1000), os.urandom(65536), os.urandom(300000), b"tail"]
    whole = b"".join(parts)

    def gen():
        yield from parts

    rd = {}
    etag = admin_conn.put_object(container, "gen.bin", gen(), response_dict=rd)
    assert rd["status"] == 201
    assert etag == md5(whole)
    h, got = admin_conn.get_object(container, "gen.bin")
    assert got == whole
    assert h["content-length"] == str(len(whole))

    # A file-like object with no length is sent chunked in chunk_size pieces.
    etag = admin_conn.put_object(container, "file.bin", io.BytesIO(whole), chunk_size=4096)
    assert etag == md5(whole)
    assert admin_conn.get_object(container, "file.bin")[1] == whole

    # A raw chunked request without Content-Length.
    r = raw("PUT", f"{container}/raw.bin", data=iter([b"abc", b"def"]))
    assert r.status_code == 201
    assert r.headers["Etag"] == md5(b"abcdef")
    assert admin_conn.get_object(container, "raw.bin")[1] == b"abcdef"

    # Chunked with a wrong ETag is refused too.
    assert status_of(admin_conn.put_object, container, "bad.bin", gen(), etag="0" * 32) == 422
    assert status_of(admin_conn.head_object, container, "bad.bin") == 404


def raw_http(url, request_head):
    """Sends a hand-made request (no client fills in headers) and returns
    (status, headers dict with lowercase names)."""
    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(request_head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return status, headers


def test_put_without_length_or_chunked_is_411(raw, container, admin_conn):
    path = urlparse(raw.url).path + f"/{container}/nolen"
    status, headers = raw_http(
        raw.url,
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {raw.token}\r\n"
        "Connection: close\r\n\r\n",
    )
    assert status == 411
    assert TRANS_ID.match(headers.get("x-trans-id", ""))
    assert status_of(admin_conn.head_object, container, "nolen") == 404


def test_too_large_content_length_is_413(raw, container, admin_conn):
    path = urlparse(raw.url).path + f"/{container}/huge"
    status, headers = raw_http(
        raw.url,
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {raw.token}\r\n"
        f"Content-Length: {5 * 1024**3 + 3}\r\nConnection: close\r\n\r\n",
    )
    assert status == 413
    assert TRANS_ID.match(headers.get("x-trans-id", ""))
    assert status_of(admin_conn.head_object, container, "huge") == 404


def test_wrong_etag_is_422_and_object_absent(admin_conn, container, raw):
    body = b"some data"
    rd = {}
    with pytest.raises(ClientException) as ei:
        admin_conn.put_object(container, "etag", body, etag="0" * 32, response_dict=rd)
    assert ei.value.http_status == 422
    assert status_of(admin_conn.head_object, container, "etag") == 404
    assert admin_conn.get_container(container)[1] == []
    assert admin_conn.head_container(container)["x-container-object-count"] == "0"
    # A wrong ETag does not clobber an existing object either.
    admin_conn.put_object(container, "etag", body, etag=md5(body))
    assert status_of(admin_conn.put_object, container, "etag", b"other", etag=md5(b"nope")) == 422
    assert admin_conn.get_object(container, "etag")[1] == body
    # A quoted, correct ETag is accepted.
    r = raw("PUT", f"{container}/quoted", data=body, headers={"ETag": f'"{md5(body)}"'})
    assert r.status_code == 201


def test_conditional_get(admin_conn, container, raw):
    body = b"conditional body"
    etag = admin_conn.put_object(container, "cond", body)
    path = f"{container}/cond"
    lm = raw("HEAD", path).headers["Last-Modified"]

    r = raw("GET", path, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["Etag"] == etag
    assert_trans_id(r)
    r = raw("GET", path, headers={"If-None-Match": f'"{etag}"'})
    assert r.status_code == 304
    r = raw("GET", path, headers={"If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == body
    r = raw("GET", path, headers={"If-None-Match": "*"})
    assert r.status_code == 304

    r = raw("GET", path, headers={"If-Match": '"0123"'})
    assert r.status_code == 412
    assert_trans_id(r)
    r = raw("GET", path, headers={"If-Match": f'"{etag}"'})
    assert r.status_code == 200 and r.content == body
    r = raw("GET", path, headers={"If-Match": "*"})
    assert r.status_code == 200
    r = raw("HEAD", path, headers={"If-Match": '"nope"'})
    assert r.status_code == 412

    r = raw("GET", path, headers={"If-Modified-Since": lm})
    assert r.status_code == 304
    long_ago = "Mon, 01 Jan 2001 00:00:00 GMT"
    r = raw("GET", path, headers={"If-Modified-Since": long_ago})
    assert r.status_code == 200 and r.content == body
    r = raw("GET", path, headers={"If-Unmodified-Since": long_ago})
    assert r.status_code == 412
    r = raw("GET", path, headers={"If-Unmodified-Since": lm})
    assert r.status_code == 200

    # swiftclient surfaces 304 as an exception with that status.
    assert status_of(admin_conn.get_object, container, "cond", headers={"If-None-Match": etag}) == 304


def test_if_none_match_star_put(admin_conn, container, raw):
    r = raw("PUT", f"{container}/once", data=b"first", headers={"If-None-Match": "*"})
    assert r.status_code == 201
    r = raw("PUT", f"{container}/once", data=b"second", headers={"If-None-Match": "*"})
    assert r.status_code == 412
    assert_trans_id(r)
    assert admin_conn.get_object(container, "once")[1] == b"first"
    # Only `*` is supported on a PUT.
    r = raw("PUT", f"{container}/other", data=b"x", headers={"If-None-Match": '"abc"'})
    assert r.status_code == 400
    assert status_of(admin_conn.head_object, container, "other") == 404


# --------------------------------------------------------------------------
# Ranges

RANGE_BODY = bytes(range(256)) * 40  # 10240 bytes


def parse_multipart_byteranges(content_type, body):
    """Splits a multipart/byteranges body into [(headers, data)], strictly."""
    m = re.match(r'^multipart/byteranges;\s*boundary="?([^";]+)"?$', content_type)
    assert m, content_type
    boundary = m.group(1).encode()
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary)
    assert chunks[0] == b"", "unexpected preamble"
    assert chunks[-1].startswith(b"--"), "missing close delimiter"
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n"), chunk[:40]
        head, data = chunk[2:].split(b"\r\n\r\n", 1)
        headers = {}
        for line in head.decode().split("\r\n"):
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        parts.append((headers, data))
    return parts


@pytest.fixture
def ranged(admin_conn, container):
    admin_conn.put_object(container, "r.bin", RANGE_BODY, content_type="application/x-r")
    return f"{container}/r.bin"


def test_single_and_suffix_ranges(raw, ranged):
    n = len(RANGE_BODY)
    r = raw("GET", ranged, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 10-19/{n}"
    assert r.headers["Content-Length"] == "10"
    assert r.headers["Content-Type"] == "application/x-r"
    assert r.content == RANGE_BODY[10:20]

    r = raw("GET", ranged, headers={"Range": "bytes=-100"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {n - 100}-{n - 1}/{n}"
    assert r.content == RANGE_BODY[-100:]

    r = raw("GET", ranged, headers={"Range": f"bytes={n - 5}-"})
    assert r.status_code == 206
    assert r.content == RANGE_BODY[-5:]

    # A range running past the end is clipped.
    r = raw("GET", ranged, headers={"Range": f"bytes={n - 3}-{n + 100}"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {n - 3}-{n - 1}/{n}"
    assert r.content == RANGE_BODY[-3:]

    # A suffix longer than the object is the whole object.
    r = raw("GET", ranged, headers={"Range": f"bytes=-{n * 2}"})
    assert r.status_code == 206
    assert r.content == RANGE_BODY


def test_multi_range(raw, ranged):
    n = len(RANGE_BODY)
    r = raw("GET", ranged, headers={"Range": "bytes=0-4,100-199,-6"})
    assert r.status_code == 206
    assert int(r.headers["Content-Length"]) == len(r.content)
    parts = parse_multipart_byteranges(r.headers["Content-Type"], r.content)
    want = [(0, 4), (100, 199), (n - 6, n - 1)]
    assert len(parts) == 3
    for (headers, data), (a, b) in zip(parts, want):
        assert headers["content-range"] == f"bytes {a}-{b}/{n}"
        assert headers["content-type"] == "application/x-r"
        assert data == RANGE_BODY[a:b + 1]


def test_unsatisfiable_and_malformed_ranges(raw, ranged):
    n = len(RANGE_BODY)
    r = raw("GET", ranged, headers={"Range": f"bytes={n}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{n}"
    assert_trans_id(r)
    r = raw("GET", ranged, headers={"Range": f"bytes={n + 10}-{n + 20}"})
    assert r.status_code == 416

    for bad in ("bytes=abc", "bytes=5-1", "pages=1-2", "bytes=1-2-3", "bytes"):
        r = raw("GET", ranged, headers={"Range": bad})
        assert r.status_code == 200, bad
        assert r.content == RANGE_BODY, bad
        assert "Content-Range" not in r.headers, bad


# --------------------------------------------------------------------------
# Copies


def test_copy_method(admin_conn, container, raw):
    body = os.urandom(5000)
    admin_conn.put_object(
        container, "src", body, content_type="application/x-src",
        headers={"X-Object-Meta-Keep": "k", "X-Object-Meta-Over": "old",
                 "Content-Disposition": "inline"},
    )
    rd = {}
    admin_conn.copy_object(
        container, "src", destination=f"/{container}/dst",
        headers={"X-Object-Meta-Over": "new", "X-Object-Meta-Added": "a"},
        response_dict=rd,
    )
    assert rd["status"] == 201
    assert rd["headers"]["x-copied-from"] == f"{container}/src"
    assert rd["headers"]["etag"] == md5(body)
    h, got = admin_conn.get_object(container, "dst")
    assert got == body
    assert h["content-type"] == "application/x-src"
    assert h["x-object-meta-keep"] == "k"
    assert h["x-object-meta-over"] == "new"
    assert h["x-object-meta-added"] == "a"
    assert h["content-disposition"] == "inline"
    # The source is unchanged.
    assert admin_conn.head_object(container, "src")["x-object-meta-over"] == "old"

    # X-Fresh-Metadata: only the request's metadata.
    admin_conn.copy_object(
        container, "src", destination=f"/{container}/fresh",
        headers={"X-Object-Meta-Only": "1"}, fresh_metadata=True,
    )
    h, got = admin_conn.get_object(container, "fresh")
    assert got == body
    assert h["x-object-meta-only"] == "1"
    assert "x-object-meta-keep" not in h and "x-object-meta-over" not in h
    assert "content-disposition" not in h

    # COPY of a missing source is 404; without Destination 412.
    r = raw("COPY", f"{container}/nope", headers={"Destination": f"{container}/x"})
    assert r.status_code == 404
    r = raw("COPY", f"{container}/src")
    assert r.status_code == 412


def test_x_copy_from(admin_conn, container, unique, raw):
    other = unique("copy-dst")
    admin_conn.put_container(other)
    body = b"copy me " * 1000
    admin_conn.put_object(
        container, "dir/src name", body, content_type="text/x-src",
        headers={"X-Object-Meta-Color": "red"},
    )
    r = raw(
        "PUT", f"{other}/copied",
        headers={"X-Copy-From": f"/{container}/dir/src%20name", "Content-Length": "0",
                 "X-Object-Meta-Extra": "e"},
    )
    assert r.status_code == 201
    assert r.headers["Etag"] == md5(body)
    h, got = admin_conn.get_object(other, "copied")
    assert got == body
    assert h["content-type"] == "text/x-src"
    assert h["x-object-meta-color"] == "red"
    assert h["x-object-meta-extra"] == "e"

    r = raw(
        "PUT", f"{other}/fresh",
        headers={"X-Copy-From": f"{container}/dir/src name", "Content-Length": "0",
                 "X-Fresh-Metadata": "true", "X-Object-Meta-New": "n"},
    )
    assert r.status_code == 201
    h = admin_conn.head_object(other, "fresh")
    assert h["x-object-meta-new"] == "n"
    assert "x-object-meta-color" not in h

    r = raw("PUT", f"{other}/x", headers={"X-Copy-From": f"{container}/missing",
                                          "Content-Length": "0"})
    assert r.status_code == 404
    r = raw("PUT", f"{other}/x", headers={"X-Copy-From": "nocontainer", "Content-Length": "0"})
    assert r.status_code == 412
    assert status_of(admin_conn.head_object, other, "x") == 404


def test_fresh_metadata_copy_keeps_source_content_type(admin_conn, container, raw):
    # X-Fresh-Metadata drops user metadata, but a copy without its own
    # Content-Type still takes the source's.
    admin_conn.put_object(container, "src", b"data", content_type="application/x-src",
                          headers={"X-Object-Meta-A": "1"})
    admin_conn.copy_object(container, "src", destination=f"/{container}/via-copy",
                           fresh_metadata=True)
    r = raw("PUT", f"{container}/via-put",
            headers={"X-Copy-From": f"{container}/src", "Content-Length": "0",
                     "X-Fresh-Metadata": "true"})
    assert r.status_code == 201
    for name in ("via-copy", "via-put"):
        h = admin_conn.head_object(container, name)
        assert "x-object-meta-a" not in h, name
        assert h["content-type"] == "application/x-src", name


def test_copy_with_body_is_400(admin_conn, container, raw):
    admin_conn.put_object(container, "src", b"source")
    r = raw("PUT", f"{container}/dst", data=b"abc",
            headers={"X-Copy-From": f"{container}/src"})
    assert r.status_code == 400
    assert_trans_id(r)
    assert status_of(admin_conn.head_object, container, "dst") == 404


# --------------------------------------------------------------------------
# Expiry


def test_x_delete_after(admin_conn, container, raw):
    admin_conn.put_object(container, "keep", b"k")
    t0 = time.time()
    admin_conn.put_object(container, "short", b"short-lived", headers={"X-Delete-After": "1"})
    h = admin_conn.head_object(container, "short")
    delete_at = int(h["x-delete-at"])
    assert int(t0) <= delete_at <= int(t0) + 2
    assert "short" in names(admin_conn.get_container(container)[1])

    time.sleep(max(0.0, delete_at + 1 - time.time()))
    r = raw("GET", f"{container}/short")
    assert r.status_code == 404
    assert raw("HEAD", f"{container}/short").status_code == 404

    # The expirer removes it from the listing and the counts.
    deadline = time.monotonic() + 10
    while True:
        listed = names(admin_conn.get_container(container)[1])
        if "short" not in listed or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert listed == ["keep"]
    h = admin_conn.head_container(container)
    assert h["x-container-object-count"] == "1"
    assert h["x-container-bytes-used"] == "1"


def test_x_delete_at_via_post_and_past(admin_conn, container, raw):
    now = int(time.time())
    r = raw("PUT", f"{container}/past", data=b"x", headers={"X-Delete-At": str(now - 10)})
    assert r.status_code == 400
    assert_trans_id(r)
    assert status_of(admin_conn.head_object, container, "past") == 404
    r = raw("PUT", f"{container}/bad", data=b"x", headers={"X-Delete-At": "soon"})
    assert r.status_code == 400
    r = raw("PUT", f"{container}/bad", data=b"x", headers={"X-Delete-After": "-5"})
    assert r.status_code == 400

    admin_conn.put_object(container, "later", b"x")
    at = now + 3600
    admin_conn.post_object(container, "later", {"X-Delete-At": str(at)})
    assert admin_conn.head_object(container, "later")["x-delete-at"] == str(at)
    r = raw("POST", f"{container}/later", headers={"X-Delete-At": str(now - 1)})
    assert r.status_code == 400
    admin_conn.post_object(container, "later", {"X-Delete-After": "7200"})
    assert int(admin_conn.head_object(container, "later")["x-delete-at"]) >= now + 7200


def test_post_without_delete_at_clears_expiry(admin_conn, container):
    # An object POST replaces its metadata wholesale; X-Delete-At is part of
    # it, so a POST that does not repeat it cancels the expiry.
    at = int(time.time()) + 3600
    admin_conn.put_object(container, "exp", b"x", headers={"X-Delete-At": str(at)})
    assert admin_conn.head_object(container, "exp")["x-delete-at"] == str(at)
    admin_conn.post_object(container, "exp", {"X-Object-Meta-Color": "red"})
    h = admin_conn.head_object(container, "exp")
    assert h["x-object-meta-color"] == "red"
    assert "x-delete-at" not in h


# --------------------------------------------------------------------------
# /info, transaction ids, constraints, methods


def test_info(admin_conn, cairn):
    caps = admin_conn.get_capabilities()
    s = caps["swift"]
    assert s["max_file_size"] == 5 * 1024**3 + 2
    assert s["max_meta_name_length"] == 128
    assert s["max_meta_value_length"] == 256
    assert s["max_meta_count"] == 90
    assert s["max_meta_overall_size"] == 4096
    assert s["max_object_name_length"] == 1024
    assert s["max_container_name_length"] == 256
    assert s["container_listing_limit"] == 10000
    # /info needs no token.
    r = requests.get(cairn.base_url + "/info")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert json.loads(r.content) == caps
    assert_trans_id(r)


def test_trans_id_on_every_response(raw, cairn, container):
    base = cairn.base_url
    responses = [
        raw("GET", ""),
        raw("HEAD", container),
        raw("PUT", f"{container}/o", data=b"x"),
        raw("GET", f"{container}/o"),
        raw("GET", f"{container}/missing"),
        raw("GET", f"{container}/o", token=False),
        raw("GET", f"{container}/o", headers={"X-Auth-Token": "AUTH_tkbogus"}),
        raw("PUT", "x" * 257),
        raw("FOO", f"{container}/o"),
        raw("GET", f"{container}/o", headers={"Range": "bytes=9-"}),
        raw("DELETE", f"{container}/o"),
        requests.get(base + "/info"),
        requests.get(base + "/auth/v1.0", headers={"X-Auth-User": "admin:admin", "X-Auth-Key": "wrong"}),
        requests.get(base + "/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}),
        requests.get(base + "/not-swift"),
    ]
    seen = set()
    for r in responses:
        assert_trans_id(r)
        seen.add(r.headers["X-Trans-Id"])
    assert len(seen) == len(responses), "transaction ids must be unique"
    # Paths outside Swift's belong to the S3 API: an unsigned request is refused there.
    assert responses[-1].status_code == 403 and responses[-1].headers["x-amz-request-id"]
    assert sorted({r.status_code for r in responses}) == [200, 201, 204, 400, 401, 403, 404, 405, 416]


def test_metadata_limits(admin_conn, container, raw, unique):
    ok = {f"X-Object-Meta-{'n' * 128}": "v" * 256}
    admin_conn.put_object(container, "ok", b"x", headers=ok)
    h = admin_conn.head_object(container, "ok")
    assert h[f"x-object-meta-{'n' * 128}"] == "v" * 256

    r = raw("PUT", f"{container}/long-name", data=b"x",
            headers={f"X-Object-Meta-{'n' * 129}": "v"})
    assert r.status_code == 400
    assert_trans_id(r)
    r = raw("PUT", f"{container}/long-value", data=b"x", headers={"X-Object-Meta-A": "v" * 257})
    assert r.status_code == 400
    many = {f"X-Object-Meta-K{i}": "v" for i in range(90)}
    r = raw("PUT", f"{container}/ninety", data=b"x", headers=many)
    assert r.status_code == 201
    many["X-Object-Meta-K90"] = "v"
    r = raw("PUT", f"{container}/ninety-one", data=b"x", headers=many)
    assert r.status_code == 400
    r = raw("PUT", f"{container}/empty-name", data=b"x", headers={"X-Object-Meta-": "v"})
    assert r.status_code == 400
    big = {f"X-Object-Meta-K{i:02d}": "v" * 250 for i in range(20)}  # > 4096 bytes
    r = raw("PUT", f"{container}/too-big", data=b"x", headers=big)
    assert r.status_code == 400
    for name in ("long-name", "long-value", "ninety-one", "too-big", "empty-name"):
        assert status_of(admin_conn.head_object, container, name) == 404

    # The same limits on POST (object, container, account).
    r = raw("POST", f"{container}/ok", headers={"X-Object-Meta-A": "v" * 257})
    assert r.status_code == 400
    r = raw("POST", container, headers={f"X-Container-Meta-{'n' * 129}": "v"})
    assert r.status_code == 400
    r = raw("POST", container, headers={f"X-Container-Meta-K{i}": "v" for i in range(91)})
    assert r.status_code == 400
    r = raw("PUT", unique("meta-put"), headers={"X-Container-Meta-A": "v" * 257})
    assert r.status_code == 400
    r = raw("POST", "", headers={"X-Account-Meta-A": "v" * 257})
    assert r.status_code == 400
    # The refused POST changed nothing.
    assert admin_conn.head_object(container, "ok")[f"x-object-meta-{'n' * 128}"] == "v" * 256


def test_name_length_limits(admin_conn, container, raw, unique):
    r = raw("PUT", f"{container}/{'o' * 1024}", data=b"x")
    assert r.status_code == 201
    r = raw("PUT", f"{container}/{'o' * 1025}", data=b"x")
    assert r.status_code == 400
    assert_trans_id(r)
    # The limit is in bytes of UTF-8: 512 two-byte characters fit, 513 do not.
    admin_conn.put_object(container, "é" * 512, b"x")
    assert status_of(admin_conn.put_object, container, "é" * 513, b"x") == 400

    ok = unique("n")
    ok = ok + "c" * (256 - len(ok))
    rd = {}
    admin_conn.put_container(ok, response_dict=rd)
    assert rd["status"] == 201
    r = raw("PUT", ok + "c")
    assert r.status_code == 400
    assert_trans_id(r)
    assert status_of(admin_conn.head_container, ok + "c") in (400, 404)
    assert ok + "c" not in [c["name"] for c in admin_conn.get_account(full_listing=True)[1]]


def test_unknown_method_405(raw, container):
    put = raw("PUT", f"{container}/o", data=b"x")
    assert put.status_code == 201
    for path in ("", container, f"{container}/o"):
        r = raw("FOO", path)
        assert r.status_code == 405, path
        assert_trans_id(r)
    # PUT and DELETE of an account are not allowed either.
    assert raw("PUT", "").status_code == 405
    assert raw("DELETE", "").status_code == 405


def test_unknown_method_405_has_allow(raw, container):
    r = raw("FOO", container)
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "HEAD", "PUT", "POST", "DELETE"} <= allow, r.headers.get("Allow")
