/* SPDX-License-Identifier: MIT
 * Key pairs in the product's formats (src/keys.c: raw, base64, the JSON key
 * file, the 16-hex fingerprint; secrets unclamped). Every
 * expected value comes from plain libsodium calls made here or from a fixed
 * known answer, never from the code under test. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* RFC 7748 section 6.1, Alice (alice() loads her key pair). Computed once
 * with Python's hashlib and base64 from her keys: */
#define ALICE_FINGERPRINT "300c9c9603b92a4b"
#define ALICE_PK_B64 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define ALICE_SK_B64 "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define ALICE_JSON "{\"publicKey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64 "\"}"

#define B64 sodium_base64_VARIANT_ORIGINAL

/* Alice's key pair from tests/vectors/x25519.txt (sk may be NULL). Her
 * secret scalar is unclamped as stored (0x77 has the low bits set, 0x2a
 * lacks bit 254), like a libsodium key. */
static void alice(uint8_t pk[32], uint8_t *sk)
{
    tv_file *f = tv_load("tests/vectors/x25519.txt");
    const tv_block *b = tv_case(f, "rfc7748-6.1-diffie-hellman");
    ck_assert_ptr_nonnull(b);
    tv_hexn(b, "alice_public", pk, 32);
    if (sk != NULL) tv_hexn(b, "alice_private", sk, 32);
    tv_free(f);
}

/* A fresh key pair straight from libsodium, with its base64 strings. */
typedef struct kp {
    uint8_t pk[32];
    uint8_t sk[32];
    char pk_b64[RBX_KEY_B64BYTES];
    char sk_b64[RBX_KEY_B64BYTES];
} kp;

static void kp_new(kp *k)
{
    ck_assert_int_eq(crypto_box_keypair(k->pk, k->sk), 0);
    sodium_bin2base64(k->pk_b64, sizeof(k->pk_b64), k->pk, 32, B64);
    sodium_bin2base64(k->sk_b64, sizeof(k->sk_b64), k->sk, 32, B64);
}

/* Parse len bytes of json from an exact-size heap copy (ASan catches any
 * read past jsonlen; the copy is not NUL-terminated). On failure both
 * outputs must come back zero. */
static int parse_n(uint8_t pk[32], uint8_t sk[32], const char *json, size_t len)
{
    char *buf = malloc(len > 0 ? len : 1);
    int ret;

    ck_assert_ptr_nonnull(buf);
    memcpy(buf, json, len);
    memset(pk, 0xa5, 32);
    memset(sk, 0xa5, 32);
    ret = rbx_keypair_from_json(pk, sk, buf, len);
    free(buf);
    if (ret != RBX_OK) {
        ck_assert(sodium_is_zero(pk, 32));
        ck_assert(sodium_is_zero(sk, 32));
    }
    return ret;
}

static int parse(uint8_t pk[32], uint8_t sk[32], const char *json)
{
    return parse_n(pk, sk, json, strlen(json));
}

/* Base64 of len bytes of 0x41.. so each string decodes to a wrong length. */
static void b64_of_len(char *out, size_t cap, size_t len)
{
    uint8_t bin[64];

    ck_assert_uint_le(len, sizeof(bin));
    for (size_t i = 0; i < len; i++) {
        bin[i] = (uint8_t)(0x41U + i);
    }
    sodium_bin2base64(out, cap, bin, len, B64);
}

START_TEST(test_generate)
{
    uint8_t pk[32];
    uint8_t sk[32];
    uint8_t pk2[32];
    uint8_t sk2[32];
    uint8_t derived[32];

    ck_assert_int_eq(rbx_keypair_generate(pk, sk), RBX_OK);
    ck_assert_int_eq(crypto_scalarmult_base(derived, sk), 0);
    ck_assert_mem_eq(derived, pk, 32);
    ck_assert_int_eq(rbx_keypair_generate(pk2, sk2), RBX_OK);
    ck_assert_int_ne(memcmp(pk, pk2, 32), 0);
    ck_assert_int_ne(memcmp(sk, sk2, 32), 0);
}
END_TEST

