#!/usr/bin/env python3
"""Volume benchmark: fio's nbd engine against a Cairn volume (through
`cairn up`, attached with the volume API) and against `nbdkit file` on a
sparse file on the same disk. Prints, for each: sequential write and read
MiB/s (1 MiB blocks, 8 in flight, a flush every 64 writes), 4 KiB random
read IOPS at queue depth 1 and 32, and 4 KiB random write IOPS at depth 1
(a flush after every write) and 32 (a flush every 32 writes); then one
JSON line.

    CAIRN_BIN=target/release/cairn /var/tmp/cairn-venv/bin/python benches/volume_fio.py

Needs fio (with its nbd engine), nbdkit, and `requests`.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests

MIB = 1 << 20


def need(tool):
    path = shutil.which(tool)
    if not path:
        sys.exit(f"{tool} is not installed (apt-get install fio nbdkit)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_openrc(text):
    env = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            for w in words[1:]:
                k, _, v = w.partition("=")
                env[k] = v
    return env


def start_cairn(binary, root):
    data = os.path.join(root, "data")
    log = open(os.path.join(root, "cairn.log"), "wb")
    proc = subprocess.Popen(
        [binary, "up", "--data-dir", data, "--object-bind", "127.0.0.1:0",
         "--identity-bind", "127.0.0.1:0", "--volume-bind", "127.0.0.1:0",
         "--nbd-bind", "127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    rc_path = os.path.join(data, "openrc")
    deadline = time.monotonic() + 120
    while not os.path.exists(rc_path):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"cairn up did not start; see {root}/cairn.log")
        time.sleep(0.2)
    return proc, parse_openrc(open(rc_path).read())


def attach_volume(rc, size_gib):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": rc["OS_USERNAME"], "password": rc["OS_PASSWORD"], "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
    r = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    token = r.headers["X-Subject-Token"]
    catalog = r.json()["token"]["catalog"]
    base = next(e["url"] for s in catalog if s["type"] == "volumev3"
                for e in s["endpoints"] if e["interface"] == "public")
    h = {"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.60"}
    r = requests.post(base + "/volumes", json={"volume": {"size": size_gib, "name": "bench"}},
                      headers=h, timeout=30)
    r.raise_for_status()
    vol = r.json()["volume"]["id"]
    r = requests.post(base + "/attachments", json={"attachment": {
        "volume_uuid": vol, "mode": "rw", "connector": {"host": "bench"}}}, headers=h, timeout=30)
    r.raise_for_status()
    d = r.json()["attachment"]["connection_info"]["data"]
    return f"nbd://{d['host']}:{d['port']}/{d['export_name']}"


JOBS = [
    # (figure, fio arguments, what to read from the result)
    ("seq_write_mib_s", ["--rw=write", "--bs=1M", "--iodepth=8", "--fsync=64"], ("write", "bw")),
    ("seq_read_mib_s", ["--rw=read", "--bs=1M", "--iodepth=8"], ("read", "bw")),
    ("rand_read_4k_qd1_iops", ["--rw=randread", "--bs=4k", "--iodepth=1", "--time_based"], ("read", "iops")),
    ("rand_read_4k_qd32_iops", ["--rw=randread", "--bs=4k", "--iodepth=32", "--time_based"], ("read", "iops")),
    ("rand_write_4k_qd1_iops", ["--rw=randwrite", "--bs=4k", "--iodepth=1", "--fsync=1", "--time_based"], ("write", "iops")),
    ("rand_write_4k_qd32_iops", ["--rw=randwrite", "--bs=4k", "--iodepth=32", "--fsync=32", "--time_based"], ("write", "iops")),
]


def fio(uri, args, size_mib, runtime):
    cmd = [need("fio"), "--name=job", "--ioengine=nbd", f"--uri={uri}", f"--size={size_mib}M",
           f"--runtime={runtime}", "--output-format=json", *args]
    out = subprocess.run(cmd, capture_output=True, timeout=runtime * 20 + 600)
    if out.returncode != 0:
        sys.exit(f"fio failed: {' '.join(cmd)}\n{out.stderr.decode()}")
    text = out.stdout.decode()
    return json.loads(text[text.index("{"):])["jobs"][0]


def measure(label, uri, size_mib, runtime):
    figures = {}
    for name, args, (side, what) in JOBS:
        job = fio(uri, args, size_mib, runtime)
        value = job[side]["bw"] / 1024 if what == "bw" else job[side]["iops"]
        figures[name] = round(value, 1)
        print(f"{label:12} {name:26} {figures[name]:>10}", flush=True)
    return figures


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="bytes each job covers")
    p.add_argument("--runtime", type=int, default=10, help="seconds of each random job")
    p.add_argument("--dir", default="/var/tmp", help="where data and the nbdkit file live")
    a = p.parse_args()
    binary = os.environ.get("CAIRN_BIN", "target/release/cairn")
    need("nbdkit")
    root = tempfile.mkdtemp(prefix="cairn-volbench-", dir=a.dir)
    cairn, rc = start_cairn(binary, root)
    nbdkit = None
    try:
        gib = max(1, -(-a.size_mib * MIB // (1 << 30)))
        volume = measure("volume", attach_volume(rc, gib), a.size_mib, a.runtime)
        disk = os.path.join(root, "nbdkit.raw")
        with open(disk, "wb") as f:
            f.truncate(gib << 30)
        port = free_port()
        nbdkit = subprocess.Popen([need("nbdkit"), "-f", "-i", "127.0.0.1", "-p", str(port),
                                   "file", f"file={disk}"])
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("nbdkit did not listen")
                time.sleep(0.1)
        file = measure("nbdkit-file", f"nbd://127.0.0.1:{port}/", a.size_mib, a.runtime)
        print(json.dumps({"volume": volume, "nbdkit_file": file, "size_mib": a.size_mib,
                          "runtime_s": a.runtime}))
    finally:
        if nbdkit:
            nbdkit.terminate()
            nbdkit.wait()
        cairn.terminate()
        cairn.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
