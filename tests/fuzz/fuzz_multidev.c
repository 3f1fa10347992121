/* SPDX-License-Identifier: MIT
 * Users with several devices (PROTOCOL.md section 21). Byte 0 selects (mod 4):
 *   0 the content of a message to a user (rbx__content_parse) of the rest;
 *   1 a sealed link request (rbx_link_request_open) under the fixed secret;
 *   2 a sealed link approval (rbx_link_approval_open) under the fixed secret;
 *   3 a link code (rbx_link_code_parse) of the rest as a string.
 * A refusal leaves the outputs zeroed. An accepted content re-encodes to
 * exactly the input (its header, then its body); an accepted slot's fields
 * are in range and seal again to a slot that opens to the same fields; an
 * accepted code formats to a code that parses to the same secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "fuzz.h"

enum { M_CONTENT = 0, M_REQUEST = 1, M_APPROVAL = 2, M_CODE = 3 };

static uint8_t secret[RBX_LINK_SECRETBYTES];
static uint8_t new_pk[32], new_sk[32], app_pk[32], app_sk[32];

void fz_setup(void)
{
    for (unsigned i = 0; i < sizeof secret; i++) secret[i] = (uint8_t)(3 * i + 1);
    fz_keypair(new_pk, new_sk, "new-device");
    fz_keypair(app_pk, app_sk, "approving-device");
}

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static void check_content(const uint8_t *in, size_t n)
{
    rbx__content c;
    int rc = rbx__content_parse(&c, in, n);
    fz_debug("content: %d", rc);
    if (rc != 0) {
        FZ_CHECK(all_zero(&c, sizeof c));
        return;
    }
    uint8_t hdr[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U];
    size_t h = rbx__content_header(hdr, &c);
    FZ_CHECK(h > 0 && h <= n);
    FZ_CHECK(memcmp(hdr, in, h) == 0);
    if (c.type == RBX_CONTENT_RETRY) {
        FZ_CHECK(h == n && c.nids >= 1 && c.nids <= RBX_RETRY_MAX_IDS && c.body == NULL);
    } else {
        FZ_CHECK(c.body == in + h && c.bodylen == n - h && c.bodylen <= RBX_MAX_PLAINTEXT);
        if (c.type == RBX_CONTENT_SYNC) FZ_CHECK(rbx_user_id_ok(c.to));
    }
}

static void check_request(const uint8_t *in, size_t n)
{
    uint8_t pk[32], slot[RBX_LINK_SLOT_MAXBYTES];
    size_t sl;
    int rc = rbx_link_request_open(pk, secret, in, n);
    fz_debug("request: %d", rc);
    if (rc != 0) {
        FZ_CHECK(all_zero(pk, 32));
        return;
    }
    FZ_CHECK(rbx_link_request_seal(slot, sizeof slot, &sl, secret, pk) == 0);
    uint8_t again[32];
    FZ_CHECK(rbx_link_request_open(again, secret, slot, sl) == 0 && memcmp(again, pk, 32) == 0);
}

static void check_approval(const uint8_t *in, size_t n)
{
    rbx_devlist_entry e, f;
    uint8_t sig[64], sig2[64], slot[RBX_LINK_SLOT_MAXBYTES];
    size_t sl;
    int rc = rbx_link_approval_open(&e, sig, secret, in, n);
    fz_debug("approval: %d", rc);
    if (rc != 0) {
        FZ_CHECK(all_zero(&e, sizeof e) && all_zero(sig, 64));
        return;
    }
    FZ_CHECK(rbx_user_id_ok(e.user) && e.seq >= 2 && e.op == RBX_DEVLIST_ADD &&
             e.signer_kind == RBX_SIGNER_DEVICE && e.device >= 1 && e.device <= RBX_DEVICE_ID_MAX);
    FZ_CHECK(rbx_link_approval_seal(slot, sizeof slot, &sl, secret, &e, sig) == 0);
    FZ_CHECK(rbx_link_approval_open(&f, sig2, secret, slot, sl) == 0);
    FZ_CHECK(memcmp(&e, &f, sizeof e) == 0 && memcmp(sig, sig2, 64) == 0);
    /* A signature the signer never made is never cosigned. */
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t el;
    rc = rbx_devlist_entry_cosign(ent, sizeof ent, &el, &e, sig, new_sk);
    FZ_CHECK(rc != 0 || (memcmp(e.identity, new_pk, 32) == 0 && el > 0));
}

static void check_code(const uint8_t *in, size_t n)
{
    char text[128];
    if (n >= sizeof text) n = sizeof text - 1;
    memcpy(text, in, n);
    text[n] = '\0';
    uint8_t s[RBX_LINK_SECRETBYTES], t[RBX_LINK_SECRETBYTES];
    int rc = rbx_link_code_parse(s, text);
    fz_debug("code: %d", rc);
    if (rc != 0) {
        FZ_CHECK(all_zero(s, sizeof s));
        return;
    }
    char code[RBX_LINK_CODEBYTES];
    rbx_link_code_format(code, s);
    FZ_CHECK(rbx_link_code_parse(t, code) == 0 && memcmp(s, t, sizeof s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fz_rng_seed("multidev", data, size);
    switch (data[0] % 4) {
    case M_CONTENT: check_content(data + 1, size - 1); break;
    case M_REQUEST: check_request(data + 1, size - 1); break;
    case M_APPROVAL: check_approval(data + 1, size - 1); break;
    default: check_code(data + 1, size - 1); break;
    }
    return 0;
}

void fz_gen(void)
{
    uint8_t hdr[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U], buf[512], ids[32];
    rbx__content c = { 0 };
    memset(ids, 7, sizeof ids);
    c.type = RBX_CONTENT_MESSAGE;
    size_t h = rbx__content_header(hdr, &c);
    memcpy(buf, hdr, h);
    memcpy(buf + h, "hello", 5);
    fz_gen_write2("gen-content-message", M_CONTENT, buf, h + 5);
    c.type = RBX_CONTENT_SYNC;
    c.flags = RBX_CONTENT_RESENT;
    snprintf(c.to, sizeof c.to, "bob@example.org");
    h = rbx__content_header(hdr, &c);
    fz_gen_write2("gen-content-sync", M_CONTENT, hdr, h);
    c.type = RBX_CONTENT_RETRY;
    c.flags = 0;
    c.nids = 2;
    c.ids = ids;
    h = rbx__content_header(hdr, &c);
    fz_gen_write2("gen-content-retry", M_CONTENT, hdr, h);
    size_t n;
    if (rbx_link_request_seal(buf, sizeof buf, &n, secret, new_pk) == 0)
        fz_gen_write2("gen-request", M_REQUEST, buf, n);
    rbx_devlist_entry e = { 0 };
    snprintf(e.user, sizeof e.user, "alice");
    e.seq = 2;
    e.op = RBX_DEVLIST_ADD;
    e.device = rbx_device_id(new_pk);
    memcpy(e.identity, new_pk, 32);
    e.created = 1800000000;
    e.signer_kind = RBX_SIGNER_DEVICE;
    memcpy(e.signer, app_pk, 32);
    uint8_t sig[64];
    if (rbx_devlist_entry_signature(sig, &e, app_sk) == 0 &&
        rbx_link_approval_seal(buf, sizeof buf, &n, secret, &e, sig) == 0)
        fz_gen_write2("gen-approval", M_APPROVAL, buf, n);
    char code[RBX_LINK_CODEBYTES];
    rbx_link_code_format(code, secret);
    fz_gen_write2("gen-code", M_CODE, (const uint8_t *)code, strlen(code));
}
