/* SPDX-License-Identifier: MIT
 * The Double Ratchet: long conversations with loss, reordering and
 * duplicates; limits at their exact boundaries; tampering; the session blob.
 * Every refusal is checked to leave the session byte-identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "wire.h"
#include "testutil.h"

/* A small deterministic PRNG for the test's own choices (xorshift64*), so a
 * failing run can be replayed; the library keeps using libsodium's RNG. */
static uint64_t prng_state;
static uint32_t prng(void)
{
    prng_state ^= prng_state >> 12;
    prng_state ^= prng_state << 25;
    prng_state ^= prng_state >> 27;
    return (uint32_t)((prng_state * 2685821657736338717ULL) >> 32);
}

static const rbx_session_opts opts_clear = { RBX_PROFILE_DEFAULT, 0 };
static const rbx_session_opts opts_he = { RBX_PROFILE_DEFAULT, 1 };
static const rbx_session_opts opts_signal = { RBX_PROFILE_SIGNAL, 0 };
static const rbx_session_opts opts_hmac = { RBX_PROFILE_HMAC, 0 };
static const rbx_session_opts opts_hmac_he = { RBX_PROFILE_HMAC, 1 };

/* 0, 1: the default profile (fast, version 2) without and with header
 * encryption; 2: signal; 3, 4: hmac (version 1) without and with. */
static const rbx_session_opts *opts_for(int i)
{
    static const rbx_session_opts *all[] = { &opts_clear, &opts_he, &opts_signal, &opts_hmac,
                                             &opts_hmac_he };
    return all[i];
}

/* Plaintext of message i: its number, then filler of a varying length. */
static size_t make_pt(uint8_t *buf, uint32_t i)
{
    size_t len = 4 + (i * 7919U) % 300U;
    memset(buf, (int)(i & 0xff), len);
    buf[0] = (uint8_t)(i >> 24), buf[1] = (uint8_t)(i >> 16), buf[2] = (uint8_t)(i >> 8);
    buf[3] = (uint8_t)i;
    return len;
}

/* 10,000 messages, random direction changes, 10% loss, each message delayed
 * by 0..8 sends (so reordered inside that window), 5% delivered twice: every
 * delivered message decrypts exactly once to its plaintext; every duplicate
 * is refused with the state unchanged. */
START_TEST(conversation_10000)
{
    enum { N = 10000, WINDOW = 8 };
    typedef struct flight {
        tu_msg m;
        unsigned due;
    } flight;
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    prng_state = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
    int alice_turn = 1; /* Bob has received "hello": either may speak */
    flight air[WINDOW * 2 + 2];
    size_t nair = 0;
    unsigned delivered = 0, lost = 0, dups = 0, late = 0;
    uint8_t pt[512];

    for (unsigned now = 0; now < N + WINDOW + 1; now++) {
        if (now < N) {
            if (prng() % 7 == 0) alice_turn = !alice_turn;
            tu_msg m;
            size_t len = make_pt(pt, now);
            tu_send(&m, alice_turn ? a : b, pt, len);
            m.index = now;
            m.from_alice = alice_turn;
            if (prng() % 10 == 0) {
                free(m.wire);
                lost++;
            } else {
                air[nair].m = m;
                air[nair++].due = now + prng() % (WINDOW + 1);
            }
        }
        /* Deliver everything due, in random order among them. */
        for (;;) {
            size_t due[WINDOW * 2 + 2], ndue = 0;
            for (size_t i = 0; i < nair; i++)
                if (air[i].due <= now) due[ndue++] = i;
            if (ndue == 0) break;
            size_t k = due[prng() % ndue];
            tu_msg m = air[k].m;
            air[k] = air[--nair];
            rbx_session *rx = m.from_alice ? b : a;
            size_t len = make_pt(pt, m.index);
            int rc = tu_recv(rx, &m, pt, len);
            ck_assert_msg(rc == 0, "message %u: %s", m.index, rbx_strerror(rc));
            delivered++;
            late += m.index + 1 < now;
            if (prng() % 20 == 0) {
                size_t blen;
                uint8_t *before = tu_blob(rx, &blen);
                ck_assert_int_eq(tu_recv(rx, &m, NULL, 0), RBX_E_REPLAY);
                tu_assert_state(rx, before, blen);
                free(before);
                dups++;
            }
            free(m.wire);
        }
    }
    ck_assert_uint_eq(nair, 0);
    ck_assert_uint_eq(delivered + lost, N);
    ck_assert_uint_gt(lost, N / 20);
    ck_assert_uint_gt(late, N / 5);
    ck_assert_uint_gt(dups, 100);
    rbx_session_info ia, ib;
    rbx_session_get_info(&ia, a);
    rbx_session_get_info(&ib, b);
    ck_assert_uint_gt(ia.dh_steps + ib.dh_steps, 500);
    ck_assert_uint_le(ia.skipped_chains, RBX_MAX_RECEIVING_CHAINS);
    ck_assert_uint_le(ib.skipped_keys, RBX_MAX_SKIPPED_KEYS);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* Send n messages from s; keep them all. */
static tu_msg *send_many(rbx_session *s, size_t n)
{
    tu_msg *m = calloc(n, sizeof *m);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++) {
        uint8_t pt[8];
        rbx__store32_be(pt, (uint32_t)i);
        tu_send(&m[i], s, pt, 4);
        m[i].index = (uint32_t)i;
    }
    return m;
}

