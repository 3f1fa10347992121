/* SPDX-License-Identifier: MIT
 * ratchetbox benchmark: per-message cost of the ratchet next to the floor of
 * the libsodium primitives it cannot avoid, and next to today's box envelope.
 *
 * Every row is measured in the same run: each repetition runs every row once
 * (round robin, A B C ... A B C ...), so clock and thermal drift hit all rows
 * alike and the ratio of two medians cancels it. A repetition times a batch of
 * iterations with CLOCK_MONOTONIC and records microseconds per operation; the
 * table shows the median, min and max over the repetitions.
 *
 *   usage: bench [repetitions]     (default 11, at least 7)
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratchetbox.h"

#define DEFAULT_REPS 11U
#define MIN_REPS 7U
#define MAX_REPS 101U
/* Wall time of one batch: long enough to dwarf clock_gettime, short enough
 * that the whole run stays within a few seconds. */
#define BATCH_TARGET_US 20000.0
#define MAX_BATCH 1000000U
/* The ratchet's associated data: AD = IK_A || IK_B (64) || clear header (40). */
#define RATCHET_ADBYTES 104U
/* XEdDSA signs "ratchetbox-spk-v1" || be32(id) || SPK: 17 + 4 + 32 bytes. */
#define SPK_STATEMENTBYTES 53U
/* HKDF info strings are about this long ("ratchetbox v1 root"). */
#define HKDF_INFOBYTES 18U
#define MSG_SMALL 64U
#define MSG_LARGEST (16U * 1024U)
#define WIRE_CAP (MSG_LARGEST + 1024U)
#define SPK_ID 1U
/* Fresh one-time prekey ids for the handshake rows, counting down. */
#define OTP_FIRST_ID 0x7fffffffU

static volatile uint8_t sink;

/* ------------------------------------------------------------ checks */

static void check_rbx(int rc, const char *what, int line)
{
    if (rc != 0) {
        fprintf(stderr, "bench: line %d: %s failed: %s (%d)\n", line, what, rbx_strerror(rc), rc);
        exit(EXIT_FAILURE);
    }
}

static void check_na(int rc, const char *what, int line)
{
    if (rc != 0) {
        fprintf(stderr, "bench: line %d: libsodium %s failed (%d)\n", line, what, rc);
        exit(EXIT_FAILURE);
    }
}

static void check_true(int ok, const char *what, int line)
{
    if (!ok) {
        fprintf(stderr, "bench: line %d: unexpected result: %s\n", line, what);
        exit(EXIT_FAILURE);
    }
}

#define RBX(call) check_rbx((call), #call, __LINE__)
#define NA(call) check_na((call), #call, __LINE__)
#define EXPECT(cond) check_true((cond) ? 1 : 0, #cond, __LINE__)

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    EXPECT(p != NULL);
    return p;
}

static double now_us(void)
{
    struct timespec ts;
    EXPECT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ------------------------------------------------------------ fixtures */

typedef struct party {
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES];
} party;

static void party_new(party *p) { RBX(rbx_keypair_generate(p->pk, p->sk)); }

/* Bob's prekeys with signed prekey SPK_ID and no one-time prekeys yet. */
static rbx_prekeys *prekeys_new(const party *bob)
{
    rbx_prekeys *pk;
    RBX(rbx_prekeys_new(&pk, bob->pk, bob->sk));
    RBX(rbx_prekeys_add_signed(pk, SPK_ID, NULL));
    return pk;
}

/* A session pair after X3DH, the first message and one reply, so that
 * Alice's messages are normal Messages. *first_overhead: wire bytes of the
 * PreKeyMessage minus its 64-byte plaintext. */
static void establish(rbx_session **a, rbx_session **b, const rbx_session_opts *opts,
                      size_t *first_overhead)
{
    party alice, bob;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], pt[MSG_SMALL], wire[WIRE_CAP], out[WIRE_CAP];
    size_t blen, wlen, olen;
    uint32_t consumed;
    rbx_bundle b0;

    party_new(&alice);
    party_new(&bob);
    rbx_prekeys *pk = prekeys_new(&bob);
    RBX(rbx_prekeys_add_onetime(pk, 7, NULL));
    RBX(rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pk, SPK_ID, 7));
    RBX(rbx_bundle_parse(&b0, bundle, blen));
    RBX(rbx_session_initiate(a, alice.pk, alice.sk, &b0, opts));
    memset(pt, 'a', sizeof pt);
    RBX(rbx_session_encrypt(*a, wire, sizeof wire, &wlen, pt, sizeof pt));
    EXPECT(rbx_message_prekey_info(NULL, wire, wlen) == 1);
    if (first_overhead != NULL) *first_overhead = wlen - sizeof pt;
    RBX(rbx_session_accept(b, out, sizeof out, &olen, &consumed, pk, NULL, wire, wlen));
    EXPECT(olen == sizeof pt && consumed == 7);
    RBX(rbx_session_encrypt(*b, wire, sizeof wire, &wlen, pt, sizeof pt));
    RBX(rbx_session_decrypt(*a, out, sizeof out, &olen, wire, wlen));
    EXPECT(olen == sizeof pt);
    rbx_prekeys_free(pk);
    sodium_memzero(&alice, sizeof alice);
    sodium_memzero(&bob, sizeof bob);
}

