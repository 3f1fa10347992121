/* SPDX-License-Identifier: MIT
 * The comparison bench (bench/compare.c): one interface that every
 * implementation (ratchetbox, today's box envelope, libsignal-protocol-c,
 * libolm) provides, so that every case runs the same code on all of them.
 *
 * A pair is two parties, A (the initiator, "agent") and B (the responder,
 * "phone"), with whatever keys and stores the implementation needs. open()
 * makes the parties and B's prekeys (untimed); setup() runs the handshake and
 * the first message A -> B (the timed part of the "session setup" case);
 * establish() is setup() plus one reply B -> A, after which A sends normal
 * messages. enc/dec move one message; dec returns 0 only for an authentic
 * message and leaves the session as it was otherwise.
 */
#ifndef RBX_BENCH_COMPARE_H
#define RBX_BENCH_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define CMP_WIRE_CAP (160U * 1024U) /* 100 KiB plaintext in base64 with headers */
#define CMP_FIRST_CAP 1024U         /* a first message of 64 bytes, any implementation */

/* What enc() produces, which decides the two sizes the bench reports for a
 * message (compare.c wire_sizes): binary, the message as bytes, and text,
 * the string the product would store and send for it. */
enum cmp_wire_form {
    CMP_WIRE_BOX,    /* content_encrypted then the 32-character encryption_nonce,
                      * both base64: text as is; binary = box + 24-byte nonce */
    CMP_WIRE_BASE64, /* one base64 string (padded or not): text as is; binary decoded */
    CMP_WIRE_BINARY, /* bytes: the product would send base64 of them */
    CMP_WIRE_RBX     /* a ratchetbox message: text = the line rbx send prints,
                      * base64(0x01 || sender identity key (32) || message) */
};

typedef struct cmp_impl {
    const char *name;
    const char *kind;      /* "crypto" or "durable" */
    int peer;              /* 1: libsignal-protocol-c or libolm (the "best peer" column) */
    int stateless;         /* 1: no session (the box baselines) */
    enum cmp_wire_form form;
    /* dir: a directory on the disk for SQLite files; idx makes names unique */
    void *(*open)(const char *dir, unsigned idx);
    /* Handshake + first message A -> B (64-byte plaintext), delivered and
     * checked. *first_len: its wire bytes; first != NULL: a copy of them
     * (fails if longer than cap). */
    int (*setup)(void *p, uint8_t *first, size_t cap, size_t *first_len);
    int (*enc)(void *p, int from_b, const uint8_t *pt, size_t len, uint8_t *wire, size_t cap,
               size_t *wlen);
    int (*dec)(void *p, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
               size_t *plen);
    /* Serialized session of B (the receiver in one-direction cases), bytes. */
    size_t (*state_size)(void *p);
    void (*close)(void *p);
    /* Optional (NULL: not provided). enc_many: n messages A -> B at once,
     * untimed preparation only (plaintext i at pts + i * len, wire i at
     * wires + i * slot). worst_forgery: put B's session in the state where a
     * forged message costs it the most (libsignal: 40 archived states). */
    int (*enc_many)(void *p, const uint8_t *pts, size_t len, unsigned n, uint8_t *wires,
                    size_t slot, size_t *wlens);
    int (*worst_forgery)(void *p);
} cmp_impl;

/* Implementations, defined in impl_rbx.c, peer_signal.c and peer_olm.c. */
extern const cmp_impl impl_box, impl_afternm, impl_seal, impl_ratchet, impl_ratchet_he,
    impl_ratchet_v1, impl_ratchet_bounded, impl_ratchet_strict;
extern const cmp_impl impl_signal, impl_signal_sqlite;
extern const cmp_impl impl_olm, impl_olm_sqlite;

/* For setup(): *first_len = wlen and, when first != NULL, a copy of the
 * first message there. 0, or -1 if it does not fit in cap. */
int cmp_first_copy(uint8_t *first, size_t cap, size_t *first_len, const uint8_t *wire,
                   size_t wlen);

/* peer_signal.c: HMAC-SHA256 of 64 bytes, libsodium and OpenSSL, us each. */
void cmp_hmac_reference(double *sodium_us, double *openssl_us, unsigned n);
/* compare.c: DIR/IMPL-IDX-WHO.db */
void cmp_path(char *out, const char *dir, const char *impl, unsigned idx, const char *who);

/* SQLite with the durability of ratchetbox's bounded mode: WAL,
 * synchronous=FULL, one transaction (one fdatasync) per saved state. */
typedef struct cmp_db cmp_db;
cmp_db *cmp_db_open(const char *path);
/* Write blob as the state row under key: one statement, one transaction. */
int cmp_db_put(cmp_db *db, int64_t key, const uint8_t *blob, size_t len);
/* Read it back (malloc'ed copy in *out). 1 found, 0 not found, -1 error. */
int cmp_db_get(cmp_db *db, int64_t key, uint8_t **out, size_t *len);
void cmp_db_close(cmp_db *db);

#endif
