/* SPDX-License-Identifier: MIT
 * Known answers from outside oracles (tests/vectors/README.md): RFC 5869,
 * RFC 7748, XEdDSA and libsignal-protocol-c's KDF vectors under the signal
 * profile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kdf.h"
#include "sign.h"
#include "testutil.h"

START_TEST(hkdf_rfc5869)
{
    tv_file *f = tv_load("tests/vectors/hkdf-sha256.txt");
    ck_assert_uint_eq(f->nblocks, 3);
    for (size_t i = 0; i < f->nblocks; i++) {
        const tv_block *b = &f->blocks[i];
        uint8_t ikm[128], salt[128], info[128], prk[32], okm[128], want_prk[32], got[128];
        size_t ikmlen = tv_hex(b, "ikm", ikm, sizeof ikm);
        size_t saltlen = tv_hex(b, "salt", salt, sizeof salt);
        size_t infolen = tv_hex(b, "info", info, sizeof info);
        size_t l = (size_t)atoi(tv_get(b, "l"));
        tv_hexn(b, "prk", want_prk, 32);
        ck_assert_uint_eq(tv_hex(b, "okm", okm, sizeof okm), l);
        rbx__hkdf_extract(prk, salt, saltlen, ikm, ikmlen);
        ck_assert_mem_eq(prk, want_prk, 32);
        ck_assert_int_eq(rbx__hkdf(got, l, salt, saltlen, ikm, ikmlen, info, infolen), 0);
        ck_assert_mem_eq(got, okm, l);
        ck_assert_int_eq(rbx__hkdf_expand(got, l, prk, info, infolen), 0);
        ck_assert_mem_eq(got, okm, l);
    }
    uint8_t big[1], prk[32] = { 0 };
    ck_assert_int_eq(rbx__hkdf_expand(big, 255 * 32 + 1, prk, NULL, 0), RBX_E_INVALID);
    tv_free(f);
}
END_TEST

START_TEST(x25519_rfc7748)
{
    tv_file *f = tv_load("tests/vectors/x25519.txt");
    uint8_t k[32], u[32], out[32], want[32];
    const tv_block *b = tv_case(f, "rfc7748-5.2-vector-1");
    tv_hexn(b, "scalar", k, 32);
    tv_hexn(b, "u", u, 32);
    tv_hexn(b, "out", want, 32);
    ck_assert_int_eq(rbx__dh(out, k, u), 0);
    ck_assert_mem_eq(out, want, 32);

    /* Vector 2's u has its top bit set: libsodium masks it (RFC 7748), the
     * protocol refuses the non-canonical encoding. */
    b = tv_case(f, "rfc7748-5.2-vector-2");
    tv_hexn(b, "scalar", k, 32);
    tv_hexn(b, "u", u, 32);
    tv_hexn(b, "out", want, 32);
    ck_assert_int_eq(crypto_scalarmult(out, k, u), 0);
    ck_assert_mem_eq(out, want, 32);
    ck_assert_int_eq(rbx__dh(out, k, u), RBX_E_KEY);
    u[31] &= 0x7f;
    ck_assert_int_eq(rbx__dh(out, k, u), 0);
    ck_assert_mem_eq(out, want, 32);

    b = tv_case(f, "rfc7748-6.1-diffie-hellman");
    uint8_t ask[32], apk[32], bsk[32], bpk[32], shared[32];
    tv_hexn(b, "alice_private", ask, 32);
    tv_hexn(b, "alice_public", apk, 32);
    tv_hexn(b, "bob_private", bsk, 32);
    tv_hexn(b, "bob_public", bpk, 32);
    tv_hexn(b, "shared", shared, 32);
    ck_assert_int_eq(crypto_scalarmult_base(out, ask), 0);
    ck_assert_mem_eq(out, apk, 32);
    ck_assert_int_eq(rbx__dh(out, ask, bpk), 0);
    ck_assert_mem_eq(out, shared, 32);
    ck_assert_int_eq(rbx__dh(out, bsk, apk), 0);
    ck_assert_mem_eq(out, shared, 32);
    tv_free(f);
}
END_TEST

