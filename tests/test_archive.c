/* SPDX-License-Identifier: MIT
 * The history archive (PROTOCOL.md section 17) through the public API:
 *  - archive off keeps nothing; on, both directions of a conversation between
 *    two stores come back in order with their exact plaintexts, the same
 *    session id (the ratchet base key) on both sides and seq 1, 2, 3...;
 *  - a message that arrives under a session a new handshake replaced (grace
 *    window) is archived under that old session's id;
 *  - the associated data binds session, sequence and epoch: an entry moved
 *    to another one, or edited, is reported as RBX_E_CORRUPT;
 *  - reencrypt: new epochs, every entry readable, and the old epoch keys
 *    (raw, and sealed as they were stored) are in no file of the store;
 *  - split then shred under an injected clock: nothing is shredded before the
 *    retention date, after it the old epoch's entries are unavailable, and an
 *    attacker holding every key left on the machine opens none of them;
 *  - import of the product's rows: good, plaintext and malformed rows with
 *    their per-row codes, a second import adds nothing, the old box key is in
 *    no file and history stays once it is gone;
 *  - SIGKILL at seeded random points during each rotation mode: afterwards
 *    the old or the new state is fully in effect, never a mix, nothing lost.
 *    RBX_ARCHIVE_KILLS (default 50 per mode) and RBX_ARCHIVE_SEED set the run.
 * Children never call Check: they report through their exit code. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "store.h"
#include "storeutil.h"
#include "testutil.h"

#define T0 1800000000LL /* the injected clock's start, Unix seconds */
#define T0_CLOCK T0
#define RETENTION 1000U /* policy archive_retention in these tests, seconds */

/* ------------------------------------------------------------ scratch directory */

/* storeutil's directory per test, and each test starts at T0 with the
 * system RNG (an earlier suite in the same process may have seeded it). */
static void archive_setup(void)
{
    dir_setup();
    g_now = T0_CLOCK;
    tu_rng_system();
}

static const char *const SIDE_FILES[] = { "", "-wal", "-shm", ".key", ".gen" };

/* Does any file of the store at db (database, -wal, -shm, .key, .gen) hold
 * these bytes? */
static int store_files_hold(const char *db, const uint8_t *needle, size_t n)
{
    char p[1024];
    int found = 0;
    for (size_t i = 0; i < sizeof SIDE_FILES / sizeof SIDE_FILES[0] && !found; i++) {
        size_t len;
        snprintf(p, sizeof p, "%s%s", db, SIDE_FILES[i]);
        uint8_t *b = slurp(p, &len);
        for (size_t j = 0; b != NULL && j + n <= len && !found; j++)
            found = memcmp(b + j, needle, n) == 0;
        free(b);
    }
    return found;
}

/* Copy a store's files (those that exist) from one path to another. */
static void copy_store(const char *from, const char *to)
{
    char a[1024], b[1024];
    for (size_t i = 0; i < sizeof SIDE_FILES / sizeof SIDE_FILES[0]; i++) {
        size_t len;
        snprintf(a, sizeof a, "%s%s", from, SIDE_FILES[i]);
        snprintf(b, sizeof b, "%s%s", to, SIDE_FILES[i]);
        uint8_t *buf = slurp(a, &len);
        (void)unlink(b);
        if (buf != NULL) spit(b, buf, len);
        free(buf);
    }
}

/* ------------------------------------------------------------ stores */


static void set_archive(rbx_store *st, const char *on, unsigned retention)
{
    rbx_policy p;
    char r[32];
    snprintf(r, sizeof r, "%us", retention);
    ck_assert_int_eq(rbx_store_policy(st, &p), 0);
    ck_assert_int_eq(rbx_policy_set(&p, "archive", on), 0);
    ck_assert_int_eq(rbx_policy_set(&p, "archive_retention", r), 0);
    ck_assert_int_eq(rbx_store_set_policy(st, &p), 0);
}

/* Device 1 of a contact (storeutil's introduce and tx). */
static void introduce1(peer *a, const char *name, peer *b)
{
    introduce(a, name, 1, b);
}

static void tx1(msg *m, peer *from, const char *to, const char *text)
{
    tx(m, from, to, 1, text);
}

static void rx_ok(peer *p, const char *name, const msg *m, const char *want, int redelivered)
{
    uint8_t pt[WIRECAP];
    size_t ptlen;
    rbx_received info;
    int rc = rbx_store_decrypt(p->st, pt, sizeof pt, &ptlen, &info, name, 1, m->wire, m->len);
    ck_assert_msg(rc == 0, "decrypt: %s", rbx_strerror(rc));
    ck_assert_uint_eq(ptlen, strlen(want));
    ck_assert_mem_eq(pt, want, ptlen);
    ck_assert_int_eq(info.redelivered, redelivered);
}

/* ------------------------------------------------------------ SQL views */

/* The sealed key of an epoch exactly as stored; *len 0 when it is NULL. */
static uint8_t *sealed_epoch_key(rbx_store *st, int64_t epoch, size_t *len)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st),
                                        "SELECT key FROM archive_epochs WHERE epoch = ?1", -1, &s,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, epoch);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    *len = (size_t)sqlite3_column_bytes(s, 0);
    uint8_t *b = malloc(*len + 1);
    ck_assert_ptr_nonnull(b);
    if (*len) memcpy(b, sqlite3_column_blob(s, 0), *len);
    sqlite3_finalize(s);
    return b;
}

static int audit_has(rbx_store *st, const char *event, const char *detail_part);

/* ------------------------------------------------------------ history */

typedef struct hent {
    uint64_t id, seq, epoch;
    int64_t created;
    int direction, available;
    char peer[RBX_NAME_MAX];
    uint8_t session[32];
    char *text; /* NUL-terminated copy; NULL if unavailable */
    size_t textlen;
} hent;

typedef struct hist {
    hent e[1024];
    size_t n;
} hist;

static int collect(const rbx_history_entry *e, void *ctx)
{
    hist *h = ctx;
    if (h->n == sizeof h->e / sizeof h->e[0]) return 99;
    hent *x = &h->e[h->n++];
    memset(x, 0, sizeof *x);
    x->id = e->id;
    x->seq = e->seq;
    x->epoch = e->epoch;
    x->created = e->created;
    x->direction = e->direction;
    x->available = e->available;
    memcpy(x->session, e->session, 32);
    snprintf(x->peer, sizeof x->peer, "%s", e->peer);
    if (e->available) {
        x->text = malloc(e->ptlen + 1);
        if (x->text == NULL) return 98;
        memcpy(x->text, e->pt, e->ptlen);
        x->text[e->ptlen] = '\0';
        x->textlen = e->ptlen;
    } else if (e->pt != NULL || e->ptlen != 0) {
        return 97;
    }
    return 0;
}

