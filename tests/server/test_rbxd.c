/* SPDX-License-Identifier: MIT
 * The rbxd suite (spec/SERVER.md): every endpoint over HTTP against a real
 * rbxd process, on the backend the environment names (SQLite by default;
 * RBXD_TEST_PG: a throwaway PostgreSQL started by tests/server/run.sh).
 * Time is the server's injected test clock, never the wall clock; waits
 * wait for events (a response, a ready file), never assert durations. */
#define _DEFAULT_SOURCE 1 /* usleep, strncasecmp, prctl */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "auth.h"
#include "commitq.h"
#include "db.h"
#include "metrics.h"
#include "rbxc.h"

#define T0 1700000000LL

static rbxc_server S;
static rbxc_conn C;
static char DIR_[512];
static char DB[1024];

static double t_up;

static void up(const char *const *extra)
{
    t_up = metrics_now();
    rbxc_tmpdir(DIR_, sizeof DIR_, "test");
    rbxc_clock_set(DIR_, T0);
    rbxc_db_fresh(DB, sizeof DB, DIR_);
    ck_assert_msg(rbxc_server_start(&S, DIR_, DB, extra) == 0, "rbxd did not start (log in %s)", DIR_);
    rbxc_conn_init(&C, &S, DIR_);
}

static void down(void)
{
    rbxc_conn_free(&C);
    int st = rbxc_server_stop(&S);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rbxd did not exit cleanly (log in %s)", DIR_);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    ck_assert_int_eq(system(cmd), 0);
    if (getenv("RBXD_TEST_TIMES")) fprintf(stderr, "rbxd test: %.2f s\n", metrics_now() - t_up);
}

static const char *err_code(const rbxc_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    return json_is_string(e) ? json_string_value(e) : "";
}

#define EXPECT(r, st, code)                                                                       \
    do {                                                                                          \
        ck_assert_msg((r).status == (st), "status %ld, expected %d: %s", (r).status, (st),        \
                      (r).body ? (r).body : "(none)");                                            \
        if ((code) != NULL) ck_assert_str_eq(err_code(&(r)), (code) ? (code) : "");               \
    } while (0)

static json_int_t jint(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_integer(v), "no integer '%s'", k);
    return json_integer_value(v);
}

/* One request, asserted status and error code, response freed. */
static void call_expect(const rbxc_dev *d, const char *method, const char *path, json_t *body,
                        int st, const char *code)
{
    rbxc_resp r;
    if (body) rbxc_call_json(&C, d, method, path, body, NULL, &r);
    else rbxc_call(&C, d, method, path, NULL, 0, NULL, &r);
    EXPECT(r, st, code);
    rbxc_resp_free(&r);
}

static json_t *env_for(const rbxc_dev *d, uint32_t regid, const char *body)
{
    return json_pack("{s:s, s:I, s:I, s:o}", "user", d->user, "device", (json_int_t)d->id,
                     "registration_id", (json_int_t)regid, "body",
                     rbxc_b64((const uint8_t *)body, strlen(body)));
}

static json_t *send_body(const uint8_t mid[16], const char *to, json_t *envs)
{
    return json_pack("{s:o, s:s, s:o}", "message_id", rbxc_b64(mid, 16), "to", to, "envelopes", envs);
}

static void mid_of(uint8_t mid[16], unsigned k)
{
    memset(mid, 0, 16);
    mid[0] = 0x6d;
    mid[12] = (uint8_t)(k >> 24);
    mid[13] = (uint8_t)(k >> 16);
    mid[14] = (uint8_t)(k >> 8);
    mid[15] = (uint8_t)k;
}

/* Fetch d's mailbox (no wait); returns the response (caller frees). */
static void fetch(const rbxc_dev *d, const char *query, rbxc_resp *r)
{
    char p[300];
    rbxc_path(p, sizeof p, d, "mailbox");
    if (query) strncat(p, query, sizeof p - strlen(p) - 1);
    rbxc_call(&C, d, "GET", p, NULL, 0, NULL, r);
}

static size_t mailbox_count(const rbxc_dev *d)
{
    rbxc_resp r;
    fetch(d, "?limit=1000", &r);
    EXPECT(r, 200, NULL);
    size_t n = json_array_size(json_object_get(r.json, "items"));
    rbxc_resp_free(&r);
    return n;
}

static json_int_t key_count(const rbxc_dev *d)
{
    char p[300];
    rbxc_path(p, sizeof p, d, "keys");
    rbxc_resp r;
    rbxc_call(&C, d, "GET", p, NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    json_int_t n = jint(r.json, "one_time_count");
    rbxc_resp_free(&r);
    return n;
}

/* A metric's value from /metrics (0 if absent). */
static double metric(const char *name)
{
    rbxc_resp r;
    rbxc_call(&C, NULL, "GET", "/metrics", NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    double v = 0;
    size_t nl = strlen(name);
    for (char *p = r.body; p && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ') v = strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p) p++;
    }
    rbxc_resp_free(&r);
    return v;
}

/* ---------------------------------------------------------------- operations, routing, bad input */

START_TEST(healthz_metrics_and_routing)
{
    up(NULL);
    call_expect(NULL, "GET", "/healthz", NULL, 200, NULL);
    rbxc_resp r;
    rbxc_call(&C, NULL, "GET", "/metrics", NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "rbxd_requests_total{endpoint=\"healthz\",status=\"200\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE rbxd_request_duration_seconds histogram"));
    ck_assert_ptr_nonnull(strstr(r.body, "rbxd_prekeys_available 0\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "rbxd_mailbox_messages 0\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "rbxd_db_up 1\n"));
    rbxc_resp_free(&r);
    call_expect(NULL, "GET", "/nope", NULL, 404, "not_found");
    call_expect(NULL, "GET", "/v1/users/alice/frobs", NULL, 404, "not_found");
    call_expect(NULL, "GET", "/v1/users/Alice/devicelist", NULL, 400, "bad_request");
    call_expect(NULL, "GET", "/v1/users/alice/devices/0/keys", NULL, 400, "bad_request");
    call_expect(NULL, "GET", "/v1/users/alice/devices/007/keys", NULL, 400, "bad_request");
    call_expect(NULL, "GET", "/v1/users/alice/devices/2147483648/keys", NULL, 400, "bad_request");
    call_expect(NULL, "GET", "/v1/users/alice/devices/5/mailbox?colour=red", NULL, 400, "bad_request");
    call_expect(NULL, "GET", "/v1/users/alice/devices/5/mailbox?wait=1&wait=2", NULL, 400, "bad_request");
    call_expect(NULL, "GET", "/v1/users/al%69ce/devicelist", NULL, 400, "bad_request");
    rbxc_call(&C, NULL, "DELETE", "/v1/users/alice/devicelist", NULL, 0, NULL, &r);
    EXPECT(r, 405, "method_not_allowed");
    rbxc_resp_free(&r);
    rbxc_call(&C, NULL, "PATCH", "/v1/messages", "{}", 2, NULL, &r);
    EXPECT(r, 405, "method_not_allowed");
    rbxc_resp_free(&r);
    call_expect(NULL, "POST", "/healthz", NULL, 405, "method_not_allowed");
    ck_assert_double_eq(metric("rbxd_requests_total{endpoint=\"unknown\",status=\"404\"}"), 2);
    down();
}
END_TEST

START_TEST(bad_bodies_change_nothing)
{
    const char *extra[] = {"--max-body", "8K", "--max-envelope", "1K", "--max-envelopes", "2", NULL};
    up(extra);
    rbxc_dev a, b;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&b, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 3), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 3), 200);
    static const char *const bad[] = {
        "", "{", "[]", "null", "{\"message_id\":1}", "{\"a\":1}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[],\"x\":1}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA=\",\"to\":\"bob\",\"envelopes\":[{}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAB==\",\"to\":\"bob\",\"envelopes\":[{}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"Bob\",\"envelopes\":[{}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"to\":\"bob\",\"envelopes\":[{}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"bob\","
        "\"device\":1.5,\"registration_id\":1,\"body\":\"AA==\"}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"bob\","
        "\"device\":99999999999999999999999,\"registration_id\":1,\"body\":\"AA==\"}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"bob\","
        "\"device\":1,\"registration_id\":0,\"body\":\"AA==\"}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"bob\","
        "\"device\":1,\"registration_id\":1,\"body\":\"\"}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"bob\","
        "\"device\":1,\"registration_id\":1,\"body\":\"AA==\"},{\"user\":\"bob\",\"device\":1,"
        "\"registration_id\":1,\"body\":\"AA==\"}]}",
        "{\"message_id\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"to\":\"bob\",\"envelopes\":[{\"user\":\"b\\u0000b\","
        "\"device\":1,\"registration_id\":1,\"body\":\"AA==\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rbxc_resp r;
        rbxc_call(&C, &a, "POST", "/v1/messages", bad[i], strlen(bad[i]), NULL, &r);
        ck_assert_msg(r.status == 400, "case %zu: status %ld %s", i, r.status, r.body);
        ck_assert_str_eq(err_code(&r), "bad_request");
        rbxc_resp_free(&r);
    }
    /* An envelope above max_envelope, too many envelopes, a body above
     * max_body (announced, and sent): 413, nothing stored. */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    uint8_t mid[16];
    mid_of(mid, 1);
    rbxc_resp r;
    rbxc_call_json(&C, &a, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, big))), NULL, &r);
    EXPECT(r, 413, "too_large");
    rbxc_resp_free(&r);
    rbxc_call_json(&C, &a, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o,o,o]", env_for(&b, 1, "x"), env_for(&a, 1, "y"),
                                                   env_for(&a, 2, "z"))),
                   NULL, &r);
    EXPECT(r, 413, "too_large");
    rbxc_resp_free(&r);
    char *huge = malloc(20000);
    memset(huge, ' ', 20000);
    huge[0] = '{';
    huge[19999] = '}';
    rbxc_call(&C, &a, "POST", "/v1/messages", huge, 20000, NULL, &r);
    EXPECT(r, 413, "too_large");
    rbxc_resp_free(&r);
    free(huge);
    /* A GET with a body, a PUT of keys without anything. */
    char p[200];
    rbxc_path(p, sizeof p, &a, "keys");
    rbxc_call(&C, &a, "GET", p, "{}", 2, NULL, &r);
    EXPECT(r, 400, "bad_request");
    rbxc_resp_free(&r);
    call_expect(&a, "PUT", p, json_object(), 400, "bad_request");
    call_expect(&a, "PUT", p, json_pack("{s:[{s:I,s:s}]}", "one_time", "id", (json_int_t)9, "key", "AAAA"),
                400, "bad_request");
    call_expect(&a, "PUT", p,
                json_pack("{s:[{s:I,s:o},{s:I,s:o}]}", "one_time", "id", (json_int_t)9, "key",
                          rbxc_b64(a.pk, 32), "id", (json_int_t)9, "key", rbxc_b64(b.pk, 32)),
                400, "bad_request");
    /* Nothing of it reached a mailbox or the key store. */
    ck_assert_uint_eq(mailbox_count(&b), 0);
    ck_assert_int_eq(key_count(&a), 3);
    ck_assert_double_eq(metric("rbxd_mailbox_messages"), 0);
    rbxc_dev_free(&a);
    rbxc_dev_free(&b);
    down();
}
END_TEST

/* ---------------------------------------------------------------- enrollment and device lists */

