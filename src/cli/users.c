/* SPDX-License-Identifier: MIT
 * The flows rbx runs against rbxd for users with several devices
 * (PROTOCOL.md 21, SERVER.md 10): fetch and apply device lists, fetch
 * bundles for the devices a send needs, send to a user with its 409
 * handling, post pending sends, and keep the server's prekeys in supply.
 * Every decision about keys is the library's; this file moves bytes. */
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Sends posted at most this many times with 409 answers in between (each
 * answer updates the lists, so a second answer means a race). */
#define SEND_ATTEMPTS 4

int cli_account(rbx_store *st, const char *verb, rbx_account *a)
{
    int rc = rbx_store_account(st, a);
    if (rc == RBX_E_NOT_FOUND) {
        cli_err(verb, "no account in %s: run rbx account create USER or rbx account join CODE",
                cli_dir);
        return CLI_NOINPUT;
    }
    return rc != 0 ? cli_fail(verb, NULL, rc) : CLI_OK;
}

/* ------------------------------------------------------------ device lists */

static const char *list_error(int rc)
{
    switch (rc) {
    case RBX_E_STALE: return "the server rolled it back to an older list";
    case RBX_E_IDENTITY_CHANGED: return "it is not the list pinned for this user (a fork, or another list)";
    case RBX_E_CHAIN: return "an entry was not signed by a device of the list";
    case RBX_E_SIGNATURE: return "an entry's signature does not verify";
    default: return rbx_strerror(rc);
    }
}

int cli_user_refresh(cli_net *n, const char *user, rbx_user_update *res)
{
    rbx_user_update tmp;
    if (res == NULL) res = &tmp;
    memset(res, 0, sizeof *res);
    if (!rbx_user_id_ok(user)) {
        cli_err(n->verb, "'%s' is not a user id ([a-z0-9] then [a-z0-9._@-], 1 to 63 bytes)", user);
        return CLI_USAGE;
    }
    char target[128];
    snprintf(target, sizeof target, "/v1/users/%s/devicelist", user);
    json_t *r = NULL;
    long st = cli_net_call(n, "GET", target, NULL, &r, 1);
    if (st != 200) {
        int ec;
        if (st == 404 && strcmp(cli_net_error(r), "no_such_user") == 0) {
            cli_err(n->verb, "no user %s on %s", user, n->base);
            ec = CLI_NOINPUT;
        } else {
            ec = cli_net_fail(n, "device list", st, r);
        }
        json_decref(r);
        return ec;
    }
    json_t *ents = json_object_get(r, "entries"), *devs = json_object_get(r, "devices");
    size_t ne = json_array_size(ents), nd = json_array_size(devs);
    int ec = CLI_OK;
    uint8_t **bufs = calloc(ne ? ne : 1, sizeof *bufs);
    size_t *lens = calloc(ne ? ne : 1, sizeof *lens);
    rbx_device_reg *regs = calloc(nd ? nd : 1, sizeof *regs);
    if (bufs == NULL || lens == NULL || regs == NULL || !json_is_array(ents) || !json_is_array(devs) ||
        ne > RBX_DEVLIST_MAX_ENTRIES || nd > RBX_DEVLIST_MAX_DEVICES) {
        ec = bufs == NULL || lens == NULL || regs == NULL ? cli_fail(n->verb, NULL, RBX_E_NOMEM)
                                                           : cli_fail(n->verb, "device list", RBX_E_MALFORMED);
        goto out;
    }
    for (size_t i = 0; i < ne; i++) {
        json_t *it = json_array_get(ents, i);
        uint64_t seq;
        if (cli_json_uint(it, "seq", RBX_DEVLIST_MAX_ENTRIES, &seq) != 0 || seq != i + 1 ||
            (bufs[i] = cli_json_unb64(json_object_get(it, "entry"), &lens[i],
                                      RBX_DEVLIST_ENTRY_MAXBYTES)) == NULL) {
            ec = cli_fail(n->verb, "device list", RBX_E_MALFORMED);
            goto out;
        }
    }
    for (size_t i = 0; i < nd; i++) {
        json_t *it = json_array_get(devs, i);
        uint64_t d, rg;
        if (cli_json_uint(it, "device", RBX_DEVICE_ID_MAX, &d) != 0 ||
            cli_json_uint(it, "registration_id", RBX_DEVICE_ID_MAX, &rg) != 0) {
            ec = cli_fail(n->verb, "device list", RBX_E_MALFORMED);
            goto out;
        }
        regs[i].device = (uint32_t)d;
        regs[i].registration_id = (uint32_t)rg;
    }
    int rc = rbx_store_user_update(n->st, res, user, (const uint8_t *const *)bufs, lens, ne, regs, nd);
    if (rc != 0) {
        cli_err(n->verb, "refused %s's device list from %s: %s", user, n->base, list_error(rc));
        ec = cli_exit_code(rc);
    }
out:
    for (size_t i = 0; bufs != NULL && i < ne; i++) free(bufs[i]);
    free(bufs);
    free(lens);
    free(regs);
    json_decref(r);
    return ec;
}

