/* SPDX-License-Identifier: MIT
 * Request authentication (PROTOCOL.md 20.7): a device signs each request to
 * the server with its identity key. The signed statement is the domain
 * string and a 32-byte digest of the request, never bytes the server chose,
 * so a server cannot obtain an identity key's signature over anything else
 * (a device-list entry, a rotation record, a signed prekey). */
#include "internal.h"
#include "sign.h"

#define AUTH_DOMAIN "ratchetbox-http-auth-v1"
#define AUTH_DOMAIN_LEN 23U
#define AUTH_STATEMENT_BYTES (AUTH_DOMAIN_LEN + 32U)
#define METHOD_MAX 255U

/* st = domain || D, D = BLAKE2b-256(domain || u8(len method) || method ||
 * be32(len target) || target || be64(ts) || nonce || BLAKE2b-256(body) ||
 * u8(len user) || user || be32(device)). 0, or -1 for a method, target or
 * user that cannot be encoded. */
static int request_statement(uint8_t st[AUTH_STATEMENT_BYTES], const char *method,
                             const char *target, uint64_t ts, const uint8_t nonce[16],
                             const uint8_t *body, size_t bodylen, const char *user,
                             uint32_t device)
{
    size_t mlen = strlen(method), tlen = strlen(target), ulen;
    if (mlen == 0 || mlen > METHOD_MAX || tlen == 0 || tlen > UINT32_MAX ||
        !rbx_user_id_ok(user))
        return -1;
    ulen = strlen(user);
    static const uint8_t empty[1];
    uint8_t b[8], bh[32];
    crypto_generichash(bh, sizeof bh, bodylen > 0 ? body : empty, bodylen, NULL, 0);
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)AUTH_DOMAIN, AUTH_DOMAIN_LEN);
    b[0] = (uint8_t)mlen;
    crypto_generichash_update(&h, b, 1);
    crypto_generichash_update(&h, (const uint8_t *)method, mlen);
    rbx__store32_be(b, (uint32_t)tlen);
    crypto_generichash_update(&h, b, 4);
    crypto_generichash_update(&h, (const uint8_t *)target, tlen);
    rbx__store64_be(b, ts);
    crypto_generichash_update(&h, b, 8);
    crypto_generichash_update(&h, nonce, RBX_REQUEST_NONCEBYTES);
    crypto_generichash_update(&h, bh, sizeof bh);
    b[0] = (uint8_t)ulen;
    crypto_generichash_update(&h, b, 1);
    crypto_generichash_update(&h, (const uint8_t *)user, ulen);
    rbx__store32_be(b, device);
    crypto_generichash_update(&h, b, 4);
    memcpy(st, AUTH_DOMAIN, AUTH_DOMAIN_LEN);
    crypto_generichash_final(&h, st + AUTH_DOMAIN_LEN, 32);
    return 0;
}

int rbx_request_sign(uint8_t sig[64], const char *method, const char *target, uint64_t ts,
                     const uint8_t nonce[16], const uint8_t *body, size_t bodylen,
                     const char *user, uint32_t device, const uint8_t sk[32])
{
    memset(sig, 0, 64);
    uint8_t st[AUTH_STATEMENT_BYTES];
    if ((body == NULL && bodylen > 0) ||
        request_statement(st, method, target, ts, nonce, body, bodylen, user, device) != 0)
        return RBX_E_INVALID;
    rbx__xeddsa_sign(sig, sk, st, sizeof st);
    return 0;
}

int rbx_request_verify(const uint8_t sig[64], const char *method, const char *target, uint64_t ts,
                       const uint8_t nonce[16], const uint8_t *body, size_t bodylen,
                       const char *user, uint32_t device, const uint8_t pk[32])
{
    uint8_t st[AUTH_STATEMENT_BYTES];
    if (body == NULL && bodylen > 0) return RBX_E_INVALID;
    /* What no signer encodes was never signed. */
    if (request_statement(st, method, target, ts, nonce, body, bodylen, user, device) != 0)
        return RBX_E_SIGNATURE;
    return rbx__xeddsa_verify(sig, pk, st, sizeof st);
}
