# SPDX-License-Identifier: MIT
# Sourced by the rbx command-line suites (tests/cli/test_*.sh): a fresh test
# directory, the pass/fail counters, check, and rbx_run with the rules every
# suite holds rbx to (exit code; error output as "rbx: <verb>: ..." lines).

# cli_begin DIR: RBX and TOOLS made absolute, DIR emptied and made absolute
# as $T, counters at zero, no default state directory or HOME to fall back
# on, and $MAN the manual page.
cli_begin() {
    RBX=${RBX:-build/rbx}
    TOOLS=${TOOLS:-build/tools}
    case "$RBX" in /*) ;; *) RBX="$PWD/$RBX" ;; esac
    case "$TOOLS" in /*) ;; *) TOOLS="$PWD/$TOOLS" ;; esac
    T=$1
    # A suite's default directory under build/ follows the rbx under test:
    # the sanitizer pass (build-san/rbx) runs beside the plain one.
    case "$T" in build/*) T="$(dirname "$RBX")/${T#build/}" ;; esac
    rm -rf "$T"
    mkdir -p "$T"
    T=$(cd "$T" && pwd)
    passed=0 failed=0
    MAN="$(dirname "$0")/../../src/cli/rbx.1"
    export RBX_DIR="$T/unset-default" HOME="$T/home"
}

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1 [$2]"; fi; }

# rbx_run NAME WANT_RC [args...]: rbx with args (stdin from $STDIN or
# /dev/null); stdout in $T/out, stderr in $T/err, both also appended to
# $T/all-output. On an error exit other than 64 (usage), stderr must be
# exactly one line "rbx: <verb>: ..."; with ERR_LINES=many, one or more;
# with --json among the arguments, one {"error":...} object (any exit).
rbx_run() {
    local name=$1 want=$2; shift 2
    "$RBX" "$@" > "$T/out" 2> "$T/err" < "${STDIN:-/dev/null}"
    local rc=$?
    cat "$T/out" "$T/err" >> "$T/all-output"
    if [ "$rc" != "$want" ]; then bad "$name: exit $rc, want $want: $(head -c 300 "$T/err")"; return 1; fi
    local a json=0
    for a in "$@"; do [ "$a" = --json ] && json=1; done
    if [ "$want" != 0 ] && [ "$json" = 1 ]; then
        # --json: one error object on stderr (PROTOCOL.md 22.3), warnings before it.
        if [ "$(grep -c '^{"error":{' "$T/err")" != 1 ] || ! tail -n 1 "$T/err" | grep -q '^{"error":{' ||
           grep -qv '^{"\(error\|warning\|maintenance\|rejected\)":{' "$T/err"; then
            bad "$name: --json error output is not one {\"error\":...} object: $(head -c 300 "$T/err")"; return 1
        fi
        if ! grep -q "\"exit\":$want}" "$T/err"; then
            bad "$name: the error object does not carry exit $want: $(head -c 300 "$T/err")"; return 1
        fi
    elif [ "$want" != 0 ] && [ "$want" != 64 ]; then
        if [ "${ERR_LINES:-one}" = many ]; then
            if [ ! -s "$T/err" ] || grep -qv '^rbx: [a-z-]*: ' "$T/err"; then
                bad "$name: error output not in 'rbx: <verb>: ...' lines: $(head -c 300 "$T/err")"; return 1
            fi
        elif [ "$(wc -l < "$T/err")" != 1 ] || ! grep -q '^rbx: [a-z-]*: ' "$T/err"; then
            bad "$name: error output is not one 'rbx: <verb>: ...' line: $(head -c 300 "$T/err")"; return 1
        fi
    fi
    ok
}

# Times. rbx runs on the real clock (no clock option: a production tool
# whose prekey ages, grace windows and certificate dates an environment
# variable could move would be a footgun). So a time rbx records is checked
# against the wall clock read just before and just after the command that
# records it: exact to the second at any date, with no tolerance to
# outrun. make check-faketime runs these suites again with the wall clock
# (of rbx and of date alike) past 2038, where a time cut to 32 bits fails.
# now: Unix seconds. iso_of T / min_of T: T as rbx prints it, in ISO form
# (audit, history) and to the minute (certificates, grace ends).
now() { date +%s; }
iso_of() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
min_of() { date -u -d "@$1" '+%Y-%m-%d %H:%M UTC'; }
# within LO X HI: LO <= X <= HI, as numbers; X must be a number.
within() { [[ "$2" =~ ^[0-9]+$ ]] && [ "$1" -le "$2" ] && [ "$2" -le "$3" ]; }
# within_str LO S HI: the same for dates of one fixed-width format.
within_str() { [ -n "$2" ] && ! [[ "$2" < "$1" ]] && ! [[ "$2" > "$3" ]]; }

# Byte surgery on a transport or bundle line: b64_bytes and bytes_b64
# convert base64 to one decimal byte per line and back; flip N changes the
# lowest bit of byte N (0-based).
b64_bytes() { base64 -d | od -An -v -tu1 | tr -s ' \n' '\n' | grep -v '^$'; }
bytes_b64() { while read -r b; do printf "\\$(printf '%03o' "$b")"; done | base64 -w0; echo; }
flip() { b64_bytes | awk -v at="$1" '{ if (NR - 1 == at) $0 = ($0 % 2) ? $0 - 1 : $0 + 1; print }' | bytes_b64; }

# jfield KEY: the value of "KEY" in $T/out (quotes removed; the last on its
# line, the first such line).
jfield() { sed -n "s/.*\"$1\":\"\\{0,1\\}\([^\",}]*\).*/\1/p" "$T/out" | head -n 1; }

# junix KEY: the Unix seconds of the time "KEY" in $T/out ("KEY":{"unix":N,
# "rfc3339":...}, PROTOCOL.md 22.2; the first such line).
junix() { sed -n "s/.*\"$1\":{\"unix\":\(-\{0,1\}[0-9]*\),.*/\1/p" "$T/out" | head -n 1; }

# keyfile_field NAME FILE: a string field of the product's JSON key file
# (publicKey, secretKey: base64).
keyfile_field() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" "$2"; }

# check_secrets_unprinted FILE...: no key file's secret key appears in
# anything rbx_run saw.
check_secrets_unprinted() {
    local f sk
    for f in "$@"; do
        sk=$(keyfile_field secretKey "$f")
        check "secret key never printed ($(basename "$f"))" '[ -n "$sk" ] && ! grep -qF "$sk" "$T/all-output"'
    done
}

# The last line of every suite: "N passed, M failed", and its exit status.
cli_end() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