/* ------------------------------------------------------------ bundles */

/* Fetch bundles of `user` for the listed devices and hold them. */
static int fetch_bundles(cli_net *n, const char *user, const uint32_t *devices, size_t nd)
{
    char target[128];
    snprintf(target, sizeof target, "/v1/users/%s/bundles", user);
    json_t *ids = json_array();
    for (size_t i = 0; i < nd; i++) json_array_append_new(ids, json_integer(devices[i]));
    json_t *r = NULL;
    long st = cli_net_call(n, "POST", target, json_pack("{s:o}", "devices", ids), &r, 1);
    if (st != 200) {
        int ec = cli_net_fail(n, "bundles", st, r);
        json_decref(r);
        return ec;
    }
    json_t *bs = json_object_get(r, "bundles");
    int ec = CLI_OK;
    for (size_t i = 0; i < json_array_size(bs) && ec == CLI_OK; i++) {
        json_t *it = json_array_get(bs, i);
        uint64_t dev;
        size_t bl;
        uint8_t *base = NULL, full[RBX_BUNDLE_MAXBYTES];
        size_t fl = 0;
        if (cli_json_uint(it, "device", RBX_DEVICE_ID_MAX, &dev) != 0 ||
            (base = cli_json_unb64(json_object_get(it, "bundle"), &bl, RBX_BUNDLE_MAXBYTES)) == NULL) {
            ec = cli_fail(n->verb, "bundles", RBX_E_MALFORMED);
            break;
        }
        json_t *otk = json_object_get(it, "one_time");
        int rc = 0;
        if (json_is_object(otk)) {
            uint64_t id;
            size_t kl;
            uint8_t *key = cli_json_unb64(json_object_get(otk, "key"), &kl, 32);
            if (cli_json_uint(otk, "id", UINT32_MAX - 1U, &id) != 0 || key == NULL || kl != 32)
                rc = RBX_E_MALFORMED;
            else
                rc = rbx_bundle_with_onetime(full, sizeof full, &fl, base, bl, (uint32_t)id, key);
            free(key);
        } else {
            /* The server has no one-time prekey left: the signed one alone
             * (PROTOCOL.md 20.9). */
            memcpy(full, base, bl);
            fl = bl;
        }
        free(base);
        if (rc == 0) rc = rbx_store_user_bundle(n->st, user, (uint32_t)dev, full, fl);
        if (rc != 0) {
            if (rc == RBX_E_IDENTITY_CHANGED)
                cli_err(n->verb, "refused the bundle of %s device %u from %s: its key is not the "
                        "one the verified device list names", user, (unsigned)dev, n->base);
            else
                cli_err(n->verb, "bundle of %s device %u: %s", user, (unsigned)dev, rbx_strerror(rc));
            ec = cli_exit_code(rc);
        }
    }
    json_decref(r);
    return ec;
}

