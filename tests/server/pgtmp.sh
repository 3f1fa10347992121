# SPDX-License-Identifier: MIT
# A throwaway PostgreSQL 15 cluster for the rbxd suite and benchmark (sourced
# by tests/server/run.sh and bench/server.sh):
#   pgtmp_start RBXD   initdb into a fresh temporary directory owned by the
#                      postgres user (initdb refuses root), trust auth, no TCP,
#                      a unix socket in that directory; database rbx with the
#                      migration installed by `RBXD --migrate` as the
#                      superuser; login role rbxd_login in rbxd_app. Sets
#                      PGTMP_DIR, PGTMP_URL (rbxd_login) and PGTMP_ADMIN_URL.
#                      Returns 2 (with a reason printed) if postgresql-15 is
#                      not installed.
#                      With PGTMP_FAST=1 the cluster runs with
#                      synchronous_commit=off: commits are visible at once but
#                      not waited for on disk. The suite uses it (it kills rbxd,
#                      never PostgreSQL, so no test depends on PostgreSQL's own
#                      durability); the benchmark does not.
#   pgtmp_stop         stop the cluster and remove its directory (safe to call
#                      twice; run.sh and server.sh call it from an EXIT trap).
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGTMP_DIR=

pgtmp_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pgtmp_start() {
  local rbxd=$1
  if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ] || [ ! -x "$PGBIN/psql" ]; then
    echo "postgresql-15 is not installed ($PGBIN/initdb missing; make deps installs it)"
    return 2
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "there is no postgres user to run initdb as"
    return 2
  fi
  PGTMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rbxd-pg-XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres: "$PGTMP_DIR"
  chmod 700 "$PGTMP_DIR"
  local su
  su=$(if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi)
  pgtmp_as_pg "$PGBIN/initdb" -D "$PGTMP_DIR/data" -A trust -U "$su" -E UTF8 --no-instructions \
    >"$PGTMP_DIR/initdb.log" 2>&1 || { cat "$PGTMP_DIR/initdb.log"; return 1; }
  # Without PGTMP_FAST, commits cost what they cost in production.
  local fast=
  [ "${PGTMP_FAST:-0}" = 1 ] && fast="-c synchronous_commit=off"
  pgtmp_as_pg "$PGBIN/pg_ctl" -D "$PGTMP_DIR/data" -l "$PGTMP_DIR/postgres.log" -w -t 60 \
    -o "-k $PGTMP_DIR -c listen_addresses= -c max_connections=300 -c unix_socket_permissions=0777 $fast" \
    start >/dev/null || { cat "$PGTMP_DIR/postgres.log"; return 1; }
  pgtmp_as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGTMP_DIR" -U "$su" -d postgres \
    -c "CREATE DATABASE rbx" || return 1
  PGTMP_ADMIN_URL="postgresql:///rbx?host=$PGTMP_DIR&user=$su"
  "$rbxd" --migrate --db "$PGTMP_ADMIN_URL" 2>&1 | sed 's/^/   /'
  pgtmp_as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGTMP_DIR" -U "$su" -d rbx \
    -c "CREATE ROLE rbxd_login LOGIN IN ROLE rbxd_app" || return 1
  # The login role may call the functions and touch no table.
  if pgtmp_as_pg "$PGBIN/psql" -X -q -h "$PGTMP_DIR" -U rbxd_login -d rbx \
       -c "SELECT count(*) FROM rbx.mailbox" >/dev/null 2>&1; then
    echo "rbxd_login can read rbx.mailbox: the migration's grants are wrong"
    return 1
  fi
  PGTMP_URL="postgresql:///rbx?host=$PGTMP_DIR&user=rbxd_login"
  export PGTMP_DIR PGTMP_URL PGTMP_ADMIN_URL
}

pgtmp_stop() {
  [ -n "$PGTMP_DIR" ] || return 0
  if [ -f "$PGTMP_DIR/data/postmaster.pid" ]; then
    pgtmp_as_pg "$PGBIN/pg_ctl" -D "$PGTMP_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGTMP_DIR"
  PGTMP_DIR=
}
