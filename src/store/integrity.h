/* SPDX-License-Identifier: MIT
 * The store's integrity floor (integrity.c, below db.c; PROTOCOL.md 15.8):
 * row tags, set digests and the integrity record. Without the storage key
 * nobody can make a row, a set of rows or the generation say something the
 * store did not write: every row that decides anything is authenticated
 * with its key columns, and all such rows as a whole (a keyed multiset
 * hash with a count, kept in the sealed integrity record, which also holds
 * the store generation). */
#ifndef RBX_STORE_INTEGRITY_H
#define RBX_STORE_INTEGRITY_H

#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>

/* The authenticated tables. */
enum {
    RBX_SET_IDENTITY,
    RBX_SET_SIGNED_PREKEYS,
    RBX_SET_ONETIME_PREKEYS,
    RBX_SET_CONTACTS,
    RBX_SET_SESSIONS,
    RBX_SET_INBOX,
    RBX_SET_OLD_IDENTITIES,
    RBX_SET_ROTATIONS,
    RBX_SET_RETIRED_SESSIONS,
    RBX_SET_CONTACT_KEYS,
    RBX_SET_ORG,
    RBX_SET_CERTIFICATE,
    RBX_SET_REVOCATIONS,
    RBX_SET_HANDSHAKES,
    RBX_SET_ARCHIVE_EPOCHS,
    RBX_SET_ACCOUNT,         /* schema 4: users with several devices */
    RBX_SET_USERS,
    RBX_SET_USER_DEVICES,
    RBX_SET_SENDS,
    RBX_SET_SEND_ENVELOPES,
    RBX_SET_COUNT
};

/* The columns each table's row tag (the `mac` column, where the table has
 * one) is computed over, in this order. SQL of the floors above writes
 * `rbx_mac('<table>', <these values>)` into `mac` and reads
 * `rbx_mac_ok('<table>', mac, <these columns>)` with the same lists. A
 * row's set term covers every column. */
#define RBX_AUTH_SIGNED_PREKEYS "id, pk, sk, sig, created, ik, stated"
#define RBX_AUTH_ONETIME_PREKEYS "id, pk, sk, offered"
#define RBX_AUTH_SESSIONS "contact, generation, rolled_back, base_key, ik"
#define RBX_AUTH_INBOX "id, contact, digest, generation, identity"
#define RBX_AUTH_OLD_IDENTITIES "seq, pk, sk, retired, grace_until"
#define RBX_AUTH_RETIRED_SESSIONS "id, contact, base_key, until, generation"
#define RBX_AUTH_CONTACT_KEYS "contact, identity, until"
#define RBX_AUTH_REVOCATIONS "org, identity, record"
#define RBX_AUTH_ARCHIVE_EPOCHS "epoch, key, created, retain_until, state"
#define RBX_AUTH_ACCOUNT "id, user, device, regid, entry"
#define RBX_AUTH_USERS "user, seq, first_hash, hash, created, anchor_seq, anchor_hash, org"
#define RBX_AUTH_USER_DEVICES \
    "user, device, identity, added_seq, regid, contact, retry_asked, retry_served"
#define RBX_AUTH_SENDS "id, message_id, to_user, kind, ctype, cflags, cid, state, created, generation"
#define RBX_AUTH_SEND_ENVELOPES "send, user, device, regid, identity"

/* A set digest: how many rows, and the sum modulo 2^256 of their terms
 * (little-endian). One over the rows of every authenticated table: a term
 * names its table, so a row cannot move between tables unseen, and one sum
 * keeps the record (sealed and opened with every commit) short. */
typedef struct rbx__set {
    uint64_t count;
    uint8_t sum[32];
} rbx__set;

/* The integrity record (PROTOCOL.md 15.8), sealed in meta under "integrity". */
typedef struct rbx__integrity {
    uint8_t store_id[16];
    int64_t generation;
    int64_t identity_seq;
    uint8_t schema[32];      /* digest of sqlite_schema */
    uint8_t policy[32];      /* BLAKE2b-256 of the stored policy seal (18.4) */
    uint8_t audit_head[32];  /* BLAKE2b-256 of the stored audit head (19.2) */
    rbx__set rows;           /* every authenticated row of every table */
} rbx__integrity;

#define RBX_INTEGRITY_MAGIC "rbx-integrity-v1"
#define RBX_INTEGRITY_BYTES (16U + 16U + 8U + 8U + 32U + 32U + 32U + 8U + 32U)

/* The keys of a store, derived from its storage key: the row tags' as
 * BLAKE2b states that have absorbed key, label and table name, and the two
 * SipHash keys of the set terms (integrity.c says why SipHash). */
