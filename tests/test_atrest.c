/* SPDX-License-Identifier: MIT
 * Forward secrecy at rest (issue: "Forward secrecy at rest"). A thief copies
 * Bob's state directory (database, -wal, -shm, key file, sidecar) right after
 * Bob received message k, and attacks the copy with the storage key:
 *  (a) every version of the database the files still hold (the main file,
 *      and the main file plus the write-ahead log cut after each of its
 *      commit frames) is opened, each session state decrypted, and every
 *      recorded ciphertext tried with the library's own decrypt;
 *  (b) a raw scan of every byte of every file for consumed chain and message
 *      keys, in clear and inside every sealed record found in the bytes.
 * The opened set must equal what Bob's own states since the last erase point
 * open (the test records them through a test hook): in strict mode only the
 * current state, i.e. only messages whose keys are still legitimately held
 * as skipped keys. In bounded mode the store takes an erase step every
 * ERASE_EVERY / 2 commits (PROTOCOL.md 15.5): the log restarts and the next
 * period overwrites it, so what the thief opens lies between the states
 * since the last step (all of them are in the log) and the states since the
 * step before it (nothing older may be anywhere). Versions are read both as
 * SQLite recovers them and from every sealed record in any byte of any file
 * (a thief is not bound by the log's salts). */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "store.h"
#include "storeutil.h"
#include "testutil.h"

enum { N = 30, ERASE_EVERY = 8, MAX_STATES = 128 };

/* Paths of files in a state directory, whose own path may carry a suffix
 * (database_versions' scratch copy). */
enum { JOINCAP = PATHCAP + 16 };

static const char *const FILES[] = { "db", "db-wal", "db-shm", "db.key", "db.gen" };

/* The thief's copy of a live state directory: plain file reads. */
static void copy_dir(const char *from, const char *to)
{
    mkdir(to, 0700);
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        char a[JOINCAP], b[JOINCAP];
        tu_path_in(a, sizeof a, from, FILES[i]);
        tu_path_in(b, sizeof b, to, FILES[i]);
        copy_or_remove(a, b);
    }
}

typedef struct world {
    char adir[PATHCAP], bdir[PATHCAP];
    rbx_store *alice, *bob;
    /* Alice -> Bob ciphertexts in send order. */
    tu_msg msg[N];
    /* Bob's session after each of his commits since the erase reset. */
    uint8_t *states[MAX_STATES];
    size_t statelen[MAX_STATES];
    size_t nstates;
    size_t last_erase_state; /* index of the state in the main file at the last erase step */
    size_t prev_erase_state; /* the same at the step before it */
    unsigned commits;        /* Bob's commits since the last erase step */
    uint64_t inbox[N];       /* Bob's inbox id per message, 0 if not received */
} world;

static void record_bob(world *w)
{
    rbx_session *s;
    ck_assert_int_eq(rbx__store_load_session(w->bob, &s, "alice", 1), 0);
    ck_assert_uint_lt(w->nstates, MAX_STATES);
    w->states[w->nstates] = tu_blob(s, &w->statelen[w->nstates]);
    w->nstates++;
    rbx_session_free(s);
}

/* One commit by Bob: mirror the store's erase counting (strict: a full
 * erase point at every commit; bounded: a step every ERASE_EVERY / 2). */
static void bob_committed(world *w, int bounded)
{
    record_bob(w);
    w->commits++;
    if (!bounded) {
        w->prev_erase_state = w->last_erase_state = w->nstates - 1;
    } else if (w->commits == ERASE_EVERY / 2) {
        w->commits = 0;
        w->prev_erase_state = w->last_erase_state;
        w->last_erase_state = w->nstates - 1;
    }
}

static void alice_send(world *w, int i)
{
    uint8_t out[512];
    size_t len;
    uint64_t id;
    char text[16];
    int n = snprintf(text, sizeof text, "m%02d", i);
    ck_assert_int_eq(rbx_store_encrypt(w->alice, out, sizeof out, &len, &id, "bob", 1,
                                       (const uint8_t *)text, (size_t)n, NULL),
                     0);
    w->msg[i].wire = malloc(len);
    memcpy(w->msg[i].wire, out, len);
    w->msg[i].len = len;
    w->msg[i].index = (uint32_t)i;
}

