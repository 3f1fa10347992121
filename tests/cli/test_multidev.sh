#!/bin/bash
# SPDX-License-Identifier: MIT
# Users with several devices over a real rbxd (issue 16, PROTOCOL.md 21):
# three users with three devices each talk through one server on loopback;
# messages arrive out of order, a device is offline and catches up, a device
# joins, one is removed, one rotates its key, one is restored from a backup
# and asks for what it lost, one has a new registration (409 stale: a new
# session), users are bound to an organisation root; then the server lies (a device it signed
# itself, a list rolled back, a swapped bundle, a removal it signed itself,
# a device it silently stops delivering to) and every lie is refused or
# detected.
# The server runs on the real clock (rbx has no clock option); rbxd's
# SQLite file is edited behind its back by tests/cli/badserver.c.
set -u
. "$(dirname "$0")/lib.sh"
cli_begin "${TMPDIR:-/tmp}/rbx-multidev-test.$$"
RBXD=${RBXD:-$(dirname "$RBX")/rbxd}
case "$RBXD" in /*) ;; *) RBXD="$PWD/$RBXD" ;; esac
BAD="$TOOLS/badserver"
t0=$(date +%s)

# ------------------------------------------------------------ the server
"$RBXD" --listen 127.0.0.1:0 --db "sqlite:$T/rbxd.sqlite" --ready-file "$T/port" --log errors \
    > "$T/rbxd.log" 2>&1 &
RBXD_PID=$!
stop_server() { kill "$RBXD_PID" 2> /dev/null; wait "$RBXD_PID" 2> /dev/null; }
trap stop_server EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "FAIL: rbxd did not start: $(cat "$T/rbxd.log")"; exit 1; }
S="http://127.0.0.1:$(cat "$T/port")"
DB="$T/rbxd.sqlite"

# d NAME ARGS: rbx in device NAME's directory.
d() { local n=$1; shift; "$RBX" --dir "$T/$n" "$@"; }
# run NAME WANT DEVICE ARGS: rbx_run in a device's directory.
run() { local name=$1 want=$2 dev=$3; shift 3; rbx_run "$name" "$want" --dir "$T/$dev" "$@"; }
# id_of DEVICE: its device id, from its own list.
id_of() { d "$1" account devices --json | grep -o '"device":[0-9]*,"identity":{[^}]*},[^}]*"this_device":true' | sed 's/"device":\([0-9]*\),.*/\1/'; }

# The first device of each user.
run "create alice" 0 a1 account create alice --server "$S"
check "create prints the account" 'grep -Eq "^created alice as device [0-9]+ \(fingerprint [0-9a-f]{16}\)$" "$T/out"'
run "create bob" 0 b1 account create bob --server "$S"
run "create carol" 0 c1 account create carol --server "$S"
run "create again: another user" 73 a1 account create alicia
run "create: not a user id" 64 x1 account create Alice --server "$S"
check "the server is remembered" 'grep -qx "$S" "$T/a1/server"'

# link_join EXISTING NEW: a link code, a join that waits, an approval.
link_join() {
    run "link $2" 0 "$1" account link
    local code; code=$(cat "$T/out")
    check "link $2: a code" '[[ "$code" =~ ^[a-z2-7]{4}(-[a-z2-7]{4}){5}$ ]]'
    d "$2" account join "$code" --server "$S" > "$T/join.$2" 2> "$T/join.$2.err" &
    local jp=$!
    for _ in $(seq 100); do [ -s "$T/join.$2" ] && break; sleep 0.1; done
    local fp; fp=$(head -n 1 "$T/join.$2")
    run "approve $2" 0 "$1" account approve "$fp"
    wait "$jp"; local rc=$? nd=$2
    check "join $nd exits 0" '[ "$rc" = 0 ]'
    check "join $nd reports" 'grep -Eq "^joined [a-z]+ as device [0-9]+" "$T/join.$nd"'
}
link_join a1 a2
link_join b1 b2
link_join b1 b3
link_join c1 c2
link_join c1 c3
# A wrong fingerprint is not approved; an expired or absent link either.
run "link for a typo" 0 a1 account link
code=$(cat "$T/out")
d zz account join "$code" --server "$S" --wait 3 > "$T/join.zz" 2> /dev/null &
jp=$!
for _ in $(seq 100); do [ -s "$T/join.zz" ] && break; sleep 0.1; done
run "approve: another fingerprint" 65 a1 account approve 0000000000000000
check "approve names the real one" 'grep -q "fingerprint $(head -n 1 "$T/join.zz"), not 0000000000000000" "$T/err"'
wait "$jp"; rc=$?
check "the unapproved join gives up (75)" '[ "$rc" = 75 ]'
run "join: a bad code" 64 zz account join not-a-code --server "$S"