START_TEST(enroll_open_and_devicelist)
{
    up(NULL);
    rbxc_dev a, a2, m;
    rbxc_list l, lm;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&a2, "alice");
    rbxc_dev_new(&m, "mallory");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &l, 2), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &m, &lm, 0), 200);
    /* The list: one entry, one device with its registration id; ETag, 304. */
    rbxc_resp r;
    rbxc_call(&C, &m, "GET", "/v1/users/alice/devicelist", NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "version"), 1);
    json_t *ents = json_object_get(r.json, "entries"), *devs = json_object_get(r.json, "devices");
    ck_assert_uint_eq(json_array_size(ents), 1);
    ck_assert_uint_eq(json_array_size(devs), 1);
    ck_assert_int_eq(jint(json_array_get(devs, 0), "device"), a.id);
    ck_assert_int_eq(jint(json_array_get(devs, 0), "registration_id"), a.regid);
    size_t el;
    uint8_t *e = rbxc_unb64(json_object_get(json_array_get(ents, 0), "entry"), &el);
    ck_assert_ptr_nonnull(e);
    rbx_devlist list;
    const uint8_t *ep[1] = {e};
    ck_assert_int_eq(rbx_devlist_verify(&list, "alice", ep, &el, 1, NULL, NULL), 0);
    ck_assert_uint_eq(list.ndevices, 1);
    ck_assert_mem_eq(list.devices[0].identity, a.pk, 32);
    free(e);
    char etag[80];
    snprintf(etag, sizeof etag, "%s", r.etag);
    ck_assert_uint_gt(strlen(etag), 2);
    rbxc_resp_free(&r);
    rbxc_opts o = {.if_none_match = etag};
    rbxc_call(&C, &m, "GET", "/v1/users/alice/devicelist", NULL, 0, &o, &r);
    EXPECT(r, 304, NULL);
    rbxc_resp_free(&r);
    call_expect(&m, "GET", "/v1/users/nobody/devicelist", NULL, 404, "no_such_user");
    /* A second "first" entry for alice: the list has moved on. */
    rbxc_list stale;
    ck_assert_int_eq(rbxc_enroll_first(&C, &a2, &stale, 0), 409);
    /* A self-signed add at seq 2: the chain refuses a signer outside the list. */
    rbxc_list l2 = l;
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES], bun[RBX_BUNDLE_MAXBYTES];
    size_t n = rbxc_entry(ent, &l2, RBX_DEVLIST_ADD, a2.id, a2.pk, RBX_SIGNER_DEVICE, a2.pk, a2.sk,
                          a2.sk, T0);
    size_t bl = rbxc_base_bundle(&a2, bun);
    call_expect(&a2, "POST", "/v1/users/alice/devices",
                json_pack("{s:o, s:I, s:o}", "entry", rbxc_b64(ent, n), "registration_id",
                          (json_int_t)a2.regid, "bundle", rbxc_b64(bun, bl)),
                422, "devlist_refused");
    /* An entry that names another device than the signer of the request. */
    l2 = l;
    n = rbxc_entry(ent, &l2, RBX_DEVLIST_ADD, a2.id, a2.pk, RBX_SIGNER_DEVICE, a.pk, a.sk, a2.sk, T0);
    call_expect(&m, "POST", "/v1/users/mallory/devices",
                json_pack("{s:o, s:I, s:o}", "entry", rbxc_b64(ent, n), "registration_id",
                          (json_int_t)1, "bundle", rbxc_b64(bun, bl)),
                422, "invalid_entry");
    /* The bundle of another key. */
    uint8_t mb[RBX_BUNDLE_MAXBYTES];
    size_t mbl = rbxc_base_bundle(&m, mb);
    call_expect(&a2, "POST", "/v1/users/alice/devices",
                json_pack("{s:o, s:I, s:o}", "entry", rbxc_b64(ent, n), "registration_id",
                          (json_int_t)a2.regid, "bundle", rbxc_b64(mb, mbl)),
                422, "invalid_bundle");
    /* Approved by alice's device: enrolled, version 2, ETag changes. */
    ck_assert_int_eq(rbxc_enroll_linked(&C, &a2, &a, &l, 1), 200);
    rbxc_call(&C, &m, "GET", "/v1/users/alice/devicelist", NULL, 0, &o, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "version"), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "devices")), 2);
    ck_assert_str_ne(r.etag, etag);
    rbxc_resp_free(&r);
    rbxc_call(&C, &m, "GET", "/v1/users/alice/devicelist?since=1", NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "entries")), 1);
    ck_assert_int_eq(jint(json_array_get(json_object_get(r.json, "entries"), 0), "seq"), 2);
    rbxc_resp_free(&r);
    rbxc_dev_free(&a);
    rbxc_dev_free(&a2);
    rbxc_dev_free(&m);
    down();
}
END_TEST

START_TEST(enroll_policies)
{
    /* linked only: no new users, devices approved by a listed device. */
    const char *linked[] = {"--enroll", "linked", NULL};
    up(linked);
    rbxc_dev a;
    rbxc_list l;
    rbxc_dev_new(&a, "alice");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &l, 0), 403);
    rbxc_dev_free(&a);
    down();

    /* org only: a certificate by the root, or an entry the root signed. */
    uint8_t org_pk[32], org_sk[32];
    ck_assert_int_eq(rbx_keypair_generate(org_pk, org_sk), 0);
    char b64[45];
    rbx_key_to_base64(b64, org_pk);
    const char *org[] = {"--enroll", "org", "--org-root", b64, NULL};
    up(org);
    rbxc_dev b, b2, b3, b4;
    rbxc_list lb;
    rbxc_dev_new(&b, "bob");
    rbxc_dev_new(&b2, "bob");
    rbxc_dev_new(&b3, "bob");
    rbxc_dev_new(&b4, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 0), 403);
    /* With a certificate of its key. */
    memset(&lb, 0, sizeof lb);
    snprintf(lb.user, sizeof lb.user, "bob");
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES], bun[RBX_BUNDLE_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    size_t n = rbxc_entry(ent, &lb, RBX_DEVLIST_ADD, b.id, b.pk, RBX_SIGNER_DEVICE, b.pk, b.sk, b.sk, T0);
    size_t bl = rbxc_base_bundle(&b, bun), cl;
    ck_assert_int_eq(rbx_org_certify(cert, sizeof cert, &cl, org_pk, org_sk, b.pk, T0 - 10, 0), 0);
    call_expect(&b, "POST", "/v1/users/bob/devices",
                json_pack("{s:o, s:I, s:o, s:o}", "entry", rbxc_b64(ent, n), "registration_id",
                          (json_int_t)b.regid, "bundle", rbxc_b64(bun, bl), "certificate",
                          rbxc_b64(cert, cl)),
                200, NULL);
    /* An add signed by the organisation root, no certificate needed. */
    n = rbxc_entry(ent, &lb, RBX_DEVLIST_ADD, b2.id, b2.pk, RBX_SIGNER_ORG, org_pk, org_sk, b2.sk, T0);
    bl = rbxc_base_bundle(&b2, bun);
    call_expect(&b2, "POST", "/v1/users/bob/devices",
                json_pack("{s:o, s:I, s:o}", "entry", rbxc_b64(ent, n), "registration_id",
                          (json_int_t)b2.regid, "bundle", rbxc_b64(bun, bl)),
                200, NULL);
    /* Approved by a device but uncertified: refused under org alone. */
    rbxc_list lb2 = lb;
    ck_assert_int_eq(rbxc_enroll_linked(&C, &b3, &b, &lb2, 0), 403);
    /* A certificate of another key does not help. */
    lb2 = lb;
    n = rbxc_entry(ent, &lb2, RBX_DEVLIST_ADD, b4.id, b4.pk, RBX_SIGNER_DEVICE, b.pk, b.sk, b4.sk, T0);
    bl = rbxc_base_bundle(&b4, bun);
    call_expect(&b4, "POST", "/v1/users/bob/devices",
                json_pack("{s:o, s:I, s:o, s:o}", "entry", rbxc_b64(ent, n), "registration_id",
                          (json_int_t)b4.regid, "bundle", rbxc_b64(bun, bl), "certificate",
                          rbxc_b64(cert, cl)),
                403, "enrollment_refused");
    rbxc_dev_free(&b);
    rbxc_dev_free(&b2);
    rbxc_dev_free(&b3);
    rbxc_dev_free(&b4);
    sodium_memzero(org_sk, sizeof org_sk);
    down();

    /* A first batch larger than a device may hold: refused, nothing
     * enrolled; the same device with a batch that fits: enrolled. */
    const char *small[] = {"--max-prekeys", "3", "--max-prekey-batch", "10", NULL};
    up(small);
    rbxc_dev c1, w;
    rbxc_list lc, lw;
    rbxc_dev_new(&c1, "carol");
    rbxc_dev_new(&w, "walter");
    ck_assert_int_eq(rbxc_enroll_first(&C, &w, &lw, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &c1, &lc, 5), 422);
    call_expect(&w, "GET", "/v1/users/carol/devicelist", NULL, 404, "no_such_user");
    ck_assert_int_eq(rbxc_enroll_first(&C, &c1, &lc, 3), 200);
    ck_assert_int_eq(key_count(&c1), 3);
    rbxc_dev_free(&c1);
    rbxc_dev_free(&w);
    down();
}
END_TEST

/* ---------------------------------------------------------------- authentication */

START_TEST(auth_refusals)
{
    const char *extra[] = {"--skew", "300", NULL};
    up(extra);
    rbxc_dev a, b, x;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&b, "bob");
    rbxc_dev_new(&x, "alice"); /* never enrolled */
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 1), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 1), 200);
    char p[200];
    rbxc_path(p, sizeof p, &a, "mailbox");
    rbxc_resp r;
    rbxc_opts o;
    /* Missing and malformed headers. */
    memset(&o, 0, sizeof o);
    o.no_auth = 1;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "unauthenticated");
    rbxc_resp_free(&r);
    static const char *const bad_headers[] = {
        "Bearer x", "RBX-Sig", "RBX-Sig user=\"alice\"",
        "RBX-Sig user=\"alice\", device=1, ts=1, nonce=\"AAAAAAAAAAAAAAAAAAAAAA==\", sig=\"AA==\"",
        "RBX-Sig user=\"alice\", user=\"alice\", device=1, ts=1, nonce=\"AAAAAAAAAAAAAAAAAAAAAA==\", sig=\"\"",
    };
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        memset(&o, 0, sizeof o);
        o.auth = bad_headers[i];
        rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
        EXPECT(r, 401, "unauthenticated");
        rbxc_resp_free(&r);
    }
    /* A bad signature; a signature over another target; over another body. */
    memset(&o, 0, sizeof o);
    o.bad_sig = 1;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "bad_signature");
    rbxc_resp_free(&r);
    memset(&o, 0, sizeof o);
    o.sign_target = "/v1/users/alice/devicelist";
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "bad_signature");
    rbxc_resp_free(&r);
    char kp[200];
    rbxc_path(kp, sizeof kp, &a, "keys");
    memset(&o, 0, sizeof o);
    const char *signed_body = "{\"one_time\":[]}";
    o.sign_body = (const uint8_t *)signed_body;
    o.sign_body_len = strlen(signed_body);
    json_t *otks = rbxc_new_otks(&a, 1);
    json_t *realj = json_pack("{s:o}", "one_time", otks);
    char *real = json_dumps(realj, JSON_COMPACT);
    json_decref(realj);
    rbxc_call(&C, &a, "PUT", kp, real, strlen(real), &o, &r);
    EXPECT(r, 401, "bad_signature");
    rbxc_resp_free(&r);
    free(real);
    ck_assert_int_eq(key_count(&a), 1);
    /* Signed by another key than the device's. */
    memset(&o, 0, sizeof o);
    o.sign_as = &b;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "bad_signature");
    rbxc_resp_free(&r);
    /* Clock skew, both ways; the server tells its time. */
    memset(&o, 0, sizeof o);
    o.ts = T0 - 301;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "clock_skew");
    ck_assert_int_eq(jint(r.json, "server_time"), T0);
    rbxc_resp_free(&r);
    o.ts = T0 + 301;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "clock_skew");
    rbxc_resp_free(&r);
    o.ts = T0 + 300;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 200, NULL);
    rbxc_resp_free(&r);
    /* Replays: the same nonce again is refused, for reads and for writes,
     * and the write is not applied twice. */
    uint8_t nonce[16];
    randombytes_buf(nonce, sizeof nonce);
    memset(&o, 0, sizeof o);
    o.nonce = nonce;
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 200, NULL);
    rbxc_resp_free(&r);
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "replay");
    rbxc_resp_free(&r);
    uint8_t mid[16];
    mid_of(mid, 7);
    randombytes_buf(nonce, sizeof nonce);
    json_t *sbj = send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "hello")));
    char *sb = json_dumps(sbj, JSON_COMPACT);
    json_decref(sbj);
    rbxc_call(&C, &a, "POST", "/v1/messages", sb, strlen(sb), &o, &r);
    EXPECT(r, 200, NULL);
    rbxc_resp_free(&r);
    rbxc_call(&C, &a, "POST", "/v1/messages", sb, strlen(sb), &o, &r);
    EXPECT(r, 401, "replay");
    rbxc_resp_free(&r);
    free(sb);
    ck_assert_uint_eq(mailbox_count(&b), 1);
    /* A device that never enrolled; another device's mailbox and keys. */
    rbxc_path(p, sizeof p, &x, "mailbox");
    call_expect(&x, "GET", p, NULL, 401, "unknown_device");
    /* b's device, enrolled under bob, signing as a device of alice: it is
     * known, and not enrolled under alice (403); with a bad signature it is
     * nobody (401). */
    rbxc_dev b_as_alice = b;
    snprintf(b_as_alice.user, sizeof b_as_alice.user, "alice");
    rbxc_path(p, sizeof p, &b_as_alice, "keys");
    call_expect(&b_as_alice, "GET", p, NULL, 403, "not_enrolled");
    memset(&o, 0, sizeof o);
    o.bad_sig = 1;
    rbxc_call(&C, &b_as_alice, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "unknown_device");
    rbxc_resp_free(&r);
    rbxc_path(p, sizeof p, &b, "mailbox");
    call_expect(&a, "GET", p, NULL, 403, "wrong_device");
    rbxc_path(p, sizeof p, &b, "keys");
    call_expect(&a, "GET", p, NULL, 403, "wrong_device");
    call_expect(&a, "PUT", p, json_pack("{s:o}", "one_time", rbxc_new_otks(&a, 1)), 403, "wrong_device");
    rbxc_path(p, sizeof p, &b, "mailbox/ack");
    call_expect(&a, "POST", p, json_pack("{s:[I]}", "ids", (json_int_t)1), 403, "wrong_device");
    ck_assert_uint_eq(mailbox_count(&b), 1);
    /* Nonces are remembered per device until ts + skew: after that the
     * timestamp alone refuses the request. */
    rbxc_clock_set(DIR_, T0 + 1000);
    memset(&o, 0, sizeof o);
    o.nonce = nonce;
    o.ts = T0;
    rbxc_path(p, sizeof p, &a, "mailbox");
    rbxc_call(&C, &a, "GET", p, NULL, 0, &o, &r);
    EXPECT(r, 401, "clock_skew");
    rbxc_resp_free(&r);
    rbxc_dev_free(&a);
    rbxc_dev_free(&b);
    rbxc_dev_free(&x);
    down();
}
END_TEST

