#!/usr/bin/env bash
# Third-party targets for tests/third_party.rs, pinned:
# - FastMCP from PyPI, with every dependency frozen in tests/targets/fastmcp/requirements.txt,
#   in a virtualenv at $AUTHPROOF_FASTMCP_VENV (default /opt/authproof-peers/fastmcp-venv);
# - the MCP TypeScript SDK from npm, `npm ci` from tests/targets/ts-sdk/package-lock.json into
#   tests/targets/ts-sdk/node_modules.
# Idempotent: each part is reinstalled only when its pins changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${AUTHPROOF_FASTMCP_VENV:-/opt/authproof-peers/fastmcp-venv}"
req=tests/targets/fastmcp/requirements.txt
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 not found: the FastMCP target will be skipped"
elif ! cmp -s "$req" "$venv/.authproof-requirements.txt"; then
  echo "installing $(grep '^fastmcp==' "$req") into $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian splits venv support out of python3.
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
  cp "$req" "$venv/.authproof-requirements.txt"
fi

sdk=tests/targets/ts-sdk
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the TypeScript SDK target will be skipped"
elif ! cmp -s "$sdk/package-lock.json" "$sdk/node_modules/.authproof-package-lock.json"; then
  echo "installing @modelcontextprotocol/sdk@$(node -p "require('./$sdk/package.json').dependencies['@modelcontextprotocol/sdk']") into $sdk/node_modules"
  (cd "$sdk" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$sdk/package-lock.json" "$sdk/node_modules/.authproof-package-lock.json"
fi
