/* SPDX-License-Identifier: MIT
 * A/B of the durable store: two builds of libratchetbox.so (say, main and a
 * branch) loaded into one process (dlopen, RTLD_LOCAL | RTLD_DEEPBIND: two
 * copies of every symbol, side by side) and measured batch by batch in
 * turn, A B B A A B ..., in one directory, so that the disk's and the
 * machine's drift hits both alike. Only the public API is called, so any
 * two versions with the same rbx_store_opts work.
 *
 *   ab LIB_A LIB_B [repetitions [parent directory]]   (make bench-ab REF=<commit>)
 *
 * Rows: rbx_store_encrypt and rbx_store_decrypt of 64-byte messages, in
 * bounded and strict mode; per row the median over repetitions of the
 * microseconds per call of each build, and the median of the per-
 * repetition ratios B/A (each B batch against the A batch next to it). */
#define _GNU_SOURCE /* RTLD_DEEPBIND */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "ratchetbox.h"

#define MAX_REPS 101U
#define MSG 64U
#define WIRE 512U

static const char *tmpdir;
#define now_us cmp_now_us

/* CPU time of this thread (user and system: SQLite's writes included, the
 * wait in fdatasync not), microseconds. Steadier than the wall clock on a
 * disk that other processes share. */
static double cpu_us(void)
{
    struct timespec t;
    CMP_CHECK(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void path_in(char *out, const char *name)
{
    int n = snprintf(out, CMP_PATH_CAP, "%s/%s", tmpdir, name);
    CMP_CHECK(n > 0 && (size_t)n < CMP_PATH_CAP);
}

typedef struct api {
    const char *path;
    int (*init)(void);
    int (*open)(rbx_store **, const char *, const rbx_store_opts *);
    void (*close)(rbx_store *);
    int (*identity_create)(rbx_store *, const uint8_t *, const uint8_t *);
    int (*bundle)(rbx_store *, uint8_t *, size_t, size_t *, unsigned);
    int (*add_contact)(rbx_store *, const char *, uint32_t, const uint8_t *, size_t);
    int (*encrypt)(rbx_store *, uint8_t *, size_t, size_t *, uint64_t *, const char *, uint32_t,
                   const uint8_t *, size_t, const rbx_session_opts *);
    int (*decrypt)(rbx_store *, uint8_t *, size_t, size_t *, rbx_received *, const char *, uint32_t,
                   const uint8_t *, size_t);
} api;

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (p == NULL) {
        fprintf(stderr, "ab: %s\n", dlerror());
        exit(EXIT_FAILURE);
    }
    return p;
}

static void load(api *a, const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (h == NULL) {
        fprintf(stderr, "ab: %s\n", dlerror());
        exit(EXIT_FAILURE);
    }
    a->path = path;
    *(void **)&a->init = sym(h, "rbx_init");
    *(void **)&a->open = sym(h, "rbx_store_open");
    *(void **)&a->close = sym(h, "rbx_store_close");
    *(void **)&a->identity_create = sym(h, "rbx_store_identity_create");
    *(void **)&a->bundle = sym(h, "rbx_store_bundle");
    *(void **)&a->add_contact = sym(h, "rbx_store_add_contact");
    *(void **)&a->encrypt = sym(h, "rbx_store_encrypt");
    *(void **)&a->decrypt = sym(h, "rbx_store_decrypt");
    CMP_CHECK(a->init() == 0);
}

#define OK(x) CMP_CHECK((x) == 0)

/* Two stores of one build with a session each way (the initiator has
 * read one reply, so her messages are plain Messages). */
typedef struct pair {
    const api *a;
    rbx_store *alice, *bob;
    uint8_t (*wires)[WIRE];
    size_t *lens;
    unsigned iters;
} pair;

static void pair_open(pair *p, const api *a, const char *tag, int mode, unsigned iters)
{
    char pa[CMP_PATH_CAP], pb[CMP_PATH_CAP], name[64];
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], wire[WIRE], pt[WIRE];
    size_t bl, wl, pl;
    uint64_t id;
    rbx_received info;
    rbx_store_opts o;
    memset(&o, 0, sizeof o);
    o.create = 1;
    o.mode = mode;
    memset(p, 0, sizeof *p);
    p->a = a;
    p->iters = iters;
    snprintf(name, sizeof name, "%s-a.db", tag);
    path_in(pa, name);
    snprintf(name, sizeof name, "%s-b.db", tag);
    path_in(pb, name);
    OK(a->open(&p->alice, pa, &o));
    OK(a->open(&p->bob, pb, &o));
    OK(a->identity_create(p->alice, NULL, NULL));
    OK(a->identity_create(p->bob, NULL, NULL));
    OK(a->bundle(p->bob, bundle, sizeof bundle, &bl, 5));
    OK(a->add_contact(p->alice, "bob", 1, bundle, bl));
    OK(a->encrypt(p->alice, wire, sizeof wire, &wl, &id, "bob", 1, (const uint8_t *)"hi", 2, NULL));
    OK(a->decrypt(p->bob, pt, sizeof pt, &pl, &info, "alice", 1, wire, wl));
    OK(a->encrypt(p->bob, wire, sizeof wire, &wl, &id, "alice", 1, (const uint8_t *)"yo", 2, NULL));
    OK(a->decrypt(p->alice, pt, sizeof pt, &pl, &info, "bob", 1, wire, wl));
    p->wires = cmp_xmalloc(iters * sizeof *p->wires);
    p->lens = cmp_xmalloc(iters * sizeof *p->lens);
}

