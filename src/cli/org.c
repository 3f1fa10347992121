/* SPDX-License-Identifier: MIT
 * rbx org: an organisation root key that certifies device identity keys and
 * revokes them (issue 6 section 2). The administrator's store holds the
 * organisation key; devices install their certificate (carried in their
 * bundles) and import revocations; contacts bound with rbx add --org refuse
 * keys the root did not certify or has revoked. Certificates, revocations and
 * public keys are public: they travel as base64 lines, public keys in argv. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* --expires: at most 100 years. */
#define CLI_MAX_EXPIRY_DAYS 36500U
/* rbx org show lists this many revocations (and counts them all). */
#define SHOW_REVOCATIONS 64U

static const char org_usage[] =
    "Usage: rbx org init [--json]\n"
    "       rbx org show [--json]\n"
    "       rbx org certify PUBKEY_B64|--bundle FILE [--expires DAYS] [--out FILE] [--json]\n"
    "       rbx org revoke PUBKEY_B64 [--reason TEXT] [--out FILE] [--json]\n"
    "       rbx org install-cert FILE|-\n"
    "       rbx org import-revocation FILE|-\n"
    "An organisation root key certifies device identity keys and can revoke them.\n"
    "init: make the organisation key in this store (the administrator's; DIR and its\n"
    "  store are created if absent, and need no identity of their own); prints its\n"
    "  public key (base64) and fingerprint, to give to every member as --org.\n"
    "show: the organisation key held here, if any.\n"
    "certify: a certificate for a device's identity key (from argv or from its\n"
    "  bundle), valid DAYS days (default: no end), as one base64 line on stdout or\n"
    "  in FILE. The device installs it with install-cert.\n"
    "revoke: a revocation of a device's identity key (TEXT: 0-63 bytes, no control\n"
    "  characters), as one base64 line; it also applies to this store. Members\n"
    "  import it with import-revocation: contacts bound to the organisation with\n"
    "  that key lose their sessions and refuse to send (exit 65).\n"
    "install-cert: our own certificate, carried in our bundles from now on; it\n"
    "  must certify our current identity (after rbx rotate identity, get a new one).\n";

/* "rbx: org: WHAT 'ARG'" (or just WHAT), then the usage. */
static int usage_error(const char *what, const char *arg)
{
    if (arg != NULL) cli_err("org", "%s '%s'", what, arg);
    else cli_err("org", "%s", what);
    fputs(org_usage, stderr);
    return CLI_USAGE;
}

/* A public key from argv. */
static int parse_pubkey(uint8_t pk[RBX_PUBLICKEYBYTES], const char *s)
{
    if (rbx_key_from_base64(pk, s, strlen(s)) != 0) {
        cli_err("org", "'%s' is not a public key (44 characters of base64)", s);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Write "LINE\n" to path (public data: 0644, replaced if present). */
static int write_line(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_err("org", "%s: %s", path, strerror(errno));
        return CLI_CANTCREAT;
    }
    size_t len = strlen(line), off = 0;
    int ec = CLI_OK;
    while (off <= len && ec == CLI_OK) {
        const char *p = off < len ? line + off : "\n";
        size_t n = off < len ? len - off : 1;
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            cli_err("org", "write %s: %s", path, strerror(errno));
            ec = CLI_IOERR;
        } else {
            off += (size_t)w;
        }
    }
    if (close(fd) != 0 && ec == CLI_OK) {
        cli_err("org", "write %s: %s", path, strerror(errno));
        ec = CLI_IOERR;
    }
    return ec;
}

static int print_org_key(const uint8_t org[RBX_PUBLICKEYBYTES], int json)
{
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_key_to_base64(b64, org);
    rbx_fingerprint(fp, org);
    if (json) printf("{\"org_public_key\":\"%s\",\"fingerprint\":\"%s\"}\n", b64, fp);
    else printf("%s %s\n", b64, fp);
    return cli_flush_stdout("org");
}

static int org_init(int argc, char **argv)
{
    int json, ec = cli_json_only(argc, argv, "org", org_usage, &json);
    if (ec >= 0) return ec;
    rbx_store *st;
    uint8_t org[RBX_PUBLICKEYBYTES];
    if ((ec = cli_open_store(&st, "org", CLI_STORE_CREATE)) != CLI_OK) return ec;
    int rc = rbx_store_org_init(st, org);
    cli_close_store(st, "org");
    if (rc == RBX_E_EXISTS) {
        cli_err("org", "this store already holds an organisation key (rbx org show)");
        return CLI_CANTCREAT;
    }
    if (rc != 0) return cli_fail("org", "cannot make the organisation key", rc);
    return print_org_key(org, json);
}

