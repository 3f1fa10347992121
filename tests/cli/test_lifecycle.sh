#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A contact's lifecycle (issue 18, PROTOCOL.md 16.7), run by make check-cli:
# rbx trust after a peer reinstalled (confirmation, wrong fingerprint, the
# new session, the old key refused afterwards, merging the contact its first
# message made), rbx reset after a detected rollback, rbx forget (one device,
# every device, erase point), rbx rename (history follows), and rbx add
# adopting the contact a first message created (one row, its session,
# inbox and history kept; history imported under the fingerprint relabelled).
# Ends with "N passed, M failed" and exits non-zero on any failure.
#
# Environment: RBX (build/rbx), TOOLS (build/tools: boxtool), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test-lifecycle}"

run() { rbx_run "$@"; }
err_has() { grep -qF -- "$1" "$T/err"; }
A=(--dir "$T/a") B=(--dir "$T/b")
q() { "$RBX" "$@" 2>/dev/null; }
# audit_has TEXT [DIR args]: an audit line holds TEXT (runs of spaces as one).
audit_has() { q "${2:---dir}" "${3:-$T/a}" audit | tr -s ' ' | grep -qF -- "$(echo "$1" | tr -s ' ')"; }
contacts_named() { q "${A[@]}" status | awk -v n="$1" '$1 == n' | wc -l; }

q "${A[@]}" init >/dev/null; q "${B[@]}" init >/dev/null
q "${B[@]}" bundle | q "${A[@]}" add bob - >/dev/null
q "${A[@]}" bundle | q "${B[@]}" add alice - >/dev/null
echo "before" | q "${A[@]}" send bob - | q "${B[@]}" recv - >/dev/null
OLD_FP=$(q "${B[@]}" id | cut -d' ' -f2)

# ------------------------------------------------------------------ trust
# Bob reinstalls: a new key, no rotation record.
rm -rf "$T/b"
q "${B[@]}" init >/dev/null
q "${A[@]}" bundle | q "${B[@]}" add alice - >/dev/null
NEW_FP=$(q "${B[@]}" id | cut -d' ' -f2)
q "${B[@]}" bundle > "$T/new.bundle"
run "add refuses the new key" 65 "${A[@]}" add bob "$T/new.bundle"
check "the refusal names rbx trust" 'err_has "rbx trust bob --device 1 --fingerprint $NEW_FP"'
run "trust without confirmation" 64 "${A[@]}" trust bob "$T/new.bundle"
check "old and new fingerprints shown" 'err_has "pinned $OLD_FP, bundle $NEW_FP" && err_has "nothing changed"'
run "trust with a wrong fingerprint" 65 "${A[@]}" trust bob "$T/new.bundle" --fingerprint 0123456789abcdef
check "still pinned to the old key" 'q "${A[@]}" status | grep -q "^bob .* $OLD_FP "'
run "trust an unknown contact" 66 "${A[@]}" trust carol "$T/new.bundle" --yes
run "trust a bad bundle" 65 "${A[@]}" trust bob /dev/null --yes
STDIN="$T/new.bundle" run "trust with the fingerprint" 0 "${A[@]}" trust bob - --fingerprint "$NEW_FP"
check "trust says old and new" 'grep -qx "bob 1: trusted $NEW_FP (was $OLD_FP); old sessions dropped, the next send starts a new session" "$T/out"'
check "pinned to the new key" 'q "${A[@]}" status | grep -q "^bob .* $NEW_FP "'
check "trust audited" 'audit_has "contact identity trusted  bob/1: $OLD_FP -> $NEW_FP, checked out of band"'
echo "after" | q "${A[@]}" send bob - > "$T/line"
STDIN="$T/line" run "the new key reads the next message" 0 "${B[@]}" recv -
check "plaintext" '[ "$(cat "$T/out")" = after ]'
run "trust again: nothing to do" 0 "${A[@]}" trust bob "$T/new.bundle" --yes --json
check "json says unchanged" 'grep -q "\"changed\":false" "$T/out" && grep -q "^{\"version\":1," "$T/out"'

