/* SPDX-License-Identifier: MIT
 * ratchetbox comparison bench: ratchetbox, today's box envelope,
 * libsignal-protocol-c and libolm measured by one program in one run.
 *
 * Every case runs every implementation through the same code (compare.h);
 * each repetition runs each implementation once, in turn (A B C ... A B C
 * ...), so machine drift hits all rows alike. Times are CLOCK_MONOTONIC; a
 * row is the median of the repetitions with min and max. Plaintexts are the
 * same bytes for every implementation, and every decrypted message is
 * compared with what was sent: any mismatch or unexpected failure exits
 * non-zero (which is what `make bench-quick` checks).
 *
 *   usage: bench-compare [--quick] [--reps N] [--out DIR] [--workload FILE]
 *                        [--tmp DIR] [--impl NAME,NAME...] [--case NAME,NAME...]
 *
 * --case runs only the named cases (sizes, pingpong, reversed, forged, state,
 * trace, fanout), for a targeted measurement; make bench runs them all.
 *
 * Writes DIR/latest.json, DIR/latest.csv and the data files of the plots
 * (DIR/sizes.dat, DIR/cdf-*.dat); the table goes to stdout, progress to
 * stderr when it is a terminal.
 */
#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"
#include "ratchetbox.h"

#define MAX_REPS 51U
#define MAX_IMPLS 16U
#define MAX_ROWS 512U
#define MAX_TRACE 4096U
#define FANOUT 3U
#define BIGGEST (100U * 1024U)
#define MSG 64U
#define PLOT_POINTS 400U
#define REV_SLOT 256U /* one wire message of the reversed case */

static const cmp_impl *const all_impls[] = {
    &impl_box, &impl_afternm, &impl_seal, &impl_ratchet, &impl_ratchet_he, &impl_ratchet_v1,
    &impl_ratchet_bounded, &impl_ratchet_strict, &impl_signal, &impl_signal_sqlite, &impl_olm,
    &impl_olm_sqlite,
};
#define NIMPL (sizeof all_impls / sizeof all_impls[0])

/* Run parameters: the full bench and the quick harness check. */
typedef struct params {
    unsigned reps;         /* repetitions of the cases of milliseconds */
    unsigned reps_long;    /* of the reversed and trace cases (seconds each) */
    double batch_us;       /* target wall time of one timed batch */
    unsigned max_batch;
    unsigned reverse_n;    /* messages delivered in reverse */
    unsigned jump;         /* forged message: counter jump before it */
    unsigned state_n;      /* messages for the state-size cases */
    unsigned trace_max;    /* trace messages replayed */
    unsigned durable_min;  /* smallest batch of a durable row, messages */
} params;

static params P;
static int quick_mode; /* every implementation in every case, whatever it costs */
static const char *tmpdir; /* the SQLite files (cmp_tmpdir_create) */
static uint8_t *payload;   /* the same plaintext bytes for every implementation */
static volatile uint8_t sink;

/* ------------------------------------------------------------ helpers */

void cmp_path(char *out, const char *dir, const char *impl, unsigned idx, const char *who)
{
    int n = snprintf(out, CMP_PATH_CAP, "%s/%s-%u-%s.db", dir, impl, idx, who);
    CMP_CHECK(n > 0 && (size_t)n < CMP_PATH_CAP);
}

#define now_us cmp_now_us

static int progress_on;