/* ---------------------------------------------------------------- keys */

START_TEST(keys_upload_rules)
{
    const char *extra[] = {"--max-prekeys", "20", "--max-prekey-batch", "10", NULL};
    up(extra);
    rbxc_dev a, m;
    rbxc_list l, lm;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&m, "mallory");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &l, 5), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &m, &lm, 0), 200);
    char p[200];
    rbxc_path(p, sizeof p, &a, "keys");
    rbxc_resp r;
    rbxc_call(&C, &a, "GET", p, NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "one_time_count"), 5);
    ck_assert_int_eq(jint(r.json, "one_time_max_id"), 5);
    ck_assert_int_eq(jint(r.json, "signed_prekey_id"), 1);
    ck_assert_int_eq(jint(r.json, "signed_prekey_age"), 0);
    ck_assert(json_is_true(json_object_get(r.json, "low")));
    rbxc_resp_free(&r);
    rbxc_clock_set(DIR_, T0 + 3600);
    rbxc_call(&C, &a, "GET", p, NULL, 0, NULL, &r);
    ck_assert_int_eq(jint(r.json, "signed_prekey_age"), 3600);
    rbxc_resp_free(&r);
    /* A batch: count grows; an identical re-upload of held keys is a no-op. */
    json_t *batch = rbxc_new_otks(&a, 4); /* ids 6..9 */
    call_expect(&a, "PUT", p, json_pack("{s:O}", "one_time", batch), 200, NULL);
    call_expect(&a, "PUT", p, json_pack("{s:O}", "one_time", batch), 200, NULL);
    ck_assert_int_eq(key_count(&a), 9);
    /* Another key under a used id. */
    json_t *k6 = json_array_get(batch, 0);
    call_expect(&a, "PUT", p,
                json_pack("{s:[{s:I,s:o}]}", "one_time", "id", jint(k6, "id"), "key", rbxc_b64(m.pk, 32)),
                409, "key_conflict");
    /* Ids only increase: a new key below the highest is refused. */
    call_expect(&a, "PUT", p,
                json_pack("{s:[{s:I,s:o}]}", "one_time", "id", (json_int_t)3, "key", rbxc_b64(m.pk, 32)),
                409, "key_conflict");
    /* A claimed key re-uploaded identically: accepted, and not handed out again. */
    char bp[200];
    snprintf(bp, sizeof bp, "/v1/users/alice/bundles");
    rbxc_call_json(&C, &m, "POST", bp, json_object(), NULL, &r);
    EXPECT(r, 200, NULL);
    json_t *ot = json_object_get(json_array_get(json_object_get(r.json, "bundles"), 0), "one_time");
    ck_assert_int_eq(jint(ot, "id"), 1);
    json_t *again = json_pack("{s:[{s:I,s:O}]}", "one_time", "id", (json_int_t)1, "key",
                              json_object_get(ot, "key"));
    rbxc_resp_free(&r);
    call_expect(&a, "PUT", p, again, 200, NULL);
    ck_assert_int_eq(key_count(&a), 8);
    /* Too many held; a batch above the limit. */
    call_expect(&a, "PUT", p, json_pack("{s:o}", "one_time", rbxc_new_otks(&a, 10)), 200, NULL);
    ck_assert_int_eq(key_count(&a), 18);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "one_time", rbxc_new_otks(&a, 3)), 422, "too_many_prekeys");
    call_expect(&a, "PUT", p, json_pack("{s:o}", "one_time", rbxc_new_otks(&a, 11)), 413, "too_large");
    ck_assert_int_eq(key_count(&a), 18);
    /* Signed prekeys: a new id replaces, a lower id or another key under the
     * same id is refused, the same bundle again is accepted. */
    uint8_t bun[RBX_BUNDLE_MAXBYTES];
    size_t bl = rbxc_base_bundle(&a, bun);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, bl)), 200, NULL);
    ck_assert_int_eq(rbx_prekeys_add_signed(a.pre, 2, NULL), 0);
    a.spk_id = 2;
    bl = rbxc_base_bundle(&a, bun);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, bl)), 200, NULL);
    a.spk_id = 1;
    bl = rbxc_base_bundle(&a, bun);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, bl)), 409, "key_conflict");
    ck_assert_int_eq(rbx_prekeys_remove_signed(a.pre, 2), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(a.pre, 2, NULL), 0);
    a.spk_id = 2;
    bl = rbxc_base_bundle(&a, bun);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, bl)), 409, "key_conflict");
    rbxc_call(&C, &a, "GET", p, NULL, 0, NULL, &r);
    ck_assert_int_eq(jint(r.json, "signed_prekey_id"), 2);
    rbxc_resp_free(&r);
    /* A bundle of another identity, a bundle with a one-time prekey. */
    bl = rbxc_base_bundle(&m, bun);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, bl)), 422, "invalid_bundle");
    size_t fl;
    ck_assert_int_eq(rbx_prekeys_bundle(bun, sizeof bun, &fl, a.pre, 2, 7), 0);
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, fl)), 422, "invalid_bundle");
    bun[fl / 2] ^= 1;
    call_expect(&a, "PUT", p, json_pack("{s:o}", "bundle", rbxc_b64(bun, fl)), 422, "invalid_bundle");
    json_decref(batch);
    rbxc_dev_free(&a);
    rbxc_dev_free(&m);
    down();
}
END_TEST

/* ---------------------------------------------------------------- claims */

START_TEST(claims_and_rate_limit)
{
    const char *extra[] = {"--claim-burst", "3", "--claim-interval", "600", "--prekey-low", "2", NULL};
    up(extra);
    rbxc_dev a1, a2, m, m2;
    rbxc_list la, lm;
    rbxc_dev_new(&a1, "alice");
    rbxc_dev_new(&a2, "alice");
    rbxc_dev_new(&m, "mallory");
    rbxc_dev_new(&m2, "mallory");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a1, &la, 3), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &a2, &a1, &la, 1), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &m, &lm, 0), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &m2, &m, &lm, 0), 200);
    /* Every device of alice, one one-time prekey each, assembled bundles verify. */
    rbxc_resp r;
    rbxc_call_json(&C, &m, "POST", "/v1/users/alice/bundles", json_object(), NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "version"), 2);
    json_t *bs = json_object_get(r.json, "bundles");
    ck_assert_uint_eq(json_array_size(bs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *b = json_array_get(bs, i);
        const rbxc_dev *want = (uint32_t)jint(b, "device") == a1.id ? &a1 : &a2;
        ck_assert_int_eq(jint(b, "device"), want->id);
        ck_assert_int_eq(jint(b, "registration_id"), want->regid);
        json_t *ot = json_object_get(b, "one_time");
        ck_assert_int_eq(jint(ot, "id"), 1);
        size_t bl, kl;
        uint8_t *base = rbxc_unb64(json_object_get(b, "bundle"), &bl);
        uint8_t *key = rbxc_unb64(json_object_get(ot, "key"), &kl);
        ck_assert_uint_eq(kl, 32);
        uint8_t full[RBX_BUNDLE_MAXBYTES];
        size_t fl;
        ck_assert_int_eq(rbx_bundle_with_onetime(full, sizeof full, &fl, base, bl, 1, key), 0);
        rbx_bundle pb;
        ck_assert_int_eq(rbx_bundle_parse(&pb, full, fl), 0);
        ck_assert_mem_eq(pb.identity, want->pk, 32);
        ck_assert(pb.has_onetime && pb.onetime_prekey_id == 1);
        /* "low": fewer than 2 left (a1 has 2, a2 has 0). */
        ck_assert(json_is_boolean(json_object_get(b, "low")));
        ck_assert_int_eq(json_is_true(json_object_get(b, "low")), want == &a2);
        free(base);
        free(key);
    }
    rbxc_resp_free(&r);
    /* The next claim of a1 gets id 2; a2 has none left: null, low. */
    rbxc_call_json(&C, &m, "POST", "/v1/users/alice/bundles", json_pack("{s:[I,I]}", "devices",
                   (json_int_t)a1.id, (json_int_t)a2.id), NULL, &r);
    EXPECT(r, 200, NULL);
    bs = json_object_get(r.json, "bundles");
    ck_assert_int_eq(jint(json_object_get(json_array_get(bs, 0), "one_time"), "id"), 2);
    ck_assert(json_is_null(json_object_get(json_array_get(bs, 1), "one_time")));
    ck_assert(json_is_true(json_object_get(json_array_get(bs, 1), "low")));
    rbxc_resp_free(&r);
    /* Rate limit per (requester, target device): the third claim still
     * passes (burst 3), the fourth is refused with Retry-After and claims
     * nothing; another requester device is not limited by m's claims. */
    rbxc_call_json(&C, &m, "POST", "/v1/users/alice/bundles", json_pack("{s:[I]}", "devices",
                   (json_int_t)a1.id), NULL, &r);
    EXPECT(r, 200, NULL);
    rbxc_resp_free(&r);
    rbxc_call_json(&C, &m, "POST", "/v1/users/alice/bundles", json_pack("{s:[I]}", "devices",
                   (json_int_t)a1.id), NULL, &r);
    EXPECT(r, 429, "rate_limited");
    ck_assert_int_eq(jint(r.json, "retry_after"), 600);
    ck_assert_str_eq(r.retry_after, "600");
    rbxc_resp_free(&r);
    ck_assert_int_eq(key_count(&a1), 0);
    rbxc_call_json(&C, &m2, "POST", "/v1/users/alice/bundles", json_object(), NULL, &r);
    EXPECT(r, 200, NULL);
    rbxc_resp_free(&r);
    /* Time passes: one more claim each interval. */
    rbxc_clock_set(DIR_, T0 + 599);
    rbxc_call_json(&C, &m, "POST", "/v1/users/alice/bundles", json_pack("{s:[I]}", "devices",
                   (json_int_t)a1.id), NULL, &r);
    EXPECT(r, 429, "rate_limited");
    ck_assert_int_eq(jint(r.json, "retry_after"), 1);
    rbxc_resp_free(&r);
    rbxc_clock_set(DIR_, T0 + 600);
    rbxc_call_json(&C, &m, "POST", "/v1/users/alice/bundles", json_pack("{s:[I]}", "devices",
                   (json_int_t)a1.id), NULL, &r);
    EXPECT(r, 200, NULL);
    rbxc_resp_free(&r);
    /* One's own user: every other device; an unknown listed device; no user. */
    rbxc_call_json(&C, &a1, "POST", "/v1/users/alice/bundles", json_object(), NULL, &r);
    EXPECT(r, 200, NULL);
    bs = json_object_get(r.json, "bundles");
    ck_assert_uint_eq(json_array_size(bs), 1);
    ck_assert_int_eq(jint(json_array_get(bs, 0), "device"), a2.id);
    rbxc_resp_free(&r);
    rbxc_call_json(&C, &m2, "POST", "/v1/users/alice/bundles", json_pack("{s:[I]}", "devices",
                   (json_int_t)12345), NULL, &r);
    EXPECT(r, 404, "no_such_device");
    ck_assert_int_eq(jint(r.json, "device"), 12345);
    rbxc_resp_free(&r);
    call_expect(&m2, "POST", "/v1/users/nobody/bundles", json_object(), 404, "no_such_user");
    ck_assert_double_eq(metric("rbxd_claims_total{one_time=\"yes\"}"), 4);
    ck_assert_double_eq(metric("rbxd_claims_total{one_time=\"no\"}"), 5);
    ck_assert_double_eq(metric("rbxd_claims_rate_limited_total"), 2);
    rbxc_dev_free(&a1);
    rbxc_dev_free(&a2);
    rbxc_dev_free(&m);
    rbxc_dev_free(&m2);
    down();
}
END_TEST

