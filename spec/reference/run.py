#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make check-reference: re-derive spec/vectors with the reference
implementation, check the external XEdDSA oracle, then exchange live
messages with rbx. Exits non-zero on the first disagreement."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import live  # noqa: E402
import vectors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vectors", help="the spec/vectors directory")
    ap.add_argument("--external", action="append", default=[],
                    help="tests/vectors/xeddsa.txt (libsignal's sign-bit form)")
    ap.add_argument("--rbx", help="the rbx binary for the live run")
    a = ap.parse_args()
    t0 = t1 = time.monotonic()
    if a.vectors:
        try:
            n = vectors.run(a.vectors, a.external)
        except vectors.Mismatch as e:
            print("reference: MISMATCH %s" % e)
            return 1
        t1 = time.monotonic()
        print("reference: %d vector files re-derived in %.1f s" % (n, t1 - t0))
    if a.rbx:
        lv = live.Live(a.rbx)
        for c in lv.run():
            print("reference: live with rbx: %s" % c)
        t2 = time.monotonic()
        print("reference: live with rbx: %d messages in %d cases in %.1f s" %
              (lv.messages, len(lv.cases), t2 - t1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