static void progress(const char *fmt, ...)
{
    va_list ap;
    if (!progress_on) return;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

/* ------------------------------------------------------------ SQLite */

struct cmp_db {
    sqlite3 *db;
    sqlite3_stmt *put, *get;
};

cmp_db *cmp_db_open(const char *path)
{
    cmp_db *d = cmp_xmalloc(sizeof *d);
    CMP_CHECK(sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ==
              SQLITE_OK);
    CMP_CHECK(sqlite3_exec(d->db,
                           "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           "CREATE TABLE IF NOT EXISTS state(k INTEGER PRIMARY KEY, v BLOB NOT NULL);",
                           NULL, NULL, NULL) == SQLITE_OK);
    CMP_CHECK(sqlite3_prepare_v2(d->db, "INSERT OR REPLACE INTO state(k, v) VALUES(?1, ?2)", -1,
                                 &d->put, NULL) == SQLITE_OK);
    CMP_CHECK(sqlite3_prepare_v2(d->db, "SELECT v FROM state WHERE k = ?1", -1, &d->get, NULL) ==
              SQLITE_OK);
    return d;
}

int cmp_db_put(cmp_db *d, int64_t key, const uint8_t *blob, size_t len)
{
    int rc = sqlite3_bind_int64(d->put, 1, key);
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob(d->put, 2, blob, (int)len, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(d->put);
    sqlite3_reset(d->put);
    sqlite3_clear_bindings(d->put);
    return rc == SQLITE_DONE ? 0 : -1;
}

int cmp_db_get(cmp_db *d, int64_t key, uint8_t **out, size_t *len)
{
    int ret = -1;
    *out = NULL;
    *len = 0;
    if (sqlite3_bind_int64(d->get, 1, key) != SQLITE_OK) goto done;
    int rc = sqlite3_step(d->get);
    if (rc == SQLITE_DONE) {
        ret = 0;
    } else if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(d->get, 0);
        const void *v = sqlite3_column_blob(d->get, 0);
        *out = cmp_xmalloc((size_t)n);
        if (n > 0) memcpy(*out, v, (size_t)n);
        *len = (size_t)n;
        ret = 1;
    }
done:
    sqlite3_reset(d->get);
    return ret;
}

void cmp_db_close(cmp_db *d)
{
    sqlite3_finalize(d->put);
    sqlite3_finalize(d->get);
    CMP_CHECK(sqlite3_close(d->db) == SQLITE_OK);
    free(d);
}

/* ------------------------------------------------------------ results */

typedef struct result {
    char impl[32], kase[40], unit[16];
    const char *kind;
    size_t bytes;           /* message size of the case */
    double med, lo, hi;     /* microseconds, or the value for size rows */
    unsigned reps;
    long ok;                /* reverse: messages that decrypted; -1 n/a */
    double p50, p99;        /* trace: per-message latency percentiles; <0 n/a */
} result;

static result res[MAX_ROWS];
static unsigned nres;

static double pct(double *sorted, size_t n, double q)
{
    if (n == 0) return 0.0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* A new row: ok and the percentiles not applicable until set. */
static result *add_row(const cmp_impl *im, const char *kase, size_t bytes, const char *unit,
                       unsigned reps)
{
    CMP_CHECK(nres < MAX_ROWS);
    result *r = &res[nres++];
    memset(r, 0, sizeof *r);
    snprintf(r->impl, sizeof r->impl, "%s", im->name);
    snprintf(r->kase, sizeof r->kase, "%s", kase);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->kind = im->kind;
    r->bytes = bytes;
    r->reps = reps;
    r->ok = -1;
    r->p50 = r->p99 = -1.0;
    return r;
}

static result *add_time(const cmp_impl *im, const char *kase, size_t bytes, const double *v,
                        unsigned reps)
{
    result *r = add_row(im, kase, bytes, "us", reps);
    cmp_stats(v, reps, &r->med, &r->lo, &r->hi);
    return r;
}

static void add_size(const cmp_impl *im, const char *kase, size_t bytes, double value)
{
    result *r = add_row(im, kase, bytes, "bytes", 1);
    r->med = r->lo = r->hi = value;
}

static const result *find(const char *impl, const char *kase)
{
    for (unsigned i = 0; i < nres; i++)
        if (strcmp(res[i].impl, impl) == 0 && strcmp(res[i].kase, kase) == 0) return &res[i];
    return NULL;
}

/* The row of a case measured at a message size (the wire sizes). */
static const result *find_sized(const char *impl, const char *kase, size_t bytes)
{
    for (unsigned i = 0; i < nres; i++)
        if (strcmp(res[i].impl, impl) == 0 && strcmp(res[i].kase, kase) == 0 &&
            res[i].bytes == bytes)
            return &res[i];
    return NULL;
}

/* Best (lowest) peer row of the same kind in a case; NULL if none. */
static const result *best_peer(const result *r)
{
    const result *b = NULL;
    for (unsigned i = 0; i < nres; i++) {
        const result *x = &res[i];
        if (strcmp(x->kase, r->kase) != 0 || strcmp(x->kind, r->kind) != 0) continue;
        int peer = 0;
        for (unsigned k = 0; k < NIMPL; k++)
            if (strcmp(all_impls[k]->name, x->impl) == 0) peer = all_impls[k]->peer;
        if (!peer) continue;
        if (b == NULL || x->med < b->med) b = x;
    }
    return b;
}

/* ------------------------------------------------------------ pairs */

static unsigned pair_seq;

/* A pair after its setup; first != NULL: a copy of the first message there. */
static void *pair_new(const cmp_impl *im, uint8_t *first, size_t cap, size_t *first_len)
{
    size_t fl;
    void *p = im->open(tmpdir, pair_seq++);
    CMP_CHECK(im->setup(p, first, cap, first_len != NULL ? first_len : &fl) == 0);
    return p;
}

int cmp_first_copy(uint8_t *first, size_t cap, size_t *first_len, const uint8_t *wire,
                   size_t wlen)
{
    *first_len = wlen;
    if (first == NULL) return 0;
    if (wlen > cap) return -1;
    memcpy(first, wire, wlen);
    return 0;
}

static uint8_t *wire_buf, *out_buf;

/* One message, sent and received, checked. */
static void roundtrip(const cmp_impl *im, void *p, int from_b, const uint8_t *pt, size_t len,
                      size_t *wlen_out)
{
    size_t wlen, plen;
    if (im->enc(p, from_b, pt, len, wire_buf, CMP_WIRE_CAP, &wlen) != 0) {
        fprintf(stderr, "bench-compare: %s: encrypt of %zu bytes failed\n", im->name, len);
        exit(EXIT_FAILURE);
    }
    if (im->dec(p, from_b, wire_buf, wlen, out_buf, CMP_WIRE_CAP, &plen) != 0 || plen != len ||
        memcmp(out_buf, pt, len) != 0) {
        fprintf(stderr, "bench-compare: %s: round trip of %zu bytes failed (decrypt mismatch)\n",
                im->name, len);
        exit(EXIT_FAILURE);
    }
    sink ^= out_buf[len ? len - 1 : 0];
    if (wlen_out != NULL) *wlen_out = wlen;
}

/* Established: first message and one reply, so A sends normal messages. */
static void *pair_established(const cmp_impl *im, size_t *first_len)
{
    void *p = pair_new(im, NULL, 0, first_len);
    roundtrip(im, p, 1, payload, MSG, NULL);
    return p;
}

/* ------------------------------------------------------------ generic timing */

typedef struct job {
    const cmp_impl *im;
    void *p;                    /* the pair (or pairs) of this implementation */
    void **fan;                 /* fan-out pairs */
    size_t len;
    unsigned iters;
    double us[MAX_REPS];
} job;

typedef double (*batch_fn)(job *j, unsigned n); /* microseconds per operation */
static double oneway_batch(job *j, unsigned n);
static double pingpong_batch(job *j, unsigned n);

/* Size the batch from two short runs, then run reps interleaved. */
static void run_cases(job *jobs, unsigned nj, batch_fn fn, const char *label)
{
    for (unsigned i = 0; i < nj; i++) {
        progress("%s: warm-up %s", label, jobs[i].im->name);
        (void)fn(&jobs[i], 1);
        double per = fn(&jobs[i], 2);
        double n = P.batch_us / (per > 0.01 ? per : 0.01);
        jobs[i].iters = n < 1.0 ? 1U : n > P.max_batch ? P.max_batch : (unsigned)n;
        /* A bounded store erases every RBX_STORE_ERASE_COMMITS commits: a
         * durable batch spans at least that many messages, so that every
         * batch carries its share of erase points (cases that commit once
         * per message; a rejected forgery commits nothing). */
        if (strcmp(jobs[i].im->kind, "durable") == 0 && jobs[i].iters < P.durable_min &&
            (fn == oneway_batch || fn == pingpong_batch))
            jobs[i].iters = P.durable_min;
    }
    for (unsigned k = 0; k < P.reps; k++)
        for (unsigned i = 0; i < nj; i++) {
            progress("%s: repetition %u/%u, %s", label, k + 1, P.reps, jobs[i].im->name);
            jobs[i].us[k] = fn(&jobs[i], jobs[i].iters);
        }
}

static double oneway_batch(job *j, unsigned n)
{
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) roundtrip(j->im, j->p, 0, payload, j->len, NULL);
    return (now_us() - t0) / n;
}

/* Every message changes direction: each receiver does a DH ratchet step. */
static double pingpong_batch(job *j, unsigned n)
{
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) {
        roundtrip(j->im, j->p, 0, payload, MSG, NULL);
        roundtrip(j->im, j->p, 1, payload, MSG, NULL);
    }
    return (now_us() - t0) / (2.0 * n);
}

/* Session setup: pairs opened (keys, prekeys, databases) before the clock
 * starts and closed after it stops. */