/* 8 clients claim one device's supply concurrently: from 2 rbxd processes
 * on one PostgreSQL, from 1 on SQLite. Every key exactly once, none lost. */
#define NCLAIMERS 8
#define NKEYS 400

typedef struct claimer {
    rbxc_dev dev;
    const rbxc_server *srv;
    uint32_t got[NKEYS];
    size_t ngot;
    long bad_status;
} claimer;

static void *claim_loop(void *arg)
{
    claimer *c = arg;
    rbxc_conn conn;
    rbxc_conn_init(&conn, c->srv, DIR_);
    for (;;) {
        rbxc_resp r;
        rbxc_call_json(&conn, &c->dev, "POST", "/v1/users/target/bundles", json_object(), NULL, &r);
        if (r.status != 200) {
            c->bad_status = r.status;
            rbxc_resp_free(&r);
            break;
        }
        json_t *ot = json_object_get(json_array_get(json_object_get(r.json, "bundles"), 0), "one_time");
        if (json_is_null(ot)) {
            rbxc_resp_free(&r);
            break;
        }
        if (c->ngot < NKEYS) c->got[c->ngot++] = (uint32_t)json_integer_value(json_object_get(ot, "id"));
        rbxc_resp_free(&r);
    }
    rbxc_conn_free(&conn);
    return NULL;
}

START_TEST(claims_concurrent_exactly_once)
{
    const char *extra[] = {"--claim-burst", "1000000", "--claim-interval", "0", "--max-prekeys", "1000",
                           NULL};
    up(extra);
    rbxc_server S2;
    int two = rbxc_backend_is_pg();
    if (two) ck_assert_int_eq(rbxc_server_start(&S2, DIR_, DB, extra), 0);
    rbxc_dev t;
    rbxc_list lt, lc;
    rbxc_dev_new(&t, "target");
    ck_assert_int_eq(rbxc_enroll_first(&C, &t, &lt, 0), 200);
    for (int i = 0; i < NKEYS / 200; i++) ck_assert_int_eq(rbxc_upload_otks(&C, &t, 200), 200);
    ck_assert_int_eq(key_count(&t), NKEYS);
    static claimer cl[NCLAIMERS];
    pthread_t th[NCLAIMERS];
    for (int i = 0; i < NCLAIMERS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        rbxc_dev_new(&cl[i].dev, "claimers");
        if (i == 0) ck_assert_int_eq(rbxc_enroll_first(&C, &cl[i].dev, &lc, 0), 200);
        else ck_assert_int_eq(rbxc_enroll_linked(&C, &cl[i].dev, &cl[0].dev, &lc, 0), 200);
        cl[i].srv = (two && (i & 1)) ? &S2 : &S;
    }
    for (int i = 0; i < NCLAIMERS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, claim_loop, &cl[i]), 0);
    for (int i = 0; i < NCLAIMERS; i++) pthread_join(th[i], NULL);
    static uint8_t seen[NKEYS + 1];
    memset(seen, 0, sizeof seen);
    size_t total = 0;
    for (int i = 0; i < NCLAIMERS; i++) {
        ck_assert_int_eq(cl[i].bad_status, 0);
        for (size_t k = 0; k < cl[i].ngot; k++) {
            uint32_t id = cl[i].got[k];
            ck_assert_uint_ge(id, 1);
            ck_assert_uint_le(id, NKEYS);
            ck_assert_msg(seen[id] == 0, "one-time prekey %u handed out twice", id);
            seen[id] = 1;
            total++;
        }
    }
    ck_assert_uint_eq(total, NKEYS);
    ck_assert_int_eq(key_count(&t), 0);
    /* Both processes served claims (on PostgreSQL). */
    if (two) {
        size_t by2 = 0;
        for (int i = 1; i < NCLAIMERS; i += 2) by2 += cl[i].ngot;
        ck_assert_uint_gt(by2, 0);
        ck_assert_uint_lt(by2, NKEYS);
        int st = rbxc_server_stop(&S2);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < NCLAIMERS; i++) rbxc_dev_free(&cl[i].dev);
    rbxc_dev_free(&t);
    down();
}
END_TEST

/* ---------------------------------------------------------------- messages */

START_TEST(send_device_set_and_idempotency)
{
    up(NULL);
    rbxc_dev a1, a2, b1, b2, b3;
    rbxc_list la, lb;
    rbxc_dev_new(&a1, "alice");
    rbxc_dev_new(&a2, "alice");
    rbxc_dev_new(&b1, "bob");
    rbxc_dev_new(&b2, "bob");
    rbxc_dev_new(&b3, "bob"); /* never enrolled */
    ck_assert_int_eq(rbxc_enroll_first(&C, &a1, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &a2, &a1, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b1, &lb, 0), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &b2, &b1, &lb, 0), 200);
    rbxc_resp rd;
    /* JSON nested as deep as the parser allows (2047), and deeper: 400,
     * and the connection thread's stack holds (under ASan too). */
    for (int depth = 2047; depth <= 4096; depth += 2049) {
        size_t cap = (size_t)depth * 6 + 8, k = 0;
        char *deep = malloc(cap);
        for (int i = 0; i < depth; i++) k += (size_t)snprintf(deep + k, cap - k, "{\"a\":");
        deep[k++] = '1';
        for (int i = 0; i < depth; i++) deep[k++] = '}';
        rbxc_call(&C, &a1, "POST", "/v1/messages", deep, k, NULL, &rd);
        EXPECT(rd, 400, "bad_request");
        rbxc_resp_free(&rd);
        free(deep);
    }
    call_expect(NULL, "GET", "/healthz", NULL, 200, NULL);
    uint8_t mid[16];
    mid_of(mid, 1);
    /* Missing b2 and a2, an extra b3, a stale registration id for b1:
     * one 409 lists all, and nothing is stored. */
    rbxc_resp r;
    rbxc_call_json(&C, &a1, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o,o]", env_for(&b1, b1.regid + 1, "x"),
                                                   env_for(&b3, 5, "x"))),
                   NULL, &r);
    EXPECT(r, 409, "device_mismatch");
    json_t *miss = json_object_get(r.json, "missing"), *extra = json_object_get(r.json, "extra"),
           *stale = json_object_get(r.json, "stale");
    ck_assert_uint_eq(json_array_size(miss), 2);
    ck_assert_uint_eq(json_array_size(extra), 1);
    ck_assert_uint_eq(json_array_size(stale), 1);
    ck_assert_int_eq(jint(json_array_get(extra, 0), "device"), b3.id);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(extra, 0), "user")), "bob");
    ck_assert_int_eq(jint(json_array_get(stale, 0), "device"), b1.id);
    int saw_a2 = 0, saw_b2 = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *x = json_array_get(miss, i);
        if ((uint32_t)jint(x, "device") == a2.id) saw_a2 = 1;
        if ((uint32_t)jint(x, "device") == b2.id) saw_b2 = 1;
    }
    ck_assert(saw_a2 && saw_b2);
    rbxc_resp_free(&r);
    ck_assert_uint_eq(mailbox_count(&b1), 0);
    /* The sender's own device is not a recipient. */
    rbxc_call_json(&C, &a1, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o,o,o,o]", env_for(&b1, b1.regid, "1"),
                                                   env_for(&b2, b2.regid, "2"),
                                                   env_for(&a2, a2.regid, "3"),
                                                   env_for(&a1, a1.regid, "4"))),
                   NULL, &r);
    EXPECT(r, 409, "device_mismatch");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "extra")), 1);
    rbxc_resp_free(&r);
    /* The right set: stored, once. */
    json_t *ok = send_body(mid, "bob", json_pack("[o,o,o]", env_for(&b1, b1.regid, "for b1"),
                                                 env_for(&b2, b2.regid, "for b2"),
                                                 env_for(&a2, a2.regid, "for a2")));
    rbxc_call_json(&C, &a1, "POST", "/v1/messages", json_incref(ok), NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "stored"), 3);
    ck_assert(json_is_false(json_object_get(r.json, "duplicate")));
    rbxc_resp_free(&r);
    /* A retry (fresh nonce, same body): accepted, stored nothing new. */
    rbxc_call_json(&C, &a1, "POST", "/v1/messages", json_incref(ok), NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert(json_is_true(json_object_get(r.json, "duplicate")));
    ck_assert_int_eq(jint(r.json, "stored"), 0);
    rbxc_resp_free(&r);
    /* The same envelopes in another order are the same message. */
    rbxc_call_json(&C, &a1, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o,o,o]", env_for(&a2, a2.regid, "for a2"),
                                                   env_for(&b2, b2.regid, "for b2"),
                                                   env_for(&b1, b1.regid, "for b1"))),
                   NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert(json_is_true(json_object_get(r.json, "duplicate")));
    rbxc_resp_free(&r);
    /* The same id with another body. */
    rbxc_call_json(&C, &a1, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o,o,o]", env_for(&b1, b1.regid, "other"),
                                                   env_for(&b2, b2.regid, "for b2"),
                                                   env_for(&a2, a2.regid, "for a2"))),
                   NULL, &r);
    EXPECT(r, 409, "message_id_conflict");
    rbxc_resp_free(&r);
    json_decref(ok);
    /* Each mailbox holds its own envelope with the authenticated sender. */
    fetch(&b2, NULL, &r);
    EXPECT(r, 200, NULL);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    ck_assert_str_eq(json_string_value(json_object_get(it, "sender_user")), "alice");
    ck_assert_int_eq(jint(it, "sender_device"), a1.id);
    ck_assert_int_eq(jint(it, "received_at"), T0);
    size_t bl;
    uint8_t *body = rbxc_unb64(json_object_get(it, "body"), &bl);
    ck_assert_uint_eq(bl, 6);
    ck_assert_mem_eq(body, "for b2", 6);
    free(body);
    uint8_t *m = rbxc_unb64(json_object_get(it, "message_id"), &bl);
    ck_assert_uint_eq(bl, 16);
    ck_assert_mem_eq(m, mid, 16);
    free(m);
    ck_assert(json_is_false(json_object_get(r.json, "more")));
    rbxc_resp_free(&r);
    ck_assert_uint_eq(mailbox_count(&a2), 1);
    ck_assert_uint_eq(mailbox_count(&a1), 0);
    /* Sync to one's own devices only (to = own user). */
    mid_of(mid, 2);
    call_expect(&a1, "POST", "/v1/messages",
                send_body(mid, "alice", json_pack("[o]", env_for(&a2, a2.regid, "sync"))), 200, NULL);
    ck_assert_uint_eq(mailbox_count(&a2), 2);
    /* No such user. */
    mid_of(mid, 3);
    call_expect(&a1, "POST", "/v1/messages",
                send_body(mid, "nobody", json_pack("[o]", env_for(&a2, a2.regid, "x"))), 404,
                "no_such_user");
    ck_assert_double_eq(metric("rbxd_deliveries_total"), 4);
    ck_assert_double_eq(metric("rbxd_mailbox_messages"), 4);
    rbxc_dev_free(&a1);
    rbxc_dev_free(&a2);
    rbxc_dev_free(&b1);
    rbxc_dev_free(&b2);
    rbxc_dev_free(&b3);
    down();
}
END_TEST