static void hist_free(hist *h)
{
    for (size_t i = 0; i < h->n; i++) free(h->e[i].text);
    h->n = 0;
}

static int history(rbx_store *st, const char *who, hist *h)
{
    hist_free(h);
    return rbx_store_history(st, who, collect, h);
}

static void assert_entry(const hent *e, const char *text, int direction, uint64_t seq,
                         uint64_t epoch)
{
    ck_assert_msg(e->available == 1, "entry %llu unavailable", (unsigned long long)e->id);
    ck_assert_str_eq(e->text, text);
    ck_assert_int_eq(e->direction, direction);
    ck_assert_uint_eq(e->seq, seq);
    ck_assert_uint_eq(e->epoch, epoch);
}

/* ------------------------------------------------------------ 1. off and on */

START_TEST(archive_off_keeps_nothing)
{
    peer a, b;
    msg m;
    hist h = { .n = 0 };
    peer_new(&a, "alice.db");
    peer_new(&b, "bob.db");
    introduce1(&a, "bob", &b);
    tx1(&m, &a, "bob", "not kept");
    rx_ok(&b, "alice", &m, "not kept", 0);
    tx1(&m, &b, "alice", "nor this");
    rx_ok(&a, "bob", &m, "nor this", 0);
    ck_assert_int_eq(q_int(a.st, "SELECT count(*) FROM archive"), 0);
    ck_assert_int_eq(q_int(b.st, "SELECT count(*) FROM archive"), 0);
    ck_assert_int_eq(q_int(a.st, "SELECT count(*) FROM archive_epochs"), 0);
    ck_assert_int_eq(history(a.st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 0);
    rbx_store_close(a.st);
    rbx_store_close(b.st);
}
END_TEST

START_TEST(archive_both_directions)
{
    peer a, b;
    msg m1, m2, m3, m4;
    hist h = { .n = 0 };
    rbx_session *sa;
    peer_new(&a, "alice.db");
    peer_new(&b, "bob.db");
    set_archive(a.st, "on", RETENTION);
    set_archive(b.st, "on", RETENTION);
    introduce1(&a, "bob", &b);
    tx1(&m1, &a, "bob", "hello bob");           /* the handshake message */
    rx_ok(&b, "alice", &m1, "hello bob", 0);
    rx_ok(&b, "alice", &m1, "hello bob", 1);      /* redelivery: not archived again */
    /* A batch of two in one transaction. */
    {
        uint8_t out[2 * WIRECAP];
        size_t offs[2], lens[2];
        uint64_t ids[2];
        const uint8_t *pts[2] = { (const uint8_t *)"second", (const uint8_t *)"third!" };
        const size_t ptl[2] = { 6, 6 };
        ck_assert_int_eq(rbx_store_encrypt_batch(a.st, out, sizeof out, offs, lens, ids, "bob", 1,
                                                 pts, ptl, 2, NULL),
                         0);
        memcpy(m2.wire, out + offs[0], lens[0]);
        m2.len = lens[0];
        memcpy(m3.wire, out + offs[1], lens[1]);
        m3.len = lens[1];
    }
    rx_ok(&b, "alice", &m3, "third!", 0);         /* out of order */
    rx_ok(&b, "alice", &m2, "second", 0);
    g_now = T0 + 5;
    tx1(&m4, &b, "alice", "hi alice");
    rx_ok(&a, "bob", &m4, "hi alice", 0);
    g_now = T0;

    ck_assert_int_eq(history(a.st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 4);
    assert_entry(&h.e[0], "hello bob", 1, 1, 1);
    assert_entry(&h.e[1], "second", 1, 2, 1);
    assert_entry(&h.e[2], "third!", 1, 3, 1);
    assert_entry(&h.e[3], "hi alice", 0, 4, 1);
    for (size_t i = 0; i < 4; i++) ck_assert_str_eq(h.e[i].peer, "bob");
    ck_assert_int_eq(h.e[0].created, T0);
    ck_assert_int_eq(h.e[3].created, T0 + 5);
    /* The session id is the ratchet's base key, the same on both sides. */
    ck_assert_int_eq(rbx__store_load_session(a.st, &sa, "bob", 1), 0);
    for (size_t i = 0; i < 4; i++) ck_assert_mem_eq(h.e[i].session, sa->base_key, 32);
    uint8_t session[32];
    memcpy(session, sa->base_key, 32);
    rbx_session_free(sa);

    ck_assert_int_eq(history(b.st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 4);
    assert_entry(&h.e[0], "hello bob", 0, 1, 1);
    assert_entry(&h.e[1], "third!", 0, 2, 1);  /* Bob's order: as he received them */
    assert_entry(&h.e[2], "second", 0, 3, 1);
    assert_entry(&h.e[3], "hi alice", 1, 4, 1);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(h.e[i].peer, "alice");
        ck_assert_mem_eq(h.e[i].session, session, 32);
    }
    /* The peer filter. */
    ck_assert_int_eq(history(a.st, "bob", &h), 0);
    ck_assert_uint_eq(h.n, 4);
    ck_assert_int_eq(history(a.st, "carol", &h), 0);
    ck_assert_uint_eq(h.n, 0);
    ck_assert_int_eq(rbx_store_history(a.st, "", collect, &h), RBX_E_INVALID);
    ck_assert_int_eq(rbx_store_history(a.st, "bo\nb", collect, &h), RBX_E_INVALID);
    {
        char longname[RBX_NAME_MAX + 1];
        memset(longname, 'x', RBX_NAME_MAX);
        longname[RBX_NAME_MAX] = '\0';
        ck_assert_int_eq(rbx_store_history(a.st, longname, collect, &h), RBX_E_INVALID);
        longname[RBX_NAME_MAX - 1] = '\0'; /* 63 bytes: a valid name, no entries */
        ck_assert_int_eq(history(a.st, longname, &h), 0);
        ck_assert_uint_eq(h.n, 0);
    }
    ck_assert_int_eq(q_int(a.st, "SELECT count(*) FROM archive"), 4);
    ck_assert_int_eq(q_int(a.st, "SELECT count(*) FROM archive_epochs WHERE state = 0"), 1);
    /* Archive off again: nothing more is kept. */
    set_archive(a.st, "off", RETENTION);
    tx1(&m1, &a, "bob", "unkept");
    ck_assert_int_eq(q_int(a.st, "SELECT count(*) FROM archive"), 4);
    /* The plaintexts are nowhere in clear. */
    rbx_store_close(a.st);
    rbx_store_close(b.st);
    ck_assert(!store_files_hold(a.db, (const uint8_t *)"hello bob", 9));
    ck_assert(!store_files_hold(b.db, (const uint8_t *)"hi alice", 8));
    hist_free(&h);
}
END_TEST

static int stop_at_two(const rbx_history_entry *e, void *ctx)
{
    int *n = ctx;
    (void)e;
    return ++*n == 2 ? 42 : 0;
}

/* A message in flight when its session was replaced decrypts under the
 * retired session (grace window): it is archived under that session's id. */
START_TEST(archive_grace_session)
{
    peer a, b;
    msg m0, old1, fresh;
    hist h = { .n = 0 };
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    peer_new(&a, "alice.db");
    peer_new(&b, "bob.db");
    set_archive(b.st, "on", RETENTION);
    introduce1(&a, "bob", &b);
    tx1(&m0, &a, "bob", "first");
    rx_ok(&b, "alice", &m0, "first", 0);
    tx1(&m0, &b, "alice", "reply");          /* Alice's next messages are normal ones */
    ck_assert_int_eq(rbx_store_decrypt(a.st, (uint8_t[64]){ 0 }, 64, &blen, &(rbx_received){ 0 },
                                       "bob", 1, m0.wire, m0.len), 0);
    tx1(&old1, &a, "bob", "in flight");      /* delayed */
    /* Alice starts over: a new handshake replaces Bob's session. */
    ck_assert_int_eq(rbx_store_reset_session(a.st, "bob", 1), 0);
    ck_assert_int_eq(rbx_store_bundle(b.st, bundle, sizeof bundle, &blen, 10), 0);
    ck_assert_int_eq(rbx_store_add_contact(a.st, "bob", 1, bundle, blen), 0);
    tx1(&fresh, &a, "bob", "new session");
    rx_ok(&b, "alice", &fresh, "new session", 0);
    rx_ok(&b, "alice", &old1, "in flight", 0);  /* under the retired session */
    ck_assert_int_eq(history(b.st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 4);
    ck_assert_str_eq(h.e[0].text, "first");
    ck_assert_str_eq(h.e[1].text, "reply");
    ck_assert_str_eq(h.e[2].text, "new session");
    ck_assert_str_eq(h.e[3].text, "in flight");
    ck_assert_mem_eq(h.e[3].session, h.e[0].session, 32);
    ck_assert_mem_ne(h.e[2].session, h.e[0].session, 32);
    ck_assert_uint_eq(h.e[3].seq, 3);        /* first, reply, in flight */
    ck_assert_uint_eq(h.e[2].seq, 1);
    rbx_store_close(a.st);
    rbx_store_close(b.st);
    hist_free(&h);
}
END_TEST

/* ------------------------------------------------------------ 2. AD binding */

/* n entries "entry i" in fresh session ids s1 (even i) and s2 (odd i). */
static void add_entries(rbx_store *st, int from, int n, size_t pad)
{
    uint8_t s1[32], s2[32];
    char text[600];
    memset(s1, 0x11, 32);
    memset(s2, 0x22, 32);
    ck_assert_uint_lt(pad, 500);
    ck_assert_int_eq(rbx__st_begin(st), 0);
    for (int i = from; i < from + n; i++) {
        int len = snprintf(text, sizeof text, "entry %d ", i);
        memset(text + len, 'a' + i % 26, pad);
        ck_assert_int_eq(rbx__archive_add(st, i % 2 ? s2 : s1, i % 2 ? "bob" : "carol", i % 2,
                                          (const uint8_t *)text, (size_t)len + pad),
                         0);
    }
    ck_assert_int_eq(rbx__st_commit(st, 0), 0);
}

static void expect_text(char *out, size_t cap, int i, size_t pad)
{
    int len = snprintf(out, cap, "entry %d ", i);
    memset(out + len, 'a' + i % 26, pad);
    out[(size_t)len + pad] = '\0';
}

START_TEST(associated_data_binding)
{
    char db[600];
    hist h = { .n = 0 };
    rbx_archive_result res;
    path_of(db, "s.db");
    rbx_store *st = store_open(db, 1);
    set_archive(st, "on", RETENTION);
    add_entries(st, 0, 4, 0);            /* epoch 1: ids 1..4 */
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SPLIT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 2);
    add_entries(st, 4, 2, 0);            /* epoch 2: ids 5, 6 */
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 6);
    int stops = 0;
    ck_assert_int_eq(rbx_store_history(st, NULL, stop_at_two, &stops), 42);
    ck_assert_int_eq(stops, 2);
    ck_assert_str_eq(h.e[0].text, "entry 0 ");
    ck_assert_uint_eq(h.e[0].seq, 1);
    ck_assert_uint_eq(h.e[2].seq, 2);    /* entry 2: the second of session s1 */

    static const struct {
        const char *tamper, *undo;
    } cases[] = {
        /* another sequence of the same session */
        { "UPDATE archive SET seq = 7 WHERE id = 1", "UPDATE archive SET seq = 1 WHERE id = 1" },
        /* another epoch that has a key */
        { "UPDATE archive SET epoch = 2 WHERE id = 1", "UPDATE archive SET epoch = 1 WHERE id = 1" },
        /* another session */
        { "UPDATE archive SET session = zeroblob(32) WHERE id = 1",
          "UPDATE archive SET session = x'1111111111111111111111111111111111111111111111111111111111111111' WHERE id = 1" },
        /* the ciphertext of another entry (same epoch and session) */
        { "UPDATE archive SET ct = (SELECT ct FROM archive WHERE id = 3) WHERE id = 1", NULL },
        /* one byte of the ciphertext, always changed (0x00 unless it is 0x00 already) */
        { "UPDATE archive SET ct = CAST(substr(ct, 1, 30) || CASE WHEN substr(ct, 31, 1) = x'00'"
          " THEN x'01' ELSE x'00' END || substr(ct, 32) AS BLOB) WHERE id = 1", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *before;
        size_t blen;
        sqlite3_stmt *s;
        ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st), "SELECT ct FROM archive WHERE id = 1",
                                            -1, &s, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        blen = (size_t)sqlite3_column_bytes(s, 0);
        before = malloc(blen);
        memcpy(before, sqlite3_column_blob(s, 0), blen);
        sqlite3_finalize(s);
        q_exec(st, cases[i].tamper);
        ck_assert_msg(history(st, NULL, &h) == RBX_E_CORRUPT, "case %zu not detected", i);
        /* Rotation refuses too, and changes nothing. */
        int64_t epochs = q_int(st, "SELECT count(*) FROM archive_epochs");
        ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_REENCRYPT, &res), RBX_E_CORRUPT);
        ck_assert_uint_eq(res.rewrapped, 0);
        ck_assert_int_eq(q_int(st, "SELECT count(*) FROM archive_epochs"), epochs);
        if (cases[i].undo != NULL) {
            q_exec(st, cases[i].undo);
        } else {
            ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st),
                                                "UPDATE archive SET ct = ?1 WHERE id = 1", -1, &s,
                                                NULL), SQLITE_OK);
            sqlite3_bind_blob(s, 1, before, (int)blen, SQLITE_STATIC);
            ck_assert_int_eq(sqlite3_step(s), SQLITE_DONE);
            sqlite3_finalize(s);
        }
        free(before);
        ck_assert_int_eq(history(st, NULL, &h), 0);
        ck_assert_uint_eq(h.n, 6);
    }
    /* An entry pointing at an epoch that does not exist. */
    q_exec(st, "UPDATE archive SET epoch = 99 WHERE id = 6");
    ck_assert_int_eq(history(st, NULL, &h), RBX_E_CORRUPT);
    q_exec(st, "UPDATE archive SET epoch = 2 WHERE id = 6");
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_int_eq(rbx_store_rotate_archive(st, 3, &res), RBX_E_INVALID);
    ck_assert_int_eq(rbx_store_rotate_archive(st, -1, &res), RBX_E_INVALID);
    hist_free(&h);
    rbx_store_close(st);
}
END_TEST

