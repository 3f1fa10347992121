/* SPDX-License-Identifier: MIT
 * X3DH over box keys: bundles, the first message, and every refusal the
 * responder owes (PROTOCOL.md "X3DH"). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "sign.h"
#include "testutil.h"
#include "wire.h"

typedef struct party {
    uint8_t pk[32], sk[32];
    rbx_prekeys *pre;
} party;

static void party_new(party *p, int onetime)
{
    ck_assert_int_eq(rbx_keypair_generate(p->pk, p->sk), 0);
    ck_assert_int_eq(rbx_prekeys_new(&p->pre, p->pk, p->sk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(p->pre, 7, NULL), 0);
    for (int i = 0; i < onetime; i++)
        ck_assert_int_eq(rbx_prekeys_add_onetime(p->pre, 1000 + (uint32_t)i, NULL), 0);
}

static uint32_t lowest_onetime(const party *p)
{
    uint32_t id = RBX_NO_PREKEY;
    ck_assert_uint_ge(rbx_prekeys_onetime_ids(&id, 1, p->pre), 1);
    return id;
}

static void bundle_of(rbx_bundle *b, const party *p, int with_onetime)
{
    uint8_t buf[RBX_BUNDLE_MAXBYTES];
    size_t n;
    ck_assert_int_eq(rbx_prekeys_bundle(buf, sizeof buf, &n, p->pre, 7,
                                        with_onetime ? lowest_onetime(p) : RBX_NO_PREKEY),
                     0);
    ck_assert_int_eq(rbx_bundle_parse(b, buf, n), 0);
}

/* Alice's first message to bob's bundle. */
static rbx_session *first_message(tu_msg *m, const party *alice, const rbx_bundle *b,
                                  const rbx_session_opts *o)
{
    rbx_session *s;
    ck_assert_int_eq(rbx_session_initiate(&s, alice->pk, alice->sk, b, o), 0);
    tu_send(m, s, "first", 5);
    return s;
}

static int accept(rbx_session **out, party *bob, const uint8_t *pinned, const tu_msg *m,
                  uint32_t *used)
{
    uint8_t pt[64];
    size_t ptlen = 9;
    int rc = rbx_session_accept(out, pt, sizeof pt, &ptlen, used, bob->pre, pinned, m->wire, m->len);
    if (rc == 0) {
        ck_assert_uint_eq(ptlen, 5);
        ck_assert_mem_eq(pt, "first", 5);
    } else {
        ck_assert_uint_eq(ptlen, 0);
        ck_assert_ptr_null(*out);
    }
    return rc;
}

START_TEST(handshake_variants)
{
    /* _i bit 0: one-time prekey; bit 1: header encryption; _i >> 2: the
     * profile (hmac, signal, fast) */
    static const unsigned profiles[3] = { RBX_PROFILE_HMAC, RBX_PROFILE_SIGNAL, RBX_PROFILE_FAST };
    party alice, bob;
    party_new(&alice, 0);
    party_new(&bob, 1);
    rbx_bundle b;
    bundle_of(&b, &bob, _i & 1);
    ck_assert_int_eq(b.has_onetime, _i & 1);
    rbx_session_opts o = { profiles[_i >> 2], (_i & 2) ? 1 : 0 };
    tu_msg m;
    rbx_session *a = first_message(&m, &alice, &b, &o), *s;
    rbx_prekey_info info;
    ck_assert_int_eq(rbx_message_prekey_info(&info, m.wire, m.len), 1);
    ck_assert_mem_eq(info.initiator_identity, alice.pk, 32);
    ck_assert_uint_eq(info.signed_prekey_id, 7);
    ck_assert_int_eq(info.has_onetime, _i & 1);
    uint32_t used;
    ck_assert_int_eq(accept(&s, &bob, NULL, &m, &used), 0);
    ck_assert_uint_eq(used, (_i & 1) ? 1000 : UINT32_MAX);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(bob.pre), (_i & 1) ? 0 : 1);
    rbx_session_info ia, ib;
    rbx_session_get_info(&ia, a);
    rbx_session_get_info(&ib, s);
    ck_assert_mem_eq(ia.peer_identity, bob.pk, 32);
    ck_assert_mem_eq(ib.peer_identity, alice.pk, 32);
    ck_assert_mem_eq(ib.own_identity, bob.pk, 32);
    ck_assert_int_eq(ib.header_encryption, (_i & 2) ? 1 : 0);
    ck_assert_uint_eq(ib.profile, o.profile);
    /* The message carries its session's protocol version (PROTOCOL.md 9). */
    ck_assert_uint_eq(m.wire[1], o.profile == RBX_PROFILE_FAST ? 2 : 1);
    ck_assert_int_eq(ia.awaiting_reply, 1);
    /* Alice keeps wrapping until a reply decrypts. */
    tu_msg m2, r;
    tu_send(&m2, a, "second", 6);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, m2.wire, m2.len), 1);
    ck_assert_int_eq(tu_recv(s, &m2, "second", 6), 0);
    tu_send(&r, s, "reply", 5);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, r.wire, r.len), 0);
    ck_assert_int_eq(tu_recv(a, &r, "reply", 5), 0);
    rbx_session_get_info(&ia, a);
    ck_assert_int_eq(ia.awaiting_reply, 0);
    free(m2.wire);
    tu_send(&m2, a, "third", 5);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, m2.wire, m2.len), 0);
    ck_assert_int_eq(tu_recv(s, &m2, "third", 5), 0);
    free(m2.wire);
    free(r.wire);
    free(m.wire);
    rbx_session_free(a);
    rbx_session_free(s);
    rbx_prekeys_free(alice.pre);
    rbx_prekeys_free(bob.pre);
}
END_TEST

