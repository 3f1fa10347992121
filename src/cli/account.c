/* SPDX-License-Identifier: MIT
 * rbx account create|link|join|approve|devices|remove|rotate and rbx contact
 * add: this device as a device of a user on an rbxd server (SERVER.md 5,
 * PROTOCOL.md 20 and 21). The entries, the link slots and the request
 * signatures are made by the library with the keys it holds; this file
 * talks to the server and prints. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define LINK_FILE "link"
#define LINK_POLL_MS 500
/* Seconds this device keeps a link code for rbx account approve (the
 * server's link, SERVER.md 5.5, lives link_ttl from the join's request). */
#define LINK_VALID 600
#define FIRST_BATCH 100U

static const char account_usage[] =
    "Usage: rbx account create USER [--org ORG_PUBKEY_B64] [--server URL] [--json]\n"
    "       rbx account link [--server URL] [--json]\n"
    "       rbx account join CODE|- [--org ORG_PUBKEY_B64] [--server URL] [--wait SECONDS]\n"
    "                [--json]\n"
    "       rbx account approve FINGERPRINT [--server URL] [--json]\n"
    "       rbx account devices [USER] [--server URL] [--json]\n"
    "       rbx account remove DEVICE [--server URL] [--json]\n"
    "       rbx account rotate [--server URL] [--json]\n"
    "This device as a device of USER on an rbxd server (created with its identity\n"
    "if DIR has none). create: the first device of a new user. link: print a\n"
    "one-time code for a new device (valid 10 minutes). join: on the new device,\n"
    "with that code: show this device's fingerprint and wait until the existing\n"
    "device approves, then enroll. approve: on the existing device, after comparing\n"
    "the fingerprint join printed. devices: the verified device list. remove: take\n"
    "a device out of our list. rotate: a new identity key, announced in the list.\n"
    "The server is remembered after create and join. --org: our user is bound to\n"
    "that organisation root (entries it signs are accepted in our list).\n"
    "--json: one object per line (spec/json/account*.schema.json): create and join\n"
    "{\"state\",\"user\",\"device\",\"registration_id\",\"identity\",\"server\"} (join:\n"
    "\"waiting\" first, with the fingerprint to compare), link {\"code\",\"expires\"},\n"
    "devices the list with its devices.\n";

static const char contact_usage[] =
    "Usage: rbx contact add USER [--org ORG_PUBKEY_B64] [--server URL] [--json]\n"
    "Fetch USER's device list from the server, verify it and pin it (its first\n"
    "entry's hash is printed for comparison out of band). Messages to USER then\n"
    "go to every device of the list: rbx send USER. --org: USER is bound to that\n"
    "organisation root: entries it signs (a device it enrolled, replaced or\n"
    "removed) are accepted; another root for USER is refused (exit 73).\n"
    "--json: one object, as rbx account devices --json with \"pinned\" (true: pinned\n"
    "now, on first use; false: verified against the pin held).\n";

static int64_t now_s(void) { return (int64_t)time(NULL); }

static void hex_of(char *out, size_t cap, const uint8_t *p, size_t n)
{
    sodium_bin2hex(out, cap, p, n);
}

/* ------------------------------------------------------------ options */

typedef struct acct_opts {
    const char *server;
    int json;
    long wait;
    const char *org_b64;      /* --org: the user's organisation root */
    uint8_t org[RBX_PUBLICKEYBYTES];
} acct_opts;

