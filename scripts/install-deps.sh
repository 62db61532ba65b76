#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine: clang
# and libclang (RocksDB's bindings) and a Python venv with the real Swift
# and OpenStack clients. Idempotent; quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CAIRN_VENV:-/var/tmp/cairn-venv}"

need_apt=()
for pkg in clang libclang-dev pkg-config libssl-dev python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "== installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${need_apt[@]}" || { apt-get update && apt-get install -y "${need_apt[@]}"; }
fi

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import swiftclient, pytest, requests, openstackclient' 2>/dev/null \
    || ! cmp -s tests/compat/requirements.txt "$VENV/.requirements"; then
    echo "== installing Python clients into $VENV"
    "$VENV/bin/pip" install -q -r tests/compat/requirements.txt
    cp tests/compat/requirements.txt "$VENV/.requirements"
fi
