/* SPDX-License-Identifier: MIT
 * rbxd's embedded backend: one SQLite database in WAL mode with
 * synchronous=FULL (a commit is durable when it returns). One rbxd process
 * owns the file: its commit queue is the only writer, and readers use their
 * own connections (WAL lets them read while the writer commits). The schema
 * is server/sql/sqlite.sql; the logic mirrors server/sql/pg.sql statement for
 * statement (spec/SERVER.md section 9). Every write runs inside a savepoint,
 * so that a logical refusal half-way leaves nothing behind in the group
 * transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"

extern const char rbxd_sql_sqlite[]; /* server/sql/sqlite.sql, generated */

enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVE, S_RELEASE, S_ROLLBACK_TO,
    S_DEVICE_GET, S_DEVICE_KEYS, S_DEVICES, S_HEAD, S_DEVLIST, S_KEY_STATUS, S_FETCH,
    S_STATS_DEV, S_STATS_OTK, S_STATS_LOW, S_STATS_USERS,
    S_NONCE, S_DEVLIST_INS, S_DEV_ADD, S_DEV_REMOVE, S_DEV_ROTATE, S_DEV_REREG,
    S_DEL_OTK, S_DEL_SPENT, S_DEL_MBOX, S_DEL_RL,
    S_DEV_KEYS, S_DEV_SET_BUNDLE, S_OTK_GET, S_SPENT_GET, S_OTK_INS, S_OTK_COUNT,
    S_DEV_SET_OTKMAX,
    S_RL_GET, S_RL_PUT, S_CLAIM, S_SPENT_INS, S_DEV_BUNDLE,
    S_SENT_GET, S_SENT_INS, S_SEND_DEVICES, S_MBOX_INS, S_MBOX_ADD, S_ACK_DEL, S_MBOX_SUB,
    S_EXP_AGG, S_EXP_MBOX, S_EXP_NONCE, S_EXP_SENT, S_EXP_SPENT, S_EXP_RL, S_EXP_LINK,
    S_LINK_GET, S_LINK_COUNT, S_LINK_INS, S_LINK_APPROVE,
    S_COUNT_
};

static const char *const sql_text[S_COUNT_] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVE] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_DEVICE_GET] = "SELECT identity, registration_id, active FROM device WHERE uid=?1 AND device=?2",
    [S_DEVICE_KEYS] = "SELECT identity FROM device WHERE device=?1 AND active=1 LIMIT 16",
    [S_DEVICES] = "SELECT device, identity, registration_id FROM device WHERE uid=?1 AND active=1 "
                  "ORDER BY device",
    [S_HEAD] = "SELECT coalesce(max(seq), 0) FROM devlist WHERE uid=?1",
    [S_DEVLIST] = "SELECT seq, entry FROM devlist WHERE uid=?1 AND seq>?2 ORDER BY seq",
    [S_KEY_STATUS] = "SELECT active, otk_max, spk_id, spk_created, spk_uploaded, "
                     "(SELECT count(*) FROM otk WHERE uid=?1 AND device=?2) "
                     "FROM device WHERE uid=?1 AND device=?2",
    [S_FETCH] = "SELECT id, message_id, sender_uid, sender_device, received_at, body FROM mailbox "
                "WHERE uid=?1 AND device=?2 AND id>?3 AND received_at>=?4 ORDER BY id LIMIT ?5",
    [S_STATS_DEV] = "SELECT count(*), coalesce(sum(mbox_count), 0), coalesce(sum(mbox_bytes), 0), "
                    "coalesce(max(mbox_count), 0) FROM device WHERE active=1",
    [S_STATS_OTK] = "SELECT count(*) FROM otk",
    [S_STATS_LOW] = "SELECT count(*) FROM device d LEFT JOIN "
                    "(SELECT uid, device, count(*) AS c FROM otk GROUP BY uid, device) o "
                    "ON o.uid=d.uid AND o.device=d.device WHERE d.active=1 AND coalesce(o.c, 0)<?1",
    [S_STATS_USERS] = "SELECT count(DISTINCT uid) FROM device WHERE active=1",
    [S_NONCE] = "INSERT INTO nonce(uid, device, nonce, expires) VALUES(?1, ?2, ?3, ?4) "
                "ON CONFLICT DO NOTHING",
    [S_DEVLIST_INS] = "INSERT INTO devlist(uid, seq, hash, entry) VALUES(?1, ?2, ?3, ?4)",
    [S_DEV_ADD] = "INSERT INTO device(uid, device, identity, registration_id, active, bundle, spk_id, "
                  "spk, spk_created, spk_uploaded, otk_max, mbox_count, mbox_bytes) "
                  "VALUES(?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, 0, 0, 0) "
                  "ON CONFLICT(uid, device) DO UPDATE SET identity=excluded.identity, "
                  "registration_id=excluded.registration_id, active=1, bundle=excluded.bundle, "
                  "spk_id=excluded.spk_id, spk=excluded.spk, spk_created=excluded.spk_created, "
                  "spk_uploaded=excluded.spk_uploaded, otk_max=0, mbox_count=0, mbox_bytes=0",
    [S_DEV_REMOVE] = "UPDATE device SET active=0, bundle=NULL, spk_id=NULL, spk=NULL, "
                     "spk_created=NULL, spk_uploaded=NULL, otk_max=0, mbox_count=0, mbox_bytes=0 "
                     "WHERE uid=?1 AND device=?2 AND active=1",
    [S_DEV_ROTATE] = "UPDATE device SET identity=?3, bundle=?4, spk_id=?5, spk=?6, spk_created=?7, "
                     "spk_uploaded=?8 WHERE uid=?1 AND device=?2 AND active=1",
    [S_DEV_REREG] = "UPDATE device SET registration_id=?3, bundle=?4, spk_id=?5, spk=?6, "
                    "spk_created=?7, spk_uploaded=?8, otk_max=0 WHERE uid=?1 AND device=?2 AND active=1",
    [S_DEL_OTK] = "DELETE FROM otk WHERE uid=?1 AND device=?2",
    [S_DEL_SPENT] = "DELETE FROM otk_spent WHERE uid=?1 AND device=?2",
    [S_DEL_MBOX] = "DELETE FROM mailbox WHERE uid=?1 AND device=?2",
    [S_DEL_RL] = "DELETE FROM ratelimit WHERE (uid=?1 AND device=?2) OR (target_uid=?1 AND target_device=?2)",
    [S_DEV_KEYS] = "SELECT active, spk_id, spk, otk_max FROM device WHERE uid=?1 AND device=?2",
    [S_DEV_SET_BUNDLE] = "UPDATE device SET bundle=?3, spk_id=?4, spk=?5, spk_created=?6, "
                         "spk_uploaded=?7 WHERE uid=?1 AND device=?2",
    [S_OTK_GET] = "SELECT key FROM otk WHERE uid=?1 AND device=?2 AND id=?3",
    [S_SPENT_GET] = "SELECT key FROM otk_spent WHERE uid=?1 AND device=?2 AND id=?3",
    [S_OTK_INS] = "INSERT INTO otk(uid, device, id, key) VALUES(?1, ?2, ?3, ?4)",
    [S_OTK_COUNT] = "SELECT count(*) FROM otk WHERE uid=?1 AND device=?2",
    [S_DEV_SET_OTKMAX] = "UPDATE device SET otk_max=?3 WHERE uid=?1 AND device=?2",
    [S_RL_GET] = "SELECT tat FROM ratelimit WHERE uid=?1 AND device=?2 AND target_uid=?3 "
                 "AND target_device=?4",
    [S_RL_PUT] = "INSERT INTO ratelimit(uid, device, target_uid, target_device, tat) "
                 "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(uid, device, target_uid, target_device) "
                 "DO UPDATE SET tat=excluded.tat",
    /* The claim: one statement that deletes the lowest id and returns it. A
     * single writer (BEGIN IMMEDIATE) makes it exclusive on SQLite; db_pg.c
     * adds FOR UPDATE SKIP LOCKED for concurrent writers. */
    [S_CLAIM] = "DELETE FROM otk WHERE uid=?1 AND device=?2 AND "
                "id=(SELECT min(id) FROM otk WHERE uid=?1 AND device=?2) RETURNING id, key",
    [S_SPENT_INS] = "INSERT OR REPLACE INTO otk_spent(uid, device, id, key, spent_at) "
                    "VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_DEV_BUNDLE] = "SELECT registration_id, bundle FROM device WHERE uid=?1 AND device=?2 AND active=1",
    [S_SENT_GET] = "SELECT body_hash FROM sent WHERE uid=?1 AND device=?2 AND message_id=?3",
    [S_SENT_INS] = "INSERT INTO sent(uid, device, message_id, body_hash, created) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_SEND_DEVICES] = "SELECT uid, device, registration_id, mbox_count, mbox_bytes FROM device "
                       "WHERE active=1 AND (uid=?1 OR uid=?2) ORDER BY uid, device",
    [S_MBOX_INS] = "INSERT INTO mailbox(uid, device, message_id, sender_uid, sender_device, "
                   "received_at, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_MBOX_ADD] = "UPDATE device SET mbox_count=mbox_count+1, mbox_bytes=mbox_bytes+?3 "
                   "WHERE uid=?1 AND device=?2",
    [S_ACK_DEL] = "DELETE FROM mailbox WHERE id=?3 AND uid=?1 AND device=?2 RETURNING length(body)",
    [S_MBOX_SUB] = "UPDATE device SET mbox_count=max(mbox_count-?3, 0), "
                   "mbox_bytes=max(mbox_bytes-?4, 0) WHERE uid=?1 AND device=?2",
    [S_EXP_AGG] = "SELECT uid, device, count(*), sum(length(body)) FROM mailbox WHERE received_at<?1 "
                  "GROUP BY uid, device",
    [S_EXP_MBOX] = "DELETE FROM mailbox WHERE received_at<?1",
    [S_EXP_NONCE] = "DELETE FROM nonce WHERE expires<?1",
    [S_EXP_SENT] = "DELETE FROM sent WHERE created<?1",
    [S_EXP_SPENT] = "DELETE FROM otk_spent WHERE spent_at<?1",
    [S_EXP_RL] = "DELETE FROM ratelimit WHERE tat<?1",
    [S_EXP_LINK] = "DELETE FROM link WHERE expires<=?1",
    [S_LINK_GET] = "SELECT request, approval FROM link WHERE id=?1 AND expires>?2",
    [S_LINK_COUNT] = "SELECT count(*) FROM link WHERE expires>?1",
    [S_LINK_INS] = "INSERT INTO link(id, request, approval, expires) VALUES(?1, ?2, NULL, ?3) "
                   "ON CONFLICT(id) DO UPDATE SET request=excluded.request, approval=NULL, "
                   "expires=excluded.expires",
    [S_LINK_APPROVE] = "UPDATE link SET approval=?2 WHERE id=?1",
};

