"""The `aws` CLI and s3cmd against `cairn up`, configured from nothing but
the openrc's AWS_* variables: a 100 MiB `aws s3 cp` (multipart), `ls`,
`sync`, `rm --recursive`, and an s3cmd put/get/ls round trip."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from s3_helpers import client, eventually, s3_env

MiB = 1024 * 1024


def tool(name):
    here = Path(sys.executable).parent / name
    if not here.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}; "
                    "run scripts/install-deps.sh", pytrace=False)
    return str(here)


@pytest.fixture
def aws(cairn, tmp_path):
    exe = tool("aws")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v for k, v in s3_env(cairn).items() if k.startswith("AWS_")})
    env["HOME"] = str(tmp_path)
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-credentials")

    def run(*args, check=True):
        proc = subprocess.run([exe, *args], env=env, cwd=tmp_path, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=600)
        out = proc.stdout.decode(errors="replace")
        if check:
            assert proc.returncode == 0, (
                f"aws {' '.join(args)} exited {proc.returncode}\n{out}\n"
                + proc.stderr.decode(errors="replace"))
        return out

    return run


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def test_aws_cli_cp_ls_sync_rm(cairn, aws, tmp_path, unique):
    bucket = unique("cli")
    s3 = client(cairn)
    aws("s3", "mb", f"s3://{bucket}")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(MiB))
    aws("s3", "cp", str(big), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 100 * MiB
    # The CLI uploads files this large in parts: the ETag says how many.
    assert head["ETag"].strip('"').endswith("-13"), head["ETag"]
    back = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert md5_file(back) == md5_file(big)
    listing = aws("s3", "ls", f"s3://{bucket}")
    assert "big.bin" in listing and str(100 * MiB) in listing
    eventually(lambda: bucket in aws("s3", "ls"), "aws s3 ls lists the bucket")
    tree = tmp_path / "tree"
    for rel in ["a.txt", "sub/b.txt", "sub/deeper/c.txt"]:
        p = tree / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"content of {rel}")
    aws("s3", "sync", str(tree), f"s3://{bucket}/tree")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"])
    assert keys == ["tree/a.txt", "tree/sub/b.txt", "tree/sub/deeper/c.txt"]
    # A second sync uploads nothing; a changed file is uploaded again.
    assert "upload:" not in aws("s3", "sync", str(tree), f"s3://{bucket}/tree")
    (tree / "a.txt").write_text("changed, and longer than before")
    assert "tree/a.txt" in aws("s3", "sync", str(tree), f"s3://{bucket}/tree")
    assert s3.get_object(Bucket=bucket, Key="tree/a.txt")["Body"].read() == b"changed, and longer than before"
    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/tree", str(down))
    assert (down / "sub/deeper/c.txt").read_text() == "content of sub/deeper/c.txt"
    recursive = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/")
    assert "tree/sub/deeper/c.txt" in recursive
    aws("s3", "rm", "--recursive", f"s3://{bucket}/")
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    aws("s3", "rb", f"s3://{bucket}")
    eventually(lambda: bucket not in aws("s3", "ls"), "aws s3 ls no longer lists the bucket")


def test_s3cmd_round_trip(cairn, tmp_path, unique):
    exe = tool("s3cmd")
    rc = s3_env(cairn)
    host = urlsplit(rc["AWS_ENDPOINT_URL"]).netloc
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {rc['AWS_ACCESS_KEY_ID']}\n"
        f"secret_key = {rc['AWS_SECRET_ACCESS_KEY']}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
    )

    def run(*args):
        proc = subprocess.run([sys.executable, exe, "-c", str(cfg), *args], capture_output=True,
                              cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=300,
                              env={**os.environ, "HOME": str(tmp_path)})
        out = proc.stdout.decode(errors="replace")
        assert proc.returncode == 0, f"s3cmd {' '.join(args)} exited {proc.returncode}\n{out}\n" + \
            proc.stderr.decode(errors="replace")
        return out

    bucket = unique("s3cmd")
    run("mb", f"s3://{bucket}")
    src = tmp_path / "note.txt"
    src.write_bytes(os.urandom(300_000))
    run("put", str(src), f"s3://{bucket}/notes/note.txt")
    assert "notes/note.txt" in run("ls", "--recursive", f"s3://{bucket}")
    dst = tmp_path / "got.txt"
    run("get", f"s3://{bucket}/notes/note.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    run("del", f"s3://{bucket}/notes/note.txt")
    assert "note.txt" not in run("ls", "--recursive", f"s3://{bucket}")
