#!/bin/sh
# Constant-time check (make ct-check). $1: the ct_check binary.
# 1. The strict sections under memcheck with --error-exitcode=1: no report
#    may remain except the one libsodium.supp names.
# 2. The key-import sections (b64, json) branch on input validity by design;
#    their reports are printed in full and every report's innermost frame must
#    be one of the functions README.md lists, with the reason, so a new
#    secret-dependent branch anywhere else still fails.
set -u
bin=$1
dir=$(dirname "$0")
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not installed: constant-time check skipped"
    exit 0
fi
vg="valgrind -q --error-exitcode=1 --track-origins=yes --suppressions=$dir/libsodium.supp"

echo "ct-check: strict sections"
$vg "$bin" || { echo "ct-check: FAILED (secret-dependent branch or index above)"; exit 1; }

# Functions allowed to branch on the validity of a secret key's text
# (README.md "Key import"). sodium_base642bin: libsodium, d == 0xFF per
# character and the zero padding bits. json_string: keys.c, the scan for the
# closing quote and the control/backslash refusal. keypair_commit: keys.c, the
# public outcome "the secret key matches the public key".
allowed='sodium_base642bin json_string keypair_commit'
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for sec in b64 json; do
    echo "ct-check: key import section $sec (validity branches expected)"
    valgrind -q --error-exitcode=1 --track-origins=yes \
        --suppressions="$dir/libsodium.supp" "$bin" "$sec" 2>"$log"
    rc=$?
    cat "$log" >&2
    # Innermost frame of each report: the first "at" line after its title.
    tops=$(awk '/(Conditional jump|Use of uninitialised|Invalid|uninitialised byte)/ { want = 1; next }
                want && / at 0x/ { sub(/.* at 0x[0-9A-Fa-f]+: /, ""); sub(/ .*/, ""); print; want = 0 }' "$log")
    n=0
    for t in $tops; do
        n=$((n + 1))
        case " $allowed " in
        *" $t "*) ;;
        *) echo "ct-check: FAILED: $sec: secret-dependent branch or index in $t"; exit 1 ;;
        esac
    done
    if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
        echo "ct-check: FAILED: $sec exited $rc"; exit 1
    fi
    echo "ct-check: $sec: $n report(s), all in validity checks listed in tests/ct/README.md"
done
echo "ct-check: passed"
