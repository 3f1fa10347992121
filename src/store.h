/* SPDX-License-Identifier: MIT
 * Internal view of the store, for tests and the benchmark (hidden symbols). */
#ifndef RBX_STORE_H
#define RBX_STORE_H

#include <sqlite3.h>

#include "ratchetbox.h"

#define RBX_SCHEMA_VERSION 2
#define RBX_APPLICATION_ID 0x52425831 /* "RBX1" */

/* Encrypted row values: "RBE1" || be32(plaintext length) || nonce || ct || tag. */
#define RBX_ROW_MAGIC "RBE1"
#define RBX_ROW_OVERHEAD (4U + 4U + 24U + 16U)

sqlite3 *rbx__store_db(rbx_store *st);
const uint8_t *rbx__store_key(const rbx_store *st);

/* Load the session of (name, device) as it is stored (for tests that look at
 * chain keys); caller frees. */
int rbx__store_load_session(rbx_store *st, rbx_session **out, const char *name, uint32_t device);

/* Decrypt an encrypted row value as the store would (the at-rest attacker of
 * the tests uses it with every plausible binding). */
int rbx__row_open(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t key[32],
                  const char *table, int64_t rowkey, int64_t generation, const char *column,
                  const uint8_t *in, size_t len);

/* ------------------------------------------------------------ for the store's modules
 * (policy.c, audit.c, rotate.c, archive.c): one handle, one transaction at a time. */

int rbx__sql_err(int sqlite_rc);
int rbx__st_exec(rbx_store *st, const char *sql);
/* Cached prepared statement for a string-literal SQL text; rbx__st_done resets it. */
int rbx__st_prep(rbx_store *st, sqlite3_stmt **s, const char *sql);
void rbx__st_done(rbx_store *st, sqlite3_stmt *s);
/* 1 row, 0 done, < 0 error. */
int rbx__st_step(sqlite3_stmt *s);
int rbx__st_meta_get(rbx_store *st, const char *k, int64_t *v);
int rbx__st_next_generation(rbx_store *st, int64_t *gen);
/* BEGIN IMMEDIATE; ROLLBACK; COMMIT with a fresh generation (gen 0) or the
 * given one, the sidecar raised and the erase point the mode asks for. */
int rbx__st_begin(rbx_store *st);
void rbx__st_rollback(rbx_store *st);
int rbx__st_commit(rbx_store *st, int64_t gen);
/* Checkpoint and truncate the log: no earlier version of a row survives. */
int rbx__st_erase_point(rbx_store *st);
/* Sealed columns: bound to (table, rowkey, generation, column). */
int rbx__st_bind_sealed(rbx_store *st, sqlite3_stmt *s, int i, const char *table, int64_t rowkey,
                        int64_t gen, const char *column, const uint8_t *pt, size_t ptlen);
int rbx__st_column_open(rbx_store *st, uint8_t **out, size_t *outlen, sqlite3_stmt *s, int col,
                        const char *table, int64_t rowkey, int64_t gen, const char *column);
int rbx__st_column_key(rbx_store *st, uint8_t key[32], sqlite3_stmt *s, int col,
                       const char *table, int64_t rowkey, const char *column);
void rbx__st_free_secret(uint8_t *p, size_t n);
/* 1 if a contact name is 1..63 bytes without control bytes (names reach terminals). */
int rbx__st_name_ok(const char *name);
/* Sealed meta values, bound to meta/0/0/<k>; open: RBX_E_NOT_FOUND if absent. */
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

/* Prekeys and rotation (store.c, rotate.c), inside a transaction. */
int rbx__st_identity_seq(rbx_store *st, int64_t *seq);
int rbx__st_insert_signed_prekey(rbx_store *st, const uint8_t ik_sk[32], int64_t ik_seq,
                                 int64_t *id_out);
int rbx__st_refill_onetime(rbx_store *st, unsigned low, unsigned batch, size_t *made);
int rbx__st_current_spk(rbx_store *st, int64_t *id, int64_t *created, int *stated);
int rbx__st_chain(rbx_store *st, uint8_t *buf, size_t cap, const uint8_t **recs, size_t *lens,
                  size_t *n);
int rbx__st_certificate(rbx_store *st, uint8_t *out, size_t cap, size_t *len);
/* Policy upkeep (rbx_store_maintain's work); onetime: also top up one-time prekeys. */
int rbx__st_maintain(rbx_store *st, int force_spk, int onetime, rbx_maintain_result *res);

/* Policy (policy.c): read inside a transaction; apply to the open handle. */
int rbx__st_policy(rbx_store *st, rbx_policy *p);
/* Seal the default policy (schema 2 creation and migration). */
int rbx__policy_init(rbx_store *st);
void rbx__st_apply_policy(rbx_store *st, const rbx_policy *p);

/* Audit (audit.c): append inside the caller's transaction, or in its own. */
int rbx__audit_init(rbx_store *st);
int rbx__audit(rbx_store *st, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rbx__audit_alone(rbx_store *st, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* History archive (archive.c). Inside the caller's transaction, when the
 * policy has archive on: one entry for pt under the active epoch (made if
 * there is none). direction: 0 received, 1 sent. */
int rbx__archive_add(rbx_store *st, const uint8_t session[32], const char *peer, int direction,
                     const uint8_t *pt, size_t len);
/* Tests: the key of an epoch that still has one (RBX_E_NOT_FOUND otherwise). */
int rbx__archive_epoch_key(rbx_store *st, uint64_t epoch, uint8_t key[32]);

#endif
