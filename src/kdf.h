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
#define RBX_AEAD12_NONCEBYTES 12U
#define RBX_AEAD_TAGBYTES 16U
/* X3DH and KDF_RK both yield three 32-byte keys (PROTOCOL.md). */
#define RBX_KDF_OUTBYTES 96U
/* Version 2's sender randomness R per message (PROTOCOL.md 4.5). */
#define RBX_SALTBYTES 16U
/* Positions per block of profile 2's two-level chain (PROTOCOL.md 4.4). */
#define RBX_CHAIN_BLOCK 32U

/* The highest protocol version this build speaks. The v1-only reader of
 * make check (tests/v1reader.c) is built with -DRBX_MAX_VERSION=1: it then
 * knows profiles 0 and 1 only, as ratchetbox 0.1.0 did. */
#ifndef RBX_MAX_VERSION
#define RBX_MAX_VERSION 2U
#endif

/* How a profile turns a message key into the body's AEAD key and nonce. */
enum { RBX__MK_HMAC, RBX__MK_SIGNAL, RBX__MK_FAST };

typedef struct rbx__profile {
    unsigned version;        /* protocol version of its sessions: 1 or 2 */
    const char *x3dh_info;   /* X3DH: F || DH1..DH4 -> SK || HK_A || NHK_B */
    const char *root_info;   /* KDF_RK: -> RK || C || NHK */
    const char *msg_info;    /* message key -> AEAD key || nonce (RBX__MK_HMAC, _SIGNAL) */
    int msg_keys;            /* RBX__MK_*; RBX__MK_FAST also means the BLAKE2b block chain */
} rbx__profile;

/* NULL for an unknown profile number (or one above RBX_MAX_VERSION). */
const rbx__profile *rbx__profile_get(unsigned profile);

/* 1 if the profile's bodies use ChaCha20-Poly1305 (IETF, 12-byte nonce),
 * 0 for XChaCha20-Poly1305 (24-byte nonce). */
static inline int rbx__profile_aead12(const rbx__profile *p) { return p->msg_keys == RBX__MK_FAST; }

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

/* A sending or receiving chain (PROTOCOL.md 4.4): the chain key ck of the
 * next position and, in profile 2, the block key bk of the next block (all
 * zero in profiles 0 and 1). Each works in place on (ck, bk).
 * init: start a chain from KDF_RK's chain output c (may alias ck).
 * next: the message key of position n and the state of n + 1.
 * jump: the state of position to >= from, as (to - from) next calls would
 *       leave it, without their message keys: at most 31 block and 31 chain
 *       steps in profile 2, to - from HMACs in profiles 0 and 1. */
void rbx__chain_init(uint8_t ck[32], uint8_t bk[32], const uint8_t c[32], const rbx__profile *p);
void rbx__chain_next(uint8_t ck[32], uint8_t bk[32], uint8_t mk[32], uint32_t n,
                     const rbx__profile *p);
void rbx__chain_jump(uint8_t ck[32], uint8_t bk[32], uint32_t from, uint32_t to,
                     const rbx__profile *p);

/* KDF_RK: HKDF(salt = rk, ikm = dh, info = root_info, 96) -> rk_next || ck || nhk.
 * rk_next may alias rk. */
void rbx__kdf_rk(uint8_t rk_next[32], uint8_t ck[32], uint8_t nhk[32],
                 const uint8_t rk[32], const uint8_t dh[32], const rbx__profile *p);

/* Message key (and in profile 2 the message's salt R, RBX_SALTBYTES; NULL
 * otherwise) -> the body's AEAD key and nonce: 24 nonce bytes for
 * XChaCha20-Poly1305 in profiles 0 and 1, 12 for ChaCha20-Poly1305 in 2. */
void rbx__message_keys(uint8_t key[32], uint8_t nonce[24], const uint8_t mk[32],
                       const uint8_t *salt, const rbx__profile *p);

/* X3DH KDF: HKDF(salt = 32 zero bytes, ikm = 32 x 0xff || dhs, info, 96). */
void rbx__x3dh_kdf(uint8_t out[RBX_KDF_OUTBYTES], const uint8_t *dhs, size_t dhslen,
                   const rbx__profile *p);

#endif