/* ------------------------------------------------------------ 3. reencrypt */

START_TEST(reencrypt_erases_old_keys)
{
    char db[600], want[600];
    hist h = { .n = 0 };
    rbx_archive_result res;
    uint8_t k1[32], k2[32], k3[32], *sealed1, *sealed2;
    size_t sl1, sl2;
    path_of(db, "s.db");
    rbx_store *st = store_open(db, 1);
    set_archive(st, "on", RETENTION);
    add_entries(st, 0, 10, 100);
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SPLIT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 2);
    add_entries(st, 10, 10, 100);
    ck_assert_int_eq(rbx__archive_epoch_key(st, 1, k1), 0);
    ck_assert_int_eq(rbx__archive_epoch_key(st, 2, k2), 0);
    ck_assert_int_eq(rbx__archive_epoch_key(st, 3, k3), RBX_E_NOT_FOUND);
    sealed1 = sealed_epoch_key(st, 1, &sl1);
    sealed2 = sealed_epoch_key(st, 2, &sl2);
    ck_assert_uint_eq(sl1, RBX_ROW_OVERHEAD + 32);
    int64_t retain1 = q_int(st, "SELECT retain_until FROM archive_epochs WHERE epoch = 1");
    ck_assert_int_eq(retain1, T0 + RETENTION);
    /* Both keys are in the files before (sealed), and never in clear. */
    ck_assert_int_eq(rbx_store_erase_now(st), 0);
    ck_assert(store_files_hold(db, sealed1, sl1));
    ck_assert(!store_files_hold(db, k1, 32));

    g_now = T0 + 60;
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_REENCRYPT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 4);
    ck_assert_uint_eq(res.rewrapped, 20);
    ck_assert_uint_eq(res.epochs_erased, 2);
    ck_assert_uint_eq(res.entries_unrecoverable, 0);
    /* Epoch 1 (read-only) became 3 with the same retention date; 2 became 4. */
    ck_assert_int_eq(q_int(st, "SELECT count(*) FROM archive_epochs WHERE state = 2 AND key IS NULL"
                               " AND epoch IN (1, 2)"), 2);
    ck_assert_int_eq(q_int(st, "SELECT state FROM archive_epochs WHERE epoch = 3"), 1);
    ck_assert_int_eq(q_int(st, "SELECT retain_until FROM archive_epochs WHERE epoch = 3"), retain1);
    ck_assert_int_eq(q_int(st, "SELECT state FROM archive_epochs WHERE epoch = 4"), 0);
    ck_assert_int_eq(rbx__archive_epoch_key(st, 1, k3), RBX_E_NOT_FOUND);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 20);
    for (int i = 0; i < 20; i++) {
        expect_text(want, sizeof want, i, 100);
        assert_entry(&h.e[i], want, i % 2, (uint64_t)(i / 2 + 1), i < 10 ? 3 : 4);
    }
    /* The old keys, raw or sealed as stored, are in no file now. */
    ck_assert_msg(!store_files_hold(db, k1, 32), "epoch 1 key in a file");
    ck_assert_msg(!store_files_hold(db, k2, 32), "epoch 2 key in a file");
    ck_assert_msg(!store_files_hold(db, sealed1, sl1), "sealed epoch 1 key in a file");
    ck_assert_msg(!store_files_hold(db, sealed2, sl2), "sealed epoch 2 key in a file");
    ck_assert(audit_has(st, "archive rotated", "mode reencrypt: 2 epoch keys erased"));
    /* New entries go to the new active epoch, sequence continued. */
    add_entries(st, 20, 2, 0);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 22);
    assert_entry(&h.e[20], "entry 20 ", 0, 11, 4);
    /* And after reopening. */
    rbx_store_close(st);
    ck_assert(!store_files_hold(db, sealed1, sl1));
    st = store_open(db, 0);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 22);
    uint64_t cnt, bad;
    ck_assert_int_eq(rbx_store_audit_verify(st, &cnt, &bad), 0);
    rbx_store_close(st);
    free(sealed1);
    free(sealed2);
    hist_free(&h);
}
END_TEST

