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
 * A second table, "durable", measures the SQLite store against the raw cost
 * of one fdatasync on the same disk, interleaved the same way, in a temporary
 * directory under build/ (removed at the end). The scale section compares a
 * store holding 100,000 sessions with one holding a single session. The
 * fan-out section measures a message to a user with several devices
 * (PROTOCOL.md 21.4): its crypto per recipient device next to one
 * symmetric step, and its durable cost next to a one-device send.
 *
 *   usage: bench [--no-scale] [--fanout-only] [repetitions]     (default 11, at least 7)
 *
 * --fanout-only runs the fan-out section alone (its rows carry their own
 * references, measured in the same run), for a targeted measurement.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ratchetbox.h"
#include "internal.h" /* rbx__store32_be */
#include "store.h"    /* rbx__store_db, rbx__st_bind_sealed, rbx__row_open: the scale fill */
#include "content.h"  /* rbx__content_header/_parse: the fan-out rows */

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

#define RBX(call) check_rbx((call), #call, __LINE__)
#define NA(call) check_na((call), #call, __LINE__)
#define now_us cmp_now_us

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

/* A session pair after X3DH and the first message (a PreKeyMessage).
 * *first_overhead: its wire bytes minus its 64-byte plaintext; *bundle_len:
 * bytes of the bundle with a one-time prekey. Either may be NULL. */
static void handshake(rbx_session **a, rbx_session **b, const rbx_session_opts *opts,
                      size_t *first_overhead, size_t *bundle_len)
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
    if (bundle_len != NULL) *bundle_len = blen;
    RBX(rbx_bundle_parse(&b0, bundle, blen));
    RBX(rbx_session_initiate(a, alice.pk, alice.sk, &b0, opts));
    memset(pt, 'a', sizeof pt);
    RBX(rbx_session_encrypt(*a, wire, sizeof wire, &wlen, pt, sizeof pt));
    CMP_CHECK(rbx_message_prekey_info(NULL, wire, wlen) == 1);
    if (first_overhead != NULL) *first_overhead = wlen - sizeof pt;
    RBX(rbx_session_accept(b, out, sizeof out, &olen, &consumed, pk, NULL, wire, wlen));
    CMP_CHECK(olen == sizeof pt && consumed == 7);
    rbx_prekeys_free(pk);
    sodium_memzero(&alice, sizeof alice);
    sodium_memzero(&bob, sizeof bob);
}

/* The handshake and one reply, so that Alice's messages are normal Messages. */
static void establish(rbx_session **a, rbx_session **b, const rbx_session_opts *opts,
                      size_t *first_overhead)
{
    uint8_t pt[MSG_SMALL], wire[WIRE_CAP], out[WIRE_CAP];
    size_t wlen, olen;
    handshake(a, b, opts, first_overhead, NULL);
    memset(pt, 'a', sizeof pt);
    RBX(rbx_session_encrypt(*b, wire, sizeof wire, &wlen, pt, sizeof pt));
    RBX(rbx_session_decrypt(*a, out, sizeof out, &olen, wire, wlen));
    CMP_CHECK(olen == sizeof pt);
}

/* ------------------------------------------------------------ ratchet rows */

typedef struct sym_ctx {
    rbx_session *a, *b;
    size_t len;
    uint8_t *pt, *wire, *out;
} sym_ctx;

static void sym_init(sym_ctx *c, size_t len, const rbx_session_opts *opts)
{
    establish(&c->a, &c->b, opts, NULL);
    c->len = len;
    c->pt = cmp_xmalloc(len);
    c->wire = cmp_xmalloc(WIRE_CAP);
    c->out = cmp_xmalloc(WIRE_CAP);
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
        CMP_CHECK(olen == c->len);
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
        CMP_CHECK(olen == sizeof c->pt);
        sink ^= c->out[0];
        RBX(rbx_session_encrypt(c->b, c->wire, sizeof c->wire, &wlen, c->pt, sizeof c->pt));
        RBX(rbx_session_decrypt(c->a, c->out, sizeof c->out, &olen, c->wire, wlen));
        CMP_CHECK(olen == sizeof c->pt);
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
    c->bundles = cmp_xmalloc(n * sizeof *c->bundles);
    c->blen = cmp_xmalloc(n * sizeof *c->blen);
    c->ids = cmp_xmalloc(n * sizeof *c->ids);
    c->sa = cmp_xmalloc(n * sizeof *c->sa);
    c->sb = cmp_xmalloc(n * sizeof *c->sb);
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
        CMP_CHECK(olen == sizeof c->pt && consumed == c->ids[i]);
        sink ^= c->out[0];
    }
    double t = (now_us() - t0) / n;
    for (unsigned i = 0; i < n; i++) {
        rbx_session_free(c->sa[i]);
        rbx_session_free(c->sb[i]);
    }
    CMP_CHECK(rbx_prekeys_onetime_count(c->pk) == 0);
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
    c->pt = cmp_xmalloc(len);
    c->ct = cmp_xmalloc(len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    c->out = cmp_xmalloc(len);
    randombytes_buf(c->pt, len);
}

static void sym_floor_free(sym_floor_ctx *c)
{
    free(c->pt);
    free(c->ct);
    free(c->out);
}

/* The floor of version 2 (profile 2, the default; PROTOCOL.md 4.4, 4.5):
 * the primitives one symmetric message cannot avoid, sender + receiver. Per
 * side one chain step (BLAKE2b-512 keyed by the chain key, empty data: one
 * compression) and the body key and nonce (BLAKE2b-352 keyed by mk, salt R:
 * one compression); the sender's 16 bytes of R from the kernel
 * (randombytes_buf: one getrandom system call); ChaCha20-Poly1305 (IETF)
 * encrypt and decrypt with the ratchet's 104-byte AD. The block step every
 * 32 messages (one more compression per side, 1/32 of a message) is left
 * out. */
static void sym_floor_once(sym_floor_ctx *c)
{
    static const uint8_t pchain[16] = "rbx-v2-chain-key", pbody[16] = "rbx-v2-body-keys";
    static const uint8_t zero[16];
    uint8_t o[64], kn[44], salt[16];
    for (int side = 0; side < 2; side++) {
        NA(crypto_generichash_blake2b_salt_personal(o, 64, NULL, 0, c->hkey, 32, zero, pchain));
        memcpy(c->hkey, o, 32); /* chain them, as the chain key does */
        if (side == 0) randombytes_buf(salt, sizeof salt);
        NA(crypto_generichash_blake2b_salt_personal(kn, 44, NULL, 0, o + 32, 32, salt, pbody));
    }
    NA(crypto_aead_chacha20poly1305_ietf_encrypt(c->ct, NULL, c->pt, c->len, c->ad, sizeof c->ad,
                                                 NULL, kn + 32, kn));
    NA(crypto_aead_chacha20poly1305_ietf_decrypt(c->out, NULL, NULL, c->ct,
                                                 c->len + crypto_aead_chacha20poly1305_ietf_ABYTES,
                                                 c->ad, sizeof c->ad, kn + 32, kn));
    sink ^= c->out[c->len - 1];
}

/* Version 1's floor as issue 1 defined it: KDF_CK and the message keys on
 * each side (4 HMAC-SHA256 with a 32-byte key over one byte), then
 * XChaCha20-Poly1305 encrypt and decrypt with the ratchet's 104-byte AD. */
static void sym_floor_v1_once(sym_floor_ctx *c)
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

static double sym_floor_v1_batch(void *ctx, unsigned n)
{
    sym_floor_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) sym_floor_v1_once(c);
    return (now_us() - t0) / n;
}

/* The forged message of compare.c's "reject forged" case (PROTOCOL.md 7.4,
 * SECURITY.md 7): a genuine message of a new sending chain, position 999,
 * with a tag byte changed, so the receiver does the receiving half of a DH
 * step and one Jump before the AEAD fails. Its floor: one X25519, one KDF_RK
 * (HKDF to 96 bytes), the chain's start and the Jump to 999 = 31 x 32 + 7
 * (32 block steps, 7 chain steps and the Next of 999: BLAKE2b each), the
 * body key and a ChaCha20-Poly1305 decrypt that fails. */
typedef struct forged_ctx {
    rbx_session *b;
    uint8_t wire[WIRE_CAP], out[WIRE_CAP];
    size_t wlen;
    sym_floor_ctx *sym;
    uint8_t sk[32], pk[32], rk[32];
} forged_ctx;

static void forged_init(forged_ctx *c, const rbx_session_opts *opts, sym_floor_ctx *sym)
{
    rbx_session *a;
    uint8_t pt[MSG_SMALL];
    memset(pt, 'f', sizeof pt);
    establish(&a, &c->b, opts, NULL);
    /* Bob replies, so Alice's next messages start a new chain for him. */
    RBX(rbx_session_encrypt(c->b, c->wire, sizeof c->wire, &c->wlen, pt, sizeof pt));
    RBX(rbx_session_decrypt(a, c->out, sizeof c->out, &c->wlen, c->wire, c->wlen));
    for (unsigned i = 0; i < RBX_MAX_SKIP; i++)
        RBX(rbx_session_encrypt(a, c->wire, sizeof c->wire, &c->wlen, pt, sizeof pt));
    c->wire[c->wlen - (opts != NULL && opts->profile != RBX_PROFILE_FAST ? 3 : 21)] ^= 0x01; /* tag */
    rbx_session_free(a);
    c->sym = sym;
    NA(crypto_box_keypair(c->pk, c->sk));
    randombytes_buf(c->rk, sizeof c->rk);
}

