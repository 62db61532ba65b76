"""Volumes made from images, with the real `openstack` CLI: a raw
image's volume is a clone that shares the image's objects (nothing is
copied, the image cannot be deleted while it is shared, writes to the
volume never reach the image), qcow2 and vmdk images are converted to raw, and
each volume reads back over NBD exactly the image's disk. A project
cannot make a volume from an image it cannot see."""

import os
import time

import pytest
import requests

from test_images import image_url, token_for
from test_openstack_volume import (MIB, Cinder, blockd_segments, holey_disk, read_back, run, segment_bytes,
                                   tool)


def wait_status(cinder, vol, want, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        v = cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]
        if v["status"] == want:
            return v
        assert v["status"] in ("creating", "downloading"), v
        assert time.monotonic() < deadline, f"volume {vol} stayed {v['status']}"
        time.sleep(0.2)


@pytest.fixture
def cinder(cairn):
    return Cinder(cairn.openrc)


def test_raw_image_volume_is_a_clone_sharing_the_image(cairn, cinder, openstack, tmp_path, unique):
    data = os.urandom(5 * MIB + 123)
    (tmp_path / "disk.raw").write_bytes(data)
    name = unique("raw")
    image = openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                      "--file", str(tmp_path / "disk.raw"), name)
    segs = blockd_segments(cairn)
    before = segment_bytes(segs)

    made = openstack("volume", "create", "--image", name, "--size", "1", unique("vol"))
    vol = made["id"]
    v = wait_status(cinder, vol, "available", timeout=30)
    assert v["bootable"] == "true"
    assert v["volume_image_metadata"]["image_id"] == image["id"]
    assert v["volume_image_metadata"]["disk_format"] == "raw"
    # A clone: the volume service stored no bytes of its own (volumes of
    # earlier tests may still be losing theirs to the cleaner).
    assert segment_bytes(segs) <= before

    att, uri = cinder.attach(vol)
    got = read_back(uri, tmp_path / "back.raw", len(data) + MIB)
    assert got[:len(data)] == data
    assert got[len(data):] == bytes(MIB)

    # Shared: the image cannot go while the volume uses its bytes.
    code, _, err = openstack("image", "delete", image["id"], check=False, fmt=False)
    assert code != 0, "an image shared by a volume was deleted"
    token = token_for(cairn)
    base = image_url(openstack).rstrip("/") + "/v2/images"
    r = requests.delete(f"{base}/{image['id']}", headers={"X-Auth-Token": token}, timeout=30)
    assert r.status_code == 409, r.text
    assert openstack("image", "show", image["id"])["status"] == "active"

    # Writes to the volume stay in the volume.
    run(tool("qemu-io"), "-f", "raw", "-c", "write -P 0x77 4096 65536", uri)
    openstack("image", "save", "--file", str(tmp_path / "img.raw"), image["id"], fmt=False)
    assert (tmp_path / "img.raw").read_bytes() == data
    got = read_back(uri, tmp_path / "back2.raw", len(data))
    assert got == data[:4096] + b"\x77" * 65536 + data[4096 + 65536:]
    cinder.detach(att)

    # A volume cloned from the clone keeps the image in use after the
    # first one goes.
    second = cinder.create(size=1, source_volid=vol)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)
    time.sleep(8)  # two cleaner passes
    r = requests.delete(f"{base}/{image['id']}", headers={"X-Auth-Token": token}, timeout=30)
    assert r.status_code == 409, r.text
    att, uri = cinder.attach(second)
    got = read_back(uri, tmp_path / "back3.raw", len(data))
    assert got == data[:4096] + b"\x77" * 65536 + data[4096 + 65536:]
    cinder.detach(att)
    cinder.call("DELETE", f"/volumes/{second}", expect=202)

    # Once no volume shares it, the image can be deleted.
    deadline = time.monotonic() + 60
    while True:
        r = requests.delete(f"{base}/{image['id']}", headers={"X-Auth-Token": token}, timeout=30)
        if r.status_code == 204:
            break
        assert r.status_code == 409, r.text
        assert time.monotonic() < deadline, "the image stayed in use after its volumes went"
        time.sleep(1)
    assert requests.get(f"{base}/{image['id']}", headers={"X-Auth-Token": token},
                        timeout=30).status_code == 404


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk"])
def test_other_formats_are_converted_to_raw(cinder, openstack, tmp_path, unique, fmt):
    # A disk with data at both ends and a hole between.
    disk = tmp_path / "disk.raw"
    size = 64 * MIB
    head, _ = holey_disk(disk, size, 3 * MIB + 5, MIB)
    converted = tmp_path / f"disk.{fmt}"
    run(tool("qemu-img"), "convert", "-f", "raw", "-O", fmt, str(disk), str(converted))
    name = unique(fmt)
    image = openstack("image", "create", "--disk-format", fmt, "--container-format", "bare",
                      "--file", str(converted), name)
    if fmt == "qcow2":
        assert image["virtual_size"] == size

    vol = openstack("volume", "create", "--image", name, "--size", "1", unique("vol"))["id"]
    v = wait_status(cinder, vol, "available")
    assert v["volume_image_metadata"]["disk_format"] == fmt
    att, uri = cinder.attach(vol)
    got = read_back(uri, tmp_path / "back.raw", size + MIB)
    assert got == disk.read_bytes() + bytes(MIB)
    # The hole stayed a hole.
    out = run(tool("nbdinfo"), "--map", uri).stdout.decode()
    holes = [line for line in out.splitlines() if "hole" in line]
    assert any(int(line.split()[0]) <= len(head) + 65536 for line in holes), out
    cinder.detach(att)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)
    # A converted volume shares nothing: the image goes at once.
    openstack("image", "delete", image["id"], fmt=False)


