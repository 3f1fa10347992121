/* SPDX-License-Identifier: MIT
 * rbxc.h: the test client. */
#define _DEFAULT_SOURCE 1 /* usleep, strncasecmp, prctl */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "rbxc.h"

#ifndef RBX_SRCDIR
#define RBX_SRCDIR "."
#endif

static void die(const char *what)
{
    fprintf(stderr, "rbxc: %s\n", what);
    abort();
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) die("out of memory");
    return p;
}

/* ---------------------------------------------------------------- servers */

void rbxc_tmpdir(char *out, size_t cap, const char *tag)
{
    const char *t = getenv("TMPDIR");
    if (t == NULL || t[0] == '\0') t = "/tmp";
    if ((size_t)snprintf(out, cap, "%s/rbxd-%s-XXXXXX", t, tag) >= cap) die("path too long");
    if (mkdtemp(out) == NULL) die("mkdtemp");
}

int rbxc_backend_is_pg(void)
{
    const char *pg = getenv("RBXD_TEST_PG");
    return pg != NULL && pg[0] != '\0';
}

void rbxc_db_fresh(char *out, size_t cap, const char *dir)
{
    if (!rbxc_backend_is_pg()) {
        if ((size_t)snprintf(out, cap, "sqlite:%s/rbxd.sqlite", dir) >= cap) die("path too long");
        return;
    }
    /* One database for the whole run, emptied before each server: the
     * migration stays installed, sequences restart. */
    const char *admin = getenv("RBXD_TEST_PG_ADMIN");
    if (admin == NULL) die("RBXD_TEST_PG_ADMIN not set");
    PGconn *c = PQconnectdb(admin);
    if (PQstatus(c) != CONNECTION_OK) die("cannot connect as the PostgreSQL admin");
    PGresult *r = PQexec(c, "TRUNCATE rbx.devlist, rbx.device, rbx.otk, rbx.otk_spent, rbx.mailbox, "
                            "rbx.sent, rbx.nonce, rbx.ratelimit RESTART IDENTITY");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "rbxc: %s\n", PQerrorMessage(c));
        die("cannot empty the test database");
    }
    PQclear(r);
    PQfinish(c);
    if ((size_t)snprintf(out, cap, "%s", getenv("RBXD_TEST_PG")) >= cap) die("url too long");
}

void rbxc_clock_set(const char *dir, int64_t now)
{
    char p[600], tmp[610];
    snprintf(p, sizeof p, "%s/clock", dir);
    snprintf(tmp, sizeof tmp, "%s/clock.tmp", dir);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) die("clock file");
    fprintf(f, "%lld\n", (long long)now);
    if (fclose(f) != 0 || rename(tmp, p) != 0) die("clock file");
}

int64_t rbxc_clock_get(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/clock", dir);
    FILE *f = fopen(p, "r");
    long long v = 0;
    if (f == NULL || fscanf(f, "%lld", &v) != 1) die("clock file");
    fclose(f);
    return v;
}

int rbxc_use_test_clock = 1;

int rbxc_server_start(rbxc_server *s, const char *dir, const char *db, const char *const *extra)
{
    memset(s, 0, sizeof s[0]);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->db, sizeof s->db, "%s", db);
    char ready[600], clock[600];
    static unsigned seq;
    snprintf(ready, sizeof ready, "%s/ready.%u.%d", dir, seq, (int)getpid());
    snprintf(s->log, sizeof s->log, "%s/rbxd.%u.log", dir, seq++);
    snprintf(clock, sizeof clock, "%s/clock", dir);
    if (rbxc_use_test_clock && access(clock, F_OK) != 0) rbxc_clock_set(dir, 1700000000);
    unlink(ready);
    const char *bin = getenv("RBXD");
    char binbuf[1024];
    if (bin == NULL) {
        snprintf(binbuf, sizeof binbuf, "%s/build/rbxd", RBX_SRCDIR);
        bin = binbuf;
    }
    const char *argv[64];
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    if (rbxc_use_test_clock) {
        argv[n++] = "--test-clock";
        argv[n++] = clock;
    }
    argv[n++] = "--readers"; /* enough for the tests, and quicker to open */
    argv[n++] = "2";
    argv[n++] = "--log";
    argv[n++] = getenv("RBXD_TEST_LOG") ? "requests" : "errors";
    /* A database password (if any) must not be in argv: db goes in a file. */
    char conf[600];
    snprintf(conf, sizeof conf, "%s/db.%u.conf", dir, seq);
    FILE *cf = fopen(conf, "w");
    if (cf == NULL) die("config file");
    fprintf(cf, "db = %s\n", db);
    fclose(cf);
    argv[n++] = "--config";
    argv[n++] = conf;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 62; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execv(bin, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 2000; i++) { /* up to 20 s: it is waiting, not timing */
        FILE *f = fopen(ready, "r");
        if (f != NULL) {
            int port = 0;
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0) {
                s->port = port;
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", port);
                return 0;
            }
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    rbxc_server_kill(s);
    return -1;
}