/* ------------------------------------------------------------ 4. split, shred */

typedef struct audit_find {
    const char *event, *part;
    int found;
} audit_find;

static int audit_cb(const rbx_audit_event *e, void *ctx)
{
    audit_find *f = ctx;
    if (strcmp(e->event, f->event) == 0 && strstr(e->detail, f->part) != NULL) f->found = 1;
    return 0;
}

static int audit_has(rbx_store *st, const char *event, const char *detail_part)
{
    audit_find f = { event, detail_part, 0 };
    ck_assert_int_eq(rbx_store_audit(st, audit_cb, &f), 0);
    return f.found;
}

/* Try key k on an entry's ciphertext with the AD of every epoch up to
 * maxepoch, and with no AD at all. */
static int opens_with(const uint8_t k[32], const uint8_t session[32], uint64_t seq,
                      uint64_t maxepoch, const uint8_t *ct, size_t ctlen)
{
    uint8_t ad[62], *pt = malloc(ctlen);
    int opened = 0;
    ck_assert_ptr_nonnull(pt);
    for (uint64_t ep = 0; ep <= maxepoch && !opened; ep++) {
        memcpy(ad, "rbx-archive-v1", 14);
        memcpy(ad + 14, session, 32);
        for (int i = 0; i < 8; i++) ad[46 + i] = (uint8_t)(seq >> (56 - 8 * i));
        for (int i = 0; i < 8; i++) ad[54 + i] = (uint8_t)(ep >> (56 - 8 * i));
        opened = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct + 24, ctlen - 24,
                                                            ad, sizeof ad, ct, k) == 0 ||
                 crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct + 24, ctlen - 24,
                                                            NULL, 0, ct, k) == 0;
    }
    free(pt);
    return opened;
}

