/* SPDX-License-Identifier: MIT
 * The audit log (include/ratchetbox.h "audit log", spec/PROTOCOL.md section 19):
 * the events a store records with the injected clock's times, the hash
 * formula recomputed here from the spec text, and every edit of the file
 * that verification must catch, with the event it names. */
#include <dirent.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "storeutil.h"
#include "testutil.h"

#define T0 1800000000LL

static sqlite3 *raw_open(const char *db)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return h;
}

static void raw_exec(sqlite3 *h, const char *sql)
{
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
}


/* One policy change: max_skip = v (an event "policy changed" at g_now). */
static void change(rbx_store *st, unsigned v)
{
    rbx_policy p;
    ck_assert_int_eq(rbx_store_policy(st, &p), 0);
    p.max_skip = v;
    ck_assert_int_eq(rbx_store_set_policy(st, &p), 0);
}

/* A closed store with five events: "store created" at T0, then
 * "policy changed" at T0 + 10, + 20, + 30, + 40. */
static void five_events(char db[PATHCAP])
{
    db_path(db, "a");
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    for (unsigned i = 1; i <= 4; i++) {
        g_now = T0 + 10 * (int64_t)i;
        change(st, 100 + i);
    }
    rbx_store_close(st);
}

/* ------------------------------------------------------------ the formula */

/* hash_i = BLAKE2b-256("rbx-audit-v1" || hash_{i-1} || be64(seq) || be64(time)
 *          || event || 0x00 || detail || 0x00), hash_0 = 32 zero bytes. */
static void spec_hash(uint8_t out[32], const uint8_t prev[32], uint64_t seq, int64_t t,
                      const char *event, const char *detail)
{
    uint8_t buf[12 + 32 + 16 + RBX_AUDIT_EVENT_MAX + RBX_AUDIT_DETAIL_MAX];
    size_t n = 0, el = strlen(event) + 1, dl = strlen(detail) + 1;
    memcpy(buf, "rbx-audit-v1", 12), n = 12;
    memcpy(buf + n, prev, 32), n += 32;
    for (int i = 7; i >= 0; i--) buf[n++] = (uint8_t)(seq >> (8 * i));
    for (int i = 7; i >= 0; i--) buf[n++] = (uint8_t)((uint64_t)t >> (8 * i));
    memcpy(buf + n, event, el), n += el;
    memcpy(buf + n, detail, dl), n += dl;
    crypto_generichash(out, 32, buf, n, NULL, 0);
}

typedef struct seen {
    rbx_audit_event e[16];
    size_t n;
    int stop_at; /* return 7 at this event (1-based), 0: never */
} seen;

static int collect(const rbx_audit_event *e, void *ctx)
{
    seen *s = ctx;
    ck_assert_uint_lt(s->n, 16);
    s->e[s->n++] = *e;
    return (int)s->n == s->stop_at ? 7 : 0;
}

START_TEST(events_and_times)
{
    char db[PATHCAP];
    seen s = { 0 };
    uint64_t count = 99, bad = 99;
    uint8_t prev[32] = { 0 }, want[32];
    five_events(db);
    rbx_store *st = store_open(db, 0);
    ck_assert_int_eq(rbx_store_audit(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 5);
    ck_assert_uint_eq(s.e[0].seq, 1);
    ck_assert_int_eq(s.e[0].time, T0);
    ck_assert_str_eq(s.e[0].event, "store created");
    ck_assert_str_eq(s.e[0].detail, "schema 4");
    for (size_t i = 1; i < 5; i++) {
        char d[32];
        snprintf(d, sizeof d, "max_skip=%zu", 100 + i);
        ck_assert_uint_eq(s.e[i].seq, i + 1);
        ck_assert_int_eq(s.e[i].time, T0 + 10 * (int64_t)i);
        ck_assert_str_eq(s.e[i].event, "policy changed");
        ck_assert_str_eq(s.e[i].detail, d);
    }
    for (size_t i = 0; i < 5; i++) {
        spec_hash(want, prev, s.e[i].seq, s.e[i].time, s.e[i].event, s.e[i].detail);
        ck_assert_mem_eq(s.e[i].hash, want, 32);
        memcpy(prev, want, 32);
    }
    ck_assert_int_eq(rbx_store_audit_verify(st, &count, &bad), 0);
    ck_assert_uint_eq(count, 5);
    ck_assert_uint_eq(bad, 0);

    /* A callback stops the walk with its own value. */
    seen s2 = { .stop_at = 2 };
    ck_assert_int_eq(rbx_store_audit(st, collect, &s2), 7);
    ck_assert_uint_eq(s2.n, 2);

    /* Operations without an event leave the log as it was. */
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0);
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t n;
    ck_assert_int_eq(rbx_store_bundle(st, bundle, sizeof bundle, &n, 3), 0);
    ck_assert_int_eq(rbx_store_audit_verify(st, &count, &bad), 0);
    ck_assert_uint_ge(count, 5);
    rbx_store_close(st);
}
END_TEST

