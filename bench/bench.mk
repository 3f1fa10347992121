# Benchmark rules, included by the top-level Makefile (bench/README.md).
# SPDX-License-Identifier: MIT

$(B)/bench: bench/bench.c $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

bench: deps
	$(MAKE) --no-print-directory $(B)/bench
	$(B)/bench
