#!/bin/bash
# SPDX-License-Identifier: MIT
# The rbxd suite (tests/server/test_rbxd.c) on both backends: SQLite, then a
# throwaway PostgreSQL 15 from the Debian package (tests/server/pgtmp.sh),
# started here and stopped at the end whatever happens. The suite's rbxd
# processes connect as rbxd_login, a member of rbxd_app that may only call
# the migration's SECURITY DEFINER functions; the suite empties the database
# (as the superuser) before each server it starts.
# Usage: tests/server/run.sh BUILD_DIR [sqlite|pg]  (default: both)
set -euo pipefail
B=${1:-build}
ONLY=${2:-both}
RBXD=${RBXD:-$B/rbxd}
export RBXD
here=$(dirname "$0")
. "$here/pgtmp.sh"
t0=$(date +%s)

if [ "$ONLY" != pg ]; then
  echo "== rbxd suite on SQLite"
  "$B/check_rbxd"
fi
[ "$ONLY" = sqlite ] && exit 0

trap pgtmp_stop EXIT
set +e
# synchronous_commit=off (tests/server/pgtmp.sh): the suite kills rbxd,
# never PostgreSQL, so it needs PostgreSQL's commits visible, not on disk.
PGTMP_FAST=1 pgtmp_start "$RBXD" >"${TMPDIR:-/tmp}/rbxd-pgtmp.$$" 2>&1
rc=$?
set -e
why=$(cat "${TMPDIR:-/tmp}/rbxd-pgtmp.$$"); rm -f "${TMPDIR:-/tmp}/rbxd-pgtmp.$$"
if [ $rc = 2 ]; then
  echo "== rbxd suite on PostgreSQL SKIPPED: $why"
  exit 0
fi
[ $rc = 0 ] || { echo "$why"; exit 1; }
echo "== rbxd suite on PostgreSQL 15 (throwaway cluster in $PGTMP_DIR)"
RBXD_TEST_PG=$PGTMP_URL RBXD_TEST_PG_ADMIN=$PGTMP_ADMIN_URL "$B/check_rbxd"
echo "== rbxd suites passed in $(( $(date +%s) - t0 )) s"
