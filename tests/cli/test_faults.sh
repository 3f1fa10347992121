#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fault sweeps (issue 13 point 6): rbx init, send, recv (a message of a
# known contact, and a first message of an unknown one) and bundle run
# under tests/faults/faultshim.so, which acts at the N-th write or sync of
# the state directory; N goes over every call number each verb makes.
#
#   make check (check-cli): at every N, one failure (EIO at odd N, ENOSPC at
#     even N) and one SIGKILL before the call;
#   make crashtest (FAULT_FULL=1): at every N, EIO, ENOSPC, SIGKILL, EIO from
#     N on (a disk that stays broken), and a power cut: writes not synced
#     are dropped, with directory changes durable at any sync (journalling
#     file systems) and, in a second run, only at a sync of the directory
#     (what POSIX alone promises). See tests/faults/faultshim.c.
#
# After every run, with no fault:
#  - the store opens: `rbx id` works, or (init) `rbx init` completes it;
#  - what was printed is not lost: a printed identity is the one `rbx id`
#    shows; every line send printed, and every line `rbx outbox` prints
#    after it, decrypts at the peer to the message sent; a recv that exited
#    0 printed the plaintext, and one that did not gives it when run again;
#    a printed bundle starts a session;
#  - nothing is reused: no two different ciphertexts under one message key
#    (sender, ratchet key, counter) among every line released in the run
#    and the template's, and no one-time prekey in two printed bundles;
#  - the exit status is what was committed: a send that printed exits 0 (or
#    was killed), one that fails prints nothing and exits 74; a recv exits 0
#    if and only if the message was accepted and written out (run again it
#    is refused as read, 65, or redelivered when the exit 0 warned that its
#    inbox entry stayed), and after a 74 it is still new;
#  - PRAGMA integrity_check of the database is ok.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), FAULT_TEST_DIR (default
# a directory in /dev/shm, else build/fault-test),
# FAULT_FULL=1, FAULT_CASES (default "init send recv recv-first bundle"),
# FAULT_STRIDE (default 1: every call number), FAULT_JOBS (default 2 workers).
set -uo pipefail

. "$(dirname "$0")/lib.sh"
# A memory file system when there is one: the shim decides what a crash or
# a power cut keeps, not the disk, and a sweep makes thousands of small
# files (about 4x faster than ext4 on the shared build disk).
if [ -z "${FAULT_TEST_DIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    FAULT_TEST_DIR=$(mktemp -d /dev/shm/rbx-faults-XXXXXX)
    trap 'rm -rf "$FAULT_TEST_DIR"' EXIT
fi
cli_begin "${FAULT_TEST_DIR:-build/fault-test}"
# Copies of the programs: a rebuild during a long sweep must not change them.
cp "$RBX" "$T/rbx" && cp "$TOOLS/faultshim.so" "$TOOLS/faultcheck" "$T/" || exit 1
RBX=$T/rbx SHIM=$T/faultshim.so CHK=$T/faultcheck
FULL=${FAULT_FULL:-0}
STRIDE=${FAULT_STRIDE:-1} # every STRIDE-th call number (the sanitizer build of make check: 3)
CASES=${FAULT_CASES:-init send recv recv-first bundle}
runs=0
# A sanitizer build of rbx wants its runtime first among the preloaded
# libraries; the shim comes first here, which is harmless.
ASAN_SHIM="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

quiet() { "$RBX" "$@" > /dev/null 2>&1; }

# ------------------------------------------------------------------ template
# a (alice) and b (bob) with sessions both ways; l_normal is alice's next
# message, not delivered. c added bob's bundle and sent its first message,
# l_first, not delivered. d has an identity only; n is an empty state
# directory for init.
TPL=$T/tpl
mkdir -p "$TPL"/{a,b,c,d,n}
for p in a b c d; do quiet --dir "$TPL/$p" init || { echo "template: init $p failed"; exit 1; }; done
"$RBX" --dir "$TPL/b" bundle > "$T/b.bundle" 2> /dev/null
"$RBX" --dir "$TPL/a" bundle > "$T/a.bundle" 2> /dev/null
quiet --dir "$TPL/a" add bob "$T/b.bundle"
quiet --dir "$TPL/b" add alice "$T/a.bundle"
printf 'hello bob' | "$RBX" --dir "$TPL/a" send bob - > "$TPL/l0" 2> /dev/null
quiet --dir "$TPL/b" recv "$TPL/l0"
printf 'hello alice' | "$RBX" --dir "$TPL/b" send alice - > "$TPL/l1" 2> /dev/null
quiet --dir "$TPL/a" recv "$TPL/l1"
printf 'pending normal' | "$RBX" --dir "$TPL/a" send bob - > "$TPL/l_normal" 2> /dev/null
"$RBX" --dir "$TPL/b" bundle > "$T/b2.bundle" 2> /dev/null
quiet --dir "$TPL/c" add bob "$T/b2.bundle"
printf 'pending first' | "$RBX" --dir "$TPL/c" send bob - > "$TPL/l_first" 2> /dev/null
cat "$TPL/l0" "$TPL/l1" "$TPL/l_normal" "$TPL/l_first" > "$TPL/released"
printf 'the faulted message' > "$TPL/msg"
for f in l0 l1 l_normal l_first; do
    [ "$(wc -l < "$TPL/$f")" = 1 ] || { echo "template: $f is not one line"; exit 1; }
done
sync

W=$T/w
# Per case: the state directories it uses (copied fresh for every run),
# the one the verb runs in, and its arguments. Few processes per run: a
# sweep makes thousands.
set_case() {
    case $1 in
    init) SRC=("$TPL/n") DIR=n ARGS=(init) ;;
    send) SRC=("$TPL/a" "$TPL/b" "$TPL/msg") DIR=a ARGS=(send bob "$W/msg") ;;
    recv) SRC=("$TPL/a" "$TPL/b" "$TPL/l_normal") DIR=b ARGS=(recv "$W/l_normal") ;;
    recv-first) SRC=("$TPL/a" "$TPL/b" "$TPL/c" "$TPL/l_first") DIR=b ARGS=(recv "$W/l_first") ;;
    bundle) SRC=("$TPL/b" "$TPL/d") DIR=b ARGS=(bundle) ;;
    esac
}
fresh() { rm -rf "$W" && mkdir "$W" && cp -a "${SRC[@]}" "$W/"; }
# The contents of a (small) file, without a process.
text() { local v; IFS= read -r -d '' v < "$1"; printf '%s' "${v%$'\n'}"; }
has() { local v; IFS= read -r -d '' v < "$1"; [[ $v == *"$2"* ]]; }