A1=$(id_of a1); A2=$(id_of a2); B1=$(id_of b1); B2=$(id_of b2); B3=$(id_of b3)
C1=$(id_of c1); C2=$(id_of c2); C3=$(id_of c3)
check "nine device ids" '[ -n "$A1" ] && [ -n "$C3" ] && [ "$B1" != "$B2" ]'
run "devices of bob, from a1" 0 a1 account devices bob
check "bob has three devices" 'grep -q "^bob: list 3 (first entry [0-9a-f]*), 3 devices$" "$T/out"'

# ------------------------------------------------------------ fan-out and sync copies
echo "m1" > "$T/m1"
run "a1 -> bob" 0 a1 send bob "$T/m1" --json
check "one send, 4 envelopes (3 of bob, a2's copy)" 'grep -q "\"sent\":{\"kind\":\"message\",\"to\":\"bob\",.*\"envelopes\":4" "$T/out"'
for x in b1 b2 b3; do
    run "$x syncs" 0 "$x" sync
    check "$x: m1 from a1" 'grep -qx "alice/$A1: m1" "$T/out"'
done
run "a2 syncs" 0 a2 sync --json
check "a2: a sync copy of m1 to bob" 'grep -q "\"from\":\"alice\",\"device\":$A1,\"to\":\"bob\",\"sync\":true,.*\"text\":\"m1\\\\n\"" "$T/out"'
run "c1 syncs: nothing" 0 c1 sync
check "c1 got nothing" '[ ! -s "$T/out" ]'

# ------------------------------------------------------------ out of order
printf 'm2\nm3\nm4\n' > "$T/three"
run "a1 streams three" 0 a1 send bob "$T/three" --stream
# The server hands b1 the first of them last.
"$BAD" "$DB" sql "UPDATE mailbox SET id = id + 1000000 WHERE id = (SELECT min(id) FROM mailbox WHERE uid = 'bob' AND device = $B1)"
run "b1 syncs out of order" 0 b1 sync
check "m3, m4, then m2" '[ "$(cat "$T/out")" = "$(printf "alice/%s: m3\nalice/%s: m4\nalice/%s: m2" "$A1" "$A1" "$A1")" ]'

# ------------------------------------------------------------ offline, then catch up
seq 1 150 | sed 's/^/c-/' > "$T/many"
run "c1 sends 150 to bob" 0 c1 send bob "$T/many" --stream
run "b2 syncs" 0 b2 sync
check "b2 has 3 + 150" '[ "$(grep -c "^alice/$A1: m" "$T/out")" = 3 ] && [ "$(grep -c "^carol/$C1: c-" "$T/out")" = 150 ]'
run "b3, offline until now, catches up" 0 b3 sync
check "b3: all 153, in order" '[ "$(grep -c "^carol/$C1: c-" "$T/out")" = 150 ] && [ "$(tail -n 1 "$T/out")" = "carol/$C1: c-150" ]'
run "c2 sees c1's copies" 0 c2 sync
check "c2: 150 sync copies" '[ "$(grep -c "^carol/$C1 -> bob: c-" "$T/out")" = 150 ]'

# ------------------------------------------------------------ a device joins
link_join a1 a3
A3=$(id_of a3)
echo "after the join" > "$T/m5"
run "b1 -> alice" 0 b1 send alice "$T/m5"
for x in a1 a2 a3; do
    run "$x syncs" 0 "$x" sync
    check "$x: from b1" 'grep -qx "bob/$B1: after the join" "$T/out"'
done
run "a3 sends to carol" 0 a3 send carol "$T/m5" --json
check "to carol's 3 and alice's other 2" 'grep -q "\"envelopes\":5" "$T/out"'

# ------------------------------------------------------------ a device is removed
run "b1 removes b2" 0 b1 account remove "$B2"
check "remove reports" 'grep -qx "removed device $B2 from bob" "$T/out"'
run "b2 is refused by the server (67)" 67 b2 sync
check "device_removed" 'grep -q "device_removed" "$T/err"'
echo "after the removal" > "$T/m6"
run "a1 -> bob" 0 a1 send bob "$T/m6" --json
check "b1, b3, a2, a3: 4 envelopes" 'grep -q "\"envelopes\":4" "$T/out"'
run "b3 syncs" 0 b3 sync
check "b3: after the removal" 'grep -qx "alice/$A1: after the removal" "$T/out"'
run "remove: not a device" 66 b1 account remove 12345