int cli_fetch_bundle(cli_net *n, const char *user, uint32_t device)
{
    return fetch_bundles(n, user, &device, 1);
}

int cli_supply(cli_net *n, const char *to)
{
    rbx_user_device need[2 * RBX_DEVLIST_MAX_DEVICES];
    size_t nn;
    size_t cap = sizeof need / sizeof need[0];
    int rc = rbx_store_send_needs(n->st, need, cap, &nn, to);
    if (rc != 0) return cli_fail(n->verb, "devices", rc);
    if (nn > cap) nn = cap;
    /* One request per user (needs come ordered by user). */
    for (size_t i = 0; i < nn;) {
        uint32_t ids[RBX_DEVLIST_MAX_DEVICES];
        size_t k = 0, j = i;
        while (j < nn && strcmp(need[j].user, need[i].user) == 0 && k < RBX_DEVLIST_MAX_DEVICES)
            ids[k++] = need[j++].device;
        int ec = fetch_bundles(n, need[i].user, ids, k);
        if (ec != CLI_OK) return ec;
        i = j;
    }
    return CLI_OK;
}

/* ------------------------------------------------------------ sends */

typedef struct out_send {
    rbx_send_info info;
    rbx_envelope env[RBX_SEND_MAX_ENVELOPES];
    uint8_t *buf;
    size_t cap;
} out_send;

/* Room for n envelopes of ptlen bytes of plaintext (or at least cap bytes). */
static int out_alloc(out_send *o, size_t n, size_t ptlen)
{
    free(o->buf);
    o->cap = n * RBX_ENVELOPE_MAXBYTES(ptlen);
    o->buf = malloc(o->cap);
    return o->buf != NULL ? 0 : RBX_E_NOMEM;
}

/* How many devices a send to `to` reaches (ours included: an upper bound). */
static size_t devices_of(rbx_store *st, const char *to, const char *own)
{
    size_t a = 0, b = 0;
    if (rbx_store_user_devices(st, NULL, 0, &a, to) != 0) a = 0;
    if (strcmp(to, own) != 0 && rbx_store_user_devices(st, NULL, 0, &b, own) != 0) b = 0;
    size_t n = a + b;
    return n == 0 ? 1 : n > RBX_SEND_MAX_ENVELOPES ? RBX_SEND_MAX_ENVELOPES : n;
}

static void out_free(out_send *o)
{
    free(o->buf);
    o->buf = NULL;
}

/* --json: {"version":1,"sent":{...}} (spec/json/send-user.schema.json),
 * one object per message the server stored, with the devices it goes to. */
static void print_send(const out_send *o, int json)
{
    if (!json) return;
    char mid[2 * RBX_MESSAGE_IDBYTES + 1];
    sodium_bin2hex(mid, sizeof mid, o->info.message_id, RBX_MESSAGE_IDBYTES);
    static const char *const kinds[] = { "message", "retry", "resend" };
    cli_jbegin(stdout);
    cli_jkey(stdout, "sent");
    fputs("{\"kind\":", stdout);
    cli_json_str(stdout, kinds[o->info.kind <= RBX_SEND_RESEND ? o->info.kind : 0]);
    fputs(",\"to\":", stdout);
    cli_json_str(stdout, o->info.to);
    printf(",\"message_id\":\"%s\",\"envelopes\":%zu,\"devices\":[", mid, o->info.n);
    for (size_t i = 0; i < o->info.n; i++) {
        fputs(i ? ",{\"user\":" : "{\"user\":", stdout);
        cli_json_str(stdout, o->env[i].user);
        printf(",\"device\":%u}", o->env[i].device);
    }
    fputs("]}", stdout);
    cli_jend(stdout);
}

/* POST the send; 200: done in the store. *status is the HTTP status; a 409
 * device_mismatch leaves *resp for the caller. */
