#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The rbx command-line suite (issue 4 section 4), run by make check-cli:
# every verb and exit code, hostile inputs, two concurrent senders, the demo
# in quick mode, and rbx sim against SECURITY.md's exposure table. Ends with
# "N passed, M failed" and exits non-zero on any failure.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test}"

run() { rbx_run "$@"; }
A=(--dir "$T/alice") B=(--dir "$T/bob") C=(--dir "$T/carol")


# ------------------------------------------------------------------ help, usage (64)
run "help" 0 help
# (as rows "  64  ...": a bare 64 is also in "base64")
for c in 64 65 66 67 69 70 73 74 75; do check "help lists exit code $c" 'grep -q "^  $c  [a-z]" "$T/out"'; done
run "version" 0 version
check "version is x.y.z" 'grep -Eq "[0-9]+\.[0-9]+\.[0-9]+" "$T/out"'
run "send --help" 0 send --help
run "unknown verb" 64 frobnicate
run "no verb" 64
run "--dir without a value" 64 --dir
run "send without NAME" 64 "${A[@]}" send
run "unknown option" 64 "${A[@]}" id --bogus
run "bundle --one-time abc" 64 "${A[@]}" bundle --one-time abc

# ------------------------------------------------------------------ init, id (0, 66, 73, 65)
run "id before init" 66 "${A[@]}" id
run "init (generate)" 0 "${A[@]}" init
run "init again" 73 "${A[@]}" init
check "state dir is private" '[ "$(stat -c %a "$T/alice/state.db.key")" = 600 ]'
"$TOOLS/boxtool" keygen "$T/bob.json"
run "init --import JSON" 0 "${B[@]}" init --import "$T/bob.json"
run "id" 0 "${B[@]}" id
check "id prints the imported key and a fingerprint" '[ "$(cut -d" " -f1 "$T/out")" = "$("$TOOLS/boxtool" pk "$T/bob.json")" ] && grep -Eq "^[A-Za-z0-9+/=]{44} [0-9a-f]{16}$" "$T/out"'
BOB_FP=$(cut -d' ' -f2 "$T/out")
run "id --json" 0 "${B[@]}" id --json
check "id --json has the fingerprint" 'grep -q "\"$BOB_FP\"" "$T/out"'
# 64 raw bytes (public key then secret key) from stdin.
"$TOOLS/boxtool" keygen "$T/carol.json"
{ keyfile_field publicKey "$T/carol.json" | base64 -d; keyfile_field secretKey "$T/carol.json" | base64 -d; } > "$T/carol.raw"
STDIN="$T/carol.raw" run "init --import - (64 raw bytes)" 0 "${C[@]}" init --import -
run "id after raw import" 0 "${C[@]}" id
check "raw import kept the key" '[ "$(cut -d" " -f1 "$T/out")" = "$("$TOOLS/boxtool" pk "$T/carol.json")" ]'
head -c 63 "$T/carol.raw" > "$T/short.raw"
run "init --import 63 bytes" 65 --dir "$T/x1" init --import "$T/short.raw"
echo '{"publicKey": "AAAA", "secretKey": "BBBB"}' > "$T/badkey.json"
run "init --import bad JSON" 65 --dir "$T/x2" init --import "$T/badkey.json"
run "init --import missing file" 66 --dir "$T/x3" init --import "$T/nope.json"
RBX_DIR="$T/viaenv" run "RBX_DIR selects the directory" 0 init
check "RBX_DIR state created" '[ -f "$T/viaenv/state.db" ]'
(unset RBX_DIR; "$RBX" init > /dev/null 2>&1)
check "default dir is ~/.local/share/ratchetbox" '[ -f "$HOME/.local/share/ratchetbox/state.db" ]'

