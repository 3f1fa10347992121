#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make demo: an AI agent answers a question on a phone through an untrusted
# relay, first with ratchetbox (the rbx tool), then a thief copies the phone.
#
# Replays the first turn of bench/workload/agent-session.tsv through `rbx`:
# two state directories (agent, phone) and a relay directory holding only
# what a server sees (ciphertext lines and clear metadata). The relay loses
# one message and delivers several out of order. Every message is also sealed
# with today's long-lived box scheme, so that the thief, who copies the
# phone's directory (database, storage key, box key file) at message k, can be
# compared on both. Exits non-zero if any result contradicts SECURITY.md.
#
# Environment: RBX (default build/rbx), TOOLS (build/tools: boxtool, thief),
# DEMO_DIR (build/demo-run), DEMO_QUICK=1 (a shortened turn, for make check),
# TRACE (the workload trace).
set -euo pipefail

RBX=${RBX:-build/rbx}
TOOLS=${TOOLS:-build/tools}
TRACE=${TRACE:-bench/workload/agent-session.tsv}
W=${DEMO_DIR:-build/demo-run}
QUICK=${DEMO_QUICK:-0}
TAB=$(printf '\t')
start_ns=$(date +%s%N)

die() { echo "demo: $*" >&2; exit 1; }
# A result that contradicts SECURITY.md: reported, counted, the demo goes on.
fail() { failures=$((failures + 1)); echo "   !! $*" >&2; }
# A step that failed: its stderr (kept in $W/tmp/err), then stop.
die_err() { cat "$W/tmp/err" >&2; die "$@"; }
for p in "$RBX" "$TOOLS/boxtool" "$TOOLS/thief"; do [ -x "$p" ] || die "missing $p (run make demo)"; done
[ -r "$TRACE" ] || die "missing $TRACE"

# Which messages the relay mistreats, counted among the agent's answer deltas
# (agent_response rows): one is lost, some pairs arrive swapped; the thief
# strikes right after the phone has processed delta K.
if [ "$QUICK" = 1 ]; then
    MAX_DELTAS=24 MAX_AFTER=16 LOST_D=6 SWAPS_D="3 17 21" K_D=14
else
    MAX_DELTAS=100000 MAX_AFTER=100000 LOST_D=10 SWAPS_D="3 17 40 90 150" K_D=60
fi

rm -rf "$W"
mkdir -p "$W/agent" "$W/phone" "$W/relay" "$W/tmp"
chmod 700 "$W/agent" "$W/phone"
rbx() { local who=$1; shift; "$RBX" --dir "$W/$who" "$@"; }

# ------------------------------------------------------------------ the plan
# First turn: from the phone's first chat message up to its second one. At
# equal times the phone goes first (its prompt opens the session). Each row
# gets a plaintext of the trace's size, on one line.
awk -F'\t' -v OFS='\t' '/^#/ { next }
    $2 == "phone" && $3 == "chat" { chats++ } chats == 1 { print }' "$TRACE" |
    sort -s -t "$TAB" -k1,1n -k2,2r |
    awk -F'\t' -v OFS='\t' -v maxd="$MAX_DELTAS" -v maxa="$MAX_AFTER" '
    BEGIN {
        f["chat"] = "Can you find why the upload test is flaky and fix it? ";
        f["agent_response"] = "Looking at the upload handler: the retry loop re-reads a closed buffer. ";
        f["heartbeat"] = "heartbeat ";
        f["session_state"] = "{\"state\":\"working\",\"model\":\"agent\"} ";
        f["tool_result"] = "$ make test: 214 passed, 0 failed ";
        f["cost_update"] = "{\"tokens_in\":5210,\"tokens_out\":1893} ";
    }
    {
        if ($3 == "agent_response") { if (++d > maxd) next; burst = 1 }
        else if (burst && ++after > maxa) next;
        seq++;
        text = $3 " #" seq " from " $2 ": ";
        fill = ($3 in f) ? f[$3] : ($3 " ");
        while (length(text) < $4) text = text fill;
        print seq, $1, $2, $3, substr(text, 1, $4 < 24 ? 24 : $4);
    }' > "$W/plan.tsv"

