/* SPDX-License-Identifier: MIT
 * The handlers of api.h. Order of checks, the same for every endpoint
 * (spec/SERVER.md section 3.4): route (404, 405, 400), Authorization header
 * present and well-formed (401), timestamp within the skew (401), body
 * (400, 413), key lookup and signature (401, 403), endpoint rules (403,
 * 422), then one write through the commit queue that records the nonce
 * (401 on a replay) together with the request's own change, so that a
 * request is either wholly applied with its nonce or not at all. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api.h"
#include "auth.h"
#include "metrics.h"
#include "notify.h"
#include "server.h"

/* ---------------------------------------------------------------- responses */

static void set_json(api_response *rs, int status, json_t *o)
{
    rs->status = status;
    rs->content_type = "application/json";
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
    if (o != NULL) {
        rs->body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (rs->body == NULL) {
            rs->status = 500;
            rs->body = strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
        }
        rs->body_len = rs->body ? strlen(rs->body) : 0;
    }
}

void api_error_response(api_response *rs, int status, const char *code, const char *message)
{
    set_json(rs, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}

static void err_from(api_response *rs, const api_error *e)
{
    api_error_response(rs, e->status, e->code, e->message);
}

/* An error with extra members: o already holds them. */
static void err_obj(api_response *rs, int status, const char *code, const char *message, json_t *o)
{
    if (o == NULL) o = json_object();
    json_object_set_new(o, "error", json_string(code));
    json_object_set_new(o, "message", json_string(message));
    set_json(rs, status, o);
}

void api_response_free(api_response *rs)
{
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    if (s == NULL) return NULL;
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_stringn_nocheck(s, cap - 1);
    free(s);
    return j;
}

/* ---------------------------------------------------------------- request context */

typedef struct ctx {
    server *S;
    const api_request *rq;
    api_response *rs;
    api_route r;
    auth_hdr a;
    api_body b;
    int64_t now;
} ctx;

/* A reader connection, or a 503 response. */
static db *reader(ctx *c)
{
    db *d = server_reader(c->S);
    if (d == NULL) api_error_response(c->rs, 503, "unavailable", "the database is unavailable");
    return d;
}

static void db_failed(ctx *c)
{
    api_error_response(c->rs, 500, "internal", "storage error; nothing was changed, retry");
}

/* Verify the signature under pk. 0, or -1 with a 401 set. */
static int check_sig(ctx *c, const uint8_t pk[RBX_PUBLICKEYBYTES])
{
    if (auth_verify(&c->a, c->rq->method, c->rq->target, c->rq->body, c->rq->body_len, pk) != 0) {
        api_error_response(c->rs, 401, "bad_signature", "the request signature does not verify");
        return -1;
    }
    return 0;
}

/* Authenticate the header's device by its stored key. 0, or -1 with the
 * response set: 401 unknown device or bad signature, 403 a removed device
 * whose (last) key signed. */
static int auth_device(ctx *c, db_device *dev)
{
    db *d = reader(c);
    if (d == NULL) return -1;
    int found = 0;
    int rc = c->S->ops->device_get(d, c->a.user, c->a.device, dev, &found);
    server_reader_put(c->S, d, rc != DB_OK);
    if (rc != DB_OK) {
        db_failed(c);
        return -1;
    }
    if (!found) {
        /* Not under this user. If the same device (its key) is enrolled
         * under another user and signed, it is a device that is not
         * enrolled here: 403; else nobody we know: 401. */
        uint8_t (*keys)[32] = NULL;
        size_t nk = 0;
        d = reader(c);
        if (d == NULL) return -1;
        rc = c->S->ops->device_keys(d, c->a.device, &keys, &nk);
        server_reader_put(c->S, d, rc != DB_OK);
        int known = 0;
        for (size_t i = 0; rc == DB_OK && i < nk && !known; i++)
            known = auth_verify(&c->a, c->rq->method, c->rq->target, c->rq->body, c->rq->body_len,
                                keys[i]) == 0;
        free(keys);
        if (rc != DB_OK) db_failed(c);
        else if (known)
            api_error_response(c->rs, 403, "not_enrolled", "this device is not enrolled under this user");
        else
            api_error_response(c->rs, 401, "unknown_device", "no such device under this user");
        return -1;
    }
    if (check_sig(c, dev->identity) != 0) return -1;
    if (!dev->active) {
        api_error_response(c->rs, 403, "device_removed", "this device was removed from its user");
        return -1;
    }
    return 0;
}

/* The path names the authenticated device (own keys, mailbox). */
static int own_device(ctx *c)
{
    if (strcmp(c->r.user, c->a.user) != 0 || c->r.device != c->a.device) {
        api_error_response(c->rs, 403, "wrong_device", "a device may only use its own keys and mailbox");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- writes */

/* One write through the commit queue: the nonce, then the request's own
 * change (if the nonce was new). */
typedef struct wr wr;
struct wr {
    ctx *c;
    int fresh;
    int (*op)(db *d, wr *w);
    /* operation arguments and results */
    db_append append;
    int append_status;
    db_keys_put keys;
    int has_keys;
    db_keys_res keys_res;
    db_rereg rereg;
    int rereg_found;
    db_claim claim;
    db_claim_res claim_res;
    db_send send;
    db_send_res send_res;
    uint64_t acked;
    int no_nonce;               /* link endpoints: no Authorization, no nonce */
    db_link_put link;
    int link_status;
};

static int wr_run(db *d, void *p)
{
    wr *w = p;
    ctx *c = w->c;
    if (w->no_nonce) {
        w->fresh = 1;
        return w->op(d, w);
    }
    int rc = c->S->ops->nonce_put(d, c->a.user, c->a.device, c->a.nonce,
                                  (int64_t)c->a.ts + (int64_t)c->S->cfg.skew + 1, &w->fresh);
    if (rc != DB_OK || !w->fresh || w->op == NULL) return rc;
    return w->op(d, w);
}

/* Submit; 0 if committed and the nonce was new, else -1 with 401/500 set. */
static int submit(ctx *c, wr *w)
{
    w->c = c;
    cq_op op = {wr_run, w, 0, 0, NULL};
    if (cq_submit(c->S->queue, &op) != DB_OK) {
        db_failed(c);
        return -1;
    }
    if (!w->fresh) {
        api_error_response(c->rs, 401, "replay", "this nonce was used before");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- bundles and keys */

/* Parse an uploaded base bundle: verified, no one-time prekey, of identity. */
static int base_bundle(ctx *c, const uint8_t *bytes, size_t len, const uint8_t identity[32],
                       db_bundle_in *out)
{
    rbx_bundle b;
    int rc = rbx_bundle_parse(&b, bytes, len);
    if (rc != 0) {
        char m[160];
        snprintf(m, sizeof m, "bundle: %s", rbx_strerror(rc));
        api_error_response(c->rs, 422, "invalid_bundle", m);
        return -1;
    }
    if (b.has_onetime) {
        api_error_response(c->rs, 422, "invalid_bundle",
                           "bundle: a base bundle carries no one-time prekey (send them in one_time)");
        return -1;
    }
    if (sodium_memcmp(b.identity, identity, 32) != 0) {
        api_error_response(c->rs, 422, "invalid_bundle", "bundle: not of this device's identity key");
        return -1;
    }
    out->bytes = bytes;
    out->len = len;
    out->spk_id = b.signed_prekey_id;
    memcpy(out->spk, b.signed_prekey, 32);
    out->spk_created = b.signed_prekey_created;
    return 0;
}

static int op_keys(db *d, wr *w)
{
    return w->c->S->ops->keys_put(d, &w->keys, &w->keys_res);
}

/* The keys_put part of enroll and re-register: run after the main change
 * in the same write (a refusal rolls back both: wr_keys_after). */
static void keys_args(ctx *c, wr *w, const db_bundle_in *bundle)
{
    static const uint8_t (*no_keys)[32] = NULL;
    w->keys.user = c->a.user;
    w->keys.device = c->a.device;
    w->keys.bundle = bundle;
    w->keys.n = c->b.notks;
    w->keys.ids = NULL;
    w->keys.keys = no_keys;
    w->keys.max_stored = (uint32_t)c->S->cfg.max_prekeys;
    w->keys.now = c->now;
}

/* The ids and keys of the parsed one-time prekeys as two arrays. */
typedef struct otk_arrays {
    uint32_t *ids;
    uint8_t (*keys)[32];
} otk_arrays;

static int otk_split(ctx *c, otk_arrays *o)
{
    size_t n = c->b.notks;
    o->ids = malloc((n ? n : 1) * sizeof *o->ids);
    o->keys = malloc((n ? n : 1) * sizeof *o->keys);
    if (o->ids == NULL || o->keys == NULL) {
        free(o->ids);
        free(o->keys);
        api_error_response(c->rs, 500, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        o->ids[i] = c->b.otks[i].id;
        memcpy(o->keys[i], c->b.otks[i].key, 32);
    }
    return 0;
}

static void keys_refusal(ctx *c, const db_keys_res *k)
{
    json_t *o = json_object();
    switch (k->status) {
    case DB_KEYS_SPK_OLD:
        json_object_set_new(o, "kind", json_string("signed_prekey"));
        json_object_set_new(o, "id", json_integer(k->bad_id));
        err_obj(c->rs, 409, "key_conflict", "signed prekey ids only increase", o);
        break;
    case DB_KEYS_SPK_CONFLICT:
        json_object_set_new(o, "kind", json_string("signed_prekey"));
        json_object_set_new(o, "id", json_integer(k->bad_id));
        err_obj(c->rs, 409, "key_conflict", "another signed prekey under a used id", o);
        break;
    case DB_KEYS_OTK_CONFLICT:
        json_object_set_new(o, "kind", json_string("one_time"));
        json_object_set_new(o, "id", json_integer(k->bad_id));
        err_obj(c->rs, 409, "key_conflict",
                "one-time prekey id at or below the highest uploaded, and not an identical re-upload", o);
        break;
    case DB_KEYS_TOO_MANY:
        json_object_set_new(o, "max", json_integer((json_int_t)c->S->cfg.max_prekeys));
        err_obj(c->rs, 422, "too_many_prekeys", "more one-time prekeys than a device may hold", o);
        break;
    default:
        json_decref(o);
        api_error_response(c->rs, 403, "device_removed", "this device is not enrolled");
        break;
    }
}

/* ---------------------------------------------------------------- device lists */

/* Load a user's whole log. */
static int load_log(ctx *c, const char *user, db_entry **ents, size_t *n, uint64_t *head)
{
    db *d = reader(c);
    if (d == NULL) return -1;
    int rc = c->S->ops->devlist_get(d, user, 0, ents, n, head);
    server_reader_put(c->S, d, rc != DB_OK);
    if (rc != DB_OK) {
        db_failed(c);
        return -1;
    }
    if (*n != *head) { /* a gap in stored rows: the database is damaged */
        db_entries_free(*ents, *n);
        *ents = NULL;
        db_failed(c);
        return -1;
    }
    return 0;
}

/* Verify the stored log extended by one entry (spec/SERVER.md 5.2): the
 * server stores nothing a client's rbx_devlist_verify would refuse. */
static int verify_extended(ctx *c, const char *user, const db_entry *ents, size_t n,
                           const uint8_t *entry, size_t elen, rbx_devlist *out)
{
    const uint8_t **ptr = malloc((n + 1) * sizeof *ptr);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    if (ptr == NULL || lens == NULL) {
        free(ptr);
        free(lens);
        api_error_response(c->rs, 500, "internal", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ptr[i] = ents[i].bytes;
        lens[i] = ents[i].len;
    }
    ptr[n] = entry;
    lens[n] = elen;
    const uint8_t *org = (c->S->cfg.enroll & ENROLL_ORG) ? c->S->cfg.org_root : NULL;
    int rc = rbx_devlist_verify(out, user, ptr, lens, n + 1, NULL, org);
    free(ptr);
    free(lens);
    if (rc != 0) {
        char m[160];
        snprintf(m, sizeof m, "the device list with this entry does not verify: %s", rbx_strerror(rc));
        api_error_response(c->rs, 422, "devlist_refused", m);
        return -1;
    }
    return 0;
}

/* Enrollment policy for a new key (an add, or a rotate's new key). */
static int admitted(ctx *c, const rbx_devlist_entry *e)
{
    unsigned p = (unsigned)c->S->cfg.enroll;
    if (e->signer_kind == RBX_SIGNER_DEVICE) {
        if (e->op == RBX_DEVLIST_ADD && e->seq == 1 && (p & ENROLL_OPEN)) return 1;
        if (e->seq > 1 && (p & ENROLL_LINKED)) return 1;
    }
    if (p & ENROLL_ORG) {
        if (e->signer_kind == RBX_SIGNER_ORG) return 1;
        if (c->b.cert != NULL &&
            rbx_org_cert_check(c->S->cfg.org_root, e->identity, (uint64_t)c->now, c->b.cert,
                               c->b.cert_len) == 0)
            return 1;
    }
    return 0;
}

static int op_append(db *d, wr *w)
{
    int rc = w->c->S->ops->devlist_append(d, &w->append, &w->append_status);
    if (rc != DB_OK || w->append_status != DB_APPEND_OK || !w->has_keys) return rc;
    /* Enrollment's one-time prekeys, in the same write: a refusal of the
     * keys undoes the enrollment too (the client retries as a whole). */
    rc = w->c->S->ops->keys_put(d, &w->keys, &w->keys_res);
    if (rc == DB_OK && w->keys_res.status != DB_KEYS_OK) return DB_FAIL;
    return rc;
}

static int op_rereg(db *d, wr *w)
{
    int rc = w->c->S->ops->reregister(d, &w->rereg, &w->rereg_found);
    if (rc != DB_OK || !w->rereg_found || !w->has_keys) return rc;
    rc = w->c->S->ops->keys_put(d, &w->keys, &w->keys_res);
    if (rc == DB_OK && w->keys_res.status != DB_KEYS_OK) return DB_FAIL;
    return rc;
}

static void conflict_head(ctx *c, uint64_t head)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer((json_int_t)head));
    err_obj(c->rs, 409, "devlist_conflict", "the entry does not extend the current list; fetch it again", o);
}

/* A new state holds no one-time prekey yet: its first batch can only be
 * refused for its size (checked here, after the entry and the policy, so
 * that the order of checks is the one spec/SERVER.md 5.3 lists). */
static int first_batch_fits(ctx *c)
{
    if (c->b.notks <= c->S->cfg.max_prekeys) return 1;
    json_t *o = json_object();
    json_object_set_new(o, "max", json_integer((json_int_t)c->S->cfg.max_prekeys));
    err_obj(c->rs, 422, "too_many_prekeys", "more one-time prekeys than a device may hold", o);
    return 0;
}

static void h_enroll(ctx *c)
{
    if (strcmp(c->r.user, c->a.user) != 0) {
        api_error_response(c->rs, 403, "wrong_user", "a device enrolls under the user it signs as");
        return;
    }
    /* The first batch of one-time prekeys goes into the same write as the
     * enrollment (keys_put, after the entry). */
    otk_arrays oa = {NULL, NULL};
    if (otk_split(c, &oa) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    db_bundle_in bin;
    db_entry *ents = NULL;
    size_t n = 0;
    uint64_t head = 0;
    if (c->b.entry == NULL) {
        /* Re-registration: a new state behind an enrolled key. */
        db_device dev;
        if (auth_device(c, &dev) != 0) goto out;
        if (base_bundle(c, c->b.bundle, c->b.bundle_len, dev.identity, &bin) != 0) goto out;
        if (!first_batch_fits(c)) goto out;
        w.rereg = (db_rereg){c->a.user, c->a.device, c->b.registration_id, &bin, c->now};
        w.op = op_rereg;
    } else {
        rbx_devlist_entry e;
        int rc = rbx_devlist_entry_parse(&e, c->b.entry, c->b.entry_len);
        if (rc != 0) {
            char m[160];
            snprintf(m, sizeof m, "entry: %s", rbx_strerror(rc));
            api_error_response(c->rs, 422, "invalid_entry", m);
            goto out;
        }
        if (e.op != RBX_DEVLIST_ADD || e.device != c->a.device || strcmp(e.user, c->a.user) != 0) {
            api_error_response(c->rs, 422, "invalid_entry",
                               "entry: must add the signing device under its user");
            goto out;
        }
        /* The new device proves its key by signing this very request. */
        if (check_sig(c, e.identity) != 0) goto out;
        if (base_bundle(c, c->b.bundle, c->b.bundle_len, e.identity, &bin) != 0) goto out;
        if (load_log(c, c->a.user, &ents, &n, &head) != 0) goto out;
        if (e.seq != head + 1) {
            conflict_head(c, head);
            goto out;
        }
        rbx_devlist list;
        if (verify_extended(c, c->a.user, ents, n, c->b.entry, c->b.entry_len, &list) != 0) goto out;
        if (!admitted(c, &e)) {
            api_error_response(c->rs, 403, "enrollment_refused",
                               "the enrollment policy does not admit this device");
            goto out;
        }
        db_change chg;
        memset(&chg, 0, sizeof chg);
        chg.seq = e.seq;
        rbx_devlist_entry_hash(chg.hash, c->b.entry, c->b.entry_len);
        chg.entry = c->b.entry;
        chg.entry_len = c->b.entry_len;
        chg.op = e.op;
        chg.device = e.device;
        memcpy(chg.identity, e.identity, 32);
        if (!first_batch_fits(c)) goto out;
        w.append = (db_append){c->a.user, head, &chg, 1, c->b.registration_id, &bin, c->now};
        w.op = op_append;
        if (c->b.has_otks) {
            w.has_keys = 1;
            keys_args(c, &w, NULL);
            w.keys.ids = oa.ids;
            w.keys.keys = (const uint8_t(*)[32])oa.keys;
        }
        if (submit(c, &w) != 0) goto out;
        if (w.append_status != DB_APPEND_OK) {
            conflict_head(c, head);
            goto out;
        }
        json_t *o = json_pack("{s:I, s:I, s:I}", "device", (json_int_t)c->a.device,
                              "registration_id", (json_int_t)c->b.registration_id, "version",
                              (json_int_t)e.seq);
        set_json(c->rs, 200, o);
        goto out;
    }
    if (c->b.has_otks) {
        w.has_keys = 1;
        keys_args(c, &w, NULL);
        w.keys.ids = oa.ids;
        w.keys.keys = (const uint8_t(*)[32])oa.keys;
    }
    if (submit(c, &w) != 0) goto out;
    if (!w.rereg_found) {
        api_error_response(c->rs, 403, "device_removed", "this device is not enrolled");
        goto out;
    }
    {
        db *d = reader(c);
        if (d == NULL) goto out;
        db_device *devs = NULL;
        size_t nd = 0;
        int rc = c->S->ops->devices(d, c->a.user, &devs, &nd, &head);
        server_reader_put(c->S, d, rc != DB_OK);
        free(devs);
        if (rc != DB_OK) {
            db_failed(c);
            goto out;
        }
        set_json(c->rs, 200,
                 json_pack("{s:I, s:I, s:I}", "device", (json_int_t)c->a.device, "registration_id",
                           (json_int_t)c->b.registration_id, "version", (json_int_t)head));
    }
out:
    db_entries_free(ents, n);
    free(oa.ids);
    free(oa.keys);
}

static void h_devlist_append(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0) return;
    if (strcmp(c->r.user, c->a.user) != 0) {
        api_error_response(c->rs, 403, "wrong_user", "a device changes its own user's list only");
        return;
    }
    rbx_devlist_entry e;
    int rc = rbx_devlist_entry_parse(&e, c->b.entry, c->b.entry_len);
    if (rc != 0) {
        char m[160];
        snprintf(m, sizeof m, "entry: %s", rbx_strerror(rc));
        api_error_response(c->rs, 422, "invalid_entry", m);
        return;
    }
    if (strcmp(e.user, c->a.user) != 0 || e.op == RBX_DEVLIST_ADD) {
        api_error_response(c->rs, 422, "invalid_entry",
                           "entry: a remove or rotate entry of this user (a new device enrolls itself)");
        return;
    }
    db_bundle_in bin, *bp = NULL;
    if (e.op == RBX_DEVLIST_ROTATE) {
        if (c->b.bundle == NULL) {
            api_error_response(c->rs, 422, "invalid_bundle", "a rotation carries the new key's bundle");
            return;
        }
        if (base_bundle(c, c->b.bundle, c->b.bundle_len, e.identity, &bin) != 0) return;
        bp = &bin;
    } else if (c->b.bundle != NULL || c->b.cert != NULL) {
        api_error_response(c->rs, 400, "bad_request", "a removal carries no bundle or certificate");
        return;
    }
    db_entry *ents = NULL;
    size_t n = 0;
    uint64_t head = 0;
    if (load_log(c, c->a.user, &ents, &n, &head) != 0) return;
    if (e.seq != head + 1) {
        conflict_head(c, head);
        db_entries_free(ents, n);
        return;
    }
    rbx_devlist list;
    rc = verify_extended(c, c->a.user, ents, n, c->b.entry, c->b.entry_len, &list);
    db_entries_free(ents, n);
    if (rc != 0) return;
    if (e.op == RBX_DEVLIST_ROTATE && !admitted(c, &e)) {
        api_error_response(c->rs, 403, "enrollment_refused",
                           "the enrollment policy does not admit the new key");
        return;
    }
    db_change chg;
    memset(&chg, 0, sizeof chg);
    chg.seq = e.seq;
    rbx_devlist_entry_hash(chg.hash, c->b.entry, c->b.entry_len);
    chg.entry = c->b.entry;
    chg.entry_len = c->b.entry_len;
    chg.op = e.op;
    chg.device = e.device;
    memcpy(chg.identity, e.identity, 32);
    wr w;
    memset(&w, 0, sizeof w);
    w.append = (db_append){c->a.user, head, &chg, 1, 0, bp, c->now};
    w.op = op_append;
    if (submit(c, &w) != 0) return;
    if (w.append_status != DB_APPEND_OK) {
        conflict_head(c, head);
        return;
    }
    set_json(c->rs, 200, json_pack("{s:I}", "version", (json_int_t)e.seq));
}

static void h_devlist_get(ctx *c)
{
    db_device self;
    if (auth_device(c, &self) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    if (submit(c, &w) != 0) return;
    db *d = reader(c);
    if (d == NULL) return;
    db_entry *ents = NULL;
    db_device *devs = NULL;
    size_t n = 0, nd = 0;
    uint64_t head = 0, head2 = 0;
    int rc = c->S->ops->devlist_get(d, c->r.user, c->r.since, &ents, &n, &head);
    if (rc == DB_OK) rc = c->S->ops->devices(d, c->r.user, &devs, &nd, &head2);
    server_reader_put(c->S, d, rc != DB_OK);
    if (rc != DB_OK) {
        db_failed(c);
        goto out;
    }
    if (head == 0) {
        api_error_response(c->rs, 404, "no_such_user", "no such user");
        goto out;
    }
    if (head2 != head) { /* changed between the two reads: the client retries */
        api_error_response(c->rs, 503, "unavailable", "the list changed while it was read; retry");
        goto out;
    }
    json_t *o = json_object(), *ea = json_array(), *da = json_array();
    json_object_set_new(o, "user", json_string(c->r.user));
    json_object_set_new(o, "version", json_integer((json_int_t)head));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(ea, json_pack("{s:I, s:o}", "seq", (json_int_t)ents[i].seq, "entry",
                                            b64_json(ents[i].bytes, ents[i].len)));
    json_object_set_new(o, "entries", ea);
    for (size_t i = 0; i < nd; i++)
        json_array_append_new(da, json_pack("{s:I, s:I}", "device", (json_int_t)devs[i].id,
                                            "registration_id", (json_int_t)devs[i].registration_id));
    json_object_set_new(o, "devices", da);
    set_json(c->rs, 200, o);
    if (c->rs->status == 200) {
        /* The ETag is a digest of the representation: it changes with any
         * entry and with any device's registration id. */
        uint8_t h[16];
        char hex[33];
        crypto_generichash(h, sizeof h, (const uint8_t *)c->rs->body, c->rs->body_len, NULL, 0);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        snprintf(c->rs->etag, sizeof c->rs->etag, "\"%s\"", hex);
        if (c->rq->if_none_match != NULL && strcmp(c->rq->if_none_match, c->rs->etag) == 0) {
            api_response_free(c->rs);
            c->rs->status = 304;
        }
    }
out:
    db_entries_free(ents, n);
    free(devs);
}

/* ---------------------------------------------------------------- keys */

static void h_keys_put(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0 || own_device(c) != 0) return;
    db_bundle_in bin, *bp = NULL;
    if (c->b.bundle != NULL) {
        if (base_bundle(c, c->b.bundle, c->b.bundle_len, dev.identity, &bin) != 0) return;
        bp = &bin;
    }
    otk_arrays oa = {NULL, NULL};
    if (otk_split(c, &oa) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    keys_args(c, &w, bp);
    w.keys.ids = oa.ids;
    w.keys.keys = (const uint8_t(*)[32])oa.keys;
    w.op = op_keys;
    if (submit(c, &w) == 0) {
        if (w.keys_res.status != DB_KEYS_OK) keys_refusal(c, &w.keys_res);
        else set_json(c->rs, 200, json_pack("{s:I}", "one_time_count", (json_int_t)w.keys_res.stored));
    }
    free(oa.ids);
    free(oa.keys);
}

static void h_keys_get(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0 || own_device(c) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    if (submit(c, &w) != 0) return;
    db *d = reader(c);
    if (d == NULL) return;
    db_key_status ks;
    int rc = c->S->ops->key_status(d, c->a.user, c->a.device, &ks);
    server_reader_put(c->S, d, rc != DB_OK);
    if (rc != DB_OK) {
        db_failed(c);
        return;
    }
    int64_t since = ks.spk_created ? (int64_t)ks.spk_created : ks.spk_uploaded;
    int64_t age = c->now > since ? c->now - since : 0;
    set_json(c->rs, 200,
             json_pack("{s:I, s:I, s:b, s:I, s:I, s:I, s:I}", "one_time_count", (json_int_t)ks.count,
                       "one_time_max_id", (json_int_t)ks.max_id, "low",
                       ks.count < c->S->cfg.prekey_low, "signed_prekey_id", (json_int_t)ks.spk_id,
                       "signed_prekey_created", (json_int_t)ks.spk_created,
                       "signed_prekey_uploaded", (json_int_t)ks.spk_uploaded,
                       "signed_prekey_age", (json_int_t)age));
}

static int op_claim(db *d, wr *w)
{
    db_claim_res_free(&w->claim_res); /* a re-run after a failed group */
    return w->c->S->ops->claim(d, &w->claim, &w->claim_res);
}

static void h_bundles(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    w.claim = (db_claim){c->a.user,
                         c->a.device,
                         c->r.user,
                         c->b.has_devices ? c->b.devices : NULL,
                         c->b.ndevices,
                         c->now,
                         (uint32_t)c->S->cfg.claim_burst,
                         (uint32_t)c->S->cfg.claim_interval,
                         (uint32_t)c->S->cfg.prekey_low};
    w.op = op_claim;
    if (submit(c, &w) != 0) goto out;
    db_claim_res *r = &w.claim_res;
    if (r->status == DB_CLAIM_LIMITED) {
        metrics_rate_limited();
        c->rs->retry_after = r->retry_after;
        json_t *o = json_object();
        json_object_set_new(o, "retry_after", json_integer((json_int_t)r->retry_after));
        err_obj(c->rs, 429, "rate_limited", "too many bundle claims for this device; retry later", o);
        goto out;
    }
    if (r->status == DB_CLAIM_NO_USER) {
        api_error_response(c->rs, 404, "no_such_user", "no such user (or no other device of it)");
        goto out;
    }
    if (r->status == DB_CLAIM_NO_DEVICE) {
        json_t *o = json_object();
        json_object_set_new(o, "device", json_integer(r->bad_device));
        err_obj(c->rs, 404, "no_such_device", "a listed device is not in the user's list", o);
        goto out;
    }
    json_t *o = json_object(), *a = json_array();
    json_object_set_new(o, "user", json_string(c->r.user));
    json_object_set_new(o, "version", json_integer((json_int_t)r->version));
    uint64_t with = 0;
    for (size_t i = 0; i < r->n; i++) {
        db_claimed *it = &r->items[i];
        json_t *b = json_pack("{s:I, s:I, s:o, s:b}", "device", (json_int_t)it->device,
                              "registration_id", (json_int_t)it->registration_id, "bundle",
                              b64_json(it->bundle, it->bundle_len), "low",
                              it->remaining < c->S->cfg.prekey_low);
        if (it->has_otk) {
            with++;
            json_object_set_new(b, "one_time", json_pack("{s:I, s:o}", "id", (json_int_t)it->otk_id,
                                                         "key", b64_json(it->otk, 32)));
        } else
            json_object_set_new(b, "one_time", json_null());
        json_array_append_new(a, b);
    }
    json_object_set_new(o, "bundles", a);
    metrics_claims(with, r->n - with);
    set_json(c->rs, 200, o);
out:
    db_claim_res_free(&w.claim_res);
}

/* ---------------------------------------------------------------- messages */

static int op_send(db *d, wr *w)
{
    db_send_res_free(&w->send_res);
    return w->c->S->ops->send(d, &w->send, &w->send_res);
}

static int addr_cmp(const void *x, const void *y)
{
    const db_addr *a = x, *b = y;
    int k = strcmp(a->user, b->user);
    if (k != 0) return k;
    return a->device < b->device ? -1 : a->device > b->device;
}

/* A list of {user, device}, sorted, so that both backends answer alike. */
static json_t *addr_array(db_addr *v, size_t n)
{
    json_t *a = json_array();
    if (n > 1) qsort(v, n, sizeof *v, addr_cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I}", "user", v[i].user, "device",
                                           (json_int_t)v[i].device));
    return a;
}

static int env_cmp(const void *x, const void *y)
{
    const api_env *a = *(const api_env *const *)x, *b = *(const api_env *const *)y;
    int k = strcmp(a->user, b->user);
    if (k != 0) return k;
    return a->device < b->device ? -1 : a->device > b->device;
}

/* The digest that makes a send idempotent: the recipient and the envelopes
 * in (user, device) order, so that a retry that re-serialises the same
 * request differently is still the same send. */
static int send_digest(ctx *c, uint8_t out[32])
{
    const api_env **v = malloc(c->b.nenv * sizeof *v);
    if (v == NULL) return -1;
    for (size_t i = 0; i < c->b.nenv; i++) v[i] = &c->b.env[i];
    qsort(v, c->b.nenv, sizeof *v, env_cmp);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"rbxd-send-v1", 12);
    uint8_t l = (uint8_t)strlen(c->b.to);
    crypto_generichash_update(&st, &l, 1);
    crypto_generichash_update(&st, (const uint8_t *)c->b.to, l);
    /* A targeted send differs from a full one with the same envelopes
     * (the byte is absent otherwise, so earlier digests stay as they were). */
    if (c->b.targeted) crypto_generichash_update(&st, (const uint8_t *)"T", 1);
    for (size_t i = 0; i < c->b.nenv; i++) {
        uint8_t hdr[1 + 4 + 4 + 8], bh[32];
        l = (uint8_t)strlen(v[i]->user);
        crypto_generichash_update(&st, &l, 1);
        crypto_generichash_update(&st, (const uint8_t *)v[i]->user, l);
        hdr[0] = 0;
        for (int k = 0; k < 4; k++) hdr[1 + k] = (uint8_t)(v[i]->device >> (24 - 8 * k));
        for (int k = 0; k < 4; k++) hdr[5 + k] = (uint8_t)(v[i]->registration_id >> (24 - 8 * k));
        for (int k = 0; k < 8; k++) hdr[9 + k] = (uint8_t)((uint64_t)v[i]->len >> (56 - 8 * k));
        crypto_generichash_update(&st, hdr, sizeof hdr);
        crypto_generichash(bh, sizeof bh, v[i]->body, v[i]->len, NULL, 0);
        crypto_generichash_update(&st, bh, sizeof bh);
    }
    crypto_generichash_final(&st, out, 32);
    free(v);
    return 0;
}

static void h_send(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0) return;
    db_envelope *env = malloc(c->b.nenv * sizeof *env);
    if (env == NULL) {
        api_error_response(c->rs, 500, "internal", "out of memory");
        return;
    }
    for (size_t i = 0; i < c->b.nenv; i++)
        env[i] = (db_envelope){c->b.env[i].user, c->b.env[i].device, c->b.env[i].registration_id,
                               c->b.env[i].body, c->b.env[i].len};
    wr w;
    memset(&w, 0, sizeof w);
    w.send.sender_user = c->a.user;
    w.send.sender_device = c->a.device;
    memcpy(w.send.message_id, c->b.message_id, 16);
    if (send_digest(c, w.send.body_hash) != 0) {
        free(env);
        api_error_response(c->rs, 500, "internal", "out of memory");
        return;
    }
    w.send.to = c->b.to;
    w.send.env = env;
    w.send.n = c->b.nenv;
    w.send.now = c->now;
    w.send.mbox_max = (uint32_t)c->S->cfg.mailbox_max;
    w.send.mbox_max_bytes = c->S->cfg.mailbox_max_bytes;
    w.send.targeted = c->b.targeted;
    w.op = op_send;
    if (submit(c, &w) != 0) goto out;
    db_send_res *r = &w.send_res;
    switch (r->status) {
    case DB_SEND_OK:
        /* Committed: wake the recipients' long polls in this process
         * (other processes: PostgreSQL's NOTIFY, sent by the same commit). */
        for (size_t i = 0; i < c->b.nenv; i++) notify_wake(c->b.env[i].user, c->b.env[i].device);
        metrics_deliveries(r->stored);
        set_json(c->rs, 200, json_pack("{s:I, s:b}", "stored", (json_int_t)r->stored, "duplicate", 0));
        break;
    case DB_SEND_DUPLICATE:
        set_json(c->rs, 200, json_pack("{s:I, s:b}", "stored", (json_int_t)0, "duplicate", 1));
        break;
    case DB_SEND_MISMATCH: {
        json_t *o = json_object();
        json_object_set_new(o, "missing", addr_array(r->missing, r->nmissing));
        json_object_set_new(o, "extra", addr_array(r->extra, r->nextra));
        json_object_set_new(o, "stale", addr_array(r->stale, r->nstale));
        err_obj(c->rs, 409, "device_mismatch",
                "the envelopes do not match the current devices; nothing was stored", o);
        break;
    }
    case DB_SEND_ID_CONFLICT:
        api_error_response(c->rs, 409, "message_id_conflict",
                           "this message id was used for another message");
        break;
    case DB_SEND_FULL: {
        json_t *o = json_object();
        json_object_set_new(o, "full", addr_array(r->full, r->nfull));
        err_obj(c->rs, 429, "mailbox_full", "a recipient's mailbox is full; nothing was stored", o);
        break;
    }
    default:
        api_error_response(c->rs, 404, "no_such_user", "the recipient has no device");
        break;
    }
out:
    db_send_res_free(&w.send_res);
    free(env);
}

static void h_mailbox(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0 || own_device(c) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    if (submit(c, &w) != 0) return;
    uint32_t limit = c->r.has_limit ? c->r.limit : 100;
    if (limit > c->S->cfg.fetch_max) limit = (uint32_t)c->S->cfg.fetch_max;
    uint32_t wait = c->r.has_wait ? c->r.wait : 0;
    if (wait > c->S->cfg.long_poll_max) wait = (uint32_t)c->S->cfg.long_poll_max;
    int64_t cutoff = c->now - (int64_t)c->S->cfg.retention;
    db_item *items = NULL;
    size_t n = 0;
    int more = 0;
    for (int round = 0;; round++) {
        /* The generation first: a send committed after it wakes the wait. */
        uint64_t gen = notify_gen(c->a.user, c->a.device);
        db *d = reader(c);
        if (d == NULL) return;
        int rc = c->S->ops->mailbox_fetch(d, c->a.user, c->a.device, c->r.after, limit,
                                          c->S->cfg.fetch_max_bytes, cutoff, &items, &n, &more);
        server_reader_put(c->S, d, rc != DB_OK);
        if (rc != DB_OK) {
            db_failed(c);
            return;
        }
        if (n > 0 || wait == 0 || round > 0 || atomic_load(&c->S->draining)) break;
        db_items_free(items, n);
        items = NULL;
        metrics_longpoll(1);
        notify_wait(c->a.user, c->a.device, gen, wait * 1000U);
        metrics_longpoll(-1);
    }
    json_t *o = json_object(), *a = json_array();
    for (size_t i = 0; i < n; i++) {
        db_item *it = &items[i];
        json_array_append_new(
            a, json_pack("{s:I, s:o, s:s, s:I, s:I, s:o}", "id", (json_int_t)it->id, "message_id",
                         b64_json(it->message_id, 16), "sender_user", it->sender_user,
                         "sender_device", (json_int_t)it->sender_device, "received_at",
                         (json_int_t)it->received_at, "body", b64_json(it->body, it->len)));
    }
    json_object_set_new(o, "items", a);
    json_object_set_new(o, "more", json_boolean(more));
    db_items_free(items, n);
    set_json(c->rs, 200, o);
}

static int op_ack(db *d, wr *w)
{
    return w->c->S->ops->ack(d, w->c->a.user, w->c->a.device, w->c->b.ids, w->c->b.nids, &w->acked);
}

static void h_ack(ctx *c)
{
    db_device dev;
    if (auth_device(c, &dev) != 0 || own_device(c) != 0) return;
    wr w;
    memset(&w, 0, sizeof w);
    w.op = op_ack;
    if (submit(c, &w) != 0) return;
    set_json(c->rs, 200, json_pack("{s:I}", "deleted", (json_int_t)w.acked));
}

/* ---------------------------------------------------------------- entry point */

/* ---------------------------------------------------------------- links */

/* Device links (SERVER.md 5.5): the link id is the capability, so these
 * carry no Authorization and record no nonce; what travels is sealed by the
 * two devices under the secret the id is derived from. */
static void h_link_get(ctx *c)
{
    db *d = reader(c);
    if (d == NULL) return;
    uint8_t *req = NULL, *appr = NULL;
    size_t rl = 0, al = 0;
    int found = 0;
    int rc = c->S->ops->link_get(d, c->r.link, server_now(c->S), &req, &rl, &appr, &al, &found);
    server_reader_put(c->S, d, rc != DB_OK);
    if (rc != DB_OK) {
        db_failed(c);
        return;
    }
    if (!found) {
        api_error_response(c->rs, 404, "no_such_link", "no such link, or it expired");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "request", b64_json(req, rl));
    json_object_set_new(o, "approval", appr != NULL ? b64_json(appr, al) : json_null());
    free(req);
    free(appr);
    set_json(c->rs, 200, o);
}

static int op_link(db *d, wr *w)
{
    return w->c->S->ops->link_put(d, &w->link, &w->link_status);
}

static void h_link_put(ctx *c)
{
    wr w;
    memset(&w, 0, sizeof w);
    w.no_nonce = 1;
    memcpy(w.link.id, c->r.link, sizeof w.link.id);
    w.link.slot = c->r.link_slot ? DB_LINK_APPROVAL : DB_LINK_REQUEST;
    w.link.data = c->b.data;
    w.link.len = c->b.data_len;
    w.link.now = server_now(c->S);
    w.link.expires = w.link.now + (int64_t)c->S->cfg.link_ttl;
    w.link.max_links = c->S->cfg.link_max;
    w.op = op_link;
    if (submit(c, &w) != 0) return;
    switch (w.link_status) {
    case DB_LINK_OK:
    case DB_LINK_SAME:
        set_json(c->rs, 200, json_pack("{s:b}", "stored", w.link_status == DB_LINK_OK));
        break;
    case DB_LINK_CONFLICT:
        api_error_response(c->rs, 409, "link_conflict", "this slot of the link holds other data");
        break;
    case DB_LINK_FULL:
        c->rs->retry_after = 60;
        err_obj(c->rs, 429, "rate_limited", "too many device links are pending; retry later",
                json_pack("{s:I}", "retry_after", (json_int_t)60));
        break;
    default:
        api_error_response(c->rs, 404, "no_such_link", "no such link, or it expired");
        break;
    }
}

static void h_metrics(ctx *c)
{
    db *d = server_reader(c->S);
    db_stats st;
    int ok = 0;
    if (d != NULL) {
        int rc = c->S->ops->stats(d, (uint32_t)c->S->cfg.prekey_low, &st);
        server_reader_put(c->S, d, rc != DB_OK);
        ok = rc == DB_OK;
    }
    size_t len = 0;
    char *text = metrics_render(ok ? &st : NULL, &len);
    if (text == NULL) {
        api_error_response(c->rs, 500, "internal", "out of memory");
        return;
    }
    c->rs->status = 200;
    c->rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    c->rs->body = text;
    c->rs->body_len = len;
}

void api_handle(server *S, const api_request *rq, api_response *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->retry_after = -1;
    ctx c;
    memset(&c, 0, sizeof c);
    c.S = S;
    c.rq = rq;
    c.rs = rs;
    api_error e;
    const char *allow = NULL;
    if (api_route_parse(rq->method, rq->target, &c.r, &e, &allow) != 0) {
        rs->ep = c.r.ep;
        if (allow != NULL) snprintf(rs->allow, sizeof rs->allow, "%s", allow);
        err_from(rs, &e);
        return;
    }
    rs->ep = c.r.ep;
    if (rq->body_too_large) {
        api_error_response(rs, 413, "too_large", "request body too large");
        return;
    }
    if (c.r.ep == EP_HEALTHZ) {
        if (rq->body_len != 0) api_error_response(rs, 400, "bad_request", "this request takes no body");
        else if (atomic_load(&S->draining))
            set_json(rs, 503, json_pack("{s:s}", "status", "draining"));
        else
            set_json(rs, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (c.r.ep == EP_METRICS) {
        if (rq->body_len != 0) api_error_response(rs, 400, "bad_request", "this request takes no body");
        else h_metrics(&c);
        return;
    }
    if (atomic_load(&S->draining)) {
        api_error_response(rs, 503, "unavailable", "the server is shutting down; retry");
        return;
    }
    if (c.r.ep == EP_LINK_GET || c.r.ep == EP_LINK_PUT) {
        /* No Authorization: the link id is the capability (5.5). */
        if (api_body_parse(c.r.ep, rq->body, rq->body_len, &S->cfg, &c.b, &e) != 0) {
            err_from(rs, &e);
            return;
        }
        if (c.r.ep == EP_LINK_GET) h_link_get(&c);
        else h_link_put(&c);
        api_body_free(&c.b);
        if (rs->status == 0) api_error_response(rs, 500, "internal", "no response");
        return;
    }
    if (rq->authorization == NULL ||
        auth_parse(&c.a, rq->authorization, strlen(rq->authorization)) != 0) {
        api_error_response(rs, 401, "unauthenticated",
                           "missing or malformed Authorization header (RBX-Sig)");
        return;
    }
    c.now = server_now(S);
    int64_t ts = (int64_t)c.a.ts, skew = (int64_t)S->cfg.skew;
    if (ts < c.now - skew || ts > c.now + skew) {
        json_t *o = json_object();
        json_object_set_new(o, "server_time", json_integer((json_int_t)c.now));
        err_obj(rs, 401, "clock_skew", "the request timestamp is too far from the server's clock", o);
        return;
    }
    if (api_body_parse(c.r.ep, rq->body, rq->body_len, &S->cfg, &c.b, &e) != 0) {
        err_from(rs, &e);
        return;
    }
    switch (c.r.ep) {
    case EP_ENROLL: h_enroll(&c); break;
    case EP_DEVLIST_GET: h_devlist_get(&c); break;
    case EP_DEVLIST_APPEND: h_devlist_append(&c); break;
    case EP_KEYS_PUT: h_keys_put(&c); break;
    case EP_KEYS_GET: h_keys_get(&c); break;
    case EP_BUNDLES: h_bundles(&c); break;
    case EP_SEND: h_send(&c); break;
    case EP_MAILBOX: h_mailbox(&c); break;
    case EP_ACK: h_ack(&c); break;
    default: api_error_response(rs, 404, "not_found", "no such endpoint"); break;
    }
    api_body_free(&c.b);
    if (rs->status == 0) api_error_response(rs, 500, "internal", "no response");
}