static double forged_batch(void *ctx, unsigned n)
{
    forged_ctx *c = ctx;
    size_t olen;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++)
        CMP_CHECK(rbx_session_decrypt(c->b, c->out, sizeof c->out, &olen, c->wire, c->wlen) ==
                  RBX_E_AUTH);
    return (now_us() - t0) / n;
}

static void hkdf96_floor(uint8_t out[96], const uint8_t salt[32], const uint8_t ikm[32]);

static double forged_floor_batch(void *ctx, unsigned n)
{
    forged_ctx *c = ctx;
    static const uint8_t pchain[16] = "rbx-v2-chain-key", pblock[16] = "rbx-v2-block-key",
                         pbody[16] = "rbx-v2-body-keys";
    static const uint8_t zero[16];
    uint8_t secret[32], okm[96], o[64], kn[44];
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        NA(crypto_scalarmult(secret, c->sk, c->pk));
        hkdf96_floor(okm, c->rk, secret);
        for (int k = 0; k < 32; k++) {
            NA(crypto_generichash_blake2b_salt_personal(o, 64, NULL, 0, okm + 32, 32, zero, pblock));
            memcpy(okm + 32, o, 32);
        }
        for (int k = 0; k < 8; k++) {
            NA(crypto_generichash_blake2b_salt_personal(o, 64, NULL, 0, okm, 32, zero, pchain));
            memcpy(okm, o, 32);
        }
        NA(crypto_generichash_blake2b_salt_personal(kn, 44, NULL, 0, o + 32, 32, zero, pbody));
        CMP_CHECK(crypto_aead_chacha20poly1305_ietf_decrypt(
                      c->sym->out, NULL, NULL, c->sym->ct,
                      c->sym->len + crypto_aead_chacha20poly1305_ietf_ABYTES, c->sym->ad,
                      sizeof c->sym->ad, kn + 32, kn) != 0);
        sink ^= o[0];
    }
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
        CMP_CHECK(olen == sizeof c->pt);
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
        CMP_CHECK(olen == sizeof c->pt);
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

static void print_header(unsigned reps)
{
    char date[64], cpu[160];
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(date, sizeof date, "unknown date");
    cmp_cpu_model(cpu, sizeof cpu);
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
        double med, lo, hi;
        cmp_stats(r->us, reps, &med, &lo, &hi);
        printf("%-22s %-18s %10.2f %10.2f %10.2f", r->name, r->impl, med, lo, hi);
        if (r->floor < 0) {
            printf(" %10s %6s %7s %s\n", "-", "-", "-", "-");
            continue;
        }
        double fl = cmp_median(rows[r->floor].us, reps), ratio = med / fl;
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
        CMP_CHECK(rbx_message_prekey_info(NULL, wire, wlen) == 0);
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
    size_t blen, a1, b1;
    handshake(&a, &b, NULL, NULL, &blen);
    a1 = blob_size(a);
    b1 = blob_size(b);
    for (int i = 1; i < 1000; i++) {
        RBX(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, sizeof pt));
        RBX(rbx_session_decrypt(b, out, sizeof out, &olen, wire, wlen));
        CMP_CHECK(olen == sizeof pt);
    }
    printf("\nserialized session (rbx_session_serialize, out=NULL), one direction, in order\n");
    printf("  %-26s %8s %16s\n", "", "sender", "receiver");
    printf("  %-26s %8zu %16zu\n", "after 1 message", a1, b1);
    printf("  %-26s %8zu %16zu\n", "after 1,000 messages", blob_size(a), blob_size(b));
    printf("  prekey bundle with a one-time prekey: %zu bytes\n", blen);
    rbx_session_free(a);
    rbx_session_free(b);
}

/* ------------------------------------------------------------ durable: setup */

/* The durable rows and the scale section work in a temporary directory on the
 * repository's file system (build/bench-tmp-XXXXXX): fdatasync on tmpfs is a
 * no-op, so /tmp is not used even where it would be a disk. */
#define TMP_PARENT "build"
/* Per-message rows: two erase periods of the bounded store per batch, so
 * every batch holds exactly two erase points of the default settings. */
#define DURABLE_ITERS (2U * RBX_STORE_ERASE_COMMITS)
#define BATCH_MSGS 100U                        /* messages per encrypt_batch call */
#define BATCH_CALLS RBX_STORE_ERASE_COMMITS     /* calls (commits) per batched row batch */
#define WIRE_SLOT 256U                         /* one pre-produced 64-byte message */
#define RAW_BYTES 4096U
#define SQLITE_ROWBYTES 800U
#define SCALE_SESSIONS 100000U
#define SCALE_ITERS RBX_STORE_ERASE_COMMITS    /* 2 commits each: 2 erase points per batch */
#define BOUNDED_TARGET 1.3                     /* x raw fdatasync, per message per side */
#define BATCHED_TARGET_US 10.0
#define SCALE_TARGET 1.5

static const char *tmpdir; /* cmp_tmpdir_create */

static void path_in(char *out, const char *name)
{
    int n = snprintf(out, CMP_PATH_CAP, "%s/%s", tmpdir, name);
    CMP_CHECK(n > 0 && (size_t)n < CMP_PATH_CAP);
}

static const char *fs_name(long type)
{
    switch ((unsigned long)type) {
    case 0xEF53UL: return "ext2/3/4";
    case 0x01021994UL: return "tmpfs";
    case 0x858458F6UL: return "ramfs";
    case 0x58465342UL: return "xfs";
    case 0x9123683EUL: return "btrfs";
    case 0x794C7630UL: return "overlayfs";
    case 0x2FC12FC1UL: return "zfs";
    case 0x6969UL: return "nfs";
    case 0x65735546UL: return "fuse";
    default: return "other";
    }
}

static void tmpdir_create(void)
{
    struct statfs sf, tf;
    struct stat here, there, tmp;
    const char *parent = TMP_PARENT;
    if (stat(parent, &there) != 0 || !S_ISDIR(there.st_mode)) parent = ".";
    tmpdir = cmp_tmpdir_create(parent, "bench-tmp");
    CMP_CHECK(statfs(tmpdir, &sf) == 0);
    CMP_CHECK(stat(tmpdir, &there) == 0 && stat(".", &here) == 0);
    printf("temporary directory: %s  (file system: %s, f_type 0x%lx; %s the repository's;",
           tmpdir, fs_name((long)sf.f_type), (unsigned long)sf.f_type,
           here.st_dev == there.st_dev ? "same device as" : "NOT the same device as");
    if (statfs("/tmp", &tf) == 0 && stat("/tmp", &tmp) == 0)
        printf(" /tmp would be %s%s)\n", fs_name((long)tf.f_type),
               tmp.st_dev == there.st_dev ? ", same device" : ", another device");
    else
        printf(" /tmp not inspected)\n");
}

static off_t file_size(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        CMP_CHECK(errno == ENOENT);
        return 0;
    }
    return sb.st_size;
}

/* ------------------------------------------------------------ durable: references */

typedef struct raw_ctx {
    int fd;
    uint8_t buf[RAW_BYTES];
} raw_ctx;

static void raw_init(raw_ctx *c)
{
    char path[CMP_PATH_CAP];
    path_in(path, "raw.bin");
    c->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CMP_CHECK(c->fd >= 0);
    randombytes_buf(c->buf, sizeof c->buf);
    CMP_CHECK(pwrite(c->fd, c->buf, sizeof c->buf, 0) == (ssize_t)sizeof c->buf);
    CMP_CHECK(fsync(c->fd) == 0); /* the block is allocated: later syncs overwrite */
}

/* pwrite 4 KiB at offset 0 + fdatasync: the cost of one durable write. */
static double raw_batch(void *ctx, unsigned n)
{
    raw_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        c->buf[0] = (uint8_t)i;
        CMP_CHECK(pwrite(c->fd, c->buf, sizeof c->buf, 0) == (ssize_t)sizeof c->buf);
        CMP_CHECK(fdatasync(c->fd) == 0);
    }
    return (now_us() - t0) / n;
}

typedef struct sql_ctx {
    sqlite3 *db;
    sqlite3_stmt *begin, *ins, *commit;
    char wal[CMP_PATH_CAP + 8];
    uint8_t blob[SQLITE_ROWBYTES];
    unsigned grow_commits; /* commits made while the WAL was still growing */
    double grow_us;        /* their mean time */
} sql_ctx;

static double sql_batch(void *ctx, unsigned n);

