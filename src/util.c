/* SPDX-License-Identifier: MIT
 * Library init, error strings and the checked X25519 every module uses. */
#include <stdlib.h>
#include <xeddsa.h>

#include "internal.h"

_Static_assert(RBX_E_COUNT_ == 31, "update the error string table");

static const char *const rbx_errors[RBX_E_COUNT_] = {
    "success",
    "invalid argument",
    "out of memory",
    "malformed input",
    "unsupported version",
    "authentication failed",
    "bad signature",
    "invalid key",
    "unknown prekey",
    "one-time prekey already used",
    "peer identity changed",
    "message already received or its key discarded",
    "limit reached",
    "input too large",
    "output buffer too small",
    "operation not possible in this state",
    "storage error",
    "database or key file damaged",
    "wrong storage key",
    "database written by a newer version",
    "database rolled back: re-establish the session",
    "already exists",
    "not found",
    "rotation records do not form a chain",
    "rotation replayed or rolled back",
    "key not certified by the organisation",
    "key revoked by the organisation",
    "key past its allowed age",
    "policy value out of range",
    "database changed without the storage key",
    "unsafe state file: other users may read or change it, or not a regular file",
};

const char *rbx_strerror(int code)
{
    if (code > 0 || code <= -RBX_E_COUNT_) return "unknown error";
    return rbx_errors[-code];
}

const char *rbx_version(void) { return "0.2.0"; }

int rbx_init(void)
{
    if (sodium_init() < 0) return RBX_E_NOMEM;
    /* libxeddsa's init only initialises libsodium again; checked anyway. */
    if (xeddsa_init() < 0) return RBX_E_NOMEM;
    return 0;
}

/* p = 2^255 - 19, little-endian. */
static const uint8_t field_p[32] = {
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
};

/* Public keys are canonical u-coordinates: top bit clear and u < p. RFC 7748
 * masks the top bit silently; refusing it keeps one encoding per key. */
static int pk_is_canonical(const uint8_t pk[32])
{
    if (pk[31] & 0x80) return 0;
    return sodium_compare(pk, field_p, 32) < 0;
}

int rbx__dh(uint8_t out[32], const uint8_t sk[32], const uint8_t pk[32])
{
    /* crypto_scalarmult clamps sk and returns -1 for an all-zero result,
     * which is what every low-order point gives. */
    if (!pk_is_canonical(pk) || crypto_scalarmult(out, sk, pk) != 0) {
        WIPE_BUF(out, 32);
        return RBX_E_KEY;
    }
    return 0;
}

/* The canonical encodings of the points of order 1, 2, 4 and 8 (RFC 7748
 * section 7; the same list libsodium refuses in crypto_scalarmult). A table
 * lookup instead of a scalar multiplication: these are public keys, and a
 * multiplication here would cost as much as a DH. */
static const uint8_t low_order[5][32] = {
    { 0 },
    { 1 },
    { 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
      0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
    { 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
      0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
    { 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

int rbx__pk_is_valid(const uint8_t pk[32])
{
    if (!pk_is_canonical(pk)) return 0;
    for (size_t i = 0; i < RBX_COUNTOF(low_order); i++)
        if (memcmp(pk, low_order[i], 32) == 0) return 0;
    return 1;
}

int rbx__keypair_matches(const uint8_t pk[32], const uint8_t sk[32])
{
    uint8_t derived[32];
    int ok = crypto_scalarmult_base(derived, sk) == 0 && crypto_verify_32(derived, pk) == 0;
    WIPE(derived);
    return ok;
}

/* libsodium 1.0.18 (where char is signed) decodes every byte >= 0x80 as a
 * base64 digit, which would give one key or envelope many spellings; such
 * bytes are refused first, by OR-ing all bytes rather than branching on each
 * (possibly secret) one. */
int rbx__base64_decode(uint8_t *bin, size_t bincap, size_t *binlen, const char *b64,
                       size_t b64len)
{
    unsigned char high = 0;
    for (size_t i = 0; i < b64len; i++) high |= (unsigned char)b64[i];
    if ((high & 0x80U) != 0U) {
        *binlen = 0;
        return -1;
    }
    return sodium_base642bin(bin, bincap, b64, b64len, NULL, binlen, NULL,
                             sodium_base64_VARIANT_ORIGINAL);
}

int rbx__keypair(uint8_t pk[32], uint8_t sk[32])
{
    if (crypto_box_keypair(pk, sk) != 0) {
        WIPE_BUF(pk, 32);
        WIPE_BUF(sk, 32);
        return RBX_E_KEY;
    }
    return 0;
}

int rbx__grow(void **p, size_t *cap, size_t n, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / elem) return RBX_E_NOMEM;
    void *q = malloc(c * elem);
    if (q == NULL) return RBX_E_NOMEM;
    if (n) memcpy(q, *p, n * elem);
    if (*p != NULL) {
        WIPE_BUF(*p, *cap * elem);
        free(*p);
    }
    *p = q;
    *cap = c;
    return 0;
}

void rbx__erase(void *arr, size_t *n, size_t idx, size_t elem)
{
    uint8_t *a = arr;
    memmove(a + idx * elem, a + (idx + 1) * elem, (*n - idx - 1) * elem);
    (*n)--;
    WIPE_BUF(a + *n * elem, elem);
}
