#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where the secrets live (issue 18, PROTOCOL.md 15.6, rbx(1) BACKUPS), run by
# make check-cli: the storage key from another file, from descriptor 3 or from
# a command's output (a keychain helper), never from argv or an environment
# variable's content; the generation record kept elsewhere, so that a restored
# copy of the state directory is detected; rbx status's warnings and the
# .nobackup marker. Ends with "N passed, M failed"; exits non-zero on a failure.
#
# Environment: RBX (build/rbx), TOOLS (unused), CLI_TEST_DIR.
set -uo pipefail

. "$(dirname "$0")/lib.sh"
cli_begin "${CLI_TEST_DIR:-build/cli-test-keysource}"

run() { rbx_run "$@"; }
err_has() { grep -qF -- "$1" "$T/err"; }
q() { "$RBX" "$@" 2>/dev/null; }
mkdir -m 700 "$T/vault"                      # another disk, say, that backups skip
head -c 32 /dev/urandom > "$T/vault/a.key"; chmod 600 "$T/vault/a.key"
base64 -w0 "$T/vault/a.key" > "$T/vault/a.key.b64"; chmod 600 "$T/vault/a.key.b64"
A=(--dir "$T/a" --key-fd 3 --generation-file "$T/vault/a.gen")
B=(--dir "$T/b")

# ------------------------------------------------------------------ the key from descriptor 3
run "init, key from descriptor 3" 0 "${A[@]}" init 3< "$T/vault/a.key"
check "no key file and no generation record in the directory" '[ "$(ls "$T/a")" = state.db ]'
check "the generation record is in the vault" '[ -s "$T/vault/a.gen" ]'
FP_A=$(q "${A[@]}" id 3< "$T/vault/a.key" | cut -d' ' -f2)
check "the identity opens with the same key" '[ -n "$FP_A" ]'
run "the key as base64 text on descriptor 3" 0 "${A[@]}" id 3< "$T/vault/a.key.b64"
check "same identity" 'grep -q " $FP_A$" "$T/out"'
head -c 32 /dev/urandom > "$T/wrong.key"
run "a wrong key" 74 "${A[@]}" id 3< "$T/wrong.key"
check "named as the descriptor's" 'err_has "wrong storage key (the key descriptor does not open it)"'
run "an empty descriptor" 66 "${A[@]}" id 3< /dev/null
head -c 31 /dev/urandom > "$T/short.key"
run "31 bytes" 65 "${A[@]}" id 3< "$T/short.key"
check "says what a key is" 'err_has "is not a storage key (32 bytes, or their base64)"'
# (9, not 3: a preloaded library, libfaketime in make check-faketime, may
# hold descriptor 3 of its own.)
run "a descriptor that is not open" 64 --dir "$T/a" --key-fd 9 --generation-file "$T/vault/a.gen" id 9<&-
run "descriptor 0 refused (the verbs' input)" 64 --dir "$T/a" --key-fd 0 id
run "two key sources" 64 --dir "$T/a" --key-fd 3 --key-command cat id 3< "$T/vault/a.key"
RBX_KEY_FD=3 run "RBX_KEY_FD" 0 --dir "$T/a" --generation-file "$T/vault/a.gen" id 3< "$T/vault/a.key"

# ------------------------------------------------------------------ the key from a command
KC="cat $T/vault/a.key"
run "the key from a command" 0 --dir "$T/a" --key-command "$KC" --generation-file "$T/vault/a.gen" id
check "same identity (command)" 'grep -q " $FP_A$" "$T/out"'
RBX_KEY_COMMAND="cat $T/vault/a.key.b64" RBX_GENERATION_FILE="$T/vault/a.gen" \
    run "RBX_KEY_COMMAND and RBX_GENERATION_FILE, base64 output" 0 --dir "$T/a" id
run "a command that fails" 74 --dir "$T/a" --key-command "exit 3" id
check "its exit status named" 'err_has "the key command failed (exit status 3)"'
run "a command that prints nothing" 66 --dir "$T/a" --key-command true id
RBX_KEY_COMMAND=false run "an option wins over the environment" 0 --dir "$T/a" --key-command "$KC" --generation-file "$T/vault/a.gen" id
# No verb or global option takes the key itself.
run "no --key option" 64 --dir "$T/a" --key "$(base64 -w0 "$T/vault/a.key")" id
check "the manual gives no option for the key's content" '! grep -q "^\.BI* \\\\-\\\\-storage\\\\-key\b" "$MAN"'

