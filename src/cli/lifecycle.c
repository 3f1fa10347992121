/* SPDX-License-Identifier: MIT
 * rbx trust, forget, reset, rename: a contact's lifecycle (PROTOCOL.md 16.7).
 * Each is one library call, audited by the store. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char trust_usage[] =
    "Usage: rbx trust NAME [FILE|-] [--device D] (--yes | --fingerprint FP) [--json]\n"
    "Accept a changed identity key of contact NAME, device D (default 1), from\n"
    "its bundle (one line of base64 from FILE or stdin), after checking it out of\n"
    "band: compare the new fingerprint with what `rbx id` shows on the peer's\n"
    "device. Without --yes or --fingerprint, prints the old and new fingerprints\n"
    "and changes nothing (exit 64). --fingerprint FP must be the new key's (65\n"
    "otherwise). The contact is pinned to the new key, its old sessions and keys\n"
    "are dropped, and the next send starts a new session. A contact bound to an\n"
    "organisation needs the new key certified by it. A contact that a first\n"
    "message from the new key created (named by its fingerprint) is merged in.\n";

static const char forget_usage[] =
    "Usage: rbx forget NAME [--device D] [--json]\n"
    "Erase contact NAME (every device, or device D): its sessions, keys, inbox\n"
    "and outbox, then an erase point so that no copy stays in the files.\n"
    "History (rbx history) is kept; rbx rotate archive --mode shred erases it.\n";

static const char reset_usage[] =
    "Usage: rbx reset NAME [FILE|-] [--device D] [--json]\n"
    "Replace the session with contact NAME, device D (default 1): after a\n"
    "rollback was detected (this state restored from a backup: send exits 74),\n"
    "or when the peer restored its own. The session is dropped; with a bundle\n"
    "(FILE, or - for stdin) the next send starts a new one from it, otherwise\n"
    "the peer's next first message does (or rbx add NAME later).\n";

static const char rename_usage[] =
    "Usage: rbx rename OLD NEW [--json]\n"
    "Rename every device of contact OLD to NEW; its history follows.\n";

static const struct option dev_opts[] = { { "device", required_argument, NULL, 'd' },
                                          { "yes", no_argument, NULL, 'y' },
                                          { "fingerprint", required_argument, NULL, 'f' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };

typedef struct lc_args {
    uint32_t device;
    int has_device, yes, json;
    const char *fingerprint;
} lc_args;

/* Options of the four verbs (allowed: the letters of those the verb takes).
 * Returns -1 to go on, or the exit code. */
static int lc_options(int argc, char **argv, const char *verb, const char *usage,
                      const char *allowed, lc_args *a)
{
    int c, ec;
    memset(a, 0, sizeof *a);
    a->device = 1;
    while ((c = cli_getopt(argc, argv, dev_opts, verb, usage, &ec)) != -1) {
        if (c == 0) return ec; /* --help, or a bad option */
        if (strchr(allowed, c) == NULL) {
            cli_err(verb, "bad option '%s'", argv[optind - 1]);
            cli_usage_err(usage);
            return CLI_USAGE;
        }
        switch (c) {
        case 'd':
            if (cli_parse_u32(&a->device, optarg, 0, UINT32_MAX) != 0) {
                cli_err(verb, "--device: expected a number 0..%u", UINT32_MAX);
                return CLI_USAGE;
            }
            a->has_device = 1;
            break;
        case 'y': a->yes = 1; break;
        case 'f': a->fingerprint = optarg; break;
        case 'j': a->json = 1; break;
        default: return CLI_USAGE;
        }
    }
    return -1;
}

static int bad_name(const char *verb, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) n = 0;
    if (n > 0 && n < RBX_NAME_MAX) return 0;
    cli_err(verb, "bad contact name (1-%u bytes, no control characters)", RBX_NAME_MAX - 1);
    return CLI_USAGE;
}

