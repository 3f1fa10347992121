/* SPDX-License-Identifier: MIT
 * Checks for the fault sweeps (tests/cli/test_faults.sh, test_diskfull.sh):
 *
 *   faultcheck reuse FILE      FILE holds every transport line any rbx send
 *                              or rbx outbox printed in a run. Exit 1 if two
 *                              different lines name one message key: the same
 *                              sender identity, ratchet key and counter (a key
 *                              used twice); else print "N lines, M keys".
 *   faultcheck integrity DB    PRAGMA integrity_check of a database: exit 1
 *                              unless SQLite answers "ok".
 *   faultcheck onetime FILE    FILE holds bundle lines (base64): exit 1 if two
 *                              of them offer the same one-time prekey.
 *
 * The wire is read here, not with the parser under test: a Message's ratchet
 * key is field 2 and its counter field 3; a PreKeyMessage carries its Message
 * in field 8 (PROTOCOL.md 9.2, 9.3). Headers must be clear (the sweeps do not
 * use header encryption). */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratchetbox.h"

#define LINE_CAP (4U * 1024U * 1024U)
#define TRANSPORT_HEADER (1U + RBX_PUBLICKEYBYTES)

static int varint(uint64_t *v, const uint8_t *p, size_t len, size_t *pos)
{
    *v = 0;
    for (unsigned i = 0; i < 10 && *pos < len; i++) {
        uint8_t b = p[(*pos)++];
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

/* Field `field` of a protobuf message: 1 found, 0 absent, -1 malformed. */
static int field(uint64_t *v, const uint8_t **data, size_t *dlen, const uint8_t *p, size_t len,
                 uint64_t want)
{
    size_t pos = 0;
    while (pos < len) {
        uint64_t key, val;
        if (varint(&key, p, len, &pos) != 0 || varint(&val, p, len, &pos) != 0) return -1;
        if ((key & 7) == 0) {
            if (key >> 3 == want) {
                *v = val;
                return 1;
            }
        } else if ((key & 7) == 2) {
            if (val > len - pos) return -1;
            if (key >> 3 == want) {
                *data = p + pos;
                *dlen = (size_t)val;
                return 1;
            }
            pos += (size_t)val;
        } else {
            return -1;
        }
    }
    return 0;
}

/* The key of one transport line: sender || ratchet key || be32(counter). */
static int key_of(uint8_t out[68], const uint8_t *t, size_t len)
{
    if (len <= TRANSPORT_HEADER || t[0] != 0x01) return -1;
    const uint8_t *w = t + TRANSPORT_HEADER, *m = w, *k;
    size_t wl = len - TRANSPORT_HEADER, ml = wl, kl;
    uint64_t v;
    int kind = rbx_message_prekey_info(NULL, w, wl);
    if (kind < 0) return -1;
    if (kind == 1 && field(&v, &m, &ml, w, wl, 8) != 1) return -1;
    if (field(&v, &k, &kl, m, ml, 2) != 1 || kl != 32) return -1;
    memcpy(out, t + 1, 32);
    memcpy(out + 32, k, 32);
    if (field(&v, &k, &kl, m, ml, 3) != 1 || v > UINT32_MAX) return -1;
    out[64] = (uint8_t)(v >> 24), out[65] = (uint8_t)(v >> 16), out[66] = (uint8_t)(v >> 8),
    out[67] = (uint8_t)v;
    return 0;
}

typedef struct seen {
    uint8_t key[68];
    uint8_t digest[32];
    size_t line;
} seen;

static int cmp_seen(const void *a, const void *b)
{
    return memcmp(((const seen *)a)->key, ((const seen *)b)->key, 68);
}

static int decode_line(uint8_t *out, size_t cap, size_t *outlen, char *line)
{
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    while (n > 0 && line[n - 1] == ' ') line[--n] = '\0';
    const char *b64 = line;
    /* rbx send --json: {"to":...,"line":"..."} */
    char *j = strstr(line, "\"line\":\"");
    if (j != NULL) {
        b64 = j + 8;
        char *end = strchr(b64, '"');
        if (end != NULL) *end = '\0';
    }
    if (*b64 == '\0') return 1;
    return sodium_base642bin(out, cap, b64, strlen(b64), NULL, outlen, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0 ? 0 : -1;
}

static int reuse(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 2;
    }
    char *line = malloc(LINE_CAP);
    uint8_t *bin = malloc(LINE_CAP);
    seen *s = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    if (line == NULL || bin == NULL) return 2;
    while (fgets(line, LINE_CAP, f) != NULL) {
        size_t len;
        lineno++;
        int rc = decode_line(bin, LINE_CAP, &len, line);
        if (rc == 1) continue;
        if (n == cap && (s = realloc(s, (cap = cap ? 2 * cap : 64) * sizeof *s)) == NULL) return 2;
        if (rc != 0 || key_of(s[n].key, bin, len) != 0) {
            fprintf(stderr, "faultcheck: %s line %zu: not a transport line with a clear header\n",
                    path, lineno);
            return 1;
        }
        crypto_generichash(s[n].digest, 32, bin, len, NULL, 0);
        s[n].line = lineno;
        n++;
    }
    fclose(f);
    qsort(s, n, sizeof *s, cmp_seen);
    size_t keys = n > 0;
    for (size_t i = 1; i < n; i++) {
        if (memcmp(s[i].key, s[i - 1].key, 68) != 0) {
            keys++;
            continue;
        }
        if (memcmp(s[i].digest, s[i - 1].digest, 32) != 0) {
            fprintf(stderr, "faultcheck: lines %zu and %zu of %s are different ciphertexts under "
                            "one message key (key reused)\n", s[i - 1].line, s[i].line, path);
            return 1;
        }
    }
    printf("%zu lines, %zu keys\n", n, keys);
    free(s);
    free(line);
    free(bin);
    return 0;
}

static int integrity(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "faultcheck: %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    int ok = sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    if (!ok) fprintf(stderr, "faultcheck: %s: integrity_check: %s\n", path,
                     sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok ? 0 : 1;
}

static int onetime(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 2;
    }
    static char line[8192];
    static uint8_t bin[8192];
    uint32_t ids[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len;
        rbx_bundle b;
        int rc = decode_line(bin, sizeof bin, &len, line);
        if (rc == 1) continue;
        if (rc != 0 || rbx_bundle_parse(&b, bin, len) != 0) {
            fprintf(stderr, "faultcheck: %s: not a bundle line\n", path);
            return 1;
        }
        if (b.onetime_prekey_id == RBX_NO_PREKEY) continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] == b.onetime_prekey_id) {
                fprintf(stderr, "faultcheck: one-time prekey %u offered in two bundles\n", ids[i]);
                return 1;
            }
        if (n < sizeof ids / sizeof ids[0]) ids[n++] = b.onetime_prekey_id;
    }
    fclose(f);
    printf("%zu one-time prekeys, all different\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (rbx_init() != 0) return 2;
    if (argc == 3 && strcmp(argv[1], "reuse") == 0) return reuse(argv[2]);
    if (argc == 3 && strcmp(argv[1], "integrity") == 0) return integrity(argv[2]);
    if (argc == 3 && strcmp(argv[1], "onetime") == 0) return onetime(argv[2]);
    fprintf(stderr, "usage: faultcheck reuse FILE | integrity DB | onetime FILE\n");
    return 2;
}