static void free_many(tu_msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) free(m[i].wire);
    free(m);
}

static void expect_refused(rbx_session *s, const tu_msg *m, int want)
{
    size_t blen;
    uint8_t *before = tu_blob(s, &blen);
    ck_assert_int_eq(tu_recv(s, m, NULL, 0), want);
    tu_assert_state(s, before, blen);
    free(before);
}

/* Reply from `from` to `to` and deliver it, so `to` takes a DH step. */
static void turn(rbx_session *from, rbx_session *to)
{
    tu_msg m;
    tu_send(&m, from, "turn", 4);
    ck_assert_int_eq(tu_recv(to, &m, "turn", 4), 0);
    free(m.wire);
}

START_TEST(limit_forward_jump)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    /* Message RBX_MAX_SKIP + 1 (index RBX_MAX_SKIP + 1) needs one skip too many. */
    tu_msg *m = send_many(a, RBX_MAX_SKIP + 2);
    expect_refused(b, &m[RBX_MAX_SKIP + 1], RBX_E_LIMIT);
    /* Exactly RBX_MAX_SKIP skipped keys: accepted. */
    uint8_t want[4];
    rbx__store32_be(want, RBX_MAX_SKIP);
    ck_assert_int_eq(tu_recv(b, &m[RBX_MAX_SKIP], want, 4), 0);
    rbx_session_info info;
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, RBX_MAX_SKIP);
    /* Every skipped one still opens, once. */
    for (uint32_t i = 0; i < RBX_MAX_SKIP; i += 97) {
        rbx__store32_be(want, i);
        ck_assert_int_eq(tu_recv(b, &m[i], want, 4), 0);
        expect_refused(b, &m[i], RBX_E_REPLAY);
    }
    free_many(m, RBX_MAX_SKIP + 2);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

START_TEST(limit_stored_keys)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    /* Two chains with RBX_MAX_SKIP skipped keys each: exactly the limit. */
    _Static_assert(2 * RBX_MAX_SKIP == RBX_MAX_SKIPPED_KEYS, "test assumes 2 full jumps");
    tu_msg *m1 = send_many(a, RBX_MAX_SKIP + 1);
    ck_assert_int_eq(tu_recv(b, &m1[RBX_MAX_SKIP], NULL, 0), 0);
    turn(b, a);
    tu_msg *m2 = send_many(a, RBX_MAX_SKIP + 1);
    ck_assert_int_eq(tu_recv(b, &m2[RBX_MAX_SKIP], NULL, 0), 0);
    rbx_session_info info;
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, RBX_MAX_SKIPPED_KEYS);
    /* One more skipped key, in the same chain or after a DH step: refused. */
    tu_msg *m3 = send_many(a, 2);
    expect_refused(b, &m3[1], RBX_E_LIMIT);
    ck_assert_int_eq(tu_recv(b, &m3[0], NULL, 0), 0); /* no skip needed: fine */
    ck_assert_int_eq(tu_recv(b, &m3[1], NULL, 0), 0);
    turn(b, a);
    tu_msg *m4 = send_many(a, 2);
    expect_refused(b, &m4[1], RBX_E_LIMIT);
    /* Consuming one stored key makes room for exactly one. */
    ck_assert_int_eq(tu_recv(b, &m1[5], NULL, 0), 0);
    ck_assert_int_eq(tu_recv(b, &m4[1], NULL, 0), 0);
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, RBX_MAX_SKIPPED_KEYS);
    ck_assert_int_eq(tu_recv(b, &m4[0], NULL, 0), 0);
    free_many(m1, RBX_MAX_SKIP + 1);
    free_many(m2, RBX_MAX_SKIP + 1);
    free_many(m3, 2);
    free_many(m4, 2);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* Skipped keys in RBX_MAX_RECEIVING_CHAINS + 1 chains: the oldest chain's keys
 * are evicted, the others still open. */