static void bob_receive(world *w, int i, int bounded)
{
    uint8_t pt[64];
    size_t ptlen;
    rbx_received r;
    ck_assert_int_eq(rbx_store_decrypt(w->bob, pt, sizeof pt, &ptlen, &r, "alice", 1,
                                       w->msg[i].wire, w->msg[i].len),
                     0);
    ck_assert_uint_eq(ptlen, 3);
    w->inbox[i] = r.inbox_id;
    bob_committed(w, bounded);
}

/* Bob's application consumed messages 0..9: their inbox rows are deleted. */
static void bob_acks(world *w, int bounded)
{
    for (int i = 0; i < 10; i++) {
        if (w->inbox[i] == 0) continue;
        ck_assert_int_eq(rbx_store_ack_inbox(w->bob, w->inbox[i]), 0);
        bob_committed(w, bounded);
    }
}

static void bob_reply(world *w, int bounded)
{
    uint8_t out[512], pt[64];
    size_t len, ptlen;
    uint64_t id;
    rbx_received r;
    ck_assert_int_eq(rbx_store_encrypt(w->bob, out, sizeof out, &len, &id, "alice", 1,
                                       (const uint8_t *)"ok", 2, NULL),
                     0);
    bob_committed(w, bounded);
    ck_assert_int_eq(rbx_store_decrypt(w->alice, pt, sizeof pt, &ptlen, &r, "bob", 1, out, len), 0);
}

static void setup(world *w, int bounded)
{
    memset(w, 0, sizeof *w);
    path_of(w->adir, "alice");
    path_of(w->bdir, "bob");
    mkdir(w->adir, 0700);
    mkdir(w->bdir, 0700);
    char adb[JOINCAP], bdb[JOINCAP];
    tu_path_in(adb, sizeof adb, w->adir, "db");
    tu_path_in(bdb, sizeof bdb, w->bdir, "db");
    rbx_store_opts ao = store_opts(1), bo = store_opts(1);
    bo.mode = bounded ? RBX_STORE_BOUNDED : RBX_STORE_STRICT;
    bo.erase_commits = ERASE_EVERY;
    bo.erase_seconds = 100000;
    ck_assert_int_eq(rbx_store_open(&w->alice, adb, &ao), 0);
    ck_assert_int_eq(rbx_store_open(&w->bob, bdb, &bo), 0);
    ck_assert_int_eq(rbx_store_identity_create(w->alice, NULL, NULL), 0);
    ck_assert_int_eq(rbx_store_identity_create(w->bob, NULL, NULL), 0);
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], pt[64];
    size_t blen, ptlen, len;
    ck_assert_int_eq(rbx_store_bundle(w->bob, bundle, sizeof bundle, &blen, 10), 0);
    ck_assert_int_eq(rbx_store_add_contact(w->alice, "bob", 1, bundle, blen), 0);
    /* Handshake and one reply, so that Alice's messages are plain Messages
     * and the one-time prekey is gone before the experiment starts. */
    uint8_t out[512];
    uint64_t id;
    rbx_received r;
    ck_assert_int_eq(rbx_store_encrypt(w->alice, out, sizeof out, &len, &id, "bob", 1,
                                       (const uint8_t *)"hi", 2, NULL),
                     0);
    ck_assert_int_eq(rbx_store_decrypt(w->bob, pt, sizeof pt, &ptlen, &r, "alice", 1, out, len), 0);
    ck_assert_int_eq(r.new_contact, 1); /* created under the name Bob gave */
    ck_assert_int_eq(rbx_store_encrypt(w->bob, out, sizeof out, &len, &id, "alice", 1,
                                       (const uint8_t *)"yo", 2, NULL),
                     0);
    ck_assert_int_eq(rbx_store_decrypt(w->alice, pt, sizeof pt, &ptlen, &r, "bob", 1, out, len), 0);
    ck_assert_int_eq(rbx_store_erase_now(w->bob), 0);
    record_bob(w);
    w->last_erase_state = w->prev_erase_state = 0;
}

/* Every version of the database the copied files hold, as session blobs. */
typedef struct versions {
    uint8_t *blob[MAX_STATES * 2];
    size_t len[MAX_STATES * 2];
    size_t n;
} versions;

static void read_sessions(versions *v, const char *db, const uint8_t key[32])
{
    sqlite3 *h;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT contact, generation, state FROM sessions", -1,
                                        &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 2), outlen;
        uint8_t *out = malloc(n);
        ck_assert_int_eq(rbx__row_open(out, n, &outlen, key, "sessions", sqlite3_column_int64(s, 0),
                                       sqlite3_column_int64(s, 1), "state",
                                       sqlite3_column_blob(s, 2), n),
                         0);
        ck_assert_uint_lt(v->n, MAX_STATES * 2);
        v->blob[v->n] = out;
        v->len[v->n++] = outlen;
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
}