static void sql_ok(sqlite3 *db, int rc, int want, const char *what, int line)
{
    if (rc != want) {
        fprintf(stderr, "bench: line %d: %s failed: %s (%d)\n", line, what,
                db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
        exit(EXIT_FAILURE);
    }
}

#define SQL(db, call) sql_ok((db), (call), SQLITE_OK, #call, __LINE__)
#define SQL_DONE(db, call) sql_ok((db), (call), SQLITE_DONE, #call, __LINE__)

static void sql_init(sql_ctx *c)
{
    char path[CMP_PATH_CAP];
    sqlite3_stmt *s;
    path_in(path, "bare.db");
    SQL(NULL, sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL));
    SQL(c->db, sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL));
    sql_ok(c->db, sqlite3_step(s), SQLITE_ROW, "PRAGMA journal_mode", __LINE__);
    CMP_CHECK(strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0);
    SQL(c->db, sqlite3_finalize(s));
    SQL(c->db, sqlite3_exec(c->db, "PRAGMA synchronous = FULL;"
                                   "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)",
                            NULL, NULL, NULL));
    SQL(c->db, sqlite3_prepare_v2(c->db, "BEGIN IMMEDIATE", -1, &c->begin, NULL));
    SQL(c->db, sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO t (id, v) VALUES (1, ?1)", -1,
                                  &c->ins, NULL));
    SQL(c->db, sqlite3_prepare_v2(c->db, "COMMIT", -1, &c->commit, NULL));
    randombytes_buf(c->blob, sizeof c->blob);

    /* Steady state first, as in any long-lived database: a fresh WAL grows
     * by one frame per commit until the automatic checkpoint (every
     * wal_autocheckpoint pages), after which SQLite rewrites it in place
     * from the start. Those growing commits are timed once, for the notes. */
    SQL(c->db, sqlite3_prepare_v2(c->db, "PRAGMA wal_autocheckpoint", -1, &s, NULL));
    sql_ok(c->db, sqlite3_step(s), SQLITE_ROW, "PRAGMA wal_autocheckpoint", __LINE__);
    int64_t autockpt = sqlite3_column_int64(s, 0);
    SQL(c->db, sqlite3_finalize(s));
    CMP_CHECK(autockpt > 16 && autockpt < 100000);
    int n = snprintf(c->wal, sizeof c->wal, "%s-wal", path);
    CMP_CHECK(n > 0 && (size_t)n < sizeof c->wal);
    c->grow_commits = (unsigned)autockpt - 8U;
    off_t w0 = file_size(c->wal);
    c->grow_us = sql_batch(c, c->grow_commits);
    CMP_CHECK(file_size(c->wal) > w0);
    (void)sql_batch(c, 2U * DURABLE_ITERS); /* past the checkpoint: the WAL wraps */
    off_t w1 = file_size(c->wal);
    (void)sql_batch(c, DURABLE_ITERS);
    CMP_CHECK(file_size(c->wal) == w1); /* rewritten in place, no longer growing */
}

static void sql_free(sql_ctx *c)
{
    SQL(c->db, sqlite3_finalize(c->begin));
    SQL(c->db, sqlite3_finalize(c->ins));
    SQL(c->db, sqlite3_finalize(c->commit));
    SQL(NULL, sqlite3_close(c->db));
}

/* What SQLite itself costs: BEGIN IMMEDIATE; INSERT OR REPLACE one 800-byte
 * row; COMMIT, in WAL mode with synchronous=FULL (SQLite's defaults
 * otherwise, e.g. its automatic checkpoint every 1000 WAL pages). */
static double sql_batch(void *ctx, unsigned n)
{
    sql_ctx *c = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        c->blob[0] = (uint8_t)i;
        SQL_DONE(c->db, sqlite3_step(c->begin));
        SQL(c->db, sqlite3_reset(c->begin));
        SQL(c->db, sqlite3_bind_blob(c->ins, 1, c->blob, sizeof c->blob, SQLITE_STATIC));
        SQL_DONE(c->db, sqlite3_step(c->ins));
        SQL(c->db, sqlite3_reset(c->ins));
        SQL_DONE(c->db, sqlite3_step(c->commit));
        SQL(c->db, sqlite3_reset(c->commit));
    }
    return (now_us() - t0) / n;
}

/* ------------------------------------------------------------ durable: stores */

/* Two stores with an established session: "alice" (initiator) has received
 * one reply, so her messages are normal Messages. wires: messages made
 * before the clock starts, in one direction and in order, so the receiver
 * decrypts them in order (its fast path, no skipped keys). */
typedef struct spair {
    rbx_store *a, *b;
    char apath[CMP_PATH_CAP], bpath[CMP_PATH_CAP];
    int from_a;                  /* direction of wires: 1 alice -> bob */
    uint8_t *wires;              /* nwire slots of WIRE_SLOT bytes */
    size_t *wlens, nwire, next;
    uint8_t pt[MSG_SMALL], out[WIRE_CAP];
    /* the batched row */
    uint8_t *bout;
    size_t boffs[BATCH_MSGS], blens[BATCH_MSGS], bptlens[BATCH_MSGS];
    uint64_t bids[BATCH_MSGS];
    const uint8_t *bpts[BATCH_MSGS];
} spair;

static rbx_store *store_new(char *path, const char *tag, const char *who, int mode)
{
    char name[96];
    rbx_store *st;
    rbx_store_opts o;
    memset(&o, 0, sizeof o); /* default erase settings */
    o.create = 1;
    o.mode = mode;
    int n = snprintf(name, sizeof name, "%s-%s.db", tag, who);
    CMP_CHECK(n > 0 && (size_t)n < sizeof name);
    path_in(path, name);
    RBX(rbx_store_open(&st, path, &o));
    RBX(rbx_store_identity_create(st, NULL, NULL));
    return st;
}

static void spair_open(spair *p, const char *tag, int mode)
{
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], wire[WIRE_CAP];
    size_t blen, wlen, plen;
    uint64_t id;
    rbx_received info;

    memset(p, 0, sizeof *p);
    p->a = store_new(p->apath, tag, "alice", mode);
    p->b = store_new(p->bpath, tag, "bob", mode);
    randombytes_buf(p->pt, sizeof p->pt);
    RBX(rbx_store_bundle(p->b, bundle, sizeof bundle, &blen, 10));
    RBX(rbx_store_add_contact(p->a, "bob", 1, bundle, blen));
    RBX(rbx_store_encrypt(p->a, wire, sizeof wire, &wlen, &id, "bob", 1, p->pt, sizeof p->pt,
                          NULL));
    CMP_CHECK(rbx_message_prekey_info(NULL, wire, wlen) == 1);
    RBX(rbx_store_decrypt(p->b, p->out, sizeof p->out, &plen, &info, "alice", 1, wire, wlen));
    CMP_CHECK(plen == sizeof p->pt && info.new_contact == 1 && memcmp(p->out, p->pt, plen) == 0);
    RBX(rbx_store_encrypt(p->b, wire, sizeof wire, &wlen, &id, "alice", 1, p->pt, sizeof p->pt,
                          NULL));
    RBX(rbx_store_decrypt(p->a, p->out, sizeof p->out, &plen, &info, "bob", 1, wire, wlen));
    CMP_CHECK(plen == sizeof p->pt && info.new_contact == 0 && info.redelivered == 0);
    p->bout = cmp_xmalloc(BATCH_MSGS * WIRE_SLOT);
    for (unsigned i = 0; i < BATCH_MSGS; i++) {
        p->bpts[i] = p->pt;
        p->bptlens[i] = sizeof p->pt;
    }
}

static void spair_close(spair *p)
{
    rbx_store_close(p->a);
    rbx_store_close(p->b);
    free(p->wires);
    free(p->wlens);
    free(p->bout);
    memset(p, 0, sizeof *p);
}

/* Pre-produce count messages (untimed), 100 per transaction. */
static void spair_produce(spair *p, int from_a, size_t count)
{
    rbx_store *src = from_a ? p->a : p->b;
    const char *to = from_a ? "bob" : "alice";
    p->from_a = from_a;
    p->wires = cmp_xmalloc(count * WIRE_SLOT);
    p->wlens = cmp_xmalloc(count * sizeof *p->wlens);
    p->nwire = count;
    p->next = 0;
    for (size_t done = 0; done < count;) {
        size_t k = count - done < BATCH_MSGS ? count - done : BATCH_MSGS;
        RBX(rbx_store_encrypt_batch(src, p->bout, BATCH_MSGS * WIRE_SLOT, p->boffs, p->blens,
                                    p->bids, to, 1, p->bpts, p->bptlens, k, NULL));
        for (size_t j = 0; j < k; j++, done++) {
            CMP_CHECK(p->blens[j] <= WIRE_SLOT);
            CMP_CHECK(rbx_message_prekey_info(NULL, p->bout + p->boffs[j], p->blens[j]) == 0);
            memcpy(p->wires + done * WIRE_SLOT, p->bout + p->boffs[j], p->blens[j]);
            p->wlens[done] = p->blens[j];
        }
    }
}

/* Sender side: rbx_store_encrypt of 64 B from alice's store. The outbox
 * entries are not acknowledged (they pile up: acks would be commits too). */
static double senc_batch(void *ctx, unsigned n)
{
    spair *p = ctx;
    size_t wlen;
    uint64_t id;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_store_encrypt(p->a, p->out, sizeof p->out, &wlen, &id, "bob", 1, p->pt,
                              sizeof p->pt, NULL));
        sink ^= p->out[wlen - 1];
    }
    return (now_us() - t0) / n;
}

