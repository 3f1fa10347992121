#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The history archive from the command line (issue 6 sections 4 and 5), run
# by make check-cli after test_cli.sh: rbx history (text, --json, a contact
# filter, --archive on|off), rbx import-history (good, plaintext and bad rows,
# line numbers, exit codes, a second run, the old key erased afterwards) and
# rbx rotate archive in each mode. Ends with "N passed, M failed".
#
# Environment: RBX (build/rbx), TOOLS (build/tools), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test}-archive"

# Errors may span lines here (import-history reports each bad line).
ERR_LINES=many
run() { rbx_run "$@"; }
A=(--dir "$T/alice") B=(--dir "$T/bob")

# ------------------------------------------------------------------ setup
"$TOOLS/boxtool" keygen "$T/bob.json"      # bob's long-lived device key (the product's)
"$TOOLS/boxtool" keygen "$T/phone.json"    # the phone he talked to before
run "init alice" 0 "${A[@]}" init
run "init bob with the product's key" 0 "${B[@]}" init --import "$T/bob.json"
run "history before any archive" 0 "${A[@]}" history
check "empty history prints nothing" '[ ! -s "$T/out" ]'

# ------------------------------------------------------------------ archive on, history
run "history --archive bogus" 64 "${A[@]}" history --archive maybe
run "history --archive with a NAME" 64 "${A[@]}" history bob --archive on
run "history --archive on (alice)" 0 "${A[@]}" history --archive on
check "--archive on says so" '[ "$(cat "$T/out")" = "archive on" ]'
run "history --archive on (bob)" 0 "${B[@]}" history --archive on
"$RBX" "${B[@]}" bundle > "$T/bob.bundle" 2> /dev/null
run "alice adds bob" 0 "${A[@]}" add bob "$T/bob.bundle"
printf 'hello bob' > "$T/m1"
t0=$(now)
run "send 1" 0 "${A[@]}" send bob "$T/m1"; cp "$T/out" "$T/l1"
run "recv 1" 0 "${B[@]}" recv "$T/l1"
ALICE_FP=$("$RBX" "${A[@]}" id | cut -d' ' -f2)
printf 'two\nlines\ttab' | "$RBX" "${B[@]}" send "$ALICE_FP" - > "$T/l2"
run "recv 2" 0 "${A[@]}" recv "$T/l2"
t1=$(now)
run "history" 0 "${A[@]}" history
check "entries dated while they were sent and received" 'within_str "$(iso_of "$t0")" "$(sed -n "1s/ .*//p" "$T/out")" "$(iso_of "$t1")" && within_str "$(iso_of "$t0")" "$(sed -n "2s/ .*//p" "$T/out")" "$(iso_of "$t1")"'
check "two entries" '[ "$(wc -l < "$T/out")" = 2 ]'
check "entry 1: sent to bob, epoch 1, seq 1" 'sed -n 1p "$T/out" | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z sent +bob 1:1 hello bob$"'
check "entry 2: received, control bytes escaped" 'sed -n 2p "$T/out" | grep -Fq "received bob 1:2 two\nlines\ttab"'
run "history --json" 0 "${A[@]}" history --json
check "history --json: one object per entry" '[ "$(grep -c "^{.*}$" "$T/out")" = 2 ]'
check "history --json: Unix times of the send and the receive" 'within "$t0" "$(sed -n "1s/.*\"time\":{\"unix\":\([0-9]*\),.*/\1/p" "$T/out")" "$t1" && within "$t0" "$(sed -n "2s/.*\"time\":{\"unix\":\([0-9]*\),.*/\1/p" "$T/out")" "$t1"'
check "history --json: the same time in RFC 3339" 'u=$(sed -n "1s/.*\"time\":{\"unix\":\([0-9]*\),.*/\1/p" "$T/out"); sed -n 1p "$T/out" | grep -q "\"rfc3339\":\"$(iso_of "$u")\""'
check "history --json plaintext" '[ "$(sed -n 1p "$T/out" | sed -n "s/.*\"plaintext_b64\":\"\([^\"]*\)\".*/\1/p" | base64 -d)" = "hello bob" ]'
check "history --json fields" 'sed -n 1p "$T/out" | grep -q "\"direction\":\"sent\",\"peer\":\"bob\",\"session\":\"[0-9a-f]\{64\}\",\"seq\":1,\"epoch\":1,\"available\":true"'
SESSION=$(sed -n 1p "$T/out" | sed -n 's/.*"session":"\([0-9a-f]*\)".*/\1/p')
run "history at bob --json" 0 "${B[@]}" history --json
check "both sides share the session id" 'grep -c "\"session\":\"$SESSION\"" "$T/out" | grep -qx 2'
run "history NAME" 0 "${A[@]}" history bob
check "history NAME: both entries" '[ "$(wc -l < "$T/out")" = 2 ]'
run "history of an unknown name" 0 "${A[@]}" history nobody
check "nothing for an unknown name" '[ ! -s "$T/out" ]'
run "history with a bad name" 64 "${A[@]}" history ""
run "history --archive off" 0 "${A[@]}" history --archive off
run "send while off" 0 "${A[@]}" send bob "$T/m1"
run "history unchanged while off" 0 "${A[@]}" history
check "still two entries" '[ "$(wc -l < "$T/out")" = 2 ]'
run "history --archive on again" 0 "${A[@]}" history --archive on