static uint32_t be32(const uint8_t *p) { return rbx__load32_be(p); }

static void database_versions(versions *v, const char *copy, const uint8_t key[32])
{
    size_t dblen, wallen;
    char dbp[JOINCAP], walp[JOINCAP], sdb[JOINCAP], swal[JOINCAP], sshm[JOINCAP];
    tu_path_in(dbp, sizeof dbp, copy, "db");
    tu_path_in(walp, sizeof walp, copy, "db-wal");
    uint8_t *db = slurp(dbp, &dblen), *wal = slurp(walp, &wallen);
    char scratch[PATHCAP + 2];
    snprintf(scratch, sizeof scratch, "%s.v", copy);
    mkdir(scratch, 0700);
    tu_path_in(sdb, sizeof sdb, scratch, "db");
    tu_path_in(swal, sizeof swal, scratch, "db-wal");
    tu_path_in(sshm, sizeof sshm, scratch, "db-shm");
    /* The main file alone, then cut after each commit frame of the log. */
    size_t cuts[4096], ncuts = 0;
    cuts[ncuts++] = 0;
    if (wal != NULL && wallen >= 32) {
        uint32_t page = be32(wal + 8);
        for (size_t off = 32; off + 24 + page <= wallen; off += 24 + page)
            if (be32(wal + off + 4) != 0 && ncuts < 4096) cuts[ncuts++] = off + 24 + page;
    }
    for (size_t c = 0; c < ncuts; c++) {
        unlink(sshm);
        unlink(swal);
        spit(sdb, db, dblen);
        if (cuts[c] > 0) spit(swal, wal, cuts[c]);
        read_sessions(v, sdb, key);
    }
    free(db);
    free(wal);
    rm_tree(scratch);
}

/* Every sealed session state in any byte of any file of the copy, opened
 * under every generation up to maxgen (frames of an earlier log period
 * included, whatever their salt). */
static void raw_versions(versions *v, const char *copy, const uint8_t key[32], int64_t maxgen)
{
    for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++) {
        char p[JOINCAP];
        size_t n;
        tu_path_in(p, sizeof p, copy, FILES[f]);
        uint8_t *b = slurp(p, &n);
        if (b == NULL) continue;
        for (size_t off = 0; off + RBX_ROW_OVERHEAD <= n; off++) {
            if (memcmp(b + off, RBX_ROW_MAGIC, 4) != 0) continue;
            size_t len = be32(b + off + 4) + RBX_ROW_OVERHEAD, ptlen;
            if (len > n - off) continue;
            uint8_t *pt = malloc(len);
            ck_assert_ptr_nonnull(pt);
            for (int64_t g = 0; g <= maxgen; g++)
                if (rbx__row_open(pt, len, &ptlen, key, "sessions", 1, g, "state", b + off, len) == 0) {
                    ck_assert_uint_lt(v->n, MAX_STATES * 2);
                    v->blob[v->n] = malloc(ptlen);
                    memcpy(v->blob[v->n], pt, ptlen);
                    v->len[v->n++] = ptlen;
                    break;
                }
            free(pt);
        }
        free(b);
    }
}

/* Which of msg[0..upto] one of these states opens. */
static void try_all(int *opened, uint8_t *const *blobs, const size_t *lens, size_t nblobs,
                    const world *w, int upto)
{
    for (int j = 0; j <= upto; j++) {
        opened[j] = 0;
        for (size_t b = 0; b < nblobs && !opened[j]; b++) {
            rbx_session *s;
            ck_assert_int_eq(rbx_session_deserialize(&s, blobs[b], lens[b]), 0);
            opened[j] = tu_recv(s, &w->msg[j], NULL, 0) == 0;
            rbx_session_free(s);
        }
    }
}

/* Keys that were in some earlier state of Bob's but are not in the current one. */
typedef struct keyset {
    uint8_t k[MAX_STATES * 64][32];
    size_t n;
} keyset;

static int has_key(const keyset *ks, const uint8_t *k)
{
    for (size_t i = 0; i < ks->n; i++)
        if (memcmp(ks->k[i], k, 32) == 0) return 1;
    return 0;
}