declare -a T SND TYP TXT
while IFS="$TAB" read -r seq t snd typ txt; do
    T[$seq]=$t SND[$seq]=$snd TYP[$seq]=$typ TXT[$seq]=$txt
done < "$W/plan.tsv"
N=${#SND[@]}
# Map the delta numbers to message numbers.
declare -A LOST SWAP
d=0 K=0
for ((i = 1; i <= N; i++)); do
    [ "${TYP[$i]}" = agent_response ] || continue
    d=$((d + 1))
    [ "$d" = "$LOST_D" ] && LOST[$i]=1
    [ "$d" = "$K_D" ] && K=$i
    for s in $SWAPS_D; do [ "$d" = "$s" ] && SWAP[$i]=1; done
done
[ "$K" -gt 0 ] || die "trace too short for message k"
lost_list=$(printf '#%s\n' "${!LOST[@]}" | sort -k1.2n | paste -sd' ')
swap_list=$(for i in "${!SWAP[@]}"; do printf '#%s/#%s\n' "$i" $((i + 1)); done | sort -k1.2n | paste -sd' ')

ms() { awk -v t="$1" 'BEGIN { printf "%7.3f s", t / 1000 }'; }
trim() { sed 's/^ *//'; }
json_num() { sed -n "s/^[^\"]*\(\"[^\"]*\"[^\"]*\)*\"$2\":\([0-9]*\).*/\2/p" "$1" | sed -n 1p; }

echo "=== ratchetbox demo: an AI agent answers a question on a phone, through a relay nobody trusts ==="
echo
echo "The trace: turn 1 of $TRACE, $N messages$([ "$QUICK" = 1 ] && echo ' (quick mode: shortened)')."
echo

# ------------------------------------------------------------------ set-up
echo "1. Two devices, each with the box key pair the product already has."
declare -A PK FP
for who in agent phone; do
    "$TOOLS/boxtool" keygen "$W/$who/box-key.json"
    rbx "$who" init --import "$W/$who/box-key.json" > /dev/null
done
for who in agent phone; do read -r PK[$who] FP[$who] < <(rbx "$who" id); done
echo "   agent machine: fingerprint ${FP[agent]}   phone: fingerprint ${FP[phone]}"
echo "   (rbx init --import box-key.json: the same key that encrypts today's messages)"
echo
echo "2. Each device publishes a prekey bundle on the relay; each adds the other as a contact."
# The first bundle also makes the first signed prekey and 100 one-time
# prekeys, which rbx bundle reports on stderr: kept out of the narrative.
rbx agent bundle > "$W/relay/agent.bundle" 2> "$W/tmp/err" || die_err "bundle failed"
rbx phone bundle > "$W/relay/phone.bundle" 2> "$W/tmp/err" || die_err "bundle failed"
rbx phone add agent "$W/relay/agent.bundle" > /dev/null
rbx agent add phone "$W/relay/phone.bundle" > /dev/null
echo "   the bundle is public (a signed, short-lived key); the phone checks its signature."
# History (act 6 rotates the archive): archiving is a policy, off by default.
for who in agent phone; do rbx "$who" policy set archive on > /dev/null; done
echo "   both devices keep a history archive of what they send and read (rbx policy set archive on)."
echo

# ------------------------------------------------------------------ replay
RELAY="$W/relay/messages.tsv" BASE="$W/relay/today-envelopes.tsv"
printf '# what the relay stores: seq\tt_ms\tsender_fingerprint\ttype\tbytes\tciphertext (rbx transport line)\n' > "$RELAY"
printf '# the same messages under today'"'"'s scheme (long-lived box keys): seq\tcontent_encrypted\tencryption_nonce\n' > "$BASE"
declare -A DELIVERED_BEFORE_K
phase=before
failures=0

# Deliver messages (in the given order) to $1; check every plaintext.
deliver() {
    local to=$1; shift
    [ $# -gt 0 ] || return 0
    local i
    for i in "$@"; do printf '%s\n' "${LINE[$i]}"; done > "$W/tmp/in"
    if [ $# -gt 1 ]; then
        rbx "$to" recv --stream < "$W/tmp/in" > "$W/tmp/pt" 2> "$W/tmp/err" || die_err "recv --stream failed"
        for i in "$@"; do printf '%s\n' "${TXT[$i]}"; done > "$W/tmp/want"
        cmp -s "$W/tmp/pt" "$W/tmp/want" || fail "$to did not read what was sent"
    else
        rbx "$to" recv - < "$W/tmp/in" > "$W/tmp/pt" 2> "$W/tmp/err" || die_err "recv failed"
        [ "$(cat "$W/tmp/pt")" = "${TXT[$1]}" ] || fail "$to did not read message #$1"
    fi
    for i in "$@"; do [ "$phase" = before ] && DELIVERED_BEFORE_K[$i]=1; done
    return 0
}

declare -a LINE
echo "3. Replaying the turn (send on one device, relay, receive on the other)."
i=1
while [ "$i" -le "$N" ]; do
    from=${SND[$i]}
    to=$([ "$from" = agent ] && echo phone || echo agent)
    j=$i
    while [ $((j + 1)) -le "$N" ] && [ "${SND[$((j + 1))]}" = "$from" ]; do j=$((j + 1)); done
    burst=$(seq "$i" "$j")
    # Send: a burst of the agent's output goes through one `rbx send --stream`
    # (batched transactions); a single message through `rbx send`.
    if [ "$i" -lt "$j" ]; then
        for m in $burst; do printf '%s\n' "${TXT[$m]}"; done | rbx "$from" send --stream "$to" > "$W/tmp/lines"
    else
        printf '%s' "${TXT[$i]}" | rbx "$from" send "$to" - > "$W/tmp/lines"
    fi
    m=$i
    while IFS= read -r l; do LINE[$m]=$l; m=$((m + 1)); done < "$W/tmp/lines"
    [ "$m" = $((j + 1)) ] || die "send printed $((m - i)) lines for $((j - i + 1)) messages"
    # Today's scheme for the same plaintexts, from the sender's box key.
    for m in $burst; do printf '%s\n' "${TXT[$m]}"; done |
        "$TOOLS/boxtool" seal "$W/$from/box-key.json" "${PK[$to]}" |
        paste <(printf '%s\n' $burst) - >> "$BASE"
    for m in $burst; do
        l=${LINE[$m]}; pad=${l//[^=]/}
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "${T[$m]}" "${FP[$from]}" "${TYP[$m]}" \
            $(( ${#l} / 4 * 3 - ${#pad} )) "$l" >> "$RELAY"
    done
    # The relay's delivery order: swapped pairs, one message lost.
    order=()
    for m in $burst; do
        if [ -n "${SWAP[$m]:-}" ] && [ "$m" -lt "$j" ]; then order+=($((m + 1)) "$m")
        elif [ -n "${SWAP[$((m - 1))]:-}" ] && [ "$m" -gt "$i" ]; then :
        elif [ -n "${LOST[$m]:-}" ]; then :
        else order+=("$m"); fi
    done
    first=${T[$i]} last=${T[$j]}
    if [ "$i" = 1 ]; then
        echo "   $(ms "$first")  phone -> agent  the user's question (${#TXT[1]} bytes). This first message also"
        echo "                carries the handshake: the agent now shares a secret with the phone."
    elif [ "$i" -lt "$j" ]; then
        echo "   $(ms "$first")  agent -> phone  $((j - i + 1)) messages streamed (${TYP[$i]} .. ${TYP[$j]}, until $(ms "$last" | trim))"
    fi
    if [ "$K" -ge "$i" ] && [ "$K" -le "$j" ]; then
        pre=() post=() seen=0
        for m in "${order[@]}"; do if [ "$seen" = 0 ]; then pre+=("$m"); else post+=("$m"); fi; [ "$m" = "$K" ] && seen=1; done
        deliver "$to" "${pre[@]}"
        # The thief: a copy of the phone's whole directory, storage key included.
        cp -a "$W/phone" "$W/stolen"
        rbx phone status --json > "$W/tmp/status-k.json"
        phase=after
        deliver "$to" "${post[@]}"
        echo "                relay lost $lost_list; delivered $swap_list in swapped order;"
        echo "                the phone read every message that arrived, in whatever order"
        echo "                ** after message #$K a thief copies the phone's directory **"
    else
        deliver "$to" "${order[@]}"
    fi
    i=$((j + 1))
done
hb=$(awk -F'\t' '$4 == "heartbeat"' "$W/plan.tsv" | wc -l)
echo "   then $hb heartbeats, alternating agent and phone (every 15 s), until $(ms "${T[$N]}" | trim)"
rbx phone status --json > "$W/tmp/status-end.json"
rbx agent status --json > "$W/tmp/status-agent.json"
echo
echo "   Every message used a fresh key, then the key was deleted. Each time the direction"
echo "   changes, the receiving side makes a new random key pair and mixes a Diffie-Hellman"
echo "   result into its keys (a \"DH step\"; rbx status --json shows dh_steps):"
echo "     DH steps made by the phone: $(json_num "$W/tmp/status-k.json" dh_steps) when the thief struck," \
     "$(json_num "$W/tmp/status-end.json" dh_steps) by the end of the turn; by the agent: $(json_num "$W/tmp/status-agent.json" dh_steps)"
echo "     keys the phone still holds for messages it has not received: $(json_num "$W/tmp/status-k.json" skipped_keys) at message #$K (the lost one)"
echo

# ------------------------------------------------------------------ relay
rows=$(grep -vc '^#' "$RELAY")
echo "4. What the relay stores ($W/relay/messages.tsv: $rows rows, $(du -k "$RELAY" | cut -f1) KiB):"
awk -F'\t' '/^#/ || n++ >= 3 { next } { printf "   #%-4s t=%-7s from %s  %-15s %5s bytes  %.40s...\n", $1, $2, $3, $4, $5, $6 }' "$RELAY"
echo "   only ciphertext, sizes, times, types and the sender's fingerprint; no key, no text."
echo

# ------------------------------------------------------------------ thief
"$TOOLS/thief" "$W/stolen" "$W/stolen/box-key.json" "$RELAY" "$BASE" > "$W/thief.tsv"
echo "5. The thief holds the phone's files as of message #$K and everything the relay stored."
echo "   It tries every message with the real decryption code (ratchetbox) and with the stolen"
echo "   box key (today's scheme):"
echo
# Group consecutive messages with the same outcome into ranges.
for ((m = 1; m <= N; m++)); do
    printf '%s\t%s\t%s\n' "$m" "$([ "$m" -le "$K" ] && echo before || echo after)" "${LOST[$m]:+lost}"
done > "$W/tmp/notes"
awk -F'\t' '
    function flush() {
        if (!n) return;
        r = (lo == hi) ? "#" lo : "#" lo "-#" hi;
        printf "   %-10s %-6s %-14s | %-40s | %s\n", r, w, dir, (rb ? "READ " ex : "no"), (bl ? "READ" : "no");
        n = 0;
    }
    NR == FNR { when[$1] = $2; note[$1] = $3; next }
    /^#/ { next }
    NR != FNR && !hdr {
        printf "   %-10s %-6s %-14s | %-40s | %s\n", "messages", "theft", "direction", "ratchetbox", "today (long-lived box key)";
        printf "   %s\n", "-----------------------------------------------------------------------------------------------";
        hdr = 1;
    }
    {
        d = ($2 == "in") ? "agent -> phone" : "phone -> agent";
        key = when[$1] "|" $3 "|" $4 "|" note[$1];
        if (n && key == k && $1 == hi + 1) { hi = $1; n++; if (d != dir) dir = "both ways"; next }
        flush();
        k = key; lo = hi = $1; w = when[$1]; dir = d; rb = $3; bl = $4; n = 1;
        ex = note[$1] == "lost" ? "(the lost one: its key was kept)" : "\"" substr($5, 1, 30) "...\"";
    }
    END { flush() }' "$W/tmp/notes" "$W/thief.tsv"
echo

# ------------------------------------------------------------------ verdict
# SECURITY.md section 3: nothing the phone had already decrypted; exactly the
# keys it held (the lost message); then healing after a DH round trip.
past_rb=0 past_bl=0 past_n=0 fut_rb=0 fut_bl=0 fut_n=0 heal=0 after_heal=0 lost_read=0
while IFS="$TAB" read -r m dir rb bl _; do
    case "$m" in '#'*) continue ;; esac
    if [ "$m" -le "$K" ]; then
        past_n=$((past_n + 1)) past_rb=$((past_rb + rb)) past_bl=$((past_bl + bl))
        [ -n "${LOST[$m]:-}" ] && lost_read=$((lost_read + rb))
        if [ "$rb" = 1 ] && [ "$dir" = in ] && [ -n "${DELIVERED_BEFORE_K[$m]:-}" ]; then
            fail "message #$m was already read by the phone, yet the thief read it"
        fi
    else
        fut_n=$((fut_n + 1)) fut_rb=$((fut_rb + rb)) fut_bl=$((fut_bl + bl))
        if [ "$rb" = 0 ] && [ "$heal" = 0 ]; then heal=$m; fi
        if [ "$heal" != 0 ] && [ "$rb" = 1 ]; then after_heal=$((after_heal + 1)); fi
    fi
done < "$W/thief.tsv"
echo "   Why: the copy holds the keys the phone was about to use (the rest of the agent's stream and"
echo "   the next exchange), plus the key it kept for the lost message; not the keys it already used."
echo
echo "   Before the theft: ratchetbox $past_rb of $past_n readable (only the lost message, whose key the phone"
echo "   kept in case it arrived late); today's scheme $past_bl of $past_n."
if [ "$heal" != 0 ]; then
    echo "   After the theft: ratchetbox $fut_rb of $fut_n readable, until message #$heal; from there on nothing:"
    echo "   a heartbeat went each way, both sides made new random keys the thief never saw (healing)."
else
    echo "   After the theft: ratchetbox $fut_rb of $fut_n readable: NO HEALING in this turn."
fi
echo "   Today's scheme: $fut_bl of $fut_n. One stolen key file opens every message, past and future."
[ "$past_bl" = "$past_n" ] && [ "$fut_bl" = "$fut_n" ] || fail "the baseline thief should read everything"
[ "$lost_read" = "${#LOST[@]}" ] || fail "the lost message should be readable"
[ "$heal" != 0 ] && [ "$after_heal" = 0 ] || fail "no clean healing point"

# ------------------------------------------------------------------ rotation
# Issue 6: the phone replaces its identity key on schedule; the agent follows
# the signed rotation chain from the key it pinned in act 2; a message in
# flight under the old session still decrypts; the next message starts a new
# session under the new key. Then the archive's key rotates.
echo
echo "6. Rotation. The phone replaces its identity key (a scheduled rotation), while one of the"
echo "   agent's messages is still on the relay."
printf 'in flight: sent to the old key' | rbx agent send phone - > "$W/tmp/inflight"
rbx phone rotate identity --reason "scheduled" --json > "$W/tmp/rot.json"
read -r NEWPK NEWFP < <(rbx phone id)
rot_seq=$(json_num "$W/tmp/rot.json" sequence)
rot_until=$(json_num "$W/tmp/rot.json" old_valid_until)
grep -q "\"old\":{[^}]*\"fingerprint\":\"${FP[phone]}\"}" "$W/tmp/rot.json" &&
    grep -q "\"new\":{[^}]*\"fingerprint\":\"$NEWFP\"}" "$W/tmp/rot.json" && [ "$rot_seq" = 1 ] &&
    [ "$NEWFP" != "${FP[phone]}" ] || fail "rbx rotate identity did not report the rotation"
echo "   rbx rotate identity --reason scheduled: fingerprint ${FP[phone]} -> $NEWFP, sequence $rot_seq."
echo "   A rotation record (old key, new key, time, reason, hash of the previous record) is signed"
echo "   by BOTH keys; the old key stays $(( (rot_until - $(date +%s) + 3600) / 86400 )) days for messages already on their way."
rbx phone bundle > "$W/relay/phone-2.bundle" 2> "$W/tmp/err" || die_err "bundle failed"
rbx agent add phone "$W/relay/phone-2.bundle" > "$W/tmp/readd" 2> "$W/tmp/err" || die_err "the agent refused the phone's rotated bundle"
readd=$(sed -n 2p "$W/tmp/readd")
case "$readd" in
    "phone: identity rotated (sequence 1), fingerprint ${FP[phone]} -> $NEWFP; old sessions kept until "*) ;;
    *) fail "the agent did not follow the rotation: $readd" ;;
esac
echo "   The agent fetches the phone's new bundle from the relay; it carries the record, and the agent"
echo "   checks it from the key it pinned in step 2 (rbx add):"
echo "     $readd"
rbx phone recv "$W/tmp/inflight" > "$W/tmp/pt" 2> "$W/tmp/err" || die_err "the in-flight message did not decrypt"
[ "$(cat "$W/tmp/pt")" = "in flight: sent to the old key" ] || fail "the in-flight message was not read"
echo "   The message in flight under the old session arrives: the phone reads it (grace window)."
printf 'first message under the new key' | rbx agent send --json phone - > "$W/tmp/next.json"
sed -n 's/.*"line":"\([^"]*\)".*/\1/p' "$W/tmp/next.json" > "$W/tmp/next"
rbx phone recv "$W/tmp/next" > "$W/tmp/pt" 2> "$W/tmp/err" || die_err "the first message under the new key did not decrypt"
grep -q '"kind":"prekey"' "$W/tmp/next.json" && [ "$(cat "$W/tmp/pt")" = "first message under the new key" ] ||
    fail "the next message did not start a new session"
printf 'reply from the new key' | rbx phone send agent - > "$W/tmp/reply"
rbx agent recv "$W/tmp/reply" > "$W/tmp/pt" 2> "$W/tmp/err" || die_err "the reply under the new key did not decrypt"
[ "$(cat "$W/tmp/pt")" = "reply from the new key" ] || fail "the reply was not read"
echo "   The agent's next message starts a new session (a new X3DH handshake with the new key); the"
echo "   phone reads it and replies from its new key. The old key and the sessions made under it"
echo "   are erased when the grace window ends (rbx bundle and rbx recv do the upkeep)."
# The archive's turn: a new epoch key, every entry rewrapped, the old key erased.
rbx phone history > "$W/tmp/hist-before" || die "rbx history failed"
before=$(wc -l < "$W/tmp/hist-before")
echo "   Then the phone's history archive (${before} messages of this session) gets a new key; every"
echo "   entry is re-encrypted under it and the old key is erased from every file:"
rbx phone rotate archive --mode reencrypt > "$W/tmp/arch" 2> "$W/tmp/err" ||
    { cat "$W/tmp/err" >&2; fail "rbx rotate archive failed"; }
sed 's/^/     /' "$W/tmp/arch"
rbx phone history > "$W/tmp/hist-after" || die "rbx history failed after the rotation"
# Lines are "time direction peer epoch:seq text": all but the epoch must match.
no_epoch() { sed -E 's/^([^ ]+ +[^ ]+ +[^ ]+ +)[0-9]+:/\1/' "$1"; }
if [ "$before" -gt 0 ] && grep -q ' 2:1 ' "$W/tmp/hist-after" &&
        cmp -s <(no_epoch "$W/tmp/hist-before") <(no_epoch "$W/tmp/hist-after"); then
    echo "   rbx history reads the same ${before} messages back under the new key."
else
    fail "the history changed across the archive rotation"
fi
end_ns=$(date +%s%N)
echo
echo "Done in $(( (end_ns - start_ns) / 1000000 )) ms. Files: $W (agent/, phone/, relay/, stolen/, thief.tsv)."
[ "$failures" = 0 ] || die "$failures check(s) failed"
