/* SPDX-License-Identifier: MIT
 * HKDF-SHA256 and the ratchet KDFs. Every HMAC key schedule that is used
 * twice is computed once and copied: HMAC init costs two SHA-256 blocks, as
 * much as a whole one-block MAC, and KDF_CK runs on every message. */
#include "kdf.h"

#include "internal.h"

typedef crypto_auth_hmacsha256_state hmac_state;

static const rbx__profile profiles[] = {
    [RBX_PROFILE_HMAC] = {
        .version = 1,
        .x3dh_info = "ratchetbox v1 X3DH",
        .root_info = "ratchetbox v1 root",
        .msg_info = "ratchetbox v1 message",
        .msg_keys = RBX__MK_HMAC,
    },
    [RBX_PROFILE_SIGNAL] = {
        .version = 1,
        .x3dh_info = "WhisperText",
        .root_info = "WhisperRatchet",
        .msg_info = "WhisperMessageKeys",
        .msg_keys = RBX__MK_SIGNAL,
    },
    [RBX_PROFILE_FAST] = {
        .version = 2,
        .x3dh_info = "ratchetbox v2 X3DH",
        .root_info = "ratchetbox v2 root",
        .msg_info = NULL,
        .msg_keys = RBX__MK_FAST,
    },
};

const rbx__profile *rbx__profile_get(unsigned profile)
{
    if (profile >= RBX_COUNTOF(profiles) || profiles[profile].version > RBX_MAX_VERSION) return NULL;
    return &profiles[profile];
}

/* Profile 2's BLAKE2b personal strings (PROTOCOL.md 4.4, 4.5): 16 bytes
 * each, no terminator, distinct from each other and from the all-zero
 * personal of every other BLAKE2b use in the project. */
static const uint8_t P_CHAIN[16] = "rbx-v2-chain-key";
static const uint8_t P_BLOCK[16] = "rbx-v2-block-key";
static const uint8_t P_BODY[16] = "rbx-v2-body-keys";
static const uint8_t ZERO_SALT[16];

/* F(k, p) = BLAKE2b(key = k, data = "", outlen, salt, personal = p): with
 * no data, one compression of the key block (PROTOCOL.md 4.1). */
static void b2(uint8_t *out, size_t outlen, const uint8_t k[32], const uint8_t salt[16],
               const uint8_t personal[16])
{
    (void)crypto_generichash_blake2b_salt_personal(out, outlen, NULL, 0, k, 32, salt, personal);
}

void rbx__hkdf_extract(uint8_t prk[32], const uint8_t *salt, size_t saltlen,
                       const uint8_t *ikm, size_t ikmlen)
{
    /* RFC 5869 2.2: an absent salt is HashLen zeros, which HMAC pads to the
     * same key as an empty one. */
    static const uint8_t zeros[32];
    hmac_state st;
    if (saltlen == 0) salt = zeros, saltlen = sizeof zeros;
    crypto_auth_hmacsha256_init(&st, salt, saltlen);
    crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
    crypto_auth_hmacsha256_final(&st, prk);
    WIPE(st);
}

int rbx__hkdf_expand(uint8_t *out, size_t outlen, const uint8_t prk[32],
                     const uint8_t *info, size_t infolen)
{
    if (outlen > 255U * 32U) return RBX_E_INVALID;
    hmac_state keyed, st;
    uint8_t t[32];
    uint8_t ctr = 1;
    size_t done = 0;
    crypto_auth_hmacsha256_init(&keyed, prk, 32);
    while (done < outlen) {
        st = keyed;
        if (ctr > 1) crypto_auth_hmacsha256_update(&st, t, sizeof t);
        crypto_auth_hmacsha256_update(&st, info, infolen);
        crypto_auth_hmacsha256_update(&st, &ctr, 1);
        crypto_auth_hmacsha256_final(&st, t);
        size_t n = outlen - done < sizeof t ? outlen - done : sizeof t;
        memcpy(out + done, t, n);
        done += n;
        ctr++;
    }
    WIPE(t);
    WIPE(st);
    WIPE(keyed);
    return 0;
}

int rbx__hkdf(uint8_t *out, size_t outlen, const uint8_t *salt, size_t saltlen,
              const uint8_t *ikm, size_t ikmlen, const uint8_t *info, size_t infolen)
{
    uint8_t prk[32];
    rbx__hkdf_extract(prk, salt, saltlen, ikm, ikmlen);
    int rc = rbx__hkdf_expand(out, outlen, prk, info, infolen);
    WIPE(prk);
    return rc;
}

void rbx__kdf_ck(uint8_t ck_next[32], uint8_t mk[32], const uint8_t ck[32])
{
    static const uint8_t one = 0x01, two = 0x02;
    hmac_state keyed, st;
    crypto_auth_hmacsha256_init(&keyed, ck, 32);
    st = keyed;
    crypto_auth_hmacsha256_update(&st, &one, 1);
    crypto_auth_hmacsha256_final(&st, mk);
    /* keyed no longer needs ck, so ck_next may alias it. */
    crypto_auth_hmacsha256_update(&keyed, &two, 1);
    crypto_auth_hmacsha256_final(&keyed, ck_next);
    WIPE(st);
    WIPE(keyed);
}

/* F(bk, P_BLOCK) = next block key || first chain key of the block. */
static void block_step(uint8_t ck[32], uint8_t bk[32])
{
    uint8_t o[64];
    b2(o, sizeof o, bk, ZERO_SALT, P_BLOCK);
    memcpy(bk, o, 32);
    memcpy(ck, o + 32, 32);
    WIPE(o);
}