struct db {
    sqlite3 *h;
    sqlite3_stmt *st[S_COUNT_];
};

/* A prepared statement, reset and unbound (prepared on first use). */
static sqlite3_stmt *stmt(db *d, int which)
{
    sqlite3_stmt *s = d->st[which];
    if (s == NULL) {
        if (sqlite3_prepare_v3(d->h, sql_text[which], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK)
            return NULL;
        d->st[which] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return s;
}

/* Step a statement that returns no row (or whose rows are not wanted). */
static int run(sqlite3_stmt *s)
{
    if (s == NULL) return DB_FAIL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? DB_OK : DB_FAIL;
}

static int exec_simple(db *d, int which) { return run(stmt(d, which)); }

static int bind_ud(sqlite3_stmt *s, const char *user, uint32_t device)
{
    if (s == NULL) return DB_FAIL;
    if (sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, device) != SQLITE_OK)
        return DB_FAIL;
    return DB_OK;
}

/* A BLOB column of exactly n bytes into out; DB_FAIL for any other type or
 * length (a row is outside input). */
static int col_blob_n(sqlite3_stmt *s, int col, uint8_t *out, size_t n)
{
    if (sqlite3_column_type(s, col) != SQLITE_BLOB) return DB_FAIL;
    const void *p = sqlite3_column_blob(s, col);
    if (p == NULL || (size_t)sqlite3_column_bytes(s, col) != n) return DB_FAIL;
    memcpy(out, p, n);
    return DB_OK;
}

/* An INTEGER column within [lo, hi]. */
static int col_int(sqlite3_stmt *s, int col, int64_t lo, int64_t hi, int64_t *out)
{
    if (sqlite3_column_type(s, col) != SQLITE_INTEGER) return DB_FAIL;
    int64_t v = sqlite3_column_int64(s, col);
    if (v < lo || v > hi) return DB_FAIL;
    *out = v;
    return DB_OK;
}

/* A malloc'ed copy of a BLOB column of 1..cap bytes. */
static int col_blob_dup(sqlite3_stmt *s, int col, size_t cap, uint8_t **out, size_t *len)
{
    if (sqlite3_column_type(s, col) != SQLITE_BLOB) return DB_FAIL;
    const void *p = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (p == NULL || n == 0 || n > cap) return DB_FAIL;
    uint8_t *c = malloc(n);
    if (c == NULL) return DB_FAIL;
    memcpy(c, p, n);
    *out = c;
    *len = n;
    return DB_OK;
}

#define DEVMAX ((int64_t)RBX_DEVICE_ID_MAX)
#define U32MAX ((int64_t)UINT32_MAX)

static int sq_open(db **out, const char *url, int writer, char *err, size_t errcap)
{
    *out = NULL;
    const char *path = url + 7; /* "sqlite:" */
    db *d = calloc(1, sizeof *d);
    if (d == NULL) {
        snprintf(err, errcap, "out of memory");
        return DB_FAIL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &d->h, flags, NULL) != SQLITE_OK) {
        snprintf(err, errcap, "cannot open the SQLite database: %s",
                 d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close(d->h);
        free(d);
        return DB_FAIL;
    }
    sqlite3_extended_result_codes(d->h, 1);
    /* WAL with synchronous=FULL: a commit is on disk when COMMIT returns,
     * and readers never block the writer. */
    const char *pragmas = "PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; "
                          "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;";
    if (sqlite3_exec(d->h, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errcap, "cannot set up the SQLite database: %s", sqlite3_errmsg(d->h));
        sqlite3_close(d->h);
        free(d);
        return DB_FAIL;
    }
    if (writer) {
        char *msg = NULL;
        if (sqlite3_exec(d->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(d->h, rbxd_sql_sqlite, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(d->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errcap, "cannot create the schema: %s", msg ? msg : sqlite3_errmsg(d->h));
            sqlite3_free(msg);
            sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
            sqlite3_close(d->h);
            free(d);
            return DB_FAIL;
        }
    }
    sqlite3_stmt *s = NULL;
    int64_t ver = 0;
    if (sqlite3_prepare_v2(d->h, "SELECT v FROM rbxd_meta WHERE k='schema'", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW || col_int(s, 0, 0, INT64_MAX, &ver) != DB_OK || ver != 1) {
        snprintf(err, errcap, "not an rbxd database of schema version 1");
        sqlite3_finalize(s);
        sqlite3_close(d->h);
        free(d);
        return DB_FAIL;
    }
    sqlite3_finalize(s);
    *out = d;
    return DB_OK;
}

static void sq_close(db *d)
{
    if (d == NULL) return;
    for (int i = 0; i < S_COUNT_; i++) sqlite3_finalize(d->st[i]);
    sqlite3_close(d->h);
    free(d);
}

static int sq_begin(db *d) { return exec_simple(d, S_BEGIN); }
static int sq_commit(db *d) { return exec_simple(d, S_COMMIT); }
static void sq_rollback(db *d)
{
    if (!sqlite3_get_autocommit(d->h)) (void)exec_simple(d, S_ROLLBACK);
}

/* Every write operation: a savepoint, released on success, rolled back to on
 * a refusal or a failure. */
static int op_begin(db *d) { return exec_simple(d, S_SAVE); }
static int op_end(db *d, int keep)
{
    if (keep) return exec_simple(d, S_RELEASE);
    if (exec_simple(d, S_ROLLBACK_TO) != DB_OK) return DB_FAIL;
    return exec_simple(d, S_RELEASE);
}

/* ---------------------------------------------------------------- reads */

static int sq_device_get(db *d, const char *user, uint32_t device, db_device *out, int *found)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    sqlite3_stmt *s = stmt(d, S_DEVICE_GET);
    if (bind_ud(s, user, device) != DB_OK) return DB_FAIL;
    int rc = sqlite3_step(s), ret = DB_OK;
    if (rc == SQLITE_ROW) {
        int64_t reg, act;
        if (col_blob_n(s, 0, out->identity, DB_KEYBYTES) != DB_OK ||
            col_int(s, 1, 0, U32MAX, &reg) != DB_OK || col_int(s, 2, 0, 1, &act) != DB_OK)
            ret = DB_FAIL;
        else {
            out->id = device;
            out->registration_id = (uint32_t)reg;
            out->active = (int)act;
            *found = 1;
        }
    } else if (rc != SQLITE_DONE)
        ret = DB_FAIL;
    sqlite3_reset(s);
    return ret;
}

static int sq_device_keys(db *d, uint32_t device, uint8_t (**keys)[DB_KEYBYTES], size_t *n)
{
    *keys = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(d, S_DEVICE_KEYS);
    if (s == NULL || sqlite3_bind_int64(s, 1, device) != SQLITE_OK) return DB_FAIL;
    uint8_t (*v)[DB_KEYBYTES] = malloc(16 * sizeof *v);
    if (v == NULL) return DB_FAIL;
    size_t cnt = 0;
    int rc, ret = DB_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && cnt < 16)
        if (col_blob_n(s, 0, v[cnt++], DB_KEYBYTES) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
    if (ret == DB_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) ret = DB_FAIL;
    sqlite3_reset(s);
    if (ret != DB_OK) {
        free(v);
        return ret;
    }
    *keys = v;
    *n = cnt;
    return DB_OK;
}

static int head_of(db *d, const char *user, uint64_t *head)
{
    sqlite3_stmt *s = stmt(d, S_HEAD);
    if (s == NULL || sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC) != SQLITE_OK) return DB_FAIL;
    int64_t h = 0;
    int ret = (sqlite3_step(s) == SQLITE_ROW && col_int(s, 0, 0, INT64_MAX, &h) == DB_OK) ? DB_OK
                                                                                       : DB_FAIL;
    sqlite3_reset(s);
    *head = (uint64_t)h;
    return ret;
}

static int sq_devices(db *d, const char *user, db_device **devs, size_t *n, uint64_t *head)
{
    *devs = NULL;
    *n = 0;
    if (head_of(d, user, head) != DB_OK) return DB_FAIL;
    sqlite3_stmt *s = stmt(d, S_DEVICES);
    if (s == NULL || sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC) != SQLITE_OK) return DB_FAIL;
    db_device *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc, ret = DB_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            db_device *nv = realloc(v, nc * sizeof *nv);
            if (nv == NULL) {
                ret = DB_FAIL;
                break;
            }
            v = nv;
            cap = nc;
        }
        int64_t dev, reg;
        db_device *x = &v[cnt];
        memset(x, 0, sizeof *x);
        if (col_int(s, 0, 1, DEVMAX, &dev) != DB_OK ||
            col_blob_n(s, 1, x->identity, DB_KEYBYTES) != DB_OK ||
            col_int(s, 2, 0, U32MAX, &reg) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
        x->id = (uint32_t)dev;
        x->registration_id = (uint32_t)reg;
        x->active = 1;
        cnt++;
    }
    if (ret == DB_OK && rc != SQLITE_DONE) ret = DB_FAIL;
    sqlite3_reset(s);
    if (ret != DB_OK) {
        free(v);
        return ret;
    }
    *devs = v;
    *n = cnt;
    return DB_OK;
}

