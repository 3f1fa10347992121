#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A full disk, for real (issue 13 points 1 and 6): the state directory on a
# small tmpfs that the test mounts (as root; otherwise it prints why it is
# skipped), filled to leave F bytes free, F from 0 to 1 MiB. At each F,
# rbx recv, send, bundle and init run on a fresh copy, and then, with space
# freed, the same checks as the fault sweeps (tests/cli/test_faults.sh):
# what was printed is not lost, what failed left a store that works, and the
# exit status describes what was committed. Before issue 13, recv printed
# and consumed a message and then exited 74 below about 650 KiB free (the
# erase point's 663 KB log prefill), and bundle failed there outright: here
# both must succeed with 256 KiB free.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), DISKFULL_MNT (the mount
# point, default a new directory under /tmp; unmounted and removed at the end).
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/diskfull-test}"

if [ "$(id -u)" != 0 ]; then
    echo "diskfull: skipped: mounting a tmpfs needs root (running as uid $(id -u))"
    cli_end
    exit $?
fi
MNT=${DISKFULL_MNT:-$(mktemp -d /tmp/rbx-diskfull-XXXXXX)}
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=4m,mode=0700 rbx-diskfull "$MNT"; then
    echo "diskfull: skipped: cannot mount a tmpfs on $MNT (a container without CAP_SYS_ADMIN?)"
    rmdir "$MNT" 2> /dev/null
    cli_end
    exit $?
fi
trap 'umount "$MNT" 2> /dev/null; rmdir "$MNT" 2> /dev/null' EXIT

quiet() { "$RBX" "$@" > /dev/null 2>&1; }
CHK=$TOOLS/faultcheck

# The template, on the ordinary disk: alice and bob with sessions both
# ways, alice's next message (l_pending) not yet read; d with an identity.
TPL=$T/tpl
mkdir -p "$TPL"/{a,b,d}
for p in a b d; do quiet --dir "$TPL/$p" init; done
"$RBX" --dir "$TPL/b" bundle > "$T/b.bundle" 2> /dev/null
quiet --dir "$TPL/a" add bob "$T/b.bundle"
printf 'hello' | "$RBX" --dir "$TPL/a" send bob - > "$T/l0" 2> /dev/null
quiet --dir "$TPL/b" recv "$T/l0"
ALICE=$("$RBX" --dir "$TPL/a" id | cut -d' ' -f2)
printf 'hi' | "$RBX" --dir "$TPL/b" send "$ALICE" - > "$T/l1" 2> /dev/null
quiet --dir "$TPL/a" recv "$T/l1"
printf 'pending' | "$RBX" --dir "$TPL/a" send bob - > "$T/l_pending" 2> /dev/null
printf 'the message' > "$T/msg"

