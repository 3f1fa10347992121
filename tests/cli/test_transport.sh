#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The transport line of PROTOCOL.md 9.6 as rbx recv reads it: every line of
# spec/vectors/transport.txt goes to `rbx recv FILE` in a fresh store and must
# get the listed result, words included. A line listed "ok" passes every step
# of 9.6 and reaches the store, which has no session for it: "unknown
# sender" (exit 66) for a Message, and the handshake's own refusal (exit 65)
# for a PreKeyMessage. Also --stream (line numbers, blank lines, CRLF) and
# the kinds of rbx send --json. Run by make check-cli.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test-transport}"
VECTORS="$(dirname "$0")/../../spec/vectors/transport.txt"

run() { rbx_run "$@"; }
R=(--dir "$T/r")
run "init the receiver" 0 "${R[@]}" init

hex2bin() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')"; }

# One record per transport case: name, line hex, fill byte, length, expect, kind.
records=$(awk -F' = ' '
    function flush() { if (name != "" && (line != "" || fill != "")) print name "|" line "|" fill "|" len "|" expect "|" kind;
                       name = line = fill = len = expect = kind = "" }
    /^#/ { next }
    /^$/ { flush(); next }
    $1 == "case" { name = $2 } $1 == "line" { line = $2 } $1 == "line_fill" { fill = $2 }
    $1 == "line_length" { len = $2 } $1 == "expect" { expect = $2 } $1 == "kind" { kind = $2 }
    END { flush() }' "$VECTORS")
check "the vector file lists transport cases" '[ "$(printf "%s\n" "$records" | wc -l)" -ge 20 ]'

while IFS='|' read -r name line fill len expect kind; do
    if [ -n "$fill" ]; then
        head -c "$len" /dev/zero | tr '\0' "$(hex2bin "$fill")" > "$T/line"
    else
        hex2bin "$line" > "$T/line"
    fi
    if [ "$expect" = ok ] && [ "$kind" = message ]; then
        run "$name: passes 9.6, unknown sender" 66 "${R[@]}" recv "$T/line"
        check "$name: says unknown sender" 'grep -q "^rbx: recv: unknown sender: [0-9a-f]\{16\}$" "$T/err"'
    elif [ "$expect" = ok ]; then
        run "$name: passes 9.6, refused by the handshake" 65 "${R[@]}" recv "$T/line"
        check "$name: reached the store" 'grep -Eq "^rbx: recv: rejected: (authentication failed|unknown prekey)$" "$T/err"'
    else
        run "$name: refused" 65 "${R[@]}" recv "$T/line"
        check "$name: says \"$expect\"" '[ "$(cat "$T/err")" = "rbx: recv: $expect" ]'
    fi
done <<< "$records"

# --stream: blank and CRLF lines, line numbers, the stream goes on after a refusal.
bad=$(printf '%s\n' "$records" | awk -F'|' '$1 == "version-2" { print $2 }')
ok=$(printf '%s\n' "$records" | awk -F'|' '$1 == "message" { print $2 }')
{ printf '\r\n \t\n'; hex2bin "$bad"; printf '\r\n'; hex2bin "$ok"; } > "$T/stream"
ERR_LINES=many run "--stream: a refused line and an unknown sender" 65 "${R[@]}" recv --stream "$T/stream"
check "--stream numbers the refused line (blank lines count)" 'grep -q "^rbx: recv: line 3: malformed transport line: unknown version$" "$T/err"'
check "--stream goes on with the next line" 'grep -q "^rbx: recv: line 4: unknown sender" "$T/err"'

# rbx send --json: "prekey" until a reply is decrypted, then "message".
A=(--dir "$T/a") B=(--dir "$T/b")
run "init a" 0 "${A[@]}" init
run "init b" 0 "${B[@]}" init
run "bundle b" 0 "${B[@]}" bundle
cp "$T/out" "$T/b.bundle"
run "a adds b" 0 "${A[@]}" add b "$T/b.bundle"
echo hello > "$T/pt"
run "a sends (json)" 0 "${A[@]}" send b "$T/pt" --json
check "first message: kind prekey" 'grep -q "\"kind\":\"prekey\"" "$T/out"'
sed -n 's/.*"line":"\([^"]*\)".*/\1/p' "$T/out" > "$T/l1"
check "the JSON line is the transport line" '[ "$(base64 -d < "$T/l1" | head -c 1 | od -An -tu1 | tr -d " ")" = 1 ]'
run "b receives" 0 "${B[@]}" recv "$T/l1"
name_a=$(sed -n 's/^rbx: recv: from \([0-9a-f]*\) (new contact)$/\1/p' "$T/err")
check "b names a by its fingerprint" '[ ${#name_a} = 16 ]'
run "b replies (json)" 0 "${B[@]}" send "$name_a" "$T/pt" --json
check "a reply: kind message" 'grep -q "\"kind\":\"message\"" "$T/out"'
sed -n 's/.*"line":"\([^"]*\)".*/\1/p' "$T/out" | tr -d '\n' > "$T/l2"
printf '\r\n' >> "$T/l2"
run "a receives a CRLF line" 0 "${A[@]}" recv "$T/l2"
run "a sends again (json)" 0 "${A[@]}" send b "$T/pt" --json
check "after a reply: kind message" 'grep -q "\"kind\":\"message\"" "$T/out"'

# The bundle line (9.7): CRLF and blanks around it are fine; it has no
# version byte of its own, so one put in front is a malformed bundle.
run "b's bundle line" 0 "${B[@]}" bundle
cp "$T/out" "$T/b2.bundle"
{ printf ' '; tr -d '\n' < "$T/b2.bundle"; printf '\r\n'; } > "$T/b.crlf"
run "a bundle line with CRLF and blanks" 0 "${A[@]}" add b2 "$T/b.crlf"
{ printf '\001'; base64 -d < "$T/b2.bundle"; } | base64 -w0 > "$T/b.versioned"
run "a version byte in front of the bundle" 65 "${A[@]}" add b3 "$T/b.versioned"
check "it is a malformed bundle" '[ "$(cat "$T/err")" = "rbx: add: bad bundle: malformed input" ]'
{ tr -d '\n' < "$T/b2.bundle" | head -c 40; printf '\n'; tr -d '\n' < "$T/b2.bundle" | tail -c +41; } > "$T/b.wrapped"
run "a wrapped bundle line" 65 "${A[@]}" add b4 "$T/b.wrapped"
check "it is not one line of base64" '[ "$(cat "$T/err")" = "rbx: add: bad bundle: not one line of base64" ]'

cli_end
