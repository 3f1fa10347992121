/* SPDX-License-Identifier: MIT
 * Rotation records, their chains, organisation certificates and revocations,
 * and the bundle fields that carry them (PROTOCOL.md "Rotation records").
 * Statements are rebuilt here byte by byte from the spec, independently of
 * src/rotation.c, and the library's signatures must verify over them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rotation.h"
#include "sign.h"
#include "testutil.h"
#include "wire.h"

typedef struct kp {
    uint8_t pk[32], sk[32];
} kp;

/* Key pairs A, B, C, D, E (an identity's successive keys), X (a stranger),
 * O (an organisation root), all from one seed. */
enum { KA, KB, KC, KD, KE, KX, KO, NKEYS };
static kp K[NKEYS];

static void keys_make(uint64_t seed)
{
    tu_rng_seed(seed);
    for (int i = 0; i < NKEYS; i++) ck_assert_int_eq(rbx_keypair_generate(K[i].pk, K[i].sk), 0);
}

typedef struct rec {
    uint8_t b[RBX_ROTATION_MAXBYTES];
    size_t n;
    uint8_t hash[32];
} rec;

static rbx_rotation rot(uint64_t seq, int from, int to, const uint8_t *prev)
{
    rbx_rotation r = { 0 };
    r.sequence = seq;
    memcpy(r.old_identity, K[from].pk, 32);
    memcpy(r.new_identity, K[to].pk, 32);
    r.created = 1700000000U + 1000U * seq;
    r.old_valid_until = r.created + 7U * 86400U;
    snprintf(r.reason, sizeof r.reason, "scheduled rotation %llu", (unsigned long long)seq);
    if (prev != NULL) memcpy(r.previous_hash, prev, 32);
    return r;
}

static rec sign_rec(const rbx_rotation *r, int from, int to)
{
    rec x;
    ck_assert_int_eq(rbx_rotation_sign(x.b, sizeof x.b, &x.n, r, K[from].sk, K[to].sk), 0);
    rbx_rotation_hash(x.hash, x.b, x.n);
    return x;
}

/* Record seq from -> to, linked to `prev` (NULL: zeros). */
static rec make(uint64_t seq, int from, int to, const rec *prev)
{
    rbx_rotation r = rot(seq, from, to, prev ? prev->hash : NULL);
    return sign_rec(&r, from, to);
}

/* The rotation statement as PROTOCOL.md spells it. */
static size_t statement(uint8_t *out, const rbx_rotation *r)
{
    size_t n = 0, rl = strlen(r->reason);
    memcpy(out, "ratchetbox-rotation-v1", 22);
    n = 22;
    for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)(r->sequence >> (8 * i));
    memcpy(out + n, r->old_identity, 32);
    memcpy(out + n + 32, r->new_identity, 32);
    n += 64;
    for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)(r->created >> (8 * i));
    for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)(r->old_valid_until >> (8 * i));
    out[n++] = (uint8_t)rl;
    memcpy(out + n, r->reason, rl);
    n += rl;
    memcpy(out + n, r->previous_hash, 32);
    return n + 32;
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static size_t cert_statement(uint8_t *out, const uint8_t org[32], const uint8_t id[32],
                             uint64_t created, uint64_t expires)
{
    memcpy(out, "ratchetbox-org-cert-v1", 22);
    memcpy(out + 22, org, 32);
    memcpy(out + 54, id, 32);
    be64(out + 86, created);
    be64(out + 94, expires);
    return 102;
}

static size_t revoke_statement(uint8_t *out, const uint8_t org[32], const uint8_t id[32],
                               uint64_t at, const char *reason)
{
    size_t rl = strlen(reason);
    memcpy(out, "ratchetbox-org-revoke-v1", 24);
    memcpy(out + 24, org, 32);
    memcpy(out + 56, id, 32);
    be64(out + 88, at);
    out[96] = (uint8_t)rl;
    memcpy(out + 97, reason, rl);
    return 97 + rl;
}

static rbx_chain_tip tip_of(int key, uint64_t seq, const uint8_t *hash)
{
    rbx_chain_tip t = { 0 };
    memcpy(t.identity, K[key].pk, 32);
    t.sequence = seq;
    if (hash != NULL) memcpy(t.hash, hash, 32);
    return t;
}

/* rbx_chain_verify over recs[0..n); on error the outputs must be zero. */
static int chain(rbx_chain_tip *tip, uint64_t *ovu, const rbx_chain_tip *pinned, int target,
                 const rec *const *recs, size_t n)
{
    const uint8_t *p[RBX_CHAIN_MAX + 1];
    size_t l[RBX_CHAIN_MAX + 1];
    for (size_t i = 0; i < n; i++) {
        p[i] = recs[i]->b;
        l[i] = recs[i]->n;
    }
    memset(tip, 0xaa, sizeof *tip);
    *ovu = 12345;
    int rc = rbx_chain_verify(tip, ovu, pinned, K[target].pk, p, l, n);
    if (rc != 0) {
        static const rbx_chain_tip zero;
        ck_assert_mem_eq(tip, &zero, sizeof zero);
        ck_assert_uint_eq(*ovu, 0);
    }
    return rc;
}

/* ------------------------------------------------------------ records */

START_TEST(record_round_trip)
{
    keys_make(10);
    rbx_rotation r = rot(1, KA, KB, NULL), got;
    rec x = sign_rec(&r, KA, KB);
    ck_assert_uint_eq(x.n, 2 + 2 + 34 + 34 + 6 + 6 + 2 + strlen(r.reason) + 34 + 66 + 66);
    ck_assert_int_eq(rbx_rotation_parse(&got, x.b, x.n), 0);
    ck_assert_mem_eq(&got, &r, sizeof r);
    ck_assert_str_eq(got.reason, "scheduled rotation 1");
    /* Both signatures are over the statement PROTOCOL.md defines. */
    Rbx__Wire__RotationRecord *w = rbx__wire__rotation_record__unpack(NULL, x.n, x.b);
    ck_assert_ptr_nonnull(w);
    uint8_t st[256];
    size_t sl = statement(st, &r);
    ck_assert_uint_eq(sl, 22 + 8 + 64 + 16 + 1 + 20 + 32);
    ck_assert_int_eq(rbx__xeddsa_verify(w->old_signature.data, K[KA].pk, st, sl), 0);
    ck_assert_int_eq(rbx__xeddsa_verify(w->new_signature.data, K[KB].pk, st, sl), 0);
    rbx__wire__rotation_record__free_unpacked(w, NULL);

    /* Every integer at its maximum and a 63-byte reason: the longest record. */
    rbx_rotation big = r;
    big.sequence = big.created = big.old_valid_until = UINT64_MAX;
    memset(big.reason, '~', 63);
    big.reason[63] = '\0';
    memset(big.previous_hash, 0xee, 32);
    rec y = sign_rec(&big, KA, KB);
    ck_assert_uint_eq(y.n, 334);
    ck_assert_uint_le(y.n, RBX_ROTATION_MAXBYTES);
    ck_assert_int_eq(rbx_rotation_parse(&got, y.b, y.n), 0);
    ck_assert_mem_eq(&got, &big, sizeof big);
    /* An empty reason, and UTF-8 (bytes >= 0x80 are allowed). */
    big = r;
    big.reason[0] = '\0';
    y = sign_rec(&big, KA, KB);
    ck_assert_int_eq(rbx_rotation_parse(&got, y.b, y.n), 0);
    ck_assert_str_eq(got.reason, "");
    strcpy(big.reason, "cl\xc3\xa9 perdue");
    y = sign_rec(&big, KA, KB);
    ck_assert_int_eq(rbx_rotation_parse(&got, y.b, y.n), 0);
    ck_assert_str_eq(got.reason, "cl\xc3\xa9 perdue");

    /* Misuse. */
    uint8_t out[RBX_ROTATION_MAXBYTES];
    size_t n = 99;
    ck_assert_int_eq(rbx_rotation_sign(out, x.n - 1, &n, &r, K[KA].sk, K[KB].sk), RBX_E_BUFFER);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(rbx_rotation_sign(out, x.n, &n, &r, K[KA].sk, K[KB].sk), 0);
    ck_assert_uint_eq(n, x.n);
    big = r;
    big.sequence = 0;
    ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &big, K[KA].sk, K[KB].sk), RBX_E_INVALID);
    ck_assert_uint_eq(n, 0);
    static const char *const bad_reasons[] = { "tab\there", "new\nline", "del\x7f", "\x1f" };
    for (size_t i = 0; i < RBX_COUNTOF(bad_reasons); i++) {
        big = r;
        strcpy(big.reason, bad_reasons[i]);
        ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &big, K[KA].sk, K[KB].sk),
                         RBX_E_INVALID);
    }
    big = r;
    memset(big.reason, 'x', sizeof big.reason); /* not terminated */
    ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &big, K[KA].sk, K[KB].sk), RBX_E_INVALID);
    ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &r, K[KB].sk, K[KB].sk), RBX_E_KEY);
    ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &r, K[KA].sk, K[KC].sk), RBX_E_KEY);
    big = r;
    memcpy(big.new_identity, K[KA].pk, 32);
    ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &big, K[KA].sk, K[KA].sk), RBX_E_KEY);
    memset(big.new_identity, 0, 32);
    ck_assert_int_eq(rbx_rotation_sign(out, sizeof out, &n, &big, K[KA].sk, K[KB].sk), RBX_E_KEY);
    ck_assert_uint_eq(n, 0);
    tu_rng_system();
}
END_TEST

