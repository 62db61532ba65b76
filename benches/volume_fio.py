#!/usr/bin/env python3
"""Volume benchmark: fio's nbd engine against a Cairn volume (through
`cairn up`, attached with the volume API), against `nbdkit file` and
against `qemu-nbd --cache=none`, each serving a sparse file on the same
disk. Prints, for each: sequential write and read MiB/s (1 MiB blocks, 8
in flight, a flush every 64 writes, for the runtime, wrapping around the
span), 4 KiB random read IOPS at queue
depth 1 and 32 and with 4 connections at depth 32 each, and 4 KiB random
write IOPS at depth 1 (a flush after every write), 32 (a flush every 32
writes) and 4 connections x 32; then, for the volume, the milliseconds to
snapshot it and to make a volume from that snapshot (until `available`);
then one JSON line.

    CAIRN_BIN=target/release/cairn /var/tmp/cairn-venv/bin/python benches/volume_fio.py

`CAIRN_BENCH_KEEP=1` keeps the data directory (and the appliance's log).

Needs fio (with its nbd engine), nbdkit, qemu-nbd and `requests`.
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
         "--identity-bind", "127.0.0.1:0", "--image-bind", "127.0.0.1:0", "--volume-bind", "127.0.0.1:0",
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


class VolumeApi:
    """The volume API as the openrc's user."""

    def __init__(self, rc):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": rc["OS_USERNAME"], "password": rc["OS_PASSWORD"], "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
        r = requests.post(rc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens", json=body, timeout=30)
        r.raise_for_status()
        catalog = r.json()["token"]["catalog"]
        self.base = next(e["url"] for s in catalog if s["type"] == "volumev3"
                         for e in s["endpoints"] if e["interface"] == "public")
        self.h = {"X-Auth-Token": r.headers["X-Subject-Token"], "OpenStack-API-Version": "volume 3.60"}

    def post(self, path, body):
        r = requests.post(self.base + path, json=body, headers=self.h, timeout=300)
        r.raise_for_status()
        return r.json()

    def wait_available(self, kind, key, ident):
        while True:
            r = requests.get(f"{self.base}/{kind}/{ident}", headers=self.h, timeout=30)
            r.raise_for_status()
            status = r.json()[key]["status"]
            if status == "available":
                return
            if status not in ("creating", "downloading"):
                sys.exit(f"{kind} {ident} is {status}")
            time.sleep(0.005)

    def create_attached(self, size_gib):
        """(volume id, nbd URI) of a new attached volume."""
        vol = self.post("/volumes", {"volume": {"size": size_gib, "name": "bench"}})["volume"]["id"]
        a = self.post("/attachments", {"attachment": {
            "volume_uuid": vol, "mode": "rw", "connector": {"host": "bench"}}})["attachment"]
        d = a["connection_info"]["data"]
        return vol, f"nbd://{d['host']}:{d['port']}/{d['export_name']}"

    def clone_times(self, vol):
        """Milliseconds to snapshot `vol`, and to make a volume from the snapshot."""
        started = time.monotonic()
        snap = self.post("/snapshots", {"snapshot": {"volume_id": vol, "force": True}})["snapshot"]["id"]
        self.wait_available("snapshots", "snapshot", snap)
        snapshot_ms = (time.monotonic() - started) * 1000
        started = time.monotonic()
        clone = self.post("/volumes", {"volume": {"snapshot_id": snap}})["volume"]["id"]
        self.wait_available("volumes", "volume", clone)
        return round(snapshot_ms, 1), round((time.monotonic() - started) * 1000, 1)


def serve(argv, port):
    """Starts an NBD server and waits until it listens."""
    proc = subprocess.Popen(argv)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                sys.exit(f"{argv[0]} did not listen")
            time.sleep(0.1)


JOBS = [
    # (figure, fio arguments, what to read from the result)
    ("seq_write_mib_s", ["--rw=write", "--bs=1M", "--iodepth=8", "--fsync=64", "--time_based"], ("write", "bw")),
    ("seq_read_mib_s", ["--rw=read", "--bs=1M", "--iodepth=8", "--time_based"], ("read", "bw")),
    ("rand_read_4k_qd1_iops", ["--rw=randread", "--bs=4k", "--iodepth=1", "--time_based"], ("read", "iops")),
    ("rand_read_4k_qd32_iops", ["--rw=randread", "--bs=4k", "--iodepth=32", "--time_based"], ("read", "iops")),
    ("rand_write_4k_qd1_iops", ["--rw=randwrite", "--bs=4k", "--iodepth=1", "--fsync=1", "--time_based"], ("write", "iops")),
    ("rand_write_4k_qd32_iops", ["--rw=randwrite", "--bs=4k", "--iodepth=32", "--fsync=32", "--time_based"], ("write", "iops")),
    ("rand_read_4k_4x_qd32_iops", ["--rw=randread", "--bs=4k", "--iodepth=32", "--numjobs=4",
                                   "--group_reporting", "--time_based"], ("read", "iops")),
    ("rand_write_4k_4x_qd32_iops", ["--rw=randwrite", "--bs=4k", "--iodepth=32", "--fsync=32",
                                    "--numjobs=4", "--group_reporting", "--time_based"], ("write", "iops")),
]


def fio(uri, args, size_mib, runtime):
    cmd = [need("fio"), "--name=job", "--ioengine=nbd", f"--uri={uri}", f"--size={size_mib}M",
           f"--runtime={runtime}", "--output-format=json", *args]
    out = subprocess.run(cmd, capture_output=True, timeout=runtime * 20 + 600)
    if out.returncode != 0:
        sys.exit(f"fio failed: {' '.join(cmd)}\n{out.stderr.decode()}")
    text = out.stdout.decode()
    return json.loads(text[text.index("{"):])["jobs"][0]


def measure(label, uri, size_mib, runtime, only=None):
    figures = {}
    for name, args, (side, what) in JOBS:
        if only and name not in only:
            continue
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
    p.add_argument("--jobs", help="comma-separated figures to measure (default: all)")
    p.add_argument("--servers", default="volume,nbdkit_file,qemu_nbd",
                   help="comma-separated servers to measure")
    a = p.parse_args()
    only = set(a.jobs.split(",")) if a.jobs else None
    unknown = (only or set()) - {name for name, _, _ in JOBS}
    if unknown:
        sys.exit(f"unknown jobs: {', '.join(sorted(unknown))}")
    wanted = set(a.servers.split(","))
    binary = os.environ.get("CAIRN_BIN", "target/release/cairn")
    need("nbdkit")
    need("qemu-nbd")
    root = tempfile.mkdtemp(prefix="cairn-volbench-", dir=a.dir)
    cairn, rc = start_cairn(binary, root)
    servers = []
    try:
        gib = max(1, -(-a.size_mib * MIB // (1 << 30)))
        api = VolumeApi(rc)
        vol, uri = api.create_attached(gib)
        results = {}
        if "volume" in wanted:
            volume = measure("volume", uri, a.size_mib, a.runtime, only)
            volume["snapshot_ms"], volume["volume_from_snapshot_ms"] = api.clone_times(vol)
            print(f"{'volume':12} {'snapshot_ms':26} {volume['snapshot_ms']:>10}")
            print(f"{'volume':12} {'volume_from_snapshot_ms':26} {volume['volume_from_snapshot_ms']:>10}")
            results["volume"] = volume
        for label, argv in [
            ("nbdkit_file", lambda disk, port: [need("nbdkit"), "-f", "-i", "127.0.0.1", "-p", str(port),
                                                "file", f"file={disk}"]),
            ("qemu_nbd", lambda disk, port: [need("qemu-nbd"), "-f", "raw", "--cache=none", "--aio=native",
                                             "-b", "127.0.0.1", "-p", str(port), "-x", "", "-e", "8",
                                             "--persistent", disk]),
        ]:
            if label not in wanted:
                continue
            disk = os.path.join(root, f"{label}.raw")
            with open(disk, "wb") as f:
                f.truncate(gib << 30)
            port = free_port()
            servers.append(serve(argv(disk, port), port))
            results[label] = measure(label, f"nbd://127.0.0.1:{port}/", a.size_mib, a.runtime, only)
        print(json.dumps({**results, "size_mib": a.size_mib, "runtime_s": a.runtime}))
    finally:
        for s in servers:
            s.terminate()
            s.wait()
        cairn.terminate()
        cairn.wait()
        if os.environ.get("CAIRN_BENCH_KEEP"):
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)

if __name__ == "__main__":
    main()
