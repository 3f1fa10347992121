/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <stdlib.h>

#include "internal.h"
#include "kdf.h"

/* Field keys: (field number << 3) | wire type (0 varint, 2 length-delimited). */
enum {
    K_VERSION = 0x08,
    M_RATCHET_KEY = 0x12, M_COUNTER = 0x18, M_PREV = 0x20, M_ENC_HEADER = 0x2a, M_CT = 0x32,
    M_SALT = 0x3a,
    P_IDENTITY = 0x12, P_BASE = 0x1a, P_SPK = 0x20, P_OPK = 0x28, P_PROFILE = 0x30,
    P_HE = 0x38, P_MESSAGE = 0x42, P_ROTATION = 0x4a, P_CERT = 0x52,
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
    size_t n = put_uint(out, K_VERSION, m->version);
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

size_t rbx__msg_suffix(uint8_t *out, const rbx__msg *m)
{
    return m->salt != NULL ? put_bytes(out, M_SALT, m->salt, RBX_SALTBYTES) : 0;
}

size_t rbx__prekey_prefix(uint8_t *out, const rbx__prekey_msg *m)
{
    size_t n = put_uint(out, K_VERSION, m->version);
    n += put_bytes(out + n, P_IDENTITY, m->identity_key, 32);
    n += put_bytes(out + n, P_BASE, m->base_key, 32);
    n += put_uint(out + n, P_SPK, m->signed_prekey_id);
    if (m->has_onetime) n += put_uint(out + n, P_OPK, m->onetime_prekey_id);
    if (m->profile != 0) n += put_uint(out + n, P_PROFILE, m->profile);
    if (m->header_encryption) n += put_uint(out + n, P_HE, 1);
    n += put_bytes(out + n, P_MESSAGE, NULL, m->messagelen);
    return n;
}

size_t rbx__prekey_suffix(uint8_t *out, const rbx__prekey_msg *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nrecords; i++) {
        if (out == NULL) n += 1 + rbx__varint_len(m->record_lens[i]) + m->record_lens[i];
        else n += put_bytes(out + n, P_ROTATION, m->records[i], m->record_lens[i]);
    }
    if (m->cert != NULL) {
        if (out == NULL) n += 1 + rbx__varint_len(m->certlen) + m->certlen;
        else n += put_bytes(out + n, P_CERT, m->cert, m->certlen);
    }
    return n;
}

/* The input must be exactly prefix || body || suffix: the body (ciphertext
 * or embedded message) is taken as it is, everything around it re-encoded. */
static int check_canonical(const uint8_t *in, size_t len, const uint8_t *prefix, size_t plen,
                           size_t bodylen, const uint8_t *suffix, size_t slen)
{
    if (plen > len || len - plen < bodylen || len - plen - bodylen != slen ||
        memcmp(in, prefix, plen) != 0 || memcmp(in + plen + bodylen, suffix, slen) != 0)
        return RBX_E_MALFORMED;
    return 0;
}

/* A Message or PreKeyMessage version this build speaks (PROTOCOL.md 9). */
static int version_known(uint32_t v) { return v >= 1 && v <= RBX_MAX_VERSION; }

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
    if (!version_known(w->version)) {
        rc = RBX_E_VERSION;
        goto out;
    }
    /* Version 2 carries R in field 7 with a clear header, in the header
     * nonce with an encrypted one. */
    int want_salt = w->version == 2;
    int clear = w->has_ratchet_key && w->has_counter && w->has_previous_counter &&
                !w->has_encrypted_header && w->ratchet_key.len == 32 &&
                w->has_salt == want_salt && (!w->has_salt || w->salt.len == RBX_SALTBYTES);
    int hidden = w->has_encrypted_header && !w->has_ratchet_key && !w->has_counter &&
                 !w->has_previous_counter && w->encrypted_header.len == RBX_ENC_HEADERBYTES &&
                 !w->has_salt;
    if (!clear && !hidden) goto out;
    if (w->ciphertext.len < RBX_AEAD_TAGBYTES) goto out;
    if (w->ciphertext.len > RBX_MAX_PLAINTEXT + RBX_AEAD_TAGBYTES) {
        rc = RBX_E_TOO_BIG;
        goto out;
    }
    rbx__msg t = {
        .version = w->version,
        .ratchet_key = clear ? w->ratchet_key.data : NULL,
        .counter = w->counter,
        .previous_counter = w->previous_counter,
        .enc_header = hidden ? w->encrypted_header.data : NULL,
        .ctlen = w->ciphertext.len,
        .salt = w->has_salt ? w->salt.data : NULL,
    };
    uint8_t prefix[RBX_MSG_PREFIX_MAX], suffix[RBX_MSG_SUFFIX_MAX];
    size_t plen = rbx__msg_prefix(prefix, &t), slen = rbx__msg_suffix(suffix, &t);
    if ((rc = check_canonical(in, len, prefix, plen, t.ctlen, suffix, slen)) != 0) goto out;
    /* Canonical, so every field sits at its fixed place in the input. */
    *m = t;
    if (clear) m->ratchet_key = in + FIRST_FIELD_OFFSET;
    else m->enc_header = in + FIRST_FIELD_OFFSET;
    m->ct = in + plen;
    if (t.salt != NULL) m->salt = in + len - RBX_SALTBYTES;
