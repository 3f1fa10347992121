#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Key rotation from the command line (issue 6 sections 1-3), run by make
# check-cli: an agent and a phone talk; the phone rotates its identity; the
# agent re-adds its bundle; messages in flight on both sides still decrypt; a
# laptop offline across two rotations follows the chain; forged, replayed and
# tampered bundles are refused; an organisation root certifies the phone,
# refuses a thief's key rotated in from a stolen copy, then revokes the phone;
# prekeys rotate. Ends with "N passed, M failed"; exits non-zero on a failure.
#
# Environment: RBX (build/rbx), TOOLS (build/tools), ROT_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${ROT_TEST_DIR:-build/rotation-test}"

# run NAME WANT_RC WHO [args...]: rbx_run in the state directory $T/WHO.
run() {
    local name=$1 want=$2 who=$3; shift 3
    rbx_run "$name" "$want" --dir "$T/$who" "$@"
}
# Quiet helpers for set-up steps (their failures show up in later checks).
rbx() { local who=$1; shift; "$RBX" --dir "$T/$who" "$@"; }
say() { printf '%s' "$2" | rbx "$1" send "$3" - ; }
fp_of() { rbx "$1" id | cut -d' ' -f2; }
pk_of() { rbx "$1" id | cut -d' ' -f1; }
DATE_RE='[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC'


# ------------------------------------------------------------------ set-up
for who in agent phone; do "$TOOLS/boxtool" keygen "$T/$who.json"; done
run "agent init" 0 agent init --import "$T/agent.json"
run "phone init" 0 phone init --import "$T/phone.json"
run "laptop init" 0 laptop init
run "first bundle" 0 phone bundle
cp "$T/out" "$T/phone0.bundle"
check "first bundle reports the upkeep on stderr" '[ "$(cat "$T/err")" = "rbx: bundle: made signed prekey 1; 100 one-time prekeys" ]'
run "second bundle: nothing to report" 0 phone bundle
cp "$T/out" "$T/phone0b.bundle"
check "no upkeep, no stderr" '[ ! -s "$T/err" ]'
rbx agent bundle > "$T/agent.bundle" 2> /dev/null
rbx laptop bundle > "$T/laptop.bundle" 2> /dev/null
FP0=$(fp_of phone)
run "agent adds the phone" 0 agent add phone "$T/phone0.bundle"
check "add prints name, device, fingerprint" '[ "$(cat "$T/out")" = "phone 1 $FP0" ]'
run "phone adds the agent" 0 phone add agent "$T/agent.bundle"
run "laptop adds the phone (then goes offline)" 0 laptop add phone "$T/phone0b.bundle"

# ------------------------------------------------------------------ talk, then hold two messages back
say agent "hello phone" phone > "$T/a1"
run "phone reads the agent" 0 phone recv "$T/a1"
check "plaintext a1" '[ "$(cat "$T/out")" = "hello phone" ]'
say phone "hello agent" agent > "$T/p1"
run "agent reads the phone" 0 agent recv "$T/p1"
check "plaintext p1" '[ "$(cat "$T/out")" = "hello agent" ]'
say laptop "hello from the laptop" phone > "$T/l1"
run "phone reads the laptop" 0 phone recv "$T/l1"
say agent "held back: agent to phone" phone > "$T/held-a"
say phone "held back: phone to agent" agent > "$T/held-p"

# ------------------------------------------------------------------ the phone rotates
t0=$(now)
run "rotate identity --json" 0 phone rotate identity --reason scheduled --json
t1=$(now)
cp "$T/out" "$T/rot1.json"
FP1=$(fp_of phone)
check "rotation: sequence 1" '[ "$(jfield sequence)" = 1 ]'
check "rotation: the reason" 'grep -q "\"reason\":\"scheduled\"" "$T/out"'
check "rotation: old fingerprint is the pinned one" 'grep -q "\"old\":{[^}]*\"fingerprint\":\"$FP0\"}" "$T/out"'
check "rotation: new fingerprint is rbx id" 'grep -q "\"new\":{[^}]*\"fingerprint\":\"$FP1\"}" "$T/out" && [ "$FP1" != "$FP0" ]'
until1=$(jfield old_valid_until)
check "rotation: grace window of 7 days from the rotation" 'within $((t0 + 7 * 86400)) "$until1" $((t1 + 7 * 86400))'
run "status after rotating" 0 phone status --json
check "status counts the rotation" 'grep -q "\"fingerprint\":\"$FP1\",\"rotations\":1}" "$T/out"'
run "the phone reads a message sent to its old key (grace)" 0 phone recv "$T/held-a"
check "held-back plaintext at the phone" '[ "$(cat "$T/out")" = "held back: agent to phone" ]'