static double setup_batch(job *j, unsigned n)
{
    void **ps = cmp_xmalloc(n * sizeof *ps);
    size_t fl;
    for (unsigned i = 0; i < n; i++) ps[i] = j->im->open(tmpdir, pair_seq++);
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) CMP_CHECK(j->im->setup(ps[i], NULL, 0, &fl) == 0);
    double t = (now_us() - t0) / n;
    for (unsigned i = 0; i < n; i++) j->im->close(ps[i]);
    free(ps);
    return t;
}

/* ------------------------------------------------------------ wire sizes */

/* Standard base64 lengths of n bytes, with and without padding. */
#define B64_PADDED(n) (4U * (((size_t)(n) + 2U) / 3U))
#define B64_UNPADDED(n) ((4U * (size_t)(n) + 2U) / 3U)
#define BOX_NONCE_B64 32U /* encryption_nonce: base64 of 24 bytes */
#define RBX_LINE_HEADER 33U /* rbx send: 0x01 || sender identity key (32) */

/* Bytes of base64 text w (n characters, padded or not); fails on bad base64. */
static size_t b64_decoded_len(const uint8_t *w, size_t n)
{
    size_t k = n, bin = 0;
    while (k > 0 && w[k - 1] == '=') k--;
    uint8_t *tmp = cmp_xmalloc(n + 1);
    CMP_CHECK(sodium_base642bin(tmp, n + 1, (const char *)w, k, NULL, &bin, NULL,
                                sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0);
    free(tmp);
    return bin;
}

/* Length of the standard padded base64 of n bytes at w, as encoded. */
static size_t b64_encoded_len(const uint8_t *w, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *t = cmp_xmalloc(cap);
    sodium_bin2base64(t, cap, w, n, sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(t);
    free(t);
    return len;
}

/* The two sizes of one message w (n bytes from im->enc or setup) with a
 * plaintext of ptlen bytes: *bin, the message as bytes, and *text, the string
 * the product would store and send (enum cmp_wire_form). Each is measured
 * (decoded or encoded) and checked against its formula: a mismatch exits
 * non-zero, which make bench-quick relies on. */
static void wire_sizes(const cmp_impl *im, const uint8_t *w, size_t n, size_t ptlen, size_t *bin,
                       size_t *text)
{
    switch (im->form) {
    case CMP_WIRE_BOX: { /* base64(box) || base64(24-byte nonce) */
        CMP_CHECK(n > BOX_NONCE_B64);
        size_t box = b64_decoded_len(w, n - BOX_NONCE_B64);
        size_t nonce = b64_decoded_len(w + n - BOX_NONCE_B64, BOX_NONCE_B64);
        CMP_CHECK(nonce == crypto_box_NONCEBYTES && box == ptlen + crypto_box_MACBYTES);
        *bin = box + nonce;
        *text = n;
        CMP_CHECK(*text == B64_PADDED(box) + BOX_NONCE_B64);
        break;
    }
    case CMP_WIRE_BASE64:
        *bin = b64_decoded_len(w, n);
        *text = n;
        CMP_CHECK(*text == B64_PADDED(*bin) || *text == B64_UNPADDED(*bin));
        break;
    case CMP_WIRE_BINARY:
        *bin = n;
        *text = b64_encoded_len(w, n);
        CMP_CHECK(*text == B64_PADDED(n));
        break;
    case CMP_WIRE_RBX: { /* as src/cli/messages.c builds the transport line */
        uint8_t *line = cmp_xmalloc(RBX_LINE_HEADER + n);
        line[0] = 0x01;
        memset(line + 1, 0, RBX_PUBLICKEYBYTES); /* the key's value does not change the length */
        memcpy(line + RBX_LINE_HEADER, w, n);
        *bin = n;
        *text = b64_encoded_len(line, RBX_LINE_HEADER + n);
        free(line);
        CMP_CHECK(*text == B64_PADDED(RBX_LINE_HEADER + n));
        break;
    }
    default:
        CMP_CHECK(!"unknown wire form");
    }
    CMP_CHECK(*bin > ptlen);
}

/* Result rows of the wire sizes (bytes = the plaintext size). */
#define WIRE_BIN "wire binary"
#define WIRE_TEXT "wire text"
#define WIRE_BIN_FIRST "wire binary (first)"
#define WIRE_TEXT_FIRST "wire text (first)"

/* ------------------------------------------------------------ cases */

static const cmp_impl *impls[MAX_IMPLS];
static unsigned nimpl;

static void case_sizes(void)
{
    static const size_t sizes[] = { MSG, 1024U, 16U * 1024U, BIGGEST };
    static const char *names[] = { "one-way 64 B", "one-way 1 KiB", "one-way 16 KiB",
                                   "one-way 100 KiB" };
    job *jobs = cmp_xmalloc(nimpl * sizeof *jobs);
    for (unsigned s = 0; s < 4; s++) {
        for (unsigned i = 0; i < nimpl; i++) {
            memset(&jobs[i], 0, sizeof jobs[i]);
            jobs[i].im = impls[i];
            jobs[i].p = pair_established(impls[i], NULL);
            jobs[i].len = sizes[s];
            { /* a normal message with small counters, before the timed runs */
                size_t wlen, bin, text;
                roundtrip(impls[i], jobs[i].p, 0, payload, sizes[s], &wlen);
                wire_sizes(impls[i], wire_buf, wlen, sizes[s], &bin, &text);
                add_size(impls[i], WIRE_BIN, sizes[s], (double)bin);
                add_size(impls[i], WIRE_TEXT, sizes[s], (double)text);
            }
        }
        run_cases(jobs, nimpl, oneway_batch, names[s]);
        for (unsigned i = 0; i < nimpl; i++) {
            add_time(impls[i], names[s], sizes[s], jobs[i].us, P.reps);
            impls[i]->close(jobs[i].p);
        }
    }
    free(jobs);
}

static void case_pingpong_setup(void)
{
    job *jobs = cmp_xmalloc(nimpl * sizeof *jobs);
    for (unsigned i = 0; i < nimpl; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].im = impls[i];
        jobs[i].p = pair_established(impls[i], NULL);
    }
    run_cases(jobs, nimpl, pingpong_batch, "ping-pong");
    for (unsigned i = 0; i < nimpl; i++) {
        add_time(impls[i], "ping-pong 64 B", MSG, jobs[i].us, P.reps);
        impls[i]->close(jobs[i].p);
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].im = impls[i];
    }
    run_cases(jobs, nimpl, setup_batch, "session setup");
    for (unsigned i = 0; i < nimpl; i++) {
        uint8_t first[CMP_FIRST_CAP];
        size_t fl, bin, text;
        add_time(impls[i], "session setup", MSG, jobs[i].us, P.reps);
        void *p = pair_new(impls[i], first, sizeof first, &fl);
        wire_sizes(impls[i], first, fl, MSG, &bin, &text);
        add_size(impls[i], WIRE_BIN_FIRST, MSG, (double)bin);
        add_size(impls[i], WIRE_TEXT_FIRST, MSG, (double)text);
        impls[i]->close(p);
    }
    free(jobs);
}

