#!/bin/sh
# SPDX-License-Identifier: MIT
# The store's arrows point one way (STYLE.md "As the project grows"): no
# floor of src/store/ refers to a symbol that a floor above it defines.
# Usage: tests/layering.sh <object dir> [<source dir>], e.g. build/obj/store
# (make layering, from the top of the tree; the source dir is src/store).
# FLOORS is the order of src/store/store_int.h, lowest first (integrity.c,
# declared in integrity.h, is below db.c); a file of src/store/ that is not
# in it fails the check, so a new one gets a place.
set -eu
dir=${1:?usage: layering.sh <object dir> [<source dir>]}
src=${2:-src/store}
FLOORS="integrity db audit policy prekeys rotate sessions contacts archive bundle messages users open"

fail=0
for c in "$src"/*.c; do
    f=$(basename "$c" .c)
    case " $FLOORS " in
    *" $f "*) ;;
    *) echo "layering: $c is not in FLOORS (tests/layering.sh)"; fail=1 ;;
    esac
done
for f in $FLOORS; do
    [ -f "$dir/$f.o" ] || { echo "layering: $dir/$f.o missing"; fail=1; }
done
[ "$fail" = 0 ] || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in $FLOORS; do
    nm --defined-only -g "$dir/$f.o" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp/$f.def"
    nm -u "$dir/$f.o" | awk '{ print $NF }' | sort -u > "$tmp/$f.undef"
done

checked=0
# For each floor, every floor after it in FLOORS is above it.
set -- $FLOORS
while [ $# -gt 0 ]; do
    low=$1
    shift
    for high in "$@"; do
        up=$(comm -12 "$tmp/$low.undef" "$tmp/$high.def")
        if [ -n "$up" ]; then
            for sym in $up; do
                echo "layering: src/store/$low.c refers to $sym of src/store/$high.c, a floor above it"
            done
            fail=1
        fi
        checked=$((checked + 1))
    done
done
[ "$fail" = 0 ] || exit 1
echo "layering: $(echo $FLOORS | wc -w) store floors, $checked pairs, every call points down"