START_TEST(split_then_shred)
{
    char db[600], want[600];
    hist h = { .n = 0 };
    rbx_archive_result res;
    uint8_t k1[32], k2[32], *sealed1;
    size_t sl1;
    g_now = T0;
    path_of(db, "s.db");
    rbx_store *st = store_open(db, 1);
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0);
    set_archive(st, "on", RETENTION);
    add_entries(st, 0, 6, 20);
    g_now = T0 + 10;
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SPLIT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 2);
    ck_assert_uint_eq(res.rewrapped, 0);
    ck_assert_uint_eq(res.epochs_erased, 0);
    ck_assert_int_eq(q_int(st, "SELECT state FROM archive_epochs WHERE epoch = 1"), 1);
    ck_assert_int_eq(q_int(st, "SELECT retain_until FROM archive_epochs WHERE epoch = 1"),
                     T0 + 10 + RETENTION);
    ck_assert_int_eq(q_int(st, "SELECT created FROM archive_epochs WHERE epoch = 2"), T0 + 10);
    ck_assert(audit_has(st, "archive rotated", "mode split: epoch 1 read-only until"));
    add_entries(st, 6, 4, 20);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 10);
    for (int i = 0; i < 10; i++) {
        expect_text(want, sizeof want, i, 20);
        assert_entry(&h.e[i], want, i % 2, (uint64_t)(i / 2 + 1), i < 6 ? 1 : 2);
    }
    ck_assert_int_eq(rbx__archive_epoch_key(st, 1, k1), 0);
    sealed1 = sealed_epoch_key(st, 1, &sl1);

    /* Before the retention date: nothing to shred. */
    g_now = T0 + 10 + RETENTION - 1;
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SHRED, &res), 0);
    ck_assert_uint_eq(res.epochs_erased, 0);
    ck_assert_uint_eq(res.entries_unrecoverable, 0);
    ck_assert_uint_eq(res.new_epoch, 2);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    for (size_t i = 0; i < h.n; i++) ck_assert_int_eq(h.e[i].available, 1);

    /* On it: epoch 1's key goes. */
    g_now = T0 + 10 + RETENTION;
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SHRED, &res), 0);
    ck_assert_uint_eq(res.epochs_erased, 1);
    ck_assert_uint_eq(res.entries_unrecoverable, 6);
    ck_assert_uint_eq(res.new_epoch, 2);
    ck_assert(audit_has(st, "archive shredded", "1 epoch keys erased (epochs 1..1), 6 entries unrecoverable"));
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(h.e[i].available, i >= 6);
        if (i >= 6) {
            expect_text(want, sizeof want, i, 20);
            ck_assert_str_eq(h.e[i].text, want);
        } else {
            ck_assert_ptr_null(h.e[i].text);
            ck_assert_uint_eq(h.e[i].epoch, 1);   /* metadata stays */
            ck_assert_uint_eq(h.e[i].seq, (uint64_t)(i / 2 + 1));
        }
    }
    ck_assert_int_eq(q_int(st, "SELECT count(*) FROM archive"), 10);
    /* A second shred has nothing left to do. */
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SHRED, &res), 0);
    ck_assert_uint_eq(res.epochs_erased, 0);

    /* The attacker holds every key left on the machine. */
    uint8_t keys[8][32], ipk[32];
    size_t nkeys = 0;
    memcpy(keys[nkeys++], rbx__store_key(st), 32);
    ck_assert_int_eq(rbx__archive_epoch_key(st, 2, k2), 0);
    memcpy(keys[nkeys++], k2, 32);
    ck_assert_int_eq(rbx__archive_epoch_key(st, 1, keys[nkeys]), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx__st_load_identity(st, ipk, keys[nkeys]), 0);
    nkeys++;
    memcpy(keys[nkeys++], k1, 32); /* the control: the erased key does open them */
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st),
                                        "SELECT session, seq, ct FROM archive WHERE epoch = 1", -1,
                                        &s, NULL), SQLITE_OK);
    size_t tried = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const uint8_t *sess = sqlite3_column_blob(s, 0), *ct = sqlite3_column_blob(s, 2);
        size_t ctlen = (size_t)sqlite3_column_bytes(s, 2);
        uint64_t seq = (uint64_t)sqlite3_column_int64(s, 1);
        for (size_t k = 0; k + 1 < nkeys; k++)
            ck_assert_msg(!opens_with(keys[k], sess, seq, 3, ct, ctlen), "key %zu opens it", k);
        ck_assert(opens_with(k1, sess, seq, 3, ct, ctlen));
        tried++;
    }
    sqlite3_finalize(s);
    ck_assert_uint_eq(tried, 6);
    /* And the erased key is in no file, raw or sealed. */
    ck_assert(!store_files_hold(db, k1, 32));
    ck_assert(!store_files_hold(db, sealed1, sl1));
    /* A reencrypt afterwards rewraps what is readable; shredded stays so. */
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_REENCRYPT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 3);
    ck_assert_uint_eq(res.rewrapped, 4);
    ck_assert_uint_eq(res.epochs_erased, 1);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(h.e[i].available, i >= 6);
        ck_assert_uint_eq(h.e[i].epoch, i >= 6 ? 3 : 1);
    }
    rbx_store_close(st);
    ck_assert(!store_files_hold(db, sealed1, sl1));
    /* Split with no active epoch yet makes one; shred of an empty archive. */
    char db2[600];
    path_of(db2, "t.db");
    st = store_open(db2, 1);
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SHRED, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 0);
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SPLIT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 1);
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_REENCRYPT, &res), 0);
    ck_assert_uint_eq(res.new_epoch, 2);
    ck_assert_uint_eq(res.epochs_erased, 1);
    rbx_store_close(st);
    sodium_memzero(keys, sizeof keys);
    free(sealed1);
    hist_free(&h);
}
END_TEST