/* Fixed keys from seed 4 give a fixed record; its hash is the known answer
 * (spec/vectors/rotation.json lists the same bytes). */
START_TEST(record_known_answer)
{
    keys_make(4);
    rec r1 = make(1, KA, KB, NULL);
    rec r2 = make(2, KB, KC, &r1);
    char *h1 = tu_hex(r1.hash, 32), *h2 = tu_hex(r2.hash, 32);
    ck_assert_uint_eq(r1.n, 272);
    ck_assert_str_eq(h1, "a9814a6537482af310a32e78dade78a8360b15a08b4b5d9dc450c5ae8f02fe76");
    ck_assert_str_eq(h2, "9e598aa64b2f6093c5efed72457bf7a4b8f6c4181839ae7d2d011a8107b326a2");
    free(h1);
    free(h2);
    tu_rng_system();
}
END_TEST

/* Replace one signature of an encoded record, re-encode. */
static size_t resign(uint8_t *out, const rec *x, int which_new, const uint8_t sig[64])
{
    Rbx__Wire__RotationRecord *w = rbx__wire__rotation_record__unpack(NULL, x->n, x->b);
    ck_assert_ptr_nonnull(w);
    memcpy(which_new ? w->new_signature.data : w->old_signature.data, sig, 64);
    size_t n = rbx__wire__rotation_record__pack(w, out);
    rbx__wire__rotation_record__free_unpacked(w, NULL);
    return n;
}

START_TEST(record_one_key_only)
{
    keys_make(11);
    rbx_rotation r = rot(1, KA, KB, NULL), got;
    rec x = sign_rec(&r, KA, KB);
    uint8_t st[256], sig[64], out[RBX_ROTATION_MAXBYTES];
    size_t sl = statement(st, &r), n;
    /* A stranger's valid signature of the same statement in either slot:
     * the record is signed by one of its keys only. */
    rbx__xeddsa_sign(sig, K[KX].sk, st, sl);
    ck_assert_int_eq(rbx__xeddsa_verify(sig, K[KX].pk, st, sl), 0);
    for (int slot = 0; slot < 2; slot++) {
        n = resign(out, &x, slot, sig);
        ck_assert_uint_eq(n, x.n);
        ck_assert_int_eq(rbx_rotation_parse(&got, out, n), RBX_E_SIGNATURE);
    }
    /* The old key's signature in both slots (new key never signed). */
    Rbx__Wire__RotationRecord *w = rbx__wire__rotation_record__unpack(NULL, x.n, x.b);
    n = resign(out, &x, 1, w->old_signature.data);
    ck_assert_int_eq(rbx_rotation_parse(&got, out, n), RBX_E_SIGNATURE);
    /* And the reverse: an attacker holding only the new key. */
    n = resign(out, &x, 0, w->new_signature.data);
    ck_assert_int_eq(rbx_rotation_parse(&got, out, n), RBX_E_SIGNATURE);
    rbx__wire__rotation_record__free_unpacked(w, NULL);
    /* Every bit of each signature. */
    size_t sig_old = x.n - 66 - 64, sig_new = x.n - 64;
    for (size_t bit = 0; bit < 512; bit++) {
        for (int slot = 0; slot < 2; slot++) {
            size_t off = (slot ? sig_new : sig_old) + bit / 8;
            x.b[off] ^= (uint8_t)(1U << (bit % 8));
            ck_assert_int_eq(rbx_rotation_parse(&got, x.b, x.n), RBX_E_SIGNATURE);
            x.b[off] ^= (uint8_t)(1U << (bit % 8));
        }
    }
    ck_assert_int_eq(rbx_rotation_parse(&got, x.b, x.n), 0);
    /* Any signed field changed: both signatures fail. */
    w = rbx__wire__rotation_record__unpack(NULL, x.n, x.b);
    w->old_valid_until += 1;
    n = rbx__wire__rotation_record__pack(w, out);
    ck_assert_int_eq(rbx_rotation_parse(&got, out, n), RBX_E_SIGNATURE);
    rbx__wire__rotation_record__free_unpacked(w, NULL);
    tu_rng_system();
}
END_TEST

START_TEST(record_malformed)
{
    keys_make(12);
    rbx_rotation got;
    rec x = make(3, KA, KB, NULL);
    uint8_t buf[RBX_ROTATION_MAXBYTES + 16];
    /* Every truncation. */
    for (size_t len = 0; len < x.n; len++)
        ck_assert_msg(rbx_rotation_parse(&got, x.b, len) == RBX_E_MALFORMED, "length %zu", len);
    static const rbx_rotation zero;
    ck_assert_mem_eq(&got, &zero, sizeof zero);
    /* Trailing and unknown fields, at the end and in the middle. */
    memcpy(buf, x.b, x.n);
    buf[x.n] = 0;
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, x.n + 1), RBX_E_MALFORMED);
    buf[x.n] = 0x58; /* field 11, varint */
    buf[x.n + 1] = 0x01;
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, x.n + 2), RBX_E_MALFORMED);
    /* 08 01 | 10 03 | ...: field 11 after the version, then a non-minimal
     * sequence varint (03 as 83 00). */
    memcpy(buf, x.b, 2);
    buf[2] = 0x58;
    buf[3] = 0x01;
    memcpy(buf + 4, x.b + 2, x.n - 2);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, x.n + 2), RBX_E_MALFORMED);
    ck_assert_uint_eq(x.b[2], 0x10);
    ck_assert_uint_eq(x.b[3], 0x03);
    memcpy(buf, x.b, 3);
    buf[3] = 0x83;
    buf[4] = 0x00;
    memcpy(buf + 5, x.b + 4, x.n - 4);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, x.n + 1), RBX_E_MALFORMED);
    /* Fields swapped (sequence before version). */
    memcpy(buf, x.b, x.n);
    buf[0] = 0x10;
    buf[1] = 0x03;
    buf[2] = 0x08;
    buf[3] = 0x01;
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, x.n), RBX_E_MALFORMED);
    /* A duplicated field (the version twice). */
    buf[0] = 0x08;
    buf[1] = 0x01;
    memcpy(buf + 2, x.b, x.n);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, x.n + 2), RBX_E_MALFORMED);
    /* Longer than RBX_ROTATION_MAXBYTES. */
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, RBX_ROTATION_MAXBYTES + 1), RBX_E_MALFORMED);

    /* Field contents, through protoc-c's packer. */
    Rbx__Wire__RotationRecord *w = rbx__wire__rotation_record__unpack(NULL, x.n, x.b);
    ck_assert_ptr_nonnull(w);
    size_t n;
    w->version = 2;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_VERSION);
    w->version = 1;
    w->sequence = 0;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_MALFORMED);
    w->sequence = 3;
    char *saved = w->reason;
    static char ctl[] = "new\nkey", del[] = "x\x7f", long64[65];
    memset(long64, 'r', 64);
    long64[64] = '\0';
    w->reason = ctl;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_MALFORMED);
    w->reason = del;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_MALFORMED);
    w->reason = long64;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_MALFORMED);
    w->reason = saved;
    w->previous_hash.len = 31;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_MALFORMED);
    w->previous_hash.len = 32;
    w->new_signature.len = 63;
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_MALFORMED);
    w->new_signature.len = 64;
    /* Keys: low order, not canonical, old == new. */
    uint8_t keep[32];
    memcpy(keep, w->new_identity.data, 32);
    memset(w->new_identity.data, 0, 32);
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_KEY);
    memset(w->new_identity.data, 0xff, 32);
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_KEY);
    memcpy(w->new_identity.data, w->old_identity.data, 32);
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), RBX_E_KEY);
    memcpy(w->new_identity.data, keep, 32);
    n = rbx__wire__rotation_record__pack(w, buf);
    ck_assert_int_eq(rbx_rotation_parse(&got, buf, n), 0);
    rbx__wire__rotation_record__free_unpacked(w, NULL);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ chains */

