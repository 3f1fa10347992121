/* SPDX-License-Identifier: MIT
 * Today's box envelope (src/baseline.c: the product's crypto_box_easy under
 * long-lived keys, base64 content and nonce). The oracle is
 * plain libsodium: envelopes it makes must open here, and envelopes made here
 * must open with crypto_box_open_easy after a base64 decode. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define MSG "ls -la && cat README.md # agent delta"

typedef struct party {
    uint8_t pk[32];
    uint8_t sk[32];
} party;

/* An envelope as the product stores it: two NUL-terminated strings. */
typedef struct envelope {
    char *content;
    size_t content_cap;
    char nonce[RBX_NONCE_B64BYTES];
} envelope;

static void party_new(party *p)
{
    ck_assert_int_eq(crypto_box_keypair(p->pk, p->sk), 0);
}

static void env_alloc(envelope *e, size_t ptlen)
{
    e->content_cap = RBX_BASELINE_B64LEN(ptlen);
    e->content = malloc(e->content_cap);
    ck_assert_ptr_nonnull(e->content);
}

static void env_free(envelope *e)
{
    free(e->content);
    e->content = NULL;
}

/* What the product does today, with libsodium alone; k != NULL uses the
 * precomputed form. */
static void sodium_seal(envelope *e, const uint8_t *pt, size_t ptlen, const uint8_t *k,
                        const uint8_t peer_pk[32], const uint8_t my_sk[32])
{
    uint8_t n[crypto_box_NONCEBYTES];
    uint8_t *ct = malloc(ptlen + crypto_box_MACBYTES);

    ck_assert_ptr_nonnull(ct);
    randombytes_buf(n, sizeof(n));
    if (k != NULL) {
        ck_assert_int_eq(crypto_box_easy_afternm(ct, pt, ptlen, n, k), 0);
    } else {
        ck_assert_int_eq(crypto_box_easy(ct, pt, ptlen, n, peer_pk, my_sk), 0);
    }
    env_alloc(e, ptlen);
    sodium_bin2base64(e->content, e->content_cap, ct, ptlen + crypto_box_MACBYTES, B64);
    sodium_bin2base64(e->nonce, sizeof(e->nonce), n, sizeof(n), B64);
    free(ct);
}

/* Decode a content string with libsodium; returns the byte length. */
static size_t sodium_decode(uint8_t *out, size_t cap, const char *b64)
{
    size_t len = 0;

    ck_assert_int_eq(sodium_base642bin(out, cap, b64, strlen(b64), NULL, &len, NULL, B64), 0);
    return len;
}

/* Open with libsodium alone: decode both strings, crypto_box_open_easy. */
static void sodium_open_check(const envelope *e, const uint8_t *pt, size_t ptlen,
                              const uint8_t peer_pk[32], const uint8_t my_sk[32])
{
    uint8_t n[crypto_box_NONCEBYTES];
    uint8_t *ct = malloc(ptlen + crypto_box_MACBYTES);
    uint8_t *m = malloc(ptlen + 1);

    ck_assert_ptr_nonnull(ct);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(sodium_decode(n, sizeof(n), e->nonce), sizeof(n));
    ck_assert_uint_eq(sodium_decode(ct, ptlen + crypto_box_MACBYTES, e->content),
                      ptlen + crypto_box_MACBYTES);
    ck_assert_int_eq(crypto_box_open_easy(m, ct, ptlen + crypto_box_MACBYTES, n, peer_pk, my_sk),
                     0);
    ck_assert_int_eq(memcmp(m, pt, ptlen), 0);
    free(ct);
    free(m);
}

static int open_env(uint8_t *pt, size_t ptcap, size_t *ptlen, const envelope *e,
                    const uint8_t peer_pk[32], const uint8_t my_sk[32])
{
    return rbx_baseline_open(pt, ptcap, ptlen, e->content, strlen(e->content), e->nonce,
                             strlen(e->nonce), peer_pk, my_sk);
}

