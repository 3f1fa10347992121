/* SPDX-License-Identifier: MIT
 * The thief of `make demo`: it holds a copy of one device's state directory
 * (state.db, its storage key state.db.key and the product's box key file),
 * taken at one instant, and everything the relay stored. It decides which
 * messages it can read by real decryption, as tests/test_security.c does
 * (SECURITY.md section 4):
 *  - ratchetbox: the stolen session, loaded with the store's internal hook,
 *    tries every message the peer sent, in send order, with the library's
 *    own decrypt on one evolving copy (a failure changes nothing); a second
 *    copy whose sending chain is turned into a receiving chain tries the
 *    device's own messages;
 *  - baseline: the stolen box secret key opens today's envelopes.
 *
 *   thief STOLEN_DIR KEYFILE RELAY_TSV BASELINE_TSV [CONTACT DEVICE]
 *
 * CONTACT DEVICE name the session to attack (a device of several users
 * holds one session per peer device); without them, the first one.
 * RELAY_TSV rows: seq, t_ms, sender fingerprint, type, bytes, transport line
 * (base64 of 0x01 || sender identity || wire). BASELINE_TSV rows: seq,
 * content, nonce. '#' lines are comments. Output, one row per relay row:
 * seq, in|out, ratchetbox read 0|1, baseline read 0|1, a preview of what the
 * thief read. Exit 0, or 66/65/74 when an input cannot be used. */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "ratchetbox.h"
#include "session.h"
#include "store.h"

#define TRANSPORT_VERSION 0x01U
#define TRANSPORT_HEADER (1U + RBX_PUBLICKEYBYTES)
#define KEYFILE_MAX 4096U
#define PREVIEW 36U
#define PATH_CAP 4096U

static void preview(char out[PREVIEW + 1], const uint8_t *pt, size_t len)
{
    size_t n = len < PREVIEW ? len : PREVIEW;
    for (size_t i = 0; i < n; i++) out[i] = (pt[i] >= 0x20 && pt[i] < 0x7f) ? (char)pt[i] : '.';
    out[n] = '\0';
}

/* Split a tab-separated line in place; returns the number of fields. */
static size_t split(char *line, char **f, size_t cap)
{
    size_t n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    while (n < cap) {
        f[n++] = line;
        char *tab = strchr(line, '\t');
        if (tab == NULL) break;
        *tab = '\0';
        line = tab + 1;
    }
    return n;
}

typedef struct envelope {
    long seq;
    char *content, *nonce;
} envelope;

static envelope *load_baseline(const char *path, size_t *count)
{
    FILE *f = fopen(path, "r");
    envelope *e = NULL;
    size_t n = 0, cap = 0, linecap = 0;
    char *line = NULL, *fld[3];
    *count = 0;
    if (f == NULL) return NULL;
    while (getline(&line, &linecap, f) > 0) {
        if (line[0] == '#' || split(line, fld, 3) != 3) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            envelope *ne = realloc(e, cap * sizeof *e);
            if (ne == NULL) break;
            e = ne;
        }
        e[n].seq = strtol(fld[0], NULL, 10);
        e[n].content = strdup(fld[1]);
        e[n].nonce = strdup(fld[2]);
        n++;
    }
    free(line);
    fclose(f);
    *count = n;
    return e;
}

static int baseline_read(char out[PREVIEW + 1], const envelope *e, size_t ne, long seq,
                         const uint8_t peer[RBX_PUBLICKEYBYTES], const uint8_t sk[RBX_SECRETKEYBYTES])
{
    for (size_t i = 0; i < ne; i++) {
        if (e[i].seq != seq || e[i].content == NULL || e[i].nonce == NULL) continue;
        size_t cap = strlen(e[i].content) + 1, ptlen;
        uint8_t *pt = malloc(cap);
        if (pt == NULL) return 0;
        int ok = rbx_baseline_open(pt, cap, &ptlen, e[i].content, strlen(e[i].content),
                                   e[i].nonce, strlen(e[i].nonce), peer, sk) == 0;
        if (ok) preview(out, pt, ptlen);
        sodium_memzero(pt, cap);
        free(pt);
        return ok;
    }
    return 0;
}