START_TEST(chain_two_rotations)
{
    /* The peer rotated A -> B -> C while we were offline. */
    keys_make(13);
    rec r1 = make(1, KA, KB, NULL), r2 = make(2, KB, KC, &r1);
    const rec *c[] = { &r1, &r2 };
    rbx_chain_tip tip, pinned;
    uint64_t ovu;
    rbx_rotation p1, p2;
    ck_assert_int_eq(rbx_rotation_parse(&p1, r1.b, r1.n), 0);
    ck_assert_int_eq(rbx_rotation_parse(&p2, r2.b, r2.n), 0);

    /* From the first key (pinned without a record). */
    pinned = tip_of(KA, 0, NULL);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c, 2), 0);
    ck_assert_mem_eq(tip.identity, K[KC].pk, 32);
    ck_assert_uint_eq(tip.sequence, 2);
    ck_assert_mem_eq(tip.hash, r2.hash, 32);
    ck_assert_uint_eq(ovu, p1.old_valid_until);
    ck_assert_uint_eq(ovu, 1700001000U + 7U * 86400U);
    /* From the middle key, pinned by record 1. */
    pinned = tip_of(KB, 1, r1.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c, 2), 0);
    ck_assert_mem_eq(tip.identity, K[KC].pk, 32);
    ck_assert_uint_eq(tip.sequence, 2);
    ck_assert_mem_eq(tip.hash, r2.hash, 32);
    ck_assert_uint_eq(ovu, p2.old_valid_until);
    /* Only the newer record, from the middle key. */
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c + 1, 1), 0);
    ck_assert_uint_eq(tip.sequence, 2);
    /* The middle key pinned without a record accepts record 2 too. */
    pinned = tip_of(KB, 0, NULL);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c, 2), 0);
    ck_assert_mem_eq(tip.hash, r2.hash, 32);
    /* Already at the target: tip is the pin, unchanged, no grace window. */
    pinned = tip_of(KC, 2, r2.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c, 2), 0);
    ck_assert_mem_eq(&tip, &pinned, sizeof tip);
    ck_assert_uint_eq(ovu, 0);
    /* No records at all. */
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c, 0), 0);
    ck_assert_mem_eq(&tip, &pinned, sizeof tip);
    ck_assert_int_eq(rbx_chain_verify(&tip, &ovu, &pinned, K[KC].pk, NULL, NULL, 0), 0);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c, 0), RBX_E_IDENTITY_CHANGED);
    /* A contact pinned to a key the chain never mentions. */
    pinned = tip_of(KX, 0, NULL);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c, 2), RBX_E_IDENTITY_CHANGED);
    /* Pinned to the chain's end but the chain starts after our pin. */
    pinned = tip_of(KA, 0, NULL);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c + 1, 1), RBX_E_IDENTITY_CHANGED);
    /* Misuse. */
    ck_assert_int_eq(rbx_chain_verify(&tip, &ovu, &pinned, K[KC].pk, NULL, NULL, 1), RBX_E_INVALID);
    tu_rng_system();
}
END_TEST

START_TEST(chain_broken)
{
    keys_make(14);
    rec r1 = make(1, KA, KB, NULL), r2 = make(2, KB, KC, &r1), r3 = make(3, KC, KD, &r2);
    rbx_chain_tip tip, pinned = tip_of(KA, 0, NULL);
    uint64_t ovu;
    rbx_rotation r;

    /* Hash mismatch: record 2 names another previous hash. */
    r = rot(2, KB, KC, r1.hash);
    r.previous_hash[0] ^= 1;
    rec bad = sign_rec(&r, KB, KC);
    const rec *c1[] = { &r1, &bad };
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c1, 2), RBX_E_CHAIN);
    /* Sequence gap: 1 then 3 (hash and keys link). */
    r = rot(3, KB, KC, r1.hash);
    bad = sign_rec(&r, KB, KC);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c1, 2), RBX_E_CHAIN);
    /* Same sequence twice. */
    r = rot(1, KB, KC, r1.hash);
    bad = sign_rec(&r, KB, KC);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c1, 2), RBX_E_CHAIN);
    /* Old key of record 2 is not the new key of record 1. */
    r = rot(2, KX, KC, r1.hash);
    bad = sign_rec(&r, KX, KC);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c1, 2), RBX_E_CHAIN);
    /* A loop: A -> B -> A. */
    r = rot(2, KB, KA, r1.hash);
    bad = sign_rec(&r, KB, KA);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KA, c1, 2), RBX_E_CHAIN);
    /* A longer loop: A -> B -> C -> B. */
    r = rot(3, KC, KB, r2.hash);
    bad = sign_rec(&r, KC, KB);
    const rec *c2[] = { &r1, &r2, &bad };
    pinned = tip_of(KA, 0, NULL);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KB, c2, 3), RBX_E_CHAIN);
    /* Last new key is not the target. */
    const rec *c3[] = { &r1, &r2, &r3 };
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c3, 3), 0);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c3, 3), RBX_E_CHAIN);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KE, c3, 3), RBX_E_CHAIN);
    /* ... even when the target is the pinned key. */
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KA, c3, 3), RBX_E_CHAIN);
    /* Sequence 1 with a non-zero previous hash. */
    r = rot(1, KA, KB, r3.hash);
    bad = sign_rec(&r, KA, KB);
    const rec *c4[] = { &bad };
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KB, c4, 1), RBX_E_CHAIN);
    /* Out of order. */
    const rec *c5[] = { &r2, &r1 };
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KB, c5, 2), RBX_E_CHAIN);
    /* The pin's hash does not match record k's previous hash. */
    uint8_t wrong[32];
    memcpy(wrong, r1.hash, 32);
    wrong[31] ^= 0x80;
    pinned = tip_of(KB, 1, wrong);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c3, 3), RBX_E_CHAIN);
    /* Record k skips ahead of the pin: pinned at sequence 1 with a record
     * that links by key but claims sequence 3 after a sequence-2 record
     * elsewhere in history we never saw. */
    pinned = tip_of(KC, 1, r2.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c3, 3), RBX_E_CHAIN);
    /* A damaged record: its parse error. */
    rec dmg = r2;
    dmg.b[dmg.n - 1] ^= 1;
    const rec *c6[] = { &r1, &dmg };
    pinned = tip_of(KA, 0, NULL);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c6, 2), RBX_E_SIGNATURE);
    dmg.n = 10;
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, c6, 2), RBX_E_MALFORMED);
    /* More than RBX_CHAIN_MAX records. */
    const rec *c9[RBX_CHAIN_MAX + 1];
    for (size_t i = 0; i <= RBX_CHAIN_MAX; i++) c9[i] = &r1;
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KB, c9, RBX_CHAIN_MAX + 1), RBX_E_LIMIT);
    tu_rng_system();
}
END_TEST

