/* SPDX-License-Identifier: MIT
 * rbx init, rbx id: the identity is the product's box key pair. */
#include <getopt.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The product's JSON key file is ~150 bytes; anything near this is not one. */
#define KEYFILE_MAX 4096U
#define RAW_KEYPAIR_BYTES (RBX_PUBLICKEYBYTES + RBX_SECRETKEYBYTES)

static const char init_usage[] =
    "Usage: rbx init [--import FILE|-] [--json]\n"
    "Create the identity in DIR (made 0700). With --import, read the product's box\n"
    "key pair from FILE or stdin: its JSON {\"publicKey\",\"secretKey\"} or exactly 64\n"
    "raw bytes (public key then secret key). Refuses (73) if an identity exists.\n"
    "Prints the public key and fingerprint, as rbx id.\n";

static const char id_usage[] =
    "Usage: rbx id [--json]\n"
    "Print this identity's public key (base64) and fingerprint.\n";

static int print_identity(const char *verb, const uint8_t pk[RBX_PUBLICKEYBYTES], int json)
{
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_key_to_base64(b64, pk);
    rbx_fingerprint(fp, pk);
    if (json)
        printf("{\"public_key\":\"%s\",\"fingerprint\":\"%s\"}\n", b64, fp);
    else
        printf("%s %s\n", b64, fp);
    return cli_flush_stdout(verb);
}

int cli_import_keypair(const char *verb, uint8_t pk[RBX_PUBLICKEYBYTES],
                       uint8_t sk[RBX_SECRETKEYBYTES], const char *path)
{
    uint8_t *buf;
    size_t len;
    int ec = cli_read_all(verb, path, &buf, &len, KEYFILE_MAX);
    if (ec != CLI_OK) return ec;
    int rc = len == RAW_KEYPAIR_BYTES ? rbx_keypair_from_raw(pk, sk, buf, len)
                                      : rbx_keypair_from_json(pk, sk, (const char *)buf, len);
    sodium_memzero(buf, len);
    free(buf);
    if (rc != 0) {
        cli_err(verb, "%s: not a box key pair (JSON or 64 raw bytes): %s",
                path && strcmp(path, "-") ? path : "stdin", rbx_strerror(rc));
        return cli_exit_code(rc);
    }
    return CLI_OK;
}

int init_main(int argc, char **argv)
{
    static const struct option opts[] = { { "import", required_argument, NULL, 'i' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *import = NULL;
    int json = 0, c, ec;
    while ((c = cli_getopt(argc, argv, opts, "init", init_usage, &ec)) != -1) {
        switch (c) {
        case 'i': import = optarg; break;
        case 'j': json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind != argc) {
        cli_err("init", "unexpected argument '%s'", argv[optind]);
        fputs(init_usage, stderr);
        return CLI_USAGE;
    }
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES];
    rbx_store *st;
    /* Read and check the key before anything is created on disk. */
    if (import != NULL && (ec = cli_import_keypair("init", pk, sk, import)) != CLI_OK) goto out;
    /* The store is made whole (or not at all) by the open; the identity is
     * one more transaction, so an init that stops before it leaves a store
     * that the next init completes. It is printed only once committed. */
    if ((ec = cli_open_store(&st, "init", CLI_STORE_CREATE)) != CLI_OK) goto out;
    int rc = rbx_store_identity_create(st, import ? pk : NULL, import ? sk : NULL);
    if (rc == 0) rc = rbx_store_identity(st, pk);
    if (rc == RBX_E_EXISTS) {
        cli_err("init", "an identity already exists in %s (rbx id shows it); refusing to "
                "replace it", cli_dir);
        ec = CLI_CANTCREAT;
    } else if (rc != 0) {
        ec = cli_fail("init", "cannot create the identity", rc);
    }
    cli_close_store(st, "init");
    if (rc == 0) ec = print_identity("init", pk, json);
out:
    sodium_memzero(sk, sizeof sk);
    return ec;
}

int id_main(int argc, char **argv)
{
    int json, ec = cli_json_only(argc, argv, "id", id_usage, &json);
    if (ec >= 0) return ec;
    uint8_t pk[RBX_PUBLICKEYBYTES];
    rbx_store *st;
    if ((ec = cli_open_store(&st, "id", 0)) != CLI_OK) return ec;
    ec = cli_identity(st, "id", pk);
    cli_close_store(st, "id");
    return ec != CLI_OK ? ec : print_identity("id", pk, json);
}