/* Receiver side: rbx_store_decrypt of the next pre-produced message, in
 * order. The inbox entries are not acknowledged either. */
static double sdec_batch(void *ctx, unsigned n)
{
    spair *p = ctx;
    rbx_store *dst = p->from_a ? p->b : p->a;
    const char *from = p->from_a ? "alice" : "bob";
    rbx_received info;
    size_t plen;
    CMP_CHECK(p->next + n <= p->nwire);
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++, p->next++) {
        RBX(rbx_store_decrypt(dst, p->out, sizeof p->out, &plen, &info, from, 1,
                              p->wires + p->next * WIRE_SLOT, p->wlens[p->next]));
        CMP_CHECK(plen == MSG_SMALL && info.redelivered == 0);
        sink ^= p->out[plen - 1];
    }
    return (now_us() - t0) / n;
}

/* rbx_store_encrypt_batch of 100 messages per call; per message. */
static double sbatch_batch(void *ctx, unsigned n)
{
    spair *p = ctx;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_store_encrypt_batch(p->a, p->bout, BATCH_MSGS * WIRE_SLOT, p->boffs, p->blens,
                                    p->bids, "bob", 1, p->bpts, p->bptlens, BATCH_MSGS, NULL));
        sink ^= p->bout[p->boffs[BATCH_MSGS - 1]];
    }
    return (now_us() - t0) / ((double)n * BATCH_MSGS);
}

/* Scale: encrypt one message to bob and decrypt the next of bob's
 * pre-produced messages, both in alice's store; per (encrypt + decrypt). */
static double scale_batch(void *ctx, unsigned n)
{
    spair *p = ctx;
    rbx_received info;
    size_t wlen, plen;
    uint64_t id;
    CMP_CHECK(!p->from_a && p->next + n <= p->nwire);
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++, p->next++) {
        RBX(rbx_store_encrypt(p->a, p->out, sizeof p->out, &wlen, &id, "bob", 1, p->pt,
                              sizeof p->pt, NULL));
        sink ^= p->out[wlen - 1];
        RBX(rbx_store_decrypt(p->a, p->out, sizeof p->out, &plen, &info, "bob", 1,
                              p->wires + p->next * WIRE_SLOT, p->wlens[p->next]));
        CMP_CHECK(plen == MSG_SMALL && info.redelivered == 0);
        sink ^= p->out[plen - 1];
    }
    return (now_us() - t0) / n;
}

static int64_t count_rows(rbx_store *st, const char *sql)
{
    sqlite3 *db = rbx__store_db(st);
    sqlite3_stmt *s;
    SQL(db, sqlite3_prepare_v2(db, sql, -1, &s, NULL));
    sql_ok(db, sqlite3_step(s), SQLITE_ROW, sql, __LINE__);
    int64_t v = sqlite3_column_int64(s, 0);
    SQL(db, sqlite3_finalize(s));
    return v;
}

/* ------------------------------------------------------------ durable: table */

typedef struct drow {
    const char *name;
    double (*batch)(void *ctx, unsigned n);
    void *ctx;
    unsigned iters;       /* calls per batch */
    int io;               /* 0: no file I/O (crypto only) */
    double target_ratio;  /* median / raw fdatasync median, 0 = none */
    double target_us;     /* absolute, 0 = none */
    double us[MAX_REPS];
} drow;

/* Each repetition runs every row once, in order; one untimed batch first. */
static void run_interleaved(drow *rows, unsigned nrows, unsigned reps)
{
    for (unsigned i = 0; i < nrows; i++) (void)rows[i].batch(rows[i].ctx, rows[i].iters);
    for (unsigned k = 0; k < reps; k++)
        for (unsigned i = 0; i < nrows; i++)
            rows[i].us[k] = rows[i].batch(rows[i].ctx, rows[i].iters);
}

static void print_durable(const drow *rows, unsigned nrows, unsigned reps, double raw)
{
    printf("%-34s %10s %9s %9s %6s %14s %8s %s\n", "case", "median_us", "min_us", "max_us",
           "x_raw", "fdatasyncs/msg", "target", "met/MISSED");
    for (unsigned i = 0; i < nrows; i++) {
        const drow *r = &rows[i];
        double med, lo, hi;
        cmp_stats(r->us, reps, &med, &lo, &hi);
        printf("%-34s %10.2f %9.2f %9.2f %6.2f", r->name, med, lo, hi, med / raw);
        if (r->io)
            printf(" %14.2f", med / raw);
        else
            printf(" %14s", "0 (no I/O)");
        char t[16];
        if (r->target_ratio > 0.0) {
            snprintf(t, sizeof t, "<=%.1fx", r->target_ratio);
            printf(" %8s %s\n", t, med / raw <= r->target_ratio ? "met" : "MISSED");
        } else if (r->target_us > 0.0) {
            snprintf(t, sizeof t, "<=%.0fus", r->target_us);
            printf(" %8s %s\n", t, med <= r->target_us ? "met" : "MISSED");
        } else {
            printf(" %8s %s\n", "-", "-");
        }
    }
}

enum { D_RAW, D_SQL, D_ENC_B, D_DEC_B, D_ENC_S, D_DEC_S, D_BATCH, D_CRYPTO, NDROWS };

static void durable_section(unsigned reps)
{
    static raw_ctx raw;
    static sql_ctx sql;
    static spair bounded, strict, batched;
    static sym_ctx crypto;
    double t0 = now_us();

    raw_init(&raw);
    sql_init(&sql);
    spair_open(&bounded, "bounded", RBX_STORE_BOUNDED);
    spair_open(&strict, "strict", RBX_STORE_STRICT);
    spair_open(&batched, "batched", RBX_STORE_BOUNDED);
    /* Enough in-order messages for the warm-up batch and every repetition. */
    spair_produce(&bounded, 1, (size_t)(reps + 1) * DURABLE_ITERS);
    spair_produce(&strict, 1, (size_t)(reps + 1) * DURABLE_ITERS);
    sym_init(&crypto, MSG_SMALL, NULL);
    double per = sym_batch(&crypto, 1000);
    unsigned crypto_iters = (unsigned)(BATCH_TARGET_US / (per > 0.01 ? per : 0.01));

    static drow rows[NDROWS] = {
        [D_RAW] = { "raw fdatasync 4 KiB", raw_batch, NULL, DURABLE_ITERS, 1, 0, 0, { 0 } },
        [D_SQL] = { "sqlite one-row commit", sql_batch, NULL, DURABLE_ITERS, 1, 0, 0, { 0 } },
        [D_ENC_B] = { "store encrypt, bounded (default)", senc_batch, NULL, DURABLE_ITERS, 1,
                      BOUNDED_TARGET, 0, { 0 } },
        [D_DEC_B] = { "store decrypt, bounded (default)", sdec_batch, NULL, DURABLE_ITERS, 1,
                      BOUNDED_TARGET, 0, { 0 } },
        [D_ENC_S] = { "store encrypt, strict", senc_batch, NULL, DURABLE_ITERS, 1, 0, 0, { 0 } },
        [D_DEC_S] = { "store decrypt, strict", sdec_batch, NULL, DURABLE_ITERS, 1, 0, 0, { 0 } },
        [D_BATCH] = { "store encrypt, batched x100", sbatch_batch, NULL, BATCH_CALLS, 1, 0,
                      BATCHED_TARGET_US, { 0 } },
        [D_CRYPTO] = { "crypto only (enc + dec, 2 sides)", sym_batch, NULL, 0, 0, 0, 0, { 0 } },
    };
    rows[D_RAW].ctx = &raw;
    rows[D_SQL].ctx = &sql;
    rows[D_ENC_B].ctx = &bounded;
    rows[D_DEC_B].ctx = &bounded;
    rows[D_ENC_S].ctx = &strict;
    rows[D_DEC_S].ctx = &strict;
    rows[D_BATCH].ctx = &batched;
    rows[D_CRYPTO].ctx = &crypto;
    rows[D_CRYPTO].iters = crypto_iters < 1U ? 1U : crypto_iters;

    printf("\ndurable: SQLite %s, WAL, synchronous=FULL; 64-byte messages; microseconds per "
           "message per side\n(crypto only: both sides) over %u interleaved repetitions; batches "
           "of %u messages\n(2 erase periods of the bounded default, %u commits / %u s), "
           "batched: %u calls of %u\n", sqlite3_libversion(), reps, DURABLE_ITERS,
           RBX_STORE_ERASE_COMMITS, RBX_STORE_ERASE_SECONDS, BATCH_CALLS, BATCH_MSGS);
    run_interleaved(rows, NDROWS, reps);
    double raw_med = cmp_median(rows[D_RAW].us, reps);
    print_durable(rows, NDROWS, reps, raw_med);

    double enc_s = cmp_median(rows[D_ENC_S].us, reps), dec_s = cmp_median(rows[D_DEC_S].us, reps);
    double enc_b = cmp_median(rows[D_ENC_B].us, reps), dec_b = cmp_median(rows[D_DEC_B].us, reps);
    double sqlm = cmp_median(rows[D_SQL].us, reps);
    printf("\nx_raw = median / raw fdatasync median; fdatasyncs/msg = the same ratio read as an\n"
           "estimate of fdatasync-equivalents per message (CPU time included). Targets: bounded "
           "rows\n<= %.1fx raw (at most one fdatasync per message per side), batched <= %.0f us "
           "per message.\n", BOUNDED_TARGET, BATCHED_TARGET_US);
    printf("sqlite one-row commit is SQLite's steady state: its WAL, once grown to the automatic\n"
           "checkpoint, is rewritten in place. While that fresh WAL was still growing, its first "
           "%u\ncommits took %.0f us each (once, not interleaved) = %.1fx raw: a commit that "
           "extends\nthe file must also write the file's new size before fdatasync returns. The "
           "store truncates\nits WAL at every erase point and refills it with zeros (bounded "
           "mode), so its commits\noverwrite in place; each still appends 4-5 page frames "
           "(meta, session, outbox or inbox,\nindex) where the reference writes one page.\n",
           sql.grow_commits, sql.grow_us, sql.grow_us / raw_med);
    printf("strict: every commit is also an erase point: COMMIT (WAL append + fdatasync), then\n"
           "wal_checkpoint(TRUNCATE) (the WAL is synced, its pages are written into the main "
           "file,\nwhich is fsynced, and the WAL is truncated to zero bytes) and a synced rollback "
           "sidecar;\nthe next commit starts a new WAL (header synced, then its frames). Measured: "
           "strict\nencrypt %.0f us = ~%.1f raw fdatasyncs per message, strict decrypt %.0f us = "
           "~%.1f\n(bounded: %.1f and %.1f; a bare SQLite commit: %.1f): strict costs %.1fx / "
           "%.1fx the\nbounded default per message.\n",
           enc_s, enc_s / raw_med, dec_s, dec_s / raw_med, enc_b / raw_med, dec_b / raw_med,
           sqlm / raw_med, enc_s / enc_b, dec_s / dec_b);
    printf("not acknowledged during the run (piled up, no extra commits): bounded outbox %lld, "
           "inbox %lld;\nstrict outbox %lld, inbox %lld; batched outbox %lld entries.\n",
           (long long)count_rows(bounded.a, "SELECT count(*) FROM outbox"),
           (long long)count_rows(bounded.b, "SELECT count(*) FROM inbox"),
           (long long)count_rows(strict.a, "SELECT count(*) FROM outbox"),
           (long long)count_rows(strict.b, "SELECT count(*) FROM inbox"),
           (long long)count_rows(batched.a, "SELECT count(*) FROM outbox"));

    sql_free(&sql);
    CMP_CHECK(close(raw.fd) == 0);
    spair_close(&bounded);
    spair_close(&strict);
    spair_close(&batched);
    sym_free(&crypto);
    printf("durable section: %.1f s\n", (now_us() - t0) / 1e6);
}