run "the phone's new bundle" 0 phone bundle
cp "$T/out" "$T/phone1.bundle"
t0=$(now)
run "agent re-adds the phone: chain verified" 0 agent add phone "$T/phone1.bundle"
t1=$(now)
check "re-add says rotated, sequence, fingerprints, grace end" '[ "$(sed -n 1p "$T/out")" = "phone 1 $FP1" ] && sed -n 2p "$T/out" | grep -Eq "^phone: identity rotated \(sequence 1\), fingerprint $FP0 -> $FP1; old sessions kept until $DATE_RE$"'
grace_end=$(sed -n 2p "$T/out" | sed -n 's/.*; old sessions kept until //p')
check "the agent keeps its old sessions 7 days from the re-add" 'within_str "$(min_of $((t0 + 7 * 86400)))" "$grace_end" "$(min_of $((t1 + 7 * 86400)))"'
run "agent status" 0 agent status --json
check "agent: pinned at sequence 1, one grace session" 'grep -q "\"fingerprint\":\"$FP1\",\"rotation_sequence\":1,\"grace_sessions\":1" "$T/out"'
run "the agent reads a message the phone sent before rotating" 0 agent recv "$T/held-p"
check "held-back plaintext at the agent" '[ "$(cat "$T/out")" = "held back: phone to agent" ] && grep -q "^rbx: recv: from phone$" "$T/err"'
printf 'first under the new key' > "$T/m"
run "the agent's next message starts a new session" 0 agent send phone --json "$T/m"
check "it is a handshake (prekey message)" 'grep -q "\"kind\":\"prekey\"" "$T/out"'
sed -n 's/.*"line":"\([^"]*\)".*/\1/p' "$T/out" > "$T/a2"
check "its X3DH is with the new key" '[ "$(base64 -d < "$T/a2" | head -c 33 | tail -c 32 | base64)" = "$(pk_of agent)" ]'
run "the phone reads it" 0 phone recv "$T/a2"
check "plaintext a2" '[ "$(cat "$T/out")" = "first under the new key" ] && grep -q "^rbx: recv: from agent$" "$T/err"'
say phone "reply under the new key" agent > "$T/p2"
check "the phone sends under its new key" '[ "$(base64 -d < "$T/p2" | head -c 33 | tail -c 32 | base64)" = "$(pk_of phone)" ]'
run "the agent reads the reply" 0 agent recv "$T/p2"
check "plaintext p2" '[ "$(cat "$T/out")" = "reply under the new key" ]'
run "replay of the held-back message" 65 agent recv "$T/held-p"
check "named as a replay" '[ "$(cat "$T/err")" = "rbx: recv: rejected: message already received or its key discarded" ]'

# ------------------------------------------------------------------ refusals
run "an old bundle (rolled back)" 65 agent add phone "$T/phone0.bundle"
check "named as replayed or rolled back" 'grep -q "rotation replayed or rolled back" "$T/err"'
run "mallory" 0 mallory init
rbx mallory bundle > "$T/mallory.bundle" 2> /dev/null
run "a third party's key for the phone" 65 agent add phone "$T/mallory.bundle"
check "named as identity changed" 'grep -q "^rbx: add: phone device 1: identity changed: pinned $FP1, bundle $(fp_of mallory)" "$T/err"'
# The phone's record, signed by the old key only: flip a byte of the new
# key's signature (fields 9 and 10 of RotationRecord, tags 0x4a and 0x52).
at=$(b64_bytes < "$T/phone1.bundle" | awk '{ b[NR - 1] = $1 } END {
    for (i = 0; i + 67 < NR; i++) if (b[i] == 74 && b[i + 1] == 64 && b[i + 66] == 82 && b[i + 67] == 64) { print i + 70; exit } }')