/* ------------------------------------------------------------ ratchet rows */

typedef struct sym_ctx {
    rbx_session *a, *b;
    size_t len;
    uint8_t *pt, *wire, *out;
} sym_ctx;

static void sym_init(sym_ctx *c, size_t len)
{
    establish(&c->a, &c->b, NULL, NULL);
    c->len = len;
    c->pt = xmalloc(len);
    c->wire = xmalloc(WIRE_CAP);
    c->out = xmalloc(WIRE_CAP);
    randombytes_buf(c->pt, len);
}

static void sym_free(sym_ctx *c)
{
    rbx_session_free(c->a);
    rbx_session_free(c->b);
    free(c->pt);
    free(c->wire);
    free(c->out);
}

/* Symmetric step: Alice encrypts, Bob decrypts, always the same direction. */
static double sym_batch(void *ctx, unsigned n)
{
    sym_ctx *c = ctx;
    size_t wlen, olen;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_session_encrypt(c->a, c->wire, WIRE_CAP, &wlen, c->pt, c->len));
        RBX(rbx_session_decrypt(c->b, c->out, WIRE_CAP, &olen, c->wire, wlen));
        EXPECT(olen == c->len);
        sink ^= c->out[olen - 1];
    }
    return (now_us() - t0) / n;
}

typedef struct dh_ctx {
    rbx_session *a, *b;
    uint8_t pt[MSG_SMALL], wire[WIRE_CAP], out[WIRE_CAP];
} dh_ctx;

/* DH-ratchet step: ping-pong, so every message changes direction and its
 * receiver performs one DH ratchet step. Reported per message. */
static double dh_batch(void *ctx, unsigned n)
{
    dh_ctx *c = ctx;
    size_t wlen, olen;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_session_encrypt(c->a, c->wire, sizeof c->wire, &wlen, c->pt, sizeof c->pt));
        RBX(rbx_session_decrypt(c->b, c->out, sizeof c->out, &olen, c->wire, wlen));
        EXPECT(olen == sizeof c->pt);
        sink ^= c->out[0];
        RBX(rbx_session_encrypt(c->b, c->wire, sizeof c->wire, &wlen, c->pt, sizeof c->pt));
        RBX(rbx_session_decrypt(c->a, c->out, sizeof c->out, &olen, c->wire, wlen));
        EXPECT(olen == sizeof c->pt);
        sink ^= c->out[0];
    }
    return (now_us() - t0) / (2.0 * n);
}

typedef struct hs_ctx {
    party alice, bob;
    rbx_prekeys *pk;
    uint32_t next_id;
    unsigned cap;
    uint8_t (*bundles)[RBX_BUNDLE_MAXBYTES];
    size_t *blen;
    uint32_t *ids;
    rbx_session **sa, **sb;
    uint8_t pt[MSG_SMALL], wire[WIRE_CAP], out[WIRE_CAP];
} hs_ctx;

static void hs_init(hs_ctx *c)
{
    memset(c, 0, sizeof *c);
    party_new(&c->alice);
    party_new(&c->bob);
    c->pk = prekeys_new(&c->bob);
    c->next_id = OTP_FIRST_ID;
    memset(c->pt, 'h', sizeof c->pt);
}

static void hs_reserve(hs_ctx *c, unsigned n)
{
    if (n <= c->cap) return;
    free(c->bundles);
    free(c->blen);
    free(c->ids);
    free(c->sa);
    free(c->sb);
    c->bundles = xmalloc(n * sizeof *c->bundles);
    c->blen = xmalloc(n * sizeof *c->blen);
    c->ids = xmalloc(n * sizeof *c->ids);
    c->sa = xmalloc(n * sizeof *c->sa);
    c->sb = xmalloc(n * sizeof *c->sb);
    c->cap = n;
}

