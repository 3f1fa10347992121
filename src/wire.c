/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <stdlib.h>

#include "internal.h"
#include "kdf.h"

/* Field keys: (field number << 3) | wire type (0 varint, 2 length-delimited). */
enum {
    K_VERSION = 0x08,
    M_RATCHET_KEY = 0x12, M_COUNTER = 0x18, M_PREV = 0x20, M_ENC_HEADER = 0x2a, M_CT = 0x32,
    P_IDENTITY = 0x12, P_BASE = 0x1a, P_SPK = 0x20, P_OPK = 0x28, P_PROFILE = 0x30,
    P_HE = 0x38, P_MESSAGE = 0x42,
};

/* Offset of the first 32-byte field after "08 01 <key> <len>". */
#define FIRST_FIELD_OFFSET 4U

size_t rbx__varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static size_t put_uint(uint8_t *out, uint8_t key, uint64_t v)
{
    out[0] = key;
    return 1 + put_varint(out + 1, v);
}

static size_t put_bytes(uint8_t *out, uint8_t key, const uint8_t *p, size_t len)
{
    size_t n = put_uint(out, key, len);
    if (p != NULL) memcpy(out + n, p, len);
    return n + (p != NULL ? len : 0);
}

size_t rbx__msg_prefix(uint8_t *out, const rbx__msg *m)
{
    size_t n = put_uint(out, K_VERSION, RBX_WIRE_VERSION);
    if (m->enc_header != NULL) {
        n += put_bytes(out + n, M_ENC_HEADER, m->enc_header, RBX_ENC_HEADERBYTES);
    } else {
        n += put_bytes(out + n, M_RATCHET_KEY, m->ratchet_key, 32);
        n += put_uint(out + n, M_COUNTER, m->counter);
        n += put_uint(out + n, M_PREV, m->previous_counter);
    }
    n += put_bytes(out + n, M_CT, NULL, m->ctlen);
    return n;
}

size_t rbx__prekey_prefix(uint8_t *out, const rbx__prekey_msg *m)
{
    size_t n = put_uint(out, K_VERSION, RBX_WIRE_VERSION);
    n += put_bytes(out + n, P_IDENTITY, m->identity_key, 32);
    n += put_bytes(out + n, P_BASE, m->base_key, 32);
    n += put_uint(out + n, P_SPK, m->signed_prekey_id);
    if (m->has_onetime) n += put_uint(out + n, P_OPK, m->onetime_prekey_id);
    if (m->profile != 0) n += put_uint(out + n, P_PROFILE, m->profile);
    if (m->header_encryption) n += put_uint(out + n, P_HE, 1);
    n += put_bytes(out + n, P_MESSAGE, NULL, m->messagelen);
    return n;
}

/* The input must be exactly prefix || body, where body is the last field. */
static int check_canonical(const uint8_t *in, size_t len, const uint8_t *prefix, size_t plen,
                           size_t bodylen)
{
    if (plen > len || len - plen != bodylen || memcmp(in, prefix, plen) != 0)
        return RBX_E_MALFORMED;
    return 0;
}

/* The re-encoding is compared with the input as protobuf-c produces it, so
 * no buffer of the largest message is needed. */
typedef struct cmp_buffer {
    ProtobufCBuffer base;
    const uint8_t *in;
    size_t len, off;
    int same;
} cmp_buffer;

static void cmp_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    cmp_buffer *c = (cmp_buffer *)b;
    if (len == 0 || !c->same) return;
    if (len > c->len - c->off || memcmp(c->in + c->off, data, len) != 0) {
        c->same = 0;
        return;
    }
    c->off += len;
}

int rbx__wire_canonical(const ProtobufCMessage *m, const uint8_t *in, size_t len)
{
    if (m->n_unknown_fields != 0) return 0;
    cmp_buffer c = { { cmp_append }, in, len, 0, 1 };
    protobuf_c_message_pack_to_buffer(m, &c.base);
    return c.same && c.off == len;
}

/* protobuf-c allocates the unpacked message and copies every bytes field.
 * Messages up to a few KiB unpack into a stack arena instead of the heap:
 * parsing is on the per-message path (a PreKeyMessage too, for every message
 * before the first reply), and a malloc/free pair costs about as much as one
 * SHA-256 block. Larger ones fall back to malloc. */
