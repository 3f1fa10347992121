/* SPDX-License-Identifier: MIT
 * rbx: the ratchetbox command-line tool. A subcommand table in the manner of
 * wireguard-tools `wg`: one <verb>_main(argc, argv) per verb, argv[0] being
 * the verb. Secrets come only from files or stdin, never argv or env. */
#include <fcntl.h>
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
    { "bundle", bundle_main, "bundle [--no-one-time] [--count N] [--json]  prekey bundles, one line of base64 each" },
    { "add", add_main, "add NAME [FILE|-] [--device D] [--org ORG] [--json]  record a contact (or its rotation)" },
    { "send", send_main, "send NAME|USER [FILE|-] [--device D] [--header-encryption] [--profile P] [--stream] [--server URL] [--json]" },
    { "recv", recv_main, "recv [FILE|-] [--stream] [--json]   decrypt a message" },
    { "account", account_main, "account create|link|join|approve|devices|remove|rotate [--json]  this device on an rbxd server" },
    { "contact", contact_main, "contact add USER [--server URL] [--json]  fetch, verify and pin a user's device list" },
    { "sync", sync_main, "sync [--follow] [--json] [--server URL]  fetch, decrypt, print and acknowledge messages" },
    { "outbox", outbox_main, "outbox [--json]                     print sent messages not seen to go out" },
    { "status", status_main, "status [--json]                     identity, storage, contacts, sessions" },
    { "trust", trust_main, "trust NAME [FILE|-] [--device D] --yes|--fingerprint FP [--json]  accept a changed key" },
    { "forget", forget_main, "forget NAME [--device D] [--json]   erase a contact, its sessions and keys" },
    { "reset", reset_main, "reset NAME [FILE|-] [--device D] [--json]  replace a session (rollback, peer restore)" },
    { "rename", rename_main, "rename OLD NEW [--json]             rename a contact (history follows)" },
    { "history", history_main, "history [NAME] [--json] | --archive on|off   archived messages (session replay)" },
    { "import-history", import_history_main, "import-history FILE|- --key KEYFILE [--json]  the product's stored rows into the archive" },
    { "rotate", rotate_main, "rotate identity|prekeys|archive [options]  rotate keys (rbx rotate --help)" },
    { "org", org_main, "org init|show|certify|revoke|install-cert|import-revocation  organisation root" },
    { "policy", policy_main, "policy [set K V...|load FILE|-|defaults] [--json]  show or change the policy" },
    { "audit", audit_main, "audit [--verify] [--json]           the audit log, or check its hash chain" },
    { "sim", sim_main, "sim [options]                       compromise simulator (rbx sim --help)" },
    { "version", version_main, "version [--json]                    print the version" },
    { "help", help_main, "help [--json]                       this text" },
};

