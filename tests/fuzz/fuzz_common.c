/* SPDX-License-Identifier: MIT */
#include "fuzz.h"

#include "cli/detrng.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RBX_SRCDIR
#define RBX_SRCDIR "."
#endif

_Noreturn void fz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
    abort();
}

void fz_debug(const char *fmt, ...)
{
    static int on = -1;
    if (on < 0) on = getenv("RBX_FUZZ_DEBUG") != NULL;
    if (!on) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- deterministic RNG: src/cli/detrng.c, keyed per input ---- */

void fz_rng_seed(const char *label, const uint8_t *data, size_t size)
{
    crypto_generichash_state h;
    uint8_t key[32];
    crypto_generichash_init(&h, NULL, 0, sizeof key);
    crypto_generichash_update(&h, (const uint8_t *)label, strlen(label));
    if (size > 0) crypto_generichash_update(&h, data, size);
    crypto_generichash_final(&h, key, sizeof key);
    rbx_detrng_install_key(key, NULL);
}

void fz_init(void)
{
    static int done;
    if (done) return;
    FZ_CHECK(rbx_init() == 0);
    fz_rng_seed("init", NULL, 0);
    done = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init();
    fz_setup();
    if (fz_gen_dir() != NULL) {
        fz_gen();
        exit(0);
    }
    return 0;
}

void fz_keypair(uint8_t pk[32], uint8_t sk[32], const char *label)
{
    crypto_generichash(sk, 32, (const uint8_t *)label, strlen(label), NULL, 0);
    FZ_CHECK(crypto_scalarmult_base(pk, sk) == 0);
}

rbx_prekeys *fz_prekeys(void)
{
    uint8_t pk[32], sk[32];
    rbx_prekeys *p = NULL;
    char label[32];
    fz_rng_seed("prekeys", NULL, 0); /* the XEdDSA signature's Z */
    fz_keypair(pk, sk, "bob-identity");
    FZ_CHECK(rbx_prekeys_new(&p, pk, sk) == 0);
    fz_keypair(pk, sk, "bob-spk-1");
    FZ_CHECK(rbx_prekeys_add_signed(p, FZ_SPK_ID, sk) == 0);
    for (uint32_t i = 0; i < FZ_OPK_COUNT; i++) {
        snprintf(label, sizeof label, "bob-opk-%u", (unsigned)(FZ_OPK_FIRST + i));
        fz_keypair(pk, sk, label);
        FZ_CHECK(rbx_prekeys_add_onetime(p, FZ_OPK_FIRST + i, sk) == 0);
    }
    sodium_memzero(sk, sizeof sk);
    return p;
}

fz_blob fz_save(const rbx_session *s)
{
    fz_blob b = { NULL, 0 };
    size_t need = 0;
    FZ_CHECK(rbx_session_serialize(NULL, 0, &need, s) == 0);
    b.p = malloc(need);
    FZ_CHECK(b.p != NULL);
    FZ_CHECK(rbx_session_serialize(b.p, need, &b.n, s) == 0 && b.n == need);
    return b;
}

rbx_session *fz_load(const fz_blob *b)
{
    rbx_session *s = NULL;
    FZ_CHECK(rbx_session_deserialize(&s, b->p, b->n) == 0);
    return s;
}

int fz_blob_eq(const fz_blob *a, const fz_blob *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

void fz_pair_blobs(fz_blob *alice, fz_blob *bob, int mode, int stage)
{
    uint8_t apk[32], ask[32], bundle[RBX_BUNDLE_MAXBYTES], wire[256], pt[64];
    size_t blen, wlen, ptlen;
    uint32_t used;
    rbx_bundle b;
    rbx_session *a = NULL, *s = NULL;
    /* FZ_MODE_HE: header encryption; FZ_MODE_V1: the hmac profile (version 1). */
    rbx_session_opts opts = { (mode & FZ_MODE_V1) ? RBX_PROFILE_HMAC : RBX_PROFILE_DEFAULT,
                              mode & FZ_MODE_HE };
    static const char *const seeds[4] = { "pair", "pair-he", "pair-v1", "pair-he-v1" };

    rbx_prekeys *pk = fz_prekeys();
    fz_rng_seed(seeds[mode & 3], NULL, 0);
    fz_keypair(apk, ask, "alice-identity");
    FZ_CHECK(rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pk, FZ_SPK_ID, FZ_OPK_FIRST) == 0);
    FZ_CHECK(rbx_bundle_parse(&b, bundle, blen) == 0);
    FZ_CHECK(rbx_session_initiate(&a, apk, ask, &b, &opts) == 0);
    FZ_CHECK(rbx_session_encrypt(a, wire, sizeof wire, &wlen, (const uint8_t *)"hello", 5) == 0);
    FZ_CHECK(rbx_session_accept(&s, pt, sizeof pt, &ptlen, &used, pk, NULL, wire, wlen) == 0);
    FZ_CHECK(ptlen == 5 && memcmp(pt, "hello", 5) == 0);
    if (stage == FZ_PAIR_ESTABLISHED) {
        FZ_CHECK(rbx_session_encrypt(s, wire, sizeof wire, &wlen, (const uint8_t *)"reply", 5) == 0);
        FZ_CHECK(rbx_session_decrypt(a, pt, sizeof pt, &ptlen, wire, wlen) == 0);
        FZ_CHECK(ptlen == 5 && memcmp(pt, "reply", 5) == 0);
    }
    *alice = fz_save(a);
    *bob = fz_save(s);
    rbx_session_free(a);
    rbx_session_free(s);
    rbx_prekeys_free(pk);
    sodium_memzero(ask, sizeof ask);
}

/* ---- seed corpus ---- */

const char *fz_gen_dir(void) { return getenv("RBX_FUZZ_GEN"); }

void fz_gen_write(const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fz_gen_dir(), name);
    FILE *fp = fopen(path, "wb");
    FZ_CHECK(fp != NULL);
    FZ_CHECK(n == 0 || fwrite(p, 1, n, fp) == n);
    FZ_CHECK(fclose(fp) == 0);
}

void fz_gen_write2(const char *name, uint8_t prefix, const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n + 1);
    FZ_CHECK(q != NULL);
    q[0] = prefix;
    if (n > 0) memcpy(q + 1, p, n);
    fz_gen_write(name, q, n + 1);
    free(q);
}

void fz_vectors(const char *file, const char *field,
                void (*fn)(const char *name, const uint8_t *p, size_t n, void *ctx), void *ctx)
{
    char path[1024], *line = NULL, name[256];
    size_t cap = 0;
    unsigned k = 0;
    snprintf(path, sizeof path, "%s/spec/vectors/%s", RBX_SRCDIR, file);
    FILE *fp = fopen(path, "r");
    FZ_CHECK(fp != NULL);
    size_t flen = strlen(field);
    while (getline(&line, &cap, fp) >= 0) {
        if (strncmp(line, field, flen) != 0 || strncmp(line + flen, " = ", 3) != 0) continue;
        const char *hex = line + flen + 3;
        size_t hlen = strcspn(hex, "\r\n");
        uint8_t *bin = malloc(hlen / 2 + 1);
        size_t blen = 0;
        FZ_CHECK(bin != NULL);
        FZ_CHECK(sodium_hex2bin(bin, hlen / 2 + 1, hex, hlen, NULL, &blen, NULL) == 0);
        snprintf(name, sizeof name, "vec-%.*s-%s-%02u", (int)(strcspn(file, ".")), file, field, k++);
        fn(name, bin, blen, ctx);
        free(bin);
    }
    free(line);
    fclose(fp);
}
