/* SPDX-License-Identifier: MIT
 * XEdDSA (Signal's XEdDSA spec, sections 2.3 and 3) through libxeddsa, in the
 * spec form: the Edwards public key is taken with sign bit 0, so signatures
 * never carry the Edwards sign bit in the top bit of byte 63, as libsignal's
 * do (spec verifiers reject those). */
#ifndef RBX_SIGN_H
#define RBX_SIGN_H

#include <stddef.h>
#include <stdint.h>

/* Sign msg with an X25519 secret key (clamped or not: libxeddsa clamps). */
void rbx__xeddsa_sign(uint8_t sig[64], const uint8_t sk[32], const uint8_t *msg, size_t len);
/* 0 or RBX_E_SIGNATURE. */
int rbx__xeddsa_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *msg,
                       size_t len);

/* The signed-prekey statement: "ratchetbox-spk-v1" || be32(id) || spk. */
#define RBX_SPK_STATEMENT_BYTES (17U + 4U + 32U)
void rbx__spk_statement(uint8_t out[RBX_SPK_STATEMENT_BYTES], uint32_t id, const uint8_t spk[32]);

/* The statement of a signed prekey with a stated creation time (bundle field
 * 8): "ratchetbox-spk-v2" || be32(id) || be64(created) || spk. Its own domain
 * string, so a v1 signature never verifies as v2 or the reverse. */
#define RBX_SPK_STATEMENT_V2_BYTES (17U + 4U + 8U + 32U)
void rbx__spk_statement_v2(uint8_t out[RBX_SPK_STATEMENT_V2_BYTES], uint32_t id, uint64_t created,
                           const uint8_t spk[32]);

#endif
