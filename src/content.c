/* SPDX-License-Identifier: MIT
 * Content of a message to a user (PROTOCOL.md 21.2). A fixed binary layout
 * rather than protobuf: it sits inside every ratchet message of a fan-out,
 * so it is a few bytes before the body with nothing to allocate, and every
 * byte has one meaning (a parser cannot accept two encodings of one
 * content). */
#include "content.h"

#define FLAGS_KNOWN RBX_CONTENT_RESENT

size_t rbx__content_header(uint8_t out[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U],
                           const rbx__content *c)
{
    if (c->type < RBX_CONTENT_MESSAGE || c->type > RBX_CONTENT_RETRY || (c->flags & ~FLAGS_KNOWN) ||
        (c->type == RBX_CONTENT_RETRY && c->flags != 0))
        return 0;
    uint8_t *p = out;
    *p++ = RBX_CONTENT_VERSION;
    *p++ = (uint8_t)c->type;
    *p++ = (uint8_t)c->flags;
    memcpy(p, c->message_id, RBX_MESSAGE_IDBYTES);
    p += RBX_MESSAGE_IDBYTES;
    if (c->type == RBX_CONTENT_SYNC) {
        if (!rbx_user_id_ok(c->to)) return 0;
        size_t n = strlen(c->to);
        *p++ = (uint8_t)n;
        memcpy(p, c->to, n);
        p += n;
    } else if (c->type == RBX_CONTENT_RETRY) {
        if (c->nids == 0 || c->nids > RBX_RETRY_MAX_IDS || c->ids == NULL) return 0;
        *p++ = (uint8_t)c->nids;
        memcpy(p, c->ids, c->nids * 16U);
        p += c->nids * 16U;
    }
    return (size_t)(p - out);
}

int rbx__content_parse(rbx__content *c, const uint8_t *in, size_t len)
{
    memset(c, 0, sizeof *c);
    if (len < RBX_CONTENT_FIXED) return RBX_E_MALFORMED;
    if (in[0] != RBX_CONTENT_VERSION) return RBX_E_VERSION;
    rbx__content x = { 0 };
    x.type = in[1];
    x.flags = in[2];
    if (x.type < RBX_CONTENT_MESSAGE || x.type > RBX_CONTENT_RETRY || (x.flags & ~FLAGS_KNOWN) ||
        (x.type == RBX_CONTENT_RETRY && x.flags != 0))
        return RBX_E_MALFORMED;
    memcpy(x.message_id, in + 3, RBX_MESSAGE_IDBYTES);
    const uint8_t *p = in + RBX_CONTENT_FIXED;
    size_t left = len - RBX_CONTENT_FIXED;
    if (x.type == RBX_CONTENT_SYNC) {
        if (left < 1 || p[0] == 0 || p[0] >= RBX_USER_MAX || left < 1U + p[0]) return RBX_E_MALFORMED;
        memcpy(x.to, p + 1, p[0]);
        x.to[p[0]] = '\0';
        /* Every byte a user id's (a NUL inside would cut it short). */
        if (strlen(x.to) != p[0] || !rbx_user_id_ok(x.to)) return RBX_E_MALFORMED;
        left -= 1U + p[0];
        p += 1U + p[0];
    }
    if (x.type == RBX_CONTENT_RETRY) {
        if (left < 1 || p[0] == 0 || p[0] > RBX_RETRY_MAX_IDS || left != 1U + p[0] * 16U)
            return RBX_E_MALFORMED;
        x.nids = p[0];
        x.ids = p + 1;
        *c = x;
        return 0;
    }
    if (left > RBX_MAX_PLAINTEXT) return RBX_E_TOO_BIG;
    x.body = p;
    x.bodylen = left;
    *c = x;
    return 0;
}

void rbx__message_id(uint8_t out[RBX_MESSAGE_IDBYTES], uint8_t key[32], uint64_t *ctr)
{
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = { 0 };
    if (*ctr == 0) randombytes_buf(key, 32);
    (*ctr)++;
    for (int i = 0; i < 8; i++) nonce[4 + i] = (uint8_t)(*ctr >> (8 * i));
    crypto_stream_chacha20_ietf(out, RBX_MESSAGE_IDBYTES, nonce, key);
}