# ------------------------------------------------------------------ bundle, add (0, 65, 66, 73)
run "bundle" 0 "${B[@]}" bundle
check "bundle is one base64 line" '[ "$(wc -l < "$T/out")" = 1 ] && grep -Eq "^[A-Za-z0-9+/]+=*$" "$T/out"'
cp "$T/out" "$T/bob.bundle"
run "bundle --one-time 1 --json" 0 "${B[@]}" bundle --one-time 1 --json
check "bundle --json is an object" 'grep -q "^{.*}$" "$T/out"'
# issue 18: --one-time N once meant "yes" for any N > 0; it means N or is refused.
run "bundle --one-time 5 refused" 64 "${B[@]}" bundle --one-time 5
check "the refusal names --count" 'grep -q "^rbx: bundle: --one-time 5: a bundle carries one one-time prekey or none.*--count N prints N bundles" "$T/err"'
unoffered() { "$RBX" "${B[@]}" status --json 2>/dev/null | sed -n 's/.*"onetime_unoffered":\([0-9]*\).*/\1/p'; }
u0=$(unoffered)
run "bundle --no-one-time --json" 0 "${B[@]}" bundle --no-one-time --json
check "no one-time prekey in it" 'grep -q "\"one_time_prekey_id\":null" "$T/out" && grep -q "^{\"version\":1,\"bundle\":\"" "$T/out"'
check "the pool is left as it is" '[ "$(unoffered)" = "$u0" ]'
run "bundle --one-time 0 (the same)" 0 "${B[@]}" bundle --one-time 0 --json
check "--one-time 0: none" 'grep -q "\"one_time_prekey_id\":null" "$T/out"'
run "bundle --count 3 --json" 0 "${B[@]}" bundle --count 3 --json
check "three bundles, three distinct one-time prekeys" '[ "$(wc -l < "$T/out")" = 3 ] && [ "$(grep -o "\"one_time_prekey_id\":[0-9]*" "$T/out" | sort -u | wc -l)" = 3 ]'
check "three fewer unoffered than before" '[ "$(unoffered)" = "$((u0 - 3))" ]'
run "bundle --count 2 --no-one-time" 0 "${B[@]}" bundle --count 2 --no-one-time
check "two lines" '[ "$(wc -l < "$T/out")" = 2 ] && [ "$(unoffered)" = "$((u0 - 3))" ]'
run "bundle --count 0" 64 "${B[@]}" bundle --count 0
run "bundle --count 1001" 64 "${B[@]}" bundle --count 1001
sed 's/\\-/-/g' "$MAN" > "$T/man.txt"
for o in no-one-time count; do check "rbx.1 documents --$o" 'grep -q "^\.BI* --$o" "$T/man.txt"'; done
run "alice bundle" 0 "${A[@]}" bundle; cp "$T/out" "$T/alice.bundle"
run "carol bundle" 0 "${C[@]}" bundle; cp "$T/out" "$T/carol.bundle"
run "bundle without identity" 66 --dir "$T/x4" bundle
run "add" 0 "${A[@]}" add bob "$T/bob.bundle"
run "add again before any session (refreshes the bundle)" 0 "${A[@]}" add bob "$T/bob.bundle"
run "add a name pinned to another identity" 65 "${A[@]}" add bob "$T/carol.bundle"
STDIN="$T/alice.bundle" run "add from stdin" 0 "${B[@]}" add alice -
run "add carol" 0 "${A[@]}" add carol "$T/carol.bundle"
run "add missing file" 66 "${A[@]}" add dave "$T/nope.bundle"
head -c 120 /dev/urandom > "$T/random.bin"
run "add random bytes" 65 "${A[@]}" add dave "$T/random.bin"
head -c 50 "$T/bob.bundle" > "$T/trunc.bundle"
run "add truncated base64" 65 "${A[@]}" add dave "$T/trunc.bundle"
# Flip a byte inside the signature (protobuf field 5: tag 0x2a, length 0x40).
sig_at=$(b64_bytes < "$T/bob.bundle" |
         awk '{ b[NR - 1] = $1 } END { for (i = 0; i + 1 < NR; i++) if (b[i] == 42 && b[i + 1] == 64) { print i + 10; exit } }')
flip "$sig_at" < "$T/bob.bundle" > "$T/badsig.bundle"
run "add bundle with a bad signature" 65 "${A[@]}" add dave "$T/badsig.bundle"
check "bad signature is reported as such" 'grep -qi signature "$T/err"'
run "add with a bad name" 64 "${A[@]}" add "" "$T/bob.bundle"

