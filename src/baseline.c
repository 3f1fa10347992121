/* SPDX-License-Identifier: MIT
 * Today's long-lived box envelope, byte-compatible with the product, which
 * encrypts every message under the devices' long-lived box keys with no
 * version, key id, sender id or associated data:
 *   content_encrypted = base64(crypto_box_easy(plaintext, nonce, peer_pk, my_sk))
 *   encryption_nonce  = base64(24 random bytes)
 * (standard base64 with padding; the box is the 16-byte tag then the
 * ciphertext). It is what the ratchet is measured against, and how history
 * written before the ratchet stays readable. The product does a full X25519
 * per message; the beforenm variant is the measured fast path (seal + open of
 * 64 B: 1.3 us instead of 56 us on a 2-vCPU AMD EPYC VM, Debian 12, gcc -O2,
 * November 2026). */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ratchetbox.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define NONCE_B64LEN (RBX_NONCE_B64BYTES - 1U)
/* Longest content string a plaintext within the cap can produce; anything
 * longer is refused before it is decoded. */
#define CONTENT_B64_MAX (RBX_BASELINE_B64LEN(RBX_MAX_PLAINTEXT) - 1U)

_Static_assert(RBX_NONCEBYTES == crypto_box_NONCEBYTES, "box nonce size");
_Static_assert(RBX_BOXMACBYTES == crypto_box_MACBYTES, "box tag size");
_Static_assert(RBX_BASELINE_KEYBYTES == crypto_box_BEFORENMBYTES, "box shared key size");
_Static_assert(RBX_NONCE_B64BYTES == sodium_base64_ENCODED_LEN(RBX_NONCEBYTES, B64_VARIANT),
               "RBX_NONCE_B64BYTES is base64 of a nonce plus NUL");
_Static_assert(RBX_BASELINE_B64LEN(0U) ==
                   sodium_base64_ENCODED_LEN(RBX_BOXMACBYTES, B64_VARIANT) &&
               RBX_BASELINE_B64LEN(1U) ==
                   sodium_base64_ENCODED_LEN(1U + RBX_BOXMACBYTES, B64_VARIANT) &&
               RBX_BASELINE_B64LEN(2U) ==
                   sodium_base64_ENCODED_LEN(2U + RBX_BOXMACBYTES, B64_VARIANT) &&
               RBX_BASELINE_B64LEN(RBX_MAX_PLAINTEXT) ==
                   sodium_base64_ENCODED_LEN(RBX_MAX_PLAINTEXT + RBX_BOXMACBYTES, B64_VARIANT),
               "RBX_BASELINE_B64LEN matches libsodium's base64 length");

/* Stands in for a NULL plaintext of length 0, so libsodium never sees NULL. */
static const uint8_t empty_plaintext[1];

/* Seal with the shared key k, or with a full X25519 when k is NULL. */
static int baseline_seal(char *content, size_t content_cap, char nonce[RBX_NONCE_B64BYTES],
                         const uint8_t *pt, size_t ptlen, const uint8_t *k,
                         const uint8_t *peer_pk, const uint8_t *my_sk)
{
    uint8_t n[RBX_NONCEBYTES];
    uint8_t *ct = NULL;
    size_t ctlen = 0;
    int rc;
    int ret;

    if (pt == NULL && ptlen != 0U) {
        ret = RBX_E_INVALID;
        goto done;
    }
    if (ptlen > RBX_MAX_PLAINTEXT) {
        ret = RBX_E_TOO_BIG;
        goto done;
    }
    if (content_cap < RBX_BASELINE_B64LEN(ptlen)) {
        ret = RBX_E_BUFFER;
        goto done;
    }
    if (pt == NULL) {
        pt = empty_plaintext;
    }
    ctlen = ptlen + RBX_BOXMACBYTES;
    ct = malloc(ctlen);
    if (ct == NULL) {
        ret = RBX_E_NOMEM;
        goto done;
    }
    randombytes_buf(n, sizeof(n));
    if (k != NULL) {
        rc = crypto_box_easy_afternm(ct, pt, ptlen, n, k);
    } else {
        /* Fails only when the X25519 result is all-zero (low-order peer key). */
        rc = crypto_box_easy(ct, pt, ptlen, n, peer_pk, my_sk);
    }
    if (rc != 0) {
        ret = RBX_E_KEY;
        goto done;
    }
    sodium_bin2base64(content, content_cap, ct, ctlen, B64_VARIANT);
    sodium_bin2base64(nonce, RBX_NONCE_B64BYTES, n, sizeof(n), B64_VARIANT);
    ret = RBX_OK;

done:
    if (ct != NULL) {
        WIPE_BUF(ct, ctlen);
        free(ct);
    }
    if (ret != RBX_OK) {
        WIPE_BUF(content, content_cap);
        WIPE_BUF(nonce, RBX_NONCE_B64BYTES);
    }
    return ret;
}

/* Open with the shared key k_in, or with a full X25519 when k_in is NULL.
 * The content is decoded into a scratch buffer first, so pt may overlap it. */
