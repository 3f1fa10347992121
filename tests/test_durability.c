/* SPDX-License-Identifier: MIT
 * Durability of the store (PROTOCOL.md "State and storage"), decided by
 * killing real processes and by real contention, not by reading the code.
 *
 * crash: a child process runs Alice's and Bob's stores in a loop (encrypt,
 *   batch encrypt, deliver from the outbox in and slightly out of order,
 *   acknowledge inbox entries) and is killed with SIGKILL: in one round of
 *   four once its log shows a new ciphertext released Alice->Bob (every
 *   other such round also one Bob->Alice), then after a seeded delay of up
 *   to CRASH_AFTER_US; in the other rounds after a seeded delay of up to
 *   CRASH_DELAY_US from its start (kills inside open and anywhere after).
 *   What a run releases at least is thus fixed by the schedule, not by how
 *   fast a loaded machine runs the child. It logs every
 *   ciphertext that encrypt returned and every
 *   decrypt result to an append-only file; a record cut short by the kill is
 *   dropped. After each kill the parent checks both databases with PRAGMA
 *   integrity_check, reopens both stores and checks the whole run so far:
 *    - no (ratchet key, counter) pair belongs to two different ciphertexts
 *      (a message key used twice: the state was not durable before release);
 *    - a released ciphertext (returned by encrypt, or found in an outbox: a
 *      kill between commit and the log write) leaves the outbox only after
 *      the peer decrypted it, and is decrypted as new at most once;
 *    - every successful decrypt's plaintext is in the inbox (redelivery
 *      returns it, with the same inbox id) unless the inbox entry was acked;
 *      after the ack a duplicate is refused as PROTOCOL.md 12 "Old messages"
 *      says: RBX_E_REPLAY while its chain is among the receiver's current and
 *      last RBX_RECENT_CHAINS replaced ones, RBX_E_AUTH only beyond that.
 *   At the end the outboxes are drained and every released ciphertext must
 *   have been decrypted exactly once. RBX_CRASH_KILLS (default 200) and
 *   RBX_CRASH_SEED set the run; `make crashtest` runs 5000 kills.
 *   RBX_CRASH_FULLCHECK=n re-checks every inbox entry every n rounds (slow;
 *   it dates a failure that the final check finds).
 *
 * concurrency: four processes, each with its own handle on Alice's database,
 *   encrypt 500 messages each on one session while a fifth process (Bob)
 *   decrypts them as they appear. Every call must succeed (the store waits
 *   and retries on SQLITE_BUSY), Bob decrypts all 2,000 exactly once with the
 *   right plaintexts, and no (ratchet key, counter) pair repeats.
 *
 * open_race: one process encrypts while another opens and closes the same
 *   database, and the parent preempts the opener (SIGSTOP for 2 ms, at a
 *   seeded offset into rbx_store_open) so that commits land inside the open.
 *   Opening a store is not a rollback: the writer's session must keep
 *   encrypting. (A check_rollback() that read the database generation and
 *   then the sidecar, unlocked, failed this in 18 of 18 runs: a commit and
 *   its sidecar raise between the two reads marked every session rolled
 *   back.)
 *
 * Children never call Check: they report through their files and exit code. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "storeutil.h"
#include "testutil.h"

enum {
    WIRE_MAX = 2048,       /* our plaintexts are < 400 bytes */
    PT_MAX = 400,
    REC_MAX = 4 * WIRE_MAX,
    BATCH_MAX = 4,
    CRASH_KILLS = 200,     /* make check */
    CRASH_DELAY_US = 30000, /* kill after 0..30 ms (one round in four) */
    CRASH_AFTER_US = 3000,  /* or 0..3 ms after the released ciphertexts waited for */
    WRITERS = 4,
    PER_WRITER = 500,
    OPEN_STOPS = 1000,      /* open_race: injected preemptions */
    INBOX_KEEP = 300,       /* crash: inbox entries per direction kept for the whole run */
};

/* ---------------------------------------------------------------- helpers */

/* Each test case's scratch directory. Made and removed by an unchecked
 * fixture, in the runner process: it goes away even when a test fails. The
 * stores' clock starts at TEST_T0 there too (under CK_FORK=no an earlier
 * suite may have moved g_now). */
static char tmp_dir[512];

static void tmp_setup(void)
{
    g_now = TEST_T0;
    const char *t = getenv("TMPDIR");
    int n = snprintf(tmp_dir, sizeof tmp_dir, "%s/rbx-durability-XXXXXX",
                     t != NULL && *t ? t : "/tmp");
    if (n <= 0 || (size_t)n >= sizeof tmp_dir || mkdtemp(tmp_dir) == NULL) tmp_dir[0] = '\0';
}

static void tmp_teardown(void)
{
    if (tmp_dir[0] != '\0') rm_tree(tmp_dir);
}

static const char *scratch_dir(void)
{
    ck_assert_msg(tmp_dir[0] != '\0', "no scratch directory");
    return tmp_dir;
}

/* An existing store, on the tests' clock (storeutil's g_now, which these
 * tests leave at TEST_T0). */
static int open_store(rbx_store **st, const char *path)
{
    const rbx_store_opts o = store_opts(0);
    return rbx_store_open(st, path, &o);
}

/* Two stores: Alice knows Bob's bundle (contact "bob"); Bob learns Alice
 * from her first message (contact "alice"). */
static void setup_pair(const char *a_path, const char *b_path)
{
    rbx_store *a, *b;
    const rbx_store_opts o = store_opts(1);
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    ck_assert_int_eq(rbx_store_open(&a, a_path, &o), 0);
    ck_assert_int_eq(rbx_store_open(&b, b_path, &o), 0);
    ck_assert_int_eq(rbx_store_identity_create(a, NULL, NULL), 0);
    ck_assert_int_eq(rbx_store_identity_create(b, NULL, NULL), 0);
    ck_assert_int_eq(rbx_store_bundle(b, bundle, sizeof bundle, &blen, 10), 0);
    ck_assert_int_eq(rbx_store_add_contact(a, "bob", 1, bundle, blen), 0);
    rbx_store_close(a);
    rbx_store_close(b);
}

/* ---------------------------------------------------------------- wire */

/* The test's own reading of the wire (PROTOCOL.md "Wire format"), so the
 * key-reuse check does not trust the parser under test: varint and
 * length-delimited fields are all Message and PreKeyMessage use. */
static int pb_varint(uint64_t *v, const uint8_t *p, size_t len, size_t *pos)
{
    size_t n;
    if (*pos >= len || tu_varint_read(p + *pos, len - *pos, v, &n) != 0) return -1;
    *pos += n;
    return 0;
}

/* Field number `field`: 1 found (value in *v, or bytes in *data, *dlen), 0
 * absent, -1 malformed. */
