"""`cairn-bench s3 --smoke` against `cairn up`: it reports every figure
over Swift and over S3, with no request errors, and cleans up."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from s3_helpers import bucket_names, client, eventually


def test_bench_s3_smoke(cairn):
    exe = Path(cairn.binary).with_name("cairn-bench")
    if not exe.exists():
        pytest.fail(f"{exe} is missing: build it with `cargo build --workspace --bins`", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "AWS_"))}
    env.update(cairn.openrc)
    proc = subprocess.run([str(exe), "s3", "--smoke", "--duration-secs", "0.5", "--signed-payload"],
                          env=env, capture_output=True, timeout=300)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    figures = json.loads(out.strip().splitlines()[-1])
    for side in ("swift", "s3"):
        assert figures[f"{side}.errors"] == 0
        for name in ("put_4k_ops_per_s", "get_4k_ops_per_s", "put_2m_mib_per_s", "get_2m_mib_per_s",
                     "list_200_ms"):
            assert figures[f"{side}.{name}"] > 0, (side, name, figures)
    s3 = client(cairn)
    eventually(lambda: not any(n.startswith("cairn-bench-") for n in bucket_names(s3)),
               "the bench's buckets are gone")