typedef struct arena {
    uint8_t buf[4096];
    size_t used;
} arena;

static void *arena_alloc(void *data, size_t size)
{
    arena *a = data;
    size_t need = (size + 15U) & ~(size_t)15U;
    if (need >= size && need <= sizeof a->buf - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    return malloc(size);
}

static void arena_free(void *data, void *p)
{
    arena *a = data;
    if ((uint8_t *)p < a->buf || (uint8_t *)p >= a->buf + sizeof a->buf) free(p);
}

int rbx__msg_parse(rbx__msg *m, const uint8_t *in, size_t len)
{
    memset(m, 0, sizeof *m);
    if (len > RBX_MAX_WIRE) return RBX_E_TOO_BIG;
    _Alignas(16) arena a;
    a.used = 0;
    ProtobufCAllocator alloc = { arena_alloc, arena_free, &a };
    Rbx__Wire__Message *w = rbx__wire__message__unpack(&alloc, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    int clear = w->has_ratchet_key && w->has_counter && w->has_previous_counter &&
                !w->has_encrypted_header && w->ratchet_key.len == 32;
    int hidden = w->has_encrypted_header && !w->has_ratchet_key && !w->has_counter &&
                 !w->has_previous_counter && w->encrypted_header.len == RBX_ENC_HEADERBYTES;
    if (!clear && !hidden) goto out;
    if (w->ciphertext.len < RBX_AEAD_TAGBYTES) goto out;
    if (w->ciphertext.len > RBX_MAX_PLAINTEXT + RBX_AEAD_TAGBYTES) {
        rc = RBX_E_TOO_BIG;
        goto out;
    }
    rbx__msg t = {
        .ratchet_key = clear ? w->ratchet_key.data : NULL,
        .counter = w->counter,
        .previous_counter = w->previous_counter,
        .enc_header = hidden ? w->encrypted_header.data : NULL,
        .ctlen = w->ciphertext.len,
    };
    uint8_t prefix[RBX_MSG_PREFIX_MAX];
    size_t plen = rbx__msg_prefix(prefix, &t);
    if ((rc = check_canonical(in, len, prefix, plen, t.ctlen)) != 0) goto out;
    /* Canonical, so every field sits at its fixed place in the input. */
    *m = t;
    if (clear) m->ratchet_key = in + FIRST_FIELD_OFFSET;
    else m->enc_header = in + FIRST_FIELD_OFFSET;
    m->ct = in + plen;
out:
    rbx__wire__message__free_unpacked(w, &alloc);
    return rc;
}

int rbx__prekey_parse(rbx__prekey_msg *m, const uint8_t *in, size_t len)
{
    memset(m, 0, sizeof *m);
    if (len > RBX_MAX_WIRE + RBX_PREKEY_PREFIX_MAX) return RBX_E_TOO_BIG;
    _Alignas(16) arena a;
    a.used = 0;
    ProtobufCAllocator alloc = { arena_alloc, arena_free, &a };
    Rbx__Wire__PreKeyMessage *w = rbx__wire__pre_key_message__unpack(&alloc, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    if (w->identity_key.len != 32 || w->base_key.len != 32) goto out;
    if (w->has_kdf_profile && rbx__profile_get(w->kdf_profile) == NULL) {
        rc = RBX_E_VERSION;
        goto out;
    }
    rbx__prekey_msg t = {
        .identity_key = w->identity_key.data,
        .base_key = w->base_key.data,
        .signed_prekey_id = w->signed_prekey_id,
        .has_onetime = w->has_one_time_prekey_id,
        .onetime_prekey_id = w->one_time_prekey_id,
        .profile = w->has_kdf_profile ? w->kdf_profile : 0,
        .header_encryption = w->has_header_encryption && w->header_encryption,
        .messagelen = w->message.len,
    };
    uint8_t prefix[RBX_PREKEY_PREFIX_MAX];
    size_t plen = rbx__prekey_prefix(prefix, &t);
    if ((rc = check_canonical(in, len, prefix, plen, t.messagelen)) != 0) goto out;
    *m = t;
    m->identity_key = in + FIRST_FIELD_OFFSET;
    m->base_key = in + FIRST_FIELD_OFFSET + 34;
    m->message = in + plen;
out:
    rbx__wire__pre_key_message__free_unpacked(w, &alloc);
    return rc;
}
