/* SPDX-License-Identifier: MIT
 * The session as a versioned blob (PROTOCOL.md "Session blob"). Fixed field
 * order, big-endian integers, no padding; the reader checks every length,
 * flag and count, so a truncated, oversized or garbled blob is an error. */
#include <stdlib.h>

#include "session.h"

#define BLOB_MAGIC "RBXS"
/* The blob's version is its session's protocol version (PROTOCOL.md 11):
 * version 1 is byte for byte the blob of ratchetbox 0.1.0; version 2 adds
 * the block keys before nskipped and the attachment of 6.4 at the end. */
#define BLOB_FIXED_V1 (4U + 1U + 6U + 8U + 64U + 32U + 10U * 32U + 6U * 4U + 8U * 32U + 4U)
#define BLOB_FIXED_V2 (BLOB_FIXED_V1 + 64U)
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

static void put16(writer *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    put(w, b, 2);
}

static size_t attached_size(const rbx__attached *a)
{
    size_t n = 1 + 2 + a->certlen;
    for (size_t i = 0; i < a->n; i++) n += 2 + a->len[i];
    return n;
}

int rbx_session_serialize(uint8_t *out, size_t outcap, size_t *outlen, const rbx_session *s)
{
    unsigned version = rbx__session_version(s);
    size_t need = (version == 2 ? BLOB_FIXED_V2 + attached_size(&s->att) : BLOB_FIXED_V1) +
                  s->nskipped * BLOB_ENTRY;
    *outlen = 0;
    if (out == NULL) {
        *outlen = need;
        return 0;
    }
    if (outcap < need) return RBX_E_BUFFER;
    const rbx__state *st = &s->st;
    writer w = { out, 0 };
    put(&w, BLOB_MAGIC, 4);
    put8(&w, (uint8_t)version);
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
    if (version == 2) {
        put(&w, st->bks, 32);
        put(&w, st->bkr, 32);
    }
    put32(&w, (uint32_t)s->nskipped);
    for (size_t i = 0; i < s->nskipped; i++) {
        put(&w, s->skipped[i].chain, 32);
        put32(&w, s->skipped[i].n);
        put32(&w, s->skipped[i].step);
        put(&w, s->skipped[i].mk, 32);
    }
    if (version == 2) {
        put8(&w, (uint8_t)s->att.n);
        for (size_t i = 0; i < s->att.n; i++) {
            put16(&w, s->att.len[i]);
            put(&w, s->att.rec[i], s->att.len[i]);
        }
        put16(&w, s->att.certlen);
        put(&w, s->att.cert, s->att.certlen);
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

/* Bounds-checked reads for the variable tail of version 2. */
static int take(reader *r, void *dst, size_t len)
{
    if (len > r->n - r->off) return -1;
    get(r, dst, len);
    return 0;
}

static int take16(reader *r, uint16_t *v)
{
    uint8_t b[2];
    if (take(r, b, 2) != 0) return -1;
    *v = (uint16_t)((b[0] << 8) | b[1]);
    return 0;
}

/* PROTOCOL.md 11, version 2's tail: nrecords, records, certificate. */
static int get_attached(reader *r, rbx__attached *a)
{
    uint8_t n;
    if (take(r, &n, 1) != 0 || n > RBX_CHAIN_MAX) return -1;
    for (size_t i = 0; i < n; i++)
        if (take16(r, &a->len[i]) != 0 || a->len[i] == 0 || a->len[i] > RBX_ROTATION_MAXBYTES ||
            take(r, a->rec[i], a->len[i]) != 0)
            return -1;
    a->n = n;
    if (take16(r, &a->certlen) != 0 || a->certlen > RBX_CERT_MAXBYTES ||
        take(r, a->cert, a->certlen) != 0)
        return -1;
    return 0;
}

/* Absent values must be all zero: one encoding per state. */
static int state_valid(const rbx_session *s, unsigned version)
{
    const rbx__state *st = &s->st;
    const rbx__profile *p = rbx__profile_get(s->profile);
    if (s->initiator > 1 || s->header_encryption > 1 || p == NULL || p->version != version ||
        s->awaiting_reply > 1 || s->poisoned > 1 || s->has_onetime > 1 ||
        (s->awaiting_reply && !s->initiator) || (!s->has_onetime && s->onetime_prekey_id != 0))
        return 0;
    if (!(st->flags & RBX_HAS_CKS) && !sodium_is_zero(st->bks, 32)) return 0;
    if (!(st->flags & RBX_HAS_CKR) && !sodium_is_zero(st->bkr, 32)) return 0;
    if ((s->att.n != 0 || s->att.certlen != 0) && !s->awaiting_reply) return 0;
    if (s->att.certlen != 0 && s->att.n == 0) return 0;
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
    unsigned version = in[4];
    if (version < 1 || version > RBX_MAX_VERSION) return RBX_E_VERSION;
    size_t fixed = version == 2 ? BLOB_FIXED_V2 : BLOB_FIXED_V1;
    if (len < fixed) return RBX_E_MALFORMED;
    uint32_t nskipped = rbx__load32_be(in + fixed - 4);
    if (nskipped > RBX_MAX_SKIPPED_KEYS ||
        (version == 1 && len != fixed + (size_t)nskipped * BLOB_ENTRY) ||
        (version == 2 && len < fixed + (size_t)nskipped * BLOB_ENTRY))
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
    if (version == 2) {
        get(&r, st->bks, 32);
        get(&r, st->bkr, 32);
    }
    (void)get32(&r);
    for (uint32_t i = 0; i < nskipped; i++) {
        rbx__skipped *k = &s->skipped[i];
        get(&r, k->chain, 32);
        k->n = get32(&r);
        k->step = get32(&r);
        get(&r, k->mk, 32);
    }
    s->nskipped = nskipped;
    if ((version == 2 && get_attached(&r, &s->att) != 0) || r.off != len ||
        !state_valid(s, version)) {
        rbx_session_free(s);
        return RBX_E_MALFORMED;
    }
    *out = s;
    return 0;
}
