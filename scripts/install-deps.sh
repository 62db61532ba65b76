#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: clang
# and libclang (RocksDB's bindings), libnbd's and QEMU's tools (the NBD
# clients the block tests drive), fio and nbdkit (the volume benchmark) and
# the openssl CLI (test certificates), a Python venv with the real Swift,
# S3 and OpenStack clients
# (python-swiftclient, boto3, the aws CLI, s3cmd, the openstack CLI).
# Idempotent; quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CAIRN_VENV:-/var/tmp/cairn-venv}"

need_apt=()
for pkg in clang libclang-dev pkg-config libssl-dev openssl python3-venv libnbd-bin fio nbdkit; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# qemu-img/qemu-io: any installed qemu-utils will do (this machine's comes
# from bookworm-backports; a plain one is installed only if none is).
command -v qemu-img >/dev/null 2>&1 || need_apt+=(qemu-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import swiftclient, pytest, requests, boto3, openstackclient' 2>/dev/null \
    || ! cmp -s tests/compat/requirements.txt "$VENV/.requirements"; then
    echo "== installing Python clients into $VENV"
    "$VENV/bin/pip" install -q -r tests/compat/requirements.txt
    cp tests/compat/requirements.txt "$VENV/.requirements"
fi