START_TEST(test_json_round_trip)
{
    uint8_t pk[32];
    uint8_t sk[32];
    uint8_t pk2[32];
    uint8_t sk2[32];
    char json[RBX_KEYPAIR_JSONBYTES];

    ck_assert_int_eq(rbx_keypair_generate(pk, sk), RBX_OK);
    ck_assert_int_eq(rbx_keypair_to_json(json, sizeof(json), pk, sk), RBX_OK);
    ck_assert_uint_eq(strlen(json), 122);
    ck_assert_int_eq(parse(pk2, sk2, json), RBX_OK);
    ck_assert_mem_eq(pk2, pk, 32);
    ck_assert_mem_eq(sk2, sk, 32);
}
END_TEST

/* The product's file, written with libsodium alone, parses to the same bytes
 * and rbx_keypair_to_json writes exactly the same text. */
START_TEST(test_json_product_format)
{
    kp k;
    char expect[256];
    char json[RBX_KEYPAIR_JSONBYTES];
    uint8_t pk[32];
    uint8_t sk[32];

    kp_new(&k);
    snprintf(expect, sizeof(expect), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, expect), RBX_OK);
    ck_assert_mem_eq(pk, k.pk, 32);
    ck_assert_mem_eq(sk, k.sk, 32);
    ck_assert_int_eq(rbx_keypair_to_json(json, sizeof(json), k.pk, k.sk), RBX_OK);
    ck_assert_str_eq(json, expect);
}
END_TEST

/* RFC 7748 Alice: unclamped scalar kept as is, exact JSON text. */
START_TEST(test_json_known_answer)
{
    uint8_t apk[32];
    uint8_t ask[32];
    uint8_t pk[32];
    uint8_t sk[32];
    char json[RBX_KEYPAIR_JSONBYTES];

    alice(apk, ask);
    ck_assert_int_eq(parse(pk, sk, ALICE_JSON), RBX_OK);
    ck_assert_mem_eq(pk, apk, 32);
    ck_assert_mem_eq(sk, ask, 32);
    ck_assert_int_eq(rbx_keypair_to_json(json, sizeof(json), apk, ask), RBX_OK);
    ck_assert_str_eq(json, ALICE_JSON);
}
END_TEST

START_TEST(test_json_swapped_order)
{
    kp k;
    char json[256];
    uint8_t pk[32];
    uint8_t sk[32];

    kp_new(&k);
    snprintf(json, sizeof(json), "{\"secretKey\": \"%s\", \"publicKey\": \"%s\"}", k.sk_b64,
             k.pk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_OK);
    ck_assert_mem_eq(pk, k.pk, 32);
    ck_assert_mem_eq(sk, k.sk, 32);
}
END_TEST