START_TEST(bundle_refusals)
{
    party bob;
    party_new(&bob, 1);
    uint8_t buf[RBX_BUNDLE_MAXBYTES + 8];
    size_t n;
    rbx_bundle b;
    size_t signed_part;
    ck_assert_int_eq(rbx_prekeys_bundle(buf, sizeof buf, &signed_part, bob.pre, 7, RBX_NO_PREKEY), 0);
    ck_assert_int_eq(rbx_prekeys_bundle(buf, sizeof buf, &n, bob.pre, 7, 1000), 0);
    /* Every single-bit flip of the signed part: refused. The one-time prekey
     * fields that follow are unsigned by design (X3DH 3.2); a flip there gives
     * a bundle whose first message the responder will refuse. */
    for (size_t bit = 0; bit < n * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        int rc = rbx_bundle_parse(&b, buf, n);
        if (bit / 8 < signed_part)
            ck_assert_msg(rc == RBX_E_MALFORMED || rc == RBX_E_VERSION || rc == RBX_E_KEY ||
                              rc == RBX_E_SIGNATURE,
                          "bit %zu: %d", bit, rc);
        else
            ck_assert_msg(rc != 0 || b.onetime_prekey_id != 1000 ||
                              sodium_memcmp(b.onetime_prekey, buf + n - 32, 32) == 0,
                          "bit %zu parsed to the original", bit);
        buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    /* Truncations: only the cut right before the one-time prekey fields is a
     * bundle (without a one-time prekey). */
    for (size_t len = 0; len < n; len++) {
        int rc = rbx_bundle_parse(&b, buf, len);
        if (len == signed_part) {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(b.has_onetime, 0);
        } else {
            ck_assert_int_ne(rc, 0);
        }
    }
    buf[n] = 0;
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n + 1), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n), 0);
    /* The signature covers the id: another id with the same key fails. */
    rbx_bundle ok = b;
    Rbx__Wire__PreKeyBundle *w = rbx__wire__pre_key_bundle__unpack(NULL, n, buf);
    w->signed_prekey_id = 8;
    size_t n2 = rbx__wire__pre_key_bundle__pack(w, buf);
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n2), RBX_E_SIGNATURE);
    /* A low-order signed prekey. */
    w->signed_prekey_id = 7;
    memset(w->signed_prekey.data, 0, 32);
    n2 = rbx__wire__pre_key_bundle__pack(w, buf);
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n2), RBX_E_KEY);
    /* Version 2. */
    memcpy(w->signed_prekey.data, ok.signed_prekey, 32);
    w->version = 2;
    n2 = rbx__wire__pre_key_bundle__pack(w, buf);
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n2), RBX_E_VERSION);
    /* libsignal's sign-bit form of a correct signature is refused. */
    w->version = 1;
    uint8_t stmt[RBX_SPK_STATEMENT_BYTES];
    rbx__spk_statement(stmt, 7, ok.signed_prekey);
    ck_assert_int_eq(rbx__xeddsa_verify(ok.signature, ok.identity, stmt, sizeof stmt), 0);
    w->signed_prekey_signature.data[63] |= 0x80;
    n2 = rbx__wire__pre_key_bundle__pack(w, buf);
    ck_assert_int_eq(rbx_bundle_parse(&b, buf, n2), RBX_E_SIGNATURE);
    rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    /* Bundle for an unknown signed prekey id. */
    ck_assert_int_eq(rbx_prekeys_bundle(buf, sizeof buf, &n, bob.pre, 99, 1000), RBX_E_UNKNOWN_PREKEY);
    ck_assert_int_eq(rbx_prekeys_bundle(buf, sizeof buf, &n, bob.pre, 7, 1001), RBX_E_UNKNOWN_PREKEY);
    ck_assert_int_eq(rbx_prekeys_bundle(buf, 10, &n, bob.pre, 7, 1000), RBX_E_BUFFER);
    ck_assert_uint_eq(n, 0);
    rbx_prekeys_free(bob.pre);
}
END_TEST