static int pb_field(uint64_t *v, const uint8_t **data, size_t *dlen, const uint8_t *p, size_t len,
                    uint64_t field)
{
    size_t pos = 0;
    while (pos < len) {
        uint64_t key, val;
        if (pb_varint(&key, p, len, &pos) != 0 || pb_varint(&val, p, len, &pos) != 0) return -1;
        if ((key & 7) == 0) {
            if (key >> 3 == field) {
                *v = val;
                return 1;
            }
        } else if ((key & 7) == 2) {
            if (val > len - pos) return -1;
            if (key >> 3 == field) {
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

/* The (ratchet key, counter) that names a clear-header message's key; a
 * PreKeyMessage carries its Message in field 8. */
static int wire_key_id(uint8_t rk[32], uint32_t *counter, const uint8_t *w, size_t len)
{
    const uint8_t *m = w, *k;
    size_t mlen = len, klen;
    uint64_t v;
    int kind = rbx_message_prekey_info(NULL, w, len);
    if (kind < 0) return -1;
    if (kind == 1 && pb_field(&v, &m, &mlen, w, len, 8) != 1) return -1;
    if (pb_field(&v, &k, &klen, m, mlen, 2) != 1 || klen != 32) return -1;
    memcpy(rk, k, 32);
    if (pb_field(&v, &k, &klen, m, mlen, 3) != 1 || v > UINT32_MAX) return -1;
    *counter = (uint32_t)v;
    return 0;
}

/* ---------------------------------------------------------------- hash map */

/* 32-byte keys (digests) to indices; -1 = absent. */
typedef struct htab {
    uint8_t (*keys)[32];
    int64_t *vals;
    size_t cap, n;
} htab;

static size_t ht_slot(const htab *h, const uint8_t key[32])
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++) x |= (uint64_t)key[i] << (8 * i);
    size_t i = (size_t)x & (h->cap - 1);
    while (h->vals[i] >= 0 && memcmp(h->keys[i], key, 32) != 0) i = (i + 1) & (h->cap - 1);
    return i;
}

static int64_t ht_get(const htab *h, const uint8_t key[32])
{
    return h->cap == 0 ? -1 : h->vals[ht_slot(h, key)];
}

static void ht_put(htab *h, const uint8_t key[32], int64_t val)
{
    if (2 * (h->n + 1) > h->cap) {
        htab g = { NULL, NULL, h->cap ? 2 * h->cap : 1024, 0 };
        g.keys = malloc(g.cap * sizeof *g.keys);
        g.vals = malloc(g.cap * sizeof *g.vals);
        ck_assert(g.keys != NULL && g.vals != NULL);
        for (size_t i = 0; i < g.cap; i++) g.vals[i] = -1;
        for (size_t i = 0; i < h->cap; i++)
            if (h->vals[i] >= 0) ht_put(&g, h->keys[i], h->vals[i]);
        free(h->keys);
        free(h->vals);
        *h = g;
    }
    size_t i = ht_slot(h, key);
    if (h->vals[i] < 0) h->n++;
    memcpy(h->keys[i], key, 32);
    h->vals[i] = val;
}

static void ht_free(htab *h)
{
    free(h->keys);
    free(h->vals);
    memset(h, 0, sizeof *h);
}

/* Key of a message key: H(direction || ratchet key || be32(counter)). */
static void key_id_digest(uint8_t out[32], int dir, const uint8_t rk[32], uint32_t counter)
{
    uint8_t buf[1 + 32 + 4];
    buf[0] = (uint8_t)dir;
    memcpy(buf + 1, rk, 32);
    for (int i = 0; i < 4; i++) buf[33 + i] = (uint8_t)(counter >> (24 - 8 * i));
    crypto_generichash(out, 32, buf, sizeof buf, NULL, 0);
}

/* ---------------------------------------------------------------- records */

/* Log records: le32(length) || type || fields. A child appends each with one
 * write(); a SIGKILL can still cut one short, so readers take only complete
 * records. */
typedef struct wbuf {
    uint8_t b[REC_MAX];
    size_t n;
} wbuf;

static void wb_begin(wbuf *w, char type)
{
    w->n = 4;
    w->b[w->n++] = (uint8_t)type;
}

static void wb_bytes(wbuf *w, const void *p, size_t n)
{
    if (w->n + n > sizeof w->b) _exit(6); /* children only: never ck_assert */
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void wb_uint(wbuf *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        wb_bytes(w, &c, 1);
    }
}

static void wb_put(int fd, wbuf *w)
{
    for (int i = 0; i < 4; i++) w->b[i] = (uint8_t)((w->n - 4) >> (8 * i));
    if (write(fd, w->b, w->n) != (ssize_t)w->n) _exit(4);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t n;
} rbuf;

static uint64_t rb_uint(rbuf *r, int bytes)
{
    uint64_t v = 0;
    if (r->n < (size_t)bytes) ck_abort_msg("log record too short");
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    r->n -= (size_t)bytes;
    return v;
}

static const uint8_t *rb_bytes(rbuf *r, size_t n)
{
    if (r->n < n) ck_abort_msg("log record too short");
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

/* The complete records of fd from *off on; a cut-short tail is truncated
 * away when trunc is set (the writer is dead). Returns a malloc'ed buffer. */
static uint8_t *read_records(size_t *len, int fd, off_t *off, int trunc)
{
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    size_t avail = sb.st_size > *off ? (size_t)(sb.st_size - *off) : 0;
    uint8_t *buf = malloc(avail + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert(pread(fd, buf, avail, *off) == (ssize_t)avail);
    size_t pos = 0;
    while (avail - pos >= 4) {
        size_t rl = (size_t)buf[pos] | (size_t)buf[pos + 1] << 8 | (size_t)buf[pos + 2] << 16 |
                    (size_t)buf[pos + 3] << 24;
        if (rl > avail - pos - 4) break;
        pos += 4 + rl;
    }
    if (trunc && pos < avail) ck_assert_int_eq(ftruncate(fd, *off + (off_t)pos), 0);
    *off += (off_t)pos;
    *len = pos;
    return buf;
}

/* Next record of buf, or 0 at the end. */
static int next_record(rbuf *rec, const uint8_t *buf, size_t len, size_t *pos)
{
    if (*pos >= len) return 0;
    size_t rl = (size_t)buf[*pos] | (size_t)buf[*pos + 1] << 8 | (size_t)buf[*pos + 2] << 16 |
                (size_t)buf[*pos + 3] << 24;
    rec->p = buf + *pos + 4;
    rec->n = rl;
    *pos += 4 + rl;
    return 1;
}

/* ---------------------------------------------------------------- crash: child */

/* dir 0: Alice (store 0) to Bob (store 1); dir 1: Bob to Alice. Each side
 * names the other by its contact name. */
static const char *to_name(int dir) { return dir == 0 ? "bob" : "alice"; }
static const char *from_name(int dir) { return dir == 0 ? "alice" : "bob"; }

typedef struct accepted {
    uint8_t digest[32];
    uint64_t inbox_id;
    int dir;
} accepted;

typedef struct child_ctx {
    int log;
    rbx_store *st[2];
    uint64_t rng;
    unsigned round, seq;
    accepted acc[256]; /* decrypted in this run, inbox not yet acked */
    size_t nacc;
    struct {
        uint8_t wire[WIRE_MAX];
        size_t len;
        int dir;
    } sent[8]; /* recently delivered: the network may deliver them again */
    size_t nsent;
} child_ctx;

static _Noreturn void child_fail(child_ctx *c, const char *op, int rc)
{
    wbuf w;
    wb_begin(&w, 'E');
    wb_uint(&w, (uint32_t)rc, 4);
    wb_bytes(&w, op, strlen(op));
    wb_put(c->log, &w);
    _exit(3);
}

/* A plaintext unique over the whole run: direction, round, sequence, and a
 * seeded amount of padding so the messages vary in size. */
static size_t make_pt(uint8_t pt[PT_MAX], int dir, unsigned round, unsigned seq, size_t pad)
{
    int n = snprintf((char *)pt, PT_MAX, "%c%u.%u:", dir == 0 ? 'a' : 'b', round, seq);
    if (n < 0 || (size_t)n + pad > PT_MAX) _exit(6);
    memset(pt + n, 'a' + (int)(seq % 26), pad);
    return (size_t)n + pad;
}

static void child_send(child_ctx *c, int dir, int batch)
{
    static uint8_t out[BATCH_MAX * WIRE_MAX];
    uint8_t pts[BATCH_MAX][PT_MAX];
    const uint8_t *pp[BATCH_MAX];
    size_t ptl[BATCH_MAX], off[BATCH_MAX], len[BATCH_MAX];
    uint64_t ids[BATCH_MAX];
    size_t n = batch ? 2 + (size_t)(tu_splitmix64(&c->rng) % (BATCH_MAX - 1)) : 1;
    for (size_t j = 0; j < n; j++) {
        ptl[j] = make_pt(pts[j], dir, c->round, c->seq++, (size_t)(tu_splitmix64(&c->rng) % 200));
        pp[j] = pts[j];
    }
    int rc;
    if (batch) {
        rc = rbx_store_encrypt_batch(c->st[dir], out, sizeof out, off, len, ids, to_name(dir), 1,
                                     pp, ptl, n, NULL);
    } else {
        off[0] = 0;
        rc = rbx_store_encrypt(c->st[dir], out, sizeof out, &len[0], &ids[0], to_name(dir), 1,
                               pts[0], ptl[0], NULL);
    }
    if (rc != 0) child_fail(c, batch ? "encrypt_batch" : "encrypt", rc);
    for (size_t j = 0; j < n; j++) {
        wbuf w;
        wb_begin(&w, 'S');
        wb_uint(&w, (uint64_t)dir, 1);
        wb_uint(&w, ids[j], 8);
        wb_uint(&w, ptl[j], 2);
        wb_bytes(&w, pts[j], ptl[j]);
        wb_uint(&w, len[j], 4);
        wb_bytes(&w, out + off[j], len[j]);
        wb_put(c->log, &w);
    }
}

/* Row `skip` of the outbox in id order: a slightly out-of-order network. */
static int outbox_pick(rbx_store *st, uint8_t *wire, size_t *wl, uint64_t *id, unsigned skip)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(rbx__store_db(st), "SELECT id, wire FROM outbox ORDER BY id LIMIT 1 OFFSET ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return RBX_E_IO;
    sqlite3_bind_int(s, 1, (int)skip);
    int rc = sqlite3_step(s), ret = RBX_E_NOT_FOUND;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) <= WIRE_MAX) {
        *id = (uint64_t)sqlite3_column_int64(s, 0);
        *wl = (size_t)sqlite3_column_bytes(s, 1);
        memcpy(wire, sqlite3_column_blob(s, 1), *wl);
        ret = 0;
    } else if (rc != SQLITE_DONE) {
        ret = RBX_E_IO;
    }
    sqlite3_finalize(s);
    return ret;
}

/* Decrypt at the peer and log the result (before any acknowledgement). */
static int child_decrypt(child_ctx *c, int dir, const uint8_t *wire, size_t wl, uint64_t *inbox_id,
                         uint8_t digest[32])
{
    uint8_t pt[WIRE_MAX];
    size_t ptlen;
    rbx_received info;
    int rc = rbx_store_decrypt(c->st[1 - dir], pt, sizeof pt, &ptlen, &info, from_name(dir), 1,
                               wire, wl);
    crypto_generichash(digest, 32, wire, wl, NULL, 0);
    wbuf w;
    wb_begin(&w, 'D');
    wb_uint(&w, (uint64_t)dir, 1);
    wb_bytes(&w, digest, 32);
    wb_uint(&w, (uint32_t)rc, 4);
    wb_uint(&w, (uint64_t)info.redelivered, 1);
    wb_uint(&w, info.inbox_id, 8);
    wb_uint(&w, rc == 0 ? ptlen : 0, 2);
    wb_bytes(&w, pt, rc == 0 ? ptlen : 0);
    wb_put(c->log, &w);
    if (rc != 0 && rc != RBX_E_REPLAY) child_fail(c, "decrypt", rc);
    *inbox_id = info.inbox_id;
    return rc;
}

/* The network: take an outbox entry, decrypt it at the peer, log the result,
 * and only then acknowledge it (so an acked entry always has a logged
 * decrypt). */
static void child_deliver(child_ctx *c, int dir)
{
    uint8_t wire[WIRE_MAX], digest[32];
    size_t wl = 0;
    uint64_t oid = 0, inbox_id;
    char nm[RBX_NAME_MAX];
    uint32_t dev;
    int rc = RBX_E_NOT_FOUND;
    if (tu_splitmix64(&c->rng) % 4 == 0)
        rc = outbox_pick(c->st[dir], wire, &wl, &oid, (unsigned)(tu_splitmix64(&c->rng) % 8));
    if (rc == RBX_E_NOT_FOUND)
        rc = rbx_store_outbox_next(c->st[dir], wire, sizeof wire, &wl, &oid, nm, &dev);
    if (rc == RBX_E_NOT_FOUND) return;
    if (rc != 0) child_fail(c, "outbox_next", rc);
    rc = child_decrypt(c, dir, wire, wl, &inbox_id, digest);
    if (rc == 0 && c->nacc < sizeof c->acc / sizeof c->acc[0]) {
        accepted *a = &c->acc[c->nacc++];
        memcpy(a->digest, digest, 32);
        a->inbox_id = inbox_id;
        a->dir = dir;
    }
    if ((rc = rbx_store_ack_outbox(c->st[dir], oid)) != 0) child_fail(c, "ack_outbox", rc);
    size_t j = c->nsent < 8 ? c->nsent++ : (size_t)(tu_splitmix64(&c->rng) % 8);
    memcpy(c->sent[j].wire, wire, wl);
    c->sent[j].len = wl;
    c->sent[j].dir = dir;
}

/* The network delivers a message again: the inbox answers (redelivered), or
 * after an inbox ack the ratchet refuses it (RBX_E_REPLAY). */
static void child_duplicate(child_ctx *c)
{
    uint8_t digest[32];
    uint64_t inbox_id;
    if (c->nsent == 0) return;
    size_t j = (size_t)(tu_splitmix64(&c->rng) % c->nsent);
    (void)child_decrypt(c, c->sent[j].dir, c->sent[j].wire, c->sent[j].len, &inbox_id, digest);
}

/* The application consumed a received message: log the intent, then ack. */
static void child_ack_inbox(child_ctx *c)
{
    if (c->nacc == 0) return;
    size_t j = (size_t)(tu_splitmix64(&c->rng) % c->nacc);
    accepted a = c->acc[j];
    c->acc[j] = c->acc[--c->nacc];
    wbuf w;
    wb_begin(&w, 'I');
    wb_uint(&w, (uint64_t)a.dir, 1);
    wb_bytes(&w, a.digest, 32);
    wb_uint(&w, a.inbox_id, 8);
    wb_put(c->log, &w);
    int rc = rbx_store_ack_inbox(c->st[1 - a.dir], a.inbox_id);
    if (rc != 0) child_fail(c, "ack_inbox", rc);
}

static _Noreturn void crash_child(const char *pa, const char *pb, const char *logpath,
                                  uint64_t seed, unsigned round)
{
    static child_ctx c;
    memset(&c, 0, sizeof c);
    c.rng = seed;
    c.round = round;
    c.log = open(logpath, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (c.log < 0) _exit(5);
    /* Both at-rest modes; small erase intervals put checkpoints (erase
     * points) under the kills too. */
    rbx_store_opts o = store_opts(0);
    o.mode = tu_splitmix64(&c.rng) % 2 ? RBX_STORE_STRICT : RBX_STORE_BOUNDED;
    o.erase_commits = 1 + (unsigned)(tu_splitmix64(&c.rng) % 16);
    int rc;
    if ((rc = rbx_store_open(&c.st[0], pa, &o)) != 0) child_fail(&c, "open alice", rc);
    if ((rc = rbx_store_open(&c.st[1], pb, &o)) != 0) child_fail(&c, "open bob", rc);
    /* Per iteration Alice sends 0.30 messages and Bob 0.18, and the network
     * offers 0.35 and 0.22 deliveries: the outboxes stay short. */
    for (;;) {
        unsigned r = (unsigned)(tu_splitmix64(&c.rng) % 100);
        if (r < 15) {
            child_send(&c, 0, 0);
        } else if (r < 20) {
            child_send(&c, 0, 1); /* 2..4 messages */
        } else if (r < 32) {
            /* Bob answers once he has a session (from Alice's first message). */
            rbx_session_info si;
            uint64_t gen;
            rc = rbx_store_session_info(c.st[1], &si, &gen, "alice", 1);
            if (rc == 0) child_send(&c, 1, r >= 29);
            else if (rc != RBX_E_NOT_FOUND) child_fail(&c, "session_info", rc);
        } else if (r < 67) {
            child_deliver(&c, 0);
        } else if (r < 89) {
            child_deliver(&c, 1);
        } else if (r < 92) {
            child_duplicate(&c);
        } else {
            child_ack_inbox(&c);
        }
    }
}

/* ---------------------------------------------------------------- crash: parent */

typedef struct cmsg {
    uint8_t *wire;
    size_t len;
    uint8_t pt[PT_MAX];
    size_t ptlen;
    int pt_known;
    int dir;
    int logged;       /* returned by encrypt (else only found in an outbox) */
    int fresh;        /* decrypts that accepted it as new */
    int redelivered;  /* a decrypt returned it from the inbox */
    int ack_intent;   /* the receiver acked (or was about to ack) its inbox entry */
    uint64_t inbox_id;
    unsigned outbox_round; /* last round it was seen in the sender's outbox */
    int pending_check;
    uint32_t chain;   /* index of its sending chain (ratchet key) in its direction */
} cmsg;

typedef struct model {
    cmsg *m;
    size_t n, cap;
    htab by_digest, by_key, chains;
    uint32_t nchains[2];
    unsigned kept[2];
    size_t *pending;
    size_t npending, cappending;
    size_t outbox_only, fresh, redelivered, replays, auth_refusals, acks, checks;
} model;

static int accepted_msg(const cmsg *m) { return m->fresh > 0 || m->redelivered; }

/* A message whose inbox entry was acked comes again (PROTOCOL.md 12 "Old
 * messages"): RBX_E_REPLAY while its chain is the receiver's current one or
 * one of the last RBX_RECENT_CHAINS it replaced; after that the chain is
 * forgotten and RBX_E_AUTH is the answer. The receiver has stepped through
 * at most as many newer chains as the sender has started, so RBX_E_AUTH is
 * allowed only when more than RBX_RECENT_CHAINS newer sending chains exist. */
static int refusal_ok(model *md, const cmsg *m, int rc)
{
    if (rc == RBX_E_REPLAY) {
        md->replays++;
        return 1;
    }
    if (rc == RBX_E_AUTH && md->nchains[m->dir] - 1 - m->chain > RBX_RECENT_CHAINS) {
        md->auth_refusals++;
        return 1;
    }
    return 0;
}

static cmsg *model_add(model *md, int dir, const uint8_t *wire, size_t len, int logged)
{
    uint8_t digest[32], rk[32], kid[32];
    uint32_t counter;
    crypto_generichash(digest, sizeof digest, wire, len, NULL, 0);
    int64_t idx = ht_get(&md->by_digest, digest);
    if (idx >= 0) {
        cmsg *m = &md->m[idx];
        ck_assert_int_eq(m->dir, dir);
        m->logged |= logged;
        return m;
    }
    if (md->n == md->cap) {
        md->cap = md->cap ? 2 * md->cap : 1024;
        md->m = realloc(md->m, md->cap * sizeof *md->m);
        ck_assert_ptr_nonnull(md->m);
    }
    cmsg *m = &md->m[md->n];
    memset(m, 0, sizeof *m);
    m->wire = malloc(len);
    ck_assert_ptr_nonnull(m->wire);
    memcpy(m->wire, wire, len);
    m->len = len;
    m->dir = dir;
    m->logged = logged;
    md->outbox_only += !logged;
    ck_assert_msg(wire_key_id(rk, &counter, wire, len) == 0, "a released ciphertext does not parse");
    key_id_digest(kid, dir, rk, counter);
    int64_t other = ht_get(&md->by_key, kid);
    if (other >= 0) {
        char *hex = tu_hex(rk, 32);
        ck_abort_msg("message key reused: ratchet key %s counter %u encrypts two different "
                     "ciphertexts (released messages %lld and %zu, direction %d)",
                     hex, counter, (long long)other, md->n, dir);
    }
    ht_put(&md->by_key, kid, (int64_t)md->n);
    ht_put(&md->by_digest, digest, (int64_t)md->n);
    key_id_digest(kid, dir, rk, UINT32_MAX); /* the chain: (direction, ratchet key) */
    int64_t chain = ht_get(&md->chains, kid);
    if (chain < 0) ht_put(&md->chains, kid, chain = md->nchains[dir]++);
    m->chain = (uint32_t)chain;
    md->n++;
    return m;
}

static cmsg *model_find(model *md, int dir, const uint8_t digest[32])
{
    int64_t idx = ht_get(&md->by_digest, digest);
    ck_assert_msg(idx >= 0, "direction %d: a decrypt of a ciphertext that was never released", dir);
    ck_assert_int_eq(md->m[idx].dir, dir);
    return &md->m[idx];
}

static void set_pt(cmsg *m, const uint8_t *pt, size_t ptlen)
{
    if (m->pt_known) {
        ck_assert_msg(ptlen == m->ptlen && memcmp(pt, m->pt, ptlen) == 0,
                      "decrypt returned a different plaintext than was encrypted");
        return;
    }
    ck_assert_uint_le(ptlen, PT_MAX);
    memcpy(m->pt, pt, ptlen);
    m->ptlen = ptlen;
    m->pt_known = 1;
}

/* One decrypt result, from a child's log or from the final drain. */
static void note_decrypt(model *md, int dir, const uint8_t digest[32], int rc, int redelivered,
                         uint64_t inbox_id, const uint8_t *pt, size_t ptlen)
{
    cmsg *m = model_find(md, dir, digest);
    size_t idx = (size_t)(m - md->m);
    if (rc != 0 && accepted_msg(m) && m->ack_intent) {
        ck_assert_msg(refusal_ok(md, m, rc), "message %zu: a duplicate after the inbox ack gets %s "
                      "(%u newer sending chains)", idx, rbx_strerror(rc),
                      md->nchains[m->dir] - 1 - m->chain);
        return;
    }
    ck_assert_msg(rc != RBX_E_REPLAY, "message %zu: RBX_E_REPLAY although it was %s", idx,
                  accepted_msg(m) ? "still in the inbox" : "never decrypted");
    ck_assert_msg(rc == 0, "message %zu: decrypt failed: %s", idx, rbx_strerror(rc));
    set_pt(m, pt, ptlen);
    if (m->inbox_id != 0)
        ck_assert_msg(m->inbox_id == inbox_id, "message %zu: inbox id %llu, earlier %llu", idx,
                      (unsigned long long)inbox_id, (unsigned long long)m->inbox_id);
    m->inbox_id = inbox_id;
    if (!accepted_msg(m) && !m->pending_check) {
        if (md->npending == md->cappending) {
            md->cappending = md->cappending ? 2 * md->cappending : 256;
            md->pending = realloc(md->pending, md->cappending * sizeof *md->pending);
            ck_assert_ptr_nonnull(md->pending);
        }
        md->pending[md->npending++] = idx;
        m->pending_check = 1;
    }
    if (redelivered) {
        m->redelivered = 1;
        md->redelivered++;
    } else {
        ck_assert_msg(m->fresh == 0 && !m->redelivered,
                      "message %zu decrypted as new twice (exactly-once broken)", idx);
        m->fresh = 1;
        md->fresh++;
    }
}

/* Read the dead child's new log records into the model. */
static void absorb_log(model *md, int fd, off_t *off, unsigned round)
{
    size_t len, pos = 0;
    uint8_t *buf = read_records(&len, fd, off, 1);
    rbuf r;
    while (next_record(&r, buf, len, &pos)) {
        char type = (char)rb_uint(&r, 1);
        if (type == 'S') {
            int dir = (int)rb_uint(&r, 1);
            (void)rb_uint(&r, 8);
            size_t ptlen = (size_t)rb_uint(&r, 2);
            const uint8_t *pt = rb_bytes(&r, ptlen);
            size_t wl = (size_t)rb_uint(&r, 4);
            cmsg *m = model_add(md, dir, rb_bytes(&r, wl), wl, 1);
            set_pt(m, pt, ptlen);
        } else if (type == 'D') {
            int dir = (int)rb_uint(&r, 1);
            const uint8_t *digest = rb_bytes(&r, 32);
            int rc = (int)(int32_t)rb_uint(&r, 4);
            int redelivered = (int)rb_uint(&r, 1);
            uint64_t inbox_id = rb_uint(&r, 8);
            size_t ptlen = (size_t)rb_uint(&r, 2);
            note_decrypt(md, dir, digest, rc, redelivered, inbox_id, rb_bytes(&r, ptlen), ptlen);
        } else if (type == 'I') {
            int dir = (int)rb_uint(&r, 1);
            cmsg *m = model_find(md, dir, rb_bytes(&r, 32));
            uint64_t inbox_id = rb_uint(&r, 8);
            ck_assert_msg(accepted_msg(m) && m->inbox_id == inbox_id, "inbox ack of unknown id");
            m->ack_intent = 1;
            md->acks++;
        } else if (type == 'E') {
            int rc = (int)(int32_t)rb_uint(&r, 4);
            ck_abort_msg("round %u: the child failed: %.*s: %s", round, (int)r.n, (const char *)r.p,
                         rbx_strerror(rc));
        } else {
            ck_abort_msg("round %u: unknown log record %d", round, type);
        }
    }
    free(buf);
}

/* Every ciphertext in st's outbox counts as released. */
static void scan_outbox(model *md, rbx_store *st, int dir, unsigned round)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st), "SELECT wire FROM outbox", -1, &s, NULL),
                     SQLITE_OK);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        cmsg *m = model_add(md, dir, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0), 0);
        m->outbox_round = round;
    }
    ck_assert_int_eq(rc, SQLITE_DONE);
    sqlite3_finalize(s);
}

