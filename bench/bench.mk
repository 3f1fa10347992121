# Benchmark rules, included by the top-level Makefile (bench/README.md).
# SPDX-License-Identifier: MIT
#
# build/bench          ratchetbox against the floor of its primitives and the store
#                      against a raw fdatasync (bench/bench.c; both programs share
#                      bench/common.c: clock, checks, median, scratch directory)
# build/bench-compare  every implementation in one run: today's box envelope,
#                      ratchetbox in memory and in its store, libsignal-protocol-c
#                      2.3.3 and libolm 3.2.13 (bench/compare.c + adapters)
#
# make bench        both programs, then the plots; results in bench/results/
# make bench-quick  every implementation and case at tiny counts (a harness check,
#                   no timing asserted), results in $(B)/bench-quick/ only; then
#                   bench/check_wire.sh: the wire sizes it reports against the
#                   lines rbx send prints and today's envelope strings
# make bench-ab REF=<commit>  the durable store of this tree against REF's, both
#                   libraries in one process, batch by batch in turn (bench/ab.c);
#                   REF is built in a temporary git worktree under $(B)/
#
# The peers are linked by build/bench-compare only, never by the library or rbx
# (libsignal-protocol-c is GPLv3). Their headers come in with -isystem so that
# our warning flags (-Werror included) apply to our code only.

BENCH_RESULTS := bench/results
CMP_SRC   := bench/compare.c bench/impl_rbx.c bench/peer_signal.c bench/peer_olm.c bench/common.c
PEER_CFLAGS := $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags libsignal-protocol-c olm libcrypto 2>/dev/null))
PEER_LIBS := $(shell $(PKG_CONFIG) --libs libsignal-protocol-c olm libcrypto 2>/dev/null)

.PHONY: bench-quick bench-plots bench-ab

$(B)/bench: bench/bench.c bench/common.c bench/common.h $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ bench/bench.c bench/common.c $(STATIC) $(LIBS)

$(B)/bench-compare: $(CMP_SRC) bench/compare.h bench/common.h include/ratchetbox.h $(INT_H) $(STATIC)
	$(CC) $(ALLCFLAGS) $(PEER_CFLAGS) $(LDFLAGS) -o $@ $(CMP_SRC) $(STATIC) $(LIBS) $(PEER_LIBS)

# Outputs are written to a temporary name first so that a failed run leaves
# the checked-in results alone (and make fails).
bench: deps
	$(MAKE) --no-print-directory $(B)/bench $(B)/bench-compare $(B)/rbx $(B)/tools/boxtool
	@mkdir -p $(BENCH_RESULTS)
	$(B)/bench > $(B)/bench-floors.txt
	mv $(B)/bench-floors.txt $(BENCH_RESULTS)/floors.txt
	$(B)/bench-compare --out $(BENCH_RESULTS) > $(B)/bench-latest.txt
	mv $(B)/bench-latest.txt $(BENCH_RESULTS)/latest.txt
	cat $(BENCH_RESULTS)/latest.txt
	RBX=$(B)/rbx TOOLS=$(B)/tools CSV=$(BENCH_RESULTS)/latest.csv WIRE_TMP=$(B) bash bench/check_wire.sh
	gnuplot -e "dir='$(BENCH_RESULTS)'" bench/plot.gp

bench-quick: $(B)/bench-compare $(B)/rbx $(B)/tools/boxtool
	@rm -rf $(B)/bench-quick && mkdir -p $(B)/bench-quick
	$(B)/bench-compare --quick --out $(B)/bench-quick --tmp $(B) > $(B)/bench-quick/latest.txt
	sed -n '/^wire size per message/,/checked against its formula/p' $(B)/bench-quick/latest.txt
	RBX=$(B)/rbx TOOLS=$(B)/tools CSV=$(B)/bench-quick/latest.csv WIRE_TMP=$(B) bash bench/check_wire.sh
	gnuplot -e "dir='$(B)/bench-quick'" bench/plot.gp
	@echo "bench-quick: every implementation round-tripped in every case, wire sizes as rbx send prints them; output in $(B)/bench-quick/"

# Two builds of the library side by side (bench/ab.c dlopens both).
$(B)/ab: bench/ab.c bench/common.c bench/common.h include/ratchetbox.h
	@mkdir -p $(B)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ bench/ab.c bench/common.c -ldl

AB_REPS ?= 41
bench-ab: $(B)/ab $(B)/libratchetbox.so
	@test -n "$(REF)" || { echo "bench-ab: give REF=<commit>, e.g. REF=main"; exit 64; }
	rm -rf '$(CURDIR)/$(B)/ab-ref'; git worktree prune
	git worktree add -f --detach '$(CURDIR)/$(B)/ab-ref' $(REF) > /dev/null
	$(MAKE) -C '$(CURDIR)/$(B)/ab-ref' --no-print-directory build/libratchetbox.so > /dev/null
	$(B)/ab '$(CURDIR)/$(B)/ab-ref/build/libratchetbox.so.0' '$(CURDIR)/$(B)/libratchetbox.so.0' $(AB_REPS) $(B); \
	  rc=$$?; git worktree remove --force '$(CURDIR)/$(B)/ab-ref'; exit $$rc