out:
    rbx__wire__message__free_unpacked(w, &alloc);
    return rc;
}

int rbx__prekey_parse(rbx__prekey_msg *m, const uint8_t *in, size_t len)
{
    memset(m, 0, sizeof *m);
    _Static_assert(RBX_MAX_PREKEY_WIRE == RBX_MAX_WIRE + RBX_PREKEY_PREFIX_MAX + RBX_PREKEY_ATTACH_MAX,
                   "RBX_MAX_PREKEY_WIRE is the sum of its parts");
    if (len > RBX_MAX_PREKEY_WIRE) return RBX_E_TOO_BIG;
    _Alignas(16) arena a;
    a.used = 0;
    ProtobufCAllocator alloc = { arena_alloc, arena_free, &a };
    Rbx__Wire__PreKeyMessage *w = rbx__wire__pre_key_message__unpack(&alloc, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    if (!version_known(w->version)) {
        rc = RBX_E_VERSION;
        goto out;
    }
    /* Version 1 has no attachment: its bound is the one of 0.1.0. */
    if (w->version == 1 && len > RBX_MAX_WIRE + RBX_PREKEY_PREFIX_MAX) {
        rc = RBX_E_TOO_BIG;
        goto out;
    }
    if (w->identity_key.len != 32 || w->base_key.len != 32) goto out;
    /* (version, kdf_profile) in (1, 0), (1, 1), (2, 2). */
    const rbx__profile *prof = rbx__profile_get(w->has_kdf_profile ? w->kdf_profile : 0);
    if (prof == NULL || prof->version != w->version) {
        rc = RBX_E_VERSION;
        goto out;
    }
    if (w->version == 1 ? (w->n_rotation != 0 || w->has_org_certificate)
                        : (w->n_rotation > RBX_CHAIN_MAX ||
                           (w->has_org_certificate &&
                            (w->n_rotation == 0 || w->org_certificate.len == 0 ||
                             w->org_certificate.len > RBX_CERT_MAXBYTES))))
        goto out;
    for (size_t i = 0; i < w->n_rotation; i++)
        if (w->rotation[i].len == 0 || w->rotation[i].len > RBX_ROTATION_MAXBYTES) goto out;
    rbx__prekey_msg t = {
        .version = w->version,
        .identity_key = w->identity_key.data,
        .base_key = w->base_key.data,
        .signed_prekey_id = w->signed_prekey_id,
        .has_onetime = w->has_one_time_prekey_id,
        .onetime_prekey_id = w->one_time_prekey_id,
        .profile = w->has_kdf_profile ? w->kdf_profile : 0,
        .header_encryption = w->has_header_encryption && w->header_encryption,
        .messagelen = w->message.len,
        .nrecords = w->n_rotation,
        .cert = w->has_org_certificate ? w->org_certificate.data : NULL,
        .certlen = w->has_org_certificate ? w->org_certificate.len : 0,
    };
    for (size_t i = 0; i < w->n_rotation; i++) {
        t.records[i] = w->rotation[i].data;
        t.record_lens[i] = w->rotation[i].len;
    }
    uint8_t prefix[RBX_PREKEY_PREFIX_MAX], suffix[RBX_PREKEY_ATTACH_MAX];
    size_t plen = rbx__prekey_prefix(prefix, &t), slen = rbx__prekey_suffix(suffix, &t);
    if ((rc = check_canonical(in, len, prefix, plen, t.messagelen, suffix, slen)) != 0) goto out;
    *m = t;
    m->identity_key = in + FIRST_FIELD_OFFSET;
    m->base_key = in + FIRST_FIELD_OFFSET + 34;
    m->message = in + plen;
    /* Canonical: the attachment follows the message field by field; point
     * into the input, not into the unpacked copy that is freed below. */
    size_t off = plen + t.messagelen;
    for (size_t i = 0; i < t.nrecords; i++) {
        off += 1 + rbx__varint_len(t.record_lens[i]);
        m->records[i] = in + off;
        off += t.record_lens[i];
    }
    if (t.cert != NULL) m->cert = in + off + 1 + rbx__varint_len(t.certlen);
out:
    rbx__wire__pre_key_message__free_unpacked(w, &alloc);
    return rc;
}
