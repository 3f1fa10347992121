/* SPDX-License-Identifier: MIT
 * rbx sync: fetch this device's mailbox from rbxd, decrypt each message
 * with its sender verified as (user, device), print it, and only then
 * acknowledge it (SERVER.md 7.2, 7.3): a message is acknowledged after its
 * plaintext was committed to the store and written out, so a crash in
 * between prints it again (at least once; its message id tells a repeat).
 * Messages that cannot be decrypted (this device's state was lost,
 * restored or reset) are named in one retry request per sender device
 * (PROTOCOL.md 21.5); re-sends and retry requests waiting in the store are
 * posted; the prekey supply on the server is kept up. */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define FETCH_LIMIT 100U
#define LONG_POLL 30U
#define UPKEEP_EVERY 600 /* seconds between prekey checks with --follow */

static const char sync_usage[] =
    "Usage: rbx sync [--follow] [--json] [--server URL]\n"
    "Fetch the messages waiting for this device, decrypt them, print them and\n"
    "acknowledge them. A message prints as \"USER/DEVICE: text\" (a copy of one\n"
    "our own user sent to someone: \"USER/DEVICE -> TO: text\"). --json: one\n"
    "object per line, {\"version\":1,K:{...}} with K one of \"message\" {\"from\",\n"
    "\"device\",\"to\",\"sync\",\"resent\",\"redelivered\",\"message_id\",\"text\" (null\n"
    "unless UTF-8),\"plaintext_b64\"}, \"retry_request\" (a device asked us again),\n"
    "\"undecryptable\" (we asked again), \"sent\" (as rbx send USER --json).\n"
    "--follow: keep waiting for more.\n"
    "Messages this device cannot decrypt are asked for again (a retry request,\n"
    "once per sender device per hour); re-sends are posted; prekeys are refilled.\n";

typedef struct failed {
    char user[RBX_USER_MAX];
    uint32_t device;
    uint8_t ids[RBX_RETRY_MAX_IDS][RBX_MESSAGE_IDBYTES];
    size_t n;
} failed;

typedef struct syncer {
    cli_net *n;
    rbx_account acct;
    int json;
    uint8_t *pt;
    size_t cap;
    failed *fail;
    size_t nfail;
    int bad;   /* messages refused */
    int fatal; /* an exit code: a message could not be written out (not acknowledged) */
} syncer;

/* --json (PROTOCOL.md 22, spec/json/sync.schema.json): one object per
 * thing, each with one member beside "version" that names what it is. */
static void print_message(syncer *s, const rbx_user_received *ri, const uint8_t *pt,
                          size_t len)
{
    char mid[2 * RBX_MESSAGE_IDBYTES + 1];
    sodium_bin2hex(mid, sizeof mid, ri->message_id, RBX_MESSAGE_IDBYTES);
    if (s->json) {
        char *b64 = cli_b64_encode(pt, len);
        if (b64 == NULL) {
            if (!s->fatal) s->fatal = cli_fail("sync", NULL, RBX_E_NOMEM);
            return;
        }
        cli_jbegin(stdout);
        cli_jkey(stdout, "message");
        fputs("{\"from\":", stdout);
        cli_json_str(stdout, ri->user);
        printf(",\"device\":%u,\"to\":", ri->device);
        cli_json_str(stdout, ri->to);
        printf(",\"sync\":%s,\"resent\":%s,\"redelivered\":%s,\"message_id\":\"%s\"",
               ri->sync ? "true" : "false", (ri->flags & RBX_CONTENT_RESENT) ? "true" : "false",
               ri->redelivered ? "true" : "false", mid);
        /* text: the plaintext when JSON can carry it as a string (UTF-8, no NUL). */
        if (cli_utf8_ok(pt, len)) {
            cli_jkey(stdout, "text");
            cli_json_strn(stdout, pt, len);
        } else {
            cli_jnull(stdout, "text");
        }
        printf(",\"plaintext_b64\":\"%s\"}", b64);
        cli_jend(stdout);
        sodium_memzero(b64, strlen(b64)); /* the plaintext, encoded */
        free(b64);
        return;
    }
    if (ri->sync) printf("%s/%u -> %s: ", ri->user, ri->device, ri->to);
    else printf("%s/%u: ", ri->user, ri->device);
    fwrite(pt, 1, len, stdout);
    /* One line per message: a text that ends its own line gets no second newline. */
    if (len == 0 || pt[len - 1] != '\n') fputc('\n', stdout);
}