START_TEST(evict_oldest_chain)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    tu_msg *lost[RBX_MAX_RECEIVING_CHAINS + 1];
    for (size_t c = 0; c <= RBX_MAX_RECEIVING_CHAINS; c++) {
        lost[c] = send_many(a, 2);
        ck_assert_int_eq(tu_recv(b, &lost[c][1], NULL, 0), 0);
        turn(b, a);
        rbx_session_info info;
        rbx_session_get_info(&info, b);
        ck_assert_uint_eq(info.skipped_keys, c < RBX_MAX_RECEIVING_CHAINS ? c + 1 : RBX_MAX_RECEIVING_CHAINS);
        ck_assert_uint_eq(info.skipped_chains, info.skipped_keys);
    }
    /* Chain 0 was evicted; the chain is still remembered: RBX_E_REPLAY. */
    expect_refused(b, &lost[0][0], RBX_E_REPLAY);
    for (size_t c = 1; c <= RBX_MAX_RECEIVING_CHAINS; c++)
        ck_assert_int_eq(tu_recv(b, &lost[c][0], NULL, 0), 0);
    for (size_t c = 0; c <= RBX_MAX_RECEIVING_CHAINS; c++) free_many(lost[c], 2);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* A skipped key lives RBX_SKIPPED_KEY_MAX_AGE receiving DH steps, no more. */
START_TEST(expire_after_steps)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    tu_msg *m = send_many(a, 2);
    ck_assert_int_eq(tu_recv(b, &m[1], NULL, 0), 0);
    turn(b, a);
    /* Bob's steps so far: 1 (the skipped key was stored at step 1). */
    for (unsigned i = 0; i < RBX_SKIPPED_KEY_MAX_AGE - 1; i++) {
        turn(a, b);
        turn(b, a);
    }
    rbx_session_info info;
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.dh_steps, RBX_SKIPPED_KEY_MAX_AGE);
    ck_assert_uint_eq(info.skipped_keys, 1);
    rbx_session *b_old = tu_clone(b);
    turn(a, b); /* step MAX_AGE + 1: age MAX_AGE, kept */
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, 1);
    ck_assert_int_eq(tu_recv(b_old, &m[0], NULL, 0), 0);
    turn(b, a);
    turn(a, b); /* age MAX_AGE + 1: expired */
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, 0);
    /* Far older than the remembered chains: indistinguishable from a forgery. */
    expect_refused(b, &m[0], RBX_E_AUTH);
    free_many(m, 2);
    rbx_session_free(b_old);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* A ratchet key that still files skipped keys but left the remembered
 * chains: a message naming it with a counter that was never skipped is a
 * replay (it would otherwise split that chain's stored keys), and the state
 * stays loadable. */
START_TEST(old_ratchet_key_reused)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, &opts_clear);
    turn(b, a); /* Alice now sends plain Messages */
    tu_msg *m = send_many(a, 3);
    ck_assert_int_eq(tu_recv(b, &m[2], NULL, 0), 0); /* m0, m1 skipped */
    for (unsigned i = 0; i < RBX_RECENT_CHAINS + 2; i++) {
        turn(b, a);
        turn(a, b);
    }
    rbx_session_info info;
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, 2);
    /* m2 with its counter raised to 7: same ratchet key, never skipped. */
    size_t blen;
    uint8_t *before = tu_blob(b, &blen);
    ck_assert_uint_eq(m[2].wire[36], 0x18);
    m[2].wire[37] = 7;
    ck_assert_int_eq(tu_recv(b, &m[2], NULL, 0), RBX_E_REPLAY);
    tu_assert_state(b, before, blen);
    rbx_session *c = tu_clone(b);
    ck_assert_int_eq(tu_recv(c, &m[0], NULL, 0), 0);
    ck_assert_int_eq(tu_recv(c, &m[1], NULL, 0), 0);
    free(before);
    free_many(m, 3);
    rbx_session_free(c);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* Every single-bit flip and every truncation of a message is refused and the
 * receiver stays byte-identical; the untouched message then still opens. */
