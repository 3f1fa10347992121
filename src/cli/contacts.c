/* SPDX-License-Identifier: MIT
 * rbx bundle, rbx add: publishing a prekey bundle and recording a contact's. */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char bundle_usage[] =
    "Usage: rbx bundle [--one-time N] [--json]\n"
    "Print a prekey bundle (identity, signed prekey, one one-time prekey never\n"
    "offered before) as one line of base64; N = 0: a bundle without a one-time\n"
    "prekey (default 100: with one). The pool follows the policy: topped up by\n"
    "onetime_batch (100) when fewer than onetime_low (10) are unoffered.\n"
    "Give each bundle to one peer. Does the policy's prekey upkeep first (as rbx\n"
    "rotate prekeys, without forcing a new signed prekey) and says on stderr what\n"
    "it changed, if anything. The bundle carries our rotation records and our\n"
    "organisation certificate, if any.\n";

static const char add_usage[] =
    "Usage: rbx add NAME [FILE|-] [--device D] [--org ORG_PUBKEY_B64] [--json]\n"
    "Record contact NAME (1-63 bytes, no control characters), device D (default 1),\n"
    "from one line of base64 bundle read from FILE or stdin. The signature is\n"
    "verified and the identity pinned. Prints NAME, device and fingerprint.\n"
    "Adding a known contact's bundle again: with a new identity key, the bundle's\n"
    "rotation records must lead from the pinned key, each signed by both keys;\n"
    "the new key is then pinned, the old sessions kept for the grace window and the\n"
    "next send starts a new session. Any other new key is refused (65, identity\n"
    "changed). --org: the contact must carry a certificate of its key by that\n"
    "organisation root, now and after every rotation, and not be revoked.\n";