check "found the record's second signature" '[ -n "$at" ]'
flip "$at" < "$T/phone1.bundle" > "$T/onesig.bundle"
run "a record signed by one key only" 65 laptop add phone "$T/onesig.bundle"
check "named as a bad signature" 'grep -q "bad signature" "$T/err"'
run "the laptop is still pinned to the original key" 0 laptop status --json
check "laptop pin unchanged" 'grep -q "\"fingerprint\":\"$FP0\",\"rotation_sequence\":0" "$T/out"'

# ------------------------------------------------------------------ a second rotation; the laptop was offline for both
run "rotate identity (text)" 0 phone rotate identity --reason "second"
FP2=$(fp_of phone)
check "text output: sequence 2 and fingerprints" 'sed -n 1p "$T/out" | grep -qx "identity rotated: sequence 2, fingerprint $FP1 -> $FP2"'
check "text output: new key and grace end" 'sed -n 2p "$T/out" | grep -qx "new public key: $(pk_of phone)" && sed -n 3p "$T/out" | grep -Eqx "old key and its sessions kept until $DATE_RE \(grace window\)"'
check "text output: the certificate reminder" 'grep -q "needs a new certificate" "$T/out"'
rbx phone bundle > "$T/phone2.bundle" 2> /dev/null
run "laptop re-adds across two rotations (chain of two)" 0 laptop add phone "$T/phone2.bundle"
check "laptop: sequence 2, from the original key" 'sed -n 2p "$T/out" | grep -Eq "^phone: identity rotated \(sequence 2\), fingerprint $FP0 -> $FP2; "'
say laptop "laptop is back" phone > "$T/l2"
run "the phone reads the laptop's new session" 0 phone recv "$T/l2"
check "plaintext l2" '[ "$(cat "$T/out")" = "laptop is back" ]'
run "agent follows to sequence 2" 0 agent add phone "$T/phone2.bundle"
check "agent: sequence 2 from FP1" 'sed -n 2p "$T/out" | grep -Eq "^phone: identity rotated \(sequence 2\), fingerprint $FP1 -> $FP2; "'

