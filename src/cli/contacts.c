/* SPDX-License-Identifier: MIT
 * rbx bundle, rbx add: publishing a prekey bundle and recording a contact's. */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char bundle_usage[] =
    "Usage: rbx bundle [--no-one-time] [--count N] [--json]\n"
    "Print a prekey bundle (identity, signed prekey, one one-time prekey never\n"
    "offered before) as one line of base64. --no-one-time: a bundle without a\n"
    "one-time prekey (the pool is left as it is). --count N (1-1000): N bundles,\n"
    "one per line, each with its own one-time prekey. (--one-time 0 and 1 are\n"
    "kept: 0 is --no-one-time, 1 the default; a bundle never carries more than\n"
    "one, so any other N is refused.) The pool follows the policy: topped up by\n"
    "onetime_batch (100) when fewer than onetime_low (10) are unoffered.\n"
    "Give each bundle to one peer. Does the policy's prekey upkeep first (as rbx\n"
    "rotate prekeys, without forcing a new signed prekey) and says on stderr what\n"
    "it changed, if anything. The bundle carries our rotation records and our\n"
    "organisation certificate, if any. Nothing is printed unless every bundle\n"
    "was made. --json: one object per bundle.\n";

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

#define BUNDLE_COUNT_MAX 1000U

int bundle_main(int argc, char **argv)
{
    static const struct option opts[] = { { "one-time", required_argument, NULL, 'n' },
                                          { "no-one-time", no_argument, NULL, 'N' },
                                          { "count", required_argument, NULL, 'c' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    uint32_t onetime = 1, count = 1, n;
    int json = 0, c, ec;
    while ((c = cli_getopt(argc, argv, opts, "bundle", bundle_usage, &ec)) != -1) {
        switch (c) {
        case 'n':
            /* Once "any N > 0 means yes": a count it did not honour. */
            if (cli_parse_u32(&n, optarg, 0, UINT32_MAX) != 0 || n > 1) {
                cli_err("bundle", "--one-time %s: a bundle carries one one-time prekey or none "
                        "(--one-time 0 or 1, --no-one-time); --count N prints N bundles", optarg);
                return CLI_USAGE;
            }
            onetime = n;
            break;
        case 'N': onetime = 0; break;
        case 'c':
            if (cli_parse_u32(&count, optarg, 1, BUNDLE_COUNT_MAX) != 0) {
                cli_err("bundle", "--count: expected 1..%u", BUNDLE_COUNT_MAX);
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
    char **lines = calloc(count, sizeof *lines);
    if (lines == NULL) return cli_fail("bundle", NULL, RBX_E_NOMEM);
    memset(&res, 0, sizeof res);
    if ((ec = cli_open_store(&st, "bundle", 0)) != CLI_OK) {
        free(lines);
        return ec;
    }
    /* rbx_store_bundle does this upkeep too; done first, it can be reported
     * (not with --no-one-time, which must not refill the one-time pool). */
    int rc = onetime > 0 ? rbx_store_maintain(st, 0, &res) : 0;
    if (rc != 0 && rc != RBX_E_NOT_FOUND) {
        /* Changed nothing; the bundle's own upkeep tries again. */
        memset(&res, 0, sizeof res);
        rc = 0;
    }
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        if ((rc = rbx_store_bundle(st, b, sizeof b, &blen, onetime)) == 0 &&
            (lines[i] = cli_b64_encode(b, blen)) == NULL)
            rc = RBX_E_NOMEM;
    }
    if (rc == RBX_E_NOT_FOUND) {
        cli_close_store(st, "bundle");
        free(lines);
        return cli_no_identity("bundle");
    }
    ec = rc != 0 ? cli_fail("bundle", NULL, rc) : CLI_OK;
    cli_close_store(st, "bundle");
    if (rc == 0) cli_report_maintenance("bundle", &res);
    for (uint32_t i = 0; i < count; i++) {
        if (rc == 0 && json) {
            rbx_bundle parsed;
            char fp[RBX_FINGERPRINT_HEXBYTES];
            if (cli_b64_decode(b, sizeof b, &blen, lines[i], strlen(lines[i])) != 0 ||
                rbx_bundle_parse(&parsed, b, blen) != 0) {
                ec = cli_fail("bundle", "made a bundle that does not parse", RBX_E_STATE);
                rc = RBX_E_STATE;
                break;
            }
            rbx_fingerprint(fp, parsed.identity);
            cli_jbegin(stdout);
            cli_jstr(stdout, "bundle", lines[i]);
            cli_jstr(stdout, "fingerprint", fp);
            cli_juint(stdout, "signed_prekey_id", parsed.signed_prekey_id);
            if (parsed.has_onetime) cli_juint(stdout, "one_time_prekey_id", parsed.onetime_prekey_id);
            else cli_jnull(stdout, "one_time_prekey_id");
            cli_juint(stdout, "rotation_records", parsed.chain_len);
            cli_jbool(stdout, "certificate", parsed.has_certificate);
            cli_jend(stdout);
        } else if (rc == 0) {
            printf("%s\n", lines[i]);
        }
    }
    for (uint32_t i = 0; i < count; i++) free(lines[i]);
    free(lines);
    return rc != 0 ? ec : cli_flush_stdout("bundle");
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
    cli_err_context(rc, NULL); /* --json: the RBX_E_* code behind the refusal */
    switch (rc) {
    case RBX_E_INVALID:
        cli_err("add", "bad contact name (1-%u bytes, no control characters)", RBX_NAME_MAX - 1);
        return CLI_USAGE;
    case RBX_E_EXISTS:
        cli_err("add", "contact %s device %u exists and has a session (rbx reset %s --device %u "
                "FILE replaces it)", name, device, name, device);
        return CLI_CANTCREAT;
    case RBX_E_IDENTITY_CHANGED:
        cli_err("add", "%s device %u: identity changed: pinned %s, bundle %s, and no rotation "
                "chain from the pinned key; refused (check the new fingerprint out of band, "
                "then: rbx trust %s --device %u --fingerprint %s)",
                name, device, pfp, bfp, name, device, bfp);
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
        cli_usage_err(add_usage);
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
    int known = cli_find_contact(st, &before, name, device);
    rc = known < 0 ? known : 0;
    if (known == 1) memcpy(pinned, before.identity, RBX_PUBLICKEYBYTES);
    /* The contact a first message made for this key, which add adopts
     * (PROTOCOL.md 16.7): named by the key's fingerprint. */
    char was[RBX_NAME_MAX] = "";
    uint32_t was_device = 0;
    if (rc == 0 && known == 0) {
        rbx_contact_info *all;
        size_t n;
        char bfp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(bfp, parsed.identity);
        if ((rc = cli_contacts(st, &all, &n)) == 0) {
            for (size_t i = 0; i < n && was[0] == '\0'; i++)
                if (strcmp(all[i].name, bfp) == 0 &&
                    sodium_memcmp(all[i].identity, parsed.identity, RBX_PUBLICKEYBYTES) == 0) {
                    snprintf(was, sizeof was, "%s", all[i].name);
                    was_device = all[i].device;
                }
            free(all);
        }
    }
    if (rc == 0 && org_b64 != NULL) rc = rbx_store_add_contact_org(st, name, device, b, blen, org);
    else if (rc == 0) rc = rbx_store_add_contact(st, name, device, b, blen);
    if (rc == 0) rc = rbx_store_policy(st, &pol);
    if (rc == 0 && (rc = cli_find_contact(st, &after, name, device)) == 0) rc = RBX_E_STATE;
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
        cli_jbegin(stdout);
        cli_jstr(stdout, "name", name);
        cli_juint(stdout, "device", device);
        cli_jstr(stdout, "fingerprint", fp);
        cli_juint(stdout, "rotation_sequence", after.rotation_seq);
        if (after.has_org) cli_jstr(stdout, "org", org_text);
        else cli_jnull(stdout, "org");
        cli_jkey(stdout, "rotated");
        if (rotated) {
            printf("{\"from\":\"%s\",\"old_sessions_until\":", pfp);
            cli_jtime_value(stdout, until);
            fputc('}', stdout);
        } else {
            fputs("null", stdout);
        }
        cli_jkey(stdout, "adopted");
        if (was[0] != '\0') {
            fputs("{\"name\":", stdout);
            cli_json_str(stdout, was);
            printf(",\"device\":%u}", was_device);
        } else {
            fputs("null", stdout);
        }
        cli_jend(stdout);
    } else {
        printf("%s %u %s\n", name, device, fp);
        if (was[0] != '\0')
            printf("%s: adopted the contact %s device %u that a first message made (its session, "
                   "inbox and history)\n", name, was, was_device);
        if (rotated)
            printf("%s: identity rotated (sequence %llu), fingerprint %s -> %s; old sessions kept "
                   "until %s\n",
                   name, (unsigned long long)after.rotation_seq, pfp, fp, when);
        if (after.has_org) printf("%s: bound to organisation %s (certificate verified)\n", name, org_text);
    }
    return cli_flush_stdout("add");
}