START_TEST(test_sodium_to_rbx)
{
    party a;
    party b;
    envelope e;
    uint8_t pt[64];
    size_t ptlen = 99;

    party_new(&a);
    party_new(&b);
    sodium_seal(&e, (const uint8_t *)MSG, strlen(MSG), NULL, b.pk, a.sk);
    ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, a.pk, b.sk), RBX_OK);
    ck_assert_uint_eq(ptlen, strlen(MSG));
    ck_assert_mem_eq(pt, MSG, strlen(MSG));
    env_free(&e);
}
END_TEST

START_TEST(test_rbx_to_sodium)
{
    party a;
    party b;
    envelope e;

    party_new(&a);
    party_new(&b);
    env_alloc(&e, strlen(MSG));
    ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap, e.nonce, (const uint8_t *)MSG,
                                       strlen(MSG), b.pk, a.sk),
                     RBX_OK);
    ck_assert_uint_eq(strlen(e.content), RBX_BASELINE_B64LEN(strlen(MSG)) - 1);
    ck_assert_uint_eq(strlen(e.nonce), RBX_NONCE_B64BYTES - 1);
    sodium_open_check(&e, (const uint8_t *)MSG, strlen(MSG), a.pk, b.sk);
    env_free(&e);
}
END_TEST

START_TEST(test_afternm_sodium_interop)
{
    party a;
    party b;
    envelope e;
    uint8_t k_ab[32];
    uint8_t k_ba[32];
    uint8_t k_sodium[32];
    uint8_t pt[64];
    size_t ptlen = 99;

    party_new(&a);
    party_new(&b);
    ck_assert_int_eq(rbx_baseline_precompute(k_ab, b.pk, a.sk), RBX_OK);
    ck_assert_int_eq(rbx_baseline_precompute(k_ba, a.pk, b.sk), RBX_OK);
    ck_assert_int_eq(crypto_box_beforenm(k_sodium, b.pk, a.sk), 0);
    ck_assert_mem_eq(k_ab, k_sodium, 32);
    ck_assert_mem_eq(k_ba, k_sodium, 32);

    /* libsodium afternm -> rbx afternm */
    sodium_seal(&e, (const uint8_t *)MSG, strlen(MSG), k_sodium, NULL, NULL);
    ck_assert_int_eq(rbx_baseline_open_afternm(pt, sizeof(pt), &ptlen, e.content,
                                               strlen(e.content), e.nonce, strlen(e.nonce), k_ba),
                     RBX_OK);
    ck_assert_uint_eq(ptlen, strlen(MSG));
    ck_assert_mem_eq(pt, MSG, strlen(MSG));
    env_free(&e);

    /* rbx afternm -> libsodium crypto_box_open_easy (no beforenm) */
    env_alloc(&e, strlen(MSG));
    ck_assert_int_eq(rbx_baseline_seal_afternm(e.content, e.content_cap, e.nonce,
                                               (const uint8_t *)MSG, strlen(MSG), k_ab),
                     RBX_OK);
    ck_assert_uint_eq(strlen(e.content), RBX_BASELINE_B64LEN(strlen(MSG)) - 1);
    sodium_open_check(&e, (const uint8_t *)MSG, strlen(MSG), a.pk, b.sk);
    env_free(&e);
}
END_TEST

START_TEST(test_afternm_normal_interop)
{
    party a;
    party b;
    envelope e;
    uint8_t k_ab[32];
    uint8_t k_ba[32];
    uint8_t pt[64];
    size_t ptlen = 99;

    party_new(&a);
    party_new(&b);
    ck_assert_int_eq(rbx_baseline_precompute(k_ab, b.pk, a.sk), RBX_OK);
    ck_assert_int_eq(rbx_baseline_precompute(k_ba, a.pk, b.sk), RBX_OK);

    /* normal seal -> afternm open */
    env_alloc(&e, strlen(MSG));
    ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap, e.nonce, (const uint8_t *)MSG,
                                       strlen(MSG), b.pk, a.sk),
                     RBX_OK);
    ck_assert_int_eq(rbx_baseline_open_afternm(pt, sizeof(pt), &ptlen, e.content,
                                               strlen(e.content), e.nonce, strlen(e.nonce), k_ba),
                     RBX_OK);
    ck_assert_uint_eq(ptlen, strlen(MSG));
    ck_assert_mem_eq(pt, MSG, strlen(MSG));

    /* afternm seal -> normal open */
    ck_assert_int_eq(rbx_baseline_seal_afternm(e.content, e.content_cap, e.nonce,
                                               (const uint8_t *)MSG, strlen(MSG), k_ab),
                     RBX_OK);
    ptlen = 99;
    ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, a.pk, b.sk), RBX_OK);
    ck_assert_uint_eq(ptlen, strlen(MSG));
    ck_assert_mem_eq(pt, MSG, strlen(MSG));
    env_free(&e);
}
END_TEST

