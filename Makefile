# ratchetbox: one plain Makefile (STYLE.md). Targets: all, deps, check, demo,
# bench, install, uninstall, clean.
# SPDX-License-Identifier: MIT

VERSION   := 0.1.0
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
             libsignal-protocol-c-dev libolm-dev libssl-dev gnuplot-nox
PC_PKGS   := libsodium sqlite3 check libprotobuf-c

WARN      := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual \
             -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wundef \
             -Wwrite-strings -Wnull-dereference -Wimplicit-fallthrough
OPT       ?= -O2
BASECFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC -fvisibility=hidden \
             $(WARN) -Iinclude -Isrc -Isrc/compat -Ibuild/proto \
             $(shell $(PKG_CONFIG) --cflags libsodium libprotobuf-c sqlite3 2>/dev/null)
CFLAGS    ?= $(OPT) -g
ALLCFLAGS := $(BASECFLAGS) $(CFLAGS)
LIBS      := $(shell $(PKG_CONFIG) --libs libsodium libprotobuf-c sqlite3 2>/dev/null) -lxeddsa
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

B         ?= build
SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC   := $(wildcard src/*.c)
PROTO     := proto/ratchetbox.proto
PROTO_C   := $(B)/proto/ratchetbox.pb-c.c
LIB_OBJ   := $(LIB_SRC:src/%.c=$(B)/obj/%.o) $(B)/obj/ratchetbox.pb-c.o
# The rbx tool.
CLI_SRC   := $(wildcard src/cli/*.c)
TEST_SRC  := $(wildcard tests/*.c)
TEST_OBJ  := $(TEST_SRC:tests/%.c=$(B)/tobj/%.o)

STATIC    := $(B)/libratchetbox.a
SONAME    := libratchetbox.so.$(SOMAJOR)
SHARED    := $(B)/$(SONAME)

.PHONY: all deps check check-run symbols install-test demo bench \
        install uninstall clean vectors crashtest

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

$(B)/obj/%.o: src/%.c include/ratchetbox.h $(wildcard src/*.h) $(B)/proto/ratchetbox.pb-c.h
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
$(B)/tobj/%.o: tests/%.c include/ratchetbox.h $(wildcard tests/*.h) $(wildcard src/*.h) $(B)/proto/ratchetbox.pb-c.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -DRBX_SRCDIR='"$(CURDIR)"' -c -o $@ $<

$(B)/check_rbx: $(TEST_OBJ) $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(STATIC) $(LIBS) $(CHECK_LIBS)

$(B)/rbx: $(CLI_SRC) $(wildcard src/cli/*.h) include/ratchetbox.h $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $(CLI_SRC) $(STATIC) $(LIBS)

$(B)/bench: bench/bench.c $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# The README's C example, extracted between its markers and run as a test.
$(B)/readme_example: README.md $(STATIC)
	@mkdir -p $(B)
	sed -n '/<!-- example-begin -->/,/<!-- example-end -->/p' README.md | sed '1,2d;$$d' | sed '$$d' > $(B)/readme_example.c
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $(B)/readme_example.c $(STATIC) $(LIBS)

check-run: $(B)/check_rbx $(B)/readme_example
	$(B)/check_rbx
	$(B)/readme_example

check: deps
	$(MAKE) --no-print-directory check-run
	$(MAKE) --no-print-directory check-cli
	$(MAKE) --no-print-directory B=build-san OPT=-O1 CFLAGS="-O1 -g $(SAN)" \
	    LDFLAGS="$(SAN)" check-run check-cli
	$(MAKE) --no-print-directory symbols install-test

# Install into a staging directory and build the README example against the
# installed header, shared library and ratchetbox.pc.
install-test: $(B)/readme_example
	rm -rf $(B)/stage
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(B)/stage PREFIX=/usr
	PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/$(B)/stage PKG_CONFIG_PATH=$(CURDIR)/$(B)/stage/usr/lib/pkgconfig \
	    sh -c '$(CC) -std=c11 $(WARN) -o $(B)/stage/example $(B)/readme_example.c \
	    $$($(PKG_CONFIG) --cflags --libs ratchetbox)'
	LD_LIBRARY_PATH=$(CURDIR)/$(B)/stage/usr/lib $(B)/stage/example
	readelf -d $(B)/stage/usr/lib/$(SONAME) | grep -q 'SONAME.*\[$(SONAME)\]'

# Exported ABI must equal the checked-in list (libsodium test/symbols).
symbols: $(SHARED)
	nm -D --defined-only $(SHARED) | awk '$$2 == "T" { print $$3 }' | sort > $(B)/symbols.txt
	diff -u tests/symbols.txt $(B)/symbols.txt

# The kill harness of tests/test_durability.c at length (make check runs 200 kills).
crashtest: $(B)/check_rbx
	RBX_CRASH_KILLS=5000 CK_RUN_SUITE=durability CK_RUN_CASE=crash CK_DEFAULT_TIMEOUT=3600 $(B)/check_rbx

# make demo's helpers (tests/cli/, outside the Check runner): boxtool makes
# the product's key files and today's envelopes; thief attacks a copied state.
DEMO_TOOLS := $(B)/tools/boxtool $(B)/tools/thief
$(B)/tools/%: tests/cli/%.c $(STATIC) $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# The rbx command-line suite (every verb and exit code, the demo in quick mode, rbx sim).
.PHONY: check-cli install-man uninstall-man
check-cli: $(B)/rbx $(DEMO_TOOLS)
	RBX=$(B)/rbx TOOLS=$(B)/tools bash tests/cli/test_cli.sh

# Regenerate spec/vectors from seeded transcripts (the tests re-derive them).
vectors: $(B)/check_rbx
	RBX_WRITE_VECTORS=1 CK_RUN_CASE=vectors $(B)/check_rbx

demo: deps
	$(MAKE) --no-print-directory $(B)/rbx $(DEMO_TOOLS)
	RBX=$(B)/rbx TOOLS=$(B)/tools bash src/cli/demo.sh

bench: deps
	$(MAKE) --no-print-directory $(B)/bench
	$(B)/bench

# ------------------------------------------------------------------ install
install: $(STATIC) $(SHARED) $(B)/rbx
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 0755 $(B)/rbx $(DESTDIR)$(BINDIR)/rbx
	install -m 0644 include/ratchetbox.h $(DESTDIR)$(INCDIR)/ratchetbox.h
	install -m 0644 $(STATIC) $(DESTDIR)$(LIBDIR)/libratchetbox.a
	install -m 0755 $(SHARED) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libratchetbox.so
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|; s|@VERSION@|$(VERSION)|' \
	    src/ratchetbox.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ratchetbox.pc

MANDIR    ?= $(PREFIX)/share/man
install: install-man
install-man:
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 0644 src/cli/rbx.1 $(DESTDIR)$(MANDIR)/man1/rbx.1
uninstall: uninstall-man
uninstall-man:
	rm -f $(DESTDIR)$(MANDIR)/man1/rbx.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rbx
	rm -f $(DESTDIR)$(INCDIR)/ratchetbox.h $(DESTDIR)$(LIBDIR)/libratchetbox.a \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libratchetbox.so \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/ratchetbox.pc

clean:
	rm -rf build build-san
