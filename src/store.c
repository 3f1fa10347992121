/* SPDX-License-Identifier: MIT
 * The SQLite store: durable, crash-safe, concurrent and forward-secure at rest
 * (PROTOCOL.md "State and storage"). Everything that changes ratchet state
 * runs in one BEGIN IMMEDIATE transaction: load, advance, store, commit, and
 * only then is a ciphertext or plaintext handed out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "rotation.h"
#include "sign.h"
#include "store.h"

#define BUSY_TIMEOUT_MS 15000
#define SIDECAR_BYTES (4U + 8U + 16U)
#define SIDECAR_MAGIC "RBXG"

struct rbx_store {
    sqlite3 *db;
    uint8_t key[RBX_STORAGE_KEYBYTES];
    uint8_t store_id[16];
    int mode;
    unsigned erase_commits, erase_seconds;
    unsigned commits_since_erase;
    int64_t last_erase_ms;          /* mono_ms() at the last erase point */
    int sidecar_fd;
    uint8_t sidecar_key[32];
    int closing;
    int page_size;
    int opened_mode;               /* the caller's mode; the policy may raise it */
    uint32_t max_skip, max_skipped; /* policy limits for loaded sessions */
    int64_t (*clock)(void *ctx);
    void *clock_ctx;
    /* Room for every SQL text of the store and its modules (about 90), so
     * that a long-lived handle never prepares a hot statement per call. */
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } stmts[128];
    size_t nstmts;
};

sqlite3 *rbx__store_db(rbx_store *st) { return st->db; }

int64_t rbx__st_now(const rbx_store *st)
{
    return st->clock != NULL ? st->clock(st->clock_ctx) : (int64_t)time(NULL);
}

/* Bounded mode's erase interval is elapsed time, not a date: it runs on
 * CLOCK_MONOTONIC, so that a wall clock set back cannot postpone an erase
 * point (P 15.5: "at the first commit erase_seconds after the last erase
 * point"), nor one set forward force it; the injected clock is for policy
 * times. -1 if the clock fails (it does not on Linux): the erase is then due. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rbx__st_apply_policy(rbx_store *st, const rbx_policy *p)
{
    st->mode = p->storage_mode == RBX_STORE_STRICT ? RBX_STORE_STRICT : st->opened_mode;
    st->max_skip = p->max_skip;
    st->max_skipped = p->max_skipped_keys;
}
const uint8_t *rbx__store_key(const rbx_store *st) { return st->key; }

/* ------------------------------------------------------------ row crypto */

/* AD = "rbx-row-v1" || table || 0 || be64(rowkey) || be64(generation) || column || 0:
 * a row cannot be moved to another table, row, generation or column. */
static size_t row_ad(uint8_t ad[128], const char *table, int64_t rowkey, int64_t gen,
                     const char *column)
{
    size_t n = 0, tl = strlen(table), cl = strlen(column);
    memcpy(ad, "rbx-row-v1", 10), n = 10;
    memcpy(ad + n, table, tl + 1), n += tl + 1;
    rbx__store64_be(ad + n, (uint64_t)rowkey), n += 8;
    rbx__store64_be(ad + n, (uint64_t)gen), n += 8;
    memcpy(ad + n, column, cl + 1), n += cl + 1;
    return n;
}

static uint8_t *row_seal(size_t *outlen, const uint8_t key[32], const char *table, int64_t rowkey,
                         int64_t gen, const char *column, const uint8_t *pt, size_t ptlen)
{
    uint8_t ad[128];
    size_t adlen = row_ad(ad, table, rowkey, gen, column);
    /* The length is stored as be32, and the sum must not wrap: both checked
     * before the sum is formed. */
    uint8_t *out = ptlen <= UINT32_MAX && ptlen <= SIZE_MAX - RBX_ROW_OVERHEAD
                       ? malloc(ptlen + RBX_ROW_OVERHEAD)
                       : NULL;
    if (out == NULL) return NULL;
    memcpy(out, RBX_ROW_MAGIC, 4);
    rbx__store32_be(out + 4, (uint32_t)ptlen);
    randombytes_buf(out + 8, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 32, NULL, pt, ptlen, ad, adlen, NULL,
                                               out + 8, key);
    *outlen = ptlen + RBX_ROW_OVERHEAD;
    return out;
}

int rbx__row_open(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t key[32],
                  const char *table, int64_t rowkey, int64_t gen, const char *column,
                  const uint8_t *in, size_t len)
{
    uint8_t ad[128];
    *outlen = 0;
    if (len < RBX_ROW_OVERHEAD || memcmp(in, RBX_ROW_MAGIC, 4) != 0 ||
        rbx__load32_be(in + 4) != len - RBX_ROW_OVERHEAD)
        return RBX_E_CORRUPT;
    if (outcap < len - RBX_ROW_OVERHEAD) return RBX_E_BUFFER;
    size_t adlen = row_ad(ad, table, rowkey, gen, column);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + 32, len - 32, ad, adlen,
                                                   in + 8, key) != 0)
        return RBX_E_CORRUPT;
    *outlen = len - RBX_ROW_OVERHEAD;
    return 0;
}

/* ------------------------------------------------------------ SQL helpers */

int rbx__sql_err(int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return RBX_E_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return RBX_E_CORRUPT;
    default:
        return RBX_E_IO;
    }
}

int rbx__st_exec(rbx_store *st, const char *sql)
{
    return rbx__sql_err(sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

/* Prepared statements are cached per handle, keyed by the address of their
 * SQL text (always a string literal here): preparing costs 4-8 us each,
 * about 28 us per store call, a third of its CPU time (bench/README.md).
 * rbx__st_done() resets a statement for its next use instead of finalising it. */
int rbx__st_prep(rbx_store *st, sqlite3_stmt **s, const char *sql)
{
    size_t i;
    for (i = 0; i < st->nstmts; i++)
        if (st->stmts[i].sql == sql) {
            *s = st->stmts[i].stmt;
            return 0;
        }
    int rc = rbx__sql_err(sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL));
    if (rc != 0 || i == RBX_COUNTOF(st->stmts)) return rc; /* full: used uncached, see rbx__st_done() */
    st->stmts[i].sql = sql;
    st->stmts[i].stmt = *s;
    st->nstmts++;
    return 0;
}

void rbx__st_done(rbx_store *st, sqlite3_stmt *s)
{
    for (size_t i = 0; i < st->nstmts; i++)
        if (st->stmts[i].stmt == s) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            return;
        }
    sqlite3_finalize(s);
}

static void finalize_all(rbx_store *st)
{
    for (size_t i = 0; i < st->nstmts; i++) sqlite3_finalize(st->stmts[i].stmt);
    st->nstmts = 0;
}

/* A single-row query's step: 1 row, 0 none, < 0 error. */
int rbx__st_step(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return rbx__sql_err(rc);
}

int rbx__st_meta_get(rbx_store *st, const char *k, int64_t *v)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) *v = sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    return rc == 1 ? 0 : rc == 0 ? RBX_E_CORRUPT : rc;
}

/* A sealed meta value (the policy seal, the audit head), bound to its key:
 * meta/0/0/<k> (PROTOCOL.md 15.3). */
int rbx__st_meta_seal(rbx_store *st, const char *k, const uint8_t *v, size_t n)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 2, "meta", 0, 0, k, v, n);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* Open a sealed meta value into *v (free with rbx__st_free_secret);
 * RBX_E_NOT_FOUND if there is none. */
int rbx__st_meta_open(rbx_store *st, const char *k, uint8_t **v, size_t *n)
{
    sqlite3_stmt *s;
    *v = NULL;
    *n = 0;
    int rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) rc = rbx__st_column_open(st, v, n, s, 0, "meta", 0, 0, k);
    else if (rc == 0) rc = RBX_E_NOT_FOUND;
    rbx__st_done(st, s);
    return rc;
}

/* Next store generation: every committed change gets a fresh one. */
int rbx__st_next_generation(rbx_store *st, int64_t *gen)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "UPDATE meta SET v = v + 1 WHERE k = 'generation' RETURNING v");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) *gen = sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    return rc == 1 ? 0 : rc == 0 ? RBX_E_CORRUPT : rc;
}

/* ------------------------------------------------------------ rollback sidecar */

static void sidecar_encode(uint8_t out[SIDECAR_BYTES], const rbx_store *st, int64_t gen)
{
    memcpy(out, SIDECAR_MAGIC, 4);
    rbx__store64_be(out + 4, (uint64_t)gen);
    crypto_generichash_state h;
    crypto_generichash_init(&h, st->sidecar_key, sizeof st->sidecar_key, 16);
    crypto_generichash_update(&h, st->store_id, sizeof st->store_id);
    crypto_generichash_update(&h, out, 12);
    crypto_generichash_final(&h, out + 12, 16);
    WIPE(h);
}

/* Stored generation, -1 for an empty (new or lost) sidecar, RBX_E_CORRUPT. */
static int sidecar_read(rbx_store *st, int64_t *gen)
{
    uint8_t buf[SIDECAR_BYTES], want[SIDECAR_BYTES];
    ssize_t n = pread(st->sidecar_fd, buf, sizeof buf, 0);
    if (n == 0) {
        *gen = -1;
        return 0;
    }
    if (n != (ssize_t)sizeof buf) return RBX_E_CORRUPT;
    int64_t g = (int64_t)rbx__load64_be(buf + 4);
    sidecar_encode(want, st, g);
    if (sodium_memcmp(buf, want, sizeof buf) != 0 || g < 0) return RBX_E_CORRUPT;
    *gen = g;
    return 0;
}

/* Raise the sidecar to gen (never lower it), under an exclusive lock so that
 * concurrent processes leave the maximum. Called after COMMIT and before the
 * caller gets the ciphertext: every released ciphertext's generation is then
 * covered, and a crash can only leave the sidecar behind the database, never
 * ahead of it. */
static int sidecar_raise(rbx_store *st, int64_t gen, int sync)
{
    int rc = 0;
    int64_t cur;
    while (flock(st->sidecar_fd, LOCK_EX) != 0)
        if (errno != EINTR) return RBX_E_IO;
    if ((rc = sidecar_read(st, &cur)) == 0 && cur < gen) {
        uint8_t buf[SIDECAR_BYTES];
        sidecar_encode(buf, st, gen);
        if (pwrite(st->sidecar_fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) rc = RBX_E_IO;
    }
    if (rc == 0 && sync && fdatasync(st->sidecar_fd) != 0) rc = RBX_E_IO;
    (void)flock(st->sidecar_fd, LOCK_UN);
    return rc;
}

/* ------------------------------------------------------------ transactions */

int rbx__st_begin(rbx_store *st)
{
    /* busy_timeout makes BEGIN IMMEDIATE wait for other writers; the loop is
     * for the rare SQLITE_BUSY it still returns (a reader upgrading). */
    for (int tries = 0;; tries++) {
        int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return 0;
        if ((rc & 0xff) != SQLITE_BUSY || tries == 100) return rbx__sql_err(rc);
        sqlite3_sleep(10);
    }
}

void rbx__st_rollback(rbx_store *st)
{
    (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The erase point: copy the write-ahead log into the database and truncate
 * it to zero bytes. With secure_delete the freed cells and pages are zeroed,
 * so no earlier version of any row survives in any file. */
/* Pages one store commit appends to the log: meta, sessions, outbox or
 * inbox, and an index page or two. */
#define WAL_FRAMES_PER_COMMIT 5
#define RBX_PAGE_SIZE 2048
#define RBX_STR_(x) #x
#define RBX_STR(x) RBX_STR_(x)

/* After the log was truncated, fill it with zeros up to the size the next
 * erase period will need, while holding the write lock. Appending to a
 * file makes every fdatasync also write its new size (measured: 297 us
 * instead of 104 us per commit here); overwriting zeros in place does not.
 * SQLite treats a log whose header is not valid as empty, and rewrites the
 * header at its first frame, so the zeros are never read as frames. */
static int wal_prefill(rbx_store *st)
{
    sqlite3_file *wal = NULL;
    sqlite3_int64 size = -1;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK &&
        wal != NULL && wal->pMethods != NULL && wal->pMethods->xFileSize(wal, &size) == SQLITE_OK &&
        size == 0) {
        /* Still empty: no other process has written since the checkpoint. */
        static const uint8_t zeros[65536];
        sqlite3_int64 want = (sqlite3_int64)st->erase_commits * WAL_FRAMES_PER_COMMIT * (st->page_size + 24) + 32;
        if (want > 8 << 20) want = 8 << 20;
        for (sqlite3_int64 off = 0; off < want && rc == 0; off += (sqlite3_int64)sizeof zeros) {
            int n = (int)(want - off < (sqlite3_int64)sizeof zeros ? want - off : (sqlite3_int64)sizeof zeros);
            rc = rbx__sql_err(wal->pMethods->xWrite(wal, zeros, n, off));
        }
        if (rc == 0) rc = rbx__sql_err(wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL));
    }
    rbx__st_rollback(st);
    return rc;
}

int rbx__st_erase_point(rbx_store *st)
{
    int rc = SQLITE_BUSY;
    for (int tries = 0; tries < 50 && (rc & 0xff) == SQLITE_BUSY; tries++) {
        rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if ((rc & 0xff) == SQLITE_BUSY) sqlite3_sleep(10);
    }
    rc = rbx__sql_err(rc);
    if (rc != 0) return rc; /* not erased: the next commit tries again */
    st->commits_since_erase = 0;
    st->last_erase_ms = mono_ms();
    /* Strict mode erases after every commit: a prefill per commit would
     * cost more than the growth it avoids. */
    return st->mode == RBX_STORE_BOUNDED && !st->closing ? wal_prefill(st) : 0;
}

/* COMMIT, raise the sidecar, and take an erase point when the mode asks.
 * After a successful COMMIT the change is durable whatever follows: an
 * erase point that fails (a reader holding the log) is retried at the next
 * commit in bounded mode; in strict mode the error is returned, because the
 * promise of that mode was not kept; the caller then finds the committed
 * ciphertext in the outbox, or the plaintext through redelivery. */
int rbx__st_commit(rbx_store *st, int64_t gen)
{
    /* Every state-changing commit takes a fresh generation (P 15.4), so that
     * a restored copy missing any of them is seen (P 15.6). */
    int rc = gen > 0 ? 0 : rbx__st_next_generation(st, &gen);
    if (rc == 0) rc = rbx__sql_err(sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL));
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    int strict = st->mode == RBX_STORE_STRICT;
    st->commits_since_erase++;
    int64_t now_ms = mono_ms();
    int erase = strict || st->commits_since_erase >= st->erase_commits || now_ms < 0 ||
                now_ms - st->last_erase_ms >= (int64_t)st->erase_seconds * 1000;
    int erased = erase && rbx__st_erase_point(st) == 0;
    if ((rc = sidecar_raise(st, gen, erased)) != 0) return rc;
    return strict && !erased ? RBX_E_IO : 0;
}