/* Messages from user/device this device cannot decrypt: asked for again
 * (asked 1) or lost (a retry was asked less than an hour ago). */
static void print_undecryptable(const syncer *s, const char *user, uint32_t device, size_t n,
                                int asked)
{
    if (!s->json) return;
    cli_jbegin(stdout);
    cli_jkey(stdout, "undecryptable");
    fputs("{\"from\":", stdout);
    cli_json_str(stdout, user);
    printf(",\"device\":%u,\"messages\":%zu,\"retry_requested\":%s}", device, n,
           asked ? "true" : "false");
    cli_jend(stdout);
}

static void note_failure(syncer *s, const char *user, uint32_t device, const uint8_t mid[16])
{
    for (size_t i = 0; i < s->nfail; i++)
        if (s->fail[i].device == device && strcmp(s->fail[i].user, user) == 0) {
            if (s->fail[i].n < RBX_RETRY_MAX_IDS) memcpy(s->fail[i].ids[s->fail[i].n++], mid, 16);
            return;
        }
    failed *x = realloc(s->fail, (s->nfail + 1) * sizeof *x);
    if (x == NULL) return; /* no retry for it: reported as lost below */
    s->fail = x;
    memset(&x[s->nfail], 0, sizeof x[0]);
    snprintf(x[s->nfail].user, sizeof x[0].user, "%s", user);
    x[s->nfail].device = device;
    memcpy(x[s->nfail].ids[0], mid, 16);
    x[s->nfail].n = 1;
    s->nfail++;
}

/* Decrypt one mailbox item: 1 processed (print it; ack it), 0 processed
 * without output, or an exit code < 0 never: errors are reported here and
 * the item is acknowledged (it will never decrypt). *inbox: the store's
 * entry to acknowledge after the output. */
static int one_item(syncer *s, json_t *it, uint64_t *inbox)
{
    *inbox = 0;
    const char *user = json_string_value(json_object_get(it, "sender_user"));
    uint64_t dev;
    size_t bl, ml;
    uint8_t *body = cli_json_unb64(json_object_get(it, "body"), &bl, RBX_MAX_WIRE + 128U);
    uint8_t *mid = cli_json_unb64(json_object_get(it, "message_id"), &ml, 16);
    if (user == NULL || !rbx_user_id_ok(user) ||
        cli_json_uint(it, "sender_device", RBX_DEVICE_ID_MAX, &dev) != 0 || body == NULL ||
        mid == NULL || ml != 16) {
        cli_err("sync", "a mailbox item that does not parse: skipped");
        free(body);
        free(mid);
        s->bad = 1;
        return 0;
    }
    rbx_user_received ri;
    size_t len;
    int rc = 0;
    /* Twice at most: an unknown device or key makes us fetch its user's
     * list (and a rotated device's bundle) and try again. */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = rbx_store_receive(s->n->st, s->pt, s->cap, &len, &ri, user, (uint32_t)dev, body, bl);
        if (attempt == 1) break;
        if (rc == RBX_E_NOT_FOUND) {
            if (cli_user_refresh(s->n, user, NULL) != CLI_OK) break;
        } else if (rc == RBX_E_IDENTITY_CHANGED) {
            if (cli_user_refresh(s->n, user, NULL) != CLI_OK ||
                cli_fetch_bundle(s->n, user, (uint32_t)dev) != CLI_OK)
                break;
        } else {
            break;
        }
    }
    int out = 0;
    if (rc == 0) {
        *inbox = ri.inbox_id;
        if (ri.type == RBX_CONTENT_RETRY) {
            if (s->json) {
                cli_jbegin(stdout);
                cli_jkey(stdout, "retry_request");
                fputs("{\"from\":", stdout);
                cli_json_str(stdout, ri.user);
                printf(",\"device\":%u,\"resent\":%zu,\"limited\":%s}", ri.device, ri.resent,
                       ri.retry_limited ? "true" : "false");
                cli_jend(stdout);
            } else {
                fprintf(stderr, "rbx: sync: %s/%u asked for %s%zu message(s) again\n", ri.user,
                        ri.device, ri.retry_limited ? "(too soon: not served) " : "", ri.resent);
            }
        } else {
            print_message(s, &ri, s->pt, len);
            out = 1;
        }
        sodium_memzero(s->pt, len);
    } else if (rc == RBX_E_REPLAY) {
        /* Already taken (a redelivery after its inbox entry went). */
    } else if (rc == RBX_E_STATE || rc == RBX_E_AUTH || rc == RBX_E_UNKNOWN_PREKEY ||
               rc == RBX_E_PREKEY_REUSED || rc == RBX_E_ROLLBACK) {
        note_failure(s, user, (uint32_t)dev, mid);
    } else {
        cli_err_context(rc, NULL);
        cli_err("sync", "refused a message from %s/%u: %s", user, (unsigned)dev, rbx_strerror(rc));
        s->bad = 1;
    }
    free(body);
    free(mid);
    return out;
}

