/* SPDX-License-Identifier: MIT
 * rbx: the ratchetbox command-line tool. A subcommand table in the manner of
 * wireguard-tools `wg`: one <verb>_main(argc, argv) per verb, argv[0] being
 * the verb. Secrets come only from files or stdin, never argv or env. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_SUBDIR "/.local/share/ratchetbox"

const char *cli_dir;

static int help_main(int argc, char **argv);
static int version_main(int argc, char **argv);

static const struct {
    const char *verb;
    int (*main)(int argc, char **argv);
    const char *usage;
} subcommands[] = {
    { "init", init_main, "init [--import FILE|-] [--json]     create an identity (or import a box key pair)" },
    { "id", id_main, "id [--json]                         public key (base64) and fingerprint" },
    { "bundle", bundle_main, "bundle [--one-time N] [--json]      a prekey bundle as one line of base64" },
    { "add", add_main, "add NAME [FILE|-] [--device D] [--org ORG] [--json]  record a contact (or its rotation)" },
    { "send", send_main, "send NAME|USER [FILE|-] [--device D] [--header-encryption] [--profile P] [--stream] [--json]" },
    { "recv", recv_main, "recv [FILE|-] [--stream] [--json]   decrypt a message" },
    { "account", account_main, "account create|link|join|approve|devices|remove|rotate  this device on an rbxd server" },
    { "contact", contact_main, "contact add USER [--server URL] [--json]  fetch, verify and pin a user's device list" },
    { "sync", sync_main, "sync [--follow] [--json] [--server URL]  fetch, decrypt, print and acknowledge messages" },
    { "outbox", outbox_main, "outbox [--json]                     print sent messages not seen to go out" },
    { "status", status_main, "status [--json]                     identity, storage, contacts, sessions" },
    { "history", history_main, "history [NAME] [--json] | --archive on|off   archived messages (session replay)" },
    { "import-history", import_history_main, "import-history FILE|- --key KEYFILE [--json]  the product's stored rows into the archive" },
    { "rotate", rotate_main, "rotate identity|prekeys|archive [options]  rotate keys (rbx rotate --help)" },
    { "org", org_main, "org init|show|certify|revoke|install-cert|import-revocation  organisation root" },
    { "policy", policy_main, "policy [set K V...|load FILE|-|defaults] [--json]  show or change the policy" },
    { "audit", audit_main, "audit [--verify] [--json]           the audit log, or check its hash chain" },
    { "sim", sim_main, "sim [options]                       compromise simulator (rbx sim --help)" },
    { "version", version_main, "version                             print the version" },
    { "help", help_main, "help                                this text" },
};

static void usage(FILE *f)
{
    fputs("Usage: rbx [--dir DIR] <verb> [options]\n\n"
          "Forward-secret messaging over NaCl box keys (Double Ratchet + X3DH).\n\n"
          "Verbs:\n",
          f);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  rbx %s\n", subcommands[i].usage);
    fputs("\n"
          "DIR defaults to $RBX_DIR, else ~/.local/share/ratchetbox. State: DIR/state.db\n"
          "(+ -wal, -shm), DIR/state.db.key (storage key, 0600), DIR/state.db.gen.\n"
          "`rbx <verb> --help` describes a verb. --json prints one JSON object per line.\n"
          "\n"
          "A message travels as one line: base64(0x01 || sender identity key || message).\n"
          "\n"
          "Exit codes (sysexits.h):\n"
          "  0   ok\n"
          "  64  usage error (bad option, bad contact name)\n"
          "  65  rejected or malformed message or bundle (forged, tampered, replayed, too big)\n"
          "  66  missing input (no such file, unknown contact, no identity yet)\n"
          "  67  the server refused this device (removed, not enrolled, bad signature)\n"
          "  69  the server is unreachable or failed (rbx account, contact, send USER, sync)\n"
          "  70  internal error (out of memory)\n"
          "  73  cannot create (identity or contact exists, cannot create DIR)\n"
          "  74  storage error (database, key file, rollback) or cannot write output\n"
          "  75  not done yet: a send stays pending (the next sync posts it), a link not approved\n"
          "  77  a state file or DIR that other users may read or change (not used)\n",
          f);
}

static int help_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return cli_flush_stdout("help");
}

static int version_main(int argc, char **argv)
{
    if (argc > 1) {
        cli_err("version", "unexpected argument '%s'", argv[1]);
        return CLI_USAGE;
    }
    printf("rbx %s\n", rbx_version());
    return cli_flush_stdout("version");
}

int main(int argc, char **argv)
{
    static char dirbuf[4096];
    const char *dir = NULL;
    int i = 1;
    /* Global options come before the verb. */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            dir = argv[i] + 6;
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return cli_flush_stdout(NULL);
        } else if (strcmp(argv[i], "--version") == 0) {
            return version_main(1, argv);
        } else {
            cli_err(NULL, "unknown option '%s'", argv[i]);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (i == argc) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (dir == NULL || dir[0] == '\0') dir = getenv("RBX_DIR");
    if (dir == NULL || dir[0] == '\0') {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0') {
            cli_err(NULL, "no --dir, $RBX_DIR or $HOME");
            return CLI_USAGE;
        }
        int n = snprintf(dirbuf, sizeof dirbuf, "%s%s", home, DEFAULT_SUBDIR);
        if (n < 0 || (size_t)n >= sizeof dirbuf) {
            cli_err(NULL, "$HOME too long");
            return CLI_USAGE;
        }
        dir = dirbuf;
    }
    cli_dir = dir;
    for (size_t k = 0; k < sizeof subcommands / sizeof subcommands[0]; k++) {
        if (strcmp(argv[i], subcommands[k].verb) != 0) continue;
        if (subcommands[k].main != help_main && subcommands[k].main != version_main &&
            rbx_init() != 0) {
            cli_err(argv[i], "cannot start the crypto libraries");
            return CLI_SOFTWARE;
        }
        return subcommands[k].main(argc - i, argv + i);
    }
    cli_err(NULL, "unknown verb '%s' (rbx help lists them)", argv[i]);
    return CLI_USAGE;
}