START_TEST(test_plaintext_row)
{
    party a;
    uint8_t pt[64];
    size_t ptlen = 99;
    static const char row[] = "not encrypted: legacy row";
    size_t len = sizeof(row) - 1;

    party_new(&a);
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, row, len, NULL, 0, a.pk, a.sk),
                     RBX_OK);
    ck_assert_uint_eq(ptlen, len);
    ck_assert_mem_eq(pt, row, len);

    ptlen = 99;
    ck_assert_int_eq(rbx_baseline_open(pt, 0, &ptlen, row, 0, NULL, 0, a.pk, a.sk), RBX_OK);
    ck_assert_uint_eq(ptlen, 0);

    ptlen = 99;
    ck_assert_int_eq(rbx_baseline_open(pt, len - 1, &ptlen, row, len, NULL, 0, a.pk, a.sk),
                     RBX_E_BUFFER);
    ck_assert_uint_eq(ptlen, 0);

    ptlen = 99;
    ck_assert_int_eq(rbx_baseline_open_afternm(pt, sizeof(pt), &ptlen, row, len, NULL, 0, a.sk),
                     RBX_OK);
    ck_assert_uint_eq(ptlen, len);
    ck_assert_mem_eq(pt, row, len);
}
END_TEST

/* Every single-bit flip of the decoded box (tag and ciphertext) fails with
 * RBX_E_AUTH, *ptlen = 0 and no plaintext left in pt. */
START_TEST(test_bit_flips)
{
    party a;
    party b;
    envelope e;
    uint8_t ct[64];
    uint8_t pt[64];
    size_t ctlen;
    size_t ptlen;
    char *flipped;

    party_new(&a);
    party_new(&b);
    sodium_seal(&e, (const uint8_t *)MSG, strlen(MSG), NULL, b.pk, a.sk);
    ctlen = sodium_decode(ct, sizeof(ct), e.content);
    ck_assert_uint_eq(ctlen, strlen(MSG) + 16);
    flipped = malloc(e.content_cap);
    ck_assert_ptr_nonnull(flipped);
    for (size_t bit = 0; bit < ctlen * 8; bit++) {
        ct[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        sodium_bin2base64(flipped, e.content_cap, ct, ctlen, B64);
        ct[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        memset(pt, 0xa5, sizeof(pt));
        ptlen = 99;
        ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, flipped, strlen(flipped),
                                           e.nonce, strlen(e.nonce), a.pk, b.sk),
                         RBX_E_AUTH);
        ck_assert_uint_eq(ptlen, 0);
        ck_assert(sodium_is_zero(pt, strlen(MSG)));
    }
    free(flipped);

    /* Flipped nonce bits and the wrong keys fail the same way. */
    {
        uint8_t n[24];
        char nb64[RBX_NONCE_B64BYTES];
        party c;

        ck_assert_uint_eq(sodium_decode(n, sizeof(n), e.nonce), 24);
        for (size_t bit = 0; bit < sizeof(n) * 8; bit += 7) {
            n[bit / 8] ^= (uint8_t)(1U << (bit % 8));
            sodium_bin2base64(nb64, sizeof(nb64), n, sizeof(n), B64);
            n[bit / 8] ^= (uint8_t)(1U << (bit % 8));
            ptlen = 99;
            ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content,
                                               strlen(e.content), nb64, strlen(nb64), a.pk, b.sk),
                             RBX_E_AUTH);
            ck_assert_uint_eq(ptlen, 0);
        }
        party_new(&c);
        ptlen = 99;
        ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, c.pk, b.sk), RBX_E_AUTH);
        ck_assert_uint_eq(ptlen, 0);
        ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, a.pk, c.sk), RBX_E_AUTH);
        ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, a.pk, b.sk), RBX_OK);
        ck_assert_mem_eq(pt, MSG, strlen(MSG));
    }
    env_free(&e);
}
END_TEST