# ------------------------------------------------------------ a device rotates its key
run "c1 rotates" 0 c1 account rotate
check "rotated" 'grep -Eq "^rotated device $C1 of carol to fingerprint [0-9a-f]{16}$" "$T/out"'
echo "after the rotation" > "$T/m7"
run "c1 -> alice" 0 c1 send alice "$T/m7"
run "a1 follows the rotation by itself" 0 a1 sync
check "a1: from the rotated c1" 'grep -qx "carol/$C1: after the rotation" "$T/out"'
run "a1 -> carol reaches the new key" 0 a1 send carol "$T/m1"
run "c1 syncs" 0 c1 sync
check "c1: from a1" 'grep -q "^alice/$A1: " "$T/out"'

# ------------------------------------------------------------ restore from a backup, then a retry
run "b1 syncs before the backup" 0 b1 sync
cp -a "$T/b1" "$T/b1.bak"
turn() {
    echo "$2" > "$T/turn"
    run "a1 -> bob: $2" 0 a1 send bob "$T/turn"
    run "b1 takes it" 0 b1 sync
    run "b1 -> alice" 0 b1 send alice "$T/turn"
    run "a1 takes it" 0 a1 sync
}
turn x "turn 1"
turn x "turn 2"
rm -rf "$T/b1"
mv "$T/b1.bak" "$T/b1"
echo "lost to the restore" > "$T/m8"
run "a1 -> bob" 0 a1 send bob "$T/m8"
ERR_LINES=many run "restored b1 cannot decrypt: asks again" 0 b1 sync
check "b1 asked" 'grep -q "1 message(s) from alice/$A1 cannot be decrypted: asked for them again" "$T/err"'
check "and printed nothing" '! grep -q "lost to the restore" "$T/out"'
ERR_LINES=many run "a1 serves the retry" 0 a1 sync
check "a1 re-sent" 'grep -q "bob/$B1 asked for 1 message(s) again" "$T/err"'
run "b1 gets the re-send" 0 b1 sync --json
check "the lost message, marked re-sent" 'grep -q "\"from\":\"alice\",\"device\":$A1,.*\"resent\":true,.*\"text\":\"lost to the restore\\\\n\"" "$T/out"'
echo "and on" > "$T/m9"
run "a1 -> bob after recovery" 0 a1 send bob "$T/m9"
run "b1 syncs" 0 b1 sync
check "b1: and on" 'grep -qx "alice/$A1: and on" "$T/out"'

# ------------------------------------------------------------ a device with a new registration
# b3 has a new registration id (SERVER.md 5.3: its state was reset behind
# the same key): rbxd answers a1's send 409 stale, a1 fetches bob's list
# (the new id) and a bundle, and starts a new session with b3.
"$BAD" "$DB" exec "UPDATE device SET registration_id = registration_id + 1 WHERE uid = 'bob' AND device = $B3"
echo "a new session" > "$T/m11"
run "a1 -> bob after b3's re-registration" 0 a1 send bob "$T/m11" --json
check "still 4 envelopes" 'grep -q "\"envelopes\":4" "$T/out"'
last_len() { "$BAD" "$DB" sql "SELECT length(body) FROM mailbox WHERE uid = 'bob' AND device = $1 ORDER BY id DESC LIMIT 1"; }
check "b3's is a first message again (a handshake longer than b1's)" '[ "$(last_len "$B3")" -gt $(( $(last_len "$B1") + 40 )) ]'
for x in b1 b3; do
    run "$x syncs" 0 "$x" sync
    check "$x: a new session" 'grep -qx "alice/$A1: a new session" "$T/out"'
done

# ------------------------------------------------------------ an organisation root
ORG1=$(d c2 id --json | sed -n 's/.*"public_key":"\([^"]*\)".*/\1/p')
ORG2=$(d c3 id --json | sed -n 's/.*"public_key":"\([^"]*\)".*/\1/p')
run "contact add --org: not a key" 64 a1 contact add carol --org nope
run "b1 binds carol to a root (her device-signed list still verifies)" 0 b1 contact add carol --org "$ORG1"
check "verified" 'grep -qx "verified carol" "$T/out"'
run "the same root again" 0 b1 contact add carol --org "$ORG1"
run "another root for carol: refused" 73 b1 contact add carol --org "$ORG2"
check "named" 'grep -q "carol is bound to another organisation root" "$T/err"'