static void hs_free(hs_ctx *c)
{
    rbx_prekeys_free(c->pk);
    free(c->bundles);
    free(c->blen);
    free(c->ids);
    free(c->sa);
    free(c->sb);
    sodium_memzero(c, sizeof *c);
}

/* Handshake: bundle parse (XEdDSA verify) + initiate + first encrypt +
 * accept with a one-time prekey. Prekey generation and the bundles are made
 * before the clock starts; freeing the sessions happens after it stops. */
static double hs_batch(void *ctx, unsigned n)
{
    hs_ctx *c = ctx;
    rbx_bundle b;
    size_t wlen, olen;
    uint32_t consumed;

    hs_reserve(c, n);
    for (unsigned i = 0; i < n; i++) {
        c->ids[i] = c->next_id--;
        RBX(rbx_prekeys_add_onetime(c->pk, c->ids[i], NULL));
        RBX(rbx_prekeys_bundle(c->bundles[i], RBX_BUNDLE_MAXBYTES, &c->blen[i], c->pk, SPK_ID,
                               c->ids[i]));
    }
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_bundle_parse(&b, c->bundles[i], c->blen[i]));
        RBX(rbx_session_initiate(&c->sa[i], c->alice.pk, c->alice.sk, &b, NULL));
        RBX(rbx_session_encrypt(c->sa[i], c->wire, sizeof c->wire, &wlen, c->pt, sizeof c->pt));
        RBX(rbx_session_accept(&c->sb[i], c->out, sizeof c->out, &olen, &consumed, c->pk, NULL,
                               c->wire, wlen));
        EXPECT(olen == sizeof c->pt && consumed == c->ids[i]);
        sink ^= c->out[0];
    }
    double t = (now_us() - t0) / n;
    for (unsigned i = 0; i < n; i++) {
        rbx_session_free(c->sa[i]);
        rbx_session_free(c->sb[i]);
    }
    EXPECT(rbx_prekeys_onetime_count(c->pk) == 0);
    return t;
}

/* ------------------------------------------------------------ floors */

typedef struct sym_floor_ctx {
    size_t len;
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    uint8_t hkey[crypto_auth_hmacsha256_KEYBYTES];
    uint8_t ad[RATCHET_ADBYTES];
    uint8_t *pt, *ct, *out;
} sym_floor_ctx;

static void sym_floor_init(sym_floor_ctx *c, size_t len)
{
    c->len = len;
    randombytes_buf(c->key, sizeof c->key);
    randombytes_buf(c->nonce, sizeof c->nonce);
    randombytes_buf(c->hkey, sizeof c->hkey);
    randombytes_buf(c->ad, sizeof c->ad);
    c->pt = xmalloc(len);
    c->ct = xmalloc(len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    c->out = xmalloc(len);
    randombytes_buf(c->pt, len);
}

static void sym_floor_free(sym_floor_ctx *c)
{
    free(c->pt);
    free(c->ct);
    free(c->out);
}

/* One symmetric message, sender + receiver: KDF_CK and the message keys on
 * each side (4 HMAC-SHA256 with a 32-byte key over one byte), then
 * XChaCha20-Poly1305 encrypt and decrypt with the ratchet's 104-byte AD. */
static void sym_floor_once(sym_floor_ctx *c)
{
    static const uint8_t one = 0x01;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    for (int k = 0; k < 4; k++) {
        NA(crypto_auth_hmacsha256(mac, &one, 1, c->hkey));
        c->hkey[0] ^= mac[0]; /* chain them, as the chain key does */
    }
    NA(crypto_aead_xchacha20poly1305_ietf_encrypt(c->ct, NULL, c->pt, c->len, c->ad,
                                                  sizeof c->ad, NULL, c->nonce, c->key));
    NA(crypto_aead_xchacha20poly1305_ietf_decrypt(c->out, NULL, NULL, c->ct,
                                                  c->len + crypto_aead_xchacha20poly1305_ietf_ABYTES,
                                                  c->ad, sizeof c->ad, c->nonce, c->key));
    sink ^= c->out[c->len - 1];
}

static double sym_floor_batch(void *ctx, unsigned n)
{
    sym_floor_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) sym_floor_once(c);
    return (now_us() - t0) / n;
}

