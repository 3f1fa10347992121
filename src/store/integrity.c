/* SPDX-License-Identifier: MIT
 * The store's integrity floor (PROTOCOL.md 15.8), below db.c: row tags, set
 * digests, the schema digest and the integrity record's encoding, the SQL
 * functions of row tags, and the preupdate hook through which every row the
 * store writes is counted. No transaction logic: db.c loads the record at
 * BEGIN and seals it at COMMIT. This file calls nothing else of the store.
 *
 * Set digests are MSet-Add-Hash (Clarke, Devadas, van Dijk, Gassend, Suh,
 * "Incremental Multiset Hash Functions and Their Application to Memory
 * Integrity Checking", 2003): the sum modulo 2^256 of a keyed hash of each
 * row, with the number of rows. Not XOR, under which a row counted twice
 * cancels out. The terms are never stored: the row tags that are stored are
 * another keyed hash of the same bytes, and the sums live only in the
 * sealed record, so someone without the storage key sees no term and
 * cannot look for rows whose terms add up to another set's. */
/* The preupdate hook (sqlite3_preupdate_hook and friends) is declared only
 * with this, and Debian 12's libsqlite3 is built with it (it serves the
 * session extension); a SQLite without it does not link. */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "integrity.h"

#define TAG_LABEL "rbx-row-tag-v1"
#define SCHEMA_LABEL "rbx-schema-v1"

static const char *const sets[RBX_SET_COUNT] = {
    [RBX_SET_IDENTITY] = "identity",
    [RBX_SET_SIGNED_PREKEYS] = "signed_prekeys",
    [RBX_SET_ONETIME_PREKEYS] = "onetime_prekeys",
    [RBX_SET_CONTACTS] = "contacts",
    [RBX_SET_SESSIONS] = "sessions",
    [RBX_SET_INBOX] = "inbox",
    [RBX_SET_OLD_IDENTITIES] = "old_identities",
    [RBX_SET_ROTATIONS] = "rotations",
    [RBX_SET_RETIRED_SESSIONS] = "retired_sessions",
    [RBX_SET_CONTACT_KEYS] = "contact_keys",
    [RBX_SET_ORG] = "org",
    [RBX_SET_CERTIFICATE] = "certificate",
    [RBX_SET_REVOCATIONS] = "revocations",
    [RBX_SET_HANDSHAKES] = "handshakes",
    [RBX_SET_ARCHIVE_EPOCHS] = "archive_epochs",
    [RBX_SET_ACCOUNT] = "account",
    [RBX_SET_USERS] = "users",
    [RBX_SET_USER_DEVICES] = "user_devices",
    [RBX_SET_SENDS] = "sends",
    [RBX_SET_SEND_ENVELOPES] = "send_envelopes",
};

const char *rbx__set_table(int set)
{
    return set >= 0 && set < RBX_SET_COUNT ? sets[set] : NULL;
}

static int set_of(const unsigned char *table)
{
    if (table != NULL)
        for (int i = 0; i < RBX_SET_COUNT; i++)
            if (strcmp(sets[i], (const char *)table) == 0) return i;
    return -1;
}

/* keyed BLAKE2b-256(label || table || 0 || ...), up to the table's name. */
static void prefix(crypto_generichash_state *h, const uint8_t key[32], const char *label, int set)
{
    crypto_generichash_init(h, key, 32, 32);
    crypto_generichash_update(h, (const uint8_t *)label, strlen(label));
    crypto_generichash_update(h, (const uint8_t *)sets[set], strlen(sets[set]) + 1);
}

void rbx__auth_keys_derive(rbx__auth_keys *k, const uint8_t storage_key[32])
{
    uint8_t tag[32], term[32];
    crypto_generichash(tag, sizeof tag, (const uint8_t *)"rbx-row-tag-key", 15, storage_key, 32);
    crypto_generichash(term, sizeof term, (const uint8_t *)"rbx-set-term-key", 16, storage_key, 32);
    for (int i = 0; i < RBX_SET_COUNT; i++) prefix(&k->tag[i], tag, TAG_LABEL, i);
    memcpy(k->term[0], term, 16);
    memcpy(k->term[1], term + 16, 16);
    WIPE(tag);
    WIPE(term);
}

void rbx__auth_hash(uint8_t out[32], const uint8_t *v, size_t n)
{
    crypto_generichash(out, 32, v, n, NULL, 0);
}

/* ------------------------------------------------------------ tags and terms */

/* A row's values as one byte string: prefix || u8(n) || value..., each
 * value self-delimiting: a type byte, then be64 for a number, or
 * be32(length) and the bytes for text and blobs. A value cannot pass for
 * another of another type (integer 5 is not text "5"). */
