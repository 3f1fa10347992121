/* SPDX-License-Identifier: MIT */
#include "sign.h"

#include <stdbool.h>
#include <xeddsa.h>

#include "internal.h"

void rbx__xeddsa_sign(uint8_t sig[64], const uint8_t sk[32], const uint8_t *msg, size_t len)
{
    uint8_t a[32], z[64];
    /* XEdDSA 2.3 calculate_key_pair: a = k or -k so that A has sign bit 0. */
    priv_force_sign(a, sk, false);
    randombytes_buf(z, sizeof z);
    ed25519_priv_sign(sig, a, msg, (uint32_t)len, z);
    WIPE(a);
    WIPE(z);
}

int rbx__xeddsa_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *msg,
                       size_t len)
{
    uint8_t ed[32];
    /* XEdDSA spec, xeddsa_verify: reject u >= p and s >= 2^253 before converting; the latter
     * is what refuses libsignal's form, which carries the Edwards sign bit in
     * the top bit of the signature (byte 63). Low-order
     * u is refused too: no identity key may be one. */
    if (!rbx__pk_is_valid(pk) || (sig[63] & 0xe0) != 0 || len > UINT32_MAX)
        return RBX_E_SIGNATURE;
    curve25519_pub_to_ed25519_pub(ed, pk, false);
    return ed25519_verify(sig, ed, msg, (uint32_t)len) == 0 ? 0 : RBX_E_SIGNATURE;
}

void rbx__spk_statement(uint8_t out[RBX_SPK_STATEMENT_BYTES], uint32_t id, const uint8_t spk[32])
{
    memcpy(out, "ratchetbox-spk-v1", 17);
    rbx__store32_be(out + 17, id);
    memcpy(out + 21, spk, 32);
}

void rbx__spk_statement_v2(uint8_t out[RBX_SPK_STATEMENT_V2_BYTES], uint32_t id, uint64_t created,
                           const uint8_t spk[32])
{
    memcpy(out, "ratchetbox-spk-v2", 17);
    rbx__store32_be(out + 17, id);
    rbx__store64_be(out + 21, created);
    memcpy(out + 29, spk, 32);
}
