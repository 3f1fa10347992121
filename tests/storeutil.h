/* SPDX-License-Identifier: MIT
 * Shared helpers for the suites that drive real stores (store, rotate,
 * archive, policy, audit): a temporary directory per test case, files, peers
 * with their own store, messages between them, and SQL views of a store. */
#ifndef RBX_STOREUTIL_H
#define RBX_STOREUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PATHCAP 512
#define DIRCAP 160 /* paths that get a suffix appended fit in PATHCAP */
#define WIRECAP 4096 /* every message of these suites is short */

extern char g_root[64];
extern char g_dir[96];
/* The clock of every store a test opens, Unix seconds: never the wall clock,
 * so that no outcome depends on the date a test runs (issue 11: the schema 1
 * fixture failed two days after it was written). dir_setup resets it to
 * TEST_T0 before each test (CK_FORK=no runs them in one process); a test
 * moves it. Suites with their own setup start at TEST_T0 as well. */
#define TEST_T0 INT64_C(1800000000) /* 2027-01-15 08:00:00 UTC */
extern int64_t g_now;
/* That clock, for rbx_store_opts.clock (ctx unused); aborts the process
 * when g_now is 0, the value that used to mean "the real time". */
int64_t store_test_clock(void *ctx);
/* rbx_store_opts with that clock, create as given, every other field 0. */
rbx_store_opts store_opts(int create);

typedef struct peer {
    char db[DIRCAP];
    rbx_store *st;
    uint8_t pk[RBX_PUBLICKEYBYTES];
    char fp[RBX_FINGERPRINT_HEXBYTES];
} peer;

typedef struct msg {
    uint8_t wire[WIRECAP];
    size_t len;
    uint64_t id; /* outbox id at the sender */
} msg;

void rm_tree(const char *path);
void root_setup(void);
void root_teardown(void);
void dir_setup(void);
void dir_teardown(void);
/* The fixtures of a test case of these suites: the run's root directory
 * (unchecked, so it goes even when a forked test dies) and, per test, setup
 * (dir_setup, or a suite's own that calls it) and dir_teardown. */
void dir_fixtures(TCase *tc, void (*setup)(void), double timeout_s);
void path_of(char out[PATHCAP], const char *name);
/* <dir>/<name>.db, the database path peer_new uses. */
void db_path(char out[PATHCAP], const char *name);
size_t dir_entries(const char *dir);
int file_exists(const char *path);
uint8_t *slurp(const char *path, size_t *len);
void spit(const char *path, const void *buf, size_t len);
void copy_file(const char *from, const char *to);
void copy_or_remove(const char *from, const char *to);
size_t find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m);
int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m);
void assert_file(const char *path, const uint8_t *want, size_t wantlen);
rbx_store *store_open(const char *db, int create);
void peer_new(peer *p, const char *name);
void peer_close(peer *p);
void peer_reopen(peer *p);
void side_path(char out[PATHCAP], const peer *p, const char *suffix);
size_t fresh_bundle(uint8_t bundle[RBX_BUNDLE_MAXBYTES], peer *b);
void introduce(peer *a, const char *name, uint32_t device, peer *b);
void tx(msg *m, peer *from, const char *to, uint32_t device, const char *text);
int rx_raw(peer *p, rbx_received *info, const char *name, uint32_t device,
                  const uint8_t *wire, size_t len, const char *want);
int rx(peer *p, rbx_received *info, const char *name, uint32_t device, const msg *m,
              const char *want);
void pair_talking(peer *alice, peer *bob);
int tx_fails(peer *from, const char *to, uint32_t device);
int64_t q_int(rbx_store *st, const char *sql);
char *q_text(rbx_store *st, const char *sql);
uint8_t *q_blob(rbx_store *st, const char *sql, size_t *len);
void q_set_blob(rbx_store *st, const char *sql, const uint8_t *b, size_t len);
void q_exec(rbx_store *st, const char *sql);
/* Run SQL on a closed store's database file (created if missing), behind
 * the library's back. */
void sql_on_file(const char *db, const char *sql);
/* The integer a query's first row holds, read from a closed store's file. */
int64_t sql_int_on_file(const char *db, const char *sql);
/* PRAGMA integrity_check of the database file at path is "ok". */
void db_integrity_ok(const char *path);
char *store_dump(rbx_store *st);
void assert_unchanged(rbx_store *st, const char *before);
uint64_t session_gen(peer *p, const char *name, uint32_t device, rbx_session_info *info);

#endif
