/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include "cli/detrng.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

tv_file *tv_load(const char *relpath)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", RBX_SRCDIR, relpath);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    tv_file *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t cap = 0;
    tv_block *cur = NULL;
    while (getline(&line, &cap, fp) >= 0) {
        char *t = trim(line);
        if (t[0] == '#') continue;
        if (t[0] == '\0') {
            cur = NULL;
            continue;
        }
        char *eq = strchr(t, '=');
        ck_assert_msg(eq != NULL, "%s: line without '=': %s", path, t);
        *eq = '\0';
        if (cur == NULL) {
            f->blocks = realloc(f->blocks, (f->nblocks + 1) * sizeof *f->blocks);
            ck_assert_ptr_nonnull(f->blocks);
            cur = &f->blocks[f->nblocks++];
            memset(cur, 0, sizeof *cur);
        }
        cur->fields = realloc(cur->fields, (cur->nfields + 1) * sizeof *cur->fields);
        ck_assert_ptr_nonnull(cur->fields);
        cur->fields[cur->nfields].name = strdup(trim(t));
        cur->fields[cur->nfields].value = strdup(trim(eq + 1));
        cur->nfields++;
    }
    free(line);
    fclose(fp);
    ck_assert_msg(f->nblocks > 0, "%s: no blocks", path);
    return f;
}

void tv_free(tv_file *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < f->nblocks; i++) {
        for (size_t j = 0; j < f->blocks[i].nfields; j++) {
            free(f->blocks[i].fields[j].name);
            free(f->blocks[i].fields[j].value);
        }
        free(f->blocks[i].fields);
    }
    free(f->blocks);
    free(f);
}

const char *tv_get(const tv_block *b, const char *name)
{
    for (size_t i = 0; i < b->nfields; i++)
        if (strcmp(b->fields[i].name, name) == 0) return b->fields[i].value;
    return NULL;
}

const tv_block *tv_case(const tv_file *f, const char *name)
{
    for (size_t i = 0; i < f->nblocks; i++) {
        const char *c = tv_get(&f->blocks[i], "case");
        if (c != NULL && strcmp(c, name) == 0) return &f->blocks[i];
    }
    return NULL;
}

size_t tv_hex(const tv_block *b, const char *name, uint8_t *out, size_t cap)
{
    const char *v = tv_get(b, name);
    ck_assert_msg(v != NULL, "vector field %s missing", name);
    size_t len = 0;
    const char *end = NULL;
    ck_assert_msg(sodium_hex2bin(out, cap, v, strlen(v), NULL, &len, &end) == 0 && *end == '\0',
                  "vector field %s: bad hex or longer than %zu", name, cap);
    return len;
}

void tv_hexn(const tv_block *b, const char *name, uint8_t *out, size_t len)
{
    size_t got = tv_hex(b, name, out, len);
    ck_assert_msg(got == len, "vector field %s: %zu bytes, want %zu", name, got, len);
}

char *tu_hex(const uint8_t *buf, size_t len)
{
    char *s = malloc(2 * len + 1);
    ck_assert_ptr_nonnull(s);
    sodium_bin2hex(s, 2 * len + 1, buf, len);
    return s;
}

/* ---- deterministic RNG (tests, vectors and simulations only) ---- */


static int det_logging;
static uint8_t det_log[65536];
static size_t det_loglen;

void tu_rng_log(int on)
{
    det_logging = on;
    det_loglen = 0;
}

size_t tu_rng_log_take(uint8_t *out, size_t cap)
{
    size_t n = det_loglen;
    ck_assert_uint_le(n, cap);
    memcpy(out, det_log, n);
    det_loglen = 0;
    return n;
}

static void det_tap(const void *buf, size_t size)
{
    if (!det_logging) return;
    ck_assert_uint_le(det_loglen + size, sizeof det_log);
    memcpy(det_log + det_loglen, buf, size);
    det_loglen += size;
}

void tu_rng_seed(uint64_t seed)
{
    /* The spec/vectors files depend on this derivation: keep it. */
    uint8_t s8[8], key[32];
    for (int i = 0; i < 8; i++) s8[i] = (uint8_t)(seed >> (8 * i));
    crypto_generichash(key, sizeof key, s8, sizeof s8, NULL, 0);
    rbx_detrng_install_key(key, det_tap);
}

void tu_rng_system(void)
{
    rbx_detrng_uninstall();
}

/* ---- sessions ---- */

