/* SPDX-License-Identifier: MIT
 * The SQLite store's lowest floor (PROTOCOL.md "State and storage"): sealed
 * rows, the prepared statement cache, the store generation and its rollback
 * record, transactions, erase points, sealed columns and meta values, and
 * key pair rows. Durable, crash-safe, concurrent and forward-secure at rest
 * is built from these; the floors above are in store_int.h. This file calls
 * nothing above it (tests/layering.sh). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* ------------------------------------------------------------ diagnostics */

int rbx__st_io_fail(rbx_store *st, int file, int err, const char *op)
{
    st->io.file = file;
    st->io.os_error = err;
    st->io.op = op;
    return RBX_E_IO;
}

/* The operation behind an SQLite I/O error, for messages. */
static const char *sql_op(int xrc)
{
    switch (xrc) {
    case SQLITE_FULL:
    case SQLITE_IOERR_WRITE:
        return "write";
    case SQLITE_IOERR_READ:
    case SQLITE_IOERR_SHORT_READ:
        return "read";
    case SQLITE_IOERR_FSYNC:
    case SQLITE_IOERR_DIR_FSYNC:
        return "sync";
    case SQLITE_IOERR_TRUNCATE:
        return "truncate";
    case SQLITE_IOERR_FSTAT:
        return "stat";
    case SQLITE_IOERR_SHMOPEN:
    case SQLITE_IOERR_SHMSIZE:
    case SQLITE_IOERR_SHMMAP:
    case SQLITE_IOERR_SHMLOCK:
        return "shared memory";
    case SQLITE_IOERR_DELETE:
        return "delete";
    case SQLITE_CANTOPEN:
        return "open";
    default:
        return (xrc & 0xff) == SQLITE_BUSY || (xrc & 0xff) == SQLITE_LOCKED ||
                       (xrc & 0xff) == SQLITE_IOERR
                   ? ((xrc & 0xff) == SQLITE_IOERR ? "I/O" : "lock")
                   : "database";
    }
}

/* The log file of st's connection (NULL before it is opened). */
static sqlite3_file *wal_file(rbx_store *st)
{
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
        wal == NULL || wal->pMethods == NULL)
        return NULL;
    return wal;
}

/* errno of an SQLite I/O error on st's connection. A full disk is reported
 * as SQLITE_FULL alone. SQLite keeps the errno of an IOERR or CANTOPEN
 * (sqlite3_system_errno), but reads it late, when other calls may have
 * cleared it; each file then still holds the errno of its last failure
 * (SQLITE_FCNTL_LAST_ERRNO): the log's, where commits fail, or the
 * database's. */
static int sql_errno(rbx_store *st, int xrc)
{
    int e = 0;
    if ((xrc & 0xff) == SQLITE_FULL) return ENOSPC;
    if ((xrc & 0xff) != SQLITE_IOERR && (xrc & 0xff) != SQLITE_CANTOPEN) return 0;
    if ((e = sqlite3_system_errno(st->db)) != 0) return e;
    sqlite3_file *wal = wal_file(st);
    if (wal != NULL && wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &e) == SQLITE_OK &&
        e != 0)
        return e;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_LAST_ERRNO, &e) != SQLITE_OK) e = 0;
    return e;
}

int rbx__st_sql(rbx_store *st, int rc)
{
    int r = rbx__sql_err(rc);
    if (r == RBX_E_IO) (void)rbx__st_io_fail(st, RBX_FILE_DATABASE, sql_errno(st, rc), sql_op(rc));
    else if (r == RBX_E_CORRUPT) st->io = (rbx_io_error){ RBX_FILE_DATABASE, 0, "content" };
    return r;
}

/* The same for a direct call of the log's VFS methods, right after it
 * failed (errno is still the failing call's). */
static int vfs_fail(rbx_store *st, int rc, const char *op)
{
    int err = (rc & 0xff) == SQLITE_FULL ? ENOSPC : errno;
    (void)rbx__st_io_fail(st, RBX_FILE_DATABASE, err, op);
    return rbx__sql_err(rc) == 0 ? RBX_E_IO : rbx__sql_err(rc);
}

int rbx_store_io_error(const rbx_store *st, rbx_io_error *e)
{
    *e = st->io;
    return st->io.file != 0 || st->io.os_error != 0 || st->io.op != NULL;
}