static int org_show(int argc, char **argv)
{
    int json, ec = cli_json_only(argc, argv, "org", org_usage, &json);
    if (ec >= 0) return ec;
    rbx_store *st;
    uint8_t org[RBX_PUBLICKEYBYTES], cert[RBX_CERT_MAXBYTES];
    rbx_org_revocation revs[SHOW_REVOCATIONS];
    rbx_org_cert c;
    size_t certlen = 0, nrev = 0;
    if ((ec = cli_open_store(&st, "org", CLI_STORE_ADMIN)) != CLI_OK) return ec;
    int rc = rbx_store_org_key(st, org);
    int crc = rbx_store_certificate(st, cert, sizeof cert, &certlen);
    int rrc = rbx_store_revocations(st, revs, SHOW_REVOCATIONS, &nrev);
    cli_close_store(st, "org");
    if (rc != 0 && rc != RBX_E_NOT_FOUND) return cli_fail("org", NULL, rc);
    if (crc != 0 && crc != RBX_E_NOT_FOUND) return cli_fail("org", "certificate", crc);
    if (rrc != 0) return cli_fail("org", "revocations", rrc);
    if (crc == 0 && (crc = rbx_org_cert_parse(&c, cert, certlen)) != 0)
        return cli_fail("org", "certificate", crc);
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES], cfp[RBX_FINGERPRINT_HEXBYTES];
    char until[CLI_TIME_CHARS] = "no end";
    size_t shown = nrev < SHOW_REVOCATIONS ? nrev : SHOW_REVOCATIONS;
    if (rc == 0) {
        rbx_key_to_base64(b64, org);
        rbx_fingerprint(fp, org);
    }
    if (crc == 0) {
        rbx_fingerprint(cfp, c.org);
        if (c.expires != 0) cli_time_str(until, (int64_t)c.expires);
    }
    if (json) {
        if (rc == 0) printf("{\"org_key\":{\"public_key\":\"%s\",\"fingerprint\":\"%s\"}", b64, fp);
        else printf("{\"org_key\":null");
        if (crc == 0) printf(",\"certificate\":{\"organisation\":\"%s\",\"expires\":%llu}", cfp,
                             (unsigned long long)c.expires);
        else printf(",\"certificate\":null");
        printf(",\"revocations\":[");
        for (size_t i = 0; i < shown; i++) {
            char ofp[RBX_FINGERPRINT_HEXBYTES], ifp[RBX_FINGERPRINT_HEXBYTES];
            rbx_fingerprint(ofp, revs[i].org);
            rbx_fingerprint(ifp, revs[i].identity);
            printf("%s{\"organisation\":\"%s\",\"identity\":\"%s\",\"revoked_at\":%llu,\"reason\":",
                   i ? "," : "", ofp, ifp, (unsigned long long)revs[i].revoked_at);
            cli_json_str(stdout, revs[i].reason);
            printf("}");
        }
        printf("]}\n");
    } else {
        if (rc == 0) printf("organisation key: %s %s (held here: this store certifies and revokes)\n", b64, fp);
        else printf("organisation key: none held here\n");
        if (crc == 0) printf("our certificate: by organisation %s, until %s\n", cfp, until);
        else printf("our certificate: none\n");
        printf("revocations: %zu\n", nrev);
        for (size_t i = 0; i < shown; i++) {
            char ofp[RBX_FINGERPRINT_HEXBYTES], ifp[RBX_FINGERPRINT_HEXBYTES], when[CLI_TIME_CHARS];
            rbx_fingerprint(ofp, revs[i].org);
            rbx_fingerprint(ifp, revs[i].identity);
            cli_time_str(when, (int64_t)revs[i].revoked_at);
            printf("  %s revoked by %s at %s: %s\n", ifp, ofp, when, revs[i].reason);
        }
    }
    return cli_flush_stdout("org");
}

/* certify and revoke share their options. */
typedef struct org_args {
    const char *out, *bundle, *reason;
    uint32_t days;
    int json;
    uint8_t identity[RBX_PUBLICKEYBYTES];
} org_args;

