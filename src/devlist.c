/* SPDX-License-Identifier: MIT
 * Device lists (PROTOCOL.md section 20): user and device identifiers, the
 * signed entries of a user's hash-chained device log, and verification of a
 * whole log from its first entry or a pin. Pure functions of their inputs:
 * no I/O, no state; the caller (a client, or rbxd before it appends) decides
 * what to pin and store.
 *
 * As for rotation records (rotation.c), every signature covers a fixed
 * binary statement with its own domain string, never the protobuf encoding. */
#include <stdlib.h>

#include "internal.h"
#include "sign.h"
#include "wire.h"

#define DEVICE_ID_DOMAIN "ratchetbox-device-id-v1"
#define DEVICE_ID_DOMAIN_LEN 23U
#define DEVLIST_DOMAIN "ratchetbox-devlist-v1"
#define DEVLIST_DOMAIN_LEN 21U
#define SUBJECT_DOMAIN "ratchetbox-devlist-subject-v1"
#define SUBJECT_DOMAIN_LEN 29U

/* 140 + len(user) bytes (PROTOCOL.md 20.3). */
#define STATEMENT_MAX (DEVLIST_DOMAIN_LEN + 1U + (RBX_USER_MAX - 1U) + 8U + 32U + 1U + 4U + 32U + \
                       8U + 1U + 32U)
#define SUBJECT_STATEMENT_BYTES (SUBJECT_DOMAIN_LEN + 32U)

_Static_assert(RBX_USER_MAX - 1U <= 255U, "a user id's length is one byte in the statement");

int rbx_user_id_ok(const char *user)
{
    if (user == NULL) return 0;
    size_t n = 0;
    for (; n < RBX_USER_MAX && user[n] != '\0'; n++) {
        unsigned char c = (unsigned char)user[n];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (n == 0 || (c != '.' && c != '_' && c != '@' && c != '-'))) return 0;
    }
    return n >= 1 && n < RBX_USER_MAX;
}

uint32_t rbx_device_id(const uint8_t ik[32])
{
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)DEVICE_ID_DOMAIN, DEVICE_ID_DOMAIN_LEN);
    crypto_generichash_update(&st, ik, 32);
    crypto_generichash_final(&st, h, sizeof h);
    uint32_t d = rbx__load32_be(h) & RBX_DEVICE_ID_MAX;
    return d != 0 ? d : 1U;
}

void rbx_devlist_entry_hash(uint8_t out[32], const uint8_t *in, size_t len)
{
    crypto_generichash(out, 32, in, len, NULL, 0);
}

/* ------------------------------------------------------------ entries */

static int key_eq(const uint8_t a[32], const uint8_t b[32])
{
    return sodium_memcmp(a, b, 32) == 0;
}

static int has_subject(unsigned op)
{
    return op == RBX_DEVLIST_ADD || op == RBX_DEVLIST_ROTATE;
}

/* The fields every entry must satisfy on its own (user, seq, op, device,
 * signer kind); keys and signatures are checked by the callers. */
static int entry_form_ok(const rbx_devlist_entry *e)
{
    return rbx_user_id_ok(e->user) && e->seq != 0 && e->op >= RBX_DEVLIST_ADD &&
           e->op <= RBX_DEVLIST_ROTATE && e->device != 0 && e->device <= RBX_DEVICE_ID_MAX &&
           (e->signer_kind == RBX_SIGNER_DEVICE || e->signer_kind == RBX_SIGNER_ORG);
}

static size_t statement(uint8_t out[STATEMENT_MAX], const rbx_devlist_entry *e)
{
    size_t ulen = strlen(e->user);
    uint8_t *p = out;
    memcpy(p, DEVLIST_DOMAIN, DEVLIST_DOMAIN_LEN);
    p += DEVLIST_DOMAIN_LEN;
    *p++ = (uint8_t)ulen;
    memcpy(p, e->user, ulen);
    p += ulen;
    rbx__store64_be(p, e->seq);
    p += 8;
    memcpy(p, e->prev_hash, 32);
    p += 32;
    *p++ = (uint8_t)e->op;
    rbx__store32_be(p, e->device);
    p += 4;
    memcpy(p, e->identity, 32);
    p += 32;
    rbx__store64_be(p, e->created);
    p += 8;
    *p++ = (uint8_t)e->signer_kind;
    memcpy(p, e->signer, 32);
    p += 32;
    return (size_t)(p - out);
}