# The old key comes back (a replayed bundle): refused.
q "${A[@]}" bundle > /dev/null
cp -a "$T/b" "$T/b.new"
# ------------------------------------------------------------------ trust merges the contact a first message made
# Bob reinstalls again and writes first: alice's store makes a contact named
# by the new key's fingerprint; trusting that key merges it into bob.
rm -rf "$T/b"
q "${B[@]}" init >/dev/null
q "${A[@]}" bundle | q "${B[@]}" add alice - >/dev/null
FP3=$(q "${B[@]}" id | cut -d' ' -f2)
echo "it is me, reinstalled" | q "${B[@]}" send alice - > "$T/first"
STDIN="$T/first" run "a first message from bob's new key" 0 "${A[@]}" recv -
check "a contact named by its fingerprint" '[ "$(contacts_named "$FP3")" = 1 ]'
q "${B[@]}" bundle > "$T/b3.bundle"
run "trust merges it" 0 "${A[@]}" trust bob "$T/b3.bundle" --fingerprint "$FP3"
check "the fingerprint contact is gone" '[ "$(contacts_named "$FP3")" = 0 ] && [ "$(contacts_named bob)" = 1 ]'
check "merge audited" 'audit_has "$FP3, checked out of band, with the contact a first message made for it"'
echo "reply in the same session" | q "${A[@]}" send bob - > "$T/reply"
check "the reply continues bob's session (no new handshake)" '[ "$(base64 -d < "$T/reply" | wc -c)" -lt 200 ]'
STDIN="$T/reply" run "bob reads the reply" 0 "${B[@]}" recv -
check "reply plaintext" '[ "$(cat "$T/out")" = "reply in the same session" ]'

# ------------------------------------------------------------------ reset after a rollback
mkdir -p "$T/bak"
cp "$T/a/state.db" "$T/bak/"
echo "lost" | q "${A[@]}" send bob - > /dev/null
cp "$T/bak/state.db" "$T/a/state.db"
rm -f "$T/a/state.db-wal" "$T/a/state.db-shm"
STDIN=/dev/null run "send after a rollback" 74 "${A[@]}" send bob /dev/null
check "the error names rbx reset" 'err_has "rbx reset bob --device 1"'
q "${B[@]}" bundle > "$T/b4.bundle"
run "add while the rolled-back session exists" 73 "${A[@]}" add bob "$T/b4.bundle"
check "the refusal names rbx reset" 'err_has "rbx reset bob --device 1 FILE replaces it"'
run "reset an unknown contact" 66 "${A[@]}" reset carol
run "reset with a fresh bundle" 0 "${A[@]}" reset bob "$T/b4.bundle" --json
check "reset json" '[ "$(cat "$T/out")" = "{\"version\":1,\"name\":\"bob\",\"device\":1,\"session_dropped\":true,\"bundle\":true}" ]'
check "reset audited" 'audit_has "session retired         bob/1: reset"'
echo "after the reset" | q "${A[@]}" send bob - > "$T/line"
STDIN="$T/line" run "a new session after the reset" 0 "${B[@]}" recv -
check "plaintext after reset" '[ "$(cat "$T/out")" = "after the reset" ]'
run "reset without a bundle" 0 "${A[@]}" reset bob
check "reset says who starts next" 'grep -q "the peer.s next first message starts a new session" "$T/out"'
run "send with no session and no bundle" 66 "${A[@]}" send bob /dev/null

# ------------------------------------------------------------------ rename
q "${A[@]}" policy set archive on > /dev/null
q "${B[@]}" bundle | q "${A[@]}" add bob - > /dev/null
echo "kept in history" | q "${A[@]}" send bob - > /dev/null
run "rename" 0 "${A[@]}" rename bob robert
check "renamed" '[ "$(contacts_named robert)" = 1 ] && [ "$(contacts_named bob)" = 0 ]'
check "history follows the name" 'q "${A[@]}" history robert | grep -q "kept in history"'
check "rename audited" 'audit_has "contact renamed         bob/1 -> robert/1"'
run "rename an unknown contact" 66 "${A[@]}" rename bob bobby
run "rename to the same name" 64 "${A[@]}" rename robert robert
run "rename to a bad name" 64 "${A[@]}" rename robert ""
q "${B[@]}" bundle | q "${A[@]}" add other - > /dev/null 2>&1
run "rename onto a taken name and device" 73 "${A[@]}" rename robert other
check "nothing renamed" '[ "$(contacts_named robert)" = 1 ]'