/* Returns -1 to go on, or the exit code to return now. */
static int parse_statement_args(org_args *a, int argc, char **argv, int certify)
{
    static const struct option copts[] = { { "bundle", required_argument, NULL, 'b' },
                                           { "expires", required_argument, NULL, 'e' },
                                           { "out", required_argument, NULL, 'o' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "help", no_argument, NULL, 'h' },
                                           { NULL, 0, NULL, 0 } };
    static const struct option ropts[] = { { "reason", required_argument, NULL, 'r' },
                                           { "out", required_argument, NULL, 'o' },
                                           { "json", no_argument, NULL, 'j' },
                                           { "help", no_argument, NULL, 'h' },
                                           { NULL, 0, NULL, 0 } };
    int c, ec;
    memset(a, 0, sizeof *a);
    a->reason = "";
    while ((c = cli_getopt(argc, argv, certify ? copts : ropts, "org", org_usage, &ec)) != -1) {
        switch (c) {
        case 'b': a->bundle = optarg; break;
        case 'e':
            if (cli_parse_u32(&a->days, optarg, 1, CLI_MAX_EXPIRY_DAYS) != 0) {
                cli_err("org", "--expires: expected 1..%u days", CLI_MAX_EXPIRY_DAYS);
                return CLI_USAGE;
            }
            break;
        case 'r': a->reason = optarg; break;
        case 'o': a->out = optarg; break;
        case 'j': a->json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    int want = a->bundle != NULL ? 0 : 1;
    if (argc - optind != want)
        return usage_error(a->bundle != NULL ? "expected no PUBKEY_B64 with --bundle"
                                             : "expected one PUBKEY_B64",
                           NULL);
    if (a->bundle == NULL) {
        int pec = parse_pubkey(a->identity, argv[optind]);
        return pec == CLI_OK ? -1 : pec;
    }
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    rbx_bundle parsed;
    ec = cli_read_b64("org", "bad bundle", a->bundle, b, sizeof b, &blen);
    if (ec != CLI_OK) return ec;
    int rc = rbx_bundle_parse(&parsed, b, blen);
    if (rc != 0) return cli_fail("org", "bad bundle", rc);
    memcpy(a->identity, parsed.identity, RBX_PUBLICKEYBYTES);
    return -1;
}

/* Print or write a statement line; what: "certificate" or "revocation". */
static int emit_statement(const org_args *a, const char *what, const uint8_t *stmt, size_t len,
                          int64_t expires)
{
    char fp[RBX_FINGERPRINT_HEXBYTES], when[CLI_TIME_CHARS];
    char *line = cli_b64_encode(stmt, len);
    int ec = CLI_OK;
    if (line == NULL) return cli_fail("org", NULL, RBX_E_NOMEM);
    rbx_fingerprint(fp, a->identity);
    if (a->out != NULL) ec = write_line(a->out, line);
    if (ec != CLI_OK) goto out;
    if (a->json) {
        printf("{\"%s\":\"%s\",\"fingerprint\":\"%s\"", what, line, fp);
        if (expires >= 0) printf(",\"expires\":%lld", (long long)expires);
        if (expires < 0) {
            fputs(",\"reason\":", stdout);
            cli_json_str(stdout, a->reason);
        }
        if (a->out != NULL) {
            fputs(",\"out\":", stdout);
            cli_json_str(stdout, a->out);
        }
        fputs("}\n", stdout);
    } else if (a->out == NULL) {
        printf("%s\n", line);
    } else if (expires >= 0) {
        if (expires > 0) cli_time_str(when, expires);
        printf("certified %s until %s: %s\n", fp, expires > 0 ? when : "no end", a->out);
    } else {
        printf("revoked %s: %s\n", fp, a->out);
    }
    ec = cli_flush_stdout("org");
out:
    free(line);
    return ec;
}

static int org_certify(int argc, char **argv)
{
    org_args a;
    int ec = parse_statement_args(&a, argc, argv, 1);
    if (ec >= 0) return ec;
    rbx_store *st;
    uint8_t cert[RBX_CERT_MAXBYTES];
    size_t len;
    int64_t expires = a.days ? (int64_t)time(NULL) + (int64_t)a.days * RBX_DAY : 0;
    if ((ec = cli_open_store(&st, "org", CLI_STORE_ADMIN)) != CLI_OK) return ec;
    int rc = rbx_store_org_certify(st, cert, sizeof cert, &len, a.identity, (uint64_t)expires);
    cli_close_store(st, "org");
    if (rc == RBX_E_NOT_FOUND) return cli_no_org_key("org");
    if (rc != 0) return cli_fail("org", "cannot certify", rc);
    return emit_statement(&a, "certificate", cert, len, expires);
}

static int org_revoke(int argc, char **argv)
{
    org_args a;
    int ec = parse_statement_args(&a, argc, argv, 0);
    if (ec >= 0) return ec;
    rbx_store *st;
    uint8_t rev[RBX_REVOCATION_MAXBYTES];
    size_t len;
    if ((ec = cli_open_store(&st, "org", CLI_STORE_ADMIN)) != CLI_OK) return ec;
    int rc = rbx_store_org_revoke(st, rev, sizeof rev, &len, a.identity, a.reason);
    cli_close_store(st, "org");
    if (rc == RBX_E_NOT_FOUND) return cli_no_org_key("org");
    if (rc == RBX_E_INVALID) {
        cli_err("org", "bad --reason (0-63 bytes, no control characters)");
        return CLI_USAGE;
    }
    if (rc != 0) return cli_fail("org", "cannot revoke", rc);
    return emit_statement(&a, "revocation", rev, len, -1);
}

/* install-cert and import-revocation: one FILE|- argument. */
static int one_input(int argc, char **argv, const char **path)
{
    static const struct option opts[] = { { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int ec;
    if (cli_getopt(argc, argv, opts, "org", org_usage, &ec) != -1) return ec; /* --help, or a bad option */
    if (argc - optind > 1) return usage_error("unexpected argument", argv[optind + 1]);
    *path = argc - optind == 1 ? argv[optind] : NULL;
    return -1;
}

static int org_install_cert(int argc, char **argv)
{
    const char *path;
    int ec = one_input(argc, argv, &path);
    if (ec >= 0) return ec;
    uint8_t cert[RBX_CERT_MAXBYTES], me[RBX_PUBLICKEYBYTES];
    size_t len;
    rbx_store *st;
    if ((ec = cli_read_b64("org", "bad certificate", path, cert, sizeof cert, &len)) != CLI_OK)
        return ec;
    if ((ec = cli_open_store(&st, "org", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    int rc = (ec = cli_identity(st, "org", me)) == CLI_OK ? rbx_store_set_certificate(st, cert, len) : 0;
    cli_close_store(st, "org");
    if (ec != CLI_OK) return ec;
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, me);
    if (rc == RBX_E_UNCERTIFIED) {
        cli_err("org", "this certificate is not for our identity %s (after a rotation, ask for a new one)", fp);
        return CLI_DATAERR;
    }
    if (rc == RBX_E_EXPIRED) {
        cli_err("org", "this certificate has expired");
        return CLI_DATAERR;
    }
    if (rc != 0) return cli_fail("org", "bad certificate", rc);
    rbx_org_cert cc;
    char ofp[RBX_FINGERPRINT_HEXBYTES], when[CLI_TIME_CHARS];
    if (rbx_org_cert_parse(&cc, cert, len) != 0) return cli_fail("org", "bad certificate", RBX_E_STATE);
    rbx_fingerprint(ofp, cc.org);
    if (cc.expires != 0) cli_time_str(when, (int64_t)cc.expires);
    printf("certificate installed: %s certified by organisation %s until %s; our bundles carry it\n",
           fp, ofp, cc.expires != 0 ? when : "no end");
    return cli_flush_stdout("org");
}

static int org_import_revocation(int argc, char **argv)
{
    const char *path;
    int ec = one_input(argc, argv, &path);
    if (ec >= 0) return ec;
    uint8_t rev[RBX_REVOCATION_MAXBYTES];
    size_t len;
    rbx_store *st;
    if ((ec = cli_read_b64("org", "bad revocation", path, rev, sizeof rev, &len)) != CLI_OK)
        return ec;
    if ((ec = cli_open_store(&st, "org", CLI_STORE_EXISTING)) != CLI_OK) return ec;
    int rc = rbx_store_add_revocation(st, rev, len);
    cli_close_store(st, "org");
    if (rc != 0) return cli_fail("org", "bad revocation", rc);
    rbx_org_revocation rv;
    char ifp[RBX_FINGERPRINT_HEXBYTES], ofp[RBX_FINGERPRINT_HEXBYTES];
    if (rbx_org_revocation_parse(&rv, rev, len) != 0) return cli_fail("org", "bad revocation", RBX_E_STATE);
    rbx_fingerprint(ifp, rv.identity);
    rbx_fingerprint(ofp, rv.org);
    printf("revocation applied: %s revoked by organisation %s (%s); contacts bound to it with\n"
           "that key lost their sessions and refuse to send\n",
           ifp, ofp, rv.reason[0] ? rv.reason : "no reason given");
    return cli_flush_stdout("org");
}

int org_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } sub[] = { { "init", org_init },
                { "show", org_show },
                { "certify", org_certify },
                { "revoke", org_revoke },
                { "install-cert", org_install_cert },
                { "import-revocation", org_import_revocation } };
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(org_usage, stdout);
        return cli_flush_stdout("org");
    }
    for (size_t i = 0; argc >= 2 && i < sizeof sub / sizeof sub[0]; i++)
        if (strcmp(argv[1], sub[i].name) == 0) return sub[i].fn(argc - 1, argv + 1);
    if (argc < 2) return usage_error("expected init, show, certify, revoke, install-cert or import-revocation", NULL);
    return usage_error("unknown org command", argv[1]);
}
