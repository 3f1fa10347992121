#!/bin/bash
# SPDX-License-Identifier: MIT
# The rbxd suite (tests/server/test_rbxd.c) on both backends: SQLite, then a
# throwaway PostgreSQL 15 from the Debian package, started here and stopped
# at the end whatever happens:
#   - initdb into a temporary directory owned by the postgres user (initdb
#     refuses to run as root), trust authentication, no TCP: a unix socket in
#     that directory only;
#   - the migration installed by `rbxd --migrate` as the superuser, then the
#     suite's rbxd processes connect as rbxd_login, a member of rbxd_app that
#     may only call the SECURITY DEFINER functions (no table access);
#   - the suite empties the database before each server it starts.
# Usage: tests/server/run.sh BUILD_DIR [sqlite|pg]  (default: both)
set -euo pipefail
B=${1:-build}
ONLY=${2:-both}
RBXD=${RBXD:-$B/rbxd}
export RBXD
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
t0=$(date +%s)

if [ "$ONLY" != pg ]; then
  echo "== rbxd suite on SQLite"
  "$B/check_rbxd"
fi
[ "$ONLY" = sqlite ] && exit 0

if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ] || [ ! -x "$PGBIN/psql" ]; then
  echo "== rbxd suite on PostgreSQL SKIPPED: postgresql-15 is not installed ($PGBIN/initdb missing; make deps installs it)"
  exit 0
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/rbxd-pg-XXXXXX")
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "== rbxd suite on PostgreSQL SKIPPED: no postgres user to run initdb as"
    exit 0
  fi
  chown postgres: "$dir"
fi
chmod 700 "$dir"
su_user=$(if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi)
echo "== rbxd suite on PostgreSQL 15 (throwaway cluster in $dir)"
as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U "$su_user" -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log"; exit 1; }
# fsync stays on: the suite kills rbxd, not PostgreSQL, but the server's
# commits should cost what they cost in production.
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
  -o "-k $dir -c listen_addresses= -c max_connections=200 -c unix_socket_permissions=0777" start >/dev/null
psql_su() { as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -U "$su_user" "$@"; }
psql_su -d postgres -c "CREATE DATABASE rbx"
"$RBXD" --migrate --db "postgresql:///rbx?host=$dir&user=$su_user" 2>&1 | sed 's/^/   /'
psql_su -d rbx -c "CREATE ROLE rbxd_login LOGIN IN ROLE rbxd_app"
# The login role can call the functions and nothing else.
if psql_su -d rbx -c "SET ROLE rbxd_login; SELECT count(*) FROM rbx.mailbox" >/dev/null 2>&1; then
  echo "rbxd_login can read rbx.mailbox: the migration's grants are wrong"; exit 1
fi
export RBXD_TEST_PG="postgresql:///rbx?host=$dir&user=rbxd_login"
export RBXD_TEST_PG_ADMIN="postgresql:///rbx?host=$dir&user=$su_user"
"$B/check_rbxd"
echo "== rbxd suites passed in $(( $(date +%s) - t0 )) s"
