/* SPDX-License-Identifier: MIT
 * The SQLite store's lowest floor (PROTOCOL.md "State and storage"): sealed
 * rows, the prepared statement cache, the store generation and its rollback
 * record, transactions, erase points, sealed columns and meta values, and
 * key pair rows. Durable, crash-safe, concurrent and forward-secure at rest
 * is built from these; the floors above are in store_int.h. This file calls
 * nothing above it (tests/layering.sh). */
#include <errno.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "db.h"

#define SIDECAR_BYTES (4U + 8U + 16U)
#define SIDECAR_MAGIC "RBXG"

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
int64_t rbx__st_mono_ms(void)
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

uint8_t *rbx__row_seal(size_t *outlen, const uint8_t key[32], const char *table, int64_t rowkey,
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

void rbx__st_finalize_all(rbx_store *st)
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

/* ------------------------------------------------------------ integrity record */

/* Which record field binds a sealed meta value (NULL: none). */
static uint8_t *meta_binding(rbx_store *st, const char *k)
{
    if (strcmp(k, "policy") == 0) return st->integ.policy;
    if (strcmp(k, "audit_head") == 0) return st->integ.audit_head;
    return NULL;
}

/* A sealed meta value (the policy seal, the audit head), bound to its key:
 * meta/0/0/<k> (PROTOCOL.md 15.3), and by the hash of its stored bytes to
 * the integrity record of this transaction (15.8). */
int rbx__st_meta_seal(rbx_store *st, const char *k, const uint8_t *v, size_t n)
{
    sqlite3_stmt *s;
    rbx__integrity *r;
    size_t clen;
    int rc = rbx__st_integ(st, &r);
    if (rc != 0) return rc;
    uint8_t *c = rbx__row_seal(&clen, st->key, "meta", 0, 0, k, v, n);
    if (c == NULL) return RBX_E_NOMEM;
    uint8_t *bound = meta_binding(st, k);
    if (bound != NULL) rbx__auth_hash(bound, c, clen);
    if ((rc = rbx__st_prep(st, &s, "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)")) != 0) {
        free(c);
        return rc;
    }
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    rc = rbx__sql_err(sqlite3_bind_blob(s, 2, c, (int)clen, free));
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* Open a sealed meta value into *v (free with rbx__st_free_secret);
 * RBX_E_NOT_FOUND if there is none. A value that does not open is damage
 * (RBX_E_CORRUPT); one that opens but is not the value the integrity record
 * names is an older one put back (RBX_E_TAMPERED). */
int rbx__st_meta_open(rbx_store *st, const char *k, uint8_t **v, size_t *n)
{
    sqlite3_stmt *s;
    rbx__integrity *r;
    uint8_t h[32];
    *v = NULL;
    *n = 0;
    int rc = rbx__st_integ(st, &r);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = ?1")) != 0) return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) {
        rc = rbx__st_column_open(st, v, n, s, 0, "meta", 0, 0, k);
        const uint8_t *bound = meta_binding(st, k);
        if (rc == 0 && bound != NULL && RBX_CHECK_META_BINDING) {
            rbx__auth_hash(h, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
            if (sodium_memcmp(h, bound, 32) != 0) rc = RBX_E_TAMPERED;
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    if (rc != 0) {
        rbx__st_free_secret(*v, *n);
        *v = NULL;
        *n = 0;
    }
    return rc;
}

/* Read and open the record into st->integ. */
static int integ_load(rbx_store *st)
{
    sqlite3_stmt *s;
    uint8_t buf[RBX_INTEGRITY_BYTES];
    size_t n;
    st->integ_loaded = 0;
    int rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = 'integrity'");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        rc = sqlite3_column_type(s, 0) != SQLITE_BLOB
                 ? RBX_E_CORRUPT
                 : rbx__row_open(buf, sizeof buf, &n, st->key, "meta", 0, 0, "integrity",
                                 sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
        if (rc == RBX_E_BUFFER) rc = RBX_E_CORRUPT;
        if (rc == 0) rc = rbx__integrity_decode(&st->integ, buf, n);
    } else if (rc == 0) {
        rc = RBX_E_TAMPERED; /* every schema-3 store has one */
    }
    rbx__st_done(st, s);
    WIPE(buf);
    if (rc == 0) st->integ_loaded = 1;
    return rc;
}

int rbx__st_integ(rbx_store *st, rbx__integrity **r)
{
    *r = &st->integ;
    /* Outside a transaction every read is its own snapshot: read it afresh. */
    if (st->integ_loaded && !sqlite3_get_autocommit(st->db)) return 0;
    return integ_load(st);
}

/* Written in place: an UPDATE keeps the row's rowid, so meta's key index
 * is not rewritten with every commit (a REPLACE would add that page to
 * each commit's log); the first write (migration) inserts it. */
int rbx__st_integ_write(rbx_store *st)
{
    static const char *const sql[] = {
        "UPDATE meta SET v = ?1 WHERE k = 'integrity'",
        "INSERT INTO meta (k, v) VALUES ('integrity', ?1)",
    };
    uint8_t buf[RBX_INTEGRITY_BYTES];
    sqlite3_stmt *s;
    int rc = 0, done = 0;
    rbx__integrity_encode(buf, &st->integ);
    for (size_t i = 0; i < 2 && rc == 0 && !done; i++) {
        if ((rc = rbx__st_prep(st, &s, sql[i])) != 0) break;
        rc = rbx__st_bind_sealed(st, s, 1, "meta", 0, 0, "integrity", buf, sizeof buf);
        if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        done = rc == 0 && sqlite3_changes(st->db) == 1;
        rbx__st_done(st, s);
    }
    WIPE(buf);
    return rc != 0 ? rc : done ? 0 : RBX_E_IO;
}

int rbx__st_generation(rbx_store *st, int64_t *gen)
{
    rbx__integrity *r;
    int rc = rbx__st_integ(st, &r);
    *gen = rc == 0 ? r->generation : 0;
    return rc;
}

/* The identity sequence in force: 0 for the first identity, + 1 per rotation. */
int rbx__st_identity_seq(rbx_store *st, int64_t *seq)
{
    rbx__integrity *r;
    int rc = rbx__st_integ(st, &r);
    *seq = rc == 0 ? r->identity_seq : 0;
    return rc;
}

int rbx__st_set_identity_seq(rbx_store *st, int64_t seq)
{
    rbx__integrity *r;
    int rc = rbx__st_integ(st, &r);
    if (rc == 0) r->identity_seq = seq;
    return rc;
}

/* The generation of the write transaction in progress: every committed
 * change gets a fresh one, taken at its first use and the same for every
 * row the transaction seals under it. */
int rbx__st_next_generation(rbx_store *st, int64_t *gen)
{
    rbx__integrity *r;
    int rc = rbx__st_integ(st, &r);
    if (rc != 0) return rc;
    if (st->tx_generation == 0) {
        if (r->generation == INT64_MAX) return RBX_E_LIMIT;
        st->tx_generation = ++r->generation;
    }
    *gen = st->tx_generation;
    return 0;
}

/* The schema as it is now against the record's digest (15.8): objects
 * added, removed or changed behind the store (a trigger of someone else's
 * would run inside the store's transactions). */
static int schema_check(rbx_store *st)
{
    uint8_t d[32];
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "PRAGMA schema_version");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    int64_t cookie = rc == 1 ? sqlite3_column_int64(s, 0) : -1;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (cookie == st->schema_cookie) return 0;
    if ((rc = rbx__auth_schema(st->db, d)) != 0) return rc;
    if (RBX_CHECK_SCHEMA && sodium_memcmp(d, st->integ.schema, 32) != 0) return RBX_E_TAMPERED;
    st->schema_cookie = cookie;
    return 0;
}

int rbx__st_verify(rbx_store *st)
{
    rbx__set now;
    rbx__integrity *r;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    st->schema_cookie = -1;
    if ((rc = rbx__st_integ(st, &r)) == 0 && (rc = schema_check(st)) == 0 &&
        (rc = rbx__auth_sets(st->db, &st->auth_keys, &now)) == 0 && RBX_CHECK_SETS &&
        (now.count != r->rows.count || sodium_memcmp(now.sum, r->rows.sum, 32) != 0))
        rc = RBX_E_TAMPERED;
    rbx__st_rollback(st);
    return rc;
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
int rbx__st_sidecar_read(rbx_store *st, int64_t *gen)
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
int rbx__st_sidecar_raise(rbx_store *st, int64_t gen, int sync)
{
    int rc = 0;
    int64_t cur;
    while (flock(st->sidecar_fd, LOCK_EX) != 0)
        if (errno != EINTR) return RBX_E_IO;
    if ((rc = rbx__st_sidecar_read(st, &cur)) == 0 && cur < gen) {
        uint8_t buf[SIDECAR_BYTES];
        sidecar_encode(buf, st, gen);
        if (pwrite(st->sidecar_fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) rc = RBX_E_IO;
    }
    if (rc == 0 && sync && fdatasync(st->sidecar_fd) != 0) rc = RBX_E_IO;
    (void)flock(st->sidecar_fd, LOCK_UN);
    return rc;
}

/* ------------------------------------------------------------ transactions */

static int begin_immediate(rbx_store *st)
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

/* A write transaction: the write lock, then the integrity record as the
 * last commit left it (another process may have committed since), and from
 * here on every row change is counted into it (15.8). */
int rbx__st_begin(rbx_store *st)
{
    sqlite3_stmt *s;
    int rc = begin_immediate(st);
    if (rc != 0) return rc;
    st->tx_generation = 0;
    st->auth.failed = 0;
    /* Another connection (another process, or someone else's tool) has
     * committed since this handle last did: the record, and perhaps the
     * schema, are not what this handle knows. */
    if ((rc = rbx__st_prep(st, &s, "PRAGMA data_version")) == 0) {
        rc = rbx__st_step(s);
        int64_t dv = rc == 1 ? sqlite3_column_int64(s, 0) : -1;
        rbx__st_done(st, s);
        if (rc == 1 && st->integ_cached && dv == st->integ_dv) {
            st->integ = st->integ_committed;
            st->integ_loaded = 1;
            rc = 0;
        } else if (rc >= 0 && (rc = integ_load(st)) == 0 && (rc = schema_check(st)) == 0) {
            st->integ_committed = st->integ;
            st->integ_dv = dv;
            st->integ_cached = dv >= 0;
        }
    }
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    st->auth.live = 1;
    return 0;
}

void rbx__st_rollback(rbx_store *st)
{
    st->auth.live = 0;
    st->integ_loaded = 0;
    st->tx_generation = 0;
    (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The erase point: copy the write-ahead log into the database and truncate
 * it to zero bytes. With secure_delete the freed cells and pages are zeroed,
 * so no earlier version of any row survives in any file. */
/* Pages one store commit appends to the log: meta, sessions, outbox or
 * inbox, and an index page or two. */
#define WAL_FRAMES_PER_COMMIT 5

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
    int rc = begin_immediate(st); /* for the lock only: nothing is written */
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
    st->last_erase_ms = rbx__st_mono_ms();
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
    /* The record goes out with the commit it describes: the generation and
     * every set as this transaction left them. */
    if (rc == 0 && (!st->integ_loaded || st->tx_generation != gen)) rc = RBX_E_STATE;
    if (rc == 0) {
        st->auth.live = 0;
        rc = st->auth.failed != 0 ? st->auth.failed : rbx__st_integ_write(st);
    }
    if (rc == 0) rc = rbx__sql_err(sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL));
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    st->integ_committed = st->integ; /* what the file now holds */
    st->integ_loaded = 0;
    st->tx_generation = 0;
    int strict = st->mode == RBX_STORE_STRICT;
    st->commits_since_erase++;
    int64_t now_ms = rbx__st_mono_ms();
    int erase = strict || st->commits_since_erase >= st->erase_commits || now_ms < 0 ||
                now_ms - st->last_erase_ms >= (int64_t)st->erase_seconds * 1000;
    int erased = erase && rbx__st_erase_point(st) == 0;
    if ((rc = rbx__st_sidecar_raise(st, gen, erased)) != 0) return rc;
    return strict && !erased ? RBX_E_IO : 0;
}

int rbx_store_erase_now(rbx_store *st) { return rbx__st_erase_point(st); }

/* ------------------------------------------------------------ secrets in rows */

/* Bind a sealed secret as parameter i. */
int rbx__st_bind_sealed(rbx_store *st, sqlite3_stmt *s, int i, const char *table, int64_t rowkey,
                       int64_t gen, const char *column, const uint8_t *pt, size_t ptlen)
{
    size_t n;
    uint8_t *c = rbx__row_seal(&n, st->key, table, rowkey, gen, column, pt, ptlen);
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
