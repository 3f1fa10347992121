/* SPDX-License-Identifier: MIT
 * Library init, error strings and the checked X25519 every module uses. */
#include <stdlib.h>
#include <xeddsa.h>

#include "internal.h"

_Static_assert(RBX_E_COUNT_ == 16, "update the error string table");

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
};

const char *rbx_strerror(int code)
{
    if (code > 0 || code <= -RBX_E_COUNT_) return "unknown error";
    return rbx_errors[-code];
}

const char *rbx_version(void) { return "0.1.0"; }

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
     * which is what every low-order point gives (CONTEXT section 3). */
    if (!pk_is_canonical(pk) || crypto_scalarmult(out, sk, pk) != 0) {
        WIPE_BUF(out, 32);
        return RBX_E_KEY;
    }
    return 0;
}

int rbx__pk_is_valid(const uint8_t pk[32])
{
    /* A low-order point gives an all-zero product with any scalar; use a
     * fixed clamped scalar (the value does not matter, only the order). */
    static const uint8_t probe[32] = { 0x08, [31] = 0x40 };
    uint8_t out[32];
    int ok = pk_is_canonical(pk) && crypto_scalarmult(out, probe, pk) == 0;
    WIPE(out);
    return ok;
}

int rbx__keypair(uint8_t pk[32], uint8_t sk[32])
{
    return crypto_box_keypair(pk, sk) == 0 ? 0 : RBX_E_KEY;
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