/* "ratchetbox-devlist-subject-v1" || BLAKE2b-256(statement). */
static void subject_statement(uint8_t out[SUBJECT_STATEMENT_BYTES], const uint8_t *st, size_t len)
{
    memcpy(out, SUBJECT_DOMAIN, SUBJECT_DOMAIN_LEN);
    crypto_generichash(out + SUBJECT_DOMAIN_LEN, 32, st, len, NULL, 0);
}

/* Encode e with its signatures (subject_sig NULL for remove). */
static int entry_encode(uint8_t *out, size_t outcap, size_t *outlen, const rbx_devlist_entry *e,
                        const uint8_t sig[64], const uint8_t *subject_sig, int size_only)
{
    /* protobuf-c wants mutable pointers: public copies. */
    rbx_devlist_entry c = *e;
    uint8_t s1[64] = { 0 }, s2[64] = { 0 };
    if (sig != NULL) memcpy(s1, sig, 64);
    if (subject_sig != NULL) memcpy(s2, subject_sig, 64);
    Rbx__Wire__DeviceListEntry w = RBX__WIRE__DEVICE_LIST_ENTRY__INIT;
    w.version = RBX_WIRE_VERSION;
    w.user = c.user;
    w.seq = c.seq;
    w.prev_hash = (ProtobufCBinaryData){ 32, c.prev_hash };
    w.op = c.op;
    w.device = c.device;
    w.identity = (ProtobufCBinaryData){ 32, c.identity };
    w.created = c.created;
    w.signer_kind = c.signer_kind;
    w.signer = (ProtobufCBinaryData){ 32, c.signer };
    w.signature = (ProtobufCBinaryData){ 64, s1 };
    if (has_subject(c.op)) {
        w.has_subject_signature = 1;
        w.subject_signature = (ProtobufCBinaryData){ 64, s2 };
    }
    if (rbx__wire__device_list_entry__get_packed_size(&w) > outcap) return RBX_E_BUFFER;
    if (!size_only) *outlen = rbx__wire__device_list_entry__pack(&w, out);
    return 0;
}

int rbx_devlist_entry_sign(uint8_t *out, size_t outcap, size_t *outlen, const rbx_devlist_entry *e,
                           const uint8_t signer_sk[32], const uint8_t *subject_sk)
{
    *outlen = 0;
    if (!entry_form_ok(e) || has_subject(e->op) != (subject_sk != NULL)) return RBX_E_INVALID;
    if (!rbx__pk_is_valid(e->identity) || !rbx__pk_is_valid(e->signer) ||
        !rbx__keypair_matches(e->signer, signer_sk) ||
        (subject_sk != NULL && !rbx__keypair_matches(e->identity, subject_sk)))
        return RBX_E_KEY;
    /* Size before signing: no randomness is spent on a refused call. */
    int rc = entry_encode(out, outcap, outlen, e, NULL, NULL, 1);
    if (rc != 0) return rc;
    uint8_t sig[64], subject_sig[64];
    uint8_t st[STATEMENT_MAX], sub[SUBJECT_STATEMENT_BYTES];
    size_t slen = statement(st, e);
    /* The signer first (the vectors list its nonce first). */
    rbx__xeddsa_sign(sig, signer_sk, st, slen);
    if (subject_sk != NULL) {
        subject_statement(sub, st, slen);
        rbx__xeddsa_sign(subject_sig, subject_sk, sub, sizeof sub);
    }
    return entry_encode(out, outcap, outlen, e, sig, subject_sk != NULL ? subject_sig : NULL, 0);
}

int rbx_devlist_entry_signature(uint8_t sig[64], const rbx_devlist_entry *e,
                                const uint8_t signer_sk[32])
{
    memset(sig, 0, 64);
    if (!entry_form_ok(e)) return RBX_E_INVALID;
    if (!rbx__pk_is_valid(e->identity) || !rbx__pk_is_valid(e->signer) ||
        !rbx__keypair_matches(e->signer, signer_sk))
        return RBX_E_KEY;
    uint8_t st[STATEMENT_MAX];
    rbx__xeddsa_sign(sig, signer_sk, st, statement(st, e));
    return 0;
}

