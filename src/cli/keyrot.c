/* SPDX-License-Identifier: MIT
 * rbx rotate identity, rbx rotate prekeys: key rotation (issue 6 sections 1
 * and 3), and the prekey upkeep report that rbx bundle and rbx recv share.
 * src/cli/rotate.c dispatches `rbx rotate identity|prekeys` here. */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char rotate_identity_usage[] =
    "Usage: rbx rotate identity [--reason TEXT] [--import FILE|-] [--json]\n"
    "Replace this identity with a new box key pair (generated, or the product's\n"
    "key file read from FILE or stdin with --import) and a rotation record signed\n"
    "by the old and the new key, chained to the previous record. Bundles carry\n"
    "the chain: a contact re-adding our bundle verifies it from the key it pinned.\n"
    "The old key and the sessions made under it keep working for the policy's\n"
    "identity_grace (default 7 days), then are erased. TEXT: 0-63 bytes, no\n"
    "control characters (default \"manual\"). A certificate for the old key is\n"
    "dropped: a certified identity needs a new one (rbx org certify, install-cert).\n"
    "Prints the sequence, old and new fingerprints and the end of the grace window.\n";

static const char rotate_prekeys_usage[] =
    "Usage: rbx rotate prekeys [--json]\n"
    "Make a new signed prekey now, and do the policy's prekey upkeep: erase the\n"
    "secrets of signed prekeys replaced longer than spk_keep ago (default 30 days),\n"
    "top up one-time prekeys below onetime_low (10) by onetime_batch (100), and\n"
    "erase old identities and their sessions past their grace window. rbx bundle\n"
    "and rbx recv do the same upkeep (without forcing a signed prekey).\n";

static int maintenance_changed(const rbx_maintain_result *r)
{
    return r->signed_prekey_made != 0 || r->signed_prekeys_erased != 0 || r->onetime_made != 0 ||
           r->old_identities_erased != 0 || r->sessions_retired != 0;
}

/* "made signed prekey 3; 100 one-time prekeys; ..." (only what changed). */
static void maintenance_text(FILE *f, const rbx_maintain_result *r)
{
    const char *sep = "";
    if (r->signed_prekey_made != 0) {
        fprintf(f, "made signed prekey %u", r->signed_prekey_made);
        sep = "; ";
    }
    if (r->onetime_made != 0) {
        fprintf(f, "%s%s%zu one-time prekey%s", sep, *sep ? "" : "made ", r->onetime_made,
                r->onetime_made == 1 ? "" : "s");
        sep = "; ";
    }
    if (r->signed_prekeys_erased != 0) {
        fprintf(f, "%serased %zu old signed prekey%s", sep, r->signed_prekeys_erased,
                r->signed_prekeys_erased == 1 ? "" : "s");
        sep = "; ";
    }
    if (r->old_identities_erased != 0) {
        fprintf(f, "%serased %zu old identit%s (grace window over)", sep, r->old_identities_erased,
                r->old_identities_erased == 1 ? "y" : "ies");
        sep = "; ";
    }
    if (r->sessions_retired != 0)
        fprintf(f, "%sretired %zu old session%s", sep, r->sessions_retired,
                r->sessions_retired == 1 ? "" : "s");
}

void cli_report_maintenance(const char *verb, const rbx_maintain_result *r)
{
    if (!maintenance_changed(r)) return;
    fprintf(stderr, "rbx: %s: ", verb);
    maintenance_text(stderr, r);
    fputc('\n', stderr);
}

/* Our newest rotation record, parsed (the one just made). */
static int newest_record(rbx_store *st, rbx_rotation *r)
{
    size_t n, *lens = NULL;
    uint8_t *buf = NULL;
    int rc = rbx_store_rotations(st, NULL, 0, NULL, 0, &n);
    if (rc == 0 && n == 0) rc = RBX_E_STATE;
    if (rc == 0 && ((lens = calloc(n, sizeof *lens)) == NULL ||
                    (buf = malloc(n * RBX_ROTATION_MAXBYTES)) == NULL))
        rc = RBX_E_NOMEM;
    size_t got = 0;
    if (rc == 0) rc = rbx_store_rotations(st, buf, n * RBX_ROTATION_MAXBYTES, lens, n, &got);
    if (rc == 0 && got != n) rc = RBX_E_STATE; /* another rotation in between */
    if (rc == 0) {
        size_t off = 0;
        for (size_t i = 0; i + 1 < n; i++) off += lens[i];
        rc = rbx_rotation_parse(r, buf + off, lens[n - 1]);
    }
    free(lens);
    free(buf);
    return rc;
}

static void print_key_json(const char *member, const uint8_t pk[RBX_PUBLICKEYBYTES])
{
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_key_to_base64(b64, pk);
    rbx_fingerprint(fp, pk);
    printf("\"%s\":{\"public_key\":\"%s\",\"fingerprint\":\"%s\"}", member, b64, fp);
}

