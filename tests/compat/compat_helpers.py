"""Shared helpers of the real-client compatibility tests: the `cairn up`
process wrapper, openrc parsing, users, and common assertions.

The binary is `$CAIRN_BIN`, by default /var/tmp/cairn-target/debug/cairn.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from swiftclient import client as swift_client

DEFAULT_BIN = "/var/tmp/cairn-target/debug/cairn"

CONFIG = """\
[objectd]
token_ttl_secs = 86400
expirer_interval_secs = 1

[[objectd.users]]
account = "test"
user = "tester"
key = "testing"
groups = [".admin"]

[[objectd.users]]
account = "test"
user = "plain"
key = "plainkey"
groups = []
"""

TESTER = ("test:tester", "testing")
PLAIN = ("test:plain", "plainkey")

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TRANS_ID = re.compile(r"^tx[0-9a-f]{21}-[0-9a-f]{10}")


def cairn_bin():
    """The cairn binary to test; fails (never skips) when it is missing."""
    path = os.environ.get("CAIRN_BIN") or DEFAULT_BIN
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"cairn binary not found or not executable at {path!r}: build it with "
            "`CARGO_TARGET_DIR=/var/tmp/cairn-target cargo build --bins` or set CAIRN_BIN",
            pytrace=False,
        )
    return path


def swift_cli_path():
    """The `swift` CLI of the venv running the tests."""
    here = Path(sys.executable).parent / "swift"
    if here.exists():
        return str(here)
    fallback = "/var/tmp/cairn-venv/bin/swift"
    if not os.path.exists(fallback):
        pytest.fail(f"the swift CLI is neither at {here} nor at {fallback}", pytrace=False)
    return fallback


def openstack_path():
    """The `openstack` CLI of the venv running the tests."""
    here = Path(sys.executable).parent / "openstack"
    if not here.exists():
        pytest.fail(
            f"the openstack CLI is not at {here}: install tests/compat/requirements.txt",
            pytrace=False,
        )
    return str(here)


def parse_openrc(text):
    """`export NAME=VALUE` lines of an openrc as a dict."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if words and words[0] == "export":
            words = words[1:]
        for w in words:
            if "=" in w:
                k, v = w.split("=", 1)
                env[k] = v
    return env


def strip_ansi(text):
    return ANSI.sub("", text)


class CairnServer:
    """One `cairn up` process over a data directory; start/stop may repeat."""

    def __init__(self, data_dir, config_path):
        self.binary = cairn_bin()
        self.data_dir = Path(data_dir)
        self.config_path = Path(config_path)
        self.proc = None
        self.logs = []
        self.openrc = None

    @property
    def openrc_path(self):
        return self.data_dir / "openrc"

    @property
    def log_path(self):
        return self.logs[-1]

    def log_text(self):
        return "".join(
            strip_ansi(p.read_text(errors="replace")) for p in self.logs if p.exists()
        )

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def start(self, timeout=60.0):
        assert self.proc is None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The server deletes a stale openrc itself, but we must not read the
        # old one before it does.
        if self.openrc_path.exists():
            self.openrc_path.unlink()
        log = self.data_dir.parent / f"{self.data_dir.name}-cairn-{len(self.logs)}.log"
        self.logs.append(log)
        env = dict(os.environ)
        env["NO_COLOR"] = "1"
        env.pop("CAIRN_DATA_DIR", None)
        env.pop("CAIRN_CONFIG", None)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "up",
                    "--data-dir",
                    str(self.data_dir),
                    "--config",
                    str(self.config_path),
                    "--object-bind",
                    "127.0.0.1:0",
                    "--identity-bind",
                    "127.0.0.1:0",
                    "--image-bind",
                    "127.0.0.1:0",
                    "--volume-bind",
                    "127.0.0.1:0",
                    "--nbd-bind",
                    "127.0.0.1:0",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                pytest.fail(
                    f"cairn up exited with {rc} before writing openrc; log tail:\n"
                    + self.log_tail(),
                    pytrace=False,
                )
            if self.openrc_path.exists():
                rc = parse_openrc(self.openrc_path.read_text())
                if all(k in rc for k in ("ST_AUTH", "ST_USER", "ST_KEY")):
                    self.openrc = rc
                    break
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(
                    f"cairn up wrote no usable {self.openrc_path} within {timeout:.0f} s; "
                    "log tail:\n" + self.log_tail(),
                    pytrace=False,
                )
            time.sleep(0.1)
        # openrc is written once the proxy answers; check it does.
        while True:
            try:
                if requests.get(self.base_url + "/healthcheck", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail("cairn never answered /healthcheck; log tail:\n" + self.log_tail(),
                            pytrace=False)
            time.sleep(0.1)
        return self.openrc

    @property
    def auth_url(self):
        return self.openrc["ST_AUTH"]

    @property
    def base_url(self):
        m = re.match(r"^(https?://[^/]+)", self.openrc["ST_AUTH"])
        assert m, self.openrc["ST_AUTH"]
        return m.group(1)

    def stop(self, timeout=15.0):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def error_lines(self):
        return [l for l in self.log_text().splitlines() if re.search(r"\bERROR\b", l)]

    def connection(self, user, key):
        return swift_client.Connection(
            authurl=self.auth_url, user=user, key=key, auth_version="1", retries=0
        )


def stop_and_check(server):
    """Stops a server and asserts a clean exit and an ERROR-free log."""
    rc = server.stop(timeout=15.0)
    assert rc == 0, (
        f"cairn up did not exit 0 within 15 s of SIGTERM (rc={rc}); log tail:\n"
        + server.log_tail()
    )
    errors = server.error_lines()
    assert not errors, "cairn log has ERROR lines:\n" + "\n".join(errors[:20])


def write_config(directory):
    path = Path(directory) / "cairn.toml"
    path.write_text(CONFIG)
    return path


def assert_trans_id(resp):
    """Every Swift response carries a transaction id."""
    tx = resp.headers.get("X-Trans-Id")
    assert tx and TRANS_ID.match(tx), f"bad X-Trans-Id {tx!r} on {resp.status_code}"
    assert resp.headers.get("X-Openstack-Request-Id") == tx