/* Rows of the receiver's inbox with this id, and with this digest: tells a
 * lost row from a failed lookup in a failure message. */
static int64_t inbox_rows(rbx_store *st, const char *sql, int64_t id, const uint8_t *digest)
{
    sqlite3_stmt *s;
    int64_t n = -1;
    if (sqlite3_prepare_v2(rbx__store_db(st), sql, -1, &s, NULL) != SQLITE_OK) return -1;
    if (digest != NULL) sqlite3_bind_blob(s, 1, digest, 32, SQLITE_STATIC);
    else sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Redeliver m to its receiver: the inbox must still give its plaintext back
 * (or, after an inbox ack, the ratchet refuses it). Returns 1 if the inbox
 * entry is there. */
static int check_inbox(model *md, rbx_store *st[2], cmsg *m, const char *when)
{
    uint8_t pt[WIRE_MAX];
    size_t ptlen;
    rbx_received info;
    size_t idx = (size_t)(m - md->m);
    int rc = rbx_store_decrypt(st[1 - m->dir], pt, sizeof pt, &ptlen, &info, from_name(m->dir), 1,
                               m->wire, m->len);
    md->checks++;
    if (rc != 0 && m->ack_intent && refusal_ok(md, m, rc)) return 0;
    if (rc != 0) {
        uint8_t digest[32];
        crypto_generichash(digest, sizeof digest, m->wire, m->len, NULL, 0);
        ck_abort_msg("%s: message %zu (direction %d, %s, inbox id %llu%s) was decrypted but its "
                     "redelivery fails: %s; inbox rows with its id: %lld, with its digest: %lld",
                     when, idx, m->dir, m->logged ? "returned by encrypt" : "found in an outbox",
                     (unsigned long long)m->inbox_id, m->ack_intent ? ", ack logged" : "",
                     rbx_strerror(rc),
                     (long long)inbox_rows(st[1 - m->dir], "SELECT count(*) FROM inbox WHERE id = ?1",
                                           (int64_t)m->inbox_id, NULL),
                     (long long)inbox_rows(st[1 - m->dir], "SELECT count(*) FROM inbox WHERE digest = ?1",
                                           0, digest));
    }
    ck_assert_msg(info.redelivered == 1, "message %zu: decrypted earlier, yet accepted as new "
                                         "(its plaintext was not in the inbox)", idx);
    ck_assert_msg(info.inbox_id == m->inbox_id, "message %zu: inbox id changed", idx);
    ck_assert_msg(m->pt_known && ptlen == m->ptlen && memcmp(pt, m->pt, ptlen) == 0,
                  "message %zu: the inbox holds another plaintext", idx);
    return 1;
}

static void open_pair(rbx_store *st[2], const char *pa, const char *pb, unsigned round)
{
    int rc = open_store(&st[0], pa);
    ck_assert_msg(rc == 0, "round %u: Alice's store does not open: %s", round, rbx_strerror(rc));
    rc = open_store(&st[1], pb);
    ck_assert_msg(rc == 0, "round %u: Bob's store does not open: %s", round, rbx_strerror(rc));
}

/* After a kill: the whole run so far must be consistent. */
static void crash_check_round(model *md, const char *pa, const char *pb, int logfd, off_t *logoff,
                              unsigned round)
{
    rbx_store *st[2];
    db_integrity_ok(pa);
    db_integrity_ok(pb);
    absorb_log(md, logfd, logoff, round);
    open_pair(st, pa, pb, round);
    scan_outbox(md, st[0], 0, round);
    scan_outbox(md, st[1], 1, round);
    /* Every ck_assert appends to Check's message file: none in per-message
     * loops that run every round. */
    for (size_t i = 0; i < md->n; i++)
        if (md->m[i].outbox_round != round && !accepted_msg(&md->m[i]))
            ck_abort_msg("round %u: message %zu (direction %d, %s) left the outbox but was never "
                         "decrypted", round, i, md->m[i].dir,
                         md->m[i].logged ? "returned by encrypt" : "found in the outbox");
    char when[32];
    snprintf(when, sizeof when, "round %u", round);
    for (size_t i = 0; i < md->npending; i++) {
        cmsg *m = &md->m[md->pending[i]];
        if (!check_inbox(md, st, m, when)) continue;
        /* The application consumes what it verified, except the first
         * INBOX_KEEP entries, which must survive every later kill and erase
         * point; the databases stay small, so long runs do not slow down. */
        if (md->kept[m->dir] < INBOX_KEEP) {
            md->kept[m->dir]++;
            continue;
        }
        m->ack_intent = 1;
        ck_assert_int_eq(rbx_store_ack_inbox(st[1 - m->dir], m->inbox_id), 0);
        md->acks++;
    }
    md->npending = 0;
    unsigned full = (unsigned)tu_env_u64("RBX_CRASH_FULLCHECK", 0);
    if (full != 0 && round % full == 0)
        for (size_t i = 0; i < md->n; i++)
            if (accepted_msg(&md->m[i])) (void)check_inbox(md, st, &md->m[i], when);
    rbx_store_close(st[0]);
    rbx_store_close(st[1]);
}

/* Deliver everything still in both outboxes, then check exactly-once for
 * every released ciphertext and the inbox row count. */
static void crash_final(model *md, const char *pa, const char *pb, unsigned round)
{
    rbx_store *st[2];
    uint8_t wire[WIRE_MAX], pt[WIRE_MAX], digest[32];
    size_t wl, ptlen;
    uint64_t oid;
    char nm[RBX_NAME_MAX];
    uint32_t dev;
    rbx_received info;
    open_pair(st, pa, pb, round);
    scan_outbox(md, st[0], 0, round);
    scan_outbox(md, st[1], 1, round);
    for (int dir = 0; dir < 2; dir++) {
        int rc;
        while ((rc = rbx_store_outbox_next(st[dir], wire, sizeof wire, &wl, &oid, nm, &dev)) == 0) {
            rc = rbx_store_decrypt(st[1 - dir], pt, sizeof pt, &ptlen, &info, from_name(dir), 1,
                                   wire, wl);
            crypto_generichash(digest, sizeof digest, wire, wl, NULL, 0);
            note_decrypt(md, dir, digest, rc, info.redelivered, info.inbox_id, pt, rc == 0 ? ptlen : 0);
            ck_assert_int_eq(rbx_store_ack_outbox(st[dir], oid), 0);
        }
        ck_assert_int_eq(rc, RBX_E_NOT_FOUND);
    }
    int64_t rows[2] = { 0, 0 };
    for (size_t i = 0; i < md->n; i++) {
        cmsg *m = &md->m[i];
        ck_assert_msg(accepted_msg(m), "message %zu (direction %d) was released but never decrypted",
                      i, m->dir);
        rows[m->dir] += check_inbox(md, st, m, "final check");
    }
    ck_assert_int_eq(q_int(st[1], "SELECT count(*) FROM inbox"), rows[0]);
    ck_assert_int_eq(q_int(st[0], "SELECT count(*) FROM inbox"), rows[1]);
    ck_assert_int_eq(q_int(st[0], "SELECT count(*) FROM outbox"), 0);
    ck_assert_int_eq(q_int(st[1], "SELECT count(*) FROM outbox"), 0);
    rbx_store_close(st[0]);
    rbx_store_close(st[1]);
}

/* Ciphertexts released per direction in the log records after off; a
 * record the child is still writing is not counted, nothing is consumed. */
static void peek_released(int fd, off_t off, size_t released[2])
{
    size_t len, pos = 0;
    rbuf r;
    uint8_t *buf = read_records(&len, fd, &off, 0);
    released[0] = released[1] = 0;
    while (next_record(&r, buf, len, &pos))
        if (r.n >= 2 && r.p[0] == 'S') released[r.p[1] & 1]++;
    free(buf);
}

/* Wait until the child's log holds want[d] new released ciphertexts per
 * direction (from *off on), then a seeded delay, then SIGKILL. A child that
 * exits by itself (a failure it logged) is returned as it is; one that
 * releases nothing for a minute is a hang. */
static int kill_after_release(pid_t pid, int fd, off_t off, const size_t want[2], unsigned delay_us)
{
    double t0 = tu_now_s();
    for (;;) {
        size_t got[2];
        int status;
        peek_released(fd, off, got);
        if (got[0] >= want[0] && got[1] >= want[1]) break;
        if (waitpid(pid, &status, WNOHANG) == pid) return status;
        ck_assert_msg(tu_now_s() - t0 < 60.0, "the child released %zu+%zu of %zu+%zu ciphertexts "
                      "in a minute: hung", got[0], got[1], want[0], want[1]);
        tu_sleep_us(200);
    }
    return tu_kill_child(pid, delay_us);
}

START_TEST(crash_kill_loop)
{
    char pa[1024], pb[1024], logpath[1024];
    const char *dir = scratch_dir();
    unsigned kills = (unsigned)tu_env_u64("RBX_CRASH_KILLS", CRASH_KILLS);
    uint64_t seed = tu_env_u64("RBX_CRASH_SEED", 0x72627864757261ULL), rng = seed;
    model md;
    memset(&md, 0, sizeof md);
    tu_rng_system();
    tu_path_in(pa, sizeof pa, dir, "alice.db");
    tu_path_in(pb, sizeof pb, dir, "bob.db");
    tu_path_in(logpath, sizeof logpath, dir, "log");
    setup_pair(pa, pb);
    int logfd = open(logpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ck_assert_int_ge(logfd, 0);
    off_t logoff = 0;
    size_t waited[2] = { 0, 0 };
    double t0 = tu_now_s();
    for (unsigned round = 1; round <= kills; round++) {
        uint64_t child_seed = tu_splitmix64(&rng);
        uint64_t r = tu_splitmix64(&rng);
        int early = round % 4 != 1;
        size_t want[2] = { early ? 0 : 1, !early && round % 8 == 1 ? 1 : 0 };
        unsigned delay = (unsigned)((r >> 8) % ((early ? CRASH_DELAY_US : CRASH_AFTER_US) + 1));
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) crash_child(pa, pb, logpath, child_seed, round);
        int status = early ? tu_kill_child(pid, delay)
                           : kill_after_release(pid, logfd, logoff, want, delay);
        waited[0] += want[0];
        waited[1] += want[1];
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            absorb_log(&md, logfd, &logoff, round); /* reports an 'E' record */
            ck_abort_msg("round %u: the child exited by itself (status %d)", round, status);
        }
        crash_check_round(&md, pa, pb, logfd, &logoff, round);
        if (kills > CRASH_KILLS && round % 500 == 0)
            fprintf(stderr, "durability/crash: %u of %u kills, %.0f s, %zu ciphertexts\n", round,
                    kills, tu_now_s() - t0, md.n);
    }
    double t1 = tu_now_s();
    crash_final(&md, pa, pb, kills + 1);
    size_t logged = 0, per_dir[2] = { 0, 0 };
    for (size_t i = 0; i < md.n; i++) logged += md.m[i].logged, per_dir[md.m[i].dir]++;
    fprintf(stderr,
            "durability/crash: seed %llu, %u kills in %.1f s (+%.1f s final check): %zu "
            "ciphertexts released (%zu Alice->Bob, %zu Bob->Alice; %zu returned by encrypt, %zu "
            "found only in an outbox), %zu decrypted exactly once, %zu redeliveries from the "
            "inbox, %zu inbox acks, then %zu duplicates refused with RBX_E_REPLAY and %zu with "
            "RBX_E_AUTH (forgotten chains), %zu inbox checks\n",
            (unsigned long long)seed, kills, t1 - t0, tu_now_s() - t1, md.n, per_dir[0], per_dir[1],
            logged, md.outbox_only, md.n, md.redelivered, md.acks, md.replays, md.auth_refusals,
            md.checks);
    /* A run that releases nothing proves nothing: the kills waited for
     * these many releases (kills / 4 and kills / 8 per direction by the
     * schedule above), whatever the machine's load. */
    ck_assert_uint_ge(waited[0], kills / 10);
    ck_assert_uint_ge(waited[1], kills / 40);
    ck_assert_uint_ge(per_dir[0], waited[0]);
    ck_assert_uint_ge(per_dir[1], waited[1]);
    for (size_t i = 0; i < md.n; i++) free(md.m[i].wire);
    free(md.m);
    free(md.pending);
    ht_free(&md.by_digest);
    ht_free(&md.by_key);
    ht_free(&md.chains);
    close(logfd);
}
END_TEST

