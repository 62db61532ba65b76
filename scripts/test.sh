#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, in-process and system
# tests (cargo), then the real-client compatibility suite (pytest with
# python-swiftclient, the swift CLI, boto3, the aws CLI and s3cmd). Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
VENV="${CAIRN_VENV:-/var/tmp/cairn-venv}"

bash scripts/install-deps.sh

echo "== building binaries"
cargo build --workspace --bins
export CAIRN_BIN="$CARGO_TARGET_DIR/debug/cairn"

echo "== cargo tests"
cargo test --workspace

echo "== real-client compatibility tests"
"$VENV/bin/python" -m pytest tests/compat -q