START_TEST(x25519_low_order_refused)
{
    /* All-zero, u = 1, and a point of order 8: every product is all-zero. */
    static const char *bad[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p - 1 */
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p */
    };
    uint8_t sk[32], pk[32], out[32];
    ck_assert_int_eq(rbx_keypair_generate(pk, sk), 0);
    ck_assert_int_eq(rbx__pk_is_valid(pk), 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sodium_hex2bin(pk, 32, bad[i], 64, NULL, NULL, NULL), 0);
        memset(out, 0xaa, sizeof out);
        ck_assert_int_eq(rbx__dh(out, sk, pk), RBX_E_KEY);
        ck_assert_int_eq(sodium_is_zero(out, 32), 1);
        ck_assert_int_eq(rbx__pk_is_valid(pk), 0);
    }
}
END_TEST

/* An RNG that yields zeros, for XEdDSA's Z = 64 zero bytes. */
static const char *zero_name(void) { return "zero"; }
static uint32_t zero_random(void) { return 0; }
static void zero_buf(void *buf, size_t n) { memset(buf, 0, n); }
static struct randombytes_implementation zero_rng = {
    .implementation_name = zero_name, .random = zero_random, .buf = zero_buf,
};

START_TEST(xeddsa_vectors)
{
    tv_file *f = tv_load("tests/vectors/xeddsa.txt");
    const tv_block *b = tv_case(f, "xeddsa_fast_test");
    uint8_t k[32], pk[32], msg[200], sig[64], want[64], got[64];
    tv_hexn(b, "private_key", k, 32);
    tv_hexn(b, "public_key", pk, 32);
    ck_assert_uint_eq(tv_hex(b, "message", msg, sizeof msg), 200);
    tv_hexn(b, "signature", want, 64);
    randombytes_set_implementation(&zero_rng);
    rbx__xeddsa_sign(got, k, msg, sizeof msg);
    tu_rng_system();
    ck_assert_mem_eq(got, want, 64);
    ck_assert_int_eq(rbx__xeddsa_verify(want, pk, msg, sizeof msg), 0);
    want[10] ^= 1;
    ck_assert_int_eq(rbx__xeddsa_verify(want, pk, msg, sizeof msg), RBX_E_SIGNATURE);

    /* libsignal's sign-bit form must be refused, with and without the bit. */
    b = tv_case(f, "test_curve25519_signature");
    uint8_t m2[33];
    tv_hexn(b, "public_key", pk, 32);
    tv_hexn(b, "message", m2, 33);
    tv_hexn(b, "signature", sig, 64);
    ck_assert_str_eq(tv_get(b, "expect_xeddsa_spec_verify"), "invalid");
    ck_assert_int_eq(rbx__xeddsa_verify(sig, pk, m2, sizeof m2), RBX_E_SIGNATURE);
    tv_hexn(b, "signature_ed25519_form", sig, 64);
    ck_assert_int_eq(rbx__xeddsa_verify(sig, pk, m2, sizeof m2), RBX_E_SIGNATURE);
    tv_free(f);
}
END_TEST

START_TEST(xeddsa_sign_verify_random)
{
    /* Half of all keys have an Edwards sign bit of 1: both kinds must work,
     * and no signature may carry a sign bit in byte 63. */
    for (int i = 0; i < 64; i++) {
        uint8_t pk[32], sk[32], sig[64], msg[53];
        ck_assert_int_eq(rbx_keypair_generate(pk, sk), 0);
        randombytes_buf(msg, sizeof msg);
        rbx__xeddsa_sign(sig, sk, msg, sizeof msg);
        ck_assert_uint_eq(sig[63] & 0xe0, 0);
        ck_assert_int_eq(rbx__xeddsa_verify(sig, pk, msg, sizeof msg), 0);
        msg[0] ^= 0x80;
        ck_assert_int_eq(rbx__xeddsa_verify(sig, pk, msg, sizeof msg), RBX_E_SIGNATURE);
    }
}
END_TEST