typedef struct enc {
    uint8_t stack[2048];
    uint8_t *p;
    size_t n;
} enc;

static const uint8_t *value_bytes(sqlite3_value *v, int type, size_t *len)
{
    /* The pointer first, then its length (SQLite's documented order). */
    const uint8_t *p = type == SQLITE_TEXT ? (const uint8_t *)sqlite3_value_text(v)
                                           : (const uint8_t *)sqlite3_value_blob(v);
    int n = sqlite3_value_bytes(v);
    *len = p != NULL && n > 0 ? (size_t)n : 0;
    return p;
}

static int enc_row(enc *e, const char *prefix, size_t plen, int n, sqlite3_value **v)
{
    size_t total = plen + 1;
    for (int i = 0; i < n; i++) {
        int type = sqlite3_value_type(v[i]);
        size_t len = 0;
        if (type == SQLITE_TEXT || type == SQLITE_BLOB) (void)value_bytes(v[i], type, &len);
        total += type == SQLITE_NULL ? 1 : type == SQLITE_TEXT || type == SQLITE_BLOB ? 5 + len : 9;
    }
    e->p = total <= sizeof e->stack ? e->stack : malloc(total);
    if (e->p == NULL) return RBX_E_NOMEM;
    uint8_t *o = e->p;
    memcpy(o, prefix, plen), o += plen;
    *o++ = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        int type = sqlite3_value_type(v[i]);
        if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
            uint64_t u;
            if (type == SQLITE_INTEGER) {
                u = (uint64_t)sqlite3_value_int64(v[i]);
            } else {
                double d = sqlite3_value_double(v[i]);
                memcpy(&u, &d, sizeof u);
            }
            *o++ = type == SQLITE_INTEGER ? 1 : 2;
            rbx__store64_be(o, u), o += 8;
        } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
            size_t len;
            const uint8_t *b = value_bytes(v[i], type, &len);
            *o++ = type == SQLITE_TEXT ? 3 : 4;
            rbx__store32_be(o, (uint32_t)len), o += 4;
            if (len) memcpy(o, b, len), o += len;
        } else {
            *o++ = 5;
        }
    }
    e->n = (size_t)(o - e->p);
    return 0;
}

static void enc_free(enc *e)
{
    if (e->p != NULL && e->p != e->stack) free(e->p);
    e->p = NULL;
}

/* A row tag: keyed BLAKE2b-256(label || table || 0 || u8(n) || values),
 * from the table's prefixed state. Stored, so a MAC. */
static int tag_of(uint8_t out[32], const rbx__auth_keys *k, int set, int n, sqlite3_value **v)
{
    enc e;
    crypto_generichash_state h = k->tag[set];
    int rc = enc_row(&e, "", 0, n, v);
    if (rc == 0) {
        crypto_generichash_update(&h, e.p, e.n);
        crypto_generichash_final(&h, out, 32);
    }
    enc_free(&e);
    WIPE(h);
    return rc;
}

/* A set term: SipHash-2-4 with a 128-bit output under each of two keys,
 * over table || 0 || u8(n) || values, the values of every column of the
 * row in table order (its tag and sealed values too: a term changes with
 * any byte of the row): a PRF of 256 bits whose outputs are never stored.
 * SipHash (libsodium's crypto_shorthash_siphashx24) rather than keyed
 * BLAKE2b because the open check computes one per row of every table and
 * SipHash costs a fraction of BLAKE2b's setup and finalisation on short
 * inputs (bench/README.md); its 128-bit keys are the security level of a
 * term. */
static int term_of(uint8_t out[32], const rbx__auth_keys *k, int set, int n, sqlite3_value **v)
{
    enc e;
    const char *t = sets[set];
    int rc = enc_row(&e, t, strlen(t) + 1, n, v);
    if (rc == 0) {
        crypto_shorthash_siphashx24(out, e.p, e.n, k->term[0]);
        crypto_shorthash_siphashx24(out + 16, e.p, e.n, k->term[1]);
    }
    enc_free(&e);
    return rc;
}

static void sum_add(uint8_t s[32], const uint8_t t[32])
{
    unsigned c = 0;
    for (int i = 0; i < 32; i++) {
        c += (unsigned)s[i] + t[i];
        s[i] = (uint8_t)c;
        c >>= 8;
    }
}

static void sum_sub(uint8_t s[32], const uint8_t t[32])
{
    int b = 0;
    for (int i = 0; i < 32; i++) {
        int d = (int)s[i] - t[i] - b;
        b = d < 0;
        s[i] = (uint8_t)(d + (b ? 256 : 0));
    }
}

/* ------------------------------------------------------------ SQL functions */

