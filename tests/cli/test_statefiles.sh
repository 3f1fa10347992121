#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The state directory at its edges (issue 13 points 2 to 5, and the
# redelivery rule of PROTOCOL.md 15.4 as rbx recv keeps it), run by make
# check-cli:
#  - a FIFO, a symlink or a directory in place of a state file, modes that
#    let other users read or change it, another owner: refused at once with
#    exit 77 and the file named (a FIFO key file hung every verb);
#  - error messages name the file and the OS error: a missing key file (for
#    init too, which must not say "run rbx init"), a damaged generation
#    record, a full disk, a file the user cannot read (not as root);
#  - a store whose database and key were deleted by hand can be made again;
#  - recv acknowledges a message only once its plaintext is written out: an
#    output error exits 74, and the same line then prints the stored
#    plaintext, marked redelivered; once printed, it is refused (65);
#  - send whose output fails exits 74 and keeps the message in the outbox,
#    which rbx outbox prints; the peer reads it.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/statefiles-test}"

run() { rbx_run "$@"; }
err_has() { grep -qF -- "$1" "$T/err"; }
A=(--dir "$T/alice") B=(--dir "$T/bob")

# A pair with a session each way.
run "alice init" 0 "${A[@]}" init
run "bob init" 0 "${B[@]}" init
"$RBX" "${B[@]}" bundle > "$T/bob.bundle" 2> /dev/null
run "alice adds bob" 0 "${A[@]}" add bob "$T/bob.bundle"
printf 'one' | "$RBX" "${A[@]}" send bob - > "$T/l1" 2> /dev/null
run "bob reads" 0 "${B[@]}" recv "$T/l1"
ALICE=$(sed -n 's/^rbx: recv: from \([^ ]*\).*/\1/p' "$T/err")
printf 'two' | "$RBX" "${B[@]}" send "$ALICE" - > "$T/l2" 2> /dev/null
run "alice reads" 0 "${A[@]}" recv "$T/l2"

# fresh NAME: a copy of bob's directory to break.
fresh() { rm -rf "$T/$1"; cp -a "$T/bob" "$T/$1"; D=(--dir "$T/$1"); F=$T/$1; }

# ------------------------------------------------------------------ unsafe files (77)
fresh fifo
rm "$F/state.db.key"
mkfifo -m 600 "$F/state.db.key"
timeout 20 "$RBX" "${D[@]}" id > "$T/out" 2> "$T/err"; rc=$?
check "a FIFO key file is refused at once (77), not waited on (rc $rc)" '[ "$rc" = 77 ]'
check "it is named, with what is wrong" 'err_has "$F/state.db.key: not a regular file"'
fresh fifo2
rm "$F/state.db.gen"
mkfifo -m 600 "$F/state.db.gen"
timeout 20 "$RBX" "${D[@]}" status > "$T/out" 2> "$T/err"; rc=$?
check "a FIFO generation record is refused at once (77, rc $rc)" '[ "$rc" = 77 ] && err_has "state.db.gen"'

fresh link
mkdir "$T/elsewhere"
mv "$F/state.db" "$T/elsewhere/state.db"
ln -s "$T/elsewhere/state.db" "$F/state.db"
run "a symlinked state.db is refused" 77 "${D[@]}" id
check "named as a symlink" 'err_has "$F/state.db: not a regular file"'
check "SQLite made nothing beside the target" '[ ! -e "$T/elsewhere/state.db-wal" ] && [ ! -e "$T/elsewhere/state.db-shm" ]'

fresh keymode
chmod 644 "$F/state.db.key"
run "a key file others can read (0644)" 77 "${D[@]}" id
check "the mode and the fix are named" 'err_has "$F/state.db.key: mode 0644 lets other users read or change it (chmod 600"'
chmod 640 "$F/state.db.key"
run "a key file the group can read (0640)" 77 "${D[@]}" id
chmod 600 "$F/state.db.key"
run "put right, it opens" 0 "${D[@]}" id
chmod 666 "$F/state.db"
run "a database others can write (0666)" 77 "${D[@]}" id
check "named" 'err_has "$F/state.db: mode 0666"'
chmod 600 "$F/state.db"
chmod 777 "$F"
run "a state directory others can write (0777)" 77 "${D[@]}" id
check "the directory is named" 'err_has "$F: mode 0777 lets other users change files in it (chmod 700"'
chmod 770 "$F"
run "a state directory the group can write (0770)" 77 "${D[@]}" id
chmod 700 "$F"
run "put right, it opens" 0 "${D[@]}" id
if [ "$(id -u)" = 0 ]; then
    chown 65534:65534 "$F/state.db.key"
    run "a key file of another user" 77 "${D[@]}" id
    check "its owner is named" 'err_has "owned by uid 65534"'
    chown 0:0 "$F/state.db.key"
else
    echo "statefiles: another owner: skipped (needs root to give a file away)"
fi