/* One batch: iters encrypts (their ciphertexts kept), then as many decrypts
 * of them; wall and CPU microseconds per call of each. */
static void pair_batch(pair *p, double us[4])
{
    uint8_t msg[MSG], pt[WIRE];
    size_t pl;
    uint64_t id;
    rbx_received info;
    memset(msg, 0x61, sizeof msg);
    double t0 = now_us(), c0 = cpu_us();
    for (unsigned i = 0; i < p->iters; i++)
        OK(p->a->encrypt(p->alice, p->wires[i], WIRE, &p->lens[i], &id, "bob", 1, msg, sizeof msg,
                         NULL));
    double t1 = now_us(), c1 = cpu_us();
    for (unsigned i = 0; i < p->iters; i++)
        OK(p->a->decrypt(p->bob, pt, sizeof pt, &pl, &info, "alice", 1, p->wires[i], p->lens[i]));
    double t2 = now_us(), c2 = cpu_us();
    us[0] = (t1 - t0) / p->iters;
    us[1] = (t2 - t1) / p->iters;
    us[2] = (c1 - c0) / p->iters;
    us[3] = (c2 - c1) / p->iters;
}

static void pair_close(pair *p)
{
    p->a->close(p->alice);
    p->a->close(p->bob);
    free(p->wires);
    free(p->lens);
}

static void row(const char *name, const double *a, const double *b, unsigned reps)
{
    double r[MAX_REPS];
    for (unsigned k = 0; k < reps; k++) r[k] = b[k] / a[k];
    double ma, la, ha, mb, lb, hb, mr, lr, hr;
    cmp_stats(a, reps, &ma, &la, &ha);
    cmp_stats(b, reps, &mb, &lb, &hb);
    cmp_stats(r, reps, &mr, &lr, &hr);
    printf("%-26s %10.1f %10.1f %8.3f %8.3f %8.3f\n", name, ma, mb, mb / ma, mr, hr);
}

int main(int argc, char **argv)
{
    api a, b;
    unsigned reps = argc > 3 ? (unsigned)atoi(argv[3]) : 15U;
    if (argc < 3 || reps < 3 || reps > MAX_REPS) {
        fprintf(stderr, "usage: ab LIB_A LIB_B [repetitions 3..%u]\n", MAX_REPS);
        return 64;
    }
    load(&a, argv[1]);
    load(&b, argv[2]);
    /* On the repository's disk, as build/bench: fdatasync on tmpfs is free. */
    tmpdir = cmp_tmpdir_create(argc > 4 ? argv[4] : "build", "ab-tmp");
    static pair pairs[2][2]; /* [build][mode] */
    static const struct {
        int mode;
        unsigned iters;
        const char *name;
    } modes[2] = { { RBX_STORE_BOUNDED, 64, "bounded" }, { RBX_STORE_STRICT, 16, "strict" } };
    const api *apis[2] = { &a, &b };
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 2; m++) {
            char tag[32];
            snprintf(tag, sizeof tag, "%c-%s", "AB"[w], modes[m].name);
            pair_open(&pairs[w][m], apis[w], tag, modes[m].mode, modes[m].iters);
        }
    /* [build][mode][wall enc, wall dec, cpu enc, cpu dec][repetition] */
    static double us[2][2][4][MAX_REPS], scratch[4];
    /* One untimed batch each, then A B / B A in turn. */
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 2; m++) pair_batch(&pairs[w][m], scratch);
    for (unsigned k = 0; k < reps; k++)
        for (int m = 0; m < 2; m++)
            for (int j = 0; j < 2; j++) {
                int w = (int)(k + (unsigned)m) % 2 == 0 ? j : 1 - j;
                double one[4];
                pair_batch(&pairs[w][m], one);
                for (int q = 0; q < 4; q++) us[w][m][q][k] = one[q];
            }
    printf("A = %s\nB = %s\n%u repetitions of 64 (bounded) or 16 (strict) calls per build, "
           "interleaved; microseconds per call (wall, then CPU of the thread)\n", a.path, b.path, reps);
    printf("%-26s %10s %10s %8s %8s %8s\n", "case", "A median", "B median", "B/A", "pairs B/A", "max B/A");
    static const char *const what[4] = { "encrypt", "decrypt", "encrypt CPU", "decrypt CPU" };
    for (int q = 0; q < 4; q++)
        for (int m = 0; m < 2; m++) {
            char name[64];
            snprintf(name, sizeof name, "store %s, %s", what[q], modes[m].name);
            row(name, us[0][m][q], us[1][m][q], reps);
        }
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 2; m++) pair_close(&pairs[w][m]);
    CMP_CHECK(cmp_tmpdir_remove());
    return 0;
}