static int post_send(cli_net *n, out_send *o, long *status, json_t **resp)
{
    json_t *envs = json_array();
    for (size_t i = 0; i < o->info.n; i++) {
        const rbx_envelope *e = &o->env[i];
        json_array_append_new(envs, json_pack("{s:s, s:I, s:I, s:o}", "user", e->user, "device",
                                              (json_int_t)e->device, "registration_id",
                                              (json_int_t)e->registration_id, "body",
                                              cli_json_b64(o->buf + e->offset, e->len)));
    }
    json_t *body = json_pack("{s:o, s:s, s:o}", "message_id",
                             cli_json_b64(o->info.message_id, RBX_MESSAGE_IDBYTES), "to",
                             o->info.to, "envelopes", envs);
    if (o->info.kind != RBX_SEND_FANOUT) json_object_set_new(body, "targeted", json_true());
    *resp = NULL;
    *status = cli_net_call(n, "POST", "/v1/messages", body, resp, 1);
    if (*status == 200) {
        int rc = rbx_store_send_done(n->st, o->info.id);
        if (rc != 0) return cli_fail(n->verb, "sent, but cannot mark it sent", rc);
        return CLI_OK;
    }
    return -1;
}

/* After a 409: the lists of `to` and of our user again, and bundles. */
static int after_mismatch(cli_net *n, const out_send *o, const char *own)
{
    int ec = cli_user_refresh(n, o->info.to, NULL);
    if (ec == CLI_OK && strcmp(o->info.to, own) != 0) ec = cli_user_refresh(n, own, NULL);
    if (ec == CLI_OK && o->info.kind == RBX_SEND_FANOUT) ec = cli_supply(n, o->info.to);
    return ec;
}

/* After a 409 and the refresh: a device the server called extra (it will
 * not deliver to it) that the verified list still holds is a device the
 * server dropped without a signed removal (PROTOCOL.md 21.4): refused with
 * its name, the send stays pending. Legitimately a removal comes with its
 * entry, which the refresh applied, and rbxd enrolls a device in the same
 * transaction that lists it. */
static int dropped_by_server(cli_net *n, const json_t *resp)
{
    const json_t *extra = json_object_get(resp, "extra");
    size_t i;
    const json_t *x;
    json_array_foreach(extra, i, x) {
        const char *user = json_string_value(json_object_get(x, "user"));
        json_int_t dev = json_integer_value(json_object_get(x, "device"));
        if (user == NULL || !rbx_user_id_ok(user) || dev <= 0 || dev > INT32_MAX) continue;
        rbx_user_device d[RBX_DEVLIST_MAX_DEVICES];
        size_t nd = 0;
        if (rbx_store_user_devices(n->st, d, RBX_DEVLIST_MAX_DEVICES, &nd, user) != 0) continue;
        for (size_t k = 0; k < nd; k++)
            if (d[k].device == (uint32_t)dev) {
                cli_err(n->verb, "the server will not deliver to %s device %u, which %s's verified "
                        "device list holds (dropped without a signed removal): refused; the message "
                        "stays pending", user, d[k].device, user);
                return CLI_DATAERR;
            }
    }
    return CLI_OK;
}

