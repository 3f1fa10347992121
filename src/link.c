/* SPDX-License-Identifier: MIT
 * Device links (PROTOCOL.md 21.6): the one-time code an existing device
 * shows, the link id and key derived from it, and the two sealed slots the
 * new device and the approving device exchange through a server's link
 * rendezvous (SERVER.md 5.5). Pure functions: no I/O, no state.
 *
 * The code is base32 (RFC 4648 alphabet, lowercase, no padding) written by
 * hand: libsodium has no base32 and the code is 24 characters of a fixed
 * length, so a dependency would be larger than the function. */
#include <stdio.h>

#include "internal.h"

#define LINK_ID_DOMAIN "ratchetbox-link-id-v1"
#define LINK_KEY_DOMAIN "ratchetbox-link-key-v1"
#define LINK_REQUEST_AD "ratchetbox-link-request-v1"
#define LINK_APPROVAL_AD "ratchetbox-link-approval-v1"
#define LINK_VERSION 1U
#define NONCE 24U
#define TAG 16U

_Static_assert(RBX_LINK_SECRETBYTES * 8U == 24U * 5U, "the code is 24 base32 characters");

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

void rbx_link_code_format(char code[RBX_LINK_CODEBYTES], const uint8_t secret[RBX_LINK_SECRETBYTES])
{
    /* 15 bytes = 120 bits = 24 characters, in groups of 4 with '-'. */
    size_t o = 0, bits = 0;
    uint32_t acc = 0;
    int chars = 0;
    for (size_t i = 0; i < RBX_LINK_SECRETBYTES; i++) {
        acc = (acc << 8) | secret[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            if (chars > 0 && chars % 4 == 0) code[o++] = '-';
            code[o++] = b32[(acc >> bits) & 31U];
            chars++;
        }
    }
    code[o] = '\0';
    acc = 0;
}

int rbx_link_code_new(char code[RBX_LINK_CODEBYTES], uint8_t secret[RBX_LINK_SECRETBYTES])
{
    randombytes_buf(secret, RBX_LINK_SECRETBYTES);
    rbx_link_code_format(code, secret);
    return 0;
}

int rbx_link_code_parse(uint8_t secret[RBX_LINK_SECRETBYTES], const char *code)
{
    uint32_t acc = 0;
    size_t bits = 0, o = 0, chars = 0;
    memset(secret, 0, RBX_LINK_SECRETBYTES);
    for (const char *p = code; *p != '\0'; p++) {
        char c = *p;
        if (c == '-' || c == ' ') continue;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        const char *k = (c != '\0') ? strchr(b32, c) : NULL;
        if (k == NULL || chars == 24) goto bad;
        acc = (acc << 5) | (uint32_t)(k - b32);
        bits += 5;
        chars++;
        if (bits >= 8) {
            bits -= 8;
            secret[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (chars != 24 || o != RBX_LINK_SECRETBYTES) goto bad;
    acc = 0;
    return 0;
bad:
    acc = 0;
    sodium_memzero(secret, RBX_LINK_SECRETBYTES);
    return RBX_E_MALFORMED;
}

static void derive(uint8_t *out, size_t outlen, const char *domain,
                   const uint8_t secret[RBX_LINK_SECRETBYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, outlen);
    crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain));
    crypto_generichash_update(&st, secret, RBX_LINK_SECRETBYTES);
    crypto_generichash_final(&st, out, outlen);
    WIPE(st);
}

void rbx_link_id(uint8_t id[RBX_LINK_IDBYTES], const uint8_t secret[RBX_LINK_SECRETBYTES])
{
    derive(id, RBX_LINK_IDBYTES, LINK_ID_DOMAIN, secret);
}

/* ad = domain || id: a slot sealed for one link and one purpose only. */
static size_t make_ad(uint8_t ad[64], const char *domain, const uint8_t secret[RBX_LINK_SECRETBYTES])
{
    size_t n = strlen(domain);
    memcpy(ad, domain, n);
    rbx_link_id(ad + n, secret);
    return n + RBX_LINK_IDBYTES;
}

static int seal(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t *pt, size_t ptlen,
                const char *domain, const uint8_t secret[RBX_LINK_SECRETBYTES])
{
    if (outcap < NONCE + ptlen + TAG) return RBX_E_BUFFER;
    uint8_t k[32], ad[64];
    size_t adlen = make_ad(ad, domain, secret);
    derive(k, sizeof k, LINK_KEY_DOMAIN, secret);
    randombytes_buf(out, NONCE);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE, &clen, pt, ptlen, ad, adlen, NULL, out, k);
    WIPE(k);
    *outlen = NONCE + (size_t)clen;
    return 0;
}

static int open_slot(uint8_t *pt, size_t ptcap, size_t *ptlen, const uint8_t *in, size_t len,
                     const char *domain, const uint8_t secret[RBX_LINK_SECRETBYTES])
{
    *ptlen = 0;
    if (len < NONCE + TAG || len - NONCE - TAG > ptcap) return RBX_E_MALFORMED;
    uint8_t k[32], ad[64];
    size_t adlen = make_ad(ad, domain, secret);
    derive(k, sizeof k, LINK_KEY_DOMAIN, secret);
    unsigned long long n;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &n, NULL, in + NONCE, len - NONCE, ad,
                                                        adlen, in, k);
    WIPE(k);
    if (rc != 0) return RBX_E_AUTH;
    *ptlen = (size_t)n;
    return 0;
}

