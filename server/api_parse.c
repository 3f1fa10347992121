/* SPDX-License-Identifier: MIT
 * The parsers of api.h: the request target (path and query) and the JSON
 * bodies. JSON is jansson's (Debian libjansson), strict: duplicate keys,
 * unknown fields, wrong types, non-canonical base64 and out-of-range
 * numbers are refused. Fuzzed by tests/fuzz/fuzz_rbxd_request.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "auth.h"

static int fail(api_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(api_error *e, int status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---------------------------------------------------------------- target */

#define MAX_SEGS 8

/* A decimal in 1..max, without sign or leading zero. */
static int dec(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 19 || p[0] == '0') return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

static int seg_is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static int parse_query(const char *q, api_route *r, api_error *e)
{
    /* name=value pairs joined by '&'; values are decimals. */
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (eq == NULL) return fail(e, 400, "bad_request", "query: expected name=value");
        size_t nl = (size_t)(eq - q), vl = n - nl - 1;
        const char *v = eq + 1;
        uint64_t x;
        int *has;
        if (seg_is(q, nl, "after") && (r->ep == EP_MAILBOX)) {
            has = &r->has_after;
            if (!(vl == 1 && v[0] == '0') && dec(v, vl, (1ULL << 53) - 1, &x) != 0)
                return fail(e, 400, "bad_request", "after: a message id, 0 to 2^53-1");
            r->after = (vl == 1 && v[0] == '0') ? 0 : (int64_t)x;
        } else if (seg_is(q, nl, "limit") && r->ep == EP_MAILBOX) {
            has = &r->has_limit;
            if (dec(v, vl, 1000000, &x) != 0) return fail(e, 400, "bad_request", "limit: 1 or more");
            r->limit = (uint32_t)x;
        } else if (seg_is(q, nl, "wait") && r->ep == EP_MAILBOX) {
            has = &r->has_wait;
            if (!(vl == 1 && v[0] == '0') && dec(v, vl, 86400, &x) != 0)
                return fail(e, 400, "bad_request", "wait: seconds, 0 to 86400");
            r->wait = (vl == 1 && v[0] == '0') ? 0 : (uint32_t)x;
        } else if (seg_is(q, nl, "since") && r->ep == EP_DEVLIST_GET) {
            has = &r->has_since;
            if (!(vl == 1 && v[0] == '0') && dec(v, vl, (1ULL << 53) - 1, &x) != 0)
                return fail(e, 400, "bad_request", "since: a list version");
            r->since = (vl == 1 && v[0] == '0') ? 0 : x;
        } else
            return fail(e, 400, "bad_request", "unknown query parameter");
        if (*has) return fail(e, 400, "bad_request", "repeated query parameter");
        *has = 1;
        q += n;
        if (*q == '&') {
            q++;
            if (*q == '\0') return fail(e, 400, "bad_request", "query: trailing '&'");
        }
    }
    return 0;
}

