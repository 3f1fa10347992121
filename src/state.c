/* SPDX-License-Identifier: MIT
 * The session as a versioned blob (PROTOCOL.md "Session blob"). Fixed field
 * order, big-endian integers, no padding; the reader checks every length,
 * flag and count, so a truncated, oversized or garbled blob is an error. */
#include <stdlib.h>

#include "session.h"

#define BLOB_MAGIC "RBXS"
#define BLOB_VERSION 1U
#define BLOB_FIXED (4U + 1U + 6U + 8U + 64U + 32U + 10U * 32U + 6U * 4U + 8U * 32U + 4U)
#define BLOB_ENTRY (32U + 4U + 4U + 32U)

typedef struct writer {
    uint8_t *p;
    size_t n;
} writer;

static void put(writer *w, const void *src, size_t len)
{
    if (w->p != NULL) memcpy(w->p + w->n, src, len);
    w->n += len;
}

static void put8(writer *w, uint8_t v) { put(w, &v, 1); }

static void put32(writer *w, uint32_t v)
{
    uint8_t b[4];
    rbx__store32_be(b, v);
    put(w, b, 4);
}

int rbx_session_serialize(uint8_t *out, size_t outcap, size_t *outlen, const rbx_session *s)
{
    size_t need = BLOB_FIXED + s->nskipped * BLOB_ENTRY;
    *outlen = 0;
    if (out == NULL) {
        *outlen = need;
        return 0;
    }
    if (outcap < need) return RBX_E_BUFFER;
    const rbx__state *st = &s->st;
    writer w = { out, 0 };
    put(&w, BLOB_MAGIC, 4);
    put8(&w, BLOB_VERSION);
    put8(&w, s->initiator);
    put8(&w, s->header_encryption);
    put8(&w, s->profile);
    put8(&w, s->awaiting_reply);
    put8(&w, s->poisoned);
    put8(&w, s->has_onetime);
    put32(&w, s->signed_prekey_id);
    put32(&w, s->onetime_prekey_id);
    put(&w, s->ad, 64);
    put(&w, s->base_key, 32);
    put(&w, st->rk, 32);
    put(&w, st->dhs_pk, 32);
    put(&w, st->dhs_sk, 32);
    put(&w, st->dhr, 32);
    put(&w, st->cks, 32);
    put(&w, st->ckr, 32);
    put(&w, st->hks, 32);
    put(&w, st->nhks, 32);
    put(&w, st->hkr, 32);
    put(&w, st->nhkr, 32);
    put32(&w, st->ns);
    put32(&w, st->nr);
    put32(&w, st->pn);
    put32(&w, st->dh_steps);
    put32(&w, st->flags);
    put32(&w, st->nrecent);
    put(&w, st->recent, sizeof st->recent);
    put32(&w, (uint32_t)s->nskipped);
    for (size_t i = 0; i < s->nskipped; i++) {
        put(&w, s->skipped[i].chain, 32);
        put32(&w, s->skipped[i].n);
        put32(&w, s->skipped[i].step);
        put(&w, s->skipped[i].mk, 32);
    }
    *outlen = w.n;
    return 0;
}

typedef struct reader {
    const uint8_t *p;
    size_t n, off;
} reader;

static void get(reader *r, void *dst, size_t len)
{
    memcpy(dst, r->p + r->off, len);
    r->off += len;
}

static uint8_t get8(reader *r) { return r->p[r->off++]; }

static uint32_t get32(reader *r)
{
    uint32_t v = rbx__load32_be(r->p + r->off);
    r->off += 4;
    return v;
}