/* ------------------------------------------------------------ scale */

/* The fill writes rows the way src/store/ binds them; if that binding
 * moves on, say so instead of reporting a bare RBX_E_CORRUPT. */
static void fill_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench: scale fill: %s does not match src/store/db.c's row format any "
                        "more; update scale_fill()\n", what);
        exit(EXIT_FAILURE);
    }
}

/* A contact's pin, as contacts.c seals it: identity || be32(device) || name. */
static size_t pin_value(uint8_t out[32 + 4 + RBX_NAME_MAX], const uint8_t identity[32],
                        uint32_t device, const char *name)
{
    size_t n = strlen(name);
    CMP_CHECK(n < RBX_NAME_MAX);
    memcpy(out, identity, 32);
    rbx__store32_be(out + 32, device);
    memcpy(out + 36, name, n);
    return 36 + n;
}

/* Add SCALE_SESSIONS contacts, each with a session, to alice's store in one
 * transaction through the store's own connection. Every session row is a
 * copy of alice's real session with bob (its serialized form), sealed by
 * the store's own rbx__st_bind_sealed to its own contact id and generation,
 * so it loads like any other; every contact gets a random identity and its
 * sealed pin. Both bindings are first checked against the rows the store
 * itself wrote for bob. */
static void scale_fill(rbx_store *st)
{
    sqlite3 *db = rbx__store_db(st);
    const uint8_t *key = rbx__store_key(st);
    sqlite3_stmt *ic, *is, *q;
    rbx_session *real;
    uint8_t base_key[32], ident[32], pin[32 + 4 + RBX_NAME_MAX];
    uint8_t open_pin[sizeof pin + RBX_ROW_OVERHEAD];
    size_t blen, pinlen, olen;
    char name[RBX_NAME_MAX];

    RBX(rbx__store_load_session(st, &real, "bob", 1));
    RBX(rbx_session_serialize(NULL, 0, &blen, real));
    uint8_t *blob = cmp_xmalloc(blen), *check = cmp_xmalloc(blen + RBX_ROW_OVERHEAD);
    RBX(rbx_session_serialize(blob, blen, &blen, real));
    rbx_session_free(real);

    /* bob's rows as the store wrote them: the bindings the copies follow. */
    SQL(db, sqlite3_prepare_v2(db, "SELECT c.id, c.identity, c.pin, s.generation, s.base_key,"
                                   " s.state FROM sessions s JOIN contacts c ON c.id = s.contact"
                                   " WHERE c.name = 'bob' AND c.device = 1", -1, &q, NULL));
    sql_ok(db, sqlite3_step(q), SQLITE_ROW, "bob's rows", __LINE__);
    int64_t bob_id = sqlite3_column_int64(q, 0), bob_gen = sqlite3_column_int64(q, 3), gen;
    RBX(rbx__st_generation(st, &gen));
    CMP_CHECK(sqlite3_column_bytes(q, 1) == 32 && sqlite3_column_bytes(q, 4) == 32);
    memcpy(base_key, sqlite3_column_blob(q, 4), 32);
    pinlen = pin_value(pin, sqlite3_column_blob(q, 1), 1, "bob");
    fill_check(sqlite3_column_type(q, 2) == SQLITE_BLOB &&
                   rbx__row_open(open_pin, sizeof open_pin, &olen, key, "contacts", bob_id, 0,
                                 "pin", sqlite3_column_blob(q, 2),
                                 (size_t)sqlite3_column_bytes(q, 2)) == 0 &&
                   olen == pinlen && memcmp(open_pin, pin, pinlen) == 0,
               "contacts.pin");
    fill_check(sqlite3_column_type(q, 5) == SQLITE_BLOB &&
                   rbx__row_open(check, blen + RBX_ROW_OVERHEAD, &olen, key, "sessions", bob_id,
                                 bob_gen, "state", sqlite3_column_blob(q, 5),
                                 (size_t)sqlite3_column_bytes(q, 5)) == 0 &&
                   olen == blen,
               "sessions.state");
    SQL(db, sqlite3_finalize(q));
    SQL(db, sqlite3_prepare_v2(db, "SELECT max(id) FROM contacts", -1, &q, NULL));
    sql_ok(db, sqlite3_step(q), SQLITE_ROW, "max(id)", __LINE__);
    int64_t first_id = sqlite3_column_int64(q, 0) + 1;
    SQL(db, sqlite3_finalize(q));

    /* A store transaction, so that the integrity record counts every row
     * (src/store/integrity.c: the TEMP triggers count the store's own
     * writes only), and each session row gets its tag. */
    RBX(rbx__st_begin(st));
    SQL(db, sqlite3_prepare_v2(db, "INSERT INTO contacts (id, name, device, identity, pin, bundle)"
                                   " VALUES (?1, ?2, 1, ?3, ?4, NULL)", -1, &ic, NULL));
    SQL(db, sqlite3_prepare_v2(db, "INSERT INTO sessions (contact, generation, rolled_back,"
                                   " base_key, state, ik, mac) VALUES (?1, ?2, 0, ?3, ?4, 0,"
                                   " rbx_mac('sessions', ?1, ?2, 0, ?3, 0))", -1, &is, NULL));
    for (unsigned i = 0; i < SCALE_SESSIONS; i++) {
        int64_t id = first_id + i;
        int n = snprintf(name, sizeof name, "peer-%06u", i);
        CMP_CHECK(n > 0 && (size_t)n < sizeof name);
        randombytes_buf(ident, sizeof ident);
        pinlen = pin_value(pin, ident, 1, name);
        SQL(db, sqlite3_bind_int64(ic, 1, id));
        SQL(db, sqlite3_bind_text(ic, 2, name, n, SQLITE_STATIC));
        SQL(db, sqlite3_bind_blob(ic, 3, ident, sizeof ident, SQLITE_STATIC));
        RBX(rbx__st_bind_sealed(st, ic, 4, "contacts", id, 0, "pin", pin, pinlen));
        SQL_DONE(db, sqlite3_step(ic));
        SQL(db, sqlite3_reset(ic));
        SQL(db, sqlite3_bind_int64(is, 1, id));
        SQL(db, sqlite3_bind_int64(is, 2, gen));
        SQL(db, sqlite3_bind_blob(is, 3, base_key, sizeof base_key, SQLITE_STATIC));
        RBX(rbx__st_bind_sealed(st, is, 4, "sessions", id, gen, "state", blob, blen));
        SQL_DONE(db, sqlite3_step(is));
        SQL(db, sqlite3_reset(is));
    }
    SQL(db, sqlite3_finalize(ic));
    SQL(db, sqlite3_finalize(is));
    RBX(rbx__st_commit(st, 0));
    RBX(rbx_store_erase_now(st)); /* checkpoint(TRUNCATE): everything in the main file */

    /* The copies load through the store like real sessions. */
    rbx_session_info info;
    uint64_t g;
    int n = snprintf(name, sizeof name, "peer-%06u", SCALE_SESSIONS - 1);
    CMP_CHECK(n > 0 && (size_t)n < sizeof name);
    int rc = rbx_store_session_info(st, &info, &g, name, 1);
    fill_check(rc == 0 && g == (uint64_t)gen && info.initiator == 1, "a filled contact/session");
    rbx__st_free_secret(blob, blen);
    rbx__st_free_secret(check, blen + RBX_ROW_OVERHEAD);
}

