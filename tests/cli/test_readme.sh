#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's shell walkthroughs, run exactly as the README shows them
# (issue 11 point 2), by make check-cli. Every code block of README.md sits
# between markers, and an unmarked block fails this test:
#   <!-- sh-begin NAME [after=A,B] --> ```sh ... ``` <!-- sh-end -->   run here
#   <!-- sh-not-run: REASON --> ```sh ... ``` <!-- sh-end -->           shown only
#   <!-- example-begin --> ```c ... ``` <!-- example-end -->             the C example (make check-run)
#   <!-- ts-example-begin --> ```ts ... ``` <!-- ts-example-end -->       the TypeScript example
#                                    (make check-node: bindings/node/test/pack.test.js)
# Each sh-begin block runs in a new directory, after the blocks named in
# after= (the walkthroughs the README builds on, in that order), under
# bash -euo pipefail with inherit_errexit, with build/ on PATH behind a
# wrapper rbx that logs every call's exit status: a failing rbx anywhere in a
# block, inside $(...) too, fails it. Then what the README says happens is
# checked (assert_NAME below; a block without one fails). Files a block needs
# from the reader (rows.jsonl, old-box-key.json) are made by setup_NAME.
# Ends with "N passed, M failed"; exits non-zero on a failure.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), README (README.md),
# README_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
README=${README:-$(dirname "$0")/../../README.md}
cli_begin "${README_TEST_DIR:-build/readme-test}"
BUILD=$(dirname "$RBX")
DATE_RE='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC'

# ------------------------------------------------------------------ extract
mkdir -p "$T/blocks" "$T/bin"
: > "$T/blocks/order"
awk -v dir="$T/blocks" '
function fail(msg) { printf "README.md:%d: %s\n", NR, msg; bad = 1 }
BEGIN { state = "out"; prev_blank = 1; skipped = 0 }
state == "out" {
    if ($0 ~ /^<!-- sh-begin [a-z][a-z0-9-]*( after=[a-z0-9,-]+)? -->$/) {
        name = $3; after = ($4 ~ /^after=/) ? substr($4, 7) : ""
        if (name in seen) fail("a second block named " name)
        seen[name] = 1; kind = "run"; state = "open"; next
    }
    if ($0 ~ /^<!-- sh-not-run: [^ ].* -->$/) { kind = "skip"; state = "open"; next }
    if ($0 == "<!-- example-begin -->") { state = "example"; next }
    if ($0 == "<!-- ts-example-begin -->") { state = "tsexample"; next }
    if ($0 ~ /^(```|~~~)/) { fail("a code block without markers (sh-begin NAME or sh-not-run: REASON)"); state = "stray"; next }
    if ($0 ~ /^(    |\t)/ && prev_blank) fail("an indented code block: use a fenced sh block between markers")
    if ($0 ~ /^<!-- sh-/) fail("a malformed marker: " $0)
    prev_blank = ($0 ~ /^[ \t]*$/); next
}
state == "stray" { if ($0 ~ /^(```|~~~)/) state = "out"; next }
state == "example" { if ($0 == "<!-- example-end -->") { state = "out"; prev_blank = 0 }; next }
state == "tsexample" { if ($0 == "<!-- ts-example-end -->") { state = "out"; prev_blank = 0 }; next }
state == "open" {
    if ($0 != "```sh") { fail("expected a ```sh line after the marker"); state = "out"; next }
    body = ""; state = "body"; next
}
state == "body" { if ($0 == "```") state = "close"; else body = body $0 "\n"; next }
state == "close" {
    if ($0 != "<!-- sh-end -->") fail("expected <!-- sh-end --> after the block")
    else if (kind == "skip") skipped++
    else {
        split(after, pre, ",")
        for (i in pre) if (!(pre[i] in done)) fail("block " name ": after=" pre[i] " names no earlier block")
        printf "%s", body > (dir "/" name ".sh"); close(dir "/" name ".sh")
        print after > (dir "/" name ".after"); close(dir "/" name ".after")
        print name >> (dir "/order"); done[name] = 1
    }
    state = "out"; prev_blank = 0; next
}
END {
    if (state != "out") fail("a block or marker left open at the end")
    print skipped > (dir "/skipped")
    exit bad
}' "$README" > "$T/extract.err"
check "README: every code block is marked (sh-begin, sh-not-run or the C example)" '[ ! -s "$T/extract.err" ]'
[ -s "$T/extract.err" ] && cat "$T/extract.err"
check "README: the walkthroughs are talk, secrets, rotation, org, history, lifecycle, multidevice" '[ "$(tr "\n" " " < "$T/blocks/order")" = "talk secrets rotation org history lifecycle multidevice " ]'
check "README: make demo, make check and the npm install are shown, not run" '[ "$(cat "$T/blocks/skipped" 2>/dev/null)" = 3 ]'