# ------------------------------------------------------------------ send, recv (0, 65, 66)
printf 'hello bob' > "$T/m1"
run "send (first message: handshake)" 0 "${A[@]}" send bob "$T/m1"
cp "$T/out" "$T/l1"
check "send prints one line" '[ "$(wc -l < "$T/l1")" = 1 ]'
run "add again once a session exists" 73 "${A[@]}" add bob "$T/bob.bundle"
run "send to an unknown contact" 66 "${A[@]}" send nobody "$T/m1"
run "send a missing file" 66 "${A[@]}" send bob "$T/nope"
run "recv" 0 "${B[@]}" recv "$T/l1"
check "recv prints the plaintext" '[ "$(cat "$T/out")" = "hello bob" ]'
check "recv names the sender on stderr" 'grep -q "^rbx: recv: from alice" "$T/err"'
run "replay" 65 "${B[@]}" recv "$T/l1"
STDIN="$T/m1" run "reply from stdin" 0 "${B[@]}" send alice -
cp "$T/out" "$T/l2"
run "recv --json" 0 "${A[@]}" recv --json "$T/l2"
check "recv --json fields" 'grep -q "\"from\":\"bob\"" "$T/out" && grep -q "\"new_contact\":false" "$T/out" && [ "$(sed -n "s/.*\"plaintext_b64\":\"\([^\"]*\)\".*/\1/p" "$T/out" | base64 -d)" = "hello bob" ]'
run "send 2" 0 "${A[@]}" send bob "$T/m1"; cp "$T/out" "$T/l3"
run "recv random bytes" 65 "${B[@]}" recv "$T/random.bin"
head -c 40 "$T/l3" > "$T/l3.trunc"
run "recv truncated base64" 65 "${B[@]}" recv "$T/l3.trunc"
len=$(base64 -d < "$T/l3" | wc -c)
flip $((len - 3)) < "$T/l3" > "$T/l3.tampered"
run "recv a tampered byte" 65 "${B[@]}" recv "$T/l3.tampered"
run "recv the untampered message after the forgery" 0 "${B[@]}" recv "$T/l3"
run "recv missing file" 66 "${B[@]}" recv "$T/nope"
# A message for someone else: carol knows alice (a session of her own).
run "carol adds alice" 0 "${C[@]}" add alice "$T/alice.bundle"
printf 'for carol' | "$RBX" "${A[@]}" send carol - > "$T/lc"
run "carol reads hers" 0 "${C[@]}" recv "$T/lc"
run "send 3" 0 "${A[@]}" send bob "$T/m1"; cp "$T/out" "$T/l4"
run "a message for bob, at carol" 65 "${C[@]}" recv "$T/l4"
run "bob still reads it" 0 "${B[@]}" recv "$T/l4"
# A handshake for bob at carol (who does not hold bob's prekeys).
"$TOOLS/boxtool" keygen "$T/dave.json"
"$RBX" --dir "$T/dave" init --import "$T/dave.json" > /dev/null 2>&1
"$RBX" "${B[@]}" bundle > "$T/bob2.bundle"
"$RBX" --dir "$T/dave" add bob "$T/bob2.bundle" > /dev/null 2>&1
printf 'hi' | "$RBX" --dir "$T/dave" send bob - > "$T/ld" 2> /dev/null
run "a handshake for bob, at carol" 65 "${C[@]}" recv "$T/ld"
run "unknown sender (not a handshake)" 66 --dir "$T/viaenv" recv "$T/l4"
run "bob accepts dave (new contact)" 0 "${B[@]}" recv --json "$T/ld"
check "new contact is named by fingerprint" 'grep -q "\"new_contact\":true" "$T/out"'

# ------------------------------------------------------------------ stream
for i in 1 2 3 4 5; do echo "delta $i"; done > "$T/deltas"
STDIN="$T/deltas" run "send --stream" 0 "${A[@]}" send --stream bob
cp "$T/out" "$T/stream.lines"
check "one line per message" '[ "$(wc -l < "$T/stream.lines")" = 5 ]'
STDIN="$T/stream.lines" run "recv --stream" 0 "${B[@]}" recv --stream
check "recv --stream: one plaintext line per line" 'cmp -s "$T/out" "$T/deltas"'
{ echo "second $RANDOM"; echo "third"; } > "$T/d2"
"$RBX" "${A[@]}" send --stream bob < "$T/d2" > "$T/s2"
{ sed -n 1p "$T/s2"; echo "not base64!"; sed -n 2p "$T/s2"; } > "$T/mixed"
STDIN="$T/mixed" run "recv --stream skips a bad line, exits 65" 65 "${B[@]}" recv --stream
check "the good lines were read" '[ "$(grep -c . "$T/out")" = 2 ] && grep -q "^third$" "$T/out"'

