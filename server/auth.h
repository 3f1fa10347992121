/* SPDX-License-Identifier: MIT
 * Request authentication (spec/SERVER.md section 3): the Authorization
 * header's parser and the signature check. The signed statement and its
 * digest are the library's (rbx_request_sign/verify, PROTOCOL.md 20.6); the
 * freshness of ts and the uniqueness of the nonce are checked by api.c. */
#ifndef RBXD_AUTH_H
#define RBXD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "ratchetbox.h"

#define AUTH_HEADER_MAX 512U

typedef struct auth_hdr {
    char user[RBX_USER_MAX];
    uint32_t device;
    uint64_t ts;
    uint8_t nonce[RBX_REQUEST_NONCEBYTES];
    uint8_t sig[RBX_SIGNATUREBYTES];
} auth_hdr;

/* Parse `RBX-Sig user="U", device=N, ts=N, nonce="B64", sig="B64"`: the
 * scheme, then the five parameters in any order, each exactly once,
 * separated by a comma and optional spaces; no other parameter. user must
 * pass rbx_user_id_ok, device 1..2^31-1, ts 0..2^63-1 in decimal without
 * leading zeros, nonce and sig canonical padded base64 of 16 and 64 bytes.
 * 0, or -1 (h zeroed) for anything else, and for a value longer than
 * AUTH_HEADER_MAX. */
int auth_parse(auth_hdr *h, const char *value, size_t len);

/* 0 if h->sig signs (method, target, h->ts, h->nonce, body, h->user,
 * h->device) under pk, else -1. */
int auth_verify(const auth_hdr *h, const char *method, const char *target, const uint8_t *body,
                size_t bodylen, const uint8_t pk[RBX_PUBLICKEYBYTES]);

/* Strict standard base64 with padding (what every binary JSON field is):
 * the length a multiple of 4, canonical (unused bits zero), decoding to at
 * most cap bytes. 0 and *outlen, or -1 malformed, -2 longer than cap. */
int b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t inlen);
/* The decoded length of a well-formed input (0 if inlen % 4 != 0). */
size_t b64_decoded_len(const char *in, size_t inlen);

#endif