START_TEST(chain_stale)
{
    keys_make(15);
    rec r1 = make(1, KA, KB, NULL), r2 = make(2, KB, KC, &r1), r3 = make(3, KC, KD, &r2);
    rbx_chain_tip tip, pinned;
    uint64_t ovu;
    /* We pinned D at sequence 3. A replay of the chain up to C. */
    const rec *old[] = { &r1, &r2 };
    pinned = tip_of(KC, 2, r2.hash);
    /* Record k (C -> D, sequence 3) replayed against a pin that is already
     * at sequence 3 for key C: rolled back. */
    const rec *c3[] = { &r1, &r2, &r3 };
    pinned = tip_of(KC, 3, r3.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c3, 3), RBX_E_STALE);
    pinned = tip_of(KC, 7, r3.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c3, 3), RBX_E_STALE);
    /* The key restarted its sequence: B -> E as a new sequence 1, while we
     * pinned B at sequence 1. */
    rec fresh = make(1, KB, KE, NULL);
    const rec *c1[] = { &fresh };
    pinned = tip_of(KB, 1, r1.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KE, c1, 1), RBX_E_STALE);
    /* The same records against the right pin pass. */
    pinned = tip_of(KC, 2, r2.hash);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KD, c3, 3), 0);
    ck_assert_uint_eq(tip.sequence, 3);
    ck_assert_int_eq(chain(&tip, &ovu, &pinned, KC, old, 2), 0);
    ck_assert_mem_eq(&tip, &pinned, sizeof tip);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ bundles */

typedef struct bun {
    uint8_t spk_pk[32], spk_sk[32], sig[64];
    uint64_t created;
} bun;

/* A signed prekey of identity `who` with the v2 statement (created != 0). */
static void spk_make(bun *s, int who, uint64_t created)
{
    ck_assert_int_eq(rbx_keypair_generate(s->spk_pk, s->spk_sk), 0);
    s->created = created;
    if (created != 0) {
        uint8_t st[RBX_SPK_STATEMENT_V2_BYTES];
        rbx__spk_statement_v2(st, 7, created, s->spk_pk);
        ck_assert_mem_eq(st, "ratchetbox-spk-v2\x00\x00\x00\x07", 21);
        uint8_t c8[8];
        be64(c8, created);
        ck_assert_mem_eq(st + 21, c8, 8);
        ck_assert_mem_eq(st + 29, s->spk_pk, 32);
        rbx__xeddsa_sign(s->sig, K[who].sk, st, sizeof st);
    } else {
        uint8_t st[RBX_SPK_STATEMENT_BYTES];
        rbx__spk_statement(st, 7, s->spk_pk);
        rbx__xeddsa_sign(s->sig, K[who].sk, st, sizeof st);
    }
}

static size_t bundle_make(uint8_t *out, size_t cap, int who, const bun *s, const rec *const *recs,
                          size_t n, const uint8_t *cert, size_t certlen)
{
    const uint8_t *p[RBX_CHAIN_MAX];
    size_t l[RBX_CHAIN_MAX], len;
    for (size_t i = 0; i < n; i++) {
        p[i] = recs[i]->b;
        l[i] = recs[i]->n;
    }
    ck_assert_int_eq(rbx__bundle_encode_ext(out, cap, &len, K[who].pk, 7, s->spk_pk, s->sig,
                                            s->created, RBX_NO_PREKEY, NULL, p, l, n, cert, certlen),
                     0);
    return len;
}

START_TEST(bundle_with_chain)
{
    keys_make(16);
    rec r1 = make(1, KA, KB, NULL), r2 = make(2, KB, KC, &r1);
    const rec *c[] = { &r1, &r2 };
    uint8_t cert[RBX_CERT_MAXBYTES], got[RBX_CERT_MAXBYTES], buf[RBX_BUNDLE_MAXBYTES];
    size_t certlen, gotlen, n;
    ck_assert_int_eq(rbx_org_certify(cert, sizeof cert, &certlen, K[KO].pk, K[KO].sk, K[KC].pk,
                                     1700000000U, 1800000000U), 0);
    bun s;
    spk_make(&s, KC, 1700002500U);
    n = bundle_make(buf, sizeof buf, KC, &s, c, 2, cert, certlen);
    /* 138 (v1, no one-time prekey) + created 6 + two records + certificate. */
    ck_assert_uint_eq(certlen, 148);
    ck_assert_uint_eq(n, 138 + 6 + (r1.n + 3) + (r2.n + 3) + (certlen + 3));
    rbx_bundle b;
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n), 0);
    ck_assert_mem_eq(b.identity, K[KC].pk, 32);
    ck_assert_uint_eq(b.signed_prekey_created, 1700002500U);
    ck_assert_uint_eq(b.chain_len, 2);
    ck_assert_int_eq(b.has_certificate, 1);
    ck_assert_int_eq(b.has_onetime, 0);
    /* Re-encoding gives the same bytes. */
    uint8_t again[RBX_BUNDLE_MAXBYTES];
    ck_assert_uint_eq(bundle_make(again, sizeof again, KC, &s, c, 2, cert, certlen), n);
    ck_assert_mem_eq(again, buf, n);
    /* Chain from the first key and from the middle one. */
    rbx_chain_tip tip, pinned = tip_of(KA, 0, NULL);
    uint64_t ovu;
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), 0);
    ck_assert_mem_eq(tip.identity, K[KC].pk, 32);
    ck_assert_uint_eq(tip.sequence, 2);
    ck_assert_mem_eq(tip.hash, r2.hash, 32);
    ck_assert_uint_eq(ovu, 1700001000U + 7U * 86400U);
    pinned = tip_of(KB, 1, r1.hash);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), 0);
    ck_assert_uint_eq(ovu, 1700002000U + 7U * 86400U);
    pinned = tip_of(KX, 0, NULL);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), RBX_E_IDENTITY_CHANGED);
    /* The certificate. */
    ck_assert_int_eq(rbx_bundle_certificate(got, sizeof got, &gotlen, buf, n), 0);
    ck_assert_uint_eq(gotlen, certlen);
    ck_assert_mem_eq(got, cert, certlen);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, b.identity, 1750000000U, got, gotlen), 0);
    ck_assert_int_eq(rbx_bundle_certificate(got, certlen - 1, &gotlen, buf, n), RBX_E_BUFFER);
    ck_assert_uint_eq(gotlen, 0);

    /* Changing the stated creation time breaks the v2 signature. */
    Rbx__Wire__PreKeyBundle *w = rbx__wire__pre_key_bundle__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(w);
    w->signed_prekey_created += 1;
    size_t n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, again, n2), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_bundle_certificate(got, sizeof got, &gotlen, again, n2), RBX_E_SIGNATURE);
    /* Dropping it: the v2 signature does not verify as v1. */
    w->has_signed_prekey_created = 0;
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_SIGNATURE);
    /* Present with value 0 ("not stated" in rbx_bundle): malformed. */
    w->has_signed_prekey_created = 1;
    w->signed_prekey_created = 0;
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_MALFORMED);
    w->signed_prekey_created = 1700002500U;
    /* Empty record and empty certificate fields (protobuf-c: data NULL). */
    ProtobufCBinaryData keep_cert = w->org_certificate, keep_rec = w->rotation[0];
    w->org_certificate = (ProtobufCBinaryData){ 0, NULL };
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_MALFORMED);
    w->org_certificate = keep_cert;
    w->rotation[0] = (ProtobufCBinaryData){ 0, NULL };
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_MALFORMED);
    w->rotation[0] = keep_rec;
    /* A record damaged inside the bundle. */
    w->rotation[1].data[w->rotation[1].len - 1] ^= 1;
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_SIGNATURE);
    w->rotation[1].data[w->rotation[1].len - 1] ^= 1;
    /* A forged certificate. */
    w->org_certificate.data[w->org_certificate.len - 1] ^= 1;
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_SIGNATURE);
    w->org_certificate.data[w->org_certificate.len - 1] ^= 1;
    /* Records in the wrong order parse (each verifies) but do not chain. */
    ProtobufCBinaryData t = w->rotation[0];
    w->rotation[0] = w->rotation[1];
    w->rotation[1] = t;
    n2 = rbx__wire__pre_key_bundle__pack(w, again);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), 0);
    pinned = tip_of(KA, 0, NULL);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, again, n2), RBX_E_CHAIN);
    rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    /* Records that end elsewhere than the bundle's identity. */
    bun sd;
    spk_make(&sd, KD, 1700002500U);
    n2 = bundle_make(again, sizeof again, KD, &sd, c, 2, NULL, 0);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), 0);
    ck_assert_int_eq(b.has_certificate, 0);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, again, n2), RBX_E_CHAIN);
    ck_assert_int_eq(rbx_bundle_certificate(got, sizeof got, &gotlen, again, n2), RBX_E_NOT_FOUND);
    tu_rng_system();
}
END_TEST

