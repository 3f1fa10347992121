#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# rbx --json against its schemas (issue 18, PROTOCOL.md 22, spec/json/), run
# by make check-cli with Debian's python3-jsonschema (tests/json/validate.py):
# every verb run with --json, each line of its output validated against the
# verb's schema (every member required, no other allowed: nothing appears or
# vanishes), every line on stderr against notice.schema.json, and errors as
# one object on stderr whose exit is the exit status. The schemas themselves
# are linted, every verb rbx help lists is covered, and the validator is shown
# to refuse what it must. Ends with "N passed, M failed".
#
# Environment: RBX (build/rbx), TOOLS (build/tools: boxtool), CLI_TEST_DIR,
# JSON_PYTHON (/usr/bin/python3: the interpreter Debian's python3-jsonschema
# belongs to).
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test-json}"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=${JSON_PYTHON:-/usr/bin/python3}
V() { "$PY" -B "$SRC/tests/json/validate.py" "$SRC/spec/json" "$@"; }
if ! "$PY" -c 'import jsonschema' 2> /dev/null; then
    echo "test_json: $PY has no jsonschema module (apt-get install python3-jsonschema: make deps)"
    exit 1
fi
covered=" "
run() { rbx_run "$@"; }

# The outputs are kept under $T/j and validated at the end in one run of the
# validator (one interpreter start): "SCHEMA PATH" lines in $T/manifest.
mkdir -p "$T/j"
: > "$T/manifest"
nj=0
keep() { # keep SCHEMA FILE [empty-ok]
    nj=$((nj + 1))
    cp "$2" "$T/j/$nj.$1"
    echo "$1 $T/j/$nj.$1 ${3:-}" >> "$T/manifest"
}
# jrun NAME SCHEMA ARGS...: rbx ARGS (with --json among them) exits 0; its
# stdout is kept for SCHEMA, its stderr (if any) for notice.
jrun() {
    local name=$1 schema=$2; shift 2
    local verb a
    for a in "$@"; do case "$a" in --dir) ;; */*) ;; -*) ;; *) verb=$a; break ;; esac; done
    run "$name" 0 "$@" || return
    covered="$covered${verb:-?} "
    keep "$schema" "$T/out" ${EMPTY_OK:+empty-ok}
    if [ -s "$T/err" ]; then keep notice "$T/err"; fi
}
# jfail NAME WANT ARGS...: exits WANT; stderr is notices ending in one error
# object (rbx_run checks the shape and its exit); kept for both schemas.
jfail() {
    local name=$1 want=$2; shift 2
    run "$name" "$want" "$@" || return
    keep notice "$T/err"
    tail -n 1 "$T/err" > "$T/last"
    keep error "$T/last"
}

if V --lint > "$T/v" 2>&1; then ok; else bad "schemas: $(cat "$T/v")"; fi

A=(--dir "$T/a") B=(--dir "$T/b") ADM=(--dir "$T/adm")
jrun "help" help help --json
jrun "version" version version --json
jrun "init" identity "${A[@]}" init --json
jrun "id" identity "${A[@]}" id --json
"$RBX" "${B[@]}" init > /dev/null 2>&1
jrun "bundle" bundle "${B[@]}" bundle --json
cp "$T/out" "$T/bjson"; sed -n 's/.*"bundle":"\([^"]*\)".*/\1/p' "$T/bjson" > "$T/b.bundle"
jrun "bundle --count 2 --no-one-time" bundle "${B[@]}" bundle --count 2 --no-one-time --json
check "two objects" '[ "$(wc -l < "$T/out")" = 2 ]'
jrun "add" add "${A[@]}" add bob "$T/b.bundle" --json
check "add: rotated and adopted are null, not missing" 'grep -q "\"rotated\":null,\"adopted\":null" "$T/out"'
"$RBX" "${A[@]}" bundle 2> /dev/null | "$RBX" "${B[@]}" add alice - > /dev/null 2>&1
echo "hello" > "$T/m"
jrun "send" send "${A[@]}" send bob "$T/m" --json
sed -n 's/.*"line":"\([^"]*\)".*/\1/p' "$T/out" > "$T/line"
jrun "recv" recv "${B[@]}" recv "$T/line" --json
check "recv: the plaintext, base64" 'grep -q "\"plaintext_b64\":\"$(printf "hello\n" | base64 -w0)\"" "$T/out"'
EMPTY_OK=1 jrun "outbox (empty: nothing)" send "${A[@]}" outbox --json
check "an empty outbox prints nothing" '[ ! -s "$T/out" ]'
echo "held back" | "$RBX" "${A[@]}" send bob - > /dev/full 2> /dev/null   # printed nowhere: kept in the outbox
jrun "outbox" send "${A[@]}" outbox --json
check "the message kept" '[ "$(wc -l < "$T/out")" = 1 ]'
jrun "status" status "${A[@]}" status --json
jrun "policy" policy "${A[@]}" policy --json
check "policy: numbers are numbers" 'grep -q "\"spk_rotate\":172800," "$T/out" && grep -q "\"archive\":false," "$T/out"'
jrun "policy set" policy "${A[@]}" policy set archive on max_skip 500 --json
jrun "history --archive" history-archive "${A[@]}" history --archive on --json
echo "kept" | "$RBX" "${A[@]}" send bob - 2> /dev/null | "$RBX" "${B[@]}" recv - > /dev/null 2>&1
jrun "history" history "${A[@]}" history --json
jrun "rotate archive" rotate-archive "${A[@]}" rotate archive --mode split --json
jrun "rotate prekeys" rotate-prekeys "${A[@]}" rotate prekeys --json
jrun "audit" audit "${A[@]}" audit --json
jrun "audit --verify" audit-verify "${A[@]}" audit --verify --json
# import-history: two good rows and one the library refuses.
"$TOOLS/boxtool" keygen "$T/old.json"
"$TOOLS/boxtool" keygen "$T/peer.json"
OPK=$("$TOOLS/boxtool" pk "$T/old.json"); PPK=$("$TOOLS/boxtool" pk "$T/peer.json")
echo "from the product" | "$TOOLS/boxtool" seal "$T/peer.json" "$OPK" > "$T/env"
{ printf '{"content_encrypted":"%s","encryption_nonce":"%s","peer_public_key":"%s","sequence":1,"timestamp":1700000000}\n' \
      "$(cut -f1 "$T/env")" "$(cut -f2 "$T/env")" "$PPK"
  echo 'not json'; } > "$T/rows.jsonl"