static int baseline_open(uint8_t *pt, size_t ptcap, size_t *ptlen, const char *content,
                         size_t content_len, const char *nonce, size_t nonce_len,
                         const uint8_t *k_in, const uint8_t *peer_pk, const uint8_t *my_sk)
{
    uint8_t n[RBX_NONCEBYTES];
    uint8_t k[RBX_BASELINE_KEYBYTES];
    uint8_t *ct = NULL;
    size_t ctcap = 0;
    size_t ctlen = 0;
    size_t nlen = 0;
    size_t mlen = 0;
    size_t touched = 0; /* bytes of pt that may hold plaintext on failure */
    int ret;

    *ptlen = 0;
    if (nonce == NULL) {
        /* The product marks a plaintext row with a NULL nonce. */
        if (content_len > RBX_MAX_PLAINTEXT) {
            ret = RBX_E_TOO_BIG;
        } else if (content_len > ptcap) {
            ret = RBX_E_BUFFER;
        } else {
            memmove(pt, content, content_len);
            *ptlen = content_len;
            ret = RBX_OK;
        }
        goto done;
    }
    if (content_len > CONTENT_B64_MAX) {
        ret = RBX_E_TOO_BIG;
        goto done;
    }
    if (nonce_len != NONCE_B64LEN ||
        rbx__base64_decode(n, sizeof(n), &nlen, nonce, nonce_len) != 0 ||
        nlen != sizeof(n)) {
        ret = RBX_E_MALFORMED;
        goto done;
    }
    /* Padded base64 decodes to at most 3 bytes per 4 characters; the extra
     * group keeps the allocation non-empty. */
    ctcap = (content_len / 4U + 1U) * 3U;
    ct = malloc(ctcap);
    if (ct == NULL) {
        ret = RBX_E_NOMEM;
        goto done;
    }
    if (rbx__base64_decode(ct, ctcap, &ctlen, content, content_len) != 0 || ctlen < RBX_BOXMACBYTES) {
        ret = RBX_E_MALFORMED;
        goto done;
    }
    mlen = ctlen - RBX_BOXMACBYTES;
    if (mlen > RBX_MAX_PLAINTEXT) {
        ret = RBX_E_TOO_BIG;
        goto done;
    }
    if (mlen > ptcap) {
        ret = RBX_E_BUFFER;
        goto done;
    }
    if (k_in == NULL) {
        /* crypto_box_open_easy is beforenm + open_afternm; doing the two
         * steps here tells a low-order key (RBX_E_KEY) from a bad tag. */
        if (crypto_box_beforenm(k, peer_pk, my_sk) != 0) {
            ret = RBX_E_KEY;
            goto done;
        }
        k_in = k;
    }
    touched = mlen;
    /* libsodium checks the tag before it writes any plaintext. */
    if (crypto_box_open_easy_afternm(pt, ct, ctlen, n, k_in) != 0) {
        ret = RBX_E_AUTH;
        goto done;
    }
    *ptlen = mlen;
    ret = RBX_OK;

done:
    WIPE(k);
    if (ct != NULL) {
        WIPE_BUF(ct, ctcap);
        free(ct);
    }
    if (ret != RBX_OK) {
        WIPE_BUF(pt, touched);
        *ptlen = 0;
    }
    return ret;
}

int rbx_baseline_seal(char *content, size_t content_cap, char nonce[RBX_NONCE_B64BYTES],
                      const uint8_t *pt, size_t ptlen, const uint8_t peer_pk[RBX_PUBLICKEYBYTES],
                      const uint8_t my_sk[RBX_SECRETKEYBYTES])
{
    return baseline_seal(content, content_cap, nonce, pt, ptlen, NULL, peer_pk, my_sk);
}

int rbx_baseline_open(uint8_t *pt, size_t ptcap, size_t *ptlen, const char *content,
                      size_t content_len, const char *nonce, size_t nonce_len,
                      const uint8_t peer_pk[RBX_PUBLICKEYBYTES],
                      const uint8_t my_sk[RBX_SECRETKEYBYTES])
{
    return baseline_open(pt, ptcap, ptlen, content, content_len, nonce, nonce_len, NULL, peer_pk,
                         my_sk);
}

int rbx_baseline_precompute(uint8_t k[RBX_BASELINE_KEYBYTES],
                            const uint8_t peer_pk[RBX_PUBLICKEYBYTES],
                            const uint8_t my_sk[RBX_SECRETKEYBYTES])
{
    if (crypto_box_beforenm(k, peer_pk, my_sk) != 0) {
        WIPE_BUF(k, RBX_BASELINE_KEYBYTES);
        return RBX_E_KEY;
    }
    return RBX_OK;
}

int rbx_baseline_seal_afternm(char *content, size_t content_cap, char nonce[RBX_NONCE_B64BYTES],
                              const uint8_t *pt, size_t ptlen,
                              const uint8_t k[RBX_BASELINE_KEYBYTES])
{
    return baseline_seal(content, content_cap, nonce, pt, ptlen, k, NULL, NULL);
}

int rbx_baseline_open_afternm(uint8_t *pt, size_t ptcap, size_t *ptlen, const char *content,
                              size_t content_len, const char *nonce, size_t nonce_len,
                              const uint8_t k[RBX_BASELINE_KEYBYTES])
{
    return baseline_open(pt, ptcap, ptlen, content, content_len, nonce, nonce_len, k, NULL, NULL);
}