static int sq_devlist_get(db *d, const char *user, uint64_t since, db_entry **out, size_t *n,
                          uint64_t *head)
{
    *out = NULL;
    *n = 0;
    if (head_of(d, user, head) != DB_OK) return DB_FAIL;
    sqlite3_stmt *s = stmt(d, S_DEVLIST);
    if (s == NULL || sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, since > INT64_MAX ? INT64_MAX : (int64_t)since) != SQLITE_OK)
        return DB_FAIL;
    db_entry *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc, ret = DB_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            db_entry *nv = realloc(v, nc * sizeof *nv);
            if (nv == NULL) {
                ret = DB_FAIL;
                break;
            }
            v = nv;
            cap = nc;
        }
        int64_t seq;
        v[cnt].bytes = NULL;
        if (col_int(s, 0, 1, INT64_MAX, &seq) != DB_OK ||
            col_blob_dup(s, 1, RBX_DEVLIST_ENTRY_MAXBYTES, &v[cnt].bytes, &v[cnt].len) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
        v[cnt].seq = (uint64_t)seq;
        cnt++;
    }
    if (ret == DB_OK && rc != SQLITE_DONE) ret = DB_FAIL;
    sqlite3_reset(s);
    if (ret != DB_OK) {
        db_entries_free(v, cnt);
        return ret;
    }
    *out = v;
    *n = cnt;
    return DB_OK;
}

static int sq_key_status(db *d, const char *user, uint32_t device, db_key_status *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(d, S_KEY_STATUS);
    if (bind_ud(s, user, device) != DB_OK) return DB_FAIL;
    int ret = DB_FAIL;
    if (sqlite3_step(s) == SQLITE_ROW) {
        int64_t act, mx, id = 0, cr = 0, up = 0, cnt;
        if (col_int(s, 0, 0, 1, &act) == DB_OK && act == 0) {
            ret = DB_OK; /* removed meanwhile: nothing held */
        } else if (col_int(s, 0, 1, 1, &act) == DB_OK && col_int(s, 1, 0, U32MAX, &mx) == DB_OK &&
            (sqlite3_column_type(s, 2) == SQLITE_NULL ||
             (col_int(s, 2, 0, U32MAX, &id) == DB_OK && col_int(s, 3, 0, INT64_MAX, &cr) == DB_OK &&
              col_int(s, 4, 0, INT64_MAX, &up) == DB_OK)) &&
            col_int(s, 5, 0, U32MAX, &cnt) == DB_OK) {
            out->count = (uint32_t)cnt;
            out->max_id = (uint32_t)mx;
            out->spk_id = (uint32_t)id;
            out->spk_created = (uint64_t)cr;
            out->spk_uploaded = up;
            ret = DB_OK;
        }
    }
    sqlite3_reset(s);
    return ret;
}

