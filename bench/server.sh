#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-server: build/bench-server on SQLite, then on a throwaway
# PostgreSQL 15 (tests/server/pgtmp.sh, stopped at the end whatever happens).
# Usage: bench/server.sh BUILD_DIR OUT_DIR [--quick]
# Writes OUT_DIR/server-sqlite.json, server-pg.json and server.txt (both
# tables); a failed run leaves OUT_DIR's previous results alone.
set -euo pipefail
B=$1
OUT=$2
QUICK=${3:-}
RBXD=${RBXD:-$B/rbxd}
export RBXD
. "$(dirname "$0")/../tests/server/pgtmp.sh"
mkdir -p "$OUT"
tmp=$(mktemp -d "$B/bench-server-out-XXXXXX")
cleanup() { pgtmp_stop; rm -rf "$tmp"; }
trap cleanup EXIT
"$B/bench-server" --backend sqlite --out "$tmp/server-sqlite.json" $QUICK | tee "$tmp/server.txt"
echo | tee -a "$tmp/server.txt"
set +e
pgtmp_start "$RBXD" >"$tmp/pg.log" 2>&1
rc=$?
set -e
if [ $rc = 0 ]; then
  "$B/bench-server" --backend pg --pg "$PGTMP_URL" --pg-admin "$PGTMP_ADMIN_URL" \
    --out "$tmp/server-pg.json" $QUICK | tee -a "$tmp/server.txt"
  mv "$tmp/server-pg.json" "$OUT/"
else
  echo "PostgreSQL: not measured ($(cat "$tmp/pg.log"))" | tee -a "$tmp/server.txt"
  [ $rc = 2 ] || exit 1
fi
mv "$tmp/server-sqlite.json" "$tmp/server.txt" "$OUT/"
