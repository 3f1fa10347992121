/* SPDX-License-Identifier: MIT
 * Rotation records, organisation certificates and revocations, and a bundle's
 * chain (PROTOCOL.md "Rotation records"). Byte 0 selects the parser (mod 4):
 *   0 rbx_rotation_parse, 1 rbx_org_cert_parse, 2 rbx_org_revocation_parse,
 *   3 rbx_bundle_parse + rbx_bundle_chain_verify + rbx_bundle_certificate;
 * the rest is the input. A refusal leaves the output zeroed. An accepted
 * record verifies as a one-record chain from its old key to its new key (and
 * from its predecessor's tip), an accepted certificate checks at its creation
 * time, an accepted bundle's chain verdicts agree with its parsed fields. */
#include <string.h>

#include "fuzz.h"
#include "rotation.h"
#include "sign.h"

enum { M_RECORD = 0, M_CERT = 1, M_REVOKE = 2, M_BUNDLE = 3 };

/* The fixed identity A -> B -> C and the organisation O. */
static uint8_t A_pk[32], A_sk[32], B_pk[32], B_sk[32], C_pk[32], C_sk[32], O_pk[32], O_sk[32];

static void keys(void)
{
    fz_keypair(A_pk, A_sk, "rotation-a");
    fz_keypair(B_pk, B_sk, "rotation-b");
    fz_keypair(C_pk, C_sk, "rotation-c");
    fz_keypair(O_pk, O_sk, "rotation-org");
}