START_TEST(signal_chain_key)
{
    tv_file *f = tv_load("tests/vectors/signal-kdf.txt");
    const tv_block *b = tv_case(f, "test_chain_key_derivation_v3");
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_SIGNAL);
    uint8_t ck[32], cipher[32], mac[32], next[32], mk[32], got_next[32], material[80];
    tv_hexn(b, "chain_key", ck, 32);
    tv_hexn(b, "message_cipher_key", cipher, 32);
    tv_hexn(b, "message_mac_key", mac, 32);
    tv_hexn(b, "next_chain_key", next, 32);
    rbx__kdf_ck(got_next, mk, ck);
    ck_assert_mem_eq(got_next, next, 32);
    ck_assert_int_eq(rbx__hkdf(material, 80, NULL, 0, mk, 32, (const uint8_t *)p->msg_info,
                               strlen(p->msg_info)),
                     0);
    ck_assert_mem_eq(material, cipher, 32);
    ck_assert_mem_eq(material + 32, mac, 32);

    b = tv_case(f, "supplementary-chain-key-v3-message-iv");
    uint8_t seed[32], iv[16], key[32], nonce[24];
    tv_hexn(b, "message_key_seed", seed, 32);
    tv_hexn(b, "message_iv", iv, 16);
    ck_assert_mem_eq(mk, seed, 32);
    rbx__message_keys(key, nonce, mk, NULL, p);
    ck_assert_mem_eq(key, cipher, 32);
    ck_assert_mem_eq(nonce, iv, 16);
    /* Aliasing ck_next with ck gives the same values. */
    rbx__kdf_ck(ck, mk, ck);
    ck_assert_mem_eq(ck, next, 32);
    tv_free(f);
}
END_TEST

/* X3DH without a one-time prekey, Bob's side, as libsignal computes it. */
START_TEST(signal_session_setup)
{
    tv_file *f = tv_load("tests/vectors/signal-kdf.txt");
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_SIGNAL);
    uint8_t ikb[32], spkb[32], ika[32], eka[32], dh[96], out[RBX_KDF_OUTBYTES], want[32];

    const tv_block *b = tv_case(f, "test_ratcheting_session_as_bob");
    tv_hexn(b, "bob_identity_private", ikb, 32);
    tv_hexn(b, "bob_signed_pre_key_private", spkb, 32);
    tv_hexn(b, "alice_identity_public", ika, 32);
    tv_hexn(b, "alice_base_public", eka, 32);
    tv_hexn(b, "sender_chain_key", want, 32);
    ck_assert_int_eq(rbx__dh(dh, spkb, ika), 0);
    ck_assert_int_eq(rbx__dh(dh + 32, ikb, eka), 0);
    ck_assert_int_eq(rbx__dh(dh + 64, spkb, eka), 0);
    rbx__x3dh_kdf(out, dh, 96, p);
    ck_assert_mem_eq(out + 32, want, 32);

    b = tv_case(f, "supplementary-x3dh-intermediates");
    uint8_t d[32], rk[32];
    tv_hexn(b, "dh1", d, 32);
    ck_assert_mem_eq(dh, d, 32);
    tv_hexn(b, "dh2", d, 32);
    ck_assert_mem_eq(dh + 32, d, 32);
    tv_hexn(b, "dh3", d, 32);
    ck_assert_mem_eq(dh + 64, d, 32);
    tv_hexn(b, "root_key", rk, 32);
    ck_assert_mem_eq(out, rk, 32);

    /* Alice's side, with the clamped equivalent of her unclamped base key
     * (libsodium clamps; tests/vectors/README.md "Clamping"). */
    b = tv_case(f, "test_ratcheting_session_as_alice");
    uint8_t ika_sk[32], eka_sk[32], ikb_pk[32], spkb_pk[32];
    tv_hexn(b, "alice_identity_private", ika_sk, 32);
    tv_hexn(b, "alice_base_private_clamped_equivalent", eka_sk, 32);
    tv_hexn(b, "bob_identity_public", ikb_pk, 32);
    tv_hexn(b, "bob_signed_pre_key_public", spkb_pk, 32);
    tv_hexn(b, "receiver_chain_key", want, 32);
    ck_assert_int_eq(rbx__dh(dh, ika_sk, spkb_pk), 0);
    ck_assert_int_eq(rbx__dh(dh + 32, eka_sk, ikb_pk), 0);
    ck_assert_int_eq(rbx__dh(dh + 64, eka_sk, spkb_pk), 0);
    rbx__x3dh_kdf(out, dh, 96, p);
    ck_assert_mem_eq(out + 32, want, 32);
    ck_assert_mem_eq(out, rk, 32);
    tv_free(f);
}
END_TEST