jfail "import-history with a bad line" 65 "${A[@]}" import-history "$T/rows.jsonl" --key "$T/old.json" --json
keep import-history "$T/out"
covered="${covered}import-history "
jrun "import-history again (nothing new, no bad line)" import-history "${A[@]}" import-history <(head -n 1 "$T/rows.jsonl") --key "$T/old.json" --json

# Organisation.
jrun "org init" org-init "${ADM[@]}" org init --json
ORG=$(sed -n 's/.*"org_public_key":"\([^"]*\)".*/\1/p' "$T/out")
jrun "org certify" org-certify "${ADM[@]}" org certify --bundle "$T/b.bundle" --expires 30 --out "$T/b.cert" --json
jrun "org install-cert" org-install-cert "${B[@]}" org install-cert "$T/b.cert" --json
jrun "org show (admin)" org-show "${ADM[@]}" org show --json
jrun "org revoke" org-revoke "${ADM[@]}" org revoke "$(sed -n 's/\([^ ]*\) .*/\1/p' < <("$RBX" "${B[@]}" id))" --reason lost --json
sed -n 's/.*"revocation":"\([^"]*\)".*/\1/p' "$T/out" > "$T/b.rev"
jrun "org import-revocation" org-import-revocation "${A[@]}" org import-revocation "$T/b.rev" --json
jrun "org show (member)" org-show "${A[@]}" org show --json
check "org show: one revocation, counted and listed" 'grep -q "\"revocation_count\":1,\"revocations\":\[{" "$T/out"'

# Lifecycle verbs.
C=(--dir "$T/c")
"$RBX" "${C[@]}" init > /dev/null 2>&1
"$RBX" "${C[@]}" bundle 2> /dev/null > "$T/c.bundle"
"$RBX" "${A[@]}" add carol "$T/c.bundle" > /dev/null 2>&1
rm -rf "$T/c"; "$RBX" "${C[@]}" init > /dev/null 2>&1; "$RBX" "${C[@]}" bundle 2> /dev/null > "$T/c.bundle"
jrun "trust" trust "${A[@]}" trust carol "$T/c.bundle" --yes --json
jrun "reset" reset "${A[@]}" reset carol --json
jrun "rename" rename "${A[@]}" rename carol caroline --json
jrun "forget" forget "${A[@]}" forget caroline --json
jrun "rotate identity" rotate-identity "${A[@]}" rotate identity --reason scheduled --json
jrun "sim" sim sim --messages 30 --compromise bob@10 --json
jrun "sim --active" sim sim --messages 30 --compromise bob@10 --active --json
check "sim: forgery is an object with --active" 'grep -q "\"forgery\":{" "$T/out"'

