/* SPDX-License-Identifier: MIT
 * Key import from outside bytes: rbx_keypair_from_json, rbx_keypair_from_raw
 * and rbx_key_from_base64, each on the whole input. An imported pair must
 * export and re-import to the same keys; a refused one leaves zeros. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const uint8_t zero64[64];

void fz_gen(void)
{
    uint8_t pk[32], sk[32], raw[64];
    char json[RBX_KEYPAIR_JSONBYTES], b64[RBX_KEY_B64BYTES];
    fz_keypair(pk, sk, "key-import");
    FZ_CHECK(rbx_keypair_to_json(json, sizeof json, pk, sk) == 0);
    fz_gen_write("gen-json", (const uint8_t *)json, strlen(json));
    char buf[256], skb[RBX_KEY_B64BYTES];
    rbx_key_to_base64(b64, pk);
    rbx_key_to_base64(skb, sk);
    snprintf(buf, sizeof buf, " {\n  \"secretKey\" : \"%s\",\n\t\"publicKey\":\"%s\" }\n", skb,
             b64);
    fz_gen_write("gen-json-reordered", (const uint8_t *)buf, strlen(buf));
    memcpy(raw, pk, 32);
    memcpy(raw + 32, sk, 32);
    fz_gen_write("gen-raw", raw, sizeof raw);
    fz_gen_write("gen-b64", (const uint8_t *)b64, strlen(b64));
}

void fz_setup(void) {}

static void roundtrip(const uint8_t pk[32], const uint8_t sk[32])
{
    char json[RBX_KEYPAIR_JSONBYTES];
    uint8_t pk2[32], sk2[32];
    FZ_CHECK(rbx_keypair_to_json(json, sizeof json, pk, sk) == 0);
    FZ_CHECK(rbx_keypair_from_json(pk2, sk2, json, strlen(json)) == 0);
    FZ_CHECK(memcmp(pk, pk2, 32) == 0 && memcmp(sk, sk2, 32) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t pk[32], sk[32], key[32];
    /* A private copy without a terminating NUL: the parsers get (ptr, len). */
    char *text = malloc(size + 1);
    FZ_CHECK(text != NULL);
    if (size > 0) memcpy(text, data, size);

    memset(pk, 0xa5, sizeof pk);
    memset(sk, 0xa5, sizeof sk);
    if (rbx_keypair_from_json(pk, sk, text, size) == 0)
        roundtrip(pk, sk);
    else
        FZ_CHECK(memcmp(pk, zero64, 32) == 0 && memcmp(sk, zero64, 32) == 0);

    memset(pk, 0xa5, sizeof pk);
    memset(sk, 0xa5, sizeof sk);
    if (rbx_keypair_from_raw(pk, sk, data, size) == 0) {
        FZ_CHECK(size == 64 && memcmp(pk, data, 32) == 0 && memcmp(sk, data + 32, 32) == 0);
        roundtrip(pk, sk);
    } else {
        FZ_CHECK(memcmp(pk, zero64, 32) == 0 && memcmp(sk, zero64, 32) == 0);
    }

    memset(key, 0xa5, sizeof key);
    if (rbx_key_from_base64(key, text, size) == 0) {
        char b64[RBX_KEY_B64BYTES];
        rbx_key_to_base64(b64, key);
        FZ_CHECK(size == 44 && memcmp(b64, data, 44) == 0);
    } else {
        FZ_CHECK(memcmp(key, zero64, 32) == 0);
    }
    free(text);
    return 0;
}