/* Post o until stored: each 409 refreshes and rebuilds it. */
static int post_until_stored(cli_net *n, out_send *o, const char *own, int json)
{
    for (int attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
        long status;
        json_t *r;
        int ec = post_send(n, o, &status, &r);
        if (ec == CLI_OK) {
            json_decref(r);
            print_send(o, json);
            return CLI_OK;
        }
        if (ec > 0) {
            json_decref(r);
            return ec;
        }
        if (status != 409 || strcmp(cli_net_error(r), "device_mismatch") != 0) {
            ec = cli_net_fail(n, "send", status, r);
            json_decref(r);
            /* The send stays pending: the next rbx sync or send posts it. */
            return ec == CLI_UNAVAILABLE ? CLI_TEMPFAIL : ec;
        }
        ec = after_mismatch(n, o, own);
        if (ec == CLI_OK) ec = dropped_by_server(n, r);
        json_decref(r);
        if (ec != CLI_OK) return ec;
        uint64_t id = o->info.id;
        unsigned kind = o->info.kind;
        int rc;
        while ((rc = rbx_store_send_rebuild(n->st, &o->info, o->env, RBX_SEND_MAX_ENVELOPES, o->buf,
                                            o->cap, id, NULL)) == RBX_E_BUFFER &&
               o->cap < RBX_SEND_MAX_ENVELOPES * RBX_ENVELOPE_MAXBYTES(RBX_MAX_PLAINTEXT))
            if (out_alloc(o, 2 * o->cap / RBX_ENVELOPE_MAXBYTES(0), 0) != 0)
                return cli_fail(n->verb, NULL, RBX_E_NOMEM);
        if (rc == RBX_E_NOT_FOUND && kind != RBX_SEND_FANOUT) {
            /* A retry request or re-send whose device is gone: dropped. */
            return CLI_OK;
        }
        if (rc != 0) return cli_fail(n->verb, "cannot rebuild the send", rc);
    }
    cli_err(n->verb, "the server kept answering that the devices changed; the message stays "
            "pending (rbx sync posts it)");
    return CLI_TEMPFAIL;
}

int cli_send_user(cli_net *n, const char *to, const uint8_t *pt, size_t ptlen, int json)
{
    rbx_account a;
    int ec = cli_account(n->st, n->verb, &a);
    if (ec != CLI_OK) return ec;
    static out_send o; /* its envelope table is large; one send at a time */
    int rc = RBX_E_NOT_FOUND;
    if (rbx_store_user_pin(n->st, &(rbx_devlist_pin){ 0 }, to) == 0) {
        if (out_alloc(&o, devices_of(n->st, to, a.user), ptlen) != 0)
            return cli_fail(n->verb, NULL, RBX_E_NOMEM);
        rc = rbx_store_send(n->st, &o.info, o.env, RBX_SEND_MAX_ENVELOPES, o.buf, o.cap, to, pt,
                            ptlen, NULL);
    }
    if (rc == RBX_E_NOT_FOUND || rc == RBX_E_BUFFER) {
        /* Lists first (the pins on first use), then bundles. */
        if ((ec = cli_user_refresh(n, to, NULL)) == CLI_OK &&
            (strcmp(to, a.user) == 0 || (ec = cli_user_refresh(n, a.user, NULL)) == CLI_OK) &&
            (ec = cli_supply(n, to)) == CLI_OK) {
            if (out_alloc(&o, devices_of(n->st, to, a.user), ptlen) != 0)
                return cli_fail(n->verb, NULL, RBX_E_NOMEM);
            rc = rbx_store_send(n->st, &o.info, o.env, RBX_SEND_MAX_ENVELOPES, o.buf, o.cap, to, pt,
                                ptlen, NULL);
        } else {
            rc = 0;
        }
    }
    if (ec == CLI_OK && rc != 0) ec = cli_fail(n->verb, "cannot encrypt", rc);
    if (ec == CLI_OK) ec = post_until_stored(n, &o, a.user, json);
    out_free(&o);
    return ec;
}

int cli_flush_pending(cli_net *n, int json)
{
    rbx_account a;
    int ec = cli_account(n->st, n->verb, &a);
    if (ec != CLI_OK) return ec;
    static out_send o;
    if (out_alloc(&o, 8, 4096) != 0) return cli_fail(n->verb, NULL, RBX_E_NOMEM);
    for (;;) {
        int rc = rbx_store_send_get(n->st, &o.info, o.env, RBX_SEND_MAX_ENVELOPES, o.buf, o.cap, 0);
        if (rc == RBX_E_BUFFER &&
            o.cap < RBX_SEND_MAX_ENVELOPES * RBX_ENVELOPE_MAXBYTES(RBX_MAX_PLAINTEXT)) {
            if (out_alloc(&o, 2 * o.cap / RBX_ENVELOPE_MAXBYTES(0), 0) != 0) {
                ec = cli_fail(n->verb, NULL, RBX_E_NOMEM);
                break;
            }
            continue;
        }
        if (rc == RBX_E_NOT_FOUND) break;
        if (rc != 0) {
            ec = cli_fail(n->verb, "pending sends", rc);
            break;
        }
        if ((ec = post_until_stored(n, &o, a.user, json)) != CLI_OK) break;
    }
    out_free(&o);
    return ec;
}

