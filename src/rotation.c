/* SPDX-License-Identifier: MIT
 * Identity-key rotation records, their hash chain, and organisation
 * certificates and revocations (PROTOCOL.md "Rotation records"). Pure
 * functions of their inputs: no I/O, no state; the store decides what to pin.
 *
 * Every signed statement is fixed binary with its own domain string, never
 * the protobuf encoding, so that a signature cannot be re-read as another
 * kind of statement and verification does not depend on the encoder. */
#include <stdlib.h>

#include "rotation.h"
#include "sign.h"
#include "wire.h"

#define ROT_DOMAIN "ratchetbox-rotation-v1"
#define ROT_DOMAIN_LEN 22U
#define CERT_DOMAIN "ratchetbox-org-cert-v1"
#define CERT_DOMAIN_LEN 22U
#define REVOKE_DOMAIN "ratchetbox-org-revoke-v1"
#define REVOKE_DOMAIN_LEN 24U

/* Longest statements (a 63-byte reason). */
#define ROT_STATEMENT_MAX (ROT_DOMAIN_LEN + 8U + 32U + 32U + 8U + 8U + 1U + 63U + 32U)
#define CERT_STATEMENT_BYTES (CERT_DOMAIN_LEN + 32U + 32U + 8U + 8U)
#define REVOKE_STATEMENT_MAX (REVOKE_DOMAIN_LEN + 32U + 32U + 8U + 1U + 63U)
_Static_assert(RBX_REASON_MAX - 1U <= 255U, "a reason's length is one byte in the statements");