# ------------------------------------------------------------------ an idle stream erases
# recv --stream waiting for input runs the store's erase work (PROTOCOL.md 15.5
# "Idle handles"): within erase_seconds (10 s) of the last message the log holds
# only zeros, while the process still waits. Without the idle calls the log
# keeps the last messages' frames until the next line or the end.
for i in $(seq 1 30); do echo "idle $i"; done > "$T/idle.in"
"$RBX" "${A[@]}" send --stream bob < "$T/idle.in" > "$T/idle.lines"
mkfifo "$T/idle.fifo"
exec 7<> "$T/idle.fifo"
"$RBX" "${B[@]}" recv --stream < "$T/idle.fifo" > "$T/idle.out" 2> "$T/idle.err" 7>&- &
idle_pid=$!
cat "$T/idle.lines" >&7
for _ in $(seq 1 100); do [ "$(wc -l < "$T/idle.out")" -ge 30 ] && break; sleep 0.1; done
check "recv --stream read all 30" 'cmp -s "$T/idle.out" "$T/idle.in"'
check "the log holds the messages' frames at first" '[ -n "$(tr -d "\\000" < "$T/bob/state.db-wal" | head -c 1)" ]'
zeroed=0
for _ in $(seq 1 140); do
    [ -z "$(tr -d '\000' < "$T/bob/state.db-wal" | head -c 1)" ] && { zeroed=1; break; }
    sleep 0.1
done
check "an idle stream's log is all zeros within erase_seconds, the process still waiting" '[ "$zeroed" = 1 ] && kill -0 "$idle_pid"'
exec 7>&-
wait "$idle_pid"; idle_rc=$?
check "recv --stream exits 0 at the end of its input" '[ "$idle_rc" = 0 ] && [ ! -s "$T/idle.err" ]'

# ------------------------------------------------------------------ two senders at once
printf 'concurrent one' > "$T/c1"; printf 'concurrent two' > "$T/c2"
"$RBX" "${A[@]}" send bob "$T/c1" > "$T/cl1" 2> "$T/ce1" & p1=$!
"$RBX" "${A[@]}" send bob "$T/c2" > "$T/cl2" 2> "$T/ce2" & p2=$!
wait "$p1"; r1=$?; wait "$p2"; r2=$?
check "two concurrent sends both succeed" '[ "$r1" = 0 ] && [ "$r2" = 0 ]'
check "two concurrent sends differ" '! cmp -s "$T/cl1" "$T/cl2"'
run "peer reads concurrent send 2" 0 "${B[@]}" recv "$T/cl2"
check "plaintext 2" '[ "$(cat "$T/out")" = "concurrent two" ]'
run "peer reads concurrent send 1" 0 "${B[@]}" recv "$T/cl1"
check "plaintext 1" '[ "$(cat "$T/out")" = "concurrent one" ]'

# ------------------------------------------------------------------ status, storage errors (74)
run "status" 0 "${A[@]}" status
check "status lists contacts" 'grep -q bob "$T/out" && grep -q carol "$T/out"'
run "status --json" 0 "${A[@]}" status --json
check "status --json has session facts" 'grep -q "\"dh_steps\":" "$T/out" && grep -q "\"skipped_keys\":" "$T/out" && grep -q "\"header_encryption\":false" "$T/out"'
run "status without identity" 66 --dir "$T/x5" status
cp -a "$T/bob" "$T/broken"
head -c 8192 /dev/urandom > "$T/broken/state.db"
rm -f "$T/broken/state.db-wal" "$T/broken/state.db-shm"
run "a damaged database" 74 --dir "$T/broken" id
cp -a "$T/bob" "$T/wrongkey"
head -c 32 /dev/urandom > "$T/wrongkey/state.db.key"
run "a wrong storage key" 74 --dir "$T/wrongkey" status
run "send --header-encryption on a new session" 0 "${C[@]}" send alice --header-encryption "$T/m1"
# Rows changed without the storage key (SECURITY.md 8.1): bob's contact
# removed from a copy of alice's store, and a session put back from an older
# copy of it; both refused (74) and named, and nothing written.
cp -a "$T/alice" "$T/tampered"
"$TOOLS/rawsql" "$T/tampered/state.db" "DELETE FROM contacts WHERE name = 'bob'"
cp "$T/tampered/state.db" "$T/tampered.before"
run "a contact removed behind the store's back" 74 --dir "$T/tampered" status
check "it says so" 'grep -q "database changed without the storage key" "$T/err"'
check "the refused open wrote nothing" 'cmp -s "$T/tampered/state.db" "$T/tampered.before"'
cp -a "$T/alice" "$T/older"
printf 'after the copy' | "$RBX" "${A[@]}" send bob - > /dev/null 2>&1
cp -a "$T/alice" "$T/newer"
"$TOOLS/rawsql" "$T/newer/state.db" "ATTACH '$T/older/state.db' AS old; DELETE FROM sessions; INSERT INTO sessions SELECT * FROM old.sessions"
run "an older session put back" 74 --dir "$T/newer" send bob "$T/m1"
check "it says so, and sends nothing" 'grep -q "database changed without the storage key" "$T/err" && [ ! -s "$T/out" ]'