# ------------------------------------------------------------------ organisation root
run "admin init" 0 admin init
run "org init" 0 admin org init
ORG=$(cut -d' ' -f1 "$T/out") ORGFP=$(cut -d' ' -f2 "$T/out")
check "org init prints key and fingerprint" 'grep -Eq "^[A-Za-z0-9+/=]{44} [0-9a-f]{16}$" "$T/out"'
run "org init twice" 73 admin org init
run "org show" 0 admin org show --json
check "org show has the key" '[ "$(cat "$T/out")" = "{\"org_key\":{\"public_key\":\"$ORG\",\"fingerprint\":\"$ORGFP\"},\"certificate\":null,\"revocations\":[]}" ]'
# An administrator's machine may hold only the root: org init makes DIR and
# its store without an identity (README's walkthrough starts this way).
run "org init in a new directory" 0 root org init
check "root store made, DIR mode 0700" '[ -f "$T/root/state.db" ] && [ "$(stat -c %a "$T/root")" = 700 ]'
check "root: key and fingerprint" 'grep -Eq "^[A-Za-z0-9+/=]{44} [0-9a-f]{16}$" "$T/out"'
ROOTPK=$(cut -d' ' -f1 "$T/out")
run "a root-only store has no identity" 66 root id
check "named: no identity" '[ "$(cat "$T/err")" = "rbx: id: no identity in $T/root: run rbx init" ]'
run "a root-only store certifies" 0 root org certify "$(pk_of agent)"
check "a certificate line" 'grep -Eqx "[A-Za-z0-9+/=]{60,}" "$T/out"'
run "init after org init keeps the root" 0 root init
run "org show after init" 0 root org show
check "still the same root" 'sed -n 1p "$T/out" | grep -qF "organisation key: $ROOTPK "'
run "org show without a store" 66 nowhere org show
check "named: no organisation key" '[ "$(cat "$T/err")" = "rbx: org: no organisation key in $T/nowhere: run rbx org init on the administrator'"'"'s device" ]'
check "nothing created by org show" '[ ! -e "$T/nowhere" ]'
run "certify without a store" 66 nowhere org certify "$(pk_of agent)"
run "install-cert without a store" 66 nowhere org install-cert "$T/phone0.bundle"
check "named: no identity" 'grep -q "no identity in $T/nowhere: run rbx init" "$T/err"'
run "org show without an org key" 0 phone org show
check "org show: none" '[ "$(cat "$T/out")" = "$(printf "organisation key: none held here\nour certificate: none\nrevocations: 0")" ]'
run "certify without an org key" 66 phone org certify "$(pk_of agent)"
run "certify a bad key" 64 admin org certify not-a-key
PK2=$(pk_of phone)
t0=$(now)
run "certify the phone" 0 admin org certify "$PK2" --expires 30 --out "$T/cert2"
t1=$(now)
check "certify --out names fingerprint and end" 'grep -Eqx "certified $FP2 until $DATE_RE: $T/cert2" "$T/out"'
cert_end=$(sed -n 's/^certified [0-9a-f]* until \(.*\): .*/\1/p' "$T/out")
check "certified for 30 days from now" 'within_str "$(min_of $((t0 + 30 * 86400)))" "$cert_end" "$(min_of $((t1 + 30 * 86400)))"'
check "the certificate is one base64 line" '[ "$(wc -l < "$T/cert2")" = 1 ] && grep -Eq "^[A-Za-z0-9+/]+=*$" "$T/cert2"'
run "install-cert" 0 phone org install-cert "$T/cert2"
check "install-cert names the org" 'grep -Eqx "certificate installed: $FP2 certified by organisation $ORGFP until $DATE_RE; our bundles carry it" "$T/out"'
run "org show after install-cert" 0 phone org show
check "org show: our certificate" 'sed -n 2p "$T/out" | grep -Eqx "our certificate: by organisation $ORGFP, until $cert_end"'
run "org show --json after install-cert" 0 phone org show --json
check "org show --json: expires 30 days after the certify" 'within $((t0 + 30 * 86400)) "$(sed -n "s/.*\"certificate\":{[^}]*\"expires\":\([0-9]*\)}.*/\1/p" "$T/out")" $((t1 + 30 * 86400))'
run "install someone else's certificate" 65 agent org install-cert "$T/cert2"
check "named as not ours" 'grep -q "not for our identity" "$T/err"'
echo "not base64!" > "$T/junk"
run "install-cert garbage" 65 phone org install-cert "$T/junk"
run "org-agent init" 0 oagent init
rbx phone bundle > "$T/phone2c.bundle" 2> /dev/null
run "add --org: certified" 0 oagent add phone "$T/phone2c.bundle" --org "$ORG"
check "add --org says bound" '[ "$(cat "$T/out")" = "phone 1 $FP2
phone: bound to organisation $ORG (certificate verified)" ]'
run "add --org: an uncertified key" 65 oagent add mallory "$T/mallory.bundle" --org "$ORG"
check "named as not certified" 'grep -q "not certified by organisation $ORG" "$T/err"'
run "add --org with a bad key" 64 oagent add x "$T/mallory.bundle" --org nope
say oagent "hello from the org agent" phone > "$T/o1"
run "the phone reads the org-bound agent" 0 phone recv "$T/o1"
run "org-agent status shows the binding" 0 oagent status
check "status ORG column" 'grep -Eq "^phone +1 $FP2 .* $ORGFP$" "$T/out"'

# The thief: a copy of the phone's directory rotates to the thief's key. The
# dual-signed chain verifies (the old key signed it); only the root says no.
cp -a "$T/phone" "$T/stolen"
"$TOOLS/boxtool" keygen "$T/thief.json"
STDIN="$T/thief.json" run "the thief rotates the stolen copy to its key" 0 stolen rotate identity --import - --reason routine
rbx stolen bundle > "$T/stolen.bundle" 2> /dev/null
run "org-bound agent refuses the thief's key" 65 oagent add phone "$T/stolen.bundle"
check "named as not certified" 'grep -q "^rbx: add: phone device 1: key $(fp_of stolen) not certified by organisation" "$T/err"'
cp -a "$T/laptop" "$T/laptop-copy"
run "an unbound contact cannot tell (chain alone)" 0 laptop-copy add phone "$T/stolen.bundle"
check "unbound: accepted as sequence 3" 'sed -n 2p "$T/out" | grep -q "identity rotated (sequence 3)"'