int rotate_identity_main(int argc, char **argv)
{
    static const struct option opts[] = { { "reason", required_argument, NULL, 'r' },
                                          { "import", required_argument, NULL, 'i' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *reason = "manual", *import = NULL;
    int json = 0, c, ec, rc;
    while ((c = cli_getopt(argc, argv, opts, "rotate", rotate_identity_usage, &ec)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'i': import = optarg; break;
        case 'j': json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind != argc) {
        cli_err("rotate", "unexpected argument '%s'", argv[optind]);
        fputs(rotate_identity_usage, stderr);
        return CLI_USAGE;
    }
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES], old_pk[RBX_PUBLICKEYBYTES],
        new_pk[RBX_PUBLICKEYBYTES];
    rbx_store *st = NULL;
    rbx_rotation rec;
    /* Read and check the new key before the store is touched. */
    if (import != NULL && (ec = cli_import_keypair("rotate", pk, sk, import)) != CLI_OK) goto out;
    if ((ec = cli_open_store(&st, "rotate", 0)) != CLI_OK) goto out;
    if ((ec = cli_identity(st, "rotate", old_pk)) != CLI_OK) goto out;
    if (import != NULL && sodium_memcmp(pk, old_pk, RBX_PUBLICKEYBYTES) == 0) {
        cli_err("rotate", "the imported key pair is the current identity");
        ec = CLI_DATAERR;
        goto out;
    }
    rc = rbx_store_rotate_identity(st, reason, import ? pk : NULL, import ? sk : NULL, new_pk);
    if (rc == RBX_E_INVALID) {
        cli_err("rotate", "bad --reason (0-63 bytes, no control characters)");
        ec = CLI_USAGE;
        goto out;
    }
    if (rc == RBX_E_KEY && import != NULL) {
        cli_err("rotate", "the imported key pair cannot be used: %s", rbx_strerror(rc));
        ec = CLI_DATAERR;
        goto out;
    }
    if (rc != 0) {
        ec = cli_fail("rotate", "cannot rotate the identity", rc);
        goto out;
    }
    if ((rc = newest_record(st, &rec)) != 0) {
        ec = cli_fail("rotate", "rotated, but cannot read the rotation record back", rc);
        goto out;
    }
    uint64_t seq = rec.sequence;
    int64_t until = (int64_t)rec.old_valid_until;
    char ofp[RBX_FINGERPRINT_HEXBYTES], nfp[RBX_FINGERPRINT_HEXBYTES], when[CLI_TIME_CHARS],
        nb64[RBX_KEY_B64BYTES];
    rbx_fingerprint(ofp, old_pk);
    rbx_fingerprint(nfp, new_pk);
    rbx_key_to_base64(nb64, new_pk);
    cli_time_str(when, until);
    if (json) {
        printf("{\"sequence\":%llu,\"reason\":", (unsigned long long)seq);
        cli_json_str(stdout, reason);
        fputc(',', stdout);
        print_key_json("old", old_pk);
        fputc(',', stdout);
        print_key_json("new", new_pk);
        printf(",\"old_valid_until\":%lld}\n", (long long)until);
    } else {
        printf("identity rotated: sequence %llu, fingerprint %s -> %s\n", (unsigned long long)seq,
               ofp, nfp);
        printf("new public key: %s\n", nb64);
        printf("old key and its sessions kept until %s (grace window)\n", when);
        printf("contacts accept the new key when they re-add our bundle (rbx bundle)\n"
               "or receive the first message of a new session from us;\n"
               "a certified identity needs a new certificate for the new key\n"
               "(rbx org certify %s, then rbx org install-cert)\n", nb64);
    }
    ec = cli_flush_stdout("rotate");
out:
    cli_close_store(st, "rotate");
    sodium_memzero(sk, sizeof sk);
    return ec;
}

int rotate_prekeys_main(int argc, char **argv)
{
    int json, ec = cli_json_only(argc, argv, "rotate", rotate_prekeys_usage, &json);
    if (ec >= 0) return ec;
    rbx_store *st;
    rbx_maintain_result res;
    rbx_prekey_stats ps;
    uint8_t me[RBX_PUBLICKEYBYTES];
    memset(&res, 0, sizeof res);
    if ((ec = cli_open_store(&st, "rotate", 0)) != CLI_OK) return ec;
    if ((ec = cli_identity(st, "rotate", me)) != CLI_OK) {
        cli_close_store(st, "rotate");
        return ec;
    }
    int rc = rbx_store_maintain(st, 1, &res);
    if (rc == 0) rc = rbx_store_prekey_stats(st, &ps);
    cli_close_store(st, "rotate");
    if (rc != 0) return cli_fail("rotate", "cannot rotate the prekeys", rc);
    if (json) {
        printf("{\"signed_prekey_made\":%u,\"signed_prekeys_erased\":%zu,\"onetime_made\":%zu,"
               "\"old_identities_erased\":%zu,\"sessions_retired\":%zu,\"onetime_unoffered\":%zu}\n",
               res.signed_prekey_made, res.signed_prekeys_erased, res.onetime_made,
               res.old_identities_erased, res.sessions_retired, ps.onetime_unoffered);
    } else {
        printf("signed prekey: %u (new)\n", res.signed_prekey_made);
        printf("old signed prekeys erased: %zu\n", res.signed_prekeys_erased);
        printf("one-time prekeys made: %zu (%zu unoffered)\n", res.onetime_made,
               ps.onetime_unoffered);
        printf("old identities erased: %zu\n", res.old_identities_erased);
        printf("old sessions retired: %zu\n", res.sessions_retired);
    }
    return cli_flush_stdout("rotate");
}