START_TEST(signal_root_chain)
{
    tv_file *f = tv_load("tests/vectors/signal-kdf.txt");
    const tv_block *b = tv_case(f, "supplementary-first-sending-chain");
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_SIGNAL);
    uint8_t rk[32], a_sk[32], b_pub[32], b_sk[32], a_pub[32], dh[32], want_dh[32];
    uint8_t new_rk[32], want_rk[32], ck[32], want_ck[32], nhk[32];
    tv_hexn(b, "root_key", rk, 32);
    tv_hexn(b, "alice_ratchet_private_clamped_equivalent", a_sk, 32);
    tv_hexn(b, "alice_ratchet_public", a_pub, 32);
    tv_hexn(b, "bob_ratchet_private_clamped_equivalent", b_sk, 32);
    tv_hexn(b, "bob_ratchet_public", b_pub, 32);
    tv_hexn(b, "dh", want_dh, 32);
    tv_hexn(b, "new_root_key", want_rk, 32);
    tv_hexn(b, "sending_chain_key", want_ck, 32);
    ck_assert_int_eq(rbx__dh(dh, a_sk, b_pub), 0);
    ck_assert_mem_eq(dh, want_dh, 32);
    ck_assert_int_eq(rbx__dh(dh, b_sk, a_pub), 0);
    ck_assert_mem_eq(dh, want_dh, 32);
    rbx__kdf_rk(new_rk, ck, nhk, rk, dh, p);
    ck_assert_mem_eq(new_rk, want_rk, 32);
    ck_assert_mem_eq(ck, want_ck, 32);
    /* Aliasing rk_next with rk. */
    rbx__kdf_rk(rk, ck, nhk, rk, dh, p);
    ck_assert_mem_eq(rk, want_rk, 32);
    tv_free(f);
}
END_TEST

START_TEST(profiles)
{
    ck_assert_ptr_nonnull(rbx__profile_get(RBX_PROFILE_HMAC));
    ck_assert_ptr_nonnull(rbx__profile_get(RBX_PROFILE_SIGNAL));
    ck_assert_ptr_nonnull(rbx__profile_get(RBX_PROFILE_FAST));
    ck_assert_ptr_null(rbx__profile_get(3));
    ck_assert_ptr_null(rbx__profile_get(UINT32_MAX));
    ck_assert_uint_eq(RBX_PROFILE_DEFAULT, RBX_PROFILE_FAST);
    ck_assert_uint_eq(rbx__profile_get(RBX_PROFILE_HMAC)->version, 1);
    ck_assert_uint_eq(rbx__profile_get(RBX_PROFILE_SIGNAL)->version, 1);
    ck_assert_uint_eq(rbx__profile_get(RBX_PROFILE_FAST)->version, 2);
    ck_assert_str_eq(rbx__profile_get(RBX_PROFILE_HMAC)->root_info, "ratchetbox v1 root");
    ck_assert_str_eq(rbx__profile_get(RBX_PROFILE_FAST)->root_info, "ratchetbox v2 root");
    ck_assert_str_eq(rbx__profile_get(RBX_PROFILE_FAST)->x3dh_info, "ratchetbox v2 X3DH");
    /* The hmac profile's message keys are HKDF-Expand(mk, info, 56). */
    uint8_t mk[32], key[32], nonce[24], want[56];
    randombytes_buf(mk, sizeof mk);
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_HMAC);
    rbx__message_keys(key, nonce, mk, NULL, p);
    ck_assert_int_eq(rbx__hkdf_expand(want, 56, mk, (const uint8_t *)"ratchetbox v1 message", 21), 0);
    ck_assert_mem_eq(key, want, 32);
    ck_assert_mem_eq(nonce, want + 32, 24);
}
END_TEST