# A genuine rotation under the root: the old certificate goes with the old key.
run "phone rotates again" 0 phone rotate identity --reason "certified device"
FP3=$(fp_of phone)
rbx phone bundle > "$T/phone3.bundle" 2> /dev/null
run "no certificate for the new key yet" 65 oagent add phone "$T/phone3.bundle"
check "named as not certified" 'grep -q "key $FP3 not certified" "$T/err"'
run "the old certificate does not fit the new key" 65 phone org install-cert "$T/cert2"
run "certify from the bundle" 0 admin org certify --bundle "$T/phone3.bundle" --json
check "certify --json" 'grep -q "\"fingerprint\":\"$FP3\",\"expires\":0" "$T/out"'
jfield certificate > "$T/cert3"
STDIN="$T/cert3" run "install-cert from stdin" 0 phone org install-cert -
rbx phone bundle > "$T/phone3c.bundle" 2> /dev/null
run "org-bound agent accepts the certified rotation" 0 oagent add phone "$T/phone3c.bundle"
check "sequence 3 from FP2" 'sed -n 2p "$T/out" | grep -Eq "^phone: identity rotated \(sequence 3\), fingerprint $FP2 -> $FP3; "'

# Revocation.
PK3=$(pk_of phone)
t0=$(now)
run "revoke" 0 admin org revoke "$PK3" --reason "lost phone" --out "$T/rev"
t1=$(now)
check "revoke --out" '[ "$(cat "$T/out")" = "revoked $FP3: $T/rev" ]'
run "import-revocation" 0 oagent org import-revocation "$T/rev"
check "import-revocation names key, org and reason" 'sed -n 1p "$T/out" | grep -qx "revocation applied: $FP3 revoked by organisation $ORGFP (lost phone); contacts bound to it with"'
run "org show lists the revocation" 0 oagent org show
check "org show: one revocation" 'sed -n 3,4p "$T/out" | grep -c "" | grep -qx 2 && sed -n 3p "$T/out" | grep -qx "revocations: 1" && sed -n 4p "$T/out" | grep -Eqx "  $FP3 revoked by $ORGFP at $DATE_RE: lost phone"'
revoked_at=$(sed -n 4p "$T/out" | sed -n 's/.* at \(.*\): lost phone$/\1/p')
check "revoked at the time of the revoke" 'within_str "$(min_of "$t0")" "$revoked_at" "$(min_of "$t1")"'
run "org show --json lists the revocation" 0 oagent org show --json
check "org show --json: revoked_at" 'within "$t0" "$(sed -n "s/.*\"revoked_at\":\([0-9]*\),.*/\1/p" "$T/out")" "$t1"'
printf 'are you there?' > "$T/m"
run "send to a revoked key" 65 oagent send phone "$T/m"
check "named as revoked" '[ "$(cat "$T/err")" = "rbx: send: phone device 1: key revoked by its organisation; not sending" ]'
run "re-adding a revoked key" 65 oagent add phone "$T/phone3c.bundle"
check "named as revoked" 'grep -q "revoked by its organisation; refused" "$T/err"'
run "import-revocation garbage" 65 oagent org import-revocation "$T/junk"

# ------------------------------------------------------------------ prekeys
run "status before" 0 phone status --json
spk=$(jfield signed_prekey_id)
run "rotate prekeys" 0 phone rotate prekeys
check "a new signed prekey id" '[ "$(sed -n 1p "$T/out")" = "signed prekey: $((spk + 1)) (new)" ]'
run "rotate prekeys --json" 0 phone rotate prekeys --json
check "rotate prekeys --json" 'grep -q "^{\"signed_prekey_made\":$((spk + 2)),\"signed_prekeys_erased\":0," "$T/out"'
run "status after" 0 phone status
check "status shows it against the policy" 'grep -Eq "^signed prekey: #$((spk + 2)), age [0-9]+s \(rotated every 2d, refused after 14d: ok\)$" "$T/out"'
rbx phone bundle > "$T/phone4.bundle" 2> /dev/null
run "the agent takes the bundle with the new signed prekey" 0 agent add phone "$T/phone4.bundle"

# ------------------------------------------------------------------ the first message after a rotation (issue 11.4)
# x talks with y; z and w pinned x's key and hold x's bundle, no session yet.
# x rotates. Its next message to y (the old session) names the old key in
# the transport line, so y finds it; its first message to z and w (new
# sessions, PreKeyMessages) carries the rotation record, so they follow the
# rotation from it, without re-adding x's bundle (PROTOCOL.md 6.4).
for who in x y z w; do rbx "$who" init > /dev/null; done
rbx x bundle > "$T/x0.bundle" 2> /dev/null
for who in y z w; do
    rbx "$who" bundle > "$T/$who.bundle" 2> /dev/null
    rbx x add "$who" "$T/$who.bundle" > /dev/null
    rbx "$who" add x "$T/x0.bundle" > /dev/null
