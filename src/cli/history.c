/* SPDX-License-Identifier: MIT
 * rbx history: session replay from the archive (and switching archiving on
 * or off); rbx import-history: the product's stored rows, opened with the old
 * box key, moved into the archive (PROTOCOL.md 17.6). */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The whole export is read and imported in one transaction. */
#define IMPORT_MAX (256U * 1024U * 1024U)

static const char history_usage[] =
    "Usage: rbx history [NAME] [--json]\n"
    "       rbx history --archive on|off\n"
    "Print the archived messages (of contact NAME, or all), oldest first, one per\n"
    "line: time (UTC), sent/received, contact, epoch:sequence and the plaintext\n"
    "(control characters and bytes that are not UTF-8 escaped as \\xNN). An entry\n"
    "whose epoch key was shredded shows as [unavailable: epoch key shredded].\n"
    "--json: {\"id\",\"time\",\"direction\",\"peer\",\"session\",\"seq\",\"epoch\",\n"
    "\"available\",\"plaintext_b64\"} per entry. --archive on|off sets the policy\n"
    "key `archive`: whether sent and received messages are archived.\n";

static const char import_usage[] =
    "Usage: rbx import-history FILE|- --key KEYFILE [--json]\n"
    "Import the product's stored messages: JSON lines with content_encrypted,\n"
    "encryption_nonce (null: a plaintext row), peer_public_key (base64), sequence\n"
    "and timestamp (integers, Unix seconds), optional direction (\"sent\" or\n"
    "\"received\") and session_id (string). Rows are opened with the old box key\n"
    "pair in KEYFILE (the product's JSON key file) and archived in one transaction.\n"
    "A bad line is reported as \"line N: reason\" and skipped (exit 65 at the end);\n"
    "rows imported before are not imported again. --json: a summary object.\n";

/* ------------------------------------------------------------ rbx history */

typedef struct printer {
    int json;
    size_t n;
} printer;

/* Length of a well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF) that is not a C1 control
 * (U+0080..U+009F, which terminals obey as escapes); 0 otherwise. */
static size_t utf8_printable(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t len;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) len = 2, cp = p[0] & 0x1fU;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) len = 3, cp = p[0] & 0x0fU;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4) len = 4, cp = p[0] & 0x07U;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3fU);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
        return 0;
    return len;
}

/* Control characters (C0, DEL, C1), bytes that are not UTF-8, and
 * backslashes escaped: plaintext from a peer reaches a terminal. */
static void put_text(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t u = c >= 0x80 ? utf8_printable(p + i, n - i) : 0;
        if (u > 0) fwrite(p + i, 1, u, stdout), i += u;
        else if (c == '\\') fputs("\\\\", stdout), i++;
        else if (c == '\n') fputs("\\n", stdout), i++;
        else if (c == '\t') fputs("\\t", stdout), i++;
        else if (c < 0x20 || c >= 0x7f) printf("\\x%02x", c), i++;
        else putchar(c), i++;
    }
}

static int print_entry(const rbx_history_entry *e, void *ctx)
{
    printer *pr = ctx;
    pr->n++;
    if (pr->json) {
        char sess[65];
        sodium_bin2hex(sess, sizeof sess, e->session, sizeof e->session);
        printf("{\"id\":%llu,\"time\":%lld,\"direction\":\"%s\",\"peer\":", (unsigned long long)e->id,
               (long long)e->created, e->direction ? "sent" : "received");
        cli_json_str(stdout, e->peer);
        printf(",\"session\":\"%s\",\"seq\":%llu,\"epoch\":%llu,\"available\":%s", sess,
               (unsigned long long)e->seq, (unsigned long long)e->epoch,
               e->available ? "true" : "false");
        if (e->available) {
            char *b64 = cli_b64_encode(e->pt, e->ptlen);
            if (b64 == NULL) return RBX_E_NOMEM;
            printf(",\"plaintext_b64\":\"%s\"", b64);
            sodium_memzero(b64, strlen(b64));
            free(b64);
        }
        fputs("}\n", stdout);
    } else {
        char when[CLI_TIME_CHARS];
        cli_time_iso(when, e->created);
        printf("%s %-8s %s %llu:%llu ", when, e->direction ? "sent" : "received", e->peer,
               (unsigned long long)e->epoch, (unsigned long long)e->seq);
        if (e->available) put_text(e->pt, e->ptlen);
        else fputs("[unavailable: epoch key shredded]", stdout);
        putchar('\n');
    }
    return ferror(stdout) ? RBX_E_IO : 0;
}

