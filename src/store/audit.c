/* SPDX-License-Identifier: MIT
 * The audit log (PROTOCOL.md "Audit log"): plaintext metadata events, each
 * hashed with the one before; the newest (seq, hash) is sealed under the
 * storage key in meta, so that cutting events off the end is seen as well as
 * editing, inserting or deleting one in the middle. Events are appended in
 * the transaction of the change they record. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"
#include "store_int.h"

#define HEAD_BYTES (8U + 32U)

static void event_hash(uint8_t out[32], const uint8_t prev[32], uint64_t seq, int64_t t,
                       const char *event, const char *detail)
{
    uint8_t be[16];
    crypto_generichash_state h;
    rbx__store64_be(be, seq);
    rbx__store64_be(be + 8, (uint64_t)t);
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)"rbx-audit-v1", 12);
    crypto_generichash_update(&h, prev, 32);
    crypto_generichash_update(&h, be, sizeof be);
    crypto_generichash_update(&h, (const uint8_t *)event, strlen(event) + 1);
    crypto_generichash_update(&h, (const uint8_t *)detail, strlen(detail) + 1);
    crypto_generichash_final(&h, out, 32);
}

/* The sealed head: be64(seq) || hash, or seq 0 and zeros before any event. */
static int head_get(rbx_store *st, uint64_t *seq, uint8_t hash[32])
{
    uint8_t *p;
    size_t n;
    int rc = rbx__st_meta_open(st, "audit_head", &p, &n);
    if (rc == RBX_E_NOT_FOUND) rc = RBX_E_CORRUPT; /* every v2 store has one */
    if (rc == 0 && n != HEAD_BYTES) rc = RBX_E_CORRUPT;
    if (rc == 0) {
        *seq = rbx__load64_be(p);
        memcpy(hash, p + 8, 32);
    }
    rbx__st_free_secret(p, n);
    return rc;
}

static int head_put(rbx_store *st, uint64_t seq, const uint8_t hash[32])
{
    uint8_t v[HEAD_BYTES];
    rbx__store64_be(v, seq);
    memcpy(v + 8, hash, 32);
    return rbx__st_meta_seal(st, "audit_head", v, sizeof v);
}

int rbx__audit_init(rbx_store *st)
{
    static const uint8_t zero[32];
    return head_put(st, 0, zero);
}

/* Control bytes would reach terminals: replaced, never passed on. */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

/* Event names are constants of this library: 1..31 bytes of lowercase
 * letters, digits, spaces, '-' or '_', so that every event written can be
 * read back and printed as it is. */
static int event_ok(const char *event)
{
    size_t n = strlen(event);
    if (n == 0 || n >= RBX_AUDIT_EVENT_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((event[i] >= 'a' && event[i] <= 'z') || (event[i] >= '0' && event[i] <= '9') ||
              event[i] == ' ' || event[i] == '-' || event[i] == '_'))
            return 0;
    return 1;
}

int rbx__audit(rbx_store *st, const char *event, const char *fmt, ...)
{
    char detail[RBX_AUDIT_DETAIL_MAX];
    uint8_t prev[32], hash[32];
    uint64_t seq;
    va_list ap;
    if (!event_ok(event)) return RBX_E_INVALID;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    clean(detail);
    int rc = head_get(st, &seq, prev);
    if (rc != 0) return rc;
    int64_t t = rbx__st_now(st);
    event_hash(hash, prev, seq + 1, t, event, detail);
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO audit (seq, time, event, detail, hash)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5)")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)(seq + 1));
    sqlite3_bind_int64(s, 2, t);
    sqlite3_bind_text(s, 3, event, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, detail, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 5, hash, 32, SQLITE_STATIC);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc != 0 ? rc : head_put(st, seq + 1, hash);
}

int rbx__audit_alone(rbx_store *st, const char *event, const char *fmt, ...)
{
    char detail[RBX_AUDIT_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = rbx__audit(st, event, "%s", detail)) != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    return rbx__st_commit(st, 0);
}

/* Walk the rows in order, checking each link; cb may be NULL (verify).
 * *bad_seq: the first row that does not verify (wrong seq, hash or shape),
 * the sealed head's seq when the chain was rewritten up to it, the first row
 * past the sealed head (appended without the storage key), or 0 when the
 * chain is intact but shorter than the head (events cut off the end). */
static int walk(rbx_store *st, int (*cb)(const rbx_audit_event *, void *), void *ctx,
                uint64_t *count, uint64_t *bad_seq)
{
    sqlite3_stmt *s;
    uint8_t prev[32] = { 0 }, head[32];
    uint64_t expect = 1, head_seq;
    rbx_audit_event e;
    int stop = 0;
    *count = 0;
    *bad_seq = 0;
    int rc = head_get(st, &head_seq, head);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT seq, time, event, detail, hash FROM audit ORDER BY seq")) != 0)
        return rc;
    while ((rc = rbx__st_step(s)) == 1) {
        const char *ev = (const char *)sqlite3_column_text(s, 2);
        const char *de = (const char *)sqlite3_column_text(s, 3);
        int time_type = sqlite3_column_type(s, 1), hash_type = sqlite3_column_type(s, 4);
        memset(&e, 0, sizeof e);
        e.seq = (uint64_t)sqlite3_column_int64(s, 0);
        e.time = sqlite3_column_int64(s, 1);
        size_t evlen = (size_t)sqlite3_column_bytes(s, 2), delen = (size_t)sqlite3_column_bytes(s, 3);
        /* A NUL inside a value would hide its tail from the hash. */
        int ok = ev != NULL && de != NULL && e.seq == expect && evlen < sizeof e.event &&
                 delen < sizeof e.detail && strlen(ev) == evlen && strlen(de) == delen &&
                 time_type == SQLITE_INTEGER && hash_type == SQLITE_BLOB &&
                 sqlite3_column_bytes(s, 4) == 32;
        if (ok) {
            memcpy(e.event, ev, evlen);
            memcpy(e.detail, de, delen);
            event_hash(e.hash, prev, e.seq, e.time, e.event, e.detail);
            ok = sodium_memcmp(e.hash, sqlite3_column_blob(s, 4), 32) == 0;
        }
        /* Rows past the sealed head were not written with the storage key;
         * at the head the chain must end in the sealed hash (a chain whose
         * unkeyed hashes were all recomputed after an edit fails here). */
        if (ok && (e.seq > head_seq || (e.seq == head_seq && sodium_memcmp(e.hash, head, 32) != 0)))
            ok = 0;
        if (!ok) {
            *bad_seq = expect;
            rc = RBX_E_CORRUPT;
            break;
        }
        memcpy(prev, e.hash, 32);
        expect++;
        (*count)++;
        if (cb != NULL && (stop = cb(&e, ctx)) != 0) break;
    }
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (stop != 0) return stop;
    /* Every row checked up to the head, and the head reached. */
    if (*count != head_seq) {
        *bad_seq = 0;
        return RBX_E_CORRUPT;
    }
    return 0;
}

int rbx_store_audit(rbx_store *st, int (*cb)(const rbx_audit_event *e, void *ctx), void *ctx)
{
    uint64_t count, bad;
    /* A read transaction: one snapshot, and writers are not held up. */
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = walk(st, cb, ctx, &count, &bad);
    rbx__st_rollback(st);
    return rc;
}

int rbx_store_audit_verify(rbx_store *st, uint64_t *count, uint64_t *bad_seq)
{
    *count = 0;
    *bad_seq = 0;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = walk(st, NULL, NULL, count, bad_seq);
    rbx__st_rollback(st);
    return rc;
}