/* ---------------------------------------------------------------- concurrency */

/* One of four writers: its own handle on Alice's database, 500 messages. */
static _Noreturn void conc_writer(const char *pa, const char *outpath, int k)
{
    int fd = open(outpath, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) _exit(5);
    static uint8_t wire[WIRE_MAX];
    wbuf w;
    rbx_store *a;
    double t0 = tu_now_s(), worst = 0;
    int rc = open_store(&a, pa);
    for (int i = 0; i < PER_WRITER && rc == 0; i++) {
        char pt[32];
        size_t wl;
        uint64_t oid;
        int n = snprintf(pt, sizeof pt, "w%d.%d", k, i);
        double t = tu_now_s();
        rc = rbx_store_encrypt(a, wire, sizeof wire, &wl, &oid, "bob", 1, (const uint8_t *)pt,
                               (size_t)n, NULL);
        if (tu_now_s() - t > worst) worst = tu_now_s() - t;
        if (rc != 0) {
            wb_begin(&w, 'E');
            wb_uint(&w, (uint64_t)i, 4);
            wb_uint(&w, (uint32_t)rc, 4);
            wb_put(fd, &w);
            _exit(3);
        }
        wb_begin(&w, 'S');
        wb_uint(&w, (uint64_t)i, 4);
        wb_uint(&w, wl, 4);
        wb_bytes(&w, wire, wl);
        wb_put(fd, &w);
    }
    if (rc != 0) { /* the open failed */
        wb_begin(&w, 'E');
        wb_uint(&w, UINT32_MAX, 4);
        wb_uint(&w, (uint32_t)rc, 4);
        wb_put(fd, &w);
        _exit(3);
    }
    rbx_store_close(a);
    wb_begin(&w, 'T');
    wb_uint(&w, (uint64_t)((tu_now_s() - t0) * 1e6), 8);
    wb_uint(&w, (uint64_t)(worst * 1e6), 8);
    wb_put(fd, &w);
    _exit(0);
}