# ------------------------------------------------------------------ users on rbxd (issue 16)
# A real rbxd on 127.0.0.1, on a port it picks, stopped when the suite ends.
RBXD=${RBXD:-$(dirname "$RBX")/rbxd}
case "$RBXD" in /*) ;; *) RBXD="$PWD/$RBXD" ;; esac
"$RBXD" --listen 127.0.0.1:0 --db "sqlite:$T/rbxd.sqlite" --ready-file "$T/port" --log errors \
    > "$T/rbxd.log" 2>&1 &
RBXD_PID=$!
stop_server() { kill "$RBXD_PID" 2> /dev/null; wait "$RBXD_PID" 2> /dev/null; }
trap stop_server EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { echo "FAIL: rbxd did not start: $(cat "$T/rbxd.log")"; exit 1; }
S="http://127.0.0.1:$(cat "$T/port")"
U1=(--dir "$T/u1") U2=(--dir "$T/u2") V1=(--dir "$T/v1")
jrun "account create" account "${U1[@]}" account create ursula --server "$S" --json
check "account create: created, with its server" 'grep -q "^{\"version\":1,\"state\":\"created\",\"user\":\"ursula\",\"device\":[0-9]*,\"registration_id\":[0-9]*,\"identity\":{.*},\"server\":\"$S\"}$" "$T/out"'
jrun "account create (victor)" account "${V1[@]}" account create victor --server "$S" --json
jrun "account link" account-link "${U1[@]}" account link --json
code=$(sed -n 's/.*"code":"\([^"]*\)".*/\1/p' "$T/out")
t1=$(now)
check "account link: expires 10 minutes on" 'e=$(sed -n "s/.*\"expires\":{\"unix\":\([0-9]*\),.*/\1/p" "$T/out"); within $((t1 - 600 - 5)) "$((e - 600))" "$t1"'
# join waits for the approval: its first object (state waiting) carries
# the fingerprint the approving device is given.
"$RBX" "${U2[@]}" account join "$code" --server "$S" --json > "$T/join.out" 2> "$T/join.err" &
jp=$!
for _ in $(seq 100); do [ -s "$T/join.out" ] && break; sleep 0.1; done
fp=$(head -n 1 "$T/join.out" | sed -n 's/.*"state":"waiting",.*"fingerprint":"\([0-9a-f]*\)".*/\1/p')
check "account join: waiting, with a fingerprint" '[ -n "$fp" ]'
jrun "account approve" account-approve "${U1[@]}" account approve "$fp" --json
wait "$jp"; jrc=$?
check "account join exits 0" '[ "$jrc" = 0 ]'
check "account join: waiting, then joined" '[ "$(wc -l < "$T/join.out")" = 2 ] && tail -n 1 "$T/join.out" | grep -q "^{\"version\":1,\"state\":\"joined\",\"user\":\"ursula\","'
check "account join: nothing on stderr" '[ ! -s "$T/join.err" ]'
keep account "$T/join.out"
jrun "account devices" account-devices "${U1[@]}" account devices --json
check "account devices: one object, two devices, one of them this one" '[ "$(wc -l < "$T/out")" = 1 ] && [ "$(grep -o "\"this_device\":" "$T/out" | wc -l)" = 2 ] && [ "$(grep -o "\"this_device\":true" "$T/out" | wc -l)" = 1 ]'
U2ID=$(grep -o '"device":[0-9]*,"identity":{[^}]*},[^}]*"this_device":true' <("$RBX" "${U2[@]}" account devices --json) | sed 's/"device":\([0-9]*\),.*/\1/')
check "u2's device id" '[[ "$U2ID" =~ ^[0-9]+$ ]]'
jrun "contact add" contact-add "${U1[@]}" contact add victor --json
check "contact add: pinned now" 'grep -q "^{\"version\":1,\"user\":\"victor\",\"pinned\":true,\"seq\":1," "$T/out"'
jrun "contact add again" contact-add "${U1[@]}" contact add victor --json
check "contact add: verified against the pin" 'grep -q "\"pinned\":false" "$T/out"'
jrun "send USER" send-user "${U1[@]}" send victor "$T/m" --json
check "send USER: victor's device and u2's copy" 'grep -q "\"sent\":{\"kind\":\"message\",\"to\":\"victor\",\"message_id\":\"[0-9a-f]\{32\}\",\"envelopes\":2,\"devices\":\[{" "$T/out" && grep -q "{\"user\":\"ursula\",\"device\":$U2ID}" "$T/out"'
mid=$(sed -n 's/.*"message_id":"\([0-9a-f]*\)".*/\1/p' "$T/out")
jrun "sync" sync "${V1[@]}" sync --json
check "sync: the message, with its id and text" 'grep -q "^{\"version\":1,\"message\":{\"from\":\"ursula\",\"device\":[0-9]*,\"to\":\"victor\",\"sync\":false,\"resent\":false,\"redelivered\":false,\"message_id\":\"$mid\",\"text\":\"hello\\\\n\",\"plaintext_b64\":\"$(printf "hello\n" | base64 -w0)\"}}$" "$T/out"'
jrun "sync (a sync copy)" sync "${U2[@]}" sync --json
check "sync: the copy" 'grep -q "\"to\":\"victor\",\"sync\":true," "$T/out"'
printf 'bin\377ary' > "$T/bin"
"$RBX" "${V1[@]}" send ursula "$T/bin" > /dev/null 2>&1
jrun "sync (not UTF-8)" sync "${U1[@]}" sync --json
check "sync: text is null, the bytes in plaintext_b64" 'grep -q "\"text\":null,\"plaintext_b64\":\"$(base64 -w0 < "$T/bin")\"" "$T/out"'
EMPTY_OK=1 jrun "sync (nothing)" sync "${U2[@]}" sync --json
# A restored device cannot decrypt, asks again; the sender re-sends.
"$RBX" "${V1[@]}" sync > /dev/null 2>&1
cp -a "$T/v1" "$T/v1.bak"
# One turn each way after the backup: u1's next message is for a ratchet
# key the restored v1 never made.
echo "turn" | "$RBX" "${U1[@]}" send victor - > /dev/null 2>&1
"$RBX" "${V1[@]}" sync > /dev/null 2>&1
echo "turn" | "$RBX" "${V1[@]}" send ursula - > /dev/null 2>&1
"$RBX" "${U1[@]}" sync > /dev/null 2>&1
rm -rf "$T/v1"; mv "$T/v1.bak" "$T/v1"
echo "lost" | "$RBX" "${U1[@]}" send victor - > /dev/null 2>&1
jrun "sync (undecryptable)" sync "${V1[@]}" sync --json
check "sync: one undecryptable, asked again, then the retry request sent" 'grep -q "^{\"version\":1,\"undecryptable\":{\"from\":\"ursula\",\"device\":[0-9]*,\"messages\":1,\"retry_requested\":true}}$" "$T/out" && tail -n 1 "$T/out" | grep -q "\"sent\":{\"kind\":\"retry\",\"to\":\"ursula\","'
jrun "sync (a retry request served)" sync "${U1[@]}" sync --json
check "sync: the retry request, then the re-send" 'grep -q "^{\"version\":1,\"retry_request\":{\"from\":\"victor\",\"device\":[0-9]*,\"resent\":1,\"limited\":false}}$" "$T/out" && grep -q "\"sent\":{\"kind\":\"resend\",\"to\":\"victor\"," "$T/out"'
jrun "sync (the re-send)" sync "${V1[@]}" sync --json
check "sync: resent" 'grep -q "\"resent\":true,.*\"text\":\"lost\\\\n\"" "$T/out"'
jrun "account rotate" account-rotate "${U2[@]}" account rotate --json
check "account rotate: a new key, the previous one" 'grep -q "\"identity\":{.*},\"previous\":{" "$T/out" && [ "$(sed -n "s/.*\"identity\":{[^}]*\"fingerprint\":\"\([0-9a-f]*\)\".*/\1/p" "$T/out")" = "$("$RBX" "${U2[@]}" id | cut -d" " -f2)" ]'
jrun "account remove" account-remove "${U1[@]}" account remove "$U2ID" --json
check "account remove: u2" 'grep -q "^{\"version\":1,\"user\":\"ursula\",\"device\":$U2ID,.*\"this_device\":false}$" "$T/out"'
jfail "sync on a removed device" 67 "${U2[@]}" sync --json
jfail "account approve without a link" 66 "${U1[@]}" account approve 0000000000000000 --json
jfail "account: no subcommand" 64 "${U1[@]}" account --json
check "no usage text with --json" '[ "$(wc -l < "$T/err")" = 1 ]'
jfail "contact add: a user the server does not have" 66 "${U1[@]}" contact add nobody --json

