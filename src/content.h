/* SPDX-License-Identifier: MIT
 * The plaintext of every ratchet message sent to a user (PROTOCOL.md 21.2):
 * a small fixed header (version, type, flags, message id; the recipient
 * user for a sync copy; the ids for a retry request) before the caller's
 * body. Internal: the store builds and parses it. */
#ifndef RBX_CONTENT_H
#define RBX_CONTENT_H

#include "internal.h"

#define RBX_CONTENT_VERSION 1U
/* version, type, flags, message id */
#define RBX_CONTENT_FIXED (3U + RBX_MESSAGE_IDBYTES)
/* The longest header: a sync copy naming a 63-byte user. */
#define RBX_CONTENT_HEADER_MAX (RBX_CONTENT_FIXED + 1U + RBX_USER_MAX - 1U)

typedef struct rbx__content {
    unsigned type;                          /* RBX_CONTENT_* */
    unsigned flags;                         /* RBX_CONTENT_RESENT */
    uint8_t message_id[RBX_MESSAGE_IDBYTES];
    char to[RBX_USER_MAX];                  /* sync: the user the message went to */
    const uint8_t *body;                    /* message, sync: points into the parsed input */
    size_t bodylen;
    size_t nids;                            /* retry: 1..RBX_RETRY_MAX_IDS */
    const uint8_t *ids;                     /* retry: nids x 16 bytes, into the input */
} rbx__content;

/* The header of c (everything before the body) into out; returns its
 * length, or 0 if c is not well-formed (type, flags, to, nids). For a
 * retry request the ids are part of the header. */
size_t rbx__content_header(uint8_t out[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U],
                           const rbx__content *c);
/* A fresh message id: the ChaCha20 block (RFC 8439) of counter *ctr under
 * key, which is drawn from libsodium's RNG when *ctr is 0 (the first id of
 * a store handle). Unpredictable and unique per key without a system call
 * per message (libsodium's RNG is one getrandom per call: about a
 * microsecond, as much as an eighth of a symmetric step). */
void rbx__message_id(uint8_t out[RBX_MESSAGE_IDBYTES], uint8_t key[32], uint64_t *ctr);

/* Parse (canonical: every byte accounted for). 0, RBX_E_VERSION or
 * RBX_E_MALFORMED; *c points into in. */
int rbx__content_parse(rbx__content *c, const uint8_t *in, size_t len);

#endif
