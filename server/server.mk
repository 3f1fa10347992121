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