/* Bob: decrypts each writer's ciphertexts as they appear in its file. */
static _Noreturn void conc_reader(const char *pb, char outpaths[WRITERS][1024], const char *respath)
{
    int in[WRITERS], res = open(respath, O_WRONLY | O_APPEND | O_CLOEXEC);
    off_t off[WRITERS] = { 0 };
    static uint8_t rec[REC_MAX], pt[WIRE_MAX];
    rbx_store *b;
    wbuf w;
    if (res < 0) _exit(5);
    for (int k = 0; k < WRITERS; k++)
        if ((in[k] = open(outpaths[k], O_RDONLY | O_CLOEXEC)) < 0) _exit(5);
    int rc = open_store(&b, pb);
    if (rc != 0) _exit(6);
    double deadline = tu_now_s() + 300;
    int total = 0;
    while (total < WRITERS * PER_WRITER) {
        int progress = 0;
        for (int k = 0; k < WRITERS; k++) {
            uint8_t hdr[4];
            if (pread(in[k], hdr, 4, off[k]) != 4) continue;
            size_t rl = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 |
                        (size_t)hdr[3] << 24;
            if (rl > sizeof rec) _exit(7);
            if (pread(in[k], rec, rl, off[k] + 4) != (ssize_t)rl) continue; /* not complete yet */
            off[k] += (off_t)(4 + rl);
            if (rec[0] != 'S') continue; /* the writer's timing record, or its error */
            rbuf r = { rec + 1, rl - 1 };
            uint32_t i = (uint32_t)rb_uint(&r, 4);
            size_t wl = (size_t)rb_uint(&r, 4);
            size_t ptlen = 0;
            rbx_received info;
            memset(&info, 0, sizeof info);
            rc = rbx_store_decrypt(b, pt, sizeof pt, &ptlen, &info, "alice", 1, rb_bytes(&r, wl), wl);
            wb_begin(&w, 'R');
            wb_uint(&w, (uint64_t)k, 1);
            wb_uint(&w, i, 4);
            wb_uint(&w, (uint32_t)rc, 4);
            wb_uint(&w, (uint64_t)info.redelivered, 1);
            wb_uint(&w, info.inbox_id, 8);
            wb_uint(&w, ptlen, 2);
            wb_bytes(&w, pt, ptlen);
            wb_put(res, &w);
            if (rc != 0) _exit(3);
            total++;
            progress = 1;
        }
        if (!progress) {
            if (tu_now_s() > deadline) _exit(4);
            tu_sleep_us(200);
        }
    }
    rbx_store_close(b);
    _exit(0);
}