START_TEST(targeted_sends)
{
    up(NULL);
    rbxc_dev a1, a2, b1, b2, c1;
    rbxc_list la, lb, lc;
    rbxc_dev_new(&a1, "alice");
    rbxc_dev_new(&a2, "alice");
    rbxc_dev_new(&b1, "bob");
    rbxc_dev_new(&b2, "bob");
    rbxc_dev_new(&c1, "carol");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a1, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &a2, &a1, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b1, &lb, 0), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &b2, &b1, &lb, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &c1, &lc, 0), 200);
    uint8_t mid[16];
    mid_of(mid, 1);
    /* A targeted send names a subset: one device of bob only. */
    json_t *one = send_body(mid, "bob", json_pack("[o]", env_for(&b2, b2.regid, "retry")));
    json_object_set_new(one, "targeted", json_true());
    rbxc_resp r;
    rbxc_call_json(&C, &a1, "POST", "/v1/messages", json_incref(one), NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "stored"), 1);
    rbxc_resp_free(&r);
    ck_assert_uint_eq(mailbox_count(&b2), 1);
    ck_assert_uint_eq(mailbox_count(&b1), 0);
    ck_assert_uint_eq(mailbox_count(&a2), 0);
    /* Idempotent like any send; the same envelopes untargeted are another
     * message (a conflict under the same id). */
    rbxc_call_json(&C, &a1, "POST", "/v1/messages", json_incref(one), NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert(json_is_true(json_object_get(r.json, "duplicate")));
    rbxc_resp_free(&r);
    json_object_del(one, "targeted");
    rbxc_call_json(&C, &a1, "POST", "/v1/messages", json_incref(one), NULL, &r);
    EXPECT(r, 409, "message_id_conflict");
    rbxc_resp_free(&r);
    json_decref(one);
    /* Extra and stale are still refused; missing is not reported. */
    mid_of(mid, 2);
    json_t *bad = send_body(mid, "bob", json_pack("[o,o]", env_for(&b1, b1.regid + 1, "x"),
                                                  env_for(&c1, c1.regid, "x")));
    json_object_set_new(bad, "targeted", json_true());
    rbxc_call_json(&C, &a1, "POST", "/v1/messages", bad, NULL, &r);
    EXPECT(r, 409, "device_mismatch");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "missing")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "extra")), 1);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "stale")), 1);
    rbxc_resp_free(&r);
    /* A targeted send to one's own other device. */
    mid_of(mid, 3);
    json_t *own = send_body(mid, "alice", json_pack("[o]", env_for(&a2, a2.regid, "own")));
    json_object_set_new(own, "targeted", json_true());
    call_expect(&a1, "POST", "/v1/messages", own, 200, NULL);
    ck_assert_uint_eq(mailbox_count(&a2), 1);
    /* targeted must be a boolean. */
    mid_of(mid, 4);
    json_t *typ = send_body(mid, "bob", json_pack("[o]", env_for(&b2, b2.regid, "x")));
    json_object_set_new(typ, "targeted", json_integer(1));
    call_expect(&a1, "POST", "/v1/messages", typ, 400, "bad_request");
    rbxc_dev_free(&a1);
    rbxc_dev_free(&a2);
    rbxc_dev_free(&b1);
    rbxc_dev_free(&b2);
    rbxc_dev_free(&c1);
    down();
}
END_TEST

/* A link slot: PUT {data} without Authorization; returns the status. */
static long link_put(const char *id, const char *slot, const char *data_b64, rbxc_resp *r)
{
    char path[128], body[256];
    snprintf(path, sizeof path, "/v1/links/%s/%s", id, slot);
    snprintf(body, sizeof body, "{\"data\":\"%s\"}", data_b64);
    rbxc_opts o = {0};
    o.no_auth = 1;
    rbxc_call(&C, NULL, "PUT", path, body, strlen(body), &o, r);
    return r->status;
}

START_TEST(device_links)
{
    const char *extra[] = {"--link-ttl", "600", "--link-max", "2", NULL};
    up(extra);
    const char *id = "00112233445566778899aabbccddeeff";
    const char *id2 = "ffeeddccbbaa99887766554433221100";
    const char *id3 = "0123456789abcdef0123456789abcdef";
    rbxc_resp r;
    rbxc_opts na = {0};
    na.no_auth = 1;
    char path[128];
    snprintf(path, sizeof path, "/v1/links/%s", id);
    /* Nothing yet; an approval before the request has no link. */
    rbxc_call(&C, NULL, "GET", path, NULL, 0, &na, &r);
    EXPECT(r, 404, "no_such_link");
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id, "approval", "YXBwcm92YWw=", &r), 404);
    rbxc_resp_free(&r);
    /* The request creates the link; the same bytes again are a retry,
     * other bytes a conflict. */
    ck_assert_int_eq(link_put(id, "request", "cmVxdWVzdA==", &r), 200);
    ck_assert(json_is_true(json_object_get(r.json, "stored")));
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id, "request", "cmVxdWVzdA==", &r), 200);
    ck_assert(json_is_false(json_object_get(r.json, "stored")));
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id, "request", "b3RoZXI=", &r), 409);
    EXPECT(r, 409, "link_conflict");
    rbxc_resp_free(&r);
    rbxc_call(&C, NULL, "GET", path, NULL, 0, &na, &r);
    EXPECT(r, 200, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "request")), "cmVxdWVzdA==");
    ck_assert(json_is_null(json_object_get(r.json, "approval")));
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id, "approval", "YXBwcm92YWw=", &r), 200);
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id, "approval", "YXBwcm92ZWQ=", &r), 409);
    rbxc_resp_free(&r);
    rbxc_call(&C, NULL, "GET", path, NULL, 0, &na, &r);
    EXPECT(r, 200, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "approval")), "YXBwcm92YWw=");
    rbxc_resp_free(&r);
    /* At most link_max pending: the third is refused. */
    ck_assert_int_eq(link_put(id2, "request", "cmVxdWVzdA==", &r), 200);
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id3, "request", "cmVxdWVzdA==", &r), 429);
    EXPECT(r, 429, "rate_limited");
    rbxc_resp_free(&r);
    /* Bad ids and bodies. */
    call_expect(NULL, "GET", "/v1/links/00112233445566778899AABBCCDDEEFF", NULL, 404, "not_found");
    call_expect(NULL, "GET", "/v1/links/0011", NULL, 404, "not_found");
    ck_assert_int_eq(link_put(id3, "request", "!!", &r), 400);
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id3, "other", "cmVxdWVzdA==", &r), 404);
    rbxc_resp_free(&r);
    /* After link_ttl the links are gone, and the slots free again. */
    rbxc_clock_set(DIR_, T0 + 601);
    rbxc_call(&C, NULL, "GET", path, NULL, 0, &na, &r);
    EXPECT(r, 404, "no_such_link");
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id3, "request", "cmVxdWVzdA==", &r), 200);
    rbxc_resp_free(&r);
    ck_assert_int_eq(link_put(id, "request", "b3RoZXI=", &r), 200);
    rbxc_resp_free(&r);
    down();
}
END_TEST

START_TEST(mailbox_paging_ack_and_limits)
{
    const char *extra[] = {"--mailbox-max", "5", "--fetch-max-bytes", "64K", NULL};
    up(extra);
    rbxc_dev a, b;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&b, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 0), 200);
    uint8_t mid[16];
    static char big[70000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (unsigned k = 1; k <= 5; k++) {
        mid_of(mid, k);
        char msg[16];
        snprintf(msg, sizeof msg, "m%u", k);
        call_expect(&a, "POST", "/v1/messages",
                    send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, k == 4 ? big : msg))),
                    200, NULL);
    }
    /* Full: the sixth is refused as a whole. */
    mid_of(mid, 6);
    rbxc_resp r;
    rbxc_call_json(&C, &a, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "m6"))), NULL, &r);
    EXPECT(r, 429, "mailbox_full");
    ck_assert_int_eq(jint(json_array_get(json_object_get(r.json, "full"), 0), "device"), b.id);
    rbxc_resp_free(&r);
    /* Pages: limit 2, then after=, then the byte cap stops after the big one. */
    fetch(&b, "?limit=2", &r);
    EXPECT(r, 200, NULL);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert(json_is_true(json_object_get(r.json, "more")));
    json_int_t id2 = jint(json_array_get(items, 1), "id");
    json_int_t id1 = jint(json_array_get(items, 0), "id");
    ck_assert_int_lt(id1, id2);
    rbxc_resp_free(&r);
    char q[64];
    snprintf(q, sizeof q, "?after=%lld&limit=10", (long long)id2);
    fetch(&b, q, &r);
    items = json_object_get(r.json, "items");
    /* m3 (2 bytes) fits in 64 KiB, the 70,000-byte m4 not after it. */
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert(json_is_true(json_object_get(r.json, "more")));
    json_int_t id3 = jint(json_array_get(items, 0), "id");
    rbxc_resp_free(&r);
    /* A page always holds its first item, however large. */
    snprintf(q, sizeof q, "?after=%lld", (long long)id3);
    fetch(&b, q, &r);
    items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    size_t bl;
    uint8_t *bb = rbxc_unb64(json_object_get(json_array_get(items, 0), "body"), &bl);
    ck_assert_uint_eq(bl, sizeof big - 1);
    free(bb);
    ck_assert(json_is_true(json_object_get(r.json, "more")));
    rbxc_resp_free(&r);
    /* Ack the first two (and an unknown id): deleted 2; acking again: 0. */
    char ap[200];
    rbxc_path(ap, sizeof ap, &b, "mailbox/ack");
    rbxc_call_json(&C, &b, "POST", ap, json_pack("{s:[I,I,I]}", "ids", id1, id2, (json_int_t)999999),
                   NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "deleted"), 2);
    rbxc_resp_free(&r);
    rbxc_call_json(&C, &b, "POST", ap, json_pack("{s:[I]}", "ids", id1), NULL, &r);
    ck_assert_int_eq(jint(r.json, "deleted"), 0);
    rbxc_resp_free(&r);
    ck_assert_double_eq(metric("rbxd_mailbox_messages"), 3);
    ck_assert_double_eq(metric("rbxd_mailbox_depth_max"), 3);
    /* Space again: the sixth goes in now. */
    call_expect(&a, "POST", "/v1/messages",
                send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "m6"))), 200, NULL);
    rbxc_dev_free(&a);
    rbxc_dev_free(&b);
    down();
}
END_TEST

typedef struct poller {
    const rbxc_dev *dev;
    const rbxc_server *srv;
    const char *query;
    rbxc_resp r;
    atomic_int started;
} poller;

static void *poll_thread(void *arg)
{
    poller *p = arg;
    rbxc_conn c;
    rbxc_conn_init(&c, p->srv, DIR_);
    char path[300];
    rbxc_path(path, sizeof path, p->dev, "mailbox");
    strncat(path, p->query, sizeof path - strlen(path) - 1);
    atomic_store(&p->started, 1);
    rbxc_call(&c, p->dev, "GET", path, NULL, 0, NULL, &p->r);
    rbxc_conn_free(&c);
    return NULL;
}