/* One retry request per sender device with what failed this round. */
static int send_retries(syncer *s)
{
    for (size_t i = 0; i < s->nfail; i++) {
        failed *f = &s->fail[i];
        int ec = cli_fetch_bundle(s->n, f->user, f->device);
        if (ec != CLI_OK) return ec;
        static rbx_envelope env[1];
        static uint8_t buf[RBX_ENVELOPE_MAXBYTES(0)];
        rbx_send_info info;
        int rc = rbx_store_retry_request(s->n->st, &info, env, 1, buf, sizeof buf, f->user,
                                         f->device, (const uint8_t(*)[16])f->ids, f->n);
        if (rc == RBX_E_LIMIT) {
            print_undecryptable(s, f->user, f->device, f->n, 0);
            cli_err_context(rc, NULL);
            cli_err("sync", "%zu message(s) from %s/%u cannot be decrypted, and a retry was asked "
                    "less than an hour ago: they are lost", f->n, f->user, f->device);
            s->bad = 1;
            continue;
        }
        if (rc != 0) return cli_fail("sync", "retry request", rc);
        print_undecryptable(s, f->user, f->device, f->n, 1);
        if (!s->json)
            fprintf(stderr, "rbx: sync: %zu message(s) from %s/%u cannot be decrypted: asked for "
                    "them again\n", f->n, f->user, f->device);
    }
    free(s->fail);
    s->fail = NULL;
    s->nfail = 0;
    /* The request itself is a pending send. */
    return cli_flush_pending(s->n, s->json);
}

static int ack(syncer *s, const int64_t *ids, size_t n)
{
    if (n == 0) return CLI_OK;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    char target[160];
    snprintf(target, sizeof target, "/v1/users/%s/devices/%u/mailbox/ack", s->acct.user, s->acct.device);
    json_t *r = NULL;
    long st = cli_net_call(s->n, "POST", target, json_pack("{s:o}", "ids", a), &r, 1);
    int ec = st == 200 ? CLI_OK : cli_net_fail(s->n, "acknowledge", st, r);
    json_decref(r);
    return ec;
}

