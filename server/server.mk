# rbxd, the prekey directory and mailbox server (spec/SERVER.md), included by
# the top-level Makefile. It links libratchetbox statically for verification
# (bundles, device lists, request signatures) and nothing of libsignal or
# libolm; the library itself still does no network I/O.
# SPDX-License-Identifier: MIT
#
# build/rbxd              the server
# make check-server       its suite against SQLite and a throwaway PostgreSQL 15
# make bench-server       deliveries per second against the SQL floor (bench/server.c)

DEB_PKGS    += libmicrohttpd-dev libpq-dev postgresql-15 libcurl4-openssl-dev libjansson-dev
SERVER_PC   := libmicrohttpd jansson libpq
SERVER_CFLAGS := -Iserver -I$(B)/server $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags $(SERVER_PC) 2>/dev/null))
SERVER_LIBS := $(shell $(PKG_CONFIG) --libs $(SERVER_PC) 2>/dev/null || echo -lmicrohttpd -ljansson -lpq) -lpthread
# Everything but main.c: the tests, the fuzzers and the bench link these.
SERVER_CORE := api api_parse auth config server commitq notify metrics db db_sqlite db_pg
SERVER_HDR  := $(wildcard server/*.h)
SERVER_OBJ  := $(SERVER_CORE:%=$(B)/server/%.o) $(B)/server/sql_sqlite.o $(B)/server/sql_pg.o
RBXD        := $(B)/rbxd

all: $(RBXD)

# The schemas are compiled in: rbxd needs no file beside itself.
$(B)/server/sql_%.c: server/sql/%.sql
	@mkdir -p $(@D)
	{ printf '/* Generated from $< by server/server.mk. */\nconst char rbxd_sql_$*[] = {\n'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; printf '0};\n'; } > $@.tmp
	mv $@.tmp $@

$(B)/server/sql_%.o: $(B)/server/sql_%.c
	$(CC) $(ALLCFLAGS) -Wno-missing-variable-declarations -c -o $@ $<

$(B)/server/%.o: server/%.c $(SERVER_HDR) include/ratchetbox.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) $(SERVER_CFLAGS) -c -o $@ $<

$(RBXD): $(B)/server/main.o $(B)/server/http.o $(SERVER_OBJ) $(STATIC)
	$(CC) $(ALLCFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(SERVER_LIBS)

# The server suite: a Check program that starts rbxd processes and talks
# to them over loopback with libcurl (tests/server/rbxc.c signs requests
# with the library). tests/server/run.sh runs it on SQLite, then on a
# throwaway PostgreSQL 15 it starts and stops itself.
RBXC_PC     := libcurl jansson libpq
RBXC_CFLAGS := -Itests/server $(patsubst -I%,-isystem %,$(shell $(PKG_CONFIG) --cflags $(RBXC_PC) 2>/dev/null))
RBXC_LIBS   := $(shell $(PKG_CONFIG) --libs $(RBXC_PC) 2>/dev/null || echo -lcurl -ljansson -lpq) -lpthread
.PHONY: check-server

$(B)/check_rbxd: tests/server/test_rbxd.c tests/server/rbxc.c tests/server/rbxc.h $(SERVER_OBJ) $(STATIC)
	$(CC) $(ALLCFLAGS) $(SERVER_CFLAGS) $(RBXC_CFLAGS) -DRBX_SRCDIR='"$(CURDIR)"' $(LDFLAGS) -o $@ \
	    tests/server/test_rbxd.c tests/server/rbxc.c $(SERVER_OBJ) $(STATIC) $(LIBS) $(SERVER_LIBS) \
	    $(RBXC_LIBS) $(CHECK_LIBS)

check-server: $(RBXD) $(B)/check_rbxd
	RBXD=$(RBXD) bash tests/server/run.sh $(B)

# The server benchmark (bench/server.c; bench/server.sh runs it on SQLite
# and on a throwaway PostgreSQL and writes bench/results/server.*).
.PHONY: bench-server bench-server-quick
$(B)/bench-server: bench/server.c bench/common.c bench/common.h tests/server/rbxc.c tests/server/rbxc.h \
                   $(SERVER_OBJ) $(STATIC)
	$(CC) $(ALLCFLAGS) $(SERVER_CFLAGS) $(RBXC_CFLAGS) -Ibench -DRBX_SRCDIR='"$(CURDIR)"' $(LDFLAGS) -o $@ \
	    bench/server.c bench/common.c tests/server/rbxc.c $(SERVER_OBJ) $(STATIC) $(LIBS) $(SERVER_LIBS) $(RBXC_LIBS)

bench-server: deps
	$(MAKE) --no-print-directory $(RBXD) $(B)/bench-server
	RBXD=$(RBXD) bash bench/server.sh $(B) $(BENCH_RESULTS)

bench-server-quick: $(RBXD) $(B)/bench-server
	RBXD=$(RBXD) bash bench/server.sh $(B) $(B)/bench-server-quick --quick

# libFuzzer target of the request parsers (tests/fuzz/fuzz_rbxd_request.c):
# the server's parser sources compiled with the fuzzer flags beside the
# library's (the Makefile's FUZZ_OBJ), linked with jansson.
FUZZ_TARGETS += fuzz_rbxd_request
FUZZ_BIN     += $(B)/fuzz/fuzz_rbxd_request
# The Makefile read fuzz-build's prerequisites before this file extended
# FUZZ_BIN (a rule's prerequisites expand when it is read): name it here.
fuzz-build: $(B)/fuzz/fuzz_rbxd_request
FUZZ_SERVER_OBJ := $(B)/fuzzobj/server/api_parse.o $(B)/fuzzobj/server/auth.o $(B)/fuzzobj/server/config.o
.SECONDARY: $(FUZZ_SERVER_OBJ) $(B)/fuzzobj/fuzz_rbxd_request.o

$(B)/fuzzobj/server/%.o: server/%.c $(SERVER_HDR) include/ratchetbox.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(SERVER_CFLAGS) -c -o $@ $<

$(B)/fuzzobj/fuzz_rbxd_request.o: tests/fuzz/fuzz_rbxd_request.c tests/fuzz/fuzz.h $(SERVER_HDR) include/ratchetbox.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(SERVER_CFLAGS) -DRBX_SRCDIR='"$(CURDIR)"' -c -o $@ $<

$(B)/fuzz/fuzz_rbxd_request: $(B)/fuzzobj/fuzz_rbxd_request.o $(FUZZ_OBJ) $(FUZZ_SERVER_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(SERVER_LIBS)

# make install also installs rbxd (the unit and the sample configuration
# stay in server/ for the administrator: spec/SERVER.md section 11.4).
.PHONY: install-rbxd uninstall-rbxd
install: install-rbxd
install-rbxd: $(RBXD)
	install -d "$(DESTDIR)$(BINDIR)"
	install -m 0755 $(RBXD) "$(DESTDIR)$(BINDIR)/rbxd"
uninstall: uninstall-rbxd
uninstall-rbxd:
	rm -f "$(DESTDIR)$(BINDIR)/rbxd"