/* Wait (for an event, with a generous cap) until the server reports n
 * long polls waiting. */
static void wait_longpolls(const rbxc_server *s, double n)
{
    rbxc_conn c;
    rbxc_conn_init(&c, s, DIR_);
    rbxc_conn *save = &C;
    (void)save;
    for (int i = 0; i < 3000; i++) {
        rbxc_resp r;
        rbxc_call(&c, NULL, "GET", "/metrics", NULL, 0, NULL, &r);
        const char *k = strstr(r.body ? r.body : "", "\nrbxd_longpoll_waiting ");
        double v = k ? strtod(k + 23, NULL) : -1;
        rbxc_resp_free(&r);
        if (v >= n) {
            rbxc_conn_free(&c);
            return;
        }
        usleep(10000);
    }
    rbxc_conn_free(&c);
    ck_abort_msg("the long poll never started waiting");
}

START_TEST(long_poll_wakes_across_processes)
{
    up(NULL);
    rbxc_server S2;
    int two = rbxc_backend_is_pg();
    if (two) ck_assert_int_eq(rbxc_server_start(&S2, DIR_, DB, NULL), 0);
    rbxc_dev a, b;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&b, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 0), 200);
    /* b waits (on the second process if there is one); a sends through the
     * first: the wait ends with the message. */
    poller p = {.dev = &b, .srv = two ? &S2 : &S, .query = "?wait=30"};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_longpolls(p.srv, 1);
    uint8_t mid[16];
    mid_of(mid, 1);
    call_expect(&a, "POST", "/v1/messages",
                send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "wake up"))), 200, NULL);
    pthread_join(th, NULL);
    EXPECT(p.r, 200, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(p.r.json, "items")), 1);
    rbxc_resp_free(&p.r);
    /* A wait with nothing arriving returns empty when it ends. */
    fetch(&b, "?wait=1&after=1000000", &p.r);
    EXPECT(p.r, 200, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(p.r.json, "items")), 0);
    rbxc_resp_free(&p.r);
    if (two) {
        int st = rbxc_server_stop(&S2);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    rbxc_dev_free(&a);
    rbxc_dev_free(&b);
    down();
}
END_TEST

START_TEST(retention_expires_mailboxes)
{
    const char *extra[] = {"--retention", "30d", NULL};
    up(extra);
    rbxc_dev a, b;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&b, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 0), 200);
    uint8_t mid[16];
    mid_of(mid, 1);
    call_expect(&a, "POST", "/v1/messages",
                send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "old"))), 200, NULL);
    rbxc_clock_set(DIR_, T0 + 10 * 86400);
    mid_of(mid, 2);
    call_expect(&a, "POST", "/v1/messages",
                send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "new"))), 200, NULL);
    /* At 30 days minus a second both are there; at 30 days the first is gone. */
    rbxc_clock_set(DIR_, T0 + 30 * 86400 - 1);
    ck_assert_uint_eq(mailbox_count(&b), 2);
    rbxc_clock_set(DIR_, T0 + 30 * 86400 + 1);
    ck_assert_uint_eq(mailbox_count(&b), 1);
    /* The sweep (SIGUSR1 runs one now) deletes it and its idempotency record. */
    double sweeps = metric("rbxd_sweeps_total");
    kill(S.pid, SIGUSR1);
    for (int i = 0; i < 2000 && metric("rbxd_sweeps_total") <= sweeps; i++) usleep(10000);
    ck_assert_double_eq(metric("rbxd_expired_messages_total"), 1);
    ck_assert_double_eq(metric("rbxd_mailbox_messages"), 1);
    /* After 40 days the second goes too. */
    rbxc_clock_set(DIR_, T0 + 41 * 86400);
    ck_assert_uint_eq(mailbox_count(&b), 0);
    /* The first message id, its record expired, may be sent again. */
    mid_of(mid, 1);
    rbxc_resp r;
    rbxc_call_json(&C, &a, "POST", "/v1/messages",
                   send_body(mid, "bob", json_pack("[o]", env_for(&b, b.regid, "again"))), NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert(json_is_false(json_object_get(r.json, "duplicate")));
    rbxc_resp_free(&r);
    rbxc_dev_free(&a);
    rbxc_dev_free(&b);
    down();
}
END_TEST

/* ---------------------------------------------------------------- device changes */

START_TEST(remove_rotate_reregister)
{
    up(NULL);
    rbxc_dev a1, a2, b;
    rbxc_list la, lb;
    rbxc_dev_new(&a1, "alice");
    rbxc_dev_new(&a2, "alice");
    rbxc_dev_new(&b, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a1, &la, 2), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &a2, &a1, &la, 3), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 0), 200);
    uint8_t mid[16];
    mid_of(mid, 1);
    call_expect(&b, "POST", "/v1/messages",
                send_body(mid, "alice", json_pack("[o,o]", env_for(&a1, a1.regid, "1"),
                                                  env_for(&a2, a2.regid, "2"))),
                200, NULL);
    ck_assert_double_eq(metric("rbxd_prekeys_available"), 5);
    /* Re-registration: a new state behind a2's key, a new registration id;
     * a sender with the old one is told it is stale. */
    uint32_t old = a2.regid;
    a2.regid = old == 7 ? 8 : 7;
    uint8_t bun[RBX_BUNDLE_MAXBYTES];
    size_t bl = rbxc_base_bundle(&a2, bun);
    rbxc_resp r;
    rbxc_call_json(&C, &a2, "POST", "/v1/users/alice/devices",
                   json_pack("{s:I, s:o}", "registration_id", (json_int_t)a2.regid, "bundle",
                             rbxc_b64(bun, bl)),
                   NULL, &r);
    EXPECT(r, 200, NULL);
    ck_assert_int_eq(jint(r.json, "registration_id"), a2.regid);
    rbxc_resp_free(&r);
    ck_assert_int_eq(key_count(&a2), 0);
    mid_of(mid, 2);
    rbxc_call_json(&C, &b, "POST", "/v1/messages",
                   send_body(mid, "alice", json_pack("[o,o]", env_for(&a1, a1.regid, "1"),
                                                     env_for(&a2, old, "2"))),
                   NULL, &r);
    EXPECT(r, 409, "device_mismatch");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "stale")), 1);
    rbxc_resp_free(&r);
    /* Rotation of a1's key: the entry and the new key's bundle. Requests
     * signed with the old key fail afterwards; the new key works; the old
     * one-time prekeys went. */
    uint8_t npk[32], nsk[32];
    ck_assert_int_eq(rbx_keypair_generate(npk, nsk), 0);
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    rbxc_list lr = la;
    size_t n = rbxc_entry(ent, &lr, RBX_DEVLIST_ROTATE, a1.id, npk, RBX_SIGNER_DEVICE, a1.pk, a1.sk,
                          nsk, T0);
    rbxc_dev a1new = a1;
    memcpy(a1new.pk, npk, 32);
    memcpy(a1new.sk, nsk, 32);
    ck_assert_int_eq(rbx_prekeys_new(&a1new.pre, npk, nsk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(a1new.pre, 1, NULL), 0);
    bl = rbxc_base_bundle(&a1new, bun);
    /* Without the bundle, or with the old key's: refused. */
    call_expect(&a1, "POST", "/v1/users/alice/devicelist", json_pack("{s:o}", "entry", rbxc_b64(ent, n)),
                422, "invalid_bundle");
    uint8_t oldb[RBX_BUNDLE_MAXBYTES];
    size_t obl = rbxc_base_bundle(&a1, oldb);
    call_expect(&a1, "POST", "/v1/users/alice/devicelist",
                json_pack("{s:o, s:o}", "entry", rbxc_b64(ent, n), "bundle", rbxc_b64(oldb, obl)), 422,
                "invalid_bundle");
    call_expect(&a1, "POST", "/v1/users/alice/devicelist",
                json_pack("{s:o, s:o}", "entry", rbxc_b64(ent, n), "bundle", rbxc_b64(bun, bl)), 200, NULL);
    la = lr;
    char p[200];
    rbxc_path(p, sizeof p, &a1, "keys");
    call_expect(&a1, "GET", p, NULL, 401, "bad_signature");
    call_expect(&a1new, "GET", p, NULL, 200, NULL);
    ck_assert_int_eq(key_count(&a1new), 0);
    /* A replayed rotation (the same entry again) is a conflict. */
    call_expect(&a1new, "POST", "/v1/users/alice/devicelist",
                json_pack("{s:o, s:o}", "entry", rbxc_b64(ent, n), "bundle", rbxc_b64(bun, bl)), 409,
                "devlist_conflict");
    /* Removal of a2 by a1: its mailbox and prekeys go; it gets 403; senders
     * that still name it get 409 extra. */
    ck_assert_int_eq(rbxc_upload_otks(&C, &a2, 4), 200);
    ck_assert_uint_eq(mailbox_count(&a2), 1);
    n = rbxc_entry(ent, &la, RBX_DEVLIST_REMOVE, a2.id, a2.pk, RBX_SIGNER_DEVICE, a1new.pk, a1new.sk,
                   NULL, T0);
    call_expect(&a1new, "POST", "/v1/users/alice/devicelist", json_pack("{s:o}", "entry", rbxc_b64(ent, n)),
                200, NULL);
    rbxc_path(p, sizeof p, &a2, "mailbox");
    call_expect(&a2, "GET", p, NULL, 403, "device_removed");
    ck_assert_double_eq(metric("rbxd_prekeys_available"), 0);
    ck_assert_double_eq(metric("rbxd_mailbox_messages"), 1);
    ck_assert_double_eq(metric("rbxd_devices"), 2);
    mid_of(mid, 3);
    rbxc_call_json(&C, &b, "POST", "/v1/messages",
                   send_body(mid, "alice", json_pack("[o,o]", env_for(&a1, a1.regid, "1"),
                                                     env_for(&a2, a2.regid, "2"))),
                   NULL, &r);
    EXPECT(r, 409, "device_mismatch");
    ck_assert_int_eq(jint(json_array_get(json_object_get(r.json, "extra"), 0), "device"), a2.id);
    rbxc_resp_free(&r);
    /* The last device cannot be removed (the list would verify no more). */
    rbxc_list lx = la;
    n = rbxc_entry(ent, &lx, RBX_DEVLIST_REMOVE, a1.id, npk, RBX_SIGNER_DEVICE, npk, nsk, NULL, T0);
    call_expect(&a1new, "POST", "/v1/users/alice/devicelist", json_pack("{s:o}", "entry", rbxc_b64(ent, n)),
                422, "devlist_refused");
    /* The list a peer fetches verifies and names one device with the new key. */
    rbxc_call(&C, &b, "GET", "/v1/users/alice/devicelist", NULL, 0, NULL, &r);
    EXPECT(r, 200, NULL);
    json_t *ents = json_object_get(r.json, "entries");
    size_t ne = json_array_size(ents);
    ck_assert_uint_eq(ne, 4);
    uint8_t *eb[4];
    size_t el[4];
    for (size_t i = 0; i < ne; i++) eb[i] = rbxc_unb64(json_object_get(json_array_get(ents, i), "entry"), &el[i]);
    rbx_devlist list;
    ck_assert_int_eq(rbx_devlist_verify(&list, "alice", (const uint8_t *const *)eb, el, ne, NULL, NULL), 0);
    ck_assert_uint_eq(list.ndevices, 1);
    ck_assert_mem_eq(list.devices[0].identity, npk, 32);
    for (size_t i = 0; i < ne; i++) free(eb[i]);
    rbxc_resp_free(&r);
    sodium_memzero(nsk, sizeof nsk);
    rbx_prekeys_free(a1new.pre);
    rbxc_dev_free(&a1);
    rbxc_dev_free(&a2);
    rbxc_dev_free(&b);
    down();
}
END_TEST

/* ---------------------------------------------------------------- crashes, drain, TLS */

#define NSENDERS 4

