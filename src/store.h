/* SPDX-License-Identifier: MIT
 * Internal view of the store, for tests and the benchmark (hidden symbols). */
#ifndef RBX_STORE_H
#define RBX_STORE_H

#include <sqlite3.h>

#include "ratchetbox.h"

#define RBX_SCHEMA_VERSION 1
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

#endif