/* reverse_n messages A -> B made first (untimed; the stores use one
 * transaction per 100 there, enc_many), then delivered last to
 * first; the time is the receiver's for all of them, failures included. */
static void case_reverse(void)
{
    char name[48];
    snprintf(name, sizeof name, "%u reversed", P.reverse_n);
    uint8_t **w = cmp_xmalloc(P.reverse_n * sizeof *w);
    size_t *wl = cmp_xmalloc(P.reverse_n * sizeof *wl);
    uint8_t *wires = cmp_xmalloc((size_t)P.reverse_n * REV_SLOT);
    uint8_t *pts = cmp_xmalloc((size_t)P.reverse_n * MSG);
    for (unsigned m = 0; m < P.reverse_n; m++) {
        w[m] = wires + (size_t)m * REV_SLOT;
        memcpy(pts + (size_t)m * MSG, payload, MSG);
        memcpy(pts + (size_t)m * MSG, &m, sizeof m); /* each message tells its index */
    }
    double v[MAX_IMPLS][MAX_REPS];
    long ok[MAX_IMPLS];
    void *ps[MAX_IMPLS];
    for (unsigned i = 0; i < nimpl; i++) {
        ps[i] = pair_established(impls[i], NULL);
        ok[i] = -1;
    }
    for (unsigned k = 0; k < P.reps_long; k++)
        for (unsigned i = 0; i < nimpl; i++) {
            const cmp_impl *im = impls[i];
            progress("%s: repetition %u/%u, %s (making messages)", name, k + 1, P.reps_long,
                     im->name);
            if (im->enc_many != NULL) {
                CMP_CHECK(im->enc_many(ps[i], pts, MSG, P.reverse_n, wires, REV_SLOT, wl) == 0);
            } else {
                for (unsigned m = 0; m < P.reverse_n; m++)
                    CMP_CHECK(im->enc(ps[i], 0, pts + (size_t)m * MSG, MSG, w[m], REV_SLOT,
                                      &wl[m]) == 0);
            }
            progress("%s: repetition %u/%u, %s (delivering)", name, k + 1, P.reps_long, im->name);
            long good = 0;
            double t0 = now_us();
            for (unsigned m = P.reverse_n; m-- > 0;) {
                size_t plen;
                if (im->dec(ps[i], 0, w[m], wl[m], out_buf, CMP_WIRE_CAP, &plen) != 0) continue;
                unsigned idx;
                memcpy(&idx, out_buf, sizeof idx);
                CMP_CHECK(plen == MSG && idx == m &&
                          memcmp(out_buf + sizeof idx, payload + sizeof idx, MSG - sizeof idx) == 0);
                good++;
            }
            v[i][k] = now_us() - t0;
            CMP_CHECK(ok[i] < 0 || ok[i] == good);
            ok[i] = good;
            /* the session still works in order afterwards */
            roundtrip(im, ps[i], 0, payload, MSG, NULL);
        }
    for (unsigned i = 0; i < nimpl; i++) {
        result *r = add_time(impls[i], name, MSG, v[i], P.reps_long);
        r->ok = ok[i];
        impls[i]->close(ps[i]);
    }
    free(wires);
    free(pts);
    free(w);
    free(wl);
}

static int is_b64(const uint8_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((w[i] >= 'A' && w[i] <= 'Z') || (w[i] >= 'a' && w[i] <= 'z') ||
              (w[i] >= '0' && w[i] <= '9') || w[i] == '+' || w[i] == '/' || w[i] == '='))
            return 0;
    return 1;
}

typedef struct forged {
    uint8_t w[512];
    size_t wl;
} forged;

/* The costliest forgery a receiver can be handed without any key: a
 * genuine message from a new sending chain (a DH ratchet step) P.jump
 * messages ahead, with one byte of its tag changed. The receiver does the DH
 * step and derives the skipped keys before the MAC fails; the session must
 * be unchanged, so the same forgery is rejected again in every iteration. */
static double forged_batch(job *j, unsigned n)
{
    forged *f = j->fan[0];
    size_t plen;
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++)
        CMP_CHECK(j->im->dec(j->p, 0, f->w, f->wl, out_buf, CMP_WIRE_CAP, &plen) != 0);
    return (now_us() - t0) / n;
}

static void case_forged(void)
{
    job *jobs = cmp_xmalloc(nimpl * sizeof *jobs);
    forged *fs = cmp_xmalloc(nimpl * sizeof *fs);
    void *fp[MAX_IMPLS];
    for (unsigned i = 0; i < nimpl; i++) {
        const cmp_impl *im = impls[i];
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].im = im;
        jobs[i].p = pair_established(im, NULL);
        if (im->worst_forgery != NULL) CMP_CHECK(im->worst_forgery(jobs[i].p) == 0);
        size_t wl;
        unsigned skip = im->stateless ? 0 : P.jump;
        for (unsigned m = 0; m < skip; m++)
            CMP_CHECK(im->enc(jobs[i].p, 0, payload, MSG, wire_buf, CMP_WIRE_CAP, &wl) == 0);
        CMP_CHECK(im->enc(jobs[i].p, 0, payload, MSG, fs[i].w, sizeof fs[i].w, &fs[i].wl) == 0);
        /* binary wires: a byte of the tag; base64 wires: a character in the
         * middle (the last ones may carry padding bits a decoder refuses) */
        if (is_b64(fs[i].w, fs[i].wl)) {
            size_t at = fs[i].wl / 2;
            fs[i].w[at] = fs[i].w[at] == 'A' ? 'B' : 'A';
        } else {
            fs[i].w[fs[i].wl - 3] ^= 0x01;
        }
        fp[i] = &fs[i];
        jobs[i].fan = &fp[i];
    }
    run_cases(jobs, nimpl, forged_batch, "forged message");
    for (unsigned i = 0; i < nimpl; i++) {
        add_time(impls[i], "reject forged", MSG, jobs[i].us, P.reps);
        impls[i]->close(jobs[i].p);
    }
    free(jobs);
    free(fs);
}

/* Serialized state of the receiver (in-memory rows; a stored session is the
 * same blob, encrypted, plus the row overhead). */