/* ------------------------------------------------------------ schema */

static const char schema_v1[] =
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v ANY NOT NULL) STRICT;"
    "CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 1), pk BLOB NOT NULL,"
    "  sk BLOB NOT NULL) STRICT;"
    "CREATE TABLE signed_prekeys (id INTEGER PRIMARY KEY, pk BLOB NOT NULL, sk BLOB NOT NULL,"
    "  sig BLOB NOT NULL, created INTEGER NOT NULL) STRICT;"
    "CREATE TABLE onetime_prekeys (id INTEGER PRIMARY KEY, pk BLOB NOT NULL, sk BLOB,"
    "  offered INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, device INTEGER NOT NULL,"
    "  identity BLOB NOT NULL, pin BLOB, bundle BLOB, UNIQUE (name, device)) STRICT;"
    "CREATE INDEX contacts_identity ON contacts (identity);"
    "CREATE TABLE sessions (contact INTEGER PRIMARY KEY REFERENCES contacts (id),"
    "  generation INTEGER NOT NULL, rolled_back INTEGER NOT NULL DEFAULT 0,"
    "  base_key BLOB NOT NULL, state BLOB NOT NULL) STRICT;"
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, contact INTEGER NOT NULL REFERENCES contacts (id),"
    "  wire BLOB NOT NULL, created INTEGER NOT NULL) STRICT;"
    "CREATE TABLE inbox (id INTEGER PRIMARY KEY, contact INTEGER NOT NULL REFERENCES contacts (id),"
    "  digest BLOB NOT NULL UNIQUE, generation INTEGER NOT NULL, pt BLOB NOT NULL,"
    "  created INTEGER NOT NULL) STRICT;";

/* Version 2 (issue 6): policy, audit log, identity rotation (old identities
 * and their records, the identity that signed each prekey and started each
 * session, sessions kept for a grace window, contacts' rotation chain tips,
 * earlier keys and organisation roots), organisation keys and revocations,
 * and the history archive with its epoch keys. */
static const char schema_v2[] =
    "CREATE TABLE policy (k TEXT PRIMARY KEY, v ANY NOT NULL) STRICT;"
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL,"
    "  detail TEXT NOT NULL, hash BLOB NOT NULL) STRICT;"
    "CREATE TABLE old_identities (seq INTEGER PRIMARY KEY, pk BLOB NOT NULL, sk BLOB,"
    "  retired INTEGER NOT NULL, grace_until INTEGER NOT NULL) STRICT;"
    "CREATE TABLE rotations (seq INTEGER PRIMARY KEY, record BLOB NOT NULL) STRICT;"
    "ALTER TABLE signed_prekeys ADD COLUMN ik INTEGER NOT NULL DEFAULT 0;"
    /* 1: the signature covers the creation time (the v2 statement). */
    "ALTER TABLE signed_prekeys ADD COLUMN stated INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN ik INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE retired_sessions (id INTEGER PRIMARY KEY,"
    "  contact INTEGER NOT NULL REFERENCES contacts (id), base_key BLOB NOT NULL,"
    "  until INTEGER NOT NULL, state BLOB NOT NULL) STRICT;"
    "ALTER TABLE contacts ADD COLUMN rot_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE contacts ADD COLUMN rot_hash BLOB;"
    "ALTER TABLE contacts ADD COLUMN org BLOB;"
    "CREATE TABLE contact_keys (contact INTEGER NOT NULL REFERENCES contacts (id),"
    "  identity BLOB NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (contact, identity)) STRICT;"
    "CREATE TABLE org (id INTEGER PRIMARY KEY CHECK (id = 1), pk BLOB NOT NULL,"
    "  sk BLOB NOT NULL) STRICT;"
    "CREATE TABLE certificate (id INTEGER PRIMARY KEY CHECK (id = 1), cert BLOB NOT NULL) STRICT;"
    "CREATE TABLE revocations (org BLOB NOT NULL, identity BLOB NOT NULL, record BLOB NOT NULL,"
    "  PRIMARY KEY (org, identity)) STRICT;"
    "CREATE TABLE archive_epochs (epoch INTEGER PRIMARY KEY, key BLOB, created INTEGER NOT NULL,"
    "  retain_until INTEGER, state INTEGER NOT NULL) STRICT;"
    "CREATE TABLE archive (id INTEGER PRIMARY KEY, session BLOB NOT NULL, seq INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL, peer TEXT NOT NULL, direction INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, ct BLOB NOT NULL, UNIQUE (session, seq)) STRICT;"
    "CREATE INDEX archive_epoch ON archive (epoch);";

/* Forward migrations: migrations[v] takes a database from version v to v + 1.
 * Version 0 is an empty database. */
static const char *const migrations[RBX_SCHEMA_VERSION] = { schema_v1, schema_v2 };

static int create_meta(rbx_store *st)
{
    uint8_t check[RBX_ROW_OVERHEAD + 32], zero[32] = { 0 };
    size_t n;
    uint8_t *kc = row_seal(&n, st->key, "meta", 0, 0, "keycheck", zero, sizeof zero);
    if (kc == NULL) return RBX_E_NOMEM;
    memcpy(check, kc, n);
    free(kc);
    randombytes_buf(st->store_id, sizeof st->store_id);
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s,
                  "INSERT INTO meta (k, v) VALUES ('keycheck', ?1), ('store_id', ?2),"
                  " ('generation', 0), ('created', ?3)");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, check, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, st->store_id, sizeof st->store_id, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

/* What is in an existing file, read without writing anything: a failed open
 * must leave a foreign, newer or damaged database byte-identical. */
static int identify(rbx_store *st, int64_t *version)
{
    int64_t appid = 0, objects = 0;
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT (SELECT user_version FROM pragma_user_version),"
                          " (SELECT application_id FROM pragma_application_id),"
                          " (SELECT count(*) FROM sqlite_schema)");
    if (rc != 0) return rc;
    if ((rc = rbx__st_step(s)) == 1) {
        *version = sqlite3_column_int64(s, 0);
        appid = sqlite3_column_int64(s, 1);
        objects = sqlite3_column_int64(s, 2);
    }
    rbx__st_done(st, s);
    if (rc != 1) return rc == 0 ? RBX_E_CORRUPT : rc;
    /* ratchetbox creates and initialises a database in one call, so an
     * existing one is never empty or unmarked. */
    if (appid != RBX_APPLICATION_ID || *version <= 0 || objects == 0) return RBX_E_CORRUPT;
    if (*version > RBX_SCHEMA_VERSION) return RBX_E_SCHEMA;
    return 0;
}

/* Bring the schema from version to RBX_SCHEMA_VERSION in one transaction;
 * version 0 is a database this call just created. */
static int migrate(rbx_store *st, int64_t version)
{
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    for (int64_t v = version; v < RBX_SCHEMA_VERSION; v++)
        if ((rc = rbx__st_exec(st, migrations[v])) != 0) goto fail;
    if (version == 0 && (rc = create_meta(st)) != 0) goto fail;
    if (version < 2 && ((rc = rbx__audit_init(st)) != 0 || (rc = rbx__policy_init(st)) != 0 ||
                        (rc = rbx__audit(st, version == 0 ? "store created" : "store migrated",
                                         "schema %d", RBX_SCHEMA_VERSION)) != 0))
        goto fail;
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d; PRAGMA application_id = %d",
             RBX_SCHEMA_VERSION, RBX_APPLICATION_ID);
    if (version != RBX_SCHEMA_VERSION && (rc = rbx__st_exec(st, pragma)) != 0) goto fail;
    return rbx__sql_err(sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL));
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ open / close */

static char *path_with(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p != NULL) snprintf(p, n, "%s%s", base, suffix);
    return p;
}

/* Read exactly 32 bytes, or create the file (0600, O_EXCL) with fresh ones. */
static int key_file(uint8_t key[32], const char *path, int create)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) return RBX_E_IO;
        randombytes_buf(key, 32);
        int ok = write(fd, key, 32) == 32 && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok) {
            WIPE_BUF(key, 32);
            (void)unlink(path);
            return RBX_E_IO;
        }
        return 0;
    }
    if (fd < 0) return errno == ENOENT ? RBX_E_NOT_FOUND : RBX_E_IO;
    uint8_t buf[33];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int rc = n == 32 ? 0 : n < 0 ? RBX_E_IO : RBX_E_CORRUPT;
    if (rc == 0) memcpy(key, buf, 32);
    WIPE(buf);
    return rc;
}

static int check_key_and_load(rbx_store *st)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT (SELECT v FROM meta WHERE k = 'keycheck'),"
                          " (SELECT v FROM meta WHERE k = 'store_id')");
    if (rc != 0) return rc;
    if ((rc = rbx__st_step(s)) == 1) {
        /* The type first: after a conversion sqlite3_column_type is undefined. */
        int blob = sqlite3_column_type(s, 0) == SQLITE_BLOB;
        const uint8_t *kc = sqlite3_column_blob(s, 0);
        size_t kclen = (size_t)sqlite3_column_bytes(s, 0);
        const uint8_t *id = sqlite3_column_blob(s, 1);
        uint8_t zero[32];
        size_t n;
        rc = RBX_E_CORRUPT;
        if (blob && kc != NULL && id != NULL && sqlite3_column_bytes(s, 1) == 16) {
            memcpy(st->store_id, id, 16);
            rc = rbx__row_open(zero, sizeof zero, &n, st->key, "meta", 0, 0, "keycheck", kc, kclen);
            rc = rc == RBX_E_CORRUPT ? RBX_E_STORAGE_KEY : rc;
            if (rc == 0 && (n != 32 || !sodium_is_zero(zero, 32))) rc = RBX_E_CORRUPT;
        }
    } else if (rc == 0) {
        rc = RBX_E_CORRUPT;
    }
    rbx__st_done(st, s);
    return rc;
}

static const char *state_column(int rolled_back);