void tu_pair(rbx_session **alice, rbx_session **bob, const rbx_session_opts *opts)
{
    uint8_t apk[32], ask[32], bpk[32], bsk[32], bundle[RBX_BUNDLE_MAXBYTES], pt[16];
    size_t blen, ptlen;
    uint32_t used;
    rbx_prekeys *pk;
    rbx_bundle b;
    tu_msg m;
    ck_assert_int_eq(rbx_keypair_generate(apk, ask), 0);
    ck_assert_int_eq(rbx_keypair_generate(bpk, bsk), 0);
    ck_assert_int_eq(rbx_prekeys_new(&pk, bpk, bsk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(pk, 1, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_add_onetime(pk, 100, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pk, 1, 100), 0);
    ck_assert_int_eq(rbx_bundle_parse(&b, bundle, blen), 0);
    ck_assert_int_eq(rbx_session_initiate(alice, apk, ask, &b, opts), 0);
    tu_send(&m, *alice, "hello", 5);
    ck_assert_int_eq(rbx_session_accept(bob, pt, sizeof pt, &ptlen, &used, pk, NULL, m.wire, m.len), 0);
    ck_assert_uint_eq(ptlen, 5);
    ck_assert_mem_eq(pt, "hello", 5);
    ck_assert_uint_eq(used, 100);
    free(m.wire);
    rbx_prekeys_free(pk);
    sodium_memzero(ask, sizeof ask);
    sodium_memzero(bsk, sizeof bsk);
}

void tu_send(tu_msg *m, rbx_session *s, const void *pt, size_t ptlen)
{
    size_t cap = rbx_session_wire_size(s, ptlen);
    memset(m, 0, sizeof *m);
    m->wire = malloc(cap);
    ck_assert_ptr_nonnull(m->wire);
    int rc = rbx_session_encrypt(s, m->wire, cap, &m->len, pt, ptlen);
    ck_assert_msg(rc == 0, "encrypt: %s", rbx_strerror(rc));
}

int tu_recv(rbx_session *s, const tu_msg *m, const void *want, size_t wantlen)
{
    uint8_t *pt = malloc(m->len + 1);
    size_t ptlen = 12345;
    ck_assert_ptr_nonnull(pt);
    int rc = rbx_session_decrypt(s, pt, m->len, &ptlen, m->wire, m->len);
    if (rc == 0 && want != NULL) {
        ck_assert_uint_eq(ptlen, wantlen);
        ck_assert_mem_eq(pt, want, wantlen);
    }
    if (rc != 0) ck_assert_uint_eq(ptlen, 0);
    free(pt);
    return rc;
}

uint8_t *tu_blob(const rbx_session *s, size_t *len)
{
    ck_assert_int_eq(rbx_session_serialize(NULL, 0, len, s), 0);
    uint8_t *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(rbx_session_serialize(b, *len, len, s), 0);
    return b;
}

void tu_assert_state(const rbx_session *s, const uint8_t *blob, size_t len)
{
    size_t n;
    uint8_t *now = tu_blob(s, &n);
    ck_assert_uint_eq(n, len);
    ck_assert_msg(memcmp(now, blob, len) == 0, "session state changed");
    free(now);
}

rbx_session *tu_clone(const rbx_session *s)
{
    size_t n;
    uint8_t *b = tu_blob(s, &n);
    rbx_session *c;
    ck_assert_int_eq(rbx_session_deserialize(&c, b, n), 0);
    free(b);
    return c;
}

void tu_sb_printf(tu_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(k, 0);
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
}

void tu_settle_vector(const char *name, tu_sbuf *b)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/spec/vectors/%s", RBX_SRCDIR, name);
    const char *w = getenv("RBX_WRITE_VECTORS");
    if (w != NULL && strcmp(w, "1") == 0) {
        FILE *fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        ck_assert_uint_eq(fwrite(b->p, 1, b->n, fp), b->n);
        ck_assert_int_eq(fclose(fp), 0);
    } else {
        FILE *fp = fopen(path, "r");
        ck_assert_msg(fp != NULL, "missing %s (make vectors)", path);
        char *have = malloc(b->n + 2);
        ck_assert_ptr_nonnull(have);
        size_t got = fread(have, 1, b->n + 1, fp);
        fclose(fp);
        ck_assert_msg(got == b->n && memcmp(have, b->p, b->n) == 0,
                      "%s differs from what the code derives now", path);
        free(have);
    }
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

uint64_t tu_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t tu_env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return dflt;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    return *end == '\0' ? (uint64_t)x : dflt;
}

double tu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_sleep_us(unsigned us)
{
    struct timespec ts = { (time_t)(us / 1000000U), (long)(us % 1000000U) * 1000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void tu_path_in(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < cap);
}

int tu_wait_child(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

int tu_kill_child(pid_t pid, unsigned delay_us)
{
    tu_sleep_us(delay_us);
    /* Not reaped yet, so the pid is ours even if the child already exited. */
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    return tu_wait_child(pid);
}

int tu_varint_read(const uint8_t *p, size_t n, uint64_t *v, size_t *len)
{
    *v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        *v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *len = i + 1;
            return 0;
        }
    }
    return -1;
}