# ------------------------------------------------------------------ messages name the file and the error
fresh nokey
rm "$F/state.db.key"
run "a missing key file" 66 "${D[@]}" id
check "it names the key file and the OS error, not 'run rbx init'" 'err_has "$F/state.db.key: No such file or directory" && ! err_has "run rbx init"'
run "init over it" 66 "${D[@]}" init
check "init names the key file too" 'err_has "$F/state.db.key: No such file or directory" && ! err_has "run rbx init"'

fresh badgen
printf 'RBXG0000000000000000000000000' > "$F/state.db.gen"
run "a damaged generation record" 74 "${D[@]}" id
check "named as the generation record" 'err_has "$F/state.db.gen: damaged generation record"'

fresh shortkey
head -c 16 "$T/bob/state.db.key" > "$F/state.db.key"
run "a short key file" 74 "${D[@]}" id
check "named as the key file" 'err_has "$F/state.db.key: not a storage key"'

if [ "$(id -u)" != 0 ]; then
    fresh noread
    chmod 000 "$F/state.db.key"
    run "a key file the user cannot read" 74 "${D[@]}" id
    check "names the file and 'Permission denied'" 'err_has "$F/state.db.key: open: Permission denied"'
    chmod 600 "$F/state.db.key"
else
    echo "statefiles: a file the user cannot read: skipped (root reads every file)"
fi

# A full disk, at the send's commit: the shim makes its log sync fail.
printf 'x' > "$T/m"
fresh full
sync_at=$(ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD="$TOOLS/faultshim.so" RBX_FAULT_DIR="$F" RBX_FAULT_LOG="$T/flog" "$RBX" "${D[@]}" send "$ALICE" "$T/m" > /dev/null 2>&1; awk '$2 == "fdatasync" && $3 == "state.db-wal" { print $1; exit }' "$T/flog")
fresh full
ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD="$TOOLS/faultshim.so" RBX_FAULT_DIR="$F" RBX_FAULT_AT="$sync_at" RBX_FAULT_MODE=enospc \
    "$RBX" "${D[@]}" send "$ALICE" "$T/m" > "$T/out" 2> "$T/err"; rc=$?
check "a send whose commit hits a full disk exits 74, printing nothing (rc $rc)" '[ "$rc" = 74 ] && [ ! -s "$T/out" ]'
check "it names the database and 'No space left on device'" 'err_has "$F/state.db: sync: No space left on device"'

# ------------------------------------------------------------------ deleted by hand, made again
fresh redo
rm "$F/state.db" "$F/state.db.key"
run "init after deleting state.db and state.db.key (the .gen stays)" 0 "${D[@]}" init
run "and the new store opens" 0 "${D[@]}" id

# ------------------------------------------------------------------ recv: acknowledged once written out
printf 'three' | "$RBX" "${A[@]}" send bob - > "$T/l3" 2> /dev/null
"$RBX" "${B[@]}" recv "$T/l3" > /dev/full 2> "$T/err"; rc=$?
check "recv to a full output: 74 (rc $rc)" '[ "$rc" = 74 ] && err_has "rbx: recv: cannot write output"'
check "it says the message stays" 'err_has "in the inbox"'
run "the same line again: the stored plaintext" 0 "${B[@]}" recv "$T/l3"
check "marked redelivered" '[ "$(cat "$T/out")" = three ] && err_has "(redelivered)"'
run "and once written out, refused as read" 65 "${B[@]}" recv "$T/l3"

# ------------------------------------------------------------------ send: output error keeps the message
printf 'four' > "$T/m4"
"$RBX" "${A[@]}" send bob "$T/m4" > /dev/full 2> "$T/err"; rc=$?
check "send to a full output: 74 (rc $rc)" '[ "$rc" = 74 ] && err_has "kept in the outbox (rbx outbox)"'
run "rbx outbox prints it" 0 "${A[@]}" outbox
check "one line" '[ "$(wc -l < "$T/out")" = 1 ]'
cp "$T/out" "$T/l4"
run "the peer reads it" 0 "${B[@]}" recv "$T/l4"
check "the message" '[ "$(cat "$T/out")" = four ]'
run "the outbox is empty now" 0 "${A[@]}" outbox
check "nothing printed" '[ ! -s "$T/out" ]'
run "outbox --json" 0 "${A[@]}" outbox --json
run "outbox without identity" 66 --dir "$T/none" outbox

# ------------------------------------------------------------------ manual and help
run "help" 0 help
check "help lists exit 77" 'grep -q "^  77  " "$T/out"'
check "help lists outbox" 'grep -q "rbx outbox" "$T/out"'
check "rbx.1 documents exit 77" 'grep -q "^\.B 77$" "$MAN"'
check "rbx.1 documents outbox" 'grep -q "^\.B outbox" "$MAN"'
check "rbx.1 says which modes are refused" 'grep -qi "refuse" "$MAN" && grep -q "0600\|group or other" "$MAN"'

cli_end