/* Reseal every unmarked session with the rollback mark in its binding. */
static int mark_rolled_back(rbx_store *st)
{
    sqlite3_stmt *sel, *upd;
    int rc = rbx__st_prep(st, &sel, "SELECT contact, generation, state FROM sessions WHERE rolled_back = 0");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &upd, "UPDATE sessions SET rolled_back = 1, state = ?1 WHERE contact = ?2")) != 0) {
        rbx__st_done(st, sel);
        return rc;
    }
    while (rc == 0 && (rc = rbx__st_step(sel)) == 1) {
        int64_t id = sqlite3_column_int64(sel, 0), gen = sqlite3_column_int64(sel, 1);
        uint8_t *blob;
        size_t n;
        if ((rc = rbx__st_column_open(st, &blob, &n, sel, 2, "sessions", id, gen, state_column(0))) != 0)
            break;
        rc = rbx__st_bind_sealed(st, upd, 1, "sessions", id, gen, state_column(1), blob, n);
        rbx__st_free_secret(blob, n);
        sqlite3_bind_int64(upd, 2, id);
        if (rc == 0) rc = rbx__st_step(upd) < 0 ? RBX_E_IO : 0;
        sqlite3_reset(upd);
    }
    rbx__st_done(st, sel);
    rbx__st_done(st, upd);
    return rc < 0 ? rc : 0;
}

/* Compare the database with its sidecar; mark every session rolled back if
 * the database is older than what was already released. */
static int check_rollback_locked(rbx_store *st)
{
    int64_t dbgen = 0, sidegen = 0;
    int rc = sidecar_read(st, &sidegen);
    if (rc != 0 || (rc = rbx__st_meta_get(st, "generation", &dbgen)) != 0) return rc;
    /* A lost sidecar on a used database could hide a rollback: be safe. */
    int rolled = sidegen > dbgen || (sidegen < 0 && dbgen > 0);
    if (rolled) {
        if ((rc = rbx__st_begin(st)) != 0) return rc;
        if ((rc = mark_rolled_back(st)) != 0) {
            rbx__st_rollback(st);
            return rc;
        }
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "UPDATE meta SET v = ?1 WHERE k = 'generation'")) != 0) {
            rbx__st_rollback(st);
            return rc;
        }
        int64_t newgen = (sidegen > dbgen ? sidegen : dbgen) + 1;
        sqlite3_bind_int64(s, 1, newgen);
        rc = rbx__st_step(s);
        rbx__st_done(st, s);
        if (rc >= 0)
            rc = rbx__audit(st, "rollback detected", "database generation %lld, record %lld",
                            (long long)dbgen, (long long)sidegen);
        if (rc < 0) {
            rbx__st_rollback(st);
            return rc;
        }
        return rbx__st_commit(st, newgen);
    }
    if (sidegen < 0) return sidecar_raise(st, dbgen, 1);
    return 0;
}

/* Writers raise the record only after their COMMIT, under this lock; so with
 * the lock held, the database generation read now is at least the record's
 * unless the database really went back. Without the lock, an open racing a
 * writer could see the record raised past the generation it read a moment
 * earlier and report a rollback that did not happen. */
static int check_rollback(rbx_store *st)
{
    while (flock(st->sidecar_fd, LOCK_EX) != 0)
        if (errno != EINTR) return RBX_E_IO;
    int rc = check_rollback_locked(st);
    (void)flock(st->sidecar_fd, LOCK_UN);
    return rc;
}

int rbx_store_open(rbx_store **out, const char *db_path, const rbx_store_opts *opts)
{
    *out = NULL;
    rbx_store_opts o = { 0 };
    if (opts != NULL) o = *opts;
    if (o.mode != RBX_STORE_BOUNDED && o.mode != RBX_STORE_STRICT) return RBX_E_INVALID;
    rbx_store *st = calloc(1, sizeof *st);
    if (st == NULL) return RBX_E_NOMEM;
    st->sidecar_fd = -1;
    st->mode = st->opened_mode = o.mode;
    st->clock = o.clock;
    st->clock_ctx = o.clock_ctx;
    st->max_skip = RBX_MAX_SKIP;
    st->max_skipped = RBX_MAX_SKIPPED_KEYS;
    st->erase_commits = o.erase_commits ? o.erase_commits : RBX_STORE_ERASE_COMMITS;
    st->erase_seconds = o.erase_seconds ? o.erase_seconds : RBX_STORE_ERASE_SECONDS;
    st->last_erase_ms = mono_ms();
    char *keypath = o.key_path ? NULL : path_with(db_path, ".key");
    char *genpath = o.generation_path ? NULL : path_with(db_path, ".gen");
    int rc = RBX_E_NOMEM, db_exists = 0, created_key = 0, created_db = 0;
    struct stat sb;
    if ((!o.key_path && !keypath) || (!o.generation_path && !genpath)) goto fail;
    const char *kp = o.key_path ? o.key_path : keypath;
    const char *gp = o.generation_path ? o.generation_path : genpath;

    /* Creation is serialised on the generation record's lock: two processes
     * creating the same store at once must not both create (or one delete
     * what the other made), and an opener must not see a half-made file. */
    if (o.create) {
        st->sidecar_fd = open(gp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (st->sidecar_fd < 0) {
            rc = RBX_E_IO;
            goto fail;
        }
        while (flock(st->sidecar_fd, LOCK_EX) != 0)
            if (errno != EINTR) {
                rc = RBX_E_IO;
                goto fail;
            }
    } else if (stat(db_path, &sb) == 0 && sb.st_size == 0) {
        int fd = open(gp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            /* Wait for a creator that holds the lock, then look again. */
            while (flock(fd, LOCK_SH) != 0 && errno == EINTR) {}
            close(fd);
        }
    }
    db_exists = access(db_path, F_OK) == 0;

    if (!db_exists && !o.create) {
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    if (o.storage_key != NULL) {
        memcpy(st->key, o.storage_key, 32);
    } else {
        if (!db_exists && access(kp, F_OK) == 0) {
            rc = RBX_E_EXISTS; /* a key without its database: refuse to guess */
            goto fail;
        }
        if ((rc = key_file(st->key, kp, !db_exists)) != 0) goto fail;
        created_key = !db_exists;
    }
    /* The generation record's MAC key (P 15.6), derived once per handle. */
    crypto_generichash(st->sidecar_key, sizeof st->sidecar_key, (const uint8_t *)"rbx-sidecar-key",
                       15, st->key, 32);
    if (!db_exists) {
        /* Create it 0600 first: SQLite would use 0644, and its -wal and -shm
         * files take the database's permissions. */
        int fd = open(db_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        created_db = fd >= 0;
        if (fd < 0 || close(fd) != 0) {
            rc = RBX_E_IO;
            goto fail;
        }
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (db_exists && (stat(db_path, &sb) != 0 || sb.st_size == 0)) {
        rc = RBX_E_CORRUPT; /* a used database truncated to nothing */
        goto fail;
    }
    if (sqlite3_open_v2(db_path, &st->db, flags, NULL) != SQLITE_OK) {
        rc = RBX_E_IO;
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(st->db, 1);
    /* secure_delete: freed cells and pages are zeroed (CONTEXT section 3).
     * WAL + synchronous=FULL: one fdatasync per commit, durable on return.
     * These only set connection state; nothing is written yet. */
    if ((rc = rbx__st_exec(st, "PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;"
                       " PRAGMA temp_store = MEMORY; PRAGMA synchronous = FULL")) != 0)
        goto fail;
    int64_t version = 0;
    if (db_exists && ((rc = identify(st, &version)) != 0 || (rc = check_key_and_load(st)) != 0))
        goto fail;
    /* Ours (or new) and the key is right: only now may anything be written.
     * A new database uses 2 KiB pages: a commit writes 3-4 pages to the log,
     * and on this workload (one ~800-byte session row, one small outbox or
     * inbox row) smaller pages mean fewer bytes per fdatasync (1 KiB was
     * about as fast but made a 100,000-session store 1.4x slower). */
    if (!db_exists && (rc = rbx__st_exec(st, "PRAGMA page_size = " RBX_STR(RBX_PAGE_SIZE))) != 0) goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "PRAGMA journal_mode = WAL")) != 0) goto fail;
    rc = rbx__st_step(s);
    int wal = rc == 1 && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    rbx__st_done(st, s);
    if (rc < 0 || !wal) {
        rc = rc < 0 ? rc : RBX_E_IO;
        goto fail;
    }
    if (version < RBX_SCHEMA_VERSION && (rc = migrate(st, version)) != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "PRAGMA page_size")) != 0) goto fail;
    rc = rbx__st_step(s);
    st->page_size = rc == 1 ? sqlite3_column_int(s, 0) : 4096;
    rbx__st_done(st, s);
    if (rc < 0) goto fail;
    if (st->page_size < 512 || st->page_size > 65536) st->page_size = 4096;
    if (!db_exists && (rc = check_key_and_load(st)) != 0) goto fail;
    if (st->sidecar_fd < 0) st->sidecar_fd = open(gp, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (st->sidecar_fd < 0) {
        /* A used database whose sidecar is gone is treated as rolled back. */
        if (errno != ENOENT ||
            (st->sidecar_fd = open(gp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
            rc = RBX_E_IO;
            goto fail;
        }
    }
    /* check_rollback takes the lock again and releases it: that also ends
     * the creation lock. */
    if ((rc = check_rollback(st)) != 0) goto fail;
    rbx_policy pol;
    if ((rc = rbx_store_policy(st, &pol)) != 0) goto fail;
    rbx__st_apply_policy(st, &pol);
    free(keypath);
    free(genpath);
    *out = st;
    return 0;
fail:
    finalize_all(st);
    if (st->db != NULL) sqlite3_close(st->db);
    if (st->sidecar_fd >= 0) close(st->sidecar_fd);
    if (created_db) {
        /* Nothing half-created is left behind; what another process made
         * is never touched. */
        (void)unlink(db_path);
        char *w = path_with(db_path, "-wal"), *m = path_with(db_path, "-shm");
        if (w) (void)unlink(w);
        if (m) (void)unlink(m);
        free(w);
        free(m);
    }
    if (created_key && keypath != NULL) (void)unlink(keypath);
    free(keypath);
    free(genpath);
    WIPE_BUF(st, sizeof *st);
    free(st);
    return rc;
}

void rbx_store_close(rbx_store *st)
{
    if (st == NULL) return;
    st->closing = 1;
    (void)rbx__st_erase_point(st);
    finalize_all(st);
    sqlite3_close(st->db);
    if (st->sidecar_fd >= 0) {
        (void)fdatasync(st->sidecar_fd);
        close(st->sidecar_fd);
    }
    WIPE_BUF(st, sizeof *st);
    free(st);
}

int rbx_store_erase_now(rbx_store *st) { return rbx__st_erase_point(st); }

/* ------------------------------------------------------------ secrets in rows */

/* Bind a sealed secret as parameter i. */
int rbx__st_bind_sealed(rbx_store *st, sqlite3_stmt *s, int i, const char *table, int64_t rowkey,
                       int64_t gen, const char *column, const uint8_t *pt, size_t ptlen)
{
    size_t n;
    uint8_t *c = row_seal(&n, st->key, table, rowkey, gen, column, pt, ptlen);
    if (c == NULL) return RBX_E_NOMEM;
    return rbx__sql_err(sqlite3_bind_blob(s, i, c, (int)n, free));
}

/* Open column col of the current row into a fresh malloc'ed buffer. */
int rbx__st_column_open(rbx_store *st, uint8_t **out, size_t *outlen, sqlite3_stmt *s, int col,
                       const char *table, int64_t rowkey, int64_t gen, const char *column)
{
    *out = NULL;
    *outlen = 0;
    /* The type first: after a conversion sqlite3_column_type is undefined. */
    if (sqlite3_column_type(s, col) != SQLITE_BLOB) return RBX_E_CORRUPT;
    const uint8_t *c = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (c == NULL || n < RBX_ROW_OVERHEAD) return RBX_E_CORRUPT;
    size_t cap = n - RBX_ROW_OVERHEAD + 1; /* + 1: never malloc(0) */
    uint8_t *p = malloc(cap);
    if (p == NULL) return RBX_E_NOMEM;
    int rc = rbx__row_open(p, cap, outlen, st->key, table, rowkey, gen, column, c, n);
    if (rc != 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void rbx__st_free_secret(uint8_t *p, size_t n)
{
    if (p == NULL) return;
    WIPE_BUF(p, n);
    free(p);
}

/* A 32-byte secret column. */
int rbx__st_column_key(rbx_store *st, uint8_t key[32], sqlite3_stmt *s, int col, const char *table,
                      int64_t rowkey, const char *column)
{
    uint8_t *p;
    size_t n;
    int rc = rbx__st_column_open(st, &p, &n, s, col, table, rowkey, 0, column);
    if (rc != 0) return rc;
    if (n == 32) memcpy(key, p, 32);
    rbx__st_free_secret(p, n);
    return n == 32 ? 0 : RBX_E_CORRUPT;
}

/* ------------------------------------------------------------ identity */

/* A key pair row: `sql` selects (pk, sk) of row 1 of `table` (sk sealed under
 * table/1/0/"sk"); sk NULL: the public key only. RBX_E_NOT_FOUND if no row,
 * RBX_E_CORRUPT if the two do not belong together. */
int rbx__st_load_keypair(rbx_store *st, const char *sql, const char *table, uint8_t pk[32],
                         uint8_t *sk)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        rc = RBX_E_CORRUPT;
        if (sqlite3_column_type(s, 0) == SQLITE_BLOB && sqlite3_column_bytes(s, 0) == 32) {
            memcpy(pk, sqlite3_column_blob(s, 0), 32);
            rc = sk == NULL ? 0 : rbx__st_column_key(st, sk, s, 1, table, 1, "sk");
            if (rc == 0 && sk != NULL && !rbx__keypair_matches(pk, sk)) rc = RBX_E_CORRUPT;
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    if (rc != 0 && sk != NULL) WIPE_BUF(sk, 32);
    return rc;
}

int rbx__st_insert_keypair(rbx_store *st, const char *sql, const char *table, const uint8_t pk[32],
                           const uint8_t sk[32])
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, pk, 32, SQLITE_TRANSIENT);
    rc = rbx__st_bind_sealed(st, s, 2, table, 1, 0, "sk", sk, 32);
    if (rc == 0) {
        int r = sqlite3_step(s);
        rc = (r & 0xff) == SQLITE_CONSTRAINT ? RBX_E_EXISTS : rbx__sql_err(r);
    }
    rbx__st_done(st, s);
    return rc;
}

int rbx__st_load_identity(rbx_store *st, uint8_t pk[32], uint8_t sk[32])
{
    return rbx__st_load_keypair(st, "SELECT pk, sk FROM identity WHERE id = 1", "identity", pk, sk);
}

int rbx_store_identity(rbx_store *st, uint8_t pk[32])
{
    return rbx__st_load_identity(st, pk, NULL);
}

int rbx__st_keypair_in(uint8_t pk_out[32], uint8_t sk_out[32], const uint8_t *pk,
                       const uint8_t *sk)
{
    if ((pk == NULL) != (sk == NULL)) return RBX_E_INVALID;
    if (pk == NULL) return rbx_keypair_generate(pk_out, sk_out);
    memcpy(pk_out, pk, 32);
    memcpy(sk_out, sk, 32);
    if (rbx__keypair_matches(pk_out, sk_out) && rbx__pk_is_valid(pk_out)) return 0;
    WIPE_BUF(sk_out, 32);
    return RBX_E_KEY;
}

int rbx_store_identity_create(rbx_store *st, const uint8_t *pk, const uint8_t *sk)
{
    uint8_t npk[32], nsk[32];
    int rc = rbx__st_keypair_in(npk, nsk, pk, sk);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) goto out;
    rc = rbx__st_insert_keypair(st, "INSERT INTO identity (id, pk, sk) VALUES (1, ?1, ?2)",
                                "identity", npk, nsk);
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, npk);
    if (rc == 0) rc = rbx__audit(st, "identity created", "%s, %s", fp, pk ? "imported" : "generated");
    if (rc != 0) {
        rbx__st_rollback(st);
        goto out;
    }
    rc = rbx__st_commit(st, 0);
out:
    WIPE(nsk);
    return rc;
}

/* ------------------------------------------------------------ prekeys */

/* The identity sequence in force: 0 for the first identity, + 1 per rotation. */
int rbx__st_identity_seq(rbx_store *st, int64_t *seq)
{
    int rc = rbx__st_meta_get(st, "identity_seq", seq);
    if (rc == RBX_E_CORRUPT) { /* absent: never rotated */
        *seq = 0;
        return 0;
    }
    return rc != 0 ? rc : *seq < 0 ? RBX_E_CORRUPT : 0;
}

/* A new signed prekey of identity ik_seq, with its creation time stated and
 * signed (PROTOCOL.md "Rotation": the v2 statement). */
int rbx__st_insert_signed_prekey(rbx_store *st, const uint8_t ik_sk[32], int64_t ik_seq,
                                 int64_t *id_out)
{
    uint8_t pk[32], sk[32], sig[64], statement[RBX_SPK_STATEMENT_V2_BYTES];
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT coalesce(max(id), 0) + 1 FROM signed_prekeys");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    int64_t id = sqlite3_column_int64(s, 0), now = rbx__st_now(st);
    rbx__st_done(st, s);
    if (rc != 1) return rc < 0 ? rc : RBX_E_CORRUPT;
    if (id >= (int64_t)RBX_NO_PREKEY) return RBX_E_LIMIT;
    if (now <= 0) return RBX_E_STATE; /* a creation time of 0 means "not stated" */
    if ((rc = rbx__keypair(pk, sk)) != 0) return rc;
    rbx__spk_statement_v2(statement, (uint32_t)id, (uint64_t)now, pk);
    rbx__xeddsa_sign(sig, ik_sk, statement, sizeof statement);
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO signed_prekeys (id, pk, sk, sig, created, ik, stated)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)")) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_blob(s, 2, pk, 32, SQLITE_TRANSIENT);
    rc = rbx__st_bind_sealed(st, s, 3, "signed_prekeys", id, 0, "sk", sk, 32);
    sqlite3_bind_blob(s, 4, sig, 64, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, now);
    sqlite3_bind_int64(s, 6, ik_seq);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc == 0) rc = rbx__audit(st, "signed prekey created", "id %lld, identity %lld",
                                 (long long)id, (long long)ik_seq);
    *id_out = id;