int api_route_parse(const char *method, const char *target, api_route *r, api_error *e,
                    const char **allow)
{
    memset(r, 0, sizeof *r);
    memset(e, 0, sizeof *e);
    *allow = NULL;
    size_t tl = strlen(target);
    if (tl == 0 || target[0] != '/' || tl > 1024)
        return fail(e, 404, "not_found", "no such endpoint");
    const char *q = strchr(target, '?');
    size_t pl = q ? (size_t)(q - target) : tl;
    const char *seg[MAX_SEGS];
    size_t segl[MAX_SEGS], ns = 0;
    for (size_t i = 1; i <= pl;) {
        size_t j = i;
        while (j < pl && target[j] != '/') j++;
        if (ns == MAX_SEGS) return fail(e, 404, "not_found", "no such endpoint");
        seg[ns] = target + i;
        segl[ns++] = j - i;
        i = j + 1;
    }
    const char *want = NULL; /* the method the path takes */
    const char *want2 = NULL;
    api_endpoint ep = EP_UNKNOWN, ep2 = EP_UNKNOWN;
    int user_at = -1, dev_at = -1;
    if (ns == 1 && seg_is(seg[0], segl[0], "healthz")) want = "GET", ep = EP_HEALTHZ;
    else if (ns == 1 && seg_is(seg[0], segl[0], "metrics")) want = "GET", ep = EP_METRICS;
    else if (ns == 2 && seg_is(seg[0], segl[0], "v1") && seg_is(seg[1], segl[1], "messages"))
        want = "POST", ep = EP_SEND;
    else if ((ns == 3 || ns == 4) && seg_is(seg[0], segl[0], "v1") && seg_is(seg[1], segl[1], "links")) {
        /* /v1/links/{32 lowercase hex}[/request|/approval] */
        if (segl[2] != 32 || sodium_hex2bin(r->link, sizeof r->link, seg[2], 32, NULL, NULL, NULL) != 0)
            return fail(e, 404, "not_found", "no such endpoint");
        for (size_t k = 0; k < 32; k++)
            if (seg[2][k] >= 'A' && seg[2][k] <= 'F') return fail(e, 404, "not_found", "no such endpoint");
        if (ns == 3) want = "GET", ep = EP_LINK_GET;
        else if (seg_is(seg[3], segl[3], "request")) want = "PUT", ep = EP_LINK_PUT, r->link_slot = 0;
        else if (seg_is(seg[3], segl[3], "approval")) want = "PUT", ep = EP_LINK_PUT, r->link_slot = 1;
    } else if (ns >= 4 && seg_is(seg[0], segl[0], "v1") && seg_is(seg[1], segl[1], "users")) {
        user_at = 2;
        if (ns == 4 && seg_is(seg[3], segl[3], "devices")) want = "POST", ep = EP_ENROLL;
        else if (ns == 4 && seg_is(seg[3], segl[3], "devicelist"))
            want = "GET", ep = EP_DEVLIST_GET, want2 = "POST", ep2 = EP_DEVLIST_APPEND;
        else if (ns == 4 && seg_is(seg[3], segl[3], "bundles")) want = "POST", ep = EP_BUNDLES;
        else if (ns >= 6 && seg_is(seg[3], segl[3], "devices")) {
            dev_at = 4;
            if (ns == 6 && seg_is(seg[5], segl[5], "keys"))
                want = "GET", ep = EP_KEYS_GET, want2 = "PUT", ep2 = EP_KEYS_PUT;
            else if (ns == 6 && seg_is(seg[5], segl[5], "mailbox")) want = "GET", ep = EP_MAILBOX;
            else if (ns == 7 && seg_is(seg[5], segl[5], "mailbox") && seg_is(seg[6], segl[6], "ack"))
                want = "POST", ep = EP_ACK;
        }
    }
    if (want == NULL) return fail(e, 404, "not_found", "no such endpoint");
    if (strcmp(method, want) == 0) r->ep = ep;
    else if (want2 != NULL && strcmp(method, want2) == 0) r->ep = ep2;
    else {
        static const char *const allows[] = {"GET", "POST", "GET, POST", "GET, PUT"};
        *allow = want2 == NULL ? (strcmp(want, "GET") == 0 ? allows[0] : allows[1])
                               : (strcmp(want2, "POST") == 0 ? allows[2] : allows[3]);
        r->ep = ep;
        return fail(e, 405, "method_not_allowed", "method not allowed here");
    }
    if (user_at >= 0) {
        if (segl[user_at] == 0 || segl[user_at] >= sizeof r->user) {
            r->ep = EP_UNKNOWN;
            return fail(e, 400, "bad_request", "not a user id");
        }
        memcpy(r->user, seg[user_at], segl[user_at]);
        r->user[segl[user_at]] = '\0';
        if (!rbx_user_id_ok(r->user)) return fail(e, 400, "bad_request", "not a user id");
    }
    if (dev_at >= 0) {
        uint64_t d;
        if (dec(seg[dev_at], segl[dev_at], RBX_DEVICE_ID_MAX, &d) != 0)
            return fail(e, 400, "bad_request", "not a device id");
        r->device = (uint32_t)d;
    }
    if (q != NULL) {
        if (q[1] == '\0') return fail(e, 400, "bad_request", "empty query");
        if (parse_query(q + 1, r, e) != 0) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- bodies */

static int only_keys(json_t *o, const char *const *names, api_error *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        int ok = 0;
        for (size_t i = 0; names[i] != NULL; i++)
            if (strcmp(k, names[i]) == 0) ok = 1;
        if (!ok) return fail(e, 400, "bad_request", "unknown field '%.40s'", k);
    }
    return 0;
}

/* An integer field in [lo, hi]. *present = 0 if absent (an error if req). */
static int get_int(json_t *o, const char *name, int req, int64_t lo, int64_t hi, int64_t *out,
                   int *present, api_error *e)
{
    json_t *v = json_object_get(o, name);
    if (present) *present = v != NULL;
    if (v == NULL) return req ? fail(e, 400, "bad_request", "missing field '%s'", name) : 0;
    if (!json_is_integer(v)) return fail(e, 400, "bad_request", "'%s' must be an integer", name);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(e, 400, "bad_request", "'%s' out of range (%lld to %lld)", name, (long long)lo,
                    (long long)hi);
    *out = (int64_t)x;
    return 0;
}

/* A base64 string decoding to min..max bytes into a malloc'ed buffer (too
 * large: too_big_status, 413 for payloads or 400 for fixed fields). */
static int b64_value(json_t *v, const char *name, size_t min, size_t max, int too_big_status,
                     uint8_t **out, size_t *outlen, api_error *e)
{
    if (!json_is_string(v)) return fail(e, 400, "bad_request", "'%s' must be a base64 string", name);
    const char *s = json_string_value(v);
    size_t sl = json_string_length(v);
    if (sl % 4 != 0) return fail(e, 400, "bad_request", "'%s': not padded base64", name);
    size_t dl = b64_decoded_len(s, sl);
    if (dl > max)
        return fail(e, too_big_status, too_big_status == 413 ? "too_large" : "bad_request",
                    "'%s': more than %zu bytes", name, max);
    if (dl < min) return fail(e, 400, "bad_request", "'%s': fewer than %zu bytes", name, min);
    uint8_t *p = malloc(dl ? dl : 1);
    if (p == NULL) return fail(e, 500, "internal", "out of memory");
    size_t n;
    if (b64_decode(p, dl, &n, s, sl) != 0 || n != dl) {
        free(p);
        return fail(e, 400, "bad_request", "'%s': not canonical base64", name);
    }
    *out = p;
    *outlen = n;
    return 0;
}

static int get_b64(json_t *o, const char *name, int req, size_t min, size_t max, int too_big,
                   uint8_t **out, size_t *outlen, api_error *e)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL) return req ? fail(e, 400, "bad_request", "missing field '%s'", name) : 0;
    return b64_value(v, name, min, max, too_big, out, outlen, e);
}