# ------------------------------------------------------------------ another key file
mkdir -m 700 "$T/keys"
run "init, key file elsewhere" 0 "${B[@]}" --key-file "$T/keys/b.key" init
check "made there, 0600, 32 bytes" '[ "$(stat -c %a "$T/keys/b.key")" = 600 ] && [ "$(stat -c %s "$T/keys/b.key")" = 32 ] && [ ! -e "$T/b/state.db.key" ]'
RBX_KEY_FILE="$T/keys/b.key" run "RBX_KEY_FILE" 0 "${B[@]}" id
run "without it: no key" 66 "${B[@]}" id

# ------------------------------------------------------------------ status and backups
KB=(--key-file "$T/keys/b.key")
run "status: the record beside the database" 0 "${B[@]}" "${KB[@]}" status
check "warns, naming the record and the option" 'err_has "warning: the generation record $T/b/state.db.gen is beside the database" && err_has "--generation-file"'
check "no warning about the key (it is elsewhere)" '! err_has "storage key"'
check "says where the secrets are" 'grep -qx "storage key file: $T/keys/b.key" "$T/out" && grep -qx "generation record: $T/b/state.db.gen (beside the database)" "$T/out"'
run "status --json" 0 "${B[@]}" "${KB[@]}" status --json
check "json: beside, key elsewhere, no marker" 'grep -q "\"generation_beside_database\":true,\"key_beside_database\":false,\"nobackup_marker\":false" "$T/out"'
check "json: the warning as an object on stderr" 'grep -q "^{\"warning\":{\"message\":\"the generation record" "$T/err"'
run "status, record elsewhere" 0 "${A[@]}" status 3< "$T/vault/a.key"
check "no warning" '[ ! -s "$T/err" ] && grep -qx "storage key: descriptor (not on disk)" "$T/out"'
C=(--dir "$T/c")
q "${C[@]}" init > /dev/null
run "status, default layout" 0 "${C[@]}" status
check "warns about the record and the key" 'err_has "generation record" && err_has "the storage key $T/c/state.db.key is beside the database"'
touch "$T/c/.nobackup"
run "status with a .nobackup marker" 0 "${C[@]}" status
check "the key warning goes, the record's stays" '! err_has "storage key" && err_has "generation record" && grep -qx "backups: .nobackup marker present" "$T/out"'

# A copy of the whole directory restored: with the record beside the
# database the rollback goes unseen (why status warns); with the record
# elsewhere it is detected.
q "${A[@]}" bundle 3< "$T/vault/a.key" | q "${C[@]}" add alice - > /dev/null
q "${C[@]}" bundle | q "${A[@]}" add carol - 3< "$T/vault/a.key" > /dev/null
echo one | q "${A[@]}" send carol - 3< "$T/vault/a.key" | q "${C[@]}" recv - > /dev/null
echo two | q "${C[@]}" send alice - | q "${A[@]}" recv - 3< "$T/vault/a.key" > /dev/null
for who in a c; do cp -a "$T/$who" "$T/$who.backup"; done
echo three | q "${A[@]}" send carol - 3< "$T/vault/a.key" > /dev/null
echo four | q "${C[@]}" send alice - > /dev/null
for who in a c; do rm -rf "$T/$who"; mv "$T/$who.backup" "$T/$who"; done
run "default layout, restored: the rollback is not seen" 0 "${C[@]}" send alice /dev/null
run "record elsewhere, restored: detected" 74 "${A[@]}" send carol /dev/null 3< "$T/vault/a.key"
check "rolled back, rbx reset named" 'err_has "rolled back" && err_has "rbx reset carol"'

# ------------------------------------------------------------------ the manual
sed 's/\\-/-/g' "$MAN" > "$T/man.txt"
for o in key-file key-fd key-command generation-file; do
    check "rbx.1 documents --$o" 'grep -q "^\.BI* --$o" "$T/man.txt"'
done
for e in RBX_KEY_FILE RBX_KEY_FD RBX_KEY_COMMAND RBX_GENERATION_FILE; do
    check "rbx.1 documents \$$e" 'grep -q "^\.B $e$" "$T/man.txt"'
done
check "rbx.1 has the backup recipe" 'grep -q "^\.SH BACKUPS" "$T/man.txt" && grep -q "\.nobackup" "$T/man.txt"'

echo "test_keysource: $passed passed, $failed failed"
[ "$failed" = 0 ]