/* Profile 2 against tests/vectors/fast-kdf.txt (Python's hashlib.blake2b). */
START_TEST(fast_profile_kat)
{
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_FAST);
    tv_file *f = tv_load("tests/vectors/fast-kdf.txt");
    const tv_block *b = tv_case(f, "init");
    uint8_t c[32], ck[32], bk[32], want[32], mk[32];
    uint8_t states[71][64], mks[70][32];
    tv_hexn(b, "c", c, 32);
    rbx__chain_init(ck, bk, c, p);
    tv_hexn(b, "ck", want, 32);
    ck_assert_mem_eq(ck, want, 32);
    tv_hexn(b, "bk", want, 32);
    ck_assert_mem_eq(bk, want, 32);
    /* init may be given c as ck (KDF_RK writes its chain output there). */
    uint8_t ck2[32], bk2[32];
    memcpy(ck2, c, 32);
    rbx__chain_init(ck2, bk2, ck2, p);
    ck_assert_mem_eq(ck2, ck, 32);
    ck_assert_mem_eq(bk2, bk, 32);
    memcpy(states[0], ck, 32);
    memcpy(states[0] + 32, bk, 32);
    size_t checked = 0;
    for (uint32_t n = 0; n < 70; n++) {
        rbx__chain_next(ck, bk, mk, n, p);
        memcpy(mks[n], mk, 32);
        memcpy(states[n + 1], ck, 32);
        memcpy(states[n + 1] + 32, bk, 32);
        char name[32];
        snprintf(name, sizeof name, "next-%u", n);
        for (size_t i = 0; i < f->nblocks; i++) {
            if (strcmp(tv_get(&f->blocks[i], "case"), name) != 0) continue;
            tv_hexn(&f->blocks[i], "mk", want, 32);
            ck_assert_mem_eq(mk, want, 32);
            tv_hexn(&f->blocks[i], "ck_after", want, 32);
            ck_assert_mem_eq(ck, want, 32);
            tv_hexn(&f->blocks[i], "bk_after", want, 32);
            ck_assert_mem_eq(bk, want, 32);
            checked++;
        }
    }
    ck_assert_uint_eq(checked, 8);
    checked = 0;
    for (size_t i = 0; i < f->nblocks; i++) {
        const tv_block *j = &f->blocks[i];
        if (strncmp(tv_get(j, "case"), "jump-", 5) == 0) {
            uint32_t from = (uint32_t)atoi(tv_get(j, "from")), to = (uint32_t)atoi(tv_get(j, "to"));
            if (to > 70) {
                rbx__chain_init(ck, bk, c, p);
            } else {
                memcpy(ck, states[from], 32);
                memcpy(bk, states[from] + 32, 32);
            }
            rbx__chain_jump(ck, bk, from, to, p);
            tv_hexn(j, "ck", want, 32);
            ck_assert_mem_eq(ck, want, 32);
            tv_hexn(j, "bk", want, 32);
            ck_assert_mem_eq(bk, want, 32);
            if (to <= 70) {
                ck_assert_mem_eq(ck, states[to], 32);
                ck_assert_mem_eq(bk, states[to] + 32, 32);
            }
            checked++;
        } else if (strncmp(tv_get(j, "case"), "body-", 5) == 0) {
            uint8_t salt[16], key[32], nonce[24], wn[12];
            uint32_t n = (uint32_t)atoi(tv_get(j, "case") + 5);
            tv_hexn(j, "mk", want, 32);
            ck_assert_mem_eq(mks[n], want, 32);
            tv_hexn(j, "salt", salt, 16);
            rbx__message_keys(key, nonce, mks[n], salt, p);
            tv_hexn(j, "key", want, 32);
            ck_assert_mem_eq(key, want, 32);
            tv_hexn(j, "nonce", wn, 12);
            ck_assert_mem_eq(nonce, wn, 12);
            checked++;
        }
    }
    ck_assert_uint_eq(checked, 10 + 6);
    tv_free(f);
}
END_TEST

/* Jump equals a walk of Next from any position to any later one, across
 * block boundaries, in every profile (PROTOCOL.md 4.4). */