START_TEST(test_json_whitespace)
{
    kp k;
    char json[256];
    uint8_t pk[32];
    uint8_t sk[32];

    kp_new(&k);
    snprintf(json, sizeof(json),
             " \t\r\n{\n\t\"publicKey\"\r\n :\t\"%s\"  ,\n\n\"secretKey\":\"%s\"\n}\n", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_OK);
    ck_assert_mem_eq(pk, k.pk, 32);
    ck_assert_mem_eq(sk, k.sk, 32);

    snprintf(json, sizeof(json), "{\"publicKey\":\"%s\",\"secretKey\":\"%s\"}", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_OK);
    ck_assert_mem_eq(sk, k.sk, 32);

    /* Only JSON's four whitespace bytes count. */
    snprintf(json, sizeof(json), "{\v\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
    snprintf(json, sizeof(json), "{\"publicKey\": \"%s\",\f\"secretKey\": \"%s\"}", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
    /* Whitespace inside the string is part of the base64 and is refused. */
    snprintf(json, sizeof(json), "{\"publicKey\": \" %s\", \"secretKey\": \"%s\"}", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
    snprintf(json, sizeof(json), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\n\"}", k.pk_b64,
             k.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
}
END_TEST

/* jsonlen counts bytes: what follows it is never read, and a NUL inside it
 * is an error. */
START_TEST(test_json_length_and_nul)
{
    uint8_t apk[32];
    uint8_t pk[32];
    uint8_t sk[32];
    char buf[256];
    size_t len = strlen(ALICE_JSON);

    alice(apk, NULL);
    memcpy(buf, ALICE_JSON, len);
    memcpy(buf + len, "garbage", 8);
    memset(pk, 0, 32);
    ck_assert_int_eq(rbx_keypair_from_json(pk, sk, buf, len), RBX_OK);
    ck_assert_mem_eq(pk, apk, 32);

    /* NUL between tokens, inside a name, inside a value, and at the end. */
    memcpy(buf, ALICE_JSON, len + 1);
    buf[1] = '\0';
    ck_assert_int_eq(parse_n(pk, sk, buf, len), RBX_E_MALFORMED);
    memcpy(buf, ALICE_JSON, len + 1);
    buf[4] = '\0';
    ck_assert_int_eq(parse_n(pk, sk, buf, len), RBX_E_MALFORMED);
    memcpy(buf, ALICE_JSON, len + 1);
    buf[20] = '\0';
    ck_assert_int_eq(parse_n(pk, sk, buf, len), RBX_E_MALFORMED);
    memcpy(buf, ALICE_JSON, len + 1);
    ck_assert_int_eq(parse_n(pk, sk, buf, len + 1), RBX_E_MALFORMED);
}
END_TEST

START_TEST(test_json_wrong_decoded_length)
{
    kp k;
    char bad[64];
    char json[256];
    uint8_t pk[32];
    uint8_t sk[32];
    static const size_t lens[] = { 31, 33, 0, 30, 34 };

    kp_new(&k);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        b64_of_len(bad, sizeof(bad), lens[i]);
        if (lens[i] == 31 || lens[i] == 33) {
            /* Same 44 characters as a key: only the decoded length differs. */
            ck_assert_uint_eq(strlen(bad), 44);
        }
        snprintf(json, sizeof(json), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", bad,
                 k.sk_b64);
        ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
        snprintf(json, sizeof(json), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", k.pk_b64,
                 bad);
        ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
    }
}
END_TEST

START_TEST(test_json_invalid_base64)
{
    kp k;
    char json[256];
    char pk_b64[RBX_KEY_B64BYTES];
    uint8_t pk[32];
    uint8_t sk[32];
    static const char bad_chars[] = { '-', '_', '*', '.', ' ', '\t', '=', '\x80' };

    kp_new(&k);
    for (size_t i = 0; i < sizeof(bad_chars); i++) {
        memcpy(pk_b64, k.pk_b64, sizeof(pk_b64));
        pk_b64[10] = bad_chars[i];
        snprintf(json, sizeof(json), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", pk_b64,
                 k.sk_b64);
        ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
    }
    /* URL-safe alphabet is another variant, not the product's. */
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=\", "
                           "\"secretKey\": \"" ALICE_SK_B64 "\"}"),
                     RBX_E_MALFORMED);
}
END_TEST

START_TEST(test_json_missing_padding)
{
    uint8_t pk[32];
    uint8_t sk[32];

    /* Alice's public key without its '=' (43 characters). */
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo\", "
                           "\"secretKey\": \"" ALICE_SK_B64 "\"}"),
                     RBX_E_MALFORMED);
    /* Secret key without its '='. */
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"" ALICE_PK_B64 "\", "
                           "\"secretKey\": \"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo\"}"),
                     RBX_E_MALFORMED);
    /* Non-zero padding bits ('p' instead of 'o' before '='): a second
     * spelling of the same key is refused. */
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=\", "
                           "\"secretKey\": \"" ALICE_SK_B64 "\"}"),
                     RBX_E_MALFORMED);
}
END_TEST

START_TEST(test_json_missing_member)
{
    uint8_t pk[32];
    uint8_t sk[32];

    ck_assert_int_eq(parse(pk, sk, "{\"publicKey\": \"" ALICE_PK_B64 "\"}"), RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk, "{\"secretKey\": \"" ALICE_SK_B64 "\"}"), RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk, "{}"), RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk, "{ }"), RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk, ""), RBX_E_MALFORMED);
}
END_TEST