int rbxc_server_stop(rbxc_server *s)
{
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
    return st;
}

void rbxc_server_kill(rbxc_server *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGKILL);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
}

/* ---------------------------------------------------------------- devices */

void rbxc_dev_new(rbxc_dev *d, const char *user)
{
    memset(d, 0, sizeof *d);
    snprintf(d->user, sizeof d->user, "%s", user);
    if (rbx_keypair_generate(d->pk, d->sk) != 0) die("keypair");
    d->id = rbx_device_id(d->pk);
    d->regid = 1 + randombytes_uniform(RBX_DEVICE_ID_MAX);
    if (rbx_prekeys_new(&d->pre, d->pk, d->sk) != 0 || rbx_prekeys_add_signed(d->pre, 1, NULL) != 0)
        die("prekeys");
    d->spk_id = 1;
    d->next_otk = 1;
}

void rbxc_dev_free(rbxc_dev *d)
{
    rbx_prekeys_free(d->pre);
    sodium_memzero(d->sk, sizeof d->sk);
    d->pre = NULL;
}

size_t rbxc_base_bundle(const rbxc_dev *d, uint8_t out[RBX_BUNDLE_MAXBYTES])
{
    size_t n = 0;
    if (rbx_prekeys_bundle(out, RBX_BUNDLE_MAXBYTES, &n, d->pre, d->spk_id, RBX_NO_PREKEY) != 0)
        die("bundle");
    return n;
}

json_t *rbxc_b64(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = xmalloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

uint8_t *rbxc_unb64(const json_t *v, size_t *len)
{
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    size_t sl = strlen(s), n = 0;
    uint8_t *p = xmalloc(sl);
    if (sodium_base642bin(p, sl ? sl : 1, s, sl, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(p);
        return NULL;
    }
    *len = n;
    return p;
}

json_t *rbxc_new_otks(rbxc_dev *d, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        uint8_t pk[32], sk[32];
        if (rbx_keypair_generate(pk, sk) != 0) die("keypair");
        if (rbx_prekeys_add_onetime(d->pre, d->next_otk, sk) != 0) die("prekey");
        sodium_memzero(sk, sizeof sk);
        json_array_append_new(a, json_pack("{s:I, s:o}", "id", (json_int_t)d->next_otk, "key",
                                           rbxc_b64(pk, 32)));
        d->next_otk++;
    }
    return a;
}

size_t rbxc_entry(uint8_t out[RBX_DEVLIST_ENTRY_MAXBYTES], rbxc_list *l, unsigned op,
                  uint32_t device, const uint8_t identity[32], unsigned signer_kind,
                  const uint8_t signer_pk[32], const uint8_t signer_sk[32],
                  const uint8_t *subject_sk, uint64_t created)
{
    rbx_devlist_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "%s", l->user);
    e.seq = l->seq + 1;
    memcpy(e.prev_hash, l->head, 32);
    e.op = op;
    e.device = device;
    memcpy(e.identity, identity, 32);
    e.created = created;
    e.signer_kind = signer_kind;
    memcpy(e.signer, signer_pk, 32);
    size_t n = 0;
    int rc = rbx_devlist_entry_sign(out, RBX_DEVLIST_ENTRY_MAXBYTES, &n, &e, signer_sk, subject_sk);
    if (rc != 0) {
        fprintf(stderr, "rbxc: entry: %s\n", rbx_strerror(rc));
        die("entry");
    }
    l->seq++;
    rbx_devlist_entry_hash(l->head, out, n);
    return n;
}