/* Details are cleaned and bounded; event names are checked. */
START_TEST(internal_append)
{
    char db[PATHCAP], longd[400];
    seen s = { 0 };
    uint64_t count, bad;
    db_path(db, "a");
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    g_now = T0 + 1;
    ck_assert_int_eq(rbx__audit_alone(st, "test event", "a\nb\x7f%s", "\x1b[31m"), 0);
    memset(longd, 'x', sizeof longd - 1);
    longd[sizeof longd - 1] = '\0';
    ck_assert_int_eq(rbx__audit_alone(st, "long-detail_2", "%s", longd), 0);
    ck_assert_int_eq(rbx__audit_alone(st, "", "x"), RBX_E_INVALID);
    ck_assert_int_eq(rbx__audit_alone(st, "Upper", "x"), RBX_E_INVALID);
    ck_assert_int_eq(rbx__audit_alone(st, "new\nline", "x"), RBX_E_INVALID);
    ck_assert_int_eq(rbx__audit_alone(st, "0123456789012345678901234567890", "x"), 0);
    ck_assert_int_eq(rbx__audit_alone(st, "01234567890123456789012345678901", "x"), RBX_E_INVALID);
    ck_assert_int_eq(rbx_store_audit(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 4);
    ck_assert_str_eq(s.e[1].event, "test event");
    ck_assert_str_eq(s.e[1].detail, "a?b??[31m");
    ck_assert_int_eq(s.e[1].time, T0 + 1);
    ck_assert_uint_eq(strlen(s.e[2].detail), RBX_AUDIT_DETAIL_MAX - 1);
    ck_assert_int_eq(rbx_store_audit_verify(st, &count, &bad), 0);
    ck_assert_uint_eq(count, 4);
    rbx_store_close(st);
}
END_TEST

/* ------------------------------------------------------------ tampering */

/* Rehash rows from..to with the spec formula, as an attacker without the
 * storage key can (the chain hash is not keyed). */
static void rehash(sqlite3 *h, uint64_t from, uint64_t to)
{
    sqlite3_stmt *sel, *upd;
    uint8_t prev[32] = { 0 }, hash[32];
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT seq, time, event, detail, hash FROM audit"
                                           " ORDER BY seq", -1, &sel, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "UPDATE audit SET hash = ?1 WHERE seq = ?2", -1, &upd,
                                        NULL), SQLITE_OK);
    while (sqlite3_step(sel) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(sel, 0);
        if (seq < from || seq > to) {
            memcpy(prev, sqlite3_column_blob(sel, 4), 32);
            continue;
        }
        spec_hash(hash, prev, seq, sqlite3_column_int64(sel, 1),
                  (const char *)sqlite3_column_text(sel, 2),
                  (const char *)sqlite3_column_text(sel, 3));
        sqlite3_bind_blob(upd, 1, hash, 32, SQLITE_TRANSIENT);
        sqlite3_bind_int64(upd, 2, (int64_t)seq);
        ck_assert_int_eq(sqlite3_step(upd), SQLITE_DONE);
        sqlite3_reset(upd);
        memcpy(prev, hash, 32);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
}

