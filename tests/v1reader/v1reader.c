/* SPDX-License-Identifier: MIT
 * A reader that only knows protocol version 1, fed version 2 (issue 14,
 * PROTOCOL.md 9.3 "Versions: what is accepted").
 *
 * Built by make check from the library with the three files that read
 * RBX_MAX_VERSION (kdf.c, state.c, wire.c) compiled with -DRBX_MAX_VERSION=1
 * (build/v1reader): the same code, with profile 2 and version 2 unknown, so
 * it parses and refuses exactly as ratchetbox 0.1.0 did. Why this reader
 * and not 0.1.0 itself: 0.1.0 is not in the tree (a clean clone must build
 * everything it tests), and for version-2 input its code path is the one
 * compiled here: protobuf-c unpacks the message (fields 7, 9 and 10 are
 * known fields here and unknown fields to 0.1.0, which protobuf-c keeps
 * without failing either way) and the version check, the first check
 * after unpacking in both, refuses it. The fixtures are the committed
 * version-2 vectors (spec/vectors/fast-*.txt): messages, a first message
 * with a rotation record, and session blobs. Each refusal must be
 * RBX_E_VERSION and change nothing; the same reader still runs version 1.
 * (Two paths differ from 0.1.0, which reported a version-2 PreKeyMessage
 * given to an existing session's decrypt, and any version-2 Message given
 * to rbx_message_prekey_info, as RBX_E_MALFORMED: PROTOCOL.md 7.4, 9.3.) */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "testutil.h"
#include "wire.h"

#if RBX_MAX_VERSION != 1
#error "tests/v1reader is built with -DRBX_MAX_VERSION=1"
#endif

/* A version-1 pair (hmac profile) that has talked both ways. */
static void v1_pair(rbx_session **a, rbx_session **b, int he)
{
    rbx_session_opts o = { RBX_PROFILE_HMAC, he };
    tu_pair(a, b, &o);
    tu_msg m;
    tu_send(&m, *b, "reply", 5);
    ck_assert_int_eq(tu_recv(*a, &m, "reply", 5), 0);
    free(m.wire);
}

/* Every wire of a fast- file: to a version-1 session (normal messages and
 * repeated first messages), to a responder's handshake (first messages),
 * and to rbx_message_prekey_info. */
static void refuse_file(const char *path, int he, size_t want)
{
    tv_file *f = tv_load(path);
    rbx_session *a, *b;
    v1_pair(&a, &b, he);
    uint8_t pk[32], sk[32];
    rbx_prekeys *pre;
    ck_assert_int_eq(rbx_keypair_generate(pk, sk), 0);
    ck_assert_int_eq(rbx_prekeys_new(&pre, pk, sk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(pre, 1, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_add_onetime(pre, 2, NULL), 0);
    size_t na, nb, checked = 0;
    uint8_t *blob_a = tu_blob(a, &na), *blob_b = tu_blob(b, &nb);
    for (size_t i = 0; i < f->nblocks; i++) {
        const char *w = tv_get(&f->blocks[i], "wire");
        if (w == NULL) continue;
        uint8_t *wire = malloc(strlen(w) / 2 + 1), pt[4096];
        size_t wl = tv_hex(&f->blocks[i], "wire", wire, strlen(w) / 2 + 1), ptlen = 9;
        ck_assert_uint_eq(wire[1], 2); /* version 2 */
        ck_assert_int_eq(rbx_session_decrypt(b, pt, sizeof pt, &ptlen, wire, wl), RBX_E_VERSION);
        ck_assert_uint_eq(ptlen, 0);
        ck_assert_int_eq(rbx_session_decrypt(a, pt, sizeof pt, &ptlen, wire, wl), RBX_E_VERSION);
        rbx_prekey_info info;
        rbx__prekey_msg pm;
        /* Every version-2 input is RBX_E_VERSION here, a Message as well as a
         * PreKeyMessage (9.3: the Message parser's refusal stands unless it
         * is RBX_E_MALFORMED). The PreKeyMessages also go to a handshake. */
        ck_assert_int_eq(rbx_message_prekey_info(&info, wire, wl), RBX_E_VERSION);
        if (rbx__prekey_parse(&pm, wire, wl) == RBX_E_VERSION) {
            rbx_session *s = (rbx_session *)1;
            uint32_t used = 7;
            ck_assert_int_eq(rbx_session_accept(&s, pt, sizeof pt, &ptlen, &used, pre, NULL, wire, wl),
                             RBX_E_VERSION);
            ck_assert_ptr_null(s);
            ck_assert_uint_eq(used, UINT32_MAX);
            ck_assert_uint_eq(rbx_prekeys_onetime_count(pre), 1);
        }
        tu_assert_state(a, blob_a, na);
        tu_assert_state(b, blob_b, nb);
        free(wire);
        checked++;
    }
    ck_assert_uint_eq(checked, want);
    /* Still a working version-1 reader. */
    tu_msg m;
    tu_send(&m, a, "still version 1", 15);
    ck_assert_uint_eq(m.wire[1], 1);
    ck_assert_int_eq(tu_recv(b, &m, "still version 1", 15), 0);
    free(m.wire);
    free(blob_a);
    free(blob_b);
    rbx_prekeys_free(pre);
    rbx_session_free(a);
    rbx_session_free(b);
    tv_free(f);
}

START_TEST(v2_messages_refused)
{
    refuse_file("spec/vectors/fast-conversation.txt", 0, 21);
    refuse_file("spec/vectors/fast-header-encryption.txt", 1, 21);
    refuse_file("spec/vectors/fast-out-of-order.txt", 0, 43);
    refuse_file("spec/vectors/fast-blobs.txt", 0, 3);
}
END_TEST

START_TEST(v2_blobs_refused)
{
    static const char *const names[] = { "blob-alice-awaiting-reply", "blob-bob",
                                         "blob-alice-after-reply" };
    tv_file *f = tv_load("spec/vectors/fast-blobs.txt");
    for (size_t i = 0; i < 3; i++) {
        const tv_block *b = tv_case(f, names[i]);
        uint8_t blob[8192];
        size_t n = tv_hex(b, "blob", blob, sizeof blob);
        ck_assert_uint_eq(blob[4], 2);
        rbx_session *s = (rbx_session *)1;
        ck_assert_int_eq(rbx_session_deserialize(&s, blob, n), RBX_E_VERSION);
        ck_assert_ptr_null(s);
    }
    tv_free(f);
}
END_TEST

/* Profile 2 does not exist here: not as an option, not in a blob. */
START_TEST(profile_2_unknown)
{
    rbx_session *a, *b;
    v1_pair(&a, &b, 0);
    size_t n;
    uint8_t *blob = tu_blob(a, &n);
    ck_assert_uint_eq(blob[4], 1);
    blob[7] = RBX_PROFILE_FAST;
    rbx_session *s = (rbx_session *)1;
    ck_assert_int_eq(rbx_session_deserialize(&s, blob, n), RBX_E_MALFORMED);
    ck_assert_ptr_null(s);
    ck_assert_ptr_null(rbx__profile_get(RBX_PROFILE_FAST));
    free(blob);
    rbx_session_free(a);
    rbx_session_free(b);
}
END_TEST

int main(void)
{
    if (rbx_init() != 0) return 2;
    Suite *s = suite_create("v1reader");
    TCase *tc = tcase_create("v1reader");
    tcase_add_test(tc, v2_messages_refused);
    tcase_add_test(tc, v2_blobs_refused);
    tcase_add_test(tc, profile_2_unknown);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
