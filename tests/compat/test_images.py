"""The image service (Glance v2) through real clients: the `openstack
image` commands and python-glanceclient against `cairn up`, and raw HTTP
for what clients do not send (interrupted uploads, hostile qcow2 files).
Bytes are checked on the way back; images stay inside their project."""

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from glanceclient import Client as GlanceClient
from glanceclient.exc import HTTPException
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


def image_url(openstack):
    catalog = openstack("catalog", "show", "image")
    for ep in catalog["endpoints"]:
        if ep.get("interface") == "public":
            return ep["url"]
    raise AssertionError(f"no public image endpoint: {catalog}")


def token_for(cairn, user=None, password=None, project=None):
    rc = cairn.openrc
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user or rc["OS_USERNAME"], "domain": {"name": "Default"},
            "password": password or rc["OS_PASSWORD"]}}},
        "scope": {"project": {"name": project or rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
    r = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def glance(cairn, openstack):
    rc = cairn.openrc
    auth = v3.Password(auth_url=rc["OS_AUTH_URL"], username=rc["OS_USERNAME"], password=rc["OS_PASSWORD"],
                       project_name=rc["OS_PROJECT_NAME"], user_domain_name="Default",
                       project_domain_name="Default")
    return GlanceClient("2", session=ks_session.Session(auth=auth))


def qemu_img(*args):
    exe = shutil.which("qemu-img")
    assert exe, "qemu-img is missing (scripts/install-deps.sh installs qemu-utils)"
    subprocess.run([exe, *args], check=True, capture_output=True)


def test_openstack_image_lifecycle(openstack, tmp_path, unique):
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "disk.raw").write_bytes(data)
    name = unique("img")
    made = openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                     "--file", str(tmp_path / "disk.raw"), "--property", "os_distro=cirros", name)
    assert made["status"] == "active"
    assert made["size"] == len(data)
    assert made["checksum"] == hashlib.md5(data).hexdigest()
    assert made["properties"]["os_hash_algo"] == "sha512"
    assert made["properties"]["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert made["virtual_size"] == len(data)
    assert name in [i["Name"] for i in openstack("image", "list")]
    shown = openstack("image", "show", name)
    assert shown["id"] == made["id"] and shown["properties"]["os_distro"] == "cirros"
    openstack("image", "save", "--file", str(tmp_path / "out.raw"), name, fmt=False)
    assert (tmp_path / "out.raw").read_bytes() == data
    openstack("image", "set", "--property", "hw_disk_bus=virtio", "--min-ram", "64", name, fmt=False)
    shown = openstack("image", "show", name)
    assert shown["properties"]["hw_disk_bus"] == "virtio" and shown["min_ram"] == 64
    openstack("image", "delete", name, fmt=False)
    assert name not in [i["Name"] for i in openstack("image", "list")]


def test_glanceclient_and_ranges(cairn, openstack, tmp_path, unique):
    gc = glance(cairn, openstack)
    data = os.urandom(1_000_000)
    img = gc.images.create(name=unique("gc"), disk_format="raw", container_format="bare", tags=["a"])
    assert img.status == "queued"
    gc.images.upload(img.id, io.BytesIO(data), image_size=len(data))
    got = gc.images.get(img.id)
    assert got.status == "active" and got.size == len(data) and got.checksum == hashlib.md5(data).hexdigest()
    assert b"".join(gc.images.data(img.id)) == data
    gc.image_tags.update(img.id, "b")
    assert sorted(gc.images.get(img.id).tags) == ["a", "b"]
    gc.images.update(img.id, name="renamed", protected=True)
    assert gc.images.get(img.id).name == "renamed"
    with pytest.raises(HTTPException) as e:
        gc.images.delete(img.id)
    assert e.value.code == 403
    gc.images.update(img.id, protected=False)
    # Ranged download, as a resumed transfer asks for it.
    url = image_url(openstack).rstrip("/") + f"/v2/images/{img.id}/file"
    token = token_for(cairn)
    r = requests.get(url, headers={"X-Auth-Token": token, "Range": "bytes=1000-1999"}, timeout=30)
    assert r.status_code == 206 and r.content == data[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    # Deactivated images cannot be downloaded by their (non-admin) users; admins reactivate.
    gc.images.deactivate(img.id)
    assert gc.images.get(img.id).status == "deactivated"
    gc.images.reactivate(img.id)
    assert gc.images.get(img.id).status == "active"
    gc.images.delete(img.id)
    with pytest.raises(HTTPException) as e:
        gc.images.get(img.id)
    assert e.value.code == 404


def test_hostile_and_mislabelled_images_are_refused(cairn, openstack, tmp_path, unique):
    token = token_for(cairn)
    base = image_url(openstack).rstrip("/") + "/v2/images"
    h = {"X-Auth-Token": token}
    qemu_img("create", "-f", "raw", str(tmp_path / "base.raw"), "1M")
    qemu_img("create", "-f", "qcow2", "-b", str(tmp_path / "base.raw"), "-F", "raw", str(tmp_path / "backed.qcow2"))
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'data.raw'}", str(tmp_path / "datafile.qcow2"), "1M")
    qemu_img("create", "-f", "qcow2", str(tmp_path / "good.qcow2"), "64M")
    bad_header = bytearray((tmp_path / "good.qcow2").read_bytes())
    bad_header[4:8] = (99).to_bytes(4, "big")
    (tmp_path / "bad.qcow2").write_bytes(bytes(bad_header))
    cases = [("backed.qcow2", "qcow2"), ("datafile.qcow2", "qcow2"), ("bad.qcow2", "qcow2"),
             ("good.qcow2", "raw"), ("base.raw", "qcow2")]
    for filename, fmt in cases:
        img = requests.post(base, headers=h, timeout=30, json={
            "name": unique("bad"), "disk_format": fmt, "container_format": "bare"}).json()
        r = requests.put(f"{base}/{img['id']}/file", data=(tmp_path / filename).read_bytes(),
                         headers={**h, "Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 400, (filename, fmt, r.status_code, r.text)
        shown = requests.get(f"{base}/{img['id']}", headers=h, timeout=30).json()
        assert shown["status"] == "queued" and shown["size"] is None, (filename, shown)
    # Names, tags and properties beyond Glance's limits are refused, and nothing is made.
    for body in ({"name": "n" * 256}, {"name": unique("t"), "tags": ["t" * 256]},
                 {"name": unique("p"), "k" * 256: "v"}):
        r = requests.post(base, headers=h, timeout=30, json={**body, "disk_format": "raw",
                                                             "container_format": "bare"})
        assert r.status_code == 400, (list(body), r.status_code)
    r = requests.post(base, headers=h, timeout=30,
                      json={"name": unique("many"), "tags": [f"t{i}" for i in range(129)]})
    assert r.status_code == 413
    img = requests.post(base, headers=h, timeout=30, json={"name": unique("ok")}).json()
    r = requests.put(f"{base}/{img['id']}/tags/{'x' * 256}", headers=h, timeout=30)
    assert r.status_code == 400
    assert requests.get(f"{base}/{img['id']}", headers=h, timeout=30).json()["tags"] == []
    # A clean qcow2 is accepted and reports its virtual size.
    img = requests.post(base, headers=h, timeout=30, json={
        "name": unique("ok"), "disk_format": "qcow2", "container_format": "bare"}).json()
    r = requests.put(f"{base}/{img['id']}/file", data=(tmp_path / "good.qcow2").read_bytes(),
                     headers={**h, "Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status_code == 204, r.text
    shown = requests.get(f"{base}/{img['id']}", headers=h, timeout=30).json()
    assert shown["status"] == "active" and shown["virtual_size"] == 64 * 1024 * 1024


def test_interrupted_upload_never_becomes_active(cairn, openstack, unique):
    token = token_for(cairn)
    url = urlparse(image_url(openstack))
    base = image_url(openstack).rstrip("/") + "/v2/images"
    img = requests.post(base, headers={"X-Auth-Token": token}, timeout=30, json={
        "name": unique("cut"), "disk_format": "raw", "container_format": "bare"}).json()
    path = f"{url.path.rstrip('/')}/v2/images/{img['id']}/file"
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall((f"PUT {path} HTTP/1.1\r\nHost: {url.netloc}\r\nX-Auth-Token: {token}\r\n"
                   "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n").encode())
        s.sendall(os.urandom(3_000_000))
        time.sleep(0.5)
    deadline = time.time() + 20
    while True:
        shown = requests.get(f"{base}/{img['id']}", headers={"X-Auth-Token": token}, timeout=30).json()
        if shown["status"] != "saving" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert shown["status"] in ("queued", "killed") and shown["size"] is None, shown


def test_private_images_stay_in_their_project(cairn, openstack, tmp_path, unique):
    other = unique("proj")
    openstack("project", "create", other)
    password = "pw-" + unique("x")
    user = unique("user")
    openstack("user", "create", "--project", other, "--password", password, user)
    openstack("role", "add", "--project", other, "--user", user, "member", fmt=False)
    theirs = token_for(cairn, user=user, password=password, project=other)
    mine = token_for(cairn)
    base = image_url(openstack).rstrip("/") + "/v2/images"
    img = requests.post(base, headers={"X-Auth-Token": mine}, timeout=30, json={
        "name": unique("priv"), "disk_format": "raw", "container_format": "bare",
        "visibility": "private"}).json()
    assert requests.put(f"{base}/{img['id']}/file", data=b"secret bytes" * 100,
                        headers={"X-Auth-Token": mine, "Content-Type": "application/octet-stream"},
                        timeout=30).status_code == 204
    assert requests.get(f"{base}/{img['id']}", headers={"X-Auth-Token": theirs}, timeout=30).status_code == 404
    assert requests.get(f"{base}/{img['id']}/file", headers={"X-Auth-Token": theirs}, timeout=30).status_code == 404
    listed = requests.get(base, headers={"X-Auth-Token": theirs}, timeout=30).json()["images"]
    assert img["id"] not in [i["id"] for i in listed]
    assert requests.get(base, timeout=30).status_code == 401
    # Shared with the other project (openstack image add project), it becomes visible.
    requests.patch(f"{base}/{img['id']}", headers={
        "X-Auth-Token": mine, "Content-Type": "application/openstack-images-v2.1-json-patch"},
        data=json.dumps([{"op": "replace", "path": "/visibility", "value": "shared"}]), timeout=30)
    other_id = openstack("project", "show", other)["id"]
    openstack("image", "add", "project", img["id"], other)
    r = requests.get(f"{base}/{img['id']}/file", headers={"X-Auth-Token": theirs}, timeout=30)
    assert r.status_code == 200 and r.content == b"secret bytes" * 100
    members = requests.get(f"{base}/{img['id']}/members", headers={"X-Auth-Token": mine}, timeout=30).json()
    assert [m["member_id"] for m in members["members"]] == [other_id]
    # The other project may read it but not delete it.
    assert requests.delete(f"{base}/{img['id']}", headers={"X-Auth-Token": theirs}, timeout=30).status_code == 403


def test_large_upload_streams(cairn_factory, tmp_path):
    """A 1 GiB upload passes through without the service holding it."""
    server = cairn_factory()
    server.start(timeout=60.0)
    rc = server.openrc
    token = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": rc["OS_USERNAME"], "domain": {"name": "Default"}, "password": rc["OS_PASSWORD"]}}},
        "scope": {"project": {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
    ).headers["X-Subject-Token"]
    catalog = requests.get(rc["OS_AUTH_URL"].rstrip("/") + "/auth/catalog",
                           headers={"X-Auth-Token": token}, timeout=30).json()["catalog"]
    image = next(s for s in catalog if s["type"] == "image")
    base = next(e["url"] for e in image["endpoints"] if e["interface"] == "public").rstrip("/") + "/v2/images"
    h = {"X-Auth-Token": token}
    img = requests.post(base, headers=h, timeout=30, json={
        "name": "big", "disk_format": "raw", "container_format": "bare"}).json()
    size = 1 << 30
    chunk = os.urandom(1 << 20)
    md5 = hashlib.md5()

    def body():
        for _ in range(size // len(chunk)):
            md5.update(chunk)
            yield chunk

    pid = server.proc.pid

    def rss_kib():
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    before = rss_kib()
    r = requests.put(f"{base}/{img['id']}/file", data=body(), timeout=600,
                     headers={**h, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    with open(f"/proc/{pid}/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    shown = requests.get(f"{base}/{img['id']}", headers=h, timeout=30).json()
    assert shown["size"] == size and shown["checksum"] == md5.hexdigest()
    # The whole appliance (object store caches included) grew far less than the image.
    assert peak - before < 512 * 1024, f"RSS grew from {before} KiB to a peak of {peak} KiB"
    got = hashlib.md5()
    with requests.get(f"{base}/{img['id']}/file", headers=h, stream=True, timeout=600) as r:
        assert r.status_code == 200
        for part in r.iter_content(1 << 20):
            got.update(part)
    assert got.hexdigest() == md5.hexdigest()


def test_bench_image_smoke(cairn):
    exe = Path(cairn.binary).with_name("cairn-bench")
    assert exe.exists(), f"{exe} is missing: build it with `cargo build --workspace --bins`"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "AWS_", "OS_"))}
    env.update(cairn.openrc)
    proc = subprocess.run([str(exe), "image", "--size", "8MiB"], env=env, capture_output=True, timeout=300)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["image.upload_8m_mib_per_s"] > 0 and figures["image.download_8m_mib_per_s"] > 0, figures
    assert figures["image.volume_from_8m_ms"] > 0, figures