static void case_state(void)
{
    char n1[48], nk[48];
    snprintf(n1, sizeof n1, "state after 1 msg");
    snprintf(nk, sizeof nk, "state after %u msgs", P.state_n);
    char ns[48];
    snprintf(ns, sizeof ns, "state, %u skipped", P.state_n);
    for (unsigned i = 0; i < nimpl; i++) {
        const cmp_impl *im = impls[i];
        if (strcmp(im->kind, "crypto") != 0 && !quick_mode) continue;
        progress("state sizes: %s", im->name);
        void *p = pair_established(im, NULL);
        roundtrip(im, p, 0, payload, MSG, NULL);
        add_size(im, n1, MSG, (double)im->state_size(p));
        for (unsigned m = 1; m < P.state_n; m++) roundtrip(im, p, 0, payload, MSG, NULL);
        add_size(im, nk, MSG, (double)im->state_size(p));
        im->close(p);
        p = pair_established(im, NULL);
        size_t wl, plen;
        for (unsigned m = 0; m < P.state_n; m++)
            CMP_CHECK(im->enc(p, 0, payload, MSG, wire_buf, CMP_WIRE_CAP, &wl) == 0);
        CMP_CHECK(im->enc(p, 0, payload, MSG, wire_buf, CMP_WIRE_CAP, &wl) == 0);
        CMP_CHECK(im->dec(p, 0, wire_buf, wl, out_buf, CMP_WIRE_CAP, &plen) == 0 && plen == MSG);
        add_size(im, ns, MSG, (double)im->state_size(p));
        im->close(p);
    }
}

/* ------------------------------------------------------------ trace replay */

typedef struct tmsg {
    int from_phone;
    size_t len;
} tmsg;

static tmsg trace[MAX_TRACE];
static unsigned ntrace;

static void load_trace(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256], who[32], type[64];
    unsigned long t, len;
    if (f == NULL) {
        fprintf(stderr, "bench-compare: cannot open %s: %s\n", path, strerror(errno));
        exit(EXIT_FAILURE);
    }
    while (fgets(line, sizeof line, f) != NULL && ntrace < MAX_TRACE) {
        if (line[0] == '#') continue;
        if (sscanf(line, "%lu %31s %63s %lu", &t, who, type, &len) != 4) continue;
        CMP_CHECK(len <= BIGGEST);
        trace[ntrace].from_phone = strcmp(who, "phone") == 0;
        CMP_CHECK(trace[ntrace].from_phone || strcmp(who, "agent") == 0);
        trace[ntrace].len = len;
        ntrace++;
    }
    fclose(f);
    CMP_CHECK(ntrace > 0);
}

typedef struct tjob {
    const cmp_impl *im;
    void *p[FANOUT];
    unsigned npairs;
    double total[MAX_REPS];
    double *lat;            /* per message, all repetitions */
    size_t nlat;
} tjob;

/* Replay the trace in order: per message, the sender encrypts once per
 * receiving device and each device decrypts; its latency is all of that. */
static double replay(tjob *j, unsigned nmsg, const char *label)
{
    double total = 0.0;
    for (unsigned m = 0; m < nmsg; m++) {
        if (m % 256 == 0) progress("%s, message %u/%u", label, m, nmsg);
        double t0 = now_us();
        for (unsigned d = 0; d < j->npairs; d++)
            roundtrip(j->im, j->p[d], trace[m].from_phone, payload, trace[m].len, NULL);
        double dt = now_us() - t0;
        j->lat[j->nlat++] = dt;
        total += dt;
    }
    return total;
}

static void write_cdf(const char *dir, const char *kase, tjob *js, unsigned nj, const char *kind)
{
    char path[CMP_PATH_CAP + 64];
    snprintf(path, sizeof path, "%s/cdf-%s-%s.dat", dir, kase, kind);
    FILE *f = fopen(path, "w");
    CMP_CHECK(f != NULL);
    fprintf(f, "# per-message latency CDF of the trace replay (%s, %s rows): "
               "one block per implementation; columns: latency_us fraction\n", kase, kind);
    for (unsigned i = 0, blocks = 0; i < nj; i++) {
        if (strcmp(js[i].im->kind, kind) != 0) continue;
        fprintf(f, "%s#impl %s\n", blocks++ ? "\n\n" : "", js[i].im->name);
        for (unsigned q = 0; q <= PLOT_POINTS; q++) {
            double fr = (double)q / PLOT_POINTS;
            fprintf(f, "%.3f %.4f\n", pct(js[i].lat, js[i].nlat, fr), fr);
        }
    }
    CMP_CHECK(fclose(f) == 0);
}

/* The fan-out replay leaves out ratchet-sqlite-strict (all rows run with
 * --quick): at ~2 ms per message and device it alone would take 50 s of the
 * 3-minute budget; each device's store commits on its own, so its cost is
 * the single-device replay's times the devices. */
static void case_trace(const char *outdir, unsigned fan)
{
    const char *name = fan == 1 ? "trace replay" : "trace, 3 devices";
    const char *tag = fan == 1 ? "trace" : "fanout";
    unsigned nmsg = ntrace < P.trace_max ? ntrace : P.trace_max;
    const cmp_impl *ti[MAX_IMPLS];
    unsigned nt = 0;
    for (unsigned i = 0; i < nimpl; i++)
        if (fan == 1 || quick_mode || impls[i] != &impl_ratchet_strict) ti[nt++] = impls[i];
    tjob *js = cmp_xmalloc(nt * sizeof *js);
    for (unsigned i = 0; i < nt; i++) {
        memset(&js[i], 0, sizeof js[i]);
        js[i].im = ti[i];
        js[i].npairs = fan;
        for (unsigned d = 0; d < fan; d++) js[i].p[d] = pair_established(ti[i], NULL);
        js[i].lat = cmp_xmalloc((size_t)nmsg * P.reps_long * sizeof *js[i].lat);
    }
    for (unsigned k = 0; k < P.reps_long; k++)
        for (unsigned i = 0; i < nt; i++) {
            char label[160];
            snprintf(label, sizeof label, "%s: repetition %u/%u, %s", name, k + 1, P.reps_long,
                     ti[i]->name);
            js[i].total[k] = replay(&js[i], nmsg, label);
        }
    for (unsigned i = 0; i < nt; i++) {
        result *r = add_time(ti[i], name, 0, js[i].total, P.reps_long);
        cmp_sort(js[i].lat, js[i].nlat);
        r->p50 = pct(js[i].lat, js[i].nlat, 0.50);
        r->p99 = pct(js[i].lat, js[i].nlat, 0.99);
        r->ok = (long)nmsg;
        for (unsigned d = 0; d < fan; d++) ti[i]->close(js[i].p[d]);
    }
    write_cdf(outdir, tag, js, nt, "crypto");
    write_cdf(outdir, tag, js, nt, "durable");
    for (unsigned i = 0; i < nt; i++) free(js[i].lat);
    free(js);
}