/* One fetch: *more when the server has more; *empty when nothing came. */
static int round_trip(syncer *s, unsigned wait, int *empty, int *more)
{
    char target[200];
    snprintf(target, sizeof target, "/v1/users/%s/devices/%u/mailbox?limit=%u%s", s->acct.user,
             s->acct.device, FETCH_LIMIT, wait ? "&wait=30" : "");
    s->n->timeout = wait ? LONG_POLL + 30 : 60;
    json_t *r = NULL;
    long st = cli_net_call(s->n, "GET", target, NULL, &r, 1);
    s->n->timeout = 0;
    if (st != 200) {
        int ec = cli_net_fail(s->n, "mailbox", st, r);
        json_decref(r);
        return ec;
    }
    json_t *items = json_object_get(r, "items");
    size_t n = json_array_size(items);
    *empty = n == 0;
    *more = json_is_true(json_object_get(r, "more"));
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    uint64_t *inbox = calloc(n ? n : 1, sizeof *inbox);
    int ec = ids != NULL && inbox != NULL ? CLI_OK : cli_fail("sync", NULL, RBX_E_NOMEM);
    size_t nids = 0;
    for (size_t i = 0; i < n && ec == CLI_OK; i++) {
        json_t *it = json_array_get(items, i);
        uint64_t id;
        if (cli_json_uint(it, "id", (1ULL << 53) - 1, &id) != 0 || id == 0) {
            cli_err("sync", "a mailbox item without an id: skipped");
            s->bad = 1;
            continue;
        }
        one_item(s, it, &inbox[nids]);
        ids[nids++] = (int64_t)id;
    }
    /* Written out before anything is acknowledged. */
    if (ec == CLI_OK && s->fatal) ec = s->fatal;
    if (ec == CLI_OK) ec = cli_flush_stdout("sync");
    if (ec == CLI_OK) ec = ack(s, ids, nids);
    if (ec == CLI_OK) {
        /* The store's inbox entries of this round, in one commit. */
        size_t k = 0, gone;
        for (size_t i = 0; i < nids; i++)
            if (inbox[i] != 0) inbox[k++] = inbox[i];
        int rc = rbx_store_ack_inbox_batch(s->n->st, inbox, k, &gone);
        if (rc != 0) ec = cli_fail("sync", "inbox", rc);
    }
    free(ids);
    free(inbox);
    json_decref(r);
    if (ec == CLI_OK && s->nfail > 0) ec = send_retries(s);
    /* Re-sends a retry request queued. */
    if (ec == CLI_OK) ec = cli_flush_pending(s->n, s->json);
    return ec;
}

int sync_main(int argc, char **argv)
{
    static const struct option opts[] = { { "follow", no_argument, NULL, 'f' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "server", required_argument, NULL, 's' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int c, ec, follow = 0;
    const char *server = NULL;
    syncer s;
    memset(&s, 0, sizeof s);
    while ((c = cli_getopt(argc, argv, opts, "sync", sync_usage, &ec)) != -1) {
        switch (c) {
        case 'f': follow = 1; break;
        case 'j': s.json = 1; break;
        case 's': server = optarg; break;
        default: return ec;
        }
    }
    if (optind != argc) {
        cli_err("sync", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    rbx_store *st;
    if ((ec = cli_open_store(&st, "sync", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    cli_net n;
    if ((ec = cli_account(st, "sync", &s.acct)) != CLI_OK) goto out;
    if ((ec = cli_net_open(&n, "sync", st, server)) != CLI_OK) goto out;
    cli_net_as(&n, s.acct.user, s.acct.device);
    s.n = &n;
    s.cap = RBX_MAX_WIRE + 128U;
    if ((s.pt = malloc(s.cap)) == NULL) {
        ec = cli_fail("sync", NULL, RBX_E_NOMEM);
        goto close;
    }
    /* Prekeys on the server (at most every UPKEEP_EVERY seconds), then
     * what earlier runs left pending. */
    if ((ec = cli_upkeep_due(&n, &s.acct, UPKEEP_EVERY)) != CLI_OK ||
        (ec = cli_flush_pending(&n, s.json)) != CLI_OK)
        goto close;
    time_t last_upkeep = time(NULL);
    int empty = 0, more = 0;
    for (;;) {
        ec = round_trip(&s, follow && empty && !more, &empty, &more);
        if (ec != CLI_OK) break;
        if (!follow && empty && !more) break;
        if (follow && time(NULL) - last_upkeep >= UPKEEP_EVERY) {
            if ((ec = cli_upkeep_due(&n, &s.acct, UPKEEP_EVERY)) != CLI_OK) break;
            last_upkeep = time(NULL);
        }
    }
    if (ec == CLI_OK && s.bad) ec = CLI_DATAERR;
close:
    if (s.pt != NULL) sodium_memzero(s.pt, s.cap);
    free(s.pt);
    free(s.fail);
    cli_net_close(&n);
out:
    rbx_store_close(st);
    return ec;
}
