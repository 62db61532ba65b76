"""An appliance whose NBD server requires TLS: an attached volume is
reached with libnbd's `nbds://` URIs, plaintext is refused, and a qcow2
image still converts into a volume (blockd converts through a private
loopback server of its own).
"""

import time

import requests

from compat_helpers import CONFIG, CairnServer, stop_and_check
from test_openstack_volume import MIB, Cinder, holey_disk, run, tool


def openssl(*args):
    run(tool("openssl"), *args)


def certificates(d):
    """A CA and a server certificate for 127.0.0.1 in `d`; the CA alone
    in `d/client` (the directory libnbd reads)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca-key.pem"),
            "-out", str(d / "ca-cert.pem"), "-days", "2", "-subj", "/CN=cairn-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "server-key.pem"),
            "-out", str(d / "server.csr"), "-subj", "/CN=server")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                  "extendedKeyUsage=serverAuth\n"
                                  "keyUsage=critical,digitalSignature,keyEncipherment\n")
    openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca-cert.pem"),
            "-CAkey", str(d / "ca-key.pem"), "-CAcreateserial", "-days", "2",
            "-extfile", str(d / "server.ext"), "-out", str(d / "server-cert.pem"))
    (d / "client").mkdir()
    (d / "client" / "ca-cert.pem").write_bytes((d / "ca-cert.pem").read_bytes())


def image_api(rc):
    """(token, images URL) for the openrc's user."""
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": rc["OS_USERNAME"], "password": rc["OS_PASSWORD"], "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
    r = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    url = next(e["url"] for s in r.json()["token"]["catalog"] if s["type"] == "image"
               for e in s["endpoints"] if e["interface"] == "public")
    return r.headers["X-Subject-Token"], url.rstrip("/") + "/v2/images"


def test_required_tls_serves_volumes_and_converts_images(tmp_path):
    certificates(tmp_path)
    config = tmp_path / "cairn.toml"
    config.write_text(CONFIG + f"""
[blockd]
nbd_tls = {{ cert = "{tmp_path / 'server-cert.pem'}", key = "{tmp_path / 'server-key.pem'}" }}
""")
    server = CairnServer(tmp_path / "data", config)
    server.start()
    try:
        # A qcow2 image with data at both ends and a hole between.
        disk = tmp_path / "disk.raw"
        size = 32 * MIB
        holey_disk(disk, size, 2 * MIB + 7, MIB)
        qcow2 = tmp_path / "disk.qcow2"
        run(tool("qemu-img"), "convert", "-f", "raw", "-O", "qcow2", str(disk), str(qcow2))
        token, images = image_api(server.openrc)
        h = {"X-Auth-Token": token}
        r = requests.post(images, json={"name": "tls-disk", "disk_format": "qcow2",
                                        "container_format": "bare"}, headers=h, timeout=30)
        assert r.status_code == 201, r.text
        image = r.json()["id"]
        r = requests.put(f"{images}/{image}/file", data=qcow2.read_bytes(),
                         headers={**h, "Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 204, r.text

        c = Cinder(server.openrc)
        r = c.call("POST", "/volumes", {"volume": {"size": 1, "imageRef": image}}, expect=202)
        vol = r.json()["volume"]["id"]
        deadline = time.monotonic() + 120
        while (status := c.call("GET", f"/volumes/{vol}", expect=200).json()["volume"]["status"]) != "available":
            assert status in ("creating", "downloading"), status
            assert time.monotonic() < deadline, "the conversion never finished"
            time.sleep(0.2)

        att, plain_uri = c.attach(vol)
        data = c.call("GET", f"/attachments/{att}", expect=200).json()["attachment"]["connection_info"]["data"]
        assert data["tls"] is True, data
        secure_uri = plain_uri.replace("nbd://", "nbds://", 1) + f"?tls-certificates={tmp_path / 'client'}"
        back = tmp_path / "back.raw"
        run(tool("nbdcopy"), secure_uri, str(back))
        got = back.read_bytes()
        assert got[:size] == disk.read_bytes()
        assert got[size:].count(0) == len(got) - size
        refused = run(tool("nbdinfo"), plain_uri, check=False)
        assert refused.returncode != 0, refused.stdout
        c.detach(att)
    finally:
        stop_and_check(server)