START_TEST(test_json_duplicate_member)
{
    uint8_t pk[32];
    uint8_t sk[32];

    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"" ALICE_PK_B64 "\", \"publicKey\": \"" ALICE_PK_B64
                           "\", \"secretKey\": \"" ALICE_SK_B64 "\"}"),
                     RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64
                           "\", \"secretKey\": \"" ALICE_SK_B64 "\"}"),
                     RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk,
                           "{\"secretKey\": \"" ALICE_SK_B64 "\", \"secretKey\": \"" ALICE_SK_B64
                           "\"}"),
                     RBX_E_MALFORMED);
}
END_TEST

START_TEST(test_json_unknown_member)
{
    uint8_t pk[32];
    uint8_t sk[32];

    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64
                           "\", \"comment\": \"x\"}"),
                     RBX_E_MALFORMED);
    /* Member names are case-sensitive and exact. */
    ck_assert_int_eq(parse(pk, sk,
                           "{\"PublicKey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64
                           "\"}"),
                     RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKey \": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64
                           "\"}"),
                     RBX_E_MALFORMED);
    ck_assert_int_eq(parse(pk, sk,
                           "{\"publicKe\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64
                           "\"}"),
                     RBX_E_MALFORMED);
}
END_TEST

START_TEST(test_json_trailing_garbage)
{
    static const char *const tails[] = { "x", "}", ",", "{}", "\n0", "\n\"\"" };
    char json[256];
    uint8_t pk[32];
    uint8_t sk[32];

    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        snprintf(json, sizeof(json), "%s%s", ALICE_JSON, tails[i]);
        ck_assert_int_eq(parse(pk, sk, json), RBX_E_MALFORMED);
    }
    ck_assert_int_eq(parse(pk, sk, ALICE_JSON " \r\n\t"), RBX_OK);
}
END_TEST

/* Other shapes JSON does not allow, or that are not the key file. */
START_TEST(test_json_bad_syntax)
{
    static const char *const bad[] = {
        "[\"" ALICE_PK_B64 "\", \"" ALICE_SK_B64 "\"]",
        "{'publicKey': '" ALICE_PK_B64 "', 'secretKey': '" ALICE_SK_B64 "'}",
        "{\"publicKey\" \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64 "\"}",
        "{\"publicKey\": \"" ALICE_PK_B64 "\" \"secretKey\": \"" ALICE_SK_B64 "\"}",
        "{\"publicKey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64 "\",}",
        "{,\"publicKey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64 "\"}",
        "{\"publicKey\": 1, \"secretKey\": \"" ALICE_SK_B64 "\"}",
        "{\"publicKey\": null, \"secretKey\": \"" ALICE_SK_B64 "\"}",
        "{publicKey: \"" ALICE_PK_B64 "\", secretKey: \"" ALICE_SK_B64 "\"}",
        "\xef\xbb\xbf" ALICE_JSON,
        /* Escapes are refused even where they would decode to valid base64. */
        "{\"publicKey\": \"hSDwCYkwp1R0i33ctD73Wg2\\/Og0mOBr066SpjqqbTmo=\", "
        "\"secretKey\": \"" ALICE_SK_B64 "\"}",
        "{\"public\\u004bey\": \"" ALICE_PK_B64 "\", \"secretKey\": \"" ALICE_SK_B64 "\"}",
    };
    uint8_t pk[32];
    uint8_t sk[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(parse(pk, sk, bad[i]), RBX_E_MALFORMED);
    }
}
END_TEST

START_TEST(test_json_truncated)
{
    size_t len = strlen(ALICE_JSON);
    uint8_t pk[32];
    uint8_t sk[32];

    for (size_t i = 0; i < len; i++) {
        ck_assert_int_eq(parse_n(pk, sk, ALICE_JSON, i), RBX_E_MALFORMED);
    }
    ck_assert_int_eq(parse_n(pk, sk, ALICE_JSON, len), RBX_OK);
}
END_TEST

START_TEST(test_json_mismatch)
{
    kp a;
    kp b;
    char json[256];
    char pk_b64[RBX_KEY_B64BYTES];
    uint8_t pk[32];
    uint8_t sk[32];
    uint8_t flipped[32];

    kp_new(&a);
    kp_new(&b);
    snprintf(json, sizeof(json), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", a.pk_b64,
             b.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_E_KEY);

    memcpy(flipped, a.pk, 32);
    flipped[0] ^= 1;
    sodium_bin2base64(pk_b64, sizeof(pk_b64), flipped, 32, B64);
    snprintf(json, sizeof(json), "{\"publicKey\": \"%s\", \"secretKey\": \"%s\"}", pk_b64,
             a.sk_b64);
    ck_assert_int_eq(parse(pk, sk, json), RBX_E_KEY);
}
END_TEST