/* ------------------------------------------------------------ 5. import */

typedef struct brow {
    char content[256];
    char nonce[RBX_NONCE_B64BYTES];
} brow;

static void baseline_session(uint8_t out[32], const uint8_t a[32], const uint8_t b[32],
                             const char *sid)
{
    uint8_t in[20 + 64 + 64];
    size_t n = 0;
    const uint8_t *lo = memcmp(a, b, 32) < 0 ? a : b, *hi = lo == a ? b : a;
    memcpy(in, "rbx-baseline-session", 20), n = 20;
    memcpy(in + n, lo, 32), n += 32;
    memcpy(in + n, hi, 32), n += 32;
    if (sid != NULL) memcpy(in + n, sid, strlen(sid)), n += strlen(sid);
    crypto_generichash(out, 32, in, n, NULL, 0);
}

START_TEST(import_baseline_rows)
{
    char db[600];
    hist h = { .n = 0 };
    uint8_t my_pk[32], my_sk[32], peer_pk[32], peer_sk[32], other_pk[32], other_sk[32];
    brow r0, r1, r6;
    static const char bad_nonce[] = "AAAAAAAAAAAAAAAAAAAAAA=="; /* 16 bytes */
    char peer_fp[RBX_FINGERPRINT_HEXBYTES];
    ck_assert_int_eq(rbx_keypair_generate(my_pk, my_sk), 0);
    ck_assert_int_eq(rbx_keypair_generate(peer_pk, peer_sk), 0);
    ck_assert_int_eq(rbx_keypair_generate(other_pk, other_sk), 0);
    rbx_fingerprint(peer_fp, peer_pk);
    /* Today's envelopes: one from the phone (peer) to this device, one back. */
    ck_assert_int_eq(rbx_baseline_seal(r0.content, sizeof r0.content, r0.nonce,
                                       (const uint8_t *)"hello from the phone", 20, my_pk, peer_sk), 0);
    ck_assert_int_eq(rbx_baseline_seal(r1.content, sizeof r1.content, r1.nonce,
                                       (const uint8_t *)"reply from the agent", 20, peer_pk, my_sk), 0);
    /* Sealed by someone else: does not open with this pair. */
    ck_assert_int_eq(rbx_baseline_seal(r6.content, sizeof r6.content, r6.nonce,
                                       (const uint8_t *)"forged", 6, my_pk, other_sk), 0);
    const rbx_import_row rows[] = {
        { peer_pk, "s-1", 3, 1, T0 - 300, 0, r0.content, strlen(r0.content), r0.nonce, strlen(r0.nonce) },
        { peer_pk, "s-1", 3, 2, T0 - 200, 1, r1.content, strlen(r1.content), r1.nonce, strlen(r1.nonce) },
        { peer_pk, "s-1", 3, 3, T0 - 100, 0, "a plaintext row", 15, NULL, 0 },
        { peer_pk, "s-1", 3, 4, T0, 0, "!!!!not base64!!", 16, r0.nonce, strlen(r0.nonce) },
        { peer_pk, "s-1", 3, 5, T0, 0, r0.content, strlen(r0.content), bad_nonce, strlen(bad_nonce) },
        { peer_pk, "s-1", 3, 6, T0, 0, NULL, 0, r0.nonce, strlen(r0.nonce) },
        { peer_pk, "s-1", 3, 7, T0, 0, r6.content, strlen(r6.content), r6.nonce, strlen(r6.nonce) },
        { peer_pk, "s-1", 3, (uint64_t)INT64_MAX + 1, T0, 0, "x", 1, NULL, 0 },
        { peer_pk, "s-1", 3, 1, T0, 0, "same session and sequence as row 0", 34, NULL, 0 },
        { NULL, "s-1", 3, 9, T0, 0, "no peer", 7, NULL, 0 },
        /* The same sequence in another product session is another entry. */
        { peer_pk, "s-2", 3, 1, T0 - 50, 1, "other session", 13, NULL, 0 },
    };
    const size_t n = sizeof rows / sizeof rows[0];
    const int want_rc[] = { 0, 0, 0, RBX_E_MALFORMED, RBX_E_MALFORMED, RBX_E_MALFORMED,
                            RBX_E_AUTH, RBX_E_MALFORMED, RBX_E_EXISTS, RBX_E_MALFORMED, 0 };
    int rc[sizeof rows / sizeof rows[0]];
    size_t imported = 99;

    path_of(db, "s.db");
    rbx_store *st = store_open(db, 1);
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0); /* not the box key */
    /* The phone is a contact now (its ratchetbox identity is its box key):
     * its rows are filed under the contact's name. */
    {
        char pdb[600];
        uint8_t bundle[RBX_BUNDLE_MAXBYTES];
        size_t blen;
        path_of(pdb, "phone.db");
        rbx_store *ph = store_open(pdb, 1);
        ck_assert_int_eq(rbx_store_identity_create(ph, peer_pk, peer_sk), 0);
        ck_assert_int_eq(rbx_store_bundle(ph, bundle, sizeof bundle, &blen, 10), 0);
        ck_assert_int_eq(rbx_store_add_contact(st, "phone", 1, bundle, blen), 0);
        rbx_store_close(ph);
    }
    /* A key pair that does not match: nothing happens. */
    ck_assert_int_eq(rbx_store_import_history(st, peer_pk, my_sk, rows, n, rc, &imported), RBX_E_KEY);
    ck_assert_uint_eq(imported, 0);
    ck_assert_int_eq(q_int(st, "SELECT count(*) FROM archive"), 0);

    ck_assert_int_eq(rbx_store_import_history(st, my_pk, my_sk, rows, n, rc, &imported), 0);
    ck_assert_uint_eq(imported, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(rc[i] == want_rc[i], "row %zu: %s, want %s", i, rbx_strerror(rc[i]),
                      rbx_strerror(want_rc[i]));
    ck_assert(audit_has(st, "history imported", "11 rows: 4 imported, 1 already there, 6 rejected; epoch 1"));

    uint8_t s1[32], s2[32];
    baseline_session(s1, my_pk, peer_pk, "s-1");
    baseline_session(s2, peer_pk, my_pk, "s-2"); /* argument order does not matter */
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 4);
    assert_entry(&h.e[0], "hello from the phone", 0, 1, 1);
    assert_entry(&h.e[1], "reply from the agent", 1, 2, 1);
    assert_entry(&h.e[2], "a plaintext row", 0, 3, 1);
    assert_entry(&h.e[3], "other session", 1, 1, 1);
    ck_assert_int_eq(h.e[0].created, T0 - 300);
    ck_assert_int_eq(h.e[3].created, T0 - 50);
    for (size_t i = 0; i < 3; i++) ck_assert_mem_eq(h.e[i].session, s1, 32);
    ck_assert_mem_eq(h.e[3].session, s2, 32);
    for (size_t i = 0; i < 4; i++) ck_assert_str_eq(h.e[i].peer, "phone");
    ck_assert_int_eq(history(st, "phone", &h), 0);
    ck_assert_uint_eq(h.n, 4);
    ck_assert_int_eq(history(st, peer_fp, &h), 0);
    ck_assert_uint_eq(h.n, 0);

    /* Again: nothing twice. */
    ck_assert_int_eq(rbx_store_import_history(st, my_pk, my_sk, rows, n, rc, &imported), 0);
    ck_assert_uint_eq(imported, 0);
    ck_assert_int_eq(rc[0], RBX_E_EXISTS);
    ck_assert_int_eq(rc[2], RBX_E_EXISTS);
    ck_assert_int_eq(rc[3], RBX_E_MALFORMED);
    ck_assert_int_eq(q_int(st, "SELECT count(*) FROM archive"), 4);
    /* No rows at all. */
    ck_assert_int_eq(rbx_store_import_history(st, my_pk, my_sk, NULL, 0, NULL, &imported), 0);
    ck_assert_uint_eq(imported, 0);

    /* The old key was never stored: once the caller erases it, history
     * stays, and survives a rotation. */
    rbx_store_close(st);
    ck_assert(!store_files_hold(db, my_sk, 32));
    sodium_memzero(my_sk, sizeof my_sk);
    st = store_open(db, 0);
    rbx_archive_result res;
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_REENCRYPT, &res), 0);
    ck_assert_uint_eq(res.rewrapped, 4);
    ck_assert_int_eq(history(st, NULL, &h), 0);
    ck_assert_uint_eq(h.n, 4);
    assert_entry(&h.e[1], "reply from the agent", 1, 2, 2);
    rbx_store_close(st);
    sodium_memzero(peer_sk, sizeof peer_sk);
    sodium_memzero(other_sk, sizeof other_sk);
    hist_free(&h);
}
END_TEST

