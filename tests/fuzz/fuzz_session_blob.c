/* SPDX-License-Identifier: MIT
 * rbx_session_deserialize on bytes as read back from the database. A blob that
 * loads must serialize to the same bytes, and the loaded session must survive
 * an encrypt and a decrypt (of its own output and of a fixed peer message). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static fz_blob peer_msg[FZ_MODES];
static const char *const mode_names[FZ_MODES] = { "clear", "he", "clear-v1", "he-v1" };

static void gen_blob(const char *name, const rbx_session *s)
{
    fz_blob b = fz_save(s);
    fz_gen_write(name, b.p, b.n);
    free(b.p);
}

void fz_gen(void)
{
    char name[64];
    for (int he = 0; he < FZ_MODES; he++) {
        for (int stage = 0; stage < 2; stage++) {
            fz_blob a, b;
            fz_pair_blobs(&a, &b, he, stage);
            snprintf(name, sizeof name, "gen-%s-%s-alice", mode_names[he],
                     stage ? "established" : "handshake");
            fz_gen_write(name, a.p, a.n);
            snprintf(name, sizeof name, "gen-%s-%s-bob", mode_names[he],
                     stage ? "established" : "handshake");
            fz_gen_write(name, b.p, b.n);
            if (stage == FZ_PAIR_ESTABLISHED) {
                /* Bob with skipped keys: Alice's messages 1 and 3 of 4 arrive. */
                rbx_session *sa = fz_load(&a), *sb = fz_load(&b);
                uint8_t wire[256], pt[256];
                size_t wlen, ptlen;
                fz_rng_seed("gen", NULL, 0);
                for (int i = 0; i < 4; i++) {
                    FZ_CHECK(rbx_session_encrypt(sa, wire, sizeof wire, &wlen,
                                                 (const uint8_t *)"abcd", 4) == 0);
                    if (i == 1 || i == 3)
                        FZ_CHECK(rbx_session_decrypt(sb, pt, sizeof pt, &ptlen, wire, wlen) == 0);
                }
                snprintf(name, sizeof name, "gen-%s-skipped-bob", mode_names[he]);
                gen_blob(name, sb);
                rbx_session_free(sa);
                rbx_session_free(sb);
            }
            free(a.p);
            free(b.p);
        }
    }
}

void fz_setup(void)
{
    /* A message from the fixed established Alice, to feed any loaded session. */
    for (int he = 0; he < FZ_MODES; he++) {
        fz_blob a, b;
        uint8_t wire[256];
        fz_pair_blobs(&a, &b, he, FZ_PAIR_ESTABLISHED);
        rbx_session *sa = fz_load(&a);
        FZ_CHECK(rbx_session_encrypt(sa, wire, sizeof wire, &peer_msg[he].n,
                                     (const uint8_t *)"peer", 4) == 0);
        peer_msg[he].p = malloc(peer_msg[he].n);
        FZ_CHECK(peer_msg[he].p != NULL);
        memcpy(peer_msg[he].p, wire, peer_msg[he].n);
        rbx_session_free(sa);
        free(a.p);
        free(b.p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rbx_session *s = NULL;
    int rc = rbx_session_deserialize(&s, data, size);
    fz_debug("deserialize: %s", rbx_strerror(rc));
    if (rc != 0) {
        FZ_CHECK(s == NULL);
        return 0;
    }
    fz_rng_seed("session-blob", data, size);
    fz_blob b = fz_save(s);
    FZ_CHECK(b.n == size && memcmp(b.p, data, size) == 0);
    free(b.p);

    rbx_session_info info;
    rbx_session_get_info(&info, s);
    uint8_t pt[64];
    size_t wcap = rbx_session_wire_size(s, 5), wlen = 0, ptlen = 0;
    uint8_t *wire = malloc(wcap);
    FZ_CHECK(wire != NULL);
    rc = rbx_session_encrypt(s, wire, wcap, &wlen, (const uint8_t *)"fuzz!", 5);
    FZ_CHECK(rc == 0 || wlen == 0);
    if (rc == 0) {
        FZ_CHECK(wlen <= wcap);
        (void)rbx_session_decrypt(s, pt, sizeof pt, &ptlen, wire, wlen);
    }
    for (int he = 0; he < FZ_MODES; he++) {
        fz_blob before = fz_save(s);
        rc = rbx_session_decrypt(s, pt, sizeof pt, &ptlen, peer_msg[he].p, peer_msg[he].n);
        if (rc != 0) {
            fz_blob after = fz_save(s);
            FZ_CHECK(fz_blob_eq(&before, &after));
            free(after.p);
        }
        free(before.p);
    }
    free(wire);
    rbx_session_free(s);
    return 0;
}
