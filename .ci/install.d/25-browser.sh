#!/usr/bin/env bash
# Peers of tests/peer_browser.rs and tests/peer_oidc_provider.rs:
# - Debian's chromium and chromium-driver (the same version: chromedriver drives only its own
#   chromium), pinned below; when the security archive has moved on past the pin, the
#   archive's current build is installed instead and a line says so;
# - oidc-provider for node, pinned by tests/peers/oidc-provider/package-lock.json (npm ci).
# Idempotent and quiet: one line per thing installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHROMIUM_VERSION="156.0.8078.114-1~deb12u1"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "chromium=${CHROMIUM_VERSION}" "chromium-driver=${CHROMIUM_VERSION}" >/dev/null 2>&1; then
      echo "installed chromium + chromium-driver ${CHROMIUM_VERSION}"
    else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
      echo "installed chromium + chromium-driver $(dpkg-query -W -f='${Version}' chromium) (pin ${CHROMIUM_VERSION} no longer in the archive)"
    fi
  else
    echo "chromium: not installed (needs root and apt-get); tests/peer_browser.rs will skip"
  fi
fi

peer=tests/peers/oidc-provider
want=$(node -p "require('./${peer}/package-lock.json').packages['node_modules/oidc-provider'].version" 2>/dev/null || true)
have=$(node -p "require('./${peer}/node_modules/oidc-provider/package.json').version" 2>/dev/null || true)
if ! command -v node >/dev/null 2>&1; then
  echo "node: not installed; tests/peer_oidc_provider.rs will skip"
elif [ -z "$have" ] || [ "$have" != "$want" ]; then
  npm ci --prefix "$peer" --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
  echo "installed oidc-provider ${want} (npm ci in ${peer})"
fi
