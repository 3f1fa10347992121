/* SPDX-License-Identifier: MIT
 * The store's lowest floor (db.c): the SQLite handle, sealed rows, the
 * statement cache, transactions with their generation and rollback record,
 * erase points, and key pair rows. It calls nothing above it (make check's
 * tests/layering.sh checks the objects); the floors above are declared in
 * store_int.h. One handle, one transaction at a time. */
#ifndef RBX_STORE_DB_H
#define RBX_STORE_DB_H

#include <sqlite3.h>
#include <time.h>

#include "integrity.h"
#include "ratchetbox.h"

#define RBX_SCHEMA_VERSION 4
#define RBX_APPLICATION_ID 0x52425831 /* "RBX1" */

/* Encrypted row values: "RBE1" || be32(plaintext length) || nonce || ct || tag. */
#define RBX_ROW_MAGIC "RBE1"
#define RBX_ROW_OVERHEAD (4U + 4U + 24U + 16U)

/* The handle. rbx_store_open (open.c) fills it in; the floors above db.c
 * read db, key and the policy limits; only db.c and open.c write it. */
struct rbx_store {
    sqlite3 *db;
    uint8_t key[RBX_STORAGE_KEYBYTES];
    uint8_t store_id[16];
    int mode;
    unsigned erase_commits, erase_seconds;
    unsigned commits_since_erase;
    int64_t last_erase_ms;          /* rbx__st_mono_ms() at the last erase point */
    int sidecar_fd;
    uint8_t sidecar_key[32];
    int closing;
    int page_size;
    int opened_mode;               /* the caller's mode; the policy may raise it */
    uint32_t max_skip, max_skipped; /* policy limits for loaded sessions */
    int64_t (*clock)(void *ctx);
    void *clock_ctx;
    /* Integrity (integrity.c, PROTOCOL.md 15.8): the keys, the record of
     * the write transaction in progress (loaded at BEGIN, sealed at COMMIT;
     * the preupdate hook counts every row change into it while auth.live),
     * and the schema cookie under which the schema digest last matched. */
    rbx__auth_keys auth_keys;
    rbx__integrity integ;
    rbx__auth_ctx auth;
    int integ_loaded;
    int64_t tx_generation;  /* taken by the transaction in progress, 0: none yet */
    /* The record as this handle last committed it (or read it), and the
     * PRAGMA data_version then: while no other connection has committed
     * since, a write transaction starts from this copy instead of opening
     * the sealed record again (an AEAD and a query per transaction). */
    rbx__integrity integ_committed;
    int integ_cached;
    int64_t integ_dv;
    int64_t schema_cookie;
    /* Sessions the last rbx_store_decrypt tried (PROTOCOL.md 15.9; the
     * tests of the routing pre-filter read it). */
    unsigned tried;
    /* Diagnostics and owed work (PROTOCOL.md 15.4): the last I/O failure
     * (rbx_store_io_error), the RBX_DEFERRED_* work a commit left owed and
     * the failure that left it (rbx_store_deferred). */
    rbx_io_error io, deferred_io;
    unsigned deferred;
    /* Erase steps since the generation record was last synced (db.c). */
    unsigned steps_since_record_sync;
    /* rbx_store_idle: the log holds no frame but zeros and, perhaps, a
     * primer (set by its full erase point, cleared by every commit). */
    int idle_clean;
    /* prime_log runs its one commit at synchronous = NORMAL; set until FULL
     * is back (rbx__st_sync_full, which every write transaction calls). */
    int sync_normal;
    /* Message ids of sends to users (users.c, rbx__message_id). */
    uint8_t msgid_key[32];
    uint64_t msgid_ctr;
    /* Room for every SQL text of the store and its modules (about 90), so
     * that a long-lived handle never prepares a hot statement per call. */
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } stmts[128];
    size_t nstmts;
};

sqlite3 *rbx__store_db(rbx_store *st);
const uint8_t *rbx__store_key(const rbx_store *st);

/* Seal a row value bound to (table, rowkey, generation, column): a fresh
 * malloc'ed buffer of ptlen + RBX_ROW_OVERHEAD bytes, NULL if out of memory. */
uint8_t *rbx__row_seal(size_t *outlen, const uint8_t key[32], const char *table, int64_t rowkey,
                       int64_t gen, const char *column, const uint8_t *pt, size_t ptlen);
/* Decrypt an encrypted row value as the store would (the at-rest attacker of
 * the tests uses it with every plausible binding). */
int rbx__row_open(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t key[32],
                  const char *table, int64_t rowkey, int64_t generation, const char *column,
                  const uint8_t *in, size_t len);

int rbx__sql_err(int sqlite_rc);
int rbx__st_exec(rbx_store *st, const char *sql);
/* Cached prepared statement for a string-literal SQL text; rbx__st_done resets it. */
int rbx__st_prep(rbx_store *st, sqlite3_stmt **s, const char *sql);
void rbx__st_done(rbx_store *st, sqlite3_stmt *s);
/* Finalise every cached statement (before closing the connection). */
void rbx__st_finalize_all(rbx_store *st);
/* 1 row, 0 done, < 0 error. */
int rbx__st_step(sqlite3_stmt *s);
/* The next store generation, taken by the transaction in progress (the
 * record's, + 1; rbx__st_commit seals it). */