static int b64_fixed(json_t *v, const char *name, uint8_t *out, size_t n, api_error *e)
{
    uint8_t *p = NULL;
    size_t l;
    if (b64_value(v, name, n, n, 400, &p, &l, e) != 0) return -1;
    memcpy(out, p, n);
    free(p);
    return 0;
}

static int get_user(json_t *o, const char *name, char out[RBX_USER_MAX], api_error *e)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL) return fail(e, 400, "bad_request", "missing field '%s'", name);
    if (!json_is_string(v) || json_string_length(v) >= RBX_USER_MAX ||
        !rbx_user_id_ok(json_string_value(v)) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fail(e, 400, "bad_request", "'%s' must be a user id", name);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int array_of(json_t *o, const char *name, int req, size_t max, json_t **out, api_error *e)
{
    json_t *v = json_object_get(o, name);
    *out = v;
    if (v == NULL) return req ? fail(e, 400, "bad_request", "missing field '%s'", name) : 0;
    if (!json_is_array(v)) return fail(e, 400, "bad_request", "'%s' must be an array", name);
    size_t n = json_array_size(v);
    if (n == 0) return fail(e, 400, "bad_request", "'%s' is empty", name);
    if (n > max) return fail(e, 413, "too_large", "'%s': more than %zu items", name, max);
    return 0;
}

#define ID_MAX ((int64_t)RBX_DEVICE_ID_MAX)

static int parse_otks(json_t *o, const rbxd_config *cfg, api_body *b, api_error *e)
{
    json_t *a;
    if (array_of(o, "one_time", 0, (size_t)cfg->max_prekey_batch, &a, e) != 0) return -1;
    if (a == NULL) return 0;
    size_t n = json_array_size(a);
    b->otks = calloc(n, sizeof *b->otks);
    if (b->otks == NULL) return fail(e, 500, "internal", "out of memory");
    b->has_otks = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(a, i);
        static const char *const names[] = {"id", "key", NULL};
        int64_t id;
        if (!json_is_object(it)) return fail(e, 400, "bad_request", "one_time: objects {id, key}");
        if (only_keys(it, names, e) != 0 ||
            get_int(it, "id", 1, 1, (int64_t)UINT32_MAX - 1, &id, NULL, e) != 0)
            return -1;
        json_t *k = json_object_get(it, "key");
        if (k == NULL) return fail(e, 400, "bad_request", "missing field 'key'");
        if (b64_fixed(k, "key", b->otks[i].key, RBX_PUBLICKEYBYTES, e) != 0) return -1;
        b->otks[i].id = (uint32_t)id;
        if (i > 0 && b->otks[i].id <= b->otks[i - 1].id)
            return fail(e, 400, "bad_request", "one_time: ids must be strictly ascending");
        b->notks = i + 1;
    }
    return 0;
}