static void add_state_keys(keyset *ks, const uint8_t *blob, size_t len)
{
    rbx_session *s;
    ck_assert_int_eq(rbx_session_deserialize(&s, blob, len), 0);
    const uint8_t *keys[] = { s->st.rk, s->st.ckr, s->st.cks, s->st.bkr, s->st.bks, s->st.dhs_sk };
    for (size_t i = 0; i < RBX_COUNTOF(keys); i++)
        if (!sodium_is_zero(keys[i], 32) && !has_key(ks, keys[i]) && ks->n < MAX_STATES * 64)
            memcpy(ks->k[ks->n++], keys[i], 32);
    for (size_t i = 0; i < s->nskipped; i++)
        if (!has_key(ks, s->skipped[i].mk) && ks->n < MAX_STATES * 64)
            memcpy(ks->k[ks->n++], s->skipped[i].mk, 32);
    rbx_session_free(s);
}

/* (b): consumed keys in clear anywhere, or inside any sealed record that the
 * storage key opens under any binding of the sessions table. */
static size_t raw_scan(const char *copy, const keyset *consumed, const uint8_t key[32], int64_t maxgen)
{
    size_t found = 0;
    for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++) {
        char p[JOINCAP];
        size_t n;
        tu_path_in(p, sizeof p, copy, FILES[f]);
        uint8_t *b = slurp(p, &n);
        if (b == NULL) continue;
        for (size_t i = 0; i < consumed->n; i++) found += contains(b, n, consumed->k[i], 32);
        for (size_t off = 0; off + RBX_ROW_OVERHEAD <= n; off++) {
            if (memcmp(b + off, RBX_ROW_MAGIC, 4) != 0) continue;
            size_t len = be32(b + off + 4) + RBX_ROW_OVERHEAD;
            if (len > n - off) continue;
            uint8_t *pt = malloc(len);
            size_t ptlen;
            for (int64_t g = 0; g <= maxgen; g++) {
                if (rbx__row_open(pt, len, &ptlen, key, "sessions", 1, g, "state", b + off, len) == 0)
                    for (size_t i = 0; i < consumed->n; i++) found += contains(pt, ptlen, consumed->k[i], 32);
                /* Acknowledged inbox rows are deleted data: their plaintext
                 * ("m00".."m09") must not come back either. */
                if (rbx__row_open(pt, len, &ptlen, key, "inbox", g, g, "pt", b + off, len) == 0 &&
                    ptlen == 3 && pt[0] == 'm' && pt[1] == '0')
                    found++;
            }
            free(pt);
        }
        free(b);
    }
    return found;
}