static int open_str(uint8_t *pt, size_t ptcap, size_t *ptlen, const char *content, size_t len,
                    const envelope *e, const party *a, const party *b)
{
    return rbx_baseline_open(pt, ptcap, ptlen, content, len, e->nonce, strlen(e->nonce), a->pk,
                             b->sk);
}

START_TEST(test_bad_content_base64)
{
    party a;
    party b;
    envelope e;
    envelope e32;
    uint8_t msg32[32] = { 0 };
    uint8_t pt[64];
    size_t ptlen;
    char bad[128];
    size_t len;

    party_new(&a);
    party_new(&b);
    /* 37 + 16 bytes: the string ends in one '='. */
    sodium_seal(&e, (const uint8_t *)MSG, strlen(MSG), NULL, b.pk, a.sk);
    len = strlen(e.content);
    ck_assert_uint_eq(len, 72);
    ck_assert_int_eq(e.content[len - 1], '=');

    /* An alphabet error, whitespace, a newline and NUL in the middle. */
    {
        static const char chars[] = { '-', '_', ' ', '\n', '\0', '!' };

        for (size_t i = 0; i < sizeof(chars); i++) {
            memcpy(bad, e.content, len + 1);
            bad[len / 2] = chars[i];
            ptlen = 99;
            ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len, &e, &a, &b),
                             RBX_E_MALFORMED);
            ck_assert_uint_eq(ptlen, 0);
        }
    }
    /* Bytes >= 0x80 in place of a digit (libsodium 1.0.18 alone takes them). */
    for (unsigned c = 0x80; c <= 0xff; c++) {
        char nb64[RBX_NONCE_B64BYTES];

        memcpy(bad, e.content, len + 1);
        bad[5] = (char)c;
        ptlen = 99;
        ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len, &e, &a, &b), RBX_E_MALFORMED);
        ck_assert_uint_eq(ptlen, 0);
        memcpy(nb64, e.nonce, sizeof(nb64));
        nb64[5] = (char)c;
        ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, len, nb64, 32, a.pk,
                                           b.sk),
                         RBX_E_MALFORMED);
    }
    /* Missing padding, a trailing newline, data after the padding. */
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, e.content, len - 1, &e, &a, &b),
                     RBX_E_MALFORMED);
    memcpy(bad, e.content, len);
    memcpy(bad + len, "\n", 2);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len + 1, &e, &a, &b),
                     RBX_E_MALFORMED);
    memcpy(bad + len, "AAAA", 5);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len + 4, &e, &a, &b),
                     RBX_E_MALFORMED);
    /* Non-zero padding bits: 'l' (0b100101) before the '=' of a 53-byte box
     * leaves the low two bits set; a second spelling of the same bytes. */
    memcpy(bad, e.content, len + 1);
    bad[len - 2] = (bad[len - 2] == 'l') ? 'm' : 'l';
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len, &e, &a, &b), RBX_E_MALFORMED);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, e.content, len, &e, &a, &b), RBX_OK);
    env_free(&e);

    /* 32 + 16 bytes: no padding. Whole groups added or removed still parse
     * and then fail authentication; a partial group does not parse. */
    sodium_seal(&e32, msg32, sizeof(msg32), NULL, b.pk, a.sk);
    len = strlen(e32.content);
    ck_assert_uint_eq(len, 64);
    memcpy(bad, e32.content, len);
    memcpy(bad + len, "AAAA", 5);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len + 4, &e32, &a, &b), RBX_E_AUTH);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, bad, len + 2, &e32, &a, &b),
                     RBX_E_MALFORMED);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, e32.content, len - 4, &e32, &a, &b),
                     RBX_E_AUTH);
    ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, e32.content, len - 1, &e32, &a, &b),
                     RBX_E_MALFORMED);

    /* Shorter than a tag: 15 bytes, then nothing at all. */
    {
        uint8_t zeros[15] = { 0 };
        char s[64];

        sodium_bin2base64(s, sizeof(s), zeros, sizeof(zeros), B64);
        ptlen = 99;
        ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, s, strlen(s), &e32, &a, &b),
                         RBX_E_MALFORMED);
        ck_assert_uint_eq(ptlen, 0);
        ck_assert_int_eq(open_str(pt, sizeof(pt), &ptlen, "", 0, &e32, &a, &b), RBX_E_MALFORMED);
    }
    env_free(&e32);
}
END_TEST