int rbx_devlist_entry_cosign(uint8_t *out, size_t outcap, size_t *outlen,
                             const rbx_devlist_entry *e, const uint8_t signature[64],
                             const uint8_t subject_sk[32])
{
    *outlen = 0;
    if (!entry_form_ok(e) || !has_subject(e->op)) return RBX_E_INVALID;
    if (!rbx__pk_is_valid(e->identity) || !rbx__pk_is_valid(e->signer) ||
        !rbx__keypair_matches(e->identity, subject_sk))
        return RBX_E_KEY;
    int rc = entry_encode(out, outcap, outlen, e, NULL, NULL, 1);
    if (rc != 0) return rc;
    uint8_t st[STATEMENT_MAX], sub[SUBJECT_STATEMENT_BYTES], subject_sig[64];
    size_t slen = statement(st, e);
    /* The subject signs only a statement its signer really signed. */
    if ((rc = rbx__xeddsa_verify(signature, e->signer, st, slen)) != 0) return rc;
    subject_statement(sub, st, slen);
    rbx__xeddsa_sign(subject_sig, subject_sk, sub, sizeof sub);
    return entry_encode(out, outcap, outlen, e, signature, subject_sig, 0);
}

int rbx_devlist_entry_parse(rbx_devlist_entry *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len > RBX_DEVLIST_ENTRY_MAXBYTES) return RBX_E_MALFORMED;
    Rbx__Wire__DeviceListEntry *w = rbx__wire__device_list_entry__unpack(NULL, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    rbx_devlist_entry e = { 0 };
    /* A user with a NUL inside is cut short by protobuf-c and caught by the
     * re-encoding; one of 64 bytes or more fails rbx_user_id_ok. */
    size_t ulen = strlen(w->user);
    if (ulen >= RBX_USER_MAX || w->prev_hash.len != 32 || w->identity.len != 32 ||
        w->signer.len != 32 || w->signature.len != 64 ||
        (w->has_subject_signature && w->subject_signature.len != 64) ||
        (w->has_subject_signature != 0) != has_subject(w->op))
        goto out;
    memcpy(e.user, w->user, ulen);
    e.seq = w->seq;
    memcpy(e.prev_hash, w->prev_hash.data, 32);
    e.op = w->op;
    e.device = w->device;
    memcpy(e.identity, w->identity.data, 32);
    e.created = w->created;
    e.signer_kind = w->signer_kind;
    memcpy(e.signer, w->signer.data, 32);
    if (!entry_form_ok(&e) || !rbx__wire_canonical(&w->base, in, len)) goto out;
    rc = RBX_E_KEY;
    if (!rbx__pk_is_valid(e.identity) || !rbx__pk_is_valid(e.signer)) goto out;
    uint8_t st[STATEMENT_MAX], sub[SUBJECT_STATEMENT_BYTES];
    size_t slen = statement(st, &e);
    if ((rc = rbx__xeddsa_verify(w->signature.data, e.signer, st, slen)) != 0) goto out;
    /* Add and rotate name a key that must prove it is held (PROTOCOL.md
     * 20.2): otherwise a signer could enrol a key it does not hold, or one
     * another user's device holds. */
    if (w->has_subject_signature) {
        subject_statement(sub, st, slen);
        if ((rc = rbx__xeddsa_verify(w->subject_signature.data, e.identity, sub, sizeof sub)) != 0)
            goto out;
    }
    *out = e;
out:
    rbx__wire__device_list_entry__free_unpacked(w, NULL);
    return rc;
}

/* ------------------------------------------------------------ logs */

static size_t find_device(const rbx_devlist *l, uint32_t id)
{
    for (size_t i = 0; i < l->ndevices; i++)
        if (l->devices[i].id == id) return i;
    return l->ndevices;
}

static size_t find_key(const rbx_devlist *l, const uint8_t key[32])
{
    for (size_t i = 0; i < l->ndevices; i++)
        if (key_eq(l->devices[i].identity, key)) return i;
    return l->ndevices;
}

/* PROTOCOL.md 20.4 steps 7 and 8: may e's signer write to the list l (the
 * state after every earlier entry), and does its op hold? Applies it. */
