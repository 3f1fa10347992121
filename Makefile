# ratchetbox: one plain Makefile (STYLE.md). Targets: all, deps, check, demo,
# bench, install, uninstall, clean.
# SPDX-License-Identifier: MIT

VERSION   := 0.2.0
SOMAJOR   := 0
PREFIX    ?= /usr/local
LIBDIR    ?= $(PREFIX)/lib
BINDIR    ?= $(PREFIX)/bin
INCDIR    ?= $(PREFIX)/include
DESTDIR   ?=

CC        ?= cc
PROTOC_C  ?= protoc-c
PKG_CONFIG ?= pkg-config

# Debian 12 packages this project needs (make deps installs the missing ones).
DEB_PKGS  := pkg-config libsodium-dev libsqlite3-dev check libxeddsa-dev \
             libprotobuf-c-dev protobuf-c-compiler \
             libsignal-protocol-c-dev libolm-dev libssl-dev gnuplot-nox libjansson-dev \
             libcurl4-openssl-dev
PC_PKGS   := libsodium sqlite3 check libprotobuf-c

WARN      := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual \
             -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wundef \
             -Wwrite-strings -Wnull-dereference -Wimplicit-fallthrough
OPT       ?= -O2
# Build directory (make check also builds into build-san); set before the
# flags below, which name its generated protobuf headers.
B         ?= build
BASECFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden \
             $(WARN) -Iinclude -Isrc -Isrc/compat -I$(B)/proto \
             $(shell $(PKG_CONFIG) --cflags libsodium libprotobuf-c sqlite3 2>/dev/null)
