#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run by make bench-quick after build/bench-compare --quick: the wire sizes
# the bench reports are what the product really sends and stores.
# - ratchet and ratchet-he: the bench's "text" size is the length of the line
#   rbx send prints (first message at 64 B; normal messages of 64 B, 1 KiB,
#   16 KiB and 100 KiB), and its "binary" size that line decoded, minus the
#   33-byte header (0x01 and the sender's identity key);
# - baseline-box: "text" is the length of today's content_encrypted plus
#   encryption_nonce strings (tests/cli/boxtool seal), "binary" the two decoded.
# Prints each comparison; exits non-zero on any difference.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), CSV (the bench's
# latest.csv), WIRE_TMP (parent of the scratch directory, default build).
set -euo pipefail

RBX=${RBX:-build/rbx}
TOOLS=${TOOLS:-build/tools}
CSV=${CSV:-build/bench-quick/latest.csv}
T=$(mktemp -d "${WIRE_TMP:-build}/wire-check.XXXXXX")
trap 'rm -rf "$T"' EXIT
failed=0

# bench IMPL CASE BYTES: the value of that size row in the bench's CSV.
bench() { awk -F, -v i="$1" -v c="\"$2\"" -v b="$3" '$1 == i && $3 == c && $4 == b { print $9 }' "$CSV"; }
same() { # WHAT MEASURED BENCH
    if [ -n "$2" ] && [ "$2" = "$3" ]; then
        printf '  %-46s %7s = bench %s\n' "$1" "$2" "$3"
    else
        echo "FAIL: $1: measured '$2', the bench reports '$3'"
        failed=1
    fi
}
r() { local who=$1; shift; "$RBX" --dir "$T/$who" "$@"; }
chars() { tr -d '\n' < "$1" | wc -c; }
decoded() { base64 -d < "$1" | wc -c; }
msg() { [ -f "$T/m$1" ] || head -c "$1" /dev/zero | tr '\0' x > "$T/m$1"; }

# line IMPL FILE CASE BYTES: a transport line against the bench's rows.
line() {
    local bin_case="wire binary" text_case="wire text"
    [ "$3" = first ] && bin_case="wire binary (first)" text_case="wire text (first)"
    same "$1 $3 $4 B: rbx send line" "$(chars "$2")" "$(bench "$1" "$text_case" "$4")"
    same "$1 $3 $4 B: its message" "$(($(decoded "$2") - 33))" "$(bench "$1" "$bin_case" "$4")"
}

echo "wire sizes of the bench against rbx send and today's envelope:"
for impl in ratchet ratchet-he; do
    he=""; [ "$impl" = ratchet-he ] && he=--header-encryption
    rm -rf "$T/a" "$T/b"
    r a init > /dev/null && r b init > /dev/null
    r b bundle 2> /dev/null | r a add b - > /dev/null
    r a bundle 2> /dev/null | r b add a - > /dev/null
    msg 64
    r a send b $he "$T/m64" > "$T/first"
    r b recv "$T/first" > /dev/null 2>&1
    line "$impl" "$T/first" first 64
    r b send a "$T/m64" > "$T/reply"   # as in the bench: A sends normal messages after a reply
    r a recv "$T/reply" > /dev/null 2>&1
    for n in 64 1024 16384 102400; do
        msg "$n"
        r a send b "$T/m$n" > "$T/line"
        r b recv "$T/line" > /dev/null 2>&1
        line "$impl" "$T/line" normal "$n"
    done
done

"$TOOLS/boxtool" keygen "$T/k1.json"
"$TOOLS/boxtool" keygen "$T/k2.json"
pk2=$("$TOOLS/boxtool" pk "$T/k2.json")
for n in 64 1024 16384 102400; do
    msg "$n"
    { cat "$T/m$n"; echo; } | "$TOOLS/boxtool" seal "$T/k1.json" "$pk2" > "$T/env"
    cut -f1 "$T/env" > "$T/content"
    cut -f2 "$T/env" > "$T/nonce"
    same "baseline-box $n B: content + nonce strings" "$(($(chars "$T/content") + $(chars "$T/nonce")))" \
        "$(bench baseline-box "wire text" "$n")"
    same "baseline-box $n B: box + nonce bytes" "$(($(decoded "$T/content") + $(decoded "$T/nonce")))" \
        "$(bench baseline-box "wire binary" "$n")"
done
[ "$failed" = 0 ] && echo "  every size matches"
exit "$failed"
