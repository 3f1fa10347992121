/* SPDX-License-Identifier: MIT
 * rbx_baseline_open (and _afternm) on today's envelope from outside. Input:
 *   byte 0       flags: 1 nonce NULL (plaintext row), 2 afternm, 4 small
 *                ptcap, 8 open in place (pt overlaps content)
 *   bytes 1..2   content length (little-endian, reduced mod the rest)
 *   then         content, then nonce (the remaining bytes)
 * Keys are fixed: the peer "baseline-peer" sealed to "baseline-me". */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static uint8_t me_pk[32], me_sk[32], peer_pk[32], peer_sk[32], shared[32];

static void gen_one(const char *name, uint8_t flags, const char *pt, size_t ptlen)
{
    char content[512], nonce[RBX_NONCE_B64BYTES];
    uint8_t in[600];
    FZ_CHECK(rbx_baseline_seal(content, sizeof content, nonce, (const uint8_t *)pt, ptlen, me_pk,
                               peer_sk) == 0);
    size_t clen = strlen(content), nlen = strlen(nonce);
    in[0] = flags;
    in[1] = (uint8_t)clen;
    in[2] = (uint8_t)(clen >> 8);
    memcpy(in + 3, content, clen);
    memcpy(in + 3 + clen, nonce, nlen);
    fz_gen_write(name, in, 3 + clen + nlen);
}

void fz_gen(void)
{
    static const char msg[] = "{\"type\":\"chat\",\"text\":\"hello from the baseline\"}";
    fz_rng_seed("gen", NULL, 0);
    gen_one("gen-open", 0, msg, sizeof msg - 1);
    gen_one("gen-open-empty", 0, "", 0);
    gen_one("gen-afternm-inplace", 2 | 8, msg, sizeof msg - 1);
    gen_one("gen-small-ptcap", 4, msg, sizeof msg - 1);
    static const uint8_t plain[] = { 1, 5, 0, 'p', 'l', 'a', 'i', 'n' };
    fz_gen_write("gen-plaintext-row", plain, sizeof plain);
}

void fz_setup(void)
{
    fz_keypair(me_pk, me_sk, "baseline-me");
    fz_keypair(peer_pk, peer_sk, "baseline-peer");
    FZ_CHECK(rbx_baseline_precompute(shared, peer_pk, me_sk) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    uint8_t flags = data[0];
    size_t rest = size - 3;
    size_t clen = ((size_t)data[1] | (size_t)data[2] << 8) % (rest + 1);
    size_t nlen = rest - clen;
    /* Separate heap copies so ASan sees any read past either string. */
    char *content = malloc(clen + 1);
    char *nonce = malloc(nlen + 1);
    FZ_CHECK(content != NULL && nonce != NULL);
    if (clen > 0) memcpy(content, data + 3, clen);
    if (nlen > 0) memcpy(nonce, data + 3 + clen, nlen);

    size_t ptcap = (flags & 4) ? clen / 2 : clen;
    uint8_t *own = malloc(ptcap + 1);
    FZ_CHECK(own != NULL);
    uint8_t *pt = (flags & 8) ? (uint8_t *)content : own;
    if (flags & 8) ptcap = clen;
    size_t ptlen = 1;
    const char *np = (flags & 1) ? NULL : nonce;
    int rc;
    if (flags & 2)
        rc = rbx_baseline_open_afternm(pt, ptcap, &ptlen, content, clen, np, nlen, shared);
    else
        rc = rbx_baseline_open(pt, ptcap, &ptlen, content, clen, np, nlen, peer_pk, me_sk);
    fz_debug("open (flags %u): %s", flags, rbx_strerror(rc));
    if (rc != 0) {
        FZ_CHECK(ptlen == 0);
    } else {
        FZ_CHECK(ptlen <= ptcap);
        if (np == NULL && !(flags & 8)) FZ_CHECK(ptlen == clen && memcmp(pt, data + 3, clen) == 0);
    }
    free(own);
    free(content);
    free(nonce);
    return 0;
}