# The rbx the blocks find first on PATH: the real one, each call's exit status
# and arguments appended to $RBX_CALL_LOG.
cat > "$T/bin/rbx" << EOF
#!/usr/bin/env bash
"$RBX" "\$@"
rc=\$?
printf '%s rbx %s\n' "\$rc" "\$*" >> "\$RBX_CALL_LOG"
exit \$rc
EOF
chmod +x "$T/bin/rbx"

# run_block NAME DIR: the block in DIR; stdout, stderr and the rbx call log
# in DIR/NAME.{out,err,calls}. Fails if bash or any rbx call failed.
run_block() {
    local name=$1 d=$2 rc
    : > "$d/$name.calls"
    (cd "$d" && RBX_CALL_LOG="$d/$name.calls" PATH="$T/bin:$BUILD:$PATH" \
        bash -O inherit_errexit -euo pipefail "$T/blocks/$name.sh" > "$d/$name.out" 2> "$d/$name.err")
    rc=$?
    if [ "$rc" != 0 ]; then
        bad "README block $name: exit $rc: $(head -c 300 "$d/$name.err")"; return 1
    fi
    if grep -qv '^0 ' "$d/$name.calls"; then
        bad "README block $name: an rbx call failed: $(grep -v '^0 ' "$d/$name.calls" | head -n 3)"; return 1
    fi
    if [ ! -s "$d/$name.calls" ]; then bad "README block $name: ran no rbx"; return 1; fi
    ok
}

# Quiet helpers for the checks (direct calls of the real rbx).
r() { local who=$1; shift; "$RBX" --dir "$D/$who" "$@"; }
fp_of() { r "$1" id | cut -d' ' -f2; }
pk_of() { r "$1" id | cut -d' ' -f1; }

# ------------------------------------------------------------------ what each block must do
assert_talk() {
    check "talk: two identities, two contacts" 'sed -n 1,2p "$D/talk.out" | grep -Ecx "[A-Za-z0-9+/=]{44} [0-9a-f]{16}" | grep -qx 2 && [ "$(sed -n 3p "$D/talk.out")" = "bob 1 $(fp_of bob)" ] && [ "$(sed -n 4p "$D/talk.out")" = "alice 1 $(fp_of alice)" ]'
    check "talk: bob reads hi bob, alice reads hi alice" '[ "$(sed -n 5,\$p "$D/talk.out")" = "$(printf "hi bob\nhi alice")" ]'
    check "talk: each recv names the sender" 'grep -qx "rbx: recv: from alice" "$D/talk.err" && grep -qx "rbx: recv: from bob" "$D/talk.err"'
}

# The fingerprint bob had before rotating (talk's second line).
setup_rotation() { FP0=$(sed -n 2p "$D/talk.out" | cut -d' ' -f2); }
assert_rotation() {
    local fp1; fp1=$(fp_of bob)
    check "rotation: bob's new key" '[ -n "$FP0" ] && [ "$fp1" != "$FP0" ] && grep -qx "identity rotated: sequence 1, fingerprint $FP0 -> $fp1" "$D/rotation.out"'
    check "rotation: alice follows the chain, as the README quotes" 'grep -Eqx "bob: identity rotated \(sequence 1\), fingerprint $FP0 -> $fp1; old sessions kept until $DATE_RE" "$D/rotation.out"'
    check "rotation: a new signed prekey" 'grep -Eqx "signed prekey: [0-9]+ \(new\)" "$D/rotation.out"'
    check "rotation: alice's next message reaches bob under the new key" '[ "$(echo "after the rotation" | r alice send bob - | r bob recv - 2>/dev/null)" = "after the rotation" ]'
}