# put DIR: a fresh copy of the template's DIR on the tmpfs as $S, and a
# filler that leaves F bytes free.
put() {
    rm -rf "${MNT:?}"/*
    S=$MNT/s
    if [ "$1" = n ]; then mkdir -m 700 "$S"; else cp -a "$TPL/$1" "$S"; fi
    local avail
    avail=$(df --output=avail -B1 "$MNT" | tail -n 1 | tr -d ' ')
    [ "$avail" -le "$2" ] || fallocate -l $((avail - $2)) "$MNT/filler"
}
free_space() { rm -f "$MNT/filler"; }
recv_gives() { "$RBX" --dir "$1" recv "$2" > "$T/r.out" 2> "$T/r.err" && [ "$(cat "$T/r.out")" = "$3" ]; }

n=0
for F in 0 4096 16384 65536 131072 262144 393216 524288 655360 786432 1048576; do
    K=$((F / 1024))K
    # ---- recv
    put b "$F"
    "$RBX" --dir "$S" recv "$T/l_pending" > "$T/out" 2> "$T/err"; rc=$?
    n=$((n + 1))
    if [ "$rc" = 0 ]; then
        check "recv, $K free: exit 0 printed the plaintext" '[ "$(cat "$T/out")" = pending ]'
        free_space
        if grep -q 'removal of its inbox entry failed' "$T/err"; then
            check "recv, $K free: kept, run again it is redelivered" 'recv_gives "$S" "$T/l_pending" pending && grep -q "(redelivered)" "$T/r.err"'
        else
            check "recv, $K free: run again it is refused as read" '! quiet --dir "$S" recv "$T/l_pending"'
        fi
    else
        check "recv, $K free: a failed recv is 74 and prints nothing (rc $rc)" '[ "$rc" = 74 ] && [ ! -s "$T/out" ]'
        check "recv, $K free: names the full disk" 'grep -q "No space left on device" "$T/err"'
        free_space
        check "recv, $K free: with space, the message is there" 'recv_gives "$S" "$T/l_pending" pending'
    fi
    [ "$F" -lt 262144 ] || check "recv, $K free: succeeds (exit $rc)" '[ "$rc" = 0 ]'
    check "recv, $K free: integrity" '"$CHK" integrity "$S/state.db"'

    # ---- send
    put a "$F"
    "$RBX" --dir "$S" send bob "$T/msg" > "$T/out" 2> "$T/err"; rc=$?
    n=$((n + 1))
    free_space
    if [ "$rc" = 0 ]; then
        check "send, $K free: exit 0 printed one line" '[ "$(wc -l < "$T/out")" = 1 ]'
    else
        check "send, $K free: a failed send is 74 and prints nothing (rc $rc)" '[ "$rc" = 74 ] && [ ! -s "$T/out" ]'
    fi
    check "send, $K free: rbx outbox works" '"$RBX" --dir "$S" outbox > "$T/ob" 2> /dev/null'
    rm -rf "$T/bob"
    cp -a "$TPL/b" "$T/bob"
    cat "$T/out" "$T/ob" | sort -u > "$T/lines"
    i=0
    while IFS= read -r line; do
        i=$((i + 1))
        printf '%s\n' "$line" > "$T/line.$i"
        check "send, $K free: released line $i decrypts" 'recv_gives "$T/bob" "$T/line.$i" "the message"'
    done < "$T/lines"
    check "send, $K free: sends again" '"$RBX" --dir "$S" send bob "$T/msg" > "$T/again" 2> /dev/null'
    cat "$T/l0" "$T/l_pending" "$T/lines" "$T/again" > "$T/released"
    check "send, $K free: no message key used twice" '"$CHK" reuse "$T/released" > /dev/null'
    [ "$F" -lt 262144 ] || check "send, $K free: succeeds (exit $rc)" '[ "$rc" = 0 ]'

    # ---- bundle
    put b "$F"
    "$RBX" --dir "$S" bundle > "$T/out" 2> "$T/err"; rc=$?
    n=$((n + 1))
    free_space
    if [ "$rc" = 0 ]; then
        check "bundle, $K free: one line" '[ "$(wc -l < "$T/out")" = 1 ]'
    else
        check "bundle, $K free: a failed bundle is 74 and prints nothing (rc $rc)" '[ "$rc" = 74 ] && [ ! -s "$T/out" ]'
    fi
    check "bundle, $K free: the next bundle works" '"$RBX" --dir "$S" bundle > "$T/next" 2> /dev/null'
    cat "$T/out" "$T/next" > "$T/bundles"
    check "bundle, $K free: no one-time prekey offered twice" '"$CHK" onetime "$T/bundles" > /dev/null'
    [ "$F" -lt 262144 ] || check "bundle, $K free: succeeds (exit $rc)" '[ "$rc" = 0 ]'

    # ---- init
    put n "$F"
    "$RBX" --dir "$S" init > "$T/out" 2> "$T/err"; rc=$?
    n=$((n + 1))
    free_space
    if [ "$rc" = 0 ]; then
        check "init, $K free: the printed identity is kept" '[ "$("$RBX" --dir "$S" id 2>/dev/null)" = "$(cat "$T/out")" ]'
    else
        check "init, $K free: a failed init is 74 and prints nothing (rc $rc)" '[ "$rc" = 74 ] && [ ! -s "$T/out" ]'
        check "init, $K free: with space, init works" 'quiet --dir "$S" id || quiet --dir "$S" init'
    fi
    [ "$F" -lt 262144 ] || check "init, $K free: succeeds (exit $rc)" '[ "$rc" = 0 ]'
done
echo "diskfull: $n runs on a 4 MiB tmpfs with 0 to 1024 KiB free"
cli_end