# ------------------------------------------------------------------ errors
jfail "usage error" 64 "${A[@]}" send --json
check "a usage error has code 0 and its sysexits name" 'grep -q "^{\"error\":{\"code\":0,\"name\":\"EX_USAGE\"," "$T/err"'
jfail "no identity" 66 --dir "$T/none" id --json
check "names the library code" 'grep -q "\"code\":-22,\"name\":\"RBX_E_NOT_FOUND\"" "$T/err"'
jfail "unknown contact" 66 "${A[@]}" send nobody "$T/m" --json
jfail "bad bundle" 65 "${A[@]}" add dave /dev/null --json
jfail "bad policy value" 65 "${A[@]}" policy set max_skip 0 --json
jfail "a changed key refused" 65 "${A[@]}" add bob "$T/c.bundle" --json
check "names RBX_E_IDENTITY_CHANGED" 'grep -q "^{\"error\":{\"code\":-10,\"name\":\"RBX_E_IDENTITY_CHANGED\"," "$T/err"'
head -c 32 /dev/urandom > "$T/wrong.key"; chmod 600 "$T/wrong.key"
jfail "wrong storage key" 74 "${A[@]}" --key-file "$T/wrong.key" status --json
check "names the file" 'grep -q "\"file\":\"$T/wrong.key\"" "$T/err"'
jfail "install-cert of garbage" 65 "${A[@]}" org install-cert /dev/null --json
printf 'not base64\n' > "$T/bad.lines"
cat "$T/line" >> "$T/bad.lines"
jfail "recv --stream with a bad line" 65 "${B[@]}" recv --stream "$T/bad.lines" --json
check "the rejected line as an object, then the error" 'grep -q "^{\"rejected\":{\"line_number\":1," "$T/err" && tail -n 1 "$T/err" | grep -q "^{\"error\":"'
"$RBX" "${A[@]}" send nobody "$T/m" > /dev/null 2> "$T/plain"
check "without --json the same error is one text line" '[ "$(wc -l < "$T/plain")" = 1 ] && grep -q "^rbx: send: unknown contact nobody" "$T/plain"'

