"""Storage policies through real clients: python-swiftclient picks a
container's policy with X-Storage-Policy (fixed once set, as in Swift),
`/info` lists the policies, and everything a replicated container does
(listings, metadata, ranges, conditions, copies, expiry, S3 access and
multipart uploads) works the same on the erasure-coded `ec42` policy that
`cairn up` offers."""

import hashlib
import os
import time

import pytest
import requests
from swiftclient.exceptions import ClientException

import s3_helpers

EC = "ec42"
MIB = 1024 * 1024


def md5(data):
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def ec_container(admin_conn, unique):
    name = unique("ec")
    admin_conn.put_container(name, headers={"X-Storage-Policy": EC})
    return name


def test_info_lists_both_policies(cairn, admin_auth):
    url, _ = admin_auth
    base = url.split("/v1/")[0]
    info = requests.get(f"{base}/info", timeout=10).json()
    policies = {p["name"]: p for p in info["swift"]["policies"]}
    assert policies["replicated"]["default"] is True
    assert policies["replicated"]["policy_type"] == "replication"
    ec = policies[EC]
    assert ec["policy_type"] == "erasure_coding"
    assert (ec["ec_num_data_fragments"], ec["ec_num_parity_fragments"]) == (4, 2)
    assert "default" not in ec


def test_policy_is_chosen_once_and_shown(admin_conn, unique):
    name = unique("pol")
    rd = {}
    admin_conn.put_container(name, headers={"X-Storage-Policy": EC}, response_dict=rd)
    assert rd["status"] == 201
    assert admin_conn.head_container(name)["x-storage-policy"] == EC
    # The same policy again is fine; another one conflicts; unknown ones are refused.
    admin_conn.put_container(name, headers={"X-Storage-Policy": EC.upper()})
    with pytest.raises(ClientException) as ei:
        admin_conn.put_container(name, headers={"X-Storage-Policy": "replicated"})
    assert ei.value.http_status == 409
    with pytest.raises(ClientException) as ei:
        admin_conn.put_container(unique("pol"), headers={"X-Storage-Policy": "gold"})
    assert ei.value.http_status == 400
    # Without the header a new container gets the default.
    plain = unique("pol")
    admin_conn.put_container(plain)
    assert admin_conn.head_container(plain)["x-storage-policy"] == "replicated"


@pytest.mark.parametrize("size", [0, 1, 65_536, 65_537, MIB - 1, MIB, MIB + 1, 5 * MIB + 3])
def test_round_trip_sizes(admin_conn, ec_container, size):
    data = os.urandom(size)
    etag = admin_conn.put_object(ec_container, f"o{size}", data)
    assert etag == md5(data)
    headers, body = admin_conn.get_object(ec_container, f"o{size}")
    assert body == data
    assert headers["etag"] == md5(data)
    assert int(headers["content-length"]) == size
    listed = {o["name"]: o for o in admin_conn.get_container(ec_container)[1]}
    assert listed[f"o{size}"]["bytes"] == size
    assert listed[f"o{size}"]["hash"] == md5(data)
    assert int(admin_conn.head_container(ec_container)["x-container-bytes-used"]) >= size