START_TEST(prekeys_misuse)
{
    uint8_t pk[32], sk[32], other[32], osk[32];
    rbx_prekeys *p;
    ck_assert_int_eq(rbx_keypair_generate(pk, sk), 0);
    ck_assert_int_eq(rbx_keypair_generate(other, osk), 0);
    ck_assert_int_eq(rbx_prekeys_new(&p, other, sk), RBX_E_KEY);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(rbx_prekeys_new(&p, pk, sk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(p, 1, osk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(p, 1, NULL), RBX_E_INVALID);
    ck_assert_int_eq(rbx_prekeys_add_onetime(p, 5, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_add_onetime(p, 5, NULL), RBX_E_INVALID);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(p), 1);
    ck_assert_int_eq(rbx_prekeys_remove_onetime(p, 5), 0);
    ck_assert_int_eq(rbx_prekeys_remove_onetime(p, 5), RBX_E_UNKNOWN_PREKEY);
    ck_assert_int_eq(rbx_prekeys_remove_signed(p, 1), 0);
    ck_assert_int_eq(rbx_prekeys_remove_signed(p, 1), RBX_E_UNKNOWN_PREKEY);
    rbx_prekeys_free(p);
    rbx_prekeys_free(NULL);
    rbx_session_free(NULL);
}
END_TEST

START_TEST(responder_refusals)
{
    party alice, bob, mallory;
    party_new(&alice, 0);
    party_new(&bob, 2);
    party_new(&mallory, 0);
    rbx_bundle b;
    bundle_of(&b, &bob, 1);
    tu_msg m;
    rbx_session *a = first_message(&m, &alice, &b, NULL), *s = NULL;
    uint32_t used;

    /* Tampered first message: AUTH, and nothing consumed. */
    m.wire[m.len - 1] ^= 1;
    ck_assert_int_eq(accept(&s, &bob, NULL, &m, &used), RBX_E_AUTH);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(bob.pre), 2);
    m.wire[m.len - 1] ^= 1;

    /* Identity pinned to someone else: refused after authentication, with a
     * distinct code, and the one-time prekey is still there. */
    ck_assert_int_eq(accept(&s, &bob, mallory.pk, &m, &used), RBX_E_IDENTITY_CHANGED);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(bob.pre), 2);
    /* A forger claiming a pinned identity gets AUTH, not IDENTITY_CHANGED. */
    tu_msg forged;
    rbx_session *f = first_message(&forged, &mallory, &b, NULL);
    memcpy(forged.wire + 4, alice.pk, 32); /* claim to be Alice */
    ck_assert_int_eq(accept(&s, &bob, alice.pk, &forged, &used), RBX_E_AUTH);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(bob.pre), 2);
    free(forged.wire);
    rbx_session_free(f);

    /* Accepted with the right pin; the one-time prekey is consumed. */
    ck_assert_int_eq(accept(&s, &bob, alice.pk, &m, &used), 0);
    ck_assert_uint_eq(used, 1000);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(bob.pre), 1);
    rbx_session_free(s);
    s = NULL;
    /* The same one-time prekey a second time: refused as reuse. */
    ck_assert_int_eq(accept(&s, &bob, alice.pk, &m, &used), RBX_E_PREKEY_REUSED);
    tu_msg m2;
    rbx_session *a2 = first_message(&m2, &alice, &b, NULL);
    ck_assert_int_eq(accept(&s, &bob, NULL, &m2, &used), RBX_E_PREKEY_REUSED);
    free(m2.wire);
    rbx_session_free(a2);

    /* Unknown signed prekey id and unknown one-time prekey id. */
    rbx_bundle b2 = b;
    b2.signed_prekey_id = 8; /* Alice does not check: bundle_parse did */
    a2 = first_message(&m2, &alice, &b2, NULL);
    ck_assert_int_eq(accept(&s, &bob, NULL, &m2, &used), RBX_E_UNKNOWN_PREKEY);
    free(m2.wire);
    rbx_session_free(a2);
    b2 = b;
    b2.onetime_prekey_id = 5555;
    a2 = first_message(&m2, &alice, &b2, NULL);
    ck_assert_int_eq(accept(&s, &bob, NULL, &m2, &used), RBX_E_UNKNOWN_PREKEY);
    free(m2.wire);
    rbx_session_free(a2);

    /* Low-order base key or identity key in the first message. */
    bundle_of(&b, &bob, 1);
    a2 = first_message(&m2, &alice, &b, NULL);
    uint8_t saved[32];
    memcpy(saved, m2.wire + 38, 32);
    memset(m2.wire + 38, 0, 32);
    ck_assert_int_eq(accept(&s, &bob, NULL, &m2, &used), RBX_E_KEY);
    memcpy(m2.wire + 38, saved, 32);
    memset(m2.wire + 4, 0, 32);
    m2.wire[4] = 1;
    ck_assert_int_eq(accept(&s, &bob, NULL, &m2, &used), RBX_E_KEY);
    ck_assert_uint_eq(rbx_prekeys_onetime_count(bob.pre), 1);
    free(m2.wire);
    rbx_session_free(a2);

    /* A PreKeyMessage of another session is not decrypted by this one. */
    bundle_of(&b, &bob, 1);
    a2 = first_message(&m2, &alice, &b, NULL);
    ck_assert_int_eq(accept(&s, &bob, NULL, &m2, &used), 0);
    tu_msg m3;
    rbx_session *a3 = first_message(&m3, &alice, &b, NULL); /* reuses 1001: fine for a test */
    size_t blen;
    uint8_t *before = tu_blob(s, &blen);
    ck_assert_int_eq(tu_recv(s, &m3, NULL, 0), RBX_E_STATE);
    tu_assert_state(s, before, blen);
    /* And the initiator does not take PreKeyMessages at all. */
    ck_assert_int_eq(tu_recv(a2, &m3, NULL, 0), RBX_E_STATE);
    free(before);
    free(m3.wire);
    free(m2.wire);
    free(m.wire);
    rbx_session_free(a3);
    rbx_session_free(a2);
    rbx_session_free(s);
    rbx_session_free(a);
    rbx_prekeys_free(alice.pre);
    rbx_prekeys_free(bob.pre);
    rbx_prekeys_free(mallory.pre);
}
END_TEST