/* ------------------------------------------------------------ 6. SIGKILL */

enum { KILLS = 50, ENTRIES_PER_EPOCH = 300, PAD = 150 };

/* The child: open, rotate once, close. Exit 0, or 100 + |rc|. */
static _Noreturn void kill_child(const char *db, int mode)
{
    rbx_store_opts o = store_opts(0);
    rbx_store *st;
    rbx_archive_result res;
    int rc = rbx_store_open(&st, db, &o);
    if (rc == 0) rc = rbx_store_rotate_archive(st, mode, &res);
    rbx_store_close(st);
    _exit(rc == 0 ? 0 : 100 - rc);
}

/* Run one child to completion (or kill it after delay us; 0: never). */
static int run_child(const char *db, int mode, unsigned delay, int *killed)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) kill_child(db, mode);
    int status = delay > 0 ? tu_kill_child(pid, delay) : tu_wait_child(pid);
    *killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The epochs as "epoch:state:retain;..." for the old/new comparison. */
static char *epoch_map(rbx_store *st)
{
    sqlite3_stmt *s;
    char *out = calloc(1, 1024);
    size_t used = 0;
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st),
                                        "SELECT epoch, state, ifnull(retain_until, -1), key IS NULL"
                                        " FROM archive_epochs ORDER BY epoch", -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int n = snprintf(out + used, 1024 - used, "%lld:%d:%lld:%d;",
                         (long long)sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1),
                         (long long)sqlite3_column_int64(s, 2), sqlite3_column_int(s, 3));
        ck_assert(n > 0 && (size_t)n < 1024 - used);
        used += (size_t)n;
    }
    sqlite3_finalize(s);
    return out;
}

/* The whole observable state: the epochs and, per entry, its epoch,
 * availability and plaintext (checked against the expected texts). */
static char *observe(const char *db, uint64_t seed, unsigned round)
{
    char want[600];
    hist *h = calloc(1, sizeof *h);
    ck_assert_ptr_nonnull(h);
    db_integrity_ok(db);
    rbx_store *st = store_open(db, 0);
    int rc = history(st, NULL, h);
    ck_assert_msg(rc == 0, "seed %llu round %u: history: %s", (unsigned long long)seed, round,
                  rbx_strerror(rc));
    ck_assert_msg(h->n == 3 * ENTRIES_PER_EPOCH, "seed %llu round %u: %zu entries",
                  (unsigned long long)seed, round, h->n);
    char *map = epoch_map(st), *obs = malloc(4096 + 8 * h->n);
    ck_assert_ptr_nonnull(obs);
    size_t used = (size_t)snprintf(obs, 4096, "%s|", map);
    for (size_t i = 0; i < h->n; i++) {
        expect_text(want, sizeof want, (int)i, PAD);
        ck_assert_msg(!h->e[i].available || strcmp(h->e[i].text, want) == 0,
                      "seed %llu round %u: entry %zu changed", (unsigned long long)seed, round, i);
        used += (size_t)sprintf(obs + used, "%llu%c", (unsigned long long)h->e[i].epoch,
                                h->e[i].available ? '+' : '-');
    }
    uint64_t cnt, bad;
    ck_assert_msg(rbx_store_audit_verify(st, &cnt, &bad) == 0, "seed %llu round %u: audit chain",
                  (unsigned long long)seed, round);
    rbx_store_close(st);
    free(map);
    hist_free(h);
    free(h);
    return obs;
}