/* Request: u8 version || identity (32). */
#define REQUEST_PT 33U

int rbx_link_request_seal(uint8_t *out, size_t outcap, size_t *outlen,
                          const uint8_t secret[RBX_LINK_SECRETBYTES],
                          const uint8_t identity[RBX_PUBLICKEYBYTES])
{
    *outlen = 0;
    if (!rbx__pk_is_valid(identity)) return RBX_E_KEY;
    uint8_t pt[REQUEST_PT];
    pt[0] = LINK_VERSION;
    memcpy(pt + 1, identity, 32);
    return seal(out, outcap, outlen, pt, sizeof pt, LINK_REQUEST_AD, secret);
}

int rbx_link_request_open(uint8_t identity[RBX_PUBLICKEYBYTES],
                          const uint8_t secret[RBX_LINK_SECRETBYTES], const uint8_t *in, size_t len)
{
    uint8_t pt[REQUEST_PT];
    size_t n;
    memset(identity, 0, 32);
    int rc = open_slot(pt, sizeof pt, &n, in, len, LINK_REQUEST_AD, secret);
    if (rc != 0) return rc;
    if (n != REQUEST_PT) return RBX_E_MALFORMED;
    if (pt[0] != LINK_VERSION) return RBX_E_VERSION;
    if (!rbx__pk_is_valid(pt + 1)) return RBX_E_KEY;
    memcpy(identity, pt + 1, 32);
    return 0;
}

/* Approval: u8 version || u8 len(user) || user || be64 seq || prev_hash (32)
 * || be32 device || identity (32) || be64 created || signer (32) ||
 * signature (64): the add entry of the new device (op add, signer kind
 * device) and the approving device's signature over its statement. */
#define APPROVAL_FIXED (1U + 1U + 8U + 32U + 4U + 32U + 8U + 32U + 64U)
#define APPROVAL_MAX (APPROVAL_FIXED + RBX_USER_MAX - 1U)

int rbx_link_approval_seal(uint8_t *out, size_t outcap, size_t *outlen,
                           const uint8_t secret[RBX_LINK_SECRETBYTES], const rbx_devlist_entry *e,
                           const uint8_t signature[RBX_SIGNATUREBYTES])
{
    *outlen = 0;
    if (!rbx_user_id_ok(e->user) || e->op != RBX_DEVLIST_ADD || e->signer_kind != RBX_SIGNER_DEVICE ||
        e->seq < 2 || e->device == 0 || e->device > RBX_DEVICE_ID_MAX)
        return RBX_E_INVALID;
    uint8_t pt[APPROVAL_MAX], *p = pt;
    size_t ulen = strlen(e->user);
    *p++ = LINK_VERSION;
    *p++ = (uint8_t)ulen;
    memcpy(p, e->user, ulen);
    p += ulen;
    rbx__store64_be(p, e->seq);
    p += 8;
    memcpy(p, e->prev_hash, 32);
    p += 32;
    rbx__store32_be(p, e->device);
    p += 4;
    memcpy(p, e->identity, 32);
    p += 32;
    rbx__store64_be(p, e->created);
    p += 8;
    memcpy(p, e->signer, 32);
    p += 32;
    memcpy(p, signature, 64);
    p += 64;
    return seal(out, outcap, outlen, pt, (size_t)(p - pt), LINK_APPROVAL_AD, secret);
}

int rbx_link_approval_open(rbx_devlist_entry *e, uint8_t signature[RBX_SIGNATUREBYTES],
                           const uint8_t secret[RBX_LINK_SECRETBYTES], const uint8_t *in,
                           size_t len)
{
    uint8_t pt[APPROVAL_MAX];
    size_t n;
    memset(e, 0, sizeof *e);
    memset(signature, 0, 64);
    int rc = open_slot(pt, sizeof pt, &n, in, len, LINK_APPROVAL_AD, secret);
    if (rc != 0) return rc;
    if (n < APPROVAL_FIXED) return RBX_E_MALFORMED;
    if (pt[0] != LINK_VERSION) return RBX_E_VERSION;
    size_t ulen = pt[1];
    if (ulen == 0 || ulen >= RBX_USER_MAX || n != APPROVAL_FIXED + ulen) return RBX_E_MALFORMED;
    rbx_devlist_entry x = { 0 };
    const uint8_t *p = pt + 2;
    memcpy(x.user, p, ulen);
    p += ulen;
    x.seq = rbx__load64_be(p);
    p += 8;
    memcpy(x.prev_hash, p, 32);
    p += 32;
    x.device = rbx__load32_be(p);
    p += 4;
    memcpy(x.identity, p, 32);
    p += 32;
    x.created = rbx__load64_be(p);
    p += 8;
    memcpy(x.signer, p, 32);
    p += 32;
    x.op = RBX_DEVLIST_ADD;
    x.signer_kind = RBX_SIGNER_DEVICE;
    if (!rbx_user_id_ok(x.user) || x.seq < 2 || x.device == 0 || x.device > RBX_DEVICE_ID_MAX)
        return RBX_E_MALFORMED;
    if (!rbx__pk_is_valid(x.identity) || !rbx__pk_is_valid(x.signer)) return RBX_E_KEY;
    *e = x;
    memcpy(signature, p, 64);
    return 0;
}
