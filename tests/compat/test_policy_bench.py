"""`cairn-bench policies --smoke` against a `cairn up` of its own (the
benchmark removes data files to measure degraded reads): it reports every
figure for both policies, with no request errors, erasure coding stores
fewer bytes per byte than three replicas, and degraded reads still succeed."""

import json
import os
import subprocess
from pathlib import Path

import pytest


def test_bench_policies_smoke(cairn_factory):
    server = cairn_factory()
    server.start(timeout=60.0)
    exe = Path(server.binary).with_name("cairn-bench")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: build it with `cargo build --workspace --bins`", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "AWS_"))}
    env.update(server.openrc)
    proc = subprocess.run(
        [str(exe), "policies", "--smoke", "--duration-secs", "0.5",
         "--devices-dir", str(server.data_dir / "devices")],
        env=env, capture_output=True, timeout=300)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    figures = json.loads(out.strip().splitlines()[-1])
    for policy in ("replicated", "ec42"):
        assert figures[f"{policy}.errors"] == 0
        for name in ("put_4k_ops_per_s", "put_2m_mib_per_s", "get_2m_mib_per_s",
                     "get_2m_degraded_mib_per_s", "disk_bytes_per_byte"):
            assert figures[f"{policy}.{name}"] > 0, (policy, name, figures)
    # Three full copies against six fragments of a quarter each (plus checks).
    assert 2.9 < figures["replicated.disk_bytes_per_byte"] < 3.2, figures
    assert 1.4 < figures["ec42.disk_bytes_per_byte"] < 1.7, figures