static void kill_loop(int mode, const char *label)
{
    char work[600], pristine[600];
    uint8_t oldkeys[3][32], *sealed[3];
    size_t sealedlen[3];
    unsigned kills = (unsigned)tu_env_u64("RBX_ARCHIVE_KILLS", KILLS);
    const char *pre = getenv("LD_PRELOAD");
    if (pre != NULL && strstr(pre, "vgpreload") != NULL && kills > 5) kills = 5; /* valgrind */
    uint64_t seed = tu_env_u64("RBX_ARCHIVE_SEED", 0x61726368697665ULL) + (uint64_t)mode, rng = seed;
    tu_rng_system();
    ck_assert_msg(g_dir[0] != '\0', "no scratch directory");
    path_of(work, "work.db");
    path_of(pristine, "pristine.db");

    /* Three epochs: 1 and 2 read-only (retention dates T0 + R and
     * T0 + 50 + R), 3 active, 300 entries each. */
    g_now = T0;
    rbx_store *st = store_open(pristine, 1);
    set_archive(st, "on", RETENTION);
    rbx_archive_result res;
    add_entries(st, 0, ENTRIES_PER_EPOCH, PAD);
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SPLIT, &res), 0);
    g_now = T0 + 50;
    add_entries(st, ENTRIES_PER_EPOCH, ENTRIES_PER_EPOCH, PAD);
    ck_assert_int_eq(rbx_store_rotate_archive(st, RBX_ARCHIVE_SPLIT, &res), 0);
    add_entries(st, 2 * ENTRIES_PER_EPOCH, ENTRIES_PER_EPOCH, PAD);
    for (int e = 0; e < 3; e++) {
        ck_assert_int_eq(rbx__archive_epoch_key(st, (uint64_t)e + 1, oldkeys[e]), 0);
        sealed[e] = sealed_epoch_key(st, e + 1, &sealedlen[e]);
    }
    rbx_store_close(st);
    /* Shred runs past both retention dates; the others at T0 + 100. */
    g_now = mode == RBX_ARCHIVE_SHRED ? T0 + 50 + RETENTION : T0 + 100;
    char *old_state = observe(pristine, seed, 0);

    /* The new state, from runs that are not killed; the median of three
     * times a whole run (kills land up to 1.5 times as late). */
    int killed;
    double runs[3];
    char *new_state = NULL;
    for (int i = 0; i < 3; i++) {
        copy_store(pristine, work);
        double t = tu_now_s();
        ck_assert_int_eq(run_child(work, mode, 0, &killed), 0);
        runs[i] = (tu_now_s() - t) * 1e6;
        char *st_new = observe(work, seed, 0);
        if (new_state != NULL) ck_assert_str_eq(st_new, new_state);
        free(new_state);
        new_state = st_new;
    }
    ck_assert_str_ne(old_state, new_state);
    double full_us = runs[0] > runs[1] ? (runs[1] > runs[2] ? runs[1] : runs[0] > runs[2] ? runs[2] : runs[0])
                                       : (runs[0] > runs[2] ? runs[0] : runs[1] > runs[2] ? runs[2] : runs[1]);

    unsigned n_old = 0, n_new = 0;
    for (unsigned round = 1; round <= kills; round++) {
        copy_store(pristine, work);
        unsigned delay = 1 + (unsigned)(tu_splitmix64(&rng) % (uint64_t)(full_us * 1.5 + 1));
        int ec = run_child(work, mode, delay, &killed);
        ck_assert_msg(killed || ec == 0, "seed %llu round %u: child exit %d",
                      (unsigned long long)seed, round, ec);
        char *now_state = observe(work, seed, round);
        int is_old = strcmp(now_state, old_state) == 0, is_new = strcmp(now_state, new_state) == 0;
        ck_assert_msg(is_old || is_new, "seed %llu round %u (%s, killed after %u us): a mix:\n"
                      "old %.200s\nnew %.200s\nnow %.200s", (unsigned long long)seed, round, label,
                      delay, old_state, new_state, now_state);
        if (is_new && mode != RBX_ARCHIVE_SPLIT) {
            /* Reopened and closed (an erase point): the erased keys are gone. */
            for (int e = 0; e < 3; e++) {
                if (mode == RBX_ARCHIVE_SHRED && e == 2) continue; /* active: kept */
                ck_assert_msg(!store_files_hold(work, oldkeys[e], 32) &&
                                  !store_files_hold(work, sealed[e], sealedlen[e]),
                              "seed %llu round %u: epoch %d key survives", (unsigned long long)seed,
                              round, e + 1);
            }
        }
        n_old += (unsigned)is_old;
        n_new += (unsigned)is_new;
        free(now_state);
    }
    fprintf(stderr, "archive/kill %s: seed %llu, %u kills (one run %.1f ms): %u left the old "
            "state, %u the new one, none a mix\n", label, (unsigned long long)seed, kills,
            full_us / 1000, n_old, n_new);
    /* Kills landed on both sides of the commit. */
    if (kills >= 20) {
        ck_assert_uint_ge(n_old, 1);
        ck_assert_uint_ge(n_new, 1);
    }
    for (int e = 0; e < 3; e++) free(sealed[e]);
    sodium_memzero(oldkeys, sizeof oldkeys);
    free(old_state);
    free(new_state);
}

START_TEST(kill_reencrypt) { kill_loop(RBX_ARCHIVE_REENCRYPT, "reencrypt"); }
END_TEST
START_TEST(kill_split) { kill_loop(RBX_ARCHIVE_SPLIT, "split"); }
END_TEST
START_TEST(kill_shred) { kill_loop(RBX_ARCHIVE_SHRED, "shred"); }
END_TEST

Suite *suite_archive(void)
{
    Suite *s = suite_create("archive");
    TCase *tc = tcase_create("archive");
    dir_fixtures(tc, archive_setup, 60);
    tcase_add_test(tc, archive_off_keeps_nothing);
    tcase_add_test(tc, archive_both_directions);
    tcase_add_test(tc, archive_grace_session);
    tcase_add_test(tc, associated_data_binding);
    tcase_add_test(tc, reencrypt_erases_old_keys);
    tcase_add_test(tc, split_then_shred);
    tcase_add_test(tc, import_baseline_rows);
    suite_add_tcase(s, tc);
    tc = tcase_create("crash");
    dir_fixtures(tc, archive_setup, 300);
    tcase_add_test(tc, kill_reencrypt);
    tcase_add_test(tc, kill_split);
    tcase_add_test(tc, kill_shred);
    suite_add_tcase(s, tc);
    return s;
}