int rbx__st_next_generation(rbx_store *st, int64_t *gen);
/* The integrity record of the transaction in progress (read and opened on
 * first use in a transaction, or afresh outside one): RBX_E_TAMPERED if it
 * is missing, RBX_E_CORRUPT if it does not open. */
int rbx__st_integ(rbx_store *st, rbx__integrity **r);
/* The authenticated generation and identity sequence (15.8). */
int rbx__st_generation(rbx_store *st, int64_t *gen);
int rbx__st_identity_seq(rbx_store *st, int64_t *seq);
int rbx__st_set_identity_seq(rbx_store *st, int64_t seq);
/* Write the record of the transaction in progress (migration; commits do it). */
int rbx__st_integ_write(rbx_store *st);
/* Check the schema and every set against the record (rbx_store_open; the
 * tests and the benchmark time it): 0, or RBX_E_TAMPERED. */
int rbx__st_verify(rbx_store *st);
/* The generation record (P 15.6): the stored generation, -1 for an empty
 * record, or RBX_E_CORRUPT; raise: never lowered, fdatasync'ed if sync. */
int rbx__st_sidecar_read(rbx_store *st, int64_t *gen);
int rbx__st_sidecar_raise(rbx_store *st, int64_t gen, int sync);
/* BEGIN IMMEDIATE; ROLLBACK; COMMIT with a fresh generation (gen 0) or the
 * given one, then the sidecar raised and the erase point the mode asks for.
 * rbx__st_commit returns an error only when COMMIT failed (nothing changed):
 * work after it that fails is owed (st->deferred) and retried. A commit that
 * releases ciphertexts uses rbx__st_commit_release, which also returns
 * RBX_E_IO when the record could not be raised (committed, not releasable). */
int rbx__st_begin(rbx_store *st);
void rbx__st_rollback(rbx_store *st);
int rbx__st_commit(rbx_store *st, int64_t gen);
int rbx__st_commit_release(rbx_store *st, int64_t gen);
/* A full erase point: no earlier version of a row survives in any file
 * (the log checkpointed, then truncated when closing or in strict mode,
 * else zeroed in place). Clears RBX_DEFERRED_ERASE on success. */
int rbx__st_erase_point(rbx_store *st);
/* Raise the generation record to the database's generation and sync it
 * (clears RBX_DEFERRED_RECORD; sets it on failure). */
int rbx__st_record_catch_up(rbx_store *st);
/* Record an I/O failure (rbx_store_io_error) and return RBX_E_IO; err is
 * an errno (0: a check refused the file). */
int rbx__st_io_fail(rbx_store *st, int file, int err, const char *op);
/* rbx__sql_err for a call on st's connection, recording an I/O failure. */
int rbx__st_sql(rbx_store *st, int sqlite_rc);
/* Sealed columns: bound to (table, rowkey, generation, column). */
int rbx__st_bind_sealed(rbx_store *st, sqlite3_stmt *s, int i, const char *table, int64_t rowkey,
                        int64_t gen, const char *column, const uint8_t *pt, size_t ptlen);
int rbx__st_column_open(rbx_store *st, uint8_t **out, size_t *outlen, sqlite3_stmt *s, int col,
                        const char *table, int64_t rowkey, int64_t gen, const char *column);
int rbx__st_column_key(rbx_store *st, uint8_t key[32], sqlite3_stmt *s, int col,
                       const char *table, int64_t rowkey, const char *column);
void rbx__st_free_secret(uint8_t *p, size_t n);
/* Sealed meta values, bound to meta/0/0/<k>; open: RBX_E_NOT_FOUND if absent.
 * The policy seal and the audit head are also bound to the integrity record
 * by the hash of their stored bytes: a value that opens but is not the one
 * the record names (put back from an older copy) is RBX_E_TAMPERED. */
int rbx__st_meta_seal(rbx_store *st, const char *k, const uint8_t *v, size_t n);
int rbx__st_meta_open(rbx_store *st, const char *k, uint8_t **v, size_t *n);
/* A key pair row (row 1 of table; sk may be NULL), and the current identity. */
int rbx__st_load_keypair(rbx_store *st, const char *sql, const char *table, uint8_t pk[32],
                         uint8_t *sk);
/* Insert row 1 of such a table (`sql` takes ?1 pk and ?2 the sealed sk);
 * RBX_E_EXISTS if it has one. */
int rbx__st_insert_keypair(rbx_store *st, const char *sql, const char *table, const uint8_t pk[32],
                           const uint8_t sk[32]);
int rbx__st_load_identity(rbx_store *st, uint8_t pk[32], uint8_t sk[32]);
/* A new identity's key pair: the caller's (pk and sk; RBX_E_KEY unless they
 * belong together and pk is valid) or, both NULL, a fresh one; only one
 * NULL: RBX_E_INVALID. sk_out is wiped on error. */
int rbx__st_keypair_in(uint8_t pk_out[32], uint8_t sk_out[32], const uint8_t *pk,
                       const uint8_t *sk);
/* The store's clock (rbx_store_opts.clock), Unix seconds. */
int64_t rbx__st_now(const rbx_store *st);
/* CLOCK_MONOTONIC in milliseconds, -1 if that clock fails (bounded mode's erase interval). */
int64_t rbx__st_mono_ms(void);
/* Apply a policy (read by policy.c) to the open handle: mode and limits. */
void rbx__st_apply_policy(rbx_store *st, const rbx_policy *p);

#endif