enum {
    T_EDIT_DETAIL,
    T_EDIT_TIME,
    T_EDIT_EVENT,
    T_DELETE_FIRST,
    T_DELETE_MIDDLE,
    T_DELETE_LAST,
    T_DELETE_ALL,
    T_INSERT_GARBAGE_END,
    T_INSERT_HASHED_END,
    T_INSERT_HASHED_MIDDLE,
    T_REORDER,
    T_REWRITE_CHAIN,
    T_NUL_TAIL,
    T_SHORT_HASH,
    T_RENUMBER_LAST,
    T_HEAD_DELETED,
    T_HEAD_AND_TABLE_DELETED,
    T_HEAD_GARBAGE,
    T_HEAD_SWAPPED,
    T_COUNT
};

static const struct {
    const char *name;
    uint64_t count, bad_seq;
} cases[T_COUNT] = {
    [T_EDIT_DETAIL] = { "detail of event 3 edited", 2, 3 },
    [T_EDIT_TIME] = { "time of event 3 changed", 2, 3 },
    [T_EDIT_EVENT] = { "name of event 3 changed", 2, 3 },
    [T_DELETE_FIRST] = { "event 1 deleted", 0, 1 },
    [T_DELETE_MIDDLE] = { "event 3 deleted", 2, 3 },
    [T_DELETE_LAST] = { "event 5 deleted", 4, 0 },
    [T_DELETE_ALL] = { "every event deleted", 0, 0 },
    [T_INSERT_GARBAGE_END] = { "event 6 with a wrong hash appended", 5, 6 },
    [T_INSERT_HASHED_END] = { "event 6 with the right hash appended", 5, 6 },
    [T_INSERT_HASHED_MIDDLE] = { "event inserted as 3 with the right hash", 3, 4 },
    [T_REORDER] = { "events 2 and 3 swapped", 1, 2 },
    [T_REWRITE_CHAIN] = { "event 3 edited and the chain rehashed", 4, 5 },
    [T_NUL_TAIL] = { "text after a NUL in detail 3", 2, 3 },
    [T_SHORT_HASH] = { "hash of event 3 cut to 31 bytes", 2, 3 },
    [T_RENUMBER_LAST] = { "event 5 renumbered 7", 4, 5 },
    [T_HEAD_DELETED] = { "sealed head deleted", 0, 0 },
    [T_HEAD_AND_TABLE_DELETED] = { "table emptied and sealed head deleted", 0, 0 },
    [T_HEAD_GARBAGE] = { "sealed head replaced by other bytes", 0, 0 },
    [T_HEAD_SWAPPED] = { "sealed head replaced by another sealed value", 0, 0 },
};