START_TEST(bundle_limits)
{
    keys_make(17);
    /* The longest chain a bundle carries, each record at its longest, and a
     * certificate: fits RBX_BUNDLE_MAXBYTES. */
    static const int ring[] = { KA, KB, KC, KD, KE, KX, KO };
    kp extra[3];
    rec r[RBX_CHAIN_MAX + 1];
    for (int i = 0; i < 3; i++) ck_assert_int_eq(rbx_keypair_generate(extra[i].pk, extra[i].sk), 0);
    kp all[10];
    for (int i = 0; i < 7; i++) all[i] = K[ring[i]];
    for (int i = 0; i < 3; i++) all[7 + i] = extra[i];
    for (size_t i = 0; i <= RBX_CHAIN_MAX; i++) {
        rbx_rotation x = { 0 };
        x.sequence = i + 1;
        memcpy(x.old_identity, all[i].pk, 32);
        memcpy(x.new_identity, all[i + 1].pk, 32);
        x.created = x.old_valid_until = UINT64_MAX - 1;
        memset(x.reason, 'R', 63);
        if (i > 0) memcpy(x.previous_hash, r[i - 1].hash, 32);
        ck_assert_int_eq(rbx_rotation_sign(r[i].b, sizeof r[i].b, &r[i].n, &x, all[i].sk,
                                           all[i + 1].sk), 0);
        rbx_rotation_hash(r[i].hash, r[i].b, r[i].n);
    }
    uint8_t cert[RBX_CERT_MAXBYTES], buf[RBX_BUNDLE_MAXBYTES];
    size_t certlen, n;
    ck_assert_int_eq(rbx_org_certify(cert, sizeof cert, &certlen, K[KO].pk, K[KO].sk,
                                     all[RBX_CHAIN_MAX].pk, UINT64_MAX - 1, 0), 0);
    ck_assert_uint_eq(certlen, 2 + 34 + 34 + 11 + 2 + 66);
    /* Identity all[8] = the last new key of records 0..7; an identity key as
     * signer of the SPK is what matters, so sign with all[8] directly. */
    uint8_t spk_pk[32], spk_sk[32], sig[64], st[RBX_SPK_STATEMENT_V2_BYTES];
    ck_assert_int_eq(rbx_keypair_generate(spk_pk, spk_sk), 0);
    rbx__spk_statement_v2(st, UINT32_MAX - 1, UINT64_MAX, spk_pk);
    rbx__xeddsa_sign(sig, all[RBX_CHAIN_MAX].sk, st, sizeof st);
    const uint8_t *p[RBX_CHAIN_MAX + 1];
    size_t l[RBX_CHAIN_MAX + 1];
    for (size_t i = 0; i <= RBX_CHAIN_MAX; i++) {
        p[i] = r[i].b;
        l[i] = r[i].n;
    }
    ck_assert_int_eq(rbx__bundle_encode_ext(buf, sizeof buf, &n, all[RBX_CHAIN_MAX].pk,
                                            UINT32_MAX - 1, spk_pk, sig, UINT64_MAX, UINT32_MAX - 1,
                                            spk_pk, p, l, RBX_CHAIN_MAX, cert, certlen), 0);
    ck_assert_uint_le(n, RBX_BUNDLE_MAXBYTES);
    rbx_bundle b;
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n), 0);
    ck_assert_uint_eq(b.chain_len, RBX_CHAIN_MAX);
    ck_assert_uint_eq(b.signed_prekey_created, UINT64_MAX);
    rbx_chain_tip tip, pinned = tip_of(KA, 0, NULL);
    uint64_t ovu;
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), 0);
    ck_assert_uint_eq(tip.sequence, RBX_CHAIN_MAX);
    /* Nine records: the encoder refuses, and a bundle made by hand is malformed. */
    size_t n9;
    ck_assert_int_eq(rbx__bundle_encode_ext(buf, sizeof buf, &n9, all[RBX_CHAIN_MAX].pk, 7, spk_pk,
                                            sig, 0, RBX_NO_PREKEY, NULL, p, l, RBX_CHAIN_MAX + 1,
                                            NULL, 0), RBX_E_INVALID);
    ck_assert_uint_eq(n9, 0);
    Rbx__Wire__PreKeyBundle *w = rbx__wire__pre_key_bundle__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(w);
    ProtobufCBinaryData nine[RBX_CHAIN_MAX + 1];
    for (size_t i = 0; i <= RBX_CHAIN_MAX; i++) nine[i] = (ProtobufCBinaryData){ l[i], r[i].b };
    ProtobufCBinaryData *keep = w->rotation;
    w->rotation = nine;
    w->n_rotation = RBX_CHAIN_MAX + 1;
    w->has_org_certificate = 0;
    uint8_t *big = malloc(rbx__wire__pre_key_bundle__get_packed_size(w));
    ck_assert_ptr_nonnull(big);
    n9 = rbx__wire__pre_key_bundle__pack(w, big);
    ck_assert_uint_le(n9, RBX_BUNDLE_MAXBYTES);
    ck_assert_int_eq(rbx_bundle_parse(&b, big, n9), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, big, n9), RBX_E_MALFORMED);
    free(big);
    w->rotation = keep;
    w->n_rotation = RBX_CHAIN_MAX;
    rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    /* Fields the parser would refuse are not written. */
    size_t l0 = 0;
    ck_assert_int_eq(rbx__bundle_encode_ext(buf, sizeof buf, &n9, all[RBX_CHAIN_MAX].pk, 7, spk_pk,
                                            sig, 0, RBX_NO_PREKEY, NULL, p, &l0, 1, NULL, 0),
                     RBX_E_INVALID);
    ck_assert_int_eq(rbx__bundle_encode_ext(buf, sizeof buf, &n9, all[RBX_CHAIN_MAX].pk, 7, spk_pk,
                                            sig, 0, RBX_NO_PREKEY, NULL, NULL, NULL, 0, cert, 0),
                     RBX_E_INVALID);
    ck_assert_int_eq(rbx__bundle_encode_ext(buf, sizeof buf, &n9, all[RBX_CHAIN_MAX].pk, 7, spk_pk,
                                            sig, 0, 5, NULL, NULL, NULL, 0, NULL, 0),
                     RBX_E_INVALID);
    ck_assert_uint_eq(n9, 0);
    ck_assert_int_eq(rbx__bundle_encode_ext(buf, 100, &n9, all[RBX_CHAIN_MAX].pk, 7, spk_pk, sig, 0,
                                            RBX_NO_PREKEY, NULL, p, l, 1, NULL, 0), RBX_E_BUFFER);
    ck_assert_uint_eq(n9, 0);
    tu_rng_system();
}
END_TEST

/* A bundle from before rotation: parses as before, and the extended encoder
 * with nothing extra writes the same bytes. */