typedef struct rbx__auth_keys {
    crypto_generichash_state tag[RBX_SET_COUNT]; /* row tags */
    uint8_t term[2][16];                         /* set terms (never stored) */
} rbx__auth_keys;

void rbx__auth_keys_derive(rbx__auth_keys *k, const uint8_t storage_key[32]);

/* The record's bytes and back; decode: 0 or RBX_E_CORRUPT. */
void rbx__integrity_encode(uint8_t out[RBX_INTEGRITY_BYTES], const rbx__integrity *r);
int rbx__integrity_decode(rbx__integrity *r, const uint8_t *in, size_t len);

/* An authenticated table's name; NULL past the end. */
const char *rbx__set_table(int set);

/* The most columns an authenticated table may have (sends: 12). */
#define RBX_AUTH_MAX_COLUMNS 16

/* What the hook changes when the store writes a row: the record of the
 * transaction in progress, or nothing (live == 0: outside the store's own
 * write transactions). failed: a row it could not count (the commit then
 * refuses). */
typedef struct rbx__auth_ctx {
    const rbx__auth_keys *keys;
    rbx__integrity *record;
    int live;
    int failed;
} rbx__auth_ctx;

/* Register rbx_mac and rbx_mac_ok on a connection, SQLITE_DIRECTONLY
 * (never callable from the database's own schema: views, triggers,
 * defaults, checks). */
int rbx__auth_register(sqlite3 *db, rbx__auth_ctx *ctx);
/* The preupdate hook that keeps the record's set in step with every row the
 * connection writes (per connection: nothing in the file can change it),
 * once the tables have their schema 3 columns. */
int rbx__auth_hook(sqlite3 *db, rbx__auth_ctx *ctx);
/* The set of every authenticated row as the tables hold them now (one scan
 * per table; every column of a row makes its term). */
int rbx__auth_sets(sqlite3 *db, const rbx__auth_keys *keys, rbx__set *out);
/* The same over the first nsets tables only: those of an older schema
 * (RBX_SETS_SCHEMA3), whose database has no table of a later one yet. */
int rbx__auth_sets_of(sqlite3 *db, const rbx__auth_keys *keys, rbx__set *out, int nsets);
#define RBX_SETS_SCHEMA3 RBX_SET_ACCOUNT
/* The digest of the schema as sqlite_schema holds it (type, name, table,
 * root page, SQL of every object). */
int rbx__auth_schema(sqlite3 *db, uint8_t out[32]);
/* BLAKE2b-256 of a stored value (a sealed meta value's bytes). */
void rbx__auth_hash(uint8_t out[32], const uint8_t *v, size_t n);

/* make mutation-check (tests/test_integrity.c) builds the store with one
 * RBX_MUTATE_<name> defined at a time: the protection it names is compiled
 * out, and the attack test that depends on it must then fail. Compile-time
 * only; a normal build defines none. */
#if defined(RBX_MUTATE_SETS)
#define RBX_CHECK_SETS 0
#else
#define RBX_CHECK_SETS 1
#endif
#if defined(RBX_MUTATE_ROW_TAGS)
#define RBX_CHECK_ROW_TAGS 0
#else
#define RBX_CHECK_ROW_TAGS 1
#endif
#if defined(RBX_MUTATE_SCHEMA)
#define RBX_CHECK_SCHEMA 0
#else
#define RBX_CHECK_SCHEMA 1
#endif
#if defined(RBX_MUTATE_GENERATION)
#define RBX_CHECK_GENERATION 0
#else
#define RBX_CHECK_GENERATION 1
#endif
#if defined(RBX_MUTATE_STORE_ID)
#define RBX_CHECK_STORE_ID 0
#else
#define RBX_CHECK_STORE_ID 1
#endif
#if defined(RBX_MUTATE_META_BINDING)
#define RBX_CHECK_META_BINDING 0
#else
#define RBX_CHECK_META_BINDING 1
#endif
#if defined(RBX_MUTATE_HANDSHAKES)
#define RBX_CHECK_HANDSHAKES 0
#else
#define RBX_CHECK_HANDSHAKES 1
#endif
#if defined(RBX_MUTATE_PREFILTER)
#define RBX_CHECK_PREFILTER 0
#else
#define RBX_CHECK_PREFILTER 1
#endif
#if defined(RBX_MUTATE_AUTH_KEY)
#define RBX_CHECK_AUTH_KEY 0
#else
#define RBX_CHECK_AUTH_KEY 1
#endif

#endif