START_TEST(tamper_every_bit)
{
    /* _i % 5: mode; _i / 5: 0 = Alice still sends PreKeyMessages, 1 = after a reply */
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i % 5));
    if (_i / 5) turn(b, a);
    tu_msg m0, m;
    tu_send(&m0, a, "zero", 4);
    ck_assert_int_eq(tu_recv(b, &m0, "zero", 4), 0);
    tu_send(&m, a, "attack at dawn, bring snacks", 28);
    size_t blen;
    uint8_t *before = tu_blob(b, &blen);
    uint8_t *pt = malloc(m.len);
    for (size_t bit = 0; bit < m.len * 8; bit++) {
        m.wire[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        size_t ptlen = 99;
        int rc = rbx_session_decrypt(b, pt, m.len, &ptlen, m.wire, m.len);
        ck_assert_msg(rc == RBX_E_AUTH || rc == RBX_E_MALFORMED || rc == RBX_E_VERSION ||
                          rc == RBX_E_REPLAY || rc == RBX_E_LIMIT || rc == RBX_E_KEY ||
                          rc == RBX_E_STATE,
                      "bit %zu: %d", bit, rc);
        ck_assert_uint_eq(ptlen, 0);
        m.wire[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    tu_assert_state(b, before, blen);
    for (size_t len = 0; len < m.len; len++) {
        size_t ptlen = 99;
        int rc = rbx_session_decrypt(b, pt, m.len, &ptlen, m.wire, len);
        ck_assert_msg(rc == RBX_E_MALFORMED || rc == RBX_E_AUTH, "len %zu: %d", len, rc);
    }
    /* One byte appended. */
    uint8_t *longer = malloc(m.len + 1);
    memcpy(longer, m.wire, m.len);
    longer[m.len] = 0;
    size_t ptlen;
    ck_assert_int_eq(rbx_session_decrypt(b, pt, m.len, &ptlen, longer, m.len + 1), RBX_E_MALFORMED);
    tu_assert_state(b, before, blen);
    ck_assert_int_eq(tu_recv(b, &m, "attack at dawn, bring snacks", 28), 0);
    free(longer);
    free(pt);
    free(before);
    free(m0.wire);
    free(m.wire);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* ------------------------------------------------------------ version 2 */

/* The ciphertext bytes (tag excluded) of a normal Message. */
static const uint8_t *body_of(const tu_msg *m, size_t *len)
{
    rbx__msg w;
    ck_assert_int_eq(rbx__msg_parse(&w, m->wire, m->len), 0);
    *len = w.ctlen - RBX_AEAD_TAGBYTES;
    return w.ct;
}

/* Issue 14, PROTOCOL.md 4.5, SECURITY.md 5.1: the sender's whole state is
 * copied, a message sent, the copy put back and a different plaintext
 * sent at the same position. In version 2 the two ciphertexts share no
 * keystream (no 16-byte run of one keystream occurs anywhere in the other)
 * and their tags differ; the receiver takes the first and refuses the
 * second as a replay. In version 1 (_i 2, 3, 4) the same steps reuse the
 * keystream byte for byte: the leak that version 2 removes. */
START_TEST(restore_safe)
{
    enum { LEN = 1024 };
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    turn(b, a); /* Alice sends normal Messages */
    size_t blen;
    uint8_t *backup = tu_blob(a, &blen);
    uint8_t p1[LEN], p2[LEN], ks1[LEN], ks2[LEN];
    randombytes_buf(p1, LEN);
    randombytes_buf(p2, LEN);
    tu_msg m1, m2;
    tu_send(&m1, a, p1, LEN);
    rbx_session_free(a);
    ck_assert_int_eq(rbx_session_deserialize(&a, backup, blen), 0);
    tu_send(&m2, a, p2, LEN);
    size_t l1, l2;
    const uint8_t *c1 = body_of(&m1, &l1), *c2 = body_of(&m2, &l2);
    ck_assert_uint_eq(l1, LEN);
    ck_assert_uint_eq(l2, LEN);
    for (size_t i = 0; i < LEN; i++) ks1[i] = c1[i] ^ p1[i], ks2[i] = c2[i] ^ p2[i];
    rbx_session_info ia;
    rbx_session_get_info(&ia, a);
    ck_assert_uint_eq(ia.send_count, 1); /* the same position, twice */
    if (_i >= 2) {
        ck_assert_mem_eq(ks1, ks2, LEN); /* version 1: the same keystream */
    } else {
        size_t shared = 0;
        for (size_t i = 0; i + 16 <= LEN; i++)
            for (size_t j = 0; j + 16 <= LEN; j++) shared += memcmp(ks1 + i, ks2 + j, 16) == 0;
        ck_assert_uint_eq(shared, 0);
        ck_assert(memcmp(c1 + LEN, c2 + LEN, RBX_AEAD_TAGBYTES) != 0);
    }
    ck_assert_int_eq(tu_recv(b, &m1, p1, LEN), 0);
    expect_refused(b, &m2, RBX_E_REPLAY);
    /* The conversation goes on from the restored state. */
    turn(a, b);
    turn(b, a);
    free(backup);
    free(m1.wire);
    free(m2.wire);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* PROTOCOL.md 7.4 Entry and 9.3: a session reads its own version only, and
 * refuses the other with RBX_E_VERSION and no change. */
START_TEST(version_mismatch)
{
    rbx_session *a1, *b1, *a2, *b2;
    tu_pair(&a1, &b1, &opts_hmac);
    tu_pair(&a2, &b2, &opts_clear);
    turn(b1, a1);
    turn(b2, a2);
    tu_msg v1, v2;
    tu_send(&v1, a1, "one", 3);
    tu_send(&v2, a2, "two", 3);
    ck_assert_uint_eq(v1.wire[1], 1);
    ck_assert_uint_eq(v2.wire[1], 2);
    expect_refused(b1, &v2, RBX_E_VERSION);
    expect_refused(b2, &v1, RBX_E_VERSION);
    /* Version 2's form with the version byte of 1 (and back) is malformed:
     * the salt is there iff the version is 2. */
    v1.wire[1] = 2;
    expect_refused(b1, &v1, RBX_E_MALFORMED);
    v1.wire[1] = 1;
    v2.wire[1] = 1;
    expect_refused(b2, &v2, RBX_E_MALFORMED);
    v2.wire[1] = 2;
    ck_assert_int_eq(tu_recv(b1, &v1, "one", 3), 0);
    ck_assert_int_eq(tu_recv(b2, &v2, "two", 3), 0);
    free(v1.wire);
    free(v2.wire);
    rbx_session_free(a1);
    rbx_session_free(b1);
    rbx_session_free(a2);
    rbx_session_free(b2);
}
END_TEST

/* PROTOCOL.md 7.4/7.5: before the body authenticates only the receiving
 * half of a DH step runs, so a forged message of a new chain draws no
 * randomness (the sending half's key pair) and changes nothing; the genuine
 * one then draws exactly its 32 bytes. */
START_TEST(forged_dh_step_draws_nothing)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    turn(b, a);
    tu_msg *m = send_many(a, 1000 + 1); /* a new chain for Bob, 1000 ahead */
    tu_msg forged = m[1000];
    forged.wire = malloc(m[1000].len);
    memcpy(forged.wire, m[1000].wire, m[1000].len);
    rbx__msg w;
    ck_assert_int_eq(rbx__msg_parse(&w, forged.wire, forged.len), 0);
    forged.wire[(size_t)(w.ct - forged.wire) + w.ctlen - 1] ^= 0x01; /* the tag */
    uint8_t log[64];
    tu_rng_seed(77);
    tu_rng_log(1);
    expect_refused(b, &forged, RBX_E_AUTH);
    ck_assert_uint_eq(tu_rng_log_take(log, sizeof log), 0);
    ck_assert_int_eq(tu_recv(b, &m[1000], NULL, 0), 0);
    ck_assert_uint_eq(tu_rng_log_take(log, sizeof log), 32);
    tu_rng_log(0);
    tu_rng_system();
    rbx_session_info info;
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, 1000);
    ck_assert_int_eq(tu_recv(b, &m[999], NULL, 0), 0);
    ck_assert_int_eq(tu_recv(b, &m[0], NULL, 0), 0);
    free(forged.wire);
    free_many(m, 1001);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* Skipped keys across the block boundaries of profile 2's chain (and the
 * HMAC chain of the others): keys skipped in the previous chain (pn) and
 * the new one in the same DH step, then every message in a shuffled order,
 * each exactly once. */
START_TEST(skip_across_blocks)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    turn(b, a);
    tu_msg *m1 = send_many(a, 40);
    ck_assert_int_eq(tu_recv(b, &m1[5], NULL, 0), 0); /* 0..4 skipped */
    turn(b, a);
    tu_msg *m2 = send_many(a, 70);
    ck_assert_int_eq(tu_recv(b, &m2[69], NULL, 0), 0); /* 6..39 old chain, 0..68 new */
    rbx_session_info info;
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, 5 + 34 + 69);
    ck_assert_uint_eq(info.skipped_chains, 2); /* one chain, then the old one, then the new */
    prng_state = 0x51ed27f3ULL + (uint64_t)_i;
    int done1[40] = { 0 }, done2[70] = { 0 };
    done1[5] = done2[69] = 1;
    for (unsigned left = 39 + 69; left > 0; left--) {
        unsigned k;
        do k = prng() % 110; while (k < 40 ? done1[k] : done2[k - 40]);
        tu_msg *x = k < 40 ? &m1[k] : &m2[k - 40];
        uint8_t want[4];
        rbx__store32_be(want, k < 40 ? k : k - 40);
        ck_assert_int_eq(tu_recv(b, x, want, 4), 0);
        expect_refused(b, x, RBX_E_REPLAY);
        if (k < 40) done1[k] = 1;
        else done2[k - 40] = 1;
    }
    rbx_session_get_info(&info, b);
    ck_assert_uint_eq(info.skipped_keys, 0);
    turn(b, a);
    free_many(m1, 40);
    free_many(m2, 70);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* A message of another session, and a session whose AD differs. */
START_TEST(other_session_and_wrong_ad)
{
    rbx_session *a, *b, *c, *d;
    tu_pair(&a, &b, opts_for(_i));
    tu_pair(&c, &d, opts_for(_i));
    turn(b, a);
    turn(d, c);
    tu_msg m;
    tu_send(&m, c, "for d", 5);
    expect_refused(b, &m, RBX_E_AUTH);
    ck_assert_int_eq(tu_recv(d, &m, "for d", 5), 0);
    free(m.wire);

    tu_send(&m, a, "for b", 5);
    /* Same keys, different AD: change one byte of Bob's copy of IK_A. */
    rbx_session *wrong = tu_clone(b);
    wrong->ad[0] ^= 1;
    expect_refused(wrong, &m, RBX_E_AUTH);
    ck_assert_int_eq(tu_recv(b, &m, "for b", 5), 0);
    free(m.wire);
    rbx_session_free(wrong);
    rbx_session_free(a);
    rbx_session_free(b);
    rbx_session_free(c);
    rbx_session_free(d);
}
END_TEST

START_TEST(responder_cannot_send_first_and_sizes)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    uint8_t out[256], big[1];
    size_t outlen = 7;
    /* Too small a buffer: refused, nothing advanced. */
    size_t blen;
    uint8_t *before = tu_blob(a, &blen);
    ck_assert_int_eq(rbx_session_encrypt(a, out, 10, &outlen, (const uint8_t *)"x", 1), RBX_E_BUFFER);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_int_eq(rbx_session_encrypt(a, out, sizeof out, &outlen, big, RBX_MAX_PLAINTEXT + 1),
                     RBX_E_TOO_BIG);
    ck_assert_int_eq(rbx_session_encrypt(a, out, sizeof out, &outlen, NULL, 3), RBX_E_INVALID);
    tu_assert_state(a, before, blen);
    free(before);
    /* An empty message is fine. */
    tu_msg m;
    tu_send(&m, a, NULL, 0);
    ck_assert_int_eq(tu_recv(b, &m, "", 0), 0);
    free(m.wire);
    /* Decrypt into too small a buffer: refused, state unchanged. */
    tu_send(&m, a, "twelve bytes", 12);
    before = tu_blob(b, &blen);
    size_t ptlen = 5;
    ck_assert_int_eq(rbx_session_decrypt(b, out, 11, &ptlen, m.wire, m.len), RBX_E_BUFFER);
    ck_assert_uint_eq(ptlen, 0);
    tu_assert_state(b, before, blen);
    free(before);
    ck_assert_int_eq(tu_recv(b, &m, "twelve bytes", 12), 0);
    free(m.wire);
    /* Wire overhead of a normal message (PROTOCOL.md "Wire format"). */
    turn(b, a);
    tu_send(&m, a, "0123456789012345678901234567890123456789012345678901234567890123", 64);
    /* PROTOCOL.md 9.5: version 2 adds the 18-byte salt field with a clear
     * header only (an encrypted header's nonce carries R). */
    static const size_t want[] = { 76, 102, 58, 58, 102 };
    ck_assert_uint_eq(m.len - 64, want[_i]);
    free(m.wire);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* PROTOCOL.md 9.5, first messages: a PreKeyMessage with a one-time prekey
 * and small ids around 64 bytes, in every profile and header form. */
START_TEST(first_message_overhead)
{
    static const size_t want[] = { 155, 183, 136, 134, 181 };
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    tu_msg m;
    tu_send(&m, a, "0123456789012345678901234567890123456789012345678901234567890123", 64);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, m.wire, m.len), 1);
    ck_assert_uint_eq(m.len - 64, want[_i]);
    ck_assert_uint_le(m.len, rbx_session_wire_size(a, 64));
    ck_assert_int_eq(tu_recv(b, &m, NULL, 0), 0);
    free(m.wire);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