/* ------------------------------------------------------------ output */

static void fmt_ratio(char *out, size_t cap, double num, const result *den)
{
    if (den == NULL || den->med <= 0.0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2f", num / den->med);
}

static void print_table(void)
{
    /* time rows, grouped by case in the order the cases ran */
    const char *kases[64];
    unsigned nk = 0;
    for (unsigned i = 0; i < nres; i++) {
        if (strcmp(res[i].unit, "us") != 0) continue;
        unsigned k = 0;
        while (k < nk && strcmp(kases[k], res[i].kase) != 0) k++;
        if (k == nk && nk < 64) kases[nk++] = res[i].kase;
    }
    printf("%-20s %-23s %-7s %11s %11s %11s %6s %6s  %s\n", "case", "impl", "kind", "median_us",
           "min_us", "max_us", "x_box", "x_peer", "notes");
    for (unsigned k = 0; k < nk; k++) {
        for (unsigned i = 0; i < nres; i++) {
            const result *r = &res[i];
            char xb[16], xp[16], note[96] = "";
            if (strcmp(r->kase, kases[k]) != 0 || strcmp(r->unit, "us") != 0) continue;
            fmt_ratio(xb, sizeof xb, r->med, find("baseline-box", r->kase));
            fmt_ratio(xp, sizeof xp, r->med, best_peer(r));
            if (r->p50 >= 0.0)
                snprintf(note, sizeof note, "p50 %.1f, p99 %.1f us/msg", r->p50, r->p99);
            else if (r->ok >= 0)
                snprintf(note, sizeof note, "%ld decrypted", r->ok);
            printf("%-20s %-23s %-7s %11.2f %11.2f %11.2f %6s %6s  %s\n", r->kase, r->impl,
                   r->kind, r->med, r->lo, r->hi, xb, xp, note);
        }
        printf("\n");
    }
    printf("times in microseconds: per message (sender + receiver) for one-way, ping-pong and\n"
           "reject forged; per session for setup; for the whole run for the reversed and trace\n"
           "rows (the trace notes give per-message percentiles over all repetitions).\n"
           "x_box = median / baseline-box median; x_peer = median / the best peer row of the same\n"
           "kind (crypto: libsignal, olm; durable: libsignal-sqlite, olm-sqlite). Below 1 is faster.\n");

    /* wire sizes: one line per implementation, binary / text */
    static const size_t wsz[] = { MSG, 1024U, 16U * 1024U, BIGGEST };
    printf("\nwire size per message in bytes, binary / text (normal messages with small counters,\n"
           "and the first message of a session at 64 B). binary: the message as bytes (the box\n"
           "envelope: the box and its 24-byte nonce). text: what the product stores and sends for\n"
           "it: baseline-box/-afternm the content_encrypted and encryption_nonce strings\n"
           "(base64); ratchet rows the line rbx send prints, base64(0x01 || sender identity\n"
           "key || message); libsignal base64 of its message; olm (unpadded) and baseline-seal\n"
           "their own base64.\n");
    printf("%-23s %13s %13s %13s %13s %13s %15s\n", "impl", "overhead 64 B", "first 64 B",
           "64 B", "1 KiB", "16 KiB", "100 KiB");
    for (unsigned i = 0; i < nimpl; i++) {
        const char *nm = impls[i]->name;
        const result *b0 = find_sized(nm, WIRE_BIN, MSG), *t0 = find_sized(nm, WIRE_TEXT, MSG);
        char cell[40];
        printf("%-23s", nm);
        if (b0 != NULL && t0 != NULL)
            snprintf(cell, sizeof cell, "%.0f/%.0f", b0->med - MSG, t0->med - MSG);
        else
            snprintf(cell, sizeof cell, "-");
        printf(" %13s", cell);
        const result *bf = find_sized(nm, WIRE_BIN_FIRST, MSG);
        const result *tf = find_sized(nm, WIRE_TEXT_FIRST, MSG);
        if (bf != NULL && tf != NULL) snprintf(cell, sizeof cell, "%.0f/%.0f", bf->med, tf->med);
        else snprintf(cell, sizeof cell, "-");
        printf(" %13s", cell);
        for (unsigned s = 0; s < sizeof wsz / sizeof wsz[0]; s++) {
            const result *b = find_sized(nm, WIRE_BIN, wsz[s]);
            const result *t = find_sized(nm, WIRE_TEXT, wsz[s]);
            if (b != NULL && t != NULL) snprintf(cell, sizeof cell, "%.0f/%.0f", b->med, t->med);
            else snprintf(cell, sizeof cell, "-");
            printf(" %*s", s + 1 < sizeof wsz / sizeof wsz[0] ? 13 : 15, cell);
        }
        printf("\n");
    }
    printf("overhead 64 B = the 64-byte message minus its plaintext. Every size above was\n"
           "measured (encoded or decoded) and checked against its formula.\n");

    /* state sizes: one line per implementation */
    char sn[48], ss[48];
    snprintf(sn, sizeof sn, "state after %u msgs", P.state_n);
    snprintf(ss, sizeof ss, "state, %u skipped", P.state_n);
    const char *cols[3] = { "state after 1 msg", sn, ss };
    printf("\nstate in bytes (the receiver's serialized session, 64-byte messages)\n");
    printf("%-23s %10s %12s %12s\n", "impl", "state@1", "state@N", "N skipped");
    for (unsigned i = 0; i < nimpl; i++) {
        printf("%-23s", impls[i]->name);
        for (unsigned c = 0; c < 3; c++) {
            const result *r = find(impls[i]->name, cols[c]);
            static const int w[3] = { 11, 13, 13 };
            if (r == NULL)
                printf("%*s", w[c], "-");
            else
                printf("%*.0f", w[c], r->med);
        }
        printf("\n");
    }
    printf("N = %u. Baselines keep no session. olm's state is base64 (its API has no binary\n"
           "form); the durable rows store the same session as their in-memory row.\n",
           P.state_n);
}

/* speedup = reference median / ours; met if >= want. */
static void target(const char *what, const char *kase, const char *ours, const char *ref,
                   double want)
{
    const result *a = find(ours, kase), *b = find(ref, kase);
    if (a == NULL || b == NULL) {
        printf("  %-44s %-24s n/a\n", what, ref);
        return;
    }
    double s = b->med / a->med;
    printf("  %-44s vs %-20s %6.2fx faster (want >= %.2fx) %s\n", what, ref, s, want,
           s >= want ? "met" : "MISSED");
}

/* "Reject forged" for the ratchet before protocol version 2: the median of
 * bench/results/latest.json of 2026-11-29 03:39 UTC (commit aea1678), the
 * figure issue 14 asks to cut to a fifth. It cannot be measured in this run:
 * the code that produced it is gone (ratchet-v1 is a version-1 session on
 * today's code, which also defers the DH step's sending half). */
#define FORGED_BEFORE_V2_US 1049.112

static void print_targets(void)
{
    printf("\ntargets (ratios of medians measured in this run)\n");
    target("symmetric step 64 B (ratchet)", "one-way 64 B", "ratchet", "libsignal", 6.0);
    target("symmetric step 64 B (ratchet)", "one-way 64 B", "ratchet", "olm", 10.0);
    target("symmetric step 1 KiB (ratchet)", "one-way 1 KiB", "ratchet", "libsignal", 5.0);
    target("symmetric step 1 KiB (ratchet)", "one-way 1 KiB", "ratchet", "olm", 15.0);
    target("symmetric step 64 B, version 2 vs 1", "one-way 64 B", "ratchet", "ratchet-v1", 1.0);
    const result *he = find("ratchet-he", "one-way 64 B"), *cl = find("ratchet", "one-way 64 B");
    if (he != NULL && cl != NULL)
        printf("  %-44s vs %-20s %6.2fx slower (want <= 1.25x) %s\n",
               "header encryption, 64 B (ratchet-he)", "ratchet", he->med / cl->med,
               he->med / cl->med <= 1.25 ? "met" : "MISSED");
    const result *fg = find("ratchet", "reject forged"), *f1 = find("ratchet-v1", "reject forged");
    if (fg != NULL)
        printf("  %-44s vs %-20s %6.3fx (want <= 0.20x) %s\n", "reject forged (ratchet)",
               "before v2: 1049.1 us", fg->med / FORGED_BEFORE_V2_US,
               fg->med / FORGED_BEFORE_V2_US <= 0.2 ? "met" : "MISSED");
    if (fg != NULL && f1 != NULL)
        printf("  %-44s vs %-20s %6.3fx (no target)\n", "reject forged (ratchet)", "ratchet-v1",
               fg->med / f1->med);
    const result *wo = find_sized("ratchet", WIRE_BIN, MSG);
    if (wo != NULL)
        printf("  %-44s    %-20s %6.0f B (want <= 76 B) %s\n",
               "wire overhead, normal message (ratchet)", "binary, salt included", wo->med - MSG,
               wo->med - MSG <= 76.0 ? "met" : "MISSED");
    target("DH-ratchet step, ping-pong (ratchet)", "ping-pong 64 B", "ratchet", "libsignal", 3.0);
    target("session setup (ratchet)", "session setup", "ratchet", "libsignal", 4.0);
    target("durable per message (ratchet-sqlite-bounded)", "one-way 64 B",
           "ratchet-sqlite-bounded", "libsignal-sqlite", 1.0);
    target("durable trace (ratchet-sqlite-bounded)", "trace replay", "ratchet-sqlite-bounded",
           "libsignal-sqlite", 1.2);
    /* The durable tail (issue 13 point 7): the erase points must not put
     * the bounded store's p99 above the peer's. */
    const result *dt = find("ratchet-sqlite-bounded", "trace replay"),
                 *dp = find("libsignal-sqlite", "trace replay");
    if (dt != NULL && dp != NULL)
        printf("  %-44s vs %-20s p99 %.1f vs %.1f us (want <=) %s\n",
               "durable trace p99 (ratchet-sqlite-bounded)", "libsignal-sqlite", dt->p99, dp->p99,
               dt->p99 <= dp->p99 ? "met" : "MISSED");
    const result *a = find("ratchet", "trace replay"), *b = find("baseline-box", "trace replay");
    if (a != NULL && b != NULL)
        printf("  %-44s vs %-20s %6.2fx faster (want > 1.00x) %s\n",
               "trace replay, crypto only (ratchet)", "baseline-box", b->med / a->med,
               b->med / a->med > 1.0 ? "met" : "MISSED");
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_results(const char *dir)
{
    char path[CMP_PATH_CAP + 64];
    snprintf(path, sizeof path, "%s/latest.json", dir);
    FILE *j = fopen(path, "w");
    snprintf(path, sizeof path, "%s/latest.csv", dir);
    FILE *c = fopen(path, "w");
    CMP_CHECK(j != NULL && c != NULL);
    fprintf(c, "impl,kind,case,bytes,median_us,min_us,max_us,reps,value_bytes,ok,p50_us,p99_us\n");
    fprintf(j, "[\n");
    for (unsigned i = 0; i < nres; i++) {
        const result *r = &res[i];
        int sz = strcmp(r->unit, "bytes") == 0;
        fprintf(j, "  {\"impl\": ");
        json_str(j, r->impl);
        fprintf(j, ", \"kind\": \"%s\", \"case\": ", r->kind);
        json_str(j, r->kase);
        fprintf(j, ", \"bytes\": %zu, ", r->bytes);
        if (sz)
            fprintf(j, "\"median_us\": null, \"min_us\": null, \"max_us\": null, \"reps\": %u, "
                       "\"value_bytes\": %.0f",
                    r->reps, r->med);
        else
            fprintf(j, "\"median_us\": %.3f, \"min_us\": %.3f, \"max_us\": %.3f, \"reps\": %u",
                    r->med, r->lo, r->hi, r->reps);
        if (r->ok >= 0) fprintf(j, ", \"ok\": %ld", r->ok);
        if (r->p50 >= 0.0) fprintf(j, ", \"p50_us\": %.3f, \"p99_us\": %.3f", r->p50, r->p99);
        fprintf(j, "}%s\n", i + 1 < nres ? "," : "");
        fprintf(c, "%s,%s,\"%s\",%zu,", r->impl, r->kind, r->kase, r->bytes);
        if (sz)
            fprintf(c, ",,,%u,%.0f,", r->reps, r->med);
        else
            fprintf(c, "%.3f,%.3f,%.3f,%u,,", r->med, r->lo, r->hi, r->reps);
        if (r->ok >= 0) fprintf(c, "%ld", r->ok);
        fputc(',', c);
        if (r->p50 >= 0.0) fprintf(c, "%.3f,%.3f", r->p50, r->p99);
        else fputc(',', c);
        fputc('\n', c);
    }
    fprintf(j, "]\n");
    CMP_CHECK(fclose(j) == 0 && fclose(c) == 0);

    /* sizes.dat: one block per implementation, bytes against us per message */
    static const char *sz_cases[] = { "one-way 64 B", "one-way 1 KiB", "one-way 16 KiB",
                                      "one-way 100 KiB" };
    snprintf(path, sizeof path, "%s/sizes.dat", dir);
    FILE *s = fopen(path, "w");
    CMP_CHECK(s != NULL);
    fprintf(s, "# per-message cost (sender + receiver) against message size; one block per "
               "implementation\n# columns: bytes median_us min_us max_us\n");
    for (unsigned i = 0; i < nimpl; i++) {
        fprintf(s, "%s#impl %s\n", i ? "\n\n" : "", impls[i]->name);
        for (unsigned k = 0; k < 4; k++) {
            const result *r = find(impls[i]->name, sz_cases[k]);
            if (r != NULL) fprintf(s, "%zu %.3f %.3f %.3f\n", r->bytes, r->med, r->lo, r->hi);
        }
    }
    CMP_CHECK(fclose(s) == 0);
}

static int cpu_has_flag(const char *flag)
{
    char line[4096];
    int found = 0;
    size_t fl = strlen(flag);
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "flags", 5) != 0) continue;
        for (char *p = strstr(line, flag); p != NULL && !found; p = strstr(p + 1, flag))
            found = (p[-1] == ' ') && (p[fl] == ' ' || p[fl] == '\n');
        break;
    }
    fclose(f);
    return found;
}