# ------------------------------------------------------------------ restore safety (issue 14)
# The whole state directory of the sender (database, log, storage key and
# generation record) copied, a message sent, the copy put back, a different
# plaintext sent: the restore cannot be seen, and the two ciphertexts must
# share no keystream (version 2, the default). The receiver takes the first
# and refuses the second as a replay. With --profile hmac (version 1) the
# keystream repeats, the exposure version 2 removes.
# ct_of LINE PTLEN: the ciphertext bytes (one decimal per line) of a normal
# Message: its last bytes are ct || tag (16) || salt field (18) in version 2.
ct_of() { b64_bytes < "$1" | awk -v len="$2" -v tail="$3" '{ b[NR] = $1 } END { for (i = NR - tail - 16 - len + 1; i <= NR - tail - 16; i++) print b[i] }'; }
# keystream FILE LINE PTLEN TAIL: plaintext XOR ciphertext, one byte a line.
keystream() { paste <(od -An -v -tu1 "$1" | tr -s ' \n' '\n' | grep -v '^$') <(ct_of "$2" "$3" "$4") | awk '{ x = 0; a = $1; b = $2; for (k = 1; k < 256; k *= 2) { if ((a % 2) != (b % 2)) x += k; a = int(a / 2); b = int(b / 2) } print x }'; }
# shared16 KS1 KS2: how many 16-byte runs of KS2 occur anywhere in KS1.
shared16() { awk 'NR == FNR { a[NR] = $1; n = NR; next } { b[FNR] = $1; m = FNR } END {
    for (i = 1; i + 15 <= n; i++) { k = ""; for (j = 0; j < 16; j++) k = k "," a[i + j]; seen[k] = 1 }
    c = 0; for (i = 1; i + 15 <= m; i++) { k = ""; for (j = 0; j < 16; j++) k = k "," b[i + j]; if (k in seen) c++ }
    print c }' "$1" "$2"; }