START_TEST(test_bad_nonce)
{
    party a;
    party b;
    envelope e;
    uint8_t pt[64];
    size_t ptlen;
    uint8_t raw[25] = { 0 };
    char nb64[64];

    party_new(&a);
    party_new(&b);
    sodium_seal(&e, (const uint8_t *)MSG, strlen(MSG), NULL, b.pk, a.sk);

    /* 23 and 25 decoded bytes. */
    sodium_bin2base64(nb64, sizeof(nb64), raw, 23, B64);
    ck_assert_uint_eq(strlen(nb64), 32);
    ptlen = 99;
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, strlen(e.content), nb64,
                                       strlen(nb64), a.pk, b.sk),
                     RBX_E_MALFORMED);
    ck_assert_uint_eq(ptlen, 0);
    sodium_bin2base64(nb64, sizeof(nb64), raw, 25, B64);
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, strlen(e.content), nb64,
                                       strlen(nb64), a.pk, b.sk),
                     RBX_E_MALFORMED);
    /* Right string cut short, extended, or with a bad character. */
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, strlen(e.content),
                                       e.nonce, 31, a.pk, b.sk),
                     RBX_E_MALFORMED);
    memcpy(nb64, e.nonce, 32);
    memcpy(nb64 + 32, "=", 2);
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, strlen(e.content), nb64,
                                       33, a.pk, b.sk),
                     RBX_E_MALFORMED);
    memcpy(nb64, e.nonce, 33);
    nb64[3] = '*';
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, strlen(e.content), nb64,
                                       32, a.pk, b.sk),
                     RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_baseline_open(pt, sizeof(pt), &ptlen, e.content, strlen(e.content), "",
                                       0, a.pk, b.sk),
                     RBX_E_MALFORMED);
    ck_assert_uint_eq(ptlen, 0);
    env_free(&e);
}
END_TEST

START_TEST(test_buffer_too_small)
{
    party a;
    party b;
    envelope e;
    uint8_t pt[64];
    size_t ptlen;
    size_t len = strlen(MSG);

    party_new(&a);
    party_new(&b);

    /* Seal: one byte short of RBX_BASELINE_B64LEN. */
    env_alloc(&e, len);
    memset(e.content, 'x', e.content_cap);
    ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap - 1, e.nonce,
                                       (const uint8_t *)MSG, len, b.pk, a.sk),
                     RBX_E_BUFFER);
    ck_assert(sodium_is_zero((const unsigned char *)e.content, e.content_cap - 1));
    ck_assert(sodium_is_zero((const unsigned char *)e.nonce, sizeof(e.nonce)));
    ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap, e.nonce, (const uint8_t *)MSG,
                                       len, b.pk, a.sk),
                     RBX_OK);

    /* Open: one byte short, then exactly enough. */
    ptlen = 99;
    ck_assert_int_eq(open_env(pt, len - 1, &ptlen, &e, a.pk, b.sk), RBX_E_BUFFER);
    ck_assert_uint_eq(ptlen, 0);
    ck_assert_int_eq(open_env(pt, len, &ptlen, &e, a.pk, b.sk), RBX_OK);
    ck_assert_uint_eq(ptlen, len);
    ck_assert_mem_eq(pt, MSG, len);
    env_free(&e);
}
END_TEST

/* crypto_box refuses an all-zero X25519 result: the all-zero public key and
 * u = 1 are of low order. */