START_TEST(jump_equals_walk)
{
    const rbx__profile *p = rbx__profile_get((unsigned)_i);
    uint8_t c[32], ck[32], bk[32], jck[32], jbk[32], mk[32];
    randombytes_buf(c, sizeof c);
    static const uint32_t from[] = { 0, 1, 31, 32, 33, 64, 95 };
    for (size_t f = 0; f < RBX_COUNTOF(from); f++) {
        for (uint32_t to = from[f]; to < from[f] + 70; to += 3) {
            rbx__chain_init(ck, bk, c, p);
            for (uint32_t n = 0; n < from[f]; n++) rbx__chain_next(ck, bk, mk, n, p);
            memcpy(jck, ck, 32);
            memcpy(jbk, bk, 32);
            for (uint32_t n = from[f]; n < to; n++) rbx__chain_next(ck, bk, mk, n, p);
            rbx__chain_jump(jck, jbk, from[f], to, p);
            ck_assert_mem_eq(jck, ck, 32);
            ck_assert_mem_eq(jbk, bk, 32);
        }
    }
    /* Profiles 0 and 1 have no block key. */
    if (_i != RBX_PROFILE_FAST) ck_assert(sodium_is_zero(bk, 32));
}
END_TEST

/* Profile 2's salt changes the body key and nonce; profiles 0 and 1
 * ignore it (version 1 has no salt). */
START_TEST(fast_body_keys_depend_on_salt)
{
    const rbx__profile *fast = rbx__profile_get(RBX_PROFILE_FAST);
    uint8_t mk[32], s1[16], s2[16], k1[32], k2[32], n1[24], n2[24];
    randombytes_buf(mk, sizeof mk);
    randombytes_buf(s1, sizeof s1);
    memcpy(s2, s1, 16);
    s2[15] ^= 0x80;
    rbx__message_keys(k1, n1, mk, s1, fast);
    rbx__message_keys(k2, n2, mk, s2, fast);
    ck_assert(memcmp(k1, k2, 32) != 0);
    ck_assert(memcmp(n1, n2, 12) != 0);
    rbx__message_keys(k2, n2, mk, s1, fast);
    ck_assert_mem_eq(k1, k2, 32);
    const rbx__profile *hmac = rbx__profile_get(RBX_PROFILE_HMAC);
    rbx__message_keys(k1, n1, mk, s1, hmac);
    rbx__message_keys(k2, n2, mk, NULL, hmac);
    ck_assert_mem_eq(k1, k2, 32);
    ck_assert_mem_eq(n1, n2, 24);
}
END_TEST

START_TEST(strerror_table)
{
    ck_assert_str_eq(rbx_strerror(0), "success");
    ck_assert_str_eq(rbx_strerror(RBX_E_AUTH), "authentication failed");
    ck_assert_str_eq(rbx_strerror(RBX_E_STATE), "operation not possible in this state");
    ck_assert_str_eq(rbx_strerror(-RBX_E_COUNT_), "unknown error");
    ck_assert_str_eq(rbx_strerror(1), "unknown error");
    for (int c = 0; c > -RBX_E_COUNT_; c--) ck_assert_ptr_nonnull(rbx_strerror(c));
}
END_TEST

Suite *suite_kdf(void)
{
    Suite *s = suite_create("kdf");
    TCase *tc = tcase_create("kdf");
    tcase_add_test(tc, hkdf_rfc5869);
    tcase_add_test(tc, x25519_rfc7748);
    tcase_add_test(tc, x25519_low_order_refused);
    tcase_add_test(tc, xeddsa_vectors);
    tcase_add_test(tc, xeddsa_sign_verify_random);
    tcase_add_test(tc, signal_chain_key);
    tcase_add_test(tc, signal_session_setup);
    tcase_add_test(tc, signal_root_chain);
    tcase_add_test(tc, profiles);
    tcase_add_test(tc, fast_profile_kat);
    tcase_add_loop_test(tc, jump_equals_walk, 0, 3);
    tcase_add_test(tc, fast_body_keys_depend_on_salt);
    tcase_add_test(tc, strerror_table);
    suite_add_tcase(s, tc);
    return s;
}
