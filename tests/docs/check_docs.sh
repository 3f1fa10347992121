#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check-docs (part of make check; issue 11 point 5):
# 1. The repository stands alone: no tracked file cites the background notes
#    the project started from (CONTEXT.md, "CONTEXT section n") or a path in
#    the shared folder outside the repository. A fact is stated where it is used.
# 2. The manual page src/cli/rbx.1 renders without a warning from groff or
#    mandoc; no alternating-font macro (.BR, .RB, .IR, ...) runs two words
#    together (those macros join their arguments with no space); the rendered
#    page has "rbx: verb: what went wrong" with its spaces; SEE ALSO names
#    base64(1) and sqlite3(1) and no other page.
# Ends with "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail

cd "$(dirname "$0")/../.."
MAN=src/cli/rbx.1
T=${DOCS_TEST_DIR:-build/docs-test}
rm -rf "$T" && mkdir -p "$T"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1 [$2]"; fi; }

# ------------------------------------------------------------------ 1. self-contained
# The patterns are written so that this file does not match them.
CASED='(^|[^A-Za-z0-9_])CONTEX[T]([^A-Za-z0-9_]|$)'
ANYCASE='/wor[k]/|[.][.]/share[d]/|share[d] (folder|workspace|directory)'
# Lines allowed to match (path:text, no line number); none today.
ALLOW=()
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    { git grep -n -I -E -e "$CASED" -- . ':!tests/docs/check_docs.sh'
      git grep -n -I -i -E -e "$ANYCASE" -- . ':!tests/docs/check_docs.sh'; } > "$T/refs"
else # a copy without .git: every file but build output
    { grep -rnI -E --exclude-dir=.git --exclude-dir='build*' -e "$CASED" .
      grep -rnI -i -E --exclude-dir=.git --exclude-dir='build*' -e "$ANYCASE" .; } \
        | sed 's|^\./||' | grep -v '^tests/docs/check_docs\.sh:' > "$T/refs"
fi
: > "$T/outside"
while IFS= read -r hit; do
    path=${hit%%:*} rest=${hit#*:}
    key="$path:${rest#*:}"
    allowed=0
    for a in "${ALLOW[@]}"; do [ "$key" = "$a" ] && allowed=1; done
    [ "$allowed" = 1 ] || printf '%s\n' "$hit" >> "$T/outside"
done < "$T/refs"
check "no file points outside the repository (CONTEXT notes, the shared folder)" '[ ! -s "$T/outside" ]'
[ -s "$T/outside" ] && sed 's/^/  /' "$T/outside"
# The search itself works: it finds a planted citation.
printf 'see CONTEX%s section 1\n' T > "$T/planted"
check "the search finds a planted citation" 'grep -qE "$CASED" "$T/planted"'

# ------------------------------------------------------------------ 2. the manual page
command -v groff > /dev/null || bad "groff not installed (make deps)"
command -v mandoc > /dev/null || bad "mandoc not installed (make deps)"
if command -v groff > /dev/null; then
    groff -man -Tutf8 -ww -z "$MAN" > "$T/groff.warn" 2>&1
    check "rbx.1: no groff warning" '[ ! -s "$T/groff.warn" ]'
    [ -s "$T/groff.warn" ] && head -n 5 "$T/groff.warn"
    # One paragraph per line (no breaks, no hyphenation), runs of spaces from
    # justification squeezed.
    groff -man -Tascii -P-cbou -rLL=1000n -rHY=0 "$MAN" 2> /dev/null | tr -s ' ' > "$T/rbx.txt"
    check "rbx.1: the error line keeps its spaces" 'grep -qF "one line \"rbx: verb: what went wrong\" goes to standard error" "$T/rbx.txt"'
    sed -n '/^SEE ALSO$/,/^[A-Z]/p' "$T/rbx.txt" | grep -oE '[a-z0-9_.-]+\([0-9][a-z]*\)' > "$T/seealso"
    check "rbx.1: SEE ALSO names base64(1) and sqlite3(1), nothing else" '[ "$(tr "\n" " " < "$T/seealso")" = "base64(1) sqlite3(1) " ]'
fi
if command -v mandoc > /dev/null; then
    mandoc -T lint -W warning "$MAN" > "$T/mandoc.warn" 2>&1
    check "rbx.1: no mandoc warning" '[ ! -s "$T/mandoc.warn" ]'
    [ -s "$T/mandoc.warn" ] && head -n 5 "$T/mandoc.warn"
fi

# Alternating-font macros join their arguments with no space: report an
# argument ending in a letter, digit or ":;,." followed by one starting with a
# letter or digit (".BR sqlite3 (1)" is fine; ".IR what went wrong" is not).
GLUE_AWK='
function strip(a) {
    gsub(/\\f(\[[^]]*\]|\(..|.)/, "", a)
    gsub(/\\\(lq|\\\(rq|\\\(dq/, "\"", a)
    gsub(/\\\(../, "#", a)
    gsub(/\\-/, "-", a); gsub(/\\e/, "#", a); gsub(/\\&/, "", a); gsub(/\\c$/, "", a)
    gsub(/\\ /, " ", a)
    return a
}
/^\.(BR|RB|IR|RI|BI|IB)[ \t]/ {
    line = substr($0, 5); n = 0
    while (1) {
        sub(/^[ \t]+/, "", line)
        if (line == "") break
        if (substr(line, 1, 1) == "\"") {
            arg = ""; i = 2
            while (i <= length(line)) {
                c = substr(line, i, 1)
                if (c == "\"" && substr(line, i + 1, 1) == "\"") { arg = arg "\""; i += 2; continue }
                if (c == "\"") { i++; break }
                arg = arg c; i++
            }
            line = substr(line, i)
        } else {
            match(line, /^[^ \t]+/); arg = substr(line, 1, RLENGTH); line = substr(line, RLENGTH + 1)
        }
        args[++n] = strip(arg)
    }
    for (k = 1; k < n; k++)
        if (args[k] ~ /[A-Za-z0-9:;,.]$/ && args[k + 1] ~ /^[A-Za-z0-9]/)
            printf "%s:%d: \"%s\" runs into \"%s\"\n", FILENAME, FNR, args[k], args[k + 1]
}'
awk "$GLUE_AWK" "$MAN" > "$T/glued"
check "rbx.1: no alternating-font macro runs words together" '[ ! -s "$T/glued" ]'
[ -s "$T/glued" ] && sed 's/^/  /' "$T/glued"
# The glue check finds the defect it is for.
printf '.RB \\(lq "rbx: " \\fIverb\\fB: \\fIwhat went wrong\\fR\\(rq\n' > "$T/glued.1"
check "the glue check finds a planted defect" '[ "$(awk "$GLUE_AWK" "$T/glued.1" | wc -l)" = 3 ]'

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