START_TEST(thief_copies_state_directory)
{
    int bounded = _i;
    world w;
    setup(&w, bounded);
    /* Alice sends 30; Bob replies after 10 and 20 (DH steps); m05 and
     * m12..m14 arrive late (skipped keys, consumed later: the stored state
     * grows and shrinks); m25 never arrives (a skipped key still held
     * legitimately). Snapshot after Bob received m27. */
    for (int i = 0; i < N; i++) {
        alice_send(&w, i);
        if (i == 5 || i == 25 || (i >= 12 && i <= 14)) continue;
        bob_receive(&w, i, bounded);
        if (i == 8) bob_receive(&w, 5, bounded);
        if (i == 17)
            for (int late = 14; late >= 12; late--) bob_receive(&w, late, bounded);
        if (i == 18) bob_acks(&w, bounded);
        if (i == 10 || i == 20) bob_reply(&w, bounded);
        if (i == 27) break;
    }
    const int k = 27;
    char copy[PATHCAP];
    path_of(copy, "thief");
    copy_dir(w.bdir, copy);

    /* (a) */
    uint8_t key[32];
    size_t keylen;
    char kp[JOINCAP];
    tu_path_in(kp, sizeof kp, copy, "db.key");
    uint8_t *kb = slurp(kp, &keylen);
    ck_assert_uint_eq(keylen, 32);
    memcpy(key, kb, 32);
    free(kb);
    versions v = { 0 };
    uint64_t maxgen;
    rbx_session_info si;
    ck_assert_int_eq(rbx_store_session_info(w.bob, &si, &maxgen, "alice", 1), 0);
    database_versions(&v, copy, key);
    raw_versions(&v, copy, key, (int64_t)maxgen);
    int opened[N], lower[N], upper[N];
    try_all(opened, v.blob, v.len, v.n, &w, k);
    try_all(lower, &w.states[w.last_erase_state], &w.statelen[w.last_erase_state],
            w.nstates - w.last_erase_state, &w, k);
    try_all(upper, &w.states[w.prev_erase_state], &w.statelen[w.prev_erase_state],
            w.nstates - w.prev_erase_state, &w, k);
    int nopened = 0;
    for (int j = 0; j <= k; j++) {
        ck_assert_msg(opened[j] <= upper[j], "%s: m%02d opened, but only states older than the "
                      "erase step before the last one open it", bounded ? "bounded" : "strict", j);
        ck_assert_msg(opened[j] >= lower[j], "%s: m%02d not opened, yet a state since the last "
                      "erase step opens it", bounded ? "bounded" : "strict", j);
        nopened += opened[j];
    }
    /* m25 is a skipped key Bob still holds: readable in both modes. */
    ck_assert_int_eq(opened[25], 1);
    if (!bounded) {
        ck_assert_int_eq(nopened, 1);
        /* strict: no older version anywhere (every copy found is the current state) */
        ck_assert_uint_ge(v.n, 1);
        for (size_t i = 0; i < v.n; i++)
            ck_assert_msg(v.len[i] == w.statelen[w.nstates - 1] &&
                              memcmp(v.blob[i], w.states[w.nstates - 1], v.len[i]) == 0,
                          "strict: version %zu of the files is not the current state", i);
    } else {
        /* Erase steps every 4 commits: something since the last one is
         * readable, nothing from before the one before it. */
        ck_assert_int_gt(nopened, 1);
        ck_assert_int_eq(opened[0], 0);
    }

    /* (b) */
    keyset *consumed = calloc(1, sizeof *consumed), *current = calloc(1, sizeof *current);
    add_state_keys(current, w.states[w.nstates - 1], w.statelen[w.nstates - 1]);
    for (size_t i = 0; i + 1 < w.nstates; i++) {
        rbx_session *s;
        ck_assert_int_eq(rbx_session_deserialize(&s, w.states[i], w.statelen[i]), 0);
        const uint8_t *keys[] = { s->st.rk, s->st.ckr, s->st.cks, s->st.bkr, s->st.bks, s->st.dhs_sk };
        for (size_t j = 0; j < RBX_COUNTOF(keys); j++)
            if (!sodium_is_zero(keys[j], 32) && !has_key(current, keys[j]) && !has_key(consumed, keys[j]))
                memcpy(consumed->k[consumed->n++], keys[j], 32);
        for (size_t j = 0; j < s->nskipped; j++)
            if (!has_key(current, s->skipped[j].mk) && !has_key(consumed, s->skipped[j].mk))
                memcpy(consumed->k[consumed->n++], s->skipped[j].mk, 32);
        rbx_session_free(s);
    }
    ck_assert_uint_gt(consumed->n, 30); /* every chain key step, root keys, ratchet secrets */
    uint64_t gen;
    rbx_session_info info;
    ck_assert_int_eq(rbx_store_session_info(w.bob, &info, &gen, "alice", 1), 0);
    if (!bounded) {
        ck_assert_uint_eq(raw_scan(copy, consumed, key, (int64_t)gen), 0);
    } else {
        /* Bounded: the log still holds recent states; after an erase point
         * nothing consumed is left. */
        ck_assert_uint_gt(raw_scan(copy, consumed, key, (int64_t)gen), 0);
        ck_assert_int_eq(rbx_store_erase_now(w.bob), 0);
        char copy2[PATHCAP];
        path_of(copy2, "thief2");
        copy_dir(w.bdir, copy2);
        ck_assert_uint_eq(raw_scan(copy2, consumed, key, (int64_t)gen), 0);
    }
    free(consumed);
    free(current);
    for (size_t i = 0; i < v.n; i++) free(v.blob[i]);
    for (size_t i = 0; i < w.nstates; i++) free(w.states[i]);
    for (int i = 0; i < N; i++) free(w.msg[i].wire);
    rbx_store_close(w.alice);
    rbx_store_close(w.bob);
}
END_TEST

/* ------------------------------------------------------------ erase interval */

/* Whether the write-ahead log holds nothing but zeros: right after a full
 * erase point in bounded mode (zeroed in place), never after a commit. */
static int wal_is_zero(const char *db)
{
    char wal[PATHCAP + 8];
    size_t n;
    snprintf(wal, sizeof wal, "%s-wal", db);
    uint8_t *b = slurp(wal, &n);
    ck_assert_ptr_nonnull(b);
    int zero = sodium_is_zero(b, n);
    free(b);
    return zero;
}