static int parse_devices(json_t *o, api_body *b, api_error *e)
{
    json_t *a;
    if (array_of(o, "devices", 0, RBX_DEVLIST_MAX_DEVICES, &a, e) != 0) return -1;
    if (a == NULL) return 0;
    size_t n = json_array_size(a);
    b->devices = calloc(n, sizeof *b->devices);
    if (b->devices == NULL) return fail(e, 500, "internal", "out of memory");
    b->has_devices = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > ID_MAX)
            return fail(e, 400, "bad_request", "devices: device ids, 1 to 2^31-1");
        uint32_t d = (uint32_t)json_integer_value(v);
        for (size_t j = 0; j < i; j++)
            if (b->devices[j] == d) return fail(e, 400, "bad_request", "devices: repeated id");
        b->devices[i] = d;
        b->ndevices = i + 1;
    }
    return 0;
}

static int parse_envelopes(json_t *o, const rbxd_config *cfg, api_body *b, api_error *e)
{
    json_t *a;
    if (array_of(o, "envelopes", 1, (size_t)cfg->max_envelopes, &a, e) != 0) return -1;
    size_t n = json_array_size(a);
    b->env = calloc(n, sizeof *b->env);
    if (b->env == NULL) return fail(e, 500, "internal", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(a, i);
        static const char *const names[] = {"user", "device", "registration_id", "body", NULL};
        api_env *x = &b->env[i];
        int64_t dev, reg;
        if (!json_is_object(it)) return fail(e, 400, "bad_request", "envelopes: objects");
        if (only_keys(it, names, e) != 0 || get_user(it, "user", x->user, e) != 0 ||
            get_int(it, "device", 1, 1, ID_MAX, &dev, NULL, e) != 0 ||
            get_int(it, "registration_id", 1, 1, ID_MAX, &reg, NULL, e) != 0 ||
            get_b64(it, "body", 1, 1, (size_t)cfg->max_envelope, 413, &x->body, &x->len, e) != 0) {
            b->nenv = i + 1; /* free what was decoded */
            return -1;
        }
        x->device = (uint32_t)dev;
        x->registration_id = (uint32_t)reg;
        b->nenv = i + 1;
        for (size_t j = 0; j < i; j++)
            if (b->env[j].device == x->device && strcmp(b->env[j].user, x->user) == 0)
                return fail(e, 400, "bad_request", "envelopes: two for one device");
    }
    return 0;
}

static int parse_ids(json_t *o, const rbxd_config *cfg, api_body *b, api_error *e)
{
    json_t *a;
    if (array_of(o, "ids", 1, (size_t)cfg->fetch_max, &a, e) != 0) return -1;
    size_t n = json_array_size(a);
    b->ids = calloc(n, sizeof *b->ids);
    if (b->ids == NULL) return fail(e, 500, "internal", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > (json_int_t)((1LL << 53) - 1))
            return fail(e, 400, "bad_request", "ids: message ids, 1 to 2^53-1");
        b->ids[i] = (int64_t)json_integer_value(v);
    }
    b->nids = n;
    return 0;
}

void api_body_free(api_body *b)
{
    free(b->entry);
    free(b->bundle);
    free(b->cert);
    free(b->otks);
    free(b->devices);
    if (b->env != NULL)
        for (size_t i = 0; i < b->nenv; i++) free(b->env[i].body);
    free(b->env);
    free(b->ids);
    free(b->data);
    memset(b, 0, sizeof *b);
}