# faulted CASE N MODE: the verb under the shim; rc in $rc, output in $W/out, $W/err.
faulted() {
    local c=$1 n=$2 m=$3 d=$W/$DIR mode=$3 ns=ordered sticky=0 tstart
    [ -z "${FAULT_TIMING:-}" ] || tstart=$(( $(date +%s%N) / 1000000 ))
    case $m in
    power-posix) mode=power ns=posix ;;
    eio-sticky) mode=eio sticky=1 ;;
    esac
    # bash reports a killed child ("Killed") on its own stderr: not here.
    exec 3>&2 2> /dev/null
    LD_PRELOAD="$SHIM" RBX_FAULT_DIR="$d" RBX_FAULT_AT="$n" RBX_FAULT_MODE="$mode" \
        RBX_FAULT_NAMESPACE="$ns" RBX_FAULT_STICKY="$sticky" ASAN_OPTIONS="$ASAN_SHIM" \
        "$RBX" --dir "$d" "${ARGS[@]}" > "$W/out" 2> "$W/err"
    rc=$?
    exec 2>&3 3>&-
    if [ -n "${FAULT_TIMING:-}" ]; then echo "$c $n $m $rc $(( $(date +%s%N) / 1000000 - tstart ))" >> "$FAULT_TIMING"; fi
    runs=$((runs + 1))
}

calls() {
    fresh
    LD_PRELOAD="$SHIM" RBX_FAULT_DIR="$W/$DIR" RBX_FAULT_COUNT="$T/count" ASAN_OPTIONS="$ASAN_SHIM" \
        "$RBX" --dir "$W/$DIR" "${ARGS[@]}" > /dev/null 2>&1 || { echo 0; return; }
    text "$T/count"
}

integrity() { [ ! -e "$1/state.db" ] || "$CHK" integrity "$1/state.db" 2> "$W/chk"; }

# A line received at DIR must give TEXT.
recv_gives() {
    "$RBX" --dir "$1" recv "$2" > "$W/r.out" 2> "$W/r.err" && [ "$(text "$W/r.out")" = "$3" ]
}

# ------------------------------------------------------------------ checks per case

check_init() {
    local L="$1" d=$W/n
    [ "$rc" = 0 ] || check "$L: integrity" 'integrity "$d"'
    if [ "$rc" = 0 ]; then
        check "$L: exit 0 printed an identity" 'grep -Eq "^[A-Za-z0-9+/]{43}= [0-9a-f]{16}$" "$W/out"'
        check "$L: the printed identity is kept" '"$RBX" --dir "$d" id > "$W/id" 2> /dev/null && [ "$(text "$W/id")" = "$(text "$W/out")" ]'
        return
    fi
    check "$L: a failed init prints nothing" '[ ! -s "$W/out" ]'
    [ "$rc" = 137 ] || check "$L: exit 74 (storage), got $rc" '[ "$rc" = 74 ]'
    if ! quiet --dir "$d" id; then
        check "$L: init can be run again and prints the identity" '"$RBX" --dir "$d" init > "$W/out2" 2> /dev/null && [ -s "$W/out2" ]'
    else
        ok
    fi
}