/* The floor of the construction PROTOCOL.md mandates, as opposed to the
 * issue's 4-HMAC floor: per side KDF_CK (one HMAC key schedule, two
 * finalisations) and HKDF-Expand(mk, info, 56) for the AEAD key and nonce
 * (a second key schedule, two more blocks), then the AEAD. The gap between
 * this row and the 4-HMAC floor is the price of deriving key and nonce by
 * HKDF; the gap between ratchetbox and this row is implementation overhead. */
static void hmac_pair(uint8_t a[32], uint8_t b[32], const uint8_t key[32], const uint8_t *m1,
                      size_t l1, const uint8_t *m2, size_t l2)
{
    crypto_auth_hmacsha256_state keyed, st;
    NA(crypto_auth_hmacsha256_init(&keyed, key, 32));
    st = keyed;
    NA(crypto_auth_hmacsha256_update(&st, m1, l1));
    NA(crypto_auth_hmacsha256_final(&st, a));
    NA(crypto_auth_hmacsha256_update(&keyed, m2, l2));
    NA(crypto_auth_hmacsha256_final(&keyed, b));
}

static double sym_construction_batch(void *ctx, unsigned n)
{
    sym_floor_ctx *c = ctx;
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t mk[32], t1[32], t2[32], m2[32 + 22];
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        for (int side = 0; side < 2; side++) {
            hmac_pair(mk, c->hkey, c->hkey, &one, 1, &two, 1);
            static const uint8_t info1[22] = "ratchetbox v1 message\x01";
            memcpy(m2, mk, 32); /* stands in for T1 */
            memcpy(m2 + 32, info1, 22);
            hmac_pair(t1, t2, mk, info1, sizeof info1, m2, sizeof m2);
        }
        NA(crypto_aead_xchacha20poly1305_ietf_encrypt(c->ct, NULL, c->pt, c->len, c->ad,
                                                      sizeof c->ad, NULL, c->nonce, c->key));
        NA(crypto_aead_xchacha20poly1305_ietf_decrypt(
            c->out, NULL, NULL, c->ct, c->len + crypto_aead_xchacha20poly1305_ietf_ABYTES, c->ad,
            sizeof c->ad, c->nonce, c->key));
        sink ^= c->out[0] ^ t2[0];
    }
    return (now_us() - t0) / n;
}

/* HKDF-SHA256 of 32 input bytes to 96 output bytes, as RFC 5869 computes it:
 * one extract HMAC, then three expand blocks T(i) = HMAC(PRK, T(i-1) || info || i). */
static void hkdf96_floor(uint8_t out[96], const uint8_t salt[32], const uint8_t ikm[32])
{
    uint8_t prk[crypto_auth_hmacsha256_BYTES];
    uint8_t blk[crypto_auth_hmacsha256_BYTES + HKDF_INFOBYTES + 1U];
    NA(crypto_auth_hmacsha256(prk, ikm, 32, salt));
    memset(blk + 32, 'i', HKDF_INFOBYTES);
    blk[32 + HKDF_INFOBYTES] = 1;
    NA(crypto_auth_hmacsha256(out, blk + 32, HKDF_INFOBYTES + 1U, prk));
    for (uint8_t i = 2; i <= 3; i++) {
        memcpy(blk, out + 32 * (i - 2), 32);
        blk[32 + HKDF_INFOBYTES] = i;
        NA(crypto_auth_hmacsha256(out + 32 * (i - 1), blk, sizeof blk, prk));
    }
    sodium_memzero(prk, sizeof prk);
}

typedef struct dh_floor_ctx {
    sym_floor_ctx sym;
    uint8_t my_pk[32], my_sk[32], peer_pk[32], rk[32];
} dh_floor_ctx;

/* One DH-ratchet message, sender + receiver: the receiver's DHRatchet
 * (1 key pair + 2 X25519 + 2 KDF_RK) plus the 64-byte symmetric floor. */
static void dh_floor_once(dh_floor_ctx *c)
{
    uint8_t secret[32], okm[96];
    NA(crypto_scalarmult(secret, c->my_sk, c->peer_pk));
    hkdf96_floor(okm, c->rk, secret);
    NA(crypto_box_keypair(c->my_pk, c->my_sk));
    NA(crypto_scalarmult(secret, c->my_sk, c->peer_pk));
    hkdf96_floor(okm, okm, secret);
    memcpy(c->rk, okm, 32);
    sink ^= c->rk[0];
    sym_floor_once(&c->sym);
}

static double dh_floor_batch(void *ctx, unsigned n)
{
    dh_floor_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) dh_floor_once(c);
    return (now_us() - t0) / n;
}