# ------------------------------------------------------------------ validate everything kept
V --manifest "$T/manifest" > "$T/results"
while read -r verdict rest; do
    if [ "$verdict" = ok ]; then ok; else bad "schema: $rest"; fi
done < "$T/results"
check "every output kept was validated" '[ "$(wc -l < "$T/results")" = "$nj" ] && [ "$nj" -ge 70 ]'

# ------------------------------------------------------------------ coverage and the validator itself
"$RBX" help --json | sed 's/},{/}\n{/g' | sed -n 's/.*"verb":"\([a-z-]*\)".*/\1/p' > "$T/verbs"
while read -r v; do
    check "every verb has --json: $v" 'case "$covered" in *" $v "*) true ;; *) false ;; esac'
done < "$T/verbs"
for s in "$SRC"/spec/json/*.schema.json; do
    n=$(basename "$s" .schema.json)
    check "PROTOCOL.md 22 lists $n.schema.json" 'grep -q "spec/json/$n.schema.json\|\`$n.schema.json\`\|\`$n\`" "$SRC/spec/PROTOCOL.md"'
done
echo '{"public_key":"'"$(printf 'a%.0s' {1..43})"'=","fingerprint":"0123456789abcdef"}' > "$T/noversion"
check "the validator refuses an object without version" '! V identity "$T/noversion" > /dev/null'
echo '{"version":1,"spk_rotate":"2d","spk_max_age":1,"spk_keep":1,"onetime_low":1,"onetime_batch":1,"identity_grace":1,"archive":false,"archive_retention":1,"storage_mode":"bounded","max_skip":1,"max_skipped_keys":1,"require_org":null}' > "$T/strnum"
check "the validator refuses a number given as text" '! V policy "$T/strnum" > /dev/null'
sed 's/,"require_org":null//' "$T/strnum" | sed 's/"2d"/1/' > "$T/missing"
check "the validator refuses a missing member" '! V policy "$T/missing" > /dev/null'
sed 's/"require_org":null/"require_org":null,"extra":1/' "$T/strnum" | sed 's/"2d"/1/' > "$T/extra"
check "the validator refuses an unknown member" '! V policy "$T/extra" > /dev/null'
echo '{"version":1,"retry_request":{"from":"a","device":1,"resent":0,"limited":false},"undecryptable":{"from":"a","device":1,"messages":1,"retry_requested":true}}' > "$T/twokinds"
check "the validator refuses a sync line of two kinds" '! V sync "$T/twokinds" > /dev/null'

echo "test_json: $passed passed, $failed failed"
[ "$failed" = 0 ]