static const char *exit_text(int status, char *buf, size_t cap)
{
    if (WIFEXITED(status)) snprintf(buf, cap, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, cap, "signal %d", WTERMSIG(status));
    else snprintf(buf, cap, "status %d", status);
    return buf;
}

START_TEST(concurrent_writers)
{
    char pa[1024], pb[1024], respath[1024], outpaths[WRITERS][1024], why[64];
    const char *dir = scratch_dir();
    pid_t writers[WRITERS], reader;
    htab keys = { 0 }, digests = { 0 };
    tu_rng_system();
    tu_path_in(pa, sizeof pa, dir, "alice.db");
    tu_path_in(pb, sizeof pb, dir, "bob.db");
    tu_path_in(respath, sizeof respath, dir, "results");
    setup_pair(pa, pb);
    int fds[WRITERS + 1];
    for (int k = 0; k <= WRITERS; k++) {
        char name[32];
        snprintf(name, sizeof name, "writer%d", k);
        if (k < WRITERS) tu_path_in(outpaths[k], sizeof outpaths[k], dir, name);
        fds[k] = open(k < WRITERS ? outpaths[k] : respath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fds[k], 0);
    }

    double t0 = tu_now_s();
    reader = fork();
    ck_assert_int_ge(reader, 0);
    if (reader == 0) conc_reader(pb, outpaths, respath);
    for (int k = 0; k < WRITERS; k++) {
        writers[k] = fork();
        ck_assert_int_ge(writers[k], 0);
        if (writers[k] == 0) conc_writer(pa, outpaths[k], k);
    }
    int failed = 0;
    char report[WRITERS][128];
    for (int k = 0; k < WRITERS; k++) {
        int status = tu_wait_child(writers[k]);
        snprintf(report[k], sizeof report[k], "writer %d: %s", k, exit_text(status, why, sizeof why));
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double t_writers = tu_now_s() - t0;
    int status = failed ? tu_kill_child(reader, 0) : tu_wait_child(reader);
    double t_reader = tu_now_s() - t0;

    /* The writers' files: every released ciphertext, or the error a writer met. */
    uint8_t *wires[WRITERS][PER_WRITER] = { { NULL } };
    size_t wlens[WRITERS][PER_WRITER];
    double busy_worst = 0, writer_time[WRITERS] = { 0 };
    for (int k = 0; k < WRITERS; k++) {
        off_t off = 0;
        size_t len, pos = 0;
        int count = 0;
        uint8_t *buf = read_records(&len, fds[k], &off, 0);
        rbuf r;
        while (next_record(&r, buf, len, &pos)) {
            char type = (char)rb_uint(&r, 1);
            if (type == 'E') {
                uint32_t i = (uint32_t)rb_uint(&r, 4);
                int rc = (int)(int32_t)rb_uint(&r, 4);
                if (i == UINT32_MAX)
                    ck_abort_msg("writer %d: open failed: %s (%d)", k, rbx_strerror(rc), rc);
                ck_abort_msg("writer %d: encrypt of message %u failed: %s (%d)", k, i,
                             rbx_strerror(rc), rc);
            } else if (type == 'T') {
                writer_time[k] = (double)rb_uint(&r, 8) / 1e6;
                double worst = (double)rb_uint(&r, 8) / 1e6;
                if (worst > busy_worst) busy_worst = worst;
                continue;
            }
            ck_assert_int_eq(type, 'S');
            int i = (int)rb_uint(&r, 4);
            ck_assert_int_eq(i, count);
            size_t wl = (size_t)rb_uint(&r, 4);
            const uint8_t *wire = rb_bytes(&r, wl);
            uint8_t rk[32], kid[32], digest[32];
            uint32_t counter;
            ck_assert_msg(wire_key_id(rk, &counter, wire, wl) == 0, "writer %d message %d: bad wire", k, i);
            ck_assert_int_eq(rbx_message_prekey_info(NULL, wire, wl), 1); /* no reply yet */
            key_id_digest(kid, 0, rk, counter);
            int64_t other = ht_get(&keys, kid);
            ck_assert_msg(other < 0, "message key reused: counter %u for writer %d message %d and "
                          "writer %lld message %lld", counter, k, i, (long long)(other / PER_WRITER),
                          (long long)(other % PER_WRITER));
            ht_put(&keys, kid, (int64_t)(k * PER_WRITER + i));
            crypto_generichash(digest, sizeof digest, wire, wl, NULL, 0);
            ht_put(&digests, digest, (int64_t)(k * PER_WRITER + i));
            wires[k][i] = malloc(wl);
            ck_assert_ptr_nonnull(wires[k][i]);
            memcpy(wires[k][i], wire, wl);
            wlens[k][i] = wl;
            count++;
        }
        free(buf);
        ck_assert_msg(count == PER_WRITER, "%s, %d messages", report[k], count);
    }
    ck_assert_msg(!failed, "%s; %s; %s; %s", report[0], report[1], report[2], report[3]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader (Bob): %s",
                  exit_text(status, why, sizeof why));

    /* Bob's results: each of the 2,000 decrypted once, as new, correctly. */
    uint64_t inbox[WRITERS][PER_WRITER] = { { 0 } };
    {
        off_t off = 0;
        size_t len, pos = 0;
        int count = 0;
        uint8_t *buf = read_records(&len, fds[WRITERS], &off, 0);
        rbuf r;
        while (next_record(&r, buf, len, &pos)) {
            ck_assert_int_eq((char)rb_uint(&r, 1), 'R');
            int k = (int)rb_uint(&r, 1);
            int i = (int)rb_uint(&r, 4);
            int rc = (int)(int32_t)rb_uint(&r, 4);
            int redelivered = (int)rb_uint(&r, 1);
            uint64_t inbox_id = rb_uint(&r, 8);
            size_t ptlen = (size_t)rb_uint(&r, 2);
            const uint8_t *pt = rb_bytes(&r, ptlen);
            char want[32];
            int n = snprintf(want, sizeof want, "w%d.%d", k, i);
            ck_assert_msg(rc == 0, "Bob: decrypt of writer %d message %d: %s (%d)", k, i,
                          rbx_strerror(rc), rc);
            ck_assert_int_lt(k, WRITERS);
            ck_assert_int_lt(i, PER_WRITER);
            ck_assert_msg(inbox[k][i] == 0, "writer %d message %d decrypted twice", k, i);
            ck_assert_int_eq(redelivered, 0);
            ck_assert_uint_ne(inbox_id, 0);
            ck_assert_uint_eq(ptlen, (size_t)n);
            ck_assert_mem_eq(pt, want, ptlen);
            inbox[k][i] = inbox_id;
            count++;
        }
        free(buf);
        ck_assert_int_eq(count, WRITERS * PER_WRITER);
    }

    /* Exactly once: a second delivery of each is a redelivery from the inbox
     * with the same id; Alice's outbox holds the 2,000 released ciphertexts. */
    rbx_store *a, *b;
    ck_assert_int_eq(open_store(&b, pb), 0);
    for (int k = 0; k < WRITERS; k++)
        for (int i = 0; i < PER_WRITER; i++) {
            uint8_t pt[WIRE_MAX];
            size_t ptlen;
            rbx_received info;
            ck_assert_int_eq(rbx_store_decrypt(b, pt, sizeof pt, &ptlen, &info, "alice", 1,
                                               wires[k][i], wlens[k][i]), 0);
            ck_assert_int_eq(info.redelivered, 1);
            ck_assert_uint_eq(info.inbox_id, inbox[k][i]);
        }
    ck_assert_int_eq(q_int(b, "SELECT count(*) FROM inbox"), WRITERS * PER_WRITER);
    rbx_store_close(b);
    ck_assert_int_eq(open_store(&a, pa), 0);
    {
        sqlite3_stmt *s;
        int n = 0, rc;
        ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(a), "SELECT wire FROM outbox", -1, &s, NULL),
                         SQLITE_OK);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            uint8_t digest[32];
            crypto_generichash(digest, sizeof digest, sqlite3_column_blob(s, 0),
                               (size_t)sqlite3_column_bytes(s, 0), NULL, 0);
            ck_assert_msg(ht_get(&digests, digest) >= 0, "an outbox entry that no writer received");
            n++;
        }
        ck_assert_int_eq(rc, SQLITE_DONE);
        sqlite3_finalize(s);
        ck_assert_int_eq(n, WRITERS * PER_WRITER);
    }
    rbx_store_close(a);
    double t_end = tu_now_s() - t0;
    fprintf(stderr,
            "durability/concurrency: %d writers x %d messages: all encrypted in %.2f s "
            "(%.2f ms per encrypt overall; per writer %.2f/%.2f/%.2f/%.2f s; slowest encrypt "
            "%.1f ms); Bob decrypted all %d at %.2f s; checks done at %.2f s\n",
            WRITERS, PER_WRITER, t_writers, t_writers * 1e3 / (WRITERS * PER_WRITER),
            writer_time[0], writer_time[1], writer_time[2], writer_time[3], busy_worst * 1e3,
            WRITERS * PER_WRITER, t_reader, t_end);
    for (int k = 0; k < WRITERS; k++)
        for (int i = 0; i < PER_WRITER; i++) free(wires[k][i]);
    for (int k = 0; k <= WRITERS; k++) close(fds[k]);
    ht_free(&keys);
    ht_free(&digests);
}
END_TEST

