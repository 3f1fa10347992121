/* SPDX-License-Identifier: MIT
 * rbx_session_decrypt on outside bytes, against a fixed established session.
 * Byte 0 picks the session: bit 0 clear = clear headers, set = encrypted
 * headers (DR spec 4); bit 1 set = protocol version 1 (hmac profile), clear
 * = version 2 (the default). Invariants: a refused message leaves the session
 * byte-identical; an accepted one cannot be accepted twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static fz_blob sender[FZ_MODES], receiver[FZ_MODES], sender0[FZ_MODES];
static const char *const mode_names[FZ_MODES] = { "clear", "he", "clear-v1", "he-v1" };

static void gen_vec(const char *name, const uint8_t *p, size_t n, void *ctx)
{
    fz_gen_write2(name, (uint8_t)(*(const int *)ctx), p, n);
}

static void gen_mode(int he)
{
    /* he: the mode (FZ_MODE_*) */
    uint8_t wire[512], pt[100];
    size_t wlen;
    char name[64];
    memset(pt, 'm', sizeof pt);
    fz_rng_seed("gen", NULL, 0);
    rbx_session *a = fz_load(&sender[he]);
    /* Messages 0..3 of Alice's second chain; 3 arrives first (skips 0..2). */
    for (unsigned i = 0; i < 4; i++) {
        FZ_CHECK(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, i * 30) == 0);
        snprintf(name, sizeof name, "gen-%s-msg%u", mode_names[he], i);
        fz_gen_write2(name, (uint8_t)he, wire, wlen);
    }
    rbx_session_free(a);
    /* One more PreKeyMessage Alice sent before she saw the reply. */
    a = fz_load(&sender0[he]);
    FZ_CHECK(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, 7) == 0);
    snprintf(name, sizeof name, "gen-%s-prekey", mode_names[he]);
    fz_gen_write2(name, (uint8_t)he, wire, wlen);
    rbx_session_free(a);
}

void fz_gen(void)
{
    int clear = 0, he = FZ_MODE_HE, clear1 = FZ_MODE_V1, he1 = FZ_MODE_V1 | FZ_MODE_HE;
    for (int m = 0; m < FZ_MODES; m++) gen_mode(m);
    fz_vectors("fast-out-of-order.txt", "wire", gen_vec, &clear);
    fz_vectors("fast-header-encryption.txt", "wire", gen_vec, &he);
    fz_vectors("out-of-order.txt", "wire", gen_vec, &clear1);
    fz_vectors("header-encryption.txt", "wire", gen_vec, &he1);
}

void fz_setup(void)
{
    for (int he = 0; he < FZ_MODES; he++) {
        fz_blob tmp;
        fz_pair_blobs(&sender[he], &receiver[he], he, FZ_PAIR_ESTABLISHED);
        fz_pair_blobs(&sender0[he], &tmp, he, FZ_PAIR_HANDSHAKE);
        free(tmp.p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int he = data[0] & (FZ_MODES - 1);
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t ptlen = 1;
    uint8_t *pt = malloc(len + 1);
    FZ_CHECK(pt != NULL);

    fz_rng_seed("message", data, size);
    rbx_session *s = fz_load(&receiver[he]);
    int rc = rbx_session_decrypt(s, pt, len, &ptlen, in, len);
    fz_debug("decrypt (he=%d): %s", he, rbx_strerror(rc));
    fz_blob after = fz_save(s);
    if (rc != 0) {
        FZ_CHECK(ptlen == 0);
        FZ_CHECK(fz_blob_eq(&after, &receiver[he]));
    } else {
        FZ_CHECK(ptlen <= len);
        FZ_CHECK(rbx_session_decrypt(s, pt, len, &ptlen, in, len) != 0);
        fz_blob again = fz_save(s);
        FZ_CHECK(ptlen == 0 && fz_blob_eq(&after, &again));
        free(again.p);
        uint8_t reply[256];
        size_t rlen;
        FZ_CHECK(rbx_session_encrypt(s, reply, sizeof reply, &rlen, (const uint8_t *)"ok", 2) == 0);
    }
    free(after.p);
    rbx_session_free(s);
    free(pt);
    return 0;
}