/* ---------------------------------------------------------------- requests */

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    buf *b = ud;
    size_t k = sz * nm;
    char *np = realloc(b->p, b->n + k + 1);
    if (np == NULL) return 0;
    memcpy(np + b->n, p, k);
    b->p = np;
    b->n += k;
    b->p[b->n] = '\0';
    return k;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    rbxc_resp *r = ud;
    size_t k = sz * nm;
    char line[256];
    size_t l = k < sizeof line - 1 ? k : sizeof line - 1;
    memcpy(line, p, l);
    line[l] = '\0';
    while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = '\0';
    if (strncasecmp(line, "ETag: ", 6) == 0 && strlen(line + 6) < sizeof r->etag)
        memcpy(r->etag, line + 6, strlen(line + 6) + 1);
    if (strncasecmp(line, "Retry-After: ", 13) == 0 && strlen(line + 13) < sizeof r->retry_after)
        memcpy(r->retry_after, line + 13, strlen(line + 13) + 1);
    return k;
}

void rbxc_conn_init(rbxc_conn *c, const rbxc_server *s, const char *clock_dir)
{
    memset(c, 0, sizeof *c);
    c->curl = curl_easy_init();
    if (c->curl == NULL) die("curl");
    c->s = s;
    c->clock_dir = clock_dir;
}