def test_images_out_of_reach_are_refused(cairn, cinder, openstack, tmp_path, unique):
    project, user = unique("p"), unique("u")
    openstack("project", "create", project)
    openstack("user", "create", "--project", project, "--password", "pw-9", user)
    openstack("role", "add", "--project", project, "--user", user, "member", fmt=False)
    other = Cinder(cairn.openrc, user=user, password="pw-9", project=project)
    (tmp_path / "d.raw").write_bytes(os.urandom(MIB))
    private = openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                        "--private", "--file", str(tmp_path / "d.raw"), unique("priv"))
    r = other.call("POST", "/volumes", {"volume": {"size": 1, "imageRef": private["id"]}})
    assert r.status_code == 400, r.text
    assert "unable to access" in r.text
    assert other.call("GET", "/volumes/detail", expect=200).json()["volumes"] == []
    for bad in ("", "/", "a b", "../v2/images", "x" * 4000):
        r = cinder.call("POST", "/volumes", {"volume": {"size": 1, "imageRef": bad}})
        assert r.status_code == 400 and "Invalid image identifier" in r.text, (bad, r.text)

    # Queued (no data yet): not a source.
    base = image_url(openstack).rstrip("/") + "/v2/images"
    queued = requests.post(base, headers={"X-Auth-Token": cinder.token}, timeout=30, json={
        "name": unique("queued"), "disk_format": "raw", "container_format": "bare"}).json()
    assert queued["status"] == "queued"
    r = cinder.call("POST", "/volumes", {"volume": {"size": 1, "imageRef": queued["id"]}})
    assert r.status_code == 400 and "not active" in r.text, r.text
    # Too small for the image's minimum disk.
    openstack("image", "set", "--min-disk", "2", private["id"], fmt=False)
    r = cinder.call("POST", "/volumes", {"volume": {"size": 1, "imageRef": private["id"]}})
    assert r.status_code == 400 and "minDisk" in r.text, r.text
    # Without a size, the volume takes the image's.
    r = cinder.call("POST", "/volumes", {"volume": {"imageRef": private["id"]}}, expect=202)
    assert r.json()["volume"]["size"] == 2
    vol = r.json()["volume"]["id"]
    wait_status(cinder, vol, "available", timeout=30)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)


def test_a_volume_being_converted_cannot_be_attached_or_deleted(cinder, openstack, tmp_path, unique):
    disk = tmp_path / "big.raw"
    disk.write_bytes(os.urandom(192 * MIB))
    run(tool("qemu-img"), "convert", "-f", "raw", "-O", "qcow2", str(disk), str(tmp_path / "big.qcow2"))
    image = openstack("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                      "--file", str(tmp_path / "big.qcow2"), unique("big"))
    vol = cinder.create(size=1, imageRef=image["id"])
    assert cinder.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["status"] == "downloading"
    r = cinder.call("POST", "/attachments", {"attachment": {
        "volume_uuid": vol, "mode": "rw", "connector": {"host": "early"}}})
    assert r.status_code == 400 and "downloading" in r.text, r.text
    r = cinder.call("POST", f"/volumes/{vol}/action", {"os-initialize_connection": {"connector": {"host": "h"}}})
    assert r.status_code == 400, r.text
    assert cinder.call("DELETE", f"/volumes/{vol}").status_code == 400
    v = wait_status(cinder, vol, "available")
    assert v["attachments"] == []
    att, uri = cinder.attach(vol)
    assert read_back(uri, tmp_path / "back.raw", 192 * MIB) == disk.read_bytes()
    cinder.detach(att)
    cinder.call("DELETE", f"/volumes/{vol}", expect=202)
    openstack("image", "delete", image["id"], fmt=False)