CFLAGS    ?= $(OPT) -g
ALLCFLAGS := $(BASECFLAGS) $(CFLAGS)
LIBS      := $(shell $(PKG_CONFIG) --libs libsodium libprotobuf-c sqlite3 2>/dev/null) -lxeddsa
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC   := $(wildcard src/*.c src/store/*.c)
# The library's internal headers (src/store/ holds the store's floors).
INT_H     := $(wildcard src/*.h src/store/*.h)
PROTO     := proto/ratchetbox.proto
PROTO_C   := $(B)/proto/ratchetbox.pb-c.c
LIB_OBJ   := $(LIB_SRC:src/%.c=$(B)/obj/%.o) $(B)/obj/ratchetbox.pb-c.o
# The rbx tool: its client of rbxd speaks HTTP through libcurl, JSON through jansson.
CLI_SRC   := $(wildcard src/cli/*.c)
CLI_CFLAGS := $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags libcurl jansson 2>/dev/null))
CLI_LIBS  := $(shell $(PKG_CONFIG) --libs libcurl jansson 2>/dev/null || echo -lcurl -ljansson)
TEST_SRC  := $(wildcard tests/*.c)
# The tests' deterministic RNG is the one rbx sim uses (src/cli/detrng.c).
TEST_OBJ  := $(TEST_SRC:tests/%.c=$(B)/tobj/%.o) $(B)/tobj/detrng.o

STATIC    := $(B)/libratchetbox.a
SONAME    := libratchetbox.so.$(SOMAJOR)
SHARED    := $(B)/$(SONAME)

.PHONY: all deps check check-run symbols layering install-test demo bench \
        install uninstall clean vectors crashtest mutation-check

all: $(STATIC) $(SHARED) $(B)/libratchetbox.so $(B)/rbx $(B)/bench

# ------------------------------------------------------------------ deps
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "deps: missing Debian packages; run as root:"; \
	  echo "  apt-get install -y$$missing"; exit 1; \
	fi

# ------------------------------------------------------------------ library
$(B)/proto/ratchetbox.pb-c.c $(B)/proto/ratchetbox.pb-c.h: $(PROTO)
	@mkdir -p $(B)/proto
	$(PROTOC_C) --proto_path=proto --c_out=$(B)/proto $(PROTO)

$(B)/obj/ratchetbox.pb-c.o: $(PROTO_C)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(B)/obj/%.o: src/%.c include/ratchetbox.h $(INT_H) $(B)/proto/ratchetbox.pb-c.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,-z,relro,-z,now -o $@ $^ $(LIBS)

$(B)/libratchetbox.so: $(SHARED)
	ln -sf $(SONAME) $@

# ------------------------------------------------------------------ tests
$(B)/tobj/%.o: tests/%.c include/ratchetbox.h $(wildcard tests/*.h) $(INT_H) $(B)/proto/ratchetbox.pb-c.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DRBX_SRCDIR='"$(CURDIR)"' -c -o $@ $<

$(B)/tobj/detrng.o: src/cli/detrng.c src/cli/detrng.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(B)/check_rbx: $(TEST_OBJ) $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(STATIC) $(LIBS) $(CHECK_LIBS)

$(B)/rbx: $(CLI_SRC) $(wildcard src/cli/*.h) include/ratchetbox.h $(STATIC)
	$(CC) $(ALLCFLAGS) $(CLI_CFLAGS) $(LDFLAGS) -o $@ $(CLI_SRC) $(STATIC) $(LIBS) $(CLI_LIBS)

# The README's C example, extracted between its markers and run as a test.
$(B)/readme_example: README.md $(STATIC)
	@mkdir -p $(B)
	sed -n '/<!-- example-begin -->/,/<!-- example-end -->/p' README.md | sed '1,2d;$$d' | sed '$$d' > $(B)/readme_example.c
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $(B)/readme_example.c $(STATIC) $(LIBS)

# A reader that knows protocol version 1 only (tests/v1reader/): the library
# with the three files that read RBX_MAX_VERSION (the profile table, the wire
# and blob version checks) rebuilt with RBX_MAX_VERSION=1, fed the version-2
# vectors.
V1_SRC    := src/kdf.c src/state.c src/wire.c
V1_OBJ    := $(V1_SRC:src/%.c=$(B)/v1obj/%.o)
$(B)/v1obj/%.o: src/%.c include/ratchetbox.h $(INT_H) $(B)/proto/ratchetbox.pb-c.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DRBX_MAX_VERSION=1 -c -o $@ $<
$(B)/v1reader: tests/v1reader/v1reader.c $(B)/tobj/testutil.o $(B)/tobj/detrng.o $(V1_OBJ) \
               $(filter-out $(V1_SRC:src/%.c=$(B)/obj/%.o),$(LIB_OBJ)) tests/testutil.h
	$(CC) $(ALLCFLAGS) -Itests -DRBX_MAX_VERSION=1 -DRBX_SRCDIR='"$(CURDIR)"' $(LDFLAGS) -o $@ \
	    tests/v1reader/v1reader.c $(B)/tobj/testutil.o $(B)/tobj/detrng.o $(V1_OBJ) \
	    $(filter-out $(V1_SRC:src/%.c=$(B)/obj/%.o),$(LIB_OBJ)) $(LIBS) $(CHECK_LIBS)

# CRASH_KILLS: the durability kill harness's kills (its default, 200, when
# empty); the sanitizer pass of make check takes fewer. CHECK_SKIP: suites
# left out (the sanitizer pass of make check leaves out badinput, whose 345
# malformed inputs the fuzzers also feed the parsers under the sanitizers:
# 116 s under ASan on its own).
ALL_SUITES = $(shell sed -n 's/.*suite_create("\([A-Za-z0-9_]*\)").*/\1/p' tests/test_*.c)
check-run: $(B)/check_rbx $(B)/readme_example $(B)/v1reader
	@set -e; if [ -z "$(CHECK_SKIP)" ]; then \
	  $(if $(CRASH_KILLS),RBX_CRASH_KILLS=$(CRASH_KILLS)) $(B)/check_rbx; \
	else for s in $(filter-out $(CHECK_SKIP),$(ALL_SUITES)); do \
	  $(if $(CRASH_KILLS),RBX_CRASH_KILLS=$(CRASH_KILLS)) CK_RUN_SUITE=$$s $(B)/check_rbx; \
	done; echo "check-run: left out $(CHECK_SKIP) (make check-full runs them)"; fi
	$(B)/readme_example
	$(B)/v1reader

# make check runs in two lanes at once, each a list of stages that print
# what they cost (the 15-minute budget of make check): most stages wait on
# fsync, child processes or sleeps rather than on a core, so two lanes use a
# 2-core machine better than one. What both lanes use is built first; lane
# b builds only in its own directories (build-san, the fuzzers' objects).
# Each lane writes its log; both are printed when both are done, then every
# stage's cost, then the end of the log of a lane that failed.
stage = @t0=$$(date +%s); $(MAKE) --no-print-directory $(or $(2),$(1)); rc=$$?; \
	echo "check: [$(1)] $$(( $$(date +%s) - t0 )) s"; exit $$rc
.PHONY: check-lane-a check-lane-b
check: deps
	@$(MAKE) --no-print-directory -j2 all $(B)/check_rbx $(B)/ct_check
	@t0=$$(date +%s); rm -f $(B)/check-lane-*; \
	for l in a b; do \
	  ( $(MAKE) --no-print-directory check-lane-$$l > $(B)/check-lane-$$l.log 2>&1; \
	    echo $$? > $(B)/check-lane-$$l.rc ) & \
	done; wait; \
	cat $(B)/check-lane-a.log $(B)/check-lane-b.log; \
	grep -h '^check: \[' $(B)/check-lane-a.log $(B)/check-lane-b.log; \
	rc=0; for l in a b; do \
	  if [ "$$(cat $(B)/check-lane-$$l.rc)" != 0 ]; then rc=1; \
	    echo "check: lane $$l FAILED; the end of $(B)/check-lane-$$l.log:"; \
	    tail -n 60 $(B)/check-lane-$$l.log; fi; \
	done; \
	echo "check: $$( [ $$rc = 0 ] && echo passed || echo FAILED ) in $$(( $$(date +%s) - t0 )) s"; \
	exit $$rc
check-lane-a:
	$(call stage,check-docs)
	$(call stage,check-run)
	$(call stage,check-cli)
	$(call stage,check-faketime)
	$(call stage,check-node)
	$(call stage,check-server)
	$(call stage,check-reference)
	$(call stage,bench-quick bench-server-quick)
	$(call stage,symbols layering install-test)
	$(call stage,mutation-check)
	$(call stage,fuzz-check)
# The sanitizer pass: the unit suite (the kill harness at 60 kills), the
# rbxd suite, and the CLI suites whose code the unit suites do not reach
# (the command line itself, JSON, users with several devices, lifecycle
# verbs, the fault sweep at every 10th call); the rest of the CLI suites run
# plain and 13 years ahead here, and all of them under the sanitizers in
# make check-full (check-san-full). A make check on a loaded 2-core VM took
# 25 minutes in this lane with every CLI suite and every 5th fault call.
SAN_PASS := B=build-san OPT=-O1 CFLAGS="-O1 -g $(SAN)" LDFLAGS="$(SAN)" DISKFULL=0
SAN_CLI := test_cli test_transport test_json test_multidev test_lifecycle
check-lane-b:
	$(call stage,sanitizers check-run check-cli check-server,$(SAN_PASS) FAULT_STRIDE=10 CRASH_KILLS=60 CHECK_SKIP=badinput CLI_RUN="$(SAN_CLI)" check-run check-cli check-server)
	$(call stage,ct-check valgrind-check)
.PHONY: check-san-full
check-san-full:
	$(MAKE) --no-print-directory $(SAN_PASS) FAULT_STRIDE=5 check-run check-cli check-server

# Install into a staging directory and build the README example against the
# installed header and ratchetbox.pc twice, and run both: with the shared
# library, and fully static (-static) from libratchetbox.a and what
# pkg-config --static names. --whole-archive links every object of the
# archive, not only those the example calls (it opens no store), so the
# static link fails if ratchetbox.pc leaves out any library the archive needs.
# (The linker warns that SQLite's dlopen needs glibc's shared libraries at
# run time: SQLite loads no extensions here.) The sysroot is given relative:
# pkg-config's output is split on spaces, and the checkout's path may hold one.
STAGE_PC := PKG_CONFIG_SYSROOT_DIR=$(B)/stage PKG_CONFIG_PATH=$(B)/stage/usr/lib/pkgconfig
install-test: $(B)/readme_example
	rm -rf $(B)/stage
	$(MAKE) --no-print-directory install DESTDIR='$(CURDIR)/$(B)/stage' PREFIX=/usr
	$(STAGE_PC) sh -c '$(CC) -std=c11 $(WARN) -o $(B)/stage/example $(B)/readme_example.c \
	    $$($(PKG_CONFIG) --cflags --libs ratchetbox)'
	LD_LIBRARY_PATH='$(CURDIR)/$(B)/stage/usr/lib' $(B)/stage/example
	$(STAGE_PC) sh -c '$(CC) -std=c11 $(WARN) -static -o $(B)/stage/example-static $(B)/readme_example.c \
	    $$($(PKG_CONFIG) --cflags ratchetbox) -Wl,--whole-archive -lratchetbox -Wl,--no-whole-archive \
	    $$($(PKG_CONFIG) --static --libs ratchetbox)'
	$(B)/stage/example-static
	@if readelf -d $(B)/stage/example-static | grep NEEDED; then \
	    echo "install-test: the static example needs the shared libraries above"; exit 1; fi
	readelf -d $(B)/stage/usr/lib/$(SONAME) | grep -q 'SONAME.*\[$(SONAME)\]'

# The repository stands alone (no file cites notes or paths outside it) and
# the manual page renders cleanly (tests/docs/check_docs.sh).
DEB_PKGS  += groff-base mandoc
.PHONY: check-docs
check-docs:
	bash tests/docs/check_docs.sh

# Exported ABI must equal the checked-in list (libsodium test/symbols).
symbols: $(SHARED)
	nm -D --defined-only $(SHARED) | awk '$$2 == "T" { print $$3 }' | sort > $(B)/symbols.txt
	diff -u tests/symbols.txt $(B)/symbols.txt

# The store's floors call only downward (tests/layering.sh, on the objects).
STORE_OBJ := $(patsubst src/%.c,$(B)/obj/%.o,$(wildcard src/store/*.c))
layering: $(STORE_OBJ)
	sh tests/layering.sh $(B)/obj/store

# make mutation-check: tests/test_integrity.c has one tcase per protection
# of the store (the RBX_MUTATE_<NAME> flags of src/store/integrity.h). For
# each, the store's floors are compiled with that flag, which compiles the
# one protection out, and linked with the normal test objects; every test of
# the protection's tcase must then fail. Compile-time flags only: a normal
# build contains no switch. About 40 s here on a quiet machine (2.5 min
# while other builds ran), in make check.
MUTATIONS := SETS:sets ROW_TAGS:row_tags SCHEMA:schema GENERATION:generation \
             STORE_ID:store_id META_BINDING:meta_binding HANDSHAKES:handshakes \
             PREFILTER:prefilter AUTH_KEY:auth_key
STORE_SRC := $(wildcard src/store/*.c)
NONSTORE_OBJ := $(filter-out $(B)/obj/store/%,$(LIB_OBJ))
.PHONY: mutation-check
mutation-check: $(B)/check_rbx
	@t0=$$(date +%s); failed=""; \
	for m in $(MUTATIONS); do \
	  name=$${m%%:*}; tcase=$${m#*:}; dir=$(B)/mut/$$name; mkdir -p $$dir; \
	  for f in $(STORE_SRC); do \
	    $(CC) $(ALLCFLAGS) -DRBX_MUTATE_$$name -c -o $$dir/$$(basename $$f .c).o $$f || exit 1; \
	  done; \
	  $(CC) $(ALLCFLAGS) $(LDFLAGS) -o $$dir/check_rbx $(TEST_OBJ) $(NONSTORE_OBJ) $$dir/*.o \
	      $(LIBS) $(CHECK_LIBS) || exit 1; \
	  line=$$(CK_RUN_SUITE=integrity CK_RUN_CASE=$$tcase $$dir/check_rbx 2>/dev/null | grep -E '^[0-9]+%: Checks:'); \
	  c=$$(echo "$$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p'); \
	  f=$$(echo "$$line" | sed -n 's/.*Failures: \([0-9]*\).*/\1/p'); \
	  e=$$(echo "$$line" | sed -n 's/.*Errors: \([0-9]*\).*/\1/p'); \
	  if [ -n "$$c" ] && [ "$$c" -gt 0 ] && [ $$((f + e)) -eq "$$c" ]; then \
	    echo "mutation-check: RBX_MUTATE_$$name: all $$c tests of integrity/$$tcase fail"; \
	  else \
	    echo "mutation-check: RBX_MUTATE_$$name: integrity/$$tcase: $$line (every test must fail)"; \
	    failed="$$failed $$name"; \
	  fi; \
	done; \
	echo "mutation-check: $$(( $$(date +%s) - t0 )) s"; \
	if [ -n "$$failed" ]; then echo "mutation-check: protections whose tests pass without them:$$failed"; exit 1; fi

# The fault sweeps' helpers (tests/faults/): faultshim.so, loaded with
# LD_PRELOAD into rbx, fails or kills at the N-th write or sync of the state
# directory, or cuts the power there; faultcheck checks what a run left.
FAULT_TOOLS := $(B)/tools/faultshim.so $(B)/tools/faultcheck
$(B)/tools/faultshim.so: tests/faults/faultshim.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -fvisibility=hidden,$(BASECFLAGS)) -O1 -g -shared -o $@ $< -ldl
$(B)/tools/faultcheck: tests/faults/faultcheck.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# The kill harness of tests/test_durability.c at length (make check runs 200
# kills), then the rbx fault sweeps in every mode: EIO, ENOSPC, SIGKILL, EIO
# from a call on, and power cuts that drop what was not synced (directory
# changes durable at any sync, then only at the directory's own sync).
crashtest: $(B)/check_rbx $(B)/rbx $(FAULT_TOOLS)
	RBX_CRASH_KILLS=5000 CK_RUN_SUITE=durability CK_RUN_CASE=crash CK_DEFAULT_TIMEOUT=3600 $(B)/check_rbx
	RBX=$(B)/rbx TOOLS=$(B)/tools FAULT_FULL=1 bash tests/cli/test_faults.sh

# make demo's helpers (tests/cli/, outside the Check runner): boxtool makes
# the product's key files and today's envelopes; thief attacks a copied state;
# badserver makes a running rbxd lie (edits its SQLite file); rawsql changes
# a closed store behind its back (check-cli).
DEMO_TOOLS := $(B)/tools/boxtool $(B)/tools/thief $(B)/tools/badserver $(B)/tools/rawsql
$(B)/tools/%: tests/cli/%.c $(STATIC) $(INT_H)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# The rbx command-line suite (every verb and exit code, the demo in quick mode, rbx sim,
# the README's shell walkthroughs); then the state directory's edges, a real
# full disk (as root), and the fault sweeps over every write and sync call
# number (tests/cli/test_faults.sh; in the sanitizer pass of make check one
# call number in FAULT_STRIDE=5, and no full disk, whose error paths the
# sweep's ENOSPC runs cover there; every call in the plain pass; make
# crashtest runs every fault mode, power cuts included). These three set
# LD_PRELOAD or mount a file system themselves, and do not depend on the
# date: check-faketime leaves them out.
FAULT_STRIDE ?= 1
DISKFULL ?= 1
.PHONY: check-cli check-faketime install-man uninstall-man
CLI_SUITES := test_cli test_rotation test_policy_audit test_archive test_transport test_lifecycle \
              test_keysource test_json test_multidev test_readme
# test_json validates every verb's --json against spec/json/ with Debian's
# validator (tests/json/validate.py, run by /usr/bin/python3).
DEB_PKGS  += python3-jsonschema
# CLI_RUN: the suites check-cli runs (all of them unless given).
CLI_RUN ?= $(CLI_SUITES)
check-cli: $(B)/rbx $(B)/rbxd $(DEMO_TOOLS) $(FAULT_TOOLS)
	@set -e; for s in $(CLI_RUN); do \
	  echo "check-cli: tests/cli/$$s.sh"; RBX=$(B)/rbx RBXD=$(B)/rbxd TOOLS=$(B)/tools bash tests/cli/$$s.sh; \
	done
	RBX=$(B)/rbx TOOLS=$(B)/tools CLI_TEST_DIR=$(B)/statefiles-test bash tests/cli/test_statefiles.sh
	@if [ "$(DISKFULL)" != 0 ]; then \
	  RBX=$(B)/rbx TOOLS=$(B)/tools CLI_TEST_DIR=$(B)/diskfull-test bash tests/cli/test_diskfull.sh; \
	else echo "check-cli: tests/cli/test_diskfull.sh runs in the plain pass only"; fi
	RBX=$(B)/rbx TOOLS=$(B)/tools FAULT_STRIDE=$(FAULT_STRIDE) bash tests/cli/test_faults.sh

# The unit suite and the CLI suites once more (the binaries already built),
# with the wall clock 13 years ahead (issue 11): no test may depend on the
# date it runs, and past 2038-01-19 a time cut to 32 bits shows. The unit
# suite takes libfaketime straight from LD_PRELOAD, not the faketime
# wrapper, whose shared memory a SIGKILLed child of the kill harnesses could
# leave locked; for the same reason NO_FAKE_STAT (its stat lock is shared
# with forked children: a child killed holding it hangs the parent). The
# CLI suites run under the wrapper: without it the first preloaded process
# (bash) creates libfaketime's shared semaphore itself, and any subshell it
# forks removes it again when it exits (libfaketime 0.9.10), so that every
# later command fails with "sem_open failed"; the wrapper owns it for the
# whole suite (the CLI suites kill no process mid-call). A relative offset keeps one
# clock across processes; the monotonic clock is left alone (Check's
# timeouts, the store's erase interval); FAKETIME_NO_CACHE lets the atrest
# suite move the wall clock within a test. The first line checks that the
# preload took: ld.so only warns about a missing library.
DEB_PKGS  += faketime
FAKETIME_OPTS := FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_NO_CACHE=1 NO_FAKE_STAT=1
FAKETIME_ENV := LD_PRELOAD='/usr/$$LIB/faketime/libfaketime.so.1' FAKETIME=+13y $(FAKETIME_OPTS)
FAKETIME_WRAP := env $(FAKETIME_OPTS) faketime -f +13y
# test_multidev.sh (3 users x 3 devices over rbxd) takes 30 to 40 s under
# libfaketime against 16 s plain: it runs 13 years ahead in check-full only
# (check-faketime-full); the unit suite's multidev cases run here.
FAKETIME_FULL_ONLY := test_multidev
.PHONY: check-faketime-full
check-faketime-full: $(B)/rbx $(B)/rbxd $(DEMO_TOOLS)
	@set -e; for s in $(FAKETIME_FULL_ONLY); do \
	  echo "check-faketime-full: tests/cli/$$s.sh"; RBX=$(B)/rbx RBXD=$(B)/rbxd TOOLS=$(B)/tools $(FAKETIME_WRAP) bash tests/cli/$$s.sh; \
	done
check-faketime: $(B)/check_rbx $(B)/rbx $(B)/rbxd $(DEMO_TOOLS)
	@t=$$(env $(FAKETIME_ENV) date +%s 2>&1); \
	if ! [ "$$t" -gt 2147483647 ] 2>/dev/null; then \
	  echo "check-faketime: libfaketime did not move the clock past 2038 ($$t); apt-get install faketime"; exit 1; fi; \
	echo "check-faketime: the wall clock at $$(env $(FAKETIME_ENV) date -u '+%Y-%m-%d %H:%M:%S UTC')"
	@set -e; t0=$$(date +%s); \
	env $(FAKETIME_ENV) $(B)/check_rbx; \
	for s in $(filter-out $(FAKETIME_FULL_ONLY),$(CLI_SUITES)); do \
	  echo "check-faketime: tests/cli/$$s.sh"; RBX=$(B)/rbx RBXD=$(B)/rbxd TOOLS=$(B)/tools $(FAKETIME_WRAP) bash tests/cli/$$s.sh; \
	done; \
	echo "check-faketime: passed in $$(( $$(date +%s) - t0 )) s"

# The independent implementation of spec/reference (Python 3, standard library
# only): re-derives every file of spec/vectors and exchanges live transport
# lines with rbx (spec/reference/README.md). -B: no bytecode in the tree.
DEB_PKGS  += python3
.PHONY: check-reference
check-reference: $(B)/rbx
	python3 -B spec/reference/run.py --vectors spec/vectors \
	    --external tests/vectors/xeddsa.txt --rbx $(B)/rbx

# Regenerate spec/vectors from seeded transcripts (the tests re-derive them).
vectors: $(B)/check_rbx
	RBX_WRITE_VECTORS=1 CK_RUN_CASE=vectors $(B)/check_rbx

demo: deps
	$(MAKE) --no-print-directory $(B)/rbx $(B)/rbxd $(DEMO_TOOLS)
	RBX=$(B)/rbx RBXD=$(B)/rbxd TOOLS=$(B)/tools bash src/cli/demo.sh

# The benchmark suite's rules (bench, bench-quick and the peer programs).
include bench/bench.mk

# The Node.js binding (check-node, bench-node).
include bindings/node/node.mk

# ------------------------------------------------------------------ install
install: $(STATIC) $(SHARED) $(B)/rbx
	install -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(INCDIR)" "$(DESTDIR)$(LIBDIR)/pkgconfig" "$(DESTDIR)$(BINDIR)"
	install -m 0755 $(B)/rbx "$(DESTDIR)$(BINDIR)/rbx"
	install -m 0644 include/ratchetbox.h "$(DESTDIR)$(INCDIR)/ratchetbox.h"
	install -m 0644 $(STATIC) "$(DESTDIR)$(LIBDIR)/libratchetbox.a"
	install -m 0755 $(SHARED) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(LIBDIR)/libratchetbox.so"
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|; s|@VERSION@|$(VERSION)|' \
	    src/ratchetbox.pc.in > "$(DESTDIR)$(LIBDIR)/pkgconfig/ratchetbox.pc"

MANDIR    ?= $(PREFIX)/share/man
install: install-man
install-man:
	install -d "$(DESTDIR)$(MANDIR)/man1"
	install -m 0644 src/cli/rbx.1 "$(DESTDIR)$(MANDIR)/man1/rbx.1"
uninstall: uninstall-man
uninstall-man:
	rm -f "$(DESTDIR)$(MANDIR)/man1/rbx.1"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/rbx"
	rm -f "$(DESTDIR)$(INCDIR)/ratchetbox.h" "$(DESTDIR)$(LIBDIR)/libratchetbox.a" \
	      "$(DESTDIR)$(LIBDIR)/$(SONAME)" "$(DESTDIR)$(LIBDIR)/libratchetbox.so" \
	      "$(DESTDIR)$(LIBDIR)/pkgconfig/ratchetbox.pc"

clean:
	rm -rf build build-san bindings/node/build bindings/node/deps

# ------------------------------------------------------------------ fuzz
# libFuzzer targets, one per parser of outside bytes (tests/fuzz/README.md).
# The library sources are compiled into every target with the fuzzer and
# sanitizer flags, in their own object directory.
DEB_PKGS  += clang libclang-rt-14-dev
FUZZ_CC   ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 10
FUZZ_TARGETS := fuzz_bundle fuzz_prekey_message fuzz_message fuzz_session_blob \
             fuzz_key_import fuzz_baseline fuzz_stateful fuzz_rotation fuzz_devlist \
             fuzz_multidev
FUZZ_SAN  := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := $(filter-out -fPIC,$(BASECFLAGS)) -g -O1 $(FUZZ_SAN)
FUZZ_OBJ  := $(LIB_SRC:src/%.c=$(B)/fuzzobj/%.o) $(B)/fuzzobj/ratchetbox.pb-c.o \
             $(B)/fuzzobj/fuzz_common.o $(B)/fuzzobj/cli/detrng.o
FUZZ_BIN  := $(FUZZ_TARGETS:%=$(B)/fuzz/%)
.SECONDARY: $(FUZZ_TARGETS:%=$(B)/fuzzobj/%.o) $(FUZZ_OBJ)
.PHONY: fuzz fuzz-check fuzz-build fuzz-corpus

$(B)/fuzzobj/%.o: src/%.c include/ratchetbox.h $(INT_H) $(B)/proto/ratchetbox.pb-c.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzzobj/ratchetbox.pb-c.o: $(PROTO_C)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzzobj/fuzz_%.o: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h include/ratchetbox.h $(INT_H) $(B)/proto/ratchetbox.pb-c.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DRBX_SRCDIR='"$(CURDIR)"' -c -o $@ $<

$(B)/fuzz/%: $(B)/fuzzobj/%.o $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BIN)

# $(call fuzz_run,seconds): each target from its seed corpus (and its kept
# regressions) for that long; new inputs go to $(B)/fuzz/corpus/<t>, crashes
# to $(B)/fuzz/<t>-crash-*. Prints "<t>: N execs" per target.
define fuzz_run
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(B)/fuzz/corpus/$$t; \
	  dirs="$(B)/fuzz/corpus/$$t tests/fuzz/corpus/$$t"; \
	  if [ -d tests/fuzz/regressions/$$t ]; then dirs="$$dirs tests/fuzz/regressions/$$t"; fi; \
	  if ! $(B)/fuzz/$$t -max_total_time=$(1) -print_final_stats=1 \
	      -artifact_prefix=$(B)/fuzz/$$t- $$dirs > $(B)/fuzz/$$t.log 2>&1; then \
	    tail -n 40 $(B)/fuzz/$$t.log; echo "fuzz: $$t FAILED, log in $(B)/fuzz/$$t.log"; \
	    failed="$$failed $$t"; continue; \
	  fi; \
	  echo "$$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/$$t.log) execs in $(1) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi
endef

fuzz: deps
	$(MAKE) --no-print-directory fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

fuzz-check: fuzz-build
	$(call fuzz_run,$(FUZZ_CHECK_SECONDS))

# Rewrite the committed seed corpora (each target writes its own seeds when
# RBX_FUZZ_GEN names a directory; see tests/fuzz/README.md).
fuzz-corpus: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf tests/fuzz/corpus/$$t; mkdir -p tests/fuzz/corpus/$$t; \
	  RBX_FUZZ_GEN=tests/fuzz/corpus/$$t $(B)/fuzz/$$t; \
	  echo "$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) seeds"; \
	done

# ------------------------------------------------------------------ constant time, valgrind
# make ct-check: tests/ct/ct_check.c (Monocypher ctgrind style) under memcheck;
# tests/ct/README.md says what is checked and every report that remains.
# make valgrind-check: the Check suites under memcheck, one process per suite
# (CK_FORK=no), no definite leaks and no invalid access. make check runs both;
# make check-full is make check plus every test forked as in a plain run,
# and the CLI suites check-faketime leaves to it (FAKETIME_FULL_ONLY).
DEB_PKGS  += valgrind
VG_MEMCHECK := valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1
# Every suite_create() name in tests/, so that a new suite is covered too.
# Durability's kill harness ("crash") is left out: under valgrind a child is
# too slow to commit anything before its seeded SIGKILL, so the harness
# asserts on an empty run; its other two cases run. Integrity runs case by
# case (VG_INTEGRITY_CASES) in valgrind-check, whole in check-full.
VG_ALL_SUITES := $(filter-out durability integrity,$(shell sed -n 's/.*suite_create("\([A-Za-z0-9_]*\)").*/\1/p' tests/test_*.c))
# make check's valgrind pass takes the suites that are quick under memcheck
# (measured on this VM while other builds ran: these about 75 s in all);
# the slow ones run in check-full only, as does badinput (345 cases, Check's
# fork mode, ~3 min): ratchet (its long conversations, 130 s), archive,
# devlist, store, rotate (30 to 50 s each), durability's two cases, most of
# integrity's and multidev's "store" case (eight worlds of five stores with
# their enrollments, about 50 s); multidev's other cases run here
# (VG_MULTIDEV_CASES). They all run under ASan+UBSan in make check.
VG_SUITES := baseline kdf keys rotation security vectors wire x3dh storefiles atrest audit policy \
             lifecycle
VG_SLOW_SUITES := $(filter-out $(VG_SUITES),$(VG_ALL_SUITES))
VG_MULTIDEV_CASES := formats vectors
VG_DURABILITY_CASES := concurrency open_race
# Integrity's killed migration ("migration") runs 9 opens of a 60,000-row
# store, about 100 s under valgrind: check-full runs the whole suite.
VG_INTEGRITY_CASES := sets row_tags record
.PHONY: ct-check valgrind-check check-full

$(B)/ct_check: tests/ct/ct_check.c $(STATIC) $(INT_H)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

ct-check:
	@if command -v valgrind >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(B)/ct_check && sh tests/ct/run.sh $(B)/ct_check; \
	else echo "valgrind not installed: constant-time check skipped"; fi

valgrind-check: $(B)/check_rbx
	@if ! command -v valgrind >/dev/null 2>&1; then \
	  echo "valgrind not installed: valgrind pass skipped"; exit 0; fi; \
	set -e; t0=$$(date +%s); \
	for s in $(VG_SUITES); do \
	  echo "valgrind-check: suite $$s"; \
	  CK_FORK=no CK_RUN_SUITE=$$s $(VG_MEMCHECK) $(B)/check_rbx; \
	done; \
	for c in $(VG_INTEGRITY_CASES); do \
	  echo "valgrind-check: suite integrity, case $$c"; \
	  CK_FORK=no CK_RUN_SUITE=integrity CK_RUN_CASE=$$c $(VG_MEMCHECK) $(B)/check_rbx; \
	done; \
	for c in $(VG_MULTIDEV_CASES); do \
	  echo "valgrind-check: suite multidev, case $$c"; \
	  CK_FORK=no CK_RUN_SUITE=multidev CK_RUN_CASE=$$c $(VG_MEMCHECK) $(B)/check_rbx; \
	done; \
	echo "valgrind-check: passed in $$(( $$(date +%s) - t0 )) s"

# make check, then every suite (badinput included) under memcheck in Check's default fork mode
# (each test in its own forked process, as in a plain run; valgrind follows
# the fork), Check timeouts stretched for valgrind, durability's crash case
# again left out (see VG_SUITES).
check-full: check
	$(MAKE) --no-print-directory check-faketime-full
	$(MAKE) --no-print-directory check-san-full
	@if ! command -v valgrind >/dev/null 2>&1; then \
	  echo "valgrind not installed: full valgrind pass skipped"; exit 0; fi; \
	set -e; t0=$$(date +%s); \
	for s in $(VG_ALL_SUITES); do \
	  echo "check-full: suite $$s (fork mode)"; \
	  CK_TIMEOUT_MULTIPLIER=20 CK_RUN_SUITE=$$s $(VG_MEMCHECK) $(B)/check_rbx; \
	done; \
	for c in $(VG_DURABILITY_CASES); do \
	  echo "check-full: suite durability, case $$c (fork mode)"; \
	  CK_TIMEOUT_MULTIPLIER=20 CK_RUN_SUITE=durability CK_RUN_CASE=$$c $(VG_MEMCHECK) $(B)/check_rbx; \
	done; \
	echo "check-full: suite integrity (fork mode)"; \
	CK_TIMEOUT_MULTIPLIER=20 CK_RUN_SUITE=integrity $(VG_MEMCHECK) $(B)/check_rbx; \
	echo "check-full: valgrind fork-mode pass in $$(( $$(date +%s) - t0 )) s"

# ------------------------------------------------------------------ rbxd
# The server: build/rbxd, check-server, bench-server and its fuzz target
# (last, so that it can extend FUZZ_TARGETS).
include server/server.mk