static void header(void)
{
    char date[64], cpu[160];
    time_t t = time(NULL);
    struct tm tm;
    cmp_cpu_model(cpu, sizeof cpu);
    if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(date, sizeof date, "unknown date");
    printf("ratchetbox %s comparison bench  %s  cpu: %s (%ld online)\n", rbx_version(), date, cpu,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("libsodium %s, SQLite %s, libsignal-protocol-c 2.3.3 (OpenSSL 3 provider), libolm 3.2.13\n",
           sodium_version_string(), sqlite3_libversion());
    printf("%u repetitions (%u for the reversed and trace cases), interleaved; batches of ~%.0f ms;"
           " databases in %s\n\n", P.reps, P.reps_long,
           P.batch_us / 1000.0, tmpdir);
}

/* Is name one of the comma-separated names of list (NULL: all are)? */
static int listed(const char *list, const char *name)
{
    if (list == NULL) return 1;
    size_t nl = strlen(name);
    for (const char *q = list; (q = strstr(q, name)) != NULL; q++)
        if ((q == list || q[-1] == ',') && (q[nl] == ',' || q[nl] == '\0')) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *outdir = "bench/results", *workload = "bench/workload/agent-session.tsv",
               *tmpparent = "build";
    int quick = 0;
    unsigned reps = 0;
    const char *only = NULL; /* comma-separated names: run only these */
    const char *cases = NULL; /* comma-separated case names: run only these */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            outdir = argv[++i];
        else if (strcmp(argv[i], "--workload") == 0 && i + 1 < argc)
            workload = argv[++i];
        else if (strcmp(argv[i], "--tmp") == 0 && i + 1 < argc)
            tmpparent = argv[++i];
        else if (strcmp(argv[i], "--impl") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc)
            cases = argv[++i];
        else {
            fprintf(stderr, "usage: bench-compare [--quick] [--reps N] [--out DIR] "
                            "[--workload FILE] [--tmp DIR] [--impl NAME,NAME...] "
                            "[--case sizes|pingpong|reversed|forged|state|trace|fanout,...]\n");
            return EXIT_FAILURE;
        }
    }
    quick_mode = quick;
    if (quick)
        P = (params){ 1, 1, 200.0, 2, 20, 20, 20, 40, 2 };
    else
        P = (params){ 7, 5, 8000.0, 100000, 1000, 999, 1000, MAX_TRACE, RBX_STORE_ERASE_COMMITS };
    if (reps != 0) {
        if (reps > MAX_REPS) reps = MAX_REPS;
        P.reps = P.reps_long = reps;
    }
    progress_on = isatty(STDERR_FILENO);
    CMP_CHECK(rbx_init() == 0);
    CMP_CHECK(mkdir(outdir, 0755) == 0 || errno == EEXIST);
    tmpdir = cmp_tmpdir_create(tmpparent, "compare-tmp");
    load_trace(workload);
    payload = cmp_xmalloc(BIGGEST);
    randombytes_buf(payload, BIGGEST);
    wire_buf = cmp_xmalloc(CMP_WIRE_CAP);
    out_buf = cmp_xmalloc(CMP_WIRE_CAP);
    for (unsigned i = 0; i < NIMPL; i++)
        if (listed(only, all_impls[i]->name)) impls[nimpl++] = all_impls[i];
    if (nimpl == 0) {
        fprintf(stderr, "bench-compare: --impl names no implementation\n");
        return EXIT_FAILURE;
    }

    double t0 = now_us();
    header();
    double sec[7] = { 0 }, ts = now_us();
#define SECTION(i, call)                                                                      \
    do {                                                                                      \
        static const char *const names[] = { "sizes", "pingpong", "reversed", "forged",       \
                                             "state", "trace", "fanout" };                    \
        if (listed(cases, names[i])) call;                                                    \
        sec[i] = (now_us() - ts) / 1e6;                                                       \
        ts = now_us();                                                                        \
    } while (0)
    SECTION(0, case_sizes());
    SECTION(1, case_pingpong_setup());
    SECTION(2, case_reverse());
    SECTION(3, case_forged());
    SECTION(4, case_state());
    SECTION(5, case_trace(outdir, 1));
    SECTION(6, case_trace(outdir, FANOUT));
    progress("");
    if (progress_on) fprintf(stderr, "\r\033[K");
    print_table();
    print_targets();
    double hs[5], ho[5];
    for (int k = 0; k < 5; k++) cmp_hmac_reference(&hs[k], &ho[k], quick ? 10 : 20000);
    printf("\nreference: one HMAC-SHA256 of 64 bytes (32-byte key), median of 5: libsodium %.3f us "
           "(ratchetbox),\nOpenSSL %.3f us (the libsignal provider; %s)\n",
           cmp_median(hs, 5), cmp_median(ho, 5),
           cpu_has_flag("sha_ni") ? "this CPU has the SHA extensions (sha_ni), which OpenSSL uses "
                                    "and libsodium 1.0.18 does not"
                                  : "this CPU has no SHA extensions");
    write_results(outdir);
    printf("\nrun time %.1f s (one-way %.1f, ping-pong + setup %.1f, reversed %.1f, forged %.1f, "
           "state %.1f, trace %.1f, fan-out %.1f); results in %s\n",
           (now_us() - t0) / 1e6, sec[0], sec[1], sec[2], sec[3], sec[4], sec[5], sec[6], outdir);
    return EXIT_SUCCESS;
}