out:
    WIPE(sk);
    return rc;
}

/* Top the unoffered one-time prekeys up by batch when fewer than low are left. */
int rbx__st_refill_onetime(rbx_store *st, unsigned low, unsigned batch, size_t *made)
{
    sqlite3_stmt *s;
    *made = 0;
    int rc = rbx__st_prep(st, &s, "SELECT coalesce(sum(offered = 0), 0), coalesce(max(id), 0)"
                          " FROM onetime_prekeys");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    int64_t fresh = sqlite3_column_int64(s, 0), maxid = sqlite3_column_int64(s, 1);
    rbx__st_done(st, s);
    if (rc != 1) return rc < 0 ? rc : RBX_E_CORRUPT;
    if (fresh >= (int64_t)low) return 0;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO onetime_prekeys (id, pk, sk) VALUES (?1, ?2, ?3)")) != 0)
        return rc;
    for (unsigned i = 0; i < batch && rc == 0; i++) {
        uint8_t pk[32], sk[32];
        int64_t id = ++maxid;
        if (id >= (int64_t)RBX_NO_PREKEY) {
            rc = RBX_E_LIMIT;
            break;
        }
        if ((rc = rbx__keypair(pk, sk)) == 0) {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_blob(s, 2, pk, 32, SQLITE_TRANSIENT);
            rc = rbx__st_bind_sealed(st, s, 3, "onetime_prekeys", id, 0, "sk", sk, 32);
            if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
            sqlite3_reset(s);
        }
        WIPE(sk);
    }
    rbx__st_done(st, s);
    if (rc == 0) {
        *made = batch;
        rc = rbx__audit(st, "prekeys replenished", "%u one-time prekeys, %lld were left", batch,
                        (long long)fresh);
    }
    return rc;
}

/* Public columns of one row: 32-byte key and optionally a 64-byte signature. */
static int load_public(rbx_store *st, const char *sql, int64_t id, uint8_t pk[32], uint8_t *sig)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        rc = sqlite3_column_type(s, 0) == SQLITE_BLOB && sqlite3_column_bytes(s, 0) == 32 &&
                     (sig == NULL || (sqlite3_column_type(s, 1) == SQLITE_BLOB &&
                                      sqlite3_column_bytes(s, 1) == 64))
                 ? 0
                 : RBX_E_CORRUPT;
        if (rc == 0) {
            memcpy(pk, sqlite3_column_blob(s, 0), 32);
            if (sig != NULL) memcpy(sig, sqlite3_column_blob(s, 1), 64);
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    return rc;
}

/* An id from a one-column query, 0 when there is no row. */
static int query_id(rbx_store *st, const char *sql, int64_t *id)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    *id = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

int rbx_store_bundle(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen, unsigned onetime)
{
    uint8_t ik_pk[32], ik_sk[32], spk_pk[32], sig[64], opk_pk[32];
    uint8_t recs[RBX_CHAIN_MAX * RBX_ROTATION_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    const uint8_t *recp[RBX_CHAIN_MAX];
    size_t reclens[RBX_CHAIN_MAX], nrec = 0, certlen = 0;
    int64_t spk_id = 0, opk_id = 0, spk_created = 0;
    int stated = 0;
    rbx_maintain_result mr;
    *outlen = 0;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    /* Policy upkeep first: the bundle then offers a prekey that is in date. */
    if ((rc = rbx__st_maintain(st, 0, onetime > 0, &mr)) != 0 ||
        (rc = rbx__st_load_identity(st, ik_pk, ik_sk)) != 0 ||
        (rc = rbx__st_current_spk(st, &spk_id, &spk_created, &stated)) != 0)
        goto fail;
    if (onetime > 0 &&
        (rc = query_id(st, "UPDATE onetime_prekeys SET offered = 1 WHERE id ="
                           " (SELECT min(id) FROM onetime_prekeys WHERE offered = 0)"
                           " RETURNING id", &opk_id)) != 0)
        goto fail;
    if ((rc = load_public(st, "SELECT pk, sig FROM signed_prekeys WHERE id = ?1", spk_id, spk_pk,
                          sig)) != 0 ||
        (opk_id > 0 &&
         (rc = load_public(st, "SELECT pk FROM onetime_prekeys WHERE id = ?1", opk_id, opk_pk,
                           NULL)) != 0) ||
        (rc = rbx__st_chain(st, recs, sizeof recs, recp, reclens, &nrec)) != 0 ||
        (rc = rbx__st_certificate(st, cert, sizeof cert, &certlen)) != 0)
        goto fail;
    if ((rc = rbx__bundle_encode_ext(out, outcap, outlen, ik_pk, (uint32_t)spk_id, spk_pk, sig,
                                     stated ? (uint64_t)spk_created : 0,
                                     opk_id > 0 ? (uint32_t)opk_id : RBX_NO_PREKEY, opk_pk, recp,
                                     reclens, nrec, certlen ? cert : NULL, certlen)) != 0)
        goto fail;
    WIPE(ik_sk);
    if ((rc = rbx__st_commit(st, 0)) != 0) {
        *outlen = 0;
        return rc;
    }
    /* Erased prekey and identity secrets leave the files now. */
    if (mr.signed_prekeys_erased || mr.old_identities_erased || mr.sessions_retired)
        (void)rbx__st_erase_point(st);
    return 0;
fail:
    rbx__st_rollback(st);
    WIPE(ik_sk);
    *outlen = 0;
    return rc;
}

/* ------------------------------------------------------------ contacts */

typedef struct contact {
    int64_t id;
    char name[RBX_NAME_MAX];
    uint32_t device;
    uint8_t identity[32];
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t bundlelen; /* 0: none */
    int64_t rot_seq;  /* the peer's rotation record pinned (0: pinned without one) */
    int has_rot_hash, has_org;
    uint8_t rot_hash[32], org[32];
} contact;

#define PIN_MAX (32 + 4 + RBX_NAME_MAX + 1 + 8 + 1 + 32 + 1 + 32)

/* 1..63 bytes, no control bytes: names reach terminals and logs. */
int rbx__st_name_ok(const char *name)
{
    size_t n = strnlen(name, RBX_NAME_MAX);
    if (n == 0 || n >= RBX_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
    return 1;
}

/* The pin seals identity || be32(device) || name to the row: without the
 * storage key nobody can re-pin a contact or swap names between rows. A
 * contact with a rotation chain tip or an organisation root adds
 * 0 || be64(rot_seq) || [1 || rot_hash | 0] || [1 || org | 0] (a name has no
 * NUL byte, so the forms cannot be confused), so neither can be removed. */
static size_t pin_value(uint8_t out[PIN_MAX], const contact *c)
{
    size_t n = strlen(c->name);
    memcpy(out, c->identity, 32);
    rbx__store32_be(out + 32, c->device);
    memcpy(out + 36, c->name, n);
    n += 36;
    if (c->rot_seq == 0 && !c->has_rot_hash && !c->has_org) return n;
    out[n++] = 0;
    rbx__store64_be(out + n, (uint64_t)c->rot_seq);
    n += 8;
    out[n++] = (uint8_t)c->has_rot_hash;
    if (c->has_rot_hash) memcpy(out + n, c->rot_hash, 32), n += 32;
    out[n++] = (uint8_t)c->has_org;
    if (c->has_org) memcpy(out + n, c->org, 32), n += 32;
    return n;
}

static int contact_row(rbx_store *st, contact *c, sqlite3_stmt *s)
{
    const unsigned char *name = sqlite3_column_text(s, 1);
    int64_t device = sqlite3_column_int64(s, 2);
    if (name == NULL || !rbx__st_name_ok((const char *)name) || device < 0 || device > UINT32_MAX ||
        sqlite3_column_bytes(s, 3) != 32 || sqlite3_column_bytes(s, 4) > (int)RBX_BUNDLE_MAXBYTES)
        return RBX_E_CORRUPT;
    c->id = sqlite3_column_int64(s, 0);
    snprintf(c->name, sizeof c->name, "%s", (const char *)name);
    c->device = (uint32_t)device;
    memcpy(c->identity, sqlite3_column_blob(s, 3), 32);
    c->bundlelen = (size_t)sqlite3_column_bytes(s, 4);
    if (c->bundlelen) memcpy(c->bundle, sqlite3_column_blob(s, 4), c->bundlelen);
    c->rot_seq = sqlite3_column_int64(s, 6);
    c->has_rot_hash = sqlite3_column_type(s, 7) != SQLITE_NULL;
    c->has_org = sqlite3_column_type(s, 8) != SQLITE_NULL;
    if (c->rot_seq < 0 || (c->has_rot_hash && sqlite3_column_bytes(s, 7) != 32) ||
        (c->has_org && sqlite3_column_bytes(s, 8) != 32))
        return RBX_E_CORRUPT;
    if (c->has_rot_hash) memcpy(c->rot_hash, sqlite3_column_blob(s, 7), 32);
    if (c->has_org) memcpy(c->org, sqlite3_column_blob(s, 8), 32);
    uint8_t want[PIN_MAX], *got;
    size_t wantlen = pin_value(want, c), gotlen;
    int rc = rbx__st_column_open(st, &got, &gotlen, s, 5, "contacts", c->id, 0, "pin");
    if (rc == 0 && (gotlen != wantlen || memcmp(got, want, wantlen) != 0)) rc = RBX_E_CORRUPT;
    rbx__st_free_secret(got, gotlen);
    return rc;
}

#define CONTACT_COLS \
    "SELECT id, name, device, identity, bundle, pin, rot_seq, rot_hash, org FROM contacts "

/* Run a bound CONTACT_COLS query for one contact. */
static int contact_query(rbx_store *st, contact *c, sqlite3_stmt *s)
{
    int rc = rbx__st_step(s);
    rc = rc == 1 ? contact_row(st, c, s) : rc == 0 ? RBX_E_NOT_FOUND : rc;
    rbx__st_done(st, s);
    return rc;
}

static int find_contact(rbx_store *st, contact *c, const char *name, uint32_t device)
{
    sqlite3_stmt *s;
    if (!rbx__st_name_ok(name)) return RBX_E_INVALID;
    int rc = rbx__st_prep(st, &s, CONTACT_COLS "WHERE name = ?1 AND device = ?2");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    return contact_query(st, c, s);
}

static int find_contact_by_identity(rbx_store *st, contact *c, const uint8_t identity[32])
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, CONTACT_COLS "WHERE identity = ?1 ORDER BY id LIMIT 1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, identity, 32, SQLITE_STATIC);
    return contact_query(st, c, s);
}

static int find_contact_by_id(rbx_store *st, contact *c, int64_t id)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, CONTACT_COLS "WHERE id = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, id);
    return contact_query(st, c, s);
}

