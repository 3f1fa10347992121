/* SPDX-License-Identifier: MIT
 * A first message (PreKeyMessage) from outside: rbx_message_prekey_info and
 * rbx_session_accept against a fixed responder (tests/fuzz/fuzz.h). On error
 * the prekeys are unchanged; on success the message was a PreKeyMessage, the
 * session round-trips through its blob and can reply. Every PreKeyMessage is
 * first tried with another pinned identity, which must refuse it
 * (RBX_E_IDENTITY_CHANGED if it authenticates) and consume nothing. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static rbx_prekeys *prekeys;
static uint8_t other_identity[32];

static void gen_vec(const char *name, const uint8_t *p, size_t n, void *ctx)
{
    (void)ctx;
    fz_gen_write(name, p, n);
}

static void gen_one(const char *name, unsigned profile, int he, uint32_t opk, size_t ptlen)
{
    uint8_t apk[32], ask[32], bundle[RBX_BUNDLE_MAXBYTES], wire[512], pt[128];
    size_t blen, wlen;
    rbx_bundle b;
    rbx_session *a = NULL;
    rbx_session_opts opts = { profile, he };
    memset(pt, 'p', sizeof pt);
    fz_keypair(apk, ask, "alice-identity");
    FZ_CHECK(rbx_prekeys_bundle(bundle, sizeof bundle, &blen, prekeys, FZ_SPK_ID, opk) == 0);
    FZ_CHECK(rbx_bundle_parse(&b, bundle, blen) == 0);
    FZ_CHECK(rbx_session_initiate(&a, apk, ask, &b, &opts) == 0);
    FZ_CHECK(rbx_session_encrypt(a, wire, sizeof wire, &wlen, pt, ptlen) == 0);
    fz_gen_write(name, wire, wlen);
    rbx_session_free(a);
}

void fz_gen(void)
{
    fz_rng_seed("gen", NULL, 0);
    gen_one("gen-default-opk", RBX_PROFILE_DEFAULT, 0, FZ_OPK_FIRST, 5);
    gen_one("gen-default-noopk", RBX_PROFILE_DEFAULT, 0, RBX_NO_PREKEY, 0);
    gen_one("gen-he-opk", RBX_PROFILE_DEFAULT, 1, FZ_OPK_FIRST + 1, 17);
    gen_one("gen-signal-opk", RBX_PROFILE_SIGNAL, 0, FZ_OPK_FIRST + 2, 64);
    gen_one("gen-signal-he-noopk", RBX_PROFILE_SIGNAL, 1, RBX_NO_PREKEY, 1);
    gen_one("gen-hmac-opk", RBX_PROFILE_HMAC, 0, FZ_OPK_FIRST, 9);
    gen_one("gen-hmac-he-noopk", RBX_PROFILE_HMAC, 1, RBX_NO_PREKEY, 40);
    fz_vectors("conversation.txt", "wire", gen_vec, NULL);
    fz_vectors("fast-conversation.txt", "wire", gen_vec, NULL);
}

void fz_setup(void)
{
    prekeys = fz_prekeys();
    uint8_t sk[32];
    fz_keypair(other_identity, sk, "mallory-identity");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rbx_prekey_info info;
    rbx_session *s = NULL;
    uint32_t used = 0;
    size_t ptlen = 1;
    size_t ptcap = size; /* the documented bound: ptcap >= len suffices */
    uint8_t *pt = malloc(ptcap + 1);
    FZ_CHECK(pt != NULL);

    fz_rng_seed("prekey-message", data, size);
    int kind = rbx_message_prekey_info(&info, data, size);
    FZ_CHECK(kind == 0 || kind == 1 || (kind < 0 && kind > -RBX_E_COUNT_));
    FZ_CHECK(rbx_message_prekey_info(NULL, data, size) == kind);

    size_t before = rbx_prekeys_onetime_count(prekeys);
    /* First with a pinned identity that is not the sender's: refused after
     * authentication (RBX_E_IDENTITY_CHANGED) or before, never accepted, and
     * nothing consumed. */
    int pinned_rc = 0;
    if (kind == 1) {
        pinned_rc = rbx_session_accept(&s, pt, ptcap, &ptlen, &used, prekeys, other_identity,
                                       data, size);
        FZ_CHECK(pinned_rc != 0 || memcmp(info.initiator_identity, other_identity, 32) == 0);
        if (pinned_rc != 0) {
            FZ_CHECK(s == NULL && ptlen == 0 && used == UINT32_MAX);
            FZ_CHECK(rbx_prekeys_onetime_count(prekeys) == before);
        } else {
            rbx_session_free(s); /* the fuzzer chose other_identity as sender */
            s = NULL;
            rbx_prekeys_free(prekeys);
            prekeys = fz_prekeys();
            before = rbx_prekeys_onetime_count(prekeys);
        }
    }
    int rc = rbx_session_accept(&s, pt, ptcap, &ptlen, &used, prekeys, NULL, data, size);
    fz_debug("prekey_info: %d, accept pinned to another: %s, accept: %s", kind,
             kind == 1 ? rbx_strerror(pinned_rc) : "-", rbx_strerror(rc));
    if (rc != 0) {
        FZ_CHECK(s == NULL && ptlen == 0 && used == UINT32_MAX);
        FZ_CHECK(rbx_prekeys_onetime_count(prekeys) == before);
    } else {
        FZ_CHECK(s != NULL && kind == 1);
        FZ_CHECK(pinned_rc == RBX_E_IDENTITY_CHANGED);
        FZ_CHECK(ptlen <= size);
        if (info.has_onetime) {
            FZ_CHECK(used == info.onetime_prekey_id);
            FZ_CHECK(rbx_prekeys_onetime_count(prekeys) == before - 1);
        } else {
            FZ_CHECK(used == UINT32_MAX);
        }
        rbx_session_info si;
        rbx_session_get_info(&si, s);
        FZ_CHECK(memcmp(si.peer_identity, info.initiator_identity, 32) == 0);
        fz_blob b1 = fz_save(s);
        rbx_session *c = fz_load(&b1);
        fz_blob b2 = fz_save(c);
        FZ_CHECK(fz_blob_eq(&b1, &b2));
        /* The same message again is another session's business no more. */
        uint8_t reply[256];
        size_t rlen;
        FZ_CHECK(rbx_session_encrypt(c, reply, sizeof reply, &rlen, (const uint8_t *)"ok", 2) == 0);
        free(b1.p);
        free(b2.p);
        rbx_session_free(c);
        rbx_session_free(s);
        /* A consumed one-time prekey: start the next input from the fixed set. */
        if (used != UINT32_MAX) {
            rbx_prekeys_free(prekeys);
            prekeys = fz_prekeys();
        }
    }
    free(pt);
    return 0;
}