assert_org() {
    local org orgfp bobfp
    org=$(r admin org show | sed -n 's/^organisation key: \([^ ]*\) \([0-9a-f]*\) .*/\1/p')
    orgfp=$(r admin org show | sed -n 's/^organisation key: \([^ ]*\) \([0-9a-f]*\) .*/\2/p')
    bobfp=$(fp_of bob)
    r admin id > /dev/null 2>&1
    local idrc=$?
    check "org: the admin directory holds the root and no identity" '[ -n "$org" ] && [ "$idrc" = 66 ]'
    check "org: bob installs his certificate" 'grep -Eqx "certificate installed: $bobfp certified by organisation $orgfp until $DATE_RE; our bundles carry it" "$D/org.out"'
    check "org: alice binds bob to the root" 'grep -qxF "bob: bound to organisation $org (certificate verified)" "$D/org.out"'
    check "org: the revocation reaches alice" 'grep -qx "revocation applied: $bobfp revoked by organisation $orgfp (lost); contacts bound to it with" "$D/org.out"'
    echo "after the revocation" | r alice send bob - > "$D/sent" 2> "$D/send.err"
    local sendrc=$?
    check "org: alice's policy requires the root" 'r alice policy | grep -qxF "require_org = $org" && r alice audit | grep -qF "require_org=$org"'
    # A stranger without a certificate writes first: refused, nothing kept.
    r carol init > /dev/null 2>&1
    r alice bundle 2> /dev/null | r carol add alice - > /dev/null 2>&1
    echo "hello from a stranger" | r carol send alice - > "$D/carol.msg" 2> /dev/null
    r alice recv "$D/carol.msg" > "$D/carol.out" 2> "$D/carol.err"
    local recvrc=$?
    check "org: a stranger's first message is refused (65), no contact made" '[ "$recvrc" = 65 ] && [ ! -s "$D/carol.out" ] && [ "$(r alice status --json 2>/dev/null | grep -o "\"name\":\"$(fp_of carol)\"" | wc -l)" = 0 ]'
    check "org: the refusal is audited" 'r alice audit | grep -q "organisation required .*from an unknown device ($(fp_of carol))"'
    check "org: alice's sends to bob now fail (65)" '[ "$sendrc" = 65 ] && [ ! -s "$D/sent" ] && [ "$(cat "$D/send.err")" = "rbx: send: bob device 1: key revoked by its organisation; not sending" ]'
}

# The reader's files: the product's key file and two stored rows between bob
# (under that old key) and alice, as today's envelope makes them.
setup_history() {
    "$TOOLS/boxtool" keygen "$D/old-box-key.json"
    local apk c1 n1 c2 n2
    apk=$(pk_of alice)
    echo "an old question" | "$TOOLS/boxtool" seal "$D/old-box-key.json" "$apk" > "$D/e1"
    echo "an old answer" | "$TOOLS/boxtool" seal "$D/old-box-key.json" "$apk" > "$D/e2"
    c1=$(cut -f1 "$D/e1") n1=$(cut -f2 "$D/e1") c2=$(cut -f1 "$D/e2") n2=$(cut -f2 "$D/e2")
    {
        printf '{"session_id":"s-1","content_encrypted":"%s","encryption_nonce":"%s","peer_public_key":"%s","sequence":1,"timestamp":1700000000,"direction":"sent","message_type":"chat"}\n' "$c1" "$n1" "$apk"
        printf '{"session_id":"s-1","content_encrypted":"%s","encryption_nonce":"%s","peer_public_key":"%s","sequence":2,"timestamp":1700000060,"direction":"received","message_type":"chat"}\n' "$c2" "$n2" "$apk"
    } > "$D/rows.jsonl"
}
assert_history() {
    check "history: both rows imported" 'grep -qx "imported 2, already imported 0, rejected 0 (2 lines)" "$D/history.out"'
    check "history: alice's history, oldest first" '[ "$(grep -E "^[0-9]{4}-" "$D/history.out")" = "$(printf "2023-11-14T22:13:20Z sent     alice 1:1 an old question\n2023-11-14T22:14:20Z received alice 1:2 an old answer")" ]'
    check "history: reencrypt rewraps both entries and erases the old key" 'grep -qx "archive reencrypt: active epoch 2, 2 entries rewrapped, 1 epoch keys erased, 0 entries unrecoverable" "$D/history.out"'
    check "history: split starts epoch 3" 'grep -qx "archive split: active epoch 3, 0 entries rewrapped, 0 epoch keys erased, 0 entries unrecoverable" "$D/history.out"'
    check "history: shred erases no key younger than the retention" 'grep -qx "archive shred: active epoch 3, 0 entries rewrapped, 0 epoch keys erased, 0 entries unrecoverable" "$D/history.out"'
    r bob history alice > "$D/after" 2> /dev/null
    check "history: still readable after reencrypt and split; shred kept what retention keeps" '[ "$(sed "s/ [0-9]*:[0-9]* / E:S /" "$D/after")" = "$(printf "2023-11-14T22:13:20Z sent     alice E:S an old question\n2023-11-14T22:14:20Z received alice E:S an old answer")" ]'
}