START_TEST(bundle_v1_unchanged)
{
    keys_make(18);
    rbx_prekeys *pre;
    ck_assert_int_eq(rbx_prekeys_new(&pre, K[KA].pk, K[KA].sk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(pre, 7, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_add_onetime(pre, 100, NULL), 0);
    uint8_t buf[RBX_BUNDLE_MAXBYTES], again[RBX_BUNDLE_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    size_t n, n2, cl;
    ck_assert_int_eq(rbx_prekeys_bundle(buf, sizeof buf, &n, pre, 7, 100), 0);
    ck_assert_uint_eq(n, 174);
    rbx_bundle b;
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n), 0);
    ck_assert_uint_eq(b.signed_prekey_created, 0);
    ck_assert_uint_eq(b.chain_len, 0);
    ck_assert_int_eq(b.has_certificate, 0);
    ck_assert_int_eq(rbx__bundle_encode_ext(again, sizeof again, &n2, b.identity, 7, b.signed_prekey,
                                            b.signature, 0, 100, b.onetime_prekey, NULL, NULL, 0,
                                            NULL, 0), 0);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(again, buf, n);
    /* A v1 signature with a creation time added: refused. */
    ck_assert_int_eq(rbx__bundle_encode_ext(again, sizeof again, &n2, b.identity, 7, b.signed_prekey,
                                            b.signature, 1700000000U, 100, b.onetime_prekey, NULL,
                                            NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(rbx_bundle_parse(&b, again, n2), RBX_E_SIGNATURE);
    /* No records, identity == pin: verified, tip is the pin. */
    rbx_chain_tip tip, pinned = tip_of(KA, 0, NULL);
    uint64_t ovu;
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), 0);
    ck_assert_mem_eq(&tip, &pinned, sizeof tip);
    pinned = tip_of(KB, 0, NULL);
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), RBX_E_IDENTITY_CHANGED);
    ck_assert_int_eq(rbx_bundle_certificate(cert, sizeof cert, &cl, buf, n), RBX_E_NOT_FOUND);
    buf[0] ^= 0xff;
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, buf, n), RBX_E_MALFORMED);
    rbx_prekeys_free(pre);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ organisation roots */

START_TEST(cert_checks)
{
    keys_make(19);
    uint8_t c[RBX_CERT_MAXBYTES], buf[RBX_CERT_MAXBYTES + 8], st[128];
    size_t n, n2;
    const uint64_t t0 = 1700000000U, t1 = 1731536000U;
    ck_assert_int_eq(rbx_org_certify(c, sizeof c, &n, K[KO].pk, K[KO].sk, K[KA].pk, t0, t1), 0);
    ck_assert_uint_eq(n, 2 + 34 + 34 + 6 + 6 + 66);
    rbx_org_cert oc;
    ck_assert_int_eq(rbx_org_cert_parse(&oc, c, n), 0);
    ck_assert_mem_eq(oc.org, K[KO].pk, 32);
    ck_assert_mem_eq(oc.identity, K[KA].pk, 32);
    ck_assert_uint_eq(oc.created, t0);
    ck_assert_uint_eq(oc.expires, t1);
    ck_assert_int_eq(rbx__xeddsa_verify(c + n - 64, K[KO].pk, st,
                                        cert_statement(st, K[KO].pk, K[KA].pk, t0, t1)), 0);
    /* In force from created - skew until just before expires. */
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0, c, n), 0);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t1 - 1, c, n), 0);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t1, c, n), RBX_E_EXPIRED);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, UINT64_MAX, c, n), RBX_E_EXPIRED);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0 - 300, c, n), 0);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0 - 301, c, n), RBX_E_EXPIRED);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, 0, c, n), RBX_E_EXPIRED);
    /* Another org, another identity. */
    ck_assert_int_eq(rbx_org_cert_check(K[KX].pk, K[KA].pk, t0, c, n), RBX_E_UNCERTIFIED);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KB].pk, t0, c, n), RBX_E_UNCERTIFIED);
    /* A bad signature: every bit of it. */
    for (size_t bit = 0; bit < 512; bit++) {
        c[n - 64 + bit / 8] ^= (uint8_t)(1U << (bit % 8));
        ck_assert_int_eq(rbx_org_cert_parse(&oc, c, n), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0, c, n), RBX_E_UNCERTIFIED);
        c[n - 64 + bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    /* Signed by another key claiming to be the org. */
    Rbx__Wire__OrgCertificate *w = rbx__wire__org_certificate__unpack(NULL, n, c);
    ck_assert_ptr_nonnull(w);
    rbx__xeddsa_sign(w->signature.data, K[KX].sk, st, cert_statement(st, K[KO].pk, K[KA].pk, t0, t1));
    n2 = rbx__wire__org_certificate__pack(w, buf);
    ck_assert_int_eq(rbx_org_cert_parse(&oc, buf, n2), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0, buf, n2), RBX_E_UNCERTIFIED);
    /* Validity stretched after signing. */
    ck_assert_int_eq(rbx_org_cert_parse(&oc, c, n), 0);
    memcpy(w->signature.data, c + n - 64, 64);
    w->expires = 0;
    n2 = rbx__wire__org_certificate__pack(w, buf);
    ck_assert_int_eq(rbx_org_cert_parse(&oc, buf, n2), RBX_E_SIGNATURE);
    w->expires = t1;
    w->version = 2;
    n2 = rbx__wire__org_certificate__pack(w, buf);
    ck_assert_int_eq(rbx_org_cert_parse(&oc, buf, n2), RBX_E_VERSION);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0, buf, n2), RBX_E_UNCERTIFIED);
    w->version = 1;
    memset(w->identity_key.data, 0, 32);
    n2 = rbx__wire__org_certificate__pack(w, buf);
    ck_assert_int_eq(rbx_org_cert_parse(&oc, buf, n2), RBX_E_KEY);
    rbx__wire__org_certificate__free_unpacked(w, NULL);
    /* Truncations, trailing bytes, unknown fields. */
    for (size_t len = 0; len < n; len++)
        ck_assert_msg(rbx_org_cert_parse(&oc, c, len) == RBX_E_MALFORMED, "length %zu", len);
    memcpy(buf, c, n);
    buf[n] = 0x38; /* field 7, varint */
    buf[n + 1] = 0x00;
    ck_assert_int_eq(rbx_org_cert_parse(&oc, buf, n + 2), RBX_E_MALFORMED);
    /* No expiry. */
    ck_assert_int_eq(rbx_org_certify(c, sizeof c, &n, K[KO].pk, K[KO].sk, K[KA].pk, t0, 0), 0);
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, UINT64_MAX, c, n), 0);
    /* Future-dated beyond the skew. */
    ck_assert_int_eq(rbx_org_cert_check(K[KO].pk, K[KA].pk, t0 - 1000, c, n), RBX_E_EXPIRED);
    /* Misuse. */
    ck_assert_int_eq(rbx_org_certify(c, sizeof c, &n, K[KO].pk, K[KX].sk, K[KA].pk, t0, 0), RBX_E_KEY);
    ck_assert_uint_eq(n, 0);
    uint8_t low[32] = { 0 };
    ck_assert_int_eq(rbx_org_certify(c, sizeof c, &n, K[KO].pk, K[KO].sk, low, t0, 0), RBX_E_KEY);
    ck_assert_int_eq(rbx_org_certify(c, sizeof c, &n, K[KO].pk, K[KO].sk, K[KA].pk, t0, t0), RBX_E_INVALID);
    ck_assert_int_eq(rbx_org_certify(c, 20, &n, K[KO].pk, K[KO].sk, K[KA].pk, t0, 0), RBX_E_BUFFER);
    ck_assert_uint_eq(n, 0);
    tu_rng_system();
}
END_TEST