void rbxc_conn_free(rbxc_conn *c)
{
    if (c->curl) curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

void rbxc_resp_free(rbxc_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void rbxc_call(rbxc_conn *c, const rbxc_dev *dev, const char *method, const char *target,
               const char *body, size_t len, const rbxc_opts *o, rbxc_resp *out)
{
    static const rbxc_opts none;
    if (o == NULL) o = &none;
    memset(out, 0, sizeof *out);
    char url[2048];
    snprintf(url, sizeof url, "%s%s", c->base ? c->base : c->s->url, target);
    struct curl_slist *h = NULL;
    char auth[700];
    if (o->auth != NULL) {
        snprintf(auth, sizeof auth, "Authorization: %s", o->auth);
        h = curl_slist_append(h, auth);
    } else if (dev != NULL && !o->no_auth) {
        uint8_t nonce[16], sig[64];
        if (o->nonce) memcpy(nonce, o->nonce, 16);
        else randombytes_buf(nonce, sizeof nonce);
        int64_t ts = o->ts ? o->ts : (c->clock_dir ? rbxc_clock_get(c->clock_dir) : (int64_t)time(NULL));
        const rbxc_dev *k = o->sign_as ? o->sign_as : dev;
        const uint8_t *sb = o->sign_body ? o->sign_body : (const uint8_t *)(body ? body : "");
        size_t sl = o->sign_body ? o->sign_body_len : len;
        if (rbx_request_sign(sig, method, o->sign_target ? o->sign_target : target, (uint64_t)ts,
                             nonce, sb, sl, dev->user, dev->id, k->sk) != 0)
            die("request_sign");
        if (o->bad_sig) sig[5] ^= 0x10;
        char nb[32], sb64[100];
        sodium_bin2base64(nb, sizeof nb, nonce, 16, sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(sb64, sizeof sb64, sig, 64, sodium_base64_VARIANT_ORIGINAL);
        snprintf(auth, sizeof auth,
                 "Authorization: RBX-Sig user=\"%s\", device=%u, ts=%lld, nonce=\"%s\", sig=\"%s\"",
                 dev->user, dev->id, (long long)ts, nb, sb64);
        h = curl_slist_append(h, auth);
    }
    if (o->if_none_match) {
        char inm[200];
        snprintf(inm, sizeof inm, "If-None-Match: %s", o->if_none_match);
        h = curl_slist_append(h, inm);
    }
    if (body != NULL) h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    CURL *cu = c->curl;
    curl_easy_reset(cu);
    buf b = {NULL, 0};
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(cu, CURLOPT_PATH_AS_IS, 1L);
    if (c->cainfo) curl_easy_setopt(cu, CURLOPT_CAINFO, c->cainfo);
    if (body != NULL) {
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else if (strcmp(method, "GET") == 0)
        curl_easy_setopt(cu, CURLOPT_HTTPGET, 1L);
    CURLcode rc = curl_easy_perform(cu);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        out->status = -(long)rc; /* no answer: the caller asserts on it */
        free(b.p);
        return;
    }
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.p ? b.p : strdup("");
    out->len = b.n;
    if (out->len > 0 && out->body[0] == '{') out->json = json_loadb(out->body, out->len, 0, NULL);
}

void rbxc_call_json(rbxc_conn *c, const rbxc_dev *dev, const char *method, const char *target,
                    json_t *body, const rbxc_opts *o, rbxc_resp *out)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (s == NULL) die("json");
    rbxc_call(c, dev, method, target, s, strlen(s), o, out);
    free(s);
}

void rbxc_path(char *out, size_t cap, const rbxc_dev *d, const char *suffix)
{
    snprintf(out, cap, "/v1/users/%s/devices/%u/%s", d->user, d->id, suffix);
}

/* ---------------------------------------------------------------- steps */

static long enroll(rbxc_conn *c, rbxc_dev *d, const uint8_t *entry, size_t elen, size_t n)
{
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t bl = rbxc_base_bundle(d, b);
    json_t *o = json_pack("{s:o, s:I, s:o}", "entry", rbxc_b64(entry, elen), "registration_id",
                          (json_int_t)d->regid, "bundle", rbxc_b64(b, bl));
    if (n > 0) json_object_set_new(o, "one_time", rbxc_new_otks(d, n));
    char path[200];
    snprintf(path, sizeof path, "/v1/users/%s/devices", d->user);
    rbxc_resp r;
    rbxc_call_json(c, d, "POST", path, o, NULL, &r);
    long st = r.status;
    rbxc_resp_free(&r);
    return st;
}

long rbxc_enroll_first(rbxc_conn *c, rbxc_dev *d, rbxc_list *l, size_t n)
{
    memset(l, 0, sizeof *l);
    snprintf(l->user, sizeof l->user, "%s", d->user);
    uint8_t e[RBX_DEVLIST_ENTRY_MAXBYTES];
    int64_t now = c->clock_dir ? rbxc_clock_get(c->clock_dir) : (int64_t)time(NULL);
    size_t el = rbxc_entry(e, l, RBX_DEVLIST_ADD, d->id, d->pk, RBX_SIGNER_DEVICE, d->pk, d->sk,
                           d->sk, (uint64_t)now);
    long st = enroll(c, d, e, el, n);
    if (st != 200) memset(l, 0, sizeof *l);
    return st;
}

long rbxc_enroll_linked(rbxc_conn *c, rbxc_dev *d, const rbxc_dev *approver, rbxc_list *l, size_t n)
{
    uint8_t e[RBX_DEVLIST_ENTRY_MAXBYTES];
    rbxc_list before = *l;
    int64_t now = c->clock_dir ? rbxc_clock_get(c->clock_dir) : (int64_t)time(NULL);
    size_t el = rbxc_entry(e, l, RBX_DEVLIST_ADD, d->id, d->pk, RBX_SIGNER_DEVICE, approver->pk,
                           approver->sk, d->sk, (uint64_t)now);
    long st = enroll(c, d, e, el, n);
    if (st != 200) *l = before;
    return st;
}

long rbxc_upload_otks(rbxc_conn *c, rbxc_dev *d, size_t n)
{
    char path[200];
    rbxc_path(path, sizeof path, d, "keys");
    rbxc_resp r;
    rbxc_call_json(c, d, "PUT", path, json_pack("{s:o}", "one_time", rbxc_new_otks(d, n)), NULL, &r);
    long st = r.status;
    rbxc_resp_free(&r);
    return st;
}