/* The table named by argument 0, or an SQL error. */
static int fn_set(sqlite3_context *c, sqlite3_value *table)
{
    int set = sqlite3_value_type(table) == SQLITE_TEXT ? set_of(sqlite3_value_text(table)) : -1;
    if (set < 0) sqlite3_result_error(c, "rbx: not an authenticated table", -1);
    return set;
}

/* rbx_mac(table, values...): the row tag stored in `mac`. */
static void fn_mac(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    const rbx__auth_ctx *a = sqlite3_user_data(c);
    uint8_t tag[32];
    int set = fn_set(c, argv[0]);
    if (set < 0) return;
    if (tag_of(tag, a->keys, set, argc - 1, argv + 1) != 0) {
        sqlite3_result_error_nomem(c);
        return;
    }
    sqlite3_result_blob(c, tag, sizeof tag, SQLITE_TRANSIENT);
}

/* rbx_mac_ok(table, mac, values...): 1 if mac is the tag of the values
 * (compared in constant time), 0 otherwise (a NULL or short mac included). */
static void fn_mac_ok(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    const rbx__auth_ctx *a = sqlite3_user_data(c);
    uint8_t tag[32];
    int set = fn_set(c, argv[0]);
    if (set < 0) return;
    if (!RBX_CHECK_ROW_TAGS) {
        sqlite3_result_int(c, 1);
        return;
    }
    if (tag_of(tag, a->keys, set, argc - 2, argv + 2) != 0) {
        sqlite3_result_error_nomem(c);
        return;
    }
    int ok = sqlite3_value_type(argv[1]) == SQLITE_BLOB && sqlite3_value_bytes(argv[1]) == 32 &&
             sodium_memcmp(sqlite3_value_blob(argv[1]), tag, 32) == 0;
    sqlite3_result_int(c, ok);
}

int rbx__auth_register(sqlite3 *db, rbx__auth_ctx *ctx)
{
    /* DIRECTONLY: a trigger, view, default or check stored in the file
     * (someone else's schema) cannot call them; only the store's own SQL. */
    const int flags = SQLITE_UTF8 | SQLITE_DIRECTONLY;
    int rc = sqlite3_create_function(db, "rbx_mac", -1, flags, ctx, fn_mac, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "rbx_mac_ok", -1, flags, ctx, fn_mac_ok, NULL, NULL);
    return rc == SQLITE_NOMEM ? RBX_E_NOMEM : rc == SQLITE_OK ? 0 : RBX_E_IO;
}

/* ------------------------------------------------------------ the hook and the scans */

/* The preupdate hook: a row of an authenticated table is about to be
 * inserted, updated or deleted by this connection (the store's own SQL:
 * the schema digest keeps anyone else's triggers out). Its old row's term
 * leaves the set, its new row's enters: every column of the row, in table
 * order, as the check at open reads them with SELECT * (no column map, no
 * query per open). SQLite calls it for REPLACE's deletes, for WITHOUT ROWID
 * tables and row by row for a DELETE without WHERE (the truncate
 * optimisation is off while a hook is set). It reads a column that ALTER
 * TABLE added after the row was last written as NULL, not as its default:
 * every migration rewrites the rows it extends. */
static void preupdate(void *p, sqlite3 *db, int op, const char *zdb, const char *table,
                      sqlite3_int64 key1, sqlite3_int64 key2)
{
    rbx__auth_ctx *a = p;
    sqlite3_value *v[RBX_AUTH_MAX_COLUMNS];
    uint8_t term[32];
    (void)key1;
    (void)key2;
    if (!a->live || strcmp(zdb, "main") != 0) return;
    int set = set_of((const unsigned char *)table);
    if (set < 0) return;
    int n = sqlite3_preupdate_count(db);
    if (n <= 0 || n > RBX_AUTH_MAX_COLUMNS) {
        a->failed = RBX_E_TAMPERED; /* the schema digest matched: cannot happen */
        return;
    }
    rbx__set *s = &a->record->rows;
    for (int pass = 0; pass < 2; pass++) {
        int old = pass == 0;
        if (old ? op == SQLITE_INSERT : op == SQLITE_DELETE) continue;
        for (int i = 0; i < n; i++) {
            int rc = old ? sqlite3_preupdate_old(db, i, &v[i]) : sqlite3_preupdate_new(db, i, &v[i]);
            if (rc != SQLITE_OK) {
                a->failed = rc == SQLITE_NOMEM ? RBX_E_NOMEM : RBX_E_IO;
                return;
            }
        }
        if (term_of(term, a->keys, set, n, v) != 0) {
            a->failed = RBX_E_NOMEM;
            return;
        }
        if (old) {
            sum_sub(s->sum, term);
            s->count--;
        } else {
            sum_add(s->sum, term);
            s->count++;
        }
    }
    WIPE(term);
}