int trust_main(int argc, char **argv)
{
    lc_args a;
    int ec = lc_options(argc, argv, "trust", trust_usage, "dyfj", &a);
    if (ec >= 0) return ec;
    if (argc - optind < 1 || argc - optind > 2) {
        cli_err("trust", "expected NAME [FILE|-]");
        cli_usage_err(trust_usage);
        return CLI_USAGE;
    }
    const char *name = argv[optind], *path = argc - optind == 2 ? argv[optind + 1] : NULL;
    if ((ec = bad_name("trust", name)) != 0) return ec;
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    rbx_bundle parsed;
    rbx_contact_info c;
    rbx_store *st;
    char old_fp[RBX_FINGERPRINT_HEXBYTES], new_fp[RBX_FINGERPRINT_HEXBYTES];
    if ((ec = cli_read_b64("trust", "bad bundle", path, b, sizeof b, &blen)) != CLI_OK) return ec;
    int rc = rbx_bundle_parse(&parsed, b, blen);
    if (rc != 0) {
        cli_err_context(rc, NULL);
        cli_err("trust", "bad bundle: %s", rbx_strerror(rc));
        return cli_exit_code(rc);
    }
    rbx_fingerprint(new_fp, parsed.identity);
    if ((ec = cli_open_store(&st, "trust", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    int known = cli_find_contact(st, &c, name, a.device);
    if (known != 1) {
        cli_close_store(st, "trust");
        if (known < 0) return cli_fail("trust", NULL, known);
        cli_err_context(RBX_E_NOT_FOUND, NULL);
        cli_err("trust", "unknown contact %s device %u (rbx add records a new one)", name, a.device);
        return CLI_NOINPUT;
    }
    rbx_fingerprint(old_fp, c.identity);
    if (!a.yes && a.fingerprint == NULL) {
        cli_close_store(st, "trust");
        cli_err("trust", "%s device %u: pinned %s, bundle %s; compare %s with the fingerprint "
                "`rbx id` shows on the peer's device, then: rbx trust %s --device %u "
                "--fingerprint %s (or --yes); nothing changed", name, a.device, old_fp, new_fp,
                new_fp, name, a.device, new_fp);
        return CLI_USAGE;
    }
    if (a.fingerprint != NULL && strcasecmp(a.fingerprint, new_fp) != 0) {
        cli_close_store(st, "trust");
        cli_err("trust", "%s device %u: --fingerprint %s is not the bundle's key (%s); refused",
                name, a.device, a.fingerprint, new_fp);
        return CLI_DATAERR;
    }
    rc = rbx_store_trust_contact(st, name, a.device, b, blen);
    cli_close_store(st, "trust");
    int unchanged = rc == RBX_E_EXISTS;
    if (rc != 0 && !unchanged) {
        switch (rc) {
        case RBX_E_UNCERTIFIED:
            cli_err_context(rc, NULL);
            cli_err("trust", "%s device %u: key %s not certified by the organisation %s is "
                    "bound to (or by the policy's require_org); refused", name, a.device, new_fp, name);
            return CLI_DATAERR;
        case RBX_E_REVOKED:
            cli_err_context(rc, NULL);
            cli_err("trust", "%s device %u: key %s revoked by its organisation; refused", name,
                    a.device, new_fp);
            return CLI_DATAERR;
        case RBX_E_EXPIRED:
            cli_err_context(rc, NULL);
            cli_err("trust", "%s device %u: expired (the certificate, or a signed prekey older "
                    "than the policy's spk_max_age); ask for a fresh bundle", name, a.device);
            return CLI_DATAERR;
        default:
            return cli_fail("trust", NULL, rc);
        }
    }
    if (a.json) {
        cli_jbegin(stdout);
        cli_jstr(stdout, "name", name);
        cli_juint(stdout, "device", a.device);
        cli_jstr(stdout, "old_fingerprint", old_fp);
        cli_jstr(stdout, "fingerprint", new_fp);
        cli_jbool(stdout, "changed", !unchanged);
        cli_jend(stdout);
    } else if (unchanged) {
        printf("%s %u %s: already the pinned key; nothing changed\n", name, a.device, new_fp);
    } else {
        printf("%s %u: trusted %s (was %s); old sessions dropped, the next send starts a new "
               "session\n", name, a.device, new_fp, old_fp);
    }
    return cli_flush_stdout("trust");
}

int forget_main(int argc, char **argv)
{
    lc_args a;
    int ec = lc_options(argc, argv, "forget", forget_usage, "dj", &a);
    if (ec >= 0) return ec;
    if (argc - optind != 1) {
        cli_err("forget", "expected NAME");
        cli_usage_err(forget_usage);
        return CLI_USAGE;
    }
    const char *name = argv[optind];
    if ((ec = bad_name("forget", name)) != 0) return ec;
    rbx_store *st;
    size_t n = 0;
    if ((ec = cli_open_store(&st, "forget", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    int rc = rbx_store_forget_contact(st, name, a.has_device ? &a.device : NULL, &n);
    if (rc == RBX_E_NOT_FOUND) {
        cli_close_store(st, "forget");
        cli_err_context(rc, NULL);
        if (a.has_device) cli_err("forget", "unknown contact %s device %u", name, a.device);
        else cli_err("forget", "unknown contact %s", name);
        return CLI_NOINPUT;
    }
    ec = rc != 0 ? cli_fail("forget", NULL, rc) : CLI_OK;
    cli_close_store(st, "forget");
    if (rc != 0) return ec;
    if (a.json) {
        cli_jbegin(stdout);
        cli_jstr(stdout, "name", name);
        if (a.has_device) cli_juint(stdout, "device", a.device);
        else cli_jnull(stdout, "device");
        cli_juint(stdout, "devices_erased", n);
        cli_jend(stdout);
    } else {
        printf("%s: %zu device%s forgotten (sessions, keys, inbox and outbox erased)\n", name, n,
               n == 1 ? "" : "s");
    }
    return cli_flush_stdout("forget");
}

int reset_main(int argc, char **argv)
{
    lc_args a;
    int ec = lc_options(argc, argv, "reset", reset_usage, "dj", &a);
    if (ec >= 0) return ec;
    if (argc - optind < 1 || argc - optind > 2) {
        cli_err("reset", "expected NAME [FILE|-]");
        cli_usage_err(reset_usage);
        return CLI_USAGE;
    }
    const char *name = argv[optind], *path = argc - optind == 2 ? argv[optind + 1] : NULL;
    if ((ec = bad_name("reset", name)) != 0) return ec;
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t blen = 0;
    rbx_contact_info c;
    rbx_store *st;
    if (path != NULL && (ec = cli_read_b64("reset", "bad bundle", path, b, sizeof b, &blen)) != CLI_OK)
        return ec;
    if ((ec = cli_open_store(&st, "reset", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    int known = cli_find_contact(st, &c, name, a.device);
    if (known != 1) {
        cli_close_store(st, "reset");
        if (known < 0) return cli_fail("reset", NULL, known);
        cli_err_context(RBX_E_NOT_FOUND, NULL);
        cli_err("reset", "unknown contact %s device %u", name, a.device);
        return CLI_NOINPUT;
    }
    int rc = rbx_store_reset_session(st, name, a.device), had = rc == 0;
    if (rc == RBX_E_NOT_FOUND) rc = 0; /* no session: the bundle alone */
    if (rc == 0 && blen > 0) {
        rc = rbx_store_add_contact(st, name, a.device, b, blen);
        if (rc == RBX_E_IDENTITY_CHANGED) {
            cli_close_store(st, "reset");
            char pfp[RBX_FINGERPRINT_HEXBYTES];
            rbx_fingerprint(pfp, c.identity);
            cli_err_context(rc, NULL);
            cli_err("reset", "%s device %u: the bundle is not of the pinned key %s (the session "
                    "was %s); a new key needs rbx trust", name, a.device, pfp,
                    had ? "reset" : "already gone");
            return CLI_DATAERR;
        }
    }
    ec = rc != 0 ? cli_fail("reset", had ? "session reset, but the bundle was refused" : NULL, rc)
                 : CLI_OK;
    cli_close_store(st, "reset");
    if (rc != 0) return ec;
    if (a.json) {
        cli_jbegin(stdout);
        cli_jstr(stdout, "name", name);
        cli_juint(stdout, "device", a.device);
        cli_jbool(stdout, "session_dropped", had);
        cli_jbool(stdout, "bundle", blen > 0 || c.has_bundle);
        cli_jend(stdout);
    } else {
        printf("%s %u: %s; %s\n", name, a.device, had ? "session reset" : "no session to reset",
               blen > 0 || c.has_bundle ? "the next send starts a new session from the bundle"
                                        : "the peer's next first message starts a new session "
                                          "(or rbx add a fresh bundle)");
    }
    return cli_flush_stdout("reset");
}

int rename_main(int argc, char **argv)
{
    lc_args a;
    int ec = lc_options(argc, argv, "rename", rename_usage, "j", &a);
    if (ec >= 0) return ec;
    if (argc - optind != 2) {
        cli_err("rename", "expected OLD NEW");
        cli_usage_err(rename_usage);
        return CLI_USAGE;
    }
    const char *from = argv[optind], *to = argv[optind + 1];
    if ((ec = bad_name("rename", from)) != 0 || (ec = bad_name("rename", to)) != 0) return ec;
    if (strcmp(from, to) == 0) {
        cli_err("rename", "OLD and NEW are the same name");
        return CLI_USAGE;
    }
    rbx_store *st;
    if ((ec = cli_open_store(&st, "rename", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    int rc = rbx_store_rename_contact(st, from, to);
    cli_close_store(st, "rename");
    cli_err_context(rc, NULL);
    if (rc == RBX_E_NOT_FOUND) {
        cli_err("rename", "unknown contact %s", from);
        return CLI_NOINPUT;
    }
    if (rc == RBX_E_EXISTS) {
        cli_err("rename", "%s already has a device numbered as one of %s's; nothing renamed", to,
                from);
        return CLI_CANTCREAT;
    }
    if (rc != 0) return cli_fail("rename", NULL, rc);
    if (a.json) {
        cli_jbegin(stdout);
        cli_jstr(stdout, "old_name", from);
        cli_jstr(stdout, "name", to);
        cli_jend(stdout);
    } else {
        printf("%s -> %s\n", from, to);
    }
    return cli_flush_stdout("rename");
}