START_TEST(bad_options)
{
    party alice, bob;
    party_new(&alice, 0);
    party_new(&bob, 0);
    rbx_bundle b;
    bundle_of(&b, &bob, 0);
    rbx_session *s = (rbx_session *)1;
    rbx_session_opts o = { 3, 0 };
    ck_assert_int_eq(rbx_session_initiate(&s, alice.pk, alice.sk, &b, &o), RBX_E_INVALID);
    ck_assert_ptr_null(s);
    o.profile = UINT32_MAX;
    ck_assert_int_eq(rbx_session_initiate(&s, alice.pk, alice.sk, &b, &o), RBX_E_INVALID);
    ck_assert_ptr_null(s);
    o.profile = 0;
    o.header_encryption = 2;
    ck_assert_int_eq(rbx_session_initiate(&s, alice.pk, alice.sk, &b, &o), RBX_E_INVALID);
    /* A hand-made bundle with a low-order key is refused at the DH. */
    memset(b.signed_prekey, 0, 32);
    ck_assert_int_eq(rbx_session_initiate(&s, alice.pk, alice.sk, &b, NULL), RBX_E_KEY);
    ck_assert_ptr_null(s);
    rbx_prekeys_free(alice.pre);
    rbx_prekeys_free(bob.pre);
}
END_TEST