check_send() {
    local L="$1" a=$W/a b=$W/b
    [ "$rc" = 0 ] || check "$L: integrity" 'integrity "$a"'
    if [ "$rc" = 0 ]; then
        check "$L: exit 0 printed one line" '[ "$(wc -l < "$W/out")" = 1 ]'
    elif [ "$rc" != 137 ]; then
        check "$L: a failed send prints nothing" '[ ! -s "$W/out" ]'
        check "$L: exit 74 (storage), got $rc" '[ "$rc" = 74 ]'
    fi
    check "$L: rbx outbox works" '"$RBX" --dir "$a" outbox > "$W/ob" 2> "$W/ob.err"'
    cat "$W/out" "$W/ob" | sort -u > "$W/lines"
    local i=0
    while IFS= read -r line; do
        i=$((i + 1))
        printf '%s\n' "$line" > "$W/line.$i"
        check "$L: released line $i decrypts at the peer" 'recv_gives "$b" "$W/line.$i" "the faulted message"'
    done < "$W/lines"
    : > "$W/fl"
    # After a run that went through, the next send is an ordinary one.
    if [ "$rc" != 0 ] || [ "$FULL" = 1 ]; then
        printf 'follow-up' > "$W/f"
        check "$L: the store sends again" '"$RBX" --dir "$a" send bob "$W/f" > "$W/fl" 2> /dev/null'
        check "$L: and the peer reads it" 'recv_gives "$b" "$W/fl" "follow-up"'
    fi
    cat "$TPL/released" "$W/lines" "$W/fl" > "$W/released"
    check "$L: no message key used twice" '"$CHK" reuse "$W/released" > /dev/null 2> "$W/chk"'
}

check_recv() {
    local L="$1" line=$2 text=$3 b=$W/b r2
    [ "$rc" = 0 ] || check "$L: integrity" 'integrity "$b"'
    if [ "$rc" = 0 ]; then
        check "$L: exit 0 printed the plaintext" '[ "$(text "$W/out")" = "$text" ]'
    elif [ "$rc" != 137 ]; then
        check "$L: a failed recv prints nothing" '[ ! -s "$W/out" ]'
        check "$L: exit 74 (storage), got $rc" '[ "$rc" = 74 ]'
    fi
    "$RBX" --dir "$b" recv "$line" > "$W/r2.out" 2> "$W/r2.err"
    r2=$?
    if [ "$rc" = 0 ]; then
        if has "$W/err" 'removal of its inbox entry failed' && [ "$m" = eio-sticky ]; then
            # A COMMIT whose sync failed, on a disk that stays broken: its log
            # frames stay, and SQLite's recovery may find it committed after all.
            check "$L: run again it is redelivered or refused as read" '{ [ "$r2" = 0 ] && [ "$(text "$W/r2.out")" = "$text" ] && has "$W/r2.err" "(redelivered)"; } || [ "$r2" = 65 ]'
        elif has "$W/err" 'removal of its inbox entry failed'; then
            check "$L: kept in the inbox, so run again it is redelivered" '[ "$r2" = 0 ] && [ "$(text "$W/r2.out")" = "$text" ] && has "$W/r2.err" "(redelivered)"'
        else
            check "$L: accepted and acknowledged: run again it is refused (65), got $r2" '[ "$r2" = 65 ]'
        fi
    elif [ "$rc" = 137 ]; then
        check "$L: after a kill the message is not lost" '{ [ "$r2" = 0 ] && [ "$(text "$W/r2.out")" = "$text" ]; } || { [ "$r2" = 65 ] && [ "$(text "$W/out")" = "$text" ]; }'
    elif [ "$m" = eio-sticky ]; then
        check "$L: after exit $rc, on a disk that stays broken, the message is not lost" '[ "$r2" = 0 ] && [ "$(text "$W/r2.out")" = "$text" ]'
    else
        check "$L: after exit $rc the message is still new" '[ "$r2" = 0 ] && [ "$(text "$W/r2.out")" = "$text" ] && ! has "$W/r2.err" "(redelivered)"'
    fi
    # The sessions go on both ways: bob answers, and the sender writes again
    # (make crashtest; bob sent nothing in the faulted run, so no key of his
    # can have been reused, and the run again above already read bob's
    # receiving state).
    [ "$FULL" = 1 ] || return 0
    local peer=alice pdir=$W/a
    if [ "$4" = first ]; then peer=$("$RBX" --dir "$W/c" id 2>/dev/null | cut -d' ' -f2); pdir=$W/c; fi
    printf 'reply' > "$W/f"
    check "$L: bob replies" '"$RBX" --dir "$b" send "$peer" "$W/f" > "$W/rl" 2> /dev/null'
    check "$L: and the sender reads it" 'recv_gives "$pdir" "$W/rl" "reply"'
    printf 'again' > "$W/f"
    check "$L: the sender writes again" '"$RBX" --dir "$pdir" send bob "$W/f" > "$W/fl" 2> /dev/null'
    check "$L: and bob reads it" 'recv_gives "$b" "$W/fl" "again"'
    cat "$TPL/released" "$W/rl" "$W/fl" > "$W/released"
    check "$L: no message key used twice" '"$CHK" reuse "$W/released" > /dev/null 2> "$W/chk"'
}

