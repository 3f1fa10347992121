#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rbx policy and rbx audit (issue 6 sections 6 and 7), run by make check-cli:
# show, set, load, defaults and --json; every error's exit code and message;
# the audit log listed and verified, then tampered with through the sqlite3
# command-line shell (skipped if it is not installed). Ends with
# "N passed, M failed" and exits non-zero on any failure.
#
# Environment: RBX (build/rbx), TOOLS (build/tools, unused here), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test-policy}"

run() { rbx_run "$@"; }
err_has() { grep -qF -- "$1" "$T/err"; }
A=(--dir "$T/a")

DEFAULTS='spk_rotate = 2d
spk_max_age = 14d
spk_keep = 30d
onetime_low = 10
onetime_batch = 100
identity_grace = 7d
archive = off
archive_retention = 365d
storage_mode = bounded
max_skip = 1000
max_skipped_keys = 2000
require_org = none'
# --json: times in seconds, counts as numbers, on/off as booleans (PROTOCOL.md 21).
DEFAULTS_JSON='{"version":1,"spk_rotate":172800,"spk_max_age":1209600,"spk_keep":2592000,"onetime_low":10,"onetime_batch":100,"identity_grace":604800,"archive":false,"archive_retention":31536000,"storage_mode":"bounded","max_skip":1000,"max_skipped_keys":2000,"require_org":null}'

# ------------------------------------------------------------------ help, before init
run "help" 0 help
check "help lists policy and audit" 'grep -q "rbx policy" "$T/out" && grep -q "rbx audit" "$T/out"'
run "policy --help" 0 policy --help
run "audit --help" 0 audit --help
run "policy before init" 66 "${A[@]}" policy
run "audit before init" 66 "${A[@]}" audit
t_init0=$(now)
run "init" 0 "${A[@]}" init
t_init1=$(now)

# ------------------------------------------------------------------ show
run "policy (defaults)" 0 "${A[@]}" policy
check "defaults, one 'key = value' per line" '[ "$(cat "$T/out")" = "$DEFAULTS" ]'
run "policy show" 0 "${A[@]}" policy show
check "show is the same" '[ "$(cat "$T/out")" = "$DEFAULTS" ]'
run "policy --json" 0 "${A[@]}" policy --json
check "policy --json is one object" '[ "$(cat "$T/out")" = "$DEFAULTS_JSON" ]'

# ------------------------------------------------------------------ set
run "set two keys" 0 "${A[@]}" policy set max_skip 10 spk_rotate 36h
check "set prints the new policy" 'grep -qx "max_skip = 10" "$T/out" && grep -qx "spk_rotate = 36h" "$T/out" && grep -qx "spk_keep = 30d" "$T/out"'
run "set, units" 0 "${A[@]}" policy set spk_keep 90m spk_max_age 5400 spk_rotate 1800s onetime_low 20 --json
check "units read (5400 s, 1800s), json in seconds" 'grep -q "\"spk_max_age\":5400," "$T/out" && grep -q "\"spk_rotate\":1800," "$T/out" && grep -q "\"onetime_low\":20," "$T/out"'
run "policy after set" 0 "${A[@]}" policy
cp "$T/out" "$T/policy.now"
check "keys not named keep their values" 'grep -qx "max_skip = 10" "$T/out" && grep -qx "archive = off" "$T/out"'

run "set unknown key" 64 "${A[@]}" policy set max_skip 20 bogus 1
check "unknown key is named" 'err_has "rbx: policy: unknown policy key '"'"'bogus'"'"'"'
run "set without a value" 64 "${A[@]}" policy set max_skip
run "set without keys" 64 "${A[@]}" policy set
run "unknown subcommand" 64 "${A[@]}" policy frob
run "show with an argument" 64 "${A[@]}" policy show max_skip
run "bad option" 64 "${A[@]}" policy --frob
run "set max_skip 0" 65 "${A[@]}" policy set max_skip 0
check "range in the message" 'err_has "rbx: policy: max_skip: must be a whole number from 1 to 1000" && err_has "(got '"'"'0'"'"')"'
run "set max_skip -1" 65 "${A[@]}" policy set max_skip -1
run "set spk_rotate 59s" 65 "${A[@]}" policy set spk_rotate 59s
check "time range in the message" 'err_has "spk_rotate: must be a time from 1m to 365d"'
run "set spk_rotate 1w" 65 "${A[@]}" policy set spk_rotate 1w
run "set archive yes" 65 "${A[@]}" policy set archive yes
check "archive: on or off" 'err_has "archive: must be on or off"'
run "set storage_mode paranoid" 65 "${A[@]}" policy set storage_mode paranoid
run "set against an order" 65 "${A[@]}" policy set spk_max_age 20m
check "the order is named" 'err_has "spk_max_age: must be" && err_has "at least spk_rotate"'
run "set, other side of an order" 65 "${A[@]}" policy set max_skipped_keys 5
check "max_skipped_keys at least max_skip" 'err_has "max_skipped_keys: must be" && err_has "at least max_skip"'
run "set, all or nothing" 65 "${A[@]}" policy set max_skip 20 archive maybe
run "policy unchanged by refused sets" 0 "${A[@]}" policy
check "nothing was stored" 'cmp -s "$T/out" "$T/policy.now"'