static int sq_mailbox_fetch(db *d, const char *user, uint32_t device, int64_t after,
                            uint32_t limit, uint64_t max_bytes, int64_t cutoff, db_item **items,
                            size_t *n, int *more)
{
    *items = NULL;
    *n = 0;
    *more = 0;
    sqlite3_stmt *s = stmt(d, S_FETCH);
    if (bind_ud(s, user, device) != DB_OK || sqlite3_bind_int64(s, 3, after) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, cutoff) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, (int64_t)limit + 1) != SQLITE_OK)
        return DB_FAIL;
    db_item *v = calloc(limit > 0 ? limit : 1, sizeof *v);
    if (v == NULL) {
        sqlite3_reset(s);
        return DB_FAIL;
    }
    size_t cnt = 0;
    uint64_t bytes = 0;
    int rc, ret = DB_OK;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == limit) {
            *more = 1;
            break;
        }
        int64_t sd;
        db_item *x = &v[cnt];
        if (sqlite3_column_type(s, 5) != SQLITE_BLOB) {
            ret = DB_FAIL;
            break;
        }
        size_t blen = (size_t)sqlite3_column_bytes(s, 5);
        if (cnt > 0 && bytes + blen > max_bytes) {
            *more = 1;
            break;
        }
        const unsigned char *su = sqlite3_column_text(s, 2);
        if (col_int(s, 0, 1, INT64_MAX, &x->id) != DB_OK ||
            col_blob_n(s, 1, x->message_id, DB_MSGIDBYTES) != DB_OK || su == NULL ||
            strlen((const char *)su) >= DB_USER_MAX || col_int(s, 3, 1, DEVMAX, &sd) != DB_OK ||
            col_int(s, 4, 0, INT64_MAX, &x->received_at) != DB_OK ||
            col_blob_dup(s, 5, SIZE_MAX, &x->body, &x->len) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
        memcpy(x->sender_user, su, strlen((const char *)su) + 1);
        x->sender_device = (uint32_t)sd;
        bytes += x->len;
        cnt++;
    }
    if (ret == DB_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) ret = DB_FAIL;
    sqlite3_reset(s);
    if (ret != DB_OK) {
        db_items_free(v, cnt);
        return ret;
    }
    *items = v;
    *n = cnt;
    return DB_OK;
}

static int one_int(db *d, int which, int64_t bind1, int has_bind, int64_t *out)
{
    sqlite3_stmt *s = stmt(d, which);
    if (s == NULL) return DB_FAIL;
    if (has_bind && sqlite3_bind_int64(s, 1, bind1) != SQLITE_OK) return DB_FAIL;
    int ret = (sqlite3_step(s) == SQLITE_ROW && col_int(s, 0, 0, INT64_MAX, out) == DB_OK)
                  ? DB_OK
                  : DB_FAIL;
    sqlite3_reset(s);
    return ret;
}

static int sq_stats(db *d, uint32_t low, db_stats *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(d, S_STATS_DEV);
    if (s == NULL) return DB_FAIL;
    int64_t a = 0, b = 0, c = 0, mx = 0, o = 0, l = 0, u = 0;
    int ret = (sqlite3_step(s) == SQLITE_ROW && col_int(s, 0, 0, INT64_MAX, &a) == DB_OK &&
               col_int(s, 1, 0, INT64_MAX, &b) == DB_OK && col_int(s, 2, 0, INT64_MAX, &c) == DB_OK &&
               col_int(s, 3, 0, INT64_MAX, &mx) == DB_OK)
                  ? DB_OK
                  : DB_FAIL;
    sqlite3_reset(s);
    if (ret != DB_OK || one_int(d, S_STATS_OTK, 0, 0, &o) != DB_OK ||
        one_int(d, S_STATS_LOW, low, 1, &l) != DB_OK || one_int(d, S_STATS_USERS, 0, 0, &u) != DB_OK)
        return DB_FAIL;
    out->users = (uint64_t)u;
    out->devices = (uint64_t)a;
    out->mailbox_messages = (uint64_t)b;
    out->mailbox_bytes = (uint64_t)c;
    out->mailbox_max_depth = (uint64_t)mx;
    out->prekeys = (uint64_t)o;
    out->low_devices = (uint64_t)l;
    return DB_OK;
}

/* ---------------------------------------------------------------- writes */

static int sq_nonce_put(db *d, const char *user, uint32_t device,
                        const uint8_t nonce[DB_NONCEBYTES], int64_t expires, int *fresh)
{
    *fresh = 0;
    sqlite3_stmt *s = stmt(d, S_NONCE);
    if (bind_ud(s, user, device) != DB_OK ||
        sqlite3_bind_blob(s, 3, nonce, DB_NONCEBYTES, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 4, expires) != SQLITE_OK)
        return DB_FAIL;
    if (run(s) != DB_OK) return DB_FAIL;
    *fresh = sqlite3_changes(d->h) == 1;
    return DB_OK;
}

/* Everything of a device but its row: prekeys, mailbox, rate limits. */
static int drop_device_data(db *d, const char *user, uint32_t device)
{
    static const int which[] = {S_DEL_OTK, S_DEL_SPENT, S_DEL_MBOX, S_DEL_RL};
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        sqlite3_stmt *s = stmt(d, which[i]);
        if (bind_ud(s, user, device) != DB_OK || run(s) != DB_OK) return DB_FAIL;
    }
    return DB_OK;
}

static int bind_bundle(sqlite3_stmt *s, int col, const db_bundle_in *b, int64_t now)
{
    if (sqlite3_bind_blob(s, col, b->bytes, (int)b->len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, col + 1, b->spk_id) != SQLITE_OK ||
        sqlite3_bind_blob(s, col + 2, b->spk, DB_KEYBYTES, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, col + 3, (int64_t)b->spk_created) != SQLITE_OK ||
        sqlite3_bind_int64(s, col + 4, now) != SQLITE_OK)
        return DB_FAIL;
    return DB_OK;
}