START_TEST(revocation_round_trip)
{
    keys_make(20);
    uint8_t v[RBX_REVOCATION_MAXBYTES], buf[RBX_REVOCATION_MAXBYTES + 8], st[200];
    size_t n, n2;
    rbx_org_revocation r;
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &n, K[KO].pk, K[KO].sk, K[KA].pk, 1700000000U,
                                    "laptop stolen"), 0);
    ck_assert_uint_eq(n, 2 + 34 + 34 + 6 + 15 + 66);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, v, n), 0);
    ck_assert_mem_eq(r.org, K[KO].pk, 32);
    ck_assert_mem_eq(r.identity, K[KA].pk, 32);
    ck_assert_uint_eq(r.revoked_at, 1700000000U);
    ck_assert_str_eq(r.reason, "laptop stolen");
    ck_assert_int_eq(rbx__xeddsa_verify(v + n - 64, K[KO].pk, st,
                                        revoke_statement(st, K[KO].pk, K[KA].pk, 1700000000U,
                                                         "laptop stolen")), 0);
    /* Forged: signed by a stranger in the org's name. */
    Rbx__Wire__OrgRevocation *w = rbx__wire__org_revocation__unpack(NULL, n, v);
    ck_assert_ptr_nonnull(w);
    rbx__xeddsa_sign(w->signature.data, K[KX].sk, st,
                     revoke_statement(st, K[KO].pk, K[KA].pk, 1700000000U, "laptop stolen"));
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, buf, n2), RBX_E_SIGNATURE);
    static const rbx_org_revocation zero;
    ck_assert_mem_eq(&r, &zero, sizeof r);
    /* The genuine signature over another identity or time. */
    memcpy(w->signature.data, v + n - 64, 64);
    memcpy(w->identity_key.data, K[KB].pk, 32);
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, buf, n2), RBX_E_SIGNATURE);
    memcpy(w->identity_key.data, K[KA].pk, 32);
    w->revoked_at -= 1;
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, buf, n2), RBX_E_SIGNATURE);
    w->revoked_at += 1;
    static char other[] = "laptop found";
    char *keep = w->reason;
    w->reason = other;
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, buf, n2), RBX_E_SIGNATURE);
    static char ctl[] = "laptop\tstolen";
    w->reason = ctl;
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, buf, n2), RBX_E_MALFORMED);
    w->reason = keep;
    w->version = 3;
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, buf, n2), RBX_E_VERSION);
    w->version = 1;
    n2 = rbx__wire__org_revocation__pack(w, buf);
    ck_assert_uint_eq(n2, n);
    ck_assert_mem_eq(buf, v, n);
    rbx__wire__org_revocation__free_unpacked(w, NULL);
    for (size_t len = 0; len < n; len++)
        ck_assert_msg(rbx_org_revocation_parse(&r, v, len) == RBX_E_MALFORMED, "length %zu", len);
    /* Empty reason; misuse. */
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &n, K[KO].pk, K[KO].sk, K[KA].pk, 5, ""), 0);
    ck_assert_int_eq(rbx_org_revocation_parse(&r, v, n), 0);
    ck_assert_str_eq(r.reason, "");
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &n, K[KO].pk, K[KO].sk, K[KA].pk, 5, "a\nb"),
                     RBX_E_INVALID);
    char long64[65];
    memset(long64, 'z', 64);
    long64[64] = '\0';
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &n, K[KO].pk, K[KO].sk, K[KA].pk, 5, long64),
                     RBX_E_INVALID);
    long64[63] = '\0';
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &n, K[KO].pk, K[KO].sk, K[KA].pk, UINT64_MAX, long64), 0);
    ck_assert_uint_le(n, RBX_REVOCATION_MAXBYTES);
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &n, K[KO].pk, K[KA].sk, K[KA].pk, 5, "x"), RBX_E_KEY);
    ck_assert_int_eq(rbx_org_revoke(v, 50, &n, K[KO].pk, K[KO].sk, K[KA].pk, 5, "x"), RBX_E_BUFFER);
    ck_assert_uint_eq(n, 0);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ vectors */

/* `"name": "hex",` at the given indent (last: no comma). */
static void js_hex(tu_sbuf *b, int indent, const char *name, const uint8_t *p, size_t n, int last)
{
    char *h = tu_hex(p, n);
    tu_sb_printf(b, "%*s\"%s\": \"%s\"%s\n", indent, "", name, h, last ? "" : ",");
    free(h);
}

static void js_rng(tu_sbuf *b, int indent, const char *name)
{
    uint8_t log[4096];
    size_t n = tu_rng_log_take(log, sizeof log);
    js_hex(b, indent, name, log, n, 0);
}

static void js_record(tu_sbuf *b, const rbx_rotation *r, const rec *x, int last)
{
    uint8_t st[256];
    size_t sl = statement(st, r);
    tu_sb_printf(b, "    {\n      \"sequence\": %llu,\n", (unsigned long long)r->sequence);
    js_hex(b, 6, "old_identity", r->old_identity, 32, 0);
    js_hex(b, 6, "new_identity", r->new_identity, 32, 0);
    tu_sb_printf(b, "      \"created\": %llu,\n      \"old_valid_until\": %llu,\n",
              (unsigned long long)r->created, (unsigned long long)r->old_valid_until);
    tu_sb_printf(b, "      \"reason\": \"%s\",\n", r->reason);
    js_hex(b, 6, "previous_hash", r->previous_hash, 32, 0);
    js_hex(b, 6, "statement", st, sl, 0);
    js_rng(b, 6, "rng");
    js_hex(b, 6, "record", x->b, x->n, 0);
    js_hex(b, 6, "hash", x->hash, 32, 1);
    tu_sb_printf(b, "    }%s\n", last ? "" : ",");
}

/* Write or compare spec/vectors/<name> (RBX_WRITE_VECTORS=1 writes). */
#define VEC_SEED 4U

START_TEST(rotation_vectors)
{
    tu_sbuf sb = { 0 };
    keys_make(VEC_SEED);
    tu_rng_log(1);
    tu_sb_printf(&sb, "{\n  \"description\": \"Rotation records A->B->C, an organisation certificate "
                   "and revocation, and a bundle carrying the chain. Generated by "
                   "tests/test_rotation.c (make vectors) from seed %u; keys as "
                   "rbx_keypair_generate draws them (sk = 32 RNG bytes, pk = X25519(sk, 9)); "
                   "`rng` lists the XEdDSA nonce bytes Z each signature consumed (64 per "
                   "signature, old key first). Normative description: spec/PROTOCOL.md "
                   "section 16.\",\n",
              VEC_SEED);
    tu_sb_printf(&sb, "  \"seed\": %u,\n  \"keys\": {\n", VEC_SEED);
    static const char *const names[NKEYS] = { "a", "b", "c", "d", "e", "x", "org" };
    for (int i = 0; i < NKEYS; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%s_private", names[i]);
        js_hex(&sb, 4, nm, K[i].sk, 32, 0);
        snprintf(nm, sizeof nm, "%s_public", names[i]);
        js_hex(&sb, 4, nm, K[i].pk, 32, i == NKEYS - 1);
    }
    tu_sb_printf(&sb, "  },\n  \"records\": [\n");
    rbx_rotation r1 = rot(1, KA, KB, NULL);
    rec x1 = sign_rec(&r1, KA, KB);
    js_record(&sb, &r1, &x1, 0);
    rbx_rotation r2 = rot(2, KB, KC, x1.hash);
    rec x2 = sign_rec(&r2, KB, KC);
    js_record(&sb, &r2, &x2, 1);
    tu_sb_printf(&sb, "  ],\n");
    /* Certificate for C, revocation of A. */
    uint8_t c[RBX_CERT_MAXBYTES], v[RBX_REVOCATION_MAXBYTES], st[200];
    size_t cn, vn;
    ck_assert_int_eq(rbx_org_certify(c, sizeof c, &cn, K[KO].pk, K[KO].sk, K[KC].pk, 1700000000U,
                                     1731536000U), 0);
    tu_sb_printf(&sb, "  \"certificate\": {\n");
    js_hex(&sb, 4, "org_key", K[KO].pk, 32, 0);
    js_hex(&sb, 4, "identity_key", K[KC].pk, 32, 0);
    tu_sb_printf(&sb, "    \"created\": 1700000000,\n    \"expires\": 1731536000,\n");
    js_hex(&sb, 4, "statement", st, cert_statement(st, K[KO].pk, K[KC].pk, 1700000000U, 1731536000U), 0);
    js_rng(&sb, 4, "rng");
    js_hex(&sb, 4, "certificate", c, cn, 1);
    tu_sb_printf(&sb, "  },\n");
    ck_assert_int_eq(rbx_org_revoke(v, sizeof v, &vn, K[KO].pk, K[KO].sk, K[KA].pk, 1700003600U,
                                    "key superseded"), 0);
    tu_sb_printf(&sb, "  \"revocation\": {\n");
    js_hex(&sb, 4, "org_key", K[KO].pk, 32, 0);
    js_hex(&sb, 4, "identity_key", K[KA].pk, 32, 0);
    tu_sb_printf(&sb, "    \"revoked_at\": 1700003600,\n    \"reason\": \"key superseded\",\n");
    js_hex(&sb, 4, "statement", st,
           revoke_statement(st, K[KO].pk, K[KA].pk, 1700003600U, "key superseded"), 0);
    js_rng(&sb, 4, "rng");
    js_hex(&sb, 4, "revocation", v, vn, 1);
    tu_sb_printf(&sb, "  },\n");
    /* C's bundle: signed prekey 7 stated as created at 1700002500, both
     * records and the certificate. */
    bun s;
    spk_make(&s, KC, 1700002500U);
    uint8_t stv2[RBX_SPK_STATEMENT_V2_BYTES], bb[RBX_BUNDLE_MAXBYTES];
    rbx__spk_statement_v2(stv2, 7, 1700002500U, s.spk_pk);
    const rec *ch[] = { &x1, &x2 };
    size_t bn = bundle_make(bb, sizeof bb, KC, &s, ch, 2, c, cn);
    uint8_t lg[4096];
    ck_assert_uint_eq(tu_rng_log_take(lg, sizeof lg), 32 + 64);
    tu_sb_printf(&sb, "  \"bundle\": {\n");
    js_hex(&sb, 4, "identity_key", K[KC].pk, 32, 0);
    tu_sb_printf(&sb, "    \"signed_prekey_id\": 7,\n");
    js_hex(&sb, 4, "signed_prekey_private", s.spk_sk, 32, 0);
    js_hex(&sb, 4, "signed_prekey_public", s.spk_pk, 32, 0);
    tu_sb_printf(&sb, "    \"signed_prekey_created\": 1700002500,\n");
    js_hex(&sb, 4, "signed_prekey_statement", stv2, sizeof stv2, 0);
    js_hex(&sb, 4, "signed_prekey_z", lg + 32, 64, 0);
    js_hex(&sb, 4, "signed_prekey_signature", s.sig, 64, 0);
    js_hex(&sb, 4, "bundle", bb, bn, 1);
    tu_sb_printf(&sb, "  }\n}\n");
    /* Everything listed verifies. */
    rbx_bundle b;
    ck_assert_int_eq(rbx_bundle_parse(&b, bb, bn), 0);
    rbx_chain_tip tip, pinned = tip_of(KA, 0, NULL);
    uint64_t ovu;
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, bb, bn), 0);
    ck_assert_mem_eq(tip.hash, x2.hash, 32);
    rbx_org_revocation rv;
    ck_assert_int_eq(rbx_org_revocation_parse(&rv, v, vn), 0);
    tu_rng_log(0);
    tu_rng_system();
    tu_settle_vector("rotation.json", &sb);
}
END_TEST

