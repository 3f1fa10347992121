/* SPDX-License-Identifier: MIT
 * Seeded randomness for `rbx sim` (see detrng.h). */
#include "detrng.h"

#include <sodium.h>
#include <string.h>

/* Domain separation of the two streams derived from one seed. */
#define DOMAIN_LIBRARY "rbx-sim-library"
#define DOMAIN_SCHEDULE "rbx-sim-schedule"

static void derive_key(uint8_t key[32], uint64_t seed, const char *domain)
{
    uint8_t s[8];
    for (int i = 0; i < 8; i++) s[i] = (uint8_t)(seed >> (8 * i));
    crypto_generichash(key, 32, s, sizeof s, (const uint8_t *)domain, strlen(domain));
}

/* ------------------------------------------------------------ library */

static uint8_t lib_key[32];
static uint64_t lib_counter;
static void (*lib_tap)(const void *buf, size_t len);

static const char *lib_name(void) { return "rbx-sim-deterministic"; }

/* Each request gets its own 32-byte seed, BLAKE2b(lib_key, counter), and
 * libsodium's deterministic ChaCha20 output for it: requests of any size
 * never overlap and the sequence depends only on the order of requests. */
static void lib_buf(void *out, size_t size)
{
    uint8_t ctr[8], seed[randombytes_SEEDBYTES];
    for (int i = 0; i < 8; i++) ctr[i] = (uint8_t)(lib_counter >> (8 * i));
    lib_counter++;
    crypto_generichash(seed, sizeof seed, ctr, sizeof ctr, lib_key, sizeof lib_key);
    randombytes_buf_deterministic(out, size, seed);
    sodium_memzero(seed, sizeof seed);
    if (lib_tap != NULL) lib_tap(out, size);
}

static uint32_t lib_random(void)
{
    uint8_t b[4];
    lib_buf(b, sizeof b);
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}

static struct randombytes_implementation lib_impl = {
    .implementation_name = lib_name,
    .random = lib_random,
    .stir = NULL,
    .uniform = NULL, /* libsodium derives uniform() from random() */
    .buf = lib_buf,
    .close = NULL,
};

void rbx_detrng_install_key(const uint8_t key[32], void (*tap)(const void *buf, size_t len))
{
    memcpy(lib_key, key, sizeof lib_key);
    lib_counter = 0;
    lib_tap = tap;
    (void)randombytes_set_implementation(&lib_impl);
}

void rbx_detrng_install(uint64_t seed)
{
    uint8_t key[32];
    derive_key(key, seed, DOMAIN_LIBRARY);
    rbx_detrng_install_key(key, NULL);
    sodium_memzero(key, sizeof key);
}

void rbx_detrng_uninstall(void)
{
    (void)randombytes_set_implementation(&randombytes_sysrandom_implementation);
    sodium_memzero(lib_key, sizeof lib_key);
    lib_counter = 0;
    lib_tap = NULL;
}

/* ------------------------------------------------------------ schedule */

void rbx_detrng_init(rbx_detrng *r, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    derive_key(r->key, seed, DOMAIN_SCHEDULE);
    r->pos = sizeof r->buf;
}

void rbx_detrng_wipe(rbx_detrng *r)
{
    sodium_memzero(r, sizeof *r);
}

static uint64_t next64(rbx_detrng *r)
{
    if (r->pos + 8 > sizeof r->buf) {
        uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
        for (int i = 0; i < 8; i++) nonce[i] = (uint8_t)(r->block >> (8 * i));
        r->block++;
        crypto_stream_chacha20(r->buf, sizeof r->buf, nonce, r->key);
        r->pos = 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->buf[r->pos + (size_t)i] << (8 * i);
    r->pos += 8;
    return v;
}

double rbx_detrng_unit(rbx_detrng *r)
{
    return (double)(next64(r) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

int rbx_detrng_chance(rbx_detrng *r, double p)
{
    /* Draw even when the answer is certain, so that changing one probability
     * does not shift every later choice. */
    double u = rbx_detrng_unit(r);
    return u < p;
}

uint32_t rbx_detrng_range(rbx_detrng *r, uint32_t lo, uint32_t hi)
{
    uint64_t span = (uint64_t)hi - lo + 1;
    /* Rejection sampling keeps it exactly uniform. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % span);
    uint64_t v;
    do v = next64(r);
    while (v >= limit);
    return lo + (uint32_t)(v % span);
}