assert_secrets() {
    check "secrets: only the database (and the marker) in carol/" '[ "$(ls -A "$D/carol" | tr "\n" " ")" = ".nobackup state.db " ]'
    check "secrets: the record in the vault" '[ -s "$D/vault/carol.gen" ]'
    check "secrets: status says where, and warns about nothing" 'grep -qx "storage key: command (not on disk)" "$D/secrets.out" && grep -qx "generation record: $D/vault/carol.gen" "$D/secrets.out" && ! grep -q warning "$D/secrets.err"'
}

# bob's first key (talk's second line), which the reinstall replaces.
setup_lifecycle() { FP0=$(sed -n 2p "$D/talk.out" | cut -d' ' -f2); }
assert_lifecycle() {
    local fp1; fp1=$(fp_of bob)
    check "lifecycle: trust says old and new" '[ -n "$FP0" ] && [ "$fp1" != "$FP0" ] && grep -qx "bob 1: trusted $fp1 (was $FP0); old sessions dropped, the next send starts a new session" "$D/lifecycle.out"'
    check "lifecycle: bob reads the message under his new key" 'grep -qx "welcome back" "$D/lifecycle.out"'
    check "lifecycle: renamed, then forgotten" 'grep -qx "bob -> robert" "$D/lifecycle.out" && grep -qx "robert: 1 device forgotten (sessions, keys, inbox and outbox erased)" "$D/lifecycle.out"'
    check "lifecycle: alice has no contact left" '[ "$(r alice status --json 2>/dev/null | grep -c "\"name\"")" = 0 ]'
    check "lifecycle: each step audited" 'r alice audit | grep -q "contact identity trusted" && r alice audit | grep -q "contact renamed" && r alice audit | grep -q "contact forgotten"'
}

assert_multidevice() {
    local lap; lap=$(sed -n 's/^created alice as device \([0-9]*\) (fingerprint [0-9a-f]*)$/\1/p' "$D/multidevice.out")
    check "multidevice: the laptop and the phone enrolled" '[ -n "$lap" ] && grep -Eq "^joined alice as device [0-9]+" "$D/phone.fp"'
    check "multidevice: the phone's fingerprint was approved" 'grep -qx "approved device [0-9]* (fingerprint $(head -n 1 "$D/phone.fp")) for alice" "$D/multidevice.out"'
    check "multidevice: bob read hi bob from the laptop" 'grep -qx "alice/$lap: hi bob" "$D/multidevice.out"'
    check "multidevice: the phone got the sync copy" 'grep -qx "alice/$lap -> bob: hi bob" "$D/multidevice.out"'
    check "multidevice: bob's reply reached the phone" 'grep -q "\"from\":\"bob\",.*\"to\":\"alice\",\"sync\":false,.*\"text\":\"hi alice\\\\n\"" "$D/multidevice.out"'
    check "multidevice: alice's list holds two devices" 'grep -q "^alice: list 2 (first entry [0-9a-f]*), 2 devices$" "$D/multidevice.out"'
}

# ------------------------------------------------------------------ run
while read -r name; do
    D="$T/run-$name"
    mkdir -p "$D"
    pre_ok=1
    for p in $(tr ',' ' ' < "$T/blocks/$name.after"); do
        run_block "$p" "$D" || pre_ok=0
    done
    if [ "$pre_ok" = 0 ]; then bad "README block $name: a block it follows on from failed"; continue; fi
    if declare -F "setup_$name" > /dev/null; then "setup_$name"; fi
    run_block "$name" "$D" || continue
    if declare -F "assert_$name" > /dev/null; then "assert_$name"
    else bad "README block $name: no checks of its outcome in $0"; fi
done < "$T/blocks/order"

cli_end