run "status: bounded" 0 "${A[@]}" status
check "status shows the bounded mode" 'grep -q "^storage: .*, bounded" "$T/out"'
run "set strict" 0 "${A[@]}" policy set storage_mode strict
run "status: strict" 0 "${A[@]}" status --json
check "status shows the policy's strict mode" 'grep -q "\"mode\":\"strict\"" "$T/out"'
run "set bounded" 0 "${A[@]}" policy set storage_mode bounded

# ------------------------------------------------------------------ load
cat > "$T/p1" <<'EOF'
# a policy for tests

spk_rotate = 1d      # daily
  spk_max_age=7d
archive = on
storage_mode = strict
EOF
run "load a file" 0 "${A[@]}" policy load "$T/p1"
check "load: named keys" 'grep -qx "spk_rotate = 1d" "$T/out" && grep -qx "spk_max_age = 7d" "$T/out" && grep -qx "archive = on" "$T/out" && grep -qx "storage_mode = strict" "$T/out"'
check "load: other keys back to defaults" 'grep -qx "max_skip = 1000" "$T/out" && grep -qx "onetime_low = 10" "$T/out"'
cp "$T/out" "$T/policy.now"
"$RBX" "${A[@]}" policy > "$T/show.out"
STDIN="$T/show.out" run "load what policy shows, from stdin" 0 "${A[@]}" policy load -
check "show | load is the identity" 'cmp -s "$T/out" "$T/policy.now"'
printf 'spk_rotate = 1d\n\nmax_skip\n' > "$T/p2"
run "load: line without =" 65 "${A[@]}" policy load "$T/p2"
check "line number named with the path as given" 'err_has "$T/p2:3: expected '"'"'key = value'"'"'"'
# The path is never cut short, however deep the file (CI checks out deep).
LONGDIR="$T/a-directory-name-long-enough-to-push-the-path-past-any-fixed-width-buffer"
mkdir -p "$LONGDIR" && cp "$T/p2" "$LONGDIR/p2"
run "load: line without =, deep path" 65 "${A[@]}" policy load "$LONGDIR/p2"
check "deep path named in full" 'err_has "$LONGDIR/p2:3: expected '"'"'key = value'"'"'"'
printf '# x\nfoo = 1\n' > "$T/p3"
run "load: unknown key" 65 "${A[@]}" policy load "$T/p3"
check "unknown key with its line" 'err_has ":2: unknown policy key '"'"'foo'"'"'"'
printf 'max_skip = 5\nmax_skip = 6\n' > "$T/p4"
run "load: key twice" 65 "${A[@]}" policy load "$T/p4"
check "duplicate named" 'err_has ":2: max_skip set again (first on line 1)"'
printf 'archive = on\nmax_skip = 5000\n' > "$T/p5"
run "load: bad value" 65 "${A[@]}" policy load "$T/p5"
check "bad value with its line" 'err_has ":2: max_skip: must be a whole number from 1 to 1000"'
printf 'spk_rotate = 2d\nspk_max_age = 1d\n' > "$T/p6"
run "load: broken order" 65 "${A[@]}" policy load "$T/p6"
check "broken order with its line" 'err_has ":2: spk_max_age: must be" && err_has "at least spk_rotate"'
run "load: missing file" 66 "${A[@]}" policy load "$T/nope"
run "load: no file" 64 "${A[@]}" policy load
run "policy unchanged by refused loads" 0 "${A[@]}" policy
check "nothing was stored" 'cmp -s "$T/out" "$T/policy.now"'

# ------------------------------------------------------------------ defaults
run "defaults" 0 "${A[@]}" policy defaults
check "defaults restored" '[ "$(cat "$T/out")" = "$DEFAULTS" ]'
run "defaults with an argument" 64 "${A[@]}" policy defaults now