typedef struct sender {
    const rbxc_dev *from;
    const rbxc_dev *to1, *to2;
    const rbxc_server *srv;
    unsigned base;
    unsigned accepted[4096];
    size_t naccepted;
    atomic_size_t *total;
} sender;

static void *send_loop(void *arg)
{
    sender *s = arg;
    rbxc_conn c;
    rbxc_conn_init(&c, s->srv, DIR_);
    for (unsigned k = 0; k < 4096; k++) {
        uint8_t mid[16];
        mid_of(mid, s->base + k);
        rbxc_resp r;
        rbxc_call_json(&c, s->from, "POST", "/v1/messages",
                       send_body(mid, s->to1->user, json_pack("[o,o]", env_for(s->to1, s->to1->regid, "a"),
                                                               env_for(s->to2, s->to2->regid, "b"))),
                       NULL, &r);
        long st = r.status;
        rbxc_resp_free(&r);
        if (st == 200) {
            s->accepted[s->naccepted++] = s->base + k;
            atomic_fetch_add(s->total, 1);
        } else
            break; /* the server is gone */
    }
    rbxc_conn_free(&c);
    return NULL;
}

/* Every message id in d's mailbox, drained with acks, into ids (sorted). */
static size_t drain_ids(rbxc_conn *c, const rbxc_dev *d, unsigned *ids, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char p[300];
        rbxc_path(p, sizeof p, d, "mailbox?limit=500");
        rbxc_resp r;
        rbxc_call(c, d, "GET", p, NULL, 0, NULL, &r);
        EXPECT(r, 200, NULL);
        json_t *items = json_object_get(r.json, "items");
        if (json_array_size(items) == 0) {
            rbxc_resp_free(&r);
            break;
        }
        json_t *ack = json_array();
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            size_t ml;
            uint8_t *m = rbxc_unb64(json_object_get(it, "message_id"), &ml);
            ck_assert_uint_eq(ml, 16);
            ck_assert_uint_lt(n, cap);
            ids[n++] = ((unsigned)m[12] << 24) | ((unsigned)m[13] << 16) | ((unsigned)m[14] << 8) | m[15];
            free(m);
            json_array_append_new(ack, json_integer(jint(it, "id")));
        }
        rbxc_resp_free(&r);
        rbxc_path(p, sizeof p, d, "mailbox/ack");
        rbxc_call_json(c, d, "POST", p, json_pack("{s:o}", "ids", ack), NULL, &r);
        EXPECT(r, 200, NULL);
        rbxc_resp_free(&r);
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: small n */
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            unsigned t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    return n;
}

START_TEST(sigkill_during_sends_loses_nothing)
{
    up(NULL);
    rbxc_dev a, b1, b2;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice");
    rbxc_dev_new(&b1, "bob");
    rbxc_dev_new(&b2, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 0), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b1, &lb, 0), 200);
    ck_assert_int_eq(rbxc_enroll_linked(&C, &b2, &b1, &lb, 0), 200);
    static sender s[NSENDERS];
    atomic_size_t total = 0;
    pthread_t th[NSENDERS];
    for (int i = 0; i < NSENDERS; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i] = (sender){.from = &a, .to1 = &b1, .to2 = &b2, .srv = &S, .base = 100000u * (unsigned)(i + 1),
                        .total = &total};
        ck_assert_int_eq(pthread_create(&th[i], NULL, send_loop, &s[i]), 0);
    }
    /* Kill once 200 sends were accepted, while the others are in flight. */
    while (atomic_load(&total) < 200) usleep(1000);
    pid_t dead = S.pid;
    rbxc_server_kill(&S);
    for (int i = 0; i < NSENDERS; i++) pthread_join(th[i], NULL);
    ck_assert_int_ne(dead, 0);
    /* Restart on the same database. */
    ck_assert_int_eq(rbxc_server_start(&S, DIR_, DB, NULL), 0);
    rbxc_conn_free(&C);
    rbxc_conn_init(&C, &S, DIR_);
    static unsigned got1[20000], got2[20000];
    size_t n1 = drain_ids(&C, &b1, got1, 20000), n2 = drain_ids(&C, &b2, got2, 20000);
    /* None half-delivered: both devices hold exactly the same messages. */
    ck_assert_uint_eq(n1, n2);
    for (size_t i = 0; i < n1; i++) ck_assert_uint_eq(got1[i], got2[i]);
    for (size_t i = 1; i < n1; i++) ck_assert_uint_ne(got1[i], got1[i - 1]);
    /* None lost: every accepted message is there. */
    size_t acc = 0;
    for (int i = 0; i < NSENDERS; i++)
        for (size_t k = 0; k < s[i].naccepted; k++) {
            unsigned id = s[i].accepted[k];
            size_t lo = 0, hi = n1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (got1[mid] < id) lo = mid + 1;
                else hi = mid;
            }
            ck_assert_msg(lo < n1 && got1[lo] == id, "accepted message %u lost", id);
            acc++;
        }
    ck_assert_uint_ge(acc, 200);
    /* At most one unanswered commit per sender beyond what was accepted. */
    ck_assert_uint_le(n1, acc + NSENDERS);
    rbxc_dev_free(&a);
    rbxc_dev_free(&b1);
    rbxc_dev_free(&b2);
    down();
}
END_TEST

START_TEST(sigterm_drains)
{
    up(NULL);
    rbxc_dev b;
    rbxc_list lb;
    rbxc_dev_new(&b, "bob");
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 0), 200);
    poller p = {.dev = &b, .srv = &S, .query = "?wait=30"};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_longpolls(&S, 1);
    /* SIGTERM: the waiting fetch is answered (empty) before rbxd exits 0. */
    int st = rbxc_server_stop(&S);
    pthread_join(th, NULL);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT(p.r, 200, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(p.r.json, "items")), 0);
    rbxc_resp_free(&p.r);
    /* Nothing listens any more. */
    rbxc_resp r;
    rbxc_call(&C, NULL, "GET", "/healthz", NULL, 0, NULL, &r);
    ck_assert_int_lt(r.status, 0);
    rbxc_resp_free(&r);
    rbxc_dev_free(&b);
    ck_assert_int_eq(rbxc_server_start(&S, DIR_, DB, NULL), 0);
    rbxc_conn_free(&C);
    rbxc_conn_init(&C, &S, DIR_);
    down();
}
END_TEST

START_TEST(https_serves)
{
    char dir[512], cmd[2048], cert[600], key[600];
    rbxc_tmpdir(dir, sizeof dir, "tls");
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '%s' "
             "-out '%s' -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
             ">/dev/null 2>&1",
             key, cert);
    ck_assert_int_eq(system(cmd), 0);
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    up(extra);
    char base[64];
    snprintf(base, sizeof base, "https://127.0.0.1:%d", S.port);
    C.base = base;
    C.cainfo = cert;
    call_expect(NULL, "GET", "/healthz", NULL, 200, NULL);
    rbxc_dev a;
    rbxc_list l;
    rbxc_dev_new(&a, "alice");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &l, 1), 200);
    ck_assert_int_eq(key_count(&a), 1);
    /* Plain HTTP on the TLS port gets no answer. */
    C.base = NULL;
    rbxc_resp r;
    rbxc_call(&C, NULL, "GET", "/healthz", NULL, 0, NULL, &r);
    ck_assert_int_ne(r.status, 200);
    rbxc_resp_free(&r);
    rbxc_dev_free(&a);
    down();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST



/* ---------------------------------------------------------------- units: group commit, GCRA, auth header */

/* A storage backend that only counts: writes go to `pending` inside a
 * transaction and to `committed` at its commit; begin can be held shut so
 * that the test controls what queues up. */
struct db {
    int dummy;
};
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold;              /* begin waits while set */
    int in_begin;
    int fail_commits;      /* the next n commits fail */
    unsigned pending[64], committed[256];
    size_t npending, ncommitted;
    unsigned begins, commits, rollbacks;
} M = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {0}, {0}, 0, 0, 0, 0, 0};

static int mock_begin(db *d)
{
    (void)d;
    pthread_mutex_lock(&M.mu);
    M.begins++;
    M.in_begin = 1;
    pthread_cond_broadcast(&M.cv);
    while (M.hold) pthread_cond_wait(&M.cv, &M.mu);
    M.in_begin = 0;
    M.npending = 0;
    pthread_mutex_unlock(&M.mu);
    return DB_OK;
}

static int mock_commit(db *d)
{
    (void)d;
    pthread_mutex_lock(&M.mu);
    int fail = M.fail_commits > 0;
    if (fail) M.fail_commits--;
    else {
        for (size_t i = 0; i < M.npending; i++) M.committed[M.ncommitted++] = M.pending[i];
        M.commits++;
    }
    M.npending = 0;
    pthread_mutex_unlock(&M.mu);
    return fail ? DB_FAIL : DB_OK;
}

static void mock_rollback(db *d)
{
    (void)d;
    pthread_mutex_lock(&M.mu);
    M.npending = 0;
    M.rollbacks++;
    pthread_mutex_unlock(&M.mu);
}

static void mock_close(db *d) { free(d); }

static const db_ops mock_ops = {.name = "mock", .begin = mock_begin, .commit = mock_commit,
                                .rollback = mock_rollback, .close = mock_close};

typedef struct mock_write {
    unsigned id;
    int fail;    /* run returns DB_FAIL */
    cq_op op;
    cq *q;
    int rc;
} mock_write;

static int mock_run(db *d, void *ctx)
{
    (void)d;
    mock_write *w = ctx;
    if (w->fail) return DB_FAIL;
    pthread_mutex_lock(&M.mu);
    M.pending[M.npending++] = w->id;
    pthread_mutex_unlock(&M.mu);
    return DB_OK;
}

static void *mock_submit(void *arg)
{
    mock_write *w = arg;
    w->op = (cq_op){mock_run, w, 0, 0, NULL};
    w->rc = cq_submit(w->q, &w->op);
    return NULL;
}

static size_t count_committed(unsigned id)
{
    size_t n = 0;
    for (size_t i = 0; i < M.ncommitted; i++) n += M.committed[i] == id;
    return n;
}