/* Close and open again (bounded); microseconds the open took. */
static double reopen(spair *p)
{
    rbx_store_opts o;
    memset(&o, 0, sizeof o);
    rbx_store_close(p->a);
    p->a = NULL;
    double t = now_us();
    RBX(rbx_store_open(&p->a, p->apath, &o));
    return now_us() - t;
}

/* Opening checks a store's integrity (PROTOCOL.md 15.8): its schema and
 * every authenticated table's set, one scan per table. Measured as whole
 * opens and as the check alone (rbx__st_verify), interleaved. */
static void open_check(spair *big, spair *small, unsigned reps)
{
    double ob[MAX_REPS], os[MAX_REPS], vb[MAX_REPS], vs[MAX_REPS];
    for (unsigned k = 0; k < reps; k++) {
        ob[k] = reopen(big);
        os[k] = reopen(small);
        double t = now_us();
        RBX(rbx__st_verify(big->a));
        vb[k] = now_us() - t;
        t = now_us();
        RBX(rbx__st_verify(small->a));
        vs[k] = now_us() - t;
    }
    printf("\nopen: rbx_store_open (the files in the page cache), %u interleaved repetitions\n", reps);
    printf("%-34s %10s %9s %9s\n", "case", "median_ms", "min_ms", "max_ms");
    const struct {
        const char *name;
        double *us;
    } r[] = {
        { "open, 100,000-session store", ob },
        { "open, 1-session store", os },
        { "integrity check, 100,000 sessions", vb },
        { "integrity check, 1 session", vs },
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        double med, lo, hi;
        cmp_stats(r[i].us, reps, &med, &lo, &hi);
        printf("%-34s %10.2f %9.2f %9.2f\n", r[i].name, med / 1e3, lo / 1e3, hi / 1e3);
    }
}

static void scale_section(unsigned reps)
{
    static spair big, small;
    char wal[CMP_PATH_CAP + 8];
    double t0 = now_us();

    spair_open(&big, "scale-big", RBX_STORE_BOUNDED);
    spair_open(&small, "scale-small", RBX_STORE_BOUNDED);
    double tb = now_us();
    scale_fill(big.a);
    double build_s = (now_us() - tb) / 1e6;
    int64_t sessions = count_rows(big.a, "SELECT count(*) FROM sessions");
    CMP_CHECK(sessions == (int64_t)SCALE_SESSIONS + 1);
    RBX(rbx_store_erase_now(small.a));
    off_t big_bytes = file_size(big.apath), small_bytes = file_size(small.apath);
    int n = snprintf(wal, sizeof wal, "%s-wal", big.apath);
    CMP_CHECK(n > 0 && (size_t)n < sizeof wal);
    off_t big_wal = file_size(wal);
    spair_produce(&big, 0, (size_t)(reps + 1) * SCALE_ITERS);
    spair_produce(&small, 0, (size_t)(reps + 1) * SCALE_ITERS);

    static drow rows[2] = {
        { "enc + dec, 100,000-session store", scale_batch, NULL, SCALE_ITERS, 1, 0, 0, { 0 } },
        { "enc + dec, 1-session store", scale_batch, NULL, SCALE_ITERS, 1, 0, 0, { 0 } },
    };
    rows[0].ctx = &big;
    rows[1].ctx = &small;
    run_interleaved(rows, 2, reps);

    printf("\nscale: one real contact's rbx_store_encrypt + rbx_store_decrypt (64 B, bounded, in "
           "the same\nstore), microseconds per pair, %u interleaved repetitions of %u pairs\n",
           reps, SCALE_ITERS);
    printf("%-34s %10s %9s %9s\n", "case", "median_us", "min_us", "max_us");
    for (unsigned i = 0; i < 2; i++) {
        double med, lo, hi;
        cmp_stats(rows[i].us, reps, &med, &lo, &hi);
        printf("%-34s %10.2f %9.2f %9.2f\n", rows[i].name, med, lo, hi);
    }
    double ratio = cmp_median(rows[0].us, reps) / cmp_median(rows[1].us, reps);
    printf("ratio 100,000 / 1 session: %.2f  (target <= %.1f) %s\n", ratio, SCALE_TARGET,
           ratio <= SCALE_TARGET ? "met" : "MISSED");
    printf("big store: %lld sessions, built in %.1f s (%u contacts + session rows in one\n"
           "transaction through the store's connection, each row a copy of one real serialized\n"
           "session sealed to its own contact id, then checkpoint); database %.1f MB after\n"
           "checkpoint (WAL %lld bytes) = %.0f bytes per session (1-session store: %lld bytes)\n",
           (long long)sessions, build_s, SCALE_SESSIONS, (double)big_bytes / 1e6,
           (long long)big_wal, (double)big_bytes / SCALE_SESSIONS, (long long)small_bytes);
    open_check(&big, &small, reps);
    spair_close(&big);
    spair_close(&small);
    printf("scale section: %.1f s\n", (now_us() - t0) / 1e6);
}

/* ------------------------------------------------------------ fan-out */

#define FAN_DEVICES 3U
#define FAN_CRYPTO_TARGET 1.1   /* per recipient device, x one symmetric step */
#define FAN_DURABLE_TARGET 1.5  /* a 3-device send, x a 1-device send */

/* Crypto of a fan-out, in memory: one sender, FAN_DEVICES sessions; per
 * device a content header (PROTOCOL.md 21.2) before the 64-byte body, the
 * encrypt, the decrypt and the parse. Reported per recipient device. */
typedef struct fan_ctx {
    unsigned ndev;
    rbx_session *a[FAN_DEVICES], *b[FAN_DEVICES];
    uint8_t id_key[32];
    uint64_t id_ctr;
    uint8_t body[MSG_SMALL], pt[RBX_CONTENT_HEADER_MAX + MSG_SMALL], wire[WIRE_CAP], out[WIRE_CAP];
} fan_ctx;

static void fan_init(fan_ctx *c, unsigned ndev)
{
    c->ndev = ndev;
    for (unsigned d = 0; d < ndev; d++) establish(&c->a[d], &c->b[d], NULL, NULL);
    randombytes_buf(c->body, sizeof c->body);
}

static void fan_free(fan_ctx *c)
{
    for (unsigned d = 0; d < c->ndev; d++) {
        rbx_session_free(c->a[d]);
        rbx_session_free(c->b[d]);
    }
}

static double fan_batch(void *ctx, unsigned n)
{
    fan_ctx *c = ctx;
    rbx__content h = { 0 }, got;
    uint8_t hdr[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U];
    size_t wlen, olen;
    h.type = RBX_CONTENT_MESSAGE;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        /* One message id and one header per message, as rbx_store_send. */
        rbx__message_id(h.message_id, c->id_key, &c->id_ctr);
        size_t hl = rbx__content_header(hdr, &h);
        memcpy(c->pt, hdr, hl);
        memcpy(c->pt + hl, c->body, sizeof c->body);
        for (unsigned d = 0; d < c->ndev; d++) {
            RBX(rbx_session_encrypt(c->a[d], c->wire, WIRE_CAP, &wlen, c->pt, hl + sizeof c->body));
            RBX(rbx_session_decrypt(c->b[d], c->out, WIRE_CAP, &olen, c->wire, wlen));
            CMP_CHECK(rbx__content_parse(&got, c->out, olen) == 0 && got.bodylen == MSG_SMALL);
            sink ^= got.body[MSG_SMALL - 1];
        }
    }
    return (now_us() - t0) / ((double)n * c->ndev);
}

/* Durable: a sender store, its user's other devices and a recipient user's
 * devices, wired as rbx_store_user_update and rbx_store_user_bundle would
 * from a server; sessions established by a first send (untimed). */