static int apply(rbx_devlist *l, const rbx_devlist_entry *e, const uint8_t *org)
{
    int first = e->seq == 1;
    if (first && e->op != RBX_DEVLIST_ADD) return RBX_E_CHAIN;
    if (e->signer_kind == RBX_SIGNER_ORG) {
        if (org == NULL || !key_eq(e->signer, org)) return RBX_E_CHAIN;
    } else if (first) {
        if (!key_eq(e->signer, e->identity)) return RBX_E_CHAIN;
    } else if (find_key(l, e->signer) == l->ndevices) {
        return RBX_E_CHAIN;
    }
    size_t k = find_device(l, e->device);
    switch (e->op) {
    case RBX_DEVLIST_ADD:
        if (e->device != rbx_device_id(e->identity) || k != l->ndevices ||
            find_key(l, e->identity) != l->ndevices)
            return RBX_E_CHAIN;
        if (l->ndevices == RBX_DEVLIST_MAX_DEVICES) return RBX_E_LIMIT;
        l->devices[l->ndevices].id = e->device;
        memcpy(l->devices[l->ndevices].identity, e->identity, 32);
        l->devices[l->ndevices].added_seq = e->seq;
        l->ndevices++;
        return 0;
    case RBX_DEVLIST_REMOVE:
        /* The last device cannot go: nobody could sign the next entry. */
        if (k == l->ndevices || !key_eq(l->devices[k].identity, e->identity) ||
            l->ndevices == 1)
            return RBX_E_CHAIN;
        memmove(&l->devices[k], &l->devices[k + 1], (l->ndevices - k - 1) * sizeof l->devices[0]);
        l->ndevices--;
        memset(&l->devices[l->ndevices], 0, sizeof l->devices[0]);
        return 0;
    default: /* RBX_DEVLIST_ROTATE: entry_form_ok allows no other op */
        /* Only the device itself (or the organisation) rotates its key. */
        if (k == l->ndevices ||
            (e->signer_kind == RBX_SIGNER_DEVICE && !key_eq(e->signer, l->devices[k].identity)) ||
            find_key(l, e->identity) != l->ndevices)
            return RBX_E_CHAIN;
        memcpy(l->devices[k].identity, e->identity, 32);
        return 0;
    }
}

static int verify_log(rbx_devlist *out, const char *user, const uint8_t *const *entries,
                      const size_t *lens, size_t n, const rbx_devlist_pin *pin,
                      const uint8_t *org)
{
    if (!rbx_user_id_ok(user) || (n > 0 && (entries == NULL || lens == NULL)) ||
        (pin != NULL && pin->seq == 0))
        return RBX_E_INVALID;
    for (size_t i = 0; i < n; i++)
        if (entries[i] == NULL) return RBX_E_INVALID;
    /* Step 1. */
    if (n > RBX_DEVLIST_MAX_ENTRIES) return RBX_E_LIMIT;
    uint8_t h[32];
    /* Steps 2 and 3: the pin, before any signature is checked. */
    if (pin != NULL) {
        if (n < pin->seq) return RBX_E_STALE;
        rbx_devlist_entry_hash(h, entries[0], lens[0]);
        if (!key_eq(h, pin->first_hash)) return RBX_E_IDENTITY_CHANGED;
        rbx_devlist_entry_hash(h, entries[pin->seq - 1], lens[pin->seq - 1]);
        if (!key_eq(h, pin->hash)) return RBX_E_IDENTITY_CHANGED;
    }
    /* Step 4: no entry 1, nothing to trust. */
    if (n == 0) return RBX_E_CHAIN;
    uint8_t prev[32] = { 0 };
    uint64_t prev_created = 0;
    int rc;
    for (size_t i = 0; i < n; i++) {
        rbx_devlist_entry e;
        /* Step 5. */
        if ((rc = rbx_devlist_entry_parse(&e, entries[i], lens[i])) != 0) return rc;
        /* Step 6. */
        if (strcmp(e.user, user) != 0 || e.seq != (uint64_t)i + 1 || !key_eq(e.prev_hash, prev) ||
            e.created < prev_created)
            return RBX_E_CHAIN;
        /* Steps 7 and 8. */
        if ((rc = apply(out, &e, org)) != 0) return rc;
        rbx_devlist_entry_hash(prev, entries[i], lens[i]);
        prev_created = e.created;
        if (i == 0) memcpy(out->head.first_hash, prev, 32);
    }
    out->head.seq = n;
    memcpy(out->head.hash, prev, 32);
    out->head_created = prev_created;
    return 0;
}

int rbx_devlist_verify(rbx_devlist *out, const char *user, const uint8_t *const *entries,
                       const size_t *lens, size_t n, const rbx_devlist_pin *pin,
                       const uint8_t *org)
{
    /* The pin and the org key may live inside *out (the head of the last
     * result is the next pin): copies, before out is cleared. */
    rbx_devlist_pin p;
    uint8_t o[32];
    if (pin != NULL) p = *pin;
    if (org != NULL) memcpy(o, org, 32);
    memset(out, 0, sizeof *out);
    int rc = verify_log(out, user, entries, lens, n, pin != NULL ? &p : NULL,
                        org != NULL ? o : NULL);
    if (rc != 0) memset(out, 0, sizeof *out);
    return rc;
}