/* The contact that had `identity` before a rotation whose grace window is
 * still open (0, *until = its end), or RBX_E_NOT_FOUND. */
static int find_contact_by_old_key(rbx_store *st, contact *c, const uint8_t identity[32],
                                   int64_t only_id, int64_t *until)
{
    sqlite3_stmt *s;
    int64_t id = 0;
    int rc = rbx__st_prep(st, &s, "SELECT contact, until FROM contact_keys WHERE identity = ?1"
                                  " AND (?2 = 0 OR contact = ?2) AND until > ?3"
                                  " ORDER BY until DESC LIMIT 1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, identity, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, only_id);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    rc = rbx__st_step(s);
    if (rc == 1) id = sqlite3_column_int64(s, 0), *until = sqlite3_column_int64(s, 1);
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    return rc == 0 ? RBX_E_NOT_FOUND : find_contact_by_id(st, c, id);
}

/* Write every pinned column of an existing row and its new pin. */
static int update_contact(rbx_store *st, const contact *c)
{
    uint8_t pin[PIN_MAX];
    size_t pinlen = pin_value(pin, c);
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "UPDATE contacts SET identity = ?1, rot_seq = ?2, rot_hash = ?3,"
                                  " org = ?4, bundle = ?5, pin = ?6 WHERE id = ?7");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, c->identity, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, c->rot_seq);
    if (c->has_rot_hash) sqlite3_bind_blob(s, 3, c->rot_hash, 32, SQLITE_STATIC);
    if (c->has_org) sqlite3_bind_blob(s, 4, c->org, 32, SQLITE_STATIC);
    if (c->bundlelen) sqlite3_bind_blob(s, 5, c->bundle, (int)c->bundlelen, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 6, "contacts", c->id, 0, "pin", pin, pinlen);
    sqlite3_bind_int64(s, 7, c->id);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

static int insert_contact(rbx_store *st, contact *c)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT INTO contacts (name, device, identity)"
                          " VALUES (?1, ?2, ?3) RETURNING id");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, c->device);
    sqlite3_bind_blob(s, 3, c->identity, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) c->id = sqlite3_column_int64(s, 0);
    rc = (r & 0xff) == SQLITE_CONSTRAINT ? RBX_E_EXISTS : rbx__sql_err(r);
    rbx__st_done(st, s);
    return rc != 0 ? rc : update_contact(st, c);
}

static int retire_session(rbx_store *st, int64_t contact_id, int64_t until);

/* RBX_E_REVOKED if the organisation org, or with org NULL any organisation
 * this store follows, has revoked an identity. */
static int is_revoked(rbx_store *st, const uint8_t *org, const uint8_t identity[32])
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, org != NULL
                                      ? "SELECT 1 FROM revocations WHERE org = ?2 AND identity = ?1"
                                      : "SELECT 1 FROM revocations WHERE identity = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, identity, 32, SQLITE_STATIC);
    if (org != NULL) sqlite3_bind_blob(s, 2, org, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    return rc < 0 ? rc : rc == 1 ? RBX_E_REVOKED : 0;
}

/* A bundle parsed once (rbx__bundle_parse_records: its records and its
 * certificate verified) for every check add_contact makes. */
typedef struct parsed_bundle {
    rbx_bundle b;
    Rbx__Wire__PreKeyBundle *w;
    rbx_rotation r[RBX_CHAIN_MAX];
    rbx_org_cert cert; /* when w->has_org_certificate */
} parsed_bundle;

/* A bundle's identity under an organisation root: certified now, not revoked. */
static int org_accepts(rbx_store *st, const uint8_t org[32], const parsed_bundle *pb)
{
    if (!pb->w->has_org_certificate) return RBX_E_UNCERTIFIED;
    int rc = rbx__org_cert_valid(&pb->cert, org, pb->b.identity, (uint64_t)rbx__st_now(st));
    return rc != 0 ? rc : is_revoked(st, org, pb->b.identity);
}

/* Record every key a bundle's chain passes through (the pinned one among
 * them), each usable for messages in flight until its record's
 * old_valid_until, but never longer than our own grace window. */
static int remember_keys(rbx_store *st, const contact *c, const parsed_bundle *pb,
                         int64_t max_until)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT OR IGNORE INTO contact_keys (contact, identity, until)"
                                  " VALUES (?1, ?2, ?3)");
    if (rc != 0) return rc;
    for (size_t i = 0; i < pb->w->n_rotation && rc == 0; i++) {
        const rbx_rotation *r = &pb->r[i];
        int64_t until = r->old_valid_until > (uint64_t)max_until ? max_until : (int64_t)r->old_valid_until;
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_blob(s, 2, r->old_identity, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, until);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        sqlite3_reset(s);
    }
    rbx__st_done(st, s);
    return rc;
}

/* A known contact's bundle names a new identity: accept it only through a
 * rotation chain from the pinned key (and the organisation root, if bound). */
