/* SPDX-License-Identifier: MIT
 * rbxd's request parsers (spec/SERVER.md 3.1, 4-7) on outside bytes: the
 * Authorization header, the request target (path and query) and every
 * endpoint's JSON body. Byte 0 picks the parser:
 *   0        auth_parse on the rest;
 *   1        api_route_parse: byte 1 picks the method (GET, PUT, POST,
 *            DELETE), the rest is the target (a NUL ends it);
 *   2 ...    api_body_parse for endpoint byte 0 - 2 (mod the endpoint
 *            count) on the rest, under small limits so that every limit is
 *            reachable.
 * Checks: a refusal leaves its output zeroed or empty and says 4xx (or 500
 * only for out of memory); an accepted header re-serialises to a header
 * that parses to the same values; an accepted route has a valid user id and
 * device id where it names them; an accepted body holds only values within
 * the limits, and decoded sizes that match the request. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "fuzz.h"

static rbxd_config cfg;

void fz_setup(void)
{
    config_defaults(&cfg);
    cfg.max_body = 64 * 1024;
    cfg.max_envelope = 300;
    cfg.max_envelopes = 4;
    cfg.max_prekey_batch = 5;
    cfg.fetch_max = 6;
}

static void gen_body(const char *name, unsigned ep, const char *json)
{
    size_t n = strlen(json);
    uint8_t buf[4096];
    FZ_CHECK(n + 1 <= sizeof buf);
    buf[0] = (uint8_t)(2 + ep);
    memcpy(buf + 1, json, n);
    fz_gen_write(name, buf, n + 1);
}

void fz_gen(void)
{
    static const char hdr[] =
        "\x00RBX-Sig user=\"alice\", device=12345, ts=1700000000, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", "
        "sig=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\"";
    fz_gen_write("gen-auth", (const uint8_t *)hdr, sizeof hdr - 1);
    static const char *const targets[] = {
        "/healthz", "/metrics", "/v1/messages", "/v1/users/alice/devices", "/v1/users/alice/devicelist?since=3",
        "/v1/users/alice/bundles", "/v1/users/alice/devices/77/keys",
        "/v1/users/alice/devices/77/mailbox?after=5&limit=10&wait=30",
        "/v1/users/alice/devices/77/mailbox/ack",
    };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        uint8_t buf[256];
        size_t n = strlen(targets[i]);
        buf[0] = 1;
        buf[1] = (uint8_t)(i % 3);
        memcpy(buf + 2, targets[i], n);
        char name[32];
        snprintf(name, sizeof name, "gen-route-%zu", i);
        fz_gen_write(name, buf, n + 2);
    }
    gen_body("gen-enroll", EP_ENROLL,
             "{\"entry\":\"AAAA\",\"registration_id\":7,\"bundle\":\"AAAA\",\"one_time\":[{\"id\":1,"
             "\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}],\"certificate\":\"AAAA\"}");
    gen_body("gen-append", EP_DEVLIST_APPEND, "{\"entry\":\"AAAA\",\"bundle\":\"AAAA\"}");
    gen_body("gen-keys", EP_KEYS_PUT,
             "{\"bundle\":\"AAAA\",\"one_time\":[{\"id\":1,\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"},"
             "{\"id\":2,\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}]}");
    gen_body("gen-bundles", EP_BUNDLES, "{\"devices\":[1,2,3]}");
    gen_body("gen-send", EP_SEND,
             "{\"message_id\":\"AAECAwQFBgcICQoLDA0ODw==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"bob\","
             "\"device\":5,\"registration_id\":9,\"body\":\"aGVsbG8=\"},{\"user\":\"alice\",\"device\":6,"
             "\"registration_id\":10,\"body\":\"aGk=\"}]}");
    gen_body("gen-ack", EP_ACK, "{\"ids\":[1,2,9007199254740991]}");
}

static void check_auth(const uint8_t *data, size_t size)
{
    auth_hdr h;
    int rc = auth_parse(&h, (const char *)data, size);
    fz_debug("auth: %d", rc);
    if (rc != 0) {
        static const auth_hdr zero;
        FZ_CHECK(memcmp(&h, &zero, sizeof h) == 0);
        return;
    }
    FZ_CHECK(rbx_user_id_ok(h.user));
    FZ_CHECK(h.device >= 1 && h.device <= RBX_DEVICE_ID_MAX);
    FZ_CHECK(h.ts <= (uint64_t)INT64_MAX);
    /* The canonical form parses to the same values. */
    char nb[32], sb[100], out[600];
    sodium_bin2base64(nb, sizeof nb, h.nonce, sizeof h.nonce, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sb, sizeof sb, h.sig, sizeof h.sig, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(out, sizeof out, "RBX-Sig sig=\"%s\", ts=%llu, nonce=\"%s\", device=%u, user=\"%s\"", sb,
                     (unsigned long long)h.ts, nb, h.device, h.user);
    FZ_CHECK(n > 0 && (size_t)n < sizeof out);
    auth_hdr g;
    FZ_CHECK(auth_parse(&g, out, (size_t)n) == 0);
    FZ_CHECK(memcmp(&g, &h, sizeof g) == 0);
}