/* PROTOCOL.md 9.3: a first message of version 2 that carries 8 rotation
 * records (6.4) and a 1 MiB plaintext is longer than RBX_MAX_WIRE. It is
 * still told apart as a PreKeyMessage (by rbx_message_prekey_info and by
 * session decrypt), accepted, and a second delivery to the session is a
 * replay, not RBX_E_TOO_BIG; one byte more than RBX_MAX_PREKEY_WIRE is. */
START_TEST(first_message_above_max_wire)
{
    party alice, bob;
    uint8_t pk[9][32], sk[9][32], rec[8][RBX_ROTATION_MAXBYTES], *pt = malloc(RBX_MAX_PLAINTEXT);
    const uint8_t *recs[8];
    size_t lens[8];
    rbx_rotation r;
    rbx_bundle b;
    rbx_session *a, *bs;
    tu_msg m;
    ck_assert_ptr_nonnull(pt);
    memset(pt, 0x61, RBX_MAX_PLAINTEXT);
    for (int i = 0; i < 9; i++) ck_assert_int_eq(rbx_keypair_generate(pk[i], sk[i]), 0);
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 8; i++) {
        r.sequence = (uint64_t)i + 1;
        memcpy(r.old_identity, pk[i], 32);
        memcpy(r.new_identity, pk[i + 1], 32);
        r.created = 1700000000U + (uint64_t)i;
        r.old_valid_until = r.created + 86400U;
        memset(r.reason, 0, sizeof r.reason);
        memset(r.reason, 'x', RBX_REASON_MAX - 1); /* the longest reason: 63 bytes */
        if (i > 0) rbx_rotation_hash(r.previous_hash, rec[i - 1], lens[i - 1]);
        ck_assert_int_eq(rbx_rotation_sign(rec[i], sizeof rec[i], &lens[i], &r, sk[i], sk[i + 1]), 0);
        recs[i] = rec[i];
    }
    memcpy(alice.pk, pk[8], 32);
    memcpy(alice.sk, sk[8], 32);
    party_new(&bob, 1);
    bundle_of(&b, &bob, 1);
    rbx_session_opts o = { RBX_PROFILE_FAST, 0 };
    ck_assert_int_eq(rbx_session_initiate(&a, alice.pk, alice.sk, &b, &o), 0);
    ck_assert_int_eq(rbx_session_set_chain(a, recs, lens, 8, NULL, 0), 0);
    tu_send(&m, a, pt, RBX_MAX_PLAINTEXT);
    ck_assert_uint_gt(m.len, RBX_MAX_WIRE);
    ck_assert_uint_le(m.len, RBX_MAX_PREKEY_WIRE);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, m.wire, m.len), 1);
    uint8_t *out = malloc(m.len);
    size_t outlen;
    uint32_t used;
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(rbx_session_accept(&bs, out, m.len, &outlen, &used, bob.pre, NULL, m.wire,
                                        m.len),
                     0);
    ck_assert_uint_eq(outlen, RBX_MAX_PLAINTEXT);
    ck_assert_mem_eq(out, pt, RBX_MAX_PLAINTEXT);
    ck_assert_int_eq(rbx_session_decrypt(bs, out, m.len, &outlen, m.wire, m.len), RBX_E_REPLAY);
    uint8_t *big = calloc(1, RBX_MAX_PREKEY_WIRE + 1);
    ck_assert_ptr_nonnull(big);
    memcpy(big, m.wire, m.len);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, big, RBX_MAX_PREKEY_WIRE + 1), RBX_E_TOO_BIG);
    ck_assert_int_eq(rbx_session_decrypt(bs, out, m.len, &outlen, big, RBX_MAX_PREKEY_WIRE + 1),
                     RBX_E_TOO_BIG);
    free(big);
    free(out);
    free(m.wire);
    free(pt);
    rbx_session_free(a);
    rbx_session_free(bs);
    rbx_prekeys_free(bob.pre);
    sodium_memzero(sk, sizeof sk);
}
END_TEST

Suite *suite_x3dh(void)
{
    Suite *s = suite_create("x3dh");
    TCase *tc = tcase_create("x3dh");
    tcase_add_loop_test(tc, handshake_variants, 0, 12);
    tcase_add_test(tc, bundle_refusals);
    tcase_add_test(tc, prekeys_misuse);
    tcase_add_test(tc, responder_refusals);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, first_message_above_max_wire);
    suite_add_tcase(s, tc);
    return s;
}