START_TEST(max_size_message)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    uint8_t *pt = malloc(RBX_MAX_PLAINTEXT);
    randombytes_buf(pt, RBX_MAX_PLAINTEXT);
    tu_msg m;
    tu_send(&m, a, pt, RBX_MAX_PLAINTEXT);
    ck_assert_uint_le(m.len, rbx_session_wire_size(a, RBX_MAX_PLAINTEXT));
    ck_assert_uint_le(m.len, RBX_MAX_WIRE);
    ck_assert_int_eq(tu_recv(b, &m, pt, RBX_MAX_PLAINTEXT), 0);
    free(m.wire);
    free(pt);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* ------------------------------------------------------------ blob */

START_TEST(blob_round_trip)
{
    rbx_session *a, *b;
    tu_pair(&a, &b, opts_for(_i));
    tu_msg *m = send_many(a, 6);
    ck_assert_int_eq(tu_recv(b, &m[5], NULL, 0), 0); /* 5 skipped keys */
    size_t n1, n2;
    uint8_t *blob = tu_blob(b, &n1);
    rbx_session *c;
    ck_assert_int_eq(rbx_session_deserialize(&c, blob, n1), 0);
    uint8_t *again = tu_blob(c, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(blob, again, n1);
    /* The copy works like the original. */
    ck_assert_int_eq(tu_recv(c, &m[2], NULL, 0), 0);
    turn(c, a);
    turn(a, c);
    free(again);
    free(blob);
    free_many(m, 6);
    rbx_session_free(c);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

/* One skipped key in the blob: chain, n, step, key (state.c BLOB_ENTRY). */
#define BLOB_ENTRY (32U + 4U + 4U + 32U)

START_TEST(blob_garbage)
{
    /* _i 0: version 2 (fast), 1: version 1 (hmac); both with header
     * encryption. Version 2 ends with the 3-byte empty attachment. */
    rbx_session *a, *b, *c;
    tu_pair(&a, &b, _i == 0 ? &opts_he : &opts_hmac_he);
    uint8_t version = _i == 0 ? 2 : 1;
    size_t tail = _i == 0 ? 3 : 0;
    tu_msg *m = send_many(a, 4);
    ck_assert_int_eq(tu_recv(b, &m[3], NULL, 0), 0);
    size_t n;
    uint8_t *blob = tu_blob(b, &n);
    uint8_t *buf = malloc(n + 100);
    /* Every truncation and an extra byte. */
    for (size_t len = 0; len < n; len++) {
        memcpy(buf, blob, len);
        c = (rbx_session *)1;
        int rc = rbx_session_deserialize(&c, buf, len);
        ck_assert_msg(rc == RBX_E_MALFORMED, "len %zu: %d", len, rc);
        ck_assert_ptr_null(c);
    }
    memcpy(buf, blob, n);
    memset(buf + n, 0, 100);
    ck_assert_int_eq(rbx_session_deserialize(&c, buf, n + 1), RBX_E_MALFORMED);
    /* A whole skipped entry more than the count announces. */
    ck_assert_int_eq(rbx_session_deserialize(&c, buf, n + BLOB_ENTRY), RBX_E_MALFORMED);
    ck_assert_uint_eq(blob[4], version);
    if (tail) ck_assert_mem_eq(blob + n - 3, "\0\0\0", 3);
    /* Oversized: a blob that is well formed but for holding one skipped key
     * more than the limit (the last chain continued, counters rising); the
     * same blob at the limit loads, so only the limit refuses it. */
    for (size_t extra = 0; extra < 2; extra++) {
        size_t count = RBX_MAX_SKIPPED_KEYS + extra, fixed = n - tail - b->nskipped * BLOB_ENTRY;
        size_t biglen = fixed + count * BLOB_ENTRY + tail;
        const uint8_t *last = blob + n - tail - BLOB_ENTRY;
        uint8_t *big = malloc(biglen);
        memcpy(big, blob, n - tail);
        memset(big + biglen - tail, 0, tail);
        rbx__store32_be(big + fixed - 4, (uint32_t)count);
        for (size_t i = b->nskipped; i < count; i++) {
            uint8_t *e = big + fixed + i * BLOB_ENTRY;
            memcpy(e, last, BLOB_ENTRY);
            rbx__store32_be(e + 32, rbx__load32_be(last + 32) + (uint32_t)(i - b->nskipped + 1));
        }
        int rc = rbx_session_deserialize(&c, big, biglen);
        if (extra) {
            ck_assert_int_eq(rc, RBX_E_MALFORMED);
            ck_assert_ptr_null(c);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(c->nskipped, RBX_MAX_SKIPPED_KEYS);
            rbx_session_free(c);
        }
        free(big);
    }
    /* A newer version, and the other known version's header on this blob
     * (its layout or its profile does not fit). */
    buf[4] = 3;
    ck_assert_int_eq(rbx_session_deserialize(&c, buf, n), RBX_E_VERSION);
    buf[4] = 0;
    ck_assert_int_eq(rbx_session_deserialize(&c, buf, n), RBX_E_VERSION);
    buf[4] = (uint8_t)(3 - version);
    ck_assert_int_eq(rbx_session_deserialize(&c, buf, n), RBX_E_MALFORMED);
    buf[4] = version;
    /* The profile of the other version. */
    memcpy(buf, blob, n);
    buf[7] = version == 2 ? RBX_PROFILE_HMAC : RBX_PROFILE_FAST;
    ck_assert_int_eq(rbx_session_deserialize(&c, buf, n), RBX_E_MALFORMED);
    if (version == 2) {
        /* An attachment on a responder's session; a block key without its
         * chain; a record count above 8. */
        uint8_t *att = malloc(n + 8);
        memcpy(att, blob, n - 3);
        memcpy(att + n - 3, "\x01\x00\x05xxxxx\x00\x00", 10);
        ck_assert_int_eq(rbx_session_deserialize(&c, att, n + 7), RBX_E_MALFORMED);
        memcpy(att + n - 3, "\x09\x00\x00", 3);
        ck_assert_int_eq(rbx_session_deserialize(&c, att, n), RBX_E_MALFORMED);
        free(att);
    }
    /* Out-of-range flags: each one-byte field in the header. */
    for (size_t off = 5; off < 11; off++) {
        memcpy(buf, blob, n);
        buf[off] = 7;
        ck_assert_int_eq(rbx_session_deserialize(&c, buf, n), RBX_E_MALFORMED);
    }
    /* Random bytes with the right magic and length. */
    for (int i = 0; i < 200; i++) {
        randombytes_buf(buf, n);
        memcpy(buf, "RBXS", 4);
        buf[4] = version;
        ck_assert_int_eq(rbx_session_deserialize(&c, buf, n), RBX_E_MALFORMED);
    }
    free(buf);
    free(blob);
    free_many(m, 4);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

Suite *suite_ratchet(void)
{
    Suite *s = suite_create("ratchet");
    TCase *tc = tcase_create("ratchet");
    tcase_set_timeout(tc, 120);
    /* _i: 0 fast, clear headers; 1 fast, header encryption; 2 signal
     * profile; 3, 4 hmac profile (version 1) clear and encrypted */
    tcase_add_loop_test(tc, conversation_10000, 0, 4); /* hmac with HE: the other tests */
    tcase_add_loop_test(tc, limit_forward_jump, 0, 5);
    tcase_add_loop_test(tc, limit_stored_keys, 0, 5);
    tcase_add_loop_test(tc, evict_oldest_chain, 0, 2);
    tcase_add_loop_test(tc, expire_after_steps, 0, 2);
    tcase_add_test(tc, old_ratchet_key_reused);
    tcase_add_loop_test(tc, tamper_every_bit, 0, 10);
    tcase_add_loop_test(tc, restore_safe, 0, 5);
    tcase_add_test(tc, version_mismatch);
    tcase_add_loop_test(tc, forged_dh_step_draws_nothing, 0, 5);
    tcase_add_loop_test(tc, skip_across_blocks, 0, 5);
    tcase_add_loop_test(tc, other_session_and_wrong_ad, 0, 2);
    tcase_add_loop_test(tc, responder_cannot_send_first_and_sizes, 0, 5);
    tcase_add_loop_test(tc, first_message_overhead, 0, 5);
    tcase_add_loop_test(tc, max_size_message, 0, 2);
    tcase_add_loop_test(tc, blob_round_trip, 0, 2);
    tcase_add_loop_test(tc, blob_garbage, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