void rbx__chain_init(uint8_t ck[32], uint8_t bk[32], const uint8_t c[32], const rbx__profile *p)
{
    if (p->msg_keys != RBX__MK_FAST) {
        memmove(ck, c, 32);
        memset(bk, 0, 32);
        return;
    }
    memmove(bk, c, 32);
    block_step(ck, bk);
}

void rbx__chain_next(uint8_t ck[32], uint8_t bk[32], uint8_t mk[32], uint32_t n,
                     const rbx__profile *p)
{
    if (p->msg_keys != RBX__MK_FAST) {
        rbx__kdf_ck(ck, mk, ck);
        return;
    }
    uint8_t o[64];
    b2(o, sizeof o, ck, ZERO_SALT, P_CHAIN);
    memcpy(mk, o + 32, 32);
    /* The last position of a block: the next block starts from bk. */
    if ((n + 1U) % RBX_CHAIN_BLOCK != 0) memcpy(ck, o, 32);
    else block_step(ck, bk);
    WIPE(o);
}

void rbx__chain_jump(uint8_t ck[32], uint8_t bk[32], uint32_t from, uint32_t to,
                     const rbx__profile *p)
{
    if (p->msg_keys != RBX__MK_FAST) {
        /* Only CK_next = HMAC(ck, 0x02): the message keys are not wanted. */
        static const uint8_t two = 0x02;
        for (uint32_t n = from; n < to; n++) crypto_auth_hmacsha256(ck, &two, 1, ck);
        return;
    }
    if (to / RBX_CHAIN_BLOCK > from / RBX_CHAIN_BLOCK) {
        for (uint32_t b = from / RBX_CHAIN_BLOCK; b < to / RBX_CHAIN_BLOCK; b++) block_step(ck, bk);
        from = to - to % RBX_CHAIN_BLOCK;
    }
    uint8_t o[64];
    for (uint32_t n = from; n < to; n++) {
        b2(o, sizeof o, ck, ZERO_SALT, P_CHAIN);
        memcpy(ck, o, 32);
    }
    WIPE(o);
}

void rbx__kdf_rk(uint8_t rk_next[32], uint8_t ck[32], uint8_t nhk[32],
                 const uint8_t rk[32], const uint8_t dh[32], const rbx__profile *p)
{
    uint8_t okm[RBX_KDF_OUTBYTES];
    (void)rbx__hkdf(okm, sizeof okm, rk, 32, dh, 32, (const uint8_t *)p->root_info,
                    strlen(p->root_info));
    memcpy(rk_next, okm, 32);
    memcpy(ck, okm + 32, 32);
    memcpy(nhk, okm + 64, 32);
    WIPE(okm);
}

void rbx__message_keys(uint8_t key[32], uint8_t nonce[24], const uint8_t mk[32],
                       const uint8_t *salt, const rbx__profile *p)
{
    if (p->msg_keys == RBX__MK_FAST) {
        /* BLAKE2b(mk, salt = R, P_BODY, 44) = key || 12-byte nonce: one
         * compression, and a different key for every R (restore safety). */
        uint8_t m[32 + RBX_AEAD12_NONCEBYTES];
        b2(m, sizeof m, mk, salt, P_BODY);
        memcpy(key, m, 32);
        memcpy(nonce, m + 32, RBX_AEAD12_NONCEBYTES);
        WIPE(m);
        return;
    }
    const uint8_t *info = (const uint8_t *)p->msg_info;
    size_t infolen = strlen(p->msg_info);
    if (p->msg_keys == RBX__MK_SIGNAL) {
        /* libsignal: HKDF(zero salt, mk, "WhisperMessageKeys", 80) = cipher key
         * || MAC key || IV; AEAD key = cipher key, nonce = IV || 8 zero bytes. */
        uint8_t m[80];
        (void)rbx__hkdf(m, sizeof m, NULL, 0, mk, 32, info, infolen);
        memcpy(key, m, 32);
        memcpy(nonce, m + 64, 16);
        memset(nonce + 16, 0, 8);
        WIPE(m);
        return;
    }
    /* mk is already a uniformly random PRK, so RFC 5869 section 3.3 lets the
     * extract step go: HKDF-Expand(mk, info, 56) = key || nonce. */
    uint8_t m[56];
    (void)rbx__hkdf_expand(m, sizeof m, mk, info, infolen);
    memcpy(key, m, 32);
    memcpy(nonce, m + 32, 24);
    WIPE(m);
}

void rbx__x3dh_kdf(uint8_t out[RBX_KDF_OUTBYTES], const uint8_t *dhs, size_t dhslen,
                   const rbx__profile *p)
{
    /* X3DH 2.2: F = 32 0xff bytes first, for domain separation from XEdDSA,
     * which signs with the same identity key. */
    hmac_state st;
    uint8_t f[32], prk[32];
    static const uint8_t zeros[32];
    memset(f, 0xff, sizeof f);
    crypto_auth_hmacsha256_init(&st, zeros, sizeof zeros);
    crypto_auth_hmacsha256_update(&st, f, sizeof f);
    crypto_auth_hmacsha256_update(&st, dhs, dhslen);
    crypto_auth_hmacsha256_final(&st, prk);
    (void)rbx__hkdf_expand(out, RBX_KDF_OUTBYTES, prk, (const uint8_t *)p->x3dh_info,
                           strlen(p->x3dh_info));
    WIPE(prk);
    WIPE(st);
}
