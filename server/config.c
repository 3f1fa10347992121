/* SPDX-License-Identifier: MIT
 * Settings (config.h). One table of keys drives the file, the command line,
 * the checks and the printout, so that the four cannot drift apart. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"

enum { T_STR, T_U32, T_SIZE, T_DUR, T_ENROLL, T_KEY, T_LOG };

typedef struct key_def {
    const char *name;
    int type;
    size_t off;
    size_t cap;        /* T_STR: buffer size */
    uint64_t min, max; /* numbers */
    const char *help;
} key_def;

#define OFF(f) offsetof(rbxd_config, f)
#define KIB 1024ULL
#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)
#define DAY 86400ULL

static const key_def keys[] = {
    {"listen", T_STR, OFF(listen), sizeof ((rbxd_config *)0)->listen, 0, 0,
     "HOST:PORT to listen on (port 0: any free port, see ready_file)"},
    {"db", T_STR, OFF(db), CFG_PATH_MAX, 0, 0, "sqlite:PATH or postgresql://..."},
    {"tls_cert", T_STR, OFF(tls_cert), CFG_PATH_MAX, 0, 0, "PEM certificate (HTTPS)"},
    {"tls_key", T_STR, OFF(tls_key), CFG_PATH_MAX, 0, 0, "PEM private key (HTTPS)"},
    {"enroll", T_ENROLL, OFF(enroll), 0, 0, 0, "enrollment policies: open, linked, org (comma list)"},
    {"org_root", T_KEY, OFF(org_root), 0, 0, 0, "organisation root public key (base64, rbx org init)"},
    {"retention", T_DUR, OFF(retention), 0, 60, 3650 * DAY, "how long messages wait in a mailbox"},
    {"skew", T_DUR, OFF(skew), 0, 1, 3600, "accepted clock skew of request timestamps"},
    {"max_body", T_SIZE, OFF(max_body), 0, 4 * KIB, 1 * GIB, "largest request body"},
    {"max_envelope", T_SIZE, OFF(max_envelope), 0, 1 * KIB, 64 * MIB, "largest envelope (decoded)"},
    {"max_envelopes", T_U32, OFF(max_envelopes), 0, 1, 4096, "envelopes per send"},
    {"max_prekey_batch", T_U32, OFF(max_prekey_batch), 0, 1, 10000, "one-time prekeys per upload"},
    {"max_prekeys", T_U32, OFF(max_prekeys), 0, 1, 100000, "one-time prekeys held per device"},
    {"prekey_low", T_U32, OFF(prekey_low), 0, 0, 100000, "supply below this is reported low"},
    {"mailbox_max", T_U32, OFF(mailbox_max), 0, 1, 100000000, "messages per device mailbox"},
    {"mailbox_max_bytes", T_SIZE, OFF(mailbox_max_bytes), 0, 1 * MIB, 1024 * GIB, "bytes per device mailbox"},
    {"fetch_max", T_U32, OFF(fetch_max), 0, 1, 10000, "items per mailbox fetch"},
    {"fetch_max_bytes", T_SIZE, OFF(fetch_max_bytes), 0, 64 * KIB, 1 * GIB, "bytes per mailbox fetch"},
    {"claim_burst", T_U32, OFF(claim_burst), 0, 1, 1000000, "claims per (requester, target device) at once"},
    {"claim_interval", T_DUR, OFF(claim_interval), 0, 0, 30 * DAY, "then one claim per this long"},
    {"long_poll_max", T_DUR, OFF(long_poll_max), 0, 0, 3600, "longest mailbox wait"},
    {"link_ttl", T_DUR, OFF(link_ttl), 0, 10, DAY, "how long a device link waits for approval"},
    {"link_max", T_U32, OFF(link_max), 0, 1, 10000000, "device links pending at once"},
    {"readers", T_U32, OFF(readers), 0, 1, 256, "reader connections to the database"},
    {"max_batch", T_U32, OFF(max_batch), 0, 1, 100000, "writes per group commit"},
    {"connection_limit", T_U32, OFF(connection_limit), 0, 4, 100000, "open connections"},
    {"idle_timeout", T_DUR, OFF(idle_timeout), 0, 1, 86400, "idle connections are closed after"},
    {"drain_timeout", T_DUR, OFF(drain_timeout), 0, 0, 3600, "SIGTERM waits this long for requests"},
    {"sweep_interval", T_DUR, OFF(sweep_interval), 0, 1, 86400, "time between retention sweeps"},
    {"log", T_LOG, OFF(log_requests), 0, 0, 0, "requests (a line per request) or errors"},
    {"ready_file", T_STR, OFF(ready_file), CFG_PATH_MAX, 0, 0, "write the bound port here once serving"},
    {"test_clock", T_STR, OFF(test_clock), CFG_PATH_MAX, 0, 0, NULL /* test only: hidden */},
};
#define NKEYS (sizeof keys / sizeof keys[0])