# ------------------------------------------------------------------ forget
q "${B[@]}" bundle | q "${A[@]}" add robert - --device 2 > /dev/null
run "forget one device" 0 "${A[@]}" forget robert --device 2
check "device 2 gone, device 1 kept" '[ "$(contacts_named robert)" = 1 ]'
run "forget every device" 0 "${A[@]}" forget robert --json
check "forget json" '[ "$(cat "$T/out")" = "{\"version\":1,\"name\":\"robert\",\"device\":null,\"devices_erased\":1}" ]'
check "robert gone" '[ "$(contacts_named robert)" = 0 ]'
check "forget audited" 'audit_has "contact forgotten       robert/1: "'
check "no write-ahead log left behind the erase point" '[ ! -s "$T/a/state.db-wal" ] || ! grep -qa "kept in history" "$T/a/state.db-wal"'
run "forget again" 66 "${A[@]}" forget robert
check "history kept" 'q "${A[@]}" history robert | grep -q "kept in history"'
run "audit chain holds" 0 "${A[@]}" audit --verify

# ------------------------------------------------------------------ add adopts
# A first message from an unknown device: a contact named by its key's
# fingerprint. `add NAME --device 3` of the same key adopts it.
C=(--dir "$T/c") D=(--dir "$T/d")
"$TOOLS/boxtool" keygen "$T/dkey.json"
"$TOOLS/boxtool" keygen "$T/ckey.json"
q "${C[@]}" init --import "$T/ckey.json" > /dev/null
q "${D[@]}" init --import "$T/dkey.json" > /dev/null
q "${C[@]}" policy set archive on > /dev/null
DFP=$(q "${D[@]}" id | cut -d' ' -f2)
# History imported before the contact exists: under the fingerprint.
C_PK=$("$TOOLS/boxtool" pk "$T/ckey.json")
D_PK=$("$TOOLS/boxtool" pk "$T/dkey.json")
echo "old product message" | "$TOOLS/boxtool" seal "$T/dkey.json" "$C_PK" > "$T/env"
printf '{"content_encrypted":"%s","encryption_nonce":"%s","peer_public_key":"%s","sequence":1,"timestamp":1700000000,"direction":"received"}\n' \
    "$(cut -f1 "$T/env")" "$(cut -f2 "$T/env")" "$D_PK" > "$T/rows.jsonl"
run "import-history before the contact exists" 0 "${C[@]}" import-history "$T/rows.jsonl" --key "$T/ckey.json"
q "${C[@]}" bundle | q "${D[@]}" add cli - > /dev/null
echo "from the phone" | q "${D[@]}" send cli - > "$T/first"
STDIN="$T/first" run "first message from an unknown device" 0 "${C[@]}" recv -
check "named by its fingerprint" 'grep -q "from $DFP (new contact)" "$T/err"'
run "history under the fingerprint" 0 "${C[@]}" history "$DFP"
check "both entries under the fingerprint" '[ "$(wc -l < "$T/out")" = 2 ]'
q "${D[@]}" bundle > "$T/d.bundle"
run "add phone --device 3 adopts it" 0 "${C[@]}" add phone "$T/d.bundle" --device 3
check "one row, named phone/3" '[ "$(q "${C[@]}" status | grep -c "$DFP")" = 1 ] && q "${C[@]}" status | grep -q "^phone  *3 $DFP yes "'
check "adoption audited" 'audit_has "contact adopted phone/3: was $DFP/1, made by a first message" --dir "$T/c"'
run "history follows (imported and received)" 0 "${C[@]}" history phone
check "both entries under phone" '[ "$(wc -l < "$T/out")" = 2 ] && grep -q "old product message" "$T/out" && grep -q "from the phone" "$T/out"'
run "nothing left under the fingerprint" 0 "${C[@]}" history "$DFP"
check "empty" '[ ! -s "$T/out" ]'
echo "reply" | q "${C[@]}" send phone --device 3 - > "$T/reply"
check "the reply continues the session (no second handshake)" '[ "$(base64 -d < "$T/reply" | wc -c)" -lt 200 ]'
STDIN="$T/reply" run "the phone reads it" 0 "${D[@]}" recv -
check "reply read" '[ "$(cat "$T/out")" = reply ]'