/* ---------------------------------------------------------------- open race */

START_TEST(open_while_writing)
{
    char pa[1024], pb[1024], why[64];
    const char *dir = scratch_dir();
    uint8_t wire[WIRE_MAX];
    size_t wl;
    uint64_t oid, rng = tu_env_u64("RBX_CRASH_SEED", 0x72627864757261ULL);
    rbx_store *a;
    int go[2], done[2], status;
    tu_rng_system();
    tu_path_in(pa, sizeof pa, dir, "alice.db");
    tu_path_in(pb, sizeof pb, dir, "bob.db");
    setup_pair(pa, pb);
    ck_assert_int_eq(open_store(&a, pa), 0);
    ck_assert_int_eq(rbx_store_encrypt(a, wire, sizeof wire, &wl, &oid, "bob", 1,
                                       (const uint8_t *)"hello", 5, NULL), 0);
    rbx_store_close(a);

    pid_t writer = fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        int rc = open_store(&a, pa);
        while (rc == 0) {
            rc = rbx_store_encrypt(a, wire, sizeof wire, &wl, &oid, "bob", 1, (const uint8_t *)"m",
                                   1, NULL);
            tu_sleep_us(200); /* leave the opener room for its own transactions */
        }
        _exit(-rc); /* 1..22: the RBX_E_* code */
    }
    ck_assert_int_eq(pipe(go), 0); /* after the writer's fork: only the opener holds them */
    ck_assert_int_eq(pipe(done), 0);
    pid_t opener = fork();
    ck_assert_int_ge(opener, 0);
    if (opener == 0) {
        char c = 0;
        close(go[1]);
        close(done[0]);
        while (read(go[0], &c, 1) == 1) {
            rbx_store *s;
            int rc = open_store(&s, pa);
            if (rc != 0) _exit(-rc);
            rbx_store_close(s);
            if (write(done[1], &c, 1) != 1) _exit(100);
        }
        _exit(0);
    }
    close(go[0]);
    close(done[1]);
    double t0 = tu_now_s();
    unsigned i;
    int writer_status = 0;
    pid_t writer_gone = 0;
    for (i = 0; i < OPEN_STOPS; i++) {
        char c = 'x';
        ck_assert_int_eq(write(go[1], &c, 1), 1);
        tu_sleep_us((unsigned)(tu_splitmix64(&rng) % 400));
        (void)kill(opener, SIGSTOP);
        tu_sleep_us(2000);
        (void)kill(opener, SIGCONT);
        if (read(done[0], &c, 1) != 1) break; /* the opener failed */
        if ((writer_gone = waitpid(writer, &writer_status, WNOHANG)) == writer) break;
    }
    close(go[1]);
    status = tu_wait_child(opener);
    int opener_rc = WIFEXITED(status) ? -WEXITSTATUS(status) : 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "opener after %u opens: %s (%s)", i,
                  exit_text(status, why, sizeof why), rbx_strerror(opener_rc));
    if (writer_gone != writer) writer_status = tu_kill_child(writer, 0);
    ck_assert_msg(WIFSIGNALED(writer_status), "the writer's encrypt failed after %u concurrent opens: %s",
                  i, WIFEXITED(writer_status) ? rbx_strerror(-WEXITSTATUS(writer_status)) : "?");
    /* And the session was not marked rolled back behind the writer's back. */
    ck_assert_int_eq(open_store(&a, pa), 0);
    int rc = rbx_store_encrypt(a, wire, sizeof wire, &wl, &oid, "bob", 1, (const uint8_t *)"end", 3,
                               NULL);
    ck_assert_msg(rc == 0, "after concurrent opens, encrypt: %s", rbx_strerror(rc));
    rbx_store_close(a);
    close(done[0]);
    fprintf(stderr, "durability/open_race: %u opens preempted while another process encrypted, "
                    "%.1f s, no false rollback\n", i, tu_now_s() - t0);
}
END_TEST

Suite *suite_durability(void)
{
    Suite *s = suite_create("durability");
    TCase *tc = tcase_create("crash");
    /* The default run (200 kills) takes well under 60 s; a long run set by
     * RBX_CRASH_KILLS gets about half a second per kill. */
    uint64_t kills = tu_env_u64("RBX_CRASH_KILLS", CRASH_KILLS);
    tcase_set_timeout(tc, kills > CRASH_KILLS ? (double)kills * 0.5 + 120 : 120);
    tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, crash_kill_loop);
    suite_add_tcase(s, tc);
    tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, concurrent_writers);
    suite_add_tcase(s, tc);
    tc = tcase_create("open_race");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, open_while_writing);
    suite_add_tcase(s, tc);
    return s;
}
