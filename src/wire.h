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

#include "ratchetbox.h"
#include "ratchetbox.pb-c.h"

/* The version of bundles, records, certificates and the other signed
 * formats; a Message or PreKeyMessage carries its session's protocol
 * version instead (1 or 2, kdf.h). */
#define RBX_WIRE_VERSION 1U
#define RBX_HEADERBYTES 40U                       /* dh || be32(pn) || be32(n) */
#define RBX_ENC_HEADERBYTES (24U + RBX_HEADERBYTES + 16U)
/* Longest prefix before a message's ciphertext bytes. */
#define RBX_MSG_PREFIX_MAX (2U + 2U + RBX_ENC_HEADERBYTES + 34U + 6U + 6U + 1U + 5U)
/* What follows the ciphertext: version 2's salt field "3a 10" || R. */
#define RBX_MSG_SUFFIX_MAX (2U + 16U)
/* Longest PreKeyMessage prefix before its embedded message bytes. */
#define RBX_PREKEY_PREFIX_MAX (2U + 34U + 34U + 6U + 6U + 2U + 2U + 1U + 5U)
/* Longest attachment after the embedded message (PROTOCOL.md 6.4): 8
 * records and a certificate, each with its key and a 2-byte length. */
#define RBX_PREKEY_ATTACH_MAX (RBX_CHAIN_MAX * (3U + RBX_ROTATION_MAXBYTES) + 3U + RBX_CERT_MAXBYTES)

/* A parsed Message; pointers alias the caller's input buffer. */
typedef struct rbx__msg {
    unsigned version;            /* 1 or 2 */
    const uint8_t *ratchet_key;  /* NULL with an encrypted header */
    uint32_t counter, previous_counter;
    const uint8_t *enc_header;   /* NULL with a clear header */
    const uint8_t *ct;           /* ciphertext || tag */
    size_t ctlen;
    const uint8_t *salt;         /* version 2 with a clear header: R (16); else NULL */
} rbx__msg;

typedef struct rbx__prekey_msg {
    unsigned version;            /* 1 or 2 */
    const uint8_t *identity_key, *base_key;
    uint32_t signed_prekey_id;
    int has_onetime;
    uint32_t onetime_prekey_id;
    unsigned profile;
    int header_encryption;
    const uint8_t *message;
    size_t messagelen;
    /* Version 2 only: attached rotation records and certificate (6.4). */
    size_t nrecords;
    const uint8_t *records[RBX_CHAIN_MAX];
    size_t record_lens[RBX_CHAIN_MAX];
    const uint8_t *cert;         /* NULL: none */
    size_t certlen;
} rbx__prekey_msg;

size_t rbx__varint_len(uint64_t v);

/* Write the fields of a Message up to and including the ciphertext's tag and
 * length; returns the number of bytes (<= RBX_MSG_PREFIX_MAX). */
size_t rbx__msg_prefix(uint8_t *out, const rbx__msg *m);
/* The fields after the ciphertext (version 2's salt); <= RBX_MSG_SUFFIX_MAX. */
size_t rbx__msg_suffix(uint8_t *out, const rbx__msg *m);

size_t rbx__prekey_prefix(uint8_t *out, const rbx__prekey_msg *m);
/* Fields 9 and 10 after the embedded message; out NULL: only the length
 * (<= RBX_PREKEY_ATTACH_MAX). */
size_t rbx__prekey_suffix(uint8_t *out, const rbx__prekey_msg *m);

/* 1 if the unpacked message m is the canonical form of in (len bytes): no
 * unknown fields, and re-encoding it gives in back byte for byte. Unknown
 * fields need their own check: protobuf-c keeps them and packs them back
 * at the end, so a trailing one would re-encode to the same bytes. */
int rbx__wire_canonical(const ProtobufCMessage *m, const uint8_t *in, size_t len);

/* Parsers: 0, RBX_E_MALFORMED, RBX_E_VERSION or RBX_E_TOO_BIG. */
int rbx__msg_parse(rbx__msg *m, const uint8_t *in, size_t len);
int rbx__prekey_parse(rbx__prekey_msg *m, const uint8_t *in, size_t len);

#endif