const char config_usage[] =
    "Usage: rbxd [--config FILE] [--listen HOST:PORT] [--db sqlite:PATH|postgresql://...]\n"
    "            [--tls-cert FILE --tls-key FILE] [--KEY VALUE ...]\n"
    "       rbxd --print-config [options]   print the settings and exit\n"
    "       rbxd --migrate --db postgresql://...   install the PostgreSQL schema and exit\n"
    "       rbxd --print-migration   print the PostgreSQL migration (SQL) and exit\n"
    "The ratchetbox prekey directory and mailbox server (spec/SERVER.md).\n"
    "Sizes take K, M or G; durations s, m, h or d. A database password belongs in the\n"
    "configuration file (mode 0600) or ~/.pgpass, never on the command line.\n";

void config_defaults(rbxd_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8750");
    snprintf(c->db, sizeof c->db, "sqlite:rbxd.sqlite");
    c->enroll = ENROLL_OPEN | ENROLL_LINKED;
    c->retention = 30 * DAY;
    c->skew = 300;
    c->max_body = 16 * MIB;
    /* The product's 1 MiB review diffs: RBX_MAX_WIRE (1 MiB + 512) plus the
     * PreKeyMessage's 92, with room. */
    c->max_envelope = 1 * MIB + 4 * KIB;
    c->max_envelopes = 128;
    c->max_prekey_batch = 200;
    c->max_prekeys = 1000;
    c->prekey_low = 10;
    c->mailbox_max = 10000;
    c->mailbox_max_bytes = 256 * MIB;
    c->fetch_max = 1000;
    c->fetch_max_bytes = 8 * MIB;
    c->claim_burst = 6;
    c->claim_interval = 600;
    c->long_poll_max = 30;
    c->link_ttl = 600;
    c->link_max = 10000;
    c->readers = 4;
    c->max_batch = 256;
    c->connection_limit = 1024;
    c->idle_timeout = 120;
    c->drain_timeout = 30;
    c->sweep_interval = 60;
    c->log_requests = 1;
}

static int parse_u64(const char *v, int type, uint64_t *out)
{
    if (!isdigit((unsigned char)v[0])) return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0) return -1;
    uint64_t mul = 1;
    if (type == T_SIZE) {
        if (*end == 'K') mul = KIB, end++;
        else if (*end == 'M') mul = MIB, end++;
        else if (*end == 'G') mul = GIB, end++;
    } else if (type == T_DUR) {
        if (*end == 's') end++;
        else if (*end == 'm') mul = 60, end++;
        else if (*end == 'h') mul = 3600, end++;
        else if (*end == 'd') mul = DAY, end++;
    }
    if (*end != '\0') return -1;
    if (n > UINT64_MAX / mul) return -1;
    *out = n * mul;
    return 0;
}

int config_set(rbxd_config *c, const char *key, const char *value, char *err, size_t errcap)
{
    const key_def *k = NULL;
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, key) == 0) k = &keys[i];
    if (k == NULL) {
        snprintf(err, errcap, "unknown setting '%s'", key);
        return -1;
    }
    char *base = (char *)c;
    switch (k->type) {
    case T_STR:
        if (strlen(value) >= k->cap) {
            snprintf(err, errcap, "%s: too long", key);
            return -1;
        }
        memcpy(base + k->off, value, strlen(value) + 1);
        return 0;
    case T_U32:
    case T_SIZE:
    case T_DUR: {
        uint64_t v;
        if (parse_u64(value, k->type, &v) != 0 || v < k->min || v > k->max) {
            snprintf(err, errcap, "%s: '%s' is not a %s from %llu to %llu", key, value,
                     k->type == T_DUR ? "duration in seconds" : k->type == T_SIZE ? "size in bytes" : "number",
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return -1;
        }
        *(uint64_t *)(void *)(base + k->off) = v;
        return 0;
    }
    case T_ENROLL: {
        unsigned bits = 0;
        const char *p = value;
        while (*p) {
            size_t n = strcspn(p, ",");
            while (n > 0 && p[0] == ' ') p++, n--;
            if (n == 4 && strncmp(p, "open", 4) == 0) bits |= ENROLL_OPEN;
            else if (n == 6 && strncmp(p, "linked", 6) == 0) bits |= ENROLL_LINKED;
            else if (n == 3 && strncmp(p, "org", 3) == 0) bits |= ENROLL_ORG;
            else {
                snprintf(err, errcap, "enroll: '%s' is not a list of open, linked, org", value);
                return -1;
            }
            p += n;
            if (*p == ',') p++;
        }
        if (bits == 0) {
            snprintf(err, errcap, "enroll: name at least one of open, linked, org");
            return -1;
        }
        c->enroll = bits;
        return 0;
    }
    case T_KEY: {
        size_t n = 0;
        if (strlen(value) != 44 ||
            sodium_base642bin(c->org_root, sizeof c->org_root, value, 44, NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            n != 32) {
            snprintf(err, errcap, "org_root: not a public key (44 characters of base64)");
            return -1;
        }
        c->has_org = 1;
        return 0;
    }
    case T_LOG:
        if (strcmp(value, "requests") == 0) c->log_requests = 1;
        else if (strcmp(value, "errors") == 0) c->log_requests = 0;
        else {
            snprintf(err, errcap, "log: 'requests' or 'errors'");
            return -1;
        }
        return 0;
    default:
        return -1;
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int config_load(rbxd_config *c, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    unsigned lineno = 0;
    int ret = 0;
    while (ret == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errcap, "%s:%u: line too long", path, lineno);
            ret = -1;
            break;
        }
        char *s = trim(line);
        if (*s == '#' || *s == '\0') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errcap, "%s:%u: expected key = value", path, lineno);
            ret = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1), sub[256];
        if (config_set(c, k, v, sub, sizeof sub) != 0) {
            snprintf(err, errcap, "%s:%u: %s", path, lineno, sub);
            ret = -1;
        }
    }
    sodium_memzero(line, sizeof line); /* it may have held a database password */
    fclose(f);
    return ret;
}