/* ------------------------------------------------------------ prekey upkeep */

#define UPKEEP_FILE "upkeep"

int cli_upkeep_due(cli_net *n, const rbx_account *acct, long every)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", cli_dir, UPKEEP_FILE);
    time_t now = time(NULL);
    if (stat(path, &sb) == 0 && now >= sb.st_mtime && now - sb.st_mtime < every) return CLI_OK;
    int ec = cli_upkeep(n, acct);
    if (ec == CLI_OK) {
        /* Its time is the file's: nothing secret, nothing to parse. */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
        utimensat(AT_FDCWD, path, NULL, 0);
    }
    return ec;
}

int cli_upkeep(cli_net *n, const rbx_account *acct)
{
    char target[160];
    snprintf(target, sizeof target, "/v1/users/%s/devices/%u/keys", acct->user, acct->device);
    json_t *r = NULL;
    long st = cli_net_call(n, "GET", target, NULL, &r, 1);
    if (st != 200) {
        int ec = cli_net_fail(n, "key status", st, r);
        json_decref(r);
        return ec;
    }
    uint64_t count = 0, spk = 0;
    int ok = cli_json_uint(r, "one_time_count", UINT32_MAX, &count) == 0 &&
             cli_json_uint(r, "signed_prekey_id", UINT32_MAX, &spk) == 0;
    json_decref(r);
    if (!ok) return cli_fail(n->verb, "key status", RBX_E_MALFORMED);
    rbx_policy pol;
    int rc = rbx_store_policy(n->st, &pol);
    if (rc != 0) return cli_fail(n->verb, "policy", rc);
    /* Our bundle after the policy's upkeep: a new signed prekey when due. */
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t bl;
    rbx_bundle pb;
    if ((rc = rbx_store_bundle(n->st, b, sizeof b, &bl, 0)) != 0 || (rc = rbx_bundle_parse(&pb, b, bl)) != 0)
        return cli_fail(n->verb, "bundle", rc);
    json_t *body = json_object();
    if (pb.signed_prekey_id != spk) json_object_set_new(body, "bundle", cli_json_b64(b, bl));
    /* One-time prekeys before the supply runs out (PROTOCOL.md 16.5). */
    if (count < pol.onetime_low) {
        size_t want = pol.onetime_batch > 200 ? 200 : pol.onetime_batch, got;
        uint32_t *ids = calloc(want, sizeof *ids);
        uint8_t (*keys)[32] = calloc(want, 32);
        if (ids == NULL || keys == NULL) rc = RBX_E_NOMEM;
        else rc = rbx_store_onetime_export(n->st, ids, keys, want, &got);
        if (rc == 0 && got > 0) {
            json_t *a = json_array();
            for (size_t i = 0; i < got; i++)
                json_array_append_new(a, json_pack("{s:I, s:o}", "id", (json_int_t)ids[i], "key",
                                                   cli_json_b64(keys[i], 32)));
            json_object_set_new(body, "one_time", a);
        }
        free(ids);
        free(keys);
        if (rc != 0) {
            json_decref(body);
            return cli_fail(n->verb, "one-time prekeys", rc);
        }
    }
    if (json_object_size(body) == 0) {
        json_decref(body);
        return CLI_OK;
    }
    st = cli_net_call(n, "PUT", target, body, &r, 1);
    int ec = st == 200 ? CLI_OK : cli_net_fail(n, "key upload", st, r);
    json_decref(r);
    return ec;
}