done
X0=$(fp_of x) XPK0=$(pk_of x)
say x "hello y" y > "$T/xy1"
run "y reads x" 0 y recv "$T/xy1"
say y "hello x" x > "$T/yx1"
run "x reads y" 0 x recv "$T/yx1"
run "x rotates" 0 x rotate identity --reason "first message"
X1=$(fp_of x)
check "rotate's text names both ways of following" 'grep -q "or receive the first message of a new session from us" "$T/out"'
say x "still the old session" y > "$T/xy2"
check "the old session's line names the old key" '[ "$(base64 -d < "$T/xy2" | head -c 33 | tail -c 32 | base64)" = "$XPK0" ]'
run "y reads the old session after the rotation" 0 y recv "$T/xy2"
check "plaintext, from x" '[ "$(cat "$T/out")" = "still the old session" ] && grep -q "^rbx: recv: from x$" "$T/err"'
say x "first under the new key" z > "$T/xz1"
check "a handshake under the new key" '[ "$(base64 -d < "$T/xz1" | head -c 33 | tail -c 32 | base64)" = "$(pk_of x)" ]'
cp -a "$T/z" "$T/z-copy"
n=$(b64_bytes < "$T/xz1" | wc -l)
flip $((n - 5)) < "$T/xz1" > "$T/xz1.badrecord"
run "a record signed wrong: refused" 65 z recv "$T/xz1.badrecord"
check "named as a bad signature" 'grep -q "bad signature" "$T/err"'
flip 200 < "$T/xz1" > "$T/xz1.forged"
run "a forged message: refused" 65 z recv "$T/xz1.forged"
check "named as an authentication failure, not as an identity change" 'grep -q "authentication failed" "$T/err"'
run "z is still pinned to the old key" 0 z status --json
check "z pin unchanged" 'grep -q "\"fingerprint\":\"$X0\",\"rotation_sequence\":0" "$T/out"'
run "z reads the first message, without re-adding the bundle" 0 z recv "$T/xz1"
check "plaintext, from x, not a new contact" '[ "$(cat "$T/out")" = "first under the new key" ] && grep -q "^rbx: recv: from x$" "$T/err"'
run "z follows the rotation" 0 z status --json
check "z: pinned to the new key at sequence 1" 'grep -q "\"fingerprint\":\"$X1\",\"rotation_sequence\":1" "$T/out"'
say z "welcome back" x > "$T/zx1"
run "x reads z's reply" 0 x recv "$T/zx1"
say x "w too" w > "$T/xw1"
run "w reads its first message too" 0 w recv "$T/xw1"
check "w: from x" 'grep -q "^rbx: recv: from x$" "$T/err"'
run "the copy of z, given the untouched message" 0 z-copy recv "$T/xz1"

# ------------------------------------------------------------------ usage
run "rotate without a subcommand" 64 phone rotate
run "rotate something else" 64 phone rotate frobnicate
run "rotate identity --help" 0 phone rotate identity --help
run "a reason with a control character" 64 phone rotate identity --reason "$(printf 'a\tb')"
run "--import a missing file" 66 phone rotate identity --import "$T/nope.json"
run "--import the current key" 65 agent rotate identity --import "$T/agent.json"
run "rotate without identity" 66 nobody rotate prekeys
run "org without a subcommand" 64 admin org
run "org help" 0 admin org --help
run "revoke with a bad reason" 64 admin org revoke "$(pk_of agent)" --reason "$(printf 'x\001')"

# ------------------------------------------------------------------ secrets and the manual
check_secrets_unprinted "$T/agent.json" "$T/phone.json" "$T/thief.json"
if command -v groff > /dev/null; then
    check "rbx.1 renders without warnings" '[ -z "$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)" ]'
fi
sed 's/\\-/-/g' "$MAN" > "$T/rbx.1.txt" # (no pipe into grep -q: pipefail and SIGPIPE)
for v in "rotate identity" "rotate prekeys" "org init" "org certify" "org revoke" "org install-cert" "org import-revocation"; do
    check "rbx.1 documents $v" 'grep -q "^\.B $v\b" "$T/rbx.1.txt"'
done

cli_end