check_bundle() {
    local L="$1" b=$W/b
    [ "$rc" = 0 ] || check "$L: integrity" 'integrity "$b"'
    if [ "$rc" = 0 ]; then
        check "$L: exit 0 printed one bundle" '[ "$(wc -l < "$W/out")" = 1 ]'
        check "$L: the bundle starts a session" 'quiet --dir "$W/d" add bob "$W/out"'
        printf 'via the bundle' > "$W/f"
        "$RBX" --dir "$W/d" send bob "$W/f" > "$W/dl" 2> /dev/null
        check "$L: bob reads its first message" 'recv_gives "$b" "$W/dl" "via the bundle"'
    elif [ "$rc" != 137 ]; then
        check "$L: a failed bundle prints nothing" '[ ! -s "$W/out" ]'
        check "$L: exit 74 (storage), got $rc" '[ "$rc" = 74 ]'
    fi
    check "$L: the next bundle works" '"$RBX" --dir "$b" bundle > "$W/next" 2> /dev/null'
    cat "$W/out" "$W/next" > "$W/bundles"
    check "$L: no one-time prekey offered twice" '"$CHK" onetime "$W/bundles" > /dev/null 2> "$W/chk"'
}

modes_at() {
    if [ "$FULL" = 1 ]; then echo "eio enospc kill eio-sticky power power-posix"
    elif [ $(($1 % 2)) = 1 ]; then echo "eio kill"
    else echo "enospc kill"; fi
}

# One worker: the call numbers n of every case with n / STRIDE = k mod JOBS,
# in its own directory; its counts go to $T/worker.k.
worker() {
    local k=$1 c n m K L
    W=$T/w$k
    runs=0 passed=0 failed=0
    for c in $CASES; do
        set_case "$c"
        K=${total[$c]}
        for ((n = 1 + k * STRIDE; n <= K; n += STRIDE * JOBS)); do
            for m in $(modes_at "$n"); do
                fresh
                faulted "$c" "$n" "$m"
                L="$c at call $n/$K, $m (exit $rc)"
                case $c in
                init) check_init "$L" ;;
                send) check_send "$L" ;;
                recv) check_recv "$L" "$W/l_normal" "pending normal" normal ;;
                recv-first) check_recv "$L" "$W/l_first" "pending first" first ;;
                bundle) check_bundle "$L" ;;
                esac
            done
        done
    done
    rm -rf "$W"
    echo "$runs $passed $failed" > "$T/worker.$k"
}

t0=$(date +%s)
JOBS=${FAULT_JOBS:-2}
declare -A total
for c in $CASES; do
    set_case "$c"
    W=$T/w
    total[$c]=$(calls)
    check "$c: a run without faults makes write or sync calls (${total[$c]})" '[ "${total[$c]}" -gt 0 ]'
done
for ((k = 0; k < JOBS; k++)); do worker "$k" & done
wait
for ((k = 0; k < JOBS; k++)); do
    read -r r p f < "$T/worker.$k" || { echo "FAIL: worker $k did not finish"; failed=$((failed + 1)); continue; }
    runs=$((runs + r)) passed=$((passed + p)) failed=$((failed + f))
done
summary=""
for c in $CASES; do summary="$summary $c ${total[$c]} calls,"; done
echo "faults: $runs faulted runs over $( [ "$STRIDE" = 1 ] && echo "every call number" || echo "one call number in $STRIDE") ($summary modes: $( [ "$FULL" = 1 ] && echo "eio enospc kill eio-sticky power power-posix" || echo "eio/enospc and kill")), $passed properties checked, $JOBS workers, $(( $(date +%s) - t0 )) s"
cli_end