restore_case() {
    local label=$1 profile=$2 tail=$3 who=$4
    run "$label: $who init" 0 --dir "$T/$who-s" init
    run "$label: $who-r init" 0 --dir "$T/$who-r" init
    "$RBX" --dir "$T/$who-r" bundle > "$T/$who-r.bundle" 2> /dev/null
    run "$label: add" 0 --dir "$T/$who-s" add peer "$T/$who-r.bundle"
    printf 'hello' > "$T/$who.m0"
    run "$label: first message" 0 --dir "$T/$who-s" send peer --profile "$profile" "$T/$who.m0"; cp "$T/out" "$T/$who.l0"
    run "$label: peer reads it" 0 --dir "$T/$who-r" recv "$T/$who.l0"
    sender=$(sed -n 's/^rbx: recv: from \([^ ]*\).*/\1/p' "$T/err")
    printf 'reply' > "$T/$who.m0"
    run "$label: reply" 0 --dir "$T/$who-r" send "$sender" "$T/$who.m0"; cp "$T/out" "$T/$who.lr"
    run "$label: reply read" 0 --dir "$T/$who-s" recv "$T/$who.lr"
    cp -a "$T/$who-s" "$T/$who-backup"
    head -c 600 /dev/urandom > "$T/$who.p1"; head -c 600 /dev/urandom > "$T/$who.p2"
    run "$label: send" 0 --dir "$T/$who-s" send peer "$T/$who.p1"; cp "$T/out" "$T/$who.l1"
    rm -rf "$T/$who-s"; cp -a "$T/$who-backup" "$T/$who-s"
    run "$label: send again from the restored copy" 0 --dir "$T/$who-s" send peer "$T/$who.p2"; cp "$T/out" "$T/$who.l2"
    keystream "$T/$who.p1" "$T/$who.l1" 600 "$tail" > "$T/$who.ks1"
    keystream "$T/$who.p2" "$T/$who.l2" 600 "$tail" > "$T/$who.ks2"
    check "$label: 600 keystream bytes each" '[ "$(wc -l < "$T/$who.ks1")" = 600 ] && [ "$(wc -l < "$T/$who.ks2")" = 600 ]'
    run "$label: the first is read" 0 --dir "$T/$who-r" recv "$T/$who.l1"
    check "$label: its plaintext" 'cmp -s "$T/out" "$T/$who.p1"'
    run "$label: the second is a replay" 65 --dir "$T/$who-r" recv "$T/$who.l2"
    check "$label: named as a replay" 'grep -q "message already received" "$T/err"'
}
restore_case "restore (fast)" fast 18 rf
check "restore (fast): no shared keystream" '[ "$(shared16 "$T/rf.ks1" "$T/rf.ks2")" = 0 ] && ! cmp -s "$T/rf.ks1" "$T/rf.ks2"'
check "restore (fast): version 2 on the wire" '[ "$(b64_bytes < "$T/rf.l1" | sed -n 35p)" = 2 ]'
restore_case "restore (hmac)" hmac 0 rh
check "restore (hmac, version 1): the keystream repeats" 'cmp -s "$T/rh.ks1" "$T/rh.ks2"'
run "send --profile bogus" 64 "${A[@]}" send bob --profile bogus "$T/m1"

# ------------------------------------------------------------------ secrets
check_secrets_unprinted "$T/bob.json" "$T/carol.json" "$T/dave.json"

# ------------------------------------------------------------------ rbx sim vs SECURITY.md section 3
jnum() { grep -o "\"$1\":[0-9a-z]*" "$T/out" | head -n 1 | cut -d: -f2; }
sim_checks() {
    local label=$1 k=$2
    local n hp rah base rk lost late sk
    n=$(jnum messages); hp=$(jnum healing_point); rah=$(jnum read_after_healing)
    base=$(grep -o '"baseline":{"read":[0-9]*' "$T/out" | grep -o '[0-9]*$')
    rk=$(jnum read_up_to_k); lost=$(jnum lost); late=$(jnum late); sk=$(jnum skipped_keys)
    check "$label: baseline reads every message" '[ "$base" = "$n" ]'
    check "$label: a healing point after K" '[ "$hp" != null ] && [ "$hp" -gt "$k" ]'
    check "$label: nothing readable after healing" '[ "$rah" = 0 ]'
    check "$label: before K only undelivered messages" '[ "$rk" -le $((lost + late)) ]'
    check "$label: before K at least the messages of the stored skipped keys" '[ "$rk" -ge "$sk" ]'
    check "$label: real decryption equals the table's prediction" '[ "$(jnum prediction_mismatches)" = 0 ]'
}
run "sim: perfect network" 0 sim --messages 200 --loss 0 --reorder 0 --switch 0.2 --compromise bob@100 --seed 1 --json
sim_checks "sim perfect" 100
check "sim perfect: nothing before K (all delivered)" '[ "$(jnum read_up_to_k)" = 0 ] && [ "$(jnum skipped_keys)" = 0 ]'
check "sim perfect: some exposure after K" '[ "$(grep -o "\"ratchetbox\":{\"read\":[0-9]*" "$T/out" | grep -o "[0-9]*$")" -ge 1 ]'
cp "$T/out" "$T/sim1"
run "sim: same seed again" 0 sim --messages 200 --loss 0 --reorder 0 --switch 0.2 --compromise bob@100 --seed 1 --json
check "sim is deterministic for a seed" 'cmp -s "$T/out" "$T/sim1"'
run "sim: lossy network" 0 sim --messages 300 --loss 0.1 --reorder 0.1 --switch 0.2 --compromise bob@150 --seed 7 --json
sim_checks "sim lossy" 150
check "sim lossy: the thief holds skipped keys at K" '[ "$(jnum skipped_keys)" -ge 1 ]'
run "sim: alice, header encryption" 0 sim --messages 200 --loss 0.05 --reorder 0.1 --switch 0.3 --compromise alice@80 --header-encryption --seed 3 --json
sim_checks "sim alice+HE" 80
run "sim: real stores" 0 sim --messages 60 --loss 0.05 --reorder 0.1 --switch 0.3 --compromise bob@30 --store --seed 5 --json
sim_checks "sim --store" 30
run "sim: active attacker" 0 sim --messages 120 --loss 0 --reorder 0 --switch 0.3 --compromise bob@60 --active --seed 2 --json
check "sim --active: the forgery is accepted" 'grep -q "\"forgery\":{\"accepted\":true" "$T/out"'
check "sim --active: no healing (DR spec 6.2)" 'grep -q "\"healed\":false" "$T/out"'
run "sim: text output" 0 sim --messages 50 --compromise bob@25 --seed 1
check "sim text names the healing" 'grep -Eq "\. Healed: from message [0-9]+ on, nothing\.$" "$T/out"'
run "sim: bad --compromise" 64 sim --messages 50 --compromise eve@3
run "sim: K beyond N" 64 sim --messages 50 --compromise bob@51
# Output that cannot be written is 74 and says so, as for every verb.
"$RBX" sim --messages 10 --compromise bob@5 > /dev/full 2> "$T/err"; rc=$?
check "sim: a write error is 74, reported" '[ "$rc" = 74 ] && grep -q "^rbx: sim: cannot write output" "$T/err"'
"$RBX" sim --help > /dev/full 2> "$T/err"; rc=$?
check "sim --help: a write error is 74, reported" '[ "$rc" = 74 ] && grep -q "^rbx: sim: cannot write output" "$T/err"'