/* One commit (a policy change, so something is written each time). */
static void commit_once(rbx_store *st)
{
    rbx_policy p;
    ck_assert_int_eq(rbx_store_policy(st, &p), 0);
    ck_assert_int_eq(rbx_policy_set(&p, "max_skip", p.max_skip == 10 ? "11" : "10"), 0);
    ck_assert_int_eq(rbx_store_set_policy(st, &p), 0);
}

/* The wall clock can be moved in this process when it runs under libfaketime
 * with FAKETIME_NO_CACHE=1 (make check's faketime pass): FAKETIME is then
 * read again at every clock read. */
static int wall_clock_movable(void)
{
    const char *pre = getenv("LD_PRELOAD"), *nc = getenv("FAKETIME_NO_CACHE");
    return pre != NULL && strstr(pre, "libfaketime") != NULL && nc != NULL && strcmp(nc, "1") == 0;
}

/* Set libfaketime's offset from the real time (seconds), and check that
 * the wall clock moved by it. */
static void wall_clock_offset(long offset)
{
    char v[32];
    snprintf(v, sizeof v, "%+ld", offset);
    ck_assert_int_eq(setenv("FAKETIME", "+0", 1), 0);
    time_t real = time(NULL);
    ck_assert_int_eq(setenv("FAKETIME", v, 1), 0);
    ck_assert_int_le(labs((long)(time(NULL) - real - offset)), 5);
}

/* Did the last commit take an erase step (PROTOCOL.md 15.5)? A step resets
 * the handle's count of commits since the last one. */
static int commit_erased(const rbx_store *st) { return st->commits_since_erase == 0; }

/* Bounded mode's time-driven erase step counts elapsed seconds: neither
 * the store's injected clock nor the wall clock moves it. A wall clock set
 * forward must not force an erase step, and one set back must not postpone
 * it (the log would keep consumed keys that long); both jumps need
 * libfaketime (see wall_clock_movable), the elapsed-time checks run always. */
START_TEST(erase_interval_is_elapsed_time)
{
    const int movable = wall_clock_movable();
    const char *outer = getenv("FAKETIME");
    char *saved = outer != NULL ? strdup(outer) : NULL;
    char db[PATHCAP];
    rbx_store *st;
    rbx_store_opts o = store_opts(1);
    o.mode = RBX_STORE_BOUNDED;
    o.erase_commits = 1000;

    /* An hour's interval: commits within it take no erase point, whatever
     * the clocks say. */
    o.erase_seconds = 3600;
    db_path(db, "hour");
    ck_assert_int_eq(rbx_store_open(&st, db, &o), 0);
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0);
    if (movable) wall_clock_offset(0);
    ck_assert_int_eq(rbx_store_erase_now(st), 0);
    ck_assert_int_eq(wal_is_zero(db), 1);
    commit_once(st);
    ck_assert_int_eq(wal_is_zero(db), 0);
    ck_assert(!commit_erased(st));
    g_now += 10 * 86400; /* the policy clock moves ten days */
    commit_once(st);
    ck_assert(!commit_erased(st));
    if (movable) {
        wall_clock_offset(86400); /* the wall clock jumps a day ahead */
        commit_once(st);
        ck_assert(!commit_erased(st));
    }
    rbx_store_close(st);

    /* A one-second interval (a step every half second): the first commit a
     * second after the erase point takes the next one, even with the wall
     * clock a day behind. */
    o.erase_seconds = 1;
    o.create = 1;
    db_path(db, "second");
    ck_assert_int_eq(rbx_store_open(&st, db, &o), 0);
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0);
    if (movable) wall_clock_offset(0);
    ck_assert_int_eq(rbx_store_erase_now(st), 0);
    if (movable) wall_clock_offset(-86400);
    tu_sleep_us(1100 * 1000);
    commit_once(st);
    ck_assert(commit_erased(st));
    rbx_store_close(st);

    if (movable) {
        ck_assert_int_eq(saved != NULL ? setenv("FAKETIME", saved, 1) : unsetenv("FAKETIME"), 0);
    }
    free(saved);
}
END_TEST

Suite *suite_atrest(void)
{
    Suite *s = suite_create("atrest");
    TCase *tc = tcase_create("atrest");
    dir_fixtures(tc, dir_setup, 120);
    tcase_add_loop_test(tc, thief_copies_state_directory, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("erase_interval");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, erase_interval_is_elapsed_time);
    suite_add_tcase(s, tc);
    return s;
}
