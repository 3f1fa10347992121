/* SPDX-License-Identifier: MIT
 * Key derivation: HKDF-SHA256 (RFC 5869), the Double Ratchet's KDF_RK and
 * KDF_CK, message-key expansion, and the X3DH KDF, under a KDF profile.
 * PROTOCOL.md "Key derivation" gives every info string and length. */
#ifndef RBX_KDF_H
#define RBX_KDF_H

#include <stddef.h>
#include <stdint.h>

#define RBX_KEYBYTES 32U
#define RBX_AEAD_NONCEBYTES 24U
#define RBX_AEAD_TAGBYTES 16U
/* X3DH and KDF_RK both yield three 32-byte keys (PROTOCOL.md). */
#define RBX_KDF_OUTBYTES 96U

typedef struct rbx__profile {
    const char *x3dh_info;   /* X3DH: F || DH1..DH4 -> SK || HK_A || NHK_B */
    const char *root_info;   /* KDF_RK: -> RK || CK || NHK */
    const char *msg_info;    /* message key -> AEAD key || nonce */
    int signal_msg_keys;     /* 1: Signal's 80-byte HKDF with zero salt */
} rbx__profile;

/* NULL for an unknown profile number. */
const rbx__profile *rbx__profile_get(unsigned profile);

/* RFC 5869. Hand-written on crypto_auth_hmacsha256 because libsodium 1.0.18
 * (Debian 12) has no HKDF. */
void rbx__hkdf_extract(uint8_t prk[32], const uint8_t *salt, size_t saltlen,
                       const uint8_t *ikm, size_t ikmlen);
/* outlen <= 255 * 32. */
int rbx__hkdf_expand(uint8_t *out, size_t outlen, const uint8_t prk[32],
                     const uint8_t *info, size_t infolen);
int rbx__hkdf(uint8_t *out, size_t outlen, const uint8_t *salt, size_t saltlen,
              const uint8_t *ikm, size_t ikmlen, const uint8_t *info, size_t infolen);

/* KDF_CK: mk = HMAC(ck, 0x01), ck_next = HMAC(ck, 0x02) (DR spec 5.2).
 * ck_next may alias ck. */
void rbx__kdf_ck(uint8_t ck_next[32], uint8_t mk[32], const uint8_t ck[32]);

/* KDF_RK: HKDF(salt = rk, ikm = dh, info = root_info, 96) -> rk_next || ck || nhk.
 * rk_next may alias rk. */
void rbx__kdf_rk(uint8_t rk_next[32], uint8_t ck[32], uint8_t nhk[32],
                 const uint8_t rk[32], const uint8_t dh[32], const rbx__profile *p);

/* Message key -> XChaCha20-Poly1305 key and nonce. */
void rbx__message_keys(uint8_t key[32], uint8_t nonce[24], const uint8_t mk[32],
                       const rbx__profile *p);

/* X3DH KDF: HKDF(salt = 32 zero bytes, ikm = 32 x 0xff || dhs, info, 96). */
void rbx__x3dh_kdf(uint8_t out[RBX_KDF_OUTBYTES], const uint8_t *dhs, size_t dhslen,
                   const rbx__profile *p);

#endif