START_TEST(test_to_json_buffer)
{
    uint8_t apk[32];
    uint8_t ask[32];
    char json[RBX_KEYPAIR_JSONBYTES];

    alice(apk, ask);
    memset(json, 'x', sizeof(json));
    ck_assert_int_eq(rbx_keypair_to_json(json, RBX_KEYPAIR_JSONBYTES - 1, apk, ask),
                     RBX_E_BUFFER);
    ck_assert(sodium_is_zero((const unsigned char *)json, RBX_KEYPAIR_JSONBYTES - 1));
    ck_assert_int_eq(json[RBX_KEYPAIR_JSONBYTES - 1], 'x');
    ck_assert_int_eq(rbx_keypair_to_json(json, RBX_KEYPAIR_JSONBYTES, apk, ask), RBX_OK);
    ck_assert_str_eq(json, ALICE_JSON);
}
END_TEST

START_TEST(test_raw)
{
    kp a;
    kp b;
    uint8_t raw[65];
    uint8_t pk[32];
    uint8_t sk[32];

    kp_new(&a);
    kp_new(&b);
    memcpy(raw, a.pk, 32);
    memcpy(raw + 32, a.sk, 32);
    raw[64] = 0;
    ck_assert_int_eq(rbx_keypair_from_raw(pk, sk, raw, 64), RBX_OK);
    ck_assert_mem_eq(pk, a.pk, 32);
    ck_assert_mem_eq(sk, a.sk, 32);

    memset(pk, 0xa5, 32);
    memset(sk, 0xa5, 32);
    ck_assert_int_eq(rbx_keypair_from_raw(pk, sk, raw, 63), RBX_E_MALFORMED);
    ck_assert(sodium_is_zero(pk, 32) && sodium_is_zero(sk, 32));
    memset(pk, 0xa5, 32);
    ck_assert_int_eq(rbx_keypair_from_raw(pk, sk, raw, 65), RBX_E_MALFORMED);
    ck_assert(sodium_is_zero(pk, 32) && sodium_is_zero(sk, 32));
    ck_assert_int_eq(rbx_keypair_from_raw(pk, sk, raw, 0), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_keypair_from_raw(pk, sk, raw, 32), RBX_E_MALFORMED);

    memcpy(raw + 32, b.sk, 32);
    memset(pk, 0xa5, 32);
    memset(sk, 0xa5, 32);
    ck_assert_int_eq(rbx_keypair_from_raw(pk, sk, raw, 64), RBX_E_KEY);
    ck_assert(sodium_is_zero(pk, 32) && sodium_is_zero(sk, 32));
}
END_TEST

/* RFC 7748 Alice as raw bytes, and the raw buffer aliasing the outputs. */
START_TEST(test_raw_known_answer)
{
    uint8_t raw[64];
    uint8_t apk[32];
    uint8_t ask[32];

    alice(apk, ask);
    memcpy(raw, apk, 32);
    memcpy(raw + 32, ask, 32);
    ck_assert_int_eq(rbx_keypair_from_raw(raw, raw + 32, raw, 64), RBX_OK);
    ck_assert_mem_eq(raw, apk, 32);
    ck_assert_mem_eq(raw + 32, ask, 32);
}
END_TEST

START_TEST(test_fingerprint_computed)
{
    uint8_t pk[32];
    uint8_t sk[32];
    uint8_t h[crypto_hash_sha256_BYTES];
    char expect[17];
    char fp[RBX_FINGERPRINT_HEXBYTES];

    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(crypto_box_keypair(pk, sk), 0);
        ck_assert_int_eq(crypto_hash_sha256(h, pk, 32), 0);
        sodium_bin2hex(expect, sizeof(expect), h, 8);
        memset(fp, 'x', sizeof(fp));
        rbx_fingerprint(fp, pk);
        ck_assert_uint_eq(strlen(fp), 16);
        ck_assert_str_eq(fp, expect);
    }
}
END_TEST

