/* SPDX-License-Identifier: MIT
 * Wire format (proto/ratchetbox.proto, PROTOCOL.md "Wire format").
 * Parsing goes through the protoc-c generated code; a parse is accepted only
 * if re-encoding the parsed fields gives the input back byte for byte
 * (canonical form: no unknown, duplicated or reordered fields, minimal
 * varints, no trailing bytes). Encoding is done here, field by field, so
 * that the AEAD can write its ciphertext straight into the output buffer. */
#ifndef RBX_WIRE_H
#define RBX_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ratchetbox.pb-c.h"

#define RBX_WIRE_VERSION 1U
#define RBX_HEADERBYTES 40U                       /* dh || be32(pn) || be32(n) */
#define RBX_ENC_HEADERBYTES (24U + RBX_HEADERBYTES + 16U)
/* Longest prefix before a message's ciphertext bytes. */
#define RBX_MSG_PREFIX_MAX (2U + 2U + RBX_ENC_HEADERBYTES + 34U + 6U + 6U + 1U + 5U)
/* Longest PreKeyMessage prefix before its embedded message bytes. */
#define RBX_PREKEY_PREFIX_MAX (2U + 34U + 34U + 6U + 6U + 2U + 2U + 1U + 5U)

/* A parsed Message; pointers alias the caller's input buffer. */
typedef struct rbx__msg {
    const uint8_t *ratchet_key;  /* NULL with an encrypted header */
    uint32_t counter, previous_counter;
    const uint8_t *enc_header;   /* NULL with a clear header */
    const uint8_t *ct;           /* ciphertext || tag */
    size_t ctlen;
} rbx__msg;

typedef struct rbx__prekey_msg {
    const uint8_t *identity_key, *base_key;
    uint32_t signed_prekey_id;
    int has_onetime;
    uint32_t onetime_prekey_id;
    unsigned profile;
    int header_encryption;
    const uint8_t *message;
    size_t messagelen;
} rbx__prekey_msg;

size_t rbx__varint_len(uint64_t v);

/* Write the fields of a Message up to and including the ciphertext's tag and
 * length; returns the number of bytes (<= RBX_MSG_PREFIX_MAX). */
size_t rbx__msg_prefix(uint8_t *out, const rbx__msg *m);

size_t rbx__prekey_prefix(uint8_t *out, const rbx__prekey_msg *m);

/* 1 if the unpacked message m is the canonical form of in (len bytes): no
 * unknown fields, and re-encoding it gives in back byte for byte. Unknown
 * fields need their own check: protobuf-c keeps them and packs them back
 * at the end, so a trailing one would re-encode to the same bytes. */
int rbx__wire_canonical(const ProtobufCMessage *m, const uint8_t *in, size_t len);

/* Parsers: 0, RBX_E_MALFORMED or RBX_E_VERSION. */
int rbx__msg_parse(rbx__msg *m, const uint8_t *in, size_t len);
int rbx__prekey_parse(rbx__prekey_msg *m, const uint8_t *in, size_t len);

#endif
