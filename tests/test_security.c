/* SPDX-License-Identifier: MIT
 * Forward secrecy and post-compromise security, decided by real decryption:
 * an attacker holds Bob's serialized state at message k and tries every
 * recorded ciphertext with the library's own decrypt. The set it opens must
 * equal the set the spec predicts (SECURITY.md "Exposure"):
 *  - messages Bob already decrypted: none;
 *  - messages whose keys Bob stores as skipped keys: those;
 *  - the rest of Bob's current receiving chain, and Alice's chains keyed to
 *    Bob's ratchet key at k: those;
 *  - everything after Bob's next DH ratchet step: none.
 * The same experiment on the long-lived baseline opens every message. */
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "testutil.h"

enum { N = 120, K = 57 };

typedef struct rec {
    tu_msg m;
    int from_alice;
    int delivered_before_k; /* Bob decrypted it before the snapshot */
    uint8_t sender_dhs[32]; /* sender's ratchet key */
    uint8_t sender_dhr[32]; /* the peer ratchet key the sender used */
    char baseline_ct[RBX_BASELINE_B64LEN(64)];
    char baseline_nonce[RBX_NONCE_B64BYTES];
} rec;

/* Deterministic schedule: direction changes every 5-9 messages; some of
 * Alice's messages before k are lost (skipped keys at Bob) or late. */
static int is_alice(int i) { return (i / 7) % 2 == 0 || i % 11 == 0; }
static int lost(int i) { return i == 15 || i == 30 || i == 31 || i == K - 2; }

START_TEST(exposure_matches_prediction)
{
    const rbx_session_opts o = { RBX_PROFILE_DEFAULT, _i };
    uint8_t apk[32], ask[32], bpk[32], bsk[32];
    rbx_session *a, *b;
    tu_pair(&a, &b, &o);
    ck_assert_int_eq(rbx_keypair_generate(apk, ask), 0);
    ck_assert_int_eq(rbx_keypair_generate(bpk, bsk), 0);
    rec *r = calloc(N, sizeof *r);
    rbx_session *snapshot = NULL;

    for (int i = 0; i < N; i++) {
        uint8_t pt[64];
        memset(pt, i, sizeof pt);
        r[i].from_alice = is_alice(i);
        rbx_session *tx = r[i].from_alice ? a : b, *rx = r[i].from_alice ? b : a;
        memcpy(r[i].sender_dhs, tx->st.dhs_pk, 32);
        memcpy(r[i].sender_dhr, tx->st.dhr, 32);
        tu_send(&r[i].m, tx, pt, sizeof pt);
        ck_assert_int_eq(rbx_baseline_seal(r[i].baseline_ct, sizeof r[i].baseline_ct,
                                           r[i].baseline_nonce, pt, sizeof pt,
                                           r[i].from_alice ? bpk : apk, r[i].from_alice ? ask : bsk),
                         0);
        if (!lost(i)) {
            ck_assert_int_eq(tu_recv(rx, &r[i].m, pt, sizeof pt), 0);
            r[i].delivered_before_k = r[i].from_alice && i < K;
        }
        if (i == K) {
            /* The thief copies Bob's state right after message K. */
            snapshot = tu_clone(b);
            r[i].delivered_before_k = r[i].from_alice;
        }
    }
    ck_assert_ptr_nonnull(snapshot);
    /* Prediction from the snapshot's public facts. */
    rbx__state st = snapshot->st;
    int predicted[N] = { 0 }, opened[N] = { 0 };
    int healed_at = -1;
    for (int i = 0; i < N; i++) {
        if (!r[i].from_alice) continue;
        if (i <= K) {
            /* Undelivered before k: readable iff Bob holds its key. */
            predicted[i] = !r[i].delivered_before_k;
        } else {
            /* Later: readable iff Alice's chain is keyed to Bob's ratchet key
             * at k, or it continues Bob's current receiving chain. */
            predicted[i] = memcmp(r[i].sender_dhr, st.dhs_pk, 32) == 0 ||
                           memcmp(r[i].sender_dhs, st.dhr, 32) == 0;
            if (!predicted[i] && healed_at < 0) healed_at = i;
        }
    }
    /* The attacker: one evolving copy, every recorded Alice->Bob ciphertext
     * in send order, failures change nothing. */
    rbx_session *thief = tu_clone(snapshot);
    int nopened = 0;
    for (int i = 0; i < N; i++) {
        if (!r[i].from_alice) continue;
        opened[i] = tu_recv(thief, &r[i].m, NULL, 0) == 0;
        nopened += opened[i];
        ck_assert_msg(opened[i] == predicted[i], "message %d: opened %d, predicted %d", i,
                      opened[i], predicted[i]);
    }
    /* The experiment must be informative: some exposure, then healing. */
    ck_assert_int_gt(nopened, 3);
    ck_assert_int_gt(healed_at, K);
    for (int i = healed_at; i < N; i++) ck_assert_int_eq(opened[i], 0);
    /* Lost messages before k: exactly the stored skipped keys. */
    ck_assert_int_eq(opened[15] + opened[30] + opened[31] + opened[K - 2], 4);
    ck_assert_uint_eq(snapshot->nskipped, 4);

    /* Bob's outgoing messages: the thief turns Bob's sending chain into a
     * receiving one; only the rest of the sending chain current at k opens. */
    rbx_session *mirror = tu_clone(snapshot);
    memcpy(mirror->st.ckr, mirror->st.cks, 32);
    memcpy(mirror->st.bkr, mirror->st.bks, 32); /* profile 2's block key (4.4) */
    memcpy(mirror->st.dhr, mirror->st.dhs_pk, 32);
    memcpy(mirror->st.hkr, mirror->st.hks, 32);
    mirror->st.nr = mirror->st.ns;
    mirror->st.flags |= RBX_HAS_CKR | RBX_HAS_DHR | RBX_HAS_HKR;
    mirror->nskipped = 0;
    int bob_opened = 0, bob_sent = 0;
    for (int i = K + 1; i < N; i++) {
        if (r[i].from_alice) continue;
        int want = memcmp(r[i].sender_dhs, st.dhs_pk, 32) == 0;
        int got = tu_recv(mirror, &r[i].m, NULL, 0) == 0;
        ck_assert_msg(got == want, "bob message %d: opened %d, predicted %d", i, got, want);
        bob_opened += got;
        bob_sent++;
    }
    /* Informative here too: some of Bob's messages open, later ones do not. */
    ck_assert_int_gt(bob_opened, 0);
    ck_assert_int_lt(bob_opened, bob_sent);

    /* Baseline: Bob's long-lived secret key opens every message, both ways,
     * past and future. */
    for (int i = 0; i < N; i++) {
        uint8_t pt[64], want[64];
        size_t ptlen;
        memset(want, i, sizeof want);
        ck_assert_int_eq(rbx_baseline_open(pt, sizeof pt, &ptlen, r[i].baseline_ct,
                                           strlen(r[i].baseline_ct), r[i].baseline_nonce,
                                           strlen(r[i].baseline_nonce), apk, bsk),
                         0);
        ck_assert_mem_eq(pt, want, 64);
    }
    for (int i = 0; i < N; i++) free(r[i].m.wire);
    free(r);
    rbx_session_free(mirror);
    rbx_session_free(thief);
    rbx_session_free(snapshot);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

Suite *suite_security(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("exposure");
    tcase_add_loop_test(tc, exposure_matches_prediction, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