static void check_route(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "PUT", "POST", "DELETE"};
    if (size < 1) return;
    const char *method = methods[data[0] % 4];
    char target[2048];
    size_t n = size - 1 < sizeof target - 1 ? size - 1 : sizeof target - 1;
    memcpy(target, data + 1, n);
    target[n] = '\0';
    api_route r;
    api_error e;
    const char *allow;
    int rc = api_route_parse(method, target, &r, &e, &allow);
    fz_debug("route: %d %d", rc, e.status);
    if (rc != 0) {
        FZ_CHECK(e.status == 400 || e.status == 404 || e.status == 405);
        FZ_CHECK(e.code != NULL && e.message[sizeof e.message - 1] == '\0');
        FZ_CHECK((e.status == 405) == (allow != NULL));
        return;
    }
    FZ_CHECK(r.ep > EP_UNKNOWN && r.ep < EP_COUNT_);
    FZ_CHECK(target[0] == '/');
    if (r.ep != EP_HEALTHZ && r.ep != EP_METRICS && r.ep != EP_SEND) FZ_CHECK(rbx_user_id_ok(r.user));
    if (r.ep == EP_KEYS_GET || r.ep == EP_KEYS_PUT || r.ep == EP_MAILBOX || r.ep == EP_ACK)
        FZ_CHECK(r.device >= 1 && r.device <= RBX_DEVICE_ID_MAX);
    if (r.has_after) FZ_CHECK(r.after >= 0 && r.ep == EP_MAILBOX);
    if (r.has_since) FZ_CHECK(r.ep == EP_DEVLIST_GET);
    if (r.has_limit) FZ_CHECK(r.limit >= 1);
}

static void check_body(unsigned ep, const uint8_t *data, size_t size)
{
    api_body b;
    api_error e;
    int rc = api_body_parse((api_endpoint)ep, data, size, &cfg, &b, &e);
    fz_debug("body %u: %d %d", ep, rc, e.status);
    if (rc != 0) {
        static const api_body zero;
        FZ_CHECK(memcmp(&b, &zero, sizeof b) == 0);
        FZ_CHECK(e.status == 400 || e.status == 404 || e.status == 413 || e.status == 500);
        return;
    }
    FZ_CHECK(b.entry_len <= RBX_DEVLIST_ENTRY_MAXBYTES && b.bundle_len <= RBX_BUNDLE_MAXBYTES &&
             b.cert_len <= RBX_CERT_MAXBYTES);
    FZ_CHECK((b.entry == NULL) == (b.entry_len == 0));
    FZ_CHECK(b.notks <= cfg.max_prekey_batch);
    for (size_t i = 0; i < b.notks; i++) {
        FZ_CHECK(b.otks[i].id >= 1 && b.otks[i].id < UINT32_MAX);
        if (i > 0) FZ_CHECK(b.otks[i].id > b.otks[i - 1].id);
    }
    FZ_CHECK(b.ndevices <= RBX_DEVLIST_MAX_DEVICES);
    for (size_t i = 0; i < b.ndevices; i++) FZ_CHECK(b.devices[i] >= 1 && b.devices[i] <= RBX_DEVICE_ID_MAX);
    FZ_CHECK(b.nenv <= cfg.max_envelopes);
    for (size_t i = 0; i < b.nenv; i++) {
        FZ_CHECK(rbx_user_id_ok(b.env[i].user));
        FZ_CHECK(b.env[i].len >= 1 && b.env[i].len <= cfg.max_envelope);
        FZ_CHECK(b.env[i].device >= 1 && b.env[i].registration_id >= 1);
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(b.env[j].device != b.env[i].device || strcmp(b.env[j].user, b.env[i].user) != 0);
    }
    if (ep == EP_SEND) FZ_CHECK(b.nenv >= 1 && rbx_user_id_ok(b.to));
    if (ep == EP_ENROLL) FZ_CHECK(b.has_regid && b.registration_id >= 1 && b.bundle != NULL);
    if (ep == EP_DEVLIST_APPEND) FZ_CHECK(b.entry != NULL);
    if (ep == EP_KEYS_PUT) FZ_CHECK(b.bundle != NULL || b.has_otks);
    if (ep == EP_ACK) FZ_CHECK(b.nids >= 1 && b.nids <= cfg.fetch_max);
    for (size_t i = 0; i < b.nids; i++) FZ_CHECK(b.ids[i] >= 1);
    if (ep == EP_HEALTHZ || ep == EP_METRICS || ep == EP_DEVLIST_GET || ep == EP_KEYS_GET ||
        ep == EP_MAILBOX)
        FZ_CHECK(size == 0);
    api_body_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] == 0) check_auth(data + 1, size - 1);
    else if (data[0] == 1) check_route(data + 1, size - 1);
    else check_body((unsigned)(data[0] - 2) % EP_COUNT_, data + 1, size - 1);
    return 0;
}