void fz_gen(void)
{
    uint8_t r1[RBX_ROTATION_MAXBYTES], r2[RBX_ROTATION_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    uint8_t rev[RBX_REVOCATION_MAXBYTES], bundle[RBX_BUNDLE_MAXBYTES];
    size_t n1, n2, nc, nr, nb;
    rbx_rotation r = { 0 };
    r.sequence = 1;
    memcpy(r.old_identity, A_pk, 32);
    memcpy(r.new_identity, B_pk, 32);
    r.created = 1700000000U;
    r.old_valid_until = 1700604800U;
    strcpy(r.reason, "scheduled");
    FZ_CHECK(rbx_rotation_sign(r1, sizeof r1, &n1, &r, A_sk, B_sk) == 0);
    r.sequence = 2;
    memcpy(r.old_identity, B_pk, 32);
    memcpy(r.new_identity, C_pk, 32);
    r.created += 1000;
    r.old_valid_until += 1000;
    r.reason[0] = '\0';
    rbx_rotation_hash(r.previous_hash, r1, n1);
    FZ_CHECK(rbx_rotation_sign(r2, sizeof r2, &n2, &r, B_sk, C_sk) == 0);
    FZ_CHECK(rbx_org_certify(cert, sizeof cert, &nc, O_pk, O_sk, C_pk, 1700000000U, 1800000000U) == 0);
    FZ_CHECK(rbx_org_revoke(rev, sizeof rev, &nr, O_pk, O_sk, A_pk, 1700003600U, "superseded") == 0);
    fz_gen_write2("gen-record-1", M_RECORD, r1, n1);
    fz_gen_write2("gen-record-2", M_RECORD, r2, n2);
    fz_gen_write2("gen-cert", M_CERT, cert, nc);
    fz_gen_write2("gen-revocation", M_REVOKE, rev, nr);
    /* C's bundle: v2 signed prekey, both records, the certificate. */
    uint8_t spk_pk[32], spk_sk[32], sig[64], st[RBX_SPK_STATEMENT_V2_BYTES];
    fz_keypair(spk_pk, spk_sk, "rotation-c-spk");
    rbx__spk_statement_v2(st, 1, 1700002500U, spk_pk);
    rbx__xeddsa_sign(sig, C_sk, st, sizeof st);
    const uint8_t *recs[2] = { r1, r2 };
    size_t lens[2] = { n1, n2 };
    FZ_CHECK(rbx__bundle_encode_ext(bundle, sizeof bundle, &nb, C_pk, 1, spk_pk, sig, 1700002500U,
                                    RBX_NO_PREKEY, NULL, recs, lens, 2, cert, nc) == 0);
    fz_gen_write2("gen-bundle-chain-cert", M_BUNDLE, bundle, nb);
    FZ_CHECK(rbx__bundle_encode_ext(bundle, sizeof bundle, &nb, C_pk, 1, spk_pk, sig, 1700002500U,
                                    RBX_NO_PREKEY, NULL, recs + 1, lens + 1, 1, NULL, 0) == 0);
    fz_gen_write2("gen-bundle-one-record", M_BUNDLE, bundle, nb);
}

void fz_setup(void)
{
    keys();
}

static void one_record(const uint8_t *in, size_t len)
{
    rbx_rotation r;
    int rc = rbx_rotation_parse(&r, in, len);
    fz_debug("record: %s", rbx_strerror(rc));
    if (rc != 0) {
        static const rbx_rotation zero;
        FZ_CHECK(memcmp(&r, &zero, sizeof r) == 0);
        return;
    }
    FZ_CHECK(r.sequence != 0 && memchr(r.reason, '\0', sizeof r.reason) != NULL);
    FZ_CHECK(rbx__reason_ok(r.reason, strlen(r.reason)));
    FZ_CHECK(sodium_memcmp(r.old_identity, r.new_identity, 32) != 0);
    /* A one-record chain from the old key (pinned without a record). */
    uint8_t h[32];
    rbx_rotation_hash(h, in, len);
    rbx_chain_tip pinned = { 0 }, tip;
    uint64_t ovu;
    memcpy(pinned.identity, r.old_identity, 32);
    static const uint8_t zero32[32];
    int c = rbx_chain_verify(&tip, &ovu, &pinned, r.new_identity, &in, &len, 1);
    int first_ok = r.sequence != 1 || memcmp(r.previous_hash, zero32, 32) == 0;
    FZ_CHECK(c == (first_ok ? 0 : RBX_E_CHAIN));
    if (c == 0) {
        FZ_CHECK(memcmp(tip.identity, r.new_identity, 32) == 0);
        FZ_CHECK(tip.sequence == r.sequence && memcmp(tip.hash, h, 32) == 0);
        FZ_CHECK(ovu == r.old_valid_until);
    }
    /* From the tip of the record before it. */
    if (r.sequence > 1) {
        pinned.sequence = r.sequence - 1;
        memcpy(pinned.hash, r.previous_hash, 32);
        FZ_CHECK(rbx_chain_verify(&tip, &ovu, &pinned, r.new_identity, &in, &len, 1) == 0);
        pinned.hash[0] ^= 1;
        FZ_CHECK(rbx_chain_verify(&tip, &ovu, &pinned, r.new_identity, &in, &len, 1) == RBX_E_CHAIN);
        pinned.sequence = r.sequence;
        FZ_CHECK(rbx_chain_verify(&tip, &ovu, &pinned, r.new_identity, &in, &len, 1) == RBX_E_STALE);
    }
}

static void one_cert(const uint8_t *in, size_t len)
{
    rbx_org_cert c;
    int rc = rbx_org_cert_parse(&c, in, len);
    fz_debug("certificate: %s", rbx_strerror(rc));
    if (rc != 0) {
        static const rbx_org_cert zero;
        FZ_CHECK(memcmp(&c, &zero, sizeof c) == 0);
        FZ_CHECK(rbx_org_cert_check(O_pk, C_pk, 1700000000U, in, len) == RBX_E_UNCERTIFIED);
        return;
    }
    FZ_CHECK(c.expires == 0 || c.expires > c.created);
    FZ_CHECK(rbx_org_cert_check(c.org, c.identity, c.created, in, len) == 0);
    if (c.expires != 0)
        FZ_CHECK(rbx_org_cert_check(c.org, c.identity, c.expires, in, len) == RBX_E_EXPIRED);
}

static void one_revocation(const uint8_t *in, size_t len)
{
    rbx_org_revocation r;
    int rc = rbx_org_revocation_parse(&r, in, len);
    fz_debug("revocation: %s", rbx_strerror(rc));
    if (rc != 0) {
        static const rbx_org_revocation zero;
        FZ_CHECK(memcmp(&r, &zero, sizeof r) == 0);
        return;
    }
    FZ_CHECK(memchr(r.reason, '\0', sizeof r.reason) != NULL);
    FZ_CHECK(rbx__reason_ok(r.reason, strlen(r.reason)));
}

static void one_bundle(const uint8_t *in, size_t len)
{
    rbx_bundle b;
    rbx_chain_tip pinned = { 0 }, tip;
    uint64_t ovu;
    uint8_t cert[RBX_CERT_MAXBYTES];
    size_t certlen = 1;
    int rc = rbx_bundle_parse(&b, in, len);
    fz_debug("bundle: %s", rbx_strerror(rc));
    memcpy(pinned.identity, A_pk, 32);
    int cv = rbx_bundle_chain_verify(&tip, &ovu, &pinned, in, len);
    int cc = rbx_bundle_certificate(cert, sizeof cert, &certlen, in, len);
    fz_debug("chain from A: %s, certificate: %s", rbx_strerror(cv), rbx_strerror(cc));
    if (rc != 0) {
        static const rbx_bundle zero;
        FZ_CHECK(memcmp(&b, &zero, sizeof b) == 0);
        FZ_CHECK(cv == rc && cc == rc && certlen == 0);
        return;
    }
    FZ_CHECK(b.chain_len <= RBX_CHAIN_MAX);
    FZ_CHECK(b.has_certificate ? (cc == 0 && certlen > 0) : (cc == RBX_E_NOT_FOUND && certlen == 0));
    if (cv == 0) {
        /* Followed from A: ends at the bundle's key, through a record. */
        FZ_CHECK(memcmp(tip.identity, b.identity, 32) == 0);
        FZ_CHECK(b.chain_len > 0 || sodium_memcmp(b.identity, A_pk, 32) == 0);
    }
    /* Pinned to the bundle's own key: only a broken chain is refused. */
    memcpy(pinned.identity, b.identity, 32);
    cv = rbx_bundle_chain_verify(&tip, &ovu, &pinned, in, len);
    FZ_CHECK(cv == 0 || cv == RBX_E_CHAIN);
    if (b.chain_len == 0) FZ_CHECK(cv == 0);
    if (cv == 0) FZ_CHECK(memcmp(&tip, &pinned, sizeof tip) == 0 && ovu == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case M_RECORD: one_record(in, len); break;
    case M_CERT: one_cert(in, len); break;
    case M_REVOKE: one_revocation(in, len); break;
    default: one_bundle(in, len); break;
    }
    return 0;
}