/* The committed rotation.json on its own: every listed encoding parses and
 * verifies, the hashes and links are the listed ones, the chain of the
 * bundle leads from A to C. A minimal reader: the n-th `"name": "hex"`. */
static size_t js_get_hex(const char *text, const char *name, size_t nth, uint8_t *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\": \"", name);
    const char *p = text;
    for (size_t i = 0; i <= nth; i++) {
        p = strstr(p, key);
        ck_assert_msg(p != NULL, "rotation.json: no %s #%zu", name, nth);
        p += strlen(key);
    }
    const char *end = strchr(p, '"');
    ck_assert_ptr_nonnull(end);
    size_t len = 0;
    ck_assert_int_eq(sodium_hex2bin(out, cap, p, (size_t)(end - p), NULL, &len, NULL), 0);
    return len;
}

START_TEST(rotation_vectors_replay)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/spec/vectors/rotation.json", RBX_SRCDIR);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    static char text[65536];
    size_t tn = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[tn] = '\0';
    uint8_t a[32], c[32], o[32], rec1[RBX_ROTATION_MAXBYTES], rec2[RBX_ROTATION_MAXBYTES];
    uint8_t h[32], want[32], cert[RBX_CERT_MAXBYTES], rev[RBX_REVOCATION_MAXBYTES];
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    ck_assert_uint_eq(js_get_hex(text, "a_public", 0, a, 32), 32);
    ck_assert_uint_eq(js_get_hex(text, "c_public", 0, c, 32), 32);
    ck_assert_uint_eq(js_get_hex(text, "org_public", 0, o, 32), 32);
    size_t n1 = js_get_hex(text, "record", 0, rec1, sizeof rec1);
    size_t n2 = js_get_hex(text, "record", 1, rec2, sizeof rec2);
    rbx_rotation r1, r2;
    ck_assert_int_eq(rbx_rotation_parse(&r1, rec1, n1), 0);
    ck_assert_int_eq(rbx_rotation_parse(&r2, rec2, n2), 0);
    ck_assert_mem_eq(r1.old_identity, a, 32);
    ck_assert_mem_eq(r2.new_identity, c, 32);
    rbx_rotation_hash(h, rec1, n1);
    js_get_hex(text, "hash", 0, want, 32);
    ck_assert_mem_eq(h, want, 32);
    ck_assert_mem_eq(r2.previous_hash, h, 32);
    rbx_rotation_hash(h, rec2, n2);
    js_get_hex(text, "hash", 1, want, 32);
    ck_assert_mem_eq(h, want, 32);
    /* The listed statement is what both keys signed. */
    uint8_t st[256];
    size_t sl = js_get_hex(text, "statement", 0, st, sizeof st);
    ck_assert_int_eq(rbx__xeddsa_verify(rec1 + n1 - 130, r1.old_identity, st, sl), 0);
    ck_assert_int_eq(rbx__xeddsa_verify(rec1 + n1 - 64, r1.new_identity, st, sl), 0);
    size_t cn = js_get_hex(text, "certificate", 0, cert, sizeof cert);
    ck_assert_int_eq(rbx_org_cert_check(o, c, 1700000000U, cert, cn), 0);
    size_t vn = js_get_hex(text, "revocation", 0, rev, sizeof rev);
    rbx_org_revocation rv;
    ck_assert_int_eq(rbx_org_revocation_parse(&rv, rev, vn), 0);
    ck_assert_mem_eq(rv.identity, a, 32);
    ck_assert_str_eq(rv.reason, "key superseded");
    size_t bn = js_get_hex(text, "bundle", 0, bundle, sizeof bundle);
    rbx_bundle b;
    ck_assert_int_eq(rbx_bundle_parse(&b, bundle, bn), 0);
    ck_assert_uint_eq(b.signed_prekey_created, 1700002500U);
    ck_assert_uint_eq(b.chain_len, 2);
    rbx_chain_tip tip, pinned = { 0 };
    memcpy(pinned.identity, a, 32);
    uint64_t ovu;
    ck_assert_int_eq(rbx_bundle_chain_verify(&tip, &ovu, &pinned, bundle, bn), 0);
    ck_assert_mem_eq(tip.identity, c, 32);
    ck_assert_mem_eq(tip.hash, h, 32);
    ck_assert_uint_eq(ovu, r1.old_valid_until);
}
END_TEST

Suite *suite_rotation(void)
{
    Suite *s = suite_create("rotation");
    TCase *tc = tcase_create("rotation");
    tcase_add_test(tc, record_round_trip);
    tcase_add_test(tc, record_known_answer);
    tcase_add_test(tc, record_one_key_only);
    tcase_add_test(tc, record_malformed);
    tcase_add_test(tc, chain_two_rotations);
    tcase_add_test(tc, chain_broken);
    tcase_add_test(tc, chain_stale);
    tcase_add_test(tc, bundle_with_chain);
    tcase_add_test(tc, bundle_limits);
    tcase_add_test(tc, bundle_v1_unchanged);
    tcase_add_test(tc, cert_checks);
    tcase_add_test(tc, revocation_round_trip);
    suite_add_tcase(s, tc);
    /* Named "vectors" so that `make vectors` (CK_RUN_CASE=vectors) rewrites
     * spec/vectors/rotation.json along with the others. */
    tc = tcase_create("vectors");
    tcase_add_test(tc, rotation_vectors);
    tcase_add_test(tc, rotation_vectors_replay);
    suite_add_tcase(s, tc);
    return s;
}