# Imported history relabelled by a plain add too (no first message).
E=(--dir "$T/e")
"$TOOLS/boxtool" keygen "$T/ekey.json"
q "${E[@]}" init --import "$T/ekey.json" > /dev/null
E_PK=$("$TOOLS/boxtool" pk "$T/ekey.json")
echo "older still" | "$TOOLS/boxtool" seal "$T/ekey.json" "$C_PK" > "$T/env"
printf '{"content_encrypted":"%s","encryption_nonce":"%s","peer_public_key":"%s","sequence":1,"timestamp":1700000000,"direction":"received"}\n' \
    "$(cut -f1 "$T/env")" "$(cut -f2 "$T/env")" "$E_PK" > "$T/rows2.jsonl"
q "${C[@]}" import-history "$T/rows2.jsonl" --key "$T/ckey.json" > /dev/null
q "${E[@]}" bundle | q "${C[@]}" add laptop - > /dev/null
run "history of the new contact" 0 "${C[@]}" history laptop
check "imported row under the name given by add" 'grep -q "older still" "$T/out"'
run "audit chain holds (c)" 0 "${C[@]}" audit --verify

# ------------------------------------------------------------------ require_org
O=(--dir "$T/org") F=(--dir "$T/f") G=(--dir "$T/g")
ORG=$(q "${O[@]}" org init | cut -d' ' -f1)
q "${F[@]}" init > /dev/null; q "${G[@]}" init > /dev/null
run "require_org: a bad key" 65 "${F[@]}" policy set require_org not-a-key
check "the error says what it takes" 'err_has "require_org: must be an organisation root'"'"'s public key (base64) or none"'
run "require_org set" 0 "${F[@]}" policy set require_org "$ORG"
check "rbx policy shows it" 'q "${F[@]}" policy | grep -qxF "require_org = $ORG"'
check "the change is audited" 'q "${F[@]}" audit | grep -qF "policy changed        require_org=$ORG"'
q "${G[@]}" bundle > "$T/g.bundle"
run "an uncertified new contact refused" 65 "${F[@]}" add gina "$T/g.bundle"
check "no contact made" '[ "$(q "${F[@]}" status | awk '"'"'$1 == "gina"'"'"' | wc -l)" = 0 ]'
q "${O[@]}" org certify --bundle "$T/g.bundle" --out "$T/g.cert" > /dev/null
q "${G[@]}" org install-cert "$T/g.cert" > /dev/null
q "${G[@]}" bundle > "$T/g.bundle"
run "a certified new contact accepted, bound" 0 "${F[@]}" add gina "$T/g.bundle"
check "bound to the root" 'grep -qxF "gina: bound to organisation $ORG (certificate verified)" "$T/out"'
run "require_org none" 0 "${F[@]}" policy set require_org none
check "lifted" 'q "${F[@]}" policy | grep -qx "require_org = none"'

# ------------------------------------------------------------------ the manual, help
for v in trust reset forget rename; do
    check "rbx.1 documents $v" 'grep -q "^\.B $v\b" "$MAN"'
    run "$v --help" 0 $v --help
    check "rbx help lists $v" '"$RBX" help | grep -q "^  rbx $v "'
done

echo "test_lifecycle: $passed passed, $failed failed"
[ "$failed" = 0 ]