static void usage(FILE *f)
{
    fputs("Usage: rbx [--dir DIR] [--key-file FILE | --key-fd N | --key-command CMD]\n"
          "           [--generation-file FILE] <verb> [options]\n\n"
          "Forward-secret messaging over NaCl box keys (Double Ratchet + X3DH).\n\n"
          "Verbs:\n",
          f);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  rbx %s\n", subcommands[i].usage);
    fputs("\n"
          "DIR defaults to $RBX_DIR, else ~/.local/share/ratchetbox. State: DIR/state.db\n"
          "(+ -wal, -shm), DIR/state.db.key (storage key, 0600), DIR/state.db.gen.\n"
          "The storage key from another file (--key-file, $RBX_KEY_FILE), a descriptor\n"
          "(--key-fd 3, $RBX_KEY_FD) or a command's output (--key-command, $RBX_KEY_COMMAND:\n"
          "a keychain helper; 32 bytes or their base64); the generation record elsewhere\n"
          "(--generation-file, $RBX_GENERATION_FILE): off the disk a backup copies.\n"
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

/* --json, or nothing: help and version take no other argument. */
static int json_arg(const char *verb, int argc, char **argv, int *json)
{
    *json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = 1;
            continue;
        }
        cli_err(verb, "unexpected argument '%s'", argv[i]);
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int help_main(int argc, char **argv)
{
    int json, ec = json_arg("help", argc, argv, &json);
    if (ec != CLI_OK) return ec;
    if (!json) {
        usage(stdout);
        return cli_flush_stdout("help");
    }
    cli_jbegin(stdout);
    cli_jkey(stdout, "verbs");
    fputc('[', stdout);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++) {
        fputs(i ? ",{\"verb\":" : "{\"verb\":", stdout);
        cli_json_str(stdout, subcommands[i].verb);
        fputs(",\"usage\":", stdout);
        cli_json_str(stdout, subcommands[i].usage);
        fputc('}', stdout);
    }
    fputc(']', stdout);
    cli_jend(stdout);
    return cli_flush_stdout("help");
}

static int version_main(int argc, char **argv)
{
    int json, ec = json_arg("version", argc, argv, &json);
    if (ec != CLI_OK) return ec;
    if (json) {
        cli_jbegin(stdout);
        cli_jstr(stdout, "rbx", rbx_version());
        cli_jend(stdout);
    } else {
        printf("rbx %s\n", rbx_version());
    }
    return cli_flush_stdout("version");
}

int main(int argc, char **argv)
{
    static char dirbuf[4096];
    const char *dir = NULL;
    int i = 1;
    /* Global options come before the verb. */
    const char *key_file = NULL, *key_fd = NULL, *key_command = NULL, *gen_file = NULL;
    const struct {
        const char *name;
        const char **slot;
    } path_opts[] = { { "--dir", &dir }, { "--key-file", &key_file }, { "--key-fd", &key_fd },
                      { "--key-command", &key_command }, { "--generation-file", &gen_file } };
    while (i < argc && argv[i][0] == '-') {
        size_t k, n = 0;
        for (k = 0; k < sizeof path_opts / sizeof path_opts[0]; k++) {
            n = strlen(path_opts[k].name);
            if (strncmp(argv[i], path_opts[k].name, n) == 0 && (argv[i][n] == '\0' || argv[i][n] == '='))
                break;
        }
        if (k < sizeof path_opts / sizeof path_opts[0] && argv[i][n] == '=') {
            *path_opts[k].slot = argv[i] + n + 1;
            i++;
        } else if (k < sizeof path_opts / sizeof path_opts[0] && i + 1 < argc) {
            *path_opts[k].slot = argv[i + 1];
            i += 2;
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
    /* The storage key's source and the generation record's place: options
     * win over the environment; one key source at most. */
    if (key_file == NULL && key_fd == NULL && key_command == NULL) {
        key_file = getenv("RBX_KEY_FILE");
        key_fd = getenv("RBX_KEY_FD");
        key_command = getenv("RBX_KEY_COMMAND");
    }
    if (gen_file == NULL) gen_file = getenv("RBX_GENERATION_FILE");
    if ((key_file && key_file[0] == '\0') || (gen_file && gen_file[0] == '\0') ||
        (key_command && key_command[0] == '\0')) {
        cli_err(NULL, "an empty --key-file, --key-command or --generation-file");
        return CLI_USAGE;
    }
    if ((key_file != NULL) + (key_fd != NULL) + (key_command != NULL) > 1) {
        cli_err(NULL, "one storage key source at most: --key-file, --key-fd or --key-command "
                "(or $RBX_KEY_FILE, $RBX_KEY_FD, $RBX_KEY_COMMAND)");
        return CLI_USAGE;
    }
    if (key_fd != NULL) {
        uint32_t fd;
        /* 0-2 are the verbs' own input and output. */
        if (cli_parse_u32(&fd, key_fd, 3, 1024) != 0 || fcntl((int)fd, F_GETFD) < 0) {
            cli_err(NULL, "--key-fd: '%s' is not an open descriptor from 3 to 1024", key_fd);
            return CLI_USAGE;
        }
        cli_key_fd = (int)fd;
    }
    cli_key_file = key_file;
    cli_key_command = key_command;
    cli_gen_file = gen_file;
    for (size_t k = 0; k < sizeof subcommands / sizeof subcommands[0]; k++) {
        if (strcmp(argv[i], subcommands[k].verb) != 0) continue;
        if (subcommands[k].main != help_main && subcommands[k].main != version_main &&
            rbx_init() != 0) {
            cli_err(argv[i], "cannot start the crypto libraries");
            return CLI_SOFTWARE;
        }
        /* --json anywhere among the verb's arguments: errors as JSON too. */
        for (int a = i + 1; a < argc && strcmp(argv[a], "--") != 0; a++)
            if (strcmp(argv[a], "--json") == 0) cli_json_mode = 1;
        int ec = subcommands[k].main(argc - i, argv + i);
        if (cli_json_mode) cli_json_flush_error(ec);
        return ec;
    }
    cli_err(NULL, "unknown verb '%s' (rbx help lists them)", argv[i]);
    return CLI_USAGE;
}