/* Parse the common options; positional arguments from argv[optind]. */
static int parse_opts(int argc, char **argv, const char *verb, const char *usage, acct_opts *o)
{
    static const struct option opts[] = { { "server", required_argument, NULL, 's' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "wait", required_argument, NULL, 'w' },
                                          { "org", required_argument, NULL, 'o' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int c, ec;
    memset(o, 0, sizeof *o);
    o->wait = 600;
    while ((c = cli_getopt(argc, argv, opts, verb, usage, &ec)) != -1) {
        switch (c) {
        case 's': o->server = optarg; break;
        case 'j': o->json = 1; break;
        case 'w': {
            uint32_t w;
            if (cli_parse_u32(&w, optarg, 1, 86400) != 0) {
                cli_err(verb, "--wait: expected seconds, 1..86400");
                return CLI_USAGE;
            }
            o->wait = (long)w;
            break;
        }
        case 'o':
            if (rbx_key_from_base64(o->org, optarg, strlen(optarg)) != 0) {
                cli_err(verb, "--org: '%s' is not a public key (44 characters of base64)", optarg);
                return CLI_USAGE;
            }
            o->org_b64 = optarg;
            break;
        default: return ec;
        }
    }
    return -1;
}

/* --org: bind user to the organisation root before its list is verified
 * (PROTOCOL.md 20.5: entries the root signed are then accepted). */
static int bind_org(rbx_store *st, const char *verb, const char *user, const acct_opts *o)
{
    if (o->org_b64 == NULL) return CLI_OK;
    int rc = rbx_store_user_org(st, user, o->org);
    if (rc == RBX_E_EXISTS) {
        cli_err(verb, "%s is bound to another organisation root", user);
        return CLI_CANTCREAT;
    }
    return rc == 0 ? CLI_OK : cli_fail(verb, user, rc);
}

/* ------------------------------------------------------------ enrollment */

/* POST the enrollment of this device with entry (SERVER.md 5.3): its
 * registration id, base bundle and a first batch of one-time prekeys. */
static int enroll(cli_net *n, const rbx_account *a)
{
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t bl, got;
    uint32_t ids[FIRST_BATCH];
    uint8_t keys[FIRST_BATCH][32];
    int rc = rbx_store_bundle(n->st, b, sizeof b, &bl, 0);
    if (rc == 0) rc = rbx_store_onetime_export(n->st, ids, keys, FIRST_BATCH, &got);
    if (rc != 0) return cli_fail(n->verb, "keys", rc);
    json_t *otk = json_array();
    for (size_t i = 0; i < got; i++)
        json_array_append_new(otk, json_pack("{s:I, s:o}", "id", (json_int_t)ids[i], "key",
                                             cli_json_b64(keys[i], 32)));
    json_t *body = json_pack("{s:o, s:I, s:o, s:o}", "entry", cli_json_b64(a->entry, a->entry_len),
                             "registration_id", (json_int_t)a->registration_id, "bundle",
                             cli_json_b64(b, bl), "one_time", otk);
    char target[128];
    snprintf(target, sizeof target, "/v1/users/%s/devices", a->user);
    json_t *r = NULL;
    cli_net_as(n, a->user, a->device);
    long st = cli_net_call(n, "POST", target, body, &r, 1);
    int ec = CLI_OK;
    /* A retried enrollment that had committed answers devlist_conflict:
     * our own list then says whether it holds this device. */
    if (st == 409 && strcmp(cli_net_error(r), "devlist_conflict") == 0) st = 200;
    if (st != 200) {
        if (st == 403 && strcmp(cli_net_error(r), "enrollment_refused") == 0)
            cli_err(n->verb, "the server refused to enroll this device under %s (its policy)", a->user);
        else if (st == 409)
            cli_err(n->verb, "%s: the list changed since the approval: approve again", a->user);
        ec = st == 403 || st == 409 ? CLI_NOUSER : cli_net_fail(n, "enroll", st, r);
    }
    json_decref(r);
    if (ec != CLI_OK) return ec;
    rbx_user_update up;
    if ((ec = cli_user_refresh(n, a->user, &up)) != CLI_OK) return ec;
    if (!up.self_listed) {
        cli_err(n->verb, "%s's device list does not hold this device", a->user);
        return CLI_DATAERR;
    }
    return CLI_OK;
}

/* create and join (spec/json/account.schema.json). state: "created",
 * "joined", or "waiting" (join, before the approval: the user and the
 * registration are not known yet). */
static int print_account(const rbx_account *a, rbx_store *st, int json, const char *state,
                         const char *server)
{
    uint8_t pk[32];
    char fp[RBX_FINGERPRINT_HEXBYTES];
    int rc = rbx_store_identity(st, pk);
    if (rc != 0) return cli_fail("account", "identity", rc);
    rbx_fingerprint(fp, pk);
    if (json) {
        int waiting = a == NULL;
        cli_jbegin(stdout);
        cli_jstr(stdout, "state", state);
        if (waiting) cli_jnull(stdout, "user");
        else cli_jstr(stdout, "user", a->user);
        cli_juint(stdout, "device", waiting ? rbx_device_id(pk) : a->device);
        if (waiting) cli_jnull(stdout, "registration_id");
        else cli_juint(stdout, "registration_id", a->registration_id);
        cli_jpubkey(stdout, "identity", pk);
        cli_jstr(stdout, "server", server);
        cli_jend(stdout);
    } else if (a == NULL) {
        /* On stdout: a script passes it to the approving device. */
        printf("%s\n", fp);
    } else {
        printf("%s %s as device %u (fingerprint %s)\n", state, a->user, a->device, fp);
    }
    return CLI_OK;
}

/* Open (or create) the store with an identity. */
static int store_with_identity(rbx_store **st, const char *verb)
{
    int ec = cli_open_store(st, verb, CLI_STORE_CREATE);
    if (ec != CLI_OK) return ec;
    uint8_t pk[32];
    int rc = rbx_store_identity(*st, pk);
    if (rc == RBX_E_NOT_FOUND) rc = rbx_store_identity_create(*st, NULL, NULL);
    if (rc != 0) {
        rbx_store_close(*st);
        *st = NULL;
        return cli_fail(verb, "identity", rc);
    }
    return CLI_OK;
}

static int account_create(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind != 1) {
        cli_err("account", "create: expected USER");
        return CLI_USAGE;
    }
    const char *user = argv[optind];
    if (!rbx_user_id_ok(user)) {
        cli_err("account", "'%s' is not a user id ([a-z0-9] then [a-z0-9._@-], 1 to 63 bytes)", user);
        return CLI_USAGE;
    }
    rbx_store *st;
    if ((ec = store_with_identity(&st, "account")) != CLI_OK) return ec;
    cli_net n;
    rbx_account a;
    if ((ec = cli_net_open(&n, "account", st, o.server)) != CLI_OK) goto out;
    int rc = rbx_store_account(st, &a);
    if (rc == RBX_E_NOT_FOUND) {
        uint8_t e[RBX_DEVLIST_ENTRY_MAXBYTES];
        size_t el;
        rc = rbx_store_devlist_first_entry(st, e, sizeof e, &el, user, (uint64_t)now_s());
        if (rc == 0) rc = rbx_store_account_init(st, &a, e, el);
    } else if (rc == 0 && strcmp(a.user, user) != 0) {
        cli_err("account", "this device is already a device of %s", a.user);
        ec = CLI_CANTCREAT;
        goto close;
    }
    if (rc != 0) {
        ec = cli_fail("account", NULL, rc);
        goto close;
    }
    if ((ec = bind_org(st, "account", user, &o)) != CLI_OK) goto close;
    if ((ec = enroll(&n, &a)) == CLI_OK && (ec = cli_server_remember("account", n.base)) == CLI_OK) {
        if ((ec = print_account(&a, st, o.json, "created", n.base)) == CLI_OK)
            ec = cli_flush_stdout("account");
    }
close:
    cli_net_close(&n);
out:
    rbx_store_close(st);
    return ec;
}

/* ------------------------------------------------------------ linking */

static int link_path(char *out, size_t cap)
{
    int k = snprintf(out, cap, "%s/%s", cli_dir, LINK_FILE);
    return k < 0 || (size_t)k >= cap ? -1 : 0;
}

static int account_link(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind != 0) {
        cli_err("account", "link: no argument expected");
        return CLI_USAGE;
    }
    rbx_store *st;
    rbx_account a;
    if ((ec = cli_open_store(&st, "account", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    if ((ec = cli_account(st, "account", &a)) != CLI_OK) goto out;
    /* The secret waits in DIR/link (0600) for rbx account approve. */
    uint8_t secret[RBX_LINK_SECRETBYTES];
    char code[RBX_LINK_CODEBYTES], hex[2 * RBX_LINK_SECRETBYTES + 1], path[PATH_MAX];
    if (rbx_link_code_new(code, secret) != 0 || link_path(path, sizeof path) != 0) {
        ec = cli_fail("account", NULL, RBX_E_INVALID);
        goto out;
    }
    hex_of(hex, sizeof hex, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    char line[128];
    int64_t created = now_s();
    int k = snprintf(line, sizeof line, "%s %lld\n", hex, (long long)created);
    int ok = fd >= 0 && write(fd, line, (size_t)k) == k && fsync(fd) == 0;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(line, sizeof line);
    if (!ok) {
        cli_err("account", "cannot write %s: %s", path, strerror(errno));
        ec = CLI_IOERR;
        goto out;
    }
    if (o.json) { /* spec/json/account-link.schema.json */
        cli_jbegin(stdout);
        cli_jstr(stdout, "code", code);
        cli_jtime(stdout, "expires", created + LINK_VALID);
        cli_jend(stdout);
    } else {
        printf("%s\n", code);
    }
    if (!cli_json_mode)
        fprintf(stderr, "rbx: account: on the new device: rbx account join %s%s%s\n"
                "rbx: account: then compare fingerprints and run rbx account approve FINGERPRINT here\n",
                code, o.server ? " --server " : "", o.server ? o.server : "");
    sodium_memzero(code, sizeof code);
    ec = cli_flush_stdout("account");
out:
    rbx_store_close(st);
    return ec;
}

static void link_target(char *out, size_t cap, const uint8_t secret[RBX_LINK_SECRETBYTES],
                        const char *slot)
{
    uint8_t id[RBX_LINK_IDBYTES];
    char hex[2 * RBX_LINK_IDBYTES + 1];
    rbx_link_id(id, secret);
    hex_of(hex, sizeof hex, id, sizeof id);
    snprintf(out, cap, "/v1/links/%s%s%s", hex, slot ? "/" : "", slot ? slot : "");
}

/* Read the code from argv or, for "-", one line of stdin. */
static int read_code(const char *arg, uint8_t secret[RBX_LINK_SECRETBYTES])
{
    char line[128];
    const char *code = arg;
    if (strcmp(arg, "-") == 0) {
        if (fgets(line, sizeof line, stdin) == NULL) return RBX_E_MALFORMED;
        line[strcspn(line, "\r\n")] = '\0';
        code = line;
    }
    int rc = rbx_link_code_parse(secret, code);
    sodium_memzero(line, sizeof line);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int account_join(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind != 1) {
        cli_err("account", "join: expected CODE (or - to read it from stdin)");
        return CLI_USAGE;
    }
    uint8_t secret[RBX_LINK_SECRETBYTES];
    if (read_code(argv[optind], secret) != 0) {
        cli_err("account", "join: not a link code (24 letters and digits, as rbx account link printed it)");
        return CLI_USAGE;
    }
    rbx_store *st;
    if ((ec = store_with_identity(&st, "account")) != CLI_OK) goto wipe;
    rbx_account a;
    if (rbx_store_account(st, &a) == 0) {
        cli_err("account", "this device is already a device of %s", a.user);
        ec = CLI_CANTCREAT;
        goto out;
    }
    cli_net n;
    if ((ec = cli_net_open(&n, "account", st, o.server)) != CLI_OK) goto out;
    uint8_t pk[32], slot[RBX_LINK_SLOT_MAXBYTES];
    size_t sl;
    char target[96], fp[RBX_FINGERPRINT_HEXBYTES];
    int rc = rbx_store_identity(st, pk);
    if (rc == 0) rc = rbx_link_request_seal(slot, sizeof slot, &sl, secret, pk);
    if (rc != 0) {
        ec = cli_fail("account", NULL, rc);
        goto close;
    }
    link_target(target, sizeof target, secret, "request");
    json_t *r = NULL;
    long status = cli_net_call(&n, "PUT", target, json_pack("{s:o}", "data", cli_json_b64(slot, sl)), &r, 0);
    if (status != 200) {
        ec = cli_net_fail(&n, "link", status, r);
        json_decref(r);
        goto close;
    }
    json_decref(r);
    rbx_fingerprint(fp, pk);
    if ((ec = print_account(NULL, st, o.json, "waiting", n.base)) != CLI_OK) goto close;
    if (!cli_json_mode)
        fprintf(stderr, "rbx: account: this device's fingerprint is %s: on the existing device, "
                "compare it and run rbx account approve %s\n", fp, fp);
    if ((ec = cli_flush_stdout("account")) != CLI_OK) goto close;
    /* Wait for the approval. */
    link_target(target, sizeof target, secret, NULL);
    rbx_devlist_entry e;
    uint8_t sig[64];
    int64_t until = now_s() + o.wait;
    for (;;) {
        status = cli_net_call(&n, "GET", target, NULL, &r, 0);
        if (status != 200) {
            ec = status == 404 ? (cli_err("account", "the link expired before it was approved"), CLI_TEMPFAIL)
                               : cli_net_fail(&n, "link", status, r);
            json_decref(r);
            goto close;
        }
        json_t *ap = json_object_get(r, "approval");
        if (json_is_string(ap)) {
            size_t al;
            uint8_t *abuf = cli_json_unb64(ap, &al, RBX_LINK_SLOT_MAXBYTES);
            rc = abuf != NULL ? rbx_link_approval_open(&e, sig, secret, abuf, al) : RBX_E_MALFORMED;
            free(abuf);
            json_decref(r);
            if (rc != 0) {
                cli_err("account", "the approval does not open under this link's code: %s", rbx_strerror(rc));
                ec = CLI_DATAERR;
                goto close;
            }
            break;
        }
        json_decref(r);
        if (now_s() >= until) {
            cli_err("account", "not approved within %ld s", o.wait);
            ec = CLI_TEMPFAIL;
            goto close;
        }
        sleep_ms(LINK_POLL_MS);
    }
    /* The approved entry adds this key as this device: sign it too. */
    if (sodium_memcmp(e.identity, pk, 32) != 0 || e.device != rbx_device_id(pk)) {
        cli_err("account", "the approval is for another device");
        ec = CLI_DATAERR;
        goto close;
    }
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t el;
    if ((ec = bind_org(st, "account", e.user, &o)) != CLI_OK) goto close;
    rc = rbx_store_devlist_cosign(st, ent, sizeof ent, &el, &e, sig);
    if (rc == 0) rc = rbx_store_account_init(st, &a, ent, el);
    if (rc != 0) {
        ec = cli_fail("account", "approval", rc);
        goto close;
    }
    if ((ec = enroll(&n, &a)) == CLI_OK && (ec = cli_server_remember("account", n.base)) == CLI_OK) {
        if ((ec = print_account(&a, st, o.json, "joined", n.base)) == CLI_OK)
            ec = cli_flush_stdout("account");
    }
close:
    cli_net_close(&n);
out:
    rbx_store_close(st);
wipe:
    sodium_memzero(secret, sizeof secret);
    return ec;
}

/* The pending link's secret (DIR/link), removed once used or expired. */
static int link_secret(uint8_t secret[RBX_LINK_SECRETBYTES])
{
    char path[PATH_MAX], line[128];
    if (link_path(path, sizeof path) != 0) return CLI_USAGE;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        cli_err("account", "no pending link: run rbx account link first");
        return CLI_NOINPUT;
    }
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *sp = ok ? strchr(line, ' ') : NULL;
    size_t bl = 0;
    long long t = sp ? strtoll(sp + 1, NULL, 10) : 0;
    ok = sp != NULL && sodium_hex2bin(secret, RBX_LINK_SECRETBYTES, line, (size_t)(sp - line), NULL,
                                      &bl, NULL) == 0 && bl == RBX_LINK_SECRETBYTES;
    sodium_memzero(line, sizeof line);
    if (!ok) {
        cli_err("account", "%s: damaged; run rbx account link again", path);
        unlink(path);
        return CLI_DATAERR;
    }
    if (now_s() - t > LINK_VALID) {
        cli_err("account", "the link expired (10 minutes): run rbx account link again");
        unlink(path);
        return CLI_TEMPFAIL;
    }
    return CLI_OK;
}

static int account_approve(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind != 1) {
        cli_err("account", "approve: expected the FINGERPRINT the new device printed");
        return CLI_USAGE;
    }
    const char *want = argv[optind];
    rbx_store *st;
    rbx_account a;
    uint8_t secret[RBX_LINK_SECRETBYTES];
    if ((ec = cli_open_store(&st, "account", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    if ((ec = cli_account(st, "account", &a)) != CLI_OK || (ec = link_secret(secret)) != CLI_OK) {
        rbx_store_close(st);
        return ec;
    }
    cli_net n;
    if ((ec = cli_net_open(&n, "account", st, o.server)) != CLI_OK) goto out;
    cli_net_as(&n, a.user, a.device);
    char target[96];
    link_target(target, sizeof target, secret, NULL);
    json_t *r = NULL;
    long status = cli_net_call(&n, "GET", target, NULL, &r, 0);
    if (status != 200) {
        ec = status == 404 ? (cli_err("account", "nobody joined with the code yet (or it expired)"), CLI_TEMPFAIL)
                           : cli_net_fail(&n, "link", status, r);
        json_decref(r);
        goto close;
    }
    size_t rl;
    uint8_t *rbuf = cli_json_unb64(json_object_get(r, "request"), &rl, RBX_LINK_SLOT_MAXBYTES);
    uint8_t pk[32];
    int rc = rbuf != NULL ? rbx_link_request_open(pk, secret, rbuf, rl) : RBX_E_MALFORMED;
    free(rbuf);
    json_decref(r);
    if (rc != 0) {
        cli_err("account", "the join request does not open under this link's code: %s", rbx_strerror(rc));
        ec = CLI_DATAERR;
        goto close;
    }
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, pk);
    /* The user compared: the key that asked is the key on the new device. */
    if (strlen(want) != strlen(fp) || sodium_memcmp(want, fp, strlen(fp)) != 0) {
        cli_err("account", "the device that joined has fingerprint %s, not %s: not approved", fp, want);
        ec = CLI_DATAERR;
        goto close;
    }
    rbx_user_update up;
    rbx_devlist_pin pin;
    if ((ec = cli_user_refresh(&n, a.user, &up)) != CLI_OK) goto close;
    if ((rc = rbx_store_user_pin(st, &pin, a.user)) != 0) {
        ec = cli_fail("account", NULL, rc);
        goto close;
    }
    rbx_devlist_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "%s", a.user);
    e.seq = pin.seq + 1;
    memcpy(e.prev_hash, pin.hash, 32);
    e.op = RBX_DEVLIST_ADD;
    e.device = rbx_device_id(pk);
    memcpy(e.identity, pk, 32);
    e.created = (uint64_t)now_s();
    e.signer_kind = RBX_SIGNER_DEVICE;
    uint8_t sig[64], slot[RBX_LINK_SLOT_MAXBYTES];
    size_t sl;
    if ((rc = rbx_store_identity(st, e.signer)) != 0 || (rc = rbx_store_devlist_sign(st, sig, &e)) != 0 ||
        (rc = rbx_link_approval_seal(slot, sizeof slot, &sl, secret, &e, sig)) != 0) {
        ec = cli_fail("account", "approval", rc);
        goto close;
    }
    link_target(target, sizeof target, secret, "approval");
    status = cli_net_call(&n, "PUT", target, json_pack("{s:o}", "data", cli_json_b64(slot, sl)), &r, 0);
    ec = status == 200 ? CLI_OK : cli_net_fail(&n, "link", status, r);
    json_decref(r);
    if (ec == CLI_OK) {
        char path[PATH_MAX];
        if (link_path(path, sizeof path) == 0) unlink(path);
        if (o.json) { /* spec/json/account-approve.schema.json */
            cli_jbegin(stdout);
            cli_jstr(stdout, "user", a.user);
            cli_juint(stdout, "device", e.device);
            cli_jpubkey(stdout, "identity", pk);
            cli_juint(stdout, "seq", e.seq);
            cli_jend(stdout);
        } else {
            printf("approved device %u (fingerprint %s) for %s\n", e.device, fp, a.user);
        }
        ec = cli_flush_stdout("account");
    }
close:
    cli_net_close(&n);
out:
    sodium_memzero(secret, sizeof secret);
    rbx_store_close(st);
    return ec;
}

/* ------------------------------------------------------------ devices, remove, rotate */

/* The verified list of user. json: one object (spec/json/account-devices
 * and contact-add.schema.json); pinned: contact add's member (-1: none). */
static int print_devices(rbx_store *st, const char *user, int json, int pinned)
{
    rbx_user_device d[RBX_DEVLIST_MAX_DEVICES];
    size_t n;
    int rc = rbx_store_user_devices(st, d, RBX_DEVLIST_MAX_DEVICES, &n, user);
    if (rc != 0) return cli_fail("account", user, rc);
    if (n > RBX_DEVLIST_MAX_DEVICES) n = RBX_DEVLIST_MAX_DEVICES;
    rbx_devlist_pin pin;
    if ((rc = rbx_store_user_pin(st, &pin, user)) != 0) return cli_fail("account", user, rc);
    char first[17];
    hex_of(first, sizeof first, pin.first_hash, 8);
    if (json) {
        cli_jbegin(stdout);
        cli_jstr(stdout, "user", user);
        if (pinned >= 0) cli_jbool(stdout, "pinned", pinned);
        cli_juint(stdout, "seq", pin.seq);
        cli_jstr(stdout, "first_entry", first);
        cli_jkey(stdout, "devices");
        fputc('[', stdout);
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"device\":%u", i ? "," : "", d[i].device);
            cli_jpubkey(stdout, "identity", d[i].identity);
            cli_juint(stdout, "added_seq", d[i].added_seq);
            /* 0: the server has not listed it to us yet */
            if (d[i].registration_id != 0) cli_juint(stdout, "registration_id", d[i].registration_id);
            else cli_jnull(stdout, "registration_id");
            cli_jbool(stdout, "this_device", d[i].self);
            cli_jbool(stdout, "session", d[i].has_session);
            fputc('}', stdout);
        }
        fputc(']', stdout);
        cli_jend(stdout);
        return CLI_OK;
    }
    if (pinned >= 0) printf("%s %s\n", pinned ? "pinned" : "verified", user);
    printf("%s: list %llu (first entry %s), %zu devices\n", user, (unsigned long long)pin.seq,
           first, n);
    for (size_t i = 0; i < n; i++) {
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, d[i].identity);
        printf("  device %-10u %s  added at %llu%s%s\n", d[i].device, fp,
               (unsigned long long)d[i].added_seq, d[i].self ? "  (this device)" : "",
               d[i].has_session ? "  session" : "");
    }
    return CLI_OK;
}