typedef struct hs_floor_ctx {
    dh_floor_ctx dh;
    uint8_t ed_pk[crypto_sign_PUBLICKEYBYTES], ed_sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[crypto_sign_BYTES], stmt[SPK_STATEMENTBYTES];
    uint8_t x_pk[32], x_sk[32];
} hs_floor_ctx;

/* Handshake floor, the primitives of both sides:
 *  - 1 XEdDSA verify: stood in for by libsodium's Ed25519 verify of a 53-byte
 *    statement (XEdDSA verify is an Ed25519 verify after a Montgomery-to-
 *    Edwards conversion, which the stand-in leaves out);
 *  - initiator: key pair (EK) + 4 X25519 (X3DH) + key pair (ratchet) + 1 X25519;
 *  - responder: 4 X25519 (X3DH) + its first DH step on receipt
 *    (2 X25519 + 1 key pair);
 *  - 5 HKDFs: X3DH's on each side, KDF_RK in the initiator's ratchet init and
 *    the responder's two KDF_RK in its DH step;
 *  - the first message's 64-byte symmetric step (4 HMAC + 2 AEAD). */
static void hs_floor_once(hs_floor_ctx *c)
{
    uint8_t secret[32], okm[96];
    NA(crypto_sign_verify_detached(c->sig, c->stmt, sizeof c->stmt, c->ed_pk));
    for (int k = 0; k < 3; k++) NA(crypto_box_keypair(c->x_pk, c->x_sk));
    for (int k = 0; k < 11; k++) NA(crypto_scalarmult(secret, c->x_sk, c->dh.peer_pk));
    for (int k = 0; k < 5; k++) hkdf96_floor(okm, c->dh.rk, secret);
    sink ^= okm[0];
    sym_floor_once(&c->dh.sym);
}

static double hs_floor_batch(void *ctx, unsigned n)
{
    hs_floor_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) hs_floor_once(c);
    return (now_us() - t0) / n;
}

/* ------------------------------------------------------------ baseline rows */

typedef struct box_ctx {
    party alice, bob;
    uint8_t k[RBX_BASELINE_KEYBYTES];
    uint8_t pt[MSG_SMALL], out[MSG_SMALL];
    uint8_t nonce[crypto_box_NONCEBYTES], ct[MSG_SMALL + crypto_box_MACBYTES];
    char content[RBX_BASELINE_B64LEN(MSG_SMALL)];
    char nonce64[RBX_NONCE_B64BYTES];
} box_ctx;

/* Today's product: rbx_baseline_seal + rbx_baseline_open (a full X25519 on
 * each side, base64 of ciphertext and nonce). */
static double box_rbx_batch(void *ctx, unsigned n)
{
    box_ctx *c = ctx;
    size_t olen;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_baseline_seal(c->content, sizeof c->content, c->nonce64, c->pt, sizeof c->pt,
                              c->bob.pk, c->alice.sk));
        RBX(rbx_baseline_open(c->out, sizeof c->out, &olen, c->content, strlen(c->content),
                              c->nonce64, strlen(c->nonce64), c->alice.pk, c->bob.sk));
        EXPECT(olen == sizeof c->pt);
        sink ^= c->out[0];
    }
    return (now_us() - t0) / n;
}

/* The same in raw libsodium; the random nonce is part of every envelope. */
static double box_raw_batch(void *ctx, unsigned n)
{
    box_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        randombytes_buf(c->nonce, sizeof c->nonce);
        NA(crypto_box_easy(c->ct, c->pt, sizeof c->pt, c->nonce, c->bob.pk, c->alice.sk));
        NA(crypto_box_open_easy(c->out, c->ct, sizeof c->ct, c->nonce, c->alice.pk, c->bob.sk));
        sink ^= c->out[0];
    }
    return (now_us() - t0) / n;
}

static double box_rbx_afternm_batch(void *ctx, unsigned n)
{
    box_ctx *c = ctx;
    size_t olen;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_baseline_seal_afternm(c->content, sizeof c->content, c->nonce64, c->pt,
                                      sizeof c->pt, c->k));
        RBX(rbx_baseline_open_afternm(c->out, sizeof c->out, &olen, c->content,
                                      strlen(c->content), c->nonce64, strlen(c->nonce64), c->k));
        EXPECT(olen == sizeof c->pt);
        sink ^= c->out[0];
    }
    return (now_us() - t0) / n;
}