START_TEST(test_fingerprint_known_answer)
{
    uint8_t apk[32];
    char fp[RBX_FINGERPRINT_HEXBYTES];

    alice(apk, NULL);
    rbx_fingerprint(fp, apk);
    ck_assert_str_eq(fp, ALICE_FINGERPRINT);
}
END_TEST

START_TEST(test_key_base64)
{
    uint8_t apk[32];
    uint8_t key[32];
    char b64[RBX_KEY_B64BYTES];
    char buf[64];
    size_t len = strlen(ALICE_PK_B64);

    alice(apk, NULL);
    rbx_key_to_base64(b64, apk);
    ck_assert_str_eq(b64, ALICE_PK_B64);
    ck_assert_int_eq(rbx_key_from_base64(key, ALICE_PK_B64, len), RBX_OK);
    ck_assert_mem_eq(key, apk, 32);

    /* Not NUL-terminated: the length is authoritative. */
    memcpy(buf, ALICE_PK_B64, len);
    memcpy(buf + len, "AAAA", 4);
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len), RBX_OK);
    ck_assert_mem_eq(key, apk, 32);
    memset(key, 0xa5, 32);
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len + 4), RBX_E_MALFORMED);
    ck_assert(sodium_is_zero(key, 32));
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len - 1), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len + 1), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_key_from_base64(key, buf, 0), RBX_E_MALFORMED);

    /* Whitespace or a newline inside, even at the right total length. */
    memcpy(buf, ALICE_PK_B64, len + 1);
    buf[5] = ' ';
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len), RBX_E_MALFORMED);
    memcpy(buf, ALICE_PK_B64, len + 1);
    buf[len - 1] = '\n';
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len), RBX_E_MALFORMED);
    memcpy(buf, ALICE_PK_B64, len + 1);
    buf[len - 1] = '\0';
    ck_assert_int_eq(rbx_key_from_base64(key, buf, len), RBX_E_MALFORMED);

    /* Bytes >= 0x80 in place of a digit (libsodium 1.0.18 alone takes them). */
    for (unsigned c = 0x80; c <= 0xff; c++) {
        memcpy(buf, ALICE_PK_B64, len + 1);
        buf[7] = (char)c;
        memset(key, 0xa5, 32);
        ck_assert_int_eq(rbx_key_from_base64(key, buf, len), RBX_E_MALFORMED);
        ck_assert(sodium_is_zero(key, 32));
    }

    /* 31 and 33 decoded bytes at 44 characters. */
    b64_of_len(buf, sizeof(buf), 31);
    ck_assert_int_eq(rbx_key_from_base64(key, buf, strlen(buf)), RBX_E_MALFORMED);
    b64_of_len(buf, sizeof(buf), 33);
    ck_assert_int_eq(rbx_key_from_base64(key, buf, strlen(buf)), RBX_E_MALFORMED);
}
END_TEST

Suite *suite_keys(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");

    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_json_product_format);
    tcase_add_test(tc, test_json_known_answer);
    tcase_add_test(tc, test_json_swapped_order);
    tcase_add_test(tc, test_json_whitespace);
    tcase_add_test(tc, test_json_length_and_nul);
    tcase_add_test(tc, test_json_wrong_decoded_length);
    tcase_add_test(tc, test_json_invalid_base64);
    tcase_add_test(tc, test_json_missing_padding);
    tcase_add_test(tc, test_json_missing_member);
    tcase_add_test(tc, test_json_duplicate_member);
    tcase_add_test(tc, test_json_unknown_member);
    tcase_add_test(tc, test_json_trailing_garbage);
    tcase_add_test(tc, test_json_bad_syntax);
    tcase_add_test(tc, test_json_truncated);
    tcase_add_test(tc, test_json_mismatch);
    tcase_add_test(tc, test_to_json_buffer);
    tcase_add_test(tc, test_raw);
    tcase_add_test(tc, test_raw_known_answer);
    tcase_add_test(tc, test_fingerprint_computed);
    tcase_add_test(tc, test_fingerprint_known_answer);
    tcase_add_test(tc, test_key_base64);
    suite_add_tcase(s, tc);
    return s;
}
