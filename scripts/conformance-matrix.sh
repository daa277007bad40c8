#!/usr/bin/env bash
# The README's conformance matrix (targets × areas × levels), from live runs:
#   1. the bundled suite against authproof itself (embedded proxy and mock IdP);
#   2. the same suite against FastMCP and the MCP TypeScript SDK's server
#      (tests/third_party.rs; install them first with .ci/install.d/30-targets.sh);
#   3. `authproof conformance-matrix` writes the three reports into README.md between the
#      `conformance-matrix` markers.
# The reports stay in $OUT (default target/conformance-matrix). Usage:
#   scripts/conformance-matrix.sh            # write README.md
#   scripts/conformance-matrix.sh --print    # print the table only
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p "${OUT:-target/conformance-matrix}"
out="$(cd "${OUT:-target/conformance-matrix}" && pwd)"
rm -f "$out"/*.json

cargo build --quiet --bin authproof
bin="${CARGO_TARGET_DIR:-target}/debug/authproof"

# 1. authproof: exit 1 would mean a failure, which the matrix shows rather than hides.
"$bin" test --report "json=$out/authproof.json" >/dev/null || [ $? -eq 1 ]

# 2. FastMCP and the TS SDK: each test keeps its report as $out/NAME.json.
AUTHPROOF_THIRD_PARTY_REPORTS="$out" cargo test --quiet --test third_party -- --test-threads=1
for name in fastmcp ts-sdk; do
  [ -f "$out/$name.json" ] || { echo "no report for $name: is it installed? (.ci/install.d/30-targets.sh)" >&2; exit 1; }
done

fastmcp="FastMCP $(sed -n 's/^fastmcp==//p' tests/targets/fastmcp/requirements.txt)"
tssdk="TS SDK $(node -p "require('./tests/targets/ts-sdk/package.json').dependencies['@modelcontextprotocol/sdk']")"
write=(--write README.md)
[ "${1:-}" = "--print" ] && write=()
"$bin" conformance-matrix "${write[@]}" \
  "authproof=$out/authproof.json" "$fastmcp=$out/fastmcp.json" "$tssdk=$out/ts-sdk.json"