unsigned rbx_store_deferred(const rbx_store *st, rbx_io_error *cause)
{
    if (cause != NULL) {
        if (st->deferred != 0) *cause = st->deferred_io;
        else memset(cause, 0, sizeof *cause);
    }
    return st->deferred;
}

/* Work after a COMMIT failed: it is owed, and the handle retries it. */
static void defer(rbx_store *st, unsigned what)
{
    st->deferred |= what;
    st->deferred_io = st->io;
}

int rbx__st_exec(rbx_store *st, const char *sql)
{
    return rbx__st_sql(st, sqlite3_exec(st->db, sql, NULL, NULL, NULL));
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

/* sqlite3_reset (and finalize) return the error of the statement's last
 * step: an I/O failure of any statement is recorded here, where the
 * handle is known (rbx_store_io_error). */
void rbx__st_done(rbx_store *st, sqlite3_stmt *s)
{
    int rc = SQLITE_OK;
    size_t i;
    for (i = 0; i < st->nstmts && st->stmts[i].stmt != s; i++) {}
    if (i < st->nstmts) {
        rc = sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    } else {
        rc = sqlite3_finalize(s);
    }
    if (rbx__sql_err(rc) == RBX_E_IO) (void)rbx__st_sql(st, rc);
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
    uint8_t buf[SIDECAR_BYTES + 1], want[SIDECAR_BYTES];
    ssize_t n;
    while ((n = pread(st->sidecar_fd, buf, sizeof buf, 0)) < 0 && errno == EINTR) {}
    if (n < 0) return rbx__st_io_fail(st, RBX_FILE_GENERATION, errno, "read");
    if (n == 0) {
        *gen = -1;
        return 0;
    }
    int64_t g = n == SIDECAR_BYTES ? (int64_t)rbx__load64_be(buf + 4) : -1;
    if (g >= 0) sidecar_encode(want, st, g);
    if (g < 0 || sodium_memcmp(buf, want, SIDECAR_BYTES) != 0) {
        st->io = (rbx_io_error){ RBX_FILE_GENERATION, 0, "content" };
        return RBX_E_CORRUPT;
    }
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
        if (errno != EINTR) return rbx__st_io_fail(st, RBX_FILE_GENERATION, errno, "lock");
    if ((rc = rbx__st_sidecar_read(st, &cur)) == 0 && cur < gen) {
        uint8_t buf[SIDECAR_BYTES];
        sidecar_encode(buf, st, gen);
        ssize_t n;
        while ((n = pwrite(st->sidecar_fd, buf, sizeof buf, 0)) < 0 && errno == EINTR) {}
        /* A short write of 28 bytes in place: the disk is failing. */
        if (n != (ssize_t)sizeof buf)
            rc = rbx__st_io_fail(st, RBX_FILE_GENERATION, n < 0 ? errno : EIO, "write");
    }
    if (rc == 0 && sync && fdatasync(st->sidecar_fd) != 0)
        rc = rbx__st_io_fail(st, RBX_FILE_GENERATION, errno, "sync");
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
        if ((rc & 0xff) != SQLITE_BUSY || tries == 100) return rbx__st_sql(st, rc);
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

/* ------------------------------------------------------------ erase points
 *
 * PROTOCOL.md 15.5. With secure_delete on, freed cells and pages of the
 * database file are zeroed, so earlier versions of rows survive only as
 * frames of the write-ahead log. An erase point destroys them:
 *  - full (rbx_store_erase_now, close, upkeep, strict mode after every
 *    commit): checkpoint every frame into the database, then truncate the
 *    log (closing, strict) or overwrite it with zeros in place (an open
 *    bounded handle: the file keeps its size, so that later commits
 *    overwrite allocated blocks, and the erase needs no free space);
 *  - a step (bounded mode, every erase_commits / 2 commits or
 *    erase_seconds / 2): checkpoint every frame and restart the log, so
 *    that the next commits overwrite it from its first frame, and zero
 *    only what lies beyond this period's frames: the frames of the period
 *    before, which this one did not overwrite. A frame is thus gone by the
 *    second step after it was written, within erase_commits commits, as
 *    with a full erase point every erase_commits; but a step writes only
 *    the checkpointed pages and the (usually empty) tail, where a full one
 *    writes the whole log again or truncates it, which costs more later
 *    (measured, bench/README.md "The durable tail"). */

#define WAL_HEADER 32
#define WAL_FRAME_HEADER 24
#define ZERO_CHUNK 16384

/* Checkpoint every frame into the database (synced), in SQLite's RESTART
 * or TRUNCATE mode; *frames: the frames the log held. */
static int checkpoint(rbx_store *st, int mode, int *frames)
{
    int rc = SQLITE_BUSY, nlog = 0, nckpt = 0;
    for (int tries = 0; tries < 50 && (rc & 0xff) == SQLITE_BUSY; tries++) {
        rc = sqlite3_wal_checkpoint_v2(st->db, NULL, mode, &nlog, &nckpt);
        if ((rc & 0xff) == SQLITE_BUSY) sqlite3_sleep(10);
    }
    if (rc != SQLITE_OK) return rbx__st_sql(st, rc);
    *frames = nlog > 0 ? nlog : 0;
    return 0;
}

/* The log's first bytes (its header; zeros when shorter). */
static int wal_head(rbx_store *st, sqlite3_file *wal, uint8_t head[WAL_HEADER])
{
    int rc = wal->pMethods->xRead(wal, head, WAL_HEADER, 0);
    if (rc == SQLITE_IOERR_SHORT_READ) rc = SQLITE_OK; /* SQLite zero-fills */
    return rc == SQLITE_OK ? 0 : vfs_fail(st, rc, "read");
}

/* Overwrite [from, end of file) of the log with zeros where it is not zero
 * already; sync what was written if sync is set. */
static int wal_zero(rbx_store *st, sqlite3_file *wal, sqlite3_int64 from, int sync)
{
    static const uint8_t zeros[ZERO_CHUNK];
    uint8_t buf[ZERO_CHUNK];
    sqlite3_int64 size = 0;
    int rc = wal->pMethods->xFileSize(wal, &size), wrote = 0;
    if (rc != SQLITE_OK) return vfs_fail(st, rc, "stat");
    for (sqlite3_int64 off = from; off < size && rc == SQLITE_OK; off += ZERO_CHUNK) {
        int n = (int)(size - off < ZERO_CHUNK ? size - off : ZERO_CHUNK);
        rc = wal->pMethods->xRead(wal, buf, n, off);
        if (rc == SQLITE_IOERR_SHORT_READ) rc = SQLITE_OK;
        if (rc != SQLITE_OK) return vfs_fail(st, rc, "read");
        if (sodium_is_zero(buf, (size_t)n)) continue;
        if ((rc = wal->pMethods->xWrite(wal, zeros, n, off)) != SQLITE_OK)
            return vfs_fail(st, rc, "write");
        wrote = 1;
    }
    if (sync && wrote && (rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL)) != SQLITE_OK)
        return vfs_fail(st, rc, "sync");
    return 0;
}

/* After a RESTART checkpoint: zero the log from `from` on, under the write
 * lock. If another writer restarted the log since the checkpoint (its
 * header changed), what lies past `from` may be its frames: nothing is
 * touched and the erase is owed (retried at the next commit). */
static int zero_after_restart(rbx_store *st, const uint8_t before[WAL_HEADER], sqlite3_int64 from,
                              int sync)
{
    sqlite3_file *wal = wal_file(st);
    uint8_t now[WAL_HEADER];
    if (wal == NULL) return 0; /* no log: nothing to erase */
    int rc = begin_immediate(st); /* for the lock only: nothing is written */
    if (rc != 0) return rc;
    if ((rc = wal_head(st, wal, now)) == 0) {
        if (memcmp(before, now, WAL_HEADER) != 0)
            rc = rbx__st_io_fail(st, RBX_FILE_DATABASE, 0, "lock");
        else
            rc = wal_zero(st, wal, from, sync);
    }
    rbx__st_rollback(st);
    return rc;
}

static int restart_and_zero(rbx_store *st, int whole)
{
    int frames = 0;
    uint8_t head[WAL_HEADER];
    sqlite3_file *wal;
    int rc = checkpoint(st, SQLITE_CHECKPOINT_RESTART, &frames);
    if (rc != 0 || (wal = wal_file(st)) == NULL) return rc;
    if ((rc = wal_head(st, wal, head)) != 0) return rc;
    /* A step keeps this period's frames (the next commits overwrite them)
     * and the header that makes them readable for recovery. Its zeros are
     * not synced on their own: whoever reads the file reads zeros at once,
     * and the next commit's log sync (or close) writes them to the disk,
     * which saves a sync per step (about 150 us here). A full erase point,
     * asked for, syncs. */
    sqlite3_int64 from = whole || frames == 0
                             ? 0
                             : WAL_HEADER + (sqlite3_int64)frames * (st->page_size + WAL_FRAME_HEADER);
    return zero_after_restart(st, head, from, whole);
}

static void erased(rbx_store *st)
{
    st->commits_since_erase = 0;
    st->last_erase_ms = rbx__st_mono_ms();
    st->deferred &= ~RBX_DEFERRED_ERASE;
}

int rbx__st_erase_point(rbx_store *st)
{
    int frames = 0, rc;
    if (st->closing || st->mode == RBX_STORE_STRICT)
        rc = checkpoint(st, SQLITE_CHECKPOINT_TRUNCATE, &frames);
    else
        rc = restart_and_zero(st, 1);
    if (rc != 0) {
        defer(st, RBX_DEFERRED_ERASE);
        return rc;
    }
    erased(st);
    return 0;
}

/* The generation record owed by an earlier commit: raised to the
 * database's generation and synced. */
int rbx__st_record_catch_up(rbx_store *st)
{
    int64_t gen;
    int rc = rbx__st_generation(st, &gen);
    if (rc == 0) rc = rbx__st_sidecar_raise(st, gen, 1);
    if (rc != 0) defer(st, RBX_DEFERRED_RECORD);
    else st->deferred &= ~RBX_DEFERRED_RECORD;
    return rc;
}

int rbx_store_erase_now(rbx_store *st)
{
    int rc = rbx__st_erase_point(st);
    int rrc = (st->deferred & RBX_DEFERRED_RECORD) ? rbx__st_record_catch_up(st) : 0;
    return rc != 0 ? rc : rrc;
}

/* COMMIT, then the work after it. A COMMIT that fails changed nothing and
 * is the only error returned; what follows it cannot undo the change, so
 * its failures are owed (rbx_store_deferred) and retried, never returned
 * as if the change had not happened (PROTOCOL.md 15.4):
 *  - the generation record is raised at once, before the caller gets any
 *    output, and synced at every other erase step (strict: every erase);
 *  - the erase point the mode asks for: strict, a full one; bounded, a step
 *    every erase_commits / 2 commits or erase_seconds / 2 seconds, and at
 *    the next commit after one that failed.
 * release: the caller hands out ciphertexts, which only a raised record
 * may cover; a failed raise is then returned (the ciphertexts stay in the
 * outbox for rbx_store_outbox_next, which raises the record first). */
static int commit(rbx_store *st, int64_t gen, int release)
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
    if (rc == 0) rc = rbx__st_sql(st, sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL));
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    st->integ_committed = st->integ; /* what the file now holds */
    st->integ_loaded = 0;
    st->tx_generation = 0;
    int strict = st->mode == RBX_STORE_STRICT;
    unsigned step = st->erase_commits > 1 ? st->erase_commits / 2 : 1;
    /* Half of erase_seconds, on the monotonic clock (P 15.5): a wall clock
     * set back or forth neither postpones nor forces a step. */
    int64_t step_ms = (int64_t)st->erase_seconds * 500, now_ms = rbx__st_mono_ms();
    st->commits_since_erase++;
    int rrc = rbx__st_sidecar_raise(st, gen, 0);
    if (rrc != 0) defer(st, RBX_DEFERRED_RECORD);
    else st->deferred &= ~RBX_DEFERRED_RECORD; /* covers every earlier commit too */
    if (strict || (st->deferred & RBX_DEFERRED_ERASE) || st->commits_since_erase >= step ||
        now_ms < 0 || now_ms - st->last_erase_ms >= step_ms) {
        int frames = 0;
        int erc = strict ? checkpoint(st, SQLITE_CHECKPOINT_TRUNCATE, &frames)
                         : restart_and_zero(st, 0);
        if (erc != 0) {
            defer(st, RBX_DEFERRED_ERASE);
        } else {
            erased(st);
            /* The record is synced as often as before steps existed: at
             * every erase point of strict mode, every other bounded step. */
            if (rrc == 0 && (strict || ++st->steps_since_record_sync >= 2)) {
                st->steps_since_record_sync = 0;
                if (rbx__st_sidecar_raise(st, gen, 1) != 0) defer(st, RBX_DEFERRED_RECORD);
            }
        }
    }
    return release ? rrc : 0;
}

int rbx__st_commit(rbx_store *st, int64_t gen) { return commit(st, gen, 0); }

int rbx__st_commit_release(rbx_store *st, int64_t gen) { return commit(st, gen, 1); }

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