START_TEST(group_commit_groups_and_isolates_failures)
{
    metrics_init();
    cq *q;
    ck_assert_int_eq(cq_start(&q, &mock_ops, calloc(1, sizeof(db)), 64), 0);
    /* Write 0 enters a group and is held in begin; 10 more queue behind it
     * and must all go into the next group: 2 groups, 2 commits. */
    pthread_mutex_lock(&M.mu);
    M.hold = 1;
    pthread_mutex_unlock(&M.mu);
    static mock_write w[16];
    pthread_t th[16];
    for (unsigned i = 0; i < 11; i++) {
        w[i] = (mock_write){.id = i + 1, .q = q};
        ck_assert_int_eq(pthread_create(&th[i], NULL, mock_submit, &w[i]), 0);
        if (i == 0) {
            pthread_mutex_lock(&M.mu);
            while (!M.in_begin) pthread_cond_wait(&M.cv, &M.mu);
            pthread_mutex_unlock(&M.mu);
        }
    }
    cq_stats st;
    for (;;) {
        cq_get_stats(q, &st);
        if (st.queued == 10) break;
        usleep(1000);
    }
    pthread_mutex_lock(&M.mu);
    M.hold = 0;
    pthread_cond_broadcast(&M.cv);
    pthread_mutex_unlock(&M.mu);
    for (unsigned i = 0; i < 11; i++) pthread_join(th[i], NULL);
    for (unsigned i = 0; i < 11; i++) ck_assert_int_eq(w[i].rc, DB_OK);
    cq_get_stats(q, &st);
    ck_assert_uint_eq(st.groups, 2);
    ck_assert_uint_eq(st.ops, 11);
    ck_assert_uint_eq(M.commits, 2);
    ck_assert_uint_eq(M.ncommitted, 11);
    for (unsigned i = 1; i <= 11; i++) ck_assert_uint_eq(count_committed(i), 1);
    /* A group of three whose middle write fails: the group is rolled back,
     * each write runs alone, the good ones commit once, the bad one fails. */
    pthread_mutex_lock(&M.mu);
    M.hold = 1;
    M.ncommitted = 0;
    M.commits = 0;
    pthread_mutex_unlock(&M.mu);
    w[11] = (mock_write){.id = 100, .q = q};
    ck_assert_int_eq(pthread_create(&th[11], NULL, mock_submit, &w[11]), 0);
    pthread_mutex_lock(&M.mu);
    while (!M.in_begin) pthread_cond_wait(&M.cv, &M.mu);
    pthread_mutex_unlock(&M.mu);
    for (unsigned i = 12; i < 15; i++) {
        w[i] = (mock_write){.id = 100 + i, .q = q, .fail = i == 13};
        ck_assert_int_eq(pthread_create(&th[i], NULL, mock_submit, &w[i]), 0);
    }
    for (;;) {
        cq_get_stats(q, &st);
        if (st.queued == 3) break;
        usleep(1000);
    }
    pthread_mutex_lock(&M.mu);
    M.hold = 0;
    pthread_cond_broadcast(&M.cv);
    pthread_mutex_unlock(&M.mu);
    for (unsigned i = 11; i < 15; i++) pthread_join(th[i], NULL);
    ck_assert_int_eq(w[11].rc, DB_OK);
    ck_assert_int_eq(w[12].rc, DB_OK);
    ck_assert_int_eq(w[13].rc, DB_FAIL);
    ck_assert_int_eq(w[14].rc, DB_OK);
    ck_assert_uint_eq(count_committed(100), 1);
    ck_assert_uint_eq(count_committed(112), 1);
    ck_assert_uint_eq(count_committed(113), 0);
    ck_assert_uint_eq(count_committed(114), 1);
    cq_get_stats(q, &st);
    ck_assert_uint_eq(st.fallbacks, 1);
    ck_assert_uint_eq(st.failures, 1);
    /* A commit that fails once (a deadlock, say): the write is retried alone
     * and commits; nothing is committed twice. */
    pthread_mutex_lock(&M.mu);
    M.fail_commits = 1;
    M.ncommitted = 0;
    pthread_mutex_unlock(&M.mu);
    w[15] = (mock_write){.id = 200, .q = q};
    mock_submit(&w[15]);
    ck_assert_int_eq(w[15].rc, DB_OK);
    ck_assert_uint_eq(count_committed(200), 1);
    ck_assert_uint_eq(M.ncommitted, 1);
    cq_stop(q);
}
END_TEST

START_TEST(gcra_and_auth_header_units)
{
    int64_t tat = 0, ra;
    /* Burst 3, one per 10 s: three at once, the fourth waits 10 s. */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(db_gcra(tat, 1000, 3, 10, &tat, &ra), 1);
    ck_assert_int_eq(tat, 1030);
    ck_assert_int_eq(db_gcra(tat, 1000, 3, 10, &tat, &ra), 0);
    ck_assert_int_eq(ra, 10);
    ck_assert_int_eq(tat, 1030);
    ck_assert_int_eq(db_gcra(tat, 1009, 3, 10, &tat, &ra), 0);
    ck_assert_int_eq(ra, 1);
    ck_assert_int_eq(db_gcra(tat, 1010, 3, 10, &tat, &ra), 1);
    ck_assert_int_eq(tat, 1040);
    /* A long pause refills the burst, never more. */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(db_gcra(tat, 5000, 3, 10, &tat, &ra), 1);
    ck_assert_int_eq(db_gcra(tat, 5000, 3, 10, &tat, &ra), 0);
    /* Interval 0: unlimited. */
    tat = 0;
    for (int i = 0; i < 100; i++) ck_assert_int_eq(db_gcra(tat, 7, 1, 0, &tat, &ra), 1);

    auth_hdr h;
    const char *ok = "RBX-Sig nonce=\"AAECAwQFBgcICQoLDA0ODw==\" ,  ts=0,user=\"a.b@c-d\", device=2147483647, "
                     "sig=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\"";
    ck_assert_int_eq(auth_parse(&h, ok, strlen(ok)), 0);
    ck_assert_str_eq(h.user, "a.b@c-d");
    ck_assert_uint_eq(h.device, 2147483647u);
    ck_assert_uint_eq(h.ts, 0);
    ck_assert_uint_eq(h.nonce[15], 15);
    ck_assert_uint_eq(h.sig[63], 63);
    static const char *const bad[] = {
        "rbx-sig user=\"a\", device=1, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"x\"",
        "RBX-Sig user=\"a\", device=2147483648, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"AA==\"",
        "RBX-Sig user=\"A\", device=1, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"AA==\"",
        "RBX-Sig user=a, device=1, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"AA==\"",
        "RBX-Sig user=\"a\", device=01, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"AA==\"",
        "RBX-Sig user=\"a\", device=1, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODx==\", sig=\"AA==\"",
        "RBX-Sig user=\"a\\\"\", device=1, ts=1, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"AA==\"",
        "RBX-Sig user=\"a\", device=1, ts=9223372036854775808, nonce=\"AAECAwQFBgcICQoLDA0ODw==\", sig=\"AA==\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(auth_parse(&h, bad[i], strlen(bad[i])) == -1, "accepted case %zu", i);
    /* Trailing comma, unknown parameter, a second user. */
    char buf[600];
    snprintf(buf, sizeof buf, "%s,", ok);
    ck_assert_int_eq(auth_parse(&h, buf, strlen(buf)), -1);
    snprintf(buf, sizeof buf, "%s, x=\"1\"", ok);
    ck_assert_int_eq(auth_parse(&h, buf, strlen(buf)), -1);
    snprintf(buf, sizeof buf, "%s, user=\"b\"", ok);
    ck_assert_int_eq(auth_parse(&h, buf, strlen(buf)), -1);
    /* Base64 is canonical: unused bits must be zero. */
    uint8_t out[4];
    size_t n;
    ck_assert_int_eq(b64_decode(out, sizeof out, &n, "AA==", 4), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(b64_decode(out, sizeof out, &n, "AB==", 4), -1);
    ck_assert_int_eq(b64_decode(out, sizeof out, &n, "AA=", 3), -1);
    ck_assert_int_eq(b64_decode(out, 2, &n, "AAAAAA==", 8), -2);
}
END_TEST

/* ---------------------------------------------------------------- configuration, logs */

static char *run_capture(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) n += k;
    buf[n] = '\0';
    *status = pclose(p);
    return buf;
}

static const char *rbxd_bin(void)
{
    static char bin[1024];
    const char *e = getenv("RBXD");
    snprintf(bin, sizeof bin, "%s", e ? e : RBX_SRCDIR "/build/rbxd");
    return bin;
}

START_TEST(config_sample_and_refusals)
{
    /* The sample file holds exactly the defaults (db aside). */
    char cmd[2048];
    int st;
    snprintf(cmd, sizeof cmd, "'%s' --print-config | grep -v '^db '", rbxd_bin());
    char *dflt = run_capture(cmd, &st);
    ck_assert_int_eq(st, 0);
    snprintf(cmd, sizeof cmd, "'%s' --config '%s/server/rbxd.conf.sample' --print-config | grep -v '^db '",
             rbxd_bin(), RBX_SRCDIR);
    char *sample = run_capture(cmd, &st);
    ck_assert_int_eq(st, 0);
    ck_assert_ptr_nonnull(strstr(dflt, "retention = 2592000\n"));
    ck_assert_str_eq(sample, dflt);
    free(dflt);
    free(sample);
    /* Refused settings: exit 64, nothing started. A password on the
     * command line is refused and not echoed. */
    static const char *const bad[] = {
        "--db postgresql://u:hunter2@localhost/x", "--retention 1", "--enroll everyone",
        "--enroll org", "--tls-cert /x", "--max-body 1K", "--frobnicate 3", "--skew 5x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' %s --print-config 2>&1", rbxd_bin(), bad[i]);
        char *out = run_capture(cmd, &st);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 64, "'%s' gave %d", bad[i], st);
        ck_assert_ptr_null(strstr(out, "hunter2"));
        free(out);
    }
}
END_TEST

START_TEST(logs_hold_no_request_data)
{
    const char *extra[] = {"--log", "requests", NULL};
    up(extra);
    rbxc_dev a, b;
    rbxc_list la, lb;
    rbxc_dev_new(&a, "alice-secretive");
    rbxc_dev_new(&b, "bob-secretive");
    ck_assert_int_eq(rbxc_enroll_first(&C, &a, &la, 1), 200);
    ck_assert_int_eq(rbxc_enroll_first(&C, &b, &lb, 1), 200);
    uint8_t mid[16];
    mid_of(mid, 1);
    call_expect(&a, "POST", "/v1/messages",
                send_body(mid, "bob-secretive", json_pack("[o]", env_for(&b, b.regid, "SECRET-BODY-BYTES"))),
                200, NULL);
    call_expect(&a, "POST", "/v1/messages", json_pack("{s:s}", "x", "SECRET-IN-BAD-JSON"), 400, "bad_request");
    rbxc_opts o = {.bad_sig = 1};
    rbxc_resp r;
    rbxc_call(&C, &a, "GET", "/v1/users/alice-secretive/devicelist", NULL, 0, &o, &r);
    EXPECT(r, 401, "bad_signature");
    rbxc_resp_free(&r);
    ck_assert_uint_eq(mailbox_count(&b), 1);
    /* The log has a line per request, and none of the request's data. */
    FILE *f = fopen(S.log, "r");
    ck_assert_ptr_nonnull(f);
    static char logbuf[1 << 16];
    size_t n = fread(logbuf, 1, sizeof logbuf - 1, f);
    fclose(f);
    logbuf[n] = '\0';
    ck_assert_ptr_nonnull(strstr(logbuf, "rbxd: POST send 200 "));
    ck_assert_ptr_nonnull(strstr(logbuf, "rbxd: POST send 400 "));
    ck_assert_ptr_nonnull(strstr(logbuf, "rbxd: GET devicelist_get 401 "));
    static const char *const never[] = {"secretive", "SECRET", "U0VDUkVU", "RBX-Sig", "/v1/", "nonce"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        ck_assert_msg(strstr(logbuf, never[i]) == NULL, "log holds '%s'", never[i]);
    char b64[45];
    rbx_key_to_base64(b64, a.pk);
    ck_assert_ptr_null(strstr(logbuf, b64));
    rbxc_dev_free(&a);
    rbxc_dev_free(&b);
    down();
}
END_TEST

static Suite *suite_rbxd(void)
{
    Suite *s = suite_create("rbxd");
    TCase *t = tcase_create("api");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, healthz_metrics_and_routing);
    tcase_add_test(t, bad_bodies_change_nothing);
    tcase_add_test(t, enroll_open_and_devicelist);
    tcase_add_test(t, enroll_policies);
    tcase_add_test(t, auth_refusals);
    tcase_add_test(t, keys_upload_rules);
    tcase_add_test(t, claims_and_rate_limit);
    tcase_add_test(t, send_device_set_and_idempotency);
    tcase_add_test(t, targeted_sends);
    tcase_add_test(t, device_links);
    tcase_add_test(t, mailbox_paging_ack_and_limits);
    tcase_add_test(t, long_poll_wakes_across_processes);
    tcase_add_test(t, retention_expires_mailboxes);
    tcase_add_test(t, remove_rotate_reregister);
    tcase_add_test(t, https_serves);
    tcase_add_test(t, config_sample_and_refusals);
    tcase_add_test(t, logs_hold_no_request_data);
    suite_add_tcase(s, t);
    TCase *c = tcase_create("concurrency");
    tcase_set_timeout(c, 300);
    tcase_add_test(c, claims_concurrent_exactly_once);
    tcase_add_test(c, sigkill_during_sends_loses_nothing);
    tcase_add_test(c, sigterm_drains);
    suite_add_tcase(s, c);
    TCase *u = tcase_create("units");
    tcase_add_test(u, group_commit_groups_and_isolates_failures);
    tcase_add_test(u, gcra_and_auth_header_units);
    suite_add_tcase(s, u);
    return s;
}

int main(void)
{
    if (rbx_init() != 0 || curl_global_init(CURL_GLOBAL_ALL) != 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    printf("rbxd suite on %s\n", rbxc_backend_is_pg() ? "PostgreSQL" : "SQLite");
    SRunner *sr = srunner_create(suite_rbxd());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