START_TEST(test_low_order_key)
{
    party a;
    party b;
    envelope e;
    uint8_t low[2][32] = { { 0 }, { 1 } };
    uint8_t k[32];
    uint8_t pt[64];
    size_t ptlen;

    party_new(&a);
    party_new(&b);
    sodium_seal(&e, (const uint8_t *)MSG, strlen(MSG), NULL, b.pk, a.sk);
    for (size_t i = 0; i < 2; i++) {
        char content[128];
        char nonce[RBX_NONCE_B64BYTES];

        memset(content, 'x', sizeof(content));
        memset(nonce, 'x', sizeof(nonce));
        ck_assert_int_eq(rbx_baseline_seal(content, sizeof(content), nonce, (const uint8_t *)MSG,
                                           strlen(MSG), low[i], a.sk),
                         RBX_E_KEY);
        ck_assert(sodium_is_zero((const unsigned char *)content, sizeof(content)));
        ck_assert(sodium_is_zero((const unsigned char *)nonce, sizeof(nonce)));

        ptlen = 99;
        ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, low[i], b.sk), RBX_E_KEY);
        ck_assert_uint_eq(ptlen, 0);

        memset(k, 0xa5, sizeof(k));
        ck_assert_int_eq(rbx_baseline_precompute(k, low[i], a.sk), RBX_E_KEY);
        ck_assert(sodium_is_zero(k, sizeof(k)));
    }
    env_free(&e);
}
END_TEST

/* strlen(content) == RBX_BASELINE_B64LEN(ptlen) - 1 across every padding
 * case, and each length round-trips through libsodium. */
START_TEST(test_content_length)
{
    party a;
    party b;
    uint8_t msg[200];
    uint8_t pt[200];
    size_t ptlen;

    party_new(&a);
    party_new(&b);
    randombytes_buf(msg, sizeof(msg));
    for (size_t len = 0; len <= 40; len++) {
        envelope e;

        env_alloc(&e, len);
        ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap, e.nonce, msg, len, b.pk,
                                           a.sk),
                         RBX_OK);
        ck_assert_uint_eq(strlen(e.content), RBX_BASELINE_B64LEN(len) - 1);
        ck_assert_uint_eq(strlen(e.content), sodium_base64_ENCODED_LEN(len + 16, B64) - 1);
        ck_assert_uint_eq(strlen(e.nonce), 32);
        sodium_open_check(&e, msg, len, a.pk, b.sk);
        ck_assert_int_eq(open_env(pt, sizeof(pt), &ptlen, &e, a.pk, b.sk), RBX_OK);
        ck_assert_uint_eq(ptlen, len);
        ck_assert_int_eq(memcmp(pt, msg, len), 0);
        env_free(&e);
    }
    ck_assert_uint_eq(RBX_BASELINE_B64LEN(0), 25);
    ck_assert_uint_eq(RBX_BASELINE_B64LEN(200), 289);
}
END_TEST

/* A NULL plaintext of length 0 is allowed; fresh nonces every time. */
START_TEST(test_empty_and_fresh_nonce)
{
    party a;
    party b;
    envelope e1;
    envelope e2;
    uint8_t pt[8];
    size_t ptlen = 99;

    party_new(&a);
    party_new(&b);
    env_alloc(&e1, 0);
    env_alloc(&e2, 0);
    ck_assert_int_eq(rbx_baseline_seal(e1.content, e1.content_cap, e1.nonce, NULL, 0, b.pk, a.sk),
                     RBX_OK);
    ck_assert_int_eq(rbx_baseline_seal(e2.content, e2.content_cap, e2.nonce, NULL, 0, b.pk, a.sk),
                     RBX_OK);
    ck_assert_uint_eq(strlen(e1.content), 24);
    ck_assert_str_ne(e1.nonce, e2.nonce);
    ck_assert_str_ne(e1.content, e2.content);
    ck_assert_int_eq(open_env(pt, 0, &ptlen, &e1, a.pk, b.sk), RBX_OK);
    ck_assert_uint_eq(ptlen, 0);
    sodium_open_check(&e2, pt, 0, a.pk, b.sk);
    ck_assert_int_eq(rbx_baseline_seal(e1.content, e1.content_cap, e1.nonce, NULL, 1, b.pk, a.sk),
                     RBX_E_INVALID);
    env_free(&e1);
    env_free(&e2);
}
END_TEST