/* The contact whose session the device holds (the first, without a name). */
static int find_session(rbx_store *st, char name[RBX_NAME_MAX], uint32_t *device)
{
    if (name[0] != '\0') return 0;
    sqlite3_stmt *s = NULL;
    int rc = RBX_E_NOT_FOUND;
    if (sqlite3_prepare_v2(rbx__store_db(st),
                           "SELECT c.name, c.device FROM contacts c JOIN sessions s"
                           " ON s.contact = c.id ORDER BY c.id LIMIT 1",
                           -1, &s, NULL) != SQLITE_OK)
        return RBX_E_IO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(s, 0);
        if (n != NULL && strlen(n) < RBX_NAME_MAX) {
            memcpy(name, n, strlen(n) + 1);
            *device = (uint32_t)sqlite3_column_int64(s, 1);
            rc = 0;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

/* The device's own messages: its sending chain as a receiving chain (the
 * mirror trick of tests/test_security.c). 0 if it has no sending chain. */
static int mirror(rbx_session *s)
{
    if (!(s->st.flags & RBX_HAS_CKS)) return 0;
    memcpy(s->st.ckr, s->st.cks, 32);
    memcpy(s->st.dhr, s->st.dhs_pk, 32);
    memcpy(s->st.hkr, s->st.hks, 32);
    s->st.nr = s->st.ns;
    s->st.flags |= RBX_HAS_CKR | RBX_HAS_DHR | RBX_HAS_HKR;
    s->nskipped = 0;
    return 1;
}

/* Two evolving copies of the stolen session (its blob holds secrets). */
static int copy_twice(rbx_session **a, rbx_session **b, const rbx_session *s)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    int rc = rbx_session_serialize(NULL, 0, &len, s);
    if ((rc == 0 || rc == RBX_E_BUFFER) && (blob = malloc(len)) != NULL &&
        rbx_session_serialize(blob, len, &len, s) == 0 &&
        rbx_session_deserialize(a, blob, len) == 0 && rbx_session_deserialize(b, blob, len) == 0)
        rc = 0;
    else
        rc = RBX_E_NOMEM;
    if (blob != NULL) sodium_memzero(blob, len);
    free(blob);
    return rc;
}

/* One relay row: which side sent it, and whether the stolen state and the
 * stolen box key read it. */
static void attack_row(char **fld, const uint8_t own_pk[RBX_PUBLICKEYBYTES], rbx_session *in_copy,
                       rbx_session *out_copy, const envelope *env, size_t ne,
                       const uint8_t peer[RBX_PUBLICKEYBYTES],
                       const uint8_t box_sk[RBX_SECRETKEYBYTES])
{
    long seq = strtol(fld[0], NULL, 10);
    size_t b64len = strlen(fld[5]), tlen = 0;
    uint8_t *t = malloc(b64len + 1), *pt = malloc(b64len + 1);
    char rb_prev[PREVIEW + 1] = "", bl_prev[PREVIEW + 1] = "";
    int out = 0, rb = 0, bl;
    if (t != NULL && pt != NULL &&
        sodium_base642bin(t, b64len, fld[5], b64len, NULL, &tlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        tlen > TRANSPORT_HEADER && t[0] == TRANSPORT_VERSION) {
        size_t ptlen = 0;
        out = memcmp(t + 1, own_pk, RBX_PUBLICKEYBYTES) == 0;
        rbx_session *s = out ? out_copy : in_copy;
        if (s != NULL && rbx_session_decrypt(s, pt, b64len + 1, &ptlen, t + TRANSPORT_HEADER,
                                             tlen - TRANSPORT_HEADER) == 0) {
            rb = 1;
            /* A message to a user carries a content header (PROTOCOL.md 21.2):
             * the preview shows its body. */
            rbx__content c;
            if (rbx__content_parse(&c, pt, ptlen) == 0 && c.body != NULL) preview(rb_prev, c.body, c.bodylen);
            else preview(rb_prev, pt, ptlen);
        }
    }
    bl = baseline_read(bl_prev, env, ne, seq, peer, box_sk);
    printf("%ld\t%s\t%d\t%d\t%s\n", seq, out ? "out" : "in", rb, bl, rb ? rb_prev : bl_prev);
    if (pt != NULL) sodium_memzero(pt, b64len + 1);
    sodium_memzero(rb_prev, sizeof rb_prev);
    sodium_memzero(bl_prev, sizeof bl_prev);
    free(t);
    free(pt);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 7) {
        fputs("usage: thief STOLEN_DIR KEYFILE RELAY_TSV BASELINE_TSV [CONTACT DEVICE]\n", stderr);
        return 64;
    }
    if (rbx_init() != 0) return 74;
    char db[PATH_CAP], name[RBX_NAME_MAX] = "", keybuf[KEYFILE_MAX];
    uint8_t own_pk[RBX_PUBLICKEYBYTES], box_pk[RBX_PUBLICKEYBYTES], box_sk[RBX_SECRETKEYBYTES];
    uint32_t device = 0;
    if (argc == 7) {
        snprintf(name, sizeof name, "%s", argv[5]);
        device = (uint32_t)strtoul(argv[6], NULL, 10);
    }
    rbx_store *st = NULL;
    rbx_session *stolen = NULL, *in_copy = NULL, *out_copy = NULL;
    envelope *env = NULL;
    size_t ne = 0;
    FILE *rf = NULL;
    int ret = 66;
    sodium_memzero(box_sk, sizeof box_sk);
    snprintf(db, sizeof db, "%s/state.db", argv[1]);

    /* The store with the storage key that sits beside it (SECURITY.md 8). */
    int rc = rbx_store_open(&st, db, NULL);
    if (rc == 0) rc = rbx_store_identity(st, own_pk);
    if (rc == 0) rc = find_session(st, name, &device);
    if (rc == 0) rc = rbx__store_load_session(st, &stolen, name, device);
    rbx_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "thief: %s: %s\n", db, rbx_strerror(rc));
        goto out;
    }
    /* The product's box key file, copied with the directory. */
    FILE *kf = fopen(argv[2], "rb");
    if (kf) setvbuf(kf, NULL, _IONBF, 0); /* the key's bytes only in keybuf, which is wiped */
    size_t kl = kf ? fread(keybuf, 1, sizeof keybuf, kf) : 0;
    if (kf) fclose(kf);
    rc = rbx_keypair_from_json(box_pk, box_sk, keybuf, kl);
    sodium_memzero(keybuf, sizeof keybuf);
    if (rc != 0) {
        fprintf(stderr, "thief: %s: %s\n", argv[2], rbx_strerror(rc));
        goto out;
    }
    rbx_session_info info;
    rbx_session_get_info(&info, stolen);

    /* Two evolving copies: the peer's messages, and the device's own. */
    if (copy_twice(&in_copy, &out_copy, stolen) != 0) {
        fputs("thief: cannot copy the session\n", stderr);
        ret = 74;
        goto out;
    }
    if (!mirror(out_copy)) {
        rbx_session_free(out_copy);
        out_copy = NULL;
    }

    env = load_baseline(argv[4], &ne);
    rf = fopen(argv[3], "r");
    if (rf == NULL) {
        fprintf(stderr, "thief: %s: cannot open\n", argv[3]);
        goto out;
    }
    char *line = NULL, *fld[6];
    size_t linecap = 0;
    while (getline(&line, &linecap, rf) > 0) {
        if (line[0] == '#' || split(line, fld, 6) != 6) continue;
        attack_row(fld, own_pk, in_copy, out_copy, env, ne, info.peer_identity, box_sk);
    }
    free(line);
    ret = fflush(stdout) == 0 ? 0 : 74;
out:
    if (rf != NULL) fclose(rf);
    for (size_t i = 0; i < ne; i++) {
        free(env[i].content);
        free(env[i].nonce);
    }
    free(env);
    sodium_memzero(box_sk, sizeof box_sk);
    rbx_session_free(stolen);
    rbx_session_free(in_copy);
    rbx_session_free(out_copy);
    return ret;
}