# ------------------------------------------------------------------ audit
run "audit" 0 "${A[@]}" audit
EVENTS=$(wc -l < "$T/out")
check "audit: store created first" 'head -n 1 "$T/out" | grep -Eq "^ +1  [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z  store created +schema 4$"'
# store and identity created, four sets, one load, defaults; the load of an
# unchanged policy records nothing
check "audit: one event per change" '[ "$EVENTS" = 8 ]'
check "audit: the identity is recorded" 'sed -n 2p "$T/out" | grep -Eq "identity created +[0-9a-f]{16}, generated$"'
check "audit: the set is recorded" 'sed -n 3p "$T/out" | grep -q "policy changed.*spk_rotate=36h max_skip=10"'
t_audit=$(now)
run "audit --json" 0 "${A[@]}" audit --json
check "audit --json: one object per event" '[ "$(grep -c "^{\"version\":1,\"seq\":[0-9]*,\"time\":{\"unix\":[0-9]*,\"rfc3339\":\"[0-9T:Z-]*\"},\"event\":\"[a-z ]*\",\"detail\":\".*\",\"hash\":\"[0-9a-f]\{64\}\"}$" "$T/out")" = "$EVENTS" ]'
sed -n 's/.*"time":{"unix":\([0-9]*\),"rfc3339":"\([^"]*\)"}.*/\2 \1/p' "$T/out" > "$T/times"
check "audit --json: the store was created during init" 'within "$t_init0" "$(sed -n "1s/.* //p" "$T/times")" "$t_init1"'
check "audit --json: every time in order, none after the audit" 'sort -n -k2,2 -c "$T/times" && within "$t_init0" "$(tail -n 1 "$T/times" | cut -d" " -f2)" "$t_audit"'
while read -r iso u; do echo "$(iso_of "$u") $u"; done < "$T/times" > "$T/times.want"
check "audit --json: time is unix_time in UTC" '[ "$(wc -l < "$T/times")" = "$EVENTS" ] && cmp -s "$T/times" "$T/times.want"'
run "audit --verify" 0 "${A[@]}" audit --verify
check "verified" '[ "$(cat "$T/out")" = "audit log: $EVENTS events, chain verified" ]'
run "audit --verify --json" 0 "${A[@]}" audit --verify --json
check "verified (json)" '[ "$(cat "$T/out")" = "{\"version\":1,\"events\":$EVENTS,\"verified\":true,\"bad_seq\":null,\"removed_at_end\":false}" ]'
run "audit with an argument" 64 "${A[@]}" audit now
run "audit bad option" 64 "${A[@]}" audit --frob

if command -v sqlite3 > /dev/null; then
    DB="$T/a/state.db"
    cp -p "$DB" "$T/saved.db"
    # tamper SQL: the saved database back in place, then SQL run on it.
    tamper() { cp -p "$T/saved.db" "$DB"; sqlite3 "$DB" "$1" || bad "sqlite3: $1"; }
    tamper "UPDATE audit SET detail = 'max_skip=11' WHERE seq = 2"
    run "verify an edited event" 65 "${A[@]}" audit --verify
    check "edited event named" 'err_has "rbx: audit: audit log: chain broken at event 2"'
    run "list an edited log" 65 "${A[@]}" audit
    check "list stops before the edit" '[ "$(wc -l < "$T/out")" = 1 ] && err_has "chain broken at event 2"'
    run "verify --json of an edited event" 65 "${A[@]}" audit --verify --json
    check "json names it" 'grep -q "\"verified\":false,\"bad_seq\":2" "$T/out"'
    cp -p "$T/saved.db" "$DB"
    run "restored copy verifies" 0 "${A[@]}" audit --verify
    tamper "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)"
    run "verify with the last event deleted" 65 "${A[@]}" audit --verify
    check "removal at the end" 'err_has "audit log: $((EVENTS - 1)) events, events removed at the end"'
    tamper "DELETE FROM audit WHERE seq = 3"
    run "verify with a middle event deleted" 65 "${A[@]}" audit --verify
    check "missing event named" 'err_has "chain broken at event 3"'
    tamper "INSERT INTO audit VALUES (99, 0, 'policy changed', 'x', zeroblob(32))"
    run "verify with an event appended" 65 "${A[@]}" audit --verify
    check "appended event named" 'err_has "chain broken at event $((EVENTS + 1))"'
    tamper "DELETE FROM audit; DELETE FROM meta WHERE k = 'audit_head'"
    run "verify with the log and its head deleted" 65 "${A[@]}" audit --verify
    tamper "INSERT OR REPLACE INTO policy VALUES ('max_skip', 5000)"
    run "a tampered policy row refuses the store" 74 "${A[@]}" policy
    check "as damaged" 'err_has "rbx: policy: cannot open"'
    cp -p "$T/saved.db" "$DB"
    run "restored copy opens" 0 "${A[@]}" policy
else
    echo "sqlite3 not installed: tampering tests skipped"
fi

# ------------------------------------------------------------------ the manual
for v in policy audit; do check "rbx.1 documents $v" 'grep -q "^\.B $v\b" "$MAN"'; done
for k in spk_rotate spk_max_age spk_keep onetime_low onetime_batch identity_grace archive archive_retention storage_mode max_skip max_skipped_keys require_org; do
    check "rbx.1 documents $k" 'grep -q "^\.BR.*\b$k\b" "$MAN"'
done

cli_end