int rbx__reason_ok(const char *s, size_t len)
{
    if (len >= RBX_REASON_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

/* Length of a NUL-terminated reason held in a char[RBX_REASON_MAX], or
 * RBX_REASON_MAX if it is not terminated there. */
static size_t reason_len(const char *s)
{
    size_t n = 0;
    while (n < RBX_REASON_MAX && s[n] != '\0') n++;
    return n;
}

/* ------------------------------------------------------------ rotation records */

static size_t rotation_statement(uint8_t out[ROT_STATEMENT_MAX], const rbx_rotation *r,
                                 size_t rlen)
{
    uint8_t *p = out;
    memcpy(p, ROT_DOMAIN, ROT_DOMAIN_LEN);
    p += ROT_DOMAIN_LEN;
    rbx__store64_be(p, r->sequence);
    p += 8;
    memcpy(p, r->old_identity, 32);
    p += 32;
    memcpy(p, r->new_identity, 32);
    p += 32;
    rbx__store64_be(p, r->created);
    p += 8;
    rbx__store64_be(p, r->old_valid_until);
    p += 8;
    *p++ = (uint8_t)rlen;
    memcpy(p, r->reason, rlen);
    p += rlen;
    memcpy(p, r->previous_hash, 32);
    p += 32;
    return (size_t)(p - out);
}

int rbx_rotation_sign(uint8_t *out, size_t outcap, size_t *outlen, const rbx_rotation *r,
                      const uint8_t old_sk[32], const uint8_t new_sk[32])
{
    *outlen = 0;
    size_t rlen = reason_len(r->reason);
    if (r->sequence == 0 || !rbx__reason_ok(r->reason, rlen)) return RBX_E_INVALID;
    if (!rbx__pk_is_valid(r->old_identity) || !rbx__pk_is_valid(r->new_identity) ||
        sodium_memcmp(r->old_identity, r->new_identity, 32) == 0 ||
        !rbx__keypair_matches(r->old_identity, old_sk) ||
        !rbx__keypair_matches(r->new_identity, new_sk))
        return RBX_E_KEY;

    uint8_t statement[ROT_STATEMENT_MAX], sig_old[64], sig_new[64];
    uint8_t oldk[32], newk[32], prev[32];
    char reason[RBX_REASON_MAX];
    size_t slen = rotation_statement(statement, r, rlen);
    memcpy(oldk, r->old_identity, 32);
    memcpy(newk, r->new_identity, 32);
    memcpy(prev, r->previous_hash, 32);
    memcpy(reason, r->reason, rlen);
    reason[rlen] = '\0';

    Rbx__Wire__RotationRecord w = RBX__WIRE__ROTATION_RECORD__INIT;
    w.version = RBX_WIRE_VERSION;
    w.sequence = r->sequence;
    w.old_identity = (ProtobufCBinaryData){ 32, oldk };
    w.new_identity = (ProtobufCBinaryData){ 32, newk };
    w.created = r->created;
    w.old_valid_until = r->old_valid_until;
    w.reason = reason;
    w.previous_hash = (ProtobufCBinaryData){ 32, prev };
    w.old_signature = (ProtobufCBinaryData){ 64, sig_old };
    w.new_signature = (ProtobufCBinaryData){ 64, sig_new };
    /* Size before signing: no randomness is spent on a refused call. */
    if (rbx__wire__rotation_record__get_packed_size(&w) > outcap) return RBX_E_BUFFER;
    /* The old key signs first (vectors list its nonce first). */
    rbx__xeddsa_sign(sig_old, old_sk, statement, slen);
    rbx__xeddsa_sign(sig_new, new_sk, statement, slen);
    *outlen = rbx__wire__rotation_record__pack(&w, out);
    return 0;
}

int rbx_rotation_parse(rbx_rotation *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len > RBX_ROTATION_MAXBYTES) return RBX_E_MALFORMED;
    Rbx__Wire__RotationRecord *w = rbx__wire__rotation_record__unpack(NULL, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    uint8_t statement[ROT_STATEMENT_MAX];
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    /* A reason with a NUL inside is cut short by protobuf-c and caught by
     * the re-encoding. */
    size_t rlen = strlen(w->reason);
    if (w->old_identity.len != 32 || w->new_identity.len != 32 ||
        w->previous_hash.len != 32 || w->old_signature.len != 64 ||
        w->new_signature.len != 64 || !rbx__reason_ok(w->reason, rlen) || w->sequence == 0 ||
        !rbx__wire_canonical(&w->base, in, len))
        goto out;

    rbx_rotation r = { 0 };
    r.sequence = w->sequence;
    memcpy(r.old_identity, w->old_identity.data, 32);
    memcpy(r.new_identity, w->new_identity.data, 32);
    r.created = w->created;
    r.old_valid_until = w->old_valid_until;
    memcpy(r.reason, w->reason, rlen);
    memcpy(r.previous_hash, w->previous_hash.data, 32);
    rc = RBX_E_KEY;
    if (!rbx__pk_is_valid(r.old_identity) || !rbx__pk_is_valid(r.new_identity) ||
        sodium_memcmp(r.old_identity, r.new_identity, 32) == 0)
        goto out;
    /* Both keys or nothing: a record signed by one key only is a forgery
     * by whoever holds that key alone. */
    size_t slen = rotation_statement(statement, &r, rlen);
    if ((rc = rbx__xeddsa_verify(w->old_signature.data, r.old_identity, statement, slen)) != 0 ||
        (rc = rbx__xeddsa_verify(w->new_signature.data, r.new_identity, statement, slen)) != 0)
        goto out;
    *out = r;
out:
    rbx__wire__rotation_record__free_unpacked(w, NULL);
    return rc;
}

void rbx_rotation_hash(uint8_t out[32], const uint8_t *record, size_t len)
{
    crypto_generichash(out, 32, record, len, NULL, 0);
}

/* ------------------------------------------------------------ chains */

static int key_eq(const uint8_t a[32], const uint8_t b[32])
{
    return sodium_memcmp(a, b, 32) == 0;
}

/* rbx_chain_verify on records that are parsed here (parsed 0) or were parsed
 * and verified already into r (parsed 1). */
int rbx__chain_check(rbx_chain_tip *tip, uint64_t *old_valid_until, const rbx_chain_tip *pinned,
                     const uint8_t target[32], const uint8_t *const *records, const size_t *lens,
                     size_t n, rbx_rotation r[RBX_CHAIN_MAX], int parsed)
{
    memset(tip, 0, sizeof *tip);
    *old_valid_until = 0;
    if (n > 0 && (records == NULL || lens == NULL)) return RBX_E_INVALID;
    if (n > RBX_CHAIN_MAX) return RBX_E_LIMIT;
    /* Rule 1: nothing to follow. */
    if (n == 0) {
        if (!key_eq(target, pinned->identity)) return RBX_E_IDENTITY_CHANGED;
        *tip = *pinned;
        return 0;
    }
    /* Rule 2: every record parses and verifies, and each links to the one
     * before it by sequence, hash and key. */
    uint8_t hash[RBX_CHAIN_MAX][32];
    static const uint8_t zero[32];
    int rc;
    for (size_t i = 0; i < n; i++) {
        if (records[i] == NULL) return RBX_E_INVALID;
        if (!parsed && (rc = rbx_rotation_parse(&r[i], records[i], lens[i])) != 0) return rc;
        rbx_rotation_hash(hash[i], records[i], lens[i]);
        if (r[i].sequence == 1 && !key_eq(r[i].previous_hash, zero)) return RBX_E_CHAIN;
        if (i == 0) continue;
        if (r[i].sequence != r[i - 1].sequence + 1 || r[i - 1].sequence == UINT64_MAX ||
            !key_eq(r[i].previous_hash, hash[i - 1]) ||
            !key_eq(r[i].old_identity, r[i - 1].new_identity))
            return RBX_E_CHAIN;
    }
    /* No key twice: the keys of a linked chain are old_0, new_0, ..., new_{n-1}. */
    for (size_t i = 0; i < n; i++) {
        if (key_eq(r[i].new_identity, r[0].old_identity)) return RBX_E_CHAIN;
        for (size_t j = 0; j < i; j++)
            if (key_eq(r[i].new_identity, r[j].new_identity)) return RBX_E_CHAIN;
    }
    if (!key_eq(r[n - 1].new_identity, target)) return RBX_E_CHAIN;
    /* Rule 3: the peer still uses the pinned key. */
    if (key_eq(target, pinned->identity)) {
        *tip = *pinned;
        return 0;
    }
    /* Rule 4: the chain must pass through the pinned key. A new key for a
     * contact never pinned to the chain is not accepted silently. */
    size_t k = n;
    for (size_t i = 0; i < n; i++)
        if (key_eq(r[i].old_identity, pinned->identity)) k = i;
    if (k == n) return RBX_E_IDENTITY_CHANGED;
    if (pinned->sequence > 0) {
        if (r[k].sequence <= pinned->sequence) return RBX_E_STALE;
        if (r[k].sequence != pinned->sequence + 1 || !key_eq(r[k].previous_hash, pinned->hash))
            return RBX_E_CHAIN;
    }
    memcpy(tip->identity, r[n - 1].new_identity, 32);
    tip->sequence = r[n - 1].sequence;
    memcpy(tip->hash, hash[n - 1], 32);
    *old_valid_until = r[k].old_valid_until;
    return 0;
}

int rbx_chain_verify(rbx_chain_tip *tip, uint64_t *old_valid_until, const rbx_chain_tip *pinned,
                     const uint8_t target[32], const uint8_t *const *records, const size_t *lens,
                     size_t n)
{
    rbx_rotation r[RBX_CHAIN_MAX];
    return rbx__chain_check(tip, old_valid_until, pinned, target, records, lens, n, r, 0);
}

int rbx__bundle_chain_check(rbx_chain_tip *tip, uint64_t *old_valid_until,
                            const rbx_chain_tip *pinned, const rbx_bundle *b,
                            const Rbx__Wire__PreKeyBundle *w, rbx_rotation r[RBX_CHAIN_MAX])
{
    const uint8_t *recs[RBX_CHAIN_MAX];
    size_t lens[RBX_CHAIN_MAX];
    for (size_t i = 0; i < w->n_rotation; i++) {
        recs[i] = w->rotation[i].data;
        lens[i] = w->rotation[i].len;
    }
    return rbx__chain_check(tip, old_valid_until, pinned, b->identity, recs, lens, w->n_rotation, r, 1);
}

int rbx_bundle_chain_verify(rbx_chain_tip *tip, uint64_t *old_valid_until,
                            const rbx_chain_tip *pinned, const uint8_t *bundle, size_t len)
{
    memset(tip, 0, sizeof *tip);
    *old_valid_until = 0;
    rbx_bundle b;
    Rbx__Wire__PreKeyBundle *w;
    rbx_rotation r[RBX_CHAIN_MAX];
    /* The bundle parser verifies every record: its results are used, not
     * parsed and verified a second time (two XEdDSA checks a record). */
    int rc = rbx__bundle_parse_records(&b, &w, r, NULL, bundle, len);
    if (rc != 0) return rc;
    rc = rbx__bundle_chain_check(tip, old_valid_until, pinned, &b, w, r);
    rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    return rc;
}

int rbx_bundle_certificate(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t *bundle,
                           size_t len)
{
    *outlen = 0;
    rbx_bundle b;
    Rbx__Wire__PreKeyBundle *w;
    int rc = rbx__bundle_parse_wire(&b, &w, bundle, len);
    if (rc != 0) return rc;
    if (!w->has_org_certificate) rc = RBX_E_NOT_FOUND;
    else if (w->org_certificate.len > outcap) rc = RBX_E_BUFFER;
    else {
        memcpy(out, w->org_certificate.data, w->org_certificate.len);
        *outlen = w->org_certificate.len;
    }
    rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    return rc;
}

/* ------------------------------------------------------------ organisation roots */

static void cert_statement(uint8_t out[CERT_STATEMENT_BYTES], const rbx_org_cert *c)
{
    memcpy(out, CERT_DOMAIN, CERT_DOMAIN_LEN);
    memcpy(out + CERT_DOMAIN_LEN, c->org, 32);
    memcpy(out + CERT_DOMAIN_LEN + 32, c->identity, 32);
    rbx__store64_be(out + CERT_DOMAIN_LEN + 64, c->created);
    rbx__store64_be(out + CERT_DOMAIN_LEN + 72, c->expires);
}

int rbx_org_certify(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t org_pk[32],
                    const uint8_t org_sk[32], const uint8_t identity[32], uint64_t created,
                    uint64_t expires)
{
    *outlen = 0;
    if (!rbx__pk_is_valid(org_pk) || !rbx__pk_is_valid(identity) ||
        !rbx__keypair_matches(org_pk, org_sk))
        return RBX_E_KEY;
    if (expires != 0 && expires <= created) return RBX_E_INVALID;
    rbx_org_cert c;
    uint8_t statement[CERT_STATEMENT_BYTES], sig[64];
    memcpy(c.org, org_pk, 32);
    memcpy(c.identity, identity, 32);
    c.created = created;
    c.expires = expires;
    Rbx__Wire__OrgCertificate w = RBX__WIRE__ORG_CERTIFICATE__INIT;
    w.version = RBX_WIRE_VERSION;
    w.org_key = (ProtobufCBinaryData){ 32, c.org };
    w.identity_key = (ProtobufCBinaryData){ 32, c.identity };
    w.created = created;
    w.expires = expires;
    w.signature = (ProtobufCBinaryData){ 64, sig };
    if (rbx__wire__org_certificate__get_packed_size(&w) > outcap) return RBX_E_BUFFER;
    cert_statement(statement, &c);
    rbx__xeddsa_sign(sig, org_sk, statement, sizeof statement);
    *outlen = rbx__wire__org_certificate__pack(&w, out);
    return 0;
}

int rbx_org_cert_parse(rbx_org_cert *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len > RBX_CERT_MAXBYTES) return RBX_E_MALFORMED;
    Rbx__Wire__OrgCertificate *w = rbx__wire__org_certificate__unpack(NULL, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    uint8_t statement[CERT_STATEMENT_BYTES];
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    if (w->org_key.len != 32 || w->identity_key.len != 32 || w->signature.len != 64 ||
        (w->expires != 0 && w->expires <= w->created) || !rbx__wire_canonical(&w->base, in, len))
        goto out;
    rbx_org_cert c;
    memcpy(c.org, w->org_key.data, 32);
    memcpy(c.identity, w->identity_key.data, 32);
    c.created = w->created;
    c.expires = w->expires;
    rc = RBX_E_KEY;
    if (!rbx__pk_is_valid(c.org) || !rbx__pk_is_valid(c.identity)) goto out;
    cert_statement(statement, &c);
    if ((rc = rbx__xeddsa_verify(w->signature.data, c.org, statement, sizeof statement)) != 0)
        goto out;
    *out = c;
out:
    rbx__wire__org_certificate__free_unpacked(w, NULL);
    return rc;
}

int rbx__org_cert_valid(const rbx_org_cert *c, const uint8_t org[32], const uint8_t identity[32],
                        uint64_t now)
{
    if (!key_eq(c->org, org) || !key_eq(c->identity, identity)) return RBX_E_UNCERTIFIED;
    /* Dated ahead beyond the skew: made by a clock that is wrong, or for
     * later use; either way not valid now. */
    if ((c->expires != 0 && now >= c->expires) ||
        (c->created > now && c->created - now > RBX_CLOCK_SKEW))
        return RBX_E_EXPIRED;
    return 0;
}

int rbx_org_cert_check(const uint8_t org[32], const uint8_t identity[32], uint64_t now,
                       const uint8_t *in, size_t len)
{
    rbx_org_cert c;
    if (rbx_org_cert_parse(&c, in, len) != 0) return RBX_E_UNCERTIFIED;
    return rbx__org_cert_valid(&c, org, identity, now);
}

static size_t revoke_statement(uint8_t out[REVOKE_STATEMENT_MAX], const rbx_org_revocation *r,
                               size_t rlen)
{
    uint8_t *p = out;
    memcpy(p, REVOKE_DOMAIN, REVOKE_DOMAIN_LEN);
    p += REVOKE_DOMAIN_LEN;
    memcpy(p, r->org, 32);
    p += 32;
    memcpy(p, r->identity, 32);
    p += 32;
    rbx__store64_be(p, r->revoked_at);
    p += 8;
    *p++ = (uint8_t)rlen;
    memcpy(p, r->reason, rlen);
    p += rlen;
    return (size_t)(p - out);
}

int rbx_org_revoke(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t org_pk[32],
                   const uint8_t org_sk[32], const uint8_t identity[32], uint64_t revoked_at,
                   const char *reason)
{
    *outlen = 0;
    size_t rlen = strlen(reason);
    if (!rbx__pk_is_valid(org_pk) || !rbx__pk_is_valid(identity) ||
        !rbx__keypair_matches(org_pk, org_sk))
        return RBX_E_KEY;
    if (!rbx__reason_ok(reason, rlen)) return RBX_E_INVALID;
    rbx_org_revocation r = { 0 };
    uint8_t statement[REVOKE_STATEMENT_MAX], sig[64];
    memcpy(r.org, org_pk, 32);
    memcpy(r.identity, identity, 32);
    r.revoked_at = revoked_at;
    memcpy(r.reason, reason, rlen);
    Rbx__Wire__OrgRevocation w = RBX__WIRE__ORG_REVOCATION__INIT;
    w.version = RBX_WIRE_VERSION;
    w.org_key = (ProtobufCBinaryData){ 32, r.org };
    w.identity_key = (ProtobufCBinaryData){ 32, r.identity };
    w.revoked_at = revoked_at;
    w.reason = r.reason;
    w.signature = (ProtobufCBinaryData){ 64, sig };
    if (rbx__wire__org_revocation__get_packed_size(&w) > outcap) return RBX_E_BUFFER;
    size_t slen = revoke_statement(statement, &r, rlen);
    rbx__xeddsa_sign(sig, org_sk, statement, slen);
    *outlen = rbx__wire__org_revocation__pack(&w, out);
    return 0;
}

int rbx_org_revocation_parse(rbx_org_revocation *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len > RBX_REVOCATION_MAXBYTES) return RBX_E_MALFORMED;
    Rbx__Wire__OrgRevocation *w = rbx__wire__org_revocation__unpack(NULL, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    uint8_t statement[REVOKE_STATEMENT_MAX];
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    size_t rlen = strlen(w->reason);
    if (w->org_key.len != 32 || w->identity_key.len != 32 || w->signature.len != 64 ||
        !rbx__reason_ok(w->reason, rlen) || !rbx__wire_canonical(&w->base, in, len))
        goto out;
    rbx_org_revocation r = { 0 };
    memcpy(r.org, w->org_key.data, 32);
    memcpy(r.identity, w->identity_key.data, 32);
    r.revoked_at = w->revoked_at;
    memcpy(r.reason, w->reason, rlen);
    rc = RBX_E_KEY;
    if (!rbx__pk_is_valid(r.org) || !rbx__pk_is_valid(r.identity)) goto out;
    size_t slen = revoke_statement(statement, &r, rlen);
    if ((rc = rbx__xeddsa_verify(w->signature.data, r.org, statement, slen)) != 0) goto out;
    *out = r;
out:
    rbx__wire__org_revocation__free_unpacked(w, NULL);
    return rc;
}