# ------------------------------------------------------------------ import-history
BOB_PK=$("$TOOLS/boxtool" pk "$T/bob.json")
PHONE_PK=$("$TOOLS/boxtool" pk "$T/phone.json")
echo "from the phone" | "$TOOLS/boxtool" seal "$T/phone.json" "$BOB_PK" > "$T/e1"
echo "from the agent" | "$TOOLS/boxtool" seal "$T/bob.json" "$PHONE_PK" > "$T/e2"
C1=$(cut -f1 "$T/e1"); N1=$(cut -f2 "$T/e1"); C2=$(cut -f1 "$T/e2"); N2=$(cut -f2 "$T/e2")
row() { # content nonce-json sequence timestamp direction
    printf '{"session_id":"s-1","content_encrypted":"%s","encryption_nonce":%s,"peer_public_key":"%s","sequence":%s,"timestamp":%s,"direction":"%s","message_type":"chat","cost":0.01}\n' \
        "$1" "$2" "$PHONE_PK" "$3" "$4" "$5"
}
{
    row "$C1" "\"$N1\"" 1 1700000000 received                    # 1 good
    row "$C2" "\"$N2\"" 2 1700000060 sent                        # 2 good
    row "a plaintext row" null 3 1700000120 received             # 3 plaintext row
    echo '{"content_encrypted": "abc",'                           # 4 not JSON
    echo                                                          # 5 blank: skipped silently
    echo "{\"content_encrypted\":\"$C1\",\"encryption_nonce\":\"$N1\",\"peer_public_key\":\"$PHONE_PK\",\"timestamp\":1}"  # 6 no sequence
    row "$C1" "\"$N2\"" 7 1700000180 received                    # 7 wrong nonce: auth fails
    row '!!!!not base64!!' "\"$N1\"" 8 1700000240 received       # 8 bad base64
    row "$C1" '"AAAAAAAAAAAAAAAAAAAAAA=="' 9 1700000300 received # 9 16-byte nonce
    row "$C1" "\"$N1\"" 10 1700000360 sideways                   # 10 bad direction
} > "$T/rows.jsonl"
run "import-history without --key" 64 "${B[@]}" import-history "$T/rows.jsonl"
check "the missing option named" 'grep -q "^rbx: import-history: FILE|- and --key KEYFILE are required" "$T/err"'
run "import-history, a second file" 64 "${B[@]}" import-history "$T/rows.jsonl" extra.jsonl --key "$T/bob.json"
check "the extra argument named" 'grep -q "^rbx: import-history: unexpected argument '"'"'extra.jsonl'"'"'" "$T/err"'
run "import-history, missing key file" 66 "${B[@]}" import-history "$T/rows.jsonl" --key "$T/nope.json"
run "import-history, missing input" 66 "${B[@]}" import-history "$T/nope.jsonl" --key "$T/bob.json"
run "import-history with bad lines" 65 "${B[@]}" import-history "$T/rows.jsonl" --key "$T/bob.json"
check "summary" '[ "$(cat "$T/out")" = "imported 3, already imported 0, rejected 6 (10 lines)" ]'
for l in 4 6 7 8 9 10; do
    check "line $l reported" 'grep -q "^rbx: import-history: line $l: " "$T/err"'
