/* SPDX-License-Identifier: MIT
 * rbx rotate WHAT: key rotation, one branch per kind of key: identity and
 * prekeys (src/cli/keyrot.c), archive (the history archive's epoch keys,
 * PROTOCOL.md 17.5). */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char rotate_usage[] =
    "Usage: rbx rotate identity [--reason TEXT] [--import FILE|-] [--json]\n"
    "       rbx rotate prekeys [--json]\n"
    "       rbx rotate archive --mode reencrypt|split|shred [--json]\n"
    "identity and prekeys: rbx rotate identity --help. archive:\n"
    "Rotate the history archive's epoch keys (rbx history reads the archive):\n"
    "  reencrypt  fresh epoch keys, every readable entry rewrapped, old keys erased\n"
    "  split      a new epoch for new messages; the old one stays readable until\n"
    "             now + the policy's archive_retention\n"
    "  shred      erase the keys of read-only epochs past that date: their entries\n"
    "             become unrecoverable (crypto-shredding)\n"
    "--json: {\"mode\",\"new_epoch\",\"rewrapped\",\"epochs_erased\",\"entries_unrecoverable\"}.\n";

static const char *const mode_names[] = { "reencrypt", "split", "shred" };

static int rotate_archive(int argc, char **argv)
{
    static const struct option opts[] = { { "mode", required_argument, NULL, 'm' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int mode = -1, json = 0, c, ec;
    while ((c = cli_getopt(argc, argv, opts, "rotate", rotate_usage, &ec)) != -1) {
        switch (c) {
        case 'm':
            for (int i = 0; i < 3; i++)
                if (strcmp(optarg, mode_names[i]) == 0) mode = i;
            if (mode < 0) {
                cli_err("rotate", "--mode: expected reencrypt, split or shred");
                return CLI_USAGE;
            }
            break;
        case 'j': json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind != argc) {
        cli_err("rotate", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (mode < 0) {
        cli_err("rotate", "archive: --mode reencrypt|split|shred is required");
        fputs(rotate_usage, stderr);
        return CLI_USAGE;
    }
    _Static_assert(RBX_ARCHIVE_REENCRYPT == 0 && RBX_ARCHIVE_SPLIT == 1 && RBX_ARCHIVE_SHRED == 2,
                   "mode_names follows the RBX_ARCHIVE_* values");
    rbx_store *st;
    rbx_archive_result res;
    if ((ec = cli_open_store(&st, "rotate", 0)) != CLI_OK) return ec;
    int rc = rbx_store_rotate_archive(st, mode, &res);
    cli_close_store(st, "rotate");
    if (rc != 0) return cli_fail("rotate", "archive", rc);
    if (json)
        printf("{\"mode\":\"%s\",\"new_epoch\":%llu,\"rewrapped\":%llu,\"epochs_erased\":%llu,"
               "\"entries_unrecoverable\":%llu}\n",
               mode_names[mode], (unsigned long long)res.new_epoch,
               (unsigned long long)res.rewrapped, (unsigned long long)res.epochs_erased,
               (unsigned long long)res.entries_unrecoverable);
    else
        printf("archive %s: active epoch %llu, %llu entries rewrapped, %llu epoch keys erased,"
               " %llu entries unrecoverable\n",
               mode_names[mode], (unsigned long long)res.new_epoch,
               (unsigned long long)res.rewrapped, (unsigned long long)res.epochs_erased,
               (unsigned long long)res.entries_unrecoverable);
    return cli_flush_stdout("rotate");
}

/* One entry per kind of key. */
static const struct {
    const char *what;
    int (*run)(int argc, char **argv);
} kinds[] = {
    { "identity", rotate_identity_main }, /* src/cli/keyrot.c */
    { "prekeys", rotate_prekeys_main },
    { "archive", rotate_archive },
};

int rotate_main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(rotate_usage, stdout);
        return cli_flush_stdout("rotate");
    }
    if (argc < 2) {
        cli_err("rotate", "what to rotate? (identity, prekeys or archive)");
        fputs(rotate_usage, stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(argv[1], kinds[i].what) == 0) return kinds[i].run(argc - 1, argv + 1);
    cli_err("rotate", "unknown key kind '%s' (identity, prekeys or archive)", argv[1]);
    fputs(rotate_usage, stderr);
    return CLI_USAGE;
}
