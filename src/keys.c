/* SPDX-License-Identifier: MIT
 * Box key pairs in the product's formats: raw 32 + 32 bytes, standard padded
 * base64, the on-disk JSON object {"publicKey": "<b64>", "secretKey": "<b64>"}
 * and the fingerprint, lowercase hex of the first 8 bytes of SHA-256(public
 * key). The product stores the secret scalar unclamped, exactly as
 * crypto_box_keypair() makes it; so do we, so an imported key exports
 * byte-identical. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "ratchetbox.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define KEY_B64LEN (RBX_KEY_B64BYTES - 1U) /* 44 characters, one '=' */

/* The product's exact on-disk spelling, spaces included. */
#define JSON_HEAD "{\"publicKey\": \""
#define JSON_MID "\", \"secretKey\": \""
#define JSON_TAIL "\"}"
#define JSON_LEN (sizeof(JSON_HEAD) - 1U + KEY_B64LEN + sizeof(JSON_MID) - 1U + KEY_B64LEN + \
                  sizeof(JSON_TAIL) - 1U)

_Static_assert(RBX_PUBLICKEYBYTES == crypto_box_PUBLICKEYBYTES, "box public key size");
_Static_assert(RBX_SECRETKEYBYTES == crypto_box_SECRETKEYBYTES, "box secret key size");
_Static_assert(RBX_KEY_B64BYTES == sodium_base64_ENCODED_LEN(RBX_PUBLICKEYBYTES, B64_VARIANT),
               "RBX_KEY_B64BYTES is base64 of a key plus NUL");
_Static_assert(RBX_FINGERPRINT_HEXBYTES == 2U * RBX_FINGERPRINTBYTES + 1U,
               "fingerprint hex plus NUL");
_Static_assert(RBX_FINGERPRINTBYTES <= crypto_hash_sha256_BYTES, "fingerprint is a hash prefix");
_Static_assert(JSON_LEN + 1U <= RBX_KEYPAIR_JSONBYTES, "RBX_KEYPAIR_JSONBYTES holds the JSON");

/* Check and publish a decoded pair. Works from copies so that the outputs
 * may alias the input; on error both outputs are zero. */
static int keypair_commit(uint8_t pk[RBX_PUBLICKEYBYTES], uint8_t sk[RBX_SECRETKEYBYTES],
                          const uint8_t tpk[RBX_PUBLICKEYBYTES],
                          const uint8_t tsk[RBX_SECRETKEYBYTES])
{
    int ret = rbx__keypair_matches(tpk, tsk) ? RBX_OK : RBX_E_KEY;

    if (ret == RBX_OK) {
        memcpy(pk, tpk, RBX_PUBLICKEYBYTES);
        memcpy(sk, tsk, RBX_SECRETKEYBYTES);
    } else {
        WIPE_BUF(pk, RBX_PUBLICKEYBYTES);
        WIPE_BUF(sk, RBX_SECRETKEYBYTES);
    }
    return ret;
}

int rbx_keypair_generate(uint8_t pk[RBX_PUBLICKEYBYTES], uint8_t sk[RBX_SECRETKEYBYTES])
{
    return rbx__keypair(pk, sk);
}

int rbx_keypair_from_raw(uint8_t pk[RBX_PUBLICKEYBYTES], uint8_t sk[RBX_SECRETKEYBYTES],
                         const uint8_t *raw, size_t rawlen)
{
    uint8_t tpk[RBX_PUBLICKEYBYTES];
    uint8_t tsk[RBX_SECRETKEYBYTES];
    int ret;

    if (rawlen != RBX_PUBLICKEYBYTES + RBX_SECRETKEYBYTES) {
        WIPE_BUF(pk, RBX_PUBLICKEYBYTES);
        WIPE_BUF(sk, RBX_SECRETKEYBYTES);
        return RBX_E_MALFORMED;
    }
    memcpy(tpk, raw, RBX_PUBLICKEYBYTES);
    memcpy(tsk, raw + RBX_PUBLICKEYBYTES, RBX_SECRETKEYBYTES);
    ret = keypair_commit(pk, sk, tpk, tsk);
    WIPE(tpk);
    WIPE(tsk);
    return ret;
}

void rbx_key_to_base64(char out[RBX_KEY_B64BYTES], const uint8_t pk[RBX_PUBLICKEYBYTES])
{
    sodium_bin2base64(out, RBX_KEY_B64BYTES, pk, RBX_PUBLICKEYBYTES, B64_VARIANT);
}

int rbx_key_from_base64(uint8_t key[RBX_PUBLICKEYBYTES], const char *b64, size_t b64len)
{
    uint8_t tmp[RBX_PUBLICKEYBYTES];
    size_t binlen = 0;
    int ret = RBX_E_MALFORMED;

    /* A 33-byte decode overflows tmp (ERANGE); a 31-byte one is caught here. */
    if (b64len == KEY_B64LEN && rbx__base64_decode(tmp, sizeof(tmp), &binlen, b64, b64len) == 0 &&
        binlen == sizeof(tmp)) {
        memcpy(key, tmp, sizeof(tmp));
        ret = RBX_OK;
    } else {
        /* The key may be a secret one: nothing partial is left behind. */
        WIPE_BUF(key, RBX_PUBLICKEYBYTES);
    }
    WIPE(tmp);
    return ret;
}