int bundle_main(int argc, char **argv)
{
    static const struct option opts[] = { { "one-time", required_argument, NULL, 'n' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    uint32_t onetime = CLI_DEFAULT_ONETIME;
    int json = 0, c, ec;
    while ((c = cli_getopt(argc, argv, opts, "bundle", bundle_usage, &ec)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_u32(&onetime, optarg, 0, CLI_MAX_ONETIME) != 0) {
                cli_err("bundle", "--one-time: expected 0..%u", CLI_MAX_ONETIME);
                return CLI_USAGE;
            }
            break;
        case 'j': json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind != argc) {
        cli_err("bundle", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    rbx_store *st;
    rbx_maintain_result res;
    memset(&res, 0, sizeof res);
    if ((ec = cli_open_store(&st, "bundle", 0)) != CLI_OK) return ec;
    /* rbx_store_bundle does this upkeep too; done first, it can be reported
     * (not with --one-time 0, which must not refill the one-time pool). */
    int rc = onetime > 0 ? rbx_store_maintain(st, 0, &res) : 0;
    if (rc != 0 && rc != RBX_E_NOT_FOUND) {
        /* Changed nothing; the bundle's own upkeep tries again. */
        memset(&res, 0, sizeof res);
        rc = 0;
    }
    if (rc == 0) rc = rbx_store_bundle(st, b, sizeof b, &blen, onetime);
    if (rc == RBX_E_NOT_FOUND) {
        cli_close_store(st, "bundle");
        return cli_no_identity("bundle");
    }
    ec = rc != 0 ? cli_fail("bundle", NULL, rc) : CLI_OK;
    cli_close_store(st, "bundle");
    if (rc != 0) return ec;
    cli_report_maintenance("bundle", &res);
    char *line = cli_b64_encode(b, blen);
    if (line == NULL) return cli_fail("bundle", NULL, RBX_E_NOMEM);
    if (json) printf("{\"bundle\":\"%s\"}\n", line);
    else printf("%s\n", line);
    free(line);
    return cli_flush_stdout("bundle");
}

/* The contact (name, device), if it exists: 1, 0 if not, or a negative
 * RBX_E_* code. */
static int find_contact(rbx_store *st, rbx_contact_info *out, const char *name, uint32_t device)
{
    rbx_contact_info *cs;
    size_t n;
    int found = 0, rc = cli_contacts(st, &cs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (cs[i].device != device || strcmp(cs[i].name, name) != 0) continue;
        *out = cs[i];
        found = 1;
        break;
    }
    free(cs);
    return rc != 0 ? rc : found;
}

/* The organisation a known contact is bound to, as base64 (static buffer). */
static const char *bound_org(const rbx_contact_info *c, int known)
{
    static char b64[RBX_KEY_B64BYTES];
    if (known != 1 || !c->has_org) return NULL;
    rbx_key_to_base64(b64, c->org);
    return b64;
}

/* A refused bundle: say why, in words a user can act on. */
static int add_refused(int rc, const char *name, uint32_t device, const uint8_t *pinned,
                       const uint8_t bundle_identity[RBX_PUBLICKEYBYTES], const char *org_b64)
{
    char pfp[RBX_FINGERPRINT_HEXBYTES] = "-", bfp[RBX_FINGERPRINT_HEXBYTES];
    if (pinned != NULL) rbx_fingerprint(pfp, pinned);
    rbx_fingerprint(bfp, bundle_identity);
    switch (rc) {
    case RBX_E_INVALID:
        cli_err("add", "bad contact name (1-%u bytes, no control characters)", RBX_NAME_MAX - 1);
        return CLI_USAGE;
    case RBX_E_EXISTS:
        cli_err("add", "contact %s device %u exists and has a session", name, device);
        return CLI_CANTCREAT;
    case RBX_E_IDENTITY_CHANGED:
        cli_err("add", "%s device %u: identity changed: pinned %s, bundle %s, and no rotation "
                "chain from the pinned key; refused (check the new fingerprint out of band)",
                name, device, pfp, bfp);
        return CLI_DATAERR;
    case RBX_E_CHAIN:
        cli_err("add", "%s device %u: broken rotation chain from %s to %s (records do not link); "
                "refused", name, device, pfp, bfp);
        return CLI_DATAERR;
    case RBX_E_STALE:
        cli_err("add", "%s device %u: rotation replayed or rolled back (sequence not newer than "
                "the pinned one); refused", name, device);
        return CLI_DATAERR;
    case RBX_E_SIGNATURE:
        cli_err("add", "%s device %u: bad signature (on the bundle, a rotation record signed by "
                "one key only, or a certificate); refused", name, device);
        return CLI_DATAERR;
    case RBX_E_UNCERTIFIED:
        cli_err("add", "%s device %u: key %s not certified by organisation %s; refused", name,
                device, bfp, org_b64 ? org_b64 : "(the contact's)");
        return CLI_DATAERR;
    case RBX_E_REVOKED:
        cli_err("add", "%s device %u: key %s revoked by its organisation; refused", name, device,
                bfp);
        return CLI_DATAERR;
    case RBX_E_EXPIRED:
        cli_err("add", "%s device %u: expired (the certificate, or a signed prekey older than "
                "the policy's spk_max_age); refused", name, device);
        return CLI_DATAERR;
    default:
        return cli_fail("add", "bad bundle", rc);
    }
}

int add_main(int argc, char **argv)
{
    static const struct option opts[] = { { "device", required_argument, NULL, 'd' },
                                          { "org", required_argument, NULL, 'o' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    uint32_t device = 1;
    const char *org_b64 = NULL;
    uint8_t org[RBX_PUBLICKEYBYTES];
    int json = 0, c, ec;
    while ((c = cli_getopt(argc, argv, opts, "add", add_usage, &ec)) != -1) {
        switch (c) {
        case 'd':
            if (cli_parse_u32(&device, optarg, 0, UINT32_MAX) != 0) {
                cli_err("add", "--device: expected a number 0..%u", UINT32_MAX);
                return CLI_USAGE;
            }
            break;
        case 'o':
            org_b64 = optarg;
            if (rbx_key_from_base64(org, optarg, strlen(optarg)) != 0) {
                cli_err("add", "--org: '%s' is not a public key (44 characters of base64)", optarg);
                return CLI_USAGE;
            }
            break;
        case 'j': json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (argc - optind < 1 || argc - optind > 2) {
        cli_err("add", "expected NAME [FILE|-]");
        fputs(add_usage, stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind], *path = argc - optind == 2 ? argv[optind + 1] : NULL;
    uint8_t b[RBX_BUNDLE_MAXBYTES], pinned[RBX_PUBLICKEYBYTES];
    size_t blen;
    rbx_bundle parsed;
    rbx_contact_info before, after;
    rbx_store *st;
    rbx_policy pol;
    memset(&parsed, 0, sizeof parsed);
    memset(pinned, 0, sizeof pinned);
    memset(&before, 0, sizeof before);
    if ((ec = cli_read_b64("add", "bad bundle", path, b, sizeof b, &blen)) != CLI_OK) return ec;
    int rc = rbx_bundle_parse(&parsed, b, blen);
    if (rc != 0) return add_refused(rc, name, device, NULL, parsed.identity, org_b64);
    if ((ec = cli_open_store(&st, "add", 0)) != CLI_OK) return ec;
    int known = find_contact(st, &before, name, device);
    rc = known < 0 ? known : 0;
    if (known == 1) memcpy(pinned, before.identity, RBX_PUBLICKEYBYTES);
    if (rc == 0 && org_b64 != NULL) rc = rbx_store_add_contact_org(st, name, device, b, blen, org);
    else if (rc == 0) rc = rbx_store_add_contact(st, name, device, b, blen);
    if (rc == 0) rc = rbx_store_policy(st, &pol);
    if (rc == 0 && (rc = find_contact(st, &after, name, device)) == 0) rc = RBX_E_STATE;
    if (rc == 1) rc = 0;
    cli_close_store(st, "add");
    if (rc != 0) return add_refused(rc, name, device, known == 1 ? pinned : NULL, parsed.identity,
                                    org_b64 ? org_b64 : bound_org(&before, known));
    int rotated = known == 1 && sodium_memcmp(pinned, parsed.identity, RBX_PUBLICKEYBYTES) != 0;
    /* The old sessions stay for our policy's identity_grace from now. */
    int64_t until = (int64_t)time(NULL) + (int64_t)pol.identity_grace;
    char fp[RBX_FINGERPRINT_HEXBYTES], pfp[RBX_FINGERPRINT_HEXBYTES], when[CLI_TIME_CHARS];
    rbx_fingerprint(fp, parsed.identity);
    rbx_fingerprint(pfp, pinned);
    cli_time_str(when, until);
    char org_text[RBX_KEY_B64BYTES];
    if (after.has_org) rbx_key_to_base64(org_text, after.org);
    if (json) {
        fputs("{\"name\":", stdout);
        cli_json_str(stdout, name);
        printf(",\"device\":%u,\"fingerprint\":\"%s\",\"rotation_sequence\":%llu", device, fp,
               (unsigned long long)after.rotation_seq);
        if (after.has_org) printf(",\"org\":\"%s\"", org_text);
        if (rotated)
            printf(",\"rotated\":{\"from\":\"%s\",\"old_sessions_until\":%lld}", pfp,
                   (long long)until);
        fputs("}\n", stdout);
    } else {
        printf("%s %u %s\n", name, device, fp);
        if (rotated)
            printf("%s: identity rotated (sequence %llu), fingerprint %s -> %s; old sessions kept "
                   "until %s\n",
                   name, (unsigned long long)after.rotation_seq, pfp, fp, when);
        if (after.has_org) printf("%s: bound to organisation %s (certificate verified)\n", name, org_text);
    }
    return cli_flush_stdout("add");
}
