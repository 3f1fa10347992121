/* SPDX-License-Identifier: MIT
 * rbx bundle, rbx add: publishing a prekey bundle and recording a contact's. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char bundle_usage[] =
    "Usage: rbx bundle [--one-time N] [--json]\n"
    "Print a prekey bundle (identity, signed prekey, one one-time prekey never\n"
    "offered before) as one line of base64. The one-time pool is refilled to N\n"
    "(default 100, 0 = a bundle without a one-time prekey) when it runs low.\n"
    "Give each bundle to one peer.\n";

static const char add_usage[] =
    "Usage: rbx add NAME [FILE|-] [--device D] [--json]\n"
    "Record contact NAME (1-63 bytes, no control characters), device D (default 1),\n"
    "from one line of base64 bundle read from FILE or stdin. The signature is\n"
    "verified and the identity pinned. Prints NAME, device and fingerprint.\n";

int bundle_main(int argc, char **argv)
{
    static const struct option opts[] = { { "one-time", required_argument, NULL, 'n' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    uint32_t onetime = CLI_DEFAULT_ONETIME;
    int json = 0, c, ec;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_u32(&onetime, optarg, 0, CLI_MAX_ONETIME) != 0) {
                cli_err("bundle", "--one-time: expected 0..%u", CLI_MAX_ONETIME);
                return CLI_USAGE;
            }
            break;
        case 'j': json = 1; break;
        case 'h': fputs(bundle_usage, stdout); return cli_flush_stdout("bundle");
        default:
            cli_err("bundle", "bad option '%s'", argv[optind - 1]);
            fputs(bundle_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_err("bundle", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    rbx_store *st;
    if ((ec = cli_open_store(&st, "bundle", 0)) != CLI_OK) return ec;
    int rc = rbx_store_bundle(st, b, sizeof b, &blen, onetime);
    rbx_store_close(st);
    if (rc == RBX_E_NOT_FOUND) {
        cli_err("bundle", "no identity in %s: run rbx init", cli_dir);
        return CLI_NOINPUT;
    }
    if (rc != 0) return cli_fail("bundle", NULL, rc);
    char *line = cli_b64_encode(b, blen);
    if (line == NULL) return cli_fail("bundle", NULL, RBX_E_NOMEM);
    if (json) printf("{\"bundle\":\"%s\"}\n", line);
    else printf("%s\n", line);
    free(line);
    return cli_flush_stdout("bundle");
}

int add_main(int argc, char **argv)
{
    static const struct option opts[] = { { "device", required_argument, NULL, 'd' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    uint32_t device = 1;
    int json = 0, c, ec;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (cli_parse_u32(&device, optarg, 0, UINT32_MAX) != 0) {
                cli_err("add", "--device: expected a number 0..%u", UINT32_MAX);
                return CLI_USAGE;
            }
            break;
        case 'j': json = 1; break;
        case 'h': fputs(add_usage, stdout); return cli_flush_stdout("add");
        default:
            cli_err("add", "bad option '%s'", argv[optind - 1]);
            fputs(add_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (argc - optind < 1 || argc - optind > 2) {
        cli_err("add", "expected NAME [FILE|-]");
        fputs(add_usage, stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind], *path = argc - optind == 2 ? argv[optind + 1] : NULL;
    uint8_t *text, b[RBX_BUNDLE_MAXBYTES];
    size_t textlen, blen;
    rbx_bundle parsed;
    rbx_store *st;
    /* base64 line plus slack for CR/LF and spaces */
    if ((ec = cli_read_all("add", path, &text, &textlen, CLI_BUNDLE_MAXCHARS + 16)) != CLI_OK)
        return ec;
    int rc = cli_b64_decode(b, sizeof b, &blen, (const char *)text, textlen);
    free(text);
    if (rc == 0) rc = rbx_bundle_parse(&parsed, b, blen);
    if (rc != 0) return cli_fail("add", "bad bundle", rc);
    if ((ec = cli_open_store(&st, "add", 0)) != CLI_OK) return ec;
    rc = rbx_store_add_contact(st, name, device, b, blen);
    rbx_store_close(st);
    if (rc == RBX_E_INVALID) {
        cli_err("add", "bad contact name (1-%u bytes, no control characters)", RBX_NAME_MAX - 1);
        return CLI_USAGE;
    }
    if (rc == RBX_E_EXISTS) {
        cli_err("add", "contact %s device %u exists and has a session", name, device);
        return CLI_CANTCREAT;
    }
    if (rc == RBX_E_IDENTITY_CHANGED) {
        cli_err("add", "contact %s device %u is pinned to another identity", name, device);
        return CLI_DATAERR;
    }
    if (rc != 0) return cli_fail("add", NULL, rc);
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, parsed.identity);
    if (json) {
        fputs("{\"name\":", stdout);
        cli_json_str(stdout, name);
        printf(",\"device\":%u,\"fingerprint\":\"%s\"}\n", device, fp);
    } else {
        printf("%s %u %s\n", name, device, fp);
    }
    return cli_flush_stdout("add");
}