done
check "no other line reported" '[ "$(wc -l < "$T/err")" = 6 ]'
check "line 6 names the missing field" 'grep -q "line 6: missing sequence" "$T/err"'
check "line 7 is an authentication failure" 'grep -q "line 7: .*authentication" "$T/err"'
run "history after import" 0 "${B[@]}" history
check "imported rows under the phone's fingerprint" '[ "$(grep -c "from the phone\|from the agent\|a plaintext row" "$T/out")" = 3 ]'
check "imported row time and direction" 'grep -q "^2023-11-14T22:13:20Z received .* 1:1 from the phone$" "$T/out" && grep -q "^2023-11-14T22:14:20Z sent .* 1:2 from the agent$" "$T/out"'
check "imported rows come first (older)" 'sed -n 1p "$T/out" | grep -q "from the phone"'
STDIN="$T/rows.jsonl" run "import again from stdin" 65 "${B[@]}" import-history - --key "$T/bob.json" --json
check "nothing imported twice" 'grep -q "\"imported\":0,\"already_imported\":3,\"rejected\":6,\"lines\":10" "$T/out"'
check "--json lists the refused lines in the object" '[ "$(grep -o "\"line\":[0-9]*" "$T/out" | tr "\n" " ")" = "\"line\":4 \"line\":6 \"line\":7 \"line\":8 \"line\":9 \"line\":10 " ] && grep -q "\"line\":6,\"reason\":\"missing sequence\"" "$T/out"'
check "--json: one error object saying how many" 'grep -q "\"message\":\"import-history: 6 of 10 lines rejected (rejected_lines)\"" "$T/err"'
head -n 3 "$T/rows.jsonl" > "$T/good.jsonl"
run "import only good rows again" 0 "${B[@]}" import-history "$T/good.jsonl" --key "$T/bob.json"
check "again nothing" '[ "$(cat "$T/out")" = "imported 0, already imported 3, rejected 0 (3 lines)" ]'
"$TOOLS/boxtool" keygen "$T/other.json"
head -n 2 "$T/rows.jsonl" > "$T/sealed.jsonl"
run "import with another key" 65 "${B[@]}" import-history "$T/sealed.jsonl" --key "$T/other.json"
check "another key opens nothing" '[ "$(cat "$T/out")" = "imported 0, already imported 0, rejected 2 (2 lines)" ]'
# The old key is gone (rotated away in the product): history remains.
sk=$(keyfile_field secretKey "$T/bob.json")
rm -f "$T/bob.json"
run "history without the old key" 0 "${B[@]}" history
check "still there" '[ "$(grep -c "from the phone\|from the agent\|a plaintext row" "$T/out")" = 3 ]'

# ------------------------------------------------------------------ rotate archive
run "rotate without a kind" 64 "${B[@]}" rotate
run "rotate an unknown kind" 64 "${B[@]}" rotate everything
check "rotate names the kinds" 'grep -q "identity, prekeys or archive" "$T/err"'
run "rotate archive without --mode" 64 "${B[@]}" rotate archive
run "rotate archive --mode bogus" 64 "${B[@]}" rotate archive --mode bogus
run "rotate archive --mode split" 0 "${B[@]}" rotate archive --mode split --json
check "split: new epoch 2" '[ "$(jfield new_epoch)" = 2 ] && [ "$(jfield rewrapped)" = 0 ]'
printf 'after the split' > "$T/m3"
run "send after split" 0 "${A[@]}" send bob "$T/m3"; cp "$T/out" "$T/l3"
run "recv after split" 0 "${B[@]}" recv "$T/l3"
run "history --json after split" 0 "${B[@]}" history --json
check "new message in epoch 2, older ones readable in epoch 1" '[ "$(grep -c "\"epoch\":2" "$T/out")" = 1 ] && [ "$(grep -c "\"epoch\":1,\"available\":true" "$T/out")" = 5 ]'
run "rotate archive --mode shred" 0 "${B[@]}" rotate archive --mode shred --json
check "shred: nothing before the retention date" '[ "$(jfield epochs_erased)" = 0 ] && [ "$(jfield new_epoch)" = 2 ]'
run "rotate archive --mode reencrypt" 0 "${B[@]}" rotate archive --mode reencrypt
check "reencrypt: every entry rewrapped, two keys erased" '[ "$(cat "$T/out")" = "archive reencrypt: active epoch 4, 6 entries rewrapped, 2 epoch keys erased, 0 entries unrecoverable" ]'
run "history after reencrypt" 0 "${B[@]}" history
check "all six readable" '[ "$(wc -l < "$T/out")" = 6 ] && ! grep -q unavailable "$T/out" && grep -q " 3:1 from the phone$" "$T/out" && grep -q " 4:3 after the split$" "$T/out"'
# UTF-8 passes; a C1 control (U+009B, CSI), a raw 0x9b byte and ESC are escaped.
printf 'caf\xc3\xa9 \xe2\x82\xac \xc2\x9b[31m \x9b \x1b[2J' | "$RBX" "${A[@]}" send bob - > "$T/l5"
run "recv a message with escapes" 0 "${B[@]}" recv "$T/l5"
run "history escapes terminal controls" 0 "${B[@]}" history
check "UTF-8 kept, controls escaped" 'tail -n 1 "$T/out" | grep -Fq "café € \xc2\x9b[31m \x9b \x1b[2J"'
check "no raw ESC or CSI in the output" '! grep -q "$(printf "\x1b")" "$T/out" && ! LC_ALL=C grep -q "$(printf "\x9b")" "$T/out"'
run "history --help" 0 history --help
run "rotate --help" 0 rotate --help
run "import-history --help" 0 import-history --help

# ------------------------------------------------------------------ manual, secrets
for v in history 'import\\-history' rotate; do
    check "rbx.1 documents $v" 'grep -q "^\.B $v\b" "$MAN"'
done
check "the old secret key was never printed" '[ -n "$sk" ] && ! grep -qF "$sk" "$T/all-output"'

cli_end