/* Absent values must be all zero: one encoding per state. */
static int state_valid(const rbx_session *s)
{
    const rbx__state *st = &s->st;
    if (s->initiator > 1 || s->header_encryption > 1 || rbx__profile_get(s->profile) == NULL ||
        s->awaiting_reply > 1 || s->poisoned > 1 || s->has_onetime > 1 ||
        (s->awaiting_reply && !s->initiator) || (!s->has_onetime && s->onetime_prekey_id != 0))
        return 0;
    if ((st->flags & ~RBX_FLAGS_ALL) != 0 || st->nrecent > RBX_RECENT_CHAINS) return 0;
    if (!(st->flags & RBX_HAS_DHR) && !sodium_is_zero(st->dhr, 32)) return 0;
    if (!(st->flags & RBX_HAS_CKS) && (!sodium_is_zero(st->cks, 32) || st->ns != 0)) return 0;
    if (!(st->flags & RBX_HAS_CKR) && (!sodium_is_zero(st->ckr, 32) || st->nr != 0)) return 0;
    if (!(st->flags & RBX_HAS_HKS) && !sodium_is_zero(st->hks, 32)) return 0;
    if (!(st->flags & RBX_HAS_HKR) && !sodium_is_zero(st->hkr, 32)) return 0;
    for (size_t i = st->nrecent; i < RBX_RECENT_CHAINS; i++)
        if (!sodium_is_zero(st->recent[i], 32)) return 0;
    /* Skipped keys are stored a chain at a time, counters rising (ratchet.c
     * only appends): so chains are contiguous runs, at most
     * RBX_MAX_RECEIVING_CHAINS of them, and no (chain, n) repeats. */
    size_t start[RBX_MAX_RECEIVING_CHAINS], nchains = 0; /* first entry of each run */
    for (size_t i = 0; i < s->nskipped; i++) {
        const rbx__skipped *k = &s->skipped[i];
        /* Not from the future, and not past its expiry (ratchet.c settles at
         * every DH step, so a stored entry is never older than that). */
        if (k->step > st->dh_steps || st->dh_steps - k->step > RBX_SKIPPED_KEY_MAX_AGE) return 0;
        if (i > 0 && sodium_memcmp(s->skipped[i - 1].chain, k->chain, 32) == 0) {
            if (k->n <= s->skipped[i - 1].n) return 0;
            continue;
        }
        /* A new run: its chain must not be an earlier run's. */
        for (size_t j = 0; j < nchains; j++)
            if (sodium_memcmp(s->skipped[start[j]].chain, k->chain, 32) == 0) return 0;
        if (nchains == RBX_MAX_RECEIVING_CHAINS) return 0;
        start[nchains++] = i;
    }
    return 1;
}

int rbx_session_deserialize(rbx_session **out, const uint8_t *in, size_t len)
{
    *out = NULL;
    if (len < 5 || memcmp(in, BLOB_MAGIC, 4) != 0) return RBX_E_MALFORMED;
    if (in[4] != BLOB_VERSION) return RBX_E_VERSION;
    if (len < BLOB_FIXED) return RBX_E_MALFORMED;
    uint32_t nskipped = rbx__load32_be(in + BLOB_FIXED - 4);
    if (nskipped > RBX_MAX_SKIPPED_KEYS || len != BLOB_FIXED + (size_t)nskipped * BLOB_ENTRY)
        return RBX_E_MALFORMED;

    rbx_session *s = rbx__session_alloc();
    if (s == NULL) return RBX_E_NOMEM;
    if (rbx__session_reserve(s, nskipped) != 0) {
        rbx_session_free(s);
        return RBX_E_NOMEM;
    }
    rbx__state *st = &s->st;
    reader r = { in, len, 5 };
    s->initiator = get8(&r);
    s->header_encryption = get8(&r);
    s->profile = get8(&r);
    s->awaiting_reply = get8(&r);
    s->poisoned = get8(&r);
    s->has_onetime = get8(&r);
    s->signed_prekey_id = get32(&r);
    s->onetime_prekey_id = get32(&r);
    get(&r, s->ad, 64);
    get(&r, s->base_key, 32);
    get(&r, st->rk, 32);
    get(&r, st->dhs_pk, 32);
    get(&r, st->dhs_sk, 32);
    get(&r, st->dhr, 32);
    get(&r, st->cks, 32);
    get(&r, st->ckr, 32);
    get(&r, st->hks, 32);
    get(&r, st->nhks, 32);
    get(&r, st->hkr, 32);
    get(&r, st->nhkr, 32);
    st->ns = get32(&r);
    st->nr = get32(&r);
    st->pn = get32(&r);
    st->dh_steps = get32(&r);
    st->flags = get32(&r);
    st->nrecent = get32(&r);
    get(&r, st->recent, sizeof st->recent);
    (void)get32(&r);
    for (uint32_t i = 0; i < nskipped; i++) {
        rbx__skipped *k = &s->skipped[i];
        get(&r, k->chain, 32);
        k->n = get32(&r);
        k->step = get32(&r);
        get(&r, k->mk, 32);
    }
    s->nskipped = nskipped;
    if (r.off != len || !state_valid(s)) {
        rbx_session_free(s);
        return RBX_E_MALFORMED;
    }
    *out = s;
    return 0;
}
