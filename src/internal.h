/* SPDX-License-Identifier: MIT
 * Internal helpers shared by every source file. Never installed. Everything
 * declared in the src/ headers has hidden visibility (the library is built with
 * -fvisibility=hidden); tests reach it through the static library. */
#ifndef RBX_INTERNAL_H
#define RBX_INTERNAL_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ratchetbox.h"

/* Wipe a secret array or struct (Monocypher WIPE_BUFFER, libsodium crypto_kx.c). */
#define WIPE(x) sodium_memzero(&(x), sizeof(x))
/* Wipe n bytes behind a pointer. */
#define WIPE_BUF(p, n) sodium_memzero((p), (n))

#define RBX_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void rbx__store32_be(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static inline uint32_t rbx__load32_be(const uint8_t in[4])
{
    return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) |
           (uint32_t)in[3];
}

static inline void rbx__store64_be(uint8_t out[8], uint64_t v)
{
    rbx__store32_be(out, (uint32_t)(v >> 32));
    rbx__store32_be(out + 4, (uint32_t)v);
}

static inline uint64_t rbx__load64_be(const uint8_t in[8])
{
    return ((uint64_t)rbx__load32_be(in) << 32) | rbx__load32_be(in + 4);
}

/* X25519 with the checks the protocol needs: the peer key must be canonical
 * (u < 2^255 - 19) and the result must not be all-zero (low-order input).
 * Returns 0 or RBX_E_KEY; out is zeroed on error. */
int rbx__dh(uint8_t out[32], const uint8_t sk[32], const uint8_t pk[32]);

/* 1 if pk is a canonical u-coordinate that is not of low order, else 0. */
int rbx__pk_is_valid(const uint8_t pk[32]);

/* Fresh X25519 key pair from libsodium's RNG; both zeroed on error. */
int rbx__keypair(uint8_t pk[32], uint8_t sk[32]);

/* 1 if pk is the public key of sk (crypto_scalarmult_base clamps its own
 * copy of the scalar, so an unclamped box secret key matches), else 0. */
int rbx__keypair_matches(const uint8_t pk[32], const uint8_t sk[32]);

/* Strict standard padded base64 (sodium_base64_VARIANT_ORIGINAL): no
 * whitespace, no missing '=', no trailing bytes, zero padding bits, and no
 * byte >= 0x80. Returns 0 or -1; *binlen is 0 on error. */
int rbx__base64_decode(uint8_t *bin, size_t bincap, size_t *binlen, const char *b64,
                       size_t b64len);

/* Grow an array that holds secrets to at least need elements of elem bytes:
 * a new block, copy, wipe and free the old (realloc could leave copies).
 * 0 or RBX_E_NOMEM, in which case nothing changed. */
int rbx__grow(void **p, size_t *cap, size_t n, size_t need, size_t elem);

/* Remove element idx (< *n) of an array that holds secrets: the later ones
 * move down, *n drops by one and the freed last slot is wiped. */
void rbx__erase(void *arr, size_t *n, size_t idx, size_t elem);

#endif