static int contact_rotated(rbx_store *st, contact *c, parsed_bundle *pb, const uint8_t *bundle,
                           size_t len, const rbx_policy *pol)
{
    sqlite3_stmt *s;
    rbx_chain_tip pinned, tip;
    uint64_t valid_until;
    char fp_old[RBX_FINGERPRINT_HEXBYTES], fp_new[RBX_FINGERPRINT_HEXBYTES];
    int64_t now = rbx__st_now(st);
    /* An identity this contact had before: a replayed or rolled-back bundle. */
    int rc = rbx__st_prep(st, &s, "SELECT 1 FROM contact_keys WHERE contact = ?1 AND identity = ?2");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_blob(s, 2, pb->b.identity, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    if (rc != 0) return rc < 0 ? rc : RBX_E_STALE;
    memset(&pinned, 0, sizeof pinned);
    memcpy(pinned.identity, c->identity, 32);
    pinned.sequence = (uint64_t)c->rot_seq;
    if (c->has_rot_hash) memcpy(pinned.hash, c->rot_hash, 32);
    if ((rc = rbx__bundle_chain_check(&tip, &valid_until, &pinned, &pb->b, pb->w, pb->r)) != 0)
        return rc;
    if (c->has_org && (rc = org_accepts(st, c->org, pb)) != 0) return rc;
    /* The grace window: what the record states for the pinned key, at
     * most our policy's identity_grace from now. */
    int64_t until = now + (int64_t)pol->identity_grace;
    if (valid_until < (uint64_t)until) until = (int64_t)valid_until;
    /* Every key of the chain but the new one is now behind this contact:
     * a bundle naming any of them later is a replay. */
    if ((rc = remember_keys(st, c, pb, now + (int64_t)pol->identity_grace)) != 0)
        return rc;
    /* Messages in flight under the old session still decrypt for the grace
     * window; the next encrypt starts a new X3DH with the new key. */
    if ((rc = retire_session(st, c->id, until)) != 0) return rc;
    rbx_fingerprint(fp_old, c->identity);
    rbx_fingerprint(fp_new, pb->b.identity);
    memcpy(c->identity, pb->b.identity, 32);
    c->rot_seq = (int64_t)tip.sequence;
    c->has_rot_hash = 1;
    memcpy(c->rot_hash, tip.hash, 32);
    memcpy(c->bundle, bundle, len);
    c->bundlelen = len;
    if ((rc = update_contact(st, c)) != 0) return rc;
    return rbx__audit(st, "contact identity rotated", "%s/%u: %s -> %s, sequence %llu", c->name,
                      c->device, fp_old, fp_new, (unsigned long long)tip.sequence);
}

static int add_contact(rbx_store *st, const char *name, uint32_t device, const uint8_t *bundle,
                       size_t len, const uint8_t *org)
{
    parsed_bundle pb;
    rbx_policy pol;
    contact c = { 0 }, old;
    char fp_old[RBX_FINGERPRINT_HEXBYTES] = "", fp_new[RBX_FINGERPRINT_HEXBYTES];
    if (!rbx__st_name_ok(name)) return RBX_E_INVALID;
    if (org != NULL && !rbx__pk_is_valid(org)) return RBX_E_KEY;
    int rc = rbx__bundle_parse_records(&pb.b, &pb.w, pb.r, &pb.cert, bundle, len);
    if (rc != 0) return rc;
    const rbx_bundle *b = &pb.b;
    if ((rc = rbx__st_begin(st)) != 0) goto out;
    if ((rc = rbx__st_policy(st, &pol)) != 0) goto fail;
    /* Initiators never use a signed prekey past its policy age. */
    if (b->signed_prekey_created != 0 &&
        rbx__st_now(st) - (int64_t)b->signed_prekey_created > (int64_t)pol.spk_max_age) {
        rc = RBX_E_EXPIRED;
        goto fail;
    }
    rc = find_contact(st, &old, name, device);
    if (rc == RBX_E_NOT_FOUND) {
        snprintf(c.name, sizeof c.name, "%s", name);
        c.device = device;
        memcpy(c.identity, b->identity, 32);
        memcpy(c.bundle, bundle, len);
        c.bundlelen = len;
        if (org != NULL) {
            c.has_org = 1;
            memcpy(c.org, org, 32);
            if ((rc = org_accepts(st, org, &pb)) != 0) goto refused;
        }
        rbx_fingerprint(fp_new, b->identity);
        if ((rc = insert_contact(st, &c)) != 0 ||
            (rc = rbx__audit(st, "contact added", "%s/%u: %s%s", name, device, fp_new,
                             org != NULL ? ", bound to an organisation root" : "")) != 0)
            goto fail;
    } else if (rc == 0) {
        rbx_fingerprint(fp_old, old.identity);
        if (org != NULL && old.has_org && sodium_memcmp(org, old.org, 32) != 0) {
            rc = RBX_E_EXISTS; /* bound to another root: never re-bound silently */
            goto fail;
        }
        if (org != NULL && !old.has_org) {
            old.has_org = 1;
            memcpy(old.org, org, 32);
        }
        if (sodium_memcmp(old.identity, b->identity, 32) != 0) {
            if ((rc = contact_rotated(st, &old, &pb, bundle, len, &pol)) != 0) goto refused;
        } else {
            /* The pinned identity: a new bundle only when there is no
             * session (after a reset or a peer rotation); binding to a root
             * needs the key certified. */
            int64_t has_session;
            sqlite3_stmt *s;
            if (old.has_org && (rc = org_accepts(st, old.org, &pb)) != 0)
                goto refused;
            if ((rc = rbx__st_prep(st, &s, "SELECT count(*) FROM sessions WHERE contact = ?1")) != 0)
                goto fail;
            sqlite3_bind_int64(s, 1, old.id);
            rc = rbx__st_step(s) == 1 ? 0 : RBX_E_IO;
            has_session = sqlite3_column_int64(s, 0);
            rbx__st_done(st, s);
            if (rc == 0 && has_session && !(org != NULL && old.has_org)) rc = RBX_E_EXISTS;
            if (rc != 0) goto fail;
            if (!has_session) {
                memcpy(old.bundle, bundle, len);
                old.bundlelen = len;
            }
            if ((rc = update_contact(st, &old)) != 0) goto fail;
        }
    } else {
        goto fail;
    }
    rc = rbx__st_commit(st, 0);
    goto out;
refused:
    rbx__st_rollback(st);
    if (rc == RBX_E_IDENTITY_CHANGED || rc == RBX_E_CHAIN || rc == RBX_E_STALE ||
        rc == RBX_E_SIGNATURE || rc == RBX_E_UNCERTIFIED || rc == RBX_E_REVOKED ||
        rc == RBX_E_EXPIRED) {
        rbx_fingerprint(fp_new, b->identity);
        /* The refusal itself changes nothing; its record is best effort. */
        (void)rbx__audit_alone(st, "identity change refused", "%s/%u: %s%s%s: %s", name, device,
                               fp_old, fp_old[0] ? " -> " : "", fp_new, rbx_strerror(rc));
    }
    goto out;
fail:
    rbx__st_rollback(st);
out:
    rbx__wire__pre_key_bundle__free_unpacked(pb.w, NULL);
    return rc;
}

int rbx_store_add_contact(rbx_store *st, const char *name, uint32_t device, const uint8_t *bundle,
                          size_t len)
{
    return add_contact(st, name, device, bundle, len, NULL);
}

int rbx_store_add_contact_org(rbx_store *st, const char *name, uint32_t device,
                              const uint8_t *bundle, size_t len, const uint8_t *org)
{
    return add_contact(st, name, device, bundle, len, org);
}

/* ------------------------------------------------------------ sessions */

/* The rollback mark is part of the state's binding: clearing it without the
 * storage key makes the state unreadable instead of usable. */
static const char *state_column(int rolled_back)
{
    return rolled_back ? "state/rolled-back" : "state";
}

typedef struct stored_session {
    rbx_session *s;
    int64_t generation;
    int64_t ik;       /* our identity sequence when the session began */
    int rolled_back;
    int exists;
} stored_session;

/* Open a sealed session state (column col of the current row) under the
 * handle's policy limits; a state that does not parse is RBX_E_CORRUPT. */
static int column_session(rbx_store *st, rbx_session **out, sqlite3_stmt *s, int col,
                          const char *table, int64_t rowkey, int64_t gen, const char *column)
{
    uint8_t *blob;
    size_t n;
    *out = NULL;
    int rc = rbx__st_column_open(st, &blob, &n, s, col, table, rowkey, gen, column);
    if (rc != 0) return rc;
    rc = rbx_session_deserialize(out, blob, n);
    rbx__st_free_secret(blob, n);
    if (rc == RBX_E_MALFORMED || rc == RBX_E_VERSION) return RBX_E_CORRUPT;
    if (rc == 0) rbx__session_limit(*out, st->max_skip, st->max_skipped);
    return rc;
}

static int load_session(rbx_store *st, stored_session *ss, int64_t contact_id)
{
    sqlite3_stmt *s;
    memset(ss, 0, sizeof *ss);
    int rc = rbx__st_prep(st, &s, "SELECT generation, rolled_back, state, ik FROM sessions"
                                  " WHERE contact = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        ss->exists = 1;
        ss->generation = sqlite3_column_int64(s, 0);
        ss->rolled_back = sqlite3_column_int64(s, 1) != 0;
        ss->ik = sqlite3_column_int64(s, 3);
        rc = column_session(st, &ss->s, s, 2, "sessions", contact_id, ss->generation,
                            state_column(ss->rolled_back));
    }
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

/* Bind a session's state, serialized and sealed, as parameter i; the
 * serialized plaintext is wiped before this returns. */
static int bind_session(rbx_store *st, sqlite3_stmt *s, int i, const char *table, int64_t rowkey,
                        int64_t gen, const char *column, const rbx_session *sess)
{
    size_t cap, n;
    uint8_t *blob;
    int rc = rbx_session_serialize(NULL, 0, &cap, sess);
    if (rc != 0) return rc;
    if ((blob = malloc(cap)) == NULL) return RBX_E_NOMEM;
    if ((rc = rbx_session_serialize(blob, cap, &n, sess)) == 0)
        rc = rbx__st_bind_sealed(st, s, i, table, rowkey, gen, column, blob, n);
    rbx__st_free_secret(blob, cap);
    return rc;
}

/* rolled_back: keep the flag of a session restored from an old copy; only a
 * new handshake (or rbx_store_reset_session) clears it. */
static int save_session(rbx_store *st, int64_t contact_id, const rbx_session *sess, int64_t gen,
                        int rolled_back, int64_t ik)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT OR REPLACE INTO sessions (contact, generation, rolled_back,"
                          " base_key, state, ik) VALUES (?1, ?2, ?5, ?3, ?4, ?6)");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 5, rolled_back);
    sqlite3_bind_int64(s, 6, ik);
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_int64(s, 2, gen);
    sqlite3_bind_blob(s, 3, sess->base_key, 32, SQLITE_STATIC);
    rc = bind_session(st, s, 4, "sessions", contact_id, gen, state_column(rolled_back), sess);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

int rbx__store_load_session(rbx_store *st, rbx_session **out, const char *name, uint32_t device)
{
    contact c;
    stored_session ss;
    *out = NULL;
    int rc = find_contact(st, &c, name, device);
    if (rc == 0) rc = load_session(st, &ss, c.id);
    if (rc == 0 && !ss.exists) rc = RBX_E_NOT_FOUND;
    if (rc == 0) *out = ss.s;
    return rc;
}

/* Sessions kept after a peer's rotation or a new handshake, for messages
 * still in flight (PROTOCOL.md "Rotation"): at most this many per contact. */
#define GRACE_SESSIONS 2

/* Keep a session in the grace table until `until` (at most GRACE_SESSIONS
 * per contact, the oldest dropped). */
static int grace_insert(rbx_store *st, int64_t contact_id, const rbx_session *sess, int64_t until)
{
    sqlite3_stmt *s;
    int64_t id;
    int rc = rbx__st_prep(st, &s, "SELECT coalesce(max(id), 0) + 1 FROM retired_sessions");
    if (rc != 0) return rc;
    rc = rbx__st_step(s) == 1 ? 0 : RBX_E_IO;
    id = sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO retired_sessions (id, contact, base_key, until, state)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5)")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, contact_id);
    sqlite3_bind_blob(s, 3, sess->base_key, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, until);
    rc = bind_session(st, s, 5, "retired_sessions", id, 0, "state", sess);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM retired_sessions WHERE contact = ?1 AND id NOT IN"
                                   " (SELECT id FROM retired_sessions WHERE contact = ?1"
                                   " ORDER BY id DESC LIMIT ?2)")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_int64(s, 2, GRACE_SESSIONS);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* Move the contact's session, as loaded, to the grace table until `until`;
 * a rolled-back one is dropped instead. */
static int retire_loaded(rbx_store *st, int64_t contact_id, const stored_session *ss,
                         int64_t until)
{
    sqlite3_stmt *s;
    int rc;
    if (!ss->rolled_back && (rc = grace_insert(st, contact_id, ss->s, until)) != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM sessions WHERE contact = ?1")) != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* The same for the contact's stored session, if it has one. */
static int retire_session(rbx_store *st, int64_t contact_id, int64_t until)
{
    stored_session ss;
    int rc = load_session(st, &ss, contact_id);
    if (rc != 0 || !ss.exists) return rc;
    rc = retire_loaded(st, contact_id, &ss, until);
    rbx_session_free(ss.s);
    return rc;
}

/* Try the contact's grace-window sessions (newest first) on a message the
 * current session could not take; on success the advanced state is written
 * back (inside the caller's transaction). kind 1: only the session whose
 * base key the PreKeyMessage names. If none decrypts: RBX_E_REPLAY when one
 * of them had already used the message's key, else RBX_E_NOT_FOUND. */
static int grace_decrypt(rbx_store *st, int64_t contact_id, int kind, const uint8_t base_key[32],
                         uint8_t *pt, size_t ptcap, size_t *ptlen, const uint8_t *in, size_t len,
                         uint8_t used_base[32])
{
    sqlite3_stmt *s;
    rbx_session *sess = NULL;
    int64_t id = 0;
    int replay = 0;
    int rc = rbx__st_prep(st, &s, "SELECT id, state FROM retired_sessions WHERE contact = ?1"
                                  " AND until > ?2 ORDER BY id DESC LIMIT ?3");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_int64(s, 2, rbx__st_now(st));
    sqlite3_bind_int64(s, 3, GRACE_SESSIONS);
    while ((rc = rbx__st_step(s)) == 1) {
        id = sqlite3_column_int64(s, 0);
        if ((rc = column_session(st, &sess, s, 1, "retired_sessions", id, 0, "state")) != 0) break;
        if (kind == 1 && sodium_memcmp(sess->base_key, base_key, 32) != 0) rc = RBX_E_NOT_FOUND;
        else rc = rbx_session_decrypt(sess, pt, ptcap, ptlen, in, len);
        if (rc == 0) break; /* authenticated: sess is the advanced state */
        rbx_session_free(sess);
        sess = NULL;
        replay |= rc == RBX_E_REPLAY;
        if (*ptlen) WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
    }
    rbx__st_done(st, s);
    if (sess == NULL) return rc < 0 ? rc : replay ? RBX_E_REPLAY : RBX_E_NOT_FOUND;
    /* Store the advanced state (inside the caller's transaction). */
    memcpy(used_base, sess->base_key, 32); /* the archive's session id */
    if ((rc = rbx__st_prep(st, &s, "UPDATE retired_sessions SET state = ?1 WHERE id = ?2")) == 0) {
        rc = bind_session(st, s, 1, "retired_sessions", id, 0, "state", sess);
        sqlite3_bind_int64(s, 2, id);
        if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        rbx__st_done(st, s);
    }
    rbx_session_free(sess);
    return rc;
}

int rbx_store_session_info(rbx_store *st, rbx_session_info *info, uint64_t *generation,
                           const char *name, uint32_t device)
{
    contact c;
    stored_session ss;
    memset(info, 0, sizeof *info);
    int rc = find_contact(st, &c, name, device);
    if (rc == 0) rc = load_session(st, &ss, c.id);
    if (rc == 0 && !ss.exists) rc = RBX_E_NOT_FOUND;
    if (rc != 0) return rc;
    rbx_session_get_info(info, ss.s);
    *generation = (uint64_t)ss.generation;
    rbx_session_free(ss.s);
    return 0;
}

int rbx_store_contact_by_identity(rbx_store *st, char name[RBX_NAME_MAX], uint32_t *device,
                                  const uint8_t identity[32])
{
    contact c;
    int64_t until;
    name[0] = '\0';
    *device = 0;
    int rc = find_contact_by_identity(st, &c, identity);
    /* A key the contact rotated away from, within its grace window. */
    if (rc == RBX_E_NOT_FOUND) rc = find_contact_by_old_key(st, &c, identity, 0, &until);
    if (rc != 0) return rc;
    snprintf(name, RBX_NAME_MAX, "%s", c.name);
    *device = c.device;
    return 0;
}

static int contact_info(rbx_store *st, rbx_contact_info *ci, const contact *c)
{
    stored_session ss;
    memset(ci, 0, sizeof *ci);
    snprintf(ci->name, sizeof ci->name, "%s", c->name);
    ci->device = c->device;
    memcpy(ci->identity, c->identity, 32);
    ci->has_bundle = c->bundlelen > 0;
    ci->rotation_seq = (uint64_t)c->rot_seq;
    ci->has_org = c->has_org;
    if (c->has_org) memcpy(ci->org, c->org, 32);
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT count(*) FROM retired_sessions WHERE contact = ?1"
                                  " AND until > ?2");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_int64(s, 2, rbx__st_now(st));
    rc = rbx__st_step(s);
    ci->grace_sessions = rc == 1 ? (size_t)sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    rc = load_session(st, &ss, c->id);
    if (rc != 0 || !ss.exists) return rc;
    ci->has_session = 1;
    ci->rolled_back = ss.rolled_back;
    ci->generation = (uint64_t)ss.generation;
    rbx_session_get_info(&ci->session, ss.s);
    rbx_session_free(ss.s);
    return 0;
}

int rbx_store_contacts(rbx_store *st, rbx_contact_info *out, size_t cap, size_t *count)
{
    sqlite3_stmt *s;
    contact c;
    size_t n = 0;
    *count = 0;
    if (out == NULL && cap > 0) return RBX_E_INVALID;
    /* One read transaction: the listing is one snapshot even while other
     * processes send and receive. */
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, CONTACT_COLS "ORDER BY id")) != 0) goto out;
    while ((rc = rbx__st_step(s)) == 1) {
        if (n < cap && ((rc = contact_row(st, &c, s)) != 0 ||
                        (rc = contact_info(st, &out[n], &c)) != 0))
            break;
        n++;
    }
    rbx__st_done(st, s);