# ------------------------------------------------------------ prekey upkeep on its own
# c1's one-time prekeys on the server all claimed (deleted here): its next
# sync after its upkeep is due (DIR/upkeep gone: as if its period had passed)
# uploads a batch by itself, no verb asked for it.
"$BAD" "$DB" exec "DELETE FROM otk WHERE uid = 'carol' AND device = $C1"
check "c1 has no one-time prekey on the server" '[ "$("$BAD" "$DB" sql "SELECT count(*) FROM otk WHERE uid = '"'"'carol'"'"' AND device = $C1")" = 0 ]'
rm -f "$T/c1/upkeep"
run "c1 syncs" 0 c1 sync
OTK=$("$BAD" "$DB" sql "SELECT count(*) FROM otk WHERE uid = 'carol' AND device = $C1")
check "c1 refilled its one-time prekeys by itself ($OTK)" '[ "$OTK" -gt 0 ]'
check "the upkeep time is kept" '[ -f "$T/c1/upkeep" ]'

# ------------------------------------------------------------ the server lies
# (a) it adds a device to carol's list, signed by itself.
EVIL=$("$BAD" "$DB" add-device carol)
check "the server added device $EVIL" '[ -n "$EVIL" ]'
run "a1 refuses carol's extended list" 65 a1 account devices carol
check "refused, named" 'grep -q "refused carol.s device list from .*: an entry was not signed by a device of the list" "$T/err"'
run "a sends to carol: refused, not sent" 65 a2 send carol "$T/m1"
check "nothing went to the server's device" '[ "$("$BAD" "$DB" sql "SELECT count(*) FROM mailbox WHERE uid = '"'"'carol'"'"' AND device = $EVIL")" = 0 ]'
"$BAD" "$DB" drop-last carol > /dev/null
run "the honest list again" 0 a1 account devices carol
check "carol has 3 devices" 'grep -q "3 devices$" "$T/out"'
# (b) it drops the newest entry (c1's rotation): a rollback.
"$BAD" "$DB" drop-last carol > /dev/null
run "a1 refuses the rolled-back list" 65 a1 account devices carol
check "a rollback, named" 'grep -q "rolled it back to an older list" "$T/err"'
# (c) it swaps the bundle of a device a3 has no session with yet.
"$BAD" "$DB" swap-bundle bob "$B3"
run "a3 -> bob refuses the swapped bundle" 65 a3 send bob "$T/m1"
check "named" 'grep -q "refused the bundle of bob device $B3 from .*: its key is not the one the verified device list names" "$T/err"'
# (d) it removes b3 from bob's list with an entry it signed itself.
"$BAD" "$DB" remove-device bob "$B3"
run "a1 refuses bob's list without b3" 65 a1 account devices bob
check "refused, named" 'grep -q "refused bob.s device list from .*: an entry was not signed by a device of the list" "$T/err"'
"$BAD" "$DB" drop-last bob > /dev/null
# (e) it drops b3 silently: no entry, it just stops delivering to it.
"$BAD" "$DB" exec "UPDATE device SET active = 0 WHERE uid = 'bob' AND device = $B3"
echo "not without b3" > "$T/m10"
BOX=$("$BAD" "$DB" sql "SELECT count(*) FROM mailbox")
run "a1 -> bob: the server would drop b3" 65 a1 send bob "$T/m10"
check "detected, named" 'grep -q "the server will not deliver to bob device $B3, which bob.s verified device list holds" "$T/err"'
check "nothing stored for anyone" '[ "$("$BAD" "$DB" sql "SELECT count(*) FROM mailbox")" = "$BOX" ]'
"$BAD" "$DB" exec "UPDATE device SET active = 1 WHERE uid = 'bob' AND device = $B3"
run "the server relents: a1's next sync posts the pending send" 0 a1 sync
for x in b1 b3; do
    run "$x syncs" 0 "$x" sync
    check "$x: not without b3" 'grep -qx "alice/$A1: not without b3" "$T/out"'
done

echo "test_multidev: $passed passed, $failed failed ($(( $(date +%s) - t0 )) s)"
[ "$failed" = 0 ]