static int account_devices(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind > 1) {
        cli_err("account", "devices: expected at most USER");
        return CLI_USAGE;
    }
    rbx_store *st;
    rbx_account a;
    if ((ec = cli_open_store(&st, "account", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    if ((ec = cli_account(st, "account", &a)) != CLI_OK) goto out;
    const char *user = argc - optind == 1 ? argv[optind] : a.user;
    cli_net n;
    if ((ec = cli_net_open(&n, "account", st, o.server)) != CLI_OK) goto out;
    cli_net_as(&n, a.user, a.device);
    if ((ec = cli_user_refresh(&n, user, NULL)) == CLI_OK && (ec = print_devices(st, user, o.json, -1)) == CLI_OK)
        ec = cli_flush_stdout("account");
    cli_net_close(&n);
out:
    rbx_store_close(st);
    return ec;
}

/* POST a remove or rotate entry to our own list (SERVER.md 5.4). */
static int post_change(cli_net *n, const rbx_account *a, const uint8_t *ent, size_t el,
                       const uint8_t *bundle, size_t bl)
{
    char target[128];
    snprintf(target, sizeof target, "/v1/users/%s/devicelist", a->user);
    json_t *body = json_pack("{s:o}", "entry", cli_json_b64(ent, el));
    if (bundle != NULL) json_object_set_new(body, "bundle", cli_json_b64(bundle, bl));
    json_t *r = NULL;
    long st = cli_net_call(n, "POST", target, body, &r, 1);
    int ec = st == 200 ? CLI_OK : cli_net_fail(n, "device list", st, r);
    json_decref(r);
    return ec;
}

/* The next entry of our list, from the pin just refreshed. */
static int next_entry(rbx_store *st, const rbx_account *a, rbx_devlist_entry *e, unsigned op)
{
    rbx_devlist_pin pin;
    int rc = rbx_store_user_pin(st, &pin, a->user);
    if (rc != 0) return rc;
    memset(e, 0, sizeof *e);
    snprintf(e->user, sizeof e->user, "%s", a->user);
    e->seq = pin.seq + 1;
    memcpy(e->prev_hash, pin.hash, 32);
    e->op = op;
    e->created = (uint64_t)now_s();
    e->signer_kind = RBX_SIGNER_DEVICE;
    return 0;
}

static int account_remove(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    uint32_t dev;
    if (argc - optind != 1 || cli_parse_u32(&dev, argv[optind], 1, RBX_DEVICE_ID_MAX) != 0) {
        cli_err("account", "remove: expected a DEVICE id (rbx account devices lists them)");
        return CLI_USAGE;
    }
    rbx_store *st;
    rbx_account a;
    if ((ec = cli_open_store(&st, "account", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    if ((ec = cli_account(st, "account", &a)) != CLI_OK) goto out;
    cli_net n;
    if ((ec = cli_net_open(&n, "account", st, o.server)) != CLI_OK) goto out;
    cli_net_as(&n, a.user, a.device);
    if ((ec = cli_user_refresh(&n, a.user, NULL)) != CLI_OK) goto close;
    rbx_user_device d[RBX_DEVLIST_MAX_DEVICES];
    size_t nd;
    int rc = rbx_store_user_devices(st, d, RBX_DEVLIST_MAX_DEVICES, &nd, a.user);
    const rbx_user_device *victim = NULL, *me = NULL;
    for (size_t i = 0; rc == 0 && i < nd && i < RBX_DEVLIST_MAX_DEVICES; i++) {
        if (d[i].device == dev) victim = &d[i];
        if (d[i].self) me = &d[i];
    }
    if (rc != 0 || victim == NULL || me == NULL) {
        if (rc == 0) cli_err("account", "no device %u in %s's list", dev, a.user);
        ec = rc != 0 ? cli_fail("account", NULL, rc) : CLI_NOINPUT;
        goto close;
    }
    rbx_devlist_entry e;
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t el;
    if ((rc = next_entry(st, &a, &e, RBX_DEVLIST_REMOVE)) == 0) {
        e.device = dev;
        memcpy(e.identity, victim->identity, 32);
        memcpy(e.signer, me->identity, 32);
        rc = rbx_store_devlist_entry(st, ent, sizeof ent, &el, &e);
    }
    if (rc != 0) {
        ec = cli_fail("account", "remove", rc);
        goto close;
    }
    if ((ec = post_change(&n, &a, ent, el, NULL, 0)) != CLI_OK) goto close;
    if (dev != a.device) ec = cli_user_refresh(&n, a.user, NULL);
    if (ec == CLI_OK) {
        if (o.json) { /* spec/json/account-remove.schema.json */
            cli_jbegin(stdout);
            cli_jstr(stdout, "user", a.user);
            cli_juint(stdout, "device", dev);
            cli_jpubkey(stdout, "identity", e.identity);
            cli_juint(stdout, "seq", e.seq);
            cli_jbool(stdout, "this_device", dev == a.device);
            cli_jend(stdout);
        } else {
            printf("removed device %u from %s\n", dev, a.user);
        }
        ec = cli_flush_stdout("account");
    }
close:
    cli_net_close(&n);
out:
    rbx_store_close(st);
    return ec;
}

/* A new identity key, then the list's rotate entry signed by the key the
 * list names (the old one, held for its grace window). Run again after a
 * failure, it resumes with the entry. */
static int account_rotate(int argc, char **argv)
{
    acct_opts o;
    int ec = parse_opts(argc, argv, "account", account_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind != 0) {
        cli_err("account", "rotate: no argument expected");
        return CLI_USAGE;
    }
    rbx_store *st;
    rbx_account a;
    if ((ec = cli_open_store(&st, "account", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    if ((ec = cli_account(st, "account", &a)) != CLI_OK) goto out;
    cli_net n;
    if ((ec = cli_net_open(&n, "account", st, o.server)) != CLI_OK) goto out;
    cli_net_as(&n, a.user, a.device);
    rbx_user_device d[RBX_DEVLIST_MAX_DEVICES];
    size_t nd;
    uint8_t cur[32], listed[32];
    const rbx_user_device *me = NULL;
    int rc = rbx_store_identity(st, cur);
    /* The server knows the listed key: requests are signed with it. */
    if (rc == 0) rc = rbx_store_user_devices(st, d, RBX_DEVLIST_MAX_DEVICES, &nd, a.user);
    for (size_t i = 0; rc == 0 && i < nd && i < RBX_DEVLIST_MAX_DEVICES; i++)
        if (d[i].self) me = &d[i];
    if (rc != 0 || me == NULL) {
        ec = rc != 0 ? cli_fail("account", NULL, rc) : (cli_err("account", "this device is not in %s's list", a.user), CLI_NOINPUT);
        goto close;
    }
    memcpy(listed, me->identity, 32);
    n.sign_key = listed;
    if ((ec = cli_user_refresh(&n, a.user, NULL)) != CLI_OK) goto close;
    if (sodium_memcmp(listed, cur, 32) == 0) {
        rc = rbx_store_rotate_identity(st, "rbx account rotate", NULL, NULL, cur);
        if (rc != 0) {
            ec = cli_fail("account", "rotate", rc);
            goto close;
        }
    }
    rbx_devlist_entry e;
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES], b[RBX_BUNDLE_MAXBYTES];
    size_t el, bl;
    if ((rc = next_entry(st, &a, &e, RBX_DEVLIST_ROTATE)) == 0) {
        e.device = a.device;
        memcpy(e.identity, cur, 32);
        memcpy(e.signer, listed, 32);
        rc = rbx_store_devlist_entry(st, ent, sizeof ent, &el, &e);
    }
    if (rc == 0) rc = rbx_store_bundle(st, b, sizeof b, &bl, 0);
    if (rc != 0) {
        ec = cli_fail("account", "rotate", rc);
        goto close;
    }
    if ((ec = post_change(&n, &a, ent, el, b, bl)) != CLI_OK) goto close;
    n.sign_key = NULL;
    if ((ec = cli_user_refresh(&n, a.user, NULL)) == CLI_OK && (ec = cli_upkeep(&n, &a)) == CLI_OK) {
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, cur);
        if (o.json) { /* spec/json/account-rotate.schema.json */
            cli_jbegin(stdout);
            cli_jstr(stdout, "user", a.user);
            cli_juint(stdout, "device", a.device);
            cli_jpubkey(stdout, "identity", cur);
            cli_jpubkey(stdout, "previous", listed);
            cli_juint(stdout, "seq", e.seq);
            cli_jend(stdout);
        } else {
            printf("rotated device %u of %s to fingerprint %s\n", a.device, a.user, fp);
        }
        ec = cli_flush_stdout("account");
    }
close:
    cli_net_close(&n);
out:
    rbx_store_close(st);
    return ec;
}

int account_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = { { "create", account_create }, { "link", account_link },   { "join", account_join },
                 { "approve", account_approve }, { "devices", account_devices },
                 { "remove", account_remove }, { "rotate", account_rotate } };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc >= 2) {
            fputs(account_usage, stdout);
            return cli_flush_stdout("account");
        }
        cli_err("account", "expected a subcommand (create, link, join, approve, devices, remove, rotate)");
        cli_usage_err(account_usage);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[1], subs[i].name) == 0) return subs[i].fn(argc - 1, argv + 1);
    cli_err("account", "unknown subcommand '%s' (create, link, join, approve, devices, remove, rotate)",
            argv[1]);
    return CLI_USAGE;
}

/* ------------------------------------------------------------ contact add */

int contact_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc >= 2) {
            fputs(contact_usage, stdout);
            return cli_flush_stdout("contact");
        }
        cli_err("contact", "expected a subcommand (add)");
        cli_usage_err(contact_usage);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "add") != 0) {
        cli_err("contact", "unknown subcommand '%s' (add)", argv[1]);
        return CLI_USAGE;
    }
    argc--;
    argv++;
    acct_opts o;
    int ec = parse_opts(argc, argv, "contact", contact_usage, &o);
    if (ec >= 0) return ec;
    if (argc - optind != 1) {
        cli_err("contact", "add: expected USER");
        return CLI_USAGE;
    }
    const char *user = argv[optind];
    rbx_store *st;
    rbx_account a;
    if ((ec = cli_open_store(&st, "contact", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    if ((ec = cli_account(st, "contact", &a)) != CLI_OK) goto out;
    cli_net n;
    if ((ec = cli_net_open(&n, "contact", st, o.server)) != CLI_OK) goto out;
    cli_net_as(&n, a.user, a.device);
    rbx_user_update up;
    if ((ec = bind_org(st, "contact", user, &o)) == CLI_OK &&
        (ec = cli_user_refresh(&n, user, &up)) == CLI_OK) {
        ec = print_devices(st, user, o.json, up.first != 0);
        if (ec == CLI_OK) ec = cli_flush_stdout("contact");
    }
    cli_net_close(&n);
out:
    rbx_store_close(st);
    return ec;
}