static int set_archive(const char *value)
{
    rbx_store *st;
    rbx_policy p;
    int ec;
    if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0) {
        cli_err("history", "--archive: expected on or off");
        return CLI_USAGE;
    }
    if ((ec = cli_open_store(&st, "history", 0)) != CLI_OK) return ec;
    int rc = rbx_store_policy(st, &p);
    if (rc == 0) rc = rbx_policy_set(&p, "archive", value);
    if (rc == 0) rc = rbx_store_set_policy(st, &p);
    cli_close_store(st, "history");
    if (rc != 0) return cli_fail("history", "cannot set the archive policy", rc);
    printf("archive %s\n", value);
    return cli_flush_stdout("history");
}

int history_main(int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                          { "archive", required_argument, NULL, 'a' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    printer pr = { 0, 0 };
    const char *archive = NULL, *name = NULL;
    int c, ec;
    while ((c = cli_getopt(argc, argv, opts, "history", history_usage, &ec)) != -1) {
        switch (c) {
        case 'j': pr.json = 1; break;
        case 'a': archive = optarg; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind < argc) name = argv[optind++];
    if (optind != argc) {
        cli_err("history", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if (archive != NULL) {
        if (name != NULL || pr.json) {
            cli_err("history", "--archive takes no NAME and no --json");
            return CLI_USAGE;
        }
        return set_archive(archive);
    }
    rbx_store *st;
    if ((ec = cli_open_store(&st, "history", 0)) != CLI_OK) return ec;
    int rc = rbx_store_history(st, name, print_entry, &pr);
    cli_close_store(st, "history");
    if (rc == RBX_E_INVALID) {
        cli_err("history", "bad contact name");
        return CLI_USAGE;
    }
    if (rc != 0) {
        fflush(stdout);
        return cli_fail("history", "archive", rc);
    }
    return cli_flush_stdout("history");
}

/* ------------------------------------------------------------ rbx import-history */

/* Jansson's copies of plaintext rows are wiped when freed: each block
 * carries its size in front (max_align_t keeps the alignment). */
typedef union wipe_hdr {
    size_t n;
    max_align_t align;
} wipe_hdr;

static void *wipe_malloc(size_t n)
{
    if (n > SIZE_MAX - sizeof(wipe_hdr)) return NULL;
    wipe_hdr *h = malloc(sizeof *h + n);
    if (h == NULL) return NULL;
    h->n = n;
    return h + 1;
}

static void wipe_free(void *p)
{
    if (p == NULL) return;
    wipe_hdr *h = (wipe_hdr *)p - 1;
    sodium_memzero(p, h->n);
    free(h);
}

typedef struct parsed {
    size_t line;
    json_t *obj;
    uint8_t peer_pk[RBX_PUBLICKEYBYTES];
} parsed;

/* One line into a row; NULL on success or the reason it is refused. */
static const char *parse_row(rbx_import_row *r, parsed *p, const char *line, size_t len)
{
    /* No json_error_t: its text quotes the line, a plaintext row's content
     * among them, into a buffer no one wipes (and the reason given is ours). */
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL), *v;
    memset(r, 0, sizeof *r);
    p->obj = o;
    if (o == NULL) return "not valid JSON";
    if (!json_is_object(o)) return "not a JSON object";
    if ((v = json_object_get(o, "content_encrypted")) == NULL) return "missing content_encrypted";
    if (!json_is_string(v)) return "content_encrypted: not a string";
    r->content = json_string_value(v);
    r->content_len = json_string_length(v);
    if ((v = json_object_get(o, "encryption_nonce")) == NULL) return "missing encryption_nonce";
    if (json_is_string(v)) {
        r->nonce = json_string_value(v);
        r->nonce_len = json_string_length(v);
    } else if (!json_is_null(v)) {
        return "encryption_nonce: not a string or null";
    }
    if ((v = json_object_get(o, "peer_public_key")) == NULL) return "missing peer_public_key";
    if (!json_is_string(v) ||
        rbx_key_from_base64(p->peer_pk, json_string_value(v), json_string_length(v)) != 0)
        return "peer_public_key: not a base64 32-byte key";
    r->peer_pk = p->peer_pk;
    if ((v = json_object_get(o, "sequence")) == NULL) return "missing sequence";
    if (!json_is_integer(v) || json_integer_value(v) < 0) return "sequence: not an integer >= 0";
    r->sequence = (uint64_t)json_integer_value(v);
    if ((v = json_object_get(o, "timestamp")) == NULL) return "missing timestamp";
    if (!json_is_integer(v)) return "timestamp: not an integer (Unix seconds)";
    r->timestamp = (int64_t)json_integer_value(v);
    if ((v = json_object_get(o, "direction")) != NULL && !json_is_null(v)) {
        const char *d = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(d, "sent") == 0) r->outgoing = 1;
        else if (strcmp(d, "received") != 0) return "direction: not \"sent\" or \"received\"";
    }
    if ((v = json_object_get(o, "session_id")) != NULL && !json_is_null(v)) {
        if (!json_is_string(v)) return "session_id: not a string";
        r->session_id = json_string_value(v);
        r->session_id_len = json_string_length(v);
    }
    return NULL;
}

static const char *row_reason(int rc)
{
    switch (rc) {
    case RBX_E_MALFORMED: return "content_encrypted or encryption_nonce: bad base64 or length";
    case RBX_E_AUTH: return "does not open with this key (authentication failed)";
    case RBX_E_KEY: return "peer_public_key: a low-order key";
    case RBX_E_TOO_BIG: return "plaintext above the 1 MiB cap";
    default: return rbx_strerror(rc);
    }
}

int import_history_main(int argc, char **argv)
{
    static const struct option opts[] = { { "key", required_argument, NULL, 'k' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *keyfile = NULL, *input = NULL;
    int json = 0, c, ec;
    while ((c = cli_getopt(argc, argv, opts, "import-history", import_usage, &ec)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'j': json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind < argc) input = argv[optind++];
    if (optind != argc || input == NULL || keyfile == NULL) {
        if (optind != argc) cli_err("import-history", "unexpected argument '%s'", argv[optind]);
        else cli_err("import-history", "FILE|- and --key KEYFILE are required");
        fputs(import_usage, stderr);
        return CLI_USAGE;
    }
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES], *buf = NULL;
    size_t len = 0, nrows = 0, cap = 0, lines = 0, rejected = 0, already = 0, imported = 0;
    rbx_import_row *rows = NULL;
    parsed *ps = NULL;
    int *rcs = NULL;
    rbx_store *st = NULL;
    json_set_alloc_funcs(wipe_malloc, wipe_free);
    if ((ec = cli_import_keypair("import-history", pk, sk, keyfile)) != CLI_OK) goto out;
    if ((ec = cli_read_all("import-history", input, &buf, &len, IMPORT_MAX)) != CLI_OK) goto out;
    /* Parse every line first: a bad line is reported and skipped. */
    for (size_t pos = 0; pos < len;) {
        const char *line = (const char *)buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL);
        lines++;
        if (cli_is_blank(line, n)) continue;
        if (nrows == cap) {
            size_t nc = cap ? cap * 2 : 64;
            rbx_import_row *nr = realloc(rows, nc * sizeof *rows);
            if (nr != NULL) rows = nr;
            parsed *np = nr != NULL ? realloc(ps, nc * sizeof *ps) : NULL;
            if (np != NULL) ps = np;
            if (nr == NULL || np == NULL) {
                ec = cli_fail("import-history", NULL, RBX_E_NOMEM);
                goto out;
            }
            cap = nc;
        }
        ps[nrows].line = lines;
        const char *why = parse_row(&rows[nrows], &ps[nrows], line, n);
        if (why != NULL) {
            cli_err("import-history", "line %zu: %s", lines, why);
            if (ps[nrows].obj != NULL) json_decref(ps[nrows].obj);
            rejected++;
            continue;
        }
        nrows++;
    }
    for (size_t i = 0; i < nrows; i++) rows[i].peer_pk = ps[i].peer_pk; /* ps moved when it grew */
    if ((rcs = calloc(nrows ? nrows : 1, sizeof *rcs)) == NULL) {
        ec = cli_fail("import-history", NULL, RBX_E_NOMEM);
        goto out;
    }
    if ((ec = cli_open_store(&st, "import-history", 0)) != CLI_OK) goto out;
    int rc = rbx_store_import_history(st, pk, sk, rows, nrows, rcs, &imported);
    if (rc != 0) {
        ec = rc == RBX_E_KEY ? (cli_err("import-history", "%s: public and secret key do not match",
                                        keyfile), CLI_DATAERR)
                             : cli_fail("import-history", "nothing imported", rc);
        goto out;
    }
    for (size_t i = 0; i < nrows; i++) {
        if (rcs[i] == RBX_E_EXISTS) {
            already++;
        } else if (rcs[i] != 0) {
            cli_err("import-history", "line %zu: %s", ps[i].line, row_reason(rcs[i]));
            rejected++;
        }
    }
    if (json)
        printf("{\"imported\":%zu,\"already_imported\":%zu,\"rejected\":%zu,\"lines\":%zu}\n",
               imported, already, rejected, lines);
    else
        printf("imported %zu, already imported %zu, rejected %zu (%zu lines)\n", imported, already,
               rejected, lines);
    ec = cli_flush_stdout("import-history");
    if (ec == CLI_OK && rejected > 0) ec = CLI_DATAERR;
out:
    cli_close_store(st, "import-history");
    for (size_t i = 0; i < nrows; i++) json_decref(ps[i].obj);
    free(ps);
    free(rows);
    free(rcs);
    if (buf != NULL) {
        sodium_memzero(buf, len);
        free(buf);
    }
    sodium_memzero(sk, sizeof sk);
    return ec;
}