out:
    rbx__st_rollback(st);
    if (rc < 0) {
        if (out != NULL) memset(out, 0, cap * sizeof *out);
        return rc;
    }
    *count = n;
    return 0;
}

int rbx_store_prekey_stats(rbx_store *st, rbx_prekey_stats *out)
{
    sqlite3_stmt *s;
    memset(out, 0, sizeof *out);
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT id, created FROM signed_prekeys ORDER BY id DESC LIMIT 1")) != 0)
        goto out;
    rc = rbx__st_step(s);
    if (rc == 1) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (id <= 0 || id >= (int64_t)RBX_NO_PREKEY) rc = RBX_E_CORRUPT;
        out->signed_prekey_id = (uint32_t)id;
        out->signed_prekey_created = sqlite3_column_int64(s, 1);
    }
    rbx__st_done(st, s);
    if (rc < 0) goto out;
    if ((rc = rbx__st_prep(st, &s, "SELECT coalesce(sum(offered = 0), 0),"
                           " coalesce(sum(offered != 0 AND sk IS NOT NULL), 0),"
                           " coalesce(sum(sk IS NULL), 0) FROM onetime_prekeys")) != 0)
        goto out;
    rc = rbx__st_step(s);
    if (rc == 1) {
        out->onetime_unoffered = (size_t)sqlite3_column_int64(s, 0);
        out->onetime_outstanding = (size_t)sqlite3_column_int64(s, 1);
        out->onetime_consumed = (size_t)sqlite3_column_int64(s, 2);
    }
    rbx__st_done(st, s);
out:
    rbx__st_rollback(st);
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    return 0;
}

int rbx_store_reset_session(rbx_store *st, const char *name, uint32_t device)
{
    contact c;
    sqlite3_stmt *s;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = find_contact(st, &c, name, device)) != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM sessions WHERE contact = ?1")) != 0) goto fail;
    sqlite3_bind_int64(s, 1, c.id);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : sqlite3_changes(st->db) == 1 ? 0 : RBX_E_NOT_FOUND;
    rbx__st_done(st, s);
    if (rc == 0) rc = rbx__audit(st, "session retired", "%s/%u: reset", c.name, c.device);
    if (rc != 0) goto fail;
    return rbx__st_commit(st, 0);
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ encrypt */

/* The contact's session, or a new one from its stored bundle (X3DH). */
static int session_for_sending(rbx_store *st, stored_session *ss, int *fresh, const contact *c,
                               const rbx_policy *pol, const rbx_session_opts *opts)
{
    int rc = load_session(st, ss, c->id);
    *fresh = 0;
    if (rc != 0) return rc;
    /* A key its organisation revoked gets nothing more. */
    if (c->has_org && (rc = is_revoked(st, c->org, c->identity)) != 0) return rc;
    if (ss->exists) return ss->rolled_back ? RBX_E_ROLLBACK : 0;
    if (c->bundlelen == 0) return RBX_E_NOT_FOUND;
    rbx_bundle b;
    uint8_t ik_pk[32], ik_sk[32];
    if ((rc = rbx_bundle_parse(&b, c->bundle, c->bundlelen)) != 0) return RBX_E_CORRUPT;
    if (sodium_memcmp(b.identity, c->identity, 32) != 0) return RBX_E_CORRUPT;
    if (b.signed_prekey_created != 0 &&
        rbx__st_now(st) - (int64_t)b.signed_prekey_created > (int64_t)pol->spk_max_age)
        return RBX_E_EXPIRED; /* held too long: fetch a fresh bundle */
    if ((rc = rbx__st_identity_seq(st, &ss->ik)) != 0 ||
        (rc = rbx__st_load_identity(st, ik_pk, ik_sk)) != 0)
        return rc;
    rc = rbx_session_initiate(&ss->s, ik_pk, ik_sk, &b, opts);
    WIPE(ik_sk);
    *fresh = rc == 0;
    return rc;
}

static int outbox_insert(rbx_store *st, uint64_t *id, int64_t contact_id, const uint8_t *wire,
                         size_t len)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT INTO outbox (contact, wire, created) VALUES (?1, ?2, ?3)"
                          " RETURNING id");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_blob(s, 2, wire, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    rc = rbx__st_step(s);
    if (rc == 1) *id = (uint64_t)sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    return rc == 1 ? 0 : rc == 0 ? RBX_E_IO : rc;
}

int rbx_store_encrypt_batch(rbx_store *st, uint8_t *out, size_t outcap, size_t *offsets,
                            size_t *lens, uint64_t *ids, const char *name, uint32_t device,
                            const uint8_t *const *pts, const size_t *ptlens, size_t n,
                            const rbx_session_opts *opts)
{
    contact c;
    stored_session ss = { 0 };
    rbx_policy pol;
    int fresh = 0;
    int64_t gen;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) offsets[i] = lens[i] = 0, ids[i] = 0;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    /* The policy is read once per call: a new session's bundle age, the archive. */
    if ((rc = find_contact(st, &c, name, device)) != 0 || (rc = rbx__st_policy(st, &pol)) != 0 ||
        (rc = session_for_sending(st, &ss, &fresh, &c, &pol, opts)) != 0 ||
        (rc = rbx__st_next_generation(st, &gen)) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if ((rc = rbx_session_encrypt(ss.s, out + used, outcap - used, &lens[i], pts[i],
                                      ptlens[i])) != 0)
            goto fail;
        /* Counted before anything else can fail: a ciphertext whose state
         * is rolled back must not stay in out (its key will be used again). */
        offsets[i] = used;
        used += lens[i];
        if ((rc = outbox_insert(st, &ids[i], c.id, out + offsets[i], lens[i])) != 0) goto fail;
        /* History (archive.c): kept in the transaction that sends it. */
        if (pol.archive && (rc = rbx__archive_add(st, ss.s->base_key, c.name, 1, pts[i], ptlens[i])) != 0)
            goto fail;
    }
    if ((rc = save_session(st, c.id, ss.s, gen, 0, ss.ik)) != 0) goto fail;
    if (fresh) {
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, c.identity);
        if ((rc = rbx__audit(st, "session established", "to %s/%u (%s), as initiator", c.name,
                             c.device, fp)) != 0)
            goto fail;
        /* The one-time prekey in the bundle is spent: drop the bundle. */
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "UPDATE contacts SET bundle = NULL WHERE id = ?1")) != 0) goto fail;
        sqlite3_bind_int64(s, 1, c.id);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        rbx__st_done(st, s);
        if (rc != 0) goto fail;
    }
    rbx_session_free(ss.s);
    ss.s = NULL;
    /* The advanced state is durable before any ciphertext leaves. */
    if ((rc = rbx__st_commit(st, gen)) != 0) goto wipe;
    return 0;
fail:
    rbx__st_rollback(st);
    rbx_session_free(ss.s);
wipe:
    WIPE_BUF(out, used);
    for (size_t i = 0; i < n; i++) offsets[i] = lens[i] = 0, ids[i] = 0;
    return rc;
}

int rbx_store_encrypt(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                      uint64_t *outbox_id, const char *name, uint32_t device, const uint8_t *pt,
                      size_t ptlen, const rbx_session_opts *opts)
{
    size_t off;
    static const uint8_t empty[1];
    const uint8_t *pts[1] = { pt != NULL ? pt : empty };
    if (pt == NULL && ptlen != 0) return RBX_E_INVALID;
    return rbx_store_encrypt_batch(st, out, outcap, &off, outlen, outbox_id, name, device, pts,
                                   &ptlen, 1, opts);
}

int rbx_store_outbox_next(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                          uint64_t *outbox_id, char name[RBX_NAME_MAX], uint32_t *device)
{
    sqlite3_stmt *s;
    int64_t gen;
    *outlen = 0;
    /* An outbox entry may be left by a process that died between its COMMIT
     * and raising the generation record: raise it now, before releasing,
     * so that every released ciphertext stays covered (P 15.6). */
    int rc = rbx__st_meta_get(st, "generation", &gen);
    if (rc == 0) rc = sidecar_raise(st, gen, 1);
    if (rc != 0) return rc;
    rc = rbx__st_prep(st, &s, "SELECT o.id, o.wire, c.name, c.device FROM outbox o"
                          " JOIN contacts c ON c.id = o.contact ORDER BY o.id LIMIT 1");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        /* Rows are outside input: any type, any length, any device. The
         * type first: after a conversion sqlite3_column_type is undefined. */
        int blob = sqlite3_column_type(s, 1) == SQLITE_BLOB;
        size_t n = (size_t)sqlite3_column_bytes(s, 1);
        const unsigned char *nm = sqlite3_column_text(s, 2);
        int64_t dev = sqlite3_column_int64(s, 3);
        if (!blob || n == 0 || nm == NULL || !rbx__st_name_ok((const char *)nm) || dev < 0 ||
            dev > UINT32_MAX) {
            rc = RBX_E_CORRUPT;
        } else if (n > outcap) {
            rc = RBX_E_BUFFER;
        } else {
            memcpy(out, sqlite3_column_blob(s, 1), n);
            *outlen = n;
            *outbox_id = (uint64_t)sqlite3_column_int64(s, 0);
            snprintf(name, RBX_NAME_MAX, "%s", (const char *)nm);
            *device = (uint32_t)dev;
            rc = 0;
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    return rc;
}

static int delete_by_id(rbx_store *st, const char *sql, uint64_t id)
{
    sqlite3_stmt *s;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, sql)) == 0) {
        sqlite3_bind_int64(s, 1, (int64_t)id);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : sqlite3_changes(st->db) == 1 ? 0 : RBX_E_NOT_FOUND;
        rbx__st_done(st, s);
    }
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    return rbx__st_commit(st, 0);
}

int rbx_store_ack_outbox(rbx_store *st, uint64_t id)
{
    return delete_by_id(st, "DELETE FROM outbox WHERE id = ?1", id);
}