START_TEST(tampered)
{
    const int c = _i;
    char db[PATHCAP];
    five_events(db);
    sqlite3 *h = raw_open(db);
    switch (c) {
    case T_EDIT_DETAIL: raw_exec(h, "UPDATE audit SET detail = 'max_skip=1000' WHERE seq = 3"); break;
    case T_EDIT_TIME: raw_exec(h, "UPDATE audit SET time = time - 1 WHERE seq = 3"); break;
    case T_EDIT_EVENT: raw_exec(h, "UPDATE audit SET event = 'store created' WHERE seq = 3"); break;
    case T_DELETE_FIRST: raw_exec(h, "DELETE FROM audit WHERE seq = 1"); break;
    case T_DELETE_MIDDLE: raw_exec(h, "DELETE FROM audit WHERE seq = 3"); break;
    case T_DELETE_LAST: raw_exec(h, "DELETE FROM audit WHERE seq = 5"); break;
    case T_DELETE_ALL: raw_exec(h, "DELETE FROM audit"); break;
    case T_INSERT_GARBAGE_END:
        raw_exec(h, "INSERT INTO audit VALUES (6, 1800000050, 'policy changed', 'x', zeroblob(32))");
        break;
    case T_INSERT_HASHED_END:
        raw_exec(h, "INSERT INTO audit VALUES (6, 1800000050, 'policy changed', 'x', zeroblob(32))");
        rehash(h, 6, 6);
        break;
    case T_INSERT_HASHED_MIDDLE:
        raw_exec(h, "UPDATE audit SET seq = seq + 100 WHERE seq >= 3;"
                    "UPDATE audit SET seq = seq - 99 WHERE seq >= 100;"
                    "INSERT INTO audit VALUES (3, 1800000015, 'policy changed', 'x', zeroblob(32))");
        rehash(h, 3, 3); /* the rows after it keep their hashes */
        break;
    case T_REORDER:
        raw_exec(h, "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;"
                    "UPDATE audit SET seq = 3 WHERE seq = 100");
        break;
    case T_REWRITE_CHAIN:
        raw_exec(h, "UPDATE audit SET detail = 'max_skip=1000' WHERE seq = 3");
        rehash(h, 3, UINT64_MAX);
        break;
    case T_NUL_TAIL:
        raw_exec(h, "UPDATE audit SET detail = detail || char(0) || 'archive=on' WHERE seq = 3");
        break;
    case T_SHORT_HASH: raw_exec(h, "UPDATE audit SET hash = substr(hash, 1, 31) WHERE seq = 3"); break;
    case T_RENUMBER_LAST: raw_exec(h, "UPDATE audit SET seq = 7 WHERE seq = 5"); break;
    case T_HEAD_DELETED: raw_exec(h, "DELETE FROM meta WHERE k = 'audit_head'"); break;
    case T_HEAD_AND_TABLE_DELETED:
        raw_exec(h, "DELETE FROM audit; DELETE FROM meta WHERE k = 'audit_head'");
        break;
    case T_HEAD_GARBAGE:
        raw_exec(h, "UPDATE meta SET v = randomblob(88) WHERE k = 'audit_head'");
        break;
    case T_HEAD_SWAPPED:
        /* The sealed value is bound to its name: under another key it does not open. */
        raw_exec(h, "UPDATE meta SET v = (SELECT v FROM meta WHERE k = 'keycheck') WHERE k = 'audit_head'");
        break;
    default: ck_abort();
    }
    ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);

    rbx_store *st = store_open(db, 0);
    uint64_t count = 99, bad = 99;
    ck_assert_msg(rbx_store_audit_verify(st, &count, &bad) == RBX_E_CORRUPT, "%s: not seen",
                  cases[c].name);
    ck_assert_msg(count == cases[c].count && bad == cases[c].bad_seq,
                  "%s: count %llu bad_seq %llu, want %llu %llu", cases[c].name,
                  (unsigned long long)count, (unsigned long long)bad,
                  (unsigned long long)cases[c].count, (unsigned long long)cases[c].bad_seq);
    /* Listing stops at the same place with the same error. */
    seen s = { 0 };
    ck_assert_int_eq(rbx_store_audit(st, collect, &s), RBX_E_CORRUPT);
    ck_assert_uint_eq(s.n, cases[c].count);
    /* Nothing more is appended to a log whose head is gone. */
    if (c >= T_HEAD_DELETED) {
        rbx_policy p;
        ck_assert_int_eq(rbx_store_policy(st, &p), 0);
        p.max_skip = 7;
        ck_assert_int_eq(rbx_store_set_policy(st, &p), RBX_E_CORRUPT);
    }
    rbx_store_close(st);
}
END_TEST

/* A restored older copy: the store records the rollback in the copy's own
 * (intact) chain. */
START_TEST(rollback_recorded)
{
    char db[PATHCAP], copy[PATHCAP + 8];
    seen s = { 0 };
    uint64_t count, bad;
    five_events(db);
    snprintf(copy, sizeof copy, "%s.copy", db);
    copy_file(db, copy);
    g_now = T0 + 100;
    rbx_store *st = store_open(db, 0);
    change(st, 200);
    rbx_store_close(st);
    copy_file(copy, db); /* the generation record stays ahead */
    g_now = T0 + 200;
    st = store_open(db, 0);
    ck_assert_int_eq(rbx_store_audit(st, collect, &s), 0);
    ck_assert_uint_eq(s.n, 6);
    ck_assert_str_eq(s.e[4].detail, "max_skip=104");
    ck_assert_str_eq(s.e[5].event, "rollback detected");
    ck_assert_int_eq(s.e[5].time, T0 + 200);
    ck_assert_int_eq(rbx_store_audit_verify(st, &count, &bad), 0);
    ck_assert_uint_eq(count, 6);
    rbx_store_close(st);
}
END_TEST

Suite *suite_audit(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("log");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, events_and_times);
    tcase_add_test(tc, internal_append);
    tcase_add_test(tc, rollback_recorded);
    suite_add_tcase(s, tc);

    tc = tcase_create("tampered");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_loop_test(tc, tampered, 0, T_COUNT);
    suite_add_tcase(s, tc);
    return s;
}