typedef struct fan_user {
    char name[RBX_USER_MAX];
    uint8_t ent[8][RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t len[8], n;
} fan_user;

typedef struct fan_store {
    rbx_store *st;
    char path[CMP_PATH_CAP];
    uint8_t pk[32];
    fan_user *u;
} fan_store;

static void fan_dev(fan_store *d, fan_user *u, const char *user, const char *tag, fan_store *by)
{
    uint8_t e[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t el;
    rbx_account a;
    d->st = store_new(d->path, tag, user, RBX_STORE_BOUNDED);
    RBX(rbx_store_identity(d->st, d->pk));
    d->u = u;
    if (by == NULL) {
        memset(u, 0, sizeof *u);
        snprintf(u->name, sizeof u->name, "%s", user);
        RBX(rbx_store_devlist_first_entry(d->st, e, sizeof e, &el, user, 1800000000));
    } else {
        rbx_devlist_entry x = { 0 };
        uint8_t sig[64];
        snprintf(x.user, sizeof x.user, "%s", user);
        x.seq = u->n + 1;
        rbx_devlist_entry_hash(x.prev_hash, u->ent[u->n - 1], u->len[u->n - 1]);
        x.op = RBX_DEVLIST_ADD;
        x.device = rbx_device_id(d->pk);
        memcpy(x.identity, d->pk, 32);
        x.created = 1800000000;
        memcpy(x.signer, by->pk, 32);
        RBX(rbx_store_devlist_sign(by->st, sig, &x));
        RBX(rbx_store_devlist_cosign(d->st, e, sizeof e, &el, &x, sig));
    }
    RBX(rbx_store_account_init(d->st, &a, e, el));
    memcpy(u->ent[u->n], e, el);
    u->len[u->n++] = el;
}

static void fan_pin(fan_store *d, const fan_user *u)
{
    const uint8_t *p[8];
    rbx_user_update r;
    for (size_t i = 0; i < u->n; i++) p[i] = u->ent[i];
    RBX(rbx_store_user_update(d->st, &r, u->name, p, u->len, u->n, NULL, 0));
}

typedef struct fan_send_ctx {
    fan_store *from;
    const char *to;
    uint8_t pt[MSG_SMALL];
    rbx_envelope env[FAN_DEVICES + 1];
    uint8_t *buf;
    size_t cap;
} fan_send_ctx;

static double fan_send_batch(void *ctx, unsigned n)
{
    fan_send_ctx *c = ctx;
    rbx_send_info info;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        RBX(rbx_store_send(c->from->st, &info, c->env, FAN_DEVICES + 1, c->buf, c->cap, c->to, c->pt,
                           sizeof c->pt, NULL));
        sink ^= c->buf[c->env[0].offset];
    }
    return (now_us() - t0) / n;
}

static void fan_supply(fan_store *from, const char *to, fan_store *const *all, size_t nall)
{
    rbx_user_device need[8];
    size_t n;
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t bl;
    RBX(rbx_store_send_needs(from->st, need, 8, &n, to));
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < nall; k++)
            if (rbx_device_id(all[k]->pk) == need[i].device && strcmp(all[k]->u->name, need[i].user) == 0) {
                RBX(rbx_store_bundle(all[k]->st, b, sizeof b, &bl, 10));
                RBX(rbx_store_user_bundle(from->st, need[i].user, need[i].device, b, bl));
            }
}

enum { F_SYM, F_SYMH, F_ONE, F_FAN, F_SEND1, F_SEND3, F_ENC, NFROWS };

static void fanout_section(unsigned reps)
{
    static fan_ctx fan, fan1;
    static sym_ctx sym, symh;
    static fan_user solo, carol, alice, bob;
    static fan_store s1, c1, a1, a2, b1, b2;
    static fan_send_ctx one, three;
    static spair single;
    double t0 = now_us();
    fan_init(&fan, FAN_DEVICES);
    fan_init(&fan1, 1);
    sym_init(&sym, MSG_SMALL, NULL);
    sym_init(&symh, RBX_CONTENT_FIXED + MSG_SMALL, NULL);
    /* A 1-device send: "solo" (one device) to "carol" (one device). */
    fan_dev(&s1, &solo, "solo", "fan", NULL);
    fan_dev(&c1, &carol, "carol", "fan", NULL);
    /* A 3-device send: alice's a1 to bob (b1, b2), and a2's sync copy. */
    fan_dev(&a1, &alice, "alice", "fan", NULL);
    fan_dev(&a2, &alice, "alice", "fan2", &a1);
    fan_dev(&b1, &bob, "bob", "fan", NULL);
    fan_dev(&b2, &bob, "bob", "fan2", &b1);
    fan_pin(&s1, &solo);
    fan_pin(&s1, &carol);
    fan_pin(&a1, &alice);
    fan_pin(&a1, &bob);
    fan_store *all[] = { &s1, &c1, &a1, &a2, &b1, &b2 };
    fan_supply(&s1, "carol", all, 6);
    fan_supply(&a1, "bob", all, 6);
    one = (fan_send_ctx){ &s1, "carol", { 0 }, { { { 0 }, 0, 0, 0, 0 } }, NULL, 0 };
    three = (fan_send_ctx){ &a1, "bob", { 0 }, { { { 0 }, 0, 0, 0, 0 } }, NULL, 0 };
    for (int k = 0; k < 2; k++) {
        fan_send_ctx *c = k ? &three : &one;
        randombytes_buf(c->pt, sizeof c->pt);
        c->cap = (FAN_DEVICES + 1) * RBX_ENVELOPE_MAXBYTES(MSG_SMALL);
        c->buf = cmp_xmalloc(c->cap);
        (void)fan_send_batch(c, 1); /* the sessions begin (X3DH): untimed */
    }
    spair_open(&single, "fan-single", RBX_STORE_BOUNDED);
    double per = sym_batch(&sym, 1000);
    unsigned crypto_iters = (unsigned)(BATCH_TARGET_US / (per > 0.01 ? per : 0.01));

    static drow rows[NFROWS] = {
        [F_SYM] = { "crypto: symmetric step 64 B", sym_batch, NULL, 0, 0, 0, 0, { 0 } },
        [F_SYMH] = { "crypto: symmetric step 83 B", sym_batch, NULL, 0, 0, 0, 0, { 0 } },
        [F_ONE] = { "crypto: to a user, 1 device", fan_batch, NULL, 0, 0, 0, 0, { 0 } },
        [F_FAN] = { "crypto: to a user, 3 devices, per dev", fan_batch, NULL, 0, 0, 0, 0, { 0 } },
        [F_SEND1] = { "durable: send to a user, 1 device", fan_send_batch, NULL, DURABLE_ITERS, 1, 0,
                      0, { 0 } },
        [F_SEND3] = { "durable: send to a user, 3 devices", fan_send_batch, NULL, DURABLE_ITERS, 1,
                      0, 0, { 0 } },
        [F_ENC] = { "durable: store encrypt (1 contact)", senc_batch, NULL, DURABLE_ITERS, 1, 0, 0,
                    { 0 } },
    };
    rows[F_SYM].ctx = &sym;
    rows[F_SYM].iters = crypto_iters < 1U ? 1U : crypto_iters;
    rows[F_SYMH].ctx = &symh;
    rows[F_SYMH].iters = rows[F_SYM].iters;
    rows[F_ONE].ctx = &fan1;
    rows[F_ONE].iters = rows[F_SYM].iters;
    rows[F_FAN].ctx = &fan;
    rows[F_FAN].iters = rows[F_SYM].iters / FAN_DEVICES < 1U ? 1U : rows[F_SYM].iters / FAN_DEVICES;
    rows[F_SEND1].ctx = &one;
    rows[F_SEND3].ctx = &three;
    rows[F_ENC].ctx = &single;

    printf("\nfan-out: a message to a user with several devices (PROTOCOL.md 21.4); microseconds; "
           "%u\ninterleaved repetitions. crypto rows: sender + receiver, per recipient device (the "
           "fan-out\nrow: a 21.2 content header, encrypt, decrypt and parse for each of %u "
           "devices, divided by %u).\ndurable rows: one call of the sender (rbx_store_send: every "
           "envelope in one transaction and\none commit), bounded mode, batches of %u; the 3 devices "
           "are bob's two and the sender's\nown other device (a sync copy). Sends are not marked "
           "done during the run.\n", reps, FAN_DEVICES, FAN_DEVICES, DURABLE_ITERS);
    run_interleaved(rows, NFROWS, reps);
    printf("%-38s %10s %9s %9s %8s %8s %s\n", "case", "median_us", "min_us", "max_us", "ratio",
           "target", "met/MISSED");
    double sym_med = cmp_median(rows[F_SYM].us, reps), one_med = cmp_median(rows[F_ONE].us, reps);
    double send1 = cmp_median(rows[F_SEND1].us, reps);
    for (unsigned i = 0; i < NFROWS; i++) {
        double med, lo, hi;
        cmp_stats(rows[i].us, reps, &med, &lo, &hi);
        printf("%-38s %10.2f %9.2f %9.2f", rows[i].name, med, lo, hi);
        if (i == F_FAN)
            printf(" %8.2f %8s %s\n", med / one_med, "<=1.1x",
                   med / one_med <= FAN_CRYPTO_TARGET ? "met" : "MISSED");
        else if (i == F_ONE || i == F_SYMH)
            printf(" %8.2f %8s %s\n", med / sym_med, "-", "-");
        else if (i == F_SEND3)
            printf(" %8.2f %8s %s\n", med / send1, "<=1.5x",
                   med / send1 <= FAN_DURABLE_TARGET ? "met" : "MISSED");
        else if (i == F_ENC)
            printf(" %8.2f %8s %s\n", med / send1, "-", "-");
        else
            printf(" %8s %8s %s\n", "-", "-", "-");
    }
    printf("ratios: the 83 B step and the 1-device row / the bare 64 B step (a message to a user "
           "carries\na %u-byte content header: 64 + %u bytes of plaintext take one more ChaCha20 "
           "block and two\nmore Poly1305 blocks per side); the 3-device row per device / the "
           "1-device row (the\ntarget: what fanning out adds per device); the 3-device row per "
           "device / the bare step:\n%.2f at 64 B, %.2f at 83 B (the same plaintext bytes); the "
           "3-device send / the 1-device send\n(target); the store encrypt of a single contact / "
           "the 1-device send. Envelopes made:\n1-device %lld, 3-device %lld.\n",
           RBX_CONTENT_FIXED, RBX_CONTENT_FIXED, cmp_median(rows[F_FAN].us, reps) / sym_med,
           cmp_median(rows[F_FAN].us, reps) / cmp_median(rows[F_SYMH].us, reps),
           (long long)count_rows(s1.st, "SELECT count(*) FROM send_envelopes"),
           (long long)count_rows(a1.st, "SELECT count(*) FROM send_envelopes"));
    fan_free(&fan);
    fan_free(&fan1);
    sym_free(&sym);
    sym_free(&symh);
    free(one.buf);
    free(three.buf);
    spair_close(&single);
    fan_store *stores[] = { &s1, &c1, &a1, &a2, &b1, &b2 };
    for (size_t i = 0; i < 6; i++) rbx_store_close(stores[i]->st);
    printf("fan-out section: %.1f s\n", (now_us() - t0) / 1e6);
}