int rbx__auth_hook(sqlite3 *db, rbx__auth_ctx *ctx)
{
    sqlite3_preupdate_hook(db, preupdate, ctx);
    return 0;
}

int rbx__auth_sets(sqlite3 *db, const rbx__auth_keys *keys, rbx__set *out)
{
    return rbx__auth_sets_of(db, keys, out, RBX_SET_COUNT);
}

int rbx__auth_sets_of(sqlite3 *db, const rbx__auth_keys *keys, rbx__set *out, int nsets)
{
    char sql[64];
    int rc = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < nsets && i < RBX_SET_COUNT && rc == 0; i++) {
        sqlite3_stmt *s;
        sqlite3_value *v[RBX_AUTH_MAX_COLUMNS];
        uint8_t term[32];
        snprintf(sql, sizeof sql, "SELECT * FROM main.%s", sets[i]);
        int r = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
        if (r != SQLITE_OK) return r == SQLITE_NOMEM ? RBX_E_NOMEM : RBX_E_IO;
        int n = sqlite3_column_count(s);
        if (n <= 0 || n > RBX_AUTH_MAX_COLUMNS) rc = RBX_E_TAMPERED;
        while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
            for (int c = 0; c < n; c++) v[c] = sqlite3_column_value(s, c);
            if ((rc = term_of(term, keys, i, n, v)) == 0) {
                sum_add(out->sum, term);
                out->count++;
            }
        }
        if (rc == 0 && r != SQLITE_DONE)
            rc = r == SQLITE_NOMEM ? RBX_E_NOMEM : r == SQLITE_CORRUPT ? RBX_E_CORRUPT : RBX_E_IO;
        sqlite3_finalize(s);
        WIPE(term);
    }
    return rc;
}

int rbx__auth_schema(sqlite3 *db, uint8_t out[32])
{
    sqlite3_stmt *s;
    crypto_generichash_state h;
    int r = sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, rootpage, sql FROM main.sqlite_schema"
                                   " ORDER BY type, name", -1, &s, NULL);
    if (r != SQLITE_OK) return r == SQLITE_NOMEM ? RBX_E_NOMEM : RBX_E_IO;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)SCHEMA_LABEL, sizeof SCHEMA_LABEL - 1);
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        enc e;
        sqlite3_value *v[5];
        for (int i = 0; i < 5; i++) v[i] = sqlite3_column_value(s, i);
        if (enc_row(&e, "", 0, 5, v) != 0) {
            r = SQLITE_NOMEM;
            break;
        }
        crypto_generichash_update(&h, e.p, e.n);
        enc_free(&e);
    }
    sqlite3_finalize(s);
    crypto_generichash_final(&h, out, 32);
    if (r != SQLITE_DONE) return r == SQLITE_NOMEM ? RBX_E_NOMEM : r == SQLITE_CORRUPT ? RBX_E_CORRUPT : RBX_E_IO;
    return 0;
}

/* ------------------------------------------------------------ the record */

void rbx__integrity_encode(uint8_t out[RBX_INTEGRITY_BYTES], const rbx__integrity *r)
{
    uint8_t *p = out;
    memcpy(p, RBX_INTEGRITY_MAGIC, 16), p += 16;
    memcpy(p, r->store_id, 16), p += 16;
    rbx__store64_be(p, (uint64_t)r->generation), p += 8;
    rbx__store64_be(p, (uint64_t)r->identity_seq), p += 8;
    memcpy(p, r->schema, 32), p += 32;
    memcpy(p, r->policy, 32), p += 32;
    memcpy(p, r->audit_head, 32), p += 32;
    rbx__store64_be(p, r->rows.count), p += 8;
    memcpy(p, r->rows.sum, 32);
}

int rbx__integrity_decode(rbx__integrity *r, const uint8_t *in, size_t len)
{
    const uint8_t *p = in;
    if (len != RBX_INTEGRITY_BYTES || memcmp(p, RBX_INTEGRITY_MAGIC, 16) != 0) return RBX_E_CORRUPT;
    p += 16;
    memcpy(r->store_id, p, 16), p += 16;
    r->generation = (int64_t)rbx__load64_be(p), p += 8;
    r->identity_seq = (int64_t)rbx__load64_be(p), p += 8;
    memcpy(r->schema, p, 32), p += 32;
    memcpy(r->policy, p, 32), p += 32;
    memcpy(r->audit_head, p, 32), p += 32;
    r->rows.count = rbx__load64_be(p), p += 8;
    memcpy(r->rows.sum, p, 32);
    return r->generation < 0 || r->identity_seq < 0 ? RBX_E_CORRUPT : 0;
}