static double box_raw_afternm_batch(void *ctx, unsigned n)
{
    box_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        randombytes_buf(c->nonce, sizeof c->nonce);
        NA(crypto_box_easy_afternm(c->ct, c->pt, sizeof c->pt, c->nonce, c->k));
        NA(crypto_box_open_easy_afternm(c->out, c->ct, sizeof c->ct, c->nonce, c->k));
        sink ^= c->out[0];
    }
    return (now_us() - t0) / n;
}

/* ------------------------------------------------------------ the table */

typedef struct row {
    const char *name;
    const char *impl;
    double (*batch)(void *ctx, unsigned n);
    void *ctx;
    int floor;            /* index of the row holding this row's floor, or -1 */
    double target;        /* ratio target, or 0 for none */
    unsigned iters;       /* iterations per batch, from the warm-up */
    double us[MAX_REPS];  /* per-op microseconds, one per repetition */
} row;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, unsigned n)
{
    double s[MAX_REPS];
    memcpy(s, v, n * sizeof *v);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
}

/* Warm caches, frequency and allocator, then size the batch to
 * BATCH_TARGET_US from the slowest of three short runs. */
static void warm_up(row *r)
{
    double per = 0.0;
    (void)r->batch(r->ctx, 4);
    for (int k = 0; k < 3; k++) {
        double t = r->batch(r->ctx, 8);
        if (t > per) per = t;
    }
    double n = BATCH_TARGET_US / (per > 0.01 ? per : 0.01);
    r->iters = n < 1.0 ? 1U : n > MAX_BATCH ? MAX_BATCH : (unsigned)n;
    (void)r->batch(r->ctx, r->iters);
}

static void cpu_model(char *out, size_t cap)
{
    char line[256];
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (v == NULL) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        snprintf(out, cap, "%s", v);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

static void print_header(unsigned reps)
{
    char date[64], cpu[160];
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(date, sizeof date, "unknown date");
    cpu_model(cpu, sizeof cpu);
    printf("ratchetbox %s bench  %s  cpu: %s  libsodium %s  reps: %u (interleaved)\n",
           rbx_version(), date, cpu, sodium_version_string(), reps);
    printf("per message, sender + receiver; microseconds per op over %u repetitions "
           "of ~%.0f ms batches\n\n", reps, BATCH_TARGET_US / 1000.0);
}

static void print_table(const row *rows, unsigned nrows, unsigned reps)
{
    printf("%-22s %-18s %10s %10s %10s %10s %6s %7s %s\n", "case", "impl", "median_us",
           "min_us", "max_us", "floor_us", "ratio", "target", "met/MISSED");
    for (unsigned i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        double med = median_of(r->us, reps), lo = r->us[0], hi = r->us[0];
        for (unsigned k = 1; k < reps; k++) {
            if (r->us[k] < lo) lo = r->us[k];
            if (r->us[k] > hi) hi = r->us[k];
        }
        printf("%-22s %-18s %10.2f %10.2f %10.2f", r->name, r->impl, med, lo, hi);
        if (r->floor < 0) {
            printf(" %10s %6s %7s %s\n", "-", "-", "-", "-");
            continue;
        }
        double fl = median_of(rows[r->floor].us, reps), ratio = med / fl;
        printf(" %10.2f %6.2f", fl, ratio);
        if (r->target > 0.0)
            printf("  <=%4.2f %s\n", r->target, ratio <= r->target ? "met" : "MISSED");
        else
            printf(" %7s %s\n", "-", "-");
    }
}

/* ------------------------------------------------------------ sizes */

static size_t blob_size(const rbx_session *s)
{
    size_t n;
    RBX(rbx_session_serialize(NULL, 0, &n, s));
    return n;
}

static void print_sizes(void)
{
    static const rbx_session_opts he = { RBX_PROFILE_DEFAULT, 1 };
    uint8_t pt[MSG_SMALL], wire[WIRE_CAP], out[WIRE_CAP];
    size_t wlen, olen, first[2], normal[2];
    rbx_session *a, *b;

    memset(pt, 'w', sizeof pt);
    for (int h = 0; h < 2; h++) {
        establish(&a, &b, h ? &he : NULL, &first[h]);
        RBX(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, sizeof pt));
        EXPECT(rbx_message_prekey_info(NULL, wire, wlen) == 0);
        normal[h] = wlen - sizeof pt;
        rbx_session_free(a);
        rbx_session_free(b);
    }
    printf("\nwire overhead (bytes of the message minus a 64-byte plaintext; counters < 128)\n");
    printf("  %-26s %8s %16s\n", "", "normal", "first (PreKey)");
    printf("  %-26s %8zu %16zu\n", "clear header", normal[0], first[0]);
    printf("  %-26s %8zu %16zu\n", "header encryption", normal[1], first[1]);

    /* Serialized session: Alice sends, Bob receives, one direction only,
     * everything delivered in order. */
    party alice, bob;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen, a1, b1;
    uint32_t consumed;
    rbx_bundle bd;
    party_new(&alice);
    party_new(&bob);
    rbx_prekeys *pk = prekeys_new(&bob);
    RBX(rbx_prekeys_add_onetime(pk, 1, NULL));
    RBX(rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pk, SPK_ID, 1));
    RBX(rbx_bundle_parse(&bd, bundle, blen));
    RBX(rbx_session_initiate(&a, alice.pk, alice.sk, &bd, NULL));
    RBX(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, sizeof pt));
    RBX(rbx_session_accept(&b, out, sizeof out, &olen, &consumed, pk, NULL, wire, wlen));
    a1 = blob_size(a);
    b1 = blob_size(b);
    for (int i = 1; i < 1000; i++) {
        RBX(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, sizeof pt));
        RBX(rbx_session_decrypt(b, out, sizeof out, &olen, wire, wlen));
        EXPECT(olen == sizeof pt);
    }
    printf("\nserialized session (rbx_session_serialize, out=NULL), one direction, in order\n");
    printf("  %-26s %8s %16s\n", "", "sender", "receiver");
    printf("  %-26s %8zu %16zu\n", "after 1 message", a1, b1);
    printf("  %-26s %8zu %16zu\n", "after 1,000 messages", blob_size(a), blob_size(b));
    printf("  prekey bundle with a one-time prekey: %zu bytes\n", blen);
    rbx_session_free(a);
    rbx_session_free(b);
    rbx_prekeys_free(pk);
    sodium_memzero(&alice, sizeof alice);
    sodium_memzero(&bob, sizeof bob);
}