static int append_one(db *d, const db_append *a, const db_change *c)
{
    sqlite3_stmt *s = stmt(d, S_DEVLIST_INS);
    if (s == NULL || sqlite3_bind_text(s, 1, a->user, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (int64_t)c->seq) != SQLITE_OK ||
        sqlite3_bind_blob(s, 3, c->hash, DB_HASHBYTES, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(s, 4, c->entry, (int)c->entry_len, SQLITE_STATIC) != SQLITE_OK ||
        run(s) != DB_OK)
        return DB_FAIL;
    switch (c->op) {
    case RBX_DEVLIST_ADD:
        if (a->bundle == NULL) return DB_FAIL;
        /* A device id that comes back after a removal starts afresh. */
        if (drop_device_data(d, a->user, c->device) != DB_OK) return DB_FAIL;
        s = stmt(d, S_DEV_ADD);
        if (bind_ud(s, a->user, c->device) != DB_OK ||
            sqlite3_bind_blob(s, 3, c->identity, DB_KEYBYTES, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(s, 4, a->registration_id) != SQLITE_OK ||
            bind_bundle(s, 5, a->bundle, a->now) != DB_OK)
            return DB_FAIL;
        return run(s);
    case RBX_DEVLIST_REMOVE:
        s = stmt(d, S_DEV_REMOVE);
        if (bind_ud(s, a->user, c->device) != DB_OK || run(s) != DB_OK) return DB_FAIL;
        return drop_device_data(d, a->user, c->device);
    case RBX_DEVLIST_ROTATE:
        if (a->bundle == NULL) return DB_FAIL;
        /* The one-time prekeys went with the old identity's state. */
        s = stmt(d, S_DEL_OTK);
        if (bind_ud(s, a->user, c->device) != DB_OK || run(s) != DB_OK) return DB_FAIL;
        s = stmt(d, S_DEV_ROTATE);
        if (bind_ud(s, a->user, c->device) != DB_OK ||
            sqlite3_bind_blob(s, 3, c->identity, DB_KEYBYTES, SQLITE_STATIC) != SQLITE_OK ||
            bind_bundle(s, 4, a->bundle, a->now) != DB_OK || run(s) != DB_OK)
            return DB_FAIL;
        return sqlite3_changes(d->h) == 1 ? DB_OK : DB_FAIL;
    default:
        return DB_FAIL;
    }
}

static int sq_devlist_append(db *d, const db_append *a, int *status)
{
    *status = DB_APPEND_CONFLICT;
    if (op_begin(d) != DB_OK) return DB_FAIL;
    uint64_t head;
    int ret = head_of(d, a->user, &head);
    if (ret == DB_OK && head == a->expect_head) {
        for (size_t i = 0; i < a->n && ret == DB_OK; i++) {
            if (a->changes[i].seq != a->expect_head + 1 + i) ret = DB_FAIL;
            else ret = append_one(d, a, &a->changes[i]);
        }
        if (ret == DB_OK) *status = DB_APPEND_OK;
    }
    if (op_end(d, ret == DB_OK && *status == DB_APPEND_OK) != DB_OK) ret = DB_FAIL;
    return ret;
}

static int sq_reregister(db *d, const db_rereg *r, int *found)
{
    *found = 0;
    if (op_begin(d) != DB_OK) return DB_FAIL;
    sqlite3_stmt *s = stmt(d, S_DEV_REREG);
    int ret = DB_FAIL;
    if (bind_ud(s, r->user, r->device) == DB_OK &&
        sqlite3_bind_int64(s, 3, r->registration_id) == SQLITE_OK &&
        bind_bundle(s, 4, r->bundle, r->now) == DB_OK && run(s) == DB_OK) {
        *found = sqlite3_changes(d->h) == 1;
        ret = DB_OK;
        if (*found) {
            /* A new state: its prekeys start afresh. */
            sqlite3_stmt *o = stmt(d, S_DEL_OTK), *p = stmt(d, S_DEL_SPENT);
            if (bind_ud(o, r->user, r->device) != DB_OK || run(o) != DB_OK ||
                bind_ud(p, r->user, r->device) != DB_OK || run(p) != DB_OK)
                ret = DB_FAIL;
        }
    }
    if (op_end(d, ret == DB_OK && *found) != DB_OK) ret = DB_FAIL;
    return ret;
}

/* The stored key of one-time id in table S_OTK_GET or S_SPENT_GET: 1 found,
 * 0 not, DB_FAIL. */
static int otk_lookup(db *d, int which, const char *user, uint32_t device, uint32_t id,
                      uint8_t key[DB_KEYBYTES])
{
    sqlite3_stmt *s = stmt(d, which);
    if (bind_ud(s, user, device) != DB_OK || sqlite3_bind_int64(s, 3, id) != SQLITE_OK)
        return DB_FAIL;
    int rc = sqlite3_step(s), ret;
    if (rc == SQLITE_ROW) ret = col_blob_n(s, 0, key, DB_KEYBYTES) == DB_OK ? 1 : DB_FAIL;
    else ret = rc == SQLITE_DONE ? 0 : DB_FAIL;
    sqlite3_reset(s);
    return ret;
}

static int keys_put_body(db *d, const db_keys_put *k, db_keys_res *res)
{
    sqlite3_stmt *s = stmt(d, S_DEV_KEYS);
    if (bind_ud(s, k->user, k->device) != DB_OK) return DB_FAIL;
    int rc = sqlite3_step(s);
    int64_t act = 0, spk_id = -1, otk_max = 0;
    uint8_t spk[DB_KEYBYTES];
    int ok = 0;
    if (rc == SQLITE_ROW) {
        ok = col_int(s, 0, 0, 1, &act) == DB_OK && col_int(s, 3, 0, U32MAX, &otk_max) == DB_OK &&
             (sqlite3_column_type(s, 1) == SQLITE_NULL ||
              (col_int(s, 1, 0, U32MAX, &spk_id) == DB_OK &&
               col_blob_n(s, 2, spk, DB_KEYBYTES) == DB_OK));
    }
    sqlite3_reset(s);
    if (rc == SQLITE_DONE || (ok && act != 1)) {
        res->status = DB_KEYS_NO_DEVICE;
        return DB_OK;
    }
    if (!ok) return DB_FAIL;
    if (k->bundle != NULL) {
        /* Signed prekey ids only increase; the same id must carry the same key. */
        if (spk_id >= 0 && (int64_t)k->bundle->spk_id < spk_id) {
            res->status = DB_KEYS_SPK_OLD;
            res->bad_id = k->bundle->spk_id;
            return DB_OK;
        }
        if ((int64_t)k->bundle->spk_id == spk_id && memcmp(spk, k->bundle->spk, DB_KEYBYTES) != 0) {
            res->status = DB_KEYS_SPK_CONFLICT;
            res->bad_id = k->bundle->spk_id;
            return DB_OK;
        }
        s = stmt(d, S_DEV_SET_BUNDLE);
        if (bind_ud(s, k->user, k->device) != DB_OK || bind_bundle(s, 3, k->bundle, k->now) != DB_OK ||
            run(s) != DB_OK)
            return DB_FAIL;
    }
    uint32_t newmax = (uint32_t)otk_max;
    for (size_t i = 0; i < k->n; i++) {
        uint32_t id = k->ids[i];
        if (id > (uint32_t)otk_max) {
            s = stmt(d, S_OTK_INS);
            if (bind_ud(s, k->user, k->device) != DB_OK || sqlite3_bind_int64(s, 3, id) != SQLITE_OK ||
                sqlite3_bind_blob(s, 4, k->keys[i], DB_KEYBYTES, SQLITE_STATIC) != SQLITE_OK ||
                run(s) != DB_OK)
                return DB_FAIL;
            if (id > newmax) newmax = id;
            continue;
        }
        /* At or below the highest id: only an identical re-upload of a key
         * that is held or was handed out (within the retention) passes, and
         * it changes nothing: a handed-out key never comes back. */
        uint8_t have[DB_KEYBYTES];
        int f = otk_lookup(d, S_OTK_GET, k->user, k->device, id, have);
        if (f == 0) f = otk_lookup(d, S_SPENT_GET, k->user, k->device, id, have);
        if (f < 0) return DB_FAIL;
        if (f == 0 || memcmp(have, k->keys[i], DB_KEYBYTES) != 0) {
            res->status = DB_KEYS_OTK_CONFLICT;
            res->bad_id = id;
            return DB_OK;
        }
    }
    if (newmax != (uint32_t)otk_max) {
        s = stmt(d, S_DEV_SET_OTKMAX);
        if (bind_ud(s, k->user, k->device) != DB_OK || sqlite3_bind_int64(s, 3, newmax) != SQLITE_OK ||
            run(s) != DB_OK)
            return DB_FAIL;
    }
    int64_t cnt;
    s = stmt(d, S_OTK_COUNT);
    if (bind_ud(s, k->user, k->device) != DB_OK) return DB_FAIL;
    rc = sqlite3_step(s);
    ok = rc == SQLITE_ROW && col_int(s, 0, 0, INT64_MAX, &cnt) == DB_OK;
    sqlite3_reset(s);
    if (!ok) return DB_FAIL;
    if (cnt > (int64_t)k->max_stored) {
        res->status = DB_KEYS_TOO_MANY;
        return DB_OK;
    }
    res->status = DB_KEYS_OK;
    res->stored = (uint32_t)cnt;
    return DB_OK;
}

static int sq_keys_put(db *d, const db_keys_put *k, db_keys_res *res)
{
    memset(res, 0, sizeof *res);
    if (op_begin(d) != DB_OK) return DB_FAIL;
    int ret = keys_put_body(d, k, res);
    if (op_end(d, ret == DB_OK && res->status == DB_KEYS_OK) != DB_OK) ret = DB_FAIL;
    return ret;
}

static int claim_body(db *d, const db_claim *c, db_claim_res *res)
{
    db_device *devs = NULL;
    size_t nd = 0;
    if (sq_devices(d, c->user, &devs, &nd, &res->version) != DB_OK) return DB_FAIL;
    if (c->devices == NULL && strcmp(c->user, c->req_user) == 0) {
        /* Every device of one's own user: every other one. */
        size_t k = 0;
        for (size_t i = 0; i < nd; i++)
            if (devs[i].id != c->req_device) devs[k++] = devs[i];
        nd = k;
    }
    if (nd == 0) {
        free(devs);
        res->status = DB_CLAIM_NO_USER;
        return DB_OK;
    }
    /* The targets: every active device, or the listed ones (each active). */
    size_t nt = c->devices != NULL ? c->ndevices : nd;
    uint32_t *targets = malloc((nt ? nt : 1) * sizeof *targets);
    int64_t *tats = malloc((nt ? nt : 1) * sizeof *tats);
    res->items = calloc(nt ? nt : 1, sizeof *res->items);
    int ret = DB_OK;
    if (targets == NULL || tats == NULL || res->items == NULL) ret = DB_FAIL;
    for (size_t i = 0; ret == DB_OK && i < nt; i++) {
        if (c->devices == NULL) {
            targets[i] = devs[i].id;
            continue;
        }
        size_t j = 0;
        while (j < nd && devs[j].id != c->devices[i]) j++;
        if (j == nd) {
            res->status = DB_CLAIM_NO_DEVICE;
            res->bad_device = c->devices[i];
            goto out;
        }
        targets[i] = c->devices[i];
    }
    /* Rate limit first, for every target: a refusal claims nothing. */
    for (size_t i = 0; ret == DB_OK && i < nt; i++) {
        sqlite3_stmt *s = stmt(d, S_RL_GET);
        if (bind_ud(s, c->req_user, c->req_device) != DB_OK ||
            sqlite3_bind_text(s, 3, c->user, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(s, 4, targets[i]) != SQLITE_OK) {
            ret = DB_FAIL;
            break;
        }
        int rc = sqlite3_step(s);
        int64_t tat = 0, ra;
        if (rc == SQLITE_ROW && col_int(s, 0, INT64_MIN, INT64_MAX, &tat) != DB_OK) rc = SQLITE_ERROR;
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            ret = DB_FAIL;
            break;
        }
        if (!db_gcra(tat, c->now, c->burst, c->interval, &tats[i], &ra)) {
            res->status = DB_CLAIM_LIMITED;
            if (ra > res->retry_after) res->retry_after = ra;
        }
    }
    if (ret != DB_OK || res->status == DB_CLAIM_LIMITED) goto out;
    for (size_t i = 0; i < nt; i++) {
        sqlite3_stmt *s = stmt(d, S_RL_PUT);
        if (bind_ud(s, c->req_user, c->req_device) != DB_OK ||
            sqlite3_bind_text(s, 3, c->user, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(s, 4, targets[i]) != SQLITE_OK ||
            sqlite3_bind_int64(s, 5, tats[i]) != SQLITE_OK || run(s) != DB_OK) {
            ret = DB_FAIL;
            goto out;
        }
        db_claimed *it = &res->items[i];
        it->device = targets[i];
        s = stmt(d, S_DEV_BUNDLE);
        if (bind_ud(s, c->user, targets[i]) != DB_OK) {
            ret = DB_FAIL;
            goto out;
        }
        int64_t reg;
        int rc = sqlite3_step(s);
        int ok = rc == SQLITE_ROW && col_int(s, 0, 0, U32MAX, &reg) == DB_OK &&
                 col_blob_dup(s, 1, RBX_BUNDLE_MAXBYTES, &it->bundle, &it->bundle_len) == DB_OK;
        sqlite3_reset(s);
        res->n = i + 1;
        if (!ok) {
            ret = DB_FAIL;
            goto out;
        }
        it->registration_id = (uint32_t)reg;
        s = stmt(d, S_CLAIM);
        if (bind_ud(s, c->user, targets[i]) != DB_OK) {
            ret = DB_FAIL;
            goto out;
        }
        rc = sqlite3_step(s);
        int64_t oid = 0;
        if (rc == SQLITE_ROW) {
            ok = col_int(s, 0, 0, U32MAX, &oid) == DB_OK &&
                 col_blob_n(s, 1, it->otk, DB_KEYBYTES) == DB_OK;
            it->has_otk = 1;
            it->otk_id = (uint32_t)oid;
            if (ok) rc = sqlite3_step(s); /* runs the DELETE to its end */
        } else
            ok = rc == SQLITE_DONE;
        sqlite3_reset(s);
        if (!ok || rc != SQLITE_DONE) {
            ret = DB_FAIL;
            goto out;
        }
        if (it->has_otk) {
            s = stmt(d, S_SPENT_INS);
            if (bind_ud(s, c->user, targets[i]) != DB_OK ||
                sqlite3_bind_int64(s, 3, it->otk_id) != SQLITE_OK ||
                sqlite3_bind_blob(s, 4, it->otk, DB_KEYBYTES, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_int64(s, 5, c->now) != SQLITE_OK || run(s) != DB_OK) {
                ret = DB_FAIL;
                goto out;
            }
        }
        int64_t left;
        s = stmt(d, S_OTK_COUNT);
        if (bind_ud(s, c->user, targets[i]) != DB_OK) {
            ret = DB_FAIL;
            goto out;
        }
        ok = sqlite3_step(s) == SQLITE_ROW && col_int(s, 0, 0, U32MAX, &left) == DB_OK;
        sqlite3_reset(s);
        if (!ok) {
            ret = DB_FAIL;
            goto out;
        }
        it->remaining = (uint32_t)left;
    }
    res->status = DB_CLAIM_OK;
out:
    free(devs);
    free(targets);
    free(tats);
    return ret;
}

static int sq_claim(db *d, const db_claim *c, db_claim_res *res)
{
    memset(res, 0, sizeof *res);
    if (op_begin(d) != DB_OK) return DB_FAIL;
    int ret = claim_body(d, c, res);
    int keep = ret == DB_OK && res->status == DB_CLAIM_OK;
    if (op_end(d, keep) != DB_OK) ret = DB_FAIL;
    if (!keep) {
        uint64_t v = res->version;
        int st = res->status;
        int64_t ra = res->retry_after;
        uint32_t bad = res->bad_device;
        db_claim_res_free(res);
        res->version = v;
        res->status = st;
        res->retry_after = ra;
        res->bad_device = bad;
    }
    return ret;
}

typedef struct send_dev {
    char user[DB_USER_MAX];
    uint32_t device;
    uint32_t registration_id;
    int64_t count, bytes;
    int seen;
} send_dev;

static int addr_push(db_addr **v, size_t *n, const char *user, uint32_t device)
{
    db_addr *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (nv == NULL) return DB_FAIL;
    *v = nv;
    snprintf(nv[*n].user, sizeof nv[*n].user, "%s", user);
    nv[*n].device = device;
    (*n)++;
    return DB_OK;
}

static int send_body(db *d, const db_send *m, db_send_res *res)
{
    /* Idempotency first: a retry of an accepted send is accepted again even
     * if the device lists changed since. */
    sqlite3_stmt *s = stmt(d, S_SENT_GET);
    if (bind_ud(s, m->sender_user, m->sender_device) != DB_OK ||
        sqlite3_bind_blob(s, 3, m->message_id, DB_MSGIDBYTES, SQLITE_STATIC) != SQLITE_OK)
        return DB_FAIL;
    int rc = sqlite3_step(s);
    uint8_t h[DB_HASHBYTES];
    int ok = rc == SQLITE_DONE || (rc == SQLITE_ROW && col_blob_n(s, 0, h, DB_HASHBYTES) == DB_OK);
    sqlite3_reset(s);
    if (!ok) return DB_FAIL;
    if (rc == SQLITE_ROW) {
        res->status = memcmp(h, m->body_hash, DB_HASHBYTES) == 0 ? DB_SEND_DUPLICATE
                                                                 : DB_SEND_ID_CONFLICT;
        return DB_OK;
    }
    /* The expected set: every active device of `to`, and every other active
     * device of the sender's user. */
    s = stmt(d, S_SEND_DEVICES);
    if (s == NULL || sqlite3_bind_text(s, 1, m->to, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, m->sender_user, -1, SQLITE_STATIC) != SQLITE_OK)
        return DB_FAIL;
    send_dev *v = NULL;
    size_t nv = 0, cap = 0;
    int ret = DB_OK, any_to = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(s, 0);
        int64_t dev, reg, cnt, by;
        if (u == NULL || strlen((const char *)u) >= DB_USER_MAX ||
            col_int(s, 1, 1, DEVMAX, &dev) != DB_OK || col_int(s, 2, 0, U32MAX, &reg) != DB_OK ||
            col_int(s, 3, 0, INT64_MAX, &cnt) != DB_OK || col_int(s, 4, 0, INT64_MAX, &by) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
        if (strcmp((const char *)u, m->sender_user) == 0 && (uint32_t)dev == m->sender_device)
            continue;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 16;
            send_dev *x = realloc(v, nc * sizeof *x);
            if (x == NULL) {
                ret = DB_FAIL;
                break;
            }
            v = x;
            cap = nc;
        }
        snprintf(v[nv].user, sizeof v[nv].user, "%s", (const char *)u);
        v[nv].device = (uint32_t)dev;
        v[nv].registration_id = (uint32_t)reg;
        v[nv].count = cnt;
        v[nv].bytes = by;
        v[nv].seen = 0;
        if (strcmp(v[nv].user, m->to) == 0) any_to = 1;
        nv++;
    }
    if (ret == DB_OK && rc != SQLITE_DONE) ret = DB_FAIL;
    sqlite3_reset(s);
    if (ret != DB_OK) goto out;
    if (!any_to) {
        res->status = DB_SEND_NO_USER;
        goto out;
    }
    /* Compare: extra (no such current device), stale (registration id),
     * missing (a current device without an envelope). */
    send_dev **match = calloc(m->n ? m->n : 1, sizeof *match);
    if (match == NULL) {
        ret = DB_FAIL;
        goto out;
    }
    for (size_t i = 0; i < m->n && ret == DB_OK; i++) {
        const db_envelope *e = &m->env[i];
        send_dev *x = NULL;
        for (size_t j = 0; j < nv; j++)
            if (v[j].device == e->device && strcmp(v[j].user, e->user) == 0) x = &v[j];
        match[i] = x;
        if (x == NULL) ret = addr_push(&res->extra, &res->nextra, e->user, e->device);
        else {
            x->seen = 1;
            if (x->registration_id != e->registration_id)
                ret = addr_push(&res->stale, &res->nstale, e->user, e->device);
        }
    }
    /* A targeted send (a retry request, a re-send) names a subset. */
    for (size_t j = 0; j < nv && ret == DB_OK && !m->targeted; j++)
        if (!v[j].seen) ret = addr_push(&res->missing, &res->nmissing, v[j].user, v[j].device);
    if (ret == DB_OK && (res->nextra || res->nstale || res->nmissing)) {
        res->status = DB_SEND_MISMATCH;
        free(match);
        goto out;
    }
    for (size_t i = 0; i < m->n && ret == DB_OK; i++) {
        send_dev *x = match[i];
        if (x->count + 1 > (int64_t)m->mbox_max ||
            (uint64_t)x->bytes + m->env[i].len > m->mbox_max_bytes)
            ret = addr_push(&res->full, &res->nfull, x->user, x->device);
    }
    if (ret == DB_OK && res->nfull) {
        res->status = DB_SEND_FULL;
        free(match);
        goto out;
    }
    for (size_t i = 0; i < m->n && ret == DB_OK; i++) {
        const db_envelope *e = &m->env[i];
        s = stmt(d, S_MBOX_INS);
        if (bind_ud(s, e->user, e->device) != DB_OK ||
            sqlite3_bind_blob(s, 3, m->message_id, DB_MSGIDBYTES, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_text(s, 4, m->sender_user, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(s, 5, m->sender_device) != SQLITE_OK ||
            sqlite3_bind_int64(s, 6, m->now) != SQLITE_OK ||
            sqlite3_bind_blob64(s, 7, e->body, e->len, SQLITE_STATIC) != SQLITE_OK ||
            run(s) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
        s = stmt(d, S_MBOX_ADD);
        if (bind_ud(s, e->user, e->device) != DB_OK ||
            sqlite3_bind_int64(s, 3, (int64_t)e->len) != SQLITE_OK || run(s) != DB_OK)
            ret = DB_FAIL;
    }
    free(match);
    if (ret != DB_OK) goto out;
    s = stmt(d, S_SENT_INS);
    if (bind_ud(s, m->sender_user, m->sender_device) != DB_OK ||
        sqlite3_bind_blob(s, 3, m->message_id, DB_MSGIDBYTES, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(s, 4, m->body_hash, DB_HASHBYTES, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 5, m->now) != SQLITE_OK || run(s) != DB_OK) {
        ret = DB_FAIL;
        goto out;
    }
    res->status = DB_SEND_OK;
    res->stored = (uint32_t)m->n;
out:
    free(v);
    return ret;
}

static int sq_send(db *d, const db_send *m, db_send_res *res)
{
    memset(res, 0, sizeof *res);
    if (op_begin(d) != DB_OK) return DB_FAIL;
    int ret = send_body(d, m, res);
    if (op_end(d, ret == DB_OK && res->status == DB_SEND_OK) != DB_OK) ret = DB_FAIL;
    return ret;
}

static int sq_ack(db *d, const char *user, uint32_t device, const int64_t *ids, size_t n,
                  uint64_t *deleted)
{
    *deleted = 0;
    if (op_begin(d) != DB_OK) return DB_FAIL;
    int64_t cnt = 0, bytes = 0;
    int ret = DB_OK;
    for (size_t i = 0; i < n && ret == DB_OK; i++) {
        sqlite3_stmt *s = stmt(d, S_ACK_DEL);
        if (bind_ud(s, user, device) != DB_OK || sqlite3_bind_int64(s, 3, ids[i]) != SQLITE_OK) {
            ret = DB_FAIL;
            break;
        }
        int rc = sqlite3_step(s);
        int64_t len = 0;
        if (rc == SQLITE_ROW) {
            if (col_int(s, 0, 0, INT64_MAX, &len) != DB_OK) ret = DB_FAIL;
            else {
                cnt++;
                bytes += len;
                rc = sqlite3_step(s);
            }
        }
        if (ret == DB_OK && rc != SQLITE_DONE) ret = DB_FAIL;
        sqlite3_reset(s);
    }
    if (ret == DB_OK && cnt > 0) {
        sqlite3_stmt *s = stmt(d, S_MBOX_SUB);
        if (bind_ud(s, user, device) != DB_OK || sqlite3_bind_int64(s, 3, cnt) != SQLITE_OK ||
            sqlite3_bind_int64(s, 4, bytes) != SQLITE_OK || run(s) != DB_OK)
            ret = DB_FAIL;
    }
    if (op_end(d, ret == DB_OK) != DB_OK) ret = DB_FAIL;
    if (ret == DB_OK) *deleted = (uint64_t)cnt;
    return ret;
}

static int del_before(db *d, int which, int64_t t, uint64_t *count)
{
    sqlite3_stmt *s = stmt(d, which);
    if (s == NULL || sqlite3_bind_int64(s, 1, t) != SQLITE_OK || run(s) != DB_OK) return DB_FAIL;
    *count = (uint64_t)sqlite3_changes(d->h);
    return DB_OK;
}

static int sq_expire(db *d, int64_t now, int64_t retention, db_expire_res *res)
{
    memset(res, 0, sizeof *res);
    if (op_begin(d) != DB_OK) return DB_FAIL;
    int64_t cutoff = now - retention;
    int ret = DB_OK;
    /* The mailbox counters first, from what is about to go. */
    sqlite3_stmt *s = stmt(d, S_EXP_AGG);
    if (s == NULL || sqlite3_bind_int64(s, 1, cutoff) != SQLITE_OK) ret = DB_FAIL;
    typedef struct {
        char user[DB_USER_MAX];
        int64_t device, cnt, bytes;
    } agg;
    agg *v = NULL;
    size_t nv = 0;
    int rc = SQLITE_DONE;
    while (ret == DB_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(s, 0);
        agg *x = realloc(v, (nv + 1) * sizeof *x);
        if (x == NULL || u == NULL || strlen((const char *)u) >= DB_USER_MAX) {
            if (x != NULL) v = x;
            ret = DB_FAIL;
            break;
        }
        v = x;
        snprintf(v[nv].user, sizeof v[nv].user, "%s", (const char *)u);
        if (col_int(s, 1, 0, DEVMAX, &v[nv].device) != DB_OK ||
            col_int(s, 2, 0, INT64_MAX, &v[nv].cnt) != DB_OK ||
            col_int(s, 3, 0, INT64_MAX, &v[nv].bytes) != DB_OK) {
            ret = DB_FAIL;
            break;
        }
        nv++;
    }
    if (ret == DB_OK && rc != SQLITE_DONE) ret = DB_FAIL;
    if (s != NULL) sqlite3_reset(s);
    for (size_t i = 0; i < nv && ret == DB_OK; i++) {
        s = stmt(d, S_MBOX_SUB);
        if (bind_ud(s, v[i].user, (uint32_t)v[i].device) != DB_OK ||
            sqlite3_bind_int64(s, 3, v[i].cnt) != SQLITE_OK ||
            sqlite3_bind_int64(s, 4, v[i].bytes) != SQLITE_OK || run(s) != DB_OK)
            ret = DB_FAIL;
    }
    free(v);
    if (ret == DB_OK) ret = del_before(d, S_EXP_MBOX, cutoff, &res->messages);
    if (ret == DB_OK) ret = del_before(d, S_EXP_NONCE, now, &res->nonces);
    if (ret == DB_OK) ret = del_before(d, S_EXP_SENT, cutoff, &res->sent);
    if (ret == DB_OK) ret = del_before(d, S_EXP_SPENT, cutoff, &res->spent);
    uint64_t rl;
    if (ret == DB_OK) ret = del_before(d, S_EXP_RL, now, &rl);
    if (ret == DB_OK) ret = del_before(d, S_EXP_LINK, now, &rl);
    if (op_end(d, ret == DB_OK) != DB_OK) ret = DB_FAIL;
    return ret;
}

/* ---------------------------------------------------------------- links */

/* The link's two slots, if it exists and has not expired. */
static int link_read(db *d, const uint8_t id[DB_LINK_IDBYTES], int64_t now, uint8_t **req,
                     size_t *reqlen, uint8_t **appr, size_t *apprlen, int *found)
{
    *req = *appr = NULL;
    *reqlen = *apprlen = 0;
    *found = 0;
    sqlite3_stmt *s = stmt(d, S_LINK_GET);
    if (s == NULL || sqlite3_bind_blob(s, 1, id, DB_LINK_IDBYTES, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, now) != SQLITE_OK)
        return DB_FAIL;
    int rc = sqlite3_step(s), ret = DB_OK;
    if (rc == SQLITE_ROW) {
        *found = 1;
        if (col_blob_dup(s, 0, 1U << 16, req, reqlen) != DB_OK ||
            (sqlite3_column_type(s, 1) != SQLITE_NULL &&
             col_blob_dup(s, 1, 1U << 16, appr, apprlen) != DB_OK))
            ret = DB_FAIL;
    } else if (rc != SQLITE_DONE) {
        ret = DB_FAIL;
    }
    sqlite3_reset(s);
    if (ret != DB_OK) {
        free(*req);
        free(*appr);
        *req = *appr = NULL;
        *reqlen = *apprlen = 0;
        *found = 0;
    }
    return ret;
}

static int sq_link_get(db *d, const uint8_t id[DB_LINK_IDBYTES], int64_t now, uint8_t **req,
                       size_t *reqlen, uint8_t **appr, size_t *apprlen, int *found)
{
    return link_read(d, id, now, req, reqlen, appr, apprlen, found);
}

static int link_body(db *d, const db_link_put *l, int *status)
{
    uint8_t *req, *appr;
    size_t rl, al;
    int found;
    if (link_read(d, l->id, l->now, &req, &rl, &appr, &al, &found) != DB_OK) return DB_FAIL;
    int ret = DB_OK;
    const uint8_t *cur = l->slot == DB_LINK_REQUEST ? req : appr;
    size_t curlen = l->slot == DB_LINK_REQUEST ? rl : al;
    if (cur != NULL) {
        /* Written once: the same bytes again are a retry, others a conflict. */
        *status = curlen == l->len && memcmp(cur, l->data, l->len) == 0 ? DB_LINK_SAME
                                                                          : DB_LINK_CONFLICT;
    } else if (l->slot == DB_LINK_APPROVAL && !found) {
        *status = DB_LINK_NONE;
    } else if (l->slot == DB_LINK_APPROVAL) {
        sqlite3_stmt *s = stmt(d, S_LINK_APPROVE);
        if (s == NULL || sqlite3_bind_blob(s, 1, l->id, DB_LINK_IDBYTES, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_blob(s, 2, l->data, (int)l->len, SQLITE_STATIC) != SQLITE_OK || run(s) != DB_OK)
            ret = DB_FAIL;
        else *status = DB_LINK_OK;
    } else {
        sqlite3_stmt *s = stmt(d, S_LINK_COUNT);
        int64_t n = 0;
        if (s == NULL || sqlite3_bind_int64(s, 1, l->now) != SQLITE_OK ||
            sqlite3_step(s) != SQLITE_ROW || col_int(s, 0, 0, INT64_MAX, &n) != DB_OK)
            ret = DB_FAIL;
        if (s != NULL) sqlite3_reset(s);
        if (ret == DB_OK && (uint64_t)n >= l->max_links) {
            *status = DB_LINK_FULL;
        } else if (ret == DB_OK) {
            /* An expired row under the same id is replaced. */
            s = stmt(d, S_LINK_INS);
            if (s == NULL || sqlite3_bind_blob(s, 1, l->id, DB_LINK_IDBYTES, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_blob(s, 2, l->data, (int)l->len, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_bind_int64(s, 3, l->expires) != SQLITE_OK || run(s) != DB_OK)
                ret = DB_FAIL;
            else *status = DB_LINK_OK;
        }
    }
    free(req);
    free(appr);
    return ret;
}

static int sq_link_put(db *d, const db_link_put *l, int *status)
{
    *status = DB_LINK_NONE;
    if (op_begin(d) != DB_OK) return DB_FAIL;
    int ret = link_body(d, l, status);
    if (op_end(d, ret == DB_OK && *status == DB_LINK_OK) != DB_OK) ret = DB_FAIL;
    return ret;
}

const db_ops db_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .device_get = sq_device_get,
    .device_keys = sq_device_keys,
    .devices = sq_devices,
    .devlist_get = sq_devlist_get,
    .key_status = sq_key_status,
    .mailbox_fetch = sq_mailbox_fetch,
    .stats = sq_stats,
    .link_get = sq_link_get,
    .link_put = sq_link_put,
    .nonce_put = sq_nonce_put,
    .devlist_append = sq_devlist_append,
    .reregister = sq_reregister,
    .keys_put = sq_keys_put,
    .claim = sq_claim,
    .send = sq_send,
    .ack = sq_ack,
    .expire = sq_expire,
};