def test_ranges_conditions_metadata_and_copies(admin_conn, ec_container, unique):
    data = os.urandom(3 * MIB + 12_345)
    etag = admin_conn.put_object(ec_container, "big", data, headers={"X-Object-Meta-Color": "blue"})
    for rng, want in [
        ("bytes=0-0", data[0:1]),
        (f"bytes={MIB - 2}-{MIB + 1}", data[MIB - 2 : MIB + 2]),
        ("bytes=-100", data[-100:]),
        (f"bytes={3 * MIB}-", data[3 * MIB :]),
    ]:
        h, body = admin_conn.get_object(ec_container, "big", headers={"Range": rng})
        assert body == want, rng
        assert h["content-range"].startswith("bytes ")
    with pytest.raises(ClientException) as ei:
        admin_conn.get_object(ec_container, "big", headers={"If-None-Match": etag})
    assert ei.value.http_status == 304
    h = admin_conn.head_object(ec_container, "big")
    assert h["x-object-meta-color"] == "blue"
    assert int(h["content-length"]) == len(data)
    admin_conn.post_object(ec_container, "big", headers={"X-Object-Meta-Color": "red"})
    h = admin_conn.head_object(ec_container, "big")
    assert h["x-object-meta-color"] == "red"
    assert int(h["content-length"]) == len(data)
    listed = {o["name"]: o for o in admin_conn.get_container(ec_container)[1]}
    assert listed["big"]["bytes"] == len(data)
    # Copies across policies, both ways.
    plain = unique("plain")
    admin_conn.put_container(plain)
    admin_conn.copy_object(ec_container, "big", f"/{plain}/copy")
    assert admin_conn.get_object(plain, "copy")[1] == data
    admin_conn.copy_object(plain, "copy", f"/{ec_container}/back")
    assert admin_conn.get_object(ec_container, "back")[1] == data
    admin_conn.delete_object(ec_container, "big")
    with pytest.raises(ClientException) as ei:
        admin_conn.head_object(ec_container, "big")
    assert ei.value.http_status == 404


def test_expiry_on_erasure_coded_objects(admin_conn, ec_container):
    admin_conn.put_object(ec_container, "soon", os.urandom(200_000), headers={"X-Delete-After": "1"})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            admin_conn.head_object(ec_container, "soon")
        except ClientException as e:
            assert e.http_status == 404
            break
        time.sleep(0.5)
    else:
        pytest.fail("expired object still readable")


def test_s3_on_an_erasure_coded_bucket(cairn, project_conn, unique):
    # The openrc's S3 key acts on the admin project's account.
    admin_conn = project_conn
    ec_container = unique("ec")
    admin_conn.put_container(ec_container, headers={"X-Storage-Policy": EC})
    s3 = s3_helpers.client(cairn)
    data = os.urandom(2 * MIB + 7)
    s3.put_object(Bucket=ec_container, Key="s3obj", Body=data)
    assert admin_conn.get_object(ec_container, "s3obj")[1] == data
    got = s3.get_object(Bucket=ec_container, Key="s3obj", Range="bytes=100-199")
    assert got["Body"].read() == data[100:200]
    # Multipart parts land in the bucket's policy too; completing copies nothing.
    up = s3.create_multipart_upload(Bucket=ec_container, Key="mp")
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    done = []
    for i, p in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=ec_container, Key="mp", UploadId=up["UploadId"], PartNumber=i, Body=p)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=ec_container, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": done}
    )
    assert admin_conn.head_container(f"{ec_container}+segments")["x-storage-policy"] == EC
    assert s3.get_object(Bucket=ec_container, Key="mp")["Body"].read() == b"".join(parts)


def test_account_reports_each_policy(admin_conn, unique):
    def figures():
        h = admin_conn.head_account()
        return {(pol, what): int(h.get(f"x-account-storage-policy-{pol}-{what}", 0))
                for pol in ("replicated", EC) for what in ("container-count", "object-count", "bytes-used")}

    before = figures()
    ec, rep = unique("acct-ec"), unique("acct-rep")
    admin_conn.put_container(ec, headers={"X-Storage-Policy": EC})
    admin_conn.put_container(rep)
    admin_conn.put_object(ec, "a", b"x" * 10)
    admin_conn.put_object(ec, "b", b"y" * 20)
    admin_conn.put_object(rep, "c", b"z" * 5)
    want = {(EC, "container-count"): 1, (EC, "object-count"): 2, (EC, "bytes-used"): 30,
            ("replicated", "container-count"): 1, ("replicated", "object-count"): 1,
            ("replicated", "bytes-used"): 5}
    deadline = time.monotonic() + 30
    while True:
        now = figures()
        delta = {k: now[k] - before[k] for k in want}
        if delta == want:
            break
        assert time.monotonic() < deadline, f"per-policy account figures: {delta}"
        time.sleep(0.2)
    h = admin_conn.head_account()
    total = sum(int(h[f"x-account-storage-policy-{p}-object-count"]) for p in ("replicated", EC))
    assert total == int(h["x-account-object-count"])