/* ------------------------------------------------------------ main */

enum {
    R_SYM64, R_SYM64_F, R_SYM64_C, R_SYM1K, R_SYM1K_F, R_SYM16K, R_SYM16K_F,
    R_DH, R_DH_F, R_HS, R_HS_F,
    R_BOX_RBX, R_BOX_RAW, R_BOXNM_RBX, R_BOXNM_RAW,
    NROWS
};

int main(int argc, char **argv)
{
    unsigned reps = DEFAULT_REPS;
    if (argc > 1) {
        char *end;
        unsigned long v = strtoul(argv[1], &end, 10);
        if (*end != '\0' || v < MIN_REPS || v > MAX_REPS) {
            fprintf(stderr, "usage: bench [repetitions %u..%u]\n", MIN_REPS, MAX_REPS);
            return EXIT_FAILURE;
        }
        reps = (unsigned)v;
    }
    RBX(rbx_init());

    static sym_ctx sym[3];
    static sym_floor_ctx symf[3];
    static dh_ctx dh;
    static dh_floor_ctx dhf;
    static hs_ctx hs;
    static hs_floor_ctx hsf;
    static box_ctx box;
    static const size_t sizes[3] = { MSG_SMALL, 1024U, MSG_LARGEST };

    for (int i = 0; i < 3; i++) {
        sym_init(&sym[i], sizes[i]);
        sym_floor_init(&symf[i], sizes[i]);
    }
    establish(&dh.a, &dh.b, NULL, NULL);
    memset(dh.pt, 'd', sizeof dh.pt);
    sym_floor_init(&dhf.sym, MSG_SMALL);
    NA(crypto_box_keypair(dhf.my_pk, dhf.my_sk));
    NA(crypto_box_keypair(dhf.peer_pk, dhf.rk)); /* rk: any 32 bytes */
    hs_init(&hs);
    sym_floor_init(&hsf.dh.sym, MSG_SMALL);
    NA(crypto_box_keypair(hsf.dh.peer_pk, hsf.dh.rk));
    NA(crypto_box_keypair(hsf.x_pk, hsf.x_sk));
    NA(crypto_sign_keypair(hsf.ed_pk, hsf.ed_sk));
    randombytes_buf(hsf.stmt, sizeof hsf.stmt);
    NA(crypto_sign_detached(hsf.sig, NULL, hsf.stmt, sizeof hsf.stmt, hsf.ed_sk));
    party_new(&box.alice);
    party_new(&box.bob);
    RBX(rbx_baseline_precompute(box.k, box.bob.pk, box.alice.sk));
    randombytes_buf(box.pt, sizeof box.pt);

    static row rows[NROWS] = {
        [R_SYM64] = { "symmetric 64 B", "ratchetbox", sym_batch, NULL, R_SYM64_F, 1.2, 0, { 0 } },
        [R_SYM64_F] = { "symmetric 64 B", "floor", sym_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_SYM64_C] = { "symmetric 64 B", "HKDF-mk floor", sym_construction_batch, NULL, R_SYM64_F,
                        0, 0, { 0 } },
        [R_SYM1K] = { "symmetric 1 KiB", "ratchetbox", sym_batch, NULL, R_SYM1K_F, 1.2, 0, { 0 } },
        [R_SYM1K_F] = { "symmetric 1 KiB", "floor", sym_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_SYM16K] = { "symmetric 16 KiB", "ratchetbox", sym_batch, NULL, R_SYM16K_F, 1.2, 0,
                       { 0 } },
        [R_SYM16K_F] = { "symmetric 16 KiB", "floor", sym_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_DH] = { "DH-ratchet step 64 B", "ratchetbox", dh_batch, NULL, R_DH_F, 1.15, 0, { 0 } },
        [R_DH_F] = { "DH-ratchet step 64 B", "floor", dh_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_HS] = { "handshake + 1st msg", "ratchetbox", hs_batch, NULL, R_HS_F, 1.3, 0, { 0 } },
        [R_HS_F] = { "handshake + 1st msg", "floor", hs_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_BOX_RBX] = { "box 64 B", "rbx_baseline", box_rbx_batch, NULL, R_BOX_RAW, 0, 0, { 0 } },
        [R_BOX_RAW] = { "box 64 B", "libsodium", box_raw_batch, NULL, -1, 0, 0, { 0 } },
        [R_BOXNM_RBX] = { "box beforenm 64 B", "rbx_baseline", box_rbx_afternm_batch, NULL,
                          R_BOXNM_RAW, 0, 0, { 0 } },
        [R_BOXNM_RAW] = { "box beforenm 64 B", "libsodium", box_raw_afternm_batch, NULL, -1, 0, 0,
                          { 0 } },
    };
    rows[R_SYM64].ctx = &sym[0];
    rows[R_SYM64_F].ctx = &symf[0];
    rows[R_SYM64_C].ctx = &symf[0];
    rows[R_SYM1K].ctx = &sym[1];
    rows[R_SYM1K_F].ctx = &symf[1];
    rows[R_SYM16K].ctx = &sym[2];
    rows[R_SYM16K_F].ctx = &symf[2];
    rows[R_DH].ctx = &dh;
    rows[R_DH_F].ctx = &dhf;
    rows[R_HS].ctx = &hs;
    rows[R_HS_F].ctx = &hsf;
    rows[R_BOX_RBX].ctx = &box;
    rows[R_BOX_RAW].ctx = &box;
    rows[R_BOXNM_RBX].ctx = &box;
    rows[R_BOXNM_RAW].ctx = &box;

    print_header(reps);
    for (unsigned i = 0; i < NROWS; i++) warm_up(&rows[i]);
    for (unsigned k = 0; k < reps; k++)
        for (unsigned i = 0; i < NROWS; i++)
            rows[i].us[k] = rows[i].batch(rows[i].ctx, rows[i].iters);
    print_table(rows, NROWS, reps);
    printf("\nfloors: symmetric = 4 HMAC-SHA256 + XChaCha20-Poly1305 encrypt + decrypt (104 B AD);\n"
           "DH step = key pair + 2 X25519 + 2 HKDF(96 B) + 64 B symmetric; handshake = Ed25519\n"
           "verify (XEdDSA stand-in) + 3 key pairs + 11 X25519 + 5 HKDF + 64 B symmetric.\n"
           "HKDF-mk floor = the 4-HMAC floor plus HKDF-Expand(mk, 56) per side, the key and nonce\n"
           "derivation PROTOCOL.md mandates (its ratio: the cost of that derivation alone).\n"
           "box rows: ratio = rbx_baseline (with base64) / raw libsodium, both with a random nonce.\n");

    print_sizes();

    for (int i = 0; i < 3; i++) {
        sym_free(&sym[i]);
        sym_floor_free(&symf[i]);
    }
    rbx_session_free(dh.a);
    rbx_session_free(dh.b);
    sym_floor_free(&dhf.sym);
    hs_free(&hs);
    sym_floor_free(&hsf.dh.sym);
    sodium_memzero(&box, sizeof box);
    return EXIT_SUCCESS;
}