int api_body_parse(api_endpoint ep, const uint8_t *body, size_t len, const rbxd_config *cfg,
                   api_body *b, api_error *e)
{
    memset(b, 0, sizeof *b);
    memset(e, 0, sizeof *e);
    switch (ep) {
    case EP_HEALTHZ:
    case EP_METRICS:
    case EP_DEVLIST_GET:
    case EP_KEYS_GET:
    case EP_MAILBOX:
    case EP_LINK_GET:
        if (len != 0) return fail(e, 400, "bad_request", "this request takes no body");
        return 0;
    case EP_LINK_PUT:
    case EP_ENROLL:
    case EP_DEVLIST_APPEND:
    case EP_KEYS_PUT:
    case EP_BUNDLES:
    case EP_SEND:
    case EP_ACK:
        break;
    default:
        return fail(e, 404, "not_found", "no such endpoint");
    }
    if (len > cfg->max_body) return fail(e, 413, "too_large", "body larger than %llu bytes",
                                         (unsigned long long)cfg->max_body);
    json_error_t je;
    json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL) return fail(e, 400, "bad_request", "malformed JSON");
    int rc = -1;
    if (!json_is_object(o)) {
        fail(e, 400, "bad_request", "the body must be a JSON object");
        goto out;
    }
    int64_t v;
    int present;
    switch (ep) {
    case EP_ENROLL: {
        static const char *const names[] = {"entry", "registration_id", "bundle", "one_time",
                                            "certificate", NULL};
        if (only_keys(o, names, e) != 0 ||
            get_b64(o, "entry", 0, 1, RBX_DEVLIST_ENTRY_MAXBYTES, 400, &b->entry, &b->entry_len, e) != 0 ||
            get_int(o, "registration_id", 1, 1, ID_MAX, &v, NULL, e) != 0 ||
            get_b64(o, "bundle", 1, 1, RBX_BUNDLE_MAXBYTES, 400, &b->bundle, &b->bundle_len, e) != 0 ||
            get_b64(o, "certificate", 0, 1, RBX_CERT_MAXBYTES, 400, &b->cert, &b->cert_len, e) != 0 ||
            parse_otks(o, cfg, b, e) != 0)
            goto out;
        b->has_regid = 1;
        b->registration_id = (uint32_t)v;
        break;
    }
    case EP_DEVLIST_APPEND: {
        static const char *const names[] = {"entry", "bundle", "certificate", NULL};
        if (only_keys(o, names, e) != 0 ||
            get_b64(o, "entry", 1, 1, RBX_DEVLIST_ENTRY_MAXBYTES, 400, &b->entry, &b->entry_len, e) != 0 ||
            get_b64(o, "bundle", 0, 1, RBX_BUNDLE_MAXBYTES, 400, &b->bundle, &b->bundle_len, e) != 0 ||
            get_b64(o, "certificate", 0, 1, RBX_CERT_MAXBYTES, 400, &b->cert, &b->cert_len, e) != 0)
            goto out;
        break;
    }
    case EP_KEYS_PUT: {
        static const char *const names[] = {"bundle", "one_time", NULL};
        if (only_keys(o, names, e) != 0 ||
            get_b64(o, "bundle", 0, 1, RBX_BUNDLE_MAXBYTES, 400, &b->bundle, &b->bundle_len, e) != 0 ||
            parse_otks(o, cfg, b, e) != 0)
            goto out;
        if (b->bundle == NULL && !b->has_otks) {
            fail(e, 400, "bad_request", "give a bundle, one_time prekeys, or both");
            goto out;
        }
        break;
    }
    case EP_BUNDLES: {
        static const char *const names[] = {"devices", NULL};
        if (only_keys(o, names, e) != 0 || parse_devices(o, b, e) != 0) goto out;
        break;
    }
    case EP_SEND: {
        static const char *const names[] = {"message_id", "to", "envelopes", "targeted", NULL};
        json_t *m = json_object_get(o, "message_id");
        json_t *t = json_object_get(o, "targeted");
        if (only_keys(o, names, e) != 0) goto out;
        if (t != NULL && !json_is_boolean(t)) {
            fail(e, 400, "bad_request", "'targeted' must be true or false");
            goto out;
        }
        b->targeted = t != NULL && json_is_true(t);
        if (m == NULL) {
            fail(e, 400, "bad_request", "missing field 'message_id'");
            goto out;
        }
        if (b64_fixed(m, "message_id", b->message_id, sizeof b->message_id, e) != 0 ||
            get_user(o, "to", b->to, e) != 0 || parse_envelopes(o, cfg, b, e) != 0)
            goto out;
        break;
    }
    case EP_ACK: {
        static const char *const names[] = {"ids", NULL};
        if (only_keys(o, names, e) != 0 || parse_ids(o, cfg, b, e) != 0) goto out;
        break;
    }
    case EP_LINK_PUT: {
        static const char *const names[] = {"data", NULL};
        if (only_keys(o, names, e) != 0 ||
            get_b64(o, "data", 1, 1, API_LINK_DATA_MAX, 413, &b->data, &b->data_len, e) != 0)
            goto out;
        break;
    }
    default:
        break;
    }
    (void)present;
    rc = 0;
out:
    json_decref(o);
    if (rc != 0) api_body_free(b);
    return rc;
}