# ------------------------------------------------------------------ the manual
for v in init id bundle add send recv status sim version help; do
    check "rbx.1 documents $v" 'grep -q "^\.B $v\b" "$MAN"'
done
for c in 64 65 66 73 74; do check "rbx.1 documents exit $c" 'grep -q "^\.B $c$" "$MAN"'; done
if command -v groff > /dev/null; then
    check "rbx.1 renders without warnings" '[ -z "$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)" ]'
fi

# ------------------------------------------------------------------ make demo, quick mode
RBXD=${RBXD:-$(dirname "$RBX")/rbxd}
if DEMO_QUICK=1 DEMO_DIR="$T/demo" RBX="$RBX" RBXD="$RBXD" TOOLS="$TOOLS" timeout 90 bash "$(dirname "$0")/../../src/cli/demo.sh" > "$T/demo.out" 2>&1; then
    ok
else
    bad "demo (quick mode): $(tail -n 5 "$T/demo.out")"
fi
check "demo shows healing" 'grep -q "from there on nothing" "$T/demo.out"'
check "demo shows fan-out and sync copies" 'grep -Eq "^   dashboard also holds ([0-9]+) sync copies of the \1 messages the phone sent" "$T/demo.out"'
check "demo shows the phone catching up" 'grep -Eq "the phone is back: [0-9]+ messages were waiting on the server" "$T/demo.out"'
check "demo shows the tablet joining" 'grep -Eq "^     agent/[0-9]+: the flaky test is fixed: see the diff$" "$T/demo.out"'
check "demo shows the rotation followed" 'grep -Eq "^     dana/[0-9]+: approve: run the migration$" "$T/demo.out"'
check "demo shows the removed phone refused" 'grep -q "the thief.s copy: exit 67" "$T/demo.out"'
check "demo shows the extended list refused" 'grep -q "refused dana.s device list from .*: an entry was not signed by a device of the list" "$T/demo.out"'
check "demo shows the server's rows" '[ "$(grep -c "^   #[0-9]* *t=" "$T/demo.out")" = 3 ]'
check "demo finishes in under 30 s" '[ "$(sed -n "s/^Done in \([0-9]*\) ms.*/\1/p" "$T/demo.out")" -lt 30000 ]'

cli_end
