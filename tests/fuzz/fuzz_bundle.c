/* SPDX-License-Identifier: MIT
 * rbx_bundle_parse on outside bytes. A refused bundle leaves the output
 * zeroed; an accepted one must re-encode to the same bytes (PROTOCOL.md 9.1
 * canonical form) and carry no reserved one-time prekey id. */
#include <string.h>

#include "fuzz.h"
#include "rotation.h"
#include "session.h"

static void gen_vec(const char *name, const uint8_t *p, size_t n, void *ctx)
{
    (void)ctx;
    fz_gen_write(name, p, n);
}

void fz_gen(void)
{
    uint8_t out[RBX_BUNDLE_MAXBYTES];
    size_t n;
    rbx_prekeys *pk = fz_prekeys();
    FZ_CHECK(rbx_prekeys_bundle(out, sizeof out, &n, pk, FZ_SPK_ID, FZ_OPK_FIRST) == 0);
    fz_gen_write("gen-with-onetime", out, n);
    FZ_CHECK(rbx_prekeys_bundle(out, sizeof out, &n, pk, FZ_SPK_ID, RBX_NO_PREKEY) == 0);
    fz_gen_write("gen-no-onetime", out, n);
    rbx_prekeys_free(pk);
    fz_vectors("conversation.txt", "bundle", gen_vec, NULL);
    fz_vectors("header-encryption.txt", "bundle", gen_vec, NULL);
}

void fz_setup(void) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rbx_bundle b;
    uint8_t again[RBX_BUNDLE_MAXBYTES];
    size_t n = 0;
    int rc = rbx_bundle_parse(&b, data, size);
    fz_debug("bundle: %s", rbx_strerror(rc));
    if (rc != 0) {
        static const rbx_bundle zero;
        FZ_CHECK(memcmp(&b, &zero, sizeof b) == 0);
        return 0;
    }
    /* RBX_NO_PREKEY means "none": never a real one-time prekey id. */
    FZ_CHECK(!b.has_onetime || b.onetime_prekey_id != RBX_NO_PREKEY);
    FZ_CHECK(b.chain_len <= RBX_CHAIN_MAX);
    /* Records and certificates are not in rbx_bundle (fuzz_rotation covers
     * them); the rest must re-encode exactly. */
    if (b.chain_len > 0 || b.has_certificate) return 0;
    FZ_CHECK(rbx__bundle_encode_ext(again, sizeof again, &n, b.identity, b.signed_prekey_id,
                                    b.signed_prekey, b.signature, b.signed_prekey_created,
                                    b.has_onetime ? b.onetime_prekey_id : RBX_NO_PREKEY,
                                    b.has_onetime ? b.onetime_prekey : NULL, NULL, NULL, 0, NULL,
                                    0) == 0);
    FZ_CHECK(n == size && memcmp(again, data, size) == 0);
    return 0;
}