int rbx_store_ack_inbox(rbx_store *st, uint64_t id)
{
    return delete_by_id(st, "DELETE FROM inbox WHERE id = ?1", id);
}

/* ------------------------------------------------------------ decrypt */

static void fill_received(rbx_received *info, const contact *c, uint64_t inbox_id, int new_contact,
                          int redelivered)
{
    snprintf(info->name, sizeof info->name, "%s", c->name);
    info->device = c->device;
    memcpy(info->peer_identity, c->identity, 32);
    info->inbox_id = inbox_id;
    info->new_contact = new_contact;
    info->redelivered = redelivered;
}

/* A message already accepted and still in the inbox: its plaintext again. */
static int inbox_lookup(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen,
                        rbx_received *info, const uint8_t digest[32])
{
    sqlite3_stmt *s;
    contact c;
    int64_t id = 0;
    int rc = rbx__st_prep(st, &s, "SELECT id, generation, pt, contact FROM inbox WHERE digest = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, digest, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0);
        c.id = sqlite3_column_int64(s, 3);
        rc = sqlite3_column_type(s, 2) != SQLITE_BLOB
                 ? RBX_E_CORRUPT
                 : rbx__row_open(pt, ptcap, ptlen, st->key, "inbox", id,
                                 sqlite3_column_int64(s, 1), "pt", sqlite3_column_blob(s, 2),
                                 (size_t)sqlite3_column_bytes(s, 2));
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    /* The sender as the contacts table has it, pin checked. */
    if (rc == 0 && (rc = find_contact_by_id(st, &c, c.id)) == 0)
        fill_received(info, &c, (uint64_t)id, 0, 1);
    if (rc != 0 && *ptlen) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
    }
    return rc == RBX_E_NOT_FOUND && id != 0 ? RBX_E_CORRUPT : rc;
}

/* The responder's keys for one first message, from the tables: the identity
 * that signed the named signed prekey (ours, or one still in its grace
 * window after a rotation; *ik_out says which). */
static int load_prekeys(rbx_store *st, rbx_prekeys **out, const rbx_prekey_info *pi,
                        int64_t *ik_out)
{
    uint8_t ik_pk[32], ik_sk[32], sk[32];
    int64_t ik = 0, current;
    sqlite3_stmt *s;
    *out = NULL;
    int rc = rbx__st_identity_seq(st, &current);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT sk, ik FROM signed_prekeys WHERE id = ?1")) != 0) return rc;
    sqlite3_bind_int64(s, 1, pi->signed_prekey_id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        ik = sqlite3_column_int64(s, 1);
        rc = rbx__st_column_key(st, sk, s, 0, "signed_prekeys", pi->signed_prekey_id, "sk");
    } else if (rc == 0) {
        rc = RBX_E_UNKNOWN_PREKEY;
    }
    rbx__st_done(st, s);
    if (rc != 0) goto out;
    if (ik == current) {
        rc = rbx__st_load_identity(st, ik_pk, ik_sk);
    } else {
        if ((rc = rbx__st_prep(st, &s, "SELECT pk, sk FROM old_identities WHERE seq = ?1"
                                       " AND grace_until > ?2")) != 0)
            goto out;
        sqlite3_bind_int64(s, 1, ik);
        sqlite3_bind_int64(s, 2, rbx__st_now(st));
        rc = rbx__st_step(s);
        if (rc == 1 && sqlite3_column_bytes(s, 0) == 32) {
            memcpy(ik_pk, sqlite3_column_blob(s, 0), 32);
            rc = rbx__st_column_key(st, ik_sk, s, 1, "old_identities", ik, "sk");
            if (rc == 0 && !rbx__keypair_matches(ik_pk, ik_sk)) rc = RBX_E_CORRUPT;
        } else {
            rc = rc < 0 ? rc : rc == 1 ? RBX_E_CORRUPT : RBX_E_UNKNOWN_PREKEY; /* grace over */
        }
        rbx__st_done(st, s);
    }
    if (rc != 0) goto out;
    if ((rc = rbx_prekeys_new(out, ik_pk, ik_sk)) != 0) goto out;
    if ((rc = rbx_prekeys_add_signed(*out, pi->signed_prekey_id, sk)) != 0 || !pi->has_onetime)
        goto out;
    if ((rc = rbx__st_prep(st, &s, "SELECT sk FROM onetime_prekeys WHERE id = ?1")) != 0) goto out;
    sqlite3_bind_int64(s, 1, pi->onetime_prekey_id);
    rc = rbx__st_step(s);
    if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_NULL) rc = RBX_E_PREKEY_REUSED;
    else if (rc == 1) rc = rbx__st_column_key(st, sk, s, 0, "onetime_prekeys", pi->onetime_prekey_id, "sk");
    else if (rc == 0) rc = RBX_E_UNKNOWN_PREKEY;
    rbx__st_done(st, s);
    if (rc == 0) rc = rbx_prekeys_add_onetime(*out, pi->onetime_prekey_id, sk);
out:
    WIPE(ik_sk);
    WIPE(sk);
    *ik_out = ik;
    if (rc != 0) {
        rbx_prekeys_free(*out);
        *out = NULL;
    }
    return rc;
}

int rbx_store_decrypt(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen, rbx_received *info,
                      const char *name, uint32_t device, const uint8_t *in, size_t len)
{
    uint8_t digest[32];
    rbx_prekey_info pi;
    contact c = { 0 };
    stored_session ss = { 0 };
    rbx_prekeys *pre = NULL;
    int have_contact = 0, new_contact = 0, in_grace = 0, old_key = 0, rc;
    uint8_t grace_base[32] = { 0 };
    int64_t old_key_until = 0;
    int64_t gen;
    *ptlen = 0;
    memset(info, 0, sizeof *info);
    if (name != NULL && !rbx__st_name_ok(name)) return RBX_E_INVALID;
    int kind = rbx_message_prekey_info(&pi, in, len);
    if (kind < 0) return kind;
    if (kind == 0 && name == NULL) return RBX_E_INVALID;
    crypto_generichash(digest, sizeof digest, in, len, NULL, 0);
    if ((rc = rbx__st_begin(st)) != 0) return rc;

    rc = inbox_lookup(st, pt, ptcap, ptlen, info, digest);
    if (rc != RBX_E_NOT_FOUND) goto fail_or_done; /* redelivered (0) or an error */

    rc = name != NULL ? find_contact(st, &c, name, device)
                      : find_contact_by_identity(st, &c, pi.initiator_identity);
    /* A first message under a key the peer has since rotated away from,
     * still in its grace window: a session for the grace table. */
    if (kind == 1 && rc != 0 && rc != RBX_E_NOT_FOUND) goto fail;
    if (kind == 1 && (rc == RBX_E_NOT_FOUND ||
                      sodium_memcmp(c.identity, pi.initiator_identity, 32) != 0)) {
        int r = find_contact_by_old_key(st, &c, pi.initiator_identity, rc == 0 ? c.id : 0,
                                        &old_key_until);
        if (r != 0 && r != RBX_E_NOT_FOUND) {
            rc = r;
            goto fail;
        }
        if (r == 0) rc = 0, old_key = 1;
    }
    if (rc != 0 && rc != RBX_E_NOT_FOUND) goto fail;
    have_contact = rc == 0;
    if (have_contact && (rc = load_session(st, &ss, c.id)) != 0) goto fail;
    if (ss.exists && (kind == 0 || sodium_memcmp(ss.s->base_key, pi.base_key, 32) == 0)) {
        rc = rbx_session_decrypt(ss.s, pt, ptcap, ptlen, in, len);
        /* Sent under a session that a rotation or a new handshake replaced. */
        if (rc == RBX_E_AUTH) {
            int r = grace_decrypt(st, c.id, kind, pi.base_key, pt, ptcap, ptlen, in, len, grace_base);
            /* None took it: the current session's answer stands. A storage
             * error is not a forgery: it is returned, as below. */
            if (r != RBX_E_NOT_FOUND) rc = r;
            in_grace = r == 0;
        }
    } else if (have_contact && (rc = grace_decrypt(st, c.id, kind, pi.base_key, pt, ptcap, ptlen,
                                                   in, len, grace_base)) != RBX_E_NOT_FOUND) {
        in_grace = rc == 0;
    } else if (kind == 1) {
        uint32_t consumed;
        rbx_session *fresh = NULL;
        rbx_policy pol;
        /* A key an organisation we follow revoked starts nothing. */
        if ((rc = is_revoked(st, NULL, pi.initiator_identity)) != 0) goto fail;
        if ((rc = load_prekeys(st, &pre, &pi, &ss.ik)) != 0) goto fail;
        rc = rbx_session_accept(&fresh, pt, ptcap, ptlen, &consumed, pre,
                                old_key ? pi.initiator_identity : have_contact ? c.identity : NULL,
                                in, len);
        if (rc != 0) goto fail;
        if (old_key) {
            /* Under the peer's old key: kept beside the current session for
             * what is left of that key's grace window, never in its place. */
            rc = grace_insert(st, c.id, fresh, old_key_until);
            rbx_session_free(fresh);
            if (rc != 0) goto fail;
            in_grace = 1;
        } else {
            /* The session this handshake replaces keeps taking its messages
             * in flight for the grace window. */
            if (ss.exists && ((rc = rbx__st_policy(st, &pol)) != 0 ||
                              (rc = retire_loaded(st, c.id, &ss,
                                                  rbx__st_now(st) + (int64_t)pol.identity_grace)) != 0)) {
                rbx_session_free(fresh);
                goto fail;
            }
            rbx_session_free(ss.s);
            ss.s = fresh;
            ss.rolled_back = 0; /* a new handshake */
        }
        if (!have_contact) {
            if (name != NULL) snprintf(c.name, sizeof c.name, "%s", name);
            else rbx_fingerprint(c.name, pi.initiator_identity);
            c.device = device;
            memcpy(c.identity, pi.initiator_identity, 32);
            c.bundlelen = 0;
            if ((rc = insert_contact(st, &c)) != 0) goto fail;
            new_contact = 1;
        }
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, c.identity);
        if ((rc = rbx__audit(st, "session established", "from %s/%u (%s), as responder%s", c.name,
                             c.device, fp, new_contact ? ", new contact" : "")) != 0)
            goto fail;
        if (consumed != UINT32_MAX) {
            /* The one-time prekey's secret is erased; its id stays, so a
             * second use is told apart from an unknown id. */
            sqlite3_stmt *s;
            if ((rc = rbx__st_prep(st, &s, "UPDATE onetime_prekeys SET sk = NULL, offered = 1 WHERE id = ?1")) != 0)
                goto fail;
            sqlite3_bind_int64(s, 1, consumed);
            rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
            rbx__st_done(st, s);
        }
    } else {
        rc = RBX_E_NOT_FOUND;
    }
    if (rc != 0) goto fail;

    if ((rc = rbx__st_next_generation(st, &gen)) != 0 ||
        (!in_grace && (rc = save_session(st, c.id, ss.s, gen, ss.rolled_back, ss.ik)) != 0))
        goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO inbox (id, contact, digest, generation, pt, created)"
                           " VALUES (?1, ?2, ?3, ?1, ?4, ?5)")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, gen);
    sqlite3_bind_int64(s, 2, c.id);
    sqlite3_bind_blob(s, 3, digest, 32, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 4, "inbox", gen, gen, "pt", pt, *ptlen);
    sqlite3_bind_int64(s, 5, rbx__st_now(st));
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) goto fail;
    /* History (archive.c): kept in the transaction that accepts it, under
     * the session that decrypted it (a grace session's, or a first
     * message's base key under the peer's old identity). */
    rbx_policy pol;
    const uint8_t *session = !in_grace ? ss.s->base_key : kind == 1 ? pi.base_key : grace_base;
    if ((rc = rbx__st_policy(st, &pol)) != 0 ||
        (pol.archive && (rc = rbx__archive_add(st, session, c.name, 0, pt, *ptlen)) != 0))
        goto fail;
    rbx_session_free(ss.s);
    rbx_prekeys_free(pre);
    if ((rc = rbx__st_commit(st, gen)) != 0) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        return rc;
    }
    fill_received(info, &c, (uint64_t)gen, new_contact, 0);
    return 0;
fail_or_done:
    if (rc == 0) {
        rbx__st_rollback(st);
        return 0;
    }
fail:
    rbx__st_rollback(st);
    rbx_session_free(ss.s);
    rbx_prekeys_free(pre);
    if (*ptlen) WIPE_BUF(pt, *ptlen);
    *ptlen = 0;
    memset(info, 0, sizeof *info);
    return rc;
}
