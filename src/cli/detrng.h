/* SPDX-License-Identifier: MIT
 * Deterministic randomness for the simulator, the tests' vectors and the
 * fuzzers, one implementation for all three (STYLE.md "API" 8: a
 * deterministic RNG hook for tests, vectors and simulations, never a
 * parameter of the production API).
 *
 * Two independent streams are derived from one 64-bit seed:
 *  - the library stream, installed as libsodium's randombytes
 *    implementation, so every key the library generates is reproducible;
 *  - a schedule stream (rbx_detrng) for the simulation's own choices (who
 *    speaks, what is lost or late). Keeping it separate means the same seed
 *    gives the same conversation schedule whether or not header encryption
 *    or the store (which draw different amounts of library randomness) is on.
 * Neither is secret: this is for reproducible experiments, never for use. */
#ifndef RBX_CLI_DETRNG_H
#define RBX_CLI_DETRNG_H

#include <stddef.h>
#include <stdint.h>

/* Replace libsodium's RNG by a ChaCha20 stream keyed from seed. Call before
 * any key is generated; rbx_detrng_uninstall() restores the system RNG. */
void rbx_detrng_install(uint64_t seed);
/* The same from a 32-byte key (the tests' vectors and the fuzzers derive
 * their own); tap, if not NULL, sees every byte handed out (vector logs). */
void rbx_detrng_install_key(const uint8_t key[32], void (*tap)(const void *buf, size_t len));
void rbx_detrng_uninstall(void);

/* The schedule stream. */
typedef struct rbx_detrng {
    uint8_t key[32];
    uint64_t block;     /* next ChaCha20 nonce */
    uint8_t buf[256];
    size_t pos;         /* bytes of buf already handed out */
} rbx_detrng;

void rbx_detrng_init(rbx_detrng *r, uint64_t seed);
void rbx_detrng_wipe(rbx_detrng *r);
/* Uniform in [0, 1) with 53 bits. */
double rbx_detrng_unit(rbx_detrng *r);
/* 1 with probability p (p <= 0: never, p >= 1: always). */
int rbx_detrng_chance(rbx_detrng *r, double p);
/* Uniform in [lo, hi], lo <= hi. */
uint32_t rbx_detrng_range(rbx_detrng *r, uint32_t lo, uint32_t hi);

#endif