/* ---------------------------------------------------------------- JSON */

/* A strict reader for exactly the product's key file: one object whose
 * members are the strings "publicKey" and "secretKey". Escapes are never
 * needed in base64, so a backslash is an error rather than something to
 * decode (one less way for two readers to disagree on a key). */
typedef struct json_cursor {
    const char *p;
    const char *end;
} json_cursor;

/* RFC 8259 section 2: the only insignificant whitespace. */
static void json_skip_ws(json_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int json_expect(json_cursor *c, char ch)
{
    json_skip_ws(c);
    if (c->p == c->end || *c->p != ch) {
        return -1;
    }
    c->p++;
    return 0;
}

/* A string without escapes; *s and *len span its contents. Control bytes
 * (NUL included) must be escaped in JSON (RFC 8259 section 7), so they fail. */
static int json_string(json_cursor *c, const char **s, size_t *len)
{
    const char *start;

    if (json_expect(c, '"') != 0) {
        return -1;
    }
    start = c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;

        if (ch < 0x20U || ch == '\\') {
            return -1;
        }
        c->p++;
    }
    if (c->p == c->end) {
        return -1;
    }
    *s = start;
    *len = (size_t)(c->p - start);
    c->p++;
    return 0;
}

static int json_name_is(const char *s, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(s, name, len) == 0;
}

int rbx_keypair_from_json(uint8_t pk[RBX_PUBLICKEYBYTES], uint8_t sk[RBX_SECRETKEYBYTES],
                          const char *json, size_t jsonlen)
{
    json_cursor c = { json, json + jsonlen };
    const char *pk_b64 = NULL;
    const char *sk_b64 = NULL;
    size_t pk_len = 0;
    size_t sk_len = 0;
    uint8_t tpk[RBX_PUBLICKEYBYTES];
    uint8_t tsk[RBX_SECRETKEYBYTES];
    int ret = RBX_E_MALFORMED;

    if (json_expect(&c, '{') != 0) {
        goto done;
    }
    for (;;) {
        const char *name;
        const char *value;
        size_t namelen;
        size_t valuelen;

        if (json_string(&c, &name, &namelen) != 0 || json_expect(&c, ':') != 0 ||
            json_string(&c, &value, &valuelen) != 0) {
            goto done;
        }
        if (json_name_is(name, namelen, "publicKey") && pk_b64 == NULL) {
            pk_b64 = value;
            pk_len = valuelen;
        } else if (json_name_is(name, namelen, "secretKey") && sk_b64 == NULL) {
            sk_b64 = value;
            sk_len = valuelen;
        } else {
            goto done; /* duplicate or unknown member */
        }
        json_skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (json_expect(&c, '}') != 0) {
            goto done;
        }
        break;
    }
    json_skip_ws(&c);
    if (c.p != c.end || pk_b64 == NULL || sk_b64 == NULL) {
        goto done;
    }
    if (rbx_key_from_base64(tpk, pk_b64, pk_len) != RBX_OK ||
        rbx_key_from_base64(tsk, sk_b64, sk_len) != RBX_OK) {
        goto done;
    }
    ret = keypair_commit(pk, sk, tpk, tsk);

done:
    if (ret != RBX_OK) {
        WIPE_BUF(pk, RBX_PUBLICKEYBYTES);
        WIPE_BUF(sk, RBX_SECRETKEYBYTES);
    }
    WIPE(tpk);
    WIPE(tsk);
    return ret;
}

int rbx_keypair_to_json(char *out, size_t outcap, const uint8_t pk[RBX_PUBLICKEYBYTES],
                        const uint8_t sk[RBX_SECRETKEYBYTES])
{
    size_t n = 0;

    if (outcap < RBX_KEYPAIR_JSONBYTES) {
        WIPE_BUF(out, outcap);
        return RBX_E_BUFFER;
    }
    /* The secret is encoded straight into out: no second copy to wipe. */
    memcpy(out + n, JSON_HEAD, sizeof(JSON_HEAD) - 1U);
    n += sizeof(JSON_HEAD) - 1U;
    sodium_bin2base64(out + n, outcap - n, pk, RBX_PUBLICKEYBYTES, B64_VARIANT);
    n += KEY_B64LEN;
    memcpy(out + n, JSON_MID, sizeof(JSON_MID) - 1U);
    n += sizeof(JSON_MID) - 1U;
    sodium_bin2base64(out + n, outcap - n, sk, RBX_SECRETKEYBYTES, B64_VARIANT);
    n += KEY_B64LEN;
    memcpy(out + n, JSON_TAIL, sizeof(JSON_TAIL)); /* with its NUL */
    return RBX_OK;
}

void rbx_fingerprint(char out[RBX_FINGERPRINT_HEXBYTES], const uint8_t pk[RBX_PUBLICKEYBYTES])
{
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, pk, RBX_PUBLICKEYBYTES);
    sodium_bin2hex(out, RBX_FINGERPRINT_HEXBYTES, h, RBX_FINGERPRINTBYTES);
}