START_TEST(test_too_big)
{
    party a;
    party b;
    envelope e;
    uint8_t *big = calloc(1, RBX_MAX_PLAINTEXT + 1);
    uint8_t *out = malloc(RBX_MAX_PLAINTEXT + 1);
    size_t ptlen = 99;
    size_t maxb64 = RBX_BASELINE_B64LEN(RBX_MAX_PLAINTEXT) - 1;
    char *s;

    ck_assert_ptr_nonnull(big);
    ck_assert_ptr_nonnull(out);
    party_new(&a);
    party_new(&b);
    big[0] = 'x';
    big[RBX_MAX_PLAINTEXT - 1] = 'y';

    env_alloc(&e, RBX_MAX_PLAINTEXT + 1);
    ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap, e.nonce, big,
                                       RBX_MAX_PLAINTEXT + 1, b.pk, a.sk),
                     RBX_E_TOO_BIG);
    /* Exactly the cap works. */
    ck_assert_int_eq(rbx_baseline_seal(e.content, e.content_cap, e.nonce, big, RBX_MAX_PLAINTEXT,
                                       b.pk, a.sk),
                     RBX_OK);
    ck_assert_uint_eq(strlen(e.content), maxb64);
    ck_assert_int_eq(open_env(out, RBX_MAX_PLAINTEXT, &ptlen, &e, a.pk, b.sk), RBX_OK);
    ck_assert_uint_eq(ptlen, RBX_MAX_PLAINTEXT);
    ck_assert_int_eq(memcmp(out, big, RBX_MAX_PLAINTEXT), 0);

    /* Content one character over the longest valid string: refused before
     * decoding, whatever it holds. */
    s = malloc(maxb64 + 2);
    ck_assert_ptr_nonnull(s);
    memset(s, '!', maxb64 + 1);
    s[maxb64 + 1] = '\0';
    ptlen = 99;
    ck_assert_int_eq(rbx_baseline_open(out, RBX_MAX_PLAINTEXT + 1, &ptlen, s, maxb64 + 1, e.nonce,
                                       strlen(e.nonce), a.pk, b.sk),
                     RBX_E_TOO_BIG);
    ck_assert_uint_eq(ptlen, 0);
    /* A full-length string without padding decodes to one byte over the cap. */
    memset(s, 'A', maxb64);
    s[maxb64] = '\0';
    ck_assert_int_eq(rbx_baseline_open(out, RBX_MAX_PLAINTEXT + 1, &ptlen, s, maxb64, e.nonce,
                                       strlen(e.nonce), a.pk, b.sk),
                     RBX_E_TOO_BIG);
    ck_assert_uint_eq(ptlen, 0);
    /* Plaintext rows obey the same cap. */
    ck_assert_int_eq(rbx_baseline_open(out, RBX_MAX_PLAINTEXT + 1, &ptlen, (const char *)big,
                                       RBX_MAX_PLAINTEXT + 1, NULL, 0, a.pk, b.sk),
                     RBX_E_TOO_BIG);
    ck_assert_uint_eq(ptlen, 0);
    free(s);
    free(big);
    free(out);
    env_free(&e);
}
END_TEST

Suite *suite_baseline(void)
{
    Suite *s = suite_create("baseline");
    TCase *tc = tcase_create("baseline");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sodium_to_rbx);
    tcase_add_test(tc, test_rbx_to_sodium);
    tcase_add_test(tc, test_afternm_sodium_interop);
    tcase_add_test(tc, test_afternm_normal_interop);
    tcase_add_test(tc, test_plaintext_row);
    tcase_add_test(tc, test_bit_flips);
    tcase_add_test(tc, test_bad_content_base64);
    tcase_add_test(tc, test_bad_nonce);
    tcase_add_test(tc, test_buffer_too_small);
    tcase_add_test(tc, test_low_order_key);
    tcase_add_test(tc, test_content_length);
    tcase_add_test(tc, test_empty_and_fresh_nonce);
    tcase_add_test(tc, test_too_big);
    suite_add_tcase(s, tc);
    return s;
}