/* A connection URL with a password in it (user:password@ or password=). */
static int url_has_password(const char *v)
{
    const char *p = strstr(v, "://");
    if (p != NULL) {
        p += 3;
        size_t auth = strcspn(p, "/?");
        const char *at = memchr(p, '@', auth);
        if (at != NULL && memchr(p, ':', (size_t)(at - p)) != NULL) return 1;
    }
    return strstr(v, "password=") != NULL;
}

int config_args(rbxd_config *c, int argc, char **argv, char *err, size_t errcap, int *action)
{
    *action = 0;
    /* --config first, so that the command line wins over the file. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errcap, "--config needs a file");
                return -1;
            }
            if (config_load(c, argv[i + 1], err, errcap) != 0) return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = 1;
            return 0;
        }
        if (strcmp(a, "--print-config") == 0 || strcmp(a, "--migrate") == 0 ||
            strcmp(a, "--print-migration") == 0 || strcmp(a, "--version") == 0)
            continue; /* main's */
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(err, errcap, "unexpected argument '%s'", a);
            return -1;
        }
        char key[64];
        const char *val;
        const char *eq = strchr(a, '=');
        size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (kl >= sizeof key) {
            snprintf(err, errcap, "unknown option '%s'", a);
            return -1;
        }
        memcpy(key, a + 2, kl);
        key[kl] = '\0';
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        if (eq) val = eq + 1;
        else {
            if (i + 1 >= argc) {
                snprintf(err, errcap, "--%s needs a value", a + 2);
                return -1;
            }
            val = argv[++i];
        }
        if (strcmp(key, "db") == 0 && url_has_password(val)) {
            snprintf(err, errcap, "--db: a password on the command line is visible to every "
                                  "user (ps); put db in the configuration file or use ~/.pgpass");
            return -1;
        }
        if (config_set(c, key, val, err, errcap) != 0) return -1;
    }
    return 0;
}

int config_check(const rbxd_config *c, char *err, size_t errcap)
{
    if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0')) {
        snprintf(err, errcap, "tls_cert and tls_key go together");
        return -1;
    }
    if ((c->enroll & ENROLL_ORG) && !c->has_org) {
        snprintf(err, errcap, "enroll = org needs org_root");
        return -1;
    }
    if (c->max_envelope > c->max_body) {
        snprintf(err, errcap, "max_envelope is larger than max_body");
        return -1;
    }
    return 0;
}

void config_print(const rbxd_config *c)
{
    const char *base = (const char *)c;
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        if (k->help == NULL) continue;
        switch (k->type) {
        case T_STR:
            if (k->off == OFF(db) && url_has_password(c->db)) printf("%s = (hidden: has a password)\n", k->name);
            else printf("%s = %s\n", k->name, base + k->off);
            break;
        case T_U32:
        case T_DUR:
        case T_SIZE:
            printf("%s = %llu\n", k->name, (unsigned long long)*(const uint64_t *)(const void *)(base + k->off));
            break;
        case T_ENROLL:
            printf("enroll = %s%s%s%s%s\n", (c->enroll & ENROLL_OPEN) ? "open" : "",
                   (c->enroll & ENROLL_OPEN) && (c->enroll & ~ENROLL_OPEN) ? "," : "",
                   (c->enroll & ENROLL_LINKED) ? "linked" : "",
                   (c->enroll & ENROLL_LINKED) && (c->enroll & ENROLL_ORG) ? "," : "",
                   (c->enroll & ENROLL_ORG) ? "org" : "");
            break;
        case T_KEY:
            if (c->has_org) {
                char b64[45];
                sodium_bin2base64(b64, sizeof b64, c->org_root, 32, sodium_base64_VARIANT_ORIGINAL);
                printf("org_root = %s\n", b64);
            } else
                printf("# org_root = (none)\n");
            break;
        case T_LOG:
            printf("log = %s\n", c->log_requests ? "requests" : "errors");
            break;
        default:
            break;
        }
    }
}