/* ------------------------------------------------------------ main */

enum {
    R_SYM64, R_SYM64_F, R_SYM64_V1, R_SYM64_V1F, R_SYM64_C, R_SYM1K, R_SYM1K_F, R_SYM16K,
    R_SYM16K_F, R_DH, R_DH_F, R_HS, R_HS_F, R_FORGED, R_FORGED_F, R_FORGED_V1,
    R_BOX_RBX, R_BOX_RAW, R_BOXNM_RBX, R_BOXNM_RAW,
    NROWS
};

int main(int argc, char **argv)
{
    unsigned reps = DEFAULT_REPS;
    int scale = 1, fanout_only = 0;
    for (int i = 1; i < argc; i++) {
        char *end;
        unsigned long v;
        if (strcmp(argv[i], "--no-scale") == 0) {
            scale = 0;
            continue;
        }
        if (strcmp(argv[i], "--fanout-only") == 0) {
            fanout_only = 1;
            continue;
        }
        if (strcmp(argv[i], "--scale") == 0) continue; /* the default */
        v = strtoul(argv[i], &end, 10);
        if (*argv[i] == '\0' || *end != '\0' || v < MIN_REPS || v > MAX_REPS) {
            fprintf(stderr, "usage: bench [--no-scale] [--fanout-only] [repetitions %u..%u]\n",
                    MIN_REPS, MAX_REPS);
            return EXIT_FAILURE;
        }
        reps = (unsigned)v;
    }
    double start = now_us();
    RBX(rbx_init());
    if (fanout_only) {
        tmpdir_create();
        fanout_section(reps);
        CMP_CHECK(cmp_tmpdir_remove());
        printf("total run time %.1f s\n", (now_us() - start) / 1e6);
        return EXIT_SUCCESS;
    }

    static sym_ctx sym[3], sym_v1;
    static sym_floor_ctx symf[3];
    static forged_ctx forged, forged_v1;
    static const rbx_session_opts hmac = { RBX_PROFILE_HMAC, 0 };
    static dh_ctx dh;
    static dh_floor_ctx dhf;
    static hs_ctx hs;
    static hs_floor_ctx hsf;
    static box_ctx box;
    static const size_t sizes[3] = { MSG_SMALL, 1024U, MSG_LARGEST };

    for (int i = 0; i < 3; i++) {
        sym_init(&sym[i], sizes[i], NULL);
        sym_floor_init(&symf[i], sizes[i]);
    }
    sym_init(&sym_v1, MSG_SMALL, &hmac);
    forged_init(&forged, NULL, &symf[0]);
    forged_init(&forged_v1, &hmac, &symf[0]);
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
        [R_SYM64] = { "symmetric 64 B", "ratchetbox", sym_batch, NULL, R_SYM64_F, 1.3, 0, { 0 } },
        [R_SYM64_F] = { "symmetric 64 B", "floor", sym_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_SYM64_V1] = { "symmetric 64 B", "ratchetbox v1", sym_batch, NULL, R_SYM64_V1F, 0, 0,
                         { 0 } },
        [R_SYM64_V1F] = { "symmetric 64 B", "v1 floor", sym_floor_v1_batch, NULL, -1, 0, 0, { 0 } },
        [R_SYM64_C] = { "symmetric 64 B", "v1 HKDF-mk floor", sym_construction_batch, NULL,
                        R_SYM64_V1F, 0, 0, { 0 } },
        [R_SYM1K] = { "symmetric 1 KiB", "ratchetbox", sym_batch, NULL, R_SYM1K_F, 1.3, 0, { 0 } },
        [R_SYM1K_F] = { "symmetric 1 KiB", "floor", sym_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_SYM16K] = { "symmetric 16 KiB", "ratchetbox", sym_batch, NULL, R_SYM16K_F, 1.3, 0,
                       { 0 } },
        [R_SYM16K_F] = { "symmetric 16 KiB", "floor", sym_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_DH] = { "DH-ratchet step 64 B", "ratchetbox", dh_batch, NULL, R_DH_F, 1.15, 0, { 0 } },
        [R_DH_F] = { "DH-ratchet step 64 B", "floor", dh_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_HS] = { "handshake + 1st msg", "ratchetbox", hs_batch, NULL, R_HS_F, 1.3, 0, { 0 } },
        [R_HS_F] = { "handshake + 1st msg", "floor", hs_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_FORGED] = { "reject forged", "ratchetbox", forged_batch, NULL, R_FORGED_F, 1.3, 0, { 0 } },
        [R_FORGED_F] = { "reject forged", "floor", forged_floor_batch, NULL, -1, 0, 0, { 0 } },
        [R_FORGED_V1] = { "reject forged", "ratchetbox v1", forged_batch, NULL, R_FORGED_F, 0, 0,
                          { 0 } },
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
    rows[R_SYM64_V1].ctx = &sym_v1;
    rows[R_SYM64_V1F].ctx = &symf[0];
    rows[R_FORGED].ctx = &forged;
    rows[R_FORGED_F].ctx = &forged;
    rows[R_FORGED_V1].ctx = &forged_v1;
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
    printf("\nfloors (version 2, profile 2, the default): symmetric = per side one BLAKE2b chain\n"
           "step and one BLAKE2b body key, 16 bytes of R from randombytes_buf (one getrandom),\n"
           "ChaCha20-Poly1305 (IETF) encrypt + decrypt (104 B AD); DH step = key pair + 2 X25519\n"
           "+ 2 HKDF(96 B) + 64 B symmetric; handshake = Ed25519 verify (XEdDSA stand-in) + 3 key\n"
           "pairs + 11 X25519 + 5 HKDF + 64 B symmetric; reject forged (a new chain 999 ahead,\n"
           "tag changed) = X25519 + HKDF(96 B) + 32 block and 8 chain BLAKE2b steps + body key +\n"
           "a failing ChaCha20-Poly1305 decrypt. v1 rows: a session of profile 0 (hmac, version\n"
           "1), against issue 1's floor (4 HMAC-SHA256 + XChaCha20-Poly1305); v1 HKDF-mk floor\n"
           "= that floor plus HKDF-Expand(mk, 56) per side, version 1's key derivation.\n"
           "box rows: ratio = rbx_baseline (with base64) / raw libsodium, both with a random nonce.\n");

    print_sizes();

    for (int i = 0; i < 3; i++) {
        sym_free(&sym[i]);
        sym_floor_free(&symf[i]);
    }
    sym_free(&sym_v1);
    rbx_session_free(forged.b);
    rbx_session_free(forged_v1.b);
    rbx_session_free(dh.a);
    rbx_session_free(dh.b);
    sym_floor_free(&dhf.sym);
    hs_free(&hs);
    sym_floor_free(&hsf.dh.sym);
    sodium_memzero(&box, sizeof box);

    printf("\n");
    tmpdir_create();
    durable_section(reps);
    fanout_section(reps);
    if (scale)
        scale_section(reps);
    else
        printf("\nscale section skipped (--no-scale); run build/bench without it to measure "
               "it\n");
    char removed[CMP_PATH_CAP];
    snprintf(removed, sizeof removed, "%s", tmpdir);
    CMP_CHECK(cmp_tmpdir_remove());
    printf("removed %s; total run time %.1f s\n", removed, (now_us() - start) / 1e6);
    return EXIT_SUCCESS;
}
