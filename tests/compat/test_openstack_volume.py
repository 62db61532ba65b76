"""The volume service with real clients: the `openstack` CLI (volumes,
snapshots, clones, rename, extend, delete), attachments through the
Cinder API with `requests`, and the NBD exports they open driven by
`qemu-img`, `qemu-io` and `nbdinfo` (byte-exact round trips, holes of a
thin volume, snapshots and clones that keep their bytes, revoked export
names, project isolation), and a kill -9 in the middle of writes.
"""

import json
import os
import random
import shutil
import subprocess
import time

import pytest
import requests

GIB = 1 << 30
MIB = 1 << 20
VOLUME_VERSION = {"OpenStack-API-Version": "volume 3.60"}


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install qemu-utils libnbd-bin)", pytrace=False)
    return path


def run(*argv, check=True, timeout=120):
    proc = subprocess.run(argv, capture_output=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{argv} exited {proc.returncode}: {proc.stderr.decode()}"
    return proc


def login(rc, user=None, password=None, project=None):
    """(token, project id, volume API base URL) of a Keystone v3 password login."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user or rc["OS_USERNAME"], "password": password or rc["OS_PASSWORD"],
            "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": project or rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}},
    }}
    r = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    tok = r.headers["X-Subject-Token"]
    cat = r.json()["token"]
    pid = cat["project"]["id"]
    urls = [e["url"] for s in cat["catalog"] if s["type"] == "volumev3"
            for e in s["endpoints"] if e["interface"] == "public"]
    assert len(urls) == 1, cat["catalog"]
    assert urls[0].endswith(f"/volume/v3/{pid}"), urls
    return tok, pid, urls[0]


class Cinder:
    """A requests client of the volume API as one user."""

    def __init__(self, rc, **who):
        self.token, self.project, self.base = login(rc, **who)

    def call(self, method, path, body=None, expect=None):
        h = {"X-Auth-Token": self.token, **VOLUME_VERSION}
        r = requests.request(method, self.base + path, json=body, headers=h, timeout=60)
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def create(self, size=1, **extra):
        r = self.call("POST", "/volumes", {"volume": {"size": size, **extra}}, expect=202)
        return r.json()["volume"]["id"]

    def attach(self, vol, mode="rw"):
        """(attachment id, nbd URI) of a new attachment of `vol`."""
        r = self.call("POST", "/attachments", {"attachment": {
            "volume_uuid": vol, "instance_uuid": None, "mode": mode,
            "connector": {"host": "test-host", "initiator": "nbd"}}}, expect=200)
        a = r.json()["attachment"]
        info = a["connection_info"]
        assert info["driver_volume_type"] == "nbd", info
        d = info["data"]
        return a["id"], f"nbd://{d['host']}:{d['port']}/{d['export_name']}"

    def detach(self, attachment):
        self.call("DELETE", f"/attachments/{attachment}", expect=200)


@pytest.fixture
def cinder(cairn):
    return Cinder(cairn.openrc)


def random_file(path, size, seed):
    rnd = random.Random(seed)
    data = rnd.randbytes(size)
    path.write_bytes(data)
    return data


def holey_disk(path, size, head_len, tail_len):
    """A raw disk of `size` bytes at `path`: random bytes at both ends
    (`head_len`, `tail_len`) and a hole between; answers (head, tail)."""
    head, tail = os.urandom(head_len), os.urandom(tail_len)
    with open(path, "wb") as f:
        f.write(head)
        f.seek(size - len(tail))
        f.write(tail)
    return head, tail


def read_back(uri, path, size):
    """The first `size` bytes of an export, through qemu-img."""
    run(tool("qemu-img"), "convert", "-f", "raw", "-O", "raw", uri, str(path))
    with open(path, "rb") as f:
        return f.read(size)


def test_discovery_and_types_without_a_token(cairn, cinder):
    root = cinder.base.split("/volume/")[0]
    r = requests.get(root + "/volume/v3/", timeout=10)
    assert r.status_code == 200
    v = r.json()["versions"][0]
    assert v["id"] == "v3.0" and v["version"] == "3.60" and v["status"] == "CURRENT"
    r = requests.get(cinder.base + "/volumes", timeout=10)
    assert r.status_code == 401, r.text
    r = cinder.call("GET", "/types", expect=200)
    assert [t["name"] for t in r.json()["volume_types"]] == ["__DEFAULT__"]
    assert r.headers["OpenStack-API-Version"] == "volume 3.60"
    r = cinder.call("GET", "/volumes/does-not-exist", expect=404)
    assert r.json()["itemNotFound"]["code"] == 404
    q = cinder.call("GET", f"/os-quota-sets/{cinder.project}", expect=200).json()["quota_set"]
    assert q["volumes"] == 10 and q["gigabytes"] == 1000


def test_sizes_beyond_reason_are_refused(cinder):
    for size in (2**64 - 1, 2**63, 0, -1, "many"):
        r = cinder.call("POST", "/volumes", {"volume": {"size": size}})
        assert r.status_code == 400 and "badRequest" in r.json(), (size, r.text)
    vol = cinder.create(size=1)
    r = cinder.call("POST", f"/volumes/{vol}/action", {"os-extend": {"new_size": 2**64 - 1}})
    assert r.status_code == 400, r.text
    assert cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["size"] == 1
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)


def test_oversized_text_and_bodies_are_refused(cinder):
    for bad in ({"name": "n" * 256}, {"description": "d" * 256},
                {"metadata": {"k" * 256: "v"}}, {"metadata": {"k": "v" * 256}},
                {"metadata": {"k": 1}}, {"metadata": {"": "v"}}):
        r = cinder.call("POST", "/volumes", {"volume": {"size": 1, **bad}})
        assert r.status_code == 400 and "badRequest" in r.json(), (bad, r.text)
    r = cinder.call("POST", "/volumes", {"volume": {"size": 1, "name": "x" * (2 << 20)}})
    assert r.status_code == 413 and "overLimit" in r.json(), r.text
    names = [v["name"] for v in cinder.call("GET", "/volumes", expect=200).json()["volumes"]]
    assert not any(n and len(n) > 255 for n in names)
    vol = cinder.create(size=1, name="n" * 255, metadata={"k" * 255: "v" * 255})
    v = cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]
    assert v["metadata"] == {"k" * 255: "v" * 255}
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)


def test_volume_lifecycle_with_the_cli(openstack, unique):
    name = unique("v")
    v = openstack("volume", "create", "--size", "1", name)
    assert v["name"] == name and v["size"] == 1 and v["status"] in ("creating", "available")
    shown = openstack("volume", "show", name)
    assert shown["status"] == "available" and shown["id"] == v["id"]
    assert shown["type"] == "__DEFAULT__"
    listed = openstack("volume", "list")
    assert any(r["ID"] == v["id"] and r["Name"] == name for r in listed), listed

    snap = unique("s")
    s = openstack("volume", "snapshot", "create", "--volume", name, snap)
    assert s["name"] == snap and s["volume_id"] == v["id"]
    assert openstack("volume", "snapshot", "show", snap)["status"] == "available"
    assert any(r["Name"] == snap for r in openstack("volume", "snapshot", "list"))

    clone = unique("c")
    c = openstack("volume", "create", "--snapshot", snap, clone)
    assert c["size"] == 1
    assert openstack("volume", "show", clone)["snapshot_id"] == s["id"]

    renamed = unique("r")
    openstack("volume", "set", "--name", renamed, name, fmt=False)
    assert openstack("volume", "show", renamed)["id"] == v["id"]
    code, _, err = openstack("volume", "show", name, check=False)
    assert code != 0

    openstack("volume", "set", "--size", "2", renamed, fmt=False)
    assert openstack("volume", "show", renamed)["size"] == 2

    # A volume with snapshots is not deleted.
    code, out, err = openstack("volume", "delete", renamed, check=False, fmt=False)
    assert code != 0, out
    openstack("volume", "snapshot", "delete", snap, fmt=False)
    openstack("volume", "delete", renamed, fmt=False)
    openstack("volume", "delete", clone, fmt=False)
    code, _, _ = openstack("volume", "show", renamed, check=False)
    assert code != 0
    names = [r["Name"] for r in openstack("volume", "list")]
    assert renamed not in names and clone not in names


def test_attach_round_trip_holes_and_revocation(cinder, tmp_path):
    vol = cinder.create(size=1, name="nbd-rt")
    att, uri = cinder.attach(vol)
    assert cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["status"] == "in-use"
    data = cinder.call("GET", f"/attachments/{att}", expect=200).json()["attachment"]["connection_info"]["data"]
    assert data["tls"] is False, data
    # Not multiattach: a second attachment, or a legacy reservation, is refused.
    r = cinder.call("POST", "/attachments", {"attachment": {
        "volume_uuid": vol, "connector": {"host": "other-host"}}}, expect=400)
    assert "status must be available or downloading to reserve" in r.json()["badRequest"]["message"], r.text
    cinder.call("POST", f"/volumes/{vol}/action", {"os-reserve": {}}, expect=400)
    assert len(cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["attachments"]) == 1
    # Four random MiB at the start and one at 512 MiB, zeros between.
    src = tmp_path / "src.raw"
    data = random_file(src, 4 * MIB, seed=1)
    with open(src, "r+b") as f:
        f.truncate(GIB)
        f.seek(512 * MIB)
        tail = random.Random(2).randbytes(MIB)
        f.write(tail)
    run(tool("qemu-img"), "convert", "-n", "-f", "raw", "-O", "raw", str(src), uri)
    back = tmp_path / "back.raw"
    got = read_back(uri, back, GIB)
    assert got[: 4 * MIB] == data
    assert got[512 * MIB: 513 * MIB] == tail
    assert got[4 * MIB: 512 * MIB].count(0) == 508 * MIB
    # The map shows holes where nothing was written.
    m = run(tool("nbdinfo"), "--map", "--json", uri).stdout
    extents = json.loads(m)
    data_bytes = sum(e["length"] for e in extents if not (e["type"] & 1))
    hole_bytes = sum(e["length"] for e in extents if e["type"] & 1)
    assert data_bytes == 5 * MIB, extents
    assert hole_bytes == GIB - 5 * MIB, extents
    # Zeroing without leave to unmap (NBD_CMD_FLAG_NO_HOLE) stays allocated.
    run(tool("qemu-io"), "-f", "raw", "-c", "write -z 600M 1M", "-c", "read -P 0 600M 1M", uri)
    extents = json.loads(run(tool("nbdinfo"), "--map", "--json", uri).stdout)
    zeroed = [e for e in extents if e["offset"] <= 600 * MIB < e["offset"] + e["length"]]
    assert zeroed and not (zeroed[0]["type"] & 1), extents
    assert sum(e["length"] for e in extents if not (e["type"] & 1)) == 6 * MIB, extents
    # The export name is not listed, and it is refused after detach.
    listing = run(tool("nbdinfo"), "--list", uri.rsplit("/", 1)[0] + "/", check=False)
    assert uri.rsplit("/", 1)[1] not in listing.stdout.decode()
    # A connection open at detach is cut off too.
    live = subprocess.Popen([tool("qemu-io"), "-f", "raw", uri], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    live.stdin.write(b"read 0 512\n")
    live.stdin.flush()
    first = live.stdout.readline()
    assert b"512/512 bytes at offset 0" in first, first
    cinder.detach(att)
    out, _ = live.communicate(b"read 0 512\nquit\n", timeout=60)
    assert b"read failed" in out, out
    r = run(tool("nbdinfo"), uri, check=False)
    assert r.returncode != 0, r.stdout
    assert cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["status"] == "available"
    # Its bytes survive: attach again and compare.
    att2, uri2 = cinder.attach(vol, mode="ro")
    assert read_back(uri2, back, 4 * MIB) == data
    r = run(tool("qemu-io"), "-f", "raw", "-c", "write -P 0x11 0 4096", uri2, check=False)
    assert r.returncode != 0 or b"failed" in r.stdout + r.stderr, r.stdout
    cinder.detach(att2)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)
    cinder.call("GET", f"/volumes/{vol}", expect=404)


def write_pattern(uri, byte, length=MIB):
    run(tool("qemu-io"), "-f", "raw", "-c", f"write -P {byte:#x} 0 {length}", "-c", "flush", uri)


def test_snapshot_and_clones_keep_their_bytes(cinder, tmp_path):
    vol = cinder.create(size=1, name="src")
    att, uri = cinder.attach(vol)
    write_pattern(uri, 0xA1)
    r = cinder.call("POST", "/snapshots", {"snapshot": {"volume_id": vol, "name": "snap", "force": True}}, expect=202)
    snap = r.json()["snapshot"]["id"]
    from_volume = cinder.create(size=1, source_volid=vol)
    write_pattern(uri, 0xB2)
    from_snap = cinder.create(snapshot_id=snap)
    assert cinder.call("GET", f"/volumes/{from_snap}", expect=200).json()["volume"]["size"] == 1
    back = tmp_path / "b.raw"
    assert read_back(uri, back, MIB) == bytes([0xB2]) * MIB
    for clone in (from_snap, from_volume):
        a, u = cinder.attach(clone)
        assert read_back(u, back, MIB) == bytes([0xA1]) * MIB, clone
        write_pattern(u, 0xC3)
        assert read_back(u, back, MIB) == bytes([0xC3]) * MIB
        cinder.detach(a)
    assert read_back(uri, back, MIB) == bytes([0xB2]) * MIB
    cinder.detach(att)
    cinder.call("DELETE", f"/volumes/{vol}", expect=400)  # it has a snapshot
    cinder.call("DELETE", f"/snapshots/{snap}", expect=202)
    for v in (vol, from_volume, from_snap):
        cinder.call("DELETE", f"/volumes/{v}", expect=202)


def test_other_projects_and_readers(cairn, cinder, openstack, unique):
    vol = cinder.create(size=1, name="private")
    project, user, reader = unique("p"), unique("u"), unique("rd")
    openstack("project", "create", project)
    openstack("user", "create", "--project", project, "--password", "pw-1", user)
    openstack("role", "add", "--project", project, "--user", user, "member", fmt=False)
    openstack("user", "create", "--project", cinder_project_name(cairn), "--password", "pw-2", reader)
    openstack("role", "add", "--project", cinder_project_name(cairn), "--user", reader, "reader", fmt=False)

    other = Cinder(cairn.openrc, user=user, password="pw-1", project=project)
    assert other.project != cinder.project
    other.call("GET", f"/volumes/{vol}", expect=404)
    assert other.call("GET", "/volumes/detail", expect=200).json()["volumes"] == []
    r = other.call("POST", "/attachments", {"attachment": {"volume_uuid": vol, "connector": {"host": "x"}}})
    assert r.status_code == 404, r.text
    # Another project's URL is refused outright.
    h = {"X-Auth-Token": other.token, **VOLUME_VERSION}
    r = requests.get(cinder.base + "/volumes", headers=h, timeout=10)
    assert r.status_code == 403, r.text

    ro = Cinder(cairn.openrc, user=reader, password="pw-2", project=cinder_project_name(cairn))
    assert ro.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["name"] == "private"
    ro.call("POST", "/volumes", {"volume": {"size": 1}}, expect=403)
    ro.call("DELETE", f"/volumes/{vol}", expect=403)
    ro.call("POST", "/attachments", {"attachment": {"volume_uuid": vol, "connector": {"host": "x"}}}, expect=403)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)


def cinder_project_name(cairn):
    return cairn.openrc["OS_PROJECT_NAME"]


def packed_volume(cairn_factory, tmp_path, name, size, seed):
    """A server of its own with one attached volume whose first `size`
    random bytes were written and packed into segment objects: (server,
    client, volume, attachment, nbd URI, the bytes)."""
    server = cairn_factory()
    server.start()
    c = Cinder(server.openrc)
    segs = blockd_segments(server)
    vol = c.create(size=1, name=name)
    att, uri = c.attach(vol)
    path = tmp_path / f"{name}.raw"
    data = random_file(path, size, seed=seed)
    run(tool("qemu-img"), "convert", "-n", "-f", "raw", "-O", "raw", str(path), uri)
    deadline = time.monotonic() + 30
    while segment_bytes(segs) < size:
        assert time.monotonic() < deadline, "journal never packed into segments"
        time.sleep(0.2)
    return server, c, vol, att, uri, data


def test_flushed_writes_survive_kill_9(cairn_factory, tmp_path):
    # Twelve MiB that get packed into segment objects...
    server, c, vol, att, uri, big_data = packed_volume(cairn_factory, tmp_path, "durable", 12 * MIB, 7)
    # ...and four more, packed too, so that the journal file written next
    # is a recycled one still holding older records...
    more = tmp_path / "more.raw"
    more_data = random_file(more, 4 * MIB, seed=9)
    run(tool("qemu-io"), "-f", "raw", "-c", f"write -s {more} {24 * MIB} {4 * MIB}", "-c", "flush", uri)
    segs = blockd_segments(server)
    deadline = time.monotonic() + 30
    while segment_bytes(segs) < 16 * MIB:
        assert time.monotonic() < deadline, "journal never packed into segments"
        time.sleep(0.2)
    # ...then a flushed write that is only in the journal when the process dies.
    small = tmp_path / "small.raw"
    small_data = random_file(small, 64 * 1024, seed=8)
    run(tool("qemu-io"), "-f", "raw", "-c", f"write -s {small} {20 * MIB} 64k", "-c", "flush", uri)
    server.proc.kill()
    server.proc.wait()
    server.proc = None
    server.start()
    assert "journal replayed" in server.log_text()
    # The replay stopped at the recycled file's older records.
    assert "does not verify" in server.log_text()
    c = Cinder(server.openrc)
    r = c.call("GET", f"/attachments/{att}", expect=200).json()["attachment"]
    d = r["connection_info"]["data"]
    uri = f"nbd://{d['host']}:{d['port']}/{d['export_name']}"
    back = tmp_path / "back.raw"
    got = read_back(uri, back, 28 * MIB)
    assert got[: 12 * MIB] == big_data
    assert got[20 * MIB: 20 * MIB + 64 * 1024] == small_data
    assert got[12 * MIB: 20 * MIB].count(0) == 8 * MIB
    assert got[24 * MIB:] == more_data
    # Deleting the volume lets the cleaner delete its segments.
    segs = blockd_segments(server)
    assert segment_bytes(segs) >= 12 * MIB
    c.detach(att)
    c.call("DELETE", f"/volumes/{vol}", expect=202)
    deadline = time.monotonic() + 60
    while segs.get_container("blockd-segments")[1]:
        assert time.monotonic() < deadline, "unreferenced segments were never deleted"
        time.sleep(0.5)


def test_volume_survives_losing_an_object_device(cairn_factory, tmp_path):
    server, c, vol, att, uri, data = packed_volume(cairn_factory, tmp_path, "replicated", 8 * MIB, 11)
    server.stop()
    # One whole device of the object store is lost (the read cache goes
    # with the restart): every segment must still read from the others.
    def big_files(device):
        return sum(f.stat().st_size for f in device.rglob("*") if f.is_file() and f.stat().st_size >= MIB)

    devices = sorted(p for p in (server.data_dir / "devices").iterdir() if p.is_dir())
    assert len(devices) >= 3, devices
    lost = max(devices, key=big_files)
    assert big_files(lost) >= 4 * MIB, "no device holds a segment"
    shutil.rmtree(lost)
    lost.mkdir()
    server.start()
    c = Cinder(server.openrc)
    r = c.call("GET", f"/attachments/{att}", expect=200).json()["attachment"]
    d = r["connection_info"]["data"]
    uri = f"nbd://{d['host']}:{d['port']}/{d['export_name']}"
    assert read_back(uri, tmp_path / "back.raw", 8 * MIB) == data
    c.detach(att)
    c.call("DELETE", f"/volumes/{vol}", expect=202)


def segment_bytes(conn):
    """Bytes in blockd's segment container (0 before it exists)."""
    try:
        return sum(o["bytes"] for o in conn.get_container("blockd-segments")[1])
    except Exception as e:  # the container is made with the first segment
        if getattr(e, "http_status", None) == 404:
            return 0
        raise


def blockd_segments(server):
    """A swiftclient connection of the volume service's own account."""
    text = (server.data_dir / "credentials.toml").read_text()
    key = next(line.split("=", 1)[1].strip().strip('"') for line in text.splitlines()
               if line.startswith("blockd_key"))
    return server.connection("blockd:volumes", key)


def test_action_attach_flow(cinder, openstack, tmp_path):
    vol = cinder.create(size=1, name="legacy-flow")
    path = f"/volumes/{vol}/action"
    # A reservation is held: a second one, or another host's connection, is refused.
    cinder.call("POST", path, {"os-reserve": {}}, expect=202)
    cinder.call("POST", path, {"os-reserve": {}}, expect=400)
    cinder.call("POST", path, {"os-unreserve": {}}, expect=202)
    cinder.call("POST", path, {"os-reserve": {}}, expect=202)
    r = cinder.call("POST", path, {"os-initialize_connection": {"connector": {"host": "h1"}}}, expect=200)
    info = r.json()["connection_info"]
    r = cinder.call("POST", path, {"os-initialize_connection": {"connector": {"host": "h2"}}}, expect=400)
    assert "status must be available or downloading to reserve" in r.json()["badRequest"]["message"], r.text
    mine = [a for a in cinder.call("GET", "/attachments", expect=200).json()["attachments"]
            if a["volume_id"] == vol]
    assert len(mine) == 1 and mine[0]["status"] == "attaching", mine
    # The same host connecting again gets a new export; the old one is revoked.
    old = info["data"]
    r = cinder.call("POST", path, {"os-initialize_connection": {"connector": {"host": "h1"}}}, expect=200)
    info = r.json()["connection_info"]
    assert info["data"]["export_name"] != old["export_name"]
    assert run(tool("nbdinfo"), f"nbd://{old['host']}:{old['port']}/{old['export_name']}",
               check=False).returncode != 0
    assert info["driver_volume_type"] == "nbd"
    d = info["data"]
    uri = f"nbd://{d['host']}:{d['port']}/{d['export_name']}"
    write_pattern(uri, 0x5C)
    server = "6d3a0f4e-7c39-4a63-9a4e-3f1b2c8d9e01"
    cinder.call("POST", path, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}, expect=202)
    v = cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]
    assert v["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in v["attachments"]] == [(server, "/dev/vdb")]
    # Attached: the same server attaching again changes its attachment;
    # another server is refused.
    cinder.call("POST", path, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdc"}}, expect=202)
    other = "0b6f1c0e-2f4a-4d5e-8a7b-9c0d1e2f3a4b"
    r = cinder.call("POST", path, {"os-attach": {"instance_uuid": other, "mountpoint": "/dev/vdb"}}, expect=400)
    assert "status must be available or downloading to reserve" in r.json()["badRequest"]["message"], r.text
    v = cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]
    assert [(a["server_id"], a["device"]) for a in v["attachments"]] == [(server, "/dev/vdc")]
    rows = openstack("volume", "list")
    assert any(r["ID"] == vol and r["Status"] == "in-use" for r in rows), rows
    # In use: not deleted.
    cinder.call("DELETE", f"/volumes/{vol}", expect=400)
    assert read_back(uri, tmp_path / "b.raw", MIB) == bytes([0x5C]) * MIB
    cinder.call("POST", path, {"os-terminate_connection": {"connector": {"host": "h1"}}}, expect=202)
    assert run(tool("nbdinfo"), uri, check=False).returncode != 0
    cinder.call("POST", path, {"os-detach": {"attachment_id": v["attachments"][0]["attachment_id"]}}, expect=202)
    v = cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]
    assert v["status"] == "available" and v["attachments"] == []
    r = cinder.call("POST", path, {"os-extend": {"new_size": 1}}, expect=400)
    assert "badRequest" in r.json()
    cinder.call("POST", path, {"os-frobnicate": {}}, expect=400)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)
