/* SPDX-License-Identifier: MIT
 * The Authorization header parser: a hand-written scanner, because it is
 * small and its grammar is ours (RFC 9110's auth-param, restricted to five
 * names and without escapes in quoted strings); libmicrohttpd has no parser
 * for parameters of custom schemes. Fuzzed by tests/fuzz/fuzz_rbxd_request.c. */
#include <string.h>

#include <sodium.h>

#include "auth.h"

size_t b64_decoded_len(const char *in, size_t inlen)
{
    if (inlen == 0 || inlen % 4 != 0) return 0;
    size_t n = inlen / 4 * 3;
    if (in[inlen - 1] == '=') n--;
    if (in[inlen - 2] == '=') n--;
    return n;
}

int b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t inlen)
{
    *outlen = 0;
    if (inlen == 0) return 0;
    if (inlen % 4 != 0) return -1;
    size_t want = b64_decoded_len(in, inlen);
    if (want > cap) return -2;
    size_t n = 0;
    const char *end = NULL;
    /* libsodium checks the alphabet, the padding and that unused bits are
     * zero (canonical encoding). */
    if (sodium_base642bin(out, cap, in, inlen, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != in + inlen || n != want)
        return -1;
    *outlen = n;
    return 0;
}

/* A decimal number without sign or leading zero, at most max. */
static int parse_dec(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || (n > 1 && p[0] == '0')) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        unsigned dgt = (unsigned)(p[i] - '0');
        if (v > (max - dgt) / 10) return -1;
        v = v * 10 + dgt;
    }
    *out = v;
    return 0;
}

int auth_parse(auth_hdr *h, const char *value, size_t len)
{
    memset(h, 0, sizeof *h);
    if (len > AUTH_HEADER_MAX || len < 8 || memcmp(value, "RBX-Sig ", 8) != 0) return -1;
    size_t i = 8;
    unsigned seen = 0;
    for (;;) {
        while (i < len && value[i] == ' ') i++;
        size_t ns = i;
        while (i < len && value[i] >= 'a' && value[i] <= 'z') i++;
        size_t nl = i - ns;
        if (nl == 0 || i >= len || value[i] != '=') goto bad;
        i++;
        const char *v;
        size_t vl;
        int quoted = i < len && value[i] == '"';
        if (quoted) {
            i++;
            v = value + i;
            while (i < len && value[i] != '"') {
                /* No escapes and no control characters: nothing we send
                 * needs them, and the header stays unambiguous. */
                if (value[i] == '\\' || (unsigned char)value[i] < 0x20 || value[i] == 0x7f) goto bad;
                i++;
            }
            if (i >= len) goto bad;
            vl = (size_t)(value + i - v);
            i++;
        } else {
            v = value + i;
            while (i < len && value[i] >= '0' && value[i] <= '9') i++;
            vl = (size_t)(value + i - v);
        }
        const char *name = value + ns;
        unsigned bit;
        uint64_t num;
        size_t dl;
        if (nl == 4 && memcmp(name, "user", 4) == 0 && quoted) {
            bit = 1;
            if (vl == 0 || vl >= sizeof h->user) goto bad;
            memcpy(h->user, v, vl);
            h->user[vl] = '\0';
            if (!rbx_user_id_ok(h->user)) goto bad;
        } else if (nl == 6 && memcmp(name, "device", 6) == 0 && !quoted) {
            bit = 2;
            if (parse_dec(v, vl, RBX_DEVICE_ID_MAX, &num) != 0 || num == 0) goto bad;
            h->device = (uint32_t)num;
        } else if (nl == 2 && memcmp(name, "ts", 2) == 0 && !quoted) {
            bit = 4;
            if (parse_dec(v, vl, (uint64_t)INT64_MAX, &num) != 0) goto bad;
            h->ts = num;
        } else if (nl == 5 && memcmp(name, "nonce", 5) == 0 && quoted) {
            bit = 8;
            if (b64_decode(h->nonce, sizeof h->nonce, &dl, v, vl) != 0 || dl != sizeof h->nonce)
                goto bad;
        } else if (nl == 3 && memcmp(name, "sig", 3) == 0 && quoted) {
            bit = 16;
            if (b64_decode(h->sig, sizeof h->sig, &dl, v, vl) != 0 || dl != sizeof h->sig) goto bad;
        } else
            goto bad;
        if (seen & bit) goto bad;
        seen |= bit;
        while (i < len && value[i] == ' ') i++;
        if (i == len) break;
        if (value[i] != ',') goto bad;
        i++;
    }
    if (seen != 31) goto bad;
    return 0;
bad:
    memset(h, 0, sizeof *h);
    return -1;
}

int auth_verify(const auth_hdr *h, const char *method, const char *target, const uint8_t *body,
                size_t bodylen, const uint8_t pk[RBX_PUBLICKEYBYTES])
{
    static const uint8_t empty[1] = {0};
    return rbx_request_verify(h->sig, method, target, h->ts, h->nonce, bodylen ? body : empty,
                              bodylen, h->user, h->device, pk) == 0
               ? 0
               : -1;
}
